package ei

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

var testFlagSets = []struct {
	name  string
	flags Flags
}{
	{"header", DefaultFlags},
	{"passthrough", DefaultFlags &^ (FlagDistHdrAtomCache | FlagFragments)},
}

// connPair connects two of our nodes over net.Pipe.
func connPair(t testing.TB, flags Flags, tick time.Duration) (a, b *Conn) {
	t.Helper()
	ca, cb := net.Pipe()
	na := &Node{Name: "a@host", Cookie: "c", Creation: 1, Flags: flags, NetTickTime: tick}
	nb := &Node{Name: "b@host", Cookie: "c", Creation: 2, Flags: flags, NetTickTime: tick}
	done := make(chan error, 1)
	go func() {
		var err error
		b, err = nb.ServerConn(context.Background(), cb)
		done <- err
	}()
	a, err := na.ClientConn(context.Background(), ca, "b@host")
	if err != nil {
		t.Fatalf("ClientConn() = %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("ServerConn() = %v", err)
	}
	t.Cleanup(func() {
		a.Close()
		b.Close()
	})
	return a, b
}

func mustPid(t testing.TB, n *Node) Pid {
	p, err := n.Pid()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConnRoundTrip(t *testing.T) {
	pa := Pid{Node: "a@host", ID: 1, Serial: 2, Creation: 1}
	pb := Pid{Node: "b@host", ID: 3, Serial: 0, Creation: 2}
	ref := Ref{Node: "b@host", Creation: 2, ID: []uint32{1, 2, 3}}
	token := Tuple{int64(0), Atom("label")}
	tests := []struct {
		ctl     Control
		payload Term
	}{
		{Link{From: pa, To: pb}, nil},
		{Send{To: pb}, Tuple{Atom("hello"), Binary("world")}},
		{Exit{From: pa, To: pb, Reason: Atom("normal")}, nil},
		{Unlink{From: pa, To: pb}, nil},
		{RegSend{From: pa, To: "server"}, List{int64(1), int64(2)}},
		{GroupLeader{From: pa, To: pb}, nil},
		{Exit2{From: pa, To: pb, Reason: Tuple{Atom("shutdown"), int64(3)}}, nil},
		{SendTT{To: pb, TraceToken: token}, Atom("m")},
		{ExitTT{From: pa, To: pb, TraceToken: token, Reason: Atom("r")}, nil},
		{RegSendTT{From: pa, To: "server", TraceToken: token}, Atom("m")},
		{Exit2TT{From: pa, To: pb, TraceToken: token, Reason: Atom("r")}, nil},
		{MonitorP{From: pa, To: pb, Ref: ref}, nil},
		{MonitorP{From: pa, To: Atom("server"), Ref: ref}, nil},
		{DemonitorP{From: pa, To: pb, Ref: ref}, nil},
		{MonitorPExit{From: pa, To: pb, Ref: ref, Reason: Atom("noproc")}, nil},
		{MonitorPExit{From: Atom("server"), To: pb, Ref: ref, Reason: Atom("noproc")}, nil},
		{SendSender{From: pa, To: pb}, 3.5},
		{SendSenderTT{From: pa, To: pb, TraceToken: token}, int64(-7)},
		{PayloadExit{From: pa, To: pb}, Atom("killed")},
		{PayloadExitTT{From: pa, To: pb, TraceToken: token}, Atom("killed")},
		{PayloadExit2{From: pa, To: pb}, Atom("kill")},
		{PayloadExit2TT{From: pa, To: pb, TraceToken: token}, Atom("kill")},
		{PayloadMonitorPExit{From: pa, To: pb, Ref: ref}, Atom("noproc")},
		{AliasSend{From: pa, Alias: ref}, Atom("m")},
		{AliasSendTT{From: pa, Alias: ref, TraceToken: token}, Atom("m")},
		{UnlinkIDAck{ID: 1 << 40, From: pa, To: pb}, nil},
		{UnknownControl{Tuple: Tuple{int64(29), Atom("spawn_request")}, Payload: true}, List{}},
		{UnknownControl{Tuple: Tuple{int64(99)}}, nil},
	}
	for _, fs := range testFlagSets {
		t.Run(fs.name, func(t *testing.T) {
			a, b := connPair(t, fs.flags, 0)
			ctx := context.Background()
			for _, tt := range tests {
				if err := a.SendControl(ctx, tt.ctl, tt.payload); err != nil {
					t.Fatalf("SendControl(%#v) = %v", tt.ctl, err)
				}
				m, err := b.Receive(ctx)
				if err != nil {
					t.Fatalf("Receive() = %v", err)
				}
				want := Message{Control: tt.ctl, Payload: tt.payload}
				if !reflect.DeepEqual(m, want) {
					t.Errorf("Receive() = %#v, want %#v", m, want)
				}
			}

			// UNLINK_ID is delivered and acknowledged by the Conn.
			id, err := a.Unlink(ctx, pa, pb)
			if err != nil {
				t.Fatalf("Unlink() = %v", err)
			}
			m, err := b.Receive(ctx)
			if want := (UnlinkID{ID: id, From: pa, To: pb}); err != nil || m.Control != want {
				t.Errorf("Receive() = %#v, %v; want %#v", m.Control, err, want)
			}
			m, err = a.Receive(ctx)
			if want := (UnlinkIDAck{ID: id, From: pb, To: pa}); err != nil || m.Control != want {
				t.Errorf("Receive() = %#v, %v; want %#v", m.Control, err, want)
			}

			// Send to a pid; the message is delivered as sent.
			if err := a.Send(ctx, pb, Binary(make([]byte, 100_000))); err != nil {
				t.Fatalf("Send() = %v", err)
			}
			m, err = b.Receive(ctx)
			if err != nil || !reflect.DeepEqual(m.Payload, Binary(make([]byte, 100_000))) {
				t.Errorf("Receive() = %v, want 100000 zero bytes", err)
			}
		})
	}
}

// TestConnSendErrors checks that unencodable terms fail without breaking
// the connection.
func TestConnSendErrors(t *testing.T) {
	a, b := connPair(t, DefaultFlags, 0)
	ctx := context.Background()
	pb := mustPid(t, b.Node())
	if err := a.Send(ctx, pb, struct{}{}); err == nil {
		t.Errorf("Send(struct{}{}) = nil, want an error")
	}
	if err := a.SendControl(ctx, UnknownControl{}, nil); err == nil {
		t.Errorf("SendControl(UnknownControl{}) = nil, want an error")
	}
	if err := a.Send(ctx, pb, Atom("ok")); err != nil {
		t.Fatalf("Send() = %v", err)
	}
	if m, err := b.Receive(ctx); err != nil || m.Payload != Atom("ok") {
		t.Errorf("Receive() = %#v, %v; want ok", m, err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := a.Send(canceled, pb, Atom("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("Send(canceled ctx) = %v, want context.Canceled", err)
	}
	if _, err := a.Receive(canceled); !errors.Is(err, context.Canceled) {
		t.Errorf("Receive(canceled ctx) = %v, want context.Canceled", err)
	}
	a.Close()
	if err := a.Send(ctx, pb, Atom("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("Send() after Close = %v, want ErrClosed", err)
	}
	if _, err := a.Receive(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Receive() after Close = %v, want ErrClosed", err)
	}
	// The peer sees the connection go, and closing it then is no error.
	if _, err := b.Receive(ctx); !errors.Is(err, io.EOF) {
		t.Errorf("peer Receive() = %v, want io.EOF", err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("peer Close() after the connection went = %v, want nil", err)
	}
}

// TestConnCloseTCP checks Close on a TCP connection the peer closed first
// (closing a TCP socket twice is an error, unlike a pipe).
func TestConnCloseTCP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	na := &Node{Name: "a@host", Cookie: "c", Creation: 1}
	nb := &Node{Name: "b@host", Cookie: "c", Creation: 2}
	done := make(chan *Conn, 1)
	go func() {
		nc, err := l.Accept()
		if err != nil {
			done <- nil
			return
		}
		b, _ := nb.ServerConn(context.Background(), nc)
		done <- b
	}()
	a, err := na.ConnectAddr(context.Background(), "b@host", l.Addr().String())
	if err != nil {
		t.Fatalf("ConnectAddr() = %v", err)
	}
	b := <-done
	if b == nil {
		t.Fatal("ServerConn() failed")
	}
	b.Close()
	<-a.Done()
	if err := a.Close(); err != nil {
		t.Errorf("Close() after the peer closed = %v, want nil", err)
	}
	if err := a.Close(); err != nil {
		t.Errorf("second Close() = %v, want nil", err)
	}
}

// TestConnRPC plays rex on the other side.
func TestConnRPC(t *testing.T) {
	a, b := connPair(t, DefaultFlags, 0)
	ctx := context.Background()
	go func() {
		for {
			m, err := b.Receive(ctx)
			if err != nil {
				return
			}
			rs, ok := m.Control.(RegSend)
			req, _ := m.Payload.(Tuple)
			if !ok || rs.To != "rex" || len(req) != 2 {
				continue
			}
			from := req[0].(Pid)
			call := req[1].(Tuple) // {call, M, F, A, user}
			var reply Term = Tuple{Atom("rex"), Tuple{call[1], call[2], call[3]}}
			if call[1] == Atom("bad") {
				reply = Tuple{Atom("rex"), Tuple{Atom("badrpc"), Atom("nope")}}
			}
			// Answer with SEND_SENDER, as erl does when it is negotiated.
			b.SendControl(ctx, SendSender{From: mustPid(t, b.Node()), To: from}, reply)
		}
	}()
	got, err := a.RPC(ctx, "m", "f", List{int64(1)})
	if want := (Tuple{Atom("m"), Atom("f"), List{int64(1)}}); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("RPC(m:f(1)) = %v, %v; want %v", got, err, want)
	}
	_, err = a.RPC(ctx, "bad", "f", nil)
	var rpcErr *RPCError
	if !errors.As(err, &rpcErr) || rpcErr.Reason != Atom("nope") {
		t.Errorf("RPC(bad:f()) = %v, want RPCError{nope}", err)
	}
	// Replies do not reach Receive; a message sent to someone else does.
	b.Send(ctx, mustPid(t, a.Node()), Atom("other"))
	if m, err := a.Receive(ctx); err != nil || m.Payload != Atom("other") {
		t.Errorf("Receive() = %#v, %v; want other", m, err)
	}
}

// TestConnRPCAbandoned checks that a reply to an RPC whose context ended
// is dropped, not returned by Receive.
func TestConnRPCAbandoned(t *testing.T) {
	a, b := connPair(t, DefaultFlags, 0)
	ctx := context.Background()
	rctx, cancel := context.WithCancel(ctx)
	requests := make(chan Pid, 1)
	go func() {
		m, err := b.Receive(ctx)
		if err == nil {
			req, _ := m.Payload.(Tuple)
			from, _ := req[0].(Pid)
			requests <- from
		}
		cancel() // the call is abandoned before the reply is sent
	}()
	_, err := a.RPC(rctx, "m", "f", nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("RPC() with its context canceled = %v, want context.Canceled", err)
	}
	if n := strings.Count(err.Error(), "ei: "); n != 1 {
		t.Errorf("RPC() = %q, want the prefix \"ei: \" once", err)
	}
	from := <-requests
	b.Send(ctx, from, Tuple{Atom("rex"), Atom("late")})
	b.Send(ctx, mustPid(t, a.Node()), Atom("next"))
	if m, err := a.Receive(ctx); err != nil || m.Payload != Atom("next") {
		t.Errorf("Receive() = %#v, %v; want next (the late reply dropped)", m, err)
	}
	// RPC on a closed Conn.
	a.Close()
	if _, err := a.RPC(ctx, "m", "f", nil); !errors.Is(err, ErrClosed) || strings.Count(err.Error(), "ei: ") != 1 {
		t.Errorf("RPC() after Close = %q, want ErrClosed with the prefix \"ei: \" once", err)
	}
}

// newRawConn returns a Conn on one end of a pipe, with no handshake, and
// the other end.
func newRawConn(t testing.TB, flags Flags, tick time.Duration) (*Conn, net.Conn) {
	return newRawConnNode(t, &Node{Name: "a@host", Cookie: "c", Creation: 1, NetTickTime: tick}, flags)
}

// newRawConnNode is newRawConn for a Conn of node n.
func newRawConnNode(t testing.TB, n *Node, flags Flags) (*Conn, net.Conn) {
	a, b := net.Pipe()
	return newConnOver(t, n, a, b, flags), b
}

// newConnOver returns a Conn of node n, past the handshake, over nc to
// peer, closed with peer when the test ends.
func newConnOver(t testing.TB, n *Node, nc, peer net.Conn, flags Flags) *Conn {
	n.init()
	cr := &connReader{nc: nc}
	c := newConn(n, nc, cr, bufio.NewReader(cr), peerInfo{name: "b@host", flags: flags, version: 6})
	t.Cleanup(func() {
		c.Close()
		peer.Close()
	})
	return c
}

// TestConnTicks checks that idle connections tick and stay up.
func TestConnTicks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := connPair(t, DefaultFlags, 8*time.Second)
		time.Sleep(time.Minute) // fake time: many tick intervals
		synctest.Wait()
		if err := a.Err(); err != nil {
			t.Errorf("after a minute idle, a.Err() = %v", err)
		}
		if err := b.Err(); err != nil {
			t.Errorf("after a minute idle, b.Err() = %v", err)
		}
	})
}

// TestConnTickFrames checks that a Conn sends ticks when idle, and that it
// gives up on a peer silent for the net tick time.
func TestConnTickFrames(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, peer := newRawConn(t, DefaultFlags, 8*time.Second)
		start := time.Now()
		var frame [4]byte
		if _, err := io.ReadFull(peer, frame[:]); err != nil {
			t.Fatalf("read tick: %v", err)
		}
		if frame != [4]byte{} {
			t.Errorf("tick = %x, want 00000000", frame)
		}
		if d := time.Since(start); d != 2*time.Second {
			t.Errorf("first tick after %v, want 2s", d)
		}
		// The peer answers ticks only: a tick keeps the connection up.
		peer.Write([]byte{0, 0, 0, 0})
		io.ReadFull(peer, frame[:])
		if err := c.Err(); err != nil {
			t.Fatalf("Err() = %v after a tick", err)
		}
		// Now the peer stays silent (but keeps reading our ticks).
		go io.Copy(io.Discard, peer)
		_, err := c.Receive(context.Background())
		if !errors.Is(err, ErrTimeout) {
			t.Errorf("Receive() = %v, want ErrTimeout", err)
		}
		if err != nil && strings.Count(err.Error(), "ei: ") != 1 {
			t.Errorf("Receive() = %q, want the prefix \"ei: \" once", err)
		}
		if d := time.Since(start); d > 12*time.Second {
			t.Errorf("timeout after %v, want about 8s after the last tick", d)
		}
	})
}

