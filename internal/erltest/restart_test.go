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
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := p.Kill(); err == nil {
		t.Errorf("second Kill() = nil, want an error: epmd is not running")
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("dial %s after Kill succeeded, want epmd gone", addr)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := PortOf(p.Port, UniqueName("nobody")); err == nil || !strings.Contains(err.Error(), "not registered") {
		t.Fatalf("PortOf(unregistered name) after restart = %v, want epmd's answer: not registered", err)
	}
	if err := p.Start(); err == nil {
		t.Errorf("Start() while epmd runs = nil, want an error")
	}
	n := StartErl(t, p.Port, Options{})
	if _, err := PortOf(p.Port, n.SName); err != nil {
		t.Fatalf("PortOf(%d, %q) after restart = %v, want registered", p.Port, n.SName, err)
	}
}

func TestEPMDProcessStop(t *testing.T) {
	p := StartEPMDProcess(t)
	p.Stop()
	p.Stop()
	if c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Port)), time.Second); err == nil {
		c.Close()
		t.Fatalf("dial after Stop succeeded, want epmd gone")
	}
}
