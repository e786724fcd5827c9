package ei

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"testing"
	"testing/synctest"
	"time"
)

// readFrames reads frames (without their length) from r into the
// returned channel until r fails.
func readFrames(r io.Reader) <-chan []byte {
	ch := make(chan []byte, 16)
	go func() {
		defer close(ch)
		var hdr [4]byte
		for {
			if _, err := io.ReadFull(r, hdr[:]); err != nil {
				return
			}
			f := make([]byte, binary.BigEndian.Uint32(hdr[:]))
			if _, err := io.ReadFull(r, f); err != nil {
				return
			}
			if len(f) > 0 { // not a tick
				ch <- f
			}
		}
	}()
	return ch
}

// pattern returns n bytes that differ from a shifted copy of themselves.
func pattern(n int, seed byte) Binary {
	b := make(Binary, n)
	for i := range b {
		b[i] = byte(i*7) + seed
	}
	return b
}

// bigMessage is a payload whose encoding spans two fragments, with
// binaries written from their own memory and small terms between them.
func bigMessage() Term {
	return Tuple{Atom("big"), pattern(2*bulkFragmentSize+70_000, 1), int64(42), pattern(5000, 2), String("tail"), pattern(100, 3)}
}

// TestSendFragments checks the frames of a large message: when the peer
// takes them, fragments of bulkFragmentSize bytes of data, or of
// fragmentSize within smallWindow of a small message (the last with the
// rest), the first with an empty atom cache header, ids counting down to
// 1, one sequence id; a single frame otherwise. Either way the frames
// decode to the message sent. A message of less than two fragments goes
// whole.
func TestSendFragments(t *testing.T) {
	to := Pid{Node: "b@host", ID: 7, Creation: 2}
	for _, tt := range []struct {
		name  string
		flags Flags
		frags int           // bytes of data per fragment, 0 for none
		small time.Duration // a small message this long before, if not 0
	}{
		{"fragments", DefaultFlags, bulkFragmentSize, 0},
		{"fragments after a small message", DefaultFlags, fragmentSize, smallWindow - time.Millisecond},
		{"fragments long after a small message", DefaultFlags, bulkFragmentSize, smallWindow},
		{"no fragments", DefaultFlags &^ FlagFragments, 0, 0},
		{"pass-through", DefaultFlags &^ FlagDistHdrAtomCache, 0, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, peer := newRawConn(t, tt.flags, time.Hour)
				frames := readFrames(peer)
				if tt.small > 0 {
					if err := c.Send(context.Background(), to, Atom("small")); err != nil {
						t.Fatal(err)
					}
					<-frames
					time.Sleep(tt.small)
				}
				sent := make(chan error, 1)
				go func() { sent <- c.Send(context.Background(), to, bigMessage()) }()
				dec := &Conn{}
				var got Message
				var seq uint64
				for i := 0; ; i++ {
					f := <-frames
					if size := tt.frags; size > 0 {
						// 131, 69 or 70, sequence id, fragment id, and
						// for the first an empty atom cache header.
						tag, hdr := byte(distFragCont), 18
						if i == 0 {
							seq = binary.BigEndian.Uint64(f[2:])
							tag, hdr = distFragHeader, 19
						}
						id, data := binary.BigEndian.Uint64(f[10:]), len(f)-hdr
						if f[0] != 131 || f[1] != tag || binary.BigEndian.Uint64(f[2:]) != seq || id == 0 || i == 0 && f[18] != 0 {
							t.Fatalf("frame %d = %x..., want a fragment of sequence %d", i, f[:19], seq)
						}
						if id > 1 && data != size || data < size || data >= 2*size {
							t.Errorf("fragment %d (id %d) carries %d bytes, want %d (up to twice that for the last)", i, id, data, size)
						}
					} else if i > 0 {
						t.Fatalf("got a second frame %x...", f[:8])
					}
					m, ok, err := dec.parseFrame(f)
					if err != nil {
						t.Fatalf("parseFrame(frame %d) = %v", i, err)
					}
					if ok {
						got = m
						break
					}
				}
				if err := <-sent; err != nil {
					t.Fatalf("Send() = %v", err)
				}
				want := Message{Control: Send{To: to}, Payload: bigMessage()}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("frames decode to %.100v, want %.100v", got, want)
				}
			})
		})
	}
}

