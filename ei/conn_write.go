package ei

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"slices"
	"sync"
	"time"
)

// Sending. A message is encoded into an outFrame outside any lock, with
// its large binaries left in the caller's memory (splices), then handed to
// the connection's writer (see connWriter), which writes it with the
// frames other goroutines queued meanwhile in one vectored write. A
// large message goes out in fragments (DIST_FRAG_HEADER, DIST_FRAG_CONT),
// when the peer takes them, each queued on its own, so that the messages
// of other goroutines pass between them, as erl does: fragments of
// fragmentSize bytes, as erl's, while small messages go out on the
// connection too, else of bulkFragmentSize, which erl takes faster.

const (
	// spliceMin is the size from which a binary in a message is written
	// from the caller's memory rather than copied into the frame.
	spliceMin = 4 << 10

	// fragmentSize is the most bytes of a message a fragment carries
	// (but the last) when a message of less than that went out within
	// smallWindow before the first, as erl's ERTS_DIST_FRAGMENT_SIZE.
	fragmentSize = 64 << 10

	// bulkFragmentSize is the most bytes a fragment carries otherwise:
	// erl takes 1 MB messages in fragments of 256 KiB at 1.21-1.42 times
	// the C-node's rate (one frame each), against 0.88-1.06 in fragments
	// of 64 KiB, but small messages sent meanwhile wait behind larger
	// fragments (with fragments of 256 KiB whatever the traffic, the p99
	// of round trips during a 64 MB send went from 7.4-10.6 ms to
	// 11.9-13.8 ms).
	bulkFragmentSize = 256 << 10

	// smallWindow is how long after a small message the fragments of
	// a large one are of fragmentSize: long enough to see small messages
	// that go out along with large ones (the round trips of
	// BenchmarkPingDuringBigSend), short enough that one small message
	// before a stream of large ones (as each round of
	// BenchmarkGoToErlMessages begins with) costs the stream little;
	// with 100 ms, 1 MB messages in one-second runs went at 0.97 × the
	// C-node's rate.
	smallWindow = 10 * time.Millisecond

	// maxKeptFrame is the largest frame buffer kept for the next message.
	maxKeptFrame = 64 << 10

	// maxQueuedReplies bounds the bytes of the replies the read goroutine
	// queued (UNLINK_ID_ACK and the like) while a write is blocked; a
	// peer that sends signals but does not read past it has its
	// connection closed, so that the read goroutine never waits on it.
	// Two nodes flooding each other with 1 MiB messages and links to
	// processes that do not exist queued up to 1.9 MB of replies while
	// reading all along (TestFloodBothWays): the bound leaves room for
	// that eight times over.
	maxQueuedReplies = 16 << 20
)

// splices are the binaries an encoding left out of its buffer: each goes
// after the first at bytes of the buffer.
type splices struct {
	list  []splice
	bytes int // their total length
}

type splice struct {
	at   int
	data []byte
}

// binary appends the BINARY_EXT header of data to b and records data as
// following it.
func (sp *splices) binary(b []byte, data []byte) ([]byte, error) {
	if uint64(len(data)) > math.MaxUint32 {
		return b, errors.New("ei: binary too long")
	}
	b = append(b, tagBinary)
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	sp.list = append(sp.list, splice{at: len(b), data: data})
	sp.bytes += len(data)
	return b, nil
}

// outFrame is a message on its way out: buf holds the frame (length,
// distribution header, control, payload) except for the spliced
// binaries. For fragments, data is the part of it after the header of
// dataOff bytes; frag holds the header of the fragment being written.
type outFrame struct {
	buf     []byte
	sp      splices
	dataOff int // where the control starts, after the header

	frag [fragHeaderLen]byte

	// In the writer's queue.
	seq    uint64        // its number in the queue's order (see connWriter)
	segs   [][]byte      // what to write: the frame or a fragment
	size   int           // bytes of segs
	owned  bool          // a goroutine waits for it; else nobody does (a reply)
	state  frameState    // guarded by connWriter.mu
	err    error         // the write's error, set before state is frameDone
	signal chan struct{} // to its owner waiting in the queue: written, or its turn to lead
}

type frameState uint8

const (
	frameQueued frameState = iota // waiting in the queue
	frameTaken                    // being written by the goroutine leading
	frameDone                     // written, or failed with err
	frameLead                     // its owner is to lead the writes
)

