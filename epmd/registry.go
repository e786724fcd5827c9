package epmd

import (
	"container/list"
	"io"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// Limits of OTP's epmd (erts/epmd/src/epmd_int.h).
const (
	maxSymLen   = 255 * 4       // MAXSYMLEN: longest name or extra, in bytes
	maxSymChars = 255           // longest node name, in characters
	maxUnused   = 1000          // MAX_UNREG_COUNT: unregistered names remembered
	inbufSize   = 3 * maxSymLen // INBUF_SIZE: a request and its prefix are shorter
)

// node is a registered node. It is never changed after register returns, so
// readers may use it without the lock.
type node struct {
	info    NodeInfo
	id      uint64        // connection number, shown as "fd" by DUMP_REQ
	counter uint32        // creation counter, see creation
	conn    io.Closer     // the ALIVE2 connection; STOP_REQ closes it
	elem    *list.Element // in registry.order
	port2   []byte        // the PORT2_RESP reply for this node
}

// creation is the creation epmd hands out: the 32-bit counter for nodes of
// distribution version 6 and later, else a value in 1..3.
func (n *node) creation() uint32 { return creationOf(n.counter, n.info.HighestVersion) }

func creationOf(counter uint32, highestVersion uint16) uint32 {
	if highestVersion >= 6 {
		return counter
	}
	return counter%3 + 1
}

// bump advances a creation counter the way OTP's epmd does: by one,
// skipping 0..3 so a 32-bit creation never collides with an old 1..3 one.
func bump(counter uint32) uint32 {
	counter++
	if counter < 4 {
		counter = 4
	}
	return counter
}

// unused remembers a name that was registered before, so that the next
// registration of that name gets a different creation.
type unused struct {
	name    string
	port    uint16
	id      uint64
	counter uint32
}

// registry holds the registered nodes and the recently unregistered names.
// It is safe for concurrent use.
type registry struct {
	now func() time.Time // seeds the creation of never-seen names

	mu         sync.RWMutex
	live       map[string]*node
	order      list.List // of *node, newest first, as OTP lists them
	unused     map[string]*list.Element
	unusedList list.List // of *unused, oldest first
}

func newRegistry() *registry {
	return &registry{
		now:    time.Now,
		live:   make(map[string]*node),
		unused: make(map[string]*list.Element),
	}
}

// validName reports whether name may be registered: 1 to 255 UTF-8
// characters in at most maxSymLen bytes, without NUL. OTP's epmd also
// accepts the empty name; we refuse it, as no node can be called that.
func validName(name string) bool {
	return len(name) > 0 && len(name) <= maxSymLen && utf8.ValidString(name) &&
		utf8.RuneCountInString(name) <= maxSymChars
}

// register adds a node, bound to the connection conn numbered id. It
// returns nil when the name is invalid or already registered, or the extra
// data is too long.
func (r *registry) register(info NodeInfo, id uint64, conn io.Closer) *node {
	if !validName(info.Name) || len(info.Extra) > maxSymLen {
		return nil
	}
	// The reply to lookups is made once, here.
	port2, err := (&Port2Resp{NodeInfo: info}).AppendBinary(make([]byte, 0, 14+len(info.Name)+len(info.Extra)))
	if err != nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.live[info.Name]; ok {
		return nil
	}
	var counter uint32
	if e, ok := r.unused[info.Name]; ok {
		// A name seen before gets the next creation.
		counter = bump(r.removeUnused(e).counter)
	} else if r.unusedList.Len() > maxUnused {
		// Like OTP, recycle the oldest remembered entry, counter and all.
		counter = bump(r.removeUnused(r.unusedList.Front()).counter)
	} else {
		counter = bump(uint32(r.now().Unix()))
	}
	n := &node{info: info, id: id, counter: counter, conn: conn, port2: port2}
	n.elem = r.order.PushFront(n)
	r.live[info.Name] = n
	return n
}

func (r *registry) removeUnused(e *list.Element) *unused {
	u := r.unusedList.Remove(e).(*unused)
	delete(r.unused, u.name)
	return u
}

// unregister removes n if it is still registered, remembering its name.
// It reports whether it removed n.
func (r *registry) unregister(n *node) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.live[n.info.Name] != n {
		return false
	}
	r.removeLive(n)
	return true
}

// unregisterName removes the node called name and returns it, or nil.
func (r *registry) unregisterName(name string) *node {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.live[name]
	if n != nil {
		r.removeLive(n)
	}
	return n
}

func (r *registry) removeLive(n *node) {
	delete(r.live, n.info.Name)
	r.order.Remove(n.elem)
	u := &unused{name: n.info.Name, port: n.info.Port, id: n.id, counter: n.counter}
	r.unused[u.name] = r.unusedList.PushBack(u)
}

// lookup returns the node called name, or nil.
func (r *registry) lookup(name string) *node {
	r.mu.RLock()
	n := r.live[name]
	r.mu.RUnlock()
	return n
}

// count returns the number of registered nodes.
func (r *registry) count() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.live)
}

// appendNames appends the text of a NAMES_REQ reply, newest node first.
func (r *registry) appendNames(b []byte) []byte {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for e := r.order.Front(); e != nil; e = e.Next() {
		n := e.Value.(*node)
		b = append(b, "name "...)
		b = append(b, n.info.Name...)
		b = append(b, " at port "...)
		b = strconv.AppendUint(b, uint64(n.info.Port), 10)
		b = append(b, '\n')
	}
	return b
}

// appendDump appends the text of a DUMP_REQ reply: registered nodes newest
// first, then remembered names oldest first. Like OTP's epmd, every line
// ends in "\n\x00"; "fd" is the connection number.
func (r *registry) appendDump(b []byte) []byte {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for e := r.order.Front(); e != nil; e = e.Next() {
		n := e.Value.(*node)
		b = append(b, "active name     <"...)
		b = append(b, n.info.Name...)
		b = append(b, "> at port "...)
		b = strconv.AppendUint(b, uint64(n.info.Port), 10)
		b = append(b, ", fd = "...)
		b = strconv.AppendUint(b, n.id, 10)
		b = append(b, "\n\x00"...)
	}
	for e := r.unusedList.Front(); e != nil; e = e.Next() {
		u := e.Value.(*unused)
		b = append(b, "old/unused name <"...)
		b = append(b, u.name...)
		b = append(b, ">, port = "...)
		b = strconv.AppendUint(b, uint64(u.port), 10)
		b = append(b, ", fd = "...)
		b = strconv.AppendUint(b, u.id, 10)
		b = append(b, " \n\x00"...)
	}
	return b
}
