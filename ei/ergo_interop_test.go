package ei_test

// Interop tests against ergo v1.999.224 (github.com/ergo-services/ergo), a
// second, independent Go implementation of the distribution protocol, the
// External Term Format and an epmd client. ergo runs in-process, so these
// tests need no Erlang installation and run in every mode, -short included.
//
// What ergo v1.999.224 does differently from OTP, found while writing these
// tests (TestErgoETFDifferences keeps this list true):
//
//   - Its etf package cannot decode EXPORT_EXT at all: the decoder never
//     advances past the module atom, so every fun M:F/A is "Malformed ETF.
//     ettExport". NEW_FUN_EXT fails too unless OldIndex is a
//     SMALL_INTEGER_EXT and OldUniq an INTEGER_EXT, and a decoded fun is
//     encoded as a map of its fields.
//   - A top-level [] (NIL_EXT) fails to decode (nil pointer dereference,
//     recovered into an error); [] inside a tuple or list is fine.
//   - An improper list [1|t] decodes as the proper list [1, t].
//   - A BIT_BINARY_EXT decodes as a binary whose last byte is shifted right,
//     and is sent back as such.
//   - A map with a key that is not comparable in Go fails to decode (a
//     binary key: "hash of unhashable type []uint8") or, with a tuple key,
//     decodes as an empty map without an error.
//   - A negative SMALL_BIG_EXT of 8 bytes whose magnitude exceeds 2^63
//     decodes wrapped around: -(2^64-1) decodes as 1.
//   - A SMALL_BIG_EXT of 254 or 255 bytes fails to decode ("slice bounds
//     out of range": the length check overflows a byte); in a message, ergo
//     gives up on the connection.
//   - Decoding a SMALL_BIG_EXT of more than 8 bytes or a LARGE_BIG_EXT
//     reverses its digits in the input buffer, so callers must pass a copy.
//   - References are always encoded with 3 ID words: a reference with 5
//     words (as OTP 26 pids and refs may have) loses two, one with fewer
//     gains zero words. Only the low 18 bits of the first word are kept
//     (OTP uses no more).
//   - Ports decode, but etf.Encode has no case for etf.Port and encodes it
//     as a map of its fields.
//
// And in its distribution protocol:
//
//   - It always sends messages with the 131/68 distribution header, even to
//     a peer that did not offer DFLAG_DIST_HDR_ATOM_CACHE, and it cannot
//     read pass-through messages (tag 112, what OTP's erl_interface sends):
//     it drops the message and gives up on the connection ("unknown packet
//     type"), which then carries nothing but ticks. So these tests always
//     offer DFLAG_DIST_HDR_ATOM_CACHE; our Conn reads headers whether or not
//     it offered the flag.
//   - It never offers DFLAG_SEND_SENDER, DFLAG_EXIT_PAYLOAD, DFLAG_UNLINK_ID
//     or DFLAG_MANDATORY_25_DIGEST, and silently drops SEND_SENDER and the
//     PAYLOAD_* controls it receives. Our Conn only sends those when the
//     peer offered the flag, and falls back to UNLINK.
//   - By default it hands the frames read from one connection to NumCPU
//     goroutines round-robin, so messages between two processes can be
//     delivered out of order. The ergo node here uses one handler per
//     connection, which keeps the order these tests rely on.
//   - An EXIT it receives is delivered to every process linked with the
//     sender, not only to the To pid; its reason is reduced to a string
//     (fmt.Sprint of the term).
//   - An UNLINK from a remote pid removes the link from the local process
//     only: ergo still lists the local process among the remote pid's
//     links, so when the connection goes down the process gets an exit
//     signal (noconnection) although it was unlinked.
//   - Its connections learn about a new peer only after ergo's side of the
//     handshake: right after Connect returns, an ergo process sending to or
//     linking with one of our pids may find no connection (and get
//     noconnection). A reply to a message we sent shows the connection is
//     in place.
//   - gen.Process.Kill and Exit, and exit signals (from links or from a
//     connection going down), read fields of the process without a lock
//     while the goroutine of a process that is stopping clears them: -race
//     reports it. The tests stop their processes with a message and wait
//     for them to end before closing connections.
//   - Every node.StartNode writes a package-level variable (corePID) that
//     the goroutines of its connections read, and those goroutines outlive
//     Node.Stop and Node.Wait. Starting a second ergo node after connections
//     came and went is a data race that -race reports, so this test binary
//     starts a single ergo node on first use and never stops it.

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"net"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ergo-services/ergo"
	"github.com/ergo-services/ergo/etf"
	"github.com/ergo-services/ergo/gen"
	"github.com/ergo-services/ergo/lib"
	"github.com/ergo-services/ergo/node"
	"github.com/ergo-services/ergo/proto/dist"

	"github.com/goei/goei/ei"
	"github.com/goei/goei/epmd"
	"github.com/goei/goei/internal/erltest"
)

func init() {
	// ergo logs warnings (such as "link was closed") with package log unless
	// told otherwise; -ergo.warning on the command line still wins.
	flag.Set("ergo.warning", "false")
}

const (
	ergoCookie   = "ergo-interop"
	ergoCreation = 0x5eed1234
	ergoHost     = "127.0.0.1"
)

// ergoEnv is the ergo node shared by the tests in this binary, with the
// epmd.Server it is registered with.
type ergoEnv struct {
	node     node.Node
	epmdPort int
	echo     etf.Pid // the process registered as "echo"
}

var ergoShared struct {
	once sync.Once
	env  *ergoEnv
	err  error
}

// sharedErgo returns the ergo node, starting it and its epmd on first use.
// Neither is ever stopped (see the comment at the top of this file).
func sharedErgo(t testing.TB) *ergoEnv {
	t.Helper()
	ergoShared.once.Do(func() { ergoShared.env, ergoShared.err = startErgo() })
	if ergoShared.err != nil {
		t.Fatalf("start ergo node: %v", ergoShared.err)
	}
	return ergoShared.env
}

