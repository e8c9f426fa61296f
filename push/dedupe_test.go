package push_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomidas/midas"
	"github.com/gomidas/midas/push"
	"github.com/stretchr/testify/require"
)

var _ push.Deduper = (*push.MemoryDeduper)(nil)

// Concurrent duplicate pushes of one OutTradeNo deliver once, and every one
// of them is answered with success. Run with -race -count=20.
func TestDeduperConcurrentDuplicates(t *testing.T) {
	var calls atomic.Int32
	release := make(chan struct{})
	d := push.NewMemoryDeduper()
	s := newSender(t, false, push.Handlers{ItemDelivered: func(ctx context.Context, _ *push.ItemDelivery) error {
		calls.Add(1)
		<-release // hold the claim while the duplicates arrive
		return nil
	}}, push.WithDeduper(d), push.WithHandlerTimeout(time.Minute))
	body := signed(push.EventGamePayGoodsDeliver, itemPayload("DUP-1", midas.Production), testAppKey)

	const n = 16
	var wg sync.WaitGroup
	codes := make([]int, n)
	answers := make([]string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			rec := s.post(body)
			codes[i], answers[i] = rec.Code, rec.Body.String()
		}(i)
	}
	// Let the holder finish once at least one delivery is in the handler.
	for calls.Load() == 0 {
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	require.Equal(t, int32(1), calls.Load())
	for i := range codes {
		require.Equal(t, http.StatusOK, codes[i], answers[i])
		require.JSONEq(t, `{"ErrCode":0,"ErrMsg":"Success"}`, answers[i])
	}
	require.True(t, d.Delivered(push.ItemKey(midas.Production, "DUP-1")))
	// A later repeat is answered like the first, without delivering.
	requireSuccess(t, s.post(body))
	require.Equal(t, int32(1), calls.Load())
}

// A failed delivery leaves the key undelivered: WeChat's retry delivers.
func TestDeduperFailureThenRetry(t *testing.T) {
	for _, mode := range []string{"error", "panic"} {
		t.Run(mode, func(t *testing.T) {
			var calls atomic.Int32
			d := push.NewMemoryDeduper()
			s := newSender(t, true, push.Handlers{ItemDelivered: func(context.Context, *push.ItemDelivery) error {
				if calls.Add(1) == 1 {
					if mode == "panic" {
						panic("first try")
					}
					return errors.New("store unavailable")
				}
				return nil
			}}, push.WithDeduper(d))
			body := signed(push.EventGamePayGoodsDeliver, itemPayload("RETRY-1", midas.Production), testAppKey)
			requireFailure(t, s.post(body), http.StatusInternalServerError)
			require.False(t, d.Delivered(push.ItemKey(midas.Production, "RETRY-1")))
			requireSuccess(t, s.post(body))
			require.True(t, d.Delivered(push.ItemKey(midas.Production, "RETRY-1")))
			requireSuccess(t, s.post(body))
			require.Equal(t, int32(2), calls.Load())
			// Other orders are independent.
			requireSuccess(t, s.post(signed(push.EventGamePayGoodsDeliver, itemPayload("RETRY-2", midas.Production), testAppKey)))
			require.Equal(t, int32(3), calls.Load())
		})
	}
}

// Mocks and rejected pushes never touch the Deduper.
func TestDeduperSkipsMocksAndRejections(t *testing.T) {
	d := &recordingDeduper{}
	s := newSender(t, false, push.Handlers{ItemDelivered: func(context.Context, *push.ItemDelivery) error { return nil }}, push.WithDeduper(d))
	p := itemPayload("M-1", midas.Production)
	ev := push.EventGamePayGoodsDeliver
	requireSuccess(t, s.post(envelope(ev, p, midas.PaySig(ev, []byte(p), testAppKey), true)))
	requireFailure(t, s.post(envelope(ev, p, "ff", false)), http.StatusForbidden)
	require.Empty(t, d.log)
	requireSuccess(t, s.post(signed(ev, p, testAppKey)))
	require.Equal(t, []string{"begin item:0:M-1", "done item:0:M-1"}, d.log)
}

