package ei

import (
	"context"
	"sync"
)

// Reusing the memory of large received messages. A large binary in a
// message read into memory of its own shares that memory (see
// Reader.binaryBytes), so each such message costs a fresh buffer, which
// the runtime must clear and later collect. ReceiveReuse hands the
// buffer of the message it returned before back to the Conn, which reads
// a later large message into it, as a C node reuses its ei_x_buff.

// maxFreeBytes bounds the buffers of released messages a Conn keeps.
const maxFreeBytes = 8 << 20

// freeList holds the buffers of released messages until a later message
// is read into one.
type freeList struct {
	mu    sync.Mutex
	bufs  [][]byte
	bytes int // their capacity
}

// put keeps b, letting go of the buffers kept longest to make room.
func (l *freeList) put(b []byte) {
	if cap(b) > maxFreeBytes {
		return
	}
	l.mu.Lock()
	drop := 0
	for l.bytes+cap(b) > maxFreeBytes {
		l.bytes -= cap(l.bufs[drop])
		drop++
	}
	if drop > 0 {
		n := copy(l.bufs, l.bufs[drop:])
		clear(l.bufs[n:])
		l.bufs = l.bufs[:n]
	}
	l.bufs = append(l.bufs, b[:0])
	l.bytes += cap(b)
	l.mu.Unlock()
}

// get returns a buffer with room for size bytes, and not much more, or
// nil.
func (l *freeList) get(size int) []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.bufs) - 1; i >= 0; i-- {
		b := l.bufs[i]
		if cap(b) >= size && cap(b)/4 <= size {
			last := len(l.bufs) - 1
			l.bufs[i] = l.bufs[last]
			l.bufs[last] = nil
			l.bufs = l.bufs[:last]
			l.bytes -= cap(b)
			return b
		}
	}
	return nil
}

// received is a message queued for Receive, with the buffer its
// binaries share, if any (a pointer, to keep the queue of every Conn
// small: only large messages have one).
type received struct {
	Message
	buf *[]byte
}

// ReceiveReuse is Receive, except that the memory of the message it
// returned before is reused: a large Binary in that message (one of 64
// KiB or more that makes up at least half of it, which shares the memory
// the message was read into) may change once ReceiveReuse is called
// again, from any goroutine. Copy out what must outlive the next call.
//
// It pays for a receiver of many large binaries, which otherwise cost a
// fresh buffer each for the runtime to clear and collect, and reads them
// as a C node does with the ei_x_buff it passes to ei_xreceive_msg each
// time. Once ReceiveReuse was called, a Conn keeps up to 8 MiB of such
// memory for later messages. Receive and ReceiveReuse may be mixed: a
// message that Receive returns keeps its memory.
func (c *Conn) ReceiveReuse(ctx context.Context) (Message, error) {
	c.reusing.Store(true)
	c.reuseMu.Lock()
	prev := c.reused
	c.reused = nil
	c.reuseMu.Unlock()
	if prev != nil {
		c.free.put(prev)
	}
	r, err := c.receive(ctx)
	if r.buf != nil {
		// The buffer of a message another call returned meanwhile, if
		// any, is left to the garbage collector.
		c.reuseMu.Lock()
		c.reused = *r.buf
		c.reuseMu.Unlock()
	}
	return r.Message, err
}

// share notes that the binaries of the message just decoded share data,
// so that ReceiveReuse can reuse it once that message is done with.
func (c *Conn) share(data []byte) {
	if cap(data) <= maxFreeBytes {
		c.shared = data
	}
}
