package ergoreg_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ergo-services/ergo/lib"
	"github.com/ergo-services/ergo/node"
	"github.com/ergo-services/ergo/proto/dist"

	"github.com/goei/goei/epmd"
	"github.com/goei/goei/epmd/ergoreg"
	"github.com/goei/goei/internal/erltest"
)

// These tests use the Registrar without an ergo node, against goei's epmd.

func newRegistrar(t *testing.T) (*ergoreg.Registrar, *epmd.Client) {
	c := &epmd.Client{Host: "127.0.0.1", Port: erltest.StartEPMD(t)}
	return &ergoreg.Registrar{Client: c}, c
}

// TestRegister checks what Register registers, that ergo's own registrar
// reads it back, and that the registration lasts until ctx ends.
func TestRegister(t *testing.T) {
	for _, tlsOn := range []bool{false, true} {
		r, c := newRegistrar(t)
		ctx := testContext(t)
		rctx, cancel := context.WithCancel(ctx)
		defer cancel()
		alive := erltest.UniqueName("ergo")
		if err := r.Register(rctx, alive+"@127.0.0.1", node.RegisterOptions{Port: 4321, EnableTLS: tlsOn}); err != nil {
			t.Fatalf("Register(TLS %v) = %v", tlsOn, err)
		}
		info, err := c.PortPlease(ctx, alive)
		if err != nil {
			t.Fatal(err)
		}
		want := []byte{0x11, 0x3b, 1, 0} // magic 4411, version 1, TLS
		if tlsOn {
			want[3] = 1
		}
		if info.Port != 4321 || info.Type != epmd.NodeTypeNormal || info.HighestVersion != 6 || info.LowestVersion != 5 ||
			string(info.Extra) != string(want) {
			t.Errorf("PortPlease(%s) = %+v, want port 4321, normal, versions 6..5, extra %x", alive, info, want)
		}
		route, err := dist.CreateRegistrarWithRemoteEPMD("127.0.0.1", uint16(c.Port)).Resolve(alive + "@127.0.0.1")
		if err != nil || route.Port != 4321 || !route.Options.IsErgo || (route.Options.TLS != nil) != tlsOn {
			t.Errorf("ergo's Resolve(%s) = %+v, %v; want port 4321, ergo, TLS %v", alive, route, err, tlsOn)
		}

		// A second Register is refused while the first lasts.
		err = r.Register(rctx, erltest.UniqueName("ergo")+"@127.0.0.1", node.RegisterOptions{Port: 4322})
		if err == nil || !strings.Contains(err.Error(), "already running") {
			t.Errorf("second Register() = %v, want the registrar already running", err)
		}

		reg := r.Registration()
		cancel()
		<-reg.Done()
		if got := r.Registration(); got != nil {
			t.Errorf("Registration() after ctx ended = %v, want nil", got)
		}
		// The registration is gone once epmd has seen the close.
		for {
			if _, err := c.PortPlease(ctx, alive); errors.Is(err, epmd.ErrNotRegistered) {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("%s still registered after ctx ended", alive)
			}
			time.Sleep(10 * time.Millisecond)
		}
		// Then the Registrar can register again.
		if err := r.Register(ctx, alive+"@127.0.0.1", node.RegisterOptions{Port: 4321}); err != nil {
			t.Errorf("Register() after the first ended = %v", err)
		}
	}
}

