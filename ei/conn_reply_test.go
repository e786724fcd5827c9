package ei

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"net"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/goei/goei/internal/erltest"
)

// unlinkID returns a frame of UNLINK_ID with id from a@h <0.1.0> to
// <0.2.0>.
func unlinkID(id byte) []byte {
	return joinBytes([]byte{0, 0, 0, 45, 131, 68, 0, 104, 4, 97, 35, 97, id},
		[]byte{88, 119, 3, 'a', '@', 'h', 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9},
		[]byte{88, 119, 3, 'a', '@', 'h', 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 9})
}

// TestConnUnlinkIDPeerNotReading checks that a peer that sends UNLINK_ID
// and reads nothing does not hold up reading: the acks wait, and what
// follows is received. A peer that goes on past maxQueuedReplies has its
// connection closed.
func TestConnUnlinkIDPeerNotReading(t *testing.T) {
	send := erlFrames(1, 8) // a REG_SEND
	synctest.Test(t, func(t *testing.T) {
		c, peer := newRawConn(t, DefaultFlags, time.Hour)
		go peer.Write(joinBytes(unlinkID(1), unlinkID(2), send))
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // fake time
		defer cancel()
		for _, want := range []Control{UnlinkID{}, UnlinkID{}, RegSend{}} {
			m, err := c.Receive(ctx)
			if err != nil {
				t.Fatalf("Receive() with UNLINK_IDs not acknowledged yet = %v", err)
			}
			if reflect.TypeOf(m.Control) != reflect.TypeOf(want) {
				t.Fatalf("Receive() = %T, want %T", m.Control, want)
			}
		}
	})
	synctest.Test(t, func(t *testing.T) {
		c, peer := newRawConn(t, DefaultFlags, time.Hour)
		var many []byte
		for range maxQueuedReplies/45 + 1 {
			many = append(many, unlinkID(1)...)
		}
		go peer.Write(many)
		go func() {
			for {
				if _, err := c.Receive(context.Background()); err != nil {
					return
				}
			}
		}()
		<-c.Done()
		if err := c.Err(); err == nil || !strings.Contains(err.Error(), "reads nothing") {
			t.Errorf("Err() = %v, want the peer reading nothing", err)
		}
	})
}

// TestTableConnPeerNotReading checks that the signals a table connection
// answers for its mailboxes (here LINK to a process that does not exist,
// answered with EXIT noproc) do not hold up reading when the peer reads
// nothing.
func TestTableConnPeerNotReading(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := &Node{Name: "a@host", Cookie: "c", Creation: 1}
		mb, err := n.NewMailbox("box")
		if err != nil {
			t.Fatal(err)
		}
		l := n.lay.Load()
		a, b := net.Pipe()
		cs := l.newConnState("b@host", false)
		cr := &connReader{nc: a}
		c := newConnWith(n, a, cr, bufio.NewReader(cr), peerInfo{name: "b@host", flags: DefaultFlags | layerFlags, version: 6}, cs)
		t.Cleanup(func() {
			n.Close()
			c.Close()
			b.Close()
		})
		frame := func(ctl Control, payload Term) []byte {
			body := append([]byte{distPassThrough}, encodeMessage(t, ctl, payload)...)
			return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
		}
		far := Pid{Node: "b@host", ID: 7, Creation: 3}
		nobody := Pid{Node: "a@host", ID: 99, Creation: 1}
		go b.Write(joinBytes(
			frame(Link{From: far, To: nobody}, nil),
			frame(Link{From: far, To: nobody}, nil),
			frame(Send{To: mb.Pid()}, Atom("hi")),
		))
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // fake time
		defer cancel()
		if got, err := mb.Receive(ctx); err != nil || got != Atom("hi") {
			t.Errorf("Receive() behind replies the peer does not read = %v, %v; want hi", got, err)
		}
	})
}

