package ergoreg

import (
	"bytes"
	"testing"
)

// FuzzParseExtra checks that parseExtra takes any bytes, and that what it
// reads as ergo's extra data is what extra writes.
func FuzzParseExtra(f *testing.F) {
	f.Add(extra(false))
	f.Add(extra(true))
	f.Add([]byte{0x11, 0x3b, 1, 2, 3})
	f.Add([]byte{0x11, 0x3b})
	f.Fuzz(func(t *testing.T, b []byte) {
		tlsOn, isErgo := parseExtra(b)
		if !isErgo {
			if tlsOn {
				t.Fatalf("parseExtra(%x) = TLS without ergo", b)
			}
			return
		}
		// ergo reads the TLS flag as the fourth byte being 1.
		if want := extra(tlsOn); !bytes.Equal(b[:3], want[:3]) || (b[3] == 1) != tlsOn {
			t.Fatalf("parseExtra(%x) = TLS %v, ergo; extra(%v) = %x", b, tlsOn, tlsOn, want)
		}
		if gotTLS, gotErgo := parseExtra(extra(tlsOn)); gotTLS != tlsOn || !gotErgo {
			t.Fatalf("parseExtra(extra(%v)) = %v, %v", tlsOn, gotTLS, gotErgo)
		}
	})
}
