package ei

import (
	"bytes"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"unicode/utf8"
)

// FormatTerm returns t in Erlang syntax, as erl prints it with
// io_lib:format("~tp", [T]) on a line of unlimited length ("~0tp"): lists
// of printable Latin-1 characters as strings, printable binaries as
// <<"text">> (or <<"text"/utf8>>), atoms quoted where Erlang needs it,
// floats in their shortest exact form. The String methods of Tuple, List,
// Map, Pid and the other composite types use it, so %v and %s print
// terms this way.
//
// Pids, ports and references carry the node name where erl prints the
// index of the node in its own node table, a number that differs from
// node to node and from run to run: <a@host.85.0>, #Port<a@host.5>,
// #Ref<a@host.3.2.1>. Those of nonode@nohost, the name of an erl node that
// is not distributed, print as such a node prints its own: <0.85.0>.
// Local funs print as #Fun<Module.Index.OldUniq>, as erl 25 does.
//
// The Go conveniences that AppendTerm accepts (int, bool, []byte, ...)
// print as the terms they encode as. Other values, which are not terms,
// print as #Go<%#v>, and terms nested deeper than MaxDepth as "...".
func FormatTerm(t Term) string {
	return string(AppendFormat(nil, t, 'p'))
}

// AppendFormat appends t in Erlang syntax to b, as io_lib:format writes it
// with the control sequence ~tp on one line (verb 'p', see FormatTerm) or
// ~tw (verb 'w', any other byte): ~tw writes every list of integers as
// [1,2,3] and every binary as <<1,2,3>>, never as text.
func AppendFormat(b []byte, t Term, verb byte) []byte {
	f := formatter{pretty: verb == 'p'}
	return f.term(b, t, 0)
}

func (t Tuple) String() string        { return FormatTerm(t) }
func (l List) String() string         { return FormatTerm(l) }
func (l ImproperList) String() string { return FormatTerm(l) }
func (m Map) String() string          { return FormatTerm(m) }
func (b BitBinary) String() string    { return FormatTerm(b) }
func (p Pid) String() string          { return FormatTerm(p) }
func (p Port) String() string         { return FormatTerm(p) }
func (r Ref) String() string          { return FormatTerm(r) }
func (f Fun) String() string          { return FormatTerm(f) }
func (e Export) String() string       { return FormatTerm(e) }

// String returns the pair as Key => Value.
func (p Pair) String() string {
	f := formatter{pretty: true}
	return string(f.pair(nil, p, 0))
}

// localNode is the name erl gives itself when it is not distributed; its
// pids, ports and refs print with node index 0.
const localNode = "nonode@nohost"

type formatter struct {
	pretty bool // ~p rather than ~w
}

func (f formatter) term(b []byte, t Term, depth int) []byte {
	if depth > MaxDepth {
		return append(b, "..."...)
	}
	switch t := plain(t).(type) {
	case Atom:
		return appendAtomText(b, string(t))
	case int64:
		return strconv.AppendInt(b, t, 10)
	case *big.Int:
		if t == nil {
			break
		}
		return t.Append(b, 10)
	case float64:
		return appendFloatText(b, t)
	case Tuple:
		b = append(b, '{')
		for i, e := range t {
			if i > 0 {
				b = append(b, ',')
			}
			b = f.term(b, e, depth+1)
		}
		return append(b, '}')
	case List:
		return f.list(b, t, nil, depth)
	case String:
		if f.pretty && len(t) > 0 && printableLatin1(string(t)) {
			return appendQuoted(b, latin1Runes(string(t)), '"')
		}
		b = append(b, '[')
		for i := 0; i < len(t); i++ {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendUint(b, uint64(t[i]), 10)
		}
		return append(b, ']')
	case ImproperList:
		return f.list(b, t.Elems, t.Tail, depth)
	case Map:
		b = append(b, "#{"...)
		for i, p := range t {
			if i > 0 {
				b = append(b, ',')
			}
			b = f.pair(b, p, depth+1)
		}
		return append(b, '}')
	case Binary:
		return f.binary(b, t)
	case BitBinary:
		return appendBitsText(b, t)
	case Pid:
		b = append(b, '<')
		b = appendNodeIndex(b, t.Node)
		return fmt.Appendf(b, ".%d.%d>", t.ID, t.Serial)
	case Port:
		b = append(b, "#Port<"...)
		b = appendNodeIndex(b, t.Node)
		return fmt.Appendf(b, ".%d>", t.ID)
	case Ref:
		b = append(b, "#Ref<"...)
		b = appendNodeIndex(b, t.Node)
		for i := len(t.ID) - 1; i >= 0; i-- {
			b = fmt.Appendf(b, ".%d", t.ID[i])
		}
		return append(b, '>')
	case Fun:
		b = append(b, "#Fun<"...)
		b = appendFunAtom(b, string(t.Module))
		return fmt.Appendf(b, ".%d.%d>", t.Index, t.OldUniq)
	case Export:
		b = append(b, "fun "...)
		b = appendFunAtom(b, string(t.Module))
		b = append(b, ':')
		b = appendFunAtom(b, string(t.Function))
		return fmt.Appendf(b, "/%d", t.Arity)
	}
	return fmt.Appendf(b, "#Go<%#v>", t)
}

