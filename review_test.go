package midas

// Regression tests from an independent review: each failed before its fix
// (a pre-lookup errcode read as definite by Settle, a GameItemRequest's
// session_key in fmt/JSON/slog, C1 control characters and IPv6 zones sent,
// early renewal blocking a caller with a valid token, forced-refresh backoff
// starting over under endless rejection). Self-contained on purpose.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	reviewAppKey     = "reviewAppKeyReviewAppKeyReview01"
	reviewSessionKey = "V7Q38/i2KXaqrQyl2Yx9Hg=="
	reviewToken      = "reviewAccessTokenReviewAccessToken"
)

type reviewRT func(*http.Request) (*http.Response, error)

func (f reviewRT) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func reviewResp(body string) *http.Response {
	return &http.Response{StatusCode: 200, Status: "200 OK", Header: http.Header{},
		Body: ioNopCloser(body), ContentLength: int64(len(body))}
}

type reviewBody struct{ *strings.Reader }

func (reviewBody) Close() error { return nil }

func ioNopCloser(s string) reviewBody { return reviewBody{strings.NewReader(s)} }

// reviewClient answers attempt i with steps[i] (an errcode, or an error for
// a lost answer), repeating the last step; it counts attempts.
func reviewClient(t *testing.T, v Version, steps ...any) (*Client, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	rt := reviewRT(func(r *http.Request) (*http.Response, error) {
		i := int(n.Add(1)) - 1
		if i >= len(steps) {
			i = len(steps) - 1
		}
		switch s := steps[i].(type) {
		case error:
			return nil, s
		case int:
			return reviewResp(fmt.Sprintf(`{"errcode":%d,"errmsg":"m"}`, s)), nil
		}
		panic("bad step")
	})
	c, err := NewClient(Config{AppID: "wx1234567", OfferID: "12345678", AppKey: reviewAppKey, Env: Production,
		AccessToken: StaticToken(reviewToken), Version: v},
		WithHTTPClient(&http.Client{Transport: rt}), WithRetryBackoff(time.Microsecond, time.Microsecond))
	if err != nil {
		t.Fatal(err)
	}
	return c, &n
}

// Issue 8 §2 / SettlePay doc: "an answer that rejects the request before the
// bill_no is looked at (a rejected access_token after its one refresh, a
// wrong signature, session or parameter, no permission): it stops at once
// with an error matching ErrOutcomeUnknown". WeChat's general rejections
// (40164 caller IP not whitelisted, 48001 API unauthorized, 45009/45011 quota
// and rate limits, -1000-style gateway codes) are given before any bill_no is
// looked at, yet afterLookup (retry.go) is a deny-list and calls every code it
// does not know "after lookup": SettlePay returns a plain *APIError, which
// the caller reads as a definite refusal although attempt 1 may have
// deducted the coins.
func TestReviewSettleUndocumentedErrcodeIsNotADefiniteRefusal(t *testing.T) {
	for _, v := range []Version{V1, V2} {
		for _, code := range []int{40164, 48001, 45009, 45011} {
			c, n := reviewClient(t, v, code)
			r := PayRequest{OpenID: "o1", SessionKey: reviewSessionKey, BillNo: "b1", Amount: 5}
			_, err := c.SettlePay(context.Background(), r)
			if err == nil {
				t.Fatalf("v%s errcode %d: settled as success", v, code)
			}
			if !errors.Is(err, ErrOutcomeUnknown) {
				t.Errorf("v%s errcode %d: SettlePay returned a definite error %q after %d call(s); an answer that never looked at the bill_no must leave the outcome unknown",
					v, code, err, n.Load())
			}
		}
	}
}

