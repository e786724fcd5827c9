package ei

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"flag"
	"fmt"
	"math"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/goei/goei/internal/erltest"
)

// The -update flag may be shared with other tests in this package, so it
// is registered in init, after every package-level flag.Bool has run.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "regenerate testdata with erl")
	}
}

func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

const goldenFile = "testdata/golden.txt"

// defaultOpts are the term_to_binary options of canonical goldens, whose
// bytes Marshal must reproduce exactly.
const defaultOpts = "[{minor_version, 2}]"

func bigFromString(s string) *big.Int {
	x, ok := new(big.Int).SetString(s, 10)
	if !ok {
		panic(s)
	}
	return x
}

const nonode = Atom("nonode@nohost")

// goldenCorpus lists the terms erl encodes into testdata/golden.txt.
// A nil want only checks that the golden decodes and re-encodes.
var goldenCorpus = []struct {
	name string
	erl  string // Erlang expression
	opts string // term_to_binary options; "" means defaultOpts
	want Term
}{
	{"atom", "ok", "", Atom("ok")},
	{"atom_empty", "''", "", Atom("")},
	{"atom_utf8", "'héllo'", "", Atom("héllo")},
	{"atom_255", "list_to_atom(lists:duplicate(255, $a))", "", Atom(strings.Repeat("a", 255))},
	{"atom_255_utf8", "list_to_atom(lists:duplicate(255, 16#e9))", "", Atom(strings.Repeat("é", 255))},
	{"atom_true", "true", "", Atom("true")},
	{"atom_latin1", "'héllo'", "[{minor_version, 0}]", Atom("héllo")},
	{"int_0", "0", "", int64(0)},
	{"int_255", "255", "", int64(255)},
	{"int_256", "256", "", int64(256)},
	{"int_neg1", "-1", "", int64(-1)},
	{"int_max32", "2147483647", "", int64(math.MaxInt32)},
	{"int_min32", "-2147483648", "", int64(math.MinInt32)},
	{"int_2_31", "2147483648", "", int64(1 << 31)},
	{"int_min32_minus1", "-2147483649", "", int64(math.MinInt32 - 1)},
	{"int_max64", "9223372036854775807", "", int64(math.MaxInt64)},
	{"int_min64", "-9223372036854775808", "", int64(math.MinInt64)},
	{"big_2_63", "9223372036854775808", "", bigFromString("9223372036854775808")},
	{"big_2_64", "18446744073709551616", "", bigFromString("18446744073709551616")},
	{"big_neg", "-18446744073709551616", "", bigFromString("-18446744073709551616")},
	{"big_large", "1 bsl 2100", "", new(big.Int).Lsh(big.NewInt(1), 2100)},
	{"big_large_neg", "-(1 bsl 2040 - 1)", "", new(big.Int).Neg(new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 2040), big.NewInt(1)))},
	{"float_0", "0.0", "", 0.0},
	{"float_pi", "3.141592653589793", "", math.Pi},
	{"float_neg", "-1.5", "", -1.5},
	{"float_huge", "1.0e300", "", 1e300},
	{"float_tiny", "5.0e-324", "", 5e-324},
	{"float_old", "-1.5", "[{minor_version, 0}]", -1.5},
	{"float_old_pi", "3.141592653589793", "[{minor_version, 0}]", math.Pi},
	{"binary_empty", "<<>>", "", Binary{}},
	{"binary", "<<1, 2, 3>>", "", Binary{1, 2, 3}},
	{"binary_text", `<<"hello">>`, "", Binary("hello")},
	{"bitstring", "<<1, 2, 3:4>>", "", BitBinary{Data: []byte{1, 2, 0x30}, Bits: 4}},
	{"bitstring_1", "<<1:1>>", "", BitBinary{Data: []byte{0x80}, Bits: 1}},
	{"tuple_empty", "{}", "", Tuple{}},
	{"tuple", "{ok, 1}", "", Tuple{Atom("ok"), int64(1)}},
	{"tuple_nested", "{a, {b, {c, {}}}}", "", Tuple{Atom("a"), Tuple{Atom("b"), Tuple{Atom("c"), Tuple{}}}}},
	{"tuple_large", "list_to_tuple(lists:duplicate(300, x))", "", Tuple(repeat(Atom("x"), 300))},
	{"nil", "[]", "", List{}},
	{"list", "[a, b]", "", List{Atom("a"), Atom("b")}},
	{"list_mixed", `[1, "a", <<"b">>, {c}, 2.5]`, "", List{int64(1), String("a"), Binary("b"), Tuple{Atom("c")}, 2.5}},
	{"list_improper", "[a | b]", "", ImproperList{Elems: []Term{Atom("a")}, Tail: Atom("b")}},
	{"list_improper_ints", "[1, 2 | 3]", "", ImproperList{Elems: []Term{int64(1), int64(2)}, Tail: int64(3)}},
	{"list_wide", "[1000, 2000]", "", List{int64(1000), int64(2000)}},
	{"list_nested", "[[], [[]], [a]]", "", List{List{}, List{List{}}, List{Atom("a")}}},
	{"string", `"hello"`, "", String("hello")},
	{"string_latin1", `"héllo"`, "", String("h\xe9llo")},
	{"string_unicode", `"h∑llo"`, "", List{int64('h'), int64('∑'), int64('l'), int64('l'), int64('o')}},
	{"string_bytes", "[0, 1, 255]", "", String("\x00\x01\xff")},
	{"map_empty", "#{}", "", Map{}},
	{"map", "#{a => 1, b => <<>>}", "", Map{{Atom("a"), int64(1)}, {Atom("b"), Binary{}}}},
	{"map_nested", "#{{k} => #{[] => 1.5}}", "", Map{{Tuple{Atom("k")}, Map{{List{}, 1.5}}}}},
	{"map_large", "maps:from_list([{I, I * I} || I <- lists:seq(1, 40)])", "", nil},
	{"pid", `list_to_pid("<0.85.0>")`, "", Pid{Node: nonode, ID: 85}},
	{"pid_remote", "binary_to_term(<<131, 88, 119, 3, \"a@b\", 0, 0, 0, 1, 0, 0, 0, 2, 255, 0, 0, 7>>)", "", Pid{Node: "a@b", ID: 1, Serial: 2, Creation: 0xff000007}},
	{"pid_old", "binary_to_term(<<131, 103, 100, 0, 3, \"a@b\", 0, 0, 0, 1, 0, 0, 0, 2, 3>>)", "", Pid{Node: "a@b", ID: 1, Serial: 2, Creation: 3}},
	{"port", `list_to_port("#Port<0.5>")`, "", Port{Node: nonode, ID: 5}},
	{"port_remote", "binary_to_term(<<131, 89, 119, 3, \"a@b\", 0, 0, 0, 9, 0, 0, 0, 7>>)", "", Port{Node: "a@b", ID: 9, Creation: 7}},
	{"port_v4", "binary_to_term(<<131, 120, 119, 3, \"a@b\", 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 7>>)", "", Port{Node: "a@b", ID: 1<<32 | 2, Creation: 7}},
	{"ref", `list_to_ref("#Ref<0.1.2.3>")`, "", Ref{Node: nonode, ID: []uint32{3, 2, 1}}},
	{"ref_remote", "binary_to_term(<<131, 90, 0, 3, 119, 3, \"a@b\", 0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3>>)", "", Ref{Node: "a@b", Creation: 7, ID: []uint32{1, 2, 3}}},
	{"ref_5_words", "binary_to_term(<<131, 90, 0, 5, 119, 3, \"a@b\", 0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5>>)", "", Ref{Node: "a@b", Creation: 7, ID: []uint32{1, 2, 3, 4, 5}}},
	{"ref_old", "binary_to_term(<<131, 114, 0, 1, 100, 0, 3, \"a@b\", 2, 0, 0, 0, 9>>)", "", Ref{Node: "a@b", Creation: 2, ID: []uint32{9}}},
	{"fun", "fun(X) -> X + 1 end", "", nil},
	{"fun_closure", "Y = {captured, <<\"env\">>}, fun(X) -> {X, Y} end", "", nil},
	{"export", "fun lists:map/2", "", Export{Module: "lists", Function: "map", Arity: 2}},
	{"gen_call", `{'$gen_call', {list_to_pid("<0.85.0>"), list_to_ref("#Ref<0.1.2.3>")}, {get, <<"key">>, [1, 2, 3]}}`, "", Tuple{
		Atom("$gen_call"),
		Tuple{Pid{Node: nonode, ID: 85}, Ref{Node: nonode, ID: []uint32{3, 2, 1}}},
		Tuple{Atom("get"), Binary("key"), String("\x01\x02\x03")},
	}},
	{"compressed_atoms", "lists:duplicate(100, hello)", "[compressed, {minor_version, 2}]", List(repeat(Atom("hello"), 100))},
	{"compressed_string", "lists:duplicate(1000, $a)", "[compressed, {minor_version, 2}]", String(strings.Repeat("a", 1000))},
	{"compressed_small", "ok", "[compressed, {minor_version, 2}]", Atom("ok")},
}

