package midas

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewClientValidatesConfig(t *testing.T) {
	cases := map[string]struct {
		mutate func(*Config)
		field  string
	}{
		"empty appid":        {func(c *Config) { c.AppID = "" }, "AppID:"},
		"appid with space":   {func(c *Config) { c.AppID = "wx 1" }, "AppID:"},
		"empty offer_id":     {func(c *Config) { c.OfferID = "" }, "OfferID:"},
		"empty AppKey":       {func(c *Config) { c.AppKey = "" }, "AppKey"},
		"AppKey newline":     {func(c *Config) { c.AppKey = "key\n" }, "AppKey"},
		"bad env":            {func(c *Config) { c.Env = 7 }, "Env"},
		"no token source":    {func(c *Config) { c.AccessToken = nil }, "AccessToken"},
		"empty static token": {func(c *Config) { c.AccessToken = StaticToken("") }, "AccessToken"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(Production)
			tc.mutate(&cfg)
			c, err := NewClient(cfg)
			assert.Nil(t, c)
			require.ErrorIs(t, err, ErrInvalidRequest)
			assert.Contains(t, err.Error(), tc.field)
			assert.NotContains(t, err.Error(), testAppKey)
		})
	}
}

func TestOptionsValidateTheirArgument(t *testing.T) {
	for name, opt := range map[string]Option{
		"nil http client": WithHTTPClient(nil),
		"relative url":    WithBaseURL("/cgi-bin"),
		"ftp url":         WithBaseURL("ftp://example.com"),
		"url with query":  WithBaseURL("http://127.0.0.1:1/?a=b"),
		"nil clock":       WithClock(nil),
	} {
		_, err := NewClient(testConfig(Production), opt)
		assert.ErrorIs(t, err, ErrInvalidRequest, name)
	}
}

// The worked example, sent through the Client with its ts, carries exactly
// the worked example's signatures.
func TestClientWorkedExample(t *testing.T) {
	c, mt := newMockedClient(t, Production)
	var got []signedRequest
	mt.RegisterResponder(http.MethodPost, DefaultBaseURL+"/cgi-bin/midas/getbalance", capture(t, &got, okAnswer))
	_, err := c.GetBalance(ctx(), BalanceRequest{OpenID: testOpenID, SessionKey: testSessionKey})
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, workedSig, got[0].Params["sig"])
	assert.Equal(t, workedMpSig, got[0].Params["mp_sig"])
}

func TestBaseURLOption(t *testing.T) {
	mt := httpmock.NewMockTransport()
	var got []signedRequest
	mt.RegisterResponder(http.MethodPost, "http://127.0.0.1:8080/proxy/cgi-bin/midas/sandbox/getbalance", capture(t, &got, okAnswer))
	c := clientOver(t, V1, Sandbox, mt, WithBaseURL("http://127.0.0.1:8080/proxy/"))
	_, err := c.GetBalance(ctx(), BalanceRequest{OpenID: testOpenID})
	require.NoError(t, err)
	require.Len(t, got, 1)
	// org_loc is the API path, not the proxy prefix.
	got[0].Path = "/cgi-bin/midas/sandbox/getbalance"
	verifySigned(t, got[0], testAppKey, "")
}

// A client made without WithHTTPClient goes through http.DefaultTransport,
// so httpmock.Activate intercepts it. (Not parallel: Activate is global.)
func TestHTTPMockActivateInterceptsDefaultClient(t *testing.T) {
	httpmock.Activate()
	defer httpmock.DeactivateAndReset()
	httpmock.RegisterResponder(http.MethodPost, "https://api.weixin.qq.com/cgi-bin/midas/getbalance",
		httpmock.NewStringResponder(200, strings.Replace(okAnswer, `"balance":1`, `"balance":42`, 1)))

	c, err := NewClient(testConfig(Production))
	require.NoError(t, err)
	bal, err := c.GetBalance(ctx(), BalanceRequest{OpenID: testOpenID})
	require.NoError(t, err)
	assert.Equal(t, int64(42), bal.Balance)
	assert.Equal(t, 1, httpmock.GetTotalCallCount())
}

// A client made with WithHTTPClient(hc) is intercepted by
// httpmock.ActivateNonDefault(hc).
func TestHTTPMockActivateNonDefault(t *testing.T) {
	hc := &http.Client{}
	httpmock.ActivateNonDefault(hc)
	defer httpmock.DeactivateAndReset()
	httpmock.RegisterResponder(http.MethodPost, "https://api.weixin.qq.com/cgi-bin/midas/sandbox/pay",
		httpmock.NewStringResponder(200, `{"errcode":0,"bill_no":"b1","balance":8,"used_gen_amt":2}`))

	c, err := NewClient(testConfig(Sandbox), WithHTTPClient(hc))
	require.NoError(t, err)
	pay, err := c.Pay(ctx(), PayRequest{OpenID: testOpenID, BillNo: "b1", Amount: 2})
	require.NoError(t, err)
	assert.Equal(t, &PayResponse{BillNo: "b1", Balance: 8, BalanceKnown: true, UsedGenAmount: 2, UsedGenAmountKnown: true}, pay)
	assert.Equal(t, 1, httpmock.GetCallCountInfo()["POST https://api.weixin.qq.com/cgi-bin/midas/sandbox/pay"])
}

