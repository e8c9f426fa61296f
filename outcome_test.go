package midas

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var errLost = errors.New("connection reset by peer")

var payReq = PayRequest{OpenID: testOpenID, BillNo: "b1", Amount: 5}

// 1. Attempt 1 applied and its answer lost, the retry refused: unknown, and
// never readable as the refusal.
func TestUnknownOutcomeMatchesNoOtherSentinel(t *testing.T) {
	for _, code := range []int{CodeInsufficientBalance, CodeSessionExpired, CodeSystemBusy, CodeInvalidParam, CodeSigInvalid} {
		c, _ := scriptedClient(t, V1, errLost, code)
		_, err := c.Pay(context.Background(), payReq)
		require.ErrorIs(t, err, ErrOutcomeUnknown, "errcode %d", code)
		for _, s := range allSentinels {
			assert.NotErrorIs(t, err, s, "errcode %d", code)
		}
		assert.NotErrorIs(t, err, ErrAccessTokenInvalid)
		assert.NotErrorIs(t, err, ErrMalformedResponse)
		var apiErr *APIError
		assert.False(t, errors.As(err, &apiErr), "the refusal is not reachable with errors.As")
		var unknown *OutcomeUnknownError
		require.ErrorAs(t, err, &unknown)
		require.ErrorAs(t, unknown.Err, &apiErr, "the last attempt's error is in Err")
		assert.Equal(t, code, apiErr.Code)
		assert.Contains(t, err.Error(), fmt.Sprintf("errcode %d", code), "and named in the message")
		assert.Contains(t, err.Error(), "Settle", "the message sends users to the Settle helpers")
	}
}

// 2. Settle ends on every definite answer, and on a pre-lookup rejection.
func TestSettleEnds(t *testing.T) {
	cases := []struct {
		name    string
		steps   []any
		calls   int32
		ok      bool
		already bool
		want    error // a definite sentinel; nil with !ok means unknown
	}{
		{"success", []any{0}, 1, true, false, nil},
		{"done code", []any{CodeOrderExists}, 1, true, true, nil},
		{"busy then done", []any{-1, errLost, -1, CodeOrderExists}, 4, true, true, nil},
		{"processing then success", []any{CodeOrderProcessing, 0}, 2, true, false, nil},
		{"insufficient balance is definite", []any{CodeInsufficientBalance}, 1, false, false, ErrInsufficientBalance},
		{"insufficient balance after processing is definite", []any{CodeOrderProcessing, CodeInsufficientBalance}, 2, false, false, ErrInsufficientBalance},
		// The settle's own first attempt may be held and land after the
		// 90013: not a refusal.
		{"insufficient balance after its own lost answer: unknown", []any{errLost, CodeInsufficientBalance}, 2, false, false, nil},
		{"insufficient balance after its own -1: unknown", []any{-1, CodeInsufficientBalance}, 2, false, false, nil},
		{"mp_sig: stop, unknown", []any{CodeMpSigInvalid}, 1, false, false, nil},
		{"session: stop, unknown", []any{-1, CodeSessionExpired}, 2, false, false, nil},
		{"sig: stop, unknown", []any{CodeSigInvalid}, 1, false, false, nil},
		{"no permission: stop, unknown", []any{CodeNoPermission}, 1, false, false, nil},
		{"param: stop, unknown", []any{CodeInvalidParam}, 1, false, false, nil},
		{"token: stop, unknown", []any{CodeAccessTokenExpired}, 1, false, false, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, a := scriptedClient(t, V1, tc.steps...)
			// No deadline: a settle that did not end would hang the test.
			resp, err := c.SettlePay(context.Background(), payReq)
			assert.Equal(t, tc.calls, a.n.Load(), "calls")
			switch {
			case tc.ok:
				require.NoError(t, err)
				assert.Equal(t, tc.already, resp.AlreadyProcessed)
			case tc.want != nil:
				assert.ErrorIs(t, err, tc.want)
				assert.NotErrorIs(t, err, ErrOutcomeUnknown, "definite")
			default:
				assert.ErrorIs(t, err, ErrOutcomeUnknown)
				var unknown *OutcomeUnknownError
				require.ErrorAs(t, err, &unknown)
				assert.Equal(t, "b1", unknown.BillNo)
			}
		})
	}
}

