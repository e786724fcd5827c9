package ei

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/goei/goei/internal/erltest"
)

func TestNodeCookieFile(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	n := &Node{Name: "a@host"}
	if _, err := n.Pid(); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Pid() without a cookie file = %v, want fs.ErrNotExist", err)
	}
	if err := os.WriteFile(filepath.Join(home, ".erlang.cookie"), []byte("SECRET\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	n = &Node{Name: "a@host"}
	if err := n.init(); err != nil {
		t.Fatalf("init() = %v", err)
	}
	if n.cookie != "SECRET" {
		t.Errorf("cookie = %q, want SECRET", n.cookie)
	}
}

// TestNodeCookieFileMode checks that the cookie file is refused as erl
// refuses it: unless it is a regular file (or a link to one) that group
// and others have no access to.
func TestNodeCookieFileMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("erl checks the cookie file's mode on Unix only")
	}
	for _, tt := range []struct {
		mode fs.FileMode
		ok   bool
	}{
		{0o400, true}, {0o600, true}, {0o700, true},
		{0o644, false}, {0o640, false}, {0o604, false}, {0o610, false}, {0o601, false},
	} {
		t.Run(tt.mode.String(), func(t *testing.T) {
			home := t.TempDir()
			t.Setenv("HOME", home)
			name := filepath.Join(home, ".erlang.cookie")
			if err := os.WriteFile(name, []byte("SECRET"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(name, tt.mode); err != nil {
				t.Fatal(err)
			}
			err := (&Node{Name: "a@host"}).init()
			if tt.ok && err != nil {
				t.Errorf("init() with a cookie file of mode %v = %v, want nil", tt.mode, err)
			}
			if !tt.ok && (err == nil || !strings.Contains(err.Error(), "must be accessible by owner only")) {
				t.Errorf("init() with a cookie file of mode %v = %v, want an error saying it must be accessible by owner only", tt.mode, err)
			}
		})
	}
	t.Run("symlink", func(t *testing.T) {
		home := t.TempDir()
		t.Setenv("HOME", home)
		target := filepath.Join(home, "cookie")
		if err := os.WriteFile(target, []byte("SECRET"), 0o400); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, filepath.Join(home, ".erlang.cookie")); err != nil {
			t.Skip(err)
		}
		n := &Node{Name: "a@host"}
		if err := n.init(); err != nil || n.cookie != "SECRET" {
			t.Errorf("init() with a link to a cookie file = %v, cookie %q; want nil, SECRET", err, n.cookie)
		}
	})
	t.Run("directory", func(t *testing.T) {
		home := t.TempDir()
		t.Setenv("HOME", home)
		if err := os.Mkdir(filepath.Join(home, ".erlang.cookie"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := (&Node{Name: "a@host"}).init(); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("init() with a directory as cookie file = %v, want an error saying it is not a regular file", err)
		}
	})
}

func TestNodeName(t *testing.T) {
	for _, name := range []string{"", "a", "@h", "a@", "a@b@c"} {
		n := &Node{Name: name, Cookie: "c"}
		if _, err := n.Pid(); err == nil {
			t.Errorf("Pid() of node %q = nil error, want an error", name)
		}
		if _, err := n.Connect(context.Background(), "b@h"); err == nil {
			t.Errorf("Connect() from node %q = nil error, want an error", name)
		}
	}
	n := &Node{Name: "a@h", Cookie: "c"}
	if _, err := n.Connect(context.Background(), "nohost"); err == nil {
		t.Errorf("Connect(nohost) = nil error, want an error")
	}
}

func TestNodePid(t *testing.T) {
	n := &Node{Name: "a@h", Cookie: "c", Creation: 7}
	seen := map[Pid]bool{}
	for range 100 {
		p, err := n.Pid()
		if err != nil {
			t.Fatal(err)
		}
		if p.Node != "a@h" || p.Creation != 7 || seen[p] {
			t.Fatalf("Pid() = %v", p)
		}
		seen[p] = true
	}
	// Zero creation picks a random non-zero one, once.
	n = &Node{Name: "a@h", Cookie: "c"}
	p1, _ := n.Pid()
	p2, _ := n.Pid()
	if p1.Creation == 0 || p1.Creation != p2.Creation {
		t.Errorf("creations = %d, %d; want equal and non-zero", p1.Creation, p2.Creation)
	}
}

func TestNodeFlags(t *testing.T) {
	for _, tt := range []struct {
		flags, want Flags
	}{
		{0, DefaultFlags},
		{FlagPublished, MandatoryFlags},                      // never published; mandatory added
		{DefaultFlags | FlagSpawn | FlagAlias, DefaultFlags}, // not implemented
		{DefaultFlags &^ FlagDistHdrAtomCache, DefaultFlags &^ FlagDistHdrAtomCache},
	} {
		n := &Node{Flags: tt.flags}
		if got := n.advertised(); got != tt.want {
			t.Errorf("advertised(%v) = %v, want %v", tt.flags, got, tt.want)
		}
	}
}

func TestListenerAccept(t *testing.T) {
	ctx := context.Background()
	server := &Node{Name: "s@h", Cookie: "c", Creation: 1}
	l, err := server.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// A client with the wrong cookie is skipped; the next one is accepted.
	done := make(chan error, 1)
	go func() {
		c, err := l.Accept(ctx)
		if err == nil {
			err = c.Close()
		}
		done <- err
	}()
	dial := func(cookie string) (*Conn, error) {
		n := &Node{Name: "c@h", Cookie: cookie, Creation: 2}
		return n.ConnectAddr(ctx, "s@h", l.Addr().String())
	}
	if _, err := dial("wrong"); !errors.Is(err, ErrAuth) {
		t.Errorf("connect with a wrong cookie = %v, want ErrAuth", err)
	}
	c, err := dial("c")
	if err != nil {
		t.Fatalf("connect = %v", err)
	}
	c.Close()
	if err := <-done; err != nil {
		t.Fatalf("Accept() = %v", err)
	}
	// Cancelling ctx interrupts Accept; Close makes it return ErrClosed.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := l.Accept(cctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Accept(canceled) = %v, want context.Canceled", err)
	}
	l.Close()
	if _, err := l.Accept(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Accept() after Close = %v, want ErrClosed", err)
	}
}

