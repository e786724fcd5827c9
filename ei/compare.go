package ei

import (
	"bytes"
	"cmp"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strings"
)

// Compare compares two terms in Erlang's term order and returns -1, 0 or
// +1, like erlang:'<' and erlang:'==' (and so lists:sort):
//
//	number < atom < reference < fun < port < pid < tuple < map < [] < list < bit string
//
// Integers and floats compare by their exact values, so Compare(int64(1),
// 1.0) is 0 and 2^60+1 is greater than float64(2^60). Atoms compare by
// their text. References and ports compare by node name, then creation,
// then number; pids by serial, number, node name and creation, as
// erl_interface's ei_cmp_refs, ei_cmp_ports and ei_cmp_pids do. Local funs
// come before external ones. Tuples compare by size, then element by
// element; lists element by element (a String is the list of its bytes);
// bit strings bit by bit, a prefix first. Maps compare by size, then by
// their keys in ascending order, then by their values in key order; keys
// are ordered as Erlang orders them in maps, where every integer is below
// every float and 1 and 1.0 are different keys. A Map's pairs may come in
// any order.
//
// The Go conveniences that AppendTerm accepts (int, bool, []byte, ...)
// compare as the terms they encode as. Values that are not terms come
// after every term.
func Compare(a, b Term) int {
	return compare(a, b, false, 0)
}

// Term classes in Erlang's order.
const (
	classNumber = iota
	classAtom
	classRef
	classFun
	classPort
	classPid
	classTuple
	classMap
	classNil
	classList
	classBits
	classOther // not a term
)

func class(t Term) int {
	switch t := t.(type) {
	case int64, *big.Int, float64:
		return classNumber
	case Atom:
		return classAtom
	case Ref:
		return classRef
	case Fun, Export:
		return classFun
	case Port:
		return classPort
	case Pid:
		return classPid
	case Tuple:
		return classTuple
	case Map:
		return classMap
	case List:
		if len(t) == 0 {
			return classNil
		}
		return classList
	case String:
		if len(t) == 0 {
			return classNil
		}
		return classList
	case ImproperList:
		if len(t.Elems) == 0 {
			return class(plain(t.Tail))
		}
		return classList
	case Binary, BitBinary:
		return classBits
	}
	return classOther
}

// compare is Compare; with exact it compares as Erlang orders map keys,
// where integers come before floats whatever their values.
func compare(a, b Term, exact bool, depth int) int {
	a, b = plain(a), plain(b)
	if l, ok := a.(ImproperList); ok && len(l.Elems) == 0 {
		a = plain(l.Tail)
	}
	if l, ok := b.(ImproperList); ok && len(l.Elems) == 0 {
		b = plain(l.Tail)
	}
	ca, cb := class(a), class(b)
	if ca != cb {
		return cmp.Compare(ca, cb)
	}
	if depth > MaxDepth {
		return 0
	}
	switch ca {
	case classNumber:
		return compareNumbers(a, b, exact)
	case classAtom:
		return strings.Compare(string(a.(Atom)), string(b.(Atom)))
	case classRef:
		return compareRefs(a.(Ref), b.(Ref))
	case classFun:
		return compareFuns(a, b, exact, depth)
	case classPort:
		a, b := a.(Port), b.(Port)
		if c := compareNodes(a.Node, a.Creation, b.Node, b.Creation); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	case classPid:
		a, b := a.(Pid), b.(Pid)
		if c := cmp.Compare(a.Serial, b.Serial); c != 0 {
			return c
		}
		if c := cmp.Compare(a.ID, b.ID); c != 0 {
			return c
		}
		return compareNodes(a.Node, a.Creation, b.Node, b.Creation)
	case classTuple:
		a, b := a.(Tuple), b.(Tuple)
		if c := cmp.Compare(len(a), len(b)); c != 0 {
			return c
		}
		return compareElems(a, b, exact, depth)
	case classMap:
		return compareMaps(a.(Map), b.(Map), exact, depth)
	case classNil:
		return 0
	case classList:
		return compareLists(a, b, exact, depth)
	case classBits:
		da, na := bitsOf(a)
		db, nb := bitsOf(b)
		return compareBits(da, na, db, nb)
	}
	sa, sb := fmt.Sprintf("%T%#v", a, a), fmt.Sprintf("%T%#v", b, b)
	return strings.Compare(sa, sb)
}

func compareElems(a, b []Term, exact bool, depth int) int {
	for i := range min(len(a), len(b)) {
		if c := compare(a[i], b[i], exact, depth+1); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a), len(b))
}

// compareNumbers compares integers and floats by their exact values. With
// exact, integers come before floats.
func compareNumbers(a, b Term, exact bool) int {
	fa, aFloat := a.(float64)
	fb, bFloat := b.(float64)
	switch {
	case aFloat && bFloat:
		if exact && fa == 0 && fb == 0 {
			// -0.0 and 0.0 are different map keys (from OTP 27 on).
			switch {
			case math.Signbit(fa) == math.Signbit(fb):
				return 0
			case math.Signbit(fa):
				return -1
			}
			return 1
		}
		return cmp.Compare(fa, fb)
	case exact && aFloat != bFloat:
		if aFloat {
			return 1
		}
		return -1
	case !aFloat && !bFloat:
		ia, aSmall := a.(int64)
		ib, bSmall := b.(int64)
		if aSmall && bSmall {
			return cmp.Compare(ia, ib)
		}
		return bigOf(a).Cmp(bigOf(b))
	case aFloat:
		return -compareIntFloat(b, fa)
	}
	return compareIntFloat(a, fb)
}

