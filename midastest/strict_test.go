package midastest_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/gomidas/midas"
	"github.com/gomidas/midas/midastest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// signedV1 returns a 1.0 body of params, sig computed with the midas
// package's signer.
func signedV1(t *testing.T, env midas.Env, api string, params map[string]any) []byte {
	t.Helper()
	str := map[string]string{}
	for k, v := range params {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		var s string
		if json.Unmarshal(b, &s) != nil {
			s = string(b)
		}
		str[k] = s
	}
	key := prodKey
	if env == midas.Sandbox {
		key = sandboxKey
	}
	withSig := map[string]any{"sig": midas.Sig(str, midas.V1Path(env, api), key)}
	for k, v := range params {
		withSig[k] = v
	}
	body, err := json.Marshal(withSig)
	require.NoError(t, err)
	return body
}

// postV1 posts body to a 1.0 API of the production environment.
func postV1(t *testing.T, srv *midastest.Server, api string, body []byte) (errcode int, errmsg string) {
	t.Helper()
	resp, err := http.Post(srv.URL+midas.V1Path(midas.Production, api)+"?access_token="+token, "application/json", strings.NewReader(string(body)))
	require.NoError(t, err)
	defer resp.Body.Close()
	var out struct {
		Errcode int    `json:"errcode"`
		Errmsg  string `json:"errmsg"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return out.Errcode, out.Errmsg
}

// A body is one JSON object: data after it, or a name twice, is 90018
// (before, `{...}}` and `{...}]` passed, and the last duplicate won).
func TestV1BodyIsOneObject(t *testing.T) {
	srv := midastest.NewServer(fakeConfig())
	defer srv.Close()
	good := signedV1(t, midas.Production, midas.APIPay, goodPay())
	cases := map[string]string{
		"trailing brace":   string(good) + "}",
		"trailing bracket": string(good) + "]",
		"trailing word":    string(good) + " x",
		"second object":    string(good) + `{}`,
		// The signed amt is 10; a second amt of 10 is still a second one.
		"duplicate amt":     strings.TrimSuffix(string(good), "}") + `,"amt":10}`,
		"duplicate escaped": strings.TrimSuffix(string(good), "}") + `,"\u0061mt":10}`,
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			code, _ := postV1(t, srv, midas.APIPay, []byte(body))
			assert.Equal(t, 90018, code)
		})
	}
	total, _ := srv.Balance(midas.Production, alice, "")
	assert.Equal(t, int64(120), total, "no refused body moved coins")

	code, _ := postV1(t, srv, midas.APIPay, append(good, " \r\n\t"...))
	assert.Equal(t, 0, code, "trailing JSON whitespace is fine")
}

// zone_id and pf are required: empty is 90018, not zone "1" or pf
// "android".
func TestV1EmptyZoneOrPF(t *testing.T) {
	srv := midastest.NewServer(fakeConfig())
	defer srv.Close()
	for _, field := range []string{"zone_id", "pf"} {
		t.Run(field, func(t *testing.T) {
			p := goodPay()
			p[field] = ""
			code, _ := postV1(t, srv, midas.APIPay, signedV1(t, midas.Production, midas.APIPay, p))
			assert.Equal(t, 90018, code)
		})
	}
	total, _ := srv.Balance(midas.Production, alice, "")
	assert.Equal(t, int64(120), total)
	_, ok := srv.Order(midas.Production, "raw-1")
	assert.False(t, ok)
}

// zone_id is "zoneID" or "zoneID_roleID" with role ids of the game's own:
// any printable text passes, control characters do not.
func TestV1ZoneIDs(t *testing.T) {
	srv := midastest.NewServer(fakeConfig())
	defer srv.Close()
	for i, zone := range []string{"2_role-42", "区服1_角色 A", "1_r.o:l@e"} {
		p := goodPay()
		p["zone_id"], p["bill_no"] = zone, "z"+string(rune('a'+i))
		srv.TopUp(midas.Production, alice, zone, 10)
		code, msg := postV1(t, srv, midas.APIPay, signedV1(t, midas.Production, midas.APIPay, p))
		assert.Equal(t, 0, code, "%q: %s", zone, msg)
		total, _ := srv.Balance(midas.Production, alice, zone)
		assert.Zero(t, total, zone)
	}
	for _, zone := range []string{"1\x00", "1\n", "\x7f", "1\u0085"} {
		p := goodPay()
		p["zone_id"] = zone
		code, _ := postV1(t, srv, midas.APIPay, signedV1(t, midas.Production, midas.APIPay, p))
		assert.Equal(t, 90018, code, "%q", zone)
	}
}

// Under RepeatReplays a repeat of a pay that was cancelled since gets
// 90012, not the success of a deduction that no longer stands.
func TestV1ReplayAfterCancel(t *testing.T) {
	cfg := fakeConfig()
	cfg.Repeat = midastest.RepeatReplays
	srv := midastest.NewServer(cfg)
	defer srv.Close()
	pay := signedV1(t, midas.Production, midas.APIPay, goodPay())
	code, _ := postV1(t, srv, midas.APIPay, pay)
	require.Equal(t, 0, code)
	code, _ = postV1(t, srv, midas.APIPay, pay)
	require.Equal(t, 0, code, "replayed while it stands")

	cancel := goodPay()
	delete(cancel, "amt")
	code, _ = postV1(t, srv, midas.APICancelPay, signedV1(t, midas.Production, midas.APICancelPay, cancel))
	require.Equal(t, 0, code)

	code, _ = postV1(t, srv, midas.APIPay, pay)
	assert.Equal(t, 90012, code)
	total, _ := srv.Balance(midas.Production, alice, "")
	assert.Equal(t, int64(120), total, "refunded, and not deducted again")
}
