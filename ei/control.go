package ei

import "fmt"

// Control message operations (DOP_* in OTP's dist.h).
const (
	opLink                = 1  // LINK
	opSend                = 2  // SEND
	opExit                = 3  // EXIT
	opUnlink              = 4  // UNLINK (before UNLINK_ID)
	opRegSend             = 6  // REG_SEND
	opGroupLeader         = 7  // GROUP_LEADER
	opExit2               = 8  // EXIT2
	opSendTT              = 12 // SEND_TT
	opExitTT              = 13 // EXIT_TT
	opRegSendTT           = 16 // REG_SEND_TT
	opExit2TT             = 18 // EXIT2_TT
	opMonitorP            = 19 // MONITOR_P
	opDemonitorP          = 20 // DEMONITOR_P
	opMonitorPExit        = 21 // MONITOR_P_EXIT
	opSendSender          = 22 // SEND_SENDER
	opSendSenderTT        = 23 // SEND_SENDER_TT
	opPayloadExit         = 24 // PAYLOAD_EXIT
	opPayloadExitTT       = 25 // PAYLOAD_EXIT_TT
	opPayloadExit2        = 26 // PAYLOAD_EXIT2
	opPayloadExit2TT      = 27 // PAYLOAD_EXIT2_TT
	opPayloadMonitorPExit = 28 // PAYLOAD_MONITOR_P_EXIT
	opAliasSend           = 33 // ALIAS_SEND
	opAliasSendTT         = 34 // ALIAS_SEND_TT
	opUnlinkID            = 35 // UNLINK_ID
	opUnlinkIDAck         = 36 // UNLINK_ID_ACK
)

// Control is a distribution control message: one of the struct types in
// this file (Send, RegSend, Link, Exit, ...), or UnknownControl.
// Message-carrying controls (Send, RegSend, SendSender, AliasSend and their
// _TT forms) are followed by a payload; the PAYLOAD_* controls carry their
// exit reason as the payload.
type Control interface {
	// appendControl appends the control tuple, without a version byte.
	appendControl(b []byte) ([]byte, error)
	// hasPayload reports whether a payload term follows the control.
	hasPayload() bool
}

// Link is LINK: {1, From, To}.
type Link struct{ From, To Pid }

// Send is SEND: {2, ”, To}, followed by the message.
type Send struct{ To Pid }

// Exit is EXIT: {3, From, To, Reason}, the exit signal of a linked process.
type Exit struct {
	From, To Pid
	Reason   Term
}

// Unlink is the old UNLINK: {4, From, To}, used by peers without UNLINK_ID.
type Unlink struct{ From, To Pid }

// RegSend is REG_SEND: {6, From, ”, To}, followed by the message to the
// process registered as To.
type RegSend struct {
	From Pid
	To   Atom
}

// GroupLeader is GROUP_LEADER: {7, From, To}.
type GroupLeader struct{ From, To Pid }

// Exit2 is EXIT2: {8, From, To, Reason}, an exit/2 signal.
type Exit2 struct {
	From, To Pid
	Reason   Term
}

// SendTT is SEND_TT: {12, ”, To, TraceToken}, followed by the message.
type SendTT struct {
	To         Pid
	TraceToken Term
}

// ExitTT is EXIT_TT: {13, From, To, TraceToken, Reason}.
type ExitTT struct {
	From, To   Pid
	TraceToken Term
	Reason     Term
}

// RegSendTT is REG_SEND_TT: {16, From, ”, To, TraceToken}, followed by
// the message.
type RegSendTT struct {
	From       Pid
	To         Atom
	TraceToken Term
}

// Exit2TT is EXIT2_TT: {18, From, To, TraceToken, Reason}.
type Exit2TT struct {
	From, To   Pid
	TraceToken Term
	Reason     Term
}

// MonitorP is MONITOR_P: {19, From, To, Ref}. To is a Pid or, for a
// monitor by name, an Atom.
type MonitorP struct {
	From Pid
	To   Term
	Ref  Ref
}

// DemonitorP is DEMONITOR_P: {20, From, To, Ref}. To is a Pid or an Atom.
type DemonitorP struct {
	From Pid
	To   Term
	Ref  Ref
}

