package ei

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/goei/goei/internal/erltest"
)

// erlText is what erl printed for one term.
type erlText struct {
	w, p string // io_lib:format("~tw") and io_lib:format("~0tp")
}

// erlFormat has erl format each encoded term (with version byte) with
// io_lib:format's ~tw and ~0tp, in one erl run. It skips t without erl.
func erlFormat(t *testing.T, terms [][]byte) []erlText {
	t.Helper()
	dir := t.TempDir()
	var in bytes.Buffer
	for _, b := range terms {
		in.WriteString(hex.EncodeToString(b))
		in.WriteByte('\n')
	}
	inFile, outFile := filepath.Join(dir, "terms.hex"), filepath.Join(dir, "text.txt")
	if err := os.WriteFile(inFile, in.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	erltest.Eval(t, 0, `
{ok, In} = file:read_file(`+erlString(inFile)+`),
Lines = [begin
		T = binary_to_term(binary:decode_hex(H)),
		[io_lib:format("~tw", [T]), $\t, io_lib:format("~0tp", [T]), $\n]
	end || H <- binary:split(In, <<"\n">>, [global, trim_all])],
ok = file:write_file(`+erlString(outFile)+`, unicode:characters_to_binary(Lines))`)
	out, err := os.ReadFile(outFile)
	if err != nil {
		t.Fatal(err)
	}
	var texts []erlText
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<22)
	for sc.Scan() {
		w, p, ok := strings.Cut(sc.Text(), "\t")
		if !ok {
			t.Fatalf("erl printed %q, want ~tw TAB ~0tp", sc.Text())
		}
		texts = append(texts, erlText{w, p})
	}
	if len(texts) != len(terms) {
		t.Fatalf("erl formatted %d terms, want %d", len(texts), len(terms))
	}
	return texts
}

// erlRelease returns erl's OTP release number, such as 25.
func erlRelease(t *testing.T) int {
	t.Helper()
	out := erltest.Eval(t, 0, `io:format("~s", [erlang:system_info(otp_release)])`)
	n, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("erl otp_release %q: %v", out, err)
	}
	return n
}
