package epmd

import (
	"context"
	"net"
	"syscall"
)

// Listen opens a TCP listener on address tuned for Server: TCP keep-alive
// is off, as in OTP's epmd, and on Linux the kernel hands over a connection
// only once its first bytes have arrived (TCP_DEFER_ACCEPT), so a lookup
// or a registration is usually answered without waiting or starting a
// goroutine. A client that connects and sends nothing is handed over
// about a second later, and dropped once Server.PacketTimeout has passed
// since it connected. On Linux the listener is not a *net.TCPListener,
// and its connections are not *net.TCPConns: Serve accepts on it with raw
// system calls, which keeps the Go runtime's monitor thread asleep between
// lookups. ListenAndServe uses Listen.
//
// An IPv4 address listens for IPv4 only, and an IPv6 address, even "::",
// for IPv6 only (IPV6_V6ONLY), as each socket of OTP's epmd does; a host
// name, or none (":4369"), listens for both.
func Listen(ctx context.Context, address string) (net.Listener, error) {
	deferred := false
	lc := net.ListenConfig{KeepAlive: -1, Control: func(network, address string, c syscall.RawConn) error {
		deferred = deferAccept(c)
		return nil
	}}
	l, err := lc.Listen(ctx, listenNetwork(address), address)
	if err != nil {
		return nil, err
	}
	return rawListen(l, deferred), nil
}

// accepter accepts connections for Serve.
type accepter interface {
	// accept waits for the next connection and reads into buf what has
	// arrived on it so far, without waiting for more; it returns the
	// connection and the number of bytes read.
	accept(buf []byte) (accepted, int, error)
}

// netAccepter accepts with l.Accept.
type netAccepter struct{ l net.Listener }

func (a netAccepter) accept(buf []byte) (accepted, int, error) {
	c, err := a.l.Accept()
	if err != nil {
		return accepted{}, 0, err
	}
	return accepted{c: c}, readNow(c, buf), nil
}

// netReplyClose writes b to c, if b is not empty, and closes c.
func netReplyClose(c net.Conn, b []byte) error {
	var err error
	if len(b) > 0 {
		_, err = c.Write(b)
	}
	c.Close()
	return err
}

// listenNetwork returns "tcp4" or "tcp6" for an address whose host is an
// IP address of that family, else "tcp".
func listenNetwork(address string) string {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return "tcp"
	}
	ip := net.ParseIP(host)
	switch {
	case ip == nil:
		return "tcp"
	case ip.To4() != nil:
		return "tcp4"
	}
	return "tcp6"
}
