package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goei/goei/internal/erltest"
)

// logCase is something a client does to a daemon, which may make it log.
type logCase struct {
	name string
	send []byte // sent on a new connection
	shut bool   // then shut down the sending side, as closing it would
	more []byte // or send this after the reply to an ALIVE2_REQ
}

var logCases = []logCase{
	{"connect and close", nil, true, nil},
	{"one byte and close", []byte{0}, true, nil},
	{"nothing until the timeout", nil, false, nil},
	{"one byte until the timeout", []byte{0}, false, nil},
	{"partial packet until the timeout", []byte("\x00\x64only"), false, nil},
	{"length 0", []byte{0, 0}, false, nil},
	{"more bytes than the packet", []byte("\x00\x01n\x00"), false, nil},
	{"NAMES_REQ", []byte("\x00\x01n"), false, nil},
	{"PORT_PLEASE2_REQ for an unknown name", []byte("\x00\x04zfoo"), false, nil},
	{"PORT_PLEASE2_REQ without a name", []byte("\x00\x01z"), false, nil},
	{"ALIVE2_REQ too short", []byte("\x00\x05x\x00\x01M\x00"), false, nil},
	{"ALIVE2_REQ and close", alive2Req("foo"), true, nil},
	{"ALIVE2_REQ and more data", alive2Req("bar"), false, []byte{0}},
	{"ALIVE2_REQ and more bytes than the packet", append(alive2Req("baz"), 0), false, nil},
}

// alive2Req is a framed ALIVE2_REQ for name.
func alive2Req(name string) []byte {
	body := append([]byte{120, 0x13, 0x88, 77, 0, 0, 6, 0, 5, 0, byte(len(name))}, name...)
	body = append(body, 0, 0)
	return append([]byte{0, byte(len(body))}, body...)
}

// TestServeLogsLikeOTP runs OTP's epmd and ours without -d and checks that
// ours writes to standard error after the same events as OTP's: malformed
// requests and connections closed early, but not requests dropped at the
// packet timeout, nor registrations.
func TestServeLogsLikeOTP(t *testing.T) {
	otpBin := erltest.Need(t, "epmd")
	args := func(port int) []string {
		return []string{"-port", strconv.Itoa(port), "-address", "127.0.0.1", "-packet_timeout", "1"}
	}
	daemons := []struct {
		name   string
		marker string // what the daemon logs for an unknown request
		// start starts the daemon on port and returns a channel closed
		// when it exits.
		start func(t *testing.T, port int, stderr io.Writer) <-chan struct{}
	}{
		{"otp", "got garbage", func(t *testing.T, port int, stderr io.Writer) <-chan struct{} {
			cmd := exec.Command(otpBin, args(port)...)
			cmd.Stderr = stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan struct{})
			go func() {
				cmd.Wait()
				close(exited)
			}()
			t.Cleanup(func() {
				cmd.Process.Kill()
				<-exited
			})
			return exited
		}},
		{"ours", "unknown request", func(t *testing.T, port int, stderr io.Writer) <-chan struct{} {
			ctx, cancel := context.WithCancel(context.Background())
			exited := make(chan struct{})
			go func() {
				err := run(ctx, args(port), io.Discard, stderr)
				// Said among the lines, for a test that fails waiting for
				// one: whether this daemon ended, and why.
				fmt.Fprintf(stderr, "test: run returned %v\n", err)
				close(exited)
			}()
			t.Cleanup(func() {
				cancel()
				<-exited
			})
			return exited
		}},
	}
	logged := make([]map[string][]string, len(daemons))
	t.Run("group", func(t *testing.T) {
		for i, d := range daemons {
			t.Run(d.name, func(t *testing.T) {
				t.Parallel()
				stderr, lines := lineReader(t)
				port := erltest.StartListening(t, func(port int) <-chan struct{} { return d.start(t, port, stderr) })
				logged[i] = make(map[string][]string)
				addr := "127.0.0.1:" + strconv.Itoa(port)
				var marked int
				waitLogged(t, addr, lines, d.marker, &marked)
				for _, c := range logCases {
					c.do(t, addr)
					logged[i][c.name] = waitLogged(t, addr, lines, d.marker, &marked)
				}
			})
		}
	})
	if t.Failed() || logged[0] == nil || logged[1] == nil {
		return
	}
	for _, c := range logCases {
		if otp, ours := logged[0][c.name], logged[1][c.name]; (len(otp) > 0) != (len(ours) > 0) {
			t.Errorf("%s: OTP's epmd logged %q, ours logged %q", c.name, otp, ours)
		}
	}
}

// do runs the case against the epmd at addr and returns once epmd has
// closed the connection, and so logged what it logs for the case.
func (c logCase) do(t *testing.T, addr string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	if len(c.send) > 0 {
		if _, err := conn.Write(c.send); err != nil {
			t.Fatal(err)
		}
	}
	if c.shut || c.more != nil {
		if len(c.send) > 2 && c.send[2] == 120 { // ALIVE2_REQ: wait for the reply
			io.ReadFull(conn, make([]byte, 6))
		}
		if c.more != nil {
			conn.Write(c.more)
		} else {
			conn.(*net.TCPConn).CloseWrite()
		}
	}
	io.Copy(io.Discard, conn)
}

// waitLogged sends an unknown request to the epmd at addr, which both
// epmds log, and reads lines until its line, which holds marker; it
// returns the lines that came before, but those of ours about connections
// older than the last marker's (see connID). Everything epmd logged about
// the connections made before the request has then been read: OTP's epmd
// serves them in turn, and ours, which serves them at once, logs about a
// case's connection before closing it, which do waits for. Ours may log
// about a connection the test did not wait for (StartListening's, which
// connects and closes) after a later marker; marked is the connection
// number of the last marker, 0 before the first.
func waitLogged(t *testing.T, addr string, lines <-chan string, marker string, marked *int) []string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	conn.Write([]byte{0, 1, 'Q'})
	io.Copy(io.Discard, conn)
	conn.Close()
	timeout := time.After(30 * time.Second)
	var before []string
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("epmd's standard error ended before it logged %q; it logged %q", marker, before)
			}
			if strings.Contains(line, marker) {
				*marked = connID(line)
				return before
			}
			if id := connID(line); id != 0 && id <= *marked {
				continue // about a connection made before the last marker
			}
			before = append(before, line)
		case <-timeout:
			t.Fatalf("epmd did not log %q; it logged %q", marker, before)
		}
	}
}

// connID returns the connection number a line of ours is about (its
// conn=N), or 0 if it has none, as OTP's lines have not.
func connID(line string) int {
	_, rest, ok := strings.Cut(line, " conn=")
	if !ok {
		return 0
	}
	digits := rest[:len(rest)-len(strings.TrimLeft(rest, "0123456789"))]
	n, _ := strconv.Atoi(digits)
	return n
}

// lineReader returns a pipe to write to, closed at cleanup, and the lines
// written to it.
func lineReader(t *testing.T) (*os.File, <-chan string) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1000)
	go func() {
		defer close(lines)
		defer r.Close()
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	t.Cleanup(func() { w.Close() })
	return w, lines
}
