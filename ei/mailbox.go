package ei

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// DefaultMailboxSize is the number of messages a mailbox holds when
// Node.MailboxSize is zero.
const DefaultMailboxSize = 1 << 16

// ErrOverflow is returned (wrapped, with the number of messages lost) by
// Mailbox.Receive at the place in the stream where messages were dropped
// because the mailbox was full. See Mailbox.
var ErrOverflow = errors.New("ei: mailbox full, messages dropped")

// Dest is where a message goes: a Pid, or a RegName for a process
// registered by name.
type Dest interface {
	destNode() Atom
}

var errNilDest = errors.New("ei: nil Dest")

// RegName names the process registered as Name on Node, {Name, Node} in
// Erlang. An empty Node means the local node.
type RegName struct {
	Name Atom
	Node Atom
}

func (p Pid) destNode() Atom     { return p.Node }
func (r RegName) destNode() Atom { return r.Node }

// layer is what a Node runs above its connections: mailboxes, the
// connection table, links, monitors and calls. It starts with the first
// NewMailbox and ends with Node.Close.
type layer struct {
	node *Node
	self Atom
	size int // messages per mailbox

	ctx    context.Context // ends at Node.Close; parent of connection attempts
	cancel context.CancelFunc
	wg     sync.WaitGroup // connection attempts

	// mu guards everything below, and the link and monitor state of
	// mailboxes and connections.
	mu       sync.RWMutex
	closed   bool
	pids     map[Pid]*Mailbox
	names    map[Atom]*Mailbox
	peers    map[Atom]*peer
	calls    map[refKey]*call      // pending calls by monitor reference (also their alias)
	nodeSubs map[*Mailbox]struct{} // MonitorNodes subscribers
	erpcs    map[refKey]*erpcCall  // our erpc calls under way, by spawn request id
	running  int                   // calls from other nodes under way (see Node.MaxCalls)
	io       *Mailbox              // the group leader of our spawn requests, once made

	// Tests: dialHook runs before each connection attempt, acceptHook
	// when an incoming handshake is about to be decided, and signalHook,
	// when set, writes the LINK, UNLINK and MONITOR_P of mailboxes
	// (see writeSignal).
	dialHook   func(ctx context.Context, peer Atom)
	acceptHook func(peer Atom)
	signalHook func(ctx context.Context, cs *connState, ctl Control) error
}

