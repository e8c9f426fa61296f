package midastest_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gomidas/midas"
	"github.com/gomidas/midas/midastest"
	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The signature page's placeholder values, which the spec's vectors use.
const (
	v2AppKey     = "12345"
	v2SandboxKey = "sandbox-67890"
	v2OfferID    = "12345678"
	vecPlayer    = "oUrsfxxxxxxxxxx"
	vecKey       = "9hAb/NEYUlkaMBEsmFgzig=="
)

func v2Config() midastest.Config {
	return midastest.Config{
		OfferID: v2OfferID, AppKey: v2AppKey, SandboxAppKey: v2SandboxKey,
		AccessTokens: []string{token},
		Players: []midastest.Player{
			{OpenID: vecPlayer, SessionKey: vecKey, Balance: 10},
			{OpenID: alice, SessionKey: aliceKey, Balance: 100, GenBalance: 20},
			{OpenID: bob, SessionKey: bobKey},
		},
	}
}

// hmacHex is this test's own 2.0 signer, apart from the fake's and the
// midas package's.
func hmacHex(key string, msg ...string) string {
	m := hmac.New(sha256.New, []byte(key))
	for _, s := range msg {
		m.Write([]byte(s))
	}
	return hex.EncodeToString(m.Sum(nil))
}

func paySig(api, body, appKey string) string { return hmacHex(appKey, "/wxa/game/"+api, "&", body) }

// obj lays a JSON object out in the order given: name, value, name, value.
// A json.RawMessage value goes in as it is.
func obj(kv ...any) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := 0; i < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		name, _ := json.Marshal(kv[i])
		val, err := json.Marshal(kv[i+1])
		if err != nil {
			panic(err)
		}
		b.Write(name)
		b.WriteByte(':')
		b.Write(val)
	}
	b.WriteByte('}')
	return b.String()
}

// head is the fields every 2.0 body starts with, for openid in env 0.
func head(openID string) []any {
	return []any{"openid", openID, "offer_id", v2OfferID, "ts", 1668512428, "zone_id", "1", "env", 0}
}

func with(base []any, kv ...any) []any { return append(append([]any(nil), base...), kv...) }

// v2Query signs body for api with appKey and sessionKey.
func v2Query(api, body, appKey, sessionKey string) url.Values {
	return url.Values{
		"access_token": {token}, "sig_method": {"hmac_sha256"},
		"pay_sig": {paySig(api, body, appKey)}, "signature": {hmacHex(sessionKey, body)},
	}
}

// do serves one 2.0 request through h without a network and decodes the
// answer.
func do(t *testing.T, h http.Handler, api, body string, q url.Values) map[string]any {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/wxa/game/"+api+"?"+q.Encode(), strings.NewReader(body)))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var out map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out), rec.Body.String())
	return out
}

// v2 sends body to api signed with the production key and openID's
// session_key from v2Config.
func v2(t *testing.T, h http.Handler, api, body string) map[string]any {
	t.Helper()
	var p struct {
		OpenID string `json:"openid"`
		Env    int    `json:"env"`
	}
	_ = json.Unmarshal([]byte(body), &p)
	key := v2AppKey
	if p.Env == 1 {
		key = v2SandboxKey
	}
	sk := map[string]string{vecPlayer: vecKey, alice: aliceKey, bob: bobKey}[p.OpenID]
	return do(t, h, api, body, v2Query(api, body, key, sk))
}

func code(out map[string]any) int {
	f, _ := out["errcode"].(float64)
	return int(f)
}

