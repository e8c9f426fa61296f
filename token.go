package midas

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

const (
	// APIStableToken names stable_token in errors.
	APIStableToken  = "stable_token"
	stableTokenPath = "/cgi-bin/stable_token"
	// tokenEarly is how long before expires_in a cached token is renewed, at
	// most half its lifetime.
	tokenEarly = 5 * time.Minute
)

// StableTokenSource is a TokenSource over POST /cgi-bin/stable_token. It
// caches the token until shortly before it expires and lets one caller
// refresh it while the others wait. Many servers of one game can each run
// one: in normal mode stable_token gives all of them the same token, unlike
// /cgi-bin/token, which ends the previous token on every call.
//
// Under failure:
//   - within the renewal window before expiry, the cached token is served
//     while a refresh runs, and still served if that refresh fails;
//   - one refresh serves every caller waiting on it, failure included, and
//     after a failure no new refresh starts for refreshPause: callers get the
//     cached token while it is valid, else that failure;
//   - when WeChat rejects a token (InvalidateToken), the next Token asks
//     again in normal mode, and forces a refresh only if that returns the
//     rejected token. Forced refreshes end every other server's token, so
//     they back off: 15 minutes after the first, doubling to 24 hours.
type StableTokenSource struct {
	appID     string
	appSecret string
	settings

	mu        sync.Mutex
	token     string
	expiresAt time.Time     // when the cached token stops working
	renewAt   time.Time     // when it is due for renewal
	inflight  *tokenRefresh // the refresh under way, if any
	failedAt  time.Time     // when the last refresh failed
	failErr   error         // and why
	rejected  string        // the token last rejected, if not yet replaced
	gen       int           // counts rejections: a refresh begun before one is stale
	lastForce time.Time
	forceWait time.Duration // the wait before the next forced refresh
}

// tokenRefresh is one refresh that every caller waiting on it shares.
type tokenRefresh struct {
	done chan struct{}
	tok  string
	err  error
}

const (
	// refreshPause is how long after a failed refresh the next may start.
	refreshPause = 2 * time.Second
	// refreshTimeout bounds a refresh, which runs on its own, apart from
	// the caller that started it, so that its end is shared.
	refreshTimeout = DefaultTimeout
	// forceBackoffMin and forceBackoffMax bound the wait between forced
	// refreshes, which doubles from the first to the last.
	forceBackoffMin = 15 * time.Minute
	forceBackoffMax = 24 * time.Hour
)

// stableTokenVersion is the Version a stable_token error carries: the API
// is the same for both generations, and both tables read its errcodes
// (40001, 40014, 42001) alike.
const stableTokenVersion = V1

// NewStableTokenSource returns a TokenSource for appID. Of the options,
// WithHTTPClient, WithBaseURL, WithClock and WithObserver (which reports
// each fetch) apply; any other is refused
// (an *InvalidRequestError naming it) rather than silently ignored: a
// refresh is never retried by the client's policy, and never logged.
func NewStableTokenSource(appID, appSecret string, opts ...Option) (*StableTokenSource, error) {
	if err := checkID("appid", appID, 64); err != nil {
		return nil, err
	}
	if err := checkSecret("AppSecret", appSecret); err != nil {
		return nil, err
	}
	s, err := newSettings(opts)
	if err != nil {
		return nil, err
	}
	for _, name := range s.given {
		switch name {
		case "WithHTTPClient", "WithBaseURL", "WithClock", "WithObserver":
		default:
			return nil, invalid(name, "does not apply to NewStableTokenSource (only WithHTTPClient, WithBaseURL, WithClock and WithObserver do)")
		}
	}
	return &StableTokenSource{appID: appID, appSecret: appSecret, settings: s}, nil
}

// Format prints the appid, never the secret or the token.
func (ts *StableTokenSource) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "midas.StableTokenSource{AppID:%s}", ts.appID)
}

