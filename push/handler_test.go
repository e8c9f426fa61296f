package push_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gomidas/midas"
	"github.com/gomidas/midas/push"
	"github.com/stretchr/testify/require"
)

// Every rejection answers non-success, calls no handler, and logs a reason
// at Warn that names no secret.
func TestRejections(t *testing.T) {
	good := itemPayload("T1001", midas.Production)
	sandbox := itemPayload("T1002", midas.Sandbox)
	ev := push.EventGamePayGoodsDeliver
	big := bytes.Repeat([]byte("x"), push.DefaultMaxBodyBytes)

	type tc struct {
		name   string
		secure bool
		cfg    func(*push.Config)
		send   func(s sender) *httptest.ResponseRecorder
		status int
	}
	post := func(body []byte) func(s sender) *httptest.ResponseRecorder {
		return func(s sender) *httptest.ResponseRecorder { return s.post(body) }
	}
	validQuery := func(extra ...string) url.Values {
		q := url.Values{"timestamp": {testTimestamp}, "nonce": {testNonce},
			"signature": {push.URLSignature(testToken, testTimestamp, testNonce)}}
		for i := 0; i+1 < len(extra); i += 2 {
			q.Set(extra[i], extra[i+1])
		}
		return q
	}
	secureBody := func(appID string, msg []byte) (url.Values, []byte) {
		enc := testEncrypt(testAESKey, appID, msg, make([]byte, 16))
		body, _ := json.Marshal(map[string]string{"Encrypt": enc})
		return validQuery("encrypt_type", "aes", "msg_signature", push.URLSignature(testToken, testTimestamp, testNonce, enc)), body
	}
	cases := []tc{
		{name: "bad URL signature", send: func(s sender) *httptest.ResponseRecorder {
			s.token = "wrong"
			return s.post(signed(ev, good, testAppKey))
		}, status: http.StatusForbidden},
		{name: "missing URL signature", send: func(s sender) *httptest.ResponseRecorder {
			return s.do(http.MethodPost, url.Values{"timestamp": {testTimestamp}, "nonce": {testNonce}}, signed(ev, good, testAppKey))
		}, status: http.StatusForbidden},
		{name: "forged PayEventSig", send: post(envelope(ev, good, midas.PaySig(ev, []byte(good), "guessed"), false)), status: http.StatusForbidden},
		{name: "PayEventSig of another event", send: post(envelope(ev, good, midas.PaySig(push.EventH5GoodsDeliver, []byte(good), testAppKey), false)), status: http.StatusForbidden},
		{name: "missing PayEventSig", send: post(envelope(ev, good, "", false)), status: http.StatusForbidden},
		{name: "uppercase hex PayEventSig", send: post(envelope(ev, good, strings.ToUpper(midas.PaySig(ev, []byte(good), testAppKey)), false)), status: http.StatusForbidden},
		{name: "Env 0 signed with the sandbox key", send: post(signed(ev, good, testSandboxKey)), status: http.StatusForbidden},
		{name: "Env 1 signed with the production key", send: post(signed(ev, sandbox, testAppKey)), status: http.StatusForbidden},
		{name: "no key for the payload's env", cfg: func(c *push.Config) { c.SandboxAppKey = "" },
			send: post(signed(ev, sandbox, testSandboxKey)), status: http.StatusForbidden},
		{name: "no key for Env 2", send: post(signed(ev, strings.Replace(good, `"Env":0`, `"Env":2`, 1), testAppKey)), status: http.StatusForbidden},
		{name: "Quantity is a string", send: post(signed(ev, strings.Replace(good, `"Quantity":60`, `"Quantity":"60"`, 1), testAppKey)), status: http.StatusBadRequest},
		{name: "Env is a string", send: post(signed(ev, strings.Replace(good, `"Env":0`, `"Env":"0"`, 1), testAppKey)), status: http.StatusBadRequest},
		{name: "payload not JSON", send: post(signed(ev, `{"OpenId":`, testAppKey)), status: http.StatusBadRequest},
		{name: "payload without OutTradeNo", send: post(signed(ev, strings.Replace(good, `"OutTradeNo":"T1001",`, ``, 1), testAppKey)), status: http.StatusBadRequest},
		{name: "payload without ProductId", send: post(signed(ev, strings.Replace(good, `"ProductId":"gem_pack_60",`, ``, 1), testAppKey)), status: http.StatusBadRequest},
		{name: "envelope not JSON", send: post([]byte(`<xml><Event>x</Event></xml>`)), status: http.StatusBadRequest},
		{name: "envelope CreateTime a string", send: post(bytes.Replace(signed(ev, good, testAppKey), []byte(`"CreateTime":1714112445`), []byte(`"CreateTime":"1714112445"`), 1)), status: http.StatusBadRequest},
		{name: "envelope without Event", send: post([]byte(`{"MsgType":"event","MiniGame":{}}`)), status: http.StatusBadRequest},
		{name: "envelope without MiniGame", send: post([]byte(`{"MsgType":"event","Event":"` + ev + `"}`)), status: http.StatusBadRequest},
		{name: "oversized body", send: post(append(append([]byte(`{"Pad":"`), big...), `"}`...)), status: http.StatusRequestEntityTooLarge},
		{name: "wrong method", send: func(s sender) *httptest.ResponseRecorder {
			return s.do(http.MethodPut, validQuery(), signed(ev, good, testAppKey))
		}, status: http.StatusMethodNotAllowed},
		{name: "secure push to a plain handler", send: func(s sender) *httptest.ResponseRecorder {
			q, body := secureBody(testAppID, signed(ev, good, testAppKey))
			return s.do(http.MethodPost, q, body)
		}, status: http.StatusBadRequest},
		{name: "secure: plain body", secure: true, send: func(s sender) *httptest.ResponseRecorder {
			return s.do(http.MethodPost, validQuery(), signed(ev, good, testAppKey))
		}, status: http.StatusForbidden},
		{name: "secure: plain body with encrypt_type", secure: true, send: func(s sender) *httptest.ResponseRecorder {
			return s.do(http.MethodPost, validQuery("encrypt_type", "aes", "msg_signature", "00"), signed(ev, good, testAppKey))
		}, status: http.StatusBadRequest},
		{name: "secure: wrong appid", secure: true, send: func(s sender) *httptest.ResponseRecorder {
			q, body := secureBody("wx_someone_else", signed(ev, good, testAppKey))
			return s.do(http.MethodPost, q, body)
		}, status: http.StatusForbidden},
		{name: "secure: bad msg_signature", secure: true, send: func(s sender) *httptest.ResponseRecorder {
			q, body := secureBody(testAppID, signed(ev, good, testAppKey))
			q.Set("msg_signature", push.URLSignature(testToken, testTimestamp, testNonce))
			return s.do(http.MethodPost, q, body)
		}, status: http.StatusForbidden},
		{name: "secure: undecryptable Encrypt", secure: true, send: func(s sender) *httptest.ResponseRecorder {
			enc := "QUJDREVGR0hJSktMTU5PUA==" // one block, not padded right
			body, _ := json.Marshal(map[string]string{"Encrypt": enc})
			q := validQuery("encrypt_type", "aes", "msg_signature", push.URLSignature(testToken, testTimestamp, testNonce, enc))
			return s.do(http.MethodPost, q, body)
		}, status: http.StatusBadRequest},
		{name: "secure: forged PayEventSig inside", secure: true, send: post(envelope(ev, good, strings.Repeat("ab", 32), false)), status: http.StatusForbidden},
		{name: "secure: encrypt_type not aes", secure: true, send: func(s sender) *httptest.ResponseRecorder {
			q, body := secureBody(testAppID, signed(ev, good, testAppKey))
			q.Set("encrypt_type", "raw")
			return s.do(http.MethodPost, q, body)
		}, status: http.StatusBadRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig(c.secure)
			if c.cfg != nil {
				c.cfg(&cfg)
			}
			var calls counters
			lb, logOpt := newLog()
			h, err := push.NewHandler(cfg, calls.handlers(), logOpt)
			require.NoError(t, err)
			s := sender{h: h, token: testToken, secure: c.secure, aesKey: testAESKey, appID: testAppID}
			rec := c.send(s)
			require.Equal(t, c.status, rec.Code, rec.Body.String())
			r := decodeReply(t, rec)
			require.NotZero(t, r.ErrCode)
			require.Zero(t, calls.calls(), "a handler was called")
			logged := lb.String()
			require.Contains(t, logged, "level=WARN")
			require.Contains(t, logged, "push: rejected")
			requireNoSecret(t, logged, "gem_pack_60", "o_buyer") // no payload content either
			requireNoSecret(t, rec.Body.String())
		})
	}
}

