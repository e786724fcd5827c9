package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/goei/goei/ei"
	"github.com/goei/goei/epmd"
)

// exitCode ends the program with a status after run has printed what it
// had to say.
type exitCode int

func (e exitCode) Error() string { return "exit status " + strconv.Itoa(int(e)) }

// config is what the command line asks for.
type config struct {
	node        string // -sname, -name or -n: the node to talk to
	longNames   bool   // -name or -n rather than -sname
	addrHost    string // -address HOST:PORT: host part, "" for this host
	addrPort    int    // -address: port, 0 when not given
	cookie      string // -c; "" means ~/.erlang.cookie
	apply       string // -a
	applySet    bool
	hidden      string // -h: our own node's alive name
	script      string // -x: erl program for -s
	eval        bool   // -e
	module      bool   // -m
	start       bool   // -s
	halt        bool   // -q
	verbose     bool   // -v
	debug       bool   // -d
	random      bool   // -r
	dynamic     bool   // -R
	fetchStdout bool   // -fetch_stdout
	noResult    bool   // -no_result_term
	protoDist   string // -proto_dist, as erl's (see setTransport)
	sslOptFile  string // -ssl_dist_optfile, as erl's
	timeout     time.Duration
}

// usageError is a bad command line; run prints it followed by the usage.
type usageError string

func (e usageError) Error() string { return string(e) }

// parseArgs reads erl_call's options, which, unlike Go flags, mix
// multi-letter single-dash options (-sname) with one-letter ones (-s).
func parseArgs(args []string) (config, error) {
	var cfg config
	for i := 0; i < len(args); i++ {
		arg := args[i]
		value := func() (string, error) {
			if i+1 >= len(args) {
				return "", usageError(fmt.Sprintf("Missing argument(s) for '%s'.", arg))
			}
			i++
			return args[i], nil
		}
		var err error
		switch arg {
		case "-sname", "-name", "-n":
			cfg.node, err = value()
			cfg.longNames = arg != "-sname"
		case "-address":
			var v string
			if v, err = value(); err == nil {
				cfg.addrHost, cfg.addrPort, err = parseAddress(v)
			}
		case "-timeout":
			var v string
			if v, err = value(); err == nil {
				secs, perr := strconv.Atoi(v)
				if perr != nil || secs <= 0 || secs >= 1<<20 {
					err = usageError(fmt.Sprintf("Illegal argument '-timeout %s': want seconds from 1 to %d.", v, 1<<20-1))
				}
				cfg.timeout = time.Duration(secs) * time.Second
			}
		case "-proto_dist":
			cfg.protoDist, err = value()
		case "-ssl_dist_optfile":
			cfg.sslOptFile, err = value()
		case "-fetch_stdout":
			cfg.fetchStdout = true
		case "-no_result_term":
			cfg.noResult = true
		case "-c":
			cfg.cookie, err = value()
			if err == nil && cfg.cookie == "" {
				err = usageError("Illegal argument '-c': the cookie is empty.")
			}
		case "-a":
			cfg.apply, err = value()
			cfg.applySet = true
		case "-h":
			cfg.hidden, err = value()
		case "-x":
			cfg.script, err = value()
		case "-s":
			cfg.start = true
		case "-q":
			cfg.halt = true
		case "-v":
			cfg.verbose = true
		case "-d":
			cfg.debug = true
		case "-r":
			cfg.random = true
		case "-R":
			cfg.dynamic = true
		case "-e":
			cfg.eval = true
		case "-m":
			cfg.module = true
		case "-?", "-help", "--help":
			return cfg, errHelp
		default:
			err = usageError(fmt.Sprintf("Illegal argument '%s'.", arg))
		}
		if err != nil {
			return cfg, err
		}
	}
	switch {
	case cfg.module && cfg.eval:
		return cfg, usageError("Options -m and -e cannot be combined.")
	case cfg.addrPort != 0 && cfg.start:
		return cfg, usageError("Options -address and -s cannot be combined.")
	case cfg.addrPort != 0 && cfg.node != "":
		return cfg, usageError("Options -address and -sname, -name or -n cannot be combined.")
	case cfg.addrPort == 0 && cfg.node == "":
		return cfg, usageError("Missing node: give -sname, -name, -n or -address.")
	case cfg.hidden != "" && !validAlive(cfg.hidden):
		return cfg, usageError(fmt.Sprintf("Illegal argument '-h %s': not a node name.", cfg.hidden))
	case cfg.node != "" && !validAlive(strings.SplitN(cfg.node, "@", 2)[0]):
		return cfg, usageError(fmt.Sprintf("Illegal node name '%s'.", cfg.node))
	}
	return cfg, nil
}

// errHelp asks for the usage text alone.
var errHelp = errors.New("help requested")

