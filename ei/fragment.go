package ei

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
)

// Receiving fragmented messages (DIST_FRAG_HEADER, DIST_FRAG_CONT; see
// conn_write.go for sending them). The first fragment says how many
// fragments the message has, and erl fills all but the last one, so the
// buffer reassembling the message is made about as large as the whole
// message at once, and each fragment's body is read into it: for
// ReceiveReuse straight from the connection, but for the bytes that came
// into the read buffer with its header (see fragmentBodyRead).

// Limits on the fragmented messages a peer may have in flight on a Conn,
// so that a peer cannot make it buffer without bound. A peer that goes
// past them gets its connection closed with a *ProtocolError.
const (
	// MaxFragmentedSize is the most bytes of incomplete fragmented
	// messages a Conn holds at once, the same bound as
	// MaxUncompressedSize puts on a compressed term. The buffers that
	// hold them, set aside ahead from the first fragments' word or grown
	// as the bytes arrive, take at most three times as much.
	MaxFragmentedSize = MaxUncompressedSize

	// MaxFragmentSequences is the most fragmented messages a Conn
	// reassembles at once. OTP interleaves the fragments of messages
	// from different sending processes, one sequence each.
	MaxFragmentSequences = 4096
)

const (
	// trustFactor and trustMin bound the memory set aside for a
	// fragmented message on the word of its first fragment: at most
	// trustFactor times the bytes received, or trustMin; all of it at
	// most MaxFragmentedSize. Beyond, buffers grow as the bytes arrive.
	trustFactor = 32
	trustMin    = 4 << 20
)

// fragments collects a fragmented message.
type fragments struct {
	next uint64 // id of the fragment expected next; fragment ids count down to 1
	refs []Atom // the atom cache references of the header
	data []byte // control and message bytes so far; cap(data) counts in Conn.fragSize

	pooled bool // data came from the pool (see bufpool.go)
}

// newFragments starts reassembling sequence seq, whose first fragment,
// of id id > 1, has n bytes of data, which the caller appends to the
// returned fragments' data.
func (c *Conn) newFragments(seq, id uint64, n int) (*fragments, error) {
	if c.frags[seq] != nil {
		return nil, &ProtocolError{Offset: 2, Msg: fmt.Sprintf("ei: fragment sequence %d started twice", seq)}
	}
	if len(c.frags) >= MaxFragmentSequences {
		return nil, &ProtocolError{Offset: 2, Msg: fmt.Sprintf("ei: more than %d fragmented messages in flight", MaxFragmentSequences)}
	}
	if err := c.holdFragments(n); err != nil {
		return nil, err
	}
	data, pooled := c.fragmentBuf(c.fragmentCap(n, mulSat(n, id), 0), 0)
	f := &fragments{next: id - 1, refs: slices.Clone(c.refs), data: data, pooled: pooled}
	if c.frags == nil {
		c.frags = make(map[uint64]*fragments)
	}
	c.frags[seq] = f
	c.fragSize += cap(data)
	return f, nil
}

// nextFragment checks fragment id of sequence seq, with n bytes of
// data, and makes room for them in the message's data.
func (c *Conn) nextFragment(seq, id uint64, n int) (*fragments, error) {
	f := c.frags[seq]
	if f == nil || id != f.next {
		return nil, &ProtocolError{Offset: 10, Msg: fmt.Sprintf("ei: unexpected fragment %d of sequence %d", id, seq)}
	}
	need := len(f.data) + n
	if err := c.checkSize(need); err != nil {
		return nil, err
	}
	if err := c.holdFragments(n); err != nil {
		return nil, err
	}
	if held := cap(f.data); held < need {
		data, pooled := c.fragmentBuf(c.fragmentCap(need, addSat(len(f.data), mulSat(n, id)), held), held)
		data = append(data, f.data...)
		if f.pooled {
			putPooled(f.data)
		}
		f.data, f.pooled = data, pooled
		c.fragSize += cap(data) - held
	}
	return f, nil
}

// fragmentBuf returns an empty buffer with room for size bytes for a
// fragmented message, to replace one of held bytes: for ReceiveReuse one
// that it kept, else one from the pool (pooled) if MaxFragmentedSize
// leaves room for it, else a new one.
func (c *Conn) fragmentBuf(size, held int) (b []byte, pooled bool) {
	if c.reusing.Load() {
		if b := c.free.get(size); b != nil {
			return b, false
		}
	} else if b := getPooled(size, MaxFragmentedSize-c.fragSize+held); b != nil {
		return b, true
	}
	return make([]byte, 0, size), false
}

// holdFragments counts n more bytes of incomplete fragmented messages,
// failing when they would exceed MaxFragmentedSize.
func (c *Conn) holdFragments(n int) error {
	if n > MaxFragmentedSize-c.fragBytes {
		return &ProtocolError{Offset: 0, Msg: fmt.Sprintf("ei: fragmented messages exceed %d bytes", MaxFragmentedSize)}
	}
	c.fragBytes += n
	return nil
}

