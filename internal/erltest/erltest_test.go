package erltest

import (
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
