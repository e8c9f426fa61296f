package midas_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomidas/midas"
	"github.com/gomidas/midas/midastest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// countingServer serves fake over loopback and counts the TCP connections
// it accepts.
func countingServer(t *testing.T, fake *midastest.Server) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(fake)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

// A connection leak is a correctness bug: 1,000 sequential calls through one
// Client, successes and failures alike, use exactly one TCP connection, and
// each call is exactly one HTTP request.
func TestSequentialCallsReuseOneConnection(t *testing.T) {
	cfg := fakeCfg()
	cfg.Players[0].Balance = 1_000_000
	fake := midastest.New(cfg)
	srv, conns := countingServer(t, fake)
	tokens, err := midas.NewStableTokenSource(appID, secret, midas.WithBaseURL(srv.URL), midas.WithHTTPClient(&http.Client{Timeout: 10 * time.Second}))
	require.NoError(t, err)
	c, err := midas.NewClient(midas.Config{AppID: appID, OfferID: offerID, AppKey: appKey, AccessToken: tokens},
		midas.WithBaseURL(srv.URL), midas.WithHTTPClient(&http.Client{Timeout: 10 * time.Second}), midas.WithMaxRetries(0))
	require.NoError(t, err)

	const calls = 1000
	failures := 0
	for i := 0; i < calls; i++ {
		var err error
		switch i % 5 {
		case 0:
			_, err = c.GetBalance(bg, midas.BalanceRequest{OpenID: alice, SessionKey: aliceKey})
		case 1:
			_, err = c.Pay(bg, midas.PayRequest{OpenID: alice, SessionKey: aliceKey, BillNo: fmt.Sprintf("seq-%d", i), Amount: 1})
		case 2:
			_, err = c.Present(bg, midas.PresentRequest{OpenID: alice, BillNo: fmt.Sprintf("seq-%d", i), Count: 1})
		case 3: // an errcode answer: 90012
			_, err = c.Pay(bg, midas.PayRequest{OpenID: alice, BillNo: fmt.Sprintf("seq-%d", i-2), Amount: 1})
		case 4: // every tenth call a 502
			if i%10 == 4 {
				fake.Inject(midastest.Fault{API: midas.APICancelPay, Status: http.StatusBadGateway})
			}
			_, err = c.CancelPay(bg, midas.CancelPayRequest{OpenID: alice, BillNo: fmt.Sprintf("seq-%d", i-3)})
		}
		if err != nil {
			failures++
		}
	}
	assert.Equal(t, int64(1), conns.Load(), "one TCP connection for %d sequential calls", calls)
	assert.Equal(t, 300, failures, "90012s and 502s were among them")
	stable, _ := fake.StableTokenCalls()
	assert.Equal(t, 1, stable, "no token fetch while the cached token is valid")
	assert.Len(t, fake.Calls(), calls+stable, "one HTTP request per call")
}

// Parallel calls share a bounded pool: with a transport capped at 8
// connections, 64 goroutines finish (nothing holds a connection) over at
// most 8 connections.
func TestParallelCallsShareABoundedPool(t *testing.T) {
	cfg := fakeCfg()
	cfg.Players[0].Balance = 1_000_000
	// What the pool guarantees is at most 8 connections at once, so at most
	// 8 requests in the server at once. The total opened over the run is
	// not bounded: the transport may open a new connection after an old one
	// closes.
	fake := midastest.New(cfg)
	var inFlight, maxInFlight atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := maxInFlight.Load()
			if n <= m || maxInFlight.CompareAndSwap(m, n) {
				break
			}
		}
		fake.ServeHTTP(w, r)
	}))
	defer srv.Close()
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxConnsPerHost: 8, MaxIdleConnsPerHost: 8}}
	c, err := midas.NewClient(midas.Config{AppID: appID, OfferID: offerID, AppKey: appKey, AccessToken: midas.StaticToken(token)},
		midas.WithBaseURL(srv.URL), midas.WithHTTPClient(hc))
	require.NoError(t, err)

	var wg sync.WaitGroup
	var failed atomic.Int64
	for g := 0; g < 64; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				if _, err := c.Pay(bg, midas.PayRequest{OpenID: alice, BillNo: fmt.Sprintf("par-%d-%d", g, i), Amount: 1}); err != nil {
					failed.Add(1)
				}
			}
		}(g)
	}
	wg.Wait()
	assert.Zero(t, failed.Load())
	assert.LessOrEqual(t, maxInFlight.Load(), int64(8))
	assert.Positive(t, maxInFlight.Load())
}
