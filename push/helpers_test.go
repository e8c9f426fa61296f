package push_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sync"
	"testing"

	"github.com/gomidas/midas"
	"github.com/gomidas/midas/push"
	"github.com/stretchr/testify/require"
)

// Secrets of the tests: distinctive, so a leak into a log or an answer is
// found by a substring search.
const (
	testToken      = "tokSECRETq7Zp"
	testAESKey     = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG" // 43 chars
	testAppID      = "wx1234567890abcdef"
	testAppKey     = "prodKEYsecret9c1e"
	testSandboxKey = "sandboxKEYsecret44b2"
)

var testSecrets = []string{testToken, testAESKey, testAppKey, testSandboxKey}

func testConfig(secure bool) push.Config {
	c := push.Config{Token: testToken, AppID: testAppID, AppKey: testAppKey, SandboxAppKey: testSandboxKey}
	if secure {
		c.EncodingAESKey = testAESKey
	}
	return c
}

// itemPayload is a well-formed item delivery payload for env.
func itemPayload(outTradeNo string, env midas.Env) string {
	return `{"OpenId":"o_buyer","OutTradeNo":"` + outTradeNo + `","WeChatPayInfo":{"MchOrderNo":"mch1","TransactionId":"tx1"},"Env":` +
		string(rune('0'+int(env))) + `,"GoodsInfo":{"ProductId":"gem_pack_60","Quantity":60,"ZoneId":"1","OrigPrice":600,"ActualPrice":500,"Attach":"uid=10086","OrderSource":1}}`
}

// envelope builds a push body around payload.
func envelope(event, payload, sig string, mock bool) []byte {
	b, err := json.Marshal(map[string]any{
		"ToUserName":   "gh_97417a04a28d",
		"FromUserName": "o9AgO5Kd5ggOC-bXrbNODIiE3bGY",
		"CreateTime":   1714112445,
		"MsgType":      "event",
		"Event":        event,
		"MiniGame":     map[string]any{"Payload": payload, "PayEventSig": sig, "IsMock": mock},
	})
	if err != nil {
		panic(err)
	}
	return b
}

// signed builds a push body signed with key.
func signed(event, payload, key string) []byte {
	return envelope(event, payload, midas.PaySig(event, []byte(payload), key), false)
}

// sender posts pushes the way WeChat does.
type sender struct {
	h      http.Handler
	token  string
	secure bool
	aesKey string
	appID  string // the appid encrypted into secure bodies
}

func newSender(t testing.TB, secure bool, hs push.Handlers, opts ...push.Option) sender {
	t.Helper()
	h, err := push.NewHandler(testConfig(secure), hs, opts...)
	require.NoError(t, err)
	return sender{h: h, token: testToken, secure: secure, aesKey: testAESKey, appID: testAppID}
}

const (
	testTimestamp = "1714112445"
	testNonce     = "415670741"
)

// post sends body (the plaintext envelope; encrypted first in secure mode).
func (s sender) post(body []byte) *httptest.ResponseRecorder {
	q := url.Values{
		"timestamp": {testTimestamp},
		"nonce":     {testNonce},
		"signature": {push.URLSignature(s.token, testTimestamp, testNonce)},
	}
	if s.secure {
		enc := testEncrypt(s.aesKey, s.appID, body, bytes.Repeat([]byte{7}, 16))
		q.Set("encrypt_type", "aes")
		q.Set("msg_signature", push.URLSignature(s.token, testTimestamp, testNonce, enc))
		body, _ = json.Marshal(map[string]string{"ToUserName": "gh_97417a04a28d", "Encrypt": enc})
	}
	return s.do(http.MethodPost, q, body)
}

func (s sender) do(method string, q url.Values, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "/wechat/push?"+q.Encode(), bytes.NewReader(body))
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, req)
	return rec
}

type reply struct {
	ErrCode int
	ErrMsg  string
}

func decodeReply(t testing.TB, rec *httptest.ResponseRecorder) reply {
	t.Helper()
	require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	var r reply
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&r), "answer %q", rec.Body.String())
	return r
}

func requireSuccess(t testing.TB, rec *httptest.ResponseRecorder) {
	t.Helper()
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.JSONEq(t, `{"ErrCode":0,"ErrMsg":"Success"}`, rec.Body.String())
	require.Equal(t, reply{0, "Success"}, decodeReply(t, rec))
}

func requireFailure(t testing.TB, rec *httptest.ResponseRecorder, status int) reply {
	t.Helper()
	require.Equal(t, status, rec.Code, rec.Body.String())
	r := decodeReply(t, rec)
	require.NotZero(t, r.ErrCode)
	return r
}

// logBuffer collects log lines of a handler.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newLog() (*logBuffer, push.Option) {
	lb := &logBuffer{}
	return lb, push.WithLogger(slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})))
}

func requireNoSecret(t testing.TB, text string, extra ...string) {
	t.Helper()
	for _, s := range append(append([]string{}, testSecrets...), extra...) {
		require.NotContains(t, text, s)
	}
}

// counters records handler calls.
type counters struct {
	mu     sync.Mutex
	items  []*push.ItemDelivery
	coins  []*push.CoinDelivery
	refund []*push.Refund
}

func (c *counters) handlers() push.Handlers {
	return push.Handlers{
		ItemDelivered: func(_ context.Context, d *push.ItemDelivery) error {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.items = append(c.items, d)
			return nil
		},
		CoinsDelivered: func(_ context.Context, d *push.CoinDelivery) error {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.coins = append(c.coins, d)
			return nil
		},
		Refunded: func(_ context.Context, d *push.Refund) error {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.refund = append(c.refund, d)
			return nil
		},
	}
}

func (c *counters) calls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items) + len(c.coins) + len(c.refund)
}

// testEncrypt is the tests' own secure-mode encryptor, written apart from
// push.Encrypt: random ‖ BE length ‖ msg ‖ appid, PKCS#7 to 32 bytes,
// AES-256-CBC with IV = key[:16], standard base64.
func testEncrypt(encodingAESKey, appID string, msg, random []byte) string {
	key, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	if err != nil || len(key) != 32 || len(random) != 16 {
		panic("bad test key")
	}
	pt := append([]byte{}, random...)
	pt = binary.BigEndian.AppendUint32(pt, uint32(len(msg)))
	pt = append(pt, msg...)
	pt = append(pt, appID...)
	n := 32 - len(pt)%32
	for i := 0; i < n; i++ {
		pt = append(pt, byte(n))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err)
	}
	ct := make([]byte, len(pt))
	cipher.NewCBCEncrypter(block, key[:16]).CryptBlocks(ct, pt)
	return base64.StdEncoding.EncodeToString(ct)
}

// testDecryptRaw returns the whole padded plaintext of an Encrypt value.
func testDecryptRaw(t testing.TB, encodingAESKey, encrypted string) []byte {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	require.NoError(t, err)
	ct, err := base64.StdEncoding.DecodeString(encrypted)
	require.NoError(t, err)
	block, err := aes.NewCipher(key)
	require.NoError(t, err)
	pt := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, key[:16]).CryptBlocks(pt, ct)
	return pt
}

func readGolden(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, v))
}
