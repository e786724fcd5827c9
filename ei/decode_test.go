package ei

import (
	"bytes"
	"compress/zlib"
	"errors"
	"math/big"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name   string
		data   []byte
		offset int // of the reported error
		msg    string
	}{
		{"empty", []byte{}, 0, "truncated term"},
		{"unknown_tag", []byte{1}, 0, "unknown tag 1"},
		{"version_inside", []byte{131, 97, 1}, 0, "version byte"},
		{"local_ext", []byte{121, 0}, 0, "LOCAL_EXT"},
		{"fun_ext", []byte{117, 0, 0, 0, 0}, 0, "FUN_EXT"},
		{"compressed_inside", []byte{80, 0, 0, 0, 1}, 0, "compressed"},
		{"small_integer_short", []byte{97}, 0, "truncated"},
		{"integer_short", []byte{98, 0, 0, 0}, 0, "truncated"},
		{"binary_huge_length", []byte{
			109,                    // BINARY_EXT
			0xff, 0xff, 0xff, 0xff, // Len: 2^32-1
			1, 2, 3, 4, 5, // only 5 bytes
		}, 0, "truncated BINARY_EXT"},
		{"list_huge_length", []byte{
			108,                    // LIST_EXT
			0xff, 0xff, 0xff, 0xff, // Length: 2^32-1
			106, 106, 106, 106, 106,
		}, 0, "truncated LIST_EXT"},
		{"list_no_tail", []byte{
			108,        // LIST_EXT
			0, 0, 0, 1, // Length
			97, 1, // element, then no tail
		}, 0, "truncated LIST_EXT"},
		{"tuple_huge_arity", []byte{
			105,                    // LARGE_TUPLE_EXT
			0xff, 0xff, 0xff, 0xff, // Arity
			106, 106, 106, 106, 106,
		}, 0, "truncated LARGE_TUPLE_EXT"},
		{"map_huge_arity", []byte{
			116,              // MAP_EXT
			0x80, 0, 0, 0x01, // Arity: 2 * Arity overflows 32 bits
			106, 106,
		}, 0, "truncated MAP_EXT"},
		{"map_odd", []byte{
			116,        // MAP_EXT
			0, 0, 0, 1, // Arity
			106, // key, no value
		}, 0, "truncated MAP_EXT"},
		{"large_big_huge", []byte{
			111,                    // LARGE_BIG_EXT
			0xff, 0xff, 0xff, 0xff, // n
			0, 1, 2, 3,
		}, 0, "truncated LARGE_BIG_EXT"},
		{"string_short", []byte{107, 0, 5, 'a'}, 0, "truncated STRING_EXT"},
		{"bit_binary_bits_9", []byte{77, 0, 0, 0, 1, 9, 0}, 0, "bits"},
		{"bit_binary_bits_0", []byte{77, 0, 0, 0, 1, 0, 0}, 0, "bits"},
		{"bit_binary_empty_bits", []byte{77, 0, 0, 0, 0, 3}, 0, "bits"},
		{"float_nan", []byte{70, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0}, 0, "not an Erlang float"},
		{"float_inf", []byte{70, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0}, 0, "not an Erlang float"},
		{"float_ext_garbage", append([]byte{99}, make([]byte, 31)...), 0, "bad FLOAT_EXT"},
		{"atom_bad_utf8", []byte{119, 1, 0xff}, 0, "UTF-8"},
		{"atom_too_long", append([]byte{118, 1, 0}, bytes.Repeat([]byte{'a'}, 256)...), 0, "more than 255"},
		{"atom_latin1_too_long", append([]byte{100, 1, 0}, bytes.Repeat([]byte{'a'}, 256)...), 0, "more than 255"},
		{"atom_cache_empty", []byte{82, 0}, 0, "ATOM_CACHE_REF 0"},
		{"pid_node_not_atom", []byte{88, 97, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 1, "want an atom"},
		{"pid_short", []byte{88, 119, 1, 'a', 0, 0, 0}, 0, "truncated NEW_PID_EXT"},
		{"ref_zero_words", []byte{90, 0, 0, 119, 1, 'a', 0, 0, 0, 0}, 0, "0 ID words"},
		{"ref_six_words", append([]byte{90, 0, 6, 119, 1, 'a', 0, 0, 0, 0}, make([]byte, 24)...), 0, "6 ID words"},
		{"export_arity_big", []byte{113, 119, 1, 'm', 119, 1, 'f', 98, 0, 0, 1, 0}, 0, "arity 256"},
		{"fun_size_mismatch", []byte{
			112,        // NEW_FUN_EXT
			0, 0, 0, 1, // Size: wrong
			0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // Arity, Uniq
			0, 0, 0, 0, // Index
			0, 0, 0, 0, // NumFree
			119, 1, 'm', // Module
			97, 0, // OldIndex
			97, 0, // OldUniq
			88, 119, 1, 'a', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // Pid
		}, 0, "declares 1 bytes"},
		{"fun_old_uniq_negative", []byte{
			112,        // NEW_FUN_EXT
			0, 0, 0, 0, // Size
			0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // Arity, Uniq
			0, 0, 0, 0, // Index
			0, 0, 0, 0, // NumFree
			119, 1, 'm', // Module
			98, 0xff, 0xff, 0xff, 0xff, // OldIndex: -1
		}, 33, "out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d Decoder
			got, n, err := d.Decode(tt.data)
			var pe *ProtocolError
			if !errors.As(err, &pe) || pe.Offset != tt.offset || !strings.Contains(pe.Msg, tt.msg) || !strings.HasPrefix(pe.Msg, "ei: ") {
				t.Errorf("Decode(%x) = %v, %d, %v, want ProtocolError at %d containing %q", tt.data, got, n, err, tt.offset, tt.msg)
			}
			r := NewReader(tt.data)
			if err := r.Skip(); err == nil || r.Offset() != 0 {
				t.Errorf("Skip(%x) = %v at offset %d, want error at 0", tt.data, err, r.Offset())
			}
		})
	}
}

