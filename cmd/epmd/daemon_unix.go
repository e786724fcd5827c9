//go:build unix

package main

import (
	"os"
	"os/exec"
	"os/signal"
	"syscall"
)

// daemonEnv marks the copy of epmd that -daemon starts.
const daemonEnv = "GOEI_EPMD_DAEMON"

// daemonize starts this program again with the same arguments, detached:
// in a new session, in /, with standard files on /dev/null. Go cannot
// fork, so this stands in for OTP's double fork. In the copy it ignores
// SIGHUP and returns false, and run goes on to serve.
func daemonize(args []string) (started bool, err error) {
	if os.Getenv(daemonEnv) != "" {
		signal.Ignore(syscall.SIGHUP)
		return false, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return false, err
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), daemonEnv+"=1")
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return false, err
	}
	return true, cmd.Process.Release()
}
