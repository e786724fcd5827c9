package erltest

import (
	"debug/buildinfo"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestStartErlRegistersWithOTPEPMD(t *testing.T) {
	port := StartOTPEPMD(t)
	n := StartErl(t, port, Options{})
	if _, err := PortOf(port, n.SName); err != nil {
		t.Fatalf("PortOf(%d, %q) = %v, want registered", port, n.SName, err)
	}
	out := Eval(t, port, `{ok, Names} = erl_epmd:names("127.0.0.1"), io:format("~p~n", [Names])`)
	if !strings.Contains(out, n.SName) {
		t.Fatalf("erl_epmd:names() = %s, want it to list %s", out, n.SName)
	}
}

func TestBuildEILineProgram(t *testing.T) {
	bin := BuildEI(t, filepath.Join("testdata", "roundtrip.c"))
	if bin == "" {
		t.Skip("no cc or libei")
	}
	p := StartLineProgram(t, bin)
	// 300 is an INTEGER_EXT: a tag byte and 4 bytes.
	if f, err := p.Call("roundtrip %d", 300); err != nil || !slices.Equal(f, []string{"300", "5"}) {
		t.Errorf("Call(roundtrip 300) = %q, %v; want [300 5]", f, err)
	}
	if f, err := p.Call("bogus"); err == nil || !strings.Contains(err.Error(), "unknown command bogus") {
		t.Errorf("Call(bogus) = %q, %v; want error unknown command", f, err)
	}
}

// TestSelectedOTP checks that the programs run come from the OTP that
// GOEI_OTP selects.
func TestSelectedOTP(t *testing.T) {
	Need(t, "erl")
	o, _ := OTP{}.install()
	t.Logf("OTP %s at %s", o.release, o.where())
	out := Eval(t, 0, `io:format("~s ~s~n", [erlang:system_info(otp_release), code:root_dir()])`)
	if want := o.release + " " + o.root; strings.TrimSpace(out) != want {
		t.Errorf("erl printed %q, want %q", out, want)
	}
	for _, prog := range []string{"epmd", "erl_call"} {
		if p := o.progs[prog]; !strings.HasPrefix(p, o.root+"/") {
			t.Errorf("%s = %q, want a program under %s", prog, p, o.root)
		}
	}
}

// TestOTPProgramsNotGo puts a Go program named epmd and erl_call first on
// PATH, as `go install ./cmd/...` may: OTP's programs must still be found.
func TestOTPProgramsNotGo(t *testing.T) {
	if _, err := exec.LookPath("erl"); err != nil || testing.Short() {
		t.Skip("needs the host's erl, and not -short")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	for _, prog := range []string{"epmd", "erl_call"} {
		if err := os.Symlink(self, filepath.Join(bin, prog)); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	o, err := findOTP("")
	if err != nil {
		t.Fatalf("findOTP() = %v", err)
	}
	for _, prog := range []string{"epmd", "erl_call"} {
		p := o.progs[prog]
		if p == "" || strings.HasPrefix(p, bin) {
			t.Errorf("%s = %q, want OTP's", prog, p)
			continue
		}
		if _, err := buildinfo.ReadFile(p); err == nil {
			t.Errorf("%s = %s is a Go program", prog, p)
		}
	}

	// A Go program where OTP's should be is refused.
	fake := &install{chroot: t.TempDir(), root: "/otp"}
	if err := os.MkdirAll(filepath.Join(fake.chroot, "otp/bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(self, filepath.Join(fake.chroot, "otp/bin/epmd")); err != nil {
		t.Fatal(err)
	}
	if p, err := fake.find([]string{"/otp/bin/epmd"}); err == nil {
		t.Errorf("find(a Go program) = %q, want an error", p)
	}
	if p, err := fake.find([]string{"/otp/bin/nothing"}); p != "" || err != nil {
		t.Errorf("find(nothing) = %q, %v, want \"\", nil", p, err)
	}
}

// TestStartErlPid checks that the process StartErl starts, and kills at
// cleanup, is erl's emulator itself, also when it runs in a chroot.
func TestStartErlPid(t *testing.T) {
	port := StartOTPEPMD(t)
	var pid int
	t.Run("start", func(t *testing.T) {
		n := StartErl(t, port, Options{Args: []string{"-eval", `ok = file:write_file("pid", os:getpid())`}})
		pid = n.proc.Pid
		got := waitFile(t, n, filepath.Join(n.Dir, "pid"))
		if got != strconv.Itoa(pid) {
			t.Errorf("erl's os:getpid() = %s, want the pid started, %d", got, pid)
		}
	})
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("kill(%d, 0) after cleanup = %v, want ESRCH", pid, err)
	}
}

// TestStartErlDirAndCookie checks that erl sees its Dir as working
// directory and HOME, with the cookie file written there, and the files
// of the test's other temporary directories at their own paths.
func TestStartErlDirAndCookie(t *testing.T) {
	erl := Need(t, "erl")
	dir := t.TempDir()
	Cookie(t, dir, "from_file")
	other := filepath.Join(t.TempDir(), "other")
	if err := os.WriteFile(other, []byte("elsewhere"), 0o644); err != nil {
		t.Fatal(err)
	}
	expr := fmt.Sprintf(`{ok, Cwd} = file:get_cwd(), {ok, Other} = file:read_file(%q),
		io:format("~s ~s ~s ~s~n", [Cwd, os:getenv("HOME"), erlang:get_cookie(), Other]), halt().`, other)
	cmd := exec.Command(erl, "-noshell", "-sname", UniqueName("cookie"), "-start_epmd", "false", "-eval", expr)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir, "ERL_EPMD_PORT="+strconv.Itoa(StartEPMD(t)))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("erl: %v\n%s", err, out)
	}
	if want := dir + " " + dir + " from_file elsewhere"; strings.TrimSpace(string(out)) != want {
		t.Errorf("erl printed %q, want %q", out, want)
	}
}

// waitFile polls until erl n has written file, and returns its contents.
func waitFile(t *testing.T, n *Node, file string) string {
	t.Helper()
	deadline := time.Now().Add(readyTimeout)
	for {
		b, err := os.ReadFile(file)
		if err == nil && len(b) > 0 {
			return string(b)
		}
		select {
		case <-n.Exited():
			t.Fatalf("erl exited without writing %s\n%s", file, n.Output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("erl did not write %s\n%s", file, n.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestWithHost(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"127.0.0.1 localhost\n127.0.1.1 box.example box\n", "127.0.0.1 localhost\n127.0.1.1 box.example box\n"},
		{"127.0.0.1 localhost\n", "127.0.0.1 localhost\n127.0.0.1 box\n"},
		{"127.0.0.1 localhost # box\n", "127.0.0.1 localhost # box\n127.0.0.1 box\n"},
		{"box 127.0.0.1", "box 127.0.0.1\n127.0.0.1 box\n"},
		{"", "127.0.0.1 box\n"},
	} {
		if got := string(withHost([]byte(tt.in), "box")); got != tt.want {
			t.Errorf("withHost(%q, box) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestShellQuote(t *testing.T) {
	for _, s := range []string{"", "plain", "it's", "a b", `$HOME "x"`, "'"} {
		out, err := exec.Command("sh", "-c", `printf %s `+shellQuote(s)).Output()
		if err != nil || string(out) != s {
			t.Errorf("sh printed %q, %v for shellQuote(%q), want it back", out, err, s)
		}
	}
}

// TestFreePort checks that FreePort's ports are distinct, outside the
// kernel's ephemeral range, and can be bound on any loopback address.
func TestFreePort(t *testing.T) {
	low, ok := ephemeralLow()
	seen := map[int]bool{}
	for range 50 {
		p := FreePort(t)
		if seen[p] {
			t.Errorf("FreePort() = %d twice", p)
		}
		seen[p] = true
		if ok && (p < minFreePort || p >= low) {
			t.Errorf("FreePort() = %d, want it in [%d, %d)", p, minFreePort, low)
		}
		for _, addr := range []string{"127.0.0.1", "127.0.0.2", "0.0.0.0"} {
			l, err := net.Listen("tcp4", fmt.Sprintf("%s:%d", addr, p))
			if err != nil {
				t.Errorf("listen on FreePort() at %s: %v", addr, err)
				continue
			}
			l.Close()
		}
	}
}
