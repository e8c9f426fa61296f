package midas

import (
	"net/url"
	"strconv"
)

// v1 is virtual payment 1.0: /cgi-bin/midas/[sandbox/]{api}, appid, offer_id
// and ts in the body with the request's fields, sorted and signed with sig
// (the AppKey) and mp_sig (the session_key), both sent in the body.
type v1 struct {
	appID, offerID string
	env            Env
	key            *appKey
	paths          map[string]string // each API's V1Path in env, made once
	tokenQuery     *memo[string]     // "access_token=…" of the last token
	tsText         *memo[int64]      // the last ts in decimal
}

func newV1(cfg Config, key *appKey) dialect {
	paths := map[string]string{}
	for _, api := range []string{APIGetBalance, APIPay, APICancelPay, APIPresent} {
		paths[api] = V1Path(cfg.Env, api)
	}
	return v1{appID: cfg.AppID, offerID: cfg.OfferID, env: cfg.Env, key: key, paths: paths,
		tokenQuery: new(memo[string]), tsText: new(memo[int64])}
}

func tokenQueryOf(tok string) string { return "access_token=" + url.QueryEscape(tok) }

func (v1) version() Version { return V1 }

func (v1) balance(r BalanceRequest) (*apiCall, error) {
	if r.RechargeCenter {
		return nil, fieldNotIn("RechargeCenter", V1)
	}
	var room [maxFields]field
	fs, err := v1PlayerFields(room[:0], r.OpenID, r.SessionKey, r.ZoneID, r.PF, r.UserIP)
	if err != nil {
		return nil, err
	}
	return callOf(APIGetBalance, "", r.SessionKey, 0, fs), nil
}

func (v1) pay(r PayRequest) (*apiCall, error) {
	var room [maxFields]field
	fs, err := v1PlayerFields(room[:0], r.OpenID, r.SessionKey, r.ZoneID, r.PF, r.UserIP)
	if err != nil {
		return nil, err
	}
	if err := firstError(checkBillNoV1("BillNo", r.BillNo), checkPositive("Amount", r.Amount),
		checkText("PayItem", r.PayItem), checkText("AppRemark", r.AppRemark)); err != nil {
		return nil, err
	}
	fs = append(fs, field{key: "bill_no", val: r.BillNo}, field{key: "amt", val: strconv.FormatInt(r.Amount, 10), num: true})
	fs = appendOptional(fs, "pay_item", r.PayItem)
	fs = appendOptional(fs, "app_remark", r.AppRemark)
	return callOf(APIPay, r.BillNo, r.SessionKey, v1DoneCodes[APIPay], fs), nil
}

func (v1) cancelPay(r CancelPayRequest) (*apiCall, error) {
	if r.RefundBillNo != "" {
		return nil, fieldNotIn("RefundBillNo", V1)
	}
	if r.Amount != 0 {
		return nil, fieldNotIn("Amount", V1)
	}
	var room [maxFields]field
	fs, err := v1PlayerFields(room[:0], r.OpenID, r.SessionKey, r.ZoneID, r.PF, r.UserIP)
	if err != nil {
		return nil, err
	}
	if err := firstError(checkBillNoV1("BillNo", r.BillNo), checkText("PayItem", r.PayItem)); err != nil {
		return nil, err
	}
	fs = append(fs, field{key: "bill_no", val: r.BillNo})
	fs = appendOptional(fs, "pay_item", r.PayItem)
	return callOf(APICancelPay, r.BillNo, r.SessionKey, v1DoneCodes[APICancelPay], fs), nil
}

func (v1) present(r PresentRequest) (*apiCall, error) {
	var room [maxFields]field
	fs, err := v1PlayerFields(room[:0], r.OpenID, r.SessionKey, r.ZoneID, r.PF, r.UserIP)
	if err != nil {
		return nil, err
	}
	if err := firstError(checkBillNoV1("BillNo", r.BillNo), checkPositive("Count", r.Count)); err != nil {
		return nil, err
	}
	fs = append(fs, field{key: "bill_no", val: r.BillNo}, field{key: "present_counts", val: strconv.FormatInt(r.Count, 10), num: true})
	return callOf(APIPresent, r.BillNo, r.SessionKey, v1DoneCodes[APIPresent], fs), nil
}

