package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// Help that was asked for is the command's output: stdout and exit 0, so
// "midas -h | less" and "midas pay -h | grep settle" work. Help printed
// because of a mistake is an error report: stderr and exit 2.
func TestHelpGoesToStdoutAndExits0(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"-help"}, {"help"}} {
		code, out, errOut := runCmd(t, nil, args...)
		assert.Equal(t, exitOK, code, args)
		assert.Contains(t, out, "Usage:\n  midas sign", args)
		assert.Contains(t, out, "Exit codes:", args)
		assert.Empty(t, errOut, args)
	}
	for _, cmd := range []string{"sign", "serve", "balance", "pay", "cancel", "present", "queryorder"} {
		for _, args := range [][]string{{cmd, "-h"}, {cmd, "--help"}, {"help", cmd}} {
			code, out, errOut := runCmd(t, nil, args...)
			assert.Equal(t, exitOK, code, args)
			assert.Contains(t, out, "Usage: midas "+cmd, args)
			assert.Contains(t, out, "\n  -", args) // the flag list, printed by PrintDefaults
			assert.Contains(t, out, "Exit codes:", args)
			assert.Empty(t, errOut, args)
		}
	}
	// sign takes flags after its key=value arguments too.
	code, out, _ := runCmd(t, nil, "sign", "a=b", "-h")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, out, "Usage: midas sign")
}

func TestUsageAfterAMistakeGoesToStderr(t *testing.T) {
	code, out, errOut := runCmd(t, nil)
	assert.Equal(t, exitUsage, code)
	assert.Empty(t, out)
	assert.Contains(t, errOut, "Usage:")

	for _, cmd := range []string{"sign", "serve", "balance", "pay", "cancel", "present", "queryorder"} {
		code, out, errOut := runCmd(t, nil, cmd, "-no-such-flag")
		assert.Equal(t, exitUsage, code, cmd)
		assert.Empty(t, out, cmd)
		assert.Contains(t, errOut, "flag provided but not defined: -no-such-flag", cmd)
		assert.Contains(t, errOut, "Usage: midas "+cmd, cmd)
	}
	code, out, errOut = runCmd(t, nil, "help", "frobnicate")
	assert.Equal(t, exitUsage, code)
	assert.Empty(t, out)
	assert.Contains(t, errOut, `unknown command "frobnicate"`)
}
