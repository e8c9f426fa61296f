package midas

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"net/url"
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
}

type redactedConfig Config

// Format prints c with its AppKey masked.
func (c Config) Format(f fmt.State, verb rune) {
	c.AppKey = mask(c.AppKey)
	fmt.Fprintf(f, fmt.FormatString(f, verb), redactedConfig(c))
}

// LogValue logs c without its AppKey.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("appid", c.AppID), slog.String("offer_id", c.OfferID),
		slog.String("env", c.Env.String()))
}

// TokenSource gives the access_token for a call. It is asked once per call,
// so it should cache; see StaticToken.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
}

// StaticToken is a TokenSource that always gives token, for a backend that
// manages access tokens elsewhere.
func StaticToken(token string) TokenSource { return staticToken(token) }

type staticToken string

func (t staticToken) Token(context.Context) (string, error) { return string(t), nil }

// Format never prints the token.
func (t staticToken) Format(f fmt.State, _ rune) {
	io.WriteString(f, "midas.StaticToken("+mask(string(t))+")")
}

// Option configures a Client.
type Option func(*settings) error

type settings struct {
	httpClient *http.Client
	baseURL    string
	now        func() time.Time
}

func newSettings(opts []Option) (settings, error) {
	s := settings{
		// No Transport: requests go through http.DefaultTransport, looked up
		// at each call, so httpmock.Activate intercepts them.
		httpClient: &http.Client{Timeout: DefaultTimeout},
		baseURL:    DefaultBaseURL,
		now:        time.Now,
	}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&s); err != nil {
			return settings{}, err
		}
	}
	return s, nil
}

// WithHTTPClient sends requests through hc instead of the default client
// (which has a DefaultTimeout and uses http.DefaultTransport).
func WithHTTPClient(hc *http.Client) Option {
	return func(s *settings) error {
		if hc == nil {
			return invalid("WithHTTPClient", "nil *http.Client")
		}
		s.httpClient = hc
		return nil
	}
}

// WithBaseURL sends requests to u (scheme and host, optionally a path
// prefix) instead of DefaultBaseURL: a fake server in tests, or a proxy.
func WithBaseURL(u string) Option {
	return func(s *settings) error {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || p.RawQuery != "" || p.Fragment != "" {
			return invalid("WithBaseURL", "want an absolute http(s) URL with no query, got %q", u)
		}
		s.baseURL = strings.TrimRight(u, "/")
		return nil
	}
}

// WithClock sets where ts comes from (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(s *settings) error {
		if now == nil {
			return invalid("WithClock", "nil clock")
		}
		s.now = now
		return nil
	}
}

// Client calls the Midas server APIs. It holds no per-player state and is
// safe for concurrent use by many goroutines.
type Client struct {
	appID, offerID string
	appKey         string
	env            Env
	tokens         TokenSource
	settings

	// keyed holds HMAC-SHA256 hashes already keyed with appKey: the key is
	// fixed per client, so each sig skips the key setup.
	keyed sync.Pool
	// bufs holds buffers for the strings that are signed.
	bufs sync.Pool
}

// NewClient checks cfg and the options and returns a Client. Every problem
// is an error matching ErrInvalidRequest.
func NewClient(cfg Config, opts ...Option) (*Client, error) {
	if err := checkToken("appid", cfg.AppID, 64); err != nil {
		return nil, err
	}
	if err := checkToken("offer_id", cfg.OfferID, 64); err != nil {
		return nil, err
	}
	if err := checkSecret("AppKey", cfg.AppKey); err != nil {
		return nil, err
	}
	if !cfg.Env.valid() {
		return nil, invalid("Env", "must be Production or Sandbox, got %d", int(cfg.Env))
	}
	if cfg.AccessToken == nil {
		return nil, invalid("AccessToken", "no TokenSource")
	}
	if t, ok := cfg.AccessToken.(staticToken); ok {
		if err := checkSecret("AccessToken", string(t)); err != nil {
			return nil, err
		}
	}
	s, err := newSettings(opts)
	if err != nil {
		return nil, err
	}
	c := &Client{appID: cfg.AppID, offerID: cfg.OfferID, appKey: cfg.AppKey, env: cfg.Env, tokens: cfg.AccessToken, settings: s}
	key := []byte(cfg.AppKey)
	c.keyed.New = func() any { return hmac.New(sha256.New, key) }
	c.bufs.New = func() any { b := make([]byte, 0, 512); return &b }
	return c, nil
}

// Env is the environment the client calls.
func (c *Client) Env() Env { return c.env }

// Format prints the client's appid, offer_id, environment and base URL, never
// its AppKey.
func (c *Client) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "midas.Client{AppID:%s OfferID:%s Env:%s BaseURL:%s}", c.appID, c.offerID, c.env, c.baseURL)
}

// call is one API request before it is stamped and signed.
type call struct {
	api        string
	billNo     string
	sessionKey string
	fields     []field // the body fields other than appid, offer_id and ts
}

