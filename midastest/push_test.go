package midastest_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomidas/midas"
	"github.com/gomidas/midas/midastest"
	"github.com/gomidas/midas/push"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The push URL settings of the game, as configured in MP.
const (
	pushToken  = "pushTOKENsecret7"
	pushAESKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG" // 43 characters
	buyer      = "o_buyer_openid"
)

// pushClock is the fake's fixed time.
var pushClock = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func pushFake() *midastest.Server {
	cfg := fakeConfig()
	cfg.Now = func() time.Time { return pushClock }
	return midastest.New(cfg)
}

// deliveries records what the receiver's handlers were called with, failing
// the first failFirst calls of each.
type deliveries struct {
	mu        sync.Mutex
	failFirst int
	calls     int
	items     []*push.ItemDelivery
	coins     []*push.CoinDelivery
	refunds   []*push.Refund
}

func (d *deliveries) fail() error {
	d.calls++
	if d.calls <= d.failFirst {
		return errors.New("database down")
	}
	return nil
}

func (d *deliveries) handlers() push.Handlers {
	return push.Handlers{
		ItemDelivered: func(_ context.Context, x *push.ItemDelivery) error {
			d.mu.Lock()
			defer d.mu.Unlock()
			if err := d.fail(); err != nil {
				return err
			}
			d.items = append(d.items, x)
			return nil
		},
		CoinsDelivered: func(_ context.Context, x *push.CoinDelivery) error {
			d.mu.Lock()
			defer d.mu.Unlock()
			if err := d.fail(); err != nil {
				return err
			}
			d.coins = append(d.coins, x)
			return nil
		},
		Refunded: func(_ context.Context, x *push.Refund) error {
			d.mu.Lock()
			defer d.mu.Unlock()
			if err := d.fail(); err != nil {
				return err
			}
			d.refunds = append(d.refunds, x)
			return nil
		},
	}
}

func (d *deliveries) snapshot() (calls int, items []*push.ItemDelivery, coins []*push.CoinDelivery, refunds []*push.Refund) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calls, append([]*push.ItemDelivery(nil), d.items...), append([]*push.CoinDelivery(nil), d.coins...), append([]*push.Refund(nil), d.refunds...)
}

// receiver is the real push endpoint (package push) and the target that
// reaches it in process.
func receiver(t *testing.T, secure bool, h push.Handlers, opts ...push.Option) (http.Handler, midastest.PushTarget) {
	t.Helper()
	cfg := push.Config{Token: pushToken, AppID: appID, AppKey: prodKey, SandboxAppKey: sandboxKey}
	tgt := midastest.PushTarget{Token: pushToken}
	if secure {
		cfg.EncodingAESKey, tgt.EncodingAESKey = pushAESKey, pushAESKey
	}
	rh, err := push.NewHandler(cfg, h, opts...)
	require.NoError(t, err)
	tgt.Handler = rh
	return rh, tgt
}

var pushModes = []struct {
	name   string
	secure bool
}{{"plain", false}, {"secure", true}}

