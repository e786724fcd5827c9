package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/goei/goei/internal/erltest"
)

// TestParityWithOTPErlCall runs OTP's erl_call and ours as programs on
// command lines that do not call anything, or fail, and checks that they
// print the same on stdout, exit the same way, and print the same first
// line on stderr: usage, bad options, node names and hosts.
func TestParityWithOTPErlCall(t *testing.T) {
	otp := otpErlCall(t)
	node := erlCallEnv(t)
	host := erltest.Host(t)
	port, err := erltest.PortOf(node.EPMDPort, node.SName)
	if err != nil {
		t.Fatal(err)
	}
	p := strconv.Itoa(port)
	for _, args := range [][]string{
		// Usage, exit 0.
		{},
		{"-?"},
		{"-c", "c", "-a", "erlang node"},
		{"-v", "-c", "c"},
		{"-address", p, "-sname", node.SName},
		{"-sname", node.SName, "-address", p, "-a", "erlang node"},
		{"-address", p, "-s"},
		{"-sname", node.SName, "-m", "-e"},
		// Bad options, exit 1.
		{"node"},
		{"-zz"},
		{"-help"},
		{"-sname"},
		{"-sname", node.SName, "-c"},
		{"-sname", node.SName, "-timeout", "0"},
		{"-sname", node.SName, "-timeout", "soon"},
		{"-address", "host:"},
		{"-address", "0"},
		// Node names: libei does not check the name the node announces.
		{"-sname", node.SName + "@localhost", "-c", "c", "-a", "erlang node"},
		{"-name", node.SName + "@localhost", "-c", "c", "-a", "erlang node"},
		{"-sname", node.SName + "@" + host, "-c", "c", "-a", "erlang node"},
		{"-sname", node.SName + "@" + host + ".example.com", "-c", "c", "-a", "erlang node"},
		{"-name", node.SName, "-c", "c", "-a", "erlang node"},
		{"-sname", node.SName, "-timeout", "30s", "-c", "c", "-a", "erlang node"},
		{"-sname", "no_such_node", "-c", "c", "-a", "erlang node"},
		{"-sname", "no such node", "-c", "c", "-a", "erlang node"},
		{"-sname", "@" + host, "-c", "c", "-a", "erlang node"},
		{"-sname", node.SName, "-c", "", "-a", "erlang node"},
		{"-sname", node.SName, "-c", "wrong", "-a", "erlang node"},
		{"-sname", node.SName, "-c", "c", "-a", ""},
		// A syntax error that every release's erl_call refuses; not an
		// unclosed list ("[a"), which OTP 27's erl_call refuses in most
		// runs but once, in CI, read and called (exit 0, badarg).
		{"-sname", node.SName, "-c", "c", "-a", "erlang length [a,]"},
		{"-sname", node.SName + "@127.0.0.1", "-c", "c", "-a", "erlang node"},
		// No such host.
		{"-sname", node.SName + "@", "-c", "c", "-a", "erlang node"},
		{"-sname", node.SName + "@no-such-host.invalid", "-c", "c", "-a", "erlang node"},
		{"-sname", node.SName + "@no-such-host.invalid", "-c", "c", "-q"},
		{"-address", "no-such-host.invalid:" + p, "-c", "c", "-a", "erlang node"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			compareRuns(t, otp, "", append([]string{"-h", "otp_call"}, args...), append([]string{"-h", "go_call"}, args...))
		})
	}
}

// TestTimeoutWithOTPErlCall checks -timeout on a call that takes longer:
// OTP's erl_call is killed by SIGALRM, printing nothing; so is ours.
func TestTimeoutWithOTPErlCall(t *testing.T) {
	otp := otpErlCall(t)
	node := erlCallEnv(t)
	args := []string{"-sname", node.SName, "-c", "c", "-timeout", "1", "-a", "timer sleep [60000]"}
	compareRuns(t, otp, "", append([]string{"-h", "otp_call"}, args...), append([]string{"-h", "go_call"}, args...))

	// In process, run reports the alarm and prints nothing.
	got, stderr := runOursErr(t, "", append([]string{"-h", "go_call2"}, args...)...)
	if got != errAlarm || stderr != "" {
		t.Errorf("run(%q) = %v, stderr %q, want errAlarm and nothing printed", args, got, stderr)
	}
}

// TestDocumentedDifferences checks the differences from OTP's erl_call
// that the README lists for -a: integers beyond 64 bits, binaries and ~
// in the arguments, which erl_call's ei_format clamps or rejects.
func TestDocumentedDifferences(t *testing.T) {
	otp := otpErlCall(t)
	node := erlCallEnv(t)
	tests := []struct {
		apply     string
		otp, ours result
	}{
		{"erlang abs [-100000000000000000000000]", result{stdout: "9223372036854775808"}, result{stdout: "16#152D02C7E14AF6800000"}},
		{"erlang element [1, {<<1,2>>}]", result{code: 255}, result{stdout: "#Bin<1,2>"}},
		{"erlang element [1, {'a~b'}]", result{code: 255}, result{stdout: "'a~b'"}},
	}
	for _, tt := range tests {
		args := []string{"-sname", node.SName, "-c", "c", "-a", tt.apply}
		if got, _ := runProgram(t, otp, "", append([]string{"-h", "otp_call"}, args...)...); got != tt.otp {
			t.Errorf("OTP's erl_call -a %q = %+v, want %+v as the README says", tt.apply, got, tt.otp)
		}
		if got, stderr := runProgram(t, ourErlCall(t), "", append([]string{"-h", "go_call"}, args...)...); got != tt.ours {
			t.Errorf("erl_call -a %q = %+v, want %+v; stderr %q", tt.apply, got, tt.ours, stderr)
		}
	}
}
