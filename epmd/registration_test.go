package epmd

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// pipeEPMD is a fake epmd for tests in a synctest bubble: as a Client's
// Dialer, it connects the Client to itself over net.Pipe, so the bubble's fake clock times the
// Registration's waits exactly. It records when each dial happened.
type pipeEPMD struct {
	mu       sync.Mutex
	down     bool       // dials fail, as with no epmd listening
	taken    bool       // another node has the name: ALIVE2_REQ is refused
	silent   bool       // ALIVE2_REQ gets no reply
	creation uint32     // the next creation handed out
	live     int        // registrations held
	conns    []net.Conn // the epmd ends of all connections
	dials    []time.Time
}

func (e *pipeEPMD) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.dials = append(e.dials, time.Now())
	if e.down {
		return nil, errors.New("connection refused")
	}
	client, server := net.Pipe()
	e.conns = append(e.conns, server)
	go e.serve(server)
	return client, nil
}

// serve answers an ALIVE2_REQ and keeps the connection open until the
// client closes it or crash closes it.
func (e *pipeEPMD) serve(c net.Conn) {
	defer c.Close()
	if _, err := readFrame(c); err != nil {
		return
	}
	e.mu.Lock()
	silent, refused := e.silent, e.taken
	e.creation++
	reply := []byte{118, 1, 0, 0, 0, 99} // ALIVE2_X_RESP, refused
	if !refused {
		reply = []byte{118, 0, 0, 0, 0, byte(e.creation)}
		e.live++
	}
	e.mu.Unlock()
	if !silent {
		if _, err := c.Write(reply); err != nil {
			return
		}
	}
	io.Copy(io.Discard, c)
	if !refused {
		e.mu.Lock()
		e.live--
		e.mu.Unlock()
	}
}

// crash drops every connection, as epmd does when it is killed, and leaves
// epmd down.
func (e *pipeEPMD) crash() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.down = true
	for _, c := range e.conns {
		c.Close()
	}
	e.conns = nil
}

func (e *pipeEPMD) set(f func(e *pipeEPMD)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	f(e)
}

// dialsSince returns the times of the dials after t0, as offsets from t0.
func (e *pipeEPMD) dialsSince(t0 time.Time) []time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	var d []time.Duration
	for _, t := range e.dials {
		if t.After(t0) {
			d = append(d, t.Sub(t0))
		}
	}
	return d
}

func (e *pipeEPMD) registered() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.live
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// publishPipe publishes "foo" with c on e and checks that it holds.
func publishPipe(t *testing.T, c *Client, e *pipeEPMD) *Registration {
	t.Helper()
	c.Dialer = e
	r, err := c.Publish(t.Context(), NodeInfo{Name: "foo", Port: 1})
	if err != nil {
		t.Fatalf("Publish() = %v", err)
	}
	synctest.Wait()
	if s, n := r.State(), e.registered(); s != StateRegistered || n != 1 {
		t.Fatalf("after Publish: State() = %v with %d registrations, want %v with 1", s, n, StateRegistered)
	}
	return r
}

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// publishAndCrash publishes with c on a new pipeEPMD, then crashes epmd
// and, if back is not nil, lets back set what epmd does from then on (it
// stays down otherwise). It returns the time of the crash.
func publishAndCrash(t *testing.T, c *Client, back func(e *pipeEPMD)) (*pipeEPMD, *Registration, time.Time) {
	t.Helper()
	e := &pipeEPMD{}
	r := publishPipe(t, c, e)
	t0 := time.Now()
	e.crash()
	if back != nil {
		e.set(back)
	}
	return e, r, t0
}

