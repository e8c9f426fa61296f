package midas

import "context"

// CancelPay refunds the deduction made by an earlier Pay with r.BillNo
// (cancelpay), while the order is still open (bill numbers are valid for 48
// hours).
func (c *Client) CancelPay(ctx context.Context, r CancelPayRequest) (*CancelPayResponse, error) {
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
	if err := c.do(ctx, &call{api: APICancelPay, billNo: r.BillNo, sessionKey: r.SessionKey, fields: fs}, &out); err != nil {
		return nil, err
	}
	return &CancelPayResponse{BillNo: billNoOr(out.BillNo, r.BillNo)}, nil
}
