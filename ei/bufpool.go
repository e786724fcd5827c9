package ei

import (
	"math/bits"
	"sync"
)

// Buffers for fragmented messages that Receive (not ReceiveReuse) reads.
// Reassembling a message into memory the message then owns would cost a
// buffer of about the whole message, cleared by the runtime, for each
// one, and erl sends every message over 64 KiB in fragments. Instead the
// fragments go into a buffer taken from a pool shared by all
// connections, the message's binaries are copied out of it into memory
// of their exact size, which the runtime need not clear first, and the
// buffer goes back. The pool lets go of buffers the garbage collector
// finds unused for two cycles, so a connection that once carried a large
// message holds nothing for it.

const (
	minPooled   = 64 << 10 // the smallest class of buffer
	poolClasses = 8        // classes double from minPooled
	maxPooled   = minPooled << (poolClasses - 1)
)

var bufPools [poolClasses]sync.Pool // of *[]byte, class i of cap minPooled<<i

// poolClass returns the class of the smallest pooled buffer with room
// for size bytes; size <= maxPooled.
func poolClass(size int) int {
	if size <= minPooled {
		return 0
	}
	return bits.Len(uint(size-1)) - bits.Len(uint(minPooled-1))
}

// getPooled returns an empty buffer from the pool with room for size
// bytes, of at most room bytes, or nil.
func getPooled(size, room int) []byte {
	if size > maxPooled {
		return nil
	}
	i := poolClass(size)
	if minPooled<<i > room {
		return nil
	}
	if p, _ := bufPools[i].Get().(*[]byte); p != nil {
		return (*p)[:0]
	}
	return make([]byte, 0, minPooled<<i)
}

// putPooled gives back a buffer that getPooled returned.
func putPooled(b []byte) {
	if cap(b) > maxPooled {
		return // not one of ours
	}
	i := poolClass(cap(b))
	if cap(b) != minPooled<<i {
		return // not one of ours
	}
	b = b[:0]
	bufPools[i].Put(&b)
}
