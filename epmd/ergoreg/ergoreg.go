// Package ergoreg plugs goei's epmd client into ergo
// (github.com/ergo-services/ergo v1.999.224) as the node.Registrar of an
// ergo node:
//
//	n, err := ergo.StartNode("demo@localhost", cookie, node.Options{
//		Registrar: &ergoreg.Registrar{},
//	})
//
// The registration survives epmd restarts as erl's does: epmd.Registration
// registers the node again 2 seconds after epmd drops it and every 2
// seconds until that succeeds (ergo's own registrar tries at once, then
// every 3 seconds), and tells its state and why it is lost (see
// Registrar.Registration), where ergo's only logs. Lookups are bounded by
// a timeout, which ergo's are not. Both read and write ergo's extra data
// in ALIVE2_REQ, so ergo nodes find each other's TLS setting either way.
//
// Only programs that import this package depend on ergo.
//
// # Cancellation
//
// Register takes ergo's context: the registration lasts until that
// context ends, which ergo does when the node stops. Resolve takes none;
// each lookup is bounded by Registrar.ResolveTimeout.
//
// # Concurrency
//
// The methods of a Registrar are safe for concurrent use. After Register,
// the Registrar owns the epmd.Registration and its goroutine; they end
// with Register's context.
package ergoreg

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ergo-services/ergo/etf"
	"github.com/ergo-services/ergo/lib"
	"github.com/ergo-services/ergo/node"

	"github.com/goei/goei/epmd"
)

// DefaultResolveTimeout bounds Resolve when Registrar.ResolveTimeout is
// zero. It is erl's net_setuptime, which bounds the setup of a
// connection, lookup included.
const DefaultResolveTimeout = 7 * time.Second

// registerTimeout bounds the first registration, as erl waits 10 s for
// epmd's reply, and as epmd.Registration bounds each later one.
const registerTimeout = 10 * time.Second

// ergo's extra data in ALIVE2_REQ and PORT2_RESP: magic 4411 (2 bytes),
// version 1 (1 byte), and 1 if the node accepts TLS (1 byte).
const (
	extraMagic   = 4411
	extraVersion = 1
	extraLen     = 4
)

// Registrar is an ergo node.Registrar backed by goei's epmd client. Its
// zero value registers with the epmd on localhost at $ERL_EPMD_PORT, or
// 4369, and asks the epmd on a peer's host at the same port.
//
// Set the fields before passing it to ergo, and do not change them
// afterwards.
type Registrar struct {
	// Client is the epmd client; nil means the zero epmd.Client. Register
	// registers with the epmd at Client.Host and Client.Port (OTP's epmd
	// accepts registrations from its own host only); Resolve asks the
	// epmd on the peer's host at Client.Port. Client.Logger logs what
	// happens to the registration, and Client.ReregisterDelay sets how
	// soon it registers again after epmd drops it.
	Client *epmd.Client

	// ResolveTimeout bounds each Resolve, dialling epmd included. Zero
	// means DefaultResolveTimeout.
	ResolveTimeout time.Duration

	mu  sync.Mutex
	reg *epmd.Registration // while registered
}

var _ node.Registrar = (*Registrar)(nil)

func (r *Registrar) client() *epmd.Client {
	if r.Client != nil {
		return r.Client
	}
	return &epmd.Client{}
}

// Register registers nodename ("alive@host") with epmd as ergo's own
// registrar does: a normal node of distribution versions 5 to 6 on
// options.Port, with ergo's extra data, which carries options.EnableTLS.
// The registration lasts until ctx ends; meanwhile it registers again
// whenever epmd drops it (see the package doc). Registering takes at most
// 10 seconds, as erl waits that long for epmd's reply.
//
// Register fails if a registration made by an earlier call is still on,
// and with an error matching epmd.ErrNameInUse if another node has the
// name.
func (r *Registrar) Register(ctx context.Context, nodename string, options node.RegisterOptions) error {
	alive, _, ok := splitName(nodename)
	if !ok {
		return fmt.Errorf("ergoreg: register %q: node name must be of the form name@host", nodename)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.reg != nil {
		return fmt.Errorf("ergoreg: register %q: the registrar is already running", nodename)
	}
	pctx, cancel := context.WithTimeout(ctx, registerTimeout)
	defer cancel()
	reg, err := r.client().Publish(pctx, epmd.NodeInfo{
		Name:           alive,
		Port:           options.Port,
		Type:           epmd.NodeTypeNormal,
		Protocol:       epmd.ProtocolTCP,
		HighestVersion: 6,
		LowestVersion:  5,
		Extra:          extra(options.EnableTLS),
	})
	if err != nil {
		return fmt.Errorf("ergoreg: register %q: %w", nodename, err)
	}
	r.reg = reg
	context.AfterFunc(ctx, func() {
		r.mu.Lock()
		r.reg = nil
		r.mu.Unlock()
		reg.Close()
	})
	return nil
}

// Registration returns the epmd registration made by Register, to follow
// its state, or nil when there is none. The Registrar closes it when
// Register's context ends; do not close it yourself.
func (r *Registrar) Registration() *epmd.Registration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reg
}

