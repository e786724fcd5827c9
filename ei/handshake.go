package ei

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/goei/goei/internal/wire"
)

// Flags is a set of distribution capability flags (DFLAG_* in OTP's
// dist.h), exchanged in the handshake.
type Flags uint64

// Distribution flags. Their names follow the DFLAG_* names of the spec.
const (
	FlagPublished          Flags = 0x01       // DFLAG_PUBLISHED: a visible (non-hidden) node
	FlagAtomCache          Flags = 0x02       // DFLAG_ATOM_CACHE (obsolete)
	FlagExtendedReferences Flags = 0x04       // DFLAG_EXTENDED_REFERENCES
	FlagDistMonitor        Flags = 0x08       // DFLAG_DIST_MONITOR
	FlagFunTags            Flags = 0x10       // DFLAG_FUN_TAGS
	FlagDistMonitorName    Flags = 0x20       // DFLAG_DIST_MONITOR_NAME
	FlagHiddenAtomCache    Flags = 0x40       // DFLAG_HIDDEN_ATOM_CACHE (obsolete)
	FlagNewFunTags         Flags = 0x80       // DFLAG_NEW_FUN_TAGS
	FlagExtendedPidsPorts  Flags = 0x100      // DFLAG_EXTENDED_PIDS_PORTS
	FlagExportPtrTag       Flags = 0x200      // DFLAG_EXPORT_PTR_TAG
	FlagBitBinaries        Flags = 0x400      // DFLAG_BIT_BINARIES
	FlagNewFloats          Flags = 0x800      // DFLAG_NEW_FLOATS
	FlagUnicodeIO          Flags = 0x1000     // DFLAG_UNICODE_IO
	FlagDistHdrAtomCache   Flags = 0x2000     // DFLAG_DIST_HDR_ATOM_CACHE: 131/68 distribution header
	FlagSmallAtomTags      Flags = 0x4000     // DFLAG_SMALL_ATOM_TAGS
	FlagUTF8Atoms          Flags = 0x10000    // DFLAG_UTF8_ATOMS
	FlagMapTag             Flags = 0x20000    // DFLAG_MAP_TAG
	FlagBigCreation        Flags = 0x40000    // DFLAG_BIG_CREATION
	FlagSendSender         Flags = 0x80000    // DFLAG_SEND_SENDER
	FlagBigSeqTraceLabels  Flags = 0x100000   // DFLAG_BIG_SEQTRACE_LABELS
	FlagExitPayload        Flags = 0x400000   // DFLAG_EXIT_PAYLOAD
	FlagFragments          Flags = 0x800000   // DFLAG_FRAGMENTS: 131/69 and 131/70 fragments
	FlagHandshake23        Flags = 0x1000000  // DFLAG_HANDSHAKE_23: handshake version 6
	FlagUnlinkID           Flags = 0x2000000  // DFLAG_UNLINK_ID
	FlagMandatory25Digest  Flags = 0x4000000  // DFLAG_MANDATORY_25_DIGEST
	FlagSpawn              Flags = 1 << 32    // DFLAG_SPAWN
	FlagNameMe             Flags = 1 << 33    // DFLAG_NAME_ME
	FlagV4NC               Flags = 1 << 34    // DFLAG_V4_NC
	FlagAlias              Flags = 1 << 35    // DFLAG_ALIAS
	flagMultiSend          Flags = 0x8000000  // DFLAG_MULTISEND (not supported)
	flagHigh               Flags = 0xffffffff // mask of the flags an old 'n' message carries
)

// MandatoryFlags are the flags OTP 25 requires of every peer
// (DFLAG_DIST_MANDATORY_25). A handshake with a peer lacking any of them
// fails. OTP 26 adds FlagUnlinkID and FlagV4NC (DFLAG_DIST_MANDATORY_26),
// which this package advertises but does not demand, so OTP 23 to 25 peers
// without them still connect.
const MandatoryFlags = FlagExtendedReferences | FlagFunTags | FlagExtendedPidsPorts |
	FlagUTF8Atoms | FlagNewFunTags | FlagBigCreation | FlagNewFloats | FlagMapTag |
	FlagExportPtrTag | FlagBitBinaries | FlagHandshake23

