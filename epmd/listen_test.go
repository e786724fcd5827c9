package epmd

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// TestListenAccept uses a Listen listener directly, without Server: Accept
// returns working connections, and Close ends a blocked Accept with
// net.ErrClosed.
func TestListenAccept(t *testing.T) {
	l, err := Listen(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	s, err := l.Accept()
	if err != nil {
		t.Fatalf("Accept = %v", err)
	}
	defer s.Close()
	if got, want := s.LocalAddr().String(), l.Addr().String(); got != want {
		t.Errorf("LocalAddr = %s, want %s", got, want)
	}
	if got, want := s.RemoteAddr().String(), c.LocalAddr().String(); got != want {
		t.Errorf("RemoteAddr = %s, want %s", got, want)
	}
	s.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "ping" {
		t.Errorf("read on accepted conn = %q, %v; want ping", buf, err)
	}
	if _, err := s.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "pong" {
		t.Errorf("read on dialed conn = %q, %v; want pong", buf, err)
	}

	done := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			c.Close()
		}
		done <- err
	}()
	if err := l.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close = %v, want net.ErrClosed", err)
	}
	if _, err := net.Dial("tcp", l.Addr().String()); err == nil {
		t.Errorf("Dial after Close succeeded")
	}
}

// TestListenServeRequests serves every kind of request on a Listen
// listener, where on Linux lookups are answered on the accept loop and
// the rest are handed over as net.Conns.
func TestListenServeRequests(t *testing.T) {
	l, err := Listen(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := serveOn(t, &Server{}, l)
	_, reply := register(t, addr, alive2Body("foo", 5000, 6, nil))
	if len(reply) != 6 || reply[0] != tagAlive2XResp || reply[1] != 0 {
		t.Fatalf("ALIVE2_REQ(foo) = %x, want result 0", reply)
	}
	found := []byte{119, 0, 0x13, 0x88, 77, 0, 0, 6, 0, 5, 0, 3, 'f', 'o', 'o', 0, 0}
	port := uint32(addrPort(t, addr))
	names := append([]byte{byte(port >> 24), byte(port >> 16), byte(port >> 8), byte(port)},
		"name foo at port 5000\n"...)
	tests := []struct {
		name string
		raw  []byte
		want []byte
	}{
		{"lookup", frame([]byte("zfoo")), found},
		{"lookup with NUL", frame([]byte("zfoo\x00")), found},
		{"lookup unknown", frame([]byte("zbar")), []byte{119, 1}},
		{"lookup empty name", frame([]byte("z")), nil},
		{"lookup and more", append(frame([]byte("zfoo")), 0), nil},
		{"names", frame([]byte{tagNamesReq}), names},
		{"unknown tag", frame([]byte{1}), nil},
	}
	for _, tt := range tests {
		if got := exchange(t, addr, tt.raw); !bytes.Equal(got, tt.want) {
			t.Errorf("%s: reply to %x = %x, want %x", tt.name, tt.raw, got, tt.want)
		}
	}
}

// TestListenIdleTimeout: a client that connects to a Listen listener and
// sends nothing is dropped once PacketTimeout has passed since it
// connected, give or take the grace, however long the kernel holds the
// connection before handing it over.
func TestListenIdleTimeout(t *testing.T) {
	l, err := Listen(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{PacketTimeout: time.Second}
	addr := serveOn(t, s, l)
	start := time.Now()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	n, err := c.Read(make([]byte, 1))
	elapsed := time.Since(start)
	if n != 0 || err != io.EOF {
		t.Fatalf("Read on an idle connection = %d, %v; want EOF", n, err)
	}
	if elapsed < s.PacketTimeout || elapsed > s.PacketTimeout+time.Second {
		t.Errorf("idle connection closed after %v, want within a second after PacketTimeout %v", elapsed, s.PacketTimeout)
	}
}

// TestListenTooLargePacket: a packet longer than the server takes is
// read to its end before the connection is closed, so that the client's
// write of it succeeds and the client sees a plain close, not a reset.
func TestListenTooLargePacket(t *testing.T) {
	l, err := Listen(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := serveOn(t, &Server{}, l)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write(frame(bytes.Repeat([]byte("z"), 63000))); err != nil {
		t.Fatalf("writing a 63000-byte packet: %v", err)
	}
	if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("Read after a 63000-byte packet = %d, %v; want EOF", n, err)
	}
}

// TestListenCloseKeepsNodes: closing a Listen listener alone ends its
// Serve, but the nodes registered through it stay registered, and are
// watched, until their connections end or the server closes.
func TestListenCloseKeepsNodes(t *testing.T) {
	s := &Server{RelaxedCommandCheck: true}
	var addrs [2]string
	var ls [2]net.Listener
	var served [2]chan error
	for i := range ls {
		l, err := Listen(t.Context(), "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls[i], addrs[i], served[i] = l, l.Addr().String(), make(chan error, 1)
		go func() { served[i] <- s.Serve(l) }()
	}
	t.Cleanup(func() { s.Close() })
	foo, _ := register(t, addrs[0], alive2Body("foo", 5000, 6, nil))
	bar, _ := register(t, addrs[0], alive2Body("bar", 5001, 6, nil))

	ls[0].Close()
	if err := <-served[0]; err == nil || errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after its listener closed = %v, want an error other than ErrServerClosed", err)
	}
	if got := portPlease(t, addrs[1], "foo"); len(got) < 2 || got[1] != 0 {
		t.Errorf("PORT_PLEASE2_REQ(foo) after its listener closed = %x, want found", got)
	}
	foo.Close()
	waitFor(t, "foo unregistered", func() bool {
		got := portPlease(t, addrs[1], "foo")
		return len(got) == 2 && got[1] == 1
	})
	if got := request(t, addrs[1], []byte("sbar")); string(got) != "STOPPED" {
		t.Errorf("STOP_REQ(bar) = %q, want STOPPED", got)
	}
	bar.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := bar.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("bar's connection after STOP_REQ: Read = %d, %v; want EOF", n, err)
	}

	baz, _ := register(t, addrs[1], alive2Body("baz", 5002, 6, nil))
	if err := s.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := <-served[1]; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Shutdown = %v, want ErrServerClosed", err)
	}
	baz.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := baz.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("baz's connection after Shutdown: Read = %d, %v; want EOF", n, err)
	}
}
