package ei

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Exception is an Erlang exception raised by a function called on another
// node, as erpc:call raises it in the caller:
//
//   - Class throw: the function threw Reason (throw(Reason)).
//   - Class exit: the function exited with Reason (exit(Reason)), which
//     erpc raises as exit({exception, Reason}); with Signal set, the
//     process running the function was killed by an exit signal with
//     Reason, erpc's exit({signal, Reason}).
//   - Class error: a run-time error, erpc's error({exception, Reason,
//     Stack}); Stack is the stack trace from the called function down.
//
// A Func returns an *Exception (or an error wrapping one) to raise it in
// its Erlang caller; see Func.
type Exception struct {
	Class  Atom // error, exit or throw
	Reason Term
	Stack  Term // for class error: a list of {Module, Function, ArityOrArgs, Location}
	Signal bool // class exit: the process was killed by an exit signal
}

func (e *Exception) Error() string {
	switch {
	case e.Signal:
		return "ei: erpc: exit signal: " + FormatTerm(e.Reason)
	case e.Class == "error" && e.Stack != nil:
		return fmt.Sprintf("ei: erpc: error: %s, stack %s", FormatTerm(e.Reason), FormatTerm(e.Stack))
	}
	return fmt.Sprintf("ei: erpc: %s: %s", e.Class, FormatTerm(e.Reason))
}

// ERPCError is an erpc operation that failed, erpc's error({erpc,
// Reason}) rather than an exception of the called function. The reasons
// are erpc's:
//
//   - timeout: the context ended first; Err is ctx.Err(), so errors.Is
//     tells context.DeadlineExceeded and context.Canceled apart. The
//     function may or may not be applied; its result is dropped.
//   - noconnection: the connection to the node could not be set up or
//     was lost during the call (Err says why). The function may or may
//     not be applied.
//   - notsup: the node does not support spawn requests (it is not an
//     OTP 23 or later node).
//   - system_limit: the node could not create a process for the call.
//   - badarg: the arguments of the call were refused.
type ERPCError struct {
	Reason Term
	Err    error // the underlying error, if any
}

func (e *ERPCError) Error() string {
	if e.Err != nil {
		return wrapf(e.Err, "ei: erpc: %s", FormatTerm(e.Reason)).Error()
	}
	return "ei: erpc: " + FormatTerm(e.Reason)
}

func (e *ERPCError) Unwrap() error { return e.Err }

// erpcCall is an erpc call of ours under way: a spawn request whose
// monitor brings the result.
type erpcCall struct {
	cs      *connState
	from    Pid
	res     Ref // erpc's result tag
	pid     Pid // the process on the peer, once SPAWN_REPLY came
	started bool
	ch      chan erpcResult // buffered: the first result wins
}

type erpcResult struct {
	down   bool // the process exited with reason
	reason Term
	err    error
}

func (c *erpcCall) finish(r erpcResult) { offer(c.ch, r) }

// ERPCCall calls mod:fun(args...) on the node peer as erpc:call(Peer,
// Mod, Fun, Args) does, and returns the function's result. The function
// runs in a new process on peer (a spawn request, which needs OTP 23 or
// later), monitored by the call, and its result comes as the monitor's
// notification; the reply travels over the node's connection to peer,
// which is made if there is none.
//
// Errors follow erpc: an *Exception when the function raised one (or the
// process running it was killed), an *ERPCError with reason noconnection
// when the connection could not be made or was lost, notsup when peer
// does not support spawn requests, and the reason the peer gave when it
// could not create the process. Cancelling ctx abandons the call as
// erpc's timeout does (spawn_request_abandon, or a demonitor once the
// process runs): ERPCCall returns an *ERPCError with reason timeout
// wrapping ctx.Err(), and the result, if it comes, is dropped. After
// Node.Close, it returns ErrClosed.
//
// A call to the node itself runs the function registered with HandleFunc
// in the calling goroutine, as erpc:call does on its own node.
func (n *Node) ERPCCall(ctx context.Context, peer Atom, mod, fun Atom, args List) (Term, error) {
	l, args, local, err := n.erpcStart(peer, args)
	if err != nil {
		return nil, err
	}
	if local {
		return l.callLocal(ctx, mod, fun, args)
	}
	cs, req, err := l.newSpawnRequest(ctx, peer, "execute_call", 4, List{Atom("monitor")})
	if err != nil {
		return nil, err
	}
	res, err := n.Ref()
	if err != nil {
		return nil, err
	}
	key := keyOf(req.ReqID)
	c := &erpcCall{cs: cs, from: req.From, res: res, ch: make(chan erpcResult, 1)}
	l.mu.Lock()
	switch {
	case l.closed:
		l.mu.Unlock()
		return nil, ErrClosed
	case cs.lost:
		l.mu.Unlock()
		return nil, &ERPCError{Reason: Atom("noconnection"), Err: cs.conn.Err()}
	}
	l.erpcs[key] = c
	l.mu.Unlock()

	if err := cs.conn.SendControl(ctx, req, List{res, mod, fun, args}); err != nil {
		l.abandon(key, c)
		return nil, erpcSendError(ctx, err)
	}
	select {
	case r := <-c.ch:
		return erpcOutcome(r, res)
	case <-ctx.Done():
		if !l.abandon(key, c) {
			return erpcOutcome(<-c.ch, res) // finished just now
		}
		return nil, &ERPCError{Reason: Atom("timeout"), Err: ctx.Err()}
	}
}

