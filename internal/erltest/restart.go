package erltest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
)

// EPMDProcess is OTP's epmd on a fixed loopback port, which a test can
// kill and start again on the same port, as when epmd crashes and a
// supervisor restarts it.
type EPMDProcess struct {
	Port int // the loopback port epmd listens on

	bin  string
	dir  string
	args []string

	mu     sync.Mutex
	cmd    *exec.Cmd     // the running epmd, or nil
	exited chan struct{} // closed when cmd has ended
}

// StartEPMDProcess starts OTP's epmd, with extra arguments such as
// -relaxed_command_check, on a free loopback port and waits until it
// accepts connections. It skips t like Need, fails t when epmd does not
// start, and stops epmd at cleanup.
func StartEPMDProcess(t testing.TB, args ...string) *EPMDProcess {
	t.Helper()
	p := NewEPMDProcess(Need(t, "epmd"), FreePort(t), t.TempDir(), args...)
	t.Cleanup(p.Stop)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	return p
}

// NewEPMDProcess returns an EPMDProcess that runs bin, OTP's epmd, as
// `bin -port port -address 127.0.0.1 args...` in dir (also its HOME).
// It is for code that outlives a test, such as TestMain; tests use
// StartEPMDProcess. Call Start to start it and Stop when done.
func NewEPMDProcess(bin string, port int, dir string, args ...string) *EPMDProcess {
	return &EPMDProcess{Port: port, bin: bin, dir: dir, args: args}
}

// Start starts epmd, for the first time or after Kill, and waits until it
// accepts connections.
func (p *EPMDProcess) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return errors.New("erltest: epmd is already running")
	}
	cmd := exec.Command(p.bin, append([]string{"-port", strconv.Itoa(p.Port), "-address", "127.0.0.1"}, p.args...)...)
	cmd.Dir = p.dir
	cmd.Env = append(os.Environ(), "HOME="+p.dir)
	out := new(lockedBuffer)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("erltest: start %s: %w", p.bin, err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	p.cmd, p.exited = cmd, exited
	if err := WaitListening(p.Port); err != nil {
		p.kill()
		return fmt.Errorf("erltest: %s: %w\n%s", p.bin, err, out.String())
	}
	return nil
}

// Kill kills epmd with SIGKILL, by its pid, as kill -9 does, so it cannot
// close its connections itself, and waits until the process has ended.
func (p *EPMDProcess) Kill() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return errors.New("erltest: epmd is not running")
	}
	return p.kill()
}

// Stop kills epmd if it runs. It is idempotent.
func (p *EPMDProcess) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		p.kill()
	}
}

// kill kills p.cmd and waits for it; p.mu is held.
func (p *EPMDProcess) kill() error {
	err := p.cmd.Process.Kill()
	<-p.exited
	p.cmd = nil
	if err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("erltest: kill epmd: %w", err)
	}
	return nil
}
