package ei_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goei/goei/ei"
	"github.com/goei/goei/epmd"
	"github.com/goei/goei/internal/erltest"
)

// testTimeout bounds each integration step; the tests do not depend on it
// for synchronization.
const testTimeout = 30 * time.Second

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// syncBuffer is a trace sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newTrace returns a sink for a Node's wire trace, logged when the test
// fails or $EI_TRACE is set.
func newTrace(t testing.TB) *syncBuffer {
	trace := new(syncBuffer)
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("EI_TRACE") != "" {
			t.Logf("wire trace:\n%s", trace.String())
		}
	})
	return trace
}

// newGoNode returns a Node using the epmd at epmdPort, with a wire trace
// (see newTrace).
func newGoNode(t testing.TB, epmdPort int, flags ei.Flags) *ei.Node {
	return &ei.Node{
		Name:   erltest.UniqueName("go") + "@" + erltest.Host(t),
		Cookie: "c",
		Flags:  flags,
		EPMD:   &epmd.Client{Port: epmdPort},
		Trace:  newTrace(t),
	}
}

// listenPublished starts a Listener for n on addr and registers it with
// epmd. The caller closes it.
func listenPublished(t testing.TB, ctx context.Context, n *ei.Node, addr string) *ei.Listener {
	t.Helper()
	l, err := n.Listen(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Publish(ctx); err != nil {
		l.Close()
		t.Fatalf("Publish() = %v", err)
	}
	return l
}

// flagSets runs tests with the 131/68 distribution header and with
// pass-through messages.
var flagSets = []struct {
	name  string
	flags ei.Flags
}{
	{"header", ei.DefaultFlags},
	{"passthrough", ei.DefaultFlags &^ (ei.FlagDistHdrAtomCache | ei.FlagFragments)},
}

func connectErl(t *testing.T, flags ei.Flags, args ...string) (*ei.Conn, *erltest.Node) {
	t.Helper()
	port := erltest.StartOTPEPMD(t)
	erl := erltest.StartErl(t, port, erltest.Options{Args: args})
	n := newGoNode(t, port, flags)
	c, err := n.Connect(testContext(t), erl.Name)
	if err != nil {
		t.Fatalf("Connect(%s) = %v\n%s", erl.Name, err, erl.Output())
	}
	t.Cleanup(func() { c.Close() })
	return c, erl
}

func TestGoToErlRPC(t *testing.T) {
	for _, fs := range flagSets {
		t.Run(fs.name, func(t *testing.T) {
			c, erl := connectErl(t, fs.flags)
			ctx := testContext(t)
			got, err := c.RPC(ctx, "erlang", "node", nil)
			if err != nil {
				t.Fatalf("RPC(erlang:node()) = %v", err)
			}
			if got != ei.Atom(erl.Name) {
				t.Errorf("RPC(erlang:node()) = %v, want %s", got, erl.Name)
			}
			got, err = c.RPC(ctx, "lists", "reverse", ei.List{ei.List{int64(1), ei.Atom("a"), ei.Binary("b")}})
			if err != nil {
				t.Fatalf("RPC(lists:reverse) = %v", err)
			}
			want := ei.List{ei.Binary("b"), ei.Atom("a"), int64(1)}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("RPC(lists:reverse) = %v, want %v", got, want)
			}
			_, err = c.RPC(ctx, "no_such_module", "f", nil)
			var rpcErr *ei.RPCError
			if !errors.As(err, &rpcErr) {
				t.Fatalf("RPC(no_such_module:f()) = %v, want *RPCError", err)
			}
			if !strings.Contains(fmt.Sprint(rpcErr.Reason), "undef") {
				t.Errorf("RPC(no_such_module:f()) reason = %v, want undef", rpcErr.Reason)
			}
			// The peer sees us as a hidden node.
			got, err = c.RPC(ctx, "erlang", "nodes", ei.List{ei.Atom("hidden")})
			if err != nil {
				t.Fatalf("RPC(erlang:nodes(hidden)) = %v", err)
			}
			if l, ok := got.(ei.List); !ok || len(l) != 1 || l[0] != ei.Atom(c.Node().Name) {
				t.Errorf("RPC(erlang:nodes(hidden)) = %v, want [%s]", got, c.Node().Name)
			}
		})
	}
}

