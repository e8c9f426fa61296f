package push

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gomidas/midas"
)

// ErrInProgress reports that another delivery of the same key holds the
// claim. The push is answered with a failure, so WeChat retries it later.
var ErrInProgress = errors.New("push: a delivery of this key is in progress")

// Deduper makes the handlers of pushes exactly-once per key, across retries,
// concurrent duplicate pushes and (with a shared store such as [SQLDeduper])
// several server instances. For each verified, non-mock push the handler
// does:
//
//	key := ItemKey(d.Env, d.OutTradeNo) // or CoinKey, RefundKey
//	done, err := dd.Begin(ctx, key)
//	// err != nil: answer failure (WeChat retries); handler not called
//	// done:       answer success; handler not called (already handled)
//	// otherwise the claim is held: call the handler, then
//	//   nil   -> dd.Done(ctx, key):    the key is handled for good
//	//   error -> dd.Release(ctx, key): claim dropped, a retry handles it
//
// Keys are built by [ItemKey], [CoinKey] and [RefundKey]: the event kind, the
// Env and the event's own id, so a sandbox order and a production order with
// the same OutTradeNo, or a coin order and an item order, never share a key.
// A key is at most [MaxKeyLen] bytes.
//
// Implementations must be safe for concurrent use, and Begin must be atomic:
// at most one caller holds the claim of a key at a time, and no caller gets
// a claim once Done was called for the key (until the done key expires).
// When the claim is held elsewhere, Begin may wait for it to be done or
// released (until ctx ends) or return [ErrInProgress] at once. A claim should
// be a lease that expires (longer than the handler timeout), or a process
// that dies while holding it blocks the key for good; a done key should be
// kept longer than WeChat retries a push (about 24 h).
//
// Done is called after the handler returned nil; if the process dies in
// between, a retry runs the handler again. Where that matters, also make the
// handler itself idempotent (see [ItemDelivery]). Done and Release get a
// context of their own, up to 5 s even when the handler used up its time. If
// Done fails the push is still answered with success (the handler
// succeeded) and the error is logged; the key stays claimed until its lease
// ends.
//
// A handler can outlive its lease; another delivery of its key then takes
// the key over, and the first handler's late Release must not drop that new
// claim, or a retry claims the key and runs the handler while the second
// delivery still runs, granting one paid order twice. Release by key cannot
// tell the two claims apart (in one process, not even by instance), so a
// store should also implement [ClaimDeduper]: the handler then calls
// BeginClaim and marks done or releases the [Claim] it returned.
// [MemoryDeduper] and [SQLDeduper] do; called by key, their Release drops
// the key's latest claim (SQLDeduper: this instance's). A Deduper that wraps
// another should implement ClaimDeduper when the inner one does, or the
// handler falls back to Begin, Done and Release by key.
type Deduper interface {
	// Begin claims key. It reports done when the key was already handled.
	Begin(ctx context.Context, key string) (done bool, err error)
	// Done marks key handled for good and drops the claim.
	Done(ctx context.Context, key string) error
	// Release drops the claim on key without marking it handled.
	Release(ctx context.Context, key string) error
}

// ClaimDeduper is a [Deduper] whose Begin returns the claim it took, so that
// Done and Release act on that claim and not on whatever claim the key has
// by then. The handler uses BeginClaim when its Deduper implements it.
type ClaimDeduper interface {
	Deduper
	// BeginClaim is Begin that returns the claim taken: non-nil exactly
	// when done is false and err is nil.
	BeginClaim(ctx context.Context, key string) (claim Claim, done bool, err error)
}

// Claim is one caller's claim on a key, from [ClaimDeduper.BeginClaim].
type Claim interface {
	// Done marks the key handled for good, even when this claim's lease
	// ended and another caller took the key over: the handler succeeded,
	// so no later delivery may run it again.
	Done(ctx context.Context) error
	// Release drops this claim without marking the key handled. It does
	// nothing when the claim is no longer held (its lease ended and another
	// caller took the key over, or the key is done).
	Release(ctx context.Context) error
}

