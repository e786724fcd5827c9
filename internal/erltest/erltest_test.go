package erltest

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestStartErlRegistersWithOTPEPMD(t *testing.T) {
	port := StartOTPEPMD(t)
	n := StartErl(t, port, Options{})
	if _, err := PortOf(port, n.SName); err != nil {
		t.Fatalf("PortOf(%d, %q) = %v, want registered", port, n.SName, err)
	}
	out := Eval(t, port, `{ok, Names} = erl_epmd:names("127.0.0.1"), io:format("~p~n", [Names])`)
	if !strings.Contains(out, n.SName) {
		t.Fatalf("erl_epmd:names() = %s, want it to list %s", out, n.SName)
	}
}

func TestBuildEILineProgram(t *testing.T) {
	bin := BuildEI(t, filepath.Join("testdata", "roundtrip.c"))
	if bin == "" {
		t.Skip("no cc or libei")
	}
	p := StartLineProgram(t, bin)
	// 300 is an INTEGER_EXT: a tag byte and 4 bytes.
	if f, err := p.Call("roundtrip %d", 300); err != nil || !slices.Equal(f, []string{"300", "5"}) {
		t.Errorf("Call(roundtrip 300) = %q, %v; want [300 5]", f, err)
	}
	if f, err := p.Call("bogus"); err == nil || !strings.Contains(err.Error(), "unknown command bogus") {
		t.Errorf("Call(bogus) = %q, %v; want error unknown command", f, err)
	}
}
