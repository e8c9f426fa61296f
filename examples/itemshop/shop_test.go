package itemshop_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomidas/midas"
	"github.com/gomidas/midas/dbtest"
	"github.com/gomidas/midas/examples/itemshop"
	"github.com/gomidas/midas/midastest"
	"github.com/gomidas/midas/push"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	appID       = "wx1234567"
	offerID     = "12345678"
	appKey      = "itemshopProductionAppKey0000000"
	sandboxKey  = "itemshopSandboxAppKey000000000"
	accessToken = "itemshop-access-token"
	pushToken   = "itemshop-push-token"
	aesKey      = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG" // the official example EncodingAESKey
)

var (
	players = []midastest.Player{
		{OpenID: "player-1", SessionKey: "V7Q38/i2KXaqrQyl2Yx9Hg=="},
		{OpenID: "player-2", SessionKey: "9hAb/NEYUlkaMBEsmFgzig=="},
		{OpenID: "player-3", SessionKey: "AAECAwQFBgcICQoLDA0ODw=="},
	}
	catalogue = map[string]int64{"gem_pack_60": 600, "sword": 100, "shield": 250}
)

// errStoreDown is flakyStore's transient failure.
var errStoreDown = errors.New("store: connection reset")

// flakyStore is a Store whose Deliver fails once, on its first call, for
// the orders in failFirst (a database that drops a connection), and that
// counts the grants of each order.
type flakyStore struct {
	itemshop.Store
	mu        sync.Mutex
	failFirst map[string]bool // OutTradeNo → its first Deliver fails
	seen      map[string]bool // OutTradeNo → Deliver was called
	grants    map[string]int  // OutTradeNo → times its items were granted
	// failFinish makes FinishSpend fail.
	failFinish bool
}

func newFlakyStore(s itemshop.Store) *flakyStore {
	return &flakyStore{Store: s, failFirst: map[string]bool{}, seen: map[string]bool{}, grants: map[string]int{}}
}

func (f *flakyStore) Deliver(ctx context.Context, paid itemshop.Order, check func(*itemshop.Order) error) (itemshop.DeliverResult, error) {
	f.mu.Lock()
	first := !f.seen[paid.OutTradeNo]
	f.seen[paid.OutTradeNo] = true
	fail := first && f.failFirst[paid.OutTradeNo]
	f.mu.Unlock()
	if fail {
		return 0, errStoreDown
	}
	res, err := f.Store.Deliver(ctx, paid, check)
	if res == itemshop.Granted {
		f.mu.Lock()
		f.grants[paid.OutTradeNo]++
		f.mu.Unlock()
	}
	return res, err
}

// FinishSpend fails, without recording anything, while failFinish is set:
// the process dying between Pay and recording its outcome.
func (f *flakyStore) FinishSpend(ctx context.Context, billNo string, paid bool, unclearAtMost time.Time) (bool, error) {
	f.mu.Lock()
	fail := f.failFinish
	f.mu.Unlock()
	if fail {
		return false, errStoreDown
	}
	return f.Store.FinishSpend(ctx, billNo, paid, unclearAtMost)
}

func (f *flakyStore) failOnce(outTradeNo string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failFirst[outTradeNo] = true
}

func (f *flakyStore) grantsOf() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int{}
	for k, v := range f.grants {
		out[k] = v
	}
	return out
}

// rig is a shop on loopback, its store, and a fake Midas playing WeChat.
type rig struct {
	fake   *midastest.Server
	client *midas.Client
	shop   *itemshop.Server
	store  *flakyStore
	url    string               // the shop's base URL
	target midastest.PushTarget // the shop's push URL, as configured in MP
	secure bool

	driver, dsn string             // the shop's database
	sql         *itemshop.SQLStore // the store under flakyStore
	ts          *httptest.Server
	pushCfg     push.Config
	now         func() time.Time // the shop's clock; nil: time.Now
}

