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

// The published 1.0 worked example (getbalance): sig covers the body fields,
// the path and the AppKey.
func ExampleSig() {
	params := map[string]string{
		"openid":   "odkx20ENSNa2w5y3g_qOkOvBNM1g",
		"appid":    "wx1234567",
		"offer_id": "12345678",
		"ts":       "1507530737", // numbers in plain decimal
		"zone_id":  "1",
		"pf":       "android",
	}
	fmt.Println(midas.Sig(params, "/cgi-bin/midas/getbalance", "zNLgAGgqsEWJOg1nFVaO5r7fAlIQxr1u"))
	// Output: 1ad64e8dcb2ec1dc486b7fdf01f4a15159fc623dc3422470e51cf6870734726b
}

// mp_sig covers the same fields plus access_token and sig, keyed with the
// player's session_key: add both to the parameters before signing.
func ExampleMpSig() {
	const orgLoc = "/cgi-bin/midas/getbalance"
	params := map[string]string{
		"openid":   "odkx20ENSNa2w5y3g_qOkOvBNM1g",
		"appid":    "wx1234567",
		"offer_id": "12345678",
		"ts":       "1507530737",
		"zone_id":  "1",
		"pf":       "android",
	}
	params["sig"] = midas.Sig(params, orgLoc, "zNLgAGgqsEWJOg1nFVaO5r7fAlIQxr1u")
	params["access_token"] = "ACCESSTOKEN"
	fmt.Println(midas.MpSig(params, orgLoc, "V7Q38/i2KXaqrQyl2Yx9Hg=="))
	// Output: ff4c5bb39dea1002a8f03be0438724e1a8bcea5ebce8f221f9b9fea3bcf3bf76
}

// The official 2.0 getbalance example: 2.0 signs the exact body bytes, so
// the spaces of this body are part of what is signed.
func ExamplePaySig() {
	body := []byte(`{"offer_id": "12345678", "openid": "oUrsfxxxxxxxxxx", "ts": 1668136271, "zone_id": "1", "env": 0}`)
	fmt.Println("pay_sig:  ", midas.PaySig("/wxa/game/getbalance", body, "12345"))
	fmt.Println("signature:", midas.SessionSig(body, "9hAb/NEYUlkaMBEsmFgzig=="))
	// Output:
	// pay_sig:   11bac6388871d29c055c7d16fbe42e8d646855b666faf89b15c815218b1b23bd
	// signature: 42fe1d3341fb1c8bd6f5014ba735ab04eacc80a2deb3ab4669eab4700b5b6729
}

// Names and keys of the fake Midas these examples call on loopback.
const (
	exAppID      = "wx1234567"
	exOfferID    = "12345678"
	exSandboxKey = "zNLgAGgqsEWJOg1nFVaO5r7fAlIQxr1u"
	exAppSecret  = "example-app-secret"
	exOpenID     = "odkx20ENSNa2w5y3g_qOkOvBNM1g"
	exSessionKey = "V7Q38/i2KXaqrQyl2Yx9Hg=="
)

// exampleFake starts a fake Midas with one player holding 100 coins, and a
// client of its sandbox.
func exampleFake(opts ...midas.Option) (*midastest.Server, *midas.Client) {
	srv := midastest.NewServer(midastest.Config{
		AppID: exAppID, OfferID: exOfferID, AppKey: "examplesProductionAppKey", SandboxAppKey: exSandboxKey,
		AccessTokens: []string{"ACCESSTOKEN"}, AppSecret: exAppSecret,
		Players: []midastest.Player{{OpenID: exOpenID, SessionKey: exSessionKey, Balance: 100}},
	})
	c, err := midas.NewClient(midas.Config{
		AppID: exAppID, OfferID: exOfferID, AppKey: exSandboxKey, Env: midas.Sandbox,
		AccessToken: midas.StaticToken("ACCESSTOKEN"),
	}, append([]midas.Option{midas.WithBaseURL(srv.URL)}, opts...)...)
	if err != nil {
		log.Fatal(err)
	}
	return srv, c
}