// TestDecodeTruncated checks that every strict prefix of every golden fails
// cleanly.
func TestDecodeTruncated(t *testing.T) {
	for _, g := range readGoldens(t) {
		if g.data[1] == tagCompressed {
			continue
		}
		for i := 1; i < len(g.data)-1; i++ {
			var d Decoder
			if got, _, err := d.Decode(g.data[1:i]); err == nil {
				t.Errorf("%s: Decode(%s) = %#v, want error", g.name, short(g.data[1:i]), got)
			}
			if got, err := Unmarshal(g.data[:i]); err == nil {
				t.Errorf("%s: Unmarshal(%s) = %#v, want error", g.name, short(g.data[:i]), got)
			}
		}
	}
}

// TestDecodeHostileAllocation checks that a huge declared length does not
// allocate before being checked.
func TestDecodeHostileAllocation(t *testing.T) {
	inputs := [][]byte{
		{131, 109, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5},
		{131, 108, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5},
		{131, 105, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5},
		{131, 116, 0x7f, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5},
		{131, 111, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5},
		{131, 77, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5},
		{131, 80, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5},
		{131, 80, 0x04, 0, 0, 0, 1, 2, 3, 4, 5}, // 64 MiB declared
	}
	for _, in := range inputs {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := Unmarshal(in)
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Errorf("Unmarshal(%x) succeeded, want error", in)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
			t.Errorf("Unmarshal(%x) allocated %d bytes", in, alloc)
		}
	}
}

func compress(t *testing.T, size uint32, payload []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	buf.Write([]byte{131, 80, byte(size >> 24), byte(size >> 16), byte(size >> 8), byte(size)})
	zw := zlib.NewWriter(&buf)
	zw.Write(payload)
	zw.Close()
	return buf.Bytes()
}

