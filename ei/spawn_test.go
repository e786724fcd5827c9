package ei

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
)

func TestSpawnControlEncodeErrors(t *testing.T) {
	r := Ref{Node: "a@h", ID: []uint32{1, 2, 3}}
	a := Pid{Node: "a@h", ID: 1}
	for _, ctl := range []Control{
		SpawnRequest{ReqID: r, From: a, GroupLeader: a, Module: "m", Function: "f", Arity: 256},
		SpawnRequest{ReqID: r, From: a, GroupLeader: a, Module: "m", Function: "f", Arity: -1},
		SpawnRequest{ReqID: r, From: a, GroupLeader: a, Module: "m", Function: "f", Opts: List{nil}},
		SpawnReply{ReqID: r, To: a, Result: int64(1)},
		SpawnReply{ReqID: r, To: a, Result: nil},
		SpawnReply{ReqID: r, To: a, Flags: -1, Result: a},
	} {
		if b, err := ctl.appendControl(nil); err == nil {
			t.Errorf("appendControl(%#v) = %x, want an error", ctl, b)
		}
	}
}

func TestParseSpawnRequest(t *testing.T) {
	res := Ref{Node: "b@h", ID: []uint32{4, 5, 6}}
	req := func(mod, fun Atom, arity int, opts ...Term) SpawnRequest {
		return SpawnRequest{Module: mod, Function: fun, Arity: arity, Opts: List(opts)}
	}
	args := List{int64(1), Atom("x")}
	tests := []struct {
		name    string
		req     SpawnRequest
		payload Term
		want    spawnRequest
		refused Atom
	}{
		{"erpc call", req("erpc", "execute_call", 4, Atom("monitor")), List{res, Atom("m"), Atom("f"), args},
			spawnRequest{monitor: true, erpc: "call", res: res, mod: "m", fun: "f", fargs: args}, ""},
		{"erpc cast", req("erpc", "execute_cast", 3), List{Atom("m"), Atom("f"), args},
			spawnRequest{erpc: "cast", mod: "m", fun: "f", fargs: args}, ""},
		{"spawn_link", req("m", "f", 2, Atom("link"), Tuple{Atom("priority"), Atom("high")}), args,
			spawnRequest{link: true, mod: "m", fun: "f", fargs: args}, ""},
		{"monitor with options", req("m", "f", 2, Tuple{Atom("monitor"), List{}}), args,
			spawnRequest{monitor: true, mod: "m", fun: "f", fargs: args}, ""},
		{"arguments as a string", req("m", "f", 2), String("\x01\x02"),
			spawnRequest{mod: "m", fun: "f", fargs: List{int64(1), int64(2)}}, ""},
		{"arguments of execute_call as a string", req("erpc", "execute_call", 4), List{res, Atom("m"), Atom("f"), String("a")},
			spawnRequest{erpc: "call", res: res, mod: "m", fun: "f", fargs: List{int64('a')}}, ""},
		{"erpc's other functions are just functions", req("erpc", "other", 1), List{int64(1)},
			spawnRequest{mod: "erpc", fun: "other", fargs: List{int64(1)}}, ""},
		{"arity mismatch", req("m", "f", 3), args, spawnRequest{}, "badarg"},
		{"arguments not a list", req("m", "f", 1), Atom("x"), spawnRequest{}, "badarg"},
		{"execute_call module not an atom", req("erpc", "execute_call", 4), List{res, int64(1), Atom("f"), List{}}, spawnRequest{}, "badarg"},
		{"execute_call arguments not a list", req("erpc", "execute_call", 4), List{res, Atom("m"), Atom("f"), Atom("x")}, spawnRequest{}, "badarg"},
		{"execute_cast function not an atom", req("erpc", "execute_cast", 3), List{Atom("m"), int64(1), List{}}, spawnRequest{}, "badarg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, refused := parseSpawnRequest(tt.req, tt.payload)
			if refused != tt.refused {
				t.Fatalf("parseSpawnRequest(%v, %v) refused %q, want %q", tt.req, tt.payload, refused, tt.refused)
			}
			if refused != "" {
				return
			}
			got.SpawnRequest, got.args = SpawnRequest{}, nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseSpawnRequest(%v, %v) = %+v, want %+v", tt.req, tt.payload, got, tt.want)
			}
		})
	}
}

