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
	// forceRefreshEvery bounds forced refreshes: WeChat allows a few a day,
	// tens of seconds apart, and each ends every other server's token.
	forceRefreshEvery = time.Minute
)

// StableTokenSource is a TokenSource over POST /cgi-bin/stable_token. It
// caches the token until shortly before it expires and lets one caller
// refresh it while the others wait. Many servers of one game can each run
// one: in normal mode stable_token gives all of them the same token, unlike
// /cgi-bin/token, which ends the previous token on every call.
//
// When WeChat rejects a token (InvalidateToken), the next Token asks again in
// normal mode, and forces a refresh only if that returns the rejected token,
// at most once a minute.
type StableTokenSource struct {
	appID     string
	appSecret string
	settings

	mu        sync.Mutex
	token     string
	renewAt   time.Time     // when the cached token is due for renewal
	inflight  chan struct{} // closed when the refresh under way ends
	rejected  string        // the token last rejected, if not yet replaced
	lastForce time.Time
}

// NewStableTokenSource returns a TokenSource for appID. Of the options,
// WithHTTPClient, WithBaseURL and WithClock apply.
func NewStableTokenSource(appID, appSecret string, opts ...Option) (*StableTokenSource, error) {
	if err := checkToken("appid", appID, 64); err != nil {
		return nil, err
	}
	if err := checkSecret("AppSecret", appSecret); err != nil {
		return nil, err
	}
	s, err := newSettings(opts)
	if err != nil {
		return nil, err
	}
	return &StableTokenSource{appID: appID, appSecret: appSecret, settings: s}, nil
}

// Format prints the appid, never the secret or the token.
func (ts *StableTokenSource) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "midas.StableTokenSource{AppID:%s}", ts.appID)
}

// Token returns the cached token, fetching a new one when it is due.
func (ts *StableTokenSource) Token(ctx context.Context) (string, error) {
	for {
		ts.mu.Lock()
		if ts.token != "" && ts.now().Before(ts.renewAt) {
			tok := ts.token
			ts.mu.Unlock()
			return tok, nil
		}
		if wait := ts.inflight; wait != nil {
			ts.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
		done := make(chan struct{})
		ts.inflight = done
		rejected := ts.rejected
		ts.mu.Unlock()

		tok, ttl, err := ts.refresh(ctx, rejected)

		ts.mu.Lock()
		ts.inflight = nil
		close(done)
		if err == nil {
			ts.token, ts.rejected = tok, ""
			early := min(tokenEarly, ttl/2)
			ts.renewAt = ts.now().Add(ttl - early)
		}
		ts.mu.Unlock()
		return tok, err
	}
}

// InvalidateToken drops token if it is the cached one, so the next Token
// fetches again.
func (ts *StableTokenSource) InvalidateToken(token string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if token == ts.token {
		ts.token = ""
		ts.rejected = token
	}
}

// refresh asks stable_token in normal mode and, if that gives back the token
// that was rejected, once in force mode when the rate limit allows.
func (ts *StableTokenSource) refresh(ctx context.Context, rejected string) (string, time.Duration, error) {
	tok, ttl, err := ts.fetch(ctx, false)
	if err != nil || rejected == "" || tok != rejected {
		return tok, ttl, err
	}
	ts.mu.Lock()
	allowed := ts.lastForce.IsZero() || ts.now().Sub(ts.lastForce) >= forceRefreshEvery
	if allowed {
		ts.lastForce = ts.now()
	}
	ts.mu.Unlock()
	if !allowed {
		return tok, ttl, nil
	}
	return ts.fetch(ctx, true)
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
	if err := checkResponse(resp, APIStableToken, "", &out); err != nil {
		return "", 0, err
	}
	if out.AccessToken == "" || out.ExpiresIn <= 0 {
		return "", 0, fmt.Errorf("%w: %s: no access_token or expires_in", ErrMalformedResponse, APIStableToken)
	}
	return out.AccessToken, time.Duration(out.ExpiresIn) * time.Second, nil
}
