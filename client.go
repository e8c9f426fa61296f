package midas

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	// DefaultBaseURL is where WeChat serves the Midas APIs.
	DefaultBaseURL = "https://api.weixin.qq.com"
	// DefaultTimeout bounds one HTTP exchange of the default HTTP client.
	DefaultTimeout = 10 * time.Second
	// maxResponseBytes bounds how much of an answer is read. Real answers are
	// a few hundred bytes.
	maxResponseBytes = 64 << 10
)

// Config is what a Client needs to sign and send requests.
type Config struct {
	AppID       string      // Mini Game appid
	OfferID     string      // Midas offer_id
	AppKey      string      // Midas AppKey of Env (sandbox and production keys differ)
	Env         Env         // Production or Sandbox
	AccessToken TokenSource // where each call gets its access_token
	// Version is the generation of virtual payment the game is on: V1 (the
	// zero value) or V2 for games that opened payment on or after 2022-11-05.
	Version Version
}

// TokenSource gives the access_token for a call. It is asked once per call,
// so it should cache; see StaticToken.
type TokenSource interface {
	// Token returns the access_token to call with, or why there is none.
	Token(ctx context.Context) (string, error)
}

// StaticToken is a TokenSource that always gives token, for a backend that
// manages access tokens elsewhere.
func StaticToken(token string) TokenSource { return staticToken(token) }

type staticToken string

func (t staticToken) Token(context.Context) (string, error) { return string(t), nil }

// Client calls the Midas server APIs. It holds no per-player state and is
// safe for concurrent use by many goroutines.
type Client struct {
	appID, offerID string
	appKey         string
	env            Env
	tokens         TokenSource
	d              dialect // what differs between 1.0 and 2.0
	settings

	// appKeyPads is the AppKey as HMAC pads: fixed per client, made once.
	appKeyPads hmacKey
	// bufs holds buffers for the strings that are signed.
	bufs sync.Pool
}

// NewClient checks cfg and the options and returns a Client. Every problem
// is an error matching ErrInvalidRequest; the Config's are listed all at
// once, each by its Go field name:
//
//	midas: invalid Config: AppID: required; OfferID: required; AppKey: required
//
// An option's problem alone is an *InvalidRequestError; a Config's problems
// (with an option's, if any) are each an *InvalidRequestError, reachable
// through the error's Unwrap() []error.
func NewClient(cfg Config, opts ...Option) (*Client, error) {
	problems := cfg.problems()
	s, err := newSettings(opts)
	if err != nil {
		err = inVersion(err, cfg.Version)
		if len(problems) == 0 {
			return nil, err
		}
		var ire *InvalidRequestError
		if !errors.As(err, &ire) {
			return nil, err
		}
		problems = append(problems, ire)
	}
	if len(problems) > 0 {
		return nil, &configError{problems: problems}
	}
	c := &Client{appID: cfg.AppID, offerID: cfg.OfferID, appKey: cfg.AppKey, env: cfg.Env, tokens: cfg.AccessToken, settings: s, d: dialectOf(cfg.Version)}
	c.appKeyPads = newHMACKey(cfg.AppKey)
	c.bufs.New = func() any { b := make([]byte, 0, 512); return &b }
	return c, nil
}

// problems lists what is missing or invalid in cfg, in field order. No
// problem quotes a secret.
func (cfg *Config) problems() []*InvalidRequestError {
	var out []*InvalidRequestError
	add := func(field, format string, args ...any) {
		out = append(out, &InvalidRequestError{Field: field, Version: cfg.Version, Reason: fmt.Sprintf(format, args...)})
	}
	check := func(field, v string, err error) {
		switch {
		case v == "":
			add(field, "required")
		case err != nil:
			ire := err.(*InvalidRequestError)
			ire.Version = cfg.Version
			out = append(out, ire)
		}
	}
	check("AppID", cfg.AppID, checkToken("AppID", cfg.AppID, 64))
	check("OfferID", cfg.OfferID, checkToken("OfferID", cfg.OfferID, 64))
	check("AppKey", cfg.AppKey, checkSecret("AppKey", cfg.AppKey))
	if !cfg.Env.valid() {
		add("Env", "must be Production or Sandbox, got %d", int(cfg.Env))
	}
	if !cfg.Version.valid() {
		add("Version", "must be V1 or V2, got %d", int(cfg.Version))
	}
	switch t, static := cfg.AccessToken.(staticToken); {
	case cfg.AccessToken == nil:
		add("AccessToken", "required (a TokenSource, such as StaticToken or NewStableTokenSource)")
	case static && t == "":
		add("AccessToken", "StaticToken is empty")
	case static:
		check("AccessToken", string(t), checkSecret("AccessToken", string(t)))
	}
	return out
}

