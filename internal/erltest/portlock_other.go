//go:build !unix

package erltest

import "testing"

// reservePort reports true: without flock, FreePort does not coordinate
// with other processes.
func reservePort(t testing.TB, port int) bool { return true }