// TestConnPeerStopsReading checks that cancelling a blocked Send closes
// nothing when nothing was written, and that Close interrupts it.
func TestConnSendBlocked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, peer := newRawConn(t, DefaultFlags, time.Hour)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err := c.Send(ctx, Pid{Node: "b@host"}, Atom("x"))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Send() to a peer that does not read = %v, want context.DeadlineExceeded", err)
		}
		// Nothing was written, so the connection still works.
		go func() {
			var hdr [4]byte
			io.ReadFull(peer, hdr[:])
			io.CopyN(io.Discard, peer, int64(binary.BigEndian.Uint32(hdr[:])))
		}()
		if err := c.Send(context.Background(), Pid{Node: "b@host"}, Atom("x")); err != nil {
			t.Errorf("Send() = %v", err)
		}
	})
}

// TestConnFrameBeyondReadBuffer checks that a Conn reads frames larger
// than its bufio.Reader's buffer (newRawConn's holds 4096 bytes, less than
// readBufferSize) whole rather than peeking at them.
func TestConnFrameBeyondReadBuffer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, peer := newRawConn(t, DefaultFlags, time.Hour)
		payload := Binary(bytes.Repeat([]byte{7}, 10000))
		// A pass-through SEND to <a@h.1.0> with payload as the message.
		body := joinBytes([]byte{112, 131, 104, 3, 97, 2, 119, 0}, []byte{88, 119, 3, 'a', '@', 'h', 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9},
			[]byte{131, 109}, binary.BigEndian.AppendUint32(nil, uint32(len(payload))), payload)
		go peer.Write(joinBytes(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body))
		m, err := c.Receive(context.Background())
		want := Message{Control: Send{To: Pid{Node: "a@h", ID: 1, Creation: 9}}, Payload: payload}
		if err != nil || !reflect.DeepEqual(m, want) {
			t.Errorf("Receive() = %.100v, %v, want %.100v", m, err, want)
		}
	})
}

