package epmd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

// startServer serves s on a loopback listener and returns its address.
// Cleanup closes s and checks what Serve returned.
func startServer(t *testing.T, s *Server) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveOn(t, s, l)
}

func serveOn(t *testing.T, s *Server, l net.Listener) string {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve = %v, want ErrServerClosed", err)
		}
	})
	return l.Addr().String()
}

// frame prefixes a request body with its length.
func frame(body []byte) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(body))), body...)
}

// exchange sends raw bytes on a new connection and returns everything the
// server sends before it closes the connection.
func exchange(t *testing.T, addr string, raw []byte) []byte {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(raw); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read reply to %x: %v", raw, err)
	}
	return b
}

func request(t *testing.T, addr string, body []byte) []byte {
	t.Helper()
	return exchange(t, addr, frame(body))
}

// alive2Body encodes an ALIVE2_REQ body by hand, so that it can hold what
// Alive2Req.AppendBinary refuses, such as names longer than 255 bytes.
func alive2Body(name string, port, highest uint16, extra []byte) []byte {
	b := []byte{tagAlive2Req}
	b = binary.BigEndian.AppendUint16(b, port)
	b = append(b, byte(NodeTypeNormal), ProtocolTCP)
	b = binary.BigEndian.AppendUint16(b, highest)
	b = binary.BigEndian.AppendUint16(b, 5) // lowest version
	b = binary.BigEndian.AppendUint16(b, uint16(len(name)))
	b = append(b, name...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(extra)))
	return append(b, extra...)
}

// register sends an ALIVE2_REQ and returns the open connection and reply.
func register(t *testing.T, addr string, body []byte) (net.Conn, []byte) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(frame(body)); err != nil {
		t.Fatal(err)
	}
	n := 4
	if binary.BigEndian.Uint16(body[5:]) >= 6 {
		n = 6
	}
	reply := make([]byte, n)
	if _, err := io.ReadFull(c, reply); err != nil {
		t.Fatalf("ALIVE2_REQ %x: reading reply: %v", body, err)
	}
	c.SetDeadline(time.Time{})
	return c, reply
}

// waitFor polls cond, one request at a time, until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func portPlease(t *testing.T, addr, name string) []byte {
	t.Helper()
	return request(t, addr, append([]byte{tagPortPlease2Req}, name...))
}

func TestServerRegisterLookup(t *testing.T) {
	addr := startServer(t, &Server{})
	c, reply := register(t, addr, alive2Body("foo", 5000, 6, []byte("xx")))
	var x Alive2XResp
	if err := x.UnmarshalBinary(reply); err != nil || x.Result != 0 || x.Creation < 4 {
		t.Fatalf("ALIVE2_REQ(foo) reply %x = %+v, %v; want result 0, creation >= 4", reply, x, err)
	}

	want := []byte{119, 0, 0x13, 0x88, 77, 0, 0, 6, 0, 5, 0, 3, 'f', 'o', 'o', 0, 2, 'x', 'x'}
	if got := portPlease(t, addr, "foo"); !bytes.Equal(got, want) {
		t.Errorf("PORT_PLEASE2_REQ(foo) = %x, want %x", got, want)
	}
	if got := portPlease(t, addr, "foo\x00"); !bytes.Equal(got, want) {
		t.Errorf("PORT_PLEASE2_REQ(foo NUL) = %x, want %x", got, want)
	}
	if got, want := portPlease(t, addr, "bar"), []byte{119, 1}; !bytes.Equal(got, want) {
		t.Errorf("PORT_PLEASE2_REQ(bar) = %x, want %x", got, want)
	}

	// The same name again is refused, with OTP's creation 99.
	_, reply = register(t, addr, alive2Body("foo", 5001, 6, nil))
	if want := []byte{118, 1, 0, 0, 0, 99}; !bytes.Equal(reply, want) {
		t.Errorf("second ALIVE2_REQ(foo) = %x, want %x", reply, want)
	}
	// A version 5 node gets ALIVE2_RESP with a creation in 1..3.
	_, reply = register(t, addr, alive2Body("old", 5002, 5, nil))
	var r5 Alive2Resp
	if err := r5.UnmarshalBinary(reply); err != nil || r5.Result != 0 || r5.Creation < 1 || r5.Creation > 3 {
		t.Errorf("ALIVE2_REQ(old, v5) = %x (%+v, %v), want result 0, creation 1..3", reply, r5, err)
	}

	names := request(t, addr, []byte{tagNamesReq})
	port := addrPort(t, addr)
	wantNames := binary.BigEndian.AppendUint32(nil, uint32(port))
	wantNames = append(wantNames, "name old at port 5002\nname foo at port 5000\n"...)
	if !bytes.Equal(names, wantNames) {
		t.Errorf("NAMES_REQ = %q, want %q", names, wantNames)
	}

	// Closing the ALIVE2 connection unregisters the node and gives the
	// next registration of the name the next creation.
	c.Close()
	waitFor(t, "foo to be unregistered", func() bool { return bytes.Equal(portPlease(t, addr, "foo"), []byte{119, 1}) })
	_, reply = register(t, addr, alive2Body("foo", 5003, 6, nil))
	var x2 Alive2XResp
	if err := x2.UnmarshalBinary(reply); err != nil || x2.Result != 0 || x2.Creation != x.Creation+1 {
		t.Errorf("re-registration reply %x = %+v, %v; want creation %d", reply, x2, err, x.Creation+1)
	}
}

