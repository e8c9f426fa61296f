package midastest

import (
	"fmt"
	"net/url"
	"strconv"

	"github.com/gomidas/midas"
)

// apiQueryOrderInfo is the 2.0-only API, in paths, Call.API and Fault.API.
const apiQueryOrderInfo = "queryorderinfo"

// v2APIs are the 2.0 APIs, one path each for both environments.
var v2APIs = []string{midas.APIGetBalance, midas.APIPay, midas.APICancelPay, midas.APIPresent, apiQueryOrderInfo}

// v2Path is the 2.0 path of api, also the uri pay_sig covers.
func v2Path(api string) string { return "/wxa/game/" + api }

// v2Field is how a 2.0 body field is typed.
type v2Field struct {
	number   bool // a JSON integer; else a JSON string
	required bool
}

// The 2.0 body fields: every API's, and each API's own.
var (
	v2Common = map[string]v2Field{
		"openid": {required: true}, "offer_id": {required: true}, "ts": {number: true, required: true},
		"zone_id": {required: true}, "env": {number: true, required: true},
		// Required in every table, absent from every official example.
		"user_ip": {},
	}
	v2Extra = map[string]map[string]v2Field{
		midas.APIGetBalance: {"coin_type": {number: true}},
		midas.APIPay:        {"amount": {number: true, required: true}, "bill_no": {required: true}, "payitem": {}, "remark": {}},
		midas.APICancelPay:  {"pay_bill_no": {required: true}, "bill_no": {required: true}, "amount": {number: true, required: true}},
		midas.APIPresent:    {"amount": {number: true, required: true}, "bill_no": {required: true}},
		apiQueryOrderInfo:   {"out_trade_no": {required: true}, "biz_id": {number: true, required: true}},
	}
	// v1Only are 1.0 fields that 2.0 dropped or renamed.
	v1Only = map[string]string{
		"appid": "", "pf": "", "sig": " (2.0 signs in the query string)", "mp_sig": " (2.0 signs in the query string)",
		"amt": " (2.0: amount)", "present_counts": " (2.0: amount)", "pay_item": " (2.0: payitem)", "app_remark": " (2.0: remark)",
	}
)

// v2Body is a checked 2.0 body.
type v2Body struct {
	api                           string
	env                           midas.Env
	openID, offerID, zoneID       string
	billNo, payBillNo, outTradeNo string
	amount, coinType, bizID, ts   int64
}

// verifyV2 checks one 2.0 call as WeChat does when it arrives, as
// verifyV1 does for 1.0; s.mu is held.
func (s *Server) verifyV2(api string, query url.Values, body []byte) (outcome, func() outcome) {
	var o outcome
	switch s.tokenState(query.Get("access_token")) {
	case tokenUnknown:
		return o.fail(40001, "invalid credential, access_token is invalid or not latest"), nil
	case tokenExpired:
		return o.fail(42001, "access_token expired"), nil
	}
	if query.Get("sig_method") != "hmac_sha256" {
		return o.fail(90018, "[sig_method] sig_method must be hmac_sha256"), nil
	}
	fields, err := parseObject(body)
	if err != nil {
		return o.fail(90018, "[body] "+err.Error()), nil
	}
	o.params = params(fields)
	if o.params["env"] == "1" {
		o.env = midas.Sandbox
	}
	q, msg := checkV2Fields(api, fields)
	if msg != "" {
		return o.fail(90018, msg), nil
	}
	if q.offerID != s.cfg.OfferID {
		return o.fail(90018, "[offer_id] offer_id is invalid"), nil
	}
	key := s.cfg.AppKey
	if q.env == midas.Sandbox {
		key = s.cfg.SandboxAppKey
	}
	if !sameSig(query.Get("pay_sig"), paySigV2(v2Path(api), body, key)) {
		return o.fail(90011, "[pay_sig] pay_sig is invalid"), nil
	}
	p, ok := s.players[q.openID]
	switch {
	case !ok || p.SessionKey == "":
		return o.fail(90010, "[signature] user not logged in"), nil
	case p.expired:
		return o.fail(90016, "[signature] session_key expired"), nil
	case !sameSig(query.Get("signature"), signatureV2(body, p.SessionKey)):
		return o.fail(90010, "[signature] signature is invalid"), nil
	}
	// Checked on arrival, applied now or, when held, later (see verifyV1).
	return o, func() outcome {
		o.res, o.errcode, o.applied = s.applyV2(q, o.params)
		return o
	}
}