func TestSettleCancelPayDefiniteAnswers(t *testing.T) {
	for _, code := range []int{CodeOrderNotFound, CodeOrderConfirmed} {
		c, a := scriptedClient(t, V1, code)
		_, err := c.SettleCancelPay(context.Background(), CancelPayRequest{OpenID: testOpenID, BillNo: "b1"})
		assert.Equal(t, int32(1), a.n.Load())
		var apiErr *APIError
		require.ErrorAs(t, err, &apiErr)
		assert.Equal(t, code, apiErr.Code)
		assert.NotErrorIs(t, err, ErrOutcomeUnknown)
	}
	c, _ := scriptedClient(t, V1, CodeOrderRefunded)
	resp, err := c.SettleCancelPay(context.Background(), CancelPayRequest{OpenID: testOpenID, BillNo: "b1"})
	require.NoError(t, err)
	assert.True(t, resp.AlreadyProcessed)
}

// Settle repeats -1 until ctx ends, then says unknown.
func TestSettleRepeatsBusyUntilContextEnds(t *testing.T) {
	c, mt := newMockedClient(t, Production, WithRetryBackoff(time.Microsecond, time.Microsecond))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var n atomic.Int32
	mt.RegisterNoResponder(func(*http.Request) (*http.Response, error) {
		if n.Add(1) == 5 {
			cancel() // the caller gives up while the answers are still -1
		}
		return httpmock.NewStringResponse(http.StatusOK, `{"errcode":-1}`), nil
	})
	_, err := c.SettlePresent(ctx, PresentRequest{OpenID: testOpenID, BillNo: "b1", Count: 1})
	assert.ErrorIs(t, err, ErrOutcomeUnknown)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, int32(5), n.Load(), "repeated until the context ended, then stopped")
}

// 3. Not sent is not unclear.
func TestDialFailureIsNotAmbiguous(t *testing.T) {
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	c, a := scriptedClient(t, V1, dial, CodeOrderExists)
	_, err := c.Pay(context.Background(), payReq)
	assert.Equal(t, int32(2), a.n.Load())
	assert.ErrorIs(t, err, ErrOrderExists, "90012 after attempts that were never sent is a used bill_no, not success")
	assert.NotErrorIs(t, err, ErrOutcomeUnknown)

	c, _ = scriptedClient(t, V1, dial)
	_, err = c.Pay(context.Background(), payReq)
	assert.ErrorIs(t, err, ErrNotSent)
	assert.NotErrorIs(t, err, ErrOutcomeUnknown, "no attempt was sent: nothing moved")
}

func TestRealConnectionRefusedIsNotSent(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := "http://" + ln.Addr().String()
	ln.Close()
	c, err := NewClient(testConfig(Production), WithBaseURL(dead), WithRetryBackoff(time.Microsecond, time.Microsecond))
	require.NoError(t, err)
	_, err = c.Pay(context.Background(), payReq)
	assert.ErrorIs(t, err, ErrNotSent)
	assert.NotErrorIs(t, err, ErrOutcomeUnknown)
}

// An attempt whose time runs out while it waits for a connection (a
// bounded pool, all busy) or while its connection is being dialed was never
// sent: not an unknown outcome.
func TestNoConnectionBeforeTheDeadlineIsNotSent(t *testing.T) {
	held := make(chan struct{})
	var arrived atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Add(1)
		<-held
		io.WriteString(w, `{"errcode":0,"balance":1,"used_gen_amt":0}`)
	}))
	defer srv.Close()
	defer close(held)
	unreachable := make(chan struct{})
	defer close(unreachable)
	transports := map[string]*http.Transport{
		"waiting for the pool's one connection": {MaxConnsPerHost: 1},
		"dialing": {DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			<-unreachable // a dial that never completes
			return nil, errors.New("gave up")
		}},
	}
	for name, tr := range transports {
		t.Run(name, func(t *testing.T) {
			c, err := NewClient(testConfig(Production), WithBaseURL(srv.URL), WithHTTPClient(&http.Client{Transport: tr}),
				WithAttemptTimeout(50*time.Millisecond), WithMaxRetries(1), WithRetryBackoff(time.Millisecond, time.Millisecond))
			require.NoError(t, err)
			before := arrived.Load()
			if tr.MaxConnsPerHost == 1 {
				// The pool's one connection: a request the server holds
				// until the test ends.
				go func() {
					if resp, err := (&http.Client{Transport: tr}).Get(srv.URL); err == nil {
						resp.Body.Close()
					}
				}()
				require.Eventually(t, func() bool { return arrived.Load() == before+1 }, 5*time.Second, time.Millisecond)
			}
			_, err = c.Pay(context.Background(), payReq)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrNotSent)
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			assert.NotErrorIs(t, err, ErrOutcomeUnknown)
			if tr.MaxConnsPerHost == 1 {
				assert.Equal(t, before+1, arrived.Load(), "the pay never reached the server")
			}
		})
	}
}

