package midas

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The call path, in one file: an API method hands over a *apiCall; do sends it
// (newRequest frames and builds the HTTP request, attempt sends it and
// checkResponse decodes the answer), classify decides from each attempt's
// result whether to retry, stop or settle, and end says how the call ends.
// The dialect (v1.go, v2.go) supplies what differs between the versions.
// The default transports it sends through are here too.

// maxResponseBytes bounds how much of an answer is read. Real answers are a
// few hundred bytes.
const maxResponseBytes = 64 << 10

// apiCall is one outgoing API request before it is stamped and signed (not
// to be confused with midastest.Call, a request the fake server recorded).
type apiCall struct {
	api        string
	billNo     string
	sessionKey string
	fields     []field // the body fields other than appid, offer_id and ts
	// doneCode is the errcode that, after an attempt whose outcome was
	// unclear, means that attempt was applied: 90012 for pay and present,
	// 90015 for cancelpay; 0 for getbalance, which changes nothing.
	doneCode int
	// settling marks a call that repeats an earlier one whose outcome was
	// unknown, so doneCode counts as success from the first attempt.
	settling bool
	room     [maxFields]field // fields' backing array (callOf)
}

// maxFields is how many body fields an apiCall holds without another
// allocation: more than any API has.
const maxFields = 12

// callPool keeps apiCalls for reuse: a call is released when its API method
// returns, and nothing keeps it after.
var callPool = sync.Pool{New: func() any { return new(apiCall) }}

// callOf is a pooled call with fs as its fields, in the call's own room:
// one object, reused. A pooled call is zero (new, or wiped by release), so
// only what differs is set. Builders collect fs in a stack array.
func callOf(api, billNo, sessionKey string, doneCode int, fs []field) *apiCall {
	cl := callPool.Get().(*apiCall)
	cl.api, cl.billNo, cl.sessionKey, cl.doneCode = api, billNo, sessionKey, doneCode
	cl.fields = append(cl.room[:0], fs...)
	return cl
}

// release wipes cl, which holds the session_key, and returns it for reuse.
func (cl *apiCall) release() {
	*cl = apiCall{}
	callPool.Put(cl)
}

// mutates reports whether the call can move coins.
func (cl *apiCall) mutates() bool { return cl.doneCode != 0 }

// newRequest frames cl for one attempt (fresh ts, fresh signatures) and
// builds the HTTP request around exactly the bytes that were signed.
func (c *Client) newRequest(ctx context.Context, cl *apiCall, tok string) (*http.Request, error) {
	path, query, body := c.d.frame(cl, tok, c.now().Unix())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("midas: %s: build request: %w", cl.api, err)
	}
	// The URL is the base parsed once, with the path and the query set,
	// written over the empty one the request came with: no parsing and no
	// second URL per call.
	u := req.URL
	*u = *c.base
	u.Path += path
	u.RawPath = ""
	u.RawQuery = query
	req.Host = u.Host
	req.Header["Content-Type"] = jsonContentType
	return req, nil
}

// send sends req once, as c.httpClient.Do would: no redirect followed (a 3xx
// is the answer), errors as a *url.Error. Do's own work is for redirects,
// cookies and a URL's user info; without a cookie jar or user info the
// transport is called directly, saving the header copy Do makes for
// redirects it would never follow. Timeouts are the request context's
// (exchangeContext).
//
// plain reports whether the transport that ran is net/http's own
// *http.Transport, whose trace hooks prove what it sent (connTrace): it is
// looked up once, here, and that very transport is called.
func (c *Client) send(req *http.Request) (resp *http.Response, plain bool, err error) {
	hc := c.httpClient
	rt := hc.Transport
	if ct, ok := rt.(interface{ current() http.RoundTripper }); ok {
		rt = ct.current()
	}
	_, plain = rt.(*http.Transport)
	if hc.Jar != nil || req.URL.User != nil {
		// Cookies; basic auth from the URL.
		resp, err = (&http.Client{Transport: rt, CheckRedirect: hc.CheckRedirect, Jar: hc.Jar}).Do(req)
		return resp, plain, err
	}
	resp, err = c.roundTrip(rt, req)
	return resp, plain, err
}