// Issue 8 §5: "json.Marshal of Config or any request, and slog.NewJSONHandler
// logging ... a request ... must not contain the AppKey, AppSecret,
// session_key or access_token." GameItemRequest (gameitem.go:7) carries the
// buyer's SessionKey but has none of the Format / MarshalJSON / LogValue
// methods the other request types get in redact.go.
func TestReviewGameItemRequestHidesSessionKey(t *testing.T) {
	r := GameItemRequest{SessionKey: reviewSessionKey, ProductID: "gem", Quantity: 1, Price: 600, OutTradeNo: "o1"}
	check := func(how, out string) {
		t.Helper()
		if strings.Contains(out, reviewSessionKey) {
			t.Errorf("%s shows the session_key: %s", how, out)
		}
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		check(verb, fmt.Sprintf(verb, r))
		check(verb+" of a pointer", fmt.Sprintf(verb, &r))
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	check("json.Marshal", string(b))
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("order", "req", r)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("order", "req", r)
	check("slog", buf.String())
}

// Issue 8 §7 / checkZoneID's own doc: "control characters never are"
// [accepted]. checkText (request.go:160) only refuses C0 and DEL, so a C1
// control character (U+0080–U+009F, e.g. NEL U+0085) in ZoneID, PayItem or
// Attach passes validation and is sent; midastest, "as strict as the real
// server", answers it 90018 (hasControl uses unicode.IsControl).
func TestReviewC1ControlCharactersAreRefusedBeforeSending(t *testing.T) {
	var sent atomic.Int32
	rt := reviewRT(func(*http.Request) (*http.Response, error) {
		sent.Add(1)
		return reviewResp(okAnswer), nil
	})
	mk := func(v Version) *Client {
		c, err := NewClient(Config{AppID: "wx1234567", OfferID: "12345678", AppKey: reviewAppKey, Env: Production,
			AccessToken: StaticToken(reviewToken), Version: v}, WithHTTPClient(&http.Client{Transport: rt}))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, v := range []Version{V1, V2} {
		c := mk(v)
		for name, r := range map[string]PayRequest{
			"ZoneID":  {OpenID: "o1", SessionKey: reviewSessionKey, ZoneID: "1\u0085", BillNo: "b1", Amount: 1},
			"PayItem": {OpenID: "o1", SessionKey: reviewSessionKey, PayItem: "x\u009by", BillNo: "b1", Amount: 1},
		} {
			_, err := c.Pay(context.Background(), r)
			if !errors.Is(err, ErrInvalidRequest) {
				t.Errorf("v%s %s with a C1 control character: want ErrInvalidRequest before sending, got %v", v, name, err)
			}
		}
	}
	if n := sent.Load(); n != 0 {
		t.Errorf("%d request(s) with control characters reached the network", n)
	}
	c := mk(V2)
	_, err := c.SignGameItem(GameItemRequest{SessionKey: reviewSessionKey, ProductID: "gem", Quantity: 1, Price: 1,
		OutTradeNo: "o1", ZoneID: "1\u0085"})
	if !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("SignGameItem signed a zoneId with a C1 control character: %v", err)
	}
}

// StableTokenSource doc (token.go:31): "within the renewal window before
// expiry, the cached token is served while a refresh runs". The caller that
// starts the early renewal is not served: it blocks on the refresh
// (token.go:126 select) until the refresh ends or its ctx does. With a slow
// stable_token, a Pay made in the renewal window spends its whole deadline
// waiting, then fails as "not sent" although a valid token was cached all
// along.
func TestReviewEarlyRenewalDoesNotBlockTheCallerWithAValidToken(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	release := make(chan struct{})
	defer close(release)
	var tokenCalls atomic.Int32
	rt := reviewRT(func(r *http.Request) (*http.Response, error) {
		if r.URL.Path == stableTokenPath {
			if tokenCalls.Add(1) > 1 {
				select { // the renewal hangs (WeChat slow), until the test ends
				case <-release:
				case <-r.Context().Done():
					return nil, r.Context().Err()
				}
			}
			return reviewResp(`{"access_token":"cachedTokenCachedTokenCached","expires_in":7200}`), nil
		}
		return reviewResp(okAnswer), nil
	})
	hc := &http.Client{Transport: rt}
	ts, err := NewStableTokenSource("wx1234567", "appSecretAppSecretAppSecret01", WithHTTPClient(hc), WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(Config{AppID: "wx1234567", OfferID: "12345678", AppKey: reviewAppKey, AccessToken: ts},
		WithHTTPClient(hc), WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(7200*time.Second - tokenEarly + time.Second) // renewal due; token valid for ~5 more minutes
	mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = c.Pay(ctx, PayRequest{OpenID: "o1", BillNo: "renew1", Amount: 1})
	took := time.Since(start)
	if err != nil {
		t.Errorf("Pay in the renewal window failed after %v although the cached token was valid: %v", took.Round(time.Millisecond), err)
	} else if took > 150*time.Millisecond {
		t.Errorf("Pay in the renewal window waited %v for the background renewal", took.Round(time.Millisecond))
	}
}

// appendBody's doc (request.go:171): "Values were checked to be valid UTF-8,
// so escaping is all that is needed for the server to decode exactly the
// signed text." user_ip is only checked with netip.ParseAddr (request.go:41),
// which accepts an IPv6 zone of any bytes: a control character or invalid
// UTF-8 reaches the body. Against midastest, a 1.0 Pay with UserIP
// "fe80::1%\xff" is answered 90011 "sig is wrong" (the server decodes U+FFFD,
// not the signed byte), which the docs call a configuration bug. A player's
// public IP never has a zone.
func TestReviewUserIPWithZoneIsRefusedBeforeSending(t *testing.T) {
	for _, v := range []Version{V1, V2} {
		c, n := reviewClient(t, v, 0)
		for _, ip := range []string{"fe80::1%\n", "fe80::1%\xff", "fe80::1%eth0"} {
			_, err := c.Pay(context.Background(), PayRequest{OpenID: "o1", SessionKey: reviewSessionKey, UserIP: ip, BillNo: "b1", Amount: 1})
			if !errors.Is(err, ErrInvalidRequest) {
				t.Errorf("v%s UserIP %q: want ErrInvalidRequest, got %v", v, ip, err)
			}
		}
		if n.Load() != 0 {
			t.Errorf("v%s: %d request(s) with a zoned user_ip were sent", v, n.Load())
		}
	}
}

// StableTokenSource doc (token.go:35): forced refreshes "back off: 15
// minutes after the first, doubling to 24 hours", and issue 8 §6: "A token
// rejected again and again must not force-refresh more than a few times a
// day". refresh (token.go:177) starts over when the last force is 24 h old,
// but with the wait capped at 24 h the next force always comes exactly 24 h
// after the last, so the cap is never held: under rejection that never
// stops, the spacing goes 15m, 30m, ... 16h, 24h, then back to 15m, and
// every ~2.3 days 7 forced refreshes fall within 16 hours (each one ends
// every other server's token).
func TestReviewForcedRefreshBackoffDoesNotStartOverUnderContinuousRejection(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	var forcedAt []time.Time
	rt := reviewRT(func(r *http.Request) (*http.Response, error) {
		var body struct {
			Force bool `json:"force_refresh"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		if body.Force {
			forcedAt = append(forcedAt, clock())
		}
		return reviewResp(`{"access_token":"sameTokenSameTokenSameToken","expires_in":7200}`), nil
	})
	ts, err := NewStableTokenSource("wx1234567", "appSecretAppSecretAppSecret01", WithHTTPClient(&http.Client{Transport: rt}), WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	for minute := 0; minute < 4*24*60; minute++ {
		tok, err := ts.Token(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		ts.InvalidateToken(tok) // WeChat keeps rejecting it
		mu.Lock()
		now = now.Add(time.Minute)
		mu.Unlock()
	}
	var gaps []time.Duration
	for i := 1; i < len(forcedAt); i++ {
		gaps = append(gaps, forcedAt[i].Sub(forcedAt[i-1]))
	}
	for i := 1; i < len(gaps); i++ {
		if gaps[i] < gaps[i-1] {
			t.Fatalf("%d forced refreshes in 4 days of continuous rejection; the wait fell from %v back to %v (gaps %v)",
				len(forcedAt), gaps[i-1], gaps[i], gaps)
		}
	}
}
