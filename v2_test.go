package midas_test

// Tests of virtual payment 2.0 in the Client against the published pages:
// their vectors byte for byte (testdata/v2_vectors.json), the
// errcode meanings per version, fields that do not exist in a version, the
// five APIs against midastest in both environments, the answer mapping, and
// secrets kept out of errors and logs.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomidas/midas"
	"github.com/gomidas/midas/midastest"
	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The spec's placeholder values (signature page).
// v2OKAnswer is a 2.0 success carrying every field any API's answer
// promises, for tests about requests rather than answers.
const v2OKAnswer = `{"errcode":0,"errmsg":"ok","balance":1,"present_balance":0,"sum_save":0,"sum_present":0,"sum_balance":0,` +
	`"sum_cost":0,"first_save":false,"used_present_amount":0,"pay_state":2,"deliver_state":2}`

const (
	v2VecOpenID     = "oUrsfxxxxxxxxxx"
	v2VecOfferID    = "12345678"
	v2VecAppKey     = "12345"
	v2VecSessionKey = "9hAb/NEYUlkaMBEsmFgzig=="
	v2Token         = "V2_ACCESS_TOKEN_0123456789abcdef"
)

var v2bg = context.Background()

// v2Exchange is one request as the wire saw it.
type v2Exchange struct {
	Method, Path, RawQuery, ContentType string
	Query                               url.Values
	Body                                []byte
}

// fields decodes the body with numbers kept as their literal text.
func (ex v2Exchange) fields(t *testing.T) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(ex.Body))
	dec.UseNumber()
	var m map[string]any
	require.NoError(t, dec.Decode(&m), "body is a JSON object: %s", ex.Body)
	return m
}

type v2Mock struct {
	mu     sync.Mutex
	got    []v2Exchange
	answer func(n int, ex v2Exchange) (*http.Response, error)
}

func (m *v2Mock) respond(req *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	q, _ := url.ParseQuery(req.URL.RawQuery)
	ex := v2Exchange{Method: req.Method, Path: req.URL.Path, RawQuery: req.URL.RawQuery, ContentType: req.Header.Get("Content-Type"), Query: q, Body: body}
	m.mu.Lock()
	n := len(m.got)
	m.got = append(m.got, ex)
	m.mu.Unlock()
	return m.answer(n, ex)
}

func (m *v2Mock) exchanges() []v2Exchange {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]v2Exchange(nil), m.got...)
}

func v2Answer(body string) func(int, v2Exchange) (*http.Response, error) {
	return func(int, v2Exchange) (*http.Response, error) {
		return httpmock.NewStringResponse(http.StatusOK, body), nil
	}
}

func v2Errcode(code int) func(int, v2Exchange) (*http.Response, error) {
	return v2Answer(fmt.Sprintf(`{"errcode":%d,"errmsg":"errmsg of %d"}`, code, code))
}

func v2VecConfig(env midas.Env, version midas.Version) midas.Config {
	return midas.Config{AppID: appID, OfferID: v2VecOfferID, AppKey: v2VecAppKey, Env: env, Version: version, AccessToken: midas.StaticToken(v2Token)}
}

// newV2Mock is a client over its own httpmock transport, answering with
// answer and recording every exchange.
func newV2Mock(t *testing.T, cfg midas.Config, answer func(int, v2Exchange) (*http.Response, error), opts ...midas.Option) (*midas.Client, *v2Mock) {
	t.Helper()
	m := &v2Mock{answer: answer}
	mt := httpmock.NewMockTransport()
	mt.RegisterNoResponder(m.respond)
	opts = append([]midas.Option{
		midas.WithHTTPClient(&http.Client{Transport: mt}),
		midas.WithRetryBackoff(time.Microsecond, time.Microsecond),
		midas.WithClock(clockFrom(1_700_000_000)),
	}, opts...)
	c, err := midas.NewClient(cfg, opts...)
	require.NoError(t, err)
	return c, m
}

// v2FakeClient is a 2.0 client wired to fake, with short backoff.
func v2FakeClient(t *testing.T, fake *midastest.Server, env midas.Env, key string, opts ...midas.Option) *midas.Client {
	t.Helper()
	return wireToFake(t, fake, midas.Config{AppID: appID, OfferID: offerID, AppKey: key, Env: env, Version: midas.V2, AccessToken: midas.StaticToken(token)},
		append([]midas.Option{midas.WithRetryBackoff(time.Microsecond, time.Millisecond)}, opts...)...)
}

func v2KeyOf(env midas.Env) string {
	if env == midas.Sandbox {
		return sbKey
	}
	return appKey
}

func v2Other(env midas.Env) midas.Env {
	if env == midas.Sandbox {
		return midas.Production
	}
	return midas.Sandbox
}

// mentionsVersion reports whether an error text names v.
func mentionsVersion(msg string, v midas.Version) bool {
	l := strings.ToLower(msg)
	if v == midas.V2 {
		return strings.Contains(l, "2.0") || strings.Contains(l, "v2")
	}
	return strings.Contains(l, "1.0") || strings.Contains(l, "v1")
}

