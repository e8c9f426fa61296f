package push_test

import (
	"context"
	"errors"
	"net/http"
	"runtime"
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
