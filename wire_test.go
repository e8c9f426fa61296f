package midas

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// CheckBillNoFor applies the rules of the version the client sends with;
// the deprecated CheckBillNo keeps 1.0's.
func TestCheckBillNoFor(t *testing.T) {
	for _, tc := range []struct {
		billNo string
		v1, v2 bool // valid in 1.0, in 2.0
	}{
		{"order_1-a", true, true},
		{"a*b", true, false},
		{"a@b", true, false},
		{"_lead", true, false},
		{"", false, false},
		{"a b", false, false},
		{string(make([]byte, 64)), false, false},
	} {
		for v, want := range map[Version]bool{V1: tc.v1, V2: tc.v2} {
			err := CheckBillNoFor(v, tc.billNo)
			if want {
				assert.NoError(t, err, "%s %q", v, tc.billNo)
				continue
			}
			var ire *InvalidRequestError
			require.ErrorAs(t, err, &ire, "%s %q", v, tc.billNo)
			assert.Equal(t, "BillNo", ire.Field)
			assert.Equal(t, v, ire.Version)
		}
		assert.Equal(t, tc.v1, CheckBillNo(tc.billNo) == nil, "CheckBillNo is 1.0's rule: %q", tc.billNo)
	}
	var ire *InvalidRequestError
	require.ErrorAs(t, CheckBillNoFor(Version(7), "b1"), &ire)
	assert.Equal(t, "Version", ire.Field)
}

// NewStableTokenSource refuses the client options it would ignore, naming
// each, and takes the three it honours.
func TestNewStableTokenSourceRefusesOptionsItIgnores(t *testing.T) {
	for _, o := range []struct {
		name string
		opt  Option
	}{
		{"WithMaxRetries", WithMaxRetries(1)},
		{"WithSettleMaxAttempts", WithSettleMaxAttempts(3)},
		{"WithRetryBackoff", WithRetryBackoff(1, 2)},
		{"WithAttemptTimeout", WithAttemptTimeout(1)},
		{"WithLogger", WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))},
	} {
		_, err := NewStableTokenSource(testAppID, "appSecretAppSecretAppSecret01", WithBaseURL("http://127.0.0.1:1"), o.opt)
		var ire *InvalidRequestError
		require.ErrorAs(t, err, &ire, o.name)
		assert.Equal(t, o.name, ire.Field)
		assert.ErrorIs(t, err, ErrInvalidRequest)
	}
	_, err := NewStableTokenSource(testAppID, "appSecretAppSecretAppSecret01",
		WithBaseURL("http://127.0.0.1:1"), WithClock(fixedClock), WithHTTPClient(&http.Client{}))
	assert.NoError(t, err)
}

// checkZoneID's own doc: "control characters never are"
// [accepted]. checkText only refuses C0 and DEL, so a C1
// control character (U+0080–U+009F, e.g. NEL U+0085) in ZoneID, PayItem or
// Attach passes validation and is sent; midastest, "as strict as the real
// server", answers it 90018 (hasControl uses unicode.IsControl).
func TestC1ControlCharactersAreRefusedBeforeSending(t *testing.T) {
	var sent atomic.Int32
	rt := roundTripFunc(func(*http.Request) (*http.Response, error) {
		sent.Add(1)
		return answerOf(okAnswer), nil
	})
	mk := func(v Version) *Client {
		c, err := NewClient(Config{AppID: "wx1234567", OfferID: "12345678", AppKey: testAppKey, Env: Production,
			AccessToken: StaticToken(testToken), Version: v}, WithHTTPClient(&http.Client{Transport: rt}))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, v := range []Version{V1, V2} {
		c := mk(v)
		for name, r := range map[string]PayRequest{
			"ZoneID":  {OpenID: "o1", SessionKey: testSessionKey, ZoneID: "1\u0085", BillNo: "b1", Amount: 1},
			"PayItem": {OpenID: "o1", SessionKey: testSessionKey, PayItem: "x\u009by", BillNo: "b1", Amount: 1},
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
	_, err := c.SignGameItem(GameItemRequest{SessionKey: testSessionKey, ProductID: "gem", Quantity: 1, Price: 1,
		OutTradeNo: "o1", ZoneID: "1\u0085"})
	if !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("SignGameItem signed a zoneId with a C1 control character: %v", err)
	}
}

// appendBody's doc: "Values were checked to be valid UTF-8,
// so escaping is all that is needed for the server to decode exactly the
// signed text." user_ip is only checked with netip.ParseAddr,
// which accepts an IPv6 zone of any bytes: a control character or invalid
// UTF-8 reaches the body. Against midastest, a 1.0 Pay with UserIP
// "fe80::1%\xff" is answered 90011 "sig is wrong" (the server decodes U+FFFD,
// not the signed byte), which the docs call a configuration bug. A player's
// public IP never has a zone.
func TestUserIPWithZoneIsRefusedBeforeSending(t *testing.T) {
	for _, v := range []Version{V1, V2} {
		c, a := scriptedClient(t, v, 0)
		for _, ip := range []string{"fe80::1%\n", "fe80::1%\xff", "fe80::1%eth0"} {
			_, err := c.Pay(context.Background(), PayRequest{OpenID: "o1", SessionKey: testSessionKey, UserIP: ip, BillNo: "b1", Amount: 1})
			if !errors.Is(err, ErrInvalidRequest) {
				t.Errorf("v%s UserIP %q: want ErrInvalidRequest, got %v", v, ip, err)
			}
		}
		if a.n.Load() != 0 {
			t.Errorf("v%s: %d request(s) with a zoned user_ip were sent", v, a.n.Load())
		}
	}
}