func TestV2SpecVectors(t *testing.T) {
	vectors := []struct {
		name, api, body, paySig, signature string
	}{
		{"1 getbalance, spaced", "getbalance", `{"offer_id": "12345678", "openid": "oUrsfxxxxxxxxxx", "ts": 1668136271, "zone_id": "1", "env": 0}`,
			"11bac6388871d29c055c7d16fbe42e8d646855b666faf89b15c815218b1b23bd", "42fe1d3341fb1c8bd6f5014ba735ab04eacc80a2deb3ab4669eab4700b5b6729"},
		{"2 getbalance, compact", "getbalance", `{"offer_id":"12345678","openid":"oUrsfxxxxxxxxxx","ts":1668136271,"zone_id":"1","env":0}`,
			"8dee94d922a93df4948f3002501a24a765d5b6e716c80d3518fe08e789f06b23", "ac2c11add7c7feb449a2e9c028a817ddfd08adf5100ebdfcd2a6921c115e7b20"},
		{"3 pay", "pay", `{"openid":"oUrsfxxxxxxxxxx","offer_id":"12345678","ts":1668512428,"zone_id":"1","env":0,"user_ip":"127.0.0.1","amount":1,"bill_no":"test_pay_1668512428"}`,
			"45a98820db9d50106c4bd948bf73e2a59e2aa3859f05b79deaaf537c25d2f8e0", "c180879cdb0e9cab63e35d79e03dfb4b6ad979963cdd2a2b82cb3b45e69193f1"},
		{"4 queryorderinfo", "queryorderinfo", `{"openid":"oUrsfxxxxxxxxxx","offer_id":"12345678","ts":1668512806,"zone_id":"1","env":0,"out_trade_no":"test_queryorderinfo_1668512806","biz_id":2}`,
			"4d637ae4d1f2fd4027049dc507213bc03faf730c6172c4b34519911275783cae", "3e5b1195fb37662da3bde1e394459787a9618326c80959c1edd2d04a36bf0cf1"},
	}
	srv := midastest.NewServer(v2Config())
	defer srv.Close()
	post := func(api, body, paySig, signature string) map[string]any {
		q := url.Values{"access_token": {token}, "signature": {signature}, "sig_method": {"hmac_sha256"}, "pay_sig": {paySig}}
		resp, err := http.Post(srv.URL+"/wxa/game/"+api+"?"+q.Encode(), "application/json", strings.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		var out map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		return out
	}
	for _, v := range vectors {
		t.Run(v.name, func(t *testing.T) {
			require.Equal(t, v.paySig, paySig(v.api, v.body, v2AppKey), "this test's signer")
			require.Equal(t, v.signature, hmacHex(vecKey, v.body), "this test's signer")
		})
	}

	out := post("getbalance", vectors[0].body, vectors[0].paySig, vectors[0].signature)
	assert.Equal(t, map[string]any{"errcode": 0.0, "errmsg": "ok", "balance": 10.0, "present_balance": 0.0, "sum_save": 10.0,
		"sum_present": 0.0, "sum_balance": 10.0, "sum_cost": 0.0, "first_save": true}, out)
	assert.Equal(t, 0, code(post("getbalance", vectors[1].body, vectors[1].paySig, vectors[1].signature)))

	out = post("pay", vectors[2].body, vectors[2].paySig, vectors[2].signature)
	assert.Equal(t, map[string]any{"errcode": 0.0, "errmsg": "ok", "bill_no": "test_pay_1668512428", "balance": 9.0, "used_present_amount": 0.0}, out)
	o, ok := srv.OrderV2(midas.Production, vecPlayer, "1", "test_pay_1668512428")
	require.True(t, ok)
	assert.Equal(t, midas.V2, o.Version)
	assert.Equal(t, int64(1), o.Amount)

	out = post("queryorderinfo", vectors[3].body, vectors[3].paySig, vectors[3].signature)
	assert.Equal(t, 90019, code(out), "no such order yet")
	paidAt := time.Unix(1668512900, 0)
	srv.AddOrderInfo(midas.Production, midastest.OrderInfo{OpenID: vecPlayer, OutTradeNo: "test_queryorderinfo_1668512806", BizID: midastest.BizItem,
		ProductID: "sword", Paid: true, PaidAt: paidAt, MchOrderNo: "mch-1", TransactionID: "4200001"})
	out = post("queryorderinfo", vectors[3].body, vectors[3].paySig, vectors[3].signature)
	assert.Equal(t, map[string]any{"errcode": 0.0, "errmsg": "ok", "out_trade_no": "test_queryorderinfo_1668512806", "product_id": "sword",
		"pay_state": 2.0, "deliver_state": 1.0, "pay_finish_time": 1668512900.0, "mch_order_no": "mch-1", "transaction_id": "4200001"}, out)
}

func TestV2Ledger(t *testing.T) {
	srv := midastest.New(v2Config())
	bal := func() map[string]any { return v2(t, srv, "getbalance", obj(head(alice)...)) }
	assert.Equal(t, map[string]any{"errcode": 0.0, "errmsg": "ok", "balance": 120.0, "present_balance": 20.0, "sum_save": 100.0,
		"sum_present": 20.0, "sum_balance": 120.0, "sum_cost": 0.0, "first_save": true}, bal())

	out := v2(t, srv, "present", obj(with(head(alice), "amount", 5, "bill_no", "gift-1")...))
	assert.Equal(t, map[string]any{"errcode": 0.0, "errmsg": "ok", "bill_no": "gift-1", "balance": 125.0}, out)

	// Gifted coins (25) go first.
	out = v2(t, srv, "pay", obj(with(head(alice), "amount", 40, "bill_no", "pay-1", "payitem", "sword*1", "remark", "首充")...))
	assert.Equal(t, map[string]any{"errcode": 0.0, "errmsg": "ok", "bill_no": "pay-1", "balance": 85.0, "used_present_amount": 25.0}, out)

	// One bill_no, one order, whatever the API.
	for _, api := range []string{"pay", "present"} {
		assert.Equal(t, 90012, code(v2(t, srv, api, obj(with(head(alice), "amount", 40, "bill_no", "pay-1")...))), api)
		assert.Equal(t, 90012, code(v2(t, srv, api, obj(with(head(alice), "amount", 5, "bill_no", "gift-1")...))), api)
	}
	assert.Equal(t, 90012, code(v2(t, srv, "cancelpay", obj(with(head(alice), "pay_bill_no", "pay-1", "bill_no", "pay-1", "amount", 1)...))))
	assert.Equal(t, 90013, code(v2(t, srv, "pay", obj(with(head(alice), "amount", 86, "bill_no", "pay-2")...))))
	_, ok := srv.OrderV2(midas.Production, alice, "", "pay-2")
	assert.False(t, ok, "a refused pay leaves its bill_no unused")

	// Partial returns: paid coins (15 of the 40) come back first, then gifted.
	ret := func(bill string, amount int) map[string]any {
		return v2(t, srv, "cancelpay", obj(with(head(alice), "pay_bill_no", "pay-1", "bill_no", bill, "amount", amount)...))
	}
	out = ret("ret-1", 10)
	assert.Equal(t, map[string]any{"errcode": 0.0, "errmsg": "ok", "bill_no": "ret-1", "balance": 95.0}, out)
	total, gifted := srv.Balance(midas.Production, alice, "")
	assert.Equal(t, [2]int64{95, 0}, [2]int64{total, gifted})
	out = ret("ret-2", 10)
	assert.Equal(t, 105.0, out["balance"])
	total, gifted = srv.Balance(midas.Production, alice, "")
	assert.Equal(t, [2]int64{105, 5}, [2]int64{total, gifted}, "5 paid, then 5 gifted")
	assert.Equal(t, 90012, code(ret("ret-2", 10)), "a return's bill_no is its own, and used")
	assert.Equal(t, 90018, code(ret("ret-3", 21)), "beyond the 20 left")
	_, ok = srv.OrderV2(midas.Production, alice, "1", "ret-3")
	assert.False(t, ok)
	assert.Equal(t, 0, code(ret("ret-3", 20)))
	assert.Equal(t, 90018, code(ret("ret-4", 1)), "nothing left to return")
	total, gifted = srv.Balance(midas.Production, alice, "")
	assert.Equal(t, [2]int64{125, 25}, [2]int64{total, gifted}, "all back, gifted as gifted")

	pay, ok := srv.OrderV2(midas.Production, alice, "1", "pay-1")
	require.True(t, ok)
	assert.Equal(t, midastest.Order{API: midas.APIPay, Version: midas.V2, Env: midas.Production, BillNo: "pay-1", OpenID: alice, ZoneID: "1",
		Amount: 40, UsedGen: 25, Refunded: 40, Cancelled: true}, stripped(pay))
	r, ok := srv.OrderV2(midas.Production, alice, "1", "ret-2")
	require.True(t, ok)
	assert.Equal(t, midastest.Order{API: midas.APICancelPay, Version: midas.V2, Env: midas.Production, BillNo: "ret-2", OpenID: alice, ZoneID: "1",
		Amount: 10, PayBillNo: "pay-1"}, stripped(r))

	assert.Equal(t, 90000, code(v2(t, srv, "cancelpay", obj(with(head(alice), "pay_bill_no", "never", "bill_no", "ret-5", "amount", 1)...))))
	assert.Equal(t, 90000, code(v2(t, srv, "cancelpay", obj(with(head(alice), "pay_bill_no", "gift-1", "bill_no", "ret-5", "amount", 1)...))), "a present is not a pay")
	assert.Equal(t, 90000, code(v2(t, srv, "cancelpay", obj(with(head(alice), "pay_bill_no", "ret-1", "bill_no", "ret-5", "amount", 1)...))), "nor is a return")
	srv.TopUp(midas.Production, bob, "", 50)
	require.Equal(t, 0, code(v2(t, srv, "pay", obj(with(head(bob), "amount", 5, "bill_no", "bob-pay")...))))
	assert.Equal(t, 90000, code(v2(t, srv, "cancelpay", obj(with(head(alice), "pay_bill_no", "bob-pay", "bill_no", "ret-5", "amount", 1)...))), "another player's pay")
	otherZone := with(head(bob), "pay_bill_no", "bob-pay", "bill_no", "ret-5", "amount", 1)
	otherZone[7] = "2"
	assert.Equal(t, 90000, code(v2(t, srv, "cancelpay", obj(otherZone...))), "another zone's pay")

	assert.Equal(t, map[string]any{"errcode": 0.0, "errmsg": "ok", "balance": 125.0, "present_balance": 25.0, "sum_save": 100.0,
		"sum_present": 25.0, "sum_balance": 125.0, "sum_cost": 0.0, "first_save": true}, bal())
	out = v2(t, srv, "getbalance", obj(head(bob)...))
	assert.Equal(t, 45.0, out["balance"])
	assert.Equal(t, 5.0, out["sum_cost"])
	// A player who never topped up.
	srv.AddPlayer(midastest.Player{OpenID: "erin", SessionKey: aliceKey})
	out = do(t, srv, "getbalance", obj(head("erin")...), v2Query("getbalance", obj(head("erin")...), v2AppKey, aliceKey))
	assert.Equal(t, false, out["first_save"])
}

// stripped drops what Order keeps for replays, to compare with a literal.
func stripped(o midastest.Order) midastest.Order {
	return midastest.Order{API: o.API, Version: o.Version, Env: o.Env, BillNo: o.BillNo, OpenID: o.OpenID, ZoneID: o.ZoneID,
		Amount: o.Amount, UsedGen: o.UsedGen, PayBillNo: o.PayBillNo, Refunded: o.Refunded, Cancelled: o.Cancelled}
}

// 2.0 bill_nos are unique per openid and zone_id.
func TestV2BillNoScope(t *testing.T) {
	srv := midastest.New(v2Config())
	srv.TopUp(midas.Production, bob, "", 10)
	srv.TopUp(midas.Production, alice, "2", 10)
	zone2 := with(head(alice), "amount", 1, "bill_no", "same")
	zone2[7] = "2"
	for _, body := range []string{
		obj(with(head(alice), "amount", 1, "bill_no", "same")...),
		obj(with(head(bob), "amount", 1, "bill_no", "same")...),
		obj(zone2...),
	} {
		assert.Equal(t, 0, code(v2(t, srv, "pay", body)), body)
	}
	_, ok := srv.Order(midas.Production, "same")
	assert.False(t, ok, "ambiguous: three players' orders")
	o, ok := srv.OrderV2(midas.Production, alice, "2", "same")
	require.True(t, ok)
	assert.Equal(t, "2", o.ZoneID)

	require.Equal(t, 0, code(v2(t, srv, "present", obj(with(head(bob), "amount", 1, "bill_no", "only-bob")...))))
	o, ok = srv.Order(midas.Production, "only-bob")
	require.True(t, ok, "one player's: Order finds it")
	assert.Equal(t, bob, o.OpenID)
	_, ok = srv.Order(midas.Sandbox, "only-bob")
	assert.False(t, ok)
}

func TestV2Rejects(t *testing.T) {
	payBody := func(kv ...any) string {
		return obj(with(head(alice), append([]any{"amount", 10, "bill_no", "p1"}, kv...)...)...)
	}
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	zone := func(z string) string {
		kv := with(head(alice), "amount", 10, "bill_no", "p1")
		kv[7] = z
		return obj(kv...)
	}
	aliceRaw, err := base64.StdEncoding.DecodeString(aliceKey)
	require.NoError(t, err)
	signed := func(api, body string) url.Values { return v2Query(api, body, v2AppKey, aliceKey) }
	cases := []struct {
		name, api, body string
		query           url.Values // nil: signed correctly
		code            int
		msg             string // errmsg contains
	}{
		{"unknown token", "pay", payBody(), url.Values{"access_token": {"nope"}}, 40001, ""},
		{"sig_method missing", "pay", payBody(), url.Values{"sig_method": nil}, 90018, "[sig_method] sig_method must be hmac_sha256"},
		{"sig_method other", "pay", payBody(), url.Values{"sig_method": {"HMAC_SHA256"}}, 90018, "[sig_method] sig_method must be hmac_sha256"},
		{"not JSON", "pay", `amount=10`, nil, 90018, ""},
		{"array", "pay", `[]`, nil, 90018, ""},
		{"trailing brace", "pay", payBody() + "}", nil, 90018, "after"},
		{"trailing bracket", "pay", payBody() + "]", nil, 90018, "after"},
		{"trailing word", "pay", payBody() + " x", nil, 90018, ""},
		{"duplicate", "pay", payBody("amount", 10), nil, 90018, "more than once"},
		{"numeric bill_no", "pay", obj(with(head(alice), "amount", 10, "bill_no", 123)...), nil, 90018, `field "bill_no" doesn't expect an uint32 value`},
		{"ts as string", "pay", obj("openid", alice, "offer_id", v2OfferID, "ts", "1668512428", "zone_id", "1", "env", 0, "amount", 1, "bill_no", "p1"), nil, 90018, `field "ts" doesn't expect a string value`},
		{"env as string", "pay", obj("openid", alice, "offer_id", v2OfferID, "ts", 1, "zone_id", "1", "env", "0", "amount", 1, "bill_no", "p1"), nil, 90018, `"env"`},
		{"zone_id as number", "pay", obj("openid", alice, "offer_id", v2OfferID, "ts", 1, "zone_id", 1, "env", 0, "amount", 1, "bill_no", "p1"), nil, 90018, `"zone_id"`},
		{"amount as string", "pay", obj(with(head(alice), "amount", "10", "bill_no", "p1")...), nil, 90018, `"amount"`},
		{"amount fractional", "pay", obj(with(head(alice), "amount", raw("1.5"), "bill_no", "p1")...), nil, 90018, "[amount]"},
		{"amount null", "pay", obj(with(head(alice), "amount", nil, "bill_no", "p1")...), nil, 90018, "null"},
		{"amount object", "pay", obj(with(head(alice), "amount", raw(`{"n":1}`), "bill_no", "p1")...), nil, 90018, "object"},
		{"amount zero", "pay", obj(with(head(alice), "amount", 0, "bill_no", "p1")...), nil, 90018, "[amount]"},
		{"amount negative", "present", obj(with(head(alice), "amount", -5, "bill_no", "p1")...), nil, 90018, "[amount]"},
		{"unknown field", "pay", payBody("extra", "x"), nil, 90018, "[extra]"},
		{"wrong case", "pay", payBody("OpenID", alice), nil, 90018, "[OpenID]"},
		{"1.0 appid", "pay", payBody("appid", appID), nil, 90018, "[appid]"},
		{"1.0 pf", "pay", payBody("pf", "android"), nil, 90018, "[pf]"},
		{"1.0 sig", "pay", payBody("sig", "abc"), nil, 90018, "[sig]"},
		{"1.0 mp_sig", "pay", payBody("mp_sig", "abc"), nil, 90018, "[mp_sig]"},
		{"1.0 amt", "pay", obj(with(head(alice), "amt", 10, "bill_no", "p1")...), nil, 90018, "amount"},
		{"another API's field", "getbalance", obj(with(head(alice), "bill_no", "p1")...), nil, 90018, "[bill_no]"},
		{"missing openid", "getbalance", obj("offer_id", v2OfferID, "ts", 1, "zone_id", "1", "env", 0), nil, 90018, "[openid]"},
		{"missing offer_id", "getbalance", obj("openid", alice, "ts", 1, "zone_id", "1", "env", 0), nil, 90018, "[offer_id]"},
		{"missing ts", "getbalance", obj("openid", alice, "offer_id", v2OfferID, "zone_id", "1", "env", 0), nil, 90018, "[ts]"},
		{"missing zone_id", "getbalance", obj("openid", alice, "offer_id", v2OfferID, "ts", 1, "env", 0), nil, 90018, "[zone_id]"},
		{"missing env", "getbalance", obj("openid", alice, "offer_id", v2OfferID, "ts", 1, "zone_id", "1"), nil, 90018, "[env]"},
		{"pay missing amount", "pay", obj(with(head(alice), "bill_no", "p1")...), nil, 90018, "[amount]"},
		{"pay missing bill_no", "pay", obj(with(head(alice), "amount", 1)...), nil, 90018, "[bill_no]"},
		{"present missing bill_no", "present", obj(with(head(alice), "amount", 1)...), nil, 90018, "[bill_no]"},
		{"cancelpay missing pay_bill_no", "cancelpay", obj(with(head(alice), "bill_no", "r1", "amount", 1)...), nil, 90018, "[pay_bill_no]"},
		{"cancelpay missing amount", "cancelpay", obj(with(head(alice), "pay_bill_no", "p0", "bill_no", "r1")...), nil, 90018, "[amount]"},
		{"cancelpay bad pay_bill_no", "cancelpay", obj(with(head(alice), "pay_bill_no", "_p0", "bill_no", "r1", "amount", 1)...), nil, 90018, "[pay_bill_no]"},
		{"queryorderinfo missing biz_id", "queryorderinfo", obj(with(head(alice), "out_trade_no", "o1")...), nil, 90018, "[biz_id]"},
		{"queryorderinfo missing out_trade_no", "queryorderinfo", obj(with(head(alice), "biz_id", 1)...), nil, 90018, "[out_trade_no]"},
		{"biz_id 3", "queryorderinfo", obj(with(head(alice), "out_trade_no", "o1", "biz_id", 3)...), nil, 90018, "[biz_id]"},
		{"coin_type 2", "getbalance", obj(with(head(alice), "coin_type", 2)...), nil, 90018, "[coin_type]"},
		{"coin_type 1 in zone 2", "getbalance", obj("openid", alice, "offer_id", v2OfferID, "ts", 1, "zone_id", "2", "env", 0, "coin_type", 1), nil, 90018, "[zone_id]"},
		{"env 2", "getbalance", obj("openid", alice, "offer_id", v2OfferID, "ts", 1, "zone_id", "1", "env", 2), nil, 90018, "[env]"},
		{"empty openid", "getbalance", obj(head("")...), nil, 90018, "[openid]"},
		{"empty zone_id", "pay", zone(""), nil, 90018, "[zone_id]"},
		{"control in zone_id", "pay", zone("1\t"), nil, 90018, "[zone_id]"},
		{"bill_no starting with _", "pay", obj(with(head(alice), "amount", 1, "bill_no", "_p1")...), nil, 90018, "[bill_no]"},
		{"bill_no with *", "pay", obj(with(head(alice), "amount", 1, "bill_no", "p*1")...), nil, 90018, "[bill_no]"},
		{"bill_no with @", "pay", obj(with(head(alice), "amount", 1, "bill_no", "p@1")...), nil, 90018, "[bill_no]"},
		{"bill_no 64", "pay", obj(with(head(alice), "amount", 1, "bill_no", strings.Repeat("b", 64))...), nil, 90018, "[bill_no]"},
		{"empty bill_no", "pay", obj(with(head(alice), "amount", 1, "bill_no", "")...), nil, 90018, "[bill_no]"},
		{"wrong offer_id", "pay", obj("openid", alice, "offer_id", "999", "ts", 1, "zone_id", "1", "env", 0, "amount", 1, "bill_no", "p1"), nil, 90018, "[offer_id]"},
		{"pay_sig wrong", "pay", payBody(), url.Values{"pay_sig": {paySig("pay", payBody(), "wrong")}}, 90011, "[pay_sig]"},
		{"pay_sig missing", "pay", payBody(), url.Values{"pay_sig": nil}, 90011, "[pay_sig]"},
		{"pay_sig uppercase", "pay", payBody(), url.Values{"pay_sig": {strings.ToUpper(paySig("pay", payBody(), v2AppKey))}}, 90011, "[pay_sig]"},
		{"pay_sig of env 1's key", "pay", payBody(), url.Values{"pay_sig": {paySig("pay", payBody(), v2SandboxKey)}}, 90011, "[pay_sig]"},
		{"pay_sig of another path", "pay", payBody(), url.Values{"pay_sig": {paySig("present", payBody(), v2AppKey)}}, 90011, "[pay_sig]"},
		{"pay_sig of other bytes", "pay", payBody(), url.Values{"pay_sig": {paySig("pay", payBody()+" ", v2AppKey)}}, 90011, "[pay_sig]"},
		{"pay_sig of the 1.0 kind", "pay", payBody(), url.Values{"pay_sig": {midas.Sig(map[string]string{"openid": alice}, "/wxa/game/pay", v2AppKey)}}, 90011, "[pay_sig]"},
		{"unknown player", "getbalance", obj(head("stranger")...), nil, 90010, "[signature]"},
		{"player never logged in", "getbalance", obj(head("carol")...), nil, 90010, "[signature]"},
		{"signature wrong", "pay", payBody(), url.Values{"signature": {hmacHex(bobKey, payBody())}}, 90010, "[signature]"},
		{"signature missing", "pay", payBody(), url.Values{"signature": nil}, 90010, "[signature]"},
		{"signature with the decoded key", "pay", payBody(), url.Values{"signature": {hmacHex(string(aliceRaw), payBody())}}, 90010, "[signature]"},
	}
	srv := midastest.New(v2Config())
	srv.AddPlayer(midastest.Player{OpenID: "carol"})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := signed(tc.api, tc.body)
			for k, v := range tc.query {
				if v == nil {
					q.Del(k)
				} else {
					q[k] = v
				}
			}
			out := do(t, srv, tc.api, tc.body, q)
			assert.Equal(t, tc.code, code(out), out["errmsg"])
			assert.Contains(t, out["errmsg"], tc.msg)
		})
	}
	total, gifted := srv.Balance(midas.Production, alice, "")
	assert.Equal(t, [2]int64{120, 20}, [2]int64{total, gifted}, "no refused call moved coins")
	for _, c := range srv.Calls() {
		assert.False(t, c.Applied)
		assert.Equal(t, midas.V2, c.Version)
	}

	t.Run("expired token", func(t *testing.T) {
		srv.AddToken("old")
		srv.ExpireToken("old")
		q := signed("pay", payBody())
		q.Set("access_token", "old")
		assert.Equal(t, 42001, code(do(t, srv, "pay", payBody(), q)))
	})
	t.Run("token before sig_method", func(t *testing.T) {
		assert.Equal(t, 40001, code(do(t, srv, "pay", payBody(), url.Values{"access_token": {"nope"}})))
	})
	t.Run("sig_method before body", func(t *testing.T) {
		assert.Equal(t, "[sig_method] sig_method must be hmac_sha256", do(t, srv, "pay", "not json", url.Values{"access_token": {token}})["errmsg"])
	})
	t.Run("offer_id before pay_sig", func(t *testing.T) {
		body := obj("openid", alice, "offer_id", "999", "ts", 1, "zone_id", "1", "env", 0)
		assert.Equal(t, 90018, code(do(t, srv, "getbalance", body, url.Values{"access_token": {token}, "sig_method": {"hmac_sha256"}})))
	})
	t.Run("pay_sig before the player", func(t *testing.T) {
		body := obj(head("stranger")...)
		assert.Equal(t, 90011, code(do(t, srv, "getbalance", body, url.Values{"access_token": {token}, "sig_method": {"hmac_sha256"}})))
	})
	t.Run("ts is any integer", func(t *testing.T) {
		body := obj("openid", alice, "offer_id", v2OfferID, "ts", 0, "zone_id", "1", "env", 0)
		assert.Equal(t, 0, code(v2(t, srv, "getbalance", body)))
	})
	t.Run("printable zone ids pass", func(t *testing.T) {
		for _, z := range []string{"2_role-42", "区服1_角色 A"} {
			srv.TopUp(midas.Production, alice, z, 10)
			out := v2(t, srv, "pay", zone(z))
			assert.Equal(t, 0, code(out), "%q: %v", z, out["errmsg"])
		}
	})
}

