package ei

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goei/goei/epmd"
	"github.com/goei/goei/internal/erltest"
)

// The tests here make both ends of a connection start it at the same
// time, in each order that decides differently, and check that one
// connection survives, the one OTP's dist_util would keep: the one
// started by the node whose name sorts higher.

const raceTimeout = 30 * time.Second

func raceContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), raceTimeout)
	t.Cleanup(cancel)
	return ctx
}

// traceWatch is a wire trace sink that signals when a line appears.
type traceWatch struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	waits map[string]chan struct{}
}

func newTraceWatch(t *testing.T) *traceWatch {
	w := &traceWatch{waits: make(map[string]chan struct{})}
	t.Cleanup(func() {
		if t.Failed() {
			w.mu.Lock()
			t.Logf("wire trace:\n%s", w.buf.String())
			w.mu.Unlock()
		}
	})
	return w
}

func (w *traceWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for s, ch := range w.waits {
		if strings.Contains(w.buf.String(), s) {
			close(ch)
			delete(w.waits, s)
		}
	}
	return len(p), nil
}

// seen returns a channel closed once line has been traced.
func (w *traceWatch) seen(line string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	ch := make(chan struct{})
	if strings.Contains(w.buf.String(), line) {
		close(ch)
	} else {
		w.waits[line] = ch
	}
	return ch
}

// statusLine is the trace line of a handshake status sent ("->") or
// received ("<-").
func statusLine(dir, status string) string {
	op := "send_status"
	if dir == "<-" {
		op = "recv_status"
	}
	return fmt.Sprintf("%s %s %s\n", dir, op, hex.EncodeToString([]byte("s"+status)))
}

func wait(t *testing.T, ctx context.Context, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-ctx.Done():
		t.Fatalf("waiting for %s: %v", what, ctx.Err())
	}
}

// raceNode is a Go node with its mailbox layer on and a published
// Listener, and a mailbox.
type raceNode struct {
	n     *Node
	l     *layer
	mb    *Mailbox
	trace *traceWatch
}

func startRaceNode(t *testing.T, ctx context.Context, epmdPort int, name string) *raceNode {
	t.Helper()
	trace := newTraceWatch(t)
	n := &Node{
		Name:   erltest.UniqueName(name) + "@" + erltest.Host(t),
		Cookie: "c",
		EPMD:   &epmd.Client{Port: epmdPort},
		Trace:  trace,
	}
	ln, err := n.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := ln.Publish(ctx); err != nil {
		t.Fatalf("Publish() = %v", err)
	}
	mb, err := n.NewMailbox("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ln.Close()
		n.Close()
	})
	return &raceNode{n: n, l: n.lay.Load(), mb: mb, trace: trace}
}

// gate holds the connection attempts of a node until opened.
type gate struct {
	reached chan struct{}
	open    chan struct{}
	once    sync.Once
}

func holdDials(r *raceNode) *gate {
	g := &gate{reached: make(chan struct{}), open: make(chan struct{})}
	r.l.dialHook = func(ctx context.Context, peer Atom) {
		g.once.Do(func() { close(g.reached) })
		select {
		case <-g.open:
		case <-ctx.Done():
		}
	}
	return g
}

// installed returns the connection the table uses for peer.
func installed(t *testing.T, l *layer, peer Atom) *connState {
	t.Helper()
	l.mu.RLock()
	defer l.mu.RUnlock()
	p := l.peers[peer]
	if p == nil || p.cs == nil {
		t.Fatalf("no connection to %s in the table", peer)
	}
	return p.cs
}

// echoEval registers a process echo on erl answering {From, Msg} with
// {echo, Msg}.
const echoEval = `register(echo, spawn(fun Loop() -> receive {From, Msg} -> From ! {echo, Msg}, Loop() end end))`

// erlRace has erl connect to the Go node g (through a control node's
// rpc) while g's own attempt to connect to erl is under way.
type erlRace struct {
	erl  *erltest.Node
	g    *raceNode
	ctl  *Conn      // a control node's connection to erl
	sent chan error // the result of g's send that started its attempt
}

