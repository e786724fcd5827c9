//go:build !linux

package epmd

// aliveWatcher is only used on Linux, where Serve registers nodes on its
// accept loop; elsewhere each registration holds a goroutine.
type aliveWatcher struct{}

func (w *aliveWatcher) close() {}

// aliveWatcher returns nil: there is none here.
func (s *Server) aliveWatcher() *aliveWatcher { return nil }

// aliveNow reports false: ALIVE2_REQs are served by goroutines here.
func (s *Server) aliveNow(reg *registry, a accepted, req []byte) bool { return false }
