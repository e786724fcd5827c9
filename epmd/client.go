package epmd

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Reply size caps. A reply longer than its cap is a ProtocolError, so a
// misbehaving peer cannot make the client buffer without bound.
const (
	// maxPort2Resp is the longest PORT2_RESP: tag, result, port, type,
	// protocol, two versions, a name and the largest extra.
	maxPort2Resp = 1 + 1 + 2 + 1 + 1 + 2 + 2 + 2 + MaxNameLen + 2 + 0xffff
	// maxListReply caps NAMES_REQ and DUMP_REQ replies; OTP's epmd sends a
	// line of at most a few hundred bytes per node.
	maxListReply = 16 << 20
	// maxStatusReply caps the bare-text replies to KILL_REQ and STOP_REQ.
	maxStatusReply = 64
)

// Defaults for Publish, as erl_interface registers a C node.
const (
	publishHighestVersion = 6 // distribution version 6, OTP 23 and later
	publishLowestVersion  = 5
)

// clientPastDeadline is a deadline in the past; setting it on a conn
// interrupts blocked reads and writes.
var clientPastDeadline = time.Unix(1, 0)

// Client talks to an epmd. The zero Client talks to the epmd on localhost at
// the port in $ERL_EPMD_PORT, or 4369 when that is unset.
//
// Each request opens its own connection, since epmd answers one request per
// connection and then closes it; a Client is therefore safe for concurrent
// use. Do not change its fields while it is in use: a Registration copies
// them when Publish makes it. Clients have no timeouts of their own: every
// method takes a context, and cancelling it interrupts dialling, writing
// and reading. After the context ends, errors.Is(err, ctx.Err()) holds for
// the error returned.
type Client struct {
	Host   string // epmd's host; "" means "localhost". An IPv6 address may be bracketed.
	Port   int    // epmd's port; 0 means $ERL_EPMD_PORT, or 4369
	Dialer Dialer // nil means a zero net.Dialer

	// ReregisterDelay is how long a Registration made by Publish waits,
	// after its connection to epmd ends and after each failed attempt,
	// before it registers the name again. Zero means 2 seconds, as erl
	// does. Negative means never: the registration then ends when epmd
	// drops it, as one made by erl_interface's ei_publish does.
	ReregisterDelay time.Duration

	// Logger receives what happens to the registrations made by Publish:
	// one lost (Warn), registered again (Info), a failed attempt (Debug).
	// A line is written before Registration.State tells the change. Nil
	// means no logging.
	Logger *slog.Logger
}

// Dialer makes the connections to epmd. *net.Dialer implements it, and so
// do the dialers of golang.org/x/net/proxy (proxy.ContextDialer), which
// reach epmd on another host through a SOCKS5 proxy.
type Dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// PortPlease asks the default Client for a node's port; see Client.PortPlease.
func PortPlease(ctx context.Context, name string) (NodeInfo, error) {
	return new(Client).PortPlease(ctx, name)
}

// Publish registers a node with the default Client; see Client.Publish.
func Publish(ctx context.Context, info NodeInfo) (*Registration, error) {
	return new(Client).Publish(ctx, info)
}

// Unpublish unregisters a node with the default Client; see Client.Unpublish.
func Unpublish(ctx context.Context, name string) error {
	return new(Client).Unpublish(ctx, name)
}

// Names lists the nodes registered with the default Client's epmd; see
// Client.Names.
func Names(ctx context.Context) ([]NameEntry, error) {
	return new(Client).Names(ctx)
}

// Dump returns the default Client's epmd's table dump; see Client.Dump.
func Dump(ctx context.Context) (string, error) {
	return new(Client).Dump(ctx)
}

// Kill asks the default Client's epmd to exit; see Client.Kill.
func Kill(ctx context.Context) error {
	return new(Client).Kill(ctx)
}

// PortPlease asks epmd where the node name listens (PORT_PLEASE2_REQ), as
// ei_epmd_port does. The name may be "alive@host": then epmd on host is asked
// for alive, instead of epmd on c.Host.
//
// It returns ErrNotRegistered (wrapped) when epmd knows no such node, a
// *ProtocolError for a malformed reply, and I/O errors wrapped with the
// operation and name.
func (c *Client) PortPlease(ctx context.Context, name string) (NodeInfo, error) {
	alive, host, _ := strings.Cut(name, "@")
	if err := checkName(alive); err != nil {
		return NodeInfo{}, fmt.Errorf("epmd: port please %q: %w", name, err)
	}
	reply, err := c.exchangeUntil(ctx, host, &PortPlease2Req{Name: alive}, maxPort2Resp, port2RespLen)
	if err != nil {
		return NodeInfo{}, fmt.Errorf("epmd: port please %q: %w", name, err)
	}
	var m Port2Resp
	if err := m.UnmarshalBinary(reply); err != nil {
		return NodeInfo{}, fmt.Errorf("epmd: port please %q: %w", name, err)
	}
	if m.Result != 0 {
		return NodeInfo{}, fmt.Errorf("epmd: port please %q: %w", name, ErrNotRegistered)
	}
	return m.NodeInfo, nil
}

