package ei

import (
	"bufio"
	"container/list"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goei/goei/epmd"
)

// DefaultNetTickTime is the net tick time used when Node.NetTickTime is
// zero; it matches erl's default (-kernel net_ticktime 60).
const DefaultNetTickTime = 60 * time.Second

// DefaultSetupTime is the setup time used when Node.SetupTime is zero; it
// matches erl's default (-kernel net_setuptime 7).
const DefaultSetupTime = 7 * time.Second

// DefaultMaxMessageSize is the message size limit used when
// Node.MaxMessageSize is zero: the same bound as MaxUncompressedSize puts
// on a compressed term.
const DefaultMaxMessageSize = MaxUncompressedSize

// maxPending bounds the connections a Listener holds between accepting
// them and Accept returning them: handshakes under way and established
// connections. When it is reached, a new connection ends the oldest
// handshake under way (see Listener).
const maxPending = 1024

// Node is a local distributed Erlang node: a C-node in erl_interface's
// terms. It connects to other nodes, accepts connections from them, and
// makes pids and refs.
//
// From its first NewMailbox (or HandleFunc, RPC or ERPCCall), a Node
// also keeps a table of connections, one per peer, made when a mailbox
// first sends to the peer or accepted by the node's Listeners, which then
// no longer hand them to Accept. Simultaneous connects between two nodes
// are resolved as OTP does: the connection started by the node whose
// name sorts higher survives. A connection that goes down is replaced by
// a new one at the next send; Close ends all of this. The node serves
// the spawn requests (erpc, rpc:call, spawn/4) and rex requests that
// come on these connections with the functions registered with
// HandleFunc.
//
// A Node is always hidden: it never sets FlagPublished, so the peers it
// connects to do not add it to nodes() or sync global names with it, and
// Listener.Publish registers it with epmd as a hidden node, as
// erl_interface does. Erlang code reaches it with {Name, 'go@host'} ! Msg,
// with a pid it sent, or with rpc:call('go@host', M, F, Args); the node
// uses the global names of an Erlang cluster through one of its nodes
// (see GlobalRegister).
//
// Set the fields before first use and do not change them afterwards. The
// methods of a Node are safe for concurrent use.
type Node struct {
	// Name is the full node name, "alive@host".
	Name string

	// Cookie is the magic cookie shared with the other nodes. Empty means
	// the contents of $HOME/.erlang.cookie (surrounding white space
	// removed); it is an error if that file cannot be read, or, as for
	// erl, if it is not a regular file or (except on Windows) group or
	// others have any access to it.
	Cookie string

	// Creation tells incarnations of the node apart and goes into its pids.
	// Zero means a random non-zero value, chosen once. Listener.Publish
	// makes the creation epmd assigns the one in use instead (the field
	// itself is not changed; see CurrentCreation).
	Creation uint32

	// Flags are the distribution flags offered in handshakes. Zero means
	// DefaultFlags. MandatoryFlags are always added, and FlagPublished
	// and flags this package does not implement are always removed.
	// Without FlagDistHdrAtomCache the peer sends pass-through messages
	// (tag 112) instead of the 131/68 distribution header. The
	// connections of the node's table (see NewMailbox) also offer
	// FlagDistMonitor, FlagDistMonitorName and FlagAlias, which the
	// mailboxes need.
	Flags Flags

	// NetTickTime is how long a peer may stay silent before its
	// connection is closed; a tick is sent after a quarter of it without
	// writing. Zero means DefaultNetTickTime. Use the peer's value
	// (erl -kernel net_ticktime).
	NetTickTime time.Duration

	// SetupTime bounds setting up a connection, like erl's
	// net_setuptime: in Connect and ConnectAddr the epmd lookup, the dial
	// and the handshake, in ClientConn and ServerConn the handshake, when
	// the context passed has no deadline (one that has bounds the call
	// instead), and each handshake a Listener runs. A call cut short by
	// it returns an error wrapping context.DeadlineExceeded. Zero means
	// DefaultSetupTime.
	SetupTime time.Duration

	// MaxMessageSize is the largest distribution message a Conn receives,
	// in bytes: a frame, or a message reassembled from fragments. A peer
	// announcing a larger one has its connection closed, before the
	// bytes are read, with a *ProtocolError (see Conn.Err). Zero means
	// DefaultMaxMessageSize.
	MaxMessageSize int

	// EPMD is the epmd client used by Connect and Listener.Publish. Nil
	// means the zero epmd.Client: local epmd at $ERL_EPMD_PORT or 4369;
	// Connect asks the epmd on the peer's host (through Dialer). Its
	// Dialer, if set and Dialer is nil, also dials the nodes in Connect
	// and ConnectAddr.
	EPMD *epmd.Client

	// Dialer dials the nodes in Connect and ConnectAddr; nil means
	// EPMD.Dialer, or a zero net.Dialer. A proxy.ContextDialer from
	// golang.org/x/net/proxy fits, to reach nodes through SOCKS5.
	Dialer Dialer

	// DistPort, when non-zero, is the port every peer listens on:
	// Connect dials it on the peer's host without asking epmd, as erl
	// does with -erl_epmd_port DistPort. Such nodes, started with
	// -start_epmd false, need no epmd at all; to be reachable from them,
	// listen on DistPort too (n.Listen(ctx, "host:DistPort"), on an
	// address of its own) and skip Listener.Publish.
	DistPort int

	// TLS, when set, runs every connection over TLS, as erl's
	// -proto_dist inet_tls does: Connect, ConnectAddr and ClientConn are
	// TLS clients with it, and Listen and ServerConn are TLS servers. See
	// the package documentation for how erl's ssl_dist_optfile options
	// map to its fields.
	TLS *tls.Config

	// Logger receives connection events: failed handshakes and accept
	// errors in a Listener (Warn), connections made and lost (Debug), and
	// a mailbox starting to drop messages because it is full (Warn). Nil
	// means no logging.
	Logger *slog.Logger

	// AcceptAnyPeerName makes Connect, ConnectAddr and ClientConn accept a
	// peer that announces a name other than the one asked for, as
	// erl_interface's ei_connect does: a node reached as n1@localhost
	// that calls itself n1@myhost, say. Conn.Peer then returns the name
	// the peer announced. By default such a handshake fails with a
	// *ProtocolError, since the connection may lead to another node than
	// the one meant. The connections of the node's table (see
	// NewMailbox), one per peer name, ignore it.
	AcceptAnyPeerName bool

	// MailboxSize is how many messages each mailbox (see NewMailbox)
	// holds before dropping; zero means DefaultMailboxSize.
	MailboxSize int

	// MaxCalls bounds the calls from other nodes of the functions
	// registered with HandleFunc that run at once (rpc, erpc, spawn and
	// rex requests alike); zero means DefaultMaxCalls. A call beyond it
	// fails with system_limit, as a spawn does on erl at its process
	// limit.
	MaxCalls int

	// Trace, if set, receives one line per handshake message and per
	// distribution frame sent or received, for interop debugging. Writes
	// to it are serialized per connection, not across connections.
	Trace io.Writer

	// rand is the source of handshake challenges; nil means crypto/rand.
	// Tests set it to replay recorded handshakes.
	rand io.Reader

	initOnce sync.Once
	initErr  error
	cookie   string
	naming   naming // for a dynamic name, undefined@host
	creation atomic.Uint32
	pidSeq   atomic.Uint64
	refSeq   atomic.Uint64
	uniq     atomic.Uint64 // unlink ids

	lay atomic.Pointer[layer] // mailboxes and connection table, from the first NewMailbox

	funcMu sync.RWMutex
	funcs  map[funcKey]Func // see HandleFunc
}

