package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

func TestRunUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		msg  string // first line on stderr
	}{
		{nil, "Missing node: give -sname, -name, -n or -address."},
		{[]string{"-a", "erlang node"}, "Missing node: give -sname, -name, -n or -address."},
		{[]string{"node"}, "Illegal argument 'node'."},
		{[]string{"-z"}, "Illegal argument '-z'."},
		{[]string{"-sn", "x"}, "Illegal argument '-sn'."},
		{[]string{"-sname"}, "Missing argument(s) for '-sname'."},
		{[]string{"-name"}, "Missing argument(s) for '-name'."},
		{[]string{"-sname", "x", "-a"}, "Missing argument(s) for '-a'."},
		{[]string{"-sname", "x", "-c"}, "Missing argument(s) for '-c'."},
		{[]string{"-sname", "x", "-c", ""}, "Illegal argument '-c': the cookie is empty."},
		{[]string{"-sname", "x", "-h"}, "Missing argument(s) for '-h'."},
		{[]string{"-sname", "x", "-h", "a b"}, "Illegal argument '-h a b': not a node name."},
		{[]string{"-sname", "x y"}, "Illegal node name 'x y'."},
		{[]string{"-sname", "@host"}, "Illegal node name '@host'."},
		{[]string{"-sname", "x", "-timeout", "0"}, "Illegal argument '-timeout 0': want seconds from 1 to 1048575."},
		{[]string{"-sname", "x", "-timeout", "soon"}, "Illegal argument '-timeout soon': want seconds from 1 to 1048575."},
		{[]string{"-sname", "x", "-timeout", "1048576"}, "Illegal argument '-timeout 1048576': want seconds from 1 to 1048575."},
		{[]string{"-address", "0"}, "Illegal argument '-address 0': want [HOST:]PORT with PORT from 1 to 65535."},
		{[]string{"-address", "host:65536"}, "Illegal argument '-address host:65536': want [HOST:]PORT with PORT from 1 to 65535."},
		{[]string{"-address", "host:"}, "Illegal argument '-address host:': want [HOST:]PORT with PORT from 1 to 65535."},
		{[]string{"-address", "1234", "-sname", "x"}, "Options -address and -sname, -name or -n cannot be combined."},
		{[]string{"-address", "1234", "-s"}, "Options -address and -s cannot be combined."},
		{[]string{"-sname", "x", "-m", "-e"}, "Options -m and -e cannot be combined."},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.args, strings.NewReader(""), &stdout, &stderr)
			var code exitCode
			if !errors.As(err, &code) || code != 1 {
				t.Errorf("run(%q) = %v, want exit status 1", tt.args, err)
			}
			first, rest, _ := strings.Cut(stderr.String(), "\n")
			if first != tt.msg {
				t.Errorf("run(%q) printed %q first, want %q", tt.args, first, tt.msg)
			}
			if !strings.Contains(rest, "Usage: erl_call") {
				t.Errorf("run(%q) printed no usage after the error: %q", tt.args, rest)
			}
			if stdout.Len() != 0 {
				t.Errorf("run(%q) printed %q on stdout, want nothing", tt.args, stdout.String())
			}
		})
	}
}

func TestRunHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"-?"}, strings.NewReader(""), &stdout, &stderr); err != nil {
		t.Errorf("run(-?) = %v, want nil", err)
	}
	if !strings.Contains(stderr.String(), "-sname name of Erlang node") {
		t.Errorf("run(-?) printed %q, want the usage", stderr.String())
	}
}

func TestParseArgs(t *testing.T) {
	cfg, err := parseArgs([]string{"-sname", "n1@h.example", "-c", "k", "-a", "erlang node", "-h", "me", "-x", "/bin/erl",
		"-timeout", "5", "-s", "-q", "-v", "-d", "-r", "-R", "-e", "-fetch_stdout", "-no_result_term"})
	if err != nil {
		t.Fatal(err)
	}
	want := config{node: "n1@h.example", cookie: "k", apply: "erlang node", applySet: true, hidden: "me", script: "/bin/erl",
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
		node string
		long bool
		want string
	}{
		{"n1", false, "n1@here"},
		{"n1@", false, "n1@here"},
		{"n1@host", false, "n1@host"},
		{"n1@host.example.com", false, "n1@host"},
		{"n1@host.example.com", true, "n1@host.example.com"},
		{"n1", true, "n1@here"},
	}
	for _, tt := range tests {
		if got := peerName(tt.node, "here", tt.long); got != tt.want {
			t.Errorf("peerName(%q, %v) = %q, want %q", tt.node, tt.long, got, tt.want)
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
