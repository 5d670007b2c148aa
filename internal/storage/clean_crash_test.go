package storage

import (
	"fmt"
	"log/slog"
	"math"
	"strings"
	"testing"

	"github.com/spool-mq/spool/internal/vfs"
	"github.com/spool-mq/spool/internal/vfs/vfstest"
)

// crashImage is what a power cut at one moment would leave.
type crashImage struct {
	fs   *vfstest.MemFS
	what string
}

// recordCrashImages wraps mem so that, while *on is true, every
// filesystem operation that changes something first saves the images a
// power cut just before it would leave (strict and torn).
func recordCrashImages(mem *vfstest.MemFS, on *bool, images *[]crashImage) vfs.FS {
	ops := 0
	return vfstest.NewErrorFS(mem, vfstest.InjectorFunc(func(op vfstest.Op, path string, _ int) (int, error) {
		if !*on || op&(vfstest.OpRead|vfstest.OpStat|vfstest.OpReadDir|vfstest.OpOpen|vfstest.OpLock|vfstest.OpClose) != 0 {
			return 0, nil
		}
		ops++
		for _, torn := range []bool{false, true} {
			*images = append(*images, crashImage{
				fs:   mem.CrashClone(vfstest.CrashOptions{Torn: torn, Seed: uint64(ops)}),
				what: fmt.Sprintf("crash before op %d (%s %s) torn=%v", ops, op, path, torn),
			})
		}
		return 0, nil
	}))
}

// TestCleanCrashAtEveryOperation simulates a power cut before every
// filesystem change a cleaning pass makes (writing cleaned segments,
// committing swaps, deleting old segments, the checkpoints) and checks
// that each segment group of the reopened log holds exactly the records
// it held before the pass or exactly those after it, that the log takes
// appends, and that cleaning it again converges to the same result. Images that hold a
// committed swap are also crashed during their own recovery.
func TestCleanCrashAtEveryOperation(t *testing.T) { cleanCrashAtEveryOperation(t, 0) }

// TestCleanCrashAtEveryOperationDelayedDelete is the same with
// file.delete.delay.ms set: replaced segments are renamed to .deleted
// instead of removed, and recovery removes what a crash left.
func TestCleanCrashAtEveryOperationDelayedDelete(t *testing.T) {
	cleanCrashAtEveryOperation(t, 60000)
}

