package epmd_test

import (
	"fmt"
	"io"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goei/goei/internal/erltest"
)

// BenchmarkServerAliveCycle measures register+unregister cycles per
// second against our epmd (cmd/epmd) and OTP's epmd side by side, with 1
// and 8 concurrent clients, and reports the ratio ours/otp (see
// interleave). A cycle opens
// a connection, registers a new name with ALIVE2_REQ, reads the reply and
// closes the connection, which unregisters the name. Each batch of cycles
// ends once the epmd lists no names, so unregistering is counted too.
func BenchmarkServerAliveCycle(b *testing.B) {
	addrs := []string{
		"127.0.0.1:" + strconv.Itoa(startCmdEPMD(b)),
		"127.0.0.1:" + strconv.Itoa(erltest.StartOTPEPMD(b)),
	}
	for _, clients := range []int{1, 8} {
		b.Run("clients="+strconv.Itoa(clients), func(b *testing.B) {
			b.ReportAllocs()
			var runs []func(int) error
			for _, addr := range addrs {
				runs = append(runs, func(n int) error { return aliveCycles(addr, n, clients) })
			}
			rates, ratio := interleave(b, runs)
			b.ReportMetric(rates[0], "ours-cycles/s")
			b.ReportMetric(rates[1], "otp-cycles/s")
			b.ReportMetric(ratio, "ours/otp")
		})
	}
}

// cycleSeq numbers the names the cycles register, so that no name is
// registered twice and a cycle never waits for an earlier one to be
// unregistered.
var cycleSeq atomic.Int64

// aliveCycles runs n register+unregister cycles against the epmd at addr
// from clients goroutines, and waits until the epmd lists no names.
func aliveCycles(addr string, n, clients int) error {
	err := spread(n, clients, func() func() error {
		reply := make([]byte, 6)
		return func() error {
			name := "cyc" + strconv.FormatInt(cycleSeq.Add(1), 10)
			return aliveCycle(addr, frameBody(alive2(name, 4242, 6, "")), reply)
		}
	})
	if err != nil {
		return err
	}
	deadline := time.Now().Add(time.Minute)
	for {
		empty, err := namesEmpty(addr)
		if empty || err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("epmd at %s still lists names a minute after the cycles", addr)
		}
	}
}

// aliveCycle registers with req on a new connection and closes it. It
// closes with a reset (SO_LINGER 0), which epmd takes as it takes a close:
// a close would leave the connection in TIME_WAIT on this side for a
// minute, and the benchmark's many would take the machine's local ports
// from other programs.
func aliveCycle(addr string, req, reply []byte) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.(*net.TCPConn).SetLinger(0)
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
func namesEmpty(addr string) (bool, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return false, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(frameBody([]byte{110})); err != nil { // NAMES_REQ
		return false, err
	}
	reply, err := io.ReadAll(c)
	if err != nil || len(reply) < 4 {
		return false, fmt.Errorf("NAMES_REQ = %x, %v", reply, err)
	}
	return len(reply) == 4, nil // epmd's port and no names
}
