// Command epmd is a drop-in replacement for OTP's epmd, the Erlang Port
// Mapper Daemon, built on package epmd. It takes the same options and
// prints the same text:
//
//	epmd [-d|-debug] [DbgExtra...] [-address List] [-port No] [-daemon] [-relaxed_command_check]
//	epmd [-d|-debug] [-port No] [-names|-kill|-stop name]
//
// Unlike OTP's epmd it registers any number of nodes. -daemon starts a new
// copy of the program in its own session, as Go cannot fork. It logs to
// standard error: by default after the events OTP's epmd reports without
// -d (malformed requests, connections closed before their request was
// whole), registrations with one -d, every request with two.
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
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	var code exitCode
	switch {
	case err == nil:
	case errors.As(err, &code):
		os.Exit(int(code))
	default:
		fmt.Fprintf(os.Stderr, "epmd: %v\n", err)
		os.Exit(1)
	}
}
