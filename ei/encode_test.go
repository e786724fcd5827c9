package ei

import (
	"bytes"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strings"
	"testing"
)

// short formats b in hex, truncated for failure messages.
func short(b []byte) string {
	if len(b) > 64 {
		return fmt.Sprintf("%x... (%d bytes)", b[:64], len(b))
	}
	return fmt.Sprintf("%x", b)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// codecTests are byte-exact encodings. Both directions hold unless
// encodeOnly or decodeOnly is set; decodeOnly cases decode to want.
var codecTests = []struct {
	name       string
	term       Term
	data       []byte
	encodeOnly bool
	decodeOnly bool
}{
	{"small_integer", int64(255), []byte{
		97,  // SMALL_INTEGER_EXT
		255, // Int
	}, false, false},
	{"integer", int64(-1), []byte{
		98,                     // INTEGER_EXT
		0xff, 0xff, 0xff, 0xff, // Int, signed big-endian
	}, false, false},
	{"integer_256", int64(256), []byte{
		98,         // INTEGER_EXT
		0, 0, 1, 0, // Int
	}, false, false},
	{"small_big", int64(math.MaxInt64), []byte{
		110,                                            // SMALL_BIG_EXT
		8,                                              // n: digit bytes
		0,                                              // Sign: positive
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, // digits, least significant first
	}, false, false},
	{"small_big_min64", int64(math.MinInt64), []byte{
		110,                       // SMALL_BIG_EXT
		8,                         // n
		1,                         // Sign: negative
		0, 0, 0, 0, 0, 0, 0, 0x80, // digits: 2^63
	}, false, false},
	{"small_big_uint64", uint64(math.MaxUint64), []byte{
		110,                                            // SMALL_BIG_EXT
		8,                                              // n
		0,                                              // Sign
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // digits
	}, true, false},
	{"small_big_2_64", bigFromString("18446744073709551616"), []byte{
		110,                       // SMALL_BIG_EXT
		9,                         // n
		0,                         // Sign
		0, 0, 0, 0, 0, 0, 0, 0, 1, // digits: 2^64
	}, false, false},
	{"small_big_nonminimal", int64(1), []byte{
		110,     // SMALL_BIG_EXT
		3,       // n
		0,       // Sign
		1, 0, 0, // digits with leading zeros
	}, false, true},
	{"large_big", int64(-2), []byte{
		111,        // LARGE_BIG_EXT
		0, 0, 0, 1, // n
		1, // Sign: negative
		2, // digits
	}, false, true},
	{"int_go", 7, []byte{
		97, // SMALL_INTEGER_EXT
		7,  // Int
	}, true, false},
	{"int8_go", int8(-3), []byte{
		98,                     // INTEGER_EXT
		0xff, 0xff, 0xff, 0xfd, // Int
	}, true, false},
	{"new_float", 1.5, []byte{
		70,                           // NEW_FLOAT_EXT
		0x3f, 0xf8, 0, 0, 0, 0, 0, 0, // IEEE 754 double, big-endian
	}, false, false},
	{"float_ext", -1.5, cat([]byte{
		99, // FLOAT_EXT
	}, []byte("-1.50000000000000000000e+00"), []byte{
		0, 0, 0, 0, // NUL padding to 31 bytes
	}), false, true},
	{"float32", float32(0.5), []byte{
		70,                           // NEW_FLOAT_EXT
		0x3f, 0xe0, 0, 0, 0, 0, 0, 0, // 0.5
	}, true, false},
	{"small_atom_utf8", Atom("ok"), []byte{
		119,      // SMALL_ATOM_UTF8_EXT
		2,        // Len
		'o', 'k', // AtomName
	}, false, false},
	{"atom_utf8", Atom(strings.Repeat("é", 128)), cat([]byte{
		118,  // ATOM_UTF8_EXT
		1, 0, // Len: 256 bytes
	}, []byte(strings.Repeat("é", 128))), false, false},
	{"atom_latin1", Atom("é"), []byte{
		100,  // ATOM_EXT
		0, 1, // Len
		0xe9, // AtomName in Latin-1
	}, false, true},
	{"small_atom_latin1", Atom("aé"), []byte{
		115,       // SMALL_ATOM_EXT
		2,         // Len
		'a', 0xe9, // AtomName in Latin-1
	}, false, true},
	{"bool", true, []byte{
		119,                // SMALL_ATOM_UTF8_EXT
		4,                  // Len
		't', 'r', 'u', 'e', // AtomName
	}, true, false},
	{"nil", List{}, []byte{
		106, // NIL_EXT
	}, false, false},
	{"nil_from_nil_slice", List(nil), []byte{
		106, // NIL_EXT
	}, true, false},
	{"string", String("hi"), []byte{
		107,  // STRING_EXT
		0, 2, // Length
		'h', 'i', // Characters
	}, false, false},
	{"string_empty", String(""), []byte{
		106, // NIL_EXT: "" is []
	}, true, false},
	{"string_ext_empty", List{}, []byte{
		107,  // STRING_EXT
		0, 0, // Length
	}, false, true},
	{"list", List{Atom("a"), int64(1)}, []byte{
		108,        // LIST_EXT
		0, 0, 0, 2, // Length
		119, 1, 'a', // SMALL_ATOM_UTF8_EXT a
		97, 1, // SMALL_INTEGER_EXT 1
		106, // Tail: NIL_EXT
	}, false, false},
	{"improper_list", ImproperList{Elems: []Term{int64(1)}, Tail: Atom("t")}, []byte{
		108,        // LIST_EXT
		0, 0, 0, 1, // Length
		97, 1, // SMALL_INTEGER_EXT 1
		119, 1, 't', // Tail: SMALL_ATOM_UTF8_EXT t
	}, false, false},
	{"list_tail_string", List{int64(1), int64('a')}, []byte{
		108,        // LIST_EXT
		0, 0, 0, 1, // Length
		97, 1, // SMALL_INTEGER_EXT 1
		107, 0, 1, 'a', // Tail: STRING_EXT "a"
	}, false, true},
	{"list_tail_list", List{int64(1), int64(2)}, []byte{
		108,        // LIST_EXT
		0, 0, 0, 1, // Length
		97, 1, // SMALL_INTEGER_EXT 1
		108,        // Tail: LIST_EXT
		0, 0, 0, 1, // Length
		97, 2, // SMALL_INTEGER_EXT 2
		106, // Tail: NIL_EXT
	}, false, true},
	{"list_empty_with_tail", Atom("t"), []byte{
		108,        // LIST_EXT
		0, 0, 0, 0, // Length
		119, 1, 't', // Tail: SMALL_ATOM_UTF8_EXT t, so the term is t
	}, false, true},
	{"small_tuple", Tuple{Atom("a"), Tuple{}}, []byte{
		104,         // SMALL_TUPLE_EXT
		2,           // Arity
		119, 1, 'a', // SMALL_ATOM_UTF8_EXT a
		104, 0, // SMALL_TUPLE_EXT {}
	}, false, false},
	{"large_tuple", Tuple(repeat(int64(0), 256)), cat([]byte{
		105,        // LARGE_TUPLE_EXT
		0, 0, 1, 0, // Arity
	}, bytes.Repeat([]byte{
		97, 0, // SMALL_INTEGER_EXT 0
	}, 256)), false, false},
	{"binary", Binary{1, 2}, []byte{
		109,        // BINARY_EXT
		0, 0, 0, 2, // Len
		1, 2, // Data
	}, false, false},
	{"byte_slice", []byte{1}, []byte{
		109,        // BINARY_EXT
		0, 0, 0, 1, // Len
		1, // Data
	}, true, false},
	{"bit_binary", BitBinary{Data: []byte{1, 0xe0}, Bits: 3}, []byte{
		77,         // BIT_BINARY_EXT
		0, 0, 0, 2, // Len
		3,       // Bits used in the last byte
		1, 0xe0, // Data
	}, false, false},
	{"bit_binary_empty", BitBinary{Data: []byte{}}, []byte{
		77,         // BIT_BINARY_EXT
		0, 0, 0, 0, // Len
		0, // Bits
	}, false, false},
	{"bit_binary_masked", BitBinary{Data: []byte{0xe0}, Bits: 3}, []byte{
		77,         // BIT_BINARY_EXT
		0, 0, 0, 1, // Len
		3,    // Bits
		0xff, // Data, unused low bits set
	}, false, true},
	{"map", Map{{Atom("k"), int64(1)}, {int64(0), List{}}}, []byte{
		116,        // MAP_EXT
		0, 0, 0, 2, // Arity: pairs
		119, 1, 'k', // Key: SMALL_ATOM_UTF8_EXT k
		97, 1, // Value: SMALL_INTEGER_EXT 1
		97, 0, // Key: SMALL_INTEGER_EXT 0
		106, // Value: NIL_EXT
	}, false, false},
	{"new_pid", Pid{Node: "a@b", ID: 1, Serial: 2, Creation: 3}, []byte{
		88,                    // NEW_PID_EXT
		119, 3, 'a', '@', 'b', // Node: SMALL_ATOM_UTF8_EXT
		0, 0, 0, 1, // ID
		0, 0, 0, 2, // Serial
		0, 0, 0, 3, // Creation
	}, false, false},
	{"pid", Pid{Node: "a@b", ID: 1, Serial: 2, Creation: 3}, []byte{
		103,                      // PID_EXT
		100, 0, 3, 'a', '@', 'b', // Node: ATOM_EXT
		0, 0, 0, 1, // ID
		0, 0, 0, 2, // Serial
		3, // Creation
	}, false, true},
	{"pid_cached_node", Pid{Node: "n@h", ID: 1}, []byte{
		88,    // NEW_PID_EXT
		82, 1, // Node: ATOM_CACHE_REF 1
		0, 0, 0, 1, // ID
		0, 0, 0, 0, // Serial
		0, 0, 0, 0, // Creation
	}, false, true},
	{"new_port", Port{Node: "a@b", ID: 5, Creation: 3}, []byte{
		89,                    // NEW_PORT_EXT
		119, 3, 'a', '@', 'b', // Node
		0, 0, 0, 5, // ID
		0, 0, 0, 3, // Creation
	}, false, false},
	{"v4_port", Port{Node: "a@b", ID: 1 << 40, Creation: 3}, []byte{
		120,                   // V4_PORT_EXT
		119, 3, 'a', '@', 'b', // Node
		0, 0, 1, 0, 0, 0, 0, 0, // ID
		0, 0, 0, 3, // Creation
	}, false, false},
	{"port", Port{Node: "a@b", ID: 5, Creation: 3}, []byte{
		102,                      // PORT_EXT
		100, 0, 3, 'a', '@', 'b', // Node: ATOM_EXT
		0, 0, 0, 5, // ID
		3, // Creation
	}, false, true},
	{"newer_reference", Ref{Node: "a@b", Creation: 3, ID: []uint32{1, 2}}, []byte{
		90,   // NEWER_REFERENCE_EXT
		0, 2, // Len: ID words
		119, 3, 'a', '@', 'b', // Node
		0, 0, 0, 3, // Creation
		0, 0, 0, 1, // ID[0]
		0, 0, 0, 2, // ID[1]
	}, false, false},
	{"new_reference", Ref{Node: "a@b", Creation: 3, ID: []uint32{1}}, []byte{
		114,  // NEW_REFERENCE_EXT
		0, 1, // Len
		100, 0, 3, 'a', '@', 'b', // Node: ATOM_EXT
		3,          // Creation
		0, 0, 0, 1, // ID[0]
	}, false, true},
	{"reference", Ref{Node: "a@b", Creation: 3, ID: []uint32{1}}, []byte{
		101,                      // REFERENCE_EXT
		100, 0, 3, 'a', '@', 'b', // Node: ATOM_EXT
		0, 0, 0, 1, // ID
		3, // Creation
	}, false, true},
	{"export", Export{Module: "m", Function: "f", Arity: 2}, []byte{
		113,         // EXPORT_EXT
		119, 1, 'm', // Module
		119, 1, 'f', // Function
		97, 2, // Arity: SMALL_INTEGER_EXT
	}, false, false},
	{"new_fun", Fun{
		Module: "m", Arity: 1, Uniq: [16]byte{15: 0xaa}, Index: 2, OldIndex: 3, OldUniq: 1 << 31,
		Pid: Pid{Node: "a", ID: 4}, FreeVars: []Term{int64(5)},
	}, []byte{
		112,         // NEW_FUN_EXT
		0, 0, 0, 59, // Size: from here to the end
		1,                                                 // Arity
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xaa, // Uniq
		0, 0, 0, 2, // Index
		0, 0, 0, 1, // NumFree
		119, 1, 'm', // Module
		97, 3, // OldIndex: SMALL_INTEGER_EXT
		110, 4, 0, 0, 0, 0, 0x80, // OldUniq: SMALL_BIG_EXT 2^31
		88, 119, 1, 'a', 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, // Pid: NEW_PID_EXT
		97, 5, // FreeVars[0]
	}, false, false},
}

func TestAppendTerm(t *testing.T) {
	for _, tt := range codecTests {
		if tt.decodeOnly {
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			got, err := AppendTerm([]byte{0xee}, tt.term)
			if err != nil || !bytes.Equal(got[1:], tt.data) || got[0] != 0xee {
				t.Errorf("AppendTerm(%#v) = %x, %v, want %x", tt.term, got, err, tt.data)
			}
			m, err := Marshal(tt.term)
			if err != nil || !bytes.Equal(m, append([]byte{131}, tt.data...)) {
				t.Errorf("Marshal(%#v) = %x, %v, want 83%x", tt.term, m, err, tt.data)
			}
		})
	}
}

