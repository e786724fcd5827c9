package ei

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"io"
	"math"
	"math/big"
	"math/bits"
	"strconv"
	"sync/atomic"
	"unicode/utf8"
	"unsafe"
)

// Unmarshal decodes data, which must hold the version byte 131 and exactly
// one term, as produced by erlang:term_to_binary. It inflates compressed
// terms (tag 80) whose declared size is at most MaxUncompressedSize and
// matches the inflated data. Errors about bad bytes are *ProtocolError;
// inside a compressed term their offsets count from the start of the
// inflated data.
func Unmarshal(data []byte) (Term, error) {
	if len(data) == 0 || data[0] != versionMagic {
		return nil, &ProtocolError{0, "ei: missing version byte 131"}
	}
	r := Reader{data: data, off: 1}
	if len(data) > 1 && data[1] == tagCompressed {
		inflated, err := inflate(data)
		if err != nil {
			return nil, err
		}
		r = Reader{data: inflated}
	}
	t, err := r.term(0)
	if err != nil {
		return nil, err
	}
	if r.off != len(r.data) {
		return nil, r.errorf(r.off, "%d bytes after the term", len(r.data)-r.off)
	}
	return t, nil
}

// Limits on inflating a compressed term.
const (
	// maxDeflateRatio is how many bytes one byte of deflate data can
	// inflate to at most: a 258-byte match costs at least two bits, one
	// for its length code and one for its distance code.
	maxDeflateRatio = 4 * 258

	// growTrial is how large a buffer that grows with the data received
	// gets (see grow) before it is made as large as declared.
	growTrial = 256 << 10
)

// grow returns buf, full, with room for more of the size bytes declared:
// it doubles the capacity (from 64 KiB) while that stays within
// growTrial, then makes it size at once. So a buffer follows the bytes
// that actually arrive while they are few, and a large one is made once,
// not copied over and over: filling it costs size plus less than
// 2*growTrial bytes.
func grow(buf []byte, size int) []byte {
	c := min(max(2*cap(buf), 64<<10), size)
	if c > growTrial {
		c = size
	}
	return append(make([]byte, 0, c), buf...)
}

// inflate returns the term inside data = 131, 80, UncompressedSize(4),
// zlib data. It stops as soon as the data inflates past the declared
// size, so it holds at most the declared size and growTrial (plus zlib's
// window) at once. Declared sizes the zlib data cannot reach are refused
// without inflating.
func inflate(data []byte) ([]byte, error) {
	if len(data) < 6 {
		return nil, &ProtocolError{len(data), "ei: truncated compressed term header"}
	}
	size := int(binary.BigEndian.Uint32(data[2:]))
	if size > MaxUncompressedSize {
		return nil, &ProtocolError{2, fmt.Sprintf("ei: compressed term declares %d bytes, more than MaxUncompressedSize", size)}
	}
	if size > maxDeflateRatio*(len(data)-6) {
		return nil, &ProtocolError{2, fmt.Sprintf("ei: compressed term declares %d bytes, more than %d bytes of zlib data can hold", size, len(data)-6)}
	}
	zr, err := zlib.NewReader(bytes.NewReader(data[6:]))
	if err != nil {
		return nil, &ProtocolError{6, "ei: compressed term: " + err.Error()}
	}
	var buf []byte
	for {
		if len(buf) == cap(buf) {
			if len(buf) == size {
				break
			}
			buf = grow(buf, size)
		}
		n, err := zr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, &ProtocolError{6, "ei: compressed term: " + err.Error()}
		}
	}
	if len(buf) < size {
		return nil, &ProtocolError{2, fmt.Sprintf("ei: compressed term declares %d bytes, inflates to %d", size, len(buf))}
	}
	// The declared size is reached: one more byte is one too many.
	var extra [1]byte
	if n, err := io.ReadFull(zr, extra[:]); n > 0 {
		return nil, &ProtocolError{2, fmt.Sprintf("ei: compressed term declares %d bytes, inflates to more", size)}
	} else if err != io.EOF {
		return nil, &ProtocolError{6, "ei: compressed term: " + err.Error()}
	}
	return buf, nil
}