// do sends cl and decodes the answer into out. A non-zero errcode comes back
// as an *APIError.
func (c *Client) do(ctx context.Context, cl *call, out *apiResponse) error {
	tok, err := c.tokens.Token(ctx)
	if err != nil {
		return fmt.Errorf("midas: %s: get access_token: %w", cl.api, err)
	}
	if tok == "" {
		return fmt.Errorf("midas: %s: token source gave an empty access_token", cl.api)
	}
	req, err := c.newRequest(ctx, cl, tok)
	if err != nil {
		return err
	}
	resp, err := c.httpClient.Do(req)
	if err != nil {
		return fmt.Errorf("midas: %s%s: %w", cl.api, billSuffix(cl.billNo), redact(err, tok, c.appKey, cl.sessionKey))
	}
	return checkResponse(resp, cl, out)
}

// newRequest stamps cl with ts, signs it and builds the HTTP request. Each
// attempt calls it again, so a retry carries a fresh ts and fresh signatures.
func (c *Client) newRequest(ctx context.Context, cl *call, tok string) (*http.Request, error) {
	var arr [16]field
	fs := append(arr[:0], cl.fields...)
	fs = append(fs,
		field{key: "appid", val: c.appID},
		field{key: "offer_id", val: c.offerID},
		field{key: "ts", val: strconv.FormatInt(c.now().Unix(), 10), num: true})
	sortFields(fs)

	path := c.env.Path(cl.api)
	bp := c.bufs.Get().(*[]byte)
	buf := appendSignString((*bp)[:0], fs, nil, path, "&secret=", c.appKey)
	h := c.keyed.Get().(hash.Hash)
	sig := hmacHex(h, buf)
	c.keyed.Put(h)
	var mpSig string
	if cl.sessionKey != "" {
		buf = appendSignString(buf[:0], fs, []field{{key: keyAccessToken, val: tok}, {key: keySig, val: sig}}, path, "&session_key=", cl.sessionKey)
		mpSig = hmacHex(hmac.New(sha256.New, []byte(cl.sessionKey)), buf)
	}
	// The signed string holds secrets: wipe it before the buffer is reused.
	clear(buf)
	*bp = buf[:0]
	c.bufs.Put(bp)

	// The body gets its own slice: the transport may still read it after Do
	// returns, so it cannot come from a pool.
	body := appendBody(make([]byte, 0, bodySize(fs)), fs, sig, mpSig)
	u := c.baseURL + path + "?access_token=" + url.QueryEscape(tok)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("midas: %s: build request: %w", cl.api, redact(err, tok))
	}
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}

func billSuffix(billNo string) string {
	if billNo == "" {
		return ""
	}
	return " bill_no=" + billNo
}

// apiResponse holds every field any of the four APIs answers with.
type apiResponse struct {
	ErrCode        *int       `json:"errcode"`
	ErrMsg         flexString `json:"errmsg"`
	BillNo         string     `json:"bill_no"`
	Balance        int64      `json:"balance"`
	GenBalance     int64      `json:"gen_balance"`
	FirstSave      flexBool   `json:"first_save"`
	SaveAmt        int64      `json:"save_amt"`
	SaveSum        int64      `json:"save_sum"`
	CostSum        int64      `json:"cost_sum"`
	PresentSum     int64      `json:"present_sum"`
	UsedGenAmt     *int64     `json:"used_gen_amt"`
	UsedGenBalance *int64     `json:"used_gen_balance"`
}

// usedGen reads the gifted part of a deduction under either documented name.
func (r *apiResponse) usedGen() int64 {
	switch {
	case r.UsedGenAmt != nil:
		return *r.UsedGenAmt
	case r.UsedGenBalance != nil:
		return *r.UsedGenBalance
	}
	return 0
}

// checkResponse reads, closes and decodes resp. It returns an *HTTPError for
// a non-2xx status, an error matching ErrMalformedResponse for an answer that
// cannot be understood, and an *APIError for a non-zero errcode.
func checkResponse(resp *http.Response, cl *call, out *apiResponse) error {
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// Drain a little more so the connection can be reused.
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBytes))
		return &HTTPError{API: cl.api, StatusCode: resp.StatusCode, BillNo: cl.billNo}
	}
	if err != nil {
		return malformed(cl, resp.StatusCode, "read body: %v", err)
	}
	if len(data) > maxResponseBytes {
		return malformed(cl, resp.StatusCode, "body larger than %d bytes", maxResponseBytes)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return malformed(cl, resp.StatusCode, "%v", err)
	}
	if out.ErrCode == nil {
		return malformed(cl, resp.StatusCode, "no errcode")
	}
	if *out.ErrCode != 0 {
		return &APIError{API: cl.api, Code: *out.ErrCode, Message: string(out.ErrMsg), BillNo: cl.billNo}
	}
	return nil
}

func malformed(cl *call, status int, format string, args ...any) error {
	return fmt.Errorf("%w: %s%s: HTTP %d: %s", ErrMalformedResponse, cl.api, billSuffix(cl.billNo), status, fmt.Sprintf(format, args...))
}

// flexString is errmsg: a string, though some pages type it as a number.
type flexString string

func (s *flexString) UnmarshalJSON(b []byte) error {
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
// (no); both forms are accepted.
type flexBool bool

func (v *flexBool) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "true", "1":
		*v = true
	case "false", "2", "0", "null":
		*v = false
	default:
		return fmt.Errorf("first_save: want 1, 2, true or false, got %.20s", b)
	}
	return nil
}
