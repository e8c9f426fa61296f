package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gomidas/midas"
	"github.com/gomidas/midas/midastest"
	"github.com/gomidas/midas/push"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMain lets a test run the real main in a child process, to send it
// signals.
func TestMain(m *testing.M) {
	if os.Getenv("MIDAS_CMD_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func runCmd(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return runCmdIn(t, env, "", args...)
}

func runCmdIn(t *testing.T, env map[string]string, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(stdin), &out, &errb, func(k string) string { return env[k] })
	return code, out.String(), errb.String()
}

var workedExample = []string{"openid=" + defaultOpenID, "appid=wx1234567", "offer_id=12345678", "ts=1507530737", "zone_id=1", "pf=android"}

func TestSignWorkedExample(t *testing.T) {
	args := append([]string{"sign", "-key", defaultAppKey, "-api", "getbalance",
		"-session-key", defaultSession, "-access-token", defaultToken}, workedExample...)
	code, out, errOut := runCmd(t, nil, args...)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "sorted:      appid=wx1234567&offer_id=12345678&openid=odkx20ENSNa2w5y3g_qOkOvBNM1g&pf=android&ts=1507530737&zone_id=1\n")
	assert.Contains(t, out, "&org_loc=/cgi-bin/midas/getbalance&method=POST&secret=<32 chars, sha256 ")
	assert.Contains(t, out, "sig:         1ad64e8dcb2ec1dc486b7fdf01f4a15159fc623dc3422470e51cf6870734726b\n")
	assert.Contains(t, out, "mp_sig:      ff4c5bb39dea1002a8f03be0438724e1a8bcea5ebce8f221f9b9fea3bcf3bf76\n")
	for _, secret := range []string{defaultAppKey, defaultSession, "access_token=" + defaultToken} {
		assert.NotContains(t, out, secret)
	}

	// Flags may follow the key=value arguments, or come between them.
	mixed := append(append([]string{"sign"}, workedExample[:3]...), "-key", defaultAppKey, "-api", "getbalance")
	mixed = append(append(mixed, workedExample[3:]...), "-session-key", defaultSession, "-access-token", defaultToken)
	code, out2, errOut := runCmd(t, nil, mixed...)
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, out, out2)

	// "--" ends the flags.
	code, out3, _ := runCmd(t, nil, "sign", "-key", defaultAppKey, "-path", "/p", "--", "-x=1")
	require.Equal(t, 0, code)
	assert.Contains(t, out3, "sorted:      -x=1\n")

	// The sandbox path changes sig.
	_, sandbox, _ := runCmd(t, nil, "sign", "-key", defaultAppKey, "-api", "getbalance", "-env", "sandbox", "openid=x")
	_, prod, _ := runCmd(t, nil, "sign", "-key", defaultAppKey, "-path", "/cgi-bin/midas/getbalance", "openid=x")
	assert.NotEqual(t, sandbox, prod)
	assert.Contains(t, sandbox, "org_loc=/cgi-bin/midas/sandbox/getbalance")
}

// The official 2.0 getbalance vector, from -body and from stdin.
func TestSignV2OfficialVector(t *testing.T) {
	const body = `{"offer_id": "12345678", "openid": "oUrsfxxxxxxxxxx", "ts": 1668136271, "zone_id": "1", "env": 0}`
	const paySig = "11bac6388871d29c055c7d16fbe42e8d646855b666faf89b15c815218b1b23bd"
	const signature = "42fe1d3341fb1c8bd6f5014ba735ab04eacc80a2deb3ab4669eab4700b5b6729"
	const session = "9hAb/NEYUlkaMBEsmFgzig=="

	code, out, errOut := runCmd(t, nil, "sign", "-v2", "-key", "12345", "-uri", "/wxa/game/getbalance", "-session-key", session, "-body", body)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "body:              97 bytes")
	assert.Contains(t, out, "pay_sig hashes:    /wxa/game/getbalance&"+body+"\n")
	assert.Contains(t, out, "pay_sig:           "+paySig+"\n")
	assert.Contains(t, out, "signature hashes:  "+body+"\n")
	assert.Contains(t, out, "signature:         "+signature+"\n")
	assert.Contains(t, out, "env:               0 (production)")
	assert.NotContains(t, out, session)
	assert.Empty(t, errOut)

	code, fromStdin, errOut := runCmdIn(t, nil, body, "sign", "-v2", "-key", "12345", "-api", "getbalance", "-session-key", session)
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, out, fromStdin)

	// A trailing newline (echo) is signed, and flagged.
	code, withNL, errOut := runCmdIn(t, nil, body+"\n", "sign", "-v2", "-key", "12345", "-uri", "/wxa/game/getbalance")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, errOut, "ends with a newline")
	assert.Contains(t, withNL, "body:              98 bytes")
	assert.NotContains(t, withNL, paySig)
	assert.Equal(t, midas.PaySig("/wxa/game/getbalance", []byte(body+"\n"), "12345"),
		strings.TrimSpace(withNL[strings.LastIndex(withNL, ":")+1:]))
}

