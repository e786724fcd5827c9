package ei

// MonitorNodes subscribes the mailbox to node events when on is true, as
// net_kernel:monitor_nodes(true) does, and unsubscribes it when on is
// false. A subscribed mailbox receives {nodeup, Node} when a connection
// of the node's table comes up, and {nodedown, Node} when it goes down
// (after the noconnection signals of the links and monitors over it).
// Subscribing twice is subscribing once.
func (m *Mailbox) MonitorNodes(on bool) error {
	l := m.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if m.exited {
		return ErrClosed
	}
	if on {
		l.nodeSubs[m] = struct{}{}
	} else {
		delete(l.nodeSubs, m)
	}
	return nil
}

// subscribersLocked returns the MonitorNodes subscribers; l.mu is held.
func (l *layer) subscribersLocked() []*Mailbox {
	if len(l.nodeSubs) == 0 {
		return nil
	}
	subs := make([]*Mailbox, 0, len(l.nodeSubs))
	for m := range l.nodeSubs {
		subs = append(subs, m)
	}
	return subs
}

// nodeEvent delivers {Event, Node} to subs.
func nodeEvent(subs []*Mailbox, event Atom, node Atom) {
	for _, m := range subs {
		m.push(Tuple{event, node})
	}
}
