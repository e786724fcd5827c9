package ei_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/goei/goei/ei"
	"github.com/goei/goei/epmd"
	"github.com/goei/goei/internal/erltest"
)

// benchTimeout bounds what goei and the erl side do in each distribution
// benchmark, setup and all of its runs (the C-node is bounded by go test
// -timeout only).
const benchTimeout = 30 * time.Minute

// benchEnv is what the distribution benchmarks run on: an erl node, peer,
// running the servers of testdata/bench/goei_bench.erl (bench sends
// messages, sink takes them, echo answers pings); goei's connection to
// it; the libei C-node connected to it, when cc and libei are installed;
// and a second erl node, ref, that does the same as goei towards peer for
// the erl -> erl figure, called by rpc over another goei connection.
type benchEnv struct {
	ctx      context.Context
	epmdPort int
	host     string
	peer     *erltest.Node
	peerAtom ei.Atom
	conn     *ei.Conn // goei -> peer
	self     ei.Pid
	ref      *ei.Conn             // goei -> ref, for rpc only
	cnode    *erltest.LineProgram // nil without libei
}

// startBenchEnv starts the nodes and the C-node (see benchEnv); all of it
// is stopped at b's cleanup.
func startBenchEnv(b *testing.B) *benchEnv {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), benchTimeout)
	b.Cleanup(cancel)
	dir := b.TempDir()
	erlc := erltest.Need(b, "erlc")
	if out, err := exec.Command(erlc, "-o", dir, filepath.Join("testdata", "bench", "goei_bench.erl")).CombinedOutput(); err != nil {
		b.Fatalf("erlc goei_bench.erl: %v\n%s", err, out)
	}
	e := &benchEnv{ctx: ctx, epmdPort: erltest.StartOTPEPMD(b), host: erltest.Host(b)}
	opts := erltest.Options{Args: []string{"-pa", dir}}
	e.peer = erltest.StartErl(b, e.epmdPort, opts)
	e.peerAtom = ei.Atom(e.peer.Name)
	refNode := erltest.StartErl(b, e.epmdPort, opts)
	n := e.node()
	var err error
	if e.conn, err = n.Connect(ctx, e.peer.Name); err != nil {
		b.Fatalf("Connect(%s) = %v\n%s", e.peer.Name, err, e.peer.Output())
	}
	b.Cleanup(func() { e.conn.Close() })
	if e.self, err = n.Pid(); err != nil {
		b.Fatal(err)
	}
	if e.ref, err = n.Connect(ctx, refNode.Name); err != nil {
		b.Fatalf("Connect(%s) = %v\n%s", refNode.Name, err, refNode.Output())
	}
	b.Cleanup(func() { e.ref.Close() })
	if r, err := e.conn.RPC(ctx, "goei_bench", "start", nil); err != nil || r != ei.Atom("ok") {
		b.Fatalf("goei_bench:start() = %v, %v\n%s", r, err, e.peer.Output())
	}
	// Connect ref to peer now rather than in its first measured round.
	if r, err := e.ref.RPC(ctx, "net_kernel", "connect_node", ei.List{e.peerAtom}); err != nil || r != ei.Atom("true") {
		b.Fatalf("net_kernel:connect_node() = %v, %v\n%s", r, err, refNode.Output())
	}
	if bin := erltest.BuildEI(b, filepath.Join("testdata", "bench", "cnode.c")); bin != "" {
		e.cnode = erltest.StartLineProgram(b, bin, "ERL_EPMD_PORT="+strconv.Itoa(e.epmdPort))
		if _, err := e.cnode.Call("connect %s %s c %s", e.host, erltest.UniqueName("cnode"), e.peer.Name); err != nil {
			b.Fatal(err)
		}
	}
	return e
}

// node returns a new goei node (no trace: it would be measured too).
func (e *benchEnv) node() *ei.Node {
	return &ei.Node{
		Name:   erltest.UniqueName("go") + "@" + e.host,
		Cookie: "c",
		EPMD:   &epmd.Client{Port: e.epmdPort},
	}
}

// sides returns goei's side, then the C-node's (if there is one) and
// erl's, made by the three functions.
func (e *benchEnv) sides(goei, cnode, erl func(n int) (sample, error)) []side {
	s := []side{{"goei", goei}}
	if e.cnode != nil {
		s = append(s, side{"cnode", cnode})
	}
	return append(s, side{"erl", erl})
}

