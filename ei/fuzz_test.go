package ei

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"path/filepath"
	"reflect"
	"testing"
	"testing/synctest"
)

func addSeeds(f *testing.F, withVersion bool) {
	for _, g := range readGoldens(f) {
		if withVersion {
			f.Add(g.data)
		} else {
			f.Add(g.data[1:])
		}
	}
	for _, tt := range codecTests {
		if withVersion {
			f.Add(append([]byte{131}, tt.data...))
		} else {
			f.Add(tt.data)
		}
	}
}

// roundTrip checks that a decoded term encodes, and decodes back to itself
// with the same encoding.
func roundTrip(t *testing.T, data []byte, term Term) {
	enc, err := Marshal(term)
	if err != nil {
		t.Fatalf("Marshal(Unmarshal(%x)) error: %v (term %#v)", data, err, term)
	}
	again, err := Unmarshal(enc)
	if err != nil || !reflect.DeepEqual(again, term) {
		t.Fatalf("Unmarshal(Marshal(Unmarshal(%x))) = %#v, %v, want %#v", data, again, err, term)
	}
	if enc2, _ := Marshal(again); string(enc2) != string(enc) {
		t.Fatalf("Marshal is not stable: %x then %x", enc, enc2)
	}
}

func FuzzUnmarshal(f *testing.F) {
	addSeeds(f, true)
	f.Fuzz(func(t *testing.T, data []byte) {
		term, err := Unmarshal(data)
		if err != nil {
			return
		}
		roundTrip(t, data, term)
		textRoundTrip(t, term)
	})
}

// textRoundTrip checks that a decoded term prints in both styles, equals
// itself, and reads back from its text when it has a syntax.
func textRoundTrip(t *testing.T, term Term) {
	if Compare(term, term) != 0 {
		t.Fatalf("Compare(%s, itself) != 0", FormatTerm(term))
	}
	AppendPrintTerm(nil, term)
	for _, verb := range []byte{'p', 'w'} {
		text := AppendFormat(nil, term, verb)
		if !hasSyntax(term) {
			continue
		}
		back, err := ParseTerm(string(text))
		if err != nil || Compare(back, term) != 0 {
			t.Fatalf("ParseTerm(%s) = %v, %v, want the term back", text, back, err)
		}
	}
}

// FuzzDecoder checks Decoder against the Reader: both accept the same
// inputs and consume the same bytes. It checks too that a Decoder with
// Reuse, carried from input to input, decodes each as a fresh one does,
// and that measure counts what decoding takes.
func FuzzDecoder(f *testing.F) {
	addSeeds(f, false)
	f.Add([]byte{104, 2, 82, 0, 82, 3})
	reuse := Decoder{AtomCache: []Atom{"a", "n@h", "é"}, Reuse: true}
	f.Fuzz(func(t *testing.T, data []byte) {
		d := Decoder{AtomCache: []Atom{"a", "n@h", "é"}}
		term, n, derr := d.Decode(data)
		if rt, rn, err := reuse.Decode(data); (err == nil) != (derr == nil) || rn != n || !reflect.DeepEqual(rt, term) {
			t.Fatalf("Decode(%x) with Reuse = %#v, %d, %v, want %#v, %d, %v", data, rt, rn, err, term, n, derr)
		}
		checkMeasure(t, data)
		r := NewReader(data)
		r.AtomCache = d.AtomCache
		serr := r.Skip()
		if (derr == nil) != (serr == nil) || (derr == nil && r.Offset() != n) {
			t.Fatalf("Decode(%x) = %d, %v but Skip = %d, %v", data, n, derr, r.Offset(), serr)
		}
		if derr != nil {
			if r.Offset() != 0 {
				t.Fatalf("failed Skip(%x) consumed %d bytes", data, r.Offset())
			}
			return
		}
		if n <= 0 || n > len(data) {
			t.Fatalf("Decode(%x) consumed %d bytes", data, n)
		}
		r = NewReader(data)
		r.AtomCache = d.AtomCache
		if rt, err := r.ReadTerm(); err != nil || !reflect.DeepEqual(rt, term) || r.Offset() != n {
			t.Fatalf("ReadTerm(%x) = %#v, %v, want %#v", data, rt, err, term)
		}
		roundTrip(t, data, term)
	})
}

// frameStreamSeeds are streams of frames as a peer sends them after the
// handshake: ticks, the atom cache set up and used across frames,
// fragments, pass-through messages, and a frame longer than a small
// read buffer.
func frameStreamSeeds() [][]byte {
	frame := func(b []byte) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...) }
	regSend := joinBytes([]byte{131, 68, 2, 0x98, 0x00, 5, 3, 'a', '@', 'h', 7, 3, 'r', 'e', 'g'}, regSendCached)
	return [][]byte{
		erlFrames(3, 8),
		erlFrames(1, 4100),
		joinBytes([]byte{0, 0, 0, 0}, frame(regSend), frame(joinBytes([]byte{131, 68, 2, 0x10, 0x00, 5, 7}, regSendCached))),
		joinBytes(
			frame(joinBytes([]byte{131, 69, 0, 0, 0, 0, 0, 0, 0, 42, 0, 0, 0, 0, 0, 0, 0, 3, 2, 0x98, 0x00, 5, 3, 'a', '@', 'h', 7, 3, 'r', 'e', 'g'}, regSendCached[:5])),
			frame(joinBytes([]byte{131, 70, 0, 0, 0, 0, 0, 0, 0, 42, 0, 0, 0, 0, 0, 0, 0, 2}, regSendCached[5:10])),
			frame(joinBytes([]byte{131, 70, 0, 0, 0, 0, 0, 0, 0, 42, 0, 0, 0, 0, 0, 0, 0, 1}, regSendCached[10:])),
		),
		frame(joinBytes([]byte{112, 131, 104, 3, 97, 2, 119, 0}, []byte{88, 119, 3, 'a', '@', 'h', 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9}, []byte{131, 119, 1, 'm'})),
		// UNLINK_ID, which the Conn answers.
		frame([]byte{131, 68, 0, 104, 4, 97, 35, 97, 7, 88, 119, 3, 'a', '@', 'h', 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9, 88, 119, 3, 'a', '@', 'h', 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 9}),
	}
}

