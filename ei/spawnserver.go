package ei

import "context"

// callProc is the process a spawn request from another node creates: a
// mailbox that runs a registered function, drops the messages sent to
// it and, unlike mailboxes, does not trap exits: an exit signal with a
// reason other than normal ends it.
type callProc struct {
	in     *incoming
	result bool // erpc:execute_call: the caller's monitor is all that wants the result
}

// exitSignal delivers the exit signal from from with reason to m, one
// of a link when link is set, else of exit/2: as the message {'EXIT',
// From, Reason} to a mailbox, which traps exits, and by ending a call's
// process unless reason is normal. As in erl, exit/2 with reason kill
// ends it with reason killed, a linked process's exit with reason kill
// with reason kill.
func (m *Mailbox) exitSignal(from Pid, reason Term, link bool) {
	if m.proc == nil {
		m.push(exitTerm(from, reason))
		return
	}
	switch {
	case reason == Atom("normal"):
		return
	case reason == Atom("kill") && !link:
		reason = Atom("killed")
	}
	// Exit first: the function, seeing its context end, must not exit
	// with a reason of its own.
	m.Exit(context.Background(), reason)
	m.proc.in.cancel()
}

// spawnRequest is a spawn request parsed (see parseSpawnRequest).
type spawnRequest struct {
	SpawnRequest
	args    List
	link    bool
	monitor bool
	erpc    string // "call" or "cast" for erpc's execute_call and execute_cast, else ""
	res     Term   // erpc call: the result tag
	mod     Atom   // the function to run
	fun     Atom
	fargs   List
}

// parseSpawnRequest reads what to run from a spawn request and its
// argument list: erpc:execute_call(Res, M, F, A), erpc:execute_cast(M, F,
// A), or any M:F(Args...). It returns the reason to refuse the request
// with (badarg) when the arguments do not match the arity, or erpc's are
// malformed; unknown options are ignored, as erl ignores those it does
// not know of spawn_opt.
func parseSpawnRequest(m SpawnRequest, payload Term) (spawnRequest, Atom) {
	r := spawnRequest{SpawnRequest: m}
	args, ok := asList(payload)
	if !ok || len(args) != m.Arity {
		return r, "badarg"
	}
	r.args = args
	for _, o := range m.Opts {
		switch o := o.(type) {
		case Atom:
			r.link = r.link || o == "link"
			r.monitor = r.monitor || o == "monitor"
		case Tuple:
			r.monitor = r.monitor || len(o) == 2 && o[0] == Atom("monitor")
		}
	}
	r.mod, r.fun, r.fargs = m.Module, m.Function, args
	if m.Module != "erpc" {
		return r, ""
	}
	var mfa List
	switch {
	case m.Function == "execute_call" && m.Arity == 4:
		r.erpc, r.res, mfa = "call", args[0], args[1:]
	case m.Function == "execute_cast" && m.Arity == 3:
		r.erpc, mfa = "cast", args
	default:
		return r, ""
	}
	mod, ok1 := mfa[0].(Atom)
	fun, ok2 := mfa[1].(Atom)
	fargs, ok3 := asList(mfa[2])
	if !ok1 || !ok2 || !ok3 {
		return r, "badarg"
	}
	r.mod, r.fun, r.fargs = mod, fun, fargs
	return r, ""
}

// asList returns t as a List: a List, or a String (erl sends lists of
// small integers as STRING_EXT).
func asList(t Term) (List, bool) {
	switch t := t.(type) {
	case List:
		return t, true
	case String:
		return t.elems(), true
	}
	return nil, false
}

