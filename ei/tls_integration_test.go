package ei_test

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goei/goei/ei"
	"github.com/goei/goei/epmd"
	"github.com/goei/goei/internal/erltest"
)

// tlsSetup is a PKI with a certificate for this host, used by both erl
// and Go, and erl's -ssl_dist_optfile for it.
type tlsSetup struct {
	pki  *erltest.PKI
	cert erltest.Cert
}

func newTLSSetup(t *testing.T) *tlsSetup {
	t.Helper()
	erltest.NeedSSL(t)
	pki := erltest.NewPKI(t)
	return &tlsSetup{pki: pki, cert: pki.Issue(t, "node", erltest.Host(t), "localhost", "127.0.0.1", "::1")}
}

// optFile returns erl's arguments for TLS distribution with cert.
func (s *tlsSetup) optFile(t *testing.T, cert erltest.Cert, mutual bool) []string {
	return s.pki.DistOptFile(t, cert, mutual)
}

// goTLS returns a tls.Config for a Go node: our certificate, the CA for
// the peer's, and, when mutual, a client certificate demanded.
func (s *tlsSetup) goTLS(mutual bool) *tls.Config {
	cfg := &tls.Config{Certificates: []tls.Certificate{s.cert.TLS}, RootCAs: s.pki.Pool}
	if mutual {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
		cfg.ClientCAs = s.pki.Pool
	}
	return cfg
}

// readFrame4 reads one message with a 4-byte length.
func readFrame4(r io.Reader) ([]byte, error) {
	var lb [4]byte
	if _, err := io.ReadFull(r, lb[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(lb[:])
	if n > 1<<16 {
		return nil, fmt.Errorf("length %d (bytes %x): not a 4-byte frame of a handshake message", n, lb)
	}
	msg := make([]byte, n)
	_, err := io.ReadFull(r, msg)
	return msg, err
}

// TestTLSHandshakeFramingOfErl looks at the bytes erl sends inside TLS,
// with no ei code on our side: as a client, its send_name arrives with a
// 4-byte length; as a server, it reads our send_name with a 4-byte length
// and answers with the status framed the same way.
func TestTLSHandshakeFramingOfErl(t *testing.T) {
	s := newTLSSetup(t)
	erlArgs := s.optFile(t, s.cert, false)
	port := erltest.StartOTPEPMD(t)
	ctx := testContext(t)

	t.Run("erl client", func(t *testing.T) {
		l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{s.cert.TLS}})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		fake := erltest.UniqueName("fake")
		reg, err := (&epmd.Client{Port: port}).Publish(ctx, epmd.NodeInfo{Name: fake, Port: uint16(l.Addr().(*net.TCPAddr).Port)})
		if err != nil {
			t.Fatal(err)
		}
		defer reg.Close()
		got := make(chan []byte, 1)
		go func() {
			defer close(got)
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(testTimeout))
			if msg, err := readFrame4(c); err == nil {
				got <- msg
			} else {
				t.Errorf("reading erl's send_name: %v", err)
			}
		}()
		name := erltest.UniqueName("erl")
		args := append([]string{"-sname", name, "-setcookie", "c"}, erlArgs...)
		expr := fmt.Sprintf(`io:format("~p~n", [net_kernel:hidden_connect_node('%s@%s')])`, fake, erltest.Host(t))
		out := erltest.Eval(t, port, expr, args...)
		msg := <-got
		// 'N', Flags:64, Creation:32, NameLen:16, Name
		want := name + "@" + erltest.Host(t)
		if len(msg) < 15 || msg[0] != 'N' || int(binary.BigEndian.Uint16(msg[13:15])) != len(msg)-15 || string(msg[15:]) != want {
			t.Fatalf("erl's send_name inside TLS = %x, want a 4-byte length, then 'N' ... %q\nerl: %s", msg, want, out)
		}
	})

	t.Run("erl server", func(t *testing.T) {
		erl := erltest.StartErl(t, port, erltest.Options{Args: erlArgs})
		dport, err := erltest.PortOf(port, erl.SName)
		if err != nil {
			t.Fatal(err)
		}
		c, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", dport), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatalf("tls.Dial: %v\n%s", err, erl.Output())
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(testTimeout))
		self := erltest.UniqueName("raw") + "@" + erltest.Host(t)
		name := []byte{'N'}
		name = binary.BigEndian.AppendUint64(name, uint64(ei.DefaultFlags))
		name = binary.BigEndian.AppendUint32(name, 1)
		name = binary.BigEndian.AppendUint16(name, uint16(len(self)))
		name = append(name, self...)
		if _, err := c.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(name))), name...)); err != nil {
			t.Fatal(err)
		}
		status, err := readFrame4(c)
		if err != nil || string(status) != "sok" {
			t.Fatalf("erl's status = %q, %v; want \"sok\" with a 4-byte length\n%s", status, err, erl.Output())
		}
	})
}

