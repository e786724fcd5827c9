package ei_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/goei/goei/ei"
)

// erpcParallel is how many callers the parallel erpc benchmarks run.
const erpcParallel = 16

// startERPCBench returns a published Go node on the benchmark's epmd
// serving goei_bench:id/1, as peer does, with ref connected to it.
func startERPCBench(b *testing.B, e *benchEnv) *ei.Node {
	n := startGoNode(b, e.epmdPort, "gosrv")
	handle(b, n, "goei_bench", "id", func(ctx context.Context, args ei.List) (ei.Term, error) {
		return args[0], nil
	})
	// Connect both ways now rather than in a measured round.
	if _, err := n.ERPCCall(e.ctx, e.peerAtom, "goei_bench", "id", ei.List{int64(0)}); err != nil {
		b.Fatal(err)
	}
	if _, err := e.erlTime(false, "erpc_calls", ei.Atom(n.Name), int64(1)); err != nil {
		b.Fatal(err)
	}
	return n
}

// BenchmarkERPCCalls measures erpc calls of goei_bench:id/1 on the erl
// node peer, one at a time and from 16 callers at once: from Go
// (Node.ERPCCall) and from a process on another erl node (erpc:call).
// It reports calls per second and goei/erl.
func BenchmarkERPCCalls(b *testing.B) {
	e := startBenchEnv(b)
	n := startERPCBench(b, e)
	for _, par := range []int{1, erpcParallel} {
		b.Run(fmt.Sprintf("callers=%d", par), func(b *testing.B) {
			goei := func(k int) (sample, error) {
				return goCalls(e.ctx, k, par, func(ctx context.Context, i int) error {
					got, err := n.ERPCCall(ctx, e.peerAtom, "goei_bench", "id", ei.List{int64(i)})
					if err == nil && got != int64(i) {
						err = fmt.Errorf("goei_bench:id(%d) = %v", i, got)
					}
					return err
				})
			}
			erl := func(k int) (sample, error) { return e.erpcTime(e.peerAtom, k, par) }
			sides := []side{{"goei", goei}, {"erl", erl}}
			b.ReportAllocs()
			reportRates(b, sides, runSides(b, sides...), 1, "calls/s")
		})
	}
}

// BenchmarkERPCServe measures erpc calls made by a process on an erl
// node, one at a time and from 16 processes at once: of a Go function
// registered with Node.HandleFunc on a Go node, and of goei_bench:id/1
// on the erl node peer. It reports calls per second and goei/erl, the
// rate at which the Go node serves over the rate at which erl does.
func BenchmarkERPCServe(b *testing.B) {
	e := startBenchEnv(b)
	n := startERPCBench(b, e)
	for _, par := range []int{1, erpcParallel} {
		b.Run(fmt.Sprintf("callers=%d", par), func(b *testing.B) {
			goei := func(k int) (sample, error) { return e.erpcTime(ei.Atom(n.Name), k, par) }
			erl := func(k int) (sample, error) { return e.erpcTime(e.peerAtom, k, par) }
			sides := []side{{"goei", goei}, {"erl", erl}}
			reportRates(b, sides, runSides(b, sides...), 1, "calls/s")
		})
	}
}

// erpcTime has ref make k erpc calls of goei_bench:id/1 on node from par
// processes, and returns the time they took.
func (e *benchEnv) erpcTime(node ei.Atom, k, par int) (sample, error) {
	if par == 1 {
		return e.erlTime(false, "erpc_calls", node, int64(k))
	}
	return e.erlTime(false, "erpc_par", node, int64(k), int64(par))
}

// goCalls makes k calls of call from par goroutines, the i-th call with
// i, and returns the time they took.
func goCalls(ctx context.Context, k, par int, call func(ctx context.Context, i int) error) (sample, error) {
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, par)
	for p := range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := k * p / par; i < k*(p+1)/par; i++ {
				if err := call(ctx, i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	select {
	case err := <-errs:
		return sample{}, err
	default:
	}
	return sample{elapsed: elapsed}, nil
}
