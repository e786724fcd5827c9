package ergoreg_test

// An ergo node (v1.999.224) registered through ergoreg.Registrar talks to
// goei nodes in-process, always, and to a real erl when one is installed.
// The epmd is OTP's when erl and epmd are installed (and not -short), so
// that erl and ergo share it, and goei's epmd.Server in-process otherwise;
// the tests kill and restart it under the nodes.
//
// ergo's StartNode writes a package-level variable that the goroutines of
// earlier connections read, and those outlive Node.Stop (see
// ei/ergo_interop_test.go), so this test binary starts a single ergo node
// on first use and never stops it.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ergo-services/ergo"
	"github.com/ergo-services/ergo/etf"
	"github.com/ergo-services/ergo/gen"
	"github.com/ergo-services/ergo/node"
	"github.com/ergo-services/ergo/proto/dist"

	"github.com/goei/goei/ei"
	"github.com/goei/goei/epmd"
	"github.com/goei/goei/epmd/ergoreg"
	"github.com/goei/goei/internal/erltest"
)

const cookie = "ergoreg"

func init() {
	// ergo logs warnings with package log unless told otherwise.
	flag.Set("ergo.warning", "false")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.env != nil {
		shared.env.stopEPMD()
	}
	os.Exit(code)
}

// env is the epmd and the ergo node the tests share.
type env struct {
	epmdPort int
	otp      *erltest.EPMDProcess // OTP's epmd, or nil for goei's
	otpDir   string               // its working directory
	srv      *epmd.Server         // goei's epmd, when otp is nil
	srvDone  chan error

	host string // the host part of node names: erl's short host name
	ergo node.Node
	reg  *ergoreg.Registrar // the ergo node's registrar
}

var shared struct {
	once sync.Once
	env  *env
	err  error
}

// sharedEnv returns the shared epmd and ergo node, starting them on first
// use.
func sharedEnv(t *testing.T) *env {
	t.Helper()
	shared.once.Do(func() { shared.env, shared.err = startEnv() })
	if shared.err != nil {
		t.Fatalf("start epmd and ergo: %v", shared.err)
	}
	return shared.env
}

