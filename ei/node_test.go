package ei

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestNodeCookieFile(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	n := &Node{Name: "a@host"}
	if _, err := n.Pid(); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Pid() without a cookie file = %v, want fs.ErrNotExist", err)
	}
	if err := os.WriteFile(filepath.Join(home, ".erlang.cookie"), []byte("SECRET\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	n = &Node{Name: "a@host"}
	if err := n.init(); err != nil {
		t.Fatalf("init() = %v", err)
	}
	if n.cookie != "SECRET" {
		t.Errorf("cookie = %q, want SECRET", n.cookie)
	}
}

func TestNodeName(t *testing.T) {
	for _, name := range []string{"", "a", "@h", "a@", "a@b@c"} {
		n := &Node{Name: name, Cookie: "c"}
		if _, err := n.Pid(); err == nil {
			t.Errorf("Pid() of node %q = nil error, want an error", name)
		}
		if _, err := n.Connect(context.Background(), "b@h"); err == nil {
			t.Errorf("Connect() from node %q = nil error, want an error", name)
		}
	}
	n := &Node{Name: "a@h", Cookie: "c"}
	if _, err := n.Connect(context.Background(), "nohost"); err == nil {
		t.Errorf("Connect(nohost) = nil error, want an error")
	}
}

func TestNodePid(t *testing.T) {
	n := &Node{Name: "a@h", Cookie: "c", Creation: 7}
	seen := map[Pid]bool{}
	for range 100 {
		p, err := n.Pid()
		if err != nil {
			t.Fatal(err)
		}
		if p.Node != "a@h" || p.Creation != 7 || seen[p] {
			t.Fatalf("Pid() = %v", p)
		}
		seen[p] = true
	}
	// Zero creation picks a random non-zero one, once.
	n = &Node{Name: "a@h", Cookie: "c"}
	p1, _ := n.Pid()
	p2, _ := n.Pid()
	if p1.Creation == 0 || p1.Creation != p2.Creation {
		t.Errorf("creations = %d, %d; want equal and non-zero", p1.Creation, p2.Creation)
	}
}

func TestNodeFlags(t *testing.T) {
	for _, tt := range []struct {
		flags, want Flags
	}{
		{0, DefaultFlags},
		{FlagPublished, MandatoryFlags},                      // never published; mandatory added
		{DefaultFlags | FlagSpawn | FlagAlias, DefaultFlags}, // not implemented
		{DefaultFlags &^ FlagDistHdrAtomCache, DefaultFlags &^ FlagDistHdrAtomCache},
	} {
		n := &Node{Flags: tt.flags}
		if got := n.advertised(); got != tt.want {
			t.Errorf("advertised(%v) = %v, want %v", tt.flags, got, tt.want)
		}
	}
}

func TestListenerAccept(t *testing.T) {
	ctx := context.Background()
	server := &Node{Name: "s@h", Cookie: "c", Creation: 1}
	l, err := server.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// A client with the wrong cookie is skipped; the next one is accepted.
	done := make(chan error, 1)
	go func() {
		c, err := l.Accept(ctx)
		if err == nil {
			err = c.Close()
		}
		done <- err
	}()
	dial := func(cookie string) (*Conn, error) {
		n := &Node{Name: "c@h", Cookie: cookie, Creation: 2}
		return n.ConnectAddr(ctx, "s@h", l.Addr().String())
	}
	if _, err := dial("wrong"); !errors.Is(err, ErrAuth) {
		t.Errorf("connect with a wrong cookie = %v, want ErrAuth", err)
	}
	c, err := dial("c")
	if err != nil {
		t.Fatalf("connect = %v", err)
	}
	c.Close()
	if err := <-done; err != nil {
		t.Fatalf("Accept() = %v", err)
	}
	// Cancelling ctx interrupts Accept; Close makes it return ErrClosed.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := l.Accept(cctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Accept(canceled) = %v, want context.Canceled", err)
	}
	l.Close()
	if _, err := l.Accept(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Accept() after Close = %v, want ErrClosed", err)
	}
}
