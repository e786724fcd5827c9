package ei

import (
	"reflect"
	"unsafe"
)

// arena holds the memory that Reader.term builds decoded values in, so
// that a tree of many small values costs a few allocations rather than
// one or two per value.
//
// Before a term is decoded, measure counts what it will take of each
// slab, and reserve makes the slabs it lacks: one allocation per memory
// layout (terms, words, cells, cells4), cut into one slab per Go type;
// a slab of a few words is instead the words without pointers of one
// more cell, which saves an allocation for a small term. A slab is
// carved front to back, and a piece is not written again once handed
// out, except by the caller that owns it (a Binary's bytes), or by the
// next term of an arena that reuses (below).
// Pieces are sliced with full slice expressions, so appending to one
// never touches a neighbour. What measure did not count (a term too small
// or too flat to be worth it, one it could not walk, or more than a block
// holds) comes from slabs that grow as they are used.
//
// An arena that reuses (Decoder.Reuse) carves its slabs again from the
// start for each term. Since a slab only ever holds values of one Go
// type, a term wrongly used after the next decode shows wrong values,
// never memory of another type.
type arena struct {
	terms []Term   // elements of tuples, lists, maps (a Pair is two Terms) and funs' free variables
	words []uint64 // bytes of binaries, bitstrings and strings; integers and floats; reference IDs

	// Boxes: the values that Terms point to, each in a cell with the
	// layout of its type, so that a cell block has the pointer map of
	// the values in it.
	seqs     []cell3 // Tuple and List
	maps     []cell3 // Map
	binaries []cell3 // Binary
	strings  []cell3 // String
	refs     []cell6 // Ref
	pids     []cell4 // Pid
	ports    []cell4 // Port
	bitBins  []cell4 // BitBinary

	reuse     bool // carve the slabs again for each term
	overflows int  // pieces that did not fit the slabs reserved for them
}

// The cell types have the layouts of the values boxed in them: a pointer
// word, then words without pointers (and for cell6 the same twice). Each
// type put in a cell fits it, with pointers exactly where the cell has
// them (TestArenaCellLayout checks this).
type (
	cell3 struct { // Tuple, List, Map, Binary: a slice; String: a string
		p    unsafe.Pointer
		a, b uintptr
	}
	cell4 struct { // Pid, Port: an Atom and numbers; BitBinary: a slice and a byte
		p       unsafe.Pointer
		a, b, c uintptr
	}
	cell6 struct { // Ref: an Atom and a number, then a slice
		p    unsafe.Pointer
		a, b uintptr
		q    unsafe.Pointer
		c, d uintptr
	}
)

// cellWords is how many words without pointers a cell3 has after its
// pointer: reserve carves a slab of words that few from one.
const cellWords = 2

// maxSlab is the most elements (or bytes) of one piece carved from a
// shared slab, and the most spare elements a slab made while decoding
// holds; a bigger piece gets its own allocation.
const maxSlab = 256

// maxBlock is the most elements reserve gives a slab for a term, so that
// a small piece of a big term, kept alive, keeps at most some kilobytes
// of its siblings alive. maxReuseBytes bounds each block of an arena that
// reuses, which holds it for the next term.
const (
	maxBlock      = 2 * maxSlab
	maxReuseBytes = 1 << 20
)

// minMeasured is the size of the smallest term measured before it is
// decoded; a smaller one holds too few values to save allocations by it.
const minMeasured = 32

// need counts what decoding a term takes from each slab of the arena.
type need struct {
	terms, words                  int
	seqs, maps, binaries, strings int
	refs, pids, ports, bitBins    int
}

// whole decodes the term at r.off with the arena ready for it. An arena
// that does not reuse first measures the term and reserves what its slabs
// lack, if it is a container of at least minMeasured bytes: a single value,
// or the few in a smaller term, get slabs of just the right size as they
// are decoded. One that reuses carves its slabs again from the start, and
// if they lacked room (the first time, or for a bigger term than before),
// measures the term afterwards to reserve room for the next one.
func (r *Reader) whole() (Term, error) {
	a := &r.a
	if !a.reuse {
		if len(r.data)-r.off >= minMeasured && r.container() {
			if n, ok := r.measure(r.off); ok {
				a.reserve(&n)
			}
		}
		return r.term(0)
	}
	a.reset()
	start, overflows := r.off, a.overflows
	t, err := r.term(0)
	if err == nil && a.overflows != overflows {
		if n, ok := r.measure(start); ok {
			a.reset()
			a.reserve(&n)
		}
	}
	return t, err
}

// container reports whether the term at r.off holds other terms.
func (r *Reader) container() bool {
	if r.off >= len(r.data) {
		return false
	}
	switch r.data[r.off] {
	case tagSmallTuple, tagLargeTuple, tagList, tagMap, tagNewFun:
		return true
	}
	return false
}

