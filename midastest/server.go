// Package midastest is a fake Midas server for tests, in the manner of
// net/http/httptest. It serves virtual payment 1.0 (getbalance, pay,
// cancelpay and present under both the production and the sandbox paths,
// /cgi-bin/midas/...) and virtual payment 2.0 (/wxa/game/getbalance, pay,
// cancelpay, present and queryorderinfo, the environment in the body),
// verifies requests the way the real server does, and keeps balances and
// orders.
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
// New and NewServer panic on a Config that Config.Validate refuses (a
// session_key the client would refuse, for one), the way httptest panics on
// a setup it cannot serve: the message names the player, never the key.
//
// # What 1.0 verifies, in order
//
//  1. The access_token in the query string: 40001 if unknown, 42001 if
//     expired (ExpireToken).
//  2. The body: exactly one JSON object (no duplicate names, nothing after
//     it) with exactly the documented fields for the API, each of its
//     documented type (ts, amt and present_counts JSON numbers), zone_id and
//     pf non-empty, zone_id free of control characters ("zoneID" or
//     "zoneID_roleID"; role ids are the game's, so any printable text), with
//     bill_no 1–63 of [0-9A-Za-z_-*@] and positive amounts: 90018.
//  3. appid and offer_id: 90017 (no permission) for ones it is not
//     configured with.
//  4. sig, recomputed from the received body with the AppKey of the
//     environment the path names: 90011.
//  5. The player: 90010 for an openid it does not know, with no
//     session_key, or whose session was ended (ExpireSession).
//  6. mp_sig, when one is sent or Config.RequireMpSig is set, recomputed with
//     the player's session_key: 90009.
//
// # What 2.0 verifies, in order
//
//  1. The access_token, as for 1.0: 40001, 42001.
//  2. sig_method in the query string: exactly "hmac_sha256", else 90018
//     "[sig_method] sig_method must be hmac_sha256".
//  3. The body, strictly: one JSON object, no duplicate names, nothing after
//     it; only the documented fields (1.0's appid, pf, sig and mp_sig, or any
//     other name, are 90018); strings as JSON strings (a numeric bill_no is
//     90018 `field "bill_no" doesn't expect an uint32 value`) and ts, env,
//     amount, coin_type and biz_id as JSON integers; openid, offer_id, ts,
//     zone_id and env required, and per API: pay amount > 0 and bill_no;
//     cancelpay pay_bill_no, bill_no and amount > 0; present amount > 0 and
//     bill_no; queryorderinfo out_trade_no and biz_id 1 or 2; getbalance an
//     optional coin_type 0 or 1 (with 1, zone_id must be "1"). env is 0 or
//     1; bill_no and pay_bill_no are 1–63 of [0-9A-Za-z_-], not starting
//     with '_'. All 90018, errmsg "[field] ...".
//  4. offer_id: 90018 "[offer_id] offer_id is invalid" for one it is not
//     configured with (the 2.0 pages list no 90017).
//  5. pay_sig in the query string: lowercase hex HMAC-SHA256 keyed with the
//     AppKey of the body's env (0 Config.AppKey, 1 Config.SandboxAppKey)
//     over path + "&" + the body bytes as received: 90011.
//  6. The player and signature: 90010 for an openid it does not know or
//     with no session_key; 90016 (session_key expired) once ExpireSession
//     ended its session; then signature, lowercase hex HMAC-SHA256 keyed
//     with the session_key's base64 text over the body bytes: 90010.
//
// A missing pay_sig or signature is a wrong one.
//
// # What it keeps
//
// Balances per environment, player and zone_id, paid and gifted coins apart,
// shared by 1.0 and 2.0 calls. A pay spends gifted coins first and reports
// them as used_gen_amt (2.0: used_present_amount). Insufficient balance is
// 90013 and leaves the bill_no unused.
//
// A 1.0 bill_no is unique per environment across pay and present; a 2.0
// bill_no is unique per environment, openid and zone_id across pay, present
// and cancelpay (the 2.0 pages scope it so; the fake keeps it forever, not
// 48 hours). Repeating one that was already processed answers 90012 and
// changes nothing (the newer pages: "order number repeated means it has
// already been processed"); with RepeatReplays, a repeat with identical
// parameters instead gets the first answer again, except a pay that has
// since been refunded (in part, for 2.0), which gets 90012: its first answer
// no longer holds.
//
// 1.0 cancelpay refunds a whole pay (gifted coins back to the gifted
// balance): 90000 for a bill_no that is not a pay of that player and zone,
// 90015 for one already refunded. 2.0 cancelpay returns amount coins of the
// pay pay_bill_no under its own, new bill_no; returns add up to at most the
// pay's amount (90018 "[amount] ..." beyond it, including any return of a
// fully returned pay), paid coins come back first and then gifted ones (the
// reverse of how the pay spent them); 90000 for a pay_bill_no that is not a
// 2.0 pay of that player and zone.
//
// getbalance reports save_amt (coins topped up, including the starting
// Balance and TopUp), present_sum (coins gifted, including the starting
// GenBalance), save_sum (their sum), cost_sum (coins spent, less refunds)
// and first_save 1 (2.0: true) once the player has ever topped up, else 2
// (false). 2.0 names them sum_save, sum_present, sum_balance, sum_cost and
// present_balance. 2.0 getbalance with coin_type 1 answers the player's
// recharge-centre balance instead: a separate account, zone "1", which only
// TopUpRechargeCenter fills and no pay spends.
//
// 2.0 queryorderinfo answers the orders seeded with AddOrderInfo or made by
// BuyItem and BuyCoins, and 90019 for an out_trade_no it does not have for
// that player and biz_id.
//
// # Pushes
//
// BuyItem, BuyCoins and Refund play WeChat's side of a purchase: they record
// the order and push the delivery event to the game server's endpoint (a URL
// or an http.Handler), signed, in plain or secure mode, repeating on a
// non-success answer on the real schedule compressed to microseconds, and
// recording every push and answer (Pushes). PushRaw and Resend send forged
// or replayed pushes, to test that a receiver rejects them.
//
// A known player in a zone_id it has not been seen in starts there with
// nothing.
//
// # Config for 2.0
//
// 2.0 uses the same Config: OfferID is the game's offer_id (a game is on one
// generation, so one OfferID serves both), AppKey and SandboxAppKey the keys
// of env 0 and 1; AppID and RequireMpSig do not apply.
//
// # Faults
//
// Inject queues a Fault for the next calls of an API (1.0 or 2.0 alike): an
// errcode (-1), an HTTP status (5xx), a delay, or a dropped connection, and,
// with Applied, the change is made first (the "coins gone but the call timed
// out" case). With ApplyAfter the request goes unanswered and is applied
// later (late landing: a request WeChat held past the caller's attempts), so
// a settle flow can be tested against it; Pending says how many are held.
package midastest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"time"

	"github.com/gomidas/midas"
)

