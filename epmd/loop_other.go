//go:build !linux

package epmd

import "net"

// epollLoop is only used on Linux; elsewhere Serve accepts with
// l.Accept, and each connection, registrations too, holds a goroutine.
type epollLoop struct{}

func (p *epollLoop) close() {}

// serveRaw reports false: Serve accepts with l.Accept here.
func (s *Server) serveRaw(reg *registry, l net.Listener) (bool, error) { return false, nil }

// aliveNow reports false: a goroutine serves each ALIVE2_REQ here.
func (s *Server) aliveNow(reg *registry, a accepted, req []byte, p *epollLoop) bool { return false }