// cnodeTime runs a C-node command that answers with the elapsed time,
// then the time of each operation when lats is true.
func (e *benchEnv) cnodeTime(lats bool, format string, args ...any) (sample, error) {
	f, err := e.cnode.Call(format, args...)
	if err != nil {
		return sample{}, err
	}
	return parseSample(f, lats)
}

// erlTime calls goei_bench:fun(args...) on ref, which answers with the
// elapsed time, or {Elapsed, [Time]} when lats is true.
func (e *benchEnv) erlTime(lats bool, fun ei.Atom, args ...ei.Term) (sample, error) {
	r, err := e.ref.RPC(e.ctx, "goei_bench", fun, ei.List(args))
	if err != nil {
		return sample{}, err
	}
	if !lats {
		ns, ok := r.(int64)
		if !ok {
			return sample{}, fmt.Errorf("goei_bench:%s() = %v", fun, r)
		}
		return sample{elapsed: time.Duration(ns)}, nil
	}
	t, ok := r.(ei.Tuple)
	if !ok || len(t) != 2 {
		return sample{}, fmt.Errorf("goei_bench:%s() = %v", fun, r)
	}
	ns, ok := t[0].(int64)
	if !ok {
		return sample{}, fmt.Errorf("goei_bench:%s() = %v", fun, r)
	}
	s := sample{elapsed: time.Duration(ns)}
	l, _ := t[1].(ei.List)
	for _, x := range l {
		v, ok := x.(int64)
		if !ok {
			return sample{}, fmt.Errorf("goei_bench:%s() = %v", fun, r)
		}
		s.lats = append(s.lats, time.Duration(v))
	}
	return s, nil
}

// parseSample parses "ELAPSED [TIME...]" in nanoseconds.
func parseSample(f []string, lats bool) (sample, error) {
	if len(f) == 0 || (!lats && len(f) != 1) {
		return sample{}, fmt.Errorf("answer %q, want nanoseconds", f)
	}
	var s sample
	for i, x := range f {
		v, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			return sample{}, err
		}
		if i == 0 {
			s.elapsed = time.Duration(v)
		} else {
			s.lats = append(s.lats, time.Duration(v))
		}
	}
	return s, nil
}

// receiveTuple receives the next message, which must be a tuple starting
// with the atom tag.
func (e *benchEnv) receiveTuple(tag ei.Atom) (ei.Tuple, error) {
	m, err := e.conn.Receive(e.ctx)
	if err != nil {
		return nil, err
	}
	if t, ok := m.Payload.(ei.Tuple); ok && len(t) > 0 && t[0] == tag {
		return t, nil
	}
	return nil, fmt.Errorf("received %#v, want {%s, ...}", m.Payload, tag)
}

// isBinary tells whether t is a Binary of size bytes.
func isBinary(t ei.Term, size int) bool {
	bin, ok := t.(ei.Binary)
	return ok && len(bin) == size
}

func sizeName(size int) string {
	switch {
	case size >= 1<<20 && size%(1<<20) == 0:
		return strconv.Itoa(size>>20) + "MB"
	case size >= 1<<10 && size%(1<<10) == 0:
		return strconv.Itoa(size>>10) + "KB"
	}
	return strconv.Itoa(size) + "B"
}

// compareMessages runs goei's side beside the C-node command cmd ("recv"
// or "send") and goei_bench:cmd on ref, for messages with a size-byte
// binary, and reports the rates. Both take N and SIZE, then extra ("recv"
// takes the nanoseconds a receiver works on each message).
func (e *benchEnv) compareMessages(b *testing.B, size int, cmd string, goei func(n int) (sample, error), extra ...int64) {
	cnode := func(n int) (sample, error) {
		line := fmt.Sprintf("%s %d %d", cmd, n, size)
		for _, x := range extra {
			line += fmt.Sprintf(" %d", x)
		}
		return e.cnodeTime(false, "%s", line)
	}
	erl := func(n int) (sample, error) {
		args := []ei.Term{e.peerAtom, int64(n), int64(size)}
		for _, x := range extra {
			args = append(args, x)
		}
		return e.erlTime(false, ei.Atom(cmd), args...)
	}
	sides := e.sides(goei, cnode, erl)
	cpu := e.countPeerCPU(sides)
	b.ReportAllocs()
	reportMessageRates(b, sides, runSides(b, sides...), size)
	reportPeerCPU(b, sides, cpu)
}

