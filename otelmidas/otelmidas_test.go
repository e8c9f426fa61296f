package otelmidas_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gomidas/midas"
	"github.com/gomidas/midas/midastest"
	"github.com/gomidas/midas/otelmidas"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// classOf is how a call ended as its caller sees it.
func classOf(err error, alreadyApplied bool) midas.CallClass {
	var apiErr *midas.APIError
	switch {
	case err == nil && alreadyApplied:
		return midas.ClassAlreadyApplied
	case err == nil:
		return midas.ClassSuccess
	case errors.Is(err, midas.ErrOutcomeUnknown):
		return midas.ClassUnknown
	case errors.Is(err, midas.ErrInvalidRequest):
		return midas.ClassInvalidRequest
	case errors.Is(err, midas.ErrNotSent):
		return midas.ClassNotSent
	case errors.As(err, &apiErr):
		return midas.ClassRefused
	}
	return midas.ClassFailed
}

// tally counts calls by api, settle and class.
type tally struct {
	mu sync.Mutex
	n  map[string]int64
}

func (t *tally) add(api string, settle bool, class midas.CallClass) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n == nil {
		t.n = map[string]int64{}
	}
	t.n[fmt.Sprintf("%s/%t/%s", api, settle, class)]++
}

// A run of the fault suite's shape: pay, present, cancelpay and getbalance
// from several goroutines while the fake answers -1, 5xx, drops
// connections (some after applying), answers late, and expires the token;
// then every unknown outcome is settled. The metrics add up exactly to the
// calls and outcomes the callers saw, every unknown opened is counted
// settled, every span has one event per attempt, and no span, event or
// metric label holds a secret or an openid.
func TestFaultRunAddsUp(t *testing.T) {
	for _, v := range []midas.Version{midas.V1, midas.V2} {
		t.Run(v.String(), func(t *testing.T) { faultRun(t, v) })
	}
}

