package midas

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
)

// Secrets are masked wherever a value is printed, logged or encoded: fmt's
// verbs go through Format, log/slog through LogValue, encoding/json through
// MarshalJSON. A secret that is set shows as REDACTED, so a log still says
// whether it was there.

const redacted = "REDACTED"

func mask(s string) string {
	if s == "" {
		return ""
	}
	return redacted
}

type (
	redactedConfig            Config
	redactedBalanceRequest    BalanceRequest
	redactedPayRequest        PayRequest
	redactedCancelPayRequest  CancelPayRequest
	redactedPresentRequest    PresentRequest
	redactedQueryOrderRequest QueryOrderRequest
	redactedGameItemRequest   GameItemRequest
)

// Format prints c with its AppKey masked.
func (c Config) Format(f fmt.State, verb rune) {
	c.AppKey = mask(c.AppKey)
	fmt.Fprintf(f, fmt.FormatString(f, verb), redactedConfig(c))
}

// LogValue logs c without its AppKey.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("appid", c.AppID), slog.String("offer_id", c.OfferID),
		slog.String("env", c.Env.String()), slog.String("version", c.Version.String()))
}

// MarshalJSON encodes c with its AppKey masked and its token source by name.
func (c Config) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		AppID, OfferID, AppKey, Env, Version, AccessToken string
	}{c.AppID, c.OfferID, mask(c.AppKey), c.Env.String(), c.Version.String(), fmt.Sprintf("%T", c.AccessToken)})
}

// Format never prints the token.
func (t staticToken) Format(f fmt.State, _ rune) {
	io.WriteString(f, "midas.StaticToken("+mask(string(t))+")")
}

// LogValue never logs the token.
func (t staticToken) LogValue() slog.Value {
	return slog.StringValue("midas.StaticToken(" + mask(string(t)) + ")")
}

// MarshalJSON never encodes the token.
func (t staticToken) MarshalJSON() ([]byte, error) { return json.Marshal(mask(string(t))) }

// LogValue logs the appid, never the secret or the token.
func (ts *StableTokenSource) LogValue() slog.Value {
	return slog.GroupValue(slog.String("type", "StableTokenSource"), slog.String("appid", ts.appID))
}

// MarshalJSON encodes the appid, never the secret or the token.
func (ts *StableTokenSource) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct{ AppID string }{ts.appID})
}

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

// Format prints r with its SessionKey masked.
func (r QueryOrderRequest) Format(f fmt.State, verb rune) {
	r.SessionKey = mask(r.SessionKey)
	fmt.Fprintf(f, fmt.FormatString(f, verb), redactedQueryOrderRequest(r))
}

// MarshalJSON encodes r with its SessionKey masked.
func (r BalanceRequest) MarshalJSON() ([]byte, error) {
	r.SessionKey = mask(r.SessionKey)
	return json.Marshal(redactedBalanceRequest(r))
}

// MarshalJSON encodes r with its SessionKey masked.
func (r PayRequest) MarshalJSON() ([]byte, error) {
	r.SessionKey = mask(r.SessionKey)
	return json.Marshal(redactedPayRequest(r))
}

// MarshalJSON encodes r with its SessionKey masked.
func (r CancelPayRequest) MarshalJSON() ([]byte, error) {
	r.SessionKey = mask(r.SessionKey)
	return json.Marshal(redactedCancelPayRequest(r))
}

// MarshalJSON encodes r with its SessionKey masked.
func (r PresentRequest) MarshalJSON() ([]byte, error) {
	r.SessionKey = mask(r.SessionKey)
	return json.Marshal(redactedPresentRequest(r))
}

// MarshalJSON encodes r with its SessionKey masked.
func (r QueryOrderRequest) MarshalJSON() ([]byte, error) {
	r.SessionKey = mask(r.SessionKey)
	return json.Marshal(redactedQueryOrderRequest(r))
}