func TestGETCheckFailureIs403(t *testing.T) {
	lb, logOpt := newLog()
	s := newSender(t, false, push.Handlers{}, logOpt)
	q := url.Values{"signature": {"x"}, "timestamp": {"1"}, "nonce": {"2"}, "echostr": {"e"}}
	rec := s.do(http.MethodGet, q, nil)
	require.Equal(t, http.StatusForbidden, rec.Code)
	require.NotEqual(t, "e", rec.Body.String())
	require.Contains(t, lb.String(), "level=WARN")
	requireNoSecret(t, lb.String())
}

func TestMockPush(t *testing.T) {
	ev := push.EventGamePayGoodsDeliver
	for _, secure := range []bool{false, true} {
		var c counters
		s := newSender(t, secure, c.handlers())
		// Verified and typed: answered, no business logic.
		p := itemPayload("mock-1", midas.Production)
		requireSuccess(t, s.post(envelope(ev, p, midas.PaySig(ev, []byte(p), testAppKey), true)))
		// Random mock values may leave fields empty: types only.
		p = `{"OpenId":"","Env":1,"OutTradeNo":"","GoodsInfo":{"Quantity":3}}`
		requireSuccess(t, s.post(envelope(ev, p, midas.PaySig(ev, []byte(p), testSandboxKey), true)))
		for _, e := range []string{push.EventCoinDeliverCompleted, push.EventPayRefundSucc} {
			p := `{"Env":0}`
			requireSuccess(t, s.post(envelope(e, p, midas.PaySig(e, []byte(p), testAppKey), true)))
		}
		require.Zero(t, c.calls())
		// A mock is still verified and type-checked.
		requireFailure(t, s.post(envelope(ev, p, "00", true)), http.StatusForbidden)
		bad := `{"Env":0,"GoodsInfo":{"Quantity":"3"}}`
		requireFailure(t, s.post(envelope(ev, bad, midas.PaySig(ev, []byte(bad), testAppKey), true)), http.StatusBadRequest)
		require.Zero(t, c.calls())
	}
}