// fragHeaderLen is the length of a fragment's header with its frame
// length: 4, 131, 69 or 70, sequence id, fragment id, and for the first
// fragment NumberOfAtomCacheRefs = 0.
const fragHeaderLen = 4 + 2 + 8 + 8 + 1

// framePool holds frames with their buffers; not their signal channels,
// which are made when a sender has to wait, so that a frame belongs to
// no goroutine's world (a synctest bubble, say) but while in use.
var framePool = sync.Pool{New: func() any { return new(outFrame) }}

func getFrame() *outFrame { return framePool.Get().(*outFrame) }

// putFrame returns f to the pool, dropping what it refers to.
func putFrame(f *outFrame) {
	if cap(f.buf) > maxKeptFrame {
		f.buf = nil
	}
	clear(f.sp.list)
	f.sp.list = f.sp.list[:0]
	f.sp.bytes = 0
	clear(f.segs)
	f.segs = f.segs[:0]
	f.err, f.signal = nil, nil
	framePool.Put(f)
}

// encode encodes ctl and payload (if ctl carries one) into f: with the
// 131/68 distribution header when the peer accepted FlagDistHdrAtomCache
// (with no atom cache references), else as a pass-through message.
func (c *Conn) encode(f *outFrame, ctl Control, payload Term) error {
	b := append(f.buf[:0], 0, 0, 0, 0)
	f.sp.list, f.sp.bytes = f.sp.list[:0], 0
	hdr := c.peer.flags&FlagDistHdrAtomCache != 0
	if hdr {
		b = append(b, distVersionMagic, distHeader, 0) // no atom cache refs
	} else {
		b = append(b, distPassThrough, distVersionMagic)
	}
	f.dataOff = len(b)
	b, err := ctl.appendControl(b)
	if err == nil && ctl.hasPayload() {
		if !hdr {
			b = append(b, distVersionMagic)
		}
		if b, err = appendTerm(b, payload, 0, &f.sp); err != nil {
			err = wrapf(err, "ei: send: encode message")
		}
	} else if err != nil {
		err = wrapf(err, "ei: send: encode control")
	}
	f.buf = b
	if err != nil {
		return err
	}
	size := len(b) + f.sp.bytes - 4
	if size > math.MaxUint32 && !c.fragments() {
		return fmt.Errorf("ei: send: message of %d bytes is too long", size)
	}
	binary.BigEndian.PutUint32(b, uint32(size))
	return nil
}

// fragments reports whether messages go out in fragments when large.
func (c *Conn) fragments() bool {
	const need = FlagFragments | FlagDistHdrAtomCache
	return c.peer.flags&need == need
}

// frameLen returns the bytes of f's whole frame, without fragmenting.
func (f *outFrame) frameLen() int { return len(f.buf) + f.sp.bytes }

// appendRange appends to segs the bytes [from, to) of the frame, as
// slices of buf and of the spliced binaries.
func (f *outFrame) appendRange(segs [][]byte, from, to int) [][]byte {
	pos, bufOff := 0, 0 // pos: offset in the frame of buf[bufOff]
	add := func(p []byte) {
		// p covers [pos, pos+len(p)) of the frame.
		lo, hi := max(from-pos, 0), min(to-pos, len(p))
		if lo < hi {
			segs = append(segs, p[lo:hi])
		}
		pos += len(p)
	}
	for _, s := range f.sp.list {
		if pos >= to {
			return segs
		}
		add(f.buf[bufOff:s.at])
		add(s.data)
		bufOff = s.at
	}
	add(f.buf[bufOff:])
	return segs
}

// bytes returns f's whole frame in one slice.
func (f *outFrame) bytes() []byte {
	var out []byte
	for _, s := range f.appendRange(nil, 0, f.frameLen()) {
		out = append(out, s...)
	}
	return out
}

// SendControl sends any control message, followed by payload when the
// control carries one (payload is ignored otherwise). Messages go out with
// the 131/68 distribution header when the peer accepted FlagDistHdrAtomCache
// (with no atom cache references), else as pass-through messages. When
// the peer also accepted FlagFragments, a large message goes out in
// fragments, as erl sends it, and the messages sent meanwhile by other
// goroutines pass between them: fragments of 64 KiB, as erl's, when a
// message of less than that was sent within the last 10 ms, else of 256
// KiB, which erl takes faster; the last one takes the rest, up to twice
// that, and a message of less than two fragments goes whole.
// SendControl returns once the message is written; binaries in payload
// are written from their own memory, which must not change until then.
//
// Cancelling ctx interrupts a write blocked on a peer that does not read
// (over TCP, within 20 ms of the cancellation; a deadline of ctx is kept
// to the point), and the wait behind other goroutines' messages; if part
// of the message was written, the connection is closed, since the peer
// could not find the next frame or complete the message.
func (c *Conn) SendControl(ctx context.Context, ctl Control, payload Term) error {
	f, err := c.prepare(ctx, ctl, payload, "")
	if err != nil {
		return err
	}
	defer putFrame(f)
	return c.sendEncoded(ctx, f)
}

