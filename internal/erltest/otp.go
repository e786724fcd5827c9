package erltest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// EnvOTP names the environment variable that selects the Erlang/OTP the
// integration tests run. Unset or empty means the host's: erl on PATH,
// and OTP's epmd and erl_call from erl's own installation. A directory
// means a Debian chroot holding OTP, made with
//
//	debootstrap --variant=minbase --include=erlang-base,erlang-ssl trixie DIR
//
// whose erl, epmd and erl_call then run inside it (see Need). Tests that
// need OTP skip when the directory does not exist.
const EnvOTP = "GOEI_OTP"

// OTP is an Erlang/OTP installation to run erl, epmd and erl_call from.
type OTP struct {
	// Root is "" for the installation $GOEI_OTP selects, else the
	// directory of a chroot holding OTP, run as Need describes.
	Root string
}

// dir returns the chroot directory of o, "" for the host's OTP.
func (o OTP) dir() string {
	if o.Root != "" {
		return o.Root
	}
	return os.Getenv(EnvOTP)
}

// String names the installation in test names: "path" for the host's,
// else the base name of the chroot directory.
func (o OTP) String() string {
	if d := o.dir(); d != "" {
		return filepath.Base(d)
	}
	return "path"
}

// OTPs returns the installations to test against, for tests that loop
// over them: the one $GOEI_OTP selects (CI runs the tests once per OTP
// release). It skips t as Need does.
func OTPs(t testing.TB) []OTP {
	t.Helper()
	OTP{}.Need(t, "erl")
	return []OTP{{}}
}

var (
	installsMu sync.Mutex
	installs   = map[string]*installResult{}
)

type installResult struct {
	once sync.Once
	in   *install
	err  error
}

// install returns what findOTP finds for o, once per process.
func (o OTP) install() (*install, error) {
	d := o.dir()
	installsMu.Lock()
	r := installs[d]
	if r == nil {
		r = new(installResult)
		installs[d] = r
	}
	installsMu.Unlock()
	r.once.Do(func() { r.in, r.err = findOTP(d) })
	return r.in, r.err
}

// Have reports whether tests may run OTP's program prog ("erl", "erlc",
// "epmd" or "erl_call"): tests do not run with -short and the OTP that $GOEI_OTP
// selects has prog.
func Have(prog string) bool {
	if testing.Short() {
		return false
	}
	in, err := OTP{}.install()
	return err == nil && in.progs[prog] != ""
}

// Need is Need of the OTP that $GOEI_OTP selects.
func Need(t testing.TB, prog string) string {
	t.Helper()
	return OTP{}.Need(t, prog)
}

// Need skips t when -short is set or when the installation is missing,
// and fails it when the installation is there but broken. It returns a
// program to run in place of OTP's prog ("erl", "erlc", "epmd" or
// "erl_call") with exec.Command, as Program does, with a t.TempDir() for
// the script a chroot needs. That script goes away with t: ask in the
// test that runs the program, not in a subtest.
func (o OTP) Need(t testing.TB, prog string) string {
	t.Helper()
	if testing.Short() {
		t.Skipf("skipping %s integration test with -short", prog)
	}
	in, err := o.install()
	switch {
	case errors.Is(err, errMissing):
		t.Skipf("%s: %v", prog, err)
	case err != nil:
		t.Fatalf("%s: %v", prog, err)
	}
	if in.progs[prog] == "" {
		t.Skipf("OTP %s at %s has no %s", in.release, in.where(), prog)
	}
	if in.chroot == "" {
		return in.progs[prog]
	}
	p, err := writeScript(t.TempDir(), in.chroot, in.progs[prog])
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Release returns the major release of the OTP that $GOEI_OTP selects
// (erlang:system_info(otp_release), such as 25), skipping t as Need does.
func Release(t testing.TB) int {
	t.Helper()
	Need(t, "erl")
	in, _ := OTP{}.install()
	r, err := strconv.Atoi(in.release)
	if err != nil {
		t.Fatalf("erltest: OTP release %q: %v", in.release, err)
	}
	return r
}

// Program returns a program to run in place of OTP's prog ("erl", "erlc",
// "epmd" or "erl_call") of the installation $GOEI_OTP selects, with exec.Command,
// for code outside a test, such as TestMain; tests use Need. On the host
// it is OTP's own binary. For a chroot it is a script written to dir,
// which the caller removes when done, that runs prog inside the chroot
// (see chrootScript) with the host's temporary directory, $HOME and the
// working directory at the same paths, and with the same pid, so that
// killing it kills prog.
//
// epmd and erl_call are never Go programs, such as a build of cmd/epmd
// installed as "epmd" on PATH: they come from erl's own installation
// (code:root_dir()).
func Program(prog, dir string) (string, error) {
	in, err := OTP{}.install()
	if err != nil {
		return "", err
	}
	p := in.progs[prog]
	switch {
	case p == "":
		return "", fmt.Errorf("erltest: OTP %s at %s has no %s", in.release, in.where(), prog)
	case in.chroot == "":
		return p, nil
	}
	return writeScript(dir, in.chroot, p)
}

// command returns erl with args, run in a new directory that is also
// HOME, with ERL_EPMD_PORT set to epmdPort when it is not zero.
func (o OTP) command(ctx context.Context, t testing.TB, epmdPort int, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(ctx, o.Need(t, "erl"), args...)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "HOME="+cmd.Dir)
	if epmdPort != 0 {
		cmd.Env = append(cmd.Env, "ERL_EPMD_PORT="+strconv.Itoa(epmdPort))
	}
	return cmd
}