// MonitorPExit is MONITOR_P_EXIT: {21, From, To, Ref, Reason}, the 'DOWN'
// of a monitored process. From is a Pid or an Atom.
type MonitorPExit struct {
	From   Term
	To     Pid
	Ref    Ref
	Reason Term
}

// SendSender is SEND_SENDER: {22, From, To}, followed by the message.
type SendSender struct{ From, To Pid }

// SendSenderTT is SEND_SENDER_TT: {23, From, To, TraceToken}, followed by
// the message.
type SendSenderTT struct {
	From, To   Pid
	TraceToken Term
}

// PayloadExit is PAYLOAD_EXIT: {24, From, To}, followed by the reason.
type PayloadExit struct{ From, To Pid }

// PayloadExitTT is PAYLOAD_EXIT_TT: {25, From, To, TraceToken}, followed
// by the reason.
type PayloadExitTT struct {
	From, To   Pid
	TraceToken Term
}

// PayloadExit2 is PAYLOAD_EXIT2: {26, From, To}, followed by the reason.
type PayloadExit2 struct{ From, To Pid }

// PayloadExit2TT is PAYLOAD_EXIT2_TT: {27, From, To, TraceToken},
// followed by the reason.
type PayloadExit2TT struct {
	From, To   Pid
	TraceToken Term
}

// PayloadMonitorPExit is PAYLOAD_MONITOR_P_EXIT: {28, From, To, Ref},
// followed by the reason. From is a Pid or an Atom.
type PayloadMonitorPExit struct {
	From Term
	To   Pid
	Ref  Ref
}

// AliasSend is ALIAS_SEND: {33, From, Alias}, followed by the message.
type AliasSend struct {
	From  Pid
	Alias Ref
}

// AliasSendTT is ALIAS_SEND_TT: {34, From, Alias, TraceToken}, followed
// by the message.
type AliasSendTT struct {
	From       Pid
	Alias      Ref
	TraceToken Term
}

// UnlinkID is UNLINK_ID: {35, ID, From, To}. The receiver answers with
// UnlinkIDAck carrying the same ID; Conn does so by itself.
type UnlinkID struct {
	ID       uint64
	From, To Pid
}

// UnlinkIDAck is UNLINK_ID_ACK: {36, ID, From, To}.
type UnlinkIDAck struct {
	ID       uint64
	From, To Pid
}

// UnknownControl is a control message this package does not model, or
// a known one with an unexpected number of elements. Tuple is the whole
// control tuple, operation first. A payload, when present, is in
// Message.Payload.
type UnknownControl struct {
	Tuple   Tuple
	Payload bool // whether a payload followed
}

func (Link) hasPayload() bool                { return false }
func (Send) hasPayload() bool                { return true }
func (Exit) hasPayload() bool                { return false }
func (Unlink) hasPayload() bool              { return false }
func (RegSend) hasPayload() bool             { return true }
func (GroupLeader) hasPayload() bool         { return false }
func (Exit2) hasPayload() bool               { return false }
func (SendTT) hasPayload() bool              { return true }
func (ExitTT) hasPayload() bool              { return false }
func (RegSendTT) hasPayload() bool           { return true }
func (Exit2TT) hasPayload() bool             { return false }
func (MonitorP) hasPayload() bool            { return false }
func (DemonitorP) hasPayload() bool          { return false }
func (MonitorPExit) hasPayload() bool        { return false }
func (SendSender) hasPayload() bool          { return true }
func (SendSenderTT) hasPayload() bool        { return true }
func (PayloadExit) hasPayload() bool         { return true }
func (PayloadExitTT) hasPayload() bool       { return true }
func (PayloadExit2) hasPayload() bool        { return true }
func (PayloadExit2TT) hasPayload() bool      { return true }
func (PayloadMonitorPExit) hasPayload() bool { return true }
func (AliasSend) hasPayload() bool           { return true }
func (AliasSendTT) hasPayload() bool         { return true }
func (UnlinkID) hasPayload() bool            { return false }
func (UnlinkIDAck) hasPayload() bool         { return false }
func (u UnknownControl) hasPayload() bool    { return u.Payload }

// enc appends tuple elements with a sticky error. It is a value, passed
// along the chain of calls, so that encoding a control allocates nothing.
type enc struct {
	b   []byte
	err error
}