// countPeerCPU makes each side's run add the CPU time peer spends during
// it to the side's entry of the returned slice, when peer's CPU time can
// be read (on Linux).
func (e *benchEnv) countPeerCPU(sides []side) []time.Duration {
	if _, err := e.peer.CPUTime(); err != nil {
		return nil
	}
	cpu := make([]time.Duration, len(sides))
	for i := range sides {
		run := sides[i].run
		sides[i].run = func(n int) (sample, error) {
			c0, _ := e.peer.CPUTime()
			s, err := run(n)
			c1, _ := e.peer.CPUTime()
			cpu[i] += c1 - c0
			return s, err
		}
	}
	return cpu
}

// reportPeerCPU reports the CPU time peer spent per message with each
// side, as NAME-peer-cpu-ns/msg: with erl sending, what each receiver
// costs the sender (more fragments, more wake-ups), and with erl
// receiving, what each sender's way of writing costs erl.
func reportPeerCPU(b *testing.B, sides []side, cpu []time.Duration) {
	if cpu == nil {
		return
	}
	for i, s := range sides {
		b.ReportMetric(float64(cpu[i])/float64(b.N), s.name+"-peer-cpu-ns/msg")
	}
}

// reportMessageRates reports msgs/s and, for sizes of 64 KB and more,
// MB/s (of the payload binaries) for each side.
func reportMessageRates(b *testing.B, sides []side, got []sample, size int) {
	if size >= 64<<10 {
		reportRates(b, sides, got, float64(size)/1e6, "MB/s")
		for i, s := range sides {
			b.ReportMetric(float64(b.N)/got[i].elapsed.Seconds(), s.name+"-msgs/s")
		}
		return
	}
	reportRates(b, sides, got, 1, "msgs/s")
}

// BenchmarkErlToGoMessages measures one-way messages from one erl process
// that sends {msg, I, Bin} as fast as it can, with Bin of each size, to
// goei (Conn.Receive), to the C-node (ei_xreceive_msg, then ei_decode_*
// of the message, copying Bin out into a buffer it reuses) and to a
// process on another erl node. Each side's time runs from its request to
// the sender's done after the last message. For 64 KB and more, goei
// also receives with Conn.ReceiveReuse (SIZE-reuse), reusing memory as
// the C-node reuses its buffers; at 64 KB each receiver also spins for
// receiveWork after each message (64KB-reuse-work).
func BenchmarkErlToGoMessages(b *testing.B) {
	e := startBenchEnv(b)
	for _, size := range []int{16, 1 << 10, 64 << 10, 1 << 20} {
		b.Run(sizeName(size), func(b *testing.B) {
			goei := func(n int) (sample, error) { return e.receiveMessages(n, size, false, 0) }
			e.compareMessages(b, size, "recv", goei, 0)
		})
		if size >= 64<<10 {
			b.Run(sizeName(size)+"-reuse", func(b *testing.B) {
				goei := func(n int) (sample, error) { return e.receiveMessages(n, size, true, 0) }
				e.compareMessages(b, size, "recv", goei, 0)
			})
		}
		if size == 64<<10 {
			b.Run(sizeName(size)+"-reuse-work", func(b *testing.B) {
				goei := func(n int) (sample, error) { return e.receiveMessages(n, size, true, receiveWork) }
				e.compareMessages(b, size, "recv", goei, receiveWork.Nanoseconds())
			})
		}
	}
}

// receiveWork is what the receivers of SIZE-reuse-work spend on each
// message, spinning, as a caller that does something with each: a Conn
// that reads the next message while the caller works on the last keeps
// up better than one that reads only when asked.
const receiveWork = 20 * time.Microsecond

// receiveMessages has peer's bench process send n messages {msg, I, Bin}
// with a size-byte Bin to goei's connection, and receives them with
// Conn.Receive, or Conn.ReceiveReuse when reuse is true, spinning for
// work after each.
func (e *benchEnv) receiveMessages(n, size int, reuse bool, work time.Duration) (sample, error) {
	start := time.Now()
	if err := e.conn.RegSend(e.ctx, e.self, "bench", ei.Tuple{e.self, e.self, int64(n), int64(size)}); err != nil {
		return sample{}, err
	}
	receive := e.conn.Receive
	if reuse {
		receive = e.conn.ReceiveReuse
	}
	for range n {
		m, err := receive(e.ctx)
		if err != nil {
			return sample{}, err
		}
		t, ok := m.Payload.(ei.Tuple)
		if !ok || len(t) != 3 || t[0] != ei.Atom("msg") || !isBinary(t[2], size) {
			return sample{}, fmt.Errorf("received %v, want {msg, I, <<%d bytes>>}", m.Payload, size)
		}
		spin(work)
	}
	m, err := e.conn.Receive(e.ctx)
	if err != nil || m.Payload != ei.Atom("done") {
		return sample{}, fmt.Errorf("received %#v, %v; want done", m.Payload, err)
	}
	return sample{elapsed: time.Since(start)}, nil
}

