package ei

import (
	"bytes"
	"errors"
	"math/big"
	"testing"
)

func TestParseTerm(t *testing.T) {
	two100, _ := new(big.Int).SetString("1267650600228229401496703205376", 10)
	tests := []struct {
		in   string
		want Term
	}{
		{"[]", List{}},
		{" [ ] ", List{}},
		{"[[a,b,c]]", List{List{Atom("a"), Atom("b"), Atom("c")}}},
		{"[a@b, aB9_]", List{Atom("a@b"), Atom("aB9_")}},
		{"['Hello W', '', 'a\\'b']", List{Atom("Hello W"), Atom(""), Atom("a'b")}},
		{"[0, 42, -7, +7, - 7]", List{int64(0), int64(42), int64(-7), int64(7), int64(-7)}},
		{"[1_000, 16#ff, 2#101, 36#Z, -16#10]", List{int64(1000), int64(255), int64(5), int64(35), int64(-16)}},
		{"[$a, $\\n, $\\s, -$a]", List{int64('a'), int64('\n'), int64(' '), int64(-'a')}},
		{"[1267650600228229401496703205376, -1267650600228229401496703205376]", List{two100, new(big.Int).Neg(two100)}},
		{"[9223372036854775807, -9223372036854775808]", List{int64(9223372036854775807), int64(-9223372036854775808)}},
		{"[2.5, -0.5, 1.0e10, 1.5E-3, 2.0e+2]", List{2.5, -0.5, 1e10, 1.5e-3, 200.0}},
		{`["abc", ""]`, List{String("abc"), List{}}},
		{`["a" "b"  "c"]`, List{String("abc")}},
		{`["\b\d\e\f\n\r\s\t\v\\\"\'\101\x41\x{41}\^a\z"]`, List{String("\b\x7f\x1b\f\n\r \t\v\\\"'AAA\x01z")}},
		{`["é"]`, List{String("\xe9")}},
		{`["Ĭx"]`, List{List{int64(300), int64('x')}}},
		{`["\x{12c}"]`, List{List{int64(300)}}},
		{`[<<>>, <<1,2,256>>, <<"ab">>, <<"é">>, <<"é"/utf8>>, <<"a", 1, $b>>]`,
			List{Binary{}, Binary{1, 2, 0}, Binary("ab"), Binary{0xe9}, Binary("é"), Binary{'a', 1, 'b'}}},
		{"[{}, {a}, {a, {b, c}}]", List{Tuple{}, Tuple{Atom("a")}, Tuple{Atom("a"), Tuple{Atom("b"), Atom("c")}}}},
		{"[#{}, #{a => 1, \"b\" => [2]}]", List{Map{}, Map{{Key: Atom("a"), Value: int64(1)}, {Key: String("b"), Value: List{int64(2)}}}}},
		{"[1 | 2]", ImproperList{Elems: []Term{int64(1)}, Tail: int64(2)}},
		{"[1, 2 | [3]]", List{int64(1), int64(2), int64(3)}},
		{`[1 | "ab"]`, List{int64(1), int64('a'), int64('b')}},
		{"[1 | [2 | x]]", ImproperList{Elems: []Term{int64(1), int64(2)}, Tail: Atom("x")}},
		{"[a]. ", List{Atom("a")}},
		{"% comment\n[a % more\n]", List{Atom("a")}},
		{"{a}", Tuple{Atom("a")}},
		{"[élan, ßa, aÀ]", List{Atom("élan"), Atom("ßa"), Atom("aÀ")}},
		{"[<<1:1>>, <<1, 2:3>>, <<1:16>>, <<-1:4>>, <<\"\">>, <<1:4, 1:4>>]", List{BitBinary{Data: []byte{0x80}, Bits: 1},
			BitBinary{Data: []byte{1, 0x40}, Bits: 3}, Binary{0, 1}, BitBinary{Data: []byte{0xf0}, Bits: 4}, Binary{}, Binary{0x11}}},
		{"[fun lists:map/2, fun 'M':'f g' / 0]", List{Export{Module: "lists", Function: "map", Arity: 2}, Export{Module: "M", Function: "f g"}}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseTerm(tt.in)
			if err != nil {
				t.Fatalf("ParseTerm(%q) error: %v", tt.in, err)
			}
			if !sameTerm(got, tt.want) {
				t.Errorf("ParseTerm(%q) = %#v, want %#v", tt.in, got, tt.want)
			}
		})
	}
}

