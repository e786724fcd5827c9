package erltest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// OTP is an Erlang/OTP installation to run erl from: the one on PATH, or
// one inside a chroot, for testing against several OTP releases on one
// machine.
type OTP struct {
	// Root is "" for the erl on PATH, else a directory holding a system
	// with usr/bin/erl, run with chroot (as root). Programs there see
	// only that tree, so files such as -ssl_dist_optfile must be in it.
	Root string
}

// String names the installation in test names: "path", or the base
// name of Root.
func (o OTP) String() string {
	if o.Root == "" {
		return "path"
	}
	return filepath.Base(o.Root)
}

// OTPs returns the erl on PATH and those in the chroots listed in
// $GOEI_OTP_ROOTS (separated by spaces or colons), for tests that loop
// over OTP releases. It skips t with -short or when there is none.
func OTPs(t testing.TB) []OTP {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping erl integration test with -short")
	}
	var otps []OTP
	if _, err := exec.LookPath("erl"); err == nil {
		otps = append(otps, OTP{})
	}
	for _, root := range strings.FieldsFunc(os.Getenv("GOEI_OTP_ROOTS"), func(r rune) bool { return r == ' ' || r == ':' }) {
		if _, err := os.Stat(filepath.Join(root, "usr/bin/erl")); err == nil {
			otps = append(otps, OTP{Root: root})
		}
	}
	if len(otps) == 0 {
		t.Skip("erl not found")
	}
	return otps
}

// command returns erl with args, run in a new directory that is also
// HOME, with ERL_EPMD_PORT set to epmdPort when it is not zero.
func (o OTP) command(ctx context.Context, t testing.TB, epmdPort int, args ...string) *exec.Cmd {
	t.Helper()
	var cmd *exec.Cmd
	env := os.Environ()
	if o.Root == "" {
		cmd = exec.CommandContext(ctx, Need(t, "erl"), args...)
		cmd.Dir = t.TempDir()
		env = append(env, "HOME="+cmd.Dir)
	} else {
		cmd = exec.CommandContext(ctx, "chroot", append([]string{o.Root, "/usr/bin/erl"}, args...)...)
		cmd.Dir = "/"
		env = append(env, "HOME=/tmp")
	}
	if epmdPort != 0 {
		env = append(env, "ERL_EPMD_PORT="+strconv.Itoa(epmdPort))
	}
	cmd.Env = env
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
