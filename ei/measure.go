package ei

import (
	"encoding/binary"
	"math"
)

// measurer walks a term, before Reader.term decodes it, to count what
// decoding it takes from each slab of the arena, so that the arena can
// make its slabs at once, each of the right size. It mirrors Reader.term
// but checks only the lengths it needs to walk: on bytes it cannot walk,
// it gives up and leaves the error to the decoder.
//
// Measuring pays when the values need boxes; most values of a long list
// of small integers or atoms need none, so for an arena that does not
// reuse, the measurer gives up on a term whose first flatRun elements
// hold fewer than flatRun/16 boxes.
type measurer struct {
	data   []byte
	lim    int  // the largest piece counted; bigger ones are allocated on their own
	n      need // what the term takes
	walked int  // elements of tuples, lists and maps walked
	flat   int  // walked elements after which to check for boxes
}

const flatRun = 64

// measure counts what decoding the term at off takes. ok is false if the
// term could not be walked, or is not worth measuring.
func (r *Reader) measure(off int) (n need, ok bool) {
	m := measurer{data: r.data, lim: maxSlab, flat: flatRun}
	if r.a.reuse {
		m.lim, m.flat = math.MaxInt, math.MaxInt
	}
	ok = m.term(off, 0) >= 0
	return m.n, ok
}

// boxes returns how many boxes the term takes so far.
func (n *need) boxes() int {
	return n.words + n.seqs + n.maps + n.binaries + n.strings + n.refs + n.pids + n.ports + n.bitBins
}

// fits reports whether k bytes follow off.
func (m *measurer) fits(off int, k uint64) bool {
	return 0 <= off && off <= len(m.data) && k <= uint64(len(m.data)-off)
}

// piece counts k elements (or bytes) of a piece carved from a slab.
func (m *measurer) piece(k uint64) int {
	if k > uint64(m.lim) {
		return 0
	}
	return int(k)
}

// term walks the term at off and returns the offset after it, or -1.
func (m *measurer) term(off, depth int) int {
	data := m.data
	if !m.fits(off, 2) {
		if m.fits(off, 1) && data[off] == tagNil {
			return off + 1
		}
		return -1
	}
	switch data[off] {
	case tagSmallAtomUTF8, tagSmallAtom, tagAtomUTF8, tagAtom, tagAtomCacheRef:
		return m.atom(off)
	case tagSmallInteger:
		return off + 2
	case tagInteger:
		if !m.fits(off, 5) {
			return -1
		}
		if binary.BigEndian.Uint32(data[off+1:]) > math.MaxUint8 {
			m.n.words++
		}
		return off + 5
	case tagSmallBig, tagLargeBig:
		k, p := uint64(data[off+1]), off+2
		if data[off] == tagLargeBig {
			if !m.fits(off, 5) {
				return -1
			}
			k, p = uint64(binary.BigEndian.Uint32(data[off+1:])), off+5
		}
		if !m.fits(p, k+1) {
			return -1
		}
		m.n.words++ // at most: a big value is a *big.Int, a small one needs no box
		return p + 1 + int(k)
	case tagNewFloat:
		if !m.fits(off, 9) {
			return -1
		}
		if binary.BigEndian.Uint64(data[off+1:]) > math.MaxUint8 {
			m.n.words++
		}
		return off + 9
	case tagFloat:
		if !m.fits(off, 32) {
			return -1
		}
		m.n.words++
		return off + 32
	case tagSmallTuple:
		m.n.seqs++
		return m.elems(off+2, uint64(data[off+1]), depth)
	case tagLargeTuple:
		if !m.fits(off, 5) {
			return -1
		}
		m.n.seqs++
		return m.elems(off+5, uint64(binary.BigEndian.Uint32(data[off+1:])), depth)
	case tagNil:
		return off + 1
	case tagString:
		if !m.fits(off, 3) {
			return -1
		}
		k := uint64(binary.BigEndian.Uint16(data[off+1:]))
		if k > 0 {
			m.n.strings++
			m.n.words += wordsFor(m.piece(k))
		}
		return m.bytes(off+3, k)
	case tagBinary, tagBitBinary:
		head := 5 // tag, Len
		if data[off] == tagBitBinary {
			head = 6 // and Bits
		}
		if !m.fits(off, uint64(head)) {
			return -1
		}
		k := uint64(binary.BigEndian.Uint32(data[off+1:]))
		if data[off] == tagBinary {
			m.n.binaries++
		} else {
			m.n.bitBins++
		}
		m.n.words += wordsFor(m.piece(k))
		return m.bytes(off+head, k)
	case tagList:
		return m.list(off, depth)
	case tagMap:
		if !m.fits(off, 5) {
			return -1
		}
		m.n.maps++
		return m.elems(off+5, 2*uint64(binary.BigEndian.Uint32(data[off+1:])), depth)
	case tagNewPid, tagPid:
		m.n.pids++
		return m.pid(off)
	case tagNewPort, tagPort, tagV4Port:
		m.n.ports++
		size := uint64(8) // ID, Creation
		switch data[off] {
		case tagPort:
			size = 5
		case tagV4Port:
			size = 12
		}
		return m.bytes(m.atomEnd(off+1), size)
	case tagNewerReference, tagNewReference:
		if !m.fits(off, 3) {
			return -1
		}
		k := uint64(binary.BigEndian.Uint16(data[off+1:]))
		m.n.refs++
		m.n.words += wordsFor(4 * int(k))
		creation := uint64(4)
		if data[off] == tagNewReference {
			creation = 1
		}
		return m.bytes(m.atomEnd(off+3), creation+4*k)
	case tagReference:
		m.n.refs++
		m.n.words++
		return m.bytes(m.atomEnd(off+1), 5)
	case tagNewFun:
		return m.fun(off, depth)
	case tagExport:
		p := m.atom(off + 1)
		if p >= 0 {
			p = m.atom(p)
		}
		if p >= 0 {
			p = m.term(p, depth)
		}
		return p
	}
	return -1
}

