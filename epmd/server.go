package epmd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultPacketTimeout is the PacketTimeout used when the field is zero,
// the default of OTP's epmd (-packet_timeout 60).
const DefaultPacketTimeout = 60 * time.Second

// Server is an EPMD server, wire-compatible with OTP's epmd: it answers
// ALIVE2_REQ, PORT_PLEASE2_REQ, NAMES_REQ, DUMP_REQ, KILL_REQ and STOP_REQ
// with the bytes OTP's epmd sends, hands out creations by the same rules,
// and validates names the same way. Unlike OTP's epmd it has no limit on
// the number of registered nodes besides the process's file descriptors,
// and serving a connection takes no descriptor besides the connection's
// own.
//
// Each connection carries one request. An ALIVE2_REQ connection stays open
// for as long as the node is registered: the node is unregistered when the
// peer closes it or sends anything more. Requests that OTP's epmd ignores,
// such as unknown tags, malformed bodies and packets of 3058 bytes or more,
// close the connection without a reply.
//
// ALIVE2_REQ, DUMP_REQ, KILL_REQ and STOP_REQ are only served to local
// peers: a loopback address, the address the connection came in on, or a
// non-IP connection such as a Unix socket. KILL_REQ is refused with "NO"
// while nodes are registered, and STOP_REQ is ignored, unless
// RelaxedCommandCheck is set. An accepted KILL_REQ is answered "OK" and
// then closes the server as Close does.
//
// The zero Server is ready to use. Its fields must not change once it
// serves. Its methods are safe for concurrent use.
type Server struct {
	// Addr is the TCP address ListenAndServe listens on; "" means ":4369".
	Addr string

	// RelaxedCommandCheck allows KILL_REQ while nodes are registered and
	// enables STOP_REQ, like epmd -relaxed_command_check.
	RelaxedCommandCheck bool

	// PacketTimeout bounds how long a connection may stay silent while
	// its request is incomplete, and how long sending the reply may take;
	// zero means DefaultPacketTimeout. Like OTP's epmd, which counts it
	// in whole seconds of the clock, the server allows half a second more,
	// so that a client pausing exactly PacketTimeout between the bytes of
	// its request is still served. Registered nodes' connections have no
	// timeout.
	PacketTimeout time.Duration

	// Logger receives a record per request at level Debug, registrations
	// at Info, and at Warn the events that OTP's epmd reports without -d:
	// malformed and refused requests, and connections closed before their
	// request was whole. Connections dropped after PacketTimeout, and
	// registered nodes that send data, are logged at Info, as OTP's epmd
	// reports them only with -d. Nil means no logging.
	Logger *slog.Logger

	mu        sync.Mutex
	reg       *registry
	listeners map[*net.Listener]struct{}
	conns     map[*serverConn]struct{}
	loops     map[*epollLoop]struct{} // where Serve waits on Linux
	closing   bool                    // Shutdown, Close or KILL_REQ has begun
	nextID    atomic.Uint64
	wg        sync.WaitGroup // connection goroutines, and epoll loops whose Serve returned
}

// serverConn is one accepted connection.
type serverConn struct {
	net.Conn
	id    uint64
	alive bool // holds a registration; guarded by Server.mu
}

// registry returns the server's registry, creating it on first use.
func (s *Server) registry() *registry {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reg == nil {
		s.reg = newRegistry()
	}
	return s.reg
}

func (s *Server) packetTimeout() time.Duration {
	if s.PacketTimeout > 0 {
		return s.PacketTimeout
	}
	return DefaultPacketTimeout
}

// ListenAndServe listens on s.Addr with Listen and serves. It returns ErrServerClosed
// after Shutdown or Close, or the error that stopped it.
func (s *Server) ListenAndServe() error {
	addr := s.Addr
	if addr == "" {
		addr = ":4369"
	}
	if s.isClosing() {
		return ErrServerClosed
	}
	l, err := Listen(context.Background(), addr)
	if err != nil {
		return err
	}
	return s.Serve(l)
}