// MaxKeyLen is the longest key a [Deduper] is given by the handler, and the
// longest [SQLDeduper] accepts. Keys built by [ItemKey], [CoinKey] and
// [RefundKey] are at most 74 bytes.
const MaxKeyLen = 128

// maxVerbatimID is the longest id kept as is in a key; a longer one (or one
// starting with "~") is replaced by "~" and its SHA-256 in hex, so keys stay
// short and an id can never look like another id's hash.
const maxVerbatimID = 64

// ItemKey is the Deduper key of an item delivery:
//
//	"item:" Env ":" id
//
// where Env is the decimal [midas.Env] (0 production, 1 sandbox) and id is
// the OutTradeNo as is, or "~" followed by the lowercase hex SHA-256 of the
// OutTradeNo when it is longer than 64 bytes or starts with "~". WeChat and
// midastest scope OutTradeNo per environment, so the Env is part of the key.
// Example: ItemKey(midas.Sandbox, "GO123") is "item:1:GO123".
func ItemKey(env midas.Env, outTradeNo string) string { return dedupKey("item", env, outTradeNo) }

// CoinKey is the Deduper key of a coin top-up event, "coin:" Env ":" id, with
// the top-up's OutTradeNo as id, encoded as in [ItemKey].
func CoinKey(env midas.Env, outTradeNo string) string { return dedupKey("coin", env, outTradeNo) }

// RefundKey is the Deduper key of a refund event, "refund:" Env ":" id, with
// the refund's RefundId as id, encoded as in [ItemKey]. Each refund of an
// order has its own RefundId, so two partial refunds are two keys.
func RefundKey(env midas.Env, refundID string) string { return dedupKey("refund", env, refundID) }

func dedupKey(kind string, env midas.Env, id string) string {
	if len(id) > maxVerbatimID || strings.HasPrefix(id, "~") {
		sum := sha256.Sum256([]byte(id))
		id = "~" + hex.EncodeToString(sum[:])
	}
	return kind + ":" + strconv.Itoa(int(env)) + ":" + id
}

// Defaults and bounds of the Deduper options.
const (
	// DefaultLease is how long a claim is held before another Begin may take
	// it over: far longer than a handler runs (see [WithHandlerTimeout]),
	// short enough that a key whose holder died is delivered by one of
	// WeChat's next retries.
	DefaultLease = 30 * time.Second
	// DefaultDoneTTL is how long a done key is remembered: twice WeChat's
	// retry window of about 24 h.
	DefaultDoneTTL = 48 * time.Hour
	// MinDoneTTL is the shortest done TTL accepted: WeChat's retry window.
	// A done key forgotten sooner would let a retry deliver again.
	MinDoneTTL = 24 * time.Hour
)

// DeduperOption configures [NewMemoryDeduperWith] and [NewSQLDeduper].
type DeduperOption func(*dedupSettings)

type dedupSettings struct {
	lease time.Duration
	ttl   time.Duration
	now   func() time.Time
	table string
	err   error
}

func (s *dedupSettings) fail(err error) {
	if s.err == nil {
		s.err = err
	}
}

// WithLease sets how long a claim is held before it expires and another
// Begin may take the key: a handler still running after its lease may see a
// second delivery of its key start. d must be positive and shorter than the
// done TTL; the default is [DefaultLease]. Keep it well above the handler
// timeout. [SQLDeduper] rounds a lease's end up to a whole millisecond, so
// its leases last up to 1 ms longer, never shorter.
func WithLease(d time.Duration) DeduperOption {
	return func(s *dedupSettings) {
		if d <= 0 {
			s.fail(errors.New("push: WithLease needs a positive duration"))
			return
		}
		s.lease = d
	}
}

