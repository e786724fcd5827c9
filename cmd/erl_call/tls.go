package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"

	"github.com/goei/goei/ei"
)

// Transport options, which OTP's erl_call does not have: erl's own
// -proto_dist (inet_tcp, inet6_tcp, inet_tls, inet6_tls) and
// -ssl_dist_optfile, whose client options erl_call uses as erl would.

// setTransport sets node's dialer and TLS config from -proto_dist and
// -ssl_dist_optfile.
func setTransport(node *ei.Node, protoDist, optFile string) error {
	switch protoDist {
	case "", "inet_tcp", "inet_tls":
	case "inet6_tcp", "inet6_tls":
		node.Dialer = ipv6Dialer{}
	default:
		return fmt.Errorf("-proto_dist %s: want inet_tcp, inet6_tcp, inet_tls or inet6_tls", protoDist)
	}
	tlsDist := protoDist == "inet_tls" || protoDist == "inet6_tls"
	if optFile != "" && !tlsDist {
		return fmt.Errorf("-ssl_dist_optfile needs -proto_dist inet_tls or inet6_tls")
	}
	if !tlsDist {
		return nil
	}
	node.TLS = &tls.Config{}
	if optFile == "" {
		return nil
	}
	b, err := os.ReadFile(optFile)
	if err != nil {
		return err
	}
	node.TLS, err = clientTLS(string(b))
	if err != nil {
		return fmt.Errorf("-ssl_dist_optfile %s: %w", optFile, err)
	}
	return nil
}

// clientTLS reads the client options of an ssl_dist_optfile,
// [{server, Opts}, {client, Opts}]. As with OTP 26 and later, the peer's
// certificate is checked unless {verify, verify_none} says otherwise.
func clientTLS(text string) (*tls.Config, error) {
	t, err := ei.ParseTerm(text)
	if err != nil {
		return nil, err
	}
	sections, ok := t.(ei.List)
	if !ok {
		return nil, fmt.Errorf("want a list [{server, Opts}, {client, Opts}], got %s", ei.FormatTerm(t))
	}
	cfg := &tls.Config{}
	var certFile, keyFile string
	for _, s := range sections {
		sec, ok := s.(ei.Tuple)
		if !ok || len(sec) != 2 {
			return nil, fmt.Errorf("want {server, Opts} or {client, Opts}, got %s", ei.FormatTerm(s))
		}
		opts, ok := sec[1].(ei.List)
		if !ok {
			return nil, fmt.Errorf("want a list of options in %s", ei.FormatTerm(s))
		}
		if sec[0] != ei.Atom("client") {
			continue // erl_call only connects
		}
		for _, o := range opts {
			kv, ok := o.(ei.Tuple)
			if !ok || len(kv) != 2 {
				return nil, fmt.Errorf("client option %s: want {Key, Value}", ei.FormatTerm(o))
			}
			str, _ := kv[1].(ei.String)
			switch kv[0] {
			case ei.Atom("certfile"):
				certFile = string(str)
			case ei.Atom("keyfile"):
				keyFile = string(str)
			case ei.Atom("cacertfile"):
				pem, err := os.ReadFile(string(str))
				if err != nil {
					return nil, err
				}
				cfg.RootCAs = x509.NewCertPool()
				if !cfg.RootCAs.AppendCertsFromPEM(pem) {
					return nil, fmt.Errorf("cacertfile %s: no PEM certificate", str)
				}
			case ei.Atom("verify"):
				switch kv[1] {
				case ei.Atom("verify_peer"):
				case ei.Atom("verify_none"):
					cfg.InsecureSkipVerify = true
				default:
					return nil, fmt.Errorf("client option %s: want verify_peer or verify_none", o)
				}
			case ei.Atom("server_name_indication"):
				cfg.ServerName = string(str)
			case ei.Atom("secure_renegotiate"), ei.Atom("reuse_sessions"), ei.Atom("depth"):
				// Go's defaults do the same or better.
			default:
				return nil, fmt.Errorf("client option %s is not supported", ei.FormatTerm(kv[0]))
			}
		}
	}
	if certFile != "" {
		if keyFile == "" {
			keyFile = certFile // OTP reads the key from certfile too
		}
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// ipv6Dialer dials over IPv6 only, as erl's inet6_tcp.
type ipv6Dialer struct{}

func (ipv6Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	if network == "tcp" {
		network = "tcp6"
	}
	return new(net.Dialer).DialContext(ctx, network, address)
}
