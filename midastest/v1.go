package midastest

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/gomidas/midas"
)

// v1APIs are the 1.0 APIs, each under a production and a sandbox path.
var v1APIs = []string{midas.APIGetBalance, midas.APIPay, midas.APICancelPay, midas.APIPresent}

// v1Path is the 1.0 path of api in env, also the org_loc both signatures
// cover.
func v1Path(env midas.Env, api string) string {
	if env == midas.Sandbox {
		return "/cgi-bin/midas/sandbox/" + api
	}
	return "/cgi-bin/midas/" + api
}

// The 1.0 body fields, per API, each allowed one and whether it is
// required; numeric fields are JSON numbers.
var (
	v1Common = map[string]bool{"openid": true, "appid": true, "offer_id": true, "ts": true, "zone_id": true, "pf": true, "user_ip": false, "sig": true, "mp_sig": false}
	v1Extra  = map[string]map[string]bool{
		midas.APIGetBalance: {},
		midas.APIPay:        {"amt": true, "bill_no": true, "pay_item": false, "app_remark": false},
		midas.APICancelPay:  {"bill_no": true, "pay_item": false},
		midas.APIPresent:    {"bill_no": true, "present_counts": true},
	}
	v1Numeric = map[string]bool{"ts": true, "amt": true, "present_counts": true}
)

// decodeV1 reads a 1.0 body: a strict JSON object of strings and numbers;
// numbers keep their decimal text. isNum says which fields were numbers.
func decodeV1(body []byte) (params map[string]string, isNum map[string]bool, err error) {
	fields, err := parseObject(body)
	if err != nil {
		return nil, nil, err
	}
	params, isNum = map[string]string{}, map[string]bool{}
	for _, f := range fields {
		switch f.kind {
		case kindString:
			params[f.name] = f.text
		case kindNumber:
			params[f.name] = f.text
			isNum[f.name] = true
		default:
			return nil, nil, fmt.Errorf("field %s is neither a string nor a number", f.name)
		}
	}
	return params, isNum, nil
}

// verifyV1 checks one 1.0 call as WeChat does when it arrives. It returns
// the refusal and nil, or the step that applies the call (under s.mu); s.mu
// is held.
func (s *Server) verifyV1(env midas.Env, api, token string, body []byte) (outcome, func() outcome) {
	o := outcome{env: env}
	switch s.tokenState(token) {
	case tokenUnknown:
		return o.fail(40001, "invalid credential, access_token is invalid or not latest"), nil
	case tokenExpired:
		return o.fail(42001, "access_token expired"), nil
	}
	params, isNum, err := decodeV1(body)
	if err != nil {
		return o.fail(90018, err.Error()), nil
	}
	o.params = params
	if msg := checkV1Fields(api, params, isNum); msg != "" {
		return o.fail(90018, msg), nil
	}
	if params["appid"] != s.cfg.AppID || params["offer_id"] != s.cfg.OfferID {
		return o.fail(90017, "appid or offer_id has no permission"), nil
	}
	key := s.cfg.AppKey
	if env == midas.Sandbox {
		key = s.cfg.SandboxAppKey
	}
	path := v1Path(env, api)
	if !sameSig(params["sig"], signV1(params, []string{"sig", "mp_sig"}, path, "&secret=", key)) {
		return o.fail(90011, "sig error"), nil
	}
	p, ok := s.players[params["openid"]]
	if !ok || p.SessionKey == "" || p.expired {
		return o.fail(90010, "user not logged in or session expired"), nil
	}
	if _, sent := params["mp_sig"]; sent || s.cfg.RequireMpSig {
		withToken := map[string]string{"access_token": token}
		for k, v := range params {
			withToken[k] = v
		}
		if !sameSig(params["mp_sig"], signV1(withToken, []string{"mp_sig"}, path, "&session_key=", p.SessionKey)) {
			return o.fail(90009, "mp_sig error"), nil
		}
	}
	// WeChat checks the token, signatures and session when a request
	// arrives; a held one is applied later against the ledger of then.
	return o, func() outcome {
		o.res, o.errcode, o.applied = s.applyV1(env, api, params)
		return o
	}
}

// checkV1Fields checks a decoded 1.0 body against its API's fields; it
// returns what is wrong, or "".
func checkV1Fields(api string, params map[string]string, isNum map[string]bool) string {
	for k := range params {
		_, inCommon := v1Common[k]
		_, inExtra := v1Extra[api][k]
		if !inCommon && !inExtra {
			return "unexpected field " + k
		}
		if v1Numeric[k] != isNum[k] {
			if v1Numeric[k] {
				return k + " must be a number"
			}
			return k + " must be a string"
		}
	}
	for _, spec := range []map[string]bool{v1Common, v1Extra[api]} {
		for k, required := range spec {
			if _, ok := params[k]; required && !ok {
				return "missing " + k
			}
		}
	}
	for k := range v1Numeric {
		if v, ok := params[k]; ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || (k != "ts" && n <= 0) {
				return k + " must be a positive integer"
			}
		}
	}
	// Both are required fields: empty is no value, not the default.
	for _, k := range []string{"zone_id", "pf"} {
		if params[k] == "" {
			return k + " must not be empty"
		}
	}
	if hasControl(params["zone_id"]) {
		return "zone_id must not contain control characters"
	}
	if b, ok := params["bill_no"]; ok && !validBillNoV1(b) {
		return "bill_no must be 1 to 63 of [0-9A-Za-z_-*@]"
	}
	return ""
}

// validBillNoV1 accepts 1 to 63 of [0-9A-Za-z_-*@] (the Chinese pages'
// list; the English page's is a subset).
func validBillNoV1(b string) bool {
	if b == "" || len(b) > 63 {
		return false
	}
	for i := 0; i < len(b); i++ {
		if c := b[i]; !isIDByte(c) && c != '*' && c != '@' {
			return false
		}
	}
	return true
}

// isIDByte reports whether c is one of [0-9A-Za-z_-].
func isIDByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '_' || c == '-'
}

// v1Business are the fields that make two 1.0 calls with one bill_no the
// same call (not ts or the signatures).
var v1Business = []string{"openid", "zone_id", "pf", "amt", "present_counts", "pay_item", "app_remark", "user_ip"}

// signV1 is the fake's own 1.0 signer (sig and mp_sig), written from the
// spec apart from the midas package's, so that a bug in one is caught by the
// other.
func signV1(params map[string]string, exclude []string, path, secretName, key string) string {
	names := make([]string, 0, len(params))
	for k := range params {
		skip := false
		for _, e := range exclude {
			skip = skip || e == k
		}
		if !skip {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	for i, k := range names {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k + "=" + params[k])
	}
	b.WriteString("&org_loc=" + path + "&method=POST" + secretName + key)
	return hmacHex(key, []byte(b.String()))
}