func addrPort(t *testing.T, addr string) int {
	t.Helper()
	ap, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return ap.Port
}

func TestServerDataOnAliveConnUnregisters(t *testing.T) {
	addr := startServer(t, &Server{})
	c, _ := register(t, addr, alive2Body("foo", 5000, 6, nil))
	c.Write([]byte{0})
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("after sending data on the ALIVE2 connection: Read = %d, %v; want EOF", n, err)
	}
	waitFor(t, "foo to be unregistered", func() bool { return bytes.Equal(portPlease(t, addr, "foo"), []byte{119, 1}) })
}

func TestServerDump(t *testing.T) {
	addr := startServer(t, &Server{})
	c, _ := register(t, addr, alive2Body("foo", 5000, 6, nil))
	register(t, addr, alive2Body("bar", 5001, 6, nil))
	c.Close()
	waitFor(t, "foo to be unregistered", func() bool { return bytes.Equal(portPlease(t, addr, "foo"), []byte{119, 1}) })
	got := request(t, addr, []byte{tagDumpReq})
	var d DumpResp
	if err := d.UnmarshalBinary(got); err != nil || int(d.EPMDPort) != addrPort(t, addr) {
		t.Fatalf("DUMP_REQ = %q (%v), want port %d", got, err, addrPort(t, addr))
	}
	// Connection numbers start at 1: foo's was the first, bar's the second.
	want := "active name     <bar> at port 5001, fd = 2\n\x00old/unused name <foo>, port = 5000, fd = 1 \n\x00"
	if d.Text != want {
		t.Errorf("DUMP_REQ text = %q, want %q", d.Text, want)
	}
}

