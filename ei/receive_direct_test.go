package ei

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"reflect"
	"testing"
	"time"
)

// inTime returns a context that ends with the test or in 30 seconds.
func inTime(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// testFrame returns the frame of ctl and payload as a peer with
// DefaultFlags sends it.
func testFrame(t testing.TB, ctl Control, payload Term) []byte {
	t.Helper()
	enc := &Conn{peer: peerInfo{flags: DefaultFlags}}
	var f outFrame
	if err := enc.encode(&f, ctl, payload); err != nil {
		t.Fatal(err)
	}
	return f.bytes()
}

// directConn returns a TCP Conn whose read goroutine leaves the reading
// to Receive for an hour once Receive was called, after a first message
// went through, and the peer's end.
func directConn(t *testing.T) (*Conn, net.Conn, Pid) {
	t.Helper()
	return directConnWith(t, nil, nil)
}

// directConnWith is directConn for the Node n and with the connReader
// reading through wrap(nc), as newTCPConnWith.
func directConnWith(t *testing.T, n *Node, wrap func(net.Conn) net.Conn) (*Conn, net.Conn, Pid) {
	t.Helper()
	c, peer := newTCPConnWith(t, n, 4096, wrap)
	if !c.direct {
		t.Fatal("a TCP Conn without a handler does not let Receive read")
	}
	c.lease.Store(int64(time.Hour))
	to := mustPid(t, c.Node())
	if _, err := peer.Write(testFrame(t, Send{To: to}, int64(0))); err != nil {
		t.Fatal(err)
	}
	if m, err := c.Receive(inTime(t)); err != nil || m.Payload != int64(0) {
		t.Fatalf("Receive() = %v, %v; want 0", m.Payload, err)
	}
	return c, peer, to
}

// TestReceiveCanceledKeepsFrame checks that a Receive reading for itself
// whose context ends in the middle of a frame leaves the bytes read for
// the next Receive.
func TestReceiveCanceledKeepsFrame(t *testing.T) {
	c, peer, to := directConn(t)
	frame := testFrame(t, Send{To: to}, Tuple{Atom("hello"), int64(1)})
	half := len(frame) / 2
	if _, err := peer.Write(frame[:half]); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if m, err := c.Receive(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Receive() of half a frame = %v, %v; want DeadlineExceeded", m, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Receive() returned %v after its deadline", d)
	}
	if _, err := peer.Write(frame[half:]); err != nil {
		t.Fatal(err)
	}
	m, err := c.Receive(inTime(t))
	if want := (Tuple{Atom("hello"), int64(1)}); err != nil || !reflect.DeepEqual(m.Payload, want) {
		t.Fatalf("Receive() = %v, %v; want %v", m.Payload, err, want)
	}
	if err := c.Err(); err != nil {
		t.Errorf("Err() = %v, want the connection up", err)
	}
}

// TestReceiveReadingClosed checks that Close ends a Receive that reads
// for itself, with ErrClosed.
func TestReceiveReadingClosed(t *testing.T) {
	c, _, _ := directConn(t)
	got := make(chan error, 1)
	go func() {
		_, err := c.Receive(context.Background())
		got <- err
	}()
	time.Sleep(20 * time.Millisecond) // Receive reads by now, most likely
	c.Close()
	select {
	case err := <-got:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("Receive() after Close = %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Receive() did not return after Close")
	}
}

// TestReceiveReadingPeerCloses checks that a Receive reading for itself
// reports a peer that closes within a frame, as the read goroutine does.
func TestReceiveReadingPeerCloses(t *testing.T) {
	c, peer, to := directConn(t)
	frame := testFrame(t, Send{To: to}, int64(1))
	peer.Write(frame[:len(frame)-1])
	peer.Close()
	_, err := c.Receive(inTime(t))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Receive() = %v, want io.ErrUnexpectedEOF", err)
	}
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Done() not closed")
	}
	if !errors.Is(c.Err(), io.ErrUnexpectedEOF) {
		t.Errorf("Err() = %v, want io.ErrUnexpectedEOF", c.Err())
	}
}

// TestRPCAfterReceive checks that an RPC's reply is read at once while
// the read goroutine leaves the reading to Receive, which nobody calls.
func TestRPCAfterReceive(t *testing.T) {
	c, peer, _ := directConn(t)
	go func() {
		var n [4]byte
		if _, err := io.ReadFull(peer, n[:]); err != nil {
			return
		}
		b := make([]byte, binary.BigEndian.Uint32(n[:]))
		if _, err := io.ReadFull(peer, b); err != nil {
			return
		}
		m, _, err := (&Conn{}).parseFrame(b)
		req, ok := m.Payload.(Tuple)
		if err != nil || !ok || len(req) != 2 {
			return
		}
		peer.Write(testFrame(t, Send{To: req[0].(Pid)}, Tuple{Atom("rex"), Atom("pong")}))
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if got, err := c.RPC(ctx, "m", "f", nil); err != nil || got != Atom("pong") {
		t.Fatalf("RPC() = %v, %v; want pong", got, err)
	}
}

// TestReceiveOrderAcrossReaders sends numbered messages, small and large,
// in bursts, to a Conn whose reading moves between Receive and the read
// goroutine as Receive pauses, and checks that they come in order.
func TestReceiveOrderAcrossReaders(t *testing.T) {
	c, peer := newTCPConn(t, 4096)
	to := mustPid(t, c.Node())
	const n = 600
	big := Binary(make([]byte, 70<<10))
	go func() {
		r := rand.New(rand.NewPCG(1, 2))
		for i := range n {
			var payload Term = int64(i)
			if r.IntN(10) == 0 {
				payload = Tuple{int64(i), big}
			}
			if _, err := peer.Write(testFrame(t, Send{To: to}, payload)); err != nil {
				return
			}
			if r.IntN(20) == 0 {
				time.Sleep(time.Duration(r.IntN(3000)) * time.Microsecond)
			}
		}
	}()
	r := rand.New(rand.NewPCG(3, 4))
	ctx := inTime(t)
	for i := range n {
		m, err := c.Receive(ctx)
		if err != nil {
			t.Fatalf("Receive() #%d = %v", i, err)
		}
		got := m.Payload
		if tup, ok := got.(Tuple); ok && len(tup) == 2 {
			got = tup[0]
		}
		if got != int64(i) {
			t.Fatalf("message #%d is %v", i, m.Payload)
		}
		if r.IntN(20) == 0 {
			time.Sleep(time.Duration(r.IntN(3000)) * time.Microsecond)
		}
	}
}
