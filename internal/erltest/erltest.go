// Package erltest starts real Erlang programs (erl, OTP's epmd and
// erl_call) for integration tests, from the Erlang/OTP that $GOEI_OTP
// selects: the host's, or one in a Debian chroot (see EnvOTP). Every
// helper skips the test when that OTP is missing or when tests run with
// -short, and stops what it started in t.Cleanup, by pid.
package erltest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// readyTimeout bounds how long a started program may take to become ready.
const readyTimeout = 30 * time.Second

// HaveOTP reports whether OTP's erl and epmd may be used: tests do not run
// with -short, and the OTP that $GOEI_OTP selects has both. It is for
// choosing, where Need skips.
func HaveOTP() bool {
	return Have("erl") && Have("epmd")
}

// FreePort returns a TCP port that was free on every IPv4 address (and
// on IPv6's, where there is IPv6) a moment ago, and that no other call in
// this process returned. Where it can, it picks one below the kernel's
// ephemeral range (ip_local_port_range): the kernel hands out ports of
// that range to any bind(:0) or outgoing connection, and for a socket
// bound to 127.0.0.2 it readily picks a port that erl listens on at
// 127.0.0.1, so that binding the port again later may fail.
func FreePort(t testing.TB) int {
	t.Helper()
	low, ok := ephemeralLow()
	for range 1000 {
		var l net.Listener
		var err error
		if ok {
			l, err = net.Listen("tcp4", fmt.Sprintf("0.0.0.0:%d", minFreePort+rand.IntN(low-minFreePort)))
		} else {
			l, err = net.Listen("tcp4", "0.0.0.0:0")
		}
		if err != nil {
			continue
		}
		port := l.Addr().(*net.TCPAddr).Port
		l6, err6 := net.Listen("tcp6", fmt.Sprintf("[::]:%d", port))
		l.Close()
		if err6 == nil {
			l6.Close()
		} else if errors.Is(err6, syscall.EADDRINUSE) {
			continue
		}
		freePorts.Lock()
		_, dup := freePorts.given[port]
		freePorts.given[port] = true
		freePorts.Unlock()
		if !dup {
			return port
		}
	}
	t.Fatalf("FreePort: no free port found")
	return 0
}

// minFreePort is the lowest port FreePort picks below the ephemeral range,
// above the ports services commonly use.
const minFreePort = 10000

var freePorts = struct {
	sync.Mutex
	given map[int]bool
}{given: map[int]bool{}}

// ephemeralLow returns the low end of the kernel's ephemeral port range,
// if there are enough ports between minFreePort and it.
func ephemeralLow() (int, bool) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, false
	}
	var low, high int
	if _, err := fmt.Sscan(string(b), &low, &high); err != nil || low-minFreePort < 1000 {
		return 0, false
	}
	return low, true
}

// Host is the host part erl uses for -sname nodes: the short host name.
func Host(t testing.TB) string {
	t.Helper()
	h, err := os.Hostname()
	if err != nil {
		t.Fatalf("Host: %v", err)
	}
	h, _, _ = strings.Cut(h, ".")
	return h
}

var seq atomic.Int64

// UniqueName returns a node name unique within this test binary and across
// concurrently running ones.
func UniqueName(prefix string) string {
	return fmt.Sprintf("%s%d_%d", prefix, os.Getpid(), seq.Add(1))
}

// StartOTPEPMD starts OTP's epmd on a free loopback port, with extra
// arguments such as -relaxed_command_check, and returns the port.
func StartOTPEPMD(t testing.TB, args ...string) int {
	t.Helper()
	return StartEPMDProgram(t, Need(t, "epmd"), args...)
}

// StartEPMDProgram runs bin, OTP's epmd or a build of cmd/epmd, as
// `bin -port N -address 127.0.0.1 args...` on a free port N, waits until it
// accepts connections and returns N. The process is killed at cleanup,
// unless it has ended already (after a KILL_REQ, say).
func StartEPMDProgram(t testing.TB, bin string, args ...string) int {
	t.Helper()
	return StartListening(t, func(port int) <-chan struct{} {
		cmd := exec.Command(bin, append([]string{"-port", strconv.Itoa(port), "-address", "127.0.0.1"}, args...)...)
		cmd.Dir = t.TempDir()
		cmd.Env = append(os.Environ(), "HOME="+cmd.Dir)
		out := new(lockedBuffer)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatalf("start %s: %v", bin, err)
		}
		return stopOnCleanup(t, cmd)
	})
}

