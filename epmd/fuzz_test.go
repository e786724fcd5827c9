package epmd

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"reflect"
	"testing"
)

// Every decoder gets a fuzz target checking that arbitrary bytes give a
// value or a *ProtocolError (never a panic), and that a decoded value
// encodes and decodes to the same value. Run one with, for example,
//
//	go test -fuzz=FuzzPort2Resp -fuzztime=45s ./epmd
//
// Crashers land in testdata/fuzz/<FuzzName>/ and become regression tests.

// addSeeds adds the bytes of every table message of m's type, and extra.
func addSeeds(f *testing.F, m message, extra ...[]byte) {
	for _, tt := range messageTests {
		if reflect.TypeOf(tt.msg) == reflect.TypeOf(m) {
			f.Add(tt.data)
		}
	}
	for _, data := range extra {
		f.Add(data)
	}
}

// checkRoundTrip decodes data into a new value like m; on success it
// encodes that value and decodes it again, and wants the same value back.
// It returns the encoding, or nil when data did not decode.
func checkRoundTrip(t *testing.T, m message, data []byte) []byte {
	t.Helper()
	m1 := newLike(m)
	if err := m1.UnmarshalBinary(data); err != nil {
		checkProtocolError(t, data, err)
		return nil
	}
	enc, err := m1.AppendBinary(nil)
	if err != nil {
		t.Fatalf("AppendBinary(Decode(%x) = %+v) = %v", data, m1, err)
	}
	m2 := newLike(m)
	if err := m2.UnmarshalBinary(enc); err != nil || !reflect.DeepEqual(m1, m2) {
		t.Fatalf("Decode(%x) = %+v, %v, want %+v (from Decode(%x))", enc, m2, err, m1, data)
	}
	return enc
}

// checkProtocolError wants err to be a *ProtocolError inside data.
func checkProtocolError(t *testing.T, data []byte, err error) {
	t.Helper()
	var pe *ProtocolError
	if !errors.As(err, &pe) {
		t.Fatalf("Decode(%x) = %v, want *ProtocolError", data, err)
	}
	if pe.Offset < 0 || pe.Offset > len(data) {
		t.Fatalf("Decode(%x) = %v, offset outside the %d bytes", data, err, len(data))
	}
}

func FuzzParseRequest(f *testing.F) {
	for _, tt := range messageTests {
		f.Add(tt.data)
	}
	f.Add([]byte{})
	f.Add([]byte{120, 0, 1, 77, 0, 0, 6, 0, 5, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := ParseRequest(data)
		if err != nil {
			checkProtocolError(t, data, err)
			return
		}
		// Request decoders are strict, so the bytes come back exactly.
		enc, err := req.AppendBinary(nil)
		if err != nil || !bytes.Equal(enc, data) {
			t.Fatalf("AppendBinary(ParseRequest(%x) = %+v) = %x, %v, want the input", data, req, enc, err)
		}
		again, err := ParseRequest(enc)
		if err != nil || !reflect.DeepEqual(again, req) {
			t.Fatalf("ParseRequest(%x) = %+v, %v, want %+v", enc, again, err, req)
		}
	})
}

func FuzzAlive2Req(f *testing.F) {
	addSeeds(f, &Alive2Req{}, []byte{120, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 'a', 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) { checkRoundTrip(t, &Alive2Req{}, data) })
}

func FuzzAlive2Resp(f *testing.F) {
	addSeeds(f, &Alive2Resp{}, []byte{121})
	f.Fuzz(func(t *testing.T, data []byte) { checkRoundTrip(t, &Alive2Resp{}, data) })
}

func FuzzAlive2XResp(f *testing.F) {
	addSeeds(f, &Alive2XResp{}, []byte{118, 1})
	f.Fuzz(func(t *testing.T, data []byte) { checkRoundTrip(t, &Alive2XResp{}, data) })
}

