package ei

import (
	"context"
	"net"
	"net/netip"

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

// resolve returns the address of host to dial epmd and the node at, so
// that Connect looks the name up once rather than for each dial, as
// ei_connect does: host itself when a Dialer of the user's dials (a
// proxy may resolve names of its own), when it does not resolve, or when
// it has several addresses, which the dialer tries in turn.
func (n *Node) resolve(ctx context.Context, host string) string {
	if n.Dialer != nil || n.EPMD != nil && n.EPMD.Dialer != nil {
		return host
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return host
	}
	// LookupHost rather than LookupNetIP: the latter runs each lookup in
	// a goroutine of its own (to share it between concurrent callers),
	// which costs a connect more than the lookup in /etc/hosts does.
	addrs, err := net.DefaultResolver.LookupHost(ctx, host)
	if err != nil || len(addrs) != 1 {
		return host
	}
	ip, err := netip.ParseAddr(addrs[0])
	if err != nil {
		return host
	}
	return ip.Unmap().String()
}