func (n *Node) random() io.Reader {
	if n.rand != nil {
		return n.rand
	}
	return rand.Reader
}

// init validates the configuration and resolves the cookie and creation.
func (n *Node) init() error {
	n.initOnce.Do(func() {
		if !validNodeName(n.Name) {
			n.initErr = fmt.Errorf("ei: node name %q is not of the form name@host", n.Name)
			return
		}
		if len(n.Name) > maxNodeNameLen {
			n.initErr = fmt.Errorf("ei: node name %q is longer than %d bytes", n.Name, maxNodeNameLen)
			return
		}
		n.naming.dynamic = strings.HasPrefix(n.Name, dynamicAlive+"@")
		n.cookie = n.Cookie
		if n.cookie == "" {
			c, err := readCookie()
			if err != nil {
				n.initErr = err
				return
			}
			n.cookie = c
		}
		if n.Creation != 0 {
			n.creation.CompareAndSwap(0, n.Creation)
		} else {
			var b [4]byte
			for n.creation.Load() == 0 {
				if _, err := io.ReadFull(n.random(), b[:]); err != nil {
					n.initErr = fmt.Errorf("ei: choose creation: %w", err)
					return
				}
				n.creation.CompareAndSwap(0, binary.BigEndian.Uint32(b[:]))
			}
		}
	})
	return n.initErr
}

