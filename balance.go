package midas

import "context"

// GetBalance returns a player's coin balance (getbalance). It moves no
// coins, so it is always safe to call again.
func (c *Client) GetBalance(ctx context.Context, r BalanceRequest) (*BalanceResponse, error) {
	fs, err := playerFields(r.OpenID, r.SessionKey, r.ZoneID, r.PF, r.UserIP)
	if err != nil {
		return nil, err
	}
	var out apiResponse
	if err := c.do(ctx, &call{api: APIGetBalance, sessionKey: r.SessionKey, fields: fs}, &out); err != nil {
		return nil, err
	}
	return &BalanceResponse{
		Balance:    out.Balance,
		GenBalance: out.GenBalance,
		FirstSave:  bool(out.FirstSave),
		SaveAmt:    out.SaveAmt,
		SaveSum:    out.SaveSum,
		CostSum:    out.CostSum,
		PresentSum: out.PresentSum,
	}, nil
}
