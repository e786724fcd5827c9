package ei

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"strconv"
	"unicode/utf8"
)

// Marshal returns the External Term Format encoding of t, starting with
// the version byte 131, as erlang:term_to_binary(T, [{minor_version, 2}])
// would produce it. It returns an error for values AppendTerm rejects.
func Marshal(t Term) ([]byte, error) {
	b, err := appendTerm(make([]byte, 1, 64), t, 0, nil)
	if err != nil {
		return nil, err
	}
	b[0] = versionMagic
	return b, nil
}

// MarshalCompressed is like Marshal but compresses the term with zlib at
// the given level (see compress/zlib), as term_to_binary(T, [compressed])
// does. Like erl, it returns the uncompressed encoding when compressing does
// not make it smaller. Terms longer than MaxUncompressedSize are an error,
// since Unmarshal would reject them.
func MarshalCompressed(t Term, level int) ([]byte, error) {
	raw, err := Marshal(t)
	if err != nil {
		return nil, err
	}
	size := len(raw) - 1
	if size > MaxUncompressedSize {
		return nil, fmt.Errorf("ei: term of %d bytes exceeds MaxUncompressedSize", size)
	}
	var buf bytes.Buffer
	buf.Write([]byte{versionMagic, tagCompressed, byte(size >> 24), byte(size >> 16), byte(size >> 8), byte(size)})
	zw, err := zlib.NewWriterLevel(&buf, level)
	if err != nil {
		return nil, fmt.Errorf("ei: %w", err)
	}
	zw.Write(raw[1:]) // writes to a bytes.Buffer do not fail
	zw.Close()
	if buf.Len() >= len(raw) {
		return raw, nil
	}
	return buf.Bytes(), nil
}

// AppendTerm appends the encoding of t to b, without a version byte.
//
// Besides the types listed under Term it accepts int, int8, int16, int32,
// uint, uint8, uint16, uint32, uint64 and uintptr (as integers), float32,
// bool (as the atoms true and false) and []byte (as a Binary). Anything else,
// including nil, a plain Go string (use Atom, String or Binary), a nil
// *big.Int, a NaN or infinite float, an invalid atom, or nesting deeper than
// MaxDepth, is an error. On error AppendTerm returns b with its original
// length.
func AppendTerm(b []byte, t Term) ([]byte, error) {
	out, err := appendTerm(b, t, 0, nil)
	if err != nil {
		return b, err
	}
	return out, nil
}

var errTooDeep = fmt.Errorf("ei: term nested deeper than MaxDepth (%d)", MaxDepth)

