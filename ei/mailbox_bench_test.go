package ei_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/goei/goei/ei"
)

// BenchmarkMailboxMessages is BenchmarkErlToGoMessages received by a
// mailbox (Mailbox.Receive), beside the same messages received by a raw
// Conn (Conn.Receive) from the same erl sender: goei/conn is the share of
// the raw rate the mailbox layer keeps (the target is at least 0.8).
func BenchmarkMailboxMessages(b *testing.B) {
	e := startBenchEnv(b)
	n := e.node()
	b.Cleanup(func() { n.Close() })
	mb := newMailbox(b, n, "")
	bench := ei.RegName{Name: "bench", Node: e.peerAtom}
	for _, size := range []int{16, 1 << 10} {
		b.Run(sizeName(size), func(b *testing.B) {
			mailbox := func(k int) (sample, error) {
				start := time.Now()
				if err := mb.Send(e.ctx, bench, ei.Tuple{mb.Pid(), mb.Pid(), int64(k), int64(size)}); err != nil {
					return sample{}, err
				}
				for range k {
					msg, err := mb.Receive(e.ctx)
					if err != nil {
						return sample{}, err
					}
					if t, ok := msg.(ei.Tuple); !ok || len(t) != 3 || t[0] != ei.Atom("msg") || !isBinary(t[2], size) {
						return sample{}, fmt.Errorf("received %v, want {msg, I, <<%d bytes>>}", msg, size)
					}
				}
				if msg, err := mb.Receive(e.ctx); err != nil || msg != ei.Atom("done") {
					return sample{}, fmt.Errorf("received %v, %v; want done", msg, err)
				}
				return sample{elapsed: time.Since(start)}, nil
			}
			conn := func(k int) (sample, error) { return e.receiveMessages(k, size, false, 0) }
			sides := []side{{"goei", mailbox}, {"conn", conn}}
			b.ReportAllocs()
			reportMessageRates(b, sides, runSides(b, sides...), size)
		})
	}
}

// BenchmarkCalls measures gen_server:call round trips to a gen_server on
// erl, one at a time, from a Go mailbox (Mailbox.Call) and from a process
// on another erl node, and reports calls per second and goei/erl.
func BenchmarkCalls(b *testing.B) {
	e := startBenchEnv(b)
	n := e.node()
	b.Cleanup(func() { n.Close() })
	mb := newMailbox(b, n, "")
	gs := ei.RegName{Name: "gs", Node: e.peerAtom}
	if _, err := mb.Call(e.ctx, gs, ei.Atom("ping")); err != nil { // connects
		b.Fatal(err)
	}
	goei := func(k int) (sample, error) {
		start := time.Now()
		for range k {
			if r, err := mb.Call(e.ctx, gs, ei.Atom("ping")); err != nil || r != ei.Atom("pong") {
				return sample{}, fmt.Errorf("Call(ping) = %v, %v; want pong", r, err)
			}
		}
		return sample{elapsed: time.Since(start)}, nil
	}
	erl := func(k int) (sample, error) { return e.erlTime(false, "calls", e.peerAtom, int64(k)) }
	sides := []side{{"goei", goei}, {"erl", erl}}
	b.ReportAllocs()
	reportRates(b, sides, runSides(b, sides...), 1, "calls/s")
}
