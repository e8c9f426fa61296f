package midas

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func workedParams() map[string]string {
	return map[string]string{
		"openid":   testOpenID,
		"appid":    testAppID,
		"offer_id": testOfferID,
		"ts":       "1507530737",
		"zone_id":  "1",
		"pf":       "android",
	}
}

func TestSigWorkedExample(t *testing.T) {
	p := workedParams()
	sig := Sig(p, "/cgi-bin/midas/getbalance", testAppKey)
	assert.Equal(t, workedSig, sig)

	p["access_token"] = testToken
	p["sig"] = sig
	assert.Equal(t, workedMpSig, MpSig(p, "/cgi-bin/midas/getbalance", testSessionKey))
}

func TestSigIgnoresSignatureFields(t *testing.T) {
	p := workedParams()
	p["sig"] = "x"
	p["mp_sig"] = "y"
	p["access_token"] = testToken
	assert.Equal(t, workedSig, Sig(p, "/cgi-bin/midas/getbalance", testAppKey), "a whole received body can be passed to Sig")

	p["sig"] = workedSig
	assert.Equal(t, workedMpSig, MpSig(p, "/cgi-bin/midas/getbalance", testSessionKey), "mp_sig is not signed into itself")
}

func TestSigSandboxPathChangesSignature(t *testing.T) {
	p := workedParams()
	assert.NotEqual(t, Sig(p, V1Path(Production, APIGetBalance), testAppKey), Sig(p, V1Path(Sandbox, APIGetBalance), testAppKey))
	assert.Equal(t, "/cgi-bin/midas/sandbox/pay", V1Path(Sandbox, APIPay))
	assert.Equal(t, "/cgi-bin/midas/pay", V1Path(Production, APIPay))
	assert.Equal(t, V1Path(Sandbox, APIPay), Sandbox.Path(APIPay), "the deprecated Env.Path is V1Path")
}

type goldenCase struct {
	Name        string            `json:"name"`
	OrgLoc      string            `json:"org_loc"`
	AppKey      string            `json:"app_key"`
	Params      map[string]string `json:"params"`
	SigString   string            `json:"sig_string"`
	Sig         string            `json:"sig"`
	SessionKey  string            `json:"session_key"`
	AccessToken string            `json:"access_token"`
	MpSigString string            `json:"mp_sig_string"`
	MpSig       string            `json:"mp_sig"`
}

func loadGolden(t *testing.T) []goldenCase {
	t.Helper()
	data, err := os.ReadFile("testdata/sign_golden.json")
	require.NoError(t, err)
	var cases []goldenCase
	require.NoError(t, json.Unmarshal(data, &cases))
	require.NotEmpty(t, cases)
	return cases
}

func TestSigGolden(t *testing.T) {
	for _, gc := range loadGolden(t) {
		t.Run(gc.Name, func(t *testing.T) {
			fs := make([]field, 0, len(gc.Params))
			for k, v := range gc.Params {
				fs = append(fs, field{key: k, val: v})
			}
			sortFields(fs)
			assert.Equal(t, gc.SigString, string(appendSignString(nil, fs, nil, gc.OrgLoc, "&secret=", gc.AppKey)), "the string that is hashed")
			assert.Equal(t, gc.Sig, independentSign(gc.Params, nil, gc.SigString[strings.Index(gc.SigString, "&org_loc="):], gc.AppKey), "the golden file agrees with the independent signer")
			assert.Equal(t, gc.Sig, Sig(gc.Params, gc.OrgLoc, gc.AppKey))
			if gc.SessionKey == "" {
				return
			}
			extra := []field{{key: keyAccessToken, val: gc.AccessToken}, {key: keySig, val: gc.Sig}}
			assert.Equal(t, gc.MpSigString, string(appendSignString(nil, fs, extra, gc.OrgLoc, "&session_key=", gc.SessionKey)))
			p := map[string]string{"access_token": gc.AccessToken, "sig": gc.Sig}
			for k, v := range gc.Params {
				p[k] = v
			}
			assert.Equal(t, gc.MpSig, MpSig(p, gc.OrgLoc, gc.SessionKey))
		})
	}
}

var hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

func FuzzSig(f *testing.F) {
	f.Add("openid", "odkx20ENSNa2w5y3g_qOkOvBNM1g", "zone_id", "1", "app_remark", "首充 & bonus=2", "/cgi-bin/midas/pay", testAppKey)
	f.Add("", "", "a", "", "a", "dup", "", "")
	f.Add("sig", "x", "mp_sig", "y", "access_token", "z", "/p", "\x00\xff")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, k3, v3, orgLoc, key string) {
		forward := map[string]string{}
		backward := map[string]string{}
		pairs := [][2]string{{k1, v1}, {k2, v2}, {k3, v3}}
		for _, p := range pairs {
			forward[p[0]] = p[1]
		}
		// Backwards, keeping the first value met: the last one, as forward has.
		for i := len(pairs) - 1; i >= 0; i-- {
			if _, seen := backward[pairs[i][0]]; !seen {
				backward[pairs[i][0]] = pairs[i][1]
			}
		}
		sig := Sig(forward, orgLoc, key)
		if !hex64.MatchString(sig) {
			t.Fatalf("sig %q is not 64 lowercase hex digits", sig)
		}
		if got := Sig(backward, orgLoc, key); got != sig {
			t.Fatalf("insertion order changed sig: %s vs %s", sig, got)
		}
		want := independentSign(forward, []string{"sig", "mp_sig", "access_token"}, "&org_loc="+orgLoc+"&method=POST&secret="+key, key)
		if sig != want {
			t.Fatalf("sig %s, independent recomputation %s", sig, want)
		}
		mp := MpSig(forward, orgLoc, key)
		if mp != independentSign(forward, []string{"mp_sig"}, "&org_loc="+orgLoc+"&method=POST&session_key="+key, key) {
			t.Fatalf("mp_sig disagrees with the independent recomputation")
		}
	})
}

// Sig over more fields than signMap sorts on the stack, and over a string
// longer than its stack buffer, still matches the independent
// recomputation.
func TestSigManyAndLongFields(t *testing.T) {
	for _, n := range []int{0, 1, 23, 24, 25, 40} {
		p := map[string]string{}
		for i := 0; i < n; i++ {
			p[fmt.Sprintf("k%02d_%c", (i*7)%n, 'a'+i%26)] = strings.Repeat("v", i*10)
		}
		want := independentSign(p, []string{"sig", "mp_sig", "access_token"}, "&org_loc=/p&method=POST&secret="+testAppKey, testAppKey)
		assert.Equal(t, want, Sig(p, "/p", testAppKey), "%d fields", n)
	}
}
