package ei

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/goei/goei/epmd"
)

// countingDialer fails every dial and counts them.
type countingDialer struct{ n atomic.Int32 }

func (d *countingDialer) DialContext(context.Context, string, string) (net.Conn, error) {
	d.n.Add(1)
	return nil, errors.New("countingDialer: no network in this test")
}

// TestNodeInvalidOwnName checks that a node with an invalid name of its
// own is refused locally, with an error naming the problem, before any
// connection to epmd or to a peer is attempted.
func TestNodeInvalidOwnName(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"", "not of the form name@host"},
		{"go", "not of the form name@host"},
		{"go@", "not of the form name@host"},
		{"@host", "not of the form name@host"},
		{"go@host@x", "not of the form name@host"},
		{"go@" + strings.Repeat("h", 254), "longer than 255 bytes"},
	} {
		d := new(countingDialer)
		n := &Node{Name: tc.name, Cookie: "c", Dialer: d, EPMD: &epmd.Client{Dialer: d}}
		ctx := context.Background()
		check := func(op string, err error) {
			t.Helper()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Node{Name: %.20q}.%s = %v, want an error saying %q", tc.name, op, err, tc.want)
			}
		}
		_, err := n.Connect(ctx, "erl@host")
		check("Connect", err)
		_, err = n.ConnectAddr(ctx, "erl@host", "127.0.0.1:1")
		check("ConnectAddr", err)
		_, err = n.Listen(ctx, "127.0.0.1:0")
		check("Listen", err)
		_, err = n.NewMailbox("inbox")
		check("NewMailbox", err)
		if got := d.n.Load(); got != 0 {
			t.Errorf("Node{Name: %.20q}: %d dials, want none", tc.name, got)
		}
	}
}