// echoArgs starts a process registered as echo that answers {From, Msg}
// with {echo, Msg}.
var echoArgs = []string{"-eval", `register(echo, spawn(fun Loop() -> receive {From, Msg} -> From ! {echo, Msg}, Loop() end end))`}

// receive returns the next message, failing the test on error.
func receive(t *testing.T, c *ei.Conn) ei.Message {
	t.Helper()
	m, err := c.Receive(testContext(t))
	if err != nil {
		t.Fatalf("Receive() = %v", err)
	}
	return m
}

// sentTo returns the recipient and payload of a message sent to a pid
// (Send or SendSender).
func sentTo(t *testing.T, m ei.Message) (ei.Pid, ei.Term) {
	t.Helper()
	to, ok := m.To().(ei.Pid)
	if !ok {
		t.Fatalf("Receive() = %#v, want a message to a pid", m)
	}
	return to, m.Payload
}

func TestGoToErlRegSend(t *testing.T) {
	for _, fs := range flagSets {
		t.Run(fs.name, func(t *testing.T) {
			c, _ := connectErl(t, fs.flags, echoArgs...)
			ctx := testContext(t)
			waitRegistered(t, c, "echo")
			self, err := c.Node().Pid()
			if err != nil {
				t.Fatal(err)
			}
			// A big message makes erl fragment its reply when fragments
			// were negotiated (64 kB fragments).
			big := ei.Binary(bytes.Repeat([]byte("x"), 200_000))
			for _, msg := range []ei.Term{ei.Atom("hello"), ei.Tuple{int64(1), ei.Binary("two"), 3.5}, big} {
				if err := c.RegSend(ctx, self, "echo", ei.Tuple{self, msg}); err != nil {
					t.Fatalf("RegSend() = %v", err)
				}
				to, got := sentTo(t, receive(t, c))
				if to != self {
					t.Errorf("reply sent to %v, want %v", to, self)
				}
				want := ei.Tuple{ei.Atom("echo"), msg}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("echo reply = %.80v, want %.80v", got, want)
				}
			}
		})
	}
}

// spawnSleeper starts a process on the peer that sleeps forever.
func spawnSleeper(t *testing.T, c *ei.Conn) ei.Pid {
	t.Helper()
	p, err := c.RPC(testContext(t), "erlang", "spawn", ei.List{ei.Atom("timer"), ei.Atom("sleep"), ei.List{ei.Atom("infinity")}})
	if err != nil {
		t.Fatalf("RPC(spawn) = %v", err)
	}
	pid, ok := p.(ei.Pid)
	if !ok {
		t.Fatalf("RPC(spawn) = %v, want a pid", p)
	}
	return pid
}

func TestGoToErlLinkExit(t *testing.T) {
	for _, fs := range flagSets {
		t.Run(fs.name, func(t *testing.T) {
			c, _ := connectErl(t, fs.flags)
			ctx := testContext(t)
			self, _ := c.Node().Pid()

			// The peer's process exits: we get EXIT.
			p := spawnSleeper(t, c)
			if err := c.Link(ctx, self, p); err != nil {
				t.Fatalf("Link() = %v", err)
			}
			if _, err := c.RPC(ctx, "erlang", "exit", ei.List{p, ei.Atom("kill")}); err != nil {
				t.Fatalf("RPC(exit) = %v", err)
			}
			m := receive(t, c)
			want := ei.Exit{From: p, To: self, Reason: ei.Atom("killed")}
			if fmt.Sprint(m.Control) != fmt.Sprint(want) {
				t.Errorf("Receive() = %#v, want %#v", m.Control, want)
			}

			// Our process exits: the linked peer process dies.
			p = spawnSleeper(t, c)
			if err := c.Link(ctx, self, p); err != nil {
				t.Fatalf("Link() = %v", err)
			}
			if err := c.Exit(ctx, self, p, ei.Atom("boom")); err != nil {
				t.Fatalf("Exit() = %v", err)
			}
			waitDead(t, c, p)

			// EXIT2 kills an unlinked process too.
			p = spawnSleeper(t, c)
			if err := c.Exit2(ctx, self, p, ei.Atom("kill")); err != nil {
				t.Fatalf("Exit2() = %v", err)
			}
			waitDead(t, c, p)

			// UNLINK_ID is acknowledged with the same id.
			p = spawnSleeper(t, c)
			if err := c.Link(ctx, self, p); err != nil {
				t.Fatalf("Link() = %v", err)
			}
			id, err := c.Unlink(ctx, self, p)
			if err != nil {
				t.Fatalf("Unlink() = %v", err)
			}
			m = receive(t, c)
			wantAck := ei.UnlinkIDAck{ID: id, From: p, To: self}
			if fmt.Sprint(m.Control) != fmt.Sprint(wantAck) {
				t.Errorf("Receive() = %#v, want %#v", m.Control, wantAck)
			}
			// The link is gone: killing p sends no EXIT, so the next
			// message is the EXIT of a process still linked.
			q := spawnSleeper(t, c)
			c.Link(ctx, self, q)
			c.RPC(ctx, "erlang", "exit", ei.List{p, ei.Atom("kill")})
			c.RPC(ctx, "erlang", "exit", ei.List{q, ei.Atom("kill")})
			m = receive(t, c)
			if e, ok := m.Control.(ei.Exit); !ok || e.From != q {
				t.Errorf("Receive() = %#v, want the EXIT of %v", m.Control, q)
			}
		})
	}
}

