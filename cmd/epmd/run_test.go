package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/goei/goei/epmd"
	"github.com/goei/goei/internal/erltest"
)

// result is what one run of epmd printed and how it ended.
type result struct {
	stdout, stderr string
	code           int
}

// runEPMD calls run in-process.
func runEPMD(t *testing.T, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(t.Context(), args, &out, &errOut)
	return result{out.String(), errOut.String(), codeOf(t, err)}
}

func codeOf(t *testing.T, err error) int {
	t.Helper()
	var code exitCode
	switch {
	case err == nil:
		return 0
	case errors.As(err, &code):
		return int(code)
	}
	t.Fatalf("run returned %v, want nil or an exit code", err)
	return -1
}

func TestUsage(t *testing.T) {
	tests := [][]string{
		{"-bogus"},
		{"-port"},
		{"-port", "x"},           // atoi gives 0
		{"-port", "0"},           // likewise
		{"-names", "-port", "1"}, // commands come last
		{"-kill", "x"},
		{"-stop"},
		{"-stop", "a", "b"},
		{"-packet_timeout", "0"},
		{"-delay_accept"},
		{"-address"},
	}
	for _, args := range tests {
		r := runEPMD(t, args...)
		if r.code != 1 || r.stderr != usageText || r.stdout != "" {
			t.Errorf("run(%q) = %+v, want exit 1 with the usage on stderr", args, r)
		}
	}
}

func TestAtoi(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"4369", 4369},
		{" 12", 12},
		{"+7", 7},
		{"-3", -3},
		{"12abc", 12},
		{"abc", 0},
		{"", 0},
	}
	for _, tt := range tests {
		if got := atoi(tt.in); got != tt.want {
			t.Errorf("atoi(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

// registerFoo registers "foo" at port 5000 with the epmd at port and
// keeps it registered until cleanup.
func registerFoo(t *testing.T, port int) {
	t.Helper()
	body := []byte{120, 0x13, 0x88, 77, 0, 0, 6, 0, 5, 0, 3, 'f', 'o', 'o', 0, 0} // ALIVE2_REQ
	c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(body))), body...))
	reply := make([]byte, 6)
	if _, err := io.ReadFull(c, reply); err != nil || reply[1] != 0 {
		t.Fatalf("ALIVE2_REQ(foo) = %x, %v", reply, err)
	}
}

// cliCase is an epmd command run against an epmd in a given state.
type cliCase struct {
	name     string
	relaxed  bool // the server runs with -relaxed_command_check
	register bool // foo is registered
	args     []string
	want     result // PORT stands for the server's port
}

var cliCases = []cliCase{
	{"names empty", false, false, []string{"-names"},
		result{"epmd: up and running on port PORT with data:\n", "", 0}},
	{"names", false, true, []string{"-names"},
		result{"epmd: up and running on port PORT with data:\nname foo at port 5000\n", "", 0}},
	{"started", false, true, []string{"-started"}, result{"", "", 0}},
	{"dump", false, true, []string{"-dump"},
		result{"epmd: up and running on port PORT with data:\nactive name     <foo> at port 5000, fd = N\n\x00", "", 0}},
	{"kill empty", false, false, []string{"-kill"}, result{"Killed\n", "", 0}},
	{"kill with nodes", false, true, []string{"-kill"},
		result{"Killing not allowed - living nodes in database.\n", "", 1}},
	{"kill relaxed", true, true, []string{"-kill"}, result{"Killed\n", "", 0}},
	{"stop not relaxed", false, true, []string{"-stop", "foo"},
		result{"epmd: local epmd responded with <>\n", "", 1}},
	{"stop", true, true, []string{"-stop", "foo"}, result{"STOPPED\n", "", 0}},
	{"stop unknown", true, true, []string{"-stop", "nope"}, result{"NOEXIST\n", "", 0}},
	{"stop long name", true, false, []string{"-stop", strings.Repeat("a", 1001)},
		result{"epmd: Name too long!", "", 1}},
}

