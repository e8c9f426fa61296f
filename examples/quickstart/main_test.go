package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestQuickstartOffline(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out, func(string) string { return "" }))
	text := out.String()
	assert.Contains(t, text, "running offline")
	assert.Contains(t, text, "1. present 10 coins")
	assert.Contains(t, text, "2. getbalance: 110 coins, 10 of them gifted")
	assert.Contains(t, text, "3. pay 25 coins")
	assert.Contains(t, text, "balance 85, 10 gifted coins used")
	assert.Contains(t, text, "5. getbalance: 110 coins, 10 of them gifted")
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