func TestNilHandlers(t *testing.T) {
	s := newSender(t, false, push.Handlers{})
	for _, ev := range []string{push.EventGamePayGoodsDeliver, push.EventCoinDeliverCompleted, push.EventPayRefundSucc} {
		requireSuccess(t, s.post(signed(ev, itemPayload("nil-1", midas.Production), testAppKey)))
	}
	// Still verified first.
	requireFailure(t, s.post(signed(push.EventGamePayGoodsDeliver, itemPayload("nil-2", midas.Production), "bad")), http.StatusForbidden)
}

func TestUnknownEventAcknowledged(t *testing.T) {
	for _, secure := range []bool{false, true} {
		var c counters
		lb, logOpt := newLog()
		s := newSender(t, secure, c.handlers(), logOpt)
		requireSuccess(t, s.post([]byte(`{"MsgType":"event","Event":"xpay_goods_deliver_notify","MiniGame":{"Payload":"{}","PayEventSig":"x"}}`)))
		require.Zero(t, c.calls())
		require.Contains(t, lb.String(), "ignored event")
		// The transport is still verified.
		s.token = "wrong"
		requireFailure(t, s.post([]byte(`{"Event":"debug_demo"}`)), http.StatusForbidden)
	}
}

func TestItemEvents(t *testing.T) {
	for _, ev := range []string{push.EventGamePayGoodsDeliver, push.EventH5GoodsDeliver, push.EventDeliverH5PayProducts} {
		var c counters
		s := newSender(t, false, c.handlers())
		requireSuccess(t, s.post(signed(ev, itemPayload("I-"+ev, midas.Production), testAppKey)))
		require.Len(t, c.items, 1)
		d := c.items[0]
		require.Equal(t, ev, d.Event)
		require.Equal(t, "I-"+ev, d.OutTradeNo)
		require.Equal(t, midas.Production, d.Env)
		require.Equal(t, int64(60), d.Quantity)
		require.Equal(t, int64(600), d.OrigPrice)
		require.Equal(t, int64(500), d.ActualPrice)
		require.Equal(t, push.SourceInGame, d.Source)
		require.Equal(t, "tx1", d.TransactionID)
	}
}

