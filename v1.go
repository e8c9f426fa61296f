package midas

import (
	"net/url"
	"strconv"
)

// v1 is virtual payment 1.0: /cgi-bin/midas/[sandbox/]{api}, appid, offer_id
// and ts in the body with the request's fields, sorted and signed with sig
// (the AppKey) and mp_sig (the session_key), both sent in the body.
type v1 struct{}

func (v1) version() Version { return V1 }

func (v1) balance(c *Client, r *BalanceRequest) (*call, error) {
	if r.RechargeCenter {
		return nil, fieldNotIn("RechargeCenter", V1)
	}
	fs, err := v1PlayerFields(r.OpenID, r.SessionKey, r.ZoneID, r.PF, r.UserIP)
	if err != nil {
		return nil, err
	}
	return &call{api: APIGetBalance, sessionKey: r.SessionKey, fields: fs}, nil
}

func (v1) pay(c *Client, r *PayRequest) (*call, error) {
	fs, err := v1PlayerFields(r.OpenID, r.SessionKey, r.ZoneID, r.PF, r.UserIP)
	if err != nil {
		return nil, err
	}
	if err := firstError(CheckBillNo(r.BillNo), checkPositive("Amount", r.Amount),
		checkText("PayItem", r.PayItem), checkText("AppRemark", r.AppRemark)); err != nil {
		return nil, err
	}
	fs = append(fs, field{key: "bill_no", val: r.BillNo}, field{key: "amt", val: strconv.FormatInt(r.Amount, 10), num: true})
	fs = appendOptional(fs, "pay_item", r.PayItem)
	fs = appendOptional(fs, "app_remark", r.AppRemark)
	return &call{api: APIPay, billNo: r.BillNo, sessionKey: r.SessionKey, fields: fs, doneCode: CodeOrderExists}, nil
}

func (v1) cancelPay(c *Client, r *CancelPayRequest) (*call, error) {
	if r.RefundBillNo != "" {
		return nil, fieldNotIn("RefundBillNo", V1)
	}
	if r.Amount != 0 {
		return nil, fieldNotIn("Amount", V1)
	}
	fs, err := v1PlayerFields(r.OpenID, r.SessionKey, r.ZoneID, r.PF, r.UserIP)
	if err != nil {
		return nil, err
	}
	if err := firstError(CheckBillNo(r.BillNo), checkText("PayItem", r.PayItem)); err != nil {
		return nil, err
	}
	fs = append(fs, field{key: "bill_no", val: r.BillNo})
	fs = appendOptional(fs, "pay_item", r.PayItem)
	return &call{api: APICancelPay, billNo: r.BillNo, sessionKey: r.SessionKey, fields: fs, doneCode: CodeOrderRefunded}, nil
}

func (v1) present(c *Client, r *PresentRequest) (*call, error) {
	fs, err := v1PlayerFields(r.OpenID, r.SessionKey, r.ZoneID, r.PF, r.UserIP)
	if err != nil {
		return nil, err
	}
	if err := firstError(CheckBillNo(r.BillNo), checkPositive("Count", r.Count)); err != nil {
		return nil, err
	}
	fs = append(fs, field{key: "bill_no", val: r.BillNo}, field{key: "present_counts", val: strconv.FormatInt(r.Count, 10), num: true})
	return &call{api: APIPresent, billNo: r.BillNo, sessionKey: r.SessionKey, fields: fs, doneCode: CodeOrderExists}, nil
}

func (v1) queryOrder(*Client, *QueryOrderRequest) (*call, error) {
	return nil, invalid("QueryOrder", "not an API of virtual payment %s (queryorderinfo is 2.0 only)", V1)
}

func (v1) gameItem(*Client, *GameItemRequest) ([]field, error) {
	return nil, invalid("SignGameItem", "item purchases are virtual payment %s only; this client is %s", V2, V1)
}

// v1PlayerFields checks the fields every 1.0 request carries and returns
// them, defaults applied and empty optional ones left out (neither sent nor
// signed).
func v1PlayerFields(openID, sessionKey, zoneID, pf, userIP string) ([]field, error) {
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
	if err := checkToken("PF", pf, maxIDLen); err != nil {
		return nil, err
	}
	fs := make([]field, 0, 10)
	fs = append(fs, field{key: "openid", val: openID}, field{key: "zone_id", val: zone}, field{key: "pf", val: pf})
	return appendOptional(fs, "user_ip", userIP), nil
}

// frame sorts the fields with appid, offer_id and ts, signs sig and, with a
// session_key, mp_sig (which also covers access_token and sig), and puts both
// in the body. A sandbox call goes to, and signs, the sandbox path.
func (v1) frame(c *Client, cl *call, tok string, ts int64) (path, query string, body []byte) {
	var arr [16]field
	fs := c.stamp(arr[:0], cl, ts)
	path = c.env.Path(cl.api)
	sig, mpSig := c.signFields(fs, path, tok, cl.sessionKey)
	// The body gets its own slice: the transport may still read it after Do
	// returns, so it cannot come from a pool.
	body = appendBody(make([]byte, 0, bodySize(fs)), fs, sig, mpSig)
	return path, "access_token=" + url.QueryEscape(tok), body
}

// stamp appends cl's fields, appid, offer_id and ts to dst, sorted by key.
func (c *Client) stamp(dst []field, cl *call, ts int64) []field {
	dst = append(dst, cl.fields...)
	dst = append(dst,
		field{key: "appid", val: c.appID},
		field{key: "offer_id", val: c.offerID},
		field{key: "ts", val: strconv.FormatInt(ts, 10), num: true})
	sortFields(dst)
	return dst
}

// normalize reads used_gen_balance, the Chinese page's name, as
// used_gen_amt.
func (v1) normalize(r *apiResponse) { r.UsedGenAmt = r.UsedGenAmt.or(r.UsedGenBalance) }

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

// signFields computes sig over the sorted fields and, when sessionKey is
// set, mp_sig over them plus access_token and sig.
func (c *Client) signFields(fs []field, path, tok, sessionKey string) (sig, mpSig string) {
	bp := c.bufs.Get().(*[]byte)
	buf := appendSignString(c.appKeyPads.start(*bp), fs, nil, path, "&secret=", c.appKey)
	sig = c.appKeyPads.sumHex(buf)
	if sessionKey != "" {
		pads := newHMACKey(sessionKey)
		buf = appendSignString(pads.start(buf), fs, []field{{key: keyAccessToken, val: tok}, {key: keySig, val: sig}}, path, "&session_key=", sessionKey)
		mpSig = pads.sumHex(buf)
	}
	// The signed string holds secrets: wipe it before the buffer is reused.
	clear(buf)
	*bp = buf[:0]
	c.bufs.Put(bp)
	return sig, mpSig
}