// Serve accepts connections on l and serves each in its own goroutine,
// except that a PORT_PLEASE2_REQ that has fully arrived when its
// connection is accepted is answered at once (see Listen). Serve may be
// called for several listeners, which then share the registered nodes.
// On Linux, Serve waits for a listener from Listen and for the nodes it
// registers in an epoll instance of its own, as OTP's epmd does in
// select: it answers a whole ALIVE2_REQ at once too, and a registered
// node holds no goroutine. Those nodes stay registered when Serve returns
// while the server runs on.
// Serve closes l. It returns ErrServerClosed after Shutdown, Close
// or an accepted KILL_REQ, or else the error from accepting.
func (s *Server) Serve(l net.Listener) error {
	reg := s.registry()
	if !s.trackListener(&l, true) {
		l.Close()
		return ErrServerClosed
	}
	defer s.trackListener(&l, false)
	defer l.Close()
	if done, err := s.serveRaw(reg, l); done {
		return err
	}
	acc := newAccepter(l)
	var delay time.Duration
	for {
		buf := bufPool.Get().(*[inbufSize]byte)
		a, got, err := acc.accept(buf[:inbufSize-1])
		if err != nil {
			bufPool.Put(buf)
			if s.isClosing() {
				return ErrServerClosed
			}
			var te interface{ Temporary() bool }
			if errors.As(err, &te) && te.Temporary() {
				// Out of file descriptors, say: back off and retry.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log(slog.LevelWarn, "accept failed; retrying", "err", err, "delay", delay)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		s.accepted(reg, a, buf, got, nil)
	}
}

// accepted serves a new connection, of which buf holds the got bytes that
// had arrived when it was accepted. When they are a whole
// PORT_PLEASE2_REQ, whose reply is small enough never to block, it
// answers at once; that spares the common lookup a goroutine and the
// thread handoffs that come with it. So it does with a whole ALIVE2_REQ
// when p, the epollLoop that accepted the connection, can watch it.
// Anything else gets a goroutine.
func (s *Server) accepted(reg *registry, a accepted, buf *[inbufSize]byte, got int, p *epollLoop) {
	if got >= 3 && int(binary.BigEndian.Uint16(buf[:]))+2 == got {
		switch buf[2] {
		case tagPortPlease2Req:
			id := s.nextID.Add(1)
			reply, ok := s.port2Reply(reg, id, buf[2:got])
			bufPool.Put(buf)
			if err := a.replyClose(reply); err != nil && ok {
				s.log(slog.LevelWarn, "failed to send reply", "conn", id, "op", "PORT_PLEASE2_REQ", "err", err)
			}
			return
		case tagAlive2Req:
			if s.aliveNow(reg, a, buf[2:got], p) {
				bufPool.Put(buf)
				return
			}
		}
	}
	sc := s.track(a.conn())
	if sc == nil {
		bufPool.Put(buf)
		return
	}
	go s.serveConn(reg, sc, buf, got, a.waited)
}

func (s *Server) trackListener(l *net.Listener, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.closing {
			return false
		}
		if s.listeners == nil {
			s.listeners = make(map[*net.Listener]struct{})
		}
		s.listeners[l] = struct{}{}
	} else {
		delete(s.listeners, l)
	}
	return true
}

// track records a new connection. When the server is closing it closes c
// and returns nil.
func (s *Server) track(c net.Conn) *serverConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		c.Close()
		return nil
	}
	if s.conns == nil {
		s.conns = make(map[*serverConn]struct{})
	}
	sc := &serverConn{Conn: c, id: s.nextID.Add(1)}
	s.conns[sc] = struct{}{}
	s.wg.Add(1)
	return sc
}

func (s *Server) forget(sc *serverConn) {
	s.mu.Lock()
	delete(s.conns, sc)
	s.mu.Unlock()
	s.wg.Done()
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// beginClose stops accepting and closes the listeners, then closes either
// every connection or only those of registered nodes, which are idle.
func (s *Server) beginClose(all bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing = true
	for l := range s.listeners {
		(*l).Close()
	}
	for p := range s.loops {
		p.close()
	}
	for sc := range s.conns {
		if all || sc.alive {
			sc.Close()
		}
	}
}

// Close closes the listeners and every connection, which unregisters every
// node, and waits for the connection goroutines to end. Serve then returns
// ErrServerClosed.
func (s *Server) Close() error {
	s.beginClose(true)
	s.wg.Wait()
	return nil
}

// Shutdown closes the listeners and the connections of registered nodes,
// lets requests in progress finish, and waits for their goroutines. When
// ctx ends first it closes the remaining connections, waits for them, and
// returns ctx's error. Serve then returns ErrServerClosed.
func (s *Server) Shutdown(ctx context.Context) error {
	s.beginClose(false)
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.beginClose(true)
		<-done
		return ctx.Err()
	}
}

func (s *Server) log(level slog.Level, msg string, args ...any) {
	if s.Logger != nil {
		s.Logger.Log(context.Background(), level, msg, args...)
	}
}

// bufPool holds request buffers of inbufSize bytes.
var bufPool = sync.Pool{New: func() any { return new([inbufSize]byte) }}

// serveConn reads one request from sc and answers it. buf holds got bytes
// read already, and the connection had been idle for waited before it
// was accepted; serveConn returns buf to bufPool.
func (s *Server) serveConn(reg *registry, sc *serverConn, buf *[inbufSize]byte, got int, waited time.Duration) {
	defer s.forget(sc)
	defer sc.Close()
	defer func() {
		if buf != nil {
			bufPool.Put(buf)
		}
	}()
	req, ok := s.readRequest(sc, buf, got, waited)
	if !ok {
		return
	}
	sc.SetDeadline(time.Now().Add(s.idleLimit()))
	if req[0] == tagAlive2Req {
		// This goroutine lives as long as the registration: give the
		// buffer back now rather than hold it.
		req = bytes.Clone(req)
		bufPool.Put(buf)
		buf = nil
	}
	s.handle(reg, sc, req)
}

// logs reports whether s logs records at level.
func (s *Server) logs(level slog.Level) bool {
	return s.Logger != nil && s.Logger.Enabled(context.Background(), level)
}
