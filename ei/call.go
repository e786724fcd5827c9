package ei

import (
	"context"
	"fmt"
)

// CallError reports a call that ended without a reply because the server
// exited, as gen_server:call exits: Reason is the server's exit reason,
// noproc when there was no such process, and {nodedown, Node} when the
// connection to its node was lost.
type CallError struct {
	Reason Term
}

func (e *CallError) Error() string {
	return fmt.Sprintf("ei: call: server exited: %v", e.Reason)
}

// call is a gen_server call under way. Its monitor's reference is also
// the alias its reply is sent to.
type call struct {
	mb   *Mailbox
	key  refKey
	node Atom            // the server's node
	ch   chan callResult // buffered: the first result wins
}

type callResult struct {
	reply  Term
	down   bool // the server exited with reason
	reason Term
	err    error
}

// finish hands r to the call, unless it has a result already.
func (cl *call) finish(r callResult) { offer(cl.ch, r) }

// offer sends v on ch, a channel with room for one value, unless ch
// holds one already: the first value wins.
func offer[T any](ch chan<- T, v T) {
	select {
	case ch <- v:
	default:
	}
}

// reply finishes the call with the reply {Tag, Reply} in msg.
func (cl *call) reply(msg Term) {
	if t, ok := msg.(Tuple); ok && len(t) == 2 {
		cl.finish(callResult{reply: t[1]})
	}
}

// callReply returns the call a message {Tag, Reply} answers, if any; l.mu
// is held.
func (l *layer) callReply(msg Term) *call {
	t, ok := msg.(Tuple)
	if !ok || len(t) != 2 {
		return nil
	}
	ref, ok := t[0].(Ref)
	if !ok {
		if ref, ok = callAlias(t[0]); !ok {
			return nil
		}
	}
	return l.calls[keyOf(ref)]
}

// deliverAlias delivers msg sent to the alias ref. The only aliases are
// those of calls under way; messages to others are dropped, as erl drops
// messages to inactive aliases.
func (l *layer) deliverAlias(ref Ref, msg Term) {
	l.mu.RLock()
	cl := l.calls[keyOf(ref)]
	l.mu.RUnlock()
	if cl != nil {
		cl.reply(msg)
	}
}

// Call makes a gen_server call: it sends {'$gen_call', {Self, Tag}, Req}
// to the process to (a Pid or a RegName) and returns the Reply of the
// answer {Tag, Reply}, as gen_server:call(To, Req) does. Like
// gen_server, it monitors the server during the call, so that a server
// that does not exist or exits before replying ends the call at once with
// a *CallError holding its exit reason; and on connections with
// FlagAlias (OTP 24 and later) the tag is [alias|Ref], so that a reply
// coming after the call ended is dropped rather than queued.
//
// Cancelling ctx abandons the call (the error wraps ctx.Err()); there is
// no default timeout. Replies never enter the mailbox's queue, so calls
// may run alongside each other and alongside Receive. Errors connecting
// and sending are as for Send; after the mailbox exited, Call returns
// ErrClosed.
func (m *Mailbox) Call(ctx context.Context, to Dest, req Term) (Term, error) {
	if to == nil {
		return nil, errNilDest
	}
	l := m.l
	ref, err := m.node.Ref()
	if err != nil {
		return nil, err
	}
	node := to.destNode()
	if l.isLocal(node) {
		node = l.self
	}
	cl := &call{mb: m, key: keyOf(ref), node: node, ch: make(chan callResult, 1)}
	mon := &monitor{ref: ref, key: cl.key, watcher: m.pid, wmb: m, target: to, call: cl}
	if err := m.lockAlive(); err != nil {
		return nil, err
	}
	l.calls[cl.key] = cl
	m.ncalls++
	l.mu.Unlock()
	defer m.endCall(mon)

	cs, err := m.startMonitor(ctx, mon)
	if err != nil {
		return nil, err
	}
	var tag Term = ImproperList{Elems: []Term{Atom("alias")}, Tail: ref}
	if node == l.self {
		l.deliverLocal(to, genCall(m.pid, tag, req))
	} else if cs != nil { // else the monitor fired: the connection is down
		if err := m.monitorRemote(ctx, cs, mon); err != nil {
			return nil, err
		}
		if cs.conn.Flags()&FlagAlias == 0 {
			tag = ref
		}
		if err := cs.conn.SendControl(ctx, cs.sendControl(m.pid, to), genCall(m.pid, tag, req)); err != nil {
			return nil, err
		}
	}
	select {
	case r := <-cl.ch:
		switch {
		case r.err != nil:
			return nil, r.err
		case !r.down:
			return r.reply, nil
		case r.reason == Atom("noconnection"):
			return nil, &CallError{Reason: Tuple{Atom("nodedown"), cl.node}}
		}
		return nil, &CallError{Reason: r.reason}
	case <-ctx.Done():
		return nil, fmt.Errorf("ei: call %v: %w", to, ctx.Err())
	}
}

