package ei_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/goei/goei/ei"
	"github.com/goei/goei/internal/erltest"
)

// erpctestModule runs on the erl nodes of the erpc tests: a function to
// call, and the ways one node calls another, each returning what the
// caller gets.
const erpctestModule = `-module(goei_erpctest).
-export([raise/2, call/4, rpc/4, block/4, rex/4, multicall/4, rpc_multicall/4,
         spawn_down/4, spawn_kill/4, spawn_linked/5, timeout_call/5, async_call/4,
         concurrent/4, wait/1, suicide/0, global_echo/1]).

%% raise(Class, Reason) returns Reason, or raises it with Class.
raise(return, V) -> V;
raise(throw, R) -> throw(R);
raise(exit, R) -> exit(R);
raise(error, R) -> erlang:error(R).

%% erpc:call, with exceptions as {Class, Reason}.
call(N, M, F, A) -> timeout_call(N, M, F, A, 20000).
timeout_call(N, M, F, A, T) ->
    try {ok, erpc:call(N, M, F, A, T)} catch C:R -> {C, R} end.
%% The others return {got, What}, since what the rex of our own call
%% returns cannot be {badrpc, _}.
rpc(N, M, F, A) -> {got, rpc:call(N, M, F, A, 20000)}.
block(N, M, F, A) -> {got, rpc:block_call(N, M, F, A, 20000)}.
%% rex(N, M, F, A) calls as erl_interface's ei_rpc does.
rex(N, M, F, A) ->
    {rex, N} ! {self(), {call, M, F, A, user}},
    receive {rex, R} -> {got, R} after 20000 -> timeout end.
multicall(Ns, M, F, A) -> {got, erpc:multicall(Ns, M, F, A, 20000)}.
rpc_multicall(Ns, M, F, A) -> {got, rpc:multicall(Ns, M, F, A, 20000)}.
async_call(N, M, F, A) -> spawn(fun() -> call(N, M, F, A) end), ok.

%% spawn_down returns the exit reason of M:F(A...) spawned on N.
spawn_down(N, M, F, A) ->
    {Pid, Ref} = spawn_monitor(N, M, F, A),
    receive {'DOWN', Ref, process, Pid, R} -> {got, R} after 20000 -> timeout end.
%% spawn_kill kills M:F(A...) spawned on N and returns its exit reason.
spawn_kill(N, M, F, A) ->
    {Pid, Ref} = spawn_monitor(N, M, F, A),
    exit(Pid, kill),
    receive {'DOWN', Ref, process, Pid, R} -> R after 20000 -> timeout end.
%% spawn_linked starts a process that links to M:F(A...) spawned on N,
%% tells ReportTo {linked, Self, Pid}, and exits with reason R when it
%% gets {die, R}.
spawn_linked(N, M, F, A, ReportTo) ->
    spawn(fun() ->
        P = spawn_link(N, M, F, A),
        ReportTo ! {linked, self(), P},
        receive {die, R} -> exit(R) end
    end),
    ok.

%% concurrent makes K erpc calls of M:F(I) at once, I in 1..K, and
%% returns their outcomes in order.
concurrent(N, M, F, K) ->
    Self = self(),
    Pids = [spawn(fun() -> Self ! {self(), call(N, M, F, [I])} end) || I <- lists:seq(1, K)],
    [receive {P, R} -> R after 30000 -> timeout end || P <- Pids].

%% wait tells To {started, Self} and waits for ever.
wait(To) -> To ! {started, self()}, receive after infinity -> ok end.
suicide() -> exit(self(), kill).

%% global_echo registers in global as Name a process that answers
%% {From, X} with {echo, X}.
global_echo(Name) ->
    Self = self(),
    spawn(fun() -> Self ! global:register_name(Name, self()), echo() end),
    receive R -> R after 20000 -> timeout end.
echo() -> receive {From, X} -> From ! {echo, X}, echo() end.
`

// erpcEnv is two erl nodes of otp in one cluster, a and b, running
// goei_erpctest, and a Go node registering testFuncs and
// goei_erpctest:raise.
type erpcEnv struct {
	otp    erltest.OTP
	port   int // epmd
	a, b   *erltest.Node
	pa, pb ei.Atom
	node   *ei.Node
	self   ei.Atom // the Go node's name
}

