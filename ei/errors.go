package ei

import (
	"errors"
	"fmt"
	"strings"
)

// ProtocolError reports bytes that do not form valid External Term Format
// (or, for other parts of the package, a valid protocol message).
// Offset is the position of the offending byte in the input.
type ProtocolError struct {
	Offset int
	Msg    string // starts with "ei: "
}

func (e *ProtocolError) Error() string {
	return fmt.Sprintf("%s (at offset %d)", e.Msg, e.Offset)
}

// HandshakeError reports a peer that refused a distribution handshake with
// a status such as "not_allowed" or "nok" (recv_status in the spec).
type HandshakeError struct {
	Peer   string // the peer's node name, or its address when not known (see Node.ClientConn)
	Status string // the status the peer sent
}

func (e *HandshakeError) Error() string {
	return fmt.Sprintf("ei: handshake with %s: peer refused with status %q", e.Peer, e.Status)
}

// ErrAuth reports a handshake that failed because the two nodes have
// different cookies: a challenge digest did not match, or the peer closed
// the connection right after our challenge reply, as erl does when our
// digest is wrong. It is wrapped with the peer's name.
var ErrAuth = errors.New("ei: authentication failed (cookies differ)")

// ErrClosed is returned by Conn methods after Close, and by
// Listener.Accept and Listener.Publish after Listener.Close.
var ErrClosed = errors.New("ei: use of closed connection")

// ErrTimeout reports a connection closed because the peer sent nothing,
// not even a tick, for the net tick time.
var ErrTimeout = errors.New("ei: peer not responding (net tick timeout)")

// RPCError reports an rpc call that the remote rex server answered with
// {badrpc, Reason}. Its message shows Reason in Erlang syntax (see
// FormatTerm).
type RPCError struct {
	Reason Term
}

func (e *RPCError) Error() string {
	return "ei: rpc: badrpc: " + FormatTerm(e.Reason)
}

// wrappedError is an error with context around it. Its message starts
// with the context, which has the "ei: " prefix, and leaves out the
// prefix of the wrapped error, so that it appears once.
type wrappedError struct {
	msg string
	err error
}

func (e *wrappedError) Error() string { return e.msg }
func (e *wrappedError) Unwrap() error { return e.err }

// wrapf wraps err under the context format, which starts with "ei: ".
// Unlike fmt.Errorf with %w, the message has the "ei: " prefix once.
func wrapf(err error, format string, args ...any) error {
	return &wrappedError{
		msg: fmt.Sprintf(format, args...) + ": " + strings.TrimPrefix(err.Error(), "ei: "),
		err: err,
	}
}
