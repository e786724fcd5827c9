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
	"os"
	"sync"
	"time"
)

// Reading. Frames up to the read buffer's size are decoded in the buffer,
// the decoder copying what it keeps. Larger frames are read into memory
// of their own, which the message then owns: a large binary in it refers
// to that memory instead of being copied (see Reader.binaryBytes), and
// the fragments of a message are read into the buffer that reassembles
// it, sized from the first fragment (see fragment.go), which comes from a
// pool for Receive (see bufpool.go).

// shareMin is the size from which a binary decoded from a frame the
// message owns refers to the frame instead of being copied.
const shareMin = 64 << 10

// maxKeptReadBuf is the largest buffer of a large frame kept for the next
// one, when no binary of the message refers to it.
const maxKeptReadBuf = 1 << 20

// connReader is the reader under the bufio.Reader. After the handshake it
// keeps a read deadline of one and a quarter net tick times after bytes
// last came, moving it at most every quarter of the net tick time, so
// that a peer is given up on after between one and one and a quarter net
// tick times of silence. A Receive reading for itself interrupts a read
// with a deadline in the past when its context ends (see interrupt); a
// read so interrupted is no sign of life, and moves nothing.
type connReader struct {
	nc      net.Conn
	timeout time.Duration // zero during the handshake
	heard   time.Time     // when a read last returned bytes (or the Conn began)
	set     time.Time     // the heard the deadline was last set from
	filled  bool          // a read filled all the room it was given
	limit   int           // if not zero, the most bytes reads return until they are unlimited again (see Conn.readBody)

	mu          sync.Mutex // orders moving the deadline and interrupting
	deadline    time.Time  // the deadline set, zero for none
	interrupted bool       // a deadline in the past stands in for it
}

func (r *connReader) Read(p []byte) (int, error) {
	if r.timeout > 0 && r.heard.Sub(r.set) >= r.timeout/4 {
		r.mu.Lock()
		r.set = r.heard
		r.deadline = r.heard.Add(r.timeout + r.timeout/4)
		if !r.interrupted {
			r.nc.SetReadDeadline(r.deadline)
		}
		r.mu.Unlock()
	}
	if r.limit > 0 && len(p) > r.limit {
		p = p[:r.limit]
	}
	n, err := r.nc.Read(p)
	if r.limit > 0 {
		r.limit -= n
	}
	if n > 0 && r.timeout > 0 {
		r.heard = time.Now()
	}
	if n == len(p) {
		r.filled = true
	}
	return n, err
}

// interrupt makes the read under way and the next ones fail at once,
// until resume.
func (r *connReader) interrupt() {
	r.mu.Lock()
	r.interrupted = true
	r.nc.SetReadDeadline(aLongTimeAgo)
	r.mu.Unlock()
}

// resume undoes interrupt: the deadline is what it was.
func (r *connReader) resume() {
	r.mu.Lock()
	r.interrupted = false
	r.nc.SetReadDeadline(r.deadline)
	r.mu.Unlock()
}

// growReader replaces the read buffer, which starts at
// smallReadBuffer, by one of readBufferSize once a read filled it or a
// frame of size bytes was larger, and by one of largeReadBuffer once a
// frame was larger than readBufferSize: a connection that carries more
// than a trickle then reads more at once (fewer reads cost less than the
// copies out of the buffer they save), and one that carries little holds
// little.
func (c *Conn) growReader(size int) {
	want := readBufferSize
	if size > readBufferSize {
		want = largeReadBuffer
	}
	if c.br.Size() >= want || !c.cr.filled && size <= c.br.Size() {
		return
	}
	rest, _ := c.br.Peek(c.br.Buffered())
	c.under = &prefixReader{rest: bytes.Clone(rest), r: c.cr}
	c.br = bufio.NewReaderSize(c.under, want)
}

// headRead is the most bytes the reads after the body of a large frame
// put in the read buffer: enough for the next frame's header, so that
// the body of a fragment that follows is read once, straight into the
// message's memory, rather than into the buffer and then copied.
const headRead = 512

// readBody reads len(b) bytes of a large frame into b: those the read
// buffer holds, then straight from the connection, so that they are
// copied once. When b is memory the message keeps, the caller then has
// the reads that follow the frame's last bytes put no more than headRead
// bytes in the buffer (see connReader.limit); the next body lifts that.
func (c *Conn) readBody(b []byte) error {
	c.cr.limit = 0
	n := 0
	if k := c.br.Buffered(); k > 0 {
		n, _ = c.br.Read(b[:min(len(b), k)])
	}
	_, err := io.ReadFull(c.under, b[n:])
	return err
}

