package midas

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
)

// benchPay is a typical pay request: every optional field set, with a
// session key, so both signatures are computed.
var benchPay = PayRequest{
	OpenID: testOpenID, SessionKey: testSessionKey, ZoneID: "1", PF: "android", UserIP: "203.0.113.7",
	BillNo: "order-20261121-000123456", Amount: 60, PayItem: "sword*1", AppRemark: "first purchase",
}

func benchClient(b *testing.B, opts ...Option) *Client {
	b.Helper()
	c, err := NewClient(testConfig(Production), append([]Option{WithClock(fixedClock)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func benchCall(b *testing.B) *apiCall {
	cl, err := v1{}.pay(&benchPay)
	if err != nil {
		b.Fatal(err)
	}
	return cl
}

// BenchmarkSign is the signing work of one pay request: stamping and sorting
// the fields, building both strings, sig and mp_sig in hex.
func BenchmarkSign(b *testing.B) {
	c := benchClient(b)
	cl := benchCall(b)
	path := V1Path(c.env, APIPay)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var arr [16]field
		fs := c.d.(v1).stamp(arr[:0], cl, testTS)
		sig, mp := c.d.(v1).signFields(fs, path, testToken, cl.sessionKey)
		if len(sig) != 64 || len(mp) != 64 {
			b.Fatal("bad signature")
		}
	}
}

// BenchmarkSignFloor is the floor of BenchmarkSign: the two bare HMAC-SHA256
// computations over the same strings, built beforehand.
func BenchmarkSignFloor(b *testing.B) {
	c := benchClient(b)
	cl := benchCall(b)
	var arr [16]field
	fs := c.d.(v1).stamp(arr[:0], cl, testTS)
	path := V1Path(c.env, APIPay)
	sig, _ := c.d.(v1).signFields(fs, path, testToken, cl.sessionKey)
	sigStr := appendSignString(nil, fs, nil, path, "&secret=", testAppKey)
	mpStr := appendSignString(nil, fs, []field{{key: keyAccessToken, val: testToken}, {key: keySig, val: sig}}, path, "&session_key=", testSessionKey)
	appKey, sessionKey := []byte(testAppKey), []byte(testSessionKey)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m := hmac.New(sha256.New, appKey)
		m.Write(sigStr)
		s1 := m.Sum(nil)
		m = hmac.New(sha256.New, sessionKey)
		m.Write(mpStr)
		s2 := m.Sum(nil)
		if len(s1)+len(s2) != 64 {
			b.Fatal("bad sum")
		}
	}
}

// BenchmarkBuildRequest is all the client does before the network: sign,
// encode the body, build the *http.Request.
func BenchmarkBuildRequest(b *testing.B) {
	c := benchClient(b)
	cl := benchCall(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.newRequest(ctx, cl, testToken); err != nil {
			b.Fatal(err)
		}
	}
}

// payAnswer is what the loopback server answers every pay with.
const payAnswer = `{"errcode":0,"errmsg":"ok","bill_no":"order-20261121-000123456","balance":940,"used_gen_amt":0}`

// cannedServer answers every request with payAnswer after reading the body,
// so the client's work, not the server's, is what is measured.
func cannedServer() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, payAnswer)
	}))
}

// benchTransport keeps enough idle connections for the widest benchmark, so
// that neither side pays for new connections.
func benchHTTPClient() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        512,
		MaxIdleConnsPerHost: 512,
		IdleConnTimeout:     time.Minute,
	}}
}

var concurrencies = []int{1, 8, 64, 256}