// appendTerm appends t at nesting depth depth. With sp, it leaves
// binaries of spliceMin bytes or more out of b (see splices).
func appendTerm(b []byte, t Term, depth int, sp *splices) ([]byte, error) {
	switch v := t.(type) {
	case Atom:
		return AppendAtom(b, v)
	case int64:
		return AppendInt(b, v), nil
	case Tuple:
		if depth >= MaxDepth {
			return b, errTooDeep
		}
		if uint64(len(v)) > math.MaxUint32 {
			return b, errors.New("ei: tuple too long")
		}
		b = AppendTupleHeader(b, uint32(len(v)))
		for _, e := range v {
			var err error
			if b, err = appendTerm(b, e, depth+1, sp); err != nil {
				return b, err
			}
		}
		return b, nil
	case List:
		if len(v) == 0 {
			return append(b, tagNil), nil
		}
		if depth >= MaxDepth {
			return b, errTooDeep
		}
		if uint64(len(v)) > math.MaxUint32 {
			return b, errors.New("ei: list too long")
		}
		b = AppendListHeader(b, uint32(len(v)))
		for _, e := range v {
			var err error
			if b, err = appendTerm(b, e, depth+1, sp); err != nil {
				return b, err
			}
		}
		return append(b, tagNil), nil
	case Binary:
		if sp != nil && len(v) >= spliceMin {
			return sp.binary(b, v)
		}
		return AppendBinary(b, v)
	case int:
		return AppendInt(b, int64(v)), nil
	case Map:
		if depth >= MaxDepth {
			return b, errTooDeep
		}
		if uint64(len(v)) > math.MaxUint32 {
			return b, errors.New("ei: map too large")
		}
		b = AppendMapHeader(b, uint32(len(v)))
		for _, p := range v {
			var err error
			if b, err = appendTerm(b, p.Key, depth+1, sp); err != nil {
				return b, err
			}
			if b, err = appendTerm(b, p.Value, depth+1, sp); err != nil {
				return b, err
			}
		}
		return b, nil
	case String:
		return AppendString(b, string(v))
	case Pid:
		return AppendPid(b, v)
	case Ref:
		return AppendRef(b, v)
	case float64:
		return AppendFloat(b, v)
	case bool:
		return AppendBool(b, v), nil
	case *big.Int:
		return AppendBigInt(b, v)
	case ImproperList:
		if len(v.Elems) == 0 {
			// [ | Tail] is Tail itself.
			return appendTerm(b, v.Tail, depth, sp)
		}
		if depth >= MaxDepth {
			return b, errTooDeep
		}
		if uint64(len(v.Elems)) > math.MaxUint32 {
			return b, errors.New("ei: list too long")
		}
		b = AppendListHeader(b, uint32(len(v.Elems)))
		for _, e := range v.Elems {
			var err error
			if b, err = appendTerm(b, e, depth+1, sp); err != nil {
				return b, err
			}
		}
		return appendTerm(b, v.Tail, depth+1, sp)
	case BitBinary:
		return AppendBitBinary(b, v.Data, v.Bits)
	case Port:
		return AppendPort(b, v)
	case Fun:
		return appendFun(b, v, depth)
	case Export:
		return AppendExport(b, v)
	case []byte:
		if sp != nil && len(v) >= spliceMin {
			return sp.binary(b, v)
		}
		return AppendBinary(b, v)
	case int8:
		return AppendInt(b, int64(v)), nil
	case int16:
		return AppendInt(b, int64(v)), nil
	case int32:
		return AppendInt(b, int64(v)), nil
	case uint:
		return AppendUint(b, uint64(v)), nil
	case uint8:
		return AppendInt(b, int64(v)), nil
	case uint16:
		return AppendInt(b, int64(v)), nil
	case uint32:
		return AppendInt(b, int64(v)), nil
	case uint64:
		return AppendUint(b, v), nil
	case uintptr:
		return AppendUint(b, uint64(v)), nil
	case float32:
		return AppendFloat(b, float64(v))
	case nil:
		return b, errors.New("ei: cannot encode nil")
	case string:
		return b, goStringError(v)
	default:
		return b, fmt.Errorf("ei: cannot encode %T", t)
	}
}

// AppendVersion appends the version byte 131 that starts a standalone term
// (as produced by term_to_binary).
func AppendVersion(b []byte) []byte { return append(b, versionMagic) }

// AppendAtom appends a as SMALL_ATOM_UTF8_EXT or ATOM_UTF8_EXT. It returns
// an error if a is not valid UTF-8 or has more than 255 characters.
func AppendAtom(b []byte, a Atom) ([]byte, error) {
	if err := checkAtom(string(a)); err != nil {
		return b, err
	}
	if len(a) <= math.MaxUint8 {
		b = append(b, tagSmallAtomUTF8, byte(len(a)))
	} else {
		b = append(b, tagAtomUTF8, byte(len(a)>>8), byte(len(a)))
	}
	return append(b, a...), nil
}

