package itemshop_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomidas/midas"
	"github.com/gomidas/midas/examples/itemshop"
	"github.com/gomidas/midas/midastest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// postSpend sends POST /spend and returns the status and answer.
func postSpend(t *testing.T, r *rig, player midastest.Player, product string, quantity int64) (int, itemshop.SpendAnswer) {
	t.Helper()
	b, err := json.Marshal(itemshop.SpendRequest{OpenID: player.OpenID, SessionKey: player.SessionKey, ProductID: product, Quantity: quantity})
	require.NoError(t, err)
	resp, err := http.Post(r.url+itemshop.SpendPath, "application/json", bytes.NewReader(b))
	require.NoError(t, err)
	defer resp.Body.Close()
	var a itemshop.SpendAnswer
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&a))
	return resp.StatusCode, a
}

func balance(r *rig, p midastest.Player) int64 {
	total, _ := r.fake.Balance(midas.Production, p.OpenID, "")
	return total
}

func spendState(t *testing.T, r *rig, billNo string) itemshop.SpendState {
	t.Helper()
	sp, ok, err := r.shop.Store().Spend(context.Background(), billNo)
	require.NoError(t, err)
	require.True(t, ok, billNo)
	return sp.State
}

// sessionsOf is a login session store that knows the players' current
// session_keys, as a game's would.
func sessionsOf(ps ...midastest.Player) itemshop.SessionKeys {
	return itemshop.SessionKeysFunc(func(_ context.Context, openID string) (string, bool, error) {
		for _, p := range ps {
			if p.OpenID == openID {
				return p.SessionKey, true, nil
			}
		}
		return "", false, nil
	})
}

// A spend with coins enough is charged once and granted; one without is
// refused and grants nothing; bad requests are refused before any pay.
func TestSpend(t *testing.T) {
	r := newRig(t, false)
	p := players[0]
	r.fake.TopUp(midas.Production, p.OpenID, "", 100)

	status, a := postSpend(t, r, p, "sword", 2)
	require.Equal(t, http.StatusOK, status, a.Error)
	assert.Equal(t, itemshop.SpendPaid, a.State)
	assert.Equal(t, itemshop.SpendPaid, spendState(t, r, a.BillNo))
	assert.EqualValues(t, 80, balance(r, p))

	status, a = postSpend(t, r, p, "shield", 4) // 100 coins
	assert.Equal(t, http.StatusPaymentRequired, status)
	assert.Equal(t, itemshop.SpendFailed, a.State)
	assert.Equal(t, itemshop.SpendFailed, spendState(t, r, a.BillNo))
	assert.EqualValues(t, 80, balance(r, p))
	assert.Equal(t, map[string]int64{"sword": 2}, inventory(t, r, p.OpenID))

	for _, tc := range []struct {
		req    itemshop.SpendRequest
		status int
	}{
		{itemshop.SpendRequest{OpenID: p.OpenID, SessionKey: p.SessionKey, ProductID: "gem_pack_60", Quantity: 1}, http.StatusNotFound},
		{itemshop.SpendRequest{OpenID: p.OpenID, SessionKey: p.SessionKey, ProductID: "sword", Quantity: 0}, http.StatusBadRequest},
		{itemshop.SpendRequest{SessionKey: p.SessionKey, ProductID: "sword", Quantity: 1}, http.StatusBadRequest},
	} {
		status, body := postOrderPath(t, r.url+itemshop.SpendPath, tc.req)
		assert.Equal(t, tc.status, status, "%+v: %s", tc.req, body)
	}
	assert.EqualValues(t, 80, balance(r, p))
	pending, err := r.shop.Store().PendingSpends(context.Background(), "")
	require.NoError(t, err)
	assert.Empty(t, pending)
}