// DefaultFlags are the flags a Node advertises when Node.Flags is zero: the
// OTP 26 mandatory set, monitors, SEND_SENDER, and the 131/68 distribution
// header with atom cache and fragments.
//
// Monitors take FlagDistMonitor and FlagDistMonitorName both: erl sends
// MONITOR_P, DEMONITOR_P and MONITOR_P_EXIT only to nodes that offer the
// two (erl_interface offers the first alone, so its C-nodes get none).
// With them, a MonitorP sent to erl gets the 'DOWN' as a MonitorPExit
// (noproc at once for a dead process or unused name), and an erl process
// that monitors a Go pid or registered name sends a MonitorP that arrives
// from Conn.Receive: its 'DOWN' fires when the program sends the
// MonitorPExit, or with noconnection when the connection closes.
// Mailboxes (Node.NewMailbox) answer these signals themselves.
const DefaultFlags = MandatoryFlags | FlagUnlinkID | FlagV4NC | FlagMandatory25Digest |
	FlagDistMonitor | FlagDistMonitorName | FlagSmallAtomTags | FlagSendSender | FlagDistHdrAtomCache | FlagFragments

// supportedFlags are the flags this package can honour; others are
// dropped from Node.Flags before advertising.
const supportedFlags = DefaultFlags | FlagDistMonitorName | FlagUnicodeIO | FlagExitPayload | FlagBigSeqTraceLabels

func (f Flags) String() string {
	return "0x" + strconv.FormatUint(uint64(f), 16)
}

// Handshake message tags and statuses.
const (
	hsName5      = 'n' // send_name / challenge, version 5 ("old")
	hsName6      = 'N' // send_name / challenge, version 6
	hsStatus     = 's' // recv_status
	hsComplement = 'c' // complement, after an old 'n' name
	hsReply      = 'r' // challenge_reply
	hsAck        = 'a' // challenge_ack

	distVersion5 = 5 // protocol version sent in old 'n' messages
	distVersion6 = 6

	// maxNodeNameLen is the longest node name in bytes, ours or a
	// peer's: node names are atoms, which erl limits to 255 characters,
	// and erl closes a handshake whose name it cannot make an atom.
	maxNodeNameLen = 255

	// maxHandshakeMsg is the longest handshake message read. The longest
	// valid one, a challenge with a 255-byte name, has 274 bytes; the
	// rest leaves room for fields a later OTP might append.
	maxHandshakeMsg = 1024
)

// nameTimeout is how long the accepting side of a handshake waits for the
// first message, the peer's name. A node sends it as soon as it has
// connected, so waiting long only serves peers that are not nodes.
const nameTimeout = 2 * time.Second

// aLongTimeAgo is a deadline in the past, used to interrupt blocked I/O.
var aLongTimeAgo = time.Unix(1, 0)

// peerInfo is what a handshake learns about the other node.
type peerInfo struct {
	name     Atom
	flags    Flags // negotiated: ours & theirs
	creation uint32
	version  int // 5 if the peer sent an old 'n' name message, else 6

	// Client side, after asking for a name (handshake.nameMe): the name
	// and creation the peer assigned to us.
	self         Atom
	selfCreation uint32
}

// handshake runs one side of the distribution handshake. Messages are
// framed with a 2-byte length over TCP and a 4-byte one over TLS. It
// reads no further than the message it needs, unbuffered, so that it
// holds no more memory than that message and leaves what follows the
// handshake to the Conn.
type handshake struct {
	node   *Node
	self   string // our full node name
	cookie string
	flags  Flags // what we advertise
	nc     net.Conn
	cr     *connReader
	peer   string // expected peer name (client side, "" for any), or learned
	trace  io.Writer

	lenSize int     // bytes of the length before each message: 2, or 4 over TLS
	nameMe  bool    // client side: ask the peer for a name; self is our host
	arb     arbiter // the node's connection table, for its connections; nil otherwise

	// nameBy, if set, is when the peer's name must have arrived (server
	// side), nameTimeout after the connection was accepted.
	nameBy      time.Time
	nameTimeout time.Duration

	// authenticated, if set, is called on the server side once the
	// peer's digest checked out, before the challenge ack; the handshake
	// fails with errEvicted if it returns false.
	authenticated func() bool
}

// digest computes MD5(cookie ++ decimal(challenge)), as in dist_util:gen_digest.
func digest(challenge uint32, cookie string) [16]byte {
	return md5.Sum([]byte(cookie + strconv.FormatUint(uint64(challenge), 10)))
}

