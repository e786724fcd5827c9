package ei

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Distribution message tags after the handshake.
const (
	distPassThrough   = 112 // PASS_THROUGH: 'p', then control and message each with 131
	distVersionMagic  = 131 // VERSION_MAGIC
	distHeader        = 68  // DIST_HEADER: 131, 68, atom cache refs, control, message
	distFragHeader    = 69  // DIST_FRAG_HEADER: first fragment
	distFragCont      = 70  // DIST_FRAG_CONT: further fragments
	atomCacheSize     = 2048
	readBufferSize    = 64 << 10
	maxKeptWriteBuf   = 1 << 20 // larger write buffers are not kept between sends
	receiveQueueDepth = 256
)

// Message is one control message received on a Conn, with its payload.
//
// A message sent to a pid arrives as Send, or as SendSender when both
// nodes offer FlagSendSender, as OTP 25 and later do with DefaultFlags;
// with a trace token, as SendTT or SendSenderTT. Use To to find the
// recipient whatever the control.
type Message struct {
	// Control is the control message: one of Send, RegSend, SendSender,
	// Link, Exit, UnlinkID, MonitorP, ... or UnknownControl.
	Control Control

	// Payload is the message for Send, RegSend and the other
	// message-carrying controls, and the exit reason for the PAYLOAD_*
	// controls. It is nil when the control carries none.
	Payload Term
}

// To returns the recipient of the message m carries: a Pid for Send,
// SendSender, SendTT and SendSenderTT, an Atom (a registered name) for
// RegSend and RegSendTT, and a Ref (a process alias) for AliasSend and
// AliasSendTT. It returns nil for the other controls, which carry no
// message. So m.To() == pid tells whether m is a message to pid, and
// m.To() == Atom(name) whether it is one to a registered name. (Refs hold
// a slice: compare them with reflect.DeepEqual, not ==.)
func (m Message) To() Term {
	switch c := m.Control.(type) {
	case Send:
		return c.To
	case SendSender:
		return c.To
	case SendTT:
		return c.To
	case SendSenderTT:
		return c.To
	case RegSend:
		return c.To
	case RegSendTT:
		return c.To
	case AliasSend:
		return c.Alias
	case AliasSendTT:
		return c.Alias
	}
	return nil
}

// Conn is an established distribution connection to another node.
//
// A Conn runs two goroutines until it goes down or is closed: one reads
// frames from the peer (decoding messages, answering UNLINK_ID, routing
// rpc replies) and one sends ticks when nothing else has been written for
// a quarter of the net tick time. A peer silent for the whole net tick
// time has its connection closed with an error wrapping ErrTimeout. Close
// a Conn when done with it, even after it went down; Close waits for both
// goroutines.
//
// Send, RegSend, Link, Unlink, Exit, Exit2, SendControl and RPC are safe
// for concurrent use. Receive may also be called concurrently, but each
// message goes to only one caller; usually one goroutine receives.
// Messages are queued while nobody receives; when the queue is full, the
// Conn stops reading from the peer, so rpc replies wait too.
type Conn struct {
	node *Node
	nc   net.Conn
	peer peerInfo
	log  *slog.Logger

	traceMu sync.Mutex
	trace   io.Writer

	// Writing: wmu guards wbuf and the writes to nc.
	wmu   sync.Mutex
	wbuf  []byte
	wrote atomic.Bool // written since the last tick check

	// Reading: these belong to the read goroutine.
	cr       *connReader
	br       *bufio.Reader
	rbuf     []byte
	cache    [atomCacheSize]Atom
	cacheSet [atomCacheSize]bool
	refs     []Atom
	frags    map[uint64]*fragments
	fragSize int    // bytes held in frags
	kind     string // how the last frame was encoded, for the trace
	kindRefs int    // and how many atom cache references it had

	msgs     chan Message
	handler  connHandler   // takes messages instead of msgs, for connections in a Node's table
	readDone chan struct{} // closed when the read goroutine ends
	readErr  error         // why it ended; set before readDone closes

	rpcMu        sync.Mutex
	rpcWait      map[Pid]chan Term // nil channels for abandoned calls
	rpcAbandoned int
	rpcN         atomic.Int32 // len(rpcWait)

	closing   chan struct{}
	closeOnce sync.Once
	closeErr  error
	wg        sync.WaitGroup
}

