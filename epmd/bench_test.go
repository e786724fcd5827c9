package epmd_test

import (
	"encoding/binary"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goei/goei/internal/erltest"
)

// BenchmarkServerPortPlease measures PORT_PLEASE2_REQ lookups per second
// with 1, 8 and 64 concurrent clients against our epmd and OTP's. Each
// lookup opens a fresh connection, as erl does, and reads the reply until
// epmd closes it. "ours" and "otp" are separate processes (cmd/epmd and
// OTP's epmd), so they compete with the clients for CPUs alike; "inproc" is
// an epmd.Server in the benchmark's own process, where the client
// goroutines compete with its accept loop for the Go scheduler.
func BenchmarkServerPortPlease(b *testing.B) {
	servers := []struct {
		name  string
		start func(testing.TB) int
	}{
		{"ours", startCmdEPMD},
		{"otp", func(tb testing.TB) int { return erltest.StartOTPEPMD(tb) }},
		{"inproc", erltest.StartEPMD},
	}
	for _, srv := range servers {
		b.Run(srv.name, func(b *testing.B) {
			port := srv.start(b)
			addr := "127.0.0.1:" + strconv.Itoa(port)
			alive := benchRegister(b, addr, "bench")
			defer alive.Close()
			for _, clients := range []int{1, 8, 64} {
				b.Run("clients="+strconv.Itoa(clients), func(b *testing.B) {
					benchLookups(b, addr, "bench", clients)
				})
			}
		})
	}
}

// startCmdEPMD builds cmd/epmd and runs it on a free loopback port; it is
// killed at cleanup.
func startCmdEPMD(tb testing.TB) int {
	tb.Helper()
	if testing.Short() {
		tb.Skip("builds cmd/epmd; skipped with -short")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		tb.Skip("go not found")
	}
	bin := filepath.Join(tb.TempDir(), "epmd")
	if out, err := exec.Command(goBin, "build", "-o", bin, "github.com/goei/goei/cmd/epmd").CombinedOutput(); err != nil {
		tb.Fatalf("go build: %v\n%s", err, out)
	}
	return erltest.StartEPMDProgram(tb, bin)
}

// benchRegister registers name with the epmd at addr and returns the
// connection that holds the registration.
func benchRegister(b *testing.B, addr, name string) net.Conn {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.Write(frameBody(alive2(name, 4242, 6, ""))); err != nil {
		b.Fatal(err)
	}
	reply := make([]byte, 6)
	if _, err := io.ReadFull(c, reply); err != nil || reply[1] != 0 {
		b.Fatalf("ALIVE2_REQ(%s) = %x, %v", name, reply, err)
	}
	return c
}

// benchLookups runs b.N lookups of name spread over the given number of
// client goroutines and reports lookups/s.
func benchLookups(b *testing.B, addr, name string, clients int) {
	req := frameBody(append([]byte{122}, name...)) // PORT_PLEASE2_REQ
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range clients {
		wg.Go(func() {
			buf := make([]byte, 64)
			for next.Add(1) <= int64(b.N) {
				if err := lookup(addr, req, buf); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "lookups/s")
}

// lookup does one PORT_PLEASE2_REQ on a new connection and checks that
// the node was found.
func lookup(addr string, req, buf []byte) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write(req); err != nil {
		return err
	}
	n := 0
	for {
		k, err := c.Read(buf[n:])
		n += k
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if n < 4 || buf[0] != 119 || buf[1] != 0 || binary.BigEndian.Uint16(buf[2:]) != 4242 {
		return &net.OpError{Op: "lookup", Net: "tcp", Err: io.ErrUnexpectedEOF}
	}
	return nil
}