// WithDoneTTL sets how long a done key is remembered; after that a repeat of
// the push runs its handler again. d must be at least [MinDoneTTL]; the
// default is [DefaultDoneTTL].
func WithDoneTTL(d time.Duration) DeduperOption {
	return func(s *dedupSettings) {
		if d < MinDoneTTL {
			s.fail(fmt.Errorf("push: WithDoneTTL needs at least %v, WeChat's retry window", MinDoneTTL))
			return
		}
		s.ttl = d
	}
}

// WithClock sets the clock leases and TTLs are measured with; the default is
// time.Now. Tests use it to move time without sleeping.
func WithClock(now func() time.Time) DeduperOption {
	return func(s *dedupSettings) {
		if now == nil {
			s.fail(errors.New("push: WithClock needs a function"))
			return
		}
		s.now = now
	}
}

// dedupOptions applies opts over the defaults.
func dedupOptions(opts []DeduperOption) dedupSettings {
	s := dedupSettings{lease: DefaultLease, ttl: DefaultDoneTTL, now: time.Now, table: DefaultTable}
	for _, o := range opts {
		if o != nil {
			o(&s)
		}
	}
	if s.err == nil && s.lease >= s.ttl {
		s.err = errors.New("push: the lease must be shorter than the done TTL")
	}
	return s
}

// memoryPurgeEvery is how often Begin sweeps expired keys out of a
// MemoryDeduper, which bounds its memory to the keys of one TTL (plus this).
const memoryPurgeEvery = time.Minute

// MemoryDeduper is a [Deduper] in process memory: for tests and single-process
// servers. It is not for production with several instances (each has its own
// memory, so two instances can both deliver; use [SQLDeduper]) and forgets
// everything on restart.
//
// A claim is a lease: after [WithLease] another Begin takes the key over,
// so a hung handler blocks its key for one lease at most. A done key is
// remembered for [WithDoneTTL] (default [DefaultDoneTTL]), then forgotten;
// Begin sweeps out expired keys once a minute, so memory holds only the keys
// of about one TTL. Begin waits while another delivery of the key is in
// progress.
type MemoryDeduper struct {
	mu        sync.Mutex
	keys      map[string]*memEntry
	lease     time.Duration
	ttl       time.Duration
	now       func() time.Time
	nextPurge time.Time
	claims    uint64 // numbers the claims, so that a claim is told from a later one on its key
}

// memEntry is a claim (wake set) or a done key (wake nil) until expires.
type memEntry struct {
	done    bool
	claim   uint64 // the claim's number; 0 for a done key
	expires time.Time
	wake    chan struct{} // closed when the claim ends
}

var (
	_ ClaimDeduper = (*MemoryDeduper)(nil)
	_ ClaimDeduper = (*SQLDeduper)(nil)
)

// NewMemoryDeduper returns an empty MemoryDeduper with the default lease
// and done TTL.
func NewMemoryDeduper() *MemoryDeduper {
	d, _ := NewMemoryDeduperWith() // the defaults are valid
	return d
}

// NewMemoryDeduperWith returns an empty MemoryDeduper configured by
// [WithLease], [WithDoneTTL] and [WithClock]; it fails on an invalid option
// or on [WithTable], which is for [SQLDeduper] only.
func NewMemoryDeduperWith(opts ...DeduperOption) (*MemoryDeduper, error) {
	s := dedupOptions(opts)
	if s.err == nil && s.table != DefaultTable {
		s.err = errors.New("push: WithTable applies to SQLDeduper only")
	}
	if s.err != nil {
		return nil, s.err
	}
	return &MemoryDeduper{keys: map[string]*memEntry{}, lease: s.lease, ttl: s.ttl, now: s.now}, nil
}

// Begin claims key, waiting while another caller holds an unexpired claim.
// It reports done if key was marked done within the TTL, and returns an error
// wrapping [ErrInProgress] and ctx's error if ctx ends while waiting.
func (d *MemoryDeduper) Begin(ctx context.Context, key string) (bool, error) {
	_, done, err := d.begin(ctx, key)
	return done, err
}

