// Package ei lets a Go program be a distributed Erlang node, without
// cgo: it speaks Erlang's External Term Format and distribution protocol,
// like erl_interface's ei library, and runs mailboxes, connections, links,
// monitors, gen_server calls and erpc calls above them.
//
// Most programs create a Node and mailboxes on it. A Mailbox has a pid
// (and optionally a registered name) that Erlang processes send to, link
// to, monitor and call; it sends, links, monitors and calls in turn. The
// node connects to other nodes when first needed (epmd lookup, dial,
// handshake) and keeps one connection per peer (myhost stands for the
// machine's short host name, hostname -s, the host part of erl -sname
// nodes):
//
//	node := &ei.Node{Name: "go@myhost", Cookie: "secret"}
//	defer node.Close()
//	l, err := node.Listen(ctx, ":0") // so that erl can connect to us
//	if err != nil {
//		return err
//	}
//	defer l.Close()
//	if err := l.Publish(ctx); err != nil { // register with epmd
//		return err
//	}
//	mb, err := node.NewMailbox("inbox") // {inbox, 'go@myhost'} ! Msg reaches it
//	if err != nil {
//		return err
//	}
//	reply, err := mb.Call(ctx, ei.RegName{Name: "my_server", Node: "erl@myhost"}, ei.Atom("ping"))
//	...
//	msg, err := mb.Receive(ctx)
//	if req, from, ok := ei.ParseCall(msg); ok { // gen_server:call(GoPid, Req) from erl
//		err = mb.Reply(ctx, from, handle(req))
//	}
//
// Go and Erlang call each other's functions. Node.ERPCCall calls an
// Erlang function as erpc:call does (ERPCCast and ERPCMulticall as
// erpc:cast and erpc:multicall), with erpc's errors: *Exception for what
// the function raised, *ERPCError for erpc's own (noconnection, timeout,
// ...). Node.HandleFunc registers a Go function that Erlang calls by
// module and function name, with rpc:call, erpc:call, their cast and
// multicall forms, rpc:block_call, erl_interface's ei_rpc or spawn/4:
//
//	err := node.HandleFunc("calc", "add", func(ctx context.Context, args ei.List) (ei.Term, error) {
//		if len(args) == 2 {
//			a, ok1 := args[0].(int64)
//			b, ok2 := args[1].(int64)
//			if ok1 && ok2 {
//				return a + b, nil
//			}
//		}
//		return nil, &ei.Exception{Class: "error", Reason: ei.Atom("badarg")}
//	})
//	// in erl: 3 = rpc:call('go@myhost', calc, add, [1, 2]).
//	v, err := node.ERPCCall(ctx, "erl@myhost", "lists", "seq", ei.List{int64(1), int64(3)})
//
// Node.RPC calls through the peer's rex server instead, which nodes
// older than OTP 23 need. Node.GlobalRegister, GlobalWhereis,
// GlobalNames and GlobalUnregister use OTP's global name registry
// through an Erlang node, as ei_global_* do, and Mailbox.GlobalSend
// sends to a global name.
//
// Messages are Go values of a closed set of types (see Term). Exit
// signals and monitor notifications arrive as the messages an Erlang
// process trapping exits gets, such as {'EXIT', Pid, noconnection} for a
// link when the connection to Pid's node is lost. Mailbox describes the
// bounded queue of each mailbox and what happens when it overflows.
//
// Terms: Marshal and Unmarshal convert whole terms, as
// erlang:term_to_binary and binary_to_term do; Decoder decodes terms that
// have no version byte, and with Decoder.Reuse decodes each term into the
// memory of the one before, allocating nothing once warm, for loops that
// are done with a term before they decode the next. For hot paths, the
// Append functions (AppendTupleHeader, AppendAtom, AppendInt, ...) and
// Reader (ReadTupleHeader, ReadAtom, ReadInt, Skip, ...) encode and decode
// piece by piece without building a Term, like ei_x_encode_* and
// ei_decode_*.
//
// In Erlang syntax: FormatTerm and AppendFormat write a term as erl
// prints it with io_lib:format's ~tp and ~tw, and the String methods of
// Tuple, List, Map, Pid and the other composite types use FormatTerm, so
// %v prints Erlang syntax; ParseTerm reads that syntax back; Compare
// orders terms in Erlang's term order; AppendPrintTerm writes a term as
// erl_interface's ei_print_term does (what erl_call prints).
//
// Decoders never panic and check every length against the bytes left
// before allocating, so hostile input costs at most a small multiple of
// its own size. Nesting is limited to MaxDepth, and compressed terms to
// MaxUncompressedSize: inflating stops at the first byte past the size a
// compressed term declares, so it costs at most that size and half a MiB.
//
// Below mailboxes, a Conn is one distribution connection, the level of
// erl_interface's C-nodes: Node.Connect asks epmd where a node listens,
// dials it and runs the handshake; Node.ConnectAddr dials an address
// without epmd (with an empty peer name it takes whatever name the node
// announces). Node.Listen returns a Listener, which Listener.Publish
// registers with epmd (and, as erl does, registers again when epmd
// restarts) and Listener.Accept takes connections from, as long as the
// node has no mailboxes. A Conn sends messages and signals (Send,
// RegSend, Link, Exit, ...), returns what arrives (Receive; Message.To
// tells a message's recipient, whether it came as Send or SendSender) and
// calls functions on the peer (RPC). A Conn belongs to its caller: the
// node's mailboxes never see what arrives on it. A receiver of many large
// binaries that is done with each message before the next can use
// ReceiveReuse, which reads later messages into the memory of earlier
// ones, as a C node reuses its buffer; a sender of many small messages
// can use SendAsync, which queues them as erl's ! does, and Flush.
//
// # Transports and names
//
// Node.TLS runs distribution over TLS, as erl -proto_dist inet_tls. The
// options of erl's -ssl_dist_optfile map to tls.Config fields: certfile
// and keyfile to Certificates, cacertfile to RootCAs (checking the nodes
// Connect reaches, by the host of their name, as OTP sends it as
// server_name_indication) and to ClientCAs (checking the nodes that
// connect to a Listener), {verify, verify_peer} with
// {fail_if_no_peer_cert, true} to ClientAuth
// tls.RequireAndVerifyClientCert, and {verify, verify_none} on the client
// side to InsecureSkipVerify.
//
// IPv6 needs nothing special: name nodes by a host that resolves to an
// IPv6 address, or by the address itself ("go@::1", as erl -name
// 'erl@::1' -proto_dist inet6_tcp), and listen on one ("[::1]:0", or
// ":0" for both families).
//
// A Node named "undefined@host" has no name until it connects: the node
// it connects to assigns one (DFLAG_NAME_ME), as for erl -sname
// undefined; see Node.CurrentName. Such a node has no mailboxes, since
// its name lasts only as long as that connection. Nodes that ask a
// Listener for a name get one made up as net_kernel does.
//
// Node.DistPort connects without epmd, to nodes started with erl
// -erl_epmd_port; Node.ConnectAddr connects to a known address. Node.Dialer
// plugs in other dialers, such as SOCKS5 proxies from golang.org/x/net/proxy.
//
// See the External Term Format,
// https://www.erlang.org/doc/apps/erts/erl_ext_dist.html, and the
// Distribution Protocol, https://www.erlang.org/doc/apps/erts/erl_dist_protocol.html.
//
// # Control messages
//
// The struct types named after the protocol's control messages (Link,
// Send, RegSend, SendSender, AliasSend, Exit, Exit2, UnlinkID,
// UnlinkIDAck, MonitorP, DemonitorP, MonitorPExit, GroupLeader,
// SpawnRequest, SpawnReply, their TT forms, which carry a trace token,
// and the Payload forms, which carry an exit reason as the payload) are
// the wire level below Conn: each implements Control, Conn.SendControl
// sends one, and Message.Control holds the one a message arrived with
// (UnknownControl for one this package does not know). Programs that use
// mailboxes, or the Conn methods Send, RegSend, Link, Exit and RPC, never
// build them.
//
// # Cancellation
//
// Encoding and decoding work on byte slices in memory and do not block, so
// they take no context.
//
// Every distribution call that can block takes a context first, and after
// the context ends errors.Is(err, ctx.Err()) holds for the error returned.
// What cancelling interrupts:
//
//   - Node.Connect: the epmd lookup, the dial and the handshake;
//     Node.ConnectAddr: the dial and the handshake; Node.ClientConn and
//     Node.ServerConn: the handshake. Cancelling afterwards has no effect
//     on the Conn returned. A context without a deadline gets one of
//     Node.SetupTime (7 seconds unless set, erl's net_setuptime), so that
//     these calls never wait forever on a silent peer.
//   - Node.Listen and Listener.Publish: setting up the socket and the
//     first epmd registration only; both last until Listener.Close, the
//     registration renewing itself when epmd drops it.
//   - Listener.Accept: the wait only. Handshakes run in the Listener, each
//     bounded by Node.SetupTime (and the peer's name by 2 seconds), and a
//     connection established after the cancellation goes to a later
//     Accept.
//   - Conn.Receive: the wait only; the connection stays up.
//   - The Conn send methods (Send, RegSend, Link, Unlink, Exit, Exit2,
//     SendControl): a write blocked on a peer that does not read (over
//     TCP, within 20 ms of the cancellation), and the wait behind other
//     senders' messages. If part of the message was written, the
//     connection is closed, since the peer could not find the next frame
//     or complete a fragmented message.
//   - Conn.RPC: the call, which is abandoned; its reply, if it comes, is
//     dropped (see Conn.RPC for the limit).
//   - Mailbox.Receive: the wait only; the mailbox stays intact.
//   - Mailbox.Send, Link, Unlink, Monitor, Demonitor, Cast and Reply:
//     connecting to the peer (the attempt goes on for other senders) and
//     the write, as for the Conn send methods.
//   - Mailbox.Call: the call, which is abandoned; its reply, if it
//     comes, is dropped.
//   - Mailbox.Exit: sending the exit signals; the mailbox has exited
//     whatever happens.
//   - Node.RPC: as for Conn.RPC, and connecting. The Global functions
//     are Node.RPC calls (and GlobalSend a Send after one).
//   - Node.ERPCCall: connecting and the call, which is abandoned as
//     erpc's timeout does (the error is an *ERPCError with reason timeout
//     wrapping ctx.Err()); ERPCMulticall: each of its calls alike;
//     ERPCCast: connecting and the write.
//   - A Func registered with HandleFunc gets a context that ends when its
//     caller can no longer get the result (see Func).
//
// Besides contexts, the only timeout of an established Conn is the net
// tick time (Node.NetTickTime): the connection to a peer silent that long
// is closed with an error wrapping ErrTimeout.
// The node's connection attempts for its mailboxes are each bounded by
// the setup time (Node.SetupTime).
//
// # Limits
//
// A Conn refuses messages larger than Node.MaxMessageSize (64 MiB unless
// set) before reading them, and fragmented messages in flight beyond
// MaxFragmentedSize and MaxFragmentSequences; it closes the connection of
// a peer that sends signals to answer (UNLINK_ID, LINK to a process that
// does not exist) while reading nothing, once 16 MiB of answers wait
// for it; atom cache entries, like
// atoms, have at most 255 characters; handshake messages are read up to
// 1 KiB, and node names have at most 255 bytes, on both sides, as in erl.
// A Listener holds at most 1024 pending connections and, to make room,
// ends the oldest handshake of a peer that has not proved it has the
// cookie, so that such peers cannot lock others out (see Listener).
//
// Messages wait in queues bounded in number, not in bytes: a Conn stops
// reading while 256 messages wait for Receive, and each mailbox holds up
// to Node.MailboxSize messages, dropping those that arrive when it is
// full (see Mailbox). A peer sending large messages to a mailbox that
// does not receive them can thus make it hold MailboxSize messages of up
// to MaxMessageSize bytes each (their decoded terms can take several
// times that): lower these two where that is too much. Calls from other
// nodes run at most Node.MaxCalls at once. The links and monitors that
// peers make with a Node's mailboxes are not bounded, as in erl: each
// holds a small record until it is removed, its mailbox exits or its
// connection goes down.
//
// # Concurrency
//
// The codec functions are safe for concurrent use (decoded atoms are
// shared through a small fixed-size table, which is too). A Reader, or a
// Decoder whose AtomCache is being changed or that has Reuse set, is not.
//
// The methods of Node, Listener and Conn are safe for concurrent use, once
// the Node's fields are set. Several goroutines may send on one Conn, and
// RPC calls may run alongside each other and alongside Receive, since the
// Conn routes each rpc reply to its call. Receive may be called from
// several goroutines too, but each message goes to one of them. Senders
// share the connection's writes: one writing writes the messages of those
// waiting behind it at once, and a large message goes out in fragments of
// 64 KiB, as erl sends it, so that small messages pass it.
//
// A Conn owns two goroutines: one reads frames (consuming ticks,
// answering UNLINK_ID, routing rpc replies) and queues messages for
// Receive, the other sends ticks and writes the answers to UNLINK_ID when
// no sender does. They end when the connection goes down;
// Conn.Close closes it and waits for them. A Listener owns, from Listen
// on, a goroutine that accepts connections and one per handshake under
// way or established connection that Accept has not returned yet, at most
// 1024 in all, and from Publish on the goroutine of its
// epmd.Registration; Listener.Close interrupts the handshakes, closes
// those connections, ends the registration, and waits for all of its
// goroutines. A Conn returned by Connect, Accept or the other
// constructors belongs to the caller, who closes it; closing a Listener
// or ending a context does not close it.
//
// The methods of Mailbox are safe for concurrent use; Receive may be
// called from several goroutines, each message going to one of them.
// From its first NewMailbox, a Node owns the connections of its table
// (their goroutines deliver messages to the mailboxes directly) and a
// goroutine per connection attempt under way; Node.Close closes the
// connections, stops the attempts and waits for them.
//
// Each call from another node of a function registered with HandleFunc
// runs in a goroutine of its own, at most Node.MaxCalls (DefaultMaxCalls
// unless set) at once; calls beyond that fail with system_limit, as
// spawns do on erl at its process limit. Node.Close ends their contexts
// and waits for them to return.
package ei
