package ei_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/goei/goei/ei"
	"github.com/goei/goei/internal/erltest"
)

// goNodes starts an in-process epmd and two published Go nodes, a and
// b, config setting b up; it returns them and epmd's port.
func goNodes(t *testing.T, config func(*ei.Node)) (na, nb *ei.Node, port int) {
	port = erltest.StartEPMD(t)
	return startGoNodeWith(t, port, "a", nil), startGoNodeWith(t, port, "b", config), port
}

// handle registers f as mod:fun on n, failing the test on error.
func handle(t testing.TB, n *ei.Node, mod, fun ei.Atom, f ei.Func) {
	t.Helper()
	if err := n.HandleFunc(mod, fun, f); err != nil {
		t.Fatalf("HandleFunc(%s, %s) = %v", mod, fun, err)
	}
}

// testFuncs are the functions the erpc tests register: m:echo returns
// {echo, Args}; the others raise what their names say.
func testFuncs(t testing.TB, n *ei.Node) {
	handle(t, n, "m", "echo", func(ctx context.Context, args ei.List) (ei.Term, error) {
		return ei.Tuple{ei.Atom("echo"), args}, nil
	})
	handle(t, n, "m", "throw", func(ctx context.Context, args ei.List) (ei.Term, error) {
		return nil, &ei.Exception{Class: "throw", Reason: ei.Atom("ball")}
	})
	handle(t, n, "m", "exit", func(ctx context.Context, args ei.List) (ei.Term, error) {
		return nil, fmt.Errorf("wrapped: %w", &ei.Exception{Class: "exit", Reason: ei.Atom("bye")})
	})
	handle(t, n, "m", "error", func(ctx context.Context, args ei.List) (ei.Term, error) {
		return nil, errors.New("oops")
	})
	handle(t, n, "m", "badarg", func(ctx context.Context, args ei.List) (ei.Term, error) {
		return nil, &ei.Exception{Class: "error", Reason: ei.Atom("badarg")}
	})
	handle(t, n, "m", "panic", func(ctx context.Context, args ei.List) (ei.Term, error) {
		panic("at the disco")
	})
	handle(t, n, "m", "nil", func(ctx context.Context, args ei.List) (ei.Term, error) {
		return nil, nil
	})
	handle(t, n, "m", "unencodable", func(ctx context.Context, args ei.List) (ei.Term, error) {
		return make(chan int), nil
	})
}

func frame(mod, fun ei.Atom, arity int) ei.List {
	return ei.List{ei.Tuple{mod, fun, int64(arity), ei.List{}}}
}

// erpcCases are calls of testFuncs and what ERPCCall returns for them.
var erpcCases = []struct {
	fun  ei.Atom
	args ei.List
	want ei.Term
	exc  *ei.Exception // nil, or the exception; a nil Reason means any binary
}{
	{"echo", ei.List{int64(1), ei.Binary("x")}, ei.Tuple{ei.Atom("echo"), ei.List{int64(1), ei.Binary("x")}}, nil},
	{"echo", nil, ei.Tuple{ei.Atom("echo"), ei.List{}}, nil},
	{"nil", nil, ei.Atom("ok"), nil},
	{"throw", nil, nil, &ei.Exception{Class: "throw", Reason: ei.Atom("ball")}},
	{"exit", nil, nil, &ei.Exception{Class: "exit", Reason: ei.Atom("bye")}},
	{"error", ei.List{int64(7)}, nil, &ei.Exception{Class: "error", Reason: ei.Binary("oops"), Stack: frame("m", "error", 1)}},
	{"badarg", nil, nil, &ei.Exception{Class: "error", Reason: ei.Atom("badarg"), Stack: frame("m", "badarg", 0)}},
	{"panic", nil, nil, &ei.Exception{Class: "error", Reason: ei.Binary("panic: at the disco"), Stack: frame("m", "panic", 0)}},
	{"unencodable", nil, nil, &ei.Exception{Class: "error", Stack: frame("m", "unencodable", 0)}},
	{"nofun", ei.List{int64(1)}, nil, &ei.Exception{Class: "error", Reason: ei.Atom("undef"), Stack: ei.List{ei.Tuple{ei.Atom("m"), ei.Atom("nofun"), ei.List{int64(1)}, ei.List{}}}}},
}

