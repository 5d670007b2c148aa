package storage

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/spool-mq/spool/internal/vfs"
)

// Aborted-transaction index. A read_committed consumer must skip the
// records of aborted transactions, so a fetch answers with the aborted
// transactions overlapping what it returns (producer id and first offset;
// the consumer drops that producer's records from there until it reads the
// abort marker). The partition layer appends an entry when it writes or
// copies an abort marker.
//
// Kafka keeps one .txnindex file per segment. Spool keeps one append-only
// file per partition, aborted-txn-index, of the same 34-byte big-endian
// entries:
//
//	int16 version (0), int64 producerId, int64 firstOffset,
//	int64 lastOffset (the marker's offset), int64 lastStableOffset
//
// Entries are in lastOffset order. One file is simpler than one per
// segment and aborts are rare; the price is that retention and truncation
// rewrite it (atomically) instead of deleting a file.
//
// Crash safety: an entry is appended and fsynced before the marker that
// justifies it is appended to the log, so after a crash the file may hold
// entries past the log end, never miss one below it. A marker append that
// fails takes its entries back (DropAbortedTxnsFrom truncates the file,
// which needs no free space). Open drops a torn
// trailing entry, stops at the first entry that does not follow its
// predecessor (garbage after a lost write-back), and trims entries at or
// past the recovered log end and those wholly below the log start.

const txnIndexFile = "aborted-txn-index"

// txnEntrySize is the size of one entry on disk.
const txnEntrySize = 34

// AbortedTxn is one aborted transaction of a partition: producer
// ProducerID wrote transactional records from FirstOffset, and its abort
// marker is at LastOffset. LastStableOffset is the partition's last stable
// offset when the marker was written (kept for Kafka's format).
type AbortedTxn struct {
	ProducerID       int64
	FirstOffset      int64
	LastOffset       int64
	LastStableOffset int64
}

// txnIndex is the in-memory copy of the aborted-txn-index file plus the
// open file for appends.
type txnIndex struct {
	mu      sync.RWMutex
	fs      vfs.FS
	path    string
	entries []AbortedTxn
	f       vfs.File // nil until the first append after open or a rewrite
	size    int64
}

func encodeTxnEntry(dst []byte, e AbortedTxn) []byte {
	var b [txnEntrySize]byte
	binary.BigEndian.PutUint16(b[0:], 0)
	binary.BigEndian.PutUint64(b[2:], uint64(e.ProducerID))
	binary.BigEndian.PutUint64(b[10:], uint64(e.FirstOffset))
	binary.BigEndian.PutUint64(b[18:], uint64(e.LastOffset))
	binary.BigEndian.PutUint64(b[26:], uint64(e.LastStableOffset))
	return append(dst, b[:]...)
}

// parseTxnEntries decodes whole valid entries and returns how many bytes
// they take; it stops at a partial entry or one that is not a plausible
// successor of the previous.
func parseTxnEntries(data []byte) ([]AbortedTxn, int) {
	var out []AbortedTxn
	n := 0
	for ; n+txnEntrySize <= len(data); n += txnEntrySize {
		b := data[n:]
		e := AbortedTxn{
			ProducerID:       int64(binary.BigEndian.Uint64(b[2:])),
			FirstOffset:      int64(binary.BigEndian.Uint64(b[10:])),
			LastOffset:       int64(binary.BigEndian.Uint64(b[18:])),
			LastStableOffset: int64(binary.BigEndian.Uint64(b[26:])),
		}
		if binary.BigEndian.Uint16(b) != 0 || e.ProducerID < 0 || e.FirstOffset < 0 || e.FirstOffset >= e.LastOffset ||
			len(out) > 0 && e.LastOffset <= out[len(out)-1].LastOffset {
			break
		}
		out = append(out, e)
	}
	return out, n
}

// loadTxnIndex reads the file and trims it to the log [start, end). A
// missing file is an empty index.
func loadTxnIndex(fsys vfs.FS, dir string, start, end int64) (*txnIndex, error) {
	x := &txnIndex{fs: fsys, path: filepath.Join(dir, txnIndexFile)}
	data, err := readWholeFile(fsys, x.path)
	if err != nil {
		if isNotExist(err) {
			return x, nil
		}
		return x, ioError("reading "+x.path, err)
	}
	entries, n := parseTxnEntries(data)
	x.entries = entries
	x.size = int64(len(data))
	dirty := n != len(data)
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.trimLocked(start, end) || dirty {
		return x, x.rewriteLocked()
	}
	return x, nil
}

// trimLocked drops entries at or past end and those ending below start;
// it reports whether any went.
func (x *txnIndex) trimLocked(start, end int64) bool {
	i := 0
	for i < len(x.entries) && x.entries[i].LastOffset < start {
		i++
	}
	j := len(x.entries)
	for j > i && x.entries[j-1].LastOffset >= end {
		j--
	}
	if i == 0 && j == len(x.entries) {
		return false
	}
	x.entries = append([]AbortedTxn(nil), x.entries[i:j]...)
	return true
}