func TestSignRejects(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-path", "/p", "a=1"}, "-key is required"},
		{[]string{"-key", "k", "-path", "/p", "novalue"}, `"novalue" is not key=value`},
		{[]string{"-key", "k", "-path", "/p", "-api", "pay", "a=1"}, "give -path or -api, not both"},
		{[]string{"-key", "k", "-path", "/p", "a=1", "b=2", "a=3"}, `parameter a given twice ("1" and "3")`},
		{[]string{"-key", "k", "-path", "/p"}, "no parameters"},
		{[]string{"-key", "k", "-path", "/p", "-session-key", defaultSession, "a=1"}, "-access-token is required with -session-key"},
		{[]string{"-key", "k", "-api", "pay", "-env", "staging", "a=1"}, `"staging": want production or sandbox`},
		{[]string{"-key", "k", "-uri", "/wxa/game/pay", "a=1"}, "-uri is for 2.0"},
		{[]string{"-v2", "-key", "k", "-uri", "/wxa/game/pay", "a=1"}, "signed as bytes"},
		{[]string{"-v2", "-key", "k", "-path", "/wxa/game/pay", "-body", "{}"}, "-path is for 1.0"},
		{[]string{"-v2", "-key", "k", "-api", "pay", "-env", "sandbox", "-body", "{}"}, "the environment is the body's env field"},
		{[]string{"-v2", "-key", "k", "-body", "{}"}, "-uri or -api is required"},
		{[]string{"-v2", "-key", "k", "-uri", "/wxa/game/pay", "-body", ""}, "the body is empty"},
	} {
		code, out, errOut := runCmd(t, nil, append([]string{"sign"}, tc.args...)...)
		assert.Equal(t, exitUsage, code, "%q", tc.args)
		assert.Contains(t, errOut, tc.want, "%q", tc.args)
		assert.Empty(t, out, "%q", tc.args)
	}
	code, _, errOut := runCmd(t, nil, "sign", "-nosuchflag")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "Usage:")
}

func TestUsage(t *testing.T) {
	code, _, errOut := runCmd(t, nil)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "Usage:")
	assert.Contains(t, errOut, "Exit codes:")
	code, _, _ = runCmd(t, nil, "--help")
	assert.Equal(t, exitOK, code)
	code, _, errOut = runCmd(t, nil, "frobnicate")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, `unknown command "frobnicate"`)

	for _, cmd := range []string{"sign", "serve", "balance", "pay", "cancel", "present", "queryorder"} {
		code, help, _ := runCmd(t, nil, cmd, "-h")
		assert.Equal(t, exitOK, code, cmd)
		assert.Contains(t, help, "Usage: midas "+cmd, cmd)
		assert.Contains(t, help, "Exit codes:\n  0  success\n", cmd)
		assert.Contains(t, help, "4  outcome unknown", cmd)
	}
	_, serveHelp, _ := runCmd(t, nil, "serve", "-h")
	assert.Contains(t, serveHelp, "openid:session_key:balance[:gifted[:zone]]")
	_, payHelp, _ := runCmd(t, nil, "pay", "-h")
	for _, v := range []string{"MIDAS_APPID", "MIDAS_OFFER_ID", "MIDAS_APPKEY", "MIDAS_ENV", "MIDAS_VERSION", "MIDAS_ACCESS_TOKEN", "MIDAS_APPSECRET", "MIDAS_BASE_URL", "-settle"} {
		assert.Contains(t, payHelp, v)
	}
}

// Bad input and usage exit 2, and say where to set what is missing: every
// missing setting at once.
func TestUsageErrorsExit2(t *testing.T) {
	code, out, errOut := runCmd(t, nil, "pay")
	assert.Equal(t, exitUsage, code)
	assert.Empty(t, out)
	for _, want := range []string{"-appid or MIDAS_APPID", "-offer-id or MIDAS_OFFER_ID", "-appkey or MIDAS_APPKEY",
		"-access-token or MIDAS_ACCESS_TOKEN (or -appsecret or MIDAS_APPSECRET", "-openid", "-bill-no", "-amount"} {
		assert.Contains(t, errOut, want)
	}
	assert.Equal(t, 1, strings.Count(errOut, "midas pay: "), errOut)

	// Only what is missing is named.
	env := map[string]string{"MIDAS_APPID": defaultAppID, "MIDAS_OFFER_ID": defaultOfferID, "MIDAS_APPKEY": defaultAppKey}
	code, _, errOut = runCmd(t, env, "balance", "-openid", "p1")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "missing settings:\n  -access-token or MIDAS_ACCESS_TOKEN")
	assert.NotContains(t, errOut, "MIDAS_APPID")

	env["MIDAS_ACCESS_TOKEN"] = defaultToken
	env["MIDAS_BASE_URL"] = "http://127.0.0.1:1" // never reached
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"pay", "-nosuchflag"}, "flag provided but not defined"},
		{[]string{"balance", "-openid", "p1", "extra"}, `unexpected arguments ["extra"]`},
		{[]string{"balance", "-openid", "p1", "-env", "staging"}, "-env or MIDAS_ENV: \"staging\": want production or sandbox"},
		{[]string{"balance", "-openid", "p1", "-version", "3"}, "-version or MIDAS_VERSION: \"3\": want 1 or 2"},
		{[]string{"balance", "-openid", "p1", "-version", "2"}, "missing settings:\n  -session-key"},
		{[]string{"balance", "-openid", "p1", "-session-key", "not base64!"}, "invalid -session-key (SessionKey)"},
		{[]string{"pay", "-openid", "p1", "-bill-no", "a b", "-amount", "1"}, "invalid -bill-no (BillNo)"},
		{[]string{"pay", "-openid", "p1", "-bill-no", "b1", "-amount", "-5"}, "invalid -amount (Amount)"},
		{[]string{"balance", "-openid", "p1", "-retries", "99"}, "invalid -retries (WithMaxRetries)"},
		{[]string{"balance", "-openid", "p1", "-timeout", "0s"}, "-timeout 0s: want a positive duration"},
	} {
		code, out, errOut := runCmd(t, env, tc.args...)
		assert.Equal(t, exitUsage, code, "%q: %s", tc.args, errOut)
		assert.Contains(t, errOut, tc.want, "%q", tc.args)
		assert.NotContains(t, errOut, "midas: ", "%q", tc.args)
		assert.Empty(t, out)
	}
	code, _, _ = runCmd(t, env, "balance", "-openid", "p1", "-version", "x")
	assert.Equal(t, exitUsage, code)
	env["MIDAS_VERSION"] = "7"
	code, _, errOut = runCmd(t, env, "balance", "-openid", "p1")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, `-version or MIDAS_VERSION: "7"`)
}