// TestListenerSilentPeer connects a TCP client that never sends anything,
// then a real one: the real handshake completes while the silent one is
// still pending. The silent handshake's timeouts are an hour, so the real
// connection being accepted within the test's context shows that it did
// not wait for the silent one.
func TestListenerSilentPeer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	server := &Node{Name: "s@h", Cookie: "c", Creation: 1}
	if err := server.init(); err != nil {
		t.Fatal(err)
	}
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server.SetupTime = time.Hour
	l := server.newListener(tl, time.Hour)
	defer l.Close()

	// The kernel queues connections in the order they complete, so the
	// silent one is accepted first.
	silent, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()

	client := &Node{Name: "c@h", Cookie: "c", Creation: 2}
	dialed := make(chan error, 1)
	go func() {
		c, err := client.ConnectAddr(ctx, "s@h", l.Addr().String())
		if err == nil {
			c.Close()
		}
		dialed <- err
	}()
	c, err := l.Accept(ctx)
	if err != nil {
		t.Fatalf("Accept() with a silent peer pending = %v, want the real peer's connection", err)
	}
	defer c.Close()
	if c.Peer() != "c@h" {
		t.Errorf("Accept() = connection from %s, want c@h", c.Peer())
	}
	if err := <-dialed; err != nil {
		t.Errorf("ConnectAddr() = %v", err)
	}

	// Close interrupts the silent handshake and closes its connection.
	if err := l.Close(); err != nil {
		t.Errorf("Close() = %v", err)
	}
	if n, err := silent.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("silent peer Read() after Close = %d, %v, want io.EOF", n, err)
	}
}

// pipeListener is a net.Listener whose connections are net.Pipe ends, for
// Listener tests in synctest bubbles.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return &net.UnixAddr{Name: "pipe", Net: "pipe"} }

// dial returns the client end of a new connection once the listener has
// accepted it, or nil when the listener is closed.
func (l *pipeListener) dial() net.Conn {
	a, b := net.Pipe()
	select {
	case l.conns <- b:
		return a
	case <-l.done:
		a.Close()
		b.Close()
		return nil
	}
}

// listenPipes starts a Listener of node s@h on a pipeListener.
func listenPipes(t *testing.T) (*Listener, *pipeListener) {
	t.Helper()
	server := &Node{Name: "s@h", Cookie: "c", Creation: 1}
	if err := server.init(); err != nil {
		t.Fatal(err)
	}
	pl := newPipeListener()
	return server.newListener(pl, nameTimeout), pl
}

