package ei

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"testing/synctest"
	"time"
)

// TestSendAsyncOrder checks that messages sent with SendAsync and Send,
// mixed, arrive all and in order.
func TestSendAsyncOrder(t *testing.T) {
	for _, fs := range testFlagSets {
		t.Run(fs.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, b := connPair(t, fs.flags, time.Hour)
				to := mustPid(t, b.Node())
				const n = 2000
				go func() {
					ctx := context.Background()
					for i := range n {
						var err error
						if i%7 == 0 {
							err = a.Send(ctx, to, int64(i))
						} else {
							err = a.SendAsync(ctx, Send{To: to}, int64(i))
						}
						if err != nil {
							t.Errorf("message %d: %v", i, err)
							return
						}
					}
					if err := a.Flush(ctx); err != nil {
						t.Errorf("Flush() = %v", err)
					}
				}()
				for i := range n {
					m, err := b.Receive(context.Background())
					if err != nil {
						t.Fatalf("Receive() = %v", err)
					}
					if m.Payload != int64(i) {
						t.Fatalf("message %d = %v", i, m.Payload)
					}
				}
			})
		})
	}
}

// TestSendAsyncBound checks that SendAsync stops queueing at
// maxQueuedAsync bytes when the peer does not read: the sender then
// waits, under its context.
func TestSendAsyncBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := newRawConn(t, DefaultFlags, time.Hour)
		to := Pid{Node: "b@host", ID: 7, Creation: 2}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		msg := Binary(make([]byte, 100))
		queued := 0
		for queued < 10*maxQueuedAsync {
			err := c.SendAsync(ctx, Send{To: to}, msg)
			if errors.Is(err, context.DeadlineExceeded) {
				break
			}
			if err != nil {
				t.Fatalf("SendAsync() = %v", err)
			}
			queued += 100
		}
		if queued > maxQueuedAsync+100 || queued < maxQueuedAsync/2 {
			t.Errorf("SendAsync queued %d bytes of messages for a peer that does not read, want about %d", queued, maxQueuedAsync)
		}
	})
}

// TestSendAsyncCopies checks that a message SendAsync returned on does
// not change with its payload: small ones are copied, and ones with a
// large binary are written before it returns.
func TestSendAsyncCopies(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := connPair(t, DefaultFlags, time.Hour)
		to := mustPid(t, b.Node())
		for _, size := range []int{100, spliceMin, 10 * spliceMin} {
			bin := pattern(size, 1)
			want := Tuple{Atom("bin"), append(Binary(nil), bin...)}
			if err := a.SendAsync(context.Background(), Send{To: to}, Tuple{Atom("bin"), bin}); err != nil {
				t.Fatal(err)
			}
			clear(bin)
			m, err := b.Receive(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(m.Payload, want) {
				t.Errorf("%d-byte binary changed after SendAsync: got %.40v", size, m.Payload)
			}
		}
	})
}

// TestFlush checks that Flush waits until the messages queued are
// written, under its context, and that SendAsync and Flush fail after
// Close.
func TestFlush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, peer := newRawConn(t, DefaultFlags, time.Hour)
		to := Pid{Node: "b@host", ID: 7, Creation: 2}
		if err := c.SendAsync(context.Background(), Send{To: to}, Atom("queued")); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := c.Flush(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Flush() with a peer that does not read = %v, want context.DeadlineExceeded", err)
		}
		frames := readFrames(peer)
		if err := c.Flush(context.Background()); err != nil {
			t.Errorf("Flush() = %v", err)
		}
		dec := &Conn{}
		if m, _, err := dec.parseFrame(<-frames); err != nil || m.Payload != Atom("queued") {
			t.Errorf("peer got %v, %v; want queued", m.Payload, err)
		}
		c.Close()
		if err := c.SendAsync(context.Background(), Send{To: to}, Atom("late")); !errors.Is(err, ErrClosed) {
			t.Errorf("SendAsync() after Close = %v, want ErrClosed", err)
		}
		if err := c.Flush(context.Background()); !errors.Is(err, ErrClosed) {
			t.Errorf("Flush() after Close = %v, want ErrClosed", err)
		}
	})
}