// Limits on the fragmented messages a peer may have in flight on a Conn,
// so that a peer cannot make it buffer without bound. A peer that goes
// past them gets its connection closed with a *ProtocolError.
const (
	// MaxFragmentedSize is the most bytes of incomplete fragmented
	// messages a Conn holds at once, the same bound as
	// MaxUncompressedSize puts on a compressed term.
	MaxFragmentedSize = MaxUncompressedSize

	// MaxFragmentSequences is the most fragmented messages a Conn
	// reassembles at once. OTP interleaves the fragments of messages
	// from different sending processes, one sequence each.
	MaxFragmentSequences = 4096
)

// fragments collects a fragmented message (DIST_FRAG_HEADER, DIST_FRAG_CONT).
type fragments struct {
	next uint64 // id of the fragment expected next; fragment ids count down to 1
	refs []Atom // the atom cache references of the header
	data []byte // control and message bytes so far
}

// connReader is the reader under the bufio.Reader. After the handshake it
// sets a read deadline of the net tick time before every read.
type connReader struct {
	nc      net.Conn
	timeout time.Duration // zero during the handshake
}

func (r *connReader) Read(p []byte) (int, error) {
	if r.timeout > 0 {
		r.nc.SetReadDeadline(time.Now().Add(r.timeout))
	}
	return r.nc.Read(p)
}

func newConn(n *Node, nc net.Conn, cr *connReader, br *bufio.Reader, p peerInfo) *Conn {
	return newConnWith(n, nc, cr, br, p, nil)
}

// newConnWith is newConn for a connection whose messages go to h (see
// connHandler), if h is not nil.
func newConnWith(n *Node, nc net.Conn, cr *connReader, br *bufio.Reader, p peerInfo, h connHandler) *Conn {
	c := &Conn{
		node:     n,
		nc:       nc,
		peer:     p,
		log:      n.logger().With("peer", string(p.name)),
		trace:    n.Trace,
		cr:       cr,
		br:       br,
		msgs:     make(chan Message, receiveQueueDepth),
		readDone: make(chan struct{}),
		rpcWait:  make(map[Pid]chan Term),
		closing:  make(chan struct{}),
		handler:  h,
	}
	if h != nil {
		h.attach(c)
	}
	tick := n.netTickTime()
	cr.timeout = tick
	c.wg.Add(2)
	go c.readLoop()
	go c.tickLoop(tick / 4)
	c.log.Debug("ei: connected", "flags", p.flags, "creation", p.creation, "version", p.version)
	return c
}

// Peer returns the peer's node name.
func (c *Conn) Peer() Atom { return c.peer.name }

// PeerCreation returns the peer's creation, as sent in the handshake.
func (c *Conn) PeerCreation() uint32 { return c.peer.creation }

// Flags returns the negotiated distribution flags: those both nodes offered.
func (c *Conn) Flags() Flags { return c.peer.flags }

// Node returns the local node.
func (c *Conn) Node() *Node { return c.node }

// Close closes the connection and waits for its goroutines. The send
// methods then return ErrClosed, and Receive returns the messages already
// queued, then ErrClosed. Close returns the error of closing the network
// connection, nil if the connection was down already; calling it again
// returns the same.
func (c *Conn) Close() error {
	c.shutdown()
	c.wg.Wait()
	return c.closeErr
}

// Done returns a channel that is closed when the connection stops
// receiving: after Close, or when the peer closed it, stopped answering
// or sent bytes that could not be decoded. Err then says why.
func (c *Conn) Done() <-chan struct{} { return c.readDone }

// Err returns nil while the connection is up, and why it went down after
// Done is closed: ErrClosed after Close (or after a send cut short by its
// context closed it; see SendControl), an error wrapping io.EOF when the
// peer closed it between frames, ErrTimeout (wrapped) when the peer went
// silent, a *ProtocolError for bytes that could not be decoded, or
// another I/O error, wrapped.
func (c *Conn) Err() error {
	select {
	case <-c.readDone:
		return c.readErr
	default:
		return nil
	}
}

