package ei

import (
	"context"
	"hash/crc32"
	"testing"
	"time"

	"github.com/goei/goei/epmd"
	"github.com/goei/goei/internal/erltest"
)

// fragErlEval registers, on the erl node, sink, which answers {big, From,
// Bin} with the size and CRC-32 of Bin and {send_big, From, N} with N
// times the bytes 0..250, and echo, which answers {ping, From, I} with
// {pong, I}.
const fragErlEval = `Pat = list_to_binary(lists:seq(0, 250)),
register(sink, spawn(fun Loop() ->
    receive
        {big, From, Bin} -> From ! {big, byte_size(Bin), erlang:crc32(Bin)};
        {send_big, From, N} -> From ! {bigback, binary:copy(Pat, N)}
    end,
    Loop()
end)),
register(echo, spawn(fun Loop() -> receive {ping, From, I} -> From ! {pong, I} end, Loop() end)).`

// TestFragmentsWithErl sends erl a 64 MiB message in fragments, and
// checks that it arrives intact and that a message sent meanwhile goes
// out, and is answered, between its fragments; then has erl send a
// 50 MB message, which it fragments, and checks it.
func TestFragmentsWithErl(t *testing.T) {
	for _, otp := range erltest.OTPs(t) {
		t.Run(otp.String(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			c, erl, self := fragErlConn(ctx, t, otp, "sink", "echo")
			if c.Flags()&FlagFragments == 0 {
				t.Fatalf("Flags() = %v, want FlagFragments negotiated", c.Flags())
			}
			receive := func() Term {
				t.Helper()
				m, err := c.Receive(ctx)
				if err != nil {
					t.Fatalf("Receive() = %v\n%s", err, erl.Output())
				}
				return m.Payload
			}

			big := pattern(64<<20, 5)
			paused, resume := make(chan struct{}), make(chan struct{})
			c.afterFragment = func(i, n int) {
				if i == 1 {
					close(paused)
					<-resume
				}
			}
			sent := make(chan error, 1)
			go func() { sent <- c.RegSend(ctx, self, "sink", Tuple{Atom("big"), self, big}) }()
			select {
			case <-paused:
			case err := <-sent:
				t.Fatalf("RegSend(64 MiB) = %v, sent without pausing between fragments", err)
			}
			if err := c.RegSend(ctx, self, "echo", Tuple{Atom("ping"), self, int64(1)}); err != nil {
				t.Fatalf("RegSend(ping) = %v", err)
			}
			// The big message is not complete yet: the pong comes first.
			if got, want := receive(), (Tuple{Atom("pong"), int64(1)}); !sameTerm(got, want) {
				t.Fatalf("between the fragments, received %.80v, want %v", got, want)
			}
			close(resume)
			if err := <-sent; err != nil {
				t.Fatalf("RegSend(64 MiB) = %v", err)
			}
			want := Tuple{Atom("big"), int64(len(big)), int64(crc32.ChecksumIEEE(big))}
			if got := receive(); !sameTerm(got, want) {
				t.Errorf("erl got %v, want %v", got, want)
			}

			const copies = 200_000 // 50.2 MB
			if err := c.RegSend(ctx, self, "sink", Tuple{Atom("send_big"), self, int64(copies)}); err != nil {
				t.Fatalf("RegSend(send_big) = %v", err)
			}
			got := receive()
			tu, _ := got.(Tuple)
			var bin Binary
			if len(tu) == 2 {
				bin, _ = tu[1].(Binary)
			}
			if len(bin) != copies*251 {
				t.Fatalf("received %.80v, want {bigback, <<%d bytes>>}", got, copies*251)
			}
			for i, b := range bin {
				if b != byte(i%251) {
					t.Fatalf("byte %d of erl's big message = %d, want %d", i, b, i%251)
				}
			}
		})
	}
}

// TestFragmentShapesWithErl sends erl messages whose data (control and
// payload) is just under, at and just over two and three fragments, in
// fragments of both sizes, and checks how many fragments each went in
// and that erl got each intact.
func TestFragmentShapesWithErl(t *testing.T) {
	for _, otp := range erltest.OTPs(t) {
		t.Run(otp.String(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			c, erl, self := fragErlConn(ctx, t, otp, "sink")
			msg := func(size int) Term { return Tuple{Atom("big"), self, pattern(size, byte(size))} }
			f := getFrame()
			if err := c.encode(f, RegSend{From: self, To: "sink"}, msg(spliceMin)); err != nil {
				t.Fatal(err)
			}
			overhead := f.frameLen() - f.dataOff - spliceMin
			putFrame(f)
			var frags int
			c.afterFragment = func(i, n int) { frags = n }
			for _, size := range []int{fragmentSize, bulkFragmentSize} {
				for _, tt := range []struct{ data, frags int }{
					{2*size - 1, 0}, {2 * size, 2}, {2*size + 1, 2},
					{3*size - 1, 2}, {3 * size, 3}, {3*size + 1, 3},
				} {
					if size == fragmentSize {
						c.smallSent.Store(time.Now().UnixNano())
					} else {
						c.smallSent.Store(0)
					}
					frags = 0
					bin := pattern(tt.data-overhead, byte(tt.data))
					if err := c.RegSend(ctx, self, "sink", Tuple{Atom("big"), self, bin}); err != nil {
						t.Fatalf("RegSend(%d bytes) = %v", tt.data, err)
					}
					if size == fragmentSize && time.Now().UnixNano()-c.smallSent.Load() >= int64(smallWindow) {
						// Too slow to be sure of the fragment size.
						t.Logf("%d bytes: sent in fragments of %d or %d", tt.data, fragmentSize, bulkFragmentSize)
					} else if frags != tt.frags {
						t.Errorf("%d bytes in fragments of %d: sent in %d fragments, want %d", tt.data, size, frags, tt.frags)
					}
					m, err := c.Receive(ctx)
					if err != nil {
						t.Fatalf("Receive() = %v\n%s", err, erl.Output())
					}
					want := Tuple{Atom("big"), int64(len(bin)), int64(crc32.ChecksumIEEE(bin))}
					if !sameTerm(m.Payload, want) {
						t.Errorf("%d bytes in fragments of %d: erl got %v, want %v", tt.data, size, m.Payload, want)
					}
				}
			}
		})
	}
}

// fragErlConn starts erl with fragErlEval, connects a node to it, and
// waits until the processes named have registered; it returns the
// connection, erl and the node's pid.
func fragErlConn(ctx context.Context, t *testing.T, otp erltest.OTP, names ...Atom) (*Conn, *erltest.Node, Pid) {
	t.Helper()
	port := erltest.StartOTPEPMD(t)
	erl := otp.StartErl(t, port, erltest.Options{Args: []string{"-eval", fragErlEval}})
	n := &Node{Name: erltest.UniqueName("go") + "@" + erltest.Host(t), Cookie: "c", EPMD: &epmd.Client{Port: port}}
	c, err := n.Connect(ctx, erl.Name)
	if err != nil {
		t.Fatalf("Connect(%s) = %v\n%s", erl.Name, err, erl.Output())
	}
	t.Cleanup(func() { c.Close() })
	for _, name := range names {
		for {
			p, err := c.RPC(ctx, "erlang", "whereis", List{name})
			if err != nil {
				t.Fatalf("RPC(erlang:whereis(%s)) = %v\n%s", name, err, erl.Output())
			}
			if _, ok := p.(Pid); ok {
				break
			}
		}
	}
	self, err := n.Pid()
	if err != nil {
		t.Fatal(err)
	}
	return c, erl, self
}