// Format prints r with its SessionKey masked.
func (r GameItemRequest) Format(f fmt.State, verb rune) {
	r.SessionKey = mask(r.SessionKey)
	fmt.Fprintf(f, fmt.FormatString(f, verb), redactedGameItemRequest(r))
}

// MarshalJSON encodes r with its SessionKey masked.
func (r GameItemRequest) MarshalJSON() ([]byte, error) {
	r.SessionKey = mask(r.SessionKey)
	return json.Marshal(redactedGameItemRequest(r))
}

// LogValue logs r without its SessionKey.
func (r GameItemRequest) LogValue() slog.Value {
	return slog.GroupValue(slog.String("product_id", r.ProductID), slog.Int64("quantity", r.Quantity),
		slog.Int64("price", r.Price), slog.String("out_trade_no", r.OutTradeNo), slog.String("zone_id", r.ZoneID))
}

// LogValue logs r without its SessionKey.
func (r BalanceRequest) LogValue() slog.Value {
	return slog.GroupValue(playerAttrs(r.OpenID, r.ZoneID, r.PF)...)
}

// LogValue logs r without its SessionKey.
func (r PayRequest) LogValue() slog.Value {
	return slog.GroupValue(append(playerAttrs(r.OpenID, r.ZoneID, r.PF),
		slog.String("bill_no", r.BillNo), slog.Int64("amount", r.Amount))...)
}

// LogValue logs r without its SessionKey.
func (r CancelPayRequest) LogValue() slog.Value {
	return slog.GroupValue(append(playerAttrs(r.OpenID, r.ZoneID, r.PF),
		slog.String("bill_no", r.BillNo), slog.String("refund_bill_no", r.RefundBillNo), slog.Int64("amount", r.Amount))...)
}

// LogValue logs r without its SessionKey.
func (r PresentRequest) LogValue() slog.Value {
	return slog.GroupValue(append(playerAttrs(r.OpenID, r.ZoneID, r.PF),
		slog.String("bill_no", r.BillNo), slog.Int64("count", r.Count))...)
}

// LogValue logs r without its SessionKey.
func (r QueryOrderRequest) LogValue() slog.Value {
	return slog.GroupValue(append(playerAttrs(r.OpenID, r.ZoneID, ""),
		slog.String("out_trade_no", r.OutTradeNo), slog.Int("biz_id", int(r.Kind)))...)
}

func playerAttrs(openID, zoneID, pf string) []slog.Attr {
	return []slog.Attr{slog.String("openid", openID), slog.String("zone_id", zoneID), slog.String("pf", pf)}
}

// redactedError replaces the text of an error that quoted a secret, keeping
// the chain below it for errors.Is and errors.As.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }

func (e *redactedError) Unwrap() error { return e.err }

// minMaskLen is the shortest secret masked wherever its text appears. A
// shorter one cannot be masked without mangling the message (a one-letter
// token would eat every such letter); it is kept out structurally instead:
// URLs are sanitized and no message of this package quotes a secret.
const minMaskLen = 16

// redact strips access_token from the URL of a *url.Error (net/http puts the
// full URL there), then masks any long secret still left in the text,
// keeping the chain for errors.Is (context.DeadlineExceeded and the like).
func redact(err error, secrets ...string) error {
	if ue, ok := err.(*url.Error); ok {
		cp := *ue
		cp.URL = sanitizeURL(ue.URL)
		err = &cp
	}
	msg := err.Error()
	out := msg
	for _, s := range secrets {
		if len(s) >= minMaskLen {
			out = strings.ReplaceAll(out, s, redacted)
		}
	}
	if out != msg {
		return &redactedError{msg: out, err: err}
	}
	return err
}

// sanitizeURL masks the access_token query parameter of a URL.
func sanitizeURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	q := u.Query()
	if q.Has(keyAccessToken) {
		q.Set(keyAccessToken, redacted)
		u.RawQuery = q.Encode()
	}
	return u.String()
}
