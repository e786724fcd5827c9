package ei_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/goei/goei/ei"
	"github.com/goei/goei/epmd"
	"github.com/goei/goei/internal/erltest"
)

// benchSender is a compiled (not interpreted) erl sender, so the
// benchmark measures the receiving side rather than erl_eval.
const benchSender = `-module(goei_bench).
-export([start/0]).

start() ->
    register(bench, spawn(fun loop/0)).

loop() ->
    receive
        {From, Node, N, Bin} ->
            send(N, Node, Bin),
            From ! done,
            loop()
    end.

send(0, _, _) -> ok;
send(I, Node, Bin) ->
    {go, Node} ! {msg, I, Bin},
    send(I - 1, Node, Bin).
`

// startBenchErl starts an erl node running goei_bench and connects to it.
func startBenchErl(b *testing.B, flags ei.Flags) *ei.Conn {
	b.Helper()
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "goei_bench.erl"), []byte(benchSender), 0o644); err != nil {
		b.Fatal(err)
	}
	port := erltest.StartOTPEPMD(b)
	eval := fmt.Sprintf(`{ok, _} = compile:file("%s", [{outdir, "%s"}]), code:add_patha("%s"), goei_bench:start()`,
		filepath.Join(dir, "goei_bench.erl"), dir, dir)
	erl := erltest.StartErl(b, port, erltest.Options{Args: []string{"-eval", eval}})
	n := &ei.Node{
		Name:   erltest.UniqueName("go") + "@" + erltest.Host(b),
		Cookie: "c",
		Flags:  flags,
		EPMD:   &epmd.Client{Port: port},
	}
	ctx := testContext(b)
	c, err := n.Connect(ctx, erl.Name)
	if err != nil {
		b.Fatalf("Connect(%s) = %v", erl.Name, err)
	}
	b.Cleanup(func() { c.Close() })
	for {
		p, err := c.RPC(ctx, "erlang", "whereis", ei.List{ei.Atom("bench")})
		if err != nil {
			b.Fatalf("RPC(whereis) = %v\n%s", err, erl.Output())
		}
		if _, ok := p.(ei.Pid); ok {
			return c
		}
		select {
		case <-erl.Exited():
			b.Fatalf("erl exited:\n%s", erl.Output())
		default:
		}
	}
}

// BenchmarkErlToGoMessages measures one-way messages per second from one
// erl process sending {msg, I, Bin} to {go, Node} as fast as it can; the
// erl_interface C-node figure to beat is 527k msgs/s.
func BenchmarkErlToGoMessages(b *testing.B) {
	for _, size := range []int{16, 1024} {
		for _, fs := range flagSets {
			b.Run(fmt.Sprintf("%s/%dB", fs.name, size), func(b *testing.B) {
				c := startBenchErl(b, fs.flags)
				ctx := context.Background()
				self, _ := c.Node().Pid()
				bin := ei.Binary(make([]byte, size))
				b.ReportAllocs()
				b.ResetTimer()
				if err := c.RegSend(ctx, self, "bench", ei.Tuple{self, ei.Atom(c.Node().Name), int64(b.N), bin}); err != nil {
					b.Fatalf("RegSend() = %v", err)
				}
				for i := 0; i < b.N; i++ {
					m, err := c.Receive(ctx)
					if err != nil {
						b.Fatalf("Receive() = %v", err)
					}
					if _, ok := m.Control.(ei.RegSend); !ok {
						b.Fatalf("Receive() = %#v, want RegSend", m.Control)
					}
				}
				m, err := c.Receive(ctx)
				if err != nil || m.Payload != ei.Atom("done") {
					b.Fatalf("Receive() = %#v, %v; want done", m, err)
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			})
		}
	}
}
