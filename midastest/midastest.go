// Package midastest is a fake Midas server for tests, in the manner of
// net/http/httptest: it serves getbalance, pay, cancelpay and present under
// both the production and the sandbox paths, verifies requests the way the
// real server does, and keeps balances and orders.
//
// Use it on loopback:
//
//	srv := midastest.NewServer(midastest.Config{...})
//	defer srv.Close()
//	c, _ := midas.NewClient(cfg, midas.WithBaseURL(srv.URL))
//
// as an http.Handler (New(cfg) with no listener), or as an httpmock
// responder, since Respond has httpmock.Responder's signature:
//
//	httpmock.RegisterNoResponder(midastest.New(cfg).Respond)
//
// # What it verifies, in order
//
//  1. The access_token in the query string: 40001 if unknown, 42001 if
//     expired (ExpireToken).
//  2. The body: a JSON object with exactly the documented fields for the API,
//     each of its documented type (ts, amt and present_counts JSON numbers),
//     with bill_no 1–63 of [0-9A-Za-z_-*@] and positive amounts: 90018.
//  3. appid and offer_id: 90017 (no permission) for ones it is not
//     configured with.
//  4. sig, recomputed from the received body with the AppKey of the
//     environment the path names: 90011.
//  5. The player: 90010 for an openid it does not know or whose session was
//     ended (ExpireSession).
//  6. mp_sig, when one is sent or Config.RequireMpSig is set, recomputed with
//     the player's session_key: 90009.
//
// # What it keeps
//
// Balances per environment, player and zone_id, paid and gifted coins apart.
// A pay spends gifted coins first and reports them as used_gen_amt. A bill_no
// is unique across pay and present: repeating one that was already processed
// answers 90012 and changes nothing (the newer pages: "order number repeated
// means it has already been processed"); with RepeatReplays, a repeat with
// identical parameters instead gets the first answer again. Insufficient
// balance is 90013 and leaves the bill_no unused. cancelpay refunds a pay
// (gifted coins back to the gifted balance): 90000 for a bill_no that is not a
// pay of that player, 90015 for one already refunded. getbalance reports
// save_amt (coins topped up, including the starting Balance and TopUp),
// present_sum (coins gifted, including the starting GenBalance), save_sum
// (their sum), cost_sum (coins spent, less refunds) and first_save 1 once the
// player has ever topped up, else 2.
//
// A known player in a zone_id it has not been seen in starts there with
// nothing.
//
// # Faults
//
// Inject queues a Fault for the next calls of an API: an errcode (-1), an
// HTTP status (5xx), a delay, or a dropped connection, and, with Applied, the
// change is made first (the "coins gone but the call timed out" case).
package midastest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gomidas/midas"
)

// Player is an account the fake knows.
type Player struct {
	OpenID     string `json:"openid"`
	SessionKey string `json:"session_key"`
	ZoneID     string `json:"zone_id,omitempty"` // default "1"
	Balance    int64  `json:"balance"`           // starting paid coins
	GenBalance int64  `json:"gen_balance"`       // starting gifted coins
}

// RepeatMode says what a repeated bill_no gets.
type RepeatMode int

const (
	// RepeatRejects answers 90012 and changes nothing (the default).
	RepeatRejects RepeatMode = iota
	// RepeatReplays answers a repeat with identical parameters with the first
	// answer again, and a repeat with other parameters with 90012.
	RepeatReplays
)

// Config configures a fake server.
type Config struct {
	AppID         string
	OfferID       string
	AppKey        string   // production AppKey
	SandboxAppKey string   // sandbox AppKey
	AccessTokens  []string // valid access tokens
	// AppSecret, when set, enables /cgi-bin/stable_token for AppID.
	AppSecret string
	// TokenTTL is the expires_in of tokens from stable_token (default 7200s).
	TokenTTL     time.Duration
	Players      []Player
	RequireMpSig bool
	Repeat       RepeatMode
	Now          func() time.Time // default time.Now
}

// Fault is a failure to inject into the next Times calls of API.
type Fault struct {
	API     string        // midas.APIPay etc.; "" for any API
	Times   int           // calls it applies to; 0 means 1
	Errcode int           // answer with this errcode, e.g. -1
	Status  int           // answer with this HTTP status, e.g. 502
	Delay   time.Duration // hold the answer this long
	Drop    bool          // close the connection without an answer
	// Applied processes the request first, so its change stands though the
	// caller sees the failure. Without it a failing call changes nothing.
	// A fault with only a Delay always processes the request.
	Applied bool
}