// TestRegistrationReregisters kills epmd under a registration and checks
// that it registers again as erl does: 2 s after the connection ended,
// then every 2 s until epmd answers, keeping its creation.
func TestRegistrationReregisters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		logs := new(lockedBuffer)
		c := &Client{Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
		e, r, t0 := publishAndCrash(t, c, nil)
		defer r.Close()
		creation := r.Creation()
		if !r.WaitForStateChange(t.Context(), StateRegistered) {
			t.Fatal("WaitForStateChange(registered) = false")
		}
		// The log tells first.
		if !strings.Contains(logs.String(), "registration lost") {
			t.Errorf("State() = lost before the log said so:\n%s", logs.String())
		}
		if s, err := r.State(), r.Err(); s != StateLost || !errors.Is(err, io.EOF) {
			t.Errorf("after the crash: State(), Err() = %v, %v; want %v, io.EOF", s, err, StateLost)
		}
		select {
		case <-r.Done():
			t.Fatal("Done() closed after the crash")
		default:
		}

		// epmd comes back after 5 s: the attempts at 2 s and 4 s fail,
		// the one at 6 s registers.
		time.Sleep(5 * time.Second)
		if s, err := r.State(), r.Err(); s != StateLost || err == nil || !strings.Contains(err.Error(), "connection refused") {
			t.Errorf("with epmd down: State(), Err() = %v, %v; want %v, connection refused", s, err, StateLost)
		}
		e.set(func(e *pipeEPMD) { e.down = false })
		if !r.WaitForStateChange(t.Context(), StateLost) {
			t.Fatal("WaitForStateChange(lost) = false")
		}
		if !strings.Contains(logs.String(), "registered again") {
			t.Errorf("State() = registered before the log said so:\n%s", logs.String())
		}
		if got, want := time.Since(t0), 6*time.Second; got != want {
			t.Errorf("registered again %v after the crash, want %v", got, want)
		}
		want := []time.Duration{2 * time.Second, 4 * time.Second, 6 * time.Second}
		if got := e.dialsSince(t0); !equalDurations(got, want) {
			t.Errorf("dials at %v after the crash, want %v", got, want)
		}
		synctest.Wait()
		if s, err, n := r.State(), r.Err(), e.registered(); s != StateRegistered || err != nil || n != 1 {
			t.Errorf("after registering again: State(), Err() = %v, %v with %d registrations; want %v, nil with 1", s, err, n, StateRegistered)
		}
		if r.Creation() != creation {
			t.Errorf("Creation() = %d after registering again, want %d as before", r.Creation(), creation)
		}
		for _, want := range []string{
			`level=WARN msg="epmd: registration lost; registering again" name=foo`,
			`level=DEBUG msg="epmd: registering again failed" name=foo`,
			`level=INFO msg="epmd: registered again" name=foo after=6s attempts=3`,
		} {
			if !strings.Contains(logs.String(), want) {
				t.Errorf("log lacks %q:\n%s", want, logs.String())
			}
		}

		if err := r.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
		synctest.Wait()
		if s, n := r.State(), e.registered(); s != StateClosed || n != 0 {
			t.Errorf("after Close: State() = %v with %d registrations, want %v with 0", s, n, StateClosed)
		}
	})
}

// TestRegistrationNameTaken has another node take the name while epmd is
// away: the registration keeps trying, says why, and gets the name back
// once it is free.
func TestRegistrationNameTaken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, r, t0 := publishAndCrash(t, &Client{}, func(e *pipeEPMD) { e.down, e.taken = false, true })
		defer r.Close()
		time.Sleep(9 * time.Second) // attempts at 2, 4, 6 and 8 s
		if s, err := r.State(), r.Err(); s != StateLost || !errors.Is(err, ErrNameInUse) {
			t.Errorf("with the name taken: State(), Err() = %v, %v; want %v, ErrNameInUse", s, err, StateLost)
		}
		e.set(func(e *pipeEPMD) { e.taken = false })
		r.WaitForStateChange(t.Context(), StateLost)
		if got, want := time.Since(t0), 10*time.Second; got != want || r.State() != StateRegistered {
			t.Errorf("State() = %v %v after the crash, want %v after %v", r.State(), got, StateRegistered, want)
		}
	})
}

// TestRegistrationAttemptTimeout checks that an attempt epmd does not
// answer is given up after 10 s, as erl does, and retried 2 s later.
func TestRegistrationAttemptTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, r, t0 := publishAndCrash(t, &Client{}, func(e *pipeEPMD) { e.down, e.silent = false, true })
		defer r.Close()
		time.Sleep(13 * time.Second)
		if err := r.Err(); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Err() after an unanswered attempt = %v, want context.DeadlineExceeded", err)
		}
		e.set(func(e *pipeEPMD) { e.silent = false })
		r.WaitForStateChange(t.Context(), StateLost)
		want := []time.Duration{2 * time.Second, 14 * time.Second}
		if got := e.dialsSince(t0); !equalDurations(got, want) || r.State() != StateRegistered {
			t.Errorf("State() = %v, dials at %v after the crash; want %v, dials at %v", r.State(), got, StateRegistered, want)
		}
	})
}