// roundTrip is send's direct call of rt.
func (c *Client) roundTrip(rt http.RoundTripper, req *http.Request) (*http.Response, error) {
	urlError := func(err error) error {
		return &url.Error{Op: "Post", URL: sanitizeURL(req.URL.String()), Err: err}
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		if resp != nil && resp.Body != nil {
			resp.Body.Close()
		}
		// As Do: a TLS client talking to a plain HTTP server.
		if tlsErr, ok := err.(tls.RecordHeaderError); ok && string(tlsErr.RecordHeader[:]) == "HTTP/" {
			err = http.ErrSchemeMismatch
		}
		return nil, urlError(err)
	}
	if resp == nil {
		return nil, urlError(fmt.Errorf("http: RoundTripper implementation (%T) returned a nil *Response with a nil error", rt))
	}
	if resp.Body == nil {
		if resp.ContentLength > 0 {
			return nil, urlError(fmt.Errorf("http: RoundTripper implementation (%T) returned a *Response with content length %d but a nil Body", rt, resp.ContentLength))
		}
		resp.Body = http.NoBody
	}
	// As Do: a redirect's Location is parsed before CheckRedirect is asked
	// (which refuses it), so one that does not parse is an error.
	switch resp.StatusCode {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		if loc := resp.Header.Get("Location"); loc != "" {
			if _, err := req.URL.Parse(loc); err != nil {
				resp.Body.Close()
				return nil, urlError(fmt.Errorf("failed to parse Location header %q: %v", loc, err))
			}
		}
	}
	return resp, nil
}

// jsonContentType is the Content-Type of every request, shared: net/http
// only reads it (a redirect would clone it, and none is followed).
var jsonContentType = []string{"application/json"}

func billSuffix(billNo string) string {
	if billNo == "" {
		return ""
	}
	return " bill_no=" + billNo
}

// apiResponse holds every field any API of either version answers with.
// Each number remembers whether the answer had it, so that a field the
// response promises and the answer lacks is an error, never a zero.
type apiResponse struct {
	ErrCode        *int       `json:"errcode"`
	ErrMsg         flexString `json:"errmsg"`
	BillNo         string     `json:"bill_no"`
	Balance        optInt     `json:"balance"`
	GenBalance     optInt     `json:"gen_balance"`
	FirstSave      flexBool   `json:"first_save"`
	SaveAmt        optInt     `json:"save_amt"`
	SaveSum        optInt     `json:"save_sum"`
	CostSum        optInt     `json:"cost_sum"`
	PresentSum     optInt     `json:"present_sum"`
	UsedGenAmt     optInt     `json:"used_gen_amt"`
	UsedGenBalance optInt     `json:"used_gen_balance"` // the Chinese pages' name for used_gen_amt

	// Each version's own names, which its dialect's normalize maps onto
	// the above: v1Answer in v1.go, v2Answer in v2.go.
	v1Answer
	v2Answer

	// queryorderinfo (2.0).
	OutTradeNo    string `json:"out_trade_no"`
	ProductID     string `json:"product_id"`
	PayState      optInt `json:"pay_state"`
	DeliverState  optInt `json:"deliver_state"`
	PayFinishTime optInt `json:"pay_finish_time"`
	MchOrderNo    string `json:"mch_order_no"`
	TransactionID string `json:"transaction_id"`

	alreadyProcessed bool // set by the retry loop, not decoded
}

// slot is the field named key, for decodeFlat (see slotted): the shared
// fields here, each version's own in its answer type.
func (r *apiResponse) slot(key []byte) (any, int) {
	switch string(key) {
	case "errcode":
		return &r.ErrCode, 0
	case "errmsg":
		return &r.ErrMsg, 1
	case "bill_no":
		return &r.BillNo, 2
	case "balance":
		return &r.Balance, 3
	case "gen_balance":
		return &r.GenBalance, 4
	case "first_save":
		return &r.FirstSave, 5
	case "save_amt":
		return &r.SaveAmt, 6
	case "save_sum":
		return &r.SaveSum, 7
	case "cost_sum":
		return &r.CostSum, 8
	case "present_sum":
		return &r.PresentSum, 9
	case "used_gen_amt":
		return &r.UsedGenAmt, 10
	case "used_gen_balance":
		return &r.UsedGenBalance, 11
	case "out_trade_no":
		return &r.OutTradeNo, 12
	case "product_id":
		return &r.ProductID, 13
	case "pay_state":
		return &r.PayState, 14
	case "deliver_state":
		return &r.DeliverState, 15
	case "pay_finish_time":
		return &r.PayFinishTime, 16
	case "mch_order_no":
		return &r.MchOrderNo, 17
	case "transaction_id":
		return &r.TransactionID, 18
	}
	if p, i := r.v2Answer.slot(key); p != nil {
		return p, 32 + i
	}
	return nil, -1
}

