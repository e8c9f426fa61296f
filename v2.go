package midas

import (
	"net/url"
	"strconv"
	"strings"
)

// v2 is virtual payment 2.0: /wxa/game/{api} on one path for both
// environments, env in the body, no appid or pf, and the signatures in the
// query string over the exact body bytes: pay_sig (the AppKey of env, over
// path + "&" + body) and signature (the session_key, over body). The body is
// compact JSON in a fixed field order, built once per attempt and sent as
// signed.
//
// Field names against 1.0: amt → amount, pay_item → payitem, app_remark →
// remark, present_counts → amount; cancelpay's bill_no is the refund's own id
// and pay_bill_no the pay's. Answer names: present_balance → GenBalance,
// sum_save → SaveAmt, sum_balance → SaveSum, sum_cost → CostSum, sum_present
// → PresentSum, used_present_amount → UsedGenAmount.
type v2 struct {
	offerID string
	env     Env
	key     *appKey
	paths   map[string]string // each API's V2Path, made once
	tsText  *memo[int64]      // the last ts in decimal
}

func newV2(cfg Config, key *appKey) dialect {
	paths := map[string]string{}
	for _, api := range []string{APIGetBalance, APIPay, APICancelPay, APIPresent, APIQueryOrder} {
		paths[api] = V2Path(api)
	}
	return v2{offerID: cfg.OfferID, env: cfg.Env, key: key, paths: paths, tsText: new(memo[int64])}
}

// V2Path is the path of api in virtual payment 2.0; the same in both
// environments. It is also the uri that pay_sig covers.
func V2Path(api string) string { return "/wxa/game/" + api }

// The 2.0-only API.
const APIQueryOrder = "queryorderinfo"

func (v2) version() Version { return V2 }

func (d v2) balance(r BalanceRequest) (*apiCall, error) {
	zone := r.ZoneID
	if r.RechargeCenter {
		// The recharge-centre balance has one zone, "1".
		if zone != "" && zone != DefaultZoneID {
			return nil, invalid("ZoneID", "must be empty or %q with RechargeCenter, got %q", DefaultZoneID, zone)
		}
		zone = DefaultZoneID
	}
	var arr [headChecks]check
	var room [maxFields]field
	cs, fs, err := d.head(arr[:0], room[:0], r.OpenID, r.SessionKey, zone, r.PF, r.UserIP, true)
	if err != nil {
		return nil, err
	}
	if err := checkAll(cs); err != nil {
		return nil, err
	}
	if r.RechargeCenter {
		fs = append(fs, field{key: "coin_type", val: "1", num: true})
	}
	return callOf(APIGetBalance, "", r.SessionKey, 0, fs), nil
}

func (d v2) pay(r PayRequest) (*apiCall, error) {
	var arr [headChecks + 4]check
	var room [maxFields]field
	cs, fs, err := d.head(arr[:0], room[:0], r.OpenID, r.SessionKey, r.ZoneID, r.PF, r.UserIP, false)
	if err != nil {
		return nil, err
	}
	cs = append(cs, check{name: "BillNo", rule: ruleBillNoV2, s: r.BillNo}, check{name: "Amount", rule: rulePositive, n: r.Amount},
		check{name: "PayItem", rule: ruleText, s: r.PayItem}, check{name: "AppRemark", rule: ruleText, s: r.AppRemark})
	if err := checkAll(cs); err != nil {
		return nil, err
	}
	fs = append(fs, field{key: "amount", val: strconv.FormatInt(r.Amount, 10), num: true}, field{key: "bill_no", val: r.BillNo})
	if r.PayItem != "" { // empty optional fields are neither sent nor signed
		fs = append(fs, field{key: "payitem", val: r.PayItem})
	}
	if r.AppRemark != "" {
		fs = append(fs, field{key: "remark", val: r.AppRemark})
	}
	return callOf(APIPay, r.BillNo, r.SessionKey, v2DoneCodes[APIPay], fs), nil
}

