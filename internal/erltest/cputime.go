package erltest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// CPUTime returns the CPU time the node's process has used so far: the
// sum over its threads of the time the kernel ran them, from
// /proc/PID/task/*/schedstat. It fails where there is no /proc (or no
// schedstat). Threads that ended are no longer counted, so differences
// hold for a running node, whose threads last.
func (n *Node) CPUTime() (time.Duration, error) {
	return processCPU(n.proc.Pid)
}

func processCPU(pid int) (time.Duration, error) {
	files, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(files) == 0 {
		return 0, fmt.Errorf("erltest: no /proc/%d/task/*/schedstat", pid)
	}
	var sum time.Duration
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			continue // the thread ended
		}
		f := bytes.Fields(b)
		if len(f) == 0 {
			return 0, fmt.Errorf("erltest: %s: empty", name)
		}
		ns, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("erltest: %s: %v", name, err)
		}
		sum += time.Duration(ns)
	}
	return sum, nil
}
