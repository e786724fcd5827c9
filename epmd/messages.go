package epmd

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/goei/goei/internal/wire"
)

// Request tags and reply tags, as named in the Distribution Protocol spec.
const (
	tagAlive2Req      = 120 // ALIVE2_REQ
	tagAlive2Resp     = 121 // ALIVE2_RESP
	tagAlive2XResp    = 118 // ALIVE2_X_RESP
	tagPortPlease2Req = 122 // PORT_PLEASE2_REQ
	tagPort2Resp      = 119 // PORT2_RESP
	tagNamesReq       = 110 // NAMES_REQ
	tagDumpReq        = 100 // DUMP_REQ
	tagKillReq        = 107 // KILL_REQ
	tagStopReq        = 115 // STOP_REQ
)

// MaxNameLen is the longest node name (the part before '@'), in bytes, that
// messages carry: 255 characters of up to 4 UTF-8 bytes each, the limit of
// recent OTP releases' epmd (MAXSYMLEN). Older ones, such as OTP 25's,
// refuse names longer than 255 bytes.
const MaxNameLen = 255 * 4

// NodeType says whether a node is a normal Erlang node or a hidden node.
type NodeType uint8

const (
	NodeTypeNormal NodeType = 77 // 'M': normal Erlang node
	NodeTypeHidden NodeType = 72 // 'H': hidden node, such as a C-node
)

func (t NodeType) String() string {
	switch t {
	case NodeTypeNormal:
		return "normal"
	case NodeTypeHidden:
		return "hidden"
	}
	return "NodeType(" + strconv.Itoa(int(t)) + ")"
}

// ProtocolTCP is the only protocol value epmd defines: TCP/IPv4.
const ProtocolTCP uint8 = 0

// NodeInfo describes a node as ALIVE2_REQ registers it and PORT2_RESP returns it.
type NodeInfo struct {
	Name           string   // node name without "@host"
	Port           uint16   // distribution listen port
	Type           NodeType // NodeTypeNormal or NodeTypeHidden
	Protocol       uint8    // ProtocolTCP
	HighestVersion uint16   // highest distribution version, 6 since OTP 23
	LowestVersion  uint16   // lowest distribution version
	Extra          []byte   // opaque extra data, usually empty
}

// appendTo appends the layout shared by ALIVE2_REQ and PORT2_RESP:
//
//	PortNo:2 NodeType:1 Protocol:1 HighestVersion:2 LowestVersion:2
//	Nlen:2 NodeName:Nlen Elen:2 Extra:Elen
func (n *NodeInfo) appendTo(b []byte) ([]byte, error) {
	if len(n.Name) == 0 || len(n.Name) > MaxNameLen {
		return b, fmt.Errorf("epmd: node name length %d not in 1..%d", len(n.Name), MaxNameLen)
	}
	if len(n.Extra) > 0xffff {
		return b, fmt.Errorf("epmd: extra is %d bytes, more than 65535", len(n.Extra))
	}
	b = binary.BigEndian.AppendUint16(b, n.Port)
	b = append(b, byte(n.Type), n.Protocol)
	b = binary.BigEndian.AppendUint16(b, n.HighestVersion)
	b = binary.BigEndian.AppendUint16(b, n.LowestVersion)
	b = binary.BigEndian.AppendUint16(b, uint16(len(n.Name)))
	b = append(b, n.Name...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(n.Extra)))
	return append(b, n.Extra...), nil
}

// readFrom reads the layout written by appendTo, copying name and extra.
// A name length outside 1..MaxNameLen is a ProtocolError at the Nlen field;
// truncation is left for finish to report.
func (n *NodeInfo) readFrom(r *wire.Reader, what string) error {
	n.Port = r.Uint16()
	n.Type = NodeType(r.Uint8())
	n.Protocol = r.Uint8()
	n.HighestVersion = r.Uint16()
	n.LowestVersion = r.Uint16()
	off := r.Offset()
	nlen := int(r.Uint16())
	if !r.Failed() && (nlen == 0 || nlen > MaxNameLen) {
		return &ProtocolError{Offset: off, Msg: fmt.Sprintf("%s: node name length %d not in 1..%d", what, nlen, MaxNameLen)}
	}
	n.Name = string(r.Bytes(nlen))
	n.Extra = r.Copy(int(r.Uint16()))
	return nil
}

