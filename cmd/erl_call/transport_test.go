package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/nettest"

	"github.com/goei/goei/internal/erltest"
)

// TestDynamicNameLikeOTP runs -R with OTP's erl_call and ours: both get
// their name from the node, as erl_call's -R does (net_kernel's names are
// base-36 numbers), and the node sees the caller by that name.
func TestDynamicNameLikeOTP(t *testing.T) {
	node := erlCallEnv(t)
	want := regexp.MustCompile(`^\['[0-9A-Z]+@` + regexp.QuoteMeta(erltest.Host(t)) + `'\]$`)
	args := []string{"-R", "-c", "c", "-sname", node.SName, "-a", "erlang nodes [hidden]"}
	ours, stderr := runOurs(t, "", args...)
	if ours.code != 0 || !want.MatchString(ours.stdout) {
		t.Errorf("erl_call %q = %+v (stderr %q), want a name like %v", args, ours, stderr, want)
	}
	if bin := otpErlCallOrEmpty(t); bin != "" {
		if otp, _ := runProgram(t, bin, "", args...); otp.code != 0 || !want.MatchString(otp.stdout) {
			t.Errorf("OTP's erl_call %q = %+v, want a name like %v", args, otp, want)
		}
	}
	// -h wins over -R, as in OTP's erl_call.
	args = []string{"-R", "-h", "fixed", "-c", "c", "-sname", node.SName, "-a", "erlang nodes [hidden]"}
	if got, _ := runOurs(t, "", args...); got.stdout != "[fixed@"+erltest.Host(t)+"]" {
		t.Errorf("erl_call %q = %+v, want fixed@host", args, got)
	}
}

// otpErlCallOrEmpty is otpErlCall, or "" instead of skipping. (Not
// found in a subtest: the program erltest returns for a chroot lives in
// the temporary directory of the test that asked.)
func otpErlCallOrEmpty(t *testing.T) string {
	if !erltest.Have("erl_call") {
		return ""
	}
	return otpErlCall(t)
}

// TestTLS calls a node running distribution over mutual TLS with
// -proto_dist inet_tls and the node's own -ssl_dist_optfile.
func TestTLS(t *testing.T) {
	erltest.NeedSSL(t)
	pki := erltest.NewPKI(t)
	cert := pki.Issue(t, "node", erltest.Host(t))
	tlsArgs := pki.DistOptFile(t, cert, true)
	epmdPort := erltest.StartEPMD(t)
	node := erltest.StartErl(t, epmdPort, erltest.Options{Cookie: "c", Args: tlsArgs})
	t.Setenv("ERL_EPMD_PORT", strconv.Itoa(epmdPort))
	t.Setenv("HOME", t.TempDir())
	call := []string{"-c", "c", "-sname", node.SName, "-a", "erlang node"}
	if got, stderr := runOurs(t, "", append(tlsArgs, call...)...); got.code != 0 || got.stdout != node.Name {
		t.Errorf("erl_call %q = %+v (stderr %q), want %s", append(tlsArgs, call...), got, stderr, node.Name)
	}
	if got, _ := runOurs(t, "", call...); got.code == 0 {
		t.Errorf("erl_call without TLS = %+v, want a failure", got)
	}
	// A client without a certificate is refused by fail_if_no_peer_cert.
	noCert := filepath.Join(t.TempDir(), "client.conf")
	os.WriteFile(noCert, []byte(`[{client, [{cacertfile, "`+pki.CAFile+`"}]}].`), 0o600)
	args := append([]string{"-proto_dist", "inet_tls", "-ssl_dist_optfile", noCert}, call...)
	if got, _ := runOurs(t, "", args...); got.code == 0 {
		t.Errorf("erl_call %q = %+v, want a failure", args, got)
	}
}

// TestIPv6 calls a node named name@::1 with -proto_dist inet6_tcp.
func TestIPv6(t *testing.T) {
	if !nettest.SupportsIPv6() {
		t.Skip("IPv6 is not supported here")
	}
	epmdPort := erltest.StartOTPEPMD(t)
	name := erltest.UniqueName("erl")
	node := erltest.OTP{}.Start(t, epmdPort, "-name", name+"@::1", "-setcookie", "c", "-proto_dist", "inet6_tcp")
	node.WaitRegistered(t, epmdPort, name)
	t.Setenv("ERL_EPMD_PORT", strconv.Itoa(epmdPort))
	t.Setenv("HOME", t.TempDir())
	args := []string{"-proto_dist", "inet6_tcp", "-c", "c", "-name", name + "@::1", "-a", "erlang node"}
	if got, stderr := runOurs(t, "", args...); got.code != 0 || got.stdout != "'"+name+"@::1'" {
		t.Errorf("erl_call %q = %+v (stderr %q), want '%s@::1'", args, got, stderr, name)
	}
}

func TestClientTLSOptions(t *testing.T) {
	for _, tc := range []struct {
		text, err string
	}{
		{`[{server, [{certfile, "x"}]}, {client, [{verify, verify_none}]}].`, ""},
		{`[{client, [{verify, maybe}]}].`, "want verify_peer or verify_none"},
		{`[{client, [{password, "p"}]}].`, "password is not supported"},
		{`[{client, [{cacertfile, "/nonexistent/ca.pem"}]}].`, "no such file"},
		{`{client, []}.`, "want a list"},
	} {
		_, err := clientTLS(tc.text)
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("clientTLS(%q) = %v, want an error containing %q", tc.text, err, tc.err)
		}
	}
	cfg, err := clientTLS(`[{client, [{verify, verify_none}, {server_name_indication, "db1"}]}].`)
	if err != nil || !cfg.InsecureSkipVerify || cfg.ServerName != "db1" {
		t.Errorf("clientTLS() = %+v, %v; want InsecureSkipVerify and ServerName db1", cfg, err)
	}
}
