package epmd

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// message is what every EPMD message type implements.
type message interface {
	AppendBinary(b []byte) ([]byte, error)
	UnmarshalBinary(data []byte) error
}

// newLike returns a pointer to a new zero value of m's type.
func newLike(m message) message {
	return reflect.New(reflect.TypeOf(m).Elem()).Interface().(message)
}

// messageTests pairs every message type with its exact bytes. Requests are
// bodies without the 2-byte length prefix; replies are complete.
var messageTests = []struct {
	name string
	msg  message
	data []byte
}{
	{"ALIVE2_REQ", &Alive2Req{NodeInfo{Name: "foo", Port: 0x1234, Type: NodeTypeNormal, Protocol: ProtocolTCP,
		HighestVersion: 6, LowestVersion: 5}}, []byte{
		120,        // tag ALIVE2_REQ
		0x12, 0x34, // PortNo
		77,   // NodeType 'M'
		0,    // Protocol tcp
		0, 6, // HighestVersion
		0, 5, // LowestVersion
		0, 3, // Nlen
		'f', 'o', 'o', // NodeName
		0, 0, // Elen
	}},
	{"ALIVE2_REQ hidden with extra", &Alive2Req{NodeInfo{Name: "c1", Port: 65535, Type: NodeTypeHidden,
		Protocol: ProtocolTCP, HighestVersion: 6, LowestVersion: 6, Extra: []byte{0xde, 0xad}}}, []byte{
		120,        // tag ALIVE2_REQ
		0xff, 0xff, // PortNo
		72,   // NodeType 'H'
		0,    // Protocol tcp
		0, 6, // HighestVersion
		0, 6, // LowestVersion
		0, 2, // Nlen
		'c', '1', // NodeName
		0, 2, // Elen
		0xde, 0xad, // Extra
	}},
	{"ALIVE2_RESP", &Alive2Resp{Result: 0, Creation: 0x0102}, []byte{
		121,        // tag ALIVE2_RESP
		0,          // Result ok
		0x01, 0x02, // Creation
	}},
	{"ALIVE2_RESP refused", &Alive2Resp{Result: 1, Creation: 0}, []byte{
		121,  // tag ALIVE2_RESP
		1,    // Result refused
		0, 0, // Creation
	}},
	{"ALIVE2_X_RESP", &Alive2XResp{Result: 0, Creation: 0x01020304}, []byte{
		118,                    // tag ALIVE2_X_RESP
		0,                      // Result ok
		0x01, 0x02, 0x03, 0x04, // Creation
	}},
	{"ALIVE2_X_RESP refused", &Alive2XResp{Result: 1, Creation: 99}, []byte{
		118,         // tag ALIVE2_X_RESP
		1,           // Result refused, as OTP's epmd sends for a name in use
		0, 0, 0, 99, // Creation
	}},
	{"PORT_PLEASE2_REQ", &PortPlease2Req{Name: "foo"}, []byte{
		122,           // tag PORT_PLEASE2_REQ
		'f', 'o', 'o', // NodeName, the rest of the body
	}},
	{"PORT2_RESP", &Port2Resp{Result: 0, NodeInfo: NodeInfo{Name: "foo", Port: 0x1234, Type: NodeTypeNormal,
		Protocol: ProtocolTCP, HighestVersion: 6, LowestVersion: 5, Extra: []byte{1}}}, []byte{
		119,        // tag PORT2_RESP
		0,          // Result found
		0x12, 0x34, // PortNo
		77,   // NodeType 'M'
		0,    // Protocol tcp
		0, 6, // HighestVersion
		0, 5, // LowestVersion
		0, 3, // Nlen
		'f', 'o', 'o', // NodeName
		0, 1, // Elen
		1, // Extra
	}},
	{"PORT2_RESP not found", &Port2Resp{Result: 1}, []byte{
		119, // tag PORT2_RESP
		1,   // Result not found; nothing follows
	}},
	{"NAMES_REQ", &NamesReq{}, []byte{
		110, // tag NAMES_REQ
	}},
	{"NAMES_REQ reply", &NamesResp{EPMDPort: 4369, Names: []NameEntry{{"foo", 1234}, {"bar", 65535}}},
		append([]byte{
			0, 0, 0x11, 0x11, // EPMDPortNo 4369
		}, "name foo at port 1234\nname bar at port 65535\n"...), // NodeInfo lines
	},
	{"NAMES_REQ reply empty", &NamesResp{EPMDPort: 4369}, []byte{
		0, 0, 0x11, 0x11, // EPMDPortNo 4369, no lines
	}},
	{"DUMP_REQ", &DumpReq{}, []byte{
		100, // tag DUMP_REQ
	}},
	{"DUMP_REQ reply", &DumpResp{EPMDPort: 4369, Text: "active name     <foo> at port 1234, fd = 7\n\x00"},
		append([]byte{
			0, 0, 0x11, 0x11, // EPMDPortNo 4369
		}, "active name     <foo> at port 1234, fd = 7\n\x00"...), // Text, NUL-terminated lines as OTP sends
	},
	{"KILL_REQ", &KillReq{}, []byte{
		107, // tag KILL_REQ
	}},
	{"KILL_REQ reply", &KillResp{}, []byte{
		'O', 'K', // "OK"
	}},
	{"KILL_REQ reply refused", &KillResp{Refused: true}, []byte{
		'N', 'O', // "NO"
	}},
	{"STOP_REQ", &StopReq{Name: "foo"}, []byte{
		115,           // tag STOP_REQ
		'f', 'o', 'o', // NodeName, the rest of the body
	}},
	{"STOP_REQ reply", &StopResp{Stopped: true}, []byte("STOPPED")},
	{"STOP_REQ reply unknown", &StopResp{Stopped: false}, []byte("NOEXIST")},
}

