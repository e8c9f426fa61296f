package midas

import (
	"context"
	"time"
)

// QueryOrder asks for the state of a coin top-up or an item purchase by the
// out_trade_no the client passed to wx.requestMidasPayment or
// wx.requestMidasPaymentGameItem (queryorderinfo, 2.0 only). It is the
// backstop for a delivery push that was lost: poll it after a purchase.
// An unknown out_trade_no is errcode 90019, ErrOrderNotFound.
func (c *Client) QueryOrder(ctx context.Context, r QueryOrderRequest) (*QueryOrderResponse, error) {
	cl, err := c.d.queryOrder(r)
	if err != nil {
		return nil, c.invalidCall(ctx, APIQueryOrder, false, inVersion(err, c.d.version()))
	}
	defer cl.release()
	out := newAnswer()
	defer out.release()
	if err := c.do(ctx, cl, out); err != nil {
		return nil, err
	}
	resp := &QueryOrderResponse{
		OutTradeNo:    billNoOr(out.OutTradeNo, r.OutTradeNo),
		ProductID:     out.ProductID,
		Paid:          out.PayState.v == 2,
		Delivered:     out.DeliverState.v == 2,
		MchOrderNo:    out.MchOrderNo,
		TransactionID: out.TransactionID,
	}
	if out.PayFinishTime.v > 0 {
		resp.PaidAt = time.Unix(out.PayFinishTime.v, 0)
	}
	return resp, nil
}