// readCookie reads $HOME/.erlang.cookie, which, as erl demands
// (auth:check_attributes), must be a regular file (a symbolic link to one
// will do) that only its owner may access, except on Windows.
func readCookie() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("ei: read cookie: %w", err)
	}
	name := filepath.Join(home, ".erlang.cookie")
	fi, err := os.Stat(name)
	if err != nil {
		return "", fmt.Errorf("ei: read cookie: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("ei: read cookie: %s is not a regular file (mode %v)", name, fi.Mode())
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return "", fmt.Errorf("ei: read cookie: %s must be accessible by owner only (mode %04o), as erl requires", name, perm)
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return "", fmt.Errorf("ei: read cookie: %w", err)
	}
	c := strings.TrimSpace(string(b))
	if c == "" {
		return "", fmt.Errorf("ei: read cookie: %s is empty", name)
	}
	return c, nil
}

// advertised returns the flags offered in handshakes.
func (n *Node) advertised() Flags {
	f := n.Flags
	if f == 0 {
		f = DefaultFlags
	}
	return (f | MandatoryFlags) & supportedFlags &^ FlagPublished
}

func (n *Node) setupTime() time.Duration {
	if n.SetupTime > 0 {
		return n.SetupTime
	}
	return DefaultSetupTime
}

// maxMessageSize returns the limit on the size of a message received; n
// may be nil (a bare Conn in tests).
func (n *Node) maxMessageSize() int {
	if n != nil && n.MaxMessageSize > 0 {
		return n.MaxMessageSize
	}
	return DefaultMaxMessageSize
}

// setupTimeoutError is the cause of a context ended by Node.SetupTime.
type setupTimeoutError time.Duration

func (e setupTimeoutError) Error() string {
	return fmt.Sprintf("setup time %v exceeded", time.Duration(e))
}

func (e setupTimeoutError) Unwrap() error { return context.DeadlineExceeded }

// setupContext bounds ctx by the setup time, if it has no deadline.
func (n *Node) setupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	d := n.setupTime()
	return context.WithTimeoutCause(ctx, d, setupTimeoutError(d))
}

// contextError returns why ctx ended: ctx.Err(), or the setup time if
// that ended it.
func contextError(ctx context.Context) error {
	var st setupTimeoutError
	if cause := context.Cause(ctx); errors.As(cause, &st) {
		return cause
	}
	return ctx.Err()
}

func (n *Node) netTickTime() time.Duration {
	if n.NetTickTime > 0 {
		return n.NetTickTime
	}
	return DefaultNetTickTime
}

func (n *Node) epmdClient() *epmd.Client {
	if n.EPMD != nil {
		return n.EPMD
	}
	return &epmd.Client{}
}

func (n *Node) logger() *slog.Logger {
	if n.Logger != nil {
		return n.Logger
	}
	return slog.New(discardHandler{})
}

// discardHandler drops all records (slog.DiscardHandler without the
// allocation of a handler per call site).
type discardHandler struct{}

func (discardHandler) Enabled(context.Context, slog.Level) bool  { return false }
func (discardHandler) Handle(context.Context, slog.Record) error { return nil }
func (d discardHandler) WithAttrs([]slog.Attr) slog.Handler      { return d }
func (d discardHandler) WithGroup(string) slog.Handler           { return d }

