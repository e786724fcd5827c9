package ei

import (
	"fmt"
	"math"
	"math/big"
)

// Term is an Erlang term. It holds one of the types below; decoding never
// produces anything else, and encoding accepts only these plus the Go
// conveniences listed under AppendTerm.
//
//	Erlang              Go type                   External Term Format tag
//	atom                Atom                      SMALL_ATOM_UTF8_EXT, ATOM_UTF8_EXT
//	integer             int64, or *big.Int when   SMALL_INTEGER_EXT, INTEGER_EXT,
//	                    it does not fit int64     SMALL_BIG_EXT, LARGE_BIG_EXT
//	float               float64                   NEW_FLOAT_EXT
//	binary              Binary                    BINARY_EXT
//	bitstring           BitBinary                 BIT_BINARY_EXT
//	tuple               Tuple                     SMALL_TUPLE_EXT, LARGE_TUPLE_EXT
//	[] and proper list  List                      NIL_EXT, LIST_EXT
//	improper list       ImproperList              LIST_EXT
//	list of bytes       String                    STRING_EXT
//	map                 Map                       MAP_EXT
//	pid                 Pid                       NEW_PID_EXT
//	port                Port                      NEW_PORT_EXT, V4_PORT_EXT
//	reference           Ref                       NEWER_REFERENCE_EXT
//	local fun           Fun                       NEW_FUN_EXT
//	external fun        Export                    EXPORT_EXT
//
// Decoded empty lists are List{}, never nil. Decoded lists are flattened,
// so an ImproperList never has a list as its Tail.
type Term = any

// Atom is an Erlang atom, held as UTF-8. Atoms have at most 255 characters.
type Atom string

// Binary is an Erlang binary (a bitstring whose length is a multiple of 8).
type Binary []byte

// BitBinary is an Erlang bitstring whose length is not a multiple of 8.
// Bits is the number of bits used in the last byte of Data (1..8, counted
// from the most significant bit); it is 0 only when Data is empty.
type BitBinary struct {
	Data []byte
	Bits uint8
}

// Tuple is an Erlang tuple.
type Tuple []Term

// List is a proper Erlang list. An empty List is the empty list [].
type List []Term

// ImproperList is a list whose tail is not []: [Elems... | Tail].
// Elems is not empty and Tail is not a list.
type ImproperList struct {
	Elems []Term
	Tail  Term
}

// String is an Erlang list of integers 0..255, sent as STRING_EXT. Each byte
// of the string is one list element; the bytes are not interpreted as UTF-8.
// The empty String is the empty list [].
type String string

// Map is an Erlang map as an ordered list of pairs. Encoding keeps the
// order; decoding keeps the order of the bytes and does not check for
// duplicate keys.
type Map []Pair

// Pair is one association of a Map.
type Pair struct {
	Key, Value Term
}

// Pid is an Erlang process identifier. It is always encoded as NEW_PID_EXT.
type Pid struct {
	Node     Atom
	ID       uint32
	Serial   uint32
	Creation uint32
}

// Port is an Erlang port identifier. It is encoded as NEW_PORT_EXT when ID
// fits 32 bits, else as V4_PORT_EXT.
type Port struct {
	Node     Atom
	ID       uint64
	Creation uint32
}

// Ref is an Erlang reference, encoded as NEWER_REFERENCE_EXT. ID holds
// 1 to 5 words, as sent (least significant word first).
type Ref struct {
	Node     Atom
	Creation uint32
	ID       []uint32
}

// Fun is a local fun (a closure), encoded as NEW_FUN_EXT.
type Fun struct {
	Module   Atom     // module the fun was defined in
	Arity    uint8    // number of arguments
	Uniq     [16]byte // MD5 of the significant parts of the module's BEAM
	Index    uint32   // index in the module's fun table
	OldIndex uint32   // index in the module's fun table (old scheme)
	OldUniq  uint32   // hash of the fun's parse tree (old scheme)
	Pid      Pid      // process that created the fun
	FreeVars []Term   // values of the fun's free variables
}

// Export is an external fun, fun Module:Function/Arity, encoded as
// EXPORT_EXT.
type Export struct {
	Module   Atom
	Function Atom
	Arity    uint8
}