// ExpireSession answers 2.0 calls 90016 (1.0 ones 90010) until
// SetSessionKey logs the player in again, balances kept.
func TestV2SessionExpiry(t *testing.T) {
	cfg := v2Config()
	cfg.AppID = appID
	srv := midastest.NewServer(cfg)
	defer srv.Close()
	body := obj(head(alice)...)
	srv.ExpireSession(alice)
	out := v2(t, srv, "getbalance", body)
	assert.Equal(t, 90016, code(out))
	assert.Equal(t, "[signature] session_key expired", out["errmsg"])

	c, err := midas.NewClient(midas.Config{AppID: appID, OfferID: v2OfferID, AppKey: v2AppKey, AccessToken: midas.StaticToken(token)},
		midas.WithBaseURL(srv.URL), midas.WithMaxRetries(0))
	require.NoError(t, err)
	_, err = c.GetBalance(bg, midas.BalanceRequest{OpenID: alice})
	assert.ErrorIs(t, err, midas.ErrSessionExpired, "1.0: 90010")

	require.NoError(t, srv.SetSessionKey(alice, bobKey))
	assert.Equal(t, 90010, code(v2(t, srv, "getbalance", body)), "the old key is stale")
	out = do(t, srv, "getbalance", body, v2Query("getbalance", body, v2AppKey, bobKey))
	assert.Equal(t, 0, code(out))
	assert.Equal(t, 120.0, out["balance"], "balances kept")
}