func startErgo() (*ergoEnv, error) {
	l, err := epmd.Listen(context.Background(), ergoHost+":0")
	if err != nil {
		return nil, err
	}
	go (&epmd.Server{}).Serve(l)
	env := &ergoEnv{epmdPort: l.Addr().(*net.TCPAddr).Port}

	// ergo tries the ports of its range in turn; start the range at a
	// port that was free a moment ago.
	pl, err := net.Listen("tcp", ergoHost+":0")
	if err != nil {
		return nil, err
	}
	begin := pl.Addr().(*net.TCPAddr).Port
	pl.Close()
	end := min(begin+1000, math.MaxUint16)

	proto := node.DefaultProtoOptions()
	proto.NumHandlers = 1 // deliver each connection's messages in order
	n, err := ergo.StartNode(erltest.UniqueName("ergo")+"@"+ergoHost, ergoCookie, node.Options{
		Creation:  ergoCreation,
		Listeners: []node.Listener{{ListenBegin: uint16(begin), ListenEnd: uint16(end)}},
		Registrar: dist.CreateRegistrarWithRemoteEPMD(ergoHost, uint16(env.epmdPort)),
		Proto:     dist.CreateProto(proto),
	})
	if err != nil {
		return nil, err
	}
	env.node = n
	// ergo drops messages to a full mailbox (100 by default), and
	// TestErgoEchoConcurrent has 400 in flight at once.
	p, err := n.Spawn("echo", gen.ProcessOptions{MailboxSize: 1000}, &ergoEcho{})
	if err != nil {
		return nil, err
	}
	env.echo = p.Self()
	return env, nil
}

// goNode returns a Node using the shared epmd, with a wire trace (see
// newTrace).
func (env *ergoEnv) goNode(t testing.TB, flags ei.Flags) *ei.Node {
	return &ei.Node{
		Name:   erltest.UniqueName("go") + "@" + ergoHost,
		Cookie: ergoCookie,
		Flags:  flags,
		EPMD:   &epmd.Client{Host: ergoHost, Port: env.epmdPort},
		Trace:  newTrace(t),
	}
}

// ergoFlagSets are the flags our nodes offer the ergo node: ergo needs
// DFLAG_DIST_HDR_ATOM_CACHE (see the top of this file); without
// DFLAG_FRAGMENTS it sends large messages whole.
var ergoFlagSets = []struct {
	name  string
	flags ei.Flags
}{
	{"default", ei.DefaultFlags},
	{"nofragments", ei.DefaultFlags &^ ei.FlagFragments},
}

// connect connects a new Node to the ergo node and returns the Conn with a
// pid of that Node. ergo makes the connection known to its processes only
// after its side of the handshake, so connect waits for a reply from the
// echo process to the pid: once ergo reads a frame, the connection is
// registered, and ergo processes can send and link to our pids.
func (env *ergoEnv) connect(t *testing.T, flags ei.Flags) (*ei.Conn, ei.Pid) {
	t.Helper()
	ctx := testContext(t)
	n := env.goNode(t, flags)
	c, err := n.Connect(ctx, env.node.Name())
	if err != nil {
		t.Fatalf("Connect(%s) = %v", env.node.Name(), err)
	}
	t.Cleanup(func() { c.Close() })
	self, err := n.Pid()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Send(ctx, eiPid(env.echo), ei.Tuple{self, ei.Atom("sync")}); err != nil {
		t.Fatalf("Send = %v", err)
	}
	m := receiveErgo(t, ctx, c)
	if want := (ei.Message{Control: ei.Send{To: self}, Payload: ei.Tuple{ei.Atom("echo"), ei.Atom("sync")}}); !reflect.DeepEqual(m, want) {
		t.Fatalf("Receive() = %#v, want %#v", m, want)
	}
	return c, self
}

// ergoEcho is a gen.Server that answers gen_server calls with {echo, Msg}
// and messages {From, Msg} with From ! {echo, Msg}.
type ergoEcho struct{ gen.Server }

func (*ergoEcho) HandleCall(sp *gen.ServerProcess, from gen.ServerFrom, msg etf.Term) (etf.Term, gen.ServerStatus) {
	return etf.Tuple{etf.Atom("echo"), msg}, gen.ServerStatusOK
}

func (*ergoEcho) HandleInfo(sp *gen.ServerProcess, msg etf.Term) gen.ServerStatus {
	if m, ok := msg.(etf.Tuple); ok && len(m) == 2 {
		if from, ok := m[0].(etf.Pid); ok {
			sp.Send(from, etf.Tuple{etf.Atom("echo"), m[1]})
		}
	}
	return gen.ServerStatusOK
}

// ergoProbe is a gen.Server the test drives: Direct requests make it send,
// link or monitor, the message {stop, Reason} stops it with Reason, the message
// links puts its links in inbox, and whatever else it receives (exit
// signals included, as gen.MessageExit) goes to inbox.
type ergoProbe struct {
	gen.Server
	trapExit bool
	inbox    chan etf.Term
	done     chan struct{} // closed when the test ends
}

type probeSend struct {
	to  any // etf.Pid or gen.ProcessID
	msg etf.Term
}

type probeLink struct{ pid etf.Pid }

type probeMonitor struct{ pid etf.Pid } // returns the monitor's etf.Ref

func (p *ergoProbe) Init(sp *gen.ServerProcess, args ...etf.Term) error {
	sp.SetTrapExit(p.trapExit)
	return nil
}

func (p *ergoProbe) HandleDirect(sp *gen.ServerProcess, ref etf.Ref, req any) (any, gen.DirectStatus) {
	switch r := req.(type) {
	case probeSend:
		return nil, sp.Send(r.to, r.msg)
	case probeLink:
		return nil, sp.Link(r.pid)
	case probeMonitor:
		return sp.MonitorProcess(r.pid), nil
	}
	return nil, lib.ErrUnsupportedRequest
}

func (p *ergoProbe) HandleInfo(sp *gen.ServerProcess, msg etf.Term) gen.ServerStatus {
	if m, ok := msg.(etf.Tuple); ok && len(m) == 2 && m[0] == etf.Atom("stop") {
		return gen.ServerStatusStopWithReason(fmt.Sprint(m[1]))
	}
	if msg == etf.Atom("links") {
		msg = append([]etf.Pid{}, sp.Links()...)
	}
	select {
	case p.inbox <- msg:
	case <-p.done:
	}
	return gen.ServerStatusOK
}

