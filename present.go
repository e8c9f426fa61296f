package midas

import (
	"context"
	"strconv"
)

// Present gifts r.Count coins to a player (present). A repeated r.BillNo
// never gifts twice.
func (c *Client) Present(ctx context.Context, r PresentRequest) (*PresentResponse, error) {
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
	if err := c.do(ctx, &call{api: APIPresent, billNo: r.BillNo, sessionKey: r.SessionKey, fields: fs}, &out); err != nil {
		return nil, err
	}
	return &PresentResponse{BillNo: billNoOr(out.BillNo, r.BillNo), Balance: out.Balance}, nil
}
