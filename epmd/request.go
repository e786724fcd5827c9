package epmd

import (
	"bytes"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"strconv"
	"time"
	"unicode/utf8"
)

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
	b, n, ok := s.register(reg, sc.id, req, sc)
	if !ok {
		return
	}
	if !s.reply(sc, "ALIVE2_REQ", b) {
		if n != nil {
			reg.unregister(n)
		}
		return
	}
	if n != nil {
		s.registered(sc.id, n)
		defer s.unregister(reg, sc.id, n)
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
		s.log(slog.LevelInfo, "data on ALIVE2 connection", "conn", sc.id)
	}
}

// register registers the node that the ALIVE2_REQ body req, from a local
// peer on connection id, describes, bound to conn, and returns the reply.
// The node is nil when the registration is refused; the reply then says
// so. It returns false when the request gets no reply at all.
func (s *Server) register(reg *registry, id uint64, req []byte, conn io.Closer) ([]byte, *node, bool) {
	info, ok := parseAlive2(req)
	if !ok {
		s.log(slog.LevelWarn, "malformed ALIVE2_REQ", "conn", id)
		return nil, nil, false
	}
	n := reg.register(info, id, conn)
	result, creation := uint8(1), uint32(99) // OTP's reply on failure
	if n != nil {
		result, creation = 0, n.creation()
	} else {
		s.log(slog.LevelWarn, "ALIVE2_REQ refused", "conn", id, "name", info.Name)
	}
	var b []byte
	if info.HighestVersion >= 6 {
		b, _ = (&Alive2XResp{Result: result, Creation: creation}).AppendBinary(make([]byte, 0, 6))
	} else {
		b, _ = (&Alive2Resp{Result: result, Creation: uint16(creation)}).AppendBinary(make([]byte, 0, 4))
	}
	return b, n, true
}

// registered logs that n, on connection id, is registered.
func (s *Server) registered(id uint64, n *node) {
	if s.logs(slog.LevelInfo) {
		s.log(slog.LevelInfo, "registered", "conn", id, "name", n.info.Name, "port", n.info.Port,
			"type", n.info.Type, "creation", n.creation())
	}
}

// unregister unregisters n, on connection id, if it still is registered.
func (s *Server) unregister(reg *registry, id uint64, n *node) {
	if reg.unregister(n) && s.logs(slog.LevelInfo) {
		s.log(slog.LevelInfo, "unregistered", "conn", id, "name", n.info.Name)
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
	if s.logs(slog.LevelDebug) {
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