// parseAddress splits -address [HOST:]PORT.
func parseAddress(v string) (string, int, error) {
	host, port := "", v
	if i := strings.LastIndexByte(v, ':'); i >= 0 {
		host, port = v[:i], v[i+1:]
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return "", 0, usageError(fmt.Sprintf("Illegal argument '-address %s': want [HOST:]PORT with PORT from 1 to 65535.", v))
	}
	return strings.Trim(host, "[]"), n, nil
}

// validAlive reports whether s can be the part of a node name before '@'.
func validAlive(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r == '-' || r == '.' || unicode.IsLetter(r) || unicode.IsDigit(r)) {
			return false
		}
	}
	return true
}

// run is erl_call: it connects to a node, or starts one with -s, and then
// in this order halts it (-q), compiles a module read from stdin (-m),
// evaluates expressions read from stdin (-e) and applies a function (-a),
// printing results as erl_call does, without a trailing newline. Errors are
// printed to stderr and returned as an exitCode.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	cfg, err := parseArgs(args)
	if err == errHelp {
		io.WriteString(stderr, usageText)
		return nil
	}
	var uerr usageError
	if errors.As(err, &uerr) {
		fmt.Fprintf(stderr, "%s\n%s", uerr, usageText)
		return exitCode(1)
	}
	if cfg.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.timeout)
		defer cancel()
	}
	fail := func(code int, format string, args ...any) error {
		if ctx.Err() == context.DeadlineExceeded && cfg.timeout > 0 {
			fmt.Fprintf(stderr, "erl_call: timed out after %v\n", cfg.timeout)
			return exitCode(1)
		}
		fmt.Fprintf(stderr, "erl_call: "+format+"\n", args...)
		return exitCode(code)
	}

	var module []byte
	var modName string
	if cfg.module {
		if module, err = readAll(ctx, stdin); err != nil {
			return fail(1, "can't read stdin: %v", err)
		}
		modName = moduleName(module)
	}
	if cfg.verbose || cfg.debug {
		var fl []string
		for _, f := range []struct {
			on   bool
			name string
		}{{cfg.start, "startp"}, {cfg.verbose, "verbosep"}, {cfg.debug, "debugp"}} {
			if f.on {
				fl = append(fl, f.name)
			}
		}
		fmt.Fprintf(stderr, "erl_call: node = %s\nCookie = %s\nflags = %s\nmodule: name = %s , size = %d\napply = %s\n",
			cfg.node, cfg.cookie, strings.Join(fl, " "), modName, len(module), cfg.apply)
	}

	thisHost := localHost(ctx, cfg.longNames)
	node := &ei.Node{Name: ourAlive(cfg) + "@" + thisHost, Cookie: cfg.cookie}
	if err := setTransport(node, cfg.protoDist, cfg.sslOptFile); err != nil {
		return fail(1, "%v", err)
	}
	if cfg.debug {
		node.Trace = stderr
		node.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	peer := ""
	if cfg.addrPort == 0 {
		peer = peerName(cfg.node, thisHost, cfg.longNames)
	}
	if cfg.addrHost == "" {
		cfg.addrHost = thisHost
	}
	target := fmt.Sprintf("node %s", peer)
	if peer == "" {
		target = fmt.Sprintf("node with address \"%s:%d\"", cfg.addrHost, cfg.addrPort)
	}

	var conn *ei.Conn
	switch {
	case cfg.start && !cfg.halt:
		conn, err = node.Connect(ctx, peer)
		if notRunning(err) {
			if cfg.verbose {
				fmt.Fprintf(stderr, "erl_call: %s is not running (%v); starting it\n", peer, err)
			}
			if err := startNode(ctx, cfg, peer, stderr); err != nil {
				return fail(1, "unable to start node %s: %v", peer, err)
			}
			conn, err = node.Connect(ctx, peer)
		}
	case peer != "":
		conn, err = node.Connect(ctx, peer)
	default:
		conn, err = connectAddress(ctx, node, net.JoinHostPort(cfg.addrHost, strconv.Itoa(cfg.addrPort)))
	}
	if err != nil {
		if cfg.halt {
			return nil // nothing to halt
		}
		return fail(1, "failed to connect to %s: %v", target, err)
	}
	defer conn.Close()

	if cfg.halt {
		// The node halts before it can answer; the error that follows is
		// the connection going down.
		conn.RPC(ctx, "erlang", "halt", ei.List{})
		return nil
	}
	if cfg.verbose {
		if peer != "" {
			fmt.Fprintf(stderr, "erl_call: we are now connected to node \"%s\"\n", peer)
		} else {
			fmt.Fprintf(stderr, "erl_call: we are now connected to %s\n", target)
		}
	}

	if cfg.module && modName != "" {
		fname := modName + ".erl"
		if _, err := conn.RPC(ctx, "file", "write_file", ei.List{ei.String(fname), ei.Binary(module)}); err != nil {
			return fail(1, "can't write to source file %s: %v", fname, err)
		}
		if _, err := conn.RPC(ctx, "c", "c", ei.List{ei.Atom(fname), ei.List{}}); err != nil {
			fmt.Fprintf(stderr, "erl_call: can't compile file %s: %v\n", fname, err)
		}
	}

	if cfg.eval {
		input, err := readAll(ctx, stdin)
		if err != nil {
			return fail(1, "can't read stdin: %v", err)
		}
		reply, err := call(ctx, conn, cfg.fetchStdout, "erl_eval", "eval_str", ei.List{ei.Binary(input)}, stdout)
		if err != nil {
			return fail(1, "evaluating input failed: %s: %v", input, err)
		}
		if !cfg.noResult {
			printResult(stdout, reply)
		}
	}

	if cfg.applySet {
		mod, fun, argText, err := splitApply(cfg.apply)
		if err != nil {
			return fail(1, "%v", err)
		}
		if cfg.verbose {
			fmt.Fprintf(stderr, "erl_call: module = %s, function = %s, args = %s\n", mod, fun, argText)
		}
		t, err := ei.ParseTerm(argText)
		if err != nil {
			return fail(255, "Failed to parse arguments,\nsee the documentation for allowed term types.\nArguments: %s\n%v", argText, err)
		}
		reply, err := call(ctx, conn, cfg.fetchStdout, ei.Atom(mod), ei.Atom(fun), t, stdout)
		if err != nil {
			return fail(255, "rpc %s:%s failed: %v", mod, fun, err)
		}
		if !cfg.noResult {
			printResult(stdout, reply)
		}
	}
	return nil
}

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

