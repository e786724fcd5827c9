package main

import (
	"bufio"
	"context"
	"io"
	"math/big"
	"strconv"
	"strings"
	"testing"

	"github.com/goei/goei/ei"
	"github.com/goei/goei/internal/erltest"
)

func TestReply(t *testing.T) {
	big1, _ := new(big.Int).SetString("9223372036854775808", 10) // 2^63
	tests := []struct {
		req  ei.Term
		want ei.Term
	}{
		{ei.Atom("ping"), ei.Atom("pong")},
		{ei.Tuple{ei.Atom("add"), int64(1), int64(2)}, int64(3)},
		{ei.Tuple{ei.Atom("mul"), int64(6), int64(-7)}, int64(-42)},
		{ei.Tuple{ei.Atom("add"), int64(1<<63 - 1), int64(1)}, big1},
		{ei.Tuple{ei.Atom("add"), big1, int64(-1)}, int64(1<<63 - 1)},
		{ei.Tuple{ei.Atom("add"), int64(1), ei.Atom("x")}, ei.Tuple{ei.Atom("error"), ei.Atom("badarith")}},
		{ei.Tuple{ei.Atom("echo"), ei.String("hi")}, ei.String("hi")},
		{ei.Atom("pong"), ei.Tuple{ei.Atom("error"), ei.Tuple{ei.Atom("unknown_request"), ei.Atom("pong")}}},
		{ei.Tuple{}, ei.Tuple{ei.Atom("error"), ei.Tuple{ei.Atom("unknown_request"), ei.Tuple{}}}},
	}
	for _, tt := range tests {
		got := reply(tt.req)
		g, err1 := ei.Marshal(got)
		w, err2 := ei.Marshal(tt.want)
		if err1 != nil || err2 != nil || string(g) != string(w) {
			t.Errorf("reply(%v) = %v, want %v", tt.req, got, tt.want)
		}
	}
}

func TestRunBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-nope"}, {"extra"}, {"-addr"}} {
		err := run(context.Background(), args, io.Discard, io.Discard)
		if err == nil {
			t.Errorf("run(%q) = nil, want an error", args)
		}
	}
}

// TestCNodeWithErl runs the C-node and has a real erl node call it.
func TestCNodeWithErl(t *testing.T) {
	erltest.Need(t, "erl")
	epmdPort := erltest.StartEPMD(t)
	t.Setenv("ERL_EPMD_PORT", strconv.Itoa(epmdPort))
	name := erltest.UniqueName("cnode") + "@" + erltest.Host(t)

	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-name", name, "-cookie", "c", "-addr", "127.0.0.1:0"}, pw, io.Discard)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run = %v, want nil after cancel", err)
		}
	})
	line, err := bufio.NewReader(pr).ReadString('\n')
	if want := "cnode: " + name + " ready\n"; line != want {
		t.Fatalf("cnode printed %q, %v, want %q", line, err, want)
	}
	go io.Copy(io.Discard, pr)

	// The requests come from a fresh erl, which connects to the C-node;
	// a message that is not a call is ignored.
	expr := `Node = '` + name + `',
		{cnode, Node} ! {call, self(), ping},
		Call = fun(Req) -> gen_server:call({cnode, Node}, Req, 10000) end,
		io:format("~p~n", [[Call(ping), Call({add, 1, 2}), Call({mul, 1 bsl 62, 4}), Call({echo, {a, "b", <<"c">>}}), Call(what)]])`
	out := erltest.Eval(t, epmdPort, expr, "-sname", erltest.UniqueName("caller"), "-setcookie", "c")
	want := `[pong,3,18446744073709551616,{a,"b",<<"c">>},{error,{unknown_request,what}}]`
	if got := strings.TrimSpace(out); got != want {
		t.Errorf("erl calling the C-node printed %q, want %q", got, want)
	}
}
