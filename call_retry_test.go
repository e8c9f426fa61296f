package midas_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomidas/midas"
	"github.com/gomidas/midas/midastest"
	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	appID    = "wx1234567"
	offerID  = "12345678"
	appKey   = "zNLgAGgqsEWJOg1nFVaO5r7fAlIQxr1u"
	sbKey    = "sandboxKeyY8qT3vN0pLm2Rx7Wc5Hd1Zf"
	token    = "ACCESSTOKEN"
	secret   = "the-app-secret-0123456789"
	alice    = "odkx20ENSNa2w5y3g_qOkOvBNM1g"
	aliceKey = "V7Q38/i2KXaqrQyl2Yx9Hg=="
)

func fakeCfg() midastest.Config {
	return midastest.Config{
		AppID: appID, OfferID: offerID, AppKey: appKey, SandboxAppKey: sbKey, AppSecret: secret,
		AccessTokens: []string{token},
		Players:      []midastest.Player{{OpenID: alice, SessionKey: aliceKey, Balance: 100, GenBalance: 10}},
	}
}

// tickingClock advances a second on every reading, so each attempt has its
// own ts.
func tickingClock() func() time.Time { return clockFrom(1_700_000_001) }

// clockFrom returns ts, ts+1, ts+2, ... on successive readings: the one
// clock of these tests.
func clockFrom(ts int64) func() time.Time {
	var n atomic.Int64
	return func() time.Time { return time.Unix(ts+n.Add(1)-1, 0) }
}

// fakeClient is a 1.0 Client wired to fake, with short backoff.
func fakeClient(t *testing.T, fake *midastest.Server, tokens midas.TokenSource, opts ...midas.Option) *midas.Client {
	t.Helper()
	if tokens == nil {
		tokens = midas.StaticToken(token)
	}
	return wireToFake(t, fake, midas.Config{AppID: appID, OfferID: offerID, AppKey: appKey, AccessToken: tokens},
		append([]midas.Option{midas.WithRetryBackoff(time.Millisecond, 5*time.Millisecond)}, opts...)...)
}

// wireToFake is the one way these tests connect a Client of cfg to fake
// (fake.ClientOptions), with a ticking clock; opts come last and win.
func wireToFake(t *testing.T, fake *midastest.Server, cfg midas.Config, opts ...midas.Option) *midas.Client {
	t.Helper()
	opts = append(append(fake.ClientOptions(), midas.WithClock(tickingClock())), opts...)
	c, err := midas.NewClient(cfg, opts...)
	require.NoError(t, err)
	return c
}

func payCalls(fake *midastest.Server, api string) []midastest.Call {
	var out []midastest.Call
	for _, c := range fake.Calls() {
		if c.API == api {
			out = append(out, c)
		}
	}
	return out
}

var bg = context.Background()

func TestRetryIsResignedWithFreshTS(t *testing.T) {
	fake := midastest.New(fakeCfg())
	c := fakeClient(t, fake, nil)
	fake.Inject(midastest.Fault{API: midas.APIPay, Errcode: -1})
	resp, err := c.Pay(bg, midas.PayRequest{OpenID: alice, SessionKey: aliceKey, BillNo: "b1", Amount: 30})
	require.NoError(t, err)
	assert.False(t, resp.AlreadyProcessed)
	assert.Equal(t, int64(80), resp.Balance)

	calls := payCalls(fake, midas.APIPay)
	require.Len(t, calls, 2)
	assert.Equal(t, calls[0].Params["bill_no"], calls[1].Params["bill_no"], "same bill_no on every attempt")
	assert.NotEqual(t, calls[0].Params["ts"], calls[1].Params["ts"], "fresh ts")
	assert.NotEqual(t, calls[0].Params["sig"], calls[1].Params["sig"], "re-signed")
	assert.NotEqual(t, calls[0].Params["mp_sig"], calls[1].Params["mp_sig"], "re-signed")
	for _, call := range calls {
		assert.Equal(t, midas.Sig(call.Params, "/cgi-bin/midas/pay", appKey), call.Params["sig"], "each attempt's sig matches its own body")
	}
	assert.Zero(t, calls[1].Errcode, "the fake verified the retry's signatures")
}

