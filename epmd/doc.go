// Package epmd implements the Erlang Port Mapper Daemon protocol: the wire
// messages, a client, and a server that can stand in for OTP's epmd.
//
// Erlang nodes register their distribution port with the epmd on their host
// (ALIVE2_REQ) and ask it for the ports of other nodes (PORT_PLEASE2_REQ).
// The protocol is described in the "Distribution Protocol" chapter of the
// ERTS User's Guide:
// https://www.erlang.org/doc/apps/erts/erl_dist_protocol.html
//
// Client.Publish registers a node and returns a Registration, which holds
// the connection to epmd that keeps the name registered. Like erl, and
// unlike erl_interface's ei_publish, it outlives epmd: when epmd drops the
// connection (it was restarted, or told to forget the name) the
// Registration registers the name again after 2 seconds, and every 2
// seconds until that succeeds, keeping its creation. Registration.State and
// WaitForStateChange, and Client.Logger, tell about it;
// Client.ReregisterDelay changes the wait or turns this off. A name that
// another node has gives an error matching ErrNameInUse.
//
// Each message type (Alive2Req, Port2Resp, NamesResp, ...) encodes and
// decodes its bytes without the 2-byte length prefix that requests carry on
// the wire; the client and the server add and strip it.
//
// Server is a drop-in replacement for OTP's epmd: it sends the same bytes,
// hands out creations by the same rules and, unlike OTP's select-based
// epmd, registers any number of nodes. The command cmd/epmd wraps it with
// the flags and output of OTP's epmd. Listen opens a listener tuned for
// it.
//
// # Cancellation
//
// Client calls take a context. Cancelling it, or reaching its deadline,
// interrupts dialing and any read or write in progress; the call then
// returns an error for which errors.Is(err, context.Canceled) or
// errors.Is(err, context.DeadlineExceeded) holds. The context of Publish
// bounds the first registration only; a Registration bounds each attempt
// to register again by 10 seconds, as erl does.
//
// Server follows net/http: Serve runs until Shutdown or Close, and then
// returns ErrServerClosed. Shutdown(ctx) stops accepting, closes the
// connections of registered nodes (which unregisters them) and waits for
// requests in progress; when ctx ends first it closes everything and
// returns ctx's error. A client that stays silent for Server.PacketTimeout
// before its request is whole is dropped.
//
// # Concurrency
//
// Message values are plain data: use one from a single goroutine at a
// time. The client functions hold no shared state and are safe for
// concurrent use. A Registration owns a goroutine that watches its
// connection and registers again; its methods are safe for concurrent use,
// and Close and Shutdown end the goroutine and wait for it.
//
// A Server serves each connection in its own goroutine, but answers
// lookups whose request is already in on its accept loop. On Linux, Serve
// on a listener from Listen waits for new connections and for the nodes
// it registered in an epoll instance of its own, with one goroutine: it
// answers registrations there too, and a registered node holds no
// goroutine. Its methods are safe for concurrent use, and Close and
// Shutdown wait for the goroutines it started. A Server may serve several
// listeners at once, which share its registered nodes.
package epmd
