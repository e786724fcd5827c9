package epmd

import (
	"errors"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// epollLoop is what Serve waits on for a listener from Listen: an epoll
// instance of its own, in Go's network poller, that holds the listening
// socket and the connections of the nodes registered on it. Those stay
// open, with nothing to do, until the node closes them or sends
// something. One goroutine waits for all of it, as OTP's epmd waits in
// select: neither a registration nor a lookup takes a goroutine, and a
// connection that closes and a new one that arrives are seen in one
// wake-up. Only the loop's goroutine closes the registrations' sockets,
// under mu, so a descriptor number is never closed twice or confused with
// a later connection's.
type epollLoop struct {
	file *os.File // the epoll instance, non-blocking and in the poller
	rc   syscall.RawConn
	epfd int
	lfd  int32 // the listening socket, or -1 once it is gone

	// For wait, used by one goroutine at a time.
	events []syscall.EpollEvent
	waitFn func(uintptr) bool
	n      int
	errno  syscall.Errno

	mu     sync.Mutex
	conns  map[int32]*aliveConn // by descriptor
	closed bool
}

// aliveConn is the connection of a node registered on an epollLoop.
type aliveConn struct {
	loop    *epollLoop
	fd      int32
	id      uint64
	node    *node // nil when the registration was refused
	watched bool  // in loop.conns, its socket open; guarded by loop.mu
	stopped bool  // Close was called; guarded by loop.mu
}

// newEpollLoop makes a loop for l. It fails when the process is out of
// file descriptors, say; Serve then accepts on l as on any listener.
func newEpollLoop(l *rawListener) (*epollLoop, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		closeFD(epfd)
		return nil, err
	}
	f := os.NewFile(uintptr(epfd), "epmd loop")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	p := &epollLoop{file: f, rc: rc, epfd: epfd, lfd: -1, conns: make(map[int32]*aliveConn),
		events: make([]syscall.EpollEvent, 64)}
	p.waitFn = p.poll
	var addErr error
	err = l.rc.Control(func(fd uintptr) {
		p.lfd = int32(fd)
		addErr = p.ctl(syscall.EPOLL_CTL_ADD, p.lfd, syscall.EPOLLIN)
	})
	if err == nil {
		err = addErr
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return p, nil
}

// ctl adds, changes or removes descriptor fd's events.
func (p *epollLoop) ctl(op int, fd int32, events uint32) error {
	ev := syscall.EpollEvent{Events: events, Fd: fd}
	_, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_CTL, uintptr(p.epfd), uintptr(op),
		uintptr(fd), uintptr(unsafe.Pointer(&ev)), 0, 0)
	if e != 0 {
		return os.NewSyscallError("epoll_ctl", e)
	}
	return nil
}

// add watches c, and reports false when the loop is closed.
func (p *epollLoop) add(c *aliveConn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.ctl(syscall.EPOLL_CTL_ADD, c.fd, syscall.EPOLLIN|syscall.EPOLLRDHUP) != nil {
		return false
	}
	c.watched = true
	p.conns[c.fd] = c
	if c.stopped {
		syscall.Shutdown(int(c.fd), syscall.SHUT_RDWR)
	}
	return true
}

// Close ends the connection, as STOP_REQ asks: the peer sees it closed,
// and the loop then closes the socket.
func (c *aliveConn) Close() error {
	c.loop.mu.Lock()
	defer c.loop.mu.Unlock()
	c.stopped = true
	if c.watched {
		syscall.Shutdown(int(c.fd), syscall.SHUT_RDWR)
	}
	return nil
}

// wait waits until there is news and returns the descriptors' events. It
// returns os.ErrDeadlineExceeded at the file's deadline, and another error
// once the loop is closed. Only one goroutine at a time may call it. It
// asks epoll before it waits in the poller, as rc.Read requires: the
// poller forgets what it saw before the call.
func (p *epollLoop) wait() ([]syscall.EpollEvent, error) {
	p.n, p.errno = 0, 0
	err := p.rc.Read(p.waitFn)
	if err == nil && p.errno != 0 {
		err = os.NewSyscallError("epoll_pwait", p.errno)
	}
	return p.events[:p.n], err
}

