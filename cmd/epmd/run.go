package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/goei/goei/epmd"
)

// exitCode ends the program with a status after run has printed what it
// had to say.
type exitCode int

func (e exitCode) Error() string { return "exit status " + strconv.Itoa(int(e)) }

// config is what the command line asks for.
type config struct {
	port          int
	debug         int
	daemon        bool
	relaxed       bool
	systemd       bool
	addresses     string
	packetTimeout int // seconds
	delayAccept   int // seconds
	delayWrite    int // seconds
}

// Request tags the interactive commands send.
const (
	tagNamesReq = 110 // NAMES_REQ
	tagDumpReq  = 100 // DUMP_REQ
	tagKillReq  = 107 // KILL_REQ
	tagStopReq  = 115 // STOP_REQ
)

// run is epmd: with -names, -started, -dump, -kill or -stop it asks the
// running epmd and prints its answer as OTP's epmd does; otherwise it
// serves until ctx ends or a KILL_REQ is accepted. Options are read in
// order, as OTP's epmd reads them, so -port must come before a command.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := config{
		port:          envPort(),
		relaxed:       os.Getenv("ERL_EPMD_RELAXED_COMMAND_CHECK") != "",
		addresses:     os.Getenv("ERL_EPMD_ADDRESS"),
		packetTimeout: 60,
	}
	usage := func() error {
		io.WriteString(stderr, usageText)
		return exitCode(1)
	}
	// number parses an option's argument as C's atoi does; zero is an error.
	number := func(i int) (int, bool) {
		if i+1 >= len(args) {
			return 0, false
		}
		n := atoi(args[i+1])
		return n, n != 0
	}
	for i := 0; i < len(args); i++ {
		last := i == len(args)-1
		var ok bool
		switch args[i] {
		case "-d", "-debug":
			cfg.debug++
		case "-daemon":
			cfg.daemon = true
		case "-relaxed_command_check":
			cfg.relaxed = true
		case "-systemd":
			cfg.systemd = true
		case "-port":
			if cfg.port, ok = number(i); !ok {
				return usage()
			}
			i++
		case "-packet_timeout":
			if cfg.packetTimeout, ok = number(i); !ok {
				return usage()
			}
			i++
		case "-delay_accept":
			if cfg.delayAccept, ok = number(i); !ok {
				return usage()
			}
			i++
		case "-delay_write":
			if cfg.delayWrite, ok = number(i); !ok {
				return usage()
			}
			i++
		case "-address":
			if last {
				return usage()
			}
			cfg.addresses = args[i+1]
			i++
		case "-names", "-started", "-dump":
			if !last {
				return usage()
			}
			tag := byte(tagNamesReq)
			if args[i] == "-dump" {
				tag = tagDumpReq
			}
			return call(ctx, cfg.port, tag, args[i] == "-started", stdout, stderr)
		case "-kill":
			if !last {
				return usage()
			}
			return kill(ctx, cfg.port, stdout, stderr)
		case "-stop":
			if i != len(args)-2 {
				return usage()
			}
			return stop(ctx, cfg.port, args[i+1], stdout, stderr)
		default:
			return usage()
		}
	}
	if cfg.daemon {
		started, err := daemonize(args)
		if started || err != nil {
			return err
		}
		// This is the detached copy; like OTP's daemon it logs nowhere.
		stderr = io.Discard
	}
	return serve(ctx, cfg, stderr)
}

// envPort is $ERL_EPMD_PORT read with atoi, or 4369.
func envPort() int {
	if s, ok := os.LookupEnv("ERL_EPMD_PORT"); ok {
		return atoi(s)
	}
	return 4369
}

// atoi is C's atoi: optional blanks and sign, then the leading digits;
// 0 when there are none.
func atoi(s string) int {
	s = strings.TrimLeft(s, " \t\n\v\f\r")
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	n := 0
	for _, c := range []byte(s) {
		if c < '0' || c > '9' || n > 1<<31 {
			break
		}
		n = n*10 + int(c-'0')
	}
	if neg {
		return -n
	}
	return n
}

// dialLocal connects to the epmd on this host, trying IPv6 loopback first
// like OTP's epmd. It prints OTP's message unless silent.
func dialLocal(ctx context.Context, port int, silent bool, stderr io.Writer) (net.Conn, error) {
	var d net.Dialer
	p := strconv.Itoa(port)
	var c net.Conn
	var err error
	for _, host := range []string{"::1", "127.0.0.1"} {
		if c, err = d.DialContext(ctx, "tcp", net.JoinHostPort(host, p)); err == nil {
			context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
			return c, nil
		}
	}
	if !silent {
		io.WriteString(stderr, "epmd: Cannot connect to local epmd\n")
	}
	return nil, exitCode(1)
}

func send(c net.Conn, body []byte, stdout io.Writer) error {
	req := append(binary.BigEndian.AppendUint16(nil, uint16(len(body))), body...)
	if _, err := c.Write(req); err != nil {
		io.WriteString(stdout, "epmd: Can't write to epmd\n")
		return exitCode(1)
	}
	return nil
}