// A retry that meets the footprint of an applied attempt is a success.
func TestRetryAfterAppliedAttemptIsSuccess(t *testing.T) {
	for _, f := range []midastest.Fault{
		{Errcode: -1, Applied: true},
		{Status: 502, Applied: true},
		{Drop: true, Applied: true},
	} {
		fake := midastest.New(fakeCfg())
		c := fakeClient(t, fake, nil)

		f.API = midas.APIPay
		fake.Inject(f)
		pay, err := c.Pay(bg, midas.PayRequest{OpenID: alice, BillNo: "p1", Amount: 30})
		require.NoError(t, err, "%+v", f)
		assert.True(t, pay.AlreadyProcessed)
		assert.Zero(t, pay.Balance, "balance unknown")

		f.API = midas.APIPresent
		fake.Inject(f)
		pr, err := c.Present(bg, midas.PresentRequest{OpenID: alice, BillNo: "g1", Count: 5})
		require.NoError(t, err)
		assert.True(t, pr.AlreadyProcessed)

		f.API = midas.APICancelPay
		fake.Inject(f)
		cr, err := c.CancelPay(bg, midas.CancelPayRequest{OpenID: alice, BillNo: "p1"})
		require.NoError(t, err)
		assert.True(t, cr.AlreadyProcessed)

		total, _ := fake.Balance(midas.Production, alice, "")
		assert.Equal(t, int64(115), total, "each change happened exactly once")
	}
}

func TestFirstAttemptOrderExistsStaysAnError(t *testing.T) {
	fake := midastest.New(fakeCfg())
	c := fakeClient(t, fake, nil)
	_, err := c.Pay(bg, midas.PayRequest{OpenID: alice, BillNo: "dup", Amount: 1})
	require.NoError(t, err)
	_, err = c.Pay(bg, midas.PayRequest{OpenID: alice, BillNo: "dup", Amount: 1})
	assert.ErrorIs(t, err, midas.ErrOrderExists)
	assert.NotErrorIs(t, err, midas.ErrOutcomeUnknown)
	_, err = c.CancelPay(bg, midas.CancelPayRequest{OpenID: alice, BillNo: "dup"})
	require.NoError(t, err)
	_, err = c.CancelPay(bg, midas.CancelPayRequest{OpenID: alice, BillNo: "dup"})
	assert.ErrorIs(t, err, midas.ErrOrderRefunded)
}