// Secrets never show in fmt output of any value that carries them.
func TestFormattingMasksSecrets(t *testing.T) {
	cfg := testConfig(Production)
	c, err := NewClient(cfg)
	require.NoError(t, err)
	values := []any{
		cfg, &cfg, cfg.AccessToken, c,
		BalanceRequest{OpenID: testOpenID, SessionKey: testSessionKey},
		PayRequest{OpenID: testOpenID, SessionKey: testSessionKey, BillNo: "b"},
		&CancelPayRequest{OpenID: testOpenID, SessionKey: testSessionKey, BillNo: "b"},
		PresentRequest{OpenID: testOpenID, SessionKey: testSessionKey, BillNo: "b"},
		[]any{cfg, PayRequest{SessionKey: testSessionKey}},
	}
	for _, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
			out := fmt.Sprintf(verb, v)
			for _, secret := range []string{testAppKey, testSessionKey, testToken} {
				assert.NotContains(t, out, secret, "%s of %T", verb, v)
			}
		}
	}
	// Masking keeps the rest readable.
	assert.Contains(t, fmt.Sprintf("%+v", PayRequest{OpenID: testOpenID, SessionKey: testSessionKey}), "SessionKey:REDACTED")
	assert.Contains(t, fmt.Sprintf("%+v", cfg), "AppID:"+testAppID)

	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	log.Info("call", "cfg", cfg, "req", PayRequest{OpenID: testOpenID, SessionKey: testSessionKey, BillNo: "b"})
	text := slog.New(slog.NewTextHandler(&logs, nil))
	text.Info("call", "cfg", cfg, "req", BalanceRequest{OpenID: testOpenID, SessionKey: testSessionKey})
	for _, secret := range []string{testAppKey, testSessionKey, testToken} {
		assert.NotContains(t, logs.String(), secret)
	}
	assert.Contains(t, logs.String(), testOpenID)
}

// Transport errors carry no access_token: net/http puts the whole URL in a
// *url.Error, and httpmock quotes it too.
func TestTransportErrorRedactsToken(t *testing.T) {
	const token = "SECRET_TOKEN_abc123"
	mt := httpmock.NewMockTransport()
	mt.RegisterNoResponder(httpmock.ConnectionFailure)
	cfg := testConfig(Production)
	cfg.AccessToken = StaticToken(token)
	c, err := NewClient(cfg, WithHTTPClient(&http.Client{Transport: mt}))
	require.NoError(t, err)
	_, err = c.Pay(ctx(), PayRequest{OpenID: testOpenID, SessionKey: testSessionKey, BillNo: "b1", Amount: 1})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), token)
	assert.NotContains(t, err.Error(), testSessionKey)
	assert.Contains(t, err.Error(), "access_token=REDACTED")
	assert.Contains(t, err.Error(), "bill_no=b1")
	assert.ErrorIs(t, err, httpmock.NoResponderFound, "the cause stays reachable")
}

// One client shared by many goroutines, each its own player.
func TestConcurrentUse(t *testing.T) {
	c, mt := newMockedClient(t, Sandbox)
	var mu sync.Mutex
	seen := map[string]int{}
	mt.RegisterResponder(http.MethodPost, DefaultBaseURL+"/cgi-bin/midas/sandbox/pay", func(req *http.Request) (*http.Response, error) {
		r := readSigned(t, req)
		sessionKey := playerSessionKey(strings.TrimPrefix(r.Params["openid"], "player"))
		// Each goroutine's mp_sig is keyed with its own session_key.
		want := independentSign(withToken(r), []string{"mp_sig"}, "&org_loc="+r.Path+"&method=POST&session_key="+sessionKey, sessionKey)
		mu.Lock()
		defer mu.Unlock()
		if want != r.Params["mp_sig"] || Sig(r.Params, r.Path, testAppKey) != r.Params["sig"] {
			return httpmock.NewStringResponse(200, `{"errcode":90009}`), nil
		}
		seen[r.Params["bill_no"]]++
		return httpmock.NewStringResponse(200, `{"errcode":0,"bill_no":"`+r.Params["bill_no"]+`","balance":1,"used_gen_amt":0}`), nil
	})
	const workers, each = 32, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				id := fmt.Sprint(w)
				resp, err := c.Pay(ctx(), PayRequest{OpenID: "player" + id, SessionKey: playerSessionKey(id), BillNo: fmt.Sprintf("w%d-%d", w, i), Amount: 1})
				if err == nil && resp.BillNo != fmt.Sprintf("w%d-%d", w, i) {
					err = fmt.Errorf("answer for another bill: %s", resp.BillNo)
				}
				if err != nil {
					errs <- err
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	assert.Len(t, seen, workers*each)
}

func playerSessionKey(id string) string {
	return base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("%-16.16s", "session-"+id)))
}

func withToken(r signedRequest) map[string]string {
	m := map[string]string{"access_token": r.Token}
	for k, v := range r.Params {
		m[k] = v
	}
	return m
}

func TestEnvString(t *testing.T) {
	assert.Equal(t, "production", Production.String())
	assert.Equal(t, "sandbox", Sandbox.String())
	assert.Equal(t, "Env(9)", Env(9).String())
}

// Activating httpmock on the caller's client after NewClient still
// intercepts: the client does not freeze hc's transport.
func TestHTTPMockActivateNonDefaultAfterNewClient(t *testing.T) {
	hc := &http.Client{}
	c, err := NewClient(testConfig(Sandbox), WithHTTPClient(hc))
	require.NoError(t, err)
	httpmock.ActivateNonDefault(hc)
	defer httpmock.DeactivateAndReset()
	httpmock.RegisterResponder(http.MethodPost, "https://api.weixin.qq.com/cgi-bin/midas/sandbox/pay",
		httpmock.NewStringResponder(200, `{"errcode":0,"bill_no":"b1","balance":8,"used_gen_amt":0}`))
	_, err = c.Pay(ctx(), PayRequest{OpenID: testOpenID, BillNo: "b1", Amount: 2})
	require.NoError(t, err)
	assert.Equal(t, 1, httpmock.GetTotalCallCount())
	assert.Nil(t, hc.CheckRedirect, "hc is not changed")
}