func TestV2Sandbox(t *testing.T) {
	srv := midastest.New(v2Config())
	sb := func(kv ...any) string {
		kv = with(head(alice), kv...)
		kv[9] = 1
		return obj(kv...)
	}
	assert.Equal(t, 0, code(v2(t, srv, "pay", sb("amount", 30, "bill_no", "s1"))))
	sbTotal, _ := srv.Balance(midas.Sandbox, alice, "")
	prodTotal, _ := srv.Balance(midas.Production, alice, "")
	assert.Equal(t, [2]int64{90, 120}, [2]int64{sbTotal, prodTotal})
	_, ok := srv.OrderV2(midas.Production, alice, "", "s1")
	assert.False(t, ok)
	assert.Equal(t, 0, code(v2(t, srv, "pay", obj(with(head(alice), "amount", 30, "bill_no", "s1")...))), "each env has its own bill_nos")

	// env 1 signed with the production key, env 0 with the sandbox key.
	body := sb()
	assert.Equal(t, 90011, code(do(t, srv, "getbalance", body, v2Query("getbalance", body, v2AppKey, aliceKey))))
	body = obj(head(alice)...)
	assert.Equal(t, 90011, code(do(t, srv, "getbalance", body, v2Query("getbalance", body, v2SandboxKey, aliceKey))))

	calls := srv.Calls()
	assert.Equal(t, midas.Sandbox, calls[0].Env)
	assert.Equal(t, midas.Production, calls[1].Env)
	assert.Equal(t, midas.Sandbox, calls[2].Env, "the body's env, even when refused")
}

