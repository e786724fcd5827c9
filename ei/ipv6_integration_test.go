package ei_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/nettest"

	"github.com/goei/goei/ei"
	"github.com/goei/goei/epmd"
	"github.com/goei/goei/internal/erltest"
)

// recordingDialer dials as a net.Dialer does and records the addresses.
type recordingDialer struct {
	mu    sync.Mutex
	addrs []string
}

func (d *recordingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	d.addrs = append(d.addrs, addr)
	d.mu.Unlock()
	return new(net.Dialer).DialContext(ctx, network, addr)
}

func (d *recordingDialer) dialed() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.addrs...)
}

// TestIPv6 runs distribution over IPv6 loopback with erl nodes started
// with -proto_dist inet6_tcp, both ways: Go connects to a node named
// name@::1, and such nodes, and a short-named one, connect to a Go node
// listening on [::1] alone.
func TestIPv6(t *testing.T) {
	if !nettest.SupportsIPv6() {
		t.Skip("IPv6 is not supported here")
	}
	for _, otp := range erltest.OTPs(t) {
		t.Run(otp.String(), func(t *testing.T) {
			port := erltest.StartOTPEPMD(t) // it listens on ::1 too
			ctx := testContext(t)
			erlName := erltest.UniqueName("erl")
			erl := otp.Start(t, port, "-name", erlName+"@::1", "-setcookie", "c", "-proto_dist", "inet6_tcp")
			erl.WaitRegistered(t, port, erlName)

			d := new(recordingDialer)
			n := &ei.Node{Name: erltest.UniqueName("go") + "@::1", Cookie: "c", EPMD: &epmd.Client{Port: port},
				Dialer: d, Trace: newTrace(t)}
			c, err := n.Connect(ctx, erlName+"@::1")
			if err != nil {
				t.Fatalf("Connect(%s@::1) = %v\n%s", erlName, err, erl.Output())
			}
			got, err := c.RPC(ctx, "erlang", "node", nil)
			c.Close()
			if want := ei.Atom(erlName + "@::1"); err != nil || got != want {
				t.Fatalf("RPC(erlang:node()) = %v, %v; want %s", got, err, want)
			}
			if addrs := d.dialed(); len(addrs) != 1 || !strings.HasPrefix(addrs[0], "[::1]:") {
				t.Errorf("Node.Dialer dialed %q, want one address on [::1]", addrs)
			}

			l := listenPublished(t, ctx, n, "[::1]:0")
			defer l.Close()
			echoFromErl(ctx, t, l, n.Name, func(expr string) string {
				return otp.Eval(t, port, expr, "-name", erltest.UniqueName("erl")+"@::1", "-setcookie", "c", "-proto_dist", "inet6_tcp")
			})

			// A short name: erl resolves the host for IPv6.
			sn := newGoNode(t, port, 0)
			sl := listenPublished(t, ctx, sn, "[::1]:0")
			defer sl.Close()
			echoFromErl(ctx, t, sl, sn.Name, func(expr string) string {
				return otp.Eval(t, port, expr, "-sname", erltest.UniqueName("erl"), "-setcookie", "c", "-proto_dist", "inet6_tcp")
			})
		})
	}
}

// TestNodeDialer checks that Node.Dialer dials both the peer's epmd and
// the peer, so that a proxy dialer carries all of Connect.
func TestNodeDialer(t *testing.T) {
	port := erltest.StartEPMD(t)
	t.Setenv("ERL_EPMD_PORT", fmt.Sprint(port))
	ctx := testContext(t)
	acceptor := &ei.Node{Name: erltest.UniqueName("acc") + "@localhost", Cookie: "c"}
	l := listenPublished(t, ctx, acceptor, "127.0.0.1:0")
	defer l.Close()
	go func() {
		if c, err := l.Accept(ctx); err == nil {
			c.Close()
		}
	}()
	d := new(recordingDialer)
	n := &ei.Node{Name: erltest.UniqueName("go") + "@localhost", Cookie: "c", Dialer: d}
	c, err := n.Connect(ctx, acceptor.Name)
	if err != nil {
		t.Fatalf("Connect() = %v", err)
	}
	c.Close()
	want := []string{fmt.Sprintf("localhost:%d", port), fmt.Sprintf("localhost:%d", l.Addr().(*net.TCPAddr).Port)}
	if got := d.dialed(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Node.Dialer dialed %q, want %q (epmd, then the node)", got, want)
	}
}
