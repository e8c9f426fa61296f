package midas

import (
	"context"
	"errors"
	"strconv"
)

// Pay deducts r.Amount coins from a player (pay). Gifted coins are spent
// first; UsedGenAmount says how many.
//
// r.BillNo makes the call idempotent: the same bill_no is never deducted
// twice, so after an error whose outcome is unclear (a timeout, errcode -1)
// call Pay again with the same BillNo, or cancel it with CancelPay.
//
// Pay itself retries transport errors, HTTP 5xx and errcode -1 with the same
// bill_no (WithMaxRetries). When such a retry is answered 90012, the earlier
// attempt was applied: Pay succeeds with AlreadyProcessed set. When the
// outcome stays unclear, the error matches ErrOutcomeUnknown.
func (c *Client) Pay(ctx context.Context, r PayRequest) (*PayResponse, error) {
	return c.pay(ctx, r, false)
}

// SettlePay settles a Pay whose outcome was unknown: it calls again with the
// same request (same bill_no) until the answer is clear or ctx ends. 90012
// counts as success from the first attempt, since the earlier call used this
// bill_no: the deduction happened once.
func (c *Client) SettlePay(ctx context.Context, r PayRequest) (*PayResponse, error) {
	return settleLoop(ctx, c, func() (*PayResponse, error) { return c.pay(ctx, r, true) })
}

func (c *Client) pay(ctx context.Context, r PayRequest, settling bool) (*PayResponse, error) {
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
	if err := c.do(ctx, &call{api: APIPay, billNo: r.BillNo, sessionKey: r.SessionKey, fields: fs, doneCode: CodeOrderExists, settling: settling}, &out); err != nil {
		return nil, err
	}
	return &PayResponse{BillNo: billNoOr(out.BillNo, r.BillNo), Balance: out.Balance, UsedGenAmount: out.usedGen(), AlreadyProcessed: out.alreadyProcessed}, nil
}

// settleLoop repeats fn while its outcome is unknown and ctx lasts.
func settleLoop[T any](ctx context.Context, c *Client, fn func() (T, error)) (T, error) {
	for n := 1; ; n++ {
		resp, err := fn()
		if !errors.Is(err, ErrOutcomeUnknown) {
			return resp, err
		}
		if werr := sleep(ctx, c.backoff(n)); werr != nil {
			return resp, err
		}
	}
}

// billNoOr is the bill_no the server echoed, or the one sent when it echoed
// none.
func billNoOr(echoed, sent string) string {
	if echoed != "" {
		return echoed
	}
	return sent
}
