package ei_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goei/goei/ei"
	"github.com/goei/goei/epmd"
	"github.com/goei/goei/internal/erltest"
)

// testTimeout bounds each integration step; the tests do not depend on it
// for synchronization.
const testTimeout = 30 * time.Second

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// syncBuffer is a trace sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newGoNode returns a Node using the epmd at epmdPort, with a wire trace
// that is logged when the test fails.
func newGoNode(t testing.TB, epmdPort int, flags ei.Flags) *ei.Node {
	trace := new(syncBuffer)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("wire trace:\n%s", trace.String())
		}
	})
	return &ei.Node{
		Name:   erltest.UniqueName("go") + "@" + erltest.Host(t),
		Cookie: "c",
		Flags:  flags,
		EPMD:   &epmd.Client{Port: epmdPort},
		Trace:  trace,
	}
}

// flagSets runs tests with the 131/68 distribution header and with
// pass-through messages.
var flagSets = []struct {
	name  string
	flags ei.Flags
}{
	{"header", ei.DefaultFlags},
	{"passthrough", ei.DefaultFlags &^ (ei.FlagDistHdrAtomCache | ei.FlagFragments)},
}

func connectErl(t *testing.T, flags ei.Flags, args ...string) (*ei.Conn, *erltest.Node) {
	t.Helper()
	port := erltest.StartOTPEPMD(t)
	erl := erltest.StartErl(t, port, erltest.Options{Args: args})
	n := newGoNode(t, port, flags)
	c, err := n.Connect(testContext(t), erl.Name)
	if err != nil {
		t.Fatalf("Connect(%s) = %v\n%s", erl.Name, err, erl.Output())
	}
	t.Cleanup(func() { c.Close() })
	return c, erl
}

func TestGoToErlRPC(t *testing.T) {
	for _, fs := range flagSets {
		t.Run(fs.name, func(t *testing.T) {
			c, erl := connectErl(t, fs.flags)
			ctx := testContext(t)
			got, err := c.RPC(ctx, "erlang", "node", nil)
			if err != nil {
				t.Fatalf("RPC(erlang:node()) = %v", err)
			}
			if got != ei.Atom(erl.Name) {
				t.Errorf("RPC(erlang:node()) = %v, want %s", got, erl.Name)
			}
			got, err = c.RPC(ctx, "lists", "reverse", ei.List{ei.List{int64(1), ei.Atom("a"), ei.Binary("b")}})
			if err != nil {
				t.Fatalf("RPC(lists:reverse) = %v", err)
			}
			want := ei.List{ei.Binary("b"), ei.Atom("a"), int64(1)}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("RPC(lists:reverse) = %v, want %v", got, want)
			}
			_, err = c.RPC(ctx, "no_such_module", "f", nil)
			var rpcErr *ei.RPCError
			if !errors.As(err, &rpcErr) {
				t.Fatalf("RPC(no_such_module:f()) = %v, want *RPCError", err)
			}
			if !strings.Contains(fmt.Sprint(rpcErr.Reason), "undef") {
				t.Errorf("RPC(no_such_module:f()) reason = %v, want undef", rpcErr.Reason)
			}
			// The peer sees us as a hidden node.
			got, err = c.RPC(ctx, "erlang", "nodes", ei.List{ei.Atom("hidden")})
			if err != nil {
				t.Fatalf("RPC(erlang:nodes(hidden)) = %v", err)
			}
			if l, ok := got.(ei.List); !ok || len(l) != 1 || l[0] != ei.Atom(c.Node().Name) {
				t.Errorf("RPC(erlang:nodes(hidden)) = %v, want [%s]", got, c.Node().Name)
			}
		})
	}
}