func (c *Conn) tracef(format string, args ...any) {
	c.traceMu.Lock()
	fmt.Fprintf(c.trace, format, args...)
	c.traceMu.Unlock()
}

// Receive returns the next message from the peer. Ticks are handled
// internally and never returned, and neither are rpc replies. Messages
// to pids may come as Send or SendSender (see Message); Message.To
// handles both. Cancelling
// ctx interrupts the wait, leaving the connection intact. When the
// connection is down, Receive first returns the messages already queued,
// then Err().
func (c *Conn) Receive(ctx context.Context) (Message, error) {
	select {
	case m := <-c.msgs:
		return m, nil
	default:
	}
	select {
	case m := <-c.msgs:
		return m, nil
	case <-c.readDone:
		select {
		case m := <-c.msgs:
			return m, nil
		default:
		}
		return Message{}, c.readErr
	case <-ctx.Done():
		return Message{}, fmt.Errorf("ei: receive: %w", ctx.Err())
	}
}

// Send sends msg to the process to (SEND).
func (c *Conn) Send(ctx context.Context, to Pid, msg Term) error {
	return c.SendControl(ctx, Send{To: to}, msg)
}

// RegSend sends msg to the process registered as to on the peer
// (REG_SEND), as {to, Node} ! Msg does. from is the sending pid, usually
// one made by Node.Pid.
func (c *Conn) RegSend(ctx context.Context, from Pid, to Atom, msg Term) error {
	return c.SendControl(ctx, RegSend{From: from, To: to}, msg)
}

// Link links from (a local pid) and to (a pid on the peer) (LINK). When to
// exits, an Exit (a PayloadExit if FlagExitPayload was negotiated) arrives
// from Receive.
func (c *Conn) Link(ctx context.Context, from, to Pid) error {
	return c.SendControl(ctx, Link{From: from, To: to}, nil)
}

// Unlink removes the link between from and to. With peers that support
// it (FlagUnlinkID) it sends UNLINK_ID with a fresh id, which it returns;
// the peer's UnlinkIDAck with that id then arrives from Receive. With older
// peers it sends UNLINK and returns 0.
func (c *Conn) Unlink(ctx context.Context, from, to Pid) (uint64, error) {
	if c.peer.flags&FlagUnlinkID == 0 {
		return 0, c.SendControl(ctx, Unlink{From: from, To: to}, nil)
	}
	id := c.node.uniq.Add(1)
	return id, c.SendControl(ctx, UnlinkID{ID: id, From: from, To: to}, nil)
}

// Exit sends the exit signal of the local process from to the linked
// process to (EXIT), as when from terminates with reason.
func (c *Conn) Exit(ctx context.Context, from, to Pid, reason Term) error {
	return c.SendControl(ctx, Exit{From: from, To: to, Reason: reason}, nil)
}

// Exit2 sends an exit signal from from to to (EXIT2), as exit(To, Reason)
// does.
func (c *Conn) Exit2(ctx context.Context, from, to Pid, reason Term) error {
	return c.SendControl(ctx, Exit2{From: from, To: to, Reason: reason}, nil)
}

// SendControl sends any control message, followed by payload when the
// control carries one (payload is ignored otherwise). Messages go out with
// the 131/68 distribution header when the peer accepted FlagDistHdrAtomCache
// (with no atom cache references), else as pass-through messages.
//
// Cancelling ctx interrupts a write blocked on a peer that does not read;
// if part of the message was written, the connection is closed, since the
// peer could not find the next frame.
func (c *Conn) SendControl(ctx context.Context, ctl Control, payload Term) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ei: send: %w", err)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	b, err := c.appendFrame(c.wbuf[:0], ctl, payload)
	if cap(b) <= maxKeptWriteBuf {
		c.wbuf = b[:0]
	}
	if err != nil {
		return err
	}
	if c.trace != nil {
		if ctl.hasPayload() {
			c.tracef("-> %T%+v %s\n", ctl, ctl, traceTerm(payload))
		} else {
			c.tracef("-> %T%+v\n", ctl, ctl)
		}
	}
	return c.write(ctx, b)
}

