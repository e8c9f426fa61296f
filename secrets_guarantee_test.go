package midas_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomidas/midas"
	"github.com/gomidas/midas/midastest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// What the Secrets section of docs/production.md guarantees, exactly: fmt, log/slog and
// encoding/json never show a secret of a Config or request given as the
// value, a pointer, or inside an exported field, slice, map or interface;
// they do show it through an unexported field of the caller's struct, where
// fmt reads the field by reflection and cannot call Format. The second half
// is pinned too, so that the docs stay exact if Go ever changes.
func TestSecretsGuaranteeIsExact(t *testing.T) {
	const token = "ACCESS_TOKEN_abcdef0123456789"
	cfg := midas.Config{AppID: appID, OfferID: offerID, AppKey: appKey, AccessToken: midas.StaticToken(token)}
	pay := midas.PayRequest{OpenID: alice, SessionKey: aliceKey, BillNo: "b1", Amount: 1}
	secrets := []string{appKey, token, aliceKey}

	type exported struct {
		Cfg    midas.Config
		CfgPtr *midas.Config
		Pay    midas.PayRequest
		PayPtr *midas.PayRequest
		Any    any
		List   []midas.Config
		ByName map[string]midas.PayRequest
	}
	guaranteed := map[string]any{
		"Config": cfg, "*Config": &cfg, "PayRequest": pay, "*PayRequest": &pay,
		"exported fields": exported{Cfg: cfg, CfgPtr: &cfg, Pay: pay, PayPtr: &pay, Any: cfg,
			List: []midas.Config{cfg}, ByName: map[string]midas.PayRequest{"p": pay}},
		"*exported fields": &exported{Cfg: cfg, Pay: pay},
	}
	for name, v := range guaranteed {
		var out []string
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
			out = append(out, fmt.Sprintf(verb, v))
		}
		out = append(out, fmt.Sprint(v), fmt.Sprintln(v))
		data, err := json.Marshal(v)
		require.NoError(t, err, name)
		out = append(out, string(data))
		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", "v", v)
		slog.New(slog.NewTextHandler(&buf, nil)).Info("m", "v", v)
		out = append(out, buf.String())
		for _, s := range out {
			for _, secret := range secrets {
				assert.NotContains(t, s, secret, "%s: %s", name, s)
			}
		}
	}

	// Not guaranteed: an unexported field of the caller's own struct.
	type unexported struct {
		cfg midas.Config
		pay midas.PayRequest
	}
	leak := fmt.Sprintf("%+v", unexported{cfg: cfg, pay: pay})
	assert.True(t, strings.Contains(leak, appKey) && strings.Contains(leak, aliceKey),
		"fmt now masks unexported fields too: make the Secrets section of docs/production.md and the package doc say so: %s", leak)
}

