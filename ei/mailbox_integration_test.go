package ei_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/goei/goei/ei"
	"github.com/goei/goei/internal/erltest"
)

// mbtestModule runs in the erl node of the mailbox tests: a gen_server,
// and processes that report what they see to a Go mailbox.
const mbtestModule = `-module(goei_mbtest).
-behaviour(gen_server).
-export([start_server/1, init/1, handle_call/3, handle_cast/2, handle_info/2,
         start_peers/2, watch/2, link_watch/2, sleeper/0]).

start_server(Name) ->
    {ok, Pid} = gen_server:start({local, Name}, ?MODULE, [], []),
    Pid.

init([]) -> {ok, #{casts => 0}}.

handle_call(ping, _From, S) -> {reply, pong, S};
handle_call({echo, X}, _From, S) -> {reply, X, S};
handle_call(casts, _From, S = #{casts := N}) -> {reply, N, S};
handle_call({stop, Reason}, _From, S) -> {stop, Reason, S};
%% late: tells the caller {got_call, Replier}; Replier answers the call
%% once it gets go, then sends marker to the caller.
handle_call(late, {Pid, _} = From, S) ->
    Replier = spawn(fun() -> receive go -> gen_server:reply(From, late), Pid ! marker end end),
    Pid ! {got_call, Replier},
    {noreply, S}.

handle_cast(_, S = #{casts := N}) -> {noreply, S#{casts := N + 1}}.

handle_info(_, S) -> {noreply, S}.

%% start_peers spawns a process per Go pid: on start it sends
%% {seq, Self, I} for I in 1..N to its Go pid, checks that {seq, GoPid, I}
%% arrive from it in order, and reports {done, Self, Result}.
start_peers(GoPids, N) ->
    [spawn(fun() -> peer(G, N) end) || G <- GoPids].

peer(G, N) ->
    receive start -> ok end,
    [G ! {seq, self(), I} || I <- lists:seq(1, N)],
    G ! {done, self(), recv_seq(G, 1, N)}.

recv_seq(_, I, N) when I > N -> ok;
recv_seq(G, I, N) ->
    receive
        {seq, G, I} -> recv_seq(G, I + 1, N);
        {seq, G, J} -> {bad, I, J}
    after 60000 -> {timeout, I}
    end.

%% watch monitors Target and reports {watching, Self} and then
%% {down, Self, Obj, Reason} to ReportTo.
watch(Target, ReportTo) ->
    spawn(fun() ->
        Ref = erlang:monitor(process, Target),
        ReportTo ! {watching, self()},
        receive {'DOWN', Ref, process, Obj, Reason} -> ReportTo ! {down, self(), Obj, Reason} end
    end).

%% link_watch links to Target, trapping exits, and reports {linked, Self}
%% and then {exit, Self, Reason} to ReportTo.
link_watch(Target, ReportTo) ->
    spawn(fun() ->
        process_flag(trap_exit, true),
        link(Target),
        ReportTo ! {linked, self()},
        receive {'EXIT', Target, Reason} -> ReportTo ! {exit, self(), Reason} end
    end).

sleeper() -> spawn(fun() -> receive after infinity -> ok end end).
`

// mbEnv is an erl node running goei_mbtest and its gen_server srv, and a
// Go node with a published Listener whose table connects to it.
type mbEnv struct {
	otp  erltest.OTP
	erl  *erltest.Node
	node *ei.Node
	port int // epmd
	peer ei.Atom
	args []string
}

// startMailboxEnv starts the erl node of otp and the Go node. The Go
// node's name is prefix followed by a unique suffix.
func startMailboxEnv(t testing.TB, otp erltest.OTP, prefix string) *mbEnv {
	t.Helper()
	port := erltest.StartOTPEPMD(t)
	e := &mbEnv{otp: otp, port: port, args: mbtestArgs(t, otp)}
	e.erl = otp.StartErl(t, port, erltest.Options{Args: e.args})
	e.peer = ei.Atom(e.erl.Name)
	e.node = startGoNode(t, port, prefix)
	e.waitServer(t)
	return e
}

