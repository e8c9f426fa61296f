package push_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomidas/midas"
	"github.com/gomidas/midas/push"
	"github.com/stretchr/testify/require"
)

// loopback serves a push handler on a real loopback server with net/http's
// defaults: no ReadTimeout, WriteTimeout or IdleTimeout, so every bound seen
// by these tests is the handler's own.
func loopback(t *testing.T, hs push.Handlers, opts ...push.Option) string {
	t.Helper()
	h, err := push.NewHandler(testConfig(false), hs, opts...)
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// signedQuery is a query with a valid URL signature.
func signedQuery() string {
	return url.Values{
		"timestamp": {testTimestamp}, "nonce": {testNonce},
		"signature": {push.URLSignature(testToken, testTimestamp, testNonce)},
	}.Encode()
}

// rawRequest writes a request head declaring a body of length bytes, and
// returns the connection and a reader of its answers.
func rawRequest(t *testing.T, addr, method, query string, length int) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	_, err = fmt.Fprintf(conn, "%s /push?%s HTTP/1.1\r\nHost: push.test\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
		method, query, length)
	require.NoError(t, err)
	return conn, bufio.NewReader(conn)
}

// closedWithin reads the answer and then waits for the server to close the
// connection; it fails if that takes longer than limit.
func closedWithin(t *testing.T, conn net.Conn, r *bufio.Reader, req *http.Request, limit time.Duration) (*http.Response, time.Duration) {
	t.Helper()
	start := time.Now()
	require.NoError(t, conn.SetReadDeadline(start.Add(limit)))
	resp, err := http.ReadResponse(r, req)
	require.NoError(t, err, "no answer within %v", limit)
	_, err = io.Copy(io.Discard, resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	_, err = r.ReadByte()
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		t.Fatalf("connection still open %v after the request", limit)
	}
	require.Error(t, err) // EOF or reset: closed by the server
	return resp, time.Since(start)
}

// A request rejected from its query or method alone is answered at once with
// Connection: close, and the server closes the connection without waiting for
// the body the request declared (the sender sends none here).
func TestEarlyRejectionDoesNotReadBody(t *testing.T) {
	for _, c := range []struct {
		name, method, query string
		status              int
	}{
		{"bad signature", http.MethodPost, "timestamp=1&nonce=2&signature=00", http.StatusForbidden},
		{"no signature", http.MethodPost, "", http.StatusForbidden},
		{"method", http.MethodPut, signedQuery(), http.StatusMethodNotAllowed},
		{"URL check with a body", http.MethodGet, signedQuery() + "&echostr=e", http.StatusOK},
		{"declared too large", http.MethodPost, signedQuery(), http.StatusRequestEntityTooLarge},
	} {
		t.Run(c.name, func(t *testing.T) {
			var calls counters
			addr := loopback(t, calls.handlers(), push.WithBodyTimeout(time.Minute), push.WithMaxBodyBytes(4096))
			length := 1000
			if c.status == http.StatusRequestEntityTooLarge {
				length = 5000
			}
			conn, r := rawRequest(t, addr, c.method, c.query, length)
			resp, took := closedWithin(t, conn, r, &http.Request{Method: c.method}, 10*time.Second)
			require.Equal(t, c.status, resp.StatusCode)
			require.True(t, resp.Close, "answer without Connection: close")
			require.Zero(t, calls.calls())
			t.Logf("answered and closed after %v", took)
		})
	}
}

// A sender that trickles a correctly signed push's body is answered 408 and
// cut off once the body timeout has passed, though the server sets no
// timeout at all.
func TestSlowBodyIsCutOff(t *testing.T) {
	const bound = 300 * time.Millisecond
	var calls counters
	addr := loopback(t, calls.handlers(), push.WithBodyTimeout(bound))
	body := signed(push.EventGamePayGoodsDeliver, itemPayload("SLOW-1", midas.Production), testAppKey)
	conn, r := rawRequest(t, addr, http.MethodPost, signedQuery(), len(body))
	start := time.Now()
	go func() { // one byte every 50 ms: the body would take over a minute
		for _, b := range body {
			if _, err := conn.Write([]byte{b}); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	resp, _ := closedWithin(t, conn, r, &http.Request{Method: http.MethodPost}, bound+10*time.Second)
	took := time.Since(start)
	require.Equal(t, http.StatusRequestTimeout, resp.StatusCode)
	require.True(t, resp.Close, "answer without Connection: close")
	require.Zero(t, calls.calls())
	// The contract, not a speed: cut off after the bound, well before the
	// body could have been sent.
	require.GreaterOrEqual(t, took, bound)
	require.Less(t, took, bound+5*time.Second)
	t.Logf("slow sender cut off %v after the request head (bound %v)", took, bound)
}

// The body deadline is lifted once the body is read: a keep-alive connection
// carries several pushes, and a handler running past the body timeout keeps a
// live context.
func TestBodyDeadlineLiftedAfterRead(t *testing.T) {
	const bound = 50 * time.Millisecond
	var (
		mu      sync.Mutex
		ctxErrs []error
	)
	addr := loopback(t, push.Handlers{ItemDelivered: func(ctx context.Context, _ *push.ItemDelivery) error {
		time.Sleep(4 * bound) // past the body deadline; the context must still be live
		mu.Lock()
		defer mu.Unlock()
		ctxErrs = append(ctxErrs, ctx.Err())
		return nil
	}}, push.WithBodyTimeout(bound), push.WithHandlerTimeout(time.Minute))
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	var conns []string
	for i := 0; i < 3; i++ {
		body := signed(push.EventGamePayGoodsDeliver, itemPayload(fmt.Sprintf("KA-%d", i), midas.Production), testAppKey)
		req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/push?"+signedQuery(), strings.NewReader(string(body)))
		require.NoError(t, err)
		var local string
		req = req.WithContext(withConnTrace(req.Context(), &local))
		resp, err := client.Do(req)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
		require.False(t, resp.Close)
		conns = append(conns, local)
	}
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []error{nil, nil, nil}, ctxErrs)
	require.Equal(t, conns[0], conns[1], "second push on a new connection")
	require.Equal(t, conns[0], conns[2], "third push on a new connection")
}

// withConnTrace records in *local the local address of the connection a
// request is sent on.
func withConnTrace(ctx context.Context, local *string) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		*local = info.Conn.LocalAddr().String()
	}})
}