// External Term Format tags, named after the spec.
const (
	versionMagic      = 131 // version number preceding a term
	tagNewFloat       = 70  // NEW_FLOAT_EXT
	tagBitBinary      = 77  // BIT_BINARY_EXT
	tagCompressed     = 80  // compressed term (zlib)
	tagAtomCacheRef   = 82  // ATOM_CACHE_REF
	tagNewPid         = 88  // NEW_PID_EXT
	tagNewPort        = 89  // NEW_PORT_EXT
	tagNewerReference = 90  // NEWER_REFERENCE_EXT
	tagSmallInteger   = 97  // SMALL_INTEGER_EXT
	tagInteger        = 98  // INTEGER_EXT
	tagFloat          = 99  // FLOAT_EXT
	tagAtom           = 100 // ATOM_EXT (deprecated, Latin-1)
	tagReference      = 101 // REFERENCE_EXT (deprecated)
	tagPort           = 102 // PORT_EXT
	tagPid            = 103 // PID_EXT
	tagSmallTuple     = 104 // SMALL_TUPLE_EXT
	tagLargeTuple     = 105 // LARGE_TUPLE_EXT
	tagNil            = 106 // NIL_EXT
	tagString         = 107 // STRING_EXT
	tagList           = 108 // LIST_EXT
	tagBinary         = 109 // BINARY_EXT
	tagSmallBig       = 110 // SMALL_BIG_EXT
	tagLargeBig       = 111 // LARGE_BIG_EXT
	tagNewFun         = 112 // NEW_FUN_EXT
	tagExport         = 113 // EXPORT_EXT
	tagNewReference   = 114 // NEW_REFERENCE_EXT
	tagSmallAtom      = 115 // SMALL_ATOM_EXT (deprecated, Latin-1)
	tagMap            = 116 // MAP_EXT
	tagFun            = 117 // FUN_EXT (removed in OTP 23)
	tagAtomUTF8       = 118 // ATOM_UTF8_EXT
	tagSmallAtomUTF8  = 119 // SMALL_ATOM_UTF8_EXT
	tagV4Port         = 120 // V4_PORT_EXT
	tagLocal          = 121 // LOCAL_EXT
)

// tagNames maps tags to their spec names for error messages.
var tagNames = map[byte]string{
	versionMagic:      "version byte 131",
	tagNewFloat:       "NEW_FLOAT_EXT",
	tagBitBinary:      "BIT_BINARY_EXT",
	tagCompressed:     "compressed term",
	tagAtomCacheRef:   "ATOM_CACHE_REF",
	tagNewPid:         "NEW_PID_EXT",
	tagNewPort:        "NEW_PORT_EXT",
	tagNewerReference: "NEWER_REFERENCE_EXT",
	tagSmallInteger:   "SMALL_INTEGER_EXT",
	tagInteger:        "INTEGER_EXT",
	tagFloat:          "FLOAT_EXT",
	tagAtom:           "ATOM_EXT",
	tagReference:      "REFERENCE_EXT",
	tagPort:           "PORT_EXT",
	tagPid:            "PID_EXT",
	tagSmallTuple:     "SMALL_TUPLE_EXT",
	tagLargeTuple:     "LARGE_TUPLE_EXT",
	tagNil:            "NIL_EXT",
	tagString:         "STRING_EXT",
	tagList:           "LIST_EXT",
	tagBinary:         "BINARY_EXT",
	tagSmallBig:       "SMALL_BIG_EXT",
	tagLargeBig:       "LARGE_BIG_EXT",
	tagNewFun:         "NEW_FUN_EXT",
	tagExport:         "EXPORT_EXT",
	tagNewReference:   "NEW_REFERENCE_EXT",
	tagSmallAtom:      "SMALL_ATOM_EXT",
	tagMap:            "MAP_EXT",
	tagFun:            "FUN_EXT",
	tagAtomUTF8:       "ATOM_UTF8_EXT",
	tagSmallAtomUTF8:  "SMALL_ATOM_UTF8_EXT",
	tagV4Port:         "V4_PORT_EXT",
	tagLocal:          "LOCAL_EXT",
}

func tagName(tag byte) string {
	if s, ok := tagNames[tag]; ok {
		return s
	}
	return fmt.Sprintf("unknown tag %d", tag)
}

// MaxDepth is the deepest nesting of tuples, lists, maps and fun
// environments that Marshal, AppendTerm and the decoders accept. The
// elements of one list do not nest, however long the list is.
const MaxDepth = 10000

// MaxUncompressedSize is the largest uncompressed size a compressed term
// may declare; Unmarshal rejects larger ones before inflating anything.
const MaxUncompressedSize = 64 << 20

// plain returns the term a Go convenience that AppendTerm accepts (int,
// uint64, float32, bool, []byte, ...) encodes as: int64 or *big.Int,
// float64, Atom, Binary. Other values are returned as they are.
func plain(t Term) Term {
	switch v := t.(type) {
	case int:
		return int64(v)
	case int8:
		return int64(v)
	case int16:
		return int64(v)
	case int32:
		return int64(v)
	case uint:
		return plainUint(uint64(v))
	case uint8:
		return int64(v)
	case uint16:
		return int64(v)
	case uint32:
		return int64(v)
	case uint64:
		return plainUint(v)
	case uintptr:
		return plainUint(uint64(v))
	case float32:
		return float64(v)
	case bool:
		if v {
			return Atom("true")
		}
		return Atom("false")
	case []byte:
		return Binary(v)
	}
	return t
}

func plainUint(u uint64) Term {
	if u <= math.MaxInt64 {
		return int64(u)
	}
	return new(big.Int).SetUint64(u)
}
