package midas

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Sentinels for the documented errcodes. An *APIError matches the sentinel of
// its Code, as the version that answered means it (see the tables v1Errcodes
// in v1.go and v2Errcodes in v2.go), under errors.Is:
//
//	if errors.Is(err, midas.ErrInsufficientBalance) { ... }
//
// Each comment gives the errcodes a sentinel matches in 1.0 and in 2.0. A
// sentinel's own text is its name in words; an *APIError says the meaning of
// its code in its version.
var (
	ErrSystemBusy          = errors.New("midas: system busy")                             // 1.0: -1; 2.0: -1
	ErrOrderNotFound       = errors.New("midas: order does not exist")                    // 1.0: 90000; 2.0: 90000, 90019
	ErrMpSigInvalid        = errors.New("midas: mp_sig is wrong")                         // 1.0: 90009; 2.0: 90009, 90010 (signature)
	ErrSessionExpired      = errors.New("midas: player not logged in or session expired") // 1.0: 90010; 2.0: 90016
	ErrSigInvalid          = errors.New("midas: sig is wrong")                            // 1.0: 90011; 2.0: 90011 (pay_sig)
	ErrOrderExists         = errors.New("midas: order already exists")                    // 1.0: 90012; 2.0: 90012
	ErrInsufficientBalance = errors.New("midas: insufficient balance")                    // 1.0: 90013; 2.0: 90013
	ErrOrderConfirmed      = errors.New("midas: order already confirmed")                 // 1.0: 90014; 2.0: 90014
	ErrOrderRefunded       = errors.New("midas: order already refunded")                  // 1.0: 90015; 2.0: 90015
	ErrOrderProcessing     = errors.New("midas: order being processed")                   // 1.0: 90016; 2.0: none (90016 is ErrSessionExpired)
	ErrNoPermission        = errors.New("midas: no permission")                           // 1.0: 90017; 2.0: 90017
	ErrInvalidParam        = errors.New("midas: parameter error")                         // 1.0: 90018; 2.0: 90018

	// ErrAccessTokenInvalid matches errcodes 40001, 40014 and 42001: the
	// access_token was rejected as invalid or expired.
	ErrAccessTokenInvalid = errors.New("midas: access_token invalid or expired")

	// ErrInvalidRequest matches every error for bad input, caught before any
	// network call.
	ErrInvalidRequest = errors.New("midas: invalid request")

	// ErrOutcomeUnknown matches an error after which the coins of a pay,
	// present or cancelpay may or may not have moved: an attempt was sent and
	// its answer lost (timeout, dropped connection, 5xx, errcode -1, an
	// unreadable body), and no later answer settled it. It is an
	// *OutcomeUnknownError and matches no other sentinel: check it first.
	// Settle it with SettlePay, SettlePresent or SettleCancelPay, never by
	// refunding it (see LateLandingWindow).
	ErrOutcomeUnknown = errors.New("midas: outcome unknown")

	// ErrNotSent matches an attempt that provably never reached the server
	// (dial or DNS failure, TLS handshake failure, context done before
	// sending, and, through net/http's own *http.Transport, no connection
	// yet when the attempt's time ran out). When every attempt of a call was
	// not sent, nothing moved.
	ErrNotSent = errors.New("midas: request not sent")

	// ErrMalformedResponse matches a 2xx answer that could not be understood:
	// not JSON, too large, truncated, a field of the wrong type, or no errcode.
	ErrMalformedResponse = errors.New("midas: malformed response")
)

// The errcodes documented for the Midas APIs and for access tokens.
const (
	CodeSystemBusy          = -1
	CodeOrderNotFound       = 90000
	CodeMpSigInvalid        = 90009
	CodeSessionExpired      = 90010
	CodeSigInvalid          = 90011
	CodeOrderExists         = 90012
	CodeInsufficientBalance = 90013
	CodeOrderConfirmed      = 90014
	CodeOrderRefunded       = 90015
	CodeOrderProcessing     = 90016
	CodeNoPermission        = 90017
	CodeInvalidParam        = 90018
	CodeInvalidCredential   = 40001
	CodeInvalidAccessToken  = 40014
	CodeAccessTokenExpired  = 42001
)

// errcode is one row of a version's errcode table: a documented errcode,
// the sentinel it matches and what it means in that version, in words. The
// two tables (v1Errcodes, v2Errcodes) are the one place an errcode's meaning
// is written: APIError.Is, APIError.Error, APIError.Meaning, CodeText, the
// midas command and the table in docs/errors.md all read them.
type errcode struct {
	code    int
	err     error
	meaning string
}