func startErlRace(t *testing.T, ctx context.Context, otp erltest.OTP, goName string) *erlRace {
	port := erltest.StartOTPEPMD(t)
	erl := otp.StartErl(t, port, erltest.Options{Args: []string{"-eval", echoEval}})
	g := startRaceNode(t, ctx, port, goName)
	ctl := &Node{Name: erltest.UniqueName("ctl") + "@" + erltest.Host(t), Cookie: "c", EPMD: &epmd.Client{Port: port}}
	c, err := ctl.Connect(ctx, erl.Name)
	if err != nil {
		t.Fatalf("control node: Connect() = %v", err)
	}
	t.Cleanup(func() { c.Close() })
	// erl runs -eval after registering with epmd: wait for echo.
	for {
		p, err := c.RPC(ctx, "erlang", "whereis", List{Atom("echo")})
		if err != nil {
			t.Fatalf("control node: RPC(whereis) = %v", err)
		}
		if _, ok := p.(Pid); ok {
			break
		}
	}
	return &erlRace{erl: erl, g: g, ctl: c, sent: make(chan error, 1)}
}

// eachErlRace runs f in a subtest for each OTP release at hand (see
// erltest.OTPs), with an erlRace whose Go node's name starts with goName.
func eachErlRace(t *testing.T, goName string, f func(t *testing.T, ctx context.Context, r *erlRace)) {
	for _, otp := range erltest.OTPs(t) {
		t.Run(otp.String(), func(t *testing.T) {
			ctx := raceContext(t)
			f(t, ctx, startErlRace(t, ctx, otp, goName))
		})
	}
}

// send starts g's attempt: a message to erl's echo.
func (r *erlRace) send(ctx context.Context) {
	go func() {
		r.sent <- r.g.mb.Send(ctx, RegName{Name: "echo", Node: Atom(r.erl.Name)}, Tuple{r.g.mb.Pid(), Atom("hello")})
	}()
}

// erlConnects makes erl connect to g, through the control node.
func (r *erlRace) erlConnects(t *testing.T, ctx context.Context) {
	t.Helper()
	if _, err := r.ctl.RPC(ctx, "erlang", "spawn", List{Atom("net_kernel"), Atom("connect_node"), List{Atom(r.g.n.Name)}}); err != nil {
		t.Fatalf("control node: RPC(spawn connect_node) = %v", err)
	}
}

// check verifies that the race left one connection, started by the
// side expected, over which both nodes talk.
func (r *erlRace) check(t *testing.T, ctx context.Context, wantOutgoing bool) {
	t.Helper()
	if err := <-r.sent; err != nil {
		t.Fatalf("Send() = %v\n%s", err, r.erl.Output())
	}
	msg, err := r.g.mb.Receive(ctx)
	if err != nil || !reflect.DeepEqual(msg, Tuple{Atom("echo"), Atom("hello")}) {
		t.Fatalf("Receive() = %v, %v; want {echo, hello}", msg, err)
	}
	cs := installed(t, r.g.l, Atom(r.erl.Name))
	if cs.outgoing != wantOutgoing {
		t.Errorf("surviving connection outgoing = %v, want %v", cs.outgoing, wantOutgoing)
	}
	hidden, err := r.g.n.RPC(ctx, Atom(r.erl.Name), "erlang", "nodes", List{Atom("hidden")})
	if err != nil {
		t.Fatalf("RPC(nodes(hidden)) = %v", err)
	}
	if !containsTerm(hidden.(List), Atom(r.g.n.Name)) {
		t.Errorf("erl's nodes(hidden) = %v, want %s among them", hidden, r.g.n.Name)
	}
	if got := r.g.n.Nodes(); !reflect.DeepEqual(got, []Atom{Atom(r.erl.Name)}) {
		t.Errorf("Nodes() = %v, want [%s]", got, r.erl.Name)
	}
}

