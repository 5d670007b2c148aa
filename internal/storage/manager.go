package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spool-mq/spool/internal/vfs"
)

// openWorkers bounds how many logs are opened (recovered) at once.
const openWorkers = 8

// deleteSuffix marks a log directory that is being removed.
const deleteSuffix = ".delete"

// Manager owns one data directory: its lock, the per-directory checkpoints,
// the clean-shutdown marker and every partition log under it.
type Manager struct {
	dir    string
	fs     vfs.FS
	commit *committer // broker-wide group commit of the logs' flushes
	logger *slog.Logger
	now    func() time.Time
	lock   io.Closer

	// adminMu serializes creating and deleting logs, so a log being
	// deleted is never reopened from its directory half way. Lock order:
	// adminMu, then mu.
	adminMu sync.Mutex
	mu      sync.RWMutex
	logs    map[TopicPartition]*Log
	closed  bool

	ckptMu sync.Mutex // one checkpoint write at a time
	hwmMu  sync.Mutex // one high watermark checkpoint write at a time

	deletes deleteQueue    // segment files awaiting file.delete.delay.ms
	bg      sync.WaitGroup // background directory removals

	cleaner *cleaner // the log cleaner shared by every log (clean.go)
}

// OpenManager locks dir (creating it if needed) and opens every log in it,
// recovering those that were not shut down cleanly. A second Manager on
// the same directory fails with vfs.ErrLocked.
func OpenManager(dir string, opts Options) (m *Manager, err error) {
	opts = opts.withDefaults()
	m = &Manager{dir: dir, fs: opts.FS, logger: opts.Logger, now: opts.Now, logs: make(map[TopicPartition]*Log),
		cleaner: newCleaner(opts)}
	m.commit = newCommitter(opts.FS, !opts.PerFileSync, m.Logs)
	if err := m.createDataDir(); err != nil {
		return nil, err
	}
	if m.lock, err = m.fs.Lock(filepath.Join(dir, lockFileName)); err != nil {
		return nil, fmt.Errorf("locking data directory %s: %w", dir, err)
	}
	defer func() {
		if err != nil {
			for _, l := range m.logs {
				l.shut()
			}
			m.bg.Wait()
			m.lock.Close()
		}
	}()

	recoveryPoints, err := readOffsetCheckpoint(m.fs, filepath.Join(dir, recoveryPointFile))
	if err != nil {
		m.logger.Warn("recovery point checkpoint unreadable; recovering every log fully", "err", err)
	}
	logStarts, err := readOffsetCheckpoint(m.fs, filepath.Join(dir, logStartFile))
	if err != nil {
		m.logger.Warn("log start checkpoint unreadable; log starts fall back to the first segment", "err", err)
	}
	_, err = m.fs.Stat(filepath.Join(dir, cleanShutdownFile))
	clean := err == nil

	jobs, err := m.scanDataDir()
	if err != nil {
		return nil, err
	}
	for i := range jobs {
		jobs[i].clean = clean
		jobs[i].recoveryPoint = recoveryPoints[jobs[i].tp]
		jobs[i].logStart = -1
		if ls, ok := logStarts[jobs[i].tp]; ok {
			jobs[i].logStart = ls
		}
	}
	if err := m.openAll(jobs); err != nil {
		return nil, err
	}
	m.loadHighWatermarks()
	if clean {
		// From here on the logs change; until the next clean Close they
		// must not be trusted without recovery.
		if err := m.fs.Remove(filepath.Join(dir, cleanShutdownFile)); err != nil {
			return nil, ioError("removing clean shutdown marker", err)
		}
		if err := m.fs.SyncDir(dir); err != nil {
			return nil, ioError("syncing data directory", err)
		}
	}
	if err := m.Checkpoint(); err != nil {
		return nil, err
	}
	m.logger.Info("opened data directory", "dir", dir, "logs", len(m.logs), "clean_shutdown", clean)
	return m, nil
}

// createDataDir creates the data directory if needed and makes every
// directory it created durable in its parent.
func (m *Manager) createDataDir() error {
	var created []string
	for p := filepath.Clean(m.dir); ; p = filepath.Dir(p) {
		if _, err := m.fs.Stat(p); err == nil || !isNotExist(err) || p == filepath.Dir(p) {
			break
		}
		created = append(created, p)
	}
	if len(created) == 0 {
		return nil
	}
	if err := m.fs.MkdirAll(m.dir, 0o755); err != nil {
		return ioError("creating data directory", err)
	}
	for i := len(created) - 1; i >= 0; i-- {
		if err := m.fs.SyncDir(filepath.Dir(created[i])); err != nil {
			return ioError("syncing parent of data directory", err)
		}
	}
	return nil
}

