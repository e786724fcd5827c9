package ei

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// receiveWithin runs Receive(ctx) and fails the test if it has not
// returned within limit, which is far more than it needs.
func receiveWithin(t *testing.T, c *Conn, ctx context.Context, limit time.Duration) (Message, error) {
	t.Helper()
	type result struct {
		m   Message
		err error
	}
	got := make(chan result, 1)
	go func() {
		m, err := c.Receive(ctx)
		got <- result{m, err}
	}()
	select {
	case r := <-got:
		return r.m, r.err
	case <-time.After(limit):
		t.Fatalf("Receive() did not return within %v", limit)
		return Message{}, nil
	}
}

// hookedConn is a net.Conn that calls beforeDeadline, once, before it
// sets a read deadline in the future.
type hookedConn struct {
	net.Conn
	beforeDeadline atomic.Pointer[func()]
}

func (h *hookedConn) SetReadDeadline(t time.Time) error {
	if t.After(time.Now()) {
		if f := h.beforeDeadline.Swap(nil); f != nil {
			(*f)()
		}
	}
	return h.Conn.SetReadDeadline(t)
}

// TestReceiveCanceledAsReadStarts checks that a Receive reading for
// itself returns when its context ends just as its read starts: the
// deadline in the past that interruptRead sets must not be undone by the
// deadline of the net tick time that connReader sets before reading.
func TestReceiveCanceledAsReadStarts(t *testing.T) {
	h := &hookedConn{}
	c, _, _ := directConnWith(t, nil, func(nc net.Conn) net.Conn {
		h.Conn = nc
		return h
	})
	// The deadline was last moved a while ago, so the next read moves it.
	c.cr.set = time.Time{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hook := func() {
		// The context ends, and interruptRead runs, between connReader's
		// decision to move the deadline and the move. (A Conn that makes
		// the two one step has interruptRead wait for the move: then the
		// hook goes on after a while, and the interruption comes after.)
		cancel()
		select {
		case <-c.rfired:
			c.rfired <- struct{}{}
		case <-time.After(time.Second):
		}
	}
	h.beforeDeadline.Store(&hook)
	_, err := receiveWithin(t, c, ctx, 10*time.Second)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Receive() = %v, want context.Canceled", err)
	}
}

// writerFunc is an io.Writer that calls f.
type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestReceiveCanceledBetweenFrames checks that a Receive reading for
// itself returns when its context ends while it handles a frame (here a
// tick) and it then reads on: the read must not move the deadline of the
// net tick time over the one in the past that interrupts it, as it does
// when it was last moved a quarter of the net tick time ago.
func TestReceiveCanceledBetweenFrames(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var armed atomic.Pointer[Conn]
	var seen atomic.Bool
	n := &Node{Name: "a@host", Cookie: "c", Creation: 1}
	n.Trace = writerFunc(func(p []byte) (int, error) {
		c := armed.Load()
		if string(p) != "<- tick\n" || c == nil || !armed.CompareAndSwap(c, nil) {
			return len(p), nil
		}
		seen.Store(true)
		// On Receive's goroutine, holding the right to read: the tick
		// came a while after the deadline was last moved, and the
		// context ends as it is handled.
		c.cr.set = time.Time{}
		cancel()
		select {
		case <-c.rfired:
			c.rfired <- struct{}{}
		case <-time.After(time.Second):
		}
		return len(p), nil
	})
	c, peer, _ := directConnWith(t, n, nil)
	armed.Store(c)
	if _, err := peer.Write([]byte{0, 0, 0, 0}); err != nil {
		t.Fatal(err)
	}
	_, err := receiveWithin(t, c, ctx, 10*time.Second)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Receive() = %v, want context.Canceled", err)
	}
	if !seen.Load() {
		t.Fatal("Receive() did not read the tick")
	}
}

// TestReceivePollingSilentPeerTimesOut checks that a peer that goes
// silent is given up on after the net tick time while Receive reads for
// itself with contexts that end before anything comes, as a caller that
// polls does: a read that an ended context interrupted must not count as
// a sign of life, and so must not move the deadline that the last bytes
// read set.
func TestReceivePollingSilentPeerTimesOut(t *testing.T) {
	const tick = 200 * time.Millisecond
	n := &Node{Name: "a@host", Cookie: "c", Creation: 1, NetTickTime: tick}
	c, _, _ := directConnWith(t, n, nil)
	// The peer sends nothing more. It is given up on after 1.25 tick
	// times; give it far more.
	limit := time.Now().Add(50 * tick)
	for c.Err() == nil {
		if time.Now().After(limit) {
			t.Fatalf("the connection is still up after %v of silence, with a net tick time of %v", 50*tick, tick)
		}
		ctx, cancel := context.WithTimeout(context.Background(), tick/10)
		_, err := receiveWithin(t, c, ctx, 10*time.Second)
		cancel()
		if err == nil {
			t.Fatal("Receive() returned a message from a silent peer")
		}
	}
	if !errors.Is(c.Err(), ErrTimeout) {
		t.Errorf("Err() = %v, want ErrTimeout", c.Err())
	}
}