func TestBuyItemDeliversOnce(t *testing.T) {
	for _, m := range pushModes {
		t.Run(m.name, func(t *testing.T) {
			srv := pushFake()
			d := &deliveries{}
			_, tgt := receiver(t, m.secure, d.handlers())

			res, err := srv.BuyItem(bg, midastest.ItemPurchase{
				Env: midas.Sandbox, OpenID: buyer, OutTradeNo: "GO20240501000001", ProductID: "gem_pack_60",
				Quantity: 2, Price: 600, ActualPrice: 1000, ZoneID: "3", Attach: "uid=10086&x=<1>",
			}, tgt)
			require.NoError(t, err)
			require.True(t, res.Delivered)
			assert.Equal(t, midastest.EventItemDeliver, res.Event)
			assert.Equal(t, "GO20240501000001", res.OutTradeNo)
			require.Len(t, res.Pushes, 1)
			p := res.Pushes[0]
			assert.True(t, p.Success)
			assert.Equal(t, 1, p.Attempt)
			assert.Equal(t, http.StatusOK, p.Status)
			assert.JSONEq(t, `{"ErrCode":0,"ErrMsg":"Success"}`, string(p.Answer))
			assert.Equal(t, midas.Sandbox, p.Env)
			assert.Equal(t, pushClock, p.At)
			assert.Equal(t, []midastest.Push{p}, srv.Pushes())
			if m.secure {
				assert.Equal(t, "aes", p.Query.Get("encrypt_type"))
				assert.NotEmpty(t, p.Query.Get("msg_signature"))
				assert.NotContains(t, string(p.Body), "gem_pack_60", "secure-mode body is encrypted")
				// push.Decrypt, written apart from the fake, reads it.
				var outer struct{ ToUserName, Encrypt string }
				require.NoError(t, json.Unmarshal(p.Body, &outer))
				msg, gotAppID, err := push.Decrypt(pushAESKey, outer.Encrypt)
				require.NoError(t, err)
				assert.Equal(t, appID, gotAppID)
				assert.Equal(t, string(p.Message), string(msg))
			} else {
				assert.Empty(t, p.Query.Get("encrypt_type"))
				assert.Equal(t, p.Message, p.Body)
			}

			info, ok := srv.OrderInfo(midas.Sandbox, "GO20240501000001")
			require.True(t, ok)
			calls, items, _, _ := d.snapshot()
			assert.Equal(t, 1, calls)
			require.Len(t, items, 1)
			assert.Equal(t, &push.ItemDelivery{
				Event: push.EventGamePayGoodsDeliver, OpenID: buyer, OutTradeNo: "GO20240501000001", Env: midas.Sandbox,
				ProductID: "gem_pack_60", Quantity: 2, ZoneID: "3", OrigPrice: 1200, ActualPrice: 1000,
				Attach: "uid=10086&x=<1>", Source: push.SourceInGame,
				MchOrderNo: info.MchOrderNo, TransactionID: info.TransactionID,
				CreateTime: time.Unix(pushClock.Unix(), 0), Payload: p.Payload,
			}, items[0])
			assert.NotEmpty(t, info.MchOrderNo)
			assert.NotEmpty(t, info.TransactionID)
			assert.Equal(t, midastest.OrderInfo{
				OpenID: buyer, OutTradeNo: "GO20240501000001", BizID: midastest.BizItem, ProductID: "gem_pack_60",
				Paid: true, Delivered: true, PaidAt: pushClock, MchOrderNo: info.MchOrderNo, TransactionID: info.TransactionID,
			}, info)
			_, ok = srv.OrderInfo(midas.Production, "GO20240501000001")
			assert.False(t, ok, "the order is the sandbox's")
		})
	}
}

// Over the network, and the order is visible to queryorderinfo through the
// client.
func TestBuyItemOverTheNetwork(t *testing.T) {
	cfg := fakeConfig()
	cfg.Now = func() time.Time { return pushClock }
	srv := midastest.NewServer(cfg)
	defer srv.Close()
	d := &deliveries{}
	rh, tgt := receiver(t, true, d.handlers())
	game := httptest.NewServer(rh)
	defer game.Close()
	tgt.Handler, tgt.URL = nil, game.URL+"/midas/push?route=1"

	require.NoError(t, srv.CheckPushURL(bg, tgt))
	bad := tgt
	bad.Token = "another token"
	assert.Error(t, srv.CheckPushURL(bg, bad))

	res, err := srv.BuyItem(bg, midastest.ItemPurchase{OpenID: alice, ProductID: "sword", Price: 100}, tgt)
	require.NoError(t, err)
	require.True(t, res.Delivered)
	assert.True(t, strings.HasPrefix(res.OutTradeNo, "_"), "made up like the platform's: %q", res.OutTradeNo)
	assert.Empty(t, res.Pushes[0].Query.Get("route"), "Query is the push's own; the URL's query is kept apart")
	_, items, _, _ := d.snapshot()
	require.Len(t, items, 1)
	assert.Equal(t, res.OutTradeNo, items[0].OutTradeNo)
	assert.Equal(t, int64(1), items[0].Quantity)
	assert.Equal(t, "1", items[0].ZoneID)

	c, err := midas.NewClient(midas.Config{AppID: appID, OfferID: offerID, AppKey: prodKey, Version: midas.V2,
		AccessToken: midas.StaticToken(token)}, midas.WithBaseURL(srv.URL), midas.WithMaxRetries(0))
	require.NoError(t, err)
	q, err := c.QueryOrder(bg, midas.QueryOrderRequest{OpenID: alice, SessionKey: aliceKey, OutTradeNo: res.OutTradeNo, Kind: midas.ItemOrder})
	require.NoError(t, err)
	assert.True(t, q.Paid)
	assert.True(t, q.Delivered)
	assert.Equal(t, "sword", q.ProductID)
	assert.Equal(t, pushClock.Unix(), q.PaidAt.Unix())
}

func TestBuyItemRetriesUntilAcknowledged(t *testing.T) {
	for _, m := range pushModes {
		t.Run(m.name, func(t *testing.T) {
			srv := pushFake()
			d := &deliveries{failFirst: 2}
			_, tgt := receiver(t, m.secure, d.handlers())
			res, err := srv.BuyItem(bg, midastest.ItemPurchase{OpenID: buyer, OutTradeNo: "R1", ProductID: "p", Price: 1}, tgt)
			require.NoError(t, err)
			assert.True(t, res.Delivered)
			require.Len(t, res.Pushes, 3)
			for i, p := range res.Pushes {
				assert.Equal(t, i+1, p.Attempt)
				assert.Equal(t, i == 2, p.Success)
				assert.NoError(t, p.Err)
			}
			assert.Equal(t, http.StatusInternalServerError, res.Pushes[0].Status)
			assert.Equal(t, res.Pushes[0].Message, res.Pushes[2].Message, "a retry sends the same envelope")
			calls, items, _, _ := d.snapshot()
			assert.Equal(t, 3, calls)
			assert.Len(t, items, 1)
			info, _ := srv.OrderInfo(midas.Production, "R1")
			assert.True(t, info.Paid)
			assert.True(t, info.Delivered)
		})
	}
}