// fragmentCap returns the capacity of a buffer for a fragmented message
// that needs need bytes now and will have about want, replacing a buffer
// of held bytes: want, within the trust bounds and what
// MaxFragmentedSize leaves of the buffers held, else need, or twice held
// as append would grow it.
func (c *Conn) fragmentCap(need, want, held int) int {
	size := min(want, max(mulSat(need, trustFactor), trustMin), c.node.maxMessageSize())
	if size > need && size <= MaxFragmentedSize-c.fragSize+held {
		return size
	}
	return min(max(need, 2*held), max(need, c.node.maxMessageSize()))
}

// fragmentDone counts the fragment of f just added and, if it was the
// last, decodes the message. Its binaries may refer to its data, unless
// that came from the pool: then they are copied out and the data goes
// back.
func (c *Conn) fragmentDone(seq uint64, f *fragments) (Message, bool, error) {
	f.next--
	if f.next > 0 {
		return Message{}, false, nil
	}
	delete(c.frags, seq)
	c.fragSize -= cap(f.data)
	c.fragBytes -= len(f.data)
	c.kind, c.kindRefs = "fragmented", len(f.refs)
	m, shared, err := decodeShared(f.data, 0, f.refs, false, !f.pooled)
	switch {
	case f.pooled:
		putPooled(f.data)
	case shared && err == nil:
		c.share(f.data)
	case !shared && c.reusing.Load():
		c.free.put(f.data)
	}
	return m, err == nil, err
}

// readFirstFragment reads a DIST_FRAG_HEADER frame of size bytes, more
// than the read buffer holds, whose first bytes are head: it parses the
// header in the read buffer and reads the data straight into the
// reassembly buffer. done is false when the frame is left to be read
// whole: a single fragment, or a header larger than the read buffer.
func (c *Conn) readFirstFragment(size int, head []byte) (m Message, ok, done bool, err error) {
	seq := binary.BigEndian.Uint64(head[2:])
	id := binary.BigEndian.Uint64(head[10:])
	if id <= 1 {
		return m, false, false, nil
	}
	// The header is parsed from the bytes buffered, if they hold it (at
	// least up to NumberOfAtomCacheRefs), else from as many as the
	// buffer takes.
	most := min(size, c.br.Size())
	p, err := c.br.Peek(min(size, max(c.br.Buffered(), fragHeaderLen-4)))
	if err != nil {
		return m, false, true, c.readError(noEOF(err))
	}
	off, err := c.readAtomCacheRefs(p, 18)
	if err != nil && len(p) < most {
		if p, err = c.br.Peek(most); err != nil {
			return m, false, true, c.readError(noEOF(err))
		}
		off, err = c.readAtomCacheRefs(p, 18)
	}
	if err != nil {
		return m, false, len(p) == size, err
	}
	n := size - off
	f, err := c.newFragments(seq, id, n)
	if err != nil {
		return m, false, true, err
	}
	c.br.Discard(off)
	if err := c.readBody(f.data[:n]); err != nil {
		return m, false, true, c.readError(noEOF(err))
	}
	c.fragmentBodyRead(f)
	f.data = f.data[:n]
	return m, false, true, nil
}

// readFragment reads a DIST_FRAG_CONT frame of size bytes, more than the
// read buffer holds, whose first bytes are head, straight into the
// reassembly buffer.
func (c *Conn) readFragment(size int, head []byte) (Message, bool, error) {
	seq := binary.BigEndian.Uint64(head[2:])
	id := binary.BigEndian.Uint64(head[10:])
	n := size - 18
	f, err := c.nextFragment(seq, id, n)
	if err != nil {
		return Message{}, false, err
	}
	c.br.Discard(18)
	l := len(f.data)
	if err := c.readBody(f.data[l : l+n]); err != nil {
		return Message{}, false, c.readError(noEOF(err))
	}
	c.fragmentBodyRead(f)
	f.data = f.data[:l+n]
	return c.fragmentDone(seq, f)
}

// fragmentBodyRead follows the read of a fragment's body into f: when
// the message's binaries are to share f's memory (for ReceiveReuse), the
// next fragment's body is read straight into it too (see readBody). When
// they are copied out of memory from the pool (for Receive), reads
// through the buffer, several fragments at once, cost less: the bytes
// are copied anyway, and with straight reads 1 MB messages went at
// 0.39-0.41 times the C-node's rate, against 0.47-0.49, a profile
// showing more time spent sending acknowledgements.
func (c *Conn) fragmentBodyRead(f *fragments) {
	if !f.pooled {
		c.cr.limit = headRead
	}
}

// mulSat returns n*m, or math.MaxInt if that overflows; n >= 0.
func mulSat(n int, m uint64) int {
	if n == 0 {
		return 0
	}
	if m > uint64(math.MaxInt/n) {
		return math.MaxInt
	}
	return n * int(m)
}

// addSat returns a+b, or math.MaxInt if that overflows; both >= 0.
func addSat(a, b int) int {
	if a > math.MaxInt-b {
		return math.MaxInt
	}
	return a + b
}
