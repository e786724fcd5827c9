package epmd

import (
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// deferAcceptSeconds is the TCP_DEFER_ACCEPT setting: the kernel holds a
// connection that has sent nothing until it has resent its SYN-ACK once,
// after deferAcceptWait, and then hands it over on the peer's next ACK.
const (
	deferAcceptSeconds = 1
	deferAcceptWait    = time.Second
)

// deferAccept sets TCP_DEFER_ACCEPT on a listening socket and reports
// whether that worked. Failing to is not an error: the listener then works
// as usual.
func deferAccept(c syscall.RawConn) bool {
	ok := false
	c.Control(func(fd uintptr) {
		ok = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_DEFER_ACCEPT, deferAcceptSeconds) == nil
	})
	return ok
}

// rawListen makes l, a TCP listener from Listen, a *rawListener, so that
// Serve accepts on it with raw system calls; if that fails it returns l.
// deferred tells whether l has TCP_DEFER_ACCEPT set.
//
// This is for the sequential lookup. When a Go program wakes from the
// network poller with every P idle, its first system call made through
// the syscall package (accept4, in net's Accept) also wakes the runtime's
// monitor thread, sysmon, which then sleeps in 20 µs steps until it sees
// the program idle again. For an epmd answering one lookup at a time
// that is a futex wake-up, another thread and more context switches per
// lookup: about a third of each lookup on a 2-vCPU VM where waking an
// idle CPU is dear. Raw system calls do not announce themselves to the
// scheduler, so sysmon sleeps on. They are safe here because none of
// them can block: the listening and accepted sockets are non-blocking.
func rawListen(l net.Listener, deferred bool) net.Listener {
	tl, ok := l.(*net.TCPListener)
	if !ok {
		return l
	}
	// The copy is non-blocking and in the poller; closing the original
	// leaves it the only descriptor of the socket.
	f, err := tl.File()
	if err != nil {
		return l
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return l
	}
	addr := tl.Addr()
	tl.Close()
	rl := &rawListener{f: f, rc: rc, addr: addr}
	if deferred {
		rl.waited = deferAcceptWait
	}
	return rl
}

// rawListener is a listening socket from Listen, on which Serve accepts
// with raw system calls, waiting for it in the network poller.
type rawListener struct {
	f      *os.File
	rc     syscall.RawConn
	addr   net.Addr
	waited time.Duration // how long a connection that sent nothing waited to be accepted
	closed atomic.Bool
	loop   atomic.Pointer[epollLoop] // that Serve waits on, if any

	// For acceptNow, made once: a closure and what it accepted.
	acceptFn func(uintptr)
	next     accepted
	nextErr  syscall.Errno
}

// Accept waits for and returns the next connection, which is not a
// *net.TCPConn.
func (l *rawListener) Accept() (net.Conn, error) {
	a, _, err := l.accept(nil)
	if err != nil {
		return nil, err
	}
	return a.conn(), nil
}

// Close closes the listener; a blocked Accept, or Serve, returns an
// error.
func (l *rawListener) Close() error {
	if l.closed.Swap(true) {
		return &net.OpError{Op: "close", Net: l.addr.Network(), Addr: l.addr, Err: net.ErrClosed}
	}
	err := l.f.Close()
	if p := l.loop.Load(); p != nil {
		p.interrupt()
	}
	if err != nil {
		return &net.OpError{Op: "close", Net: l.addr.Network(), Addr: l.addr, Err: net.ErrClosed}
	}
	return nil
}

// Addr returns the listener's network address.
func (l *rawListener) Addr() net.Addr { return l.addr }

// newAccepter returns how Serve accepts on l.
func newAccepter(l net.Listener) accepter {
	if rl, ok := l.(*rawListener); ok {
		return rl
	}
	return netAccepter{l}
}

// accept waits for the next connection and reads what has arrived on it.
func (l *rawListener) accept(buf []byte) (accepted, int, error) {
	var a accepted
	var errno syscall.Errno
	err := l.rc.Read(func(lfd uintptr) bool {
		a, errno = accept4(lfd)
		return errno != syscall.EAGAIN // else wait in the poller
	})
	return l.accepted(a, errno, err, buf)
}

// acceptNow accepts the next connection and reads what has arrived on it,
// without waiting: it returns syscall.EAGAIN when no connection is
// waiting. Only one goroutine may call it, Serve's loop.
func (l *rawListener) acceptNow(buf []byte) (accepted, int, error) {
	if l.acceptFn == nil {
		l.acceptFn = func(lfd uintptr) { l.next, l.nextErr = accept4(lfd) }
	}
	err := l.rc.Control(l.acceptFn)
	return l.accepted(l.next, l.nextErr, err, buf)
}

// accept4 accepts a connection on the listening socket lfd.
func accept4(lfd uintptr) (accepted, syscall.Errno) {
	a := accepted{fd: -1}
	for {
		salen := uint32(unsafe.Sizeof(a.peer))
		nfd, _, e := syscall.RawSyscall6(syscall.SYS_ACCEPT4, lfd,
			uintptr(unsafe.Pointer(&a.peer)), uintptr(unsafe.Pointer(&salen)),
			syscall.SOCK_CLOEXEC|syscall.SOCK_NONBLOCK, 0, 0)
		switch e {
		case 0:
			a.fd = int(nfd)
			return a, 0
		case syscall.EINTR, syscall.ECONNABORTED:
			continue
		}
		return a, e
	}
}

