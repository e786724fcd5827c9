package ei_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/goei/goei/ei"
	"github.com/goei/goei/epmd"
	"github.com/goei/goei/internal/erltest"
)

// localNode returns a node with no Listener, closed at cleanup.
func localNode(t *testing.T, size int) *ei.Node {
	n := &ei.Node{Name: "local@host", Cookie: "c", MailboxSize: size}
	t.Cleanup(func() { n.Close() })
	return n
}

func TestMailboxLocal(t *testing.T) {
	ctx := testContext(t)
	n := localNode(t, 0)
	a := newMailbox(t, n, "a")
	b := newMailbox(t, n, "")
	if _, err := n.NewMailbox("a"); err == nil {
		t.Errorf("NewMailbox(a) twice succeeded")
	}

	// Sends by pid and by local name, with the node's name or none.
	for _, to := range []ei.Dest{a.Pid(), ei.RegName{Name: "a"}, ei.RegName{Name: "a", Node: ei.Atom(n.Name)}} {
		if err := b.Send(ctx, to, ei.Tuple{ei.Atom("hi"), b.Pid()}); err != nil {
			t.Fatalf("Send(%v) = %v", to, err)
		}
		if got, want := recv(t, a), (ei.Tuple{ei.Atom("hi"), b.Pid()}); !same(got, want) {
			t.Errorf("Receive() = %v, want %v", got, want)
		}
	}

	// A gen_server call between local mailboxes.
	go func() {
		msg, err := a.Receive(ctx)
		if err != nil {
			return
		}
		if req, from, ok := ei.ParseCall(msg); ok {
			a.Reply(ctx, from, ei.Tuple{ei.Atom("re"), req})
		}
	}()
	if got, err := b.Call(ctx, ei.RegName{Name: "a"}, ei.Atom("q")); err != nil || !same(got, ei.Tuple{ei.Atom("re"), ei.Atom("q")}) {
		t.Errorf("Call(a, q) = %v, %v; want {re, q}", got, err)
	}

	// Links and monitors between local mailboxes.
	c := newMailbox(t, n, "c")
	if err := b.Link(ctx, c.Pid()); err != nil {
		t.Fatal(err)
	}
	ref, err := b.Monitor(ctx, ei.RegName{Name: "c"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Exit(ctx, ei.Atom("bye")); err != nil {
		t.Fatalf("Exit() = %v", err)
	}
	got := []ei.Term{recv(t, b), recv(t, b)}
	for _, want := range []ei.Term{
		ei.Tuple{ei.Atom("EXIT"), c.Pid(), ei.Atom("bye")},
		ei.Tuple{ei.Atom("DOWN"), ref, ei.Atom("process"), ei.Tuple{ei.Atom("c"), ei.Atom(n.Name)}, ei.Atom("bye")},
	} {
		if !containsTerm(got, want) {
			t.Errorf("after c exited, received %v; want %v among them", got, want)
		}
	}
	// c is gone: link, monitor and call give noproc.
	if err := b.Link(ctx, c.Pid()); err != nil {
		t.Fatal(err)
	}
	if got, want := recv(t, b), (ei.Tuple{ei.Atom("EXIT"), c.Pid(), ei.Atom("noproc")}); !same(got, want) {
		t.Errorf("Receive() = %v, want %v", got, want)
	}
	ref, _ = b.Monitor(ctx, c.Pid())
	if got, want := recv(t, b), (ei.Tuple{ei.Atom("DOWN"), ref, ei.Atom("process"), c.Pid(), ei.Atom("noproc")}); !same(got, want) {
		t.Errorf("Receive() = %v, want %v", got, want)
	}
	var ce *ei.CallError
	if _, err := b.Call(ctx, c.Pid(), ei.Atom("q")); !errors.As(err, &ce) || ce.Reason != ei.Atom("noproc") {
		t.Errorf("Call(dead) = %v, want *CallError noproc", err)
	}
	if _, err := c.Receive(ctx); !errors.Is(err, ei.ErrClosed) {
		t.Errorf("Receive() after Exit = %v, want ErrClosed", err)
	}
	if err := c.Exit(ctx, ei.Atom("again")); !errors.Is(err, ei.ErrClosed) {
		t.Errorf("Exit() twice = %v, want ErrClosed", err)
	}
	// Unlink: no EXIT when the other exits.
	d := newMailbox(t, n, "")
	b.Link(ctx, d.Pid())
	if err := b.Unlink(ctx, d.Pid()); err != nil {
		t.Fatal(err)
	}
	d.Close()
	b.Send(ctx, b.Pid(), ei.Atom("next"))
	if got := recv(t, b); got != ei.Atom("next") {
		t.Errorf("Receive() = %v after Unlink and exit, want next", got)
	}

	// A Receive waiting when the node closes, and calls afterwards.
	done := make(chan error, 1)
	go func() {
		_, err := b.Receive(ctx)
		done <- err
	}()
	n.Close()
	if err := <-done; !errors.Is(err, ei.ErrClosed) {
		t.Errorf("Receive() during Node.Close = %v, want ErrClosed", err)
	}
	if _, err := n.NewMailbox(""); !errors.Is(err, ei.ErrClosed) {
		t.Errorf("NewMailbox() after Close = %v, want ErrClosed", err)
	}
	if err := b.Send(ctx, a.Pid(), ei.Atom("x")); !errors.Is(err, ei.ErrClosed) {
		t.Errorf("Send() after Close = %v, want ErrClosed", err)
	}
}

// TestMailboxOverflow checks the overflow rule: messages arriving at a
// full mailbox are dropped, and Receive reports the gap where it was.
func TestMailboxOverflow(t *testing.T) {
	ctx := testContext(t)
	n := localNode(t, 3)
	m := newMailbox(t, n, "")
	send := func(msgs ...string) {
		for _, s := range msgs {
			m.Send(ctx, m.Pid(), ei.Atom(s))
		}
	}
	expect := func(want string) {
		t.Helper()
		msg, err := m.Receive(ctx)
		switch {
		case strings.HasPrefix(want, "gap"):
			if !errors.Is(err, ei.ErrOverflow) || !strings.Contains(err.Error(), want[3:]+" messages dropped") {
				t.Errorf("Receive() = %v, %v; want ErrOverflow with %s messages dropped", msg, err, want[3:])
			}
		case err != nil || msg != ei.Atom(want):
			t.Errorf("Receive() = %v, %v; want %s", msg, err, want)
		}
	}
	send("a", "b", "c", "d", "e") // d and e dropped
	expect("a")
	send("f") // after the gap
	expect("b")
	expect("c")
	expect("gap2")
	expect("f")
	send("g", "h", "i", "j") // j dropped, nothing after it
	expect("g")
	expect("h")
	expect("i")
	expect("gap1")
	send("k")
	expect("k")
}

// TestMailboxSlowDoesNotStall checks that a mailbox that receives
// nothing does not hold up the others on the same connection: the
// messages beyond its room are dropped, and those for its neighbour
// arrive, all of them and in order.
func TestMailboxSlowDoesNotStall(t *testing.T) {
	const msgs = 200
	ctx := testContext(t)
	b := &ei.Node{Name: "b@127.0.0.1", Cookie: "c", MailboxSize: 4}
	t.Cleanup(func() { b.Close() })
	l, err := b.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	newMailbox(t, b, "slow") // never receives
	fast := newMailbox(t, b, "fast")
	a := &ei.Node{Name: "a@127.0.0.1", Cookie: "c", DistPort: l.Addr().(*net.TCPAddr).Port}
	t.Cleanup(func() { a.Close() })
	from := newMailbox(t, a, "")
	for i := range msgs {
		// Interleaved on the one connection, the slow one's first.
		if err := from.Send(ctx, ei.RegName{Name: "slow", Node: "b@127.0.0.1"}, int64(i)); err != nil {
			t.Fatal(err)
		}
		if err := from.Send(ctx, ei.RegName{Name: "fast", Node: "b@127.0.0.1"}, int64(i)); err != nil {
			t.Fatal(err)
		}
		// fast holds 4 too: take each as it comes.
		if got, err := fast.Receive(ctx); err != nil || got != int64(i) {
			t.Fatalf("fast mailbox's message %d = %v, %v, with a full mailbox beside it", i, got, err)
		}
	}
}

// TestMailboxConcurrentReceive has several goroutines receive from one
// mailbox: each message goes to exactly one of them.
func TestMailboxConcurrentReceive(t *testing.T) {
	const msgs, receivers = 2000, 4
	ctx := testContext(t)
	n := localNode(t, 0)
	m := newMailbox(t, n, "")
	var mu sync.Mutex
	seen := make(map[int64]int)
	var wg sync.WaitGroup
	for range receivers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				msg, err := m.Receive(ctx)
				if err != nil {
					return
				}
				if msg == ei.Atom("stop") {
					return
				}
				mu.Lock()
				seen[msg.(int64)]++
				mu.Unlock()
			}
		}()
	}
	for i := range msgs {
		m.Send(ctx, m.Pid(), int64(i))
	}
	for range receivers {
		m.Send(ctx, m.Pid(), ei.Atom("stop"))
	}
	wg.Wait()
	if len(seen) != msgs {
		t.Errorf("received %d distinct messages, want %d", len(seen), msgs)
	}
	for i, c := range seen {
		if c != 1 {
			t.Errorf("message %d received %d times", i, c)
		}
	}
}