func TestOutcomeUnknownAndSettle(t *testing.T) {
	fake := midastest.New(fakeCfg())
	c := fakeClient(t, fake, nil)
	fake.Inject(midastest.Fault{API: midas.APIPay, Times: 3, Errcode: -1, Applied: true})
	_, err := c.Pay(bg, midas.PayRequest{OpenID: alice, BillNo: "u1", Amount: 30})
	require.Error(t, err)
	assert.ErrorIs(t, err, midas.ErrOutcomeUnknown)
	assert.NotErrorIs(t, err, midas.ErrSystemBusy, "an unknown outcome matches no other sentinel")
	var ue *midas.OutcomeUnknownError
	require.ErrorAs(t, err, &ue)
	assert.ErrorIs(t, ue.Err, midas.ErrSystemBusy, "the cause is kept in Err")
	assert.Equal(t, "u1", ue.BillNo)
	assert.Equal(t, 3, ue.Attempts)
	assert.Contains(t, err.Error(), "bill_no=u1")
	assert.Len(t, payCalls(fake, midas.APIPay), 3, "1 attempt + 2 retries")

	// A plain Pay would now see 90012 on its first attempt; SettlePay knows
	// the earlier call used this bill_no.
	pay, err := c.SettlePay(bg, midas.PayRequest{OpenID: alice, BillNo: "u1", Amount: 30})
	require.NoError(t, err)
	assert.True(t, pay.AlreadyProcessed)
	total, _ := fake.Balance(midas.Production, alice, "")
	assert.Equal(t, int64(80), total, "deducted once")

	// Settling a call that never reached the server just makes it.
	fake.Inject(midastest.Fault{API: midas.APIPresent, Times: 3, Status: 503})
	_, err = c.Present(bg, midas.PresentRequest{OpenID: alice, BillNo: "u2", Count: 7})
	require.ErrorIs(t, err, midas.ErrOutcomeUnknown)
	pr, err := c.SettlePresent(bg, midas.PresentRequest{OpenID: alice, BillNo: "u2", Count: 7})
	require.NoError(t, err)
	assert.False(t, pr.AlreadyProcessed)
	assert.Equal(t, int64(87), pr.Balance)

	fake.Inject(midastest.Fault{API: midas.APICancelPay, Times: 3, Drop: true, Applied: true})
	_, err = c.CancelPay(bg, midas.CancelPayRequest{OpenID: alice, BillNo: "u1"})
	require.ErrorIs(t, err, midas.ErrOutcomeUnknown)
	cr, err := c.SettleCancelPay(bg, midas.CancelPayRequest{OpenID: alice, BillNo: "u1"})
	require.NoError(t, err)
	assert.True(t, cr.AlreadyProcessed)
}

func TestWhatIsRetried(t *testing.T) {
	cases := []struct {
		name  string
		fault midastest.Fault
		calls int
		is    error
	}{
		{"-1 is retried", midastest.Fault{Errcode: -1, Times: 9}, 3, midas.ErrSystemBusy},
		{"5xx is retried", midastest.Fault{Status: 500, Times: 9}, 3, nil},
		{"a drop is retried", midastest.Fault{Drop: true, Times: 9}, 3, midastest.ErrDropped},
		{"4xx is not", midastest.Fault{Status: 403, Times: 9}, 1, nil},
		{"90013 is not", midastest.Fault{Errcode: 90013, Times: 9}, 1, midas.ErrInsufficientBalance},
		{"90017 is not", midastest.Fault{Errcode: 90017, Times: 9}, 1, midas.ErrNoPermission},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fake := midastest.New(fakeCfg())
			c := fakeClient(t, fake, nil)
			tc.fault.API = midas.APIGetBalance
			fake.Inject(tc.fault)
			_, err := c.GetBalance(bg, midas.BalanceRequest{OpenID: alice})
			require.Error(t, err)
			if tc.is != nil {
				assert.ErrorIs(t, err, tc.is)
			}
			assert.NotErrorIs(t, err, midas.ErrOutcomeUnknown, "getbalance moves nothing")
			assert.Len(t, payCalls(fake, midas.APIGetBalance), tc.calls)
		})
	}

	fake := midastest.New(fakeCfg())
	c := fakeClient(t, fake, nil, midas.WithMaxRetries(0))
	fake.Inject(midastest.Fault{Errcode: -1, Times: 9})
	_, err := c.Pay(bg, midas.PayRequest{OpenID: alice, BillNo: "x", Amount: 1})
	assert.ErrorIs(t, err, midas.ErrOutcomeUnknown, "-1 on pay leaves the outcome unknown")
	assert.Len(t, fake.Calls(), 1, "WithMaxRetries(0) turns retries off")
}