// Pid returns a new pid of this node, distinct from every earlier one
// (until 2^64 pids have been made). It fails only when the Node's
// configuration is invalid (see Connect). Pids carry the current
// creation, so make them after Listener.Publish.
func (n *Node) Pid() (Pid, error) {
	if err := n.init(); err != nil {
		return Pid{}, err
	}
	name, err := n.currentName()
	if err != nil {
		return Pid{}, err
	}
	// Pid numbers go up to 2^32 and then wrap into the serial, as the
	// pids of erl_interface do.
	seq := n.pidSeq.Add(1)
	return Pid{Node: Atom(name), ID: uint32(seq), Serial: uint32(seq >> 32), Creation: n.creation.Load()}, nil
}

// CurrentCreation returns the creation in use: Node.Creation, the random
// one chosen for zero, or the one epmd assigned in Listener.Publish.
func (n *Node) CurrentCreation() (uint32, error) {
	if err := n.init(); err != nil {
		return 0, err
	}
	return n.creation.Load(), nil
}

// Connect connects to the node peer ("alive@host"): it asks the epmd on
// host for the node's port (Node.EPMD says which port epmd listens on),
// dials it, and runs the handshake. ctx bounds all of this, or, when it
// has no deadline, Node.SetupTime does; cancelling ctx afterwards has no
// effect on the returned Conn.
//
// Errors: *HandshakeError when the peer refuses, an error wrapping
// ErrAuth when the cookies differ, epmd.ErrNotRegistered (wrapped) when
// epmd does not know the peer, *ProtocolError for malformed handshake
// bytes, and I/O errors wrapped with the operation.
func (n *Node) Connect(ctx context.Context, peer string) (*Conn, error) {
	return n.connect(ctx, peer, nil)
}

// connect is Connect, with the node's connection table taking part in
// the handshake when arb is not nil.
func (n *Node) connect(ctx context.Context, peer string, arb arbiter) (*Conn, error) {
	if err := n.init(); err != nil {
		return nil, err
	}
	if !validNodeName(peer) {
		return nil, fmt.Errorf("ei: connect: peer %q is not of the form name@host", peer)
	}
	ctx, cancel := n.setupContext(ctx)
	defer cancel()
	alive, host, _ := strings.Cut(peer, "@")
	addr := n.resolve(ctx, strings.Trim(host, "[]"))
	port, version := n.DistPort, distVersion6
	if port == 0 {
		epmd := *n.lookupClient()
		epmd.Host = addr
		info, err := epmd.PortPlease(ctx, alive)
		if err != nil {
			return nil, fmt.Errorf("ei: connect %s: %w", peer, err)
		}
		port = int(info.Port)
		if info.HighestVersion < distVersion6 {
			version = distVersion5
		}
	}
	d := n.dialer()
	nc, err := d.DialContext(ctx, "tcp", net.JoinHostPort(addr, strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("ei: connect %s: %w", peer, err)
	}
	return n.clientConnArb(ctx, nc, peer, host, version, arb)
}

// ConnectAddr connects to the node peer listening at the TCP address
// addr ("host:port"), without asking epmd. An empty peer accepts whatever
// name the node at addr announces in the handshake; Conn.Peer then
// returns it. ConnectAddr is otherwise Connect, with the same errors.
func (n *Node) ConnectAddr(ctx context.Context, peer, addr string) (*Conn, error) {
	if err := n.init(); err != nil {
		return nil, err
	}
	if peer != "" && !validNodeName(peer) {
		return nil, fmt.Errorf("ei: connect: peer %q is not of the form name@host", peer)
	}
	ctx, cancel := n.setupContext(ctx)
	defer cancel()
	d := n.dialer()
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		if peer == "" {
			return nil, fmt.Errorf("ei: connect %s: %w", addr, err)
		}
		return nil, fmt.Errorf("ei: connect %s: %w", peer, err)
	}
	return n.clientConnTo(ctx, nc, peer, hostOf(peer, addr), distVersion6)
}