// spawnProbe starts a probe on the ergo node, registered as name unless
// name is empty, and stops it at the end of the test.
func (env *ergoEnv) spawnProbe(t *testing.T, name string, trapExit bool) (gen.Process, *ergoProbe) {
	t.Helper()
	probe := &ergoProbe{trapExit: trapExit, inbox: make(chan etf.Term, 16), done: make(chan struct{})}
	p, err := env.node.Spawn(name, gen.ProcessOptions{}, probe)
	if err != nil {
		t.Fatalf("Spawn probe: %v", err)
	}
	// Process.Kill and Exit read fields that the process's own goroutine
	// clears when it ends, so they race with a probe that stopped; Send
	// checks under a lock. Exit signals race the same way with a process
	// that is stopping, so wait for the probe to end before the test's
	// connection closes (which sends it one if ergo thinks they are
	// linked).
	t.Cleanup(func() {
		close(probe.done)
		p.Send(p.Self(), etf.Tuple{etf.Atom("stop"), etf.Atom("normal")})
		p.Wait()
	})
	return p, probe
}

// next returns the next message the probe received.
func (p *ergoProbe) next(t *testing.T, ctx context.Context) etf.Term {
	t.Helper()
	select {
	case m := <-p.inbox:
		return m
	case <-ctx.Done():
		t.Fatalf("ergo probe received nothing: %v", ctx.Err())
		return nil
	}
}

// ergoPid is p as ergo represents it once both nodes offered DFLAG_V4_NC:
// the serial in the high 32 bits of the ID.
func ergoPid(p ei.Pid) etf.Pid {
	return etf.Pid{Node: etf.Atom(p.Node), ID: uint64(p.ID) | uint64(p.Serial)<<32, Creation: p.Creation}
}

// eiPid is the inverse of ergoPid.
func eiPid(p etf.Pid) ei.Pid {
	return ei.Pid{Node: ei.Atom(p.Node), ID: uint32(p.ID), Serial: uint32(p.ID >> 32), Creation: p.Creation}
}

// receiveErgo receives the next message on c.
func receiveErgo(t *testing.T, ctx context.Context, c *ei.Conn) ei.Message {
	t.Helper()
	m, err := c.Receive(ctx)
	if err != nil {
		t.Fatalf("Receive() = %v", err)
	}
	return m
}

// TestErgoConnect connects to the ergo node (found through our epmd) and
// makes a gen_server call to a process registered by name: a REG_SEND
// {'$gen_call', {Pid, Ref}, Msg} answered by a SEND to our pid.
func TestErgoConnect(t *testing.T) {
	env := sharedErgo(t)
	for _, fs := range ergoFlagSets {
		t.Run(fs.name, func(t *testing.T) {
			ctx := testContext(t)
			c, self := env.connect(t, fs.flags)
			if got, want := c.Peer(), ei.Atom(env.node.Name()); got != want {
				t.Errorf("Peer() = %q, want %q", got, want)
			}
			if got := c.PeerCreation(); got != ergoCreation {
				t.Errorf("PeerCreation() = %#x, want %#x", got, ergoCreation)
			}
			if missing := ei.MandatoryFlags &^ c.Flags(); missing != 0 {
				t.Errorf("Flags() = %v, lacks %v", c.Flags(), missing)
			}
			ref := ei.Ref{Node: self.Node, Creation: self.Creation, ID: []uint32{7, 8, 9}}
			call := ei.Tuple{ei.Atom("$gen_call"), ei.Tuple{self, ref}, ei.Atom("hello")}
			if err := c.RegSend(ctx, self, "echo", call); err != nil {
				t.Fatalf("RegSend = %v", err)
			}
			m := receiveErgo(t, ctx, c)
			want := ei.Message{
				Control: ei.Send{To: self},
				Payload: ei.Tuple{ref, ei.Tuple{ei.Atom("echo"), ei.Atom("hello")}},
			}
			if !reflect.DeepEqual(m, want) {
				t.Errorf("Receive() = %#v, want %#v", m, want)
			}
		})
	}
}

// TestErgoConnectBadCookie checks that the ergo node refuses a wrong
// cookie and that we report it as ErrAuth.
func TestErgoConnectBadCookie(t *testing.T) {
	env := sharedErgo(t)
	n := env.goNode(t, 0)
	n.Cookie = "not-" + ergoCookie
	c, err := n.Connect(testContext(t), env.node.Name())
	if err == nil {
		c.Close()
		t.Fatalf("Connect with a wrong cookie succeeded")
	}
	if !errors.Is(err, ei.ErrAuth) {
		t.Errorf("Connect with a wrong cookie = %v, want ErrAuth", err)
	}
}

// TestErgoAccept has the ergo node connect to our published node (it finds
// the port through our epmd) and send to a registered name and to a pid;
// our replies reach the ergo process.
func TestErgoAccept(t *testing.T) {
	env := sharedErgo(t)
	for _, fs := range ergoFlagSets {
		t.Run(fs.name, func(t *testing.T) {
			ctx := testContext(t)
			n := env.goNode(t, fs.flags)
			l := listenPublished(t, ctx, n, ergoHost+":0")
			defer l.Close()
			p, probe := env.spawnProbe(t, "", false)

			// The probe's Direct returns once ergo has connected and sent;
			// the Listener completes the handshake without waiting for
			// Accept.
			hello := etf.Tuple{etf.Atom("hello"), etf.List{1, 2, 3}}
			if _, err := p.Direct(probeSend{to: gen.ProcessID{Name: "inbox", Node: n.Name}, msg: hello}); err != nil {
				t.Fatalf("ergo send to {inbox, %s}: %v", n.Name, err)
			}
			c, err := l.Accept(ctx)
			if err != nil {
				t.Fatalf("Accept() = %v", err)
			}
			defer c.Close()
			if got, want := c.Peer(), ei.Atom(env.node.Name()); got != want {
				t.Errorf("Peer() = %q, want %q", got, want)
			}
			from := eiPid(p.Self())
			m := receiveErgo(t, ctx, c)
			want := ei.Message{
				Control: ei.RegSend{From: from, To: "inbox"},
				Payload: ei.Tuple{ei.Atom("hello"), ei.List{int64(1), int64(2), int64(3)}},
			}
			if !reflect.DeepEqual(m, want) {
				t.Fatalf("Receive() = %#v, want %#v", m, want)
			}

			// Reply to the sender's pid.
			if err := c.Send(ctx, from, ei.Tuple{ei.Atom("reply"), ei.Binary("from go")}); err != nil {
				t.Fatalf("Send = %v", err)
			}
			if got, want := probe.next(t, ctx), (etf.Tuple{etf.Atom("reply"), []byte("from go")}); !reflect.DeepEqual(got, want) {
				t.Errorf("ergo received %#v, want %#v", got, want)
			}

			// ergo sends to one of our pids over the same connection.
			self, err := n.Pid()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Direct(probeSend{to: ergoPid(self), msg: etf.Atom("to_pid")}); err != nil {
				t.Fatalf("ergo send to %v: %v", self, err)
			}
			m = receiveErgo(t, ctx, c)
			if want := (ei.Message{Control: ei.Send{To: self}, Payload: ei.Atom("to_pid")}); !reflect.DeepEqual(m, want) {
				t.Errorf("Receive() = %#v, want %#v", m, want)
			}
		})
	}
}