func TestV2RepeatReplays(t *testing.T) {
	cfg := v2Config()
	cfg.Repeat = midastest.RepeatReplays
	srv := midastest.New(cfg)
	pay := obj(with(head(alice), "amount", 30, "bill_no", "r1")...)
	first := v2(t, srv, "pay", pay)
	require.Equal(t, 0, code(first))
	// A retry has a new ts: still the same call.
	again := v2(t, srv, "pay", strings.Replace(pay, "1668512428", "1668512999", 1))
	assert.Equal(t, first, again)
	assert.Equal(t, 90012, code(v2(t, srv, "pay", obj(with(head(alice), "amount", 31, "bill_no", "r1")...))))
	assert.Equal(t, 90012, code(v2(t, srv, "present", obj(with(head(alice), "amount", 30, "bill_no", "r1")...))), "another API")

	ret := obj(with(head(alice), "pay_bill_no", "r1", "bill_no", "r1-ret", "amount", 10)...)
	firstRet := v2(t, srv, "cancelpay", ret)
	require.Equal(t, 0, code(firstRet))
	assert.Equal(t, firstRet, v2(t, srv, "cancelpay", ret), "a return replays too")
	assert.Equal(t, 90012, code(v2(t, srv, "cancelpay", obj(with(head(alice), "pay_bill_no", "r1", "bill_no", "r1-ret", "amount", 11)...))))

	assert.Equal(t, 90012, code(v2(t, srv, "pay", pay)), "the pay was partly returned since: its answer no longer holds")
	total, _ := srv.Balance(midas.Production, alice, "")
	assert.Equal(t, int64(100), total, "deducted once, returned once")
}