// checkV2Fields checks a 2.0 body against its API's fields and returns its
// values, or what is wrong as a 90018 errmsg.
func checkV2Fields(api string, fields []bodyField) (v2Body, string) {
	q := v2Body{api: api}
	seen := map[string]bool{}
	for _, f := range fields {
		spec, ok := v2Common[f.name]
		if !ok {
			spec, ok = v2Extra[api][f.name]
		}
		if !ok {
			if hint, v1 := v1Only[f.name]; v1 {
				return q, fmt.Sprintf("[%s] %s is a virtual payment 1.0 field%s", f.name, f.name, hint)
			}
			return q, fmt.Sprintf("[%s] unknown field %q", f.name, f.name)
		}
		want := kindString
		if spec.number {
			want = kindNumber
		}
		if f.kind != want {
			return q, fmt.Sprintf("field %q doesn't expect %s value", f.name, f.describe())
		}
		seen[f.name] = true
		var n int64
		if spec.number {
			var err error
			if n, err = strconv.ParseInt(f.text, 10, 64); err != nil {
				return q, fmt.Sprintf("[%s] %s must be an integer", f.name, f.name)
			}
		}
		switch f.name {
		case "openid":
			q.openID = f.text
		case "offer_id":
			q.offerID = f.text
		case "zone_id":
			q.zoneID = f.text
		case "bill_no":
			q.billNo = f.text
		case "pay_bill_no":
			q.payBillNo = f.text
		case "out_trade_no":
			q.outTradeNo = f.text
		case "ts":
			q.ts = n
		case "env":
			if n != 0 && n != 1 {
				return q, "[env] env must be 0 (production) or 1 (sandbox)"
			}
			if n == 1 {
				q.env = midas.Sandbox
			}
		case "amount":
			if n <= 0 {
				return q, "[amount] amount must be greater than 0"
			}
			q.amount = n
		case "coin_type":
			if n != 0 && n != 1 {
				return q, "[coin_type] coin_type must be 0 or 1"
			}
			q.coinType = n
		case "biz_id":
			if n != 1 && n != 2 {
				return q, "[biz_id] biz_id must be 1 or 2"
			}
			q.bizID = n
		}
	}
	for _, spec := range []map[string]v2Field{v2Common, v2Extra[api]} {
		for name, f := range spec {
			if f.required && !seen[name] {
				return q, fmt.Sprintf("[%s] %s is required", name, name)
			}
		}
	}
	switch {
	case q.openID == "":
		return q, "[openid] openid is invalid"
	case q.offerID == "":
		return q, "[offer_id] offer_id is invalid"
	case q.zoneID == "" || hasControl(q.zoneID):
		return q, "[zone_id] zone_id is invalid"
	case q.coinType == 1 && q.zoneID != midas.DefaultZoneID:
		return q, `[zone_id] zone_id must be "1" with coin_type 1`
	case seen["bill_no"] && !validBillNoV2(q.billNo):
		return q, "[bill_no] bill_no must be 1 to 63 of [0-9A-Za-z_-], not starting with '_'"
	case seen["pay_bill_no"] && !validBillNoV2(q.payBillNo):
		return q, "[pay_bill_no] pay_bill_no must be 1 to 63 of [0-9A-Za-z_-], not starting with '_'"
	case seen["out_trade_no"] && q.outTradeNo == "":
		return q, "[out_trade_no] out_trade_no is invalid"
	}
	return q, ""
}

// validBillNoV2 accepts 1 to 63 of [0-9A-Za-z_-], not starting with '_'.
func validBillNoV2(b string) bool {
	if b == "" || len(b) > 63 || b[0] == '_' {
		return false
	}
	for i := 0; i < len(b); i++ {
		if !isIDByte(b[i]) {
			return false
		}
	}
	return true
}

// paySigV2 is the fake's own 2.0 pay_sig, written from the signature page
// apart from the midas package's: hex HMAC-SHA256 keyed with the AppKey over
// uri + "&" + the body bytes.
func paySigV2(uri string, body []byte, appKey string) string {
	return hmacHex(appKey, []byte(uri), []byte("&"), body)
}

// signatureV2 is the fake's own 2.0 signature: hex HMAC-SHA256 keyed with
// the session_key's base64 text (not decoded) over the body bytes.
func signatureV2(body []byte, sessionKey string) string {
	return hmacHex(sessionKey, body)
}