// FuzzSpawnRequest decodes spawn requests as a peer may send them and
// parses them as the node does before serving one: neither may panic,
// what is decoded survives a round trip through the encoder, and what is
// parsed has the arity the request names.
func FuzzSpawnRequest(f *testing.F) {
	r := Ref{Node: "b@host", Creation: 3, ID: []uint32{1, 2, 3}}
	from := Pid{Node: "b@host", ID: 7, Creation: 3}
	for _, seed := range []struct {
		ctl  Control
		args Term
	}{
		{SpawnRequest{ReqID: r, From: from, GroupLeader: from, Module: "erpc", Function: "execute_call", Arity: 4, Opts: List{Atom("monitor")}},
			List{r, Atom("m"), Atom("f"), List{int64(1)}}},
		{SpawnRequest{ReqID: r, From: from, GroupLeader: from, Module: "erpc", Function: "execute_cast", Arity: 3, Opts: List{}},
			List{Atom("m"), Atom("f"), String("ab")}},
		{SpawnRequestTT{SpawnRequest: SpawnRequest{ReqID: r, From: from, GroupLeader: from, Module: "m", Function: "f", Arity: 1, Opts: List{Atom("link"), Tuple{Atom("monitor"), List{}}}}, TraceToken: Atom("t")},
			List{Binary("x")}},
	} {
		f.Add(encodeMessage(f, seed.ctl, seed.args))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeMessage(data, 0, nil, true)
		if err != nil {
			return
		}
		var req SpawnRequest
		switch c := m.Control.(type) {
		case SpawnRequest:
			req = c
		case SpawnRequestTT:
			req = c.SpawnRequest
		default:
			return
		}
		b, err := m.Control.appendControl(nil)
		if err != nil {
			t.Fatalf("appendControl(%#v) = %v", m.Control, err)
		}
		if again, err := readControl(NewReader(b)); err != nil || !reflect.DeepEqual(again, m.Control) {
			t.Fatalf("readControl(appendControl(%#v)) = %#v, %v", m.Control, again, err)
		}
		p, refused := parseSpawnRequest(req, m.Payload)
		if refused != "" {
			return
		}
		if len(p.args) != req.Arity {
			t.Fatalf("parsed %d arguments of a request of arity %d", len(p.args), req.Arity)
		}
		if p.erpc == "" && (p.mod != req.Module || p.fun != req.Function || !reflect.DeepEqual(p.fargs, p.args)) {
			t.Fatalf("parsed %s:%s%v from %s:%s%v", p.mod, p.fun, p.fargs, req.Module, req.Function, p.args)
		}
	})
}

func TestIOReply(t *testing.T) {
	tests := []struct {
		req  Term
		want Term
	}{
		{Tuple{Atom("put_chars"), Atom("unicode"), Binary("hi\n")}, Atom("ok")},
		{Tuple{Atom("put_chars"), Atom("unicode"), Atom("io_lib"), Atom("format"), List{String("~p"), List{int64(1)}}}, Atom("ok")},
		{Tuple{Atom("setopts"), List{Tuple{Atom("binary"), Atom("true")}}}, Atom("ok")},
		{Atom("getopts"), List{}},
		{Tuple{Atom("get_line"), Atom("unicode"), String("> ")}, Atom("eof")},
		{Tuple{Atom("get_until"), Atom("unicode"), String(""), Atom("m"), Atom("f"), List{}}, Atom("eof")},
		{Tuple{Atom("requests"), List{Tuple{Atom("put_chars"), Binary("a")}, Tuple{Atom("get_chars"), String(""), int64(1)}}}, Atom("eof")},
		{Tuple{Atom("requests")}, Tuple{Atom("error"), Atom("request")}},
		{Tuple{Atom("get_geometry"), Atom("columns")}, Tuple{Atom("error"), Atom("enotsup")}},
		{Atom("what"), Tuple{Atom("error"), Atom("request")}},
		{Tuple{}, Tuple{Atom("error"), Atom("request")}},
	}
	for _, tt := range tests {
		if got := ioReply(tt.req); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ioReply(%v) = %v, want %v", tt.req, got, tt.want)
		}
	}
}

