package ei

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"testing/synctest"
	"time"
)

// TestReceiveReuse checks that ReceiveReuse has a large message read into
// the memory of the one it returned before, fragmented or not, and that a
// message Receive returns keeps its memory.
func TestReceiveReuse(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int
	}{{"large", 300_000}, {"in read buffer", 100_000}} {
		for _, fs := range testFlagSets {
			t.Run(tc.name+"/"+fs.name, func(t *testing.T) { testReceiveReuse(t, fs.flags, tc.size) })
		}
	}
}

// testReceiveReuse is TestReceiveReuse for one flag set and size.
func testReceiveReuse(t *testing.T, flags Flags, size int) {
	synctest.Test(t, func(t *testing.T) {
		a, b := connPair(t, flags, time.Hour)
		to := mustPid(t, b.Node())
		var msgs []Term
		for i := range 5 {
			msgs = append(msgs, pattern(size, byte(i)))
		}
		go func() {
			for _, m := range msgs {
				// Send once the receiver waits, done with the
				// message before.
				synctest.Wait()
				if err := a.Send(context.Background(), to, m); err != nil {
					t.Errorf("Send() = %v", err)
					return
				}
			}
		}()
		var got []Binary
		for i := range msgs {
			receive := b.ReceiveReuse
			if i == 2 {
				receive = b.Receive
			}
			m, err := receive(context.Background())
			if err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
			if !reflect.DeepEqual(m.Payload, msgs[i]) {
				t.Fatalf("message %d = %.40v, want %.40v", i, m.Payload, msgs[i])
			}
			got = append(got, m.Payload.(Binary))
		}
		same := func(i, j int) bool { return &got[i][0] == &got[j][0] }
		if !same(0, 1) {
			t.Errorf("message 1 was not read into the memory of message 0")
		}
		if same(1, 2) {
			t.Errorf("message 2, from Receive, was read into the memory of message 1")
		}
		if !same(1, 3) || !same(3, 4) {
			t.Errorf("messages 3 and 4 were not read into the memory of message 1")
		}
		if !reflect.DeepEqual(got[2], msgs[2]) {
			t.Errorf("message 2, from Receive, changed to %.40v", got[2])
		}
	})
}

// TestReceiveReuseConcurrentContext checks that a ReceiveReuse whose
// context ends returns while another one waits for a message, as Receive
// does. (In real time: a goroutine blocked on a mutex, as the second one
// was, does not let a synctest bubble's clock move.)
func TestReceiveReuseConcurrentContext(t *testing.T) {
	for _, name := range []string{"Receive", "ReceiveReuse"} {
		t.Run(name, func(t *testing.T) {
			_, b := connPair(t, DefaultFlags, time.Hour)
			receive := b.Receive
			if name == "ReceiveReuse" {
				receive = b.ReceiveReuse
			}
			first := make(chan struct{})
			go func() {
				defer close(first)
				receive(context.Background()) // nothing comes until Close
			}()
			time.Sleep(50 * time.Millisecond) // the first waits
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, err := receive(ctx)
				done <- err
			}()
			select {
			case err := <-done:
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("%s() = %v, want context.DeadlineExceeded", name, err)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("%s() with a context of 10 ms has not returned after 10 s", name)
				b.Close()
				<-done
			}
			b.Close()
			<-first
		})
	}
}

// TestReceiveKeepsNoBuffers checks that a Conn whose user never calls
// ReceiveReuse keeps none of the buffers its fragmented messages were
// reassembled in.
func TestReceiveKeepsNoBuffers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := connPair(t, DefaultFlags, time.Hour)
		to := mustPid(t, b.Node())
		// Binaries under half the message: copied, the buffer unshared.
		var msg List
		for i := range 6 {
			msg = append(msg, pattern(100_000, byte(i)))
		}
		go func() {
			if err := a.Send(context.Background(), to, msg); err != nil {
				t.Errorf("Send() = %v", err)
			}
		}()
		if _, err := b.Receive(context.Background()); err != nil {
			t.Fatal(err)
		}
		b.free.mu.Lock()
		held, n := b.free.bytes, len(b.free.bufs)
		b.free.mu.Unlock()
		if held > 0 {
			t.Errorf("a Conn that never called ReceiveReuse holds %d bytes in %d buffers", held, n)
		}
	})
}

// TestReceiveFragmentedOwnsMemory checks that the messages Receive
// returns keep their binaries when later fragmented messages are
// reassembled in buffers from the pool (see bufpool.go): the binaries are
// copied out of them.
func TestReceiveFragmentedOwnsMemory(t *testing.T) {
	for _, size := range []int{70_000, 300_000} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, b := connPair(t, DefaultFlags, time.Hour)
				to := mustPid(t, b.Node())
				var msgs []Term
				for i := range 6 {
					msgs = append(msgs, Tuple{Atom("m"), pattern(size, byte(i))})
				}
				go func() {
					for _, m := range msgs {
						if err := a.Send(context.Background(), to, m); err != nil {
							t.Errorf("Send() = %v", err)
							return
						}
					}
				}()
				var got []Term
				for i := range msgs {
					m, err := b.Receive(context.Background())
					if err != nil {
						t.Fatalf("message %d: %v", i, err)
					}
					got = append(got, m.Payload)
				}
				for i := range msgs {
					if !reflect.DeepEqual(got[i], msgs[i]) {
						t.Errorf("message %d changed to %.40v after later ones, want %.40v", i, got[i], msgs[i])
					}
				}
			})
		})
	}
}

// TestPooledBuffers checks the classes of pooled buffers and the room
// getPooled keeps to.
func TestPooledBuffers(t *testing.T) {
	for _, tt := range []struct{ size, room, want int }{
		{1, 1 << 30, minPooled},
		{minPooled, 1 << 30, minPooled},
		{minPooled + 1, 1 << 30, 2 * minPooled},
		{3 * minPooled, 1 << 30, 4 * minPooled},
		{maxPooled, 1 << 30, maxPooled},
		{maxPooled + 1, 1 << 30, 0},
		{3 * minPooled, 4*minPooled - 1, 0},
		{3 * minPooled, 4 * minPooled, 4 * minPooled},
	} {
		b := getPooled(tt.size, tt.room)
		if cap(b) != tt.want || len(b) != 0 {
			t.Errorf("getPooled(%d, %d) has len %d, cap %d; want 0, %d", tt.size, tt.room, len(b), cap(b), tt.want)
		}
		if b != nil {
			putPooled(b)
		}
	}
	// Buffers of other sizes are not kept; one larger than any class
	// is no class's.
	putPooled(make([]byte, 0, 3*minPooled))
	putPooled(make([]byte, 0, 2*maxPooled))
}
