package storage

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/spool-mq/spool/internal/storage/storagetest"
	"github.com/spool-mq/spool/internal/vfs"
	"github.com/spool-mq/spool/internal/vfs/vfstest"
)

func readFile(t *testing.T, fsys vfs.FS, name string) string {
	t.Helper()
	b, err := readWholeFile(fsys, name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestManagerFilesAndReopen(t *testing.T) {
	e := newEnv(t)
	tps := []TopicPartition{{"b", 0}, {"a-b", 1}, {"a", 10}, {"a", 2}}
	for i, tp := range tps {
		l, err := e.m.GetOrCreate(tp, [16]byte{byte(i + 1)}, smallConfig())
		if err != nil {
			t.Fatal(err)
		}
		for j := range i + 1 {
			appendBatch(t, l, storagetest.Batch(int64(j), []byte(tp.String())), 0)
		}
	}
	if got := readFile(t, e.fs, dataDir+"/a-b-1/partition.metadata"); got != "version: 0\ntopic_id: AgAAAAAAAAAAAAAAAAAAAA\n" {
		t.Fatalf("partition.metadata = %q", got)
	}
	e.m.Get(TopicPartition{"a", 2}).DeleteRecordsBefore(2)
	e.restart()
	var names []string
	for _, l := range e.m.Logs() {
		names = append(names, l.TopicPartition().String())
	}
	if strings.Join(names, ",") != "a-2,a-10,a-b-1,b-0" {
		t.Fatalf("Logs() = %v", names)
	}
	for i, tp := range tps {
		l := e.m.Get(tp)
		if l.TopicID() != ([16]byte{byte(i + 1)}) || l.LogEndOffset() != int64(i+1) {
			t.Fatalf("%s: id %v end %d", tp, l.TopicID(), l.LogEndOffset())
		}
	}
	if got := readFile(t, e.fs, dataDir+"/"+recoveryPointFile); got != "0\n4\na 2 4\na 10 3\na-b 1 2\nb 0 1\n" {
		t.Fatalf("recovery point checkpoint = %q", got)
	}
	if got := readFile(t, e.fs, dataDir+"/"+logStartFile); got != "0\n4\na 2 2\na 10 0\na-b 1 0\nb 0 0\n" {
		t.Fatalf("log start checkpoint = %q", got)
	}
	if _, err := e.fs.Stat(dataDir + "/" + cleanShutdownFile); err == nil {
		t.Fatal("clean shutdown marker left after open")
	}
	if e.m.Get(TopicPartition{"nope", 0}) != nil {
		t.Fatal("Get of an unknown log")
	}
	for _, bad := range []TopicPartition{{"", 0}, {"..", 0}, {"a/b", 0}, {"x", -1}, {"sp ace", 0}} {
		if _, err := e.m.GetOrCreate(bad, [16]byte{}, smallConfig()); !errors.Is(err, ErrInvalidName) {
			t.Fatalf("GetOrCreate(%q, %d): %v", bad.Topic, bad.Partition, err)
		}
	}
	if err := e.m.FlushAll(); err != nil {
		t.Fatal(err)
	}
	if err := e.m.EnforceRetention(); err != nil {
		t.Fatal(err)
	}
}

func TestManagerDeleteAndRecreate(t *testing.T) {
	e := newEnv(t)
	l := e.log(smallConfig())
	for i := range 20 {
		appendBatch(t, l, storagetest.Sized(2, 300, int64(i)), 0)
	}
	l.Flush(l.LogEndOffset())
	e.m.Checkpoint()

	// Readers running while the log is deleted get data or ErrClosed.
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				res, err := l.Read(0, 1<<40, 4000, true)
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil || len(res.Data) == 0 {
					errs <- err
					return
				}
			}
		}()
	}
	if err := e.m.Delete(testTP); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("reader during delete: %v", err)
	}
	if e.m.Get(testTP) != nil {
		t.Fatal("deleted log still returned")
	}
	if _, err := l.Append(storagetest.Batch(1, nil), AppendOptions{AssignOffsets: true}); !errors.Is(err, ErrClosed) {
		t.Fatalf("append to a deleted log: %v", err)
	}
	if err := e.m.Delete(testTP); err != nil {
		t.Fatalf("deleting again: %v", err)
	}
	e.m.bg.Wait()
	ents, _ := e.fs.ReadDir(dataDir)
	for _, ent := range ents {
		if ent.IsDir() {
			t.Fatalf("directory %s left after delete", ent.Name())
		}
	}
	if got := readFile(t, e.fs, dataDir+"/"+recoveryPointFile); got != "0\n0\n" {
		t.Fatalf("checkpoint still lists the deleted log: %q", got)
	}

	// Recreated under the same name: empty, with the new id, and a crash
	// does not resurrect anything.
	l2, err := e.m.GetOrCreate(testTP, [16]byte{9}, smallConfig())
	if err != nil {
		t.Fatal(err)
	}
	if l2.LogEndOffset() != 0 || l2.TopicID() != ([16]byte{9}) {
		t.Fatalf("recreated log: end %d id %v", l2.LogEndOffset(), l2.TopicID())
	}
	appendBatch(t, l2, storagetest.Batch(1, []byte("new")), 0)
	l2.Flush(1)
	l2 = e.crash(vfstest.CrashOptions{Torn: true, Seed: 4}).Get(testTP)
	if l2.LogEndOffset() != 1 || l2.TopicID() != ([16]byte{9}) {
		t.Fatalf("after crash: end %d id %v", l2.LogEndOffset(), l2.TopicID())
	}
}