func TestV2WireShapeBothEnvs(t *testing.T) {
	type apiCase struct {
		api    string
		fields []string // the body's field names, in order
		call   func(c *midas.Client) error
		check  func(t *testing.T, f map[string]any)
	}
	const sk = "V7Q38/i2KXaqrQyl2Yx9Hg=="
	cases := []apiCase{
		{midas.APIGetBalance, []string{"offer_id", "openid", "ts", "zone_id", "env"}, func(c *midas.Client) error {
			_, err := c.GetBalance(v2bg, midas.BalanceRequest{OpenID: alice, SessionKey: sk})
			return err
		}, nil},
		{midas.APIGetBalance, []string{"offer_id", "openid", "ts", "zone_id", "env", "coin_type"}, func(c *midas.Client) error {
			_, err := c.GetBalance(v2bg, midas.BalanceRequest{OpenID: alice, SessionKey: sk, RechargeCenter: true})
			return err
		}, func(t *testing.T, f map[string]any) {
			assert.Equal(t, json.Number("1"), f["coin_type"], "coin_type=1, a number")
			assert.Equal(t, "1", f["zone_id"], "recharge centre zone \"1\"")
		}},
		{midas.APIPay, []string{"openid", "offer_id", "ts", "zone_id", "env", "user_ip", "amount", "bill_no", "payitem", "remark"}, func(c *midas.Client) error {
			_, err := c.Pay(v2bg, midas.PayRequest{OpenID: alice, SessionKey: sk, ZoneID: "7", UserIP: "10.0.0.1", BillNo: "1234567", Amount: 12, PayItem: "sword*1", AppRemark: "note"})
			return err
		}, func(t *testing.T, f map[string]any) {
			assert.Equal(t, "1234567", f["bill_no"], "bill_no a JSON string even when numeric")
			assert.Equal(t, json.Number("12"), f["amount"])
			assert.Equal(t, "sword*1", f["payitem"])
			assert.Equal(t, "note", f["remark"])
			assert.Equal(t, "7", f["zone_id"])
			assert.Equal(t, "10.0.0.1", f["user_ip"])
		}},
		{midas.APICancelPay, []string{"openid", "offer_id", "ts", "zone_id", "env", "pay_bill_no", "bill_no", "amount"}, func(c *midas.Client) error {
			_, err := c.CancelPay(v2bg, midas.CancelPayRequest{OpenID: alice, SessionKey: sk, BillNo: "pay-1", RefundBillNo: "ref-1", Amount: 3})
			return err
		}, func(t *testing.T, f map[string]any) {
			assert.Equal(t, "pay-1", f["pay_bill_no"], "pay_bill_no is the pay's bill_no (CancelPayRequest.BillNo)")
			assert.Equal(t, "ref-1", f["bill_no"], "bill_no is the refund's (RefundBillNo)")
			assert.Equal(t, json.Number("3"), f["amount"])
		}},
		{midas.APIPresent, []string{"openid", "offer_id", "ts", "zone_id", "env", "amount", "bill_no"}, func(c *midas.Client) error {
			_, err := c.Present(v2bg, midas.PresentRequest{OpenID: alice, SessionKey: sk, BillNo: "gift-1", Count: 4})
			return err
		}, func(t *testing.T, f map[string]any) {
			assert.Equal(t, json.Number("4"), f["amount"])
			assert.Equal(t, "gift-1", f["bill_no"])
		}},
		{"queryorderinfo", []string{"openid", "offer_id", "ts", "zone_id", "env", "out_trade_no", "biz_id"}, func(c *midas.Client) error {
			_, err := c.QueryOrder(v2bg, midas.QueryOrderRequest{OpenID: alice, SessionKey: sk, OutTradeNo: "ot-1", Kind: midas.CoinOrder})
			return err
		}, func(t *testing.T, f map[string]any) {
			assert.Equal(t, json.Number("1"), f["biz_id"], "CoinOrder is biz_id 1")
			assert.Equal(t, "ot-1", f["out_trade_no"])
		}},
	}
	for _, env := range []midas.Env{midas.Production, midas.Sandbox} {
		for _, tc := range cases {
			t.Run(env.String()+"/"+tc.api, func(t *testing.T) {
				key := v2KeyOf(env)
				c, m := newV2Mock(t, midas.Config{AppID: appID, OfferID: offerID, AppKey: key, Env: env, Version: midas.V2, AccessToken: midas.StaticToken(v2Token)},
					v2Answer(v2OKAnswer))
				require.NoError(t, tc.call(c))
				got := m.exchanges()
				require.Len(t, got, 1)
				ex := got[0]
				assert.Equal(t, "/wxa/game/"+tc.api, ex.Path, "one path for both environments")
				assert.Equal(t, midas.V2Path(tc.api), ex.Path)
				// Field order as sent.
				dec := json.NewDecoder(bytes.NewReader(ex.Body))
				_, err := dec.Token()
				require.NoError(t, err)
				var names []string
				for dec.More() {
					tok, err := dec.Token()
					require.NoError(t, err)
					names = append(names, tok.(string))
					var skip json.RawMessage
					require.NoError(t, dec.Decode(&skip))
				}
				assert.Equal(t, tc.fields, names, "body fields (no appid, pf, sig, mp_sig)")
				f := ex.fields(t)
				assert.Equal(t, json.Number(strconv.Itoa(int(env))), f["env"], "env a number: 0 production, 1 sandbox")
				assert.Equal(t, offerID, f["offer_id"])
				assert.IsType(t, json.Number(""), f["ts"], "ts a number")
				if tc.check != nil {
					tc.check(t, f)
				}
				assert.Equal(t, v2RefHMAC(key, []byte(ex.Path+"&"), ex.Body), ex.Query.Get("pay_sig"), "pay_sig with the env's AppKey over the bytes sent")
				assert.NotEqual(t, v2RefHMAC(v2KeyOf(v2Other(env)), []byte(ex.Path+"&"), ex.Body), ex.Query.Get("pay_sig"))
				assert.Equal(t, v2RefHMAC(sk, ex.Body), ex.Query.Get("signature"), "signature with the session_key text over the bytes sent")
				assert.Equal(t, "hmac_sha256", ex.Query.Get("sig_method"))
				assert.Equal(t, v2Token, ex.Query.Get("access_token"))
				assert.False(t, bytes.HasSuffix(ex.Body, []byte("\n")))
			})
		}
	}
}

// Text fields are escaped so that the server decodes exactly what was given,
// and the signature still covers the bytes sent.
func TestV2TextFieldsRoundTripThroughFake(t *testing.T) {
	fake := midastest.New(fakeCfg())
	c := v2FakeClient(t, fake, midas.Production, appKey)
	item := `剑 "x" <y> & \z ☃`
	_, err := c.Pay(v2bg, midas.PayRequest{OpenID: alice, SessionKey: aliceKey, BillNo: "txt-1", Amount: 1, PayItem: item, AppRemark: "a/b"})
	require.NoError(t, err)
	calls := payCalls(fake, midas.APIPay)
	require.Len(t, calls, 1)
	assert.Equal(t, item, calls[0].Params["payitem"])
	assert.Equal(t, "a/b", calls[0].Params["remark"])
	assert.Zero(t, calls[0].Errcode)
}