func containsTerm(l List, t Term) bool {
	for _, e := range l {
		if reflect.DeepEqual(e, t) {
			return true
		}
	}
	return false
}

// TestRaceErlGoHigher: the Go node's name sorts higher than erl's. Our
// attempt is held before dialling; erl's connection arrives and gets nok;
// then our attempt goes on, erl answers ok_simultaneous, and ours
// survives.
func TestRaceErlGoHigher(t *testing.T) {
	eachErlRace(t, "zgo", func(t *testing.T, ctx context.Context, r *erlRace) {
		g := holdDials(r.g)
		r.send(ctx)
		wait(t, ctx, g.reached, "our connection attempt")
		refused := r.g.trace.seen(statusLine("->", "nok"))
		r.erlConnects(t, ctx)
		wait(t, ctx, refused, "nok sent to erl")
		close(g.open)
		wait(t, ctx, r.g.trace.seen(statusLine("<-", "ok_simultaneous")), "ok_simultaneous from erl")
		r.check(t, ctx, true)
	})
}

// TestRaceErlGoLower: the Go node's name sorts lower. Our attempt is held
// before dialling; erl's connection arrives, gets ok_simultaneous and
// survives, and our attempt is dropped.
func TestRaceErlGoLower(t *testing.T) {
	eachErlRace(t, "ago", func(t *testing.T, ctx context.Context, r *erlRace) {
		g := holdDials(r.g)
		r.send(ctx)
		wait(t, ctx, g.reached, "our connection attempt")
		r.erlConnects(t, ctx)
		wait(t, ctx, r.g.trace.seen(statusLine("->", "ok_simultaneous")), "ok_simultaneous sent to erl")
		r.check(t, ctx, false)
	})
}

// TestRaceErlGoLowerRefused: the Go node's name sorts lower, and erl's
// connection is held at our Listener; our attempt reaches erl, which
// refuses it with nok; then our Listener lets erl's connection through
// with ok_simultaneous.
func TestRaceErlGoLowerRefused(t *testing.T) {
	eachErlRace(t, "ago", func(t *testing.T, ctx context.Context, r *erlRace) {
		arrived := make(chan struct{})
		release := make(chan struct{})
		r.g.l.acceptHook = func(Atom) {
			close(arrived)
			<-release
		}
		r.erlConnects(t, ctx)
		wait(t, ctx, arrived, "erl's connection")
		r.send(ctx)
		wait(t, ctx, r.g.trace.seen(statusLine("<-", "nok")), "nok from erl")
		close(release)
		wait(t, ctx, r.g.trace.seen(statusLine("->", "ok_simultaneous")), "ok_simultaneous sent to erl")
		r.check(t, ctx, false)
	})
}

// TestRaceGoGo has two Go nodes connect to each other at once: the
// connection started by the higher name survives, on both sides.
func TestRaceGoGo(t *testing.T) {
	ctx := raceContext(t)
	port := erltest.StartEPMD(t)
	a := startRaceNode(t, ctx, port, "a_go")
	b := startRaceNode(t, ctx, port, "b_go") // sorts higher
	ga, gb := holdDials(a), holdDials(b)
	sent := make(chan error, 2)
	go func() { sent <- a.mb.Send(ctx, b.mb.Pid(), Atom("from_a")) }()
	go func() { sent <- b.mb.Send(ctx, a.mb.Pid(), Atom("from_b")) }()
	wait(t, ctx, ga.reached, "a's attempt")
	wait(t, ctx, gb.reached, "b's attempt")
	close(ga.open)
	close(gb.open)
	for range 2 {
		if err := <-sent; err != nil {
			t.Fatalf("Send() = %v", err)
		}
	}
	for _, c := range []struct {
		r    *raceNode
		want Atom
	}{{a, "from_b"}, {b, "from_a"}} {
		if msg, err := c.r.mb.Receive(ctx); err != nil || msg != c.want {
			t.Errorf("%s: Receive() = %v, %v; want %s", c.r.n.Name, msg, err, c.want)
		}
	}
	csA := installed(t, a.l, Atom(b.n.Name))
	csB := installed(t, b.l, Atom(a.n.Name))
	if csA.outgoing || !csB.outgoing {
		t.Errorf("surviving connections: outgoing on a = %v, on b = %v; want b's", csA.outgoing, csB.outgoing)
	}
	if la, rb := csA.conn.nc.LocalAddr().String(), csB.conn.nc.RemoteAddr().String(); la != rb {
		t.Errorf("a and b use different connections: a's local address %s, b's remote address %s", la, rb)
	}
}