// TestServerIgnores covers requests that OTP's epmd drops without a reply.
func TestServerIgnores(t *testing.T) {
	addr := startServer(t, &Server{})
	register(t, addr, alive2Body("foo", 5000, 6, nil))
	long := bytes.Repeat([]byte{'a'}, 255)
	tests := []struct {
		name string
		raw  []byte
	}{
		{"length 0", []byte{0, 0}},
		{"length 3058, too long", frame(append([]byte{tagNamesReq}, make([]byte, 3057)...))},
		{"unknown tag", frame([]byte{'Q'})},
		{"old ALIVE_REQ", frame([]byte{'a', 0, 1})},
		{"PORT_PLEASE2 empty name", frame([]byte{tagPortPlease2Req})},
		{"PORT_PLEASE2 only NUL", frame([]byte{tagPortPlease2Req, 0})},
		{"PORT_PLEASE2 NUL inside", frame([]byte("zfo\x00o"))},
		{"PORT_PLEASE2 invalid UTF-8", frame([]byte("zf\xffo"))},
		{"PORT_PLEASE2 255 characters", frame(append([]byte{tagPortPlease2Req}, long...))},
		{"ALIVE2 13 bytes", frame(alive2Body("a", 1, 6, nil)[:13])},
		{"ALIVE2 name past end", frame(append(alive2Body("ab", 1, 6, nil)[:12], 'a', 'b'))},
		{"ALIVE2 extra past end", frame(append(alive2Body("a", 1, 6, nil)[:12], 0, 9))},
		{"ALIVE2 NUL in name", frame(alive2Body("a\x00b", 1, 6, nil))},
		{"STOP without relaxed check", frame([]byte("sfoo"))},
		{"partial packet", []byte{0, 5, tagNamesReq}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			c.Write(tt.raw)
			if tt.name == "partial packet" {
				c.(*net.TCPConn).CloseWrite()
			}
			got, err := io.ReadAll(c)
			if err != nil && !errors.Is(err, syscall.ECONNRESET) {
				t.Fatal(err)
			}
			if len(got) != 0 {
				t.Errorf("%x: reply %x, want the connection closed without one", tt.raw, got)
			}
		})
	}
	// foo is still there, so none of that disturbed the registry.
	if got := portPlease(t, addr, "foo"); len(got) < 2 || got[1] != 0 {
		t.Errorf("PORT_PLEASE2_REQ(foo) = %x, want found", got)
	}
}

func TestServerLimits(t *testing.T) {
	addr := startServer(t, &Server{})
	// The longest packet OTP's epmd takes has 3057 bytes.
	got := request(t, addr, append([]byte{tagNamesReq}, make([]byte, 3056)...))
	if len(got) != 4 {
		t.Errorf("NAMES_REQ of 3057 bytes = %x, want the 4-byte port", got)
	}
	// A 254-character name is looked up; 255 are too many (see TestServerIgnores).
	if got, want := portPlease(t, addr, strings.Repeat("a", 254)), []byte{119, 1}; !bytes.Equal(got, want) {
		t.Errorf("PORT_PLEASE2_REQ(254 characters) = %x, want %x", got, want)
	}
	// An ALIVE2_REQ may carry bytes after its extra data.
	_, reply := register(t, addr, append(alive2Body("foo", 5000, 6, nil), 1, 2, 3))
	if reply[1] != 0 {
		t.Errorf("ALIVE2_REQ with trailing bytes = %x, want result 0", reply)
	}
	// Names OTP's epmd refuses get result 1.
	for _, name := range []string{strings.Repeat("b", 256), "a\xffb"} {
		_, reply := register(t, addr, alive2Body(name, 5000, 6, nil))
		if want := []byte{118, 1, 0, 0, 0, 99}; !bytes.Equal(reply, want) {
			t.Errorf("ALIVE2_REQ(%.10q) = %x, want %x", name, reply, want)
		}
	}
	_, reply = register(t, addr, alive2Body("big", 5000, 6, make([]byte, 1021)))
	if want := []byte{118, 1, 0, 0, 0, 99}; !bytes.Equal(reply, want) {
		t.Errorf("ALIVE2_REQ with 1021 bytes of extra = %x, want %x", reply, want)
	}
}

