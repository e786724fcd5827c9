package main

import (
	"os"
	"syscall"
	"time"
	"unsafe"
)

// dieByAlarm ends the program the way OTP's erl_call ends when its
// -timeout alarm(2) fires: killed by SIGALRM (exit status 142 in a shell),
// without flushing stdout. The Go runtime catches SIGALRM, so the default
// disposition is put back first with rt_sigaction; a zeroed struct
// sigaction is SIG_DFL with no flags and an empty mask on every Linux
// architecture.
func dieByAlarm() {
	var act [4]uint64 // struct sigaction: handler, flags, restorer, mask
	syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(syscall.SIGALRM),
		uintptr(unsafe.Pointer(&act)), 0, 8, 0, 0)
	syscall.Kill(os.Getpid(), syscall.SIGALRM)
	time.Sleep(time.Second) // the signal is on its way
	os.Exit(128 + int(syscall.SIGALRM))
}
