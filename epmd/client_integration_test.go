package epmd_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goei/goei/epmd"
	"github.com/goei/goei/internal/erltest"
)

// These tests run our client against OTP's epmd and against our Server,
// and check what they register with OTP's tools (epmd -names, erl). Tests
// needing OTP programs skip with -short or when the programs are missing;
// those against our Server alone always run.

// impl is an epmd the client is tested against.
type impl struct {
	name  string
	start func(t *testing.T, relaxed bool) int // returns the port
}

var impls = []impl{
	{"OTP", func(t *testing.T, relaxed bool) int {
		if relaxed {
			return erltest.StartOTPEPMD(t, "-relaxed_command_check")
		}
		return erltest.StartOTPEPMD(t)
	}},
	{"goei", func(t *testing.T, relaxed bool) int {
		return erltest.ServeEPMD(t, &epmd.Server{RelaxedCommandCheck: relaxed})
	}},
}

// forEachImpl runs f as a subtest against each epmd.
func forEachImpl(t *testing.T, f func(t *testing.T, im impl)) {
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) { f(t, im) })
	}
}

// otpClient returns a Client for the epmd at port on loopback.
func otpClient(port int) *epmd.Client {
	return &epmd.Client{Host: "127.0.0.1", Port: port}
}

// epmdNames runs OTP's `epmd -port N -names` and returns its output.
func epmdNames(t *testing.T, port int) string {
	t.Helper()
	bin := erltest.Need(t, "epmd")
	out, err := exec.Command(bin, "-port", strconv.Itoa(port), "-names").CombinedOutput()
	if err != nil {
		t.Fatalf("epmd -names: %v\n%s", err, out)
	}
	return string(out)
}

// nameLine is how `epmd -names` lists a node.
func nameLine(name string, port int) string {
	return fmt.Sprintf("name %s at port %d\n", name, port)
}