// A pay whose answer was lost is settled with the same request: the
// deduction happens once, however many times it is sent.
func ExampleClient_SettlePay() {
	srv, c := exampleFake(midas.WithMaxRetries(0))
	defer srv.Close()
	// The fake applies the next pay, then drops the connection unanswered.
	srv.Inject(midastest.Fault{API: midas.APIPay, Drop: true, Applied: true})

	ctx := context.Background()
	req := midas.PayRequest{OpenID: exOpenID, BillNo: "order-20240101-0001", Amount: 30}
	resp, err := c.Pay(ctx, req)
	var apiErr *midas.APIError
	switch {
	case errors.Is(err, midas.ErrOutcomeUnknown):
		// First: the coins may have moved, so this must never read as a refusal.
		fmt.Println("outcome unknown: settling")
		settleCtx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		resp, err = c.SettlePay(settleCtx, req)
	case errors.As(err, &apiErr):
		fmt.Println("refused:", apiErr.Code)
		return
	case err != nil:
		fmt.Println("not paid:", err)
		return
	}
	switch {
	case errors.Is(err, midas.ErrOutcomeUnknown):
		// Still unclear (ctx ended): keep the order pending and settle later.
		fmt.Println("still unknown")
	case err != nil:
		fmt.Println("not paid:", err)
	default:
		fmt.Println("paid once; the lost attempt was the one applied:", resp.AlreadyProcessed)
	}
	total, _ := srv.Balance(midas.Sandbox, exOpenID, "")
	fmt.Println("balance:", total)
	// Output:
	// outcome unknown: settling
	// paid once; the lost attempt was the one applied: true
	// balance: 70
}

// CancelPay refunds a pay by its bill_no, for example when the item could
// not be delivered.
func ExampleClient_CancelPay() {
	srv, c := exampleFake()
	defer srv.Close()
	ctx := context.Background()
	pay := midas.PayRequest{OpenID: exOpenID, BillNo: "order-0002", Amount: 40}
	paid, err := c.Pay(ctx, pay)
	if errors.Is(err, midas.ErrOutcomeUnknown) {
		// First: the coins may have moved. Settle with the same request.
		paid, err = c.SettlePay(ctx, pay)
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("paid, balance", paid.Balance)

	ret := midas.CancelPayRequest{OpenID: exOpenID, BillNo: "order-0002"}
	refund, err := c.CancelPay(ctx, ret)
	if errors.Is(err, midas.ErrOutcomeUnknown) {
		// First: the refund may have happened. Settle with the same request.
		refund, err = c.SettleCancelPay(ctx, ret)
	}
	if err != nil {
		log.Fatal(err)
	}
	bal, err := c.GetBalance(ctx, midas.BalanceRequest{OpenID: exOpenID})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("refunded", refund.BillNo+", balance", bal.Balance)
	// Output:
	// paid, balance 60
	// refunded order-0002, balance 100
}

// Present gifts coins, for example a reward. Gifted coins are spent first by
// later pays.
func ExampleClient_Present() {
	srv, c := exampleFake()
	defer srv.Close()
	ctx := context.Background()
	reward := midas.PresentRequest{OpenID: exOpenID, BillNo: "reward-0001", Count: 15}
	gift, err := c.Present(ctx, reward)
	if errors.Is(err, midas.ErrOutcomeUnknown) {
		// First: the coins may have been gifted. Settle with the same request.
		gift, err = c.SettlePresent(ctx, reward)
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("balance", gift.Balance)

	req := midas.PayRequest{OpenID: exOpenID, BillNo: "order-0003", Amount: 20}
	pay, err := c.Pay(ctx, req)
	if errors.Is(err, midas.ErrOutcomeUnknown) {
		pay, err = c.SettlePay(ctx, req) // the coins may have moved: settle, never refund
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("paid 20, of them gifted:", pay.UsedGenAmount)
	// Output:
	// balance 115
	// paid 20, of them gifted: 15
}

// A StableTokenSource gets the access_token from /cgi-bin/stable_token and
// caches it; every server of a game can run one.
func ExampleNewStableTokenSource() {
	srv, _ := exampleFake()
	defer srv.Close()
	tokens, err := midas.NewStableTokenSource(exAppID, exAppSecret, midas.WithBaseURL(srv.URL))
	if err != nil {
		log.Fatal(err)
	}
	c, err := midas.NewClient(midas.Config{
		AppID: exAppID, OfferID: exOfferID, AppKey: exSandboxKey, Env: midas.Sandbox,
		AccessToken: tokens,
	}, midas.WithBaseURL(srv.URL))
	if err != nil {
		log.Fatal(err)
	}
	bal, err := c.GetBalance(context.Background(), midas.BalanceRequest{OpenID: exOpenID})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("balance", bal.Balance)
	calls, _ := srv.StableTokenCalls()
	fmt.Println("stable_token calls:", calls)
	// Output:
	// balance 100
	// stable_token calls: 1
}