func TestV2FieldsNotInVersion(t *testing.T) {
	const sk = "V7Q38/i2KXaqrQyl2Yx9Hg=="
	cases := []struct {
		name    string
		version midas.Version
		field   string
		call    func(c *midas.Client) error
	}{
		{"PF getbalance", midas.V2, "PF", func(c *midas.Client) error {
			_, err := c.GetBalance(v2bg, midas.BalanceRequest{OpenID: alice, SessionKey: sk, PF: "android"})
			return err
		}},
		{"PF pay", midas.V2, "PF", func(c *midas.Client) error {
			_, err := c.Pay(v2bg, midas.PayRequest{OpenID: alice, SessionKey: sk, PF: "android", BillNo: "b1", Amount: 1})
			return err
		}},
		{"PF cancelpay", midas.V2, "PF", func(c *midas.Client) error {
			_, err := c.CancelPay(v2bg, midas.CancelPayRequest{OpenID: alice, SessionKey: sk, PF: "android", BillNo: "b1", RefundBillNo: "r1", Amount: 1})
			return err
		}},
		{"PF present", midas.V2, "PF", func(c *midas.Client) error {
			_, err := c.Present(v2bg, midas.PresentRequest{OpenID: alice, SessionKey: sk, PF: "android", BillNo: "g1", Count: 1})
			return err
		}},
		{"PF settle pay", midas.V2, "PF", func(c *midas.Client) error {
			_, err := c.SettlePay(v2bg, midas.PayRequest{OpenID: alice, SessionKey: sk, PF: "android", BillNo: "b1", Amount: 1})
			return err
		}},
		{"PayItem cancelpay", midas.V2, "PayItem", func(c *midas.Client) error {
			_, err := c.CancelPay(v2bg, midas.CancelPayRequest{OpenID: alice, SessionKey: sk, PayItem: "x", BillNo: "b1", RefundBillNo: "r1", Amount: 1})
			return err
		}},
		{"RechargeCenter getbalance", midas.V1, "RechargeCenter", func(c *midas.Client) error {
			_, err := c.GetBalance(v2bg, midas.BalanceRequest{OpenID: alice, RechargeCenter: true})
			return err
		}},
		{"RefundBillNo cancelpay", midas.V1, "RefundBillNo", func(c *midas.Client) error {
			_, err := c.CancelPay(v2bg, midas.CancelPayRequest{OpenID: alice, BillNo: "b1", RefundBillNo: "r1"})
			return err
		}},
		{"Amount cancelpay", midas.V1, "Amount", func(c *midas.Client) error {
			_, err := c.CancelPay(v2bg, midas.CancelPayRequest{OpenID: alice, BillNo: "b1", Amount: 1})
			return err
		}},
		{"RefundBillNo settle cancelpay", midas.V1, "RefundBillNo", func(c *midas.Client) error {
			_, err := c.SettleCancelPay(v2bg, midas.CancelPayRequest{OpenID: alice, BillNo: "b1", RefundBillNo: "r1"})
			return err
		}},
		{"QueryOrder", midas.V1, "QueryOrder", func(c *midas.Client) error {
			_, err := c.QueryOrder(v2bg, midas.QueryOrderRequest{OpenID: alice, SessionKey: sk, OutTradeNo: "ot1", Kind: midas.ItemOrder})
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.version.String()+"/"+tc.name, func(t *testing.T) {
			c, m := newV2Mock(t, v2VecConfig(midas.Production, tc.version), v2Answer(v2OKAnswer))
			err := tc.call(c)
			require.Error(t, err, "a field of the other version is never silently dropped")
			assert.ErrorIs(t, err, midas.ErrInvalidRequest)
			assert.Contains(t, err.Error(), tc.field, "names the field")
			assert.True(t, mentionsVersion(err.Error(), tc.version), "names the version: %q", err.Error())
			assert.Empty(t, m.exchanges(), "nothing sent")
		})
	}
}

func TestV2RequiredFields(t *testing.T) {
	const sk = "V7Q38/i2KXaqrQyl2Yx9Hg=="
	cases := []struct {
		name, field string
		call        func(c *midas.Client) error
	}{
		{"getbalance no session", "SessionKey", func(c *midas.Client) error {
			_, err := c.GetBalance(v2bg, midas.BalanceRequest{OpenID: alice})
			return err
		}},
		{"pay no session", "SessionKey", func(c *midas.Client) error {
			_, err := c.Pay(v2bg, midas.PayRequest{OpenID: alice, BillNo: "b1", Amount: 1})
			return err
		}},
		{"cancelpay no session", "SessionKey", func(c *midas.Client) error {
			_, err := c.CancelPay(v2bg, midas.CancelPayRequest{OpenID: alice, BillNo: "b1", RefundBillNo: "r1", Amount: 1})
			return err
		}},
		{"present no session", "SessionKey", func(c *midas.Client) error {
			_, err := c.Present(v2bg, midas.PresentRequest{OpenID: alice, BillNo: "g1", Count: 1})
			return err
		}},
		{"queryorder no session", "SessionKey", func(c *midas.Client) error {
			_, err := c.QueryOrder(v2bg, midas.QueryOrderRequest{OpenID: alice, OutTradeNo: "ot1", Kind: midas.ItemOrder})
			return err
		}},
		{"cancelpay no RefundBillNo", "RefundBillNo", func(c *midas.Client) error {
			_, err := c.CancelPay(v2bg, midas.CancelPayRequest{OpenID: alice, SessionKey: sk, BillNo: "b1", Amount: 1})
			return err
		}},
		{"cancelpay no Amount", "Amount", func(c *midas.Client) error {
			_, err := c.CancelPay(v2bg, midas.CancelPayRequest{OpenID: alice, SessionKey: sk, BillNo: "b1", RefundBillNo: "r1"})
			return err
		}},
		{"cancelpay negative Amount", "Amount", func(c *midas.Client) error {
			_, err := c.CancelPay(v2bg, midas.CancelPayRequest{OpenID: alice, SessionKey: sk, BillNo: "b1", RefundBillNo: "r1", Amount: -2})
			return err
		}},
		{"cancelpay no BillNo", "BillNo", func(c *midas.Client) error {
			_, err := c.CancelPay(v2bg, midas.CancelPayRequest{OpenID: alice, SessionKey: sk, RefundBillNo: "r1", Amount: 1})
			return err
		}},
		{"settle cancelpay no RefundBillNo", "RefundBillNo", func(c *midas.Client) error {
			_, err := c.SettleCancelPay(v2bg, midas.CancelPayRequest{OpenID: alice, SessionKey: sk, BillNo: "b1", Amount: 1})
			return err
		}},
		{"queryorder no kind", "Kind", func(c *midas.Client) error {
			_, err := c.QueryOrder(v2bg, midas.QueryOrderRequest{OpenID: alice, SessionKey: sk, OutTradeNo: "ot1"})
			return err
		}},
		{"queryorder no out_trade_no", "OutTradeNo", func(c *midas.Client) error {
			_, err := c.QueryOrder(v2bg, midas.QueryOrderRequest{OpenID: alice, SessionKey: sk, Kind: midas.CoinOrder})
			return err
		}},
		{"recharge centre other zone", "ZoneID", func(c *midas.Client) error {
			_, err := c.GetBalance(v2bg, midas.BalanceRequest{OpenID: alice, SessionKey: sk, ZoneID: "2", RechargeCenter: true})
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, m := newV2Mock(t, v2VecConfig(midas.Production, midas.V2), v2Answer(v2OKAnswer))
			err := tc.call(c)
			require.Error(t, err)
			assert.ErrorIs(t, err, midas.ErrInvalidRequest)
			assert.Contains(t, err.Error(), tc.field)
			assert.Empty(t, m.exchanges(), "nothing sent")
		})
	}
	// An invalid Version is refused.
	cfg := v2VecConfig(midas.Production, midas.Version(7))
	_, err := midas.NewClient(cfg)
	assert.ErrorIs(t, err, midas.ErrInvalidRequest)
	// A V1 config without Version is V1.
	c, err := midas.NewClient(midas.Config{AppID: appID, OfferID: offerID, AppKey: appKey, AccessToken: midas.StaticToken(token)})
	require.NoError(t, err)
	assert.Equal(t, midas.V1, c.Version())
}

func TestV2BillNoRules(t *testing.T) {
	const sk = "V7Q38/i2KXaqrQyl2Yx9Hg=="
	long63 := strings.Repeat("a", 63)
	long64 := strings.Repeat("a", 64)
	ok := []string{"test_pay_1668512428", long63, "A-z_0-9", "-lead", "x"}
	bad := []string{"", long64, "_lead", "a*b", "a@b", "a.b", "a b", "a|b", "订单"}
	type mk func(c *midas.Client, b string) error
	apis := map[string]mk{
		"pay": func(c *midas.Client, b string) error {
			_, err := c.Pay(v2bg, midas.PayRequest{OpenID: alice, SessionKey: sk, BillNo: b, Amount: 1})
			return err
		},
		"present": func(c *midas.Client, b string) error {
			_, err := c.Present(v2bg, midas.PresentRequest{OpenID: alice, SessionKey: sk, BillNo: b, Count: 1})
			return err
		},
		"cancelpay RefundBillNo": func(c *midas.Client, b string) error {
			_, err := c.CancelPay(v2bg, midas.CancelPayRequest{OpenID: alice, SessionKey: sk, BillNo: "p1", RefundBillNo: b, Amount: 1})
			return err
		},
		"cancelpay BillNo": func(c *midas.Client, b string) error {
			_, err := c.CancelPay(v2bg, midas.CancelPayRequest{OpenID: alice, SessionKey: sk, BillNo: b, RefundBillNo: "r1", Amount: 1})
			return err
		},
	}
	for name, call := range apis {
		for _, b := range bad {
			c, m := newV2Mock(t, v2VecConfig(midas.Production, midas.V2), v2Answer(v2OKAnswer))
			err := call(c, b)
			assert.ErrorIs(t, err, midas.ErrInvalidRequest, "%s %q rejected in 2.0", name, b)
			assert.Empty(t, m.exchanges(), "%s %q: nothing sent", name, b)
		}
		for _, b := range ok {
			c, m := newV2Mock(t, v2VecConfig(midas.Production, midas.V2), v2Answer(v2OKAnswer))
			assert.NoError(t, call(c, b), "%s %q accepted in 2.0", name, b)
			assert.Len(t, m.exchanges(), 1)
		}
	}
	// The fake (which checks 2.0 the way the server does) accepts the
	// accepted ones.
	fake := midastest.New(fakeCfg())
	c := v2FakeClient(t, fake, midas.Production, appKey)
	for _, b := range ok {
		_, err := c.Pay(v2bg, midas.PayRequest{OpenID: alice, SessionKey: aliceKey, BillNo: b, Amount: 1})
		assert.NoError(t, err, "%q", b)
	}
	// '*' and '@' are 1.0 bill_no characters.
	v1fake := midastest.New(fakeCfg())
	v1 := fakeClient(t, v1fake, nil)
	for _, b := range []string{"a*b", "a@b", "x*@y"} {
		_, err := v1.Pay(v2bg, midas.PayRequest{OpenID: alice, SessionKey: aliceKey, BillNo: b, Amount: 1})
		assert.NoError(t, err, "1.0 accepts %q", b)
	}
}

func TestV2AgainstFakeBothEnvs(t *testing.T) {
	for _, env := range []midas.Env{midas.Production, midas.Sandbox} {
		t.Run(env.String(), func(t *testing.T) {
			fake := midastest.New(fakeCfg())
			c := v2FakeClient(t, fake, env, v2KeyOf(env))
			assert.Equal(t, midas.V2, c.Version())
			total := func() int64 { n, _ := fake.Balance(env, alice, ""); return n }

			bal, err := c.GetBalance(v2bg, midas.BalanceRequest{OpenID: alice, SessionKey: aliceKey})
			require.NoError(t, err)
			assert.Equal(t, midas.BalanceResponse{Balance: 110, GenBalance: 10, FirstSave: true, SaveAmt: 100, SaveSum: 110, CostSum: 0, PresentSum: 10}, *bal)

			pay, err := c.Pay(v2bg, midas.PayRequest{OpenID: alice, SessionKey: aliceKey, BillNo: "pay-1", Amount: 30, PayItem: "sword", AppRemark: "r"})
			require.NoError(t, err)
			assert.Equal(t, midas.PayResponse{BillNo: "pay-1", Balance: 80, BalanceKnown: true, UsedGenAmount: 10, UsedGenAmountKnown: true}, *pay)
			o, ok := fake.OrderV2(env, alice, "", "pay-1")
			require.True(t, ok)
			assert.Equal(t, int64(30), o.Amount)

			// Partial refunds, each with its own RefundBillNo.
			cr, err := c.CancelPay(v2bg, midas.CancelPayRequest{OpenID: alice, SessionKey: aliceKey, BillNo: "pay-1", RefundBillNo: "ref-1", Amount: 5})
			require.NoError(t, err)
			assert.Equal(t, midas.CancelPayResponse{BillNo: "ref-1", Balance: 85, BalanceKnown: true}, *cr)
			cr, err = c.CancelPay(v2bg, midas.CancelPayRequest{OpenID: alice, SessionKey: aliceKey, BillNo: "pay-1", RefundBillNo: "ref-2", Amount: 7})
			require.NoError(t, err)
			assert.Equal(t, midas.CancelPayResponse{BillNo: "ref-2", Balance: 92, BalanceKnown: true}, *cr)
			assert.Equal(t, int64(92), total())
			// More than is left of the pay.
			_, err = c.CancelPay(v2bg, midas.CancelPayRequest{OpenID: alice, SessionKey: aliceKey, BillNo: "pay-1", RefundBillNo: "ref-3", Amount: 19})
			assert.ErrorIs(t, err, midas.ErrInvalidParam)
			assert.NotErrorIs(t, err, midas.ErrOutcomeUnknown)
			// A refund of an unknown pay.
			_, err = c.CancelPay(v2bg, midas.CancelPayRequest{OpenID: alice, SessionKey: aliceKey, BillNo: "no-such-pay", RefundBillNo: "ref-x", Amount: 1})
			assert.ErrorIs(t, err, midas.ErrOrderNotFound)

			// An unclear attempt, retried with the same RefundBillNo: settled
			// as already processed, applied once.
			fake.Inject(midastest.Fault{API: midas.APICancelPay, Drop: true, Applied: true})
			cr, err = c.CancelPay(v2bg, midas.CancelPayRequest{OpenID: alice, SessionKey: aliceKey, BillNo: "pay-1", RefundBillNo: "ref-4", Amount: 8})
			require.NoError(t, err)
			assert.True(t, cr.AlreadyProcessed)
			assert.Equal(t, "ref-4", cr.BillNo)
			assert.Equal(t, int64(100), total(), "returned once")
			fake.Inject(midastest.Fault{API: midas.APICancelPay, Errcode: -1, Applied: true})
			cr, err = c.CancelPay(v2bg, midas.CancelPayRequest{OpenID: alice, SessionKey: aliceKey, BillNo: "pay-1", RefundBillNo: "ref-5", Amount: 10})
			require.NoError(t, err)
			assert.True(t, cr.AlreadyProcessed)
			assert.Equal(t, int64(110), total(), "returned once")
			o, _ = fake.OrderV2(env, alice, "", "pay-1")
			assert.Equal(t, int64(30), o.Refunded)
			assert.True(t, o.Cancelled)
			r4, ok := fake.OrderV2(env, alice, "", "ref-4")
			require.True(t, ok)
			assert.Equal(t, "pay-1", r4.PayBillNo)

			// A plain repeat of a RefundBillNo (no unclear attempt) is a refusal.
			_, err = c.CancelPay(v2bg, midas.CancelPayRequest{OpenID: alice, SessionKey: aliceKey, BillNo: "pay-1", RefundBillNo: "ref-1", Amount: 5})
			assert.ErrorIs(t, err, midas.ErrOrderExists)
			assert.Equal(t, int64(110), total())

			// An unclear pay retried: applied once.
			fake.Inject(midastest.Fault{API: midas.APIPay, Drop: true, Applied: true})
			pay, err = c.Pay(v2bg, midas.PayRequest{OpenID: alice, SessionKey: aliceKey, BillNo: "pay-2", Amount: 10})
			require.NoError(t, err)
			assert.True(t, pay.AlreadyProcessed)
			assert.Equal(t, int64(100), total())
			cr, err = c.CancelPay(v2bg, midas.CancelPayRequest{OpenID: alice, SessionKey: aliceKey, BillNo: "pay-2", RefundBillNo: "ref-6", Amount: 10})
			require.NoError(t, err)
			assert.Equal(t, int64(110), cr.Balance)

			pr, err := c.Present(v2bg, midas.PresentRequest{OpenID: alice, SessionKey: aliceKey, BillNo: "gift-1", Count: 5})
			require.NoError(t, err)
			assert.Equal(t, midas.PresentResponse{BillNo: "gift-1", Balance: 115, BalanceKnown: true}, *pr)
			fake.Inject(midastest.Fault{API: midas.APIPresent, Errcode: -1, Applied: true})
			pr, err = c.Present(v2bg, midas.PresentRequest{OpenID: alice, SessionKey: aliceKey, BillNo: "gift-2", Count: 5})
			require.NoError(t, err)
			assert.True(t, pr.AlreadyProcessed)
			assert.Equal(t, int64(120), total())

			bal, err = c.GetBalance(v2bg, midas.BalanceRequest{OpenID: alice, SessionKey: aliceKey})
			require.NoError(t, err)
			_, gifted := fake.Balance(env, alice, "")
			assert.Equal(t, int64(120), bal.Balance)
			assert.Equal(t, gifted, bal.GenBalance)
			assert.Equal(t, int64(100), bal.SaveAmt)
			assert.Equal(t, int64(20), bal.PresentSum)
			assert.Equal(t, int64(120), bal.SaveSum)
			assert.Equal(t, int64(0), bal.CostSum, "spent 40, returned 40")

			// Recharge-centre balance.
			fake.TopUpRechargeCenter(env, alice, 42)
			rc, err := c.GetBalance(v2bg, midas.BalanceRequest{OpenID: alice, SessionKey: aliceKey, RechargeCenter: true})
			require.NoError(t, err)
			assert.Equal(t, int64(42), rc.Balance)
			gb := payCalls(fake, midas.APIGetBalance)
			assert.Equal(t, "1", gb[len(gb)-1].Params["coin_type"])
			bal, err = c.GetBalance(v2bg, midas.BalanceRequest{OpenID: alice, SessionKey: aliceKey})
			require.NoError(t, err)
			assert.Equal(t, int64(120), bal.Balance, "the game's coins apart")

			// queryorderinfo.
			paidAt := time.Unix(1_700_000_123, 0)
			fake.AddOrderInfo(env, midastest.OrderInfo{OpenID: alice, OutTradeNo: "ot-item-1", BizID: midastest.BizItem, ProductID: "sword_01",
				Paid: true, Delivered: true, PaidAt: paidAt, MchOrderNo: "mch-1", TransactionID: "tx-1"})
			fake.AddOrderInfo(env, midastest.OrderInfo{OpenID: alice, OutTradeNo: "ot-coin-1", BizID: midastest.BizCoins, ProductID: "coins_60"})
			fake.AddOrderInfo(env, midastest.OrderInfo{OpenID: alice, OutTradeNo: "_platform1", BizID: midastest.BizCoins, Paid: true, PaidAt: paidAt})
			q, err := c.QueryOrder(v2bg, midas.QueryOrderRequest{OpenID: alice, SessionKey: aliceKey, OutTradeNo: "ot-item-1", Kind: midas.ItemOrder})
			require.NoError(t, err)
			assert.Equal(t, "ot-item-1", q.OutTradeNo)
			assert.Equal(t, "sword_01", q.ProductID)
			assert.True(t, q.Paid)
			assert.True(t, q.Delivered)
			assert.True(t, paidAt.Equal(q.PaidAt), "PaidAt %v", q.PaidAt)
			assert.Equal(t, "mch-1", q.MchOrderNo)
			assert.Equal(t, "tx-1", q.TransactionID)
			q, err = c.QueryOrder(v2bg, midas.QueryOrderRequest{OpenID: alice, SessionKey: aliceKey, OutTradeNo: "ot-coin-1", Kind: midas.CoinOrder})
			require.NoError(t, err)
			assert.False(t, q.Paid)
			assert.False(t, q.Delivered)
			assert.True(t, q.PaidAt.IsZero())
			assert.Equal(t, "coins_60", q.ProductID)
			q, err = c.QueryOrder(v2bg, midas.QueryOrderRequest{OpenID: alice, SessionKey: aliceKey, OutTradeNo: "_platform1", Kind: midas.CoinOrder})
			require.NoError(t, err, "a platform-made out_trade_no starts with '_'")
			assert.True(t, q.Paid)
			_, err = c.QueryOrder(v2bg, midas.QueryOrderRequest{OpenID: alice, SessionKey: aliceKey, OutTradeNo: "ot-item-1", Kind: midas.CoinOrder})
			assert.ErrorIs(t, err, midas.ErrOrderNotFound, "wrong biz_id")
			_, err = c.QueryOrder(v2bg, midas.QueryOrderRequest{OpenID: alice, SessionKey: aliceKey, OutTradeNo: "unknown-1", Kind: midas.ItemOrder})
			assert.ErrorIs(t, err, midas.ErrOrderNotFound)
			var apiErr *midas.APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, 90019, apiErr.Code)
			assert.Equal(t, midas.V2, apiErr.Version)

			// Every call was a 2.0 call in env, verified by the fake.
			for _, call := range fake.Calls() {
				assert.Equal(t, midas.V2, call.Version, "%+v", call)
				assert.Equal(t, env, call.Env, "%+v", call)
				if call.Fault == nil {
					assert.NotContains(t, []int{90010, 90011, 90016}, call.Errcode, "signatures verified: %+v", call)
				}
			}
			// The other environment is untouched.
			other, _ := fake.Balance(v2Other(env), alice, "")
			assert.Equal(t, int64(110), other)

			// The other environment's AppKey: pay_sig wrong.
			wrong := v2FakeClient(t, fake, env, v2KeyOf(v2Other(env)))
			_, err = wrong.GetBalance(v2bg, midas.BalanceRequest{OpenID: alice, SessionKey: aliceKey})
			assert.ErrorIs(t, err, midas.ErrSigInvalid)
			_, err = wrong.Pay(v2bg, midas.PayRequest{OpenID: alice, SessionKey: aliceKey, BillNo: "wrong-key", Amount: 1})
			assert.ErrorIs(t, err, midas.ErrSigInvalid)
			assert.NotErrorIs(t, err, midas.ErrOutcomeUnknown)
			assert.Equal(t, int64(120), total())

			// An expired session, then a new login.
			fake.ExpireSession(alice)
			_, err = c.GetBalance(v2bg, midas.BalanceRequest{OpenID: alice, SessionKey: aliceKey})
			assert.ErrorIs(t, err, midas.ErrSessionExpired)
			assert.NotErrorIs(t, err, midas.ErrOrderProcessing)
			_, err = c.Pay(v2bg, midas.PayRequest{OpenID: alice, SessionKey: aliceKey, BillNo: "expired-1", Amount: 1})
			assert.ErrorIs(t, err, midas.ErrSessionExpired)
			assert.NotErrorIs(t, err, midas.ErrOutcomeUnknown)
			const newKey = "bmV3LXNlc3Npb24ta2V5IQ=="
			require.NoError(t, fake.SetSessionKey(alice, newKey))
			_, err = c.GetBalance(v2bg, midas.BalanceRequest{OpenID: alice, SessionKey: aliceKey})
			assert.ErrorIs(t, err, midas.ErrMpSigInvalid, "the stale key's signature is wrong: 90010")
			assert.NotErrorIs(t, err, midas.ErrSessionExpired)
			pay, err = c.Pay(v2bg, midas.PayRequest{OpenID: alice, SessionKey: newKey, BillNo: "expired-1", Amount: 1})
			require.NoError(t, err, "the refused bill_no was not used")
			assert.Equal(t, int64(119), pay.Balance)
		})
	}
}