// TestListenerHandshakeTimeout checks, on a fake clock, that a silent
// peer does not delay another one, that a silent peer is cut off when it
// has not sent its name in time, and that one that sent its name but no
// more is cut off at the setup time.
func TestListenerHandshakeTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		l, pl := listenPipes(t)
		defer l.Close()
		start := time.Now()
		silent := pl.dial()
		defer silent.Close()

		client := &Node{Name: "c@h", Cookie: "c", Creation: 2}
		dialed := make(chan error, 1)
		go func() {
			c, err := client.ClientConn(ctx, pl.dial(), "s@h")
			if err == nil {
				c.Close()
			}
			dialed <- err
		}()
		c, err := l.Accept(ctx)
		if err != nil {
			t.Fatalf("Accept() = %v", err)
		}
		if elapsed := time.Since(start); elapsed >= nameTimeout {
			t.Errorf("Accept() took %v with a silent peer pending, want less than its name timeout %v", elapsed, nameTimeout)
		}
		if err := <-dialed; err != nil {
			t.Errorf("ClientConn() = %v", err)
		}
		c.Close()

		// A peer that sends its name, then nothing.
		named := pl.dial()
		defer named.Close()
		namedStart := time.Now()
		closed := make(chan time.Time)
		go func() {
			io.Copy(io.Discard, named)
			closed <- time.Now()
		}()
		named.Write(hsFrame(sendNameMsg(DefaultFlags, "n@h")))

		// The silent peer's connection is closed at its name timeout.
		if _, err := silent.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("silent peer Read() = %v, want io.EOF", err)
		}
		if elapsed := time.Since(start); elapsed != nameTimeout {
			t.Errorf("silent peer cut off after %v, want %v", elapsed, nameTimeout)
		}
		// The named one at the setup time.
		if elapsed := (<-closed).Sub(namedStart); elapsed != DefaultSetupTime {
			t.Errorf("peer silent after its name cut off after %v, want %v", elapsed, DefaultSetupTime)
		}
	})
}

// TestListenerClose checks that Close ends pending handshakes, closes
// established connections nobody accepted, and waits for all of it.
func TestListenerClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		l, pl := listenPipes(t)
		silent := pl.dial()
		defer silent.Close()
		client := &Node{Name: "c@h", Cookie: "c", Creation: 2}
		c, err := client.ClientConn(ctx, pl.dial(), "s@h")
		if err != nil {
			t.Fatalf("ClientConn() = %v", err)
		}
		defer c.Close()
		synctest.Wait() // the server side is now waiting for Accept

		if err := l.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
		if _, err := silent.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("silent peer Read() after Close = %v, want io.EOF", err)
		}
		<-c.Done()
		if err := c.Err(); !errors.Is(err, io.EOF) {
			t.Errorf("unaccepted connection: client Err() = %v, want io.EOF", err)
		}
		if _, err := l.Accept(ctx); !errors.Is(err, ErrClosed) {
			t.Errorf("Accept() after Close = %v, want ErrClosed", err)
		}
		if err := l.Publish(ctx); !errors.Is(err, ErrClosed) {
			t.Errorf("Publish() after Close = %v, want ErrClosed", err)
		}
		if conn := pl.dial(); conn != nil {
			t.Errorf("dial after Close succeeded")
		}
	})
}

// TestListenerPendingLimit checks that a Listener holding maxPending
// handshakes under way ends the oldest for a new connection, and that
// established connections nobody accepted are never ended that way: with
// maxPending of them, new connections wait.
func TestListenerPendingLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, pl := listenPipes(t)
		defer l.Close()
		var silent []net.Conn
		for range maxPending {
			silent = append(silent, pl.dial())
		}
		defer func() {
			for _, c := range silent {
				c.Close()
			}
		}()
		synctest.Wait()
		// One more connection ends the oldest handshake, and only that.
		client := &Node{Name: "c@h", Cookie: "c", Creation: 2}
		c, err := client.ClientConn(context.Background(), pl.dial(), "s@h")
		if err != nil {
			t.Fatalf("ClientConn() with %d handshakes pending = %v, want a connection", maxPending, err)
		}
		defer c.Close()
		if _, err := silent[0].Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("oldest silent peer Read() = %v, want io.EOF", err)
		}
		silent[1].SetReadDeadline(time.Now().Add(time.Second / 2))
		if _, err := silent[1].Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("second oldest silent peer Read() = %v, want it still waiting", err)
		}
	})
}

