package ei

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"
)

// layerFlags are offered on the connections of a node's table on top of
// Node.Flags: the mailbox layer implements them.
// FlagSpawn is offered there alone: spawn requests are served by the
// layer (see HandleFunc), and bare Conns have nobody to serve them.
const layerFlags = FlagDistMonitor | FlagDistMonitorName | FlagAlias | FlagSpawn

// connHandler takes what a Conn of a node's table reads, instead of the
// Conn's Receive queue. Its methods run on the Conn's read goroutine.
type connHandler interface {
	attach(c *Conn)             // before the Conn's goroutines start
	deliver(c *Conn, m Message) // each message, in order
	down(c *Conn)               // once, after the last message
}

// arbiter is a node's connection table taking part in a handshake, as
// net_kernel does for erl (see dist_util): it resolves simultaneous
// connects and replaces connections the peer has lost.
type arbiter interface {
	connHandler
	// accept returns the status for the node peer connecting to us:
	// "ok", "ok_simultaneous", "nok", "alive", or "" to close without
	// one.
	accept(peer Atom) string
	// alive reports whether our attempt still wants its connection, when
	// the peer answered "alive".
	alive() bool
	// replace ends the connection the peer's new one replaces (after
	// "alive"), before the handshake completes.
	replace(ctx context.Context) error
}

// useArbiter makes the node's connection table, arb, take part in h; a
// nil arb leaves h as it is.
func (h *handshake) useArbiter(arb arbiter) {
	if arb != nil {
		h.arb = arb
		h.flags |= layerFlags
	}
}

// peer is the table entry of a node: pending while a handshake (owner)
// sets up its connection, up once it has one (cs), and both while a
// handshake replaces the connection the peer has lost.
type peer struct {
	cs    *connState    // the connection in use; nil while pending
	owner *connState    // the handshake setting up the next connection
	ready chan struct{} // closed when a pending peer gets a connection or fails
	err   error         // why it failed
}

// connState is the table's side of one connection: it arbitrates the
// handshake, takes the messages, and holds the links and monitors over
// the connection.
type connState struct {
	l        *layer
	peer     Atom               // set by accept on incoming connections
	outgoing bool               // made by our dial
	cancel   context.CancelFunc // ends our connection attempt
	conn     *Conn

	// Guarded by l.mu.
	lost     bool // the connection went down
	links    map[*link]struct{}
	monitors map[refKey]*monitor    // by us on the peer's processes and by them on ours
	incoming map[*incoming]struct{} // the peer's calls of our functions under way
}

func (l *layer) newConnState(peer Atom, outgoing bool) *connState {
	return &connState{
		l:        l,
		peer:     peer,
		outgoing: outgoing,
		links:    make(map[*link]struct{}),
		monitors: make(map[refKey]*monitor),
	}
}

func (cs *connState) attach(c *Conn) { cs.conn = c }

// conn returns the connection to node, connecting if there is none.
func (l *layer) conn(ctx context.Context, node Atom) (*connState, error) {
	l.mu.RLock()
	if p := l.peers[node]; p != nil && p.cs != nil {
		cs := p.cs
		l.mu.RUnlock()
		return cs, nil
	}
	l.mu.RUnlock()
	if !validNodeName(string(node)) {
		return nil, fmt.Errorf("ei: connect: peer %q is not of the form name@host", node)
	}
	if node == l.self {
		return nil, fmt.Errorf("ei: connect %s: that is this node", node)
	}
	for {
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return nil, ErrClosed
		}
		p := l.peers[node]
		if p == nil {
			p = &peer{ready: make(chan struct{})}
			cs := l.newConnState(node, true)
			// The attempt, epmd lookup, dial and handshake, is bounded by
			// the setup time, like erl's net_setuptime.
			actx, cancel := l.node.setupContext(l.ctx)
			cs.cancel = cancel
			p.owner = cs
			l.peers[node] = p
			l.wg.Add(1)
			go l.dial(actx, cs)
		}
		if p.cs != nil {
			cs := p.cs
			l.mu.Unlock()
			return cs, nil
		}
		ready := p.ready
		l.mu.Unlock()
		select {
		case <-ready:
		case <-ctx.Done():
			return nil, fmt.Errorf("ei: connect %s: %w", node, ctx.Err())
		}
		l.mu.RLock()
		cs, err := p.cs, p.err
		l.mu.RUnlock()
		if cs == nil && err != nil {
			return nil, err
		}
		// Up, or up and down again already: look again.
	}
}

