/*
 * cnode.c is the libei reference of goei's benchmarks: a C-node, built
 * with erl_interface's ei library at benchmark time, that does what the Go
 * benchmark does on the same erl node, and a decoder of terms with the
 * ei_decode_* functions.
 *
 * It reads one command per line on stdin and answers each with one line
 * on stdout: numbers separated by spaces, or "error MESSAGE". Times are
 * nanoseconds of CLOCK_MONOTONIC. While it waits for a command it answers
 * the peer's ticks.
 *
 *   connect HOST ALIVE COOKIE PEER  connect as ALIVE@HOST to PEER, which
 *                                   runs goei_bench  -> ok
 *   recv N SIZE WORK  ask PEER's bench process for N {msg, I, Bin}
 *                  messages with a SIZE-byte Bin and decode each, copying
 *                  Bin out, then spin for WORK nanoseconds -> elapsed
 *   send N SIZE    send N {msg, I, Bin} to PEER's sink -> elapsed
 *   ping N         N round trips {ping, Self, I} -> {pong, I} with PEER's
 *                  echo -> elapsed, then each round trip's time
 *   connects N PREFIX  N times ei_connect to PEER and close, each time as
 *                  a new node PREFIX_I@HOST -> time spent in connect+close
 *   load FILE      read terms, each a 4-byte big-endian length and the
 *                  term with its version byte -> number of terms
 *   decode I N     decode term I N times -> elapsed
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ei.h>

static ei_cnode ec;
static int fd = -1;
static char host[EI_MAXHOSTNAMELEN + 1];
static char cookie[MAXATOMLEN];
static char peer[MAXNODELEN + 1];
static ei_x_buff rx; /* receive buffer, reused */
static ei_x_buff tx; /* send buffer, reused */

static char **terms;
static int *term_lens;
static int nterms;

static long long now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void reply_error(const char *format, ...)
{
	va_list ap;
	va_start(ap, format);
	printf("error ");
	vprintf(format, ap);
	printf("\n");
	va_end(ap);
	fflush(stdout);
}

/* receive returns the next message (not a tick) in rx, or -1. */
static int receive(erlang_msg *msg)
{
	for (;;) {
		int r = ei_xreceive_msg(fd, msg, &rx);
		if (r == ERL_MSG)
			return 0;
		if (r == ERL_TICK)
			continue;
		return -1;
	}
}

/* decode_term decodes one term at buf+*index into C values, as a C-node
 * that keeps what it decodes would: atoms into a buffer, strings and
 * binaries into memory of their own. */
static int decode_term(const char *buf, int *index)
{
	int type, size, arity, i;
	if (ei_get_type(buf, index, &type, &size) < 0)
		return -1;
	switch (type) {
	case ERL_SMALL_INTEGER_EXT:
	case ERL_INTEGER_EXT:
	case ERL_SMALL_BIG_EXT: {
		long long v;
		return ei_decode_longlong(buf, index, &v);
	}
	case ERL_FLOAT_EXT:
	case NEW_FLOAT_EXT: {
		double v;
		return ei_decode_double(buf, index, &v);
	}
	case ERL_ATOM_EXT:
	case ERL_SMALL_ATOM_EXT:
	case ERL_ATOM_UTF8_EXT:
	case ERL_SMALL_ATOM_UTF8_EXT: {
		char a[MAXATOMLEN_UTF8];
		return ei_decode_atom(buf, index, a);
	}
	case ERL_STRING_EXT: {
		char *s = malloc(size + 1);
		int r = ei_decode_string(buf, index, s);
		free(s);
		return r;
	}
	case ERL_BINARY_EXT: {
		long len;
		void *p = malloc(size > 0 ? size : 1);
		int r = ei_decode_binary(buf, index, p, &len);
		free(p);
		return r;
	}
	case ERL_NEW_PID_EXT:
	case ERL_PID_EXT: {
		erlang_pid p;
		return ei_decode_pid(buf, index, &p);
	}
	case ERL_NEWER_REFERENCE_EXT:
	case ERL_NEW_REFERENCE_EXT: {
		erlang_ref r;
		return ei_decode_ref(buf, index, &r);
	}
	case ERL_SMALL_TUPLE_EXT:
	case ERL_LARGE_TUPLE_EXT:
		if (ei_decode_tuple_header(buf, index, &arity) < 0)
			return -1;
		for (i = 0; i < arity; i++)
			if (decode_term(buf, index) < 0)
				return -1;
		return 0;
	case ERL_NIL_EXT:
	case ERL_LIST_EXT:
		if (ei_decode_list_header(buf, index, &arity) < 0)
			return -1;
		if (arity == 0)
			return 0;
		for (i = 0; i < arity; i++)
			if (decode_term(buf, index) < 0)
				return -1;
		return decode_term(buf, index); /* the tail */
	case ERL_MAP_EXT:
		if (ei_decode_map_header(buf, index, &arity) < 0)
			return -1;
		for (i = 0; i < 2 * arity; i++)
			if (decode_term(buf, index) < 0)
				return -1;
		return 0;
	default:
		return ei_skip_term(buf, index);
	}
}

