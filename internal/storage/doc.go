// Package storage is the partition log: Kafka v2 record batches stored byte
// for byte in segment files, with sparse indexes, durable flushes (group
// commit), crash recovery, retention, log compaction (clean.go), and the
// per-directory checkpoints.
//
// # On-disk layout
//
//	<data dir>/
//	  .lock                              flock held while a Manager is open
//	  recovery-point-offset-checkpoint   per log: offsets below are durable
//	  log-start-offset-checkpoint        per log: first offset still readable
//	  .clean_shutdown                    present only after a clean Close
//	  <topic>-<partition>/
//	    partition.metadata               "version: 0\ntopic_id: <base64url>\n"
//	    leader-epoch-checkpoint          "0\n<n>\n<epoch> <start offset>\n..."
//	    aborted-txn-index                aborted transactions, 34-byte entries
//	                                     (see txnindex.go)
//	    00000000000000000000.log         batches, concatenated
//	    00000000000000000000.index       sparse offset index
//	    00000000000000000000.timeindex   time index
//	    cleaner-offset-checkpoint        compacted logs: "<offset> <unix ms>" lines,
//	                                     clean below offset since that time
//	    <base>.<end>.log.cleaned         cleaner output being written
//	    <base>.<end>.log.swap            cleaner output committed, replacing
//	                                     the segments in [base, end)
//	  <topic>-<partition>.<hex>.delete/  a deleted log awaiting removal
//
// The checkpoint files use Kafka's text format: a version line ("0"), a
// count line, then one "<topic> <partition> <offset>" line per log.
//
// A segment is named after its base offset, the first offset it may hold.
// Its index files hold big-endian fixed-size entries:
//
//	.index      relative offset uint32 | file position uint32   (8 bytes)
//	.timeindex  timestamp int64        | relative offset uint32  (12 bytes)
//
// An offset-index entry maps the base offset of a batch (relative to the
// segment's base) to the batch's position; one is added when at least
// IndexIntervalBytes were written since the previous one. A time-index
// entry (T, O) says that T is the largest batch MaxTimestamp among batches
// up to base offset O, and the batch at O has it; entries strictly grow in
// both fields. A sealed segment's last time-index entry is its largest
// timestamp. The active segment rolls once either index holds as many
// entries as segment.index.bytes allows (the time index keeps one slot for
// the entry the roll adds), as in Kafka.
//
// # Index files and what is trusted
//
// The active segment's indexes live in memory. They are written (to a temp
// file, fsynced, renamed, directory synced) when the segment is sealed by a
// roll, and on Close. So a sealed segment's index files, if present,
// always describe its data; the active segment's files may be stale and are
// only used after a clean shutdown.
//
// Recovery without the clean-shutdown marker trusts sealed segments wholly
// below the recovery point (nothing in them is read at open; their indexes
// load lazily, or are rebuilt from batch headers if missing). From the
// segment holding the recovery point on, every batch at or past the
// recovery point is CRC-checked; the first torn, corrupt or out-of-order
// batch ends the log there. The recovered tail is fsynced, so after open
// the whole log is durable.
//
// # Concurrency
//
// A Log has one appender at a time and many readers. Lock order:
// cleaner.runMu, then Log.appendMu, then Log.flushMu, then Log.mu (or
// Log.cleaning.mu), then segment.mu. Appends write the file outside
// Log.mu and publish the new size and log end with atomics, so readers
// never wait for a write or an fsync. Segments are reference counted: a
// reader keeps a segment's file open even if retention, truncation or the
// cleaner removes the segment meanwhile. Retention and the cleaner also
// rename a removed segment's files to <file>.deleted and delete them only
// after file.delete.delay.ms (delete_delay.go), for readers by name;
// recovery deletes leftover .deleted files.
package storage
