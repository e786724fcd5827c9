package main

import (
	"context"
	"encoding/binary"
	"net"
	"sync"

	"github.com/goei/goei/ei"
)

// probeName is the peer name connectAddress expects on its first
// connection, which no node has.
const probeName = "erl_call_probe@invalid"

// connectAddress connects to the node listening at addr, for -address.
//
// ei.Node.ClientConn needs the peer's name, which erl_call -address does
// not know, so a first handshake runs only to learn it: the node sends its
// name in its challenge, the handshake then fails on the name, and a
// second connection completes a handshake with the name learned.
func connectAddress(ctx context.Context, node *ei.Node, addr string) (*ei.Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	rc := &recordConn{Conn: nc}
	conn, err := node.ClientConn(ctx, rc, probeName)
	if err == nil {
		return conn, nil
	}
	name := challengeName(rc.recorded())
	if name == "" {
		return nil, err
	}
	if nc, err = d.DialContext(ctx, "tcp", addr); err != nil {
		return nil, err
	}
	return node.ClientConn(ctx, nc, name)
}

// maxRecord is how much of a handshake recordConn keeps: enough for the
// status and challenge messages.
const maxRecord = 4096

// recordConn keeps a copy of the first bytes read from a connection.
type recordConn struct {
	net.Conn
	mu  sync.Mutex
	buf []byte
}

func (c *recordConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	if room := maxRecord - len(c.buf); room > 0 {
		c.buf = append(c.buf, p[:min(n, room)]...)
	}
	c.mu.Unlock()
	return n, err
}

func (c *recordConn) recorded() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf
}

// challengeName returns the node name in the challenge message among the
// handshake messages in b (each with a 2-byte length), or "" if there is
// none: 'N' Flags:8 Challenge:4 Creation:4 Nlen:2 Name, or the older
// 'n' Version:2 Flags:4 Challenge:4 Name.
func challengeName(b []byte) string {
	for len(b) >= 2 {
		n := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+n {
			return ""
		}
		msg := b[2 : 2+n]
		b = b[2+n:]
		switch {
		case len(msg) >= 19 && msg[0] == 'N':
			nlen := int(binary.BigEndian.Uint16(msg[17:19]))
			if len(msg) >= 19+nlen {
				return string(msg[19 : 19+nlen])
			}
		case len(msg) > 11 && msg[0] == 'n':
			return string(msg[11:])
		}
	}
	return ""
}
