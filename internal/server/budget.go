package server

import (
	"context"

	"golang.org/x/sync/semaphore"
)

// requestBudget bounds the bytes of request frames a listener holds at
// once, across all its connections (Kafka's queued.max.request.bytes).
// A connection's reader takes from it before it allocates frame memory
// and gives it back once the request has been handled; when it is spent,
// readers stop reading their sockets until it is returned, so a flood of
// large requests is back-pressure on the senders, never an allocation.
type requestBudget struct {
	sem   *semaphore.Weighted
	total int64
	m     *Metrics
}

func newRequestBudget(total int64, m *Metrics) *requestBudget {
	return &requestBudget{sem: semaphore.NewWeighted(total), total: total, m: m}
}

// acquire takes n bytes, waiting until they are free or ctx ends. A wait
// is counted, so operators see when the budget is what limits them.
func (b *requestBudget) acquire(ctx context.Context, n int64) error {
	if n <= 0 {
		return nil
	}
	if !b.sem.TryAcquire(n) {
		b.m.budgetWaits.Inc()
		if err := b.sem.Acquire(ctx, n); err != nil {
			return err
		}
	}
	b.m.budgetInUse.Add(float64(n))
	return nil
}

// release gives back n bytes taken by acquire.
func (b *requestBudget) release(n int64) {
	if n <= 0 {
		return
	}
	b.m.budgetInUse.Sub(float64(n))
	b.sem.Release(n)
}