func newEnc(b []byte, arity uint32, op int64) enc {
	b = AppendTupleHeader(b, arity)
	return enc{b: AppendInt(b, op)}
}

func (e enc) pid(p Pid) enc {
	if e.err == nil {
		e.b, e.err = AppendPid(e.b, p)
	}
	return e
}

func (e enc) atom(a Atom) enc {
	if e.err == nil {
		e.b, e.err = AppendAtom(e.b, a)
	}
	return e
}

func (e enc) term(t Term) enc {
	if e.err == nil {
		e.b, e.err = AppendTerm(e.b, t)
	}
	return e
}

func (e enc) ref(r Ref) enc {
	if e.err == nil {
		e.b, e.err = AppendRef(e.b, r)
	}
	return e
}

func (e enc) uint(v uint64) enc {
	if e.err == nil {
		e.b = AppendUint(e.b, v)
	}
	return e
}

func (e enc) done() ([]byte, error) { return e.b, e.err }

func (m Link) appendControl(b []byte) ([]byte, error) {
	return newEnc(b, 3, opLink).pid(m.From).pid(m.To).done()
}
func (m Send) appendControl(b []byte) ([]byte, error) {
	return newEnc(b, 3, opSend).atom("").pid(m.To).done()
}
func (m Exit) appendControl(b []byte) ([]byte, error) {
	return newEnc(b, 4, opExit).pid(m.From).pid(m.To).term(m.Reason).done()
}
func (m Unlink) appendControl(b []byte) ([]byte, error) {
	return newEnc(b, 3, opUnlink).pid(m.From).pid(m.To).done()
}
func (m RegSend) appendControl(b []byte) ([]byte, error) {
	return newEnc(b, 4, opRegSend).pid(m.From).atom("").atom(m.To).done()
}
func (m GroupLeader) appendControl(b []byte) ([]byte, error) {
	return newEnc(b, 3, opGroupLeader).pid(m.From).pid(m.To).done()
}
func (m Exit2) appendControl(b []byte) ([]byte, error) {
	return newEnc(b, 4, opExit2).pid(m.From).pid(m.To).term(m.Reason).done()
}
func (m SendTT) appendControl(b []byte) ([]byte, error) {
	return newEnc(b, 4, opSendTT).atom("").pid(m.To).term(m.TraceToken).done()
}
func (m ExitTT) appendControl(b []byte) ([]byte, error) {
	return newEnc(b, 5, opExitTT).pid(m.From).pid(m.To).term(m.TraceToken).term(m.Reason).done()
}
func (m RegSendTT) appendControl(b []byte) ([]byte, error) {
	return newEnc(b, 5, opRegSendTT).pid(m.From).atom("").atom(m.To).term(m.TraceToken).done()
}
func (m Exit2TT) appendControl(b []byte) ([]byte, error) {
	return newEnc(b, 5, opExit2TT).pid(m.From).pid(m.To).term(m.TraceToken).term(m.Reason).done()
}
func (m MonitorP) appendControl(b []byte) ([]byte, error) {
	return newEnc(b, 4, opMonitorP).pid(m.From).term(m.To).ref(m.Ref).done()
}
func (m DemonitorP) appendControl(b []byte) ([]byte, error) {
	return newEnc(b, 4, opDemonitorP).pid(m.From).term(m.To).ref(m.Ref).done()
}
func (m MonitorPExit) appendControl(b []byte) ([]byte, error) {
	return newEnc(b, 5, opMonitorPExit).term(m.From).pid(m.To).ref(m.Ref).term(m.Reason).done()
}
func (m SendSender) appendControl(b []byte) ([]byte, error) {
	return newEnc(b, 3, opSendSender).pid(m.From).pid(m.To).done()
}
func (m SendSenderTT) appendControl(b []byte) ([]byte, error) {
	return newEnc(b, 4, opSendSenderTT).pid(m.From).pid(m.To).term(m.TraceToken).done()
}
func (m PayloadExit) appendControl(b []byte) ([]byte, error) {
	return newEnc(b, 3, opPayloadExit).pid(m.From).pid(m.To).done()
}
func (m PayloadExitTT) appendControl(b []byte) ([]byte, error) {
	return newEnc(b, 4, opPayloadExitTT).pid(m.From).pid(m.To).term(m.TraceToken).done()
}
func (m PayloadExit2) appendControl(b []byte) ([]byte, error) {
	return newEnc(b, 3, opPayloadExit2).pid(m.From).pid(m.To).done()
}
func (m PayloadExit2TT) appendControl(b []byte) ([]byte, error) {
	return newEnc(b, 4, opPayloadExit2TT).pid(m.From).pid(m.To).term(m.TraceToken).done()
}
func (m PayloadMonitorPExit) appendControl(b []byte) ([]byte, error) {
	return newEnc(b, 4, opPayloadMonitorPExit).term(m.From).pid(m.To).ref(m.Ref).done()
}
func (m AliasSend) appendControl(b []byte) ([]byte, error) {
	return newEnc(b, 3, opAliasSend).pid(m.From).ref(m.Alias).done()
}
func (m AliasSendTT) appendControl(b []byte) ([]byte, error) {
	return newEnc(b, 4, opAliasSendTT).pid(m.From).ref(m.Alias).term(m.TraceToken).done()
}
func (m UnlinkID) appendControl(b []byte) ([]byte, error) {
	return newEnc(b, 4, opUnlinkID).uint(m.ID).pid(m.From).pid(m.To).done()
}
func (m UnlinkIDAck) appendControl(b []byte) ([]byte, error) {
	return newEnc(b, 4, opUnlinkIDAck).uint(m.ID).pid(m.From).pid(m.To).done()
}
func (m UnknownControl) appendControl(b []byte) ([]byte, error) {
	if len(m.Tuple) == 0 {
		return b, fmt.Errorf("ei: empty control tuple")
	}
	return AppendTerm(b, m.Tuple)
}

