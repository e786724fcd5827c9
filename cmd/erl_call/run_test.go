package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestRunUsageErrors(t *testing.T) {
	tests := []struct {
		args  []string
		msg   string // first line on stderr, as OTP's erl_call prints it
		cause string // second line, or "" for none
	}{
		{[]string{"node"}, "Illegal argument 'node'.", ""},
		{[]string{""}, "Illegal argument ''.", ""},
		{[]string{"-"}, "Illegal argument '-'.", ""},
		{[]string{"-z"}, "Illegal argument '-z'.", ""},
		{[]string{"-sn", "x"}, "Illegal argument '-sn'.", ""},
		{[]string{"-help"}, "Illegal argument '-help'.", ""},
		{[]string{"--help"}, "Illegal argument '--help'.", ""},
		{[]string{"-sname"}, "Missing argument(s) for '-sname '.", ""},
		{[]string{"-name"}, "Missing argument(s) for '-name '.", ""},
		{[]string{"-n"}, "Missing argument(s) for '-n '.", ""},
		{[]string{"-sname", "x", "-a"}, "Missing argument(s) for '-a '.", ""},
		{[]string{"-sname", "x", "-c"}, "Missing argument(s) for '-c '.", ""},
		{[]string{"-sname", "x", "-h"}, "Missing argument(s) for '-h '.", ""},
		{[]string{"-sname", "x", "-x"}, "Missing argument(s) for '-x '.", ""},
		{[]string{"-address"}, "Missing argument(s) for '-address '.", ""},
		{[]string{"-timeout"}, "Missing argument(s) for '-timeout '.", ""},
		{[]string{"-sname", "x", "-timeout", "0"}, "Illegal argument '-timeout'.", `erl_call: -timeout takes seconds from 1 to 1048575, not "0"`},
		{[]string{"-sname", "x", "-timeout", "soon"}, "Illegal argument '-timeout'.", `erl_call: -timeout takes seconds from 1 to 1048575, not "soon"`},
		{[]string{"-sname", "x", "-timeout", "1048576"}, "Illegal argument '-timeout'.", `erl_call: -timeout takes seconds from 1 to 1048575, not "1048576"`},
		{[]string{"-address", "0"}, "Illegal argument '-address'.", `erl_call: -address takes [HOST:]PORT with PORT from 1 to 65535, not "0"`},
		{[]string{"-address", "host:65536"}, "Illegal argument '-address'.", `erl_call: -address takes [HOST:]PORT with PORT from 1 to 65535, not "host:65536"`},
		{[]string{"-address", "host:"}, "Illegal argument '-address'.", `erl_call: -address takes [HOST:]PORT with PORT from 1 to 65535, not "host:"`},
		// The first bad option ends the parse.
		{[]string{"-z", "-sname"}, "Illegal argument '-z'.", ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), append([]string{"erl_call"}, tt.args...), strings.NewReader(""), &stdout, &stderr)
			var code exitCode
			if !errors.As(err, &code) || code != 1 {
				t.Errorf("run(%q) = %v, want exit status 1", tt.args, err)
			}
			want := tt.msg + "\n"
			if tt.cause != "" {
				want += tt.cause + "\n"
			}
			want += fmt.Sprintf(usageText, "erl_call")
			if stderr.String() != want {
				t.Errorf("run(%q) printed\n%s\nwant\n%s", tt.args, stderr.String(), want)
			}
			if stdout.Len() != 0 {
				t.Errorf("run(%q) printed %q on stdout, want nothing", tt.args, stdout.String())
			}
		})
	}
}

// TestRunUsage checks the cases where erl_call prints its usage alone and
// exits with status 0.
func TestRunUsage(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"-?"},
		{"-sname", "x", "-?", "-z"},
		{"-c", "c", "-a", "erlang node"},
		{"-address", "1234", "-sname", "x"},
		{"-sname", "x", "-address", "1234"},
		{"-address", "1234", "-s"},
		{"-sname", "x", "-m", "-e"},
	} {
		var stdout, stderr bytes.Buffer
		if err := run(context.Background(), append([]string{"/usr/bin/erl_call"}, args...), strings.NewReader(""), &stdout, &stderr); err != nil {
			t.Errorf("run(%q) = %v, want nil", args, err)
		}
		if want := fmt.Sprintf(usageText, "/usr/bin/erl_call"); stderr.String() != want || stdout.Len() != 0 {
			t.Errorf("run(%q) printed %q on stdout and\n%s\non stderr, want the usage alone", args, stdout.String(), stderr.String())
		}
	}
}