static void cmd_connect(void)
{
	char alive[MAXATOMLEN], node[2 * MAXATOMLEN + 1];
	struct in_addr addr;
	if (scanf("%255s %255s %255s %255s", host, alive, cookie, peer) != 4) {
		reply_error("usage: connect HOST ALIVE COOKIE PEER");
		return;
	}
	snprintf(node, sizeof node, "%s@%s", alive, host);
	addr.s_addr = htonl(INADDR_LOOPBACK);
	if (ei_connect_xinit(&ec, host, alive, node, &addr, cookie, 1) < 0) {
		reply_error("ei_connect_xinit: %d", erl_errno);
		return;
	}
	fd = ei_connect(&ec, peer);
	if (fd < 0) {
		reply_error("ei_connect(%s): %d", peer, erl_errno);
		return;
	}
	printf("ok\n");
	fflush(stdout);
}

static void cmd_recv(void)
{
	long n, size, work, count = 0, i, binlen;
	static char *bin;
	static long bincap;
	erlang_msg msg;
	char atom[MAXATOMLEN_UTF8];
	long long start;
	if (scanf("%ld %ld %ld", &n, &size, &work) != 3) {
		reply_error("usage: recv N SIZE WORK");
		return;
	}
	start = now();
	tx.index = 0;
	ei_x_encode_version(&tx);
	ei_x_encode_tuple_header(&tx, 4);
	ei_x_encode_pid(&tx, ei_self(&ec));
	ei_x_encode_pid(&tx, ei_self(&ec));
	ei_x_encode_long(&tx, n);
	ei_x_encode_long(&tx, size);
	if (ei_reg_send(&ec, fd, "bench", tx.buff, tx.index) < 0) {
		reply_error("ei_reg_send: %d", erl_errno);
		return;
	}
	for (;;) {
		int index = 0, version, arity, type, bsize;
		if (receive(&msg) < 0) {
			reply_error("receive: %d", erl_errno);
			return;
		}
		if (ei_decode_version(rx.buff, &index, &version) < 0) {
			reply_error("bad message");
			return;
		}
		if (ei_decode_atom(rx.buff, &index, atom) == 0 && strcmp(atom, "done") == 0)
			break;
		if (ei_decode_tuple_header(rx.buff, &index, &arity) < 0 || arity != 3 ||
		    ei_decode_atom(rx.buff, &index, atom) < 0 || strcmp(atom, "msg") != 0 ||
		    ei_decode_long(rx.buff, &index, &i) < 0 ||
		    ei_get_type(rx.buff, &index, &type, &bsize) < 0 || type != ERL_BINARY_EXT) {
			reply_error("unexpected message");
			return;
		}
		if (bsize > bincap) {
			free(bin);
			bincap = bsize;
			bin = malloc(bincap);
		}
		if (ei_decode_binary(rx.buff, &index, bin, &binlen) < 0 || binlen != size) {
			reply_error("bad binary");
			return;
		}
		count++;
		if (work > 0) {
			long long until = now() + work;
			while (now() < until)
				;
		}
	}
	if (count != n) {
		reply_error("received %ld messages, want %ld", count, n);
		return;
	}
	printf("%lld\n", now() - start);
	fflush(stdout);
}

