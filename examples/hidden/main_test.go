package main

import (
	"bytes"
	"context"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/goei/goei/internal/erltest"
)

func TestRunBadFlags(t *testing.T) {
	for _, args := range [][]string{nil, {"-nope"}, {"-peer", "x", "extra"}, {"-timeout", "soon", "-peer", "x"}} {
		if err := run(context.Background(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("run(%q) = nil, want an error", args)
		}
	}
}

// TestHiddenWithErl runs the example against a real erl node.
func TestHiddenWithErl(t *testing.T) {
	epmdPort := erltest.StartEPMD(t)
	node := erltest.StartErl(t, epmdPort, erltest.Options{Cookie: "c", Args: []string{"-eval", `
		register(inbox, spawn(fun Loop() ->
			receive {From, hello} -> From ! {hello, node()}, Loop() end end))`}})
	t.Setenv("ERL_EPMD_PORT", strconv.Itoa(epmdPort))
	release := strings.TrimSpace(erltest.Eval(t, 0, `io:format("~s~n", [erlang:system_info(otp_release)])`))

	var stdout bytes.Buffer
	name := erltest.UniqueName("hidden")
	err := run(context.Background(), []string{"-peer", node.SName, "-cookie", "c", "-name", name, "-to", "inbox"}, &stdout, io.Discard)
	if err != nil {
		t.Fatalf("run = %v; printed:\n%s", err, stdout.String())
	}
	port, err := erltest.PortOf(epmdPort, node.SName)
	if err != nil {
		t.Fatal(err)
	}
	host := erltest.Host(t)
	want := node.Name + " listens on port " + strconv.Itoa(port) + " (normal node, distribution versions 5-6)\n" +
		"rpc erlang:system_info(otp_release) = \"" + release + "\"\n" +
		"sent {<" + name + "@" + host + ".1.0>,hello} to inbox\n" +
		"received {hello," + node.Name + "}\n"
	if got := stdout.String(); !sameIgnoringPidID(got, want) {
		t.Errorf("run printed:\n%s\nwant:\n%s", got, want)
	}
}

// sameIgnoringPidID compares the output lines, except for the pid numbers
// on the "sent" line, which depend on how pids are made.
func sameIgnoringPidID(got, want string) bool {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	if len(g) != len(w) {
		return false
	}
	for i := range g {
		if strings.HasPrefix(w[i], "sent {<") {
			gp, _, ok1 := strings.Cut(g[i], ".")
			wp, _, ok2 := strings.Cut(w[i], ".")
			_, gs, _ := strings.Cut(g[i], ">")
			_, ws, _ := strings.Cut(w[i], ">")
			if !ok1 || !ok2 || gp != wp || gs != ws {
				return false
			}
			continue
		}
		if g[i] != w[i] {
			return false
		}
	}
	return true
}