func TestParseArgs(t *testing.T) {
	cfg, err := parseArgs([]string{"-sname", "n1@h.example", "-c", "k", "-a", "erlang node", "-h", "me", "-x", "/bin/erl",
		"-timeout", "5", "-s", "-q", "-v", "-d", "-r", "-R", "-e", "-fetch_stdout", "-no_result_term"})
	if err != nil {
		t.Fatal(err)
	}
	want := config{node: "n1@h.example", cookie: "k", cookieSet: true, apply: "erlang node", applySet: true, hidden: "me", script: "/bin/erl",
		timeout: 5e9, start: true, halt: true, verbose: true, debug: true, random: true, dynamic: true, eval: true,
		fetchStdout: true, noResult: true}
	if cfg != want {
		t.Errorf("parseArgs = %+v, want %+v", cfg, want)
	}
	for _, tt := range []struct {
		args []string
		want config
	}{
		{[]string{"-name", "n"}, config{node: "n", longNames: true}},
		{[]string{"-n", "n"}, config{node: "n", longNames: true}},
		{[]string{"-name", "n", "-sname", "m"}, config{node: "m"}},
		{[]string{"-address", "1234"}, config{addrPort: 1234}},
		{[]string{"-address", "h:1234"}, config{addrHost: "h", addrPort: 1234}},
		{[]string{"-address", "[::1]:1234"}, config{addrHost: "::1", addrPort: 1234}},
		{[]string{"-address", ":1234"}, config{addrPort: 1234}},
		{[]string{"-address", "1234x"}, config{addrPort: 1234}},
		{[]string{"-address", "h: +80"}, config{addrHost: "h", addrPort: 80}},
		{[]string{"-address", "h:1:2"}, config{addrHost: "h", addrPort: 1}},
		{[]string{"-sname", "n", "-timeout", "5s"}, config{node: "n", timeout: 5e9}},
		{[]string{"-sname", "n", "-c", ""}, config{node: "n", cookieSet: true}},
		{[]string{"-sname", "x y", "-h", "a b"}, config{node: "x y", hidden: "a b"}},
		{[]string{"-__uh_test__"}, config{}},
	} {
		got, err := parseArgs(tt.args)
		if err != nil || got != tt.want {
			t.Errorf("parseArgs(%q) = %+v, %v, want %+v", tt.args, got, err, tt.want)
		}
	}
}

func TestSplitApply(t *testing.T) {
	tests := []struct {
		in             string
		mod, fun, args string
	}{
		{"erlang", "erlang", "start", "[]"},
		{"  erlang  node ", "erlang", "node", "[]"},
		{"erlang length [[a, b]]", "erlang", "length", "[[a, b]]"},
		{"m\tf\t[1,\t2] ", "m", "f", "[1,\t2]"},
	}
	for _, tt := range tests {
		mod, fun, args, err := splitApply(tt.in)
		if err != nil || mod != tt.mod || fun != tt.fun || args != tt.args {
			t.Errorf("splitApply(%q) = %q, %q, %q, %v, want %q, %q, %q", tt.in, mod, fun, args, err, tt.mod, tt.fun, tt.args)
		}
	}
	if _, _, _, err := splitApply("  "); err == nil {
		t.Errorf("splitApply(%q) succeeded, want an error", "  ")
	}
}

func TestPeerName(t *testing.T) {
	tests := []struct {
		node, alive, host string
	}{
		{"n1", "n1", "here"},
		{"n1@", "n1", ""},
		{"n1@host", "n1", "host"},
		{"n1@host.example.com", "n1", "host.example.com"},
		{"@host", "", "host"},
		{"a@b@c", "a", "b@c"},
	}
	for _, tt := range tests {
		if alive, host := peerName(tt.node, "here"); alive != tt.alive || host != tt.host {
			t.Errorf("peerName(%q) = %q, %q, want %q, %q", tt.node, alive, host, tt.alive, tt.host)
		}
	}
}

func TestCanonicalHost(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		host string
		long bool
		want string
	}{
		{"localhost", false, "localhost"},
		{"127.0.0.1", true, "127.0.0.1"},
		{"127.0.0.1", false, "127"},
		{"::1", true, "::1"},
	} {
		if got, err := canonicalHost(ctx, tt.host, tt.long); err != nil || got != tt.want {
			t.Errorf("canonicalHost(%q, %v) = %q, %v, want %q", tt.host, tt.long, got, err, tt.want)
		}
	}
	for _, host := range []string{"", "no-such-host.invalid"} {
		_, err := canonicalHost(ctx, host, false)
		if want := "can't ei_gethostbyname(" + host + ")"; err == nil || err.Error() != want {
			t.Errorf("canonicalHost(%q) = %v, want %s", host, err, want)
		}
	}
}

func TestStrtol(t *testing.T) {
	for _, tt := range []struct {
		s    string
		want int64
	}{{"12", 12}, {" +7x", 7}, {"-3", -3}, {"x1", 0}, {"", 0}, {"99999999999999999999", 1<<63 - 1}} {
		if got := strtol(tt.s); got != tt.want {
			t.Errorf("strtol(%q) = %d, want %d", tt.s, got, tt.want)
		}
	}
}

func TestModuleName(t *testing.T) {
	tests := []struct{ src, want string }{
		{"-module(foo).\n-export([f/0]).", "foo"},
		{"%% x\n-module(  my_mod2 ).", "my_mod2"},
		{"-export([f/0]).", ""},
	}
	for _, tt := range tests {
		if got := moduleName([]byte(tt.src)); got != tt.want {
			t.Errorf("moduleName(%q) = %q, want %q", tt.src, got, tt.want)
		}
	}
}