// checkERPC checks the outcome of an ERPCCall of erpcCases[i].
func checkERPC(t *testing.T, i int, got ei.Term, err error) {
	t.Helper()
	tc := erpcCases[i]
	if tc.exc == nil {
		if err != nil || !same(got, tc.want) {
			t.Errorf("ERPCCall(m:%s%v) = %v, %v; want %v", tc.fun, tc.args, got, err, tc.want)
		}
		return
	}
	var exc *ei.Exception
	if !errors.As(err, &exc) {
		t.Errorf("ERPCCall(m:%s%v) = %v, %v; want exception %v", tc.fun, tc.args, got, err, tc.exc)
		return
	}
	want := *tc.exc
	if want.Reason == nil {
		if b, ok := exc.Reason.(ei.Binary); ok && len(b) > 0 {
			want.Reason = b
		}
	}
	if !reflect.DeepEqual(exc, &want) {
		t.Errorf("ERPCCall(m:%s%v) = %#v, want %#v", tc.fun, tc.args, exc, &want)
	}
}

func TestERPCGoToGo(t *testing.T) {
	ctx := testContext(t)
	na, nb, _ := goNodes(t, nil)
	testFuncs(t, nb)
	testFuncs(t, na)
	for _, peer := range []ei.Atom{ei.Atom(nb.Name), ei.Atom(na.Name)} { // the other node, and itself
		for i, tc := range erpcCases {
			got, err := na.ERPCCall(ctx, peer, "m", tc.fun, tc.args)
			checkERPC(t, i, got, err)
		}
	}

	// A multicall: the other node, this one, and one that does not exist.
	res := na.ERPCMulticall(ctx, []ei.Atom{ei.Atom(nb.Name), ei.Atom(na.Name), "nobody@localhost"}, "m", "echo", ei.List{ei.Atom("x")})
	want := ei.Tuple{ei.Atom("echo"), ei.List{ei.Atom("x")}}
	if len(res) != 3 || res[0].Err != nil || !same(res[0].Value, want) || res[1].Err != nil || !same(res[1].Value, want) {
		t.Errorf("ERPCMulticall() = %v, want %v twice first", res, want)
	}
	var e *ei.ERPCError
	if len(res) == 3 && (!errors.As(res[2].Err, &e) || e.Reason != ei.Atom("noconnection")) {
		t.Errorf("ERPCMulticall(): for a node that does not exist %v, want an *ERPCError noconnection", res[2].Err)
	}

	// Casts, to the other node and to this one.
	got := make(chan ei.Term, 2)
	for _, n := range []*ei.Node{na, nb} {
		handle(t, n, "m", "note", func(ctx context.Context, args ei.List) (ei.Term, error) {
			got <- args
			return nil, errors.New("nobody sees this")
		})
	}
	for _, peer := range []ei.Atom{ei.Atom(nb.Name), ei.Atom(na.Name)} {
		if err := na.ERPCCast(ctx, peer, "m", "note", ei.List{peer}); err != nil {
			t.Fatalf("ERPCCast(%s) = %v", peer, err)
		}
		select {
		case args := <-got:
			if !same(args, ei.List{peer}) {
				t.Errorf("cast to %s ran with %v, want [%s]", peer, args, peer)
			}
		case <-ctx.Done():
			t.Fatalf("cast to %s did not run", peer)
		}
	}

	// Removing a function makes it undef.
	handle(t, nb, "m", "echo", nil)
	if _, err := na.ERPCCall(ctx, ei.Atom(nb.Name), "m", "echo", nil); !isException(err, "error", ei.Atom("undef")) {
		t.Errorf("ERPCCall(removed function) = %v, want undef", err)
	}
}