var fdNumber = regexp.MustCompile(`fd = \d+`)

// normalize replaces the server's port and "fd" numbers.
func normalize(r result, port int) result {
	p := strconv.Itoa(port)
	r.stdout = fdNumber.ReplaceAllString(strings.ReplaceAll(r.stdout, p, "PORT"), "fd = N")
	r.stderr = strings.ReplaceAll(r.stderr, p, "PORT")
	return r
}

func TestCommands(t *testing.T) {
	for _, tt := range cliCases {
		t.Run(tt.name, func(t *testing.T) {
			port := erltest.ServeEPMD(t, &epmd.Server{RelaxedCommandCheck: tt.relaxed})
			if tt.register {
				registerFoo(t, port)
			}
			args := append([]string{"-port", strconv.Itoa(port)}, tt.args...)
			if got := normalize(runEPMD(t, args...), port); got != tt.want {
				t.Errorf("run(%q) = %+v, want %+v", args, got, tt.want)
			}
		})
	}
}

func TestNoEPMD(t *testing.T) {
	port := strconv.Itoa(erltest.FreePort(t))
	for _, cmd := range [][]string{{"-names"}, {"-dump"}, {"-kill"}, {"-stop", "foo"}} {
		want := result{"", "epmd: Cannot connect to local epmd\n", 1}
		if got := runEPMD(t, append([]string{"-port", port}, cmd...)...); got != want {
			t.Errorf("run(%q) with no epmd = %+v, want %+v", cmd, got, want)
		}
	}
	if got, want := runEPMD(t, "-port", port, "-started"), (result{"", "", 1}); got != want {
		t.Errorf("run(-started) with no epmd = %+v, want %+v", got, want)
	}
}

// TestCommandsMatchOTP runs each command with OTP's epmd program and with
// run, against OTP's epmd and against our server, and compares the output.
func TestCommandsMatchOTP(t *testing.T) {
	bin := erltest.Need(t, "epmd")
	servers := []struct {
		name  string
		start func(t *testing.T, relaxed bool) int
	}{
		{"otp server", startOTP},
		{"our server", func(t *testing.T, relaxed bool) int {
			return erltest.ServeEPMD(t, &epmd.Server{RelaxedCommandCheck: relaxed})
		}},
	}
	for _, srv := range servers {
		for _, tt := range cliCases {
			t.Run(srv.name+"/"+tt.name, func(t *testing.T) {
				// A fresh server for each program, since -kill ends it.
				var got [2]result
				for i := range got {
					port := srv.start(t, tt.relaxed)
					if tt.register {
						registerFoo(t, port)
					}
					args := append([]string{"-port", strconv.Itoa(port)}, tt.args...)
					if i == 0 {
						got[i] = runProgram(t, bin, args...)
					} else {
						got[i] = runEPMD(t, args...)
					}
					got[i] = normalize(got[i], port)
				}
				if got[0] != got[1] {
					t.Errorf("epmd %q:\n  OTP printed %+v\n ours printed %+v", tt.args, got[0], got[1])
				}
			})
		}
	}
	port := strconv.Itoa(erltest.FreePort(t))
	if otp, ours := runProgram(t, bin, "-port", port, "-names"), runEPMD(t, "-port", port, "-names"); otp != ours {
		t.Errorf("-names without epmd:\n  OTP printed %+v\n ours printed %+v", otp, ours)
	}
	if otp, ours := runProgram(t, bin, "-bogus"), runEPMD(t, "-bogus"); otp != ours {
		t.Errorf("-bogus:\n  OTP printed %+v\n ours printed %+v", otp, ours)
	}
}

// runProgram runs an epmd program, such as OTP's.
func runProgram(t *testing.T, bin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	code := 0
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{out.String(), errOut.String(), code}
}