// TestListenerEstablishedLimit checks that established connections nobody
// accepted are never ended to make room: with maxPending of them, a new
// connection waits until Accept takes one.
func TestListenerEstablishedLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		l, pl := listenPipes(t)
		defer l.Close()
		client := &Node{Name: "c@h", Cookie: "c", Creation: 2}
		var conns []*Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for range maxPending {
			c, err := client.ClientConn(ctx, pl.dial(), "s@h")
			if err != nil {
				t.Fatalf("ClientConn() = %v", err)
			}
			conns = append(conns, c)
		}
		// The next connection is taken from the socket, but its
		// handshake waits.
		nc := pl.dial()
		defer nc.Close()
		type result struct {
			c   *Conn
			err error
		}
		done := make(chan result, 1)
		go func() {
			c, err := client.ClientConn(ctx, nc, "s@h")
			done <- result{c, err}
		}()
		synctest.Wait()
		select {
		case r := <-done:
			t.Fatalf("handshake %d with %d established connections waiting = %v, want it to wait", maxPending+1, maxPending, r.err)
		default:
		}
		for _, c := range conns {
			if err := c.Err(); err != nil {
				t.Fatalf("established connection ended: %v", err)
			}
		}
		a, err := l.Accept(ctx)
		if err != nil {
			t.Fatal(err)
		}
		a.Close()
		r := <-done
		if r.err != nil {
			t.Fatalf("handshake after Accept took a connection = %v", r.err)
		}
		r.c.Close()
	})
}

// TestListenerPendingMemory checks that a pending handshake holds little
// memory, even when its peer announced a long message and stopped: no
// read buffer for the connection to come, and no room for more than
// maxHandshakeMsg bytes.
func TestListenerPendingMemory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, pl := listenPipes(t)
		defer l.Close()
		const n = 32
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		var peers []net.Conn
		for range n {
			c := pl.dial()
			defer c.Close()
			// The length of the longest message read and its first
			// byte, then nothing.
			c.Write([]byte{maxHandshakeMsg >> 8, maxHandshakeMsg & 0xff, 'N'})
			peers = append(peers, c)
		}
		synctest.Wait()
		runtime.GC()
		runtime.ReadMemStats(&after)
		const most = 16 << 10
		per := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
		t.Logf("a pending handshake holds %d bytes of heap", per)
		if per > most {
			t.Errorf("a pending handshake holds %d bytes of heap, want at most %d", per, most)
		}
		for _, c := range peers {
			if _, err := c.Write([]byte{0}); err != nil {
				t.Fatalf("peer Write() = %v, want the handshake still reading", err)
			}
		}
		runtime.KeepAlive(peers)
	})
}

// TestConnectAddrSetupTime checks that ConnectAddr with a context without
// deadline gives up on a silent peer at Node.SetupTime.
func TestConnectAddrSetupTime(t *testing.T) {
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	go func() {
		for {
			c, err := tl.Accept()
			if err != nil {
				return
			}
			defer c.Close() // silent until the test ends
		}
	}()
	n := &Node{Name: "a@h", Cookie: "c", SetupTime: 100 * time.Millisecond}
	done := make(chan error, 1)
	go func() {
		c, err := n.ConnectAddr(context.Background(), "s@h", tl.Addr().String())
		if err == nil {
			c.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "setup time") {
			t.Errorf("ConnectAddr() to a silent peer = %v, want context.DeadlineExceeded naming the setup time", err)
		}
	case <-time.After(time.Minute):
		t.Fatalf("ConnectAddr() to a silent peer still waiting after a minute, with a setup time of %v", n.SetupTime)
	}
}

// TestListenerTLSNameTimeout checks that over TLS, the name timeout covers
// the TLS handshake too: a silent peer is cut off then, not at the setup
// time.
func TestListenerTLSNameTimeout(t *testing.T) {
	cert := erltest.NewPKI(t).Issue(t, "s", "h")
	synctest.Test(t, func(t *testing.T) {
		server := &Node{Name: "s@h", Cookie: "c", Creation: 1, TLS: &tls.Config{Certificates: []tls.Certificate{cert.TLS}}}
		if err := server.init(); err != nil {
			t.Fatal(err)
		}
		pl := newPipeListener()
		l := server.newListener(pl, nameTimeout)
		defer l.Close()
		start := time.Now()
		silent := pl.dial()
		defer silent.Close()
		if _, err := silent.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("silent peer Read() = %v, want io.EOF", err)
		}
		if elapsed := time.Since(start); elapsed != nameTimeout {
			t.Errorf("silent peer cut off after %v, want %v", elapsed, nameTimeout)
		}
	})
}
