package ei_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/goei/goei/ei"
	"github.com/goei/goei/internal/erltest"
)

// benchChunk is how many messages the benchmarks below measure on one
// side before switching to the other, so that changes in the load of a
// shared machine affect both alike.
const benchChunk = 1000

// BenchmarkMailboxMessages measures one-way messages per second from an
// erl process sending {msg, I, Bin} as fast as it can, received through a
// raw Conn (Conn.Receive) and through a mailbox (Mailbox.Receive), side
// by side, alternating every benchChunk messages. It reports
// both rates and mailbox/conn, the share of the raw rate the mailbox
// layer keeps (the target is at least 0.8).
func BenchmarkMailboxMessages(b *testing.B) {
	for _, size := range []int{16, 1024} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			ctx := context.Background()
			dir := b.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "goei_bench.erl"), []byte(benchSender), 0o644); err != nil {
				b.Fatal(err)
			}
			port := erltest.StartOTPEPMD(b)
			eval := fmt.Sprintf(`{ok, _} = compile:file("%s", [{outdir, "%s"}]), code:add_patha("%s"), goei_bench:start()`,
				filepath.Join(dir, "goei_bench.erl"), dir, dir)
			erl := erltest.StartErl(b, port, erltest.Options{Args: []string{"-eval", eval}})

			// The raw Conn, from a node of its own.
			rawNode := newGoNode(b, port, 0)
			rawNode.Trace = nil
			c, err := rawNode.Connect(testContext(b), erl.Name)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { c.Close() })
			rawSelf, _ := rawNode.Pid()

			// The mailbox, registered as go on another node.
			mbNode := newGoNode(b, port, 0)
			mbNode.Trace = nil
			b.Cleanup(func() { mbNode.Close() })
			mb := newMailbox(b, mbNode, "go")
			benchServer := ei.RegName{Name: "bench", Node: ei.Atom(erl.Name)}
			for {
				p, err := mbNode.RPC(testContext(b), ei.Atom(erl.Name), "erlang", "whereis", ei.List{ei.Atom("bench")})
				if err != nil {
					b.Fatal(err)
				}
				if _, ok := p.(ei.Pid); ok {
					break
				}
			}

			bin := ei.Binary(make([]byte, size))
			var raw, box time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; {
				n := min(b.N-done, benchChunk)
				done += n
				start := time.Now()
				if err := c.RegSend(ctx, rawSelf, "bench", ei.Tuple{rawSelf, ei.Atom(rawNode.Name), int64(n), bin}); err != nil {
					b.Fatal(err)
				}
				for range n {
					if _, err := c.Receive(ctx); err != nil {
						b.Fatal(err)
					}
				}
				if m, err := c.Receive(ctx); err != nil || m.Payload != ei.Atom("done") {
					b.Fatalf("Receive() = %v, %v; want done", m, err)
				}
				raw += time.Since(start)

				start = time.Now()
				if err := mb.Send(ctx, benchServer, ei.Tuple{mb.Pid(), ei.Atom(mbNode.Name), int64(n), bin}); err != nil {
					b.Fatal(err)
				}
				for range n {
					if _, err := mb.Receive(ctx); err != nil {
						b.Fatal(err)
					}
				}
				if m, err := mb.Receive(ctx); err != nil || m != ei.Atom("done") {
					b.Fatalf("Receive() = %v, %v; want done", m, err)
				}
				box += time.Since(start)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/raw.Seconds(), "conn-msgs/s")
			b.ReportMetric(float64(b.N)/box.Seconds(), "mailbox-msgs/s")
			b.ReportMetric(raw.Seconds()/box.Seconds(), "mailbox/conn")
		})
	}
}

// BenchmarkCalls measures gen_server:call round trips per second to a
// gen_server on erl, one caller at a time: from a Go mailbox
// (Mailbox.Call) and, side by side, from another erl node
// (gen_server:call in a loop, timed by erl), alternating every
// benchChunk/10 calls. It reports both rates and go/erl.
func BenchmarkCalls(b *testing.B) {
	e := startMailboxEnv(b, "go")
	ctx := context.Background()
	m := newMailbox(b, e.node, "")
	srv := ei.RegName{Name: "srv", Node: e.peer}

	// The erl caller, with goei_mbtest loaded, connected to the server's
	// node by a first call.
	erl2 := erltest.StartErl(b, e.port, erltest.Options{Args: mbtestArgs(b)})
	callerNode := ei.Atom(erl2.Name)
	erlSrv := ei.Tuple{ei.Atom("srv"), e.peer}
	for {
		if _, err := e.node.RPC(testContext(b), callerNode, "goei_mbtest", "call_loop", ei.List{erlSrv, int64(1)}); err == nil {
			break
		}
		select {
		case <-erl2.Exited():
			b.Fatalf("erl exited:\n%s", erl2.Output())
		default:
		}
	}
	if _, err := m.Call(ctx, srv, ei.Atom("ping")); err != nil {
		b.Fatal(err)
	}

	var goTime, erlTime time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(b.N-done, benchChunk/10)
		done += n
		start := time.Now()
		for range n {
			if r, err := m.Call(ctx, srv, ei.Atom("ping")); err != nil || r != ei.Atom("pong") {
				b.Fatalf("Call() = %v, %v; want pong", r, err)
			}
		}
		goTime += time.Since(start)
		us, err := e.node.RPC(ctx, callerNode, "goei_mbtest", "call_loop", ei.List{erlSrv, int64(n)})
		if err != nil {
			b.Fatal(err)
		}
		erlTime += time.Duration(us.(int64)) * time.Microsecond
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/goTime.Seconds(), "go-calls/s")
	b.ReportMetric(float64(b.N)/erlTime.Seconds(), "erl-calls/s")
	b.ReportMetric(erlTime.Seconds()/goTime.Seconds(), "go/erl")
}