// prepare encodes ctl and payload into a frame of the pool, which the
// caller puts back, unless ctx ended already, and traces them with how
// after them (" (async)", say).
func (c *Conn) prepare(ctx context.Context, ctl Control, payload Term, how string) (*outFrame, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("ei: send: %w", err)
	}
	f := getFrame()
	if err := c.encode(f, ctl, payload); err != nil {
		putFrame(f)
		return nil, err
	}
	if c.trace != nil {
		c.traceSend(ctl, payload, how)
	}
	return f, nil
}

// traceSend traces a message sent, with how (" (async)", say) after it.
func (c *Conn) traceSend(ctl Control, payload Term, how string) {
	if ctl.hasPayload() {
		c.tracef("-> %T%+v %s%s\n", ctl, ctl, traceTerm(payload), how)
	} else {
		c.tracef("-> %T%+v%s\n", ctl, ctl, how)
	}
}

// sendEncoded writes f, encoded, as SendControl does.
func (c *Conn) sendEncoded(ctx context.Context, f *outFrame) error {
	if c.fragments() {
		if size := c.fragmentSize(); f.frameLen()-f.dataOff >= 2*size {
			return c.sendFragments(ctx, f, size)
		}
	}
	c.noteSmall(f)
	f.segs = f.appendRange(f.segs[:0], 0, f.frameLen())
	f.size = f.frameLen()
	return c.sendError(ctx, c.submit(ctx, f))
}

// fragmentSize returns the most bytes of a message the fragments of a
// message sent now carry: fragmentSize if a small message went out
// within smallWindow, else bulkFragmentSize.
func (c *Conn) fragmentSize() int {
	if time.Now().UnixNano()-c.smallSent.Load() < int64(smallWindow) {
		return fragmentSize
	}
	return bulkFragmentSize
}

// noteSmall notes when f goes out, if it is a message of less than
// fragmentSize.
func (c *Conn) noteSmall(f *outFrame) {
	if f.frameLen()-f.dataOff < fragmentSize {
		c.smallSent.Store(time.Now().UnixNano())
	}
}

// sendFragments writes f in fragments of size bytes of its data
// (f.buf after dataOff), the last taking the rest, less than twice that,
// rather than a fragment of its own: erl would cut a message of one
// fragment and a few bytes in two, which costs both sides more than the
// latency it saves others. Each fragment waits its turn in the writer's queue.
func (c *Conn) sendFragments(ctx context.Context, f *outFrame, size int) error {
	data := f.frameLen() - f.dataOff
	n := data / size
	seq := c.fragSeq.Add(1)
	for i := range n {
		id := uint64(n - i)
		h := f.frag[:0]
		if i == 0 {
			h = append(h, 0, 0, 0, 0, distVersionMagic, distFragHeader)
		} else {
			h = append(h, 0, 0, 0, 0, distVersionMagic, distFragCont)
		}
		h = binary.BigEndian.AppendUint64(h, seq)
		h = binary.BigEndian.AppendUint64(h, id)
		if i == 0 {
			h = append(h, 0) // no atom cache refs
		}
		from := f.dataOff + i*size
		to := from + size
		if i == n-1 {
			to = f.frameLen()
		}
		binary.BigEndian.PutUint32(h, uint32(len(h)-4+to-from))
		f.segs = append(f.segs[:0], h)
		f.segs = f.appendRange(f.segs, from, to)
		f.size = len(h) + to - from
		if err := c.submit(ctx, f); err != nil {
			if i > 0 {
				// The peer holds the first fragments and waits for the
				// rest, which will not come.
				c.shutdown()
			}
			return c.sendError(ctx, err)
		}
		if c.afterFragment != nil {
			c.afterFragment(i+1, n)
		}
	}
	return nil
}

