package ei_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/goei/goei/ei"
)

// Connect to a running node through epmd, call a function on it and send
// a message to a registered process.
func ExampleNode_Connect() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	node := &ei.Node{Name: "go@myhost", Cookie: "secret"}
	conn, err := node.Connect(ctx, "erl@myhost")
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	release, err := conn.RPC(ctx, "erlang", "system_info", ei.List{ei.Atom("otp_release")})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("OTP", release)

	self, err := node.Pid()
	if err != nil {
		log.Fatal(err)
	}
	if err := conn.RegSend(ctx, self, "echo", ei.Tuple{self, ei.Atom("hello")}); err != nil {
		log.Fatal(err)
	}
	for {
		m, err := conn.Receive(ctx)
		if err != nil {
			log.Fatal(err)
		}
		if m.To() == self { // Send or SendSender
			fmt.Println("reply:", m.Payload)
			return
		}
	}
}

// Accept connections from Erlang nodes, which reach this node with
// {Name, 'go@myhost'} ! Msg.
func ExampleListener_Accept() {
	ctx := context.Background()
	node := &ei.Node{Name: "go@myhost", Cookie: "secret"}
	l, err := node.Listen(ctx, ":0")
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	if err := l.Publish(ctx); err != nil { // register with epmd
		log.Fatal(err)
	}
	for {
		conn, err := l.Accept(ctx)
		if err != nil {
			log.Fatal(err)
		}
		go func() {
			defer conn.Close()
			for {
				m, err := conn.Receive(ctx)
				if err != nil {
					return
				}
				fmt.Println(m.To(), m.Payload)
			}
		}()
	}
}