// TestErgoAcceptBadCookie has the ergo node connect to our published node
// with a wrong cookie: our side refuses the handshake, ergo's send fails,
// and the Listener still accepts ergo once it uses the right cookie.
func TestErgoAcceptBadCookie(t *testing.T) {
	env := sharedErgo(t)
	ctx := testContext(t)
	n := env.goNode(t, 0)
	l := listenPublished(t, ctx, n, ergoHost+":0")
	defer l.Close()
	p, _ := env.spawnProbe(t, "", false)
	to := gen.ProcessID{Name: "inbox", Node: n.Name}

	if err := env.node.AddStaticRouteOptions(n.Name, node.RouteOptions{Cookie: "not-" + ergoCookie}); err != nil {
		t.Fatal(err)
	}
	_, err := p.Direct(probeSend{to: to, msg: etf.Atom("bad")})
	env.node.RemoveStaticRoute(n.Name)
	if err == nil {
		t.Fatalf("ergo sent to %v with a wrong cookie", to)
	}

	if _, err := p.Direct(probeSend{to: to, msg: etf.Atom("good")}); err != nil {
		t.Fatalf("ergo send to %v: %v", to, err)
	}
	c, err := l.Accept(ctx)
	if err != nil {
		t.Fatalf("Accept() = %v", err)
	}
	defer c.Close()
	m := receiveErgo(t, ctx, c)
	if want := (ei.Message{Control: ei.RegSend{From: eiPid(p.Self()), To: "inbox"}, Payload: ei.Atom("good")}); !reflect.DeepEqual(m, want) {
		t.Errorf("Receive() = %#v, want %#v", m, want)
	}
}

func mustBig(s string) *big.Int {
	b, ok := new(big.Int).SetString(s, 0)
	if !ok {
		panic("bad big.Int literal " + s)
	}
	return b
}

// ergoTermTests are terms that both codecs represent faithfully: ei is our
// value, ergo the value etf.Decode gives for its bytes (whose Go types
// follow the tag: SMALL_INTEGER_EXT gives int, INTEGER_EXT int64, ...).
var ergoTermTests = []struct {
	name string
	ei   ei.Term
	ergo etf.Term
}{
	{"atom", ei.Atom("hello"), etf.Atom("hello")},
	{"atom/utf8", ei.Atom("héllo wörld ☃"), etf.Atom("héllo wörld ☃")},
	{"atom/long", ei.Atom(strings.Repeat("ä", 255)), etf.Atom(strings.Repeat("ä", 255))},
	{"atom/true", ei.Atom("true"), true},
	{"int/small", int64(42), 42},
	{"int/zero", int64(0), 0},
	{"int/negative", int64(-1), int64(-1)},
	{"int/int32", int64(math.MaxInt32), int64(math.MaxInt32)},
	{"int/minint32", int64(math.MinInt32), int64(math.MinInt32)},
	{"int/int40", int64(1) << 40, int64(1) << 40},
	{"int/maxint64", int64(math.MaxInt64), int64(math.MaxInt64)},
	{"int/minint64", int64(math.MinInt64), int64(math.MinInt64)},
	{"big/maxuint64", mustBig("18446744073709551615"), uint64(math.MaxUint64)},
	{"big/2^100", mustBig("0x10000000000000000000000000"), mustBig("0x10000000000000000000000000")},
	{"big/-2^100-1", mustBig("-0x10000000000000000000000001"), mustBig("-0x10000000000000000000000001")},
	{"big/large", new(big.Int).Lsh(big.NewInt(3), 2100), new(big.Int).Lsh(big.NewInt(3), 2100)},
	{"big/large-negative", new(big.Int).Neg(new(big.Int).Lsh(big.NewInt(5), 4000)), new(big.Int).Neg(new(big.Int).Lsh(big.NewInt(5), 4000))},
	{"float", 3.14159, 3.14159},
	{"float/negative", -1e300, -1e300},
	{"float/tiny", math.SmallestNonzeroFloat64, math.SmallestNonzeroFloat64},
	{"binary", ei.Binary("hello"), []byte("hello")},
	{"binary/empty", ei.Binary{}, []byte{}},
	{"binary/large", ei.Binary(bytes.Repeat([]byte{0, 1, 2, 255}, 50000)), bytes.Repeat([]byte{0, 1, 2, 255}, 50000)},
	{"string", ei.String("abc"), "abc"},
	{"tuple", ei.Tuple{ei.Atom("ok"), int64(1)}, etf.Tuple{etf.Atom("ok"), 1}},
	{"tuple/empty", ei.Tuple{}, etf.Tuple{}},
	{"tuple/large", ei.Tuple(slices.Repeat([]ei.Term{ei.Atom("x")}, 300)), etf.Tuple(slices.Repeat([]etf.Term{etf.Atom("x")}, 300))},
	{"list", ei.List{ei.Atom("a"), int64(1000), ei.Binary("b")}, etf.List{etf.Atom("a"), int64(1000), []byte("b")}},
	{"list/empty-inside", ei.Tuple{ei.List{}}, etf.Tuple{etf.List{}}},
	{"list/nested", ei.List{ei.List{ei.List{}}, ei.List{int64(1)}}, etf.List{etf.List{etf.List{}}, etf.List{1}}},
	{"list/long", ei.List(slices.Repeat([]ei.Term{ei.Tuple{ei.Atom("k"), int64(70000)}}, 20000)),
		etf.List(slices.Repeat([]etf.Term{etf.Tuple{etf.Atom("k"), int64(70000)}}, 20000))},
	{"map", ei.Map{{Key: ei.Atom("a"), Value: int64(1)}, {Key: int64(2), Value: ei.Binary("two")}, {Key: ei.Atom("c"), Value: ei.List{}}},
		etf.Map{etf.Atom("a"): 1, 2: []byte("two"), etf.Atom("c"): etf.List{}}},
	{"map/empty", ei.Map{}, etf.Map{}},
	{"map/nested", ei.Map{{Key: ei.Atom("m"), Value: ei.Map{{Key: ei.Atom("n"), Value: 1.5}}}},
		etf.Map{etf.Atom("m"): etf.Map{etf.Atom("n"): 1.5}}},
	{"pid", ei.Pid{Node: "a@b", ID: 1 << 20, Serial: 3, Creation: 0xdeadbeef},
		etf.Pid{Node: "a@b", ID: 3<<32 | 1<<20, Creation: 0xdeadbeef}},
	{"ref", ei.Ref{Node: "a@b", Creation: 9, ID: []uint32{1, 2, 3}},
		etf.Ref{Node: "a@b", Creation: 9, ID: [5]uint32{1, 2, 3}}},
	{"mixed", ei.Tuple{ei.Atom("reply"), ei.Pid{Node: "n@h", ID: 5, Creation: 1}, ei.List{ei.Map{{Key: ei.Atom("k"), Value: ei.String("v")}}, -2.5}},
		etf.Tuple{etf.Atom("reply"), etf.Pid{Node: "n@h", ID: 5, Creation: 1}, etf.List{etf.Map{etf.Atom("k"): "v"}, -2.5}}},
}