// answerPool keeps decoded answers for reuse: an answer is read into the API's
// response type before its call returns, and nothing keeps it after.
var answerPool = sync.Pool{New: func() any { return new(apiResponse) }}

// newAnswer is a zero apiResponse for one call; release returns it.
func newAnswer() *apiResponse { return answerPool.Get().(*apiResponse) }

func (r *apiResponse) release() {
	*r = apiResponse{}
	answerPool.Put(r)
}

// optInt is an integer answer field and whether the answer had it (null
// counts as absent).
type optInt struct {
	v  int64
	ok bool
}

func (n *optInt) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("want an integer, got %.20s", b)
	}
	*n = optInt{v: v, ok: true}
	return nil
}

// or is n if the answer had it, else alt.
func (n optInt) or(alt optInt) optInt {
	if n.ok {
		return n
	}
	return alt
}

// missing lists the fields the answer to api must carry that it lacks, by
// the names the version answers with (name maps a 1.0 name to it). The pages list them for every success; an
// answer without one (another shape, a truncated object) is not understood.
// cancelpay promises only its errcode: 1.0 answers bill_no alone, 2.0 adds a
// balance on some pages.
func (r *apiResponse) missing(api string, name func(string) string) []string {
	var out []string
	need := func(ok bool, v1Name string) {
		if !ok {
			out = append(out, name(v1Name))
		}
	}
	switch api {
	case APIGetBalance:
		need(r.Balance.ok, "balance")
		need(r.GenBalance.ok, "gen_balance")
		need(r.FirstSave.ok, "first_save")
		need(r.SaveAmt.ok, "save_amt")
		need(r.SaveSum.ok, "save_sum")
		need(r.CostSum.ok, "cost_sum")
		need(r.PresentSum.ok, "present_sum")
	case APIPay:
		need(r.Balance.ok, "balance")
		need(r.UsedGenAmt.ok, "used_gen_amt")
	case APIPresent:
		need(r.Balance.ok, "balance")
	case APIQueryOrder:
		need(r.PayState.ok, "pay_state")
		need(r.DeliverState.ok, "deliver_state")
	}
	return out
}

// errcoder is an answer's errcode (nil when absent) and errmsg.
type errcoder interface{ errcode() (*int, string) }

func (r *apiResponse) errcode() (*int, string) { return r.ErrCode, string(r.ErrMsg) }

// checkResponse reads, closes and decodes resp. It returns an *HTTPError for
// a non-2xx status, an error matching ErrMalformedResponse for an answer that
// cannot be understood, and an *APIError for a non-zero errcode.
func checkResponse(resp *http.Response, api, billNo string, v Version, out errcoder) error {
	defer resp.Body.Close()
	data, err := readLimited(resp)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// Drain a little more so the connection can be reused.
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBytes))
		return &HTTPError{API: api, StatusCode: resp.StatusCode, BillNo: billNo}
	}
	malformed := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s%s: HTTP %d: %s", ErrMalformedResponse, api, billSuffix(billNo), resp.StatusCode, fmt.Sprintf(format, args...))
	}
	if err != nil {
		// The server answered: a same-bill_no retry is how to learn the
		// outcome. The cause is kept (context.DeadlineExceeded, a reset).
		return &bodyReadError{api: api, billNo: billNo, err: err}
	}
	if len(data) > maxResponseBytes {
		return malformed("body larger than %d bytes", maxResponseBytes)
	}
	if err := decodeAnswer(data, out); err != nil {
		return malformed("%v", err)
	}
	code, msg := out.errcode()
	if code == nil {
		return malformed("no errcode")
	}
	if *code != 0 {
		return &APIError{API: api, Code: *code, Message: msg, BillNo: billNo, Version: v}
	}
	return nil
}