// sendError wraps an error of submit for the caller: the context's error
// if it ended, ErrClosed after Close.
func (c *Conn) sendError(ctx context.Context, err error) error {
	if err == nil || errors.Is(err, ErrClosed) {
		return err
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("ei: send to %s: %w", c.peer.name, ctxErr)
	}
	select {
	case <-c.closing:
		return ErrClosed
	default:
	}
	return fmt.Errorf("ei: send to %s: %w", c.peer.name, err)
}

// sendReply queues a control message without waiting for it to be
// written, for the read goroutine's answers to the peer's signals
// (UNLINK_ID_ACK and the like), so that a peer that does not read cannot
// hold up reading. When the replies queued would exceed
// maxQueuedReplies, it fails and closes the connection, whose Err then
// says so.
func (c *Conn) sendReply(ctl Control) error {
	f := &outFrame{}
	if err := c.encode(f, ctl, nil); err != nil {
		return err
	}
	if c.trace != nil {
		c.tracef("-> %T%+v\n", ctl, ctl)
	}
	f.segs = [][]byte{f.buf}
	f.size = len(f.buf)
	return c.queueReply(f)
}

// connWriter serializes the frames of a Conn's senders. A sender that
// finds no write under way leads: it writes its frame and whatever other
// senders queued meanwhile, all in one vectored write, then hands the
// lead to the first sender still waiting, if any. A sender that finds a
// write under way queues its frame and waits until it is written or its
// turn to lead comes. So each sender waits for one write at most beyond
// its own, and concurrent senders share syscalls, as erl's distribution
// port writes its queue at once.
type connWriter struct {
	mu      sync.Mutex
	leading bool        // a goroutine writes the queue
	queue   []*outFrame // frames waiting, in order
	spare   []*outFrame // a second queue, swapped with queue by the leader
	replies int         // bytes of the unowned frames queued or being written
	failed  error       // the first write that failed, for SendAsync and Flush

	// Frames are numbered as they are queued, and written in that order.
	seq        uint64      // the number of the last frame queued
	unownedSeq uint64      // of the last unowned one
	doneSeq    uint64      // of the last one written (or failed)
	flushes    []flushWait // Flush calls waiting
	overflow   error       // why replies were refused, closing the connection

	// The leader's.
	vec       net.Buffers   // what a write writes: the memory kept
	wv        net.Buffers   // what is left to write, a view of vec
	scratch   []byte        // the small pieces of a batch, joined
	resumable bool          // writes resume after a deadline (TCP)
	brittle   bool          // writes fail for good after a deadline (TLS)
	pollUntil time.Time     // the write deadline set, if resumable
	interrupt func()        // Conn.interruptWrite
	fired     chan struct{} // interrupt ran
}

// writePoll is about how long a write to a TCP connection may block
// before the sender's context is watched (see writeOut): until then a
// write deadline stands in for it, which costs less than
// context.AfterFunc, and is set only every writePoll/2.
const writePoll = 20 * time.Millisecond

// submit writes f (f.segs) after the frames queued before it, and
// returns when it is written.
func (c *Conn) submit(ctx context.Context, f *outFrame) error {
	w := &c.w
	f.owned = true
	w.mu.Lock()
	select {
	case <-c.closing:
		w.mu.Unlock()
		return ErrClosed
	default:
	}
	f.state = frameQueued
	w.seq++
	f.seq = w.seq
	w.queue = append(w.queue, f)
	if w.leading {
		if f.signal == nil {
			f.signal = make(chan struct{}, 1)
		}
		w.mu.Unlock()
		return c.await(ctx, f)
	}
	w.leading = true
	w.mu.Unlock()
	return c.lead(ctx, f)
}

// queueReply queues f, which nobody waits for, and has the tick
// goroutine lead the writes if nobody does.
func (c *Conn) queueReply(f *outFrame) error {
	w := &c.w
	w.mu.Lock()
	if w.replies+f.size > maxQueuedReplies {
		err := fmt.Errorf("ei: connection to %s: the peer reads nothing: more than %d bytes of replies to its signals pending", c.peer.name, maxQueuedReplies)
		if w.overflow == nil {
			w.overflow = err
		}
		w.mu.Unlock()
		c.nc.Close() // reading stops, with w.overflow as the reason
		return err
	}
	c.enqueueUnowned(f)
	return nil
}