func repeat(t Term, n int) []Term {
	s := make([]Term, n)
	for i := range s {
		s[i] = t
	}
	return s
}

type golden struct {
	name, opts, erl string
	data            []byte
}

// readGoldens parses testdata/golden.txt: one tab-separated line per case
// with name, options, hex and the Erlang expression.
func readGoldens(t testing.TB) []golden {
	var gs []golden
	for _, fields := range readTSV(t, goldenFile, 4) {
		data, err := hex.DecodeString(fields[2])
		if err != nil {
			t.Fatalf("%s: %s: %v", goldenFile, fields[0], err)
		}
		gs = append(gs, golden{name: fields[0], opts: fields[1], erl: fields[3], data: data})
	}
	return gs
}

// readTSV reads the lines of a testdata file made with -update, skipping
// empty lines and # comments, as n tab-separated fields each (the last
// one takes the rest of the line).
func readTSV(t testing.TB, file string, n int) [][]string {
	f, err := os.Open(file)
	if err != nil {
		t.Fatalf("%v (run go test -run Golden -update with erl installed)", err)
	}
	defer f.Close()
	var lines [][]string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		fields := strings.SplitN(line, "\t", n)
		if len(fields) != n {
			t.Fatalf("%s: bad line %q", file, line)
		}
		lines = append(lines, fields)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// erlString quotes s as an Erlang string literal (UTF-8 source).
func erlString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// updateGoldens runs erl over goldenCorpus and rewrites testdata/golden.txt.
func updateGoldens(t *testing.T) {
	erl := erltest.Need(t, "erl")
	dir := t.TempDir()
	var cases bytes.Buffer
	for _, c := range goldenCorpus {
		opts := c.opts
		if opts == "" {
			opts = defaultOpts
		}
		fmt.Fprintf(&cases, "{%s, %s, %s}.\n", erlString(c.name), erlString(c.erl+"."), erlString(opts+"."))
	}
	// erl runs in dir, so relative names do, also in a chroot.
	in, out := "cases.eterm", "golden.txt"
	if err := os.WriteFile(filepath.Join(dir, in), cases.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `
Eval = fun(Src) ->
	{ok, Toks, _} = erl_scan:string(Src),
	{ok, Exprs} = erl_parse:parse_exprs(Toks),
	{value, V, _} = erl_eval:exprs(Exprs, []),
	V
end,
{ok, Cases} = file:consult(` + erlString(in) + `),
Lines = [io_lib:format("~ts\t~ts\t~ts\t~ts~n",
		[Name, Opts, string:lowercase(binary:encode_hex(term_to_binary(Eval(Src), Eval(Opts)))), Src])
	|| {Name, Src, Opts} <- Cases],
ok = file:write_file(` + erlString(out) + `, unicode:characters_to_binary(Lines)),
halt().`
	cmd := exec.Command(erl, "-noshell", "-eval", script)
	cmd.Env = append(os.Environ(), "HOME="+dir)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("erl: %v\n%s", err, b)
	}
	lines, err := os.ReadFile(filepath.Join(dir, out))
	if err != nil {
		t.Fatal(err)
	}
	// Strip the "." that made each source and option list a full expression.
	lines = bytes.ReplaceAll(lines, []byte(".\t"), []byte("\t"))
	lines = bytes.ReplaceAll(lines, []byte(".\n"), []byte("\n"))
	header := "# Generated by go test -run Golden -update from erl " +
		"term_to_binary(Term, Options).\n# name\toptions\thex\tErlang term\n"
	if err := os.WriteFile(goldenFile, append([]byte(header), lines...), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestGolden(t *testing.T) {
	if updating() {
		updateGoldens(t)
	}
	gs := readGoldens(t)
	byName := make(map[string]golden, len(gs))
	for _, g := range gs {
		byName[g.name] = g
	}
	for _, c := range goldenCorpus {
		t.Run(c.name, func(t *testing.T) {
			g, ok := byName[c.name]
			if !ok {
				t.Fatalf("%s has no case %s; run go test -run Golden -update", goldenFile, c.name)
			}
			got, err := Unmarshal(g.data)
			if err != nil {
				t.Fatalf("Unmarshal(%x) error: %v", g.data, err)
			}
			if c.want != nil && !reflect.DeepEqual(got, c.want) {
				t.Errorf("Unmarshal(%x) = %#v, want %#v", g.data, got, c.want)
			}
			enc, err := Marshal(got)
			if err != nil {
				t.Fatalf("Marshal(%#v) error: %v", got, err)
			}
			if g.opts == defaultOpts && !bytes.Equal(enc, g.data) {
				t.Errorf("Marshal(%#v) = %x, want %x (erl)", got, enc, g.data)
			}
			again, err := Unmarshal(enc)
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Errorf("Unmarshal(Marshal(%x)) = %#v, %v, want %#v", g.data, again, err, got)
			}
			// The same term through the Decoder and Reader APIs.
			if g.data[1] != tagCompressed {
				var d Decoder
				dt, n, err := d.Decode(g.data[1:])
				if err != nil || n != len(g.data)-1 || !reflect.DeepEqual(dt, got) {
					t.Errorf("Decode(%x) = %#v, %d, %v, want %#v, %d", g.data[1:], dt, n, err, got, len(g.data)-1)
				}
				r := NewReader(g.data)
				if err := r.ReadVersion(); err != nil {
					t.Fatal(err)
				}
				if err := r.Skip(); err != nil || r.Len() != 0 {
					t.Errorf("Skip(%x) = %v, left %d bytes", g.data, err, r.Len())
				}
			}
		})
	}
}
