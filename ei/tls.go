package ei

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
)

// Distribution over TLS, as OTP's inet_tls_dist (erl -proto_dist
// inet_tls). Both sides open the TLS connection with {packet, 4}, so
// inside TLS the handshake messages have a 4-byte length, not the 2-byte
// one of plain TCP; after the handshake, frames have a 4-byte length over
// both.

// startTLS returns the connection to run the handshake on and the size
// of the handshake messages' length prefix. A *tls.Conn is used as it is;
// with Node.TLS, nc is wrapped in a TLS client (verifying the certificate
// against serverName unless the config names one) or server; otherwise nc
// is plain TCP. The TLS handshake runs here, bounded by ctx. On error the
// caller closes nc.
func (n *Node) startTLS(ctx context.Context, nc net.Conn, serverName string, server bool) (net.Conn, int, error) {
	tc, ok := nc.(*tls.Conn)
	switch {
	case ok:
	case n.TLS == nil:
		return nc, 2, nil
	case server:
		tc = tls.Server(nc, n.TLS)
	default:
		cfg := n.TLS
		if cfg.ServerName == "" && !cfg.InsecureSkipVerify {
			cfg = cfg.Clone()
			cfg.ServerName = serverName
		}
		tc = tls.Client(nc, cfg)
	}
	if err := tc.HandshakeContext(ctx); err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, 0, fmt.Errorf("ei: tls handshake with %s: %w", serverNameOr(serverName, nc), err)
	}
	return tc, 4, nil
}

// serverNameOr returns name, or nc's remote address when name is empty.
func serverNameOr(name string, nc net.Conn) string {
	if name == "" {
		return nc.RemoteAddr().String()
	}
	return name
}

// hostOf returns the host of a node name, alive@host, or of an address,
// host:port, for checking the certificate of the node there.
func hostOf(peer, addr string) string {
	if _, host, ok := strings.Cut(peer, "@"); ok {
		return host
	}
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return ""
}
