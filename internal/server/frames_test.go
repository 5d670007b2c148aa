package server

import "testing"

func TestFrameClasses(t *testing.T) {
	for _, tc := range []struct{ size, class int }{
		{0, -1}, {minFrame - 1, -1}, {minFrame, 0}, {minFrame + 1, 1},
		{2 * minFrame, 1}, {2*minFrame + 1, 2}, {maxFrame, frameClasses - 1}, {maxFrame + 1, -1},
	} {
		if got := frameClass(tc.size); got != tc.class {
			t.Errorf("frameClass(%d) = %d, want %d", tc.size, got, tc.class)
		}
	}
}

func TestFramePoolRecycles(t *testing.T) {
	var p framePool
	for _, size := range []int{100, minFrame, 300 << 10, maxFrame, maxFrame + 1} {
		b := p.get(size)
		if len(b) != size {
			t.Fatalf("get(%d): len %d", size, len(b))
		}
		if c := frameClass(size); c >= 0 && cap(b) != minFrame<<c {
			t.Fatalf("get(%d): cap %d, want the class size %d", size, cap(b), minFrame<<c)
		}
		p.put(b)
	}
	// A frame put back is handed out again for any size of its class
	// (sync.Pool may drop it under GC, so retry a few times).
	reused := false
	for range 10 {
		b := p.get(300 << 10)
		b[0] = 42
		p.put(b)
		if c := p.get(260 << 10); c[0] == 42 && cap(c) == 512<<10 {
			reused = true
			break
		}
	}
	if !reused {
		t.Fatal("a recycled 512 KiB frame was never reused")
	}
	p.put(make([]byte, 10, 300<<10)) // foreign capacity: ignored, no panic
}
