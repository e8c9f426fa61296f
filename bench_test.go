package midas

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
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
	return benchClientV(b, V1, opts...)
}

func benchClientV(b *testing.B, v Version, opts ...Option) *Client {
	b.Helper()
	cfg := testConfig(Production)
	cfg.Version = v
	c, err := NewClient(cfg, append([]Option{WithClock(fixedClock)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// benchPayFor is benchPay in version v: 2.0 takes no PF.
func benchPayFor(v Version) PayRequest {
	r := benchPay
	if v == V2 {
		r.PF = ""
	}
	return r
}

func benchCall(b *testing.B) *apiCall {
	cl, err := v1{}.pay(benchPay)
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
	benchBareHMACs(b, sigStr, mpStr)
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

// The answers of the loopback server, per version.
const (
	payAnswer   = `{"errcode":0,"errmsg":"ok","bill_no":"order-20261121-000123456","balance":940,"used_gen_amt":0}`
	payAnswerV2 = `{"errcode":0,"errmsg":"ok","bill_no":"order-20261121-000123456","balance":940,"used_present_amount":0}`
)

// cannedServer answers every request with its version's pay answer after
// reading the body, so the client's work, not the server's, is measured.
func cannedServer() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		if strings.HasPrefix(r.URL.Path, "/wxa/") {
			io.WriteString(w, payAnswerV2)
			return
		}
		io.WriteString(w, payAnswer)
	}))
}

// sentRequest is a request as the client sent it.
type sentRequest struct {
	path, rawQuery string
	body           []byte
}

// capturePay makes one Pay of version v and returns the request the server
// received: what the floors replay.
func capturePay(b *testing.B, v Version) sentRequest {
	b.Helper()
	var got sentRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got = sentRequest{r.URL.Path, r.URL.RawQuery, body}
		if v == V2 {
			io.WriteString(w, payAnswerV2)
			return
		}
		io.WriteString(w, payAnswer)
	}))
	defer srv.Close()
	c := benchClientV(b, v, WithBaseURL(srv.URL))
	if _, err := c.Pay(context.Background(), benchPayFor(v)); err != nil {
		b.Fatal(err)
	}
	return got
}

// benchHTTPClient keeps enough idle connections for the widest benchmark, so
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

// BenchmarkLoopback compares, per version and number of goroutines, a whole
// Pay against a loopback server ("pay") with its floor ("bare"): a net/http
// POST of the same request, captured from the client, to the same server,
// reading the whole answer. The server runs in the benchmark's process, so
// allocations per op count both sides.
func BenchmarkLoopback(b *testing.B) {
	srv := cannedServer()
	defer srv.Close()
	for _, v := range []Version{V1, V2} {
		name := benchVersionName(v)
		sent := capturePay(b, v)
		u := srv.URL + sent.path + "?" + sent.rawQuery
		for _, n := range concurrencies {
			b.Run(fmt.Sprintf("%s/goroutines=%d/bare", name, n), func(b *testing.B) {
				hc := benchHTTPClient()
				defer hc.CloseIdleConnections()
				runConcurrent(b, n, barePost(hc, u, sent.body))
			})
			b.Run(fmt.Sprintf("%s/goroutines=%d/pay", name, n), func(b *testing.B) {
				hc := benchHTTPClient()
				defer hc.CloseIdleConnections()
				c := benchClientV(b, v, WithBaseURL(srv.URL), WithHTTPClient(hc))
				ctx := context.Background()
				req := benchPayFor(v)
				runConcurrent(b, n, func() error {
					_, err := c.Pay(ctx, req)
					return err
				})
			})
		}
	}
}