func TestManagerCleansLeftovers(t *testing.T) {
	e := newEnv(t)
	l := e.log(smallConfig())
	appendBatch(t, l, storagetest.Batch(1, []byte("x")), 0)
	e.m.Close()
	fsys := e.fs
	write := func(name string) {
		f, err := fsys.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte("junk"))
		f.Close()
	}
	logDir := dataDir + "/orders-3"
	for _, d := range []string{"notalog", "t-01", "t-x", "-1", "__cluster_metadata", "gone-0.0123.delete"} {
		fsys.MkdirAll(dataDir+"/"+d, 0o755)
	}
	write(dataDir + "/gone-0.0123.delete/00000000000000000000.log")
	write(dataDir + "/" + recoveryPointFile + ".tmp")
	write(logDir + "/00000000000000000000.log.deleted")
	write(logDir + "/00000000000000000005.log.cleaned")
	write(logDir + "/00000000000000000000.index.tmp")
	write(logDir + "/00000000000000000099.index")
	write(logDir + "/00000000000000000099.timeindex")
	write(logDir + "/unrelated.txt")
	e.open()
	e.m.bg.Wait()
	for _, gone := range []string{
		dataDir + "/gone-0.0123.delete", dataDir + "/" + recoveryPointFile + ".tmp",
		logDir + "/00000000000000000000.log.deleted", logDir + "/00000000000000000005.log.cleaned",
		logDir + "/00000000000000000000.index.tmp", logDir + "/00000000000000000099.index",
		logDir + "/00000000000000000099.timeindex",
	} {
		if _, err := fsys.Stat(gone); err == nil {
			t.Errorf("%s not removed", gone)
		}
	}
	if _, err := fsys.Stat(logDir + "/unrelated.txt"); err != nil {
		t.Error("an unrelated file was removed")
	}
	if n := len(e.m.Logs()); n != 1 {
		t.Fatalf("%d logs", n)
	}
	if _, ok := e.logs.find("skipping directory that is not a partition log"); !ok {
		t.Fatal("no warning for the bad directory names")
	}
	if got := readAll(t, e.m.Get(testTP)); len(got) != 1 {
		t.Fatalf("%d batches", len(got))
	}
}

func TestManagerBadCheckpointsRecoverFully(t *testing.T) {
	e := newEnv(t)
	l := e.log(smallConfig())
	var bs []batch
	for i := range 10 {
		bs = append(bs, appendBatch(t, l, storagetest.Sized(1, 600, int64(i)), 0))
	}
	l.Flush(l.LogEndOffset())
	e.m.lock.Close()
	writeFileAtomic(e.fs, dataDir+"/"+recoveryPointFile, []byte("0\n7\nnonsense"), true)
	writeFileAtomic(e.fs, dataDir+"/"+logStartFile, []byte("1\n0\n"), true)
	writeFileAtomic(e.fs, dataDir+"/orders-3/"+epochCheckpointFile, []byte("0\n1\nx y\n"), true)
	writeFileAtomic(e.fs, dataDir+"/orders-3/"+partitionMetadataFile, []byte("what"), true)
	e.logs = &logRecorder{}
	l = e.open().Get(testTP)
	sameBatches(t, readAll(t, l), bs)
	if _, ok := e.logs.find("recovery point checkpoint unreadable; recovering every log fully"); !ok {
		t.Fatal("no warning for the bad checkpoint")
	}
	// The epoch cache was rebuilt from the scanned batches.
	if l.LatestEpoch() != 0 {
		t.Fatalf("latest epoch %d", l.LatestEpoch())
	}
	if l.TopicID() != ([16]byte{}) {
		t.Fatal("topic id from a bad partition.metadata")
	}
}

