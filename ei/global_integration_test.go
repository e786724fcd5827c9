package ei_test

import (
	"errors"
	"testing"

	"github.com/goei/goei/ei"
)

// TestGlobal registers, looks up and unregisters names in OTP's global
// registry from the hidden Go node, through one erl node of a cluster of
// two, and sends to them both ways.
func TestGlobal(t *testing.T) {
	eachERPCEnv(t, func(t *testing.T, e *erpcEnv) {
		ctx := testContext(t)
		mb := newMailbox(t, e.node, "")
		other := newMailbox(t, e.node, "")
		name := ei.Atom("goei_go")
		if ok, err := e.node.GlobalRegister(ctx, e.pa, name, mb.Pid()); err != nil || !ok {
			t.Fatalf("GlobalRegister(%s) = %v, %v; want true", name, ok, err)
		}
		// The name is the cluster's: taken through the other node too.
		if ok, err := e.node.GlobalRegister(ctx, e.pb, name, other.Pid()); err != nil || ok {
			t.Errorf("GlobalRegister(%s) again, through b = %v, %v; want false", name, ok, err)
		}
		names, err := e.node.GlobalNames(ctx, e.pb)
		if err != nil || !containsTerm(names, name) {
			t.Errorf("GlobalNames() = %v, %v; want %s among them", names, err, name)
		}
		if pid, ok, err := e.node.GlobalWhereis(ctx, e.pb, name); err != nil || !ok || pid != mb.Pid() {
			t.Errorf("GlobalWhereis(%s) = %v, %v, %v; want %v", name, pid, ok, err, mb.Pid())
		}

		// erl sends to the Go mailbox by its global name.
		if got := e.rpc(t, e.pb, "global", "send", name, ei.Atom("hello")); got != mb.Pid() {
			t.Errorf("global:send() on b = %v, want %v", got, mb.Pid())
		}
		if got := recv(t, mb); got != ei.Atom("hello") {
			t.Errorf("received %v, want hello", got)
		}
		// Go sends to an erl process by its global name.
		if got := e.rpc(t, e.pa, "goei_erpctest", "global_echo", ei.Atom("goei_erl")); got != ei.Atom("yes") {
			t.Fatalf("global_echo() = %v, want yes", got)
		}
		if err := mb.GlobalSend(ctx, e.pb, ei.Atom("goei_erl"), ei.Tuple{mb.Pid(), ei.Atom("x")}); err != nil {
			t.Fatalf("GlobalSend(goei_erl) = %v", err)
		}
		if got, want := recv(t, mb), (ei.Tuple{ei.Atom("echo"), ei.Atom("x")}); !equal(got, want) {
			t.Errorf("received %v, want %v", got, want)
		}
		if err := mb.GlobalSend(ctx, e.pa, ei.Atom("nobody"), ei.Atom("x")); !errors.Is(err, ei.ErrGlobalNotRegistered) {
			t.Errorf("GlobalSend(nobody) = %v, want ErrGlobalNotRegistered", err)
		}

		// Unregistering frees the name in the whole cluster.
		if err := e.node.GlobalUnregister(ctx, e.pb, name); err != nil {
			t.Fatalf("GlobalUnregister(%s) = %v", name, err)
		}
		if _, ok, err := e.node.GlobalWhereis(ctx, e.pa, name); err != nil || ok {
			t.Errorf("GlobalWhereis(%s) after GlobalUnregister = %v, %v; want not found", name, ok, err)
		}
		if err := e.node.GlobalUnregister(ctx, e.pa, name); err != nil {
			t.Errorf("GlobalUnregister(%s) again = %v, want nil", name, err)
		}

		// global monitors the process: when it exits, its name goes.
		if ok, err := e.node.GlobalRegister(ctx, e.pa, ei.Atom("goei_other"), other.Pid()); err != nil || !ok {
			t.Fatalf("GlobalRegister(goei_other) = %v, %v; want true", ok, err)
		}
		other.Close()
		for {
			_, ok, err := e.node.GlobalWhereis(ctx, e.pb, ei.Atom("goei_other"))
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				break
			}
		}

		// The Go node is hidden: erl lists it among nodes(hidden) only.
		if got := e.rpc(t, e.pa, "erlang", "nodes"); containsTerm(asTerms(got), e.self) {
			t.Errorf("nodes() on a = %v, want it without %s", got, e.self)
		}
		if got := e.rpc(t, e.pa, "erlang", "nodes", ei.Atom("hidden")); !containsTerm(asTerms(got), e.self) {
			t.Errorf("nodes(hidden) on a = %v, want %s among them", got, e.self)
		}
	})
}

func asTerms(t ei.Term) []ei.Term {
	l, _ := t.(ei.List)
	return l
}
