package ei

import (
	"reflect"
	"testing"
)

func addSeeds(f *testing.F, withVersion bool) {
	for _, g := range readGoldens(f) {
		if withVersion {
			f.Add(g.data)
		} else {
			f.Add(g.data[1:])
		}
	}
	for _, tt := range codecTests {
		if withVersion {
			f.Add(append([]byte{131}, tt.data...))
		} else {
			f.Add(tt.data)
		}
	}
}

// roundTrip checks that a decoded term encodes, and decodes back to itself
// with the same encoding.
func roundTrip(t *testing.T, data []byte, term Term) {
	enc, err := Marshal(term)
	if err != nil {
		t.Fatalf("Marshal(Unmarshal(%x)) error: %v (term %#v)", data, err, term)
	}
	again, err := Unmarshal(enc)
	if err != nil || !reflect.DeepEqual(again, term) {
		t.Fatalf("Unmarshal(Marshal(Unmarshal(%x))) = %#v, %v, want %#v", data, again, err, term)
	}
	if enc2, _ := Marshal(again); string(enc2) != string(enc) {
		t.Fatalf("Marshal is not stable: %x then %x", enc, enc2)
	}
}

func FuzzUnmarshal(f *testing.F) {
	addSeeds(f, true)
	f.Fuzz(func(t *testing.T, data []byte) {
		term, err := Unmarshal(data)
		if err != nil {
			return
		}
		roundTrip(t, data, term)
		textRoundTrip(t, term)
	})
}

// textRoundTrip checks that a decoded term prints in both styles, equals
// itself, and reads back from its text when it has a syntax.
func textRoundTrip(t *testing.T, term Term) {
	if Compare(term, term) != 0 {
		t.Fatalf("Compare(%s, itself) != 0", FormatTerm(term))
	}
	AppendPrintTerm(nil, term)
	for _, verb := range []byte{'p', 'w'} {
		text := AppendFormat(nil, term, verb)
		if !hasSyntax(term) {
			continue
		}
		back, err := ParseTerm(string(text))
		if err != nil || Compare(back, term) != 0 {
			t.Fatalf("ParseTerm(%s) = %v, %v, want the term back", text, back, err)
		}
	}
}

// FuzzDecoder checks Decoder against the Reader: both accept the same
// inputs and consume the same bytes.
func FuzzDecoder(f *testing.F) {
	addSeeds(f, false)
	f.Add([]byte{104, 2, 82, 0, 82, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		d := Decoder{AtomCache: []Atom{"a", "n@h", "é"}}
		term, n, derr := d.Decode(data)
		r := NewReader(data)
		r.AtomCache = d.AtomCache
		serr := r.Skip()
		if (derr == nil) != (serr == nil) || (derr == nil && r.Offset() != n) {
			t.Fatalf("Decode(%x) = %d, %v but Skip = %d, %v", data, n, derr, r.Offset(), serr)
		}
		if derr != nil {
			if r.Offset() != 0 {
				t.Fatalf("failed Skip(%x) consumed %d bytes", data, r.Offset())
			}
			return
		}
		if n <= 0 || n > len(data) {
			t.Fatalf("Decode(%x) consumed %d bytes", data, n)
		}
		r = NewReader(data)
		r.AtomCache = d.AtomCache
		if rt, err := r.ReadTerm(); err != nil || !reflect.DeepEqual(rt, term) || r.Offset() != n {
			t.Fatalf("ReadTerm(%x) = %#v, %v, want %#v", data, rt, err, term)
		}
		roundTrip(t, data, term)
	})
}
