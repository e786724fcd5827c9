package ei

import (
	"context"
	"net"
	"strconv"
	"testing"

	"github.com/goei/goei/internal/erltest"
)

// The tests here check that a Link, Unlink or Monitor whose write fails
// leaves things as they were, and that the signals arriving while one is
// being written count or not according to the outcome of the write.

// signalEnv is a node a connected to a node b, with a mailbox on each
// under test (ma, mb), a mailbox on a that gets nodeup and nodedown
// (watch), and one on b that sends and receives markers (bb).
type signalEnv struct {
	ctx       context.Context
	dead      context.Context // cancelled: a write with it fails before writing
	a, b      *Node
	bName     Atom
	ma, mb    *Mailbox
	watch, bb *Mailbox
}

func newSignalEnv(t *testing.T, bFlags Flags) *signalEnv {
	t.Helper()
	ctx := raceContext(t)
	e := &signalEnv{ctx: ctx}
	e.b = &Node{Name: erltest.UniqueName("b") + "@127.0.0.1", Cookie: "c", Flags: bFlags}
	e.bName = Atom(e.b.Name)
	e.mb = e.newMailbox(t, e.b)
	e.bb = e.newMailbox(t, e.b)
	ln, err := e.b.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	p, _ := strconv.Atoi(port)
	e.a = &Node{Name: erltest.UniqueName("a") + "@127.0.0.1", Cookie: "c", DistPort: p}
	e.ma = e.newMailbox(t, e.a)
	e.watch = e.newMailbox(t, e.a)
	t.Cleanup(func() {
		ln.Close()
		e.a.Close()
		e.b.Close()
	})
	if err := e.watch.MonitorNodes(true); err != nil {
		t.Fatal(err)
	}
	e.sync(t)
	e.want(t, e.watch, Tuple{Atom("nodeup"), e.bName})
	dead, cancel := context.WithCancel(ctx)
	cancel()
	e.dead = dead
	return e
}

func (e *signalEnv) newMailbox(t *testing.T, n *Node) *Mailbox {
	t.Helper()
	m, err := n.NewMailbox("")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// want checks that the next message of m is msg.
func (e *signalEnv) want(t *testing.T, m *Mailbox, msg Term) {
	t.Helper()
	got, err := m.Receive(e.ctx)
	if err != nil {
		t.Fatalf("Receive() = %v, want %v", err, msg)
	}
	if FormatTerm(got) != FormatTerm(msg) {
		t.Fatalf("Receive() = %v, want %v", got, msg)
	}
}

// sync returns once b has handled what a wrote to it so far.
func (e *signalEnv) sync(t *testing.T) {
	t.Helper()
	if err := e.ma.Send(e.ctx, e.bb.Pid(), Atom("sync")); err != nil {
		t.Fatal(err)
	}
	e.want(t, e.bb, Atom("sync"))
}

// syncBack returns once a has handled what b wrote to it so far.
func (e *signalEnv) syncBack(t *testing.T) {
	t.Helper()
	if err := e.bb.Send(e.ctx, e.watch.Pid(), Atom("sync")); err != nil {
		t.Fatal(err)
	}
	e.want(t, e.watch, Atom("sync"))
}

// loseConn closes node b and returns once a has handled the loss of the
// connection.
func (e *signalEnv) loseConn(t *testing.T) {
	t.Helper()
	e.b.Close()
	e.want(t, e.watch, Tuple{Atom("nodedown"), e.bName})
}

// wantFromB checks that the next message of ma is msg, with nothing
// from b before it: b sends a marker after whatever it sent before.
func (e *signalEnv) wantFromB(t *testing.T, msg Term) {
	t.Helper()
	if err := e.bb.Send(e.ctx, e.ma.Pid(), Atom("marker")); err != nil {
		t.Fatal(err)
	}
	e.want(t, e.ma, msg)
}

// wantNext checks that ma got msg and nothing else so far: a marker is
// queued after it. A nil msg means nothing.
func (e *signalEnv) wantNext(t *testing.T, msg Term) {
	t.Helper()
	if err := e.ma.Send(e.ctx, e.ma.Pid(), Atom("marker")); err != nil {
		t.Fatal(err)
	}
	if msg != nil {
		e.want(t, e.ma, msg)
	}
	e.want(t, e.ma, Atom("marker"))
}

// hook makes the next LINK, UNLINK or MONITOR_P of a run f around its
// write, which write does.
func (e *signalEnv) hook(f func(write func(context.Context) error) error) {
	l := e.a.lay.Load()
	l.signalHook = func(ctx context.Context, cs *connState, ctl Control) error {
		l.signalHook = nil
		return f(func(ctx context.Context) error { return cs.conn.SendControl(ctx, ctl, nil) })
	}
}

func (e *signalEnv) exitTerm(reason Term) Term { return exitTerm(e.mb.Pid(), reason) }

func TestLinkAgainAfterFailedWrite(t *testing.T) {
	e := newSignalEnv(t, 0)
	if err := e.ma.Link(e.dead, e.mb.Pid()); err == nil {
		t.Fatal("Link(cancelled context) = nil, want an error")
	}
	if err := e.ma.Link(e.ctx, e.mb.Pid()); err != nil {
		t.Fatal(err)
	}
	e.sync(t)
	if err := e.mb.Exit(e.ctx, Atom("boom")); err != nil {
		t.Fatal(err)
	}
	e.wantFromB(t, e.exitTerm(Atom("boom")))
}

func TestUnlinkFailedWriteKeepsLink(t *testing.T) {
	for _, tc := range []struct {
		name   string
		bFlags Flags // 0: DefaultFlags
	}{
		{"UNLINK_ID", 0},
		{"UNLINK", DefaultFlags &^ FlagUnlinkID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newSignalEnv(t, tc.bFlags)
			if err := e.ma.Link(e.ctx, e.mb.Pid()); err != nil {
				t.Fatal(err)
			}
			e.sync(t)
			if err := e.ma.Unlink(e.dead, e.mb.Pid()); err == nil {
				t.Fatal("Unlink(cancelled context) = nil, want an error")
			}
			if err := e.mb.Exit(e.ctx, Atom("boom")); err != nil {
				t.Fatal(err)
			}
			e.wantFromB(t, e.exitTerm(Atom("boom")))
		})
	}
}