func TestV2SecretsNeverInErrorsOrLogs(t *testing.T) {
	const liveToken = "LIVE_V2_TOKEN_9f8e7d6c5b4a"
	const otherKey = "b3RoZXItc2Vzc2lvbmtleQ=="
	cfg := fakeCfg()
	cfg.AccessTokens = []string{liveToken}
	fake := midastest.NewServer(cfg)
	defer fake.Close()
	var logMu sync.Mutex
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&v2LockedWriter{mu: &logMu, w: &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	newClient := func(env midas.Env, key, base string) *midas.Client {
		c, err := midas.NewClient(midas.Config{AppID: appID, OfferID: offerID, AppKey: key, Env: env, Version: midas.V2, AccessToken: midas.StaticToken(liveToken)},
			midas.WithBaseURL(base), midas.WithAttemptTimeout(50*time.Millisecond), midas.WithRetryBackoff(time.Millisecond, time.Millisecond), midas.WithLogger(logger))
		require.NoError(t, err)
		return c
	}
	secrets := []string{appKey, sbKey, aliceKey, otherKey, liveToken}
	var errs []error
	collect := func(err error) {
		t.Helper()
		require.Error(t, err)
		errs = append(errs, err)
	}
	for _, env := range []midas.Env{midas.Production, midas.Sandbox} {
		c := newClient(env, v2KeyOf(env), fake.URL)
		faults := []midastest.Fault{
			{Errcode: -1, Times: 3}, {Errcode: -1, Times: 3, Applied: true}, {Status: 502, Times: 3}, {Status: 403},
			{Drop: true, Times: 3}, {Drop: true, Times: 3, Applied: true}, {Delay: time.Second, Times: 3},
			{Errcode: 90010}, {Errcode: 90011}, {Errcode: 90016}, {Errcode: 90013}, {Errcode: 90018}, {Errcode: 40001},
		}
		for i, f := range faults {
			fake.Inject(f)
			_, err := c.Pay(v2bg, midas.PayRequest{OpenID: alice, SessionKey: aliceKey, BillNo: fmt.Sprintf("s%d-%d", env, i), Amount: 1})
			collect(err)
		}
		fake.Inject(midastest.Fault{Drop: true, Times: 3})
		_, err := c.CancelPay(v2bg, midas.CancelPayRequest{OpenID: alice, SessionKey: aliceKey, BillNo: "p", RefundBillNo: fmt.Sprintf("rf%d", env), Amount: 1})
		collect(err)
		fake.Inject(midastest.Fault{Errcode: -1, Times: 3})
		_, err = c.GetBalance(v2bg, midas.BalanceRequest{OpenID: alice, SessionKey: aliceKey})
		collect(err)
		_, err = c.QueryOrder(v2bg, midas.QueryOrderRequest{OpenID: alice, SessionKey: aliceKey, OutTradeNo: "nope", Kind: midas.ItemOrder})
		collect(err)
		// Real refusals: another session_key (90010), the other env's key (90011).
		_, err = c.Present(v2bg, midas.PresentRequest{OpenID: alice, SessionKey: otherKey, BillNo: fmt.Sprintf("sk%d", env), Count: 1})
		collect(err)
		assert.ErrorIs(t, err, midas.ErrMpSigInvalid)
		wrong := newClient(env, v2KeyOf(v2Other(env)), fake.URL)
		_, err = wrong.GetBalance(v2bg, midas.BalanceRequest{OpenID: alice, SessionKey: aliceKey})
		collect(err)
		assert.ErrorIs(t, err, midas.ErrSigInvalid)
		// Validation.
		_, err = c.Pay(v2bg, midas.PayRequest{OpenID: alice, SessionKey: aliceKey + "!", BillNo: "v", Amount: 1})
		collect(err)
		_, err = c.Pay(v2bg, midas.PayRequest{OpenID: alice, SessionKey: aliceKey, PF: "android", BillNo: "v", Amount: 1})
		collect(err)
		// Caller's context ends mid-call.
		ctx, cancel := context.WithTimeout(v2bg, 10*time.Millisecond)
		fake.Inject(midastest.Fault{API: midas.APIPresent, Delay: time.Second})
		_, err = c.Present(ctx, midas.PresentRequest{OpenID: alice, SessionKey: aliceKey, BillNo: fmt.Sprintf("ctx%d", env), Count: 1})
		cancel()
		collect(err)
	}
	// Expired session.
	fake.ExpireSession(alice)
	c := newClient(midas.Production, appKey, fake.URL)
	_, err := c.GetBalance(v2bg, midas.BalanceRequest{OpenID: alice, SessionKey: aliceKey})
	collect(err)
	assert.ErrorIs(t, err, midas.ErrSessionExpired)
	// Connection refused: net/http's *url.Error holds the whole URL.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := "http://" + ln.Addr().String()
	ln.Close()
	cd := newClient(midas.Production, appKey, dead)
	_, err = cd.Pay(v2bg, midas.PayRequest{OpenID: alice, SessionKey: aliceKey, BillNo: "dead", Amount: 1})
	collect(err)

	for _, err := range errs {
		text := fmt.Sprintf("%v %+v %#v %s", err, err, err, err)
		for e := errors.Unwrap(err); e != nil; e = errors.Unwrap(e) {
			text += " " + e.Error()
		}
		var ou *midas.OutcomeUnknownError
		if errors.As(err, &ou) && ou.Err != nil {
			text += " " + fmt.Sprintf("%v %+v %#v", ou.Err, ou.Err, ou.Err)
		}
		for _, s := range secrets {
			assert.NotContains(t, text, s, "error %q", err.Error())
		}
	}
	logMu.Lock()
	out := logs.String()
	logMu.Unlock()
	assert.Contains(t, out, "midas attempt", "attempts are logged")
	assert.Contains(t, out, "queryorderinfo")
	for _, s := range secrets {
		assert.NotContains(t, out, s, "slog output carries a secret")
	}
	// The client prints no AppKey.
	assert.NotContains(t, fmt.Sprintf("%v %+v %#v", c, c, c), appKey)

	// A token too short to be masked by its text is still kept out of the
	// *url.Error that net/http makes: the URL is sanitized.
	const shortToken = "Tq9zX_Wv"
	logMu.Lock()
	logs.Reset()
	logMu.Unlock()
	cs, err := midas.NewClient(midas.Config{AppID: appID, OfferID: offerID, AppKey: appKey, Version: midas.V2, AccessToken: midas.StaticToken(shortToken)},
		midas.WithBaseURL(dead), midas.WithMaxRetries(1), midas.WithRetryBackoff(time.Millisecond, time.Millisecond), midas.WithLogger(logger))
	require.NoError(t, err)
	_, err = cs.Pay(v2bg, midas.PayRequest{OpenID: alice, SessionKey: aliceKey, BillNo: "short", Amount: 1})
	require.Error(t, err)
	text := fmt.Sprintf("%v %+v %#v", err, err, err)
	var ou *midas.OutcomeUnknownError
	if errors.As(err, &ou) {
		text += fmt.Sprintf(" %v %+v %#v", ou.Err, ou.Err, ou.Err)
	}
	assert.NotContains(t, text, shortToken)
	logMu.Lock()
	assert.NotContains(t, logs.String(), shortToken)
	logMu.Unlock()
}

type v2LockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *v2LockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
