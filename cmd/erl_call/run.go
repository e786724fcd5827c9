package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/goei/goei/ei"
)

// exitCode ends the program with a status after run has printed what it
// had to say.
type exitCode int

func (e exitCode) Error() string { return "exit status " + strconv.Itoa(int(e)) }

// errAlarm says that -timeout ran out. erl_call is then killed by
// SIGALRM, with nothing more printed; main does the same.
var errAlarm = errors.New("timeout")

// failure is an error run reports as erl_call does: "erl_call: Msg" on
// stderr, the line OTP's erl_call prints, then the cause, if any, on a
// line of its own, and exit status Code.
type failure struct {
	Code  int
	Msg   string
	Cause error
}

func (f *failure) Error() string { return f.Msg }

func fail(code int, cause error, format string, args ...any) *failure {
	return &failure{Code: code, Msg: fmt.Sprintf(format, args...), Cause: cause}
}

// run is erl_call. argv is the whole command line, program name first,
// as in os.Args. It connects to a node, or starts one with -s, and then in
// this order halts it (-q), compiles a module read from stdin (-m),
// evaluates expressions read from stdin (-e) and applies a function (-a),
// printing results as erl_call does, without a trailing newline. Errors
// are printed to stderr and returned as an exitCode; when -timeout runs
// out it prints nothing more and returns errAlarm.
func run(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) error {
	prog := "erl_call"
	if len(argv) > 0 {
		prog, argv = argv[0], argv[1:]
	}
	cfg, err := parseArgs(argv)
	var uerr *usageError
	switch {
	case errors.As(err, &uerr):
		fmt.Fprintln(stderr, uerr.Msg)
		if uerr.Cause != "" {
			fmt.Fprintln(stderr, uerr.Cause)
		}
		printUsage(stderr, prog)
		return exitCode(1)
	case err != nil:
		printUsage(stderr, prog)
		return nil
	}
	if cfg.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.timeout)
		defer cancel()
	}
	err = erlCall(ctx, cfg, prog, stdin, stdout, stderr)
	if cfg.timeout > 0 && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return errAlarm
	}
	var f *failure
	if errors.As(err, &f) {
		fmt.Fprintf(stderr, "erl_call: %s\n", f.Msg)
		if f.Cause != nil {
			fmt.Fprintln(stderr, f.Cause)
		}
		return exitCode(f.Code)
	}
	return err
}

// erlCall does the work of run once the command line is read.
func erlCall(ctx context.Context, cfg config, prog string, stdin io.Reader, stdout, stderr io.Writer) error {
	var module []byte
	var modName string
	if cfg.module {
		var err error
		if module, err = readAll(ctx, stdin); err != nil {
			return fail(1, err, "can't read stdin")
		}
		modName = moduleName(module)
	}
	if cfg.verbose || cfg.debug {
		flag := func(on bool, name string) string {
			if on {
				return name
			}
			return ""
		}
		fmt.Fprintf(stderr, "erl_call: node = %s\nCookie = %s\nflags = %s %s %s\nmodule: name = %s , size = %d\napply = %s\n",
			cfg.node, cfg.cookie, flag(cfg.start, "startp"), flag(cfg.verbose, "verbosep"), flag(cfg.debug, "debugp"),
			modName, len(module), cfg.apply)
	}
	if cfg.node == "" && cfg.addrPort == 0 {
		printUsage(stderr, prog)
		return nil
	}

	thisHost := localHost(ctx, cfg.longNames)
	node := &ei.Node{Name: ourAlive(cfg) + "@" + thisHost, Cookie: cfg.cookie, AcceptAnyPeerName: true}
	if err := setTransport(node, cfg.protoDist, cfg.sslOptFile); err != nil {
		return fail(1, nil, "%v", err)
	}
	if cfg.debug {
		node.Trace = stderr
		node.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	tgt, err := resolveTarget(ctx, cfg, thisHost)
	if err != nil {
		return err
	}
	conn, err := connect(ctx, cfg, node, tgt, stderr)
	if err != nil || conn == nil {
		return err // conn is nil after -q found no node to halt
	}
	defer conn.Close()

	if cfg.halt {
		// The node halts before it can answer; the error that follows is
		// the connection going down.
		conn.RPC(ctx, "erlang", "halt", ei.List{})
		return nil
	}
	if cfg.verbose {
		fmt.Fprintf(stderr, "erl_call: we are now connected to %s\n", tgt.quoted())
	}

	if cfg.module && modName != "" {
		fname := modName + ".erl"
		if _, err := conn.RPC(ctx, "file", "write_file", ei.List{ei.String(fname), ei.Binary(module)}); err != nil {
			return fail(1, err, "can't write to source file %s", fname)
		}
		if _, err := conn.RPC(ctx, "c", "c", ei.List{ei.Atom(fname), ei.List{}}); err != nil {
			fmt.Fprintf(stderr, "erl_call: can't compile file %s\n%v\n", fname, err)
		}
	}

	if cfg.eval {
		input, err := readAll(ctx, stdin)
		if err != nil {
			return fail(1, err, "can't read stdin")
		}
		reply, err := call(ctx, conn, cfg.fetchStdout, "erl_eval", "eval_str", ei.List{ei.Binary(input)}, stdout)
		if err != nil {
			return fail(1, err, "evaluating input failed: %s", input)
		}
		if !cfg.noResult {
			printResult(stdout, reply)
		}
	}

	if cfg.applySet {
		mod, fun, argText, err := splitApply(cfg.apply)
		if err != nil {
			return fail(1, nil, "%v", err)
		}
		if cfg.verbose {
			fmt.Fprintf(stderr, "erl_call: module = %s, function = %s, args = %s\n", mod, fun, argText)
		}
		t, err := ei.ParseTerm(argText)
		if err != nil {
			return fail(255, err, "Failed to parse arguments,\nsee the documentation for allowed term types.\nArguments: %s", argText)
		}
		reply, err := call(ctx, conn, cfg.fetchStdout, ei.Atom(mod), ei.Atom(fun), t, stdout)
		if err != nil {
			// erl_call says nothing here; -v and -d tell why.
			if cfg.verbose || cfg.debug {
				fmt.Fprintf(stderr, "erl_call: rpc %s:%s failed: %v\n", mod, fun, err)
			}
			return exitCode(255)
		}
		if !cfg.noResult {
			printResult(stdout, reply)
		}
	}
	return nil
}

// ourAlive is the alive name of erl_call's own hidden node: -h, else c17,
// or c and a number below 997 with -r. With -R (and no -h) it is
// "undefined": the node erl_call connects to picks the name, as with
// OTP's erl_call.
func ourAlive(cfg config) string {
	switch {
	case cfg.hidden != "":
		return cfg.hidden
	case cfg.dynamic:
		return "undefined"
	case cfg.random:
		return "c" + strconv.Itoa(int(time.Now().Unix()%997))
	}
	return "c17"
}
