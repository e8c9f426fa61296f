package midas

import "context"

// CancelPay refunds a deduction made by an earlier Pay with r.BillNo
// (cancelpay), while the order is still open (bill numbers are valid for 48
// hours).
//
// In 1.0 the whole deduction is refunded and r.BillNo is also the refund's
// idempotency key: a retry after an unclear attempt answered 90015 (already
// refunded) succeeds with AlreadyProcessed set.
//
// In 2.0 r.Amount coins are returned (partial and repeated returns are
// allowed up to the amount paid), and each return has its own id,
// r.RefundBillNo: that is the idempotency key, a retry keeps it, and a retry
// after an unclear attempt answered 90012 succeeds with AlreadyProcessed set.
func (c *Client) CancelPay(ctx context.Context, r CancelPayRequest) (*CancelPayResponse, error) {
	return c.cancelPay(ctx, r, false)
}

// SettleCancelPay settles a CancelPay whose outcome was unknown, as SettlePay
// does for Pay: 90015 in 1.0 (90012 in 2.0) counts as success; 90000 (no
// such pay) and 90014 (already confirmed) are definite answers, final only
// for a settle begun LateLandingWindow after the unknown call, and only
// while no attempt of the settle itself was unclear (else ErrOutcomeUnknown).
func (c *Client) SettleCancelPay(ctx context.Context, r CancelPayRequest) (*CancelPayResponse, error) {
	return c.cancelPay(ctx, r, true)
}

func (c *Client) cancelPay(ctx context.Context, r CancelPayRequest, settling bool) (*CancelPayResponse, error) {
	cl, err := c.d.cancelPay(r)
	if err != nil {
		return nil, c.invalidCall(ctx, APICancelPay, settling, inVersion(err, c.d.version()))
	}
	defer cl.release()
	cl.settling = settling
	out := newAnswer()
	defer out.release()
	if err := c.do(ctx, cl, out); err != nil {
		return nil, err
	}
	return &CancelPayResponse{BillNo: billNoOr(out.BillNo, cl.billNo), Balance: out.Balance.v, BalanceKnown: out.Balance.ok, AlreadyProcessed: out.alreadyProcessed}, nil
}