func TestParseVersion(t *testing.T) {
	for in, want := range map[string]midas.Version{"": midas.V1, "1": midas.V1, "1.0": midas.V1, "v1": midas.V1, "2": midas.V2, "2.0": midas.V2, "V2": midas.V2} {
		got, err := parseVersion(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"0", "3", "two", "2.1"} {
		_, err := parseVersion(in)
		assert.Error(t, err, in)
	}
}

// fakeEnv starts a fake and returns it with the environment pointing the
// command at it.
func fakeEnv(t *testing.T) (*midastest.Server, map[string]string) {
	t.Helper()
	fake := midastest.NewServer(midastest.Config{
		AppID: defaultAppID, OfferID: defaultOfferID, AppKey: defaultAppKey, SandboxAppKey: defaultSandboxKey,
		AccessTokens: []string{defaultToken},
		Players:      []midastest.Player{{OpenID: "p1", SessionKey: defaultSession, Balance: 100}},
	})
	t.Cleanup(fake.Close)
	return fake, map[string]string{
		"MIDAS_APPID": defaultAppID, "MIDAS_OFFER_ID": defaultOfferID, "MIDAS_APPKEY": defaultAppKey,
		"MIDAS_ACCESS_TOKEN": defaultToken, "MIDAS_BASE_URL": fake.URL,
	}
}

// Each class of outcome has its exit code; an unknown outcome is never a
// refusal, even when the last attempt's answer was an errcode.
func TestExitCodes(t *testing.T) {
	fake, env := fakeEnv(t)
	pay := func(billNo, amount string, extra ...string) (int, string, string) {
		return runCmd(t, env, append([]string{"pay", "-openid", "p1", "-bill-no", billNo, "-amount", amount, "-retries", "0"}, extra...)...)
	}

	t.Run("success", func(t *testing.T) {
		code, out, errOut := pay("ok-1", "10")
		require.Equal(t, exitOK, code, errOut)
		assert.Contains(t, out, `"balance": 90`)
		assert.Empty(t, errOut)
	})

	t.Run("refused", func(t *testing.T) {
		code, out, errOut := pay("poor-1", "1000")
		assert.Equal(t, exitRefused, code)
		assert.Empty(t, out)
		assert.True(t, strings.HasPrefix(errOut, "midas pay: bill_no poor-1: errcode 90013: insufficient balance (WeChat says "), errOut)
		assert.Equal(t, 1, strings.Count(errOut, "\n"), errOut)
		total, _ := fake.Balance(midas.Production, "p1", "")
		assert.EqualValues(t, 90, total, "a refusal moves no coins")
	})

	t.Run("unknown", func(t *testing.T) {
		fake.Inject(midastest.Fault{API: midas.APIPay, Errcode: -1, Applied: true})
		code, out, errOut := pay("lost-1", "5")
		assert.Equal(t, exitUnknown, code, errOut)
		assert.Empty(t, out)
		assert.Contains(t, errOut, "midas pay: bill_no lost-1: outcome unknown after 1 attempt(s): errcode -1: system busy")
		assert.Contains(t, errOut, "-settle")
		assert.Equal(t, 1, strings.Count(errOut, "lost-1"), errOut)
		assert.NotContains(t, errOut, "midas: ")

		// A plain retry meets 90012; -settle reads it as the earlier success.
		code, out, errOut = pay("lost-1", "5", "-settle")
		require.Equal(t, exitOK, code, errOut)
		assert.Contains(t, out, `"already_processed": true`)
		total, _ := fake.Balance(midas.Production, "p1", "")
		assert.EqualValues(t, 85, total)
	})

	t.Run("unknown, dropped", func(t *testing.T) {
		fake.Inject(midastest.Fault{API: midas.APIPresent, Drop: true, Times: 3, Applied: true})
		code, _, errOut := runCmd(t, env, "present", "-openid", "p1", "-bill-no", "gift-lost", "-count", "3", "-retries", "2")
		assert.Equal(t, exitUnknown, code, errOut)
		assert.Contains(t, errOut, "outcome unknown after 3 attempt(s)")
		code, out, errOut := runCmd(t, env, "present", "-openid", "p1", "-bill-no", "gift-lost", "-count", "3", "-settle")
		require.Equal(t, exitOK, code, errOut)
		assert.Contains(t, out, `"already_processed": true`)
	})

	t.Run("failed", func(t *testing.T) {
		fake.Inject(midastest.Fault{API: midas.APIGetBalance, Status: 502})
		code, out, errOut := runCmd(t, env, "balance", "-openid", "p1", "-retries", "0")
		assert.Equal(t, exitFailed, code, errOut)
		assert.Empty(t, out)
		assert.Equal(t, "midas balance: HTTP status 502\n", errOut)

		closed := map[string]string{}
		for k, v := range env {
			closed[k] = v
		}
		closed["MIDAS_BASE_URL"] = "http://127.0.0.1:1"
		code, _, errOut = runCmd(t, closed, "balance", "-openid", "p1", "-retries", "0")
		assert.Equal(t, exitFailed, code, errOut)
		assert.NotContains(t, errOut, "midas: ")
		assert.NotContains(t, errOut, defaultToken)
	})

	t.Run("output lost after a pay", func(t *testing.T) {
		var errb bytes.Buffer
		code := run(context.Background(), []string{"pay", "-openid", "p1", "-bill-no", "ok-unread", "-amount", "1"},
			strings.NewReader(""), failingWriter{}, &errb, func(k string) string { return env[k] })
		assert.Equal(t, exitUnknown, code, errb.String())
		assert.Contains(t, errb.String(), "pay succeeded but its answer could not be written (outcome unknown)")
		assert.NotContains(t, errb.String(), "midas: ")
	})
}

// An unknown outcome is classified first: the last attempt's errcode must not
// turn it into a refusal, nor a wrapped invalid-request into a usage error.
func TestExitCodeOrder(t *testing.T) {
	last := &midas.APIError{API: midas.APIPay, Code: midas.CodeInsufficientBalance, BillNo: "b1"}
	unknown := &midas.OutcomeUnknownError{API: midas.APIPay, BillNo: "b1", Attempts: 2, Err: last}
	assert.Equal(t, exitUnknown, exitCode(unknown))
	assert.Equal(t, exitUnknown, exitCode(fmt.Errorf("wrapped: %w", unknown)))
	assert.Equal(t, exitUnknown, exitCode(fmt.Errorf("%w and %w", midas.ErrOutcomeUnknown, midas.ErrInvalidRequest)))
	assert.Equal(t, exitRefused, exitCode(last))
	assert.Equal(t, exitUsage, exitCode(fmt.Errorf("%w: Amount: must be positive", midas.ErrInvalidRequest)))
	assert.Equal(t, exitFailed, exitCode(io.ErrUnexpectedEOF))
	assert.Equal(t, exitOK, exitCode(nil))

	msg := explain("pay", unknown)
	assert.True(t, strings.HasPrefix(msg, "bill_no b1: outcome unknown after 2 attempt(s): errcode 90013"), msg)
	assert.Contains(t, msg, "may or may not have moved")
	assert.NotContains(t, msg, "midas: ")
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

// 90011 says what it usually means; 90012 says the id was applied earlier
// and points to -settle.
func TestErrcodeHints(t *testing.T) {
	_, env := fakeEnv(t)
	env["MIDAS_APPKEY"] = "wrong-key"
	code, _, errOut := runCmd(t, env, "balance", "-openid", "p1")
	assert.Equal(t, exitRefused, code)
	assert.Contains(t, errOut, "errcode 90011: sig is wrong")
	assert.Contains(t, errOut, "AppKey does not match the environment or the version")
	assert.Contains(t, errOut, "MIDAS_VERSION")
	assert.NotContains(t, errOut, "wrong-key")

	_, env = fakeEnv(t)
	code, _, errOut = runCmd(t, env, "pay", "-openid", "p1", "-bill-no", "twice", "-amount", "1")
	require.Equal(t, exitOK, code, errOut)
	code, _, errOut = runCmd(t, env, "pay", "-openid", "p1", "-bill-no", "twice", "-amount", "1")
	assert.Equal(t, exitAlreadyApplied, code)
	assert.Contains(t, errOut, "errcode 90012: order already exists")
	assert.Contains(t, errOut, "already applied earlier under this id")
	assert.Contains(t, errOut, "-settle")
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServe runs midas serve until the returned stop is called, and returns
// its URL.
func startServe(t *testing.T, args ...string) (url string, stderr *syncBuffer, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	stderr = &syncBuffer{}
	go func() {
		done <- run(ctx, append([]string{"serve"}, args...), strings.NewReader(""), pw, stderr, func(string) string { return "" })
		pw.Close()
	}()
	var info struct {
		URL string `json:"url"`
	}
	require.NoError(t, json.NewDecoder(bufio.NewReader(pr)).Decode(&info), stderr.String())
	go io.Copy(io.Discard, pr)
	require.True(t, strings.HasPrefix(info.URL, "http://127.0.0.1:"), info.URL)
	return info.URL, stderr, func() int {
		cancel()
		select {
		case code := <-done:
			return code
		case <-time.After(10 * time.Second):
			t.Fatal("serve did not stop")
			return -1
		}
	}
}

// midas serve answers the SDK, driven through the API commands.
func TestServeAndCall(t *testing.T) {
	url, serveErr, stop := startServe(t, "-player", "p1:"+defaultSession+":100:5", "-v")

	env := map[string]string{
		"MIDAS_APPID": defaultAppID, "MIDAS_OFFER_ID": defaultOfferID, "MIDAS_APPKEY": defaultAppKey,
		"MIDAS_ACCESS_TOKEN": defaultToken, "MIDAS_BASE_URL": url,
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
	assert.Equal(t, exitAlreadyApplied, code)
	assert.Contains(t, errOut, "errcode 90012: order already exists")

	code, _, errOut = runCmd(t, env, "pay", "-openid", "p1", "-bill-no", "cli-2", "-amount", "1000")
	assert.Equal(t, exitRefused, code)
	assert.Contains(t, errOut, "errcode 90013: insufficient balance")

	code, out, errOut = runCmd(t, env, "cancel", "-openid", "p1", "-bill-no", "cli-1")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "cli-1", decode(out)["bill_no"])

	code, out, errOut = runCmd(t, env, "present", "-openid", "p1", "-bill-no", "gift-1", "-count", "3", "-env", "sandbox", "-appkey", defaultSandboxKey)
	require.Equal(t, 0, code, errOut)
	assert.EqualValues(t, 108, decode(out)["balance"])

	// The AppSecret route: the token comes from the fake's stable_token.
	env2 := map[string]string{"MIDAS_APPID": defaultAppID, "MIDAS_OFFER_ID": defaultOfferID, "MIDAS_APPKEY": defaultAppKey,
		"MIDAS_APPSECRET": defaultAppSecret, "MIDAS_BASE_URL": url}
	code, out, errOut = runCmd(t, env2, "balance", "-openid", "p1")
	require.Equal(t, 0, code, errOut)
	assert.EqualValues(t, 105, decode(out)["balance"])

	assert.Equal(t, 0, stop(), serveErr.String())

	// -v logged each request, without the access_token.
	log := serveErr.String()
	assert.Contains(t, log, "POST /cgi-bin/midas/pay 200 errcode=0 openid=p1 bill_no=cli-1")
	assert.Contains(t, log, "POST /cgi-bin/midas/pay 200 errcode=90013 openid=p1 bill_no=cli-2")
	assert.Contains(t, log, "POST /cgi-bin/midas/sandbox/present 200 errcode=0")
	assert.Contains(t, log, "POST /cgi-bin/stable_token 200")
	assert.NotContains(t, log, defaultToken)
	assert.NotContains(t, log, "access_token")
	assert.Contains(t, log, "midas serve: stopped")
}

func TestServeQuietWithoutV(t *testing.T) {
	url, serveErr, stop := startServe(t)
	_, env := fakeEnv(t)
	env["MIDAS_BASE_URL"] = url
	code, _, errOut := runCmd(t, env, "balance", "-openid", defaultOpenID)
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, 0, stop())
	assert.NotContains(t, serveErr.String(), "POST")
}

// midas serve refuses players that no client call could be made for.
func TestServeRefusesBadSessionKeys(t *testing.T) {
	for _, key := range []string{
		"not base64!",
		defaultSession + "\n",
		" " + defaultSession,
		"AAAAAAAAAAAAAAAAAAAA", // 15 bytes
		"V7Q38_i2KXaqrQyl2Yx9Hg==",
		"V7Q38/i2KXaqrQyl2Yx9Hg",
	} {
		code, out, errOut := runCmd(t, nil, "serve", "-player", "p1:"+key+":100")
		assert.Equal(t, exitUsage, code, "%q", key)
		assert.Contains(t, errOut, `invalid value "p1:`, "%q", key)
		assert.Contains(t, errOut, `player "p1": SessionKey is not the standard base64 of 16 bytes`, "%q", key)
		assert.Empty(t, out)
	}

	dir := t.TempDir()
	cfg := dir + "/serve.json"
	require.NoError(t, os.WriteFile(cfg, []byte(`{"players":[{"openid":"p2","session_key":"c2hvcnQ=","balance":1}]}`), 0o600))
	code, _, errOut := runCmd(t, nil, "serve", "-config", cfg)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, `midas serve: player "p2": SessionKey is not the standard base64 of 16 bytes`)

	code, _, errOut = runCmd(t, nil, "serve", "-addr", "0.0.0.0:0")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "loopback only")
	code, _, errOut = runCmd(t, nil, "serve", "extra")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "unexpected arguments")
}

