package epmd

import "syscall"

// deferAcceptSeconds is how long the kernel holds a connection that has
// sent nothing before handing it over anyway.
const deferAcceptSeconds = 5

// deferAccept sets TCP_DEFER_ACCEPT on a listening socket. Failing to is
// not an error: the listener then works as usual.
func deferAccept(network, address string, c syscall.RawConn) error {
	return c.Control(func(fd uintptr) {
		syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_DEFER_ACCEPT, deferAcceptSeconds)
	})
}