// eachOTP runs f in a subtest for each OTP release at hand (see
// erltest.OTPs), with an mbEnv on it.
func eachOTP(t *testing.T, f func(t *testing.T, e *mbEnv)) {
	for _, otp := range erltest.OTPs(t) {
		t.Run(otp.String(), func(t *testing.T) { f(t, startMailboxEnv(t, otp, "go")) })
	}
}

// mbtestArgs returns erl arguments that compile and load goei_mbtest and
// start its gen_server as srv.
func mbtestArgs(t testing.TB, otp erltest.OTP) []string {
	return moduleArgs(t, otp, "goei_mbtest", mbtestModule, "goei_mbtest:start_server(srv)")
}

// moduleArgs returns erl arguments that compile and load the module
// name, whose source is src, and then evaluate the expression then.
func moduleArgs(t testing.TB, otp erltest.OTP, name, src, then string) []string {
	dir := t.TempDir()
	if otp.Root != "" {
		// erl in a chroot sees only the files inside it.
		var err error
		if dir, err = os.MkdirTemp(filepath.Join(otp.Root, "tmp"), name); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
	}
	if err := os.WriteFile(filepath.Join(dir, name+".erl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	in := strings.TrimPrefix(dir, otp.Root) // the directory as erl sees it
	eval := fmt.Sprintf(`{ok, _} = compile:file("%s", [{outdir, "%s"}]), code:add_patha("%s"), %s`,
		filepath.Join(in, name+".erl"), in, in, then)
	return []string{"-eval", eval}
}

// startGoNode returns a Go node named prefix plus a unique suffix, with a
// Listener registered with the epmd at port; both are closed at cleanup.
func startGoNode(t testing.TB, port int, prefix string) *ei.Node {
	t.Helper()
	return startGoNodeWith(t, port, prefix, nil)
}

// startGoNodeWith is startGoNode for a node that config sets up before
// its first use.
func startGoNodeWith(t testing.TB, port int, prefix string, config func(*ei.Node)) *ei.Node {
	t.Helper()
	n := newGoNode(t, port, 0)
	n.Name = erltest.UniqueName(prefix) + "@" + erltest.Host(t)
	if _, ok := t.(*testing.B); ok {
		n.Trace = nil // it would be what the benchmark measures
	}
	if config != nil {
		config(n)
	}
	ctx := testContext(t)
	l, err := n.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Publish(ctx); err != nil {
		t.Fatalf("Publish() = %v", err)
	}
	t.Cleanup(func() {
		l.Close()
		n.Close()
	})
	return n
}

// waitServer waits until srv is registered on the erl node.
func (e *mbEnv) waitServer(t testing.TB) {
	t.Helper()
	for {
		p := e.rpc(t, "erlang", "whereis", ei.Atom("srv"))
		if _, ok := p.(ei.Pid); ok {
			return
		}
		select {
		case <-e.erl.Exited():
			t.Fatalf("erl exited:\n%s", e.erl.Output())
		default:
		}
	}
}

// rpc calls mod:fun(args...) on the erl node, failing the test on error.
func (e *mbEnv) rpc(t testing.TB, mod, fun ei.Atom, args ...ei.Term) ei.Term {
	t.Helper()
	if args == nil {
		args = ei.List{}
	}
	got, err := e.node.RPC(testContext(t), e.peer, mod, fun, args)
	if err != nil {
		t.Fatalf("RPC(%s:%s%v) = %v\n%s", mod, fun, args, err, e.erl.Output())
	}
	return got
}

func newMailbox(t testing.TB, n *ei.Node, name ei.Atom) *ei.Mailbox {
	t.Helper()
	m, err := n.NewMailbox(name)
	if err != nil {
		t.Fatalf("NewMailbox(%q) = %v", name, err)
	}
	return m
}

// recv returns the next message of m, failing the test on error.
func recv(t testing.TB, m *ei.Mailbox) ei.Term {
	t.Helper()
	msg, err := m.Receive(testContext(t))
	if err != nil {
		t.Fatalf("Receive() = %v", err)
	}
	return msg
}

// same reports whether two terms are equal (Refs hold slices).
func same(a, b ei.Term) bool { return reflect.DeepEqual(a, b) }

func TestMailboxSendReceive(t *testing.T) {
	eachOTP(t, func(t *testing.T, e *mbEnv) {
		ctx := testContext(t)
		inbox := newMailbox(t, e.node, "inbox")

		// erl sends to our registered name and to our pid; a name and a pid
		// that do not exist get nothing, and do not disturb the others.
		dead := newMailbox(t, e.node, "")
		dead.Close()
		for _, to := range []ei.Term{
			ei.Tuple{ei.Atom("nobody"), ei.Atom(e.node.Name)},
			dead.Pid(),
			ei.Tuple{ei.Atom("inbox"), ei.Atom(e.node.Name)},
			inbox.Pid(),
		} {
			e.rpc(t, "erlang", "send", to, ei.Tuple{ei.Atom("hello"), to})
		}
		for _, want := range []ei.Term{
			ei.Tuple{ei.Atom("hello"), ei.Tuple{ei.Atom("inbox"), ei.Atom(e.node.Name)}},
			ei.Tuple{ei.Atom("hello"), inbox.Pid()},
		} {
			if got := recv(t, inbox); !same(got, want) {
				t.Errorf("Receive() = %v, want %v", got, want)
			}
		}

		// We send to a registered name and to a pid on erl; srv answers
		// calls.
		srv := ei.RegName{Name: "srv", Node: e.peer}
		got, err := inbox.Call(ctx, srv, ei.Tuple{ei.Atom("echo"), ei.Binary("by name")})
		if err != nil || !same(got, ei.Binary("by name")) {
			t.Errorf("Call(srv, echo) = %v, %v; want <<\"by name\">>", got, err)
		}
		pid := e.rpc(t, "erlang", "whereis", ei.Atom("srv")).(ei.Pid)
		got, err = inbox.Call(ctx, pid, ei.Tuple{ei.Atom("echo"), ei.Binary("by pid")})
		if err != nil || !same(got, ei.Binary("by pid")) {
			t.Errorf("Call(pid, echo) = %v, %v; want <<\"by pid\">>", got, err)
		}
		if err := inbox.Cast(ctx, srv, ei.Atom("one")); err != nil {
			t.Fatalf("Cast() = %v", err)
		}
		if err := inbox.Cast(ctx, pid, ei.Atom("two")); err != nil {
			t.Fatalf("Cast() = %v", err)
		}
		if got, err := inbox.Call(ctx, srv, ei.Atom("casts")); err != nil || got != int64(2) {
			t.Errorf("Call(casts) = %v, %v; want 2", got, err)
		}
		if got := e.node.Nodes(); !same(got, []ei.Atom{e.peer}) {
			t.Errorf("Nodes() = %v, want [%s]", got, e.peer)
		}
	})
}

// TestMailboxNoconnection kills the erl node: every link and monitor over
// the connection gets noconnection, and MonitorNodes reports nodedown
// after them.
func TestMailboxNoconnection(t *testing.T) {
	eachOTP(t, func(t *testing.T, e *mbEnv) {
		ctx := testContext(t)
		m := newMailbox(t, e.node, "")
		events := newMailbox(t, e.node, "")
		if err := events.MonitorNodes(true); err != nil {
			t.Fatal(err)
		}
		linked := e.rpc(t, "goei_mbtest", "sleeper").(ei.Pid)
		watched := e.rpc(t, "goei_mbtest", "sleeper").(ei.Pid)
		if err := m.Link(ctx, linked); err != nil {
			t.Fatalf("Link() = %v", err)
		}
		byPid, err := m.Monitor(ctx, watched)
		if err != nil {
			t.Fatalf("Monitor(pid) = %v", err)
		}
		name := ei.RegName{Name: "srv", Node: e.peer}
		byName, err := m.Monitor(ctx, name)
		if err != nil {
			t.Fatalf("Monitor(name) = %v", err)
		}
		// The monitors are in place once erl answered something sent after
		// them on the same connection.
		e.rpc(t, "erlang", "node")
		e.erl.Kill()

		want := []ei.Term{
			ei.Tuple{ei.Atom("EXIT"), linked, ei.Atom("noconnection")},
			ei.Tuple{ei.Atom("DOWN"), byPid, ei.Atom("process"), watched, ei.Atom("noconnection")},
			ei.Tuple{ei.Atom("DOWN"), byName, ei.Atom("process"), ei.Tuple{ei.Atom("srv"), e.peer}, ei.Atom("noconnection")},
		}
		var got []ei.Term
		for range want {
			got = append(got, recv(t, m))
		}
		for _, w := range want {
			if !containsTerm(got, w) {
				t.Errorf("after killing erl, received %v; want %v among them", got, w)
			}
		}
		if got := recv(t, events); !same(got, ei.Tuple{ei.Atom("nodedown"), e.peer}) {
			t.Errorf("MonitorNodes: Receive() = %v, want {nodedown, %s}", got, e.peer)
		}
		if got := e.node.Nodes(); len(got) != 0 {
			t.Errorf("Nodes() = %v after nodedown, want none", got)
		}

		// A call to the dead node fails with the connection error; after erl
		// comes back under the same name, the next one reconnects.
		short, cancel := context.WithTimeout(ctx, testTimeout/3)
		defer cancel()
		if _, err := m.Call(short, name, ei.Atom("ping")); err == nil {
			t.Errorf("Call(%v) with erl dead succeeded", name)
		}
		e.erl = e.otp.StartErl(t, e.port, erltest.Options{SName: e.erl.SName, Args: e.args})
		e.waitServer(t)
		if got, err := m.Call(ctx, name, ei.Atom("ping")); err != nil || got != ei.Atom("pong") {
			t.Errorf("Call(ping) after erl restarted = %v, %v; want pong", got, err)
		}
		if got := recv(t, events); !same(got, ei.Tuple{ei.Atom("nodeup"), e.peer}) {
			t.Errorf("MonitorNodes: Receive() = %v, want {nodeup, %s}", got, e.peer)
		}
	})
}

func containsTerm(ts []ei.Term, t ei.Term) bool {
	for _, x := range ts {
		if same(x, t) {
			return true
		}
	}
	return false
}

// TestMailboxLinks links Go mailboxes and erl processes both ways.
func TestMailboxLinks(t *testing.T) {
	eachOTP(t, func(t *testing.T, e *mbEnv) {
		ctx := testContext(t)
		m := newMailbox(t, e.node, "")

		// An erl process we link to dies: we get its exit reason.
		p := e.rpc(t, "goei_mbtest", "sleeper").(ei.Pid)
		if err := m.Link(ctx, p); err != nil {
			t.Fatalf("Link() = %v", err)
		}
		e.rpc(t, "erlang", "exit", p, ei.Atom("kill"))
		if got, want := recv(t, m), (ei.Tuple{ei.Atom("EXIT"), p, ei.Atom("killed")}); !same(got, want) {
			t.Errorf("Receive() = %v, want %v", got, want)
		}

		// Linking to a process that does not exist gives noproc.
		if err := m.Link(ctx, p); err != nil {
			t.Fatalf("Link() = %v", err)
		}
		if got, want := recv(t, m), (ei.Tuple{ei.Atom("EXIT"), p, ei.Atom("noproc")}); !same(got, want) {
			t.Errorf("Receive() = %v, want %v", got, want)
		}

		// After Unlink, the process's death sends nothing: the next message
		// is the EXIT of one still linked.
		p = e.rpc(t, "goei_mbtest", "sleeper").(ei.Pid)
		q := e.rpc(t, "goei_mbtest", "sleeper").(ei.Pid)
		if err := m.Link(ctx, p); err != nil {
			t.Fatal(err)
		}
		if err := m.Link(ctx, q); err != nil {
			t.Fatal(err)
		}
		if err := m.Unlink(ctx, p); err != nil {
			t.Fatalf("Unlink() = %v", err)
		}
		e.rpc(t, "erlang", "exit", p, ei.Atom("kill"))
		e.rpc(t, "erlang", "exit", q, ei.Atom("kill"))
		if got, want := recv(t, m), (ei.Tuple{ei.Atom("EXIT"), q, ei.Atom("killed")}); !same(got, want) {
			t.Errorf("Receive() = %v, want %v", got, want)
		}

		// An erl process links to our mailbox: our exit reason reaches it.
		target := newMailbox(t, e.node, "")
		w := e.rpc(t, "goei_mbtest", "link_watch", target.Pid(), m.Pid()).(ei.Pid)
		if got, want := recv(t, m), (ei.Tuple{ei.Atom("linked"), w}); !same(got, want) {
			t.Fatalf("Receive() = %v, want %v", got, want)
		}
		reason := ei.Tuple{ei.Atom("shutdown"), ei.Binary("bye")}
		if err := target.Exit(ctx, reason); err != nil {
			t.Fatalf("Exit() = %v", err)
		}
		if got, want := recv(t, m), (ei.Tuple{ei.Atom("exit"), w, reason}); !same(got, want) {
			t.Errorf("Receive() = %v, want %v", got, want)
		}
		// Linking to our pid that no longer exists gives noproc.
		w = e.rpc(t, "goei_mbtest", "link_watch", target.Pid(), m.Pid()).(ei.Pid)
		recv(t, m) // linked
		if got, want := recv(t, m), (ei.Tuple{ei.Atom("exit"), w, ei.Atom("noproc")}); !same(got, want) {
			t.Errorf("Receive() = %v, want %v", got, want)
		}

		// exit/2 from erl arrives as a message, even kill.
		e.rpc(t, "erlang", "exit", m.Pid(), ei.Atom("kill"))
		if got := recv(t, m); !(len(got.(ei.Tuple)) == 3 && got.(ei.Tuple)[2] == ei.Atom("kill")) {
			t.Errorf("Receive() = %v, want {'EXIT', _, kill}", got)
		}
	})
}

// TestMailboxMonitoredByErl has erl processes monitor Go mailboxes by pid
// and by name.
func TestMailboxMonitoredByErl(t *testing.T) {
	eachOTP(t, func(t *testing.T, e *mbEnv) {
		ctx := testContext(t)
		m := newMailbox(t, e.node, "")
		self := ei.Atom(e.node.Name)
		for _, byName := range []bool{false, true} {
			target := newMailbox(t, e.node, "watched")
			var obj ei.Term = target.Pid()
			if byName {
				obj = ei.Tuple{ei.Atom("watched"), self}
			}
			w := e.rpc(t, "goei_mbtest", "watch", obj, m.Pid()).(ei.Pid)
			if got, want := recv(t, m), (ei.Tuple{ei.Atom("watching"), w}); !same(got, want) {
				t.Fatalf("Receive() = %v, want %v", got, want)
			}
			if err := target.Exit(ctx, ei.Atom("done")); err != nil {
				t.Fatalf("Exit() = %v", err)
			}
			if got, want := recv(t, m), (ei.Tuple{ei.Atom("down"), w, obj, ei.Atom("done")}); !same(got, want) {
				t.Errorf("byName=%v: Receive() = %v, want %v", byName, got, want)
			}
			// The target is gone: monitoring it gives noproc.
			w = e.rpc(t, "goei_mbtest", "watch", obj, m.Pid()).(ei.Pid)
			recv(t, m) // watching
			if got, want := recv(t, m), (ei.Tuple{ei.Atom("down"), w, obj, ei.Atom("noproc")}); !same(got, want) {
				t.Errorf("byName=%v: Receive() = %v, want %v", byName, got, want)
			}
		}
	})
}

// TestMailboxMonitorErl monitors erl processes by pid and by name.
func TestMailboxMonitorErl(t *testing.T) {
	eachOTP(t, func(t *testing.T, e *mbEnv) {
		ctx := testContext(t)
		m := newMailbox(t, e.node, "")
		p := e.rpc(t, "goei_mbtest", "sleeper").(ei.Pid)
		ref, err := m.Monitor(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		e.rpc(t, "erlang", "exit", p, ei.Atom("kill"))
		if got, want := recv(t, m), (ei.Tuple{ei.Atom("DOWN"), ref, ei.Atom("process"), p, ei.Atom("killed")}); !same(got, want) {
			t.Errorf("Receive() = %v, want %v", got, want)
		}
		// Dead pid, unknown name: noproc.
		name := ei.RegName{Name: "nobody", Node: e.peer}
		for _, to := range []ei.Dest{p, name} {
			ref, err := m.Monitor(ctx, to)
			if err != nil {
				t.Fatal(err)
			}
			obj := ei.Term(p)
			if to == name {
				obj = ei.Tuple{ei.Atom("nobody"), e.peer}
			}
			if got, want := recv(t, m), (ei.Tuple{ei.Atom("DOWN"), ref, ei.Atom("process"), obj, ei.Atom("noproc")}); !same(got, want) {
				t.Errorf("Receive() = %v, want %v", got, want)
			}
		}
		// Demonitor: the process's death sends nothing; the next DOWN is of
		// another monitor.
		p = e.rpc(t, "goei_mbtest", "sleeper").(ei.Pid)
		q := e.rpc(t, "goei_mbtest", "sleeper").(ei.Pid)
		ref, _ = m.Monitor(ctx, p)
		refQ, _ := m.Monitor(ctx, q)
		if err := m.Demonitor(ctx, ref); err != nil {
			t.Fatalf("Demonitor() = %v", err)
		}
		e.rpc(t, "erlang", "exit", p, ei.Atom("kill"))
		e.rpc(t, "erlang", "exit", q, ei.Atom("kill"))
		if got, want := recv(t, m), (ei.Tuple{ei.Atom("DOWN"), refQ, ei.Atom("process"), q, ei.Atom("killed")}); !same(got, want) {
			t.Errorf("Receive() = %v, want %v", got, want)
		}
	})
}

// TestMailboxCallErl calls erl's gen_server: live, dead, dying, and one
// that does not answer in time.
func TestMailboxCallErl(t *testing.T) {
	eachOTP(t, func(t *testing.T, e *mbEnv) {
		ctx := testContext(t)
		m := newMailbox(t, e.node, "")
		srv := ei.RegName{Name: "srv", Node: e.peer}

		if got, err := m.Call(ctx, srv, ei.Atom("ping")); err != nil || got != ei.Atom("pong") {
			t.Fatalf("Call(ping) = %v, %v; want pong", got, err)
		}

		// A call abandoned by its context: the reply that comes later
		// is dropped, not queued (erl sends marker after it).
		ctx2, cancel := context.WithCancel(ctx)
		defer cancel()
		called := make(chan error, 1)
		go func() {
			_, err := m.Call(ctx2, srv, ei.Atom("late"))
			called <- err
		}()
		got := recv(t, m)
		replier, ok := got.(ei.Tuple)
		if !ok || len(replier) != 2 || replier[0] != ei.Atom("got_call") {
			t.Fatalf("Receive() = %v, want {got_call, Replier}", got)
		}
		cancel()
		if err := <-called; !errors.Is(err, context.Canceled) {
			t.Errorf("Call(late) canceled = %v, want context.Canceled", err)
		}
		if err := m.Send(ctx, replier[1].(ei.Pid), ei.Atom("go")); err != nil {
			t.Fatal(err)
		}
		if got := recv(t, m); got != ei.Atom("marker") {
			t.Errorf("Receive() = %v after the abandoned call, want marker (the late reply dropped)", got)
		}

		// A server dying in the call: its exit reason.
		pid := e.rpc(t, "erlang", "whereis", ei.Atom("srv")).(ei.Pid)
		reason := ei.Tuple{ei.Atom("shutdown"), ei.Atom("asked")}
		_, err := m.Call(ctx, srv, ei.Tuple{ei.Atom("stop"), reason})
		var ce *ei.CallError
		if !errors.As(err, &ce) || !same(ce.Reason, reason) {
			t.Errorf("Call(stop) = %v, want *CallError with reason %v", err, reason)
		}

		// A dead server, by name and by pid: noproc.
		for _, to := range []ei.Dest{srv, pid} {
			_, err = m.Call(ctx, to, ei.Atom("ping"))
			if !errors.As(err, &ce) || ce.Reason != ei.Atom("noproc") {
				t.Errorf("Call(%v) to a dead server = %v, want *CallError noproc", to, err)
			}
		}

		// Nothing of the calls reached the mailbox's queue.
		empty, cancel2 := context.WithTimeout(ctx, 0)
		defer cancel2()
		if msg, err := m.Receive(empty); err == nil {
			t.Errorf("Receive() = %v after calls, want nothing", msg)
		}
	})
}

// TestErlCallsGoMailbox has erl call a Go mailbox with gen_server:call,
// by name and by pid.
func TestErlCallsGoMailbox(t *testing.T) {
	eachOTP(t, func(t *testing.T, e *mbEnv) {
		ctx := testContext(t)
		srv := newMailbox(t, e.node, "gosrv")
		go func() {
			for {
				msg, err := srv.Receive(ctx)
				if err != nil {
					return
				}
				if req, from, ok := ei.ParseCall(msg); ok {
					srv.Reply(ctx, from, ei.Tuple{ei.Atom("got"), req})
				}
			}
		}()
		self := ei.Atom(e.node.Name)
		for _, to := range []ei.Term{ei.Tuple{ei.Atom("gosrv"), self}, srv.Pid()} {
			got := e.rpc(t, "gen_server", "call", to, ei.Binary("req"), int64(10000))
			if want := (ei.Tuple{ei.Atom("got"), ei.Binary("req")}); !same(got, want) {
				t.Errorf("gen_server:call(%v, <<\"req\">>) = %v, want %v", to, got, want)
			}
		}
		// erl's tags are [alias|Ref]: the replies went to the aliases.
		if trace := e.node.Trace.(*syncBuffer).String(); strings.Count(trace, "-> ei.AliasSend{") != 2 {
			t.Errorf("the replies were not sent with ALIAS_SEND")
		}
		// A Go name that does not exist: erl's call exits with noproc.
		_, err := e.node.RPC(ctx, e.peer, "gen_server", "call", ei.List{ei.Tuple{ei.Atom("nobody"), self}, ei.Atom("req"), int64(10000)})
		var re *ei.RPCError
		if !errors.As(err, &re) || !containsAtom(re.Reason, "noproc") {
			t.Errorf("gen_server:call({nobody, go}) = %v, want badrpc with noproc", err)
		}
	})
}

// containsAtom reports whether t contains the atom a anywhere.
func containsAtom(t ei.Term, a ei.Atom) bool {
	switch t := t.(type) {
	case ei.Atom:
		return t == a
	case ei.Tuple:
		for _, e := range t {
			if containsAtom(e, a) {
				return true
			}
		}
	case ei.List:
		for _, e := range t {
			if containsAtom(e, a) {
				return true
			}
		}
	}
	return false
}

// TestMailboxesManyPairs has 1000 Go mailboxes exchange 100 messages each
// way with 1000 erl processes, all over one connection: none is lost or
// reordered.
func TestMailboxesManyPairs(t *testing.T) {
	const mailboxes, perPair = 1000, 100
	e := startMailboxEnv(t, erltest.OTP{}, "go")
	// 200,000 messages: a slow machine under -race needs minutes.
	ctx, cancel := context.WithTimeout(context.Background(), 10*testTimeout)
	defer cancel()
	mbs := make([]*ei.Mailbox, mailboxes)
	pids := make(ei.List, mailboxes)
	for i := range mbs {
		mbs[i] = newMailbox(t, e.node, "")
		pids[i] = mbs[i].Pid()
	}
	peers := e.rpc(t, "goei_mbtest", "start_peers", pids, int64(perPair)).(ei.List)
	var wg sync.WaitGroup
	errs := make(chan error, mailboxes)
	for i, m := range mbs {
		peer := peers[i].(ei.Pid)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- exchange(ctx, m, peer, perPair)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// exchange runs the Go side of one goei_mbtest peer.
func exchange(ctx context.Context, m *ei.Mailbox, peer ei.Pid, n int) error {
	if err := m.Send(ctx, peer, ei.Atom("start")); err != nil {
		return err
	}
	for i := 1; i <= n; i++ {
		if err := m.Send(ctx, peer, ei.Tuple{ei.Atom("seq"), m.Pid(), int64(i)}); err != nil {
			return err
		}
	}
	for i := 1; i <= n; i++ {
		msg, err := m.Receive(ctx)
		if err != nil {
			return fmt.Errorf("mailbox %v: message %d: %w", m.Pid(), i, err)
		}
		if want := (ei.Tuple{ei.Atom("seq"), peer, int64(i)}); !same(msg, want) {
			return fmt.Errorf("mailbox %v: message %d = %v, want %v", m.Pid(), i, msg, want)
		}
	}
	msg, err := m.Receive(ctx)
	if err != nil {
		return err
	}
	if want := (ei.Tuple{ei.Atom("done"), peer, ei.Atom("ok")}); !same(msg, want) {
		return fmt.Errorf("mailbox %v: erl reported %v, want %v", m.Pid(), msg, want)
	}
	return nil
}