// TestSendUnderTwoFragments checks that a message of less than twice
// fragmentSize goes in one frame even when the peer takes fragments.
func TestSendUnderTwoFragments(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, peer := newRawConn(t, DefaultFlags, time.Hour)
		frames := readFrames(peer)
		size := 2*fragmentSize - 8<<10
		go c.Send(context.Background(), Pid{Node: "b@host", ID: 7, Creation: 2}, pattern(size, 1))
		f := <-frames
		if f[0] != 131 || f[1] != distHeader || len(f) < size {
			t.Errorf("frame of %d bytes %x..., want the whole message after 131, 68", len(f), f[:4])
		}
	})
}

// TestSendFragmentsLetOthersPass checks that a message sent while a
// fragmented one is under way goes out between its fragments.
func TestSendFragmentsLetOthersPass(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, peer := newRawConn(t, DefaultFlags, time.Hour)
		frames := readFrames(peer)
		paused, resume := make(chan struct{}), make(chan struct{})
		c.afterFragment = func(i, n int) {
			if i == 1 {
				close(paused)
				<-resume
			}
		}
		to := Pid{Node: "b@host", ID: 7, Creation: 2}
		sent := make(chan error, 1)
		go func() { sent <- c.Send(context.Background(), to, bigMessage()) }()
		<-paused
		if err := c.Send(context.Background(), to, Atom("small")); err != nil {
			t.Fatalf("Send(small) = %v", err)
		}
		close(resume)
		dec := &Conn{}
		var got []Term
		for len(got) < 2 {
			f := <-frames
			m, ok, err := dec.parseFrame(f)
			if err != nil {
				t.Fatalf("parseFrame() = %v", err)
			}
			if ok {
				got = append(got, m.Payload)
			}
		}
		if err := <-sent; err != nil {
			t.Fatalf("Send(big) = %v", err)
		}
		if want := []Term{Atom("small"), bigMessage()}; !reflect.DeepEqual(got, want) {
			t.Errorf("received %.60v, want the small message first", got)
		}
	})
}

// TestSendFragmentsCanceled checks that a fragmented message cut short by
// its context closes the connection, since the peer holds a part of it.
func TestSendFragmentsCanceled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, peer := newRawConn(t, DefaultFlags, time.Hour)
		frames := readFrames(peer)
		ctx, cancel := context.WithCancel(context.Background())
		c.afterFragment = func(i, n int) { cancel() }
		err := c.Send(ctx, Pid{Node: "b@host", ID: 7, Creation: 2}, bigMessage())
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Send() canceled after its first fragment = %v, want context.Canceled", err)
		}
		n := 0
		for range frames {
			n++
		}
		if n != 1 {
			t.Errorf("the peer got %d frames, want 1", n)
		}
		<-c.Done()
	})
}

// TestSendQueueCancel checks that a sender waiting behind a blocked write
// can give up without writing anything, and that the connection works on.
func TestSendQueueCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, peer := newRawConn(t, DefaultFlags, time.Hour)
		to := Pid{Node: "b@host", ID: 7, Creation: 2}
		first := make(chan error, 1)
		go func() { first <- c.Send(context.Background(), to, Atom("first")) }()
		synctest.Wait() // the first write blocks: the peer does not read
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := c.Send(ctx, to, Atom("second")); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Send() behind a blocked write = %v, want context.DeadlineExceeded", err)
		}
		frames := readFrames(peer)
		if err := <-first; err != nil {
			t.Fatalf("first Send() = %v", err)
		}
		if err := c.Send(context.Background(), to, Atom("third")); err != nil {
			t.Fatalf("third Send() = %v", err)
		}
		dec := &Conn{}
		for _, want := range []Atom{"first", "third"} {
			m, _, err := dec.parseFrame(<-frames)
			if err != nil || m.Payload != want {
				t.Errorf("peer got %v, %v; want %s", m.Payload, err, want)
			}
		}
	})
}