// receiveAll feeds data to c from its peer's end of the pipe, closes the
// peer's end, and receives until the connection goes down (see
// receiveUntilDown).
func receiveAll(t *testing.T, c *Conn, peer net.Conn, data []byte) {
	go func() {
		peer.Write(data)
		peer.Close()
	}()
	go io.Copy(io.Discard, peer) // what c sends: UNLINK_ID acks, ticks
	receiveUntilDown(t, c)
}

// receiveUntilDown receives from c until it goes down, which must be for
// a reason other than a timeout: its peer sent all it had and closed the
// connection. Each message must survive a round trip through our encoder.
func receiveUntilDown(t *testing.T, c *Conn) {
	for {
		m, err := c.Receive(context.Background())
		if err != nil {
			if errors.Is(err, ErrTimeout) {
				t.Errorf("Receive() = %v, want the end of the stream", err)
			}
			return
		}
		checkReencode(t, m)
	}
}

// FuzzConnFrames feeds a stream of frames to a live Conn, whose read
// buffer holds 4096 bytes and whose message size limit is 64 KiB, so that
// frames are read both from the buffer and beyond it, and limits are hit.
// The atom cache and fragments carry over from frame to frame.
func FuzzConnFrames(f *testing.F) {
	for _, s := range frameStreamSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		synctest.Test(t, func(t *testing.T) {
			c, peer := newRawConnNode(t, &Node{Name: "a@host", Cookie: "c", Creation: 1, MaxMessageSize: 64 << 10}, DefaultFlags)
			receiveAll(t, c, peer, data)
		})
	})
}

// fuzzHandshake fuzzes one side of the handshake: data is what the peer
// sends, starting with the messages of the recorded flow, and our node
// draws the recorded challenge, so that the seeds complete the handshake.
// Whatever follows the handshake goes to the Conn as frames.
func fuzzHandshake(f *testing.F, file string) {
	fl := readFlow(f, filepath.Join("testdata", "handshake", file))
	var peerMsgs []byte
	for _, m := range fl.msgs {
		if !m.sent {
			peerMsgs = append(peerMsgs, hsFrame(m.data)...)
		}
	}
	f.Add(peerMsgs)
	for _, s := range frameStreamSeeds() {
		f.Add(joinBytes(peerMsgs, s))
	}
	f.Add(hsFrame(sendNameMsg(DefaultFlags, longName)))
	f.Add([]byte{0xff, 0xff, 'N'})
	f.Fuzz(func(t *testing.T, data []byte) {
		synctest.Test(t, func(t *testing.T) {
			a, b := net.Pipe()
			n := fl.node()
			n.MaxMessageSize = 64 << 10
			if err := n.init(); err != nil {
				t.Fatal(err)
			}
			go io.Copy(io.Discard, b) // what the handshake sends
			// The peer sends all of data, then waits for the handshake
			// to end before closing its end, so that a handshake that
			// completes gets a live connection.
			handshakeDone := make(chan struct{})
			go func() {
				b.Write(data)
				<-handshakeDone
				b.Close()
			}()
			var c *Conn
			var err error
			if fl.side == "client" {
				c, err = n.clientConn(context.Background(), a, fl.peer, fl.version)
			} else {
				c, err = n.ServerConn(context.Background(), a)
			}
			close(handshakeDone)
			if err != nil {
				return
			}
			defer c.Close()
			// The client checks the name; the server takes any valid one.
			if fl.side == "client" && c.Peer() != Atom(fl.peer) ||
				!validNodeName(string(c.Peer())) || len(c.Peer()) > maxNodeNameLen {
				t.Errorf("handshake succeeded with peer %q", c.Peer())
			}
			if c.Flags()&^n.advertised() != 0 {
				t.Errorf("Flags() = %v, more than we offer (%v)", c.Flags(), n.advertised())
			}
			receiveUntilDown(t, c)
		})
	})
}

// FuzzHandshakeServer fuzzes what a connecting peer sends to our
// accepting side, and the frames that follow a completed handshake.
func FuzzHandshakeServer(f *testing.F) { fuzzHandshake(f, "server_v6.txt") }

// FuzzHandshakeClient fuzzes what the peer we connect to sends to our
// connecting side, and the frames that follow a completed handshake.
func FuzzHandshakeClient(f *testing.F) { fuzzHandshake(f, "client_v6.txt") }
