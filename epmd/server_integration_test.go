package epmd_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/goei/goei/epmd"
	"github.com/goei/goei/internal/erltest"
)

// These tests run real erl nodes against our Server, and run the same
// scenarios against our Server and OTP's epmd to compare the bytes. They
// skip with -short or without erl and epmd.

// srvClient returns a Client for the epmd at port on loopback.
func srvClient(port int) *epmd.Client {
	return &epmd.Client{Host: "127.0.0.1", Port: port}
}

// srvWaitGone polls the epmd at port until name is unregistered.
func srvWaitGone(t *testing.T, port int, name string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := erltest.PortOf(port, name); err != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still registered with epmd on port %d", name, port)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestServerErlRegisters(t *testing.T) {
	erltest.Need(t, "erl")
	port := erltest.StartEPMD(t)
	node := erltest.StartErl(t, port, erltest.Options{})
	hidden := erltest.StartErl(t, port, erltest.Options{Hidden: true})

	dist, err := erltest.PortOf(port, node.SName)
	if err != nil {
		t.Fatal(err)
	}
	// erl_epmd:names/0 asks epmd at $ERL_EPMD_PORT with NAMES_REQ.
	out := erltest.Eval(t, port, `{ok, Names} = erl_epmd:names(), io:format("~p~n", [lists:sort(Names)])`)
	if want := fmt.Sprintf("{%q,%d}", node.SName, dist); !strings.Contains(out, want) {
		t.Errorf("erl_epmd:names() printed %q, want it to hold %s", out, want)
	}
	if !strings.Contains(out, strconv.Quote(hidden.SName)) {
		t.Errorf("erl_epmd:names() printed %q, want it to list hidden node %s", out, hidden.SName)
	}

	c := srvClient(port)
	info, err := c.PortPlease(t.Context(), node.SName)
	if err != nil {
		t.Fatal(err)
	}
	if int(info.Port) != dist || info.Type != epmd.NodeTypeNormal || info.HighestVersion != 6 || info.LowestVersion != 5 {
		t.Errorf("PortPlease(%s) = %+v, want port %d, normal, versions 6..5", node.SName, info, dist)
	}
	// erl registers hidden nodes as normal ones too; only C nodes say 'H'.
	if _, err := c.PortPlease(t.Context(), hidden.SName); err != nil {
		t.Errorf("PortPlease(%s) = %v", hidden.SName, err)
	}
	names, err := c.Names(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 2 {
		t.Errorf("Names = %v, want the two erl nodes", names)
	}
}

// TestServerErlPing has two erl nodes find each other through our epmd,
// which needs PORT_PLEASE2_REQ to work for erl.
func TestServerErlPing(t *testing.T) {
	erltest.Need(t, "erl")
	port := erltest.StartEPMD(t)
	for _, hidden := range []bool{false, true} {
		node := erltest.StartErl(t, port, erltest.Options{Hidden: hidden})
		expr := fmt.Sprintf(`io:format("~p~n", [net_adm:ping('%s')])`, node.Name)
		args := []string{"-sname", erltest.UniqueName("ping"), "-setcookie", node.Cookie}
		if out := erltest.Eval(t, port, expr, args...); !strings.Contains(out, "pong") {
			t.Errorf("net_adm:ping(%s) (hidden %v) printed %q, want pong", node.Name, hidden, out)
		}
	}
}

func frameBody(body []byte) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(body))), body...)
}

// exchangeRaw writes raw on a new connection to port and returns what comes
// back before the peer closes.
func exchangeRaw(t *testing.T, port int, raw []byte) []byte {
	t.Helper()
	c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write(raw)
	b, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("%x: %v", raw, err)
	}
	return b
}

func alive2(name string, port, highest uint16, extra string) []byte {
	b := []byte{120} // ALIVE2_REQ
	b = binary.BigEndian.AppendUint16(b, port)
	b = append(b, 77, 0) // normal node, TCP
	b = binary.BigEndian.AppendUint16(b, highest)
	b = binary.BigEndian.AppendUint16(b, 5)
	b = binary.BigEndian.AppendUint16(b, uint16(len(name)))
	b = append(b, name...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(extra)))
	return append(b, extra...)
}

// registerRaw sends an ALIVE2_REQ and returns the open connection and the
// reply; the connection is closed at cleanup.
func registerRaw(t *testing.T, port int, body []byte) (net.Conn, []byte) {
	t.Helper()
	c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write(frameBody(body))
	n := 4
	if body[6] >= 6 {
		n = 6
	}
	reply := make([]byte, n)
	if _, err := io.ReadFull(c, reply); err != nil {
		t.Fatalf("ALIVE2_REQ %x: %v", body, err)
	}
	c.SetDeadline(time.Time{})
	return c, reply
}

var fdNumber = regexp.MustCompile(`fd = \d+`)