// call runs -names, -started (silent) or -dump: it prints epmd's port and
// then whatever text epmd sends, NUL bytes and all.
func call(ctx context.Context, port int, tag byte, silent bool, stdout, stderr io.Writer) error {
	c, err := dialLocal(ctx, port, silent, stderr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := send(c, []byte{tag}, stdout); err != nil {
		return err
	}
	var p [4]byte
	if _, err := io.ReadFull(c, p[:]); err != nil {
		if !silent {
			io.WriteString(stdout, "epmd: no response from local epmd\n")
		}
		return exitCode(1)
	}
	if silent {
		return nil
	}
	// One write, like OTP's epmd whose stdio buffer holds it all, so
	// that a reader of a pipe gets the header and the names together.
	out := fmt.Appendf(nil, "epmd: up and running on port %d with data:\n", int32(binary.BigEndian.Uint32(p[:])))
	rest, _ := io.ReadAll(c)
	stdout.Write(append(out, rest...))
	return nil
}

// readFill reads len(buf) bytes like OTP's read_fill: the count on
// success, 0 at end of file however much came before, -1 on error.
func readFill(c net.Conn, buf []byte) int {
	n, err := io.ReadFull(c, buf)
	switch {
	case err == nil:
		return n
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return 0
	}
	return -1
}

// kill runs -kill.
func kill(ctx context.Context, port int, stdout, stderr io.Writer) error {
	c, err := dialLocal(ctx, port, false, stderr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := send(c, []byte{tagKillReq}, stdout); err != nil {
		return err
	}
	var buf [2]byte
	switch readFill(c, buf[:]) {
	case 2:
		if string(buf[:]) == "OK" {
			io.WriteString(stdout, "Killed\n")
			return nil
		}
		io.WriteString(stdout, "Killing not allowed - living nodes in database.\n")
	case -1:
		io.WriteString(stdout, "epmd: failed to read answer from local epmd\n")
	default:
		io.WriteString(stdout, "epmd: local epmd responded with <>\n")
	}
	return exitCode(1)
}

// stop runs -stop NAME.
func stop(ctx context.Context, port int, name string, stdout, stderr io.Writer) error {
	if len(name) > 1000 {
		io.WriteString(stdout, "epmd: Name too long!")
		return exitCode(1)
	}
	c, err := dialLocal(ctx, port, false, stderr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := send(c, append([]byte{tagStopReq}, name...), stdout); err != nil {
		return err
	}
	var buf [7]byte
	switch readFill(c, buf[:]) {
	case 7:
		fmt.Fprintf(stdout, "%s\n", cString(buf[:]))
		return nil
	case -1:
		io.WriteString(stdout, "epmd: failed to read answer from local epmd\n")
	default:
		io.WriteString(stdout, "epmd: local epmd responded with <>\n")
	}
	return exitCode(1)
}

// cString is b up to its first NUL, as printf("%s") shows it.
func cString(b []byte) []byte {
	for i, c := range b {
		if c == 0 {
			return b[:i]
		}
	}
	return b
}

// serve runs the daemon until ctx ends or a KILL_REQ is accepted.
func serve(ctx context.Context, cfg config, stderr io.Writer) error {
	level := slog.LevelWarn
	switch {
	case cfg.debug >= 2:
		level = slog.LevelDebug
	case cfg.debug == 1:
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	ls, err := listen(cfg, logger)
	if err != nil {
		var code exitCode
		if errors.As(err, &code) {
			return err
		}
		logger.Error("cannot listen", "err", err)
		return exitCode(1)
	}
	s := &epmd.Server{
		RelaxedCommandCheck: cfg.relaxed,
		PacketTimeout:       time.Duration(cfg.packetTimeout) * time.Second,
		Logger:              logger,
	}
	delay := time.Duration(cfg.delayWrite) * time.Second
	errs := make(chan error, len(ls))
	for _, l := range ls {
		if cfg.delayAccept > 0 || delay > 0 {
			l = &slowListener{Listener: l, accept: time.Duration(cfg.delayAccept) * time.Second, write: delay}
		}
		go func() { errs <- s.Serve(l) }()
	}
	logger.Info("epmd running", "port", cfg.port, "listeners", len(ls))

	var result error
	select {
	case <-ctx.Done():
		logger.Info("shutting down", "cause", context.Cause(ctx))
		shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s.Shutdown(shutCtx)
		cancel()
	case err := <-errs:
		if !errors.Is(err, epmd.ErrServerClosed) {
			logger.Error("serve", "err", err)
			result = exitCode(1)
		}
	}
	s.Close()
	return result
}

// listen opens the listening sockets OTP's epmd would: with no -address,
// one for every IPv4 address and one for every IPv6 address (IPv6 only;
// skipped where IPv6 is not available), else both loopback addresses plus
// each listed address. A port already in use means another epmd runs, and
// run then exits with status 0, like OTP.
func listen(cfg config, logger *slog.Logger) ([]net.Listener, error) {
	if cfg.systemd {
		return systemdListeners()
	}
	port := strconv.Itoa(cfg.port)
	type addr struct {
		host     string
		nonfatal bool
	}
	var addrs []addr
	if strings.Trim(cfg.addresses, " ,") == "" {
		addrs = []addr{{"0.0.0.0", false}, {"::", true}}
	} else {
		addrs = []addr{{"127.0.0.1", true}, {"::1", true}}
		for _, tok := range strings.FieldsFunc(cfg.addresses, func(r rune) bool { return r == ' ' || r == ',' }) {
			ip := net.ParseIP(tok)
			if ip == nil {
				logger.Error(fmt.Sprintf("cannot parse IP address %q", tok))
				return nil, exitCode(1)
			}
			if ip.IsLoopback() {
				continue
			}
			addrs = append(addrs, addr{tok, false})
		}
		if len(addrs) > maxListenSockets {
			logger.Error(fmt.Sprintf("cannot listen on more than %d IP addresses", maxListenSockets))
			return nil, exitCode(1)
		}
	}
	var ls []net.Listener
	closeAll := func() {
		for _, l := range ls {
			l.Close()
		}
	}
	for _, a := range addrs {
		l, err := epmd.Listen(context.Background(), net.JoinHostPort(a.host, port))
		if err != nil {
			if errors.Is(err, syscall.EADDRINUSE) {
				logger.Info(fmt.Sprintf("there is already a epmd running at port %d", cfg.port))
				closeAll()
				return nil, exitCode(0)
			}
			if a.nonfatal {
				logger.Warn("failed to bind", "addr", a.host, "err", err)
				continue
			}
			closeAll()
			return nil, err
		}
		ls = append(ls, l)
	}
	if len(ls) == 0 {
		return nil, errors.New("unable to bind any address")
	}
	return ls, nil
}

// maxListenSockets is OTP's MAX_LISTEN_SOCKETS.
const maxListenSockets = 16

// systemdListeners returns the sockets systemd passes with socket
// activation (LISTEN_PID and LISTEN_FDS, descriptors from 3).
func systemdListeners() ([]net.Listener, error) {
	n := atoi(os.Getenv("LISTEN_FDS"))
	if atoi(os.Getenv("LISTEN_PID")) != os.Getpid() || n <= 0 {
		return nil, errors.New("systemd provides no sockets")
	}
	if n > maxListenSockets {
		return nil, fmt.Errorf("cannot listen on more than %d IP addresses", maxListenSockets)
	}
	var ls []net.Listener
	for i := range n {
		f := os.NewFile(uintptr(3+i), "systemd socket "+strconv.Itoa(i))
		l, err := net.FileListener(f)
		f.Close()
		if err != nil {
			for _, l := range ls {
				l.Close()
			}
			return nil, fmt.Errorf("systemd socket %d: %w", i, err)
		}
		ls = append(ls, l)
	}
	return ls, nil
}

// slowListener simulates a busy server for -delay_accept and -delay_write:
// it waits before handing out each connection and before each write.
type slowListener struct {
	net.Listener
	accept, write time.Duration
}

func (l *slowListener) Accept() (net.Conn, error) {
	time.Sleep(l.accept)
	c, err := l.Listener.Accept()
	if err != nil || l.write == 0 {
		return c, err
	}
	return &slowConn{Conn: c, delay: l.write}, nil
}

type slowConn struct {
	net.Conn
	delay time.Duration
}

func (c *slowConn) Write(b []byte) (int, error) {
	time.Sleep(c.delay)
	return c.Conn.Write(b)
}

// usageText is what OTP 25's epmd prints for a bad command line.
const usageText = `usage: epmd [-d|-debug] [DbgExtra...] [-address List]
            [-port No] [-daemon] [-relaxed_command_check]
       epmd [-d|-debug] [-port No] [-names|-kill|-stop name]

See the Erlang epmd manual page for info about the usage.

Regular options
    -address List
        Let epmd listen only on the comma-separated list of IP
        addresses (and on the loopback interface).
    -port No
        Let epmd listen to another port than default 4369
    -d
    -debug
        Enable debugging. This will give a log to
        the standard error stream. It will shorten
        the number of saved used node names to 5.

        If you give more than one debug flag you may
        get more debugging information.
    -daemon
        Start epmd detached (as a daemon)
    -relaxed_command_check
        Allow this instance of epmd to be killed with
        epmd -kill even if there are registered nodes.
        Also allows forced unregister (epmd -stop).
    -systemd
        Wait for socket from systemd. The option makes sense
        when started from .socket unit.

DbgExtra options
    -packet_timeout Seconds
        Set the number of seconds a connection can be
        inactive before epmd times out and closes the
        connection (default 60).

    -delay_accept Seconds
        To simulate a busy server you can insert a
        delay between epmd gets notified about that
        a new connection is requested and when the
        connections gets accepted.

    -delay_write Seconds
        Also a simulation of a busy server. Inserts
        a delay before a reply is sent.

Interactive options
    -names
        List names registered with the currently running epmd
    -kill
        Kill the currently running epmd
        (only allowed if -names show empty database or
        -relaxed_command_check was given when epmd was started).
    -stop Name
        Forcibly unregisters a name with epmd
        (only allowed if -relaxed_command_check was given when 
        epmd was started).
`
