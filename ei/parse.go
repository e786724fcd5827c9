package ei

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxParseDepth bounds the nesting of parsed terms, so hostile input cannot
// exhaust the stack.
const maxParseDepth = 1000

// SyntaxError reports text that ParseTerm cannot read as a term.
type SyntaxError struct {
	Offset int    // byte offset into the input
	Msg    string // what was expected or found
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("ei: syntax error at offset %d: %s", e.Offset, e.Msg)
}

// ParseTerm reads one term written in Erlang syntax, as
// erl_parse:parse_term does for the data types: atoms (plain or quoted),
// integers (with Base#Digits, $c and _ separators, of any size), floats,
// strings, binaries and bitstrings of integer and string segments
// (<<1,"ab",2:3>>, <<"é"/utf8>>), tuples, proper and improper lists,
// maps, and external funs (fun m:f/1). White space and % comments are
// skipped, and a final '.' is allowed. It reads what FormatTerm and
// AppendFormat write, except pids, ports, references and local funs,
// which have no syntax.
//
// Strings are read as UTF-8 and become a String when every character is
// below 256, else a List of code points, as in Erlang source. Integers
// become int64, or *big.Int when they do not fit. Errors are
// *SyntaxError. Nesting is limited to 1000 levels.
func ParseTerm(s string) (Term, error) {
	p := &parser{s: s}
	t, err := p.term(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.peek() == '.' {
		p.i++
		p.space()
	}
	if p.i < len(p.s) {
		return nil, p.errorf("unexpected %q after the term", p.rest())
	}
	return t, nil
}

type parser struct {
	s string
	i int
}

func (p *parser) errorf(format string, args ...any) error {
	return &SyntaxError{Offset: p.i, Msg: fmt.Sprintf(format, args...)}
}

// rest returns a short excerpt of the input from the current position.
func (p *parser) rest() string {
	r := p.s[p.i:]
	if len(r) > 10 {
		r = r[:10] + "..."
	}
	return r
}

func (p *parser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

// space skips white space and % comments.
func (p *parser) space() {
	for p.i < len(p.s) {
		switch c := p.s[p.i]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			p.i++
		case c == '%':
			for p.i < len(p.s) && p.s[p.i] != '\n' {
				p.i++
			}
		default:
			return
		}
	}
}

// expect skips space and the token tok, or fails.
func (p *parser) expect(tok string) error {
	p.space()
	if !strings.HasPrefix(p.s[p.i:], tok) {
		if p.i == len(p.s) {
			return p.errorf("missing %q at end of input", tok)
		}
		return p.errorf("expected %q, found %q", tok, p.rest())
	}
	p.i += len(tok)
	return nil
}

func (p *parser) term(depth int) (Term, error) {
	if depth > maxParseDepth {
		return nil, p.errorf("terms nested deeper than %d", maxParseDepth)
	}
	p.space()
	if p.i == len(p.s) {
		return nil, p.errorf("missing term at end of input")
	}
	switch c := p.s[p.i]; {
	case c == '{':
		p.i++
		elems, _, err := p.sequence(depth, "}", false)
		if err != nil {
			return nil, err
		}
		return Tuple(elems), nil
	case c == '[':
		return p.list(depth)
	case c == '#':
		return p.erlMap(depth)
	case c == '<':
		return p.binary()
	case c == '"':
		return p.strings()
	case c == '\'':
		s, err := p.quoted('\'')
		if err != nil {
			return nil, err
		}
		if utf8.RuneCountInString(s) > 255 {
			return nil, p.errorf("atom longer than 255 characters")
		}
		return Atom(s), nil
	case c == '-' || c == '+' || c == '$' || isDigit(c):
		return p.number()
	case isNameStart(p.s[p.i:]):
		start := p.i
		name := p.name()
		if name == "fun" {
			return p.export(start)
		}
		if utf8.RuneCountInString(name) > 255 {
			return nil, &SyntaxError{Offset: start, Msg: "atom longer than 255 characters"}
		}
		return Atom(name), nil
	case c == '_' || 'A' <= c && c <= 'Z':
		return nil, p.errorf("variables are not terms: %q", p.rest())
	default:
		return nil, p.errorf("unexpected %q", p.rest())
	}
}

// isNameStart reports whether s starts with a lower-case Latin-1 letter,
// which starts an unquoted atom.
func isNameStart(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return r >= 'a' && r <= 'z' || r >= 0xdf && r <= 0xff && r != 0xf7
}

// name reads the characters of an unquoted atom: Latin-1 letters, digits,
// _ and @.
func (p *parser) name() string {
	start := p.i
	for p.i < len(p.s) {
		r, size := utf8.DecodeRuneInString(p.s[p.i:])
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '@' ||
			r >= 0xc0 && r <= 0xff && r != 0xd7 && r != 0xf7) {
			break
		}
		p.i += size
	}
	return p.s[start:p.i]
}

