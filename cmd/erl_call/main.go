// Command erl_call is a cgo-free equivalent of OTP's erl_call, built on
// package ei. It calls functions on a distributed Erlang node, evaluates
// expressions on it, compiles modules on it, and starts and halts it:
//
//	erl_call -sname n1 -a 'erlang length [[a,b,c]]'
//	echo 'X = 1, Y = 2, {X, Y}.' | erl_call -sname n1 -e
//	erl_call -s -sname n2 -c secret -a 'erlang node'
//	erl_call -sname n2 -q
//
// It takes OTP 25's options and prints results as erl_call does (with
// erl_interface's ei_print_term, not io:format's ~p, and no final newline).
// Run erl_call -? for the list. Differences: the -a arguments are read as
// Erlang terms, so binaries, maps, escapes and exponents work; -d traces the
// distribution protocol on stderr; -proto_dist and -ssl_dist_optfile, as
// erl's, connect over IPv6 or TLS. $ERL_EPMD_PORT says where epmd listens,
// as for erl.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	var code exitCode
	switch {
	case err == nil:
	case errors.As(err, &code):
		os.Exit(int(code))
	default:
		fmt.Fprintf(os.Stderr, "erl_call: %v\n", err)
		os.Exit(1)
	}
}
