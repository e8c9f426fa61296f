package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gomidas/midas"
)

func runAPI(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	appID := fs.String("appid", getenv("MIDAS_APPID"), "appid (env MIDAS_APPID)")
	offerID := fs.String("offer-id", getenv("MIDAS_OFFER_ID"), "offer_id (env MIDAS_OFFER_ID)")
	appKey := fs.String("appkey", getenv("MIDAS_APPKEY"), "the AppKey of the environment (env MIDAS_APPKEY)")
	envName := fs.String("env", getenv("MIDAS_ENV"), "production or sandbox (env MIDAS_ENV; default production)")
	versionHelp := "virtual payment version: 1 (/cgi-bin/midas) or 2 (/wxa/game) (env MIDAS_VERSION; default 1)"
	if cmd == "queryorder" {
		versionHelp = "virtual payment version: queryorder is 2.0 only (env MIDAS_VERSION; default 2)"
	}
	versionName := fs.String("version", getenv("MIDAS_VERSION"), versionHelp)
	token := fs.String("access-token", getenv("MIDAS_ACCESS_TOKEN"), "access_token (env MIDAS_ACCESS_TOKEN)")
	appSecret := fs.String("appsecret", getenv("MIDAS_APPSECRET"), "AppSecret, to get the access_token from stable_token when none is given (env MIDAS_APPSECRET)")
	baseURL := fs.String("base-url", getenv("MIDAS_BASE_URL"), "API base URL, e.g. the URL midas serve prints (env MIDAS_BASE_URL; default "+midas.DefaultBaseURL+")")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long (with -settle: stop settling)")
	retries := fs.Int("retries", midas.DefaultMaxRetries, "retries after a transport error, 5xx or errcode -1 (0 to 20)")
	openID := fs.String("openid", "", "the player's openid (required)")
	sessionKey := fs.String("session-key", "", "the player's session_key; 1.0: when given the request carries mp_sig; 2.0: required")
	zone := fs.String("zone", "", `zone_id (default "1")`)
	pf := new(string)
	if cmd != "queryorder" { // queryorderinfo has no pf in any version
		pf = fs.String("pf", "", `1.0 only: pf (default "android")`)
	}
	userIP := fs.String("user-ip", "", "user_ip")
	var billNo, payItem, remark, refundBillNo, outTradeNo, kindName *string
	var amount, count *int64
	var settle, rechargeCenter *bool
	if cmd != "balance" && cmd != "queryorder" {
		billNo = fs.String("bill-no", "", "bill_no (required): reuse it to retry or settle the same order")
		settle = fs.Bool("settle", false, "settle an earlier call with this bill_no whose outcome was unknown (exit 4) or "+
			"already applied (exit 5): call again until the answer is clear (at most "+fmt.Sprint(midas.DefaultSettleMaxAttempts)+
			" attempts); an 'already processed' answer counts as the earlier call's success")
	}
	switch cmd {
	case "balance":
		rechargeCenter = fs.Bool("recharge-center", false, "2.0 only: the recharge-centre balance (coin_type=1) instead of the game's coins")
	case "pay":
		amount = fs.Int64("amount", 0, "coins to deduct (required)")
		payItem = fs.String("pay-item", "", "pay_item (2.0 payitem)")
		remark = fs.String("remark", "", "app_remark (2.0 remark)")
	case "cancel":
		payItem = fs.String("pay-item", "", "1.0 only: pay_item")
		refundBillNo = fs.String("refund-bill-no", "", "2.0 only (required): the id of this return, its idempotency key; -bill-no is the pay's")
		amount = fs.Int64("amount", 0, "2.0 only (required): coins to return")
	case "present":
		count = fs.Int64("count", 0, "coins to gift (required)")
	case "queryorder":
		outTradeNo = fs.String("out-trade-no", "", "the order's out_trade_no, as given to wx.requestMidasPayment or "+
			"wx.requestMidasPaymentGameItem (required)")
		kindName = fs.String("kind", "", "what the order bought (required): coin (a top-up, biz_id 1) or item (an item purchase, biz_id 2)")
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: midas %s [flags]\n\nCalls %s and prints the answer as JSON on stdout; on failure it names the "+
			"errcode on stderr and exits with a code that says what happened.\n\nFlags:\n", cmd, apiName(cmd))
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), "\n"+exitCodes)
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments %q: the API commands take only flags (-name value)", fs.Args())
	}
	env, err := parseEnv(*envName)
	if err != nil {
		return usagef("-env or MIDAS_ENV: %v", err)
	}
	version, err := parseVersion(*versionName)
	if err != nil {
		return usagef("-version or MIDAS_VERSION: %v", err)
	}
	var kind midas.OrderKind
	if cmd == "queryorder" {
		// queryorderinfo exists in 2.0 only: 2 unless the version is set.
		if *versionName == "" {
			version = midas.V2
		} else if version != midas.V2 {
			return usagef("-version or MIDAS_VERSION is %q: queryorder is virtual payment 2.0 only (queryorderinfo)", *versionName)
		}
		if kind, err = parseKind(*kindName); err != nil {
			return usagef("-kind: %v", err)
		}
	}
	if *timeout <= 0 {
		return usagef("-timeout %v: want a positive duration", *timeout)
	}

	// Every missing setting at once, each with where to set it.
	var missing []string
	need := func(v, where string) {
		if v == "" {
			missing = append(missing, where)
		}
	}
	need(*appID, "-appid or MIDAS_APPID")
	need(*offerID, "-offer-id or MIDAS_OFFER_ID")
	need(*appKey, "-appkey or MIDAS_APPKEY")
	if *token == "" && *appSecret == "" {
		missing = append(missing, "-access-token or MIDAS_ACCESS_TOKEN (or -appsecret or MIDAS_APPSECRET to fetch one)")
	}
	need(*openID, "-openid")
	if version == midas.V2 {
		need(*sessionKey, "-session-key (2.0 signs every call with the player's session_key)")
	}
	if billNo != nil {
		need(*billNo, "-bill-no")
	}
	if cmd == "cancel" && version == midas.V2 {
		need(*refundBillNo, "-refund-bill-no (2.0 returns are identified by their own bill_no)")
	}
	if amount != nil && *amount == 0 && (cmd == "pay" || version == midas.V2) {
		missing = append(missing, "-amount")
	}
	if count != nil && *count == 0 {
		missing = append(missing, "-count")
	}
	if outTradeNo != nil {
		need(*outTradeNo, "-out-trade-no")
		need(*kindName, "-kind (coin or item)")
	}
	if len(missing) > 0 {
		return usagef("missing settings:\n  %s", strings.Join(missing, "\n  "))
	}

	var opts []midas.Option
	if *baseURL != "" {
		opts = append(opts, midas.WithBaseURL(*baseURL))
	}
	var tokens midas.TokenSource
	if *token != "" {
		tokens = midas.StaticToken(*token)
	} else if tokens, err = midas.NewStableTokenSource(*appID, *appSecret, opts...); err != nil {
		return err
	}
	// Retries are the client's: the token source takes no retry option.
	opts = append(opts, midas.WithMaxRetries(*retries))
	c, err := midas.NewClient(midas.Config{AppID: *appID, OfferID: *offerID, AppKey: *appKey, Env: env, Version: version, AccessToken: tokens}, opts...)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	var resp any
	switch cmd {
	case "balance":
		resp, err = c.GetBalance(ctx, midas.BalanceRequest{OpenID: *openID, SessionKey: *sessionKey, ZoneID: *zone, PF: *pf, UserIP: *userIP,
			RechargeCenter: *rechargeCenter})
	case "pay":
		r := midas.PayRequest{OpenID: *openID, SessionKey: *sessionKey, ZoneID: *zone, PF: *pf, UserIP: *userIP,
			BillNo: *billNo, Amount: *amount, PayItem: *payItem, AppRemark: *remark}
		if *settle {
			resp, err = c.SettlePay(ctx, r)
		} else {
			resp, err = c.Pay(ctx, r)
		}
	case "cancel":
		r := midas.CancelPayRequest{OpenID: *openID, SessionKey: *sessionKey, ZoneID: *zone, PF: *pf, UserIP: *userIP,
			BillNo: *billNo, PayItem: *payItem, RefundBillNo: *refundBillNo, Amount: *amount}
		if *settle {
			resp, err = c.SettleCancelPay(ctx, r)
		} else {
			resp, err = c.CancelPay(ctx, r)
		}
	case "present":
		r := midas.PresentRequest{OpenID: *openID, SessionKey: *sessionKey, ZoneID: *zone, PF: *pf, UserIP: *userIP,
			BillNo: *billNo, Count: *count}
		if *settle {
			resp, err = c.SettlePresent(ctx, r)
		} else {
			resp, err = c.Present(ctx, r)
		}
	case "queryorder":
		resp, err = c.QueryOrder(ctx, midas.QueryOrderRequest{OpenID: *openID, SessionKey: *sessionKey, ZoneID: *zone, UserIP: *userIP,
			OutTradeNo: *outTradeNo, Kind: kind})
	}
	if err != nil {
		return err
	}
	if err := printJSON(stdout, resp); err != nil {
		if cmd == "balance" || cmd == "queryorder" {
			return fmt.Errorf("writing the answer: %w", err)
		}
		// The coins moved but the script cannot read the answer: to it, the
		// outcome is unknown, and settling tells it again.
		return fmt.Errorf("%s succeeded but its answer could not be written (%w): %w", apiName(cmd), midas.ErrOutcomeUnknown, err)
	}
	return nil
}

func apiName(cmd string) string {
	switch cmd {
	case "balance":
		return midas.APIGetBalance
	case "cancel":
		return midas.APICancelPay
	case "queryorder":
		return midas.APIQueryOrder
	}
	return cmd
}

// parseKind reads -kind: coin or item, or queryorderinfo's biz_id (1 or 2).
// Empty is no kind, which the caller reports as missing.
func parseKind(s string) (midas.OrderKind, error) {
	switch strings.ToLower(s) {
	case "":
		return 0, nil
	case "coin", "coins", "1":
		return midas.CoinOrder, nil
	case "item", "2":
		return midas.ItemOrder, nil
	}
	return 0, fmt.Errorf("%q: want coin or item", s)
}