// export parses the rest of fun Module:Function/Arity.
func (p *parser) export(start int) (Term, error) {
	var atoms [2]Atom
	for i := range atoms {
		if i > 0 {
			if err := p.expect(":"); err != nil {
				return nil, err
			}
		}
		p.space()
		t, err := p.term(maxParseDepth)
		if err != nil {
			return nil, err
		}
		a, ok := t.(Atom)
		if !ok {
			return nil, &SyntaxError{Offset: start, Msg: "fun Module:Function/Arity needs atoms"}
		}
		atoms[i] = a
	}
	if err := p.expect("/"); err != nil {
		return nil, err
	}
	p.space()
	n, err := p.number()
	if err != nil {
		return nil, err
	}
	arity, ok := n.(int64)
	if !ok || arity < 0 || arity > 255 {
		return nil, &SyntaxError{Offset: start, Msg: "fun arity must be an integer from 0 to 255"}
	}
	return Export{Module: atoms[0], Function: atoms[1], Arity: uint8(arity)}, nil
}

// sequence parses comma-separated terms up to the closing token end. With
// tail, the terms may end in "| Tail" before end, and sequence returns
// Tail (nil without one).
func (p *parser) sequence(depth int, end string, tail bool) ([]Term, Term, error) {
	var elems []Term
	p.space()
	if strings.HasPrefix(p.s[p.i:], end) {
		p.i += len(end)
		return elems, nil, nil
	}
	for {
		t, err := p.term(depth + 1)
		if err != nil {
			return nil, nil, err
		}
		elems = append(elems, t)
		p.space()
		switch c := p.peek(); {
		case c == ',':
			p.i++
			continue
		case c == '|' && tail:
			p.i++
			t, err := p.term(depth + 1)
			if err != nil {
				return nil, nil, err
			}
			return elems, t, p.expect(end)
		}
		return elems, nil, p.expect(end)
	}
}

func (p *parser) list(depth int) (Term, error) {
	p.i++ // '['
	elems, tail, err := p.sequence(depth, "]", true)
	switch {
	case err != nil:
		return nil, err
	case tail != nil:
		return consTail(elems, tail), nil
	case elems == nil:
		return List{}, nil
	}
	return List(elems), nil
}

// consTail builds [Elems | Tail], flattening a list tail as the decoder
// does, so that [1 | [2]] is the proper list [1, 2].
func consTail(elems []Term, tail Term) Term {
	switch t := tail.(type) {
	case List:
		return append(List(elems), t...)
	case String:
		return append(List(elems), t.elems()...)
	case ImproperList:
		return ImproperList{Elems: append(elems, t.Elems...), Tail: t.Tail}
	}
	return ImproperList{Elems: elems, Tail: tail}
}

func (p *parser) erlMap(depth int) (Term, error) {
	if err := p.expect("#{"); err != nil {
		return nil, err
	}
	m := Map{}
	p.space()
	if p.peek() == '}' {
		p.i++
		return m, nil
	}
	for {
		k, err := p.term(depth + 1)
		if err != nil {
			return nil, err
		}
		if err := p.expect("=>"); err != nil {
			return nil, err
		}
		v, err := p.term(depth + 1)
		if err != nil {
			return nil, err
		}
		m = append(m, Pair{Key: k, Value: v})
		p.space()
		if p.peek() == ',' {
			p.i++
			continue
		}
		return m, p.expect("}")
	}
}

