package ei_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/goei/goei/ei"
	"github.com/goei/goei/epmd"
	"github.com/goei/goei/internal/erltest"
)

// loadConns is how many connections a connLoad holds: the lockout
// figure of the hardening work is connect latency while 1000 are held.
const loadConns = 1000

// connLoad holds connections to a distribution listener that never get
// through a handshake: silent ones send nothing, trickling ones a byte a
// second of a name message that would take a minute to complete. Each
// connection the server closes is opened again at once, so the number
// held stays at n.
type connLoad struct {
	addr     string
	trickle  bool
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	reopened atomic.Int64 // connections opened again after the server closed them
}

// trickleBytes is what a trickling connection sends, a byte a second: a
// send_name message that claims more bytes than it will ever send.
var trickleBytes = func() []byte {
	msg := []byte{'N'}
	msg = binary.BigEndian.AppendUint64(msg, uint64(ei.DefaultFlags))
	msg = binary.BigEndian.AppendUint32(msg, 1)
	msg = binary.BigEndian.AppendUint16(msg, 9)
	msg = append(msg, "load@host"...)
	return append(binary.BigEndian.AppendUint16(nil, 200), msg...)
}()

// holdConns opens n connections to addr and returns once all of them are
// open. t.Cleanup closes them. It skips t when the process runs out of
// file descriptors.
func holdConns(t testing.TB, addr string, n int, trickle bool) *connLoad {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &connLoad{addr: addr, trickle: trickle, ctx: ctx, cancel: cancel}
	t.Cleanup(l.stop)
	opened := make(chan error, n)
	for range n {
		l.wg.Add(1)
		go l.hold(opened)
	}
	for range n {
		if err := <-opened; err != nil {
			l.stop()
			if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				t.Skipf("holding %d connections: %v", n, err)
			}
			t.Fatalf("holding %d connections to %s: %v", n, addr, err)
		}
	}
	return l
}

func (l *connLoad) stop() {
	l.cancel()
	l.wg.Wait()
}

// hold keeps one connection open until l stops, reporting on opened
// whether the first one could be made.
func (l *connLoad) hold(opened chan<- error) {
	defer l.wg.Done()
	var d net.Dialer
	for first := true; ; first = false {
		c, err := d.DialContext(l.ctx, "tcp", l.addr)
		if first {
			opened <- err
		}
		if err != nil {
			return
		}
		if !first {
			l.reopened.Add(1)
		}
		// Closing resets the connection rather than leaving it in
		// TIME_WAIT, so that thousands of them do not use up the
		// ephemeral ports of a machine other tests share.
		c.(*net.TCPConn).SetLinger(0)
		stop := context.AfterFunc(l.ctx, func() { c.Close() })
		l.keep(c)
		stop()
		c.Close()
		if l.ctx.Err() != nil {
			return
		}
	}
}

// keep reads from c until the server closes it, trickling bytes if l says so.
func (l *connLoad) keep(c net.Conn) {
	var buf [64]byte
	for i := 0; ; i++ {
		if l.trickle {
			if _, err := c.Write(trickleBytes[i%len(trickleBytes) : i%len(trickleBytes)+1]); err != nil {
				return
			}
			c.SetReadDeadline(time.Now().Add(time.Second))
		}
		if _, err := c.Read(buf[:]); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return
		}
	}
}