// checkAtom reports whether s is valid as an atom: UTF-8, at most 255
// characters.
func checkAtom(s string) error {
	if len(s) <= math.MaxUint8 {
		// Fast path: short ASCII atoms.
		var or byte
		for i := 0; i < len(s); i++ {
			or |= s[i]
		}
		if or < utf8.RuneSelf {
			return nil
		}
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("ei: atom %q is not valid UTF-8", truncate(s))
	}
	if len(s) > math.MaxUint8 && utf8.RuneCountInString(s) > math.MaxUint8 {
		return fmt.Errorf("ei: atom %q... has more than 255 characters", truncate(s))
	}
	return nil
}

// goStringError explains why a Go string is not a term: Erlang has three
// things it could be, and the caller must say which.
func goStringError(s string) error {
	q := strconv.Quote(truncate(s))
	if len(s) > 32 {
		q += "..."
	}
	return fmt.Errorf("ei: cannot encode Go string %s: say which Erlang term it is: "+
		"ei.Atom for an atom, ei.Binary for a binary (<<\"...\">>, the usual string in Elixir and in modern Erlang APIs), "+
		"or ei.String for a list of bytes (\"...\" in Erlang source, as io_lib and file names use)", q)
}

func truncate(s string) string {
	if len(s) > 32 {
		return s[:32]
	}
	return s
}

// AppendBool appends true or false as an atom.
func AppendBool(b []byte, v bool) []byte {
	if v {
		return append(b, tagSmallAtomUTF8, 4, 't', 'r', 'u', 'e')
	}
	return append(b, tagSmallAtomUTF8, 5, 'f', 'a', 'l', 's', 'e')
}

// AppendNil appends the empty list [] (NIL_EXT). It also ends a proper list
// started with AppendListHeader.
func AppendNil(b []byte) []byte { return append(b, tagNil) }

// AppendInt appends v in the smallest encoding erl would choose:
// SMALL_INTEGER_EXT for 0..255, INTEGER_EXT for other 32-bit values, else
// SMALL_BIG_EXT.
func AppendInt(b []byte, v int64) []byte {
	switch {
	case v >= 0 && v <= math.MaxUint8:
		return append(b, tagSmallInteger, byte(v))
	case v >= math.MinInt32 && v <= math.MaxInt32:
		return append(b, tagInteger, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	case v < 0:
		return appendSmallBig(b, 1, -uint64(v))
	default:
		return appendSmallBig(b, 0, uint64(v))
	}
}

// AppendUint appends v like AppendInt.
func AppendUint(b []byte, v uint64) []byte {
	if v <= math.MaxInt32 {
		return AppendInt(b, int64(v))
	}
	return appendSmallBig(b, 0, v)
}

// appendSmallBig appends SMALL_BIG_EXT for a magnitude u > 0.
func appendSmallBig(b []byte, sign byte, u uint64) []byte {
	n := (bits.Len64(u) + 7) / 8
	b = append(b, tagSmallBig, byte(n), sign)
	for ; u != 0; u >>= 8 {
		b = append(b, byte(u))
	}
	return b
}

// AppendBigInt appends x like AppendInt, using LARGE_BIG_EXT when its
// magnitude needs more than 255 bytes. A nil x is an error.
func AppendBigInt(b []byte, x *big.Int) ([]byte, error) {
	if x == nil {
		return b, errors.New("ei: cannot encode nil *big.Int")
	}
	if x.IsInt64() {
		return AppendInt(b, x.Int64()), nil
	}
	n := (x.BitLen() + 7) / 8
	var sign byte
	if x.Sign() < 0 {
		sign = 1
	}
	switch {
	case n <= math.MaxUint8:
		b = append(b, tagSmallBig, byte(n), sign)
	case uint64(n) <= math.MaxUint32:
		b = append(b, tagLargeBig, byte(n>>24), byte(n>>16), byte(n>>8), byte(n), sign)
	default:
		return b, errors.New("ei: integer too large")
	}
	const wordBytes = bits.UintSize / 8
	words := x.Bits() // magnitude, least significant word first
	for i := 0; i < n; i++ {
		b = append(b, byte(words[i/wordBytes]>>(8*(i%wordBytes))))
	}
	return b, nil
}

// AppendFloat appends v as NEW_FLOAT_EXT. NaN and infinities do not exist
// in Erlang and are an error.
func AppendFloat(b []byte, v float64) ([]byte, error) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return b, fmt.Errorf("ei: cannot encode float %v", v)
	}
	b = append(b, tagNewFloat)
	return binary.BigEndian.AppendUint64(b, math.Float64bits(v)), nil
}

