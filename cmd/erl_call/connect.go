package main

import (
	"context"

	"github.com/goei/goei/ei"
)

// connectAddress connects to the node listening at addr, for -address.
// erl_call does not know the node's name then; an empty peer name makes
// ConnectAddr accept the one the node announces in the handshake.
func connectAddress(ctx context.Context, node *ei.Node, addr string) (*ei.Conn, error) {
	return node.ConnectAddr(ctx, "", addr)
}
