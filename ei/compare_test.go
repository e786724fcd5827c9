package ei

import (
	"math"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/goei/goei/internal/erltest"
)

func TestCompare(t *testing.T) {
	two60 := new(big.Int).Lsh(big.NewInt(1), 60)
	two60plus1 := new(big.Int).Add(two60, big.NewInt(1))
	// Each term is less than the next, or equal where eq says so.
	tests := []struct {
		a, b Term
		want int
	}{
		{int64(1), 1.0, 0},
		{int64(1), 1.5, -1},
		{2.5, int64(2), 1},
		{math.Copysign(0, -1), 0.0, 0},
		{two60plus1, float64(1 << 60), 1},
		{float64(1 << 60), two60plus1, -1},
		{two60, float64(1 << 60), 0},
		{int64(1<<53 + 1), float64(1 << 53), 1},
		{big.NewInt(5), int64(5), 0},
		{uint64(math.MaxUint64), new(big.Int).SetUint64(math.MaxUint64), 0},
		{int64(math.MaxInt64), Atom(""), -1},
		{Atom("z"), Atom("é"), -1},
		{Atom("é"), Atom("Ĭ"), -1},
		{true, Atom("true"), 0},
		{Atom("zzz"), Ref{Node: "a@b", ID: []uint32{1}}, -1},
		{Ref{Node: "a@b", ID: []uint32{9, 1}}, Ref{Node: "a@b", ID: []uint32{1, 2}}, -1},
		{Ref{Node: "a@b", ID: []uint32{1, 2, 0}}, Ref{Node: "a@b", ID: []uint32{1, 2}}, 0},
		{Ref{Node: "a@b", Creation: 2, ID: []uint32{1}}, Ref{Node: "b@b", Creation: 1, ID: []uint32{1}}, -1},
		{Ref{Node: "z@z"}, Fun{Module: "a"}, -1},
		{Fun{Module: "z"}, Export{Module: "a", Function: "a"}, -1},
		{Export{Module: "erlang", Function: "abs", Arity: 1}, Export{Module: "lists", Function: "map", Arity: 2}, -1},
		{Export{Module: "z", Function: "z"}, Port{Node: "a@b"}, -1},
		{Port{Node: "a@b", ID: 10}, Port{Node: "b@b", ID: 1}, -1},
		{Port{Node: "a@b", ID: 1<<40 + 1}, Pid{Node: "a@b"}, -1},
		{Pid{Node: "z@z", ID: 1}, Pid{Node: "a@a", ID: 2}, -1},
		{Pid{Node: "z@z", ID: 2}, Pid{Node: "a@a", ID: 1, Serial: 1}, -1},
		{Pid{Node: "a@a", ID: 1, Creation: 1}, Pid{Node: "a@a", ID: 1, Creation: 2}, -1},
		{Pid{Node: "z@z"}, Tuple{}, -1},
		{Tuple{Atom("b")}, Tuple{Atom("a"), Atom("a")}, -1},
		{Tuple{int64(1)}, Tuple{1.0}, 0},
		{Tuple{Tuple{Tuple{}}}, Map{}, -1},
		{Map{{Atom("b"), int64(1)}}, Map{{Atom("a"), int64(1)}, {Atom("c"), int64(1)}}, -1},
		{Map{{Atom("a"), int64(2)}}, Map{{Atom("b"), int64(1)}}, -1},
		{Map{{int64(1), Atom("a")}}, Map{{1.0, Atom("a")}}, -1},
		{Map{{int64(2), Atom("a")}}, Map{{1.0, Atom("a")}}, -1},
		{Map{{Atom("a"), int64(1)}}, Map{{Atom("a"), 1.0}}, 0},
		{Map{{Atom("b"), int64(1)}, {Atom("a"), int64(2)}}, Map{{Atom("a"), int64(2)}, {Atom("b"), int64(1)}}, 0},
		{Map{{Atom("a"), int64(2)}, {Atom("b"), int64(1)}}, Map{{Atom("a"), int64(1)}, {Atom("b"), int64(2)}}, 1},
		{Map{{Atom("z"), int64(1)}}, List{}, -1},
		{List{}, String(""), 0},
		{List{}, ImproperList{Tail: List{}}, 0},
		{String(""), List{int64(0)}, -1},
		{String("ab"), List{int64('a'), int64('b')}, 0},
		{String("ab"), String("abc"), -1},
		{String("ab"), List{int64('a'), 98.0}, 0},
		{String("b"), List{int64('a'), int64('z')}, 1},
		{ImproperList{Elems: []Term{Atom("a")}, Tail: Atom("b")}, List{Atom("a"), Atom("c")}, -1},
		{ImproperList{Elems: []Term{Atom("a")}, Tail: Atom("b")}, ImproperList{Elems: []Term{Atom("a")}, Tail: Atom("c")}, -1},
		{List{Atom("a"), Atom("b")}, ImproperList{Elems: []Term{Atom("a")}, Tail: Binary{}}, -1},
		{ImproperList{Elems: []Term{int64(1)}, Tail: String("b")}, List{int64(1), int64('b')}, 0},
		{List{Binary{}}, Binary{}, -1},
		{Binary{}, BitBinary{}, 0},
		{BitBinary{Data: []byte{0x80}, Bits: 1}, Binary{1}, 1},
		{BitBinary{Data: []byte{0x80}, Bits: 1}, Binary{128}, -1},
		{Binary{1, 2}, BitBinary{Data: []byte{1, 0x40}, Bits: 3}, -1},
		{[]byte{1}, Binary{1}, 0},
		{Binary{0xff}, "not a term", -1},
	}
	for _, tt := range tests {
		if got := Compare(tt.a, tt.b); got != tt.want {
			t.Errorf("Compare(%s, %s) = %d, want %d", FormatTerm(tt.a), FormatTerm(tt.b), got, tt.want)
		}
		if got := Compare(tt.b, tt.a); got != -tt.want {
			t.Errorf("Compare(%s, %s) = %d, want %d", FormatTerm(tt.b), FormatTerm(tt.a), got, -tt.want)
		}
	}
}