// compressedZeros returns a compressed term declaring size bytes whose
// zlib data inflates to n MiB of zeros (n >= 2), and has no end. It
// compresses 2 MiB and repeats the second, which inflates to the same
// MiB of zeros wherever it follows zeros, so that making a large bomb
// is cheap.
func compressedZeros(t testing.TB, size uint32, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	buf.Write([]byte{131, 80, byte(size >> 24), byte(size >> 16), byte(size >> 8), byte(size)})
	zw, err := zlib.NewWriterLevel(&buf, zlib.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, 1<<20)
	zw.Write(zeros)
	zw.Flush()
	mark := buf.Len()
	zw.Write(zeros)
	zw.Flush()
	again := bytes.Clone(buf.Bytes()[mark:])
	for range n - 2 {
		buf.Write(again)
	}
	return buf.Bytes()
}

// TestUnmarshalCompressedBomb checks that a compressed term inflating past
// its declared size costs no more than that size and a little: inflating
// stops at the first byte too many.
func TestUnmarshalCompressedBomb(t *testing.T) {
	const declared = MaxUncompressedSize
	const inflated = 2 * declared >> 20 // MiB
	data := compressedZeros(t, declared, inflated)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := Unmarshal(data)
	runtime.ReadMemStats(&after)
	var pe *ProtocolError
	if !errors.As(err, &pe) || !strings.Contains(pe.Msg, "inflates to more") {
		t.Errorf("Unmarshal(%d bytes inflating to %d MiB, declaring %d) = %v, want a *ProtocolError saying it inflates to more", len(data), inflated, declared, err)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("Unmarshal(%d bytes declaring %d, inflating to %d MiB) allocated %d bytes", len(data), declared, inflated, alloc)
	if most := uint64(declared + 1<<20); alloc > most {
		t.Errorf("Unmarshal(%d bytes declaring %d, inflating to %d MiB) allocated %d bytes, want at most %d", len(data), declared, inflated, alloc, most)
	}
}

func TestUnmarshalErrors(t *testing.T) {
	okTerm := []byte{119, 2, 'o', 'k'}
	tests := []struct {
		name string
		data []byte
		msg  string
	}{
		{"empty", nil, "version byte"},
		{"no_version", okTerm, "version byte"},
		{"only_version", []byte{131}, "truncated"},
		{"trailing", []byte{131, 97, 1, 0}, "1 bytes after the term"},
		{"compressed_short_header", []byte{131, 80, 0, 0}, "truncated compressed"},
		{"compressed_too_large", []byte{131, 80, 0x04, 0, 0, 1, 0x78, 0x9c}, "MaxUncompressedSize"},
		{"compressed_size_larger", compress(t, 5, okTerm), "declares 5 bytes, inflates to 4"},
		{"compressed_size_smaller", compress(t, 3, okTerm), "declares 3 bytes, inflates to more"},
		{"compressed_size_unreachable", []byte{131, 80, 0, 0, 0x10, 0x21, 0x78, 0x9c, 0x03, 0x00}, "more than 4 bytes of zlib data can hold"},
		{"compressed_not_zlib", []byte{131, 80, 0, 0, 0, 4, 1, 2, 3, 4}, "compressed term"},
		{"compressed_trailing_term_bytes", compress(t, 5, append(okTerm, 0)), "1 bytes after the term"},
		{"compressed_bad_term", compress(t, 1, []byte{1}), "unknown tag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Unmarshal(tt.data)
			var pe *ProtocolError
			if !errors.As(err, &pe) || !strings.Contains(pe.Msg, tt.msg) {
				t.Errorf("Unmarshal(%x) = %v, %v, want ProtocolError containing %q", tt.data, got, err, tt.msg)
			}
		})
	}
	// A valid compressed term.
	data := compress(t, 4, okTerm)
	if got, err := Unmarshal(data); err != nil || got != Atom("ok") {
		t.Errorf("Unmarshal(%x) = %v, %v, want ok", data, got, err)
	}
}