// SIGTERM (docker stop, systemd) stops midas serve cleanly, as Ctrl-C does.
func TestServeStopsOnSignals(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGTERM on Windows")
	}
	for _, sig := range []os.Signal{syscall.SIGTERM, os.Interrupt} {
		cmd := exec.Command(os.Args[0], "serve")
		cmd.Env = append(os.Environ(), "MIDAS_CMD_TEST_MAIN=1")
		var stderr syncBuffer
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		var info struct {
			URL string `json:"url"`
		}
		require.NoError(t, json.NewDecoder(stdout).Decode(&info), stderr.String())
		require.NotEmpty(t, info.URL)
		go io.Copy(io.Discard, stdout)
		require.NoError(t, cmd.Process.Signal(sig))
		waited := make(chan error, 1)
		go func() { waited <- cmd.Wait() }()
		select {
		case err := <-waited:
			assert.NoError(t, err, "%v: %s", sig, stderr.String())
			assert.Equal(t, 0, cmd.ProcessState.ExitCode(), sig)
			assert.Contains(t, stderr.String(), "midas serve: stopped", sig)
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("%v did not stop midas serve", sig)
		}
	}
}

func TestExplainStripsPrefixes(t *testing.T) {
	for in, want := range map[string]string{
		`midas: pay bill_no=b1: Post "http://x/cgi-bin/midas/pay?access_token=REDACTED": EOF`: `Post "http://x/cgi-bin/midas/pay?access_token=REDACTED": EOF`,
		"midas: getbalance: get access_token: midas: stable_token: HTTP status 500":           "get access_token: HTTP status 500",
		"something else: midas: pay: x": "something else: x",
		"plain":                         "plain",
	} {
		assert.Equal(t, want, stripPrefixes(in), in)
	}
}

