package itemshop_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/gomidas/midas"
	"github.com/gomidas/midas/examples/itemshop"
	"github.com/gomidas/midas/midastest"
	"github.com/gomidas/midas/push"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every delivery push is lost, then WeChat refunds the order: the refund
// push is recorded, and neither Reconcile (QueryOrder still says paid) nor
// the delivery pushes that come late grant anything.
func TestRefundedOrderNeverReconciled(t *testing.T) {
	modes(t, func(t *testing.T, r *rig) {
		ctx := context.Background()
		o := r.order(t, players[0], "gem_pack_60", 2)
		id := o.data.OutTradeNo

		down := r.target
		down.URL, down.Handler = "", http.NotFoundHandler()
		_, err := r.fake.BuyItem(ctx, o.purchase(), down)
		require.ErrorIs(t, err, midastest.ErrNotDelivered)

		res, err := r.fake.Refund(ctx, midastest.RefundNotice{OutTradeNo: id, RefundID: "refund-1"}, r.target)
		require.NoError(t, err)
		require.True(t, res.Delivered, "the refund push is acknowledged")
		s := stored(t, r, id)
		assert.True(t, s.Refunded)
		assert.False(t, s.Delivered)

		info, ok := r.fake.OrderInfo(midas.Production, id)
		require.True(t, ok && info.Paid, "the fake still answers paid")
		done, err := r.shop.Reconcile(ctx, id, o.player.SessionKey)
		assert.ErrorIs(t, err, itemshop.ErrRefunded)
		assert.False(t, done)

		for _, p := range r.fake.Pushes() {
			got, err := r.fake.Resend(ctx, r.target, p)
			require.NoError(t, err)
			assert.True(t, got.Success, "a late push of a refunded order is acknowledged")
		}
		assert.Empty(t, r.store.grantsOf())
		assert.Empty(t, inventory(t, r, players[0].OpenID))
		assert.False(t, stored(t, r, id).Delivered)
	})
}

// A refund of a delivered order revokes its items, once however often the
// push repeats; the player's other orders are untouched.
func TestRefundOfDeliveredOrderRevokes(t *testing.T) {
	modes(t, func(t *testing.T, r *rig) {
		ctx := context.Background()
		kept := r.order(t, players[1], "sword", 1)
		refunded := r.order(t, players[1], "sword", 3)
		for _, o := range []placed{kept, refunded} {
			res, err := r.fake.BuyItem(ctx, o.purchase(), r.target)
			require.NoError(t, err)
			require.True(t, res.Delivered)
		}
		require.Equal(t, map[string]int64{"sword": 4}, inventory(t, r, players[1].OpenID))

		res, err := r.fake.Refund(ctx, midastest.RefundNotice{OutTradeNo: refunded.data.OutTradeNo, Source: push.RefundSourceMP}, r.target)
		require.NoError(t, err)
		require.True(t, res.Delivered)
		for i := 0; i < 3; i++ {
			got, err := r.fake.Resend(ctx, r.target, res.Pushes[0])
			require.NoError(t, err)
			assert.True(t, got.Success)
		}
		assert.Equal(t, map[string]int64{"sword": 1}, inventory(t, r, players[1].OpenID))
		s := stored(t, r, refunded.data.OutTradeNo)
		assert.True(t, s.Delivered && s.Refunded, "delivered, then refunded")

		_, err = r.shop.Reconcile(ctx, refunded.data.OutTradeNo, players[1].SessionKey)
		assert.ErrorIs(t, err, itemshop.ErrRefunded)
		for _, p := range r.fake.Pushes() {
			if p.Event == midastest.EventItemDeliver {
				_, err := r.fake.Resend(ctx, r.target, p)
				require.NoError(t, err)
			}
		}
		assert.Equal(t, map[string]int64{"sword": 1}, inventory(t, r, players[1].OpenID))
		assert.Equal(t, map[string]int{kept.data.OutTradeNo: 1, refunded.data.OutTradeNo: 1}, r.store.grantsOf())
	})
}

// A refund that arrives before any delivery push, for an order the shop has
// no record of (a store purchase), keeps that order from ever being
// delivered.
func TestRefundBeforeUnknownOrder(t *testing.T) {
	r := newRig(t, false)
	ctx := context.Background()
	down := r.target
	down.URL, down.Handler = "", http.NotFoundHandler()
	bought, err := r.fake.BuyItem(ctx, midastest.ItemPurchase{OpenID: "player-3", ProductID: "shield", Price: 250,
		Source: push.SourceStore, Event: push.EventDeliverH5PayProducts}, down)
	require.ErrorIs(t, err, midastest.ErrNotDelivered)
	_, err = r.fake.Refund(ctx, midastest.RefundNotice{OutTradeNo: bought.OutTradeNo}, r.target)
	require.NoError(t, err)
	got, err := r.fake.Resend(ctx, r.target, bought.Pushes[0])
	require.NoError(t, err)
	assert.True(t, got.Success)
	assert.Empty(t, r.store.grantsOf())
	assert.Empty(t, inventory(t, r, "player-3"))
	assert.True(t, stored(t, r, bought.OutTradeNo).Refunded)
}

// OutTradeNo is unique per env only: a sandbox refund of an id that is also
// a delivered production order changes nothing, even on a shop that
// verifies sandbox pushes.
func TestRefundOfOtherEnvIgnored(t *testing.T) {
	r := newRig(t, false)
	r.pushCfg.SandboxAppKey = sandboxKey
	r.restart(t, nil)
	ctx := context.Background()
	o := r.order(t, players[0], "sword", 1)
	_, err := r.fake.BuyItem(ctx, o.purchase(), r.target)
	require.NoError(t, err)
	sandboxOrder := o.purchase()
	sandboxOrder.Env = midas.Sandbox
	_, err = r.fake.BuyItem(ctx, sandboxOrder, midastest.PushTarget{Token: pushToken, Handler: http.NotFoundHandler(), RetryUnit: 1})
	require.ErrorIs(t, err, midastest.ErrNotDelivered)
	res, err := r.fake.Refund(ctx, midastest.RefundNotice{Env: midas.Sandbox, OutTradeNo: o.data.OutTradeNo}, r.target)
	require.NoError(t, err)
	assert.True(t, res.Delivered)
	s := stored(t, r, o.data.OutTradeNo)
	assert.True(t, s.Delivered)
	assert.False(t, s.Refunded)
	assert.Equal(t, map[string]int64{"sword": 1}, inventory(t, r, players[0].OpenID))
}