// coinPrices are the items sold for coins.
var coinPrices = map[string]int64{"sword": 10, "shield": 25}

func newRig(t *testing.T, secure bool, opts ...midas.Option) *rig {
	t.Helper()
	fake := midastest.NewServer(midastest.Config{AppID: appID, OfferID: offerID, AppKey: appKey, SandboxAppKey: sandboxKey,
		AccessTokens: []string{accessToken}, Players: players})
	t.Cleanup(fake.Close)
	client, err := midas.NewClient(midas.Config{AppID: appID, OfferID: offerID, AppKey: appKey, Version: midas.V2,
		AccessToken: midas.StaticToken(accessToken)}, append([]midas.Option{midas.WithBaseURL(fake.URL)}, opts...)...)
	require.NoError(t, err)
	pc := push.Config{Token: pushToken, AppID: appID, AppKey: appKey} // production only, as Config.Push advises
	if secure {
		pc.EncodingAESKey = aesKey
	}
	driver, dsn := dbtest.SQLite(t)
	r := &rig{fake: fake, client: client, secure: secure, driver: driver, dsn: dsn, pushCfg: pc}
	r.start(t, nil)
	return r
}

// start opens the store and serves a new shop on it, as a process starting
// would.
func (r *rig) start(t *testing.T, sessions itemshop.SessionKeys) {
	t.Helper()
	r.sql = openStore(t, r.driver, r.dsn)
	r.store = newFlakyStore(r.sql)
	shop, err := itemshop.New(itemshop.Config{Midas: r.client, Push: r.pushCfg, Catalogue: catalogue, CoinPrices: coinPrices,
		Store: r.store, Sessions: sessions, Now: r.now})
	require.NoError(t, err)
	r.shop = shop
	r.ts = httptest.NewServer(shop)
	t.Cleanup(r.ts.Close)
	r.url = r.ts.URL
	r.target = midastest.PushTarget{URL: r.ts.URL + itemshop.PushPath, Token: pushToken}
	if r.secure {
		r.target.EncodingAESKey = aesKey
	}
}

// restart stops the shop as a crash would (its server and its pool
// closed, nothing flushed) and starts a new one on the same database.
func (r *rig) restart(t *testing.T, sessions itemshop.SessionKeys) {
	t.Helper()
	r.ts.Close()
	require.NoError(t, r.sql.Close())
	r.start(t, sessions)
}

// modes runs f in plain and in secure mode.
func modes(t *testing.T, f func(t *testing.T, r *rig)) {
	for _, secure := range []bool{false, true} {
		name := "plain"
		if secure {
			name = "secure"
		}
		t.Run(name, func(t *testing.T) { f(t, newRig(t, secure)) })
	}
}

// signData is what the shop signed, as the client sees it.
type signData struct {
	Mode         string `json:"mode"`
	OfferID      string `json:"offerId"`
	BuyQuantity  int64  `json:"buyQuantity"`
	Env          int    `json:"env"`
	CurrencyType string `json:"currencyType"`
	Platform     string `json:"platform"`
	ZoneID       string `json:"zoneId"`
	ProductID    string `json:"productId"`
	GoodsPrice   int64  `json:"goodsPrice"`
	OutTradeNo   string `json:"outTradeNo"`
}

// placed is an order the shop signed.
type placed struct {
	player midastest.Player
	pay    midas.GameItemPayment
	data   signData
}

// purchase is what the player pays for: the order as WeChat sees it.
func (p placed) purchase() midastest.ItemPurchase {
	return midastest.ItemPurchase{OpenID: p.player.OpenID, OutTradeNo: p.data.OutTradeNo, ProductID: p.data.ProductID,
		Quantity: p.data.BuyQuantity, Price: p.data.GoodsPrice, ZoneID: p.data.ZoneID}
}

// postOrder sends POST /order and returns the status and body.
func postOrder(t *testing.T, url string, body any) (int, []byte) {
	t.Helper()
	return postOrderPath(t, url+itemshop.OrderPath, body)
}