// median returns the median of ds, which it sorts.
func median(ds []time.Duration) time.Duration {
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// connectTimes connects n times with connect, which returns how long the
// connection took as the connecting side measured it, and returns the
// times.
func connectTimes(t testing.TB, n int, connect func() (time.Duration, error)) []time.Duration {
	t.Helper()
	ds := make([]time.Duration, n)
	for i := range ds {
		d, err := connect()
		if err != nil {
			t.Fatalf("connect %d of %d: %v", i+1, n, err)
		}
		ds[i] = d
	}
	return ds
}

// goConnector returns a function connecting a fresh Go node to the
// published node peer and timing it. Each connection is closed once made.
func goConnector(t testing.TB, epmdPort int, peer string) func() (time.Duration, error) {
	n := quietNode(t, epmdPort)
	return func() (time.Duration, error) {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		start := time.Now()
		c, err := n.Connect(ctx, peer)
		d := time.Since(start)
		if err != nil {
			return 0, err
		}
		c.Close()
		return d, nil
	}
}

// erlConnector returns a function that makes the erl node behind ctl
// connect to peer (net_kernel:hidden_connect_node), timed by erl, and
// disconnect again.
func erlConnector(t testing.TB, ctl *ei.Conn, peer string) func() (time.Duration, error) {
	return func() (time.Duration, error) {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		r, err := ctl.RPC(ctx, "timer", "tc", ei.List{ei.Atom("net_kernel"), ei.Atom("hidden_connect_node"), ei.List{ei.Atom(peer)}})
		if err != nil {
			return 0, err
		}
		tc, ok := r.(ei.Tuple)
		if !ok || len(tc) != 2 || tc[1] != ei.Atom("true") {
			return 0, fmt.Errorf("erl: timer:tc(net_kernel, hidden_connect_node, [%s]) = %v", peer, r)
		}
		us, _ := tc[0].(int64)
		if _, err := ctl.RPC(ctx, "erlang", "disconnect_node", ei.List{ei.Atom(peer)}); err != nil {
			return 0, err
		}
		return time.Duration(us) * time.Microsecond, nil
	}
}

// quietNode returns a Node using the epmd at epmdPort, without the wire
// trace of newGoNode: the tests using it make thousands of connections.
func quietNode(t testing.TB, epmdPort int) *ei.Node {
	return &ei.Node{Name: erltest.UniqueName("go") + "@" + erltest.Host(t), Cookie: "c", EPMD: &epmd.Client{Port: epmdPort}}
}

// startErlControl starts an erl node registered with the epmd at
// epmdPort and returns a connection to it from a Go node.
func startErlControl(t testing.TB, epmdPort int) *ei.Conn {
	t.Helper()
	erl := erltest.StartErl(t, epmdPort, erltest.Options{})
	c, err := quietNode(t, epmdPort).Connect(testContext(t), erl.Name)
	if err != nil {
		t.Fatalf("Connect(%s) = %v\n%s", erl.Name, err, erl.Output())
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// acceptingNode starts our epmd and, registered with it, a Listener of a
// quiet node that accepts and closes every connection; it returns epmd's
// port, the node and the Listener, which t.Cleanup closes.
func acceptingNode(t testing.TB) (int, *ei.Node, *ei.Listener) {
	port := erltest.StartEPMD(t)
	n := quietNode(t, port)
	l := listenPublished(t, testContext(t), n, "127.0.0.1:0")
	serveAccepts(t, l)
	return port, n, l
}

// serveAccepts accepts and closes connections on l until it is closed.
func serveAccepts(t testing.TB, l *ei.Listener) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept(context.Background())
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
	})
}

// lockoutBound is the connect time the lockout test accepts under load:
// 1 s, or 20 times the unloaded median on a machine so slow that this is
// more. The target is 100 ms (see BenchmarkConnectUnderLoad); the margin
// keeps a loaded 2-core machine from failing the test, and is still far
// below what a locked-out listener gives (no connection at all until a
// handshake slot frees, 10 s later).
func lockoutBound(unloaded time.Duration) time.Duration {
	return max(time.Second, 20*unloaded)
}