// TestRegistrationDelay checks Client.ReregisterDelay: a positive value
// replaces erl's 2 s, a negative one turns re-registration off.
func TestRegistrationDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, r, t0 := publishAndCrash(t, &Client{ReregisterDelay: 300 * time.Millisecond}, func(e *pipeEPMD) { e.down = false })
		defer r.Close()
		r.WaitForStateChange(t.Context(), StateRegistered)
		r.WaitForStateChange(t.Context(), StateLost)
		if got, want := time.Since(t0), 300*time.Millisecond; got != want || r.State() != StateRegistered {
			t.Errorf("State() = %v %v after the crash, want %v after %v", r.State(), got, StateRegistered, want)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		e, r, t0 := publishAndCrash(t, &Client{ReregisterDelay: -1}, func(e *pipeEPMD) { e.down = false })
		<-r.Done()
		time.Sleep(time.Minute)
		if s, err := r.State(), r.Err(); s != StateClosed || !errors.Is(err, io.EOF) {
			t.Errorf("with ReregisterDelay -1: State(), Err() = %v, %v after the crash; want %v, io.EOF", s, err, StateClosed)
		}
		if d := e.dialsSince(t0); len(d) != 0 {
			t.Errorf("with ReregisterDelay -1: dials at %v after the crash, want none", d)
		}
		if err := r.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
	})
}

// TestRegistrationCloseWhileLost checks that Close and Shutdown stop the
// attempts of a lost registration at once, and keep its error.
func TestRegistrationCloseWhileLost(t *testing.T) {
	for _, shutdown := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			e, r, t0 := publishAndCrash(t, &Client{}, nil)
			time.Sleep(3 * time.Second) // one attempt, at 2 s
			var err error
			if shutdown {
				err = r.Shutdown(t.Context())
			} else {
				err = r.Close()
			}
			if err != nil {
				t.Errorf("Close or Shutdown (%v) = %v, want nil", shutdown, err)
			}
			<-r.Done()
			if s, err := r.State(), r.Err(); s != StateClosed || err == nil {
				t.Errorf("after Close: State(), Err() = %v, %v; want %v and the last error", s, err, StateClosed)
			}
			e.set(func(e *pipeEPMD) { e.down = false })
			time.Sleep(time.Minute)
			if d := e.dialsSince(t0); len(d) != 1 {
				t.Errorf("dials at %v after the crash, want one at 2s", d)
			}
		})
	}
}

// TestRegistrationCloseDuringAttempt closes a registration while an
// attempt waits for epmd's reply: Close interrupts it.
func TestRegistrationCloseDuringAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, r, _ := publishAndCrash(t, &Client{}, func(e *pipeEPMD) { e.down, e.silent = false, true })
		time.Sleep(3 * time.Second) // the attempt started at 2 s waits
		start := time.Now()
		if err := r.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("Close took %v, want it to interrupt the attempt", d)
		}
		synctest.Wait()
		if n := e.registered(); n != 0 {
			t.Errorf("%d registrations after Close, want 0", n)
		}
	})
}

func TestWaitForStateChangeContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := publishPipe(t, &Client{}, &pipeEPMD{})
		defer r.Close()
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if r.WaitForStateChange(ctx, StateRegistered) {
			t.Errorf("WaitForStateChange(registered) = true, want false when ctx ends first")
		}
		if !r.WaitForStateChange(ctx, StateLost) {
			t.Errorf("WaitForStateChange(lost) = false while registered, want true")
		}
	})
}

func TestStateString(t *testing.T) {
	for s, want := range map[State]string{StateRegistered: "registered", StateLost: "lost", StateClosed: "closed", 0: "State(0)"} {
		if got := s.String(); got != want {
			t.Errorf("State(%d).String() = %q, want %q", uint8(s), got, want)
		}
	}
}
