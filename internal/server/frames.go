package server

import (
	"math/bits"
	"sync"
)

// Produce request frames are the broker's largest allocations: up to a
// megabyte or more per request, every one zeroed by the runtime and then
// overwritten by the socket read, and all of it garbage a moment later.
// framePool recycles them. Only Produce frames come back (see
// recyclesFrame): a produce handler writes the records to the log and
// keeps no reference to the request once it has answered, while other
// handlers may keep decoded byte slices (group metadata, for example),
// which alias the frame.
type framePool struct {
	classes [frameClasses]sync.Pool // class i holds frames of cap minFrame<<i
}

const (
	minFrameShift = 16 // 64 KiB: smaller frames are cheap to allocate
	frameClasses  = 11 // up to 64 MiB; the few larger frames are allocated
	minFrame      = 1 << minFrameShift
	maxFrame      = minFrame << (frameClasses - 1)
)

// frameClass is the index of the smallest class holding size bytes, or -1
// if size is outside the pooled range.
func frameClass(size int) int {
	if size < minFrame || size > maxFrame {
		return -1
	}
	return bits.Len(uint(size-1)) - minFrameShift
}

// get returns a frame of length size, recycled when one fits. Its
// contents are garbage: the caller must overwrite all of it.
func (p *framePool) get(size int) []byte {
	c := frameClass(size)
	if c < 0 {
		return make([]byte, size)
	}
	if b, ok := p.classes[c].Get().(*[]byte); ok {
		return (*b)[:size]
	}
	return make([]byte, size, minFrame<<c)
}

// put recycles a frame from get; the caller must not use it afterwards.
func (p *framePool) put(b []byte) {
	c := frameClass(cap(b))
	if c < 0 || cap(b) != minFrame<<c {
		return // not one of ours (allocated outside the classes)
	}
	b = b[:0]
	p.classes[c].Put(&b)
}

// recyclesFrame says whether a request's frame may be reused once its
// response is written: only Produce, whose handler keeps nothing of it.
func recyclesFrame(apiKey int16) bool { return apiKey == produceKey }

const produceKey = 0
