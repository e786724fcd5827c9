package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/goei/goei/internal/erltest"
)

// otpErlCall returns OTP's erl_call, or skips t.
func otpErlCall(t *testing.T) string {
	t.Helper()
	return erltest.Need(t, "erl_call")
}

// runAsMain makes the test binary run main instead of the tests, so that
// tests can run our erl_call as a program, exit status and signals
// included.
const runAsMain = "GOEI_TEST_RUN_ERL_CALL"

func TestMain(m *testing.M) {
	if os.Getenv(runAsMain) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// ourErlCall returns the program that runs our erl_call: the test binary.
func ourErlCall(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// result is what one erl_call run printed and how it ended.
type result struct {
	stdout string
	code   int            // exit status, -1 when killed by a signal
	signal syscall.Signal // the signal that killed it, or 0
}

// runOurs runs our erl_call in this process.
func runOurs(t *testing.T, stdin string, args ...string) (result, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), append([]string{"erl_call"}, args...), strings.NewReader(stdin), &stdout, &stderr)
	code := 0
	var ec exitCode
	switch {
	case errors.As(err, &ec):
		code = int(ec)
	case err != nil:
		t.Fatalf("run(%q) = %v, want nil or an exitCode", args, err)
	}
	return result{stdout: stdout.String(), code: code}, stderr.String()
}

// runOursErr runs our erl_call in this process and returns run's error.
func runOursErr(t *testing.T, stdin string, args ...string) (error, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), append([]string{"erl_call"}, args...), strings.NewReader(stdin), &stdout, &stderr)
	return err, stderr.String()
}

// runProgram runs bin, OTP's erl_call or ours, as "erl_call" (its argv[0],
// which the usage text shows), with the environment the test set.
func runProgram(t *testing.T, bin, stdin string, args ...string) (result, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Args[0] = "erl_call"
	cmd.Env = append(os.Environ(), runAsMain+"=1")
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var xerr *exec.ExitError
	res := result{stdout: stdout.String()}
	switch {
	case errors.As(err, &xerr):
		res.code = xerr.ExitCode()
		if ws, ok := xerr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.signal = ws.Signal()
		}
	case err != nil:
		t.Fatalf("%s %q: %v", bin, args, err)
	}
	return res, stderr.String()
}

// compareRuns runs OTP's erl_call with otpArgs and ours with ourArgs and
// checks that they print the same on stdout, end the same way, and print
// the same first line on stderr.
func compareRuns(t *testing.T, otp, stdin string, otpArgs, ourArgs []string) {
	t.Helper()
	want, wantErr := runProgram(t, otp, stdin, otpArgs...)
	got, gotErr := runProgram(t, ourErlCall(t), stdin, ourArgs...)
	if got != want {
		t.Errorf("erl_call %q = %q (exit %d, signal %d), want %q (exit %d, signal %d) as OTP's erl_call; stderr %q",
			ourArgs, got.stdout, got.code, got.signal, want.stdout, want.code, want.signal, gotErr)
	}
	gotLine, _, _ := strings.Cut(gotErr, "\n")
	wantLine, _, _ := strings.Cut(wantErr, "\n")
	if gotLine != wantLine {
		t.Errorf("erl_call %q printed %q first on stderr, want %q as OTP's erl_call; all of it:\n%s", ourArgs, gotLine, wantLine, gotErr)
	}
}

// erlCallEnv starts an epmd and a node with cookie "c", points
// ERL_EPMD_PORT and HOME at them, and returns the node.
func erlCallEnv(t *testing.T) *erltest.Node {
	epmdPort := erltest.StartEPMD(t)
	node := erltest.StartErl(t, epmdPort, erltest.Options{Cookie: "c"})
	t.Setenv("ERL_EPMD_PORT", strconv.Itoa(epmdPort))
	t.Setenv("HOME", t.TempDir())
	t.Chdir(t.TempDir()) // nodes started with -s run here
	return node
}