// While the pushes go on, the order is paid and not yet delivered.
func TestBuyItemAsync(t *testing.T) {
	srv := pushFake()
	release := make(chan struct{})
	var calls atomic.Int32
	_, tgt := receiver(t, false, push.Handlers{ItemDelivered: func(ctx context.Context, _ *push.ItemDelivery) error {
		calls.Add(1)
		<-release
		return nil
	}})
	pp, err := srv.BuyItemAsync(bg, midastest.ItemPurchase{OpenID: buyer, ProductID: "p", Price: 1}, tgt)
	require.NoError(t, err)
	info, ok := srv.OrderInfo(midas.Production, pp.OutTradeNo)
	require.True(t, ok)
	assert.True(t, info.Paid)
	assert.False(t, info.Delivered)
	select {
	case <-pp.Done():
		t.Fatal("pushes over before the handler answered")
	default:
	}
	close(release)
	res, err := pp.Wait()
	require.NoError(t, err)
	assert.True(t, res.Delivered)
	assert.Equal(t, int32(1), calls.Load())
	info, _ = srv.OrderInfo(midas.Production, pp.OutTradeNo)
	assert.True(t, info.Delivered)
}

func TestBuyItemGivesUp(t *testing.T) {
	srv := pushFake()
	d := &deliveries{failFirst: 1000}
	_, tgt := receiver(t, true, d.handlers())
	res, err := srv.BuyItem(bg, midastest.ItemPurchase{OpenID: buyer, OutTradeNo: "G1", ProductID: "p", Price: 1}, tgt)
	require.ErrorIs(t, err, midastest.ErrNotDelivered)
	assert.False(t, res.Delivered)
	assert.Len(t, res.Pushes, 16, "the first push and 15 retries")
	assert.Equal(t, 16, res.Pushes[15].Attempt)
	info, _ := srv.OrderInfo(midas.Production, "G1")
	assert.True(t, info.Paid)
	assert.False(t, info.Delivered)

	// Coin events get 13 retries.
	res, err = srv.BuyCoins(bg, midastest.CoinPurchase{OpenID: buyer, Quantity: 60, Price: 600}, tgt)
	require.ErrorIs(t, err, midastest.ErrNotDelivered)
	assert.Len(t, res.Pushes, 14)
	assert.Len(t, srv.Pushes(), 30)
}

func TestRetrySchedule(t *testing.T) {
	sum := func(ds []time.Duration) (s time.Duration) {
		for _, d := range ds {
			s += d
		}
		return s
	}
	item := midastest.RetrySchedule(midastest.EventItemDeliver)
	require.Len(t, item, 15)
	assert.Equal(t, 15*time.Second, item[0])
	assert.Equal(t, 6*time.Hour, item[14])
	assert.Equal(t, 24*time.Hour+4*time.Minute, sum(item))
	assert.Len(t, midastest.RetrySchedule("minigame_deliver_h5_pay_products"), 15)
	coins := midastest.RetrySchedule(midastest.EventCoinDeliver)
	require.Len(t, coins, 13)
	assert.Equal(t, 12*time.Hour+4*time.Minute, sum(coins))
	item[0] = 0
	assert.Equal(t, 15*time.Second, midastest.RetrySchedule(midastest.EventItemDeliver)[0], "a copy")
}

// A push not answered within the Timeout fails and is retried.
func TestPushTimeout(t *testing.T) {
	srv := pushFake()
	var calls atomic.Int32
	_, tgt := receiver(t, false, push.Handlers{ItemDelivered: func(ctx context.Context, _ *push.ItemDelivery) error {
		if calls.Add(1) == 1 {
			<-ctx.Done() // ends only when the fake gives up on the push
			return ctx.Err()
		}
		return nil
	}})
	tgt.Timeout = 50 * time.Millisecond
	res, err := srv.BuyItem(bg, midastest.ItemPurchase{OpenID: buyer, ProductID: "p", Price: 1}, tgt)
	require.NoError(t, err)
	assert.True(t, res.Delivered)
	require.GreaterOrEqual(t, len(res.Pushes), 2)
	assert.ErrorIs(t, res.Pushes[0].Err, midastest.ErrPushTimeout)
	assert.Zero(t, res.Pushes[0].Status)
}