/* wait_atom_tuple waits for {Atom, _}. */
static int wait_atom_tuple(const char *want)
{
	erlang_msg msg;
	char atom[MAXATOMLEN_UTF8];
	int index = 0, version, arity;
	if (receive(&msg) < 0)
		return -1;
	if (ei_decode_version(rx.buff, &index, &version) < 0 ||
	    ei_decode_tuple_header(rx.buff, &index, &arity) < 0 || arity != 2 ||
	    ei_decode_atom(rx.buff, &index, atom) < 0 || strcmp(atom, want) != 0)
		return -1;
	return 0;
}

static void cmd_send(void)
{
	long n, size, i;
	char *payload;
	long long start;
	if (scanf("%ld %ld", &n, &size) != 2) {
		reply_error("usage: send N SIZE");
		return;
	}
	payload = calloc(size > 0 ? size : 1, 1);
	start = now();
	tx.index = 0;
	ei_x_encode_version(&tx);
	ei_x_encode_tuple_header(&tx, 3);
	ei_x_encode_atom(&tx, "count");
	ei_x_encode_pid(&tx, ei_self(&ec));
	ei_x_encode_long(&tx, n);
	if (ei_reg_send(&ec, fd, "sink", tx.buff, tx.index) < 0) {
		reply_error("ei_reg_send: %d", erl_errno);
		free(payload);
		return;
	}
	for (i = 0; i < n; i++) {
		tx.index = 0;
		ei_x_encode_version(&tx);
		ei_x_encode_tuple_header(&tx, 3);
		ei_x_encode_atom(&tx, "msg");
		ei_x_encode_long(&tx, i);
		ei_x_encode_binary(&tx, payload, size);
		if (ei_reg_send(&ec, fd, "sink", tx.buff, tx.index) < 0) {
			reply_error("ei_reg_send: %d", erl_errno);
			free(payload);
			return;
		}
	}
	free(payload);
	if (wait_atom_tuple("counted") < 0) {
		reply_error("no counted reply");
		return;
	}
	printf("%lld\n", now() - start);
	fflush(stdout);
}

static void cmd_ping(void)
{
	long n, i;
	long long start, t0, *lat;
	if (scanf("%ld", &n) != 1 || n < 1) {
		reply_error("usage: ping N");
		return;
	}
	lat = malloc(n * sizeof *lat);
	start = now();
	for (i = 0; i < n; i++) {
		t0 = now();
		tx.index = 0;
		ei_x_encode_version(&tx);
		ei_x_encode_tuple_header(&tx, 3);
		ei_x_encode_atom(&tx, "ping");
		ei_x_encode_pid(&tx, ei_self(&ec));
		ei_x_encode_long(&tx, i);
		if (ei_reg_send(&ec, fd, "echo", tx.buff, tx.index) < 0 ||
		    wait_atom_tuple("pong") < 0) {
			reply_error("ping %ld: %d", i, erl_errno);
			free(lat);
			return;
		}
		lat[i] = now() - t0;
	}
	printf("%lld", now() - start);
	for (i = 0; i < n; i++)
		printf(" %lld", lat[i]);
	printf("\n");
	fflush(stdout);
	free(lat);
}

