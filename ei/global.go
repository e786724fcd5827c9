package ei

import (
	"context"
	"errors"
	"fmt"
)

// The global functions use OTP's global name registry through a node of
// the cluster it spans, via, as erl_interface's ei_global_* functions do:
// each is an rpc call of the global module over the node's connection to
// via (see Node.RPC). A Node is hidden, so global does not sync names
// with it: it sees the names of via's cluster, and the names it
// registers are that cluster's, visible from each of its nodes.

// ErrGlobalNotRegistered is returned (wrapped) by Mailbox.GlobalSend for
// a name that global does not know.
var ErrGlobalNotRegistered = errors.New("ei: global name not registered")

// GlobalNames returns the names registered in global, as
// global:registered_names() on via does. Global names are Erlang terms,
// atoms most often.
func (n *Node) GlobalNames(ctx context.Context, via Atom) ([]Term, error) {
	r, err := n.RPC(ctx, via, "global", "registered_names", List{})
	if err != nil {
		return nil, err
	}
	names, ok := asList(r)
	if !ok {
		return nil, &ProtocolError{Msg: fmt.Sprintf("ei: global:registered_names() returned %s, not a list", FormatTerm(r))}
	}
	return names, nil
}

// GlobalWhereis returns the pid registered in global as name, as
// global:whereis_name(Name) on via does; ok is false if there is none.
func (n *Node) GlobalWhereis(ctx context.Context, via Atom, name Term) (pid Pid, ok bool, err error) {
	r, err := n.RPC(ctx, via, "global", "whereis_name", List{name})
	if err != nil {
		return Pid{}, false, err
	}
	switch r := r.(type) {
	case Pid:
		return r, true, nil
	case Atom:
		if r == "undefined" {
			return Pid{}, false, nil
		}
	}
	return Pid{}, false, &ProtocolError{Msg: fmt.Sprintf("ei: global:whereis_name(%s) returned %s", FormatTerm(name), FormatTerm(r))}
}

// GlobalRegister registers pid in global as name, through via, as
// ei_global_register does (global:register_name_external(Name, Pid)),
// and reports whether global accepted it: false if the name is taken.
// global monitors pid and removes the name when the process exits, so
// pid is a live process: a Mailbox's pid, say (one that does not exist
// loses the name at once). Should two clusters holding the name merge,
// global resolves the clash as for erl's register_name/2: one of the
// processes gets an exit signal with reason kill (to a Mailbox, the
// message {'EXIT', Pid, kill}) and loses the name.
func (n *Node) GlobalRegister(ctx context.Context, via Atom, name Term, pid Pid) (bool, error) {
	r, err := n.RPC(ctx, via, "global", "register_name_external", List{name, pid})
	if err != nil {
		return false, err
	}
	switch r {
	case Atom("yes"):
		return true, nil
	case Atom("no"):
		return false, nil
	}
	return false, &ProtocolError{Msg: fmt.Sprintf("ei: global:register_name_external(%s, ...) returned %s", FormatTerm(name), FormatTerm(r))}
}

// GlobalUnregister removes name from global, through via, as
// global:unregister_name(Name) does. Removing a name that is not
// registered does nothing.
func (n *Node) GlobalUnregister(ctx context.Context, via Atom, name Term) error {
	_, err := n.RPC(ctx, via, "global", "unregister_name_external", List{name})
	return err
}

// GlobalSend sends msg from the mailbox to the process registered in
// global as name, looked up through via, as global:send(Name, Msg) does.
// It returns an error wrapping ErrGlobalNotRegistered when no process is
// registered as name; other errors are those of Node.RPC and Send.
func (m *Mailbox) GlobalSend(ctx context.Context, via Atom, name Term, msg Term) error {
	pid, ok, err := m.node.GlobalWhereis(ctx, via, name)
	if err != nil {
		return err
	}
	if !ok {
		return wrapf(ErrGlobalNotRegistered, "ei: global send to %s", FormatTerm(name))
	}
	return m.Send(ctx, pid, msg)
}