// -version 2 / MIDAS_VERSION=2 calls /wxa/game, with the 2.0 fields.
func TestVersion2(t *testing.T) {
	fake, env := fakeEnv(t)
	env["MIDAS_VERSION"] = "2"
	player := []string{"-openid", "p1", "-session-key", defaultSession}
	call := func(args ...string) (int, map[string]any, string) {
		t.Helper()
		code, out, errOut := runCmd(t, env, append(args, player...)...)
		var m map[string]any
		if code == exitOK {
			require.NoError(t, json.Unmarshal([]byte(out), &m), out)
		}
		return code, m, errOut
	}
	code, bal, errOut := call("balance")
	require.Equal(t, exitOK, code, errOut)
	assert.EqualValues(t, 100, bal["balance"])

	code, paid, errOut := call("pay", "-bill-no", "v2-pay-1", "-amount", "30")
	require.Equal(t, exitOK, code, errOut)
	assert.EqualValues(t, 70, paid["balance"])

	code, _, errOut = call("cancel", "-bill-no", "v2-pay-1")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "missing settings:\n  -refund-bill-no (2.0 returns are identified by their own bill_no)\n  -amount")

	code, _, errOut = call("cancel", "-bill-no", "v2-pay-1", "-refund-bill-no", "v2-ret-1", "-amount", "10")
	require.Equal(t, exitOK, code, errOut)
	total, _ := fake.Balance(midas.Production, "p1", "")
	assert.EqualValues(t, 80, total)

	code, _, errOut = call("present", "-bill-no", "v2-gift-1", "-count", "5")
	require.Equal(t, exitOK, code, errOut)

	var v2Calls int
	for _, c := range fake.Calls() {
		if c.Version == midas.V2 {
			v2Calls++
		}
	}
	assert.Equal(t, 4, v2Calls)

	// 90011 in 2.0 (pay_sig wrong) says what it usually means too.
	wrongKey := map[string]string{}
	for k, v := range env {
		wrongKey[k] = v
	}
	wrongKey["MIDAS_APPKEY"] = defaultSandboxKey
	code, _, errOut = runCmd(t, wrongKey, append([]string{"balance"}, player...)...)
	assert.Equal(t, exitRefused, code, errOut)
	assert.Contains(t, errOut, "errcode 90011: pay_sig is wrong (AppKey of env, or body bytes)")
	assert.Contains(t, errOut, "AppKey does not match the environment or the version")

	// A 1.0-only field is refused before sending, naming the flag.
	code, _, errOut = call("balance", "-pf", "android")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "invalid -pf (PF)")
	code, _, errOut = runCmd(t, map[string]string{"MIDAS_APPID": defaultAppID, "MIDAS_OFFER_ID": defaultOfferID,
		"MIDAS_APPKEY": defaultAppKey, "MIDAS_ACCESS_TOKEN": defaultToken, "MIDAS_BASE_URL": fake.URL},
		"balance", "-openid", "p1", "-recharge-center")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "invalid -recharge-center (RechargeCenter)")
}

