// Quickstart runs a session of each generation of Midas virtual payment,
// printing each step.
//
//   - 1.0 (/cgi-bin/midas): present, getbalance, pay, cancelpay (the whole
//     payment), getbalance.
//   - 2.0 (/wxa/game, midas.Config{Version: midas.V2}): the same calls, with
//     a partial cancelpay (2.0 gives back part of a payment, under a bill_no
//     of its own), then queryorder for an item order.
//
// With no configuration it runs both offline against the fake Midas server of
// package midastest, started in-process; MIDAS_VERSION=1 or MIDAS_VERSION=2
// runs one of them only. With MIDAS_APPID, MIDAS_OFFER_ID, MIDAS_APPKEY (the
// sandbox key), MIDAS_OPENID and MIDAS_ACCESS_TOKEN or MIDAS_APPSECRET set it
// runs the same steps against the real sandbox, for the generation the game
// is on: MIDAS_VERSION, 1 unless set. MIDAS_SESSION_KEY is optional in 1.0
// and required in 2.0; in 2.0, MIDAS_OUT_TRADE_NO (an item order's
// out_trade_no) adds the queryorder step. With only some of them set it names
// every one still missing, and stops.
//
//	go run ./examples/quickstart
//	MIDAS_VERSION=2 go run ./examples/quickstart
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"time"

	"github.com/gomidas/midas"
	"github.com/gomidas/midas/midastest"
)

func main() {
	if err := run(context.Background(), os.Stdout, os.Getenv); err != nil {
		log.Fatal(err)
	}
}

// session is one generation's run: a client's config and the player it
// plays as.
type session struct {
	cfg        midas.Config
	opts       []midas.Option
	player     string
	sessionKey string
	outTradeNo string // 2.0: an item order for queryorder; "" skips the step
}

func run(ctx context.Context, w io.Writer, getenv func(string) string) error {
	sessions, stop, err := setup(w, getenv)
	if err != nil {
		return err
	}
	defer stop()
	// Bill numbers are chosen once per order and stored with it; a retry or a
	// follow-up reuses them.
	stamp := time.Now().UTC().Format("20060102T150405")
	for _, s := range sessions {
		if err := s.run(ctx, w, stamp); err != nil {
			return fmt.Errorf("virtual payment %s: %w", s.cfg.Version, err)
		}
	}
	return nil
}

// balanceText prints a number the answer carried, and says so when it
// carried none (after AlreadyProcessed), rather than print a 0 that is not
// a balance.
func balanceText(n int64, known bool) string {
	if !known {
		return "not in the answer (call getbalance)"
	}
	return fmt.Sprint(n)
}

