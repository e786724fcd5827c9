package ei

import (
	"bytes"
	"context"
	"fmt"
	"slices"
)

// Sending without waiting. SendAsync queues a small message, as erl's !
// does, and the connection's tick goroutine writes what is queued, many
// messages in one write when they come faster than they are written;
// SendControl instead writes each message before it returns, one write
// system call apiece for a goroutine sending alone.

// maxQueuedAsync is how many bytes of messages SendAsync queues before
// a sender waits for its message to be written, as SendControl does, so
// that a peer that reads slowly slows its senders rather than filling
// memory.
const maxQueuedAsync = 256 << 10

// maxAsyncCopy is the size from which SendAsync writes a message rather
// than queueing a copy of it.
const maxAsyncCopy = 128 << 10

// SendAsync sends ctl and payload as SendControl does, but returns once
// the message is queued rather than written, as erl's ! does: the Conn
// writes it soon after, in order with the messages sent before and
// after it by any method, and many queued messages in one write. It
// copies what it keeps, so payload may change once it returns.
//
// It waits, as SendControl does, when 256 KiB of messages wait to be
// written already (a peer that reads slowly slows its senders down), and
// for a message holding a binary of 4 KiB or more or of 128 KiB or
// more, which is written from payload's memory rather than copied. ctx
// bounds only those waits: a message queued is written whatever becomes
// of ctx.
//
// A message queued is lost if the connection goes down or is closed
// before it is written, as by a send of another goroutine cut short by
// its context (see SendControl); Flush waits until the messages queued
// are written. An error writing one closes the connection; the next
// SendAsync or Flush returns it.
func (c *Conn) SendAsync(ctx context.Context, ctl Control, payload Term) error {
	c.w.mu.Lock()
	err := c.sendState()
	c.w.mu.Unlock()
	if err != nil {
		return err
	}
	f, err := c.prepare(ctx, ctl, payload, " (async)")
	if err != nil {
		return err
	}
	defer putFrame(f)
	if f.sp.bytes > 0 || f.frameLen()-f.dataOff >= maxAsyncCopy {
		return c.sendEncoded(ctx, f)
	}
	c.noteSmall(f)
	q := &outFrame{buf: bytes.Clone(f.buf), size: len(f.buf)} // f.buf stays with f, for the next
	q.segs = [][]byte{q.buf}
	if queued, err := c.queueAsync(q); queued || err != nil {
		return err
	}
	return c.sendError(ctx, c.submit(ctx, q))
}

// queueAsync queues f, which nobody waits for, unless maxQueuedAsync
// bytes of such frames wait already or the connection is closed or down
// (its tick goroutine, which writes them, then gone).
func (c *Conn) queueAsync(f *outFrame) (bool, error) {
	w := &c.w
	w.mu.Lock()
	select {
	case <-c.closing:
		w.mu.Unlock()
		return false, ErrClosed
	case <-c.readDone:
		w.mu.Unlock()
		return false, c.readErr
	default:
	}
	if w.replies+f.size > maxQueuedAsync {
		w.mu.Unlock()
		return false, nil
	}
	c.enqueueUnowned(f)
	return true, nil
}

// Flush waits until the messages that SendAsync queued before it are
// written, and returns the error that writing one of them met, if any.
// It writes nothing itself: cancelling ctx ends the wait, and the
// messages stay queued.
func (c *Conn) Flush(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ei: flush: %w", err)
	}
	w := &c.w
	w.mu.Lock()
	if err := c.sendState(); err != nil {
		w.mu.Unlock()
		return err
	}
	if w.doneSeq >= w.unownedSeq {
		w.mu.Unlock()
		return nil
	}
	fw := flushWait{seq: w.unownedSeq, done: make(chan struct{})}
	w.flushes = append(w.flushes, fw)
	idle := !w.leading
	w.mu.Unlock()
	if idle {
		c.kickWriter()
	}
	select {
	case <-fw.done:
	case <-ctx.Done():
		w.mu.Lock()
		w.flushes = slices.DeleteFunc(w.flushes, func(f flushWait) bool { return f.done == fw.done })
		w.mu.Unlock()
		return fmt.Errorf("ei: flush: %w", ctx.Err())
	case <-c.closing:
		return ErrClosed
	case <-c.readDone:
		return c.readErr
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return c.sendState()
}

// flushWait is a Flush call waiting for the frames up to seq.
type flushWait struct {
	seq  uint64
	done chan struct{} // closed once they are written
}

// wakeFlushes ends the waits of the Flush calls whose frames are all
// written, with w.mu held.
func (c *Conn) wakeFlushes() {
	w := &c.w
	w.flushes = slices.DeleteFunc(w.flushes, func(f flushWait) bool {
		if f.seq <= w.doneSeq {
			close(f.done)
			return true
		}
		return false
	})
}

// sendState returns ErrClosed once the Conn is closed, else the error of
// a write that failed, wrapped, or nil; with w.mu held.
func (c *Conn) sendState() error {
	select {
	case <-c.closing:
		return ErrClosed
	default:
	}
	if err := c.w.failed; err != nil {
		return fmt.Errorf("ei: send to %s: %w", c.peer.name, err)
	}
	return nil
}
