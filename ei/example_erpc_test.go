package ei_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/goei/goei/ei"
)

// Serve Go functions to Erlang: rpc:call('go@myhost', calc, add,
// [1, 2]) and erpc:call('go@myhost', calc, add, [1, 2]) in erl return
// 3; calc:add with other arguments raises badarg in the caller.
func ExampleNode_HandleFunc() {
	ctx := context.Background()
	node := &ei.Node{Name: "go@myhost", Cookie: "secret"}
	defer node.Close()
	l, err := node.Listen(ctx, ":0")
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	if err := l.Publish(ctx); err != nil { // so that erl finds the node
		log.Fatal(err)
	}
	err = node.HandleFunc("calc", "add", func(ctx context.Context, args ei.List) (ei.Term, error) {
		if len(args) == 2 {
			a, ok1 := args[0].(int64)
			b, ok2 := args[1].(int64)
			if ok1 && ok2 {
				return a + b, nil
			}
		}
		return nil, &ei.Exception{Class: "error", Reason: ei.Atom("badarg")}
	})
	if err != nil {
		log.Fatal(err)
	}
	select {} // serve until the program ends
}

// Call an Erlang function as erpc:call does, telling its exceptions from
// erpc's own errors.
func ExampleNode_ERPCCall() {
	ctx := context.Background()
	node := &ei.Node{Name: "go@myhost", Cookie: "secret"}
	defer node.Close()
	v, err := node.ERPCCall(ctx, "erl@myhost", "erlang", "binary_to_atom", ei.List{ei.Binary("ok")})
	var exc *ei.Exception
	var erpcErr *ei.ERPCError
	switch {
	case errors.As(err, &exc):
		fmt.Println("raised", exc.Class, exc.Reason) // error badarg, say
	case errors.As(err, &erpcErr):
		fmt.Println("erpc failed:", erpcErr.Reason) // noconnection, timeout, ...
	case err != nil:
		log.Fatal(err)
	default:
		fmt.Println(v)
	}
}