func FuzzPort2Resp(f *testing.F) {
	addSeeds(f, &Port2Resp{}, []byte{119, 0, 0, 1, 72, 0, 0, 6, 0, 5, 0, 1, 'a', 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		valid := checkRoundTrip(t, &Port2Resp{}, data) != nil
		// The client stops reading where port2RespLen says a reply ends.
		n := port2RespLen(data)
		if n < 0 || n > len(data) {
			t.Fatalf("port2RespLen(%x) = %d, outside the %d bytes", data, n, len(data))
		}
		if valid && (n != len(data) || port2RespLen(data[:len(data)-1]) != 0) {
			t.Fatalf("port2RespLen(%x) = %d, port2RespLen(without the last byte) = %d; want %d, 0", data, n, port2RespLen(data[:len(data)-1]), len(data))
		}
	})
}

func FuzzNamesResp(f *testing.F) {
	addSeeds(f, &NamesResp{},
		append([]byte{0, 0, 0x11, 0x11}, "name a at port 007\n"...),
		append([]byte{0, 0, 0x11, 0x11}, "name a at port 1 at port 2\n"...),
		append([]byte{0, 0, 0x11, 0x11}, "name a at port 1"...))
	f.Fuzz(func(t *testing.T, data []byte) { checkRoundTrip(t, &NamesResp{}, data) })
}

func FuzzDumpResp(f *testing.F) {
	addSeeds(f, &DumpResp{})
	f.Fuzz(func(t *testing.T, data []byte) {
		// Dump text is free-form, so the bytes come back exactly.
		if enc := checkRoundTrip(t, &DumpResp{}, data); enc != nil && !bytes.Equal(enc, data) {
			t.Fatalf("AppendBinary(Decode(%x)) = %x, want the input", data, enc)
		}
	})
}

func FuzzStopResp(f *testing.F) {
	addSeeds(f, &StopResp{}, []byte("NOEXISTSTOPPED"))
	f.Fuzz(func(t *testing.T, data []byte) { checkRoundTrip(t, &StopResp{}, data) })
}

func FuzzKillResp(f *testing.F) {
	addSeeds(f, &KillResp{})
	f.Fuzz(func(t *testing.T, data []byte) { checkRoundTrip(t, &KillResp{}, data) })
}

// replyConn is a net.Conn that swallows writes and reads a canned reply.
type replyConn struct {
	net.Conn // nil: other methods are not used
	r        io.Reader
}

func (c replyConn) Read(b []byte) (int, error)  { return c.r.Read(b) }
func (c replyConn) Write(b []byte) (int, error) { return len(b), nil }

// FuzzAlive2Reply feeds arbitrary replies to Publish's reply reader, which
// picks ALIVE2_RESP or ALIVE2_X_RESP by the first byte and reads no further.
func FuzzAlive2Reply(f *testing.F) {
	addSeeds(f, &Alive2Resp{})
	addSeeds(f, &Alive2XResp{}, []byte{118, 0, 0}, []byte{121, 0, 0, 1, 0xff}, []byte{0})
	f.Fuzz(func(t *testing.T, data []byte) {
		creation, err := alive2(replyConn{r: bytes.NewReader(data)}, nil)
		if err != nil {
			var pe *ProtocolError
			var re *RefusedError
			if !errors.As(err, &pe) && !errors.As(err, &re) {
				t.Fatalf("alive2(%x) = %v, want *ProtocolError or *RefusedError", data, err)
			}
			return
		}
		// Success needs a whole reply with result 0; bytes after it are
		// left unread.
		var want uint32
		switch {
		case len(data) >= 4 && data[0] == tagAlive2Resp && data[1] == 0:
			want = uint32(binary.BigEndian.Uint16(data[2:]))
		case len(data) >= 6 && data[0] == tagAlive2XResp && data[1] == 0:
			want = binary.BigEndian.Uint32(data[2:])
		default:
			t.Fatalf("alive2(%x) = %d, nil, want an error", data, creation)
		}
		if creation != want {
			t.Fatalf("alive2(%x) = %d, want %d", data, creation, want)
		}
	})
}