// An unknown outcome of a 2.0 refund is settled by its RefundBillNo.
func TestV2SettleCancelPayByRefundBillNo(t *testing.T) {
	fake := midastest.New(fakeCfg())
	c := v2FakeClient(t, fake, midas.Sandbox, sbKey)
	_, err := c.Pay(v2bg, midas.PayRequest{OpenID: alice, SessionKey: aliceKey, BillNo: "pay-1", Amount: 50})
	require.NoError(t, err)
	total := func() int64 { n, _ := fake.Balance(midas.Sandbox, alice, ""); return n }
	require.Equal(t, int64(60), total())

	req := midas.CancelPayRequest{OpenID: alice, SessionKey: aliceKey, BillNo: "pay-1", RefundBillNo: "ref-1", Amount: 20}
	fake.Inject(midastest.Fault{API: midas.APICancelPay, Errcode: -1, Applied: true, Times: 1 + midas.DefaultMaxRetries})
	_, err = c.CancelPay(v2bg, req)
	require.ErrorIs(t, err, midas.ErrOutcomeUnknown)
	var ou *midas.OutcomeUnknownError
	require.ErrorAs(t, err, &ou)
	assert.Equal(t, "ref-1", ou.BillNo, "settled by the refund's own bill_no")
	assert.Equal(t, midas.APICancelPay, ou.API)
	assert.Equal(t, int64(80), total(), "applied once")

	ctx, cancel := context.WithTimeout(v2bg, 5*time.Second)
	defer cancel()
	cr, err := c.SettleCancelPay(ctx, req)
	require.NoError(t, err)
	assert.True(t, cr.AlreadyProcessed)
	assert.Equal(t, "ref-1", cr.BillNo)
	assert.Equal(t, int64(80), total())

	// Not applied: the settle applies it, once.
	req2 := midas.CancelPayRequest{OpenID: alice, SessionKey: aliceKey, BillNo: "pay-1", RefundBillNo: "ref-2", Amount: 5}
	fake.Inject(midastest.Fault{API: midas.APICancelPay, Drop: true, Times: 1 + midas.DefaultMaxRetries})
	_, err = c.CancelPay(v2bg, req2)
	require.ErrorIs(t, err, midas.ErrOutcomeUnknown)
	assert.Equal(t, int64(80), total())
	cr, err = c.SettleCancelPay(ctx, req2)
	require.NoError(t, err)
	assert.False(t, cr.AlreadyProcessed)
	assert.Equal(t, int64(85), cr.Balance)
	assert.Equal(t, int64(85), total())

	// A settle stopped by an expired session: unknown, with the cause.
	req3 := midas.PayRequest{OpenID: alice, SessionKey: aliceKey, BillNo: "pay-3", Amount: 1}
	fake.Inject(midastest.Fault{API: midas.APIPay, Drop: true, Times: 1 + midas.DefaultMaxRetries})
	_, err = c.Pay(v2bg, req3)
	require.ErrorIs(t, err, midas.ErrOutcomeUnknown)
	fake.ExpireSession(alice)
	before := len(payCalls(fake, midas.APIPay))
	_, err = c.SettlePay(ctx, req3)
	require.ErrorIs(t, err, midas.ErrOutcomeUnknown)
	require.ErrorAs(t, err, &ou)
	assert.ErrorIs(t, ou.Err, midas.ErrSessionExpired)
	assert.Len(t, payCalls(fake, midas.APIPay), before+1, "stops at once: repeating cannot help")
}