// Call is one request the fake received.
type Call struct {
	API     string
	Env     midas.Env
	Params  map[string]string // the body fields, numbers in decimal
	Errcode int               // the errcode answered (or that would have been, under a fault)
	Applied bool              // the call changed balances or orders
	Fault   *Fault            // the fault injected into it, if any
}

// Order is a processed pay or present.
type Order struct {
	API       string // midas.APIPay or midas.APIPresent
	Env       midas.Env
	BillNo    string
	OpenID    string
	ZoneID    string
	Amount    int64 // amt or present_counts
	UsedGen   int64 // gifted coins a pay spent
	Cancelled bool
	answer    []byte
	params    map[string]string
}

type account struct {
	paid, gen                    int64
	saveAmt, costSum, presentSum int64
}

type tokenInfo struct {
	expires time.Time // zero: never
	expired bool
}

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	// URL is the base URL of a listening server ("http://127.0.0.1:PORT"),
	// empty for one made by New.
	URL string

	cfg Config
	srv *httptest.Server

	mu          sync.Mutex
	players     map[string]Player // by openid
	accounts    map[string]*account
	orders      map[string]*Order // by env and bill_no
	tokens      map[string]*tokenInfo
	stableToken string
	tokenSeq    int
	faults      []*faultSlot
	calls       []Call
}

type faultSlot struct {
	Fault
	left int
}

// New returns a fake that serves through ServeHTTP and Respond, with no
// listener.
func New(cfg Config) *Server {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = 7200 * time.Second
	}
	s := &Server{cfg: cfg, players: map[string]Player{}, accounts: map[string]*account{}, orders: map[string]*Order{}, tokens: map[string]*tokenInfo{}}
	for _, t := range cfg.AccessTokens {
		s.tokens[t] = &tokenInfo{}
	}
	for _, p := range cfg.Players {
		s.AddPlayer(p)
	}
	return s
}

// NewServer starts a fake on a loopback port. Close it when done.
func NewServer(cfg Config) *Server {
	s := New(cfg)
	s.srv = httptest.NewServer(s)
	s.URL = s.srv.URL
	return s
}

// Close shuts a listening server down. It is a no-op for one made by New.
func (s *Server) Close() {
	if s.srv != nil {
		s.srv.Close()
	}
}

// HTTPServer is the underlying httptest.Server (nil for one made by New).
// It is already started: to set hooks such as Config.ConnState, serve a fake
// from New with httptest.NewUnstartedServer instead.
func (s *Server) HTTPServer() *httptest.Server { return s.srv }

// AddPlayer adds or replaces a player, with its starting balances in both
// environments.
func (s *Server) AddPlayer(p Player) {
	if p.ZoneID == "" {
		p.ZoneID = midas.DefaultZoneID
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.players[p.OpenID] = p
	for _, env := range []midas.Env{midas.Production, midas.Sandbox} {
		s.accounts[accountKey(env, p.OpenID, p.ZoneID)] = &account{paid: p.Balance, gen: p.GenBalance, saveAmt: p.Balance, presentSum: p.GenBalance}
	}
}

// TopUp adds paid coins, as a purchase through wx.requestMidasPayment would.
func (s *Server) TopUp(env midas.Env, openID, zoneID string, coins int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.account(env, openID, zoneID)
	a.paid += coins
	a.saveAmt += coins
}

// Balance returns a player's coins in a zone ("" for "1"): the total, and
// the gifted part of it.
func (s *Server) Balance(env midas.Env, openID, zoneID string) (total, gifted int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.account(env, openID, zoneID)
	return a.paid + a.gen, a.gen
}

// Order returns the processed pay or present with billNo.
func (s *Server) Order(env midas.Env, billNo string) (Order, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[orderKey(env, billNo)]
	if !ok {
		return Order{}, false
	}
	return *o, true
}

// Calls returns the requests received so far, oldest first.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// Inject queues f; faults apply in the order they were injected.
func (s *Server) Inject(f Fault) {
	if f.Times <= 0 {
		f.Times = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &faultSlot{Fault: f, left: f.Times})
}

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

// ExpireSession ends a player's session: its calls answer 90010.
func (s *Server) ExpireSession(openID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.players[openID]
	p.SessionKey = ""
	s.players[openID] = p
}

func accountKey(env midas.Env, openID, zoneID string) string {
	if zoneID == "" {
		zoneID = midas.DefaultZoneID
	}
	return env.String() + "\x00" + openID + "\x00" + zoneID
}

func orderKey(env midas.Env, billNo string) string { return env.String() + "\x00" + billNo }

// account returns (creating empty) an account; s.mu is held.
func (s *Server) account(env midas.Env, openID, zoneID string) *account {
	k := accountKey(env, openID, zoneID)
	a := s.accounts[k]
	if a == nil {
		a = &account{}
		s.accounts[k] = a
	}
	return a
}

// result is an answer before it is written.
type result struct {
	status int
	body   []byte
	delay  time.Duration
	drop   bool
}

// ServeHTTP answers one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	res := s.handle(r)
	if !wait(r.Context(), res.delay) {
		return
	}
	if res.drop {
		// net/http closes the connection without an answer.
		panic(http.ErrAbortHandler)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(res.body)))
	w.WriteHeader(res.status)
	w.Write(res.body)
}

