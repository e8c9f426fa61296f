package midastest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gomidas/midas"
	"github.com/gomidas/midas/midastest"
	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	appID      = "wx1234567"
	offerID    = "12345678"
	prodKey    = "zNLgAGgqsEWJOg1nFVaO5r7fAlIQxr1u"
	sandboxKey = "sandboxKeyY8qT3vN0pLm2Rx7Wc5Hd1Zf"
	token      = "ACCESSTOKEN"
	alice      = "odkx20ENSNa2w5y3g_qOkOvBNM1g"
	aliceKey   = "V7Q38/i2KXaqrQyl2Yx9Hg=="
	bob        = "bob_openid"
	bobKey     = "Ym9iLXNlc3Npb24ta2V5IQ==" // "bob-session-key!"
)

func fakeConfig() midastest.Config {
	return midastest.Config{
		AppID: appID, OfferID: offerID, AppKey: prodKey, SandboxAppKey: sandboxKey,
		AccessTokens: []string{token},
		Players: []midastest.Player{
			{OpenID: alice, SessionKey: aliceKey, Balance: 100, GenBalance: 20},
			{OpenID: bob, SessionKey: bobKey},
		},
	}
}

func client(t *testing.T, srv *midastest.Server, env midas.Env, mutate ...func(*midas.Config)) *midas.Client {
	t.Helper()
	key := prodKey
	if env == midas.Sandbox {
		key = sandboxKey
	}
	cfg := midas.Config{AppID: appID, OfferID: offerID, AppKey: key, Env: env, AccessToken: midas.StaticToken(token)}
	for _, m := range mutate {
		m(&cfg)
	}
	// Retries off: these tests look at the fake's answers one by one.
	c, err := midas.NewClient(cfg, midas.WithBaseURL(srv.URL), midas.WithMaxRetries(0))
	require.NoError(t, err)
	return c
}

var bg = context.Background()

func TestLedgerThroughClient(t *testing.T) {
	srv := midastest.NewServer(fakeConfig())
	defer srv.Close()
	c := client(t, srv, midas.Production)

	bal, err := c.GetBalance(bg, midas.BalanceRequest{OpenID: alice, SessionKey: aliceKey})
	require.NoError(t, err)
	assert.Equal(t, &midas.BalanceResponse{Balance: 120, GenBalance: 20, FirstSave: true, SaveAmt: 100, SaveSum: 120, PresentSum: 20}, bal)

	pr, err := c.Present(bg, midas.PresentRequest{OpenID: alice, SessionKey: aliceKey, BillNo: "gift-1", Count: 5})
	require.NoError(t, err)
	assert.Equal(t, int64(125), pr.Balance)

	// Gifted coins (25) go first.
	pay, err := c.Pay(bg, midas.PayRequest{OpenID: alice, SessionKey: aliceKey, BillNo: "pay-1", Amount: 30})
	require.NoError(t, err)
	assert.Equal(t, &midas.PayResponse{BillNo: "pay-1", Balance: 95, BalanceKnown: true, UsedGenAmount: 25, UsedGenAmountKnown: true}, pay)

	// The same bill_no is never deducted twice.
	_, err = c.Pay(bg, midas.PayRequest{OpenID: alice, SessionKey: aliceKey, BillNo: "pay-1", Amount: 30})
	assert.ErrorIs(t, err, midas.ErrOrderExists)
	// ...nor gifted twice, nor shared between pay and present.
	_, err = c.Present(bg, midas.PresentRequest{OpenID: alice, BillNo: "gift-1", Count: 5})
	assert.ErrorIs(t, err, midas.ErrOrderExists)
	_, err = c.Present(bg, midas.PresentRequest{OpenID: alice, BillNo: "pay-1", Count: 5})
	assert.ErrorIs(t, err, midas.ErrOrderExists)
	total, gifted := srv.Balance(midas.Production, alice, "")
	assert.Equal(t, [2]int64{95, 0}, [2]int64{total, gifted})

	_, err = c.Pay(bg, midas.PayRequest{OpenID: alice, BillNo: "pay-2", Amount: 96})
	assert.ErrorIs(t, err, midas.ErrInsufficientBalance)
	_, ok := srv.Order(midas.Production, "pay-2")
	assert.False(t, ok, "a refused pay leaves its bill_no unused")

	_, err = c.CancelPay(bg, midas.CancelPayRequest{OpenID: alice, BillNo: "pay-1"})
	require.NoError(t, err)
	total, gifted = srv.Balance(midas.Production, alice, "")
	assert.Equal(t, [2]int64{125, 25}, [2]int64{total, gifted}, "the refund restores gifted coins as gifted")
	_, err = c.CancelPay(bg, midas.CancelPayRequest{OpenID: alice, BillNo: "pay-1"})
	assert.ErrorIs(t, err, midas.ErrOrderRefunded)
	_, err = c.CancelPay(bg, midas.CancelPayRequest{OpenID: alice, BillNo: "never"})
	assert.ErrorIs(t, err, midas.ErrOrderNotFound)
	_, err = c.CancelPay(bg, midas.CancelPayRequest{OpenID: alice, BillNo: "gift-1"})
	assert.ErrorIs(t, err, midas.ErrOrderNotFound, "a present is not a pay to cancel")

	bal, err = c.GetBalance(bg, midas.BalanceRequest{OpenID: alice})
	require.NoError(t, err)
	assert.Equal(t, &midas.BalanceResponse{Balance: 125, GenBalance: 25, FirstSave: true, SaveAmt: 100, SaveSum: 125, CostSum: 0, PresentSum: 25}, bal)

	o, ok := srv.Order(midas.Production, "pay-1")
	require.True(t, ok)
	assert.True(t, o.Cancelled)
	assert.Equal(t, int64(25), o.UsedGen)

	// Bob never topped up; a top-up changes first_save.
	bal, err = c.GetBalance(bg, midas.BalanceRequest{OpenID: bob})
	require.NoError(t, err)
	assert.False(t, bal.FirstSave)
	srv.TopUp(midas.Production, bob, "", 60)
	bal, err = c.GetBalance(bg, midas.BalanceRequest{OpenID: bob})
	require.NoError(t, err)
	assert.True(t, bal.FirstSave)
	assert.Equal(t, int64(60), bal.Balance)
}