// queryorder looks an order up by out_trade_no, in 2.0 only (its default),
// and exits like the other commands: 3 for an order WeChat does not know.
func TestQueryOrder(t *testing.T) {
	fake, env := fakeEnv(t)
	paidAt := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	fake.AddOrderInfo(midas.Production, midastest.OrderInfo{
		OpenID: "p1", OutTradeNo: "GO20240102000001", BizID: midastest.BizItem, ProductID: "gem_pack_60",
		Paid: true, Delivered: true, PaidAt: paidAt, MchOrderNo: "mch-1", TransactionID: "4200000001",
	})
	fake.AddOrderInfo(midas.Production, midastest.OrderInfo{OpenID: "p1", OutTradeNo: "coin-0001", BizID: midastest.BizCoins})
	query := func(extra ...string) (int, string, string) {
		return runCmd(t, env, append([]string{"queryorder", "-openid", "p1", "-session-key", defaultSession}, extra...)...)
	}

	code, out, errOut := query("-out-trade-no", "GO20240102000001", "-kind", "item")
	require.Equal(t, exitOK, code, errOut)
	assert.Empty(t, errOut)
	var got midas.QueryOrderResponse
	require.NoError(t, json.Unmarshal([]byte(out), &got), out)
	assert.Equal(t, midas.QueryOrderResponse{OutTradeNo: "GO20240102000001", ProductID: "gem_pack_60", Paid: true, Delivered: true,
		MchOrderNo: "mch-1", TransactionID: "4200000001"}, midas.QueryOrderResponse{OutTradeNo: got.OutTradeNo, ProductID: got.ProductID,
		Paid: got.Paid, Delivered: got.Delivered, MchOrderNo: got.MchOrderNo, TransactionID: got.TransactionID})
	assert.True(t, got.PaidAt.Equal(paidAt), got.PaidAt)
	assert.Contains(t, out, `"out_trade_no": "GO20240102000001"`)

	// The call went to /wxa/game/queryorderinfo with biz_id 2 and zone_id "1".
	calls := fake.Calls()
	last := calls[len(calls)-1]
	assert.Equal(t, midas.APIQueryOrder, last.API)
	assert.Equal(t, midas.V2, last.Version)
	assert.Equal(t, "2", last.Params["biz_id"])
	assert.Equal(t, "1", last.Params["zone_id"])

	// A coin top-up, unpaid; -version 2 and biz_id numbers are accepted.
	code, out, errOut = query("-out-trade-no", "coin-0001", "-kind", "1", "-version", "2")
	require.Equal(t, exitOK, code, errOut)
	assert.Contains(t, out, `"paid": false`)
	assert.Contains(t, out, `"delivered": false`)

	// The wrong kind, or an order WeChat does not know: errcode 90019, exit 3.
	code, out, errOut = query("-out-trade-no", "coin-0001", "-kind", "item")
	assert.Equal(t, exitRefused, code, errOut)
	assert.Empty(t, out)
	assert.True(t, strings.HasPrefix(errOut, "midas queryorder: errcode 90019: "), errOut)
	assert.NotContains(t, errOut, "midas: ")

	// Usage errors exit 2, before anything is sent.
	sent := len(fake.Calls())
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"queryorder", "-openid", "p1"}, "missing settings:\n  -session-key (2.0 signs every call with the player's session_key)\n  -out-trade-no\n  -kind (coin or item)"},
		{[]string{"queryorder", "-openid", "p1", "-session-key", defaultSession, "-out-trade-no", "x", "-kind", "gem"}, `-kind: "gem": want coin or item`},
		{[]string{"queryorder", "-openid", "p1", "-session-key", defaultSession, "-out-trade-no", "x", "-kind", "item", "-version", "1"},
			"queryorder is virtual payment 2.0 only"},
		{[]string{"queryorder", "-openid", "p1", "-session-key", defaultSession, "-out-trade-no", "a b", "-kind", "item"}, "invalid -out-trade-no (OutTradeNo)"},
		{[]string{"queryorder", "-openid", "p1", "-session-key", defaultSession, "-out-trade-no", "x", "-kind", "item", "-bill-no", "b"}, "flag provided but not defined: -bill-no"},
		{[]string{"queryorder", "-openid", "p1", "-session-key", defaultSession, "-out-trade-no", "x", "-kind", "item", "-pf", "android"}, "flag provided but not defined: -pf"},
	} {
		code, out, errOut := runCmd(t, env, tc.args...)
		assert.Equal(t, exitUsage, code, "%q: %s", tc.args, errOut)
		assert.Contains(t, errOut, tc.want, "%q", tc.args)
		assert.Empty(t, out)
	}
	assert.Len(t, fake.Calls(), sent, "nothing sent")

	// MIDAS_VERSION=1 in the environment is a mismatch too, named as such.
	env["MIDAS_VERSION"] = "1"
	code, _, errOut = query("-out-trade-no", "coin-0001", "-kind", "coin")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, `-version or MIDAS_VERSION is "1": queryorder is virtual payment 2.0 only`)

	code, help, _ := runCmd(t, nil, "queryorder", "-h")
	assert.Equal(t, exitOK, code)
	for _, want := range []string{"Usage: midas queryorder", "-out-trade-no", "-kind", "queryorder is 2.0 only", "Exit codes:"} {
		assert.Contains(t, help, want)
	}
}

