//go:build unix

package erltest

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// reservePort takes port for t against FreePort in the other test
// processes of the machine (go test runs packages in parallel), until t
// ends: it locks a file named after the port in a directory they share,
// and reports false if another process holds that lock. A port is free
// between FreePort's check and the server's bind, and two processes may
// pick it meanwhile; one server then fails to bind, while a readiness
// probe (StartListening) may take the other's listener for its own.
func reservePort(t testing.TB, port int) bool {
	dir := filepath.Join(os.TempDir(), "goei-test-ports")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return true // no sharing: as before
	}
	f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(port)), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return true
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return false
	}
	t.Cleanup(func() { f.Close() })
	return true
}
