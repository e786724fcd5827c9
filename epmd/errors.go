package epmd

import (
	"errors"
	"fmt"
)

// ErrNotRegistered is returned by PortPlease when epmd knows no node by that
// name, and by Unpublish when there is nothing to stop.
var ErrNotRegistered = errors.New("epmd: name not registered")

// ErrNotAllowed is returned by Kill, Unpublish and Dump when epmd refuses
// the request. OTP's epmd answers KILL_REQ with "NO" while nodes are
// registered, and closes the connection without a reply to STOP_REQ unless
// it runs with -relaxed_command_check, and to KILL_REQ, STOP_REQ and
// DUMP_REQ from non-local addresses.
var ErrNotAllowed = errors.New("epmd: request not allowed")

// ErrNameInUse is returned (wrapped, inside a *RefusedError) by Publish
// when epmd refuses to register the name, and is the error of a
// Registration that cannot register again because another node took its
// name. epmd refuses a name that is already registered; OTP's epmd answers
// every refusal with the same result, and Publish checks the other reasons
// (an invalid name, too much extra data) before it asks, so erl reads the
// refusal as duplicate_name too.
var ErrNameInUse = errors.New("epmd: name in use")

// ErrServerClosed is returned by Server.Serve and Server.ListenAndServe after
// Shutdown or Close.
var ErrServerClosed = errors.New("epmd: server closed")

// ProtocolError reports bytes that do not form a valid EPMD message.
type ProtocolError struct {
	Offset int    // byte offset into the message where decoding failed
	Msg    string // what was wrong
}

func (e *ProtocolError) Error() string {
	return fmt.Sprintf("epmd: protocol error at offset %d: %s", e.Offset, e.Msg)
}

// RefusedError reports a request that epmd understood and refused, such as an
// ALIVE2_REQ for a name already in use. A refused "alive2" matches
// ErrNameInUse with errors.Is.
type RefusedError struct {
	Op     string // the request, e.g. "alive2"
	Result uint8  // the non-zero result byte from the reply
}

func (e *RefusedError) Error() string {
	if e.Op == "alive2" {
		return fmt.Sprintf("epmd: name in use (ALIVE2_REQ refused with result %d)", e.Result)
	}
	return fmt.Sprintf("epmd: %s refused with result %d", e.Op, e.Result)
}

// Is reports whether target is ErrNameInUse and e a refused ALIVE2_REQ.
func (e *RefusedError) Is(target error) bool {
	return target == ErrNameInUse && e.Op == "alive2"
}
