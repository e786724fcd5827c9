package ergoreg_test

import (
	"context"
	"log"
	"log/slog"

	"github.com/ergo-services/ergo"
	"github.com/ergo-services/ergo/node"

	"github.com/goei/goei/epmd"
	"github.com/goei/goei/epmd/ergoreg"
)

// Start an ergo node that stays registered with the local epmd while epmd
// restarts, and follow its registration.
func ExampleRegistrar() {
	reg := &ergoreg.Registrar{
		Client: &epmd.Client{Logger: slog.Default()}, // logs loss and recovery
	}
	n, err := ergo.StartNode("demo@localhost", "cookie", node.Options{Registrar: reg})
	if err != nil {
		log.Fatal(err)
	}
	defer n.Stop()

	r := reg.Registration()
	for s := r.State(); s != epmd.StateClosed && r.WaitForStateChange(context.Background(), s); {
		s = r.State()
		log.Printf("epmd registration of %s: %v (%v)", n.Name(), s, r.Err())
	}
}
