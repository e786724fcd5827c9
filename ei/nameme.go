package ei

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/goei/goei/internal/wire"
)

// Dynamic node names (DFLAG_NAME_ME, OTP 23 and later): a node started as
// "undefined@host" (erl -sname undefined) has no name of its own. When it
// connects, it sends its host alone and asks the node it connects to for a
// name, which that node makes up and returns in the status "named:".

// dynamicAlive is the alive part of a node name that asks its peers for a
// name, as in erl -sname undefined.
const dynamicAlive = "undefined"

// ErrNoName is returned by Node.Pid, Node.CurrentName and Node.ServerConn
// of a node with a dynamic name ("undefined@host") before a peer has
// assigned it a name, or after the connection on which it got one went
// down. Node.Connect gets one.
var ErrNoName = errors.New("ei: the node has no name yet: a node named undefined@host gets one when it connects")

// statusNamed starts the status an acceptor sends to a node that asked
// for a name: 's' "named:" NameLen:16 Name Creation:32.
const statusNamed = "snamed:"

// namedStatus is the status "named:" with the name and creation the
// accepting node assigned to the connecting one (dist_util:send_status):
//
//	's' "named:" | NameLen:16 | Name:NameLen | Creation:32 | ignored...
//
// A receiver ignores bytes after Creation, as OTP's recv_status does.
type namedStatus struct {
	Name     string // the full node name, alive@host
	Creation uint32
}

// appendBinary appends the status message, without its length prefix.
func (m *namedStatus) appendBinary(b []byte) ([]byte, error) {
	if len(m.Name) > 0xffff {
		return nil, fmt.Errorf("ei: named status: name of %d bytes is too long", len(m.Name))
	}
	b = append(b, statusNamed...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(m.Name)))
	b = append(b, m.Name...)
	return binary.BigEndian.AppendUint32(b, m.Creation), nil
}

// unmarshalBinary decodes a status message that starts with "snamed:".
func (m *namedStatus) unmarshalBinary(data []byte) error {
	if !strings.HasPrefix(string(data), statusNamed) {
		return &ProtocolError{Offset: 0, Msg: fmt.Sprintf("ei: named status: message %q does not start with %q", data, statusNamed)}
	}
	r := wire.NewReader(data[len(statusNamed):])
	name := r.Bytes(int(r.Uint16()))
	creation := r.Uint32()
	if r.Failed() {
		return &ProtocolError{Offset: len(data), Msg: "ei: named status: message truncated"}
	}
	m.Name = string(name)
	m.Creation = creation
	return nil
}

// recvNamed reads the status that answers a request for a name and
// returns the name and creation the peer assigned. As in OTP, a node that
// asked for a name accepts no other status.
func (h *handshake) recvNamed(msg []byte) (Atom, uint32, error) {
	if !strings.HasPrefix(string(msg), statusNamed) {
		return "", 0, &HandshakeError{Peer: h.peerName(), Status: string(msg[1:])}
	}
	var m namedStatus
	if err := m.unmarshalBinary(msg); err != nil {
		return "", 0, h.protoError(err.(*ProtocolError).Offset, "recv_status: %s", strings.TrimPrefix(err.Error(), "ei: "))
	}
	alive, host, _ := strings.Cut(m.Name, "@")
	if alive == "" || host != h.self || len(m.Name) > maxNodeNameLen {
		return "", 0, h.protoError(len(statusNamed)+2, "recv_status: assigned name %q is not a name on host %q", m.Name, h.self)
	}
	return Atom(m.Name), m.Creation, nil
}

// assignName makes up a name and creation for a peer that asked for one
// with the host in p.name, as net_kernel does: a random integer below
// 2^64 in base 36, "@", the host; the creation is random and at least 4.
// It sets p's name and creation and returns the status to send.
func (h *handshake) assignName(p *peerInfo) ([]byte, error) {
	var b [12]byte
	if _, err := io.ReadFull(h.node.random(), b[:]); err != nil {
		return nil, fmt.Errorf("ei: handshake with %s: assign a name: %w", h.peerName(), err)
	}
	alive := strings.ToUpper(strconv.FormatUint(binary.BigEndian.Uint64(b[:8]), 36))
	m := namedStatus{
		Name:     alive + "@" + string(p.name),
		Creation: max(binary.BigEndian.Uint32(b[8:]), 4),
	}
	if len(m.Name) > maxNodeNameLen {
		return nil, h.protoError(0, "recv_name: host %q is too long for a node name", p.name)
	}
	p.name = Atom(m.Name)
	p.creation = m.Creation
	h.peer = m.Name
	return m.appendBinary(nil)
}

// naming is the dynamic-name state of a Node.
type naming struct {
	dynamic  bool       // Name is "undefined@host"
	mu       sync.Mutex // held while asking a peer for a name
	assigned atomic.Pointer[assignedName]
}

// assignedName is the name a peer assigned to the node, valid while the
// connection on which it came is up, as in OTP, where the node restarts
// its distribution when that connection goes down.
type assignedName struct {
	name string
	conn *Conn
}

// CurrentName returns the node's name: Node.Name, or, for a dynamic
// name ("undefined@host"), the one the peer of its first connection
// assigned, as long as that connection is up; before that, and after it
// went down, it returns ErrNoName.
func (n *Node) CurrentName() (string, error) {
	if err := n.init(); err != nil {
		return "", err
	}
	return n.currentName()
}

// currentName is CurrentName for an initialized node.
func (n *Node) currentName() (string, error) {
	if !n.naming.dynamic {
		return n.Name, nil
	}
	a := n.naming.assigned.Load()
	if a == nil {
		return "", ErrNoName
	}
	select {
	case <-a.conn.Done():
		n.naming.assigned.CompareAndSwap(a, nil)
		return "", ErrNoName
	default:
		return a.name, nil
	}
}

// nameForClient prepares h, the connecting side of a handshake, for a
// node with a dynamic name: with a name it uses it, else it asks the peer
// for one. The returned function, called with the handshake's result,
// adopts an assigned name; until then other connects wait, so that a node
// gets one name.
func (n *Node) nameForClient(h *handshake) (done func(*Conn, peerInfo)) {
	if !n.naming.dynamic {
		return func(*Conn, peerInfo) {}
	}
	if name, err := n.currentName(); err == nil {
		h.self = name
		return func(*Conn, peerInfo) {}
	}
	n.naming.mu.Lock()
	if name, err := n.currentName(); err == nil {
		n.naming.mu.Unlock()
		h.self = name
		return func(*Conn, peerInfo) {}
	}
	_, host, _ := strings.Cut(n.Name, "@")
	h.self = host
	h.nameMe = true
	return func(c *Conn, p peerInfo) {
		defer n.naming.mu.Unlock()
		if c == nil {
			return
		}
		n.creation.Store(p.selfCreation)
		n.naming.assigned.Store(&assignedName{name: string(p.self), conn: c})
	}
}