func TestBackoffStopsWhenContextEnds(t *testing.T) {
	fake := midastest.New(fakeCfg())
	c := fakeClient(t, fake, nil, midas.WithRetryBackoff(time.Hour, time.Hour))
	fake.Inject(midastest.Fault{Errcode: -1, Times: 9})
	ctx, cancel := context.WithTimeout(bg, 20*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := c.Pay(ctx, midas.PayRequest{OpenID: alice, BillNo: "slow", Amount: 1})
		done <- err
	}()
	select {
	case err := <-done:
		assert.ErrorIs(t, err, midas.ErrOutcomeUnknown)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		var ue *midas.OutcomeUnknownError
		require.ErrorAs(t, err, &ue)
		assert.ErrorIs(t, ue.Err, midas.ErrSystemBusy)
	case <-time.After(time.Minute):
		t.Fatal("the retry wait ignored the context")
	}
}

// One hung attempt does not eat the caller's whole budget.
func TestAttemptTimeout(t *testing.T) {
	fake := midastest.NewServer(fakeCfg())
	defer fake.Close()
	c, err := midas.NewClient(midas.Config{AppID: appID, OfferID: offerID, AppKey: appKey, AccessToken: midas.StaticToken(token)},
		midas.WithBaseURL(fake.URL), midas.WithAttemptTimeout(100*time.Millisecond), midas.WithRetryBackoff(time.Millisecond, time.Millisecond))
	require.NoError(t, err)
	fake.Inject(midastest.Fault{API: midas.APIPay, Delay: 10 * time.Second})
	pay, err := c.Pay(bg, midas.PayRequest{OpenID: alice, BillNo: "hung", Amount: 5})
	require.NoError(t, err)
	assert.True(t, pay.AlreadyProcessed, "the hung attempt was applied; the retry found its footprint")
	total, _ := fake.Balance(midas.Production, alice, "")
	assert.Equal(t, int64(105), total)
}

// countingTokens gives tokens from a list and counts invalidations.
type countingTokens struct {
	mu          sync.Mutex
	tokens      []string
	given       int
	invalidated []string
}

func (s *countingTokens) Token(context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok := s.tokens[min(s.given, len(s.tokens)-1)]
	return tok, nil
}

func (s *countingTokens) InvalidateToken(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.invalidated = append(s.invalidated, tok)
	s.given++
}

func TestTokenRejectionRefreshesOnce(t *testing.T) {
	fake := midastest.New(fakeCfg())
	fake.AddToken("old")
	fake.ExpireToken("old")
	fake.AddToken("new")
	src := &countingTokens{tokens: []string{"old", "new"}}
	c := fakeClient(t, fake, src)
	_, err := c.Pay(bg, midas.PayRequest{OpenID: alice, SessionKey: aliceKey, BillNo: "t1", Amount: 1})
	require.NoError(t, err)
	assert.Equal(t, []string{"old"}, src.invalidated)
	calls := payCalls(fake, midas.APIPay)
	require.Len(t, calls, 2)
	assert.Equal(t, 42001, calls[0].Errcode)
	assert.Zero(t, calls[1].Errcode, "the retry was signed again with the new token (mp_sig covers it)")

	// Rejected again: one refresh only, then ErrAccessTokenInvalid.
	fake2 := midastest.New(fakeCfg())
	src2 := &countingTokens{tokens: []string{"bad1", "bad2"}}
	c2 := fakeClient(t, fake2, src2)
	_, err = c2.GetBalance(bg, midas.BalanceRequest{OpenID: alice})
	assert.ErrorIs(t, err, midas.ErrAccessTokenInvalid)
	assert.Equal(t, []string{"bad1"}, src2.invalidated)
	assert.Len(t, fake2.Calls(), 2)

	// A source that cannot invalidate: no retry.
	fake3 := midastest.New(fakeCfg())
	c3 := fakeClient(t, fake3, midas.StaticToken("unknown"))
	_, err = c3.GetBalance(bg, midas.BalanceRequest{OpenID: alice})
	assert.ErrorIs(t, err, midas.ErrAccessTokenInvalid)
	assert.Len(t, fake3.Calls(), 1)
}