// startOTP starts OTP's epmd on a free loopback port; it is killed at cleanup.
func startOTP(t *testing.T, relaxed bool) int {
	t.Helper()
	if relaxed {
		return erltest.StartOTPEPMD(t, "-relaxed_command_check")
	}
	return erltest.StartOTPEPMD(t)
}

// serveInBackground runs the daemon in-process on a free port. The
// returned function stops it, if it is still running, and returns what run
// returned.
func serveInBackground(t *testing.T, args ...string) (port int, stop func() result) {
	t.Helper()
	var cancel context.CancelFunc
	var out, errOut bytes.Buffer
	var done chan error
	port = erltest.StartListening(t, func(port int) <-chan struct{} {
		var ctx context.Context
		ctx, cancel = context.WithCancel(t.Context())
		out.Reset()
		errOut.Reset()
		done = make(chan error, 1)
		exited := make(chan struct{})
		go func() {
			done <- run(ctx, append([]string{"-port", strconv.Itoa(port), "-address", "127.0.0.1"}, args...), &out, &errOut)
			close(exited)
		}()
		return exited
	})
	var r result
	stop = sync.OnceValue(func() result {
		cancel()
		err := <-done
		r = result{out.String(), errOut.String(), codeOf(t, err)}
		return r
	})
	t.Cleanup(func() { stop() })
	return port, stop
}

func TestServe(t *testing.T) {
	port, stop := serveInBackground(t)
	c := &epmd.Client{Host: "127.0.0.1", Port: port}
	reg, err := c.Publish(t.Context(), epmd.NodeInfo{Name: "cnode", Port: 4242})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	want := "epmd: up and running on port " + strconv.Itoa(port) + " with data:\nname cnode at port 4242\n"
	if got := runEPMD(t, "-port", strconv.Itoa(port), "-names"); got.stdout != want || got.code != 0 {
		t.Errorf("-names = %+v, want %q", got, want)
	}
	if r := stop(); r.code != 0 {
		t.Errorf("run after its context ended = %+v, want exit 0", r)
	}
	if _, err := c.Names(t.Context()); err == nil {
		t.Errorf("Names succeeded after run ended")
	}
}

func TestServeKill(t *testing.T) {
	var done chan error
	port := erltest.StartListening(t, func(port int) <-chan struct{} {
		done = make(chan error, 1)
		exited := make(chan struct{})
		go func() {
			// No cancellation: only the KILL_REQ can end this run.
			done <- run(context.Background(), []string{"-port", strconv.Itoa(port), "-address", "127.0.0.1"}, io.Discard, io.Discard)
			close(exited)
		}()
		return exited
	})
	if got := runEPMD(t, "-port", strconv.Itoa(port), "-kill"); got.stdout != "Killed\n" || got.code != 0 {
		t.Errorf("-kill = %+v, want Killed", got)
	}
	if code := codeOf(t, <-done); code != 0 {
		t.Errorf("run after -kill: exit %d, want 0", code)
	}
}

func TestServeDebugLogs(t *testing.T) {
	port, stop := serveInBackground(t, "-d", "-d")
	runEPMD(t, "-port", strconv.Itoa(port), "-names")
	r := stop()
	if !strings.Contains(r.stderr, "NAMES_REQ") {
		t.Errorf("run -d -d logged %q, want NAMES_REQ logged", r.stderr)
	}
	port, stop = serveInBackground(t)
	runEPMD(t, "-port", strconv.Itoa(port), "-names")
	if r := stop(); strings.Contains(r.stderr, "NAMES_REQ") {
		t.Errorf("run without -d logged %q, want no NAMES_REQ logged", r.stderr)
	}
}