func TestCoinDelivery(t *testing.T) {
	var c counters
	s := newSender(t, true, c.handlers())
	total := `{"OpenId":"o1","OutTradeNo":"C1","WeChatPayInfo":{"MchOrderNo":"m","TransactionId":"t"},"Env":0,"CoinInfo":{"ZoneId":"1","TotalPrice":100,"BuyQuantity":10,"OrigPrice":120}}`
	actual := `{"OpenId":"o1","OutTradeNo":"_C2","Env":1,"CoinInfo":{"ActualPrice":90,"BuyQuantity":9,"OrigPrice":100}}`
	requireSuccess(t, s.post(signed(push.EventCoinDeliverCompleted, total, testAppKey)))
	requireSuccess(t, s.post(signed(push.EventRechargeCenterCoinDeliverCompleted, actual, testSandboxKey)))
	require.Len(t, c.coins, 2)
	require.Equal(t, push.CoinDelivery{Event: push.EventCoinDeliverCompleted, OpenID: "o1", OutTradeNo: "C1", Env: midas.Production,
		ZoneID: "1", Quantity: 10, OrigPrice: 120, ActualPrice: 100, MchOrderNo: "m", TransactionID: "t",
		CreateTime: time.Unix(1714112445, 0), Payload: total}, *c.coins[0])
	require.Equal(t, push.CoinDelivery{Event: push.EventRechargeCenterCoinDeliverCompleted, OpenID: "o1", OutTradeNo: "_C2", Env: midas.Sandbox,
		Quantity: 9, OrigPrice: 100, ActualPrice: 90, CreateTime: time.Unix(1714112445, 0), Payload: actual}, *c.coins[1])

	bad := `{"OpenId":"o1","OutTradeNo":"C3","Env":0,"CoinInfo":{"BuyQuantity":"10"}}`
	requireFailure(t, s.post(signed(push.EventCoinDeliverCompleted, bad, testAppKey)), http.StatusBadRequest)
	require.Len(t, c.coins, 2)
}

func TestRefund(t *testing.T) {
	var c counters
	s := newSender(t, false, c.handlers())
	p := `{"RefundId":"R1","RefundAmount":600,"RefundSource":3,"Env":0,"OutTradeNo":"T1","WeChatPayInfo":{"MchOrderNo":"m","TransactionId":"t"}}`
	requireSuccess(t, s.post(signed(push.EventPayRefundSucc, p, testAppKey)))
	require.Len(t, c.refund, 1)
	require.Equal(t, push.Refund{Event: push.EventPayRefundSucc, OutTradeNo: "T1", Env: midas.Production, RefundID: "R1",
		RefundAmount: 600, RefundSource: push.RefundSourceAPI, MchOrderNo: "m", TransactionID: "t",
		CreateTime: time.Unix(1714112445, 0), Payload: p}, *c.refund[0])
}

// A handler's error or panic is answered with a non-zero ErrCode whose text
// is generic, never the error's.
func TestHandlerFailure(t *testing.T) {
	const secretText = "db password hunter2 at 10.0.0.1"
	for name, fn := range map[string]func(context.Context, *push.ItemDelivery) error{
		"error": func(context.Context, *push.ItemDelivery) error { return errors.New(secretText) },
		"panic": func(context.Context, *push.ItemDelivery) error { panic(secretText) },
	} {
		t.Run(name, func(t *testing.T) {
			lb, logOpt := newLog()
			s := newSender(t, false, push.Handlers{ItemDelivered: fn}, logOpt)
			rec := s.post(signed(push.EventGamePayGoodsDeliver, itemPayload("F1", midas.Production), testAppKey))
			r := requireFailure(t, rec, http.StatusInternalServerError)
			require.Equal(t, reply{99999, "internal error"}, r)
			require.NotContains(t, rec.Body.String(), "hunter2")
			require.Contains(t, lb.String(), "level=ERROR")
			requireNoSecret(t, lb.String())
		})
	}
	// Coins and refunds too.
	boom := errors.New("boom")
	s := newSender(t, false, push.Handlers{
		CoinsDelivered: func(context.Context, *push.CoinDelivery) error { return boom },
		Refunded:       func(context.Context, *push.Refund) error { panic(boom) },
	})
	requireFailure(t, s.post(signed(push.EventCoinDeliverCompleted, `{"OpenId":"o","OutTradeNo":"C","Env":0}`, testAppKey)), http.StatusInternalServerError)
	requireFailure(t, s.post(signed(push.EventPayRefundSucc, `{"OutTradeNo":"C","Env":0}`, testAppKey)), http.StatusInternalServerError)
}