// dial runs our connection attempt cs.
func (l *layer) dial(ctx context.Context, cs *connState) {
	defer l.wg.Done()
	defer cs.cancel()
	if l.dialHook != nil {
		l.dialHook(ctx, cs.peer)
	}
	c, err := l.node.connect(ctx, string(cs.peer), cs)
	if err != nil {
		var he *HandshakeError
		if errors.As(err, &he) && he.Status == "nok" {
			// The peer is connecting to us at the same time, and its
			// connection wins: our Listener takes it over, which cancels
			// ctx, unless it does not come within the setup time.
			<-ctx.Done()
		}
		l.node.logger().Debug("ei: connection attempt failed", "peer", string(cs.peer), "err", err)
		l.release(cs, err)
		return
	}
	l.install(cs, c)
}

// accept runs the handshake of a connection accepted by a Listener of the
// node (see Node.serverConn for nameTimeout and authenticated), and makes
// it the peer's connection unless the table decides otherwise. Errors
// wrapping errArbitrated are the table's decisions, not failures.
func (l *layer) accept(ctx context.Context, nc net.Conn, nameTimeout time.Duration, authenticated func() bool) error {
	cs := l.newConnState("", false)
	c, err := l.node.serverConn(ctx, nc, nameTimeout, authenticated, cs)
	if err != nil {
		if cs.peer != "" {
			l.release(cs, err)
		}
		if errors.Is(err, errArbitrated) {
			l.node.logger().Debug("ei: handshake ended", "peer", string(cs.peer), "err", err)
		}
		return err
	}
	l.install(cs, c)
	return nil
}

// install makes c the connection of cs's peer, if cs still owns the
// peer's entry; otherwise it closes c.
func (l *layer) install(cs *connState, c *Conn) {
	l.mu.Lock()
	p := l.peers[cs.peer]
	owner := p != nil && p.owner == cs
	if l.closed || !owner || cs.lost {
		l.mu.Unlock()
		c.Close()
		if owner {
			l.release(cs, c.Err())
		}
		return
	}
	p.owner = nil
	p.cs = cs
	close(p.ready)
	subs := l.subscribersLocked()
	l.mu.Unlock()
	l.node.logger().Debug("ei: node up", "peer", string(cs.peer), "outgoing", cs.outgoing)
	nodeEvent(subs, "nodeup", cs.peer)
}

// release gives up cs's claim on its peer's entry after its handshake
// failed with err; waiting senders get err unless a connection is up.
func (l *layer) release(cs *connState, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.peers[cs.peer]
	if p == nil || p.owner != cs {
		return
	}
	p.owner = nil
	if p.cs == nil {
		p.err = err
		close(p.ready)
		delete(l.peers, cs.peer)
	}
}

// errArbitrated ends a handshake the connection table decided against.
var errArbitrated = errors.New("ei: connection to this node is being set up already")