// BenchmarkLoopback compares, at each number of goroutines, a whole Pay
// against a loopback server ("pay") with its baseline ("bare"): a net/http
// POST of the same body, built once, to the same server, reading the whole
// answer. The two run back to back so that both see the same machine.
func BenchmarkLoopback(b *testing.B) {
	srv := cannedServer()
	defer srv.Close()
	built, err := benchClient(b).newRequest(context.Background(), benchCall(b), testToken)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(built.Body)
	u := srv.URL + built.URL.RequestURI()
	for _, n := range concurrencies {
		b.Run(fmt.Sprintf("goroutines=%d/bare", n), func(b *testing.B) {
			hc := benchHTTPClient()
			defer hc.CloseIdleConnections()
			runConcurrent(b, n, func() error {
				resp, err := hc.Post(u, "application/json", bytes.NewReader(body))
				if err != nil {
					return err
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return err
			})
		})
		b.Run(fmt.Sprintf("goroutines=%d/pay", n), func(b *testing.B) {
			hc := benchHTTPClient()
			defer hc.CloseIdleConnections()
			c := benchClient(b, WithBaseURL(srv.URL), WithHTTPClient(hc))
			ctx := context.Background()
			runConcurrent(b, n, func() error {
				_, err := c.Pay(ctx, benchPay)
				return err
			})
		})
	}
}

// runConcurrent runs fn b.N times over n goroutines, starting from a
// collected heap so that one run's garbage is not charged to the next.
func runConcurrent(b *testing.B, n int, fn func() error) {
	b.Helper()
	b.ReportAllocs()
	runtime.GC()
	b.ResetTimer()
	if n == 1 {
		for i := 0; i < b.N; i++ {
			if err := fn(); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	work := make(chan struct{}, b.N)
	for i := 0; i < b.N; i++ {
		work <- struct{}{}
	}
	close(work)
	errs := make(chan error, n)
	for g := 0; g < n; g++ {
		go func() {
			for range work {
				if err := fn(); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for g := 0; g < n; g++ {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
}

// answerInstantly answers every request at once with payAnswer, so that
// BenchmarkPayNoNetwork measures the client's own work on a whole call.
func answerInstantly(r *http.Request) (*http.Response, error) {
	io.Copy(io.Discard, r.Body)
	r.Body.Close()
	return &http.Response{StatusCode: 200, Header: http.Header{}, ContentLength: int64(len(payAnswer)),
		Body: io.NopCloser(strings.NewReader(payAnswer)), Request: r}, nil
}

// BenchmarkPayNoNetwork is the client's whole work for one Pay, with a
// transport that answers at once: validation, signing, encoding, the
// request, the response's decoding.
func BenchmarkPayNoNetwork(b *testing.B) {
	c := benchClient(b, WithHTTPClient(&http.Client{Transport: roundTripFunc(answerInstantly)}))
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := c.Pay(ctx, benchPay); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDefaultPool measures the default pool: 64 and 256 goroutines paying
// through a client made with no options (its default transport) against a
// loopback TLS server that answers in 20 ms, beside a bare net/http client
// with a pool sized for the load. It reports calls/s and the TLS
// connections opened.
func BenchmarkDefaultPool(b *testing.B) {
	for _, n := range []int{64, 256} {
		b.Run(fmt.Sprintf("goroutines=%d/bare-sized", n), func(b *testing.B) {
			srv := newTLSPayServer(20 * time.Millisecond)
			defer srv.Close()
			hc := srv.Client()
			tr := hc.Transport.(*http.Transport)
			tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 2*n, 2*n
			defer hc.CloseIdleConnections()
			built, err := benchClient(b).newRequest(context.Background(), benchCall(b), testToken)
			if err != nil {
				b.Fatal(err)
			}
			body, _ := io.ReadAll(built.Body)
			u := srv.URL + built.URL.RequestURI()
			poolRun(b, n, srv, func() error {
				resp, err := hc.Post(u, "application/json", bytes.NewReader(body))
				if err != nil {
					return err
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return err
			})
		})
		b.Run(fmt.Sprintf("goroutines=%d/pay-default", n), func(b *testing.B) {
			srv := newTLSPayServer(20 * time.Millisecond)
			defer srv.Close()
			c := benchClient(b, WithBaseURL(srv.URL))
			trustTestServer(b, c, srv.Server)
			defer c.httpClient.CloseIdleConnections()
			ctx := context.Background()
			poolRun(b, n, srv, func() error {
				_, err := c.Pay(ctx, benchPay)
				return err
			})
		})
	}
}

func poolRun(b *testing.B, n int, srv *tlsPayServer, fn func() error) {
	start := time.Now()
	runConcurrent(b, n, fn)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
	b.ReportMetric(float64(srv.opened.Load()), "conns")
}

// v2Bench is a 2.0 pay's body and the client that signs it.
func v2Bench(b *testing.B) (*Client, []byte) {
	c, err := NewClient(Config{AppID: testAppID, OfferID: testOfferID, AppKey: testAppKey, Version: V2, AccessToken: StaticToken(testToken)}, WithClock(fixedClock))
	if err != nil {
		b.Fatal(err)
	}
	r := benchPay
	r.PF, r.SessionKey = "", testSessionKey
	cl, err := c.d.pay(&r)
	if err != nil {
		b.Fatal(err)
	}
	_, _, body := c.d.frame(cl, testToken, testTS)
	return c, body
}

// BenchmarkSignV2 is the signing of a 2.0 pay: pay_sig and signature over
// the body bytes, in hex.
func BenchmarkSignV2(b *testing.B) {
	c, body := v2Bench(b)
	path := V2Path(APIPay)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p, s := c.d.(v2).signBody(path, body, testSessionKey)
		if len(p) != 64 || len(s) != 64 {
			b.Fatal("bad signature")
		}
	}
}

// BenchmarkSignV2Floor is its floor: two bare HMAC-SHA256 over the same
// bytes, the pay_sig message built beforehand.
func BenchmarkSignV2Floor(b *testing.B) {
	_, body := v2Bench(b)
	msg := append([]byte(V2Path(APIPay)+"&"), body...)
	appKey, sessionKey := []byte(testAppKey), []byte(testSessionKey)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m := hmac.New(sha256.New, appKey)
		m.Write(msg)
		s1 := m.Sum(nil)
		m = hmac.New(sha256.New, sessionKey)
		m.Write(body)
		s2 := m.Sum(nil)
		if len(s1)+len(s2) != 64 {
			b.Fatal("bad sum")
		}
	}
}