func genCall(from Pid, tag, req Term) Term {
	return Tuple{Atom("$gen_call"), Tuple{from, tag}, req}
}

// endCall removes the call of mon and, if the monitor is still active,
// the monitor.
func (m *Mailbox) endCall(mon *monitor) {
	l := m.l
	l.mu.Lock()
	delete(l.calls, mon.key)
	m.ncalls--
	active := mon.wmb.monitors[mon.key] == mon
	if active {
		l.removeMonitorLocked(mon)
	}
	l.mu.Unlock()
	if active {
		// The call's context may have ended; the demonitor is still due.
		mon.demonitor(context.Background())
	}
}

// Cast sends the gen_server cast {'$gen_cast', Req} to the process to, as
// gen_server:cast(To, Req) does, but reports errors as Send does.
func (m *Mailbox) Cast(ctx context.Context, to Dest, req Term) error {
	return m.Send(ctx, to, Tuple{Atom("$gen_cast"), req})
}

// From is the caller of a gen_server call: the {Pid, Tag} that
// handle_call gets as From, and Reply needs to answer.
type From struct {
	Pid Pid
	Tag Term
}

// ParseCall reports whether msg is a gen_server call,
// {'$gen_call', {Pid, Tag}, Req}, and returns its request and caller. A
// mailbox serving calls answers each with Reply:
//
//	msg, err := mb.Receive(ctx)
//	...
//	if req, from, ok := ei.ParseCall(msg); ok {
//		err = mb.Reply(ctx, from, handle(req))
//	}
func ParseCall(msg Term) (req Term, from From, ok bool) {
	t, ok := msg.(Tuple)
	if !ok || len(t) != 3 || t[0] != Atom("$gen_call") {
		return nil, From{}, false
	}
	f, ok := t[1].(Tuple)
	if !ok || len(f) != 2 {
		return nil, From{}, false
	}
	pid, ok := f[0].(Pid)
	if !ok {
		return nil, From{}, false
	}
	return t[2], From{Pid: pid, Tag: f[1]}, true
}

// ParseCast reports whether msg is a gen_server cast, {'$gen_cast', Req},
// and returns its request.
func ParseCast(msg Term) (req Term, ok bool) {
	t, ok := msg.(Tuple)
	if !ok || len(t) != 2 || t[0] != Atom("$gen_cast") {
		return nil, false
	}
	return t[1], true
}

// Reply answers the gen_server call from with reply, as gen_server:reply
// does: {Tag, Reply} goes to the caller's alias when the tag is
// [alias|Ref] (ALIAS_SEND, which callers on OTP 24 and later use), else
// to its pid. Errors are as for Send.
func (m *Mailbox) Reply(ctx context.Context, from From, reply Term) error {
	if m.isExited() {
		return ErrClosed
	}
	return m.l.reply(ctx, m.pid, from, reply)
}

// reply answers the gen_server call from with reply, from the local
// process self.
func (l *layer) reply(ctx context.Context, self Pid, from From, reply Term) error {
	msg := Tuple{from.Tag, reply}
	alias, ok := callAlias(from.Tag)
	if !ok {
		return l.send(ctx, self, from.Pid, msg)
	}
	if l.isLocal(alias.Node) {
		l.deliverAlias(alias, msg)
		return nil
	}
	cs, err := l.conn(ctx, alias.Node)
	if err != nil {
		return err
	}
	if cs.conn.Flags()&FlagAlias == 0 {
		// The caller's receive matches the tag whichever way the reply
		// comes.
		return l.send(ctx, self, from.Pid, msg)
	}
	return cs.conn.SendControl(ctx, AliasSend{From: self, Alias: alias}, msg)
}

// callAlias returns the alias of a call tag [alias|Ref], or of a tag
// [[alias|Ref]|_] (see gen:reply/2).
func callAlias(tag Term) (Ref, bool) {
	var head Term
	switch t := tag.(type) {
	case ImproperList:
		if len(t.Elems) == 1 && t.Elems[0] == Atom("alias") {
			ref, ok := t.Tail.(Ref)
			return ref, ok
		}
		if len(t.Elems) == 0 {
			return Ref{}, false
		}
		head = t.Elems[0]
	case List:
		if len(t) == 0 {
			return Ref{}, false
		}
		head = t[0]
	default:
		return Ref{}, false
	}
	if h, ok := head.(ImproperList); ok && len(h.Elems) == 1 && h.Elems[0] == Atom("alias") {
		ref, ok := h.Tail.(Ref)
		return ref, ok
	}
	return Ref{}, false
}
