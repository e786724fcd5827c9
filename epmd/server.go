package epmd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// DefaultPacketTimeout is the PacketTimeout used when the field is zero,
// the default of OTP's epmd (-packet_timeout 60).
const DefaultPacketTimeout = 60 * time.Second

// Server is an EPMD server, wire-compatible with OTP's epmd: it answers
// ALIVE2_REQ, PORT_PLEASE2_REQ, NAMES_REQ, DUMP_REQ, KILL_REQ and STOP_REQ
// with the bytes OTP's epmd sends, hands out creations by the same rules,
// and validates names the same way. Unlike OTP's epmd it has no limit on
// the number of registered nodes besides the process's file descriptors.
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

	// PacketTimeout bounds the time a client has to send a request and
	// read the reply; zero means DefaultPacketTimeout. Registered nodes'
	// connections have no timeout.
	PacketTimeout time.Duration

	// Logger receives a record per request at level Debug, registrations
	// at Info and rejected requests at Warn. Nil means no logging.
	Logger *slog.Logger

	mu        sync.Mutex
	reg       *registry
	listeners map[*net.Listener]struct{}
	conns     map[*serverConn]struct{}
	closing   bool // Shutdown, Close or KILL_REQ has begun
	nextID    atomic.Uint64
	wg        sync.WaitGroup // connection goroutines
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
// On Linux, Serve accepts on a listener from Listen with raw system calls
// rather than l.Accept.
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
		s.accepted(reg, a, buf, got)
	}
}

