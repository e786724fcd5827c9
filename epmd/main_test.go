package epmd

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	// Some tests run a Server in a copy of the test binary, under a
	// file descriptor limit of its own (see startChildServer).
	if limit := os.Getenv(childServerEnv); limit != "" {
		os.Exit(serveChild(limit))
	}
	os.Exit(m.Run())
}
