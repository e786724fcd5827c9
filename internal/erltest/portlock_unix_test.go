//go:build unix

package erltest

import "testing"

// TestFreePortReserves checks that a port FreePort returned cannot be
// reserved again, as FreePort in another test process would try to,
// until the test that took it ends.
func TestFreePortReserves(t *testing.T) {
	var port int
	t.Run("holding", func(t *testing.T) {
		port = FreePort(t)
		if reservePort(t, port) {
			t.Errorf("port %d reserved again while the test that took it runs", port)
		}
	})
	if !reservePort(t, port) {
		t.Errorf("port %d still reserved after the test that took it ended", port)
	}
}
