package erltest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// chrootScript runs a program inside a chroot without changing the
// chroot on disk, which may be shared (fmt verbs: the unshare options, then
// the quoted chroot, program, scratch directory, hosts file and a
// newline-separated list of directories to bind besides $HOME and the
// working directory).
//
// In a mount namespace of its own, it mounts a tmpfs on the scratch
// directory and, on top of the chroot, an overlay whose upper layer lives
// in that tmpfs. The upper layer holds /etc/hosts (so that the short host
// name resolves inside, which erl -sname and OTP's erl_call need) and the
// directories on which the host's directories are then bound at their own
// paths, so that paths mean the same inside and out (made there, not in
// the merged tree, since a user namespace cannot copy up directories owned
// by an unmapped root). It also binds the host's /dev/null and friends,
// since a user namespace mounts the overlay nodev. erl needs neither /proc
// nor /sys. Every mount vanishes with the namespace, once the program and
// its children have exited. Each step execs the next, so the script's pid
// ends up being the program's.
const chrootScript = `#!/bin/sh
# Runs a program of an Erlang/OTP chroot; written by internal/erltest.
exec unshare --mount --propagation private%s -- /bin/sh -ec '
chroot=$1 prog=$2 scratch=$3 hosts=$4 cwd=$(pwd -P)
dirs="$5
$HOME
$cwd"
shift 5
mount -t tmpfs erltest "$scratch"
cd "$scratch"
mkdir -p upper/etc work root
cp "$hosts" upper/etc/hosts
binds() {
	echo "$dirs" | while IFS= read -r dir; do
		case $dir in /?*) [ -d "$dir" ] && echo "$dir" ;; esac
	done
}
binds | while IFS= read -r dir; do mkdir -p "upper$dir"; done
mount -t overlay erltest -o "lowerdir=$chroot,upperdir=upper,workdir=work" root
for dev in null zero full random urandom; do
	if [ -e "root/dev/$dev" ]; then mount --bind "/dev/$dev" "root/dev/$dev"; fi
done
binds | while IFS= read -r dir; do mount --bind "$dir" "root$dir"; done
exec chroot "$scratch/root" /usr/bin/env -C "$cwd" PATH=/usr/local/bin:/usr/bin:/bin "$prog" "$@"
' sh %s %s %s %s %s "$@"
`

// writeScript writes a chrootScript for prog, its hosts file and its
// scratch directory to dir, and returns the script's path.
func writeScript(dir, chroot, prog string) (string, error) {
	hosts, scratch := filepath.Join(dir, "hosts"), filepath.Join(dir, "scratch")
	if err := os.WriteFile(hosts, hostsFile(), 0o644); err != nil {
		return "", err
	}
	if err := os.Mkdir(scratch, 0o755); err != nil {
		return "", err
	}
	userns := ""
	if os.Geteuid() != 0 {
		// Unprivileged: a user namespace where we are root lets us
		// mount and chroot.
		userns = " --user --map-root-user"
	}
	// Tests keep files for the program in t.TempDir()s.
	tmp := os.TempDir() + "\n" + os.Getenv("GOTMPDIR")
	script := fmt.Sprintf(chrootScript, userns, shellQuote(chroot), shellQuote(prog), shellQuote(scratch), shellQuote(hosts), shellQuote(tmp))
	p := filepath.Join(dir, filepath.Base(prog))
	return p, os.WriteFile(p, []byte(script), 0o755)
}

// canChroot checks that this user can run programs in chroot with
// chrootScript; when it cannot (no unshare program, or no permission), the
// error wraps errMissing, unless the user is root, who should be able to.
func canChroot(chroot string) error {
	dir, err := os.MkdirTemp("", "erltest")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	p, err := writeScript(dir, chroot, "/bin/true")
	if err != nil {
		return err
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		return fmt.Errorf("%w: cannot run programs in the chroot: %v", errMissing, err)
	}
	cmd := exec.Command(p)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		err = fmt.Errorf("cannot run programs in the chroot (unshare, mount, chroot): %v\n%s", err, out)
		if os.Geteuid() != 0 {
			err = fmt.Errorf("%w: %v", errMissing, err)
		}
		return err
	}
	return nil
}

// hostsFile returns the host's /etc/hosts for the chroot (see withHost).
func hostsFile() []byte {
	b, _ := os.ReadFile("/etc/hosts")
	h, err := os.Hostname()
	if err != nil {
		return b
	}
	h, _, _ = strings.Cut(h, ".")
	return withHost(b, h)
}

// withHost returns the hosts file b with a line mapping host to
// 127.0.0.1 added when b does not name host: the host may resolve its
// name otherwise (DNS, nss-myhostname), which the chroot lacks. The
// tests' epmd listens on 127.0.0.1.
func withHost(b []byte, host string) []byte {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		for _, f := range fields[min(1, len(fields)):] {
			if f == host {
				return b
			}
		}
	}
	b = bytes.Clone(b)
	if len(b) > 0 && b[len(b)-1] != '\n' {
		b = append(b, '\n')
	}
	return append(b, "127.0.0.1 "+host+"\n"...)
}

// shellQuote quotes s for sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