// A Deduper error is a failure answer; the handler is not called.
func TestDeduperError(t *testing.T) {
	var calls atomic.Int32
	d := &recordingDeduper{beginErr: errors.New("redis down")}
	s := newSender(t, false, push.Handlers{ItemDelivered: func(context.Context, *push.ItemDelivery) error {
		calls.Add(1)
		return nil
	}}, push.WithDeduper(d))
	requireFailure(t, s.post(signed(push.EventGamePayGoodsDeliver, itemPayload("E-1", midas.Production), testAppKey)), http.StatusInternalServerError)
	require.Zero(t, calls.Load())
}

func TestMemoryDeduperWaitEndsWithContext(t *testing.T) {
	d := push.NewMemoryDeduper()
	ctx := context.Background()
	done, err := d.Begin(ctx, "k")
	require.NoError(t, err)
	require.False(t, done)

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = d.Begin(cctx, "k")
	require.ErrorIs(t, err, push.ErrInProgress)
	require.ErrorIs(t, err, context.Canceled)

	// Released: the next caller claims it; done: every caller sees done.
	require.NoError(t, d.Release(ctx, "k"))
	done, err = d.Begin(ctx, "k")
	require.NoError(t, err)
	require.False(t, done)
	got := make(chan bool)
	go func() {
		done, _ := d.Begin(ctx, "k") // waits for the claim
		got <- done
	}()
	require.NoError(t, d.Done(ctx, "k"))
	require.True(t, <-got)
}

type recordingDeduper struct {
	mu       sync.Mutex
	log      []string
	beginErr error
}

func (r *recordingDeduper) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log = append(r.log, s)
}

func (r *recordingDeduper) Begin(_ context.Context, key string) (bool, error) {
	r.add("begin " + key)
	return false, r.beginErr
}

func (r *recordingDeduper) Done(_ context.Context, key string) error {
	r.add("done " + key)
	return nil
}

func (r *recordingDeduper) Release(_ context.Context, key string) error {
	r.add("release " + key)
	return nil
}

// testClock is a settable clock for the Deduper's leases and TTLs.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock { return &testClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// beginResult is what Begin answered, for compact assertions.
func beginResult(t *testing.T, d push.Deduper, ctx context.Context, key string) string {
	t.Helper()
	done, err := d.Begin(ctx, key)
	switch {
	case errors.Is(err, push.ErrInProgress):
		return "in progress"
	case err != nil:
		t.Fatalf("Begin(%q): %v", key, err)
	case done:
		return "done"
	}
	return "claimed"
}

// cancelled is a context that has already ended: Begin on a held claim
// returns at once instead of waiting.
func cancelled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// With both AppKeys and a Deduper, a sandbox order does not make the
// production push of the same OutTradeNo answer success undelivered: keys
// are scoped by Env. Item and coin orders with one OutTradeNo are apart too,
// and refunds are keyed on their RefundId.
func TestDeduperKeysAreScoped(t *testing.T) {
	var c counters
	d := push.NewMemoryDeduper()
	s := newSender(t, false, c.handlers(), push.WithDeduper(d))
	requireSuccess(t, s.post(signed(push.EventGamePayGoodsDeliver, itemPayload("X", midas.Sandbox), testSandboxKey)))
	requireSuccess(t, s.post(signed(push.EventGamePayGoodsDeliver, itemPayload("X", midas.Production), testAppKey)))
	requireSuccess(t, s.post(signed(push.EventGamePayGoodsDeliver, itemPayload("X", midas.Production), testAppKey)))
	require.Len(t, c.items, 2, "the production order X was not delivered")
	require.Equal(t, midas.Sandbox, c.items[0].Env)
	require.Equal(t, midas.Production, c.items[1].Env)
	require.True(t, d.Delivered("item:0:X"))
	require.True(t, d.Delivered("item:1:X"))

	coin := `{"OpenId":"o1","OutTradeNo":"X","Env":0,"CoinInfo":{"ZoneId":"1","ActualPrice":100,"BuyQuantity":10,"OrigPrice":100}}`
	requireSuccess(t, s.post(signed(push.EventCoinDeliverCompleted, coin, testAppKey)))
	requireSuccess(t, s.post(signed(push.EventCoinDeliverCompleted, coin, testAppKey)))
	require.Len(t, c.coins, 1)
	require.True(t, d.Delivered("coin:0:X"))

	refund := func(id string) string {
		return `{"RefundId":"` + id + `","RefundAmount":100,"RefundSource":3,"Env":0,"OutTradeNo":"X"}`
	}
	requireSuccess(t, s.post(signed(push.EventPayRefundSucc, refund("R1"), testAppKey)))
	requireSuccess(t, s.post(signed(push.EventPayRefundSucc, refund("R1"), testAppKey)))
	requireSuccess(t, s.post(signed(push.EventPayRefundSucc, refund("R2"), testAppKey))) // a second partial refund
	require.Len(t, c.refund, 2)
	require.True(t, d.Delivered("refund:0:R1"))
	// Without a RefundId a refund cannot be told from another: not deduplicated.
	requireSuccess(t, s.post(signed(push.EventPayRefundSucc, refund(""), testAppKey)))
	requireSuccess(t, s.post(signed(push.EventPayRefundSucc, refund(""), testAppKey)))
	require.Len(t, c.refund, 4)
	require.Len(t, c.items, 2)
}