// A rejected access_token is refreshed once and the call re-sent.
func TestV2TokenRefresh(t *testing.T) {
	fake := midastest.New(fakeCfg())
	fake.AddToken("old-token")
	fake.ExpireToken("old-token")
	fake.AddToken("new-token")
	ts := &v2Tokens{tokens: []string{"old-token", "new-token"}}
	c := wireToFake(t, fake, midas.Config{AppID: appID, OfferID: offerID, AppKey: appKey, Version: midas.V2, AccessToken: ts})
	pay, err := c.Pay(v2bg, midas.PayRequest{OpenID: alice, SessionKey: aliceKey, BillNo: "tok-1", Amount: 10})
	require.NoError(t, err)
	assert.Equal(t, int64(100), pay.Balance)
	assert.Equal(t, []string{"old-token"}, ts.invalidated)
	calls := payCalls(fake, midas.APIPay)
	require.Len(t, calls, 2)
	assert.Equal(t, 42001, calls[0].Errcode)
	assert.Zero(t, calls[1].Errcode)
}

type v2Tokens struct {
	mu          sync.Mutex
	tokens      []string
	given       int
	invalidated []string
}

func (s *v2Tokens) Token(context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokens[min(s.given, len(s.tokens)-1)], nil
}

func (s *v2Tokens) InvalidateToken(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.invalidated = append(s.invalidated, tok)
	s.given++
}

