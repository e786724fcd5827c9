package ei_test

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/goei/goei/ei"
	"github.com/goei/goei/internal/erltest"
)

// libeiCorpus is the corpus of BenchmarkUnmarshalLibei: a gen_server
// call, a list of integers, a map, a list of records and a binary.
func libeiCorpus() []struct {
	name string
	term ei.Term
} {
	pid := ei.Pid{Node: "erl@host", ID: 85, Creation: 3}
	ints := make(ei.List, 100)
	for i := range ints {
		ints[i] = int64(1000 * (i + 1))
	}
	records := make(ei.List, 20)
	for i := range records {
		records[i] = ei.Tuple{ei.Atom("user"), int64(i), ei.Binary(fmt.Sprintf("user-%d", i)), ei.Atom("active")}
	}
	return []struct {
		name string
		term ei.Term
	}{
		{"gen_call", ei.Tuple{ei.Atom("$gen_call"),
			ei.Tuple{pid, ei.Ref{Node: "erl@host", Creation: 3, ID: []uint32{1, 2, 3}}},
			ei.Tuple{ei.Atom("get"), int64(42)}}},
		{"ints", ints},
		{"map", ei.Map{
			{Key: ei.Atom("name"), Value: ei.Binary("alice")},
			{Key: ei.Atom("age"), Value: int64(42)},
			{Key: ei.Atom("score"), Value: 3.14},
			{Key: ei.Atom("tags"), Value: ei.List{ei.Atom("a"), ei.Atom("b"), ei.Atom("c")}},
			{Key: ei.Atom("active"), Value: ei.Atom("true")},
		}},
		{"records", records},
		{"binary_64k", ei.Binary(make([]byte, 64<<10))},
	}
}

// BenchmarkUnmarshalLibei decodes each term of a small corpus, and the
// whole corpus, with Unmarshal and with a C program that decodes it with
// libei's ei_decode_* functions into C values (atoms into a buffer,
// strings and binaries into memory of their own, as Unmarshal copies
// them), side by side. It reports the time per decode of each and
// time-goei/libei, Unmarshal's time over libei's. A third side, "reuse",
// decodes with a Decoder that has Reuse set, which like the C program
// decodes into memory it reuses: reuse-ns/op and time-reuse/libei.
func BenchmarkUnmarshalLibei(b *testing.B) {
	bin := erltest.BuildEI(b, filepath.Join("testdata", "bench", "cnode.c"))
	if bin == "" {
		b.Skip("no libei")
	}
	corpus := libeiCorpus()
	var file []byte
	datas := make([][]byte, len(corpus))
	for i, c := range corpus {
		data, err := ei.Marshal(c.term)
		if err != nil {
			b.Fatal(err)
		}
		datas[i] = data
		file = binary.BigEndian.AppendUint32(file, uint32(len(data)))
		file = append(file, data...)
	}
	path := filepath.Join(b.TempDir(), "corpus")
	if err := os.WriteFile(path, file, 0o644); err != nil {
		b.Fatal(err)
	}
	libei := erltest.StartLineProgram(b, bin)
	if f, err := libei.Call("load %s", path); err != nil || len(f) != 1 || f[0] != strconv.Itoa(len(corpus)) {
		b.Fatalf("load = %q, %v; want %d terms", f, err, len(corpus))
	}
	// bench compares decoding the terms idx with Unmarshal and libei.
	bench := func(b *testing.B, idx []int) {
		size := 0
		for _, i := range idx {
			size += len(datas[i])
		}
		goei := func(n int) (sample, error) {
			start := time.Now()
			for range n {
				for _, i := range idx {
					if _, err := ei.Unmarshal(datas[i]); err != nil {
						return sample{}, err
					}
				}
			}
			return sample{elapsed: time.Since(start)}, nil
		}
		c := func(n int) (sample, error) {
			var s sample
			for _, i := range idx {
				f, err := libei.Call("decode %d %d", i, n)
				if err != nil {
					return sample{}, err
				}
				got, err := parseSample(f, false)
				if err != nil {
					return sample{}, err
				}
				s.elapsed += got.elapsed
			}
			return s, nil
		}
		d := ei.Decoder{Reuse: true}
		reuse := func(n int) (sample, error) {
			start := time.Now()
			for range n {
				for _, i := range idx {
					if _, _, err := d.Decode(datas[i][1:]); err != nil {
						return sample{}, err
					}
				}
			}
			return sample{elapsed: time.Since(start)}, nil
		}
		sides := []side{{"goei", goei}, {"libei", c}, {"reuse", reuse}}
		b.SetBytes(int64(size))
		b.ReportAllocs()
		got := runSides(b, sides...)
		reportTimes(b, sides[:2], got[:2], time.Nanosecond)
		b.ReportMetric(float64(got[2].elapsed)/float64(b.N), "reuse-ns/op")
		b.ReportMetric(float64(got[2].elapsed)/float64(got[1].elapsed), "time-reuse/libei")
	}
	all := make([]int, len(corpus))
	for i, c := range corpus {
		all[i] = i
		b.Run(c.name, func(b *testing.B) { bench(b, []int{i}) })
	}
	b.Run("corpus", func(b *testing.B) { bench(b, all) })
}