static void cmd_connects(void)
{
	long n, i;
	char prefix[64], alive[MAXATOMLEN], node[2 * MAXATOMLEN + 1];
	long long spent = 0, t0;
	struct in_addr addr;
	if (scanf("%ld %63s", &n, prefix) != 2) {
		reply_error("usage: connects N PREFIX");
		return;
	}
	addr.s_addr = htonl(INADDR_LOOPBACK);
	for (i = 0; i < n; i++) {
		ei_cnode c;
		int cfd;
		snprintf(alive, sizeof alive, "%s_%ld", prefix, i);
		snprintf(node, sizeof node, "%s@%s", alive, host);
		if (ei_connect_xinit(&c, host, alive, node, &addr, cookie, 1) < 0) {
			reply_error("ei_connect_xinit: %d", erl_errno);
			return;
		}
		t0 = now();
		cfd = ei_connect(&c, peer);
		if (cfd < 0) {
			reply_error("ei_connect(%s): %d", peer, erl_errno);
			return;
		}
		ei_close_connection(cfd);
		spent += now() - t0;
	}
	printf("%lld\n", spent);
	fflush(stdout);
}

static void cmd_load(void)
{
	char path[4096];
	unsigned char len[4];
	FILE *f;
	if (scanf("%4095s", path) != 1) {
		reply_error("usage: load FILE");
		return;
	}
	f = fopen(path, "rb");
	if (f == NULL) {
		reply_error("open %s: %s", path, strerror(errno));
		return;
	}
	while (fread(len, 1, 4, f) == 4) {
		int n = (len[0] << 24) | (len[1] << 16) | (len[2] << 8) | len[3];
		terms = realloc(terms, (nterms + 1) * sizeof *terms);
		term_lens = realloc(term_lens, (nterms + 1) * sizeof *term_lens);
		terms[nterms] = malloc(n);
		term_lens[nterms] = n;
		if (fread(terms[nterms], 1, n, f) != (size_t)n) {
			fclose(f);
			reply_error("short term in %s", path);
			return;
		}
		nterms++;
	}
	fclose(f);
	printf("%d\n", nterms);
	fflush(stdout);
}

static void cmd_decode(void)
{
	long t, n, i;
	long long start;
	if (scanf("%ld %ld", &t, &n) != 2 || t < 0 || t >= nterms) {
		reply_error("usage: decode I N (after load)");
		return;
	}
	start = now();
	for (i = 0; i < n; i++) {
		int index = 0, version;
		if (ei_decode_version(terms[t], &index, &version) < 0 ||
		    decode_term(terms[t], &index) < 0 || index != term_lens[t]) {
			reply_error("cannot decode term %ld", t);
			return;
		}
	}
	printf("%lld\n", now() - start);
	fflush(stdout);
}

/* wait_command waits until stdin is readable, answering ticks meanwhile;
 * it returns -1 when the connection failed. */
static int wait_command(void)
{
	struct pollfd p[2] = {{.fd = 0, .events = POLLIN}, {.fd = fd, .events = POLLIN}};
	for (;;) {
		if (poll(p, fd >= 0 ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (p[0].revents)
			return 0;
		if (fd >= 0 && p[1].revents) {
			erlang_msg msg;
			if (ei_xreceive_msg(fd, &msg, &rx) == ERL_ERROR)
				return -1;
		}
	}
}

int main(void)
{
	char cmd[32];
	ei_init();
	ei_x_new(&rx);
	ei_x_new(&tx);
	while (wait_command() == 0 && scanf("%31s", cmd) == 1) {
		if (strcmp(cmd, "connect") == 0)
			cmd_connect();
		else if (strcmp(cmd, "recv") == 0)
			cmd_recv();
		else if (strcmp(cmd, "send") == 0)
			cmd_send();
		else if (strcmp(cmd, "ping") == 0)
			cmd_ping();
		else if (strcmp(cmd, "connects") == 0)
			cmd_connects();
		else if (strcmp(cmd, "load") == 0)
			cmd_load();
		else if (strcmp(cmd, "decode") == 0)
			cmd_decode();
		else
			reply_error("unknown command %s", cmd);
	}
	return 0;
}