// rewriteLocked replaces the file with the entries in memory.
func (x *txnIndex) rewriteLocked() error {
	if x.f != nil {
		x.f.Close()
		x.f = nil
	}
	var buf []byte
	for _, e := range x.entries {
		buf = encodeTxnEntry(buf, e)
	}
	if err := writeFileAtomic(x.fs, x.path, buf, true); err != nil {
		return err
	}
	x.size = int64(len(buf))
	return nil
}

// append writes and fsyncs one entry. A failed write is truncated away so
// the file stays whole entries.
func (x *txnIndex) append(e AbortedTxn) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if n := len(x.entries); n > 0 && e.LastOffset <= x.entries[n-1].LastOffset {
		return fmt.Errorf("%w: aborted transaction at %d does not follow %d", ErrInvalidOffset, e.LastOffset, x.entries[n-1].LastOffset)
	}
	if x.f == nil {
		created := x.size == 0
		f, err := x.fs.OpenFile(x.path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return ioError("opening "+x.path, err)
		}
		if created {
			// A new directory entry must be durable with the data.
			if err := x.fs.SyncDir(filepath.Dir(x.path)); err != nil {
				f.Close()
				return ioError("syncing directory of "+x.path, err)
			}
		}
		x.f = f
	}
	b := encodeTxnEntry(nil, e)
	if _, err := x.f.WriteAt(b, x.size); err != nil {
		x.f.Truncate(x.size)
		return ioError("writing "+x.path, err)
	}
	if err := x.f.Sync(); err != nil {
		x.f.Truncate(x.size)
		return ioError("syncing "+x.path, err)
	}
	x.size += txnEntrySize
	x.entries = append(x.entries, e)
	return nil
}

// overlapping returns the entries whose [FirstOffset, LastOffset] meets
// [from, to].
func (x *txnIndex) overlapping(from, to int64) []AbortedTxn {
	x.mu.RLock()
	defer x.mu.RUnlock()
	// Entries are in LastOffset order: skip those ending before from.
	// Past that the first offsets are not ordered (transactions overlap),
	// so the rest is scanned; a consumer near the log end scans little.
	i := sort.Search(len(x.entries), func(i int) bool { return x.entries[i].LastOffset >= from })
	var out []AbortedTxn
	for _, e := range x.entries[i:] {
		if e.FirstOffset <= to {
			out = append(out, e)
		}
	}
	return out
}

// truncate trims to [start, end) and rewrites the file if anything went.
func (x *txnIndex) truncate(start, end int64) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.trimLocked(start, end) {
		return nil
	}
	return x.rewriteLocked()
}

// dropFrom forgets the entries at or after offset, the last ones of the
// file, by truncating it back: unlike a rewrite this needs no free space,
// so it works on the full disk that probably failed the append.
func (x *txnIndex) dropFrom(offset int64) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	n := len(x.entries)
	for n > 0 && x.entries[n-1].LastOffset >= offset {
		n--
	}
	if n == len(x.entries) {
		return nil
	}
	x.entries = x.entries[:n]
	size := int64(n) * txnEntrySize
	if x.f == nil {
		return x.rewriteLocked()
	}
	if err := x.f.Truncate(size); err != nil {
		return ioError("truncating "+x.path, err)
	}
	if err := x.f.Sync(); err != nil {
		return ioError("syncing "+x.path, err)
	}
	x.size = size
	return nil
}

func (x *txnIndex) close() {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.f != nil {
		x.f.Close()
		x.f = nil
	}
}

// AppendAbortedTxn records an aborted transaction durably. Call it before
// appending the abort marker at e.LastOffset (see the crash-safety note
// above).
func (l *Log) AppendAbortedTxn(e AbortedTxn) error {
	if err := l.checkOpen(); err != nil {
		return err
	}
	// Entries at or past the log end are left by appends whose marker
	// never made it to the log (a failed append); the marker's offset is
	// free again.
	if err := l.txns.truncate(l.logStart.Load(), l.logEnd.Load()); err != nil {
		return err
	}
	return l.txns.append(e)
}

// DropAbortedTxnsFrom forgets the aborted transactions whose marker is at
// or after offset. The partition calls it when the markers it recorded
// with AppendAbortedTxn could not be appended: left in place, an entry
// would claim an abort at an offset the log gives to other data.
func (l *Log) DropAbortedTxnsFrom(offset int64) error { return l.txns.dropFrom(offset) }

// AbortedTxns returns the aborted transactions overlapping [from, to].
func (l *Log) AbortedTxns(from, to int64) []AbortedTxn { return l.txns.overlapping(from, to) }