// bodyReadError is a 2xx answer whose body could not be read to its end.
type bodyReadError struct {
	api, billNo string
	err         error
}

func (e *bodyReadError) Error() string {
	return "midas: " + e.api + billSuffix(e.billNo) + ": read answer: " + e.err.Error()
}

func (e *bodyReadError) Unwrap() error { return e.err }

// readLimited reads up to maxResponseBytes+1 of a body, in one allocation
// when the length is announced.
func readLimited(resp *http.Response) ([]byte, error) {
	if n := resp.ContentLength; n > 0 && n <= maxResponseBytes {
		// Room for one byte more than announced, to see the end.
		buf := make([]byte, 0, n+1)
		for {
			k, err := resp.Body.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+k]
			switch {
			case err == io.EOF:
				return buf, nil
			case err != nil:
				return buf, err
			case len(buf) == cap(buf): // longer than announced: read on to the bound
				rest, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1-int64(len(buf))))
				return append(buf, rest...), err
			}
		}
	}
	var buf bytes.Buffer
	_, err := buf.ReadFrom(io.LimitReader(resp.Body, maxResponseBytes+1))
	return buf.Bytes(), err
}

// flexString is errmsg: a string, though some pages type it as a number.
type flexString string

func (s *flexString) UnmarshalJSON(b []byte) error {
	if len(b) >= 2 && b[0] == '"' && bytes.IndexByte(b, '\\') < 0 {
		// No escapes: the text between the quotes is the string.
		*s = flexString(b[1 : len(b)-1])
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var v string
		err := json.Unmarshal(b, &v)
		*s = flexString(v)
		return err
	}
	if string(b) == "null" {
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return errors.New("errmsg is neither a string nor a number")
	}
	*s = flexString(n)
	return nil
}

// flexBool is first_save: documented as boolean with values 1 (yes) and 2
// (no); both forms are accepted. ok records whether the answer had it.
type flexBool struct{ v, ok bool }

func (v *flexBool) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "true", "1":
		*v = flexBool{v: true, ok: true}
	case "false", "2", "0":
		*v = flexBool{ok: true}
	case "null":
		*v = flexBool{}
	default:
		return fmt.Errorf("first_save: want 1, 2, true or false, got %.20s", b)
	}
	return nil
}

// do sends cl, retrying what is safe to retry, and decodes the answer into
// out. See the package doc and docs/retries.md for the
// contract; in short:
//   - an attempt that provably never reached the server is not ambiguous;
//   - an attempt that may have been applied makes the call unclear, and an
//     unclear pay, present or cancelpay ends as an *OutcomeUnknownError unless
//     a retry is answered with the done code (the earlier attempt's success);
//   - a settling call (the Settle helpers) repeats until the answer is clear,
//     ctx ends or WithSettleMaxAttempts is reached, and stops at once on an
//     answer given before the bill_no was looked up. An answer given after
//     the lookup (90013) is definite only while no attempt of the settle
//     itself was unclear: such an attempt can still land after it.
func (c *Client) do(ctx context.Context, cl *apiCall, out *apiResponse) (err error) {
	// Without an Observer the hooks are skipped here, not entered: the
	// path reads no clock and allocates nothing for them.
	var obs *callObs
	if c.observer != nil {
		ctx, obs = c.startCall(ctx, cl)
		defer func() { obs.end(out, err) }()
	}
	tok, err := c.token(ctx, cl)
	if err != nil {
		return c.end(cl, 0, false, err)
	}
	// unclear: an attempt of this call may have been applied without our
	// knowing. A settling call starts clear: the unclear call it settles is
	// the caller's, and settling already reads the done code as success.
	unclear := false
	refreshed := false
	retries := 0
	for attempt := 1; ; attempt++ {
		var began time.Time
		if obs != nil {
			began = obs.now()
		}
		res := c.attempt(ctx, cl, tok, out, attempt)
		if obs != nil {
			obs.attempted(attempt, began, res)
		}
		var v verdict
		v, unclear = classify(cl, unclear, res)
		switch {
		case v == verdictDone:
			// An error here is the done code: the bill_no was already
			// processed, by the unclear attempt.
			out.alreadyProcessed = res.err != nil
			return nil
		case v != verdictRetry && !refreshed && errors.Is(res.err, ErrAccessTokenInvalid):
			if inv, ok := c.tokens.(TokenInvalidator); ok {
				refreshed = true
				inv.InvalidateToken(tok)
				if tok, err = c.token(ctx, cl); err != nil {
					return c.end(cl, attempt, unclear, err)
				}
				obs.retry(RetryTokenRejected, 0)
				continue
			}
			return c.end(cl, attempt, unclear, res.err)
		case v != verdictRetry:
			return c.end(cl, attempt, unclear, res.err)
		}
		// A retry, if its budget allows: a settle's own bound ends it when
		// the caller's context never does.
		if cl.settling && attempt >= c.settleAttempts {
			return c.end(cl, attempt, unclear, fmt.Errorf("%w (settle stopped: WithSettleMaxAttempts(%d) reached)", res.err, c.settleAttempts))
		}
		if !cl.settling && retries >= c.maxRetries {
			return c.end(cl, attempt, unclear, res.err)
		}
		if cerr := ctx.Err(); cerr != nil {
			return c.end(cl, attempt, unclear, fmt.Errorf("%w (retry stopped: %w)", res.err, cerr))
		}
		retries++
		wait := c.backoff(retries)
		obs.retry(retryReason(res), wait)
		if werr := sleep(ctx, wait); werr != nil {
			return c.end(cl, attempt, unclear, fmt.Errorf("%w (retry stopped: %w)", res.err, werr))
		}
	}
}

