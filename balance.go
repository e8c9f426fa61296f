package midas

import "context"

// GetBalance returns a player's coin balance (getbalance). It moves no
// coins, so it is always safe to call again. In 2.0, r.RechargeCenter asks
// for the recharge-centre balance (coin_type=1) instead of the game's.
func (c *Client) GetBalance(ctx context.Context, r BalanceRequest) (*BalanceResponse, error) {
	cl, err := c.d.balance(r)
	if err != nil {
		return nil, c.invalidCall(ctx, APIGetBalance, false, inVersion(err, c.d.version()))
	}
	defer cl.release()
	out := newAnswer()
	defer out.release()
	if err := c.do(ctx, cl, out); err != nil {
		return nil, err
	}
	return &BalanceResponse{
		Balance:    out.Balance.v,
		GenBalance: out.GenBalance.v,
		FirstSave:  out.FirstSave.v,
		SaveAmt:    out.SaveAmt.v,
		SaveSum:    out.SaveSum.v,
		CostSum:    out.CostSum.v,
		PresentSum: out.PresentSum.v,
	}, nil
}