// Many goroutines on one client: every coin accounted for.
func TestV2ConcurrentCalls(t *testing.T) {
	fake := midastest.New(fakeCfg())
	c := v2FakeClient(t, fake, midas.Production, appKey)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if _, err := c.Pay(v2bg, midas.PayRequest{OpenID: alice, SessionKey: aliceKey, BillNo: fmt.Sprintf("cp-%d", i), Amount: 2}); err != nil {
				errs <- err
				return
			}
			if _, err := c.Present(v2bg, midas.PresentRequest{OpenID: alice, SessionKey: aliceKey, BillNo: fmt.Sprintf("cg-%d", i), Count: 1}); err != nil {
				errs <- err
			}
			if _, err := c.GetBalance(v2bg, midas.BalanceRequest{OpenID: alice, SessionKey: aliceKey}); err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	total, _ := fake.Balance(midas.Production, alice, "")
	assert.Equal(t, int64(110-64+32), total)
}

func TestV2ResponseMapping(t *testing.T) {
	const sk = "V7Q38/i2KXaqrQyl2Yx9Hg=="
	c, _ := newV2Mock(t, v2VecConfig(midas.Production, midas.V2),
		v2Answer(`{"errcode":0,"errmsg":"ok","balance":11,"present_balance":1,"sum_save":10,"sum_present":1,"sum_balance":11,"sum_cost":0,"first_save":false}`))
	bal, err := c.GetBalance(v2bg, midas.BalanceRequest{OpenID: alice, SessionKey: sk})
	require.NoError(t, err)
	assert.Equal(t, midas.BalanceResponse{Balance: 11, GenBalance: 1, FirstSave: false, SaveAmt: 10, SaveSum: 11, CostSum: 0, PresentSum: 1}, *bal)

	c, _ = newV2Mock(t, v2VecConfig(midas.Production, midas.V2),
		v2Answer(`{"errcode":0,"errmsg":"ok","balance":57,"present_balance":7,"sum_save":80,"sum_present":9,"sum_balance":89,"sum_cost":32,"first_save":true}`))
	bal, err = c.GetBalance(v2bg, midas.BalanceRequest{OpenID: alice, SessionKey: sk})
	require.NoError(t, err)
	assert.Equal(t, midas.BalanceResponse{Balance: 57, GenBalance: 7, FirstSave: true, SaveAmt: 80, SaveSum: 89, CostSum: 32, PresentSum: 9}, *bal)

	c, _ = newV2Mock(t, v2VecConfig(midas.Production, midas.V2),
		v2Answer(`{"errcode":0,"errmsg":"ok","bill_no":"test_pay_1668512428","balance":10,"used_present_amount":1}`))
	pay, err := c.Pay(v2bg, midas.PayRequest{OpenID: alice, SessionKey: sk, BillNo: "test_pay_1668512428", Amount: 1})
	require.NoError(t, err)
	assert.Equal(t, midas.PayResponse{BillNo: "test_pay_1668512428", Balance: 10, BalanceKnown: true, UsedGenAmount: 1, UsedGenAmountKnown: true}, *pay)

	for _, tc := range []struct {
		answer  string
		billNo  string
		balance int64
	}{
		{`{"errcode":0,"errmsg":"ok","bill_no":"ref-1","balance":42}`, "ref-1", 42},
		{`{"errcode":0,"errmsg":"ok","bill_no":"ref-1","balance":42,"used_present_amount":3}`, "ref-1", 42},
		{`{"errcode":0,"errmsg":"ok","bill_no":"ref-1"}`, "ref-1", 0},
		{`{"errcode":0,"errmsg":"ok"}`, "ref-1", 0}, // no echo: the refund's own id, not the pay's
	} {
		c, _ = newV2Mock(t, v2VecConfig(midas.Production, midas.V2), v2Answer(tc.answer))
		cr, err := c.CancelPay(v2bg, midas.CancelPayRequest{OpenID: alice, SessionKey: sk, BillNo: "pay-1", RefundBillNo: "ref-1", Amount: 3})
		require.NoError(t, err, tc.answer)
		assert.Equal(t, midas.CancelPayResponse{BillNo: tc.billNo, Balance: tc.balance, BalanceKnown: tc.balance != 0}, *cr, tc.answer)
	}

	c, _ = newV2Mock(t, v2VecConfig(midas.Production, midas.V2), v2Answer(`{"errcode":0,"errmsg":"ok","bill_no":"g-1","balance":15}`))
	pr, err := c.Present(v2bg, midas.PresentRequest{OpenID: alice, SessionKey: sk, BillNo: "g-1", Count: 5})
	require.NoError(t, err)
	assert.Equal(t, midas.PresentResponse{BillNo: "g-1", Balance: 15, BalanceKnown: true}, *pr)

	c, _ = newV2Mock(t, v2VecConfig(midas.Production, midas.V2),
		v2Answer(`{"errcode":0,"errmsg":"ok","out_trade_no":"ot-1","product_id":"p1","pay_state":2,"deliver_state":1,"pay_finish_time":1668512900,"mch_order_no":"m1","transaction_id":"t1"}`))
	q, err := c.QueryOrder(v2bg, midas.QueryOrderRequest{OpenID: alice, SessionKey: sk, OutTradeNo: "ot-1", Kind: midas.ItemOrder})
	require.NoError(t, err)
	assert.True(t, time.Unix(1668512900, 0).Equal(q.PaidAt))
	q.PaidAt = time.Time{}
	assert.Equal(t, midas.QueryOrderResponse{OutTradeNo: "ot-1", ProductID: "p1", Paid: true, Delivered: false, MchOrderNo: "m1", TransactionID: "t1"}, *q)
}