// sameTerm compares terms by their encoding, which also tells int64 and
// *big.Int apart.
func sameTerm(a, b Term) bool {
	ea, err1 := Marshal(a)
	eb, err2 := Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ea, eb) && sameShape(a, b)
}

// sameShape checks the Go types that encode alike: String and an
// List of small integers.
func sameShape(a, b Term) bool {
	switch a := a.(type) {
	case List:
		b, ok := b.(List)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !sameShape(a[i], b[i]) {
				return false
			}
		}
		return true
	case String:
		_, ok := b.(String)
		return ok
	}
	return true
}

func TestParseTermErrors(t *testing.T) {
	tests := []struct {
		in     string
		offset int
	}{
		{"", 0},
		{"[", 1},
		{"[a,]", 3},
		{"[a b]", 3},
		{"[a] b", 4},
		{"[X]", 1},
		{"[_]", 1},
		{"{a", 2},
		{"[1 | 2, 3]", 6},
		{"[|1]", 1},
		{`["abc]`, 1},
		{`['abc]`, 1},
		{`["\x{zz}"]`, 2},
		{"[#{a}]", 4},
		{"[#{a => }]", 8},
		{"[<<a>>]", 3},
		{"[<<1:0>>]", 5},
		{"[<<1:65>>]", 5},
		{"[<<1/big>>]", 4},
		{"[fun m:f]", 8},
		{"[fun m:f/256]", 1},
		{"[fun 1:f/2]", 1},
		{"[<<1.5>>]", 3},
		{"[-]", 1},
		{"[1#0]", 1},
		{"[37#0]", 1},
		{"[$]", 3},
		{"[" + string(bytes.Repeat([]byte("a"), 256)) + "]", 1},
		{"[<0.1.0>]", 1},
		{string(bytes.Repeat([]byte("["), 2000)), 1001},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseTerm(tt.in)
			var perr *SyntaxError
			if !errors.As(err, &perr) {
				t.Fatalf("ParseTerm(%q) = %#v, %v, want a *SyntaxError", tt.in, got, err)
			}
			if perr.Offset != tt.offset {
				t.Errorf("ParseTerm(%q) error %q at offset %d, want offset %d", tt.in, err, perr.Offset, tt.offset)
			}
		})
	}
}

// FuzzParseTerm checks that parsing never panics and that whatever parses
// can be encoded and printed.
func FuzzParseTerm(f *testing.F) {
	for _, s := range []string{"[]", `[a, 'B', "s", <<1,"x">>, #{k => v}, {1, 2.5}, 16#ff, $a | t]`, `["\x{41}\^a\101"]`, "[1 | [2]]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		term, err := ParseTerm(s)
		if err != nil {
			return
		}
		if _, err := Marshal(term); err != nil {
			t.Fatalf("ParseTerm(%q) = %#v, which Marshal rejects: %v", s, term, err)
		}
		text := FormatTerm(term)
		back, err := ParseTerm(text)
		if err != nil {
			t.Fatalf("ParseTerm(FormatTerm(ParseTerm(%q))) = %v; FormatTerm gave %s", s, err, text)
		}
		if Compare(back, term) != 0 {
			t.Fatalf("ParseTerm(FormatTerm(ParseTerm(%q))) = %s, want %s", s, FormatTerm(back), text)
		}
		if again := FormatTerm(back); again != text {
			t.Fatalf("FormatTerm is not stable: %s then %s", text, again)
		}
		w := AppendFormat(nil, term, 'w')
		if back, err := ParseTerm(string(w)); err != nil || Compare(back, term) != 0 {
			t.Fatalf("ParseTerm(%s) = %v, %v, want %s", w, back, err, text)
		}
		AppendPrintTerm(nil, term)
	})
}
