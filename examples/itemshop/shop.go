// Package itemshop is a small game server that sells items with virtual
// payment 2.0 direct purchase (道具直购):
//
//   - POST /order signs an order for wx.requestMidasPaymentGameItem and
//     records it as pending;
//   - /midas/push is the push URL configured in MP: it verifies WeChat's
//     delivery pushes (package push) and delivers each paid order exactly
//     once, keyed on OutTradeNo;
//   - the same endpoint records refunds: a refunded order is never
//     delivered, and a delivered one has its items revoked;
//   - Reconcile is the backstop for a push that never came: it asks WeChat
//     (QueryOrder) and delivers a paid order that was not refunded;
//   - POST /spend sells items for the player's game coins (Pay), with the
//     bill_no recorded before the call and every unknown outcome settled
//     (SettlePay) later: see SettlePending.
//
// Orders live in a SQL database (SQLStore: SQLite by default, PostgreSQL or
// MySQL/MariaDB), so they survive a restart and several instances can
// share them. README.md walks through the flow; the tests run it against
// midastest with duplicated, reordered, retried, late and forged pushes,
// refunds, crashes, and two instances on one PostgreSQL.
package itemshop

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/gomidas/midas"
	"github.com/gomidas/midas/push"
)

// Paths the Server serves.
const (
	OrderPath = "/order"      // POST: sign an order
	SpendPath = "/spend"      // POST: buy an item with game coins
	PushPath  = "/midas/push" // WeChat's pushes (the URL configured in MP)
)

// MaxQuantity bounds how many of an item one order buys.
const MaxQuantity = 999

// ErrMismatch is the delivery error for a verified push that disagrees with
// the order the shop signed under its OutTradeNo.
var ErrMismatch = errors.New("itemshop: push does not match the stored order")

// ErrUnknownOrder is Reconcile's error for an OutTradeNo the shop has no
// record of.
var ErrUnknownOrder = errors.New("itemshop: unknown order")

// ErrRefunded is Reconcile's error for an order WeChat refunded: it is
// never delivered.
var ErrRefunded = errors.New("itemshop: order refunded")

// Config configures a Server.
type Config struct {
	// Midas signs orders and asks for their state (Reconcile): a
	// midas.V2 client. Orders are paid in its Env.
	Midas *midas.Client
	// Push is the push URL configuration of MP (发货推送配置: Token,
	// EncodingAESKey) with the appid and AppKeys that verify pushes. Give
	// only the AppKey of the Midas client's Env: a production server then
	// rejects sandbox pushes before they reach the shop.
	Push push.Config
	// Catalogue maps each product id, as published in MP, to its unit price
	// in fen. The price must be MP's: another one fails on the client
	// (-15016).
	Catalogue map[string]int64
	// CoinPrices maps each product id sold for game coins (POST /spend) to
	// its unit price in coins; empty sells nothing for coins.
	CoinPrices map[string]int64
	// Store keeps orders, refunds, spends and inventories: a SQLStore, or
	// a wrapper of one. Required.
	Store Store
	// Sessions looks up a player's current session_key, which 2.0 needs to
	// settle a pending spend when the player is not calling in (see
	// SettlePending). Nil: pending spends are settled only when their
	// player next calls POST /spend.
	Sessions SessionKeys
	// Now is the shop's clock; default time.Now.
	Now func() time.Time
	// Logger receives the shop's and the push handler's logs; default none.
	Logger *slog.Logger
	// PushOptions are added to the push handler's own (its logger), e.g.
	// push.WithObserver for telemetry.
	PushOptions []push.Option
}

