package midas

import (
	"context"
)

// Pay deducts r.Amount coins from a player (pay). Gifted coins are spent
// first; UsedGenAmount says how many.
//
// r.BillNo makes the call idempotent: the same bill_no is never deducted
// twice. Pay retries transport errors, HTTP 5xx and errcode -1 with the same
// bill_no (WithMaxRetries); when such a retry is answered 90012, the earlier
// attempt was applied and Pay succeeds with AlreadyProcessed set.
//
// When the outcome stays unclear, the error matches ErrOutcomeUnknown (and
// nothing else): settle it with SettlePay and the same request, never with a
// CancelPay (an attempt may land after the refund found nothing). Calling
// Pay again would be answered 90012, ErrOrderExists.
func (c *Client) Pay(ctx context.Context, r PayRequest) (*PayResponse, error) {
	return c.pay(ctx, r, false)
}

// SettlePay settles a Pay whose outcome was unknown. It sends the same
// request (same bill_no) until the answer is clear:
//   - success, or 90012 (the earlier call was applied, AlreadyProcessed set);
//   - a definite *APIError the server gives after looking the bill_no up:
//     90013 (ErrInsufficientBalance), nothing was deducted so far. Final only
//     for a settle begun LateLandingWindow after the unknown call's last
//     attempt: before that an attempt may still land, so keep the order
//     open and settle again after the window. When an attempt of the settle
//     itself was unclear (its answer lost, -1, HTTP 5xx), that attempt may
//     land after the 90013 too, so the settle ends with ErrOutcomeUnknown
//     instead: settle again a LateLandingWindow after it;
//   - any other errcode, such as one rejecting the request before the
//     bill_no is looked at (a rejected access_token after its one refresh, a
//     wrong signature, session or parameter, no permission): it stops at
//     once with an error matching ErrOutcomeUnknown and that cause, since
//     repeating cannot help; fix the session or configuration and settle
//     again.
//
// It repeats on -1, "being processed", HTTP 5xx, transport errors and
// unreadable answers, with the client's backoff, until ctx ends or
// WithSettleMaxAttempts (default DefaultSettleMaxAttempts) is reached, and
// then returns ErrOutcomeUnknown naming the attempts made.
func (c *Client) SettlePay(ctx context.Context, r PayRequest) (*PayResponse, error) {
	return c.pay(ctx, r, true)
}

func (c *Client) pay(ctx context.Context, r PayRequest, settling bool) (*PayResponse, error) {
	cl, err := c.d.pay(r)
	if err != nil {
		return nil, c.invalidCall(ctx, APIPay, settling, inVersion(err, c.d.version()))
	}
	defer cl.release()
	cl.settling = settling
	out := newAnswer()
	defer out.release()
	if err := c.do(ctx, cl, out); err != nil {
		return nil, err
	}
	return &PayResponse{BillNo: billNoOr(out.BillNo, r.BillNo), Balance: out.Balance.v, BalanceKnown: out.Balance.ok,
		UsedGenAmount: out.UsedGenAmt.v, UsedGenAmountKnown: out.UsedGenAmt.ok, AlreadyProcessed: out.alreadyProcessed}, nil
}

// billNoOr is the bill_no the server echoed, or the one sent when it echoed
// none.
func billNoOr(echoed, sent string) string {
	if echoed != "" {
		return echoed
	}
	return sent
}
