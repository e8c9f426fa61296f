package midas

import (
	"context"
	"encoding/json"
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

// StableTokenSource doc: "within the renewal window before
// expiry, the cached token is served while a refresh runs". The caller that
// starts the early renewal is not served: it blocks on the refresh
// (its select) until the refresh ends or its ctx does. With a slow
// stable_token, a Pay made in the renewal window spends its whole deadline
// waiting, then fails as "not sent" although a valid token was cached all
// along.
func TestEarlyRenewalDoesNotBlockTheCallerWithAValidToken(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	release := make(chan struct{})
	defer close(release)
	var tokenCalls atomic.Int32
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.URL.Path == stableTokenPath {
			if tokenCalls.Add(1) > 1 {
				select { // the renewal hangs (WeChat slow), until the test ends
				case <-release:
				case <-r.Context().Done():
					return nil, r.Context().Err()
				}
			}
			return answerOf(`{"access_token":"cachedTokenCachedTokenCached","expires_in":7200}`), nil
		}
		return answerOf(okAnswer), nil
	})
	hc := &http.Client{Transport: rt}
	ts, err := NewStableTokenSource("wx1234567", "appSecretAppSecretAppSecret01", WithHTTPClient(hc), WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(Config{AppID: "wx1234567", OfferID: "12345678", AppKey: testAppKey, AccessToken: ts},
		WithHTTPClient(hc), WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(7200*time.Second - tokenEarly + time.Second) // renewal due; token valid for ~5 more minutes
	mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = c.Pay(ctx, PayRequest{OpenID: "o1", BillNo: "renew1", Amount: 1})
	took := time.Since(start)
	if err != nil {
		t.Errorf("Pay in the renewal window failed after %v although the cached token was valid: %v", took.Round(time.Millisecond), err)
	} else if took > 150*time.Millisecond {
		t.Errorf("Pay in the renewal window waited %v for the background renewal", took.Round(time.Millisecond))
	}
}

// StableTokenSource doc: forced refreshes "back off: 15
// minutes after the first, doubling to 24 hours", and a token
// rejected again and again must not force-refresh more than a few times a
// day". refresh starts over when the last force is 24 h old,
// but with the wait capped at 24 h the next force always comes exactly 24 h
// after the last, so the cap is never held: under rejection that never
// stops, the spacing goes 15m, 30m, ... 16h, 24h, then back to 15m, and
// every ~2.3 days 7 forced refreshes fall within 16 hours (each one ends
// every other server's token).
func TestForcedRefreshBackoffDoesNotStartOverUnderContinuousRejection(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	var forcedAt []time.Time
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		var body struct {
			Force bool `json:"force_refresh"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		if body.Force {
			forcedAt = append(forcedAt, clock())
		}
		return answerOf(`{"access_token":"sameTokenSameTokenSameToken","expires_in":7200}`), nil
	})
	ts, err := NewStableTokenSource("wx1234567", "appSecretAppSecretAppSecret01", WithHTTPClient(&http.Client{Transport: rt}), WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	for minute := 0; minute < 4*24*60; minute++ {
		tok, err := ts.Token(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		ts.InvalidateToken(tok) // WeChat keeps rejecting it
		mu.Lock()
		now = now.Add(time.Minute)
		mu.Unlock()
	}
	var gaps []time.Duration
	for i := 1; i < len(forcedAt); i++ {
		gaps = append(gaps, forcedAt[i].Sub(forcedAt[i-1]))
	}
	for i := 1; i < len(gaps); i++ {
		if gaps[i] < gaps[i-1] {
			t.Fatalf("%d forced refreshes in 4 days of continuous rejection; the wait fell from %v back to %v (gaps %v)",
				len(forcedAt), gaps[i-1], gaps[i], gaps)
		}
	}
}