func startERPCEnv(t *testing.T, otp erltest.OTP) *erpcEnv {
	t.Helper()
	e := &erpcEnv{otp: otp, port: erltest.StartOTPEPMD(t)}
	// Each compiles the module in a directory of its own: erl loads it
	// on first use, and must not find a file another erl is writing.
	opts := func() erltest.Options {
		return erltest.Options{Args: moduleArgs(t, otp, "goei_erpctest", erpctestModule, "ok")}
	}
	e.a, e.b = otp.StartErl(t, e.port, opts()), otp.StartErl(t, e.port, opts())
	e.pa, e.pb = ei.Atom(e.a.Name), ei.Atom(e.b.Name)
	e.node = startGoNode(t, e.port, "go")
	e.self = ei.Atom(e.node.Name)
	// erl registers with epmd before its -eval compiled the module.
	for _, n := range []*erltest.Node{e.a, e.b} {
		for !same(e.rpc(t, ei.Atom(n.Name), "code", "ensure_loaded", ei.Atom("goei_erpctest")),
			ei.Tuple{ei.Atom("module"), ei.Atom("goei_erpctest")}) {
			select {
			case <-n.Exited():
				t.Fatalf("erl exited:\n%s", n.Output())
			default:
			}
		}
	}
	testFuncs(t, e.node)
	handle(t, e.node, "goei_erpctest", "raise", func(ctx context.Context, args ei.List) (ei.Term, error) {
		if args[0] == ei.Atom("return") {
			return args[1], nil
		}
		return nil, &ei.Exception{Class: args[0].(ei.Atom), Reason: args[1]}
	})
	if r := e.rpc(t, e.pb, "net_kernel", "connect_node", e.pa); r != ei.Atom("true") {
		t.Fatalf("net_kernel:connect_node(%s) = %v", e.pa, r)
	}
	e.rpc(t, e.pb, "global", "sync")
	return e
}

// rpc calls mod:fun(args...) on peer through its rex, failing the test
// on error.
func (e *erpcEnv) rpc(t testing.TB, peer, mod, fun ei.Atom, args ...ei.Term) ei.Term {
	t.Helper()
	if args == nil {
		args = ei.List{}
	}
	got, err := e.node.RPC(testContext(t), peer, mod, fun, args)
	if err != nil {
		t.Fatalf("RPC(%s, %s:%s%v) = %v\n%s\n%s", peer, mod, fun, args, err, e.a.Output(), e.b.Output())
	}
	return got
}

// eachERPCEnv runs f in a subtest for each OTP release at hand, with an
// erpcEnv on it.
func eachERPCEnv(t *testing.T, f func(t *testing.T, e *erpcEnv)) {
	for _, otp := range erltest.OTPs(t) {
		t.Run(otp.String(), func(t *testing.T) { f(t, startERPCEnv(t, otp)) })
	}
}

// equal reports whether two terms are equal in Erlang: a List of small
// integers is a String, as erl sends it.
func equal(a, b ei.Term) bool { return ei.Compare(a, b) == 0 }

// gotR is what goei_erpctest's functions return for what they got.
func gotR(t ei.Term) ei.Term { return ei.Tuple{ei.Atom("got"), t} }

// normStacks replaces the stack traces in t by the atom stack: erl's
// name files and lines where a Go function's cannot.
func normStacks(t ei.Term) ei.Term {
	return rebuild(t, func(t ei.Term) ei.Term {
		if l, ok := t.(ei.List); ok && isStack(l) {
			return ei.Atom("stack")
		}
		return t
	})
}

// rebuild returns a copy of t in which f has replaced each tuple, list
// and map, and each other term, from the innermost out.
func rebuild(t ei.Term, f func(ei.Term) ei.Term) ei.Term {
	switch v := t.(type) {
	case ei.Tuple:
		out := make(ei.Tuple, len(v))
		for i, e := range v {
			out[i] = rebuild(e, f)
		}
		return f(out)
	case ei.List:
		out := make(ei.List, len(v))
		for i, e := range v {
			out[i] = rebuild(e, f)
		}
		return f(out)
	case ei.Map:
		out := make(ei.Map, len(v))
		for i, p := range v {
			out[i] = ei.Pair{Key: rebuild(p.Key, f), Value: rebuild(p.Value, f)}
		}
		return f(out)
	}
	return f(t)
}