// pair appends Key => Value.
func (f formatter) pair(b []byte, p Pair, depth int) []byte {
	b = f.term(b, p.Key, depth)
	b = append(b, " => "...)
	return f.term(b, p.Value, depth)
}

// list appends a list: [E1,E2], [E1,E2|Tail], or with ~p a list of
// printable characters as a string.
func (f formatter) list(b []byte, elems []Term, tail Term, depth int) []byte {
	elems, tail = flattenList(elems, tail)
	switch {
	case len(elems) == 0 && tail != nil:
		return f.term(b, tail, depth) // [ | Tail] is Tail
	case f.pretty && tail == nil && printableList(elems):
		return appendQuoted(b, listChars(elems), '"')
	}
	b = append(b, '[')
	for i, e := range elems {
		if i > 0 {
			b = append(b, ',')
		}
		b = f.term(b, e, depth+1)
	}
	if tail != nil {
		b = append(b, '|')
		b = f.term(b, tail, depth+1)
	}
	return append(b, ']')
}

// flattenList follows tails that are lists themselves, as in [1|[2|[3]]],
// and returns all the elements and the tail that is not a list, nil for a
// proper list.
func flattenList(elems []Term, tail Term) ([]Term, Term) {
	for tail != nil {
		switch t := plain(tail).(type) {
		case List:
			return append(elems[:len(elems):len(elems)], t...), nil
		case String:
			return append(elems[:len(elems):len(elems)], t.elems()...), nil
		case ImproperList:
			elems, tail = append(elems[:len(elems):len(elems)], t.Elems...), t.Tail
		default:
			return elems, tail
		}
	}
	return elems, nil
}

// elems returns the characters of s as integer terms.
func (s String) elems() []Term {
	l := make([]Term, len(s))
	for i := range l {
		l[i] = int64(s[i])
	}
	return l
}

// binary appends <<1,2,3>>, or with ~p a printable binary as <<"text">>:
// valid UTF-8 whose characters are printable Latin-1 ones as
// <<"text"/utf8>> (plain <<"text">> when it is all ASCII), else bytes that
// are all printable Latin-1 characters as <<"text">>.
func (f formatter) binary(b []byte, data Binary) []byte {
	if f.pretty && len(data) > 0 {
		if utf8.Valid(data) {
			runes := []rune(string(data))
			if printableRunes(runes) {
				b = append(b, "<<"...)
				b = appendQuoted(b, runes, '"')
				if len(runes) != len(data) {
					b = append(b, "/utf8"...)
				}
				return append(b, ">>"...)
			}
		} else if printableLatin1(string(data)) {
			b = append(b, "<<"...)
			b = appendQuoted(b, latin1Runes(string(data)), '"')
			return append(b, ">>"...)
		}
	}
	b = append(b, "<<"...)
	for i, c := range data {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, uint64(c), 10)
	}
	return append(b, ">>"...)
}