// midas serve -push-url plays WeChat's side of an item purchase: POST
// /midastest/buyitem records a paid order and pushes its delivery to the
// game server, signed (plain and secure mode), retrying until it succeeds.
func TestServePushesItemDeliveries(t *testing.T) {
	for _, aesKey := range []string{"", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"} {
		t.Run(map[bool]string{false: "plain", true: "secure"}[aesKey != ""], func(t *testing.T) {
			var mu sync.Mutex
			var got []push.ItemDelivery
			calls := 0
			h, err := push.NewHandler(push.Config{Token: "game-push-token", EncodingAESKey: aesKey, AppID: defaultAppID,
				AppKey: defaultAppKey, SandboxAppKey: defaultSandboxKey}, push.Handlers{
				ItemDelivered: func(_ context.Context, d *push.ItemDelivery) error {
					mu.Lock()
					defer mu.Unlock()
					calls++
					if d.ProductID == "broken" || calls == 1 {
						return errors.New("not now") // the first push, and every one of "broken", fail
					}
					got = append(got, *d)
					return nil
				}})
			require.NoError(t, err)
			game := httptest.NewServer(h)
			defer game.Close()

			args := []string{"-push-url", game.URL + "/wechat/push", "-push-token", "game-push-token", "-v"}
			if aesKey != "" {
				args = append(args, "-push-aes-key", aesKey)
			}
			url, serveErr, stop := startServe(t, args...)
			buy := func(body string) (int, map[string]any) {
				resp, err := http.Post(url+"/midastest/buyitem", "application/json", strings.NewReader(body))
				require.NoError(t, err)
				defer resp.Body.Close()
				var out map[string]any
				require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
				return resp.StatusCode, out
			}

			status, out := buy(`{"openid":"` + defaultOpenID + `","product_id":"gem_pack_60","quantity":2,"price":300,"out_trade_no":"cli-0001","attach":"a&b"}`)
			require.Equal(t, http.StatusOK, status, out)
			assert.Equal(t, true, out["delivered"])
			assert.Equal(t, "cli-0001", out["out_trade_no"])
			pushes := out["pushes"].([]any)
			require.Len(t, pushes, 2, "the first push failed and was retried")
			assert.Equal(t, float64(500), pushes[0].(map[string]any)["status"])
			assert.Equal(t, true, pushes[1].(map[string]any)["success"])
			mu.Lock()
			require.Len(t, got, 1)
			d := got[0]
			mu.Unlock()
			assert.Equal(t, push.ItemDelivery{Event: push.EventGamePayGoodsDeliver, OpenID: defaultOpenID, OutTradeNo: "cli-0001",
				Env: midas.Production, ProductID: "gem_pack_60", Quantity: 2, ZoneID: "1", OrigPrice: 600, ActualPrice: 600,
				Attach: "a&b", Source: push.SourceInGame}, push.ItemDelivery{Event: d.Event, OpenID: d.OpenID, OutTradeNo: d.OutTradeNo,
				Env: d.Env, ProductID: d.ProductID, Quantity: d.Quantity, ZoneID: d.ZoneID, OrigPrice: d.OrigPrice,
				ActualPrice: d.ActualPrice, Attach: d.Attach, Source: d.Source})

			// The fake's queryorderinfo sees the order paid and delivered.
			c, err := midas.NewClient(midas.Config{AppID: defaultAppID, OfferID: defaultOfferID, AppKey: defaultAppKey,
				Version: midas.V2, AccessToken: midas.StaticToken(defaultToken)}, midas.WithBaseURL(url))
			require.NoError(t, err)
			st, err := c.QueryOrder(context.Background(), midas.QueryOrderRequest{OpenID: defaultOpenID, SessionKey: defaultSession,
				OutTradeNo: "cli-0001", Kind: midas.ItemOrder})
			require.NoError(t, err)
			assert.True(t, st.Paid && st.Delivered, "%+v", st)

			// A sandbox purchase is signed with the sandbox AppKey; an empty
			// out_trade_no is made up.
			status, out = buy(`{"openid":"p2","product_id":"sword","price":100,"env":1}`)
			require.Equal(t, http.StatusOK, status, out)
			assert.True(t, strings.HasPrefix(out["out_trade_no"].(string), "_"), out)

			// A game server that never answers success: 502, every push listed.
			status, out = buy(`{"openid":"p2","product_id":"broken","price":100}`)
			assert.Equal(t, http.StatusBadGateway, status)
			assert.Equal(t, false, out["delivered"])
			assert.Len(t, out["pushes"], 16)
			assert.Contains(t, out["error"], "push not acknowledged")

			// Bad requests.
			for body, want := range map[string]string{
				`{"openid":"` + defaultOpenID + `","product_id":"gem_pack_60","out_trade_no":"cli-0001"}`: "already used",
				`{"openid":"p2","product_id":"x","env":2}`:                                                "env must be 0",
				`{"openid":"p2","product_id":"x","colour":"red"}`:                                         "unknown field",
				`{"product_id":"x"}`: "OpenID is empty",
				`{"openid":"p2","product_id":"x","out_trade_no":"_mine"}`: "not starting with '_'",
			} {
				status, out := buy(body)
				assert.Equal(t, http.StatusBadRequest, status, body)
				assert.Contains(t, out["error"], want, body)
			}
			resp, err := http.Get(url + "/midastest/buyitem")
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)

			assert.Equal(t, 0, stop())
			log := serveErr.String()
			assert.Contains(t, log, "out_trade_no=cli-0001 attempt 1: 500")
			assert.Contains(t, log, "out_trade_no=cli-0001 attempt 2: 200 success")
			assert.NotContains(t, log, "game-push-token")
			if aesKey != "" {
				assert.NotContains(t, log, aesKey)
			}
		})
	}
}