// Decoder decodes terms that have no version byte, such as those in
// distribution messages. The zero Decoder is ready to use. Decode may be
// called concurrently as long as AtomCache does not change.
type Decoder struct {
	// AtomCache resolves ATOM_CACHE_REF: index i refers to AtomCache[i].
	// An index beyond its length is a *ProtocolError.
	AtomCache []Atom
}

// Decode decodes one term at the start of data and returns it with the
// number of bytes it used. Errors about bad bytes are *ProtocolError; on
// error n is 0. Decode copies what it keeps; the result does not alias data.
func (d *Decoder) Decode(data []byte) (t Term, n int, err error) {
	r := Reader{data: data}
	if d != nil {
		r.AtomCache = d.AtomCache
	}
	t, err = r.term(0)
	if err != nil {
		return nil, 0, err
	}
	return t, r.off, nil
}

// Reader decodes a term piece by piece, like erl_interface's ei_decode_*
// functions: a hot path can read a tuple header, an atom and an integer
// without building a Term tree. Each Read method consumes one item; when it
// fails it consumes nothing and returns a *ProtocolError, so the caller may
// try another Read method on the same bytes.
//
// A Reader is not safe for concurrent use.
type Reader struct {
	// AtomCache resolves ATOM_CACHE_REF as in Decoder.
	AtomCache []Atom

	data []byte
	off  int
	last *atomEntry // the last atom decoded, to skip hashing repeats
	a    arena      // backing store for the terms built by term
}

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

// emptyList is [], boxed once.
var emptyList Term = List{}

// term decodes one term at nesting depth depth. It handles the commonest
// tags in a small function and leaves the rest to termSlow.
func (r *Reader) term(depth int) (Term, error) {
	if r.off >= len(r.data) {
		return nil, r.truncated(r.off, "term")
	}
	switch r.data[r.off] {
	case tagSmallAtomUTF8:
		if r.off+1 < len(r.data) {
			n := int(r.data[r.off+1])
			if end := r.off + 2 + n; end <= len(r.data) {
				b := r.data[r.off+2 : end]
				if e := r.last; e != nil && string(e.atom) == string(b) {
					r.off = end
					return e.term, nil
				}
				if e := lookup(b); e != nil {
					r.off = end
					r.last = e
					return e.term, nil
				}
				if utf8.Valid(b) {
					r.off = end
					r.last = intern(b)
					return r.last.term, nil
				}
			}
		}
	case tagSmallInteger:
		if r.off+1 < len(r.data) {
			v := r.data[r.off+1]
			r.off += 2
			return int64(v), nil
		}
	case tagInteger:
		if r.off+4 < len(r.data) {
			v := int64(int32(binary.BigEndian.Uint32(r.data[r.off+1:])))
			r.off += 5
			return r.int(v), nil
		}
	case tagNil:
		r.off++
		return emptyList, nil
	case tagSmallTuple:
		if r.off+1 < len(r.data) {
			return r.tuple(depth)
		}
	case tagList:
		r.off++
		return r.list(r.off-1, depth)
	}
	return r.termSlow(depth)
}

// tuple decodes a SMALL_TUPLE_EXT or LARGE_TUPLE_EXT.
func (r *Reader) tuple(depth int) (Term, error) {
	start := r.off
	tag := r.u8()
	var n uint64
	if tag == tagSmallTuple && r.has(1) {
		n = uint64(r.u8())
	} else if tag == tagLargeTuple && r.has(4) {
		n = uint64(r.u32())
	} else {
		return nil, r.truncated(start, tagName(tag))
	}
	if !r.has(n) { // each element takes at least a byte
		return nil, r.truncated(start, tagName(tag))
	}
	if depth >= MaxDepth {
		return nil, r.errorf(start, "term nested deeper than MaxDepth (%d)", MaxDepth)
	}
	t := Tuple(r.terms(int(n)))
	if err := r.elems(t, depth+1); err != nil {
		return nil, err
	}
	return box(r, &r.a.seqs, t, typeTuple, 2), nil
}