// StartListening starts a server with start on a free port, and on
// another one if it exits before it listens there (an epmd exits when
// it finds its port taken, as another process may have done since
// FreePort found it free), and returns the port once the server accepts
// connections. start returns a channel closed when the server exits; it
// stops the server at t's cleanup.
func StartListening(t testing.TB, start func(port int) (exited <-chan struct{})) int {
	t.Helper()
ports:
	for range 10 {
		port := FreePort(t)
		exited := start(port)
		deadline := time.Now().Add(readyTimeout)
		for WaitListeningFor(port, 0) != nil {
			if time.Now().After(deadline) {
				t.Fatalf("nothing listening on port %d after %v", port, readyTimeout)
			}
			select {
			case <-exited:
				continue ports
			case <-time.After(10 * time.Millisecond):
			}
		}
		return port
	}
	t.Fatal("the server exited before listening on 10 free ports")
	return 0
}

// WaitListening polls until something accepts connections on the loopback
// port, for up to readyTimeout.
func WaitListening(port int) error {
	return WaitListeningFor(port, readyTimeout)
}

// WaitListeningFor is WaitListening for up to timeout; with 0 it tries once.
func WaitListeningFor(port int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listening on port %d: %w", port, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Node is a running erl node.
type Node struct {
	Name     string // full node name, name@host
	SName    string // the -sname part
	Cookie   string
	EPMDPort int
	Dir      string // working directory and HOME of the node
	out      *lockedBuffer
	exited   <-chan struct{}
	proc     *os.Process
}

// Output returns what the node has printed so far.
func (n *Node) Output() string { return n.out.String() }

// Exited is closed when the node's process has ended.
func (n *Node) Exited() <-chan struct{} { return n.exited }

// Kill kills the node's process (SIGKILL) and waits for it to end, so
// that its connections close as when a machine fails.
func (n *Node) Kill() {
	n.proc.Kill()
	<-n.exited
}

// Options configures StartErl.
type Options struct {
	SName  string   // node name; "" picks a unique one
	Cookie string   // "" means "c"
	Hidden bool     // start with -hidden
	Args   []string // extra erl arguments, e.g. "-eval", "..."
}

// StartErl starts `erl -sname NAME -setcookie COOKIE -noinput -start_epmd
// false` registered with the epmd at epmdPort, and waits until epmd knows
// the name. The node is killed in t.Cleanup.
func StartErl(t testing.TB, epmdPort int, opts Options) *Node {
	t.Helper()
	return OTP{}.StartErl(t, epmdPort, opts)
}

// Eval runs a one-shot `erl -noshell` without distribution that evaluates
// expr (which should print its result with io:format) and then halts. It
// returns what erl printed. ERL_EPMD_PORT is set to epmdPort when non-zero,
// and extra arguments (such as -sname) come before -eval.
func Eval(t testing.TB, epmdPort int, expr string, extra ...string) string {
	t.Helper()
	return OTP{}.Eval(t, epmdPort, expr, extra...)
}

// PortOf asks the epmd at epmdPort on loopback for name's distribution port with a
// bare PORT_PLEASE2_REQ, so this package does not depend on the code it
// tests.
func PortOf(epmdPort int, name string) (int, error) {
	// On IPv4 loopback, or IPv6 for an epmd listening there alone.
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", epmdPort), time.Second)
	if err != nil {
		var err6 error
		if c, err6 = net.DialTimeout("tcp", fmt.Sprintf("[::1]:%d", epmdPort), time.Second); err6 != nil {
			return 0, err
		}
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	req := binary.BigEndian.AppendUint16(nil, uint16(1+len(name)))
	req = append(append(req, 122), name...) // PORT_PLEASE2_REQ
	if _, err := c.Write(req); err != nil {
		return 0, err
	}
	resp, err := io.ReadAll(c)
	if err != nil {
		return 0, err
	}
	if len(resp) < 4 || resp[0] != 119 || resp[1] != 0 { // PORT2_RESP, result 0
		return 0, fmt.Errorf("erltest: %s not registered (reply %x)", name, resp)
	}
	return int(binary.BigEndian.Uint16(resp[2:4])), nil
}

// Cookie writes cookie to dir/.erlang.cookie with the mode erl demands.
func Cookie(t testing.TB, dir, cookie string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, ".erlang.cookie"), []byte(cookie), 0o400); err != nil {
		t.Fatal(err)
	}
}

// stopOnCleanup kills cmd in t.Cleanup and waits for it; the returned
// channel is closed when the process ends.
func stopOnCleanup(t testing.TB, cmd *exec.Cmd) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	return done
}

// lockedBuffer is a bytes.Buffer safe for a process's writes and a test's reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