// waitGone polls epmd until name is no longer registered. epmd
// notices a closed registration connection asynchronously.
func waitGone(t *testing.T, c *epmd.Client, name string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := c.PortPlease(t.Context(), name)
		if errors.Is(err, epmd.ErrNotRegistered) {
			return
		}
		if err != nil {
			t.Fatalf("PortPlease(%q) = %v, want ErrNotRegistered", name, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still registered 10s after Close", name)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestInteropPortPleaseFindsErl(t *testing.T) { forEachImpl(t, testPortPleaseFindsErl) }

func testPortPleaseFindsErl(t *testing.T, im impl) {
	port := im.start(t, false)
	node := erltest.StartErl(t, port, erltest.Options{})
	wantPort, err := erltest.PortOf(port, node.SName)
	if err != nil {
		t.Fatal(err)
	}
	c := otpClient(port)
	for _, name := range []string{node.SName, node.SName + "@127.0.0.1"} {
		info, err := c.PortPlease(t.Context(), name)
		if err != nil {
			t.Fatalf("PortPlease(%q): %v", name, err)
		}
		if int(info.Port) != wantPort || info.Name != node.SName || info.Type != epmd.NodeTypeNormal ||
			info.Protocol != epmd.ProtocolTCP || info.HighestVersion != 6 || info.LowestVersion != 5 {
			t.Errorf("PortPlease(%q) = %+v, want port %d, name %s, type normal, tcp, versions 6..5",
				name, info, wantPort, node.SName)
		}
	}

	_, err = c.PortPlease(t.Context(), erltest.UniqueName("nobody"))
	if !errors.Is(err, epmd.ErrNotRegistered) {
		t.Errorf("PortPlease(unknown) = %v, want ErrNotRegistered", err)
	}

	names, err := c.Names(t.Context())
	if err != nil {
		t.Fatalf("Names: %v", err)
	}
	if !containsEntry(names, epmd.NameEntry{Name: node.SName, Port: uint16(wantPort)}) {
		t.Errorf("Names() = %v, want it to hold %s at %d", names, node.SName, wantPort)
	}

	dump, err := c.Dump(t.Context())
	if err != nil {
		t.Fatalf("Dump: %v", err)
	}
	if want := "active name     <" + node.SName + "> at port " + strconv.Itoa(wantPort); !strings.Contains(dump, want) {
		t.Errorf("Dump() = %q, want it to contain %q", dump, want)
	}
}

func TestInteropPortPleaseHiddenErl(t *testing.T) {
	port := erltest.StartOTPEPMD(t)
	node := erltest.StartErl(t, port, erltest.Options{Hidden: true})
	info, err := otpClient(port).PortPlease(t.Context(), node.SName)
	if err != nil {
		t.Fatal(err)
	}
	// erl -hidden still registers as a normal node: hiding happens in the
	// distribution handshake, not in epmd.
	if info.Type != epmd.NodeTypeNormal || info.Name != node.SName {
		t.Errorf("PortPlease(%q) = %+v, want name %s, type normal", node.SName, info, node.SName)
	}
}

func TestInteropDefaultClientHonoursEnv(t *testing.T) {
	port := erltest.StartOTPEPMD(t)
	node := erltest.StartErl(t, port, erltest.Options{})
	t.Setenv("ERL_EPMD_PORT", strconv.Itoa(port))
	info, err := epmd.PortPlease(t.Context(), node.SName)
	if err != nil {
		t.Fatalf("PortPlease(%q) with ERL_EPMD_PORT=%d: %v", node.SName, port, err)
	}
	if info.Name != node.SName {
		t.Errorf("PortPlease(%q).Name = %q", node.SName, info.Name)
	}
}

func TestInteropPublish(t *testing.T) { forEachImpl(t, testPublish) }

func testPublish(t *testing.T, im impl) {
	port := im.start(t, false)
	c := otpClient(port)
	name := erltest.UniqueName("goei")
	info := epmd.NodeInfo{Name: name, Port: 23456, Type: epmd.NodeTypeHidden, HighestVersion: 6, LowestVersion: 5,
		Extra: []byte("xy")}
	reg, err := c.Publish(t.Context(), info)
	if err != nil {
		t.Fatalf("Publish(%+v): %v", info, err)
	}
	defer reg.Close()
	if reg.Creation() == 0 {
		t.Errorf("Creation() = 0, want non-zero")
	}

	if names, err := c.Names(t.Context()); err != nil || !containsEntry(names, epmd.NameEntry{Name: name, Port: 23456}) {
		t.Errorf("Names() = %v, %v, want it to list %s at port 23456", names, err, name)
	}
	if erltest.HaveOTP() {
		if out := epmdNames(t, port); !strings.Contains(out, nameLine(name, 23456)) {
			t.Errorf("epmd -names = %q, want it to list %s at port 23456", out, name)
		}
		erlOut := erltest.Eval(t, port, `io:format("~p~n", [net_adm:names("localhost")])`)
		if want := fmt.Sprintf(`{"%s",23456}`, name); !strings.Contains(erlOut, want) {
			t.Errorf("net_adm:names() = %s, want it to contain %s", erlOut, want)
		}
	}
	got, err := c.PortPlease(t.Context(), name)
	if err != nil {
		t.Fatalf("PortPlease(%q): %v", name, err)
	}
	if got.Name != name || got.Port != 23456 || got.Type != epmd.NodeTypeHidden || got.HighestVersion != 6 ||
		got.LowestVersion != 5 || string(got.Extra) != "xy" {
		t.Errorf("PortPlease(%q) = %+v, want %+v", name, got, info)
	}

	// A second registration of the name is refused.
	_, err = c.Publish(t.Context(), epmd.NodeInfo{Name: name, Port: 23457})
	var refused *epmd.RefusedError
	if !errors.As(err, &refused) || refused.Op != "alive2" || refused.Result == 0 {
		t.Errorf("second Publish(%q) = %v, want *RefusedError{alive2, non-zero}", name, err)
	}

	select {
	case <-reg.Done():
		t.Fatalf("registration ended early: %v", reg.Err())
	default:
	}
	if err := reg.Shutdown(t.Context()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := reg.Err(); err != nil {
		t.Errorf("Err() after Shutdown = %v, want nil", err)
	}
	// Shutdown waits for epmd to drop the name, so no polling here.
	if _, err := c.PortPlease(t.Context(), name); !errors.Is(err, epmd.ErrNotRegistered) {
		t.Errorf("PortPlease(%q) after Shutdown = %v, want ErrNotRegistered", name, err)
	}
	if erltest.HaveOTP() {
		if out := epmdNames(t, port); strings.Contains(out, "name "+name+" ") {
			t.Errorf("epmd -names after Shutdown = %q, still lists %s", out, name)
		}
	}
	if err := reg.Close(); err != nil {
		t.Errorf("Close after Shutdown = %v", err)
	}
}

func TestInteropPublishCloseUnregisters(t *testing.T) { forEachImpl(t, testPublishCloseUnregisters) }

func testPublishCloseUnregisters(t *testing.T, im impl) {
	port := im.start(t, false)
	c := otpClient(port)
	name := erltest.UniqueName("goei")
	// Zero fields take defaults: a hidden node, versions 6..5.
	reg, err := c.Publish(t.Context(), epmd.NodeInfo{Name: name, Port: 34567})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.PortPlease(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	if got.Type != epmd.NodeTypeHidden || got.HighestVersion != 6 || got.LowestVersion != 5 || got.Protocol != epmd.ProtocolTCP {
		t.Errorf("PortPlease(%q) = %+v, want hidden, tcp, versions 6..5", name, got)
	}
	if err := reg.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := reg.Err(); err != nil {
		t.Errorf("Err() after Close = %v, want nil", err)
	}
	waitGone(t, c, name)
	if erltest.HaveOTP() {
		if out := epmdNames(t, port); strings.Contains(out, "name "+name+" ") {
			t.Errorf("epmd -names after Close = %q, still lists %s", out, name)
		}
	}

	// The name can be registered again, with a new creation.
	reg2, err := c.Publish(t.Context(), epmd.NodeInfo{Name: name, Port: 34567})
	if err != nil {
		t.Fatalf("Publish again: %v", err)
	}
	defer reg2.Close()
	if reg2.Creation() == reg.Creation() {
		t.Errorf("creation after re-registering = %d, same as before", reg2.Creation())
	}
}

func TestInteropStrictRefusesStopAndKill(t *testing.T) { forEachImpl(t, testStrictRefusesStopAndKill) }

func testStrictRefusesStopAndKill(t *testing.T, im impl) {
	port := im.start(t, false)
	c := otpClient(port)
	name := erltest.UniqueName("goei")
	reg, err := c.Publish(t.Context(), epmd.NodeInfo{Name: name, Port: 34567})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Unpublish(t.Context(), name); !errors.Is(err, epmd.ErrNotAllowed) {
		t.Errorf("Unpublish(%q) = %v, want ErrNotAllowed", name, err)
	}
	if err := c.Kill(t.Context()); !errors.Is(err, epmd.ErrNotAllowed) {
		t.Errorf("Kill() with a live node = %v, want ErrNotAllowed", err)
	}
	if err := reg.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	// With no live nodes epmd obeys KILL_REQ even when strict.
	if err := c.Kill(t.Context()); err != nil {
		t.Errorf("Kill() with no nodes = %v, want nil", err)
	}
	if _, err := c.Names(t.Context()); err == nil {
		t.Errorf("Names() after Kill succeeded, want a dial error")
	}
}

func TestInteropRelaxedStopAndKill(t *testing.T) { forEachImpl(t, testRelaxedStopAndKill) }

func testRelaxedStopAndKill(t *testing.T, im impl) {
	port := im.start(t, true)
	c := otpClient(port)
	// Without this, the registrations would register again after epmd
	// drops them, as erl does (see TestInteropReregister).
	c.ReregisterDelay = -1
	name := erltest.UniqueName("goei")
	reg, err := c.Publish(t.Context(), epmd.NodeInfo{Name: name, Port: 45678})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	other := erltest.UniqueName("goei")
	reg2, err := c.Publish(t.Context(), epmd.NodeInfo{Name: other, Port: 45679})
	if err != nil {
		t.Fatal(err)
	}
	defer reg2.Close()

	names, err := c.Names(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !containsEntry(names, epmd.NameEntry{Name: name, Port: 45678}) ||
		!containsEntry(names, epmd.NameEntry{Name: other, Port: 45679}) {
		t.Errorf("Names() = %v, want %s at 45678 and %s at 45679", names, name, other)
	}

	if err := c.Unpublish(t.Context(), name); err != nil {
		t.Fatalf("Unpublish(%q): %v", name, err)
	}
	// epmd closes the registration's connection on STOP_REQ.
	<-reg.Done() // the test's timeout catches a hang
	if err := reg.Err(); !errors.Is(err, io.EOF) {
		t.Errorf("Err() after Unpublish = %v, want io.EOF", err)
	}
	if _, err := c.PortPlease(t.Context(), name); !errors.Is(err, epmd.ErrNotRegistered) {
		t.Errorf("PortPlease(%q) after Unpublish = %v, want ErrNotRegistered", name, err)
	}
	if err := c.Unpublish(t.Context(), name); !errors.Is(err, epmd.ErrNotRegistered) {
		t.Errorf("second Unpublish(%q) = %v, want ErrNotRegistered", name, err)
	}
	dump, err := c.Dump(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(dump, "old/unused name <"+name+">") || !strings.Contains(dump, "active name     <"+other+">") {
		t.Errorf("Dump() = %q, want %s unused and %s active", dump, name, other)
	}

	// Relaxed, epmd obeys KILL_REQ with live nodes, and the registration
	// learns that epmd has gone.
	if err := c.Kill(t.Context()); err != nil {
		t.Fatalf("Kill(): %v", err)
	}
	<-reg2.Done() // the test's timeout catches a hang
	if err := reg2.Err(); !errors.Is(err, io.EOF) {
		t.Errorf("Err() after Kill = %v, want io.EOF", err)
	}
}

// TestInteropContextCancel checks that a cancelled context interrupts a request
// before it is sent.
func TestInteropContextCancel(t *testing.T) { forEachImpl(t, testContextCancel) }

func testContextCancel(t *testing.T, im impl) {
	port := im.start(t, false)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := otpClient(port).Names(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Names(cancelled ctx) = %v, want context.Canceled", err)
	}
}

func containsEntry(names []epmd.NameEntry, want epmd.NameEntry) bool {
	for _, n := range names {
		if n == want {
			return true
		}
	}
	return false
}