// bytes returns the offset after k bytes at off, or -1.
func (m *measurer) bytes(off int, k uint64) int {
	if off < 0 || !m.fits(off, k) {
		return -1
	}
	return off + int(k)
}

// atomEnd walks the atom at off, a SMALL_ATOM_UTF8_EXT in line: it returns
// the offset after it, which may be past the data, or -1.
func (m *measurer) atomEnd(off int) int {
	if d := m.data; off >= 0 && off+1 < len(d) && d[off] == tagSmallAtomUTF8 {
		return off + 2 + int(d[off+1])
	}
	return m.atom(off)
}

// atom walks the atom at off.
func (m *measurer) atom(off int) int {
	data := m.data
	if off < 0 || !m.fits(off, 2) {
		return -1
	}
	switch data[off] {
	case tagSmallAtomUTF8, tagSmallAtom:
		return m.bytes(off+2, uint64(data[off+1]))
	case tagAtomUTF8, tagAtom:
		if !m.fits(off, 3) {
			return -1
		}
		return m.bytes(off+3, uint64(binary.BigEndian.Uint16(data[off+1:])))
	case tagAtomCacheRef:
		return off + 2
	}
	return -1
}

// pid walks the pid at off, counting nothing.
func (m *measurer) pid(off int) int {
	if !m.fits(off, 1) {
		return -1
	}
	size := uint64(12)
	if m.data[off] == tagPid {
		size = 9
	}
	return m.bytes(m.atomEnd(off+1), size)
}

// elems walks the k elements of a tuple or map at off, which is a
// container at depth.
func (m *measurer) elems(off int, k uint64, depth int) int {
	if depth >= MaxDepth || !m.fits(off, k) {
		return -1
	}
	m.n.terms += m.piece(k)
	return m.seq(off, k, depth+1)
}

// seq walks k terms at off, at depth. It walks the commonest ones in line.
func (m *measurer) seq(off int, k uint64, depth int) int {
	data := m.data
	for ; k > 0; k-- {
		if m.walked++; m.walked == m.flat && m.n.boxes() < flatRun/16 {
			return -1
		}
		if off+1 < len(data) {
			switch data[off] {
			case tagSmallInteger:
				off += 2
				continue
			case tagSmallAtomUTF8:
				off += 2 + int(data[off+1]) // checked by the next walk, or below
				continue
			case tagInteger:
				if off+5 <= len(data) {
					if binary.BigEndian.Uint32(data[off+1:]) > math.MaxUint8 {
						m.n.words++
					}
					off += 5
					continue
				}
			}
		}
		if off = m.term(off, depth); off < 0 {
			return -1
		}
	}
	if off > len(data) {
		return -1
	}
	return off
}

// list walks the LIST_EXT at off as Reader.list decodes it: the
// elements of a tail that is a list again join the first ones, which are
// the only ones carved from the terms slab.
func (m *measurer) list(off, depth int) int {
	if depth >= MaxDepth || !m.fits(off, 5) {
		return -1
	}
	m.n.seqs++ // at most: an empty or improper list needs none
	k := uint64(binary.BigEndian.Uint32(m.data[off+1:]))
	m.n.terms += m.piece(k)
	off += 5
	for {
		if !m.fits(off, k+1) {
			return -1
		}
		if off = m.seq(off, k, depth+1); off < 0 || !m.fits(off, 1) {
			return -1
		}
		switch m.data[off] {
		case tagNil:
			return off + 1
		case tagList:
			if !m.fits(off, 5) {
				return -1
			}
			k = uint64(binary.BigEndian.Uint32(m.data[off+1:]))
			off += 5
		default:
			return m.term(off, depth+1)
		}
	}
}

// fun walks the NEW_FUN_EXT at off: only its free variables take from
// the arena, not the pid in it.
func (m *measurer) fun(off, depth int) int {
	const head = 1 + 4 + 1 + 16 + 4 // tag, Size, Arity, Uniq, Index
	if depth >= MaxDepth || !m.fits(off, head+4) {
		return -1
	}
	k := uint64(binary.BigEndian.Uint32(m.data[off+head:]))
	p := m.atom(off + head + 4) // Module
	for range 2 {               // OldIndex, OldUniq
		if p >= 0 {
			p = m.term(p, depth)
		}
	}
	if p >= 0 {
		p = m.pid(p)
	}
	if p < 0 {
		return -1
	}
	return m.elems(p, k, depth)
}
