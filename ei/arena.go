package ei

import (
	"fmt"
	"math"
	"unsafe"
)

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