// binary parses <<Seg, ...>> where each segment is a string (optionally
// followed by /utf8) or an integer with an optional size in bits,
// Value:Size (8 by default, at most 64). Integers are cut to their size,
// as in Erlang. The result is a Binary, or a BitBinary when the bits do
// not fill whole bytes.
func (p *parser) binary() (Term, error) {
	if err := p.expect("<<"); err != nil {
		return nil, err
	}
	var w bitWriter
	p.space()
	if strings.HasPrefix(p.s[p.i:], ">>") {
		p.i += 2
		return Binary{}, nil
	}
	for {
		p.space()
		start := p.i
		switch c := p.peek(); {
		case c == '"':
			s, err := p.quoted('"')
			if err != nil {
				return nil, err
			}
			p.space()
			if strings.HasPrefix(p.s[p.i:], "/utf8") {
				p.i += len("/utf8")
				for i := 0; i < len(s); i++ {
					w.write(uint64(s[i]), 8)
				}
				break
			}
			for _, r := range s {
				w.write(uint64(r), 8)
			}
		case c == '-' || c == '+' || c == '$' || isDigit(c):
			n, err := p.number()
			if err != nil {
				return nil, err
			}
			var v uint64
			switch n := n.(type) {
			case int64:
				v = uint64(n)
			case *big.Int:
				v = new(big.Int).And(n, new(big.Int).SetUint64(1<<64-1)).Uint64()
			default:
				return nil, &SyntaxError{Offset: start, Msg: "binary segments must be integers or strings"}
			}
			size := 8
			p.space()
			if p.peek() == ':' {
				p.i++
				p.space()
				sizeStart := p.i
				digits := p.digits(isDigit)
				size, err = strconv.Atoi(digits)
				if err != nil || size < 1 || size > 64 {
					return nil, &SyntaxError{Offset: sizeStart, Msg: "binary segment sizes must be integers from 1 to 64"}
				}
			}
			w.write(v, size)
		default:
			return nil, p.errorf("binary segments must be integers or strings, found %q", p.rest())
		}
		p.space()
		if p.peek() == ':' || p.peek() == '/' {
			return nil, p.errorf("binary segment sizes and types other than Int:Size and \"...\"/utf8 are not supported")
		}
		if p.peek() == ',' {
			p.i++
			continue
		}
		if err := p.expect(">>"); err != nil {
			return nil, err
		}
		return w.term(), nil
	}
}

// bitWriter collects the bits of a bitstring, most significant first.
type bitWriter struct {
	data []byte
	bits int // bits used in the last byte of data, 0 means 8
}

// write appends the size low bits of v.
func (w *bitWriter) write(v uint64, size int) {
	for i := size - 1; i >= 0; i-- {
		if w.bits == 0 {
			w.data = append(w.data, 0)
		}
		if v>>i&1 != 0 {
			w.data[len(w.data)-1] |= 0x80 >> w.bits
		}
		w.bits = (w.bits + 1) % 8
	}
}

func (w *bitWriter) term() Term {
	if w.bits == 0 {
		return append(Binary{}, w.data...)
	}
	return BitBinary{Data: w.data, Bits: uint8(w.bits)}
}

// strings parses one string literal or several adjacent ones.
func (p *parser) strings() (Term, error) {
	var sb strings.Builder
	for {
		s, err := p.quoted('"')
		if err != nil {
			return nil, err
		}
		sb.WriteString(s)
		p.space()
		if p.peek() != '"' {
			break
		}
	}
	return stringTerm(sb.String()), nil
}

// stringTerm turns the UTF-8 text of a string literal into the list of its
// characters: an String when all are below 256, else an List.
func stringTerm(s string) Term {
	latin1 := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 255 {
			l := List{}
			for _, r := range s {
				l = append(l, int64(r))
			}
			return l
		}
		latin1 = append(latin1, byte(r))
	}
	if len(latin1) == 0 {
		return List{}
	}
	return String(latin1)
}

// quoted parses text between quote characters with Erlang's escapes and
// returns it as UTF-8.
func (p *parser) quoted(q byte) (string, error) {
	start := p.i
	p.i++ // opening quote
	var sb strings.Builder
	for {
		if p.i >= len(p.s) {
			return "", &SyntaxError{Offset: start, Msg: fmt.Sprintf("unterminated %c", q)}
		}
		c := p.s[p.i]
		switch {
		case c == q:
			p.i++
			return sb.String(), nil
		case c == '\\':
			r, err := p.escape()
			if err != nil {
				return "", err
			}
			sb.WriteRune(r)
		default:
			r, size := utf8.DecodeRuneInString(p.s[p.i:])
			if r == utf8.RuneError && size == 1 {
				// Not UTF-8: take the byte as a Latin-1 character.
				r = rune(c)
			}
			sb.WriteRune(r)
			p.i += size
		}
	}
}