// ClientConn runs the connecting side of the handshake on nc, which must
// lead to the node peer, and returns the connection. An empty peer
// accepts whatever name the other node announces; Conn.Peer then returns
// it. ClientConn is Connect without epmd and dialling, with the same
// errors.
//
// ClientConn takes ownership of nc: it closes nc when the handshake
// fails, and the returned Conn closes it in Conn.Close. ctx bounds the
// handshake, or, when it has no deadline, Node.SetupTime does; cancelling
// ctx afterwards has no effect on the Conn.
func (n *Node) ClientConn(ctx context.Context, nc net.Conn, peer string) (*Conn, error) {
	if err := n.init(); err != nil {
		nc.Close()
		return nil, err
	}
	if peer != "" && !validNodeName(peer) {
		nc.Close()
		return nil, fmt.Errorf("ei: connect: peer %q is not of the form name@host", peer)
	}
	return n.clientConn(ctx, nc, peer, distVersion6)
}

// clientConn runs the connecting side of the handshake on nc, which leads
// to peer ("" for any name).
func (n *Node) clientConn(ctx context.Context, nc net.Conn, peer string, version int) (*Conn, error) {
	return n.clientConnTo(ctx, nc, peer, hostOf(peer, nc.RemoteAddr().String()), version)
}

// clientConnTo is clientConn over TLS (see startTLS), checking the
// certificate of tlsHost.
func (n *Node) clientConnTo(ctx context.Context, nc net.Conn, peer, tlsHost string, version int) (*Conn, error) {
	return n.clientConnArb(ctx, nc, peer, tlsHost, version, nil)
}

// clientConnArb is clientConnTo with the node's connection table taking
// part in the handshake when arb is not nil.
func (n *Node) clientConnArb(ctx context.Context, nc net.Conn, peer, tlsHost string, version int, arb arbiter) (*Conn, error) {
	ctx, cancel := n.setupContext(ctx)
	defer cancel()
	hc, lenSize, err := n.startTLS(ctx, nc, tlsHost, false)
	if err != nil {
		nc.Close()
		return nil, err
	}
	if n.AcceptAnyPeerName && arb == nil {
		peer = "" // take the name the peer announces
	}
	h, stop := n.newHandshake(ctx, hc, peer, lenSize)
	h.useArbiter(arb)
	named := n.nameForClient(h)
	p, err := h.client(ctx, version, n.creation.Load())
	c, err := n.finishHandshake(ctx, h, stop, p, err)
	named(c, p)
	return c, err
}

// ServerConn runs the accepting side of the handshake on nc and returns
// the connection. It is what a Listener does with each connection, for
// connections accepted by other means. The peer must send its name within
// 2 seconds, which any node does at once. Errors are as for Connect.
//
// ServerConn takes ownership of nc: it closes nc when the handshake
// fails, and the returned Conn closes it in Conn.Close. ctx bounds the
// handshake, or, when it has no deadline, Node.SetupTime does; cancelling
// ctx afterwards has no effect on the Conn.
func (n *Node) ServerConn(ctx context.Context, nc net.Conn) (*Conn, error) {
	if err := n.init(); err != nil {
		nc.Close()
		return nil, err
	}
	return n.serverConn(ctx, nc, nameTimeout, nil, nil)
}

// serverConn is ServerConn on an initialized node, waiting up to
// nameTimeout for the peer's name (and, over TLS, the TLS handshake
// before it), and calling authenticated, if not nil, once the peer has
// proved it has the cookie (see handshake). The node's connection table
// takes part in the handshake when arb is not nil.
func (n *Node) serverConn(ctx context.Context, nc net.Conn, nameTimeout time.Duration, authenticated func() bool, arb arbiter) (*Conn, error) {
	ctx, cancel := n.setupContext(ctx)
	defer cancel()
	var nameBy time.Time
	if nameTimeout > 0 {
		nameBy = time.Now().Add(nameTimeout)
	}
	self, err := n.currentName()
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("ei: accept: %w", err)
	}
	nc.SetReadDeadline(nameBy)
	hc, lenSize, err := n.startTLS(ctx, nc, "", true)
	if err != nil {
		nc.Close()
		return nil, err
	}
	h, stop := n.newHandshake(ctx, hc, "", lenSize)
	h.self = self
	h.nameTimeout, h.nameBy = nameTimeout, nameBy
	h.authenticated = authenticated
	h.useArbiter(arb)
	p, err := h.server(ctx, n.creation.Load())
	return n.finishHandshake(ctx, h, stop, p, err)
}

