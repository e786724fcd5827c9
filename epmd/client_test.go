package epmd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeEPMD listens on loopback and runs handle on every connection it
// accepts, closing the connection when handle returns. It returns a Client
// aimed at it; the listener is closed and every handler waited for at
// cleanup.
func fakeEPMD(t *testing.T, handle func(c net.Conn)) *Client {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
	return &Client{Host: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port}
}

// readFrame reads one length-prefixed request and returns it with its prefix.
func readFrame(c net.Conn) ([]byte, error) {
	var n [2]byte
	if _, err := io.ReadFull(c, n[:]); err != nil {
		return nil, err
	}
	frame := make([]byte, 2+binary.BigEndian.Uint16(n[:]))
	copy(frame, n[:])
	_, err := io.ReadFull(c, frame[2:])
	return frame, err
}

// replyWith returns a handler that reads a request, sends it on got, writes
// reply and closes the connection.
func replyWith(got chan<- []byte, reply []byte) func(net.Conn) {
	return func(c net.Conn) {
		frame, err := readFrame(c)
		if err != nil {
			return
		}
		got <- frame
		c.Write(reply)
	}
}

// frameOf returns body behind its 2-byte length prefix.
func frameOf(body ...byte) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(body))), body...)
}

var (
	errProtocol = &ProtocolError{} // stands for any *ProtocolError in tables
	fooInfo     = NodeInfo{Name: "foo", Port: 0x1234, Type: NodeTypeNormal, Protocol: ProtocolTCP,
		HighestVersion: 6, LowestVersion: 5}
	fooPort2Resp = []byte{
		119, 0, // tag PORT2_RESP, Result found
		0x12, 0x34, // PortNo
		77, 0, // NodeType 'M', Protocol tcp
		0, 6, 0, 5, // HighestVersion, LowestVersion
		0, 3, 'f', 'o', 'o', // Nlen, NodeName
		0, 0, // Elen
	}
)

// dialFunc is a Dialer made of a function.
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

func (f dialFunc) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return f(ctx, network, addr)
}

// checkErr reports whether err matches want: nil, a sentinel for errors.Is,
// or errProtocol for any *ProtocolError.
func checkErr(err, want error) bool {
	switch {
	case want == nil:
		return err == nil
	case want == errProtocol:
		var pe *ProtocolError
		return errors.As(err, &pe)
	}
	return errors.Is(err, want)
}