// startLayer returns the node's layer, starting it on first use.
func (n *Node) startLayer() (*layer, error) {
	if err := n.init(); err != nil {
		return nil, err
	}
	if l := n.lay.Load(); l != nil {
		return l, nil
	}
	if n.naming.dynamic {
		// Its name lasts as long as one connection; mailbox pids and
		// the connection table need one for the node's lifetime.
		return nil, fmt.Errorf("ei: node %s has a dynamic name and no mailboxes", n.Name)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &layer{
		node:     n,
		self:     Atom(n.Name),
		size:     n.MailboxSize,
		ctx:      ctx,
		cancel:   cancel,
		pids:     make(map[Pid]*Mailbox),
		names:    make(map[Atom]*Mailbox),
		peers:    make(map[Atom]*peer),
		calls:    make(map[refKey]*call),
		nodeSubs: make(map[*Mailbox]struct{}),
		erpcs:    make(map[refKey]*erpcCall),
	}
	if l.size <= 0 {
		l.size = DefaultMailboxSize
	}
	rex, err := n.Pid()
	if err != nil {
		cancel()
		return nil, err
	}
	l.startRexLocked(rex)
	if !n.lay.CompareAndSwap(nil, l) {
		cancel()
	}
	return n.lay.Load(), nil
}

// isLocal reports whether node names this node; the empty name does.
func (l *layer) isLocal(node Atom) bool { return node == "" || node == l.self }

// Mailbox is a process of a Node: it has a pid (and optionally a
// registered name) that Erlang processes send to, link to and monitor,
// and it sends, links, monitors and calls in turn.
//
// Messages for a mailbox are queued by the goroutine that reads them
// from the connection, without a hand-off per message, so a mailbox that
// is slow to Receive does not hold up other mailboxes. The queue holds
// up to Node.MailboxSize messages (DefaultMailboxSize when zero); a
// message arriving while it is full is dropped, and Receive then returns
// an error wrapping ErrOverflow at the place of the gap, after the
// messages queued before it and before those queued after it. Messages
// are never reordered: those from one sender arrive in the order sent.
//
// Signals arrive as the messages an Erlang process trapping exits gets:
// {'EXIT', Pid, Reason} when a linked process exits or sends an exit
// signal (exit/2, even with reason kill: a Mailbox is never killed),
// {'DOWN', Ref, process, Obj, Reason} when a monitored process exits,
// and {nodeup, Node} and {nodedown, Node} after MonitorNodes. Losing the
// connection to a node gives noconnection for each link and monitor
// over it.
//
// A Mailbox lives until Exit or Close, or until Node.Close. Its methods
// are safe for concurrent use; each message goes to one Receive.
type Mailbox struct {
	node *Node
	l    *layer
	pid  Pid
	name Atom

	qmu     sync.Mutex
	q       []Term // ring buffer of len(q) slots
	gaps    []int  // gaps[i]: messages dropped just before q[i]
	head    int
	n       int
	dropped int // messages dropped since the last one queued
	closed  bool
	notify  chan struct{} // a token when the queue becomes non-empty
	done    chan struct{} // closed by exit
	linkSem chan struct{} // a token while a Link or Unlink runs (see lockLinks)

	// The node's own processes (rex, the io server, calls from other
	// nodes) take messages with handle instead of the queue; proc is
	// set for a call from another node.
	handle func(Term)
	proc   *callProc

	// Guarded by l.mu.
	exited   bool
	links    map[Pid]*link
	monitors map[refKey]*monitor // monitors this mailbox holds
	watchers map[refKey]*monitor // monitors on this mailbox
	ncalls   int                 // calls under way, whose replies may come as plain messages
}

// NewMailbox creates a mailbox with a new pid, registered as name unless
// name is empty. It starts the node's mailbox layer on first use: from
// then on, connections accepted by the node's Listeners join the node's
// connection table instead of going to Listener.Accept (see Node).
//
// Create mailboxes after Listener.Publish, so that their pids carry the
// creation epmd assigned: erl drops messages to pids of another creation.
// It is an error if name is registered already (rex always is: it is
// the node's rex server, see HandleFunc), after Node.Close (ErrClosed),
// and for a node with a dynamic name ("undefined@host").
func (n *Node) NewMailbox(name Atom) (*Mailbox, error) {
	l, err := n.startLayer()
	if err != nil {
		return nil, err
	}
	pid, err := n.Pid()
	if err != nil {
		return nil, err
	}
	m := l.newMailbox(pid, name)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, ErrClosed
	}
	if name != "" {
		if _, taken := l.names[name]; taken {
			return nil, fmt.Errorf("ei: new mailbox: name %s is registered already", name)
		}
		l.names[name] = m
	}
	l.pids[pid] = m
	return m, nil
}

// newMailbox returns a mailbox of the layer, not yet in its tables.
func (l *layer) newMailbox(pid Pid, name Atom) *Mailbox {
	return &Mailbox{
		node:    l.node,
		l:       l,
		pid:     pid,
		name:    name,
		notify:  make(chan struct{}, 1),
		done:    make(chan struct{}),
		linkSem: make(chan struct{}, 1),
	}
}

// Pid returns the mailbox's pid.
func (m *Mailbox) Pid() Pid { return m.pid }

// Name returns the mailbox's registered name, or "" if it has none.
func (m *Mailbox) Name() Atom { return m.name }

// Node returns the node the mailbox belongs to.
func (m *Mailbox) Node() *Node { return m.node }

// Done returns a channel that is closed when the mailbox has exited.
func (m *Mailbox) Done() <-chan struct{} { return m.done }

// push queues t, or drops it if the mailbox is full or has exited.
func (m *Mailbox) push(t Term) {
	if m.handle != nil {
		m.handle(t)
		return
	}
	m.qmu.Lock()
	if m.closed {
		m.qmu.Unlock()
		return
	}
	if m.n == m.l.size {
		m.dropped++
		first := m.dropped == 1
		m.qmu.Unlock()
		if first {
			m.node.logger().Warn("ei: mailbox full, dropping messages", "pid", m.pid, "name", m.name)
		}
		return
	}
	if m.n == len(m.q) {
		m.grow()
	}
	i := (m.head + m.n) % len(m.q)
	m.q[i], m.gaps[i] = t, m.dropped
	m.dropped = 0
	m.n++
	wake := m.n == 1
	m.qmu.Unlock()
	if wake {
		m.wake()
	}
}

