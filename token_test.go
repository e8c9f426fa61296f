package midas

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type tokenFake struct {
	mu    sync.Mutex
	now   time.Time
	fail  atomic.Bool
	calls atomic.Int32
	gate  chan struct{} // when set, each answer waits for it
}

func (f *tokenFake) clock() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }
func (f *tokenFake) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

func newTokenFake(t *testing.T) (*StableTokenSource, *tokenFake) {
	f := &tokenFake{now: time.Unix(1_700_000_000, 0)}
	mt := httpmock.NewMockTransport()
	mt.RegisterNoResponder(func(*http.Request) (*http.Response, error) {
		f.calls.Add(1)
		if f.gate != nil {
			<-f.gate
		}
		if f.fail.Load() {
			return httpmock.NewStringResponse(http.StatusBadGateway, ""), nil
		}
		return httpmock.NewStringResponse(200, `{"access_token":"tok","expires_in":7200}`), nil
	})
	ts, err := NewStableTokenSource(testAppID, "secret", WithHTTPClient(&http.Client{Transport: mt}), WithClock(f.clock))
	require.NoError(t, err)
	return ts, f
}

func TestStableTokenServesCachedWhenEarlyRenewalFails(t *testing.T) {
	ts, f := newTokenFake(t)
	tok, err := ts.Token(context.Background())
	require.NoError(t, err)
	f.fail.Store(true)
	f.advance(2*time.Hour - 2*time.Minute) // inside the renewal window, still valid
	got, err := ts.Token(context.Background())
	require.NoError(t, err, "a valid cached token is served while the renewal runs")
	assert.Equal(t, tok, got)
	require.Eventually(t, func() bool {
		ts.mu.Lock()
		defer ts.mu.Unlock()
		return !ts.failedAt.IsZero()
	}, 10*time.Second, time.Millisecond, "the renewal ran, and failed")
	got, err = ts.Token(context.Background())
	require.NoError(t, err, "a failed early renewal keeps serving the cached token")
	assert.Equal(t, tok, got)
	assert.Equal(t, int32(2), f.calls.Load())

	f.advance(3 * time.Minute) // expired
	_, err = ts.Token(context.Background())
	var he *HTTPError
	require.ErrorAs(t, err, &he)
}

func TestStableTokenFailureIsShared(t *testing.T) {
	ts, f := newTokenFake(t)
	f.fail.Store(true)
	f.gate = make(chan struct{})
	const callers = 20
	errs := make(chan error, callers)
	for i := 0; i < callers; i++ {
		go func() { _, err := ts.Token(context.Background()); errs <- err }()
	}
	close(f.gate)
	for i := 0; i < callers; i++ {
		assert.Error(t, <-errs)
	}
	// The clock stands still: within the pause no caller refreshes again.
	assert.Equal(t, int32(1), f.calls.Load(), "one refresh, its failure shared")

	f.fail.Store(false)
	_, err := ts.Token(context.Background())
	assert.Error(t, err, "not retried sooner than the pause")
	assert.Equal(t, int32(1), f.calls.Load())
	f.advance(refreshPause)
	tok, err := ts.Token(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "tok", tok)
	assert.Equal(t, int32(2), f.calls.Load())
}

// A caller holding a valid token never waits for the early renewal, however
// slow stable_token is.
func TestStableTokenEarlyRenewalDoesNotBlock(t *testing.T) {
	ts, f := newTokenFake(t)
	tok, err := ts.Token(context.Background())
	require.NoError(t, err)
	f.gate = make(chan struct{})
	defer close(f.gate)
	f.advance(2*time.Hour - 2*time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got, err := ts.Token(ctx)
	require.NoError(t, err)
	assert.Equal(t, tok, got)
}

// A caller that gives up does not fail the refresh for the others.
func TestStableTokenRefreshOutlivesTheCallerThatStartedIt(t *testing.T) {
	ts, f := newTokenFake(t)
	f.gate = make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := ts.Token(ctx); done <- err }()
	for f.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
	close(f.gate)
	tok, err := ts.Token(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "tok", tok)
	assert.Equal(t, int32(1), f.calls.Load())
}
