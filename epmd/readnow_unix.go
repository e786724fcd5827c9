//go:build unix

package epmd

import (
	"net"
	"syscall"
)

// readNow reads into b what c has received so far, without waiting, and
// returns the count: 0 when nothing is there, on error, or when c is not
// backed by a file descriptor.
func readNow(c net.Conn, b []byte) int {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return 0
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0
	}
	n := 0
	rc.Read(func(fd uintptr) bool {
		k, err := syscall.Read(int(fd), b)
		if err == nil && k > 0 {
			n = k
		}
		return true // never wait
	})
	return n
}