func TestClientRequests(t *testing.T) {
	portPlease := func(name string) func(context.Context, *Client) (any, error) {
		return func(ctx context.Context, c *Client) (any, error) { return c.PortPlease(ctx, name) }
	}
	unpublish := func(ctx context.Context, c *Client) (any, error) { return nil, c.Unpublish(ctx, "foo") }
	names := func(ctx context.Context, c *Client) (any, error) { return c.Names(ctx) }
	dump := func(ctx context.Context, c *Client) (any, error) { return c.Dump(ctx) }
	kill := func(ctx context.Context, c *Client) (any, error) { return nil, c.Kill(ctx) }

	portPleaseReq := frameOf(122, 'f', 'o', 'o')
	tests := []struct {
		name    string
		call    func(context.Context, *Client) (any, error)
		wantReq []byte
		reply   []byte
		want    any
		wantErr error
	}{
		{"PortPlease", portPlease("foo"), portPleaseReq, fooPort2Resp, fooInfo, nil},
		{"PortPlease not found", portPlease("foo"), portPleaseReq, []byte{119, 1}, NodeInfo{}, ErrNotRegistered},
		{"PortPlease other result", portPlease("foo"), portPleaseReq, []byte{119, 2}, NodeInfo{}, ErrNotRegistered},
		{"PortPlease empty reply", portPlease("foo"), portPleaseReq, nil, NodeInfo{}, errProtocol},
		{"PortPlease garbage", portPlease("foo"), portPleaseReq, []byte("hello"), NodeInfo{}, errProtocol},
		{"PortPlease truncated", portPlease("foo"), portPleaseReq, fooPort2Resp[:12], NodeInfo{}, errProtocol},
		// Bytes after the reply are not read.
		{"PortPlease trailing", portPlease("foo"), portPleaseReq, append(fooPort2Resp[:len(fooPort2Resp):len(fooPort2Resp)], 0),
			fooInfo, nil},
		{"PortPlease extra", portPlease("foo"), portPleaseReq, append(append(fooPort2Resp[:len(fooPort2Resp)-2:len(fooPort2Resp)-2], 0, 2, 'x', 'y'), 0),
			NodeInfo{Name: "foo", Port: 0x1234, Type: NodeTypeNormal, Protocol: ProtocolTCP, HighestVersion: 6, LowestVersion: 5, Extra: []byte("xy")}, nil},
		{"PortPlease oversize", portPlease("foo"), portPleaseReq, make([]byte, maxPort2Resp+1), NodeInfo{}, errProtocol},

		{"Unpublish", unpublish, frameOf(115, 'f', 'o', 'o'), []byte("STOPPED"), nil, nil},
		{"Unpublish unknown", unpublish, frameOf(115, 'f', 'o', 'o'), []byte("NOEXIST"), nil, ErrNotRegistered},
		{"Unpublish unknown OTP", unpublish, frameOf(115, 'f', 'o', 'o'), []byte("NOEXISTSTOPPED"), nil, ErrNotRegistered},
		{"Unpublish not allowed", unpublish, frameOf(115, 'f', 'o', 'o'), nil, nil, ErrNotAllowed},
		{"Unpublish garbage", unpublish, frameOf(115, 'f', 'o', 'o'), []byte("STOP"), nil, errProtocol},
		{"Unpublish oversize", unpublish, frameOf(115, 'f', 'o', 'o'), make([]byte, 1000), nil, errProtocol},

		{"Names", names, frameOf(110), append([]byte{0, 0, 0x11, 0x11}, "name foo at port 4660\nname b at port 1\n"...),
			[]NameEntry{{"foo", 4660}, {"b", 1}}, nil},
		{"Names none", names, frameOf(110), []byte{0, 0, 0x11, 0x11}, []NameEntry(nil), nil},
		{"Names empty reply", names, frameOf(110), nil, []NameEntry(nil), errProtocol},
		{"Names bad line", names, frameOf(110), append([]byte{0, 0, 0x11, 0x11}, "garbage\n"...), []NameEntry(nil), errProtocol},

		{"Dump", dump, frameOf(100), append([]byte{0, 0, 0x11, 0x11}, "active name     <foo> at port 4660, fd = 5\n\x00"...),
			"active name     <foo> at port 4660, fd = 5\n", nil},
		{"Dump empty", dump, frameOf(100), []byte{0, 0, 0x11, 0x11}, "", nil},
		{"Dump not allowed", dump, frameOf(100), nil, "", ErrNotAllowed},
		{"Dump short", dump, frameOf(100), []byte{0, 0}, "", errProtocol},

		{"Kill", kill, frameOf(107), []byte("OK"), nil, nil},
		{"Kill refused", kill, frameOf(107), []byte("NO"), nil, ErrNotAllowed},
		{"Kill no reply", kill, frameOf(107), nil, nil, ErrNotAllowed},
		{"Kill garbage", kill, frameOf(107), []byte("KO"), nil, errProtocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make(chan []byte, 1)
			c := fakeEPMD(t, replyWith(got, tt.reply))
			v, err := tt.call(t.Context(), c)
			if !checkErr(err, tt.wantErr) {
				t.Errorf("reply %.40x: error %v, want %v", tt.reply, err, tt.wantErr)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "epmd: ") {
				t.Errorf("error %q lacks the epmd: prefix", err)
			}
			if !reflect.DeepEqual(v, tt.want) {
				t.Errorf("reply %.40x: got %#v, want %#v", tt.reply, v, tt.want)
			}
			if req := <-got; !bytes.Equal(req, tt.wantReq) {
				t.Errorf("request %x, want %x", req, tt.wantReq)
			}
		})
	}
}