func TestV2RechargeCenter(t *testing.T) {
	srv := midastest.New(v2Config())
	body := obj(with(head(alice), "coin_type", 1)...)
	out := v2(t, srv, "getbalance", body)
	assert.Equal(t, map[string]any{"errcode": 0.0, "errmsg": "ok", "balance": 0.0, "present_balance": 0.0, "sum_save": 0.0,
		"sum_present": 0.0, "sum_balance": 0.0, "sum_cost": 0.0, "first_save": false}, out)
	srv.TopUpRechargeCenter(midas.Production, alice, 60)
	out = v2(t, srv, "getbalance", body)
	assert.Equal(t, 60.0, out["balance"])
	assert.Equal(t, true, out["first_save"])
	assert.Equal(t, 120.0, v2(t, srv, "getbalance", obj(with(head(alice), "coin_type", 0)...))["balance"], "coin_type 0 is the game's coins")
	total, _ := srv.Balance(midas.Production, alice, "")
	assert.Equal(t, int64(120), total)
}

func TestV2OrderInfo(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	cfg := v2Config()
	cfg.Now = func() time.Time { return now }
	srv := midastest.New(cfg)
	srv.AddOrderInfo(midas.Sandbox, midastest.OrderInfo{OpenID: alice, OutTradeNo: "coins-1", BizID: midastest.BizCoins, ProductID: "60coins"})
	q := func(openID string, env, biz int) map[string]any {
		kv := with(head(openID), "out_trade_no", "coins-1", "biz_id", biz)
		kv[9] = env
		return v2(t, srv, "queryorderinfo", obj(kv...))
	}
	assert.Equal(t, map[string]any{"errcode": 0.0, "errmsg": "ok", "out_trade_no": "coins-1", "product_id": "60coins",
		"pay_state": 1.0, "deliver_state": 1.0, "pay_finish_time": 0.0, "mch_order_no": "", "transaction_id": ""}, q(alice, 1, 1))
	assert.Equal(t, 90019, code(q(alice, 1, 2)), "another biz_id")
	assert.Equal(t, 90019, code(q(bob, 1, 1)), "another player's")
	assert.Equal(t, 90019, code(q(alice, 0, 1)), "another env's")

	assert.True(t, srv.MarkDelivered(midas.Sandbox, "coins-1"))
	assert.False(t, srv.MarkDelivered(midas.Sandbox, "nope"))
	out := q(alice, 1, 1)
	assert.Equal(t, []any{2.0, 2.0, 1_700_000_000.0}, []any{out["pay_state"], out["deliver_state"], out["pay_finish_time"]})
	info, ok := srv.OrderInfo(midas.Sandbox, "coins-1")
	require.True(t, ok)
	assert.True(t, info.Paid && info.Delivered)
	assert.Equal(t, now, info.PaidAt)
	_, ok = srv.OrderInfo(midas.Production, "coins-1")
	assert.False(t, ok)

	assert.Panics(t, func() { srv.AddOrderInfo(midas.Production, midastest.OrderInfo{OpenID: alice, OutTradeNo: "x"}) }, "no BizID")
	assert.Panics(t, func() {
		srv.AddOrderInfo(midas.Production, midastest.OrderInfo{OpenID: alice, BizID: midastest.BizItem})
	}, "no OutTradeNo")
}