// grow makes room in the ring for one more message; qmu is held.
func (m *Mailbox) grow() {
	size := min(max(2*len(m.q), 16), m.l.size)
	q := make([]Term, size)
	gaps := make([]int, size)
	for i := range m.n {
		j := (m.head + i) % len(m.q)
		q[i], gaps[i] = m.q[j], m.gaps[j]
	}
	m.q, m.gaps, m.head = q, gaps, 0
}

func (m *Mailbox) wake() {
	select {
	case m.notify <- struct{}{}:
	default:
	}
}

// Receive returns the next message, waiting for one until ctx ends
// (which leaves the mailbox intact). Messages are Erlang terms as sent;
// signals come as described under Mailbox. Where messages were dropped
// because the mailbox was full, Receive returns an error wrapping
// ErrOverflow once, in their place. After the mailbox exited, it returns
// ErrClosed.
func (m *Mailbox) Receive(ctx context.Context) (Term, error) {
	for {
		m.qmu.Lock()
		if m.closed {
			m.qmu.Unlock()
			return nil, ErrClosed
		}
		if m.n > 0 {
			if gap := m.gaps[m.head]; gap > 0 {
				m.gaps[m.head] = 0
				m.qmu.Unlock()
				return nil, m.overflow(gap)
			}
			t := m.q[m.head]
			m.q[m.head] = nil
			m.head = (m.head + 1) % len(m.q)
			m.n--
			more := m.n > 0
			if !more && len(m.q) > 1024 {
				m.q, m.gaps, m.head = nil, nil, 0 // give back a large ring
			}
			m.qmu.Unlock()
			if more {
				m.wake() // for another goroutine receiving
			}
			return t, nil
		}
		if gap := m.dropped; gap > 0 {
			m.dropped = 0
			m.qmu.Unlock()
			return nil, m.overflow(gap)
		}
		m.qmu.Unlock()
		select {
		case <-m.notify:
		case <-m.done:
		case <-ctx.Done():
			return nil, fmt.Errorf("ei: receive: %w", ctx.Err())
		}
	}
}

func (m *Mailbox) overflow(n int) error {
	return wrapf(ErrOverflow, "ei: mailbox %v: %d messages dropped", m.pid, n)
}

// Send sends msg to the process to, a Pid or a RegName, as to ! Msg
// does. A message to a process of another node goes over the node's
// connection to it, connecting first if there is none (epmd lookup,
// dial, handshake; concurrent sends share one attempt). Messages from one
// mailbox to one process arrive in the order sent, as long as the
// connection stays up. A message to a local pid or name that does not
// exist is dropped, as Erlang does.
//
// Send fails if the connection cannot be made or the message cannot be
// written; cancelling ctx interrupts both. After the mailbox exited, it
// returns ErrClosed.
func (m *Mailbox) Send(ctx context.Context, to Dest, msg Term) error {
	if to == nil {
		return errNilDest
	}
	if m.isExited() {
		return ErrClosed
	}
	return m.l.send(ctx, m.pid, to, msg)
}

// send sends msg from the local process from to the process to,
// connecting to its node if need be.
func (l *layer) send(ctx context.Context, from Pid, to Dest, msg Term) error {
	if l.isLocal(to.destNode()) {
		l.deliverLocal(to, msg)
		return nil
	}
	cs, err := l.conn(ctx, to.destNode())
	if err != nil {
		return err
	}
	return cs.conn.SendControl(ctx, cs.sendControl(from, to), msg)
}

// sendControl returns the control message for sending from from to to.
func (cs *connState) sendControl(from Pid, to Dest) Control {
	switch to := to.(type) {
	case Pid:
		if cs.conn.Flags()&FlagSendSender != 0 {
			return SendSender{From: from, To: to}
		}
		return Send{To: to}
	case RegName:
		return RegSend{From: from, To: to.Name}
	}
	panic(fmt.Sprintf("ei: unknown Dest %T", to))
}

// deliverLocal delivers msg to a local process, dropping it if there is
// none.
func (l *layer) deliverLocal(to Dest, msg Term) {
	switch to := to.(type) {
	case Pid:
		l.deliverPid(to, msg)
	case RegName:
		l.deliverName(to.Name, msg)
	}
}

// deliverPid delivers msg to the mailbox with pid to, if any. A reply to
// a call made without an alias is routed to the call.
func (l *layer) deliverPid(to Pid, msg Term) {
	l.mu.RLock()
	m := l.pids[to]
	if m != nil && m.ncalls > 0 {
		if cl := l.callReply(msg); cl != nil && cl.mb == m {
			l.mu.RUnlock()
			cl.reply(msg)
			return
		}
	}
	l.mu.RUnlock()
	if m != nil {
		m.push(msg)
	}
}

