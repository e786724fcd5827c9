package ei_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goei/goei/ei"
	"github.com/goei/goei/internal/erltest"
)

// monitorFlagSets runs the monitor tests with MONITOR_P_EXIT and, with
// FlagExitPayload, PAYLOAD_MONITOR_P_EXIT.
var monitorFlagSets = []struct {
	name  string
	flags ei.Flags
}{
	{"default", ei.DefaultFlags},
	{"exit_payload", ei.DefaultFlags | ei.FlagExitPayload},
}

var refSeq atomic.Uint32

// newRef returns a reference of c's local node, distinct from the
// others this test binary makes.
func newRef(t *testing.T, c *ei.Conn) ei.Ref {
	t.Helper()
	creation, err := c.Node().CurrentCreation()
	if err != nil {
		t.Fatal(err)
	}
	return ei.Ref{Node: ei.Atom(c.Node().Name), Creation: creation, ID: []uint32{refSeq.Add(1), 0, 0}}
}

// down is the 'DOWN' a monitor delivers, from MonitorPExit or
// PayloadMonitorPExit.
type down struct {
	From   ei.Term
	To     ei.Pid
	Ref    ei.Ref
	Reason ei.Term
}

// receiveDown returns the next message, which must be a 'DOWN'.
func receiveDown(t *testing.T, c *ei.Conn) down {
	t.Helper()
	m := receive(t, c)
	switch ctl := m.Control.(type) {
	case ei.MonitorPExit:
		if c.Flags()&ei.FlagExitPayload != 0 {
			t.Errorf("got MONITOR_P_EXIT with FlagExitPayload negotiated")
		}
		return down{ctl.From, ctl.To, ctl.Ref, ctl.Reason}
	case ei.PayloadMonitorPExit:
		if c.Flags()&ei.FlagExitPayload == 0 {
			t.Errorf("got PAYLOAD_MONITOR_P_EXIT without FlagExitPayload negotiated")
		}
		return down{ctl.From, ctl.To, ctl.Ref, m.Payload}
	}
	t.Fatalf("Receive() = %#v, want MONITOR_P_EXIT", m)
	return down{}
}

// registerSleeper starts a process on the peer that sleeps forever,
// registered as name.
func registerSleeper(t *testing.T, c *ei.Conn, name ei.Atom) ei.Pid {
	t.Helper()
	p := spawnSleeper(t, c)
	if r, err := c.RPC(testContext(t), "erlang", "register", ei.List{name, p}); err != nil || r != ei.Atom("true") {
		t.Fatalf("RPC(register(%s, %v)) = %v, %v", name, p, r, err)
	}
	return p
}

// kill kills the peer's process p.
func kill(t *testing.T, c *ei.Conn, p ei.Pid) {
	t.Helper()
	if _, err := c.RPC(testContext(t), "erlang", "exit", ei.List{p, ei.Atom("kill")}); err != nil {
		t.Fatalf("RPC(exit(%v, kill)) = %v", p, err)
	}
}

// TestGoMonitorsErl monitors erl processes from Go (MONITOR_P), by pid
// and by registered name. erl sends MONITOR_P_EXIT only to nodes that
// offer both FlagDistMonitor and FlagDistMonitorName.
func TestGoMonitorsErl(t *testing.T) {
	for _, fs := range monitorFlagSets {
		t.Run(fs.name, func(t *testing.T) {
			c, _ := connectErl(t, fs.flags)
			if want := ei.FlagDistMonitor | ei.FlagDistMonitorName; c.Flags()&want != want {
				t.Fatalf("negotiated flags %v lack %v", c.Flags(), want&^c.Flags())
			}
			ctx := testContext(t)
			self, _ := c.Node().Pid()
			monitor := func(to ei.Term) ei.Ref {
				t.Helper()
				ref := newRef(t, c)
				if err := c.SendControl(ctx, ei.MonitorP{From: self, To: to, Ref: ref}, nil); err != nil {
					t.Fatalf("SendControl(MonitorP) = %v", err)
				}
				return ref
			}
			check := func(what string, got, want down) {
				t.Helper()
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("%s: 'DOWN' = %+v, want %+v", what, got, want)
				}
			}

			p := spawnSleeper(t, c)
			ref := monitor(p)
			kill(t, c, p)
			check("by pid", receiveDown(t, c), down{p, self, ref, ei.Atom("killed")})

			// A dead process: noproc at once.
			ref = monitor(p)
			check("dead pid", receiveDown(t, c), down{p, self, ref, ei.Atom("noproc")})

			name := ei.Atom(erltest.UniqueName("named"))
			p = registerSleeper(t, c, name)
			ref = monitor(name)
			kill(t, c, p)
			check("by name", receiveDown(t, c), down{name, self, ref, ei.Atom("killed")})

			// A name nobody has: noproc at once.
			ref = monitor(name)
			check("unregistered name", receiveDown(t, c), down{name, self, ref, ei.Atom("noproc")})

			// DEMONITOR_P: killing p sends no 'DOWN', so the next one is
			// q's. p is dead before q is monitored.
			p = spawnSleeper(t, c)
			ref = monitor(p)
			if err := c.SendControl(ctx, ei.DemonitorP{From: self, To: p, Ref: ref}, nil); err != nil {
				t.Fatalf("SendControl(DemonitorP) = %v", err)
			}
			kill(t, c, p)
			waitDead(t, c, p)
			q := spawnSleeper(t, c)
			ref = monitor(q)
			kill(t, c, q)
			check("after demonitor", receiveDown(t, c), down{q, self, ref, ei.Atom("killed")})
		})
	}
}