// TestClientPortPleaseOpen checks that PortPlease returns once it has
// the whole reply, without waiting for epmd to close the connection,
// whether the reply comes in one piece or byte by byte.
func TestClientPortPleaseOpen(t *testing.T) {
	for _, tt := range []struct {
		name  string
		reply []byte
		want  NodeInfo
		err   error
	}{
		{"found", fooPort2Resp, fooInfo, nil},
		{"not found", []byte{119, 1}, NodeInfo{}, ErrNotRegistered},
	} {
		for _, bytewise := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s bytewise=%v", tt.name, bytewise), func(t *testing.T) {
				done := make(chan struct{})
				c := fakeEPMD(t, func(c net.Conn) {
					if _, err := readFrame(c); err != nil {
						return
					}
					if bytewise {
						for _, b := range tt.reply {
							c.Write([]byte{b})
						}
					} else {
						c.Write(tt.reply)
					}
					<-done // and keep the connection open
				})
				defer close(done)
				// On a client that waits for the close, the time runs out.
				ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
				defer cancel()
				info, err := c.PortPlease(ctx, "foo")
				if !checkErr(err, tt.err) || !reflect.DeepEqual(info, tt.want) {
					t.Errorf("PortPlease() = %+v, %v; want %+v, %v", info, err, tt.want, tt.err)
				}
			})
		}
	}
}

func TestClientBadNames(t *testing.T) {
	c := &Client{Host: "127.0.0.1", Port: 1} // never dialled
	long := strings.Repeat("n", MaxNameLen+1)
	for _, name := range []string{"", "@host", long, long + "@host"} {
		if _, err := c.PortPlease(t.Context(), name); err == nil || !strings.HasPrefix(err.Error(), "epmd: port please") {
			t.Errorf("PortPlease(%.20q) = %v, want a port please error", name, err)
		}
		if err := c.Unpublish(t.Context(), name); err == nil || !strings.HasPrefix(err.Error(), "epmd: unpublish") {
			t.Errorf("Unpublish(%.20q) = %v, want an unpublish error", name, err)
		}
	}
	for _, info := range []NodeInfo{
		{Name: "", Port: 1},
		{Name: long, Port: 1},
		{Name: "a@b", Port: 1},
		{Name: "a", Port: 0},
		{Name: "a", Port: 1, Extra: make([]byte, 0x10000)},
	} {
		if r, err := c.Publish(t.Context(), info); err == nil || !strings.HasPrefix(err.Error(), "epmd: publish") {
			t.Errorf("Publish(%.40v) = %v, %v, want a publish error", info, r, err)
		}
	}
	// What OTP's epmd would refuse, Publish refuses without asking, so
	// that a refusal from epmd means the name is in use.
	dialled := false
	c.Dialer = dialFunc(func(context.Context, string, string) (net.Conn, error) {
		dialled = true
		return nil, errors.New("no epmd")
	})
	for _, tt := range []struct {
		info NodeInfo
		want string
	}{
		{NodeInfo{Name: strings.Repeat("é", 256), Port: 1}, "name must be 1 to 255 characters of UTF-8"},
		{NodeInfo{Name: "a\xffb", Port: 1}, "name must be 1 to 255 characters of UTF-8"},
		{NodeInfo{Name: "a", Port: 1, Extra: make([]byte, 1021)}, "extra is 1021 bytes, more than epmd's 1020"},
	} {
		if _, err := c.Publish(t.Context(), tt.info); err == nil || !strings.HasSuffix(err.Error(), tt.want) {
			t.Errorf("Publish(%.40v) = %v, want %q", tt.info, err, tt.want)
		}
	}
	if dialled {
		t.Errorf("Publish dialled epmd for a name or extra epmd refuses")
	}
	// The longest of each is fine.
	if _, err := c.Publish(t.Context(), NodeInfo{Name: strings.Repeat("é", 255), Port: 1, Extra: make([]byte, 1020)}); !dialled || err == nil || !strings.HasSuffix(err.Error(), "no epmd") {
		t.Errorf("Publish(longest name and extra) = %v, want it to dial epmd", err)
	}
}

// TestClientPortPleaseHost checks that "name@host" dials host, not c.Host.
func TestClientPortPleaseHost(t *testing.T) {
	got := make(chan []byte, 1)
	c := fakeEPMD(t, replyWith(got, fooPort2Resp))
	// Nothing listens on ::1 at the fake's port: the fake is on 127.0.0.1.
	c.Host = "::1"
	if _, err := c.PortPlease(t.Context(), "foo"); err == nil {
		t.Fatalf("PortPlease(foo) via ::1 succeeded, want a dial error")
	}
	info, err := c.PortPlease(t.Context(), "foo@127.0.0.1")
	if err != nil || !reflect.DeepEqual(info, fooInfo) {
		t.Errorf("PortPlease(foo@127.0.0.1) = %+v, %v, want %+v", info, err, fooInfo)
	}
	if req := <-got; !bytes.Equal(req, frameOf(122, 'f', 'o', 'o')) {
		t.Errorf("request %x, want the name without the host", req)
	}
}

