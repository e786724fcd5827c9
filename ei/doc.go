// Package ei speaks Erlang's External Term Format and distribution
// protocol without cgo, like erl_interface's ei library.
//
// Terms are Go values of a closed set of types (see Term). Marshal and
// Unmarshal convert whole terms, as erlang:term_to_binary and
// binary_to_term do; Decoder decodes terms that have no version byte.
// For hot paths, the Append functions (AppendTupleHeader, AppendAtom,
// AppendInt, ...) and Reader (ReadTupleHeader, ReadAtom, ReadInt, Skip, ...)
// encode and decode piece by piece without building a Term, like
// ei_x_encode_* and ei_decode_*.
//
// Decoders never panic and check every length against the bytes left
// before allocating, so hostile input costs at most a small multiple of
// its own size. Nesting is limited to MaxDepth, and compressed terms to
// MaxUncompressedSize.
//
// See the External Term Format,
// https://www.erlang.org/doc/apps/erts/erl_ext_dist.html, and the
// Distribution Protocol, https://www.erlang.org/doc/apps/erts/erl_dist_protocol.html.
//
// # Cancellation
//
// Encoding and decoding work on byte slices in memory and do not block, so
// they take no context.
//
// # Concurrency
//
// The codec functions are safe for concurrent use (decoded atoms are
// shared through a small fixed-size table, which is too). A Reader, or a
// Decoder whose AtomCache is being changed, is not.
package ei
