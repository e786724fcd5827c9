package ei

import (
	"fmt"
	"math"
	"reflect"
	"runtime"
	"slices"
	"testing"
	"unsafe"
)

// TestArenaBoxes checks that the decoder boxes values in its arena: that
// the interface layout it assumes holds. If not, it would still work, but
// with an allocation per value.
func TestArenaBoxes(t *testing.T) {
	if !arenaBoxes {
		t.Fatal("arenaBoxes is false: decoded values are boxed one allocation each")
	}
}

// pointerWords returns, for each word of a value of type typ, whether the
// garbage collector takes it as a pointer. The type word of an interface
// is not one: it points to a type, never into the heap.
func pointerWords(typ reflect.Type) []bool {
	const word = unsafe.Sizeof(uintptr(0))
	words := make([]bool, (typ.Size()+word-1)/word)
	var walk func(t reflect.Type, off uintptr)
	walk = func(t reflect.Type, off uintptr) {
		i := off / word
		switch t.Kind() {
		case reflect.Pointer, reflect.UnsafePointer, reflect.Map, reflect.Chan, reflect.Func, reflect.String, reflect.Slice:
			words[i] = true
		case reflect.Interface:
			words[i+1] = true
		case reflect.Struct:
			for j := range t.NumField() {
				f := t.Field(j)
				walk(f.Type, off+f.Offset)
			}
		case reflect.Array:
			for j := range t.Len() {
				walk(t.Elem(), off+uintptr(j)*t.Elem().Size())
			}
		}
	}
	walk(typ, 0)
	return words
}

// TestArenaCellLayout checks that each type the arena puts in a cell (or
// views a slab as) fits it and has its pointers exactly where the cell
// has them, so that the garbage collector sees every pointer stored and
// takes no number for one.
func TestArenaCellLayout(t *testing.T) {
	for _, tt := range []struct{ value, cell any }{
		{Tuple{}, cell3{}},
		{List{}, cell3{}},
		{Map{}, cell3{}},
		{Binary{}, cell3{}},
		{String(""), cell3{}},
		{Ref{}, cell6{}},
		{[2]cell3{}, cell6{}},
		{Pid{}, cell4{}},
		{Port{}, cell4{}},
		{BitBinary{}, cell4{}},
		{Pair{}, [2]Term{}},
		{int64(0), uint64(0)},
		{float64(0), uint64(0)},
		{[2]uint32{}, uint64(0)},
	} {
		v, c := reflect.TypeOf(tt.value), reflect.TypeOf(tt.cell)
		t.Run(fmt.Sprintf("%v in %v", v, c), func(t *testing.T) {
			if v.Size() > c.Size() || v.Align() > c.Align() {
				t.Fatalf("%v (size %d, align %d) does not fit %v (size %d, align %d)", v, v.Size(), v.Align(), c, c.Size(), c.Align())
			}
			vp, cp := pointerWords(v), pointerWords(c)
			for i, p := range vp {
				if p != cp[i] {
					t.Errorf("word %d: %v has pointer=%v, %v has pointer=%v", i, v, p, c, cp[i])
				}
			}
		})
	}
}

// TestMeasure checks that measure counts all that decoding takes from the
// arena: decoding any valid term of the test tables and goldens (all
// small enough to fit the blocks) makes no slab beyond those reserved.
func TestMeasure(t *testing.T) {
	var datas [][]byte
	for _, g := range readGoldens(t) {
		if g.data[1] != tagCompressed {
			datas = append(datas, g.data[1:])
		}
	}
	for _, tt := range codecTests {
		datas = append(datas, tt.data)
	}
	for _, data := range datas {
		checkMeasure(t, data)
	}
}

// checkMeasure checks that decoding data with a Reader takes from the
// arena no more than measure counted, if data is a valid term that whole
// measures (one that holds others, of minMeasured bytes or more, not
// mostly flat), small enough for every piece and block.
func checkMeasure(t *testing.T, data []byte) {
	t.Helper()
	r := NewReader(data)
	if len(data) > maxSlab || len(data) < minMeasured || !r.container() {
		return
	}
	if _, ok := r.measure(0); !ok {
		return // not a valid term, or not worth measuring
	}
	r.AtomCache = []Atom{"a", "n@h", "é"}
	if _, err := r.ReadTerm(); err != nil {
		return
	}
	if r.a.overflows != 0 {
		n, ok := r.measure(0)
		t.Errorf("decoding %x took %d pieces beyond what measure counted (%+v, %v)", data, r.a.overflows, n, ok)
	}
}

// TestUnmarshalAllocs checks how many allocations decoding the libei
// benchmark's terms takes: one per memory layout at most, however many
// values the term holds.
// minAllocs returns the fewest allocations f made per run in five tries
// of testing.AllocsPerRun: that counts the allocations of the whole
// process, and any goroutine running meanwhile adds its own, never
// fewer.
func minAllocs(f func()) float64 {
	least := math.Inf(1)
	for range 5 {
		least = min(least, testing.AllocsPerRun(100, f))
	}
	return least
}