// appendFrame appends a whole frame: length, header, control and payload.
func (c *Conn) appendFrame(b []byte, ctl Control, payload Term) ([]byte, error) {
	b = append(b, 0, 0, 0, 0)
	hdr := c.peer.flags&FlagDistHdrAtomCache != 0
	if hdr {
		b = append(b, distVersionMagic, distHeader, 0) // no atom cache refs
	} else {
		b = append(b, distPassThrough, distVersionMagic)
	}
	b, err := ctl.appendControl(b)
	if err != nil {
		return b, wrapf(err, "ei: send: encode control")
	}
	if ctl.hasPayload() {
		if !hdr {
			b = append(b, distVersionMagic)
		}
		if b, err = AppendTerm(b, payload); err != nil {
			return b, wrapf(err, "ei: send: encode message")
		}
	}
	if len(b)-4 > 0xffffffff {
		return b, fmt.Errorf("ei: send: message of %d bytes is too long", len(b)-4)
	}
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b, nil
}

// write writes a whole frame; the caller holds wmu.
func (c *Conn) write(ctx context.Context, b []byte) error {
	select {
	case <-c.closing:
		return ErrClosed
	default:
	}
	var n int
	var err error
	if ctx.Done() == nil {
		n, err = c.nc.Write(b)
	} else {
		fired := make(chan struct{})
		stop := context.AfterFunc(ctx, func() {
			c.nc.SetWriteDeadline(aLongTimeAgo)
			close(fired)
		})
		n, err = c.nc.Write(b)
		if !stop() {
			<-fired
			c.nc.SetWriteDeadline(time.Time{})
		}
	}
	c.wrote.Store(true)
	if err == nil {
		return nil
	}
	if n > 0 && n < len(b) {
		// The peer cannot find the next frame now.
		c.shutdown()
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

// shutdown closes the network connection without waiting for the
// goroutines (Close waits).
func (c *Conn) shutdown() {
	c.closeOnce.Do(func() {
		close(c.closing)
		c.closeErr = c.nc.Close()
		if errors.Is(c.closeErr, net.ErrClosed) {
			c.closeErr = nil // the read goroutine closed it when the peer went
		}
	})
}

// tickLoop sends a tick (an empty frame) whenever nothing was written
// during an interval.
func (c *Conn) tickLoop(interval time.Duration) {
	defer c.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	tick := []byte{0, 0, 0, 0}
	for {
		select {
		case <-t.C:
		case <-c.closing:
			return
		case <-c.readDone:
			return
		}
		if c.wrote.Swap(false) {
			continue
		}
		c.wmu.Lock()
		if c.trace != nil {
			c.tracef("-> tick\n")
		}
		_, err := c.nc.Write(tick)
		c.wmu.Unlock()
		if err != nil {
			return // the read goroutine notices the broken connection
		}
	}
}

// readLoop reads frames until the connection fails or is closed.
func (c *Conn) readLoop() {
	defer c.wg.Done()
	err := c.readFrames()
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
}

func (c *Conn) readError(err error) error {
	select {
	case <-c.closing:
		return ErrClosed
	default:
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return wrapf(ErrTimeout, "ei: connection to %s", c.peer.name)
	}
	return fmt.Errorf("ei: connection to %s: %w", c.peer.name, err)
}

func (c *Conn) readFrames() error {
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(c.br, hdr[:]); err != nil {
			return c.readError(err)
		}
		size := int(binary.BigEndian.Uint32(hdr[:]))
		if size == 0 {
			if c.trace != nil {
				c.tracef("<- tick\n")
			}
			continue
		}
		if err := c.checkSize(size); err != nil {
			return err
		}
		var frame []byte
		peeked := size <= c.br.Size()
		if peeked {
			// Decode straight from the bufio buffer; the decoder copies
			// what it keeps.
			b, err := c.br.Peek(size)
			if err != nil {
				return c.readError(noEOF(err))
			}
			frame = b
		} else {
			b, err := c.readLarge(size)
			if err != nil {
				return c.readError(noEOF(err))
			}
			frame = b
		}
		m, ok, err := c.parseFrame(frame)
		if peeked {
			c.br.Discard(size)
		}
		if err != nil {
			return err
		}
		if !ok {
			continue // a fragment of a message not yet complete
		}
		if c.trace != nil {
			if m.Control.hasPayload() {
				c.tracef("<- %s(%d refs) %T%+v %s\n", c.kind, c.kindRefs, m.Control, m.Control, traceTerm(m.Payload))
			} else {
				c.tracef("<- %s(%d refs) %T%+v\n", c.kind, c.kindRefs, m.Control, m.Control)
			}
		}
		if c.route(m) {
			continue
		}
		if c.handler != nil {
			c.handler.deliver(c, m)
			continue
		}
		select {
		case c.msgs <- m:
		case <-c.closing:
			return ErrClosed
		}
	}
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

// readLarge reads a frame bigger than the read buffer, growing the buffer
// as the bytes arrive rather than trusting the length up front (see grow).
func (c *Conn) readLarge(size int) ([]byte, error) {
	b := c.rbuf[:0]
	for len(b) < size {
		if len(b) == cap(b) {
			b = grow(b, size)
		}
		n := len(b)
		b = b[:min(cap(b), size)]
		if _, err := io.ReadFull(c.br, b[n:]); err != nil {
			return nil, err
		}
	}
	if cap(b) <= maxKeptWriteBuf {
		c.rbuf = b[:0]
	} else {
		c.rbuf = nil
	}
	return b, nil
}

// route handles messages the Conn answers itself: rpc replies go to the
// waiting RPC call (and not to Receive), and UNLINK_ID is acknowledged.
func (c *Conn) route(m Message) bool {
	if ctl, ok := m.Control.(UnlinkID); ok {
		if err := c.SendControl(context.Background(), UnlinkIDAck{ID: ctl.ID, From: ctl.To, To: ctl.From}, nil); err != nil {
			c.log.Debug("ei: unlink ack", "err", err)
		}
		return false
	}
	if to, ok := m.To().(Pid); ok {
		return c.rpcReply(to, m.Payload)
	}
	return false
}

// parseFrame decodes a non-empty frame. ok is false for a fragment that
// does not complete its message.
func (c *Conn) parseFrame(b []byte) (m Message, ok bool, err error) {
	switch {
	case b[0] == distPassThrough:
		c.kind, c.kindRefs = "pass-through", 0
		m, err = decodeMessage(b, 1, nil, true)
		return m, err == nil, err
	case len(b) >= 2 && b[0] == distVersionMagic && b[1] == distHeader:
		off, err := c.readAtomCacheRefs(b, 2)
		if err != nil {
			return m, false, err
		}
		c.kind, c.kindRefs = "header", len(c.refs)
		m, err = decodeMessage(b, off, c.refs, false)
		return m, err == nil, err
	case len(b) >= 18 && b[0] == distVersionMagic && b[1] == distFragHeader:
		seq := binary.BigEndian.Uint64(b[2:])
		id := binary.BigEndian.Uint64(b[10:])
		off, err := c.readAtomCacheRefs(b, 18)
		if err != nil {
			return m, false, err
		}
		if id == 0 {
			return m, false, &ProtocolError{Offset: 10, Msg: fmt.Sprintf("ei: fragment id 0 in sequence %d", seq)}
		}
		if id == 1 {
			c.kind, c.kindRefs = "fragment", len(c.refs)
			m, err = decodeMessage(b, off, c.refs, false)
			return m, err == nil, err
		}
		if c.frags == nil {
			c.frags = make(map[uint64]*fragments)
		}
		if c.frags[seq] != nil {
			return m, false, &ProtocolError{Offset: 2, Msg: fmt.Sprintf("ei: fragment sequence %d started twice", seq)}
		}
		if len(c.frags) >= MaxFragmentSequences {
			return m, false, &ProtocolError{Offset: 2, Msg: fmt.Sprintf("ei: more than %d fragmented messages in flight", MaxFragmentSequences)}
		}
		if err := c.holdFragment(0, len(b)-off); err != nil {
			return m, false, err
		}
		c.frags[seq] = &fragments{
			next: id - 1,
			refs: append([]Atom(nil), c.refs...),
			data: append([]byte(nil), b[off:]...),
		}
		return m, false, nil
	case len(b) >= 18 && b[0] == distVersionMagic && b[1] == distFragCont:
		seq := binary.BigEndian.Uint64(b[2:])
		id := binary.BigEndian.Uint64(b[10:])
		f := c.frags[seq]
		if f == nil || id != f.next {
			return m, false, &ProtocolError{Offset: 10, Msg: fmt.Sprintf("ei: unexpected fragment %d of sequence %d", id, seq)}
		}
		if err := c.holdFragment(len(f.data), len(b)-18); err != nil {
			return m, false, err
		}
		f.data = append(f.data, b[18:]...)
		f.next--
		if id > 1 {
			return m, false, nil
		}
		delete(c.frags, seq)
		c.fragSize -= len(f.data)
		c.kind, c.kindRefs = "fragmented", len(f.refs)
		m, err = decodeMessage(f.data, 0, f.refs, false)
		return m, err == nil, err
	}
	return m, false, &ProtocolError{Offset: 0, Msg: fmt.Sprintf("ei: unknown distribution message tag %d", b[0])}
}

// holdFragment accounts for n more bytes of incomplete fragmented
// messages, added to a message of held bytes so far, failing when that
// would exceed MaxFragmentedSize or make the message larger than
// Node.MaxMessageSize.
func (c *Conn) holdFragment(held, n int) error {
	if err := c.checkSize(held + n); err != nil {
		return err
	}
	if n > MaxFragmentedSize-c.fragSize {
		return &ProtocolError{Offset: 0, Msg: fmt.Sprintf("ei: fragmented messages exceed %d bytes", MaxFragmentedSize)}
	}
	c.fragSize += n
	return nil
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
			c.cache[idx] = intern(text).atom
			c.cacheSet[idx] = true
			off += l
		} else if !c.cacheSet[idx] {
			return 0, &ProtocolError{Offset: off - 1, Msg: fmt.Sprintf("ei: atom cache entry %d used before being set", idx)}
		}
		c.refs = append(c.refs, c.cache[idx])
	}
	return off, nil
}

