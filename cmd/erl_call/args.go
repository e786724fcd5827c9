package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// config is what the command line asks for.
type config struct {
	node        string // -sname, -name or -n: the node to talk to
	longNames   bool   // -name or -n rather than -sname
	addrHost    string // -address HOST:PORT: host part, "" for this host
	addrPort    int    // -address: port, 0 when not given
	cookie      string // -c
	cookieSet   bool   // -c was given, even empty; else ~/.erlang.cookie
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

// usageError is a bad command line. run prints Msg, the line OTP's
// erl_call prints, then Cause if any, then the usage, and exits with 1.
type usageError struct {
	Msg   string
	Cause string
}

func (e *usageError) Error() string { return e.Msg }

// errUsage asks for the usage alone, and exit status 0: for -?, for no
// node, and for options that cannot be combined, as OTP's erl_call does.
var errUsage = errors.New("usage")

// maxTimeout bounds -timeout, as in erl_call (alarm's range).
const maxTimeout = 1<<20 - 1

// parseArgs reads erl_call's options, which, unlike Go flags, mix
// multi-letter single-dash options (-sname) with one-letter ones (-s). It
// checks them in OTP's order, with OTP's messages: the first bad option
// ends the parse.
func parseArgs(args []string) (config, error) {
	var cfg config
	for i := 0; i < len(args); i++ {
		arg := args[i]
		value := func(name string) (string, error) {
			if i+1 >= len(args) {
				return "", &usageError{Msg: fmt.Sprintf("Missing argument(s) for '%s '.", name)}
			}
			i++
			return args[i], nil
		}
		var err error
		switch {
		case !strings.HasPrefix(arg, "-"):
			err = &usageError{Msg: fmt.Sprintf("Illegal argument '%s'.", arg)}
		case arg == "-sname" || arg == "-name" || arg == "-n":
			cfg.node, err = value(arg)
			cfg.longNames = arg != "-sname"
		case arg == "-address":
			var v string
			if v, err = value(arg); err == nil {
				cfg.addrHost, cfg.addrPort, err = parseAddress(v)
			}
		case arg == "-timeout":
			var v string
			if v, err = value(arg); err == nil {
				secs := strtol(v)
				if secs <= 0 || secs > maxTimeout {
					err = &usageError{Msg: "Illegal argument '-timeout'.",
						Cause: fmt.Sprintf("erl_call: -timeout takes seconds from 1 to %d, not %q", maxTimeout, v)}
				}
				cfg.timeout = time.Duration(secs) * time.Second
			}
		case arg == "-proto_dist" || arg == "-ssl_dist_optfile":
			// Not OTP's erl_call options: erl's, for IPv6 and TLS.
			var v string
			if v, err = value(arg); arg == "-proto_dist" {
				cfg.protoDist = v
			} else {
				cfg.sslOptFile = v
			}
		case arg == "-fetch_stdout":
			cfg.fetchStdout = true
		case arg == "-no_result_term":
			cfg.noResult = true
		case arg == "-__uh_test__":
			// OTP's test switch for its fallback when this host's name
			// does not resolve; that fallback is always on here.
		case len(arg) != 2:
			err = &usageError{Msg: fmt.Sprintf("Illegal argument '%s'.", arg)}
		default:
			err = cfg.letter(arg[1], value)
		}
		if err != nil {
			return cfg, err
		}
	}
	if cfg.module && cfg.eval || cfg.addrPort != 0 && (cfg.start || cfg.node != "") {
		return cfg, errUsage
	}
	return cfg, nil
}

// letter handles a one-letter option, -c or -s say.
func (cfg *config) letter(c byte, value func(string) (string, error)) error {
	var err error
	switch c {
	case 's':
		cfg.start = true
	case 'q':
		cfg.halt = true
	case 'v':
		cfg.verbose = true
	case 'd':
		cfg.debug = true
	case 'r':
		cfg.random = true
	case 'R':
		cfg.dynamic = true
	case 'e':
		cfg.eval = true
	case 'm':
		cfg.module = true
	case 'c':
		cfg.cookie, err = value("-c")
		cfg.cookieSet = true
	case 'h':
		cfg.hidden, err = value("-h")
	case 'x':
		cfg.script, err = value("-x")
	case 'a':
		cfg.apply, err = value("-a")
		cfg.applySet = true
	case '?':
		return errUsage
	default:
		return &usageError{Msg: fmt.Sprintf("Illegal argument '-%c'.", c)}
	}
	return err
}

// parseAddress splits -address [HOST:]PORT at the first colon, as
// erl_call does, and reads PORT as C's strtol would. Unlike erl_call it
// also takes an IPv6 address in brackets, [::1]:PORT.
func parseAddress(v string) (string, int, error) {
	host, port := "", v
	if rest, ok := strings.CutPrefix(v, "["); ok && strings.Contains(rest, "]:") {
		host, port, _ = strings.Cut(rest, "]:")
	} else if h, p, ok := strings.Cut(v, ":"); ok {
		host, port = h, p
	}
	n := strtol(port)
	if n < 1 || n > 65535 {
		return "", 0, &usageError{Msg: "Illegal argument '-address'.",
			Cause: fmt.Sprintf("erl_call: -address takes [HOST:]PORT with PORT from 1 to 65535, not %q", v)}
	}
	return host, int(n), nil
}

// strtol reads a decimal integer at the start of s as C's strtol does:
// after white space and a sign, as many digits as there are; 0 if none.
// Values beyond the int64 range are clamped.
func strtol(s string) int64 {
	s = strings.TrimLeft(s, " \t\n\v\f\r")
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	var n int64
	for i := 0; i < len(s) && '0' <= s[i] && s[i] <= '9'; i++ {
		if n > (1<<63-1-int64(s[i]-'0'))/10 {
			n = 1<<63 - 1
			continue
		}
		n = n*10 + int64(s[i]-'0')
	}
	if neg {
		return -n
	}
	return n
}

// printUsage writes OTP's erl_call usage text, naming the program prog
// (argv[0]) where erl_call does. The text is OTP's byte for byte,
// trailing space included.
func printUsage(w io.Writer, prog string) {
	fmt.Fprintf(w, usageText, prog)
}

// usageText is OTP's erl_call usage (the same from OTP 25 to 29), with
// %[1]s for the program name.
const usageText = `
Usage: %[1]s [-[demqrsv]] [-c Cookie] [-h HiddenName] 
            [-x ErlScript] [-a [Mod [Fun [Args]]]] [-timeout Secs]
            (-n Node | -sname Node | -name Node | -address [HOSTNAME:]PORT)

  where: -a  apply(Mod,Fun,Args) (e.g -a 'erlang length [[a,b,c]]'
         -c  cookie string; by default read from ~/.erlang.cookie
         -d  direct Erlang output to ~/.erl_call.out.<Nodename>
         -e  evaluate contents of standard input (e.g., echo "X=1,Y=2,{X,Y}."|%[1]s -e ...)
         -fetch_stdout
           execute the code, specified with the -a or -e option, in a new
           process that has a group leader that forwards all stdout (standard
           output) data so that it is printed to stdout of the
           %[1]s process. See the %[1]s man page for additional information.
         -h  specify a name for the erl_call client node
         -m  read and compile Erlang module from stdin
         -n  name of Erlang node, same as -name
         -name  name of Erlang node, expanded to a fully qualified
         -sname name of Erlang node, short form will be used
         -address [HOSTNAME:]PORT of Erlang node
                  (the default hostname is the hostname of the local manchine)
                  (e.g., %[1]s -address my_host:36303 ...)
                  (cannot be combinated with -s, -n, -name and -sname)
         -no_result_term  do not print the result term
         -timeout  command timeout, in seconds
         -q  halt the Erlang node (overrides the -s switch)
         -r  use a random name for the erl_call client node
         -s  start a new Erlang node if necessary
         -v  verbose mode, i.e print some information on stderr
         -x  use specified erl start script, default is erl
`
