package ei

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"strconv"
	"unsafe"
)

// Reader decodes a term piece by piece, like erl_interface's ei_decode_*
// functions: a hot path can read a tuple header, an atom and an integer
// without building a Term tree. Each Read method consumes one item; when it
// fails it consumes nothing and returns a *ProtocolError, so the caller may
// try another Read method on the same bytes.
//
// A Reader is not safe for concurrent use, and must not be copied after
// first use: a copy would build its terms in the memory that holds the
// terms the original returned, overwriting them.
type Reader struct {
	noCopy noCopy

	// AtomCache resolves ATOM_CACHE_REF as in Decoder.
	AtomCache []Atom

	data   []byte
	off    int
	recent recentAtoms // atoms decoded lately, to skip hashing repeats
	a      arena       // backing store for the terms built by term

	// share lets a large binary refer to data rather than copy it (see
	// binaryBytes); shared tells that one did.
	share, shared bool
}

// noCopy makes go vet's copylocks check report copies of the struct
// that holds it.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}

// NewReader returns a Reader over data, which it does not copy. The data
// must not change while the Reader is in use.
func NewReader(data []byte) *Reader { return &Reader{data: data} }

// Offset returns the number of bytes consumed so far.
func (r *Reader) Offset() int { return r.off }

// Len returns the number of bytes not yet consumed.
func (r *Reader) Len() int { return len(r.data) - r.off }

func (r *Reader) errorf(off int, format string, args ...any) error {
	return &ProtocolError{Offset: off, Msg: "ei: " + fmt.Sprintf(format, args...)}
}

// truncated reports that what, starting at off, runs past the data.
func (r *Reader) truncated(off int, what string) error {
	return &ProtocolError{Offset: off, Msg: "ei: truncated " + what}
}

// has reports whether n more bytes are available. n is unsigned, so
// lengths read from the wire are compared before any conversion to int.
func (r *Reader) has(n uint64) bool { return n <= uint64(len(r.data)-r.off) }

// The unchecked readers below must follow a successful has.
func (r *Reader) u8() byte { r.off++; return r.data[r.off-1] }

func (r *Reader) u16() uint16 {
	r.off += 2
	return binary.BigEndian.Uint16(r.data[r.off-2:])
}

func (r *Reader) u32() uint32 {
	r.off += 4
	return binary.BigEndian.Uint32(r.data[r.off-4:])
}

func (r *Reader) u64() uint64 {
	r.off += 8
	return binary.BigEndian.Uint64(r.data[r.off-8:])
}

func (r *Reader) bytes(n int) []byte {
	r.off += n
	return r.data[r.off-n : r.off]
}

// bigInt decodes any integer encoding. It returns x != nil only when the
// value does not fit an int64.
func (r *Reader) bigInt() (i int64, x *big.Int, err error) {
	start := r.off
	if !r.has(1) {
		return 0, nil, r.truncated(start, "integer")
	}
	tag := r.u8()
	var n uint64
	switch tag {
	case tagSmallInteger:
		if r.has(1) {
			return int64(r.u8()), nil, nil
		}
	case tagInteger:
		if r.has(4) {
			return int64(int32(r.u32())), nil, nil
		}
	case tagSmallBig:
		if r.has(1) {
			n = uint64(r.u8())
		}
	case tagLargeBig:
		if r.has(4) {
			n = uint64(r.u32())
		}
	default:
		r.off = start
		return 0, nil, r.errorf(start, "want an integer, got %s", tagName(tag))
	}
	if r.off == start+1 || !r.has(n+1) {
		r.off = start
		return 0, nil, r.truncated(start, tagName(tag))
	}
	neg := r.u8() != 0
	digits := r.bytes(int(n)) // least significant byte first
	hi := len(digits)
	for hi > 0 && digits[hi-1] == 0 {
		hi--
	}
	if hi <= 8 {
		var u uint64
		for j := hi - 1; j >= 0; j-- {
			u = u<<8 | uint64(digits[j])
		}
		switch {
		case !neg && u <= math.MaxInt64:
			return int64(u), nil, nil
		case neg && u <= 1<<63:
			return int64(-u), nil, nil
		}
	}
	const wordBytes = bits.UintSize / 8
	words := make([]big.Word, (hi+wordBytes-1)/wordBytes)
	d := digits[:hi]
	for j := range words {
		var w big.Word
		switch {
		case len(d) >= 8 && wordBytes == 8:
			w = big.Word(binary.LittleEndian.Uint64(d))
			d = d[8:]
		case len(d) >= 4 && wordBytes == 4:
			w = big.Word(binary.LittleEndian.Uint32(d))
			d = d[4:]
		default:
			for k := len(d) - 1; k >= 0; k-- {
				w = w<<8 | big.Word(d[k])
			}
			d = nil
		}
		words[j] = w
	}
	x = new(big.Int).SetBits(words)
	if neg {
		x.Neg(x)
	}
	return 0, x, nil
}