func TestAppendBinary(t *testing.T) {
	for _, tt := range messageTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.msg.AppendBinary(nil)
			if err != nil || !bytes.Equal(got, tt.data) {
				t.Errorf("AppendBinary(%+v) = %x, %v, want %x", tt.msg, got, err, tt.data)
			}
			// AppendBinary appends: what is already in b stays.
			prefix := []byte{0xaa, 0xbb}
			got, err = tt.msg.AppendBinary(prefix)
			if want := append([]byte{0xaa, 0xbb}, tt.data...); err != nil || !bytes.Equal(got, want) {
				t.Errorf("AppendBinary(%x, %+v) = %x, %v, want %x", prefix, tt.msg, got, err, want)
			}
		})
	}
}

func TestUnmarshalBinary(t *testing.T) {
	for _, tt := range messageTests {
		t.Run(tt.name, func(t *testing.T) {
			got := newLike(tt.msg)
			if err := got.UnmarshalBinary(tt.data); err != nil || !reflect.DeepEqual(got, tt.msg) {
				t.Errorf("Decode(%x) = %+v, %v, want %+v", tt.data, got, err, tt.msg)
			}
		})
	}
}

func TestUnmarshalBinaryDoesNotAlias(t *testing.T) {
	data := []byte{119, 0, 0, 1, 77, 0, 0, 6, 0, 5, 0, 1, 'a', 0, 1, 'x'}
	var m Port2Resp
	if err := m.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	for i := range data {
		data[i] = 0
	}
	if m.Name != "a" || !bytes.Equal(m.Extra, []byte("x")) {
		t.Errorf("after clearing the input, Port2Resp = %+v, want name a, extra x", m)
	}
}