// readName reads the rest of a request as a node name, as PORT_PLEASE2_REQ
// and STOP_REQ carry it, and checks its length.
func readName(r *wire.Reader, what string) (string, error) {
	off := r.Offset()
	name := r.Rest()
	if len(name) == 0 || len(name) > MaxNameLen {
		return "", &ProtocolError{Offset: off, Msg: fmt.Sprintf("%s: node name length %d not in 1..%d", what, len(name), MaxNameLen)}
	}
	return string(name), nil
}

// finish turns a reader's state at the end of a decode into an error:
// truncation, or bytes left over.
func finish(r *wire.Reader, what string) error {
	if r.Failed() {
		return &ProtocolError{Offset: r.Offset(), Msg: what + " truncated"}
	}
	if r.Len() != 0 {
		return &ProtocolError{Offset: r.Offset(), Msg: fmt.Sprintf("%s has %d trailing bytes", what, r.Len())}
	}
	return nil
}

// expectTag reads a tag byte and reports a ProtocolError when it differs.
func expectTag(r *wire.Reader, tag byte, what string) error {
	got := r.Uint8()
	if r.Failed() {
		return &ProtocolError{Offset: 0, Msg: what + " is empty"}
	}
	if got != tag {
		return &ProtocolError{Offset: 0, Msg: fmt.Sprintf("%s: tag %d, want %d", what, got, tag)}
	}
	return nil
}

// Alive2Req registers a node (ALIVE2_REQ). Layout after the length prefix:
//
//	120:1 PortNo:2 NodeType:1 Protocol:1 HighestVersion:2 LowestVersion:2
//	Nlen:2 NodeName:Nlen Elen:2 Extra:Elen
type Alive2Req struct {
	NodeInfo
}

// AppendBinary appends the request body (without the length prefix).
func (m *Alive2Req) AppendBinary(b []byte) ([]byte, error) {
	return m.appendTo(append(b, tagAlive2Req))
}

// UnmarshalBinary decodes a request body (without the length prefix).
func (m *Alive2Req) UnmarshalBinary(data []byte) error {
	r := wire.NewReader(data)
	if err := expectTag(r, tagAlive2Req, "ALIVE2_REQ"); err != nil {
		return err
	}
	if err := m.readFrom(r, "ALIVE2_REQ"); err != nil {
		return err
	}
	return finish(r, "ALIVE2_REQ")
}

// Alive2Resp answers ALIVE2_REQ from nodes of version 5 (ALIVE2_RESP):
//
//	121:1 Result:1 Creation:2
type Alive2Resp struct {
	Result   uint8  // 0 means registered
	Creation uint16 // the node's creation
}

// AppendBinary appends the reply.
func (m *Alive2Resp) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, tagAlive2Resp, m.Result)
	return binary.BigEndian.AppendUint16(b, m.Creation), nil
}

// UnmarshalBinary decodes the reply.
func (m *Alive2Resp) UnmarshalBinary(data []byte) error {
	r := wire.NewReader(data)
	if err := expectTag(r, tagAlive2Resp, "ALIVE2_RESP"); err != nil {
		return err
	}
	m.Result = r.Uint8()
	m.Creation = r.Uint16()
	return finish(r, "ALIVE2_RESP")
}

// Alive2XResp answers ALIVE2_REQ with a 32-bit creation (ALIVE2_X_RESP):
//
//	118:1 Result:1 Creation:4
type Alive2XResp struct {
	Result   uint8  // 0 means registered
	Creation uint32 // the node's creation
}

// AppendBinary appends the reply.
func (m *Alive2XResp) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, tagAlive2XResp, m.Result)
	return binary.BigEndian.AppendUint32(b, m.Creation), nil
}