// Ending ctx stops the pushes; the order stays paid and undelivered.
func TestBuyItemContext(t *testing.T) {
	srv := pushFake()
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	_, tgt := receiver(t, false, push.Handlers{ItemDelivered: func(context.Context, *push.ItemDelivery) error {
		cancel()
		return errors.New("not now")
	}})
	tgt.RetryUnit = time.Hour // a retry would never come in time
	res, err := srv.BuyItem(ctx, midastest.ItemPurchase{OpenID: buyer, OutTradeNo: "C1", ProductID: "p", Price: 1}, tgt)
	require.ErrorIs(t, err, context.Canceled)
	assert.False(t, res.Delivered)
	assert.Len(t, res.Pushes, 1)
	info, _ := srv.OrderInfo(midas.Production, "C1")
	assert.True(t, info.Paid)
	assert.False(t, info.Delivered)
}

// Answers other than {"ErrCode":0} are failures.
func TestPushAnswers(t *testing.T) {
	for _, c := range []struct {
		name   string
		status int
		body   string
		ok     bool
	}{
		{"success", 200, `{"ErrCode":0,"ErrMsg":"Success"}`, true},
		{"success, no ErrMsg", 200, `{"ErrCode":0}`, true},
		{"error code", 200, `{"ErrCode":99999,"ErrMsg":"internal error"}`, false},
		{"no ErrCode", 200, `{"ErrMsg":"Success"}`, false},
		{"other case", 200, `{"errcode":0}`, false},
		{"ErrCode as a string", 200, `{"ErrCode":"0"}`, false},
		{"ErrCode null", 200, `{"ErrCode":null}`, false},
		{"an array", 200, `[{"ErrCode":0}]`, false},
		{"not JSON", 200, `success`, false},
		{"empty", 200, ``, false},
		{"HTTP 500", 500, `{"ErrCode":0}`, false},
		{"HTTP 302", 302, `{"ErrCode":0}`, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := pushFake()
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(c.status)
				w.Write([]byte(c.body))
			})
			p, err := srv.PushRaw(bg, midastest.PushTarget{Token: pushToken, Handler: h}, midastest.EventItemDeliver, []byte(`{"Env":0}`), midastest.PushOptions{})
			require.NoError(t, err)
			assert.Equal(t, c.ok, p.Success)
			assert.Equal(t, c.status, p.Status)
			assert.Equal(t, c.body, string(p.Answer))
		})
	}
}

// forgery is a push PushRaw forges.
type forgery struct {
	name    string
	payload []byte
	opts    midastest.PushOptions
	tgt     func(*midastest.PushTarget)
}

// Every forged push is refused by the real receiver, and no handler runs.
func TestForgedPushesRejected(t *testing.T) {
	payload := []byte(`{"OpenId":"o_buyer_openid","OutTradeNo":"F1","Env":0,"GoodsInfo":{"ProductId":"p","Quantity":1,"ZoneId":"1","OrigPrice":1,"ActualPrice":1,"Attach":"","OrderSource":1}}`)
	sandboxPayload := bytes.Replace(payload, []byte(`"Env":0`), []byte(`"Env":1`), 1)
	for _, m := range pushModes {
		t.Run(m.name, func(t *testing.T) {
			srv := pushFake()
			d := &deliveries{}
			_, tgt := receiver(t, m.secure, d.handlers())

			cases := []forgery{
				{name: "bad signature", opts: midastest.PushOptions{BadSignature: true}},
				{name: "wrong Token", tgt: func(t *midastest.PushTarget) { t.Token = "guessed" }},
				{name: "bad PayEventSig", opts: midastest.PushOptions{BadPayEventSig: true}},
				{name: "production payload, sandbox key", opts: midastest.PushOptions{OtherEnvKey: true}},
				{name: "sandbox payload, production key", payload: sandboxPayload, opts: midastest.PushOptions{OtherEnvKey: true}},
				{name: "not an envelope", opts: midastest.PushOptions{Message: []byte(`<xml><Event>x</Event></xml>`)}},
			}
			if m.secure {
				cases = append(cases,
					forgery{name: "bad msg_signature", opts: midastest.PushOptions{BadMsgSignature: true}},
					forgery{name: "another game's appid", opts: midastest.PushOptions{AppID: "wx_other_game"}},
					forgery{name: "downgraded to plain", opts: midastest.PushOptions{Plain: true}},
					forgery{name: "wrong EncodingAESKey", tgt: func(t *midastest.PushTarget) { t.EncodingAESKey = strings.Repeat("B", 43) }},
				)
			} else {
				cases = append(cases, forgery{name: "encrypted to a plain receiver", tgt: func(t *midastest.PushTarget) { t.EncodingAESKey = pushAESKey; t.AppID = appID }})
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					pl := payload
					if c.payload != nil {
						pl = c.payload
					}
					to := tgt
					if c.tgt != nil {
						c.tgt(&to)
					}
					p, err := srv.PushRaw(bg, to, midastest.EventItemDeliver, pl, c.opts)
					require.NoError(t, err)
					assert.False(t, p.Success)
					assert.Contains(t, []int{http.StatusBadRequest, http.StatusForbidden}, p.Status, string(p.Answer))
				})
			}
			calls, _, _, _ := d.snapshot()
			assert.Zero(t, calls, "no handler ran")

			// The same push unforged is accepted; a mock is acknowledged
			// without running the handler.
			p, err := srv.PushRaw(bg, tgt, midastest.EventItemDeliver, payload, midastest.PushOptions{IsMock: true})
			require.NoError(t, err)
			assert.True(t, p.Success)
			calls, _, _, _ = d.snapshot()
			assert.Zero(t, calls, "a mock runs no handler")
			p, err = srv.PushRaw(bg, tgt, midastest.EventItemDeliver, payload, midastest.PushOptions{})
			require.NoError(t, err)
			assert.True(t, p.Success)
			_, items, _, _ := d.snapshot()
			require.Len(t, items, 1)
			assert.Equal(t, "F1", items[0].OutTradeNo)
			assert.Equal(t, "F1", p.OutTradeNo)
		})
	}

	// A receiver without the sandbox AppKey refuses sandbox pushes for good.
	srv := pushFake()
	rh, err := push.NewHandler(push.Config{Token: pushToken, AppID: appID, AppKey: prodKey}, push.Handlers{})
	require.NoError(t, err)
	res, err := srv.BuyItem(bg, midastest.ItemPurchase{Env: midas.Sandbox, OpenID: buyer, ProductID: "p", Price: 1},
		midastest.PushTarget{Token: pushToken, Handler: rh})
	require.ErrorIs(t, err, midastest.ErrNotDelivered)
	assert.Equal(t, http.StatusForbidden, res.Pushes[0].Status)
}