// uint32Term decodes an integer term in 0..2³²-1.
func (r *Reader) uint32Term() (uint32, error) {
	start := r.off
	i, x, err := r.bigInt()
	if err != nil {
		return 0, err
	}
	if x != nil || i < 0 || i > math.MaxUint32 {
		r.off = start
		return 0, r.errorf(start, "integer out of range 0..2^32-1")
	}
	return uint32(i), nil
}

// float decodes NEW_FLOAT_EXT or FLOAT_EXT.
func (r *Reader) float() (float64, error) {
	start := r.off
	if !r.has(1) {
		return 0, r.truncated(start, "float")
	}
	var f float64
	switch tag := r.u8(); tag {
	case tagNewFloat:
		if !r.has(8) {
			r.off = start
			return 0, r.truncated(start, "NEW_FLOAT_EXT")
		}
		f = math.Float64frombits(r.u64())
	case tagFloat:
		if !r.has(31) {
			r.off = start
			return 0, r.truncated(start, "FLOAT_EXT")
		}
		s := r.bytes(31)
		if i := bytes.IndexByte(s, 0); i >= 0 {
			s = s[:i]
		}
		var err error
		if f, err = strconv.ParseFloat(string(s), 64); err != nil {
			r.off = start
			return 0, r.errorf(start, "bad FLOAT_EXT %q", s)
		}
	default:
		r.off = start
		return 0, r.errorf(start, "want a float, got %s", tagName(tag))
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		r.off = start
		return 0, r.errorf(start, "float %v is not an Erlang float", f)
	}
	return f, nil
}

// export decodes EXPORT_EXT.
func (r *Reader) export() (Export, error) {
	start := r.off
	r.off++ // the tag, checked by the caller
	var e Export
	var err error
	if e.Module, err = r.atom(); err == nil {
		e.Function, err = r.atom()
	}
	var arity uint32
	if err == nil {
		arity, err = r.uint32Term()
	}
	if err == nil && arity > math.MaxUint8 {
		err = r.errorf(start, "EXPORT_EXT arity %d", arity)
	}
	if err != nil {
		r.off = start
		return Export{}, err
	}
	e.Arity = uint8(arity)
	return e, nil
}

// pid decodes NEW_PID_EXT or PID_EXT.
func (r *Reader) pid() (Pid, error) {
	var p Pid
	if err := r.pidInto(&p); err != nil {
		return Pid{}, err
	}
	return p, nil
}

// pidInto decodes NEW_PID_EXT or PID_EXT into *p, which on error holds
// garbage.
func (r *Reader) pidInto(p *Pid) error {
	start := r.off
	if !r.has(1) {
		return r.truncated(start, "pid")
	}
	tag := r.u8()
	if tag != tagNewPid && tag != tagPid {
		r.off = start
		return r.errorf(start, "want a pid, got %s", tagName(tag))
	}
	node, err := r.atom()
	if err != nil {
		r.off = start
		return err
	}
	p.Node = node
	switch {
	case tag == tagNewPid && r.has(12):
		p.ID, p.Serial, p.Creation = r.u32(), r.u32(), r.u32()
	case tag == tagPid && r.has(9):
		p.ID, p.Serial, p.Creation = r.u32(), r.u32(), uint32(r.u8())
	default:
		r.off = start
		return r.truncated(start, tagName(tag))
	}
	return nil
}

