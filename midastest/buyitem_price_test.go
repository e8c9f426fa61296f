package midastest_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/gomidas/midas"
	"github.com/gomidas/midas/midastest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// An item purchase without a positive unit price is refused before any
// change: no order for queryorderinfo, no push ("paid 0 fen" is a purchase
// no player can make). midas serve's /midastest/buyitem answers it 400.
func TestBuyItemRefusesNonPositivePrice(t *testing.T) {
	srv := pushFake()
	calls := 0
	tgt := midastest.PushTarget{Token: pushToken, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls++
		w.Write([]byte(`{"ErrCode":0,"ErrMsg":"Success"}`))
	})}
	for name, price := range map[string]int64{"missing": 0, "negative": -600} {
		t.Run(name, func(t *testing.T) {
			_, err := srv.BuyItem(context.Background(), midastest.ItemPurchase{OpenID: buyer, OutTradeNo: "NP-" + name,
				ProductID: "gem_pack_60", Quantity: 2, Price: price}, tgt)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "ItemPurchase.Price (the unit price in fen) must be positive")
			_, ok := srv.OrderInfo(midas.Production, "NP-"+name)
			assert.False(t, ok, "no order recorded")

			_, err = srv.BuyItemAsync(context.Background(), midastest.ItemPurchase{OpenID: buyer, ProductID: "p", Price: price}, tgt)
			assert.ErrorContains(t, err, "must be positive")
		})
	}
	assert.Zero(t, calls, "nothing pushed")
	assert.Empty(t, srv.Pushes())

	// The smallest price goes through, and is what the push says was paid.
	res, err := srv.BuyItem(context.Background(), midastest.ItemPurchase{OpenID: buyer, OutTradeNo: "NP-ok",
		ProductID: "gem_pack_60", Quantity: 2, Price: 1}, tgt)
	require.NoError(t, err)
	require.True(t, res.Delivered)
	assert.Contains(t, res.Pushes[0].Payload, `"OrigPrice":2,"ActualPrice":2`)
}
