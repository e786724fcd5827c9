package ei

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
)

// DefaultMaxCalls is the number of calls from other nodes that run at
// once when Node.MaxCalls is zero.
const DefaultMaxCalls = 4096

// Func is a Go function that Erlang code calls as Module:Function(Args...)
// on a Node, registered with Node.HandleFunc. It gets the call's
// arguments, and returns its result, or an error, which the caller sees
// as an exception:
//
//   - an *Exception (or an error wrapping one) is raised as it is: a
//     throw, an exit, or an error with its Stack (with a nil Stack, the
//     stack is [{Module, Function, Arity, []}]);
//   - any other error is raised as an error whose reason is the error's
//     message as a binary, with that one-frame stack;
//   - a panic is recovered and raised as an error whose reason is
//     <<"panic: ...">>, and logged with its stack at Warn.
//
// A nil result is sent as the atom ok. A result that cannot be encoded
// (see AppendTerm) is raised as an error saying so.
//
// ctx ends when the caller can no longer get the result: the connection
// to its node is lost, the caller abandoned an erpc call (its timeout),
// the process running the call got an exit signal (exit(Pid, kill), or
// an abnormal exit of a linked process), or Node.Close was called, which
// waits for running functions to return. Funcs run concurrently, each in
// a goroutine of its own.
type Func func(ctx context.Context, args List) (Term, error)

type funcKey struct{ mod, fun Atom }

// HandleFunc registers f as mod:fun, for Erlang nodes to call with
// rpc:call('go@host', Mod, Fun, Args), erpc:call, rpc:cast, erpc:cast,
// their multicall forms, rpc:block_call, erl_interface's ei_rpc, and
// spawn/4 (a process that runs f and exits normal, or with the
// exception's reason). The function is found by module and function
// name, whatever the number of arguments; calls of functions not
// registered fail with undef, as in erl. A nil f removes mod:fun.
// Registering again replaces the function; calls under way finish with
// the old one.
//
// HandleFunc starts the node's mailbox layer, as NewMailbox does, so
// that connections accepted by the node's Listeners are served; it is an
// error for a node with a dynamic name. At most Node.MaxCalls calls from
// other nodes run at once: beyond that, a call fails as when erl reaches
// its process limit, with system_limit ({badrpc, {'EXIT', system_limit}}
// from rpc:call, error {erpc, system_limit} from erpc:call).
func (n *Node) HandleFunc(mod, fun Atom, f Func) error {
	if _, err := n.startLayer(); err != nil {
		return err
	}
	n.funcMu.Lock()
	defer n.funcMu.Unlock()
	if f == nil {
		delete(n.funcs, funcKey{mod, fun})
		return nil
	}
	if n.funcs == nil {
		n.funcs = make(map[funcKey]Func)
	}
	n.funcs[funcKey{mod, fun}] = f
	return nil
}

func (n *Node) lookupFunc(mod, fun Atom) Func {
	n.funcMu.RLock()
	defer n.funcMu.RUnlock()
	return n.funcs[funcKey{mod, fun}]
}

func (n *Node) maxCalls() int {
	if n.MaxCalls > 0 {
		return n.MaxCalls
	}
	return DefaultMaxCalls
}

// incoming is a call from another node under way: it counts against
// Node.MaxCalls and ends with the connection it came on.
type incoming struct {
	cs     *connState // nil for casts from the node itself
	ctx    context.Context
	cancel context.CancelFunc
}

// errSystemLimit is the reason a call is refused when Node.MaxCalls
// calls run.
var errSystemLimit = Atom("system_limit")

// startIncoming admits a call that came on cs, unless Node.MaxCalls
// calls run, the connection is lost or the layer closed; it returns nil
// then. The caller runs the call in a goroutine and calls end.
func (l *layer) startIncoming(cs *connState) *incoming {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || (cs != nil && cs.lost) || l.running >= l.node.maxCalls() {
		return nil
	}
	ctx, cancel := context.WithCancel(l.ctx)
	in := &incoming{cs: cs, ctx: ctx, cancel: cancel}
	l.running++
	l.wg.Add(1)
	if cs != nil {
		if cs.incoming == nil {
			cs.incoming = make(map[*incoming]struct{})
		}
		cs.incoming[in] = struct{}{}
	}
	return in
}

// end releases the call's place.
func (in *incoming) end(l *layer) {
	in.cancel()
	l.mu.Lock()
	l.running--
	if in.cs != nil {
		delete(in.cs.incoming, in)
	}
	l.mu.Unlock()
	l.wg.Done()
}