func cleanCrashAtEveryOperation(t *testing.T, deleteDelayMs int64) {
	mem := vfstest.NewMem()
	clock := newClock()
	recording := false
	var images []crashImage
	fsys := recordCrashImages(mem, &recording, &images)
	m, err := OpenManager(dataDir, Options{FS: fsys, Now: clock.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	cfg := compactConfig()
	cfg.SegmentBytes = 3000
	cfg.FileDeleteDelayMs = deleteDelayMs
	l, err := m.GetOrCreate(testTP, testTopicID, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var km kmodel
	pad := strings.Repeat("p", 120)
	km.put(t, l, 1, keyed("first", strings.Repeat("f", 1500))) // a segment cleaning leaves as is
	rollLog(t, l)
	for i := range 13 { // a segment of which nothing stays
		km.put(t, l, int64(10+i), keyed("doomed", fmt.Sprint(i, pad)))
	}
	rollLog(t, l)
	for i := range 60 {
		switch {
		case i%9 == 8:
			km.put(t, l, int64(100+i), tombstone(fmt.Sprint("k", i%6)))
		case i < 15:
			km.put(t, l, int64(100+i), keyed(fmt.Sprint("u", i), pad)) // never updated
		default:
			km.put(t, l, int64(100+i), keyed(fmt.Sprint("k", i%6), fmt.Sprint(i, pad)), keyed("doomed", fmt.Sprint(i)))
		}
		if i > 30 && i%3 == 0 {
			rollLog(t, l) // small segments, which cleaning merges
		}
	}
	rollLog(t, l)
	km.put(t, l, 500, keyed("k1", "active"))
	if err := l.Flush(l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	if err := m.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	pre := readRecords(t, l)
	bounds := segmentBases(l)

	recording = true
	res, err := l.Clean(clock.Now())
	recording = false
	if err != nil {
		t.Fatal(err)
	}
	post := readRecords(t, l)
	sameRecords(t, post, compacted(km.recs, res.EndOffset, 0))
	after := segmentBases(l)
	if res.SegmentsReplaced < 3 || res.SegmentsReplaced < res.SegmentsWritten+3 || after[0] != 0 || after[1] != bounds[2] {
		t.Fatalf("the pass should keep the first segment, drop the second, and merge others: %+v, segments %v -> %v",
			res, bounds, after)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	images = append(images, crashImage{mem.CrashClone(vfstest.CrashOptions{}), "after close"})

	// Crashing recovery itself is costly; do it for a sample of the
	// images that hold a swap.
	swaps := 0
	for _, img := range images {
		if checkCleanCrashImage(t, img, pre, post, bounds, cfg, clock, swaps%12 == 0) {
			swaps++
		}
	}
	if swaps == 0 {
		t.Fatal("no crash image held a committed swap; recovery of swaps went untested")
	}
	t.Logf("checked %d crash images, %d with a committed swap", len(images), swaps)
}

// checkCleanCrashImage opens img and checks that each range of offsets
// the old segments covered (bounds are their bases) holds exactly its
// records from before the pass or exactly those from after: segments are
// swapped group by group (as in Kafka), so a crash between two swaps
// leaves the earlier groups cleaned and the later ones not, both of which
// keep every key's latest record. It
// reports whether the image held a committed swap (a .swap file); with
// nested, such an image is also crashed before every change its own
// recovery makes.
func checkCleanCrashImage(t *testing.T, img crashImage, pre, post []krec, bounds []int64, cfg LogConfig, clock *fakeClock, nested bool) bool {
	t.Helper()
	hasSwap := false
	entries, _ := img.fs.ReadDir(dataDir + "/" + testTP.String())
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), swapSuffix) {
			hasSwap = true
		}
	}
	recording := hasSwap && nested
	var nestedImages []crashImage
	fsys := recordCrashImages(img.fs, &recording, &nestedImages)
	m, err := OpenManager(dataDir, Options{FS: fsys, Now: clock.Now, Logger: slog.New(slog.DiscardHandler)})
	recording = false
	if err != nil {
		t.Fatalf("%s: open: %v", img.what, err)
	}
	defer m.Close()
	l := m.Get(testTP)
	if l == nil {
		t.Fatalf("%s: log missing", img.what)
	}
	after, _ := img.fs.ReadDir(dataDir + "/" + testTP.String())
	for _, e := range after {
		if strings.HasSuffix(e.Name(), swapSuffix) || strings.HasSuffix(e.Name(), cleanedSuffix) {
			t.Fatalf("%s: %s left after recovery", img.what, e.Name())
		}
	}
	got := readRecords(t, l)
	for i, b := range bounds {
		hi := int64(math.MaxInt64)
		if i+1 < len(bounds) {
			hi = bounds[i+1]
		}
		g, dPre, dPost := within(got, b, hi), within(pre, b, hi), within(post, b, hi)
		if diffRecords(g, dPre) != "" && diffRecords(g, dPost) != "" {
			t.Fatalf("%s: offsets [%d, %d) are neither as before the pass (%s) nor as after it (%s)",
				img.what, b, hi, diffRecords(g, dPre), diffRecords(g, dPost))
		}
	}
	if hasSwap && !containsAll(got, post) {
		t.Fatalf("%s: a committed swap was rolled back", img.what)
	}
	if want := pre[len(pre)-1].offset + 1; l.LogEndOffset() != want {
		t.Fatalf("%s: log end %d, want %d", img.what, l.LogEndOffset(), want)
	}
	for _, n := range nestedImages {
		n.what = img.what + ", then " + n.what + " of recovery"
		checkCleanCrashImage(t, n, pre, post, bounds, cfg, clock, false)
	}
	// Cleaning the recovered log again converges to the same result.
	l, err = m.GetOrCreate(testTP, testTopicID, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Clean(clock.Now()); err != nil {
		t.Fatalf("%s: cleaning after recovery: %v", img.what, err)
	}
	if d := diffRecords(readRecords(t, l), post); d != "" {
		t.Fatalf("%s: cleaning after recovery: %s", img.what, d)
	}
	var km kmodel
	km.put(t, l, 999, keyed("after", "crash"))
	return hasSwap
}

// within returns the records with offsets in [lo, hi).
func within(recs []krec, lo, hi int64) []krec {
	var out []krec
	for _, r := range recs {
		if r.offset >= lo && r.offset < hi {
			out = append(out, r)
		}
	}
	return out
}

// containsAll reports whether every record of sub is in recs.
func containsAll(recs, sub []krec) bool {
	at := map[int64]krec{}
	for _, r := range recs {
		at[r.offset] = r
	}
	for _, r := range sub {
		if g, ok := at[r.offset]; !ok || diffRecords([]krec{g}, []krec{r}) != "" {
			return false
		}
	}
	return true
}