func TestDecode(t *testing.T) {
	d := Decoder{AtomCache: []Atom{"x", "n@h"}}
	for _, tt := range codecTests {
		if tt.encodeOnly {
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			trailing := append(tt.data[:len(tt.data):len(tt.data)], 0xee)
			got, n, err := d.Decode(trailing)
			if err != nil || n != len(tt.data) || !reflect.DeepEqual(got, tt.term) {
				t.Errorf("Decode(%x) = %#v, %d, %v, want %#v, %d", trailing, got, n, err, tt.term, len(tt.data))
			}
		})
	}
}

func TestAppendStringLong(t *testing.T) {
	s := strings.Repeat("x", 65536)
	got, err := AppendString(nil, s)
	if err != nil {
		t.Fatal(err)
	}
	want := cat([]byte{
		108,        // LIST_EXT
		0, 1, 0, 0, // Length: 65536
	}, bytes.Repeat([]byte{97, 'x'}, 65536), []byte{
		106, // NIL_EXT
	})
	if !bytes.Equal(got, want) {
		t.Errorf("AppendString(%d bytes) = %x..., want %x...", len(s), got[:16], want[:16])
	}
}

func TestLowLevelEncode(t *testing.T) {
	// {ok, [1, <<"x">>], #{a => 1.5}, Pid}, built without a Term tree.
	b := AppendVersion(nil)
	b = AppendTupleHeader(b, 4)
	b, _ = AppendAtom(b, "ok")
	b = AppendListHeader(b, 2)
	b = AppendInt(b, 1)
	b, _ = AppendBinary(b, []byte("x"))
	b = AppendNil(b)
	b = AppendMapHeader(b, 1)
	b, _ = AppendAtom(b, "a")
	b, _ = AppendFloat(b, 1.5)
	b, _ = AppendPid(b, Pid{Node: "n@h", ID: 1})
	want, err := Marshal(Tuple{
		Atom("ok"),
		List{int64(1), Binary("x")},
		Map{{Atom("a"), 1.5}},
		Pid{Node: "n@h", ID: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, want) {
		t.Errorf("low-level encoding = %x, want %x", b, want)
	}
}

func TestAppendTermErrors(t *testing.T) {
	cyclic := Tuple{nil}
	cyclic[0] = cyclic
	deepList := List{}
	for range MaxDepth + 1 {
		deepList = List{deepList}
	}
	tests := []struct {
		name string
		term Term
	}{
		{"nil", nil},
		{"nil_in_tuple", Tuple{Atom("a"), nil}},
		{"go_string", "text"},
		{"go_map", map[string]int{}},
		{"struct", struct{}{}},
		{"pointer", new(int)},
		{"nil_big", (*big.Int)(nil)},
		{"nan", math.NaN()},
		{"inf", math.Inf(-1)},
		{"atom_invalid_utf8", Atom("\xff")},
		{"atom_256_chars", Atom(strings.Repeat("a", 256))},
		{"pid_bad_node", Pid{Node: Atom(strings.Repeat("é", 256))}},
		{"ref_no_id", Ref{Node: "a"}},
		{"ref_6_words", Ref{Node: "a", ID: make([]uint32, 6)}},
		{"bit_binary_9_bits", BitBinary{Data: []byte{1}, Bits: 9}},
		{"bit_binary_0_bits", BitBinary{Data: []byte{1}, Bits: 0}},
		{"improper_nil_tail", ImproperList{Elems: []Term{int64(1)}}},
		{"map_bad_value", Map{{Atom("k"), nil}}},
		{"fun_bad_free_var", Fun{Module: "m", Pid: Pid{Node: "a"}, FreeVars: []Term{"s"}}},
		{"cyclic", cyclic},
		{"too_deep", deepList},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []byte{1, 2}
			got, err := AppendTerm(prefix, tt.term)
			if err == nil || !strings.HasPrefix(err.Error(), "ei: ") {
				t.Errorf("AppendTerm(%T) error = %v, want an ei: error", tt.term, err)
			}
			if !bytes.Equal(got, prefix) {
				t.Errorf("AppendTerm(%T) = %s on error, want %x", tt.term, short(got), prefix)
			}
			if b, err := Marshal(tt.term); err == nil {
				t.Errorf("Marshal(%T) = %s, want error", tt.term, short(b))
			}
		})
	}
}

