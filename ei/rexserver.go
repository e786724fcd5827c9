package ei

import "context"

// The node's rex server is a process registered as rex, as in erl, that
// serves the rpc protocol older than erpc: erl_interface's ei_rpc and
// ei_global_* functions, and erl's rpc:block_call, send the raw message
// {From, {call, M, F, A, GroupLeader}} or a gen_server call or cast of
// the same, and rex runs M:F(A...) among the functions registered with
// HandleFunc and answers as rpc:call would (see rpcResult). Unlike erl's
// rex, which runs a block_call inside itself, one at a time, it runs
// every call in a goroutine of its own.

// startRexLocked registers the node's rex server as pid; l.mu is held
// (or l is not shared yet).
func (l *layer) startRexLocked(pid Pid) {
	rex := l.newProcess(pid, "rex", nil)
	rex.handle = func(msg Term) { l.serveRex(rex.pid, msg) }
	l.pids[pid] = rex
	l.names["rex"] = rex
}

// newProcess returns a mailbox for one of the node's own processes,
// which drops the messages sent to it until its handle is set.
func (l *layer) newProcess(pid Pid, name Atom, proc *callProc) *Mailbox {
	m := l.newMailbox(pid, name)
	m.handle = func(Term) {}
	m.proc = proc
	return m
}

// serveRex handles a message to rex, on the goroutine delivering it.
func (l *layer) serveRex(self Pid, msg Term) {
	if req, from, ok := ParseCall(msg); ok {
		mod, fun, args, ok := rexCall(req, "call", "block_call")
		if !ok {
			return // rex ignores the calls it does not know
		}
		l.rexRun(from.Pid.Node, mod, fun, args, func(ctx context.Context, result Term) error {
			return l.reply(ctx, self, from, result)
		})
		return
	}
	if req, ok := ParseCast(msg); ok {
		if mod, fun, args, ok := rexCall(req, "cast"); ok {
			l.rexRun("", mod, fun, args, nil)
		}
		return
	}
	t, ok := msg.(Tuple)
	if !ok || len(t) != 2 {
		return
	}
	from, ok := t[0].(Pid)
	if !ok {
		return
	}
	if t[1] == Atom("features_request") {
		l.sendNow(self, from, Tuple{Atom("features_reply"), l.self, List{Atom("erpc")}})
		return
	}
	if mod, fun, args, ok := rexCall(t[1], "call"); ok {
		l.rexRun(from.Node, mod, fun, args, func(ctx context.Context, result Term) error {
			return l.send(ctx, self, from, Tuple{Atom("rex"), result})
		})
		return
	}
	req, ok := t[1].(Tuple)
	if !ok || len(req) != 3 {
		return
	}
	name, ok := req[1].(Atom)
	if !ok || (req[0] != Atom("send") && req[0] != Atom("sbcast")) {
		return
	}
	deliver := req[2]
	if req[0] == Atom("send") {
		deliver = Tuple{from, req[2]}
	}
	switch {
	case !l.deliverName(name, deliver):
		l.sendNow(self, from, Tuple{Atom("rex"), l.self, Tuple{Atom("nonexisting_name"), name}})
	case req[0] == Atom("sbcast"):
		l.sendNow(self, from, Tuple{Atom("rex"), l.self, l.self})
	}
}

// rexCall reads {Kind, M, F, A, GroupLeader} for one of kinds.
func rexCall(req Term, kinds ...Atom) (mod, fun Atom, args List, ok bool) {
	t, ok := req.(Tuple)
	if !ok || len(t) != 5 {
		return "", "", nil, false
	}
	kind, _ := t[0].(Atom)
	found := false
	for _, k := range kinds {
		found = found || kind == k
	}
	mod, ok1 := t[1].(Atom)
	fun, ok2 := t[2].(Atom)
	args, ok3 := asList(t[3])
	return mod, fun, args, found && ok1 && ok2 && ok3
}

