package ei

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/goei/goei/epmd"
	"github.com/goei/goei/internal/erltest"
)

// TestAcceptAnyPeerName connects to a node published as n1 that calls
// itself n1@elsewhere, asking for it as n1@localhost, as erl_call -sname
// n1@localhost does.
func TestAcceptAnyPeerName(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	epmdPort := erltest.StartEPMD(t)
	server := &Node{Name: "n1@elsewhere", Cookie: "c", EPMD: &epmd.Client{Port: epmdPort}}
	l, err := server.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan struct{})
	defer func() {
		l.Close()
		<-accepted
	}()
	if err := l.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(accepted)
		for {
			c, err := l.Accept(ctx)
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	strict := &Node{Name: "c1@here", Cookie: "c", EPMD: &epmd.Client{Port: epmdPort}}
	_, err = strict.Connect(ctx, "n1@localhost")
	var perr *ProtocolError
	if !errors.As(err, &perr) || !strings.Contains(err.Error(), `peer calls itself "n1@elsewhere"`) {
		t.Errorf("Connect(n1@localhost) to n1@elsewhere = %v, want a *ProtocolError saying what the peer calls itself", err)
	}

	lax := &Node{Name: "c2@here", Cookie: "c", EPMD: &epmd.Client{Port: epmdPort}, AcceptAnyPeerName: true}
	c, err := lax.Connect(ctx, "n1@localhost")
	if err != nil {
		t.Fatalf("Connect(n1@localhost) with AcceptAnyPeerName = %v", err)
	}
	defer c.Close()
	if c.Peer() != "n1@elsewhere" {
		t.Errorf("Peer() = %s, want the name the peer announced, n1@elsewhere", c.Peer())
	}
}
