package itemshop

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/gomidas/midas"
)

// SessionKeys looks up a player's current session_key: in a real game, the
// login session store that code2session filled (the shop's own tables hold
// nothing secret). ok is false when the player has no live session.
type SessionKeys interface {
	SessionKey(ctx context.Context, openID string) (key string, ok bool, err error)
}

// SessionKeysFunc adapts a function to SessionKeys.
type SessionKeysFunc func(ctx context.Context, openID string) (string, bool, error)

// SessionKey implements SessionKeys.
func (f SessionKeysFunc) SessionKey(ctx context.Context, openID string) (string, bool, error) {
	return f(ctx, openID)
}

// SpendRequest is the body of POST /spend: the same as POST /order's, the
// price being in coins (Config.CoinPrices).
type SpendRequest = OrderRequest

// SpendAnswer is the answer of POST /spend.
type SpendAnswer struct {
	BillNo string     `json:"bill_no"`
	State  SpendState `json:"state"` // paid, failed, or pending (settled later)
	Error  string     `json:"error,omitempty"`
}

// payTimeout bounds one Pay or SettlePay call; an unfinished one stays
// pending and is settled again later.
const payTimeout = 10 * time.Second

// spend serves POST /spend: it buys an item with the player's game coins.
//
//  1. The player's earlier pending spends are settled first, with the
//     session_key the player just gave (see SettlePending for why).
//  2. A fresh bill_no is recorded, pending, before Pay is called: whatever
//     happens next (a timeout, a crash), the shop knows a pay may exist.
//  3. Pay. Success: the spend is marked paid and its items granted, in one
//     transaction (200). A definite refusal, such as insufficient balance
//     (402), or a request that was never sent: marked failed, nothing
//     granted. An unknown outcome: it stays pending (202) and is settled
//     with SettlePay and the same bill_no, which can never charge twice.
func (s *Server) spend(w http.ResponseWriter, r *http.Request) {
	req, price, ok := readPurchase(w, r, s.coinPrices, "no such product for coins")
	if !ok {
		return
	}
	// The pay goes on when the player hangs up: an abandoned call would only
	// turn a clear outcome into a pending one.
	ctx := context.WithoutCancel(r.Context())
	if _, err := s.settlePlayer(ctx, req.OpenID, req.SessionKey); err != nil {
		s.log.Error("itemshop: settling earlier spends failed", slog.String("openid", req.OpenID), slog.Any("error", err))
	}
	sp := Spend{BillNo: newBillNo(), OpenID: req.OpenID, ProductID: req.ProductID, Quantity: req.Quantity, Coins: price * req.Quantity,
		CreatedAt: s.now()}
	if err := s.store.AddSpend(ctx, sp); err != nil {
		s.log.Error("itemshop: recording a spend failed", slog.Any("error", err))
		httpError(w, http.StatusInternalServerError, "internal error")
		return
	}
	pctx, cancel := context.WithTimeout(ctx, payTimeout)
	_, payErr := s.midas.Pay(pctx, midas.PayRequest{OpenID: sp.OpenID, SessionKey: req.SessionKey, BillNo: sp.BillNo, Amount: sp.Coins})
	cancel()
	state, err := s.finish(ctx, sp, payErr, false, time.Time{})
	answer := SpendAnswer{BillNo: sp.BillNo, State: state}
	status := http.StatusOK
	switch {
	case err != nil:
		// The outcome is not recorded: the spend stays pending and is
		// settled later, like an unknown one.
		s.log.Error("itemshop: recording a spend's outcome failed", slog.String("bill_no", sp.BillNo), slog.Any("error", err))
		answer.State, answer.Error, status = SpendPending, "internal error: settled later", http.StatusInternalServerError
	case state == SpendPending:
		answer.Error, status = "outcome unknown: settled later", http.StatusAccepted
	case state == SpendFailed && errors.Is(payErr, midas.ErrInsufficientBalance):
		answer.Error, status = "insufficient balance", http.StatusPaymentRequired
	case state == SpendFailed:
		answer.Error, status = payErr.Error(), http.StatusBadGateway // names no secret
		if errors.Is(payErr, midas.ErrInvalidRequest) {
			status = http.StatusBadRequest
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(answer)
}

// finish records the outcome of a Pay (settling: of a SettlePay begun at
// began) of sp and returns the spend's state. Only a clear answer ends a spend:
//
//   - success (AlreadyProcessed included): paid, items granted;
//   - Pay: an error that is not ErrOutcomeUnknown means nothing was
//     deducted (a refusal, a request never sent or refused before sending):
//     failed;
//   - SettlePay: only ErrInsufficientBalance is such an answer (the server
//     looked the bill_no up), and only from a settle begun
//     midas.LateLandingWindow after Pay's last attempt could have been
//     sent (the spend's CreatedAt + payTimeout): before that, a lost
//     attempt may still land and charge the coins, so the spend stays
//     pending and is settled again later. Any other error leaves it
//     pending;
//   - ErrOutcomeUnknown: pending.
func (s *Server) finish(ctx context.Context, sp Spend, payErr error, settling bool, began time.Time) (SpendState, error) {
	attrs := []any{slog.String("bill_no", sp.BillNo), slog.String("openid", sp.OpenID), slog.Int64("coins", sp.Coins)}
	var paid bool
	switch {
	case payErr == nil:
		paid = true
	case errors.Is(payErr, midas.ErrOutcomeUnknown):
		s.log.Warn("itemshop: spend outcome unknown, pending", append(attrs, slog.Any("error", payErr))...)
		return SpendPending, nil
	case settling && !errors.Is(payErr, midas.ErrInsufficientBalance):
		s.log.Warn("itemshop: settling a spend failed, pending", append(attrs, slog.Any("error", payErr))...)
		return SpendPending, nil
	case settling && began.Before(sp.CreatedAt.Add(payTimeout+midas.LateLandingWindow)):
		s.log.Info("itemshop: spend refused within the late-landing window, settled again later", attrs...)
		return SpendPending, nil
	}
	changed, err := s.store.FinishSpend(ctx, sp.BillNo, paid)
	if err != nil {
		return SpendPending, err
	}
	state := SpendFailed
	if paid {
		state = SpendPaid
	}
	if !changed {
		// Settled meanwhile by another instance (or another call): report
		// what is recorded.
		cur, ok, err := s.store.Spend(ctx, sp.BillNo)
		if err != nil || !ok {
			return SpendPending, err
		}
		return cur.State, nil
	}
	if paid {
		s.log.Info("itemshop: spend paid and granted", attrs...)
	} else {
		s.log.Info("itemshop: spend refused, nothing granted", append(attrs, slog.Any("error", payErr))...)
	}
	return state, nil
}

// SettleReport counts what SettlePending did.
type SettleReport struct {
	Settled int // spends now paid or failed
	Pending int // spends still pending after a SettlePay (unknown again)
	Waiting int // spends not tried: no session_key for their player
}

// SettlePending settles every pending spend with SettlePay and the same
// bill_no: call it on start and periodically (RunSettler does). A crash
// between Pay and recording its outcome leaves a spend pending; settling
// it charges the coins at most once (the bill_no is idempotent at Midas)
// and grants the items once (FinishSpend acts only on a pending spend).
//
// 2.0 signs SettlePay with the player's session_key, which the shop does
// not store. So a pending spend can be settled only while a valid
// session_key of its player is at hand: from Config.Sessions (the game's
// login sessions), or when the player next calls POST /spend, which
// settles that player's pending spends first. Until then it stays pending
// (Waiting): its coins may be deducted, and the items follow when it is
// settled. A session_key that has expired is answered with
// ErrSessionExpired, which leaves the spend pending too. A refusal for
// balance (90013) ends a spend only from a settle begun
// midas.LateLandingWindow after its pay was sent.
func (s *Server) SettlePending(ctx context.Context) (SettleReport, error) {
	var rep SettleReport
	pending, err := s.store.PendingSpends(ctx, "")
	if err != nil {
		return rep, err
	}
	keys := map[string]string{} // openid → session_key, looked up once per run
	for _, sp := range pending {
		key, ok := keys[sp.OpenID]
		if !ok && s.sessions != nil {
			k, found, err := s.sessions.SessionKey(ctx, sp.OpenID)
			if err != nil {
				return rep, err
			}
			if found {
				key = k
			}
			keys[sp.OpenID] = key
		}
		if key == "" {
			rep.Waiting++
			continue
		}
		st, err := s.settle(ctx, sp, key)
		if err != nil {
			return rep, err
		}
		if st == SpendPending {
			rep.Pending++
		} else {
			rep.Settled++
		}
	}
	return rep, nil
}

// settlePlayer settles openID's pending spends with sessionKey.
func (s *Server) settlePlayer(ctx context.Context, openID, sessionKey string) (int, error) {
	pending, err := s.store.PendingSpends(ctx, openID)
	if err != nil {
		return 0, err
	}
	settled := 0
	for _, sp := range pending {
		st, err := s.settle(ctx, sp, sessionKey)
		if err != nil {
			return settled, err
		}
		if st != SpendPending {
			settled++
		}
	}
	return settled, nil
}

func (s *Server) settle(ctx context.Context, sp Spend, sessionKey string) (SpendState, error) {
	began := s.now()
	sctx, cancel := context.WithTimeout(ctx, payTimeout)
	_, err := s.midas.SettlePay(sctx, midas.PayRequest{OpenID: sp.OpenID, SessionKey: sessionKey, BillNo: sp.BillNo, Amount: sp.Coins})
	cancel()
	return s.finish(ctx, sp, err, true, began)
}

// RunSettler settles pending spends now and then every interval, until ctx
// ends. Several instances may run it on one database: SettlePay is
// idempotent on the bill_no and FinishSpend records one outcome.
func (s *Server) RunSettler(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		rep, err := s.SettlePending(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Error("itemshop: settling pending spends failed", slog.Any("error", err))
		} else if rep != (SettleReport{}) {
			s.log.Info("itemshop: settled pending spends", slog.Int("settled", rep.Settled),
				slog.Int("pending", rep.Pending), slog.Int("waiting_for_session", rep.Waiting))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// newBillNo makes a bill_no: "sp", the UTC date and 20 random hex digits
// (2.0: up to 63 of [0-9A-Za-z_-], not starting with '_').
func newBillNo() string {
	var b [10]byte
	rand.Read(b[:])
	return "sp" + time.Now().UTC().Format("060102") + "-" + hex.EncodeToString(b[:])
}