func isException(err error, class ei.Atom, reason ei.Term) bool {
	var e *ei.Exception
	return errors.As(err, &e) && e.Class == class && same(e.Reason, reason)
}

// TestRexGoToGo calls a Go node's functions through its rex server, as
// ei_rpc and rpc:block_call do.
func TestRexGoToGo(t *testing.T) {
	ctx := testContext(t)
	na, nb, port := goNodes(t, nil)
	testFuncs(t, nb)

	// A bare Conn, whose RPC sends the raw rex request, from a node of
	// its own: nb keeps one connection per node.
	nc := startGoNodeWith(t, port, "c", nil)
	c, err := nc.Connect(ctx, nb.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	mb := newMailbox(t, na, "")
	rex := ei.RegName{Name: "rex", Node: ei.Atom(nb.Name)}
	for _, tc := range []struct {
		fun  ei.Atom
		args ei.List
		want ei.Term // the result, or {badrpc, Reason} for an *RPCError
	}{
		{"echo", ei.List{int64(1)}, ei.Tuple{ei.Atom("echo"), ei.List{int64(1)}}},
		{"throw", nil, ei.Atom("ball")}, // rpc returns what was thrown
		{"exit", nil, badrpc(ei.Tuple{ei.Atom("EXIT"), ei.Atom("bye")})},
		{"error", nil, badrpc(ei.Tuple{ei.Atom("EXIT"), ei.Tuple{ei.Binary("oops"), frame("m", "error", 0)}})},
		{"nofun", ei.List{int64(2)}, badrpc(ei.Tuple{ei.Atom("EXIT"), ei.Tuple{ei.Atom("undef"), ei.List{ei.Tuple{ei.Atom("m"), ei.Atom("nofun"), ei.List{int64(2)}, ei.List{}}}}})},
	} {
		got, err := c.RPC(ctx, "m", tc.fun, tc.args)
		var rpcErr *ei.RPCError
		if errors.As(err, &rpcErr) {
			got, err = badrpc(rpcErr.Reason), nil
		}
		if err != nil || !same(got, tc.want) {
			t.Errorf("Conn.RPC(m:%s%v) = %v, %v; want %v", tc.fun, tc.args, got, err, tc.want)
		}
		// rpc:block_call and rex's gen_server calls get the same answers.
		for _, kind := range []ei.Atom{"call", "block_call"} {
			args := tc.args
			if args == nil {
				args = ei.List{}
			}
			got, err := mb.Call(ctx, rex, ei.Tuple{kind, ei.Atom("m"), tc.fun, args, ei.Atom("user")})
			if err != nil || !same(got, tc.want) {
				t.Errorf("Call(rex, {%s, m, %s, %v}) = %v, %v; want %v", kind, tc.fun, args, got, err, tc.want)
			}
		}
	}

	// The other rex requests.
	if err := mb.Send(ctx, rex, ei.Tuple{mb.Pid(), ei.Atom("features_request")}); err != nil {
		t.Fatal(err)
	}
	if got, want := recv(t, mb), (ei.Tuple{ei.Atom("features_reply"), ei.Atom(nb.Name), ei.List{ei.Atom("erpc")}}); !same(got, want) {
		t.Errorf("features_request: got %v, want %v", got, want)
	}
	box := newMailbox(t, nb, "box")
	for _, req := range []ei.Tuple{
		{ei.Atom("send"), ei.Atom("box"), ei.Atom("hi")},
		{ei.Atom("sbcast"), ei.Atom("box"), ei.Atom("hi")},
		{ei.Atom("send"), ei.Atom("nobody"), ei.Atom("hi")},
	} {
		if err := mb.Send(ctx, rex, ei.Tuple{mb.Pid(), req}); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := recv(t, box), (ei.Tuple{mb.Pid(), ei.Atom("hi")}); !same(got, want) {
		t.Errorf("rex send: box got %v, want %v", got, want)
	}
	if got, want := recv(t, box), ei.Atom("hi"); !same(got, want) {
		t.Errorf("rex sbcast: box got %v, want %v", got, want)
	}
	for _, want := range []ei.Term{
		ei.Tuple{ei.Atom("rex"), ei.Atom(nb.Name), ei.Atom(nb.Name)},
		ei.Tuple{ei.Atom("rex"), ei.Atom(nb.Name), ei.Tuple{ei.Atom("nonexisting_name"), ei.Atom("nobody")}},
	} {
		if got := recv(t, mb); !same(got, want) {
			t.Errorf("rex answered %v, want %v", got, want)
		}
	}
	if _, err := nb.NewMailbox("rex"); err == nil {
		t.Errorf("NewMailbox(rex) succeeded; rex is the node's rex server")
	}
}

func badrpc(reason ei.Term) ei.Term { return ei.Tuple{ei.Atom("badrpc"), reason} }

// blocker registers m:block on n: it reports on started that it runs,
// waits for its context to end and reports that on ended.
func blocker(t testing.TB, n *ei.Node) (started chan ei.List, ended chan error) {
	started, ended = make(chan ei.List, 16), make(chan error, 16)
	handle(t, n, "m", "block", func(ctx context.Context, args ei.List) (ei.Term, error) {
		started <- args
		<-ctx.Done()
		ended <- ctx.Err()
		return nil, ctx.Err()
	})
	return started, ended
}

// wait returns what ch brings, failing the test if ctx ends first.
func wait[T any](t testing.TB, ctx context.Context, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-ctx.Done():
		t.Fatalf("%s: %v", what, ctx.Err())
		panic("unreachable")
	}
}

// TestERPCAbandon cancels a call: the caller gets timeout wrapping
// context.Canceled, and the function's context ends, since erpc's
// abandonment removes the monitor that would have brought the result.
func TestERPCAbandon(t *testing.T) {
	ctx := testContext(t)
	na, nb, _ := goNodes(t, nil)
	started, ended := blocker(t, nb)
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := na.ERPCCall(cctx, ei.Atom(nb.Name), "m", "block", nil)
		done <- err
	}()
	wait(t, ctx, started, "call start")
	cancel()
	err := wait(t, ctx, done, "ERPCCall return")
	var e *ei.ERPCError
	if !errors.As(err, &e) || e.Reason != ei.Atom("timeout") || !errors.Is(err, context.Canceled) {
		t.Errorf("ERPCCall(cancelled) = %v, want an *ERPCError timeout wrapping context.Canceled", err)
	}
	if err := wait(t, ctx, ended, "the function's context"); !errors.Is(err, context.Canceled) {
		t.Errorf("the function's context ended with %v, want context.Canceled", err)
	}
	// The connection goes on serving.
	testFuncs(t, nb)
	got, err := na.ERPCCall(ctx, ei.Atom(nb.Name), "m", "echo", nil)
	checkERPC(t, 1, got, err)
}