// ErrDropped is what Respond returns for a dropped connection.
var ErrDropped = errors.New("midastest: connection dropped without an answer")

// Respond answers one request without a network: it has the signature of
// httpmock.Responder.
func (s *Server) Respond(r *http.Request) (*http.Response, error) {
	res := s.handle(r)
	if !wait(r.Context(), res.delay) {
		return nil, r.Context().Err()
	}
	if res.drop {
		return nil, ErrDropped
	}
	return &http.Response{
		Status:        strconv.Itoa(res.status) + " " + http.StatusText(res.status),
		StatusCode:    res.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(bytes.NewReader(res.body)),
		ContentLength: int64(len(res.body)),
		Request:       r,
	}, nil
}

// wait sleeps d unless ctx ends first; it reports whether it slept it all.
func wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s *Server) handle(r *http.Request) result {
	if r.URL.Path == "/cgi-bin/stable_token" {
		return s.handleStableToken(r)
	}
	env, api, ok := route(r.URL.Path)
	if !ok {
		return result{status: http.StatusNotFound, body: []byte(`{"errcode":404,"errmsg":"no such API"}`)}
	}
	if r.Method != http.MethodPost {
		return result{status: http.StatusMethodNotAllowed, body: []byte(`{"errcode":405,"errmsg":"POST only"}`)}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		return result{drop: true}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	call := Call{API: api, Env: env}
	f := s.takeFault(api)
	call.Fault = f
	var res result
	if f != nil && !f.Applied && f.replacesAnswer() {
		call.Params, _, _ = decodeBody(body)
	} else {
		var applied bool
		res, call.Params, call.Errcode, applied = s.process(env, api, r.URL.Query().Get("access_token"), body)
		call.Applied = applied
	}
	if f != nil {
		res = faultResult(f, res)
		if f.Errcode != 0 {
			call.Errcode = f.Errcode
		}
	}
	s.calls = append(s.calls, call)
	return res
}

// replacesAnswer reports whether f answers in place of the server (an
// errcode, a status or a drop) rather than only delaying the real answer.
func (f *Fault) replacesAnswer() bool { return f.Errcode != 0 || f.Status != 0 || f.Drop }

// faultResult is the answer under f: res (the real one) replaced by f's
// errcode, status or drop, held for f's delay.
func faultResult(f *Fault, res result) result {
	switch {
	case f.Drop:
		res = result{drop: true}
	case f.Status != 0:
		res = result{status: f.Status, body: []byte(http.StatusText(f.Status))}
	case f.Errcode != 0:
		res = answer(f.Errcode, "injected fault", nil)
	}
	res.delay = f.Delay
	return res
}

// takeFault pops the next fault for api; s.mu is held.
func (s *Server) takeFault(api string) *Fault {
	for i, f := range s.faults {
		if f.API == "" || f.API == api {
			f.left--
			if f.left == 0 {
				s.faults = append(s.faults[:i], s.faults[i+1:]...)
			}
			cp := f.Fault
			return &cp
		}
	}
	return nil
}

func route(path string) (midas.Env, string, bool) {
	for _, env := range []midas.Env{midas.Sandbox, midas.Production} {
		for _, api := range []string{midas.APIGetBalance, midas.APIPay, midas.APICancelPay, midas.APIPresent} {
			if path == env.Path(api) {
				return env, api, true
			}
		}
	}
	return 0, "", false
}

// fieldSpec lists, per API, each allowed body field and whether it is
// required; numeric fields are JSON numbers.
var (
	common = map[string]bool{"openid": true, "appid": true, "offer_id": true, "ts": true, "zone_id": true, "pf": true, "user_ip": false, "sig": true, "mp_sig": false}
	extra  = map[string]map[string]bool{
		midas.APIGetBalance: {},
		midas.APIPay:        {"amt": true, "bill_no": true, "pay_item": false, "app_remark": false},
		midas.APICancelPay:  {"bill_no": true, "pay_item": false},
		midas.APIPresent:    {"bill_no": true, "present_counts": true},
	}
	numeric = map[string]bool{"ts": true, "amt": true, "present_counts": true}
)

// decodeBody reads a JSON object of strings and numbers; numbers keep their
// decimal text. isNum says which fields were numbers.
func decodeBody(body []byte) (params map[string]string, isNum map[string]bool, err error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		return nil, nil, fmt.Errorf("body is not a JSON object: %v", err)
	}
	if dec.More() {
		return nil, nil, errors.New("data after the JSON object")
	}
	params, isNum = map[string]string{}, map[string]bool{}
	for k, v := range raw {
		switch v := v.(type) {
		case string:
			params[k] = v
		case json.Number:
			params[k] = v.String()
			isNum[k] = true
		default:
			return nil, nil, fmt.Errorf("field %s is neither a string nor a number", k)
		}
	}
	return params, isNum, nil
}