// UnmarshalBinary decodes the reply.
func (m *Alive2XResp) UnmarshalBinary(data []byte) error {
	r := wire.NewReader(data)
	if err := expectTag(r, tagAlive2XResp, "ALIVE2_X_RESP"); err != nil {
		return err
	}
	m.Result = r.Uint8()
	m.Creation = r.Uint32()
	return finish(r, "ALIVE2_X_RESP")
}

// PortPlease2Req asks for a node's port (PORT_PLEASE2_REQ):
//
//	122:1 NodeName:rest
type PortPlease2Req struct {
	Name string // node name without "@host"
}

// AppendBinary appends the request body.
func (m *PortPlease2Req) AppendBinary(b []byte) ([]byte, error) {
	if len(m.Name) == 0 || len(m.Name) > MaxNameLen {
		return b, fmt.Errorf("epmd: node name length %d not in 1..%d", len(m.Name), MaxNameLen)
	}
	return append(append(b, tagPortPlease2Req), m.Name...), nil
}

// UnmarshalBinary decodes a request body.
func (m *PortPlease2Req) UnmarshalBinary(data []byte) error {
	r := wire.NewReader(data)
	if err := expectTag(r, tagPortPlease2Req, "PORT_PLEASE2_REQ"); err != nil {
		return err
	}
	name, err := readName(r, "PORT_PLEASE2_REQ")
	if err != nil {
		return err
	}
	m.Name = name
	return nil
}

// Port2Resp answers PORT_PLEASE2_REQ (PORT2_RESP). On success:
//
//	119:1 Result:1=0 PortNo:2 NodeType:1 Protocol:1 HighestVersion:2
//	LowestVersion:2 Nlen:2 NodeName:Nlen Elen:2 Extra:Elen
//
// On failure only the first two bytes: 119:1 Result:1 (non-zero).
type Port2Resp struct {
	Result uint8 // 0 means found; then NodeInfo is set
	NodeInfo
}

// AppendBinary appends the reply.
func (m *Port2Resp) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, tagPort2Resp, m.Result)
	if m.Result != 0 {
		return b, nil
	}
	return m.appendTo(b)
}

// UnmarshalBinary decodes the reply.
func (m *Port2Resp) UnmarshalBinary(data []byte) error {
	r := wire.NewReader(data)
	if err := expectTag(r, tagPort2Resp, "PORT2_RESP"); err != nil {
		return err
	}
	m.Result = r.Uint8()
	m.NodeInfo = NodeInfo{}
	if m.Result == 0 && !r.Failed() {
		if err := m.readFrom(r, "PORT2_RESP"); err != nil {
			return err
		}
	}
	return finish(r, "PORT2_RESP")
}

// NamesReq asks for the registered names (NAMES_REQ): 110:1.
type NamesReq struct{}

// AppendBinary appends the request body.
func (m *NamesReq) AppendBinary(b []byte) ([]byte, error) { return append(b, tagNamesReq), nil }

// UnmarshalBinary decodes a request body.
func (m *NamesReq) UnmarshalBinary(data []byte) error {
	return unmarshalBare(data, tagNamesReq, "NAMES_REQ")
}

// DumpReq asks for a dump of epmd's tables (DUMP_REQ): 100:1.
type DumpReq struct{}

// AppendBinary appends the request body.
func (m *DumpReq) AppendBinary(b []byte) ([]byte, error) { return append(b, tagDumpReq), nil }

// UnmarshalBinary decodes a request body.
func (m *DumpReq) UnmarshalBinary(data []byte) error {
	return unmarshalBare(data, tagDumpReq, "DUMP_REQ")
}

// KillReq asks epmd to exit (KILL_REQ): 107:1.
type KillReq struct{}

// AppendBinary appends the request body.
func (m *KillReq) AppendBinary(b []byte) ([]byte, error) { return append(b, tagKillReq), nil }

// UnmarshalBinary decodes a request body.
func (m *KillReq) UnmarshalBinary(data []byte) error {
	return unmarshalBare(data, tagKillReq, "KILL_REQ")
}

func unmarshalBare(data []byte, tag byte, what string) error {
	r := wire.NewReader(data)
	if err := expectTag(r, tag, what); err != nil {
		return err
	}
	return finish(r, what)
}