// Replays of a delivered push are acknowledged without delivering again
// (with a Deduper keyed on OutTradeNo).
func TestReplayedPush(t *testing.T) {
	for _, m := range pushModes {
		t.Run(m.name, func(t *testing.T) {
			srv := pushFake()
			d := &deliveries{}
			_, tgt := receiver(t, m.secure, d.handlers(), push.WithDeduper(push.NewMemoryDeduper()))
			res, err := srv.BuyItem(bg, midastest.ItemPurchase{OpenID: buyer, OutTradeNo: "P1", ProductID: "p", Price: 1}, tgt)
			require.NoError(t, err)

			again, err := srv.Resend(bg, tgt, res.Pushes[0])
			require.NoError(t, err)
			assert.True(t, again.Success)
			assert.Equal(t, res.Pushes[0].Body, again.Body)
			assert.Equal(t, res.Pushes[0].Query, again.Query)
			fresh, err := srv.PushRaw(bg, tgt, midastest.EventItemDeliver, []byte(res.Pushes[0].Payload), midastest.PushOptions{})
			require.NoError(t, err)
			assert.True(t, fresh.Success)

			_, items, _, _ := d.snapshot()
			assert.Len(t, items, 1, "delivered once")
			assert.Len(t, srv.Pushes(), 3)
		})
	}
}

func TestBuyCoins(t *testing.T) {
	for _, m := range pushModes {
		t.Run(m.name, func(t *testing.T) {
			srv := pushFake()
			d := &deliveries{failFirst: 1}
			_, tgt := receiver(t, m.secure, d.handlers())
			before, _ := srv.Balance(midas.Production, alice, "2")
			res, err := srv.BuyCoins(bg, midastest.CoinPurchase{OpenID: alice, OutTradeNo: "COIN1", ZoneID: "2", Quantity: 60, Price: 600, ActualPrice: 540}, tgt)
			require.NoError(t, err)
			assert.True(t, res.Delivered)
			assert.Len(t, res.Pushes, 2)
			assert.Equal(t, midastest.EventCoinDeliver, res.Event)
			after, _ := srv.Balance(midas.Production, alice, "2")
			assert.Equal(t, before+60, after)
			info, ok := srv.OrderInfo(midas.Production, "COIN1")
			require.True(t, ok)
			assert.Equal(t, midastest.BizCoins, info.BizID)
			assert.True(t, info.Paid)
			assert.True(t, info.Delivered)
			_, _, coins, _ := d.snapshot()
			require.Len(t, coins, 1)
			assert.Equal(t, &push.CoinDelivery{
				Event: push.EventCoinDeliverCompleted, OpenID: alice, OutTradeNo: "COIN1", Env: midas.Production,
				ZoneID: "2", Quantity: 60, OrigPrice: 600, ActualPrice: 540,
				MchOrderNo: info.MchOrderNo, TransactionID: info.TransactionID, CreateTime: time.Unix(pushClock.Unix(), 0), Payload: res.Pushes[0].Payload,
			}, coins[0])

			// The recharge centre: no zone, its own event.
			res, err = srv.BuyCoins(bg, midastest.CoinPurchase{Env: midas.Sandbox, OpenID: alice, Quantity: 10, RechargeCenter: true}, tgt)
			require.NoError(t, err)
			assert.Equal(t, midastest.EventRechargeCenterCoinDeliver, res.Event)
			_, _, coins, _ = d.snapshot()
			require.Len(t, coins, 2)
			assert.Equal(t, push.EventRechargeCenterCoinDeliverCompleted, coins[1].Event)
			assert.Empty(t, coins[1].ZoneID)
			assert.Equal(t, midas.Sandbox, coins[1].Env)
			assert.NotContains(t, res.Pushes[0].Payload, "ZoneId")
		})
	}
}