// TestTLSGoToErl connects to erl nodes that run distribution over TLS,
// with and without mutual TLS, and calls a function on them.
func TestTLSGoToErl(t *testing.T) {
	s := newTLSSetup(t)
	for _, mutual := range []bool{false, true} {
		t.Run(fmt.Sprintf("mutual=%v", mutual), func(t *testing.T) {
			port := erltest.StartOTPEPMD(t)
			erl := erltest.StartErl(t, port, erltest.Options{Args: s.optFile(t, s.cert, mutual)})
			n := newGoNode(t, port, 0)
			n.TLS = s.goTLS(mutual)
			ctx := testContext(t)
			c, err := n.Connect(ctx, erl.Name)
			if err != nil {
				t.Fatalf("Connect(%s) = %v\n%s", erl.Name, err, erl.Output())
			}
			defer c.Close()
			got, err := c.RPC(ctx, "erlang", "node", nil)
			if err != nil || got != ei.Atom(erl.Name) {
				t.Fatalf("RPC(erlang:node()) = %v, %v, want %s", got, err, erl.Name)
			}
			// Past the handshake, a large message (many TLS records).
			big := ei.Binary(strings.Repeat("tls", 100000))
			got, err = c.RPC(ctx, "erlang", "byte_size", ei.List{big})
			if err != nil || got != int64(len(big)) {
				t.Fatalf("RPC(erlang:byte_size(%d bytes)) = %v, %v", len(big), got, err)
			}
		})
	}
}

// TestTLSGoToErlRefused checks that the certificate checks hold on both
// ends: a Go node without TLS, one without a client certificate for an
// erl that demands one, and one that does not trust erl's certificate
// all fail to connect.
func TestTLSGoToErlRefused(t *testing.T) {
	s := newTLSSetup(t)
	port := erltest.StartOTPEPMD(t)
	erl := erltest.StartErl(t, port, erltest.Options{Args: s.optFile(t, s.cert, true)})
	other := erltest.NewPKI(t)
	for _, tc := range []struct {
		name string
		tls  *tls.Config
		want any // an error type errors.As must find, or nil for any error
	}{
		{"plain TCP", nil, nil},
		{"no client certificate", &tls.Config{RootCAs: s.pki.Pool}, nil},
		{"client certificate of another CA", &tls.Config{RootCAs: s.pki.Pool,
			Certificates: []tls.Certificate{other.Issue(t, "other", erltest.Host(t)).TLS}}, nil},
		{"server certificate of another CA", &tls.Config{RootCAs: other.Pool,
			Certificates: []tls.Certificate{s.cert.TLS}}, new(*tls.CertificateVerificationError)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newGoNode(t, port, 0)
			n.TLS = tc.tls
			ctx, cancel := context.WithTimeout(testContext(t), 15*time.Second)
			defer cancel()
			c, err := n.Connect(ctx, erl.Name)
			if err == nil {
				c.Close()
				t.Fatalf("Connect(%s) succeeded", erl.Name)
			}
			if errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Connect(%s) = %v, want a refusal before the timeout", erl.Name, err)
			}
			if tc.want != nil && !errors.As(err, tc.want) {
				t.Errorf("Connect(%s) = %v, want %T", erl.Name, err, tc.want)
			}
		})
	}
	// The erl node still takes a good connection.
	n := newGoNode(t, port, 0)
	n.TLS = s.goTLS(true)
	c, err := n.Connect(testContext(t), erl.Name)
	if err != nil {
		t.Fatalf("Connect(%s) with a good certificate = %v", erl.Name, err)
	}
	c.Close()
}

// echoOnce accepts one connection on l, answers its first message
// {From, X} with {echo, X, GoNodeName} to From, and once the peer closes
// the connection sends the peer's name, or an error, on the channel.
func echoOnce(ctx context.Context, l *ei.Listener) <-chan error {
	done, _ := echoPeer(ctx, l)
	return done
}