func (v1) queryOrder(QueryOrderRequest) (*apiCall, error) {
	return nil, invalid("QueryOrder", "not an API of virtual payment %s (queryorderinfo is 2.0 only)", V1)
}

func (v1) gameItem(GameItemRequest) (*GameItemPayment, error) {
	return nil, invalid("SignGameItem", "item purchases are virtual payment %s only; this client is %s", V2, V1)
}

// checkBillNoV1 accepts 1.0's bill_no: 1 to 63 characters of digits,
// letters, '_', '-', '*' and '@' (the union of what the pages allow).
func checkBillNoV1(name, billNo string) error {
	if billNo == "" {
		return invalid(name, "empty")
	}
	if len(billNo) > maxBillNo {
		return invalid(name, "longer than %d characters", maxBillNo)
	}
	for i := 0; i < len(billNo); i++ {
		if c := billNo[i]; !isIDByte(c) && c != '*' && c != '@' {
			return invalid(name, "character %q not allowed (want 0-9 A-Z a-z _ - * @)", c)
		}
	}
	return nil
}

// v1PlayerFields checks the fields every 1.0 request carries and appends
// them to fs, defaults applied and empty optional ones left out (neither sent nor
// signed).
func v1PlayerFields(fs []field, openID, sessionKey, zoneID, pf, userIP string) ([]field, error) {
	if sessionKey != "" {
		if err := checkSessionKey(sessionKey); err != nil {
			return nil, err
		}
	}
	if pf == "" {
		pf = DefaultPF
	}
	zone, err := checkPlayer(openID, zoneID, userIP)
	if err != nil {
		return nil, err
	}
	if err := checkID("PF", pf, maxIDLen); err != nil {
		return nil, err
	}
	fs = append(fs, field{key: "openid", val: openID}, field{key: "zone_id", val: zone}, field{key: "pf", val: pf})
	return appendOptional(fs, "user_ip", userIP), nil
}

// frame sorts the fields with appid, offer_id and ts, signs sig and, with a
// session_key, mp_sig (which also covers access_token and sig), and puts both
// in the body. A sandbox call goes to, and signs, the sandbox path.
func (d v1) frame(cl *apiCall, tok string, ts int64) (path, query string, body []byte) {
	var arr [16]field
	fs := d.stamp(arr[:0], cl, ts)
	path, ok := d.paths[cl.api]
	if !ok {
		path = V1Path(d.env, cl.api)
	}
	sig, mpSig := d.signFields(fs, path, tok, cl.sessionKey)
	// The body gets its own slice: the transport may still read it after Do
	// returns, so it cannot come from a pool.
	body = appendBody(make([]byte, 0, bodySize(fs)+v1SigRoom), fs, sig, mpSig)
	return path, d.tokenQuery.get(tok, tokenQueryOf), body
}

// stamp appends cl's fields, appid, offer_id and ts to dst, sorted by key.
// cl's own fields are sorted in place, so from its second attempt on they
// cost one comparison each; the three added here are merged in.
func (d v1) stamp(dst []field, cl *apiCall, ts int64) []field {
	sortFields(cl.fields)
	added := [...]field{ // in key order
		{key: "appid", val: d.appID},
		{key: "offer_id", val: d.offerID},
		{key: "ts", val: d.tsText.get(ts, decimal), num: true},
	}
	// Merged, not sorted again: both lists are in order already.
	a, b := cl.fields, added[:]
	for len(a) > 0 && len(b) > 0 {
		if b[0].key < a[0].key {
			dst, b = append(dst, b[0]), b[1:]
		} else {
			dst, a = append(dst, a[0]), a[1:]
		}
	}
	return append(append(dst, a...), b...)
}

// normalize reads used_gen_balance, the Chinese page's name, as
// used_gen_amt.
func (v1) normalize(r *apiResponse) { r.UsedGenAmt = r.UsedGenAmt.or(r.UsedGenBalance) }

// answerName: 1.0's answer names are the ones the response types follow.
func (v1) answerName(name string) string { return name }