func TestDedupKeyFormat(t *testing.T) {
	require.Equal(t, "item:0:GO123", push.ItemKey(midas.Production, "GO123"))
	require.Equal(t, "item:1:GO123", push.ItemKey(midas.Sandbox, "GO123"))
	require.Equal(t, "coin:0:_C1", push.CoinKey(midas.Production, "_C1"))
	require.Equal(t, "refund:1:R-9", push.RefundKey(midas.Sandbox, "R-9"))
	id64 := strings.Repeat("a", 64)
	require.Equal(t, "item:0:"+id64, push.ItemKey(midas.Production, id64))
	// Longer ids, and ids that could pose as a hash, are hashed.
	long := push.RefundKey(midas.Sandbox, id64+"b")
	sum := sha256.Sum256([]byte(id64 + "b"))
	require.Equal(t, "refund:1:~"+hex.EncodeToString(sum[:]), long)
	require.Len(t, long, 74) // the longest key the handler builds
	require.LessOrEqual(t, len(long), push.MaxKeyLen)
	require.NotEqual(t, push.ItemKey(midas.Production, "~x"), "item:0:~x")
	require.NotEqual(t, push.ItemKey(midas.Production, id64+"b"), push.ItemKey(midas.Production, id64+"c"))
}

// Two handler instances sharing one Deduper deliver every order once,
// whichever instance each copy of its push reaches, concurrently.
func TestTwoHandlersShareOneDeduper(t *testing.T) {
	var c counters
	d := push.NewMemoryDeduper()
	senders := []sender{
		newSender(t, false, c.handlers(), push.WithDeduper(d)),
		newSender(t, true, c.handlers(), push.WithDeduper(d)),
	}
	const orders = 40
	var wg sync.WaitGroup
	failures := make(chan string, orders*4)
	for i := 0; i < orders; i++ {
		body := signed(push.EventGamePayGoodsDeliver, itemPayload(fmt.Sprintf("SHARED-%d", i), midas.Production), testAppKey)
		for copy := 0; copy < 1+i%4; copy++ {
			wg.Add(1)
			go func(s sender) {
				defer wg.Done()
				if rec := s.post(body); rec.Code != http.StatusOK {
					failures <- rec.Body.String()
				}
			}(senders[(i+copy)%2])
		}
	}
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Errorf("a copy was answered %s", f)
	}
	seen := map[string]int{}
	for _, it := range c.items {
		seen[it.OutTradeNo]++
	}
	require.Len(t, seen, orders)
	for no, n := range seen {
		require.Equal(t, 1, n, no)
	}
}

// A claim is a lease: a hung holder blocks its key for one lease, then the
// next Begin takes it over.
func TestMemoryDeduperLease(t *testing.T) {
	clk := newTestClock()
	d, err := push.NewMemoryDeduperWith(push.WithClock(clk.Now), push.WithLease(time.Minute))
	require.NoError(t, err)
	ctx := context.Background()
	require.Equal(t, "claimed", beginResult(t, d, ctx, "k"))
	clk.Advance(time.Minute - time.Nanosecond)
	require.Equal(t, "in progress", beginResult(t, d, cancelled(), "k"))
	clk.Advance(time.Nanosecond)
	require.Equal(t, "claimed", beginResult(t, d, cancelled(), "k"))
	require.Equal(t, "in progress", beginResult(t, d, cancelled(), "k"))
	require.NoError(t, d.Done(ctx, "k"))
	require.Equal(t, "done", beginResult(t, d, ctx, "k"))
}

