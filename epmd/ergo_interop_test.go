package epmd_test

// Interop tests against the epmd client of ergo v1.999.224
// (github.com/ergo-services/ergo), an independent Go implementation, run
// in-process: they need no Erlang installation and run with -short too.
//
// ergo's registrar registers its node with ALIVE2_REQ as a normal node
// ('M') of distribution versions 5 to 6, with 4 bytes of extra data (magic
// 4411, version 1, a TLS flag), and keeps the connection open. It reads
// each reply with a single Read, so the server must write a reply whole.

import (
	"context"
	"flag"
	"fmt"
	"math"
	"net"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ergo-services/ergo"
	"github.com/ergo-services/ergo/node"
	"github.com/ergo-services/ergo/proto/dist"

	"github.com/goei/goei/epmd"
	"github.com/goei/goei/internal/erltest"
)

func init() {
	// ergo logs warnings with package log unless told otherwise;
	// -ergo.warning on the command line still wins.
	flag.Set("ergo.warning", "false")
}

// ergoExtra is the extra data ergo's registrar sends in ALIVE2_REQ: magic
// 4411, version 1, and 1 if the node accepts TLS.
func ergoExtra(tls bool) []byte {
	b := []byte{4411 >> 8, 4411 & 0xff, 1, 0}
	if tls {
		b[3] = 1
	}
	return b
}

func ergoTestContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestErgoRegisters starts an ergo node registered with our Server, finds
// it with our client's PortPlease and Names, and stops it.
func TestErgoRegisters(t *testing.T) {
	port := erltest.StartEPMD(t)
	ctx := ergoTestContext(t)

	begin := erltest.FreePort(t)
	end := min(begin+100, math.MaxUint16)
	alive := erltest.UniqueName("ergo")
	n, err := ergo.StartNode(alive+"@127.0.0.1", "c", node.Options{
		Listeners: []node.Listener{{ListenBegin: uint16(begin), ListenEnd: uint16(end)}},
		Registrar: dist.CreateRegistrarWithRemoteEPMD("127.0.0.1", uint16(port)),
	})
	if err != nil {
		t.Fatalf("ergo.StartNode: %v", err)
	}
	t.Cleanup(func() {
		n.Stop()
		n.Wait()
	})

	c := &epmd.Client{Host: "127.0.0.1", Port: port}
	info, err := c.PortPlease(ctx, alive)
	if err != nil {
		t.Fatalf("PortPlease(%q) = %v", alive, err)
	}
	if info.Port < uint16(begin) || info.Port > uint16(end) {
		t.Errorf("PortPlease(%q).Port = %d, want ergo's listen port in %d..%d", alive, info.Port, begin, end)
	}
	want := epmd.NodeInfo{
		Name:           alive,
		Port:           info.Port,
		Type:           epmd.NodeTypeNormal,
		Protocol:       epmd.ProtocolTCP,
		HighestVersion: 6,
		LowestVersion:  5,
		Extra:          ergoExtra(false),
	}
	if !reflect.DeepEqual(info, want) {
		t.Errorf("PortPlease(%q) = %+v, want %+v", alive, info, want)
	}
	// The port is ergo's distribution listener.
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", info.Port))
	if err != nil {
		t.Errorf("dial ergo's port %d: %v", info.Port, err)
	} else {
		conn.Close()
	}

	names, err := c.Names(ctx)
	if err != nil {
		t.Fatalf("Names() = %v", err)
	}
	if e := (epmd.NameEntry{Name: alive, Port: info.Port}); !slices.Contains(names, e) {
		t.Errorf("Names() = %v, want it to list %v", names, e)
	}

	// Stopping the node closes its ALIVE2 connection, which unregisters
	// the name.
	n.Stop()
	n.Wait()
	waitGone(t, c, alive)
}