// Start starts `erl -noinput -start_epmd false args...` and returns at
// once: the caller waits for what it needs (PortOf, WaitListening). The
// node is killed in t.Cleanup. Name and SName are left empty.
func (o OTP) Start(t testing.TB, epmdPort int, args ...string) *Node {
	t.Helper()
	cmd := o.command(context.Background(), t, epmdPort, append([]string{"-noinput", "-start_epmd", "false"}, args...)...)
	out := new(lockedBuffer)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start erl: %v", err)
	}
	return &Node{EPMDPort: epmdPort, Dir: cmd.Dir, out: out, exited: stopOnCleanup(t, cmd), proc: cmd.Process}
}

// Eval is the package's Eval with this installation's erl.
func (o OTP) Eval(t testing.TB, epmdPort int, expr string, extra ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*readyTimeout)
	defer cancel()
	args := append([]string{"-noshell", "-start_epmd", "false"}, extra...)
	cmd := o.command(ctx, t, epmdPort, append(args, "-eval", expr+", halt().")...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("erl (%v) -eval %q: %v\n%s", o, expr, err, out)
	}
	return string(out)
}

// StartErl is the package's StartErl with this installation's erl.
func (o OTP) StartErl(t testing.TB, epmdPort int, opts Options) *Node {
	t.Helper()
	if opts.SName == "" {
		opts.SName = UniqueName("erl")
	}
	if opts.Cookie == "" {
		opts.Cookie = "c"
	}
	args := []string{"-sname", opts.SName, "-setcookie", opts.Cookie}
	if opts.Hidden {
		args = append(args, "-hidden")
	}
	n := o.Start(t, epmdPort, append(args, opts.Args...)...)
	n.Name, n.SName, n.Cookie = opts.SName+"@"+Host(t), opts.SName, opts.Cookie
	n.WaitRegistered(t, epmdPort, opts.SName)
	return n
}

// WaitListening waits until the node accepts connections on the loopback
// port, or fails t if it exits first or takes too long; for nodes that
// do not register with epmd.
func (n *Node) WaitListening(t testing.TB, port int) {
	t.Helper()
	if err := n.wait(func() bool { return WaitListeningFor(port, 0) == nil }); err != nil {
		t.Fatalf("erl is not listening on port %d: %v\n%s", port, err, n.Output())
	}
}

// wait polls ready until it holds, the node exits or readyTimeout passes.
func (n *Node) wait(ready func() bool) error {
	deadline := time.Now().Add(readyTimeout)
	for !ready() {
		select {
		case <-n.exited:
			return errors.New("erl exited")
		default:
		}
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// WaitRegistered waits until the node is registered as alive with the
// epmd at epmdPort, or fails t if it exits first or takes too long.
func (n *Node) WaitRegistered(t testing.TB, epmdPort int, alive string) {
	t.Helper()
	if err := n.wait(func() bool { _, err := PortOf(epmdPort, alive); return err == nil }); err != nil {
		t.Fatalf("erl %s did not register with epmd on port %d: %v\n%s", alive, epmdPort, err, n.Output())
	}
}