// accept decides about the node peer connecting to us, as net_kernel's
// accept_pending does.
func (cs *connState) accept(name Atom) string {
	l := cs.l
	if l.acceptHook != nil {
		l.acceptHook(name)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || name == l.self {
		return ""
	}
	cs.peer = name
	p := l.peers[name]
	switch {
	case p == nil:
		l.peers[name] = &peer{owner: cs, ready: make(chan struct{})}
		return "ok"
	case p.cs == nil && p.owner != nil && p.owner.outgoing:
		// Simultaneous connect: the connection started by the node
		// whose name sorts higher survives.
		if l.self > name {
			return "nok"
		}
		p.owner.cancel()
		p.owner = cs
		return "ok_simultaneous"
	case p.cs == nil:
		return "" // another connection from the peer is being accepted
	case p.owner == nil:
		// We have a connection the peer has lost (it restarted, say).
		p.owner = cs
		return "alive"
	}
	return ""
}

func (cs *connState) alive() bool {
	l := cs.l
	l.mu.RLock()
	defer l.mu.RUnlock()
	p := l.peers[cs.peer]
	return p != nil && p.owner == cs
}

func (cs *connState) replace(ctx context.Context) error {
	l := cs.l
	l.mu.RLock()
	p := l.peers[cs.peer]
	if p == nil || p.owner != cs {
		l.mu.RUnlock()
		return fmt.Errorf("ei: handshake with %s: %w", cs.peer, ErrClosed)
	}
	old := p.cs
	l.mu.RUnlock()
	if old != nil {
		old.conn.Close() // its down makes the entry pending again
	}
	return nil
}

// arbitrate sends the status the node's table decides on for an incoming
// connection (recv_name done), ok if it is "ok", and reads the peer's
// answer to "alive".
func (h *handshake) arbitrate(ctx context.Context, peer Atom, ok []byte) error {
	status := h.arb.accept(peer)
	switch status {
	case "":
		return fmt.Errorf("ei: handshake with %s: %w", peer, errArbitrated)
	case "nok":
		h.write(ctx, "send_status", []byte("snok"))
		return fmt.Errorf("ei: handshake with %s: simultaneous connect, ours goes on: %w", peer, errArbitrated)
	}
	msg := []byte("s" + status)
	if status == "ok" {
		msg = ok // or named:, for a peer that asked for a name
	}
	if err := h.write(ctx, "send_status", msg); err != nil {
		return err
	}
	if status != "alive" {
		return nil
	}
	msg, err := h.read(ctx, "recv_status")
	if err != nil {
		return err
	}
	switch string(msg) {
	case "strue":
		return nil
	case "sfalse":
		return fmt.Errorf("ei: handshake with %s: peer keeps its connection: %w", peer, errArbitrated)
	}
	return h.protoError(0, "recv_status: %q after alive, want strue or sfalse", msg)
}

// down runs when cs's connection is lost: the peer's entry goes (or
// waits for the connection replacing it), and every link and monitor
// over the connection gets noconnection.
func (cs *connState) down(c *Conn) {
	l := cs.l
	l.mu.Lock()
	cs.lost = true
	p := l.peers[cs.peer]
	wasUp := p != nil && p.cs == cs
	if wasUp {
		p.cs = nil
		if p.owner != nil {
			p.ready = make(chan struct{})
		} else {
			delete(l.peers, cs.peer)
		}
	}
	lost := l.connLostLocked(cs)
	calls := l.erpcsLostLocked(cs)
	for in := range cs.incoming {
		in.cancel() // nobody can get the result any more
	}
	var subs []*Mailbox
	if wasUp {
		subs = l.subscribersLocked()
	}
	l.mu.Unlock()
	for _, cl := range calls {
		cl.finish(erpcResult{err: &ERPCError{Reason: Atom("noconnection"), Err: c.Err()}})
	}
	lost.deliver()
	if wasUp {
		l.node.logger().Debug("ei: node down", "peer", string(cs.peer), "err", c.Err())
		nodeEvent(subs, "nodedown", cs.peer)
	}
}

// Nodes returns the nodes the node's table has connections to, sorted,
// like erlang:nodes(connected).
func (n *Node) Nodes() []Atom {
	l := n.lay.Load()
	if l == nil {
		return nil
	}
	l.mu.RLock()
	var nodes []Atom
	for name, p := range l.peers {
		if p.cs != nil {
			nodes = append(nodes, name)
		}
	}
	l.mu.RUnlock()
	slices.Sort(nodes)
	return nodes
}

// RPC calls mod:fun(args...) on peer through its rex server, over the
// node's connection to peer, connecting if there is none. It is Conn.RPC
// (see there for results, errors and cancellation) for the node's table,
// and starts the mailbox layer like NewMailbox.
func (n *Node) RPC(ctx context.Context, peer Atom, mod, fun Atom, args List) (Term, error) {
	l, err := n.startLayer()
	if err != nil {
		return nil, err
	}
	cs, err := l.conn(ctx, peer)
	if err != nil {
		return nil, err
	}
	return cs.conn.RPC(ctx, mod, fun, args)
}

// Close ends the node's mailbox layer: every mailbox exits (without
// signals: its links and monitors on other nodes see noconnection, as
// when a node goes down), calls and erpc calls under way fail with
// ErrClosed, the contexts of the registered functions running for other
// nodes end, the connections of the node's table are closed and
// connection attempts stopped, and Close waits for all of them,
// functions included. NewMailbox then returns ErrClosed. Close the
// node's Listeners first, or their connections are refused from then on.
// Conns from Connect and Listener.Accept are the caller's and stay open.
// Without mailboxes (or HandleFunc, RPC or ERPCCall, which start them
// too), Close does nothing.
func (n *Node) Close() error {
	l := n.lay.Load()
	if l == nil {
		return nil
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	var mbs []*Mailbox
	for _, m := range l.pids {
		m.exited = true
		mbs = append(mbs, m)
	}
	var conns []*Conn
	for _, p := range l.peers {
		if p.cs != nil {
			conns = append(conns, p.cs.conn)
		}
	}
	calls := make([]*call, 0, len(l.calls))
	for _, cl := range l.calls {
		calls = append(calls, cl)
	}
	erpcs := make([]*erpcCall, 0, len(l.erpcs))
	for _, c := range l.erpcs {
		erpcs = append(erpcs, c)
	}
	clear(l.erpcs)
	clear(l.pids)
	clear(l.names)
	clear(l.nodeSubs)
	l.mu.Unlock()
	for _, m := range mbs {
		m.closeQueue()
	}
	for _, cl := range calls {
		cl.finish(callResult{err: ErrClosed})
	}
	for _, c := range erpcs {
		c.finish(erpcResult{err: ErrClosed})
	}
	l.cancel()
	for _, c := range conns {
		c.Close()
	}
	l.wg.Wait()
	return nil
}
