package ei

import "testing"

// benchArgs is a typical erl_call -a argument list.
const benchArgs = `[{user, "alice", <<"payload">>}, #{id => 42, tags => [a, b, 'C']}, 3.14, 16#ff, [1, 2 | 3]]`

func BenchmarkParseTerm(b *testing.B) {
	b.SetBytes(int64(len(benchArgs)))
	for b.Loop() {
		if _, err := ParseTerm(benchArgs); err != nil {
			b.Fatal(err)
		}
	}
}

func benchTerm(b *testing.B) Term {
	t, err := ParseTerm(benchArgs)
	if err != nil {
		b.Fatal(err)
	}
	return Tuple{Atom("ok"), t, Pid{Node: "n1@host", ID: 90}}
}

func BenchmarkFormatTerm(b *testing.B) {
	t := benchTerm(b)
	buf := make([]byte, 0, 256)
	for b.Loop() {
		buf = AppendFormat(buf[:0], t, 'p')
	}
}

func BenchmarkAppendPrintTerm(b *testing.B) {
	t := benchTerm(b)
	buf := make([]byte, 0, 256)
	for b.Loop() {
		var err error
		if buf, err = AppendPrintTerm(buf[:0], t); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCompare(b *testing.B) {
	x, y := benchTerm(b), benchTerm(b)
	for b.Loop() {
		if Compare(x, y) != 0 {
			b.Fatal("Compare(t, t) != 0")
		}
	}
}