// process verifies and applies one call; s.mu is held.
func (s *Server) process(env midas.Env, api, token string, body []byte) (res result, params map[string]string, errcode int, applied bool) {
	fail := func(code int, msg string) (result, map[string]string, int, bool) {
		return answer(code, msg, nil), params, code, false
	}
	switch s.tokenState(token) {
	case tokenUnknown:
		return fail(40001, "invalid credential, access_token is invalid or not latest")
	case tokenExpired:
		return fail(42001, "access_token expired")
	}
	params, isNum, err := decodeBody(body)
	if err != nil {
		return fail(90018, err.Error())
	}
	if msg := checkFields(api, params, isNum); msg != "" {
		return fail(90018, msg)
	}
	if params["appid"] != s.cfg.AppID || params["offer_id"] != s.cfg.OfferID {
		return fail(90017, "appid or offer_id has no permission")
	}
	key := s.cfg.AppKey
	if env == midas.Sandbox {
		key = s.cfg.SandboxAppKey
	}
	path := env.Path(api)
	if sign(params, []string{"sig", "mp_sig"}, path, "&secret=", key) != params["sig"] {
		return fail(90011, "sig error")
	}
	p, ok := s.players[params["openid"]]
	if !ok || p.SessionKey == "" {
		return fail(90010, "user not logged in or session expired")
	}
	if _, sent := params["mp_sig"]; sent || s.cfg.RequireMpSig {
		withToken := map[string]string{"access_token": token}
		for k, v := range params {
			withToken[k] = v
		}
		if sign(withToken, []string{"mp_sig"}, path, "&session_key=", p.SessionKey) != params["mp_sig"] {
			return fail(90009, "mp_sig error")
		}
	}
	res, errcode, applied = s.apply(env, api, params)
	return res, params, errcode, applied
}

func checkFields(api string, params map[string]string, isNum map[string]bool) string {
	for k := range params {
		_, inCommon := common[k]
		_, inExtra := extra[api][k]
		if !inCommon && !inExtra {
			return "unexpected field " + k
		}
		if numeric[k] != isNum[k] {
			if numeric[k] {
				return k + " must be a number"
			}
			return k + " must be a string"
		}
	}
	for _, spec := range []map[string]bool{common, extra[api]} {
		for k, required := range spec {
			if _, ok := params[k]; required && !ok {
				return "missing " + k
			}
		}
	}
	for k := range numeric {
		if v, ok := params[k]; ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || (k != "ts" && n <= 0) {
				return k + " must be a positive integer"
			}
		}
	}
	if b, ok := params["bill_no"]; ok && midas.CheckBillNo(b) != nil {
		return "bill_no must be 1 to 63 of [0-9A-Za-z_-*@]"
	}
	return ""
}