// termSlow decodes any term.
func (r *Reader) termSlow(depth int) (Term, error) {
	start := r.off
	if !r.has(1) {
		return nil, r.truncated(start, "term")
	}
	tag := r.u8()
	switch tag {
	case tagSmallAtomUTF8, tagAtomUTF8, tagSmallAtom, tagAtom, tagAtomCacheRef:
		r.off = start
		return r.atomTerm()

	case tagSmallInteger:
		if !r.has(1) {
			return nil, r.truncated(start, "SMALL_INTEGER_EXT")
		}
		return int64(r.u8()), nil

	case tagInteger:
		if !r.has(4) {
			return nil, r.truncated(start, "INTEGER_EXT")
		}
		return r.int(int64(int32(r.u32()))), nil

	case tagSmallBig, tagLargeBig:
		r.off = start
		i, x, err := r.bigInt()
		if err != nil {
			return nil, err
		}
		if x != nil {
			return x, nil
		}
		return r.int(i), nil

	case tagNewFloat, tagFloat:
		r.off = start
		f, err := r.float()
		if err != nil {
			return nil, err
		}
		if bits := math.Float64bits(f); bits > math.MaxUint8 {
			return box(r, &r.a.words64, int64(bits), typeFloat64, 9), nil
		}
		return f, nil // the runtime boxes it without allocating

	case tagSmallTuple, tagLargeTuple:
		r.off = start
		return r.tuple(depth)

	case tagNil:
		return emptyList, nil

	case tagList:
		return r.list(start, depth)

	case tagString:
		if !r.has(2) {
			return nil, r.truncated(start, "STRING_EXT")
		}
		n := r.u16()
		if !r.has(uint64(n)) {
			return nil, r.truncated(start, "STRING_EXT")
		}
		if n == 0 {
			return emptyList, nil
		}
		return box(r, &r.a.strings, r.string(int(n)), typeString, 4), nil

	case tagBinary:
		if !r.has(4) {
			return nil, r.truncated(start, "BINARY_EXT")
		}
		n := r.u32()
		if !r.has(uint64(n)) {
			return nil, r.truncated(start, "BINARY_EXT")
		}
		return box(r, &r.a.binaries, Binary(r.copyBytes(int(n))), typeBinary, 5), nil

	case tagBitBinary:
		if !r.has(5) {
			return nil, r.truncated(start, "BIT_BINARY_EXT")
		}
		n := r.u32()
		bits := r.u8()
		if !r.has(uint64(n)) {
			return nil, r.truncated(start, "BIT_BINARY_EXT")
		}
		if bits > 8 || (bits == 0) != (n == 0) {
			return nil, r.errorf(start, "BIT_BINARY_EXT of %d bytes with %d bits in the last byte", n, bits)
		}
		data := r.copyBytes(int(n))
		if n > 0 {
			data[n-1] &= 0xff << (8 - bits)
		}
		return box(r, &r.a.bitBinaries, BitBinary{Data: data, Bits: bits}, typeBitBinary, 6), nil

	case tagMap:
		if !r.has(4) {
			return nil, r.truncated(start, "MAP_EXT")
		}
		n := uint64(r.u32())
		if !r.has(2 * n) {
			return nil, r.truncated(start, "MAP_EXT")
		}
		if depth >= MaxDepth {
			return nil, r.errorf(start, "term nested deeper than MaxDepth (%d)", MaxDepth)
		}
		m := Map(carve(r, &r.a.pairs, int(n), 4))
		for i := range m {
			var err error
			if m[i].Key, err = r.term(depth + 1); err != nil {
				return nil, err
			}
			if m[i].Value, err = r.term(depth + 1); err != nil {
				return nil, err
			}
		}
		return box(r, &r.a.maps, m, typeMap, 5), nil

	case tagNewPid, tagPid:
		r.off = start
		p, err := r.pid()
		if err != nil {
			return nil, err
		}
		return box(r, &r.a.pids, p, typePid, 15), nil

	case tagNewPort, tagPort, tagV4Port:
		r.off = start
		p, err := r.port()
		if err != nil {
			return nil, err
		}
		return box(r, &r.a.ports, p, typePort, 11), nil

	case tagNewerReference, tagNewReference, tagReference:
		r.off = start
		ref, err := r.ref(true)
		if err != nil {
			return nil, err
		}
		return box(r, &r.a.refs, ref, typeRef, 11), nil

	case tagNewFun:
		return r.fun(start, depth, true)

	case tagExport:
		r.off = start
		e, err := r.export()
		if err != nil {
			return nil, err
		}
		return e, nil

	case tagFun:
		return nil, r.errorf(start, "FUN_EXT (removed in OTP 23) is not supported")
	case tagLocal:
		return nil, r.errorf(start, "LOCAL_EXT is not supported")
	case tagCompressed:
		return nil, r.errorf(start, "compressed term inside a term")
	case versionMagic:
		return nil, r.errorf(start, "unexpected version byte 131")
	}
	return nil, r.errorf(start, "unknown tag %d", tag)
}