// digestEqual compares a received digest with the expected one in
// constant time, so that timing tells an attacker nothing about it.
func digestEqual(got []byte, want [16]byte) bool {
	return subtle.ConstantTimeCompare(got, want[:]) == 1
}

// ioError wraps a handshake I/O failure, preferring the context error when
// the context ended, so errors.Is(err, context.DeadlineExceeded) holds.
func (h *handshake) ioError(ctx context.Context, op string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("ei: handshake with %s: %s: %w", h.peerName(), op, contextError(ctx))
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("ei: handshake with %s: %s: %w", h.peerName(), op, err)
}

func (h *handshake) peerName() string {
	if h.peer == "" {
		return h.nc.RemoteAddr().String()
	}
	return h.peer
}

func (h *handshake) protoError(off int, format string, args ...any) error {
	return &ProtocolError{Offset: off, Msg: fmt.Sprintf("ei: handshake with %s: ", h.peerName()) + fmt.Sprintf(format, args...)}
}

// write sends one handshake message with its length.
func (h *handshake) write(ctx context.Context, op string, msg []byte) error {
	if len(msg) > 0xffff {
		return fmt.Errorf("ei: handshake with %s: %s: message too long", h.peerName(), op)
	}
	var b []byte
	if h.lenSize == 4 {
		b = binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(msg)), uint32(len(msg)))
	} else {
		b = binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(msg)), uint16(len(msg)))
	}
	b = append(b, msg...)
	if h.trace != nil {
		fmt.Fprintf(h.trace, "-> %s %x\n", op, msg)
	}
	if _, err := h.nc.Write(b); err != nil {
		return h.ioError(ctx, "write "+op, err)
	}
	return nil
}

// read receives one handshake message.
func (h *handshake) read(ctx context.Context, op string) ([]byte, error) {
	msg, err := h.readMsg(op)
	if err != nil {
		return nil, h.readError(ctx, op, err)
	}
	if len(msg) == 0 {
		return nil, h.protoError(0, "empty %s message", op)
	}
	return msg, nil
}