// enqueueUnowned queues f, which nobody waits for (a reply or a message
// of SendAsync), with w.mu held, which it unlocks, and has the tick
// goroutine lead the writes if nobody does.
func (c *Conn) enqueueUnowned(f *outFrame) {
	w := &c.w
	w.replies += f.size
	w.seq++
	f.seq, w.unownedSeq = w.seq, w.seq
	f.state = frameQueued
	w.queue = append(w.queue, f)
	idle := !w.leading
	w.mu.Unlock()
	if idle {
		c.kickWriter()
	}
}

// kickWriter has the tick goroutine lead the writes, if nobody does.
func (c *Conn) kickWriter() {
	select {
	case c.kick <- struct{}{}:
	default: // a kick is pending already
	}
}

// await waits until f is written, or until it is f's turn to lead.
func (c *Conn) await(ctx context.Context, f *outFrame) error {
	w := &c.w
	select {
	case <-f.signal:
	case <-ctx.Done():
		w.mu.Lock()
		if f.state == frameQueued {
			// Not written yet: take it back.
			if i := slices.Index(w.queue, f); i >= 0 {
				w.queue = slices.Delete(w.queue, i, i+1)
			}
			w.mu.Unlock()
			return ctx.Err()
		}
		w.mu.Unlock()
		// Being written, or its turn to lead has come.
		<-f.signal
	}
	w.mu.Lock()
	state := f.state
	w.mu.Unlock()
	if state == frameLead {
		return c.lead(ctx, f)
	}
	return f.err
}

// lead writes the queue, which holds own, as the one goroutine writing,
// then hands the lead on. A sender writes under its own context, which
// ends its lead: once own is written or taken back, it writes nothing
// more, so that a peer that does not read cannot hold it past its
// context. The tick goroutine (own nil) writes the replies at the head of
// the queue, which nobody waits for, under no context.
func (c *Conn) lead(ctx context.Context, own *outFrame) error {
	w := &c.w
	for {
		w.mu.Lock()
		if own != nil && own.state != frameDone {
			if err := ctx.Err(); err != nil {
				// Canceled before its turn: take it back, and leave
				// the rest to the next.
				if i := slices.Index(w.queue, own); i >= 0 {
					w.queue = slices.Delete(w.queue, i, i+1)
				}
				own.err, own.state = err, frameDone
				c.handOn(own)
				return err
			}
		}
		batch := w.queue
		w.queue = w.spare[:0]
		wctx := ctx
		if own == nil {
			// Replies alone: a sender waiting leads its frame and
			// those behind it.
			if i := slices.IndexFunc(batch, func(f *outFrame) bool { return f.owned }); i >= 0 {
				w.queue = append(w.queue, batch[i:]...)
				clear(batch[i:])
				batch = batch[:i]
			}
		}
		for _, f := range batch {
			f.state = frameTaken
		}
		w.mu.Unlock()

		var n int64
		var err error
		if len(batch) > 0 {
			n, err = c.writeBatch(wctx, batch)
		}

		w.mu.Lock()
		if err != nil && w.failed == nil && (n > 0 || wctx.Err() == nil) {
			w.failed = err // not only own's context ending
		}
		if err != nil && n == 0 && wctx.Err() != nil {
			// Only own's context ended, and nothing was written:
			// the others go back to the head of the queue.
			own.err, own.state = err, frameDone
			rest := slices.DeleteFunc(batch, func(f *outFrame) bool { return f == own })
			for _, f := range rest {
				f.state = frameQueued
			}
			w.queue = slices.Insert(w.queue, 0, rest...)
			clear(rest)
			batch = batch[:0]
		}
		for i, f := range batch {
			f.err = err
			f.state = frameDone
			if f.owned && f != own {
				f.signal <- struct{}{}
			}
			if !f.owned {
				w.replies -= f.size
			}
			w.doneSeq = max(w.doneSeq, f.seq)
			batch[i] = nil
		}
		w.spare = batch[:0]
		c.wakeFlushes()
		if own == nil && len(w.queue) > 0 && !w.queue[0].owned {
			w.mu.Unlock()
			continue // replies queued meanwhile
		}
		c.handOn(own)
		if own == nil {
			return nil
		}
		return own.err
	}
}

// handOn ends the lead of own's sender (nil: the tick goroutine's), with
// w.mu held, which it unlocks: it hands the lead to the first sender
// waiting, who writes the queue with its own context, or, if only
// replies wait, to the tick goroutine.
func (c *Conn) handOn(own *outFrame) {
	w := &c.w
	if i := slices.IndexFunc(w.queue, func(f *outFrame) bool { return f.owned }); i >= 0 {
		w.queue[i].state = frameLead
		w.queue[i].signal <- struct{}{}
		w.mu.Unlock()
		return
	}
	w.leading = false
	replies := len(w.queue) > 0
	w.mu.Unlock()
	if replies && own != nil {
		c.kickWriter()
	}
}

