//go:build !linux

package dbtest

import (
	"os/exec"
	"syscall"
)

func setCredential(cmd *exec.Cmd, uid, gid uint32) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uid, Gid: gid}
}

func setParentDeathSignal(*exec.Cmd) {}