// accepted finishes accept and acceptNow.
func (l *rawListener) accepted(a accepted, errno syscall.Errno, err error, buf []byte) (accepted, int, error) {
	switch {
	case l.closed.Load():
		err = net.ErrClosed
	case err == nil && errno == syscall.EAGAIN:
		return accepted{}, 0, syscall.EAGAIN // for acceptNow, which sees it after each burst
	case err == nil && errno != 0:
		err = os.NewSyscallError("accept4", errno)
	}
	if err != nil {
		if a.fd >= 0 {
			closeFD(a.fd)
		}
		return accepted{}, 0, &net.OpError{Op: "accept", Net: l.addr.Network(), Addr: l.addr, Err: err}
	}
	got := 0
	if len(buf) > 0 {
		got = recvNow(a.fd, buf)
		if got == 0 {
			a.waited = l.waited
		}
	}
	return a, got, nil
}

// recvNow reads into b what socket fd has received so far, without
// waiting, and returns the count: 0 when nothing is there or on error.
func recvNow(fd int, b []byte) int {
	n, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, uintptr(fd),
		uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), syscall.MSG_DONTWAIT, 0, 0)
	if e != 0 {
		return 0
	}
	return int(n)
}

// sendNow writes b to socket fd without waiting.
func sendNow(fd int, b []byte) error {
	n, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(fd),
		uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), syscall.MSG_DONTWAIT|syscall.MSG_NOSIGNAL, 0, 0)
	switch {
	case e != 0:
		return os.NewSyscallError("sendto", e)
	case int(n) < len(b):
		return io.ErrShortWrite
	}
	return nil
}

// closeFD closes socket fd.
func closeFD(fd int) { syscall.RawSyscall(syscall.SYS_CLOSE, uintptr(fd), 0, 0) }

// accepted is a connection Serve has just accepted: c, or when c is nil
// the non-blocking socket fd that a rawListener accepted from peer.
type accepted struct {
	c      net.Conn
	fd     int
	peer   syscall.RawSockaddrInet6 // large enough for IPv4 too
	waited time.Duration            // how long it had been idle when accepted
}

// replyClose writes b, if not empty, and closes the connection.
func (a *accepted) replyClose(b []byte) error {
	if a.c != nil {
		return netReplyClose(a.c, b)
	}
	var err error
	if len(b) > 0 {
		err = sendNow(a.fd, b)
	}
	closeFD(a.fd)
	return err
}

// conn returns the connection as a net.Conn. A raw socket becomes an
// *os.File in the network poller, which takes no second descriptor, as
// net.FileConn would.
func (a *accepted) conn() net.Conn {
	if a.c != nil {
		return a.c
	}
	c := &fileConn{File: os.NewFile(uintptr(a.fd), "epmd connection"), remote: a.remoteAddr()}
	if sa, err := syscall.Getsockname(a.fd); err == nil {
		c.local = tcpAddr(sa)
	}
	if c.local == nil {
		c.local = &net.TCPAddr{}
	}
	return c
}

// remoteAddr returns the peer's address.
func (a *accepted) remoteAddr() *net.TCPAddr {
	switch a.peer.Family {
	case syscall.AF_INET:
		sa := (*syscall.RawSockaddrInet4)(unsafe.Pointer(&a.peer))
		return &net.TCPAddr{IP: net.IP(sa.Addr[:]).To16(), Port: int(ntohs(sa.Port))}
	case syscall.AF_INET6:
		return &net.TCPAddr{IP: net.IP(a.peer.Addr[:]).To16(), Port: int(ntohs(a.peer.Port))}
	}
	return &net.TCPAddr{}
}

// isLocal reports whether the peer is on this host, as isLocal does for
// net.Addrs; it only asks for the local address when the peer is not on a
// loopback address.
func (a *accepted) isLocal() bool {
	if a.c != nil {
		return isLocal(a.c.RemoteAddr(), a.c.LocalAddr())
	}
	switch a.peer.Family {
	case syscall.AF_INET:
		if (*syscall.RawSockaddrInet4)(unsafe.Pointer(&a.peer)).Addr[0] == 127 {
			return true
		}
	case syscall.AF_INET6:
		if ip := net.IP(a.peer.Addr[:]); ip.IsLoopback() {
			return true
		}
	}
	sa, err := syscall.Getsockname(a.fd)
	if err != nil {
		return false
	}
	return isLocal(a.remoteAddr(), tcpAddr(sa))
}

// tcpAddr converts a socket address.
func tcpAddr(sa syscall.Sockaddr) *net.TCPAddr {
	switch sa := sa.(type) {
	case *syscall.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(sa.Addr[:]).To16(), Port: sa.Port}
	case *syscall.SockaddrInet6:
		return &net.TCPAddr{IP: net.IP(sa.Addr[:]), Port: sa.Port}
	}
	return nil
}

// ntohs converts a port number in network byte order.
func ntohs(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}

// fileConn is an accepted socket as an *os.File, with its addresses.
type fileConn struct {
	*os.File
	local, remote net.Addr
}

func (c *fileConn) LocalAddr() net.Addr  { return c.local }
func (c *fileConn) RemoteAddr() net.Addr { return c.remote }