// dec reads tuple elements with a sticky error.
type dec struct {
	r   *Reader
	err error
}

func (d *dec) pid() Pid {
	if d.err != nil {
		return Pid{}
	}
	var p Pid
	p, d.err = d.r.ReadPid()
	return p
}

func (d *dec) atom() Atom {
	if d.err != nil {
		return ""
	}
	var a Atom
	a, d.err = d.r.ReadAtom()
	return a
}

func (d *dec) ref() Ref {
	if d.err != nil {
		return Ref{}
	}
	var r Ref
	r, d.err = d.r.ReadRef()
	return r
}

func (d *dec) uint() uint64 {
	if d.err != nil {
		return 0
	}
	var v uint64
	v, d.err = d.r.ReadUint()
	return v
}

func (d *dec) term() Term {
	if d.err != nil {
		return nil
	}
	var t Term
	t, d.err = d.r.ReadTerm()
	return t
}

// proc reads a Pid or an Atom.
func (d *dec) proc() Term {
	t := d.term()
	switch t.(type) {
	case Pid, Atom, nil:
		return t
	}
	if d.err == nil {
		d.err = &ProtocolError{Offset: d.r.Offset(), Msg: fmt.Sprintf("ei: control message: %s is neither pid nor atom", FormatTerm(t))}
	}
	return nil
}

// controlArity gives the tuple arity of each known operation.
var controlArity = map[int64]int{
	opLink: 3, opSend: 3, opExit: 4, opUnlink: 3, opRegSend: 4, opGroupLeader: 3,
	opExit2: 4, opSendTT: 4, opExitTT: 5, opRegSendTT: 5, opExit2TT: 5,
	opMonitorP: 4, opDemonitorP: 4, opMonitorPExit: 5, opSendSender: 3,
	opSendSenderTT: 4, opPayloadExit: 3, opPayloadExitTT: 4, opPayloadExit2: 3,
	opPayloadExit2TT: 4, opPayloadMonitorPExit: 4, opAliasSend: 3, opAliasSendTT: 4,
	opUnlinkID: 4, opUnlinkIDAck: 4, opSpawnRequest: 6, opSpawnRequestTT: 7,
	opSpawnReply: 5, opSpawnReplyTT: 6,
}

