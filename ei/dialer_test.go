package ei

import (
	"context"
	"net"
	"testing"
)

// TestResolve checks which hosts Connect looks up once for both of its
// dials, and which it leaves to the dialer.
func TestResolve(t *testing.T) {
	ctx := context.Background()
	plain := &Node{}
	for _, host := range []string{"127.0.0.1", "::1", "name.invalid"} {
		if got := plain.resolve(ctx, host); got != host {
			t.Errorf("resolve(%q) = %q, want it unchanged", host, got)
		}
	}
	withDialer := &Node{Dialer: &net.Dialer{}}
	if got := withDialer.resolve(ctx, "localhost"); got != "localhost" {
		t.Errorf("with Node.Dialer set, resolve(localhost) = %q, want the name for the dialer", got)
	}
	// localhost has one address or more; with one, that is what is dialled.
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", "localhost")
	if err != nil {
		t.Skip(err)
	}
	want := "localhost"
	if len(ips) == 1 {
		want = ips[0].Unmap().String()
	}
	if got := plain.resolve(ctx, "localhost"); got != want {
		t.Errorf("resolve(localhost) = %q, want %q (addresses %v)", got, want, ips)
	}
}