// Unpublish asks epmd to forget the node name (STOP_REQ), as `epmd -stop`
// does. A name "alive@host" is sent to epmd on host, as with PortPlease.
//
// It returns ErrNotRegistered (wrapped) when epmd knows no such node, and
// ErrNotAllowed (wrapped) when epmd closes the connection without a reply,
// as OTP's epmd does unless it runs with -relaxed_command_check.
func (c *Client) Unpublish(ctx context.Context, name string) error {
	alive, host, _ := strings.Cut(name, "@")
	if err := checkName(alive); err != nil {
		return fmt.Errorf("epmd: unpublish %q: %w", name, err)
	}
	reply, err := c.exchange(ctx, host, &StopReq{Name: alive}, maxStatusReply)
	if err != nil {
		return fmt.Errorf("epmd: unpublish %q: %w", name, err)
	}
	if len(reply) == 0 {
		return fmt.Errorf("epmd: unpublish %q: %w: no reply (OTP epmd needs -relaxed_command_check)", name, ErrNotAllowed)
	}
	var m StopResp
	if err := m.UnmarshalBinary(reply); err != nil {
		return fmt.Errorf("epmd: unpublish %q: %w", name, err)
	}
	if !m.Stopped {
		return fmt.Errorf("epmd: unpublish %q: %w", name, ErrNotRegistered)
	}
	return nil
}

// Names lists the nodes registered with epmd (NAMES_REQ), in epmd's order,
// as `epmd -names` does. A malformed reply is a *ProtocolError.
func (c *Client) Names(ctx context.Context) ([]NameEntry, error) {
	reply, err := c.exchange(ctx, "", &NamesReq{}, maxListReply)
	if err != nil {
		return nil, fmt.Errorf("epmd: names: %w", err)
	}
	var m NamesResp
	if err := m.UnmarshalBinary(reply); err != nil {
		return nil, fmt.Errorf("epmd: names: %w", err)
	}
	return m.Names, nil
}

// Dump returns epmd's description of its tables (DUMP_REQ), with a line for
// every active and unused entry. OTP's epmd ends each line with a NUL byte;
// Dump drops NUL bytes so the text prints cleanly. It returns ErrNotAllowed
// (wrapped) when epmd closes the connection without a reply, as OTP's epmd
// does for requests from other hosts.
func (c *Client) Dump(ctx context.Context) (string, error) {
	reply, err := c.exchange(ctx, "", &DumpReq{}, maxListReply)
	if err != nil {
		return "", fmt.Errorf("epmd: dump: %w", err)
	}
	if len(reply) == 0 {
		return "", fmt.Errorf("epmd: dump: %w: no reply", ErrNotAllowed)
	}
	var m DumpResp
	if err := m.UnmarshalBinary(reply); err != nil {
		return "", fmt.Errorf("epmd: dump: %w", err)
	}
	return strings.ReplaceAll(m.Text, "\x00", ""), nil
}

// Kill asks epmd to exit (KILL_REQ), as `epmd -kill` does. It returns
// ErrNotAllowed (wrapped) when epmd answers "NO", as OTP's epmd does while
// nodes are registered unless it runs with -relaxed_command_check, or closes
// the connection without a reply.
func (c *Client) Kill(ctx context.Context) error {
	reply, err := c.exchange(ctx, "", &KillReq{}, maxStatusReply)
	if err != nil {
		return fmt.Errorf("epmd: kill: %w", err)
	}
	if len(reply) == 0 {
		return fmt.Errorf("epmd: kill: %w: no reply", ErrNotAllowed)
	}
	var m KillResp
	if err := m.UnmarshalBinary(reply); err != nil {
		return fmt.Errorf("epmd: kill: %w", err)
	}
	if m.Refused {
		return fmt.Errorf("epmd: kill: %w: nodes are registered", ErrNotAllowed)
	}
	return nil
}

