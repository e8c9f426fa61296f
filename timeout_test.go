package midas

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hangingServer answers nothing until release is closed.
func hangingServer(t *testing.T) (*httptest.Server, chan struct{}) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	return srv, release
}

// The HTTP client's timeout bounds each attempt as a context deadline: the
// error matches context.DeadlineExceeded, the caller's client keeps its
// Timeout, and the client's own http.Client has none (net/http's fast path).
func TestClientTimeoutIsAPerAttemptDeadline(t *testing.T) {
	srv, _ := hangingServer(t)
	own := &http.Client{Timeout: 50 * time.Millisecond}
	c, err := NewClient(testConfig(Production), WithBaseURL(srv.URL), WithHTTPClient(own), WithMaxRetries(1),
		WithRetryBackoff(time.Millisecond, time.Millisecond))
	require.NoError(t, err)
	assert.Zero(t, c.httpClient.Timeout, "no http.Client.Timeout over the wrapped transport")
	_, err = c.GetBalance(context.Background(), BalanceRequest{OpenID: testOpenID, SessionKey: testSessionKey})
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, 50*time.Millisecond, own.Timeout, "the caller's client is not changed")
	assert.Nil(t, own.CheckRedirect, "the caller's client is not changed")
}

// The default client is bounded by DefaultTimeout the same way; the
// shorter of it and WithAttemptTimeout applies.
func TestExchangeDeadlineIsTheShorterTimeout(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    []Option
		timeout time.Duration // 0: no deadline
	}{
		{"default", nil, DefaultTimeout},
		{"attempt timeout shorter", []Option{WithAttemptTimeout(time.Second)}, time.Second},
		{"attempt timeout longer", []Option{WithAttemptTimeout(time.Minute)}, DefaultTimeout},
		{"client without Timeout", []Option{WithHTTPClient(&http.Client{})}, 0},
		{"client without Timeout, attempt timeout", []Option{WithHTTPClient(&http.Client{}), WithAttemptTimeout(time.Second)}, time.Second},
		{"client Timeout", []Option{WithHTTPClient(&http.Client{Timeout: 3 * time.Second})}, 3 * time.Second},
	} {
		c, err := NewClient(testConfig(Production), tc.opts...)
		require.NoError(t, err, tc.name)
		assert.Zero(t, c.httpClient.Timeout, tc.name)
		before := time.Now()
		ctx, cancel := c.exchangeContext(context.Background())
		deadline, ok := ctx.Deadline()
		cancel()
		if tc.timeout == 0 {
			assert.False(t, ok, tc.name)
			continue
		}
		require.True(t, ok, tc.name)
		assert.WithinDuration(t, before.Add(tc.timeout), deadline, time.Second, tc.name)
	}
}

// A stable_token fetch is bounded by its HTTP client's timeout too.
func TestStableTokenFetchTimesOut(t *testing.T) {
	srv, _ := hangingServer(t)
	own := &http.Client{Timeout: 50 * time.Millisecond}
	ts, err := NewStableTokenSource(testAppID, "AppSecret-abcdefghijklmnop", WithBaseURL(srv.URL), WithHTTPClient(own))
	require.NoError(t, err)
	_, err = ts.Token(context.Background())
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.DeadlineExceeded), "%v", err)
}