func faultRun(t *testing.T, version midas.Version) {
	const (
		players = 8
		workers = 6
		perWork = 120
	)
	tm := newTelemetry(t)
	fake := newFake(t, players)
	tokens, err := midas.NewStableTokenSource(appID, secret, midas.WithBaseURL(fake.URL), midas.WithObserver(tm.obs))
	require.NoError(t, err)
	c, err := midas.NewClient(midas.Config{AppID: appID, OfferID: offerID, AppKey: appKey, AccessToken: tokens, Version: version},
		midas.WithBaseURL(fake.URL), midas.WithHTTPClient(&http.Client{Timeout: 5 * time.Second}),
		midas.WithMaxRetries(2), midas.WithAttemptTimeout(40*time.Millisecond),
		midas.WithRetryBackoff(100*time.Microsecond, time.Millisecond), midas.WithObserver(tm.obs))
	require.NoError(t, err)

	faults := []midastest.Fault{
		{Errcode: -1}, {Errcode: -1, Applied: true}, {Status: 502}, {Status: 503, Applied: true},
		{Drop: true}, {Drop: true, Applied: true}, {Delay: 200 * time.Millisecond},
	}
	type unknownCall struct {
		api    string
		player string
		billNo string
		amount int64
	}
	var (
		seen     tally
		mu       sync.Mutex
		unknowns []unknownCall
		wg       sync.WaitGroup
	)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			var paid []unknownCall
			for i := 0; i < perWork; i++ {
				player := fmt.Sprintf("%s%02d", openIDPfx, rng.IntN(players))
				api := []string{midas.APIPay, midas.APIPay, midas.APIPresent, midas.APIGetBalance, midas.APICancelPay}[rng.IntN(5)]
				if api == midas.APICancelPay && len(paid) == 0 {
					api = midas.APIPresent
				}
				if rng.IntN(3) == 0 {
					f := faults[rng.IntN(len(faults))]
					f.Times, f.API = 1+rng.IntN(4), api
					fake.Inject(f)
				}
				if rng.IntN(100) == 0 {
					tok, _ := tokens.Token(bg)
					fake.ExpireToken(tok)
				}
				u := unknownCall{api: api, player: player, billNo: fmt.Sprintf("b%d-%d", w, i), amount: 1 + rng.Int64N(20)}
				var err error
				already := false
				switch api {
				case midas.APIPay:
					var r *midas.PayResponse
					r, err = c.Pay(bg, midas.PayRequest{OpenID: player, SessionKey: sessKey, BillNo: u.billNo, Amount: u.amount})
					if err == nil {
						already = r.AlreadyProcessed
						paid = append(paid, u)
					}
				case midas.APIPresent:
					var r *midas.PresentResponse
					r, err = c.Present(bg, midas.PresentRequest{OpenID: player, SessionKey: sessKey, BillNo: u.billNo, Count: u.amount})
					already = err == nil && r.AlreadyProcessed
				case midas.APIGetBalance:
					_, err = c.GetBalance(bg, midas.BalanceRequest{OpenID: player, SessionKey: sessKey})
				case midas.APICancelPay:
					k := rng.IntN(len(paid))
					p := paid[k]
					paid = append(paid[:k], paid[k+1:]...)
					u = unknownCall{api: api, player: p.player, billNo: p.billNo, amount: p.amount}
					var r *midas.CancelPayResponse
					r, err = c.CancelPay(bg, cancelRequest(version, u.player, u.billNo, u.amount))
					already = err == nil && r.AlreadyProcessed
				}
				class := classOf(err, already)
				seen.add(api, false, class)
				if class == midas.ClassUnknown {
					mu.Lock()
					unknowns = append(unknowns, u)
					mu.Unlock()
				}
			}
		}(w)
	}
	wg.Wait()
	require.NotEmpty(t, unknowns, "the faults left some outcomes unknown")

	ms := tm.metrics(t)
	require.EqualValues(t, len(unknowns), sum(t, ms, otelmidas.MetricUnknownPending), "pending before settling")
	opened := sum(t, ms, otelmidas.MetricUnknownOpened)
	require.EqualValues(t, len(unknowns), opened)

	for _, u := range unknowns {
		ctx, cancel := context.WithTimeout(bg, 10*time.Second)
		var err error
		already := false
		switch u.api {
		case midas.APIPay:
			var r *midas.PayResponse
			r, err = c.SettlePay(ctx, midas.PayRequest{OpenID: u.player, SessionKey: sessKey, BillNo: u.billNo, Amount: u.amount})
			already = err == nil && r.AlreadyProcessed
		case midas.APIPresent:
			var r *midas.PresentResponse
			r, err = c.SettlePresent(ctx, midas.PresentRequest{OpenID: u.player, SessionKey: sessKey, BillNo: u.billNo, Count: u.amount})
			already = err == nil && r.AlreadyProcessed
		case midas.APICancelPay:
			var r *midas.CancelPayResponse
			r, err = c.SettleCancelPay(ctx, cancelRequest(version, u.player, u.billNo, u.amount))
			already = err == nil && r.AlreadyProcessed
		}
		cancel()
		class := classOf(err, already)
		require.NotEqual(t, midas.ClassUnknown, class, "settle of %s %s: %v", u.api, u.billNo, err)
		seen.add(u.api, true, class)
	}

	ms = tm.metrics(t)
	var calls int64
	for key, n := range seen.n {
		var api, settle, class string
		fmt.Sscanf(replaceSlashes(key), "%s %s %s", &api, &settle, &class)
		require.Equal(t, n, sum(t, ms, otelmidas.MetricCalls, "midas.api="+api, "midas.settle="+settle, "midas.class="+class), key)
		require.Equal(t, n, sum(t, ms, otelmidas.MetricCallDuration, "midas.api="+api, "midas.settle="+settle, "midas.class="+class), key)
		calls += n
	}
	require.Equal(t, calls, sum(t, ms, otelmidas.MetricCalls), "no call counted that the callers did not see")
	require.Equal(t, opened, sum(t, ms, otelmidas.MetricUnknownSettled), "every unknown opened is counted settled")
	require.Equal(t, opened, sum(t, ms, otelmidas.MetricUnknownOpened))
	require.Zero(t, sum(t, ms, otelmidas.MetricUnknownPending), "nothing pending after settling")
	require.Equal(t, 0.0, ms[otelmidas.MetricUnknownOldest].Data.(metricdata.Gauge[float64]).DataPoints[0].Value)

	// One span per call, one event per attempt, and the attempts counted
	// are the requests the fake received.
	spans := tm.spans.Ended()
	require.EqualValues(t, calls, len(spans))
	var events int64
	for _, s := range spans {
		n := 0
		for _, e := range s.Events() {
			if e.Name == otelmidas.EventAttempt {
				n++
			}
		}
		require.Equal(t, attrInt(s, "midas.attempts"), int64(n), s.Name())
		events += int64(n)
	}
	received := 0
	for _, call := range fake.Calls() {
		if call.API != midastest.APIStableToken {
			received++
		}
	}
	require.Equal(t, events, sum(t, ms, otelmidas.MetricAttempts))
	// An attempt with no answer may or may not have reached the fake (an
	// attempt timeout can end it before the fake reads it); one with an
	// answer did.
	answered := events - sum(t, ms, otelmidas.MetricAttempts, "http.response.status_code=0")
	require.LessOrEqual(t, answered, int64(received), "every answered attempt reached the fake")
	require.LessOrEqual(t, int64(received), events, "every request the fake received is an attempt counted")

	stable, forced := fake.StableTokenCalls()
	require.EqualValues(t, stable, sum(t, ms, otelmidas.MetricTokenRefreshes))
	require.EqualValues(t, forced, sum(t, ms, otelmidas.MetricTokenRefreshes, "midas.token.forced=true"))
	t.Logf("calls %d (%v), attempts %d, unknown opened and settled %d, stable_token fetches %d (forced %d)", calls, seen.n, events, opened, stable, forced)

	requireNoSecret(t, tm.everyText(t), "fake-access-token")
}

