package epmd_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goei/goei/epmd"
	"github.com/goei/goei/internal/erltest"
)

// reregisterBound is how long after epmd is back a registration must be
// registered again: erl tries every 2 s, so it is at most one wait (2 s)
// plus the attempt itself. The slack covers a loaded machine.
const reregisterBound = 2*time.Second + 5*time.Second

// TestInteropReregister kills OTP's epmd (SIGKILL, by pid) under a
// registration and erl nodes (of each OTP release at hand, see
// erltest.OTPs), and starts it again on the same port: all register
// again, the Registration telling about it, lookups find our port again,
// and the name cannot be taken from us.
func TestInteropReregister(t *testing.T) {
	p := erltest.StartEPMDProcess(t)
	var erls []*erltest.Node
	for _, o := range erltest.OTPs(t) {
		erls = append(erls, o.StartErl(t, p.Port, erltest.Options{}))
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	c := otpClient(p.Port)
	name := erltest.UniqueName("goei")
	const port = 34567
	reg, err := c.Publish(ctx, epmd.NodeInfo{Name: name, Port: port})
	if err != nil {
		t.Fatalf("Publish(%q) = %v", name, err)
	}
	defer reg.Close()
	creation := reg.Creation()

	// The clock starts before the kill: the registration may see the
	// connection close, and start its 2 s wait, before Kill returns.
	killed := time.Now()
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	if !reg.WaitForStateChange(ctx, epmd.StateRegistered) {
		t.Fatal("the registration did not notice that epmd was killed")
	}
	if s, err := reg.State(), reg.Err(); s != epmd.StateLost || !errors.Is(err, io.EOF) {
		t.Errorf("after kill -9: State(), Err() = %v, %v; want %v, io.EOF", s, err, epmd.StateLost)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()

	// Poll epmd for all names, as a node looking them up would.
	var goAt time.Duration
	erlAt := make([]time.Duration, len(erls))
	for goAt == 0 || slices.Contains(erlAt, 0) {
		if ctx.Err() != nil {
			t.Fatalf("not registered again %v after epmd came back: goei %v, erl %v", time.Since(back), goAt, erlAt)
		}
		if goAt == 0 {
			if info, err := c.PortPlease(ctx, name); err == nil {
				goAt = time.Since(killed)
				if info.Port != port {
					t.Errorf("PortPlease(%q) = port %d after epmd restarted, want %d", name, info.Port, port)
				}
			}
		}
		for i, erl := range erls {
			if _, err := erltest.PortOf(p.Port, erl.SName); err == nil && erlAt[i] == 0 {
				erlAt[i] = time.Since(killed)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("epmd killed, back after %v; registered again after: goei %v, erl %v", back.Sub(killed), goAt, erlAt)
	if bound := back.Sub(killed) + reregisterBound; goAt > bound {
		t.Errorf("registered again %v after the kill, want at most %v", goAt, bound)
	}
	if goAt < 2*time.Second {
		t.Errorf("registered again %v after the kill, want erl's 2 s wait first", goAt)
	}
	if !reg.WaitForStateChange(ctx, epmd.StateLost) || reg.State() != epmd.StateRegistered || reg.Err() != nil {
		t.Errorf("State(), Err() = %v, %v after registering again, want %v, nil", reg.State(), reg.Err(), epmd.StateRegistered)
	}
	if reg.Creation() != creation {
		t.Errorf("Creation() = %d after registering again, want %d as before", reg.Creation(), creation)
	}

	// The name is ours again: a squatter is refused.
	_, err = c.Publish(ctx, epmd.NodeInfo{Name: name, Port: port + 1})
	if !errors.Is(err, epmd.ErrNameInUse) {
		t.Errorf("Publish(%q) by a squatter = %v, want ErrNameInUse", name, err)
	}

	// Shutdown unregisters for good: no registering again.
	if err := reg.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown() = %v", err)
	}
	if _, err := c.PortPlease(ctx, name); !errors.Is(err, epmd.ErrNotRegistered) {
		t.Errorf("PortPlease(%q) after Shutdown = %v, want ErrNotRegistered", name, err)
	}
}

// TestInteropReregisterAfterStop checks that a registration that epmd
// -stop dropped comes back, as erl's does.
func TestInteropReregisterAfterStop(t *testing.T) {
	forEachImpl(t, func(t *testing.T, im impl) {
		port := im.start(t, true)
		c := otpClient(port)
		c.ReregisterDelay = 100 * time.Millisecond
		name := erltest.UniqueName("goei")
		reg, err := c.Publish(t.Context(), epmd.NodeInfo{Name: name, Port: 34568})
		if err != nil {
			t.Fatal(err)
		}
		defer reg.Close()
		if err := c.Unpublish(t.Context(), name); err != nil {
			t.Fatalf("Unpublish(%q) = %v", name, err)
		}
		// WaitForStateChange could miss the short-lived StateLost.
		for {
			if info, err := c.PortPlease(t.Context(), name); err == nil && info.Port == 34568 && reg.State() == epmd.StateRegistered {
				break
			}
			if t.Context().Err() != nil {
				t.Fatalf("%s not registered again after STOP_REQ: %v", name, reg.Err())
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// TestInteropNameInUse checks the error for a name another node has,
// against OTP's epmd and ours.
func TestInteropNameInUse(t *testing.T) {
	forEachImpl(t, func(t *testing.T, im impl) {
		port := im.start(t, false)
		c := otpClient(port)
		name := erltest.UniqueName("goei")
		reg, err := c.Publish(t.Context(), epmd.NodeInfo{Name: name, Port: 34569})
		if err != nil {
			t.Fatal(err)
		}
		defer reg.Close()
		_, err = c.Publish(t.Context(), epmd.NodeInfo{Name: name, Port: 34570})
		var refused *epmd.RefusedError
		if !errors.Is(err, epmd.ErrNameInUse) || !errors.As(err, &refused) {
			t.Fatalf("second Publish(%q) = %v, want ErrNameInUse in a *RefusedError", name, err)
		}
		if want := `epmd: publish "` + name + `": epmd: name in use`; !strings.HasPrefix(err.Error(), want) {
			t.Errorf("second Publish(%q) = %q, want it to start with %q", name, err, want)
		}
	})
}