// TestERPCConnectionLost closes the calling node during a call: the
// function's context ends; and closes the called node during another:
// the caller gets noconnection.
func TestERPCConnectionLost(t *testing.T) {
	ctx := testContext(t)
	na, nb, port := goNodes(t, nil)
	started, ended := blocker(t, nb)
	done := make(chan error, 1)
	go func() {
		_, err := na.ERPCCall(ctx, ei.Atom(nb.Name), "m", "block", nil)
		done <- err
	}()
	wait(t, ctx, started, "call start")
	na.Close()
	if err := wait(t, ctx, done, "ERPCCall return"); !errors.Is(err, ei.ErrClosed) {
		t.Errorf("ERPCCall() when its node closed = %v, want ErrClosed", err)
	}
	wait(t, ctx, ended, "the function's context")

	nc := startGoNodeWith(t, port, "c", nil)
	go func() {
		_, err := nc.ERPCCall(ctx, ei.Atom(nb.Name), "m", "block", nil)
		done <- err
	}()
	wait(t, ctx, started, "call start")
	nb.Close()
	err := wait(t, ctx, done, "ERPCCall return")
	var e *ei.ERPCError
	if !errors.As(err, &e) || e.Reason != ei.Atom("noconnection") {
		t.Errorf("ERPCCall() when the peer closed = %v, want an *ERPCError noconnection", err)
	}
	wait(t, ctx, ended, "the function's context")
}