func TestV2FaultsAndCalls(t *testing.T) {
	srv := midastest.New(v2Config())
	srv.AddOrderInfo(midas.Production, midastest.OrderInfo{OpenID: alice, OutTradeNo: "o1", BizID: midastest.BizItem, Paid: true})
	query := obj(with(head(alice), "out_trade_no", "o1", "biz_id", 2)...)

	srv.Inject(midastest.Fault{API: "queryorderinfo", Errcode: -1})
	out := v2(t, srv, "queryorderinfo", query)
	assert.Equal(t, -1, code(out))
	assert.Equal(t, 0, code(v2(t, srv, "queryorderinfo", query)), "used up")

	// A pay fault is for 1.0 and 2.0 pays alike.
	srv.Inject(midastest.Fault{API: midas.APIPay, Errcode: -1})
	pay := obj(with(head(alice), "amount", 10, "bill_no", "f1")...)
	assert.Equal(t, -1, code(v2(t, srv, "pay", pay)))
	_, ok := srv.OrderV2(midas.Production, alice, "1", "f1")
	assert.False(t, ok, "-1 without Applied changed nothing")

	srv.Inject(midastest.Fault{API: midas.APIPay, Status: http.StatusBadGateway, Applied: true})
	rec := httptest.NewRecorder()
	q := v2Query("pay", pay, v2AppKey, aliceKey)
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/wxa/game/pay?"+q.Encode(), strings.NewReader(pay)))
	assert.Equal(t, http.StatusBadGateway, rec.Code)
	_, ok = srv.OrderV2(midas.Production, alice, "1", "f1")
	assert.True(t, ok, "applied, though the caller saw a 502")
	assert.Equal(t, 90012, code(v2(t, srv, "pay", pay)))

	calls := srv.Calls()
	require.Len(t, calls, 5)
	assert.Equal(t, midastest.Call{API: "queryorderinfo", Version: midas.V2, Env: midas.Production, Errcode: -1,
		Params: map[string]string{"openid": alice, "offer_id": v2OfferID, "ts": "1668512428", "zone_id": "1", "env": "0", "out_trade_no": "o1", "biz_id": "2"},
		Fault:  &midastest.Fault{API: "queryorderinfo", Times: 1, Errcode: -1}}, calls[0])
	assert.Equal(t, 0, calls[1].Errcode)
	assert.False(t, calls[1].Applied, "a query changes nothing")
	assert.Equal(t, "10", calls[2].Params["amount"])
	assert.True(t, calls[3].Applied)
	assert.Equal(t, 0, calls[3].Errcode)
	assert.Equal(t, 90012, calls[4].Errcode)
}