// The process dies, or the answer is lost, after Pay was sent and before its
// outcome was recorded. The spend is pending; a new process settles it on
// start with SettlePay and the same bill_no: the coins are charged exactly
// once and the item granted exactly once, whether or not the lost attempt
// had been applied.
func TestSpendSettledOnStartAfterCrash(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		fault  func(r *rig)
		late   bool // the lost attempt lands after the settle
	}{
		{"pay lands after the settle", http.StatusAccepted, func(r *rig) {
			r.fake.Inject(midastest.Fault{API: midas.APIPay, ApplyAfter: 400 * time.Millisecond})
		}, true},
		{"answer dropped after the pay applied", http.StatusAccepted, func(r *rig) {
			r.fake.Inject(midastest.Fault{API: midas.APIPay, Drop: true, Applied: true})
		}, false},
		{"answer dropped, pay not applied", http.StatusAccepted, func(r *rig) {
			r.fake.Inject(midastest.Fault{API: midas.APIPay, Drop: true})
		}, false},
		{"answer later than the attempt timeout", http.StatusAccepted, func(r *rig) {
			r.fake.Inject(midastest.Fault{API: midas.APIPay, Delay: 400 * time.Millisecond})
		}, false},
		{"crash before the outcome was recorded", http.StatusInternalServerError, func(r *rig) {
			r.store.mu.Lock()
			r.store.failFinish = true
			r.store.mu.Unlock()
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			r := newRig(t, false, midas.WithMaxRetries(0), midas.WithAttemptTimeout(150*time.Millisecond))
			p := players[1]
			r.fake.TopUp(midas.Production, p.OpenID, "", 100)
			tc.fault(r)

			status, a := postSpend(t, r, p, "shield", 2) // 50 coins
			require.Equal(t, tc.status, status, a.Error)
			assert.Equal(t, itemshop.SpendPending, a.State)
			assert.Equal(t, itemshop.SpendPending, spendState(t, r, a.BillNo))
			assert.Empty(t, inventory(t, r, p.OpenID))

			if !tc.late {
				time.Sleep(500 * time.Millisecond) // a delayed attempt lands meanwhile
			}
			r.restart(t, sessionsOf(p))
			rep, err := r.shop.SettlePending(ctx)
			require.NoError(t, err)
			assert.Equal(t, itemshop.SettleReport{Settled: 1}, rep)
			assert.Equal(t, itemshop.SpendPaid, spendState(t, r, a.BillNo))
			assert.EqualValues(t, 50, balance(r, p), "charged exactly once")
			assert.Equal(t, map[string]int64{"shield": 2}, inventory(t, r, p.OpenID), "granted exactly once")

			// Settling again, or another restart, changes nothing; nor does
			// the lost attempt when it lands at last.
			time.Sleep(500 * time.Millisecond)
			r.restart(t, sessionsOf(p))
			rep, err = r.shop.SettlePending(ctx)
			require.NoError(t, err)
			assert.Equal(t, itemshop.SettleReport{}, rep)
			assert.EqualValues(t, 50, balance(r, p))
			assert.Equal(t, map[string]int64{"shield": 2}, inventory(t, r, p.OpenID))
		})
	}
}

