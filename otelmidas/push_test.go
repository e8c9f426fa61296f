package otelmidas_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/gomidas/midas"
	"github.com/gomidas/midas/midastest"
	"github.com/gomidas/midas/otelmidas"
	"github.com/gomidas/midas/push"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
)

// Forged, duplicate, mock and genuine pushes from the fake WeChat, and a
// handler that fails once: each is counted by event, result and delivery,
// exactly, and no span or metric label holds a secret or an openid.
func TestPushRunCountedByReason(t *testing.T) {
	for _, secure := range []bool{false, true} {
		name := "plain"
		if secure {
			name = "secure"
		}
		t.Run(name, func(t *testing.T) { pushRun(t, secure) })
	}
}

func pushRun(t *testing.T, secure bool) {
	tm := newTelemetry(t)
	fake := newFake(t, 1)
	cfg := push.Config{Token: pushToken, AppID: appID, AppKey: appKey, SandboxAppKey: sbKey}
	target := midastest.PushTarget{Token: pushToken}
	if secure {
		cfg.EncodingAESKey, target.EncodingAESKey = aesKey, aesKey
	}
	var failOnce atomic.Bool
	failOnce.Store(true)
	h, err := push.NewHandler(cfg, push.Handlers{
		ItemDelivered: func(_ context.Context, d *push.ItemDelivery) error {
			if d.OutTradeNo == "PUSH-FAIL" && failOnce.Swap(false) {
				return errors.New("store unavailable")
			}
			return nil
		},
		CoinsDelivered: func(context.Context, *push.CoinDelivery) error { return nil },
	}, push.WithObserver(tm.obs), push.WithDeduper(push.NewMemoryDeduper()))
	require.NoError(t, err)
	target.Handler = h
	player := openIDPfx + "00"
	item := midastest.EventItemDeliver

	// Genuine: two items, a sandbox item, a coin top-up; one item whose
	// handler fails first (WeChat's retry then delivers it).
	for _, p := range []midastest.ItemPurchase{
		{OpenID: player, OutTradeNo: "PUSH-1", ProductID: "sword", Price: 100},
		{OpenID: player, OutTradeNo: "PUSH-2", ProductID: "shield", Price: 100},
		{OpenID: player, OutTradeNo: "PUSH-SB", ProductID: "sword", Price: 100, Env: midas.Sandbox},
		{OpenID: player, OutTradeNo: "PUSH-FAIL", ProductID: "sword", Price: 100},
	} {
		res, err := fake.BuyItem(bg, p, target)
		require.NoError(t, err)
		require.True(t, res.Delivered)
	}
	res, err := fake.BuyCoins(bg, midastest.CoinPurchase{OpenID: player, OutTradeNo: "PUSH-C1", Quantity: 60, Price: 600}, target)
	require.NoError(t, err)
	require.True(t, res.Delivered)

	// Duplicates: WeChat repeats two delivered pushes byte for byte.
	for _, p := range fake.Pushes()[:2] {
		again, err := fake.Resend(bg, target, p)
		require.NoError(t, err)
		require.True(t, again.Success)
	}

	// Forged and odd ones.
	payload := []byte(`{"OpenId":"` + player + `","OutTradeNo":"PUSH-F","Env":0,"GoodsInfo":{"ProductId":"sword","Quantity":1,"ZoneId":"1","OrigPrice":100,"ActualPrice":100,"Attach":"","OrderSource":1},"WeChatPayInfo":{"MchOrderNo":"m","TransactionId":"t"}}`)
	forged := []midastest.PushOptions{
		{BadSignature: true}, {BadSignature: true}, {BadSignature: true},
		{BadPayEventSig: true}, {BadPayEventSig: true},
		{OtherEnvKey: true},
	}
	if secure {
		forged = append(forged, midastest.PushOptions{BadMsgSignature: true}, midastest.PushOptions{AppID: "wx_another_game"})
	}
	for _, o := range forged {
		p, err := fake.PushRaw(bg, target, item, payload, o)
		require.NoError(t, err)
		require.False(t, p.Success)
	}
	mock, err := fake.PushRaw(bg, target, item, payload, midastest.PushOptions{IsMock: true})
	require.NoError(t, err)
	require.True(t, mock.Success)

	ms := tm.metrics(t)
	count := func(match ...string) int64 { return sum(t, ms, otelmidas.MetricPushes, match...) }
	accepted := []string{"midas.push.result=accepted"}
	itemEv := "midas.push.event=" + item
	require.EqualValues(t, 4, count(append(accepted, itemEv, "midas.push.delivery=delivered")...), "PUSH-1, -2, -SB, and -FAIL's retry")
	require.EqualValues(t, 1, count(append(accepted, "midas.push.event="+midastest.EventCoinDeliver, "midas.push.delivery=delivered")...))
	require.EqualValues(t, 1, count(append(accepted, itemEv, "midas.push.delivery=failed")...))
	require.EqualValues(t, 2, count(append(accepted, "midas.push.delivery=duplicate")...))
	require.EqualValues(t, 1, count(append(accepted, itemEv, "midas.push.delivery=mock")...))
	require.EqualValues(t, 3, count("midas.push.result="+push.RejectURLSignature, "midas.push.event="))
	require.EqualValues(t, 3, count("midas.push.result="+push.RejectPayEventSig, itemEv), "forged and other env's key")
	wantRejected := int64(6)
	if secure {
		require.EqualValues(t, 1, count("midas.push.result="+push.RejectMsgSignature))
		require.EqualValues(t, 1, count("midas.push.result="+push.RejectAppID))
		wantRejected += 2
	}
	require.EqualValues(t, int64(len(fake.Pushes())), count(), "every push the fake sent is counted once")
	require.Equal(t, wantRejected, count()-count(accepted...))
	require.EqualValues(t, count(), sum(t, ms, otelmidas.MetricPushDuration))
	require.EqualValues(t, 6, sum(t, ms, otelmidas.MetricHandlerDuration), "the handler ran for the 5 delivered and the 1 failed")

	spans := tm.spans.Ended()
	require.EqualValues(t, count(), len(spans))
	failed := 0
	for _, s := range spans {
		require.Equal(t, otelmidas.SpanPush, s.Name())
		if s.Status().Code == codes.Error {
			failed++
		}
		if attrString(s, "midas.push.out_trade_no") == "PUSH-SB" {
			require.Equal(t, "sandbox", attrString(s, "midas.env"))
		}
	}
	require.EqualValues(t, wantRejected+1, failed, "refused pushes and the failed delivery are errors")
	requireNoSecret(t, tm.everyText(t), "sword", "shield")
}