// list decodes the rest of a LIST_EXT whose tag, at start, was consumed. Lists whose
// tail is a list (which erl never sends) are flattened, so a Term that
// compares equal in Erlang decodes to the same Go value.
func (r *Reader) list(start, depth int) (Term, error) {
	if depth >= MaxDepth {
		return nil, r.errorf(start, "term nested deeper than MaxDepth (%d)", MaxDepth)
	}
	var elems []Term
	for {
		if !r.has(4) {
			return nil, r.truncated(start, "LIST_EXT")
		}
		n := uint64(r.u32())
		if !r.has(n + 1) { // each element and the tail take at least a byte
			return nil, r.truncated(start, "LIST_EXT")
		}
		if elems == nil {
			elems = r.terms(int(n))
			if err := r.elems(elems, depth+1); err != nil {
				return nil, err
			}
		} else {
			elems = growTerms(elems, int(n))
			for range n {
				e, err := r.term(depth + 1)
				if err != nil {
					return nil, err
				}
				elems = append(elems, e)
			}
		}
		// The tail.
		tailStart := r.off
		if !r.has(1) {
			return nil, r.truncated(start, "LIST_EXT")
		}
		switch r.u8() {
		case tagNil:
			if len(elems) == 0 {
				return emptyList, nil
			}
			return box(r, &r.a.seqs, Tuple(elems), typeList, 2), nil
		case tagList:
			continue
		case tagString:
			if !r.has(2) {
				return nil, r.truncated(tailStart, "STRING_EXT")
			}
			n := r.u16()
			if !r.has(uint64(n)) {
				return nil, r.truncated(tailStart, "STRING_EXT")
			}
			elems = growTerms(elems, int(n))
			for _, c := range r.bytes(int(n)) {
				elems = append(elems, int64(c))
			}
			if len(elems) == 0 {
				return emptyList, nil
			}
			return box(r, &r.a.seqs, Tuple(elems), typeList, 2), nil
		}
		r.off = tailStart
		tail, err := r.term(depth + 1)
		if err != nil {
			return nil, err
		}
		if len(elems) == 0 {
			return tail, nil
		}
		return box(r, &r.a.improperLists, ImproperList{Elems: elems, Tail: tail}, typeImproperList, 7), nil
	}
}

// elems decodes the elements of a tuple or list into t. It decodes a small
// integer, or an atom equal to the last one (as in a list of records), in
// line.
func (r *Reader) elems(t []Term, depth int) error {
	data := r.data
	for i := range t {
		off := r.off
		if off+1 < len(data) {
			switch data[off] {
			case tagSmallInteger:
				t[i] = smallInts[data[off+1]]
				r.off = off + 2
				continue
			case tagSmallAtomUTF8:
				if e := r.last; e != nil && e.mask != 0 && off+8 <= len(data) &&
					binary.LittleEndian.Uint64(data[off:])&e.mask == e.enc {
					t[i] = e.term
					r.off = off + 2 + len(e.atom)
					continue
				}
			}
		}
		var err error
		if t[i], err = r.term(depth); err != nil {
			return err
		}
	}
	return nil
}

// smallInts holds 0..255 boxed.
var smallInts = func() (a [256]Term) {
	for i := range a {
		a[i] = int64(i)
	}
	return a
}()

// growTerms makes room for n more elements in s. It is used only when a
// list's length is not known up front, which erl never causes.
func growTerms(s []Term, n int) []Term {
	if cap(s)-len(s) >= n {
		return s
	}
	return append(s, make([]Term, n)...)[:len(s)]
}

