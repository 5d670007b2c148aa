package storage

import (
	"fmt"
	"path/filepath"
)

// High watermark checkpoint. The high watermark is the partition layer's
// (internal/partition), but it must survive a restart: without it a
// replicated partition restarts with its watermark at the log start, so
// until every in-sync follower has fetched again ListOffsets(latest) and
// consumers starting at "latest" see the log start as the end. As in
// Kafka, each data directory keeps every log's last reported watermark in
// replication-offset-checkpoint, written atomically (temp file, fsync,
// rename, fsync directory) every replica.high.watermark.checkpoint.interval.ms
// and at Close. A checkpointed value is never more than the watermark was
// when it was written, so it never shows a reader more than the ISR had.

// highWatermarkFile is Kafka's name for the per-directory file.
const highWatermarkFile = "replication-offset-checkpoint"

// SetHighWatermark records the partition's current high watermark for the
// next checkpoint. The partition calls it whenever its watermark moves.
func (l *Log) SetHighWatermark(hwm int64) { l.hwm.Store(max(hwm, -1)) }

// CheckpointedHighWatermark is the high watermark this log had at the last
// checkpoint before it was opened, capped at the recovered log end, or -1
// if none was checkpointed.
func (l *Log) CheckpointedHighWatermark() int64 { return l.hwmAtOpen }

// initHighWatermark takes the checkpointed value at open. A log that lost
// its tail (an unclean shutdown in periodic-flush mode, a torn write) cannot
// have a watermark beyond what it holds.
func (l *Log) initHighWatermark(ckpt int64) {
	h := min(ckpt, l.logEnd.Load())
	l.hwmAtOpen = h
	l.hwm.Store(h)
}

// clampHighWatermark keeps the recorded watermark within a truncated log.
func (l *Log) clampHighWatermark() {
	end := l.logEnd.Load()
	for {
		cur := l.hwm.Load()
		if cur <= end || l.hwm.CompareAndSwap(cur, end) {
			return
		}
	}
}

// loadHighWatermarks applies the directory's high watermark checkpoint to
// the logs just opened. An unreadable file only costs the fallback to the
// log start, so it is logged, not fatal.
func (m *Manager) loadHighWatermarks() {
	hw, err := readOffsetCheckpoint(m.fs, filepath.Join(m.dir, highWatermarkFile))
	if err != nil {
		m.logger.Warn("high watermark checkpoint unreadable; replicated partitions restart from their log start",
			"err", err)
		return
	}
	for tp, h := range hw {
		if l := m.logs[tp]; l != nil {
			l.initHighWatermark(h)
		}
	}
}

// CheckpointHighWatermarks writes every open log's last reported high
// watermark to replication-offset-checkpoint, atomically. Logs that never
// had one reported nor checkpointed are left out.
func (m *Manager) CheckpointHighWatermarks() error {
	m.hwmMu.Lock()
	defer m.hwmMu.Unlock()
	m.mu.RLock()
	hw := make(map[TopicPartition]int64, len(m.logs))
	for tp, l := range m.logs {
		if h := l.hwm.Load(); h >= 0 {
			hw[tp] = h
		}
	}
	m.mu.RUnlock()
	if err := writeOffsetCheckpoint(m.fs, filepath.Join(m.dir, highWatermarkFile), hw); err != nil {
		return fmt.Errorf("high watermark checkpoint: %w", err)
	}
	return nil
}