// spin keeps the CPU busy for d.
func spin(d time.Duration) {
	if d <= 0 {
		return
	}
	for t := time.Now(); time.Since(t) < d; {
	}
}

// BenchmarkGoToErlMessages measures one-way messages {msg, I, Bin}, with
// Bin of each size, sent to a registered process on erl as fast as it
// takes them: by goei (Conn.RegSend), by the C-node (ei_x_encode_* and
// ei_reg_send) and by a process on another erl node. Each side's time
// runs to the receiver's reply after the last message. For 16 B, goei
// also sends with Conn.SendAsync (16B-async), which returns once the
// message is queued, as erl's ! does.
func BenchmarkGoToErlMessages(b *testing.B) {
	e := startBenchEnv(b)
	for _, size := range []int{16, 64 << 10, 1 << 20} {
		b.Run(sizeName(size), func(b *testing.B) {
			goei := func(n int) (sample, error) { return e.sendMessages(n, size, false) }
			e.compareMessages(b, size, "send", goei)
		})
		if size < spliceMin {
			b.Run(sizeName(size)+"-async", func(b *testing.B) {
				goei := func(n int) (sample, error) { return e.sendMessages(n, size, true) }
				e.compareMessages(b, size, "send", goei)
			})
		}
	}
}

// spliceMin is the size from which SendAsync writes a binary before it
// returns, as RegSend does, rather than queueing a copy.
const spliceMin = 4 << 10

// sendMessages sends n messages {msg, I, Bin} with a size-byte Bin to
// peer's sink, with Conn.RegSend, or Conn.SendAsync when async is true,
// and waits for the sink's count.
func (e *benchEnv) sendMessages(n, size int, async bool) (sample, error) {
	payload := ei.Binary(make([]byte, size))
	send := func(msg ei.Term) error { return e.conn.RegSend(e.ctx, e.self, "sink", msg) }
	if async {
		ctl := ei.RegSend{From: e.self, To: "sink"}
		send = func(msg ei.Term) error { return e.conn.SendAsync(e.ctx, ctl, msg) }
	}
	start := time.Now()
	if err := send(ei.Tuple{ei.Atom("count"), e.self, int64(n)}); err != nil {
		return sample{}, err
	}
	for i := range n {
		if err := send(ei.Tuple{ei.Atom("msg"), int64(i), payload}); err != nil {
			return sample{}, err
		}
	}
	if _, err := e.receiveTuple("counted"); err != nil {
		return sample{}, err
	}
	return sample{elapsed: time.Since(start)}, nil
}

// BenchmarkPingPong measures round trips {ping, Self, I} -> {pong, I}
// with a registered echo process on erl, one at a time: goei
// (Conn.RegSend, Conn.Receive), the C-node (ei_reg_send,
// ei_xreceive_msg) and a process on another erl node. It reports round
// trips per second and the median and 99th percentile round trip.
func BenchmarkPingPong(b *testing.B) {
	e := startBenchEnv(b)
	goei := func(n int) (sample, error) {
		s := sample{lats: make([]time.Duration, 0, n)}
		start := time.Now()
		for i := range n {
			t0 := time.Now()
			if err := e.conn.RegSend(e.ctx, e.self, "echo", ei.Tuple{ei.Atom("ping"), e.self, int64(i)}); err != nil {
				return sample{}, err
			}
			if _, err := e.receiveTuple("pong"); err != nil {
				return sample{}, err
			}
			s.lats = append(s.lats, time.Since(t0))
		}
		s.elapsed = time.Since(start)
		return s, nil
	}
	cnode := func(n int) (sample, error) { return e.cnodeTime(true, "ping %d", n) }
	erl := func(n int) (sample, error) { return e.erlTime(true, "ping", e.peerAtom, int64(n)) }
	sides := e.sides(goei, cnode, erl)
	b.ReportAllocs()
	got := runSides(b, sides...)
	reportRates(b, sides, got, 1, "rt/s")
	reportLatency(b, sides, got, 0.5)
	reportLatency(b, sides, got, 0.99)
}