// compareIntFloat compares the integer i with the float f exactly.
func compareIntFloat(i Term, f float64) int {
	if n, ok := i.(int64); ok && n >= -1<<53 && n <= 1<<53 {
		return cmp.Compare(float64(n), f)
	}
	x := new(big.Float).SetInt(bigOf(i))
	return x.Cmp(big.NewFloat(f))
}

func bigOf(t Term) *big.Int {
	if n, ok := t.(int64); ok {
		return big.NewInt(n)
	}
	return t.(*big.Int)
}

// compareNodes orders node names, then creations.
func compareNodes(a Atom, ac uint32, b Atom, bc uint32) int {
	if c := strings.Compare(string(a), string(b)); c != 0 {
		return c
	}
	return cmp.Compare(ac, bc)
}

// compareRefs orders references by node, then by number, most significant
// word first; missing words count as zeros.
func compareRefs(a, b Ref) int {
	if c := compareNodes(a.Node, a.Creation, b.Node, b.Creation); c != 0 {
		return c
	}
	for i := max(len(a.ID), len(b.ID)) - 1; i >= 0; i-- {
		var wa, wb uint32
		if i < len(a.ID) {
			wa = a.ID[i]
		}
		if i < len(b.ID) {
			wb = b.ID[i]
		}
		if c := cmp.Compare(wa, wb); c != 0 {
			return c
		}
	}
	return 0
}

// compareFuns puts local funs before external ones; local funs compare by
// module, index, uniq and free variables, external ones by module,
// function and arity.
func compareFuns(a, b Term, exact bool, depth int) int {
	fa, aLocal := a.(Fun)
	fb, bLocal := b.(Fun)
	if aLocal != bLocal {
		if aLocal {
			return -1
		}
		return 1
	}
	if !aLocal {
		ea, eb := a.(Export), b.(Export)
		if c := strings.Compare(string(ea.Module), string(eb.Module)); c != 0 {
			return c
		}
		if c := strings.Compare(string(ea.Function), string(eb.Function)); c != 0 {
			return c
		}
		return cmp.Compare(ea.Arity, eb.Arity)
	}
	if c := strings.Compare(string(fa.Module), string(fb.Module)); c != 0 {
		return c
	}
	if c := cmp.Compare(fa.Index, fb.Index); c != 0 {
		return c
	}
	if c := bytes.Compare(fa.Uniq[:], fb.Uniq[:]); c != 0 {
		return c
	}
	if c := cmp.Compare(len(fa.FreeVars), len(fb.FreeVars)); c != 0 {
		return c
	}
	return compareElems(fa.FreeVars, fb.FreeVars, exact, depth)
}

// compareMaps orders maps by size, then keys, then values.
func compareMaps(a, b Map, exact bool, depth int) int {
	if c := cmp.Compare(len(a), len(b)); c != 0 {
		return c
	}
	sa, sb := sortedPairs(a, depth), sortedPairs(b, depth)
	for i := range sa {
		if c := compare(sa[i].Key, sb[i].Key, true, depth+1); c != 0 {
			return c
		}
	}
	for i := range sa {
		if c := compare(sa[i].Value, sb[i].Value, exact, depth+1); c != 0 {
			return c
		}
	}
	return 0
}

// sortedPairs returns the pairs of m in Erlang's map key order.
func sortedPairs(m Map, depth int) Map {
	if slices.IsSortedFunc(m, func(x, y Pair) int { return compare(x.Key, y.Key, true, depth+1) }) {
		return m
	}
	s := slices.Clone(m)
	slices.SortStableFunc(s, func(x, y Pair) int { return compare(x.Key, y.Key, true, depth+1) })
	return s
}

// compareLists compares two non-empty lists element by element; where one
// runs out, what is left of each (a list, [] or an improper tail) decides.
func compareLists(a, b Term, exact bool, depth int) int {
	if sa, ok := a.(String); ok {
		if sb, ok := b.(String); ok {
			return strings.Compare(string(sa), string(sb))
		}
	}
	ea, ta := listParts(a)
	eb, tb := listParts(b)
	n := min(len(ea), len(eb))
	for i := range n {
		if c := compare(ea[i], eb[i], exact, depth+1); c != 0 {
			return c
		}
	}
	return compare(listRest(ea[n:], ta), listRest(eb[n:], tb), exact, depth+1)
}

// listParts returns the elements of a list and its improper tail (nil
// for a proper list).
func listParts(t Term) ([]Term, Term) {
	switch t := t.(type) {
	case List:
		return t, nil
	case String:
		return t.elems(), nil
	case ImproperList:
		return flattenList(t.Elems, t.Tail)
	}
	return nil, t
}

// listRest is the list of elems followed by tail.
func listRest(elems []Term, tail Term) Term {
	switch {
	case len(elems) > 0:
		return ImproperList{Elems: elems, Tail: tail}
	case tail == nil:
		return List{}
	}
	return tail
}

// bitsOf returns the bytes of a bitstring and its length in bits.
func bitsOf(t Term) ([]byte, int) {
	switch t := t.(type) {
	case Binary:
		return t, 8 * len(t)
	case BitBinary:
		if len(t.Data) == 0 {
			return nil, 0
		}
		bits := int(t.Bits)
		if bits == 0 || bits > 8 {
			bits = 8
		}
		return t.Data, 8*(len(t.Data)-1) + bits
	}
	return nil, 0
}

// compareBits compares bitstrings bit by bit; a prefix comes first.
func compareBits(a []byte, na int, b []byte, nb int) int {
	n := min(na, nb)
	whole := n / 8
	if c := bytes.Compare(a[:whole], b[:whole]); c != 0 {
		return c
	}
	if rest := n % 8; rest > 0 {
		mask := byte(0xff) << (8 - rest)
		if c := cmp.Compare(a[whole]&mask, b[whole]&mask); c != 0 {
			return c
		}
	}
	return cmp.Compare(na, nb)
}