func TestDecoderAtomCache(t *testing.T) {
	data := []byte{
		104, 2, // SMALL_TUPLE_EXT
		82, 0, // ATOM_CACHE_REF 0
		82, 2, // ATOM_CACHE_REF 2
	}
	d := Decoder{AtomCache: []Atom{"a", "b", "c"}}
	got, n, err := d.Decode(data)
	if want := (Tuple{Atom("a"), Atom("c")}); err != nil || n != len(data) || !reflect.DeepEqual(got, want) {
		t.Errorf("Decode(%x) = %v, %d, %v, want %v", data, got, n, err, want)
	}
	d.AtomCache = d.AtomCache[:2]
	if got, _, err := d.Decode(data); err == nil {
		t.Errorf("Decode(%x) with 2 cached atoms = %v, want error", data, got)
	}
	var nilDecoder *Decoder
	if got, _, err := nilDecoder.Decode([]byte{97, 1}); err != nil || got != int64(1) {
		t.Errorf("nil Decoder: Decode(6101) = %v, %v, want 1", got, err)
	}
}

func TestReader(t *testing.T) {
	big70 := new(big.Int).Lsh(big.NewInt(1), 70)
	data, err := Marshal(Tuple{
		Atom("call"),
		int64(-5),
		uint64(1 << 63),
		big70,
		2.5,
		true,
		Binary("bin"),
		String("str"),
		List{int64('l'), int64('s')},
		Map{{Atom("k"), List{}}},
		Pid{Node: "n@h", ID: 1},
		Port{Node: "n@h", ID: 2},
		Ref{Node: "n@h", ID: []uint32{3}},
		List{Atom("skipped"), Tuple{Binary("x")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := NewReader(data)
	check := func(what string, got, want any, err error) {
		t.Helper()
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s = %#v, %v, want %#v (offset %d)", what, got, err, want, r.Offset())
		}
	}
	// A failed read consumes nothing.
	if _, err := r.ReadAtom(); err == nil || r.Offset() != 0 {
		t.Fatalf("ReadAtom before ReadVersion = %v at offset %d, want error at 0", err, r.Offset())
	}
	check("ReadVersion", nil, nil, r.ReadVersion())
	if _, err := r.ReadListHeader(); err == nil || r.Offset() != 1 {
		t.Fatalf("ReadListHeader on a tuple = %v at offset %d, want error at 1", err, r.Offset())
	}
	n, err := r.ReadTupleHeader()
	check("ReadTupleHeader", n, 14, err)
	a, err := r.ReadAtom()
	check("ReadAtom", a, Atom("call"), err)
	if _, err := r.ReadUint(); err == nil {
		t.Fatalf("ReadUint(-5) succeeded")
	}
	i, err := r.ReadInt()
	check("ReadInt", i, int64(-5), err)
	if _, err := r.ReadInt(); err == nil {
		t.Fatalf("ReadInt(2^63) succeeded")
	}
	u, err := r.ReadUint()
	check("ReadUint", u, uint64(1<<63), err)
	x, err := r.ReadBigInt()
	check("ReadBigInt", x, big70, err)
	f, err := r.ReadFloat()
	check("ReadFloat", f, 2.5, err)
	bo, err := r.ReadBool()
	check("ReadBool", bo, true, err)
	b, err := r.ReadBinary()
	check("ReadBinary", b, []byte("bin"), err)
	s, err := r.ReadString()
	check("ReadString", s, "str", err)
	s, err = r.ReadString()
	check("ReadString(LIST_EXT)", s, "ls", err)
	n, err = r.ReadMapHeader()
	check("ReadMapHeader", n, 1, err)
	a, err = r.ReadAtom()
	check("ReadAtom", a, Atom("k"), err)
	n, err = r.ReadListHeader()
	check("ReadListHeader(NIL_EXT)", n, 0, err)
	p, err := r.ReadPid()
	check("ReadPid", p, Pid{Node: "n@h", ID: 1}, err)
	po, err := r.ReadPort()
	check("ReadPort", po, Port{Node: "n@h", ID: 2}, err)
	ref, err := r.ReadRef()
	check("ReadRef", ref, Ref{Node: "n@h", ID: []uint32{3}}, err)
	n, err = r.ReadListHeader()
	check("ReadListHeader", n, 2, err)
	check("Skip", nil, nil, r.Skip())
	tt, err := r.ReadTerm()
	check("ReadTerm", tt, Tuple{Binary("x")}, err)
	check("ReadNil", nil, nil, r.ReadNil())
	if r.Len() != 0 {
		t.Errorf("Len() = %d after the last term, want 0", r.Len())
	}
	if _, err := r.ReadTerm(); err == nil {
		t.Errorf("ReadTerm at the end succeeded")
	}
}

// TestConcurrentUnmarshal exercises the shared atom table from several
// goroutines; run with -race.
func TestConcurrentUnmarshal(t *testing.T) {
	gs := readGoldens(t)
	want := make([]Term, len(gs))
	for i, g := range gs {
		want[i], _ = Unmarshal(g.data)
	}
	done := make(chan struct{})
	for range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 20 {
				for i, g := range gs {
					if got, err := Unmarshal(g.data); err != nil || !reflect.DeepEqual(got, want[i]) {
						t.Errorf("%s: Unmarshal(%s) = %#v, %v, want %#v", g.name, short(g.data), got, err, want[i])
						return
					}
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
}

// TestDecodeArena checks that values carved from the decoder's shared
// slabs are independent: appending to or changing one leaves its
// neighbours alone, and each keeps its own Go type.
func TestDecodeArena(t *testing.T) {
	want := List{
		Binary("ab"), Binary("cd"), Binary{},
		String("ef"), String("gh"),
		BitBinary{Data: []byte{0xf0}, Bits: 4},
		int64(1000), 2.5, int64(-7), 1e300, int64(1) << 40,
		Tuple{Atom("t")}, List{Atom("l")}, Tuple{}, List{int64(1), int64(2)},
		Map{{int64(300), Tuple{}}}, Map{},
		Pid{Node: "n@h", ID: 1}, Pid{Node: "n@h", ID: 2},
		Port{Node: "n@h", ID: 3}, Port{Node: "n@h", ID: 4},
		Ref{Node: "n@h", ID: []uint32{5, 6}}, Ref{Node: "n@h", ID: []uint32{7}},
		ImproperList{Elems: []Term{int64(500)}, Tail: Atom("x")},
		ImproperList{Elems: []Term{int64(600)}, Tail: Atom("y")},
	}
	data, err := Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Unmarshal(data)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Unmarshal(%x) = %#v, %v, want %#v", data, got, err, want)
	}
	for i, e := range got.(List) {
		if reflect.TypeOf(e) != reflect.TypeOf(want[i]) {
			t.Errorf("element %d is a %T, want %T", i, e, want[i])
		}
	}
	l := got.(List)
	b0 := l[0].(Binary)
	_ = append(b0, 'X', 'Y', 'Z')
	b0[0] = 'A'
	_ = append(l[2].(Binary), 'Q')
	_ = append(l[5].(BitBinary).Data, 'R')
	_ = append(l[11].(Tuple), Atom("u"))
	_ = append(l[0:0:0], nil)
	l[14].(List)[0] = int64(9)
	_ = append(l[15].(Map), Pair{})
	r := l[21].(Ref)
	_ = append(r.ID, 99)
	r.ID[0] = 8
	_ = append(l[23].(ImproperList).Elems, nil)
	want[0] = Binary("Ab")
	want[14] = List{int64(9), int64(2)}
	want[21] = Ref{Node: "n@h", ID: []uint32{8, 6}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after writes to some elements, Unmarshal(%x) = %#v, want %#v", data, got, want)
	}
}