// postOrderPath POSTs body as JSON to url and returns the status and body.
func postOrderPath(t *testing.T, url string, body any) (int, []byte) {
	t.Helper()
	b, err := json.Marshal(body)
	require.NoError(t, err)
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	require.NoError(t, err)
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, err = buf.ReadFrom(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, buf.Bytes()
}

// order places an order through the shop's order endpoint, as the client
// would before calling wx.requestMidasPaymentGameItem.
func (r *rig) order(t *testing.T, player midastest.Player, product string, quantity int64) placed {
	t.Helper()
	status, body := postOrder(t, r.url, itemshop.OrderRequest{OpenID: player.OpenID, SessionKey: player.SessionKey,
		ProductID: product, Quantity: quantity})
	require.Equal(t, http.StatusOK, status, string(body))
	p := placed{player: player}
	require.NoError(t, json.Unmarshal(body, &p.pay))
	require.NoError(t, json.Unmarshal([]byte(p.pay.SignData), &p.data))
	return p
}

// itemPayload is an item delivery Payload as WeChat writes it.
func itemPayload(openID, outTradeNo, product string, quantity, price int64, env midas.Env) []byte {
	b, _ := json.Marshal(map[string]any{
		"OpenId": openID, "OutTradeNo": outTradeNo, "Env": int(env),
		"GoodsInfo": map[string]any{"ProductId": product, "Quantity": quantity, "ZoneId": "1",
			"OrigPrice": price * quantity, "ActualPrice": price * quantity, "Attach": "", "OrderSource": 1},
	})
	return b
}

func (p placed) payload() []byte {
	return itemPayload(p.player.OpenID, p.data.OutTradeNo, p.data.ProductID, p.data.BuyQuantity, p.data.GoodsPrice, midas.Production)
}

func inventory(t *testing.T, r *rig, openID string) map[string]int64 {
	t.Helper()
	inv, err := r.shop.Store().Inventory(context.Background(), openID)
	require.NoError(t, err)
	return inv
}

func stored(t *testing.T, r *rig, outTradeNo string) itemshop.Order {
	t.Helper()
	o, ok, err := r.shop.Store().Order(context.Background(), outTradeNo)
	require.NoError(t, err)
	require.True(t, ok, outTradeNo)
	return o
}

var outTradeNoRE = regexp.MustCompile(`^[0-9A-Za-z-][0-9A-Za-z_-]{0,31}$`)

// The order endpoint answers exactly what wx.requestMidasPaymentGameItem
// takes, signed with the AppKey and the buyer's session_key, for a fresh
// OutTradeNo it records as pending.
func TestOrderEndpoint(t *testing.T) {
	r := newRig(t, false)
	seen := map[string]bool{}
	for i := 0; i < 50; i++ {
		player := players[i%len(players)]
		status, body := postOrder(t, r.url, itemshop.OrderRequest{OpenID: player.OpenID, SessionKey: player.SessionKey,
			ProductID: "gem_pack_60", Quantity: 2})
		require.Equal(t, http.StatusOK, status, string(body))

		var keys map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(body, &keys))
		assert.Len(t, keys, 3)
		var sd string
		require.NoError(t, json.Unmarshal(keys["signData"], &sd), "signData is a JSON string, not an object")
		var pay midas.GameItemPayment
		require.NoError(t, json.Unmarshal(body, &pay))
		assert.Equal(t, midas.PaySig("requestMidasPaymentGameItem", []byte(pay.SignData), appKey), pay.PaySig)
		assert.Equal(t, midas.SessionSig([]byte(pay.SignData), player.SessionKey), pay.Signature)

		var d signData
		require.NoError(t, json.Unmarshal([]byte(pay.SignData), &d))
		assert.Equal(t, signData{Mode: "goods", OfferID: offerID, BuyQuantity: 2, Env: 0, CurrencyType: "CNY", Platform: "android",
			ZoneID: "1", ProductID: "gem_pack_60", GoodsPrice: 600, OutTradeNo: d.OutTradeNo}, d)
		assert.Regexp(t, outTradeNoRE, d.OutTradeNo)
		assert.NoError(t, midas.CheckOutTradeNo(d.OutTradeNo, false))
		assert.False(t, seen[d.OutTradeNo], "OutTradeNo %s reused", d.OutTradeNo)
		seen[d.OutTradeNo] = true

		o := stored(t, r, d.OutTradeNo)
		assert.Equal(t, itemshop.Order{OutTradeNo: d.OutTradeNo, OpenID: player.OpenID, ProductID: "gem_pack_60",
			Quantity: 2, Price: 600, Env: midas.Production}, o, "pending")
	}

	for _, tc := range []struct {
		body   any
		status int
		want   string
	}{
		{itemshop.OrderRequest{OpenID: "player-1", SessionKey: players[0].SessionKey, ProductID: "axe", Quantity: 1}, http.StatusNotFound, "no such product"},
		{itemshop.OrderRequest{OpenID: "player-1", SessionKey: players[0].SessionKey, ProductID: "sword", Quantity: 0}, http.StatusBadRequest, "quantity"},
		{itemshop.OrderRequest{OpenID: "player-1", SessionKey: players[0].SessionKey, ProductID: "sword", Quantity: 1000}, http.StatusBadRequest, "quantity"},
		{itemshop.OrderRequest{OpenID: "player-1", SessionKey: "not-a-session-key", ProductID: "sword", Quantity: 1}, http.StatusBadRequest, "SessionKey"},
		{itemshop.OrderRequest{OpenID: "player-1", ProductID: "sword", Quantity: 1}, http.StatusBadRequest, "SessionKey"},
		{map[string]any{"openid": "player-1", "product_id": "sword", "quantity": 1, "price": 1}, http.StatusBadRequest, "want JSON"},
		{"[]", http.StatusBadRequest, "want JSON"},
	} {
		status, body := postOrder(t, r.url, tc.body)
		assert.Equal(t, tc.status, status, "%v: %s", tc.body, body)
		assert.Contains(t, string(body), tc.want, "%v", tc.body)
	}
	resp, err := http.Get(r.url + itemshop.OrderPath)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	assert.Len(t, r.store.grantsOf(), 0)
}