// readMsg reads one handshake message. It returns io.EOF, unwrapped, only
// when the peer closed the connection before the message began.
func (h *handshake) readMsg(op string) ([]byte, error) {
	var n uint32
	if h.lenSize == 4 {
		var lb [4]byte
		if _, err := io.ReadFull(h.cr, lb[:]); err != nil {
			return nil, err
		}
		n = binary.BigEndian.Uint32(lb[:])
	} else {
		var lb [2]byte
		if _, err := io.ReadFull(h.cr, lb[:]); err != nil {
			return nil, err
		}
		n = uint32(binary.BigEndian.Uint16(lb[:]))
	}
	if n > maxHandshakeMsg {
		return nil, h.protoError(0, "%s: message of %d bytes, more than %d", op, n, maxHandshakeMsg)
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(h.cr, msg); err != nil {
		return nil, noEOF(err)
	}
	if h.trace != nil {
		fmt.Fprintf(h.trace, "<- %s %x\n", op, msg)
	}
	return msg, nil
}

// readError wraps an error of readMsg: protocol errors as they are, I/O
// errors with the operation.
func (h *handshake) readError(ctx context.Context, op string, err error) error {
	var pe *ProtocolError
	if errors.As(err, &pe) {
		return err
	}
	if ctx.Err() == nil && !h.nameBy.IsZero() && errors.Is(err, os.ErrDeadlineExceeded) {
		// Only the wait for the name has a deadline of its own.
		return fmt.Errorf("ei: handshake with %s: read %s: nothing within %v: %w", h.peerName(), op, h.nameTimeout, err)
	}
	return h.ioError(ctx, "read "+op, err)
}

// readName reads the first message of the accepting side, the peer's
// name, by h.nameBy if that is set.
func (h *handshake) readName(ctx context.Context) ([]byte, error) {
	if h.nameBy.IsZero() {
		return h.read(ctx, "recv_name")
	}
	h.setReadDeadline(ctx, h.nameBy)
	msg, err := h.read(ctx, "recv_name")
	h.setReadDeadline(ctx, time.Time{})
	return msg, err
}

// setReadDeadline sets the read deadline to t unless ctx has ended: the
// context's AfterFunc (see newHandshake) may have set the past deadline
// that interrupts the handshake before this call replaced it, so it is
// set again.
func (h *handshake) setReadDeadline(ctx context.Context, t time.Time) {
	h.nc.SetReadDeadline(t)
	if ctx.Err() != nil {
		h.nc.SetReadDeadline(aLongTimeAgo)
	}
}

// checkNameLen refuses a peer's node name longer than ours may be.
func (h *handshake) checkNameLen(op string, msg, name []byte) error {
	if len(name) > maxNodeNameLen {
		return h.protoError(len(msg)-len(name), "%s: node name of %d bytes, more than %d", op, len(name), maxNodeNameLen)
	}
	return nil
}

// challenge draws a random 32-bit challenge.
func (h *handshake) challenge() (uint32, error) {
	var b [4]byte
	if _, err := io.ReadFull(h.node.random(), b[:]); err != nil {
		return 0, fmt.Errorf("ei: handshake with %s: challenge: %w", h.peerName(), err)
	}
	return binary.BigEndian.Uint32(b[:]), nil
}

// checkFlags reports a peer lacking mandatory flags.
func (h *handshake) checkFlags(peer Flags) error {
	if missing := MandatoryFlags &^ peer; missing != 0 {
		return fmt.Errorf("ei: handshake with %s: peer lacks mandatory distribution flags %v", h.peerName(), missing)
	}
	return nil
}

// validNodeName reports whether s is name@host with both parts non-empty.
func validNodeName(s string) bool {
	name, host, ok := strings.Cut(s, "@")
	return ok && name != "" && host != "" && !strings.Contains(host, "@")
}

// client runs the initiating side ("A" in the spec). version is the
// send_name format: 6 ('N') or 5 (old 'n', for peers registered in epmd
// with highest version 5).
func (h *handshake) client(ctx context.Context, version int, creation uint32) (peerInfo, error) {
	// send_name
	var msg []byte
	if h.nameMe && version == distVersion5 {
		return peerInfo{}, fmt.Errorf("ei: handshake with %s: the peer speaks distribution version 5, which cannot assign node names", h.peerName())
	}
	if version == distVersion5 {
		msg = append(msg, hsName5)
		msg = binary.BigEndian.AppendUint16(msg, distVersion5)
		msg = binary.BigEndian.AppendUint32(msg, uint32(h.flags&flagHigh))
		msg = append(msg, h.self...)
	} else {
		flags := h.flags
		if h.nameMe {
			// As dist_util:send_name: NAME_ME, creation 0, our host alone.
			flags |= FlagNameMe
			creation = 0
		}
		msg = append(msg, hsName6)
		msg = binary.BigEndian.AppendUint64(msg, uint64(flags))
		msg = binary.BigEndian.AppendUint32(msg, creation)
		msg = binary.BigEndian.AppendUint16(msg, uint16(len(h.self)))
		msg = append(msg, h.self...)
	}
	if err := h.write(ctx, "send_name", msg); err != nil {
		return peerInfo{}, err
	}

	// recv_status
	msg, err := h.read(ctx, "recv_status")
	if err != nil {
		return peerInfo{}, err
	}
	if msg[0] != hsStatus {
		return peerInfo{}, h.protoError(0, "recv_status: tag %q, want 's'", msg[0])
	}
	var p peerInfo
	if h.nameMe {
		if p.self, p.selfCreation, err = h.recvNamed(msg); err != nil {
			return peerInfo{}, err
		}
	} else {
		switch status := string(msg[1:]); status {
		case "ok", "ok_simultaneous":
		case "alive":
			// The peer believes a connection from us is up already. Tell
			// it whether this one replaces it (it does, unless the node's
			// connection table gave up this attempt meanwhile).
			if h.arb != nil && !h.arb.alive() {
				h.write(ctx, "send_status", []byte("sfalse"))
				return peerInfo{}, &HandshakeError{Peer: h.peerName(), Status: status}
			}
			if err := h.write(ctx, "send_status", []byte("strue")); err != nil {
				return peerInfo{}, err
			}
		default:
			return peerInfo{}, &HandshakeError{Peer: h.peerName(), Status: status}
		}
	}

	// recv_challenge
	msg, err = h.read(ctx, "recv_challenge")
	if err != nil {
		return peerInfo{}, err
	}
	r := wire.NewReader(msg)
	var peerChallenge uint32
	var name []byte
	switch tag := r.Uint8(); tag {
	case hsName6:
		p.flags = Flags(r.Uint64())
		peerChallenge = r.Uint32()
		p.creation = r.Uint32()
		name = r.Bytes(int(r.Uint16()))
	case hsName5:
		r.Uint16() // version
		p.flags = Flags(r.Uint32())
		peerChallenge = r.Uint32()
		name = r.Rest()
		if p.flags&FlagHandshake23 != 0 {
			return peerInfo{}, h.protoError(0, "recv_challenge: old 'n' challenge with HANDSHAKE_23 flag")
		}
	default:
		return peerInfo{}, h.protoError(0, "recv_challenge: tag %q, want 'N'", tag)
	}
	if r.Failed() {
		return peerInfo{}, h.protoError(len(msg), "recv_challenge: message truncated")
	}
	if err := h.checkNameLen("recv_challenge", msg, name); err != nil {
		return peerInfo{}, err
	}
	switch {
	case h.peer == "":
		// The caller did not know the name (ConnectAddr, ClientConn with
		// an empty peer): take the one the peer announces.
		if !validNodeName(string(name)) {
			return peerInfo{}, h.protoError(len(msg)-len(name), "recv_challenge: bad node name %q", name)
		}
		h.peer = string(name)
	case string(name) != h.peer:
		return peerInfo{}, h.protoError(len(msg)-len(name), "recv_challenge: peer calls itself %q", name)
	}
	p.name = Atom(name)
	p.version = version
	if err := h.checkFlags(p.flags); err != nil {
		return peerInfo{}, err
	}
	if h.nameMe && p.flags&FlagNameMe == 0 {
		// As dist_util:do_setnode, which finds the chosen flags static.
		return peerInfo{}, h.protoError(1, "recv_challenge: the peer assigned a name but its flags lack NAME_ME")
	}
	p.flags &= h.flags

	// complement, when we sent an old name and the peer speaks version 6
	if version == distVersion5 {
		msg = []byte{hsComplement}
		msg = binary.BigEndian.AppendUint32(msg, uint32(h.flags>>32))
		msg = binary.BigEndian.AppendUint32(msg, creation)
		if err := h.write(ctx, "send_complement", msg); err != nil {
			return peerInfo{}, err
		}
	}

	// send_challenge_reply
	ours, err := h.challenge()
	if err != nil {
		return peerInfo{}, err
	}
	d := digest(peerChallenge, h.cookie)
	msg = []byte{hsReply}
	msg = binary.BigEndian.AppendUint32(msg, ours)
	msg = append(msg, d[:]...)
	if err := h.write(ctx, "send_challenge_reply", msg); err != nil {
		return peerInfo{}, err
	}

	// recv_challenge_ack. A peer that finds our digest wrong (erl, for
	// one) closes the connection instead of answering.
	msg, err = h.readMsg("recv_challenge_ack")
	if err == io.EOF && ctx.Err() == nil {
		return peerInfo{}, wrapf(ErrAuth, "ei: handshake with %s: connection closed after our challenge reply", h.peer)
	}
	if err != nil {
		return peerInfo{}, h.readError(ctx, "recv_challenge_ack", err)
	}
	if len(msg) != 17 || msg[0] != hsAck {
		return peerInfo{}, h.protoError(0, "recv_challenge_ack: bad message %x", msg)
	}
	if !digestEqual(msg[1:], digest(ours, h.cookie)) {
		return peerInfo{}, wrapf(ErrAuth, "ei: handshake with %s: wrong digest in challenge ack", h.peer)
	}
	return p, nil
}

// server runs the accepting side ("B" in the spec).
func (h *handshake) server(ctx context.Context, creation uint32) (peerInfo, error) {
	// recv_name
	msg, err := h.readName(ctx)
	if err != nil {
		return peerInfo{}, err
	}
	r := wire.NewReader(msg)
	var p peerInfo
	var name []byte
	switch tag := r.Uint8(); tag {
	case hsName6:
		p.version = distVersion6
		p.flags = Flags(r.Uint64())
		p.creation = r.Uint32()
		name = r.Bytes(int(r.Uint16()))
	case hsName5:
		p.version = distVersion5
		r.Uint16() // version
		p.flags = Flags(r.Uint32())
		name = r.Rest()
	default:
		return peerInfo{}, h.protoError(0, "recv_name: tag %q, want 'N'", tag)
	}
	if r.Failed() {
		return peerInfo{}, h.protoError(len(msg), "recv_name: message truncated")
	}
	// Like erl, close the connection without a status.
	if err := h.checkNameLen("recv_name", msg, name); err != nil {
		return peerInfo{}, err
	}
	if p.flags&FlagNameMe != 0 && p.version == distVersion6 {
		// A host for which to make up a name, as dist_util:is_name_ok.
		if len(name) == 0 || bytes.IndexByte(name, '@') >= 0 {
			return peerInfo{}, h.protoError(len(msg)-len(name), "recv_name: bad host %q for a dynamic name", name)
		}
	} else if !validNodeName(string(name)) {
		return peerInfo{}, h.protoError(len(msg)-len(name), "recv_name: bad node name %q", name)
	}
	p.name = Atom(name)
	h.peer = string(name)
	if err := h.checkFlags(p.flags); err != nil {
		h.write(ctx, "send_status", []byte("snot_allowed"))
		return peerInfo{}, err
	}
	status := []byte("sok")
	if p.flags&FlagNameMe != 0 {
		// The peer asks for a name (and sent its host): give it one.
		if status, err = h.assignName(&p); err != nil {
			return peerInfo{}, err
		}
	}
	if h.arb != nil {
		// The node's connection table decides (simultaneous connects).
		if err := h.arbitrate(ctx, p.name, status); err != nil {
			return peerInfo{}, err
		}
	} else if err := h.write(ctx, "send_status", status); err != nil {
		return peerInfo{}, err
	}

	// send_challenge; the peer has HANDSHAKE_23 (checked above), so it is
	// always the new 'N' format.
	ours, err := h.challenge()
	if err != nil {
		return peerInfo{}, err
	}
	flags := h.flags
	if p.flags&FlagNameMe != 0 {
		// The peer checks that the flags both sides chose keep NAME_ME.
		flags |= FlagNameMe
	}
	msg = []byte{hsName6}
	msg = binary.BigEndian.AppendUint64(msg, uint64(flags))
	msg = binary.BigEndian.AppendUint32(msg, ours)
	msg = binary.BigEndian.AppendUint32(msg, creation)
	msg = binary.BigEndian.AppendUint16(msg, uint16(len(h.self)))
	msg = append(msg, h.self...)
	if err := h.write(ctx, "send_challenge", msg); err != nil {
		return peerInfo{}, err
	}

	// recv_complement, after an old 'n' name
	if p.version == distVersion5 {
		msg, err = h.read(ctx, "recv_complement")
		if err != nil {
			return peerInfo{}, err
		}
		r := wire.NewReader(msg)
		tag := r.Uint8()
		high := r.Uint32()
		p.creation = r.Uint32()
		if tag != hsComplement || r.Failed() || r.Len() != 0 {
			return peerInfo{}, h.protoError(0, "recv_complement: bad message %x", msg)
		}
		p.flags |= Flags(high) << 32
	}
	p.flags &= h.flags

	// recv_challenge_reply
	msg, err = h.read(ctx, "recv_challenge_reply")
	if err != nil {
		return peerInfo{}, err
	}
	if msg[0] != hsReply || len(msg) != 21 {
		return peerInfo{}, h.protoError(0, "recv_challenge_reply: bad message %x", msg)
	}
	theirs := binary.BigEndian.Uint32(msg[1:5])
	if !digestEqual(msg[5:], digest(ours, h.cookie)) {
		return peerInfo{}, wrapf(ErrAuth, "ei: handshake with %s: wrong digest in challenge reply", h.peer)
	}
	if h.authenticated != nil && !h.authenticated() {
		return peerInfo{}, errEvicted
	}

	// send_challenge_ack, once an older connection this one replaces
	// (status alive) is gone
	if h.arb != nil {
		if err := h.arb.replace(ctx); err != nil {
			return peerInfo{}, err
		}
	}
	d := digest(theirs, h.cookie)
	if err := h.write(ctx, "send_challenge_ack", append([]byte{hsAck}, d[:]...)); err != nil {
		return peerInfo{}, err
	}
	return p, nil
}
