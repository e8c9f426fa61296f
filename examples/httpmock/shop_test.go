package shop

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gomidas/midas"
	"github.com/gomidas/midas/midastest"
	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newShop wires the shop to a fake Midas through httpmock: one line plugs the
// fake in, and it checks signatures and keeps balances like the real one.
func newShop(t *testing.T) (*Shop, *midastest.Server) {
	t.Helper()
	fake := midastest.New(midastest.Config{
		AppID: "wx1234567", OfferID: "12345678", AppKey: "prodKey", SandboxAppKey: "sandboxKey",
		AccessTokens: []string{"token"},
		Players:      []midastest.Player{{OpenID: "player1", SessionKey: "V7Q38/i2KXaqrQyl2Yx9Hg==", Balance: 100}},
	})
	httpmock.Activate()
	t.Cleanup(httpmock.DeactivateAndReset)
	httpmock.RegisterNoResponder(fake.Respond)

	// No WithHTTPClient: the client uses http.DefaultTransport, which
	// httpmock.Activate has replaced.
	c, err := midas.NewClient(midas.Config{AppID: "wx1234567", OfferID: "12345678", AppKey: "sandboxKey", Env: midas.Sandbox, AccessToken: midas.StaticToken("token")})
	require.NoError(t, err)
	return &Shop{Midas: c, Prices: map[string]int64{"sword": 60}}, fake
}

func buy(t *testing.T, shop *Shop, orderID string) (int, BuyResponse) {
	t.Helper()
	body := `{"openid":"player1","session_key":"V7Q38/i2KXaqrQyl2Yx9Hg==","order_id":"` + orderID + `","item":"sword"}`
	rec := httptest.NewRecorder()
	shop.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/buy", strings.NewReader(body)))
	var resp BuyResponse
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &resp))
	return rec.Code, resp
}

func TestBuyDeliversAndChargesOnce(t *testing.T) {
	shop, fake := newShop(t)
	code, resp := buy(t, shop, "order-1")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, BuyResponse{Status: "delivered", Balance: 40}, resp)

	// The player taps twice: same order, no second charge.
	code, resp = buy(t, shop, "order-1")
	assert.Equal(t, http.StatusOK, code, "a repeated order is answered as the first time")
	assert.Equal(t, "delivered", resp.Status)
	total, _ := fake.Balance(midas.Sandbox, "player1", "")
	assert.Equal(t, int64(40), total)
}

func TestBuyWithoutEnoughCoins(t *testing.T) {
	shop, _ := newShop(t)
	buy(t, shop, "order-1")
	code, resp := buy(t, shop, "order-2")
	assert.Equal(t, http.StatusPaymentRequired, code)
	assert.Equal(t, "insufficient_balance", resp.Status)
}

// WeChat times out after taking the coins: the client's retry finds the
// order already processed, and the shop delivers.
func TestBuyAfterAnUnclearFailure(t *testing.T) {
	shop, fake := newShop(t)
	fake.Inject(midastest.Fault{API: midas.APIPay, Errcode: -1, Applied: true})
	code, resp := buy(t, shop, "order-1")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "delivered", resp.Status)
	total, _ := fake.Balance(midas.Sandbox, "player1", "")
	assert.Equal(t, int64(40), total, "charged once")

	// Past every retry: the order stays pending rather than lost.
	fake.TopUp(midas.Sandbox, "player1", "", 100)
	fake.Inject(midastest.Fault{API: midas.APIPay, Errcode: -1, Times: 3, Applied: true})
	code, resp = buy(t, shop, "order-2")
	assert.Equal(t, http.StatusAccepted, code)
	assert.Equal(t, "pending", resp.Status)

	// The client retries the pending order: the shop settles it, learns the
	// coins were taken, and delivers, without charging again.
	code, resp = buy(t, shop, "order-2")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "delivered", resp.Status)
	total, _ = fake.Balance(midas.Sandbox, "player1", "")
	assert.Equal(t, int64(80), total, "140 less the one charge of 60")
}
