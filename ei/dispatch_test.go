package ei

import (
	"bufio"
	"context"
	"io"
	"net"
	"testing"
)

// deliverEnv is a node with its mailbox layer on, a mailbox "box", and a
// table connection to b@host over a pipe whose far end discards what it
// gets.
type deliverEnv struct {
	l  *layer
	mb *Mailbox
	cs *connState
	c  *Conn
}

func newDeliverEnv(t testing.TB) *deliverEnv {
	return newDeliverEnvFlags(t, DefaultFlags|layerFlags)
}

// newDeliverEnvFlags is newDeliverEnv with a connection that negotiated
// flags.
func newDeliverEnvFlags(t testing.TB, flags Flags) *deliverEnv {
	n := &Node{Name: "a@host", Cookie: "c", Creation: 1, MailboxSize: 64}
	mb, err := n.NewMailbox("box")
	if err != nil {
		t.Fatal(err)
	}
	l := n.lay.Load()
	a, b := net.Pipe()
	go io.Copy(io.Discard, b)
	cs := l.newConnState("b@host", false)
	cr := &connReader{nc: a}
	c := newConnWith(n, a, cr, bufio.NewReader(cr), peerInfo{name: "b@host", flags: flags, version: 6}, cs)
	ready := make(chan struct{})
	close(ready)
	l.mu.Lock()
	l.peers["b@host"] = &peer{cs: cs, ready: ready}
	l.mu.Unlock()
	t.Cleanup(func() {
		n.Close()
		c.Close()
		b.Close()
	})
	return &deliverEnv{l: l, mb: mb, cs: cs, c: c}
}

// encodeMessage encodes a control and payload as a pass-through message
// body (each with the version byte).
func encodeMessage(t testing.TB, ctl Control, payload Term) []byte {
	b, err := ctl.appendControl([]byte{131})
	if err != nil {
		t.Fatal(err)
	}
	if ctl.hasPayload() {
		if b, err = AppendTerm(append(b, 131), payload); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// FuzzDeliver feeds control messages, as a peer could send them, to the
// mailbox layer of a connection: whatever they are, delivering them must
// not panic or block, and the mailbox keeps within its size.
func FuzzDeliver(f *testing.F) {
	box := Pid{Node: "a@host", ID: 1, Creation: 1}
	far := Pid{Node: "b@host", ID: 7, Creation: 3}
	ref := Ref{Node: "b@host", Creation: 3, ID: []uint32{1, 2, 3}}
	ours := Ref{Node: "a@host", Creation: 1, ID: []uint32{1, 0, 0}}
	alias := ImproperList{Elems: []Term{Atom("alias")}, Tail: ours}
	for _, m := range []Message{
		{Control: Send{To: box}, Payload: Atom("hi")},
		{Control: SendSender{From: far, To: box}, Payload: Tuple{ours, Atom("reply")}},
		{Control: RegSend{From: far, To: "box"}, Payload: genCall(far, alias, Atom("req"))},
		{Control: RegSend{From: far, To: "nobody"}, Payload: List{}},
		{Control: AliasSend{From: far, Alias: ours}, Payload: Tuple{alias, int64(1)}},
		{Control: Link{From: far, To: box}},
		{Control: Link{From: far, To: Pid{Node: "a@host", ID: 99, Creation: 1}}},
		{Control: UnlinkID{ID: 5, From: far, To: box}},
		{Control: UnlinkIDAck{ID: 5, From: far, To: box}},
		{Control: Exit{From: far, To: box, Reason: Atom("boom")}},
		{Control: PayloadExit{From: far, To: box}, Payload: Atom("boom")},
		{Control: Exit2{From: far, To: box, Reason: Atom("kill")}},
		{Control: MonitorP{From: far, To: box, Ref: ref}},
		{Control: MonitorP{From: far, To: Atom("box"), Ref: ref}},
		{Control: MonitorP{From: far, To: Atom("nobody"), Ref: ref}},
		{Control: DemonitorP{From: far, To: box, Ref: ref}},
		{Control: MonitorPExit{From: far, To: box, Ref: ours, Reason: Atom("normal")}},
		{Control: PayloadMonitorPExit{From: Atom("srv"), To: box, Ref: ours}, Payload: Atom("x")},
		{Control: GroupLeader{From: far, To: box}},
		{Control: SpawnRequest{ReqID: ref, From: far, GroupLeader: far, Module: "erpc", Function: "execute_call", Arity: 4, Opts: List{Atom("monitor")}},
			Payload: List{ref, Atom("m"), Atom("f"), List{}}},
		{Control: SpawnRequest{ReqID: ref, From: far, GroupLeader: far, Module: "m", Function: "f", Arity: 1, Opts: List{Atom("link")}}, Payload: List{int64(1)}},
		{Control: SpawnReply{ReqID: ours, To: box, Flags: 3, Result: far}},
		{Control: SpawnReply{ReqID: ours, To: box, Result: Atom("badarg")}},
		{Control: RegSend{From: far, To: "rex"}, Payload: Tuple{far, Tuple{Atom("call"), Atom("m"), Atom("f"), List{}, Atom("user")}}},
		{Control: RegSend{From: far, To: "rex"}, Payload: Tuple{far, Atom("features_request")}},
	} {
		f.Add(encodeMessage(f, m.Control, m.Payload))
	}
	env := newDeliverEnv(f)
	// A call under way, so that replies find it.
	go env.mb.Call(context.Background(), RegName{Name: "srv", Node: "b@host"}, Atom("req"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeMessage(data, 0, nil, true)
		if err != nil {
			return
		}
		env.cs.deliver(env.c, m)
		env.mb.qmu.Lock()
		n := env.mb.n
		env.mb.qmu.Unlock()
		if n > env.l.size {
			t.Fatalf("mailbox holds %d messages, more than its size %d", n, env.l.size)
		}
	})
}