// Publish registers a node with epmd (ALIVE2_REQ), as ei_publish does, and
// returns the Registration that holds the connection open: epmd keeps the
// name for as long as that connection lives. When the connection ends,
// because epmd was restarted say, the Registration registers the name again
// after c.ReregisterDelay, and again after each failed attempt, as erl
// does, so that the name stays taken and lookups keep finding the node.
// Registration.State, WaitForStateChange and c.Logger tell about it; a
// negative ReregisterDelay turns this off.
//
// Zero fields of info take defaults: Type NodeTypeHidden (a C node, as
// erl_interface registers), HighestVersion 6 and LowestVersion 5. Name must
// be the alive part alone, without "@host": 1 to 255 characters of UTF-8,
// as OTP's epmd accepts. Port must be set, and Extra be at most 1020 bytes.
//
// ctx bounds only the registration handshake; once Publish returns, the
// registration lasts until Registration.Close or Registration.Shutdown.
// Publish returns an error matching ErrNameInUse (a *RefusedError) when
// epmd refuses the name because a node already has it.
func (c *Client) Publish(ctx context.Context, info NodeInfo) (*Registration, error) {
	if err := checkName(info.Name); err != nil {
		return nil, fmt.Errorf("epmd: publish %q: %w", info.Name, err)
	}
	if strings.Contains(info.Name, "@") {
		return nil, fmt.Errorf("epmd: publish %q: name must not contain '@'", info.Name)
	}
	if !validName(info.Name) {
		return nil, fmt.Errorf("epmd: publish %q: name must be 1 to %d characters of UTF-8", info.Name, maxSymChars)
	}
	if len(info.Extra) > maxSymLen {
		return nil, fmt.Errorf("epmd: publish %q: extra is %d bytes, more than epmd's %d", info.Name, len(info.Extra), maxSymLen)
	}
	if info.Port == 0 {
		return nil, fmt.Errorf("epmd: publish %q: port is 0", info.Name)
	}
	if info.Type == 0 {
		info.Type = NodeTypeHidden
	}
	if info.HighestVersion == 0 {
		info.HighestVersion = publishHighestVersion
	}
	if info.LowestVersion == 0 {
		info.LowestVersion = publishLowestVersion
	}
	frame, err := frameRequest(&Alive2Req{NodeInfo: info})
	if err != nil {
		return nil, fmt.Errorf("epmd: publish %q: %w", info.Name, err)
	}
	conn, creation, err := c.register(ctx, frame)
	if err != nil {
		return nil, fmt.Errorf("epmd: publish %q: %w", info.Name, err)
	}
	return newRegistration(*c, info, frame, conn, creation), nil
}

// register dials epmd, sends the ALIVE2_REQ frame and returns the open
// connection and the creation epmd assigned. ctx bounds all of it.
func (c *Client) register(ctx context.Context, frame []byte) (net.Conn, uint32, error) {
	conn, err := c.dial(ctx, "")
	if err != nil {
		return nil, 0, err
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(clientPastDeadline) })
	creation, err := alive2(conn, frame)
	if !stop() {
		// ctx ended while the handshake ran: the conn now has a past
		// deadline, so it cannot be handed out even if the reply arrived.
		conn.Close()
		return nil, 0, ctx.Err()
	}
	if err != nil {
		conn.Close()
		return nil, 0, err
	}
	return conn, creation, nil
}

// alive2 sends an ALIVE2_REQ frame and reads the reply, ALIVE2_RESP or
// ALIVE2_X_RESP as the first byte says, without reading past it.
func alive2(conn net.Conn, frame []byte) (creation uint32, err error) {
	if _, err := conn.Write(frame); err != nil {
		return 0, err
	}
	var buf [6]byte
	n, err := io.ReadFull(conn, buf[:1])
	if err == nil {
		switch buf[0] {
		case tagAlive2Resp:
			n, err = io.ReadFull(conn, buf[1:4])
			n++
		case tagAlive2XResp:
			n, err = io.ReadFull(conn, buf[1:6])
			n++
		}
	}
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return 0, err
	}
	// A short reply fails to decode below as a truncated message.
	reply := buf[:n]
	switch {
	case n > 0 && buf[0] == tagAlive2Resp:
		var m Alive2Resp
		if err := m.UnmarshalBinary(reply); err != nil {
			return 0, err
		}
		if m.Result != 0 {
			return 0, &RefusedError{Op: "alive2", Result: m.Result}
		}
		return uint32(m.Creation), nil
	case n > 0 && buf[0] == tagAlive2XResp:
		var m Alive2XResp
		if err := m.UnmarshalBinary(reply); err != nil {
			return 0, err
		}
		if m.Result != 0 {
			return 0, &RefusedError{Op: "alive2", Result: m.Result}
		}
		return m.Creation, nil
	case n == 0:
		return 0, &ProtocolError{Msg: "ALIVE2 reply is empty: epmd closed the connection"}
	}
	return 0, &ProtocolError{Msg: fmt.Sprintf("ALIVE2 reply: tag %d, want %d or %d", buf[0], tagAlive2Resp, tagAlive2XResp)}
}

// checkName reports a node name the protocol cannot carry.
func checkName(name string) error {
	if len(name) == 0 || len(name) > MaxNameLen {
		return fmt.Errorf("node name length %d not in 1..%d", len(name), MaxNameLen)
	}
	return nil
}