func TestClientEnvPort(t *testing.T) {
	got := make(chan []byte, 4)
	c := fakeEPMD(t, replyWith(got, []byte{0, 0, 0x11, 0x11}))
	t.Setenv("ERL_EPMD_PORT", strconv.Itoa(c.Port))
	if _, err := (&Client{Host: "127.0.0.1"}).Names(t.Context()); err != nil {
		t.Errorf("Names() with ERL_EPMD_PORT=%d: %v", c.Port, err)
	}
	// The package-level functions use localhost and the environment.
	if _, err := Names(t.Context()); err != nil {
		t.Errorf("package Names() with ERL_EPMD_PORT=%d: %v", c.Port, err)
	}
	if n := len(got); n != 2 {
		t.Errorf("fake epmd got %d requests, want 2", n)
	}

	// An explicit Port wins over the environment.
	t.Setenv("ERL_EPMD_PORT", "nonsense")
	if _, err := c.Names(t.Context()); err != nil {
		t.Errorf("Names() with Port %d and a bad ERL_EPMD_PORT: %v", c.Port, err)
	}
	for _, v := range []string{"nonsense", "0", "65536", "-1"} {
		t.Setenv("ERL_EPMD_PORT", v)
		if _, err := (&Client{Host: "127.0.0.1"}).Names(t.Context()); err == nil || !strings.Contains(err.Error(), "ERL_EPMD_PORT") {
			t.Errorf("Names() with ERL_EPMD_PORT=%q = %v, want an ERL_EPMD_PORT error", v, err)
		}
	}
	for _, p := range []int{-1, 65536} {
		if _, err := (&Client{Host: "127.0.0.1", Port: p}).Names(t.Context()); err == nil {
			t.Errorf("Names() with Port %d succeeded, want an error", p)
		}
	}
}

// expiredContext is a context whose deadline the test ends by hand, so
// tests see context.DeadlineExceeded without waiting on a clock.
type expiredContext struct {
	context.Context
	done chan struct{}
	once sync.Once
}

func newExpiredContext() *expiredContext {
	return &expiredContext{Context: context.Background(), done: make(chan struct{})}
}

func (c *expiredContext) expire()               { c.once.Do(func() { close(c.done) }) }
func (c *expiredContext) Done() <-chan struct{} { return c.done }

func (c *expiredContext) Err() error {
	select {
	case <-c.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}

func TestClientContext(t *testing.T) {
	calls := []struct {
		name string
		call func(context.Context, *Client) error
	}{
		{"PortPlease", func(ctx context.Context, c *Client) error { _, err := c.PortPlease(ctx, "foo"); return err }},
		{"Unpublish", func(ctx context.Context, c *Client) error { return c.Unpublish(ctx, "foo") }},
		{"Names", func(ctx context.Context, c *Client) error { _, err := c.Names(ctx); return err }},
		{"Dump", func(ctx context.Context, c *Client) error { _, err := c.Dump(ctx); return err }},
		{"Kill", func(ctx context.Context, c *Client) error { return c.Kill(ctx) }},
		{"Publish", func(ctx context.Context, c *Client) error {
			r, err := c.Publish(ctx, NodeInfo{Name: "foo", Port: 1})
			if err == nil {
				r.Close()
			}
			return err
		}},
	}
	for _, tt := range calls {
		// The fake reads the request, ends the context and never replies.
		t.Run(tt.name+"/cancel while waiting for the reply", func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			c := fakeEPMD(t, func(c net.Conn) {
				if _, err := readFrame(c); err != nil {
					return
				}
				cancel()
				io.Copy(io.Discard, c) // until the client hangs up
			})
			if err := tt.call(ctx, c); !errors.Is(err, context.Canceled) {
				t.Errorf("error %v, want context.Canceled", err)
			}
		})
		t.Run(tt.name+"/deadline while waiting for the reply", func(t *testing.T) {
			ctx := newExpiredContext()
			c := fakeEPMD(t, func(c net.Conn) {
				if _, err := readFrame(c); err != nil {
					return
				}
				ctx.expire()
				io.Copy(io.Discard, c)
			})
			if err := tt.call(ctx, c); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error %v, want context.DeadlineExceeded", err)
			}
		})
		t.Run(tt.name+"/cancelled before dialling", func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			c := fakeEPMD(t, func(c net.Conn) { io.Copy(io.Discard, c) })
			if err := tt.call(ctx, c); !errors.Is(err, context.Canceled) {
				t.Errorf("error %v, want context.Canceled", err)
			}
		})
	}
}