// MP's URL check reaches the push handler through the shop.
func TestPushURLCheck(t *testing.T) {
	modes(t, func(t *testing.T, r *rig) {
		require.NoError(t, r.fake.CheckPushURL(context.Background(), r.target))
	})
}

// The "done when": every paid order is delivered exactly once under
// more than 100 pushes, with retries (the store fails the first delivery of
// every third order), interleaved purchases, duplicates racing the first
// delivery, and late repeats of every kind of recorded push.
func TestEachOrderDeliveredExactlyOnce(t *testing.T) {
	modes(t, func(t *testing.T, r *rig) {
		ctx := context.Background()
		rng := rand.New(rand.NewPCG(1, 2))
		products := []string{"gem_pack_60", "sword", "shield"}
		const n = 30
		orders := make([]placed, n)
		want := map[string]map[string]int64{}
		for i := range orders {
			p := players[rng.IntN(len(players))]
			orders[i] = r.order(t, p, products[rng.IntN(len(products))], 1+rng.Int64N(5))
			if want[p.OpenID] == nil {
				want[p.OpenID] = map[string]int64{}
			}
			want[p.OpenID][orders[i].data.ProductID] += orders[i].data.BuyQuantity
			if i%3 == 0 {
				r.store.failOnce(orders[i].data.OutTradeNo)
			}
		}

		// Players pay in a shuffled order, all at once; meanwhile earlier
		// pushes are replayed, racing the first deliveries.
		pending := make([]*midastest.PendingPush, n)
		for _, i := range rng.Perm(n) {
			pp, err := r.fake.BuyItemAsync(ctx, orders[i].purchase(), r.target)
			require.NoError(t, err)
			pending[i] = pp
		}
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func(seed uint64) {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(seed, 7))
				for k := 0; k < 5; k++ {
					if log := r.fake.Pushes(); len(log) > 0 {
						_, err := r.fake.Resend(ctx, r.target, log[rng.IntN(len(log))])
						assert.NoError(t, err)
					}
				}
			}(uint64(g))
		}
		for i, pp := range pending {
			res, err := pp.Wait()
			require.NoError(t, err, orders[i].data.OutTradeNo)
			assert.True(t, res.Delivered)
		}
		wg.Wait()

		// Late pushes: WeChat repeats after a success too. Every one of them,
		// whatever push it repeats (a failed first attempt included), is
		// answered success and grants nothing.
		log := r.fake.Pushes()
		late := make([]midastest.Push, 0, 70)
		for len(late) < 70 {
			late = append(late, log[rng.IntN(len(log))])
		}
		answers := make(chan midastest.Push, len(late))
		for _, p := range late {
			wg.Add(1)
			go func(p midastest.Push) {
				defer wg.Done()
				got, err := r.fake.Resend(ctx, r.target, p)
				assert.NoError(t, err)
				answers <- got
			}(p)
		}
		wg.Wait()
		close(answers)
		for p := range answers {
			assert.True(t, p.Success, "late push for %s: %d %s", p.OutTradeNo, p.Status, p.Answer)
		}

		all := r.fake.Pushes()
		assert.GreaterOrEqual(t, len(all), 100)
		grants := r.store.grantsOf()
		assert.Len(t, grants, n)
		failed := map[string]int{}
		for _, p := range all {
			if !p.Success {
				failed[p.OutTradeNo]++
				assert.Equal(t, http.StatusInternalServerError, p.Status, "only the store's failures fail")
			}
		}
		for i, o := range orders {
			id := o.data.OutTradeNo
			assert.Equal(t, 1, grants[id], "grants of %s", id)
			s := stored(t, r, id)
			assert.True(t, s.Delivered, id)
			assert.False(t, s.FromPush, id)
			info, ok := r.fake.OrderInfo(midas.Production, id)
			assert.True(t, ok && info.Paid && info.Delivered, id)
			if i%3 == 0 {
				assert.Equal(t, 1, failed[id], "the store failed once for %s, and WeChat retried", id)
			} else {
				assert.Zero(t, failed[id], id)
			}
		}
		for _, p := range players {
			assert.Equal(t, want[p.OpenID], inventory(t, r, p.OpenID), p.OpenID)
		}
	})
}

