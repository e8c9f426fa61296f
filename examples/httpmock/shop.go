// Package shop is a game backend's purchase handler, to show how such a
// handler is unit-tested with httpmock and midastest (see shop_test.go).
package shop

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/gomidas/midas"
)

// Shop sells items for coins.
type Shop struct {
	Midas  *midas.Client
	Prices map[string]int64 // item → coins
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
	resp, err := s.Midas.Pay(r.Context(), midas.PayRequest{
		OpenID: req.OpenID, SessionKey: req.SessionKey, BillNo: req.OrderID, Amount: price, PayItem: req.Item,
	})
	switch {
	case err == nil:
		// AlreadyProcessed: an unclear attempt was in fact applied. Deliver.
		reply(w, http.StatusOK, BuyResponse{Status: "delivered", Balance: resp.Balance})
	case errors.Is(err, midas.ErrInsufficientBalance):
		reply(w, http.StatusPaymentRequired, BuyResponse{Status: "insufficient_balance"})
	case errors.Is(err, midas.ErrOutcomeUnknown):
		// Keep the order open and settle it later with SettlePay.
		reply(w, http.StatusAccepted, BuyResponse{Status: "pending"})
	default:
		reply(w, http.StatusBadGateway, BuyResponse{Status: "failed"})
	}
}

func reply(w http.ResponseWriter, status int, v BuyResponse) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
