package ei_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/goei/goei/ei"
	"github.com/goei/goei/epmd"
	"github.com/goei/goei/internal/erltest"
)

// waitReregistered waits until reg is registered again.
func waitReregistered(t *testing.T, ctx context.Context, reg *epmd.Registration) {
	t.Helper()
	for s := reg.State(); s != epmd.StateRegistered; s = reg.State() {
		if s == epmd.StateClosed || !reg.WaitForStateChange(ctx, s) {
			t.Fatalf("registration %v, not registered again: %v", reg.State(), reg.Err())
		}
	}
}

// TestPublishSurvivesEPMDRestart kills OTP's epmd (SIGKILL) under a
// published Listener and starts it again on the same port: the Listener
// registers again, logs it, keeps its creation, and erl finds it and
// talks to it.
func TestPublishSurvivesEPMDRestart(t *testing.T) {
	p := erltest.StartEPMDProcess(t)
	n := newGoNode(t, p.Port, 0)
	logs := new(syncBuffer)
	n.Logger = slog.New(slog.NewTextHandler(logs, nil))
	ctx := testContext(t)
	l := listenPublished(t, ctx, n, ":0")
	defer l.Close()
	reg := l.Registration()
	creation, err := n.CurrentCreation()
	if err != nil || creation != reg.Creation() {
		t.Fatalf("CurrentCreation() = %d, %v, want epmd's %d", creation, err, reg.Creation())
	}

	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	if !reg.WaitForStateChange(ctx, epmd.StateRegistered) {
		t.Fatal("the registration did not notice that epmd was killed")
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	waitReregistered(t, ctx, reg)
	if got, err := n.CurrentCreation(); got != creation {
		t.Errorf("CurrentCreation() = %d, %v after registering again, want %d as before", got, err, creation)
	}
	if l.Registration() != reg {
		t.Errorf("Registration() changed when registering again")
	}
	for _, want := range []string{"epmd: registration lost", "epmd: registered again"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("Node.Logger got no %q:\n%s", want, logs.String())
		}
	}

	echoFromErl(ctx, t, l, n.Name, func(expr string) string {
		return erltest.Eval(t, p.Port, expr, "-sname", erltest.UniqueName("erl"), "-setcookie", "c")
	})
}

// TestPublishAgain checks that publishing a published Listener again keeps
// its registration, that Close ends it, and that a taken name is reported
// as such.
func TestPublishAgain(t *testing.T) {
	port := erltest.StartEPMD(t)
	n := newGoNode(t, port, 0)
	ctx := testContext(t)
	l, err := n.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if reg := l.Registration(); reg != nil {
		t.Errorf("Registration() before Publish = %v, want nil", reg)
	}
	if err := l.Publish(ctx); err != nil {
		t.Fatalf("Publish() = %v", err)
	}
	reg := l.Registration()
	if err := l.Publish(ctx); err != nil {
		t.Fatalf("second Publish() = %v, want nil", err)
	}
	if l.Registration() != reg || reg.State() != epmd.StateRegistered {
		t.Errorf("second Publish() replaced the registration or ended it (%v)", reg.State())
	}

	// Another node with the same name is refused.
	other := &ei.Node{Name: n.Name, Cookie: "c", EPMD: n.EPMD}
	l2, err := other.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if err := l2.Publish(ctx); !errors.Is(err, epmd.ErrNameInUse) || !strings.Contains(err.Error(), "name in use") {
		t.Errorf("Publish() of a name in use = %v, want ErrNameInUse", err)
	}

	l.Close()
	if got := l.Registration(); got != nil {
		t.Errorf("Registration() after Close = %v, want nil", got)
	}
	if s := reg.State(); s != epmd.StateClosed {
		t.Errorf("registration %v after Close, want %v", s, epmd.StateClosed)
	}
}
