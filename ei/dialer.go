package ei

import (
	"context"
	"net"

	"github.com/goei/goei/epmd"
)

// Dialer makes the connections a Node opens to other nodes (see
// Node.Dialer). *net.Dialer implements it, and so do the dialers of
// golang.org/x/net/proxy (proxy.ContextDialer), which go through a SOCKS5
// proxy. Its DialContext is called with network "tcp".
type Dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// dialer returns the dialer for node connections: Node.Dialer,
// Node.EPMD's, or a zero net.Dialer.
func (n *Node) dialer() Dialer {
	if n.Dialer != nil {
		return n.Dialer
	}
	if n.EPMD != nil && n.EPMD.Dialer != nil {
		return n.EPMD.Dialer
	}
	return &net.Dialer{}
}

// lookupClient returns the epmd client Connect asks for a peer's port:
// Node.EPMD, or one that dials through Node.Dialer, since the peer's epmd
// is on the peer's host.
func (n *Node) lookupClient() *epmd.Client {
	if n.EPMD != nil {
		return n.EPMD
	}
	return &epmd.Client{Dialer: n.Dialer}
}
