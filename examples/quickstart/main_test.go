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
