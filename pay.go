package midas

import (
	"context"
	"strconv"
)

// Pay deducts r.Amount coins from a player (pay). Gifted coins are spent
// first; UsedGenAmount says how many.
//
// r.BillNo makes the call idempotent: the same bill_no is never deducted
// twice, so after an error whose outcome is unclear (a timeout, errcode -1)
// call Pay again with the same BillNo, or cancel it with CancelPay.
func (c *Client) Pay(ctx context.Context, r PayRequest) (*PayResponse, error) {
	fs, err := playerFields(r.OpenID, r.SessionKey, r.ZoneID, r.PF, r.UserIP)
	if err != nil {
		return nil, err
	}
	if err := CheckBillNo(r.BillNo); err != nil {
		return nil, err
	}
	if err := checkPositive("Amount", r.Amount); err != nil {
		return nil, err
	}
	if err := checkText("PayItem", r.PayItem); err != nil {
		return nil, err
	}
	if err := checkText("AppRemark", r.AppRemark); err != nil {
		return nil, err
	}
	fs = append(fs, field{key: "bill_no", val: r.BillNo}, field{key: "amt", val: strconv.FormatInt(r.Amount, 10), num: true})
	if r.PayItem != "" {
		fs = append(fs, field{key: "pay_item", val: r.PayItem})
	}
	if r.AppRemark != "" {
		fs = append(fs, field{key: "app_remark", val: r.AppRemark})
	}
	var out apiResponse
	if err := c.do(ctx, &call{api: APIPay, billNo: r.BillNo, sessionKey: r.SessionKey, fields: fs}, &out); err != nil {
		return nil, err
	}
	return &PayResponse{BillNo: billNoOr(out.BillNo, r.BillNo), Balance: out.Balance, UsedGenAmount: out.usedGen()}, nil
}

// billNoOr is the bill_no the server echoed, or the one sent when it echoed
// none.
func billNoOr(echoed, sent string) string {
	if echoed != "" {
		return echoed
	}
	return sent
}