func (n *Node) newHandshake(ctx context.Context, nc net.Conn, peer string, lenSize int) (*handshake, func() bool) {
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(aLongTimeAgo) })
	return &handshake{
		cr:     &connReader{nc: nc},
		node:   n,
		self:   n.Name,
		cookie: n.cookie,
		flags:  n.advertised(),
		nc:     nc,
		peer:   peer,
		trace:  n.Trace,

		lenSize: lenSize,
	}, stop
}

func (n *Node) finishHandshake(ctx context.Context, h *handshake, stop func() bool, p peerInfo, err error) (*Conn, error) {
	if !stop() && err == nil {
		// ctx ended as the handshake completed; the deadline may be set.
		err = fmt.Errorf("ei: handshake with %s: %w", h.peerName(), contextError(ctx))
	}
	if err != nil {
		h.nc.Close()
		return nil, err
	}
	h.nc.SetDeadline(time.Time{})
	// The read buffer comes only now, so that a pending handshake holds
	// no more than the message it reads.
	var ch connHandler
	if h.arb != nil {
		ch = h.arb
	}
	return newConnWith(n, h.nc, h.cr, bufio.NewReaderSize(h.cr, smallReadBuffer), p, ch), nil
}

// Listener accepts distribution connections for a Node.
//
// A Listener runs the handshake of each incoming connection in a
// goroutine of its own, so a slow or silent peer does not hold up others.
// The peer must send its name within 2 seconds (over TLS, complete the
// TLS handshake and send its name), and the whole handshake take at most
// Node.SetupTime; one that fails is logged (Node.Logger) and its
// connection closed. Established connections wait for Accept.
//
// A Listener holds at most 1024 connections between accepting them and
// Accept returning them. When it holds that many and another arrives, the
// oldest handshake whose peer has not yet proved it has the cookie is
// ended to make room, so that peers without the cookie cannot lock others
// out. Only when all 1024 are past that point (most of them established
// connections waiting for Accept) do further connections wait in the
// operating system's backlog. Over plain TCP, each pending handshake
// holds a goroutine, its socket, and at most one handshake message of up
// to 1 KiB. Close stops all of this.
//
// The methods of a Listener are safe for concurrent use.
type Listener struct {
	node        *Node
	l           net.Listener
	nameTimeout time.Duration

	ctx     context.Context // parent of the handshakes; canceled by Close
	stopAll context.CancelFunc
	conns   chan *Conn    // established connections, for Accept
	closing chan struct{} // closed by Close
	stopped sync.Once
	stopErr error
	wg      sync.WaitGroup // the accept loop and the handshakes

	pendMu  sync.Mutex
	pending int           // connections between accept and Accept, at most maxPending
	running list.List     // the *pendingConn whose handshake runs, oldest first
	freed   chan struct{} // a token when pending went down while full

	publishing sync.Mutex // held by Publish, so that one registers at a time

	mu     sync.Mutex
	reg    *epmd.Registration
	closed bool
}

// pendingConn is a connection of a Listener between accept and Accept.
type pendingConn struct {
	ctx    context.Context // of its handshake
	cancel context.CancelCauseFunc
	elem   *list.Element // in Listener.running while the handshake runs
	// evicted is set when the handshake was ended to make room for a
	// newer connection, which took over its place in Listener.pending.
	evicted bool
}

// errEvicted ends a handshake to make room for a newer connection.
var errEvicted = fmt.Errorf("ei: handshake ended to make room: more than %d connections pending", maxPending)

// Listen listens for distribution connections on the TCP address addr
// (such as ":0" or "127.0.0.1:0") and starts accepting them (see
// Listener). ctx bounds setting up the listening socket only. Close the
// Listener when done.
func (n *Node) Listen(ctx context.Context, addr string) (*Listener, error) {
	if err := n.init(); err != nil {
		return nil, err
	}
	if n.naming.dynamic {
		return nil, fmt.Errorf("ei: listen: node %s has a dynamic name and does not listen, as in OTP", n.Name)
	}
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("ei: listen: %w", err)
	}
	return n.newListener(l, nameTimeout), nil
}

