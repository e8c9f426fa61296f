// Package shop is a game backend's purchase handler, to show how such a
// handler is unit-tested with httpmock and midastest (see shop_test.go).
package shop

import (
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/gomidas/midas"
)

// Shop sells items for coins.
type Shop struct {
	Midas  *midas.Client
	Prices map[string]int64 // item → coins
	Now    func() time.Time // default time.Now

	mu     sync.Mutex
	orders map[string]order // by order id; a real shop keeps this in its database
}

// order is what the shop knows of a purchase.
type order struct {
	status string // "delivered" or "pending"
	// unknownAt is when a pay's outcome was last unknown: until
	// midas.LateLandingWindow after it, an attempt may still land, so a
	// settle's refusal is not final.
	unknownAt time.Time
}

// BuyRequest is the body of POST /buy. OrderID is made by the game client
// once per purchase, so a repeated request (a double tap, a retry) is the
// same order and never charges twice.
type BuyRequest struct {
	OpenID     string `json:"openid"`
	SessionKey string `json:"session_key"`
	OrderID    string `json:"order_id"`
	Item       string `json:"item"`
}

// BuyResponse says what became of the order.
type BuyResponse struct {
	Status  string `json:"status"`            // delivered, insufficient_balance, pending, failed
	Balance *int64 `json:"balance,omitempty"` // only when WeChat's answer carried it
}

func (s *Shop) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req BuyRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	price, ok := s.Prices[req.Item]
	if !ok {
		http.Error(w, "no such item", http.StatusNotFound)
		return
	}
	o := s.order(req.OrderID)
	if o.status == "delivered" {
		// A repeat of a delivered order: answer as the first time.
		reply(w, http.StatusOK, BuyResponse{Status: "delivered"})
		return
	}
	pay := midas.PayRequest{OpenID: req.OpenID, SessionKey: req.SessionKey, BillNo: req.OrderID, Amount: price, PayItem: req.Item}
	var resp *midas.PayResponse
	var err error
	if o.status == "pending" {
		// An earlier attempt's outcome is unknown: settle it, same bill_no,
		// never refund it (a refund can find nothing while the pay is still
		// on its way, and then the pay lands). A plain Pay would be
		// answered 90012 (order exists) and say nothing.
		resp, err = s.Midas.SettlePay(r.Context(), pay)
	} else {
		resp, err = s.Midas.Pay(r.Context(), pay)
	}
	switch {
	// First: an unknown outcome matches no other error, and must never be
	// read as a refusal (the coins may be gone).
	case errors.Is(err, midas.ErrOutcomeUnknown):
		s.setOrder(req.OrderID, order{status: "pending", unknownAt: s.now()})
		reply(w, http.StatusAccepted, BuyResponse{Status: "pending"})
	case err == nil:
		// AlreadyProcessed: an unclear attempt was in fact applied. Deliver.
		s.setOrder(req.OrderID, order{status: "delivered"})
		out := BuyResponse{Status: "delivered"}
		if resp.BalanceKnown { // not after AlreadyProcessed
			out.Balance = &resp.Balance
		}
		reply(w, http.StatusOK, out)
	case errors.Is(err, midas.ErrInsufficientBalance) && o.status == "pending" && s.now().Before(o.unknownAt.Add(midas.LateLandingWindow)):
		// A settle's refusal within the window is not final: an attempt of
		// the unknown pay may still land. Keep the order open; the next
		// request settles again.
		reply(w, http.StatusAccepted, BuyResponse{Status: "pending"})
	case errors.Is(err, midas.ErrInsufficientBalance):
		s.setOrder(req.OrderID, order{})
		reply(w, http.StatusPaymentRequired, BuyResponse{Status: "insufficient_balance"})
	default:
		reply(w, http.StatusBadGateway, BuyResponse{Status: "failed"})
	}
}

func (s *Shop) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Shop) order(orderID string) order {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.orders[orderID]
}

func (s *Shop) setOrder(orderID string, o order) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.orders == nil {
		s.orders = map[string]order{}
	}
	if o.status == "" {
		delete(s.orders, orderID)
		return
	}
	s.orders[orderID] = o
}

func reply(w http.ResponseWriter, status int, v BuyResponse) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