func TestCompareWithOTPErlCall(t *testing.T) {
	otp := otpErlCall(t)
	node := erlCallEnv(t)

	// Calls whose output is the same every time. Pids, ports and refs are
	// made stable by asking for the same one each time.
	applies := []string{
		"erlang length [[a,b,c]]",
		"erlang node",
		"erlang node []",
		"lists reverse [\"abc\"]",
		"erlang list_to_tuple [[1,2.5,\"x\",x,'Hello W',-3]]",
		"foo bar",
		"erlang length {1}",
		"erlang list_to_binary [[1,2,3,200]]",
		"erlang list_to_binary [[]]",
		"maps from_list [[{a,1},{\"b\",2}]]",
		"lists seq [1,40]",
		"lists seq [250,260]",
		"erlang list_to_atom [\"Hello\"]",
		"erlang list_to_atom [[233]]",
		"erlang whereis [rex]",
		"erlang float [3]",
		"erlang make_tuple [2,[]]",
		"erlang append [[1],2]",
		"erlang",
	}
	evals := []string{
		"X=1,Y=2,{X,Y}.\n",
		"X=1, Y=\n",
		"X = 1. Y = X + 1.\n",
		"foo:bar().\n",
		"",
		"{fun lists:map/2, <<1:3>>, <<1,2:5>>, list_to_binary(lists:seq(1, 40)), 1 bsl 64, -(1 bsl 64), 1 bsl 63, -(1 bsl 63), 1 bsl 70, -(1 bsl 70)}.\n",
		"{[1,2|3], \"\", <<>>, [], #{}, {}, 255, -1, 0.1, -0.0, 1.0e300, 1.0e-300}.\n",
		"{a@b, list_to_atom([233]), '_x', aB9_, 'a b', \"\\\"\\\\\\x7f\\x80\\x00\", [256, 1000]}.\n",
		"{a, list_to_atom([300]), b}.\n",
		"fun(X) -> X + 1 end.\n",
		"hd(erlang:ports()).\n",
		"case persistent_term:get(erl_call_ref, undefined) of undefined -> R = make_ref(), persistent_term:put(erl_call_ref, R), R; R -> R end.\n",
	}
	type call struct {
		name  string
		stdin string
		args  []string
	}
	var calls []call
	for _, a := range applies {
		calls = append(calls, call{"-a " + a, "", []string{"-a", a}})
	}
	for _, e := range evals {
		calls = append(calls, call{"-e " + e, e, []string{"-e"}})
	}
	calls = append(calls,
		call{"fetch_stdout -e", "io:format(\"hi ~p~n\", [x]), 42.\n", []string{"-e", "-fetch_stdout"}},
		call{"fetch_stdout -a", "", []string{"-a", "io nl", "-fetch_stdout"}},
		call{"no_result_term", "", []string{"-a", "erlang node", "-no_result_term"}},
		call{"-e and -a", "1 + 1.\n", []string{"-e", "-a", "erlang node"}},
	)
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			compareRuns(t, otp, c.stdin, append([]string{"-sname", node.SName, "-c", "c", "-h", "otp_call"}, c.args...),
				append([]string{"-sname", node.SName, "-c", "c", "-h", "go_call"}, c.args...))
		})
	}

	t.Run("address", func(t *testing.T) {
		port, err := erltest.PortOf(node.EPMDPort, node.SName)
		if err != nil {
			t.Fatal(err)
		}
		for _, addr := range []string{strconv.Itoa(port), "127.0.0.1:" + strconv.Itoa(port), "localhost:" + strconv.Itoa(port),
			"no-such-host.invalid:" + strconv.Itoa(port), "1", "127.0.0.1:1"} {
			args := []string{"-address", addr, "-c", "c", "-a", "erlang node"}
			compareRuns(t, otp, "", append(args, "-h", "otp_call"), append(args, "-h", "go_call"))
		}
	})
}

func TestErlCallHalt(t *testing.T) {
	node := erlCallEnv(t)
	got, stderr := runOurs(t, "", "-sname", node.SName, "-c", "c", "-q")
	if got != (result{}) {
		t.Errorf("erl_call -q = %q (exit %d), want no output and exit 0; stderr %q", got.stdout, got.code, stderr)
	}
	<-node.Exited() // the test times out if the node does not halt

	// With -q, a node that is not running is not an error.
	got, stderr = runOurs(t, "", "-sname", node.SName, "-c", "c", "-q")
	if got != (result{}) {
		t.Errorf("erl_call -q of a stopped node = %q (exit %d), want exit 0; stderr %q", got.stdout, got.code, stderr)
	}
	got, stderr = runOurs(t, "", "-sname", node.SName, "-c", "c", "-a", "erlang node")
	wantErr := "erl_call: failed to connect to node " + node.Name + "\n"
	if got.code != 1 || !strings.HasPrefix(stderr, wantErr) || strings.Count(stderr, "\n") != 2 {
		t.Errorf("erl_call of a stopped node: exit %d, stderr %q, want exit 1 and %q and the cause", got.code, stderr, wantErr)
	}
}

