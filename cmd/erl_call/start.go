package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// startTimeout bounds the wait for a node started by -s to report that it
// is up, like erl_call's ERL_START_TIME.
const startTimeout = 10 * time.Second

// startNode starts the node peer ("alive@host") for -s, as erl_call does:
// it runs `erl -noinput -sname alive -s erl_reply reply IP PORT MAGIC`
// (-name with long names, -setcookie with -c) in a session of its own, and
// waits until kernel's erl_reply module connects back to IP:PORT and sends
// MAGIC, which it does once the node is up. The node outlives erl_call.
// With -d its output goes to $HOME/.erl_start.out.alive, else nowhere.
//
// Only nodes on this host can be started.
func startNode(ctx context.Context, cfg config, peer string, stderr io.Writer) error {
	alive, _, _ := strings.Cut(peer, "@")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	var r [4]byte
	if _, err := rand.Read(r[:]); err != nil {
		return err
	}
	magic := strconv.FormatUint(uint64(binary.BigEndian.Uint32(r[:])>>1), 10)

	erl := cfg.script
	if erl == "" {
		erl = "erl"
	}
	nameFlag := "-sname"
	if cfg.longNames {
		nameFlag = "-name"
	}
	args := []string{"-noinput", nameFlag, alive,
		"-s", "erl_reply", "reply", "127.0.0.1", strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), magic}
	if cfg.cookie != "" {
		args = append(args, "-setcookie", cfg.cookie)
	}
	cmd := exec.Command(erl, args...)
	detach(cmd)
	if cfg.debug {
		name := filepath.Join(os.Getenv("HOME"), ".erl_start.out."+alive)
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err == nil {
			defer f.Close()
			fmt.Fprintf(f, "\n\n===== Log started ======\n%s\nerl_call: %s\n", time.Now().Format(time.ANSIC), cmd)
			cmd.Stdout, cmd.Stderr = f, f
		}
	}
	if cfg.verbose {
		fmt.Fprintf(stderr, "erl_call: %s\n", cmd)
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }() // reaps the node should it exit

	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	go func() {
		// A node that exits before replying will never reply.
		select {
		case <-exited:
			ln.Close()
		case <-ctx.Done():
		}
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("no reply from the node: %w", ctx.Err())
			}
			return errors.New("the node exited before it was up")
		}
		c.SetReadDeadline(time.Now().Add(startTimeout))
		got, _ := io.ReadAll(io.LimitReader(c, 16))
		c.Close()
		if string(got) == magic {
			return nil
		}
	}
}
