package erltest

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/goei/goei/epmd"
)

// StartEPMD serves an epmd.Server in-process on a free loopback port and
// returns the port; t.Cleanup closes the server. Unlike the other helpers
// it needs no external program, so it does not skip with -short. Tests in
// package epmd itself cannot use it (that would be an import cycle); they
// belong in package epmd_test.
func StartEPMD(t testing.TB) int {
	t.Helper()
	return ServeEPMD(t, &epmd.Server{})
}

// ServeEPMD is StartEPMD for a Server configured by the caller, such as
// one with RelaxedCommandCheck set.
func ServeEPMD(t testing.TB, s *epmd.Server) int {
	t.Helper()
	return ServeEPMDAt(t, s, "127.0.0.1:0")
}

// ServeEPMDAt is ServeEPMD on the address addr, such as "[::1]:0".
func ServeEPMDAt(t testing.TB, s *epmd.Server, addr string) int {
	t.Helper()
	l, err := epmd.Listen(context.Background(), addr)
	if err != nil {
		t.Fatalf("StartEPMD: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; !errors.Is(err, epmd.ErrServerClosed) {
			t.Errorf("epmd.Server.Serve: %v", err)
		}
	})
	return l.Addr().(*net.TCPAddr).Port
}
