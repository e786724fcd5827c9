package ei

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"testing"
	"time"
)

// frameFeed writes erlFrames to one end of a loopback TCP connection, as
// many as asked for, and returns the other end.
type frameFeed struct {
	reqs chan int
	errs chan error
}

func newFrameFeed(b *testing.B, size int) (*frameFeed, net.Conn) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	first := erlFrames(1, size)
	batch := erlFrames(1000, size)[len(first):] // 999 frames using the cache
	per := len(batch) / 999
	f := &frameFeed{reqs: make(chan int), errs: make(chan error, 1)}
	go func() {
		nc, err := l.Accept()
		if err != nil {
			f.errs <- err
			return
		}
		defer nc.Close()
		sentFirst := false
		for n := range f.reqs {
			if !sentFirst {
				if _, err := nc.Write(first); err != nil {
					f.errs <- err
					return
				}
				sentFirst = true
				n--
			}
			for n > 0 {
				k := min(n, 999)
				if _, err := nc.Write(batch[:k*per]); err != nil {
					f.errs <- err
					return
				}
				n -= k
			}
		}
		f.errs <- nil
	}()
	nc, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		close(f.reqs)
		nc.Close()
	})
	return f, nc
}

// BenchmarkMailboxReceive measures the receive path in process, without
// erl: frames as erl sends them ({msg, I, <<Size bytes>>} to the
// registered name reg) arrive over loopback TCP and are received through
// Conn.Receive on one connection and through a mailbox registered as reg
// on another, alternating every 1000 messages. It reports both rates and
// mailbox/conn, the share of the raw rate the mailbox layer keeps.
func BenchmarkMailboxReceive(b *testing.B) {
	for _, size := range []int{16, 1024} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			n := &Node{Name: "a@host", Cookie: "c", Creation: 1}
			b.Cleanup(func() { n.Close() })
			mb, err := n.NewMailbox("reg")
			if err != nil {
				b.Fatal(err)
			}
			rawFeed, rawNC := newFrameFeed(b, size)
			cr := &connReader{nc: rawNC}
			raw := newConn(n, rawNC, cr, bufio.NewReaderSize(cr, readBufferSize), peerInfo{name: "b@host", flags: DefaultFlags})
			defer raw.Close()
			mbFeed, mbNC := newFrameFeed(b, size)
			cr = &connReader{nc: mbNC}
			cs := n.lay.Load().newConnState("b@host", false)
			viaMailbox := newConnWith(n, mbNC, cr, bufio.NewReaderSize(cr, readBufferSize), peerInfo{name: "b@host", flags: DefaultFlags}, cs)
			defer viaMailbox.Close()

			ctx := context.Background()
			var rawTime, mbTime time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; {
				k := min(b.N-done, 1000)
				done += k
				start := time.Now()
				rawFeed.reqs <- k
				for range k {
					m, err := raw.Receive(ctx)
					if err != nil {
						b.Fatalf("Conn.Receive() = %v", err)
					}
					if _, ok := m.Control.(RegSend); !ok {
						b.Fatalf("Conn.Receive() = %#v", m)
					}
				}
				rawTime += time.Since(start)
				start = time.Now()
				mbFeed.reqs <- k
				for range k {
					if _, err := mb.Receive(ctx); err != nil {
						b.Fatalf("Mailbox.Receive() = %v", err)
					}
				}
				mbTime += time.Since(start)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/rawTime.Seconds(), "conn-msgs/s")
			b.ReportMetric(float64(b.N)/mbTime.Seconds(), "mailbox-msgs/s")
			b.ReportMetric(rawTime.Seconds()/mbTime.Seconds(), "mailbox/conn")
		})
	}
}
