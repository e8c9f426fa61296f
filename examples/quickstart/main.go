// Quickstart gifts coins to a player, reads the balance, pays, cancels the
// payment and reads the balance again, printing each step.
//
// With no configuration it runs offline against the fake Midas server of
// package midastest, started in-process. With MIDAS_APPID, MIDAS_OFFER_ID,
// MIDAS_APPKEY (the sandbox key), MIDAS_OPENID and MIDAS_ACCESS_TOKEN or
// MIDAS_APPSECRET set (MIDAS_SESSION_KEY optional) it runs the same steps
// against the real sandbox. With only some of them set it names every one
// still missing, and stops.
//
//	go run ./examples/quickstart
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

func run(ctx context.Context, w io.Writer, getenv func(string) string) error {
	cfg, player, sessionKey, opts, stop, err := setup(w, getenv)
	if err != nil {
		return err
	}
	defer stop()

	c, err := midas.NewClient(cfg, opts...)
	if err != nil {
		return err
	}
	// Bill numbers are chosen once per order and stored with it; a retry or a
	// follow-up reuses them.
	run := time.Now().UTC().Format("20060102T150405")
	giftBill, payBill := "qs-gift-"+run, "qs-pay-"+run

	gift, err := c.Present(ctx, midas.PresentRequest{OpenID: player, SessionKey: sessionKey, BillNo: giftBill, Count: 10})
	if err != nil {
		return fmt.Errorf("present: %w", err)
	}
	fmt.Fprintf(w, "1. present 10 coins (bill_no %s): balance %d\n", gift.BillNo, gift.Balance)

	bal, err := c.GetBalance(ctx, midas.BalanceRequest{OpenID: player, SessionKey: sessionKey})
	if err != nil {
		return fmt.Errorf("getbalance: %w", err)
	}
	fmt.Fprintf(w, "2. getbalance: %d coins, %d of them gifted\n", bal.Balance, bal.GenBalance)

	pay, err := c.Pay(ctx, midas.PayRequest{OpenID: player, SessionKey: sessionKey, BillNo: payBill, Amount: 25, PayItem: "quickstart-sword"})
	if err != nil {
		return fmt.Errorf("pay: %w", err)
	}
	fmt.Fprintf(w, "3. pay 25 coins (bill_no %s): balance %d, %d gifted coins used\n", pay.BillNo, pay.Balance, pay.UsedGenAmount)

	if _, err := c.CancelPay(ctx, midas.CancelPayRequest{OpenID: player, SessionKey: sessionKey, BillNo: payBill}); err != nil {
		return fmt.Errorf("cancelpay: %w", err)
	}
	fmt.Fprintf(w, "4. cancelpay %s: refunded\n", payBill)

	after, err := c.GetBalance(ctx, midas.BalanceRequest{OpenID: player, SessionKey: sessionKey})
	if err != nil {
		return fmt.Errorf("getbalance: %w", err)
	}
	fmt.Fprintf(w, "5. getbalance: %d coins, %d of them gifted\n", after.Balance, after.GenBalance)
	return nil
}

// settings are the variables that select the real sandbox; MIDAS_SESSION_KEY
// is optional.
var settings = []string{"MIDAS_APPID", "MIDAS_OFFER_ID", "MIDAS_APPKEY", "MIDAS_OPENID", "MIDAS_ACCESS_TOKEN", "MIDAS_APPSECRET", "MIDAS_SESSION_KEY"}

// missingSettings reports whether any MIDAS_* setting is present and, if so,
// every required one that is absent, so that a half-done setup is told all
// it lacks at once instead of failing on the first.
func missingSettings(getenv func(string) string) (missing []string, set bool) {
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
	return missing, true
}

// setup configures the real sandbox from MIDAS_* variables, or starts the
// fake in-process when they are absent.
func setup(w io.Writer, getenv func(string) string) (cfg midas.Config, player, sessionKey string, opts []midas.Option, stop func(), err error) {
	if missing, set := missingSettings(getenv); set {
		if len(missing) > 0 {
			err = fmt.Errorf("to run against the real sandbox, also set %s (or unset every MIDAS_* variable to run offline)",
				strings.Join(missing, ", "))
			return
		}
		cfg = midas.Config{AppID: getenv("MIDAS_APPID"), OfferID: getenv("MIDAS_OFFER_ID"), AppKey: getenv("MIDAS_APPKEY"), Env: midas.Sandbox}
		switch {
		case getenv("MIDAS_ACCESS_TOKEN") != "":
			cfg.AccessToken = midas.StaticToken(getenv("MIDAS_ACCESS_TOKEN"))
		default:
			if cfg.AccessToken, err = midas.NewStableTokenSource(cfg.AppID, getenv("MIDAS_APPSECRET")); err != nil {
				return
			}
		}
		fmt.Fprintln(w, "running against the real Midas sandbox")
		return cfg, getenv("MIDAS_OPENID"), getenv("MIDAS_SESSION_KEY"), nil, func() {}, nil
	}

	const (
		appID, offerID = "wx1234567", "12345678"
		sandboxKey     = "quickstartSandboxAppKey000000000"
		token          = "quickstart-access-token"
		openID         = "odkx20ENSNa2w5y3g_qOkOvBNM1g"
		session        = "V7Q38/i2KXaqrQyl2Yx9Hg=="
	)
	fake := midastest.NewServer(midastest.Config{
		AppID: appID, OfferID: offerID, AppKey: "quickstartProductionKey000000000", SandboxAppKey: sandboxKey,
		AccessTokens: []string{token},
		Players:      []midastest.Player{{OpenID: openID, SessionKey: session, Balance: 100}},
	})
	fmt.Fprintf(w, "running offline against a fake Midas at %s (set MIDAS_* to use the real sandbox)\n", fake.URL)
	cfg = midas.Config{AppID: appID, OfferID: offerID, AppKey: sandboxKey, Env: midas.Sandbox, AccessToken: midas.StaticToken(token)}
	return cfg, openID, session, []midas.Option{midas.WithBaseURL(fake.URL)}, fake.Close, nil
}