// TestMaxCalls fills a node's MaxCalls: one call more fails with
// system_limit, by erpc and by rex alike, and succeeds once one ends.
func TestMaxCalls(t *testing.T) {
	ctx := testContext(t)
	na, nb, _ := goNodes(t, func(n *ei.Node) { n.MaxCalls = 2 })
	started, ended := blocker(t, nb)
	testFuncs(t, nb)
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := na.ERPCCall(cctx, ei.Atom(nb.Name), "m", "block", nil)
			done <- err
		}()
		wait(t, ctx, started, "call start")
	}
	var e *ei.ERPCError
	if _, err := na.ERPCCall(ctx, ei.Atom(nb.Name), "m", "echo", nil); !errors.As(err, &e) || e.Reason != ei.Atom("system_limit") {
		t.Errorf("ERPCCall() beyond MaxCalls = %v, want an *ERPCError system_limit", err)
	}
	got, err := na.RPC(ctx, ei.Atom(nb.Name), "m", "echo", nil)
	var rpcErr *ei.RPCError
	if !errors.As(err, &rpcErr) || !same(rpcErr.Reason, ei.Tuple{ei.Atom("EXIT"), ei.Atom("system_limit")}) {
		t.Errorf("RPC() beyond MaxCalls = %v, %v; want badrpc {'EXIT', system_limit}", got, err)
	}
	cancel()
	for range 2 {
		wait(t, ctx, done, "ERPCCall return")
		wait(t, ctx, ended, "the function's context")
	}
	// The abandoned calls end as their demonitors arrive, and release
	// their places once they returned.
	for {
		got, err := na.ERPCCall(ctx, ei.Atom(nb.Name), "m", "echo", nil)
		if errors.As(err, &e) && e.Reason == ei.Atom("system_limit") {
			continue
		}
		checkERPC(t, 1, got, err)
		break
	}
}

// TestCloseWaitsForFuncs checks that Node.Close ends the functions'
// contexts and returns once they returned.
func TestCloseWaitsForFuncs(t *testing.T) {
	ctx := testContext(t)
	na, nb, _ := goNodes(t, nil)
	started := make(chan struct{}, 1)
	var returned bool
	handle(t, nb, "m", "slow", func(ctx context.Context, args ei.List) (ei.Term, error) {
		started <- struct{}{}
		<-ctx.Done()
		returned = true // Close must not return before this
		return nil, nil
	})
	go na.ERPCCall(ctx, ei.Atom(nb.Name), "m", "slow", nil)
	wait(t, ctx, started, "call start")
	nb.Close()
	if !returned {
		t.Errorf("Close returned before the function did")
	}
	if _, err := nb.ERPCCall(ctx, ei.Atom(na.Name), "m", "x", nil); !errors.Is(err, ei.ErrClosed) {
		t.Errorf("ERPCCall() after Close = %v, want ErrClosed", err)
	}
}

func TestHandleFuncDynamicName(t *testing.T) {
	n := &ei.Node{Name: "undefined@localhost", Cookie: "c"}
	err := n.HandleFunc("m", "f", func(context.Context, ei.List) (ei.Term, error) { return nil, nil })
	if err == nil || !strings.Contains(err.Error(), "dynamic name") {
		t.Errorf("HandleFunc() on a node with a dynamic name = %v, want an error", err)
	}
}