// notRunning reports whether a Connect error says that no node by the
// name runs: epmd does not know it, or there is no epmd to ask. Other
// errors, such as a refused handshake, come from a running node.
func notRunning(err error) bool {
	var oerr *net.OpError
	return errors.Is(err, epmd.ErrNotRegistered) || errors.As(err, &oerr) && oerr.Op == "dial"
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

// localHost is this host's name as erl uses it: the short name, or with
// long names the fully qualified one when it can be found.
func localHost(ctx context.Context, long bool) string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "localhost"
	}
	if !long {
		short, _, _ := strings.Cut(h, ".")
		return short
	}
	if !strings.Contains(h, ".") {
		if cname, err := net.DefaultResolver.LookupCNAME(ctx, h); err == nil {
			if cname = strings.TrimSuffix(cname, "."); strings.Contains(cname, ".") {
				return cname
			}
		}
	}
	return h
}

// peerName completes a node name given to -sname or -name: without a host
// it gets this host's; with short names a host is cut at its first dot.
func peerName(node, thisHost string, long bool) string {
	alive, host, ok := strings.Cut(node, "@")
	if !ok || host == "" {
		return alive + "@" + thisHost
	}
	if !long {
		host, _, _ = strings.Cut(host, ".")
	}
	return alive + "@" + host
}

// usageText describes the options, like OTP 25's erl_call.
const usageText = `
Usage: erl_call [-[demqrsv]] [-c Cookie] [-h HiddenName]
            [-x ErlScript] [-a [Mod [Fun [Args]]]] [-timeout Secs]
            (-n Node | -sname Node | -name Node | -address [HOSTNAME:]PORT)

  where: -a  apply(Mod,Fun,Args) (e.g -a 'erlang length [[a,b,c]]'
         -c  cookie string; by default read from ~/.erlang.cookie
         -d  trace the distribution protocol on stderr, and with -s direct
             Erlang output to ~/.erl_start.out.<Nodename>
         -e  evaluate contents of standard input (e.g., echo "X=1,Y=2,{X,Y}."|erl_call -e ...)
         -fetch_stdout
             execute the code, specified with the -a or -e option, in a new
             process that has a group leader that forwards all stdout (standard
             output) data so that it is printed to stdout of erl_call
         -h  specify a name for the erl_call client node
         -m  read and compile Erlang module from stdin
         -n  name of Erlang node, same as -name
         -name  name of Erlang node, expanded to a fully qualified
         -sname name of Erlang node, short form will be used
         -address [HOSTNAME:]PORT of Erlang node
                  (the default hostname is the hostname of the local machine)
                  (e.g., erl_call -address my_host:36303 ...)
                  (cannot be combined with -s, -n, -name and -sname)
         -no_result_term  do not print the result term
         -timeout  command timeout, in seconds
         -q  halt the Erlang node (overrides the -s switch)
         -r  use a random name for the erl_call client node
         -R  request a dynamic random name for the erl_call client node,
             picked by the node it connects to
         -s  start a new Erlang node if necessary
         -v  verbose mode, i.e print some information on stderr
         -x  use specified erl start script, default is erl
         -proto_dist inet_tcp | inet6_tcp | inet_tls | inet6_tls
             connect over IPv4 or IPv6, over TCP or TLS, as erl's -proto_dist
         -ssl_dist_optfile FILE
             TLS options as for erl; erl_call reads those of the client:
             certfile, keyfile, cacertfile, verify, server_name_indication
`