// newListener returns a Listener accepting from l, which it owns, and
// starts its accept loop. The node must be initialized. Handshakes wait
// nameTimeout for the peer's name.
func (n *Node) newListener(l net.Listener, nameTimeout time.Duration) *Listener {
	ctx, cancel := context.WithCancel(context.Background())
	ln := &Listener{
		node:        n,
		l:           l,
		nameTimeout: nameTimeout,
		ctx:         ctx,
		stopAll:     cancel,
		conns:       make(chan *Conn),
		closing:     make(chan struct{}),
		freed:       make(chan struct{}, 1),
	}
	ln.wg.Add(1)
	go ln.acceptLoop()
	return ln
}

// Addr returns the listening address.
func (l *Listener) Addr() net.Addr { return l.l.Addr() }

// Publish registers the node with epmd (ALIVE2_REQ) as a hidden node
// listening on l's port, and makes the creation epmd assigns the node's
// creation (see Node.CurrentCreation). The registration lasts until l is
// closed: when epmd drops it (epmd restarted, say), it registers the node
// again, as erl does (see epmd.Client.Publish), logging to Node.Logger
// unless Node.EPMD has a Logger; Registration tells its state. ctx bounds
// the first registration only. Publishing again while the registration
// lasts does nothing. An error matching epmd.ErrNameInUse means another
// node has the name. After Close, Publish returns ErrClosed.
func (l *Listener) Publish(ctx context.Context) error {
	l.publishing.Lock()
	defer l.publishing.Unlock()
	l.mu.Lock()
	closed, reg := l.closed, l.reg
	l.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if reg != nil && reg.State() != epmd.StateClosed {
		return nil
	}
	addr, ok := l.l.Addr().(*net.TCPAddr)
	if !ok {
		return fmt.Errorf("ei: publish %s: listening address %v is not TCP", l.node.Name, l.l.Addr())
	}
	c := *l.node.epmdClient()
	if c.Logger == nil {
		c.Logger = l.node.Logger
	}
	alive, _, _ := strings.Cut(l.node.Name, "@")
	reg, err := c.Publish(ctx, epmd.NodeInfo{
		Name:           alive,
		Port:           uint16(addr.Port),
		Type:           epmd.NodeTypeHidden,
		Protocol:       epmd.ProtocolTCP,
		HighestVersion: distVersion6,
		LowestVersion:  distVersion6,
	})
	if err != nil {
		return fmt.Errorf("ei: publish %s: %w", l.node.Name, err)
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		reg.Close()
		return ErrClosed
	}
	old := l.reg
	l.reg = reg
	l.mu.Unlock()
	if old != nil {
		old.Close()
	}
	l.node.creation.Store(reg.Creation())
	return nil
}

// Registration returns the epmd registration made by Publish, to follow
// its state (see epmd.Registration), or nil before Publish and after
// Close. The Listener closes it; do not close it yourself.
func (l *Listener) Registration() *epmd.Registration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reg
}

func (l *Listener) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// acceptLoop accepts connections and starts their handshakes until the
// Listener stops.
func (l *Listener) acceptLoop() {
	defer l.wg.Done()
	var delay time.Duration // after an accept error, as net/http does
	for {
		nc, err := l.l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				l.stop() // so that Accept returns ErrClosed
				return
			}
			// Such as running out of file descriptors: wait and retry.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			l.node.logger().Warn("ei: accept failed", "err", err, "retry_in", delay)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-l.closing:
				t.Stop()
				return
			}
			continue
		}
		delay = 0
		p := l.admit()
		if p == nil {
			nc.Close()
			return
		}
		l.wg.Add(1)
		go l.handshake(nc, p)
	}
}

