//go:build unix

package main

import (
	"os/exec"
	"syscall"
)

// detach makes cmd run in a session of its own, so that it survives
// erl_call and its terminal.
func detach(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
}
