package epmd

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"
)

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// fixedRegistry returns a registry whose clock reads unix seconds t.
func fixedRegistry(t int64) *registry {
	r := newRegistry()
	r.now = func() time.Time { return time.Unix(t, 0) }
	return r
}

func TestBump(t *testing.T) {
	tests := []struct{ in, want uint32 }{
		{0, 4},                   // skips 1..3, OTP 22's creations
		{2, 4},                   // likewise
		{3, 4},                   // likewise
		{4, 5},                   // plain increment
		{1795593000, 1795593001}, // a time-seeded counter
		{0xffffffff, 4},          // wraps past 0..3
	}
	for _, tt := range tests {
		if got := bump(tt.in); got != tt.want {
			t.Errorf("bump(%d) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestCreationOf(t *testing.T) {
	tests := []struct {
		counter uint32
		version uint16
		want    uint32
	}{
		{1000, 6, 1000}, // version 6: the 32-bit counter
		{1000, 7, 1000}, // later versions too
		{1000, 5, 2},    // version 5: counter%3+1
		{1001, 5, 3},    // ...
		{1002, 5, 1},    // ...
	}
	for _, tt := range tests {
		if got := creationOf(tt.counter, tt.version); got != tt.want {
			t.Errorf("creationOf(%d, %d) = %d, want %d", tt.counter, tt.version, got, tt.want)
		}
	}
}

func TestRegistryCreation(t *testing.T) {
	r := fixedRegistry(1000)
	v6 := NodeInfo{Name: "foo", Port: 5000, Type: NodeTypeNormal, HighestVersion: 6, LowestVersion: 5}
	n := r.register(v6, 1, nopCloser{})
	if n == nil || n.creation() != 1001 {
		t.Fatalf("first register(foo) = %v, want creation 1001 (clock + 1)", n)
	}
	if again := r.register(v6, 2, nopCloser{}); again != nil {
		t.Fatalf("register(foo) while registered = %v, want nil", again)
	}
	r.now = func() time.Time { return time.Unix(5000, 0) }
	if !r.unregister(n) {
		t.Fatal("unregister(foo) = false, want true")
	}
	if r.unregister(n) {
		t.Fatal("second unregister(foo) = true, want false")
	}
	n2 := r.register(v6, 3, nopCloser{})
	if n2 == nil || n2.creation() != 1002 {
		t.Fatalf("re-register(foo) = %v, want creation 1002 (previous + 1, clock ignored)", n2)
	}
	// The old registration's late unregister must not remove the new one.
	if r.unregister(n) || r.lookup("foo") != n2 {
		t.Fatal("stale unregister removed the new registration")
	}
	r.unregister(n2)
	v5 := v6
	v5.HighestVersion = 5
	n3 := r.register(v5, 4, nopCloser{})
	if n3 == nil || n3.creation() != 1003%3+1 {
		t.Fatalf("register(foo, version 5) = %v, want creation %d", n3, 1003%3+1)
	}
	bar := r.register(NodeInfo{Name: "bar", HighestVersion: 6}, 5, nopCloser{})
	if bar == nil || bar.creation() != 5001 {
		t.Fatalf("register(bar) = %v, want creation 5001", bar)
	}
}

func TestRegistryRecyclesOldestUnused(t *testing.T) {
	r := fixedRegistry(100)
	// Fill the memory of unregistered names one past OTP's limit.
	for i := range maxUnused + 1 {
		r.now = func() time.Time { return time.Unix(int64(100*i), 0) }
		n := r.register(NodeInfo{Name: "n" + strconv.Itoa(i), HighestVersion: 6}, uint64(i), nopCloser{})
		if n == nil {
			t.Fatalf("register #%d failed", i)
		}
		r.unregister(n)
	}
	if got := r.unusedList.Len(); got != maxUnused+1 {
		t.Fatalf("unused = %d, want %d", got, maxUnused+1)
	}
	oldest := r.unusedList.Front().Value.(*unused)
	r.now = func() time.Time { return time.Unix(1e9, 0) }
	n := r.register(NodeInfo{Name: "fresh", HighestVersion: 6}, 9999, nopCloser{})
	if n == nil || n.creation() != bump(oldest.counter) {
		t.Fatalf("register(fresh) = %v, want the oldest entry's counter bumped, %d", n, bump(oldest.counter))
	}
	if _, ok := r.unused[oldest.name]; ok || r.unusedList.Len() != maxUnused {
		t.Fatalf("oldest entry %q still remembered, %d entries", oldest.name, r.unusedList.Len())
	}
}

func TestRegistryRejects(t *testing.T) {
	r := fixedRegistry(1)
	tests := []struct {
		name string
		info NodeInfo
	}{
		{"empty name", NodeInfo{Name: ""}},
		{"invalid UTF-8", NodeInfo{Name: "a\xffb"}},
		{"surrogate", NodeInfo{Name: "a\xed\xa0\x80"}},
		{"256 characters", NodeInfo{Name: strings.Repeat("a", 256)}},
		{"256 two-byte characters", NodeInfo{Name: strings.Repeat("é", 256)}},
		{"extra of 1021 bytes", NodeInfo{Name: "a", Extra: make([]byte, 1021)}},
	}
	for _, tt := range tests {
		if n := r.register(tt.info, 1, nopCloser{}); n != nil {
			t.Errorf("register(%s) = %v, want nil", tt.name, n)
		}
	}
	ok := []NodeInfo{
		{Name: strings.Repeat("a", 255)},                      // 255 characters
		{Name: strings.Repeat("\U0001F600", 255)},             // 255 characters in 1020 bytes
		{Name: "extra", Extra: bytes.Repeat([]byte{1}, 1020)}, // longest extra
	}
	for _, info := range ok {
		if n := r.register(info, 1, nopCloser{}); n == nil {
			t.Errorf("register(%.20q, %d bytes extra) = nil, want a node", info.Name, len(info.Extra))
		}
	}
}

func TestRegistryText(t *testing.T) {
	r := fixedRegistry(1)
	foo := r.register(NodeInfo{Name: "foo", Port: 1001, HighestVersion: 6}, 5, nopCloser{})
	r.register(NodeInfo{Name: "bar", Port: 1002, HighestVersion: 6}, 7, nopCloser{})
	baz := r.register(NodeInfo{Name: "baz", Port: 1003, HighestVersion: 6}, 8, nopCloser{})
	r.unregister(baz)
	r.unregister(foo)

	if got, want := string(r.appendNames(nil)), "name bar at port 1002\n"; got != want {
		t.Errorf("appendNames = %q, want %q", got, want)
	}
	r.register(NodeInfo{Name: "qux", Port: 1004, HighestVersion: 6}, 9, nopCloser{})
	if got, want := string(r.appendNames(nil)), "name qux at port 1004\nname bar at port 1002\n"; got != want {
		t.Errorf("appendNames = %q, want %q (newest first)", got, want)
	}
	want := "active name     <qux> at port 1004, fd = 9\n\x00" +
		"active name     <bar> at port 1002, fd = 7\n\x00" +
		"old/unused name <baz>, port = 1003, fd = 8 \n\x00" +
		"old/unused name <foo>, port = 1001, fd = 5 \n\x00"
	if got := string(r.appendDump(nil)); got != want {
		t.Errorf("appendDump =\n%q\nwant\n%q", got, want)
	}
}