var (
	ergoDecodeOpts = etf.DecodeOptions{FlagBigPidRef: true}
	ergoEncodeOpts = etf.EncodeOptions{FlagBigPidRef: true, FlagBigCreation: true}
)

// ergoDecode decodes data (without the version byte) with ergo's etf. It
// decodes a copy, since ergo reverses big integers' digits in place.
func ergoDecode(data []byte) (etf.Term, error) {
	term, rest, err := etf.Decode(bytes.Clone(data), nil, ergoDecodeOpts)
	if err == nil && len(rest) != 0 {
		err = fmt.Errorf("%d bytes left over", len(rest))
	}
	return term, err
}

// ergoEncode encodes t with ergo's etf, without the version byte.
func ergoEncode(t etf.Term) ([]byte, error) {
	buf := lib.TakeBuffer()
	defer lib.ReleaseBuffer(buf)
	if err := etf.Encode(t, buf, ergoEncodeOpts); err != nil {
		return nil, err
	}
	return bytes.Clone(buf.B), nil
}

// canonical orders the pairs of the maps in t by their keys' encoding, so
// that terms that went through a Go map compare equal.
func canonical(t ei.Term) ei.Term {
	return rebuild(t, func(t ei.Term) ei.Term {
		m, ok := t.(ei.Map)
		if !ok {
			return t
		}
		key := func(p ei.Pair) []byte {
			b, _ := ei.Marshal(p.Key)
			return b
		}
		slices.SortStableFunc(m, func(a, b ei.Pair) int { return bytes.Compare(key(a), key(b)) })
		return m
	})
}

func sameTerm(a, b ei.Term) bool { return reflect.DeepEqual(canonical(a), canonical(b)) }

// TestErgoETF checks both codecs against each other: ergo decodes what
// Marshal encodes to the equivalent ergo value, and Unmarshal decodes what
// ergo encodes to our value.
func TestErgoETF(t *testing.T) {
	for _, tt := range ergoTermTests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := ei.Marshal(tt.ei)
			if err != nil {
				t.Fatalf("Marshal(%v) = %v", tt.ei, err)
			}
			if got, err := ergoDecode(data[1:]); err != nil || !reflect.DeepEqual(got, tt.ergo) {
				t.Errorf("etf.Decode(%s) = %#v, %v, want %#v", short(data[1:]), got, err, tt.ergo)
			}

			enc, err := ergoEncode(tt.ergo)
			if err != nil {
				t.Fatalf("etf.Encode(%#v) = %v", tt.ergo, err)
			}
			if got, err := ei.Unmarshal(append([]byte{131}, enc...)); err != nil || !sameTerm(got, tt.ei) {
				t.Errorf("Unmarshal(%s) = %v, %v, want %v", short(enc), got, err, tt.ei)
			}
		})
	}
}

// short abbreviates long encodings in failure messages.
func short(b []byte) string {
	if len(b) > 64 {
		return fmt.Sprintf("%x...(%d bytes)", b[:64], len(b))
	}
	return fmt.Sprintf("%x", b)
}

// TestErgoEcho sends each term to the ergo echo process, which decodes it
// and sends it back: it must come back unchanged. The large terms cross in
// fragments when both nodes offer DFLAG_FRAGMENTS.
func TestErgoEcho(t *testing.T) {
	env := sharedErgo(t)
	for _, fs := range ergoFlagSets {
		t.Run(fs.name, func(t *testing.T) {
			c, self := env.connect(t, fs.flags)
			for _, tt := range ergoTermTests {
				t.Run(tt.name, func(t *testing.T) {
					ctx := testContext(t)
					if err := c.Send(ctx, eiPid(env.echo), ei.Tuple{self, tt.ei}); err != nil {
						t.Fatalf("Send = %v", err)
					}
					m := receiveErgo(t, ctx, c)
					want := ei.Message{Control: ei.Send{To: self}, Payload: ei.Tuple{ei.Atom("echo"), tt.ei}}
					if !sameTerm(m.Payload, want.Payload) || m.Control != want.Control {
						t.Errorf("echo of %.200v: Receive() = %.200v, want %.200v", tt.ei, m, want)
					}
				})
			}
		})
	}
}

// TestErgoEchoAtomCache sends the echo process terms with many distinct
// atoms, more than ergo's atom cache holds (2048), so its replies reuse
// cache slots for new atoms.
func TestErgoEchoAtomCache(t *testing.T) {
	env := sharedErgo(t)
	ctx := testContext(t)
	c, self := env.connect(t, 0)
	for round := range 12 {
		atoms := make(ei.List, 400)
		for i := range atoms {
			atoms[i] = ei.Atom(fmt.Sprintf("atom_%d_%d", round, i))
		}
		// Repeat some atoms from the round before, cached by now.
		msg := ei.Tuple{atoms, ei.Atom(fmt.Sprintf("atom_%d_0", max(round-1, 0)))}
		if err := c.Send(ctx, eiPid(env.echo), ei.Tuple{self, msg}); err != nil {
			t.Fatalf("Send = %v", err)
		}
		m := receiveErgo(t, ctx, c)
		want := ei.Message{Control: ei.Send{To: self}, Payload: ei.Tuple{ei.Atom("echo"), msg}}
		if !reflect.DeepEqual(m, want) {
			t.Fatalf("round %d: Receive() = %.300v, want %.300v", round, m, want)
		}
	}
}