// addr returns the address of epmd on host, or on c.Host when host is "".
func (c *Client) addr(host string) (string, error) {
	if host == "" {
		host = c.Host
	}
	if host == "" {
		host = "localhost"
	}
	// "[::1]" as well as "::1", as in a node name "alive@[::1]".
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	port := c.Port
	if port == 0 {
		s := os.Getenv("ERL_EPMD_PORT")
		if s == "" {
			port = 4369
		} else {
			p, err := strconv.ParseUint(s, 10, 16)
			if err != nil || p == 0 {
				return "", fmt.Errorf("ERL_EPMD_PORT=%q is not a port number", s)
			}
			port = int(p)
		}
	}
	if port < 1 || port > 0xffff {
		return "", fmt.Errorf("port %d out of range", port)
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), nil
}

// dial connects to epmd on host (see addr).
func (c *Client) dial(ctx context.Context, host string) (net.Conn, error) {
	addr, err := c.addr(host)
	if err != nil {
		return nil, err
	}
	var d Dialer = c.Dialer
	if d == nil {
		d = new(net.Dialer)
	}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	return conn, nil
}

// frameRequest returns req's body behind its 2-byte length prefix.
func frameRequest(req Request) ([]byte, error) {
	b, err := req.AppendBinary(make([]byte, 2, 32))
	if err != nil {
		return nil, err
	}
	if len(b)-2 > 0xffff {
		return nil, fmt.Errorf("request is %d bytes, more than 65535", len(b)-2)
	}
	binary.BigEndian.PutUint16(b, uint16(len(b)-2))
	return b, nil
}

// exchange sends one request to epmd on host and reads the reply until epmd
// closes the connection. A reply longer than limit is a ProtocolError. When
// ctx ends first, the error is ctx.Err().
func (c *Client) exchange(ctx context.Context, host string, req Request, limit int) ([]byte, error) {
	return c.exchangeUntil(ctx, host, req, limit, nil)
}

// exchangeUntil is exchange reading only until whole reports the
// length of the reply, when whole is not nil, rather than until epmd
// closes the connection. Bytes after the reply are not read.
func (c *Client) exchangeUntil(ctx context.Context, host string, req Request, limit int, whole func([]byte) int) ([]byte, error) {
	frame, err := frameRequest(req)
	if err != nil {
		return nil, err
	}
	conn, err := c.dial(ctx, host)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(clientPastDeadline) })
	defer stop()
	reply, err := roundTrip(conn, frame, limit, whole)
	if err != nil && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return reply, err
}

// roundTrip writes frame and reads until EOF, or until whole reports
// the reply whole (its length), at most limit bytes.
func roundTrip(conn net.Conn, frame []byte, limit int, whole func([]byte) int) ([]byte, error) {
	if _, err := conn.Write(frame); err != nil {
		return nil, err
	}
	var reply []byte
	if whole == nil {
		var err error
		if reply, err = io.ReadAll(io.LimitReader(conn, int64(limit)+1)); err != nil {
			return nil, err
		}
	} else {
		buf := make([]byte, 0, 64)
		for len(buf) <= limit {
			if n := whole(buf); n > 0 {
				buf = buf[:n]
				break
			}
			if len(buf) == cap(buf) {
				buf = append(buf, 0)[:len(buf)]
			}
			n, err := conn.Read(buf[len(buf):min(cap(buf), limit+1)])
			buf = buf[:len(buf)+n]
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, err
			}
		}
		reply = buf
	}
	if len(reply) > limit {
		return nil, &ProtocolError{Offset: limit, Msg: fmt.Sprintf("reply longer than %d bytes", limit)}
	}
	return reply, nil
}

// port2RespLen returns the length of the PORT2_RESP at the start of b,
// or 0 if b does not hold all of it yet, so that PortPlease need not wait
// for epmd to close the connection, as erl_interface does not. Bytes that
// are not a PORT2_RESP count as whole, for UnmarshalBinary to refuse.
//
//	119:1 Result:1 [PortNo:2 NodeType:1 Protocol:1 HighestVersion:2
//	LowestVersion:2 Nlen:2 NodeName:Nlen Elen:2 Extra:Elen]
func port2RespLen(b []byte) int {
	switch {
	case len(b) < 2:
		return 0
	case b[0] != tagPort2Resp:
		return len(b)
	case b[1] != 0:
		return 2
	case len(b) < 12:
		return 0
	}
	n := 12 + int(binary.BigEndian.Uint16(b[10:]))
	if len(b) < n+2 {
		return 0
	}
	if n += 2 + int(binary.BigEndian.Uint16(b[n:])); len(b) < n {
		return 0
	}
	return n
}