// port decodes V4_PORT_EXT, NEW_PORT_EXT or PORT_EXT.
func (r *Reader) port() (Port, error) {
	start := r.off
	if !r.has(1) {
		return Port{}, r.truncated(start, "port")
	}
	tag := r.u8()
	if tag != tagNewPort && tag != tagPort && tag != tagV4Port {
		r.off = start
		return Port{}, r.errorf(start, "want a port, got %s", tagName(tag))
	}
	node, err := r.atom()
	if err != nil {
		r.off = start
		return Port{}, err
	}
	p := Port{Node: node}
	switch {
	case tag == tagV4Port && r.has(12):
		p.ID, p.Creation = r.u64(), r.u32()
	case tag == tagNewPort && r.has(8):
		p.ID, p.Creation = uint64(r.u32()), r.u32()
	case tag == tagPort && r.has(5):
		p.ID, p.Creation = uint64(r.u32()), uint32(r.u8())
	default:
		r.off = start
		return Port{}, r.truncated(start, tagName(tag))
	}
	return p, nil
}

// ref decodes NEWER_REFERENCE_EXT, NEW_REFERENCE_EXT or REFERENCE_EXT.
// Unless keep is set it only checks and consumes the bytes.
func (r *Reader) ref(keep bool) (Ref, error) {
	var ref Ref
	if err := r.refInto(&ref, keep); err != nil {
		return Ref{}, err
	}
	return ref, nil
}

// refInto is ref decoding into *ref, which on error holds garbage.
func (r *Reader) refInto(ref *Ref, keep bool) error {
	start := r.off
	if !r.has(1) {
		return r.truncated(start, "reference")
	}
	tag := r.u8()
	n := 1
	switch tag {
	case tagNewerReference, tagNewReference:
		if !r.has(2) {
			r.off = start
			return r.truncated(start, tagName(tag))
		}
		n = int(r.u16())
		if n == 0 || n > maxRefWords {
			r.off = start
			return r.errorf(start, "%s with %d ID words, want 1..%d", tagName(tag), n, maxRefWords)
		}
	case tagReference:
	default:
		r.off = start
		return r.errorf(start, "want a reference, got %s", tagName(tag))
	}
	node, err := r.atom()
	if err != nil {
		r.off = start
		return err
	}
	ref.Node = node
	switch {
	case tag == tagNewerReference && r.has(uint64(4+4*n)):
		ref.Creation = r.u32()
		ref.ID = r.readWords(n, keep)
	case tag == tagNewReference && r.has(uint64(1+4*n)):
		ref.Creation = uint32(r.u8())
		ref.ID = r.readWords(n, keep)
	case tag == tagReference && r.has(5):
		ref.ID = r.readWords(1, keep)
		ref.Creation = uint32(r.u8())
	default:
		r.off = start
		return r.truncated(start, tagName(tag))
	}
	return nil
}

// readWords reads n words into the arena, or skips them unless keep is
// set.
func (r *Reader) readWords(n int, keep bool) []uint32 {
	if !keep {
		r.off += 4 * n
		return nil
	}
	w := carve(r, &r.a.words, wordsFor(4*n), 4)
	ids := unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(w))), n)
	for i := range ids {
		ids[i] = r.u32()
	}
	return ids
}

// ReadVersion consumes the version byte 131 that starts a standalone term.
func (r *Reader) ReadVersion() error {
	if !r.has(1) || r.data[r.off] != versionMagic {
		return r.errorf(r.off, "missing version byte 131")
	}
	r.off++
	return nil
}

// ReadTerm decodes one whole term, as Decoder.Decode does.
func (r *Reader) ReadTerm() (Term, error) {
	start := r.off
	t, err := r.whole()
	if err != nil {
		r.off = start
		return nil, err
	}
	return t, nil
}

// Skip consumes one whole term after checking it as ReadTerm would.
func (r *Reader) Skip() error {
	start := r.off
	if err := r.skip(0); err != nil {
		r.off = start
		return err
	}
	return nil
}

// ReadAtom decodes an atom in any encoding, including ATOM_CACHE_REF.
func (r *Reader) ReadAtom() (Atom, error) { return r.atom() }

// ReadBool decodes the atom true or false.
func (r *Reader) ReadBool() (bool, error) {
	start := r.off
	a, err := r.atom()
	switch {
	case err != nil:
		return false, err
	case a == "true":
		return true, nil
	case a == "false":
		return false, nil
	}
	r.off = start
	return false, r.errorf(start, "want true or false, got atom %q", truncate(string(a)))
}