// Hand-built frames as erl sends them with DFLAG_DIST_HDR_ATOM_CACHE.
var (
	// pid <a@h.1.0> with its node as ATOM_CACHE_REF 0
	cachedPid = []byte{88, 82, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9}
	// {6, Pid, '', ATOM_CACHE_REF 1} then ATOM_CACHE_REF 1 as the message
	regSendCached = joinBytes([]byte{104, 4, 97, 6}, cachedPid, []byte{119, 0, 82, 1}, []byte{82, 1})
	wantRegSend   = Message{Control: RegSend{From: Pid{Node: "a@h", ID: 1, Creation: 9}, To: "reg"}, Payload: Atom("reg")}
)

func joinBytes(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

func TestParseFrame(t *testing.T) {
	tests := []struct {
		name   string
		frames [][]byte
		want   Message
	}{
		{"pass-through", [][]byte{joinBytes([]byte{112, 131, 104, 3, 97, 2, 119, 0}, []byte{88, 119, 3, 'a', '@', 'h', 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9}, []byte{131, 119, 1, 'm'})},
			Message{Control: Send{To: Pid{Node: "a@h", ID: 1, Creation: 9}}, Payload: Atom("m")}},
		{"header without refs", [][]byte{{131, 68, 0, 104, 3, 97, 1, 88, 119, 3, 'a', '@', 'h', 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9, 88, 119, 3, 'a', '@', 'h', 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9}},
			Message{Control: Link{From: Pid{Node: "a@h", ID: 1, Creation: 9}, To: Pid{Node: "a@h", ID: 1, Creation: 9}}}},
		{"header with new entries", [][]byte{joinBytes([]byte{131, 68,
			2,          // two refs
			0x98, 0x00, // ref 0: new, segment 0; ref 1: new, segment 1; no long atoms
			5, 3, 'a', '@', 'h', // ref 0: index 5, "a@h"
			7, 3, 'r', 'e', 'g', // ref 1: index 256+7, "reg"
		}, regSendCached)}, wantRegSend},
		{"header reusing entries", [][]byte{
			joinBytes([]byte{131, 68, 2, 0x98, 0x00, 5, 3, 'a', '@', 'h', 7, 3, 'r', 'e', 'g'}, regSendCached),
			joinBytes([]byte{131, 68, 2, 0x10, 0x00, 5, 7}, regSendCached), // old entries, segments 0 and 1
		}, wantRegSend},
		{"header with long atoms", [][]byte{joinBytes([]byte{131, 68, 2,
			0x98, 0x01, // new entries, LongAtoms
			5, 0, 3, 'a', '@', 'h',
			7, 0, 3, 'r', 'e', 'g',
		}, regSendCached)}, wantRegSend},
		{"fragments", [][]byte{
			joinBytes([]byte{131, 69, 0, 0, 0, 0, 0, 0, 0, 42, 0, 0, 0, 0, 0, 0, 0, 3, 2, 0x98, 0x00, 5, 3, 'a', '@', 'h', 7, 3, 'r', 'e', 'g'}, regSendCached[:5]),
			joinBytes([]byte{131, 70, 0, 0, 0, 0, 0, 0, 0, 42, 0, 0, 0, 0, 0, 0, 0, 2}, regSendCached[5:10]),
			joinBytes([]byte{131, 70, 0, 0, 0, 0, 0, 0, 0, 42, 0, 0, 0, 0, 0, 0, 0, 1}, regSendCached[10:]),
		}, wantRegSend},
		{"single fragment", [][]byte{
			joinBytes([]byte{131, 69, 0, 0, 0, 0, 0, 0, 0, 42, 0, 0, 0, 0, 0, 0, 0, 1, 2, 0x98, 0x00, 5, 3, 'a', '@', 'h', 7, 3, 'r', 'e', 'g'}, regSendCached),
		}, wantRegSend},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Conn{}
			for i, f := range tt.frames {
				m, ok, err := c.parseFrame(f)
				last := i == len(tt.frames)-1
				wantOK := last || f[1] != distFragHeader && f[1] != distFragCont
				if err != nil || ok != wantOK {
					t.Fatalf("parseFrame(%x) = %v, %v; want ok=%v", f, ok, err, wantOK)
				}
				if last && !reflect.DeepEqual(m, tt.want) {
					t.Errorf("parseFrame(%x) = %#v, want %#v", f, m, tt.want)
				}
			}
		})
	}
}

