package midas

import (
	"context"
	"errors"
	"time"
)

// Observer receives the telemetry of a Client (set with WithObserver) and of
// a StableTokenSource: a start and an end for every logical call (Pay,
// Present, CancelPay, GetBalance, QueryOrder and each Settle helper), each
// attempt in between, and each stable_token fetch. Without one the client
// reports nothing and pays nothing for it: no allocation, no clock read.
//
// The package itself depends on no telemetry library; the module
// github.com/gomidas/midas/otelmidas adapts an Observer to OpenTelemetry
// spans and metrics. An Observer is called from the goroutine of the call it
// reports, concurrently for concurrent calls, so it must be safe for
// concurrent use and should return quickly.
//
// What it is given never holds a secret (AppKey, AppSecret, access_token,
// session_key) nor a player's openid: the identifiers it carries are the
// bill_no a support team looks orders up by. Err fields hold the error the
// caller gets, whose text is redacted of secrets as every error of this
// package is, but may quote WeChat's errmsg.
type Observer interface {
	// StartCall is called as a call begins, before its request is checked.
	// The context it returns is the one the call's attempts run under, so
	// a span started here parents the HTTP client's own; return ctx to
	// leave it as it is. The CallObserver receives the call's attempts and
	// its end; it must not be nil.
	StartCall(ctx context.Context, call CallInfo) (context.Context, CallObserver)
	// TokenRefreshed is called after each stable_token fetch of a
	// StableTokenSource made with WithObserver.
	TokenRefreshed(ctx context.Context, r TokenRefresh)
}

// CallObserver receives one call's attempts, in order, then its end.
type CallObserver interface {
	// Attempt is called after each attempt, once the client has decided
	// whether another follows (Attempt.Retry) and how long it waits first.
	Attempt(a Attempt)
	// End is called once, when the call returns.
	End(e CallEnd)
}

// CallInfo says which call is starting.
type CallInfo struct {
	API     string  // "pay", "present", "cancelpay", "getbalance" or "queryorderinfo"
	Version Version // the client's generation
	Env     Env     // the client's environment
	// Settle is set for SettlePay, SettlePresent and SettleCancelPay: the
	// call repeats an earlier one whose outcome was unknown.
	Settle bool
	// BillNo is the call's idempotency key: the bill_no of a pay or
	// present, the pay's bill_no of a 1.0 cancelpay, the refund's bill_no
	// of a 2.0 one; "" for getbalance and queryorderinfo.
	BillNo string
}

// CallClass is how a call ended, in a few classes meant for counting.
type CallClass string

// The classes of CallEnd.Class.
const (
	// ClassSuccess: the answer was a success.
	ClassSuccess CallClass = "success"
	// ClassAlreadyApplied: an unclear attempt had been applied, as a later
	// answer with the done code said (AlreadyProcessed on the response).
	ClassAlreadyApplied CallClass = "already_applied"
	// ClassRefused: WeChat answered with a non-zero errcode (CallEnd.ErrCode)
	// and nothing moved: an *APIError.
	ClassRefused CallClass = "refused"
	// ClassUnknown: the coins may or may not have moved; the error matches
	// ErrOutcomeUnknown and the call is to be settled.
	ClassUnknown CallClass = "unknown"
	// ClassNotSent: no attempt reached the server (no access_token, dial
	// or TLS failure, context done first): the error matches ErrNotSent.
	ClassNotSent CallClass = "not_sent"
	// ClassInvalidRequest: the request was refused before any network call
	// (ErrInvalidRequest).
	ClassInvalidRequest CallClass = "invalid_request"
	// ClassFailed: any other failure of a call that cannot have moved coins
	// or whose failure says so: a getbalance or queryorderinfo whose answer
	// was lost, unreadable or an HTTP error, for instance.
	ClassFailed CallClass = "failed"
)

// RetryReason says why an attempt is followed by another.
type RetryReason string

// The reasons of Attempt.Retry; "" means no attempt follows.
const (
	RetrySystemBusy      RetryReason = "system_busy"      // errcode -1
	RetryServerError     RetryReason = "http_5xx"         // an HTTP 5xx status
	RetryTransport       RetryReason = "transport"        // a transport error after the request may have been sent
	RetryNotSent         RetryReason = "not_sent"         // dial, DNS or TLS handshake failure
	RetryBodyRead        RetryReason = "body_read"        // a 2xx whose body could not be read
	RetryTokenRejected   RetryReason = "token_rejected"   // the access_token was rejected and has been refreshed
	RetryOrderProcessing RetryReason = "order_processing" // a settle answered "being processed"
	RetryMalformed       RetryReason = "malformed"        // a settle's answer could not be understood
)

// Attempt is one HTTP exchange of a call.
type Attempt struct {
	Number   int           // from 1
	Duration time.Duration // from sending to the answer decoded, or the error
	// StatusCode is the HTTP status of the answer; 0 when there was none.
	StatusCode int
	// ErrCode is the answer's errcode when it was not 0.
	ErrCode int
	// NotSent reports that the attempt provably never reached the server.
	NotSent bool
	// Retry says why another attempt follows, "" when none does.
	Retry RetryReason
	// Wait is the backoff before the next attempt (0 when none follows).
	Wait time.Duration
	// Err is the attempt's error, nil for a success.
	Err error
}

// CallEnd is how a call ended.
type CallEnd struct {
	Class    CallClass     // how it ended
	ErrCode  int           // the errcode of a ClassRefused call, else 0
	Attempts int           // attempts made (0 for a request refused before sending)
	Duration time.Duration // from StartCall to the end
	Err      error         // what the call returned; nil for ClassSuccess and ClassAlreadyApplied
}

