package ei_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log"
	"os"
	"time"

	"golang.org/x/net/proxy"

	"github.com/goei/goei/ei"
)

// Reach nodes through a SOCKS5 proxy: the proxy dials the peer's epmd and
// then the peer.
func ExampleDialer() {
	socks, err := proxy.SOCKS5("tcp", "proxy.example:1080", nil, proxy.Direct)
	if err != nil {
		log.Fatal(err)
	}
	node := &ei.Node{Name: "go@myhost", Cookie: "secret", Dialer: socks.(proxy.ContextDialer)}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := node.Connect(ctx, "erl@db1.internal")
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
}

// Connect to nodes running distribution over mutual TLS, started with
// erl -proto_dist inet_tls -ssl_dist_optfile F, where F has
// [{server, [{certfile, ...}, {keyfile, ...}, {cacertfile, "ca.pem"},
// {verify, verify_peer}, {fail_if_no_peer_cert, true}]}, {client, [...]}].
func ExampleNode_Connect_tls() {
	cert, err := tls.LoadX509KeyPair("go.pem", "go-key.pem") // certfile, keyfile
	if err != nil {
		log.Fatal(err)
	}
	caPEM, err := os.ReadFile("ca.pem") // cacertfile
	if err != nil {
		log.Fatal(err)
	}
	cas := x509.NewCertPool()
	cas.AppendCertsFromPEM(caPEM)
	node := &ei.Node{Name: "go@myhost", Cookie: "secret", TLS: &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      cas,                            // checks the certificates of the nodes we connect to (verify_peer)
		ClientCAs:    cas,                            // and, in Listen, those of the nodes that connect to us
		ClientAuth:   tls.RequireAndVerifyClientCert, // fail_if_no_peer_cert
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := node.Connect(ctx, "erl@myhost")
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
}

// A node named undefined@host gets its name from the first node it
// connects to, as erl -sname undefined does.
func ExampleNode_CurrentName() {
	node := &ei.Node{Name: "undefined@myhost", Cookie: "secret"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := node.Connect(ctx, "erl@myhost")
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	name, err := node.CurrentName() // such as "3JM2ZK5QG8WXT@myhost"
	if err != nil {
		log.Fatal(err)
	}
	log.Println("named", name)
}

// Reach nodes started with erl -erl_epmd_port 4370 -start_epmd false,
// with no epmd anywhere: every node listens on port 4370 of its own host.
func ExampleNode_Listen_epmdLess() {
	node := &ei.Node{Name: "go@10.0.0.7", Cookie: "secret", DistPort: 4370}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := node.Listen(ctx, "10.0.0.7:4370") // where erl nodes look for go@10.0.0.7
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	conn, err := node.Connect(ctx, "erl@10.0.0.8") // dials 10.0.0.8:4370
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
}