// BenchmarkLoopbackPaired measures BenchmarkLoopback's ratio within one
// process, in rounds of 1,024 calls of each contender, so that both meet the
// same heap, caches and machine however its speed drifts (separate processes
// differ by more than the SDK's share of a loopback call). At one goroutine
// the calls of a round alternate one by one (pay, bare, bare, pay, …), each
// timed; at 64 the contenders run as two phases of the round, in an order
// that alternates between rounds (a phase allocates several MB, so it pays
// for its own garbage collections). It reports the median, min and max of
// the per-round ratios (pay ÷ bare) and each side's time per call; ns/op is
// one pay plus one bare POST.
func BenchmarkLoopbackPaired(b *testing.B) {
	srv := cannedServer()
	defer srv.Close()
	for _, v := range []Version{V1, V2} {
		for _, n := range []int{1, 64} {
			b.Run(fmt.Sprintf("%s/goroutines=%d", benchVersionName(v), n), func(b *testing.B) {
				sent := capturePay(b, v)
				u := srv.URL + sent.path + "?" + sent.rawQuery
				hb, hp := benchHTTPClient(), benchHTTPClient()
				defer hb.CloseIdleConnections()
				defer hp.CloseIdleConnections()
				bare := barePost(hb, u, sent.body)
				c := benchClientV(b, v, WithBaseURL(srv.URL), WithHTTPClient(hp))
				ctx, req := context.Background(), benchPayFor(v)
				pay := func() error {
					_, err := c.Pay(ctx, req)
					return err
				}
				const phase = 1024 // calls per contender per round
				// A first round, not counted: connections open, caches warm.
				if err := errors.Join(runPhase(n, phase, bare), runPhase(n, phase, pay)); err != nil {
					b.Fatal(err)
				}
				fns := [2]func() error{pay, bare}
				var total [2]time.Duration
				var ratios []float64
				b.ReportAllocs()
				b.ResetTimer()
				for done, round := 0, 0; done < b.N; round++ {
					calls := min(phase, b.N-done)
					var took [2]time.Duration
					if n == 1 {
						if err := rotate(calls, took[:], fns[:]...); err != nil {
							b.Fatal(err)
						}
					} else {
						for j := range 2 {
							k := (round + j) % 2 // pay first in even rounds, bare first in odd ones
							t0 := time.Now()
							if err := runPhase(n, calls, fns[k]); err != nil {
								b.Fatal(err)
							}
							took[k] = time.Since(t0)
						}
					}
					total[0] += took[0]
					total[1] += took[1]
					ratios = append(ratios, float64(took[0])/float64(took[1]))
					done += calls
				}
				sort.Float64s(ratios)
				b.ReportMetric(ratios[len(ratios)/2], "pay/bare")
				b.ReportMetric(ratios[0], "min")
				b.ReportMetric(ratios[len(ratios)-1], "max")
				b.ReportMetric(float64(total[0].Nanoseconds())/float64(b.N), "pay-ns")
				b.ReportMetric(float64(total[1].Nanoseconds())/float64(b.N), "bare-ns")
			})
		}
	}
}

// barePost is the floor of a Pay: a net/http POST of body to u through hc,
// reading the whole answer.
func barePost(hc *http.Client, u string, body []byte) func() error {
	return func() error {
		resp, err := hc.Post(u, "application/json", bytes.NewReader(body))
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return err
	}
}

// rotate makes calls rounds of one call of each fn, the first of each round
// moving one place on every round, and adds each call's time to took.
func rotate(calls int, took []time.Duration, fns ...func() error) error {
	for i := 0; i < calls; i++ {
		for j := range fns {
			k := (i + j) % len(fns)
			t0 := time.Now()
			if err := fns[k](); err != nil {
				return err
			}
			took[k] += time.Since(t0)
		}
	}
	return nil
}

// BenchmarkLoopbackSteps says where a Pay's time over its bare POST goes, at
// one goroutine: between the bare POST and the whole Pay, contenders that
// each add one step of the SDK's work to the one before, timed call by call
// in rotation (as BenchmarkLoopbackPaired). "transport" is how the SDK uses
// net/http around the captured request (an attempt deadline, the connection
// trace, the transport called directly, the answer read into one buffer);
// "+validate" also checks the request and makes its fields; "+frame" also
// lays out and signs the body it sends; "+decode" also decodes the answer.
// Each is reported as its time ÷ the bare POST's.
func BenchmarkLoopbackSteps(b *testing.B) {
	srv := cannedServer()
	defer srv.Close()
	for _, v := range []Version{V1, V2} {
		b.Run(benchVersionName(v), func(b *testing.B) {
			sent := capturePay(b, v)
			u := srv.URL + sent.path + "?" + sent.rawQuery
			hb, hs, hp := benchHTTPClient(), benchHTTPClient(), benchHTTPClient()
			c := benchClientV(b, v, WithBaseURL(srv.URL), WithHTTPClient(hp))
			ctx, req := context.Background(), benchPayFor(v)
			step := func(validate, frame, decode bool) func() error {
				return func() error {
					body := sent.body
					if validate {
						cl, err := c.d.pay(req)
						if err != nil {
							return err
						}
						if frame {
							_, _, body = c.d.frame(cl, testToken, testTS)
						}
					}
					actx, cancel := context.WithTimeout(ctx, 10*time.Second)
					defer cancel()
					trace := newConnTrace()
					hreq, err := http.NewRequestWithContext(httptrace.WithClientTrace(actx, &trace.hooks), http.MethodPost, u, bytes.NewReader(body))
					if err != nil {
						return err
					}
					hreq.Header["Content-Type"] = jsonContentType
					resp, err := hs.Transport.RoundTrip(hreq)
					if err != nil {
						return err
					}
					if decode {
						var out apiResponse
						return checkResponse(resp, APIPay, req.BillNo, v, &out)
					}
					defer resp.Body.Close()
					_, err = readLimited(resp)
					return err
				}
			}
			names := []string{"bare", "transport", "+validate", "+frame", "+decode", "pay"}
			fns := []func() error{barePost(hb, u, sent.body), step(false, false, false), step(true, false, false),
				step(true, true, false), step(true, true, true), func() error { _, err := c.Pay(ctx, req); return err }}
			took := make([]time.Duration, len(fns))
			if err := rotate(1, took, fns...); err != nil { // connections open
				b.Fatal(err)
			}
			clear(took)
			b.ResetTimer()
			if err := rotate(b.N, took, fns...); err != nil {
				b.Fatal(err)
			}
			for k, name := range names[1:] {
				b.ReportMetric(float64(took[k+1])/float64(took[0]), name)
			}
		})
	}
}