// TestUnmarshalBinaryOTPQuirks covers replies that OTP's epmd sends and
// that decode to values encoding differently.
func TestUnmarshalBinaryOTPQuirks(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want message
	}{
		// OTP's epmd falls through from NOEXIST to STOPPED.
		{"STOP_REQ reply NOEXISTSTOPPED", []byte("NOEXISTSTOPPED"), &StopResp{Stopped: false}},
		// Leading zeros in a port are tolerated.
		{"NAMES_REQ reply port 007", append([]byte{0, 0, 0x11, 0x11}, "name a at port 007\n"...),
			&NamesResp{EPMDPort: 4369, Names: []NameEntry{{"a", 7}}}},
		// The last " at port " splits a line.
		{"NAMES_REQ reply odd name", append([]byte{0, 0, 0, 1}, "name a at port 1 at port 2\n"...),
			&NamesResp{EPMDPort: 1, Names: []NameEntry{{"a at port 1", 2}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := newLike(tt.want)
			if err := got.UnmarshalBinary(tt.data); err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Decode(%x) = %+v, %v, want %+v", tt.data, got, err, tt.want)
			}
		})
	}
}

func TestUnmarshalBinaryErrors(t *testing.T) {
	long := strings.Repeat("n", MaxNameLen+1)
	tests := []struct {
		name    string
		msg     message
		data    []byte
		wantOff int
	}{
		{"ALIVE2_REQ empty", &Alive2Req{}, nil, 0},
		{"ALIVE2_REQ bad tag", &Alive2Req{}, []byte{122, 0, 1, 77, 0, 0, 6, 0, 5, 0, 1, 'a', 0, 0}, 0},
		{"ALIVE2_REQ truncated in fixed fields", &Alive2Req{}, []byte{
			120,  // tag
			0, 1, // PortNo
			77, // NodeType
		}, 4},
		{"ALIVE2_REQ truncated name", &Alive2Req{}, []byte{
			120, 0, 1, 77, 0, 0, 6, 0, 5, // tag to LowestVersion
			0, 3, // Nlen 3
			'a', 'b', // only 2 name bytes
		}, 11},
		{"ALIVE2_REQ truncated extra", &Alive2Req{}, []byte{
			120, 0, 1, 77, 0, 0, 6, 0, 5, // tag to LowestVersion
			0, 1, 'a', // name
			0, 2, // Elen 2
			'x', // only 1 extra byte
		}, 14},
		{"ALIVE2_REQ no Elen", &Alive2Req{}, []byte{
			120, 0, 1, 77, 0, 0, 6, 0, 5, // tag to LowestVersion
			0, 1, 'a', // name; Elen missing
		}, 12},
		{"ALIVE2_REQ empty name", &Alive2Req{}, []byte{
			120, 0, 1, 77, 0, 0, 6, 0, 5, // tag to LowestVersion
			0, 0, // Nlen 0
			0, 0, // Elen
		}, 9},
		{"ALIVE2_REQ name too long", &Alive2Req{}, append([]byte{
			120, 0, 1, 77, 0, 0, 6, 0, 5, // tag to LowestVersion
			byte(len(long) >> 8), byte(len(long)), // Nlen MaxNameLen+1
		}, append([]byte(long), 0, 0)...), 9},
		{"ALIVE2_REQ trailing", &Alive2Req{}, []byte{
			120, 0, 1, 77, 0, 0, 6, 0, 5, // tag to LowestVersion
			0, 1, 'a', 0, 0, // name, Elen
			9, // trailing
		}, 14},
		{"ALIVE2_RESP empty", &Alive2Resp{}, nil, 0},
		{"ALIVE2_RESP bad tag", &Alive2Resp{}, []byte{118, 0, 0, 1}, 0},
		{"ALIVE2_RESP truncated", &Alive2Resp{}, []byte{121, 0, 0}, 2},
		{"ALIVE2_RESP trailing", &Alive2Resp{}, []byte{121, 0, 0, 1, 0}, 4},
		{"ALIVE2_X_RESP bad tag", &Alive2XResp{}, []byte{121, 0, 0, 0, 0, 1}, 0},
		{"ALIVE2_X_RESP truncated", &Alive2XResp{}, []byte{118, 0, 0, 0, 1}, 2},
		{"ALIVE2_X_RESP trailing", &Alive2XResp{}, []byte{118, 0, 0, 0, 0, 1, 0}, 6},
		{"PORT_PLEASE2_REQ empty", &PortPlease2Req{}, nil, 0},
		{"PORT_PLEASE2_REQ bad tag", &PortPlease2Req{}, []byte{115, 'a'}, 0},
		{"PORT_PLEASE2_REQ no name", &PortPlease2Req{}, []byte{122}, 1},
		{"PORT_PLEASE2_REQ name too long", &PortPlease2Req{}, append([]byte{122}, long...), 1},
		{"PORT2_RESP empty", &Port2Resp{}, nil, 0},
		{"PORT2_RESP bad tag", &Port2Resp{}, []byte{121, 1}, 0},
		{"PORT2_RESP no result", &Port2Resp{}, []byte{119}, 1},
		{"PORT2_RESP ok without node", &Port2Resp{}, []byte{119, 0}, 2},
		{"PORT2_RESP not found trailing", &Port2Resp{}, []byte{119, 1, 0}, 2},
		{"PORT2_RESP empty name", &Port2Resp{}, []byte{
			119, 0, // tag, Result
			0, 1, 77, 0, 0, 6, 0, 5, // PortNo to LowestVersion
			0, 0, // Nlen 0
			0, 0, // Elen
		}, 10},
		{"PORT2_RESP truncated extra", &Port2Resp{}, []byte{
			119, 0, // tag, Result
			0, 1, 77, 0, 0, 6, 0, 5, // PortNo to LowestVersion
			0, 1, 'a', // name
			0xff, 0xff, // Elen 65535, no extra bytes
		}, 15},
		{"NAMES_REQ trailing", &NamesReq{}, []byte{110, 0}, 1},
		{"NAMES_REQ bad tag", &NamesReq{}, []byte{100}, 0},
		{"DUMP_REQ empty", &DumpReq{}, nil, 0},
		{"DUMP_REQ trailing", &DumpReq{}, []byte{100, 100}, 1},
		{"KILL_REQ bad tag", &KillReq{}, []byte{110}, 0},
		{"KILL_REQ trailing", &KillReq{}, []byte{107, 1}, 1},
		{"STOP_REQ no name", &StopReq{}, []byte{115}, 1},
		{"STOP_REQ name too long", &StopReq{}, append([]byte{115}, long...), 1},
		{"STOP_REQ bad tag", &StopReq{}, []byte{122, 'a'}, 0},
		{"NAMES_REQ reply short", &NamesResp{}, []byte{0, 0, 0x11}, 0},
		{"NAMES_REQ reply no newline", &NamesResp{}, append([]byte{0, 0, 0x11, 0x11}, "name a at port 1"...), 4},
		{"NAMES_REQ reply bad second line", &NamesResp{}, append([]byte{0, 0, 0x11, 0x11},
			"name a at port 1\nname b at port x\n"...), 21},
		{"NAMES_REQ reply port too big", &NamesResp{}, append([]byte{0, 0, 0x11, 0x11}, "name a at port 65536\n"...), 4},
		{"NAMES_REQ reply empty name", &NamesResp{}, append([]byte{0, 0, 0x11, 0x11}, "name  at port 1\n"...), 4},
		{"NAMES_REQ reply no prefix", &NamesResp{}, append([]byte{0, 0, 0x11, 0x11}, "node a at port 1\n"...), 4},
		{"DUMP_REQ reply short", &DumpResp{}, []byte{0, 0}, 0},
		{"KILL_REQ reply empty", &KillResp{}, nil, 0},
		{"KILL_REQ reply garbage", &KillResp{}, []byte("OKAY"), 0},
		{"STOP_REQ reply empty", &StopResp{}, nil, 0},
		{"STOP_REQ reply garbage", &StopResp{}, []byte("STOPPEDX"), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.msg.UnmarshalBinary(tt.data)
			var pe *ProtocolError
			if !errors.As(err, &pe) {
				t.Fatalf("Decode(%x) = %v, want *ProtocolError", tt.data, err)
			}
			if pe.Offset != tt.wantOff {
				t.Errorf("Decode(%x) = %v, want offset %d", tt.data, err, tt.wantOff)
			}
			if !strings.HasPrefix(err.Error(), "epmd: ") {
				t.Errorf("Decode(%x) error %q lacks the epmd: prefix", tt.data, err)
			}
		})
	}
}

