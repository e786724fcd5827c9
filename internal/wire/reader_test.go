package wire

import (
	"bytes"
	"testing"
)

func TestReaderFields(t *testing.T) {
	data := []byte{
		0x01,       // Uint8
		0x02, 0x03, // Uint16
		0x04, 0x05, 0x06, 0x07, // Uint32
		0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, // Uint64
		'a', 'b', // Bytes(2)
		'c',      // Copy(1)
		'd', 'e', // Rest
	}
	r := NewReader(data)
	if got := r.Uint8(); got != 0x01 {
		t.Errorf("Uint8() = %#x, want 0x01", got)
	}
	if got := r.Uint16(); got != 0x0203 {
		t.Errorf("Uint16() = %#x, want 0x0203", got)
	}
	if got := r.Uint32(); got != 0x04050607 {
		t.Errorf("Uint32() = %#x, want 0x04050607", got)
	}
	if got := r.Uint64(); got != 0x08090a0b0c0d0e0f {
		t.Errorf("Uint64() = %#x, want 0x08090a0b0c0d0e0f", got)
	}
	if got := r.Bytes(2); !bytes.Equal(got, []byte("ab")) {
		t.Errorf("Bytes(2) = %q, want %q", got, "ab")
	}
	c := r.Copy(1)
	if !bytes.Equal(c, []byte("c")) {
		t.Errorf("Copy(1) = %q, want %q", c, "c")
	}
	data[17] = 'X'
	if c[0] != 'c' {
		t.Errorf("Copy(1) shares memory with its input")
	}
	if got := r.Offset(); got != 18 {
		t.Errorf("Offset() = %d, want 18", got)
	}
	if got := r.Rest(); !bytes.Equal(got, []byte("de")) {
		t.Errorf("Rest() = %q, want %q", got, "de")
	}
	if r.Failed() || r.Len() != 0 {
		t.Errorf("after reading everything: Failed() = %v, Len() = %d, want false, 0", r.Failed(), r.Len())
	}
}

func TestReaderShortReadIsSticky(t *testing.T) {
	tests := []struct {
		name string
		read func(*Reader)
	}{
		{"Uint16", func(r *Reader) { r.Uint16() }},
		{"Uint32", func(r *Reader) { r.Uint32() }},
		{"Uint64", func(r *Reader) { r.Uint64() }},
		{"Bytes", func(r *Reader) { r.Bytes(2) }},
		{"Copy", func(r *Reader) { r.Copy(2) }},
		{"negative length", func(r *Reader) { r.Bytes(-1) }},
		{"huge length", func(r *Reader) { r.Copy(1 << 40) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader([]byte{0xff})
			tt.read(r)
			if !r.Failed() {
				t.Fatalf("%s on 1 byte: Failed() = false, want true", tt.name)
			}
			// Once failed, reads return zero values even where bytes remain.
			if got := r.Uint8(); got != 0 {
				t.Errorf("Uint8() after failure = %#x, want 0", got)
			}
			if got := r.Offset(); got != 0 {
				t.Errorf("Offset() after failure = %d, want 0", got)
			}
		})
	}
}

func TestZeroReader(t *testing.T) {
	var r Reader
	if got := r.Rest(); len(got) != 0 || r.Failed() {
		t.Errorf("zero Reader: Rest() = %q, Failed() = %v, want empty, false", got, r.Failed())
	}
	r.Uint8()
	if !r.Failed() {
		t.Errorf("zero Reader: Uint8() did not fail")
	}
}