// ReadInt decodes an integer that fits an int64.
func (r *Reader) ReadInt() (int64, error) {
	start := r.off
	i, x, err := r.bigInt()
	if err != nil {
		return 0, err
	}
	if x != nil {
		r.off = start
		return 0, r.errorf(start, "integer does not fit int64")
	}
	return i, nil
}

// ReadUint decodes a non-negative integer that fits a uint64.
func (r *Reader) ReadUint() (uint64, error) {
	start := r.off
	i, x, err := r.bigInt()
	if err != nil {
		return 0, err
	}
	switch {
	case x == nil && i >= 0:
		return uint64(i), nil
	case x != nil && x.Sign() > 0 && x.IsUint64():
		return x.Uint64(), nil
	}
	r.off = start
	return 0, r.errorf(start, "integer does not fit uint64")
}

// ReadBigInt decodes an integer of any size.
func (r *Reader) ReadBigInt() (*big.Int, error) {
	i, x, err := r.bigInt()
	if err != nil {
		return nil, err
	}
	if x == nil {
		x = big.NewInt(i)
	}
	return x, nil
}

// ReadFloat decodes NEW_FLOAT_EXT or FLOAT_EXT.
func (r *Reader) ReadFloat() (float64, error) { return r.float() }

// ReadBinary decodes BINARY_EXT and returns a copy of its bytes.
func (r *Reader) ReadBinary() ([]byte, error) {
	start := r.off
	if !r.has(5) || r.data[r.off] != tagBinary {
		return nil, r.want(start, "a binary")
	}
	r.off++
	n := r.u32()
	if !r.has(uint64(n)) {
		r.off = start
		return nil, r.truncated(start, "BINARY_EXT")
	}
	return bytes.Clone(r.bytes(int(n))), nil
}

// ReadString decodes a list of integers 0..255 (STRING_EXT, NIL_EXT, or a
// LIST_EXT of small integers) and returns its bytes, as ei_decode_string.
func (r *Reader) ReadString() (string, error) {
	start := r.off
	t, err := r.term(0)
	if err == nil {
		switch t := t.(type) {
		case String:
			return string(t), nil
		case List:
			b := make([]byte, len(t))
			for i, e := range t {
				c, ok := e.(int64)
				if !ok || c < 0 || c > math.MaxUint8 {
					goto fail
				}
				b[i] = byte(c)
			}
			return string(b), nil
		}
	}
fail:
	r.off = start
	return "", r.want(start, "a string")
}

// ReadTupleHeader decodes the header of a tuple and returns its arity;
// the elements follow.
func (r *Reader) ReadTupleHeader() (int, error) {
	start := r.off
	var n uint64
	switch {
	case r.has(2) && r.data[r.off] == tagSmallTuple:
		r.off++
		n = uint64(r.u8())
	case r.has(5) && r.data[r.off] == tagLargeTuple:
		r.off++
		n = uint64(r.u32())
	default:
		return 0, r.want(start, "a tuple")
	}
	if !r.has(n) {
		r.off = start
		return 0, r.truncated(start, "tuple")
	}
	return int(n), nil
}

// ReadListHeader decodes the header of a list and returns its length. For
// NIL_EXT it returns 0 and nothing follows; otherwise the elements follow,
// then the tail (NIL_EXT for a proper list, see ReadNil). STRING_EXT is
// not a list header; use ReadString.
func (r *Reader) ReadListHeader() (int, error) {
	start := r.off
	switch {
	case r.has(1) && r.data[r.off] == tagNil:
		r.off++
		return 0, nil
	case r.has(5) && r.data[r.off] == tagList:
		r.off++
		n := uint64(r.u32())
		if !r.has(n + 1) {
			r.off = start
			return 0, r.truncated(start, "LIST_EXT")
		}
		return int(n), nil
	}
	return 0, r.want(start, "a list")
}

// ReadNil decodes the empty list [] (NIL_EXT).
func (r *Reader) ReadNil() error {
	if r.has(1) && r.data[r.off] == tagNil {
		r.off++
		return nil
	}
	return r.want(r.off, "[]")
}

