package erltest

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// TestCPUTime checks that a node's CPU time grows by at least the CPU
// time the node counts itself while it spins, and by little while it
// waits.
func TestCPUTime(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("CPUTime reads /proc")
	}
	port := StartOTPEPMD(t)
	// Wait for the file go, spin until the runtime system counts 300 ms
	// more of its own CPU time (however busy the machine is), then
	// write done.
	spin := `W = fun W() -> case filelib:is_file("go") of true -> ok; false -> timer:sleep(10), W() end end, W(),
		{R0, _} = erlang:statistics(runtime),
		S = fun S() -> case erlang:statistics(runtime) of {R, _} when R < R0 + 300 -> S(); _ -> ok end end, S(),
		ok = file:write_file("done", "1")`
	n := StartErl(t, port, Options{Args: []string{"-eval", spin}})
	time.Sleep(200 * time.Millisecond) // let the boot's work settle
	c0, err := n.CPUTime()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	c1, err := n.CPUTime()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(n.Dir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFile(t, n, filepath.Join(n.Dir, "done"))
	c2, err := n.CPUTime()
	if err != nil {
		t.Fatal(err)
	}
	if idle := c1 - c0; idle < 0 || idle > 150*time.Millisecond {
		t.Errorf("CPU time while waiting 300 ms grew by %v, want 0 to 150 ms", idle)
	}
	if busy := c2 - c1; busy < 250*time.Millisecond {
		t.Errorf("CPU time over a spin of 300 ms of erl's CPU time grew by %v, want at least 250 ms", busy)
	}
	if _, err := processCPU(-1); err == nil {
		t.Error("processCPU(-1) succeeded, want an error")
	}
}
