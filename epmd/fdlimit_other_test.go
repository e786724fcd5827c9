//go:build !linux

package epmd

// childServerEnv is unused where the file limit tests do not run.
const childServerEnv = "GOEI_EPMD_TEST_CHILD_SERVER"

func serveChild(string) int { return 2 }