// Player is an account the fake knows.
type Player struct {
	OpenID string `json:"openid"` // the player's openid, required
	// SessionKey is the player's session_key: the standard base64 of 16
	// bytes (24 characters), as wx.login gives it; empty for a player who
	// never logged in (every call answers 90010).
	SessionKey string `json:"session_key"`
	ZoneID     string `json:"zone_id,omitempty"` // default "1"
	Balance    int64  `json:"balance"`           // starting paid coins
	GenBalance int64  `json:"gen_balance"`       // starting gifted coins
}

// Validate reports whether the fake can serve p: an openid, a session_key
// that is empty or the standard base64 of exactly 16 bytes (what the client
// accepts), and a zone_id without control characters. The error names the
// openid, never the key.
func (p Player) Validate() error {
	if p.OpenID == "" {
		return errors.New("midastest: a player has an empty OpenID")
	}
	if p.SessionKey != "" && !validSessionKey(p.SessionKey) {
		return fmt.Errorf("midastest: player %q: SessionKey is not the standard base64 of 16 bytes (24 characters, as wx.login gives it)", p.OpenID)
	}
	if hasControl(p.ZoneID) {
		return fmt.Errorf("midastest: player %q: ZoneID contains a control character", p.OpenID)
	}
	return nil
}

// RepeatMode says what a repeated bill_no gets.
type RepeatMode int

const (
	// RepeatRejects answers 90012 and changes nothing (the default).
	RepeatRejects RepeatMode = iota
	// RepeatReplays answers a repeat with identical parameters with the first
	// answer again, and a repeat with other parameters with 90012. A pay
	// refunded since gets 90012.
	RepeatReplays
)

// Config configures a fake server.
type Config struct {
	AppID         string   // 1.0 only: 2.0 bodies carry no appid
	OfferID       string   // the offer_id of both generations
	AppKey        string   // production AppKey (2.0: env 0)
	SandboxAppKey string   // sandbox AppKey (2.0: env 1)
	AccessTokens  []string // valid access tokens
	// AppSecret, when set, enables /cgi-bin/stable_token for AppID.
	AppSecret string
	// TokenTTL is the expires_in of tokens from stable_token (default 7200s).
	TokenTTL     time.Duration
	Players      []Player         // the players the fake knows; more with AddPlayer
	RequireMpSig bool             // 1.0 only: refuse a call without mp_sig (90009)
	Repeat       RepeatMode       // what a repeated bill_no gets
	Now          func() time.Time // default time.Now
}

