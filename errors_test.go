package midas_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/gomidas/midas"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// What each errcode means to the Client in each version, end to end.

func TestV2ErrcodeMapping(t *testing.T) {
	const sk = "V7Q38/i2KXaqrQyl2Yx9Hg=="
	calls := map[string]func(c *midas.Client) error{
		midas.APIGetBalance: func(c *midas.Client) error {
			_, err := c.GetBalance(v2bg, midas.BalanceRequest{OpenID: alice, SessionKey: sk})
			return err
		},
		midas.APIPay: func(c *midas.Client) error {
			_, err := c.Pay(v2bg, midas.PayRequest{OpenID: alice, SessionKey: sk, BillNo: "p-1", Amount: 5})
			return err
		},
		midas.APICancelPay: func(c *midas.Client) error {
			_, err := c.CancelPay(v2bg, midas.CancelPayRequest{OpenID: alice, SessionKey: sk, BillNo: "p-1", RefundBillNo: "r-1", Amount: 5})
			return err
		},
		midas.APIPresent: func(c *midas.Client) error {
			_, err := c.Present(v2bg, midas.PresentRequest{OpenID: alice, SessionKey: sk, BillNo: "g-1", Count: 5})
			return err
		},
		"queryorderinfo": func(c *midas.Client) error {
			_, err := c.QueryOrder(v2bg, midas.QueryOrderRequest{OpenID: alice, SessionKey: sk, OutTradeNo: "ot-1", Kind: midas.ItemOrder})
			return err
		},
	}
	billNo := map[string]string{midas.APIPay: "p-1", midas.APICancelPay: "r-1", midas.APIPresent: "g-1"}
	cases := []struct {
		code int
		apis []string
		want error
		not  []error
	}{
		{-1, []string{midas.APIGetBalance, "queryorderinfo"}, midas.ErrSystemBusy, nil},
		{90000, []string{midas.APICancelPay}, midas.ErrOrderNotFound, nil},
		{90010, []string{midas.APIGetBalance, midas.APIPay, midas.APICancelPay, midas.APIPresent, "queryorderinfo"}, midas.ErrMpSigInvalid, []error{midas.ErrSessionExpired}},
		{90011, []string{midas.APIGetBalance, midas.APIPay, midas.APICancelPay, midas.APIPresent, "queryorderinfo"}, midas.ErrSigInvalid, []error{midas.ErrMpSigInvalid}},
		{90012, []string{midas.APIPay, midas.APIPresent, midas.APICancelPay}, midas.ErrOrderExists, []error{midas.ErrOutcomeUnknown}},
		{90013, []string{midas.APIPay}, midas.ErrInsufficientBalance, nil},
		{90016, []string{midas.APIGetBalance, midas.APIPay, midas.APICancelPay, midas.APIPresent, "queryorderinfo"}, midas.ErrSessionExpired, []error{midas.ErrOrderProcessing}},
		{90018, []string{midas.APIGetBalance, midas.APIPay, midas.APICancelPay, midas.APIPresent, "queryorderinfo"}, midas.ErrInvalidParam, nil},
		{90019, []string{"queryorderinfo"}, midas.ErrOrderNotFound, nil},
	}
	for _, tc := range cases {
		for _, api := range tc.apis {
			t.Run(fmt.Sprintf("%d/%s", tc.code, api), func(t *testing.T) {
				c, m := newV2Mock(t, v2VecConfig(midas.Production, midas.V2), v2Errcode(tc.code))
				err := calls[api](c)
				require.Error(t, err)
				assert.ErrorIs(t, err, tc.want)
				for _, n := range tc.not {
					assert.NotErrorIs(t, err, n)
				}
				var apiErr *midas.APIError
				require.ErrorAs(t, err, &apiErr)
				assert.Equal(t, tc.code, apiErr.Code)
				assert.Equal(t, midas.V2, apiErr.Version, "APIError says V2 answered")
				assert.Equal(t, api, apiErr.API)
				assert.Equal(t, billNo[api], apiErr.BillNo, "a 2.0 refund's error names its own bill_no")
				assert.True(t, mentionsVersion(err.Error(), midas.V2), "message says v2: %q", err.Error())
				if tc.code == -1 {
					assert.Len(t, m.exchanges(), 1+midas.DefaultMaxRetries, "-1 retried, capped")
				} else {
					assert.Len(t, m.exchanges(), 1, "final")
				}
				if tc.code == 90016 {
					assert.NotContains(t, strings.ToLower(err.Error()), "being processed", "2.0's 90016 is an expired session_key")
				}
			})
		}
	}
}

