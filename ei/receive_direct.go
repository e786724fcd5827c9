package ei

import (
	"context"
	"fmt"
	"time"
)

// Receiving on the caller's goroutine. The right to read a connection is
// a token (Conn.role) that one goroutine holds at a time: the read
// goroutine, or a Receive that reads frames itself while no message is
// queued. So a caller that receives one message after another, as in a
// request and reply, reads them itself, rather than being handed each by
// the read goroutine, which costs a wake-up of each goroutine per
// message. The read goroutine leaves the token alone while Receive was
// called within receiveLease, and reads again after that, so that
// signals and replies to RPC are handled when nobody receives.
//
// Receive reads only frames that fit the read buffer, with Peek, so that
// a cancelled context interrupts its wait without losing a byte; it hands
// larger frames to the read goroutine (through Conn.handoff), and frames
// of shareMin bytes or more too. The read goroutine then reads on while
// the messages it reads have such frames (Conn.bulk), or more bytes wait
// in the read buffer; Receive also hands it the token when they do. So
// when messages come faster than the caller takes them, the read
// goroutine reads and decodes the next ones while the caller handles the
// last, as before. Only TCP connections without a connHandler read so: a TLS
// connection cannot resume a read its deadline interrupted.

// receiveLease is how long after Receive was called the read goroutine
// leaves the reading to it.
const receiveLease = time.Millisecond

// monoStart is the origin of monoNow.
var monoStart = time.Now()

// monoNow returns the monotonic time since monoStart.
func monoNow() time.Duration { return time.Since(monoStart) }

// directState is how readMessage ended.
type directState uint8

const (
	directGot      directState = iota // a message for Receive
	directHandOff                     // a frame for the read goroutine
	directCanceled                    // the context ended
	directFailed                      // reading failed for good
)

// takeRole waits until the read goroutine may read: it holds the token
// and Receive was not called within the lease, or the token was handed
// to it, or an RPC waits for a reply. It leaves the token alone while the
// lease runs, so as not to take it from under a Receive. t is the
// goroutine's timer, made on first use.
func (c *Conn) takeRole(t **time.Timer) error {
	for {
		if c.direct && !c.want.Load() {
			if wait := c.leaseLeft(); wait > 0 {
				if *t == nil {
					*t = time.NewTimer(wait)
				} else {
					(*t).Reset(wait)
				}
				select {
				case <-(*t).C:
				case <-c.wake:
					(*t).Stop()
				case <-c.handoff:
					(*t).Stop()
					return nil
				case <-c.closing:
					return ErrClosed
				case <-c.readDone:
					return ErrClosed // failed elsewhere; fail has run
				}
				continue
			}
		}
		select {
		case <-c.role:
		case <-c.handoff:
			return nil
		case <-c.closing:
			return ErrClosed
		case <-c.readDone:
			return ErrClosed
		}
		if !c.direct || c.want.Swap(false) || c.leaseLeft() <= 0 {
			return nil
		}
		c.role <- struct{}{} // a Receive came meanwhile
	}
}

// leaseLeft returns how long the read goroutine still leaves the reading
// to Receive: the lease from the last Receive, or all of it while one is
// under way.
func (c *Conn) leaseLeft() time.Duration {
	lease := time.Duration(c.lease.Load())
	if c.receiving.Load() > 0 {
		return lease
	}
	return lease - (monoNow() - time.Duration(c.lastReceive.Load()))
}

// needReader has the read goroutine read now, for a reply that nobody
// else may be reading (an RPC's).
func (c *Conn) needReader() {
	if !c.direct {
		return
	}
	c.want.Store(true)
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// receiveDirect is receive for a connection that Receive may read.
func (c *Conn) receiveDirect(ctx context.Context) (received, error) {
	c.receiving.Add(1)
	defer func() {
		c.lastReceive.Store(int64(monoNow()))
		c.receiving.Add(-1)
	}()
	handedOff := false
	for {
		role := c.role
		if handedOff {
			role = nil // until the read goroutine has read that frame
		}
		select {
		case r := <-c.msgs:
			return r, nil
		case <-role:
			select {
			case r := <-c.msgs: // queued before the token was put back
				c.role <- struct{}{}
				return r, nil
			case <-c.readDone: // closed, say: read nothing more
				c.role <- struct{}{}
				return c.receiveEnded()
			default:
			}
			r, state, err := c.readDirect(ctx)
			switch state {
			case directGot:
				if c.br.Buffered() > 0 {
					// More came in the same read: the read goroutine
					// reads ahead while the caller handles r.
					c.handoff <- struct{}{}
				} else {
					c.role <- struct{}{}
				}
				return r, nil
			case directHandOff:
				handedOff = true
				c.handoff <- struct{}{}
			case directCanceled:
				c.role <- struct{}{}
				return received{}, fmt.Errorf("ei: receive: %w", err)
			case directFailed:
				c.fail(err) // keeping the token: nobody reads after this
			}
		case <-c.readDone:
			return c.receiveEnded()
		case <-ctx.Done():
			return received{}, fmt.Errorf("ei: receive: %w", ctx.Err())
		}
		if handedOff {
			// The read goroutine puts the token back in c.role once it
			// has read the frame and stops reading ahead; wait for a
			// message or for that.
			select {
			case r := <-c.msgs:
				return r, nil
			case <-c.role:
				c.role <- struct{}{}
				handedOff = false
			case <-c.readDone:
			case <-ctx.Done():
				return received{}, fmt.Errorf("ei: receive: %w", ctx.Err())
			}
		}
	}
}

// readDirect reads frames, holding the token, until one carries a
// message for Receive, or a frame is to be read by the read goroutine
// (handed off: too large to Peek at, or of shareMin bytes or more),
// or ctx ends while it waits (canceled; the frame is left to be read
// later, unread), or reading fails.
func (c *Conn) readDirect(ctx context.Context) (r received, state directState, err error) {
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, c.interruptRead)
		defer func() {
			if !stop() {
				<-c.rfired
				c.cr.resume()
			}
		}()
	}
	return c.readMessage(ctx, true)
}

// interruptRead interrupts the read under way, for a Receive whose
// context ended; it runs in a goroutine of its own.
func (c *Conn) interruptRead() {
	c.cr.interrupt()
	c.rfired <- struct{}{}
}