// reset makes an arena that reuses carve its slabs from the start.
func (a *arena) reset() {
	a.terms, a.words = a.terms[:0], a.words[:0]
	a.seqs, a.maps, a.binaries, a.strings = a.seqs[:0], a.maps[:0], a.binaries[:0], a.strings[:0]
	a.refs, a.pids, a.ports, a.bitBins = a.refs[:0], a.pids[:0], a.ports[:0], a.bitBins[:0]
}

// reserve gives each slab that has room for fewer elements than n counts
// a new block with room for them (up to maxBlock, or maxReuseBytes), in
// one allocation per layout, or none for cellWords words or fewer when
// there are cells to allocate.
func (a *arena) reserve(n *need) {
	reuse := a.reuse
	terms := room(cap(a.terms)-len(a.terms), n.terms, 16, reuse)
	words := room(cap(a.words)-len(a.words), n.words, 8, reuse)
	seqs := room(cap(a.seqs)-len(a.seqs), n.seqs, 24, reuse)
	maps := room(cap(a.maps)-len(a.maps), n.maps, 24, reuse)
	bins := room(cap(a.binaries)-len(a.binaries), n.binaries, 24, reuse)
	strs := room(cap(a.strings)-len(a.strings), n.strings, 24, reuse)
	refs := room(cap(a.refs)-len(a.refs), n.refs, 48, reuse)
	pids := room(cap(a.pids)-len(a.pids), n.pids, 32, reuse)
	ports := room(cap(a.ports)-len(a.ports), n.ports, 32, reuse)
	bits := room(cap(a.bitBins)-len(a.bitBins), n.bitBins, 32, reuse)
	if terms > 0 {
		a.terms = make([]Term, 0, terms)
	}
	k := seqs + maps + bins + strs + 2*refs
	// A few words (a reference's ID, a short binary, a float) ride in
	// the two words without pointers of one more cell3, rather than in
	// a block of their own.
	inCell := words > 0 && words <= cellWords && k > 0 && !reuse
	if inCell {
		k++
	} else if words > 0 {
		a.words = make([]uint64, 0, words)
	}
	if k > 0 {
		b := make([]cell3, k)
		if inCell {
			c := &b[k-1]
			a.words = unsafe.Slice((*uint64)(unsafe.Pointer(&c.a)), cellWords)[:0]
			b = b[:k-1]
		}
		b = take(&a.seqs, b, seqs)
		b = take(&a.maps, b, maps)
		b = take(&a.binaries, b, bins)
		b = take(&a.strings, b, strs)
		if refs > 0 {
			// Two cell3s have the layout of a cell6.
			a.refs = unsafe.Slice((*cell6)(unsafe.Pointer(unsafe.SliceData(b))), refs)[:0]
		}
	}
	if k := pids + ports + bits; k > 0 {
		b := make([]cell4, k)
		b = take(&a.pids, b, pids)
		b = take(&a.ports, b, ports)
		take(&a.bitBins, b, bits)
	}
}

// take makes the first n elements of block b, if n > 0, the empty slab
// *s, and returns the rest of b.
func take[T any](s *[]T, b []T, n int) []T {
	if n > 0 {
		*s = b[:0:n]
	}
	return b[n:]
}

// lacks reports whether slab s has room for fewer than n more elements.
func lacks[T any](s []T, n int) bool { return cap(s)-len(s) < n }

// room returns how many elements of size bytes a new block should hold
// for a slab with room for free more to take n: none if they fit. A block
// holds at most maxBlock elements, or if the arena reuses maxReuseBytes.
func room(free, n, size int, reuse bool) int {
	if reuse {
		n = min(n, maxReuseBytes/size)
	} else {
		n = min(n, maxBlock)
	}
	if n <= free {
		return 0
	}
	return n
}

// slabCap returns the capacity of a new slab, made while decoding,
// replacing one of capacity old to hold n elements now. The spare room
// grows with each slab, but holds no more elements than the rest of the
// input can fill when each needs at least minSize bytes; n elements still
// to be read take n bytes of it.
func (r *Reader) slabCap(old, n, minSize, rest int) int {
	return n + max(0, min(max(old, 4), maxSlab, rest/minSize))
}

// carve returns n elements from the slab *s, first replacing the slab if
// it has too little room. A piece of more than maxSlab elements gets its
// own allocation unless the arena reuses and the slab has room for it.
// The elements are zero unless the arena reuses; either way the caller
// sets them all. The elements (when they are terms) are still to be read,
// and each other element needs at least minSize bytes of input.
func carve[T any](r *Reader, s *[]T, n, minSize int) []T {
	if i := len(*s); n > 0 && n <= cap(*s)-i && n <= maxSlab {
		*s = (*s)[:i+n]
		return (*s)[i : i+n : i+n]
	}
	return carveSlow(r, s, n, minSize)
}

// carveSlow is carve for a piece that does not fit or is empty or big.
func carveSlow[T any](r *Reader, s *[]T, n, minSize int) []T {
	if n == 0 {
		return []T{} // not nil, and allocates nothing
	}
	if lacks(*s, n) || n > maxSlab && !r.a.reuse {
		if n > maxSlab {
			if r.a.reuse {
				r.a.overflows++
			}
			return make([]T, n)
		}
		r.a.overflows++
		*s = make([]T, 0, r.slabCap(cap(*s), n, minSize, len(r.data)-r.off-n))
	}
	i := len(*s)
	*s = (*s)[:i+n]
	return (*s)[i : i+n : i+n]
}