// int boxes an integer. 0..255 come boxed from smallInts (and boxing
// them would not allocate either); other values go to the arena.
func (r *Reader) int(v int64) Term {
	if uint64(v) <= math.MaxUint8 {
		return smallInts[v]
	}
	return box(r, &r.a.words64, v, typeInt64, 5)
}

// string copies n bytes into the arena as a String. The bytes are never
// written again.
func (r *Reader) string(n int) String {
	b := carve(r, &r.a.bytes, n, 1)
	copy(b, r.bytes(n))
	return String(unsafe.String(unsafe.SliceData(b), n))
}

// copyBytes copies n bytes into the arena. The copy is not nil, even when
// n is 0.
func (r *Reader) copyBytes(n int) []byte {
	b := carve(r, &r.a.bytes, n, 1)
	copy(b, r.bytes(n))
	return b
}

// terms returns a slice of n zero Terms from the arena. n must not exceed
// the bytes left.
func (r *Reader) terms(n int) []Term { return carve(r, &r.a.terms, n, 2) }

// arena holds the slabs that Reader.term carves decoded values from, so
// that a tree of many small values costs a few allocations rather than one
// (or two) per value: element arrays of tuples, lists and maps, copied
// bytes, reference words, and the boxes that hold values inside a Term.
//
// A slab is carved front to back, and a piece is never written again once
// handed out, except by the caller that owns it (a Binary's bytes). Pieces
// are sliced with full slice expressions, so appending to one never
// touches a neighbour. A slab is sized by what the rest of the input could
// fill and by maxSlab, so a term kept alive keeps at most a few kilobytes
// of its siblings alive, and a short input gets short slabs.
type arena struct {
	terms []Term   // elements of tuples, lists and funs' free variables
	pairs []Pair   // elements of maps
	bytes []byte   // bytes of binaries, bitstrings and strings
	words []uint32 // reference IDs

	// Boxes. A box holds the bytes of the value, so values with the same
	// layout share a slab: seqs holds Tuples and Lists, words64 int64s
	// and the bits of float64s.
	seqs          []Tuple
	words64       []int64
	improperLists []ImproperList
	strings       []String
	binaries      []Binary
	bitBinaries   []BitBinary
	maps          []Map
	pids          []Pid
	ports         []Port
	refs          []Ref
}

// maxSlab is the most elements a new slab holds beyond the n it is made
// for; a piece of more than maxSlab elements gets its own allocation.
const maxSlab = 256

// slabCap returns the capacity of a new slab replacing one of capacity old
// to hold n elements now. The spare room grows with each slab, but holds
// no more elements than the rest of the input can fill when each needs at
// least minSize bytes; n elements still to be read take n bytes of it.
func (r *Reader) slabCap(old, n, minSize, rest int) int {
	return n + max(0, min(max(old, 4), maxSlab, rest/minSize))
}

// carve returns n zero elements from the slab *s, first replacing the slab
// if it has too little room. The elements (when they are terms) are still
// to be read, and each other element needs at least minSize bytes of
// input.
func carve[T any](r *Reader, s *[]T, n, minSize int) []T {
	if n == 0 {
		return []T{} // not nil, and allocates nothing
	}
	if cap(*s)-len(*s) < n {
		if n > maxSlab {
			return make([]T, n)
		}
		*s = make([]T, 0, r.slabCap(cap(*s), n, minSize, len(r.data)-r.off-n))
	}
	i := len(*s)
	*s = (*s)[:i+n]
	return (*s)[i : i+n : i+n]
}

// eface is the layout of an empty interface (Term): a type word and a
// pointer to the value.
type eface struct {
	typ  unsafe.Pointer
	data unsafe.Pointer
}

// typeWord returns the type word of a Term holding a T.
func typeWord[T any]() unsafe.Pointer {
	var t Term = *new(T)
	return (*eface)(unsafe.Pointer(&t)).typ
}

