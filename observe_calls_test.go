package midas_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gomidas/midas"
	"github.com/gomidas/midas/midastest"
	"github.com/stretchr/testify/require"
)

// recorder is an Observer that keeps everything it is told.
type recorder struct {
	mu       sync.Mutex
	calls    []*recordedCall
	refreshs []midas.TokenRefresh
}

type recordedCall struct {
	info     midas.CallInfo
	attempts []midas.Attempt
	end      *midas.CallEnd
}

type ctxKey struct{}

func (r *recorder) StartCall(ctx context.Context, info midas.CallInfo) (context.Context, midas.CallObserver) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := &recordedCall{info: info}
	r.calls = append(r.calls, c)
	return context.WithValue(ctx, ctxKey{}, c), &callRecorder{r, c}
}

func (r *recorder) TokenRefreshed(_ context.Context, t midas.TokenRefresh) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refreshs = append(r.refreshs, t)
}

type callRecorder struct {
	r *recorder
	c *recordedCall
}

func (c *callRecorder) Attempt(a midas.Attempt) {
	c.r.mu.Lock()
	defer c.r.mu.Unlock()
	if c.c.end != nil {
		panic("attempt after the end")
	}
	c.c.attempts = append(c.c.attempts, a)
}

func (c *callRecorder) End(e midas.CallEnd) {
	c.r.mu.Lock()
	defer c.r.mu.Unlock()
	if c.c.end != nil {
		panic("two ends")
	}
	c.c.end = &e
}

func (r *recorder) last(t *testing.T) *recordedCall {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	require.NotEmpty(t, r.calls)
	c := r.calls[len(r.calls)-1]
	require.NotNil(t, c.end, "the call ended")
	return c
}

// An Observer sees each call start and end once, every attempt in between
// with its status, errcode, retry reason and wait, the class the caller's
// error has, and each stable_token fetch; none of it holds a secret or the
// openid.
func TestObserverSeesCallsAttemptsAndRefreshes(t *testing.T) {
	var rec recorder
	cfg := fakeCfg()
	cfg.AccessTokens = nil
	fake := midastest.NewServer(cfg)
	defer fake.Close()
	tokens, err := midas.NewStableTokenSource(appID, secret, midas.WithBaseURL(fake.URL), midas.WithObserver(&rec))
	require.NoError(t, err)
	c, err := midas.NewClient(midas.Config{AppID: appID, OfferID: offerID, AppKey: sbKey, AccessToken: tokens, Version: midas.V2, Env: midas.Sandbox},
		append(fake.ClientOptions(), midas.WithObserver(&rec), midas.WithRetryBackoff(time.Microsecond, time.Millisecond), midas.WithMaxRetries(1))...)
	require.NoError(t, err)
	fake.TopUp(midas.Sandbox, alice, "", 100)
	pay := func(billNo string, amount int64) midas.PayRequest {
		return midas.PayRequest{OpenID: alice, SessionKey: aliceKey, BillNo: billNo, Amount: amount}
	}

	// -1, then success.
	fake.Inject(midastest.Fault{API: midas.APIPay, Errcode: -1})
	_, err = c.Pay(bg, pay("OBS-1", 5))
	require.NoError(t, err)
	call := rec.last(t)
	require.Equal(t, midas.CallInfo{API: midas.APIPay, Version: midas.V2, Env: midas.Sandbox, BillNo: "OBS-1"}, call.info)
	require.Len(t, call.attempts, 2)
	a1, a2 := call.attempts[0], call.attempts[1]
	require.Equal(t, 1, a1.Number)
	require.Equal(t, 200, a1.StatusCode)
	require.Equal(t, -1, a1.ErrCode)
	require.Equal(t, midas.RetrySystemBusy, a1.Retry)
	require.Positive(t, a1.Wait)
	require.Error(t, a1.Err)
	require.Equal(t, midas.Attempt{Number: 2, StatusCode: 200}, withoutDuration(a2))
	require.Equal(t, midas.ClassSuccess, call.end.Class)
	require.Equal(t, 2, call.end.Attempts)
	require.Positive(t, call.end.Duration)
	require.Len(t, rec.refreshs, 1, "the first call fetched a token")
	require.NoError(t, rec.refreshs[0].Err)
	require.False(t, rec.refreshs[0].Forced)

	// 503 applied, then the retry answered "already exists": applied once.
	fake.Inject(midastest.Fault{API: midas.APIPay, Status: 503, Applied: true})
	_, err = c.Pay(bg, pay("OBS-2", 5))
	require.NoError(t, err)
	call = rec.last(t)
	require.Equal(t, midas.ClassAlreadyApplied, call.end.Class)
	require.Equal(t, 503, call.attempts[0].StatusCode)
	require.Equal(t, midas.RetryServerError, call.attempts[0].Retry)

	// Lost twice: unknown; then settled.
	fake.Inject(midastest.Fault{API: midas.APIPay, Drop: true, Applied: true, Times: 2})
	_, err = c.Pay(bg, pay("OBS-3", 5))
	require.ErrorIs(t, err, midas.ErrOutcomeUnknown)
	call = rec.last(t)
	require.Equal(t, midas.ClassUnknown, call.end.Class)
	require.Equal(t, 0, call.attempts[0].StatusCode)
	require.Equal(t, midas.RetryTransport, call.attempts[0].Retry)
	require.Empty(t, call.attempts[1].Retry, "the last attempt has no retry")
	require.Zero(t, call.attempts[1].Wait)
	_, err = c.SettlePay(bg, pay("OBS-3", 5))
	require.NoError(t, err)
	call = rec.last(t)
	require.True(t, call.info.Settle)
	require.Equal(t, midas.ClassAlreadyApplied, call.end.Class)

	// Refused, with its errcode.
	_, err = c.Pay(bg, pay("OBS-4", 1_000_000))
	require.ErrorIs(t, err, midas.ErrInsufficientBalance)
	call = rec.last(t)
	require.Equal(t, midas.ClassRefused, call.end.Class)
	require.Equal(t, midas.CodeInsufficientBalance, call.end.ErrCode)

	// The token expires: refreshed once, the call retried.
	tok, err := tokens.Token(bg)
	require.NoError(t, err)
	fake.ExpireToken(tok)
	_, err = c.GetBalance(bg, midas.BalanceRequest{OpenID: alice, SessionKey: aliceKey})
	require.NoError(t, err)
	call = rec.last(t)
	require.Equal(t, midas.APIGetBalance, call.info.API)
	require.Empty(t, call.info.BillNo)
	require.Equal(t, midas.RetryTokenRejected, call.attempts[0].Retry)
	require.Equal(t, midas.CodeAccessTokenExpired, call.attempts[0].ErrCode)
	require.Equal(t, midas.ClassSuccess, call.end.Class)
	require.Len(t, rec.refreshs, 2)

	// Refused before sending: no attempt.
	_, err = c.Present(bg, midas.PresentRequest{OpenID: alice, SessionKey: aliceKey, Count: 1})
	require.ErrorIs(t, err, midas.ErrInvalidRequest)
	call = rec.last(t)
	require.Equal(t, midas.APIPresent, call.info.API)
	require.Equal(t, midas.ClassInvalidRequest, call.end.Class)
	require.Zero(t, call.end.Attempts)
	require.Empty(t, call.attempts)

	// stable_token itself down: the call is not sent.
	fake.ExpireToken(tok)
	tokens.InvalidateToken(mustToken(t, tokens))
	fake.Inject(midastest.Fault{API: midastest.APIStableToken, Status: 500, Times: 5})
	_, err = c.GetBalance(bg, midas.BalanceRequest{OpenID: alice, SessionKey: aliceKey})
	require.ErrorIs(t, err, midas.ErrNotSent)
	require.Equal(t, midas.ClassNotSent, rec.last(t).end.Class)
	require.Error(t, rec.refreshs[len(rec.refreshs)-1].Err)

	text := fmt.Sprintf("%+v", rec.refreshs)
	for _, c := range rec.calls {
		text += fmt.Sprintf("%+v %+v %+v", c.info, c.attempts, *c.end)
	}
	for _, s := range []string{sbKey, appKey, secret, aliceKey, alice, "fake-access-token"} {
		require.NotContains(t, text, s)
	}
}

