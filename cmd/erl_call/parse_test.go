package main

import (
	"bytes"
	"errors"
	"math/big"
	"testing"

	"github.com/goei/goei/ei"
)

func TestParseTerm(t *testing.T) {
	two100, _ := new(big.Int).SetString("1267650600228229401496703205376", 10)
	tests := []struct {
		in   string
		want ei.Term
	}{
		{"[]", ei.List{}},
		{" [ ] ", ei.List{}},
		{"[[a,b,c]]", ei.List{ei.List{ei.Atom("a"), ei.Atom("b"), ei.Atom("c")}}},
		{"[a@b, aB9_]", ei.List{ei.Atom("a@b"), ei.Atom("aB9_")}},
		{"['Hello W', '', 'a\\'b']", ei.List{ei.Atom("Hello W"), ei.Atom(""), ei.Atom("a'b")}},
		{"[0, 42, -7, +7, - 7]", ei.List{int64(0), int64(42), int64(-7), int64(7), int64(-7)}},
		{"[1_000, 16#ff, 2#101, 36#Z, -16#10]", ei.List{int64(1000), int64(255), int64(5), int64(35), int64(-16)}},
		{"[$a, $\\n, $\\s, -$a]", ei.List{int64('a'), int64('\n'), int64(' '), int64(-'a')}},
		{"[1267650600228229401496703205376, -1267650600228229401496703205376]", ei.List{two100, new(big.Int).Neg(two100)}},
		{"[9223372036854775807, -9223372036854775808]", ei.List{int64(9223372036854775807), int64(-9223372036854775808)}},
		{"[2.5, -0.5, 1.0e10, 1.5E-3, 2.0e+2]", ei.List{2.5, -0.5, 1e10, 1.5e-3, 200.0}},
		{`["abc", ""]`, ei.List{ei.String("abc"), ei.List{}}},
		{`["a" "b"  "c"]`, ei.List{ei.String("abc")}},
		{`["\b\d\e\f\n\r\s\t\v\\\"\'\101\x41\x{41}\^a\z"]`, ei.List{ei.String("\b\x7f\x1b\f\n\r \t\v\\\"'AAA\x01z")}},
		{`["é"]`, ei.List{ei.String("\xe9")}},
		{`["Ĭx"]`, ei.List{ei.List{int64(300), int64('x')}}},
		{`["\x{12c}"]`, ei.List{ei.List{int64(300)}}},
		{`[<<>>, <<1,2,256>>, <<"ab">>, <<"é">>, <<"é"/utf8>>, <<"a", 1, $b>>]`,
			ei.List{ei.Binary{}, ei.Binary{1, 2, 0}, ei.Binary("ab"), ei.Binary{0xe9}, ei.Binary("é"), ei.Binary{'a', 1, 'b'}}},
		{"[{}, {a}, {a, {b, c}}]", ei.List{ei.Tuple{}, ei.Tuple{ei.Atom("a")}, ei.Tuple{ei.Atom("a"), ei.Tuple{ei.Atom("b"), ei.Atom("c")}}}},
		{"[#{}, #{a => 1, \"b\" => [2]}]", ei.List{ei.Map{}, ei.Map{{Key: ei.Atom("a"), Value: int64(1)}, {Key: ei.String("b"), Value: ei.List{int64(2)}}}}},
		{"[1 | 2]", ei.ImproperList{Elems: []ei.Term{int64(1)}, Tail: int64(2)}},
		{"[1, 2 | [3]]", ei.List{int64(1), int64(2), int64(3)}},
		{`[1 | "ab"]`, ei.List{int64(1), int64('a'), int64('b')}},
		{"[1 | [2 | x]]", ei.ImproperList{Elems: []ei.Term{int64(1), int64(2)}, Tail: ei.Atom("x")}},
		{"[a]. ", ei.List{ei.Atom("a")}},
		{"% comment\n[a % more\n]", ei.List{ei.Atom("a")}},
		{"{a}", ei.Tuple{ei.Atom("a")}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseTerm(tt.in)
			if err != nil {
				t.Fatalf("parseTerm(%q) error: %v", tt.in, err)
			}
			if !sameTerm(got, tt.want) {
				t.Errorf("parseTerm(%q) = %#v, want %#v", tt.in, got, tt.want)
			}
		})
	}
}

// sameTerm compares terms by their encoding, which also tells int64 and
// *big.Int apart.
func sameTerm(a, b ei.Term) bool {
	ea, err1 := ei.Marshal(a)
	eb, err2 := ei.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ea, eb) && sameShape(a, b)
}

// sameShape checks the Go types that encode alike: ei.String and an
// ei.List of small integers.
func sameShape(a, b ei.Term) bool {
	switch a := a.(type) {
	case ei.List:
		b, ok := b.(ei.List)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !sameShape(a[i], b[i]) {
				return false
			}
		}
		return true
	case ei.String:
		_, ok := b.(ei.String)
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
		{"[<<1:8>>]", 4},
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
			got, err := parseTerm(tt.in)
			var perr *parseError
			if !errors.As(err, &perr) {
				t.Fatalf("parseTerm(%q) = %#v, %v, want a *parseError", tt.in, got, err)
			}
			if perr.Offset != tt.offset {
				t.Errorf("parseTerm(%q) error %q at offset %d, want offset %d", tt.in, err, perr.Offset, tt.offset)
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
		term, err := parseTerm(s)
		if err != nil {
			return
		}
		if _, err := ei.Marshal(term); err != nil {
			t.Fatalf("parseTerm(%q) = %#v, which Marshal rejects: %v", s, term, err)
		}
		formatTerm(term)
	})
}
