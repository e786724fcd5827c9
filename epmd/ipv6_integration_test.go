package epmd_test

import (
	"context"
	"testing"
	"time"

	"golang.org/x/net/nettest"

	"github.com/goei/goei/epmd"
	"github.com/goei/goei/internal/erltest"
)

func needIPv6(t *testing.T) {
	t.Helper()
	if !nettest.SupportsIPv6() {
		t.Skip("IPv6 is not supported here")
	}
}

// serveIPv6 serves a Server on [::1] alone and returns its port.
func serveIPv6(t *testing.T) int {
	return erltest.ServeEPMDAt(t, &epmd.Server{}, "[::1]:0")
}

// TestClientIPv6 registers and looks up nodes over IPv6 loopback, with
// the host written plain and bracketed, against OTP's epmd (which binds
// ::1 as well as 127.0.0.1) and our Server listening on ::1 alone.
func TestClientIPv6(t *testing.T) {
	needIPv6(t)
	epmds := []struct {
		name  string
		start func(t *testing.T) int
	}{
		{"OTP", func(t *testing.T) int { return erltest.StartOTPEPMD(t) }},
		{"goei", serveIPv6},
	}
	for _, e := range epmds {
		for _, host := range []string{"::1", "[::1]"} {
			t.Run(e.name+"/"+host, func(t *testing.T) {
				port := e.start(t)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				c := &epmd.Client{Host: host, Port: port}
				name := erltest.UniqueName("v6")
				reg, err := c.Publish(ctx, epmd.NodeInfo{Name: name, Port: 4242})
				if err != nil {
					t.Fatalf("Publish() = %v", err)
				}
				defer reg.Close()
				names, err := c.Names(ctx)
				if err != nil || len(names) != 1 || names[0].Name != name {
					t.Errorf("Names() = %v, %v; want %s", names, err, name)
				}
				// The host in the node name picks epmd's address.
				info, err := (&epmd.Client{Port: port}).PortPlease(ctx, name+"@"+host)
				if err != nil || info.Port != 4242 {
					t.Errorf("PortPlease(%s@%s) = %+v, %v; want port 4242", name, host, info, err)
				}
			})
		}
	}
}

// TestErlInet6RegistersOverIPv6 has erl nodes with -proto_dist inet6_tcp
// register with our Server listening on ::1 alone, which they reach over
// IPv6, as they do OTP's epmd.
func TestErlInet6RegistersOverIPv6(t *testing.T) {
	needIPv6(t)
	for _, otp := range erltest.OTPs(t) {
		t.Run(otp.String(), func(t *testing.T) {
			port := serveIPv6(t)
			erl := otp.StartErl(t, port, erltest.Options{Args: []string{"-proto_dist", "inet6_tcp"}})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			info, err := (&epmd.Client{Port: port}).PortPlease(ctx, erl.SName+"@::1")
			if err != nil || info.Port == 0 {
				t.Fatalf("PortPlease(%s) = %+v, %v", erl.SName, info, err)
			}
		})
	}
}
