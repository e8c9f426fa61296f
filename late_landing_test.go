package midas_test

import (
	"testing"
	"time"

	"github.com/gomidas/midas"
	"github.com/gomidas/midas/midastest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// heldPay makes every attempt of the next pay go unanswered and land hold
// later, as a request queued inside WeChat past the client's attempts.
func heldPay(fake *midastest.Server, hold time.Duration) {
	fake.Inject(midastest.Fault{API: midas.APIPay, Times: 1 + midas.DefaultMaxRetries, ApplyAfter: hold})
}

// waitLanded waits until every held request has landed: in the fake, that
// is when the late-landing window has passed.
func waitLanded(t *testing.T, fake *midastest.Server) {
	t.Helper()
	require.Eventually(t, func() bool { return fake.Pending() == 0 }, 5*time.Second, time.Millisecond)
}

// Why an unknown pay is never resolved by refunding it: the refund finds no
// pay (90000), then the pay lands, and the coins are gone with nothing
// delivered and nothing refunded. The fake reproduces it.
func TestLateLandingDefeatsARefund(t *testing.T) {
	fake := midastest.New(fakeCfg())
	c := fakeClient(t, fake, nil)
	heldPay(fake, 50*time.Millisecond)
	req := midas.PayRequest{OpenID: alice, BillNo: "late-refund", Amount: 60}
	_, err := c.Pay(bg, req)
	require.ErrorIs(t, err, midas.ErrOutcomeUnknown)

	_, err = c.CancelPay(bg, midas.CancelPayRequest{OpenID: alice, BillNo: req.BillNo})
	require.ErrorIs(t, err, midas.ErrOrderNotFound, "the refund finds no pay yet")
	waitLanded(t, fake)
	total, _ := fake.Balance(midas.Production, alice, "")
	assert.Equal(t, int64(110-60), total, "the pay landed after the refund said it never happened")
	var landed int
	for _, call := range payCalls(fake, midas.APIPay) {
		if call.Landed && call.Applied {
			landed++
		}
	}
	assert.Equal(t, 1, landed, "one held attempt landed and charged; the others met 90012")
}

// The documented flow: an unknown pay is settled with SettlePay, never
// refunded; a settle's success is final; a settle's refusal within the
// late-landing window is not, and a settle after the window decides. No
// coins are lost either way.
func TestSettleAfterLateLandingLosesNoCoins(t *testing.T) {
	t.Run("settle charges, the late attempt meets 90012", func(t *testing.T) {
		fake := midastest.New(fakeCfg())
		c := fakeClient(t, fake, nil)
		heldPay(fake, 50*time.Millisecond)
		req := midas.PayRequest{OpenID: alice, BillNo: "late-1", Amount: 60}
		_, err := c.Pay(bg, req)
		require.ErrorIs(t, err, midas.ErrOutcomeUnknown)

		resp, err := c.SettlePay(bg, req)
		require.NoError(t, err, "success is final: deliver")
		waitLanded(t, fake)
		total, _ := fake.Balance(midas.Production, alice, "")
		assert.Equal(t, int64(110-60), total, "charged once")
		assert.True(t, resp.BalanceKnown)
		for _, call := range payCalls(fake, midas.APIPay) {
			if call.Landed {
				assert.Equal(t, midas.CodeOrderExists, call.Errcode, "a late attempt never charges twice")
			}
		}
	})

	t.Run("settle refused within the window, then the pay lands", func(t *testing.T) {
		fake := midastest.New(fakeCfg()) // alice holds 110
		c := fakeClient(t, fake, nil)
		heldPay(fake, 50*time.Millisecond)
		req := midas.PayRequest{OpenID: alice, BillNo: "late-2", Amount: 150}
		_, err := c.Pay(bg, req)
		require.ErrorIs(t, err, midas.ErrOutcomeUnknown)

		// Within the window a settle's 90013 is not final: the order stays
		// open, nothing is delivered, nothing is given back.
		_, err = c.SettlePay(bg, req)
		require.ErrorIs(t, err, midas.ErrInsufficientBalance)
		fake.TopUp(midas.Production, alice, "", 100) // the player tops up meanwhile
		waitLanded(t, fake)                          // the held pay lands: it charges now

		// After the window, settling again decides.
		resp, err := c.SettlePay(bg, req)
		require.NoError(t, err, "the late attempt's charge is found: deliver")
		assert.True(t, resp.AlreadyProcessed)
		assert.False(t, resp.BalanceKnown, "90012 carries no balance")
		total, _ := fake.Balance(midas.Production, alice, "")
		assert.Equal(t, int64(110+100-150), total, "charged once, and delivered")
	})

	t.Run("settle refused after the window is final", func(t *testing.T) {
		fake := midastest.New(fakeCfg())
		c := fakeClient(t, fake, nil)
		heldPay(fake, 20*time.Millisecond)
		req := midas.PayRequest{OpenID: alice, BillNo: "late-3", Amount: 500}
		_, err := c.Pay(bg, req)
		require.ErrorIs(t, err, midas.ErrOutcomeUnknown)
		waitLanded(t, fake) // the held attempts land and are refused
		_, err = c.SettlePay(bg, req)
		require.ErrorIs(t, err, midas.ErrInsufficientBalance, "nothing was deducted: the order can be closed")
		total, _ := fake.Balance(midas.Production, alice, "")
		assert.Equal(t, int64(110), total)
	})
}

// A settle begun after the window can itself lose an answer: its own held
// attempt may land after its retry was refused 90013. Such a settle's
// outcome is unknown, never a refusal: the docs make a refusal from a settle
// begun after the window final, and closing the order then loses the coins
// the held attempt takes.
func TestSettleWhoseOwnAttemptIsHeldIsNotARefusal(t *testing.T) {
	fake := midastest.New(fakeCfg()) // alice holds 110
	c := fakeClient(t, fake, nil)
	heldPay(fake, 20*time.Millisecond)
	req := midas.PayRequest{OpenID: alice, BillNo: "late-own", Amount: 150}
	_, err := c.Pay(bg, req)
	require.ErrorIs(t, err, midas.ErrOutcomeUnknown)
	waitLanded(t, fake) // the pay's attempts land and are refused: the window has passed

	// The settle's first attempt is held inside WeChat; its retry is
	// answered 90013.
	fake.Inject(midastest.Fault{API: midas.APIPay, ApplyAfter: 50 * time.Millisecond})
	_, settleErr := c.SettlePay(bg, req)
	fake.TopUp(midas.Production, alice, "", 100) // the player tops up meanwhile
	waitLanded(t, fake)                          // the settle's held attempt lands and charges
	total, _ := fake.Balance(midas.Production, alice, "")
	require.Equal(t, int64(110+100-150), total, "the settle's own held attempt charged")
	require.ErrorIs(t, settleErr, midas.ErrOutcomeUnknown, "a final refusal here loses the 150 coins")
	require.NotErrorIs(t, settleErr, midas.ErrInsufficientBalance)
}
