package epmd

import (
	"context"
	"net"
)

// Listen opens a TCP listener on address tuned for Server: TCP keep-alive
// is off, as in OTP's epmd, and on Linux the kernel hands over a connection
// only once its first bytes have arrived (TCP_DEFER_ACCEPT), so a lookup
// is usually answered without waiting or starting a goroutine. A client
// that connects and sends nothing is accepted a few seconds later, and
// then dropped after Server.PacketTimeout. ListenAndServe uses Listen.
func Listen(ctx context.Context, address string) (net.Listener, error) {
	lc := net.ListenConfig{KeepAlive: -1, Control: deferAccept}
	return lc.Listen(ctx, "tcp", address)
}