// scenario runs a fixed series of requests against the epmd at port and
// returns a transcript. Parts that legitimately differ between epmds are
// normalized: epmd's own port and "fd" numbers. So are creations, which
// both epmds seed from the clock for a name they have not seen: such a
// creation shows as "clock+1" if it is one more than the clock read
// around the request, or the clock itself (OTP's epmd once gave the
// second the request was sent in: it may read the clock before it reads
// the request), and a name's next creation shows as "previous" plus the
// difference. The transcript does not depend on when a second begins.
func scenario(t *testing.T, port int, relaxed bool) []string {
	var out []string
	previous := make(map[string]uint32) // creation of each name registered
	register := func(body []byte) (net.Conn, string) {
		before := time.Now().Unix()
		c, reply := registerRaw(t, port, body)
		after := time.Now().Unix()
		name := string(body[11 : 11+binary.BigEndian.Uint16(body[9:])])
		switch {
		case len(reply) == 4:
			return c, fmt.Sprintf("%x (v5 creation in 1..3: %v)", reply[:2],
				reply[2] == 0 && reply[3] >= 1 && reply[3] <= 3)
		case reply[1] != 0:
			return c, fmt.Sprintf("%x", reply)
		}
		cr := binary.BigEndian.Uint32(reply[2:])
		prev, seen := previous[name]
		previous[name] = cr
		if seen {
			return c, fmt.Sprintf("%x creation previous%+d", reply[:2], int64(cr)-int64(prev))
		}
		if int64(cr) >= before && int64(cr) <= after+1 {
			return c, fmt.Sprintf("%x creation clock+1", reply[:2])
		}
		return c, fmt.Sprintf("%x creation %d, not the clock (%d..%d) + 1", reply[:2], cr, before, after)
	}
	textReply := func(b []byte) string {
		if len(b) >= 4 {
			if int(binary.BigEndian.Uint32(b)) != port {
				return fmt.Sprintf("wrong epmd port %x", b[:4])
			}
			b = b[4:]
		}
		return fmt.Sprintf("%q", fdNumber.ReplaceAll(b, []byte("fd = N")))
	}
	step := func(what, got string) { out = append(out, what+": "+got) }
	raw := func(what string, body []byte) {
		step(what, fmt.Sprintf("%q", exchangeRaw(t, port, frameBody(body))))
	}

	foo, r := register(alive2("foo", 5000, 6, ""))
	step("ALIVE2 foo", r)
	_, r = register(alive2("foo", 5001, 6, ""))
	step("ALIVE2 foo again", r)
	_, r = register(alive2("old", 5002, 5, "xx"))
	step("ALIVE2 old v5", r)
	_, r = register(append(alive2("trail", 5003, 6, "e"), 1, 2, 3))
	step("ALIVE2 trailing bytes", r)
	_, r = register(alive2("bad\xff", 5004, 6, ""))
	step("ALIVE2 invalid UTF-8", r)
	_, r = register(alive2(strings.Repeat("é", 255), 5005, 6, ""))
	step("ALIVE2 255 two-byte characters", r)
	_, r = register(alive2(strings.Repeat("é", 256), 5005, 6, ""))
	step("ALIVE2 256 two-byte characters", r)
	_, r = register(alive2(strings.Repeat("b", 256), 5006, 6, ""))
	step("ALIVE2 256 characters", r)
	raw("ALIVE2 NUL in name", alive2("a\x00b", 5007, 6, ""))
	raw("ALIVE2 truncated", alive2("abc", 5008, 6, "")[:14])

	step("NAMES", textReply(exchangeRaw(t, port, frameBody([]byte{110}))))
	step("NAMES with trailing bytes", textReply(exchangeRaw(t, port, frameBody([]byte{110, 1, 2}))))
	step("DUMP", textReply(exchangeRaw(t, port, frameBody([]byte{100}))))
	raw("PORT2 foo", []byte("zfoo"))
	raw("PORT2 foo NUL", []byte("zfoo\x00"))
	raw("PORT2 old", []byte("zold"))
	raw("PORT2 trail", []byte("ztrail"))
	raw("PORT2 nope", []byte("znope"))
	raw("PORT2 empty", []byte("z"))
	raw("PORT2 NUL inside", []byte("zfo\x00o"))
	raw("PORT2 254 characters", append([]byte("z"), strings.Repeat("a", 254)...))
	raw("PORT2 255 characters", append([]byte("z"), strings.Repeat("a", 255)...))
	raw("PORT2 254 two-byte characters", append([]byte("z"), strings.Repeat("é", 254)...))
	raw("unknown tag", []byte("Q"))
	step("length 0", fmt.Sprintf("%q", exchangeRaw(t, port, []byte{0, 0})))
	step("length 3057", textReply(exchangeRaw(t, port, frameBody(append([]byte{110}, make([]byte, 3056)...)))))
	raw("length 3058", append([]byte{110}, make([]byte, 3057)...))
	raw("STOP nope", []byte("snope"))
	raw("STOP old", []byte("sold"))
	if !relaxed {
		raw("KILL with nodes", []byte("k"))
	}

	foo.Close()
	srvWaitGone(t, port, "foo")
	step("DUMP after foo left", textReply(exchangeRaw(t, port, frameBody([]byte{100}))))
	_, r = register(alive2("foo", 5009, 6, ""))
	step("ALIVE2 foo after it left", r)
	step("NAMES at the end", textReply(exchangeRaw(t, port, frameBody([]byte{110}))))
	return out
}

