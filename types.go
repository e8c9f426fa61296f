package midas

import (
	"fmt"
	"log/slog"
)

// Env selects the Midas environment. Production and sandbox have different
// paths and different AppKeys.
type Env int

const (
	Production Env = iota
	Sandbox
)

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
	switch v {
	case V1:
		return "1.0"
	case V2:
		return "2.0"
	}
	return fmt.Sprintf("Version(%d)", int(v))
}

func (v Version) valid() bool { return v == V1 || v == V2 }

func (e Env) valid() bool { return e == Production || e == Sandbox }

// Path returns the path of api ("getbalance", "pay", "cancelpay", "present")
// in this environment. It is also the org_loc that both signatures cover.
func (e Env) Path(api string) string {
	if e == Sandbox {
		return "/cgi-bin/midas/sandbox/" + api
	}
	return "/cgi-bin/midas/" + api
}

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
type BalanceRequest struct {
	OpenID     string // the player's openid
	SessionKey string // the player's session_key; when set, the request carries mp_sig
	ZoneID     string // zone_id; default "1"; with roles "zoneID_roleID"
	PF         string // pf; default "android"
	UserIP     string // user_ip; optional
}

// PayRequest deducts coins from a player (pay).
type PayRequest struct {
	OpenID     string
	SessionKey string
	ZoneID     string
	PF         string
	UserIP     string
	// BillNo identifies the deduction: a repeated bill_no is never deducted
	// twice, which is what makes a retry safe. 1–63 of [0-9A-Za-z_-*@].
	BillNo    string
	Amount    int64  // amt: coins to deduct, positive
	PayItem   string // pay_item; optional
	AppRemark string // app_remark; optional, written to the account statement
}

// CancelPayRequest refunds an earlier deduction by its bill_no (cancelpay).
type CancelPayRequest struct {
	OpenID     string
	SessionKey string
	ZoneID     string
	PF         string
	UserIP     string
	BillNo     string // the bill_no of the pay to cancel
	PayItem    string // pay_item; optional
}

// PresentRequest gifts coins to a player (present).
type PresentRequest struct {
	OpenID     string
	SessionKey string
	ZoneID     string
	PF         string
	UserIP     string
	BillNo     string // a repeated bill_no never gifts twice
	Count      int64  // present_counts: coins to gift, positive
}

// BalanceResponse is a player's balance.
type BalanceResponse struct {
	Balance    int64 `json:"balance"`     // coins, gifted ones included
	GenBalance int64 `json:"gen_balance"` // gifted coins
	FirstSave  bool  `json:"first_save"`  // first_save 1 (true) or 2 (false): "satisfies the historical first top-up"
	SaveAmt    int64 `json:"save_amt"`    // coins from all top-ups
	SaveSum    int64 `json:"save_sum"`    // coins ever held
	CostSum    int64 `json:"cost_sum"`    // coins ever spent
	PresentSum int64 `json:"present_sum"` // coins ever gifted
}

// PayResponse is the result of a deduction.
type PayResponse struct {
	BillNo        string `json:"bill_no"`
	Balance       int64  `json:"balance"`      // balance after the deduction
	UsedGenAmount int64  `json:"used_gen_amt"` // used_gen_amt (or used_gen_balance): gifted coins in this deduction
	// AlreadyProcessed reports that an attempt whose outcome was unclear had
	// in fact been applied: a retry with the same bill_no was answered 90012
	// ("order already exists"). The deduction happened once; Balance and
	// UsedGenAmount are then unknown and left at 0 (call GetBalance).
	AlreadyProcessed bool `json:"already_processed"`
}

// CancelPayResponse is the result of a refund.
type CancelPayResponse struct {
	BillNo string `json:"bill_no"`
	// AlreadyProcessed reports that a retry after an unclear attempt was
	// answered 90015 ("order already refunded"): the refund happened once.
	AlreadyProcessed bool `json:"already_processed"`
}

// PresentResponse is the result of a gift.
type PresentResponse struct {
	BillNo  string `json:"bill_no"`
	Balance int64  `json:"balance"` // balance after the gift
	// AlreadyProcessed reports that a retry after an unclear attempt was
	// answered 90012: the gift happened once; Balance is then unknown (0).
	AlreadyProcessed bool `json:"already_processed"`
}

// Secrets are masked wherever a value is printed or logged: fmt's verbs go
// through Format, slog through LogValue.

const redacted = "REDACTED"

func mask(s string) string {
	if s == "" {
		return ""
	}
	return redacted
}

type (
	redactedBalanceRequest   BalanceRequest
	redactedPayRequest       PayRequest
	redactedCancelPayRequest CancelPayRequest
	redactedPresentRequest   PresentRequest
)

// Format prints r with its SessionKey masked.
func (r BalanceRequest) Format(f fmt.State, verb rune) {
	r.SessionKey = mask(r.SessionKey)
	fmt.Fprintf(f, fmt.FormatString(f, verb), redactedBalanceRequest(r))
}

// Format prints r with its SessionKey masked.
func (r PayRequest) Format(f fmt.State, verb rune) {
	r.SessionKey = mask(r.SessionKey)
	fmt.Fprintf(f, fmt.FormatString(f, verb), redactedPayRequest(r))
}

// Format prints r with its SessionKey masked.
func (r CancelPayRequest) Format(f fmt.State, verb rune) {
	r.SessionKey = mask(r.SessionKey)
	fmt.Fprintf(f, fmt.FormatString(f, verb), redactedCancelPayRequest(r))
}

// Format prints r with its SessionKey masked.
func (r PresentRequest) Format(f fmt.State, verb rune) {
	r.SessionKey = mask(r.SessionKey)
	fmt.Fprintf(f, fmt.FormatString(f, verb), redactedPresentRequest(r))
}

// LogValue logs r without its SessionKey.
func (r BalanceRequest) LogValue() slog.Value {
	return slog.GroupValue(playerAttrs(r.OpenID, r.ZoneID, r.PF)...)
}

// LogValue logs r without its SessionKey.
func (r PayRequest) LogValue() slog.Value {
	return slog.GroupValue(append(playerAttrs(r.OpenID, r.ZoneID, r.PF),
		slog.String("bill_no", r.BillNo), slog.Int64("amt", r.Amount))...)
}

// LogValue logs r without its SessionKey.
func (r CancelPayRequest) LogValue() slog.Value {
	return slog.GroupValue(append(playerAttrs(r.OpenID, r.ZoneID, r.PF),
		slog.String("bill_no", r.BillNo))...)
}

// LogValue logs r without its SessionKey.
func (r PresentRequest) LogValue() slog.Value {
	return slog.GroupValue(append(playerAttrs(r.OpenID, r.ZoneID, r.PF),
		slog.String("bill_no", r.BillNo), slog.Int64("present_counts", r.Count))...)
}

func playerAttrs(openID, zoneID, pf string) []slog.Attr {
	return []slog.Attr{slog.String("openid", openID), slog.String("zone_id", zoneID), slog.String("pf", pf)}
}
