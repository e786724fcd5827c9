package main

import (
	"testing"

	"github.com/goei/goei/ei"
)

// benchArgs is a typical -a argument list.
const benchArgs = `[{user, "alice", <<"payload">>}, #{id => 42, tags => [a, b, 'C']}, 3.14, 16#ff, [1, 2 | 3]]`

func BenchmarkParseTerm(b *testing.B) {
	b.SetBytes(int64(len(benchArgs)))
	for b.Loop() {
		if _, err := parseTerm(benchArgs); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFormatTerm(b *testing.B) {
	t, err := parseTerm(benchArgs)
	if err != nil {
		b.Fatal(err)
	}
	t = ei.Tuple{ei.Atom("ok"), t, ei.Pid{Node: "n1@host", ID: 90}}
	for b.Loop() {
		if _, ok := formatTerm(t); !ok {
			b.Fatal("formatTerm failed")
		}
	}
}
