package main

import (
	"log/slog"
	"net"
	"slices"
	"testing"

	"golang.org/x/net/nettest"

	"github.com/goei/goei/internal/erltest"
)

// TestListenLikeOTP checks the sockets epmd opens. OTP's epmd (25, seen
// with ss) listens on 0.0.0.0:P and, IPv6 only, [::]:P with no -address,
// and on 127.0.0.1:P and [::1]:P with -address ::1 or 127.0.0.1.
func TestListenLikeOTP(t *testing.T) {
	if !nettest.SupportsIPv6() {
		t.Skip("IPv6 is not supported here")
	}
	for _, tc := range []struct {
		addresses string
		want      []string
	}{
		{"", []string{"0.0.0.0", "::"}},
		{"::1", []string{"127.0.0.1", "::1"}},
		{"127.0.0.1", []string{"127.0.0.1", "::1"}},
	} {
		t.Run("address="+tc.addresses, func(t *testing.T) {
			// Another process may take the free port meanwhile, which
			// listen reports as exit status 0 (an epmd runs there).
			var ls []net.Listener
			var err error
			for range 10 {
				ls, err = listen(config{port: erltest.FreePort(t), addresses: tc.addresses}, slog.New(slog.DiscardHandler))
				if err != exitCode(0) {
					break
				}
			}
			if err != nil {
				t.Fatalf("listen() = %v", err)
			}
			var got []string
			for _, l := range ls {
				defer l.Close()
				got = append(got, l.Addr().(*net.TCPAddr).IP.String())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("listen(-address %q) on %v, want %v", tc.addresses, got, tc.want)
			}
		})
	}
}