func TestUnmarshalAllocs(t *testing.T) {
	pid := Pid{Node: "erl@host", ID: 85, Creation: 3}
	records := make(List, 20)
	for i := range records {
		records[i] = Tuple{Atom("user"), int64(i), Binary(fmt.Sprintf("user-%d", i)), Atom("active")}
	}
	ints := make(List, 100)
	for i := range ints {
		ints[i] = int64(1000 * (i + 1))
	}
	for _, tt := range []struct {
		name   string
		term   Term
		allocs float64
	}{
		// Terms; cells for the tuples and the reference, and one more
		// whose words hold the reference's ID; a cell for the pid.
		{"gen_call", Tuple{Atom("$gen_call"), Tuple{pid, Ref{Node: "erl@host", Creation: 3, ID: []uint32{1, 2, 3}}}, Tuple{Atom("get"), int64(42)}}, 3},
		// Terms; cells for the map, the binary and the list, and one
		// more whose words hold the binary's bytes and the float.
		{"map", Map{{Key: Atom("name"), Value: Binary("alice")}, {Key: Atom("score"), Value: 3.14}, {Key: Atom("tags"), Value: List{Atom("a")}}}, 2},
		{"ints", ints, 3},
		{"records", records, 3},
		{"binary_64k", Binary(make([]byte, 64<<10)), 2},
	} {
		data, err := Marshal(tt.term)
		if err != nil {
			t.Fatal(err)
		}
		if got := minAllocs(func() { Unmarshal(data) }); got > tt.allocs {
			t.Errorf("Unmarshal(%s) takes %v allocations, want at most %v", tt.name, got, tt.allocs)
		}
		var d Decoder
		d.Reuse = true
		d.Decode(data[1:])
		if got := minAllocs(func() { d.Decode(data[1:]) }); got != 0 {
			t.Errorf("Decode(%s) again with Reuse takes %v allocations, want 0", tt.name, got)
		}
	}
}

// TestDecoderReuse checks that a Decoder with Reuse decodes terms of
// every shape, one after the other, as Unmarshal does, and that it keeps
// at most maxReuseBytes of each block for the next term.
func TestDecoderReuse(t *testing.T) {
	d := Decoder{Reuse: true}
	check := func(name string, data []byte) {
		t.Helper()
		want, err := Unmarshal(data)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 { // the first time, and once its memory is reserved
			if got, n, err := d.Decode(data[1:]); err != nil || n != len(data)-1 || !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: Decode(%s) with Reuse = %#v, %d, %v, want %#v, %d", name, short(data), got, n, err, want, len(data)-1)
			}
		}
	}
	for _, g := range readGoldens(t) {
		if g.data[1] != tagCompressed {
			check(g.name, g.data)
		}
	}
	big := make(List, 100_000)
	for i := range big {
		big[i] = Tuple{int64(i << 20), Binary(make([]byte, 30))}
	}
	for _, term := range []Term{Binary(make([]byte, 3<<20)), big} {
		data, err := Marshal(term)
		if err != nil {
			t.Fatal(err)
		}
		check(fmt.Sprintf("%T", term), data)
		a := &d.mem.a
		kept := map[string]int{
			"terms": cap(a.terms) * 16, "words": cap(a.words) * 8,
			"seqs": cap(a.seqs) * 24, "binaries": cap(a.binaries) * 24,
		}
		for name, size := range kept {
			if size > maxReuseBytes {
				t.Errorf("after a %T of %d bytes, the Decoder keeps %d bytes of %s, want at most %d", term, len(data), size, name, maxReuseBytes)
			}
		}
	}
}

// TestMeasureFlat checks that measure gives up on a long list of small
// integers, which would gain nothing from it, but not on one of records.
func TestMeasureFlat(t *testing.T) {
	flat := make(List, 2*flatRun)
	records := make(List, 2*flatRun)
	for i := range flat {
		flat[i] = int64(i % 256)
		records[i] = Tuple{Atom("r"), int64(i)}
	}
	for _, tt := range []struct {
		name string
		term Term
		ok   bool
	}{{"flat", flat, false}, {"records", records, true}} {
		data, err := Marshal(tt.term)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := NewReader(data[1:]).measure(0); ok != tt.ok {
			t.Errorf("measure(%s) = %v, want %v", tt.name, ok, tt.ok)
		}
	}
}

