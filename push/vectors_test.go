package push_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/gomidas/midas"
	"github.com/gomidas/midas/push"
	"github.com/stretchr/testify/require"
)

type vector7 struct {
	AppKey      string            `json:"app_key"`
	Event       string            `json:"event"`
	Payload     string            `json:"payload"`
	PayEventSig string            `json:"pay_event_sig"`
	Want        push.ItemDelivery `json:"want"`
}

type vector8 struct {
	Token    string `json:"token"`
	GetCheck struct {
		Timestamp, Nonce, Signature, Echostr string
	} `json:"get_check"`
	PlainPost struct {
		Timestamp, Nonce, Signature string
	} `json:"plain_post"`
	SecurePost struct {
		Timestamp      string `json:"timestamp"`
		Nonce          string `json:"nonce"`
		Signature      string `json:"signature"`
		MsgSignature   string `json:"msg_signature"`
		EncodingAESKey string `json:"encoding_aes_key"`
		ToUserName     string `json:"to_user_name"`
		Encrypt        string `json:"encrypt"`
		Decrypted      string `json:"decrypted"`
		AppID          string `json:"appid"`
		PadByte        int    `json:"pad_byte"`
	} `json:"secure_post"`
}

// Vector 7 through the handler: a sandbox push signed with the sandbox
// AppKey "12345" delivers the payload's values, in both modes.
func TestVector7ItemDelivery(t *testing.T) {
	var v vector7
	readGolden(t, "vector7.json", &v)
	require.Equal(t, v.PayEventSig, midas.PaySig(v.Event, []byte(v.Payload), v.AppKey))

	for _, secure := range []bool{false, true} {
		cfg := push.Config{Token: testToken, AppID: testAppID, AppKey: "other-production-key", SandboxAppKey: v.AppKey}
		if secure {
			cfg.EncodingAESKey = testAESKey
		}
		var got []*push.ItemDelivery
		h, err := push.NewHandler(cfg, push.Handlers{ItemDelivered: func(_ context.Context, d *push.ItemDelivery) error {
			got = append(got, d)
			return nil
		}})
		require.NoError(t, err)
		s := sender{h: h, token: testToken, secure: secure, aesKey: testAESKey, appID: testAppID}
		requireSuccess(t, s.post(envelope(v.Event, v.Payload, v.PayEventSig, false)))
		require.Len(t, got, 1)
		want := v.Want
		want.Env = midas.Sandbox
		want.CreateTime = time.Unix(1714112445, 0)
		want.Payload = v.Payload
		require.Equal(t, &want, got[0])
	}
}

func TestVector8URLCheck(t *testing.T) {
	var v vector8
	readGolden(t, "vector8.json", &v)
	g := v.GetCheck
	require.Equal(t, g.Signature, push.URLSignature(v.Token, g.Timestamp, g.Nonce))

	h, err := push.NewHandler(push.Config{Token: v.Token, AppID: testAppID, AppKey: testAppKey}, push.Handlers{})
	require.NoError(t, err)
	s := sender{h: h}
	q := url.Values{"signature": {g.Signature}, "timestamp": {g.Timestamp}, "nonce": {g.Nonce}, "echostr": {g.Echostr}}
	rec := s.do(http.MethodGet, q, nil)
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, g.Echostr, rec.Body.String())
	require.Contains(t, rec.Header().Get("Content-Type"), "text/plain")

	// Any change of the signed values fails the check, and echoes nothing.
	for _, bad := range []url.Values{
		{"signature": {g.Signature}, "timestamp": {g.Timestamp + "1"}, "nonce": {g.Nonce}, "echostr": {g.Echostr}},
		{"signature": {g.Signature}, "timestamp": {g.Timestamp}, "nonce": {"1"}, "echostr": {g.Echostr}},
		{"signature": {g.Signature[:39] + "0"}, "timestamp": {g.Timestamp}, "nonce": {g.Nonce}, "echostr": {g.Echostr}},
		{"timestamp": {g.Timestamp}, "nonce": {g.Nonce}, "echostr": {g.Echostr}},
	} {
		rec := s.do(http.MethodGet, bad, nil)
		require.Equal(t, http.StatusForbidden, rec.Code)
		require.NotContains(t, rec.Body.String(), g.Echostr)
	}
}

