package erltest

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestEPMDProcessKillAndStart(t *testing.T) {
	p := StartEPMDProcess(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Port))
	p.Kill()
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("dial %s after Kill succeeded, want epmd gone", addr)
	}
	p.Start()
	if _, err := PortOf(p.Port, UniqueName("nobody")); err == nil || !strings.Contains(err.Error(), "not registered") {
		t.Fatalf("PortOf(unregistered name) after restart = %v, want epmd's answer: not registered", err)
	}
	n := StartErl(t, p.Port, Options{})
	if _, err := PortOf(p.Port, n.SName); err != nil {
		t.Fatalf("PortOf(%d, %q) after restart = %v, want registered", p.Port, n.SName, err)
	}
}
