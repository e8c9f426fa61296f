package midas

import "context"

// CancelPay refunds the deduction made by an earlier Pay with r.BillNo
// (cancelpay), while the order is still open (bill numbers are valid for 48
// hours). Retries keep the bill_no; a retry after an unclear attempt that is
// answered 90015 (already refunded) succeeds with AlreadyProcessed set.
func (c *Client) CancelPay(ctx context.Context, r CancelPayRequest) (*CancelPayResponse, error) {
	return c.cancelPay(ctx, r, false)
}

// SettleCancelPay settles a CancelPay whose outcome was unknown: 90015
// counts as success from the first attempt.
func (c *Client) SettleCancelPay(ctx context.Context, r CancelPayRequest) (*CancelPayResponse, error) {
	return settleLoop(ctx, c, func() (*CancelPayResponse, error) { return c.cancelPay(ctx, r, true) })
}

func (c *Client) cancelPay(ctx context.Context, r CancelPayRequest, settling bool) (*CancelPayResponse, error) {
	fs, err := playerFields(r.OpenID, r.SessionKey, r.ZoneID, r.PF, r.UserIP)
	if err != nil {
		return nil, err
	}
	if err := CheckBillNo(r.BillNo); err != nil {
		return nil, err
	}
	if err := checkText("PayItem", r.PayItem); err != nil {
		return nil, err
	}
	fs = append(fs, field{key: "bill_no", val: r.BillNo})
	if r.PayItem != "" {
		fs = append(fs, field{key: "pay_item", val: r.PayItem})
	}
	var out apiResponse
	if err := c.do(ctx, &call{api: APICancelPay, billNo: r.BillNo, sessionKey: r.SessionKey, fields: fs, doneCode: CodeOrderRefunded, settling: settling}, &out); err != nil {
		return nil, err
	}
	return &CancelPayResponse{BillNo: billNoOr(out.BillNo, r.BillNo), AlreadyProcessed: out.alreadyProcessed}, nil
}