// Forged, tampered, replayed-with-a-wrong-signature, wrong-appid, wrong-env
// and mismatching pushes for a real pending order deliver nothing; then the
// genuine push delivers it, once.
func TestForgedPushesDeliverNothing(t *testing.T) {
	modes(t, func(t *testing.T, r *rig) {
		ctx := context.Background()
		o := r.order(t, players[0], "gem_pack_60", 3)
		id := o.data.OutTradeNo
		event := midastest.EventItemDeliver

		// A genuine push, recorded but not delivered: WeChat's push to an
		// endpoint that was down.
		down := r.target
		down.URL, down.Handler = "", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) })
		genuine, err := r.fake.PushRaw(ctx, down, event, o.payload(), midastest.PushOptions{})
		require.NoError(t, err)
		require.False(t, genuine.Success)

		type forged struct {
			name    string
			payload []byte
			opts    midastest.PushOptions
		}
		cases := []forged{
			{"bad PayEventSig", o.payload(), midastest.PushOptions{BadPayEventSig: true}},
			{"bad URL signature", o.payload(), midastest.PushOptions{BadSignature: true}},
			{"signed with the sandbox key", o.payload(), midastest.PushOptions{OtherEnvKey: true}},
			{"a sandbox push (no sandbox key configured)", itemPayload(o.player.OpenID, id, "gem_pack_60", 3, 600, midas.Sandbox), midastest.PushOptions{}},
			{"more than was bought", itemPayload(o.player.OpenID, id, "gem_pack_60", 30, 600, midas.Production), midastest.PushOptions{}},
			{"another product", itemPayload(o.player.OpenID, id, "sword", 3, 100, midas.Production), midastest.PushOptions{}},
			{"another player", itemPayload(players[1].OpenID, id, "gem_pack_60", 3, 600, midas.Production), midastest.PushOptions{}},
		}
		if r.secure {
			cases = append(cases,
				forged{"bad msg_signature", o.payload(), midastest.PushOptions{BadMsgSignature: true}},
				forged{"another game's appid", o.payload(), midastest.PushOptions{AppID: "wx0000000000other"}},
				forged{"plain body to a secure endpoint", o.payload(), midastest.PushOptions{Plain: true}},
			)
		}
		for _, c := range cases {
			p, err := r.fake.PushRaw(ctx, r.target, event, c.payload, c.opts)
			require.NoError(t, err, c.name)
			assert.False(t, p.Success, "%s: %d %s", c.name, p.Status, p.Answer)
		}

		// Replays of the genuine push with a part changed.
		replays := map[string]midastest.Push{}
		tamper := func(name string, f func(p *midastest.Push)) {
			p := genuine
			p.Query = map[string][]string{}
			for k, v := range genuine.Query {
				p.Query[k] = append([]string(nil), v...)
			}
			p.Body = append([]byte(nil), genuine.Body...)
			f(&p)
			replays[name] = p
		}
		tamper("signature changed", func(p *midastest.Push) { p.Query.Set("signature", strings.Repeat("0", 40)) })
		tamper("timestamp changed", func(p *midastest.Push) { p.Query.Set("timestamp", "1700000000") })
		tamper("nonce changed", func(p *midastest.Push) { p.Query.Set("nonce", p.Query.Get("nonce")+"1") })
		tamper("signature dropped", func(p *midastest.Push) { p.Query.Del("signature") })
		if r.secure {
			tamper("msg_signature changed", func(p *midastest.Push) { p.Query.Set("msg_signature", strings.Repeat("0", 40)) })
			tamper("msg_signature dropped", func(p *midastest.Push) { p.Query.Del("msg_signature") })
			tamper("Encrypt changed", func(p *midastest.Push) {
				p.Body = bytes.Replace(p.Body, []byte(`"Encrypt":"`), []byte(`"Encrypt":"AAAA`), 1)
			})
			tamper("body sent decrypted", func(p *midastest.Push) { p.Body = genuine.Message })
		} else {
			tamper("quantity raised", func(p *midastest.Push) {
				p.Body = bytes.Replace(p.Body, []byte(`\"Quantity\":3`), []byte(`\"Quantity\":30`), 1)
				require.NotEqual(t, genuine.Body, p.Body)
			})
		}
		for name, p := range replays {
			got, err := r.fake.Resend(ctx, r.target, p)
			require.NoError(t, err, name)
			assert.False(t, got.Success, "%s: %d %s", name, got.Status, got.Answer)
		}

		// A mock push (MP's format test) is verified and acknowledged, and
		// delivers nothing.
		mock, err := r.fake.PushRaw(ctx, r.target, event, o.payload(), midastest.PushOptions{IsMock: true})
		require.NoError(t, err)
		assert.True(t, mock.Success)

		assert.Empty(t, r.store.grantsOf())
		assert.False(t, stored(t, r, id).Delivered)
		for _, p := range players {
			assert.Empty(t, inventory(t, r, p.OpenID))
		}

		// The genuine push, replayed as it was, delivers, once.
		for i := 0; i < 3; i++ {
			got, err := r.fake.Resend(ctx, r.target, genuine)
			require.NoError(t, err)
			assert.True(t, got.Success, "%d %s", got.Status, got.Answer)
		}
		assert.Equal(t, map[string]int{id: 1}, r.store.grantsOf())
		assert.Equal(t, map[string]int64{"gem_pack_60": 3}, inventory(t, r, players[0].OpenID))
	})
}