// verdict is what an attempt's result means for its call.
type verdict int

const (
	// verdictDone: the call succeeded, or an unclear attempt was answered
	// with the done code (applied earlier).
	verdictDone verdict = iota
	// verdictRetry: send again, if the budget and the context allow.
	verdictRetry
	// verdictUnknown: stop; the coins may or may not have moved.
	verdictUnknown
	// verdictDefinite: stop; the error says what happened.
	verdictDefinite
)

func (v verdict) String() string {
	return [...]string{"done", "retry", "unknown", "definite"}[v]
}

// classify decides what one attempt's result res means for cl, given
// whether an earlier attempt of cl may have been applied (unclear), and
// returns whether the call is unclear now. It is pure: waiting, counting and the
// token refresh are do's.
//
// A settling call (the Settle helpers) repeats until the answer is clear:
// "being processed" and an unreadable answer are not.
func classify(cl *apiCall, unclear bool, res result) (verdict, bool) {
	if res.err == nil {
		return verdictDone, unclear
	}
	unclear = unclear || (res.ambiguous && cl.mutates())
	var apiErr *APIError
	isAPI := errors.As(res.err, &apiErr)
	if (unclear || cl.settling) && isAPI && apiErr.Code == cl.doneCode {
		return verdictDone, unclear
	}
	if res.retryable || (cl.settling && (res.ambiguous || (isAPI && apiErr.Is(ErrOrderProcessing)))) {
		return verdictRetry, unclear
	}
	return stopVerdict(cl, unclear, res.err), unclear
}

// stopVerdict says how a call that stops on err ends: unknown when a pay,
// present or cancelpay may have been applied, else definite. A settling
// call is definite only on an answer given after the server looked the
// bill_no up (afterLookup), and only while none of its own attempts was
// unclear (one held inside WeChat can land after that answer and charge);
// anything else leaves its outcome unknown.
func stopVerdict(cl *apiCall, unclear bool, err error) verdict {
	if !cl.mutates() {
		return verdictDefinite
	}
	if cl.settling {
		var apiErr *APIError
		if !unclear && errors.As(err, &apiErr) && afterLookup(apiErr) {
			return verdictDefinite
		}
		return verdictUnknown
	}
	if !unclear {
		return verdictDefinite
	}
	return verdictUnknown
}