// prefixReader reads rest, then r.
type prefixReader struct {
	rest []byte
	r    io.Reader
}

func (p *prefixReader) Read(b []byte) (int, error) {
	if len(p.rest) > 0 {
		n := copy(b, p.rest)
		p.rest = p.rest[n:]
		return n, nil
	}
	return p.r.Read(b)
}

// readLoop reads frames until the connection fails or is closed, when
// it holds the right to read (see receive_direct.go).
func (c *Conn) readLoop() {
	defer c.wg.Done()
	c.fail(c.readFrames())
}

// fail ends reading for good with err, once: it is called by whoever
// held the right to read when reading failed, and by the read goroutine
// as it ends.
func (c *Conn) fail(err error) {
	c.failOnce.Do(func() {
		select {
		case <-c.closing:
			err = ErrClosed
		default:
			c.log.Debug("ei: connection lost", "err", err)
		}
		c.readErr = err
		close(c.readDone)
		c.nc.Close()
		if c.handler != nil {
			c.handler.down(c)
		}
	})
}

func (c *Conn) readError(err error) error {
	select {
	case <-c.closing:
		return ErrClosed
	default:
	}
	c.w.mu.Lock()
	overflow := c.w.overflow
	c.w.mu.Unlock()
	if overflow != nil {
		return overflow
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return wrapf(ErrTimeout, "ei: connection to %s", c.peer.name)
	}
	return fmt.Errorf("ei: connection to %s: %w", c.peer.name, err)
}

func (c *Conn) readFrames() error {
	var t *time.Timer
	holding := false
	for {
		if !holding {
			if err := c.takeRole(&t); err != nil {
				return err
			}
		}
		r, _, err := c.readMessage(context.Background(), false)
		if err != nil {
			return err // keeping the right to read: nobody reads after this
		}
		select {
		case c.msgs <- r:
		case <-c.closing:
			return ErrClosed
		}
		// Read on while nobody else may read, and while large messages
		// come or more bytes wait (see receive_direct.go).
		if holding = !c.direct || c.bulk || c.br.Buffered() > 0; !holding {
			c.role <- struct{}{}
		}
	}
}

// readMessage reads frames until one carries a message for Receive; it
// hands those for a connHandler to it, and never returns for them. It
// reads each frame that fits the read buffer with Peek, consuming it
// only once whole, so that a read that ctx interrupts (see readDirect)
// loses nothing; the others go into memory of their own (readLargeFrame),
// or, for a Receive reading for itself (direct), to the read goroutine,
// as do frames of shareMin bytes or more.
func (c *Conn) readMessage(ctx context.Context, direct bool) (received, directState, error) {
	for {
		b, err := c.br.Peek(4)
		if err != nil {
			return c.frameError(ctx, err)
		}
		size := int(binary.BigEndian.Uint32(b))
		if size == 0 {
			c.br.Discard(4)
			c.traceTick()
			continue
		}
		if err := c.checkSize(size); err != nil {
			return received{}, directFailed, err
		}
		var m Message
		var ok bool
		switch {
		case size < shareMin && 4+size <= c.br.Size():
			// Decode straight from the read buffer; the decoder copies
			// what it keeps.
			if b, err = c.br.Peek(4 + size); err != nil {
				return c.frameError(ctx, err)
			}
			m, ok, err = c.parseFrame(b[4:])
			c.br.Discard(4 + size)
		case direct:
			return received{}, directHandOff, nil
		default:
			c.br.Discard(4)
			m, ok, err = c.readLargeFrame(size)
		}
		if err != nil {
			return received{}, directFailed, err
		}
		if r, deliver, err := c.finishFrame(m, ok, size); err != nil {
			return received{}, directFailed, err
		} else if deliver {
			return r, directGot, nil
		}
	}
}

// frameError sorts an error of a read of readMessage: the end of ctx
// interrupting it, or the connection's failure.
func (c *Conn) frameError(ctx context.Context, err error) (received, directState, error) {
	if errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() != nil {
		return received{}, directCanceled, ctx.Err()
	}
	if c.br.Buffered() > 0 {
		err = noEOF(err) // within a frame
	}
	return received{}, directFailed, c.readError(err)
}

