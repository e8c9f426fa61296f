package midas

import (
	"context"
	"strconv"
)

// Present gifts r.Count coins to a player (present). A repeated r.BillNo
// never gifts twice. Retries and unclear outcomes work as for Pay: a retry
// answered 90012 succeeds with AlreadyProcessed set.
func (c *Client) Present(ctx context.Context, r PresentRequest) (*PresentResponse, error) {
	return c.present(ctx, r, false)
}

// SettlePresent settles a Present whose outcome was unknown, as SettlePay
// does for Pay.
func (c *Client) SettlePresent(ctx context.Context, r PresentRequest) (*PresentResponse, error) {
	return settleLoop(ctx, c, func() (*PresentResponse, error) { return c.present(ctx, r, true) })
}

func (c *Client) present(ctx context.Context, r PresentRequest, settling bool) (*PresentResponse, error) {
	fs, err := playerFields(r.OpenID, r.SessionKey, r.ZoneID, r.PF, r.UserIP)
	if err != nil {
		return nil, err
	}
	if err := CheckBillNo(r.BillNo); err != nil {
		return nil, err
	}
	if err := checkPositive("Count", r.Count); err != nil {
		return nil, err
	}
	fs = append(fs, field{key: "bill_no", val: r.BillNo}, field{key: "present_counts", val: strconv.FormatInt(r.Count, 10), num: true})
	var out apiResponse
	if err := c.do(ctx, &call{api: APIPresent, billNo: r.BillNo, sessionKey: r.SessionKey, fields: fs, doneCode: CodeOrderExists, settling: settling}, &out); err != nil {
		return nil, err
	}
	return &PresentResponse{BillNo: billNoOr(out.BillNo, r.BillNo), Balance: out.Balance, AlreadyProcessed: out.alreadyProcessed}, nil
}
