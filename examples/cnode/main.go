// Command cnode is a C-node written in Go: a hidden Erlang node that
// registers with epmd and answers gen_server calls from Erlang processes.
//
// Start epmd (erl starts it) and the C-node, then call it from an Erlang
// shell on the same host:
//
//	$ go run ./examples/cnode -name gocnode -cookie secret
//	cnode: gocnode@myhost ready
//
//	$ erl -sname n1 -setcookie secret
//	(n1@myhost)1> gen_server:call({cnode, 'gocnode@myhost'}, {add, 1, 2}).
//	3
//
// Its process is registered as cnode. It answers the requests {add, A, B},
// {mul, A, B} (integers), {echo, Term} and ping; anything else gets
// {error, {unknown_request, Req}}. Other messages are ignored. It runs
// until interrupted.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/goei/goei/ei"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "cnode: %v\n", err)
		os.Exit(1)
	}
}

// run serves until ctx ends. It prints "cnode: NAME ready" on stdout once
// the node is registered with epmd.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cnode", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "gocnode", "node `name`, alive or alive@host")
	cookie := fs.String("cookie", "", "magic cookie; empty means ~/.erlang.cookie")
	addr := fs.String("addr", ":0", "`address` to listen on for distribution")
	verbose := fs.Bool("v", false, "log connections and messages to stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if !strings.Contains(*name, "@") {
		host, err := os.Hostname()
		if err != nil {
			return err
		}
		host, _, _ = strings.Cut(host, ".") // erl -sname uses the short name
		*name += "@" + host
	}
	logger := slog.New(slog.DiscardHandler)
	if *verbose {
		// Connections come and go at level Debug.
		logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}

	node := &ei.Node{Name: *name, Cookie: *cookie, Logger: logger}
	defer node.Close()
	l, err := node.Listen(ctx, *addr)
	if err != nil {
		return err
	}
	defer l.Close()
	if err := l.Publish(ctx); err != nil {
		return err
	}
	// After Publish, so that its pid has epmd's creation.
	mb, err := node.NewMailbox("cnode")
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "cnode: %s ready\n", node.Name)

	for {
		msg, err := mb.Receive(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		logger.Info("message", "msg", msg)
		if req, from, ok := ei.ParseCall(msg); ok {
			if err := mb.Reply(ctx, from, reply(req)); err != nil {
				logger.Info("reply failed", "to", from.Pid, "err", err)
			}
		}
	}
}

// reply computes the answer to a request.
func reply(req ei.Term) ei.Term {
	switch r := req.(type) {
	case ei.Atom:
		if r == "ping" {
			return ei.Atom("pong")
		}
	case ei.Tuple:
		switch {
		case len(r) == 2 && r[0] == ei.Atom("echo"):
			return r[1]
		case len(r) == 3 && (r[0] == ei.Atom("add") || r[0] == ei.Atom("mul")):
			a, okA := toBig(r[1])
			b, okB := toBig(r[2])
			if !okA || !okB {
				return ei.Tuple{ei.Atom("error"), ei.Atom("badarith")}
			}
			if r[0] == ei.Atom("add") {
				return fromBig(a.Add(a, b))
			}
			return fromBig(a.Mul(a, b))
		}
	}
	return ei.Tuple{ei.Atom("error"), ei.Tuple{ei.Atom("unknown_request"), req}}
}

// toBig converts an Erlang integer, small or big, to a new *big.Int.
func toBig(t ei.Term) (*big.Int, bool) {
	switch n := t.(type) {
	case int64:
		return big.NewInt(n), true
	case *big.Int:
		return new(big.Int).Set(n), true
	}
	return nil, false
}

// fromBig returns x as int64 when it fits, as the decoder would.
func fromBig(x *big.Int) ei.Term {
	if x.IsInt64() {
		return x.Int64()
	}
	return x
}