// Validate reports whether the fake can serve cfg: each player's
// Player.Validate. New and NewServer panic with this error.
func (cfg Config) Validate() error {
	for _, p := range cfg.Players {
		if err := p.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// Call is one request the fake received.
type Call struct {
	API     string            // "getbalance", "pay", "cancelpay", "present", "queryorderinfo" or APIStableToken
	Version midas.Version     // midas.V1 (/cgi-bin/midas/...) or midas.V2 (/wxa/game/...)
	Env     midas.Env         // 2.0: the body's env (Production when it has none)
	Params  map[string]string // the body fields, numbers in decimal
	Errcode int               // the errcode answered (or that would have been, under a fault)
	Applied bool              // the call changed balances or orders
	Fault   *Fault            // the fault injected into it, if any
	// Landed reports that a request held by an ApplyAfter fault was
	// processed after its caller was answered; Errcode and Applied are then
	// what it met when it landed.
	Landed bool
}

// player is a Player and the state of its session.
type player struct {
	Player
	expired bool // ExpireSession ended the session
}

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	// URL is the base URL of a listening server ("http://127.0.0.1:PORT"),
	// empty for one made by New.
	URL string

	cfg Config
	srv *httptest.Server

	mu          sync.Mutex
	players     map[string]*player // by openid
	accounts    map[accountKey]*account
	orders      map[orderKey]*Order
	orderInfos  map[orderInfoKey]*OrderInfo
	tokens      map[string]*tokenInfo
	stableToken string
	tokenSeq    int
	faults      []*faultSlot
	late        map[*time.Timer]bool // requests held by ApplyAfter, not landed yet
	calls       []Call
	push        pushState // pushes sent (push.go)
}

// New returns a fake that serves through ServeHTTP and Respond, with no
// listener. It panics with Config.Validate's error on a config it cannot
// serve.
func New(cfg Config) *Server {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = 7200 * time.Second
	}
	s := &Server{
		cfg: cfg, players: map[string]*player{}, accounts: map[accountKey]*account{}, orders: map[orderKey]*Order{},
		orderInfos: map[orderInfoKey]*OrderInfo{}, tokens: map[string]*tokenInfo{},
	}
	for _, t := range cfg.AccessTokens {
		s.tokens[t] = &tokenInfo{}
	}
	for _, p := range cfg.Players {
		s.AddPlayer(p)
	}
	return s
}

// NewServer starts a fake on a loopback port. Close it when done. It panics
// like New.
func NewServer(cfg Config) *Server {
	s := New(cfg)
	s.srv = httptest.NewServer(s)
	s.URL = s.srv.URL
	return s
}

// Close shuts a listening server down and drops the requests an ApplyAfter
// fault still holds. For one made by New it only drops those.
func (s *Server) Close() {
	if s.srv != nil {
		s.srv.Close()
	}
	s.dropLate()
}

// HTTPServer is the underlying httptest.Server (nil for one made by New).
// It is already started: to set hooks such as Config.ConnState, serve a fake
// from New with httptest.NewUnstartedServer instead.
func (s *Server) HTTPServer() *httptest.Server { return s.srv }