// The push flags are checked before anything listens; without -push-url
// there is no control endpoint.
func TestServePushFlags(t *testing.T) {
	const key = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-push-url", "http://game.example/push", "-push-token", "t"}, "loopback only"},
		{[]string{"-push-url", "http://10.0.0.1:8080/push", "-push-token", "t"}, "loopback only"},
		{[]string{"-push-url", "ftp://127.0.0.1/push", "-push-token", "t"}, "want an absolute http(s) URL"},
		{[]string{"-push-url", "/push", "-push-token", "t"}, "want an absolute http(s) URL"},
		{[]string{"-push-url", "http://127.0.0.1:8080/push"}, "-push-url needs -push-token"},
		{[]string{"-push-token", "t"}, "need -push-url"},
		{[]string{"-push-url", "http://localhost:8080/push", "-push-token", "t", "-push-aes-key", key[:42]}, "43-character EncodingAESKey"},
		{[]string{"-push-url", "http://[::1]:8080/push", "-push-token", "t", "-push-aes-key", key, "-appid", ""}, "needs -appid"},
	} {
		code, out, errOut := runCmd(t, nil, append([]string{"serve"}, tc.args...)...)
		assert.Equal(t, exitUsage, code, "%q: %s", tc.args, errOut)
		assert.Contains(t, errOut, tc.want, "%q", tc.args)
		assert.NotContains(t, errOut, key[:42], "%q", tc.args)
		assert.Empty(t, out)
	}

	url, _, stop := startServe(t)
	resp, err := http.Post(url+"/midastest/buyitem", "application/json", strings.NewReader(`{"openid":"p1","product_id":"x"}`))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Equal(t, 0, stop())

	code, help, _ := runCmd(t, nil, "serve", "-h")
	assert.Equal(t, exitOK, code)
	for _, want := range []string{"-push-url", "-push-token", "-push-aes-key", "POST /midastest/buyitem", "HTTP 200 when delivered"} {
		assert.Contains(t, help, want)
	}
}
