package dbtest

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal ends the server if the test process dies without
// stopping it.
func setParentDeathSignal(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGTERM
}
