package push_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"testing"
	"time"

	"github.com/gomidas/midas/push"
)

// BenchmarkPushHandler measures the handler on one verified item delivery,
// plain and secure, beside its floor ("-bare"): a handler written for this
// one push that does the same SHA1, AES and HMAC work and decodes each JSON
// document once with encoding/json, with none of the package's checks,
// options or logging. Both are called directly (no network), with a
// delivery function that only counts.
func BenchmarkPushHandler(b *testing.B) {
	for _, secure := range []bool{false, true} {
		name := "plain"
		if secure {
			name = "secure"
		}
		b.Run(name, func(b *testing.B) {
			var n int
			h, err := push.NewHandler(testConfig(secure), push.Handlers{
				ItemDelivered: func(_ context.Context, d *push.ItemDelivery) error {
					if d.Quantity == 60 {
						n++
					}
					return nil
				},
			})
			if err != nil {
				b.Fatal(err)
			}
			runPushBench(b, h, secure, &n)
		})
		b.Run(name+"-bare", func(b *testing.B) {
			var n int
			h := bareHandler(secure, func(d *bareItem) {
				if d.GoodsInfo.Quantity == 60 {
					n++
				}
			})
			runPushBench(b, h, secure, &n)
		})
	}
}

// runPushBench posts the same push b.N times to h and checks every one was
// delivered and answered 200.
func runPushBench(b *testing.B, h http.Handler, secure bool, delivered *int) {
	body, q := benchPush(secure)
	r := httptest.NewRequest(http.MethodPost, "/wechat/push?"+q.Encode(), nil)
	rb := &reusedBody{}
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rb.Reset(body)
		r.Body, r.ContentLength = rb, int64(len(body))
		w.code = 0
		h.ServeHTTP(w, r)
		if w.code != 0 && w.code != http.StatusOK {
			b.Fatalf("answered %d", w.code)
		}
	}
	b.StopTimer()
	if *delivered != b.N {
		b.Fatalf("%d of %d pushes delivered", *delivered, b.N)
	}
}

// benchPush is a signed item delivery's body and query, as WeChat sends it.
func benchPush(secure bool) ([]byte, url.Values) {
	payload := itemPayload("order-20261121-000123456", 0)
	body := signed(push.EventGamePayGoodsDeliver, payload, testAppKey)
	q := url.Values{
		"timestamp": {testTimestamp},
		"nonce":     {testNonce},
		"signature": {push.URLSignature(testToken, testTimestamp, testNonce)},
	}
	if secure {
		enc := testEncrypt(testAESKey, testAppID, body, bytes.Repeat([]byte{7}, 16))
		q.Set("encrypt_type", "aes")
		q.Set("msg_signature", push.URLSignature(testToken, testTimestamp, testNonce, enc))
		body, _ = json.Marshal(map[string]string{"ToUserName": "gh_97417a04a28d", "Encrypt": enc})
	}
	return body, q
}

// reusedBody is a request body reset for each iteration, so the benchmark
// allocates nothing of its own.
type reusedBody struct{ bytes.Reader }

func (*reusedBody) Close() error { return nil }

// discardWriter is a ResponseWriter that keeps only the status. Like
// net/http's own, it supports read deadlines.
type discardWriter struct {
	h    http.Header
	code int
}

func (*discardWriter) SetReadDeadline(time.Time) error { return nil }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }

// bareItem is the floor's item payload.
type bareItem struct {
	OpenID     string `json:"OpenId"`
	Env        int64
	OutTradeNo string
	GoodsInfo  struct {
		ProductID   string `json:"ProductId"`
		Quantity    int64
		ZoneID      string `json:"ZoneId"`
		OrigPrice   int64
		ActualPrice int64
		Attach      string
		OrderSource int
	}
	WeChatPayInfo struct {
		MchOrderNo    string
		TransactionID string `json:"TransactionId"`
	}
}

// bareHandler is the floor: the URL signature (SHA1), in secure mode the
// msg_signature (SHA1) and the AES-CBC decryption, the PayEventSig
// (HMAC-SHA256), one json.Unmarshal per document.
func bareHandler(secure bool, deliver func(*bareItem)) http.HandlerFunc {
	aesKey, _ := base64.StdEncoding.DecodeString(testAESKey + "=")
	appKey := []byte(testAppKey)
	sha1Hex := func(parts ...string) string {
		sort.Strings(parts)
		h := sha1.New()
		for _, p := range parts {
			io.WriteString(h, p)
		}
		return hex.EncodeToString(h.Sum(nil))
	}
	fail := func(w http.ResponseWriter) { w.WriteHeader(http.StatusBadRequest) }
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		ts, nonce := q.Get("timestamp"), q.Get("nonce")
		if subtle.ConstantTimeCompare([]byte(sha1Hex(testToken, ts, nonce)), []byte(q.Get("signature"))) != 1 {
			fail(w)
			return
		}
		msg, err := io.ReadAll(r.Body)
		if err != nil {
			fail(w)
			return
		}
		if secure {
			var outer struct{ Encrypt string }
			if json.Unmarshal(msg, &outer) != nil ||
				subtle.ConstantTimeCompare([]byte(sha1Hex(testToken, ts, nonce, outer.Encrypt)), []byte(q.Get("msg_signature"))) != 1 {
				fail(w)
				return
			}
			ct, err := base64.StdEncoding.DecodeString(outer.Encrypt)
			if err != nil || len(ct)%aes.BlockSize != 0 {
				fail(w)
				return
			}
			block, _ := aes.NewCipher(aesKey)
			cipher.NewCBCDecrypter(block, aesKey[:aes.BlockSize]).CryptBlocks(ct, ct)
			ct = ct[:len(ct)-int(ct[len(ct)-1])]
			n := int(binary.BigEndian.Uint32(ct[16:20]))
			if string(ct[20+n:]) != testAppID {
				fail(w)
				return
			}
			msg = ct[20 : 20+n]
		}
		var env struct {
			Event    string
			MiniGame struct{ Payload, PayEventSig string }
		}
		if json.Unmarshal(msg, &env) != nil {
			fail(w)
			return
		}
		m := hmac.New(sha256.New, appKey)
		io.WriteString(m, env.Event)
		io.WriteString(m, "&")
		io.WriteString(m, env.MiniGame.Payload)
		if subtle.ConstantTimeCompare([]byte(hex.EncodeToString(m.Sum(nil))), []byte(env.MiniGame.PayEventSig)) != 1 {
			fail(w)
			return
		}
		var item bareItem
		if json.Unmarshal([]byte(env.MiniGame.Payload), &item) != nil {
			fail(w)
			return
		}
		deliver(&item)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ErrCode":0,"ErrMsg":"Success"}`)
	}
}
