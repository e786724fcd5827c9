package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
)

// hostError is a host name that does not resolve; erl_call reports it as
// "can't ei_gethostbyname(HOST)".
type hostError struct {
	host string
	err  error
}

func (e *hostError) Error() string { return fmt.Sprintf("can't ei_gethostbyname(%s)", e.host) }
func (e *hostError) Unwrap() error { return e.err }

// canonicalHost is the name erl_call gives host in node names: the
// canonical name gethostbyname returns for it (the address itself for an
// IP address), cut at its first dot for short names. It fails, as
// gethostbyname does, for a host that does not resolve.
func canonicalHost(ctx context.Context, host string, long bool) (string, error) {
	name := host
	if net.ParseIP(host) == nil {
		if _, err := net.DefaultResolver.LookupHost(ctx, host); err != nil || host == "" {
			if err == nil {
				err = fmt.Errorf("empty host name")
			}
			return "", &hostError{host: host, err: err}
		}
		if cname, err := net.DefaultResolver.LookupCNAME(ctx, host); err == nil && cname != "" {
			name = strings.TrimSuffix(cname, ".")
		}
	}
	if !long {
		name, _, _ = strings.Cut(name, ".")
	}
	return name, nil
}

// localHost is this host's name as erl_call uses it in node names: its
// canonical name (see canonicalHost), or the name itself when that does
// not resolve, as erl_call then falls back to it.
func localHost(ctx context.Context, long bool) string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "localhost"
	}
	name, err := canonicalHost(ctx, h, long)
	if err != nil {
		name = h
		if !long {
			name, _, _ = strings.Cut(name, ".")
		}
	}
	return name
}

// peerName splits a node name given to -sname, -name or -n into its
// alive part and its host, which is this host's name when it has none.
func peerName(node, thisHost string) (alive, host string) {
	alive, host, ok := strings.Cut(node, "@")
	if !ok {
		return node, thisHost
	}
	return alive, host
}