// echoPeer is echoOnce, also sending the peer's name on the second
// channel (before the first).
func echoPeer(ctx context.Context, l *ei.Listener) (<-chan error, <-chan ei.Atom) {
	done := make(chan error, 1)
	peer := make(chan ei.Atom, 1)
	go func() {
		c, err := l.Accept(ctx)
		if err != nil {
			close(peer)
			done <- err
			return
		}
		defer c.Close()
		peer <- c.Peer()
		m, err := c.Receive(ctx)
		if err != nil {
			done <- err
			return
		}
		t, ok := m.Payload.(ei.Tuple)
		if !ok || len(t) != 2 {
			done <- fmt.Errorf("received %v, want {From, X}", m.Payload)
			return
		}
		from, ok := t[0].(ei.Pid)
		if !ok {
			done <- fmt.Errorf("received %v, want {From, X}", m.Payload)
			return
		}
		name, _ := c.Node().CurrentName()
		if err := c.Send(ctx, from, ei.Tuple{ei.Atom("echo"), t[1], ei.Atom(name)}); err != nil {
			done <- err
			return
		}
		// Wait for erl to halt and close the connection.
		if _, err := c.Receive(ctx); err != nil && !errors.Is(err, io.EOF) {
			done <- err
			return
		}
		done <- nil
	}()
	return done, peer
}

// echoExpr is erl code that sends {self(), hello} to echo on node and
// prints the reply and its own node name.
func echoExpr(node string) string {
	return fmt.Sprintf(`{echo, '%s'} ! {self(), hello}, receive R -> io:format("~p ~p~n", [R, node()]) after 20000 -> io:format("timeout~n") end`, node)
}

// echoFromErl has erl, started by run with an expression to evaluate,
// send to echo on the Go node named node, which listens with l, and
// checks that the reply came back. It returns what erl printed.
func echoFromErl(ctx context.Context, t *testing.T, l *ei.Listener, node string, run func(expr string) string) string {
	t.Helper()
	done := echoOnce(ctx, l)
	out := run(echoExpr(node))
	if err := <-done; err != nil {
		t.Fatalf("echo: %v\nerl: %s", err, out)
	}
	if want := fmt.Sprintf("{echo,hello,%s}", node); !strings.Contains(strings.ReplaceAll(out, "'", ""), want) {
		t.Errorf("erl printed %q, want %q", out, want)
	}
	return out
}

// TestTLSErlToGo has erl nodes connect to a Go Listener over TLS, with
// and without mutual TLS.
func TestTLSErlToGo(t *testing.T) {
	s := newTLSSetup(t)
	for _, mutual := range []bool{false, true} {
		t.Run(fmt.Sprintf("mutual=%v", mutual), func(t *testing.T) {
			port := erltest.StartOTPEPMD(t)
			n := newGoNode(t, port, 0)
			n.TLS = s.goTLS(mutual)
			ctx := testContext(t)
			l := listenPublished(t, ctx, n, ":0")
			defer l.Close()
			args := append([]string{"-sname", erltest.UniqueName("erl"), "-setcookie", "c"}, s.optFile(t, s.cert, mutual)...)
			echoFromErl(ctx, t, l, n.Name, func(expr string) string { return erltest.Eval(t, port, expr, args...) })
		})
	}
}

// TestTLSErlToGoRefused has erl nodes whose certificates a mutual-TLS
// Listener must refuse (none, another CA's) and then a good one.
func TestTLSErlToGoRefused(t *testing.T) {
	s := newTLSSetup(t)
	port := erltest.StartOTPEPMD(t)
	n := newGoNode(t, port, 0)
	n.TLS = s.goTLS(true)
	ctx := testContext(t)
	l := listenPublished(t, ctx, n, ":0")
	defer l.Close()
	other := erltest.NewPKI(t)
	otherCert := other.Issue(t, "other", erltest.Host(t))
	noCert := filepath.Join(t.TempDir(), "nocert.conf")
	os.WriteFile(noCert, []byte("[{server, []}, {client, [{verify, verify_none}]}].\n"), 0o600)
	// erl's logger may print a TLS alert report before or after the
	// result, so the result gets a line of its own to be found by.
	expr := fmt.Sprintf(`io:format("~nresult=~p~n", [net_kernel:hidden_connect_node('%s')])`, n.Name)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"no certificate", []string{"-proto_dist", "inet_tls", "-ssl_dist_optfile", noCert}},
		{"another CA", s.optFile(t, otherCert, false)},
		{"plain TCP", nil},
	} {
		args := append([]string{"-sname", erltest.UniqueName("erl"), "-setcookie", "c"}, tc.args...)
		if out := erltest.Eval(t, port, expr, args...); !strings.Contains(out, "\nresult=false\n") {
			t.Errorf("%s: hidden_connect_node printed %q, want result=false", tc.name, out)
		}
	}
	args := append([]string{"-sname", erltest.UniqueName("erl"), "-setcookie", "c"}, s.optFile(t, s.cert, true)...)
	echoFromErl(ctx, t, l, n.Name, func(expr string) string { return erltest.Eval(t, port, expr, args...) })
}
