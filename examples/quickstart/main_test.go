package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/gomidas/midas"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// With no configuration both generations run offline, 1.0 then 2.0.
func TestQuickstartOffline(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out, func(string) string { return "" }))
	text := out.String()
	assert.Contains(t, text, "running offline")
	v1, v2, ok := strings.Cut(text, "virtual payment 2.0 (/wxa/game/..., env 1 (sandbox) in the body)\n")
	require.True(t, ok, text)
	assert.Contains(t, v1, "virtual payment 1.0 (/cgi-bin/midas/sandbox/...)\n")
	assertV1Steps(t, v1)
	assertV2Steps(t, v2)
}

// MIDAS_VERSION alone picks one generation, still offline.
func TestQuickstartOfflineOneVersion(t *testing.T) {
	for _, tc := range []struct{ version, want, not string }{
		{"1", "virtual payment 1.0", "virtual payment 2.0"},
		{"2", "virtual payment 2.0", "virtual payment 1.0"},
		{"2.0", "virtual payment 2.0", "virtual payment 1.0"},
	} {
		var out bytes.Buffer
		require.NoError(t, run(context.Background(), &out, func(k string) string {
			if k == "MIDAS_VERSION" {
				return tc.version
			}
			return ""
		}), tc.version)
		text := out.String()
		assert.Contains(t, text, "running offline", tc.version)
		assert.Contains(t, text, tc.want, tc.version)
		assert.NotContains(t, text, tc.not, tc.version)
		if tc.want == "virtual payment 2.0" {
			assertV2Steps(t, text)
		} else {
			assertV1Steps(t, text)
		}
	}

	var out bytes.Buffer
	err := run(context.Background(), &out, func(k string) string {
		if k == "MIDAS_VERSION" {
			return "3"
		}
		return ""
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `MIDAS_VERSION="3": want 1 or 2`)
	assert.Empty(t, out.String())
}

func assertV1Steps(t *testing.T, text string) {
	t.Helper()
	assert.Contains(t, text, "1. present 10 coins")
	assert.Contains(t, text, "2. getbalance: 110 coins, 10 of them gifted")
	assert.Contains(t, text, "3. pay 25 coins")
	assert.Contains(t, text, "balance 85, gifted coins used 10")
	assert.Contains(t, text, ": refunded\n")
	assert.Contains(t, text, "5. getbalance: 110 coins, 10 of them gifted")
	assert.NotContains(t, text, "6. queryorder")
}

// 2.0: a partial return of 10 of the 25 coins, under its own bill_no, and
// the seeded item order.
func assertV2Steps(t *testing.T, text string) {
	t.Helper()
	assert.Contains(t, text, "1. present 10 coins (bill_no qs-gift-")
	assert.Contains(t, text, "2. getbalance: 110 coins, 10 of them gifted")
	assert.Contains(t, text, "3. pay 25 coins (bill_no qs-pay-")
	assert.Contains(t, text, "balance 85, gifted coins used 10")
	assert.Regexp(t, `4\. cancelpay 10 of the 25 coins of qs-pay-\w+ \(refund bill_no qs-refund-\w+\): returned\n`, text)
	assert.Contains(t, text, "5. getbalance: 95 coins")
	assert.Regexp(t, `6\. queryorder qs-item-0001 \(item order\): product gem_pack_60, paid at \S+Z, delivered\n`, text)
}

// Some MIDAS_* set: every missing one is named at once, and nothing runs.
func TestQuickstartNamesEveryMissingSetting(t *testing.T) {
	env := map[string]string{"MIDAS_APPID": "wx1234567", "MIDAS_APPKEY": "k"}
	var out bytes.Buffer
	err := run(context.Background(), &out, func(k string) string { return env[k] })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "also set MIDAS_OFFER_ID, MIDAS_OPENID, MIDAS_ACCESS_TOKEN or MIDAS_APPSECRET")
	assert.NotContains(t, err.Error(), "MIDAS_APPID")
	assert.Empty(t, out.String())

	// Without MIDAS_APPID too: a half-done setup is not silently offline.
	env = map[string]string{"MIDAS_OPENID": "o"}
	err = run(context.Background(), &out, func(k string) string { return env[k] })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "MIDAS_APPID, MIDAS_OFFER_ID, MIDAS_APPKEY, MIDAS_ACCESS_TOKEN or MIDAS_APPSECRET")
	assert.Empty(t, out.String())
}

// Against the real sandbox, 2.0 needs the player's session_key: it is named
// with the rest of what is missing.
func TestQuickstartV2NeedsSessionKey(t *testing.T) {
	env := map[string]string{"MIDAS_VERSION": "2", "MIDAS_APPID": "wx1234567", "MIDAS_OFFER_ID": "o", "MIDAS_APPKEY": "k",
		"MIDAS_OPENID": "p", "MIDAS_ACCESS_TOKEN": "t"}
	var out bytes.Buffer
	err := run(context.Background(), &out, func(k string) string { return env[k] })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "also set MIDAS_SESSION_KEY (2.0 signs every call")
	assert.Empty(t, out.String())

	// In 1.0 it stays optional.
	env["MIDAS_VERSION"] = "1"
	missing, set := missingSettings(func(k string) string { return env[k] }, midas.V1)
	assert.True(t, set)
	assert.Empty(t, missing)
}

// A balance the answer did not carry is said to be unknown, never printed as
// 0.
func TestBalanceTextNeverPrintsAnUnknownBalance(t *testing.T) {
	assert.Equal(t, "0", balanceText(0, true))
	assert.Equal(t, "not in the answer (call getbalance)", balanceText(0, false))
}