// errcodeTable is the documented errcodes of one version.
type errcodeTable []errcode

// lookup returns the row of code, or nil for an undocumented one.
func (t errcodeTable) lookup(code int) *errcode {
	for i := range t {
		if t[i].code == code {
			return &t[i]
		}
	}
	return nil
}

// errcodesOf is the table of version v; an invalid v reads 1.0's (NewClient
// rejects it, so only a hand-made APIError can carry one).
func errcodesOf(v Version) errcodeTable {
	if g, ok := generations[v]; ok {
		return g.errcodes
	}
	return v1Errcodes
}

// CodeText says in words what an errcode means in 1.0, or "" for an unknown
// one. APIError.Meaning says it in the version that answered.
func CodeText(code int) string {
	if e := v1Errcodes.lookup(code); e != nil {
		return e.meaning
	}
	return ""
}

// APIError is an answer from WeChat whose errcode is not 0. Every errcode,
// documented or not, comes back as an *APIError; errors.Is matches the
// documented ones against their sentinels.
type APIError struct {
	API     string // "getbalance", "pay", "cancelpay", "present" or "queryorderinfo"
	Code    int    // errcode
	Message string // errmsg, as WeChat sent it
	BillNo  string // the request's bill_no (a 2.0 refund's own), if it had one
	// Version is the generation that answered: errcodes mean different
	// things in each. stable_token belongs to neither; its errors carry V1,
	// whose table reads the access_token codes as 2.0's does.
	Version Version
}

// Error names the API, the bill_no, the errcode and its meaning in the
// version that answered, and errmsg.
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("midas: ")
	b.WriteString(generations[e.Version].label)
	b.WriteString(e.API)
	if e.BillNo != "" {
		b.WriteString(" bill_no=")
		b.WriteString(e.BillNo)
	}
	b.WriteString(": errcode ")
	b.WriteString(strconv.Itoa(e.Code))
	if t := e.Meaning(); t != "" {
		b.WriteString(" (")
		b.WriteString(t)
		b.WriteString(")")
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(strconv.Quote(e.Message))
	}
	return b.String()
}

// Is reports whether target is the sentinel of e.Code, as e.Version means
// it (2.0's 90010 is ErrMpSigInvalid, 1.0's ErrSessionExpired).
func (e *APIError) Is(target error) bool {
	row := errcodesOf(e.Version).lookup(e.Code)
	return row != nil && row.err == target
}

// Meaning says in words what e.Code means in e.Version (2.0's 90010
// "signature is wrong (session_key)", 1.0's "player not logged in or session
// expired"), or "" for an errcode neither table documents.
func (e *APIError) Meaning() string {
	if row := errcodesOf(e.Version).lookup(e.Code); row != nil {
		return row.meaning
	}
	return ""
}

// AlreadyApplied reports whether e is the answer, for e.API in e.Version, to
// a bill_no applied by an earlier call: 90012 for pay and present, and for
// cancelpay 90015 in 1.0 and 90012 in 2.0. The coins moved then; a Settle
// helper reads it as that call's success.
func (e *APIError) AlreadyApplied() bool {
	code, ok := generations[e.Version].doneCodes[e.API]
	return ok && code == e.Code
}

// HTTPError is an answer whose HTTP status is not 2xx. Its body is not kept:
// WeChat answers errors with status 200, so another status comes from
// something in between.
type HTTPError struct {
	API        string // the API called
	StatusCode int    // the HTTP status; a 3xx is a redirect, which is never followed
	BillNo     string // the request's bill_no, if it had one
}

// Error names the API, the bill_no and the status.
func (e *HTTPError) Error() string {
	s := "midas: " + e.API
	if e.BillNo != "" {
		s += " bill_no=" + e.BillNo
	}
	return fmt.Sprintf("%s: HTTP status %d", s, e.StatusCode)
}

// LateLandingWindow is how long after the last attempt of a call whose
// outcome was unknown an attempt may still land, by our recommendation: a
// Settle helper's refusal (90013 for a pay; 90000 or 90014 for a cancelpay)
// is final only from a settle begun after it. Within it, keep the order
// open and settle again later; a success is final at once. A settle whose
// own attempt was unclear never returns a refusal (its attempt may land
// after it): it ends unknown, and its last attempt starts a new window.
//
// No client can know when WeChat drops a request it holds, and the pages
// give no bound; they say only that a payment can land "slightly late", and
// a bill_no stays open for 48 hours. The client gives an attempt at most
// DefaultTimeout (10 s) unless told otherwise; ten minutes is sixty times
// that and ten times the longest timeout of common HTTP gateways (60 s), yet
// small against the 48 hours an order stays open, so waiting it costs a
// player little. Raise it if your attempts are allowed longer.
const LateLandingWindow = 10 * time.Minute