// appendBitsText appends a bitstring as <<1,2:3>>: its whole bytes, then
// the value and size of the bits left over.
func appendBitsText(b []byte, t BitBinary) []byte {
	b = append(b, "<<"...)
	if len(t.Data) == 0 {
		return append(b, ">>"...)
	}
	bits := int(t.Bits)
	if bits == 0 || bits > 8 {
		bits = 8
	}
	whole := t.Data[:len(t.Data)-1]
	for _, c := range whole {
		b = strconv.AppendUint(b, uint64(c), 10)
		b = append(b, ',')
	}
	last := t.Data[len(t.Data)-1] >> (8 - bits)
	b = strconv.AppendUint(b, uint64(last), 10)
	if bits < 8 {
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(bits), 10)
	}
	return append(b, ">>"...)
}

// appendNodeIndex appends the node part of a pid, port or ref: 0 for
// nonode@nohost, else the node name.
func appendNodeIndex(b []byte, node Atom) []byte {
	if node == localNode {
		return append(b, '0')
	}
	return append(b, node...)
}

// printableList reports whether l is a non-empty list of printable
// Latin-1 characters, which ~p prints as a string.
func printableList(l []Term) bool {
	if len(l) == 0 {
		return false
	}
	for _, e := range l {
		c, ok := plain(e).(int64)
		if !ok || c < 0 || c > 255 || !printableChar(rune(c)) {
			return false
		}
	}
	return true
}

// listChars returns the characters of a list printableList accepted.
func listChars(l []Term) []rune {
	r := make([]rune, len(l))
	for i, e := range l {
		r[i] = rune(plain(e).(int64))
	}
	return r
}

func printableLatin1(s string) bool {
	for i := 0; i < len(s); i++ {
		if !printableChar(rune(s[i])) {
			return false
		}
	}
	return true
}

func printableRunes(rs []rune) bool {
	for _, r := range rs {
		if r > 255 || !printableChar(r) {
			return false
		}
	}
	return true
}

// latin1Runes returns the bytes of s as characters.
func latin1Runes(s string) []rune {
	r := make([]rune, len(s))
	for i := 0; i < len(s); i++ {
		r[i] = rune(s[i])
	}
	return r
}

// printableChar reports whether c counts as printable for ~p with erl's
// default printable range (latin1): what io_lib:printable_latin1_list
// accepts.
func printableChar(c rune) bool {
	switch {
	case c >= ' ' && c <= '~', c >= 0xa0 && c <= 0xff:
		return true
	case c >= '\b' && c <= '\r', c == 0x1b:
		return true // \b \t \n \v \f \r \e
	}
	return false
}

// appendQuoted appends the characters rs between quote characters q, with
// the escapes of io_lib:write_string: \n, \t and the like for control
// characters with a name, octal \NNN for other control characters and for
// 0x7f..0x9f, and a backslash before q and before backslashes. Other
// characters are written as they are, in UTF-8.
func appendQuoted(b []byte, rs []rune, q byte) []byte {
	b = append(b, q)
	for _, r := range rs {
		switch {
		case r == rune(q) || r == '\\':
			b = append(b, '\\', byte(r))
		case r >= ' ' && r <= '~' || r >= 0xa0:
			b = utf8.AppendRune(b, r)
		case r == '\n':
			b = append(b, `\n`...)
		case r == '\r':
			b = append(b, `\r`...)
		case r == '\t':
			b = append(b, `\t`...)
		case r == '\v':
			b = append(b, `\v`...)
		case r == '\b':
			b = append(b, `\b`...)
		case r == '\f':
			b = append(b, `\f`...)
		case r == 0x1b:
			b = append(b, `\e`...)
		case r == 0x7f:
			b = append(b, `\d`...)
		default:
			b = append(b, '\\', byte('0'+r>>6&7), byte('0'+r>>3&7), byte('0'+r&7))
		}
	}
	return append(b, q)
}