// cancelPay returns r.Amount coins of the pay r.BillNo. The refund has its
// own id, r.RefundBillNo, which is its idempotency key: a retry keeps it,
// and a repeat is answered 90012.
func (d v2) cancelPay(r CancelPayRequest) (*apiCall, error) {
	if r.PayItem != "" {
		return nil, fieldNotIn("PayItem", V2)
	}
	var arr [headChecks + 3]check
	var room [maxFields]field
	cs, fs, err := d.head(arr[:0], room[:0], r.OpenID, r.SessionKey, r.ZoneID, r.PF, r.UserIP, false)
	if err != nil {
		return nil, err
	}
	cs = append(cs, check{name: "BillNo", rule: ruleBillNoV2, s: r.BillNo}, check{name: "RefundBillNo", rule: ruleBillNoV2, s: r.RefundBillNo},
		check{name: "Amount", rule: rulePositive, n: r.Amount})
	if err := checkAll(cs); err != nil {
		return nil, err
	}
	if r.RefundBillNo == r.BillNo {
		// The pay used that bill_no: the refund would always be answered
		// 90012, which a retry would misread as its own earlier success.
		return nil, invalid("RefundBillNo", "must differ from the pay's BillNo (bill_no is unique per player across pay, present and cancelpay)")
	}
	fs = append(fs, field{key: "pay_bill_no", val: r.BillNo}, field{key: "bill_no", val: r.RefundBillNo},
		field{key: "amount", val: strconv.FormatInt(r.Amount, 10), num: true})
	return callOf(APICancelPay, r.RefundBillNo, r.SessionKey, v2DoneCodes[APICancelPay], fs), nil
}

func (d v2) present(r PresentRequest) (*apiCall, error) {
	var arr [headChecks + 2]check
	var room [maxFields]field
	cs, fs, err := d.head(arr[:0], room[:0], r.OpenID, r.SessionKey, r.ZoneID, r.PF, r.UserIP, false)
	if err != nil {
		return nil, err
	}
	cs = append(cs, check{name: "BillNo", rule: ruleBillNoV2, s: r.BillNo}, check{name: "Count", rule: rulePositive, n: r.Count})
	if err := checkAll(cs); err != nil {
		return nil, err
	}
	fs = append(fs, field{key: "amount", val: strconv.FormatInt(r.Count, 10), num: true}, field{key: "bill_no", val: r.BillNo})
	return callOf(APIPresent, r.BillNo, r.SessionKey, v2DoneCodes[APIPresent], fs), nil
}

func (d v2) queryOrder(r QueryOrderRequest) (*apiCall, error) {
	var arr [headChecks + 1]check
	var room [maxFields]field
	cs, fs, err := d.head(arr[:0], room[:0], r.OpenID, r.SessionKey, r.ZoneID, "", r.UserIP, false)
	if err != nil {
		return nil, err
	}
	if err := checkAll(append(cs, check{name: "OutTradeNo", rule: ruleQueryOutTradeNo, s: r.OutTradeNo})); err != nil {
		return nil, err
	}
	if r.Kind != CoinOrder && r.Kind != ItemOrder {
		return nil, invalid("Kind", "must be CoinOrder or ItemOrder, got %d", int(r.Kind))
	}
	fs = append(fs, field{key: "out_trade_no", val: r.OutTradeNo}, field{key: "biz_id", val: strconv.Itoa(int(r.Kind)), num: true})
	return callOf(APIQueryOrder, "", r.SessionKey, 0, fs), nil
}

// gameItem lays out an item order's signData (mode goods, the client's
// offer_id and env, CNY, platform android, then the order) and signs those
// bytes as a body: paySig with the AppKey, signature with the session_key.
func (d v2) gameItem(r GameItemRequest) (*GameItemPayment, error) {
	if r.SessionKey == "" {
		return nil, invalid("SessionKey", "required: the order's signature is keyed with it")
	}
	zone := r.ZoneID
	if zone == "" {
		zone = DefaultZoneID
	}
	if err := firstError(checkSessionKey(r.SessionKey), checkProductID(r.ProductID),
		checkPositive("Quantity", r.Quantity), checkPositive("Price", r.Price),
		CheckOutTradeNo(r.OutTradeNo, false), checkZoneID(zone), checkText("Attach", r.Attach)); err != nil {
		return nil, err
	}
	if len(r.Attach) > MaxAttachLen {
		return nil, invalid("Attach", "longer than %d bytes", MaxAttachLen)
	}
	fs := []field{
		{key: "mode", val: "goods"},
		{key: "offerId", val: d.offerID},
		{key: "buyQuantity", val: strconv.FormatInt(r.Quantity, 10), num: true},
		{key: "env", val: strconv.Itoa(int(d.env)), num: true},
		{key: "currencyType", val: "CNY"},
		{key: "platform", val: "android"},
		{key: "zoneId", val: zone},
		{key: "productId", val: r.ProductID},
		{key: "goodsPrice", val: strconv.FormatInt(r.Price, 10), num: true},
		{key: "outTradeNo", val: r.OutTradeNo},
	}
	fs = appendOptional(fs, "attach", r.Attach)
	data := appendObject(make([]byte, 0, bodySize(fs)), fs)
	paySig, signature := d.signBody(gameItemURI, data, r.SessionKey)
	return &GameItemPayment{SignData: string(data), PaySig: paySig, Signature: signature}, nil
}