// watcherArgs start a process registered as watcher that monitors what
// it is told to and reports: {monitor, Target, From} is answered with
// {monitoring, Ref}, {demonitor, Ref, From} with {demonitored, Result},
// and a 'DOWN' is printed (as "DOWN pid Reason" or "DOWN Name Reason")
// and sent to whoever asked for the monitor as {down, Ref, Object,
// Reason}.
var watcherArgs = []string{"-eval", `register(watcher, spawn(fun Loop() ->
	receive
		{monitor, Target, From} ->
			Ref = erlang:monitor(process, Target),
			put(Ref, From),
			From ! {monitoring, Ref};
		{demonitor, Ref, From} ->
			From ! {demonitored, erlang:demonitor(Ref)};
		{'DOWN', Ref, process, Object, Reason} ->
			io:format("DOWN ~p ~p~n", [if is_pid(Object) -> pid; true -> element(1, Object) end, Reason]),
			get(Ref) ! {down, Ref, Object, Reason}
	end,
	Loop()
end))`}

// TestErlMonitorsGo has an erl process monitor Go "processes": erl sends
// MONITOR_P and DEMONITOR_P, and the 'DOWN' fires when Go sends
// MONITOR_P_EXIT, or when the connection closes (noconnection).
func TestErlMonitorsGo(t *testing.T) {
	for _, fs := range monitorFlagSets {
		t.Run(fs.name, func(t *testing.T) {
			c, erl := connectErl(t, fs.flags, watcherArgs...)
			ctx := testContext(t)
			waitRegistered(t, c, "watcher")
			self, _ := c.Node().Pid()
			gonode := ei.Tuple{ei.Atom("gonode"), ei.Atom(c.Node().Name)}

			// watch asks watcher to monitor target and returns the
			// MONITOR_P erl sent, and the ref watcher got.
			watch := func(target ei.Term) (ei.MonitorP, ei.Ref) {
				t.Helper()
				if err := c.RegSend(ctx, self, "watcher", ei.Tuple{ei.Atom("monitor"), target, self}); err != nil {
					t.Fatalf("RegSend() = %v", err)
				}
				m := receive(t, c)
				mp, ok := m.Control.(ei.MonitorP)
				if !ok {
					t.Fatalf("Receive() = %#v, want MONITOR_P", m)
				}
				_, payload := sentTo(t, receive(t, c))
				reply, ok := payload.(ei.Tuple)
				if !ok || len(reply) != 2 || reply[0] != ei.Atom("monitoring") {
					t.Fatalf("watcher replied %v, want {monitoring, Ref}", payload)
				}
				ref, ok := reply[1].(ei.Ref)
				if !ok || fmt.Sprint(ref) != fmt.Sprint(mp.Ref) {
					t.Fatalf("watcher's ref %v, MONITOR_P's %v: want the same", reply[1], mp.Ref)
				}
				return mp, ref
			}
			// gone sends the 'DOWN' of a monitor and returns what
			// watcher reports.
			gone := func(mp ei.MonitorP, reason ei.Term) ei.Term {
				t.Helper()
				var ctl ei.Control = ei.MonitorPExit{From: mp.To, To: mp.From, Ref: mp.Ref, Reason: reason}
				var payload ei.Term
				if c.Flags()&ei.FlagExitPayload != 0 {
					ctl, payload = ei.PayloadMonitorPExit{From: mp.To, To: mp.From, Ref: mp.Ref}, reason
				}
				if err := c.SendControl(ctx, ctl, payload); err != nil {
					t.Fatalf("SendControl(%T) = %v", ctl, err)
				}
				_, got := sentTo(t, receive(t, c))
				return got
			}

			mp, ref := watch(self)
			if mp.To != self {
				t.Errorf("MONITOR_P to %v, want %v", mp.To, self)
			}
			want := ei.Tuple{ei.Atom("down"), ref, self, ei.Atom("bye")}
			if got := gone(mp, ei.Atom("bye")); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("watcher got %v, want %v", got, want)
			}

			mp, ref = watch(gonode)
			if mp.To != ei.Atom("gonode") {
				t.Errorf("MONITOR_P to %v, want the name gonode", mp.To)
			}
			want = ei.Tuple{ei.Atom("down"), ref, gonode, ei.Atom("bye")}
			if got := gone(mp, ei.Atom("bye")); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("watcher got %v, want %v", got, want)
			}

			mp, ref = watch(self)
			if err := c.RegSend(ctx, self, "watcher", ei.Tuple{ei.Atom("demonitor"), ref, self}); err != nil {
				t.Fatalf("RegSend() = %v", err)
			}
			m := receive(t, c)
			wantDemon := ei.DemonitorP{From: mp.From, To: self, Ref: ref}
			if fmt.Sprint(m.Control) != fmt.Sprint(wantDemon) {
				t.Errorf("Receive() = %#v, want %#v", m.Control, wantDemon)
			}
			wantReply := ei.Tuple{ei.Atom("demonitored"), ei.Atom("true")}
			if _, got := sentTo(t, receive(t, c)); fmt.Sprint(got) != fmt.Sprint(wantReply) {
				t.Errorf("watcher replied %v, want %v", got, wantReply)
			}

			// A monitor Go never answers fires when the connection
			// closes, as one on a node without FlagDistMonitor does.
			watch(self)
			watch(gonode)
			c.Close()
			waitOutput(t, erl, "DOWN pid noconnection", "DOWN gonode noconnection")
		})
	}
}

// waitOutput polls until erl has printed each of want.
func waitOutput(t *testing.T, erl *erltest.Node, want ...string) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		out := erl.Output()
		missing := ""
		for _, w := range want {
			if !strings.Contains(out, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("erl did not print %q; it printed:\n%s", missing, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
