package ei

import (
	"context"
	"fmt"
)

// Ref returns a new reference of this node, distinct from every earlier
// one (until 2^64 have been made), as make_ref() does. It fails only when
// the Node's configuration is invalid. Like pids, refs carry the current
// creation, so make them after Listener.Publish.
func (n *Node) Ref() (Ref, error) {
	if err := n.init(); err != nil {
		return Ref{}, err
	}
	// Three words, as erl's; the first has 18 significant bits in erl.
	seq := n.refSeq.Add(1)
	return Ref{
		Node:     Atom(n.Name),
		Creation: n.creation.Load(),
		ID:       []uint32{uint32(seq) & 0x3ffff, uint32(seq >> 18), uint32(seq >> 50)},
	}, nil
}

// refKey is a Ref usable as a map key.
type refKey struct {
	node     Atom
	creation uint32
	n        int
	id       [5]uint32
}

func keyOf(r Ref) refKey {
	k := refKey{node: r.Node, creation: r.Creation, n: len(r.ID)}
	copy(k.id[:], r.ID)
	return k
}

// monitor is a monitor between a watcher and a target process, at least
// one of them a local mailbox.
type monitor struct {
	ref     Ref
	key     refKey
	watcher Pid
	wmb     *Mailbox   // the watcher, when local
	target  Dest       // the monitored process as named by the watcher
	tmb     *Mailbox   // the target, when local
	cs      *connState // the connection, when either end is remote
	call    *call      // the call the monitor serves, if any

	// While our MONITOR_P is being written (writing), losing the
	// connection removes the monitor and sets lost: its noconnection
	// counts only if the MONITOR_P was written (see monitorRemote).
	writing bool
	lost    bool
}

// local reports whether the target is a local mailbox.
func (mon *monitor) local() bool { return mon.cs == nil }

// object is the Obj of the 'DOWN' message: the pid, or {Name, Node}.
func (mon *monitor) object(self Atom) Term {
	switch t := mon.target.(type) {
	case Pid:
		return t
	case RegName:
		node := t.Node
		if node == "" {
			node = self
		}
		return Tuple{t.Name, node}
	}
	return nil
}

// downTerm is the message a monitor delivers.
func downTerm(ref Ref, obj, reason Term) Term {
	return Tuple{Atom("DOWN"), ref, Atom("process"), obj, reason}
}

// fire tells a local watcher that the target exited with reason.
func (mon *monitor) fire(reason Term) {
	if mon.call != nil {
		mon.call.finish(callResult{down: true, reason: reason})
		return
	}
	mon.wmb.push(downTerm(mon.ref, mon.object(mon.wmb.l.self), reason))
}

// Monitor monitors the process to, a Pid or a RegName, as
// erlang:monitor(process, To) does, and returns the monitor's reference.
// When the process exits, or does not exist, the mailbox receives
// {'DOWN', Ref, process, Obj, Reason}, where Obj is the pid or {Name,
// Node}; losing the connection in between gives Reason noconnection.
//
// Monitor connects to the node of to if needed; its errors are those of
// connecting and sending (see Send), and an error if the peer does not
// support monitors (by name). When it fails, there is no monitor: no
// 'DOWN' comes for the reference it returns. After the mailbox exited,
// it returns ErrClosed.
func (m *Mailbox) Monitor(ctx context.Context, to Dest) (Ref, error) {
	if to == nil {
		return Ref{}, errNilDest
	}
	ref, err := m.node.Ref()
	if err != nil {
		return Ref{}, err
	}
	mon := &monitor{ref: ref, key: keyOf(ref), watcher: m.pid, wmb: m, target: to}
	cs, err := m.startMonitor(ctx, mon)
	if err != nil || cs == nil {
		return ref, err
	}
	return ref, m.monitorRemote(ctx, cs, mon)
}

