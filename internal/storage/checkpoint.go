package storage

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/spool-mq/spool/internal/vfs"
)

// Per-directory and per-partition file names.
const (
	recoveryPointFile     = "recovery-point-offset-checkpoint"
	logStartFile          = "log-start-offset-checkpoint"
	cleanShutdownFile     = ".clean_shutdown"
	lockFileName          = ".lock"
	partitionMetadataFile = "partition.metadata"
)

var errBadCheckpoint = errors.New("malformed checkpoint file")

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// parseCheckpoint parses Kafka's checkpoint text format: "0", a count, then
// that many lines of fields space-separated fields.
func parseCheckpoint(data []byte, fields int) ([][]string, error) {
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) < 2 || strings.TrimSpace(lines[0]) != "0" {
		return nil, fmt.Errorf("%w: bad version line", errBadCheckpoint)
	}
	n, err := strconv.Atoi(strings.TrimSpace(lines[1]))
	if err != nil || n != len(lines)-2 {
		return nil, fmt.Errorf("%w: count %q does not match %d entries", errBadCheckpoint, lines[1], len(lines)-2)
	}
	rows := make([][]string, 0, n)
	for _, l := range lines[2:] {
		f := strings.Fields(l)
		if len(f) != fields {
			return nil, fmt.Errorf("%w: line %q", errBadCheckpoint, l)
		}
		rows = append(rows, f)
	}
	return rows, nil
}

// readOffsetCheckpoint reads a per-directory offsets file; missing is
// empty.
func readOffsetCheckpoint(fsys vfs.FS, path string) (map[TopicPartition]int64, error) {
	out := make(map[TopicPartition]int64)
	data, err := readWholeFile(fsys, path)
	if err != nil {
		if isNotExist(err) {
			return out, nil
		}
		return out, err
	}
	rows, err := parseCheckpoint(data, 3)
	if err != nil {
		return out, err
	}
	for _, r := range rows {
		p, err1 := strconv.ParseInt(r[1], 10, 32)
		off, err2 := strconv.ParseInt(r[2], 10, 64)
		if err1 != nil || err2 != nil || off < 0 {
			return make(map[TopicPartition]int64), fmt.Errorf("%w: line %q", errBadCheckpoint, r)
		}
		out[TopicPartition{Topic: r[0], Partition: int32(p)}] = off
	}
	return out, nil
}

// writeOffsetCheckpoint atomically replaces a per-directory offsets file.
func writeOffsetCheckpoint(fsys vfs.FS, path string, offsets map[TopicPartition]int64) error {
	tps := make([]TopicPartition, 0, len(offsets))
	for tp := range offsets {
		tps = append(tps, tp)
	}
	slices.SortFunc(tps, compareTP)
	var b bytes.Buffer
	fmt.Fprintf(&b, "0\n%d\n", len(tps))
	for _, tp := range tps {
		fmt.Fprintf(&b, "%s %d %d\n", tp.Topic, tp.Partition, offsets[tp])
	}
	return writeFileAtomic(fsys, path, b.Bytes(), true)
}

func compareTP(a, b TopicPartition) int {
	if c := strings.Compare(a.Topic, b.Topic); c != 0 {
		return c
	}
	return int(a.Partition) - int(b.Partition)
}

// writePartitionMetadata writes partition.metadata in Kafka's format. The
// caller syncs the directory.
func writePartitionMetadata(fsys vfs.FS, dir string, topicID [16]byte) error {
	data := "version: 0\ntopic_id: " + base64.RawURLEncoding.EncodeToString(topicID[:]) + "\n"
	return writeFileAtomic(fsys, filepath.Join(dir, partitionMetadataFile), []byte(data), false)
}

// readPartitionMetadata reads the topic id from partition.metadata.
func readPartitionMetadata(fsys vfs.FS, dir string) ([16]byte, error) {
	var id [16]byte
	data, err := readWholeFile(fsys, filepath.Join(dir, partitionMetadataFile))
	if err != nil {
		return id, err
	}
	var version, topicID string
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "version":
			version = strings.TrimSpace(v)
		case "topic_id":
			topicID = strings.TrimSpace(v)
		}
	}
	if version != "0" {
		return id, fmt.Errorf("%w: partition.metadata version %q", errBadCheckpoint, version)
	}
	raw, err := base64.RawURLEncoding.DecodeString(topicID)
	if err != nil || len(raw) != 16 {
		return id, fmt.Errorf("%w: partition.metadata topic id %q", errBadCheckpoint, topicID)
	}
	copy(id[:], raw)
	return id, nil
}