func TestParseFrameErrors(t *testing.T) {
	tests := []struct {
		name   string
		frames [][]byte
	}{
		{"unknown tag", [][]byte{{1, 2, 3}}},
		{"magic without header", [][]byte{{131}}},
		{"header truncated", [][]byte{{131, 68}}},
		{"flags truncated", [][]byte{{131, 68, 3, 0x88}}},
		{"ref truncated", [][]byte{{131, 68, 1, 0x08}}},
		{"entry truncated", [][]byte{{131, 68, 1, 0x08, 5, 3, 'a'}}},
		{"long entry truncated", [][]byte{{131, 68, 1, 0x18, 5, 0}}},
		{"entry unset", [][]byte{joinBytes([]byte{131, 68, 2, 0x10, 0x00, 5, 7}, regSendCached)}},
		{"ref beyond header", [][]byte{joinBytes([]byte{131, 68, 1, 0x08, 5, 3, 'a', '@', 'h'}, regSendCached)}},
		{"pass-through without magic", [][]byte{{112, 104, 1, 97, 1}}},
		{"control not a tuple", [][]byte{{112, 131, 97, 1}}},
		{"empty control tuple", [][]byte{{112, 131, 104, 0}}},
		{"send without payload", [][]byte{{112, 131, 104, 3, 97, 2, 119, 0, 88, 119, 3, 'a', '@', 'h', 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9}}},
		{"link with trailing bytes", [][]byte{{131, 68, 0, 104, 3, 97, 1, 88, 119, 3, 'a', '@', 'h', 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9, 88, 119, 3, 'a', '@', 'h', 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9, 97, 1}}},
		{"link with bad pid", [][]byte{{131, 68, 0, 104, 3, 97, 1, 97, 1, 97, 1}}},
		{"payload trailing bytes", [][]byte{joinBytes([]byte{112, 131, 104, 3, 97, 2, 119, 0}, []byte{88, 119, 3, 'a', '@', 'h', 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9}, []byte{131, 119, 1, 'm', 0})}},
		{"continuation without start", [][]byte{{131, 70, 0, 0, 0, 0, 0, 0, 0, 42, 0, 0, 0, 0, 0, 0, 0, 1}}},
		{"fragment out of order", [][]byte{
			{131, 69, 0, 0, 0, 0, 0, 0, 0, 42, 0, 0, 0, 0, 0, 0, 0, 3, 0, 104},
			{131, 70, 0, 0, 0, 0, 0, 0, 0, 42, 0, 0, 0, 0, 0, 0, 0, 1, 3},
		}},
		{"fragment sequence restarted", [][]byte{
			{131, 69, 0, 0, 0, 0, 0, 0, 0, 42, 0, 0, 0, 0, 0, 0, 0, 3, 0, 104},
			{131, 69, 0, 0, 0, 0, 0, 0, 0, 42, 0, 0, 0, 0, 0, 0, 0, 3, 0, 104},
		}},
		{"fragment id 0", [][]byte{joinBytes([]byte{131, 69, 0, 0, 0, 0, 0, 0, 0, 42, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0x98, 0x00, 5, 3, 'a', '@', 'h', 7, 3, 'r', 'e', 'g'}, regSendCached)}},
		{"too many fragment sequences", fragmentStarts(MaxFragmentSequences + 1)},
		{"fragments too large", [][]byte{
			// sequence 1: fragment 3 of 3, no atom cache refs, half the limit
			joinBytes([]byte{131, 69, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 3, 0}, make([]byte, MaxFragmentedSize/2)),
			// sequence 1: fragment 2, the other half and one byte more
			joinBytes([]byte{131, 70, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2}, make([]byte, MaxFragmentedSize/2+1)),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Conn{}
			var err error
			for _, f := range tt.frames {
				if _, _, err = c.parseFrame(f); err != nil {
					break
				}
			}
			var pe *ProtocolError
			if !errors.As(err, &pe) {
				t.Errorf("parseFrame(%x) = %v, want *ProtocolError", tt.frames, err)
			}
		})
	}
}

