package midastest

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"
)

// APIStableToken names stable_token calls in Calls.
const APIStableToken = "stable_token"

type tokenState int

type tokenInfo struct {
	expires time.Time // zero: never
	expired bool
}

const (
	tokenValid tokenState = iota
	tokenUnknown
	tokenExpired
)

// ExpireToken makes token answer 42001 from now on.
func (s *Server) ExpireToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.tokens[token]; ok {
		t.expired = true
	}
}

// AddToken makes token valid.
func (s *Server) AddToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[token] = &tokenInfo{}
}

// tokenState checks an access_token; s.mu is held.
func (s *Server) tokenState(token string) tokenState {
	t, ok := s.tokens[token]
	switch {
	case !ok || token == "":
		return tokenUnknown
	case t.expired || (!t.expires.IsZero() && !s.cfg.Now().Before(t.expires)):
		return tokenExpired
	}
	return tokenValid
}

// handleStableToken serves POST /cgi-bin/stable_token: while the current
// token is valid a normal call returns it again with its remaining lifetime;
// force_refresh, or a call after it expired, issues a new one and ends the
// old.
func (s *Server) handleStableToken(r *http.Request) result {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	s.mu.Lock()
	defer s.mu.Unlock()
	call := Call{API: APIStableToken}
	f := s.takeFault(APIStableToken)
	call.Fault = f
	var res result
	if f == nil || f.Applied || !f.replacesAnswer() {
		res = s.issueStableToken(r, body, &call)
	}
	if f != nil {
		res = faultResult(f, res)
	}
	s.calls = append(s.calls, call)
	return res
}

// issueStableToken answers a stable_token request; s.mu is held.
func (s *Server) issueStableToken(r *http.Request, body []byte, call *Call) result {
	var req struct {
		GrantType    string `json:"grant_type"`
		AppID        string `json:"appid"`
		Secret       string `json:"secret"`
		ForceRefresh bool   `json:"force_refresh"`
	}
	if r.Method != http.MethodPost || json.Unmarshal(body, &req) != nil {
		call.Errcode = 40002
		return answer(40002, "invalid grant_type or body", nil)
	}
	call.Params = map[string]string{"grant_type": req.GrantType, "appid": req.AppID, "force_refresh": strconv.FormatBool(req.ForceRefresh)}
	switch {
	case req.GrantType != "client_credential":
		call.Errcode = 40002
		return answer(40002, "invalid grant_type", nil)
	case s.cfg.AppSecret == "" || req.AppID != s.cfg.AppID:
		call.Errcode = 40013
		return answer(40013, "invalid appid", nil)
	case req.Secret != s.cfg.AppSecret:
		call.Errcode = 40125
		return answer(40125, "invalid appsecret", nil)
	}
	now := s.cfg.Now()
	if req.ForceRefresh || s.stableToken == "" || s.tokenState(s.stableToken) != tokenValid {
		if old, ok := s.tokens[s.stableToken]; ok {
			old.expired = true
		}
		s.tokenSeq++
		s.stableToken = "fake-access-token-" + strconv.Itoa(s.tokenSeq)
		s.tokens[s.stableToken] = &tokenInfo{expires: now.Add(s.cfg.TokenTTL)}
	}
	left := s.tokens[s.stableToken].expires.Sub(now) / time.Second
	body, _ = json.Marshal(map[string]any{"access_token": s.stableToken, "expires_in": int64(left)})
	return result{status: http.StatusOK, body: body}
}

// StableTokenCalls counts calls of stable_token, and how many of them forced
// a refresh.
func (s *Server) StableTokenCalls() (calls, forced int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.calls {
		if c.API == APIStableToken {
			calls++
			if c.Params["force_refresh"] == "true" {
				forced++
			}
		}
	}
	return calls, forced
}
