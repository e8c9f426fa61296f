package midastest_test

import (
	"context"
	"testing"
	"time"

	"github.com/gomidas/midas"
	"github.com/gomidas/midas/midastest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ApplyAfter answers nothing and applies the request later, as a request
// WeChat held past the caller's timeout.
func TestFaultApplyAfter(t *testing.T) {
	srv := midastest.NewServer(fakeConfig())
	defer srv.Close()
	c := client(t, srv, midas.Production)

	// Held past the caller's deadline (Delay), applied after 100 ms.
	srv.Inject(midastest.Fault{API: midas.APIPay, Delay: time.Second, ApplyAfter: 100 * time.Millisecond})
	ctx, cancel := context.WithTimeout(bg, 20*time.Millisecond)
	defer cancel()
	_, err := c.Pay(ctx, midas.PayRequest{OpenID: alice, BillNo: "held-1", Amount: 30})
	require.ErrorIs(t, err, midas.ErrOutcomeUnknown)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, 1, srv.Pending())
	_, ok := srv.Order(midas.Production, "held-1")
	assert.False(t, ok, "not applied when the caller gave up")
	calls := srv.Calls()
	require.Len(t, calls, 1)
	assert.False(t, calls[0].Landed)
	assert.False(t, calls[0].Applied)

	require.Eventually(t, func() bool { return srv.Pending() == 0 }, 5*time.Second, time.Millisecond)
	_, ok = srv.Order(midas.Production, "held-1")
	assert.True(t, ok, "landed later")
	total, _ := srv.Balance(midas.Production, alice, "")
	assert.Equal(t, int64(90), total)
	calls = srv.Calls()
	assert.True(t, calls[0].Landed)
	assert.True(t, calls[0].Applied)
	assert.Equal(t, 0, calls[0].Errcode)

	// Without Delay the connection is dropped at once; a refusal met on
	// landing is recorded, and changes nothing.
	srv.Inject(midastest.Fault{API: midas.APIPay, ApplyAfter: 10 * time.Millisecond})
	_, err = c.Pay(bg, midas.PayRequest{OpenID: alice, BillNo: "held-2", Amount: 1000})
	require.ErrorIs(t, err, midas.ErrOutcomeUnknown)
	require.Eventually(t, func() bool { return srv.Pending() == 0 }, 5*time.Second, time.Millisecond)
	calls = srv.Calls()
	last := calls[len(calls)-1]
	assert.True(t, last.Landed)
	assert.False(t, last.Applied)
	assert.Equal(t, midas.CodeInsufficientBalance, last.Errcode)

	// Close drops what is still held.
	srv.Inject(midastest.Fault{API: midas.APIPresent, ApplyAfter: 50 * time.Millisecond})
	_, err = c.Present(bg, midas.PresentRequest{OpenID: alice, BillNo: "held-3", Count: 5})
	require.ErrorIs(t, err, midas.ErrOutcomeUnknown)
	srv.Close()
	assert.Equal(t, 0, srv.Pending())
	time.Sleep(100 * time.Millisecond)
	_, ok = srv.Order(midas.Production, "held-3")
	assert.False(t, ok, "never lands after Close")
}

// A held request's access_token and session are checked when it arrives,
// as WeChat does: ending them while it is held does not stop it landing.
// Its balance is checked when it lands.
func TestFaultApplyAfterChecksCredentialsOnArrival(t *testing.T) {
	srv := midastest.NewServer(fakeConfig())
	defer srv.Close()
	c := client(t, srv, midas.Production)
	srv.Inject(midastest.Fault{API: midas.APIPay, ApplyAfter: 50 * time.Millisecond})
	_, err := c.Pay(bg, midas.PayRequest{OpenID: alice, SessionKey: aliceKey, BillNo: "held-creds", Amount: 30})
	require.ErrorIs(t, err, midas.ErrOutcomeUnknown)
	srv.ExpireSession(alice)
	srv.ExpireToken(token)
	require.Eventually(t, func() bool { return srv.Pending() == 0 }, 5*time.Second, time.Millisecond)
	calls := srv.Calls()
	last := calls[len(calls)-1]
	assert.True(t, last.Landed)
	assert.Equal(t, 0, last.Errcode)
	assert.True(t, last.Applied, "checked on arrival: landed though the session and token ended meanwhile")
	total, _ := srv.Balance(midas.Production, alice, "")
	assert.Equal(t, int64(90), total)

	// A token already ended on arrival is refused, when it lands.
	srv.Inject(midastest.Fault{API: midas.APIPay, ApplyAfter: 10 * time.Millisecond})
	_, err = c.Pay(bg, midas.PayRequest{OpenID: alice, BillNo: "held-late-token", Amount: 1})
	require.ErrorIs(t, err, midas.ErrOutcomeUnknown)
	srv.AddToken(token)
	require.Eventually(t, func() bool { return srv.Pending() == 0 }, 5*time.Second, time.Millisecond)
	calls = srv.Calls()
	last = calls[len(calls)-1]
	assert.Equal(t, midas.CodeAccessTokenExpired, last.Errcode, "refused on arrival though the token was renewed before it landed")
	assert.False(t, last.Applied)
}
