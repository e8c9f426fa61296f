package midas_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gomidas/midas"
	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The 2.0 signing vectors of testdata/v2_vectors.json, byte for byte:
// through the public signers and through the Client, first attempt and retry.

type v2Vector struct {
	Name       string `json:"name"`
	URI        string `json:"uri"`
	Body       string `json:"body"`
	AppKey     string `json:"app_key"`
	SessionKey string `json:"session_key"`
	PaySig     string `json:"pay_sig"`
	Signature  string `json:"signature"`
	Compact    bool   `json:"compact"`
	TS         int64  `json:"ts"`
}

func loadV2Vectors(t *testing.T) []v2Vector {
	t.Helper()
	data, err := os.ReadFile("testdata/v2_vectors.json")
	require.NoError(t, err)
	var vs []v2Vector
	require.NoError(t, json.Unmarshal(data, &vs))
	require.Len(t, vs, 4, "Vectors 1-4")
	return vs
}

func v2VectorNamed(t *testing.T, prefix string) v2Vector {
	t.Helper()
	for _, v := range loadV2Vectors(t) {
		if strings.HasPrefix(v.Name, prefix) {
			return v
		}
	}
	t.Fatalf("no vector %q", prefix)
	return v2Vector{}
}

// v2RefHMAC is hex HMAC-SHA256 from crypto/hmac, sharing no code with the
// package's signer.
func v2RefHMAC(key string, msg ...[]byte) string {
	m := hmac.New(sha256.New, []byte(key))
	for _, p := range msg {
		m.Write(p)
	}
	return hex.EncodeToString(m.Sum(nil))
}

func TestV2VectorsSigners(t *testing.T) {
	for _, v := range loadV2Vectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			body := []byte(v.Body)
			assert.False(t, bytes.HasSuffix(body, []byte("\n")), "vector bodies have no trailing newline")
			assert.Equal(t, v.PaySig, midas.PaySig(v.URI, body, v.AppKey), "PaySig")
			assert.Equal(t, v.Signature, midas.SessionSig(body, v.SessionKey), "SessionSig")
			// The golden values themselves, recomputed independently.
			assert.Equal(t, v.PaySig, v2RefHMAC(v.AppKey, []byte(v.URI+"&"), body))
			assert.Equal(t, v.Signature, v2RefHMAC(v.SessionKey, body))
		})
	}
	v1, v2 := v2VectorNamed(t, "Vector 1"), v2VectorNamed(t, "Vector 2")
	assert.Len(t, v1.Body, 97)
	assert.Len(t, v2.Body, 88)
	assert.NotEqual(t, midas.PaySig(v1.URI, []byte(v1.Body), v1.AppKey), midas.PaySig(v2.URI, []byte(v2.Body), v2.AppKey), "whitespace counts")
}

// The compact vectors, byte for byte, through the Client with a fixed clock.
func TestV2VectorsThroughClient(t *testing.T) {
	cases := []struct {
		vector string
		answer string
		call   func(c *midas.Client) error
	}{
		{"Vector 2", `{"errcode":0,"errmsg":"ok","balance":11,"present_balance":1,"sum_save":10,"sum_present":1,"sum_balance":11,"sum_cost":0,"first_save":false}`,
			func(c *midas.Client) error {
				_, err := c.GetBalance(v2bg, midas.BalanceRequest{OpenID: v2VecOpenID, SessionKey: v2VecSessionKey})
				return err
			}},
		{"Vector 3", `{"errcode":0,"errmsg":"ok","bill_no":"test_pay_1668512428","balance":10,"used_present_amount":1}`,
			func(c *midas.Client) error {
				_, err := c.Pay(v2bg, midas.PayRequest{OpenID: v2VecOpenID, SessionKey: v2VecSessionKey, UserIP: "127.0.0.1", Amount: 1, BillNo: "test_pay_1668512428"})
				return err
			}},
		{"Vector 4", `{"errcode":0,"errmsg":"ok","out_trade_no":"test_queryorderinfo_1668512806","product_id":"p1","pay_state":2,"deliver_state":2,"pay_finish_time":1668512900}`,
			func(c *midas.Client) error {
				_, err := c.QueryOrder(v2bg, midas.QueryOrderRequest{OpenID: v2VecOpenID, SessionKey: v2VecSessionKey, OutTradeNo: "test_queryorderinfo_1668512806", Kind: midas.ItemOrder})
				return err
			}},
	}
	for _, tc := range cases {
		t.Run(tc.vector, func(t *testing.T) {
			v := v2VectorNamed(t, tc.vector)
			require.True(t, v.Compact)
			c, m := newV2Mock(t, v2VecConfig(midas.Production, midas.V2), v2Answer(tc.answer), midas.WithClock(func() time.Time { return time.Unix(v.TS, 0) }))
			require.NoError(t, tc.call(c))
			got := m.exchanges()
			require.Len(t, got, 1)
			ex := got[0]
			assert.Equal(t, http.MethodPost, ex.Method)
			assert.Equal(t, v.URI, ex.Path, "path /wxa/game/...")
			assert.Equal(t, "application/json", ex.ContentType)
			assert.Equal(t, v.Body, string(ex.Body), "body byte for byte")
			assert.False(t, bytes.HasSuffix(ex.Body, []byte("\n")), "no trailing newline")
			assert.Equal(t, v.PaySig, ex.Query.Get("pay_sig"), "pay_sig")
			assert.Equal(t, v.Signature, ex.Query.Get("signature"), "signature")
			assert.Equal(t, "hmac_sha256", ex.Query.Get("sig_method"))
			assert.Equal(t, v2Token, ex.Query.Get("access_token"))
			var keys []string
			for k, vs := range ex.Query {
				assert.Len(t, vs, 1, "query %s once", k)
				keys = append(keys, k)
			}
			sort.Strings(keys)
			assert.Equal(t, []string{"access_token", "pay_sig", "sig_method", "signature"}, keys, "exactly the four query parameters")
		})
	}
}

