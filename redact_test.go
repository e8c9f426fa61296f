package midas_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gomidas/midas"
	"github.com/gomidas/midas/midastest"
	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every failure path, one by one: no error text, in any fmt form, carries
// the AppKey, the AppSecret, a session_key or an access_token.
func TestRedactionOnEveryFailurePath(t *testing.T) {
	const liveToken = "LIVE_TOKEN_9f8e7d6c"
	secrets := []string{appKey, secret, aliceKey, liveToken}
	var errs []error
	collect := func(err error) {
		t.Helper()
		require.Error(t, err)
		errs = append(errs, err)
	}

	cfg := fakeCfg()
	cfg.AccessTokens = []string{liveToken}
	fake := midastest.NewServer(cfg)
	defer fake.Close()
	c, err := midas.NewClient(midas.Config{AppID: appID, OfferID: offerID, AppKey: appKey, AccessToken: midas.StaticToken(liveToken)},
		midas.WithBaseURL(fake.URL), midas.WithAttemptTimeout(50*time.Millisecond), midas.WithRetryBackoff(time.Millisecond, time.Millisecond))
	require.NoError(t, err)
	faults := []midastest.Fault{
		{Errcode: -1, Times: 3}, {Errcode: -1, Times: 3, Applied: true}, {Status: 502, Times: 3}, {Status: 403},
		{Drop: true, Times: 3}, {Drop: true, Times: 3, Applied: true}, {Delay: time.Second, Times: 3},
		{Errcode: 90009}, {Errcode: 90010}, {Errcode: 90011}, {Errcode: 90013}, {Errcode: 90017}, {Errcode: 90018}, {Errcode: 40001},
	}
	unknown := 0
	for i, f := range faults {
		fake.Inject(f)
		_, err := c.Pay(bg, midas.PayRequest{OpenID: alice, SessionKey: aliceKey, BillNo: fmt.Sprintf("r%d", i), Amount: 1})
		collect(err)
		assert.NotErrorIs(t, err, midas.ErrInvalidRequest, "fault %+v must reach the server", f)
		if errors.Is(err, midas.ErrOutcomeUnknown) {
			unknown++
		}
	}
	assert.Equal(t, 6, unknown, "-1, 5xx, drops and timeouts leave the outcome unknown")
	// Wrong session key: the fake answers 90009 for real.
	_, err = c.Pay(bg, midas.PayRequest{OpenID: alice, SessionKey: "d3Jvbmcta2V5LTE2Ynl0ZQ==", BillNo: "wrong-sk", Amount: 1})
	collect(err)
	assert.ErrorIs(t, err, midas.ErrMpSigInvalid)
	// Validation.
	_, err = c.Pay(bg, midas.PayRequest{OpenID: alice, SessionKey: aliceKey + "!", BillNo: "v", Amount: 1})
	collect(err)
	assert.ErrorIs(t, err, midas.ErrInvalidRequest)
	_, err = midas.NewClient(midas.Config{AppID: appID, OfferID: offerID, AppKey: appKey + " ", AccessToken: midas.StaticToken(liveToken)})
	collect(err)
	// Caller's context ends mid-call.
	ctx, cancel := context.WithTimeout(bg, 10*time.Millisecond)
	fake.Inject(midastest.Fault{Delay: time.Second, Times: 5})
	_, err = c.Present(ctx, midas.PresentRequest{OpenID: alice, SessionKey: aliceKey, BillNo: "ctx", Count: 1})
	cancel()
	collect(err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)

	// Connection refused: net/http's *url.Error holds the whole URL.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := "http://" + ln.Addr().String()
	ln.Close()
	cd, err := midas.NewClient(midas.Config{AppID: appID, OfferID: offerID, AppKey: appKey, AccessToken: midas.StaticToken(liveToken)},
		midas.WithBaseURL(dead), midas.WithMaxRetries(0))
	require.NoError(t, err)
	_, err = cd.Pay(bg, midas.PayRequest{OpenID: alice, SessionKey: aliceKey, BillNo: "refused", Amount: 1})
	collect(err)
	assert.Contains(t, err.Error(), "access_token=REDACTED")

	// Malformed answers through httpmock.
	mt := httpmock.NewMockTransport()
	mt.RegisterNoResponder(httpmock.NewStringResponder(200, `{"errcode":0,"balance":"x"}`))
	cm, err := midas.NewClient(midas.Config{AppID: appID, OfferID: offerID, AppKey: appKey, AccessToken: midas.StaticToken(liveToken)},
		midas.WithHTTPClient(&http.Client{Transport: mt}))
	require.NoError(t, err)
	_, err = cm.Pay(bg, midas.PayRequest{OpenID: alice, SessionKey: aliceKey, BillNo: "m", Amount: 1})
	collect(err)
	var ue *midas.OutcomeUnknownError
	require.ErrorAs(t, err, &ue, "a 2xx we cannot read may have been applied")
	assert.ErrorIs(t, ue.Err, midas.ErrMalformedResponse)

	// stable_token: wrong secret, and unreachable.
	ts, err := midas.NewStableTokenSource(appID, secret+"x", midas.WithBaseURL(fake.URL))
	require.NoError(t, err)
	_, err = ts.Token(bg)
	collect(err)
	ts2, err := midas.NewStableTokenSource(appID, secret, midas.WithBaseURL(dead))
	require.NoError(t, err)
	_, err = ts2.Token(bg)
	collect(err)

	for _, err := range errs {
		text := fmtAll(err)
		for _, s := range secrets {
			assert.False(t, strings.Contains(text, s), "secret in %q", text)
		}
	}
	assert.GreaterOrEqual(t, len(errs), 20)
}
