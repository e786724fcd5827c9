package ei_test

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/goei/goei/ei"
	"github.com/goei/goei/epmd"
	"github.com/goei/goei/internal/erltest"
)

// TestNameMeGoToErl has a Go node named undefined@host ask erl nodes for
// a name, as erl -sname undefined does, and use it.
func TestNameMeGoToErl(t *testing.T) {
	for _, otp := range erltest.OTPs(t) {
		t.Run(otp.String(), func(t *testing.T) {
			port := erltest.StartOTPEPMD(t)
			erl := otp.StartErl(t, port, erltest.Options{})
			n := &ei.Node{Name: "undefined@" + erltest.Host(t), Cookie: "c", EPMD: &epmd.Client{Port: port}, Trace: newTrace(t)}
			ctx := testContext(t)
			c, err := n.Connect(ctx, erl.Name)
			if err != nil {
				t.Fatalf("Connect(%s) = %v\n%s", erl.Name, err, erl.Output())
			}
			defer c.Close()
			name, err := n.CurrentName()
			// net_kernel:generate_node_name/2: integer_to_list(Random, 36).
			if re := regexp.MustCompile(`^[0-9A-Z]+@` + regexp.QuoteMeta(erltest.Host(t)) + `$`); err != nil || !re.MatchString(name) {
				t.Fatalf("CurrentName() = %q, %v; want a name like %v", name, err, re)
			}
			// RPC sends from a pid with the assigned name; the reply comes back to it.
			got, err := c.RPC(ctx, "erlang", "nodes", ei.List{ei.Atom("hidden")})
			if err != nil {
				t.Fatalf("RPC(erlang:nodes(hidden)) = %v", err)
			}
			if l, ok := got.(ei.List); !ok || !slices.Contains(l, ei.Term(ei.Atom(name))) {
				t.Errorf("erlang:nodes(hidden) = %v, want it to hold %s", got, name)
			}
		})
	}
}

// TestNameMeErlToGo has erl nodes started with -sname undefined connect to
// a Go Listener, which names them.
func TestNameMeErlToGo(t *testing.T) {
	for _, otp := range erltest.OTPs(t) {
		t.Run(otp.String(), func(t *testing.T) {
			port := erltest.StartOTPEPMD(t)
			n := newGoNode(t, port, 0)
			ctx := testContext(t)
			l := listenPublished(t, ctx, n, ":0")
			defer l.Close()
			done, peer := echoPeer(ctx, l)
			// A node without a name yet does not connect on a send.
			connect := fmt.Sprintf("true = net_kernel:hidden_connect_node('%s'), ", n.Name)
			out := otp.Eval(t, port, connect+echoExpr(n.Name), "-sname", "undefined", "-setcookie", "c")
			if err := <-done; err != nil {
				t.Fatalf("echo: %v\nerl: %s", err, out)
			}
			assigned := <-peer
			if re := regexp.MustCompile(`^[0-9A-Z]+@` + regexp.QuoteMeta(erltest.Host(t)) + `$`); !re.MatchString(string(assigned)) {
				t.Errorf("Peer() = %s, want a name like %v", assigned, re)
			}
			if want := fmt.Sprintf("{echo,hello,%s} '%s'", n.Name, assigned); !strings.Contains(out, want) {
				t.Errorf("erl printed %q, want %q (the reply, and node() as the name we gave)", out, want)
			}
		})
	}
}
