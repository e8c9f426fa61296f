package midas

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
)

// classify is the whole retry policy for one attempt's result: a table for
// both versions, since their done codes and errcode meanings differ.
func TestClassify(t *testing.T) {
	apiErr := func(v Version, code int) error {
		return fmt.Errorf("wrapped: %w", &APIError{API: APIPay, Code: code, Version: v})
	}
	eof := fmt.Errorf("midas: pay: %w", io.ErrUnexpectedEOF)
	pay := func(settling bool) *apiCall {
		return &apiCall{api: APIPay, billNo: "b1", doneCode: CodeOrderExists, settling: settling}
	}
	cancelV1 := &apiCall{api: APICancelPay, billNo: "b1", doneCode: CodeOrderRefunded}
	balance := &apiCall{api: APIGetBalance}
	for _, tc := range []struct {
		name        string
		cl          *apiCall
		unclear     bool
		res         result
		want        verdict
		wantUnclear bool
	}{
		{"success", pay(false), false, result{}, verdictDone, false},
		{"success after an unclear attempt", pay(false), true, result{}, verdictDone, true},
		{"lost answer: retry, now unclear", pay(false), false, result{err: eof, retryable: true, ambiguous: true}, verdictRetry, true},
		{"lost answer to getbalance: never unclear", balance, false, result{err: eof, retryable: true, ambiguous: true}, verdictRetry, false},
		{"not sent: retry, still clear", pay(false), false, result{err: &notSentError{io.EOF}, retryable: true}, verdictRetry, false},
		{"malformed 2xx: stop, unknown", pay(false), false, result{err: ErrMalformedResponse, ambiguous: true}, verdictUnknown, true},
		{"malformed 2xx settling: retry", pay(true), true, result{err: ErrMalformedResponse, ambiguous: true}, verdictRetry, true},
		{"malformed 2xx to getbalance: definite", balance, false, result{err: ErrMalformedResponse, ambiguous: true}, verdictDefinite, false},
		{"1.0 -1: retry", pay(false), false, result{err: apiErr(V1, CodeSystemBusy), retryable: true, ambiguous: true}, verdictRetry, true},
		{"1.0 90013 first: definite", pay(false), false, result{err: apiErr(V1, 90013)}, verdictDefinite, false},
		{"2.0 90013 first: definite", pay(false), false, result{err: apiErr(V2, 90013)}, verdictDefinite, false},
		{"1.0 90013 after unclear: unknown", pay(false), true, result{err: apiErr(V1, 90013)}, verdictUnknown, true},
		{"2.0 90013 after unclear: unknown", pay(false), true, result{err: apiErr(V2, 90013)}, verdictUnknown, true},
		{"1.0 90013 settling: definite (after lookup)", pay(true), false, result{err: apiErr(V1, 90013)}, verdictDefinite, false},
		{"2.0 90013 settling: definite (after lookup)", pay(true), false, result{err: apiErr(V2, 90013)}, verdictDefinite, false},
		// The settle's own earlier attempt may be held inside WeChat and
		// land after this 90013: not a refusal.
		{"1.0 90013 settling after its own unclear attempt: unknown", pay(true), true, result{err: apiErr(V1, 90013)}, verdictUnknown, true},
		{"2.0 90013 settling after its own unclear attempt: unknown", pay(true), true, result{err: apiErr(V2, 90013)}, verdictUnknown, true},
		{"90012 settling, first attempt: done", pay(true), false, result{err: apiErr(V2, 90012)}, verdictDone, false},
		{"1.0 90012 after unclear: done", pay(false), true, result{err: apiErr(V1, 90012)}, verdictDone, true},
		{"2.0 90012 after unclear: done", pay(false), true, result{err: apiErr(V2, 90012)}, verdictDone, true},
		{"1.0 90012 first: definite", pay(false), false, result{err: apiErr(V1, 90012)}, verdictDefinite, false},
		{"1.0 cancelpay 90015 after unclear: done", cancelV1, true, result{err: apiErr(V1, 90015)}, verdictDone, true},
		{"1.0 cancelpay 90012 after unclear: unknown", cancelV1, true, result{err: apiErr(V1, 90012)}, verdictUnknown, true},
		{"1.0 90016 settling: processing, retry", pay(true), false, result{err: apiErr(V1, 90016)}, verdictRetry, false},
		{"2.0 90016 settling: session expired, unknown", pay(true), false, result{err: apiErr(V2, 90016)}, verdictUnknown, false},
		{"1.0 90010 settling: rejected before lookup, unknown", pay(true), false, result{err: apiErr(V1, 90010)}, verdictUnknown, false},
		{"2.0 90019 settling: after lookup, definite", pay(true), false, result{err: apiErr(V2, 90019)}, verdictDefinite, false},
		{"1.0 90019 settling: undocumented, unknown", pay(true), false, result{err: apiErr(V1, 90019)}, verdictUnknown, false},
		{"token rejected: definite (do refreshes)", pay(false), false, result{err: apiErr(V2, CodeInvalidAccessToken)}, verdictDefinite, false},
		{"HTTP 502: retry, unclear", pay(false), false, result{err: &HTTPError{API: APIPay, StatusCode: 502}, retryable: true, ambiguous: true}, verdictRetry, true},
		{"HTTP 404: definite", pay(false), false, result{err: &HTTPError{API: APIPay, StatusCode: 404}}, verdictDefinite, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, unclear := classify(tc.cl, tc.unclear, tc.res)
			if got.String() != [...]string{"done", "retry", "unknown", "definite"}[tc.want] {
				t.Errorf("verdict %d prints %q", got, got)
			}
			if got != tc.want || unclear != tc.wantUnclear {
				t.Errorf("classify = %v, unclear %v; want %v, unclear %v", got, unclear, tc.want, tc.wantUnclear)
			}
			// Stopping is the same decision whether the result or the
			// retry budget stopped the call.
			if got == verdictUnknown || got == verdictDefinite {
				if sv := stopVerdict(tc.cl, unclear, tc.res.err); sv != got {
					t.Errorf("stopVerdict = %v, classify %v", sv, got)
				}
				var unknown *OutcomeUnknownError
				isUnknown := errors.As((&Client{}).end(tc.cl, 1, unclear, tc.res.err), &unknown)
				if isUnknown != (got == verdictUnknown) {
					t.Errorf("end gives an OutcomeUnknownError: %v, verdict %v", isUnknown, got)
				}
			}
		})
	}
}

