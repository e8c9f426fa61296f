package midas

import "context"

// Present gifts r.Count coins to a player (present). A repeated r.BillNo
// never gifts twice. Retries and unclear outcomes work as for Pay: a retry
// answered 90012 succeeds with AlreadyProcessed set; an unknown outcome is
// settled with SettlePresent.
func (c *Client) Present(ctx context.Context, r PresentRequest) (*PresentResponse, error) {
	return c.present(ctx, r, false)
}

// SettlePresent settles a Present whose outcome was unknown, as SettlePay
// does for Pay.
func (c *Client) SettlePresent(ctx context.Context, r PresentRequest) (*PresentResponse, error) {
	return c.present(ctx, r, true)
}

func (c *Client) present(ctx context.Context, r PresentRequest, settling bool) (*PresentResponse, error) {
	cl, err := c.d.present(r)
	if err != nil {
		return nil, c.invalidCall(ctx, APIPresent, settling, inVersion(err, c.d.version()))
	}
	defer cl.release()
	cl.settling = settling
	out := newAnswer()
	defer out.release()
	if err := c.do(ctx, cl, out); err != nil {
		return nil, err
	}
	return &PresentResponse{BillNo: billNoOr(out.BillNo, r.BillNo), Balance: out.Balance.v, BalanceKnown: out.Balance.ok, AlreadyProcessed: out.alreadyProcessed}, nil
}
