package epmd

import (
	"log/slog"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// aliveWatcher holds the connections of the nodes that Serve registers on
// its accept loop. Each stays open, with nothing to do, until the node
// closes it or sends something; rather than a goroutine blocked in a read
// for each, an epoll instance of the watcher's own watches them all, and
// one goroutine (Server.watchAlive) waits for it in the network poller.
// Only that goroutine closes the sockets, under mu, so a descriptor
// number is never closed twice or confused with a later connection's.
type aliveWatcher struct {
	file *os.File // the epoll instance, non-blocking and in the poller
	rc   syscall.RawConn
	epfd int

	mu     sync.Mutex
	conns  map[int32]*aliveConn // by descriptor
	closed bool
}

// aliveConn is a watched ALIVE2_REQ connection.
type aliveConn struct {
	w       *aliveWatcher
	fd      int32
	id      uint64
	node    *node // nil when the registration was refused
	watched bool  // in w.conns; guarded by w.mu
	stopped bool  // Close was called; guarded by w.mu
}

func newAliveWatcher() (*aliveWatcher, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		closeFD(epfd)
		return nil, err
	}
	f := os.NewFile(uintptr(epfd), "epmd alive connections")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &aliveWatcher{file: f, rc: rc, epfd: epfd, conns: make(map[int32]*aliveConn)}, nil
}

// add watches c, and reports false when the watcher is closed.
func (w *aliveWatcher) add(c *aliveConn) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return false
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: c.fd}
	if _, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_CTL, uintptr(w.epfd), syscall.EPOLL_CTL_ADD,
		uintptr(c.fd), uintptr(unsafe.Pointer(&ev)), 0, 0); e != 0 {
		return false
	}
	c.watched = true
	w.conns[c.fd] = c
	if c.stopped {
		syscall.Shutdown(int(c.fd), syscall.SHUT_RDWR)
	}
	return true
}

// Close ends the connection, as STOP_REQ asks: the peer sees it closed,
// and the watcher then closes the socket.
func (c *aliveConn) Close() error {
	c.w.mu.Lock()
	defer c.w.mu.Unlock()
	c.stopped = true
	if c.watched {
		syscall.Shutdown(int(c.fd), syscall.SHUT_RDWR)
	}
	return nil
}

// wait waits until connections have news and stores their descriptors'
// events in events; it returns how many, or an error once the watcher is
// closed.
func (w *aliveWatcher) wait(events []syscall.EpollEvent) (int, error) {
	n := 0
	var errno syscall.Errno
	err := w.rc.Read(func(fd uintptr) bool {
		for {
			k, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, fd,
				uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
			switch e {
			case 0:
				n = int(k)
				return n > 0 // else wait in the poller
			case syscall.EINTR:
				continue
			}
			errno = e
			return true
		}
	})
	if err == nil && errno != 0 {
		err = os.NewSyscallError("epoll_pwait", errno)
	}
	return n, err
}

// check looks at the connection on descriptor fd, which has news. If the
// peer closed it or sent data (which it reports), it closes the socket,
// stops watching it, and returns it.
func (w *aliveWatcher) check(fd int32) (c *aliveConn, data, gone bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c = w.conns[fd]
	if c == nil {
		return nil, false, false // closed by closeAll, say
	}
	var b [1]byte
	n, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, uintptr(fd),
		uintptr(unsafe.Pointer(&b[0])), 1, syscall.MSG_DONTWAIT, 0, 0)
	if e == syscall.EAGAIN {
		return nil, false, false // news of an earlier connection on this descriptor
	}
	delete(w.conns, fd)
	closeFD(int(fd))
	return c, e == 0 && n > 0, true
}

// close makes the watcher close every connection and end.
func (w *aliveWatcher) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.file.Close() // ends a wait
}

// closeAll closes the connections still watched, and the epoll instance,
// and returns them.
func (w *aliveWatcher) closeAll() []*aliveConn {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	var cs []*aliveConn
	for fd, c := range w.conns {
		closeFD(int(fd))
		cs = append(cs, c)
	}
	w.conns = nil
	w.file.Close()
	return cs
}

// aliveWatcher returns the server's watcher, starting it on first use, or
// nil when the server is closing or the watcher cannot be made.
func (s *Server) aliveWatcher() *aliveWatcher {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil
	}
	if s.watch == nil {
		w, err := newAliveWatcher()
		if err != nil {
			s.log(slog.LevelWarn, "cannot watch registered nodes' connections; using goroutines", "err", err)
			return nil
		}
		s.watch = w
		reg := s.reg
		s.wg.Add(1)
		go s.watchAlive(reg, w)
	}
	return s.watch
}

// watchAlive unregisters the nodes watched by w as their connections end,
// until w is closed; then it closes the rest and unregisters their nodes.
func (s *Server) watchAlive(reg *registry, w *aliveWatcher) {
	defer s.wg.Done()
	events := make([]syscall.EpollEvent, 64)
	for {
		n, err := w.wait(events)
		if err != nil {
			break
		}
		for _, ev := range events[:n] {
			if c, data, gone := w.check(ev.Fd); gone {
				if data {
					s.log(slog.LevelInfo, "data on ALIVE2 connection", "conn", c.id)
				}
				s.gone(reg, c)
			}
		}
	}
	for _, c := range w.closeAll() {
		s.gone(reg, c)
	}
}

// gone unregisters the node of c, whose connection has ended.
func (s *Server) gone(reg *registry, c *aliveConn) {
	if c.node != nil {
		s.unregister(reg, c.id, c.node)
	}
}

// aliveNow serves an ALIVE2_REQ whose body req came whole with a
// connection accepted with raw system calls, and reports whether it did:
// it registers the node, replies, and hands the connection to the
// server's watcher.
func (s *Server) aliveNow(reg *registry, a accepted, req []byte) bool {
	if a.c != nil {
		return false
	}
	w := s.aliveWatcher()
	if w == nil {
		return false
	}
	id := s.nextID.Add(1)
	if !a.isLocal() {
		s.log(slog.LevelWarn, "ALIVE2_REQ from non-local address", "conn", id, "remote", a.remoteAddr().String())
		closeFD(a.fd)
		return true
	}
	c := &aliveConn{w: w, fd: int32(a.fd), id: id}
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
	if !w.add(c) {
		closeFD(a.fd)
		s.gone(reg, c)
	}
	return true
}
