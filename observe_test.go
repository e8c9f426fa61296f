package midas

import (
	"context"
	"net/http"
	"testing"
)

// nopObserver is an Observer that does nothing, to measure what reporting
// itself costs the client.
type nopObserver struct{}

func (nopObserver) StartCall(ctx context.Context, _ CallInfo) (context.Context, CallObserver) {
	return ctx, nopObserver{}
}
func (nopObserver) TokenRefreshed(context.Context, TokenRefresh) {}
func (nopObserver) Attempt(Attempt)                              {}
func (nopObserver) End(CallEnd)                                  {}

// BenchmarkPayNoNetworkObserved is BenchmarkPayNoNetwork with an Observer
// that does nothing: the cost of reporting a call and its attempt.
func BenchmarkPayNoNetworkObserved(b *testing.B) {
	c := benchClient(b, WithHTTPClient(&http.Client{Transport: roundTripFunc(answerInstantly)}), WithObserver(nopObserver{}))
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := c.Pay(ctx, benchPay); err != nil {
			b.Fatal(err)
		}
	}
}

// Without an Observer the reporting hooks of a call cost nothing: every
// one of them, run as a Pay with a retry and a refused request run them,
// allocates nothing (and reads no clock).
func TestTelemetryOffAllocatesNothing(t *testing.T) {
	c, err := NewClient(testConfig(Production), WithClock(fixedClock))
	if err != nil {
		t.Fatal(err)
	}
	cl, err := c.d.pay(benchPay)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var out apiResponse
	busy := result{err: &APIError{API: APIPay, Code: CodeSystemBusy}, retryable: true, ambiguous: true}
	invalid := invalid("BillNo", "required")
	allocs := testing.AllocsPerRun(1000, func() {
		_, obs := c.startCall(ctx, cl)
		began := obs.now()
		if !began.IsZero() {
			t.Fatal("the clock was read")
		}
		obs.attempted(1, began, busy)
		obs.retry(RetrySystemBusy, 0)
		obs.attempted(2, obs.now(), result{})
		obs.end(&out, nil)
		c.invalidCall(ctx, APIPay, false, invalid)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per call without an Observer, want 0", allocs)
	}
}