// scanDataDir lists the log directories and clears leftovers.
func (m *Manager) scanDataDir() ([]openParams, error) {
	entries, err := m.fs.ReadDir(m.dir)
	if err != nil {
		return nil, ioError("listing data directory", err)
	}
	var jobs []openParams
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(m.dir, name)
		switch {
		case !e.IsDir():
			if strings.HasSuffix(name, tmpSuffix) {
				if err := m.fs.Remove(path); err != nil && !isNotExist(err) {
					m.logger.Warn("removing leftover temp file failed", "path", path, "err", err)
				}
			}
		case strings.HasSuffix(name, deleteSuffix):
			m.removeInBackground(path)
		default:
			tp, ok := parseDirName(name)
			if !ok {
				level := slog.LevelWarn
				if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "__cluster_metadata") {
					level = slog.LevelDebug
				}
				m.logger.Log(context.Background(), level, "skipping directory that is not a partition log", "path", path)
				continue
			}
			jobs = append(jobs, openParams{dir: path, tp: tp, cfg: DefaultLogConfig()})
		}
	}
	return jobs, nil
}

// openAll opens logs in parallel; the first error wins.
func (m *Manager) openAll(jobs []openParams) error {
	var (
		mu    sync.Mutex
		errs  []error
		wg    sync.WaitGroup
		queue = make(chan openParams)
	)
	for range min(openWorkers, len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range queue {
				l, err := openLog(m.fs, m.logger, m.now, p)
				mu.Lock()
				if err != nil {
					errs = append(errs, fmt.Errorf("opening log %s: %w", p.dir, err))
				} else {
					m.attach(l)
					l.cleaner = m.cleaner
					m.logs[p.tp] = l
				}
				mu.Unlock()
			}
		}()
	}
	for _, j := range jobs {
		queue <- j
	}
	close(queue)
	wg.Wait()
	return errors.Join(errs...)
}

// Get returns the log for tp, or nil.
func (m *Manager) Get(tp TopicPartition) *Log {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.logs[tp]
}