// monitorRemote writes the MONITOR_P of mon, which startMonitor recorded.
// If that fails, the monitor goes: no 'DOWN' comes for it.
func (m *Mailbox) monitorRemote(ctx context.Context, cs *connState, mon *monitor) error {
	l := m.l
	err := l.writeSignal(ctx, cs, MonitorP{From: m.pid, To: monitorTarget(mon.target), Ref: mon.ref})
	l.mu.Lock()
	lost := mon.lost && err == nil
	mon.writing, mon.lost = false, false
	if err != nil {
		l.removeMonitorLocked(mon)
	}
	l.mu.Unlock()
	if lost {
		mon.fire(Atom("noconnection"))
	}
	return err
}

// startMonitor records mon, connecting to a remote target's node first.
// It returns the connection to send MONITOR_P on (with monitorRemote):
// nil for a local target, and for a monitor that fired at once (no such
// local process, connection down). A remote monitor is recorded before
// its MONITOR_P is written, as the peer's MONITOR_P_EXIT may come before
// the write returns.
func (m *Mailbox) startMonitor(ctx context.Context, mon *monitor) (*connState, error) {
	l := m.l
	node := mon.target.destNode()
	if l.isLocal(node) {
		if err := m.lockAlive(); err != nil {
			return nil, err
		}
		var tmb *Mailbox
		switch t := mon.target.(type) {
		case Pid:
			tmb = l.pids[t]
		case RegName:
			tmb = l.names[t.Name]
		}
		if tmb == nil {
			l.mu.Unlock()
			mon.fire(Atom("noproc"))
			return nil, nil
		}
		mon.tmb = tmb
		l.addMonitorLocked(mon)
		l.mu.Unlock()
		return nil, nil
	}
	cs, err := l.conn(ctx, node)
	if err != nil {
		return nil, err
	}
	need := FlagDistMonitor
	if _, ok := mon.target.(RegName); ok {
		need = FlagDistMonitorName
	}
	if cs.conn.Flags()&need == 0 {
		return nil, fmt.Errorf("ei: monitor %v: %s does not support it (flag %v)", mon.target, node, need)
	}
	mon.cs = cs
	if err := m.lockAlive(); err != nil {
		return nil, err
	}
	if cs.lost {
		l.mu.Unlock()
		mon.fire(Atom("noconnection"))
		return nil, nil
	}
	mon.writing = true
	l.addMonitorLocked(mon)
	l.mu.Unlock()
	return cs, nil
}

// monitorTarget is the To of MONITOR_P and DEMONITOR_P: a pid or a name.
func monitorTarget(to Dest) Term {
	if r, ok := to.(RegName); ok {
		return r.Name
	}
	return to
}

// Demonitor removes the monitor ref, as erlang:demonitor(Ref) does. A
// 'DOWN' already queued stays queued. Removing a monitor that has fired
// or never existed does nothing. After the mailbox exited, it returns
// ErrClosed.
func (m *Mailbox) Demonitor(ctx context.Context, ref Ref) error {
	l := m.l
	if err := m.lockAlive(); err != nil {
		return err
	}
	mon := m.monitors[keyOf(ref)]
	if mon == nil || mon.call != nil {
		l.mu.Unlock()
		return nil
	}
	l.removeMonitorLocked(mon)
	l.mu.Unlock()
	return mon.demonitor(ctx)
}

// demonitor tells a remote target's node that the monitor is gone.
func (mon *monitor) demonitor(ctx context.Context) error {
	if mon.local() || mon.isDown() {
		return nil
	}
	return mon.cs.conn.SendControl(ctx, DemonitorP{From: mon.watcher, To: monitorTarget(mon.target), Ref: mon.ref}, nil)
}

func (mon *monitor) isDown() bool {
	l := mon.cs.l
	l.mu.RLock()
	defer l.mu.RUnlock()
	return mon.cs.lost
}

// exit tells the watcher that the local target exited with reason.
func (mon *monitor) exit(ctx context.Context, reason Term) error {
	if mon.wmb != nil {
		mon.fire(reason)
		return nil
	}
	if mon.isDown() {
		return nil
	}
	return mon.cs.conn.SendControl(ctx, MonitorPExit{From: monitorTarget(mon.target), To: mon.watcher, Ref: mon.ref, Reason: reason}, nil)
}