func TestRefund(t *testing.T) {
	srv := pushFake()
	d := &deliveries{}
	_, tgt := receiver(t, true, d.handlers())
	_, err := srv.BuyItem(bg, midastest.ItemPurchase{OpenID: buyer, OutTradeNo: "I1", ProductID: "p", Quantity: 3, Price: 100, ActualPrice: 250}, tgt)
	require.NoError(t, err)
	info, _ := srv.OrderInfo(midas.Production, "I1")

	res, err := srv.Refund(bg, midastest.RefundNotice{OutTradeNo: "I1"}, tgt)
	require.NoError(t, err)
	assert.True(t, res.Delivered)
	assert.Equal(t, midastest.EventRefund, res.Event)
	_, _, _, refunds := d.snapshot()
	require.Len(t, refunds, 1)
	r := refunds[0]
	assert.NotEmpty(t, r.RefundID)
	assert.Equal(t, &push.Refund{
		Event: push.EventPayRefundSucc, OpenID: buyer, OutTradeNo: "I1", Env: midas.Production,
		RefundID: r.RefundID, RefundAmount: 250, RefundSource: push.RefundSourcePlatform,
		MchOrderNo: info.MchOrderNo, TransactionID: info.TransactionID, CreateTime: time.Unix(pushClock.Unix(), 0), Payload: res.Pushes[0].Payload,
	}, r)

	_, err = srv.Refund(bg, midastest.RefundNotice{OutTradeNo: "I1", RefundID: "RF2", Amount: 10, Source: 3}, tgt)
	require.NoError(t, err)
	_, _, _, refunds = d.snapshot()
	require.Len(t, refunds, 2)
	assert.Equal(t, "RF2", refunds[1].RefundID)
	assert.Equal(t, int64(10), refunds[1].RefundAmount)
	assert.Equal(t, push.RefundSourceAPI, refunds[1].RefundSource)

	_, err = srv.Refund(bg, midastest.RefundNotice{OutTradeNo: "nope"}, tgt)
	assert.Error(t, err)
	srv.AddOrderInfo(midas.Production, midastest.OrderInfo{OpenID: buyer, OutTradeNo: "seeded", BizID: midastest.BizItem, Paid: true})
	_, err = srv.Refund(bg, midastest.RefundNotice{OutTradeNo: "seeded"}, tgt)
	assert.Error(t, err, "no Amount, and the fake does not know the price")
	_, err = srv.Refund(bg, midastest.RefundNotice{OutTradeNo: "seeded", Amount: 5}, tgt)
	assert.NoError(t, err)
}

