package midas

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

const (
	// DefaultBaseURL is where WeChat serves the Midas APIs.
	DefaultBaseURL = "https://api.weixin.qq.com"
	// DefaultTimeout bounds one HTTP exchange of the default HTTP client
	// (an attempt, including reading its answer), as a context deadline:
	// an attempt past it fails with an error matching
	// context.DeadlineExceeded, and may be retried like any lost answer.
	DefaultTimeout = 10 * time.Second
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

// Client calls the Midas server APIs. It holds no per-player state and is
// safe for concurrent use by many goroutines.
type Client struct {
	appID, offerID string
	appKey         string // for masking in errors; the dialect signs with it
	env            Env
	tokens         TokenSource
	d              dialect // what differs between 1.0 and 2.0, with its own state
	version        Version // d's, kept here so an answer's error needs no call into d
	settings
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
	return &Client{appID: cfg.AppID, offerID: cfg.OfferID, appKey: cfg.AppKey, env: cfg.Env, tokens: cfg.AccessToken,
		settings: s, d: newDialect(cfg), version: cfg.Version}, nil
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
	check("AppID", cfg.AppID, checkID("AppID", cfg.AppID, 64))
	check("OfferID", cfg.OfferID, checkID("OfferID", cfg.OfferID, 64))
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
