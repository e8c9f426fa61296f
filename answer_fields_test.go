package midas

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// callAPI calls api on c and returns the response and error.
func callAPI(c *Client, api string) (any, error) {
	ctx := context.Background()
	v2 := c.Version() == V2
	sk := ""
	if v2 {
		sk = testSessionKey
	}
	switch api {
	case APIGetBalance:
		return c.GetBalance(ctx, BalanceRequest{OpenID: testOpenID, SessionKey: sk})
	case APIPay:
		return c.Pay(ctx, PayRequest{OpenID: testOpenID, SessionKey: sk, BillNo: "b1", Amount: 5})
	case APIPresent:
		return c.Present(ctx, PresentRequest{OpenID: testOpenID, SessionKey: sk, BillNo: "b1", Count: 5})
	case APICancelPay:
		if v2 {
			return c.CancelPay(ctx, CancelPayRequest{OpenID: testOpenID, SessionKey: sk, BillNo: "b1", RefundBillNo: "r1", Amount: 5})
		}
		return c.CancelPay(ctx, CancelPayRequest{OpenID: testOpenID, BillNo: "b1"})
	case APIQueryOrder:
		return c.QueryOrder(ctx, QueryOrderRequest{OpenID: testOpenID, SessionKey: sk, OutTradeNo: "ot-1", Kind: ItemOrder})
	}
	panic(api)
}

func clientAnswering(t *testing.T, v Version, body string) *Client {
	t.Helper()
	mt := httpmock.NewMockTransport()
	mt.RegisterNoResponder(httpmock.NewStringResponder(http.StatusOK, body))
	return clientOver(t, v, Production, mt, WithMaxRetries(0))
}

// An answer without a field the response promises is malformed, never a
// zero value: for a call that moves coins it is an unknown outcome (errcode
// 0 says the coins moved, the answer does not say to what), with the
// malformed answer as its cause.
func TestAnswerMissingAPromisedFieldIsMalformed(t *testing.T) {
	full := map[Version]map[string]string{
		V1: {
			APIGetBalance: `{"errcode":0,"errmsg":"ok","balance":100,"gen_balance":20,"first_save":1,"save_amt":80,"save_sum":120,"cost_sum":40,"present_sum":20}`,
			APIPay:        `{"errcode":0,"errmsg":"ok","bill_no":"b1","balance":77,"used_gen_amt":5}`,
			APIPresent:    `{"errcode":0,"errmsg":"ok","bill_no":"b1","balance":300}`,
		},
		V2: {
			APIGetBalance: `{"errcode":0,"errmsg":"ok","balance":11,"present_balance":1,"sum_save":10,"sum_present":1,"sum_balance":11,"sum_cost":0,"first_save":false}`,
			APIPay:        `{"errcode":0,"errmsg":"ok","bill_no":"b1","balance":10,"used_present_amount":1}`,
			APIPresent:    `{"errcode":0,"errmsg":"ok","bill_no":"b1","balance":15}`,
			APIQueryOrder: `{"errcode":0,"errmsg":"ok","out_trade_no":"ot-1","product_id":"p1","pay_state":2,"deliver_state":2,"pay_finish_time":1668512900}`,
		},
	}
	promised := map[Version]map[string][]string{
		V1: {
			APIGetBalance: {"balance", "gen_balance", "first_save", "save_amt", "save_sum", "cost_sum", "present_sum"},
			APIPay:        {"balance", "used_gen_amt"},
			APIPresent:    {"balance"},
		},
		V2: {
			APIGetBalance: {"balance", "present_balance", "first_save", "sum_save", "sum_balance", "sum_cost", "sum_present"},
			APIPay:        {"balance", "used_present_amount"},
			APIPresent:    {"balance"},
			APIQueryOrder: {"pay_state", "deliver_state"},
		},
	}
	for v, apis := range full {
		for api, body := range apis {
			_, err := callAPI(clientAnswering(t, v, body), api)
			require.NoError(t, err, "%s %s: the full answer", v, api)
			for _, field := range promised[v][api] {
				var m map[string]json.RawMessage
				require.NoError(t, json.Unmarshal([]byte(body), &m))
				delete(m, field)
				cut, _ := json.Marshal(m)
				for name, answer := range map[string]string{"without": string(cut), "null": strings.Replace(body, `"`+field+`":`, `"`+field+`":null,"x":`, 1)} {
					resp, err := callAPI(clientAnswering(t, v, answer), api)
					assertMalformed(t, api, err, "%s %s %s %s", v, api, name, field)
					assert.Contains(t, err.Error(), field, "%s %s: the message names the field", v, api)
					assert.Nil(t, resp)
				}
			}
		}
	}
}

func assertMalformed(t *testing.T, api string, err error, msgAndArgs ...any) {
	t.Helper()
	if api == APIPay || api == APIPresent || api == APICancelPay {
		var unknown *OutcomeUnknownError
		require.ErrorAs(t, err, &unknown, msgAndArgs...)
		assert.ErrorIs(t, unknown.Err, ErrMalformedResponse, msgAndArgs...)
		return
	}
	assert.ErrorIs(t, err, ErrMalformedResponse, msgAndArgs...)
}