func TestServerKill(t *testing.T) {
	tests := []struct {
		name      string
		relaxed   bool
		register  bool
		want      string
		wantClose bool
	}{
		{"empty", false, false, "OK", true},
		{"nodes registered", false, true, "NO", false},
		{"nodes registered, relaxed", true, true, "OK", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Server{RelaxedCommandCheck: tt.relaxed}
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- s.Serve(l) }()
			defer s.Close()
			addr := l.Addr().String()
			var alive net.Conn
			if tt.register {
				alive, _ = register(t, addr, alive2Body("foo", 5000, 6, nil))
			}
			if got := request(t, addr, []byte{tagKillReq}); string(got) != tt.want {
				t.Errorf("KILL_REQ = %q, want %q", got, tt.want)
			}
			if !tt.wantClose {
				s.Close()
			}
			if err := <-done; !errors.Is(err, ErrServerClosed) {
				t.Errorf("Serve = %v, want ErrServerClosed", err)
			}
			if alive != nil && tt.wantClose {
				alive.SetReadDeadline(time.Now().Add(10 * time.Second))
				if _, err := alive.Read(make([]byte, 1)); err != io.EOF {
					t.Errorf("ALIVE2 connection after KILL_REQ: Read error %v, want EOF", err)
				}
			}
		})
	}
}

func TestServerStop(t *testing.T) {
	addr := startServer(t, &Server{RelaxedCommandCheck: true})
	c, _ := register(t, addr, alive2Body("foo", 5000, 6, nil))
	if got, want := request(t, addr, []byte("snope")), "NOEXISTSTOPPED"; string(got) != want {
		t.Errorf("STOP_REQ(nope) = %q, want %q", got, want)
	}
	if got, want := request(t, addr, []byte("sfoo")), "STOPPED"; string(got) != want {
		t.Errorf("STOP_REQ(foo) = %q, want %q", got, want)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("ALIVE2 connection after STOP_REQ: Read error %v, want EOF", err)
	}
	if got, want := portPlease(t, addr, "foo"), []byte{119, 1}; !bytes.Equal(got, want) {
		t.Errorf("PORT_PLEASE2_REQ(foo) after STOP_REQ = %x, want %x", got, want)
	}
	if got := request(t, addr, []byte{tagStopReq}); len(got) != 0 {
		t.Errorf("STOP_REQ without a name = %q, want no reply", got)
	}
}

// remoteListener makes every accepted connection look as if it came from
// a non-local address.
type remoteListener struct{ net.Listener }

type remoteConn struct{ net.Conn }

func (c remoteConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 40000}
}

func (l remoteListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return remoteConn{c}, nil
}

func TestServerNonLocal(t *testing.T) {
	s := &Server{RelaxedCommandCheck: true}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := serveOn(t, s, remoteListener{l})
	tests := []struct {
		name string
		body []byte
		want bool // whether a reply comes
	}{
		{"ALIVE2_REQ", alive2Body("foo", 5000, 6, nil), false},
		{"DUMP_REQ", []byte{tagDumpReq}, false},
		{"KILL_REQ", []byte{tagKillReq}, false},
		{"STOP_REQ", []byte("sfoo"), false},
		{"NAMES_REQ", []byte{tagNamesReq}, true},
		{"PORT_PLEASE2_REQ", []byte("zfoo"), true},
	}
	for _, tt := range tests {
		if got := request(t, addr, tt.body); (len(got) > 0) != tt.want {
			t.Errorf("%s from a remote address: reply %q, want reply %v", tt.name, got, tt.want)
		}
	}
}

func TestIsLocal(t *testing.T) {
	tcp := func(ip string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: 1} }
	tests := []struct {
		remote, local net.Addr
		want          bool
	}{
		{tcp("127.0.0.1"), tcp("127.0.0.1"), true},                     // loopback
		{tcp("127.1.2.3"), tcp("10.0.0.1"), true},                      // all of 127/8
		{tcp("::1"), tcp("::1"), true},                                 // IPv6 loopback
		{tcp("10.0.0.1"), tcp("10.0.0.1"), true},                       // from the host's own address
		{tcp("::ffff:10.0.0.1"), tcp("10.0.0.1"), true},                // the same, IPv4-mapped
		{tcp("10.0.0.2"), tcp("10.0.0.1"), false},                      // another host
		{tcp("fe80::1"), tcp("fe80::2"), false},                        // another host, IPv6
		{&net.UnixAddr{Name: "@", Net: "unix"}, &net.UnixAddr{}, true}, // not IP
	}
	for _, tt := range tests {
		if got := isLocal(tt.remote, tt.local); got != tt.want {
			t.Errorf("isLocal(%v, %v) = %v, want %v", tt.remote, tt.local, got, tt.want)
		}
	}
}