func replaceSlashes(s string) string {
	b := []byte(s)
	for i := range b {
		if b[i] == '/' {
			b[i] = ' '
		}
	}
	return string(b)
}

// cancelRequest refunds the whole pay: in 2.0 with a refund id of its own.
func cancelRequest(v midas.Version, player, billNo string, amount int64) midas.CancelPayRequest {
	r := midas.CancelPayRequest{OpenID: player, SessionKey: sessKey, BillNo: billNo}
	if v == midas.V2 {
		r.RefundBillNo, r.Amount = "r-"+billNo, amount
	}
	return r
}

// A call's span is a child of the caller's, says what the call was and how
// it ended, and is marked failed when the call failed; a success is not.
func TestSpanOfACall(t *testing.T) {
	tm := newTelemetry(t)
	fake := newFake(t, 1)
	player := openIDPfx + "00"
	c, err := midas.NewClient(midas.Config{AppID: appID, OfferID: offerID, AppKey: appKey, AccessToken: midas.StaticToken(token), Version: midas.V2},
		append(fake.ClientOptions(), midas.WithObserver(tm.obs), midas.WithRetryBackoff(time.Microsecond, time.Microsecond))...)
	require.NoError(t, err)
	fake.AddToken(token)

	parentCtx, parent := sdktrace.NewTracerProvider().Tracer("test").Start(bg, "checkout")
	fake.Inject(midastest.Fault{API: midas.APIPay, Errcode: -1})
	_, err = c.Pay(parentCtx, midas.PayRequest{OpenID: player, SessionKey: sessKey, BillNo: "SPAN-1", Amount: 5})
	require.NoError(t, err)
	_, err = c.Pay(parentCtx, midas.PayRequest{OpenID: player, SessionKey: sessKey, BillNo: "SPAN-2", Amount: 1_000_000})
	require.ErrorIs(t, err, midas.ErrInsufficientBalance)
	_, err = c.Pay(parentCtx, midas.PayRequest{OpenID: player, SessionKey: sessKey, BillNo: "", Amount: 5})
	require.ErrorIs(t, err, midas.ErrInvalidRequest)
	parent.End()

	spans := tm.spans.Ended()
	require.Len(t, spans, 3)
	for _, s := range spans {
		require.Equal(t, "midas pay", s.Name())
		require.Equal(t, trace.SpanKindClient, s.SpanKind())
		require.Equal(t, parent.SpanContext().TraceID(), s.SpanContext().TraceID(), "the caller's trace")
		require.Equal(t, parent.SpanContext().SpanID(), s.Parent().SpanID(), "a child of the caller's span")
		require.Equal(t, "pay", attrString(s, "midas.api"))
		require.Equal(t, "2.0", attrString(s, "midas.version"))
		require.Equal(t, "production", attrString(s, "midas.env"))
	}

	ok := spans[0]
	require.Equal(t, "SPAN-1", attrString(ok, "midas.bill_no"))
	require.Equal(t, "success", attrString(ok, "midas.class"))
	require.Equal(t, codes.Unset, ok.Status().Code)
	require.EqualValues(t, 2, attrInt(ok, "midas.attempts"))
	require.Len(t, ok.Events(), 2)
	first := map[string]string{}
	for _, kv := range ok.Events()[0].Attributes {
		first[string(kv.Key)] = kv.Value.Emit()
	}
	require.Equal(t, "1", first["midas.attempt"])
	require.Equal(t, "-1", first["midas.errcode"])
	require.Equal(t, "200", first["http.response.status_code"])
	require.Equal(t, "system_busy", first["midas.retry.reason"])
	require.Contains(t, first, "midas.retry.wait")

	refused := spans[1]
	require.Equal(t, "refused", attrString(refused, "midas.class"))
	require.EqualValues(t, midas.CodeInsufficientBalance, attrInt(refused, "midas.errcode"))
	require.Equal(t, codes.Error, refused.Status().Code)
	require.Equal(t, "refused errcode 90013", refused.Status().Description)

	invalid := spans[2]
	require.Equal(t, "invalid_request", attrString(invalid, "midas.class"))
	require.EqualValues(t, 0, attrInt(invalid, "midas.attempts"))
	require.Equal(t, codes.Error, invalid.Status().Code)

	ms := tm.metrics(t)
	require.EqualValues(t, 1, sum(t, ms, otelmidas.MetricCalls, "midas.class=refused", "midas.errcode=90013"))
	require.EqualValues(t, 1, sum(t, ms, otelmidas.MetricCalls, "midas.class=invalid_request"))
	require.EqualValues(t, 3, sum(t, ms, otelmidas.MetricAttempts), "the invalid request made none")
	requireNoSecret(t, tm.everyText(t))
}
