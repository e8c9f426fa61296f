package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func runCmd(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb, func(k string) string { return env[k] })
	return code, out.String(), errb.String()
}

func TestSignWorkedExample(t *testing.T) {
	code, out, errOut := runCmd(t, nil, "sign", "-key", defaultAppKey, "-api", "getbalance",
		"-session-key", defaultSession, "-access-token", defaultToken,
		"openid="+defaultOpenID, "appid=wx1234567", "offer_id=12345678", "ts=1507530737", "zone_id=1", "pf=android")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "sorted:      appid=wx1234567&offer_id=12345678&openid=odkx20ENSNa2w5y3g_qOkOvBNM1g&pf=android&ts=1507530737&zone_id=1\n")
	assert.Contains(t, out, "&org_loc=/cgi-bin/midas/getbalance&method=POST&secret=<32 chars, sha256 ")
	assert.Contains(t, out, "sig:         1ad64e8dcb2ec1dc486b7fdf01f4a15159fc623dc3422470e51cf6870734726b\n")
	assert.Contains(t, out, "mp_sig:      ff4c5bb39dea1002a8f03be0438724e1a8bcea5ebce8f221f9b9fea3bcf3bf76\n")
	for _, secret := range []string{defaultAppKey, defaultSession, "access_token=" + defaultToken} {
		assert.NotContains(t, out, secret)
	}

	// The sandbox path changes sig.
	_, sandbox, _ := runCmd(t, nil, "sign", "-key", defaultAppKey, "-api", "getbalance", "-env", "sandbox", "openid=x")
	_, prod, _ := runCmd(t, nil, "sign", "-key", defaultAppKey, "-path", "/cgi-bin/midas/getbalance", "openid=x")
	assert.NotEqual(t, sandbox, prod)
	assert.Contains(t, sandbox, "org_loc=/cgi-bin/midas/sandbox/getbalance")
}

func TestUsageAndErrors(t *testing.T) {
	code, _, errOut := runCmd(t, nil)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "Usage:")
	code, _, _ = runCmd(t, nil, "--help")
	assert.Equal(t, 0, code)
	code, _, errOut = runCmd(t, nil, "frobnicate")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, `unknown command "frobnicate"`)

	for _, cmd := range []string{"sign", "serve", "balance", "pay", "cancel", "present"} {
		code, _, errOut := runCmd(t, nil, cmd, "-h")
		assert.Equal(t, 0, code, cmd)
		assert.Contains(t, errOut, "Usage: midas "+cmd, cmd)
	}
	code, _, errOut = runCmd(t, nil, "sign", "-path", "/p", "a=1")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "-key is required")
	code, _, errOut = runCmd(t, nil, "sign", "-key", "k", "-path", "/p", "novalue")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, `"novalue" is not key=value`)
	code, _, errOut = runCmd(t, nil, "balance", "-openid", "x")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "no access token")
	code, _, _ = runCmd(t, nil, "pay", "-nosuchflag")
	assert.Equal(t, 2, code)
	code, _, errOut = runCmd(t, nil, "serve", "-addr", "0.0.0.0:0")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "loopback only")
}

// midas serve answers the SDK, driven through the API commands.
func TestServeAndCall(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	var serveErr bytes.Buffer
	go func() {
		done <- run(ctx, []string{"serve", "-player", "p1:" + defaultSession + ":100:5"}, pw, &serveErr, func(string) string { return "" })
		pw.Close()
	}()
	var info struct {
		URL string `json:"url"`
	}
	require.NoError(t, json.NewDecoder(bufio.NewReader(pr)).Decode(&info))
	go io.Copy(io.Discard, pr)
	require.True(t, strings.HasPrefix(info.URL, "http://127.0.0.1:"), info.URL)

	env := map[string]string{
		"MIDAS_APPID": defaultAppID, "MIDAS_OFFER_ID": defaultOfferID, "MIDAS_APPKEY": defaultAppKey,
		"MIDAS_ACCESS_TOKEN": defaultToken, "MIDAS_BASE_URL": info.URL,
	}
	decode := func(out string) map[string]any {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(out), &m), out)
		return m
	}
	code, out, errOut := runCmd(t, env, "balance", "-openid", "p1", "-session-key", defaultSession)
	require.Equal(t, 0, code, errOut)
	assert.EqualValues(t, 105, decode(out)["balance"])

	code, out, errOut = runCmd(t, env, "pay", "-openid", "p1", "-bill-no", "cli-1", "-amount", "10")
	require.Equal(t, 0, code, errOut)
	assert.EqualValues(t, 95, decode(out)["balance"])
	assert.EqualValues(t, 5, decode(out)["used_gen_amt"])

	code, _, errOut = runCmd(t, env, "pay", "-openid", "p1", "-bill-no", "cli-1", "-amount", "10")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "errcode 90012: order already exists")

	code, _, errOut = runCmd(t, env, "pay", "-openid", "p1", "-bill-no", "cli-2", "-amount", "1000")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "errcode 90013: insufficient balance")

	code, out, errOut = runCmd(t, env, "cancel", "-openid", "p1", "-bill-no", "cli-1")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "cli-1", decode(out)["bill_no"])

	code, out, errOut = runCmd(t, env, "present", "-openid", "p1", "-bill-no", "gift-1", "-count", "3", "-env", "sandbox", "-appkey", defaultSandboxKey)
	require.Equal(t, 0, code, errOut)
	assert.EqualValues(t, 108, decode(out)["balance"])

	// The AppSecret route: the token comes from the fake's stable_token.
	env2 := map[string]string{"MIDAS_APPID": defaultAppID, "MIDAS_OFFER_ID": defaultOfferID, "MIDAS_APPKEY": defaultAppKey,
		"MIDAS_APPSECRET": defaultAppSecret, "MIDAS_BASE_URL": info.URL}
	code, out, errOut = runCmd(t, env2, "balance", "-openid", "p1")
	require.Equal(t, 0, code, errOut)
	assert.EqualValues(t, 105, decode(out)["balance"])

	code, _, errOut = runCmd(t, map[string]string{"MIDAS_APPID": defaultAppID, "MIDAS_OFFER_ID": defaultOfferID, "MIDAS_APPKEY": "wrong-key",
		"MIDAS_ACCESS_TOKEN": defaultToken, "MIDAS_BASE_URL": info.URL}, "balance", "-openid", "p1")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "errcode 90011: sig is wrong")
	assert.NotContains(t, errOut, "wrong-key")

	cancel()
	select {
	case code := <-done:
		assert.Equal(t, 0, code, serveErr.String())
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
}