func TestVector8PlainPost(t *testing.T) {
	var v vector8
	readGolden(t, "vector8.json", &v)
	p := v.PlainPost
	require.Equal(t, p.Signature, push.URLSignature(v.Token, p.Timestamp, p.Nonce))

	var c counters
	h, err := push.NewHandler(push.Config{Token: v.Token, AppID: testAppID, AppKey: testAppKey}, c.handlers())
	require.NoError(t, err)
	s := sender{h: h}
	payload := itemPayload("vec8-plain", midas.Production)
	body := signed(push.EventGamePayGoodsDeliver, payload, testAppKey)
	q := url.Values{"signature": {p.Signature}, "timestamp": {p.Timestamp}, "nonce": {p.Nonce}}
	requireSuccess(t, s.do(http.MethodPost, q, body))
	require.Len(t, c.items, 1)

	q.Set("nonce", p.Nonce+"0")
	requireFailure(t, s.do(http.MethodPost, q, body), http.StatusForbidden)
	require.Len(t, c.items, 1)
}

func TestVector8Decrypt(t *testing.T) {
	var v vector8
	readGolden(t, "vector8.json", &v)
	sp := v.SecurePost
	require.Equal(t, sp.MsgSignature, push.URLSignature(v.Token, sp.Timestamp, sp.Nonce, sp.Encrypt))
	require.Equal(t, sp.Signature, push.URLSignature(v.Token, sp.Timestamp, sp.Nonce))

	msg, appID, err := push.Decrypt(sp.EncodingAESKey, sp.Encrypt)
	require.NoError(t, err)
	require.Equal(t, sp.Decrypted, string(msg))
	require.Equal(t, sp.AppID, appID)

	// The tests' own decryptor agrees, and gives the 16 random bytes and the
	// padding; with the same random bytes both encryptors reproduce the
	// official ciphertext.
	raw := testDecryptRaw(t, sp.EncodingAESKey, sp.Encrypt)
	require.Equal(t, byte(sp.PadByte), raw[len(raw)-1])
	random := raw[:16]
	require.Equal(t, sp.Encrypt, testEncrypt(sp.EncodingAESKey, sp.AppID, []byte(sp.Decrypted), random))
	enc, err := push.Encrypt(sp.EncodingAESKey, sp.AppID, []byte(sp.Decrypted), bytes.NewReader(random))
	require.NoError(t, err)
	require.Equal(t, sp.Encrypt, enc)
}

// The official secure-mode request, as sent: verified, decrypted, and its
// event (debug_demo, unknown here) acknowledged without a handler call.
func TestVector8SecurePost(t *testing.T) {
	var v vector8
	readGolden(t, "vector8.json", &v)
	sp := v.SecurePost
	cfg := push.Config{Token: v.Token, EncodingAESKey: sp.EncodingAESKey, AppID: sp.AppID, AppKey: testAppKey}
	var c counters
	lb, logOpt := newLog()
	h, err := push.NewHandler(cfg, c.handlers(), logOpt)
	require.NoError(t, err)
	s := sender{h: h}
	body, err := json.Marshal(map[string]string{"ToUserName": sp.ToUserName, "Encrypt": sp.Encrypt})
	require.NoError(t, err)
	q := url.Values{"signature": {sp.Signature}, "timestamp": {sp.Timestamp}, "nonce": {sp.Nonce},
		"encrypt_type": {"aes"}, "msg_signature": {sp.MsgSignature}}
	requireSuccess(t, s.do(http.MethodPost, q, body))
	require.Zero(t, c.calls())
	require.Contains(t, lb.String(), "debug_demo")
	require.NotContains(t, lb.String(), "hello world") // no decrypted body in the log

	// The same request for another appid is refused.
	cfg.AppID = "wx0000000000000000"
	h, err = push.NewHandler(cfg, c.handlers())
	require.NoError(t, err)
	requireFailure(t, sender{h: h}.do(http.MethodPost, q, body), http.StatusForbidden)

	// A wrong msg_signature is refused.
	q.Set("msg_signature", sp.Signature)
	requireFailure(t, s.do(http.MethodPost, q, body), http.StatusForbidden)
}