// SettlePay doc: "an answer that rejects the request before the
// bill_no is looked at (a rejected access_token after its one refresh, a
// wrong signature, session or parameter, no permission): it stops at once
// with an error matching ErrOutcomeUnknown". WeChat's general rejections
// (40164 caller IP not whitelisted, 48001 API unauthorized, 45009/45011 quota
// and rate limits, -1000-style gateway codes) are given before any bill_no is
// looked at. afterLookup is an allow-list: were it a deny-list calling every
// code it does not know "after lookup", SettlePay would return a plain
// *APIError, which the caller reads as a definite refusal although attempt 1 may have
// deducted the coins.
func TestSettleUndocumentedErrcodeIsNotADefiniteRefusal(t *testing.T) {
	for _, v := range []Version{V1, V2} {
		for _, code := range []int{40164, 48001, 45009, 45011} {
			c, a := scriptedClient(t, v, code)
			r := PayRequest{OpenID: "o1", SessionKey: testSessionKey, BillNo: "b1", Amount: 5}
			_, err := c.SettlePay(context.Background(), r)
			if err == nil {
				t.Fatalf("v%s errcode %d: settled as success", v, code)
			}
			if !errors.Is(err, ErrOutcomeUnknown) {
				t.Errorf("v%s errcode %d: SettlePay returned a definite error %q after %d call(s); an answer that never looked at the bill_no must leave the outcome unknown",
					v, code, err, a.n.Load())
			}
		}
	}
}