// rexRun runs mod:fun(args...) for a caller on node (or "" for a cast)
// in a goroutine, and answers with reply (nil for a cast) as rex does.
func (l *layer) rexRun(node Atom, mod, fun Atom, args List, reply func(ctx context.Context, result Term) error) {
	cs := l.peerConn(node)
	in := l.startIncoming(cs)
	if in == nil {
		if reply != nil && !l.isClosed() {
			l.goIfOpen(func() { reply(l.ctx, Tuple{Atom("badrpc"), Tuple{Atom("EXIT"), errSystemLimit}}) })
		}
		return
	}
	go func() {
		defer in.end(l)
		v, exc := l.apply(in.ctx, mod, fun, args)
		if reply == nil {
			if exc != nil {
				l.node.logger().Warn("ei: rpc cast failed", "mfa", mfaString(mod, fun, len(args)), "err", exc)
			}
			return
		}
		if exc != nil {
			v = rpcResult(exc)
		}
		if err := reply(l.ctx, v); err != nil {
			l.node.logger().Debug("ei: rpc reply", "mfa", mfaString(mod, fun, len(args)), "err", err)
		}
	}()
}

// goIfOpen runs f in a goroutine that Node.Close waits for, unless the
// layer is closed.
func (l *layer) goIfOpen(f func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.goLocked(f)
}

// peerConn returns the connection to node, if it is up.
func (l *layer) peerConn(node Atom) *connState {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if p := l.peers[node]; p != nil {
		return p.cs
	}
	return nil
}

// sendNow sends msg from the local process from to to, over the
// connection to its node if it is up (never making one), or to a local
// process; it is for answers sent on a connection's read goroutine.
func (l *layer) sendNow(from Pid, to Pid, msg Term) {
	if l.isLocal(to.Node) {
		l.deliverPid(to, msg)
		return
	}
	cs := l.peerConn(to.Node)
	if cs == nil {
		return
	}
	if err := cs.conn.SendControl(context.Background(), cs.sendControl(from, to), msg); err != nil {
		cs.conn.log.Debug("ei: send answer", "to", to, "err", err)
	}
}

// ioServer returns the group leader of the processes our spawn requests
// create: a process of this node that answers every io request, taking
// output and giving end of file, so that io:format in a function called
// by ERPCCall neither blocks nor fails. A new one is made when the
// node's creation changed (Listener.Publish), since erl drops messages
// to pids of another creation.
func (l *layer) ioServer() Pid {
	creation := l.node.creation.Load()
	l.mu.RLock()
	io := l.io
	l.mu.RUnlock()
	if io != nil && io.pid.Creation == creation {
		return io.pid
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.io != nil && l.io.pid.Creation == creation {
		return l.io.pid
	}
	pid, err := l.node.Pid()
	if err != nil || l.closed {
		return pid
	}
	io = l.newProcess(pid, "", nil)
	io.handle = func(msg Term) { l.serveIO(pid, msg) }
	l.pids[pid] = io
	l.io = io
	return pid
}

// serveIO answers an io request, {io_request, From, ReplyAs, Request},
// with {io_reply, ReplyAs, Reply}.
func (l *layer) serveIO(self Pid, msg Term) {
	t, ok := msg.(Tuple)
	if !ok || len(t) != 4 || t[0] != Atom("io_request") {
		return
	}
	from, ok := t[1].(Pid)
	if !ok {
		return
	}
	l.sendNow(self, from, Tuple{Atom("io_reply"), t[2], ioReply(t[3])})
}

// ioReply is the answer of a null device to an io request (see the
// Erlang I/O protocol): output and options are accepted, input is at its
// end.
func ioReply(req Term) Term {
	t, ok := req.(Tuple)
	if !ok || len(t) == 0 {
		if req == Atom("getopts") {
			return List{}
		}
		return Tuple{Atom("error"), Atom("request")}
	}
	switch t[0] {
	case Atom("put_chars"), Atom("setopts"):
		return Atom("ok")
	case Atom("get_chars"), Atom("get_line"), Atom("get_until"), Atom("get_password"):
		return Atom("eof")
	case Atom("requests"):
		if len(t) != 2 {
			return Tuple{Atom("error"), Atom("request")}
		}
		reqs, _ := t[1].(List)
		var r Term = Atom("ok")
		for _, q := range reqs {
			if r = ioReply(q); r != Atom("ok") {
				break
			}
		}
		return r
	}
	return Tuple{Atom("error"), Atom("enotsup")}
}