// A verified push for an order the shop never signed (a store purchase, or a
// lost record) was paid for: it is delivered, once, and recorded.
func TestUnknownOrderDeliveredOnce(t *testing.T) {
	modes(t, func(t *testing.T, r *rig) {
		ctx := context.Background()
		p := midastest.ItemPurchase{OpenID: "player-2", ProductID: "sword", Quantity: 2, Price: 100, Source: push.SourceStore,
			Event: push.EventDeliverH5PayProducts} // OutTradeNo made by the platform
		res, err := r.fake.BuyItem(ctx, p, r.target)
		require.NoError(t, err)
		require.True(t, res.Delivered)
		for _, again := range res.Pushes {
			got, err := r.fake.Resend(ctx, r.target, again)
			require.NoError(t, err)
			assert.True(t, got.Success)
		}
		o := stored(t, r, res.OutTradeNo)
		assert.True(t, o.Delivered && o.FromPush)
		assert.Equal(t, map[string]int{res.OutTradeNo: 1}, r.store.grantsOf())
		assert.Equal(t, map[string]int64{"sword": 2}, inventory(t, r, "player-2"))
	})
}

// A shop that accepts sandbox pushes still refuses one for a production
// order: a sandbox order was not paid with real money.
func TestOtherEnvRefused(t *testing.T) {
	fake := midastest.NewServer(midastest.Config{AppID: appID, OfferID: offerID, AppKey: appKey, SandboxAppKey: sandboxKey,
		AccessTokens: []string{accessToken}, Players: players})
	defer fake.Close()
	client, err := midas.NewClient(midas.Config{AppID: appID, OfferID: offerID, AppKey: appKey, Version: midas.V2,
		AccessToken: midas.StaticToken(accessToken)}, midas.WithBaseURL(fake.URL))
	require.NoError(t, err)
	store := sqliteStore(t)
	shop, err := itemshop.New(itemshop.Config{Midas: client, Catalogue: catalogue, Store: store,
		Push: push.Config{Token: pushToken, AppID: appID, AppKey: appKey, SandboxAppKey: sandboxKey}})
	require.NoError(t, err)
	target := midastest.PushTarget{Handler: shop, URL: "http://shop.example" + itemshop.PushPath, Token: pushToken}
	p, err := fake.PushRaw(context.Background(), target, midastest.EventItemDeliver,
		itemPayload("player-1", "is-sandbox-1", "sword", 1, 100, midas.Sandbox), midastest.PushOptions{})
	require.NoError(t, err)
	assert.False(t, p.Success, "%d %s", p.Status, p.Answer)
	_, ok, err := store.Order(context.Background(), "is-sandbox-1")
	require.NoError(t, err)
	assert.False(t, ok)
}