// Resolve asks the epmd on peername's host where the node listens, within
// ResolveTimeout, and returns the route to it: Node is the name without
// "@host", as ergo's registrar returns it. A node registered with ergo's
// extra data is an ergo node (Options.IsErgo), whose Options.TLS is set
// (to an empty tls.Config for ergo to fill) when it accepts TLS.
//
// It returns an error matching epmd.ErrNotRegistered when that epmd
// knows no such node, and one matching context.DeadlineExceeded when
// the timeout ends first.
func (r *Registrar) Resolve(peername string) (node.Route, error) {
	alive, host, ok := splitName(peername)
	if !ok {
		return node.Route{}, fmt.Errorf("ergoreg: resolve %q: node name must be of the form name@host", peername)
	}
	timeout := r.ResolveTimeout
	if timeout <= 0 {
		timeout = DefaultResolveTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	info, err := r.client().PortPlease(ctx, peername)
	if err != nil {
		return node.Route{}, fmt.Errorf("ergoreg: resolve: %w", err)
	}
	route := node.Route{Node: alive, Host: host, Port: info.Port}
	if tlsOn, isErgo := parseExtra(info.Extra); isErgo {
		route.Options.IsErgo = true
		if tlsOn {
			route.Options.TLS = &tls.Config{}
		}
	}
	return route, nil
}

// splitName splits "alive@host", which must have one '@' and both parts.
func splitName(name string) (alive, host string, ok bool) {
	alive, host, ok = strings.Cut(name, "@")
	return alive, host, ok && alive != "" && host != "" && !strings.Contains(host, "@")
}

// extra returns ergo's extra data.
func extra(tlsOn bool) []byte {
	b := binary.BigEndian.AppendUint16(make([]byte, 0, extraLen), extraMagic)
	b = append(b, extraVersion, 0)
	if tlsOn {
		b[3] = 1
	}
	return b
}

// parseExtra reads ergo's extra data, as ergo does: at least 4 bytes with
// its magic and version mark an ergo node, TLS if the fourth byte is 1.
func parseExtra(b []byte) (tlsOn, isErgo bool) {
	if len(b) < extraLen || binary.BigEndian.Uint16(b) != extraMagic || b[2] != extraVersion {
		return false, false
	}
	return b[3] == 1, true
}

// RegisterProxy returns lib.ErrUnsupported: epmd knows no proxies.
func (r *Registrar) RegisterProxy(nodename string, maxhop int, flags node.ProxyFlags) error {
	return lib.ErrUnsupported
}

// UnregisterProxy returns lib.ErrUnsupported: epmd knows no proxies.
func (r *Registrar) UnregisterProxy(peername string) error { return lib.ErrUnsupported }

// ResolveProxy returns lib.ErrProxyNoRoute: epmd knows no proxies.
func (r *Registrar) ResolveProxy(peername string) (node.ProxyRoute, error) {
	return node.ProxyRoute{}, lib.ErrProxyNoRoute
}

// Config returns lib.ErrUnsupported: epmd holds no configuration.
func (r *Registrar) Config() (node.RegistrarConfig, error) {
	return node.RegistrarConfig{}, lib.ErrUnsupported
}

// ConfigItem returns lib.ErrUnsupported: epmd holds no configuration.
func (r *Registrar) ConfigItem(name string) (etf.Term, error) {
	return nil, lib.ErrUnsupported
}

// SetConfigUpdateCallback returns lib.ErrUnsupported: epmd holds no
// configuration.
func (r *Registrar) SetConfigUpdateCallback(func(name string, value etf.Term) error) error {
	return lib.ErrUnsupported
}
