package ei

import (
	"context"
	"errors"
	"io"
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
				sent := make(chan struct{})
				go func() {
					defer close(sent)
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
				<-sent // Flush returns, before the Conns close
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

// fillAsync queues messages of a little over 1000 bytes with SendAsync
// until the next would pass maxQueuedAsync, and returns the bytes queued.
func fillAsync(t *testing.T, c *Conn, to Pid) int {
	t.Helper()
	queued := 0
	for {
		c.w.mu.Lock()
		r := c.w.replies
		c.w.mu.Unlock()
		if r+1100 > maxQueuedAsync {
			return queued
		}
		if err := c.SendAsync(context.Background(), Send{To: to}, Binary(make([]byte, 1000))); err != nil {
			t.Fatalf("SendAsync() = %v", err)
		}
		queued += 1000
	}
}

// TestSendAsyncBoundAfterRequeue checks that SendAsync keeps its
// bound when the senders leading the writes to a peer that reads nothing
// give up, one after the other, each putting the frames it took back at
// the head of the queue: they were counted twice once, so the queue grew
// by maxQueuedAsync per Send whose context ended.
func TestSendAsyncBoundAfterRequeue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := newRawConn(t, DefaultFlags, time.Hour)
		to := Pid{Node: "b@host", ID: 7, Creation: 2}
		send := func(d time.Duration) {
			ctx, cancel := context.WithTimeout(context.Background(), d)
			defer cancel()
			c.Send(ctx, to, Atom("sync")) // fails: the peer reads nothing
		}
		const rounds = 8
		go send(time.Second) // leads, and blocks
		synctest.Wait()
		queued := fillAsync(t, c, to)
		for range rounds {
			go send(2 * time.Second) // waits its turn; gives up 1 s after the one leading
			synctest.Wait()
			time.Sleep(time.Second) // the leader gives up, the next leads
			synctest.Wait()
			queued += fillAsync(t, c, to)
		}
		if queued > 2*maxQueuedAsync {
			t.Errorf("SendAsync queued %d bytes for a peer that read nothing, want at most about %d", queued, maxQueuedAsync)
		}
		time.Sleep(time.Minute) // the last sender gives up
		synctest.Wait()
	})
}

// TestFlushCancelKeepsQueue checks that cancelling Flush leaves the
// messages queued and the connection up: Flush writes nothing itself, so
// its context cuts no write short (which would close the connection).
func TestFlushCancelKeepsQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, peer := newRawConn(t, DefaultFlags, time.Hour)
		to := Pid{Node: "b@host", ID: 7, Creation: 2}
		go func() { // leads, blocks, gives up after 1 s
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			c.Send(ctx, to, Atom("sync"))
		}()
		synctest.Wait()
		for range 10 {
			if err := c.SendAsync(context.Background(), Send{To: to}, Binary(make([]byte, 1000))); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		flushed := make(chan error, 1)
		go func() { flushed <- c.Flush(ctx) }()
		synctest.Wait()
		time.Sleep(time.Second) // the sender gives up: Flush leads
		synctest.Wait()
		io.ReadFull(peer, make([]byte, 100)) // the peer reads a little
		if err := <-flushed; !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Flush() = %v, want context.DeadlineExceeded", err)
		}
		synctest.Wait()
		if err := c.Err(); err != nil {
			t.Errorf("after Flush's context ended, the connection is down: %v", err)
		}
		if err := c.SendAsync(context.Background(), Send{To: to}, Atom("more")); err != nil {
			t.Errorf("SendAsync() after Flush's context ended = %v", err)
		}
	})
}

// TestSendAsyncAfterClose checks that SendAsync and Flush return
// ErrClosed once the connection is closed, as Send does, also after a
// write failed, whose error they returned before.
func TestSendAsyncAfterClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, peer := newRawConn(t, DefaultFlags, time.Hour)
		to := Pid{Node: "b@host", ID: 7, Creation: 2}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		sent := make(chan error, 1)
		go func() { sent <- c.Send(ctx, to, pattern(10_000, 1)) }()
		synctest.Wait()
		io.ReadFull(peer, make([]byte, 100)) // a part, then nothing
		<-sent                               // cut short: the connection is closed
		c.Close()
		if err := c.Send(context.Background(), to, Atom("late")); !errors.Is(err, ErrClosed) {
			t.Errorf("Send() after Close = %v, want ErrClosed", err)
		}
		if err := c.SendAsync(context.Background(), Send{To: to}, Atom("late")); !errors.Is(err, ErrClosed) {
			t.Errorf("SendAsync() after Close = %v, want ErrClosed", err)
		}
		if err := c.Flush(context.Background()); !errors.Is(err, ErrClosed) {
			t.Errorf("Flush() after Close = %v, want ErrClosed", err)
		}
	})
}

// TestSendAsyncLargeWaits checks that SendAsync waits, as SendControl
// does, for a message larger than 128 KiB, also to a peer that takes no
// fragments, rather than queueing a copy.
func TestSendAsyncLargeWaits(t *testing.T) {
	for _, fs := range testFlagSets {
		t.Run(fs.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, _ := newRawConn(t, fs.flags, time.Hour)
				to := Pid{Node: "b@host", ID: 7, Creation: 2}
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				var msg List // 180 KB, no binary to splice
				for range 60 {
					msg = append(msg, Binary(make([]byte, 3000)))
				}
				if err := c.SendAsync(ctx, Send{To: to}, msg); !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("SendAsync() of a 180 KB message to a peer that reads nothing = %v, want context.DeadlineExceeded", err)
				}
			})
		})
	}
}