func TestManagerOnRealFilesystem(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	m, err := OpenManager(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := smallConfig()
	l, err := m.GetOrCreate(testTP, testTopicID, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var bs []batch
	for i := range 50 {
		bs = append(bs, appendBatch(t, l, storagetest.Sized(2, 300, int64(i)), 0))
	}
	if err := l.Flush(l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(filepath.Join(dir, "orders-3"))
	if err != nil {
		t.Fatal(err)
	}
	var logs, idx int
	for _, ent := range ents {
		switch filepath.Ext(ent.Name()) {
		case ".log":
			logs++
		case ".index", ".timeindex":
			idx++
		}
	}
	if logs < 3 || idx != 2*logs {
		t.Fatalf("%d segments, %d index files", logs, idx)
	}
	m, err = OpenManager(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	l = m.Get(testTP)
	sameBatches(t, readAll(t, l), bs)
	// Kill-style reopen: no Close, lock released.
	appendBatch(t, l, storagetest.Batch(1, []byte("tail")), 0)
	m.lock.Close()
	m2, err := OpenManager(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if got := readAll(t, m2.Get(testTP)); len(got) != len(bs)+1 {
		t.Fatalf("%d batches after reopen", len(got))
	}
}

func TestClosedManagerAndLog(t *testing.T) {
	e := newEnv(t)
	l := e.log(smallConfig())
	appendBatch(t, l, storagetest.Batch(1, nil), 0)
	if err := e.m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.m.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	if _, err := e.m.GetOrCreate(TopicPartition{"x", 0}, [16]byte{}, smallConfig()); !errors.Is(err, ErrClosed) {
		t.Fatalf("GetOrCreate after Close: %v", err)
	}
	if _, err := l.Read(0, 1, 100, true); !errors.Is(err, ErrClosed) {
		t.Fatalf("Read after Close: %v", err)
	}
	if _, err := l.Append(storagetest.Batch(1, nil), AppendOptions{AssignOffsets: true}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	if err := l.Flush(5); !errors.Is(err, ErrClosed) {
		t.Fatalf("Flush after Close: %v", err)
	}
	if _, err := l.EnforceRetention(); !errors.Is(err, ErrClosed) {
		t.Fatalf("retention after Close: %v", err)
	}
	if _, _, _, err := l.OffsetForTimestamp(0); !errors.Is(err, ErrClosed) {
		t.Fatalf("OffsetForTimestamp after Close: %v", err)
	}
}

func TestTimeBasedRoll(t *testing.T) {
	e := newEnv(t)
	cfg := smallConfig()
	cfg.SegmentMs = 60_000
	l := e.log(cfg)
	appendBatch(t, l, storagetest.Batch(e.clock.Ms(), nil), 0)
	e.clock.Advance(59_000 * 1e6)
	appendBatch(t, l, storagetest.Batch(e.clock.Ms(), nil), 0)
	if l.NumSegments() != 1 {
		t.Fatal("rolled too early")
	}
	e.clock.Advance(1_000 * 1e6)
	appendBatch(t, l, storagetest.Batch(e.clock.Ms(), nil), 0)
	if l.NumSegments() != 2 {
		t.Fatalf("%d segments after the segment aged", l.NumSegments())
	}
	// After a restart the age counts from the first batch's timestamp.
	e.restart()
	l = e.log(cfg) // logs found at open have the default config until set
	e.clock.Advance(60_000 * 1e6)
	appendBatch(t, l, storagetest.Batch(e.clock.Ms(), nil), 0)
	if l.NumSegments() != 3 {
		t.Fatalf("%d segments after restart and aging", l.NumSegments())
	}
}

func TestNewDataDirectoryIsDurable(t *testing.T) {
	mem := vfstest.NewMem()
	m, err := OpenManager("/var/lib/spool/data", Options{FS: mem})
	if err != nil {
		t.Fatal(err)
	}
	l, err := m.GetOrCreate(testTP, testTopicID, smallConfig())
	if err != nil {
		t.Fatal(err)
	}
	appendBatch(t, l, storagetest.Batch(1, []byte("x")), 0)
	if err := l.Flush(1); err != nil {
		t.Fatal(err)
	}
	c := mem.CrashClone(vfstest.CrashOptions{})
	m2, err := OpenManager("/var/lib/spool/data", Options{FS: c})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if l := m2.Get(testTP); l == nil || l.LogEndOffset() != 1 || l.TopicID() != testTopicID {
		t.Fatal("flushed data in a new data directory did not survive a crash")
	}
}