var (
	typeInt64        = typeWord[int64]()
	typeFloat64      = typeWord[float64]()
	typeTuple        = typeWord[Tuple]()
	typeList         = typeWord[List]()
	typeImproperList = typeWord[ImproperList]()
	typeString       = typeWord[String]()
	typeBinary       = typeWord[Binary]()
	typeBitBinary    = typeWord[BitBinary]()
	typeMap          = typeWord[Map]()
	typePid          = typeWord[Pid]()
	typePort         = typeWord[Port]()
	typeRef          = typeWord[Ref]()
)

// arenaBoxes reports whether box may build Terms in the arena: whether
// the eface layout assumed above holds in this runtime.
var arenaBoxes = func() bool {
	want := Tuple{int64(1000)}
	s := make([]Tuple, 0, 1)
	t := boxIn(&s, want, typeTuple)
	got, ok := t.(Tuple)
	return ok && len(got) == 1 && &got[0] == &want[0] && fmt.Sprint(t) == "[1000]"
}()

// box returns v as a Term. Converting a non-pointer value to an interface
// copies it to a fresh heap object; box instead copies it into a slab of
// the arena and builds the interface around a pointer into the slab, so
// that boxing many values costs one allocation. This is sound because an
// interface only needs its data pointer to point at a T that nobody
// writes again, which holds for a slab element handed out once; the
// garbage collector keeps the slab alive through the interior pointer.
// typ must be the type word of T.
func box[T any](r *Reader, s *[]T, v T, typ unsafe.Pointer, minSize int) Term {
	if len(*s) == cap(*s) {
		rest := len(r.data) - r.off
		if rest < minSize || !arenaBoxes {
			// No other value fits in the rest: a slab would only
			// cost more than boxing this one.
			return boxed(v, typ)
		}
		*s = make([]T, 0, r.slabCap(cap(*s), 1, minSize, rest))
	}
	return boxIn(s, v, typ)
}

// boxed returns v as the Term box would, without the arena.
func boxed[T any](v T, typ unsafe.Pointer) Term {
	switch t := any(v).(type) {
	case Tuple:
		if typ == typeList {
			return List(t)
		}
	case int64:
		if typ == typeFloat64 {
			return math.Float64frombits(uint64(t))
		}
	}
	return v
}

// boxIn appends v to *s, which must have room, and returns it boxed.
func boxIn[T any](s *[]T, v T, typ unsafe.Pointer) Term {
	*s = append(*s, v)
	p := &(*s)[len(*s)-1]
	var t Term
	*(*eface)(unsafe.Pointer(&t)) = eface{typ: typ, data: unsafe.Pointer(p)}
	return t
}

// atomTerm decodes any of the atom encodings as a boxed Term.
func (r *Reader) atomTerm() (Term, error) {
	b, e, latin1, cached, err := r.atomBytes()
	switch {
	case err != nil:
		return nil, err
	case e != nil:
		return e.term, nil
	case b == nil:
		return cached, nil
	case latin1:
		b = latin1ToUTF8(b)
	}
	return intern(b).term, nil
}

// atom decodes any of the atom encodings.
func (r *Reader) atom() (Atom, error) {
	b, e, latin1, cached, err := r.atomBytes()
	switch {
	case err != nil:
		return "", err
	case e != nil:
		return e.atom, nil
	case b == nil:
		return cached, nil
	case latin1:
		return latin1Atom(b), nil
	}
	r.last = intern(b)
	return r.last.atom, nil
}

// runeCount counts the characters of valid UTF-8 (without allocating, which
// utf8.RuneCount may do).
func runeCount(b []byte) int {
	n := 0
	for _, c := range b {
		if c&0xc0 != 0x80 {
			n++
		}
	}
	return n
}

// atomEntry is an atom and the same atom boxed as a Term.
type atomEntry struct {
	atom Atom
	term Term

	// For an atom of up to 6 bytes, enc holds its SMALL_ATOM_UTF8_EXT
	// encoding as a little-endian word and mask has a 0xff byte for each
	// byte of it; otherwise mask is 0.
	enc, mask uint64
}

// atomTable caches decoded atoms so that decoding a known atom does not
// allocate. Like Erlang's atom table it is shared by all decoders; unlike
// it, it has a fixed size and a colliding atom replaces the entry, so
// input with many distinct atoms cannot grow it.
var (
	atomSeed  = maphash.MakeSeed()
	atomTable [1 << 12]atomic.Pointer[atomEntry]
)