// wordsFor returns how many words hold n bytes.
func wordsFor(n int) int { return (n + 7) / 8 }

// carveBytes returns n > 0 bytes of the words slab, or nil when they are
// more than maxSlab (and, if the arena reuses, do not fit) or would need
// a slab for themselves alone, for the caller to allocate them on their
// own. The bytes are zero unless the arena reuses.
func (r *Reader) carveBytes(n int) []byte {
	w := wordsFor(n)
	if n > maxSlab && (!r.a.reuse || lacks(r.a.words, w)) {
		if r.a.reuse {
			r.a.overflows++
		}
		return nil
	}
	if lacks(r.a.words, w) && r.alone(5) {
		return nil
	}
	ws := carve(r, &r.a.words, w, 5)
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(ws))), n)
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
	typeInt64     = typeWord[int64]()
	typeFloat64   = typeWord[float64]()
	typeTuple     = typeWord[Tuple]()
	typeList      = typeWord[List]()
	typeString    = typeWord[String]()
	typeBinary    = typeWord[Binary]()
	typeBitBinary = typeWord[BitBinary]()
	typeMap       = typeWord[Map]()
	typePid       = typeWord[Pid]()
	typePort      = typeWord[Port]()
	typeRef       = typeWord[Ref]()
)

// arenaBoxes reports whether box may build Terms in the arena: whether
// the eface layout assumed above holds in this runtime.
var arenaBoxes = func() bool {
	want := Tuple{int64(1000)}
	var c cell3
	t := boxAt(unsafe.Pointer(&c), want, typeTuple)
	got, ok := t.(Tuple)
	return ok && len(got) == 1 && &got[0] == &want[0] && got[0] == int64(1000) &&
		reflect.TypeOf(t) == reflect.TypeFor[Tuple]() && reflect.ValueOf(t).Index(0).Interface() == int64(1000)
}()

// box returns v as a Term. Converting a non-pointer value to an interface
// copies it to a fresh heap object; box instead copies it into a cell of
// slab *s and builds the interface around a pointer to the cell, so that
// boxing many values costs one allocation. This is sound because an
// interface only needs its data pointer to point at a T that nobody
// writes again, which holds for a cell handed out once, and because the
// cell has the layout of T, so the garbage collector finds T's pointers
// in it and keeps the slab alive through the interior pointer. typ must
// be the type word of T. A value that would be alone in a new slab is
// boxed by the runtime.
func box[T, C any](r *Reader, s *[]C, v T, typ unsafe.Pointer, minSize int) Term {
	if i := len(*s); i < cap(*s) && arenaBoxes {
		*s = (*s)[:i+1]
		return boxAt(unsafe.Pointer(&(*s)[i]), v, typ)
	}
	if !arenaBoxes || r.alone(minSize) {
		return v
	}
	c := carveSlow(r, s, 1, minSize)
	return boxAt(unsafe.Pointer(&c[0]), v, typ)
}

// spare returns the next cell of slab s, for the caller to decode a value
// into in place before it commits the cell, or nil if s has no room.
func spare[C any](s []C) unsafe.Pointer {
	if i := len(s); i < cap(s) && arenaBoxes {
		return unsafe.Pointer(&s[:i+1][i])
	}
	return nil
}

// commit hands out the cell that spare returned, with the value decoded
// into it, as a Term of the type whose type word is typ.
func commit[C any](s *[]C, typ unsafe.Pointer) Term {
	i := len(*s)
	*s = (*s)[:i+1]
	var t Term
	*(*eface)(unsafe.Pointer(&t)) = eface{typ: typ, data: unsafe.Pointer(&(*s)[i])}
	return t
}

// boxWord returns v, an int64 or a float64, as a Term boxed in the words
// slab.
func boxWord[T int64 | float64](r *Reader, v T, typ unsafe.Pointer) Term {
	if !arenaBoxes || lacks(r.a.words, 1) && r.alone(5) {
		return v
	}
	w := carve(r, &r.a.words, 1, 5)
	return boxAt(unsafe.Pointer(&w[0]), v, typ)
}

// alone reports whether a value needing a new slab would be alone in
// it: fewer than minSize bytes, what the next such value takes at least,
// are left, and the arena does not reuse its slabs. Such a value costs
// less boxed by the runtime (or allocated on its own) than in a slab.
func (r *Reader) alone(minSize int) bool {
	return !r.a.reuse && len(r.data)-r.off < minSize
}

// boxAt stores v at p, which must have room for a T with T's pointers
// where the memory there has pointers, and returns it boxed.
func boxAt[T any](p unsafe.Pointer, v T, typ unsafe.Pointer) Term {
	*(*T)(p) = v
	var t Term
	*(*eface)(unsafe.Pointer(&t)) = eface{typ: typ, data: p}
	return t
}