func withoutDuration(a midas.Attempt) midas.Attempt { a.Duration = 0; return a }

func mustToken(t *testing.T, ts midas.TokenSource) string {
	t.Helper()
	tok, err := ts.Token(bg)
	require.NoError(t, err)
	return tok
}

// The context an Observer returns is the one the call's attempts run
// under, so its span can parent the HTTP client's.
func TestObserverContextReachesTheTransport(t *testing.T) {
	var rec recorder
	fake := midastest.NewServer(fakeCfg())
	defer fake.Close()
	var seen *recordedCall
	transport := transportFunc(func(r *http.Request) (*http.Response, error) {
		seen, _ = r.Context().Value(ctxKey{}).(*recordedCall)
		return fake.Respond(r)
	})
	c, err := midas.NewClient(midas.Config{AppID: appID, OfferID: offerID, AppKey: appKey, AccessToken: midas.StaticToken(token)},
		midas.WithHTTPClient(&http.Client{Transport: transport}), midas.WithObserver(&rec))
	require.NoError(t, err)
	_, err = c.GetBalance(bg, midas.BalanceRequest{OpenID: alice})
	require.NoError(t, err)
	require.NotNil(t, seen)
	require.Same(t, rec.last(t), seen)
}

// WithObserver refuses nil, and a StableTokenSource takes it.
func TestWithObserverOption(t *testing.T) {
	_, err := midas.NewClient(midas.Config{AppID: appID, OfferID: offerID, AppKey: appKey, AccessToken: midas.StaticToken(token)}, midas.WithObserver(nil))
	require.ErrorIs(t, err, midas.ErrInvalidRequest)
	require.ErrorContains(t, err, "WithObserver")
	_, err = midas.NewStableTokenSource(appID, secret, midas.WithObserver(nil))
	require.ErrorIs(t, err, midas.ErrInvalidRequest)
	_, err = midas.NewStableTokenSource(appID, secret, midas.WithObserver(&recorder{}))
	require.NoError(t, err)
}

type transportFunc func(*http.Request) (*http.Response, error)

func (f transportFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
