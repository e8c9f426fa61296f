package midas

import (
	"encoding/json"
	"fmt"
	"time"
)

// Env selects the Midas environment. Production and sandbox have different
// paths and different AppKeys.
type Env int

// The environments. 1.0 calls the sandbox on its own path; 2.0 sends env in
// the body. Each has its own AppKey.
const (
	Production Env = iota // live payments
	Sandbox               // test payments, with the sandbox AppKey
)

// String returns "production" or "sandbox".
func (e Env) String() string {
	switch e {
	case Production:
		return "production"
	case Sandbox:
		return "sandbox"
	}
	return fmt.Sprintf("Env(%d)", int(e))
}

// Version is the generation of Midas virtual payment a game is on. The
// generations differ in paths, body fields, signatures and errcode meanings;
// never mix their parameters (a 2.0 OfferId or AppKey on a 1.0 path fails).
type Version int

const (
	// V1 is virtual payment 1.0: /cgi-bin/midas/*, sig and mp_sig in the
	// body, a sandbox path. The zero value, so existing configs keep working.
	V1 Version = iota
	// V2 is virtual payment 2.0: /wxa/game/*, pay_sig and signature in the
	// query string over the exact body bytes, env in the body.
	V2
)

// String returns "1.0" or "2.0".
func (v Version) String() string {
	if g, ok := generations[v]; ok {
		return g.name
	}
	return fmt.Sprintf("Version(%d)", int(v))
}

func (v Version) valid() bool { _, ok := generations[v]; return ok }

func (e Env) valid() bool { return e == Production || e == Sandbox }

// The API names, as they appear in paths and in errors.
const (
	APIGetBalance = "getbalance"
	APIPay        = "pay"
	APICancelPay  = "cancelpay"
	APIPresent    = "present"
)

// Defaults for the optional request fields.
const (
	DefaultZoneID = "1"
	DefaultPF     = "android"
)

// BalanceRequest asks for a player's balance (getbalance).
//
// The player fields are shared by every request type: OpenID, SessionKey,
// ZoneID, PF and UserIP mean the same in each.
type BalanceRequest struct {
	OpenID string // the player's openid
	// SessionKey is the player's session_key from code2Session, the base64
	// text as WeChat gave it. 1.0: optional; when set the request carries
	// mp_sig. 2.0: required, it keys the signature of every API.
	SessionKey string
	ZoneID     string // zone_id; default "1"; 1.0 with roles: "zoneID_roleID"; 2.0: a zone published for the env
	PF         string // pf (1.0 only); default "android"; must be empty in 2.0
	UserIP     string // user_ip: the player's IP; optional, sent when set
	// RechargeCenter (2.0 only) asks for the recharge-centre balance
	// (coin_type=1) instead of the game's coins; ZoneID is then "1".
	RechargeCenter bool
}

// PayRequest deducts coins from a player (pay).
type PayRequest struct {
	OpenID     string // as in BalanceRequest
	SessionKey string // as in BalanceRequest
	ZoneID     string // as in BalanceRequest
	PF         string // as in BalanceRequest (1.0 only)
	UserIP     string // as in BalanceRequest
	// BillNo identifies the deduction: a repeated bill_no is never deducted
	// twice, which is what makes a retry safe. 1.0: 1–63 of [0-9A-Za-z_-*@];
	// 2.0: 1–63 of [0-9A-Za-z_-], not starting with '_'.
	BillNo    string
	Amount    int64  // coins to deduct, positive (1.0 amt, 2.0 amount)
	PayItem   string // optional item info (1.0 pay_item, 2.0 payitem)
	AppRemark string // optional note for the account statement (1.0 app_remark, 2.0 remark)
}

// CancelPayRequest refunds an earlier deduction by its bill_no (cancelpay).
type CancelPayRequest struct {
	OpenID     string // as in BalanceRequest
	SessionKey string // as in BalanceRequest
	ZoneID     string // as in BalanceRequest
	PF         string // as in BalanceRequest (1.0 only)
	UserIP     string // as in BalanceRequest
	BillNo     string // the bill_no of the pay to refund, in both versions (2.0 sends it as pay_bill_no)
	PayItem    string // pay_item (1.0 only); optional
	// RefundBillNo (2.0 only, required) is the id of this return, sent as
	// bill_no: the refund's idempotency key. Each partial return needs a
	// fresh one; a retry of the same return keeps it.
	RefundBillNo string
	// Amount (2.0 only, required) is the coins to return: partial and
	// repeated returns are allowed up to the amount paid.
	Amount int64
}

// PresentRequest gifts coins to a player (present).
type PresentRequest struct {
	OpenID     string // as in BalanceRequest
	SessionKey string // as in BalanceRequest
	ZoneID     string // as in BalanceRequest
	PF         string // as in BalanceRequest (1.0 only)
	UserIP     string // as in BalanceRequest
	BillNo     string // a repeated bill_no never gifts twice; rules as PayRequest.BillNo
	Count      int64  // coins to gift, positive (1.0 present_counts, 2.0 amount)
}

// OrderKind says what a queried order bought (queryorderinfo's biz_id).
type OrderKind int

// The kinds of order QueryOrder can look up.
const (
	CoinOrder OrderKind = 1 // a coin top-up (wx.requestMidasPayment)
	ItemOrder OrderKind = 2 // an item purchase (wx.requestMidasPaymentGameItem)
)

// QueryOrderRequest asks for an order's state (queryorderinfo, 2.0 only).
type QueryOrderRequest struct {
	OpenID     string    // as in BalanceRequest
	SessionKey string    // as in BalanceRequest; required
	ZoneID     string    // as in BalanceRequest
	UserIP     string    // as in BalanceRequest
	OutTradeNo string    // the order's out_trade_no; platform-made ones start with '_'
	Kind       OrderKind // CoinOrder or ItemOrder
}

