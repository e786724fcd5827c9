package ei

import (
	"testing"

	"github.com/ergo-services/ergo/etf"
	"github.com/ergo-services/ergo/lib"
)

// benchGoldens returns the canonical, uncompressed goldens: the corpus
// the codec benchmarks run over.
func benchGoldens(b *testing.B) []golden {
	var gs []golden
	for _, g := range readGoldens(b) {
		if g.opts == defaultOpts && g.data[1] != tagCompressed {
			gs = append(gs, g)
		}
	}
	return gs
}

var ergoDecodeOptions = etf.DecodeOptions{FlagBigPidRef: true}
var ergoEncodeOptions = etf.EncodeOptions{FlagBigPidRef: true, FlagBigCreation: true}

// BenchmarkDecode decodes each golden (without its version byte) with
// Decoder.Decode and with ergo's etf.Decode.
func BenchmarkDecode(b *testing.B) {
	for _, g := range benchGoldens(b) {
		data := g.data[1:]
		b.Run(g.name+"/ei", func(b *testing.B) {
			var d Decoder
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := d.Decode(data); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(g.name+"/ergo", func(b *testing.B) {
			if _, _, err := etf.Decode(data, nil, ergoDecodeOptions); err != nil {
				b.Skipf("ergo cannot decode %s: %v", g.name, err)
			}
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				etf.Decode(data, nil, ergoDecodeOptions)
			}
		})
	}
}

// BenchmarkEncode encodes each decoded golden with AppendTerm and with
// ergo's etf.Encode, both into a reused buffer.
func BenchmarkEncode(b *testing.B) {
	for _, g := range benchGoldens(b) {
		data := g.data[1:]
		b.Run(g.name+"/ei", func(b *testing.B) {
			var d Decoder
			term, _, err := d.Decode(data)
			if err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, 0, 2*len(data))
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if buf, err = AppendTerm(buf[:0], term); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(g.name+"/ergo", func(b *testing.B) {
			term, _, err := etf.Decode(data, nil, ergoDecodeOptions)
			if err != nil {
				b.Skipf("ergo cannot decode %s: %v", g.name, err)
			}
			buf := lib.TakeBuffer()
			defer lib.ReleaseBuffer(buf)
			if err := etf.Encode(term, buf, ergoEncodeOptions); err != nil {
				b.Skipf("ergo cannot encode %s: %v", g.name, err)
			}
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				buf.Reset()
				etf.Encode(term, buf, ergoEncodeOptions)
			}
		})
	}
}

// BenchmarkCorpus decodes and encodes the whole corpus (every case both
// implementations handle) per op, for a single headline number.
func BenchmarkCorpus(b *testing.B) {
	var datas [][]byte
	var eiTerms, ergoTerms []any
	for _, g := range benchGoldens(b) {
		data := g.data[1:]
		et, _, err := etf.Decode(data, nil, ergoDecodeOptions)
		if err != nil {
			continue
		}
		buf := lib.TakeBuffer()
		err = etf.Encode(et, buf, ergoEncodeOptions)
		lib.ReleaseBuffer(buf)
		if err != nil {
			continue
		}
		var d Decoder
		t, _, err := d.Decode(data)
		if err != nil {
			b.Fatal(err)
		}
		datas, eiTerms, ergoTerms = append(datas, data), append(eiTerms, t), append(ergoTerms, et)
	}
	size := 0
	for _, d := range datas {
		size += len(d)
	}
	b.Logf("%d cases, %d bytes", len(datas), size)
	b.Run("decode/ei", func(b *testing.B) {
		var d Decoder
		b.SetBytes(int64(size))
		b.ReportAllocs()
		for b.Loop() {
			for _, data := range datas {
				d.Decode(data)
			}
		}
	})
	b.Run("decode/ergo", func(b *testing.B) {
		b.SetBytes(int64(size))
		b.ReportAllocs()
		for b.Loop() {
			for _, data := range datas {
				etf.Decode(data, nil, ergoDecodeOptions)
			}
		}
	})
	b.Run("encode/ei", func(b *testing.B) {
		buf := make([]byte, 0, 4096)
		b.SetBytes(int64(size))
		b.ReportAllocs()
		for b.Loop() {
			for _, t := range eiTerms {
				buf, _ = AppendTerm(buf[:0], t)
			}
		}
	})
	b.Run("encode/ergo", func(b *testing.B) {
		buf := lib.TakeBuffer()
		defer lib.ReleaseBuffer(buf)
		b.SetBytes(int64(size))
		b.ReportAllocs()
		for b.Loop() {
			for _, t := range ergoTerms {
				buf.Reset()
				etf.Encode(t, buf, ergoEncodeOptions)
			}
		}
	})
}

// BenchmarkReader decodes a {call, From, Request}-like message piece by
// piece, without building a Term.
func BenchmarkReader(b *testing.B) {
	data, err := Marshal(Tuple{Atom("$gen_call"), Tuple{Pid{Node: "n@h", ID: 85}, Ref{Node: "n@h", ID: []uint32{1, 2, 3}}}, Tuple{Atom("get"), int64(42)}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		r := Reader{data: data, off: 1}
		r.ReadTupleHeader()
		r.Skip()
		r.ReadTupleHeader()
		r.ReadPid()
		r.Skip()
		r.ReadTupleHeader()
		r.Skip()
		if n, err := r.ReadInt(); err != nil || n != 42 {
			b.Fatal(n, err)
		}
	}
}

// BenchmarkSkipCorpus checks every golden with Reader.Skip, which builds
// nothing: comparable to libei's ei_skip_term.
func BenchmarkSkipCorpus(b *testing.B) {
	gs := benchGoldens(b)
	size := 0
	for _, g := range gs {
		size += len(g.data)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		for _, g := range gs {
			r := Reader{data: g.data, off: 1}
			if err := r.Skip(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkAppendGenCall encodes {'$gen_call', {Pid, Ref}, {get, 42}} with
// the Append functions, as ei_x_encode_* would.
func BenchmarkAppendGenCall(b *testing.B) {
	pid := Pid{Node: "n@h", ID: 85}
	ref := Ref{Node: "n@h", ID: []uint32{1, 2, 3}}
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendVersion(buf[:0])
		buf = AppendTupleHeader(buf, 3)
		buf, _ = AppendAtom(buf, "$gen_call")
		buf = AppendTupleHeader(buf, 2)
		buf, _ = AppendPid(buf, pid)
		buf, _ = AppendRef(buf, ref)
		buf = AppendTupleHeader(buf, 2)
		buf, _ = AppendAtom(buf, "get")
		buf = AppendInt(buf, 42)
	}
}