func isStack(l ei.List) bool {
	for _, f := range l {
		t, ok := f.(ei.Tuple)
		if !ok || len(t) != 4 {
			return false
		}
		_, m := t[0].(ei.Atom)
		_, fn := t[1].(ei.Atom)
		_, loc := t[3].(ei.List)
		if !m || !fn || !loc {
			return false
		}
	}
	return len(l) > 0
}

// TestErlCallsGo calls a Go function from erl in every way erl has, and
// the same Erlang function on another erl node: what erl gets must be
// the same, but for the stack traces' contents; for an undefined
// function, stack traces included.
func TestErlCallsGo(t *testing.T) {
	eachERPCEnv(t, func(t *testing.T, e *erpcEnv) {
		for _, way := range []ei.Atom{"call", "rpc", "block", "rex", "spawn_down"} {
			for _, kind := range []ei.Atom{"return", "throw", "exit", "error"} {
				args := ei.List{kind, ei.Tuple{ei.Atom("r"), kind}}
				fromErl := e.rpc(t, e.pa, "goei_erpctest", way, e.pb, ei.Atom("goei_erpctest"), ei.Atom("raise"), args)
				fromGo := e.rpc(t, e.pa, "goei_erpctest", way, e.self, ei.Atom("goei_erpctest"), ei.Atom("raise"), args)
				if !equal(normStacks(fromGo), normStacks(fromErl)) {
					t.Errorf("%s of raise(%s, ...): from Go %v, from erl %v", way, kind, fromGo, fromErl)
				}
			}
			undef := ei.List{ei.Atom("nomod"), ei.Atom("nofun"), ei.List{int64(1)}}
			fromErl := e.rpc(t, e.pa, "goei_erpctest", way, append(ei.List{e.pb}, undef...)...)
			fromGo := e.rpc(t, e.pa, "goei_erpctest", way, append(ei.List{e.self}, undef...)...)
			if !equal(fromGo, fromErl) {
				t.Errorf("%s of an undefined function: from Go %v, from erl %v", way, fromGo, fromErl)
			}
		}
		for _, way := range []ei.Atom{"multicall", "rpc_multicall"} {
			for _, mfa := range []ei.List{
				{ei.Atom("goei_erpctest"), ei.Atom("raise"), ei.List{ei.Atom("return"), ei.Atom("v")}},
				{ei.Atom("goei_erpctest"), ei.Atom("raise"), ei.List{ei.Atom("error"), ei.Atom("r")}},
				{ei.Atom("nomod"), ei.Atom("nofun"), ei.List{}},
			} {
				got := e.rpc(t, e.pa, "goei_erpctest", way, append(ei.List{ei.List{e.pb, e.self}}, mfa...)...)
				var res ei.List
				switch g := got.(ei.Tuple)[1].(type) {
				case ei.List: // erpc: [Result]
					res = g
				case ei.Tuple: // rpc: {[Result], BadNodes}
					res, _ = g[0].(ei.List)
				}
				if len(res) != 2 || !equal(normStacks(res[0]), normStacks(res[1])) {
					t.Errorf("%s of %v on [erl, go] = %v, want the same for both", way, mfa, got)
				}
			}
		}
		// The Go function's own exceptions, as erl gets them.
		for _, tc := range []struct {
			fun  ei.Atom
			call ei.Term // erpc:call
			rpc  ei.Term // rpc:call
		}{
			{"echo", ei.Tuple{ei.Atom("ok"), ei.Tuple{ei.Atom("echo"), ei.List{int64(1)}}}, gotR(ei.Tuple{ei.Atom("echo"), ei.List{int64(1)}})},
			{"error", ei.Tuple{ei.Atom("error"), ei.Tuple{ei.Atom("exception"), ei.Binary("oops"), frame("m", "error", 1)}},
				gotR(badrpc(ei.Tuple{ei.Atom("EXIT"), ei.Tuple{ei.Binary("oops"), frame("m", "error", 1)}}))},
			{"panic", ei.Tuple{ei.Atom("error"), ei.Tuple{ei.Atom("exception"), ei.Binary("panic: at the disco"), frame("m", "panic", 1)}},
				gotR(badrpc(ei.Tuple{ei.Atom("EXIT"), ei.Tuple{ei.Binary("panic: at the disco"), frame("m", "panic", 1)}}))},
		} {
			if got := e.rpc(t, e.pa, "goei_erpctest", "call", e.self, ei.Atom("m"), tc.fun, ei.List{int64(1)}); !equal(got, tc.call) {
				t.Errorf("erpc:call(go, m, %s, [1]) = %v, want %v", tc.fun, got, tc.call)
			}
			if got := e.rpc(t, e.pa, "goei_erpctest", "rpc", e.self, ei.Atom("m"), tc.fun, ei.List{int64(1)}); !equal(got, tc.rpc) {
				t.Errorf("rpc:call(go, m, %s, [1]) = %v, want %v", tc.fun, got, tc.rpc)
			}
		}
	})
}