func atomSlot(b []byte) *atomic.Pointer[atomEntry] {
	return &atomTable[maphash.Bytes(atomSeed, b)%uint64(len(atomTable))]
}

// lookup returns the table entry for atom b, or nil.
func lookup(b []byte) *atomEntry {
	if e := atomSlot(b).Load(); e != nil && string(e.atom) == string(b) {
		return e
	}
	return nil
}

// intern returns the table entry for the valid UTF-8 atom b, adding it if
// needed.
func intern(b []byte) *atomEntry {
	slot := atomSlot(b)
	if e := slot.Load(); e != nil && string(e.atom) == string(b) {
		return e
	}
	a := Atom(b)
	e := &atomEntry{atom: a, term: a}
	if len(b) <= 6 {
		var w [8]byte
		w[0], w[1] = tagSmallAtomUTF8, byte(len(b))
		copy(w[2:], b)
		e.enc = binary.LittleEndian.Uint64(w[:])
		e.mask = 1<<(8*(2+len(b))) - 1
	}
	slot.Store(e)
	return e
}

// atomBytes consumes an atom and returns its bytes, which are Latin-1 if
// latin1 is set, or for ATOM_CACHE_REF nil bytes and the cached atom. For
// a UTF-8 atom already in the atom table it also returns the entry (and
// skips checking the bytes, which the table holds only once checked).
func (r *Reader) atomBytes() (b []byte, e *atomEntry, latin1 bool, cached Atom, err error) {
	start := r.off
	if !r.has(1) {
		return nil, nil, false, "", r.truncated(start, "atom")
	}
	tag := r.u8()
	var n int
	switch tag {
	case tagSmallAtomUTF8, tagSmallAtom:
		if !r.has(1) {
			r.off = start
			return nil, nil, false, "", r.truncated(start, tagName(tag))
		}
		n = int(r.u8())
	case tagAtomUTF8, tagAtom:
		if !r.has(2) {
			r.off = start
			return nil, nil, false, "", r.truncated(start, tagName(tag))
		}
		n = int(r.u16())
	case tagAtomCacheRef:
		if !r.has(1) {
			r.off = start
			return nil, nil, false, "", r.truncated(start, "ATOM_CACHE_REF")
		}
		i := int(r.u8())
		if i >= len(r.AtomCache) {
			r.off = start
			return nil, nil, false, "", r.errorf(start, "ATOM_CACHE_REF %d not in the atom cache (%d entries)", i, len(r.AtomCache))
		}
		return nil, nil, false, r.AtomCache[i], nil
	default:
		r.off = start
		return nil, nil, false, "", r.errorf(start, "want an atom, got %s", tagName(tag))
	}
	if !r.has(uint64(n)) {
		r.off = start
		return nil, nil, false, "", r.truncated(start, tagName(tag))
	}
	b = r.bytes(n)
	if tag == tagAtom || tag == tagSmallAtom {
		if n > math.MaxUint8 {
			r.off = start
			return nil, nil, false, "", r.errorf(start, "atom of %d characters, more than 255", n)
		}
		return b, nil, true, "", nil
	}
	if e := r.last; e != nil && string(e.atom) == string(b) {
		return b, e, false, "", nil
	}
	if e := lookup(b); e != nil {
		r.last = e
		return b, e, false, "", nil
	}
	if msg := checkAtomText(b); msg != "" {
		r.off = start
		return nil, nil, false, "", r.errorf(start, "%s", msg)
	}
	return b, nil, false, "", nil
}

// checkAtomText says why b cannot be the text of a UTF-8 atom (invalid
// UTF-8, or more than 255 characters), or returns "" if it can.
func checkAtomText(b []byte) string {
	if !utf8.Valid(b) {
		return "atom is not valid UTF-8"
	}
	if len(b) > math.MaxUint8 && runeCount(b) > math.MaxUint8 {
		return fmt.Sprintf("atom of %d characters, more than 255", runeCount(b))
	}
	return ""
}

// latin1Atom converts a Latin-1 atom to UTF-8.
func latin1Atom(b []byte) Atom { return intern(latin1ToUTF8(b)).atom }