// AddPlayer adds or replaces a player, with its starting balances in both
// environments. It panics with Player.Validate's error on a player it
// cannot serve.
func (s *Server) AddPlayer(p Player) {
	if err := p.Validate(); err != nil {
		panic(err)
	}
	if p.ZoneID == "" {
		p.ZoneID = midas.DefaultZoneID
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.players[p.OpenID] = &player{Player: p}
	for _, env := range []midas.Env{midas.Production, midas.Sandbox} {
		s.accounts[accountKey{env: env, openID: p.OpenID, zoneID: p.ZoneID}] = &account{paid: p.Balance, gen: p.GenBalance, saveAmt: p.Balance, presentSum: p.GenBalance}
	}
}

// ExpireSession ends a player's session: its 1.0 calls answer 90010, its
// 2.0 calls 90016, until SetSessionKey (or AddPlayer) logs it in again.
func (s *Server) ExpireSession(openID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.players[openID]; ok {
		p.expired = true
	}
}

// SetSessionKey logs a known player in again with a new session_key (as a
// new wx.login would), keeping its balances and orders. It returns an error
// for an unknown openid or a key Player.Validate refuses.
func (s *Server) SetSessionKey(openID, sessionKey string) error {
	if err := (Player{OpenID: openID, SessionKey: sessionKey}).Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.players[openID]
	if !ok {
		return fmt.Errorf("midastest: SetSessionKey: unknown player %q", openID)
	}
	p.SessionKey, p.expired = sessionKey, false
	return nil
}

// TopUp adds paid coins, as a purchase through wx.requestMidasPayment would.
func (s *Server) TopUp(env midas.Env, openID, zoneID string, coins int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.account(accountKey{env: env, openID: openID, zoneID: zoneID})
	a.paid += coins
	a.saveAmt += coins
}

// TopUpRechargeCenter adds paid coins to a player's recharge-centre
// balance, which 2.0 getbalance answers with coin_type 1. No API spends it.
func (s *Server) TopUpRechargeCenter(env midas.Env, openID string, coins int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.account(accountKey{env: env, openID: openID, rechargeCenter: true})
	a.paid += coins
	a.saveAmt += coins
}

// Balance returns a player's coins in a zone ("" for "1"): the total, and
// the gifted part of it.
func (s *Server) Balance(env midas.Env, openID, zoneID string) (total, gifted int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.account(accountKey{env: env, openID: openID, zoneID: zoneID})
	return a.paid + a.gen, a.gen
}

// Order returns the processed order with billNo: a 1.0 pay or present, or
// else the 2.0 pay, present or cancelpay with that bill_no if exactly one
// player has one (see OrderV2).
func (s *Server) Order(env midas.Env, billNo string) (Order, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, ok := s.orders[orderKey{version: midas.V1, env: env, billNo: billNo}]; ok {
		return *o, true
	}
	var found *Order
	for k, o := range s.orders {
		if k.version == midas.V2 && k.env == env && k.billNo == billNo {
			if found != nil {
				return Order{}, false
			}
			found = o
		}
	}
	if found == nil {
		return Order{}, false
	}
	return *found, true
}

// OrderV2 returns the processed 2.0 pay, present or cancelpay with billNo
// of a player in a zone ("" for "1"): 2.0 bill_nos are unique per player
// and zone only.
func (s *Server) OrderV2(env midas.Env, openID, zoneID, billNo string) (Order, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[v2OrderKey(env, openID, zoneID, billNo)]
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

// ClientOptions wire a midas.Client to s without a network: every request
// goes straight to Respond. Options given after them (retries, a clock)
// still apply:
//
//	c, err := midas.NewClient(cfg, append(fake.ClientOptions(), midas.WithMaxRetries(0))...)
func (s *Server) ClientOptions() []midas.Option {
	return []midas.Option{midas.WithHTTPClient(&http.Client{Transport: respondTransport(s.Respond)})}
}

// respondTransport sends a request to a Respond function.
type respondTransport func(*http.Request) (*http.Response, error)

func (f respondTransport) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

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

// outcome is a processed call: its answer and what Calls records of it.
type outcome struct {
	res     result
	env     midas.Env
	params  map[string]string
	errcode int
	applied bool
}

// fail is the outcome of a refused call.
func (o outcome) fail(code int, msg string) outcome {
	o.res, o.errcode, o.applied = answer(code, msg, nil), code, false
	return o
}

// endpoint is what a path names.
type endpoint struct {
	version midas.Version
	env     midas.Env // 1.0 only: 2.0 takes it from the body
	api     string
}

// route finds the API a path names.
func route(path string) (endpoint, bool) {
	for _, env := range []midas.Env{midas.Sandbox, midas.Production} {
		for _, api := range v1APIs {
			if path == v1Path(env, api) {
				return endpoint{version: midas.V1, env: env, api: api}, true
			}
		}
	}
	for _, api := range v2APIs {
		if path == v2Path(api) {
			return endpoint{version: midas.V2, api: api}, true
		}
	}
	return endpoint{}, false
}

func (s *Server) handle(r *http.Request) result {
	if r.URL.Path == "/cgi-bin/stable_token" {
		return s.handleStableToken(r)
	}
	ep, ok := route(r.URL.Path)
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
	call := Call{API: ep.api, Version: ep.version, Env: ep.env}
	f := s.takeFault(ep.api)
	call.Fault = f
	query := r.URL.Query()
	verify := func() (outcome, func() outcome) {
		if ep.version == midas.V2 {
			return s.verifyV2(ep.api, query, body)
		}
		return s.verifyV1(ep.env, ep.api, query.Get("access_token"), body)
	}
	process := func() outcome {
		o, apply := verify()
		if apply == nil {
			return o // refused
		}
		return apply()
	}
	var res result
	if f != nil && (f.ApplyAfter > 0 || !f.Applied && f.replacesAnswer()) {
		call.Params = looseParams(body)
		if ep.version == midas.V2 && call.Params["env"] == "1" {
			call.Env = midas.Sandbox
		}
		if f.ApplyAfter > 0 {
			// Credentials are checked on arrival, as WeChat does: a token
			// or session that ends while the request is held does not stop
			// it landing.
			refusal, apply := verify()
			if apply == nil {
				apply = func() outcome { return refusal }
			}
			s.applyLater(f, len(s.calls), apply)
		}
	} else {
		o := process()
		res, call.Env, call.Params, call.Errcode, call.Applied = o.res, o.env, o.params, o.errcode, o.applied
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