// TestErlCallsGoCasts casts from erl: erpc:cast and rpc:cast run the
// function, with nothing coming back.
func TestErlCallsGoCasts(t *testing.T) {
	eachERPCEnv(t, func(t *testing.T, e *erpcEnv) {
		ctx := testContext(t)
		got := make(chan ei.List, 2)
		handle(t, e.node, "m", "note", func(ctx context.Context, args ei.List) (ei.Term, error) {
			got <- args
			return nil, nil
		})
		for _, mod := range []ei.Atom{"erpc", "rpc"} {
			if r := e.rpc(t, e.pa, mod, "cast", e.self, ei.Atom("m"), ei.Atom("note"), ei.List{mod}); r != ei.Atom("ok") && r != ei.Atom("true") {
				t.Errorf("%s:cast() = %v", mod, r)
			}
			if args := wait(t, ctx, got, string(mod)+":cast"); !equal(args, ei.List{mod}) {
				t.Errorf("%s:cast ran the function with %v, want [%s]", mod, args, mod)
			}
		}
	})
}

// TestErlCallsGoEnds ends calls from erl early: erpc's timeout, an exit
// signal to the process running the call, and the exit of a process
// linked to it each end the function's context.
func TestErlCallsGoEnds(t *testing.T) {
	eachERPCEnv(t, func(t *testing.T, e *erpcEnv) {
		ctx := testContext(t)
		started, ended := blocker(t, e.node)
		block := []ei.Term{e.self, ei.Atom("m"), ei.Atom("block"), ei.List{}}

		got := e.rpc(t, e.pa, "goei_erpctest", "timeout_call", append(block, int64(100))...)
		if want := (ei.Tuple{ei.Atom("error"), ei.Tuple{ei.Atom("erpc"), ei.Atom("timeout")}}); !equal(got, want) {
			t.Errorf("erpc:call(go, m, block, [], 100) = %v, want %v", got, want)
		}
		wait(t, ctx, started, "call start")
		wait(t, ctx, ended, "the function's context, after erpc's timeout")

		if got := e.rpc(t, e.pa, "goei_erpctest", "spawn_kill", block...); got != ei.Atom("killed") {
			t.Errorf("exit(Pid, kill) of a call: 'DOWN' reason %v, want killed", got)
		}
		wait(t, ctx, started, "call start")
		wait(t, ctx, ended, "the function's context, after a kill")

		// A linked process's exit ends the call with the same reason, kill
		// included (exit/2's kill gives killed).
		mb := newMailbox(t, e.node, "")
		for _, reason := range []ei.Atom{"die", "kill"} {
			e.rpc(t, e.pa, "goei_erpctest", "spawn_linked", append(block, mb.Pid())...)
			msg := recv(t, mb)
			linked, ok := msg.(ei.Tuple)
			if !ok || len(linked) != 3 || linked[0] != ei.Atom("linked") {
				t.Fatalf("spawn_linked: received %v, want {linked, Parent, Pid}", msg)
			}
			wait(t, ctx, started, "call start")
			call := linked[2].(ei.Pid)
			ref, err := mb.Monitor(ctx, call)
			if err != nil {
				t.Fatal(err)
			}
			if err := mb.Send(ctx, linked[1].(ei.Pid), ei.Tuple{ei.Atom("die"), reason}); err != nil {
				t.Fatal(err)
			}
			wait(t, ctx, ended, "the function's context, after its linked parent exited")
			if got, want := recv(t, mb), (ei.Tuple{ei.Atom("DOWN"), ref, ei.Atom("process"), call, reason}); !equal(got, want) {
				t.Errorf("after the parent exited with %s: received %v, want %v", reason, got, want)
			}
		}
	})
}