// decodeMessage decodes the control message and payload at b[off:]. With
// magic, each starts with the version byte 131 (pass-through messages).
func decodeMessage(b []byte, off int, refs []Atom, magic bool) (Message, error) {
	r := NewReader(b[off:])
	r.AtomCache = refs
	var m Message
	if magic {
		if err := r.ReadVersion(); err != nil {
			return m, shiftError(err, off)
		}
	}
	ctl, err := readControl(r)
	if err != nil {
		return m, shiftError(err, off)
	}
	more := r.Len() > 0
	if u, ok := ctl.(UnknownControl); ok {
		u.Payload = more
		ctl = u
	}
	m.Control = ctl
	if !ctl.hasPayload() {
		if more {
			return m, &ProtocolError{Offset: off + r.Offset(), Msg: fmt.Sprintf("ei: %d unexpected bytes after control message", r.Len())}
		}
		return m, nil
	}
	if !more {
		return m, &ProtocolError{Offset: off + r.Offset(), Msg: "ei: control message without its payload"}
	}
	if magic {
		if err := r.ReadVersion(); err != nil {
			return m, shiftError(err, off)
		}
	}
	if m.Payload, err = r.ReadTerm(); err != nil {
		return m, shiftError(err, off)
	}
	if r.Len() > 0 {
		return m, &ProtocolError{Offset: off + r.Offset(), Msg: fmt.Sprintf("ei: %d unexpected bytes after message", r.Len())}
	}
	return m, nil
}

// shiftError makes a *ProtocolError's offset relative to the frame.
func shiftError(err error, off int) error {
	var pe *ProtocolError
	if errors.As(err, &pe) {
		return &ProtocolError{Offset: pe.Offset + off, Msg: pe.Msg}
	}
	return err
}

// traceTerm formats a payload for the wire trace, cut to a readable length.
func traceTerm(t Term) string {
	const max = 200
	s := FormatTerm(t)
	if len(s) > max {
		s = fmt.Sprintf("%s... (%d characters)", s[:max], len(s))
	}
	return s
}
