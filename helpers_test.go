package midas

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/require"
)

// The worked example's inputs.
const (
	testAppID      = "wx1234567"
	testOfferID    = "12345678"
	testAppKey     = "zNLgAGgqsEWJOg1nFVaO5r7fAlIQxr1u"
	testSessionKey = "V7Q38/i2KXaqrQyl2Yx9Hg=="
	testToken      = "ACCESSTOKEN"
	testOpenID     = "odkx20ENSNa2w5y3g_qOkOvBNM1g"
	testTS         = 1507530737
	workedSig      = "1ad64e8dcb2ec1dc486b7fdf01f4a15159fc623dc3422470e51cf6870734726b"
	workedMpSig    = "ff4c5bb39dea1002a8f03be0438724e1a8bcea5ebce8f221f9b9fea3bcf3bf76"
)

// okAnswer is a success carrying every field any API's answer promises,
// for tests about requests rather than answers.
const okAnswer = `{"errcode":0,"errmsg":"ok","balance":1,"gen_balance":0,"first_save":2,"save_amt":0,"save_sum":0,"cost_sum":0,` +
	`"present_sum":0,"used_gen_amt":0,"pay_state":2,"deliver_state":2}`

func fixedClock() time.Time { return time.Unix(testTS, 0) }

func testConfig(env Env) Config {
	return Config{AppID: testAppID, OfferID: testOfferID, AppKey: testAppKey, Env: env, AccessToken: StaticToken(testToken)}
}

// clientOver is how this package's tests wire a client to a test
// transport: the worked example's settings in version v and env, the fixed
// clock, rt as the transport, then opts.
func clientOver(t *testing.T, v Version, env Env, rt http.RoundTripper, opts ...Option) *Client {
	t.Helper()
	cfg := testConfig(env)
	cfg.Version = v
	opts = append([]Option{WithHTTPClient(&http.Client{Transport: rt}), WithClock(fixedClock)}, opts...)
	c, err := NewClient(cfg, opts...)
	require.NoError(t, err)
	return c
}

// newMockedClient is a 1.0 client over its own httpmock transport (no
// global state), for tests that route by path, and that transport.
func newMockedClient(t *testing.T, env Env, opts ...Option) (*Client, *httpmock.MockTransport) {
	t.Helper()
	mt := httpmock.NewMockTransport()
	return clientOver(t, V1, env, mt, opts...), mt
}

// signedRequest is what a test-side server saw.
type signedRequest struct {
	Path   string
	Token  string
	Params map[string]string // body fields, numbers in their decimal text
	Raw    map[string]json.RawMessage
}

// readSigned decodes a request body the way a server would: numbers are kept
// as their literal text.
func readSigned(t *testing.T, req *http.Request) signedRequest {
	t.Helper()
	body, err := io.ReadAll(req.Body)
	require.NoError(t, err)
	req.Body = io.NopCloser(bytes.NewReader(body))
	var raw map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(body, &raw), "body is JSON: %s", body)
	params := map[string]string{}
	for k, v := range raw {
		dec := json.NewDecoder(bytes.NewReader(v))
		dec.UseNumber()
		var x any
		require.NoError(t, dec.Decode(&x))
		switch x := x.(type) {
		case string:
			params[k] = x
		case json.Number:
			params[k] = x.String()
		default:
			t.Fatalf("field %s has type %T", k, x)
		}
	}
	return signedRequest{Path: req.URL.Path, Token: req.URL.Query().Get("access_token"), Params: params, Raw: raw}
}

// independentSign recomputes a signature from the rules in the spec, sharing
// no code with sign.go: sort the names, join k=v with &, append the suffix,
// HMAC-SHA256 with key, lowercase hex.
func independentSign(params map[string]string, exclude []string, suffix, key string) string {
	var names []string
	for k := range params {
		skip := false
		for _, e := range exclude {
			skip = skip || k == e
		}
		if !skip {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = k + "=" + params[k]
	}
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(strings.Join(parts, "&") + suffix))
	return hex.EncodeToString(m.Sum(nil))
}

// verifySigned checks sig (and mp_sig when sessionKey is set) of a received
// request against an independent recomputation.
func verifySigned(t *testing.T, r signedRequest, appKey, sessionKey string) {
	t.Helper()
	wantSig := independentSign(r.Params, []string{"sig", "mp_sig"}, "&org_loc="+r.Path+"&method=POST&secret="+appKey, appKey)
	require.Equal(t, wantSig, r.Params["sig"], "sig")
	if sessionKey == "" {
		require.NotContains(t, r.Params, "mp_sig")
		return
	}
	wantMp := independentSign(withToken(r), []string{"mp_sig"}, "&org_loc="+r.Path+"&method=POST&session_key="+sessionKey, sessionKey)
	require.Equal(t, wantMp, r.Params["mp_sig"], "mp_sig")
}

// capture returns a responder that records each request and answers body.
func capture(t *testing.T, got *[]signedRequest, body string) httpmock.Responder {
	return func(req *http.Request) (*http.Response, error) {
		*got = append(*got, readSigned(t, req))
		return httpmock.NewStringResponse(http.StatusOK, body), nil
	}
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// roundTripFunc is a transport made of a function, for a test that answers
// by hand.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// answerOf is a 200 answer with body.
func answerOf(body string) *http.Response { return httpmock.NewStringResponse(http.StatusOK, body) }

// answers is the scripted-answer transport of this package's tests: it
// answers attempt i with steps[i] (an errcode, 0 for okAnswer, or an error
// for a lost answer), repeating the last step, and counts attempts.
type answers struct {
	steps []any // int errcode, or error
	n     atomic.Int32
}

func (a *answers) respond(*http.Request) (*http.Response, error) {
	i := int(a.n.Add(1)) - 1
	if i >= len(a.steps) {
		i = len(a.steps) - 1
	}
	switch s := a.steps[i].(type) {
	case error:
		return nil, s
	case int:
		if s == 0 {
			return answerOf(okAnswer), nil
		}
		return answerOf(fmt.Sprintf(`{"errcode":%d,"errmsg":"m"}`, s)), nil
	}
	panic("bad step")
}

// scriptedClient is a production client of version v answered by steps
// (see answers), with backoff short enough for tests.
func scriptedClient(t *testing.T, v Version, steps ...any) (*Client, *answers) {
	t.Helper()
	a := &answers{steps: steps}
	return clientOver(t, v, Production, roundTripFunc(a.respond), WithRetryBackoff(time.Microsecond, time.Microsecond)), a
}
