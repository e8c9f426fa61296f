// Package shop is a game backend's purchase handler, to show how such a
// handler is unit-tested with httpmock and midastest (see shop_test.go).
package shop

import (
	"encoding/json"
	"errors"
	"net/http"
	"sync"

	"github.com/gomidas/midas"
)

// Shop sells items for coins.
type Shop struct {
	Midas  *midas.Client
	Prices map[string]int64 // item → coins

	mu     sync.Mutex
	orders map[string]string // order id → "delivered" or "pending"; a real shop keeps this in its database
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
	Status  string `json:"status"` // delivered, insufficient_balance, pending, failed
	Balance int64  `json:"balance,omitempty"`
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
	switch s.status(req.OrderID) {
	case "delivered":
		// A repeat of a delivered order: answer as the first time.
		reply(w, http.StatusOK, BuyResponse{Status: "delivered"})
		return
	}
	pay := midas.PayRequest{OpenID: req.OpenID, SessionKey: req.SessionKey, BillNo: req.OrderID, Amount: price, PayItem: req.Item}
	var resp *midas.PayResponse
	var err error
	if s.status(req.OrderID) == "pending" {
		// An earlier attempt's outcome is unknown: settle it. A plain Pay
		// would be answered 90012 (order exists) and say nothing.
		resp, err = s.Midas.SettlePay(r.Context(), pay)
	} else {
		resp, err = s.Midas.Pay(r.Context(), pay)
	}
	switch {
	// First: an unknown outcome matches no other error, and must never be
	// read as a refusal (the coins may be gone).
	case errors.Is(err, midas.ErrOutcomeUnknown):
		s.setStatus(req.OrderID, "pending")
		reply(w, http.StatusAccepted, BuyResponse{Status: "pending"})
	case err == nil:
		// AlreadyProcessed: an unclear attempt was in fact applied. Deliver.
		s.setStatus(req.OrderID, "delivered")
		reply(w, http.StatusOK, BuyResponse{Status: "delivered", Balance: resp.Balance})
	case errors.Is(err, midas.ErrInsufficientBalance):
		s.setStatus(req.OrderID, "")
		reply(w, http.StatusPaymentRequired, BuyResponse{Status: "insufficient_balance"})
	default:
		reply(w, http.StatusBadGateway, BuyResponse{Status: "failed"})
	}
}

func (s *Shop) status(orderID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.orders[orderID]
}

func (s *Shop) setStatus(orderID, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.orders == nil {
		s.orders = map[string]string{}
	}
	if status == "" {
		delete(s.orders, orderID)
		return
	}
	s.orders[orderID] = status
}

func reply(w http.ResponseWriter, status int, v BuyResponse) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