// Bad arguments are errors before anything changes, and no error shows a
// secret.
func TestPushErrors(t *testing.T) {
	srv := pushFake()
	_, tgt := receiver(t, true, push.Handlers{})
	ok := midastest.ItemPurchase{OpenID: buyer, ProductID: "p", Price: 1}
	for name, c := range map[string]struct {
		p   midastest.ItemPurchase
		tgt func(*midastest.PushTarget)
	}{
		"no OpenID":           {p: midastest.ItemPurchase{ProductID: "p", Price: 1}},
		"no ProductID":        {p: midastest.ItemPurchase{OpenID: buyer, Price: 1}},
		"negative price":      {p: midastest.ItemPurchase{OpenID: buyer, ProductID: "p", Price: -1}},
		"OutTradeNo with _":   {p: midastest.ItemPurchase{OpenID: buyer, ProductID: "p", OutTradeNo: "_mine", Price: 1}},
		"OutTradeNo too long": {p: midastest.ItemPurchase{OpenID: buyer, ProductID: "p", OutTradeNo: strings.Repeat("1", 33), Price: 1}},
		"OutTradeNo charset":  {p: midastest.ItemPurchase{OpenID: buyer, ProductID: "p", OutTradeNo: "a b", Price: 1}},
		"no Token":            {p: ok, tgt: func(t *midastest.PushTarget) { t.Token = "" }},
		"no URL or Handler":   {p: ok, tgt: func(t *midastest.PushTarget) { t.Handler = nil }},
		"relative URL":        {p: ok, tgt: func(t *midastest.PushTarget) { t.Handler, t.URL = nil, "/push" }},
		"short AES key":       {p: ok, tgt: func(t *midastest.PushTarget) { t.EncodingAESKey = pushToken + "LEAK" }},
	} {
		t.Run(name, func(t *testing.T) {
			to := tgt
			if c.tgt != nil {
				c.tgt(&to)
			}
			_, err := srv.BuyItem(bg, c.p, to)
			require.Error(t, err)
			for _, secret := range []string{pushToken, pushAESKey, prodKey, sandboxKey} {
				assert.NotContains(t, err.Error(), secret)
			}
		})
	}
	assert.Empty(t, srv.Pushes())

	_, err := srv.BuyItem(bg, midastest.ItemPurchase{OpenID: buyer, ProductID: "p", OutTradeNo: "D1", Price: 1}, tgt)
	require.NoError(t, err)
	_, err = srv.BuyItem(bg, midastest.ItemPurchase{OpenID: buyer, ProductID: "p", OutTradeNo: "D1", Price: 1}, tgt)
	assert.ErrorContains(t, err, "already used", "one use per environment")
	_, err = srv.BuyItem(bg, midastest.ItemPurchase{Env: midas.Sandbox, OpenID: buyer, ProductID: "p", OutTradeNo: "D1", Price: 1}, tgt)
	assert.NoError(t, err, "the other environment has its own")

	noSandbox := fakeConfig()
	noSandbox.SandboxAppKey = ""
	_, err = midastest.New(noSandbox).BuyItem(bg, midastest.ItemPurchase{Env: midas.Sandbox, OpenID: buyer, ProductID: "p", Price: 1}, tgt)
	assert.ErrorContains(t, err, "SandboxAppKey")

	// A panicking or aborting handler is a failed push, not a crash.
	for _, v := range []any{"boom", http.ErrAbortHandler} {
		h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(v) })
		p, err := srv.PushRaw(bg, midastest.PushTarget{Token: pushToken, Handler: h}, "any_event", []byte(`{}`), midastest.PushOptions{})
		require.NoError(t, err)
		assert.Error(t, p.Err)
		assert.False(t, p.Success)
	}
	for _, p := range srv.Pushes() {
		for _, secret := range []string{pushToken, pushAESKey, prodKey, sandboxKey} {
			assert.NotContains(t, string(p.Body)+string(p.Message)+p.Query.Encode()+p.Payload, secret)
		}
	}
}

// vecDecrypt is this test's own secure-mode decryptor, apart from the
// fake's encryptor and package push: it returns the 16 random bytes, the
// message and the appid.
func vecDecrypt(t *testing.T, encodingAESKey, encrypted string) (random, msg []byte, appID string) {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	require.NoError(t, err)
	ct, err := base64.StdEncoding.DecodeString(encrypted)
	require.NoError(t, err)
	block, err := aes.NewCipher(key)
	require.NoError(t, err)
	pt := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, key[:16]).CryptBlocks(pt, ct)
	pad := int(pt[len(pt)-1])
	require.True(t, pad >= 1 && pad <= 32)
	pt = pt[:len(pt)-pad]
	n := int(binary.BigEndian.Uint32(pt[16:20]))
	return pt[:16], pt[20 : 20+n], string(pt[20+n:])
}

