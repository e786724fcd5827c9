package epmd

import (
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"os"
	"time"
)

// packetTimeoutGrace is what a connection may stay silent beyond
// PacketTimeout. OTP's epmd notes a connection's last activity in whole
// seconds of the clock and closes it once more than PacketTimeout whole
// seconds have passed, so a client pausing exactly PacketTimeout between
// two bytes of its request is served; this grace serves it too, and still
// closes an idle connection well within a second of PacketTimeout.
const packetTimeoutGrace = 500 * time.Millisecond

// idleLimit is how long a connection may stay silent before its request
// is whole.
func (s *Server) idleLimit() time.Duration { return s.packetTimeout() + packetTimeoutGrace }

// readRequest reads the rest of a request from sc into buf, which holds
// got bytes of it already, and returns the request's body. The connection
// had been idle for waited already. Like OTP's epmd, it reads what is
// there, up to a full buffer, until it knows the packet's length, and then
// up to the end of the packet; it gives up when the peer stays silent for
// idleLimit, closes the connection, or sends a length that is too small or
// too large, or more bytes than the packet holds.
func (s *Server) readRequest(sc *serverConn, buf *[inbufSize]byte, got int, waited time.Duration) ([]byte, bool) {
	limit := s.idleLimit()
	deadline := time.Now().Add(limit - waited)
	want := 0 // the packet's length with its 2-byte prefix, once known
	for {
		if want == 0 && got >= 2 {
			want = int(binary.BigEndian.Uint16(buf[:])) + 2
			switch {
			case want < 3 || want >= inbufSize:
				s.log(slog.LevelWarn, "invalid packet size", "conn", sc.id, "size", want-2)
				if want > got {
					s.discard(sc, want-got, limit)
				}
				return nil, false
			case got > want:
				s.log(slog.LevelWarn, "more bytes than the packet length", "conn", sc.id, "got", got-2, "want", want-2)
				return nil, false
			}
		}
		if want > 0 && got == want {
			return buf[2:want], true
		}
		end := inbufSize - 1
		if want > 0 {
			end = want
		}
		sc.SetReadDeadline(deadline)
		n, err := sc.Read(buf[got:end])
		if n > 0 {
			got += n
			deadline = time.Now().Add(limit)
			continue
		}
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			s.log(slog.LevelInfo, "closing because timed out on receive", "conn", sc.id, "bytes", got)
		case errors.Is(err, io.EOF):
			s.log(slog.LevelWarn, "connection closed before its request was whole", "conn", sc.id, "bytes", got)
		case err != nil:
			s.log(slog.LevelWarn, "read failed", "conn", sc.id, "err", err)
		default:
			continue // a zero-byte read without error: try again
		}
		return nil, false
	}
}

// discard reads and drops up to n more bytes from sc, the rest of a packet
// too large to serve, until the peer stays silent for limit. Closing the
// connection with its bytes unread would make the peer's kernel see a
// reset, which can fail the peer's write of the packet before the peer
// sees the connection close; once they are read, it sees a plain close.
func (s *Server) discard(sc *serverConn, n int, limit time.Duration) {
	var b [4096]byte
	for n > 0 {
		sc.SetReadDeadline(time.Now().Add(limit))
		k, err := sc.Read(b[:min(n, len(b))])
		n -= k
		if err != nil {
			return
		}
	}
}
