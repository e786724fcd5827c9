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
// *RPCError. Cancelling ctx abandons the call; a reply that arrives later is
// dropped.
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
	c.rpcMu.Unlock()
	c.rpcN.Add(1)
	defer func() {
		c.rpcMu.Lock()
		delete(c.rpcWait, self)
		c.rpcMu.Unlock()
		c.rpcN.Add(-1)
	}()

	req := Tuple{self, Tuple{Atom("call"), mod, fun, args, Atom("user")}}
	if err := c.RegSend(ctx, self, "rex", req); err != nil {
		return nil, fmt.Errorf("ei: rpc %s:%s: %w", mod, fun, err)
	}
	var reply Term
	select {
	case reply = <-ch:
	case <-c.readDone:
		return nil, fmt.Errorf("ei: rpc %s:%s: %w", mod, fun, c.readErr)
	case <-ctx.Done():
		return nil, fmt.Errorf("ei: rpc %s:%s: %w", mod, fun, ctx.Err())
	}
	t, ok := reply.(Tuple)
	if !ok || len(t) != 2 || t[0] != Atom("rex") {
		return nil, &ProtocolError{Msg: fmt.Sprintf("ei: rpc %s:%s: reply %v is not {rex, Result}", mod, fun, reply)}
	}
	if bad, ok := t[1].(Tuple); ok && len(bad) == 2 && bad[0] == Atom("badrpc") {
		return nil, &RPCError{Reason: bad[1]}
	}
	return t[1], nil
}

// rpcReply hands a message sent to pid to the RPC waiting for it. It
// reports whether there was one.
func (c *Conn) rpcReply(to Pid, payload Term) bool {
	if c.rpcN.Load() == 0 {
		return false
	}
	c.rpcMu.Lock()
	ch := c.rpcWait[to]
	c.rpcMu.Unlock()
	if ch == nil {
		return false
	}
	select {
	case ch <- payload:
	default: // a second reply to the same pid: drop it
	}
	return true
}