// The handler's context ends before WeChat's 3 s.
func TestHandlerDeadline(t *testing.T) {
	check := func(t *testing.T, opts ...push.Option) time.Duration {
		var left time.Duration
		s := newSender(t, false, push.Handlers{ItemDelivered: func(ctx context.Context, _ *push.ItemDelivery) error {
			dl, ok := ctx.Deadline()
			require.True(t, ok)
			left = time.Until(dl)
			return nil
		}}, opts...)
		requireSuccess(t, s.post(signed(push.EventGamePayGoodsDeliver, itemPayload("D1", midas.Production), testAppKey)))
		return left
	}
	require.LessOrEqual(t, check(t), push.DefaultHandlerTimeout)
	require.Less(t, push.DefaultHandlerTimeout, 3*time.Second)
	require.LessOrEqual(t, check(t, push.WithHandlerTimeout(time.Second)), time.Second)
}

func TestSmallerBodyLimit(t *testing.T) {
	var c counters
	s := newSender(t, false, c.handlers(), push.WithMaxBodyBytes(100))
	requireFailure(t, s.post(signed(push.EventGamePayGoodsDeliver, itemPayload("B1", midas.Production), testAppKey)), http.StatusRequestEntityTooLarge)
	require.Zero(t, c.calls())
}

func TestNewHandlerErrors(t *testing.T) {
	ok := testConfig(true)
	for name, tc := range map[string]struct {
		mod   func(*push.Config)
		opts  []push.Option
		field string
	}{
		"no token":          {mod: func(c *push.Config) { c.Token = "" }, field: "Token"},
		"no appid":          {mod: func(c *push.Config) { c.AppID = "" }, field: "AppID"},
		"no keys":           {mod: func(c *push.Config) { c.AppKey, c.SandboxAppKey = "", "" }, field: "AppKey"},
		"short AES key":     {mod: func(c *push.Config) { c.EncodingAESKey = testAESKey[:42] }, field: "EncodingAESKey"},
		"long AES key":      {mod: func(c *push.Config) { c.EncodingAESKey = testAESKey + "A" }, field: "EncodingAESKey"},
		"non-base64 key":    {mod: func(c *push.Config) { c.EncodingAESKey = "!" + testAESKey[1:] }, field: "EncodingAESKey"},
		"zero body limit":   {opts: []push.Option{push.WithMaxBodyBytes(0)}, field: "WithMaxBodyBytes"},
		"zero timeout":      {opts: []push.Option{push.WithHandlerTimeout(0)}, field: "WithHandlerTimeout"},
		"zero body timeout": {opts: []push.Option{push.WithBodyTimeout(0)}, field: "WithBodyTimeout"},
		"nil logger":        {opts: []push.Option{push.WithLogger(nil)}, field: "WithLogger"},
		"nil deduper":       {opts: []push.Option{push.WithDeduper(nil)}, field: "WithDeduper"},
		"nil observer":      {opts: []push.Option{push.WithObserver(nil)}, field: "WithObserver"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := ok
			if tc.mod != nil {
				tc.mod(&cfg)
			}
			h, err := push.NewHandler(cfg, push.Handlers{}, tc.opts...)
			require.Error(t, err)
			require.Nil(t, h)
			require.Contains(t, err.Error(), tc.field)
			requireNoSecret(t, err.Error(), "!"+testAESKey[1:], testAESKey[:42])
		})
	}
	// Either key alone is enough; plain mode needs no AES key.
	for _, cfg := range []push.Config{
		{Token: "t", AppID: "a", AppKey: "k"},
		{Token: "t", AppID: "a", SandboxAppKey: "k"},
		{Token: "t", AppID: "a", AppKey: "k", EncodingAESKey: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB"}, // unused low bits set
	} {
		_, err := push.NewHandler(cfg, push.Handlers{}, nil) // a nil Option is skipped, as in midas
		require.NoError(t, err)
	}
}
