package midas_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomidas/midas"
	"github.com/gomidas/midas/midastest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fmtAll prints v every way a log line might.
func fmtAll(v any) string {
	return fmt.Sprintf("%v %+v %#v %s", v, v, v, v)
}

// outcome is what the client told its caller about one call.
type outcome struct {
	api     string
	player  string
	billNo  string // pay/present: its own; cancelpay: the pay it cancels
	amount  int64
	result  string // "ok", "unknown", "failed"
	err     error
	errText string
}

// failKind classifies a definite failure by what it matches. The contract
// allows: a pay beyond the balance; a token rejected again right after its
// one refresh; and a call never sent (its token could not be had, because
// stable_token itself was faulted).
func failKind(err error) string {
	switch {
	case errors.Is(err, midas.ErrInsufficientBalance):
		return "insufficient balance"
	case errors.Is(err, midas.ErrAccessTokenInvalid):
		return "access_token rejected"
	case errors.Is(err, midas.ErrNotSent):
		return "not sent"
	}
	return "other: " + err.Error()
}

// The fault-injection suite: randomised pay, present and cancelpay calls from
// many goroutines against the fake on loopback, while it answers -1, 5xx,
// drops connections (some after applying the change), answers slower than the
// attempt timeout, and expires the access token. At the end every balance
// must equal the ledger of what the client reported, nothing may be applied
// twice, and nothing applied may have been reported as failed.
func TestFaultInjectionSuite(t *testing.T) {
	t.Run("v1", func(t *testing.T) { faultSuite(t, midas.V1) })
	t.Run("v2", func(t *testing.T) { faultSuite(t, midas.V2) })
}

// cancelRequest refunds the whole pay o: in 2.0 with a refund id of its own.
func cancelRequest(v midas.Version, o outcome) midas.CancelPayRequest {
	r := midas.CancelPayRequest{OpenID: o.player, SessionKey: aliceKey, BillNo: o.billNo}
	if v == midas.V2 {
		r.RefundBillNo, r.Amount = "r-"+o.billNo, o.amount
	}
	return r
}

