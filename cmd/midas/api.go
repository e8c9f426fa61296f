package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
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
	token := fs.String("access-token", getenv("MIDAS_ACCESS_TOKEN"), "access_token (env MIDAS_ACCESS_TOKEN)")
	appSecret := fs.String("appsecret", getenv("MIDAS_APPSECRET"), "AppSecret, to get the access_token from stable_token when none is given (env MIDAS_APPSECRET)")
	baseURL := fs.String("base-url", getenv("MIDAS_BASE_URL"), "API base URL, e.g. the URL midas serve prints (env MIDAS_BASE_URL; default "+midas.DefaultBaseURL+")")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	retries := fs.Int("retries", midas.DefaultMaxRetries, "retries after a transport error, 5xx or errcode -1")
	openID := fs.String("openid", "", "the player's openid (required)")
	sessionKey := fs.String("session-key", "", "the player's session_key; when given the request carries mp_sig")
	zone := fs.String("zone", "", `zone_id (default "1")`)
	pf := fs.String("pf", "", `pf (default "android")`)
	userIP := fs.String("user-ip", "", "user_ip")
	var billNo, payItem, remark *string
	var amount, count *int64
	if cmd != "balance" {
		billNo = fs.String("bill-no", "", "bill_no (required): reuse it to retry or settle the same order")
	}
	switch cmd {
	case "pay":
		amount = fs.Int64("amount", 0, "coins to deduct (required)")
		payItem = fs.String("pay-item", "", "pay_item")
		remark = fs.String("remark", "", "app_remark")
	case "cancel":
		payItem = fs.String("pay-item", "", "pay_item")
	case "present":
		count = fs.Int64("count", 0, "coins to gift (required)")
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: midas %s [flags]\n\nCalls %s and prints the answer as JSON. On failure it exits 1 and names the errcode.\n\nFlags:\n", cmd, apiName(cmd))
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	env, err := parseEnv(*envName)
	if err != nil {
		return err
	}
	var opts []midas.Option
	if *baseURL != "" {
		opts = append(opts, midas.WithBaseURL(*baseURL))
	}
	opts = append(opts, midas.WithMaxRetries(*retries))
	var tokens midas.TokenSource
	switch {
	case *token != "":
		tokens = midas.StaticToken(*token)
	case *appSecret != "":
		if tokens, err = midas.NewStableTokenSource(*appID, *appSecret, opts...); err != nil {
			return err
		}
	default:
		return errors.New("no access token: set -access-token (MIDAS_ACCESS_TOKEN) or -appsecret (MIDAS_APPSECRET)")
	}
	c, err := midas.NewClient(midas.Config{AppID: *appID, OfferID: *offerID, AppKey: *appKey, Env: env, AccessToken: tokens}, opts...)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	var resp any
	switch cmd {
	case "balance":
		resp, err = c.GetBalance(ctx, midas.BalanceRequest{OpenID: *openID, SessionKey: *sessionKey, ZoneID: *zone, PF: *pf, UserIP: *userIP})
	case "pay":
		resp, err = c.Pay(ctx, midas.PayRequest{OpenID: *openID, SessionKey: *sessionKey, ZoneID: *zone, PF: *pf, UserIP: *userIP,
			BillNo: *billNo, Amount: *amount, PayItem: *payItem, AppRemark: *remark})
	case "cancel":
		resp, err = c.CancelPay(ctx, midas.CancelPayRequest{OpenID: *openID, SessionKey: *sessionKey, ZoneID: *zone, PF: *pf, UserIP: *userIP,
			BillNo: *billNo, PayItem: *payItem})
	case "present":
		resp, err = c.Present(ctx, midas.PresentRequest{OpenID: *openID, SessionKey: *sessionKey, ZoneID: *zone, PF: *pf, UserIP: *userIP,
			BillNo: *billNo, Count: *count})
	}
	if err != nil {
		return err
	}
	return printJSON(stdout, resp)
}

func apiName(cmd string) string {
	switch cmd {
	case "balance":
		return midas.APIGetBalance
	case "cancel":
		return midas.APICancelPay
	}
	return cmd
}