// GetOrCreate returns the log for tp, creating it (with topicID recorded in
// partition.metadata) if there is none. cfg is applied either way. An
// existing log is returned even if its topic id differs; callers compare
// TopicID and Delete stale logs.
func (m *Manager) GetOrCreate(tp TopicPartition, topicID [16]byte, cfg LogConfig) (*Log, error) {
	if err := tp.validate(); err != nil {
		return nil, err
	}
	m.adminMu.Lock()
	defer m.adminMu.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	if l := m.logs[tp]; l != nil {
		l.SetConfig(cfg)
		return l, nil
	}
	dir := filepath.Join(m.dir, tp.String())
	if _, err := m.fs.Stat(dir); err == nil {
		// A directory nobody opened (created outside this Manager): open
		// it with full recovery rather than overwrite it.
		m.logger.Warn("log directory already exists; opening it", "dir", dir)
	} else {
		if err := m.fs.MkdirAll(dir, 0o755); err != nil {
			return nil, ioError("creating log directory", err)
		}
		if err := writePartitionMetadata(m.fs, dir, topicID); err != nil {
			m.fs.RemoveAll(dir)
			return nil, err
		}
	}
	l, err := openLog(m.fs, m.logger, m.now, openParams{dir: dir, tp: tp, cfg: cfg, logStart: -1})
	if err == nil {
		// The new directory's entries, then its own entry in the data dir.
		if err = m.fs.SyncDir(dir); err == nil {
			err = m.fs.SyncDir(m.dir)
		}
		if err != nil {
			l.shut()
			err = ioError("syncing new log directory", err)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("creating log %s: %w", tp, err)
	}
	l.dirDirty.Store(false)
	m.attach(l)
	l.cleaner = m.cleaner
	m.logs[tp] = l
	return l, nil
}

// Logs returns every open log, sorted by topic and partition.
func (m *Manager) Logs() []*Log {
	m.mu.RLock()
	out := make([]*Log, 0, len(m.logs))
	for _, l := range m.logs {
		out = append(out, l)
	}
	m.mu.RUnlock()
	slices.SortFunc(out, func(a, b *Log) int { return compareTP(a.tp, b.tp) })
	return out
}

// Delete removes tp's log: it stops taking appends and reads at once
// (in-flight reads finish), its directory is renamed to "*.delete" and
// removed in the background. Deleting an absent log is a no-op.
func (m *Manager) Delete(tp TopicPartition) error {
	m.adminMu.Lock()
	defer m.adminMu.Unlock()
	m.mu.Lock()
	l := m.logs[tp]
	delete(m.logs, tp)
	m.mu.Unlock()
	if l == nil {
		return nil
	}
	l.closeForDelete()
	// Forget the log's offsets first, so a log recreated under the same
	// name never inherits its recovery point.
	if err := m.Checkpoint(); err != nil {
		m.logger.Warn("checkpoint after delete failed", "topic", tp.Topic, "partition", tp.Partition, "err", err)
	}
	var suffix [8]byte
	rand.Read(suffix[:])
	target := l.dir + "." + hex.EncodeToString(suffix[:]) + deleteSuffix
	if err := m.fs.Rename(l.dir, target); err != nil {
		return ioError("renaming deleted log", err)
	}
	if err := m.fs.SyncDir(m.dir); err != nil {
		m.logger.Warn("syncing data directory after delete failed", "err", err)
	}
	m.removeInBackground(target)
	return nil
}

func (m *Manager) removeInBackground(path string) {
	m.bg.Add(1)
	go func() {
		defer m.bg.Done()
		if err := m.fs.RemoveAll(path); err != nil {
			m.logger.Warn("removing deleted log failed", "path", path, "err", err)
			return
		}
		if err := m.fs.SyncDir(m.dir); err != nil {
			m.logger.Warn("syncing data directory failed", "err", err)
		}
	}()
}

// Checkpoint writes both checkpoint files (recovery points and log start
// offsets of every open log), each atomically.
func (m *Manager) Checkpoint() error {
	m.ckptMu.Lock()
	defer m.ckptMu.Unlock()
	m.mu.RLock()
	rp := make(map[TopicPartition]int64, len(m.logs))
	ls := make(map[TopicPartition]int64, len(m.logs))
	for tp, l := range m.logs {
		rp[tp] = l.recoveryPoint()
		ls[tp] = l.LogStartOffset()
	}
	m.mu.RUnlock()
	if err := writeOffsetCheckpoint(m.fs, filepath.Join(m.dir, recoveryPointFile), rp); err != nil {
		return err
	}
	return writeOffsetCheckpoint(m.fs, filepath.Join(m.dir, logStartFile), ls)
}

// attach connects a log it opened to the Manager's checkpoints and group
// commit.
func (m *Manager) attach(l *Log) {
	l.persistOffsets, l.commit, l.deleteLater = m.Checkpoint, m.commit, m.deletes.add
	if ws, ok := m.fs.(vfs.WholeSyncer); ok {
		id, err := ws.FSID(l.dir)
		l.fsid, l.fsKnown = id, err == nil
	}
}

// FlushAll makes every log durable to its end (the periodic-flush
// durability mode), all in one group-commit round.
func (m *Manager) FlushAll() error {
	var errs []error
	logs := m.Logs()
	if len(logs) == 0 {
		return nil
	}
	for l, err := range m.commit.join(logs) {
		if err != nil && !errors.Is(err, ErrClosed) {
			errs = append(errs, fmt.Errorf("flushing %s: %w", l.tp, err))
		}
	}
	return errors.Join(errs...)
}

// EnforceRetention applies time and size retention to every log.
func (m *Manager) EnforceRetention() error {
	var errs []error
	for _, l := range m.Logs() {
		n, err := l.EnforceRetention()
		if err != nil && !errors.Is(err, ErrClosed) {
			errs = append(errs, err)
		}
		if n > 0 {
			m.logger.Info("retention deleted segments", "topic", l.tp.Topic, "partition", l.tp.Partition,
				"segments", n, "log_start_offset", l.LogStartOffset())
		}
	}
	return errors.Join(errs...)
}

// Close flushes and closes every log, writes the checkpoints, marks the
// directory cleanly shut down (only if all of that worked) and unlocks it.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.mu.Unlock()
	// Stop a running cleaning pass and wait for it, so no cleaner writes
	// into the directory once it is unlocked.
	m.cleaner.shutdown()
	logs := m.Logs()
	var (
		errs []error
		mu   sync.Mutex
		wg   sync.WaitGroup
		sem  = make(chan struct{}, openWorkers)
	)
	for _, l := range logs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := l.Close(); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("closing %s: %w", l.tp, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := m.Checkpoint(); err != nil {
		errs = append(errs, err)
	}
	if err := m.CheckpointHighWatermarks(); err != nil {
		errs = append(errs, err)
	}
	// No reader is left: the delayed deletions can all happen now. A
	// failure is no reason to distrust the logs (recovery removes
	// leftover .deleted files), so it does not cost the clean marker.
	if err := m.removeDeleted(time.Time{}); err != nil {
		m.logger.Warn("removing deleted segment files failed", "err", err)
	}
	if len(errs) == 0 {
		if err := m.writeCleanMarker(); err != nil {
			errs = append(errs, err)
		}
	}
	m.bg.Wait()
	errs = append(errs, m.lock.Close())
	return errors.Join(errs...)
}

func (m *Manager) writeCleanMarker() error {
	p := filepath.Join(m.dir, cleanShutdownFile)
	f, err := m.fs.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return ioError("writing clean shutdown marker", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return ioError("writing clean shutdown marker", err)
	}
	if err := f.Close(); err != nil {
		return ioError("writing clean shutdown marker", err)
	}
	if err := m.fs.SyncDir(m.dir); err != nil {
		return ioError("syncing data directory", err)
	}
	return nil
}