// admit counts a new connection in. When maxPending connections are held
// already, it ends the oldest handshake under way and gives its place to
// the new connection; when all of them are established, it waits for
// Accept to take one, or returns nil when the Listener closes.
func (l *Listener) admit() *pendingConn {
	ctx, cancel := context.WithCancelCause(l.ctx)
	p := &pendingConn{ctx: ctx, cancel: cancel}
	for {
		l.pendMu.Lock()
		var old *pendingConn
		if l.pending >= maxPending {
			if e := l.running.Front(); e != nil {
				old = l.running.Remove(e).(*pendingConn)
				old.elem, old.evicted = nil, true
				l.pending--
			}
		}
		if l.pending < maxPending {
			l.pending++
			p.elem = l.running.PushBack(p)
			l.pendMu.Unlock()
			if old != nil {
				old.cancel(errEvicted)
			}
			return p
		}
		l.pendMu.Unlock()
		select {
		case <-l.freed:
		case <-l.closing:
			cancel(nil)
			return nil
		}
	}
}

// authenticated takes p, whose peer proved it has the cookie, off the
// handshakes that may be ended to make room. It reports false if that
// happened already.
func (l *Listener) authenticated(p *pendingConn) bool {
	l.pendMu.Lock()
	defer l.pendMu.Unlock()
	if p.evicted {
		return false
	}
	l.running.Remove(p.elem)
	p.elem = nil
	return true
}

// release counts p out, once its connection failed or went to Accept.
func (l *Listener) release(p *pendingConn) {
	l.pendMu.Lock()
	if !p.evicted {
		if p.elem != nil {
			l.running.Remove(p.elem)
			p.elem = nil
		}
		l.pending--
		select {
		case l.freed <- struct{}{}:
		default:
		}
	}
	l.pendMu.Unlock()
	p.cancel(nil)
}

// handshake runs the accepting side of the handshake on nc and hands the
// connection to Accept.
func (l *Listener) handshake(nc net.Conn, p *pendingConn) {
	defer l.wg.Done()
	defer l.release(p)
	remote := nc.RemoteAddr().String()
	authenticated := func() bool { return l.authenticated(p) }
	var c *Conn
	var err error
	if lay := l.node.lay.Load(); lay != nil {
		// The connection joins the node's table (peers.go).
		err = lay.accept(p.ctx, nc, l.nameTimeout, authenticated)
	} else {
		c, err = l.node.serverConn(p.ctx, nc, l.nameTimeout, authenticated, nil)
	}
	if err != nil {
		if l.ctx.Err() == nil && !errors.Is(err, errArbitrated) {
			if context.Cause(p.ctx) == errEvicted {
				err = errEvicted
			}
			l.node.logger().Warn("ei: handshake failed", "remote", remote, "err", err)
		}
		return
	}
	if c == nil {
		return // in the node's table
	}
	select {
	case l.conns <- c:
	case <-l.closing:
		c.Close()
	}
}

// Accept waits for the next connection whose handshake completed and
// returns it; the caller closes it. Handshakes run in the Listener (see
// Listener), so cancelling ctx interrupts the wait only, and a connection
// that arrives later goes to a later Accept. After Close, Accept returns
// ErrClosed. Once the node has mailboxes (see Node.NewMailbox), its
// connections join the node's table instead, and Accept returns none.
func (l *Listener) Accept(ctx context.Context) (*Conn, error) {
	select {
	case <-l.closing:
		return nil, ErrClosed
	default:
	}
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closing:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, fmt.Errorf("ei: accept: %w", ctx.Err())
	}
}

// stop closes the listening socket and interrupts the handshakes, without
// waiting for them.
func (l *Listener) stop() {
	l.stopped.Do(func() {
		close(l.closing)
		l.stopAll()
		l.stopErr = l.l.Close()
	})
}

// Close stops listening, ends the epmd registration, interrupts the
// handshakes under way and closes the established connections that
// Accept has not returned, and waits for the Listener's goroutines.
// Connections returned by Accept stay open. It returns the error of
// closing the listening socket.
func (l *Listener) Close() error {
	l.mu.Lock()
	l.closed = true
	reg := l.reg
	l.reg = nil
	l.mu.Unlock()
	if reg != nil {
		reg.Close()
	}
	l.stop()
	l.wg.Wait()
	return l.stopErr
}