// erpcStart starts the node's layer for an erpc operation on peer with
// args, and reports whether peer is the node itself.
func (n *Node) erpcStart(peer Atom, args List) (l *layer, _ List, local bool, err error) {
	if l, err = n.startLayer(); err != nil {
		return nil, nil, false, err
	}
	if args == nil {
		args = List{}
	}
	return l, args, l.isLocal(peer), nil
}

// newSpawnRequest returns the connection to peer and a spawn request of
// erpc:fun/arity with opts to send on it, from a new pid.
func (l *layer) newSpawnRequest(ctx context.Context, peer, fun Atom, arity int, opts List) (*connState, SpawnRequest, error) {
	cs, err := l.erpcConn(ctx, peer)
	if err != nil {
		return nil, SpawnRequest{}, err
	}
	from, err := l.node.Pid()
	if err != nil {
		return nil, SpawnRequest{}, err
	}
	reqID, err := l.node.Ref()
	if err != nil {
		return nil, SpawnRequest{}, err
	}
	return cs, SpawnRequest{
		ReqID: reqID, From: from, GroupLeader: l.ioServer(),
		Module: "erpc", Function: fun, Arity: arity, Opts: opts,
	}, nil
}

// erpcSendError is the error of an erpc operation whose request could
// not be sent.
func erpcSendError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return &ERPCError{Reason: Atom("timeout"), Err: ctx.Err()}
	}
	return &ERPCError{Reason: Atom("noconnection"), Err: err}
}

// erpcConn returns the connection to peer for an erpc call, with errors
// as erpc gives them.
func (l *layer) erpcConn(ctx context.Context, peer Atom) (*connState, error) {
	cs, err := l.conn(ctx, peer)
	switch {
	case errors.Is(err, ErrClosed):
		return nil, err
	case err != nil && ctx.Err() != nil:
		return nil, &ERPCError{Reason: Atom("timeout"), Err: ctx.Err()}
	case err != nil:
		return nil, &ERPCError{Reason: Atom("noconnection"), Err: err}
	case cs.conn.Flags()&FlagSpawn == 0:
		return nil, &ERPCError{Reason: Atom("notsup")}
	}
	return cs, nil
}

// abandon forgets the call under key, as spawn_request_abandon does, and
// reports whether it was still under way. When its process runs, the
// monitor on it is removed; when the spawn reply is still to come,
// spawnReplied removes it then.
func (l *layer) abandon(key refKey, c *erpcCall) bool {
	l.mu.Lock()
	if l.erpcs[key] != c {
		l.mu.Unlock()
		return false
	}
	delete(l.erpcs, key)
	started, lost := c.started, c.cs.lost
	if started && !lost {
		l.goLocked(func() {
			c.cs.reply(DemonitorP{From: c.from, To: c.pid, Ref: refOfKey(key)})
		})
	}
	l.mu.Unlock()
	return true
}

// goLocked runs f in a goroutine that Node.Close waits for, unless the
// layer is closed; l.mu is held.
func (l *layer) goLocked(f func()) {
	if l.closed {
		return
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		f()
	}()
}

// erpcOutcome maps the end of an erpc call to its result, as erpc:call
// does (erpc:result/4).
func erpcOutcome(r erpcResult, res Ref) (Term, error) {
	if r.err != nil {
		return nil, r.err
	}
	if !r.down {
		return nil, &ERPCError{Reason: r.reason} // the spawn failed
	}
	if t, ok := r.reason.(Tuple); ok && len(t) >= 3 && len(t) <= 4 && sameRef(t[0], res) {
		switch {
		case len(t) == 3 && t[1] == Atom("return"):
			return t[2], nil
		case len(t) == 3 && t[1] == Atom("throw"):
			return nil, &Exception{Class: "throw", Reason: t[2]}
		case len(t) == 3 && t[1] == Atom("exit"):
			return nil, &Exception{Class: "exit", Reason: t[2]}
		case len(t) == 4 && t[1] == Atom("error"):
			return nil, &Exception{Class: "error", Reason: t[2], Stack: t[3]}
		case len(t) == 3 && t[1] == Atom("error"):
			if e, ok := t[2].(Tuple); ok && len(e) == 2 && e[0] == Atom("erpc") {
				return nil, &ERPCError{Reason: e[1]}
			}
		}
	}
	if r.reason == Atom("noconnection") {
		return nil, &ERPCError{Reason: Atom("noconnection")}
	}
	return nil, &Exception{Class: "exit", Reason: r.reason, Signal: true}
}