// waitRegistered polls until a process is registered as name on the peer
// (erl -eval runs after the node registers with epmd).
func waitRegistered(t *testing.T, c *ei.Conn, name ei.Atom) {
	t.Helper()
	ctx := testContext(t)
	for {
		p, err := c.RPC(ctx, "erlang", "whereis", ei.List{name})
		if err != nil {
			t.Fatalf("RPC(whereis) = %v", err)
		}
		if _, ok := p.(ei.Pid); ok {
			return
		}
	}
}

// waitDead polls until p is no longer alive.
func waitDead(t *testing.T, c *ei.Conn, p ei.Pid) {
	t.Helper()
	ctx := testContext(t)
	for {
		alive, err := c.RPC(ctx, "erlang", "is_process_alive", ei.List{p})
		if err != nil {
			t.Fatalf("RPC(is_process_alive) = %v", err)
		}
		if alive == ei.Atom("false") {
			return
		}
	}
}

func TestErlToGo(t *testing.T) {
	for _, fs := range flagSets {
		t.Run(fs.name, func(t *testing.T) {
			port := erltest.StartOTPEPMD(t)
			n := newGoNode(t, port, fs.flags)
			ctx := testContext(t)
			l := listenPublished(t, ctx, n, ":0")
			defer l.Close()
			creation, _ := n.CurrentCreation()

			type result struct {
				msg ei.Message
				err error
			}
			done := make(chan result, 1)
			go func() {
				c, err := l.Accept(ctx)
				if err != nil {
					done <- result{err: err}
					return
				}
				defer c.Close()
				m, err := c.Receive(ctx)
				if err == nil {
					if rs, ok := m.Control.(ei.RegSend); ok {
						if t, ok := m.Payload.(ei.Tuple); ok && len(t) == 2 {
							if from, ok := t[1].(ei.Pid); ok {
								err = c.Send(ctx, from, ei.Tuple{ei.Atom("reply"), ei.Binary("from go"), ei.Atom(rs.To)})
							}
						}
					}
				}
				if err == nil {
					// Wait for erl to halt and close the connection.
					_, err = c.Receive(ctx)
					if errors.Is(err, io.EOF) {
						err = nil
					}
				}
				done <- result{m, err}
			}()

			expr := fmt.Sprintf(`{gonode, '%s'} ! {hello, self()}, receive R -> io:format("got ~p~n", [R]) after 20000 -> io:format("timeout~n") end`, n.Name)
			out := erltest.Eval(t, port, expr, "-sname", erltest.UniqueName("erl"), "-setcookie", "c")
			r := <-done
			if r.err != nil {
				t.Fatalf("accept and receive: %v\nerl: %s", r.err, out)
			}
			wantCtl := ei.RegSend{To: "gonode"}
			if rs, ok := r.msg.Control.(ei.RegSend); !ok || rs.To != wantCtl.To {
				t.Errorf("Receive() = %#v, want %#v", r.msg.Control, wantCtl)
			}
			if want := `got {reply,<<"from go">>,gonode}`; !strings.Contains(out, want) {
				t.Errorf("erl printed %q, want %q", out, want)
			}
			if creation == 0 {
				t.Errorf("creation after Publish = 0")
			}
		})
	}
}

