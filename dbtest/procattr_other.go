//go:build !linux

package dbtest

import "os/exec"

// setParentDeathSignal is Linux only; elsewhere Main's stop is the only end.
func setParentDeathSignal(*exec.Cmd) {}
