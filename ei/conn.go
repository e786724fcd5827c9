package ei

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
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
	readBufferSize    = 64 << 10 // see Conn.growReader
	smallReadBuffer   = 4 << 10
	largeReadBuffer   = 256 << 10
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
// a quarter of the net tick time, and writes the answers to UNLINK_ID
// when no sender is writing, so that a peer that does not read cannot
// hold up reading. A peer silent for the whole net tick time (up to a
// quarter more) has its connection closed with an error wrapping
// ErrTimeout. Close a Conn when done with it, even after it went down;
// Close waits for both goroutines.
//
// Send, RegSend, Link, Unlink, Exit, Exit2, SendControl and RPC are safe
// for concurrent use: a sender that finds another one writing queues its
// message, and the one writing writes all those queued at once, as erl
// writes its distribution queue. Large messages go out in fragments (see
// SendControl) between which the other senders' messages pass. Each of
// these returns once its message is written; SendAsync returns once a
// small message is queued, as erl's ! does, which lets one goroutine
// sending many messages have them written many at a time. Receive
// may also be called concurrently, but each message goes to only one
// caller; usually one goroutine receives. Messages are queued while
// nobody receives; when the queue is full, the Conn stops reading from
// the peer, so rpc replies wait too. Over TCP, a Receive that finds no
// message queued reads the next frames itself, on the caller's
// goroutine, and the read goroutine leaves the reading to it for a
// millisecond after each call (unless an RPC waits for its reply), so
// that a goroutine that receives one message after another is not
// handed each one by another goroutine; while more bytes wait to be read,
// or messages are of 64 KiB or more, the read goroutine reads ahead.
//
// A binary of 64 KiB or more received in a message larger than the read
// buffer shares the memory the message was read into, when it makes up
// at least half of the message, rather than being copied out of it;
// ReceiveReuse reuses that memory for later messages, and once it has
// been called, messages of 64 KiB or more are read so even when they fit
// the read buffer. A message that came in fragments, of up to 8 MiB,
// is put together in memory that all Conns share, and Receive copies its
// binaries out.
type Conn struct {
	node *Node
	nc   net.Conn
	peer peerInfo
	log  *slog.Logger

	traceMu sync.Mutex
	trace   io.Writer

	// Writing (see conn_write.go).
	w         connWriter
	wrote     atomic.Bool   // written since the last tick check
	kick      chan struct{} // has the tick goroutine write replies queued
	fragSeq   atomic.Uint64 // sequence ids of the fragmented messages sent
	smallSent atomic.Int64  // when a small message last went out, in Unix ns (see fragmentSize)

	// afterFragment, if set (by tests), is called after each fragment of
	// a message is written, with its number and the message's count.
	afterFragment func(i, n int)

	// Reading: these belong to the read goroutine.
	cr        *connReader
	br        *bufio.Reader
	under     io.Reader // what br reads: cr, or a prefixReader (see readBody)
	rbuf      []byte
	shared    []byte     // the buffer the binaries of the message just read share
	atoms     *atomCache // made on the first reference
	refs      []Atom
	frags     map[uint64]*fragments
	fragBytes int    // bytes held in frags
	fragSize  int    // bytes of the buffers that hold them (their capacity)
	kind      string // how the last frame was encoded, for the trace
	kindRefs  int    // and how many atom cache references it had
	bigFrame  bool   // a frame of the message being read had shareMin bytes or more
	bulk      bool   // so had the last message read (see receive_direct.go)

	msgs     chan received
	handler  connHandler   // takes messages instead of msgs, for connections in a Node's table
	readDone chan struct{} // closed when reading ends
	readErr  error         // why it ended; set before readDone closes
	failOnce sync.Once

	// The right to read (see receive_direct.go).
	role        chan struct{} // the token, when nobody holds it
	handoff     chan struct{} // the token, handed to the read goroutine
	direct      bool          // Receive may read itself (TCP, no handler)
	receiving   atomic.Int32  // Receive calls under way
	lastReceive atomic.Int64  // monoNow when one last returned
	want        atomic.Bool   // an RPC waits for the read goroutine to read
	lease       atomic.Int64  // receiveLease, but for tests
	wake        chan struct{} // wakes the read goroutine for want
	rfired      chan struct{} // interruptRead ran

	// Memory for large messages (see release.go).
	free    freeList
	reuseMu sync.Mutex
	reused  []byte      // the buffer of the message ReceiveReuse returned last
	reusing atomic.Bool // ReceiveReuse was called: keep buffers for it

	rpcMu        sync.Mutex
	rpcWait      map[Pid]chan Term // nil channels for abandoned calls
	rpcAbandoned int
	rpcN         atomic.Int32 // len(rpcWait)

	closing   chan struct{}
	closeOnce sync.Once
	closeErr  error
	wg        sync.WaitGroup
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
		under:    cr,
		msgs:     make(chan received, receiveQueueDepth),
		readDone: make(chan struct{}),
		rpcWait:  make(map[Pid]chan Term),
		closing:  make(chan struct{}),
		kick:     make(chan struct{}, 1),
		handler:  h,
		role:     make(chan struct{}, 1),
		handoff:  make(chan struct{}, 1),
		wake:     make(chan struct{}, 1),
		rfired:   make(chan struct{}, 1),
	}
	c.role <- struct{}{}
	c.lastReceive.Store(int64(-receiveLease))
	c.lease.Store(int64(receiveLease))
	c.w.fired = make(chan struct{}, 1)
	c.w.interrupt = c.interruptWrite
	_, c.w.resumable = nc.(*net.TCPConn)
	c.direct = c.w.resumable && h == nil
	_, c.w.brittle = nc.(*tls.Conn)
	if h != nil {
		h.attach(c)
	}
	tick := n.netTickTime()
	cr.timeout, cr.heard = tick, time.Now()
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
	r, err := c.receive(ctx)
	return r.Message, err
}