// TestAtomCacheEntryLength checks that atom cache entries are held to
// what Unmarshal demands of atoms: valid UTF-8 of at most 255 characters
// (not bytes).
func TestAtomCacheEntryLength(t *testing.T) {
	for _, tt := range []struct {
		name string
		ok   bool
	}{
		{strings.Repeat("é", 255), true},
		{strings.Repeat("é", 256), false},
		{strings.Repeat("a", 65535), false},
		{"\xff", false},
	} {
		hdr := []byte{131, 68, 2,
			0x98, 0x01, // ref 0: new, segment 0; ref 1: new, segment 1; long atoms
			5, 0, 3, 'a', '@', 'h', // ref 0: index 5, "a@h"
			7} // ref 1: index 256+7, tt.name
		frame := joinBytes(hdr, binary.BigEndian.AppendUint16(nil, uint16(len(tt.name))), []byte(tt.name), regSendCached)
		m, ok, err := (&Conn{}).parseFrame(frame)
		if tt.ok {
			want := Message{Control: RegSend{From: wantRegSend.Control.(RegSend).From, To: Atom(tt.name)}, Payload: Atom(tt.name)}
			if err != nil || !ok || !reflect.DeepEqual(m, want) {
				t.Errorf("parseFrame(entry of %d bytes) = %v, %v, %v; want %v", len(tt.name), m, ok, err, want)
			}
			continue
		}
		var pe *ProtocolError
		if !errors.As(err, &pe) || !strings.Contains(pe.Msg, "atom cache entry") {
			t.Errorf("parseFrame(entry of %d bytes %.10q...) = %v, want a *ProtocolError about the atom cache entry", len(tt.name), tt.name, err)
		}
	}
}