// earlyReturn gives up waiting for its transport after d, as some timeout
// wrappers do, and lets the request go on in the background, detached from
// cancellation but with the context's values (the SDK's trace hooks).
type earlyReturn struct {
	base http.RoundTripper
	d    time.Duration
}

func (e earlyReturn) RoundTrip(req *http.Request) (*http.Response, error) {
	done := make(chan *http.Response, 1)
	go func() {
		resp, _ := e.base.RoundTrip(req.WithContext(context.WithoutCancel(req.Context())))
		done <- resp
	}()
	select {
	case resp := <-done:
		if resp != nil {
			return resp, nil
		}
		return nil, errors.New("failed")
	case <-time.After(e.d):
		go func() {
			if resp := <-done; resp != nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
		return nil, errors.New("upstream too slow")
	}
}

// rawThenFallback writes the request on a connection of its own, which calls
// no trace hook, and when no answer comes sends it again through fallback.
type rawThenFallback struct {
	addr     string
	fallback http.RoundTripper
}

func (r rawThenFallback) RoundTrip(req *http.Request) (*http.Response, error) {
	conn, err := net.Dial("tcp", r.addr)
	if err != nil {
		return nil, err
	}
	body, _ := req.GetBody()
	raw := req.Clone(req.Context())
	raw.Body = body
	err = raw.Write(conn)
	if err == nil {
		_, err = http.ReadResponse(bufio.NewReader(conn), raw)
	}
	conn.Close()
	if err == nil {
		return nil, errors.New("unexpected answer")
	}
	again := req.Clone(req.Context())
	again.Body, _ = req.GetBody()
	return r.fallback.RoundTrip(again)
}

// The trace hooks prove "not sent" only for net/http's own transport.
// Through a wrapper, a pay that reached the server (or will) is never
// reported not sent, even when the hooks saw a connection looked for and
// none had.
func TestWrappedTransportHooksProveNothing(t *testing.T) {
	t.Run("a wrapper returns while its request waits for a connection", func(t *testing.T) {
		held := make(chan struct{})
		var heldIn, pays atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/held" {
				heldIn.Add(1)
				<-held
				return
			}
			io.Copy(io.Discard, r.Body)
			pays.Add(1)
			io.WriteString(w, `{"errcode":0,"bill_no":"b1","balance":1,"used_gen_amt":0}`)
		}))
		defer srv.Close()
		tr := &http.Transport{MaxConnsPerHost: 1}
		defer tr.CloseIdleConnections()
		go func() { // the pool's one connection, held by the server
			if resp, err := (&http.Client{Transport: tr}).Get(srv.URL + "/held"); err == nil {
				resp.Body.Close()
			}
		}()
		require.Eventually(t, func() bool { return heldIn.Load() == 1 }, 5*time.Second, time.Millisecond)
		c, err := NewClient(testConfig(Production), WithBaseURL(srv.URL),
			WithHTTPClient(&http.Client{Transport: earlyReturn{tr, 50 * time.Millisecond}}), WithMaxRetries(0))
		require.NoError(t, err)
		_, err = c.Pay(context.Background(), payReq)
		require.Error(t, err)
		close(held) // the connection frees up, and the pay goes out
		require.Eventually(t, func() bool { return pays.Load() == 1 }, 5*time.Second, time.Millisecond, "the pay reached the server")
		assert.NotErrorIs(t, err, ErrNotSent)
		assert.ErrorIs(t, err, ErrOutcomeUnknown)
	})

	t.Run("a write no hook sees, then a fallback with no connection in time", func(t *testing.T) {
		var pays atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			pays.Add(1)
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				conn.Close() // the answer is lost
			}
		}))
		defer srv.Close()
		unreachable := make(chan struct{})
		defer close(unreachable)
		fallback := &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) {
			<-unreachable // a dial that does not complete in time
			return nil, errors.New("gave up")
		}}
		rt := rawThenFallback{addr: strings.TrimPrefix(srv.URL, "http://"), fallback: fallback}
		c, err := NewClient(testConfig(Production), WithBaseURL(srv.URL), WithHTTPClient(&http.Client{Transport: rt}),
			WithAttemptTimeout(300*time.Millisecond), WithMaxRetries(0))
		require.NoError(t, err)
		_, err = c.Pay(context.Background(), payReq)
		require.Error(t, err)
		require.Equal(t, int32(1), pays.Load(), "the pay reached the server")
		assert.NotErrorIs(t, err, ErrNotSent)
		assert.ErrorIs(t, err, ErrOutcomeUnknown)
	})
}

func TestContextDoneBeforeSendingIsNotSent(t *testing.T) {
	c, a := scriptedClient(t, V1, 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Pay(ctx, payReq)
	assert.ErrorIs(t, err, ErrNotSent)
	assert.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, ErrOutcomeUnknown)
	assert.Zero(t, a.n.Load())
}

