package push

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// ErrInProgress reports that another delivery of the same OutTradeNo holds
// the claim. The push is answered with a failure, so WeChat retries it later.
var ErrInProgress = errors.New("push: a delivery of this OutTradeNo is in progress")

// Deduper makes item delivery exactly-once keyed on OutTradeNo, across
// retries and concurrent duplicate pushes. Back it with your store (a row
// with a unique key, a Redis SET NX with expiry, ...). For each verified,
// non-mock item delivery the handler does:
//
//	done, err := d.Begin(ctx, outTradeNo)
//	// err != nil: answer failure (WeChat retries); handler not called
//	// done:       answer success; handler not called (already delivered)
//	// otherwise the claim is held: call ItemDelivered, then
//	//   nil   -> d.Done(ctx, key):    the key is delivered for good
//	//   error -> d.Release(ctx, key): claim dropped, a retry delivers
//
// Implementations must be safe for concurrent use, and Begin must be atomic:
// at most one caller holds the claim of a key at a time, and no caller gets
// a claim once Done was called for the key. When the claim is held
// elsewhere, Begin may wait for it to be done or released (until ctx ends)
// or return [ErrInProgress] at once. A claim in a shared store should expire
// (a lease longer than the handler timeout), or a process that dies while
// holding it blocks the key for good.
//
// Done is called after the handler returned nil; if the process dies in
// between, a retry delivers again. Where that matters, also make the handler
// itself idempotent (see [ItemDelivery]). If Done fails the push is still
// answered with success (the items were granted) and the error is logged.
type Deduper interface {
	// Begin claims key. It reports done when the key was already delivered.
	Begin(ctx context.Context, key string) (done bool, err error)
	// Done marks key delivered for good and drops the claim.
	Done(ctx context.Context, key string) error
	// Release drops the claim on key without marking it delivered.
	Release(ctx context.Context, key string) error
}

// MemoryDeduper is a [Deduper] in process memory: for tests and single-process
// servers. It is not for production with several instances (each has its own
// memory, so two instances can both deliver) and forgets everything on
// restart; it keeps every delivered key, so memory grows with the number of
// orders. Begin waits while another delivery of the key is in progress.
type MemoryDeduper struct {
	mu       sync.Mutex
	done     map[string]struct{}
	inflight map[string]chan struct{}
}

// NewMemoryDeduper returns an empty MemoryDeduper.
func NewMemoryDeduper() *MemoryDeduper {
	return &MemoryDeduper{done: map[string]struct{}{}, inflight: map[string]chan struct{}{}}
}

// Begin claims key, waiting while another caller holds it. It reports done
// if key was delivered, and returns an error wrapping [ErrInProgress] and
// ctx's error if ctx ends while waiting.
func (d *MemoryDeduper) Begin(ctx context.Context, key string) (bool, error) {
	for {
		d.mu.Lock()
		if _, ok := d.done[key]; ok {
			d.mu.Unlock()
			return true, nil
		}
		wait, busy := d.inflight[key]
		if !busy {
			d.inflight[key] = make(chan struct{})
			d.mu.Unlock()
			return false, nil
		}
		d.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return false, fmt.Errorf("%w: %w", ErrInProgress, ctx.Err())
		}
	}
}

// Done marks key delivered and wakes the callers waiting for it.
func (d *MemoryDeduper) Done(_ context.Context, key string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.done[key] = struct{}{}
	d.release(key)
	return nil
}

// Release drops the claim on key and wakes the callers waiting for it; one
// of them claims it next.
func (d *MemoryDeduper) Release(_ context.Context, key string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.release(key)
	return nil
}

func (d *MemoryDeduper) release(key string) {
	if ch, ok := d.inflight[key]; ok {
		close(ch)
		delete(d.inflight, key)
	}
}

// Delivered reports whether key was marked delivered.
func (d *MemoryDeduper) Delivered(key string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.done[key]
	return ok
}
