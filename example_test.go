package midas_test

import (
	"context"
	"errors"
	"fmt"
	"log"

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
		fmt.Println("outcome unclear: settle with c.SettlePay, or refund:", err)
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