func TestRegisterNameInUse(t *testing.T) {
	r, c := newRegistrar(t)
	ctx := testContext(t)
	alive := erltest.UniqueName("ergo")
	reg, err := c.Publish(ctx, epmd.NodeInfo{Name: alive, Port: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	err = r.Register(ctx, alive+"@127.0.0.1", node.RegisterOptions{Port: 2})
	if !errors.Is(err, epmd.ErrNameInUse) || !strings.Contains(err.Error(), "name in use") {
		t.Errorf("Register(%s) = %v, want ErrNameInUse", alive, err)
	}
	if r.Registration() != nil {
		t.Errorf("Registration() after a failed Register is not nil")
	}
}

func TestBadNames(t *testing.T) {
	r := &ergoreg.Registrar{Client: &epmd.Client{Host: "127.0.0.1", Port: 1}} // never dialled
	for _, name := range []string{"", "a", "a@", "@b", "a@b@c"} {
		if err := r.Register(t.Context(), name, node.RegisterOptions{Port: 1}); err == nil || !strings.Contains(err.Error(), "name@host") {
			t.Errorf("Register(%q) = %v, want a name error", name, err)
		}
		if _, err := r.Resolve(name); err == nil || !strings.Contains(err.Error(), "name@host") {
			t.Errorf("Resolve(%q) = %v, want a name error", name, err)
		}
	}
}

// TestResolve looks up nodes that our client published, with and without
// ergo's extra data, and compares with ergo's own registrar.
func TestResolve(t *testing.T) {
	r, c := newRegistrar(t)
	ergoReg := dist.CreateRegistrarWithRemoteEPMD("127.0.0.1", uint16(c.Port))
	for _, tt := range []struct {
		name  string
		extra []byte
		want  node.RouteOptions
	}{
		{"erl", nil, node.RouteOptions{}},
		{"ergo", []byte{0x11, 0x3b, 1, 0}, node.RouteOptions{IsErgo: true}},
		{"ergo-tls", []byte{0x11, 0x3b, 1, 1}, node.RouteOptions{IsErgo: true}},
		{"ergo-v2", []byte{0x11, 0x3b, 2, 1}, node.RouteOptions{}},
		{"other-magic", []byte{0x11, 0x3c, 1, 1}, node.RouteOptions{}},
		{"short", []byte{0x11, 0x3b, 1}, node.RouteOptions{}},
		{"longer", []byte{0x11, 0x3b, 1, 1, 9, 9}, node.RouteOptions{IsErgo: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testContext(t)
			alive := erltest.UniqueName("n")
			reg, err := c.Publish(ctx, epmd.NodeInfo{Name: alive, Port: 4444, Extra: tt.extra})
			if err != nil {
				t.Fatal(err)
			}
			defer reg.Close()
			got, err := r.Resolve(alive + "@127.0.0.1")
			if err != nil {
				t.Fatalf("Resolve = %v", err)
			}
			mine := got.Options.TLS != nil
			got.Options.TLS = nil
			if want := (node.Route{Node: alive, Host: "127.0.0.1", Port: 4444, Options: tt.want}); got != want {
				t.Errorf("Resolve = %+v, want %+v", got, want)
			}
			ergoGot, err := ergoReg.Resolve(alive + "@127.0.0.1")
			if err != nil {
				t.Fatalf("ergo's Resolve = %v", err)
			}
			if theirs := ergoGot.Options.TLS != nil; mine != theirs || got.Options.IsErgo != ergoGot.Options.IsErgo {
				t.Errorf("Resolve: TLS %v, ergo %v; ergo's registrar: TLS %v, ergo %v", mine, got.Options.IsErgo, theirs, ergoGot.Options.IsErgo)
			}
		})
	}
	t.Run("unregistered", func(t *testing.T) {
		name := erltest.UniqueName("nobody") + "@127.0.0.1"
		if got, err := r.Resolve(name); !errors.Is(err, epmd.ErrNotRegistered) {
			t.Errorf("Resolve(%s) = %+v, %v; want ErrNotRegistered", name, got, err)
		}
	})
}

// TestResolveTimeout resolves with an epmd that never answers.
func TestResolveTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := l.Accept()
		if err != nil {
			return
		}
		io.Copy(io.Discard, c) // until the client gives up
		c.Close()
	}()
	defer func() {
		l.Close()
		<-done
	}()
	r := &ergoreg.Registrar{
		Client:         &epmd.Client{Port: l.Addr().(*net.TCPAddr).Port},
		ResolveTimeout: 50 * time.Millisecond,
	}
	if got, err := r.Resolve("silent@127.0.0.1"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Resolve with a silent epmd = %+v, %v; want context.DeadlineExceeded", got, err)
	}
}

func TestUnsupported(t *testing.T) {
	r := new(ergoreg.Registrar)
	if err := r.RegisterProxy("a@b", 1, node.ProxyFlags{}); err != lib.ErrUnsupported {
		t.Errorf("RegisterProxy = %v, want lib.ErrUnsupported", err)
	}
	if err := r.UnregisterProxy("a@b"); err != lib.ErrUnsupported {
		t.Errorf("UnregisterProxy = %v, want lib.ErrUnsupported", err)
	}
	if _, err := r.ResolveProxy("a@b"); err != lib.ErrProxyNoRoute {
		t.Errorf("ResolveProxy = %v, want lib.ErrProxyNoRoute", err)
	}
	if _, err := r.Config(); err != lib.ErrUnsupported {
		t.Errorf("Config = %v, want lib.ErrUnsupported", err)
	}
	if _, err := r.ConfigItem("x"); err != lib.ErrUnsupported {
		t.Errorf("ConfigItem = %v, want lib.ErrUnsupported", err)
	}
	if err := r.SetConfigUpdateCallback(nil); err != lib.ErrUnsupported {
		t.Errorf("SetConfigUpdateCallback = %v, want lib.ErrUnsupported", err)
	}
}