// ReadMapHeader decodes the header of a map and returns its number of
// pairs; keys and values follow, alternating, key first.
func (r *Reader) ReadMapHeader() (int, error) {
	start := r.off
	if !r.has(5) || r.data[r.off] != tagMap {
		return 0, r.want(start, "a map")
	}
	r.off++
	n := uint64(r.u32())
	if !r.has(2 * n) {
		r.off = start
		return 0, r.truncated(start, "MAP_EXT")
	}
	return int(n), nil
}

// ReadPid decodes a pid.
func (r *Reader) ReadPid() (Pid, error) { return r.pid() }

// ReadPort decodes a port.
func (r *Reader) ReadPort() (Port, error) { return r.port() }

// ReadRef decodes a reference.
func (r *Reader) ReadRef() (Ref, error) { return r.ref(true) }

// want reports that the term at off is not what the caller asked for.
func (r *Reader) want(off int, what string) error {
	if off >= len(r.data) {
		return r.truncated(off, what)
	}
	return r.errorf(off, "want %s, got %s", what, tagName(r.data[off]))
}

// skip consumes one term, checking it as term does but allocating only for
// rare tags.
func (r *Reader) skip(depth int) error {
	start := r.off
	if !r.has(1) {
		return r.truncated(start, "term")
	}
	tag := r.data[r.off]
	switch tag {
	case tagSmallAtomUTF8, tagAtomUTF8, tagSmallAtom, tagAtom, tagAtomCacheRef:
		_, _, _, _, err := r.atomBytes()
		return err
	case tagSmallInteger, tagInteger:
		n := 2
		if tag == tagInteger {
			n = 5
		}
		if !r.has(uint64(n)) {
			return r.truncated(start, tagName(tag))
		}
		r.off += n
		return nil
	case tagSmallBig, tagLargeBig:
		r.off++
		var n uint64
		if tag == tagSmallBig && r.has(1) {
			n = uint64(r.u8())
		} else if tag == tagLargeBig && r.has(4) {
			n = uint64(r.u32())
		} else {
			return r.truncated(start, tagName(tag))
		}
		if !r.has(n + 1) {
			return r.truncated(start, tagName(tag))
		}
		r.off += int(n) + 1
		return nil
	case tagNil:
		r.off++
		return nil
	case tagString:
		r.off++
		if !r.has(2) {
			return r.truncated(start, "STRING_EXT")
		}
		if n := r.u16(); !r.has(uint64(n)) {
			return r.truncated(start, "STRING_EXT")
		} else {
			r.off += int(n)
		}
		return nil
	case tagBinary:
		r.off++
		if !r.has(4) {
			return r.truncated(start, "BINARY_EXT")
		}
		if n := r.u32(); !r.has(uint64(n)) {
			return r.truncated(start, "BINARY_EXT")
		} else {
			r.off += int(n)
		}
		return nil
	case tagSmallTuple, tagLargeTuple, tagMap:
		var n int
		var err error
		if tag == tagMap {
			n, err = r.ReadMapHeader()
			n *= 2
		} else {
			n, err = r.ReadTupleHeader()
		}
		if err != nil {
			return err
		}
		if depth >= MaxDepth {
			return r.errorf(start, "term nested deeper than MaxDepth (%d)", MaxDepth)
		}
		for range n {
			if err := r.skip(depth + 1); err != nil {
				return err
			}
		}
		return nil
	case tagList:
		if depth >= MaxDepth {
			return r.errorf(start, "term nested deeper than MaxDepth (%d)", MaxDepth)
		}
		for {
			n, err := r.ReadListHeader()
			if err != nil {
				return err
			}
			for range n {
				if err := r.skip(depth + 1); err != nil {
					return err
				}
			}
			if !r.has(1) {
				return r.truncated(start, "LIST_EXT")
			}
			if r.data[r.off] != tagList {
				return r.skip(depth + 1)
			}
		}
	case tagNewPid, tagPid:
		_, err := r.pid()
		return err
	case tagNewPort, tagPort, tagV4Port:
		_, err := r.port()
		return err
	case tagNewerReference, tagNewReference, tagReference:
		_, err := r.ref(false)
		return err
	case tagNewFloat, tagFloat:
		_, err := r.float()
		return err
	case tagExport:
		_, err := r.export()
		return err
	case tagNewFun:
		r.off++
		_, err := r.fun(start, depth, false)
		return err
	}
	_, err := r.term(depth)
	return err
}