func TestAppendBinaryErrors(t *testing.T) {
	long := strings.Repeat("n", MaxNameLen+1)
	tests := []struct {
		name string
		msg  message
	}{
		{"ALIVE2_REQ empty name", &Alive2Req{NodeInfo{Port: 1}}},
		{"ALIVE2_REQ name too long", &Alive2Req{NodeInfo{Name: long, Port: 1}}},
		{"ALIVE2_REQ extra too long", &Alive2Req{NodeInfo{Name: "a", Port: 1, Extra: make([]byte, 0x10000)}}},
		{"PORT2_RESP empty name", &Port2Resp{Result: 0}},
		{"PORT_PLEASE2_REQ empty name", &PortPlease2Req{}},
		{"PORT_PLEASE2_REQ name too long", &PortPlease2Req{Name: long}},
		{"STOP_REQ empty name", &StopReq{}},
		{"STOP_REQ name too long", &StopReq{Name: long}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := tt.msg.AppendBinary(nil); err == nil {
				t.Errorf("AppendBinary(%.40v) = %x, nil, want an error", tt.msg, got)
			}
		})
	}
}

func TestAppendBinaryLongestName(t *testing.T) {
	name := strings.Repeat("n", MaxNameLen)
	m := &PortPlease2Req{Name: name}
	data, err := m.AppendBinary(nil)
	if err != nil {
		t.Fatalf("AppendBinary(%d-byte name): %v", len(name), err)
	}
	var got PortPlease2Req
	if err := got.UnmarshalBinary(data); err != nil || got.Name != name {
		t.Errorf("Decode(%x) = %q, %v, want the %d-byte name", data, got.Name, err, len(name))
	}
}