// The books are the same for 1.0 and 2.0 calls; bill_nos are not shared.
func TestV2SharesBooksWithV1(t *testing.T) {
	cfg := v2Config()
	cfg.AppID = appID
	srv := midastest.NewServer(cfg)
	defer srv.Close()
	c, err := midas.NewClient(midas.Config{AppID: appID, OfferID: v2OfferID, AppKey: v2AppKey, AccessToken: midas.StaticToken(token)},
		midas.WithBaseURL(srv.URL), midas.WithMaxRetries(0))
	require.NoError(t, err)
	_, err = c.Pay(bg, midas.PayRequest{OpenID: alice, BillNo: "b1", Amount: 30})
	require.NoError(t, err)
	assert.Equal(t, 90.0, v2(t, srv, "getbalance", obj(head(alice)...))["balance"])
	assert.Equal(t, 0, code(v2(t, srv, "pay", obj(with(head(alice), "amount", 10, "bill_no", "b1")...))))
	o, ok := srv.Order(midas.Production, "b1")
	require.True(t, ok)
	assert.Equal(t, midas.V1, o.Version, "the 1.0 order first")
	// pay_bill_no names the 2.0 pay b1 (10 coins), not the 1.0 one (30).
	assert.Equal(t, 90018, code(v2(t, srv, "cancelpay", obj(with(head(alice), "pay_bill_no", "b1", "bill_no", "r1", "amount", 30)...))))
	assert.Equal(t, 0, code(v2(t, srv, "cancelpay", obj(with(head(alice), "pay_bill_no", "b1", "bill_no", "r1", "amount", 10)...))))
	_, err = c.CancelPay(bg, midas.CancelPayRequest{OpenID: alice, BillNo: "b1"})
	require.NoError(t, err, "and 1.0 cancelpay the 1.0 pay")
	total, _ := srv.Balance(midas.Production, alice, "")
	assert.Equal(t, int64(120), total)
}

// 2.0 over a real connection and through httpmock, with the plain HTTP
// answers.
func TestV2Transports(t *testing.T) {
	srv := midastest.NewServer(v2Config())
	defer srv.Close()
	body := obj(head(alice)...)
	q := v2Query("getbalance", body, v2AppKey, aliceKey)

	resp, err := http.Post(srv.URL+"/wxa/game/getbalance?"+q.Encode(), "application/json", strings.NewReader(body))
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Contains(t, string(b), `"balance":120`)

	resp, err = http.Get(srv.URL + "/wxa/game/getbalance?" + q.Encode())
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	resp, err = http.Post(srv.URL+"/wxa/game/query_user_balance", "application/json", strings.NewReader(body))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)

	mt := httpmock.NewMockTransport()
	mt.RegisterNoResponder(srv.Respond)
	hc := &http.Client{Transport: mt}
	resp, err = hc.Post("https://api.weixin.qq.com/wxa/game/getbalance?"+q.Encode(), "application/json", bytes.NewReader([]byte(body)))
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	resp.Body.Close()
	assert.Equal(t, 120.0, out["balance"], fmt.Sprint(out))
}
