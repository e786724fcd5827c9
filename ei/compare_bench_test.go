package ei_test

import (
	"math"
	"slices"
	"strconv"
	"testing"
	"time"
)

// The comparative benchmarks run goei and its references side by side in
// the same benchmark: the libei C-node ("cnode", or "libei" for the
// codec) built at benchmark time from testdata/bench/cnode.c, and erl
// talking to erl ("erl"). Each reports every side's figure and the ratio
// of goei's figure to each reference's:
//
//   - for rates (messages, bytes or round trips per second), goei/REF is
//     goei's rate over the reference's: 1 or more means goei is at least
//     as fast;
//   - for times (per connect, per decode, latency percentiles),
//     time-goei/REF is goei's time over the reference's: 1 or less means
//     goei is at least as fast.
//
// ns/op and allocs/op are goei's alone: the benchmark timer runs only
// while goei does.

// side is one implementation under comparison.
type side struct {
	name string
	// run does n operations and returns the time they took; the latency
	// benchmarks also return each operation's time.
	run func(n int) (sample, error)
}

type sample struct {
	elapsed time.Duration
	lats    []time.Duration
}

// runSides runs b.N operations on every side, in up to four rounds that
// take the sides in turn (starting with a different one each round), so
// that other load on the machine falls on all of them alike. The first
// side is goei's; the benchmark timer runs during its turns only.
func runSides(b *testing.B, sides ...side) []sample {
	b.Helper()
	total := make([]sample, len(sides))
	rounds := min(b.N, 4)
	b.StopTimer()
	b.ResetTimer()
	for r := range rounds {
		n := b.N*(r+1)/rounds - b.N*r/rounds
		for k := range sides {
			i := (r + k) % len(sides)
			if i == 0 {
				b.StartTimer()
			}
			got, err := sides[i].run(n)
			if i == 0 {
				b.StopTimer()
			}
			if err != nil {
				b.Fatalf("%s: %v", sides[i].name, err)
			}
			total[i].elapsed += got.elapsed
			total[i].lats = append(total[i].lats, got.lats...)
		}
	}
	return total
}

// reportRates reports each side's rate, b.N operations of perOp units
// each in its elapsed time, as NAME-UNIT, and goei's rate over each
// reference's as goei/NAME.
func reportRates(b *testing.B, sides []side, got []sample, perOp float64, unit string) {
	rates := make([]float64, len(sides))
	for i, s := range sides {
		rates[i] = float64(b.N) * perOp / got[i].elapsed.Seconds()
		b.ReportMetric(rates[i], s.name+"-"+unit)
	}
	for i := 1; i < len(sides); i++ {
		b.ReportMetric(rates[0]/rates[i], "goei/"+sides[i].name)
	}
}

// reportTimes reports each side's time per operation in unit
// (time.Nanosecond, Microsecond or Millisecond) as NAME-ns/op, NAME-us/op
// or NAME-ms/op, and goei's over each reference's as time-goei/NAME.
func reportTimes(b *testing.B, sides []side, got []sample, unit time.Duration) {
	suffix := map[time.Duration]string{time.Nanosecond: "-ns/op", time.Microsecond: "-us/op", time.Millisecond: "-ms/op"}[unit]
	for i, s := range sides {
		b.ReportMetric(float64(got[i].elapsed)/float64(unit)/float64(b.N), s.name+suffix)
	}
	for i := 1; i < len(sides); i++ {
		b.ReportMetric(float64(got[0].elapsed)/float64(got[i].elapsed), "time-goei/"+sides[i].name)
	}
}

// reportLatency reports percentile p (0 < p < 1) of each side's
// operation times as NAME-pP-us, and goei's over each reference's as
// pP-goei/NAME.
func reportLatency(b *testing.B, sides []side, got []sample, p float64) {
	name := "p" + strconv.FormatFloat(p*100, 'f', -1, 64)
	q := make([]time.Duration, len(sides))
	for i, s := range sides {
		q[i] = percentile(got[i].lats, p)
		b.ReportMetric(float64(q[i])/1e3, s.name+"-"+name+"-us")
	}
	for i := 1; i < len(sides); i++ {
		b.ReportMetric(float64(q[0])/float64(q[i]), name+"-goei/"+sides[i].name)
	}
}

// percentile returns the nearest-rank percentile p of ds, which it sorts.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := int(math.Ceil(p*float64(len(ds)))) - 1
	return ds[max(i, 0)]
}