func TestSandboxIsSeparate(t *testing.T) {
	srv := midastest.NewServer(fakeConfig())
	defer srv.Close()
	sb := client(t, srv, midas.Sandbox)
	_, err := sb.Pay(bg, midas.PayRequest{OpenID: alice, BillNo: "p", Amount: 10})
	require.NoError(t, err)
	sbTotal, _ := srv.Balance(midas.Sandbox, alice, "")
	prodTotal, _ := srv.Balance(midas.Production, alice, "")
	assert.Equal(t, int64(110), sbTotal)
	assert.Equal(t, int64(120), prodTotal)

	// A production key on a sandbox client is a wrong sig.
	wrong := client(t, srv, midas.Sandbox, func(c *midas.Config) { c.AppKey = prodKey })
	_, err = wrong.GetBalance(bg, midas.BalanceRequest{OpenID: alice})
	assert.ErrorIs(t, err, midas.ErrSigInvalid)
}

func TestRejectsWhatTheRealServerRejects(t *testing.T) {
	cfg := fakeConfig()
	srv := midastest.NewServer(cfg)
	defer srv.Close()
	cases := []struct {
		name   string
		mutate func(*midas.Config)
		req    midas.BalanceRequest
		want   error
		code   int
	}{
		{"unknown token", func(c *midas.Config) { c.AccessToken = midas.StaticToken("nope") }, midas.BalanceRequest{OpenID: alice}, midas.ErrAccessTokenInvalid, 40001},
		{"wrong AppKey", func(c *midas.Config) { c.AppKey = "wrong" }, midas.BalanceRequest{OpenID: alice}, midas.ErrSigInvalid, 90011},
		{"wrong appid", func(c *midas.Config) { c.AppID = "wx999" }, midas.BalanceRequest{OpenID: alice}, midas.ErrNoPermission, 90017},
		{"wrong offer_id", func(c *midas.Config) { c.OfferID = "999" }, midas.BalanceRequest{OpenID: alice}, midas.ErrNoPermission, 90017},
		{"unknown player", nil, midas.BalanceRequest{OpenID: "stranger"}, midas.ErrSessionExpired, 90010},
		{"wrong session_key", nil, midas.BalanceRequest{OpenID: alice, SessionKey: bobKey}, midas.ErrMpSigInvalid, 90009},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var muts []func(*midas.Config)
			if tc.mutate != nil {
				muts = append(muts, tc.mutate)
			}
			c := client(t, srv, midas.Production, muts...)
			_, err := c.GetBalance(bg, tc.req)
			assert.ErrorIs(t, err, tc.want)
			var apiErr *midas.APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, tc.code, apiErr.Code)
		})
	}

	t.Run("expired token", func(t *testing.T) {
		srv.AddToken("short-lived")
		srv.ExpireToken("short-lived")
		c := client(t, srv, midas.Production, func(c *midas.Config) { c.AccessToken = midas.StaticToken("short-lived") })
		_, err := c.GetBalance(bg, midas.BalanceRequest{OpenID: alice})
		var apiErr *midas.APIError
		require.ErrorAs(t, err, &apiErr)
		assert.Equal(t, 42001, apiErr.Code)
	})
	t.Run("expired session", func(t *testing.T) {
		s2 := midastest.NewServer(cfg)
		defer s2.Close()
		s2.ExpireSession(alice)
		_, err := client(t, s2, midas.Production).GetBalance(bg, midas.BalanceRequest{OpenID: alice})
		assert.ErrorIs(t, err, midas.ErrSessionExpired)
	})
	t.Run("mp_sig required", func(t *testing.T) {
		strict := cfg
		strict.RequireMpSig = true
		s2 := midastest.NewServer(strict)
		defer s2.Close()
		c := client(t, s2, midas.Production)
		_, err := c.GetBalance(bg, midas.BalanceRequest{OpenID: alice})
		assert.ErrorIs(t, err, midas.ErrMpSigInvalid)
		_, err = c.GetBalance(bg, midas.BalanceRequest{OpenID: alice, SessionKey: aliceKey})
		assert.NoError(t, err)
	})
}