// readControl decodes a control tuple at r. For an UnknownControl the
// caller sets Payload, from whether bytes follow the control.
func readControl(r *Reader) (Control, error) {
	start := r.Offset()
	arity, err := r.ReadTupleHeader()
	if err != nil {
		return nil, err
	}
	if arity < 1 {
		return nil, &ProtocolError{Offset: start, Msg: "ei: control message: empty tuple"}
	}
	op, err := r.ReadInt()
	if err != nil {
		return nil, err
	}
	want, known := controlArity[op]
	if !known || want != arity {
		// Unknown operation, or a known one in a shape we do not model:
		// keep the whole tuple.
		t := Tuple{op}
		for i := 1; i < arity; i++ {
			e, err := r.ReadTerm()
			if err != nil {
				return nil, err
			}
			t = append(t, e)
		}
		return UnknownControl{Tuple: t}, nil
	}
	d := &dec{r: r}
	var c Control
	switch op {
	case opLink:
		c = Link{From: d.pid(), To: d.pid()}
	case opSend:
		d.term() // unused
		c = Send{To: d.pid()}
	case opExit:
		c = Exit{From: d.pid(), To: d.pid(), Reason: d.term()}
	case opUnlink:
		c = Unlink{From: d.pid(), To: d.pid()}
	case opRegSend:
		from := d.pid()
		d.term() // unused
		c = RegSend{From: from, To: d.atom()}
	case opGroupLeader:
		c = GroupLeader{From: d.pid(), To: d.pid()}
	case opExit2:
		c = Exit2{From: d.pid(), To: d.pid(), Reason: d.term()}
	case opSendTT:
		d.term() // unused
		c = SendTT{To: d.pid(), TraceToken: d.term()}
	case opExitTT:
		c = ExitTT{From: d.pid(), To: d.pid(), TraceToken: d.term(), Reason: d.term()}
	case opRegSendTT:
		from := d.pid()
		d.term() // unused
		c = RegSendTT{From: from, To: d.atom(), TraceToken: d.term()}
	case opExit2TT:
		c = Exit2TT{From: d.pid(), To: d.pid(), TraceToken: d.term(), Reason: d.term()}
	case opMonitorP:
		c = MonitorP{From: d.pid(), To: d.proc(), Ref: d.ref()}
	case opDemonitorP:
		c = DemonitorP{From: d.pid(), To: d.proc(), Ref: d.ref()}
	case opMonitorPExit:
		c = MonitorPExit{From: d.proc(), To: d.pid(), Ref: d.ref(), Reason: d.term()}
	case opSendSender:
		c = SendSender{From: d.pid(), To: d.pid()}
	case opSendSenderTT:
		c = SendSenderTT{From: d.pid(), To: d.pid(), TraceToken: d.term()}
	case opPayloadExit:
		c = PayloadExit{From: d.pid(), To: d.pid()}
	case opPayloadExitTT:
		c = PayloadExitTT{From: d.pid(), To: d.pid(), TraceToken: d.term()}
	case opPayloadExit2:
		c = PayloadExit2{From: d.pid(), To: d.pid()}
	case opPayloadExit2TT:
		c = PayloadExit2TT{From: d.pid(), To: d.pid(), TraceToken: d.term()}
	case opPayloadMonitorPExit:
		c = PayloadMonitorPExit{From: d.proc(), To: d.pid(), Ref: d.ref()}
	case opAliasSend:
		c = AliasSend{From: d.pid(), Alias: d.ref()}
	case opAliasSendTT:
		c = AliasSendTT{From: d.pid(), Alias: d.ref(), TraceToken: d.term()}
	case opUnlinkID:
		c = UnlinkID{ID: d.uint(), From: d.pid(), To: d.pid()}
	case opUnlinkIDAck:
		c = UnlinkIDAck{ID: d.uint(), From: d.pid(), To: d.pid()}
	case opSpawnRequest:
		c = d.spawnRequest()
	case opSpawnRequestTT:
		c = SpawnRequestTT{SpawnRequest: d.spawnRequest(), TraceToken: d.term()}
	case opSpawnReply:
		c = d.spawnReply()
	case opSpawnReplyTT:
		c = SpawnReplyTT{SpawnReply: d.spawnReply(), TraceToken: d.term()}
	}
	if d.err != nil {
		return nil, d.err
	}
	return c, nil
}