// head appends to cs the checks of the fields every 2.0 request carries and
// to fs those fields in body order, ts left for frame to fill; the caller
// adds its own checks and runs them all at once. getbalance's official example
// puts offer_id first; the other pages put openid first: both are kept, so
// the documented bodies come out byte for byte. user_ip is sent when given:
// the tables say required, every official example leaves it out.
func (d v2) head(cs []check, fs []field, openID, sessionKey, zoneID, pf, userIP string, offerFirst bool) ([]check, []field, error) {
	if pf != "" {
		return nil, nil, fieldNotIn("PF", V2)
	}
	// Every 2.0 API takes the signature, which only the session_key makes.
	if sessionKey == "" {
		return nil, nil, invalid("SessionKey", "required in virtual payment %s (every API is signed with it)", V2)
	}
	zone := zoneID
	if zone == "" {
		zone = DefaultZoneID
	}
	cs = append(cs, check{name: "SessionKey", rule: ruleSessionKey, s: sessionKey}, check{name: "OpenID", rule: ruleOpenID, s: openID},
		check{name: "ZoneID", rule: ruleZoneID, s: zone}, check{name: "UserIP", rule: ruleUserIP, s: userIP})
	if offerFirst {
		fs = append(fs, field{key: "offer_id", val: d.offerID}, field{key: "openid", val: openID})
	} else {
		fs = append(fs, field{key: "openid", val: openID}, field{key: "offer_id", val: d.offerID})
	}
	fs = append(fs, field{key: "ts", num: true}, field{key: "zone_id", val: zone},
		field{key: "env", val: strconv.Itoa(int(d.env)), num: true})
	if userIP != "" {
		fs = append(fs, field{key: "user_ip", val: userIP})
	}
	return cs, fs, nil
}

// headChecks is how many checks head adds.
const headChecks = 4

// frame lays out the body once with ts filled and has those very bytes
// signed, in one pass (encodeSignedBody): what is signed is what is sent,
// with no re-encoding in between.
func (d v2) frame(cl *apiCall, tok string, ts int64) (path, query string, body []byte) {
	path, ok := d.paths[cl.api]
	if !ok {
		path = V2Path(cl.api)
	}
	body, paySig, signature := encodeSignedBody(cl.fields, ts, d.tsText, d.key, path, cl.sessionKey)
	return path, signQuery(&paySig, &signature, tok), body
}

// signQuery is the query of an attempt: the access_token, signature (the
// session_key) and pay_sig (the AppKey), written in one allocation.
func signQuery(paySig, signature *sigHex, tok string) string {
	tq := url.QueryEscape(tok)
	var q strings.Builder
	q.Grow(len("access_token=&signature=&sig_method=hmac_sha256&pay_sig=") + len(tq) + len(paySig) + len(signature))
	q.WriteString("access_token=")
	q.WriteString(tq)
	q.WriteString("&signature=")
	q.Write(signature[:])
	q.WriteString("&sig_method=hmac_sha256&pay_sig=")
	q.Write(paySig[:])
	return q.String()
}

// signBody computes pay_sig with the AppKey's pads and signature with the
// session_key, over the same bytes.
func (d v2) signBody(path string, body []byte, sessionKey string) (paySig, signature string) {
	var p, sg sigHex
	signBodyHex(d.key, path, body, sessionKey, &p, &sg)
	return string(p[:]), string(sg[:])
}

// v2Answer is the answer fields under 2.0's names, which normalize maps onto
// the shared (1.0) names the response types are filled from.
type v2Answer struct {
	PresentBalance    optInt `json:"present_balance"`
	SumSave           optInt `json:"sum_save"`
	SumBalance        optInt `json:"sum_balance"`
	SumCost           optInt `json:"sum_cost"`
	SumPresent        optInt `json:"sum_present"`
	UsedPresentAmount optInt `json:"used_present_amount"`
}

