// Command hidden is a hidden Erlang node written in Go: it looks up a node
// with epmd, calls a function on it and sends a message to one of its
// registered processes from a mailbox, which receives the answer.
//
// Start a node, registering a process that answers {From, hello}:
//
//	$ erl -sname n1 -setcookie secret -eval '
//	    register(inbox, spawn(fun Loop() ->
//	        receive {From, hello} -> From ! {hello, node()}, Loop() end end))'
//
// then, on the same host:
//
//	$ go run ./examples/hidden -peer n1 -cookie secret -to inbox
//	n1@myhost listens on port 37313 (normal node, distribution versions 5-6)
//	rpc erlang:system_info(otp_release) = "25"
//	sent {<gohidden@myhost.2.0>,hello} to inbox
//	received {hello,n1@myhost}
//
// Without -to it stops after the rpc. Being hidden, it does not show in
// the peer's nodes(), only in nodes(hidden).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/goei/goei/ei"
	"github.com/goei/goei/epmd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "hidden: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hidden", flag.ContinueOnError)
	fs.SetOutput(stderr)
	peer := fs.String("peer", "", "`node` to connect to, alive or alive@host (required)")
	name := fs.String("name", "gohidden", "our node `name`, alive or alive@host")
	cookie := fs.String("cookie", "", "magic cookie; empty means ~/.erlang.cookie")
	to := fs.String("to", "", "registered `name` on the peer to send {Self, hello} to")
	timeout := fs.Duration("timeout", 10*time.Second, "how long to wait for each step")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *peer == "" || fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("-peer is required and takes no arguments")
	}
	host, err := os.Hostname()
	if err != nil {
		return err
	}
	host, _, _ = strings.Cut(host, ".") // erl -sname uses the short name
	if !strings.Contains(*peer, "@") {
		*peer += "@" + host
	}
	if !strings.Contains(*name, "@") {
		*name += "@" + host
	}
	alive, peerHost, _ := strings.Cut(*peer, "@")

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	// Ask epmd on the peer's host where the node listens. The zero
	// epmd.Client would ask localhost at $ERL_EPMD_PORT or 4369.
	info, err := (&epmd.Client{Host: peerHost}).PortPlease(ctx, alive)
	if err != nil {
		return err
	}
	kind := "normal node"
	if info.Type == epmd.NodeTypeHidden {
		kind = "hidden node"
	}
	fmt.Fprintf(stdout, "%s listens on port %d (%s, distribution versions %d-%d)\n",
		*peer, info.Port, kind, info.LowestVersion, info.HighestVersion)

	// The node connects on first use, asking epmd again, and keeps one
	// connection to the peer for the rpc and the messages.
	node := &ei.Node{Name: *name, Cookie: *cookie}
	defer node.Close()
	release, err := node.RPC(ctx, ei.Atom(*peer), "erlang", "system_info", ei.List{ei.Atom("otp_release")})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "rpc erlang:system_info(otp_release) = %s\n", ei.FormatTerm(release))

	if *to == "" {
		return nil
	}
	mb, err := node.NewMailbox("")
	if err != nil {
		return err
	}
	msg := ei.Tuple{mb.Pid(), ei.Atom("hello")}
	if err := mb.Send(ctx, ei.RegName{Name: ei.Atom(*to), Node: ei.Atom(*peer)}, msg); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "sent %v to %s\n", msg, *to) // a Tuple prints in Erlang syntax
	reply, err := mb.Receive(ctx)
	if err != nil {
		return fmt.Errorf("waiting for a reply: %w", err)
	}
	fmt.Fprintf(stdout, "received %s\n", ei.FormatTerm(reply))
	return nil
}