func TestErlCallWrongCookie(t *testing.T) {
	node := erlCallEnv(t)
	got, stderr := runOurs(t, "", "-sname", node.SName, "-c", "wrong", "-a", "erlang node")
	if got.code != 1 || !strings.Contains(stderr, "failed to connect") {
		t.Errorf("erl_call with a wrong cookie: exit %d, stderr %q, want exit 1 and a connect failure", got.code, stderr)
	}
	// -s does not try to start a node that runs and refused us.
	got, stderr = runOurs(t, "", "-s", "-sname", node.SName, "-c", "wrong", "-a", "erlang node")
	if got.code != 1 || !strings.Contains(stderr, "failed to connect") {
		t.Errorf("erl_call -s with a wrong cookie: exit %d, stderr %q, want exit 1 and a connect failure", got.code, stderr)
	}
}

func TestErlCallModule(t *testing.T) {
	node := erlCallEnv(t)
	src := "-module(erl_call_m).\n-export([f/1]).\nf(X) -> {X, X * 2}.\n"
	got, stderr := runOurs(t, src, "-sname", node.SName, "-c", "c", "-m")
	if got != (result{}) {
		t.Fatalf("erl_call -m = %q (exit %d), want no output; stderr %q", got.stdout, got.code, stderr)
	}
	got, stderr = runOurs(t, "", "-sname", node.SName, "-c", "c", "-a", "erl_call_m f [21]")
	if want := (result{stdout: "{21, 42}"}); got != want {
		t.Errorf("erl_call -a 'erl_call_m f [21]' = %q (exit %d), want %q; stderr %q", got.stdout, got.code, want.stdout, stderr)
	}
}

func TestErlCallVerboseAndDebug(t *testing.T) {
	node := erlCallEnv(t)
	got, stderr := runOurs(t, "", "-sname", node.SName, "-c", "c", "-v", "-d", "-a", "erlang node")
	if got != (result{stdout: node.Name}) {
		t.Fatalf("erl_call -v -d = %q (exit %d), want %q; stderr %q", got.stdout, got.code, node.Name, stderr)
	}
	for _, want := range []string{
		"erl_call: node = " + node.SName + "\n",
		"flags =  verbosep debugp\n", // two spaces, as erl_call prints it without -s
		"erl_call: we are now connected to node \"" + node.Name + "\"\n",
		"erl_call: module = erlang, function = node, args = []\n",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("erl_call -v -d stderr lacks %q:\n%s", want, stderr)
		}
	}
	// The wire trace names the peer; its format belongs to package ei.
	if strings.Count(stderr, "\n") < 10 || !strings.Contains(stderr, node.Name) {
		t.Errorf("erl_call -d printed no wire trace:\n%s", stderr)
	}
}

func TestErlCallStart(t *testing.T) {
	erltest.Need(t, "erl")
	erlCallEnv(t)
	name := erltest.UniqueName("started")
	t.Cleanup(func() { runOurs(t, "", "-sname", name, "-c", "c", "-q") })

	got, stderr := runOurs(t, "", "-s", "-sname", name, "-c", "c", "-a", "erlang node")
	want := name + "@" + erltest.Host(t)
	if got != (result{stdout: want}) {
		t.Fatalf("erl_call -s = %q (exit %d), want %q; stderr %q", got.stdout, got.code, want, stderr)
	}
	// The node outlives the call that started it.
	got, stderr = runOurs(t, "", "-sname", name, "-c", "c", "-a", "erlang node")
	if got != (result{stdout: want}) {
		t.Errorf("erl_call after -s = %q (exit %d), want %q; stderr %q", got.stdout, got.code, want, stderr)
	}
	// A running node is used, not started again.
	got, stderr = runOurs(t, "", "-s", "-v", "-sname", name, "-c", "c", "-a", "erlang node")
	if got != (result{stdout: want}) || strings.Contains(stderr, "starting it") {
		t.Errorf("erl_call -s of a running node = %q (exit %d), stderr %q, want %q and no start", got.stdout, got.code, stderr, want)
	}

	// A bad erl script is reported.
	got, stderr = runOurs(t, "", "-s", "-sname", erltest.UniqueName("nostart"), "-c", "c", "-x", filepath.Join(t.TempDir(), "no-erl"))
	if got.code != 1 || !strings.Contains(stderr, "unable to start node") {
		t.Errorf("erl_call -s -x missing: exit %d, stderr %q, want exit 1 and unable to start", got.code, stderr)
	}
}
