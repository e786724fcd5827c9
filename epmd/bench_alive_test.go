package epmd_test

import (
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goei/goei/internal/erltest"
)

// BenchmarkServerAliveCycle measures register+unregister cycles per
// second against our epmd (cmd/epmd) and OTP's epmd side by side, with 1
// and 8 concurrent clients. A cycle opens a connection, registers a new
// name with ALIVE2_REQ, reads the reply and closes the connection, which
// unregisters the name. The clock stops once the epmd lists no names, so
// unregistering is counted too. Each sub-benchmark runs b.N cycles against
// both epmds and reports both rates and their ratio, ours/otp.
func BenchmarkServerAliveCycle(b *testing.B) {
	ours := "127.0.0.1:" + strconv.Itoa(startCmdEPMD(b))
	otp := "127.0.0.1:" + strconv.Itoa(erltest.StartOTPEPMD(b))
	for _, clients := range []int{1, 8} {
		b.Run("clients="+strconv.Itoa(clients), func(b *testing.B) {
			b.ReportAllocs()
			ourRate := aliveCycles(b, ours, clients)
			otpRate := aliveCycles(b, otp, clients)
			b.ReportMetric(ourRate, "ours-cycles/s")
			b.ReportMetric(otpRate, "otp-cycles/s")
			b.ReportMetric(ourRate/otpRate, "ours/otp")
		})
	}
}

// cycleSeq numbers the names the cycles register, so that no name is
// registered twice and a cycle never waits for the previous one to be
// unregistered.
var cycleSeq atomic.Int64

// aliveCycles runs b.N register+unregister cycles against the epmd at addr,
// spread over clients goroutines, and returns cycles per second.
func aliveCycles(b *testing.B, addr string, clients int) float64 {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	start := time.Now()
	for range clients {
		wg.Go(func() {
			reply := make([]byte, 6)
			for next.Add(1) <= int64(b.N) {
				name := "cyc" + strconv.FormatInt(cycleSeq.Add(1), 10)
				if err := aliveCycle(addr, frameBody(alive2(name, 4242, 6, "")), reply); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	for !namesEmpty(b, addr) {
		if time.Since(start) > time.Minute {
			b.Fatalf("epmd at %s still lists names a minute after the cycles began", addr)
		}
	}
	return float64(b.N) / time.Since(start).Seconds()
}

// aliveCycle registers with req on a new connection and closes it.
func aliveCycle(addr string, req, reply []byte) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write(req); err != nil {
		return err
	}
	if _, err := io.ReadFull(c, reply); err != nil {
		return err
	}
	if reply[0] != 118 || reply[1] != 0 { // ALIVE2_X_RESP, result 0
		return fmt.Errorf("ALIVE2_REQ reply %x, want result 0", reply)
	}
	return nil
}

// namesEmpty reports whether the epmd at addr lists no names.
func namesEmpty(b *testing.B, addr string) bool {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(frameBody([]byte{110})); err != nil { // NAMES_REQ
		b.Fatal(err)
	}
	reply, err := io.ReadAll(c)
	if err != nil || len(reply) < 4 {
		b.Fatalf("NAMES_REQ = %x, %v", reply, err)
	}
	return len(reply) == 4 // epmd's port and no names
}