// publishFake answers ALIVE2_REQ with reply, sends the request on got, then
// runs after (if any) on the still-open connection.
func publishFake(t *testing.T, got chan<- []byte, reply []byte, after func(net.Conn)) *Client {
	return fakeEPMD(t, func(c net.Conn) {
		frame, err := readFrame(c)
		if err != nil {
			return
		}
		got <- frame
		if _, err := c.Write(reply); err != nil {
			return
		}
		if after != nil {
			after(c)
		}
	})
}

func TestPublish(t *testing.T) {
	tests := []struct {
		name         string
		info         NodeInfo
		wantReq      []byte
		reply        []byte
		wantCreation uint32
	}{
		{"ALIVE2_X_RESP", NodeInfo{Name: "foo", Port: 0x1234, Type: NodeTypeNormal, HighestVersion: 6, LowestVersion: 6,
			Extra: []byte{9}},
			frameOf(
				120,        // tag ALIVE2_REQ
				0x12, 0x34, // PortNo
				77, 0, // NodeType 'M', Protocol tcp
				0, 6, 0, 6, // HighestVersion, LowestVersion
				0, 3, 'f', 'o', 'o', // Nlen, NodeName
				0, 1, 9, // Elen, Extra
			),
			[]byte{118, 0, 0x01, 0x02, 0x03, 0x04}, // ALIVE2_X_RESP, ok, creation
			0x01020304},
		{"ALIVE2_RESP with defaults", NodeInfo{Name: "c", Port: 1},
			frameOf(
				120,  // tag ALIVE2_REQ
				0, 1, // PortNo
				72, 0, // NodeType 'H' by default, Protocol tcp
				0, 6, 0, 5, // HighestVersion 6, LowestVersion 5 by default
				0, 1, 'c', // Nlen, NodeName
				0, 0, // Elen
			),
			[]byte{121, 0, 0, 3}, // ALIVE2_RESP, ok, creation
			3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make(chan []byte, 1)
			closed := make(chan struct{})
			c := publishFake(t, got, tt.reply, func(c net.Conn) {
				// epmd keeps the name until the client closes.
				io.Copy(io.Discard, c)
				close(closed)
			})
			r, err := c.Publish(t.Context(), tt.info)
			if err != nil {
				t.Fatalf("Publish(%+v): %v", tt.info, err)
			}
			if req := <-got; !bytes.Equal(req, tt.wantReq) {
				t.Errorf("request %x, want %x", req, tt.wantReq)
			}
			if r.Creation() != tt.wantCreation {
				t.Errorf("Creation() = %#x, want %#x", r.Creation(), tt.wantCreation)
			}
			select {
			case <-r.Done():
				t.Errorf("Done() closed before Close: %v", r.Err())
			case <-closed:
				t.Errorf("connection closed before Close")
			default:
			}
			if err := r.Close(); err != nil {
				t.Errorf("Close() = %v", err)
			}
			<-closed
			<-r.Done()
			if err := r.Err(); err != nil {
				t.Errorf("Err() after Close = %v, want nil", err)
			}
			if err := r.Close(); err != nil {
				t.Errorf("second Close() = %v, want nil", err)
			}
		})
	}
}