func TestMailboxReceiveCanceled(t *testing.T) {
	n := localNode(t, 0)
	m := newMailbox(t, n, "")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Receive(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Receive(canceled) = %v, want context.Canceled", err)
	}
}

// goPair returns two Go nodes with published Listeners on an in-process
// epmd, and a mailbox on each.
func goPair(t *testing.T) (na, nb *ei.Node, a, b *ei.Mailbox) {
	port := erltest.StartEPMD(t)
	mk := func(prefix string) (*ei.Node, *ei.Mailbox) {
		n := &ei.Node{
			Name:   erltest.UniqueName(prefix) + "@localhost",
			Cookie: "c",
			EPMD:   &epmd.Client{Port: port},
			Trace:  newTrace(t),
		}
		ctx := testContext(t)
		l, err := n.Listen(ctx, "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Publish(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			l.Close()
			n.Close()
		})
		return n, newMailbox(t, n, "box")
	}
	na, a = mk("a")
	nb, b = mk("b")
	return na, nb, a, b
}

// TestGoGoMailboxes runs calls, links and monitors between two Go nodes,
// then closes one: the other sees noconnection and nodedown.
func TestGoGoMailboxes(t *testing.T) {
	ctx := testContext(t)
	_, nb, a, b := goPair(t)
	go func() {
		for {
			msg, err := b.Receive(ctx)
			if err != nil {
				return
			}
			if req, from, ok := ei.ParseCall(msg); ok {
				b.Reply(ctx, from, req)
			}
		}
	}()
	bName := ei.RegName{Name: "box", Node: ei.Atom(nb.Name)}
	if got, err := a.Call(ctx, bName, ei.Binary("ping")); err != nil || !same(got, ei.Binary("ping")) {
		t.Fatalf("Call() = %v, %v; want <<\"ping\">>", got, err)
	}
	if err := a.MonitorNodes(true); err != nil {
		t.Fatal(err)
	}
	if err := a.Link(ctx, b.Pid()); err != nil {
		t.Fatal(err)
	}
	ref, err := a.Monitor(ctx, bName)
	if err != nil {
		t.Fatal(err)
	}
	// A call after them makes sure both are in place on b's side.
	if _, err := a.Call(ctx, bName, ei.Atom("sync")); err != nil {
		t.Fatal(err)
	}
	nb.Close()
	var got []ei.Term
	for range 3 {
		got = append(got, recv(t, a))
	}
	for _, want := range []ei.Term{
		ei.Tuple{ei.Atom("EXIT"), b.Pid(), ei.Atom("noconnection")},
		ei.Tuple{ei.Atom("DOWN"), ref, ei.Atom("process"), ei.Tuple{ei.Atom("box"), ei.Atom(nb.Name)}, ei.Atom("noconnection")},
	} {
		if !containsTerm(got[:2], want) {
			t.Errorf("after b's node closed, received %v; want %v first", got, want)
		}
	}
	if want := (ei.Tuple{ei.Atom("nodedown"), ei.Atom(nb.Name)}); !same(got[2], want) {
		t.Errorf("third message = %v, want %v", got[2], want)
	}
}

