package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goei/goei/epmd"
	"github.com/goei/goei/internal/erltest"
)

// suiteResult is the outcome of each case of a run of epmd_SUITE.
type suiteResult struct {
	cases  map[string]string // case name to ok, failed or skipped
	lines  []string          // the GOEI-CASE lines of failed cases
	tally  string            // what ct:run_test returned
	output string
}

func (r *suiteResult) count(outcome string) int {
	n := 0
	for _, o := range r.cases {
		if o == outcome {
			n++
		}
	}
	return n
}

func (r *suiteResult) String() string {
	return fmt.Sprintf("%d passed, %d failed, %d skipped (ct:run_test returned %s)",
		r.count("ok"), r.count("failed"), r.count("skipped"), r.tally)
}

// TestOTPEpmdSuite runs OTP's own test suite for epmd, epmd_SUITE from
// OTP 25 (see testdata/otp), with common_test against this command and,
// side by side, against OTP's epmd, and checks that every case ends the
// same way with ours, and that none fails. It takes about five minutes,
// mostly the suite's own pauses.
func TestOTPEpmdSuite(t *testing.T) {
	erl := erltest.Need(t, "erl")
	if err := exec.Command(erl, "-noshell", "-eval",
		`case code:lib_dir(common_test) of {error, _} -> halt(1); _ -> halt(0) end.`).Run(); err != nil {
		t.Skipf("common_test is not installed (Debian package erlang-common-test): %v", err)
	}
	daemons := []struct{ name, bin string }{{"ours", buildEPMD(t)}}
	if erltest.Have("epmd") {
		daemons = append(daemons, struct{ name, bin string }{"otp", erltest.Need(t, "epmd")})
	} else {
		t.Logf("OTP's epmd not found, so not compared")
	}
	results := make([]*suiteResult, len(daemons))
	t.Run("group", func(t *testing.T) {
		for i, d := range daemons {
			t.Run(d.name, func(t *testing.T) {
				t.Parallel()
				results[i] = runEpmdSuite(t, erl, d.bin)
				t.Logf("epmd_SUITE against %s epmd: %v", d.name, results[i])
			})
		}
	})
	ours := results[0]
	if ours == nil {
		return
	}
	if ours.count("failed") > 0 || len(ours.cases) == 0 {
		t.Errorf("epmd_SUITE against our epmd: %v\n%s", ours, strings.Join(ours.lines, "\n"))
	}
	if len(results) < 2 || results[1] == nil {
		return
	}
	otp := results[1]
	for name, want := range otp.cases {
		got := ours.cases[name]
		switch {
		case got == want:
		case want == "failed":
			t.Logf("%s failed against OTP's epmd and ended %s against ours", name, got)
		default:
			t.Errorf("%s: %s against OTP's epmd, %q against ours", name, want, got)
		}
	}
}

// runEpmdSuite runs epmd_SUITE with the epmd program bin, and returns the
// outcome of each case.
func runEpmdSuite(t *testing.T, erl, bin string) *suiteResult {
	dir := t.TempDir()
	port := freeWildcardPort(t)
	suite, err := os.ReadFile(filepath.Join("testdata", "otp", "epmd_SUITE.erl"))
	if err != nil {
		t.Fatal(err)
	}
	const portDefine = "-define(PORT,2243)."
	if bytes.Count(suite, []byte(portDefine)) != 1 {
		t.Fatalf("epmd_SUITE.erl does not define its port as %s", portDefine)
	}
	suite = bytes.Replace(suite, []byte(portDefine), []byte("-define(PORT,"+strconv.Itoa(port)+")."), 1)
	if err := os.WriteFile(filepath.Join(dir, "epmd_SUITE.erl"), suite, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, hook := range []string{"ts_install_cth.erl", "goei_report_cth.erl"} {
		b, err := os.ReadFile(filepath.Join("testdata", "otp", hook))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, hook), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The suite starts "epmd" as os:find_executable/1 finds it, on the
	// node's PATH, in which erl puts its own directories first. So the
	// node itself puts a directory holding ours before them.
	binDir := filepath.Join(dir, "bin")
	if err := os.Mkdir(binDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(bin, filepath.Join(binDir, "epmd")); err != nil {
		t.Fatal(err)
	}
	eval := fmt.Sprintf(`
		Dir = %s,
		os:putenv("PATH", %s ++ ":" ++ os:getenv("PATH")),
		[{ok, _} = compile:file(filename:join(Dir, H), [{outdir, Dir}]) || H <- ["ts_install_cth", "goei_report_cth"]],
		true = code:add_patha(Dir),
		R = ct:run_test([{dir, Dir}, {suite, "epmd_SUITE"}, {logdir, filename:join(Dir, "logs")},
			{auto_compile, true}, {ct_hooks, [goei_report_cth]}]),
		io:format(user, "GOEI-RESULT ~0p~n", [R]),
		halt().`, erlString(dir), erlString(binDir))
	if err := os.Mkdir(filepath.Join(dir, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if deadline, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-30*time.Second))
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, erl, "-noshell", "-noinput", "-eval", eval)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out // one writer: written by one goroutine at a time
	runErr := cmd.Run()
	// A suite that ends early may leave an epmd behind, with no node
	// registered once erl is gone: KILL_REQ ends it.
	(&epmd.Client{Host: "127.0.0.1", Port: port}).Kill(context.Background())

	r := &suiteResult{cases: make(map[string]string), output: out.String()}
	sc := bufio.NewScanner(strings.NewReader(r.output))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := caseLine.FindStringSubmatch(line); m != nil {
			r.cases[m[1]] = m[2]
			if m[2] == "failed" {
				r.lines = append(r.lines, line)
			}
		} else if tally, ok := strings.CutPrefix(line, "GOEI-RESULT "); ok {
			r.tally = tally
		}
	}
	if runErr != nil || r.tally == "" {
		t.Errorf("erl running epmd_SUITE: %v\n%s", runErr, tail(r.output, 4000))
	}
	return r
}

var caseLine = regexp.MustCompile(`^GOEI-CASE (\S+) (ok|failed|skipped)`)

// erlString quotes s as an Erlang string.
func erlString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// tail is the end of s, at most n bytes.
func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// freeWildcardPort returns a TCP port that was free on every address a
// moment ago, as epmd without -address listens on them all.
func freeWildcardPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// buildEPMD builds this command and returns the program's path. It skips
// t with -short or without the go command.
func buildEPMD(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the command; skipped with -short")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go not found")
	}
	bin := filepath.Join(t.TempDir(), "epmd")
	if out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}