// A caller waiting on a claim whose holder hangs gets it when the lease ends.
func TestMemoryDeduperWaiterTakesExpiredLease(t *testing.T) {
	d, err := push.NewMemoryDeduperWith(push.WithLease(20 * time.Millisecond))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.Equal(t, "claimed", beginResult(t, d, ctx, "k"))
	require.Equal(t, "claimed", beginResult(t, d, ctx, "k")) // waited for the lease, not for ctx
	require.NoError(t, ctx.Err())
}

// A done key is remembered for the TTL, then forgotten; expired keys are
// purged, so memory holds about one TTL of keys.
func TestMemoryDeduperTTLAndPurge(t *testing.T) {
	clk := newTestClock()
	d, err := push.NewMemoryDeduperWith(push.WithClock(clk.Now))
	require.NoError(t, err)
	ctx := context.Background()
	for i := 0; i < 1000; i++ {
		key := fmt.Sprint("old-", i)
		require.Equal(t, "claimed", beginResult(t, d, ctx, key))
		require.NoError(t, d.Done(ctx, key))
	}
	require.Equal(t, "claimed", beginResult(t, d, ctx, "hung")) // never done nor released
	require.Equal(t, 1001, d.Len())

	clk.Advance(push.DefaultDoneTTL - time.Nanosecond)
	require.Equal(t, "done", beginResult(t, d, ctx, "old-1"))
	require.True(t, d.Delivered("old-1"))
	clk.Advance(time.Nanosecond)
	require.False(t, d.Delivered("old-1"))
	require.Equal(t, "claimed", beginResult(t, d, ctx, "old-1")) // forgotten: a new delivery
	// Begin sweeps once a minute: then only the unexpired keys are left.
	clk.Advance(time.Minute)
	require.Equal(t, "claimed", beginResult(t, d, ctx, "new"))
	require.Equal(t, 1, d.Len(), "expired keys not purged")
	// Purge sweeps at once.
	clk.Advance(push.DefaultLease)
	d.Purge()
	require.Zero(t, d.Len())
}

func TestDeduperOptionErrors(t *testing.T) {
	for name, opt := range map[string]push.DeduperOption{
		"zero lease":   push.WithLease(0),
		"short TTL":    push.WithDoneTTL(time.Hour),
		"nil clock":    push.WithClock(nil),
		"lease vs TTL": push.WithLease(push.DefaultDoneTTL),
		"table":        push.WithTable("dedup"),
		"bad table":    push.WithTable("a;drop"),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := push.NewMemoryDeduperWith(opt)
			require.Error(t, err)
		})
	}
	_, err := push.NewMemoryDeduperWith(push.WithLease(time.Second), push.WithDoneTTL(push.MinDoneTTL), nil)
	require.NoError(t, err)
	_, err = push.NewSQLDeduper(nil, push.SQLite)
	require.Error(t, err)
}

// Through the handler: a delivery that hangs past its lease and then fails
// must not let a third push deliver while the second (which took the key
// over) is still delivering. Every push here is one paid order.
func TestDeduperLateFailureDoesNotDeliverTwice(t *testing.T) {
	clk := newTestClock()
	d, err := push.NewMemoryDeduperWith(push.WithClock(clk.Now), push.WithLease(time.Minute))
	require.NoError(t, err)
	var entered, grants atomic.Int32
	first, second := make(chan struct{}), make(chan struct{})
	deliver := func(ctx context.Context, _ *push.ItemDelivery) error {
		switch entered.Add(1) {
		case 1:
			<-first
			return errors.New("store timed out") // failed late: WeChat retries
		case 2:
			<-second
		}
		grants.Add(1)
		return nil
	}
	hs := push.Handlers{ItemDelivered: deliver}
	slow := newSender(t, false, hs, push.WithDeduper(d), push.WithHandlerTimeout(time.Minute))
	quick := newSender(t, false, hs, push.WithDeduper(d), push.WithHandlerTimeout(200*time.Millisecond))
	body := signed(push.EventGamePayGoodsDeliver, itemPayload("LATE-1", midas.Production), testAppKey)

	answered1, answered2 := make(chan int), make(chan int)
	go func() { answered1 <- slow.post(body).Code }()
	for entered.Load() < 1 {
		runtime.Gosched()
	}
	clk.Advance(time.Minute) // the first delivery overran its lease
	go func() { answered2 <- slow.post(body).Code }()
	for entered.Load() < 2 {
		runtime.Gosched()
	}
	close(first)
	require.Equal(t, http.StatusInternalServerError, <-answered1)
	quick.post(body) // a retry while the second delivery still runs
	close(second)
	require.Equal(t, http.StatusOK, <-answered2)
	require.Equal(t, int32(1), grants.Load(), "one paid order granted more than once")
}