func sameRef(t Term, r Ref) bool {
	x, ok := t.(Ref)
	return ok && keyOf(x) == keyOf(r)
}

func refOfKey(k refKey) Ref {
	return Ref{Node: k.node, Creation: k.creation, ID: append([]uint32(nil), k.id[:k.n]...)}
}

// spawnReplied handles SPAWN_REPLY for a spawn request of ours. The
// reply to a request abandoned before it came, or to an erpc cast, is
// answered as erl answers one to an abandoned request: the monitor is
// removed and a link broken with reason abandoned.
func (cs *connState) spawnReplied(m SpawnReply) {
	l := cs.l
	key := keyOf(m.ReqID)
	l.mu.Lock()
	c := l.erpcs[key]
	if c != nil && c.cs == cs {
		if pid, ok := m.Result.(Pid); ok {
			c.pid, c.started = pid, true
			l.mu.Unlock()
			return
		}
		delete(l.erpcs, key)
		l.mu.Unlock()
		c.finish(erpcResult{reason: m.Result})
		return
	}
	l.mu.Unlock()
	pid, ok := m.Result.(Pid)
	if !ok {
		return
	}
	if m.Flags&spawnMonitored != 0 {
		cs.reply(DemonitorP{From: m.To, To: pid, Ref: m.ReqID})
	}
	if m.Flags&spawnLinked != 0 {
		cs.reply(Exit{From: m.To, To: pid, Reason: Atom("abandoned")})
	}
}

// erpcDown handles the exit of the process of an erpc call of ours
// (MONITOR_P_EXIT with the call's reference), and reports whether ref
// was one.
func (cs *connState) erpcDown(ref Ref, reason Term) bool {
	l := cs.l
	key := keyOf(ref)
	l.mu.Lock()
	c := l.erpcs[key]
	if c == nil || c.cs != cs {
		l.mu.Unlock()
		return false
	}
	delete(l.erpcs, key)
	l.mu.Unlock()
	c.finish(erpcResult{down: true, reason: reason})
	return true
}

// erpcsLostLocked removes the erpc calls over cs, whose connection went
// down, and returns them; l.mu is held.
func (l *layer) erpcsLostLocked(cs *connState) []*erpcCall {
	var lost []*erpcCall
	for key, c := range l.erpcs {
		if c.cs == cs {
			delete(l.erpcs, key)
			lost = append(lost, c)
		}
	}
	return lost
}

// ERPCCast calls mod:fun(args...) on the node peer without waiting for
// a result, as erpc:cast(Peer, Mod, Fun, Args) does: the function runs in
// a new process on peer, and nothing comes back, not even an exception
// (which peer logs). Unlike erpc:cast, ERPCCast reports connecting and
// sending errors (as *ERPCError with reason noconnection or notsup, or
// timeout when ctx ends first); that it returns nil means the request was
// written, not that the function ran. A cast to the node itself runs the
// registered function in a new goroutine, bounded as calls from other
// nodes are (see Node.MaxCalls).
func (n *Node) ERPCCast(ctx context.Context, peer Atom, mod, fun Atom, args List) error {
	l, args, local, err := n.erpcStart(peer, args)
	if err != nil {
		return err
	}
	if local {
		return l.castLocal(mod, fun, args)
	}
	cs, req, err := l.newSpawnRequest(ctx, peer, "execute_cast", 3, List{})
	if err != nil {
		return err
	}
	if err := cs.conn.SendControl(ctx, req, List{mod, fun, args}); err != nil {
		return erpcSendError(ctx, err)
	}
	return nil
}

// ERPCResult is the outcome of an erpc call on one node of a multicall:
// the function's result, or the error ERPCCall would return.
type ERPCResult struct {
	Value Term
	Err   error
}

// ERPCMulticall calls mod:fun(args...) on each of the nodes in peers at
// once, as erpc:multicall(Peers, Mod, Fun, Args) does, and returns their
// outcomes in the order of peers. Each is what ERPCCall would return for
// that node; when ctx ends, the calls still under way are abandoned with
// reason timeout.
func (n *Node) ERPCMulticall(ctx context.Context, peers []Atom, mod, fun Atom, args List) []ERPCResult {
	out := make([]ERPCResult, len(peers))
	var wg sync.WaitGroup
	for i, peer := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i].Value, out[i].Err = n.ERPCCall(ctx, peer, mod, fun, args)
		}()
	}
	wg.Wait()
	return out
}