// addMonitorLocked records mon; l.mu is held.
func (l *layer) addMonitorLocked(mon *monitor) {
	if w := mon.wmb; w != nil {
		if w.monitors == nil {
			w.monitors = make(map[refKey]*monitor)
		}
		w.monitors[mon.key] = mon
	}
	if t := mon.tmb; t != nil {
		if t.watchers == nil {
			t.watchers = make(map[refKey]*monitor)
		}
		t.watchers[mon.key] = mon
	}
	if mon.cs != nil {
		mon.cs.monitors[mon.key] = mon
	}
}

// removeMonitorLocked forgets mon; l.mu is held.
func (l *layer) removeMonitorLocked(mon *monitor) {
	if w := mon.wmb; w != nil && w.monitors[mon.key] == mon {
		delete(w.monitors, mon.key)
	}
	if t := mon.tmb; t != nil && t.watchers[mon.key] == mon {
		delete(t.watchers, mon.key)
	}
	if mon.cs != nil && mon.cs.monitors[mon.key] == mon {
		delete(mon.cs.monitors, mon.key)
	}
}

// monitored handles MONITOR_P from the peer's process from on our to, a
// pid or a registered name.
func (cs *connState) monitored(from Pid, to Term, ref Ref) {
	l := cs.l
	l.mu.Lock()
	var tmb *Mailbox
	var target Dest
	switch t := to.(type) {
	case Pid:
		tmb, target = l.pids[t], t
	case Atom:
		tmb, target = l.names[t], RegName{Name: t, Node: l.self}
	}
	if tmb == nil {
		l.mu.Unlock()
		if to != nil {
			cs.reply(MonitorPExit{From: to, To: from, Ref: ref, Reason: Atom("noproc")})
		}
		return
	}
	l.addMonitorLocked(&monitor{ref: ref, key: keyOf(ref), watcher: from, target: target, tmb: tmb, cs: cs})
	l.mu.Unlock()
}

// demonitored handles DEMONITOR_P from the peer.
func (cs *connState) demonitored(ref Ref) {
	l := cs.l
	l.mu.Lock()
	mon := cs.monitors[keyOf(ref)]
	if mon != nil && mon.tmb != nil {
		l.removeMonitorLocked(mon)
	}
	l.mu.Unlock()
	if mon != nil && mon.tmb != nil {
		mon.tmb.spawnDemonitored()
	}
}

// monitorExit handles MONITOR_P_EXIT: the peer's process we monitor with
// ref exited with reason.
func (cs *connState) monitorExit(ref Ref, reason Term) {
	l := cs.l
	l.mu.Lock()
	mon := cs.monitors[keyOf(ref)]
	if mon == nil || mon.wmb == nil {
		l.mu.Unlock()
		return
	}
	l.removeMonitorLocked(mon)
	l.mu.Unlock()
	mon.fire(reason)
}

// lostSignals are the noconnection signals of a connection that went
// down.
type lostSignals struct {
	links    []*link
	monitors []*monitor
}

// connLostLocked forgets the links and monitors over cs and returns those
// whose local end is told; l.mu is held. The signals of links and
// monitors whose LINK, UNLINK or MONITOR_P is being written are left to
// the writer, as whether they count depends on the write.
func (l *layer) connLostLocked(cs *connState) lostSignals {
	var s lostSignals
	for lk := range cs.links {
		l.removeLinkLocked(lk)
		switch {
		case lk.writing != writingNone:
			lk.held = Atom("noconnection")
		case lk.unlinking == 0:
			s.links = append(s.links, lk)
		}
	}
	for _, mon := range cs.monitors {
		l.removeMonitorLocked(mon)
		switch {
		case mon.writing:
			mon.lost = true
		case mon.wmb != nil:
			s.monitors = append(s.monitors, mon)
		}
	}
	return s
}

func (s lostSignals) deliver() {
	for _, lk := range s.links {
		lk.mb.exitSignal(lk.peer, Atom("noconnection"), true)
	}
	for _, mon := range s.monitors {
		mon.fire(Atom("noconnection"))
	}
}