// When every push is lost, Reconcile asks WeChat and delivers the paid
// order; the pushes that come later grant nothing.
func TestReconcileDeliversLostPush(t *testing.T) {
	modes(t, func(t *testing.T, r *rig) {
		ctx := context.Background()
		o := r.order(t, players[2], "shield", 1)
		id := o.data.OutTradeNo

		// Not paid yet: WeChat does not know the order.
		done, err := r.shop.Reconcile(ctx, id, o.player.SessionKey)
		require.NoError(t, err)
		assert.False(t, done)

		down := r.target
		down.URL, down.Handler = "", http.NotFoundHandler()
		_, err = r.fake.BuyItem(ctx, o.purchase(), down)
		require.ErrorIs(t, err, midastest.ErrNotDelivered)
		assert.False(t, stored(t, r, id).Delivered)

		for i := 0; i < 2; i++ {
			done, err = r.shop.Reconcile(ctx, id, o.player.SessionKey)
			require.NoError(t, err)
			assert.True(t, done)
		}
		for _, p := range r.fake.Pushes() {
			got, err := r.fake.Resend(ctx, r.target, p)
			require.NoError(t, err)
			assert.True(t, got.Success)
		}
		assert.Equal(t, map[string]int{id: 1}, r.store.grantsOf())
		assert.Equal(t, map[string]int64{"shield": 1}, inventory(t, r, players[2].OpenID))

		_, err = r.shop.Reconcile(ctx, "is-never-made", o.player.SessionKey)
		assert.ErrorIs(t, err, itemshop.ErrUnknownOrder)
	})
}