// Token returns the cached token, fetching a new one when it is due.
func (ts *StableTokenSource) Token(ctx context.Context) (string, error) {
	ts.mu.Lock()
	now := ts.now()
	valid := ts.token != "" && now.Before(ts.expiresAt)
	if valid && now.Before(ts.renewAt) {
		tok := ts.token
		ts.mu.Unlock()
		return tok, nil
	}
	r := ts.inflight
	if r == nil {
		if !ts.failedAt.IsZero() && now.Sub(ts.failedAt) < refreshPause {
			tok, err := ts.token, ts.failErr
			ts.mu.Unlock()
			if valid {
				return tok, nil
			}
			return "", err
		}
		r = &tokenRefresh{done: make(chan struct{})}
		ts.inflight = r
		go ts.run(r, ts.rejected, ts.gen)
	}
	cached := ts.token
	ts.mu.Unlock()
	if valid {
		// Early renewal under way: the cached token still works, so no
		// caller waits for the refresh.
		return cached, nil
	}
	select {
	case <-r.done:
		return r.tok, r.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// run performs refresh r apart from any caller's context, so that a caller
// giving up does not fail the others, and publishes its end to all.
func (ts *StableTokenSource) run(r *tokenRefresh, rejected string, gen int) {
	ctx, cancel := context.WithTimeout(context.Background(), refreshTimeout)
	defer cancel()
	tok, ttl, err := ts.refresh(ctx, rejected)

	ts.mu.Lock()
	now := ts.now()
	if ts.inflight == r {
		ts.inflight = nil
	}
	switch {
	case gen != ts.gen:
		// A token was rejected meanwhile: this answer may be that very
		// token, so it is not cached (its own waiters still get it).
	case err == nil:
		ts.token, ts.rejected = tok, ""
		ts.expiresAt = now.Add(ttl)
		ts.renewAt = now.Add(ttl - min(tokenEarly, ttl/2))
		ts.failedAt, ts.failErr = time.Time{}, nil
	default:
		ts.failedAt, ts.failErr = now, err
	}
	r.tok, r.err = tok, err
	ts.mu.Unlock()
	close(r.done)
}

// InvalidateToken drops token if it is the cached one, so the next Token
// fetches again.
func (ts *StableTokenSource) InvalidateToken(token string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if token == ts.token {
		ts.token = ""
		ts.rejected = token
		// A rejection is news: the next caller refreshes at once, and not
		// by joining a refresh begun before it.
		ts.failedAt, ts.failErr = time.Time{}, nil
		ts.gen++
		ts.inflight = nil
	}
}

// refresh asks stable_token in normal mode and, if that gives back the token
// that was rejected, once in force mode when the rate limit allows.
func (ts *StableTokenSource) refresh(ctx context.Context, rejected string) (string, time.Duration, error) {
	tok, ttl, err := ts.observedFetch(ctx, false)
	if err != nil || rejected == "" || tok != rejected {
		return tok, ttl, err
	}
	ts.mu.Lock()
	now := ts.now()
	if ts.lastForce.IsZero() || now.Sub(ts.lastForce) >= ts.forceWait+forceBackoffMax {
		// A quiet day beyond the current wait: start over.
		ts.forceWait = 0
	}
	allowed := ts.forceWait == 0 || now.Sub(ts.lastForce) >= ts.forceWait
	if allowed {
		ts.lastForce = now
		ts.forceWait = min(max(2*ts.forceWait, forceBackoffMin), forceBackoffMax)
	}
	ts.mu.Unlock()
	if !allowed {
		return tok, ttl, nil
	}
	return ts.observedFetch(ctx, true)
}

type stableTokenResponse struct {
	ErrCode     *int       `json:"errcode"`
	ErrMsg      flexString `json:"errmsg"`
	AccessToken string     `json:"access_token"`
	ExpiresIn   int64      `json:"expires_in"`
}

// A success carries no errcode: its presence of a token stands for 0.
func (r *stableTokenResponse) errcode() (*int, string) {
	if r.ErrCode == nil && r.AccessToken != "" {
		zero := 0
		return &zero, ""
	}
	return r.ErrCode, string(r.ErrMsg)
}

func (ts *StableTokenSource) fetch(ctx context.Context, force bool) (string, time.Duration, error) {
	body, err := json.Marshal(map[string]any{"grant_type": "client_credential", "appid": ts.appID, "secret": ts.appSecret, "force_refresh": force})
	if err != nil {
		return "", 0, err
	}
	ctx, cancel := ts.exchangeContext(ctx) // the HTTP client's timeout, through the answer's read
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ts.baseURL+stableTokenPath, bytes.NewReader(body))
	if err != nil {
		return "", 0, fmt.Errorf("midas: %s: %w", APIStableToken, redact(err, ts.appSecret))
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := ts.httpClient.Do(req)
	if err != nil {
		return "", 0, fmt.Errorf("midas: %s: %w", APIStableToken, redact(err, ts.appSecret))
	}
	var out stableTokenResponse
	if err := checkResponse(resp, APIStableToken, "", stableTokenVersion, &out); err != nil {
		return "", 0, err
	}
	if out.AccessToken == "" || out.ExpiresIn <= 0 {
		return "", 0, fmt.Errorf("%w: %s: no access_token or expires_in", ErrMalformedResponse, APIStableToken)
	}
	return out.AccessToken, time.Duration(out.ExpiresIn) * time.Second, nil
}

// TokenInvalidator is implemented by a TokenSource that can drop a token
// WeChat rejected (errcode 40001, 40014 or 42001). The Client then asks for a
// new token, signs again (mp_sig covers the token) and retries once.
type TokenInvalidator interface {
	// InvalidateToken drops token, which WeChat rejected, if it is still
	// the one given out.
	InvalidateToken(token string)
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