// TestConnMaxMessageSize checks that a frame longer than
// Node.MaxMessageSize closes the connection as soon as its length
// arrives, and that a message reassembled from fragments is held to the
// same limit.
func TestConnMaxMessageSize(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, peer := newRawConnNode(t, &Node{Name: "a@host", Cookie: "c", Creation: 1, MaxMessageSize: 1000}, DefaultFlags)
		// A frame as long as a length can say, of which only a part
		// is ever sent.
		go func() {
			peer.Write([]byte{0xff, 0xff, 0xff, 0xff})
			peer.Write(make([]byte, 1<<20))
		}()
		_, err := c.Receive(context.Background())
		var pe *ProtocolError
		if !errors.As(err, &pe) || !strings.Contains(pe.Msg, "MaxMessageSize") {
			t.Errorf("Receive() after a frame of 4294967295 bytes began = %v, want a *ProtocolError about MaxMessageSize", err)
		}
		if _, err := peer.Write([]byte{0}); err == nil {
			t.Errorf("peer Write() = nil error, want the connection closed")
		}
	})
	c := &Conn{node: &Node{MaxMessageSize: 1000}}
	start := joinBytes([]byte{131, 69, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0}, make([]byte, 600))
	if _, _, err := c.parseFrame(start); err != nil {
		t.Fatalf("parseFrame(first fragment of 600 bytes) = %v", err)
	}
	_, _, err := c.parseFrame(joinBytes([]byte{131, 70, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1}, make([]byte, 401)))
	var pe *ProtocolError
	if !errors.As(err, &pe) || !strings.Contains(pe.Msg, "MaxMessageSize") {
		t.Errorf("parseFrame(fragments of 1001 bytes in all) = %v, want a *ProtocolError about MaxMessageSize", err)
	}
}