// QueryOrderResponse is an order's state.
type QueryOrderResponse struct {
	OutTradeNo    string    `json:"out_trade_no"`     // the order's out_trade_no
	ProductID     string    `json:"product_id"`       // the item bought
	Paid          bool      `json:"paid"`             // pay_state 2
	Delivered     bool      `json:"delivered"`        // deliver_state 2 (for coins: balance credited)
	PaidAt        time.Time `json:"paid_at,omitzero"` // pay_finish_time; zero (and left out of JSON, Go 1.24+) when unpaid
	MchOrderNo    string    `json:"mch_order_no"`     // WeChat Pay merchant order no (WeChat Pay channel only)
	TransactionID string    `json:"transaction_id"`   // WeChat Pay transaction id (WeChat Pay channel only)
}

// BalanceResponse is a player's balance. The fields carry 1.0's names; a 2.0
// answer is mapped onto them: present_balance → GenBalance, sum_save →
// SaveAmt, sum_balance → SaveSum, sum_cost → CostSum, sum_present →
// PresentSum, and first_save (a boolean in 2.0) → FirstSave. Every field is
// in the answer: one that lacks any is ErrMalformedResponse, so a 0 here is
// a 0 the server said.
type BalanceResponse struct {
	Balance    int64 `json:"balance"`     // coins, gifted ones included
	GenBalance int64 `json:"gen_balance"` // gifted coins
	FirstSave  bool  `json:"first_save"`  // first_save 1 (true) or 2 (false): "satisfies the historical first top-up"
	SaveAmt    int64 `json:"save_amt"`    // coins from all top-ups
	SaveSum    int64 `json:"save_sum"`    // coins ever held
	CostSum    int64 `json:"cost_sum"`    // coins ever spent
	PresentSum int64 `json:"present_sum"` // coins ever gifted
}

// PayResponse is the result of a deduction. In 2.0, used_present_amount is
// mapped onto UsedGenAmount.
//
// A fresh deduction's answer always carries balance and used_gen_amt (one
// without them is ErrMalformedResponse). After AlreadyProcessed it carries
// neither: BalanceKnown and UsedGenAmountKnown are then false, the numbers
// 0 and not a balance (call GetBalance), and JSON leaves them out.
type PayResponse struct {
	BillNo        string // the deduction's bill_no
	Balance       int64  // balance after the deduction, when BalanceKnown
	BalanceKnown  bool   // the answer carried the balance
	UsedGenAmount int64  // used_gen_amt (or used_gen_balance): gifted coins in this deduction, when UsedGenAmountKnown
	// UsedGenAmountKnown reports that the answer carried used_gen_amt.
	UsedGenAmountKnown bool
	// AlreadyProcessed reports that an attempt whose outcome was unclear had
	// in fact been applied: a retry with the same bill_no was answered 90012
	// ("order already exists"). The deduction happened once.
	AlreadyProcessed bool
}

// MarshalJSON encodes bill_no, balance and used_gen_amt (each only when the
// answer carried it) and already_processed.
func (r PayResponse) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		BillNo           string `json:"bill_no"`
		Balance          *int64 `json:"balance,omitempty"`
		UsedGenAmount    *int64 `json:"used_gen_amt,omitempty"`
		AlreadyProcessed bool   `json:"already_processed"`
	}{r.BillNo, known(r.Balance, r.BalanceKnown), known(r.UsedGenAmount, r.UsedGenAmountKnown), r.AlreadyProcessed})
}

// CancelPayResponse is the result of a refund. 1.0's answer carries no
// balance; 2.0's carries one on some pages only: BalanceKnown says whether
// this one did.
type CancelPayResponse struct {
	BillNo       string // 1.0: the pay's bill_no; 2.0: the refund's (RefundBillNo)
	Balance      int64  // balance after the return, when BalanceKnown; else 0, not a balance
	BalanceKnown bool   // the answer carried the balance (2.0 only, and not always)
	// AlreadyProcessed reports that a retry after an unclear attempt was
	// answered 90015 in 1.0 ("order already refunded") or 90012 in 2.0: the
	// refund happened once.
	AlreadyProcessed bool
}

// MarshalJSON encodes bill_no, balance (only when the answer carried it)
// and already_processed.
func (r CancelPayResponse) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		BillNo           string `json:"bill_no"`
		Balance          *int64 `json:"balance,omitempty"`
		AlreadyProcessed bool   `json:"already_processed"`
	}{r.BillNo, known(r.Balance, r.BalanceKnown), r.AlreadyProcessed})
}

// PresentResponse is the result of a gift. A fresh gift's answer always
// carries the balance; after AlreadyProcessed it does not (BalanceKnown
// false, Balance 0 and not a balance).
type PresentResponse struct {
	BillNo       string // the gift's bill_no
	Balance      int64  // balance after the gift, when BalanceKnown
	BalanceKnown bool   // the answer carried the balance
	// AlreadyProcessed reports that a retry after an unclear attempt was
	// answered 90012: the gift happened once.
	AlreadyProcessed bool
}

// MarshalJSON encodes bill_no, balance (only when the answer carried it)
// and already_processed.
func (r PresentResponse) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		BillNo           string `json:"bill_no"`
		Balance          *int64 `json:"balance,omitempty"`
		AlreadyProcessed bool   `json:"already_processed"`
	}{r.BillNo, known(r.Balance, r.BalanceKnown), r.AlreadyProcessed})
}

// known is &n when ok, else nil: a number JSON leaves out when unknown.
func known(n int64, ok bool) *int64 {
	if !ok {
		return nil
	}
	return &n
}