func startEnv() (*env, error) {
	e := new(env)
	host, err := os.Hostname()
	if err != nil {
		return nil, err
	}
	e.host, _, _ = strings.Cut(host, ".")
	if erltest.HaveOTP() {
		dir, err := os.MkdirTemp("", "ergoreg")
		if err != nil {
			return nil, err
		}
		bin, err := erltest.Program("epmd", dir)
		if err != nil {
			return nil, err
		}
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		e.otp, e.otpDir = erltest.NewEPMDProcess(bin, port, dir), dir
		if err := e.otp.Start(); err != nil {
			return nil, err
		}
		e.epmdPort = port
	} else {
		l, err := epmd.Listen(context.Background(), "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		e.epmdPort = l.Addr().(*net.TCPAddr).Port
		e.serve(l)
	}

	// ergo tries the ports of its range in turn; start the range at a
	// port that was free a moment ago.
	begin, err := freePort()
	if err != nil {
		return nil, err
	}
	e.reg = &ergoreg.Registrar{Client: e.client()}
	proto := node.DefaultProtoOptions()
	// ergo's receivers share the atom cache of a connection without a
	// lock: with more than one, reading erl's messages is a data race.
	proto.NumHandlers = 1
	e.ergo, err = ergo.StartNode(erltest.UniqueName("ergo")+"@"+e.host, cookie, node.Options{
		Listeners: []node.Listener{{ListenBegin: uint16(begin), ListenEnd: uint16(min(begin+1000, math.MaxUint16))}},
		Registrar: e.reg,
		Proto:     dist.CreateProto(proto),
		// ergo starts handshakes with version 5 by default, whose 32
		// bits of flags cannot carry the ones OTP 25 requires (V4_NC,
		// UNLINK_ID): erl closes the connection.
		Handshake: dist.CreateHandshake(dist.HandshakeOptions{Version: dist.HandshakeVersion6}),
	})
	if err != nil {
		e.stopEPMD()
		return nil, err
	}
	if _, err := e.ergo.Spawn("echo", gen.ProcessOptions{}, &echo{}); err != nil {
		return nil, err
	}
	return e, nil
}

// freePort is erltest.FreePort for code outside a test.
func freePort() (int, error) {
	l, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// serve serves goei's epmd on l.
func (e *env) serve(l net.Listener) {
	e.srv, e.srvDone = &epmd.Server{}, make(chan error, 1)
	go func() { e.srvDone <- e.srv.Serve(l) }()
}

// client returns an epmd client for the shared epmd.
func (e *env) client() *epmd.Client {
	return &epmd.Client{Host: "127.0.0.1", Port: e.epmdPort}
}

// restartEPMD kills epmd, dropping every registration at once, and starts
// it again on the same port.
func (e *env) restartEPMD(t *testing.T) {
	t.Helper()
	if e.otp != nil {
		if err := e.otp.Kill(); err != nil {
			t.Fatal(err)
		}
		if err := e.otp.Start(); err != nil {
			t.Fatal(err)
		}
		return
	}
	e.srv.Close()
	if err := <-e.srvDone; !errors.Is(err, epmd.ErrServerClosed) {
		t.Fatalf("epmd.Server.Serve = %v", err)
	}
	l, err := epmd.Listen(context.Background(), fmt.Sprintf("127.0.0.1:%d", e.epmdPort))
	if err != nil {
		t.Fatalf("listen again on epmd's port: %v", err)
	}
	e.serve(l)
}

func (e *env) stopEPMD() {
	if e.otp != nil {
		e.otp.Stop()
		os.RemoveAll(e.otpDir)
	} else {
		e.srv.Close()
	}
}

// alive returns the ergo node's name without "@host".
func (e *env) alive() string {
	alive, _, _ := strings.Cut(e.ergo.Name(), "@")
	return alive
}

// echo answers messages {From, Msg} with From ! {echo, Msg}.
type echo struct{ gen.Server }

func (*echo) HandleInfo(sp *gen.ServerProcess, msg etf.Term) gen.ServerStatus {
	if m, ok := msg.(etf.Tuple); ok && len(m) == 2 {
		if from, ok := m[0].(etf.Pid); ok {
			sp.Send(from, etf.Tuple{etf.Atom("echo"), m[1]})
		}
	}
	return gen.ServerStatusOK
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// waitRegistered waits until reg is registered with epmd again.
func waitRegistered(t *testing.T, ctx context.Context, reg *epmd.Registration) {
	t.Helper()
	for s := reg.State(); s != epmd.StateRegistered; s = reg.State() {
		if s == epmd.StateClosed || !reg.WaitForStateChange(ctx, s) {
			t.Fatalf("registration %v, not registered again: %v", reg.State(), reg.Err())
		}
	}
}

// goNode returns a goei node published with the shared epmd; the test
// closes its Listener.
func (e *env) goNode(t *testing.T, ctx context.Context) (*ei.Node, *ei.Listener) {
	t.Helper()
	n := &ei.Node{Name: erltest.UniqueName("go") + "@" + e.host, Cookie: cookie, EPMD: e.client()}
	l, err := n.Listen(ctx, ":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if err := l.Publish(ctx); err != nil {
		t.Fatalf("Publish() = %v", err)
	}
	return n, l
}

// echoFrom has the ergo node's echo process answer a message from c.
func echoFrom(t *testing.T, ctx context.Context, n *ei.Node, c *ei.Conn) {
	t.Helper()
	self, err := n.Pid()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.RegSend(ctx, self, "echo", ei.Tuple{self, ei.Atom("hi")}); err != nil {
		t.Fatalf("RegSend(echo) = %v", err)
	}
	m, err := c.Receive(ctx)
	if err != nil {
		t.Fatalf("Receive() = %v", err)
	}
	if want := (ei.Tuple{ei.Atom("echo"), ei.Atom("hi")}); !slices.Equal(m.Payload.(ei.Tuple), want) {
		t.Errorf("Receive() = %v, want %v", m.Payload, want)
	}
}

// TestRegistered checks what the Registrar registered for the ergo node,
// and that a goei node finds the ergo node through epmd and ergo finds
// the goei node through the Registrar.
func TestRegistered(t *testing.T) {
	e := sharedEnv(t)
	ctx := testContext(t)
	info, err := e.client().PortPlease(ctx, e.alive())
	if err != nil {
		t.Fatalf("PortPlease(%s) = %v", e.alive(), err)
	}
	want := epmd.NodeInfo{Name: e.alive(), Port: info.Port, Type: epmd.NodeTypeNormal, Protocol: epmd.ProtocolTCP,
		HighestVersion: 6, LowestVersion: 5, Extra: []byte{4411 >> 8, 4411 & 0xff, 1, 0}}
	if info.Type != want.Type || info.HighestVersion != 6 || info.LowestVersion != 5 || string(info.Extra) != string(want.Extra) {
		t.Errorf("PortPlease(%s) = %+v, want %+v", e.alive(), info, want)
	}
	if s := e.reg.Registration().State(); s != epmd.StateRegistered {
		t.Errorf("Registration().State() = %v, want %v", s, epmd.StateRegistered)
	}

	// goei → ergo, through epmd.
	n, _ := e.goNode(t, ctx)
	c, err := n.Connect(ctx, e.ergo.Name())
	if err != nil {
		t.Fatalf("Connect(%s) = %v", e.ergo.Name(), err)
	}
	defer c.Close()
	echoFrom(t, ctx, n, c)

	// ergo → goei, through the Registrar, to a node it has no
	// connection with yet.
	n, l := e.goNode(t, ctx)
	route, err := e.reg.Resolve(n.Name)
	if err != nil {
		t.Fatalf("Resolve(%s) = %v", n.Name, err)
	}
	alive, _, _ := strings.Cut(n.Name, "@")
	if want := (node.Route{Node: alive, Host: e.host, Port: uint16(l.Addr().(*net.TCPAddr).Port)}); route != want {
		t.Errorf("Resolve(%s) = %+v, want %+v", n.Name, route, want)
	}
	if err := e.ergo.Connect(n.Name); err != nil {
		t.Fatalf("ergo Connect(%s) = %v", n.Name, err)
	}
	// The Listener ran the handshake; the connection waits for Accept.
	c, err = l.Accept(ctx)
	if err != nil {
		t.Fatalf("Accept() = %v", err)
	}
	c.Close()
}

// TestEPMDRestart kills epmd under the ergo node and a goei node and
// starts it again: both register again, and find each other.
func TestEPMDRestart(t *testing.T) {
	e := sharedEnv(t)
	ctx := testContext(t)
	n, _ := e.goNode(t, ctx)
	reg := e.reg.Registration()
	port, err := e.client().PortPlease(ctx, e.alive())
	if err != nil {
		t.Fatal(err)
	}

	e.restartEPMD(t)
	if !reg.WaitForStateChange(ctx, epmd.StateRegistered) {
		t.Fatal("the ergo node's registration did not notice the restart")
	}
	waitRegistered(t, ctx, reg)
	if e.reg.Registration() != reg {
		t.Errorf("Registration() changed when registering again")
	}
	if got, err := e.client().PortPlease(ctx, e.alive()); err != nil || got.Port != port.Port {
		t.Errorf("PortPlease(%s) after the restart = %+v, %v; want port %d", e.alive(), got, err, port.Port)
	}
	// The name is the ergo node's again.
	_, err = e.client().Publish(ctx, epmd.NodeInfo{Name: e.alive(), Port: 1})
	if !errors.Is(err, epmd.ErrNameInUse) {
		t.Errorf("Publish(%s) by a squatter = %v, want ErrNameInUse", e.alive(), err)
	}

	// A new connection finds the ergo node through the new epmd.
	c, err := n.Connect(ctx, e.ergo.Name())
	if err != nil {
		t.Fatalf("Connect(%s) after the restart = %v", e.ergo.Name(), err)
	}
	defer c.Close()
	echoFrom(t, ctx, n, c)
}

// TestErl has a real erl and the ergo node find each other through the
// shared epmd, before and after it restarts.
func TestErl(t *testing.T) {
	e := sharedEnv(t)
	if e.otp == nil {
		t.Skip("needs OTP's erl and epmd (not -short)")
	}
	// ergo v1.999.224 does not offer DFLAG_UNLINK_ID, which OTP 26 and
	// later require: they close its connections.
	if r := erltest.Release(t); r >= 26 {
		t.Skipf("OTP %d refuses ergo v1.999.224's nodes, which lack DFLAG_UNLINK_ID", r)
	}
	ctx := testContext(t)
	erl := erltest.StartErl(t, e.epmdPort, erltest.Options{Cookie: cookie})
	for _, restart := range []bool{false, true} {
		if restart {
			e.restartEPMD(t)
			waitRegistered(t, ctx, e.reg.Registration())
			for { // erl registers again on its own, 2 s after the restart
				if _, err := erltest.PortOf(e.epmdPort, erl.SName); err == nil {
					break
				}
				if ctx.Err() != nil {
					t.Fatalf("erl did not register again\n%s", erl.Output())
				}
				time.Sleep(20 * time.Millisecond)
			}
			e.ergo.Disconnect(erl.Name)
		}

		// erl → ergo: another erl looks the ergo node up in epmd and
		// talks to its echo process. (net_adm:ping gets pang: ergo's
		// net_kernel does not answer it as OTP 25 expects.)
		out := erltest.Eval(t, e.epmdPort, fmt.Sprintf(
			`true = net_kernel:connect_node('%s'), {echo, '%[1]s'} ! {self(), hello}, `+
				`receive M -> io:format("~p~n", [M]) after 10000 -> io:format("timeout~n") end`, e.ergo.Name()),
			"-sname", erltest.UniqueName("erl"), "-setcookie", cookie)
		if strings.TrimSpace(out) != "{echo,hello}" {
			t.Errorf("erl (epmd restarted: %v): echo from ergo = %q, want {echo,hello}", restart, out)
		}

		// ergo → erl, through the Registrar.
		route, err := e.reg.Resolve(erl.Name)
		if err != nil {
			t.Fatalf("Resolve(%s) = %v", erl.Name, err)
		}
		if port, err := erltest.PortOf(e.epmdPort, erl.SName); err != nil || route.Port != uint16(port) || route.Options.IsErgo {
			t.Errorf("Resolve(%s) = %+v, want port %d (%v), not ergo", erl.Name, route, port, err)
		}
		if err := e.ergo.Connect(erl.Name); err != nil {
			t.Errorf("ergo Connect(%s) (epmd restarted: %v) = %v\n%s", erl.Name, restart, err, erl.Output())
		}
	}
}