func (c *Conn) traceTick() {
	if c.trace != nil {
		c.tracef("<- tick\n")
	}
}

// finishFrame ends the reading of a frame of size bytes that decoded to
// m (ok false for a fragment that does not complete its message): it
// traces m and routes it, and reports whether it is for Receive, in r.
func (c *Conn) finishFrame(m Message, ok bool, size int) (r received, deliver bool, err error) {
	c.growReader(size)
	if size >= shareMin {
		c.bigFrame = true
	}
	var shared *[]byte // what m's binaries share, if anything
	if b := c.shared; b != nil {
		shared = &b
		c.shared = nil
	}
	if !ok {
		return r, false, nil // a fragment of a message not yet complete
	}
	c.bulk, c.bigFrame = c.bigFrame, false
	if c.trace != nil {
		if m.Control.hasPayload() {
			c.tracef("<- %s(%d refs) %T%+v %s\n", c.kind, c.kindRefs, m.Control, m.Control, traceTerm(m.Payload))
		} else {
			c.tracef("<- %s(%d refs) %T%+v\n", c.kind, c.kindRefs, m.Control, m.Control)
		}
	}
	if done, err := c.route(m); err != nil || done {
		return r, false, err
	}
	if c.handler != nil {
		c.handler.deliver(c, m)
		return r, false, nil
	}
	return received{Message: m, buf: shared}, true, nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// checkSize refuses a message of size bytes if it exceeds the limit.
func (c *Conn) checkSize(size int) error {
	if max := c.node.maxMessageSize(); size > max {
		return &ProtocolError{Offset: 0, Msg: fmt.Sprintf("ei: message of %d bytes, more than Node.MaxMessageSize (%d)", size, max)}
	}
	return nil
}

// readLargeFrame reads and decodes a frame of size bytes, shareMin or
// more. Fragments go into the buffer reassembling their message, through
// the read buffer when they fit it. Other frames are decoded in the read
// buffer if they fit, and no ReceiveReuse is to share their binaries,
// else read into a buffer of their own.
func (c *Conn) readLargeFrame(size int) (Message, bool, error) {
	head, err := c.br.Peek(fragHeaderLen - 5)
	if err != nil {
		return Message{}, false, c.readError(noEOF(err))
	}
	if head[0] == distVersionMagic && head[1] == distFragCont {
		return c.readFragment(size, head)
	}
	if head[0] == distVersionMagic && head[1] == distFragHeader {
		if m, ok, done, err := c.readFirstFragment(size, head); done {
			return m, ok, err
		}
	}
	if size <= c.br.Size() && !c.reusing.Load() {
		b, err := c.br.Peek(size)
		if err != nil {
			return Message{}, false, c.readError(noEOF(err))
		}
		m, ok, err := c.parseFrame(b)
		c.br.Discard(size)
		return m, ok, err
	}
	b, err := c.readOwned(size)
	if err != nil {
		return Message{}, false, c.readError(noEOF(err))
	}
	m, ok, shared, err := c.parse(b, true)
	switch {
	case shared && err == nil:
		c.share(b)
	case !shared && cap(b) <= maxKeptReadBuf:
		c.rbuf = b[:0]
	}
	return m, ok, err
}

// readOwned reads a frame of size bytes into a buffer of its own (or
// the one kept from an earlier frame), growing it as the bytes arrive
// rather than trusting the length up front (see grow).
func (c *Conn) readOwned(size int) ([]byte, error) {
	b := c.rbuf[:0]
	c.rbuf = nil
	if cap(b) < size {
		if f := c.free.get(size); f != nil {
			b = f[:0]
		}
	}
	if cap(b) < size {
		// Up to growTrial bytes on the peer's word, then as they come.
		b = make([]byte, 0, min(size, max(growTrial, cap(b))))
	}
	for len(b) < size {
		if len(b) == cap(b) {
			b = grow(b, size)
		}
		n := len(b)
		b = b[:min(cap(b), size)]
		if err := c.readBody(b[n:]); err != nil {
			return nil, err
		}
	}
	c.cr.limit = headRead
	return b, nil
}

// route handles messages the Conn answers itself: rpc replies go to the
// waiting RPC call (and not to Receive), and UNLINK_ID is acknowledged,
// without waiting for the acknowledgement to be written (see sendReply).
func (c *Conn) route(m Message) (bool, error) {
	if ctl, ok := m.Control.(UnlinkID); ok {
		if err := c.sendReply(UnlinkIDAck{ID: ctl.ID, From: ctl.To, To: ctl.From}); err != nil {
			return false, err
		}
		return false, nil
	}
	if to, ok := m.To().(Pid); ok {
		return c.rpcReply(to, m.Payload), nil
	}
	return false, nil
}

// parseFrame decodes a non-empty frame that the Conn does not keep (in
// its read buffer). ok is false for a fragment that does not complete its
// message.
func (c *Conn) parseFrame(b []byte) (m Message, ok bool, err error) {
	m, ok, _, err = c.parse(b, false)
	return m, ok, err
}

// parse decodes a non-empty frame. When owned, b belongs to the message:
// its large binaries may refer to b (shared tells whether one does), and
// a first fragment's data may stay in it.
func (c *Conn) parse(b []byte, owned bool) (m Message, ok, shared bool, err error) {
	switch {
	case b[0] == distPassThrough:
		c.kind, c.kindRefs = "pass-through", 0
		m, shared, err = decodeShared(b, 1, nil, true, owned)
		return m, err == nil, shared, err
	case len(b) >= 2 && b[0] == distVersionMagic && b[1] == distHeader:
		off, err := c.readAtomCacheRefs(b, 2)
		if err != nil {
			return m, false, false, err
		}
		c.kind, c.kindRefs = "header", len(c.refs)
		m, shared, err = decodeShared(b, off, c.refs, false, owned)
		return m, err == nil, shared, err
	case len(b) >= 18 && b[0] == distVersionMagic && b[1] == distFragHeader:
		seq := binary.BigEndian.Uint64(b[2:])
		id := binary.BigEndian.Uint64(b[10:])
		off, err := c.readAtomCacheRefs(b, 18)
		if err != nil {
			return m, false, false, err
		}
		if id == 0 {
			return m, false, false, &ProtocolError{Offset: 10, Msg: fmt.Sprintf("ei: fragment id 0 in sequence %d", seq)}
		}
		if id == 1 {
			c.kind, c.kindRefs = "fragment", len(c.refs)
			m, shared, err = decodeShared(b, off, c.refs, false, owned)
			return m, err == nil, shared, err
		}
		f, err := c.newFragments(seq, id, len(b)-off)
		if err != nil {
			return m, false, false, err
		}
		f.data = append(f.data, b[off:]...)
		return m, false, false, nil
	case len(b) >= 18 && b[0] == distVersionMagic && b[1] == distFragCont:
		seq := binary.BigEndian.Uint64(b[2:])
		id := binary.BigEndian.Uint64(b[10:])
		f, err := c.nextFragment(seq, id, len(b)-18)
		if err != nil {
			return m, false, false, err
		}
		f.data = append(f.data, b[18:]...)
		m, ok, err = c.fragmentDone(seq, f)
		return m, ok, false, err
	}
	return m, false, false, &ProtocolError{Offset: 0, Msg: fmt.Sprintf("ei: unknown distribution message tag %d", b[0])}
}

// atomCache is the atom cache of a connection's incoming side.
type atomCache struct {
	atoms [atomCacheSize]Atom
	set   [atomCacheSize]bool
}

// readAtomCacheRefs reads the atom cache part of a distribution header
// at b[off:], updates the connection's atom cache, and sets c.refs to the
// atoms the message refers to (ATOM_CACHE_REF i means c.refs[i]). It
// returns the offset after the header.
//
//	NumberOfAtomCacheRefs:1 Flags:N/2+1 AtomCacheRefs...
//
// Flags hold a nibble per reference (NewCacheEntryFlag:1 SegmentIndex:3),
// even references in low nibbles, then a nibble whose low bit is LongAtoms.
// A reference is InternalSegmentIndex:1, followed for new entries by
// Length:1 (2 with LongAtoms) and the atom text.
func (c *Conn) readAtomCacheRefs(b []byte, off int) (int, error) {
	c.refs = c.refs[:0]
	if off >= len(b) {
		return 0, &ProtocolError{Offset: off, Msg: "ei: distribution header truncated"}
	}
	n := int(b[off])
	off++
	if n == 0 {
		return off, nil
	}
	if c.atoms == nil {
		c.atoms = new(atomCache)
	}
	flagLen := n/2 + 1
	if off+flagLen > len(b) {
		return 0, &ProtocolError{Offset: off, Msg: "ei: distribution header flags truncated"}
	}
	flags := b[off : off+flagLen]
	off += flagLen
	nibble := func(i int) byte { return flags[i/2] >> (4 * (i % 2)) & 0xf }
	long := nibble(n)&1 != 0
	for i := range n {
		f := nibble(i)
		if off >= len(b) {
			return 0, &ProtocolError{Offset: off, Msg: "ei: atom cache reference truncated"}
		}
		idx := int(f&7)<<8 | int(b[off])
		off++
		if f&8 != 0 {
			var l int
			if long {
				if off+2 > len(b) {
					return 0, &ProtocolError{Offset: off, Msg: "ei: atom cache entry truncated"}
				}
				l = int(binary.BigEndian.Uint16(b[off:]))
				off += 2
			} else {
				if off+1 > len(b) {
					return 0, &ProtocolError{Offset: off, Msg: "ei: atom cache entry truncated"}
				}
				l = int(b[off])
				off++
			}
			if off+l > len(b) {
				return 0, &ProtocolError{Offset: off, Msg: "ei: atom cache entry truncated"}
			}
			text := b[off : off+l]
			if msg := checkAtomText(text); msg != "" {
				return 0, &ProtocolError{Offset: off, Msg: "ei: atom cache entry: " + msg}
			}
			c.atoms.atoms[idx] = intern(text).atom
			c.atoms.set[idx] = true
			off += l
		} else if !c.atoms.set[idx] {
			return 0, &ProtocolError{Offset: off - 1, Msg: fmt.Sprintf("ei: atom cache entry %d used before being set", idx)}
		}
		c.refs = append(c.refs, c.atoms.atoms[idx])
	}
	return off, nil
}

// decodeMessage decodes the control message and payload at b[off:]. With
// magic, each starts with the version byte 131 (pass-through messages).
func decodeMessage(b []byte, off int, refs []Atom, magic bool) (Message, error) {
	m, _, err := decodeShared(b, off, refs, magic, false)
	return m, err
}

// decodeShared is decodeMessage letting large binaries refer to b when
// share is set; shared tells whether one does.
func decodeShared(b []byte, off int, refs []Atom, magic, share bool) (m Message, shared bool, err error) {
	r := NewReader(b[off:])
	r.AtomCache = refs
	r.share = share
	if magic {
		if err := r.ReadVersion(); err != nil {
			return m, false, shiftError(err, off)
		}
	}
	ctl, err := readControl(r)
	if err != nil {
		return m, r.shared, shiftError(err, off)
	}
	more := r.Len() > 0
	if u, ok := ctl.(UnknownControl); ok {
		u.Payload = more
		ctl = u
	}
	m.Control = ctl
	if !ctl.hasPayload() {
		if more {
			return m, r.shared, &ProtocolError{Offset: off + r.Offset(), Msg: fmt.Sprintf("ei: %d unexpected bytes after control message", r.Len())}
		}
		return m, r.shared, nil
	}
	if !more {
		return m, r.shared, &ProtocolError{Offset: off + r.Offset(), Msg: "ei: control message without its payload"}
	}
	if magic {
		if err := r.ReadVersion(); err != nil {
			return m, r.shared, shiftError(err, off)
		}
	}
	if m.Payload, err = r.ReadTerm(); err != nil {
		return m, r.shared, shiftError(err, off)
	}
	if r.Len() > 0 {
		return m, r.shared, &ProtocolError{Offset: off + r.Offset(), Msg: fmt.Sprintf("ei: %d unexpected bytes after message", r.Len())}
	}
	return m, r.shared, nil
}

// binaryBytes returns the n bytes of a binary: when the Reader may share
// its data and the binary is large and at least half of the data, those
// bytes themselves, so that what the binary keeps alive is at most twice
// its size; otherwise a copy.
func (r *Reader) binaryBytes(n int) []byte {
	if r.share && n >= shareMin && 2*n >= len(r.data) {
		r.shared = true
		b := r.bytes(n)
		return b[:n:n]
	}
	return r.copyBytes(n)
}

// shiftError makes a *ProtocolError's offset relative to the frame.
func shiftError(err error, off int) error {
	var pe *ProtocolError
	if errors.As(err, &pe) {
		return &ProtocolError{Offset: pe.Offset + off, Msg: pe.Msg}
	}
	return err
}
