package epmd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// childServerEnv, set to a number, makes the test binary serve a Server
// with RelaxedCommandCheck under that file descriptor limit instead of
// running tests: it prints its address and serves until standard input
// closes.
const childServerEnv = "GOEI_EPMD_TEST_CHILD_SERVER"

// serveChild is the child process of startChildServer.
func serveChild(limit string) int {
	n, err := strconv.ParseUint(limit, 10, 64)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: n, Max: n}); err != nil {
		fmt.Fprintln(os.Stderr, "setrlimit:", err)
		return 2
	}
	l, err := Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	s := &Server{RelaxedCommandCheck: true}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	fmt.Println(l.Addr())
	go func() {
		io.Copy(io.Discard, os.Stdin)
		s.Close()
	}()
	<-done // after a KILL_REQ too
	return 0
}

// startChildServer runs a Server in a copy of the test binary whose file
// descriptor limit is limit, and returns its address and process id. The
// process ends at cleanup, and closes its connections first: then the
// TIME_WAIT states they leave hold its port, not this side's ports,
// which other programs on this machine may need.
func startChildServer(t *testing.T, limit uint64) (string, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childServerEnv+"="+strconv.FormatUint(limit, 10))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() {
			cmd.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		t.Fatalf("child server: %v\n%s", err, stderr.String())
	}
	return line[:len(line)-1], cmd.Process.Pid
}