// A claim from BeginClaim is released only while it is held: after its
// lease ended and another caller took the key over, its Release leaves the
// new claim alone, and its Done still marks the key done (its handler
// succeeded). Release by key, the plain Deduper call, drops any claim.
func TestMemoryDeduperClaimOutlivesItsLease(t *testing.T) {
	clk := newTestClock()
	d, err := push.NewMemoryDeduperWith(push.WithClock(clk.Now), push.WithLease(time.Minute))
	require.NoError(t, err)
	ctx := context.Background()

	late, done, err := d.BeginClaim(ctx, "k")
	require.NoError(t, err)
	require.False(t, done)
	clk.Advance(time.Minute)
	took, done, err := d.BeginClaim(ctx, "k")
	require.NoError(t, err)
	require.False(t, done)
	require.NoError(t, late.Release(ctx))
	require.Equal(t, "in progress", beginResult(t, d, cancelled(), "k"))
	require.NoError(t, took.Release(ctx))
	require.Equal(t, "claimed", beginResult(t, d, cancelled(), "k"))
	require.NoError(t, d.Release(ctx, "k"))

	late, _, err = d.BeginClaim(ctx, "k")
	require.NoError(t, err)
	clk.Advance(time.Minute)
	took, _, err = d.BeginClaim(ctx, "k")
	require.NoError(t, err)
	require.NoError(t, late.Done(ctx))
	require.Equal(t, "done", beginResult(t, d, cancelled(), "k"))
	require.NoError(t, took.Release(ctx)) // a done key stays done
	require.True(t, d.Delivered("k"))

	claim, done, err := d.BeginClaim(ctx, "k")
	require.NoError(t, err)
	require.True(t, done)
	require.Nil(t, claim)
}

// A ClaimDeduper is used through its claims: the handler never calls Done
// or Release by key on it, and a BeginClaim that returns no claim is a
// failure answered for a retry, not a handler call.
func TestHandlerUsesClaims(t *testing.T) {
	var calls atomic.Int32
	hs := push.Handlers{ItemDelivered: func(_ context.Context, d *push.ItemDelivery) error {
		calls.Add(1)
		if d.OutTradeNo == "bad" {
			return errors.New("store down")
		}
		return nil
	}}
	r := &claimRecorder{}
	s := newSender(t, false, hs, push.WithDeduper(r))
	item := func(no string) []byte {
		return signed(push.EventGamePayGoodsDeliver, itemPayload(no, midas.Production), testAppKey)
	}
	requireSuccess(t, s.post(item("ok")))
	requireFailure(t, s.post(item("bad")), http.StatusInternalServerError)
	require.Equal(t, []string{"beginclaim item:0:ok", "claim done item:0:ok",
		"beginclaim item:0:bad", "claim release item:0:bad"}, r.log)

	r.noClaim = true
	requireFailure(t, s.post(item("none")), http.StatusInternalServerError)
	require.Equal(t, int32(2), calls.Load(), "handler called without a claim")
}

// claimRecorder is a ClaimDeduper that records its calls; a Done or Release
// by key would show up in the log too.
type claimRecorder struct {
	recordingDeduper
	noClaim bool
}

type recordedClaim struct {
	r   *claimRecorder
	key string
}

func (r *claimRecorder) BeginClaim(_ context.Context, key string) (push.Claim, bool, error) {
	r.add("beginclaim " + key)
	if r.noClaim {
		return nil, false, nil
	}
	return recordedClaim{r, key}, false, nil
}

func (c recordedClaim) Done(context.Context) error {
	c.r.add("claim done " + c.key)
	return nil
}

func (c recordedClaim) Release(context.Context) error {
	c.r.add("claim release " + c.key)
	return nil
}