func TestStableTokenSource(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	var clockMu sync.Mutex
	clock := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return now }
	advance := func(d time.Duration) { clockMu.Lock(); now = now.Add(d); clockMu.Unlock() }
	cfg := fakeCfg()
	cfg.Now = clock
	fake := midastest.NewServer(cfg)
	defer fake.Close()

	ts, err := midas.NewStableTokenSource(appID, secret, midas.WithBaseURL(fake.URL), midas.WithClock(clock))
	require.NoError(t, err)

	// Many callers at once: one request.
	var wg sync.WaitGroup
	got := make([]string, 50)
	for i := range got {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			got[i], _ = ts.Token(bg)
		}(i)
	}
	wg.Wait()
	for _, tok := range got {
		assert.Equal(t, got[0], tok)
	}
	calls, _ := fake.StableTokenCalls()
	assert.Equal(t, 1, calls, "no thundering herd")

	advance(time.Hour)
	tok, err := ts.Token(bg)
	require.NoError(t, err)
	assert.Equal(t, got[0], tok)
	calls, _ = fake.StableTokenCalls()
	assert.Equal(t, 1, calls, "cached while valid")

	advance(time.Hour - 4*time.Minute) // within 5 minutes of expiry
	tok, err = ts.Token(bg)
	require.NoError(t, err)
	// The renewal runs in the background: the cached token is still valid.
	require.Eventually(t, func() bool { calls, _ := fake.StableTokenCalls(); return calls == 2 }, 10*time.Second, time.Millisecond,
		"renewed shortly before expiry")
	_, forced := fake.StableTokenCalls()
	assert.Zero(t, forced)

	// The client refreshes it after a rejection, without forcing: normal mode
	// already gives a new token once the old one is dead.
	c, err := midas.NewClient(midas.Config{AppID: appID, OfferID: offerID, AppKey: appKey, AccessToken: ts}, midas.WithBaseURL(fake.URL))
	require.NoError(t, err)
	fake.ExpireToken(tok)
	_, err = c.GetBalance(bg, midas.BalanceRequest{OpenID: alice})
	require.NoError(t, err)
	calls, forced = fake.StableTokenCalls()
	assert.Equal(t, 3, calls)
	assert.Zero(t, forced)

	assert.NotContains(t, fmtAll(ts), secret)
}

// When normal mode returns the very token WeChat rejected, the source forces
// a refresh, and backs off: 15 minutes, then doubling.
func TestStableTokenForcesOnlyWhenNeeded(t *testing.T) {
	mt := httpmock.NewMockTransport()
	var forcedCalls atomic.Int32
	mt.RegisterResponder(http.MethodPost, "https://api.weixin.qq.com/cgi-bin/stable_token", func(r *http.Request) (*http.Response, error) {
		var buf bytes.Buffer
		buf.ReadFrom(r.Body)
		if bytes.Contains(buf.Bytes(), []byte(`"force_refresh":true`)) {
			forcedCalls.Add(1)
			return httpmock.NewStringResponse(200, `{"access_token":"fresh","expires_in":7200}`), nil
		}
		return httpmock.NewStringResponse(200, `{"access_token":"stale","expires_in":7200}`), nil
	})
	now := time.Unix(1_700_000_000, 0)
	ts, err := midas.NewStableTokenSource(appID, secret, midas.WithHTTPClient(&http.Client{Transport: mt}), midas.WithClock(func() time.Time { return now }))
	require.NoError(t, err)
	tok, _ := ts.Token(bg)
	assert.Equal(t, "stale", tok)
	ts.InvalidateToken("stale")
	tok, _ = ts.Token(bg)
	assert.Equal(t, "fresh", tok)
	assert.EqualValues(t, 1, forcedCalls.Load())

	ts.InvalidateToken("fresh")
	tok, _ = ts.Token(bg) // normal mode gives "stale": not the rejected one, no force
	ts.InvalidateToken(tok)
	tok, _ = ts.Token(bg) // normal gives "stale" again, but a force was made just now
	assert.Equal(t, "stale", tok)
	assert.EqualValues(t, 1, forcedCalls.Load(), "backed off")

	ts.InvalidateToken("not-the-cached-one") // ignored
	ts.InvalidateToken(tok)
	now = now.Add(16 * time.Minute)
	tok, _ = ts.Token(bg)
	assert.Equal(t, "fresh", tok)
	assert.EqualValues(t, 2, forcedCalls.Load())

	// The next force waits twice as long.
	ts.InvalidateToken("fresh")
	tok, _ = ts.Token(bg)
	ts.InvalidateToken(tok)
	now = now.Add(20 * time.Minute)
	tok, _ = ts.Token(bg)
	assert.Equal(t, "stale", tok)
	assert.EqualValues(t, 2, forcedCalls.Load(), "30 minutes after the second")
	ts.InvalidateToken(tok)
	now = now.Add(11 * time.Minute)
	tok, _ = ts.Token(bg)
	assert.Equal(t, "fresh", tok)
	assert.EqualValues(t, 3, forcedCalls.Load())
}