func TestGoToErlWrongCookie(t *testing.T) {
	port := erltest.StartOTPEPMD(t)
	erl := erltest.StartErl(t, port, erltest.Options{})
	n := newGoNode(t, port, 0)
	n.Cookie = "wrong"
	c, err := n.Connect(testContext(t), erl.Name)
	if err == nil {
		c.Close()
		t.Fatalf("Connect(%s) with a wrong cookie succeeded", erl.Name)
	}
	// erl closes the connection on a wrong digest, without a status.
	if !errors.Is(err, ei.ErrAuth) {
		t.Errorf("Connect(%s) = %v, want ErrAuth", erl.Name, err)
	}
	msg := err.Error()
	if strings.Count(msg, "ei: ") != 1 || strings.Count(msg, erl.Name) != 1 {
		t.Errorf("Connect(%s) = %q, want the prefix \"ei: \" and the peer's name once each", erl.Name, msg)
	}
}

// TestErlToGoWrongCookie has erl connect to a Listener with another
// cookie: the handshake fails, and the Listener goes on accepting.
func TestErlToGoWrongCookie(t *testing.T) {
	port := erltest.StartOTPEPMD(t)
	n := newGoNode(t, port, 0)
	ctx := testContext(t)
	l := listenPublished(t, ctx, n, ":0")
	defer l.Close()
	accepted := make(chan error, 1)
	go func() {
		c, err := l.Accept(ctx)
		if err == nil {
			c.Close()
		}
		accepted <- err
	}()
	expr := fmt.Sprintf(`io:format("~p~n", [net_kernel:hidden_connect_node('%s')])`, n.Name)
	if out := erltest.Eval(t, port, expr, "-sname", erltest.UniqueName("erl"), "-setcookie", "wrong"); strings.TrimSpace(out) != "false" {
		t.Errorf("erl with a wrong cookie: hidden_connect_node printed %q, want false", out)
	}
	out := erltest.Eval(t, port, expr, "-sname", erltest.UniqueName("erl"), "-setcookie", "c")
	if strings.TrimSpace(out) != "true" {
		t.Errorf("erl: hidden_connect_node printed %q, want true", out)
	}
	if err := <-accepted; err != nil {
		t.Fatalf("Accept() = %v", err)
	}
}

// TestConnectAddrAnyPeer connects by address alone, learning the name
// from erl's challenge.
func TestConnectAddrAnyPeer(t *testing.T) {
	port := erltest.StartOTPEPMD(t)
	erl := erltest.StartErl(t, port, erltest.Options{})
	dport, err := erltest.PortOf(port, erl.SName)
	if err != nil {
		t.Fatal(err)
	}
	n := newGoNode(t, port, 0)
	ctx := testContext(t)
	c, err := n.ConnectAddr(ctx, "", fmt.Sprintf("127.0.0.1:%d", dport))
	if err != nil {
		t.Fatalf("ConnectAddr(\"\") = %v\n%s", err, erl.Output())
	}
	defer c.Close()
	if c.Peer() != ei.Atom(erl.Name) {
		t.Errorf("Peer() = %s, want %s", c.Peer(), erl.Name)
	}
	got, err := c.RPC(ctx, "erlang", "node", nil)
	if err != nil || got != ei.Atom(erl.Name) {
		t.Errorf("RPC(erlang:node()) = %v, %v, want %s", got, err, erl.Name)
	}
}

func TestConnectNotRegistered(t *testing.T) {
	port := erltest.StartOTPEPMD(t)
	n := newGoNode(t, port, 0)
	_, err := n.Connect(testContext(t), "nobody@"+erltest.Host(t))
	if !errors.Is(err, epmd.ErrNotRegistered) {
		t.Errorf("Connect(nobody) = %v, want epmd.ErrNotRegistered", err)
	}
}