// pipeListener hands out the server ends of net.Pipe connections.
type pipeListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// dial returns the client end of a new connection to the listener.
func (l *pipeListener) dial() net.Conn {
	client, server := net.Pipe()
	l.conns <- server
	return client
}

// readResult records what a Read returned.
type readResult struct {
	n   int
	err error
}

func readAsync(c net.Conn) <-chan readResult {
	ch := make(chan readResult, 1)
	go func() {
		n, err := c.Read(make([]byte, 64))
		ch <- readResult{n, err}
	}()
	return ch
}

// TestServerPacketTimeout: a connection that stays silent for
// PacketTimeout, plus the grace, before its request is whole is closed.
func TestServerPacketTimeout(t *testing.T) {
	for _, tt := range []struct {
		name    string
		timeout time.Duration
		want    time.Duration
	}{
		{"default", 0, DefaultPacketTimeout + packetTimeoutGrace},
		{"5s", 5 * time.Second, 5*time.Second + packetTimeoutGrace},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newPipeListener()
				s := &Server{PacketTimeout: tt.timeout}
				done := make(chan error, 1)
				go func() { done <- s.Serve(l) }()

				slow := l.dial()
				go slow.Write([]byte{0, 1}) // a length, then nothing
				res := readAsync(slow)
				time.Sleep(tt.want - time.Nanosecond)
				synctest.Wait()
				select {
				case r := <-res:
					t.Fatalf("connection closed after %v: %v, want open until %v", tt.want-time.Nanosecond, r.err, tt.want)
				default:
				}
				time.Sleep(time.Nanosecond)
				synctest.Wait()
				select {
				case r := <-res:
					if r.err != io.EOF {
						t.Errorf("Read after the packet timeout = %d, %v; want EOF", r.n, r.err)
					}
				default:
					t.Fatalf("connection still open after %v", tt.want)
				}

				// A registered node's connection has no timeout.
				alive := l.dial()
				go alive.Write(frame(alive2Body("foo", 5000, 6, nil)))
				if _, err := io.ReadFull(alive, make([]byte, 6)); err != nil {
					t.Fatal(err)
				}
				res = readAsync(alive)
				time.Sleep(10 * tt.want)
				synctest.Wait()
				select {
				case r := <-res:
					t.Fatalf("ALIVE2 connection closed after %v: %v", 10*tt.want, r.err)
				default:
				}
				s.Close()
				if r := <-res; r.err != io.EOF {
					t.Errorf("ALIVE2 connection after Close: %v, want EOF", r.err)
				}
				if err := <-done; !errors.Is(err, ErrServerClosed) {
					t.Errorf("Serve = %v, want ErrServerClosed", err)
				}
			})
		})
	}
}

// TestServerPacketTimeoutBetweenReads: PacketTimeout bounds the silence
// between the parts of a request, not the time the whole request takes.
// Like OTP's epmd, the server waits for a request sent a byte at a time
// with pauses of exactly PacketTimeout.
func TestServerPacketTimeoutBetweenReads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newPipeListener()
		s := &Server{PacketTimeout: time.Second}
		done := make(chan error, 1)
		go func() { done <- s.Serve(l) }()
		c := l.dial()
		wrote := make(chan struct{})
		go func() {
			defer close(wrote)
			for i, b := range frame([]byte("zfoo")) {
				if i > 0 {
					time.Sleep(s.PacketTimeout)
				}
				if _, err := c.Write([]byte{b}); err != nil {
					return
				}
			}
		}()
		if got, want := readAll(t, c), []byte{119, 1}; !bytes.Equal(got, want) {
			t.Errorf("PORT_PLEASE2_REQ sent a byte a second = %x, want %x", got, want)
		}
		<-wrote
		s.Close()
		<-done
	})
}

