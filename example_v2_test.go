package midas_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/gomidas/midas"
	"github.com/gomidas/midas/midastest"
)

// A 2.0 client: one config line, Version: midas.V2, with the game's 2.0
// OfferId and the AppKey of its Env. NewClient checks every setting and
// names each one missing or invalid at once.
func ExampleNewClient_v2() {
	c, err := midas.NewClient(midas.Config{
		AppID:       "wx1234567",
		OfferID:     "1450000001",                       // the 2.0 OfferId (支付应用ID)
		AppKey:      "zNLgAGgqsEWJOg1nFVaO5r7fAlIQxr1u", // the 2.0 AppKey of Env: each Env has its own
		Env:         midas.Sandbox,
		Version:     midas.V2, // a game that opened payment on or after 2022-11-05
		AccessToken: midas.StaticToken("ACCESSTOKEN"),
	})
	if err != nil {
		log.Fatal(err) // matches midas.ErrInvalidRequest
	}
	fmt.Println(c.Version(), c.Env())
	// Output: 2.0 sandbox
}

// spend takes amount coins from a 2.0 player for the order billNo and says
// what the game should do next. The bill_no was stored with the order
// before the call, so a retry or a settle sends the same one and the coins
// move at most once.
func spend(ctx context.Context, c *midas.Client, openID, sessionKey, billNo string, amount int64) string {
	req := midas.PayRequest{OpenID: openID, SessionKey: sessionKey, BillNo: billNo, Amount: amount}
	resp, err := c.Pay(ctx, req)
	if errors.Is(err, midas.ErrOutcomeUnknown) {
		// First: the coins may have moved, and this error matches no other
		// sentinel. Settle with the same request (it never charges twice);
		// never refund it.
		resp, err = c.SettlePay(ctx, req)
		if err != nil {
			// Still unknown, or refused: a refusal is final only from a
			// settle begun midas.LateLandingWindow after this one.
			return fmt.Sprintf("keep %s open; settle again in %v", billNo, midas.LateLandingWindow)
		}
	}
	var apiErr *midas.APIError
	switch {
	case err == nil && resp.AlreadyProcessed:
		return "deliver: a lost attempt was the one applied"
	case err == nil:
		return fmt.Sprintf("deliver: paid %d, balance %d", amount, resp.Balance)
	case errors.Is(err, midas.ErrInvalidRequest):
		return "fix the request, nothing was sent: " + err.Error()
	case errors.Is(err, midas.ErrInsufficientBalance):
		return "not enough coins: offer a top-up"
	case errors.Is(err, midas.ErrSessionExpired), errors.Is(err, midas.ErrMpSigInvalid):
		return "stale session_key: ask the player to log in again"
	case errors.Is(err, midas.ErrOrderExists):
		return "paid earlier under this bill_no: deliver that order, never charge again"
	case errors.As(err, &apiErr):
		return fmt.Sprintf("refused, errcode %d (%s): the coins did not move", apiErr.Code, apiErr.Meaning())
	default:
		return "failed, the coins did not move (network, HTTP status): " + err.Error()
	}
}

// A 2.0 game's coin spend with every class of error handled: the unknown
// outcome first, settled with the same request, then the refusals.
func Example_v2() {
	const openID, sessionKey = "odkx20ENSNa2w5y3g_qOkOvBNM1g", "V7Q38/i2KXaqrQyl2Yx9Hg=="
	fake := midastest.New(midastest.Config{
		OfferID: "1450000001", AppKey: "productionAppKey", SandboxAppKey: "zNLgAGgqsEWJOg1nFVaO5r7fAlIQxr1u",
		AccessTokens: []string{"ACCESSTOKEN"},
		Players:      []midastest.Player{{OpenID: openID, SessionKey: sessionKey, Balance: 100}},
	})
	c, err := midas.NewClient(midas.Config{
		AppID: "wx1234567", OfferID: "1450000001", AppKey: "zNLgAGgqsEWJOg1nFVaO5r7fAlIQxr1u",
		Env: midas.Sandbox, Version: midas.V2, AccessToken: midas.StaticToken("ACCESSTOKEN"),
	}, append(fake.ClientOptions(), midas.WithMaxRetries(0))...) // in production: no options
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	fmt.Println(spend(ctx, c, openID, sessionKey, "order-0001", 60))
	fmt.Println(spend(ctx, c, openID, sessionKey, "order-0001", 60)) // the same order again
	// The fake takes the coins of the next pay and drops its answer.
	fake.Inject(midastest.Fault{API: midas.APIPay, Drop: true, Applied: true})
	fmt.Println(spend(ctx, c, openID, sessionKey, "order-0002", 30))
	fmt.Println(spend(ctx, c, openID, sessionKey, "order-0003", 500))
	fmt.Println(spend(ctx, c, openID, "", "order-0004", 5))

	// Give 10 of order-0001's 60 coins back: a 2.0 return has its own id,
	// RefundBillNo, its idempotency key; a retry or a settle keeps it.
	ret := midas.CancelPayRequest{OpenID: openID, SessionKey: sessionKey, BillNo: "order-0001",
		RefundBillNo: "order-0001-r1", Amount: 10}
	_, err = c.CancelPay(ctx, ret)
	if errors.Is(err, midas.ErrOutcomeUnknown) {
		_, err = c.SettleCancelPay(ctx, ret) // the same return again, never a new id
	}
	if err != nil {
		log.Fatal(err)
	}
	total, _ := fake.Balance(midas.Sandbox, openID, "")
	fmt.Println("balance after a 10-coin return:", total)
	// Output:
	// deliver: paid 60, balance 40
	// paid earlier under this bill_no: deliver that order, never charge again
	// deliver: a lost attempt was the one applied
	// not enough coins: offer a top-up
	// fix the request, nothing was sent: midas: invalid request: SessionKey: required in virtual payment 2.0 (every API is signed with it)
	// balance after a 10-coin return: 20
}
