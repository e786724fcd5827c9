package ei_test

import (
	"fmt"
	"slices"

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

func ExampleFormatTerm() {
	t := ei.Tuple{ei.Atom("ok"), ei.String("hello"), ei.Binary("é"), ei.Atom("Mixed Case"), 1000.0,
		ei.Map{{Key: ei.Atom("pid"), Value: ei.Pid{Node: "erl@host", ID: 85}}}}
	fmt.Println(ei.FormatTerm(t))
	fmt.Println(string(ei.AppendFormat(nil, t, 'w')))
	fmt.Printf("%v\n", ei.List{int64(1), ei.Atom("two")}) // the composite types print this way
	// Output:
	// {ok,"hello",<<"é"/utf8>>,'Mixed Case',1.0e3,#{pid => <erl@host.85.0>}}
	// {ok,[104,101,108,108,111],<<195,169>>,'Mixed Case',1.0e3,#{pid => <erl@host.85.0>}}
	// [1,two]
}

func ExampleParseTerm() {
	t, err := ei.ParseTerm(`{user, "alice", <<"payload">>, #{id => 42}, [1, 2 | 3]}.`)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%#v\n", t.(ei.Tuple)[:3])
	fmt.Println(t)
	// Output:
	// ei.Tuple{"user", "alice", ei.Binary{0x70, 0x61, 0x79, 0x6c, 0x6f, 0x61, 0x64}}
	// {user,"alice",<<"payload">>,#{id => 42},[1,2|3]}
}

func ExampleCompare() {
	terms := []ei.Term{ei.Binary("b"), ei.List{}, ei.Atom("a"), ei.Tuple{}, 2.5, int64(1), ei.String("x")}
	slices.SortFunc(terms, ei.Compare)
	fmt.Println(ei.List(terms))
	fmt.Println(ei.Compare(int64(1), 1.0)) // 1 == 1.0 in Erlang
	// Output:
	// [1,2.5,a,{},[],"x",<<"b">>]
	// 0
}

func ExampleAppendPrintTerm() {
	// erl_call prints results this way.
	b, err := ei.AppendPrintTerm(nil, ei.Tuple{ei.Atom("ok"), 2.5, ei.Binary{1, 2}, ei.String("hi")})
	if err != nil {
		panic(err)
	}
	fmt.Println(string(b))
	// Output: {ok, 2.500000, #Bin<1,2>, "hi"}
}
