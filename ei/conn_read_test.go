package ei

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// TestReceiveLargeFrames checks that the binaries of large messages,
// which refer to the buffers they were read into, stay intact when more
// frames arrive, fragmented or not, with a buffer reused when no binary
// refers to it.
func TestReceiveLargeFrames(t *testing.T) {
	msgs := []Term{
		pattern(300_000, 1),
		Tuple{String(strings.Repeat("a", 60_000)), pattern(30_000, 2)}, // nothing shared
		pattern(300_000, 3),
		Tuple{pattern(70_000, 4), pattern(70_000, 5)}, // neither half of the message
		pattern(100_000, 6),
	}
	for _, fs := range testFlagSets {
		t.Run(fs.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, b := connPair(t, fs.flags, time.Hour)
				to := mustPid(t, b.Node())
				go func() {
					for _, m := range msgs {
						if err := a.Send(context.Background(), to, m); err != nil {
							t.Errorf("Send() = %v", err)
						}
					}
				}()
				var got []Term
				for range msgs {
					m, err := b.Receive(context.Background())
					if err != nil {
						t.Fatalf("Receive() = %v", err)
					}
					got = append(got, m.Payload)
				}
				for i := range msgs {
					if !reflect.DeepEqual(got[i], msgs[i]) {
						t.Errorf("message %d = %.40v, want %.40v", i, got[i], msgs[i])
					}
				}
				if bin := got[0].(Binary); cap(bin) != len(bin) {
					t.Errorf("a received Binary has room to append to: cap %d, len %d", cap(bin), len(bin))
				}
			})
		})
	}
}

// TestConnReadBufferGrows checks that the read buffer stays small while
// frames trickle in and grows once a read fills it, and again for frames
// larger than it, keeping the bytes it held, so that every frame arrives
// intact.
func TestConnReadBufferGrows(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, peer := newRawConn(t, DefaultFlags, time.Hour)
		one := erlFrames(1, 8)
		go peer.Write(one)
		if _, err := c.Receive(context.Background()); err != nil {
			t.Fatalf("Receive() = %v", err)
		}
		synctest.Wait()
		if got := c.br.Size(); got != 4096 {
			t.Errorf("after one small frame, read buffer of %d bytes, want 4096 still", got)
		}
		// Frames of 1000 bytes do not end where a 4096-byte read does:
		// the buffer grows holding part of one.
		const n = 50
		frames := erlFrames(n, 1000)
		go peer.Write(frames[len(erlFrames(1, 1000)):]) // the cache is set already
		for i := 1; i < n; i++ {
			m, err := c.Receive(context.Background())
			if err != nil {
				t.Fatalf("Receive() = %v", err)
			}
			if p, ok := m.Payload.(Tuple); !ok || len(p) != 3 || len(p[2].(Binary)) != 1000 {
				t.Fatalf("message %d = %.60v, want {msg, 1, <<1000 bytes>>}", i, m.Payload)
			}
		}
		if got := c.br.Size(); got != readBufferSize {
			t.Errorf("after %d frames at once, read buffer of %d bytes, want %d", n, got, readBufferSize)
		}
		// Frames larger than that, fragments of 64 KiB with their
		// headers, make it larger still.
		big := erlFrames(2, 200_000)
		go peer.Write(big[len(erlFrames(1, 200_000)):])
		if m, err := c.Receive(context.Background()); err != nil {
			t.Fatalf("Receive() = %v", err)
		} else if p, ok := m.Payload.(Tuple); !ok || len(p) != 3 || len(p[2].(Binary)) != 200_000 {
			t.Fatalf("Receive() = %.60v, want {msg, 1, <<200000 bytes>>}", m.Payload)
		}
		if got := c.br.Size(); got != largeReadBuffer {
			t.Errorf("after fragments of 64 KiB, read buffer of %d bytes, want %d", got, largeReadBuffer)
		}
	})
}

