package epmd

import (
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// deferAcceptSeconds is how long the kernel holds a connection that has
// sent nothing before handing it over anyway.
const deferAcceptSeconds = 5

// deferAccept sets TCP_DEFER_ACCEPT on a listening socket. Failing to is
// not an error: the listener then works as usual.
func deferAccept(network, address string, c syscall.RawConn) error {
	return c.Control(func(fd uintptr) {
		syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_DEFER_ACCEPT, deferAcceptSeconds)
	})
}

// rawListen makes l, a TCP listener from Listen, a *rawListener, so that
// Serve accepts on it with raw system calls; if that fails it returns l.
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
// them can block: the listening socket is non-blocking, and reads and
// writes on accepted sockets pass MSG_DONTWAIT.
func rawListen(l net.Listener) net.Listener {
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
	return &rawListener{f: f, rc: rc, addr: addr}
}

// rawListener is a listening socket from Listen, on which Serve accepts
// with raw system calls, waiting for it in the network poller.
type rawListener struct {
	f      *os.File
	rc     syscall.RawConn
	addr   net.Addr
	closed atomic.Bool
}

// Accept waits for and returns the next connection.
func (l *rawListener) Accept() (net.Conn, error) {
	a, _, err := l.accept(nil)
	if err != nil {
		return nil, err
	}
	c, err := a.conn()
	if err != nil {
		a.replyClose(nil)
		return nil, &net.OpError{Op: "accept", Net: l.addr.Network(), Addr: l.addr, Err: err}
	}
	return c, nil
}

// Close closes the listener; a blocked Accept returns an error.
func (l *rawListener) Close() error {
	l.closed.Store(true)
	if err := l.f.Close(); err != nil {
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

func (l *rawListener) accept(buf []byte) (accepted, int, error) {
	fd := -1
	var errno syscall.Errno
	err := l.rc.Read(func(lfd uintptr) bool {
		for {
			// A blocking socket, so that os.NewFile leaves it out of the
			// poller if conn hands it over.
			nfd, _, e := syscall.RawSyscall6(syscall.SYS_ACCEPT4, lfd, 0, 0, syscall.SOCK_CLOEXEC, 0, 0)
			switch e {
			case 0:
				fd = int(nfd)
				return true
			case syscall.EAGAIN:
				return false // wait in the poller
			case syscall.EINTR, syscall.ECONNABORTED:
				continue
			}
			errno = e
			return true
		}
	})
	switch {
	case l.closed.Load():
		err = net.ErrClosed
	case err == nil && errno != 0:
		err = os.NewSyscallError("accept4", errno)
	}
	if err != nil {
		if fd >= 0 {
			syscall.RawSyscall(syscall.SYS_CLOSE, uintptr(fd), 0, 0)
		}
		return accepted{}, 0, &net.OpError{Op: "accept", Net: l.addr.Network(), Addr: l.addr, Err: err}
	}
	got := 0
	if len(buf) > 0 {
		n, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, uintptr(fd),
			uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), syscall.MSG_DONTWAIT, 0, 0)
		if e == 0 {
			got = int(n)
		}
	}
	return accepted{fd: fd}, got, nil
}

// accepted is a connection Serve has just accepted: c, or when c is nil
// the socket fd that a rawListener accepted.
type accepted struct {
	c  net.Conn
	fd int
}

// replyClose writes b, if not empty, and closes the connection.
func (a accepted) replyClose(b []byte) error {
	if a.c != nil {
		return netReplyClose(a.c, b)
	}
	var err error
	if len(b) > 0 {
		n, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(a.fd),
			uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), syscall.MSG_DONTWAIT|syscall.MSG_NOSIGNAL, 0, 0)
		switch {
		case e != 0:
			err = os.NewSyscallError("sendto", e)
		case int(n) < len(b):
			err = io.ErrShortWrite
		}
	}
	syscall.RawSyscall(syscall.SYS_CLOSE, uintptr(a.fd), 0, 0)
	return err
}

// conn returns the connection as a net.Conn. For a raw socket this costs
// a few system calls, which only requests other than lookups pay. TCP
// keep-alive stays off, as Listen asks.
func (a accepted) conn() (net.Conn, error) {
	if a.c != nil {
		return a.c, nil
	}
	f := os.NewFile(uintptr(a.fd), "epmd connection")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetKeepAlive(false)
	}
	return c, nil
}
