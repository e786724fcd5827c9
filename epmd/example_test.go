package epmd_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/goei/goei/epmd"
)

// Find where a node listens, asking the epmd on the node's host.
func ExamplePortPlease() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := epmd.PortPlease(ctx, "foo@myhost")
	if errors.Is(err, epmd.ErrNotRegistered) {
		fmt.Println("no node foo")
		return
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("foo listens on port %d, distribution versions %d..%d\n",
		info.Port, info.LowestVersion, info.HighestVersion)
}

// Register a hidden node, as a C node does, keep it registered while epmd
// restarts, and unregister it on exit.
func ExampleClient_Publish() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	c := &epmd.Client{Port: 4369} // epmd on localhost
	reg, err := c.Publish(ctx, epmd.NodeInfo{Name: "gonode", Port: 5555})
	if errors.Is(err, epmd.ErrNameInUse) {
		log.Fatal("another node is called gonode")
	}
	if err != nil {
		log.Fatal(err)
	}
	defer reg.Shutdown(context.Background())
	fmt.Println("registered with creation", reg.Creation())

	// Serve distribution connections on port 5555 here. Meanwhile, say
	// when epmd drops the registration (because it was killed, say) and
	// when the Registration has registered the name again.
	for s := reg.State(); s != epmd.StateClosed && reg.WaitForStateChange(ctx, s); {
		s = reg.State()
		log.Printf("epmd registration %v: %v", s, reg.Err())
	}
}

// List the nodes registered with an epmd, as `epmd -names` does.
func ExampleClient_Names() {
	c := &epmd.Client{Host: "127.0.0.1"} // port from $ERL_EPMD_PORT, or 4369
	names, err := c.Names(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	for _, n := range names {
		fmt.Printf("name %s at port %d\n", n.Name, n.Port)
	}
}

// Stop a node's registration; OTP's epmd allows this only when started
// with -relaxed_command_check.
func ExampleUnpublish() {
	err := epmd.Unpublish(context.Background(), "foo")
	switch {
	case errors.Is(err, epmd.ErrNotAllowed):
		fmt.Println("epmd refused: start it with -relaxed_command_check")
	case errors.Is(err, epmd.ErrNotRegistered):
		fmt.Println("no node foo")
	case err != nil:
		log.Fatal(err)
	}
}
