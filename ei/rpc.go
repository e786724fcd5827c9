package ei

import (
	"context"
	"fmt"
)

// RPC calls mod:fun(args...) on the peer through its rex server, as
// erl_interface's ei_rpc does, and returns the result.
//
// It sends {Self, {call, Mod, Fun, Args, user}} to rex from a fresh pid and
// waits for {rex, Result}. The reply is routed to this call by the
// connection's read goroutine, so RPC works while other goroutines
// Receive, and several RPCs may run at once. A result of {badrpc, Reason}
// (the function raised, or the module does not exist) is returned as an
// *RPCError. Errors sending the request or losing the connection are
// wrapped; after Close they wrap ErrClosed.
//
// Cancelling ctx abandons the call (the error wraps ctx.Err()); a reply
// that arrives later is dropped rather than returned by Receive. The Conn
// remembers up to 1024 abandoned calls for this; replies to calls
// abandoned beyond that go to Receive.
func (c *Conn) RPC(ctx context.Context, mod, fun Atom, args List) (Term, error) {
	self, err := c.node.Pid()
	if err != nil {
		return nil, err
	}
	if args == nil {
		args = List{}
	}
	ch := make(chan Term, 1)
	c.rpcMu.Lock()
	c.rpcWait[self] = ch
	c.rpcN.Store(int32(len(c.rpcWait)))
	c.rpcMu.Unlock()
	abandon := false
	defer func() {
		c.rpcMu.Lock()
		if abandon && c.rpcAbandoned < maxAbandonedRPCs {
			c.rpcWait[self] = nil // drop the reply when it comes
			c.rpcAbandoned++
		} else {
			delete(c.rpcWait, self)
		}
		c.rpcN.Store(int32(len(c.rpcWait)))
		c.rpcMu.Unlock()
	}()

	req := Tuple{self, Tuple{Atom("call"), mod, fun, args, Atom("user")}}
	if err := c.RegSend(ctx, self, "rex", req); err != nil {
		return nil, wrapf(err, "ei: rpc %s:%s", mod, fun)
	}
	c.needReader()
	var reply Term
	select {
	case reply = <-ch:
	case <-c.readDone:
		return nil, wrapf(c.readErr, "ei: rpc %s:%s", mod, fun)
	case <-ctx.Done():
		select {
		case <-ch: // answered just now
		default:
			abandon = true
		}
		return nil, wrapf(ctx.Err(), "ei: rpc %s:%s", mod, fun)
	}
	t, ok := reply.(Tuple)
	if !ok || len(t) != 2 || t[0] != Atom("rex") {
		return nil, &ProtocolError{Msg: fmt.Sprintf("ei: rpc %s:%s: reply %s is not {rex, Result}", mod, fun, FormatTerm(reply))}
	}
	if bad, ok := t[1].(Tuple); ok && len(bad) == 2 && bad[0] == Atom("badrpc") {
		return nil, &RPCError{Reason: bad[1]}
	}
	return t[1], nil
}

// maxAbandonedRPCs bounds the abandoned RPC calls whose late replies a
// Conn drops.
const maxAbandonedRPCs = 1024

// rpcReply hands a message sent to pid to the RPC waiting for it, or drops
// it if that call was abandoned. It reports whether pid was an RPC's.
func (c *Conn) rpcReply(to Pid, payload Term) bool {
	if c.rpcN.Load() == 0 {
		return false
	}
	c.rpcMu.Lock()
	ch, ok := c.rpcWait[to]
	if ok && ch == nil {
		delete(c.rpcWait, to)
		c.rpcAbandoned--
		c.rpcN.Store(int32(len(c.rpcWait)))
	}
	c.rpcMu.Unlock()
	if ch == nil {
		return ok
	}
	select {
	case ch <- payload:
	default: // a second reply to the same pid: drop it
	}
	return true
}