// appendAtomText appends an atom, quoted when Erlang needs it to be: when
// it does not start with a lower-case Latin-1 letter, has characters other
// than Latin-1 letters, digits, _ and @, or is a reserved word.
func appendAtomText(b []byte, a string) []byte {
	if atomNeedsQuotes(a) {
		return appendQuoted(b, []rune(a), '\'')
	}
	return append(b, a...)
}

// appendFunAtom appends the module or function name of a fun, quoted as
// erlang:fun_to_list quotes it: like other atoms, except that reserved
// words are not quoted.
func appendFunAtom(b []byte, a string) []byte {
	if !reservedWords[a] {
		return appendAtomText(b, a)
	}
	return append(b, a...)
}

func atomNeedsQuotes(a string) bool {
	if a == "" || reservedWords[a] {
		return true
	}
	for i, r := range a {
		lower := r >= 'a' && r <= 'z' || r >= 0xdf && r <= 0xff && r != 0xf7
		if i == 0 && !lower {
			return true
		}
		upper := r >= 'A' && r <= 'Z' || r >= 0xc0 && r <= 0xde && r != 0xd7
		if !lower && !upper && !(r >= '0' && r <= '9') && r != '_' && r != '@' {
			return true
		}
	}
	return false
}

// reservedWords are the atoms erl_scan:reserved_word/1 knows, which must be
// quoted. maybe and else are reserved from OTP 27 on; quoting them is
// valid in every release.
var reservedWords = map[string]bool{
	"after": true, "and": true, "andalso": true, "band": true, "begin": true,
	"bnot": true, "bor": true, "bsl": true, "bsr": true, "bxor": true,
	"case": true, "catch": true, "cond": true, "div": true, "else": true,
	"end": true, "fun": true, "if": true, "let": true, "maybe": true,
	"not": true, "of": true, "or": true, "orelse": true, "receive": true,
	"rem": true, "try": true, "when": true, "xor": true,
}

// appendFloatText appends f as erl writes floats (io_lib_format's
// fwrite_g): the shortest digits that read back as f, in plain notation
// (1.5, 0.001, 123456.0) unless the exponent form is shorter (1.0e-5,
// 1.0e3) or f is an integer of 2^53 or more, beyond which integers are no
// longer exact.
func appendFloatText(b []byte, f float64) []byte {
	if f < 0 || f == 0 && math.Signbit(f) {
		b = append(b, '-')
		f = -f
	}
	if f == 0 {
		return append(b, "0.0"...)
	}
	// 'e' with precision -1 gives the shortest digits, d.dddde±XX.
	e := strconv.AppendFloat(nil, f, 'e', -1, 64)
	i := bytes.IndexByte(e, 'e')
	exp, _ := strconv.Atoi(string(e[i+1:]))
	digits := bytes.ReplaceAll(e[:i], []byte("."), nil)
	n := len(digits)
	place := exp + 1 // f = 0.digits × 10^place
	expText := strconv.Itoa(exp)
	expCost := len(expText) + 2 // "e" and the exponent, ".0" or "."
	if n == 1 {
		expCost++
	}
	switch {
	case place == 0:
		b = append(b, "0."...)
		return append(b, digits...)
	case place > 0 && place < n:
		b = append(b, digits[:place]...)
		b = append(b, '.')
		return append(b, digits[place:]...)
	case place < 0 && 2-place <= expCost:
		b = append(b, "0."...)
		b = append(b, bytes.Repeat([]byte{'0'}, -place)...)
		return append(b, digits...)
	case place >= n && place-n+2 <= expCost && f < 1<<53:
		b = append(b, digits...)
		b = append(b, bytes.Repeat([]byte{'0'}, place-n)...)
		return append(b, ".0"...)
	}
	b = append(b, digits[0], '.')
	if n == 1 {
		b = append(b, '0')
	} else {
		b = append(b, digits[1:]...)
	}
	b = append(b, 'e')
	return append(b, expText...)
}