// escape parses one backslash escape and returns the character.
func (p *parser) escape() (rune, error) {
	start := p.i
	p.i++ // backslash
	if p.i >= len(p.s) {
		return 0, &SyntaxError{Offset: start, Msg: "unterminated escape"}
	}
	c := p.s[p.i]
	p.i++
	switch c {
	case 'b':
		return '\b', nil
	case 'd':
		return 0x7f, nil
	case 'e':
		return 0x1b, nil
	case 'f':
		return '\f', nil
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 's':
		return ' ', nil
	case 't':
		return '\t', nil
	case 'v':
		return '\v', nil
	case '^':
		if p.i >= len(p.s) {
			return 0, &SyntaxError{Offset: start, Msg: "unterminated escape"}
		}
		ctl := p.s[p.i]
		p.i++
		return rune(ctl) & 31, nil
	case 'x':
		var digits string
		if p.peek() == '{' {
			end := strings.IndexByte(p.s[p.i:], '}')
			if end < 0 {
				return 0, &SyntaxError{Offset: start, Msg: `unterminated \x{`}
			}
			digits = p.s[p.i+1 : p.i+end]
			p.i += end + 1
		} else {
			j := p.i
			for j < len(p.s) && j < p.i+2 && isHex(p.s[j]) {
				j++
			}
			digits = p.s[p.i:j]
			p.i = j
		}
		n, err := strconv.ParseUint(digits, 16, 32)
		if err != nil || n > utf8.MaxRune {
			return 0, &SyntaxError{Offset: start, Msg: fmt.Sprintf(`bad escape \x%s`, digits)}
		}
		return rune(n), nil
	}
	if '0' <= c && c <= '7' {
		n := rune(c - '0')
		for k := 0; k < 2 && '0' <= p.peek() && p.peek() <= '7'; k++ {
			n = n*8 + rune(p.peek()-'0')
			p.i++
		}
		return n, nil
	}
	r, size := utf8.DecodeRuneInString(p.s[p.i-1:])
	p.i += size - 1
	return r, nil // \\, \', \" and any other character stand for themselves
}

func isHex(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// number parses an integer or a float, with an optional sign: 12, -3,
// 1_000, 16#ff, $a, 2.5, 1.0e-3.
func (p *parser) number() (Term, error) {
	start := p.i
	neg := false
	if c := p.peek(); c == '-' || c == '+' {
		neg = c == '-'
		p.i++
		p.space()
	}
	if p.peek() == '$' {
		p.i++
		if p.i >= len(p.s) {
			return nil, &SyntaxError{Offset: start, Msg: "missing character after $"}
		}
		var r rune
		if p.s[p.i] == '\\' {
			var err error
			if r, err = p.escape(); err != nil {
				return nil, err
			}
		} else {
			var size int
			r, size = utf8.DecodeRuneInString(p.s[p.i:])
			p.i += size
		}
		if neg {
			r = -r
		}
		return int64(r), nil
	}
	digits := p.digits(isDigit)
	if digits == "" {
		return nil, &SyntaxError{Offset: start, Msg: fmt.Sprintf("bad number %q", p.s[start:p.i])}
	}
	sign := ""
	if neg {
		sign = "-"
	}
	switch {
	case p.peek() == '#':
		base, err := strconv.Atoi(digits)
		if err != nil || base < 2 || base > 36 {
			return nil, &SyntaxError{Offset: start, Msg: fmt.Sprintf("bad base %s", digits)}
		}
		p.i++
		ds := p.digits(func(c byte) bool { return digitValue(c) < base })
		return intTerm(sign+ds, base, start)
	case p.peek() == '.' && p.i+1 < len(p.s) && isDigit(p.s[p.i+1]):
		p.i++
		frac := p.digits(isDigit)
		text := sign + digits + "." + frac
		if c := p.peek(); c == 'e' || c == 'E' {
			j := p.i + 1
			if j < len(p.s) && (p.s[j] == '-' || p.s[j] == '+') {
				j++
			}
			if j < len(p.s) && isDigit(p.s[j]) {
				exp := p.s[p.i+1 : j]
				p.i = j
				text += "e" + exp + p.digits(isDigit)
			}
		}
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return nil, &SyntaxError{Offset: start, Msg: fmt.Sprintf("bad float %s", text)}
		}
		return f, nil
	}
	return intTerm(sign+digits, 10, start)
}

// digits consumes digits accepted by ok, with single underscores between
// them, and returns them without the underscores.
func (p *parser) digits(ok func(byte) bool) string {
	var sb strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c == '_' && sb.Len() > 0 && p.i+1 < len(p.s) && ok(p.s[p.i+1]) {
			p.i++
			continue
		}
		if !ok(c) {
			break
		}
		sb.WriteByte(c)
		p.i++
	}
	return sb.String()
}

func digitValue(c byte) int {
	switch {
	case isDigit(c):
		return int(c - '0')
	case 'a' <= c && c <= 'z':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'Z':
		return int(c-'A') + 10
	}
	return 99
}

// intTerm converts digits to int64, or to *big.Int when they do not fit.
func intTerm(s string, base, offset int) (Term, error) {
	if n, err := strconv.ParseInt(s, base, 64); err == nil {
		return n, nil
	}
	n, ok := new(big.Int).SetString(s, base)
	if !ok {
		return nil, &SyntaxError{Offset: offset, Msg: fmt.Sprintf("bad integer %q", s)}
	}
	return n, nil
}