// fragmentStarts returns n DIST_FRAG_HEADER frames, each starting its own
// sequence of 2 fragments with 1 byte of data.
func fragmentStarts(n int) [][]byte {
	frames := make([][]byte, n)
	for i := range frames {
		f := []byte{131, 69}
		f = binary.BigEndian.AppendUint64(f, uint64(i+1)) // sequence id
		f = binary.BigEndian.AppendUint64(f, 2)           // fragment id
		frames[i] = append(f, 0, 104)                     // no atom cache refs; data
	}
	return frames
}

// TestFragmentLimits checks that the bytes of a reassembled message are
// given back to the limit, and that the limits allow what they promise.
func TestFragmentLimits(t *testing.T) {
	c := &Conn{}
	for _, f := range fragmentStarts(MaxFragmentSequences) {
		if _, _, err := c.parseFrame(f); err != nil {
			t.Fatalf("parseFrame(%x) = %v, want nil below MaxFragmentSequences", f, err)
		}
	}
	c = &Conn{}
	half := make([]byte, MaxFragmentedSize/2)
	for seq := byte(1); seq <= 4; seq++ { // 4 messages of the whole limit, one after another
		start := joinBytes([]byte{131, 69, 0, 0, 0, 0, 0, 0, 0, seq, 0, 0, 0, 0, 0, 0, 0, 2, 0}, []byte{109, 0x02, 0, 0, 0}, half[5:])
		if _, ok, err := c.parseFrame(start); ok || err != nil {
			t.Fatalf("first fragment of sequence %d: ok=%v, err=%v; want false, nil", seq, ok, err)
		}
		// The reassembled bytes are no control message, so decoding
		// fails; only the accounting matters here.
		_, _, err := c.parseFrame(joinBytes([]byte{131, 70, 0, 0, 0, 0, 0, 0, 0, seq, 0, 0, 0, 0, 0, 0, 0, 1}, half))
		var pe *ProtocolError
		if !errors.As(err, &pe) || strings.Contains(pe.Msg, "exceed") {
			t.Fatalf("last fragment of sequence %d: err = %v, want a decode error, not the size limit", seq, err)
		}
		if c.fragSize != 0 || c.fragBytes != 0 {
			t.Fatalf("after sequence %d: fragSize = %d, fragBytes = %d, want 0", seq, c.fragSize, c.fragBytes)
		}
	}
}

// FuzzParseFrame checks that no frame makes the decoder panic, and that
// decoded messages survive a round trip through our encoder.
func FuzzParseFrame(f *testing.F) {
	f.Add(joinBytes([]byte{131, 68, 2, 0x98, 0x00, 5, 3, 'a', '@', 'h', 7, 3, 'r', 'e', 'g'}, regSendCached))
	f.Add(joinBytes([]byte{112, 131, 104, 3, 97, 2, 119, 0}, []byte{88, 119, 3, 'a', '@', 'h', 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9}, []byte{131, 119, 1, 'm'}))
	f.Add([]byte{131, 69, 0, 0, 0, 0, 0, 0, 0, 42, 0, 0, 0, 0, 0, 0, 0, 3, 0, 104})
	f.Fuzz(func(t *testing.T, frame []byte) {
		if len(frame) == 0 {
			return
		}
		c := &Conn{}
		m, ok, err := c.parseFrame(frame)
		if err != nil || !ok {
			return
		}
		checkReencode(t, m)
	})
}

// checkReencode checks that the received message m survives a round trip
// through our encoder and decoder.
func checkReencode(t *testing.T, m Message) {
	t.Helper()
	enc := &Conn{peer: peerInfo{flags: DefaultFlags}}
	var f outFrame
	if err := enc.encode(&f, m.Control, m.Payload); err != nil {
		return // e.g. a float the encoder refuses; decoding is what is fuzzed
	}
	m2, ok, err := (&Conn{}).parseFrame(f.bytes()[4:])
	if err != nil || !ok || !reflect.DeepEqual(m, m2) {
		t.Errorf("parseFrame(appendFrame(%#v)) = %#v, %v, %v", m, m2, ok, err)
	}
}

// erlFragmentSize is the most bytes of a message a fragment from erl
// carries (ERTS_DIST_FRAGMENT_SIZE).
const erlFragmentSize = 64 << 10