func (s session) run(ctx context.Context, w io.Writer, stamp string) error {
	c, err := midas.NewClient(s.cfg, s.opts...)
	if err != nil {
		return err
	}
	v2 := s.cfg.Version == midas.V2
	if v2 {
		fmt.Fprintf(w, "\nvirtual payment 2.0 (%s..., env %d (%s) in the body)\n", midas.V2Path(""), s.cfg.Env, s.cfg.Env)
	} else {
		fmt.Fprintf(w, "\nvirtual payment 1.0 (%s...)\n", midas.V1Path(s.cfg.Env, ""))
	}
	// 2.0 bill_nos: [0-9A-Za-z_-], not starting with '_'. These suit both.
	giftBill, payBill, refundBill := "qs-gift-"+stamp, "qs-pay-"+stamp, "qs-refund-"+stamp
	player, key := s.player, s.sessionKey // key: optional in 1.0 (adds mp_sig), required in 2.0

	gift, err := c.Present(ctx, midas.PresentRequest{OpenID: player, SessionKey: key, BillNo: giftBill, Count: 10})
	if err != nil {
		return fmt.Errorf("present: %w", err)
	}
	fmt.Fprintf(w, "1. present 10 coins (bill_no %s): balance %s\n", gift.BillNo, balanceText(gift.Balance, gift.BalanceKnown))

	bal, err := c.GetBalance(ctx, midas.BalanceRequest{OpenID: player, SessionKey: key})
	if err != nil {
		return fmt.Errorf("getbalance: %w", err)
	}
	fmt.Fprintf(w, "2. getbalance: %d coins, %d of them gifted\n", bal.Balance, bal.GenBalance)

	pay, err := c.Pay(ctx, midas.PayRequest{OpenID: player, SessionKey: key, BillNo: payBill, Amount: 25, PayItem: "quickstart-sword"})
	if err != nil {
		return fmt.Errorf("pay: %w", err)
	}
	fmt.Fprintf(w, "3. pay 25 coins (bill_no %s): balance %s, gifted coins used %s\n", pay.BillNo,
		balanceText(pay.Balance, pay.BalanceKnown), balanceText(pay.UsedGenAmount, pay.UsedGenAmountKnown))

	if v2 {
		// A 2.0 return names the pay (BillNo, sent as pay_bill_no) and has
		// its own id (RefundBillNo, sent as bill_no): its idempotency key.
		back, err := c.CancelPay(ctx, midas.CancelPayRequest{OpenID: player, SessionKey: key, BillNo: payBill, RefundBillNo: refundBill, Amount: 10})
		if err != nil {
			return fmt.Errorf("cancelpay: %w", err)
		}
		fmt.Fprintf(w, "4. cancelpay 10 of the 25 coins of %s (refund bill_no %s): returned\n", payBill, back.BillNo)
	} else {
		if _, err := c.CancelPay(ctx, midas.CancelPayRequest{OpenID: player, SessionKey: key, BillNo: payBill}); err != nil {
			return fmt.Errorf("cancelpay: %w", err)
		}
		fmt.Fprintf(w, "4. cancelpay %s: refunded\n", payBill)
	}

	after, err := c.GetBalance(ctx, midas.BalanceRequest{OpenID: player, SessionKey: key})
	if err != nil {
		return fmt.Errorf("getbalance: %w", err)
	}
	fmt.Fprintf(w, "5. getbalance: %d coins, %d of them gifted\n", after.Balance, after.GenBalance)

	if !v2 {
		return nil
	}
	if s.outTradeNo == "" {
		fmt.Fprintln(w, "6. queryorder: skipped (set MIDAS_OUT_TRADE_NO to an item order's out_trade_no)")
		return nil
	}
	// The backstop for a lost delivery push: ask for the order's state.
	o, err := c.QueryOrder(ctx, midas.QueryOrderRequest{OpenID: player, SessionKey: key, OutTradeNo: s.outTradeNo, Kind: midas.ItemOrder})
	if err != nil {
		return fmt.Errorf("queryorder: %w", err)
	}
	state := "not paid"
	if o.Paid {
		state = "paid at " + o.PaidAt.UTC().Format(time.RFC3339)
	}
	if o.Delivered {
		state += ", delivered"
	} else {
		state += ", not delivered"
	}
	fmt.Fprintf(w, "6. queryorder %s (item order): product %s, %s\n", o.OutTradeNo, o.ProductID, state)
	return nil
}

// settings are the variables that select the real sandbox; MIDAS_SESSION_KEY
// (required in 2.0) and MIDAS_OUT_TRADE_NO are optional. MIDAS_VERSION is not
// one of them: alone, it picks the generation run offline.
var settings = []string{"MIDAS_APPID", "MIDAS_OFFER_ID", "MIDAS_APPKEY", "MIDAS_OPENID", "MIDAS_ACCESS_TOKEN", "MIDAS_APPSECRET",
	"MIDAS_SESSION_KEY", "MIDAS_OUT_TRADE_NO"}

// missingSettings reports whether any MIDAS_* setting is present and, if so,
// every required one that is absent, so that a half-done setup is told all
// it lacks at once instead of failing on the first.
func missingSettings(getenv func(string) string, v midas.Version) (missing []string, set bool) {
	for _, name := range settings {
		set = set || getenv(name) != ""
	}
	if !set {
		return nil, false
	}
	for _, name := range []string{"MIDAS_APPID", "MIDAS_OFFER_ID", "MIDAS_APPKEY", "MIDAS_OPENID"} {
		if getenv(name) == "" {
			missing = append(missing, name)
		}
	}
	if getenv("MIDAS_ACCESS_TOKEN") == "" && getenv("MIDAS_APPSECRET") == "" {
		missing = append(missing, "MIDAS_ACCESS_TOKEN or MIDAS_APPSECRET")
	}
	if v == midas.V2 && getenv("MIDAS_SESSION_KEY") == "" {
		missing = append(missing, "MIDAS_SESSION_KEY (2.0 signs every call with the player's session_key)")
	}
	return missing, true
}