func (c *Conn) receive(ctx context.Context) (received, error) {
	select {
	case r := <-c.msgs:
		return r, nil
	default:
	}
	if c.direct {
		return c.receiveDirect(ctx)
	}
	select {
	case r := <-c.msgs:
		return r, nil
	case <-c.readDone:
		return c.receiveEnded()
	case <-ctx.Done():
		return received{}, fmt.Errorf("ei: receive: %w", ctx.Err())
	}
}

// receiveEnded is receive once reading ended: the messages queued, then
// why it ended.
func (c *Conn) receiveEnded() (received, error) {
	select {
	case r := <-c.msgs:
		return r, nil
	default:
	}
	return received{}, c.readErr
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
// during an interval, and writes the read goroutine's replies when no
// sender is writing (see Conn.sendReply).
func (c *Conn) tickLoop(interval time.Duration) {
	defer c.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-c.kick:
			c.w.mu.Lock()
			idle := !c.w.leading && len(c.w.queue) > 0
			if idle {
				c.w.leading = true
			}
			c.w.mu.Unlock()
			if idle {
				if err := c.lead(context.Background(), nil); err != nil {
					return // the read goroutine notices the broken connection
				}
			}
			continue
		case <-c.closing:
			return
		case <-c.readDone:
			return
		}
		if c.wrote.Swap(false) {
			continue
		}
		if c.trace != nil {
			c.tracef("-> tick\n")
		}
		// Queued like a reply, which nobody waits for: a tick that led
		// the writes would write the frames of senders behind it with
		// no context, beyond their own.
		tick := &outFrame{buf: []byte{0, 0, 0, 0}}
		tick.segs = [][]byte{tick.buf}
		tick.size = len(tick.buf)
		if err := c.queueReply(tick); err != nil {
			return // the read goroutine notices the broken connection
		}
	}
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