// TestServerMatchesOTP runs the same requests against our Server and OTP's
// epmd, relaxed or not, and compares the normalized transcripts.
func TestServerMatchesOTP(t *testing.T) {
	for _, relaxed := range []bool{false, true} {
		t.Run(fmt.Sprintf("relaxed=%v", relaxed), func(t *testing.T) {
			var args []string
			if relaxed {
				args = append(args, "-relaxed_command_check")
			}
			otpPort := erltest.StartOTPEPMD(t, args...)
			ourPort := erltest.ServeEPMD(t, &epmd.Server{RelaxedCommandCheck: relaxed})
			want := scenario(t, otpPort, relaxed)
			got := scenario(t, ourPort, relaxed)
			for i := range max(len(got), len(want)) {
				var g, w string
				if i < len(got) {
					g = got[i]
				}
				if i < len(want) {
					w = want[i]
				}
				if g != w {
					t.Errorf("step %d:\n ours %s\n  otp %s", i, g, w)
				}
			}
			if testing.Verbose() {
				t.Logf("transcript:\n%s", strings.Join(want, "\n"))
			}
		})
	}
}

// TestServerCreationLikeOTP restarts an erl node under the same name and
// checks that its creation advances by one, as it does with OTP's epmd.
func TestServerCreationLikeOTP(t *testing.T) {
	erltest.Need(t, "erl")
	creations := func(port int) [2]int {
		name := erltest.UniqueName("cr")
		var cs [2]int
		for i := range cs {
			expr := `io:format("creation=~p~n", [erlang:system_info(creation)])`
			out := erltest.Eval(t, port, expr, "-sname", name, "-setcookie", "c")
			_, after, ok := strings.Cut(out, "creation=")
			n, err := strconv.Atoi(strings.TrimSpace(after))
			if !ok || err != nil {
				t.Fatalf("erl printed %q, want creation=N", out)
			}
			cs[i] = n
			srvWaitGone(t, port, name)
		}
		return cs
	}
	otp := creations(erltest.StartOTPEPMD(t))
	ours := creations(erltest.StartEPMD(t))
	if otp[1]-otp[0] != 1 {
		t.Fatalf("OTP epmd creations %v, expected consecutive ones", otp)
	}
	if ours[1]-ours[0] != 1 {
		t.Errorf("our creations %v, want consecutive ones like OTP's %v", ours, otp)
	}
	// Both seed a new name's counter from the clock, plus one.
	now := time.Now().Unix()
	if d := now - int64(ours[0]); d < -1 || d > 600 {
		t.Errorf("our first creation %d is not near the time %d", ours[0], now)
	}
}

// TestServerClient drives our Server with our client.
func TestServerClient(t *testing.T) {
	port := erltest.ServeEPMD(t, &epmd.Server{RelaxedCommandCheck: true})
	c := srvClient(port)
	ctx := t.Context()
	reg, err := c.Publish(ctx, epmd.NodeInfo{Name: "cnode", Port: 4242})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if reg.Creation() < 4 {
		t.Errorf("Creation = %d, want a 32-bit creation >= 4", reg.Creation())
	}
	info, err := c.PortPlease(ctx, "cnode")
	if err != nil || info.Port != 4242 || info.Type != epmd.NodeTypeHidden {
		t.Errorf("PortPlease(cnode) = %+v, %v; want port 4242, hidden", info, err)
	}
	if _, err := c.PortPlease(ctx, "nope"); !errors.Is(err, epmd.ErrNotRegistered) {
		t.Errorf("PortPlease(nope) = %v, want ErrNotRegistered", err)
	}
	if _, err := c.Publish(ctx, epmd.NodeInfo{Name: "cnode", Port: 1}); err == nil {
		t.Errorf("second Publish(cnode) succeeded, want it refused")
	}
	dump, err := c.Dump(ctx)
	if err != nil || !strings.Contains(dump, "active name     <cnode> at port 4242") {
		t.Errorf("Dump = %q, %v; want cnode listed", dump, err)
	}
	if err := c.Unpublish(ctx, "nope"); !errors.Is(err, epmd.ErrNotRegistered) {
		t.Errorf("Unpublish(nope) = %v, want ErrNotRegistered", err)
	}
	if err := c.Unpublish(ctx, "cnode"); err != nil {
		t.Errorf("Unpublish(cnode) = %v", err)
	}
	if _, err := c.PortPlease(ctx, "cnode"); !errors.Is(err, epmd.ErrNotRegistered) {
		t.Errorf("PortPlease(cnode) after Unpublish = %v, want ErrNotRegistered", err)
	}
	if err := c.Kill(ctx); err != nil {
		t.Errorf("Kill = %v", err)
	}
	if _, err := c.Names(ctx); err == nil {
		t.Errorf("Names after Kill succeeded, want a dial error")
	}
}