// accepted serves a new connection, of which buf holds the got bytes that
// had arrived when it was accepted. When they are a whole
// PORT_PLEASE2_REQ, whose reply is small enough never to block, it
// answers at once; that spares the common lookup a goroutine and the
// thread handoffs that come with it. Anything else gets a goroutine.
func (s *Server) accepted(reg *registry, a accepted, buf *[inbufSize]byte, got int) {
	if got >= 3 && buf[2] == tagPortPlease2Req && int(binary.BigEndian.Uint16(buf[:]))+2 == got {
		id := s.nextID.Add(1)
		reply, ok := s.port2Reply(reg, id, buf[2:got])
		bufPool.Put(buf)
		if err := a.replyClose(reply); err != nil && ok {
			s.log(slog.LevelWarn, "failed to send reply", "conn", id, "op", "PORT_PLEASE2_REQ", "err", err)
		}
		return
	}
	c, err := a.conn()
	if err != nil {
		bufPool.Put(buf)
		a.replyClose(nil)
		s.log(slog.LevelWarn, "cannot serve connection", "err", err)
		return
	}
	sc := s.track(c)
	if sc == nil {
		bufPool.Put(buf)
		c.Close()
		return
	}
	go s.serveConn(reg, sc, buf, got)
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

// track records a new connection, or returns nil when the server is closing.
func (s *Server) track(c net.Conn) *serverConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
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
// read already; serveConn returns it to bufPool.
func (s *Server) serveConn(reg *registry, sc *serverConn, buf *[inbufSize]byte, got int) {
	defer s.forget(sc)
	defer sc.Close()
	defer func() {
		if buf != nil {
			bufPool.Put(buf)
		}
	}()
	sc.SetDeadline(time.Now().Add(s.packetTimeout()))

	// Like OTP's epmd, read what is there, up to a full buffer, and drop
	// the connection if the peer sent more than its packet.
	n, err := io.ReadAtLeast(sc, buf[got:inbufSize-1], max(2-got, 0))
	got += n
	if err != nil {
		if got > 0 {
			s.log(slog.LevelWarn, "partial packet", "conn", sc.id, "bytes", got, "err", err)
		}
		return
	}
	want := int(binary.BigEndian.Uint16(buf[:])) + 2
	if want < 3 || want >= inbufSize {
		s.log(slog.LevelWarn, "invalid packet size", "conn", sc.id, "size", want-2)
		return
	}
	if got > want {
		s.log(slog.LevelWarn, "more bytes than the packet length", "conn", sc.id, "got", got-2, "want", want-2)
		return
	}
	if _, err := io.ReadFull(sc, buf[got:want]); err != nil {
		s.log(slog.LevelWarn, "partial packet", "conn", sc.id, "err", err)
		return
	}
	req := buf[2:want]
	if req[0] == tagAlive2Req {
		// This goroutine lives as long as the registration: give the
		// buffer back now rather than hold it.
		req = bytes.Clone(req)
		bufPool.Put(buf)
		buf = nil
	}
	s.handle(reg, sc, req)
}

// handle serves the request body req on sc.
func (s *Server) handle(reg *registry, sc *serverConn, req []byte) {
	switch req[0] {
	case tagAlive2Req:
		s.alive2(reg, sc, req)
	case tagPortPlease2Req:
		s.portPlease2(reg, sc, req)
	case tagNamesReq:
		s.log(slog.LevelDebug, "NAMES_REQ", "conn", sc.id)
		b := binary.BigEndian.AppendUint32(make([]byte, 0, 256), uint32(localPort(sc)))
		s.reply(sc, "NAMES_REQ", reg.appendNames(b))
	case tagDumpReq:
		s.log(slog.LevelDebug, "DUMP_REQ", "conn", sc.id)
		if !s.local(sc, "DUMP_REQ") {
			return
		}
		b := binary.BigEndian.AppendUint32(make([]byte, 0, 256), uint32(localPort(sc)))
		s.reply(sc, "DUMP_REQ", reg.appendDump(b))
	case tagKillReq:
		s.log(slog.LevelDebug, "KILL_REQ", "conn", sc.id)
		if !s.local(sc, "KILL_REQ") {
			return
		}
		if !s.RelaxedCommandCheck && reg.count() > 0 {
			s.log(slog.LevelWarn, "KILL_REQ refused: nodes are registered", "conn", sc.id)
			s.reply(sc, "KILL_REQ", []byte("NO"))
			return
		}
		s.reply(sc, "KILL_REQ", replyOK)
		s.log(slog.LevelInfo, "KILL_REQ: closing", "conn", sc.id)
		s.beginClose(true)
	case tagStopReq:
		s.stop(reg, sc, req)
	default:
		s.log(slog.LevelWarn, "unknown request", "conn", sc.id, "tag", req[0])
	}
}

// alive2 registers a node and, whether or not that succeeds, keeps sc open
// until the peer closes it or sends more, as OTP's epmd does.
func (s *Server) alive2(reg *registry, sc *serverConn, req []byte) {
	if !s.local(sc, "ALIVE2_REQ") {
		return
	}
	info, ok := parseAlive2(req)
	if !ok {
		s.log(slog.LevelWarn, "malformed ALIVE2_REQ", "conn", sc.id)
		return
	}
	n := reg.register(info, sc.id, sc)
	var b []byte
	result, creation := uint8(1), uint32(99) // OTP's reply on failure
	if n != nil {
		result, creation = 0, n.creation()
	}
	if info.HighestVersion >= 6 {
		b, _ = (&Alive2XResp{Result: result, Creation: creation}).AppendBinary(nil)
	} else {
		b, _ = (&Alive2Resp{Result: result, Creation: uint16(creation)}).AppendBinary(nil)
	}
	if n == nil {
		s.log(slog.LevelWarn, "ALIVE2_REQ refused", "conn", sc.id, "name", info.Name)
	}
	if !s.reply(sc, "ALIVE2_REQ", b) {
		if n != nil {
			reg.unregister(n)
		}
		return
	}
	if n != nil {
		s.log(slog.LevelInfo, "registered", "conn", sc.id, "name", info.Name, "port", info.Port,
			"type", info.Type, "creation", creation)
		defer func() {
			if reg.unregister(n) {
				s.log(slog.LevelInfo, "unregistered", "conn", sc.id, "name", info.Name)
			}
		}()
	}

	s.mu.Lock()
	closing := s.closing
	sc.alive = true
	s.mu.Unlock()
	if closing {
		return
	}
	sc.SetDeadline(time.Time{})
	var one [1]byte
	if k, _ := sc.Read(one[:]); k > 0 {
		s.log(slog.LevelWarn, "data on ALIVE2 connection", "conn", sc.id)
	}
}

// parseAlive2 decodes an ALIVE2_REQ body with OTP epmd's leniency: bytes
// after the extra data are ignored. It fails, and epmd then closes the
// connection without a reply, when the body is too short or the name
// holds a NUL.
func parseAlive2(req []byte) (NodeInfo, bool) {
	if len(req) <= 13 {
		return NodeInfo{}, false
	}
	nlen := int(binary.BigEndian.Uint16(req[9:]))
	if nlen+13 > len(req) {
		return NodeInfo{}, false
	}
	elen := int(binary.BigEndian.Uint16(req[11+nlen:]))
	if elen+nlen+13 > len(req) {
		return NodeInfo{}, false
	}
	name := req[11 : 11+nlen]
	if bytes.IndexByte(name, 0) >= 0 {
		return NodeInfo{}, false
	}
	return NodeInfo{
		Name:           string(name),
		Port:           binary.BigEndian.Uint16(req[1:]),
		Type:           NodeType(req[3]),
		Protocol:       req[4],
		HighestVersion: binary.BigEndian.Uint16(req[5:]),
		LowestVersion:  binary.BigEndian.Uint16(req[7:]),
		Extra:          bytes.Clone(req[13+nlen : 13+nlen+elen]),
	}, true
}

// portPlease2 answers PORT_PLEASE2_REQ.
func (s *Server) portPlease2(reg *registry, sc *serverConn, req []byte) {
	if b, ok := s.port2Reply(reg, sc.id, req); ok {
		s.reply(sc, "PORT_PLEASE2_REQ", b)
	}
}

// port2Reply returns the reply to the PORT_PLEASE2_REQ body req, which
// came on connection id, or false when there is none. Like OTP's epmd it
// drops one trailing NUL and ignores names with a NUL, invalid UTF-8 or
// more than 254 characters. The reply must not be modified.
func (s *Server) port2Reply(reg *registry, id uint64, req []byte) ([]byte, bool) {
	name := req[1:]
	if len(name) > 0 && name[len(name)-1] == 0 {
		name = name[:len(name)-1]
	}
	// OTP's epmd counts the terminating NUL as a character, so the
	// longest name it looks up has 254 characters.
	if len(name) == 0 || bytes.IndexByte(name, 0) >= 0 || !utf8.Valid(name) ||
		utf8.RuneCount(name) > maxSymChars-1 {
		s.log(slog.LevelWarn, "invalid node name in PORT_PLEASE2_REQ", "conn", id)
		return nil, false
	}
	n := reg.lookup(string(name))
	if s.Logger != nil {
		s.log(slog.LevelDebug, "PORT_PLEASE2_REQ", "conn", id, "name", string(name), "found", n != nil)
	}
	if n == nil {
		return port2NotFound, true
	}
	return n.port2, true
}

// port2NotFound is the PORT2_RESP for a name that is not registered.
var port2NotFound = []byte{tagPort2Resp, 1}

// stop answers STOP_REQ. As in OTP's epmd, an unknown name is answered
// "NOEXIST" followed by "STOPPED"; clients read the first seven bytes.
func (s *Server) stop(reg *registry, sc *serverConn, req []byte) {
	s.log(slog.LevelDebug, "STOP_REQ", "conn", sc.id)
	if !s.local(sc, "STOP_REQ") {
		return
	}
	if !s.RelaxedCommandCheck {
		s.log(slog.LevelWarn, "STOP_REQ refused without RelaxedCommandCheck", "conn", sc.id)
		return
	}
	if len(req) <= 1 {
		return
	}
	name := req[1:]
	if i := bytes.IndexByte(name, 0); i >= 0 {
		name = name[:i]
	}
	var b []byte
	if n := reg.unregisterName(string(name)); n != nil {
		n.conn.Close()
		s.log(slog.LevelInfo, "stopped", "conn", sc.id, "name", string(name))
	} else {
		b = append(b, replyNoExist...)
	}
	s.reply(sc, "STOP_REQ", append(b, replyStopped...))
}

// reply writes b to sc and reports whether all of it went out.
func (s *Server) reply(sc *serverConn, op string, b []byte) bool {
	if _, err := sc.Write(b); err != nil {
		s.log(slog.LevelWarn, "failed to send reply", "conn", sc.id, "op", op, "err", err)
		return false
	}
	return true
}

// local reports whether sc's peer may send op, logging when it may not.
func (s *Server) local(sc *serverConn, op string) bool {
	if isLocal(sc.RemoteAddr(), sc.LocalAddr()) {
		return true
	}
	s.log(slog.LevelWarn, op+" from non-local address", "conn", sc.id, "remote", sc.RemoteAddr().String())
	return false
}

// isLocal reports whether a peer at remote is on this host: a loopback
// address, the same address as local, or not an IP address at all.
func isLocal(remote, local net.Addr) bool {
	r, ok := ipOf(remote)
	if !ok {
		return true
	}
	if r.IsLoopback() {
		return true
	}
	l, ok := ipOf(local)
	return ok && r.Equal(l)
}

func ipOf(a net.Addr) (net.IP, bool) {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.IP, true
	case *net.UDPAddr:
		return a.IP, true
	case *net.IPAddr:
		return a.IP, true
	}
	return nil, false
}

// localPort returns the port sc came in on, which NAMES_REQ and DUMP_REQ
// report, or 0 for a non-TCP connection.
func localPort(sc *serverConn) int {
	if a, ok := sc.LocalAddr().(*net.TCPAddr); ok {
		return a.Port
	}
	if _, p, err := net.SplitHostPort(sc.LocalAddr().String()); err == nil {
		if n, err := strconv.Atoi(p); err == nil {
			return n
		}
	}
	return 0
}