// TestFloodBothWays checks that two nodes flooding each other with large
// messages and with links to processes that do not exist (each answered
// by the peer's read goroutine with EXIT noproc) keep their connection:
// neither read goroutine waits on its writes, and the replies queued
// while both read stay under maxQueuedReplies.
func TestFloodBothWays(t *testing.T) {
	if testing.Short() {
		t.Skip("floods a connection for 3 s")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b := &Node{Name: "b@127.0.0.1", Cookie: "c", MailboxSize: 4}
	lb, err := b.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lb.Close()
	a := &Node{Name: "a@127.0.0.1", Cookie: "c", MailboxSize: 4, DistPort: lb.Addr().(*net.TCPAddr).Port}
	defer a.Close()
	defer b.Close()
	mbA, err := a.NewMailbox("sink")
	if err != nil {
		t.Fatal(err)
	}
	mbB, err := b.NewMailbox("sink")
	if err != nil {
		t.Fatal(err)
	}
	if err := mbA.Send(ctx, RegName{"sink", "b@127.0.0.1"}, Atom("hello")); err != nil {
		t.Fatal(err)
	}
	if _, err := mbB.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	big := Binary(make([]byte, 1<<20))
	var progress atomic.Int64
	errs := make(chan error, 4)
	flood := func(mb *Mailbox, peer Atom, creation uint32) {
		go func() {
			for ctx.Err() == nil {
				if err := mb.Send(ctx, RegName{"sink", peer}, big); err != nil {
					errs <- err
					return
				}
				progress.Add(1)
			}
			errs <- nil
		}()
		go func() {
			for i := uint32(1 << 30); ctx.Err() == nil; i++ {
				if err := mb.Link(ctx, Pid{Node: peer, ID: i, Creation: creation}); err != nil {
					errs <- err
					return
				}
				progress.Add(1)
			}
			errs <- nil
		}()
	}
	ca, _ := a.CurrentCreation()
	cb, _ := b.CurrentCreation()
	flood(mbA, "b@127.0.0.1", cb)
	flood(mbB, "a@127.0.0.1", ca)
	select {
	case err := <-errs:
		t.Fatalf("after %d sends and links: %v", progress.Load(), err)
	case <-time.After(3 * time.Second):
	}
	cancel()
	for range 4 {
		if err := <-errs; err != nil && ctx.Err() == nil {
			t.Errorf("after %d sends and links: %v", progress.Load(), err)
		}
	}
	if progress.Load() < 1000 {
		t.Errorf("%d sends and links in 3 s", progress.Load())
	}
}

// TestSendContextWithRepliesQueued checks that a sender whose context
// ends while its write is blocked on a peer that does not read returns
// then, though the read goroutine queued a reply behind its frame: the
// sender leaves the reply to the tick goroutine rather than write it.
func TestSendContextWithRepliesQueued(t *testing.T) {
	c, peer := newRawConn(t, DefaultFlags, time.Hour)
	go func() {
		for {
			if _, err := c.Receive(context.Background()); err != nil {
				return
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- c.Link(ctx, Pid{Node: "a@host", ID: 1, Creation: 1}, Pid{Node: "b@host", ID: 2, Creation: 2})
	}()
	time.Sleep(50 * time.Millisecond) // Link leads, blocked on the pipe
	peer.Write(unlinkID(1))           // the read goroutine queues the ack behind it
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Link() = %v, want context.DeadlineExceeded", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("Link() with a 300 ms context still blocked after 5 s")
	}
}

// TestTLSSendInterruptedCloses checks that a send over TLS interrupted by
// its context closes the connection: crypto/tls fails every write after
// an interrupted one, which may have sent part of a record.
func TestTLSSendInterruptedCloses(t *testing.T) {
	pki := erltest.NewPKI(t)
	cert := pki.Issue(t, "node", "localhost")
	a, b := net.Pipe()
	client := tls.Client(a, &tls.Config{RootCAs: pki.Pool, ServerName: "localhost"})
	server := tls.Server(b, &tls.Config{Certificates: []tls.Certificate{cert.TLS}})
	go server.Handshake()
	if err := client.Handshake(); err != nil {
		t.Fatal(err)
	}
	c := newConnOver(t, &Node{Name: "a@host", Cookie: "c", Creation: 1, NetTickTime: time.Hour}, client, server, DefaultFlags)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := c.Send(ctx, Pid{Node: "b@host"}, Atom("x")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Send() to a peer that does not read = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Send() with a 200 ms context returned after %v", d)
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Errorf("the connection is still up after an interrupted TLS write; Send() = %v", c.Send(context.Background(), Pid{Node: "b@host"}, Atom("x")))
	}
}

// TestSendContextBehindTick checks that a sender's context bounds its
// wait when its frame is queued behind a tick: the tick goroutine, which
// waits for nobody, must not write it with no context.
func TestSendContextBehindTick(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := newRawConn(t, DefaultFlags, 60*time.Second) // ticks every 15 s; the peer reads nothing
		to := Pid{Node: "b@host", ID: 1, Creation: 1}
		first := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			first <- c.Send(ctx, to, Atom("s")) // leads, blocked on the pipe
		}()
		time.Sleep(16 * time.Second) // a tick is queued behind it at 15 s
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		second := make(chan error, 1)
		go func() { second <- c.Send(ctx, to, Atom("t")) }()
		if err := <-first; !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("first Send() = %v, want context.DeadlineExceeded", err)
		}
		select {
		case err := <-second:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("second Send() = %v, want context.DeadlineExceeded", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("Send() with a 10 s context still blocked after 30 s, behind a tick")
		}
	})
}