func latin1ToUTF8(b []byte) []byte {
	for i, c := range b {
		if c >= utf8.RuneSelf {
			u := make([]byte, i, 2*len(b))
			copy(u, b)
			for _, c := range b[i:] {
				u = utf8.AppendRune(u, rune(c))
			}
			return u
		}
	}
	return b
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
	start := r.off
	if !r.has(1) {
		return Pid{}, r.truncated(start, "pid")
	}
	tag := r.u8()
	if tag != tagNewPid && tag != tagPid {
		r.off = start
		return Pid{}, r.errorf(start, "want a pid, got %s", tagName(tag))
	}
	node, err := r.atom()
	if err != nil {
		r.off = start
		return Pid{}, err
	}
	p := Pid{Node: node}
	switch {
	case tag == tagNewPid && r.has(12):
		p.ID, p.Serial, p.Creation = r.u32(), r.u32(), r.u32()
	case tag == tagPid && r.has(9):
		p.ID, p.Serial, p.Creation = r.u32(), r.u32(), uint32(r.u8())
	default:
		r.off = start
		return Pid{}, r.truncated(start, tagName(tag))
	}
	return p, nil
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
	start := r.off
	if !r.has(1) {
		return Ref{}, r.truncated(start, "reference")
	}
	tag := r.u8()
	n := 1
	switch tag {
	case tagNewerReference, tagNewReference:
		if !r.has(2) {
			r.off = start
			return Ref{}, r.truncated(start, tagName(tag))
		}
		n = int(r.u16())
		if n == 0 || n > maxRefWords {
			r.off = start
			return Ref{}, r.errorf(start, "%s with %d ID words, want 1..%d", tagName(tag), n, maxRefWords)
		}
	case tagReference:
	default:
		r.off = start
		return Ref{}, r.errorf(start, "want a reference, got %s", tagName(tag))
	}
	node, err := r.atom()
	if err != nil {
		r.off = start
		return Ref{}, err
	}
	ref := Ref{Node: node}
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
		return Ref{}, r.truncated(start, tagName(tag))
	}
	return ref, nil
}

// readWords reads n words into the arena, or skips them unless keep is
// set.
func (r *Reader) readWords(n int, keep bool) []uint32 {
	if !keep {
		r.off += 4 * n
		return nil
	}
	ids := carve(r, &r.a.words, n, 4)
	for i := range ids {
		ids[i] = r.u32()
	}
	return ids
}

// fun decodes the rest of a NEW_FUN_EXT that started at start. Unless
// keep is set it only checks and consumes the bytes.
func (r *Reader) fun(start, depth int, keep bool) (Term, error) {
	if !r.has(4 + 1 + 16 + 4 + 4) {
		return nil, r.truncated(start, "NEW_FUN_EXT")
	}
	if depth >= MaxDepth {
		return nil, r.errorf(start, "term nested deeper than MaxDepth (%d)", MaxDepth)
	}
	sizeStart := r.off
	size := r.u32()
	f := Fun{Arity: r.u8()}
	copy(f.Uniq[:], r.bytes(16))
	f.Index = r.u32()
	numFree := uint64(r.u32())
	var err error
	if f.Module, err = r.atom(); err != nil {
		return nil, err
	}
	if f.OldIndex, err = r.uint32Term(); err != nil {
		return nil, err
	}
	if f.OldUniq, err = r.uint32Term(); err != nil {
		return nil, err
	}
	if f.Pid, err = r.pid(); err != nil {
		return nil, err
	}
	if !r.has(numFree) {
		return nil, r.truncated(start, "NEW_FUN_EXT")
	}
	if keep {
		f.FreeVars = r.terms(int(numFree))
		for i := range f.FreeVars {
			if f.FreeVars[i], err = r.term(depth + 1); err != nil {
				return nil, err
			}
		}
	} else {
		for range numFree {
			if err = r.skip(depth + 1); err != nil {
				return nil, err
			}
		}
	}
	if got := r.off - sizeStart; uint64(got) != uint64(size) {
		return nil, r.errorf(start, "NEW_FUN_EXT declares %d bytes, has %d", size, got)
	}
	if !keep {
		return nil, nil
	}
	return f, nil
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
	t, err := r.term(0)
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