// Server is the game server: an http.Handler serving OrderPath, SpendPath
// and PushPath.
//
// Delivery policy, for a push whose signatures all verified (so WeChat took
// the money):
//
//   - an order already delivered: answer success, grant nothing (WeChat
//     repeats pushes, before and after a success);
//   - a pending order the push matches (openid, product, quantity, env):
//     grant the items and mark the order delivered, in one transaction;
//   - a pending order the push does not match: grant nothing and answer a
//     failure, logged at Error. Such a push means the records and WeChat
//     disagree (a bug, or a corrupted record): granting what the push says
//     under an id that was signed for something else would hide it. WeChat
//     retries for about 24 hours, so once someone has fixed the record a
//     retry delivers; otherwise refund the order;
//   - an unknown OutTradeNo: deliver what the push says, record the order
//     (FromPush) and log a warning. The player paid, and paid for exactly
//     this: the push is signed with the AppKey. Store (商城) purchases reach
//     the push URL without ever passing through POST /order; an in-game
//     order can only be unknown if its record was lost.
//
// A push of another Env than the Midas client's is refused like a mismatch
// (sandbox orders are not paid with real money).
//
// Refund policy, for a verified refund push (recorded once per RefundId;
// a refund of another Env is acknowledged and ignored, since OutTradeNo is
// only unique within one Env):
//
//   - an order not yet delivered (pending, or not known at all) is marked
//     refunded and is never delivered: a delivery push that comes later,
//     and Reconcile, grant nothing;
//   - a delivered order is marked refunded and its items are revoked: the
//     grant stays in the ledger, marked revoked, and no longer counts in
//     the player's inventory. The player got the money back, so keeps
//     nothing. (A game whose items can be used up may instead keep them and
//     flag the player; either way the refund must be recorded.)
//   - any refund, partial or whole, refunds the whole order: an item
//     order is one purchase.
type Server struct {
	midas      *midas.Client
	catalogue  map[string]int64
	coinPrices map[string]int64
	store      Store
	sessions   SessionKeys
	now        func() time.Time
	log        *slog.Logger
	mux        *http.ServeMux
}

// New checks cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.Midas == nil:
		return nil, errors.New("itemshop: Config.Midas is nil")
	case cfg.Midas.Version() != midas.V2:
		return nil, errors.New("itemshop: Config.Midas must be a midas.V2 client")
	case len(cfg.Catalogue) == 0:
		return nil, errors.New("itemshop: Config.Catalogue is empty")
	case cfg.Store == nil:
		return nil, errors.New("itemshop: Config.Store is nil")
	}
	for id, price := range cfg.Catalogue {
		if price <= 0 {
			return nil, fmt.Errorf("itemshop: Config.Catalogue: price of %q is not positive", id)
		}
	}
	for id, price := range cfg.CoinPrices {
		if price <= 0 {
			return nil, fmt.Errorf("itemshop: Config.CoinPrices: price of %q is not positive", id)
		}
	}
	s := &Server{midas: cfg.Midas, catalogue: cfg.Catalogue, coinPrices: cfg.CoinPrices, store: cfg.Store,
		sessions: cfg.Sessions, now: cfg.Now, log: cfg.Logger, mux: http.NewServeMux()}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	pushes, err := push.NewHandler(cfg.Push, push.Handlers{ItemDelivered: s.deliver, Refunded: s.refunded},
		append([]push.Option{push.WithLogger(s.log)}, cfg.PushOptions...)...)
	if err != nil {
		return nil, err
	}
	s.mux.HandleFunc("POST "+OrderPath, s.order)
	s.mux.HandleFunc("POST "+SpendPath, s.spend)
	s.mux.Handle(PushPath, pushes)
	return s, nil
}

// ServeHTTP serves OrderPath, SpendPath and PushPath.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Store returns the Server's store.
func (s *Server) Store() Store { return s.store }

// OrderRequest is the body of POST /order.
//
// In a real game the openid and session_key come from the player's login
// session on the server (code2session after wx.login), never from the
// request: they are in the body here only to keep the example short.
type OrderRequest struct {
	OpenID     string `json:"openid"`
	SessionKey string `json:"session_key"`
	ProductID  string `json:"product_id"`
	Quantity   int64  `json:"quantity"`
}