// TestRecentAtoms checks the per-Reader cache of atoms against the
// encodings it must and must not match, anywhere in the data: at its
// start, after other bytes, and in its last 8 bytes.
func TestRecentAtoms(t *testing.T) {
	var ra recentAtoms
	for _, a := range []string{"get", "a\x00", "erl@host", "x", "fourteen-bytes", "fifteen-bytes.."} {
		ra.add(intern([]byte(a)))
	}
	enc := func(a string) []byte { return append([]byte{tagSmallAtomUTF8, byte(len(a))}, a...) }
	pad := []byte{tagNil, tagNil, tagNil, tagNil, tagNil, tagNil, tagNil, tagNil}
	for _, tt := range []struct {
		name string
		data []byte
		want string // "" for no match
	}{
		{"short", append(enc("get"), pad...), "get"},
		{"short at the end", enc("get"), "get"},
		{"long", append(enc("erl@host"), pad...), "erl@host"},
		{"long at the end", enc("erl@host"), "erl@host"},
		{"one byte at the end", enc("x"), "x"},
		{"truncated", enc("get")[:4], ""},
		{"truncated before a NUL", enc("a\x00")[:3], ""},
		{"other atom", append(enc("gex"), pad...), ""},
		{"longer atom", append(enc("erl@hosts"), pad...), ""},
		{"other long atom", append(enc("erl@hoxt"), pad...), ""},
		{"14 bytes", append(enc("fourteen-bytes"), pad...), "fourteen-bytes"},
		{"14 bytes at the end", enc("fourteen-bytes"), "fourteen-bytes"},
		{"14 bytes, other last byte", append(enc("fourteen-bytez"), pad...), ""},
		{"14 bytes, other 7th byte", append(enc("fourteXn-bytes"), pad...), ""},
		{"15 bytes", append(enc("fifteen-bytes.."), pad...), "fifteen-bytes.."},
		{"15 bytes, other last byte", append(enc("fifteen-bytes.!"), pad...), ""},
		{"truncated long", enc("fourteen-bytes")[:15], ""},
		{"Latin-1 atom", append([]byte{tagSmallAtom, 3, 'g', 'e', 't'}, pad...), ""},
		{"no atom", pad, ""},
	} {
		for _, before := range [][]byte{nil, {tagSmallInteger, 1}, pad, append(pad, 'g', 'e', 't')} {
			data := append(slices.Clip(before), tt.data...)
			e, end := ra.at(data, len(before))
			switch {
			case tt.want == "" && e != nil:
				t.Errorf("%s: at(%x, %d) = %q, want no match", tt.name, data, len(before), e.atom)
			case tt.want != "" && (e == nil || string(e.atom) != tt.want || end != len(before)+2+len(tt.want)):
				t.Errorf("%s: at(%x, %d) = %v, %d, want %q, %d", tt.name, data, len(before), e, end, tt.want, len(before)+2+len(tt.want))
			}
		}
	}
	for _, a := range []string{"get", "a\x00", "erl@host", "x", "gex", "erl@hosts", "", "a"} {
		e := ra.find([]byte(a))
		if known := a == "get" || a == "a\x00" || a == "erl@host" || a == "x"; known != (e != nil) || e != nil && string(e.atom) != a {
			t.Errorf("find(%q) = %v, want the entry: %v", a, e, known)
		}
	}
}

// TestArenaWordsInCell checks that the few words reserve puts in a
// cell3 (a reference's ID, a short binary, a float) keep their values
// once the rest of the term is garbage and collected, and that those
// terms are decoded as Marshal encoded them.
func TestArenaWordsInCell(t *testing.T) {
	ref := Ref{Node: "n@h", Creation: 7, ID: []uint32{0xdeadbeef, 2, 3}}
	// Each term, and the indexes of its elements that are words in the
	// cell.
	terms := []struct {
		term Term
		keep []int
	}{
		{Tuple{Atom("a"), ref, Tuple{Atom("b")}}, []int{1}},
		{Tuple{Binary("hello!"), Tuple{}, 2.5}, []int{0, 2}},
		{List{Tuple{int64(1 << 40)}, Binary("x")}, []int{1}},
	}
	var kept, want []Term
	for _, tt := range terms {
		data, err := Marshal(tt.term)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Unmarshal(data)
		if err != nil || !reflect.DeepEqual(got, tt.term) {
			t.Fatalf("Unmarshal(Marshal(%v)) = %v, %v", tt.term, got, err)
		}
		var r Reader
		r.data = data[1:]
		if n, ok := r.measure(0); !ok || n.words == 0 || n.words > cellWords {
			t.Fatalf("%v measures %+v, want 1..%d words", tt.term, n, cellWords)
		}
		// Keep only the pieces that live in the words of the cell.
		elems := reflect.ValueOf(got)
		for _, i := range tt.keep {
			kept = append(kept, elems.Index(i).Interface().(Term))
			want = append(want, reflect.ValueOf(tt.term).Index(i).Interface().(Term))
		}
	}
	runtime.GC()
	for range 1000 {
		_ = make([]byte, 64) // reuse freed memory, if any was freed
	}
	runtime.GC()
	if !reflect.DeepEqual(kept, want) {
		t.Errorf("after GC the kept pieces are %#v, want %#v", kept, want)
	}
}
