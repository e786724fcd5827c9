package ei

import (
	"bytes"
	"context"
	"encoding/binary"
	"math/big"
	"reflect"
	"testing"
	"testing/synctest"
	"time"
)

// scribblePools overwrites the buffers the pools hold, as the next
// messages reassembled in them would.
func scribblePools(fill byte) {
	for i := range bufPools {
		var held []*[]byte
		for {
			p, _ := bufPools[i].Get().(*[]byte)
			if p == nil {
				break
			}
			b := (*p)[:cap(*p)]
			for j := range b {
				b[j] = fill
			}
			held = append(held, p)
		}
		for _, p := range held {
			bufPools[i].Put(p)
		}
	}
}

// fragmentFrames returns the frames of a message of data (control and
// payload) in fragments of size bytes, the first with header, its atom
// cache header.
func fragmentFrames(seq uint64, header, data []byte, size int) []byte {
	var out []byte
	n := (len(data) + size - 1) / size
	for i := range n {
		f := []byte{distVersionMagic, distFragCont}
		if i == 0 {
			f[1] = distFragHeader
		}
		f = binary.BigEndian.AppendUint64(f, seq)
		f = binary.BigEndian.AppendUint64(f, uint64(n-i))
		if i == 0 {
			f = append(f, header...)
		}
		f = append(f, data[i*size:min(len(data), (i+1)*size)]...)
		out = binary.BigEndian.AppendUint32(out, uint32(len(f)))
		out = append(out, f...)
	}
	return out
}

// TestReceiveFragmentedCopiesAllTerms checks that no term of a message
// that Receive reassembled in a pooled buffer refers to that buffer once
// it is back in the pool: atoms (from the atom cache too), strings,
// binaries large and small, bitstrings, integers, funs, maps and the
// rest keep their values when the pool's buffers are written over and
// later messages are reassembled in them.
func TestReceiveFragmentedCopiesAllTerms(t *testing.T) {
	// ATOM_CACHE_REF 0 and 1 define entries 5 and 6.
	header := append(append([]byte{2, 0x88, 0, 5, 11}, "cached_atom"...), append([]byte{6, 3}, "n@h"...)...)
	refs := []Atom{"cached_atom", "n@h"}
	payload := func(seed byte) []byte {
		var elems [][]byte
		for _, tt := range codecTests {
			if !tt.encodeOnly {
				elems = append(elems, tt.data)
			}
		}
		bits := pattern(70_000, seed)
		for _, term := range []Term{
			pattern(400_000, seed), // more than the rest: shared if it could be
			pattern(5_000, seed+1),
			BitBinary{Data: bits, Bits: 3},
			String(bytes.Repeat([]byte{'a' + seed%26}, 60_000)),
			Atom("ünïcødé_" + string(rune('a'+seed%26))),
			new(big.Int).Lsh(big.NewInt(int64(seed)+3), 1600),
			Map{{String("k"), pattern(100, seed)}, {Atom("b"), pattern(shareMin, seed)}},
			Fun{Module: "m", Arity: 1, Uniq: [16]byte{15: seed}, Index: 2, Pid: Pid{Node: "n@h", ID: 4}, FreeVars: []Term{String("free"), pattern(10, seed)}},
			Ref{Node: "r@h", Creation: 3, ID: []uint32{1, 2, uint32(seed)}},
		} {
			b, err := Marshal(term)
			if err != nil {
				t.Fatal(err)
			}
			elems = append(elems, b[1:])
		}
		elems = append(elems, []byte{tagAtomCacheRef, 0})
		p := binary.BigEndian.AppendUint32([]byte{tagList}, uint32(len(elems)))
		return append(bytes.Join(append([][]byte{p}, elems...), nil), tagNil)
	}
	to := Pid{Node: "a@host", ID: 7, Creation: 1}
	ctl, err := Send{To: to}.appendControl(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{erlFragmentSize, bulkFragmentSize} {
		synctest.Test(t, func(t *testing.T) {
			c, peer := newRawConn(t, DefaultFlags, time.Hour)
			var frames []byte
			var want []Message
			for i := range 4 {
				data := append(bytes.Clone(ctl), payload(byte(i))...)
				m, _, err := decodeShared(bytes.Clone(data), 0, refs, false, false)
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, m)
				frames = append(frames, fragmentFrames(uint64(i+1), header, data, size)...)
			}
			go peer.Write(frames)
			var got []Message
			for i := range want {
				m, err := c.Receive(context.Background())
				if err != nil {
					t.Fatalf("message %d: Receive() = %v", i, err)
				}
				got = append(got, m)
				scribblePools(0xee)
			}
			for i := range want {
				if !reflect.DeepEqual(got[i], want[i]) {
					t.Errorf("fragments of %d: message %d changed to %.200v after later ones, want %.200v", size, i, got[i].Payload, want[i].Payload)
				}
			}
		})
	}
}

