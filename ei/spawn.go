package ei

import "fmt"

// Spawn control messages (OTP 23 and later, FlagSpawn).
const (
	opSpawnRequest   = 29 // SPAWN_REQUEST
	opSpawnRequestTT = 30 // SPAWN_REQUEST_TT
	opSpawnReply     = 31 // SPAWN_REPLY
	opSpawnReplyTT   = 32 // SPAWN_REPLY_TT
)

// Bits of SpawnReply.Flags.
const (
	spawnLinked    = 1 // SPAWN_REPLY flag 1: a link was set up
	spawnMonitored = 2 // SPAWN_REPLY flag 2: a monitor was set up
)

// SpawnRequest is SPAWN_REQUEST:
// {29, ReqID, From, GroupLeader, {Module, Function, Arity}, Opts},
// followed by the argument list (a List of Arity terms) as the payload.
// erl sends it for spawn_request/5 and what is built on it: erpc:call,
// erpc:cast, rpc:call and spawn/4 on another node. Opts holds the spawn
// options the new process's node acts on, such as link and monitor (erl
// keeps reply and reply_tag to itself); ReqID doubles as the monitor's
// reference.
type SpawnRequest struct {
	ReqID       Ref
	From        Pid
	GroupLeader Pid
	Module      Atom
	Function    Atom
	Arity       int // 0 to 255
	Opts        List
}

// SpawnRequestTT is SPAWN_REQUEST_TT: SpawnRequest with a trace token,
// {30, ReqID, From, GroupLeader, {Module, Function, Arity}, Opts, Token},
// followed by the argument list.
type SpawnRequestTT struct {
	SpawnRequest
	TraceToken Term
}

// SpawnReply is SPAWN_REPLY: {31, ReqID, To, Flags, Result}, the answer
// to a SpawnRequest. Result is the new process's Pid, or an Atom saying
// why it was not created (such as system_limit). Flags has bit 1 set when
// a link between To and the new process was set up, bit 2 when a
// monitor was.
type SpawnReply struct {
	ReqID  Ref
	To     Pid
	Flags  int
	Result Term
}

// SpawnReplyTT is SPAWN_REPLY_TT: SpawnReply with a trace token,
// {32, ReqID, To, Flags, Result, Token}.
type SpawnReplyTT struct {
	SpawnReply
	TraceToken Term
}

func (SpawnRequest) hasPayload() bool   { return true }
func (SpawnRequestTT) hasPayload() bool { return true }
func (SpawnReply) hasPayload() bool     { return false }
func (SpawnReplyTT) hasPayload() bool   { return false }

func (m SpawnRequest) appendControl(b []byte) ([]byte, error) {
	return m.enc(newEnc(b, 6, opSpawnRequest)).done()
}

func (m SpawnRequestTT) appendControl(b []byte) ([]byte, error) {
	return m.enc(newEnc(b, 7, opSpawnRequestTT)).term(m.TraceToken).done()
}

// enc appends the elements after the operation.
func (m SpawnRequest) enc(e enc) enc {
	e = e.ref(m.ReqID).pid(m.From).pid(m.GroupLeader)
	if e.err == nil && (m.Arity < 0 || m.Arity > 255) {
		e.err = fmt.Errorf("ei: spawn request: arity %d out of range", m.Arity)
	}
	if e.err == nil {
		e.b = AppendTupleHeader(e.b, 3)
	}
	opts := m.Opts
	if opts == nil {
		opts = List{}
	}
	return e.atom(m.Module).atom(m.Function).uint(uint64(m.Arity)).term(opts)
}

func (m SpawnReply) appendControl(b []byte) ([]byte, error) {
	return m.enc(newEnc(b, 5, opSpawnReply)).done()
}

func (m SpawnReplyTT) appendControl(b []byte) ([]byte, error) {
	return m.enc(newEnc(b, 6, opSpawnReplyTT)).term(m.TraceToken).done()
}

func (m SpawnReply) enc(e enc) enc {
	if e.err == nil && m.Flags < 0 {
		e.err = fmt.Errorf("ei: spawn reply: negative flags %d", m.Flags)
	}
	e = e.ref(m.ReqID).pid(m.To).uint(uint64(m.Flags))
	switch m.Result.(type) {
	case Pid, Atom:
		return e.term(m.Result)
	}
	if e.err == nil {
		e.err = fmt.Errorf("ei: spawn reply: result %v is neither pid nor atom", m.Result)
	}
	return e
}

// spawnRequest reads the elements of a SPAWN_REQUEST after the
// operation.
func (d *dec) spawnRequest() SpawnRequest {
	m := SpawnRequest{ReqID: d.ref(), From: d.pid(), GroupLeader: d.pid()}
	if d.err == nil {
		var n int
		if n, d.err = d.r.ReadTupleHeader(); d.err == nil && n != 3 {
			d.fail("spawn request: MFA tuple of %d elements", n)
		}
	}
	m.Module, m.Function = d.atom(), d.atom()
	if arity := d.uint(); arity > 255 {
		d.fail("spawn request: arity %d", arity)
	} else {
		m.Arity = int(arity)
	}
	m.Opts = d.list()
	return m
}

// spawnReply reads the elements of a SPAWN_REPLY after the operation.
func (d *dec) spawnReply() SpawnReply {
	m := SpawnReply{ReqID: d.ref(), To: d.pid()}
	if flags := d.uint(); flags > 1<<31 {
		d.fail("spawn reply: flags %d", flags)
	} else {
		m.Flags = int(flags)
	}
	m.Result = d.proc()
	return m
}

// list reads a proper list.
func (d *dec) list() List {
	t := d.term()
	if d.err != nil {
		return nil
	}
	l, ok := t.(List)
	if !ok {
		d.fail("%s is not a proper list", FormatTerm(t))
	}
	return l
}

// fail records a malformed control message, unless an error came first.
func (d *dec) fail(format string, args ...any) {
	if d.err == nil {
		d.err = &ProtocolError{Offset: d.r.Offset(), Msg: "ei: control message: " + fmt.Sprintf(format, args...)}
	}
}