// token asks the TokenSource for the access_token of a call. A failure
// matches ErrNotSent.
func (c *Client) token(ctx context.Context, cl *apiCall) (string, error) {
	tok, err := c.tokens.Token(ctx)
	if err != nil {
		// Nothing was sent without a token.
		return "", fmt.Errorf("midas: %s%s: get access_token: %w", cl.api, billSuffix(cl.billNo), &notSentError{err})
	}
	if tok == "" {
		return "", fmt.Errorf("midas: %s%s: %w", cl.api, billSuffix(cl.billNo), &notSentError{errors.New("token source gave an empty access_token")})
	}
	return tok, nil
}

// end is the error a call ends with: err itself, or an *OutcomeUnknownError
// around it when stopVerdict says the outcome is unknown.
func (c *Client) end(cl *apiCall, attempts int, unclear bool, err error) error {
	if stopVerdict(cl, unclear, err) == verdictDefinite {
		return err
	}
	return &OutcomeUnknownError{API: cl.api, BillNo: cl.billNo, Attempts: attempts, Err: err}
}

// afterLookup reports whether an errcode is a definite answer about the
// bill_no, given after the server looked it up: not enough coins (pay), no
// such order and already confirmed (cancelpay). Every other code, -1, "being
// processed", a rejection of the request itself (token, signatures, session,
// permission, parameters, IP whitelist, quota) or a code not documented for
// these APIs, says nothing of the earlier attempt. The sentinels carry each
// version's meaning, so this holds for both.
func afterLookup(e *APIError) bool {
	return e.Is(ErrInsufficientBalance) || e.Is(ErrOrderNotFound) || e.Is(ErrOrderConfirmed)
}

// result is what one attempt came to. retryable says whether sending again
// may help; ambiguous whether the server may have applied the call though
// the answer says nothing of it.
type result struct {
	err                  error
	retryable, ambiguous bool
	status               int // the answer's HTTP status, set only for an Observer
}

// attempt sends cl once, with a fresh ts and fresh signatures.
func (c *Client) attempt(ctx context.Context, cl *apiCall, tok string, out *apiResponse, n int) (res result) {
	actx, cancel := c.exchangeContext(ctx)
	defer cancel()
	if c.logger != nil {
		start := time.Now()
		defer func() { c.logAttempt(cl, n, res.err, time.Since(start)) }()
	}

	if err := actx.Err(); err != nil {
		// Never sent: nothing can have been applied.
		return result{err: fmt.Errorf("midas: %s%s: %w", cl.api, billSuffix(cl.billNo), &notSentError{err})}
	}
	conn := newConnTrace()
	req, err := c.newRequest(httptrace.WithClientTrace(actx, &conn.hooks), cl, tok)
	if err != nil {
		return result{err: err}
	}
	// Whether to retry after an error also depends on the caller's context,
	// which do checks.
	resp, plain, err := c.send(req)
	if err == nil && c.observer != nil {
		defer func(status int) { res.status = status }(resp.StatusCode)
	}
	if err != nil {
		err = redact(err, tok, c.appKey, cl.sessionKey)
		if conn.neverConnected(err, plain) {
			return result{err: fmt.Errorf("midas: %s%s: %w", cl.api, billSuffix(cl.billNo), &notSentError{err}), retryable: true}
		}
		// Sent or not, we cannot tell: a timeout may come after the server
		// applied the call.
		return result{err: fmt.Errorf("midas: %s%s: %w", cl.api, billSuffix(cl.billNo), err), retryable: true, ambiguous: true}
	}
	*out = apiResponse{}
	err = checkResponse(resp, cl.api, cl.billNo, c.version, out)
	if err != nil {
		return answerResult(err)
	}
	c.d.normalize(out)
	if missing := out.missing(cl.api, c.d.answerName); len(missing) > 0 {
		// Another shape than the documented one: not understood, like
		// any malformed 2xx (the call may well have been applied).
		return result{err: fmt.Errorf("%w: %s%s: HTTP %d: the answer has no %s", ErrMalformedResponse, cl.api, billSuffix(cl.billNo),
			resp.StatusCode, strings.Join(missing, ", ")), ambiguous: true}
	}
	return result{}
}