// callLocal runs the registered mod:fun in the calling goroutine, for
// ERPCCall to the node itself, with results and errors as ERPCCall has
// them.
func (l *layer) callLocal(ctx context.Context, mod, fun Atom, args List) (Term, error) {
	v, exc := l.apply(ctx, mod, fun, args)
	if exc != nil {
		return nil, exc
	}
	return v, nil
}

// castLocal runs the registered mod:fun in a goroutine, for ERPCCast to
// the node itself.
func (l *layer) castLocal(mod, fun Atom, args List) error {
	in := l.startIncoming(nil)
	if in == nil {
		if l.isClosed() {
			return ErrClosed
		}
		return &ERPCError{Reason: errSystemLimit}
	}
	go func() {
		defer in.end(l)
		if _, exc := l.apply(in.ctx, mod, fun, args); exc != nil {
			l.node.logger().Warn("ei: erpc cast failed", "mfa", mfaString(mod, fun, len(args)), "err", exc)
		}
	}()
	return nil
}

func (l *layer) isClosed() bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.closed
}

// apply runs the registered mod:fun with args and returns its result,
// or the exception its caller sees (see Func).
func (l *layer) apply(ctx context.Context, mod, fun Atom, args List) (result Term, exc *Exception) {
	f := l.node.lookupFunc(mod, fun)
	if f == nil {
		return nil, &Exception{Class: "error", Reason: Atom("undef"), Stack: List{Tuple{mod, fun, args, List{}}}}
	}
	frame := List{Tuple{mod, fun, int64(len(args)), List{}}}
	defer func() {
		if p := recover(); p != nil {
			l.node.logger().Warn("ei: registered function panicked", "mfa", mfaString(mod, fun, len(args)), "panic", p, "stack", string(debug.Stack()))
			result, exc = nil, &Exception{Class: "error", Reason: Binary(fmt.Sprintf("panic: %v", p)), Stack: frame}
		}
	}()
	v, err := f(ctx, args)
	if err != nil {
		return nil, exceptionOf(err, frame)
	}
	if v == nil {
		return Atom("ok"), nil
	}
	if err := encodable(v); err != nil {
		return nil, &Exception{Class: "error", Reason: Binary(fmt.Sprintf("ei: result of %s cannot be encoded: %v", mfaString(mod, fun, len(args)), err)), Stack: frame}
	}
	return v, nil
}

// exceptionOf returns the exception a Func's error raises (see Func);
// frame is the stack of one frame for the function.
func exceptionOf(err error, frame List) *Exception {
	var e *Exception
	if !errors.As(err, &e) {
		return &Exception{Class: "error", Reason: Binary(err.Error()), Stack: frame}
	}
	fixed := *e
	if c := fixed.Class; c != "exit" && c != "throw" {
		fixed.Class = "error"
	}
	if fixed.Class != "error" {
		fixed.Stack = nil
	} else if fixed.Stack == nil {
		fixed.Stack = frame
	}
	check := Tuple{fixed.Reason}
	if fixed.Stack != nil {
		check = append(check, fixed.Stack)
	}
	if err := encodable(check); err != nil {
		return &Exception{Class: "error", Reason: Binary(fmt.Sprintf("ei: exception %v cannot be encoded", e)), Stack: frame}
	}
	return &fixed
}

// encodable reports why t cannot be encoded, if it cannot.
func encodable(t Term) error {
	bp := encodeBufs.Get().(*[]byte)
	b, err := AppendTerm((*bp)[:0], t)
	if cap(b) <= maxKeptWriteBuf {
		*bp = b[:0]
		encodeBufs.Put(bp)
	}
	return err
}

// encodeBufs hold buffers for encodable.
var encodeBufs = sync.Pool{New: func() any { return new([]byte) }}

func mfaString(mod, fun Atom, arity int) string {
	return fmt.Sprintf("%s:%s/%d", FormatTerm(mod), FormatTerm(fun), arity)
}

// rpcResult is what rex answers for a call that ended with exc
// (rpc:execute_call/3): the thrown value, or {badrpc, {'EXIT', ...}}.
func rpcResult(exc *Exception) Term {
	switch {
	case exc.Class == "throw" && !exc.Signal:
		return exc.Reason
	case exc.Class == "error" && !exc.Signal:
		return Tuple{Atom("badrpc"), Tuple{Atom("EXIT"), Tuple{exc.Reason, exc.Stack}}}
	}
	return Tuple{Atom("badrpc"), Tuple{Atom("EXIT"), exc.Reason}}
}
