//go:build !linux

package main

import "os"

// dieByAlarm ends the program as OTP's erl_call ends when its -timeout
// alarm fires. Only Linux builds are killed by SIGALRM itself; elsewhere
// the exit status is the one a shell reports for that, 142.
func dieByAlarm() {
	os.Exit(128 + 14)
}
