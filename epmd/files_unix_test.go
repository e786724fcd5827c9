//go:build unix

package epmd

import (
	"syscall"
	"testing"
)

// needFiles raises the open file limit to n if it is lower, or skips t.
func needFiles(t *testing.T, n uint64) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur >= n {
		return
	}
	lim.Cur = min(lim.Max, n)
	syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); lim.Cur < n {
		t.Skipf("need %d file descriptors, may have %d", n, lim.Cur)
	}
}
