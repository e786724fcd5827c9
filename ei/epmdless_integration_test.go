package ei_test

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/goei/goei/ei"
	"github.com/goei/goei/epmd"
	"github.com/goei/goei/internal/erltest"
)

// TestEPMDLess runs a Go node and erl nodes started with -erl_epmd_port
// P -start_epmd false, with no epmd anywhere: all listen on port P, each
// on an address of its own (erl on 127.0.0.1, Go on 127.0.0.2), and find
// each other by that port alone.
func TestEPMDLess(t *testing.T) {
	for _, otp := range erltest.OTPs(t) {
		t.Run(otp.String(), func(t *testing.T) {
			port := erltest.FreePort(t)
			noEPMD := erltest.FreePort(t) // nothing listens there
			erlArgs := func(name string) []string {
				return []string{"-name", name + "@127.0.0.1", "-setcookie", "c", "-erl_epmd_port", strconv.Itoa(port),
					"-kernel", "inet_dist_use_interface", "{127,0,0,1}"}
			}
			erlName := erltest.UniqueName("erl")
			erl := otp.Start(t, noEPMD, erlArgs(erlName)...)
			erl.WaitListening(t, port)

			n := &ei.Node{Name: erltest.UniqueName("go") + "@127.0.0.2", Cookie: "c", DistPort: port,
				EPMD: &epmd.Client{Port: noEPMD}, Trace: newTrace(t)}
			ctx := testContext(t)

			// Go to erl: Connect dials port P on erl's host, asking no epmd.
			c, err := n.Connect(ctx, erlName+"@127.0.0.1")
			if err != nil {
				t.Fatalf("Connect() = %v\n%s", err, erl.Output())
			}
			got, err := c.RPC(ctx, "erlang", "node", nil)
			c.Close()
			if want := ei.Atom(erlName + "@127.0.0.1"); err != nil || got != want {
				t.Fatalf("RPC(erlang:node()) = %v, %v; want %s", got, err, want)
			}

			// erl to Go: erl assumes port P for the Go node too.
			l, err := n.Listen(ctx, fmt.Sprintf("127.0.0.2:%d", port))
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			args := append(erlArgs(erltest.UniqueName("erl")), "-dist_listen", "false")
			echoFromErl(ctx, t, l, n.Name, func(expr string) string { return otp.Eval(t, noEPMD, expr, args...) })
		})
	}
}