// TokenRefresh is one fetch of stable_token.
type TokenRefresh struct {
	// Forced is set for a force_refresh fetch, made when WeChat rejected
	// a token and a normal fetch gave the same one back.
	Forced   bool
	Duration time.Duration // from the request to the answer decoded
	// ErrCode is the errcode of an answer that refused the fetch.
	ErrCode int
	// Err is why the fetch failed, nil when it gave a token. It never
	// holds the AppSecret or a token.
	Err error
}

// WithObserver reports every call of the client (or every fetch of a
// StableTokenSource) to o: see Observer. Without it nothing is reported,
// at no cost.
func WithObserver(o Observer) Option {
	return func(s *settings) error {
		s.given = append(s.given, "WithObserver")
		if o == nil {
			return invalid("WithObserver", "nil Observer")
		}
		s.observer = o
		return nil
	}
}

// callObs is one call's report under way; nil when the client has no
// Observer, and every method is then a no-op that reads no clock.
type callObs struct {
	co       CallObserver
	start    time.Time
	attempts int
	last     Attempt // the latest attempt, not yet reported
	pending  bool
}

// startCall begins the report of cl, or returns nil without an Observer.
func (c *Client) startCall(ctx context.Context, cl *apiCall) (context.Context, *callObs) {
	if c.observer == nil {
		return ctx, nil
	}
	start := time.Now()
	ctx, co := c.observer.StartCall(ctx, CallInfo{API: cl.api, Version: c.d.version(), Env: c.env, Settle: cl.settling, BillNo: cl.billNo})
	return ctx, &callObs{co: co, start: start}
}

// now is the time an attempt starts, read only when reporting.
func (o *callObs) now() time.Time {
	if o == nil {
		return time.Time{}
	}
	return time.Now()
}

// attempted records attempt n, begun at start, with its result; it is
// reported once do decides whether another follows.
func (o *callObs) attempted(n int, start time.Time, res result) {
	if o == nil {
		return
	}
	o.flush()
	o.attempts = n
	a := Attempt{Number: n, Duration: time.Since(start), StatusCode: res.status, Err: res.err}
	var apiErr *APIError
	if errors.As(res.err, &apiErr) {
		a.ErrCode = apiErr.Code
	}
	a.NotSent = errors.Is(res.err, ErrNotSent)
	o.last, o.pending = a, true
}

// retry reports the latest attempt as followed by another, after wait.
func (o *callObs) retry(reason RetryReason, wait time.Duration) {
	if o == nil || !o.pending {
		return
	}
	o.last.Retry, o.last.Wait = reason, wait
	o.flush()
}

func (o *callObs) flush() {
	if o.pending {
		o.pending = false
		o.co.Attempt(o.last)
	}
}

// end reports how the call ended: err is what it returned, out its answer.
func (o *callObs) end(out *apiResponse, err error) {
	if o == nil {
		return
	}
	o.flush()
	e := CallEnd{Class: classOf(err), Attempts: o.attempts, Duration: time.Since(o.start), Err: err}
	if err == nil && out != nil && out.alreadyProcessed {
		e.Class = ClassAlreadyApplied
	}
	var apiErr *APIError
	if e.Class == ClassRefused && errors.As(err, &apiErr) {
		e.ErrCode = apiErr.Code
	}
	o.co.End(e)
}

// invalidCall reports a request refused before any network call, and
// returns err.
func (c *Client) invalidCall(ctx context.Context, api string, settling bool, err error) error {
	if c.observer != nil {
		_, o := c.startCall(ctx, &apiCall{api: api, settling: settling})
		o.end(nil, err)
	}
	return err
}

// classOf is the class of a call that returned err.
func classOf(err error) CallClass {
	var apiErr *APIError
	switch {
	case err == nil:
		return ClassSuccess
	case errors.Is(err, ErrOutcomeUnknown):
		return ClassUnknown
	case errors.Is(err, ErrInvalidRequest):
		return ClassInvalidRequest
	case errors.Is(err, ErrNotSent):
		return ClassNotSent
	case errors.As(err, &apiErr):
		return ClassRefused
	}
	return ClassFailed
}

// retryReason says why res is retried.
func retryReason(res result) RetryReason {
	var apiErr *APIError
	var httpErr *HTTPError
	var readErr *bodyReadError
	switch {
	case errors.As(res.err, &apiErr) && apiErr.Code == CodeSystemBusy:
		return RetrySystemBusy
	case apiErr != nil:
		return RetryOrderProcessing
	case errors.As(res.err, &httpErr):
		return RetryServerError
	case errors.As(res.err, &readErr):
		return RetryBodyRead
	case errors.Is(res.err, ErrNotSent):
		return RetryNotSent
	case errors.Is(res.err, ErrMalformedResponse):
		return RetryMalformed
	}
	return RetryTransport
}

// observedFetch is fetch, reported to the Observer if there is one.
func (ts *StableTokenSource) observedFetch(ctx context.Context, force bool) (string, time.Duration, error) {
	if ts.observer == nil {
		return ts.fetch(ctx, force)
	}
	start := time.Now()
	tok, ttl, err := ts.fetch(ctx, force)
	r := TokenRefresh{Forced: force, Duration: time.Since(start), Err: err}
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		r.ErrCode = apiErr.Code
	}
	ts.observer.TokenRefreshed(ctx, r)
	return tok, ttl, err
}
