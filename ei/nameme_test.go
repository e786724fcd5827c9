package ei

import (
	"bytes"
	"context"
	"errors"
	"net"
	"regexp"
	"testing"
	"time"
)

func TestNamedStatus(t *testing.T) {
	m := namedStatus{Name: "ABC@host", Creation: 0x01020304}
	b, err := m.appendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte("snamed:\x00\x08ABC@host\x01\x02\x03\x04")
	if !bytes.Equal(b, want) {
		t.Fatalf("appendBinary() = %q, want %q", b, want)
	}
	var got namedStatus
	// Trailing bytes are ignored, as OTP's recv_status does.
	if err := got.unmarshalBinary(append(b, "extra"...)); err != nil || got != m {
		t.Fatalf("unmarshalBinary(%q) = %+v, %v; want %+v", b, got, err, m)
	}
	for _, bad := range []string{"", "sok", "snamed:", "snamed:\x00", "snamed:\x00\x09ABC@host\x01\x02\x03\x04", "snamed:\x00\x08ABC@host\x01\x02\x03"} {
		var pe *ProtocolError
		if err := got.unmarshalBinary([]byte(bad)); !errors.As(err, &pe) {
			t.Errorf("unmarshalBinary(%q) = %v, want a *ProtocolError", bad, err)
		}
	}
}

func FuzzNamedStatus(f *testing.F) {
	f.Add([]byte("snamed:\x00\x08ABC@host\x01\x02\x03\x04"))
	f.Add([]byte("snamed:\x00\x00\x00\x00\x00\x00trailing"))
	f.Add([]byte("snamed:\xff\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var m namedStatus
		if m.unmarshalBinary(data) != nil {
			return
		}
		b, err := m.appendBinary(nil)
		if err != nil {
			t.Fatalf("appendBinary(%+v) = %v", m, err)
		}
		var m2 namedStatus
		if err := m2.unmarshalBinary(b); err != nil || m2 != m {
			t.Fatalf("decode(encode(%+v)) = %+v, %v", m, m2, err)
		}
	})
}

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	a, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	return a, b
}

// TestNameMeGoToGo has a node named undefined@host get a name from a Go
// acceptor, use it, lose it with the connection and get a new one.
func TestNameMeGoToGo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	acceptor := &Node{Name: "acceptor@host", Cookie: "c"}
	dyn := &Node{Name: "undefined@myhost", Cookie: "c"}
	if _, err := dyn.Pid(); !errors.Is(err, ErrNoName) {
		t.Fatalf("Pid() before connecting = %v, want ErrNoName", err)
	}
	if _, err := dyn.Listen(ctx, "127.0.0.1:0"); err == nil {
		t.Errorf("Listen() of a node with a dynamic name succeeded")
	}
	nameRE := regexp.MustCompile(`^[0-9A-Z]+@myhost$`)
	var names []string
	for range 2 {
		a, b := tcpPair(t)
		type result struct {
			c   *Conn
			err error
		}
		accepted := make(chan result, 1)
		go func() {
			c, err := acceptor.ServerConn(ctx, b)
			accepted <- result{c, err}
		}()
		c, err := dyn.ClientConn(ctx, a, "acceptor@host")
		if err != nil {
			t.Fatalf("ClientConn() = %v", err)
		}
		r := <-accepted
		if r.err != nil {
			t.Fatalf("ServerConn() = %v", r.err)
		}
		name, err := dyn.CurrentName()
		if err != nil || !nameRE.MatchString(name) {
			t.Fatalf("CurrentName() = %q, %v; want a name like %v", name, err, nameRE)
		}
		if r.c.Peer() != Atom(name) {
			t.Errorf("acceptor's Peer() = %s, want %s", r.c.Peer(), name)
		}
		creation, _ := dyn.CurrentCreation()
		if r.c.PeerCreation() != creation || creation < 4 {
			t.Errorf("CurrentCreation() = %d, acceptor's PeerCreation() = %d, want equal and >= 4", creation, r.c.PeerCreation())
		}
		pid, err := dyn.Pid()
		if err != nil || pid.Node != Atom(name) || pid.Creation != creation {
			t.Errorf("Pid() = %+v, %v; want node %s, creation %d", pid, err, name, creation)
		}
		if err := c.Send(ctx, Pid{Node: "acceptor@host", ID: 1, Creation: 1}, Atom("hi")); err != nil {
			t.Fatal(err)
		}
		if m, err := r.c.Receive(ctx); err != nil || m.Payload != Atom("hi") {
			t.Fatalf("Receive() = %v, %v", m, err)
		}
		names = append(names, name)
		r.c.Close()
		<-c.Done()
		c.Close()
		if name, err := dyn.CurrentName(); !errors.Is(err, ErrNoName) {
			t.Errorf("CurrentName() after the naming connection closed = %q, %v; want ErrNoName", name, err)
		}
	}
	if names[0] == names[1] {
		t.Errorf("two connections got the same name %s from a Go acceptor, want random names", names[0])
	}
}

// TestNameMeRefusals checks the statuses a node asking for a name does
// not accept, and a bad assigned name.
func TestNameMeRefusals(t *testing.T) {
	for _, tc := range []struct {
		status string
		want   func(error) bool
	}{
		{"sok", func(err error) bool { var he *HandshakeError; return errors.As(err, &he) && he.Status == "ok" }},
		{"snot_allowed", func(err error) bool { var he *HandshakeError; return errors.As(err, &he) }},
		{"snamed:\x00\x0aABC@other\x00\x00\x00\x05", func(err error) bool { var pe *ProtocolError; return errors.As(err, &pe) }},
		{"snamed:\x00\x07@myhost\x00\x00\x00\x05", func(err error) bool { var pe *ProtocolError; return errors.As(err, &pe) }},
		{"snamed:\x00\x0aABC@myhost\x00", func(err error) bool { var pe *ProtocolError; return errors.As(err, &pe) }},
	} {
		t.Run(tc.status, func(t *testing.T) {
			a, b := tcpPair(t)
			defer b.Close()
			go func() {
				// Read the name, then answer with the status.
				var buf [512]byte
				b.Read(buf[:])
				msg := append([]byte{0, byte(len(tc.status))}, tc.status...)
				b.Write(msg)
			}()
			dyn := &Node{Name: "undefined@myhost", Cookie: "c"}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, err := dyn.ClientConn(ctx, a, "peer@host")
			if err == nil {
				c.Close()
				t.Fatal("ClientConn() succeeded")
			}
			if !tc.want(err) {
				t.Errorf("ClientConn() = %v (%T)", err, err)
			}
			if _, err := dyn.CurrentName(); !errors.Is(err, ErrNoName) {
				t.Errorf("CurrentName() after a failed handshake = %v, want ErrNoName", err)
			}
		})
	}
}