// queryorderinfo answered in any shape but the documented one is malformed,
// never "not paid".
func TestQueryOrderOtherShapesAreMalformed(t *testing.T) {
	for name, body := range map[string]string{
		"nested":          `{"errcode":0,"errmsg":"ok","order":{"out_trade_no":"ot-1","pay_state":2,"deliver_state":2}}`,
		"truncated":       `{"errcode":0,"errmsg":"ok","out_trade_no":"ot-1","pay_state":2`,
		"no deliver":      `{"errcode":0,"errmsg":"ok","out_trade_no":"ot-1","pay_state":2}`,
		"only errcode":    `{"errcode":0}`,
		"state as string": `{"errcode":0,"pay_state":"2","deliver_state":2}`,
	} {
		resp, err := callAPI(clientAnswering(t, V2, body), APIQueryOrder)
		assert.ErrorIs(t, err, ErrMalformedResponse, name)
		assert.Nil(t, resp, name)
	}
}

// A balance the answer did not carry is never a 0 that looks like one.
func TestBalanceKnownOnEveryResponse(t *testing.T) {
	// Pay and present after an unclear attempt answered with the done code:
	// applied once, balance not in the answer.
	for _, api := range []string{APIPay, APIPresent, APICancelPay} {
		done := CodeOrderExists
		if api == APICancelPay {
			done = CodeOrderRefunded
		}
		c, _ := scriptedClient(t, V1, errLost, done)
		resp, err := callAPI(c, api)
		require.NoError(t, err, api)
		var known bool
		var bal int64
		switch r := resp.(type) {
		case *PayResponse:
			require.True(t, r.AlreadyProcessed)
			known, bal = r.BalanceKnown, r.Balance
			assert.False(t, r.UsedGenAmountKnown, "pay: used_gen_amt not in the answer either")
		case *PresentResponse:
			require.True(t, r.AlreadyProcessed)
			known, bal = r.BalanceKnown, r.Balance
		case *CancelPayResponse:
			require.True(t, r.AlreadyProcessed)
			known, bal = r.BalanceKnown, r.Balance
		}
		assert.False(t, known, "%s: AlreadyProcessed carries no balance", api)
		assert.Zero(t, bal, api)
		out, err := json.Marshal(resp)
		require.NoError(t, err)
		assert.NotContains(t, string(out), `"balance"`, "%s: JSON says only what the answer carried: %s", api, out)
		assert.NotContains(t, string(out), `used_gen_amt`, "%s: %s", api, out)
	}

	// Answered: known, even when 0.
	p, err := callAPI(clientAnswering(t, V1, `{"errcode":0,"bill_no":"b1","balance":0,"used_gen_amt":0}`), APIPay)
	require.NoError(t, err)
	assert.True(t, p.(*PayResponse).BalanceKnown)
	assert.True(t, p.(*PayResponse).UsedGenAmountKnown)
	out, _ := json.Marshal(p)
	assert.JSONEq(t, `{"bill_no":"b1","balance":0,"used_gen_amt":0,"already_processed":false}`, string(out))

	pr, err := callAPI(clientAnswering(t, V2, `{"errcode":0,"bill_no":"b1","balance":0}`), APIPresent)
	require.NoError(t, err)
	assert.True(t, pr.(*PresentResponse).BalanceKnown)

	// cancelpay: 1.0 never answers a balance, 2.0 sometimes does.
	for _, tc := range []struct {
		v     Version
		body  string
		known bool
		json  string
	}{
		{V1, `{"errcode":0,"errmsg":"ok","bill_no":"b1"}`, false, `{"bill_no":"b1","already_processed":false}`},
		{V2, `{"errcode":0,"errmsg":"ok","bill_no":"r1"}`, false, `{"bill_no":"r1","already_processed":false}`},
		{V2, `{"errcode":0,"errmsg":"ok","bill_no":"r1","balance":0}`, true, `{"bill_no":"r1","balance":0,"already_processed":false}`},
	} {
		r, err := callAPI(clientAnswering(t, tc.v, tc.body), APICancelPay)
		require.NoError(t, err)
		assert.Equal(t, tc.known, r.(*CancelPayResponse).BalanceKnown, tc.body)
		out, _ := json.Marshal(r)
		assert.JSONEq(t, tc.json, string(out), tc.body)
	}

	// getbalance: the balance is promised, so it is always known (absent is
	// malformed, tested above).
	_, err = callAPI(clientAnswering(t, V1, `{"errcode":0,"gen_balance":0,"first_save":2,"save_amt":0,"save_sum":0,"cost_sum":0,"present_sum":0}`), APIGetBalance)
	assert.True(t, errors.Is(err, ErrMalformedResponse))
}