// AppendBinary appends data as BINARY_EXT. Data longer than 2³²-1 bytes is
// an error.
func AppendBinary(b []byte, data []byte) ([]byte, error) {
	if uint64(len(data)) > math.MaxUint32 {
		return b, errors.New("ei: binary too long")
	}
	b = append(b, tagBinary)
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	return append(b, data...), nil
}

// AppendBitBinary appends a bitstring as BIT_BINARY_EXT: all of data
// except the low 8-bits bits of its last byte, which are sent as zeros.
// Bits must be 1..8, or 0 when data is empty.
func AppendBitBinary(b []byte, data []byte, bits uint8) ([]byte, error) {
	if bits > 8 || (bits == 0) != (len(data) == 0) {
		return b, fmt.Errorf("ei: bitstring of %d bytes cannot have %d bits in its last byte", len(data), bits)
	}
	if uint64(len(data)) > math.MaxUint32 {
		return b, errors.New("ei: bitstring too long")
	}
	b = append(b, tagBitBinary)
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	b = append(b, bits)
	b = append(b, data...)
	if len(data) > 0 {
		b[len(b)-1] &= 0xff << (8 - bits)
	}
	return b, nil
}

// AppendString appends s as a list of its bytes: NIL_EXT when empty,
// STRING_EXT up to 65535 bytes, else LIST_EXT of integers, as erl does.
func AppendString(b []byte, s string) ([]byte, error) {
	switch {
	case len(s) == 0:
		return append(b, tagNil), nil
	case len(s) <= math.MaxUint16:
		b = append(b, tagString, byte(len(s)>>8), byte(len(s)))
		return append(b, s...), nil
	case uint64(len(s)) <= math.MaxUint32:
		b = AppendListHeader(b, uint32(len(s)))
		for i := 0; i < len(s); i++ {
			b = append(b, tagSmallInteger, s[i])
		}
		return append(b, tagNil), nil
	default:
		return b, errors.New("ei: string too long")
	}
}

// AppendTupleHeader appends the header of a tuple of n elements
// (SMALL_TUPLE_EXT or LARGE_TUPLE_EXT); the n elements must follow.
func AppendTupleHeader(b []byte, n uint32) []byte {
	if n <= math.MaxUint8 {
		return append(b, tagSmallTuple, byte(n))
	}
	b = append(b, tagLargeTuple)
	return binary.BigEndian.AppendUint32(b, n)
}

// AppendListHeader appends the header of a list of n elements (LIST_EXT);
// the n elements must follow, then the tail: AppendNil for a proper list.
// Encode the empty list with AppendNil alone.
func AppendListHeader(b []byte, n uint32) []byte {
	b = append(b, tagList)
	return binary.BigEndian.AppendUint32(b, n)
}

// AppendMapHeader appends the header of a map of n pairs (MAP_EXT); n keys
// and values must follow, alternating, key first.
func AppendMapHeader(b []byte, n uint32) []byte {
	b = append(b, tagMap)
	return binary.BigEndian.AppendUint32(b, n)
}

// AppendPid appends p as NEW_PID_EXT. An invalid node atom is an error.
func AppendPid(b []byte, p Pid) ([]byte, error) {
	b, err := AppendAtom(append(b, tagNewPid), p.Node)
	if err != nil {
		return b[:len(b)-1], err
	}
	b = binary.BigEndian.AppendUint32(b, p.ID)
	b = binary.BigEndian.AppendUint32(b, p.Serial)
	return binary.BigEndian.AppendUint32(b, p.Creation), nil
}