// sortTerms binds Terms to terms of every type, with equal
// ones (1 and 1.0) and the edge cases of each type's order.
const sortTerms = `
Pid = fun(N, Id, Ser, Cre) -> binary_to_term(<<131, 88, 119, (byte_size(N)), N/binary, Id:32, Ser:32, Cre:32>>) end,
Port = fun(N, Id, Cre) -> binary_to_term(<<131, 89, 119, (byte_size(N)), N/binary, Id:32, Cre:32>>) end,
Port4 = fun(N, Id, Cre) -> binary_to_term(<<131, 120, 119, (byte_size(N)), N/binary, Id:64, Cre:32>>) end,
Ref = fun(N, Cre, Ws) -> binary_to_term(<<131, 90, (length(Ws)):16, 119, (byte_size(N)), N/binary, Cre:32,
	<< <<W:32>> || W <- Ws >>/binary>>) end,
Y = 1, Z = {2},
Terms = [0, 1, -1, 1.0, -1.0, 0.0, -0.0, 0.5, 2, 2.5, 1 bsl 53, float(1 bsl 53), (1 bsl 53) + 1, 1 bsl 60, (1 bsl 60) + 1,
 float(1 bsl 60), 1 bsl 64, -(1 bsl 64), float(1 bsl 64), 1.0e300, -1.0e300, 1 bsl 1100, -(1 bsl 1100),
 9223372036854775807, -9223372036854775808, 9223372036854775808, 1.7976931348623157e308,
 a, b, 'B', '', 'é', z, list_to_atom([300]), aa, 'a b',
 make_ref(), make_ref(), Ref(<<"a@b">>, 1, [1, 2, 3]), Ref(<<"a@b">>, 2, [1, 2, 3]), Ref(<<"a@b">>, 1, [3, 2, 1]),
 Ref(<<"b@b">>, 1, [1, 2, 3]), Ref(<<"a@b">>, 1, [1, 2, 3, 4, 5]), Ref(<<"a@b">>, 1, [0, 0, 0, 0, 1]),
 fun(X) -> X end, fun(X) -> X + Y end, fun(X) -> {X, Z} end, fun(X, W) -> {X, W} end,
 fun lists:map/2, fun lists:foldl/3, fun erlang:abs/1, fun lists:map/3,
 hd(erlang:ports()), Port(<<"a@b">>, 9, 1), Port(<<"a@b">>, 10, 1), Port(<<"a@b">>, 9, 2), Port(<<"c@d">>, 1, 1),
 Port4(<<"a@b">>, 1 bsl 40, 1),
 self(), list_to_pid("<0.1.0>"), list_to_pid("<0.1.1>"), Pid(<<"a@b">>, 1, 0, 1), Pid(<<"a@b">>, 1, 0, 2),
 Pid(<<"b@b">>, 1, 0, 1), Pid(<<"a@b">>, 2, 0, 1), Pid(<<"a@b">>, 0, 1, 1),
 {}, {a}, {1.0}, {1}, {a, b}, {b, a}, {a, b, c}, {{}},
 #{}, #{a => 1}, #{a => 1.0}, #{b => 0}, #{1 => a}, #{1.0 => a}, #{2 => a}, #{a => 1, b => 2}, #{a => 2, b => 1},
 #{c => 0, a => 5}, #{{1} => x}, #{{1.0} => x}, #{[] => x, <<>> => y},
 maps:from_list([{I, I} || I <- lists:seq(1, 40)]), maps:from_list([{I, I} || I <- lists:seq(2, 41)]),
 maps:from_list([{I, -I} || I <- lists:seq(1, 40)]),
 [], [a], [a, b], [a | b], [a | c], "abc", "abd", "ab", [97, 98, 99.0], [1.0], [1], [[]], [a, []], [a | <<>>],
 [300, 1], [$a | $b],
 <<>>, <<1>>, <<1, 2>>, <<1:1>>, <<128>>, <<0:1>>, <<1, 2:3>>, <<"abc">>, <<255, 0>>, <<255:8, 0:1>>]`