// BenchmarkConnect measures setting up a connection to erl and closing
// it, each time as a new node name: goei's Node.Connect and Conn.Close,
// libei's ei_connect and ei_close_connection, and erl's
// net_kernel:hidden_connect_node and erlang:disconnect_node. All three
// ask epmd for the port first.
func BenchmarkConnect(b *testing.B) {
	e := startBenchEnv(b)
	goei := func(n int) (sample, error) {
		var s sample
		for range n {
			node := e.node()
			if _, err := node.Pid(); err != nil { // initializes the node, as ei_connect_init
				return sample{}, err
			}
			t0 := time.Now()
			c, err := node.Connect(e.ctx, e.peer.Name)
			if err != nil {
				return sample{}, err
			}
			c.Close()
			s.elapsed += time.Since(t0)
		}
		return s, nil
	}
	cnode := func(n int) (sample, error) {
		return e.cnodeTime(false, "connects %d %s", n, erltest.UniqueName("cn"))
	}
	erl := func(n int) (sample, error) { return e.erlTime(false, "connect", e.peerAtom, int64(n)) }
	sides := e.sides(goei, cnode, erl)
	b.ReportAllocs()
	reportTimes(b, sides, runSides(b, sides...), time.Microsecond)
}

// holSize is the big message of BenchmarkPingDuringBigSend.
const holSize = 64 << 20

// BenchmarkPingDuringBigSend measures the round trips of small messages
// (as in BenchmarkPingPong) made while a 64 MB binary goes to erl on the
// same connection, one op per big message: goei pings from one goroutine
// while another sends the binary; erl pings from one process while another
// sends it. erl splits the big message into fragments (DFLAG_FRAGMENTS)
// that the pings pass between; goei sends it whole, so a ping waits
// behind it. There is no C-node side: libei does not fragment either.
func BenchmarkPingDuringBigSend(b *testing.B) {
	e := startBenchEnv(b)
	big := ei.Binary(make([]byte, holSize))
	goei := func(n int) (sample, error) {
		var s sample
		start := time.Now()
		for range n {
			lats, err := e.pingDuringBigSend(big)
			if err != nil {
				return sample{}, err
			}
			s.lats = append(s.lats, lats...)
		}
		s.elapsed = time.Since(start)
		return s, nil
	}
	erl := func(n int) (sample, error) {
		var s sample
		for range n {
			got, err := e.erlTime(true, "ping_during", e.peerAtom, int64(holSize))
			if err != nil {
				return sample{}, err
			}
			s.elapsed += got.elapsed
			s.lats = append(s.lats, got.lats...)
		}
		return s, nil
	}
	sides := []side{{"goei", goei}, {"erl", erl}}
	b.ReportAllocs()
	got := runSides(b, sides...)
	for i, s := range sides {
		b.ReportMetric(float64(len(got[i].lats))/float64(b.N), s.name+"-pings/op")
	}
	reportTimes(b, sides, got, time.Millisecond)
	reportLatency(b, sides, got, 0.5)
	reportLatency(b, sides, got, 0.99)
}

// pingDuringBigSend sends big to peer's sink from a goroutine and pings
// peer's echo until the sink has it, like goei_bench:ping_during.
func (e *benchEnv) pingDuringBigSend(big ei.Binary) ([]time.Duration, error) {
	sent := make(chan error, 1)
	go func() {
		err := e.conn.RegSend(e.ctx, e.self, "sink", ei.Tuple{ei.Atom("count"), e.self, int64(1)})
		if err == nil {
			err = e.conn.RegSend(e.ctx, e.self, "sink", ei.Tuple{ei.Atom("big"), big})
		}
		sent <- err
	}()
	var lats []time.Duration
	for i, done := 0, false; !done; i++ {
		t0 := time.Now()
		if err := e.conn.RegSend(e.ctx, e.self, "echo", ei.Tuple{ei.Atom("ping"), e.self, int64(i)}); err != nil {
			return nil, err
		}
		for {
			m, err := e.conn.Receive(e.ctx)
			if err != nil {
				return nil, err
			}
			t, _ := m.Payload.(ei.Tuple)
			if len(t) == 2 && t[0] == ei.Atom("counted") {
				done = true
				continue
			}
			if len(t) == 2 && t[0] == ei.Atom("pong") && t[1] == int64(i) {
				break
			}
			return nil, fmt.Errorf("received %#v, want pong or counted", m.Payload)
		}
		lats = append(lats, time.Since(t0))
	}
	if err := <-sent; err != nil {
		return nil, errors.Join(errors.New("sending the big message"), err)
	}
	return lats, nil
}
