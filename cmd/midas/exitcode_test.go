package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/gomidas/midas"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A call re-run with an id that was already applied is answered 90012 (1.0
// cancelpay: 90015). The coins moved, earlier: that is not a refusal, and it
// has its own exit code, so a script never repeats it under a new id.
func TestAlreadyAppliedHasItsOwnExitCode(t *testing.T) {
	fake, env := fakeEnv(t)
	v2 := map[string]string{"MIDAS_VERSION": "2"}
	for k, v := range env {
		v2[k] = v
	}
	total := func() int64 { n, _ := fake.Balance(midas.Production, "p1", ""); return n }
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		code int // the errcode of the repeat
	}{
		{"pay", env, []string{"pay", "-openid", "p1", "-bill-no", "again-pay", "-amount", "7"}, midas.CodeOrderExists},
		{"present", env, []string{"present", "-openid", "p1", "-bill-no", "again-gift", "-count", "4"}, midas.CodeOrderExists},
		{"1.0 cancel", env, []string{"cancel", "-openid", "p1", "-bill-no", "again-pay"}, midas.CodeOrderRefunded},
		{"2.0 pay", v2, []string{"pay", "-openid", "p1", "-session-key", defaultSession, "-bill-no", "again-v2", "-amount", "20"}, midas.CodeOrderExists},
		{"2.0 partial refund", v2, []string{"cancel", "-openid", "p1", "-session-key", defaultSession, "-bill-no", "again-v2",
			"-refund-bill-no", "again-ret-1", "-amount", "5"}, midas.CodeOrderExists},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runCmd(t, tc.env, tc.args...)
			require.Equal(t, exitOK, code, errOut)
			before := total()

			code, out, errOut := runCmd(t, tc.env, tc.args...)
			assert.Equal(t, exitAlreadyApplied, code, errOut)
			assert.NotEqual(t, exitRefused, code)
			assert.Empty(t, out)
			assert.Contains(t, errOut, fmt.Sprintf("errcode %d", tc.code))
			assert.Contains(t, errOut, "already applied earlier under this id")
			assert.NotContains(t, errOut, "did not move")
			assert.Equal(t, before, total(), "the repeat moved nothing")

			// -settle reads the same answer as the earlier call's success.
			code, out, errOut = runCmd(t, tc.env, append(tc.args, "-settle")...)
			require.Equal(t, exitOK, code, errOut)
			assert.Contains(t, out, `"already_processed": true`)
			assert.NotContains(t, out, `"balance"`, "the answer carried no balance")
		})
	}
	assert.Equal(t, exitRefused, exitCode(&midas.APIError{API: midas.APIPay, Code: midas.CodeInsufficientBalance}))
	assert.Equal(t, exitAlreadyApplied, exitCode(&midas.APIError{API: midas.APIPay, Code: midas.CodeOrderExists}))
	assert.Equal(t, exitAlreadyApplied, exitCode(&midas.APIError{API: midas.APICancelPay, Code: midas.CodeOrderRefunded}))
	// 1.0's cancelpay is done at 90015: its 90012 is no earlier success, and
	// -settle would not read it as one.
	v1Cancel := &midas.APIError{API: midas.APICancelPay, Code: midas.CodeOrderExists, Version: midas.V1}
	assert.Equal(t, exitRefused, exitCode(v1Cancel))
	assert.NotContains(t, explain("cancel", v1Cancel), "already applied")
	v2Cancel := &midas.APIError{API: midas.APICancelPay, Code: midas.CodeOrderExists, Version: midas.V2}
	assert.Equal(t, exitAlreadyApplied, exitCode(v2Cancel))
	assert.Contains(t, explain("cancel", v2Cancel), "already applied")
	unknown := &midas.OutcomeUnknownError{API: midas.APIPay, BillNo: "b", Attempts: 2,
		Err: &midas.APIError{API: midas.APIPay, Code: midas.CodeOrderExists}}
	assert.Equal(t, exitUnknown, exitCode(unknown), "an unknown outcome is still decided first")

	for _, cmd := range []string{"pay", "cancel", "present"} {
		_, help, _ := runCmd(t, nil, cmd, "-h")
		assert.Contains(t, help, fmt.Sprintf("%d  already applied earlier under this id", exitAlreadyApplied), cmd)
	}
}

// 1.0 cancelpay answers no balance: the command prints only what the answer
// carried.
func TestCancelPrintsOnlyWhatTheAnswerCarried(t *testing.T) {
	_, env := fakeEnv(t)
	code, _, errOut := runCmd(t, env, "pay", "-openid", "p1", "-bill-no", "to-cancel", "-amount", "3")
	require.Equal(t, exitOK, code, errOut)
	code, out, errOut := runCmd(t, env, "cancel", "-openid", "p1", "-bill-no", "to-cancel")
	require.Equal(t, exitOK, code, errOut)
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &m), out)
	assert.Equal(t, map[string]any{"bill_no": "to-cancel", "already_processed": false}, m)
}

// An invalid setting found by NewClient names its flag, each at once.
func TestInvalidConfigNamesEveryFlag(t *testing.T) {
	_, env := fakeEnv(t)
	code, _, errOut := runCmd(t, env, "balance", "-openid", "p1", "-appid", "wx 1", "-offer-id", "o/1")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "invalid -appid or MIDAS_APPID (AppID): character ' ' not allowed")
	assert.Contains(t, errOut, "invalid -offer-id or MIDAS_OFFER_ID (OfferID): character '/' not allowed")
	assert.NotContains(t, errOut, "midas: ")
	assert.Equal(t, 1, strings.Count(errOut, "midas balance: "), errOut)
}

// The hint after an unknown outcome settles, never refunds, and says when a
// settle's refusal is final.
func TestUnknownOutcomeHintSettlesNeverRefunds(t *testing.T) {
	msg := explain("pay", &midas.OutcomeUnknownError{API: midas.APIPay, BillNo: "b1", Attempts: 3,
		Err: &midas.APIError{API: midas.APIPay, Code: -1}})
	assert.Contains(t, msg, "-settle")
	assert.Contains(t, msg, "never refund it")
	assert.Contains(t, msg, midas.LateLandingWindow.String())
	assert.NotContains(t, msg, "until it exits 0 or 3")
}

// The command says what an errcode means in the version that answered, as
// the SDK's table has it: 2.0 has no mp_sig, and its 90016 is an expired
// session_key, not 1.0's "being processed".
func TestErrcodeMeaningFollowsTheVersion(t *testing.T) {
	for _, tc := range []struct {
		v    midas.Version
		code int
		want string
	}{
		{midas.V1, 90010, "errcode 90010: player not logged in or session expired"},
		{midas.V2, 90010, "errcode 90010: signature is wrong (session_key)"},
		{midas.V1, 90016, "errcode 90016: order being processed"},
		{midas.V2, 90016, "errcode 90016: session_key expired"},
		{midas.V2, 90019, "errcode 90019: out_trade_no not found"},
		{midas.V1, 90019, "errcode 90019: undocumented errcode"},
	} {
		err := &midas.APIError{API: midas.APIGetBalance, Code: tc.code, Version: tc.v}
		got := explain("balance", err)
		assert.True(t, strings.HasPrefix(got, tc.want), "%s %d: %s", tc.v, tc.code, got)
		assert.NotContains(t, got, "mp_sig", "%s %d: %s", tc.v, tc.code, got)
	}
}