func TestPublishBadReplies(t *testing.T) {
	tests := []struct {
		name    string
		reply   []byte
		wantErr error
	}{
		{"refused X", []byte{118, 1, 0, 0, 0, 99}, &RefusedError{Op: "alive2", Result: 1}},
		{"refused", []byte{121, 3, 0, 0}, &RefusedError{Op: "alive2", Result: 3}},
		{"no reply", nil, errProtocol},
		{"bad tag", []byte{119, 0, 0, 1}, errProtocol},
		{"truncated X", []byte{118, 0, 0}, errProtocol},
		{"truncated", []byte{121, 0}, errProtocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make(chan []byte, 1)
			c := publishFake(t, got, tt.reply, nil) // closes after the reply
			r, err := c.Publish(t.Context(), NodeInfo{Name: "foo", Port: 1})
			if r != nil {
				r.Close()
			}
			var re *RefusedError
			if want, ok := tt.wantErr.(*RefusedError); ok {
				if !errors.As(err, &re) || *re != *want {
					t.Errorf("Publish with reply %x = %v, want %v", tt.reply, err, want)
				}
				if !errors.Is(err, ErrNameInUse) || !strings.Contains(err.Error(), ": epmd: name in use (ALIVE2_REQ refused with result") {
					t.Errorf("Publish with reply %x = %v, want ErrNameInUse saying so", tt.reply, err)
				}
			} else if !checkErr(err, tt.wantErr) {
				t.Errorf("Publish with reply %x = %v, want %T", tt.reply, err, tt.wantErr)
			}
			if err != nil && !strings.HasPrefix(err.Error(), `epmd: publish "foo": `) {
				t.Errorf("error %q lacks the publish prefix", err)
			}
			<-got
		})
	}
}

// TestPublishPeerEnds checks a registration with re-registration turned
// off: it ends when epmd ends it, and says why.
func TestPublishPeerEnds(t *testing.T) {
	ok := []byte{118, 0, 0, 0, 0, 1}
	tests := []struct {
		name    string
		after   func(net.Conn)
		wantEOF bool
	}{
		{"epmd closes", func(net.Conn) {}, true},
		{"epmd sends a byte", func(c net.Conn) {
			c.Write([]byte{0})
			io.Copy(io.Discard, c)
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := publishFake(t, make(chan []byte, 1), ok, tt.after)
			c.ReregisterDelay = -1
			r, err := c.Publish(t.Context(), NodeInfo{Name: "foo", Port: 1})
			if err != nil {
				t.Fatal(err)
			}
			<-r.Done()
			if s := r.State(); s != StateClosed {
				t.Errorf("State() = %v after Done, want %v", s, StateClosed)
			}
			err = r.Err()
			var pe *ProtocolError
			switch {
			case err == nil:
				t.Errorf("Err() = nil after epmd ended the registration")
			case tt.wantEOF && !errors.Is(err, io.EOF):
				t.Errorf("Err() = %v, want io.EOF", err)
			case !tt.wantEOF && !errors.As(err, &pe):
				t.Errorf("Err() = %v, want *ProtocolError", err)
			}
			if err := r.Shutdown(t.Context()); err != nil {
				t.Errorf("Shutdown() after epmd ended = %v, want nil", err)
			}
			if err := r.Close(); err != nil {
				t.Errorf("Close() after epmd ended = %v, want nil", err)
			}
			if err2 := r.Err(); err2 != err {
				t.Errorf("Err() after Close = %v, want it unchanged (%v)", err2, err)
			}
		})
	}
}

func TestRegistrationShutdown(t *testing.T) {
	ok := []byte{118, 0, 0, 0, 0, 1}
	t.Run("epmd closes", func(t *testing.T) {
		sawEOF := make(chan struct{})
		c := publishFake(t, make(chan []byte, 1), ok, func(c net.Conn) {
			io.Copy(io.Discard, c) // EOF once the client closes its write half
			close(sawEOF)
		})
		r, err := c.Publish(t.Context(), NodeInfo{Name: "foo", Port: 1})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Shutdown(t.Context()); err != nil {
			t.Fatalf("Shutdown() = %v", err)
		}
		// Shutdown returned, so epmd had seen the EOF and closed.
		select {
		case <-sawEOF:
		default:
			t.Errorf("Shutdown returned before epmd saw the connection end")
		}
		if err := r.Err(); err != nil {
			t.Errorf("Err() after Shutdown = %v, want nil", err)
		}
	})
	t.Run("epmd never closes", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		release := make(chan struct{})
		c := publishFake(t, make(chan []byte, 1), ok, func(c net.Conn) {
			io.Copy(io.Discard, c) // the client's write half is closed
			cancel()               // give up on Shutdown
			<-release              // keep the conn open until Shutdown returned
		})
		r, err := c.Publish(t.Context(), NodeInfo{Name: "foo", Port: 1})
		if err != nil {
			t.Fatal(err)
		}
		err = r.Shutdown(ctx)
		close(release)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Shutdown() = %v, want context.Canceled", err)
		}
		<-r.Done()
	})
}