// TestNamesOneWrite: -names prints its header and the names in one write,
// as OTP's epmd does, so that a program reading its output from a pipe
// (such as OTP's epmd_SUITE) gets them in one piece.
func TestNamesOneWrite(t *testing.T) {
	port := erltest.StartEPMD(t)
	registerFoo(t, port)
	var w writeRecorder
	if err := run(t.Context(), []string{"-port", strconv.Itoa(port), "-names"}, &w, io.Discard); err != nil {
		t.Fatal(err)
	}
	want := "epmd: up and running on port " + strconv.Itoa(port) + " with data:\nname foo at port 5000\n"
	if len(w.writes) != 1 || w.writes[0] != want {
		t.Errorf("-names wrote %q, want one write of %q", w.writes, want)
	}
}

// writeRecorder records each write.
type writeRecorder struct{ writes []string }

func (w *writeRecorder) Write(b []byte) (int, error) {
	w.writes = append(w.writes, string(b))
	return len(b), nil
}

// TestServeAlreadyRunning: like OTP's epmd, a second daemon on a port in
// use exits at once with status 0, so `epmd -daemon` can be run again.
func TestServeAlreadyRunning(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	if r := runEPMD(t, "-port", port, "-address", "127.0.0.1"); r.code != 0 || r.stdout != "" {
		t.Errorf("run on a port in use = %+v, want exit 0", r)
	}
}

func TestServeBadAddress(t *testing.T) {
	r := runEPMD(t, "-port", strconv.Itoa(erltest.FreePort(t)), "-address", "127.0.0.1,nonsense")
	if r.code != 1 || !strings.Contains(r.stderr, `cannot parse IP address \"nonsense\"`) {
		t.Errorf("run -address nonsense = %+v, want exit 1 and a message", r)
	}
}

func TestSlowListener(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &slowListener{Listener: &oneConnListener{}, accept: 2 * time.Second, write: 3 * time.Second}
		start := time.Now()
		c, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 2*time.Second {
			t.Errorf("Accept took %v, want 2s", d)
		}
		start = time.Now()
		c.Write([]byte("x"))
		if d := time.Since(start); d != 3*time.Second {
			t.Errorf("Write took %v, want 3s", d)
		}
	})
}

// oneConnListener accepts one discarding connection.
type oneConnListener struct{ net.Listener }

func (l *oneConnListener) Accept() (net.Conn, error) { return discardConn{}, nil }

type discardConn struct{ net.Conn }

func (discardConn) Write(b []byte) (int, error) { return len(b), nil }

// TestErlWithServe has a real erl node register with the in-process
// daemon and be listed by -names.
func TestErlWithServe(t *testing.T) {
	erltest.Need(t, "erl")
	port, _ := serveInBackground(t)
	node := erltest.StartErl(t, port, erltest.Options{})
	got := runEPMD(t, "-port", strconv.Itoa(port), "-names")
	if !strings.Contains(got.stdout, "name "+node.SName+" at port ") {
		t.Errorf("-names = %q, want %s listed", got.stdout, node.SName)
	}
}

// TestDaemon builds the command and starts it with -daemon, which must
// return at once and leave a detached epmd behind.
func TestDaemon(t *testing.T) {
	bin := buildEPMD(t)
	port := strconv.Itoa(erltest.FreePort(t))
	cmd := exec.Command(bin, "-daemon", "-port", port, "-address", "127.0.0.1")
	if out, err := cmd.CombinedOutput(); err != nil || len(out) != 0 {
		t.Fatalf("epmd -daemon: %v, printed %q; want exit 0 and no output", err, out)
	}
	t.Cleanup(func() { exec.Command(bin, "-port", port, "-kill").Run() })
	p, _ := strconv.Atoi(port)
	if err := erltest.WaitListening(p); err != nil {
		t.Fatal(err)
	}
	if r := runProgram(t, bin, "-port", port, "-names"); r.code != 0 {
		t.Errorf("-names against the daemon = %+v", r)
	}
	if r := runProgram(t, bin, "-port", port, "-kill"); r.stdout != "Killed\n" {
		t.Errorf("-kill against the daemon = %+v, want Killed", r)
	}
}
