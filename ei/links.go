package ei

import (
	"context"
	"fmt"
)

// link is one end of a link, held by the local mailbox mb: a local
// mailbox linked to two others holds two links, and a link between two
// local mailboxes is a link in each.
type link struct {
	mb        *Mailbox   // the local end
	peer      Pid        // the other end
	other     *Mailbox   // the other end, when local
	cs        *connState // the connection to the other end, when remote
	unlinking uint64     // id of an UNLINK_ID (or UNLINK) sent and not yet acknowledged

	// writing is the LINK or UNLINK being written for the link, whose
	// outcome decides whether a signal meanwhile counts: a signal that
	// depends on it removes the link and waits in held (its reason) for
	// the writer, which delivers it or drops it.
	writing linkWrite
	held    Term
}

// linkWrite is what is being written for a link.
type linkWrite uint8

const (
	writingNone   linkWrite = iota
	writingLink             // LINK: the peer may not hold the link yet
	writingUnlink           // UNLINK or UNLINK_ID: the peer may still hold it
)

// exitTerm is what a process trapping exits receives for an exit signal.
func exitTerm(from Pid, reason Term) Term {
	return Tuple{Atom("EXIT"), from, reason}
}

// Link links the mailbox and the process to, as link/1 does: when either
// ends, the other is told, and losing the connection in between gives
// {'EXIT', To, noconnection}. Linking to a local pid that does not exist
// gives {'EXIT', To, noproc} at once; a remote process that does not
// exist sends the same. Linking twice is linking once.
//
// Link connects to the node of to if needed; its errors are those of
// connecting and sending (see Send). When it fails, there is no link: a
// later Link tries again, and no signal of the link arrives. After the
// mailbox exited, it returns ErrClosed.
func (m *Mailbox) Link(ctx context.Context, to Pid) error {
	l := m.l
	if l.isLocal(to.Node) {
		return m.linkLocal(to)
	}
	cs, err := l.conn(ctx, to.Node)
	if err != nil {
		return err
	}
	if err := m.lockLinks(ctx); err != nil {
		return err
	}
	defer m.unlockLinks()
	if err := m.lockAlive(); err != nil {
		return err
	}
	if cs.lost {
		l.mu.Unlock()
		m.push(exitTerm(to, Atom("noconnection")))
		return nil
	}
	lk := m.links[to]
	if lk != nil && lk.unlinking == 0 {
		l.mu.Unlock()
		return nil
	}
	var prev uint64 // the UNLINK_ID of a link being unlinked, linked again
	if lk == nil {
		lk = &link{mb: m, peer: to, cs: cs}
		l.addLinkLocked(lk)
	} else {
		prev = lk.unlinking
	}
	// Recorded before it is written, as the peer's EXIT may come before
	// the write returns.
	lk.unlinking, lk.writing = 0, writingLink
	l.mu.Unlock()

	err = l.writeSignal(ctx, cs, Link{From: m.pid, To: to})

	l.mu.Lock()
	held, pending := lk.held, lk.writing == writingLink
	lk.writing, lk.held = writingNone, nil
	if err != nil && pending {
		// The peer did not get the LINK: no link, and its noconnection
		// (held) does not count.
		held = nil
		if m.links[to] == lk {
			if prev != 0 {
				lk.unlinking = prev
			} else {
				l.removeLinkLocked(lk)
			}
		}
	}
	l.mu.Unlock()
	if held != nil {
		m.exitSignal(to, held, true)
	}
	return err
}

func (m *Mailbox) linkLocal(to Pid) error {
	l := m.l
	if err := m.lockAlive(); err != nil {
		return err
	}
	other := l.pids[to]
	if other == nil {
		l.mu.Unlock()
		m.push(exitTerm(to, Atom("noproc")))
		return nil
	}
	if other != m && m.links[to] == nil {
		l.addLinkLocked(&link{mb: m, peer: to, other: other})
		l.addLinkLocked(&link{mb: other, peer: m.pid, other: m})
	}
	l.mu.Unlock()
	return nil
}

// Unlink removes the link between the mailbox and to, as unlink/1 does:
// no exit signal of the link passes between them afterwards, even one
// already on its way, though an {'EXIT', To, Reason} queued before
// Unlink stays queued. Over connections that support it (FlagUnlinkID),
// Unlink sends UNLINK_ID and ignores to's exit signals until the peer
// acknowledges. Unlinking processes that are not linked does nothing.
// When sending fails, Unlink returns the error and the link stays, as if
// Unlink had not been called: an exit signal that came meanwhile is
// delivered.
func (m *Mailbox) Unlink(ctx context.Context, to Pid) error {
	l := m.l
	if err := m.lockLinks(ctx); err != nil {
		return err
	}
	defer m.unlockLinks()
	if err := m.lockAlive(); err != nil {
		return err
	}
	lk := m.links[to]
	if lk == nil || lk.unlinking != 0 {
		l.mu.Unlock()
		return nil
	}
	if lk.cs == nil || lk.cs.lost {
		l.removeLinkLocked(lk)
		l.mu.Unlock()
		return nil
	}
	cs := lk.cs
	// Old peers get UNLINK, and the link goes once it is written; the id
	// then only marks the link as being unlinked.
	id := m.node.uniq.Add(1)
	var ctl Control = UnlinkID{ID: id, From: m.pid, To: to}
	withID := cs.conn.Flags()&FlagUnlinkID != 0
	if !withID {
		ctl = Unlink{From: m.pid, To: to}
	}
	lk.unlinking, lk.writing = id, writingUnlink
	l.mu.Unlock()

	err := l.writeSignal(ctx, cs, ctl)

	l.mu.Lock()
	held, pending := lk.held, lk.writing == writingUnlink
	lk.writing, lk.held = writingNone, nil
	switch {
	case !pending:
		// The peer linked again meanwhile: the link stays.
	case err == nil:
		held = nil // an exit signal of the link no longer counts
		if !withID && m.links[to] == lk {
			l.removeLinkLocked(lk)
		}
	case held == nil && m.links[to] == lk && lk.unlinking == id:
		lk.unlinking = 0
	}
	l.mu.Unlock()
	if held != nil {
		m.exitSignal(to, held, true)
	}
	return err
}

