package midas

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type gameItemVector struct {
	Name       string `json:"name"`
	OfferID    string `json:"offer_id"`
	Env        Env    `json:"env"`
	AppKey     string `json:"app_key"`
	SessionKey string `json:"session_key"`
	ProductID  string `json:"product_id"`
	Quantity   int64  `json:"quantity"`
	Price      int64  `json:"price"`
	OutTradeNo string `json:"out_trade_no"`
	ZoneID     string `json:"zone_id"`
	Attach     string `json:"attach"`
	SignData   string `json:"sign_data"`
	PaySig     string `json:"pay_sig"`
	Signature  string `json:"signature"`
}

func v2Client(t *testing.T, offerID, appKey string, env Env) *Client {
	t.Helper()
	c, err := NewClient(Config{AppID: testAppID, OfferID: offerID, AppKey: appKey, Env: env, Version: V2, AccessToken: StaticToken(testToken)})
	require.NoError(t, err)
	return c
}

// Vectors 5 and 6 of the spec: the signData string byte for byte, paySig and
// signature.
func TestSignGameItemVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/game_item_vectors.json")
	require.NoError(t, err)
	var vectors []gameItemVector
	require.NoError(t, json.Unmarshal(raw, &vectors))
	require.Len(t, vectors, 2)
	for _, v := range vectors {
		c := v2Client(t, v.OfferID, v.AppKey, v.Env)
		p, err := c.SignGameItem(GameItemRequest{SessionKey: v.SessionKey, ProductID: v.ProductID, Quantity: v.Quantity,
			Price: v.Price, OutTradeNo: v.OutTradeNo, ZoneID: v.ZoneID, Attach: v.Attach})
		require.NoError(t, err, v.Name)
		assert.Equal(t, v.SignData, p.SignData, v.Name)
		assert.Equal(t, v.PaySig, p.PaySig, v.Name)
		assert.Equal(t, v.Signature, p.Signature, v.Name)
		assert.Equal(t, v.PaySig, PaySig("requestMidasPaymentGameItem", []byte(v.SignData), v.AppKey), v.Name)
		assert.Equal(t, v.Signature, SessionSig([]byte(v.SignData), v.SessionKey), v.Name)

		out, err := json.Marshal(p)
		require.NoError(t, err)
		var keys map[string]string
		require.NoError(t, json.Unmarshal(out, &keys))
		assert.Equal(t, map[string]string{"signData": v.SignData, "paySig": v.PaySig, "signature": v.Signature}, keys,
			"what the front end passes to wx.requestMidasPaymentGameItem")
	}
}

func TestSignGameItemValidates(t *testing.T) {
	c := v2Client(t, "123", "12345", Production)
	good := GameItemRequest{SessionKey: "9hAb/NEYUlkaMBEsmFgzig==", ProductID: "p", Quantity: 1, Price: 10, OutTradeNo: "o1"}
	_, err := c.SignGameItem(good)
	require.NoError(t, err)
	bad := map[string]func(r *GameItemRequest){
		"SessionKey": func(r *GameItemRequest) { r.SessionKey = "" },
		"ProductID":  func(r *GameItemRequest) { r.ProductID = "" },
		"Quantity":   func(r *GameItemRequest) { r.Quantity = 0 },
		"Price":      func(r *GameItemRequest) { r.Price = -1 },
		"OutTradeNo": func(r *GameItemRequest) { r.OutTradeNo = "_platform" },
		"Attach":     func(r *GameItemRequest) { r.Attach = strings.Repeat("a", MaxAttachLen+1) },
		"ZoneID":     func(r *GameItemRequest) { r.ZoneID = "1\n" },
	}
	for field, breakIt := range bad {
		r := good
		breakIt(&r)
		_, err := c.SignGameItem(r)
		assert.ErrorIs(t, err, ErrInvalidRequest, field)
		assert.Contains(t, err.Error(), field)
	}
	r := good
	r.OutTradeNo = strings.Repeat("a", 33)
	_, err = c.SignGameItem(r)
	assert.ErrorIs(t, err, ErrInvalidRequest, "at most 32")
	r.OutTradeNo = "a|b*c@d-e_f"
	_, err = c.SignGameItem(r)
	assert.NoError(t, err, "the union of the pages' charsets")

	v1c, err := NewClient(testConfig(Production))
	require.NoError(t, err)
	_, err = v1c.SignGameItem(good)
	assert.ErrorIs(t, err, ErrInvalidRequest, "2.0 only")
}

// The secrets guarantee: "json.Marshal of Config or any request, and slog.NewJSONHandler
// logging ... a request ... must not contain the AppKey, AppSecret,
// session_key or access_token." GameItemRequest carries the
// buyer's SessionKey but has none of the Format / MarshalJSON / LogValue
// methods the other request types get in redact.go.
func TestGameItemRequestHidesSessionKey(t *testing.T) {
	r := GameItemRequest{SessionKey: testSessionKey, ProductID: "gem", Quantity: 1, Price: 600, OutTradeNo: "o1"}
	check := func(how, out string) {
		t.Helper()
		if strings.Contains(out, testSessionKey) {
			t.Errorf("%s shows the session_key: %s", how, out)
		}
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		check(verb, fmt.Sprintf(verb, r))
		check(verb+" of a pointer", fmt.Sprintf(verb, &r))
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	check("json.Marshal", string(b))
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("order", "req", r)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("order", "req", r)
	check("slog", buf.String())
}