// TestAliveReplaces has a node that lost its connection to us (it
// restarted, say) connect again while we still hold the old one: we
// answer alive, it answers true, and its new connection replaces the old,
// with noconnection for what depended on the old.
func TestAliveReplaces(t *testing.T) {
	ctx := raceContext(t)
	port := erltest.StartEPMD(t)
	a := startRaceNode(t, ctx, port, "go")
	if err := a.mb.MonitorNodes(true); err != nil {
		t.Fatal(err)
	}
	ln := listenerAddr(t, a)
	name := erltest.UniqueName("x") + "@" + erltest.Host(t)

	// The first incarnation connects and links to our mailbox.
	x1 := &Node{Name: name, Cookie: "c"}
	c1, err := x1.ConnectAddr(ctx, a.n.Name, ln)
	if err != nil {
		t.Fatalf("ConnectAddr() = %v", err)
	}
	defer c1.Close()
	p1, _ := x1.Pid()
	if err := c1.Link(ctx, p1, a.mb.Pid()); err != nil {
		t.Fatal(err)
	}
	if msg, err := a.mb.Receive(ctx); err != nil || !reflect.DeepEqual(msg, Tuple{Atom("nodeup"), Atom(name)}) {
		t.Fatalf("Receive() = %v, %v; want nodeup", msg, err)
	}
	// A message after the link makes sure the link is in place.
	if err := c1.Send(ctx, a.mb.Pid(), Atom("one")); err != nil {
		t.Fatal(err)
	}
	if msg, err := a.mb.Receive(ctx); err != nil || msg != Atom("one") {
		t.Fatalf("Receive() = %v, %v; want one", msg, err)
	}

	// The second incarnation, same name, connects while the first is up.
	x2 := &Node{Name: name, Cookie: "c"}
	c2, err := x2.ConnectAddr(ctx, a.n.Name, ln)
	if err != nil {
		t.Fatalf("ConnectAddr() again = %v", err)
	}
	defer c2.Close()
	wait(t, ctx, a.trace.seen(statusLine("->", "alive")), "alive sent")
	wait(t, ctx, c1.Done(), "the old connection to close")
	for _, want := range []Term{
		Tuple{Atom("EXIT"), p1, Atom("noconnection")},
		Tuple{Atom("nodedown"), Atom(name)},
		Tuple{Atom("nodeup"), Atom(name)},
	} {
		if msg, err := a.mb.Receive(ctx); err != nil || !reflect.DeepEqual(msg, want) {
			t.Errorf("Receive() = %v, %v; want %v", msg, err, want)
		}
	}
	if err := c2.Send(ctx, a.mb.Pid(), Atom("two")); err != nil {
		t.Fatal(err)
	}
	if msg, err := a.mb.Receive(ctx); err != nil || msg != Atom("two") {
		t.Errorf("Receive() = %v, %v; want two", msg, err)
	}
	if cs := installed(t, a.l, Atom(name)); cs.conn.nc.RemoteAddr().String() != c2.nc.LocalAddr().String() {
		t.Errorf("table connection from %v, want the new one from %v", cs.conn.nc.RemoteAddr(), c2.nc.LocalAddr())
	}
}

// listenerAddr returns the address of the Listener of r (the one
// published with epmd).
func listenerAddr(t *testing.T, r *raceNode) string {
	t.Helper()
	alive, _, _ := strings.Cut(r.n.Name, "@")
	info, err := r.n.EPMD.PortPlease(raceContext(t), alive)
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", fmt.Sprint(info.Port))
}