// TestErgoResolves has ergo's registrar look up nodes that our client
// published: the port, and ergo's own extra data, reach it intact.
func TestErgoResolves(t *testing.T) {
	port := erltest.StartEPMD(t)
	c := &epmd.Client{Host: "127.0.0.1", Port: port}
	r := dist.CreateRegistrarWithRemoteEPMD("127.0.0.1", uint16(port))

	tests := []struct {
		name  string
		info  epmd.NodeInfo
		want  node.Route
		isTLS bool
	}{
		{
			name: "erl",
			info: epmd.NodeInfo{Port: 4370, Type: epmd.NodeTypeNormal, HighestVersion: 6, LowestVersion: 5},
			want: node.Route{Port: 4370},
		},
		{
			name: "hidden",
			info: epmd.NodeInfo{Port: 65535, Type: epmd.NodeTypeHidden, HighestVersion: 6, LowestVersion: 6},
			want: node.Route{Port: 65535},
		},
		{
			name: "ergo",
			info: epmd.NodeInfo{Port: 15000, Type: epmd.NodeTypeNormal, HighestVersion: 6, LowestVersion: 5, Extra: ergoExtra(false)},
			want: node.Route{Port: 15000, Options: node.RouteOptions{IsErgo: true}},
		},
		{
			name:  "ergo-tls",
			info:  epmd.NodeInfo{Port: 15001, Type: epmd.NodeTypeNormal, HighestVersion: 6, LowestVersion: 5, Extra: ergoExtra(true)},
			want:  node.Route{Port: 15001, Options: node.RouteOptions{IsErgo: true}},
			isTLS: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := ergoTestContext(t)
			tt.info.Name = erltest.UniqueName("go")
			reg, err := c.Publish(ctx, tt.info)
			if err != nil {
				t.Fatalf("Publish(%+v) = %v", tt.info, err)
			}
			defer reg.Close()

			got, err := r.Resolve(tt.info.Name + "@127.0.0.1")
			if err != nil {
				t.Fatalf("ergo Resolve(%s@127.0.0.1) = %v", tt.info.Name, err)
			}
			if isTLS := got.Options.TLS != nil; isTLS != tt.isTLS {
				t.Errorf("ergo Resolve(%s@127.0.0.1).Options.TLS = %v, want TLS %v", tt.info.Name, got.Options.TLS, tt.isTLS)
			}
			got.Options.TLS = nil
			want := tt.want
			want.Node, want.Host = tt.info.Name, "127.0.0.1"
			if !reflect.DeepEqual(got, want) {
				t.Errorf("ergo Resolve(%s@127.0.0.1) = %+v, want %+v", tt.info.Name, got, want)
			}
		})
	}

	t.Run("unregistered", func(t *testing.T) {
		name := erltest.UniqueName("nobody")
		if got, err := r.Resolve(name + "@127.0.0.1"); err == nil {
			t.Errorf("ergo Resolve(%s@127.0.0.1) = %+v, want an error", name, got)
		}
	})
}

// TestErgoNameTaken checks that ergo's registrar cannot take a name our
// client registered, and that the refusal leaves our registration alone.
func TestErgoNameTaken(t *testing.T) {
	port := erltest.StartEPMD(t)
	ctx := ergoTestContext(t)
	c := &epmd.Client{Host: "127.0.0.1", Port: port}
	info := epmd.NodeInfo{Name: erltest.UniqueName("go"), Port: 4242, Type: epmd.NodeTypeHidden, HighestVersion: 6, LowestVersion: 5}
	reg, err := c.Publish(ctx, info)
	if err != nil {
		t.Fatalf("Publish(%+v) = %v", info, err)
	}
	defer reg.Close()

	// The registrar's goroutine ends with the context.
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := dist.CreateRegistrarWithRemoteEPMD("127.0.0.1", uint16(port))
	err = r.Register(rctx, info.Name+"@127.0.0.1", node.RegisterOptions{Port: 5555})
	if err == nil || !strings.Contains(err.Error(), "taken") {
		t.Errorf("ergo Register(%q) = %v, want the name taken", info.Name, err)
	}
	got, err := c.PortPlease(ctx, info.Name)
	if err != nil || got.Port != info.Port {
		t.Errorf("PortPlease(%q) = %+v, %v, want port %d", info.Name, got, err, info.Port)
	}
}