// deliverName delivers msg to the mailbox registered as name, if any,
// and reports whether there was one.
func (l *layer) deliverName(name Atom, msg Term) bool {
	l.mu.RLock()
	m := l.names[name]
	l.mu.RUnlock()
	if m != nil {
		m.push(msg)
	}
	return m != nil
}

// lockAlive locks l.mu, unless the mailbox has exited: then it returns
// ErrClosed, with l.mu unlocked.
func (m *Mailbox) lockAlive() error {
	m.l.mu.Lock()
	if m.exited {
		m.l.mu.Unlock()
		return ErrClosed
	}
	return nil
}

func (m *Mailbox) isExited() bool {
	m.l.mu.RLock()
	defer m.l.mu.RUnlock()
	return m.exited
}

// Close ends the mailbox with exit reason normal: Exit(ctx, normal)
// with a context that never ends, so nothing but the connections bounds
// the writes of its exit signals to other nodes. A write to a peer that
// has gone silent fails once the connection is lost, after
// Node.NetTickTime; one to a peer that keeps sending (ticks) but no
// longer reads waits until the connection closes. Use Exit with a
// context to bound them.
func (m *Mailbox) Close() error {
	return m.Exit(context.Background(), Atom("normal"))
}

// Exit ends the mailbox as a process exiting with reason: linked
// processes get an exit signal with reason ({'EXIT', Pid, Reason} when
// they trap exits), monitoring processes a 'DOWN' with reason, the
// monitors the mailbox holds are removed, its name is unregistered and
// its calls under way fail with ErrClosed. Receive and the other methods
// then return ErrClosed; so does a second Exit.
//
// The signals to processes on other nodes are sent over the existing
// connections (none is made for them); cancelling ctx interrupts a write
// blocked on a peer that does not read. Exit returns the first error
// sending them, after trying all of them.
func (m *Mailbox) Exit(ctx context.Context, reason Term) error {
	l := m.l
	if err := m.lockAlive(); err != nil {
		return err
	}
	sig := l.exitLocked(m)
	l.mu.Unlock()
	m.closeQueue()
	return sig.send(ctx, m, reason)
}

// closeQueue discards the queue and wakes Receive.
func (m *Mailbox) closeQueue() {
	m.qmu.Lock()
	m.closed = true
	m.q, m.gaps, m.n = nil, nil, 0
	m.qmu.Unlock()
	close(m.done)
}

// exitSignals are what an exiting mailbox still has to tell others, taken
// from the layer's state under l.mu.
type exitSignals struct {
	links    []*link
	watchers []*monitor
	held     []*monitor // monitors the mailbox held, to remove remotely
	calls    []*call
}

// exitLocked removes m from the layer and returns the signals its exit
// sends; l.mu is held.
func (l *layer) exitLocked(m *Mailbox) exitSignals {
	m.exited = true
	delete(l.pids, m.pid)
	if m.name != "" && l.names[m.name] == m {
		delete(l.names, m.name)
	}
	delete(l.nodeSubs, m)
	var s exitSignals
	for _, lk := range m.links {
		l.removeLinkLocked(lk)
		// A link being unlinked gets no exit signal, unless its UNLINK
		// is still being written (and may fail).
		if lk.unlinking == 0 || lk.writing == writingUnlink {
			s.links = append(s.links, lk)
		}
	}
	for _, mon := range m.watchers {
		l.removeMonitorLocked(mon)
		s.watchers = append(s.watchers, mon)
	}
	for _, mon := range m.monitors {
		l.removeMonitorLocked(mon)
		if mon.call != nil {
			s.calls = append(s.calls, mon.call)
		}
		s.held = append(s.held, mon)
	}
	return s
}

// send delivers the signals of m's exit with reason.
func (s exitSignals) send(ctx context.Context, m *Mailbox, reason Term) error {
	var first error
	keep := func(err error) {
		if first == nil && err != nil {
			first = err
		}
	}
	for _, cl := range s.calls {
		cl.finish(callResult{err: ErrClosed})
	}
	for _, lk := range s.links {
		keep(lk.exit(ctx, reason))
	}
	for _, mon := range s.watchers {
		keep(mon.exit(ctx, reason))
	}
	for _, mon := range s.held {
		keep(mon.demonitor(ctx))
	}
	return first
}