func faultSuite(t *testing.T, version midas.Version) {
	const (
		players = 16
		workers = 8
		perWork = 375 // 3,000 calls
		start   = 1_000
	)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)

	cfg := fakeCfg()
	cfg.Players = nil
	for p := 0; p < players; p++ {
		cfg.Players = append(cfg.Players, midastest.Player{OpenID: fmt.Sprintf("player%02d", p), SessionKey: aliceKey, Balance: start})
	}
	fake := midastest.NewServer(cfg)
	defer fake.Close()
	tokens, err := midas.NewStableTokenSource(appID, secret, midas.WithBaseURL(fake.URL))
	require.NoError(t, err)
	c, err := midas.NewClient(midas.Config{AppID: appID, OfferID: offerID, AppKey: appKey, AccessToken: tokens, Version: version},
		midas.WithBaseURL(fake.URL), midas.WithHTTPClient(&http.Client{Timeout: 5 * time.Second}),
		midas.WithMaxRetries(3), midas.WithAttemptTimeout(40*time.Millisecond),
		midas.WithRetryBackoff(100*time.Microsecond, 2*time.Millisecond))
	require.NoError(t, err)

	faults := []midastest.Fault{
		{Errcode: -1}, {Errcode: -1, Applied: true},
		{Status: 502}, {Status: 503, Applied: true},
		{Drop: true}, {Drop: true, Applied: true},
		{Delay: 200 * time.Millisecond}, // applied, answered past the attempt timeout
	}
	var (
		mu        sync.Mutex
		outcomes  []outcome
		injected  int
		tokenExps int
	)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			var paid []outcome // this worker's settled pays, candidates to cancel
			for i := 0; i < perWork; i++ {
				player := fmt.Sprintf("player%02d", rng.IntN(players))
				op := rng.IntN(10)
				opAPI := midas.APIPay
				switch {
				case op < 5:
				case op < 8 || len(paid) == 0:
					opAPI = midas.APIPresent
				default:
					opAPI = midas.APICancelPay
				}
				if rng.IntN(3) == 0 {
					f := faults[rng.IntN(len(faults))]
					f.Times = 1 + rng.IntN(4) // sometimes more than the retries
					// Faults go to this call's API: stable_token faults would
					// (rightly) fail calls for the refresh pause; they have
					// their own tests.
					f.API = opAPI
					fake.Inject(f)
					mu.Lock()
					injected += f.Times
					mu.Unlock()
				}
				if rng.IntN(150) == 0 {
					tok, _ := tokens.Token(bg)
					fake.ExpireToken(tok)
					mu.Lock()
					tokenExps++
					mu.Unlock()
				}
				var o outcome
				var err error
				switch opAPI {
				case midas.APIPay:
					o = outcome{api: midas.APIPay, player: player, billNo: fmt.Sprintf("p-%d-%d", w, i), amount: 1 + rng.Int64N(40)}
					_, err = c.Pay(bg, midas.PayRequest{OpenID: player, SessionKey: aliceKey, BillNo: o.billNo, Amount: o.amount})
				case midas.APIPresent:
					o = outcome{api: midas.APIPresent, player: player, billNo: fmt.Sprintf("g-%d-%d", w, i), amount: 1 + rng.Int64N(40)}
					_, err = c.Present(bg, midas.PresentRequest{OpenID: player, SessionKey: aliceKey, BillNo: o.billNo, Count: o.amount})
				default:
					k := rng.IntN(len(paid))
					p := paid[k]
					paid = append(paid[:k], paid[k+1:]...)
					o = outcome{api: midas.APICancelPay, player: p.player, billNo: p.billNo, amount: p.amount}
					_, err = c.CancelPay(bg, cancelRequest(version, o))
				}
				switch {
				case err == nil:
					o.result = "ok"
				case errors.Is(err, midas.ErrOutcomeUnknown):
					o.result = "unknown"
				default:
					o.result = "failed"
				}
				if err != nil {
					o.err, o.errText = err, fmtAll(err)
				}
				if o.api == midas.APIPay && o.result == "ok" {
					paid = append(paid, o)
				}
				mu.Lock()
				outcomes = append(outcomes, o)
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()

	// Settle every unknown outcome, as a backend would: each settle must end
	// with a clear answer, never run to its deadline.
	settled := map[string]int{}
	unknownReported := 0
	for i := range outcomes {
		o := &outcomes[i]
		if o.result != "unknown" {
			continue
		}
		unknownReported++
		ctx, cancel := context.WithTimeout(bg, 10*time.Second)
		var err error
		switch o.api {
		case midas.APIPay:
			_, err = c.SettlePay(ctx, midas.PayRequest{OpenID: o.player, SessionKey: aliceKey, BillNo: o.billNo, Amount: o.amount})
		case midas.APIPresent:
			_, err = c.SettlePresent(ctx, midas.PresentRequest{OpenID: o.player, SessionKey: aliceKey, BillNo: o.billNo, Count: o.amount})
		case midas.APICancelPay:
			_, err = c.SettleCancelPay(ctx, cancelRequest(version, *o))
		}
		cancel()
		switch {
		case err == nil:
			o.result = "ok"
			settled["ok"]++
		case errors.Is(err, context.DeadlineExceeded):
			settled["ran to the deadline"]++
			t.Errorf("settle of %s %s ran to its deadline: %v", o.api, o.billNo, err)
		case errors.Is(err, midas.ErrOutcomeUnknown):
			settled["still unknown"]++
			t.Errorf("settle of %s %s left it unknown with no fault left: %v", o.api, o.billNo, err)
		default:
			o.result, o.err, o.errText = "failed", err, fmtAll(err)
			settled["definite failure"]++
		}
	}

	// Reconcile the client's reports with the fake's books.
	expected := map[string]int64{}
	var unknown, unknownApplied, failed, mismatches int
	failKinds := map[string]int{}
	for _, o := range outcomes {
		applied := false
		if o.api == midas.APICancelPay {
			ord, ok := fake.Order(midas.Production, o.billNo)
			applied = ok && ord.Cancelled
		} else {
			_, applied = fake.Order(midas.Production, o.billNo)
		}
		switch o.result {
		case "unknown":
			unknown++
			if applied {
				unknownApplied++
			}
		case "failed":
			failed++
			failKinds[failKind(o.err)]++
			if applied {
				mismatches++
				t.Errorf("paid but not delivered: %s %s was applied but reported failed: %s", o.api, o.billNo, o.errText)
			}
		case "ok":
			if !applied {
				mismatches++
				t.Errorf("%s %s reported ok but not applied", o.api, o.billNo)
			}
		}
		if applied {
			switch o.api {
			case midas.APIPay:
				expected[o.player] -= o.amount
			default:
				expected[o.player] += o.amount
			}
		}
		for _, s := range []string{appKey, aliceKey, secret, token, "fake-access-token-"} {
			if strings.Contains(o.errText, s) {
				mismatches++
				t.Errorf("a secret reached an error text: %s", o.errText)
			}
		}
	}
	for p := 0; p < players; p++ {
		player := fmt.Sprintf("player%02d", p)
		total, _ := fake.Balance(midas.Production, player, "")
		if total != start+expected[player] {
			mismatches++
			t.Errorf("%s: balance %d, ledger says %d", player, total, start+expected[player])
		}
	}

	// Nothing applied twice: per bill_no at most one applying call.
	appliedPer := map[string]int{}
	httpCalls, faultsHit := 0, 0
	for _, call := range fake.Calls() {
		if call.API == midastest.APIStableToken {
			continue
		}
		httpCalls++
		if call.Fault != nil {
			faultsHit++
		}
		if call.Applied {
			appliedPer[call.API+"/"+call.Params["bill_no"]]++
		}
	}
	for k, n := range appliedPer {
		if n > 1 {
			mismatches++
			t.Errorf("%s applied %d times", k, n)
		}
	}
	stableCalls, forced := fake.StableTokenCalls()
	t.Logf("calls %d, attempts %d (retries and token refreshes %d), faults injected %d (hit %d), token expiries %d (stable_token calls %d, forced %d), "+
		"unknown outcomes %d, settled: %v; after settling: unknown %d (applied %d), definite failures %d, mismatches %d",
		len(outcomes), httpCalls, httpCalls-len(outcomes), injected, faultsHit, tokenExps, stableCalls, forced, unknownReported, settled, unknown, unknownApplied, failed, mismatches)
	t.Logf("definite failures by kind: %v", failKinds)
	for kind := range failKinds {
		assert.Contains(t, []string{"insufficient balance", "access_token rejected", "not sent"}, kind, "no other definite failure is expected")
	}
	assert.Equal(t, workers*perWork, len(outcomes))
	assert.Zero(t, mismatches)
	assert.Greater(t, faultsHit, 500, "the suite injected faults")
	assert.Greater(t, unknownReported, 0, "some outcomes were unknown (faults past the retries)")
	assert.Equal(t, unknownReported, settled["ok"]+settled["definite failure"], "every settle ended with a clear answer")
}