type failingBody struct{ err error }

func (b failingBody) Read([]byte) (int, error) { return 0, b.err }
func (failingBody) Close() error               { return nil }

func TestBodyReadErrorIsAmbiguousAndKeepsItsCause(t *testing.T) {
	c, mt := newMockedClient(t, Production, WithRetryBackoff(time.Microsecond, time.Microsecond))
	var n atomic.Int32
	mt.RegisterNoResponder(func(*http.Request) (*http.Response, error) {
		if n.Add(1) == 1 {
			return &http.Response{StatusCode: 200, Body: failingBody{context.DeadlineExceeded}, Header: http.Header{}}, nil
		}
		return httpmock.NewStringResponse(200, `{"errcode":90012}`), nil
	})
	resp, err := c.Pay(context.Background(), payReq)
	require.NoError(t, err, "retried, and 90012 then means the first attempt was applied")
	assert.True(t, resp.AlreadyProcessed)

	// getbalance: the cause is kept with %w.
	c, mt = newMockedClient(t, Production, WithMaxRetries(0))
	mt.RegisterNoResponder(func(*http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Body: failingBody{context.DeadlineExceeded}, Header: http.Header{}}, nil
	})
	_, err = c.GetBalance(context.Background(), BalanceRequest{OpenID: testOpenID})
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

// 4. Redirects are never followed.
func TestRedirectIsNotFollowed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ok" {
			io.WriteString(w, `{"errcode":0}`)
			return
		}
		http.Redirect(w, r, "/ok", http.StatusFound)
	}))
	defer srv.Close()
	own := &http.Client{Timeout: time.Second}
	for name, opts := range map[string][]Option{
		"default":        {WithBaseURL(srv.URL)},
		"WithHTTPClient": {WithBaseURL(srv.URL), WithHTTPClient(own)},
	} {
		c, err := NewClient(testConfig(Production), opts...)
		require.NoError(t, err)
		_, err = c.Pay(context.Background(), payReq)
		var he *HTTPError
		require.ErrorAs(t, err, &he, name)
		assert.Equal(t, http.StatusFound, he.StatusCode, name)
	}
	assert.Nil(t, own.CheckRedirect, "the caller's client is not changed")
}

// 5. Secrets in every serialisation, and masking that does not mangle.
func TestSecretsInJSONAndSlogJSON(t *testing.T) {
	const secret = "AppSecret-abcdefghijklmnop"
	cfg := testConfig(Production)
	ts, err := NewStableTokenSource(testAppID, secret)
	require.NoError(t, err)
	values := []any{
		cfg, &cfg, StaticToken(testToken), ts,
		BalanceRequest{OpenID: testOpenID, SessionKey: testSessionKey},
		PayRequest{OpenID: testOpenID, SessionKey: testSessionKey, BillNo: "b"},
		CancelPayRequest{OpenID: testOpenID, SessionKey: testSessionKey, BillNo: "b"},
		PresentRequest{OpenID: testOpenID, SessionKey: testSessionKey, BillNo: "b"},
		QueryOrderRequest{OpenID: testOpenID, SessionKey: testSessionKey, OutTradeNo: "o"},
		Config{AppID: testAppID, OfferID: testOfferID, AppKey: testAppKey, AccessToken: ts},
	}
	var logged bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logged, nil))
	for _, v := range values {
		data, err := jsonMarshal(v)
		require.NoError(t, err, "%T", v)
		log.Info("value", "v", v)
		for _, s := range []string{testAppKey, testSessionKey, testToken, secret} {
			assert.NotContains(t, string(data), s, "json of %T", v)
		}
	}
	for _, s := range []string{testAppKey, testSessionKey, testToken, secret} {
		assert.NotContains(t, logged.String(), s)
	}
	assert.Contains(t, logged.String(), testOpenID, "the rest is still logged")
}

func TestOneLetterTokenDoesNotMangleMessages(t *testing.T) {
	cfg := testConfig(Production)
	cfg.AccessToken = StaticToken("h")
	mt := httpmock.NewMockTransport()
	c, err := NewClient(cfg, WithHTTPClient(&http.Client{Transport: mt}), WithMaxRetries(0))
	require.NoError(t, err)
	mt.RegisterNoResponder(httpmock.NewErrorResponder(errors.New("boom")))
	_, err = c.GetBalance(context.Background(), BalanceRequest{OpenID: testOpenID})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "https://api.weixin.qq.com/cgi-bin/midas/getbalance")
	assert.Contains(t, err.Error(), "access_token=REDACTED")
	assert.False(t, strings.Contains(err.Error(), "access_token=h"))
}