// AppendPort appends p as NEW_PORT_EXT, or V4_PORT_EXT when its ID needs
// more than 32 bits. An invalid node atom is an error.
func AppendPort(b []byte, p Port) ([]byte, error) {
	tag := byte(tagNewPort)
	if p.ID > math.MaxUint32 {
		tag = tagV4Port
	}
	b, err := AppendAtom(append(b, tag), p.Node)
	if err != nil {
		return b[:len(b)-1], err
	}
	if tag == tagV4Port {
		b = binary.BigEndian.AppendUint64(b, p.ID)
	} else {
		b = binary.BigEndian.AppendUint32(b, uint32(p.ID))
	}
	return binary.BigEndian.AppendUint32(b, p.Creation), nil
}

// maxRefWords is the largest number of ID words in a reference.
const maxRefWords = 5

// AppendRef appends r as NEWER_REFERENCE_EXT. An invalid node atom, or an
// ID of 0 or more than 5 words, is an error.
func AppendRef(b []byte, r Ref) ([]byte, error) {
	if len(r.ID) == 0 || len(r.ID) > maxRefWords {
		return b, fmt.Errorf("ei: reference with %d ID words, want 1..%d", len(r.ID), maxRefWords)
	}
	start := len(b)
	b, err := AppendAtom(append(b, tagNewerReference, 0, byte(len(r.ID))), r.Node)
	if err != nil {
		return b[:start], err
	}
	b = binary.BigEndian.AppendUint32(b, r.Creation)
	for _, w := range r.ID {
		b = binary.BigEndian.AppendUint32(b, w)
	}
	return b, nil
}

// AppendExport appends e as EXPORT_EXT. Invalid atoms are an error.
func AppendExport(b []byte, e Export) ([]byte, error) {
	start := len(b)
	b, err := AppendAtom(append(b, tagExport), e.Module)
	if err == nil {
		b, err = AppendAtom(b, e.Function)
	}
	if err != nil {
		return b[:start], err
	}
	return append(b, tagSmallInteger, e.Arity), nil
}

// AppendFun appends f as NEW_FUN_EXT. Its free variables are encoded as by
// AppendTerm, with the same errors.
func AppendFun(b []byte, f Fun) ([]byte, error) {
	out, err := appendFun(b, f, 0)
	if err != nil {
		return b, err
	}
	return out, nil
}

func appendFun(b []byte, f Fun, depth int) ([]byte, error) {
	if depth >= MaxDepth {
		return b, errTooDeep
	}
	if uint64(len(f.FreeVars)) > math.MaxUint32 {
		return b, errors.New("ei: fun has too many free variables")
	}
	b = append(b, tagNewFun)
	start := len(b)
	b = append(b, 0, 0, 0, 0, f.Arity) // Size is patched below
	b = append(b, f.Uniq[:]...)
	b = binary.BigEndian.AppendUint32(b, f.Index)
	b = binary.BigEndian.AppendUint32(b, uint32(len(f.FreeVars)))
	b, err := AppendAtom(b, f.Module)
	if err != nil {
		return b, err
	}
	b = AppendUint(b, uint64(f.OldIndex))
	b = AppendUint(b, uint64(f.OldUniq))
	if b, err = AppendPid(b, f.Pid); err != nil {
		return b, err
	}
	for _, v := range f.FreeVars {
		// No splices: the Size above counts the free variables' bytes.
		if b, err = appendTerm(b, v, depth+1, nil); err != nil {
			return b, err
		}
	}
	size := len(b) - start
	if uint64(size) > math.MaxUint32 {
		return b, errors.New("ei: fun too large")
	}
	binary.BigEndian.PutUint32(b[start:], uint32(size))
	return b, nil
}