// TestListenerLockout holds 1000 connections that never complete a
// handshake, silent or trickling a byte a second, to a Listener, and
// checks that a Go node and erl still connect to it in about the time
// they take without them.
func TestListenerLockout(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping a test holding 1000 connections with -short")
	}
	port, n, l := acceptingNode(t)
	connectors := map[string]func() (time.Duration, error){"go": goConnector(t, port, n.Name)}
	if erltest.Have("erl") {
		connectors["erl"] = erlConnector(t, startErlControl(t, port), n.Name)
	} else {
		t.Logf("erl not found: testing Go connections only")
	}
	const tries = 5
	unloaded := map[string]time.Duration{}
	for name, connect := range connectors {
		unloaded[name] = median(connectTimes(t, tries, connect))
	}
	for _, trickle := range []bool{false, true} {
		mode := "silent"
		if trickle {
			mode = "trickling"
		}
		t.Run(mode, func(t *testing.T) {
			load := holdConns(t, l.Addr().String(), loadConns, trickle)
			for name, connect := range connectors {
				ds := connectTimes(t, tries, connect)
				m := median(ds)
				t.Logf("%s node: median connect %v with %d %s connections held (unloaded %v; all %v)", name, m, loadConns, mode, unloaded[name], ds)
				if bound := lockoutBound(unloaded[name]); m > bound {
					t.Errorf("%s node: median connect %v with %d %s connections held, want at most %v (unloaded: %v)", name, m, loadConns, mode, bound, unloaded[name])
				}
			}
			t.Logf("%d connections reopened after the listener closed them", load.reopened.Load())
		})
	}
}

// BenchmarkConnectUnderLoad measures connect latency to a Listener while
// 1000 connections that never complete a handshake are held open, next to
// a real erl node under the same load. Per connect it reports go-ms (a Go
// node connecting to the Listener), erl-ms (erl connecting to the
// Listener, as timed by erl), ref-ms (a Go node connecting to erl, the
// reference), go/ref, the ratio of the first to the last, and how many of
// the connections held the Listener cut off in the run (each was opened
// again at once). Run it with -benchtime 5s or more for the load to
// churn: the Listener cuts connections off 2 seconds after they open.
func BenchmarkConnectUnderLoad(b *testing.B) {
	for _, load := range []struct {
		name    string
		conns   int
		trickle bool
	}{
		{"idle", 0, false},
		{"silent1000", loadConns, false},
		{"trickling1000", loadConns, true},
	} {
		b.Run(load.name, func(b *testing.B) {
			port, n, l := acceptingNode(b)
			ctl := startErlControl(b, port)
			erlAddr := fmt.Sprintf("127.0.0.1:%d", mustPortOf(b, port, string(ctl.Peer())))
			var loads []*connLoad
			if load.conns > 0 {
				loads = append(loads, holdConns(b, l.Addr().String(), load.conns, load.trickle))
				holdConns(b, erlAddr, load.conns, load.trickle)
			}
			goConnect := goConnector(b, port, n.Name)
			erlConnect := erlConnector(b, ctl, n.Name)
			refConnect := goConnector(b, port, string(ctl.Peer()))
			var goSum, erlSum, refSum time.Duration
			iters := 0
			for b.Loop() {
				iters++
				for _, c := range []struct {
					connect func() (time.Duration, error)
					sum     *time.Duration
				}{{goConnect, &goSum}, {erlConnect, &erlSum}, {refConnect, &refSum}} {
					d := connectTimes(b, 1, c.connect)[0]
					*c.sum += d
				}
			}
			ms := func(d time.Duration) float64 { return d.Seconds() * 1000 / float64(iters) }
			b.ReportMetric(ms(goSum), "go-ms")
			b.ReportMetric(ms(erlSum), "erl-ms")
			b.ReportMetric(ms(refSum), "ref-ms")
			b.ReportMetric(float64(goSum)/float64(refSum), "go/ref")
			for _, l := range loads {
				// Connections the Listener cut off, which the load
				// opened again: the churn under which the others
				// connected.
				b.ReportMetric(float64(l.reopened.Load()), "reopened")
			}
		})
	}
}

// mustPortOf returns the distribution port epmd has for the node name@host.
func mustPortOf(t testing.TB, epmdPort int, node string) int {
	t.Helper()
	name, _, _ := strings.Cut(node, "@")
	p, err := erltest.PortOf(epmdPort, name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