// Without a session_key for the player, a pending 2.0 spend cannot be
// settled (SettlePay is signed with it): it waits, still pending, until the
// player calls in; a stale session_key leaves it pending too. The player's
// next spend settles it first.
func TestPendingSpendWaitsForThePlayer(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, false, midas.WithMaxRetries(0))
	p := players[2]
	r.fake.TopUp(midas.Production, p.OpenID, "", 100)
	r.fake.Inject(midastest.Fault{API: midas.APIPay, Drop: true, Applied: true})
	status, first := postSpend(t, r, p, "sword", 3) // 30 coins
	require.Equal(t, http.StatusAccepted, status)

	r.restart(t, nil) // no session store
	rep, err := r.shop.SettlePending(ctx)
	require.NoError(t, err)
	assert.Equal(t, itemshop.SettleReport{Waiting: 1}, rep)
	assert.Equal(t, itemshop.SpendPending, spendState(t, r, first.BillNo))

	stale := p
	p.SessionKey = "AAAAAAAAAAAAAAAAAAAAAA=="
	require.NoError(t, r.fake.SetSessionKey(p.OpenID, p.SessionKey)) // the player logged in again
	r.restart(t, sessionsOf(stale))
	rep, err = r.shop.SettlePending(ctx)
	require.NoError(t, err)
	assert.Equal(t, itemshop.SettleReport{Pending: 1}, rep, "a stale session_key settles nothing")
	assert.Equal(t, itemshop.SpendPending, spendState(t, r, first.BillNo))
	assert.Empty(t, inventory(t, r, p.OpenID))
	assert.EqualValues(t, 70, balance(r, p), "the lost pay was applied")

	status, second := postSpend(t, r, p, "sword", 1)
	require.Equal(t, http.StatusOK, status, second.Error)
	assert.Equal(t, itemshop.SpendPaid, spendState(t, r, first.BillNo), "settled when the player called in")
	assert.Equal(t, itemshop.SpendPaid, spendState(t, r, second.BillNo))
	assert.EqualValues(t, 60, balance(r, p))
	assert.Equal(t, map[string]int64{"sword": 4}, inventory(t, r, p.OpenID))
}

// A settle's 90013 is final only from a settle begun LateLandingWindow after
// the pay was sent: before that a lost attempt may still land, so the spend
// stays pending; after it, the spend fails and nothing is granted.
func TestSettleRefusalFinalAfterLateLandingWindow(t *testing.T) {
	ctx := context.Background()
	var skew atomic.Int64
	r := newRig(t, false, midas.WithMaxRetries(0))
	r.now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	r.restart(t, nil)
	p := players[0]
	r.fake.TopUp(midas.Production, p.OpenID, "", 100)
	r.fake.Inject(midastest.Fault{API: midas.APIPay, Drop: true})
	status, a := postSpend(t, r, p, "shield", 5) // 125 coins: more than the player has
	require.Equal(t, http.StatusAccepted, status)

	r.restart(t, sessionsOf(p))
	rep, err := r.shop.SettlePending(ctx)
	require.NoError(t, err)
	assert.Equal(t, itemshop.SettleReport{Pending: 1}, rep, "refused within the window: not final")
	assert.Equal(t, itemshop.SpendPending, spendState(t, r, a.BillNo))

	skew.Store(int64(midas.LateLandingWindow + 15*time.Second))
	rep, err = r.shop.SettlePending(ctx)
	require.NoError(t, err)
	assert.Equal(t, itemshop.SettleReport{Settled: 1}, rep)
	assert.Equal(t, itemshop.SpendFailed, spendState(t, r, a.BillNo))
	assert.EqualValues(t, 100, balance(r, p))
	assert.Empty(t, inventory(t, r, p.OpenID))
}