// TestExceptionOf checks how the errors of a Func become exceptions and
// exit reasons, and what rpc makes of them.
func TestExceptionOf(t *testing.T) {
	frame := List{Tuple{Atom("m"), Atom("f"), int64(1), List{}}}
	stack := List{Tuple{Atom("x"), Atom("y"), int64(0), List{}}}
	tests := []struct {
		err     error
		want    *Exception
		rpc     Term // rex's answer
		process Term // the exit reason of a process that ran the call
	}{
		{errors.New("oops"), &Exception{Class: "error", Reason: Binary("oops"), Stack: frame},
			Tuple{Atom("badrpc"), Tuple{Atom("EXIT"), Tuple{Binary("oops"), frame}}}, Tuple{Binary("oops"), frame}},
		{fmt.Errorf("wrapped: %w", &Exception{Class: "throw", Reason: Atom("ball"), Stack: stack}), &Exception{Class: "throw", Reason: Atom("ball")},
			Atom("ball"), Tuple{Tuple{Atom("nocatch"), Atom("ball")}, frame}},
		{&Exception{Class: "exit", Reason: Atom("bye")}, &Exception{Class: "exit", Reason: Atom("bye")},
			Tuple{Atom("badrpc"), Tuple{Atom("EXIT"), Atom("bye")}}, Atom("bye")},
		{&Exception{Class: "error", Reason: Atom("badarg"), Stack: stack}, &Exception{Class: "error", Reason: Atom("badarg"), Stack: stack},
			Tuple{Atom("badrpc"), Tuple{Atom("EXIT"), Tuple{Atom("badarg"), stack}}}, Tuple{Atom("badarg"), stack}},
		{&Exception{Class: "oops", Reason: Atom("r")}, &Exception{Class: "error", Reason: Atom("r"), Stack: frame},
			Tuple{Atom("badrpc"), Tuple{Atom("EXIT"), Tuple{Atom("r"), frame}}}, Tuple{Atom("r"), frame}},
		{&Exception{Class: "exit", Reason: Atom("killed"), Signal: true}, &Exception{Class: "exit", Reason: Atom("killed"), Signal: true},
			Tuple{Atom("badrpc"), Tuple{Atom("EXIT"), Atom("killed")}}, Atom("killed")},
	}
	for _, tt := range tests {
		got := exceptionOf(tt.err, frame)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("exceptionOf(%v) = %#v, want %#v", tt.err, got, tt.want)
			continue
		}
		if r := rpcResult(got); !reflect.DeepEqual(r, tt.rpc) {
			t.Errorf("rpcResult(%v) = %v, want %v", got, r, tt.rpc)
		}
		if r := processExit(got, "m", "f", 1); !reflect.DeepEqual(r, tt.process) {
			t.Errorf("processExit(%v) = %v, want %v", got, r, tt.process)
		}
	}
	// An exception that cannot be sent becomes one that can.
	got := exceptionOf(&Exception{Class: "exit", Reason: nil}, frame)
	if got.Class != "error" || !reflect.DeepEqual(got.Stack, frame) {
		t.Errorf("exceptionOf(exit with a nil reason) = %#v, want an error with stack %v", got, frame)
	}
	if _, ok := got.Reason.(Binary); !ok {
		t.Errorf("exceptionOf(exit with a nil reason) has reason %#v, want a binary", got.Reason)
	}
}

// TestERPCNotsup calls a peer whose connection lacks FlagSpawn (a node
// older than OTP 23): erpc's notsup, without a request sent.
func TestERPCNotsup(t *testing.T) {
	env := newDeliverEnvFlags(t, DefaultFlags)
	n := env.l.node
	var e *ERPCError
	if _, err := n.ERPCCall(context.Background(), "b@host", "m", "f", nil); !errors.As(err, &e) || e.Reason != Atom("notsup") {
		t.Errorf("ERPCCall(peer without FlagSpawn) = %v, want an *ERPCError notsup", err)
	}
	if err := n.ERPCCast(context.Background(), "b@host", "m", "f", nil); !errors.As(err, &e) || e.Reason != Atom("notsup") {
		t.Errorf("ERPCCast(peer without FlagSpawn) = %v, want an *ERPCError notsup", err)
	}
}