// TestGoGoExitSignals checks what a mailbox's exit tells linked and
// monitoring mailboxes on another node.
func TestGoGoExitSignals(t *testing.T) {
	ctx := testContext(t)
	_, _, a, b := goPair(t)
	if err := a.Link(ctx, b.Pid()); err != nil {
		t.Fatal(err)
	}
	ref, err := a.Monitor(ctx, b.Pid())
	if err != nil {
		t.Fatal(err)
	}
	// The link and monitor reach b before a message sent after them.
	a.Send(ctx, b.Pid(), ei.Atom("after"))
	if got := recv(t, b); got != ei.Atom("after") {
		t.Fatalf("Receive() = %v, want after", got)
	}
	reason := ei.Tuple{ei.Atom("error"), ei.Binary("boom")}
	if err := b.Exit(ctx, reason); err != nil {
		t.Fatal(err)
	}
	got := []ei.Term{recv(t, a), recv(t, a)}
	for _, want := range []ei.Term{
		ei.Tuple{ei.Atom("EXIT"), b.Pid(), reason},
		ei.Tuple{ei.Atom("DOWN"), ref, ei.Atom("process"), b.Pid(), reason},
	} {
		if !containsTerm(got, want) {
			t.Errorf("after b exited, received %v; want %v among them", got, want)
		}
	}
}

func TestMailboxBadDest(t *testing.T) {
	ctx := testContext(t)
	n := localNode(t, 0)
	m := newMailbox(t, n, "")
	if err := m.Send(ctx, nil, ei.Atom("x")); err == nil {
		t.Errorf("Send(nil) succeeded")
	}
	if _, err := m.Call(ctx, nil, ei.Atom("x")); err == nil {
		t.Errorf("Call(nil) succeeded")
	}
	if _, err := m.Monitor(ctx, nil); err == nil {
		t.Errorf("Monitor(nil) succeeded")
	}
}

// TestMailboxDynamicName: a node named undefined@host has no mailboxes,
// even once a peer named it.
func TestMailboxDynamicName(t *testing.T) {
	ctx := testContext(t)
	nb, _, _, _ := goPair(t)
	n := &ei.Node{Name: "undefined@localhost", Cookie: "c", EPMD: nb.EPMD}
	c, err := n.Connect(ctx, nb.Name)
	if err != nil {
		t.Fatalf("Connect() = %v", err)
	}
	defer c.Close()
	if name, err := n.CurrentName(); err != nil {
		t.Fatalf("CurrentName() = %q, %v", name, err)
	}
	if _, err := n.NewMailbox(""); err == nil {
		t.Errorf("NewMailbox() on a node named undefined@localhost succeeded")
	}
}
