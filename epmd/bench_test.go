package epmd_test

import (
	"encoding/binary"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goei/goei/internal/erltest"
)

// BenchmarkServerPortPlease measures PORT_PLEASE2_REQ lookups per second
// with 1, 8 and 64 concurrent clients against our epmd and OTP's, and
// reports the ratio ours/otp (see interleave). Each lookup opens a fresh connection, as erl
// does, and reads the reply until epmd closes it. "ours" and "otp" are
// separate processes (cmd/epmd and OTP's epmd), so they compete with the
// clients for CPUs alike; "inproc" is an epmd.Server in the benchmark's own
// process, where the client goroutines compete with its accept loop for
// the Go scheduler.
func BenchmarkServerPortPlease(b *testing.B) {
	addrs := []string{
		"127.0.0.1:" + strconv.Itoa(startCmdEPMD(b)),
		"127.0.0.1:" + strconv.Itoa(erltest.StartOTPEPMD(b)),
		"127.0.0.1:" + strconv.Itoa(erltest.StartEPMD(b)),
	}
	for _, addr := range addrs {
		alive := benchRegister(b, addr, "bench")
		defer alive.Close()
	}
	req := frameBody(append([]byte{122}, "bench"...)) // PORT_PLEASE2_REQ
	for _, clients := range []int{1, 8, 64} {
		b.Run("clients="+strconv.Itoa(clients), func(b *testing.B) {
			b.ReportAllocs()
			var runs []func(int) error
			for _, addr := range addrs {
				runs = append(runs, func(n int) error {
					return spread(n, clients, func() func() error {
						buf := make([]byte, 64)
						return func() error { return lookup(addr, req, buf) }
					})
				})
			}
			rates, ratio := interleave(b, runs)
			b.ReportMetric(rates[0], "ours-lookups/s")
			b.ReportMetric(rates[1], "otp-lookups/s")
			b.ReportMetric(rates[2], "inproc-lookups/s")
			b.ReportMetric(ratio, "ours/otp")
		})
	}
}

// interleaveBatch is how many operations interleave runs against one
// server before it turns to the next.
const interleaveBatch = 200

// interleave runs b.N operations against each of several servers, with
// runs[i](n) running n of them against server i. It alternates between
// the servers in rounds of a batch each, so that changes in the load of
// the machine, which others share, touch them alike. It returns each
// server's rate in operations per second, and the median over the rounds
// of the first server's rate divided by the second's: a stall of a
// second in one batch, which happens now and then on a busy machine,
// sways the rates but not the median.
func interleave(b *testing.B, runs []func(n int) error) (rates []float64, ratio float64) {
	spent := make([]time.Duration, len(runs))
	var ratios []float64
	b.ResetTimer()
	for done := 0; done < b.N; done += interleaveBatch {
		n := min(interleaveBatch, b.N-done)
		var round [2]time.Duration
		for i, run := range runs {
			start := time.Now()
			if err := run(n); err != nil {
				b.Fatal(err)
			}
			d := time.Since(start)
			spent[i] += d
			if i < len(round) {
				round[i] = d
			}
		}
		ratios = append(ratios, round[1].Seconds()/round[0].Seconds())
	}
	b.StopTimer()
	rates = make([]float64, len(runs))
	for i, d := range spent {
		rates[i] = float64(b.N) / d.Seconds()
	}
	slices.Sort(ratios)
	return rates, ratios[len(ratios)/2]
}

// spread runs n operations in clients goroutines, each of which gets its
// operation from newOp, and returns the first error.
func spread(n, clients int, newOp func() func() error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for range min(clients, n) {
		op := newOp()
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				if err := op(); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
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