// apply makes the change of a verified call; s.mu is held.
func (s *Server) apply(env midas.Env, api string, params map[string]string) (result, int, bool) {
	openID, zoneID, billNo := params["openid"], params["zone_id"], params["bill_no"]
	a := s.account(env, openID, zoneID)
	switch api {
	case midas.APIGetBalance:
		firstSave := 2
		if a.saveAmt > 0 {
			firstSave = 1
		}
		return answer(0, "ok", map[string]any{
			"balance": a.paid + a.gen, "gen_balance": a.gen, "first_save": firstSave,
			"save_amt": a.saveAmt, "save_sum": a.saveAmt + a.presentSum, "cost_sum": a.costSum, "present_sum": a.presentSum,
		}), 0, false

	case midas.APIPay, midas.APIPresent:
		if o, ok := s.orders[orderKey(env, billNo)]; ok {
			if s.cfg.Repeat == RepeatReplays && o.API == api && sameParams(o.params, params) {
				return result{status: http.StatusOK, body: o.answer}, 0, false
			}
			return answer(90012, "order already exists", nil), 90012, false
		}
		o := &Order{API: api, Env: env, BillNo: billNo, OpenID: openID, ZoneID: zoneID, params: params}
		var res result
		if api == midas.APIPay {
			amt, _ := strconv.ParseInt(params["amt"], 10, 64)
			if a.paid+a.gen < amt {
				return answer(90013, "balance not enough", nil), 90013, false
			}
			used := min(a.gen, amt)
			a.gen -= used
			a.paid -= amt - used
			a.costSum += amt
			o.Amount, o.UsedGen = amt, used
			res = answer(0, "ok", map[string]any{"bill_no": billNo, "balance": a.paid + a.gen, "used_gen_amt": used})
		} else {
			n, _ := strconv.ParseInt(params["present_counts"], 10, 64)
			a.gen += n
			a.presentSum += n
			o.Amount = n
			res = answer(0, "ok", map[string]any{"bill_no": billNo, "balance": a.paid + a.gen})
		}
		o.answer = res.body
		s.orders[orderKey(env, billNo)] = o
		return res, 0, true

	case midas.APICancelPay:
		o, ok := s.orders[orderKey(env, billNo)]
		if !ok || o.API != midas.APIPay || o.OpenID != openID || o.ZoneID != zoneID {
			return answer(90000, "order not exist", nil), 90000, false
		}
		if o.Cancelled {
			return answer(90015, "order already refunded", nil), 90015, false
		}
		o.Cancelled = true
		a.gen += o.UsedGen
		a.paid += o.Amount - o.UsedGen
		a.costSum -= o.Amount
		return answer(0, "ok", map[string]any{"bill_no": billNo}), 0, true
	}
	return answer(90018, "unknown api", nil), 90018, false
}

// sameParams compares two calls' business fields (not ts or signatures).
func sameParams(a, b map[string]string) bool {
	for _, k := range []string{"openid", "zone_id", "pf", "amt", "present_counts", "pay_item", "app_remark", "user_ip"} {
		if a[k] != b[k] {
			return false
		}
	}
	return true
}

func answer(code int, msg string, fields map[string]any) result {
	m := map[string]any{"errcode": code, "errmsg": msg}
	for k, v := range fields {
		m[k] = v
	}
	body, _ := json.Marshal(m)
	return result{status: http.StatusOK, body: body}
}

// sign is the fake's own signer, written from the spec apart from the midas
// package's, so that a bug in one is caught by the other.
func sign(params map[string]string, exclude []string, path, secretName, key string) string {
	names := make([]string, 0, len(params))
	for k := range params {
		skip := false
		for _, e := range exclude {
			skip = skip || e == k
		}
		if !skip {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	for i, k := range names {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k + "=" + params[k])
	}
	b.WriteString("&org_loc=" + path + "&method=POST" + secretName + key)
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(b.String()))
	return hex.EncodeToString(m.Sum(nil))
}