// poll is wait's function for rc.Read.
func (p *epollLoop) poll(fd uintptr) bool {
	for {
		k, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, fd,
			uintptr(unsafe.Pointer(&p.events[0])), uintptr(len(p.events)), 0, 0, 0)
		switch e {
		case 0:
			p.n = int(k)
			return p.n > 0 // else wait in the poller
		case syscall.EINTR:
			continue
		}
		p.errno = e
		return true
	}
}

// check closes the registered node's connection on descriptor fd, which
// has news: the peer closed it or sent data. Only the loop's goroutine
// closes its connections, so the news is not about an earlier connection
// on that descriptor. With peek, check reads a byte to tell whether data
// came. It returns the connection, or nil for another descriptor.
func (p *epollLoop) check(fd int32, peek bool) (c *aliveConn, data bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c = p.conns[fd]
	if c == nil {
		return nil, false
	}
	if peek {
		var b [1]byte
		n, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, uintptr(fd),
			uintptr(unsafe.Pointer(&b[0])), 1, syscall.MSG_DONTWAIT, 0, 0)
		data = e == 0 && n > 0
	}
	delete(p.conns, fd)
	c.watched = false
	closeFD(int(fd))
	return c, data
}

// close makes the loop close every connection and end.
func (p *epollLoop) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.file.Close() // ends a wait
}

// interrupt makes a wait return os.ErrDeadlineExceeded now.
func (p *epollLoop) interrupt() { p.file.SetReadDeadline(time.Unix(1, 0)) }

// closeAll closes the epoll instance and the connections still watched,
// and returns them.
func (p *epollLoop) closeAll() []*aliveConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	var cs []*aliveConn
	for fd, c := range p.conns {
		c.watched = false
		closeFD(int(fd))
		cs = append(cs, c)
	}
	p.conns = nil
	p.file.Close()
	return cs
}

// serveRaw serves l on an epollLoop if l is a listener from Listen, and
// reports whether it did; it does not when it cannot make the loop.
func (s *Server) serveRaw(reg *registry, l net.Listener) (bool, error) {
	rl, ok := l.(*rawListener)
	if !ok {
		return false, nil
	}
	p, err := newEpollLoop(rl)
	if err != nil {
		s.log(slog.LevelWarn, "cannot make an epoll loop; serving with goroutines", "err", err)
		return false, nil
	}
	s.mu.Lock()
	closing := s.closing
	if !closing {
		if s.loops == nil {
			s.loops = make(map[*epollLoop]struct{})
		}
		s.loops[p] = struct{}{}
	}
	s.mu.Unlock()
	if closing {
		p.closeAll()
		return true, ErrServerClosed
	}
	rl.loop.Store(p)
	return true, s.runLoop(reg, rl, p)
}

// runLoop accepts connections on l and serves them, and watches the
// connections of the nodes it registers, until the server or l is closed
// or l fails. The nodes stay registered while the server runs.
func (s *Server) runLoop(reg *registry, l *rawListener, p *epollLoop) error {
	var delay time.Duration // before accepting again, after running out of descriptors
	paused := false
	var err error
	for err == nil {
		var events []syscall.EpollEvent
		events, err = p.wait()
		if errors.Is(err, os.ErrDeadlineExceeded) && !l.closed.Load() {
			err, paused = p.resume(), false
			continue
		}
		for _, ev := range events {
			if ev.Fd == p.lfd {
				delay, err = s.acceptAll(reg, l, p, delay)
				paused = delay > 0
			} else if s.checkAlive(reg, p, ev.Fd) && paused {
				// A descriptor is free: accept again now.
				err, paused = p.resume(), false
			}
		}
	}
	p.lfd = -1
	if l.closed.Load() {
		err = &net.OpError{Op: "accept", Net: l.addr.Network(), Addr: l.addr, Err: net.ErrClosed}
	}
	s.mu.Lock()
	closing := s.closing
	if !closing {
		s.wg.Add(1)
	}
	s.mu.Unlock()
	if closing {
		s.endLoop(reg, p)
		return ErrServerClosed
	}
	// Serve ends, the server does not: keep watching the nodes.
	go func() {
		defer s.wg.Done()
		for {
			events, err := p.wait()
			if errors.Is(err, os.ErrDeadlineExceeded) {
				p.file.SetReadDeadline(time.Time{})
				continue
			}
			if err != nil {
				break
			}
			for _, ev := range events {
				s.checkAlive(reg, p, ev.Fd)
			}
		}
		s.endLoop(reg, p)
	}()
	return err
}