func TestClientConcurrent(t *testing.T) {
	c := fakeEPMD(t, func(c net.Conn) {
		if _, err := readFrame(c); err == nil {
			c.Write(fooPort2Resp)
		}
	})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			if _, err := c.PortPlease(t.Context(), "foo"); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent PortPlease: %v", err)
	}
}

func BenchmarkPortPlease(b *testing.B) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			if _, err := readFrame(conn); err == nil {
				conn.Write(fooPort2Resp)
			}
			conn.Close()
		}
	}()
	defer func() {
		l.Close()
		<-done
	}()
	c := &Client{Host: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port}
	ctx := context.Background()
	for b.Loop() {
		if _, err := c.PortPlease(ctx, "foo"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPackageFuncs checks that the package-level functions use the
// default Client: localhost at $ERL_EPMD_PORT.
func TestPackageFuncs(t *testing.T) {
	c := fakeEPMD(t, func(c net.Conn) {
		frame, err := readFrame(c)
		if err != nil || len(frame) < 3 {
			return
		}
		switch frame[2] {
		case 122: // PORT_PLEASE2_REQ
			c.Write(fooPort2Resp)
		case 115: // STOP_REQ
			c.Write([]byte("STOPPED"))
		case 110: // NAMES_REQ
			c.Write(append([]byte{0, 0, 0x11, 0x11}, "name foo at port 4660\n"...))
		case 100: // DUMP_REQ
			c.Write(append([]byte{0, 0, 0x11, 0x11}, "dump"...))
		case 107: // KILL_REQ
			c.Write([]byte("OK"))
		case 120: // ALIVE2_REQ
			c.Write([]byte{118, 0, 0, 0, 0, 7})
			io.Copy(io.Discard, c)
		}
	})
	t.Setenv("ERL_EPMD_PORT", strconv.Itoa(c.Port))
	ctx := t.Context()
	if info, err := PortPlease(ctx, "foo"); err != nil || !reflect.DeepEqual(info, fooInfo) {
		t.Errorf("PortPlease(foo) = %+v, %v, want %+v", info, err, fooInfo)
	}
	if err := Unpublish(ctx, "foo"); err != nil {
		t.Errorf("Unpublish(foo) = %v", err)
	}
	if names, err := Names(ctx); err != nil || !reflect.DeepEqual(names, []NameEntry{{"foo", 4660}}) {
		t.Errorf("Names() = %v, %v, want foo at 4660", names, err)
	}
	if text, err := Dump(ctx); err != nil || text != "dump" {
		t.Errorf("Dump() = %q, %v, want dump", text, err)
	}
	if err := Kill(ctx); err != nil {
		t.Errorf("Kill() = %v", err)
	}
	r, err := Publish(ctx, NodeInfo{Name: "foo", Port: 1})
	if err != nil {
		t.Fatalf("Publish(foo) = %v", err)
	}
	if r.Creation() != 7 {
		t.Errorf("Creation() = %d, want 7", r.Creation())
	}
	if err := r.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown() = %v", err)
	}
}

func TestRefusedError(t *testing.T) {
	for _, tt := range []struct {
		err       *RefusedError
		want      string
		nameInUse bool
	}{
		{&RefusedError{Op: "alive2", Result: 1}, "epmd: name in use (ALIVE2_REQ refused with result 1)", true},
		{&RefusedError{Op: "other", Result: 2}, "epmd: other refused with result 2", false},
	} {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("%#v.Error() = %q, want %q", tt.err, got, tt.want)
		}
		if got := errors.Is(tt.err, ErrNameInUse); got != tt.nameInUse {
			t.Errorf("errors.Is(%#v, ErrNameInUse) = %v, want %v", tt.err, got, tt.nameInUse)
		}
	}
}
