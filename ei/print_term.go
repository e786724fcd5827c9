package ei

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// binPrintSize is how many bytes of a binary ei_print_term shows before
// eliding the rest with ",...".
const binPrintSize = 30

// AppendPrintTerm appends t as erl_interface's ei_print_term prints it,
// which is what erl_call writes: "{a, 1}" with a space after each comma,
// floats as C's %f, binaries as #Bin<1,2,3>, pids as <node.id.serial>,
// and strings quoted with C-style escapes. It is not Erlang's ~p (see
// FormatTerm): atoms are quoted by a simple rule, and neither atoms nor
// strings escape quotes or backslashes.
//
// Like ei_print_term, it gives up on what erl_interface cannot decode or
// print: atoms with characters beyond Latin-1 (other atoms are written in
// Latin-1), ports with 64-bit IDs, and values that are not terms. It then
// returns what it printed up to there and an error.
func AppendPrintTerm(b []byte, t Term) ([]byte, error) {
	p := eiPrinter{}
	b = p.term(b, plain(t))
	return b, p.err
}

// eiPrinter prints as ei_print_term. After the first term it cannot print
// it records err and appends nothing more.
type eiPrinter struct {
	err error
}

func (p *eiPrinter) fail(format string, args ...any) {
	if p.err == nil {
		p.err = fmt.Errorf("ei: print term: "+format, args...)
	}
}

func (p *eiPrinter) term(b []byte, t Term) []byte {
	if p.err != nil {
		return b
	}
	switch t := plain(t).(type) {
	case Atom:
		latin1, ok := toLatin1(string(t))
		if !ok {
			p.fail("atom %q has characters beyond Latin-1", string(t))
			return b
		}
		return eiAtom(b, latin1)
	case int64:
		return strconv.AppendInt(b, t, 10)
	case *big.Int:
		if t == nil {
			break
		}
		return eiBig(b, t)
	case float64:
		return strconv.AppendFloat(b, t, 'f', 6, 64)
	case String:
		if t == "" {
			return append(b, "[]"...)
		}
		return eiString(b, string(t))
	case List:
		return p.list(b, t, nil)
	case ImproperList:
		return p.list(b, t.Elems, t.Tail)
	case Tuple:
		b = append(b, '{')
		for i, e := range t {
			if i > 0 && p.err == nil {
				b = append(b, ", "...)
			}
			b = p.term(b, e)
		}
		return p.closing(b, '}')
	case Map:
		b = append(b, "#{"...)
		for i, kv := range t {
			if i > 0 && p.err == nil {
				b = append(b, ", "...)
			}
			b = p.term(b, kv.Key)
			if p.err == nil {
				b = append(b, " => "...)
			}
			b = p.term(b, kv.Value)
		}
		return p.closing(b, '}')
	case Binary:
		return eiBytes(b, "#Bin<", t, len(t) > binPrintSize, 0, 0)
	case BitBinary:
		return eiBits(b, t)
	case Pid:
		// ei prints the numbers with %d.
		return fmt.Appendf(b, "<%s.%d.%d>", t.Node, int32(t.ID), int32(t.Serial))
	case Port:
		if t.ID > 0xffffffff {
			p.fail("port %v has a 64-bit ID (V4_PORT_EXT)", t)
			return b
		}
		return fmt.Appendf(b, "#Port<%d.%d>", int32(t.ID), int32(t.Creation))
	case Ref:
		b = append(b, "#Ref<"...)
		for i, n := range t.ID {
			if i > 0 {
				b = append(b, '.')
			}
			b = strconv.AppendInt(b, int64(int32(n)), 10)
		}
		return append(b, '>')
	case Export:
		return fmt.Appendf(b, "fun %s:%s/%d", t.Module, t.Function, t.Arity)
	case Fun:
		return fmt.Appendf(b, "#Fun{%s.%d.%d}", t.Module, t.Index, t.OldUniq)
	}
	p.fail("%#v is not a term", t)
	return b
}

// closing appends c unless printing failed.
func (p *eiPrinter) closing(b []byte, c byte) []byte {
	if p.err != nil {
		return b
	}
	return append(b, c)
}

