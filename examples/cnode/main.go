// Command cnode is a C-node written in Go: a hidden Erlang node that
// registers with epmd and answers requests from Erlang processes.
//
// Start epmd (erl starts it) and the C-node, then call it from an Erlang
// shell on the same host:
//
//	$ go run ./examples/cnode -name gocnode -cookie secret
//	cnode: gocnode@myhost ready
//
//	$ erl -sname n1 -setcookie secret
//	(n1@myhost)1> {any, 'gocnode@myhost'} ! {call, self(), {add, 1, 2}}.
//	(n1@myhost)2> flush().
//	Shell got {<9629.1.0>,3}
//
// Any registered name reaches it. It answers {call, From, Request} with
// From ! {Self, Reply}, where Request is {add, A, B}, {mul, A, B} (integers),
// {echo, Term} or ping; anything else gets {error, {unknown_request, Req}}.
// Other messages are ignored. It runs until interrupted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"os"
	"os/signal"
	"strings"
	"sync"
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
		logger = slog.New(slog.NewTextHandler(stderr, nil))
	}

	node := &ei.Node{Name: *name, Cookie: *cookie, Logger: logger}
	l, err := node.Listen(ctx, *addr)
	if err != nil {
		return err
	}
	defer l.Close()
	if err := l.Publish(ctx); err != nil {
		return err
	}
	self, err := node.Pid() // after Publish, so it has epmd's creation
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "cnode: %s ready\n", node.Name)

	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		conn, err := l.Accept(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		logger.Info("connected", "peer", conn.Peer())
		wg.Add(1)
		go func() {
			defer wg.Done()
			serve(ctx, conn, self, logger)
		}()
	}
}

// serve answers the requests arriving on conn until ctx ends or the peer
// goes away, and then closes conn.
func serve(ctx context.Context, conn *ei.Conn, self ei.Pid, logger *slog.Logger) {
	defer conn.Close()
	for {
		m, err := conn.Receive(ctx)
		if err != nil {
			if ctx.Err() == nil {
				logger.Info("disconnected", "peer", conn.Peer(), "err", err)
			}
			return
		}
		logger.Info("message", "peer", conn.Peer(), "control", m.Control, "payload", m.Payload)
		msg, ok := m.Payload.(ei.Tuple)
		if !ok || len(msg) != 3 || msg[0] != ei.Atom("call") {
			continue
		}
		from, ok := msg[1].(ei.Pid)
		if !ok {
			continue
		}
		if err := conn.Send(ctx, from, ei.Tuple{self, reply(msg[2])}); err != nil {
			logger.Info("reply failed", "peer", conn.Peer(), "err", err)
			if errors.Is(err, ei.ErrClosed) {
				return
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
