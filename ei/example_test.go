package ei_test

import (
	"fmt"

	"github.com/goei/goei/ei"
)

func ExampleMarshal() {
	b, err := ei.Marshal(ei.Tuple{ei.Atom("ok"), int64(42), ei.Binary("hi")})
	if err != nil {
		panic(err)
	}
	fmt.Printf("%x\n", b)
	// Output: 83680377026f6b612a6d000000026869
}

func ExampleUnmarshal() {
	// term_to_binary({ok, [1, 2.5, <<"hi">>]})
	b := []byte{131, 104, 2, 119, 2, 'o', 'k', 108, 0, 0, 0, 3, 97, 1,
		70, 64, 4, 0, 0, 0, 0, 0, 0, 109, 0, 0, 0, 2, 'h', 'i', 106}
	t, err := ei.Unmarshal(b)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%#v\n", t)
	// Output: ei.Tuple{"ok", ei.List{1, 2.5, ei.Binary{0x68, 0x69}}}
}

func ExampleReader() {
	// Decode {call, N} without building a Term.
	b, _ := ei.Marshal(ei.Tuple{ei.Atom("call"), int64(7)})
	r := ei.NewReader(b)
	if err := r.ReadVersion(); err != nil {
		panic(err)
	}
	if n, err := r.ReadTupleHeader(); err != nil || n != 2 {
		panic(err)
	}
	name, _ := r.ReadAtom()
	n, _ := r.ReadInt()
	fmt.Println(name, n)
	// Output: call 7
}

func ExampleAppendTupleHeader() {
	// Encode {reply, [1, 2]} without building a Term.
	b := ei.AppendVersion(nil)
	b = ei.AppendTupleHeader(b, 2)
	b, _ = ei.AppendAtom(b, "reply")
	b = ei.AppendListHeader(b, 2)
	b = ei.AppendInt(b, 1)
	b = ei.AppendInt(b, 2)
	b = ei.AppendNil(b)
	t, _ := ei.Unmarshal(b)
	fmt.Printf("%#v\n", t)
	// Output: ei.Tuple{"reply", ei.List{1, 2}}
}
