package erltest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// BuildEI compiles the C program src with cc against the ei library of
// the installed OTP (erl_interface's include/ei.h and lib/libei.a, from
// Debian's erlang-dev) into t.TempDir() and returns the program's path.
// It returns "" (and logs why) when there is no cc or no libei, so that a
// benchmark can go on without its C side; it skips t like Need without erl
// or with -short, and fails t when cc fails.
func BuildEI(t testing.TB, src string) string {
	t.Helper()
	Need(t, "erl")
	in, _ := OTP{}.install() // Need checked it
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Logf("no C side: %v", err)
		return ""
	}
	dir, err := eiDir(filepath.Join(in.chroot, in.root))
	if err != nil {
		t.Logf("no C side: %v", err)
		return ""
	}
	bin := filepath.Join(t.TempDir(), strings.TrimSuffix(filepath.Base(src), ".c"))
	cmd := exec.Command(cc, "-O2", "-pthread", "-I", filepath.Join(dir, "include"), "-o", bin, src,
		"-L", filepath.Join(dir, "lib"), "-lei")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cc %s: %v\n%s", src, err, out)
	}
	return bin
}

// eiDir finds erl_interface-*/ (with include/ei.h and lib/libei.a) in
// the OTP installation at root (code:root_dir(), seen from the host).
func eiDir(root string) (string, error) {
	dirs, _ := filepath.Glob(filepath.Join(root, "lib", "erl_interface-*"))
	for i := len(dirs) - 1; i >= 0; i-- {
		_, errH := os.Stat(filepath.Join(dirs[i], "include", "ei.h"))
		_, errA := os.Stat(filepath.Join(dirs[i], "lib", "libei.a"))
		if errH == nil && errA == nil {
			return dirs[i], nil
		}
	}
	return "", fmt.Errorf("no erl_interface-*/include/ei.h and lib/libei.a under %s/lib (install erlang-dev)", root)
}

// LineProgram is a running helper program that reads one command per line
// on its standard input and answers each with one line on its standard
// output, "error MESSAGE" for a failure.
type LineProgram struct {
	name string
	in   io.WriteCloser
	out  *bufio.Reader
	errs *lockedBuffer
	mu   sync.Mutex
}

// StartLineProgram starts bin with extra environment variables env
// ("KEY=value") in a directory of its own; it is killed at t.Cleanup.
func StartLineProgram(t testing.TB, bin string, env ...string) *LineProgram {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Dir = t.TempDir()
	cmd.Env = append(append(os.Environ(), "HOME="+cmd.Dir), env...)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &LineProgram{name: filepath.Base(bin), in: in, out: bufio.NewReaderSize(out, 1<<20), errs: new(lockedBuffer)}
	cmd.Stderr = p.errs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	// Kill, not just close stdin: the program may be blocked elsewhere.
	stopOnCleanup(t, cmd)
	return p
}

// Call sends the command (fmt.Sprintf(format, args...)) and returns the
// fields of the answer. An "error ..." answer, or the program ending, is
// an error that carries what it printed on standard error.
func (p *LineProgram) Call(format string, args ...any) ([]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	cmd := fmt.Sprintf(format, args...)
	if _, err := io.WriteString(p.in, cmd+"\n"); err != nil {
		return nil, fmt.Errorf("%s: %s: %w\n%s", p.name, cmd, err, p.errs.String())
	}
	line, err := p.out.ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w\n%s", p.name, cmd, err, p.errs.String())
	}
	if msg, ok := strings.CutPrefix(line, "error "); ok {
		return nil, fmt.Errorf("%s: %s: %s", p.name, cmd, strings.TrimSpace(msg))
	}
	return strings.Fields(line), nil
}
