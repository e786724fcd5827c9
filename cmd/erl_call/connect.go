package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"

	"github.com/goei/goei/ei"
	"github.com/goei/goei/epmd"
)

// target is the node erl_call talks to.
type target struct {
	peer     string // alive@host, for -sname, -name and -n; "" with -address
	addr     string // host:port to dial, for -address
	addrText string // -address as erl_call names it: "HOST:PORT", HOST as given or ""
}

// quoted names the target as erl_call's messages do.
func (t target) quoted() string {
	if t.peer != "" {
		return fmt.Sprintf("node \"%s\"", t.peer)
	}
	return fmt.Sprintf("node with address \"%s\"", t.addrText)
}

// resolveTarget works out the node to reach as erl_call does: the host
// of a node name must resolve, and takes its canonical name (cut at the
// first dot for short names); a host given to -address must resolve too.
func resolveTarget(ctx context.Context, cfg config, thisHost string) (target, error) {
	if cfg.addrPort != 0 {
		host := cfg.addrHost
		if host == "" {
			host = thisHost
		} else if _, err := canonicalHost(ctx, host, cfg.longNames); err != nil {
			return target{}, fail(1, errors.Unwrap(err), "%v", err)
		}
		return target{
			addr:     net.JoinHostPort(host, strconv.Itoa(cfg.addrPort)),
			addrText: cfg.addrHost + ":" + strconv.Itoa(cfg.addrPort),
		}, nil
	}
	alive, host := peerName(cfg.node, thisHost)
	if host != thisHost {
		var err error
		if host, err = canonicalHost(ctx, host, cfg.longNames); err != nil {
			return target{}, fail(1, errors.Unwrap(err), "%v", err)
		}
	}
	return target{peer: alive + "@" + host}, nil
}

// errEmptyCookie fails the connection for -c "", as the handshake with
// an empty cookie does for erl_call.
var errEmptyCookie = errors.New("erl_call: the cookie given with -c is empty")

// connect connects to the target, starting the node first with -s when
// it is not running. With -q, a node that cannot be reached is no error:
// connect returns a nil Conn and error.
func connect(ctx context.Context, cfg config, node *ei.Node, tgt target, stderr io.Writer) (*ei.Conn, error) {
	dial := func() (*ei.Conn, error) {
		switch {
		case cfg.cookieSet && cfg.cookie == "":
			return nil, errEmptyCookie
		case tgt.peer != "":
			return node.Connect(ctx, tgt.peer)
		}
		// erl_call does not know the node's name then; AcceptAnyPeerName
		// takes the one the node announces.
		return node.ConnectAddr(ctx, "", tgt.addr)
	}
	conn, err := dial()
	switch {
	case err == nil:
		if cfg.start && !cfg.halt && cfg.verbose {
			fmt.Fprintf(stderr, "erl_call: now connected to node %s\n", tgt.peer)
		}
		return conn, nil
	case cfg.halt:
		return nil, nil // nothing to halt
	case !cfg.start || !notRunning(err):
		// A node that runs but refused us is not started again, unlike
		// erl_call, which tries and fails after 10 seconds.
		return nil, fail(1, err, "failed to connect to %s", tgt.unquoted())
	}
	if cfg.verbose {
		fmt.Fprintf(stderr, "erl_call: %s is not running (%v); starting it\n", tgt.peer, err)
	}
	if err := startNode(ctx, cfg, tgt.peer, stderr); err != nil {
		return nil, fail(1, err, "unable to start node, error = %d", errTimeoutCode)
	}
	if conn, err = dial(); err != nil {
		return nil, fail(1, err, "%s", connectFailure(err))
	}
	if cfg.verbose {
		fmt.Fprintf(stderr, "erl_call: now connected to node \"%s\"\n", tgt.peer)
	}
	return conn, nil
}

// unquoted names the target as erl_call's connection failure does.
func (t target) unquoted() string {
	if t.peer != "" {
		return "node " + t.peer
	}
	return t.quoted()
}

// errTimeoutCode is erl_interface's ERL_TIMEOUT, the error erl_call
// reports for a node it started that did not come up.
const errTimeoutCode = -5

// connectFailure is what erl_call says when it cannot connect to a node
// it has just started.
func connectFailure(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "connect timed out"
	case errors.Is(err, epmd.ErrNotRegistered):
		return "node is not running"
	}
	return "connect failed"
}

// notRunning reports whether a Connect error says that no node by the
// name runs: epmd does not know it, or there is no epmd to ask. Other
// errors, such as a refused handshake, come from a running node.
func notRunning(err error) bool {
	var oerr *net.OpError
	return errors.Is(err, epmd.ErrNotRegistered) || errors.As(err, &oerr) && oerr.Op == "dial"
}