// StopReq unregisters a node by name (STOP_REQ):
//
//	115:1 NodeName:rest
type StopReq struct {
	Name string // node name without "@host"
}

// AppendBinary appends the request body.
func (m *StopReq) AppendBinary(b []byte) ([]byte, error) {
	if len(m.Name) == 0 || len(m.Name) > MaxNameLen {
		return b, fmt.Errorf("epmd: node name length %d not in 1..%d", len(m.Name), MaxNameLen)
	}
	return append(append(b, tagStopReq), m.Name...), nil
}

// UnmarshalBinary decodes a request body.
func (m *StopReq) UnmarshalBinary(data []byte) error {
	r := wire.NewReader(data)
	if err := expectTag(r, tagStopReq, "STOP_REQ"); err != nil {
		return err
	}
	name, err := readName(r, "STOP_REQ")
	if err != nil {
		return err
	}
	m.Name = name
	return nil
}

// Replies to KILL_REQ and STOP_REQ are bare text, read until epmd closes.
var (
	replyOK      = []byte("OK")      // KILL_REQ done
	replyNo      = []byte("NO")      // KILL_REQ refused: nodes are registered
	replyStopped = []byte("STOPPED") // STOP_REQ done
	replyNoExist = []byte("NOEXIST") // STOP_REQ for an unknown name

	// replyNoExistOTP is what OTP's epmd sends for an unknown name: it
	// falls through from NOEXIST to STOPPED.
	replyNoExistOTP = []byte("NOEXISTSTOPPED")
)

// KillResp answers KILL_REQ: the two bytes "OK", after which epmd exits, or
// "NO" when it refuses, as OTP's epmd does while nodes are registered unless
// it runs with -relaxed_command_check.
type KillResp struct {
	Refused bool // true for "NO", false for "OK"
}

// AppendBinary appends the reply.
func (m *KillResp) AppendBinary(b []byte) ([]byte, error) {
	if m.Refused {
		return append(b, replyNo...), nil
	}
	return append(b, replyOK...), nil
}

// UnmarshalBinary decodes the reply.
func (m *KillResp) UnmarshalBinary(data []byte) error {
	switch {
	case bytes.Equal(data, replyOK):
		m.Refused = false
	case bytes.Equal(data, replyNo):
		m.Refused = true
	default:
		return &ProtocolError{Msg: fmt.Sprintf("KILL_REQ reply %q, want OK or NO", data)}
	}
	return nil
}

// StopResp answers STOP_REQ: "STOPPED", or "NOEXIST" when no such node was
// registered. OTP's epmd follows "NOEXIST" with "STOPPED" in the same reply;
// UnmarshalBinary reads "NOEXISTSTOPPED" as NOEXIST, and AppendBinary writes
// plain "NOEXIST".
type StopResp struct {
	Stopped bool // true for "STOPPED", false for "NOEXIST"
}

// AppendBinary appends the reply.
func (m *StopResp) AppendBinary(b []byte) ([]byte, error) {
	if m.Stopped {
		return append(b, replyStopped...), nil
	}
	return append(b, replyNoExist...), nil
}

// UnmarshalBinary decodes the reply.
func (m *StopResp) UnmarshalBinary(data []byte) error {
	switch {
	case bytes.Equal(data, replyStopped):
		m.Stopped = true
	case bytes.Equal(data, replyNoExist), bytes.Equal(data, replyNoExistOTP):
		m.Stopped = false
	default:
		return &ProtocolError{Msg: fmt.Sprintf("STOP_REQ reply %q, want STOPPED or NOEXIST", data)}
	}
	return nil
}

// NameEntry is one line of a NAMES_REQ reply.
type NameEntry struct {
	Name string // node name without "@host"
	Port uint16 // distribution port
}

// NamesResp answers NAMES_REQ: epmd's own port, then a text line per node:
//
//	EPMDPortNo:4 NodeInfo:rest  where each line is "name NAME at port PORT\n"
type NamesResp struct {
	EPMDPort uint32      // the port epmd listens on
	Names    []NameEntry // registered nodes, in epmd's order
}

