// Command erl_call is a cgo-free equivalent of OTP's erl_call, built on
// package ei. It calls functions on a distributed Erlang node, evaluates
// expressions on it, compiles modules on it, and starts and halts it:
//
//	erl_call -sname n1 -a 'erlang length [[a,b,c]]'
//	echo 'X = 1, Y = 2, {X, Y}.' | erl_call -sname n1 -e
//	erl_call -s -sname n2 -c secret -a 'erlang node'
//	erl_call -sname n2 -q
//
// It takes OTP's options and prints what OTP's erl_call prints, with the
// same exit status: results as erl_interface's ei_print_term prints them
// (not io:format's ~p), without a final newline; the same usage text; the
// same first line on stderr for each error, followed by its cause on a
// line of its own. Run erl_call -? for the options. The differences, all
// deliberate, are listed in the README: the -a arguments are read as
// Erlang terms (ei.ParseTerm), so binaries, maps, escapes and exponents
// work; -d traces the distribution protocol on stderr; -s does not start a
// node that runs but refused the connection; erl's -proto_dist and
// -ssl_dist_optfile connect over IPv6 or TLS. $ERL_EPMD_PORT says where
// epmd listens, as for erl.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// Like C's stdio, buffer stdout unless it is a terminal: what is
	// buffered is lost when -timeout kills the program.
	var stdout io.Writer = os.Stdout
	var buf *bufio.Writer
	if fi, err := os.Stdout.Stat(); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		buf = bufio.NewWriterSize(os.Stdout, 8192)
		stdout = buf
	}
	err := run(ctx, os.Args, os.Stdin, stdout, os.Stderr)
	stop()
	if errors.Is(err, errAlarm) {
		dieByAlarm()
	}
	if buf != nil {
		buf.Flush()
	}
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