// A retry is framed anew: fresh ts, fresh pay_sig and signature over the new
// bytes, same bill_no.
func TestV2VectorRetryResignsWithFreshTS(t *testing.T) {
	v := v2VectorNamed(t, "Vector 3")
	answer := func(n int, _ v2Exchange) (*http.Response, error) {
		if n == 0 {
			return httpmock.NewStringResponse(http.StatusOK, `{"errcode":-1,"errmsg":"system busy"}`), nil
		}
		return httpmock.NewStringResponse(http.StatusOK, `{"errcode":0,"errmsg":"ok","bill_no":"test_pay_1668512428","balance":10,"used_present_amount":1}`), nil
	}
	c, m := newV2Mock(t, v2VecConfig(midas.Production, midas.V2), answer, midas.WithClock(clockFrom(v.TS)))
	resp, err := c.Pay(v2bg, midas.PayRequest{OpenID: v2VecOpenID, SessionKey: v2VecSessionKey, UserIP: "127.0.0.1", Amount: 1, BillNo: "test_pay_1668512428"})
	require.NoError(t, err)
	assert.False(t, resp.AlreadyProcessed)
	got := m.exchanges()
	require.Len(t, got, 2)
	assert.Equal(t, v.Body, string(got[0].Body), "first attempt is the vector")
	assert.Equal(t, v.PaySig, got[0].Query.Get("pay_sig"))

	wantRetry := strings.Replace(v.Body, `"ts":`+strconv.FormatInt(v.TS, 10), `"ts":`+strconv.FormatInt(v.TS+1, 10), 1)
	assert.Equal(t, wantRetry, string(got[1].Body), "retry: same bytes but a fresh ts")
	assert.Equal(t, got[0].fields(t)["bill_no"], got[1].fields(t)["bill_no"], "same bill_no")
	assert.Equal(t, midas.PaySig(v.URI, got[1].Body, v.AppKey), got[1].Query.Get("pay_sig"), "retry's pay_sig covers its own bytes")
	assert.Equal(t, midas.SessionSig(got[1].Body, v.SessionKey), got[1].Query.Get("signature"), "retry's signature covers its own bytes")
	assert.NotEqual(t, got[0].Query.Get("pay_sig"), got[1].Query.Get("pay_sig"))
	assert.NotEqual(t, got[0].Query.Get("signature"), got[1].Query.Get("signature"))
}

func TestPaySigOfficialVector(t *testing.T) {
	body := []byte(`{"offer_id": "12345678", "openid": "oUrsfxxxxxxxxxx", "ts": 1668136271, "zone_id": "1", "env": 0}`)
	assert.Equal(t, "11bac6388871d29c055c7d16fbe42e8d646855b666faf89b15c815218b1b23bd", midas.PaySig("/wxa/game/getbalance", body, "12345"))
	assert.Equal(t, "42fe1d3341fb1c8bd6f5014ba735ab04eacc80a2deb3ab4669eab4700b5b6729", midas.SessionSig(body, "9hAb/NEYUlkaMBEsmFgzig=="))
}
