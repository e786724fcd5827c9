//go:build !linux

package epmd

import (
	"net"
	"syscall"
	"time"
)

// deferAccept does nothing where TCP_DEFER_ACCEPT does not exist.
func deferAccept(c syscall.RawConn) bool { return false }

// rawListen returns l: only on Linux does Serve accept with raw system calls.
func rawListen(l net.Listener, deferred bool) net.Listener { return l }

// newAccepter returns how Serve accepts on l: l.Accept.
func newAccepter(l net.Listener) accepter { return netAccepter{l} }

// accepted is a connection Serve has just accepted.
type accepted struct {
	c      net.Conn
	waited time.Duration // how long it had been idle when accepted: unknown here
}

// replyClose writes b, if not empty, and closes the connection.
func (a *accepted) replyClose(b []byte) error { return netReplyClose(a.c, b) }

// conn returns the connection as a net.Conn.
func (a *accepted) conn() net.Conn { return a.c }