// AppendBinary appends the reply.
func (m *NamesResp) AppendBinary(b []byte) ([]byte, error) {
	b = binary.BigEndian.AppendUint32(b, m.EPMDPort)
	for _, n := range m.Names {
		b = append(b, "name "...)
		b = append(b, n.Name...)
		b = append(b, " at port "...)
		b = strconv.AppendUint(b, uint64(n.Port), 10)
		b = append(b, '\n')
	}
	return b, nil
}

// UnmarshalBinary decodes the reply. Lines that do not read
// "name NAME at port PORT" are a ProtocolError.
func (m *NamesResp) UnmarshalBinary(data []byte) error {
	r := wire.NewReader(data)
	m.EPMDPort = r.Uint32()
	if r.Failed() {
		return &ProtocolError{Msg: "NAMES_REQ reply shorter than 4 bytes"}
	}
	m.Names = nil
	off := r.Offset()
	for line := range bytes.Lines(r.Rest()) {
		e, ok := parseNameLine(line)
		if !ok {
			return &ProtocolError{Offset: off, Msg: fmt.Sprintf("NAMES_REQ reply line %q", line)}
		}
		m.Names = append(m.Names, e)
		off += len(line)
	}
	return nil
}

// parseNameLine parses "name NAME at port PORT\n". Names cannot hold
// spaces, so the last " at port " splits the line.
func parseNameLine(line []byte) (NameEntry, bool) {
	line, ok := bytes.CutSuffix(line, []byte("\n"))
	if !ok {
		return NameEntry{}, false
	}
	rest, ok := bytes.CutPrefix(line, []byte("name "))
	if !ok {
		return NameEntry{}, false
	}
	i := bytes.LastIndex(rest, []byte(" at port "))
	if i <= 0 {
		return NameEntry{}, false
	}
	port, err := strconv.ParseUint(string(rest[i+len(" at port "):]), 10, 16)
	if err != nil {
		return NameEntry{}, false
	}
	return NameEntry{Name: string(rest[:i]), Port: uint16(port)}, true
}

// DumpResp answers DUMP_REQ: epmd's own port, then free text describing
// every entry in its tables, live and unused:
//
//	EPMDPortNo:4 Text:rest
type DumpResp struct {
	EPMDPort uint32 // the port epmd listens on
	Text     string // human-readable table dump
}

// AppendBinary appends the reply.
func (m *DumpResp) AppendBinary(b []byte) ([]byte, error) {
	b = binary.BigEndian.AppendUint32(b, m.EPMDPort)
	return append(b, m.Text...), nil
}

// UnmarshalBinary decodes the reply.
func (m *DumpResp) UnmarshalBinary(data []byte) error {
	r := wire.NewReader(data)
	m.EPMDPort = r.Uint32()
	if r.Failed() {
		return &ProtocolError{Msg: "DUMP_REQ reply shorter than 4 bytes"}
	}
	m.Text = string(r.Rest())
	return nil
}

// Request is a decoded request body, one of *Alive2Req, *PortPlease2Req,
// *NamesReq, *DumpReq, *KillReq or *StopReq.
type Request interface {
	AppendBinary(b []byte) ([]byte, error)
	UnmarshalBinary(data []byte) error
}

// ParseRequest decodes a request body (without its length prefix) by its tag.
// Unknown tags and malformed bodies give a *ProtocolError.
func ParseRequest(data []byte) (Request, error) {
	if len(data) == 0 {
		return nil, &ProtocolError{Msg: "empty request"}
	}
	var req Request
	switch data[0] {
	case tagAlive2Req:
		req = new(Alive2Req)
	case tagPortPlease2Req:
		req = new(PortPlease2Req)
	case tagNamesReq:
		req = new(NamesReq)
	case tagDumpReq:
		req = new(DumpReq)
	case tagKillReq:
		req = new(KillReq)
	case tagStopReq:
		req = new(StopReq)
	default:
		return nil, &ProtocolError{Msg: fmt.Sprintf("unknown request tag %d", data[0])}
	}
	if err := req.UnmarshalBinary(data); err != nil {
		return nil, err
	}
	return req, nil
}