func TestDepthLimitMatches(t *testing.T) {
	// MaxDepth nested lists encode and decode; one more fails both ways.
	deep := List{}
	for range MaxDepth - 1 {
		deep = List{deep}
	}
	b, err := Marshal(List{deep})
	if err != nil {
		t.Fatalf("Marshal(%d nested lists): %v", MaxDepth, err)
	}
	if _, err := Unmarshal(b); err != nil {
		t.Fatalf("Unmarshal(%d nested lists): %v", MaxDepth, err)
	}
	if _, err := Marshal(List{List{deep}}); err == nil {
		t.Errorf("Marshal(%d nested lists) succeeded, want error", MaxDepth+1)
	}
	b = append([]byte{131, 108, 0, 0, 0, 1}, b[1:]...)
	b = append(b, 106)
	if _, err := Unmarshal(b); err == nil {
		t.Errorf("Unmarshal(%d nested lists) succeeded, want error", MaxDepth+1)
	}
}

func TestMarshalCompressed(t *testing.T) {
	term := List(repeat(Binary("hello"), 100))
	b, err := MarshalCompressed(term, -1)
	if err != nil {
		t.Fatal(err)
	}
	if b[1] != 80 {
		t.Errorf("MarshalCompressed(...) = %x, want tag 80", b[:2])
	}
	got, err := Unmarshal(b)
	if err != nil || !reflect.DeepEqual(got, term) {
		t.Errorf("Unmarshal(%x) = %v, %v, want %v", b, got, err, term)
	}
	// Too small to gain from compression: sent plain, as erl does.
	b, err = MarshalCompressed(Atom("ok"), -1)
	if want := []byte{131, 119, 2, 'o', 'k'}; err != nil || !bytes.Equal(b, want) {
		t.Errorf("MarshalCompressed(ok) = %x, %v, want %x", b, err, want)
	}
}

func TestGoStringError(t *testing.T) {
	for _, term := range []Term{"hello", Tuple{Atom("ok"), "hello"}, Map{{Atom("k"), "hello"}}} {
		_, err := Marshal(term)
		if err == nil {
			t.Fatalf("Marshal(%#v) succeeded, want an error", term)
		}
		for _, want := range []string{`Go string "hello"`, "ei.Atom for an atom", "ei.Binary for a binary", "ei.String for a list of bytes"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Marshal(%#v) error %q does not say %q", term, err, want)
			}
		}
	}
	_, err := Marshal(strings.Repeat("x", 100))
	if err == nil || !strings.Contains(err.Error(), `"`+strings.Repeat("x", 32)+`"...`) || strings.Contains(err.Error(), strings.Repeat("x", 33)) {
		t.Errorf("Marshal(long Go string) error %q, want the string cut to 32 bytes", err)
	}
}