func TestNewRejects(t *testing.T) {
	v1, err := midas.NewClient(midas.Config{AppID: appID, OfferID: offerID, AppKey: appKey, AccessToken: midas.StaticToken(accessToken)})
	require.NoError(t, err)
	v2, err := midas.NewClient(midas.Config{AppID: appID, OfferID: offerID, AppKey: appKey, Version: midas.V2, AccessToken: midas.StaticToken(accessToken)})
	require.NoError(t, err)
	pc := push.Config{Token: pushToken, AppID: appID, AppKey: appKey}
	st := sqliteStore(t)
	for _, tc := range []struct {
		cfg  itemshop.Config
		want string
	}{
		{itemshop.Config{Push: pc, Catalogue: catalogue, Store: st}, "Config.Midas is nil"},
		{itemshop.Config{Midas: v1, Push: pc, Catalogue: catalogue, Store: st}, "midas.V2"},
		{itemshop.Config{Midas: v2, Push: pc, Store: st}, "Catalogue is empty"},
		{itemshop.Config{Midas: v2, Push: pc, Catalogue: catalogue}, "Store is nil"},
		{itemshop.Config{Midas: v2, Push: pc, Catalogue: map[string]int64{"free": 0}, Store: st}, `price of "free"`},
		{itemshop.Config{Midas: v2, Push: pc, Catalogue: catalogue, CoinPrices: map[string]int64{"free": -1}, Store: st}, `CoinPrices: price of "free"`},
		{itemshop.Config{Midas: v2, Push: push.Config{AppID: appID, AppKey: appKey}, Catalogue: catalogue, Store: st}, "Token"},
	} {
		_, err := itemshop.New(tc.cfg)
		assert.ErrorContains(t, err, tc.want, fmt.Sprint(tc.want))
	}
}

type pushRecorder struct {
	mu  sync.Mutex
	got []push.Observation
}

func (p *pushRecorder) ObservePush(_ context.Context, o push.Observation) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got = append(p.got, o)
}

// Config.PushOptions reach the shop's push handler: an observer sees a
// forged push rejected.
func TestPushOptionsReachTheHandler(t *testing.T) {
	client, err := midas.NewClient(midas.Config{AppID: appID, OfferID: offerID, AppKey: appKey, Version: midas.V2,
		AccessToken: midas.StaticToken(accessToken)})
	require.NoError(t, err)
	driver, dsn := dbtest.SQLite(t)
	store := openStore(t, driver, dsn)
	rec := &pushRecorder{}
	shop, err := itemshop.New(itemshop.Config{Midas: client, Store: store, Catalogue: catalogue,
		Push:        push.Config{Token: pushToken, AppID: appID, AppKey: appKey},
		PushOptions: []push.Option{push.WithObserver(rec)}})
	require.NoError(t, err)
	w := httptest.NewRecorder()
	shop.ServeHTTP(w, httptest.NewRequest(http.MethodPost, itemshop.PushPath+"?signature=bad&timestamp=1&nonce=2", strings.NewReader("{}")))
	require.NotEqual(t, http.StatusOK, w.Code)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	require.Len(t, rec.got, 1)
	require.NotEqual(t, push.ResultAccepted, rec.got[0].Result)
}
