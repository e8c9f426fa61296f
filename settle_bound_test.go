package midas

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// busyForever answers every attempt -1 and counts them.
func busyForever(t *testing.T, opts ...Option) (*Client, *atomic.Int32) {
	t.Helper()
	c, mt := newMockedClient(t, Production, append([]Option{WithRetryBackoff(time.Millisecond, 5*time.Millisecond)}, opts...)...)
	var n atomic.Int32
	mt.RegisterNoResponder(func(*http.Request) (*http.Response, error) {
		n.Add(1)
		return httpmock.NewStringResponse(http.StatusOK, `{"errcode":-1,"errmsg":"system error"}`), nil
	})
	return c, &n
}

// settleWithin runs settle on a context with no deadline and fails the test
// if it has not returned after limit: a settle that never ends hangs a
// worker.
func settleWithin(t *testing.T, limit time.Duration, settle func(context.Context) error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- settle(context.Background()) }()
	select {
	case err := <-done:
		return err
	case <-time.After(limit):
		t.Fatalf("settle with no deadline on a persistent -1 still running after %v", limit)
		return nil
	}
}

// A Settle helper ends by itself on a -1 that never clears, after its own
// bound of attempts, with an unknown outcome naming them.
func TestSettleEndsByItselfOnPersistentBusy(t *testing.T) {
	settles := map[string]func(*Client) func(context.Context) error{
		"pay": func(c *Client) func(context.Context) error {
			return func(ctx context.Context) error { _, err := c.SettlePay(ctx, payReq); return err }
		},
		"present": func(c *Client) func(context.Context) error {
			return func(ctx context.Context) error {
				_, err := c.SettlePresent(ctx, PresentRequest{OpenID: testOpenID, BillNo: "b1", Count: 1})
				return err
			}
		},
		"cancelpay": func(c *Client) func(context.Context) error {
			return func(ctx context.Context) error {
				_, err := c.SettleCancelPay(ctx, CancelPayRequest{OpenID: testOpenID, BillNo: "b1"})
				return err
			}
		},
	}
	for api, settle := range settles {
		t.Run(api, func(t *testing.T) {
			c, n := busyForever(t)
			err := settleWithin(t, 1500*time.Millisecond, settle(c))
			require.ErrorIs(t, err, ErrOutcomeUnknown)
			var unknown *OutcomeUnknownError
			require.ErrorAs(t, err, &unknown)
			var apiErr *APIError
			require.ErrorAs(t, unknown.Err, &apiErr, "the last attempt's answer is kept in Err")
			assert.Equal(t, CodeSystemBusy, apiErr.Code)
			assert.Equal(t, DefaultSettleMaxAttempts, unknown.Attempts)
			assert.Equal(t, int32(DefaultSettleMaxAttempts), n.Load(), "attempts sent")
			assert.Contains(t, err.Error(), fmt.Sprintf("after %d attempt(s)", DefaultSettleMaxAttempts))
			assert.Contains(t, err.Error(), "WithSettleMaxAttempts", "the message names the bound to raise")
		})
	}
}

func TestWithSettleMaxAttempts(t *testing.T) {
	c, n := busyForever(t, WithSettleMaxAttempts(3), WithMaxRetries(0))
	err := settleWithin(t, 1500*time.Millisecond, func(ctx context.Context) error { _, err := c.SettlePay(ctx, payReq); return err })
	var unknown *OutcomeUnknownError
	require.ErrorAs(t, err, &unknown)
	assert.Equal(t, 3, unknown.Attempts)
	assert.Equal(t, int32(3), n.Load(), "the settle bound, not WithMaxRetries(0), counts a settle's attempts")

	// A plain call keeps WithMaxRetries.
	c, n = busyForever(t, WithSettleMaxAttempts(3), WithMaxRetries(1))
	_, err = c.Pay(context.Background(), payReq)
	require.ErrorIs(t, err, ErrOutcomeUnknown)
	assert.Equal(t, int32(2), n.Load())

	for _, bad := range []int{0, -1, 1001} {
		_, err := NewClient(testConfig(Production), WithSettleMaxAttempts(bad))
		assert.ErrorIs(t, err, ErrInvalidRequest, "%d", bad)
		assert.True(t, errors.Is(err, ErrInvalidRequest))
	}
}