// lockLinks makes the mailbox's Link and Unlink calls run one at a time,
// each to the end of its write, waiting until ctx ends.
func (m *Mailbox) lockLinks(ctx context.Context) error {
	select {
	case m.linkSem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("ei: link: %w", ctx.Err())
	}
}

func (m *Mailbox) unlockLinks() { <-m.linkSem }

// writeSignal writes ctl, a LINK, UNLINK or MONITOR_P that a record waits
// on.
func (l *layer) writeSignal(ctx context.Context, cs *connState, ctl Control) error {
	if l.signalHook != nil {
		return l.signalHook(ctx, cs, ctl)
	}
	return cs.conn.SendControl(ctx, ctl, nil)
}

// addLinkLocked records lk; l.mu is held.
func (l *layer) addLinkLocked(lk *link) {
	if lk.mb.links == nil {
		lk.mb.links = make(map[Pid]*link)
	}
	lk.mb.links[lk.peer] = lk
	if lk.cs != nil {
		lk.cs.links[lk] = struct{}{}
	}
}

// removeLinkLocked forgets lk, and the other half of a local link; l.mu
// is held.
func (l *layer) removeLinkLocked(lk *link) {
	if lk.mb.links[lk.peer] == lk {
		delete(lk.mb.links, lk.peer)
	}
	if lk.cs != nil {
		delete(lk.cs.links, lk)
	}
	if lk.other != nil {
		delete(lk.other.links, lk.mb.pid)
	}
}

// exit tells the other end of lk that the mailbox exited with reason.
func (lk *link) exit(ctx context.Context, reason Term) error {
	if lk.other != nil {
		lk.other.exitSignal(lk.mb.pid, reason, true)
		return nil
	}
	lk.cs.l.mu.RLock()
	down := lk.cs.lost
	lk.cs.l.mu.RUnlock()
	if down {
		return nil // the peer sees noconnection
	}
	return lk.cs.conn.Exit(ctx, lk.mb.pid, lk.peer, reason)
}

// linked handles LINK from the peer's process from to our to.
func (cs *connState) linked(from, to Pid) {
	l := cs.l
	l.mu.Lock()
	m := l.pids[to]
	if m == nil {
		l.mu.Unlock()
		// As erl does, the process that does not exist exits at once.
		cs.reply(Exit{From: to, To: from, Reason: Atom("noproc")})
		return
	}
	if lk := m.links[from]; lk != nil {
		lk.unlinking, lk.writing = 0, writingNone
	} else {
		l.addLinkLocked(&link{mb: m, peer: from, cs: cs})
	}
	l.mu.Unlock()
}

// unlinked handles UNLINK and UNLINK_ID from the peer's process from
// (the Conn acknowledges UNLINK_ID itself).
func (cs *connState) unlinked(from, to Pid) {
	cs.dropLink(from, to, func(lk *link) bool { return lk.cs == cs })
}

// unlinkAcked handles UNLINK_ID_ACK for our UNLINK_ID id from to to
// from.
func (cs *connState) unlinkAcked(id uint64, from, to Pid) {
	cs.dropLink(from, to, func(lk *link) bool { return lk.unlinking == id })
}

// dropLink removes the link of our to with the peer's from, if it
// matches.
func (cs *connState) dropLink(from, to Pid, matches func(*link) bool) {
	l := cs.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if m := l.pids[to]; m != nil {
		if lk := m.links[from]; lk != nil && matches(lk) {
			l.removeLinkLocked(lk)
		}
	}
}

// exited handles an exit signal from the peer's process from to our to:
// EXIT over a link when linkExit, else EXIT2 (exit/2), which needs no
// link.
func (cs *connState) exited(from, to Pid, reason Term, linkExit bool) {
	l := cs.l
	l.mu.Lock()
	m := l.pids[to]
	if m == nil {
		l.mu.Unlock()
		return
	}
	if lk := m.links[from]; lk != nil {
		if lk.writing == writingUnlink && linkExit {
			l.removeLinkLocked(lk)
			lk.held = reason // counts if the UNLINK is not written
			l.mu.Unlock()
			return
		}
		if lk.unlinking != 0 && linkExit {
			l.mu.Unlock()
			return // unlinked on our side: the signal no longer counts
		}
		if linkExit {
			l.removeLinkLocked(lk)
		}
	} else if linkExit {
		l.mu.Unlock()
		return // not linked (any more)
	}
	l.mu.Unlock()
	m.exitSignal(from, reason, linkExit)
}

// reply sends a signal back on the connection, from its read goroutine,
// without waiting for it to be written (see Conn.sendReply).
func (cs *connState) reply(ctl Control) {
	if err := cs.conn.sendReply(ctl); err != nil {
		cs.conn.log.Debug("ei: reply to signal", "control", ctl, "err", err)
	}
}