// TestErgoEchoConcurrent has several goroutines send to the echo process
// over one Conn at once, while one goroutine receives the replies.
func TestErgoEchoConcurrent(t *testing.T) {
	env := sharedErgo(t)
	ctx := testContext(t)
	c, self := env.connect(t, 0)
	const senders, each = 8, 50
	errs := make(chan error, senders)
	for g := range senders {
		go func() {
			for i := range each {
				msg := ei.Tuple{int64(g), int64(i), ei.Binary(bytes.Repeat([]byte{byte(i)}, i*100)), ei.Atom(fmt.Sprintf("g%d", g))}
				if err := c.Send(ctx, eiPid(env.echo), ei.Tuple{self, msg}); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	seen := make(map[[2]int64]bool)
	for range senders * each {
		m := receiveErgo(t, ctx, c)
		p, ok := m.Payload.(ei.Tuple)
		if !ok || len(p) != 2 || p[0] != ei.Atom("echo") {
			t.Fatalf("Receive() = %.200v, want {echo, Msg}", m)
		}
		msg, ok := p[1].(ei.Tuple)
		if !ok || len(msg) != 4 {
			t.Fatalf("Receive() = %.200v, want {echo, {G, I, Bin, Atom}}", m)
		}
		g, _ := msg[0].(int64)
		i, _ := msg[1].(int64)
		want := ei.Tuple{g, i, ei.Binary(bytes.Repeat([]byte{byte(i)}, int(i)*100)), ei.Atom(fmt.Sprintf("g%d", g))}
		if !reflect.DeepEqual(msg, want) || seen[[2]int64{g, i}] {
			t.Fatalf("Receive() = %.200v, want a new {echo, %.200v}", m, want)
		}
		seen[[2]int64{g, i}] = true
	}
	for range senders {
		if err := <-errs; err != nil {
			t.Errorf("Send = %v", err)
		}
	}
}

// randomErgoTerm returns a random term from the part of the term space
// that both codecs represent faithfully (see the top of this file).
func randomErgoTerm(r *rand.Rand, depth int) ei.Term {
	kinds := 12
	if depth <= 0 {
		kinds = 8 // no containers
	}
	switch r.IntN(kinds) {
	case 0:
		b := make([]rune, r.IntN(20))
		for i := range b {
			b[i] = rune(r.IntN(0x600))
		}
		return ei.Atom(string(b))
	case 1:
		return int64(r.IntN(256))
	case 2:
		return r.Int64() >> r.IntN(64)
	case 3:
		v := r.Int64() >> r.IntN(64)
		if v == 0 {
			return int64(0)
		}
		return -v
	case 4:
		x := new(big.Int).Lsh(big.NewInt(r.Int64()|1), uint(r.IntN(3000)))
		if n := (x.BitLen() + 7) / 8; n == 254 || n == 255 {
			x.Lsh(x, 16) // ergo cannot decode these sizes
		}
		if x.BitLen() > 63 && x.BitLen() <= 64 && r.IntN(2) == 0 {
			return x // positive up to 2^64 decodes as uint64
		}
		if x.BitLen() > 64 && r.IntN(2) == 0 {
			x.Neg(x)
		}
		if !x.IsInt64() {
			return x
		}
		return x.Int64()
	case 5:
		return math.Float64frombits(r.Uint64()&^(0x7ff<<52) | uint64(r.IntN(0x7ff))<<52) // finite
	case 6:
		b := make([]byte, r.IntN(40))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return ei.Binary(b)
	case 7:
		if r.IntN(2) == 0 {
			return ei.Pid{Node: "p@h", ID: r.Uint32(), Serial: r.Uint32(), Creation: r.Uint32()}
		}
		// ergo keeps 18 bits of the first word, as many as OTP uses.
		return ei.Ref{Node: "r@h", Creation: r.Uint32(), ID: []uint32{r.Uint32N(1 << 18), r.Uint32(), r.Uint32()}}
	case 8:
		t := make(ei.Tuple, r.IntN(5))
		for i := range t {
			t[i] = randomErgoTerm(r, depth-1)
		}
		return t
	case 9:
		l := make(ei.List, r.IntN(5))
		for i := range l {
			l[i] = randomErgoTerm(r, depth-1)
		}
		return l
	case 10:
		m := ei.Map{}
		for i := range r.IntN(5) {
			var k ei.Term = int64(i)
			if r.IntN(2) == 0 {
				k = ei.Atom(fmt.Sprintf("k%d", i))
			}
			m = append(m, ei.Pair{Key: k, Value: randomErgoTerm(r, depth-1)})
		}
		return m
	default:
		b := make([]byte, 1+r.IntN(30))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return ei.String(b)
	}
}

// TestErgoRandomTerms runs random terms through ergo's codec and through
// the ergo echo process; they must come back unchanged.
func TestErgoRandomTerms(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	terms := make([]ei.Term, 500)
	for i := range terms {
		terms[i] = ei.Tuple{randomErgoTerm(r, 4)} // ergo cannot decode a top-level []
	}
	for _, x := range terms {
		data, err := ei.Marshal(x)
		if err != nil {
			t.Fatalf("Marshal(%v) = %v", x, err)
		}
		et, err := ergoDecode(data[1:])
		if err != nil {
			t.Errorf("etf.Decode(%s) = %v", short(data[1:]), err)
			continue
		}
		enc, err := ergoEncode(et)
		if err != nil {
			t.Errorf("etf.Encode(%#v) = %v", et, err)
			continue
		}
		if back, err := ei.Unmarshal(append([]byte{131}, enc...)); err != nil || !sameTerm(back, x) {
			t.Errorf("Unmarshal(%s) = %v, %v, want %v (sent as %s)", short(enc), back, err, x, short(data[1:]))
		}
	}

	env := sharedErgo(t)
	ctx := testContext(t)
	c, self := env.connect(t, 0)
	for _, x := range terms {
		if err := c.Send(ctx, eiPid(env.echo), ei.Tuple{self, x}); err != nil {
			t.Fatalf("Send = %v", err)
		}
		m := receiveErgo(t, ctx, c)
		if want := (ei.Tuple{ei.Atom("echo"), x}); !sameTerm(m.Payload, want) {
			t.Errorf("echo of %v: Receive() = %v, want %v", x, m.Payload, want)
		}
	}
}

// TestErgoLinkExit links one of our pids with an ergo process; when the
// process stops, ergo sends us EXIT with its reason.
func TestErgoLinkExit(t *testing.T) {
	env := sharedErgo(t)
	for _, fs := range ergoFlagSets {
		t.Run(fs.name, func(t *testing.T) {
			ctx := testContext(t)
			c, self := env.connect(t, fs.flags)
			p, _ := env.spawnProbe(t, "", false)
			probe := eiPid(p.Self())
			if err := c.Link(ctx, self, probe); err != nil {
				t.Fatalf("Link = %v", err)
			}
			// The ergo node handles the connection's frames in order, so
			// the link is in place when the probe sees this message.
			if err := c.Send(ctx, probe, ei.Tuple{ei.Atom("stop"), ei.Atom("bye")}); err != nil {
				t.Fatalf("Send = %v", err)
			}
			m := receiveErgo(t, ctx, c)
			want := ei.Message{Control: ei.Exit{From: probe, To: self, Reason: ei.Atom("bye")}}
			if !reflect.DeepEqual(m, want) {
				t.Errorf("Receive() = %#v, want %#v", m, want)
			}
		})
	}
}

// TestErgoExitToLinked has an ergo process (trapping exits) link to one of
// our pids; we get LINK, and the EXIT we send back reaches the process.
func TestErgoExitToLinked(t *testing.T) {
	env := sharedErgo(t)
	for _, fs := range ergoFlagSets {
		t.Run(fs.name, func(t *testing.T) {
			ctx := testContext(t)
			c, self := env.connect(t, fs.flags)
			p, probe := env.spawnProbe(t, "", true)
			if _, err := p.Direct(probeLink{pid: ergoPid(self)}); err != nil {
				t.Fatalf("ergo link to %v: %v", self, err)
			}
			m := receiveErgo(t, ctx, c)
			from := eiPid(p.Self())
			if want := (ei.Message{Control: ei.Link{From: from, To: self}}); !reflect.DeepEqual(m, want) {
				t.Fatalf("Receive() = %#v, want %#v", m, want)
			}
			if err := c.Exit(ctx, self, from, ei.Atom("shutdown")); err != nil {
				t.Fatalf("Exit = %v", err)
			}
			want := gen.MessageExit{Pid: ergoPid(self), Reason: "shutdown"}
			if got := probe.next(t, ctx); !reflect.DeepEqual(got, want) {
				t.Errorf("ergo received %#v, want %#v", got, want)
			}
		})
	}
}

// TestErgoUnlink links one of our pids with an ergo process and unlinks it
// (with UNLINK, as ergo lacks DFLAG_UNLINK_ID), asking the process for its
// links after each step.
func TestErgoUnlink(t *testing.T) {
	env := sharedErgo(t)
	ctx := testContext(t)
	c, self := env.connect(t, 0)
	p, probe := env.spawnProbe(t, "", false)
	to := eiPid(p.Self())
	// The ergo node handles the connection's frames in order, so the
	// probe answers "links" after handling what was sent before.
	links := func() etf.Term {
		t.Helper()
		if err := c.Send(ctx, to, ei.Atom("links")); err != nil {
			t.Fatalf("Send = %v", err)
		}
		return probe.next(t, ctx)
	}
	if err := c.Link(ctx, self, to); err != nil {
		t.Fatalf("Link = %v", err)
	}
	if got, want := links(), []etf.Pid{ergoPid(self)}; !reflect.DeepEqual(got, want) {
		t.Errorf("after Link, the ergo process's links = %v, want %v", got, want)
	}
	if _, err := c.Unlink(ctx, self, to); err != nil {
		t.Fatalf("Unlink = %v", err)
	}
	if got := links(); !reflect.DeepEqual(got, []etf.Pid{}) {
		t.Errorf("after Unlink, the ergo process's links = %v, want none", got)
	}
}

// TestErgoMonitor monitors ergo processes by pid and by name and receives
// their MONITOR_P_EXIT, and has an ergo process monitor one of our pids
// and receive the MONITOR_P_EXIT we send.
func TestErgoMonitor(t *testing.T) {
	env := sharedErgo(t)
	t.Run("pid", func(t *testing.T) {
		ctx := testContext(t)
		c, self := env.connect(t, 0)
		p, _ := env.spawnProbe(t, "", false)
		probe := eiPid(p.Self())
		ref := ei.Ref{Node: self.Node, Creation: self.Creation, ID: []uint32{1, 2, 3}}
		if err := c.SendControl(ctx, ei.MonitorP{From: self, To: probe, Ref: ref}, nil); err != nil {
			t.Fatalf("SendControl(MonitorP) = %v", err)
		}
		if err := c.Send(ctx, probe, ei.Tuple{ei.Atom("stop"), ei.Atom("bye")}); err != nil {
			t.Fatalf("Send = %v", err)
		}
		m := receiveErgo(t, ctx, c)
		want := ei.Message{Control: ei.MonitorPExit{From: probe, To: self, Ref: ref, Reason: ei.Atom("bye")}}
		if !reflect.DeepEqual(m, want) {
			t.Errorf("Receive() = %#v, want %#v", m, want)
		}
	})
	t.Run("name", func(t *testing.T) {
		ctx := testContext(t)
		c, self := env.connect(t, 0)
		name := erltest.UniqueName("probe")
		env.spawnProbe(t, name, false)
		ref := ei.Ref{Node: self.Node, Creation: self.Creation, ID: []uint32{4, 5, 6}}
		if err := c.SendControl(ctx, ei.MonitorP{From: self, To: ei.Atom(name), Ref: ref}, nil); err != nil {
			t.Fatalf("SendControl(MonitorP) = %v", err)
		}
		if err := c.RegSend(ctx, self, ei.Atom(name), ei.Tuple{ei.Atom("stop"), ei.Atom("bye")}); err != nil {
			t.Fatalf("RegSend = %v", err)
		}
		m := receiveErgo(t, ctx, c)
		want := ei.Message{Control: ei.MonitorPExit{From: ei.Atom(name), To: self, Ref: ref, Reason: ei.Atom("bye")}}
		if !reflect.DeepEqual(m, want) {
			t.Errorf("Receive() = %#v, want %#v", m, want)
		}
	})
	t.Run("monitored", func(t *testing.T) {
		ctx := testContext(t)
		c, self := env.connect(t, 0)
		p, probe := env.spawnProbe(t, "", false)
		r, err := p.Direct(probeMonitor{pid: ergoPid(self)})
		if err != nil {
			t.Fatalf("ergo monitor %v: %v", self, err)
		}
		ergoRef := r.(etf.Ref)
		ref := ei.Ref{Node: ei.Atom(ergoRef.Node), Creation: ergoRef.Creation, ID: ergoRef.ID[:3]}
		from := eiPid(p.Self())
		m := receiveErgo(t, ctx, c)
		if want := (ei.Message{Control: ei.MonitorP{From: from, To: self, Ref: ref}}); !reflect.DeepEqual(m, want) {
			t.Fatalf("Receive() = %#v, want %#v", m, want)
		}
		if err := c.SendControl(ctx, ei.MonitorPExit{From: self, To: from, Ref: ref, Reason: ei.Atom("gone")}, nil); err != nil {
			t.Fatalf("SendControl(MonitorPExit) = %v", err)
		}
		want := gen.MessageDown{Ref: ergoRef, Pid: ergoPid(self), Reason: "gone"}
		if got := probe.next(t, ctx); !reflect.DeepEqual(got, want) {
			t.Errorf("ergo received %#v, want %#v", got, want)
		}
	})
}

// TestErgoETFDifferences keeps the list of ergo's ETF deviations at the top
// of this file true: each entry is a term we encode (as OTP does) and what
// ergo's etf makes of it.
func TestErgoETFDifferences(t *testing.T) {
	tests := []struct {
		name    string
		in      ei.Term
		want    etf.Term // ergo's decoded value, if it decodes
		wantErr bool
		back    ei.Term // what ergo's encoding of want decodes to, if not in
	}{
		{name: "export", in: ei.Export{Module: "lists", Function: "map", Arity: 2}, wantErr: true},
		{name: "fun/small-olduniq", in: ei.Fun{Module: "m", Arity: 1, OldIndex: 1, OldUniq: 5, Pid: ei.Pid{Node: "a@b", ID: 1}}, wantErr: true},
		{name: "nil/top-level", in: ei.List{}, wantErr: true},
		{name: "improper-list", in: ei.ImproperList{Elems: []ei.Term{int64(1)}, Tail: ei.Atom("t")},
			want: etf.List{1, etf.Atom("t")}, back: ei.List{int64(1), ei.Atom("t")}},
		{name: "bit-binary", in: ei.BitBinary{Data: []byte{0xff, 0xf0}, Bits: 4},
			want: []byte{0xff, 0x0f}, back: ei.Binary{0xff, 0x0f}},
		{name: "map/tuple-key", in: ei.Map{{Key: ei.Tuple{ei.Atom("a")}, Value: int64(1)}},
			want: etf.Map{}, back: ei.Map{}},
		{name: "map/binary-key", in: ei.Map{{Key: ei.Binary("k"), Value: int64(1)}}, wantErr: true},
		{name: "big/negative-2^64+1", in: mustBig("-18446744073709551615"), want: int64(1), back: int64(1)},
		{name: "big/254-bytes", in: new(big.Int).Lsh(big.NewInt(1), 254*8-1), wantErr: true},
		{name: "big/255-bytes", in: new(big.Int).Lsh(big.NewInt(1), 255*8-1), wantErr: true},
		{name: "big/256-bytes", in: new(big.Int).Lsh(big.NewInt(1), 256*8-1),
			want: new(big.Int).Lsh(big.NewInt(1), 256*8-1), back: new(big.Int).Lsh(big.NewInt(1), 256*8-1)},
		{name: "ref/5-words", in: ei.Ref{Node: "a@b", Creation: 1, ID: []uint32{1, 2, 3, 4, 5}},
			want: etf.Ref{Node: "a@b", Creation: 1, ID: [5]uint32{1, 2, 3, 4, 5}},
			back: ei.Ref{Node: "a@b", Creation: 1, ID: []uint32{1, 2, 3}}},
		{name: "ref/1-word", in: ei.Ref{Node: "a@b", Creation: 1, ID: []uint32{7}},
			want: etf.Ref{Node: "a@b", Creation: 1, ID: [5]uint32{7}},
			back: ei.Ref{Node: "a@b", Creation: 1, ID: []uint32{7, 0, 0}}},
		{name: "ref/first-word", in: ei.Ref{Node: "a@b", Creation: 1, ID: []uint32{0xffffffff, 2, 3}},
			want: etf.Ref{Node: "a@b", Creation: 1, ID: [5]uint32{0x3ffff, 2, 3}},
			back: ei.Ref{Node: "a@b", Creation: 1, ID: []uint32{0x3ffff, 2, 3}}},
		{name: "port", in: ei.Port{Node: "a@b", ID: 5, Creation: 7},
			want: etf.Port{Node: "a@b", ID: 5, Creation: 7},
			back: ei.Map{{Key: ei.Atom("Node"), Value: ei.Atom("a@b")}, {Key: ei.Atom("ID"), Value: int64(5)}, {Key: ei.Atom("Creation"), Value: int64(7)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := ei.Marshal(tt.in)
			if err != nil {
				t.Fatalf("Marshal(%v) = %v", tt.in, err)
			}
			got, err := ergoDecode(data[1:])
			if tt.wantErr {
				if err == nil {
					t.Errorf("etf.Decode(%x) = %#v, want an error", data[1:], got)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("etf.Decode(%x) = %#v, %v, want %#v", data[1:], got, err, tt.want)
			}
			enc, err := ergoEncode(got)
			if err != nil {
				t.Fatalf("etf.Encode(%#v) = %v", got, err)
			}
			if back, err := ei.Unmarshal(append([]byte{131}, enc...)); err != nil || !sameTerm(back, tt.back) {
				t.Errorf("Unmarshal(%x) = %v, %v, want %v", enc, back, err, tt.back)
			}
		})
	}

	// Decoding a big integer of more than 8 bytes changes ergo's input.
	data, err := ei.Marshal(mustBig("0x10000000000000000000000001"))
	if err != nil {
		t.Fatal(err)
	}
	in := bytes.Clone(data[1:])
	if _, _, err := etf.Decode(in, nil, ergoDecodeOpts); err != nil || bytes.Equal(in, data[1:]) {
		t.Errorf("etf.Decode(%x) = %v and left its input unchanged, want it changed in place", data[1:], err)
	}
}