// versions reads MIDAS_VERSION: "" is both offline and 1.0 against the real
// sandbox (one game is on one generation).
func versions(s string) ([]midas.Version, error) {
	switch strings.ToLower(s) {
	case "":
		return []midas.Version{midas.V1, midas.V2}, nil
	case "1", "1.0", "v1":
		return []midas.Version{midas.V1}, nil
	case "2", "2.0", "v2":
		return []midas.Version{midas.V2}, nil
	}
	return nil, fmt.Errorf("MIDAS_VERSION=%q: want 1 or 2 (or unset: both offline, 1 against the real sandbox)", s)
}

// setup configures the real sandbox from MIDAS_* variables, or starts the
// fake in-process when they are absent.
func setup(w io.Writer, getenv func(string) string) (sessions []session, stop func(), err error) {
	vs, err := versions(getenv("MIDAS_VERSION"))
	if err != nil {
		return nil, nil, err
	}
	if missing, set := missingSettings(getenv, vs[0]); set {
		if len(missing) > 0 {
			return nil, nil, fmt.Errorf("to run against the real sandbox, also set %s (or unset every MIDAS_* variable to run offline)",
				strings.Join(missing, ", "))
		}
		cfg := midas.Config{AppID: getenv("MIDAS_APPID"), OfferID: getenv("MIDAS_OFFER_ID"), AppKey: getenv("MIDAS_APPKEY"),
			Env: midas.Sandbox, Version: vs[0]}
		switch {
		case getenv("MIDAS_ACCESS_TOKEN") != "":
			cfg.AccessToken = midas.StaticToken(getenv("MIDAS_ACCESS_TOKEN"))
		default:
			if cfg.AccessToken, err = midas.NewStableTokenSource(cfg.AppID, getenv("MIDAS_APPSECRET")); err != nil {
				return nil, nil, err
			}
		}
		fmt.Fprintln(w, "running against the real Midas sandbox")
		s := session{cfg: cfg, player: getenv("MIDAS_OPENID"), sessionKey: getenv("MIDAS_SESSION_KEY"), outTradeNo: getenv("MIDAS_OUT_TRADE_NO")}
		return []session{s}, func() {}, nil
	}

	const (
		appID, offerID = "wx1234567", "12345678"
		sandboxKey     = "quickstartSandboxAppKey000000000"
		token          = "quickstart-access-token"
		// One fake serves both generations; each has its own player here.
		openIDv1, sessionV1 = "odkx20ENSNa2w5y3g_qOkOvBNM1g", "V7Q38/i2KXaqrQyl2Yx9Hg=="
		openIDv2, sessionV2 = "oUrsfxxxxxxxxxx", "9hAb/NEYUlkaMBEsmFgzig=="
		itemOrder           = "qs-item-0001"
	)
	fake := midastest.NewServer(midastest.Config{
		AppID: appID, OfferID: offerID, AppKey: "quickstartProductionKey000000000", SandboxAppKey: sandboxKey,
		AccessTokens: []string{token},
		Players: []midastest.Player{
			{OpenID: openIDv1, SessionKey: sessionV1, Balance: 100},
			{OpenID: openIDv2, SessionKey: sessionV2, Balance: 100},
		},
	})
	// An item order the 2.0 player made with wx.requestMidasPaymentGameItem,
	// as the fake's queryorderinfo will report it.
	fake.AddOrderInfo(midas.Sandbox, midastest.OrderInfo{
		OpenID: openIDv2, OutTradeNo: itemOrder, BizID: midastest.BizItem, ProductID: "gem_pack_60",
		Paid: true, Delivered: true, PaidAt: time.Now().Add(-time.Minute).Truncate(time.Second),
	})
	fmt.Fprintf(w, "running offline against a fake Midas at %s (set MIDAS_* to use the real sandbox)\n", fake.URL)
	opts := []midas.Option{midas.WithBaseURL(fake.URL)}
	for _, v := range vs {
		s := session{
			cfg:    midas.Config{AppID: appID, OfferID: offerID, AppKey: sandboxKey, Env: midas.Sandbox, Version: v, AccessToken: midas.StaticToken(token)},
			opts:   opts,
			player: openIDv1, sessionKey: sessionV1,
		}
		if v == midas.V2 {
			s.player, s.sessionKey, s.outTradeNo = openIDv2, sessionV2, itemOrder
		}
		sessions = append(sessions, s)
	}
	return sessions, fake.Close, nil
}