// list prints [E1, E2] or, with a non-nil tail, [E1, E2 | Tail].
func (p *eiPrinter) list(b []byte, elems []Term, tail Term) []byte {
	b = append(b, '[')
	for i, e := range elems {
		if i > 0 && p.err == nil {
			b = append(b, ", "...)
		}
		b = p.term(b, e)
	}
	if tail != nil {
		if p.err == nil {
			b = append(b, " | "...)
		}
		b = p.term(b, tail)
	}
	return p.closing(b, ']')
}

// toLatin1 converts UTF-8 to Latin-1, as ei_decode_atom does; it fails for
// characters beyond U+00FF.
func toLatin1(s string) (string, bool) {
	ascii := true
	for i := 0; i < len(s); i++ {
		ascii = ascii && s[i] < 0x80
	}
	if ascii {
		return s, true
	}
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xff {
			return "", false
		}
		b = append(b, byte(r))
	}
	return string(b), true
}

// eiAtom quotes an atom unless it starts with a lower-case ASCII letter
// and has only ASCII letters, digits, '_' and '@'. Quotes and backslashes
// inside are not escaped, as in ei_print_term.
func eiAtom(b []byte, a string) []byte {
	quote := a == "" || !isLower(a[0])
	for i := 0; !quote && i < len(a); i++ {
		quote = !isAtomChar(a[i])
	}
	if !quote {
		return append(b, a...)
	}
	b = append(b, '\'')
	b = append(b, a...)
	return append(b, '\'')
}

func isLower(c byte) bool { return 'a' <= c && c <= 'z' }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isAtomChar(c byte) bool {
	return isLower(c) || 'A' <= c && c <= 'Z' || isDigit(c) || c == '_' || c == '@'
}

// eiString prints the bytes of a STRING_EXT between double quotes.
// Bytes from ' ' up print as they are (quotes and backslashes included);
// control characters print as C escapes or \xN; bytes from 128 up, which
// are negative chars in C, print as \xffffffNN.
func eiString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 0x80:
			b = fmt.Appendf(b, `\x%x`, uint32(int32(int8(c))))
		case c >= ' ':
			b = append(b, c)
		case c == '\n':
			b = append(b, `\n`...)
		case c == '\r':
			b = append(b, `\r`...)
		case c == '\t':
			b = append(b, `\t`...)
		case c == '\v':
			b = append(b, `\v`...)
		case c == '\b':
			b = append(b, `\b`...)
		case c == '\f':
			b = append(b, `\f`...)
		default:
			b = fmt.Appendf(b, `\x%x`, c)
		}
	}
	return append(b, '"')
}

// eiBytes prints prefix, the first binPrintSize bytes of data at most,
// ",..." when trunc is set, and otherwise the lastBits (1..7) leading bits
// of last as "V:Bits".
func eiBytes(b []byte, prefix string, data []byte, trunc bool, last byte, lastBits int) []byte {
	b = append(b, prefix...)
	if len(data) > binPrintSize {
		data = data[:binPrintSize]
	}
	for i, c := range data {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, uint64(c), 10)
	}
	switch {
	case trunc:
		b = append(b, ",..."...)
	case lastBits > 0:
		if len(data) > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, "%d:%d", last>>(8-lastBits), lastBits)
	}
	return append(b, '>')
}

// eiBits prints a bitstring as #Bits<1,2:5>: whole bytes, then the
// value and size of the trailing bits.
func eiBits(b []byte, t BitBinary) []byte {
	if len(t.Data) == 0 {
		return append(b, "#Bits<>"...)
	}
	bits := (len(t.Data)-1)*8 + int(t.Bits)
	if (bits+7)/8 > binPrintSize {
		return eiBytes(b, "#Bits<", t.Data, true, 0, 0)
	}
	whole := t.Data[:bits/8]
	if bits%8 == 0 {
		return eiBytes(b, "#Bits<", whole, false, 0, 0)
	}
	return eiBytes(b, "#Bits<", whole, false, t.Data[len(whole)], bits%8)
}

// eiBig prints an integer that does not fit int64 as ei does: in
// decimal when its magnitude fits 64 bits, else in base 16 as 16#HEX.
func eiBig(b []byte, x *big.Int) []byte {
	if x.Sign() < 0 {
		b = append(b, '-')
	}
	mag := new(big.Int).Abs(x)
	if mag.BitLen() <= 64 {
		return mag.Append(b, 10)
	}
	b = append(b, "16#"...)
	return append(b, strings.ToUpper(mag.Text(16))...)
}