// A settle begun after the window can itself end unknown (its attempt held
// inside WeChat). That attempt may land later, so a refusal from the next
// settle is final only a window after the unknown settle, not after the
// pay: otherwise the spend fails, the held attempt charges, and the player
// loses the coins with nothing granted.
func TestSettleRefusalAfterAnUnknownSettleWaitsAnotherWindow(t *testing.T) {
	ctx := context.Background()
	var skew atomic.Int64
	r := newRig(t, false, midas.WithMaxRetries(0), midas.WithSettleMaxAttempts(1))
	r.now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	r.restart(t, nil)
	p := players[0]
	r.fake.TopUp(midas.Production, p.OpenID, "", 100)
	r.fake.Inject(midastest.Fault{API: midas.APIPay, Drop: true})
	status, a := postSpend(t, r, p, "shield", 5) // 125 coins: more than the player has
	require.Equal(t, http.StatusAccepted, status)

	skew.Store(int64(midas.LateLandingWindow + 15*time.Second)) // the pay's window has passed
	r.restart(t, sessionsOf(p))
	r.fake.Inject(midastest.Fault{API: midas.APIPay, ApplyAfter: 300 * time.Millisecond})
	rep, err := r.shop.SettlePending(ctx) // its attempt is held: unknown
	require.NoError(t, err)
	require.Equal(t, itemshop.SettleReport{Pending: 1}, rep)

	rep, err = r.shop.SettlePending(ctx) // answered 90013 while that attempt is still held
	require.NoError(t, err)
	assert.Equal(t, itemshop.SettleReport{Pending: 1}, rep)
	assert.Equal(t, itemshop.SpendPending, spendState(t, r, a.BillNo), "refused within the unknown settle's window: not final")

	r.fake.TopUp(midas.Production, p.OpenID, "", 100) // the player tops up meanwhile
	require.Eventually(t, func() bool { return r.fake.Pending() == 0 }, 5*time.Second, time.Millisecond)
	require.EqualValues(t, 200-125, balance(r, p), "the held settle attempt charged")

	skew.Add(int64(midas.LateLandingWindow + 15*time.Second))
	_, err = r.shop.SettlePending(ctx)
	require.NoError(t, err)
	assert.Equal(t, itemshop.SpendPaid, spendState(t, r, a.BillNo), "charged, so granted")
	assert.Equal(t, map[string]int64{"shield": 5}, inventory(t, r, p.OpenID))
}

// Two settles of one spend at once (the settler and the player's POST
// /spend, or two instances): while the first one's attempt is held inside
// WeChat, a refusal the second gets is not final, though the pay's window
// has long passed; the held attempt then charges, and the spend is paid.
func TestSettleRefusalWhileAnotherSettleIsInFlightIsNotFinal(t *testing.T) {
	ctx := context.Background()
	var skew atomic.Int64
	r := newRig(t, false, midas.WithMaxRetries(0), midas.WithSettleMaxAttempts(1))
	r.now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	r.restart(t, nil)
	p := players[1]
	r.fake.TopUp(midas.Production, p.OpenID, "", 100)
	r.fake.Inject(midastest.Fault{API: midas.APIPay, Drop: true})
	status, a := postSpend(t, r, p, "shield", 5) // 125 coins: more than the player has
	require.Equal(t, http.StatusAccepted, status)

	skew.Store(int64(midas.LateLandingWindow + 15*time.Second)) // the pay's window has passed
	r.restart(t, sessionsOf(p))
	// The first settle's attempt is held, its connection open a while.
	r.fake.Inject(midastest.Fault{API: midas.APIPay, ApplyAfter: time.Second, Delay: 500 * time.Millisecond})
	first := make(chan itemshop.SettleReport, 1)
	go func() {
		rep, err := r.shop.SettlePending(ctx)
		assert.NoError(t, err)
		first <- rep
	}()
	require.Eventually(t, func() bool { return r.fake.Pending() == 1 }, 5*time.Second, time.Millisecond)

	rep, err := r.shop.SettlePending(ctx) // answered 90013 while the first is in flight
	require.NoError(t, err)
	assert.Equal(t, itemshop.SettleReport{Pending: 1}, rep, "refused while another settle may land: not final")
	assert.Equal(t, itemshop.SettleReport{Pending: 1}, <-first)
	assert.Equal(t, itemshop.SpendPending, spendState(t, r, a.BillNo))

	r.fake.TopUp(midas.Production, p.OpenID, "", 100)
	require.Eventually(t, func() bool { return r.fake.Pending() == 0 }, 5*time.Second, time.Millisecond)
	require.EqualValues(t, 200-125, balance(r, p), "the held settle attempt charged")

	skew.Add(int64(midas.LateLandingWindow + 15*time.Second))
	rep, err = r.shop.SettlePending(ctx)
	require.NoError(t, err)
	assert.Equal(t, itemshop.SettleReport{Settled: 1}, rep)
	assert.Equal(t, itemshop.SpendPaid, spendState(t, r, a.BillNo), "charged, so granted")
	assert.Equal(t, map[string]int64{"shield": 5}, inventory(t, r, p.OpenID))
}
