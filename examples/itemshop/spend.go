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
	created := s.now()
	// The pay's last attempt is sent within its timeout: until then it may
	// be in flight.
	sp := Spend{BillNo: newBillNo(), OpenID: req.OpenID, ProductID: req.ProductID, Quantity: req.Quantity, Coins: price * req.Quantity,
		CreatedAt: created, UnclearAt: created.Add(payTimeout)}
	if err := s.store.AddSpend(ctx, sp); err != nil {
		s.log.Error("itemshop: recording a spend failed", slog.Any("error", err))
		httpError(w, http.StatusInternalServerError, "internal error")
		return
	}
	pctx, cancel := context.WithTimeout(ctx, payTimeout)
	_, payErr := s.midas.Pay(pctx, midas.PayRequest{OpenID: sp.OpenID, SessionKey: req.SessionKey, BillNo: sp.BillNo, Amount: sp.Coins})
	cancel()
	state, err := s.finishPay(ctx, sp, payErr)
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

// finishPay records the outcome of sp's Pay and returns the spend's state.
// Only a clear answer ends a spend: success (AlreadyProcessed included) is
// paid, items granted; an error that is not ErrOutcomeUnknown means nothing
// was deducted (a refusal, a request never sent or refused before sending):
// failed. ErrOutcomeUnknown leaves it pending.
func (s *Server) finishPay(ctx context.Context, sp Spend, payErr error) (SpendState, error) {
	if errors.Is(payErr, midas.ErrOutcomeUnknown) {
		s.log.Warn("itemshop: spend outcome unknown, pending", append(spendAttrs(sp), slog.Any("error", payErr))...)
		return SpendPending, nil
	}
	return s.record(ctx, sp, payErr, time.Time{})
}

// settle settles the pending spend sp with SettlePay and records the
// outcome. A success is final at once. A refusal for balance (90013) is
// final only from a settle begun midas.LateLandingWindow after the last
// call whose attempts may still land: the pay, or any settle that ended
// unknown or is running now. The spend's UnclearAt bounds them:
//
//   - before SettlePay is sent, UnclearAt is raised to the end of this
//     settle's timeout, so a settle running elsewhere (another instance,
//     or the player's POST /spend) cannot take a refusal as final while
//     this one's attempt is on its way;
//   - a settle that ends unknown (ErrOutcomeUnknown) or with an error that
//     does not say its request went unprocessed keeps the raise (pushed to
//     its actual end if that was later): the window runs again from it;
//   - a 90013 is final when the settle began a window after UnclearAt as
//     it was before the raise, and no other call raised it since (checked
//     by FinishSpend in the same UPDATE that fails the spend). Otherwise
//     the spend stays pending and the raise is undone: a definite 90013
//     says this settle left no attempt behind (the client answers
//     ErrOutcomeUnknown, never a refusal, when one of its attempts was
//     unclear).
func (s *Server) settle(ctx context.Context, sp Spend, sessionKey string) (SpendState, error) {
	began := s.now()
	prior, raised, ok, err := s.store.ExtendUnclear(ctx, sp.BillNo, began.Add(payTimeout))
	if err != nil {
		return SpendPending, err
	}
	if !ok { // settled meanwhile
		return s.recorded(ctx, sp.BillNo)
	}
	sctx, cancel := context.WithTimeout(ctx, payTimeout)
	_, err = s.midas.SettlePay(sctx, midas.PayRequest{OpenID: sp.OpenID, SessionKey: sessionKey, BillNo: sp.BillNo, Amount: sp.Coins})
	cancel()
	attrs := spendAttrs(sp)
	switch {
	case err == nil:
		return s.record(ctx, sp, nil, time.Time{})
	case errors.Is(err, midas.ErrOutcomeUnknown):
		s.log.Warn("itemshop: settling a spend: outcome unknown, pending", append(attrs, slog.Any("error", err))...)
		return s.stillUnclear(ctx, sp, raised)
	case errors.Is(err, midas.ErrInsufficientBalance) && !began.Before(prior.Add(midas.LateLandingWindow)):
		return s.record(ctx, sp, err, raised)
	case errors.Is(err, midas.ErrInsufficientBalance), errors.Is(err, midas.ErrNotSent), errors.Is(err, midas.ErrInvalidRequest):
		// Definite, and this settle left nothing in flight.
		s.log.Info("itemshop: settling a spend: not final yet, settled again later", append(attrs, slog.Any("error", err))...)
		return SpendPending, s.store.RestoreUnclear(ctx, sp.BillNo, raised, prior)
	default:
		s.log.Warn("itemshop: settling a spend failed, pending", append(attrs, slog.Any("error", err))...)
		return s.stillUnclear(ctx, sp, raised)
	}
}

// stillUnclear keeps a settle's raise of sp's UnclearAt, pushed to now if
// the call overran its timeout: its last attempt was sent by now.
func (s *Server) stillUnclear(ctx context.Context, sp Spend, raised time.Time) (SpendState, error) {
	if end := s.now(); end.After(raised) {
		if _, _, _, err := s.store.ExtendUnclear(ctx, sp.BillNo, end); err != nil {
			return SpendPending, err
		}
	}
	return SpendPending, nil
}

// record records a clear outcome of sp (payErr nil: paid; else refused) and
// returns the spend's state. A refusal is recorded only while sp's
// UnclearAt is not after unclearAtMost (zero: always).
func (s *Server) record(ctx context.Context, sp Spend, payErr error, unclearAtMost time.Time) (SpendState, error) {
	paid := payErr == nil
	changed, err := s.store.FinishSpend(ctx, sp.BillNo, paid, unclearAtMost)
	if err != nil {
		return SpendPending, err
	}
	if !changed {
		// Settled meanwhile by another instance (or another call), or a
		// settle raised UnclearAt since: report what is recorded.
		return s.recorded(ctx, sp.BillNo)
	}
	attrs := spendAttrs(sp)
	if paid {
		s.log.Info("itemshop: spend paid and granted", attrs...)
		return SpendPaid, nil
	}
	s.log.Info("itemshop: spend refused, nothing granted", append(attrs, slog.Any("error", payErr))...)
	return SpendFailed, nil
}

// recorded returns the state recorded for billNo.
func (s *Server) recorded(ctx context.Context, billNo string) (SpendState, error) {
	cur, ok, err := s.store.Spend(ctx, billNo)
	if err != nil || !ok {
		return SpendPending, err
	}
	return cur.State, nil
}

func spendAttrs(sp Spend) []any {
	return []any{slog.String("bill_no", sp.BillNo), slog.String("openid", sp.OpenID), slog.Int64("coins", sp.Coins)}
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
// midas.LateLandingWindow after the last pay or settle of it whose outcome
// was unknown (see settle).
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