func TestParseRequest(t *testing.T) {
	for _, tt := range messageTests {
		switch tt.msg.(type) {
		case *Alive2Req, *PortPlease2Req, *NamesReq, *DumpReq, *KillReq, *StopReq:
		default:
			continue // a reply
		}
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRequest(tt.data)
			if err != nil || !reflect.DeepEqual(got, tt.msg) {
				t.Errorf("ParseRequest(%x) = %#v, %v, want %#v", tt.data, got, err, tt.msg)
			}
		})
	}
	for _, data := range [][]byte{
		nil,            // empty
		{0},            // unknown tag
		{121, 0, 0, 1}, // a reply tag, ALIVE2_RESP
		{'O', 'K'},     // a bare reply
		{122},          // PORT_PLEASE2_REQ without a name
	} {
		got, err := ParseRequest(data)
		var pe *ProtocolError
		if !errors.As(err, &pe) {
			t.Errorf("ParseRequest(%x) = %#v, %v, want *ProtocolError", data, got, err)
		}
	}
}

func TestNodeTypeString(t *testing.T) {
	for _, tt := range []struct {
		t    NodeType
		want string
	}{
		{NodeTypeNormal, "normal"},
		{NodeTypeHidden, "hidden"},
		{NodeType(1), "NodeType(1)"},
	} {
		if got := tt.t.String(); got != tt.want {
			t.Errorf("NodeType(%d).String() = %q, want %q", uint8(tt.t), got, tt.want)
		}
	}
}

func BenchmarkPort2RespUnmarshal(b *testing.B) {
	data := []byte{119, 0, 0x12, 0x34, 77, 0, 0, 6, 0, 5, 0, 3, 'f', 'o', 'o', 0, 0}
	b.ReportAllocs()
	for b.Loop() {
		var m Port2Resp
		if err := m.UnmarshalBinary(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAlive2ReqAppend(b *testing.B) {
	m := &Alive2Req{NodeInfo{Name: "foo", Port: 0x1234, Type: NodeTypeHidden, HighestVersion: 6, LowestVersion: 5}}
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.AppendBinary(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
}
