package shop

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

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
	return buyItem(t, shop, orderID, "sword")
}

func TestBuyDeliversAndChargesOnce(t *testing.T) {
	shop, fake := newShop(t)
	code, resp := buy(t, shop, "order-1")
	assert.Equal(t, http.StatusOK, code)
	require.NotNil(t, resp.Balance)
	assert.Equal(t, int64(40), *resp.Balance)
	assert.Equal(t, "delivered", resp.Status)

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

// An attempt of the pay lands after the shop's first settle was refused
// 90013: the shop keeps the order open through the late-landing window, and
// its next settle finds the charge and delivers. No coins are lost, and the
// order is never refunded.
func TestBuyWhenThePayLandsLate(t *testing.T) {
	shop, fake := newShop(t)
	now := time.Unix(1_700_000_000, 0)
	shop.Now = func() time.Time { return now }
	shop.Prices["shield"] = 150 // more than the 100 coins player1 holds

	fake.Inject(midastest.Fault{API: midas.APIPay, Times: 1 + midas.DefaultMaxRetries, ApplyAfter: 50 * time.Millisecond})
	code, resp := buyItem(t, shop, "order-late", "shield")
	assert.Equal(t, http.StatusAccepted, code)
	assert.Equal(t, "pending", resp.Status)

	// Within the window a settle's 90013 leaves the order pending.
	code, resp = buyItem(t, shop, "order-late", "shield")
	assert.Equal(t, http.StatusAccepted, code)
	assert.Equal(t, "pending", resp.Status, "a refusal within the window is not final")

	// The player tops up, and the held pay lands.
	fake.TopUp(midas.Sandbox, "player1", "", 100)
	require.Eventually(t, func() bool { return fake.Pending() == 0 }, 5*time.Second, time.Millisecond)

	now = now.Add(midas.LateLandingWindow)
	code, resp = buyItem(t, shop, "order-late", "shield")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "delivered", resp.Status)
	assert.Nil(t, resp.Balance, "the settle's 90012 carried no balance: none is shown")
	total, _ := fake.Balance(midas.Sandbox, "player1", "")
	assert.Equal(t, int64(200-150), total, "charged once, delivered")
}

// A refusal from a settle after the window is final.
func TestBuyRefusedAfterTheWindow(t *testing.T) {
	shop, fake := newShop(t)
	now := time.Unix(1_700_000_000, 0)
	shop.Now = func() time.Time { return now }
	shop.Prices["shield"] = 150
	fake.Inject(midastest.Fault{API: midas.APIPay, Times: 1 + midas.DefaultMaxRetries, Errcode: -1})
	code, _ := buyItem(t, shop, "order-poor", "shield")
	require.Equal(t, http.StatusAccepted, code)
	now = now.Add(midas.LateLandingWindow)
	code, resp := buyItem(t, shop, "order-poor", "shield")
	assert.Equal(t, http.StatusPaymentRequired, code)
	assert.Equal(t, "insufficient_balance", resp.Status)
}

func buyItem(t *testing.T, shop *Shop, orderID, item string) (int, BuyResponse) {
	t.Helper()
	body := `{"openid":"player1","session_key":"V7Q38/i2KXaqrQyl2Yx9Hg==","order_id":"` + orderID + `","item":"` + item + `"}`
	rec := httptest.NewRecorder()
	shop.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/buy", strings.NewReader(body)))
	var resp BuyResponse
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &resp))
	return rec.Code, resp
}