// A token rejected every minute for a day forces only a few refreshes.
func TestStableTokenForcesAFewTimesADay(t *testing.T) {
	mt := httpmock.NewMockTransport()
	var forcedCalls atomic.Int32
	mt.RegisterResponder(http.MethodPost, "https://api.weixin.qq.com/cgi-bin/stable_token", func(r *http.Request) (*http.Response, error) {
		var buf bytes.Buffer
		buf.ReadFrom(r.Body)
		if bytes.Contains(buf.Bytes(), []byte(`"force_refresh":true`)) {
			forcedCalls.Add(1)
		}
		return httpmock.NewStringResponse(200, `{"access_token":"same","expires_in":7200}`), nil
	})
	now := time.Unix(1_700_000_000, 0)
	ts, err := midas.NewStableTokenSource(appID, secret, midas.WithHTTPClient(&http.Client{Transport: mt}), midas.WithClock(func() time.Time { return now }))
	require.NoError(t, err)
	for minute := 0; minute < 24*60; minute++ {
		tok, err := ts.Token(bg)
		require.NoError(t, err)
		ts.InvalidateToken(tok)
		now = now.Add(time.Minute)
	}
	assert.LessOrEqual(t, forcedCalls.Load(), int32(8), "each force ends every other server's token")
	assert.GreaterOrEqual(t, forcedCalls.Load(), int32(2))
}

func TestStableTokenErrorsAreTyped(t *testing.T) {
	fake := midastest.NewServer(fakeCfg())
	defer fake.Close()
	ts, err := midas.NewStableTokenSource(appID, "wrong-secret", midas.WithBaseURL(fake.URL))
	require.NoError(t, err)
	_, err = ts.Token(bg)
	var apiErr *midas.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 40125, apiErr.Code)
	assert.Equal(t, midas.APIStableToken, apiErr.API)
	assert.NotContains(t, err.Error(), "wrong-secret")

	_, err = midas.NewStableTokenSource(appID, "")
	assert.ErrorIs(t, err, midas.ErrInvalidRequest)
}

func TestLoggerRedacts(t *testing.T) {
	var buf bytes.Buffer
	fake := midastest.New(fakeCfg())
	c := fakeClient(t, fake, nil, midas.WithLogger(slog.New(slog.NewJSONHandler(&buf, nil))))
	fake.Inject(midastest.Fault{API: midas.APIPay, Drop: true})
	_, err := c.Pay(bg, midas.PayRequest{OpenID: alice, SessionKey: aliceKey, BillNo: "log1", Amount: 1})
	require.NoError(t, err)
	out := buf.String()
	assert.Contains(t, out, `"bill_no":"log1"`)
	assert.Contains(t, out, `"attempt":2`)
	assert.Contains(t, out, `"level":"WARN"`)
	for _, s := range []string{appKey, aliceKey, token} {
		assert.NotContains(t, out, s)
	}
}
