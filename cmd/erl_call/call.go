package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"

	"github.com/goei/goei/ei"
)

// printResult writes reply as erl_call does, with ei_print_term. Like
// erl_call it prints only the part before anything ei_print_term cannot
// print, and reports no error.
func printResult(stdout io.Writer, reply ei.Term) {
	b, _ := ei.AppendPrintTerm(nil, reply)
	stdout.Write(b)
}

// call calls mod:fun(args...) on the node and returns the result, giving a
// {badrpc, Reason} reply back as a term, as erl_call prints it. With
// fetchStdout, what the call prints goes to stdout. Args that are not a
// list are sent as they are, as erl_call does, for rex to refuse.
func call(ctx context.Context, c *ei.Conn, fetchStdout bool, mod, fun ei.Atom, args ei.Term, stdout io.Writer) (ei.Term, error) {
	if fetchStdout {
		return callRex(ctx, c, mod, fun, args, "send_stdout_to_caller", stdout)
	}
	list, ok := args.(ei.List)
	if !ok {
		return callRex(ctx, c, mod, fun, args, "user", stdout)
	}
	reply, err := c.RPC(ctx, mod, fun, list)
	var rerr *ei.RPCError
	if errors.As(err, &rerr) {
		return ei.Tuple{ei.Atom("badrpc"), rerr.Reason}, nil
	}
	return reply, err
}

// callRex makes an rpc call the way ei.Conn.RPC does, but with any
// arguments and group leader: it sends {Self, {call, Mod, Fun, Args,
// GroupLeader}} to rex and returns the Result of the {rex, Result} sent
// back. With the group leader send_stdout_to_caller, as erl_interface's
// ei_xrpc_to with EI_RPC_FETCH_STDOUT uses, the output of the call arrives
// first as {rex_stdout, Binary} messages, which callRex writes to stdout.
func callRex(ctx context.Context, c *ei.Conn, mod, fun ei.Atom, args ei.Term, gl ei.Atom, stdout io.Writer) (ei.Term, error) {
	self, err := c.Node().Pid()
	if err != nil {
		return nil, err
	}
	req := ei.Tuple{self, ei.Tuple{ei.Atom("call"), mod, fun, args, gl}}
	if err := c.RegSend(ctx, self, "rex", req); err != nil {
		return nil, err
	}
	for {
		m, err := c.Receive(ctx)
		if err != nil {
			return nil, err
		}
		t, ok := m.Payload.(ei.Tuple)
		if m.To() != self || !ok || len(t) != 2 {
			continue
		}
		switch t[0] {
		case ei.Atom("rex_stdout"):
			if b, ok := t[1].(ei.Binary); ok {
				stdout.Write(b)
			}
		case ei.Atom("rex"):
			return t[1], nil
		}
	}
}

// readAll reads r to its end, or until ctx ends (for -timeout).
func readAll(ctx context.Context, r io.Reader) ([]byte, error) {
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := io.ReadAll(r)
		done <- result{b, err}
	}()
	select {
	case res := <-done:
		return res.b, res.err
	case <-ctx.Done():
		return nil, ctx.Err() // the reading goroutine ends with the program
	}
}

// splitApply splits -a "Mod [Fun [Args]]" at white space, as erl_call
// does: Fun defaults to start and Args to [].
func splitApply(s string) (mod, fun, args string, err error) {
	s = strings.TrimLeftFunc(s, isSpace)
	if s == "" {
		return "", "", "", errors.New("wrong format of apply string (1)")
	}
	mod, s = cut(s)
	fun, s = cut(s)
	if fun == "" {
		fun = "start"
	}
	args = strings.TrimRightFunc(s, isSpace)
	if args == "" {
		args = "[]"
	}
	return mod, fun, args, nil
}

func isSpace(r rune) bool {
	return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\f' || r == '\v'
}

// cut returns the first word of s and the rest after the white space
// that follows it.
func cut(s string) (string, string) {
	i := strings.IndexFunc(s, isSpace)
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimLeftFunc(s[i:], isSpace)
}

// moduleName finds the name in "-module(Name)", as erl_call -m does.
func moduleName(src []byte) string {
	_, rest, ok := bytes.Cut(src, []byte("-module("))
	if !ok {
		return ""
	}
	rest = bytes.TrimLeft(rest, " ")
	n := 0
	for n < len(rest) && isModuleChar(rest[n]) {
		n++
	}
	return string(rest[:n])
}

// isModuleChar reports whether erl_call -m takes c as part of a module
// name: C's isalnum or '_'.
func isModuleChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
}