// OutcomeUnknownError says a pay, present or cancelpay may or may not have
// been applied. It matches ErrOutcomeUnknown and no other sentinel of this
// package, so that it can never be read as a refusal: attempt 1 may have moved
// the coins even though the last attempt was answered 90013. The last
// attempt's error is in Err, for logs and diagnosis. Errors from outside this
// package (context.DeadlineExceeded, net errors) still match through Is.
//
// Settle it with the Settle helper of the same API (SettlePay, SettlePresent,
// SettleCancelPay) and the same request: a plain Pay with that bill_no is
// answered 90012 (ErrOrderExists), which says nothing of the earlier attempt.
// Never resolve it by refunding: an attempt may still be on its way inside
// WeChat, so a CancelPay can answer 90000 ("no such pay") and the pay land
// after it. The same holds for a settle's refusal: see LateLandingWindow.
type OutcomeUnknownError struct {
	API      string // the API called: "pay", "present" or "cancelpay"
	BillNo   string // the idempotency key to settle with (for a 2.0 cancelpay, the refund's bill_no)
	Attempts int    // attempts made
	Err      error  // the last attempt's error
}

// Error names the API, the bill_no, the attempts, what to do next and the
// last attempt's error.
func (e *OutcomeUnknownError) Error() string {
	return fmt.Sprintf("midas: %s bill_no=%s: outcome unknown after %d attempt(s), the coins may or may not have moved "+
		"(settle with the Settle helper and the same request, never with a refund): last attempt: %v", e.API, e.BillNo, e.Attempts, e.Err)
}

// Is matches ErrOutcomeUnknown, never another sentinel of this package, and
// otherwise whatever Err matches (context.DeadlineExceeded, ...).
func (e *OutcomeUnknownError) Is(target error) bool {
	if target == ErrOutcomeUnknown {
		return true
	}
	if isOwnSentinel(target) {
		return false
	}
	return errors.Is(e.Err, target)
}

// isOwnSentinel reports whether target is one of this package's sentinels.
func isOwnSentinel(target error) bool {
	switch target {
	case ErrInvalidRequest, ErrOutcomeUnknown, ErrMalformedResponse, ErrNotSent:
		return true
	}
	for _, g := range generations {
		for _, row := range g.errcodes {
			if row.err == target {
				return true
			}
		}
	}
	return false
}

// notSentError is an attempt that provably never reached the server: the
// connection was never made (dial, DNS, TLS handshake) or the context was
// done before sending. It is not ambiguous.
type notSentError struct{ err error }

func (e *notSentError) Error() string        { return "not sent: " + e.err.Error() }
func (e *notSentError) Unwrap() error        { return e.err }
func (e *notSentError) Is(target error) bool { return target == ErrNotSent }

// InvalidRequestError is bad input, found before anything was sent: a field
// of a request or of Config, or an option. It matches ErrInvalidRequest. A
// program can say which of its own settings is wrong from Field without
// reading the message; NewClient's error lists several (see NewClient).
type InvalidRequestError struct {
	// Field is the Go name of what was refused: a request or Config field
	// ("BillNo", "AppKey"), an option ("WithMaxRetries"), or the method
	// called when the version has no such API ("QueryOrder").
	Field string
	// Version is the generation whose rules refused it: the client's, or
	// for the package functions the one they check (CheckBillNo: V1,
	// CheckOutTradeNo: V2).
	Version Version
	// Reason says what is wrong, never quoting a secret.
	Reason string
}

// Error reads "midas: invalid request: Field: Reason".
func (e *InvalidRequestError) Error() string {
	return "midas: invalid request: " + e.Field + ": " + e.Reason
}

// Is matches ErrInvalidRequest.
func (e *InvalidRequestError) Is(target error) bool { return target == ErrInvalidRequest }

// invalid returns an error for bad input, matching ErrInvalidRequest, under
// 1.0's rules unless its caller says otherwise (see inVersion).
func invalid(field, format string, args ...any) error {
	return &InvalidRequestError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// inVersion sets the version on an *InvalidRequestError from the checks
// both versions share, so that it names the rules of the client that
// refused it; other errors pass through.
func inVersion(err error, v Version) error {
	if e, ok := err.(*InvalidRequestError); ok {
		e.Version = v
	}
	return err
}