// answerResult is what an answer that checkResponse refused means for the
// attempt. Apart from attempt so that its errors.As targets are allocated
// only on this path.
func answerResult(err error) result {
	var apiErr *APIError
	var httpErr *HTTPError
	var readErr *bodyReadError
	switch {
	case errors.As(err, &apiErr):
		busy := apiErr.Code == CodeSystemBusy
		return result{err: err, retryable: busy, ambiguous: busy}
	case errors.As(err, &httpErr):
		server := httpErr.StatusCode >= 500
		return result{err: err, retryable: server, ambiguous: server}
	case errors.As(err, &readErr):
		return result{err: err, retryable: true, ambiguous: true}
	}
	// A 2xx we could not understand: the server may well have applied the
	// call. Not retried by a plain call; a Settle helper repeats it.
	return result{err: err, ambiguous: true}
}

// connTrace records whether an attempt ever had a connection: an error
// before that point proves the request was never sent. Its hooks live in
// the same allocation. It is not reused: a hook may report after the
// attempt ended. It has no net-level hook (ConnectDone): with one,
// httptrace allocates three more objects per request; a failed dial is
// known from the error instead (neverConnected).
type connTrace struct {
	mu       sync.Mutex
	lookedUp bool // net/http began looking for a connection (GetConn)
	gotConn  bool
	tlsFail  bool // a TLS handshake failed
	hooks    httptrace.ClientTrace
}

func newConnTrace() *connTrace {
	t := new(connTrace)
	t.hooks = httptrace.ClientTrace{
		GetConn: func(string) { t.mu.Lock(); t.lookedUp = true; t.mu.Unlock() },
		GotConn: func(httptrace.GotConnInfo) { t.mu.Lock(); t.gotConn = true; t.mu.Unlock() },
		TLSHandshakeDone: func(_ tls.ConnectionState, err error) {
			if err != nil {
				t.mu.Lock()
				t.tlsFail = true
				t.mu.Unlock()
			}
		},
	}
	return t
}

// neverConnected reports whether err proves that no byte of the request
// reached the server. net/http's own transport (plain) writes a request
// only on a connection it has (GotConn, HTTP/1 and HTTP/2 alike), so once it
// has looked for one (GetConn) and never had one, nothing was sent, whatever
// the error: a failed dial, DNS or TLS handshake, or the attempt's time
// running out while dialing or waiting for a connection from a bounded pool.
// Through any other RoundTripper the hooks prove nothing (a wrapper may
// return while its request still waits for a connection, or write by a way
// that calls no hook): only a dial, DNS or TLS handshake error does (a
// proxy's dial included), and no connection had. Anything else, like a
// timeout after connecting, stays ambiguous.
func (t *connTrace) neverConnected(err error, plain bool) bool {
	t.mu.Lock()
	lookedUp, got, failed := t.lookedUp, t.gotConn, t.tlsFail
	t.mu.Unlock()
	if got {
		return false
	}
	if (plain && lookedUp) || failed || dialFailed(err) {
		return true
	}
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var recErr tls.RecordHeaderError
	var alert tls.AlertError
	return errors.As(err, &dnsErr) || errors.As(err, &certErr) || errors.As(err, &recErr) || errors.As(err, &alert)
}

// dialFailed reports whether err's chain holds a failed dial: a *net.OpError
// whose Op is "dial", at any depth (net/http wraps a failed dial to a proxy
// in one whose Op is "proxyconnect").
func dialFailed(err error) bool {
	for err != nil {
		if op, ok := err.(*net.OpError); ok && op.Op == "dial" {
			return true
		}
		err = errors.Unwrap(err)
	}
	return false
}

// exchangeContext bounds one HTTP exchange (an attempt, a token fetch) by
// the HTTP client's timeout and the attempt timeout, whichever is shorter
// (0 is none). Past it the exchange fails with an error matching
// context.DeadlineExceeded.
func (s *settings) exchangeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	d := s.timeout
	if s.attemptTimeout > 0 && (d <= 0 || s.attemptTimeout < d) {
		d = s.attemptTimeout
	}
	if d <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}

// backoff is the wait before retry n (from 1): full jitter up to
// backoffMin*2^(n-1), capped at backoffMax.
func (c *Client) backoff(n int) time.Duration {
	ceil := c.backoffMax
	if n < 32 {
		if d := c.backoffMin << (n - 1); d > 0 && d < ceil {
			ceil = d
		}
	}
	return time.Duration(rand.Int64N(int64(ceil)) + 1)
}

