package ei

import (
	"math"
	"math/big"
	"testing"
)

func TestAppendPrintTerm(t *testing.T) {
	big65, _ := new(big.Int).SetString("10000000000000000", 16)  // 2^64
	big70, _ := new(big.Int).SetString("400000000000000000", 16) // 2^70
	u64, _ := new(big.Int).SetString("18446744073709551615", 10) // 2^64-1
	long := make(Binary, 32)
	for i := range long {
		long[i] = byte(i + 1)
	}
	// The wanted text is what OTP 25's erl_call printed for the same terms.
	tests := []struct {
		name string
		in   Term
		want string
		ok   bool
	}{
		{"small int", int64(3), "3", true},
		{"negative int", int64(-1), "-1", true},
		{"min int64", int64(math.MinInt64), "-9223372036854775808", true},
		{"big fitting 64 bits", u64, "18446744073709551615", true},
		{"big 2^64", big65, "16#10000000000000000", true},
		{"big -2^70", new(big.Int).Neg(big70), "-16#400000000000000000", true},
		{"float", 2.5, "2.500000", true},
		{"float small", 0.1, "0.100000", true},
		{"negative zero", math.Copysign(0, -1), "-0.000000", true},
		{"float tiny", 1e-300, "0.000000", true},
		{"atom", Atom("hello"), "hello", true},
		{"atom with @ and digits", Atom("aB9_@x"), "aB9_@x", true},
		{"atom upper", Atom("Hello W"), "'Hello W'", true},
		{"atom underscore", Atom("_x"), "'_x'", true},
		{"atom dash", Atom("a-b"), "'a-b'", true},
		{"empty atom", Atom(""), "''", true},
		{"atom quote unescaped", Atom("a'b"), "'a'b'", true},
		{"atom latin-1", Atom("é"), "'\xe9'", true},
		{"atom beyond latin-1", Atom("Ĭ"), "", false},
		{"string", String("abc"), `"abc"`, true},
		{"string escapes", String("\x01\a\b\t\n\v\f\r\x1f !\"\\\x7f"), "\"\\x1\\x7\\b\\t\\n\\v\\f\\r\\x1f !\"\\\x7f\"", true},
		{"string high bytes", String("\x80\xff"), `"\xffffff80\xffffffff"`, true},
		{"empty string", String(""), "[]", true},
		{"empty list", List{}, "[]", true},
		{"list", List{int64(250), Atom("a"), List{}}, "[250, a, []]", true},
		{"improper list", ImproperList{Elems: []Term{int64(1), int64(2)}, Tail: int64(3)}, "[1, 2 | 3]", true},
		{"tuple", Tuple{int64(1), 2.5, String("x"), Atom("x")}, `{1, 2.500000, "x", x}`, true},
		{"empty tuple", Tuple{}, "{}", true},
		{"map", Map{{Key: Atom("a"), Value: int64(1)}, {Key: String("b"), Value: int64(2)}}, `#{a => 1, "b" => 2}`, true},
		{"empty map", Map{}, "#{}", true},
		{"binary", Binary{1, 2, 3, 200}, "#Bin<1,2,3,200>", true},
		{"empty binary", Binary{}, "#Bin<>", true},
		{"long binary", long, "#Bin<1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,...>", true},
		{"bits", BitBinary{Data: []byte{0x20}, Bits: 3}, "#Bits<1:3>", true},
		{"bytes and bits", BitBinary{Data: []byte{1, 0x10}, Bits: 5}, "#Bits<1,2:5>", true},
		{"long bits", BitBinary{Data: long, Bits: 1}, "#Bits<1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,...>", true},
		{"pid", Pid{Node: "t1@vm", ID: 90, Serial: 0, Creation: 7}, "<t1@vm.90.0>", true},
		{"port", Port{Node: "t1@vm", ID: 22, Creation: 1795593610}, "#Port<22.1795593610>", true},
		{"v4 port", Port{Node: "t1@vm", ID: 1 << 40, Creation: 1}, "", false},
		{"ref", Ref{Node: "t1@vm", Creation: 1, ID: []uint32{225714, 1869348865, 4249348665}}, "#Ref<225714.1869348865.-45618631>", true},
		{"export", Export{Module: "lists", Function: "map", Arity: 2}, "fun lists:map/2", true},
		{"fun", Fun{Module: "erl_eval", Index: 42, OldIndex: 42, OldUniq: 3316493}, "#Fun{erl_eval.42.3316493}", true},
		{"stops at unprintable", Tuple{Atom("ok"), Tuple{Atom("a"), Atom("Ĭ"), Atom("b")}}, "{ok, {a, ", false},
		{"stops in map", Map{{Key: Atom("k"), Value: Atom("Ĭ")}}, "#{k => ", false},
		{"stops in list tail", ImproperList{Elems: []Term{int64(1)}, Tail: Atom("Ĭ")}, "[1 | ", false},
		{"not a term", struct{}{}, "", false},
		{"nil", nil, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AppendPrintTerm([]byte("x"), tt.in)
			if string(got) != "x"+tt.want || (err == nil) != tt.ok {
				t.Errorf("AppendPrintTerm(x, %#v) = %q, %v, want %q and error %v", tt.in, got, err, "x"+tt.want, !tt.ok)
			}
		})
	}
}
