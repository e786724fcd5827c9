package erltest

import (
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
)

// EPMDProcess is OTP's epmd started by StartEPMDProcess, which a test can
// kill and start again on the same port, as when epmd crashes and a
// supervisor restarts it.
type EPMDProcess struct {
	Port int // the loopback port epmd listens on

	t    testing.TB
	bin  string
	args []string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited <-chan struct{}
}

// StartEPMDProcess starts OTP's epmd, with extra arguments such as
// -relaxed_command_check, on a free loopback port and waits until it
// accepts connections. Every process it starts is killed at cleanup.
func StartEPMDProcess(t testing.TB, args ...string) *EPMDProcess {
	t.Helper()
	p := &EPMDProcess{Port: FreePort(t), t: t, bin: Need(t, "epmd"), args: args}
	p.Start()
	return p
}

// Start starts epmd again on p.Port after Kill, and waits until it
// accepts connections.
func (p *EPMDProcess) Start() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	cmd := exec.Command(p.bin, append([]string{"-port", strconv.Itoa(p.Port), "-address", "127.0.0.1"}, p.args...)...)
	cmd.Dir = p.t.TempDir()
	cmd.Env = append(os.Environ(), "HOME="+cmd.Dir)
	out := new(lockedBuffer)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("start %s: %v", p.bin, err)
	}
	p.cmd, p.exited = cmd, stopOnCleanup(p.t, cmd)
	if err := WaitListening(p.Port); err != nil {
		p.t.Fatalf("%s: %v\n%s", p.bin, err, out.String())
	}
}

// Kill kills epmd with SIGKILL, as kill -9 does, so it cannot close its
// connections itself, and waits until the process has ended.
func (p *EPMDProcess) Kill() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.cmd.Process.Kill(); err != nil {
		p.t.Fatalf("kill epmd (pid %d): %v", p.cmd.Process.Pid, err)
	}
	<-p.exited
}
