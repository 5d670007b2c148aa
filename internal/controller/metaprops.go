package controller

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// MetaPropertiesFile is the name of the identity file in a data directory.
// Like Kafka's, it ties the directory to one node of one cluster, so a
// directory copied to the wrong node, or a node pointed at another
// cluster's quorum, refuses to start instead of mixing data.
const MetaPropertiesFile = "meta.properties"

// MetaProperties is the content of meta.properties (KRaft layout,
// version=1).
type MetaProperties struct {
	Version   int
	NodeID    int32
	ClusterID string
}

// ReadMetaProperties reads <dataDir>/meta.properties. ok is false (with a
// nil error) when the file does not exist.
func ReadMetaProperties(dataDir string) (mp MetaProperties, ok bool, err error) {
	path := filepath.Join(dataDir, MetaPropertiesFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return MetaProperties{}, false, nil
	}
	if err != nil {
		return MetaProperties{}, false, fmt.Errorf("reading %s: %w", path, err)
	}
	props := parseProperties(data)
	bad := func(what string) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalidMetaProperties, path, what)
	}
	if props["version"] != "1" {
		return MetaProperties{}, false, bad(fmt.Sprintf("version %q is not supported (expected 1)", props["version"]))
	}
	id, err := strconv.ParseInt(props["node.id"], 10, 32)
	if err != nil || id < 0 {
		return MetaProperties{}, false, bad(fmt.Sprintf("node.id %q is not a node id", props["node.id"]))
	}
	if props["cluster.id"] == "" {
		return MetaProperties{}, false, bad("cluster.id is missing")
	}
	return MetaProperties{Version: 1, NodeID: int32(id), ClusterID: props["cluster.id"]}, true, nil
}

// parseProperties reads the subset of Java properties syntax Kafka writes:
// key=value (or key:value) lines, '#' and '!' comments.
func parseProperties(data []byte) map[string]string {
	props := make(map[string]string)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		i := strings.IndexAny(line, "=:")
		if i < 0 {
			props[line] = ""
			continue
		}
		props[strings.TrimSpace(line[:i])] = strings.TrimSpace(line[i+1:])
	}
	return props
}

// CheckMetaProperties verifies, before the node starts, that an existing
// meta.properties in dataDir belongs to nodeID. A missing file is fine (a
// new data directory).
func CheckMetaProperties(dataDir string, nodeID int32) error {
	mp, ok, err := ReadMetaProperties(dataDir)
	if err != nil || !ok {
		return err
	}
	if mp.NodeID != nodeID {
		return fmt.Errorf("%w: %s was written by node %d, this is node %d",
			ErrNodeIDMismatch, filepath.Join(dataDir, MetaPropertiesFile), mp.NodeID, nodeID)
	}
	return nil
}

// WriteMetaProperties records nodeID and clusterID in dataDir, or, if the
// file already exists, verifies that it says the same (ErrNodeIDMismatch,
// ErrClusterIDMismatch). The file is written atomically and fsynced.
func WriteMetaProperties(dataDir string, nodeID int32, clusterID string) error {
	if clusterID == "" {
		return fmt.Errorf("%w: refusing to write an empty cluster.id", ErrInvalidMetaProperties)
	}
	if err := CheckMetaProperties(dataDir, nodeID); err != nil {
		return err
	}
	mp, ok, err := ReadMetaProperties(dataDir)
	if err != nil {
		return err
	}
	path := filepath.Join(dataDir, MetaPropertiesFile)
	if ok {
		if mp.ClusterID != clusterID {
			return fmt.Errorf("%w: %s belongs to cluster %s, the metadata quorum is cluster %s",
				ErrClusterIDMismatch, path, mp.ClusterID, clusterID)
		}
		return nil
	}
	content := fmt.Sprintf("#\n#Written by spool\nversion=1\nnode.id=%d\ncluster.id=%s\n", nodeID, clusterID)
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dataDir, err)
	}
	return writeFileAtomic(path, []byte(content))
}

// writeFileAtomic writes data to a temporary file, fsyncs it, renames it
// into place and fsyncs the directory, so a crash leaves either the old
// state or the complete new file.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("syncing %s: %w", filepath.Dir(path), err)
	}
	defer dir.Close()
	if err := dir.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", filepath.Dir(path), err)
	}
	return nil
}