// readAll reads from c until it is closed.
func readAll(t *testing.T, c net.Conn) []byte {
	t.Helper()
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestServerShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newPipeListener()
		s := &Server{}
		done := make(chan error, 1)
		go func() { done <- s.Serve(l) }()

		alive := l.dial()
		go alive.Write(frame(alive2Body("foo", 5000, 6, nil)))
		if _, err := io.ReadFull(alive, make([]byte, 6)); err != nil {
			t.Fatal(err)
		}
		aliveRes := readAsync(alive)

		// A request in progress: the length is in, the body is not.
		slow := l.dial()
		if _, err := slow.Write([]byte{0, 1}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()

		shut := make(chan error, 1)
		go func() { shut <- s.Shutdown(context.Background()) }()
		synctest.Wait()
		if r := <-aliveRes; r.err != io.EOF {
			t.Errorf("ALIVE2 connection after Shutdown: %v, want EOF", r.err)
		}
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve = %v, want ErrServerClosed", err)
		}
		select {
		case err := <-shut:
			t.Fatalf("Shutdown returned %v with a request in progress", err)
		default:
		}
		// Finishing the request lets Shutdown return.
		go slow.Write([]byte{tagNamesReq})
		reply, err := io.ReadAll(slow)
		if err != nil || len(reply) != 4 {
			t.Errorf("request finished during Shutdown: reply %x, %v; want 4 bytes", reply, err)
		}
		if err := <-shut; err != nil {
			t.Errorf("Shutdown = %v, want nil", err)
		}
		if err := s.Serve(newPipeListener()); !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve after Shutdown = %v, want ErrServerClosed", err)
		}
	})
}

func TestServerShutdownContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newPipeListener()
		s := &Server{}
		done := make(chan error, 1)
		go func() { done <- s.Serve(l) }()
		slow := l.dial()
		if _, err := slow.Write([]byte{0, 1}); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Shutdown = %v, want DeadlineExceeded", err)
		}
		if _, err := slow.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("slow connection after Shutdown: %v, want EOF", err)
		}
		<-done
	})
}

// TestServerManyNodes registers more nodes than OTP's select-based epmd
// can hold (about 1017).
func TestServerManyNodes(t *testing.T) {
	const n = 2000
	needFiles(t, 2*n+200) // both ends of every connection
	// Closed after the server, which closes its ends first: then the
	// TIME_WAIT states hold the server's port rather than local ports
	// that other programs on this machine may need.
	conns := make([]net.Conn, n)
	t.Cleanup(func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	})
	s := &Server{}
	addr := startServer(t, s)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 64)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			conns[i] = c
			c.Write(frame(alive2Body("node"+strconv.Itoa(i), uint16(10000+i), 6, nil)))
			reply := make([]byte, 6)
			if _, err := io.ReadFull(c, reply); err != nil {
				errs <- err
			} else if reply[1] != 0 {
				errs <- fmt.Errorf("ALIVE2_REQ(node%d) = %x, want result 0", i, reply)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var names NamesResp
	if err := names.UnmarshalBinary(request(t, addr, []byte{tagNamesReq})); err != nil {
		t.Fatal(err)
	}
	if len(names.Names) != n {
		t.Fatalf("NAMES_REQ lists %d nodes, want %d", len(names.Names), n)
	}
	got := portPlease(t, addr, "node1999")
	if len(got) < 4 || got[1] != 0 || binary.BigEndian.Uint16(got[2:]) != 11999 {
		t.Errorf("PORT_PLEASE2_REQ(node1999) = %x, want port 11999", got)
	}
}