// BeginClaim is Begin returning the claim taken, whose Release leaves alone
// a claim another caller took over after this one's lease ended.
func (d *MemoryDeduper) BeginClaim(ctx context.Context, key string) (Claim, bool, error) {
	n, done, err := d.begin(ctx, key)
	if done || err != nil {
		return nil, done, err
	}
	return memClaim{d, key, n}, false, nil
}

// begin is Begin returning the number of the claim taken.
func (d *MemoryDeduper) begin(ctx context.Context, key string) (uint64, bool, error) {
	for {
		d.mu.Lock()
		now := d.now()
		if !now.Before(d.nextPurge) {
			d.purge(now)
			d.nextPurge = now.Add(memoryPurgeEvery)
		}
		e := d.keys[key]
		if e == nil || !now.Before(e.expires) {
			if e != nil && e.wake != nil {
				close(e.wake) // an expired lease: its waiters look again
			}
			d.claims++
			n := d.claims
			d.keys[key] = &memEntry{claim: n, expires: now.Add(d.lease), wake: make(chan struct{})}
			d.mu.Unlock()
			return n, false, nil
		}
		if e.done {
			d.mu.Unlock()
			return 0, true, nil
		}
		wake, left := e.wake, e.expires.Sub(now)
		d.mu.Unlock()
		// Wake up when the claim ends, or when its lease should be over (by
		// the real clock; the loop checks again by d.now).
		timer := time.NewTimer(left)
		select {
		case <-wake:
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return 0, false, fmt.Errorf("%w: %w", ErrInProgress, ctx.Err())
		}
		timer.Stop()
	}
}

// Done marks key done for the TTL and wakes the callers waiting for it.
func (d *MemoryDeduper) Done(_ context.Context, key string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e := d.keys[key]; e != nil && e.wake != nil {
		close(e.wake)
	}
	d.keys[key] = &memEntry{done: true, expires: d.now().Add(d.ttl)}
	return nil
}

// Release drops the claim on key, whoever holds it, and wakes the callers
// waiting for it; one of them claims it next. A done key stays done. Called
// after the caller's lease ended it would drop the claim of the caller that
// took the key over: the handler uses [MemoryDeduper.BeginClaim] instead.
func (d *MemoryDeduper) Release(_ context.Context, key string) error {
	d.release(key, 0)
	return nil
}

// release drops the claim on key if it is claim n, or any claim if n is 0.
func (d *MemoryDeduper) release(key string, n uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e := d.keys[key]; e != nil && !e.done && (n == 0 || e.claim == n) {
		close(e.wake)
		delete(d.keys, key)
	}
}

// memClaim is claim n of a MemoryDeduper on key.
type memClaim struct {
	d   *MemoryDeduper
	key string
	n   uint64
}

func (c memClaim) Done(ctx context.Context) error { return c.d.Done(ctx, c.key) }

func (c memClaim) Release(context.Context) error {
	c.d.release(c.key, c.n)
	return nil
}

// Purge drops every expired claim and done key now. Begin already does so
// once a minute; Purge is for callers that want it at another time.
func (d *MemoryDeduper) Purge() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.purge(d.now())
}

func (d *MemoryDeduper) purge(now time.Time) {
	for k, e := range d.keys {
		if !now.Before(e.expires) {
			if e.wake != nil {
				close(e.wake)
			}
			delete(d.keys, k)
		}
	}
}

// Len is the number of keys held, claimed or done, including expired keys
// not yet purged.
func (d *MemoryDeduper) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.keys)
}

// Delivered reports whether key is marked done and not yet expired.
func (d *MemoryDeduper) Delivered(key string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.keys[key]
	return e != nil && e.done && d.now().Before(e.expires)
}