// TestLargeControlKeepsItsBinary checks that a large binary in a control
// message without payload (an EXIT's reason), which the Binary shares
// with the frame's buffer, keeps its bytes when the next large frames
// arrive: the buffer is the message's, not read into again.
func TestLargeControlKeepsItsBinary(t *testing.T) {
	c, peer := newRawConn(t, DefaultFlags, time.Hour)
	pa := Pid{Node: "a@host", ID: 1, Creation: 1}
	pb := Pid{Node: "b@host", ID: 2, Creation: 2}
	frame := func(fill byte) []byte {
		body, err := Exit{From: pb, To: pa, Reason: Binary(bytes.Repeat([]byte{fill}, 300_000))}.appendControl([]byte{131, 68, 0})
		if err != nil {
			t.Fatal(err)
		}
		return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
	}
	go peer.Write(joinBytes(frame(1), frame(2), frame(3)))
	var got []Binary
	for range 3 {
		m, err := c.Receive(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m.Control.(Exit).Reason.(Binary))
	}
	for i, b := range got {
		if b[0] != byte(i+1) || b[len(b)-1] != byte(i+1) {
			t.Errorf("reason %d: first byte %d, last %d; want %d", i, b[0], b[len(b)-1], i+1)
		}
	}
}

// readRecorder is a net.Conn that keeps the part of each buffer its reads
// filled, to tell which reads went straight into a message's memory.
type readRecorder struct {
	net.Conn
	mu    sync.Mutex
	reads [][]byte
}

func (r *readRecorder) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.mu.Lock()
	r.reads = append(r.reads, p[:n])
	r.mu.Unlock()
	return n, err
}

// TestFragmentBodiesReadOnce checks that the fragments of a large message
// are read straight into the memory that reassembles it, all but the
// bytes that came with their headers into the read buffer, rather than
// into the read buffer and then copied. With ReceiveReuse the message's
// Binary is that memory; it is overwritten with a mark, and the reads
// that filled it are those whose buffers now hold the mark.
func TestFragmentBodiesReadOnce(t *testing.T) {
	rec := &readRecorder{}
	c, peer := newTCPConnWith(t, nil, smallReadBuffer, func(nc net.Conn) net.Conn {
		rec.Conn = nc
		return rec
	})
	const size = 1 << 20
	frames := erlFrames(2, 16)
	go peer.Write(frames)
	if _, err := c.ReceiveReuse(context.Background()); err != nil { // sets the cache, and has buffers kept for ReceiveReuse
		t.Fatalf("ReceiveReuse() = %v", err)
	}
	if _, err := c.ReceiveReuse(context.Background()); err != nil {
		t.Fatalf("ReceiveReuse() = %v", err)
	}
	big := erlFrames(2, size)
	big = big[len(erlFrames(1, size)):] // the cache is set already
	rec.mu.Lock()
	rec.reads = nil
	rec.mu.Unlock()
	go peer.Write(big)
	m, err := c.ReceiveReuse(context.Background())
	if err != nil {
		t.Fatalf("ReceiveReuse() = %v", err)
	}
	bin, ok := m.Payload.(Tuple)[2].(Binary)
	if !ok || len(bin) != size {
		t.Fatalf("ReceiveReuse() = %.60v, want {msg, 1, <<%d bytes>>}", m.Payload, size)
	}
	for i := range bin {
		bin[i] = 0x5a
	}
	rec.mu.Lock()
	direct := 0
	for _, r := range rec.reads {
		direct += bytes.Count(r, []byte{0x5a})
	}
	nreads := len(rec.reads)
	rec.mu.Unlock()
	// The first of the 17 fragments may bring as many bytes into the
	// read buffer as it holds, of smallReadBuffer, and each of the others
	// up to headRead, with its header.
	if want := size - smallReadBuffer - 16*headRead; direct < want {
		t.Errorf("%d of the %d bytes of the binary were read straight into it in %d reads, want at least %d", direct, size, nreads, want)
	}
}
