package ei

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"io"
	"math"
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
	t, err := r.whole()
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
// distribution messages. The zero Decoder is ready to use. Unless Reuse
// is set, Decode may be called concurrently as long as AtomCache does not
// change.
type Decoder struct {
	// AtomCache resolves ATOM_CACHE_REF: index i refers to AtomCache[i].
	// An index beyond its length is a *ProtocolError.
	AtomCache []Atom

	// Reuse makes Decode build each term in the memory of the terms it
	// returned before (up to about a megabyte of each kind of value), so
	// that once it has seen terms of a kind, decoding more allocates
	// nothing, as when erl_interface decodes into the caller's buffers.
	// A term that Decode returns is then valid only until the next call:
	// its slices, strings and binaries will hold parts of the next term,
	// so the caller must be done with them, or have copied what it keeps,
	// before calling Decode again. Decode still copies from data. A
	// Decoder with Reuse set must not be used concurrently, nor copied
	// after its first Decode.
	Reuse bool

	mem *Reader // the memory that Reuse reuses
}

// Decode decodes one term at the start of data and returns it with the
// number of bytes it used. Errors about bad bytes are *ProtocolError; on
// error n is 0. Decode copies what it keeps; the result does not alias
// data (but see Reuse).
func (d *Decoder) Decode(data []byte) (t Term, n int, err error) {
	if d != nil && d.Reuse {
		return d.reuse(data)
	}
	r := Reader{data: data}
	if d != nil {
		r.AtomCache = d.AtomCache
	}
	t, err = r.whole()
	if err != nil {
		return nil, 0, err
	}
	return t, r.off, nil
}

// reuse is Decode with Reuse set.
func (d *Decoder) reuse(data []byte) (t Term, n int, err error) {
	if d.mem == nil {
		d.mem = &Reader{a: arena{reuse: true}}
	}
	r := d.mem
	r.data, r.off, r.AtomCache = data, 0, d.AtomCache
	t, err = r.whole()
	r.data, r.AtomCache = nil, nil // keep no input alive
	if err != nil {
		return nil, 0, err
	}
	return t, r.off, nil
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
		if e, end := r.recent.at(r.data, r.off); e != nil {
			r.off = end
			return e.term, nil
		}
		if r.off+1 < len(r.data) {
			n := int(r.data[r.off+1])
			if end := r.off + 2 + n; end <= len(r.data) {
				b := r.data[r.off+2 : end]
				e := lookup(b)
				if e == nil && utf8.Valid(b) {
					e = intern(b)
				}
				if e != nil {
					r.off = end
					r.recent.add(e)
					return e.term, nil
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
			return boxWord(r, f, typeFloat64), nil
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
		return box(r, &r.a.binaries, Binary(r.binaryBytes(int(n))), typeBinary, 5), nil

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
		return box(r, &r.a.bitBins, BitBinary{Data: data, Bits: bits}, typeBitBinary, 6), nil

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
		t := r.terms(int(2 * n))
		if err := r.elems(t, depth+1); err != nil {
			return nil, err
		}
		return box(r, &r.a.maps, pairs(t), typeMap, 5), nil

	case tagNewPid, tagPid:
		r.off = start
		if c := spare(r.a.pids); c != nil {
			if err := r.pidInto((*Pid)(c)); err != nil {
				return nil, err
			}
			return commit(&r.a.pids, typePid), nil
		}
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
		if c := spare(r.a.refs); c != nil {
			if err := r.refInto((*Ref)(c), true); err != nil {
				return nil, err
			}
			return commit(&r.a.refs, typeRef), nil
		}
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
			return box(r, &r.a.seqs, List(elems), typeList, 2), nil
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
			return box(r, &r.a.seqs, List(elems), typeList, 2), nil
		}
		r.off = tailStart
		tail, err := r.term(depth + 1)
		if err != nil {
			return nil, err
		}
		if len(elems) == 0 {
			return tail, nil
		}
		return ImproperList{Elems: elems, Tail: tail}, nil // rare: boxed by the runtime
	}
}

// elems decodes the elements of a tuple or list into t. It decodes
// integers, and atoms decoded lately (as in a list of records), in line.
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
			case tagInteger:
				if off+5 <= len(data) {
					r.off = off + 5
					t[i] = r.int(int64(int32(binary.BigEndian.Uint32(data[off+1:]))))
					continue
				}
			case tagSmallAtomUTF8:
				// recent.at in line for atoms of up to 6 bytes, then
				// recent.at itself for longer ones.
				if off+8 <= len(data) {
					w := binary.LittleEndian.Uint64(data[off:])
					if e := r.recent[recentSlot(w)]; e != nil && w&e.mask == e.enc && len(e.atom) <= 6 {
						t[i] = e.term
						r.off = off + 2 + len(e.atom)
						continue
					}
				}
				if e, end := r.recent.at(data, off); e != nil {
					t[i] = e.term
					r.off = end
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
	if w := r.a.words; len(w) < cap(w) && arenaBoxes {
		r.a.words = w[:len(w)+1]
		return boxAt(unsafe.Pointer(&w[:len(w)+1][len(w)]), v, typeInt64)
	}
	return boxWord(r, v, typeInt64)
}

// string copies n > 0 bytes into the arena (or, if many, into memory of
// their own) as a String. The bytes are not written again while the term
// is valid: never, unless the arena reuses its slabs (Decoder.Reuse),
// which carve them again for the next term.
func (r *Reader) string(n int) String {
	src := r.bytes(n)
	b := r.carveBytes(n)
	if b == nil {
		return String(src)
	}
	copy(b, src)
	return String(unsafe.String(unsafe.SliceData(b), n))
}

// copyBytes copies n bytes into the arena, or if many into memory of their
// own. The copy is not nil, even when n is 0.
func (r *Reader) copyBytes(n int) []byte {
	src := r.bytes(n)
	if n == 0 {
		return []byte{}
	}
	b := r.carveBytes(n)
	if b == nil {
		// make and copy together allocate without zeroing first.
		b = make([]byte, len(src))
		copy(b, src)
		return b
	}
	copy(b, src)
	return b
}

// terms returns a slice of n Terms from the arena, for the caller to set.
// n must not exceed the bytes left.
func (r *Reader) terms(n int) []Term { return carve(r, &r.a.terms, n, 2) }

// pairs returns the keys and values in t, alternating, as a Map.
func pairs(t []Term) Map {
	if len(t) == 0 {
		return Map{}
	}
	// A Pair is two Terms.
	return unsafe.Slice((*Pair)(unsafe.Pointer(unsafe.SliceData(t))), len(t)/2)
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