// runPhase makes calls calls of fn over n goroutines.
func runPhase(n, calls int, fn func() error) error {
	if n == 1 {
		for i := 0; i < calls; i++ {
			if err := fn(); err != nil {
				return err
			}
		}
		return nil
	}
	var next atomic.Int64
	errs := make(chan error, n)
	for g := 0; g < n; g++ {
		go func() {
			for next.Add(1) <= int64(calls) {
				if err := fn(); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	var first error
	for g := 0; g < n; g++ {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// benchVersionName names a version in benchmark names: v1, v2.
func benchVersionName(v Version) string {
	if v == V2 {
		return "v2"
	}
	return "v1"
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
	answer := payAnswer
	if strings.HasPrefix(r.URL.Path, "/wxa/") {
		answer = payAnswerV2
	}
	return &http.Response{StatusCode: 200, Header: http.Header{}, ContentLength: int64(len(answer)),
		Body: io.NopCloser(strings.NewReader(answer)), Request: r}, nil
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

// BenchmarkPayNoNetworkV2 is BenchmarkPayNoNetwork for a 2.0 Pay.
func BenchmarkPayNoNetworkV2(b *testing.B) {
	c := benchClientV(b, V2, WithHTTPClient(&http.Client{Transport: roundTripFunc(answerInstantly)}))
	ctx := context.Background()
	req := benchPayFor(V2)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := c.Pay(ctx, req); err != nil {
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
			sent := capturePay(b, V1)
			body, u := sent.body, srv.URL+sent.path+"?"+sent.rawQuery
			poolRun(b, n, srv, barePost(hc, u, body))
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
	cl, err := c.d.pay(r)
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
	benchBareHMACs(b, msg, body)
}

// sigParams are the parameters of the captured 1.0 pay, as a caller of the
// public Sig and MpSig holds them, and the strings those sign.
func sigParams(b *testing.B) (params map[string]string, path, sig, mpSig string, sigStr, mpStr []byte) {
	b.Helper()
	sent := capturePay(b, V1)
	var body map[string]any
	dec := json.NewDecoder(bytes.NewReader(sent.body))
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		b.Fatal(err)
	}
	params = map[string]string{}
	for k, v := range body {
		params[k] = fmt.Sprint(v)
	}
	sig, mpSig = params[keySig], params[keyMpSig]
	delete(params, keySig)
	delete(params, keyMpSig)
	join := func(m map[string]string) string {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var s []string
		for _, k := range keys {
			s = append(s, k+"="+m[k])
		}
		return strings.Join(s, "&")
	}
	path = sent.path
	sigStr = []byte(join(params) + "&org_loc=" + path + "&method=POST&secret=" + testAppKey)
	withSig := map[string]string{keyAccessToken: testToken, keySig: sig}
	for k, v := range params {
		withSig[k] = v
	}
	mpStr = []byte(join(withSig) + "&org_loc=" + path + "&method=POST&session_key=" + testSessionKey)
	return params, path, sig, mpSig, sigStr, mpStr
}

// BenchmarkSigMap is the public signers on a whole pay: Sig over the body's
// parameters, MpSig over them with access_token and sig, as a caller holds
// them in a map.
func BenchmarkSigMap(b *testing.B) {
	params, path, sig, mpSig, _, _ := sigParams(b)
	withSig := map[string]string{keyAccessToken: testToken, keySig: sig}
	for k, v := range params {
		withSig[k] = v
	}
	if Sig(params, path, testAppKey) != sig || MpSig(withSig, path, testSessionKey) != mpSig {
		b.Fatal("the public signers disagree with the client")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if len(Sig(params, path, testAppKey))+len(MpSig(withSig, path, testSessionKey)) != 128 {
			b.Fatal("bad signature")
		}
	}
}

// benchBareHMACs is the floor of signing: HMAC-SHA256 of appMsg with the
// AppKey and of sessionMsg with the session_key, by crypto/hmac.
func benchBareHMACs(b *testing.B, appMsg, sessionMsg []byte) {
	appKey, sessionKey := []byte(testAppKey), []byte(testSessionKey)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m := hmac.New(sha256.New, appKey)
		m.Write(appMsg)
		s1 := m.Sum(nil)
		m = hmac.New(sha256.New, sessionKey)
		m.Write(sessionMsg)
		s2 := m.Sum(nil)
		if len(s1)+len(s2) != 64 {
			b.Fatal("bad sum")
		}
	}
}

// BenchmarkSigMapFloor is its floor: the two bare hmac.New(sha256.New, key)
// computations over the same strings, built beforehand.
func BenchmarkSigMapFloor(b *testing.B) {
	_, _, _, _, sigStr, mpStr := sigParams(b)
	benchBareHMACs(b, sigStr, mpStr)
}
