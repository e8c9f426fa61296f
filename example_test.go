package midas_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/gomidas/midas"
	"github.com/gomidas/midas/midastest"
)

// fakeMidas stands in for api.weixin.qq.com in these examples: a player
// with 100 coins, 20 of them gifted.
func fakeMidas() *midastest.Server {
	return midastest.NewServer(midastest.Config{
		AppID: "wx1234567", OfferID: "12345678", AppKey: "productionAppKey", SandboxAppKey: "zNLgAGgqsEWJOg1nFVaO5r7fAlIQxr1u",
		AccessTokens: []string{"ACCESSTOKEN"},
		Players: []midastest.Player{{
			OpenID: "odkx20ENSNa2w5y3g_qOkOvBNM1g", SessionKey: "V7Q38/i2KXaqrQyl2Yx9Hg==", Balance: 80, GenBalance: 20,
		}},
	})
}

func ExampleNewClient() {
	c, err := midas.NewClient(midas.Config{
		AppID:       "wx1234567",
		OfferID:     "12345678",
		AppKey:      "zNLgAGgqsEWJOg1nFVaO5r7fAlIQxr1u", // the sandbox AppKey: each Env has its own
		Env:         midas.Sandbox,
		AccessToken: midas.StaticToken("ACCESSTOKEN"),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.Env())
	// Output: sandbox
}

func ExampleClient_GetBalance() {
	srv := fakeMidas()
	defer srv.Close()
	c, err := midas.NewClient(midas.Config{
		AppID: "wx1234567", OfferID: "12345678", AppKey: "zNLgAGgqsEWJOg1nFVaO5r7fAlIQxr1u",
		Env: midas.Sandbox, AccessToken: midas.StaticToken("ACCESSTOKEN"),
	}, midas.WithBaseURL(srv.URL))
	if err != nil {
		log.Fatal(err)
	}
	bal, err := c.GetBalance(context.Background(), midas.BalanceRequest{
		OpenID:     "odkx20ENSNa2w5y3g_qOkOvBNM1g",
		SessionKey: "V7Q38/i2KXaqrQyl2Yx9Hg==", // optional; adds mp_sig
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("balance %d, of which gifted %d\n", bal.Balance, bal.GenBalance)
	// Output: balance 100, of which gifted 20
}

func ExampleClient_Pay() {
	srv := fakeMidas()
	defer srv.Close()
	c, err := midas.NewClient(midas.Config{
		AppID: "wx1234567", OfferID: "12345678", AppKey: "zNLgAGgqsEWJOg1nFVaO5r7fAlIQxr1u",
		Env: midas.Sandbox, AccessToken: midas.StaticToken("ACCESSTOKEN"),
	}, midas.WithBaseURL(srv.URL))
	if err != nil {
		log.Fatal(err)
	}
	// The bill_no is chosen once, stored with the order, and reused on every
	// retry: the same bill_no is never deducted twice.
	_, err = c.Pay(context.Background(), midas.PayRequest{
		OpenID: "odkx20ENSNa2w5y3g_qOkOvBNM1g",
		BillNo: "order-20171009-0001",
		Amount: 500,
	})
	var apiErr *midas.APIError
	switch {
	// First: an unknown outcome matches no other error, and the coins may
	// have moved.
	case errors.Is(err, midas.ErrOutcomeUnknown):
		fmt.Println("outcome unclear: settle with c.SettlePay, never refund:", err)
	case errors.Is(err, midas.ErrInsufficientBalance):
		fmt.Println("not enough coins: offer a top-up")
	case errors.As(err, &apiErr):
		fmt.Println("refused:", apiErr.Code, apiErr.Message)
	case err != nil:
		fmt.Println("not sent:", err)
	default:
		fmt.Println("paid")
	}
	// Output: not enough coins: offer a top-up
}

func ExampleBuyQuantityAccepted() {
	// A coin costs 0.1 yuan (10 fen): 10 coins make the 1-yuan tier, 11 no tier.
	fmt.Println(midas.BuyQuantityAccepted(10, 10), midas.BuyQuantityAccepted(11, 10))
	// A coin of 1 yuan: the smallest quantities the front end accepts.
	fmt.Println(midas.BuyQuantities(100)[:4])
	// Output:
	// true false
	// [1 3 6 8]
}

// The same Pay on virtual payment 2.0: one config line, Version: midas.V2,
// with the game's 2.0 OfferId and the AppKey of its env. Every 2.0 call is
// also signed with the player's session_key, so SessionKey is required.
func ExampleClient_Pay_v2() {
	srv := fakeMidas()
	defer srv.Close()
	c, err := midas.NewClient(midas.Config{
		AppID: "wx1234567", OfferID: "12345678", AppKey: "zNLgAGgqsEWJOg1nFVaO5r7fAlIQxr1u",
		Env: midas.Sandbox, Version: midas.V2, AccessToken: midas.StaticToken("ACCESSTOKEN"),
	}, midas.WithBaseURL(srv.URL))
	if err != nil {
		log.Fatal(err)
	}
	// 2.0 bill_no: up to 63 of [0-9A-Za-z_-], not starting with '_'.
	_, err = c.Pay(context.Background(), midas.PayRequest{
		OpenID:     "odkx20ENSNa2w5y3g_qOkOvBNM1g",
		SessionKey: "V7Q38/i2KXaqrQyl2Yx9Hg==",
		BillNo:     "order-20171009-0001",
		Amount:     500,
	})
	switch {
	// First: an unknown outcome matches no other error, and the coins may have moved.
	case errors.Is(err, midas.ErrOutcomeUnknown):
		fmt.Println("outcome unclear: settle with c.SettlePay, never refund:", err)
	case errors.Is(err, midas.ErrInsufficientBalance):
		fmt.Println("not enough coins: offer a top-up")
	case err != nil:
		fmt.Println("failed:", err)
	default:
		fmt.Println("paid")
	}
	// Output: not enough coins: offer a top-up
}

// QueryOrder is the backstop for a lost delivery push: it asks for the
// state of the order the game client paid, by its out_trade_no.
func ExampleClient_QueryOrder() {
	srv := fakeMidas()
	defer srv.Close()
	// In the fake, an item purchase the player made with
	// wx.requestMidasPaymentGameItem.
	srv.AddOrderInfo(midas.Sandbox, midastest.OrderInfo{
		OpenID: "odkx20ENSNa2w5y3g_qOkOvBNM1g", OutTradeNo: "GO20240101000001", BizID: midastest.BizItem,
		ProductID: "gem_pack_60", Paid: true, PaidAt: time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC),
	})
	c, err := midas.NewClient(midas.Config{
		AppID: "wx1234567", OfferID: "12345678", AppKey: "zNLgAGgqsEWJOg1nFVaO5r7fAlIQxr1u",
		Env: midas.Sandbox, Version: midas.V2, AccessToken: midas.StaticToken("ACCESSTOKEN"),
	}, midas.WithBaseURL(srv.URL))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	for _, outTradeNo := range []string{"GO20240101000001", "GO20240101000002"} {
		o, err := c.QueryOrder(ctx, midas.QueryOrderRequest{
			OpenID:     "odkx20ENSNa2w5y3g_qOkOvBNM1g",
			SessionKey: "V7Q38/i2KXaqrQyl2Yx9Hg==",
			OutTradeNo: outTradeNo,
			Kind:       midas.ItemOrder,
		})
		switch {
		case errors.Is(err, midas.ErrOrderNotFound):
			fmt.Println(outTradeNo, "not found (yet): poll again later")
		case err != nil:
			fmt.Println(outTradeNo, "failed:", err)
		case o.Paid && !o.Delivered:
			fmt.Println(o.OutTradeNo, "paid at", o.PaidAt.UTC().Format(time.RFC3339), "but not delivered: deliver", o.ProductID)
		default:
			fmt.Println(o.OutTradeNo, "paid:", o.Paid, "delivered:", o.Delivered)
		}
	}
	// Output:
	// GO20240101000001 paid at 2024-01-01T12:00:00Z but not delivered: deliver gem_pack_60
	// GO20240101000002 not found (yet): poll again later
}

// SignGameItem builds the signed order the game client passes to
// wx.requestMidasPaymentGameItem. With the signature page's placeholder
// AppKey and session_key, and the item page's own order, it gives the
// spec's Vector 5.
func ExampleClient_SignGameItem() {
	c, err := midas.NewClient(midas.Config{
		AppID: "wx1234567", OfferID: "123", AppKey: "12345", // the AppKey of Env (here production)
		Env: midas.Production, Version: midas.V2, AccessToken: midas.StaticToken("ACCESSTOKEN"),
	})
	if err != nil {
		log.Fatal(err)
	}
	p, err := c.SignGameItem(midas.GameItemRequest{
		SessionKey: "9hAb/NEYUlkaMBEsmFgzig==",
		ProductID:  "testproductId",
		Quantity:   1,
		Price:      10, // fen, as configured for the item
		OutTradeNo: "xxxxxx",
		Attach:     "testdata",
	})
	if err != nil {
		log.Fatal(err)
	}
	// Hand signData to the client as the string it is, not as an object.
	fmt.Println("signData: ", p.SignData)
	fmt.Println("paySig:   ", p.PaySig)
	fmt.Println("signature:", p.Signature)
	// Output:
	// signData:  {"mode":"goods","offerId":"123","buyQuantity":1,"env":0,"currencyType":"CNY","platform":"android","zoneId":"1","productId":"testproductId","goodsPrice":10,"outTradeNo":"xxxxxx","attach":"testdata"}
	// paySig:    309fa3ae45ac82ed892eec950721558316d23b009c6b479d40d5f949bd5030eb
	// signature: 2aa917c33e119f0e9278f31555a893c9312720ff171f775c2e1b26c09e7d4424
}