// rawPay posts a hand-built pay body, signed correctly unless tamper changes
// it after signing.
func rawPay(t *testing.T, srv *midastest.Server, params map[string]any, tamper func(map[string]any)) (errcode int, errmsg string) {
	t.Helper()
	str := map[string]string{}
	for k, v := range params {
		switch v := v.(type) {
		case string:
			str[k] = v
		case int:
			str[k] = strconv.Itoa(v)
		}
	}
	path := midas.V1Path(midas.Production, midas.APIPay)
	params["sig"] = midas.Sig(str, path, prodKey)
	if tamper != nil {
		tamper(params)
	}
	body, _ := json.Marshal(params)
	resp, err := http.Post(srv.URL+path+"?access_token="+token, "application/json", strings.NewReader(string(body)))
	require.NoError(t, err)
	defer resp.Body.Close()
	var out struct {
		Errcode int    `json:"errcode"`
		Errmsg  string `json:"errmsg"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return out.Errcode, out.Errmsg
}

func goodPay() map[string]any {
	return map[string]any{"openid": alice, "appid": appID, "offer_id": offerID, "ts": 1507530737, "zone_id": "1", "pf": "android", "amt": 10, "bill_no": "raw-1"}
}

func TestRawRequests(t *testing.T) {
	srv := midastest.NewServer(fakeConfig())
	defer srv.Close()
	cases := []struct {
		name   string
		build  func(map[string]any)
		tamper func(map[string]any)
		code   int
	}{
		{"amt changed after signing", nil, func(p map[string]any) { p["amt"] = 1 }, 90011},
		{"sig of another path", nil, func(p map[string]any) {
			p["sig"] = midas.Sig(map[string]string{"openid": alice}, "/cgi-bin/midas/sandbox/pay", prodKey)
		}, 90011},
		{"ts as a string", func(p map[string]any) { p["ts"] = "1507530737" }, nil, 90018},
		{"amt zero", func(p map[string]any) { p["amt"] = 0 }, nil, 90018},
		{"missing bill_no", func(p map[string]any) { delete(p, "bill_no") }, nil, 90018},
		{"bill_no too long", func(p map[string]any) { p["bill_no"] = strings.Repeat("b", 64) }, nil, 90018},
		{"bill_no charset", func(p map[string]any) { p["bill_no"] = "a b" }, nil, 90018},
		{"unexpected field", func(p map[string]any) { p["present_counts"] = 3 }, nil, 90018},
		{"missing zone_id", func(p map[string]any) { delete(p, "zone_id") }, nil, 90018},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := goodPay()
			if tc.build != nil {
				tc.build(p)
			}
			code, _ := rawPay(t, srv, p, tc.tamper)
			assert.Equal(t, tc.code, code)
		})
	}
	total, _ := srv.Balance(midas.Production, alice, "")
	assert.Equal(t, int64(120), total, "no rejected call moved coins")

	code, _ := rawPay(t, srv, goodPay(), nil)
	assert.Equal(t, 0, code, "the untampered body is accepted")

	resp, err := http.Post(srv.URL+"/cgi-bin/midas/pay?access_token="+token, "application/json", strings.NewReader(`not json`))
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	resp.Body.Close()
	assert.EqualValues(t, 90018, out["errcode"])

	resp, err = http.Get(srv.URL + "/cgi-bin/midas/nope")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestRepeatReplays(t *testing.T) {
	cfg := fakeConfig()
	cfg.Repeat = midastest.RepeatReplays
	srv := midastest.NewServer(cfg)
	defer srv.Close()
	c := client(t, srv, midas.Production)
	first, err := c.Pay(bg, midas.PayRequest{OpenID: alice, BillNo: "r1", Amount: 30})
	require.NoError(t, err)
	again, err := c.Pay(bg, midas.PayRequest{OpenID: alice, BillNo: "r1", Amount: 30})
	require.NoError(t, err)
	assert.Equal(t, first, again, "an identical repeat gets the first answer")
	_, err = c.Pay(bg, midas.PayRequest{OpenID: alice, BillNo: "r1", Amount: 31})
	assert.ErrorIs(t, err, midas.ErrOrderExists, "a repeat with other parameters is refused")
	total, _ := srv.Balance(midas.Production, alice, "")
	assert.Equal(t, int64(90), total, "deducted once")
}

func TestFaults(t *testing.T) {
	srv := midastest.NewServer(fakeConfig())
	defer srv.Close()
	c := client(t, srv, midas.Production)

	srv.Inject(midastest.Fault{API: midas.APIPay, Times: 2, Errcode: -1})
	for i := 0; i < 2; i++ {
		_, err := c.Pay(bg, midas.PayRequest{OpenID: alice, BillNo: "f1", Amount: 10})
		// How the client words an unknown outcome is its business; the
		// fake's is that it answered -1.
		assert.Error(t, err)
		calls := srv.Calls()
		last := calls[len(calls)-1]
		assert.Equal(t, -1, last.Errcode)
		assert.False(t, last.Applied)
		require.NotNil(t, last.Fault)
	}
	_, err := c.GetBalance(bg, midas.BalanceRequest{OpenID: alice})
	assert.NoError(t, err, "a pay fault leaves getbalance alone")
	_, err = c.Pay(bg, midas.PayRequest{OpenID: alice, BillNo: "f1", Amount: 10})
	assert.NoError(t, err, "the fault is used up; -1 without Applied changed nothing")

	srv.Inject(midastest.Fault{Status: http.StatusBadGateway})
	_, err = c.GetBalance(bg, midas.BalanceRequest{OpenID: alice})
	var he *midas.HTTPError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, 502, he.StatusCode)

	// Applied then dropped: the coins are gone though the caller saw an error.
	srv.Inject(midastest.Fault{API: midas.APIPay, Drop: true, Applied: true})
	_, err = c.Pay(bg, midas.PayRequest{OpenID: alice, BillNo: "f2", Amount: 10})
	require.Error(t, err)
	var apiErr *midas.APIError
	assert.False(t, errors.As(err, &apiErr), "a dropped connection is a transport error: %v", err)
	_, ok := srv.Order(midas.Production, "f2")
	assert.True(t, ok)
	total, _ := srv.Balance(midas.Production, alice, "")
	assert.Equal(t, int64(100), total)

	// A slow answer past the caller's deadline; the change still stands.
	srv.Inject(midastest.Fault{API: midas.APIPresent, Delay: 2 * time.Second})
	ctx, cancel := context.WithTimeout(bg, 50*time.Millisecond)
	defer cancel()
	_, err = c.Present(ctx, midas.PresentRequest{OpenID: alice, BillNo: "f3", Count: 7})
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	_, ok = srv.Order(midas.Production, "f3")
	assert.True(t, ok)

	calls := srv.Calls()
	require.NotEmpty(t, calls)
	last := calls[len(calls)-1]
	assert.Equal(t, midas.APIPresent, last.API)
	assert.True(t, last.Applied)
	require.NotNil(t, last.Fault)
	assert.Equal(t, "f3", last.Params["bill_no"])
}

// The fake plugs into httpmock with one line, and works as a plain handler.
func TestWithoutListener(t *testing.T) {
	fake := midastest.New(fakeConfig())

	mt := httpmock.NewMockTransport()
	mt.RegisterNoResponder(fake.Respond)
	c, err := midas.NewClient(midas.Config{AppID: appID, OfferID: offerID, AppKey: prodKey, AccessToken: midas.StaticToken(token)},
		midas.WithHTTPClient(&http.Client{Transport: mt}), midas.WithMaxRetries(0))
	require.NoError(t, err)
	_, err = c.Pay(bg, midas.PayRequest{OpenID: alice, SessionKey: aliceKey, BillNo: "m1", Amount: 20})
	require.NoError(t, err)
	total, _ := fake.Balance(midas.Production, alice, "")
	assert.Equal(t, int64(100), total)

	fake.Inject(midastest.Fault{Drop: true})
	_, err = c.GetBalance(bg, midas.BalanceRequest{OpenID: alice})
	assert.ErrorIs(t, err, midastest.ErrDropped)

	rec := httptest.NewRecorder()
	fake.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/cgi-bin/midas/getbalance?access_token=nope", strings.NewReader(`{}`)))
	assert.Equal(t, 200, rec.Code)
	assert.Contains(t, rec.Body.String(), `"errcode":40001`)
}

func TestStableToken(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	cfg := fakeConfig()
	cfg.AppSecret = "app-secret"
	cfg.Now = func() time.Time { return now }
	srv := midastest.NewServer(cfg)
	defer srv.Close()

	get := func(body string) map[string]any {
		resp, err := http.Post(srv.URL+"/cgi-bin/stable_token", "application/json", strings.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		var out map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		return out
	}
	first := get(`{"grant_type":"client_credential","appid":"wx1234567","secret":"app-secret"}`)
	assert.EqualValues(t, 7200, first["expires_in"])
	now = now.Add(time.Hour)
	second := get(`{"grant_type":"client_credential","appid":"wx1234567","secret":"app-secret"}`)
	assert.Equal(t, first["access_token"], second["access_token"], "normal mode returns the same token while it is valid")
	assert.EqualValues(t, 3600, second["expires_in"])

	tok := first["access_token"].(string)
	c := client(t, srv, midas.Production, func(c *midas.Config) { c.AccessToken = midas.StaticToken(tok) })
	_, err := c.GetBalance(bg, midas.BalanceRequest{OpenID: alice})
	require.NoError(t, err)

	forced := get(`{"grant_type":"client_credential","appid":"wx1234567","secret":"app-secret","force_refresh":true}`)
	assert.NotEqual(t, tok, forced["access_token"])
	_, err = c.GetBalance(bg, midas.BalanceRequest{OpenID: alice})
	assert.ErrorIs(t, err, midas.ErrAccessTokenInvalid, "force_refresh ends the old token")

	assert.EqualValues(t, 40125, get(`{"grant_type":"client_credential","appid":"wx1234567","secret":"wrong"}`)["errcode"])

	// A delay-only fault holds the real answer back; it does not replace it.
	srv.Inject(midastest.Fault{Delay: 5 * time.Millisecond})
	assert.Equal(t, forced["access_token"], get(`{"grant_type":"client_credential","appid":"wx1234567","secret":"app-secret"}`)["access_token"])
	calls, nForced := srv.StableTokenCalls()
	assert.Equal(t, 5, calls)
	assert.Equal(t, 1, nForced)
}

// ClientOptions wire a client to the fake without a network, in both
// versions: the call is answered and recorded as over HTTP, and options
// given after them still apply.
func TestClientOptionsWireAClientWithoutANetwork(t *testing.T) {
	fake := midastest.New(fakeConfig())
	for i, v := range []midas.Version{midas.V1, midas.V2} {
		c, err := midas.NewClient(midas.Config{AppID: appID, OfferID: offerID, AppKey: prodKey, Version: v, AccessToken: midas.StaticToken(token)},
			append(fake.ClientOptions(), midas.WithMaxRetries(0))...)
		require.NoError(t, err)
		pay, err := c.Pay(bg, midas.PayRequest{OpenID: alice, SessionKey: aliceKey, BillNo: fmt.Sprintf("wired-%d", i), Amount: 5})
		require.NoError(t, err, "%s", v)
		assert.Equal(t, int64(120-5*(i+1)), pay.Balance, "%s: 100 coins and 20 gifted, less 5 a pay", v)
		calls := fake.Calls()
		require.Len(t, calls, i+1)
		assert.Equal(t, v, calls[i].Version)
		assert.True(t, calls[i].Applied)
	}
}
