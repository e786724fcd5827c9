// Package wire reads big-endian fields from a byte slice with a sticky error,
// so decoders check for truncation once, at the end.
package wire

import "encoding/binary"

// Reader reads fields from a byte slice. After the first short read every
// further read returns zero values and Err reports the failure.
// The zero Reader reads nothing.
type Reader struct {
	data []byte
	off  int
	err  bool
}

// NewReader returns a Reader over data. The Reader does not copy data.
func NewReader(data []byte) *Reader { return &Reader{data: data} }

// Failed reports whether a read ran past the end of the data.
func (r *Reader) Failed() bool { return r.err }

// Offset is the number of bytes consumed so far.
func (r *Reader) Offset() int { return r.off }

// Len is the number of bytes not yet consumed.
func (r *Reader) Len() int { return len(r.data) - r.off }

// take returns the next n bytes, or nil and sets the error when fewer remain.
func (r *Reader) take(n int) []byte {
	if r.err || n < 0 || n > len(r.data)-r.off {
		r.err = true
		return nil
	}
	b := r.data[r.off : r.off+n]
	r.off += n
	return b
}

// Uint8 reads one byte.
func (r *Reader) Uint8() uint8 {
	b := r.take(1)
	if b == nil {
		return 0
	}
	return b[0]
}

// Uint16 reads a big-endian uint16.
func (r *Reader) Uint16() uint16 {
	b := r.take(2)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint16(b)
}

// Uint32 reads a big-endian uint32.
func (r *Reader) Uint32() uint32 {
	b := r.take(4)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint32(b)
}

// Uint64 reads a big-endian uint64.
func (r *Reader) Uint64() uint64 {
	b := r.take(8)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// Bytes returns the next n bytes without copying them; callers copy what
// they keep. A negative n or one beyond the remaining data fails the reader
// before anything is allocated.
func (r *Reader) Bytes(n int) []byte { return r.take(n) }

// Copy returns a copy of the next n bytes.
func (r *Reader) Copy(n int) []byte {
	b := r.take(n)
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// Rest returns the remaining bytes without copying them.
func (r *Reader) Rest() []byte { return r.take(r.Len()) }