// erlFrames returns n REG_SEND frames as erl sends them with the atom
// cache: the first defines the cache entries, the others refer to them.
// Messages of more than 64 KiB come in fragments, as with DFLAG_FRAGMENTS.
func erlFrames(n, size int) []byte {
	const fragmentSize = erlFragmentSize
	payload := joinBytes([]byte{104, 3, 82, 2, 98, 0, 0, 0, 1}, []byte{109}, binary.BigEndian.AppendUint32(nil, uint32(size)), make([]byte, size))
	var out []byte
	for i := range n {
		var hdr []byte
		if i == 0 {
			hdr = []byte{131, 68, 3, 0x88, 0x08, 5, 3, 'a', '@', 'h', 6, 3, 'r', 'e', 'g', 7, 3, 'm', 's', 'g'}
		} else {
			hdr = []byte{131, 68, 3, 0x00, 0x00, 5, 6, 7}
		}
		data := joinBytes(regSendCached[:len(regSendCached)-2], payload)
		if len(data) <= fragmentSize {
			frame := joinBytes(hdr, data)
			out = binary.BigEndian.AppendUint32(out, uint32(len(frame)))
			out = append(out, frame...)
			continue
		}
		// Fragments of 64 KiB of data, as erl sends them with
		// DFLAG_FRAGMENTS: the first with the atom cache header.
		frags := (len(data) + fragmentSize - 1) / fragmentSize
		for k := range frags {
			f := []byte{131, 70}
			if k == 0 {
				f[1] = 69
			}
			f = binary.BigEndian.AppendUint64(f, uint64(i+1)) // sequence id
			f = binary.BigEndian.AppendUint64(f, uint64(frags-k))
			if k == 0 {
				f = append(f, hdr[2:]...)
			}
			f = append(f, data[k*fragmentSize:min((k+1)*fragmentSize, len(data))]...)
			out = binary.BigEndian.AppendUint32(out, uint32(len(f)))
			out = append(out, f...)
		}
	}
	return out
}

// BenchmarkConnReceive measures the receive path alone: frames as erl
// sends them ({msg, I, <<Size bytes>>} to a registered name, atoms from the
// atom cache, large ones in fragments) arrive over loopback TCP and are
// received one by one.
func BenchmarkConnReceive(b *testing.B) {
	for _, size := range []int{16, 1024, 64 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			c, peer := newTCPConn(b, readBufferSize)
			k := min(999, 16<<20/size) // messages in a batch
			first := erlFrames(1, size)
			batch := erlFrames(k+1, size)
			batch = batch[len(first):] // k frames using the cache
			per := len(batch) / k
			done := make(chan error, 1)
			go func() {
				if _, err := peer.Write(first); err != nil {
					done <- err
					return
				}
				for left := b.N - 1; left > 0; {
					n := min(left, k)
					if _, err := peer.Write(batch[:n*per]); err != nil {
						done <- err
						return
					}
					left -= n
				}
				done <- nil
			}()
			ctx := context.Background()
			b.SetBytes(int64(per))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				m, err := c.Receive(ctx)
				if err != nil {
					b.Fatalf("Receive() = %v", err)
				}
				if _, ok := m.Control.(RegSend); !ok {
					b.Fatalf("Receive() = %#v", m)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkConnPingPong measures round trips through a Conn alone: a
// message sent with RegSend to a peer that answers each frame at once
// with a SEND frame, received with Receive, over loopback TCP.
func BenchmarkConnPingPong(b *testing.B) {
	c, peer := newTCPConn(b, readBufferSize)
	reply := erlFrames(1, 8)
	go func() {
		r := bufio.NewReader(peer)
		var hdr [4]byte
		for {
			if _, err := io.ReadFull(r, hdr[:]); err != nil {
				return
			}
			if _, err := r.Discard(int(binary.BigEndian.Uint32(hdr[:]))); err != nil {
				return
			}
			if _, err := peer.Write(reply); err != nil {
				return
			}
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	self := Pid{Node: "a@host", ID: 1, Creation: 1}
	msg := Tuple{Atom("ping"), self, int64(1)}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := c.RegSend(ctx, self, "echo", msg); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Receive(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// newTCPConn returns a Conn with a read buffer of size bytes over
// loopback TCP, with no handshake, and the other end; both are closed at
// cleanup.
func newTCPConn(tb testing.TB, size int) (*Conn, net.Conn) {
	tb.Helper()
	return newTCPConnWith(tb, nil, size, nil)
}

// newTCPConnWith is newTCPConn for the Node n (a default one if nil),
// with the connReader reading through wrap(nc), if wrap is not nil.
func newTCPConnWith(tb testing.TB, n *Node, size int, wrap func(net.Conn) net.Conn) (*Conn, net.Conn) {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	nc, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	peer, err := l.Accept()
	if err != nil {
		nc.Close()
		tb.Fatal(err)
	}
	if n == nil {
		n = &Node{Name: "a@host", Cookie: "c", Creation: 1}
	}
	n.init()
	cr := &connReader{nc: nc}
	if wrap != nil {
		cr.nc = wrap(nc)
	}
	c := newConn(n, nc, cr, bufio.NewReaderSize(cr, size), peerInfo{name: "b@host", flags: DefaultFlags})
	tb.Cleanup(func() {
		c.Close()
		peer.Close()
	})
	return c, peer
}