// TestSendBlockedTCP checks that cancelling or timing out a send blocked
// on a TCP peer that does not read interrupts it, and that the
// connection, partly written, closes.
func TestSendBlockedTCP(t *testing.T) {
	for _, name := range []string{"cancel", "deadline"} {
		t.Run(name, func(t *testing.T) {
			c, peer := newTCPConn(t, smallReadBuffer)
			ctx, cancel := context.WithTimeout(context.Background(), testTimeoutShort)
			defer cancel()
			if name == "cancel" {
				ctx, cancel = context.WithCancel(context.Background())
				defer cancel()
				// Cancel once the peer has the first bytes: the write
				// under way then blocks, or will.
				go func() {
					var b [1]byte
					peer.Read(b[:])
					cancel()
				}()
			}
			big := make(Binary, 64<<20) // more than the socket buffers hold
			err := c.Send(ctx, Pid{Node: "b@host", ID: 7, Creation: 2}, big)
			if !errors.Is(err, ctx.Err()) || ctx.Err() == nil {
				t.Errorf("Send() to a peer that does not read = %v, want %v", err, ctx.Err())
			}
			select {
			case <-c.Done():
			case <-time.After(testTimeoutLong):
				t.Errorf("the connection is still up after a partial write")
			}
		})
	}
}

// Timeouts of the tests over TCP: how long a send to a peer that does
// not read is given, and how long anything that must happen may take.
const (
	testTimeoutShort = 200 * time.Millisecond
	testTimeoutLong  = 30 * time.Second
)

// TestFragmentReserve checks the memory set aside for a fragmented
// message on the word of its first fragment: what the message will need
// when that is within bounds, so that no fragment moves it, and no more
// than the bounds when a peer claims more. (Buffers from the pool, as
// here, are of a power of two bytes: up to twice as much.)
func TestFragmentReserve(t *testing.T) {
	start := func(seq, id uint64, n int) []byte {
		f := []byte{131, 69}
		f = binary.BigEndian.AppendUint64(f, seq)
		f = binary.BigEndian.AppendUint64(f, id)
		return append(append(f, 0), make([]byte, n)...)
	}
	c := &Conn{}
	if _, _, err := c.parseFrame(start(1, 17, erlFragmentSize)); err != nil {
		t.Fatal(err)
	}
	if got, want := cap(c.frags[1].data), 17*erlFragmentSize; got < want || got >= 2*want {
		t.Errorf("buffer for 17 fragments of 64 KiB: cap %d, want %d up to twice that", got, want)
	}
	if _, _, err := c.parseFrame(start(2, 1<<40, 100)); err != nil {
		t.Fatal(err)
	}
	if got := cap(c.frags[2].data); got > trustMin {
		t.Errorf("buffer for a first fragment of 100 bytes claiming 2^40 more: cap %d, want at most %d", got, trustMin)
	}
	// Claims that would take more than MaxFragmentedSize get buffers of
	// their bytes alone, and go on.
	c = &Conn{}
	for seq := uint64(1); seq <= 2*MaxFragmentedSize/trustMin; seq++ {
		if _, _, err := c.parseFrame(start(seq, 1<<40, 1000)); err != nil {
			t.Fatalf("first fragment of sequence %d: %v", seq, err)
		}
	}
	if c.fragSize > MaxFragmentedSize+2*MaxFragmentedSize/trustMin*1000 {
		t.Errorf("buffers of %d bytes held for %d bytes", c.fragSize, c.fragBytes)
	}
}

// TestSendConcurrent has goroutines send messages of all sizes at once,
// some fragmented, and checks that each arrives whole and in the order
// its sender sent it.
func TestSendConcurrent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := connPair(t, DefaultFlags, time.Hour)
		const senders, each = 4, 20
		to := mustPid(t, b.Node())
		for g := range senders {
			go func() {
				for i := range each {
					msg := Tuple{int64(g), int64(i), pattern(i*i*500, byte(g))}
					if err := a.Send(context.Background(), to, msg); err != nil {
						t.Errorf("Send() = %v", err)
					}
				}
			}()
		}
		next := make([]int64, senders)
		for range senders * each {
			m, err := b.Receive(context.Background())
			if err != nil {
				t.Fatalf("Receive() = %v", err)
			}
			tu := m.Payload.(Tuple)
			g, i := tu[0].(int64), tu[1].(int64)
			if i != next[g] || !bytes.Equal(tu[2].(Binary), pattern(int(i*i*500), byte(g))) {
				t.Fatalf("from sender %d: message %d, want %d, intact", g, i, next[g])
			}
			next[g]++
		}
	})
}