// configError lists every problem of a Config at once.
type configError struct{ problems []*InvalidRequestError }

func (e *configError) Error() string {
	var b strings.Builder
	b.WriteString("midas: invalid Config: ")
	for i, p := range e.problems {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.Field + ": " + p.Reason)
	}
	return b.String()
}

// Is matches ErrInvalidRequest, as every bad-input error does.
func (e *configError) Is(target error) bool { return target == ErrInvalidRequest }

// Unwrap gives each problem, an *InvalidRequestError.
func (e *configError) Unwrap() []error {
	out := make([]error, len(e.problems))
	for i, p := range e.problems {
		out[i] = p
	}
	return out
}

// Env is the environment the client calls.
func (c *Client) Env() Env { return c.env }

// Version is the generation of virtual payment the client speaks.
func (c *Client) Version() Version { return c.d.version() }

// Format prints the client's appid, offer_id, environment and base URL, never
// its AppKey.
func (c *Client) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "midas.Client{AppID:%s OfferID:%s Env:%s Version:%s BaseURL:%s}", c.appID, c.offerID, c.env, c.d.version(), c.baseURL)
}

// call is one API request before it is stamped and signed.
type call struct {
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
}

// mutates reports whether the call can move coins.
func (cl *call) mutates() bool { return cl.doneCode != 0 }

// newRequest frames cl for one attempt (fresh ts, fresh signatures) and
// builds the HTTP request around exactly the bytes that were signed.
func (c *Client) newRequest(ctx context.Context, cl *call, tok string) (*http.Request, error) {
	path, query, body := c.d.frame(c, cl, tok, c.now().Unix())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("midas: %s: build request: %w", cl.api, err)
	}
	// The URL is the base parsed once, with the path and the query set:
	// no parsing per call.
	u := *c.base
	u.Path += path
	u.RawPath = ""
	u.RawQuery = query
	req.URL, req.Host = &u, u.Host
	req.Header["Content-Type"] = []string{"application/json"}
	return req, nil
}

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
	UsedGenBalance optInt     `json:"used_gen_balance"`

	// 2.0's names, mapped onto the above by the dialect.
	PresentBalance    optInt `json:"present_balance"`
	SumSave           optInt `json:"sum_save"`
	SumBalance        optInt `json:"sum_balance"`
	SumCost           optInt `json:"sum_cost"`
	SumPresent        optInt `json:"sum_present"`
	UsedPresentAmount optInt `json:"used_present_amount"`

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

// promised lists the fields the answer to api must carry (their names in
// version v) that it lacks. The pages list them for every success; an
// answer without one (another shape, a truncated object) is not understood.
// cancelpay promises only its errcode: 1.0 answers bill_no alone, 2.0 adds a
// balance on some pages.
func (r *apiResponse) missing(api string, v Version) []string {
	var out []string
	need := func(ok bool, v1Name, v2Name string) {
		if !ok {
			if v == V2 {
				out = append(out, v2Name)
			} else {
				out = append(out, v1Name)
			}
		}
	}
	switch api {
	case APIGetBalance:
		need(r.Balance.ok, "balance", "balance")
		need(r.GenBalance.ok, "gen_balance", "present_balance")
		need(r.FirstSave.ok, "first_save", "first_save")
		need(r.SaveAmt.ok, "save_amt", "sum_save")
		need(r.SaveSum.ok, "save_sum", "sum_balance")
		need(r.CostSum.ok, "cost_sum", "sum_cost")
		need(r.PresentSum.ok, "present_sum", "sum_present")
	case APIPay:
		need(r.Balance.ok, "balance", "balance")
		need(r.UsedGenAmt.ok, "used_gen_amt", "used_present_amount")
	case APIPresent:
		need(r.Balance.ok, "balance", "balance")
	case APIQueryOrder:
		need(r.PayState.ok, "pay_state", "pay_state")
		need(r.DeliverState.ok, "deliver_state", "deliver_state")
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
	if err := json.Unmarshal(data, out); err != nil {
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
	var buf bytes.Buffer
	if n := resp.ContentLength; n > 0 && n <= maxResponseBytes {
		buf.Grow(int(n) + bytes.MinRead)
	}
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