// order serves POST /order: it prices the order from the catalogue, signs
// it and records it as pending, and answers the midas.GameItemPayment
// ({"signData","paySig","signature"}) that the front end passes to
// wx.requestMidasPaymentGameItem as it is.
func (s *Server) order(w http.ResponseWriter, r *http.Request) {
	req, price, ok := readPurchase(w, r, s.catalogue, "no such product")
	if !ok {
		return
	}
	// A fresh OutTradeNo is unique but for astronomically bad luck; the
	// store's unique key catches that, and a new one is drawn.
	for attempt := 1; ; attempt++ {
		o := Order{OutTradeNo: newOutTradeNo(), OpenID: req.OpenID, ProductID: req.ProductID,
			Quantity: req.Quantity, Price: price, Env: s.midas.Env()}
		// Sign first: it checks the session_key and the rest, so nothing is
		// recorded for a request that cannot be paid.
		pay, err := s.midas.SignGameItem(midas.GameItemRequest{SessionKey: req.SessionKey, ProductID: o.ProductID,
			Quantity: o.Quantity, Price: o.Price, OutTradeNo: o.OutTradeNo})
		if err != nil {
			httpError(w, http.StatusBadRequest, err.Error()) // names the field at fault, never a secret
			return
		}
		// Record before answering: WeChat can only push for an order the
		// client was given, so the push always finds it.
		err = s.store.AddOrder(r.Context(), o)
		if errors.Is(err, ErrDuplicateOrder) && attempt < 3 {
			continue
		}
		if err != nil {
			s.log.Error("itemshop: recording an order failed", slog.Any("error", err))
			httpError(w, http.StatusInternalServerError, "internal error")
			return
		}
		s.log.Info("itemshop: order signed", slog.String("out_trade_no", o.OutTradeNo),
			slog.String("openid", o.OpenID), slog.String("product_id", o.ProductID), slog.Int64("quantity", o.Quantity))
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(pay)
		return
	}
}

// deliver is the push handler's ItemDelivered: it delivers a verified
// purchase once, as the Server's policy says. It only touches the store, so
// it answers well within WeChat's 3 seconds; ctx ends before them.
func (s *Server) deliver(ctx context.Context, d *push.ItemDelivery) error {
	attrs := []any{slog.String("out_trade_no", d.OutTradeNo), slog.String("openid", d.OpenID),
		slog.String("product_id", d.ProductID), slog.Int64("quantity", d.Quantity)}
	if d.Env != s.midas.Env() {
		return fmt.Errorf("%w: a push of env %v to a shop selling in %v", ErrMismatch, d.Env, s.midas.Env())
	}
	paid := Order{OutTradeNo: d.OutTradeNo, OpenID: d.OpenID, ProductID: d.ProductID, Quantity: d.Quantity, Env: d.Env}
	if d.Quantity > 0 {
		paid.Price = d.OrigPrice / d.Quantity
	}
	res, err := s.store.Deliver(ctx, paid, func(stored *Order) error {
		if stored == nil {
			s.log.Warn("itemshop: delivering a paid order this shop has no record of", append(attrs, slog.Int("source", d.Source))...)
			return nil
		}
		if stored.OpenID != d.OpenID || stored.ProductID != d.ProductID || stored.Quantity != d.Quantity || stored.Env != d.Env {
			return fmt.Errorf("%w %q: stored %s ×%d for %s in %v, push %s ×%d for %s in %v", ErrMismatch, d.OutTradeNo,
				stored.ProductID, stored.Quantity, stored.OpenID, stored.Env, d.ProductID, d.Quantity, d.OpenID, d.Env)
		}
		return nil
	})
	switch {
	case err != nil:
		return err // logged by the push handler; WeChat retries
	case res == Granted:
		s.log.Info("itemshop: delivered", attrs...)
	case res == RefundedFirst:
		s.log.Info("itemshop: not delivering a refunded order", attrs...)
	default:
		s.log.Debug("itemshop: repeat of a delivered order", attrs...)
	}
	return nil
}