func TestMonitorFailedWriteGivesNoDown(t *testing.T) {
	e := newSignalEnv(t, 0)
	if _, err := e.ma.Monitor(e.dead, e.mb.Pid()); err == nil {
		t.Fatal("Monitor(cancelled context) = nil, want an error")
	}
	e.loseConn(t)
	e.wantNext(t, nil)
}

// lostThenWritten loses the connection, then writes (which fails).
func lostThenWritten(t *testing.T, e *signalEnv, write func(context.Context) error) error {
	e.loseConn(t)
	return write(e.ctx)
}

// writtenThenLost writes, waits until b has handled it (else b, closing,
// may answer it with noproc), then loses the connection.
func writtenThenLost(t *testing.T, e *signalEnv, write func(context.Context) error) error {
	err := write(e.ctx)
	if err == nil {
		e.sync(t)
	}
	e.loseConn(t)
	return err
}

// peerExitsThenWrites returns what has b's mailbox exit with reason
// boom, waits until a has handled its EXIT, then writes: with a
// cancelled context, which fails, if fail.
func peerExitsThenWrites(fail bool) func(*testing.T, *signalEnv, func(context.Context) error) error {
	return func(t *testing.T, e *signalEnv, write func(context.Context) error) error {
		if err := e.mb.Exit(e.ctx, Atom("boom")); err != nil {
			t.Fatal(err)
		}
		e.syncBack(t)
		if fail {
			return write(e.dead)
		}
		return write(e.ctx)
	}
}

// TestSignalsWhileWriting loses the connection, or has b's mailbox exit,
// while a Link, Unlink or Monitor is being written, before or after the
// write.
func TestSignalsWhileWriting(t *testing.T) {
	noconnection := Atom("noconnection")
	for _, tc := range []struct {
		name    string
		op      string // link, unlink (after linking), monitor
		around  func(t *testing.T, e *signalEnv, write func(context.Context) error) error
		wantErr bool
		want    func(e *signalEnv, ref Ref) Term // what ma then gets; nil: nothing
	}{{
		name:    "link/lost then write fails",
		op:      "link",
		around:  lostThenWritten,
		wantErr: true,
		want:    func(*signalEnv, Ref) Term { return nil },
	}, {
		name:   "link/written then lost",
		op:     "link",
		around: writtenThenLost,
		want:   func(e *signalEnv, _ Ref) Term { return e.exitTerm(noconnection) },
	}, {
		name:    "unlink/lost then write fails",
		op:      "unlink",
		around:  lostThenWritten,
		wantErr: true,
		want:    func(e *signalEnv, _ Ref) Term { return e.exitTerm(noconnection) },
	}, {
		name:   "unlink/written then lost",
		op:     "unlink",
		around: writtenThenLost,
		want:   func(*signalEnv, Ref) Term { return nil },
	}, {
		name:    "unlink/peer exits then write fails",
		op:      "unlink",
		around:  peerExitsThenWrites(true),
		wantErr: true,
		want:    func(e *signalEnv, _ Ref) Term { return e.exitTerm(Atom("boom")) },
	}, {
		name:   "unlink/peer exits then written",
		op:     "unlink",
		around: peerExitsThenWrites(false),
		want:   func(*signalEnv, Ref) Term { return nil },
	}, {
		name:    "monitor/lost then write fails",
		op:      "monitor",
		around:  lostThenWritten,
		wantErr: true,
		want:    func(*signalEnv, Ref) Term { return nil },
	}, {
		name:   "monitor/written then lost",
		op:     "monitor",
		around: writtenThenLost,
		want: func(e *signalEnv, ref Ref) Term {
			return downTerm(ref, e.mb.Pid(), noconnection)
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newSignalEnv(t, 0)
			if tc.op == "unlink" {
				if err := e.ma.Link(e.ctx, e.mb.Pid()); err != nil {
					t.Fatal(err)
				}
				e.sync(t)
			}
			e.hook(func(write func(context.Context) error) error { return tc.around(t, e, write) })
			var err error
			var ref Ref
			switch tc.op {
			case "link":
				err = e.ma.Link(e.ctx, e.mb.Pid())
			case "unlink":
				err = e.ma.Unlink(e.ctx, e.mb.Pid())
			case "monitor":
				ref, err = e.ma.Monitor(e.ctx, e.mb.Pid())
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("%s: err = %v, want error %v", tc.op, err, tc.wantErr)
			}
			e.wantNext(t, tc.want(e, ref))
		})
	}
}