// v1Answer is the answer fields only 1.0 has: none beyond the shared ones,
// whose names are 1.0's.
type v1Answer struct{}

// v1Errcodes is 1.0's errcode table: each documented errcode, the sentinel
// it matches and its meaning, the one place these are written for 1.0.
var v1Errcodes = errcodeTable{
	{CodeSystemBusy, ErrSystemBusy, "system busy"},
	{CodeOrderNotFound, ErrOrderNotFound, "order does not exist"},
	{CodeMpSigInvalid, ErrMpSigInvalid, "mp_sig is wrong"},
	{CodeSessionExpired, ErrSessionExpired, "player not logged in or session expired"},
	{CodeSigInvalid, ErrSigInvalid, "sig is wrong"},
	{CodeOrderExists, ErrOrderExists, "order already exists"},
	{CodeInsufficientBalance, ErrInsufficientBalance, "insufficient balance"},
	{CodeOrderConfirmed, ErrOrderConfirmed, "order already confirmed"},
	{CodeOrderRefunded, ErrOrderRefunded, "order already refunded"},
	{CodeOrderProcessing, ErrOrderProcessing, "order being processed"},
	{CodeNoPermission, ErrNoPermission, "no permission"},
	{CodeInvalidParam, ErrInvalidParam, "parameter error"},
	{CodeInvalidCredential, ErrAccessTokenInvalid, "access_token invalid or expired"},
	{CodeInvalidAccessToken, ErrAccessTokenInvalid, "access_token invalid or expired"},
	{CodeAccessTokenExpired, ErrAccessTokenInvalid, "access_token invalid or expired"},
}

// v1DoneCodes is, for each 1.0 API that moves coins, the errcode that says
// its bill_no was applied before: a cancelpay's is 90015, not 90012.
var v1DoneCodes = map[string]int{APIPay: CodeOrderExists, APIPresent: CodeOrderExists, APICancelPay: CodeOrderRefunded}

// signFields computes sig over the sorted fields and, when sessionKey is
// set, mp_sig over them plus access_token and sig.
func (d v1) signFields(fs []field, path, tok, sessionKey string) (sig, mpSig string) {
	bp := d.key.buf()
	buf := appendSignString(d.key.pads.start(*bp), fs, nil, path, "&secret=", d.key.key)
	sig = d.key.pads.sumHex(buf)
	if sessionKey != "" {
		pads := newHMACKey(sessionKey)
		buf = appendSignString(pads.start(buf), fs, []field{{key: keyAccessToken, val: tok}, {key: keySig, val: sig}}, path, "&session_key=", sessionKey)
		mpSig = pads.sumHex(buf)
	}
	// The signed string holds secrets: put wipes it before reuse.
	d.key.put(bp, buf)
	return sig, mpSig
}

// v1SigRoom is what appendBody adds to the fields' object at most: the sig
// and mp_sig members, each 64 hex digits.
const v1SigRoom = len(`,"":""`) + len(keySig) + 64 + len(`,"":""`) + len(keyMpSig) + 64

// appendBody appends the 1.0 JSON body: fields in order, then sig and,
// when set, mp_sig. Values were checked to be valid UTF-8, so escaping is all
// that is needed for the server to decode exactly the signed text.
func appendBody(b []byte, fs []field, sig, mpSig string) []byte {
	fs = append(fs, field{key: keySig, val: sig})
	if mpSig != "" {
		fs = append(fs, field{key: keyMpSig, val: mpSig})
	}
	return appendObject(b, fs)
}

// Path returns the 1.0 path of api in this environment.
//
// Deprecated: the path is 1.0's only; use V1Path, which says so (2.0's is
// V2Path, the same in both environments).
func (e Env) Path(api string) string { return V1Path(e, api) }

// V1Path is the path of api ("getbalance", "pay", "cancelpay", "present")
// in virtual payment 1.0 in env: the sandbox has its own. It is also the
// org_loc that sig and mp_sig cover.
func V1Path(env Env, api string) string {
	if env == Sandbox {
		return "/cgi-bin/midas/sandbox/" + api
	}
	return "/cgi-bin/midas/" + api
}