// TestCompareMatchesErlSort has erl sort terms of every type with
// lists:sort and checks that Compare orders them the same way: each term
// in erl's order is less than or equal (==) to every later one, equal
// exactly where erl says ==, and sorting with Compare gives erl's order.
func TestCompareMatchesErlSort(t *testing.T) {
	out := filepath.Join(t.TempDir(), "sorted.bin")
	erltest.Eval(t, 0, sortTerms+`,
Sorted = lists:sort(Terms),
Eq = [[A == B || B <- Sorted] || A <- Sorted],
ok = file:write_file(`+erlString(out)+`, term_to_binary({Terms, Sorted, Eq}))`)
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Unmarshal(data)
	if err != nil {
		t.Fatal(err)
	}
	all := res.(Tuple)
	terms, sorted, eq := all[0].(List), all[1].(List), all[2].(List)
	if len(terms) != len(sorted) {
		t.Fatalf("erl sorted %d terms into %d", len(terms), len(sorted))
	}
	for i := range sorted {
		row := eq[i].(List)
		for j := range sorted {
			want := 0
			switch {
			case row[j] == Atom("true"):
			case i < j:
				want = -1
			case i > j:
				want = 1
			}
			if got := Compare(sorted[i], sorted[j]); got != want {
				t.Errorf("Compare(%s, %s) = %d, want %d as in erl's lists:sort and ==", FormatTerm(sorted[i]), FormatTerm(sorted[j]), got, want)
			}
		}
	}
	ours := slices.Clone(terms)
	slices.SortStableFunc(ours, Compare)
	for i := range ours {
		if Compare(ours[i], sorted[i]) != 0 {
			t.Errorf("sorted with Compare, term %d is %s, want %s as sorted by erl", i, FormatTerm(ours[i]), FormatTerm(sorted[i]))
		}
	}
}