// A 2.0 bill_no is unique per openid and zone across pay, present and
// cancelpay, so a refund whose RefundBillNo is the pay's own bill_no can
// never be applied: the server answers 90012 because the pay used it. After
// an unclear attempt that 90012 must not be read as "the refund was
// applied"; the client can see the mistake locally and refuse it before
// sending.
func TestV2CancelPayRefundBillNoEqualToPayBillNo(t *testing.T) {
	fake := midastest.New(fakeCfg())
	c := v2FakeClient(t, fake, midas.Production, appKey)
	_, err := c.Pay(v2bg, midas.PayRequest{OpenID: alice, SessionKey: aliceKey, BillNo: "same-1", Amount: 20})
	require.NoError(t, err)
	total := func() int64 { n, _ := fake.Balance(midas.Production, alice, ""); return n }
	require.Equal(t, int64(90), total())

	// The first attempt is lost before the server processes it.
	fake.Inject(midastest.Fault{API: midas.APICancelPay, Drop: true})
	cr, err := c.CancelPay(v2bg, midas.CancelPayRequest{OpenID: alice, SessionKey: aliceKey, BillNo: "same-1", RefundBillNo: "same-1", Amount: 5})
	if err == nil {
		assert.False(t, cr.AlreadyProcessed && total() == 90,
			"CancelPay reported the refund as AlreadyProcessed, but no coin came back (balance %d): the 90012 was the pay's own bill_no", total())
	}
	assert.ErrorIs(t, err, midas.ErrInvalidRequest, "RefundBillNo equal to the pay's BillNo should be refused before sending")
}