// writeBatch writes the frames of batch at once: small pieces joined in
// one buffer, large binaries from their own memory, in one vectored
// write. ctx interrupts a write blocked on a peer that does not read; a
// write cut short closes the connection, since the peer could not find
// the next frame.
func (c *Conn) writeBatch(ctx context.Context, batch []*outFrame) (int64, error) {
	w := &c.w
	total := 0
	for _, f := range batch {
		total += f.size
	}
	v := w.vec[:0]
	if len(batch) == 1 && len(batch[0].segs) == 1 {
		v = append(v, batch[0].segs[0])
	} else {
		// Joined, small pieces make one write, or one record over TLS.
		b, start := w.scratch[:0], 0
		joined := func() {
			if len(b) > start {
				v = append(v, b[start:len(b):len(b)])
				start = len(b)
			}
		}
		for _, f := range batch {
			for _, s := range f.segs {
				if len(s) < spliceMin {
					b = append(b, s...)
				} else {
					joined()
					v = append(v, s)
				}
			}
		}
		joined()
		if cap(b) <= maxKeptFrame {
			w.scratch = b[:0]
		}
	}
	w.wv = v
	n, err := c.writeOut(ctx)
	clear(v)
	w.vec, w.wv = v[:0], nil
	if n > 0 {
		c.wrote.Store(true)
	}
	if err != nil && n > 0 && n < int64(total) {
		c.shutdown() // the peer cannot find the next frame now
	}
	return n, err
}

// writeOut writes w.wv, which ctx may interrupt when the write blocks.
// Over TCP, writes run under a deadline at most writePoll ahead (or
// ctx's, if sooner), moved on once it comes near, and a write that
// reaches it watches ctx from then on: so a write that does not block
// costs no more than the write, and cancelling ctx interrupts a blocked
// write within writePoll. Other connections (TLS, pipes), which cannot
// resume a write after a deadline, watch ctx from the start.
func (c *Conn) writeOut(ctx context.Context) (int64, error) {
	w := &c.w
	var n int64
	if w.resumable {
		now := time.Now()
		if dl, ok := ctx.Deadline(); ok && dl.Before(w.pollUntil) {
			w.pollUntil = dl // ctx's deadline, sooner: to the point
			c.nc.SetWriteDeadline(dl)
		} else if w.pollUntil.Sub(now) < writePoll/2 {
			w.pollUntil = now.Add(writePoll)
			c.nc.SetWriteDeadline(w.pollUntil)
		}
		var err error
		n, err = c.writeVec()
		if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) || ctx.Err() != nil {
			return n, err
		}
		// Blocked that long: watch ctx, if it can end, for the rest.
		w.pollUntil = time.Time{}
		c.nc.SetWriteDeadline(time.Time{})
	}
	if ctx.Done() == nil {
		m, err := c.writeVec()
		return n + m, err
	}
	stop := context.AfterFunc(ctx, w.interrupt)
	m, err := c.writeVec()
	if !stop() {
		<-w.fired
		w.pollUntil = time.Time{}
		c.nc.SetWriteDeadline(time.Time{})
		if err != nil && w.brittle {
			// A TLS connection fails every write after an
			// interrupted one, which may have sent part of a record.
			// Its Close would wait up to 5 s to send close_notify to
			// the peer that does not read: close the connection
			// under it first.
			c.nc.(*tls.Conn).NetConn().Close()
			c.shutdown()
		}
	}
	return n + m, err
}

// writeVec writes w.wv, consuming what it writes.
func (c *Conn) writeVec() (int64, error) {
	v := &c.w.wv
	if len(*v) == 1 {
		// A plain write, which the race detector also counts as
		// synchronizing with the peer's reply.
		k, err := c.nc.Write((*v)[0])
		if (*v)[0] = (*v)[0][k:]; len((*v)[0]) == 0 {
			*v = (*v)[:0]
		}
		return int64(k), err
	}
	return v.WriteTo(c.nc)
}

// interruptWrite interrupts the write under way, for a context that
// ended; it runs in a goroutine of its own.
func (c *Conn) interruptWrite() {
	c.nc.SetWriteDeadline(aLongTimeAgo)
	c.w.fired <- struct{}{}
}