// slot is the field named key, for decodeFlat (see slotted).
func (a *v2Answer) slot(key []byte) (any, int) {
	switch string(key) {
	case "present_balance":
		return &a.PresentBalance, 0
	case "sum_save":
		return &a.SumSave, 1
	case "sum_balance":
		return &a.SumBalance, 2
	case "sum_cost":
		return &a.SumCost, 3
	case "sum_present":
		return &a.SumPresent, 4
	case "used_present_amount":
		return &a.UsedPresentAmount, 5
	}
	return nil, -1
}

// v2Names maps a shared answer name to 2.0's, where they differ.
var v2Names = map[string]string{
	"gen_balance": "present_balance", "save_amt": "sum_save", "save_sum": "sum_balance",
	"cost_sum": "sum_cost", "present_sum": "sum_present", "used_gen_amt": "used_present_amount",
}

func (v2) answerName(name string) string {
	if n, ok := v2Names[name]; ok {
		return n
	}
	return name
}

func (v2) normalize(r *apiResponse) {
	fill(&r.GenBalance, r.PresentBalance)
	fill(&r.SaveAmt, r.SumSave)
	fill(&r.SaveSum, r.SumBalance)
	fill(&r.CostSum, r.SumCost)
	fill(&r.PresentSum, r.SumPresent)
	fill(&r.UsedGenAmt, r.UsedPresentAmount)
	fill(&r.UsedGenAmt, r.UsedGenBalance)
}

// fill sets *n to alt when the answer lacked n under the shared name.
func fill(n *optInt, alt optInt) {
	if !n.ok {
		*n = alt
	}
}

// v2Errcodes is 2.0's errcode table, the one place these are written for
// 2.0. Sentinels follow meaning, not number: 90010 is the session signature
// (1.0's mp_sig), 90011 pay_sig (1.0's sig), 90016 an expired session_key,
// 90019 an unknown out_trade_no. 90009, 90014, 90015 and 90017 are on no 2.0
// page; should one come back it is read as 1.0 means it.
var v2Errcodes = errcodeTable{
	{CodeSystemBusy, ErrSystemBusy, "system busy"},
	{CodeOrderNotFound, ErrOrderNotFound, "order does not exist"},
	{CodeMpSigInvalid, ErrMpSigInvalid, "mp_sig is wrong (a 1.0 errcode, on no 2.0 page)"},
	{CodeV2SignatureInvalid, ErrMpSigInvalid, "signature is wrong (session_key)"},
	{CodeV2PaySigInvalid, ErrSigInvalid, "pay_sig is wrong (AppKey of env, or body bytes)"},
	{CodeOrderExists, ErrOrderExists, "order already exists"},
	{CodeInsufficientBalance, ErrInsufficientBalance, "insufficient balance"},
	{CodeOrderConfirmed, ErrOrderConfirmed, "order already confirmed (a 1.0 errcode, on no 2.0 page)"},
	{CodeOrderRefunded, ErrOrderRefunded, "order already refunded (a 1.0 errcode, on no 2.0 page)"},
	{CodeV2SessionKeyExpired, ErrSessionExpired, "session_key expired"},
	{CodeNoPermission, ErrNoPermission, "no permission (a 1.0 errcode, on no 2.0 page)"},
	{CodeInvalidParam, ErrInvalidParam, "parameter error"},
	{CodeV2OrderNotFound, ErrOrderNotFound, "out_trade_no not found"},
	{CodeInvalidCredential, ErrAccessTokenInvalid, "access_token invalid or expired"},
	{CodeInvalidAccessToken, ErrAccessTokenInvalid, "access_token invalid or expired"},
	{CodeAccessTokenExpired, ErrAccessTokenInvalid, "access_token invalid or expired"},
}

// v2DoneCodes is, for each 2.0 API that moves coins, the errcode that says
// its bill_no (a refund's own) was applied before.
var v2DoneCodes = map[string]int{APIPay: CodeOrderExists, APIPresent: CodeOrderExists, APICancelPay: CodeOrderExists}

// The errcodes whose meaning differs in virtual payment 2.0.
const (
	CodeV2SignatureInvalid  = 90010 // signature (session_key) wrong: ErrMpSigInvalid
	CodeV2PaySigInvalid     = 90011 // pay_sig wrong: ErrSigInvalid
	CodeV2SessionKeyExpired = 90016 // session_key expired: ErrSessionExpired
	CodeV2OrderNotFound     = 90019 // out_trade_no not found: ErrOrderNotFound
)