// sleep waits d, or less if ctx ends first, in which case it returns ctx's
// error.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Client) logAttempt(cl *apiCall, n int, err error, d time.Duration) {
	if c.logger == nil {
		return
	}
	attrs := []slog.Attr{slog.String("api", cl.api), slog.Int("attempt", n), slog.Duration("duration", d)}
	if cl.billNo != "" {
		attrs = append(attrs, slog.String("bill_no", cl.billNo))
	}
	level := slog.LevelInfo
	if err != nil {
		level = slog.LevelWarn
		var apiErr *APIError
		if errors.As(err, &apiErr) {
			attrs = append(attrs, slog.Int("errcode", apiErr.Code))
		}
		// Error texts are redacted where they are made.
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	c.logger.LogAttrs(context.Background(), level, "midas attempt", attrs...)
}

// DefaultMaxIdleConnsPerHost is how many idle connections to WeChat the
// default client keeps: enough for 256 concurrent callers to reuse theirs.
// http.Transport's default of 2 makes each further concurrent call pay a TLS
// handshake.
const DefaultMaxIdleConnsPerHost = 256

// DefaultMaxConnsPerHost bounds the default client's connections to WeChat,
// as many as its pool keeps: further concurrent calls wait for a free
// connection rather than open one the pool would close again, so a slow
// WeChat cannot make a busy backend open thousands. An attempt whose time
// runs out while it waits was never sent (ErrNotSent) and is retried. Pass
// your own client (WithHTTPClient) for another bound.
const DefaultMaxConnsPerHost = DefaultMaxIdleConnsPerHost

// stockTransport is http.DefaultTransport as net/http made it, read once so
// that a replacement (httpmock.Activate, a tracing wrapper) can be told
// apart from it. It is never written.
var stockTransport = http.DefaultTransport

// defaultTransport is the default client's RoundTripper. While
// http.DefaultTransport is the stock one, it sends through its own clone of
// it with a pool sized for concurrent backends. Once a program or a test has
// replaced http.DefaultTransport (httpmock.Activate does), it sends through
// the replacement, looked up on every request, so mocks intercept it.
type defaultTransport struct {
	once   sync.Once
	pooled http.RoundTripper
}

func newDefaultTransport() *defaultTransport { return &defaultTransport{} }

// RoundTrip sends req through the pooled clone or the replaced
// http.DefaultTransport.
func (t *defaultTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.current().RoundTrip(req)
}

// current is the transport a request goes through now.
func (t *defaultTransport) current() http.RoundTripper {
	if cur := http.DefaultTransport; cur != stockTransport {
		return cur
	}
	t.once.Do(t.init)
	return t.pooled
}

func (t *defaultTransport) init() {
	st, ok := stockTransport.(*http.Transport)
	if !ok {
		t.pooled = stockTransport
		return
	}
	p := st.Clone()
	p.MaxIdleConnsPerHost = DefaultMaxIdleConnsPerHost
	p.MaxConnsPerHost = DefaultMaxConnsPerHost
	if p.MaxIdleConns < DefaultMaxIdleConnsPerHost {
		p.MaxIdleConns = DefaultMaxIdleConnsPerHost
	}
	t.pooled = p
}

// CloseIdleConnections closes the pooled clone's idle connections, so that
// http.Client.CloseIdleConnections reaches them.
func (t *defaultTransport) CloseIdleConnections() {
	type closer interface{ CloseIdleConnections() }
	t.once.Do(t.init)
	if c, ok := t.pooled.(closer); ok {
		c.CloseIdleConnections()
	}
}

// liveTransport sends through whatever transport hc has at the time.
type liveTransport struct{ hc *http.Client }

func (t liveTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.current().RoundTrip(req)
}

// current is the transport a request goes through now.
func (t liveTransport) current() http.RoundTripper {
	if rt := t.hc.Transport; rt != nil {
		return rt
	}
	return http.DefaultTransport
}

// CloseIdleConnections reaches hc's transport.
func (t liveTransport) CloseIdleConnections() { t.hc.CloseIdleConnections() }

// noRedirects makes a 3xx the answer: a redirected POST would be re-sent as
// a GET, and whatever answered it would be read as Midas's answer.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