// freeFiles returns how many more files process pid may open under the
// file descriptor limit limit: the numbers below limit not in use.
func freeFiles(t *testing.T, pid int, limit int) int {
	t.Helper()
	dir, err := os.Open("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	fds, err := dir.Readdirnames(-1)
	if err != nil {
		t.Fatal(err)
	}
	free := limit
	for _, fd := range fds {
		if n, err := strconv.Atoi(fd); err == nil && n < limit {
			free--
		}
	}
	return free
}

// TestServerAtFileLimit fills a server's file descriptors with registered
// nodes until one is left, and then sends each kind of request. Every one
// must be answered: serving a connection takes no descriptor besides its
// own.
func TestServerAtFileLimit(t *testing.T) {
	const limit = 64
	held := holdConns(t)
	addr, pid := startChildServer(t, limit)
	fillFiles(t, held, addr, pid, limit)
	found := []byte{119, 0, 0x13, 0x88} // PORT2_RESP, found, port 5000
	steps := []struct {
		name string
		send func() []byte // sends the request and returns the reply
		ok   func([]byte) bool
	}{
		{"PORT_PLEASE2_REQ", func() []byte { return portPlease(t, addr, "fill0") },
			func(b []byte) bool { return bytes.HasPrefix(b, found) }},
		{"PORT_PLEASE2_REQ in two parts", func() []byte { return splitRequest(t, addr, pid, limit, []byte("zfill0")) },
			func(b []byte) bool { return bytes.HasPrefix(b, found) }},
		{"NAMES_REQ", func() []byte { return request(t, addr, []byte{tagNamesReq}) },
			func(b []byte) bool { return bytes.Contains(b, []byte("name fill0 at port 5000\n")) }},
		{"DUMP_REQ", func() []byte { return request(t, addr, []byte{tagDumpReq}) },
			func(b []byte) bool { return bytes.Contains(b, []byte("<fill0> at port 5000")) }},
		{"STOP_REQ", func() []byte { return request(t, addr, []byte("snone")) },
			func(b []byte) bool { return string(b) == "NOEXISTSTOPPED" }},
		// This takes the last descriptor until the connection closes.
		{"ALIVE2_REQ", func() []byte {
			c, reply := register(t, addr, alive2Body("last", 6000, 6, nil))
			c.Close()
			return reply
		},
			func(b []byte) bool { return len(b) == 6 && b[0] == tagAlive2XResp && b[1] == 0 }},
		{"KILL_REQ", func() []byte { return request(t, addr, []byte{tagKillReq}) },
			func(b []byte) bool { return string(b) == "OK" }},
	}
	for _, st := range steps {
		if got := st.send(); !st.ok(got) {
			t.Errorf("%s with one file descriptor left: reply %q", st.name, got)
		}
	}
}

// fillFiles registers nodes fill0, fill1, ... on ports 5000, 5001, ...
// with the server at addr, process pid with file limit limit, until it has
// one descriptor left, and returns how many it registered. The
// connections go to held.
func fillFiles(t *testing.T, held *heldConns, addr string, pid, limit int) int {
	t.Helper()
	i := 0
	// Register one before counting: the server sets up as it starts.
	for free := 2; free > 1; free = freeFiles(t, pid, limit) {
		if i >= limit {
			t.Fatalf("server may open %d more files after %d registrations", free, i)
		}
		for range free - 1 { // each takes one descriptor
			c, reply, err := registerNode(addr, alive2Body("fill"+strconv.Itoa(i), uint16(5000+i), 6, nil))
			held.add(c)
			if err != nil {
				t.Fatalf("ALIVE2_REQ(fill%d): %v", i, err)
			}
			if reply[1] != 0 {
				t.Fatalf("ALIVE2_REQ(fill%d) = %x, want result 0", i, reply)
			}
			i++
		}
	}
	return i
}

// heldConns are connections that a test holds open until cleanup.
type heldConns struct {
	mu sync.Mutex
	cs []net.Conn
}

// holdConns returns connections that are closed at cleanup, after what
// later calls set to happen at cleanup, such as ending a server: call it
// before startChildServer.
func holdConns(t *testing.T) *heldConns {
	h := new(heldConns)
	t.Cleanup(func() {
		for _, c := range h.cs {
			c.Close()
		}
	})
	return h
}

func (h *heldConns) add(c net.Conn) {
	if c != nil {
		h.mu.Lock()
		h.cs = append(h.cs, c)
		h.mu.Unlock()
	}
}

// splitRequest sends the request body in two parts, the second once the
// server has accepted the connection, which takes its last descriptor,
// and returns the reply.
func splitRequest(t *testing.T, addr string, pid, limit int, body []byte) []byte {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := frame(body)
	c.Write(req[:2])
	deadline := time.Now().Add(20 * time.Second)
	for freeFiles(t, pid, limit) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("server did not accept the connection")
		}
		c.SetReadDeadline(time.Now().Add(time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
			return nil // closed
		}
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write(req[2:])
	b, _ := io.ReadAll(c)
	return b
}

// manyConns is how many connections TestServerManyConnections holds open.
const manyConns = 20000

// TestServerManyConnections registers manyConns nodes with a server in
// another process, each holding its connection open, registers more until
// the server has one file descriptor left, and checks that lookups and
// NAMES_REQ are still answered. It raises the file limit as far as it
// may, and uses fewer connections if that is too low.
func TestServerManyConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 20000 connections; skipped with -short")
	}
	// The server gets spare descriptors more than n; this process needs
	// as many for the connections that fill them, and a few of its own.
	const spare = 100
	limit := raiseFileLimit(manyConns + 2*spare)
	n := min(manyConns, int(limit)-2*spare)
	if n < 1000 {
		t.Skipf("file limit %d is too low", limit)
	}
	if n < manyConns {
		t.Logf("file limit %d allows %d connections, not %d", limit, n, manyConns)
	}
	held := holdConns(t)
	addr, pid := startChildServer(t, uint64(n+spare))
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < n; i += 16 {
				c, reply, err := registerNode(addr, alive2Body("n"+strconv.Itoa(i), uint16(1+i%60000), 6, nil))
				held.add(c)
				if err == nil && reply[1] != 0 {
					err = fmt.Errorf("ALIVE2_REQ(n%d) = %x, want result 0", i, reply)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total := n + fillFiles(t, held, addr, pid, n+spare)
	for _, i := range []int{0, n / 2, n - 1} {
		got := portPlease(t, addr, "n"+strconv.Itoa(i))
		if len(got) < 4 || got[1] != 0 || int(binary.BigEndian.Uint16(got[2:])) != 1+i%60000 {
			t.Errorf("PORT_PLEASE2_REQ(n%d) with %d connections open = %x", i, total, got)
		}
	}
	var names NamesResp
	if err := names.UnmarshalBinary(request(t, addr, []byte{tagNamesReq})); err != nil {
		t.Fatalf("NAMES_REQ with %d connections open: %v", total, err)
	}
	if len(names.Names) != total {
		t.Errorf("NAMES_REQ with %d connections open lists %d nodes", total, len(names.Names))
	}
}

// registerNode sends an ALIVE2_REQ with body on a new connection, and
// returns the connection, which holds the registration, and the reply.
func registerNode(addr string, body []byte) (net.Conn, []byte, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	reply := make([]byte, 6)
	if _, err := c.Write(frame(body)); err != nil {
		return c, nil, err
	}
	if _, err := io.ReadFull(c, reply); err != nil {
		return c, nil, fmt.Errorf("ALIVE2_REQ: %w", err)
	}
	return c, reply, nil
}

// raiseFileLimit raises this process's file descriptor limit to n if it
// may, or else as far as it may, and returns the limit.
func raiseFileLimit(n uint64) uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	if lim.Cur >= n {
		return lim.Cur
	}
	if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: n, Max: max(n, lim.Max)}) != nil {
		lim.Cur = lim.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	return lim.Cur
}