// TestReceiveReuseMidFragments checks a message whose reassembly began in
// a pooled buffer, for Receive, and ended once ReceiveReuse was called:
// it keeps its binaries while the pool's buffers are written over and
// ReceiveReuse reads later messages.
func TestReceiveReuseMidFragments(t *testing.T) {
	to := Pid{Node: "a@host", ID: 7, Creation: 1}
	ctl, err := Send{To: to}.appendControl(nil)
	if err != nil {
		t.Fatal(err)
	}
	synctest.Test(t, func(t *testing.T) {
		c, peer := newRawConn(t, DefaultFlags, time.Hour)
		var want []Term
		var frames [][]byte
		for i := range 3 {
			bin := pattern(300_000, byte(i))
			b, err := Marshal(bin)
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, bin)
			frames = append(frames, fragmentFrames(uint64(i+1), []byte{0}, append(bytes.Clone(ctl), b[1:]...), erlFragmentSize))
		}
		first := binary.BigEndian.Uint32(frames[0]) + 4
		if _, err := peer.Write(frames[0][:first]); err != nil {
			t.Fatal(err)
		}
		synctest.Wait() // the first fragment is in a pooled buffer
		if f := c.frags[1]; f == nil || !f.pooled {
			t.Fatalf("first fragment not reassembled in a pooled buffer")
		}
		go func() {
			peer.Write(frames[0][first:])
			for _, f := range frames[1:] {
				peer.Write(f)
			}
		}()
		var got []Term
		for i := range want {
			m, err := c.ReceiveReuse(context.Background())
			if err != nil {
				t.Fatalf("message %d: ReceiveReuse() = %v", i, err)
			}
			got = append(got, m.Payload)
			scribblePools(0xee)
		}
		if !reflect.DeepEqual(got[0], want[0]) {
			t.Errorf("message begun for Receive changed to %.40v, want %.40v", got[0], want[0])
		}
		if !reflect.DeepEqual(got[2], want[2]) {
			t.Errorf("last message = %.40v, want %.40v", got[2], want[2])
		}
	})
}

// TestFragmentAccounting interleaves fragmented messages of uneven
// fragments, so that their buffers come from the pool, grow, move out of
// it and, once ReceiveReuse is called halfway, come from the Conn's own,
// and checks after each frame that Conn.fragSize and Conn.fragBytes are
// the capacities and lengths of the buffers held, and that each message
// arrives whole.
func TestFragmentAccounting(t *testing.T) {
	to := Pid{Node: "a@host", ID: 7, Creation: 1}
	ctl, err := Send{To: to}.appendControl(nil)
	if err != nil {
		t.Fatal(err)
	}
	type seq struct {
		frames [][]byte
		want   Binary
	}
	var seqs []*seq
	for i, cuts := range [][]int{
		{100, 300_000, 5_000_000},        // grows twice, past the pool
		{70_000, 70_000, 70_000, 70_000}, // as erl sends
		{10, 10, 10, 2_000_000},          // grows from a small claim
		{1_000_000, 1},
		{5, 9_000_000}, // more than the largest pooled buffer
	} {
		total := 0
		for _, n := range cuts {
			total += n
		}
		bin := pattern(total-len(ctl)-5, byte(i))
		b, err := Marshal(bin)
		if err != nil {
			t.Fatal(err)
		}
		data := append(bytes.Clone(ctl), b[1:]...)
		s := &seq{want: bin}
		for j, n := range cuts {
			f := []byte{distVersionMagic, distFragCont}
			if j == 0 {
				f[1] = distFragHeader
			}
			f = binary.BigEndian.AppendUint64(f, uint64(i+1))
			f = binary.BigEndian.AppendUint64(f, uint64(len(cuts)-j))
			if j == 0 {
				f = append(f, 0)
			}
			s.frames = append(s.frames, append(f, data[:n]...))
			data = data[n:]
		}
		seqs = append(seqs, s)
	}
	c := &Conn{node: &Node{}}
	for round, done := 0, 0; done < len(seqs); round++ {
		if round == 2 {
			c.reusing.Store(true)
		}
		for i, s := range seqs {
			if round >= len(s.frames) {
				continue
			}
			m, ok, err := c.parseFrame(s.frames[round])
			if err != nil {
				t.Fatalf("sequence %d, fragment %d: %v", i+1, round, err)
			}
			size, n := 0, 0
			for _, f := range c.frags {
				size += cap(f.data)
				n += len(f.data)
			}
			if c.fragSize != size || c.fragBytes != n {
				t.Fatalf("after sequence %d, fragment %d: fragSize %d, fragBytes %d; buffers hold %d, %d", i+1, round, c.fragSize, c.fragBytes, size, n)
			}
			if c.fragSize > MaxFragmentedSize {
				t.Errorf("after sequence %d, fragment %d: fragSize %d, more than MaxFragmentedSize", i+1, round, c.fragSize)
			}
			if ok {
				done++
				scribblePools(0xee)
				if !reflect.DeepEqual(m.Payload, s.want) {
					t.Errorf("sequence %d = %.40v, want %.40v", i+1, m.Payload, s.want)
				}
			}
		}
	}
	if c.fragSize != 0 || c.fragBytes != 0 || len(c.frags) != 0 {
		t.Errorf("all done: fragSize %d, fragBytes %d, %d sequences", c.fragSize, c.fragBytes, len(c.frags))
	}
}