// The spec's Vectors 7 and 8, reproduced through the fake's pushes.
func TestPushVectors(t *testing.T) {
	ack := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"ErrCode":0,"ErrMsg":"Success"}`)) })

	// Vector 7: PayEventSig with AppKey 12345 (the payload's Env is 1).
	cfg := fakeConfig()
	cfg.SandboxAppKey = "12345"
	srv := midastest.New(cfg)
	payload := `{"OpenId":"example_open_id","OutTradeNo":"example_out_trade_no","WeChatPayInfo":{"MchOrderNo":"example_mch_order_no","TransactionId":"example_transaction_id"},"Env":1,"GoodsInfo":{"ProductId":"example_product_id","Quantity":1,"ZoneId":"example_zone_id","OrigPrice":1000,"ActualPrice":1000,"Attach":"example_attach_data","OrderSource":1}}`
	p, err := srv.PushRaw(bg, midastest.PushTarget{Token: "AAAAA", Handler: ack}, midastest.EventItemDeliver, []byte(payload), midastest.PushOptions{})
	require.NoError(t, err)
	var env struct {
		MiniGame struct{ Payload, PayEventSig string }
	}
	require.NoError(t, json.Unmarshal(p.Message, &env))
	assert.Equal(t, payload, env.MiniGame.Payload)
	assert.Equal(t, "b79af6303eb7445bb37d22f5aeee951f90d30790bd88fbe0c54dc0780cc6b37d", env.MiniGame.PayEventSig)
	assert.Equal(t, "example_out_trade_no", p.OutTradeNo)
	assert.Equal(t, midas.Sandbox, p.Env)

	// Vector 8, plain POST signature.
	p, err = srv.PushRaw(bg, midastest.PushTarget{Token: "AAAAA", Handler: ack}, "debug_demo", []byte(`{}`),
		midastest.PushOptions{Timestamp: "1714037059", Nonce: "486452656"})
	require.NoError(t, err)
	assert.Equal(t, "899cf89e464efb63f54ddac96b0a0a235f53aa78", p.Query.Get("signature"))

	// Vector 8, secure POST: the official Encrypt, decrypted by this test,
	// encrypts again (same random bytes) to itself, with its msg_signature.
	const (
		vecAESKey  = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		vecEncrypt = "+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus8TPxLKJGQqcvZqzDpVzazhZv6JsXUnnR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+l5kdfMuFUPpRSrfMZuMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8EajAsjLY2km32IIjdf8YL/P50F7mStwntrA2cPDrM1kb6mOcfBgRtWygb3VIYnSeOBrebufAlr7F9mFUPAJGj04="
	)
	random, msg, vecAppID := vecDecrypt(t, vecAESKey, vecEncrypt)
	assert.Equal(t, `{"ToUserName":"gh_97417a04a28d","FromUserName":"o9AgO5Kd5ggOC-bXrbNODIiE3bGY","CreateTime":1714112445,"MsgType":"event","Event":"debug_demo","debug_str":"hello world"}`, string(msg))
	assert.Equal(t, "wxba5fad812f8e6fb9", vecAppID)
	p, err = srv.PushRaw(bg, midastest.PushTarget{Token: "AAAAA", EncodingAESKey: vecAESKey, AppID: vecAppID, ToUserName: "gh_97417a04a28d", Handler: ack},
		"debug_demo", nil, midastest.PushOptions{Timestamp: "1714112445", Nonce: "415670741", Message: msg, Random: bytes.NewReader(random)})
	require.NoError(t, err)
	assert.JSONEq(t, `{"ToUserName":"gh_97417a04a28d","Encrypt":"`+vecEncrypt+`"}`, string(p.Body))
	assert.Equal(t, "046e02f8204d34f8ba5fa3b1db94908f3df2e9b3", p.Query.Get("msg_signature"))
	assert.Equal(t, "6c5c811b55cc85e0e1b54100749188c20beb3f5d", p.Query.Get("signature"))
	assert.Equal(t, "aes", p.Query.Get("encrypt_type"))
	assert.True(t, p.Success)

	// And a push the fake encrypted decrypts with this test's decryptor.
	p, err = srv.PushRaw(bg, midastest.PushTarget{Token: "AAAAA", EncodingAESKey: vecAESKey, Handler: ack}, midastest.EventItemDeliver, []byte(payload), midastest.PushOptions{})
	require.NoError(t, err)
	var outer struct{ ToUserName, Encrypt string }
	require.NoError(t, json.Unmarshal(p.Body, &outer))
	_, msg, gotAppID := vecDecrypt(t, vecAESKey, outer.Encrypt)
	assert.Equal(t, string(p.Message), string(msg))
	assert.Equal(t, appID, gotAppID, "Config.AppID by default")
	assert.Equal(t, "gh_midastest", outer.ToUserName)
}

// The WeChat side of an item purchase, against the game's real push
// endpoint: the fake records the order as paid, pushes the delivery event
// (retrying on a failure, on a compressed schedule) and marks the order
// delivered once the endpoint answers success.
func ExampleServer_BuyItem() {
	srv := midastest.New(midastest.Config{AppID: "wx1234567", OfferID: "12345678", AppKey: "productionAppKeyOfTheFake"})

	// The game server's endpoint, from package push.
	endpoint, err := push.NewHandler(push.Config{Token: "pushToken", AppID: "wx1234567", AppKey: "productionAppKeyOfTheFake"},
		push.Handlers{ItemDelivered: func(_ context.Context, d *push.ItemDelivery) error {
			fmt.Println("grant", d.Quantity, d.ProductID, "to", d.OpenID)
			return nil
		}})
	if err != nil {
		log.Fatal(err)
	}

	res, err := srv.BuyItem(context.Background(), midastest.ItemPurchase{
		OpenID: "player1", OutTradeNo: "GO20240101000001", ProductID: "gem_pack_60", Price: 600,
	}, midastest.PushTarget{Token: "pushToken", Handler: endpoint})
	if err != nil {
		log.Fatal(err)
	}
	order, _ := srv.OrderInfo(midas.Production, "GO20240101000001")
	fmt.Println("pushes", len(res.Pushes), "paid", order.Paid, "delivered", order.Delivered)
	// Output:
	// grant 1 gem_pack_60 to player1
	// pushes 1 paid true delivered true
}
