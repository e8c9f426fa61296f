package midas

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tlsPayServer is a loopback TLS server answering every pay after delay,
// counting the connections it accepts and closes. While barrier is set, each
// request waits until barrier requests are in the server at once.
type tlsPayServer struct {
	*httptest.Server
	opened, closed atomic.Int64
	mu             sync.Mutex
	barrier        int
	arrived        int
	release        chan struct{}
}

func newTLSPayServer(delay time.Duration) *tlsPayServer {
	s := &tlsPayServer{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		s.wait()
		time.Sleep(delay)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, payAnswer)
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			s.opened.Add(1)
		case http.StateClosed, http.StateHijacked:
			s.closed.Add(1)
		}
	}
	s.StartTLS()
	return s
}

// holdUntil makes the next n requests wait for each other.
func (s *tlsPayServer) holdUntil(n int) {
	s.mu.Lock()
	s.barrier, s.arrived, s.release = n, 0, make(chan struct{})
	s.mu.Unlock()
}

func (s *tlsPayServer) wait() {
	s.mu.Lock()
	if s.barrier == 0 {
		s.mu.Unlock()
		return
	}
	s.arrived++
	release := s.release
	if s.arrived == s.barrier {
		s.barrier = 0
		close(release)
	}
	s.mu.Unlock()
	select {
	case <-release:
	case <-time.After(30 * time.Second):
	}
}

// defaultClientOf is a client with the default transport, trusting srv, its
// idle connections closed when the test ends.
func defaultClientOf(t *testing.T, srv *tlsPayServer) *Client {
	t.Helper()
	c, err := NewClient(testConfig(Production), WithBaseURL(srv.URL))
	require.NoError(t, err)
	trustTestServer(t, c, srv.Server)
	t.Cleanup(c.httpClient.CloseIdleConnections)
	return c
}

// trustTestServer makes a client built without WithHTTPClient trust srv's
// certificate, keeping the default transport and its pool.
func trustTestServer(t testing.TB, c *Client, srv *httptest.Server) {
	t.Helper()
	dt, ok := c.httpClient.Transport.(*defaultTransport)
	require.True(t, ok, "a client made without WithHTTPClient uses the default transport")
	dt.once.Do(dt.init)
	pooled, ok := dt.pooled.(*http.Transport)
	require.True(t, ok)
	pooled.TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
}

// With no configuration, concurrent callers keep their connections: once
// each of n callers has had one (n requests in the server at once), further
// rounds open none and close none, where http.Transport's stock 2 idle
// connections per host would close all but 2 after each round and open them
// again. (How many the first round opens depends on timing: a connection
// freed while another caller's TLS handshake is under way goes to that
// caller, whose own dial then ends up idle. BENCHMARKS.md reports it.)
func TestDefaultClientPoolsConnections(t *testing.T) {
	for _, n := range []int{64, 256} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			srv := newTLSPayServer(time.Millisecond)
			defer srv.Close()
			c := defaultClientOf(t, srv)
			round := func(calls int) {
				var wg sync.WaitGroup
				var failed atomic.Int64
				for g := 0; g < n; g++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := 0; i < calls; i++ {
							if _, err := c.Pay(context.Background(), benchPay); err != nil {
								failed.Add(1)
							}
						}
					}()
				}
				wg.Wait()
				require.Zero(t, failed.Load())
			}
			srv.holdUntil(n)
			round(1)
			warm := srv.opened.Load()
			require.GreaterOrEqual(t, warm, int64(n))
			round(5)
			assert.Equal(t, warm, srv.opened.Load(), "no new connection once every caller has one")
			assert.Zero(t, srv.closed.Load(), "no connection closed for want of room in the pool")
		})
	}
}

// The default client follows http.DefaultTransport once it is replaced, as
// httpmock.Activate does, and pools otherwise.
func TestDefaultTransportFollowsAReplacement(t *testing.T) {
	dt := newDefaultTransport()
	var used atomic.Bool
	replacement := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		used.Store(true)
		return nil, fmt.Errorf("replaced")
	})
	saved := http.DefaultTransport
	http.DefaultTransport = replacement
	_, err := dt.RoundTrip(httptest.NewRequest(http.MethodPost, "http://127.0.0.1:1/x", nil))
	http.DefaultTransport = saved
	assert.EqualError(t, err, "replaced")
	assert.True(t, used.Load())
	dt.once.Do(dt.init)
	pooled, ok := dt.pooled.(*http.Transport)
	require.True(t, ok)
	assert.Equal(t, DefaultMaxIdleConnsPerHost, pooled.MaxIdleConnsPerHost)
}

// The default client opens at most DefaultMaxConnsPerHost connections:
// more concurrent callers wait for one, and all are answered.
func TestDefaultClientBoundsItsConnections(t *testing.T) {
	const callers = DefaultMaxConnsPerHost + 44
	srv := newTLSPayServer(0)
	defer srv.Close()
	c := defaultClientOf(t, srv)
	// The first DefaultMaxConnsPerHost requests wait in the server until
	// all of them are there; an unbounded client would open a connection
	// for each of the others meanwhile.
	srv.holdUntil(DefaultMaxConnsPerHost)
	var wg sync.WaitGroup
	var failed atomic.Int64
	for g := 0; g < callers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Pay(context.Background(), benchPay); err != nil {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	assert.Zero(t, failed.Load(), "callers over the bound wait, then are answered")
	assert.LessOrEqual(t, srv.opened.Load(), int64(DefaultMaxConnsPerHost))
	assert.Equal(t, int64(DefaultMaxConnsPerHost), srv.opened.Load(), "every connection the bound allows was needed")
}