// TestServerConcurrent registers, looks up and unregisters from many
// goroutines at once; run it with -race.
func TestServerConcurrent(t *testing.T) {
	addr := startServer(t, &Server{})
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			name := "c" + strconv.Itoa(i)
			for range 10 {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Error(err)
					return
				}
				c.Write(frame(alive2Body(name, uint16(i+1), 6, nil)))
				reply := make([]byte, 6)
				if _, err := io.ReadFull(c, reply); err != nil {
					t.Error(err)
				}
				exchange(t, addr, frame([]byte{tagNamesReq}))
				exchange(t, addr, frame([]byte{tagDumpReq}))
				exchange(t, addr, frame(append([]byte{tagPortPlease2Req}, name...)))
				c.Close()
			}
		})
	}
	wg.Wait()
}

func FuzzParseAlive2(f *testing.F) {
	f.Add(alive2Body("foo", 5000, 6, nil))
	f.Add(alive2Body("bar", 1, 5, []byte("extra")))
	f.Add(append(alive2Body("baz", 1, 6, nil), 1, 2))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		info, ok := parseAlive2(data)
		if !ok {
			return
		}
		if info.Name == "" || len(info.Name) > MaxNameLen {
			return // Alive2Req.AppendBinary takes 1..255 bytes
		}
		b, err := (&Alive2Req{info}).AppendBinary(nil)
		if err != nil {
			t.Fatalf("AppendBinary(%+v): %v", info, err)
		}
		info2, ok := parseAlive2(b)
		if !ok || info2.Name != info.Name || info2.Port != info.Port || info2.Type != info.Type ||
			info2.Protocol != info.Protocol || info2.HighestVersion != info.HighestVersion ||
			info2.LowestVersion != info.LowestVersion || !bytes.Equal(info2.Extra, info.Extra) {
			t.Fatalf("parseAlive2(%x) = %+v, %v; want %+v", b, info2, ok, info)
		}
	})
}

// FuzzServer feeds arbitrary bytes to a server and checks that it answers
// or closes, and never panics.
func FuzzServer(f *testing.F) {
	f.Add(frame(alive2Body("foo", 5000, 6, nil)))
	f.Add(frame([]byte("zfoo")))
	f.Add(frame([]byte{tagNamesReq}))
	f.Add(frame([]byte{tagDumpReq}))
	f.Add(frame([]byte("sfoo")))
	f.Add(frame([]byte{tagKillReq}))
	f.Fuzz(func(t *testing.T, data []byte) {
		synctest.Test(t, func(t *testing.T) {
			l := newPipeListener()
			s := &Server{RelaxedCommandCheck: true, PacketTimeout: time.Second}
			done := make(chan error, 1)
			go func() { done <- s.Serve(l) }()
			c := l.dial()
			go c.Write(data)
			// A registered node's connection stays open: give up after a while.
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			io.ReadAll(c)
			c.Close()
			s.Close()
			<-done
		})
	})
}

// TestListenServe serves on a Listen listener, where on Linux a request
// has arrived by the time it is accepted: whole requests are answered on
// the accept loop, partial ones by a goroutine that keeps what was read.
func TestListenServe(t *testing.T) {
	l, err := Listen(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := serveOn(t, &Server{}, l)
	register(t, addr, alive2Body("foo", 5000, 6, nil))
	want := []byte{119, 0, 0x13, 0x88, 77, 0, 0, 6, 0, 5, 0, 3, 'f', 'o', 'o', 0, 0}
	if got := portPlease(t, addr, "foo"); !bytes.Equal(got, want) {
		t.Errorf("PORT_PLEASE2_REQ(foo) = %x, want %x", got, want)
	}
	// Send the request a byte at a time.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	for _, b := range frame([]byte("zfoo")) {
		if _, err := c.Write([]byte{b}); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := io.ReadAll(c); err != nil || !bytes.Equal(got, want) {
		t.Errorf("PORT_PLEASE2_REQ(foo) sent bytewise = %x, %v; want %x", got, err, want)
	}
}