// endLoop closes p and its connections and unregisters their nodes.
func (s *Server) endLoop(reg *registry, p *epollLoop) {
	for _, c := range p.closeAll() {
		s.gone(reg, c)
	}
	s.mu.Lock()
	delete(s.loops, p)
	s.mu.Unlock()
}

// resume accepts again after a pause.
func (p *epollLoop) resume() error {
	p.file.SetReadDeadline(time.Time{})
	return p.ctl(syscall.EPOLL_CTL_MOD, p.lfd, syscall.EPOLLIN)
}

// acceptAll accepts and serves the connections waiting on l. When it runs
// out of file descriptors it stops watching l for a while, delay doubled
// from the last time, and returns that delay; else it returns 0. It
// returns an error when l fails.
func (s *Server) acceptAll(reg *registry, l *rawListener, p *epollLoop, delay time.Duration) (time.Duration, error) {
	for {
		buf := bufPool.Get().(*[inbufSize]byte)
		a, got, err := l.acceptNow(buf[:inbufSize-1])
		if err != nil {
			bufPool.Put(buf)
			var errno syscall.Errno
			switch {
			case err == syscall.EAGAIN:
				return 0, nil
			case errors.As(err, &errno) && errno.Temporary():
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log(slog.LevelWarn, "accept failed; retrying", "err", err, "delay", delay)
				p.file.SetReadDeadline(time.Now().Add(delay))
				return delay, p.ctl(syscall.EPOLL_CTL_MOD, p.lfd, 0)
			}
			return 0, err
		}
		s.accepted(reg, a, buf, got, p)
	}
}

// checkAlive closes the registered node's connection on fd, which has
// news, unregisters the node, and reports true; it reports false if fd is
// not a node's connection.
func (s *Server) checkAlive(reg *registry, p *epollLoop, fd int32) bool {
	c, data := p.check(fd, s.logs(slog.LevelInfo))
	if c == nil {
		return false
	}
	if data {
		s.log(slog.LevelInfo, "data on ALIVE2 connection", "conn", c.id)
	}
	s.gone(reg, c)
	return true
}

// gone unregisters the node of c, whose connection has ended.
func (s *Server) gone(reg *registry, c *aliveConn) {
	if c.node != nil {
		s.unregister(reg, c.id, c.node)
	}
}

// aliveNow serves an ALIVE2_REQ whose body req came whole with a
// connection that p's loop accepted, and reports whether it did: it
// registers the node, replies, and has p watch the connection.
func (s *Server) aliveNow(reg *registry, a accepted, req []byte, p *epollLoop) bool {
	if p == nil || a.c != nil {
		return false
	}
	id := s.nextID.Add(1)
	if !a.isLocal() {
		s.log(slog.LevelWarn, "ALIVE2_REQ from non-local address", "conn", id, "remote", a.remoteAddr().String())
		closeFD(a.fd)
		return true
	}
	c := &aliveConn{loop: p, fd: int32(a.fd), id: id}
	reply, n, ok := s.register(reg, id, req, c)
	if !ok {
		closeFD(a.fd)
		return true
	}
	c.node = n
	// The reply is a few bytes on a new connection: it never waits.
	if err := sendNow(a.fd, reply); err != nil {
		s.log(slog.LevelWarn, "failed to send reply", "conn", id, "op", "ALIVE2_REQ", "err", err)
		if n != nil {
			reg.unregister(n)
		}
		closeFD(a.fd)
		return true
	}
	if n != nil {
		s.registered(id, n)
	}
	if !p.add(c) {
		closeFD(a.fd)
		s.gone(reg, c)
	}
	return true
}