// TestErlCallsGoConcurrently makes calls from erl that can only finish
// once all of them run at once; and fills a node's MaxCalls.
func TestErlCallsGoConcurrently(t *testing.T) {
	eachERPCEnv(t, func(t *testing.T, e *erpcEnv) {
		ctx := testContext(t)
		const k = 8
		var mu sync.Mutex
		arrived := 0
		all := make(chan struct{})
		handle(t, e.node, "m", "rendezvous", func(ctx context.Context, args ei.List) (ei.Term, error) {
			mu.Lock()
			if arrived++; arrived == k {
				close(all)
			}
			mu.Unlock()
			select {
			case <-all:
				return args[0], nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		})
		got := e.rpc(t, e.pa, "goei_erpctest", "concurrent", e.self, ei.Atom("m"), ei.Atom("rendezvous"), int64(k))
		var want ei.List
		for i := range k {
			want = append(want, ei.Tuple{ei.Atom("ok"), int64(i + 1)})
		}
		if !equal(got, want) {
			t.Errorf("%d concurrent calls = %v, want %v", k, got, want)
		}

		one := startGoNodeWith(t, e.port, "one", func(n *ei.Node) { n.MaxCalls = 1 })
		started, _ := blocker(t, one)
		testFuncs(t, one)
		e.rpc(t, e.pa, "goei_erpctest", "async_call", ei.Atom(one.Name), ei.Atom("m"), ei.Atom("block"), ei.List{})
		wait(t, ctx, started, "call start")
		echo := []ei.Term{ei.Atom(one.Name), ei.Atom("m"), ei.Atom("echo"), ei.List{}}
		if got, want := e.rpc(t, e.pa, "goei_erpctest", "call", echo...),
			(ei.Tuple{ei.Atom("error"), ei.Tuple{ei.Atom("erpc"), ei.Atom("system_limit")}}); !equal(got, want) {
			t.Errorf("erpc:call() beyond MaxCalls = %v, want %v", got, want)
		}
		for _, way := range []ei.Atom{"rpc", "rex"} {
			if got, want := e.rpc(t, e.pa, "goei_erpctest", way, echo...),
				gotR(badrpc(ei.Tuple{ei.Atom("EXIT"), ei.Atom("system_limit")})); !equal(got, want) {
				t.Errorf("%s beyond MaxCalls = %v, want %v", way, got, want)
			}
		}
	})
}

// TestGoCallsErl calls erl functions from Go with ERPCCall, ERPCCast and
// ERPCMulticall.
func TestGoCallsErl(t *testing.T) {
	eachERPCEnv(t, func(t *testing.T, e *erpcEnv) {
		ctx := testContext(t)
		raise := func(class ei.Atom, reason ei.Term) (ei.Term, error) {
			return e.node.ERPCCall(ctx, e.pa, "goei_erpctest", "raise", ei.List{class, reason})
		}
		if got, err := raise("return", ei.Binary("v")); err != nil || !equal(got, ei.Binary("v")) {
			t.Errorf("ERPCCall(raise(return, v)) = %v, %v; want <<\"v\">>", got, err)
		}
		for _, class := range []ei.Atom{"throw", "exit", "error"} {
			_, err := raise(class, ei.Atom("r"))
			var exc *ei.Exception
			if !errors.As(err, &exc) || exc.Class != class || exc.Reason != ei.Atom("r") || exc.Signal {
				t.Errorf("ERPCCall(raise(%s, r)) = %v, want that exception", class, err)
				continue
			}
			if stack, ok := exc.Stack.(ei.List); (class == "error") != (ok && isStack(stack)) {
				t.Errorf("ERPCCall(raise(%s, r)) has stack %v", class, exc.Stack)
			}
		}
		_, err := e.node.ERPCCall(ctx, e.pa, "nomod", "nofun", ei.List{int64(1)})
		undef := &ei.Exception{Class: "error", Reason: ei.Atom("undef"), Stack: ei.List{ei.Tuple{ei.Atom("nomod"), ei.Atom("nofun"), ei.List{int64(1)}, ei.List{}}}}
		if exc := (*ei.Exception)(nil); !errors.As(err, &exc) || exc.Class != undef.Class || !equal(exc.Reason, undef.Reason) || !equal(exc.Stack, undef.Stack) {
			t.Errorf("ERPCCall(nomod:nofun(1)) = %v, want %v", err, undef)
		}
		_, err = e.node.ERPCCall(ctx, e.pa, "goei_erpctest", "suicide", nil)
		if exc := (*ei.Exception)(nil); !errors.As(err, &exc) || exc.Class != "exit" || exc.Reason != ei.Atom("killed") || !exc.Signal {
			t.Errorf("ERPCCall(suicide()) = %v, want an exit signal killed", err)
		}
		// The processes' group leader answers io requests.
		if got, err := e.node.ERPCCall(ctx, e.pa, "io", "format", ei.List{ei.String("hello~n")}); err != nil || got != ei.Atom("ok") {
			t.Errorf("ERPCCall(io:format(...)) = %v, %v; want ok", got, err)
		}
		if got, err := e.node.ERPCCall(ctx, e.pa, "io", "get_line", ei.List{ei.String("> ")}); err != nil || got != ei.Atom("eof") {
			t.Errorf("ERPCCall(io:get_line(...)) = %v, %v; want eof", got, err)
		}

		// A cast, and a multicall to erl, Go and a node that is not there.
		mb := newMailbox(t, e.node, "")
		if err := e.node.ERPCCast(ctx, e.pb, "erlang", "send", ei.List{mb.Pid(), ei.Atom("cast")}); err != nil {
			t.Fatalf("ERPCCast() = %v", err)
		}
		if got := recv(t, mb); got != ei.Atom("cast") {
			t.Errorf("ERPCCast(erlang:send(...)): received %v, want cast", got)
		}
		res := e.node.ERPCMulticall(ctx, []ei.Atom{e.pa, e.self, "nobody@nohost.invalid"}, "goei_erpctest", "raise", ei.List{ei.Atom("return"), int64(5)})
		var ee *ei.ERPCError
		if len(res) != 3 || res[0].Err != nil || res[0].Value != int64(5) || res[1].Err != nil || res[1].Value != int64(5) ||
			!errors.As(res[2].Err, &ee) || ee.Reason != ei.Atom("noconnection") {
			t.Errorf("ERPCMulticall() = %v, want 5, 5 and noconnection", res)
		}
	})
}

// TestGoCallsErlEnds ends calls to erl early: on cancellation the call
// is abandoned and the monitor on erl's process removed, as erpc's
// timeout does; when erl goes down, the call fails with noconnection.
func TestGoCallsErlEnds(t *testing.T) {
	eachERPCEnv(t, func(t *testing.T, e *erpcEnv) {
		ctx := testContext(t)
		mb := newMailbox(t, e.node, "")
		for _, peer := range []ei.Atom{e.pa, e.pb} {
			cctx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() {
				_, err := e.node.ERPCCall(cctx, peer, "goei_erpctest", "wait", ei.List{mb.Pid()})
				done <- err
			}()
			msg := recv(t, mb)
			started, ok := msg.(ei.Tuple)
			if !ok || len(started) != 2 || started[0] != ei.Atom("started") {
				t.Fatalf("received %v, want {started, Pid}", msg)
			}
			pid := started[1].(ei.Pid)
			if peer == e.pb {
				e.b.Kill()
				err := wait(t, ctx, done, "ERPCCall return")
				var ee *ei.ERPCError
				if !errors.As(err, &ee) || ee.Reason != ei.Atom("noconnection") {
					t.Errorf("ERPCCall() when erl went down = %v, want an *ERPCError noconnection", err)
				}
				cancel()
				break
			}
			cancel()
			err := wait(t, ctx, done, "ERPCCall return")
			var ee *ei.ERPCError
			if !errors.As(err, &ee) || ee.Reason != ei.Atom("timeout") || !errors.Is(err, context.Canceled) {
				t.Errorf("ERPCCall(cancelled) = %v, want an *ERPCError timeout wrapping context.Canceled", err)
			}
			// erl's process loses its monitor once our demonitor arrives.
			for {
				info := e.rpc(t, peer, "erlang", "process_info", pid, ei.Atom("monitored_by"))
				if equal(info, ei.Tuple{ei.Atom("monitored_by"), ei.List{}}) {
					break
				}
				if ctx.Err() != nil {
					t.Fatalf("process_info(%v, monitored_by) = %v after the call was abandoned, want []", pid, info)
				}
			}
		}
	})
}