// -1 on a pay, present or cancelpay leaves its outcome unknown.
func TestV2SystemBusyOnMutationIsUnknown(t *testing.T) {
	const sk = "V7Q38/i2KXaqrQyl2Yx9Hg=="
	for _, tc := range []struct {
		api, billNo string
		call        func(c *midas.Client) error
	}{
		{midas.APIPay, "p-1", func(c *midas.Client) error {
			_, err := c.Pay(v2bg, midas.PayRequest{OpenID: alice, SessionKey: sk, BillNo: "p-1", Amount: 5})
			return err
		}},
		{midas.APIPresent, "g-1", func(c *midas.Client) error {
			_, err := c.Present(v2bg, midas.PresentRequest{OpenID: alice, SessionKey: sk, BillNo: "g-1", Count: 5})
			return err
		}},
		{midas.APICancelPay, "r-1", func(c *midas.Client) error {
			_, err := c.CancelPay(v2bg, midas.CancelPayRequest{OpenID: alice, SessionKey: sk, BillNo: "p-1", RefundBillNo: "r-1", Amount: 5})
			return err
		}},
	} {
		t.Run(tc.api, func(t *testing.T) {
			c, m := newV2Mock(t, v2VecConfig(midas.Production, midas.V2), v2Errcode(-1))
			err := tc.call(c)
			assert.ErrorIs(t, err, midas.ErrOutcomeUnknown)
			assert.NotErrorIs(t, err, midas.ErrSystemBusy, "unknown matches no other sentinel")
			var ou *midas.OutcomeUnknownError
			require.ErrorAs(t, err, &ou)
			assert.Equal(t, tc.api, ou.API)
			assert.Equal(t, tc.billNo, ou.BillNo, "the idempotency key to settle with")
			assert.Equal(t, 1+midas.DefaultMaxRetries, ou.Attempts)
			var apiErr *midas.APIError
			require.ErrorAs(t, ou.Err, &apiErr)
			assert.Equal(t, -1, apiErr.Code)
			assert.Equal(t, midas.V2, apiErr.Version)
			got := m.exchanges()
			require.Len(t, got, 1+midas.DefaultMaxRetries, "capped: a -1 can be persistent")
			for _, ex := range got {
				assert.Equal(t, tc.billNo, ex.fields(t)["bill_no"], "same bill_no on every attempt")
			}
		})
	}
}

// 1.0 keeps its meanings.
func TestV2ErrcodeMeaningsV1Unchanged(t *testing.T) {
	for _, tc := range []struct {
		code int
		want error
		not  error
	}{
		{90010, midas.ErrSessionExpired, midas.ErrMpSigInvalid},
		{90016, midas.ErrOrderProcessing, midas.ErrSessionExpired},
		{90009, midas.ErrMpSigInvalid, nil},
		{90011, midas.ErrSigInvalid, nil},
		{90000, midas.ErrOrderNotFound, nil},
	} {
		t.Run(strconv.Itoa(tc.code), func(t *testing.T) {
			c, _ := newV2Mock(t, v2VecConfig(midas.Production, midas.V1), v2Errcode(tc.code))
			_, err := c.GetBalance(v2bg, midas.BalanceRequest{OpenID: alice})
			assert.ErrorIs(t, err, tc.want)
			if tc.not != nil {
				assert.NotErrorIs(t, err, tc.not)
			}
			var apiErr *midas.APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, midas.V1, apiErr.Version)
			assert.NotContains(t, strings.ToLower(err.Error()), "v2")
		})
	}
	// 90019 means nothing in 1.0.
	v1 := &midas.APIError{API: "getbalance", Code: 90019, Version: midas.V1}
	assert.NotErrorIs(t, v1, midas.ErrOrderNotFound)
	// The same code, by version, on hand-made errors.
	for code, want := range map[int][2]error{
		90010: {midas.ErrSessionExpired, midas.ErrMpSigInvalid},
		90016: {midas.ErrOrderProcessing, midas.ErrSessionExpired},
		90011: {midas.ErrSigInvalid, midas.ErrSigInvalid},
		90019: {nil, midas.ErrOrderNotFound},
		-1:    {midas.ErrSystemBusy, midas.ErrSystemBusy},
		90012: {midas.ErrOrderExists, midas.ErrOrderExists},
		90013: {midas.ErrInsufficientBalance, midas.ErrInsufficientBalance},
		90018: {midas.ErrInvalidParam, midas.ErrInvalidParam},
		90000: {midas.ErrOrderNotFound, midas.ErrOrderNotFound},
	} {
		for i, v := range []midas.Version{midas.V1, midas.V2} {
			e := &midas.APIError{API: "pay", Code: code, Version: v}
			if want[i] != nil {
				assert.ErrorIs(t, e, want[i], "%s %d", v, code)
			}
			if want[1-i] != nil && want[1-i] != want[i] {
				assert.NotErrorIs(t, e, want[1-i], "%s %d must not mean what it means in the other version", v, code)
			}
		}
	}
}

// AlreadyApplied is each version's done code per API: what a Settle helper
// reads as the earlier call's success.
func TestAPIErrorAlreadyApplied(t *testing.T) {
	for _, tc := range []struct {
		v    midas.Version
		api  string
		code int
		want bool
	}{
		{midas.V1, midas.APIPay, midas.CodeOrderExists, true},
		{midas.V1, midas.APIPresent, midas.CodeOrderExists, true},
		{midas.V1, midas.APICancelPay, midas.CodeOrderRefunded, true},
		{midas.V1, midas.APICancelPay, midas.CodeOrderExists, false},
		{midas.V2, midas.APIPay, midas.CodeOrderExists, true},
		{midas.V2, midas.APIPresent, midas.CodeOrderExists, true},
		{midas.V2, midas.APICancelPay, midas.CodeOrderExists, true},
		{midas.V2, midas.APICancelPay, midas.CodeOrderRefunded, false},
		{midas.V1, midas.APIPay, midas.CodeInsufficientBalance, false},
		{midas.V1, midas.APIGetBalance, midas.CodeOrderExists, false},
		{midas.Version(9), midas.APIPay, midas.CodeOrderExists, false},
	} {
		e := &midas.APIError{API: tc.api, Code: tc.code, Version: tc.v}
		if got := e.AlreadyApplied(); got != tc.want {
			t.Errorf("%v %s %d: AlreadyApplied %v, want %v", tc.v, tc.api, tc.code, got, tc.want)
		}
	}
}
