package ei

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"math"
	"math/bits"
	"math/rand/v2"
	"sync/atomic"
	"unicode/utf8"
)

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
	if r.off < len(r.data) && r.data[r.off] == tagSmallAtomUTF8 {
		if e, end := r.recent.at(r.data, r.off); e != nil {
			r.off = end
			return e.atom, nil
		}
	}
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
	e = intern(b)
	r.recent.add(e)
	return e.atom, nil
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

	// enc holds the first 8 bytes of the atom's SMALL_ATOM_UTF8_EXT
	// encoding (tag, length, up to 6 bytes of the atom) as a
	// little-endian word, and mask has a 0xff byte for each byte of it.
	enc, mask uint64

	// enc2 holds the bytes of an atom of 7 to 14 bytes after its
	// first 6, as a little-endian word.
	enc2 uint64
}

// recentAtoms holds the atoms a Reader decoded lately, each in the slot
// of its length and first byte, so that decoding one again (as in a list
// of records, or a node name in each pid) takes a compare or two rather
// than a hash and a lookup in the shared table.
type recentAtoms [16]*atomEntry

// recentSlot returns the slot of the atom whose encoding starts with the
// little-endian word w, from its length and first byte.
func recentSlot(w uint64) int { return int((w >> 8 & 0xffff) * 0x9e3779b97f4a7c15 >> 60) }

func (ra *recentAtoms) add(e *atomEntry) { ra[recentSlot(e.enc)] = e }

// find returns the entry for atom b if it is a recent atom.
func (ra *recentAtoms) find(b []byte) *atomEntry {
	var c0 uint64
	if len(b) > 0 {
		c0 = uint64(b[0])
	}
	e := ra[recentSlot(uint64(len(b))<<8|c0<<16)]
	if e != nil && string(e.atom) == string(b) {
		return e
	}
	return nil
}

// at returns the entry for the SMALL_ATOM_UTF8_EXT at data[off:] if it is
// a recent atom, and the offset after it.
func (ra *recentAtoms) at(data []byte, off int) (*atomEntry, int) {
	var w uint64
	switch n := len(data) - off; {
	case n >= 8:
		w = binary.LittleEndian.Uint64(data[off:])
	case n >= 2 && off >= 0 && len(data) >= 8:
		// The atom is in the last 8 bytes: load them, and shift out
		// those before it.
		w = binary.LittleEndian.Uint64(data[len(data)-8:]) >> (64 - 8*n)
	default:
		return ra.atEnd(data, off)
	}
	e := ra[recentSlot(w)]
	if e == nil || w&e.mask != e.enc {
		return nil, 0
	}
	end := off + 2 + len(e.atom)
	if end > len(data) {
		return nil, 0
	}
	if n := len(e.atom); n > 6 {
		if n <= 14 && off+16 <= len(data) {
			// The rest in one word, and bytes after it masked off.
			if binary.LittleEndian.Uint64(data[off+8:])&(math.MaxUint64>>(8*(14-n))) != e.enc2 {
				return nil, 0
			}
		} else if string(e.atom[6:]) != string(data[off+8:end]) {
			return nil, 0
		}
	}
	return e, end
}

// atEnd is at for data of fewer than 8 bytes.
func (ra *recentAtoms) atEnd(data []byte, off int) (*atomEntry, int) {
	if off < 0 || len(data)-off < 2 {
		return nil, 0
	}
	var b [8]byte
	copy(b[:], data[off:])
	w := binary.LittleEndian.Uint64(b[:])
	e := ra[recentSlot(w)]
	if e == nil || w&e.mask != e.enc || off+2+len(e.atom) > len(data) {
		return nil, 0
	}
	return e, off + 2 + len(e.atom)
}

// atomTable caches decoded atoms so that decoding a known atom does not
// allocate. Like Erlang's atom table it is shared by all decoders; unlike
// it, it has a fixed size and a colliding atom replaces the entry, so
// input with many distinct atoms cannot grow it.
var (
	atomSeed    = [2]uint64{rand.Uint64(), rand.Uint64()}
	atomMapSeed = maphash.MakeSeed()
	atomTable   [1 << 12]atomic.Pointer[atomEntry]
)

func atomSlot(b []byte) *atomic.Pointer[atomEntry] {
	return &atomTable[atomHash(b)%uint64(len(atomTable))]
}

// atomHash hashes atom b. An atom of up to 16 bytes, as most are, is
// hashed from its length and its first and last eight bytes (or fewer),
// mixed with a random seed as wyhash does: a few instructions, yet input
// cannot choose which atoms collide.
func atomHash(b []byte) uint64 {
	n := len(b)
	var lo, hi uint64
	switch {
	case n > 16:
		return maphash.Bytes(atomMapSeed, b)
	case n >= 8:
		lo = binary.LittleEndian.Uint64(b)
		hi = binary.LittleEndian.Uint64(b[n-8:])
	case n >= 4:
		lo = uint64(binary.LittleEndian.Uint32(b))
		hi = uint64(binary.LittleEndian.Uint32(b[n-4:]))
	case n > 0:
		lo = uint64(b[0])<<16 | uint64(b[n>>1])<<8 | uint64(b[n-1])
	}
	h, l := bits.Mul64(lo^atomSeed[0], hi^atomSeed[1]^uint64(n))
	return h ^ l
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
	var w [8]byte
	w[0], w[1] = tagSmallAtomUTF8, byte(len(b))
	copy(w[2:], b)
	e.enc, e.mask = binary.LittleEndian.Uint64(w[:]), math.MaxUint64
	if len(b) < 6 {
		e.mask = 1<<(8*(2+len(b))) - 1
	}
	if len(b) > 6 && len(b) <= 14 {
		copy(w[:], b[6:])
		clear(w[len(b)-6:])
		e.enc2 = binary.LittleEndian.Uint64(w[:])
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
	if e := r.recent.find(b); e != nil {
		return b, e, false, "", nil
	}
	if e := lookup(b); e != nil {
		r.recent.add(e)
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
