package epmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"
)

// Re-registration timing, as erl's erl_epmd has it.
const (
	// defaultReregisterDelay is the wait before each attempt to register
	// again: erl_epmd schedules its reconnect 2000 ms after the
	// connection closes, and again 2000 ms after each failure.
	defaultReregisterDelay = 2 * time.Second
	// reregisterTimeout bounds one attempt, dial and reply: erl_epmd
	// gives up waiting for the ALIVE2 reply after 10000 ms.
	reregisterTimeout = 10 * time.Second
)

// State is the state of a Registration.
type State uint8

const (
	// StateRegistered means epmd holds the name: lookups find the node.
	StateRegistered State = iota + 1
	// StateLost means the connection to epmd ended, and the Registration
	// is registering the name again (see Client.ReregisterDelay).
	// Registration.Err says why the connection or the last attempt
	// failed; an error matching ErrNameInUse means another node has
	// taken the name.
	StateLost
	// StateClosed means the registration is over: Close or Shutdown was
	// called, or epmd dropped it and re-registration is turned off.
	// It is the last state.
	StateClosed
)

func (s State) String() string {
	switch s {
	case StateRegistered:
		return "registered"
	case StateLost:
		return "lost"
	case StateClosed:
		return "closed"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// Registration is a node name registered with epmd by Publish. It holds the
// connection to epmd open, since epmd unregisters the name when the
// connection closes, and registers the name again when epmd drops it (see
// Client.Publish). Its methods are safe for concurrent use.
//
// A goroutine watches the connection and registers again; Close and
// Shutdown end it.
type Registration struct {
	client   Client // a copy of the Client that made it
	name     string
	frame    []byte // the ALIVE2_REQ, sent again to register again
	creation uint32 // from the first registration

	ctx    context.Context // canceled by Close and Shutdown
	cancel context.CancelFunc
	done   chan struct{} // closed when keep returns

	mu      sync.Mutex
	conn    net.Conn // the ALIVE2 connection; nil while lost
	state   State
	err     error         // see Err
	changed chan struct{} // closed and replaced at each change of state
	closing bool          // Close or Shutdown was called
}

// newRegistration returns the Registration of info, registered on conn,
// and starts its goroutine.
func newRegistration(c Client, info NodeInfo, frame []byte, conn net.Conn, creation uint32) *Registration {
	ctx, cancel := context.WithCancel(context.Background())
	r := &Registration{
		client:   c,
		name:     info.Name,
		frame:    frame,
		creation: creation,
		ctx:      ctx,
		cancel:   cancel,
		done:     make(chan struct{}),
		conn:     conn,
		state:    StateRegistered,
		changed:  make(chan struct{}),
	}
	go r.keep(conn)
	return r
}

// Creation returns the creation epmd assigned at Publish, from ALIVE2_RESP
// (16 bits) or ALIVE2_X_RESP (32 bits). A node puts it into its pids,
// ports and references so they differ from those of earlier incarnations.
// Registering again does not change it, as erl keeps its creation when it
// registers again: the node is the same incarnation.
func (r *Registration) Creation() uint32 { return r.creation }

// State returns the current state of the registration.
func (r *Registration) State() State {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state
}

// WaitForStateChange waits until the state differs from from and reports
// true, or until ctx ends and reports false. Pass it the last State seen
// to follow every change:
//
//	for s := reg.State(); s != epmd.StateClosed && reg.WaitForStateChange(ctx, s); {
//		s = reg.State()
//		log.Printf("epmd registration %v: %v", s, reg.Err())
//	}
//
// A short-lived state may be missed: each call sees the state of the
// moment. StateClosed is final, so waiting for a change from it lasts
// until ctx ends.
func (r *Registration) WaitForStateChange(ctx context.Context, from State) bool {
	r.mu.Lock()
	if r.state != from {
		r.mu.Unlock()
		return true
	}
	ch := r.changed
	r.mu.Unlock()
	select {
	case <-ch:
		return true
	case <-ctx.Done():
		return false
	}
}

// Done returns a channel that is closed when the registration is over
// (StateClosed): after Close or Shutdown, or when epmd dropped it and
// re-registration is turned off.
func (r *Registration) Done() <-chan struct{} { return r.done }

// Err returns nil while the name is registered. Otherwise it returns why
// the connection to epmd ended, or why the last attempt to register again
// failed: epmd closing the connection gives an error wrapping io.EOF,
// another node holding the name one matching ErrNameInUse. Close and
// Shutdown do not change it, so it is nil after they ended a registration
// that held.
func (r *Registration) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// setState records a change of state; r.mu is held.
func (r *Registration) setState(s State, err error) {
	r.err = err
	if s == r.state {
		return
	}
	r.state = s
	close(r.changed)
	r.changed = make(chan struct{})
}

func (r *Registration) log(level slog.Level, msg string, args ...any) {
	if r.client.Logger != nil {
		r.client.Logger.Log(context.Background(), level, msg, append([]any{"name", r.name}, args...)...)
	}
}

func (r *Registration) reregisterDelay() time.Duration {
	if r.client.ReregisterDelay == 0 {
		return defaultReregisterDelay
	}
	return r.client.ReregisterDelay
}

// keep watches conn, and registers again each time it ends, until the
// registration closes.
func (r *Registration) keep(conn net.Conn) {
	defer close(r.done)
	oneShot := r.reregisterDelay() < 0
	for conn != nil {
		err := watch(conn)
		conn.Close()
		err = fmt.Errorf("epmd: registration %q: %w", r.name, err)
		// Log before the state changes, so that the log has the line
		// once State tells. Close sets closing before it closes conn.
		r.mu.Lock()
		closing := r.closing
		r.mu.Unlock()
		switch {
		case closing:
		case oneShot:
			r.log(slog.LevelWarn, "epmd: registration lost", "err", err)
		default:
			r.log(slog.LevelWarn, "epmd: registration lost; registering again", "err", err, "in", r.reregisterDelay())
		}
		r.mu.Lock()
		r.conn = nil
		switch {
		case r.closing:
			r.setState(StateClosed, r.err)
			r.mu.Unlock()
			return
		case oneShot:
			r.setState(StateClosed, err)
			r.mu.Unlock()
			return
		}
		r.setState(StateLost, err)
		r.mu.Unlock()
		conn = r.reregister()
	}
}

// watch waits for the conn to end. epmd sends nothing after the ALIVE2
// reply, so any read result ends the registration.
func watch(conn net.Conn) error {
	var b [1]byte
	n, err := conn.Read(b[:])
	switch {
	case n > 0:
		return &ProtocolError{Msg: fmt.Sprintf("unexpected byte %#x after the ALIVE2 reply", b[0])}
	case errors.Is(err, io.EOF):
		return fmt.Errorf("epmd closed the connection: %w", err)
	}
	return err
}

// reregister registers the name again, every reregisterDelay, until it
// succeeds and returns the new connection, or the registration closes and
// it returns nil.
func (r *Registration) reregister() net.Conn {
	delay := r.reregisterDelay()
	lost := time.Now()
	t := time.NewTimer(delay)
	defer t.Stop()
	for attempt := 1; ; attempt++ {
		select {
		case <-t.C:
		case <-r.ctx.Done():
			r.close()
			return nil
		}
		ctx, cancel := context.WithTimeout(r.ctx, reregisterTimeout)
		conn, creation, err := r.client.register(ctx, r.frame)
		cancel()
		if err == nil {
			// Before the state changes, as in keep. The new creation is
			// not used, as erl does not use it.
			r.log(slog.LevelInfo, "epmd: registered again", "after", time.Since(lost), "attempts", attempt,
				"creation", r.creation, "epmd_creation", creation)
		}
		r.mu.Lock()
		if r.closing {
			r.mu.Unlock()
			if conn != nil {
				conn.Close()
			}
			r.close()
			return nil
		}
		if err != nil {
			err = fmt.Errorf("epmd: register %q again: %w", r.name, err)
			r.setState(StateLost, err)
			r.mu.Unlock()
			r.log(slog.LevelDebug, "epmd: registering again failed", "err", err, "attempt", attempt, "retry_in", delay)
			t.Reset(delay)
			continue
		}
		r.conn = conn
		r.setState(StateRegistered, nil)
		r.mu.Unlock()
		return conn
	}
}

// close marks the registration closed, keeping its error.
func (r *Registration) close() {
	r.mu.Lock()
	r.setState(StateClosed, r.err)
	r.mu.Unlock()
}

// end marks the registration as ended by the caller and stops the
// goroutine's waits and attempts. It returns the connection, if any.
func (r *Registration) end() net.Conn {
	r.mu.Lock()
	r.closing = true
	conn := r.conn
	r.mu.Unlock()
	r.cancel()
	return conn
}

// Close closes the connection, which makes epmd unregister the name, and
// waits for the goroutine of the registration. epmd acts on the close
// asynchronously, so for a moment after Close returns epmd may still list
// the name; Shutdown waits for epmd instead. Close is idempotent.
func (r *Registration) Close() error {
	var err error
	if conn := r.end(); conn != nil {
		err = conn.Close()
	}
	<-r.done
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// Shutdown unregisters gracefully: it closes the write half of the
// connection and waits until epmd closes its end, which OTP's epmd does
// after dropping the name, so the name is gone once Shutdown returns nil.
// If ctx ends first, Shutdown closes the connection and returns ctx's error,
// wrapped. On connections without a write half to close, Shutdown is Close.
// While the registration is lost there is nothing to unregister: Shutdown
// stops registering again and returns nil.
func (r *Registration) Shutdown(ctx context.Context) error {
	conn := r.end()
	if conn == nil {
		<-r.done
		return nil
	}
	cw, ok := conn.(interface{ CloseWrite() error })
	if !ok {
		return r.Close()
	}
	if err := cw.CloseWrite(); err != nil {
		conn.Close()
		<-r.done
		if errors.Is(err, net.ErrClosed) {
			return nil // epmd had already closed the connection
		}
		return fmt.Errorf("epmd: unregister %q: %w", r.name, err)
	}
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		conn.Close()
		<-r.done
		return fmt.Errorf("epmd: unregister %q: %w", r.name, ctx.Err())
	}
}