// spawned handles SPAWN_REQUEST from the peer: it creates a process for
// the call, links and monitors it as asked, answers with SPAWN_REPLY and
// runs the function in a goroutine.
func (cs *connState) spawned(m SpawnRequest, payload Term) {
	l := cs.l
	r, refused := parseSpawnRequest(m, payload)
	if refused != "" {
		cs.reply(SpawnReply{ReqID: m.ReqID, To: m.From, Result: refused})
		return
	}
	in := l.startIncoming(cs)
	if in == nil {
		cs.reply(SpawnReply{ReqID: m.ReqID, To: m.From, Result: errSystemLimit})
		return
	}
	p, flags := l.newCallProc(cs, r, in)
	if p == nil {
		in.end(l)
		cs.reply(SpawnReply{ReqID: m.ReqID, To: m.From, Result: errSystemLimit})
		return
	}
	if err := cs.conn.SendControl(context.Background(), SpawnReply{ReqID: m.ReqID, To: m.From, Flags: flags, Result: p.pid}, nil); err != nil {
		in.cancel()
		p.Exit(context.Background(), Atom("noconnection"))
		in.end(l)
		return
	}
	go p.runCall(r)
}

// newCallProc creates the process of the spawn request r and its link
// and monitor; it returns nil if the layer is closed or the connection
// lost.
func (l *layer) newCallProc(cs *connState, r spawnRequest, in *incoming) (*Mailbox, int) {
	pid, err := l.node.Pid()
	if err != nil {
		return nil, 0
	}
	m := l.newProcess(pid, "", &callProc{in: in, result: r.erpc == "call"})
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || cs.lost {
		return nil, 0
	}
	l.pids[pid] = m
	flags := 0
	if r.link {
		l.addLinkLocked(&link{mb: m, peer: r.From, cs: cs})
		flags |= spawnLinked
	}
	if r.monitor {
		key := keyOf(r.ReqID)
		l.addMonitorLocked(&monitor{ref: r.ReqID, key: key, watcher: r.From, target: pid, tmb: m, cs: cs})
		flags |= spawnMonitored
	}
	return m, flags
}

// runCall runs the call of the process m and ends m with the exit reason
// that tells the result: erpc's {Res, return, Value} and the like for
// erpc:execute_call, normal or the exception's reason otherwise.
func (m *Mailbox) runCall(r spawnRequest) {
	l := m.l
	in := m.proc.in
	defer in.end(l)
	v, exc := l.apply(in.ctx, r.mod, r.fun, r.fargs)
	var reason Term = Atom("normal")
	switch {
	case r.erpc == "call" && exc == nil:
		reason = Tuple{r.res, Atom("return"), v}
	case r.erpc == "call" && exc.Signal:
		reason = exc.Reason
	case r.erpc == "call" && exc.Class == "error":
		reason = Tuple{r.res, exc.Class, exc.Reason, exc.Stack}
	case r.erpc == "call":
		reason = Tuple{r.res, exc.Class, exc.Reason}
	case exc == nil:
	case r.erpc == "cast":
		l.node.logger().Warn("ei: erpc cast failed", "mfa", mfaString(r.mod, r.fun, len(r.fargs)), "err", exc)
	default:
		reason = processExit(exc, r.mod, r.fun, len(r.fargs))
	}
	m.Exit(context.Background(), reason)
}

// processExit is the exit reason of an Erlang process whose call of
// mod:fun/arity raised exc.
func processExit(exc *Exception, mod, fun Atom, arity int) Term {
	stack := exc.Stack
	if stack == nil {
		stack = List{Tuple{mod, fun, int64(arity), List{}}}
	}
	switch {
	case exc.Signal || exc.Class == "exit":
		return exc.Reason
	case exc.Class == "throw":
		return Tuple{Tuple{Atom("nocatch"), exc.Reason}, stack}
	}
	return Tuple{exc.Reason, stack}
}

// spawnDemonitored runs when the monitor ref on the call process m is
// removed: an erpc call abandoned by its caller (its timeout). Nobody can
// get the result any more, so the function's context ends.
func (m *Mailbox) spawnDemonitored() {
	if m.proc != nil && m.proc.result {
		m.proc.in.cancel()
	}
}
