package erltest

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
)

// install is what findOTP learnt about an Erlang/OTP installation.
type install struct {
	chroot  string            // the chroot directory; "" for the host
	root    string            // code:root_dir(), as seen by OTP's programs
	release string            // erlang:system_info(otp_release)
	progs   map[string]string // program name -> path, as seen by OTP's programs
}

// errMissing marks an OTP that is not there, or that this user cannot
// run: tests skip rather than fail.
var errMissing = errors.New("not available")

// where describes the installation for messages.
func (o *install) where() string {
	if o.chroot == "" {
		return o.root
	}
	return o.root + " in chroot " + o.chroot
}

// otpInfoExpr prints what findOTP needs to know, one item a line.
const otpInfoExpr = `io:format("~s~n~s~n~s~n", [code:root_dir(), erlang:system_info(otp_release), erlang:system_info(version)]), halt().`

// findOTP finds the OTP that the value of EnvOTP selects.
func findOTP(chroot string) (*install, error) {
	dir, err := os.MkdirTemp("", "erltest")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	o := &install{chroot: chroot}
	var erl string
	if chroot == "" {
		if erl, err = exec.LookPath("erl"); err != nil {
			return nil, fmt.Errorf("%w: %v", errMissing, err)
		}
	} else {
		if !filepath.IsAbs(chroot) || strings.ContainsAny(chroot, ",:") {
			return nil, fmt.Errorf("%s=%s: want an absolute path without commas or colons", EnvOTP, chroot)
		}
		if _, err := os.Stat(filepath.Join(chroot, "usr/bin/erl")); err != nil {
			return nil, fmt.Errorf("%w: %s=%s: no OTP in that chroot: %v", errMissing, EnvOTP, chroot, err)
		}
		if err := canChroot(chroot); err != nil {
			return nil, fmt.Errorf("%s=%s: %w", EnvOTP, chroot, err)
		}
		if erl, err = writeScript(dir, chroot, "/usr/bin/erl"); err != nil {
			return nil, err
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*readyTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, erl, "-noshell", "-eval", otpInfoExpr)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s -eval %q: %v\n%s%s", erl, otpInfoExpr, err, out, stderr.Bytes())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 3 {
		return nil, fmt.Errorf("%s -eval %q printed %q, want 3 lines", erl, otpInfoExpr, out)
	}
	o.root, o.release = lines[0], lines[1]
	erts := path.Join(o.root, "erts-"+lines[2], "bin")

	o.progs = map[string]string{"erl": erl}
	if chroot != "" {
		o.progs["erl"] = "/usr/bin/erl"
	}
	for prog, candidates := range map[string][]string{
		"epmd": {path.Join(erts, "epmd")},
		"erlc": {path.Join(o.root, "bin", "erlc"), path.Join(erts, "erlc")},
		// erl_interface's, as Debian's /usr/bin/erl_call; some releases
		// also have one in erts.
		"erl_call": {path.Join(o.root, "lib", "erl_interface-*", "bin", "erl_call"), path.Join(erts, "erl_call")},
	} {
		p, err := o.find(candidates)
		if err != nil {
			return nil, fmt.Errorf("OTP's %s: %w", prog, err)
		}
		o.progs[prog] = p
	}
	return o, nil
}

// find returns the first of the candidate paths (patterns, as seen by
// OTP's programs) that exists, or "" if none does. It is an error for one
// to be a Go program: OTP's programs are C.
func (o *install) find(candidates []string) (string, error) {
	for _, c := range candidates {
		found, _ := filepath.Glob(filepath.Join(o.chroot, c))
		if len(found) == 0 {
			continue
		}
		host := found[len(found)-1]
		if _, err := buildinfo.ReadFile(host); err == nil {
			return "", fmt.Errorf("%s is a Go program, not OTP's", host)
		}
		return strings.TrimPrefix(host, o.chroot), nil
	}
	return "", nil
}