// refunded is the push handler's Refunded: it records a verified refund
// once per RefundId, as the Server's refund policy says. A repeat (WeChat
// repeats refund pushes too) changes nothing.
func (s *Server) refunded(ctx context.Context, r *push.Refund) error {
	attrs := []any{slog.String("out_trade_no", r.OutTradeNo), slog.String("refund_id", r.RefundID),
		slog.String("openid", r.OpenID), slog.Int64("amount", r.RefundAmount)}
	if r.Env != s.midas.Env() {
		// The OutTradeNo names an order of the other Env, not one of ours.
		s.log.Warn("itemshop: ignoring a refund of another env", append(attrs, slog.Any("env", r.Env))...)
		return nil
	}
	res, err := s.store.Refund(ctx, Refund{RefundID: r.RefundID, OutTradeNo: r.OutTradeNo, OpenID: r.OpenID,
		Amount: r.RefundAmount, Source: r.RefundSource})
	switch {
	case err != nil:
		return err // WeChat retries
	case res == RefundRevoked:
		s.log.Warn("itemshop: refund of a delivered order: items revoked", attrs...)
	case res == RefundBeforeDelivery:
		s.log.Info("itemshop: refund of an undelivered order: it will not be delivered", attrs...)
	case res == RefundAgain:
		s.log.Info("itemshop: another refund of a refunded order recorded", attrs...)
	default:
		s.log.Debug("itemshop: repeat of a recorded refund", attrs...)
	}
	return nil
}

// Reconcile is the backstop for a push that was lost (or an endpoint that
// was down): it asks WeChat about a pending order with QueryOrder and, if it
// was paid, delivers it, through the same once-only Store.Deliver as the
// push (a push arriving later grants nothing). Call it for orders still
// pending a while after the client reported payment: every 10 s at first,
// then slower. sessionKey is the player's current session_key (2.0 signs
// the query with it). It reports whether the order is delivered; an order
// WeChat does not know or not paid yet is (false, nil). A refunded order is
// never delivered (QueryOrder may still say paid): ErrRefunded.
func (s *Server) Reconcile(ctx context.Context, outTradeNo, sessionKey string) (bool, error) {
	o, ok, err := s.store.Order(ctx, outTradeNo)
	switch {
	case err != nil:
		return false, err
	case !ok:
		return false, ErrUnknownOrder
	case o.Refunded:
		return false, ErrRefunded
	case o.Delivered:
		return true, nil
	}
	st, err := s.midas.QueryOrder(ctx, midas.QueryOrderRequest{OpenID: o.OpenID, SessionKey: sessionKey,
		OutTradeNo: o.OutTradeNo, Kind: midas.ItemOrder})
	switch {
	case errors.Is(err, midas.ErrOrderNotFound):
		return false, nil // the player has not paid (yet)
	case err != nil:
		return false, err
	case !st.Paid:
		return false, nil
	case st.ProductID != "" && st.ProductID != o.ProductID:
		return false, fmt.Errorf("%w %q: WeChat says product %s", ErrMismatch, o.OutTradeNo, st.ProductID)
	}
	// The refund may have been recorded since the read above: Deliver
	// decides on the row as it is now.
	res, err := s.store.Deliver(ctx, o, func(stored *Order) error {
		if stored == nil {
			return ErrUnknownOrder
		}
		return nil
	})
	switch {
	case err != nil:
		return false, err
	case res == RefundedFirst:
		return false, ErrRefunded
	case res == Granted:
		s.log.Info("itemshop: delivered by Reconcile", slog.String("out_trade_no", o.OutTradeNo))
	}
	return true, nil
}

// readPurchase reads the body of POST /order or POST /spend and prices it
// from prices (never from the client). On a bad request it answers it and
// reports false.
func readPurchase(w http.ResponseWriter, r *http.Request, prices map[string]int64, unknown string) (OrderRequest, int64, bool) {
	var req OrderRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || req.OpenID == "" {
		httpError(w, http.StatusBadRequest, "want JSON {openid, session_key, product_id, quantity}")
		return req, 0, false
	}
	price, ok := prices[req.ProductID]
	switch {
	case !ok:
		httpError(w, http.StatusNotFound, unknown)
		return req, 0, false
	case req.Quantity < 1 || req.Quantity > MaxQuantity:
		httpError(w, http.StatusBadRequest, fmt.Sprintf("quantity must be 1 to %d", MaxQuantity))
		return req, 0, false
	}
	return req, price, true
}

// newOutTradeNo makes an order id: "is", the UTC date and 20 random hex
// digits, 29 characters of [0-9a-z-] (within the ≤ 32 of
// [0-9A-Za-z_-|*@] every page accepts, and not starting with '_').
func newOutTradeNo() string {
	var b [10]byte
	rand.Read(b[:])
	return "is" + time.Now().UTC().Format("060102") + "-" + hex.EncodeToString(b[:])
}

func httpError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
