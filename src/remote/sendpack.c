/*
 * sendpack: the receive-pack exchange of git's pack protocol, spoken by
 * dbgit on the SSH channel libgit2 opened (see sendpack.h for why).
 *
 * The wrapper: libgit2's smart transport asks its subtransport for a
 * stream per service. Ours passes every call to git_smart_subtransport_ssh
 * and hands back a stream that passes reads and writes through, except
 * that it checks the advertisement's pkt-lines and keeps its first ref
 * line (the capabilities) and, once our exchange is over, swallows what
 * libgit2 writes on close (the flush it sends to say goodbye to a server
 * that has already finished). The ssh subtransport returns the same
 * stream for RECEIVEPACK_LS and RECEIVEPACK, and so does the wrapper.
 *
 * The exchange (Documentation/gitprotocol-pack.txt, "Pushing Data To a
 * Server"): one pkt-line "<old> <new> <ref>" per branch, the first with
 * "\0" and the capabilities we use out of those the server advertised,
 * a flush, the pack (raw, not in side-band), then the server's answer: with
 * side-band-64k multiplexed into band 1 (report-status pkt-lines), band 2
 * (progress, hook output) and band 3 (a fatal error), ended by a flush.
 * Everything read is untrusted: lengths are checked, nothing is assumed
 * NUL-terminated.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dbgit/store.h"
#include "dbgit/util.h"
#include "sendpack.h"

/* A pkt-line's largest length, its 4 hex digits included (git's
 * LARGE_PACKET_MAX). */
#define PKT_MAX 65520
#define WBUF_SIZE 65536
/* What libgit2 may read as the ref advertisement: some 250,000 branches.
 * A server that sends more is not a git server; libgit2 would keep it all. */
#define ADV_MAX (16u << 20)
/* The server's answer after the pack (report, progress, hook output): a
 * real one is a few KiB. More is a flood, stopped. */
#define ANSWER_MAX (8u << 20)

struct wrap_stream {
	git_smart_subtransport_stream parent;
	git_smart_subtransport_stream *inner;
	struct sendpack *sp;
};

struct wrap_sub {
	git_smart_subtransport parent;
	git_smart_subtransport *inner;
	struct sendpack *sp;
};

struct sendpack {
	struct wrap_stream *stream; /* the open one, NULL if none */
	/* The advertisement, followed (note_advertisement). */
	struct buf adv; /* the pkt-line being read, until the capabilities */
	unsigned char adv_hdr[4];
	int adv_hlen, adv_in_pkt, adv_caps, adv_done;
	size_t adv_left;  /* bytes of the pkt-line still to come */
	size_t adv_bytes; /* read by libgit2, for ADV_MAX */
	int report_status, side_band_64k, agent;
	int done; /* our exchange ended: later writes are libgit2's goodbye */
	/* Writes, gathered: a pack entry comes in small pieces. */
	unsigned char *wbuf;
	size_t wlen;
	uint64_t sent;
	const struct sendpack_cb *cb;
	int stopped;
	/* Reads. One byte more than a pkt-line, always NUL: see guarded_read. */
	unsigned char rbuf[PKT_MAX + 1];
	size_t rstart, rend;
};

static const char *git_msg(void)
{
	const git_error *e = git_error_last();
	return e && e->message ? e->message : "unknown libgit2 error";
}

/* The length of the pkt-line at p: git's four hex digits, nothing else
 * (strtoul would take " 0x1", "+03a", "-001"). 0 a flush, else 4 to
 * PKT_MAX; -1 if it is not one. */
static long pkt_len(const void *p)
{
	const unsigned char *h = p;
	long n = 0;
	for (int i = 0; i < 4; i++) {
		int v;
		if (h[i] >= '0' && h[i] <= '9')
			v = h[i] - '0';
		else if (h[i] >= 'a' && h[i] <= 'f')
			v = h[i] - 'a' + 10;
		else if (h[i] >= 'A' && h[i] <= 'F')
			v = h[i] - 'A' + 10;
		else
			return -1;
		n = n * 16 + v;
	}
	return n == 0 || (n >= 4 && n <= PKT_MAX) ? n : -1;
}

/* The length field, printable: it is the server's bytes. */
static const char *pkt_hex(const void *p, char out[17])
{
	const unsigned char *h = p;
	char *o = out;
	for (int i = 0; i < 4; i++) {
		if (h[i] >= 0x20 && h[i] < 0x7f)
			*o++ = (char)h[i];
		else
			o += sprintf(o, "\\x%02x", h[i]);
	}
	*o = '\0';
	return out;
}

/* libgit2 1.5's ssh stream, on EOF of stdout, reads the server's stderr
 * into the buffer and makes it the error message with "%*s": it reads
 * until a NUL, past what was read. So the last byte of every buffer
 * handed to it is a NUL it never writes. */
static int guarded_read(git_smart_subtransport_stream *inner, char *buffer, size_t size, size_t *bytes_read)
{
	*bytes_read = 0;
	if (size < 2) {
		git_error_set_str(GIT_ERROR_NET, "read buffer too small");
		return -1;
	}
	buffer[size - 1] = '\0';
	return inner->read(inner, buffer, size - 1, bytes_read);
}

/* ---- the wrapper ---- */

static int has_cap(const char *caps, size_t len, const char *name)
{
	size_t nl = strlen(name);
	for (size_t i = 0; i < len;) {
		size_t j = i;
		while (j < len && caps[j] != ' ')
			j++;
		if ((j - i == nl && !memcmp(caps + i, name, nl)) ||
		    (j - i > nl && !memcmp(caps + i, name, nl) && caps[i + nl] == '='))
			return 1;
		i = j + 1;
	}
	return 0;
}

/* The capabilities, after the NUL of the first ref line. */
static void note_capabilities(struct sendpack *sp, const char *line, size_t ll)
{
	const char *nul = memchr(line, '\0', ll);
	if (!nul)
		return; /* no capabilities: none used */
	const char *caps = nul + 1;
	size_t cl = ll - (size_t)(caps - line);
	while (cl > 0 && (caps[cl - 1] == '\n' || caps[cl - 1] == '\r'))
		cl--;
	sp->report_status = has_cap(caps, cl, "report-status");
	sp->side_band_64k = has_cap(caps, cl, "side-band-64k");
	sp->agent = has_cap(caps, cl, "agent");
}

/* The advertisement as libgit2 reads it, followed pkt-line by pkt-line
 * up to its flush: a bad length is refused here, in words (libgit2 1.5
 * takes a length up to 65535, waits for a pkt-line that never comes, and
 * says nothing of "0001"..."0003"), and the first ref line is kept for
 * its capabilities. -1 with a libgit2 error set. */
static int note_advertisement(struct sendpack *sp, const char *data, size_t len)
{
	for (size_t i = 0; i < len && !sp->adv_done;) {
		if (!sp->adv_in_pkt) {
			sp->adv_hdr[sp->adv_hlen++] = (unsigned char)data[i++];
			if (sp->adv_hlen < 4)
				continue;
			sp->adv_hlen = 0;
			long n = pkt_len(sp->adv_hdr);
			if (n < 0) {
				char hex[17], msg[120];
				snprintf(msg, sizeof(msg), "the server's answer is not the git protocol (bad pkt-line length '%s')",
					 pkt_hex(sp->adv_hdr, hex));
				git_error_set_str(GIT_ERROR_NET, msg);
				return -1;
			}
			if (n == 0) {
				sp->adv_done = 1;
				break;
			}
			sp->adv_in_pkt = 1;
			sp->adv_left = (size_t)n - 4;
			buf_clear(&sp->adv);
		} else {
			size_t take = len - i < sp->adv_left ? len - i : sp->adv_left;
			if (!sp->adv_caps && buf_add(&sp->adv, data + i, take) < 0) {
				git_error_set_oom();
				return -1;
			}
			i += take;
			sp->adv_left -= take;
		}
		if (sp->adv_in_pkt && sp->adv_left == 0) {
			sp->adv_in_pkt = 0;
			/* "version 1" may come first (protocol v1); the next line
			 * is the first ref. */
			if (!sp->adv_caps && !(sp->adv.len >= 8 && !memcmp(sp->adv.data, "version ", 8))) {
				sp->adv_caps = 1;
				note_capabilities(sp, sp->adv.data, sp->adv.len);
			}
		}
	}
	return 0;
}

static int ws_read(git_smart_subtransport_stream *s, char *buffer, size_t size, size_t *bytes_read)
{
	struct wrap_stream *ws = (struct wrap_stream *)s;
	int rc = guarded_read(ws->inner, buffer, size, bytes_read);
	if (rc < 0)
		return rc;
	ws->sp->adv_bytes += *bytes_read;
	if (ws->sp->adv_bytes > ADV_MAX) {
		git_error_set_str(GIT_ERROR_NET, "the server's list of branches goes on past 16 MiB");
		return -1;
	}
	if (!ws->sp->adv_done)
		return note_advertisement(ws->sp, buffer, *bytes_read);
	return 0;
}

static int ws_write(git_smart_subtransport_stream *s, const char *buffer, size_t len)
{
	struct wrap_stream *ws = (struct wrap_stream *)s;
	if (ws->sp->done)
		return 0;
	return ws->inner->write(ws->inner, buffer, len);
}

static void ws_free(git_smart_subtransport_stream *s)
{
	struct wrap_stream *ws = (struct wrap_stream *)s;
	ws->inner->free(ws->inner);
	if (ws->sp->stream == ws)
		ws->sp->stream = NULL;
	free(ws);
}

static int sub_action(git_smart_subtransport_stream **out, git_smart_subtransport *t, const char *url,
		      git_smart_service_t action)
{
	struct wrap_sub *w = (struct wrap_sub *)t;
	struct sendpack *sp = w->sp;
	git_smart_subtransport_stream *inner = NULL;
	int rc = w->inner->action(&inner, w->inner, url, action);
	if (rc < 0)
		return rc;
	if (sp->stream && sp->stream->inner == inner) {
		*out = &sp->stream->parent;
		return 0;
	}
	struct wrap_stream *ws = calloc(1, sizeof(*ws));
	if (!ws) {
		inner->free(inner);
		git_error_set_oom();
		return -1;
	}
	ws->parent.subtransport = t;
	ws->parent.read = ws_read;
	ws->parent.write = ws_write;
	ws->parent.free = ws_free;
	ws->inner = inner;
	ws->sp = sp;
	sp->stream = ws;
	if (action == GIT_SERVICE_RECEIVEPACK_LS || action == GIT_SERVICE_UPLOADPACK_LS) {
		buf_clear(&sp->adv);
		sp->adv_bytes = sp->adv_left = 0;
		sp->adv_hlen = sp->adv_in_pkt = sp->adv_caps = sp->adv_done = 0;
		sp->report_status = sp->side_band_64k = sp->agent = 0;
		sp->done = 0;
	}
	*out = &ws->parent;
	return 0;
}

static int sub_close(git_smart_subtransport *t)
{
	struct wrap_sub *w = (struct wrap_sub *)t;
	return w->inner->close(w->inner);
}

static void sub_free(git_smart_subtransport *t)
{
	struct wrap_sub *w = (struct wrap_sub *)t;
	w->inner->free(w->inner);
	free(w);
}

static int sub_new(git_smart_subtransport **out, git_transport *owner, void *param)
{
	struct wrap_sub *w = calloc(1, sizeof(*w));
	if (!w) {
		git_error_set_oom();
		return -1;
	}
	if (git_smart_subtransport_ssh(&w->inner, owner, NULL) < 0) {
		free(w);
		return -1;
	}
	w->parent.action = sub_action;
	w->parent.close = sub_close;
	w->parent.free = sub_free;
	w->sp = param;
	*out = &w->parent;
	return 0;
}

int sendpack_transport(git_transport **out, git_remote *owner, struct sendpack *sp)
{
	/* git_transport_smart reads the definition only while it runs. */
	git_smart_subtransport_definition def = {sub_new, 0, sp};
	return git_transport_smart(out, owner, &def);
}

int sendpack_new(struct sendpack **out)
{
	struct sendpack *sp = calloc(1, sizeof(*sp));
	if (!sp || !(sp->wbuf = malloc(WBUF_SIZE))) {
		free(sp);
		*out = NULL;
		return err_set(ERR_GENERIC, "out of memory");
	}
	*out = sp;
	return 0;
}

void sendpack_free(struct sendpack *sp)
{
	if (!sp)
		return;
	buf_free(&sp->adv);
	free(sp->wbuf);
	free(sp);
}

/* ---- writing ---- */

static int flush_writes(struct sendpack *sp)
{
	if (sp->wlen == 0)
		return 0;
	if (!sp->stream)
		return err_set(ERR_PUSH, "the connection is gone");
	if (sp->stream->inner->write(sp->stream->inner, (const char *)sp->wbuf, sp->wlen) < 0)
		return err_set(ERR_PUSH, "%s", git_msg());
	sp->sent += sp->wlen;
	sp->wlen = 0;
	if (sp->cb->progress && sp->cb->progress(sp->cb->payload)) {
		sp->stopped = 1;
		return err_set(ERR_INTERRUPTED, "interrupted");
	}
	return 0;
}

static int put(void *payload, const void *data, size_t len)
{
	struct sendpack *sp = payload;
	const unsigned char *p = data;
	while (len > 0) {
		size_t n = WBUF_SIZE - sp->wlen < len ? WBUF_SIZE - sp->wlen : len;
		memcpy(sp->wbuf + sp->wlen, p, n);
		sp->wlen += n;
		p += n;
		len -= n;
		if (sp->wlen == WBUF_SIZE && flush_writes(sp) < 0)
			return -1;
	}
	return 0;
}

static int put_commands(struct sendpack *sp, const struct sendpack_cmd *cmd, size_t n)
{
	struct buf line = BUF_INIT;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		char o[GIT_OID_HEXSZ + 1], w[GIT_OID_HEXSZ + 1];
		git_oid_tostr(o, sizeof(o), &cmd[i].old);
		git_oid_tostr(w, sizeof(w), &cmd[i].new);
		buf_clear(&line);
		rc = buf_printf(&line, "0000%s %s %s", o, w, cmd[i].ref);
		if (rc == 0 && i == 0) {
			/* Only what the server offered (report-status, required:
			 * the answer we read; side-band-64k: its hook output kept
			 * apart). */
			rc = buf_add(&line, "", 1);
			if (rc == 0)
				rc = buf_puts(&line, " report-status");
			if (rc == 0 && sp->side_band_64k)
				rc = buf_puts(&line, " side-band-64k");
			if (rc == 0 && sp->agent)
				rc = buf_puts(&line, " agent=dbgit");
		}
		if (rc == 0)
			rc = buf_add(&line, "\n", 1);
		if (rc < 0) {
			rc = err_set(ERR_GENERIC, "out of memory");
			break;
		}
		if (line.len > PKT_MAX) {
			rc = err_set(ERR_USAGE, "branch name %s too long for the pack protocol", cmd[i].ref);
			break;
		}
		char hex[5];
		snprintf(hex, sizeof(hex), "%04zx", line.len);
		memcpy(line.data, hex, 4);
		rc = put(sp, line.data, line.len);
	}
	if (rc == 0)
		rc = put(sp, "0000", 4);
	buf_free(&line);
	return rc;
}

/* ---- reading ---- */

/* The next pkt-line: *len = -1 for a flush, else its payload (pointing
 * into rbuf, valid until the next call). 1 at the end of the stream. */
static int read_pkt(struct sendpack *sp, const char **data, long *len)
{
	for (;;) {
		size_t have = sp->rend - sp->rstart;
		if (have >= 4) {
			long n = pkt_len(sp->rbuf + sp->rstart);
			char hex[17];
			if (n < 0)
				return err_set(ERR_PUSH, "the server's answer is not the pack protocol (bad pkt-line length '%s')",
					       pkt_hex(sp->rbuf + sp->rstart, hex));
			if (n == 0) {
				sp->rstart += 4;
				*len = -1;
				return 0;
			}
			if (have >= (size_t)n) {
				*data = (const char *)sp->rbuf + sp->rstart + 4;
				*len = (long)n - 4;
				sp->rstart += n;
				return 0;
			}
		}
		if (sp->rstart > 0) {
			memmove(sp->rbuf, sp->rbuf + sp->rstart, have);
			sp->rend = have;
			sp->rstart = 0;
		}
		if (!sp->stream)
			return err_set(ERR_PUSH, "the connection is gone");
		size_t got = 0;
		/* A pkt-line is at most PKT_MAX: room is left for the NUL. */
		if (guarded_read(sp->stream->inner, (char *)sp->rbuf + sp->rend, sizeof(sp->rbuf) - sp->rend, &got) < 0)
			return err_set(ERR_PUSH, "%s", git_msg());
		if (got == 0)
			return 1;
		sp->rend += got;
	}
}

struct report {
	const struct sendpack_cmd *cmd;
	size_t n;
	char **msg;      /* per command: NULL ok, else the reason */
	unsigned char *seen;
	int unpack_seen, unpack_ok;
	char unpack_why[256];
	int ended; /* the report's flush */
	struct buf pending; /* band 1 bytes not yet a whole pkt-line */
};

/* One pkt-line of report-status. */
static int report_line(struct report *r, const char *p, size_t len)
{
	while (len > 0 && (p[len - 1] == '\n' || p[len - 1] == '\r'))
		len--;
	if (r->ended)
		return 0;
	if (len >= 7 && !memcmp(p, "unpack ", 7)) {
		r->unpack_seen = 1;
		r->unpack_ok = len == 9 && !memcmp(p + 7, "ok", 2);
		snprintf(r->unpack_why, sizeof(r->unpack_why), "%.*s", (int)(len - 7), p + 7);
		return 0;
	}
	int ok = len >= 3 && !memcmp(p, "ok ", 3), ng = len >= 3 && !memcmp(p, "ng ", 3);
	if (!ok && !ng)
		return err_set(ERR_PUSH, "report-status: protocol error (\"%.*s\")", (int)(len > 80 ? 80 : len), p);
	const char *ref = p + 3;
	size_t rl = len - 3;
	const char *why = NULL;
	size_t wl = 0;
	if (ng) {
		const char *sp = memchr(ref, ' ', rl);
		if (sp) {
			why = sp + 1;
			wl = rl - (size_t)(why - ref);
			rl = (size_t)(sp - ref);
		} else {
			why = "rejected";
			wl = strlen(why);
		}
	}
	for (size_t i = 0; i < r->n; i++)
		if (strlen(r->cmd[i].ref) == rl && !memcmp(r->cmd[i].ref, ref, rl)) {
			r->seen[i] = 1;
			free(r->msg[i]);
			r->msg[i] = ng ? xasprintf("%.*s", (int)wl, why) : NULL;
			return 0;
		}
	return err_set(ERR_PUSH, "report-status: the server reported on %.*s, which was not pushed",
		       (int)(rl > 200 ? 200 : rl), ref);
}

/* Band 1 bytes: pkt-lines of the report, possibly split across packets. */
static int report_bytes(struct report *r, const char *p, size_t len)
{
	if (buf_add(&r->pending, p, len) < 0)
		return err_set(ERR_GENERIC, "out of memory");
	size_t off = 0;
	int rc = 0;
	while (rc == 0 && r->pending.len - off >= 4) {
		long n = pkt_len(r->pending.data + off);
		if (n < 0) {
			char hex[17];
			rc = err_set(ERR_PUSH, "report-status: bad pkt-line length '%s'", pkt_hex(r->pending.data + off, hex));
			break;
		}
		if (n == 0) {
			r->ended = 1;
			off += 4;
			continue;
		}
		if (r->pending.len - off < (size_t)n)
			break;
		rc = report_line(r, r->pending.data + off + 4, (size_t)n - 4);
		off += (size_t)n;
	}
	memmove(r->pending.data, r->pending.data + off, r->pending.len - off);
	r->pending.len -= off;
	return rc;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int read_report(struct sendpack *sp, struct report *r)
{
	/* Every packet touches the watchdog (cb->progress), so a server that
	 * keeps talking - keepalives, progress - and never reports would keep
	 * the push waiting for ever: its answer gets ten timeouts, and a
	 * second more per MiB sent for index-pack and the hooks to run. */
	int t = sp->cb->timeout;
	double deadline = t > 0 ? now_s() + 10.0 * t + (double)(sp->sent >> 20) : 0;
	uint64_t got = 0;
	for (;;) {
		const char *p = NULL;
		long len = 0;
		int rc = read_pkt(sp, &p, &len);
		if (rc < 0)
			return rc;
		if (deadline > 0 && now_s() > deadline)
			return err_set(ERR_PUSH, "the server did not finish its answer within %.0f s after the pack",
				       10.0 * t + (double)(sp->sent >> 20));
		if (rc == 0 && (got += (uint64_t)(len > 0 ? len : 0) + 4) > ANSWER_MAX)
			return err_set(ERR_PUSH, "the server's answer goes on past 8 MiB without a report");
		if (rc == 1) {
			if (r->ended)
				return 0;
			return err_set(ERR_PUSH, "the server closed the connection before it reported (early EOF)");
		}
		if (len < 0) {
			if (!sp->side_band_64k) {
				r->ended = 1;
				return 0;
			}
			return r->ended ? 0 : err_set(ERR_PUSH, "report-status: the server ended its answer without a report");
		}
		if (!sp->side_band_64k) {
			if ((rc = report_line(r, p, (size_t)len)) < 0)
				return rc;
			continue;
		}
		if (len < 1)
			continue;
		switch (p[0]) {
		case 1:
			rc = report_bytes(r, p + 1, (size_t)len - 1);
			break;
		case 2:
			if (sp->cb->sideband)
				sp->cb->sideband(p + 1, (int)len - 1, sp->cb->payload);
			break;
		case 3: {
			long l = len - 1;
			while (l > 0 && (p[l] == '\n' || p[l] == '\r'))
				l--;
			/* The caller escapes what a terminal would act on. */
			return err_set(ERR_PUSH, "remote error: %.*s", (int)(l > 300 ? 300 : l), p + 1);
		}
		default:
			return err_set(ERR_PUSH, "the server's answer has an unknown side-band %d", (unsigned char)p[0]);
		}
		if (rc < 0)
			return rc;
		if (sp->cb->progress && sp->cb->progress(sp->cb->payload)) {
			sp->stopped = 1;
			return err_set(ERR_INTERRUPTED, "interrupted");
		}
	}
}

int sendpack_push(struct sendpack *sp, git_repository *repo, const struct sendpack_cmd *cmd, size_t n,
		  const git_oid *have, size_t nh, const struct sendpack_cb *cb, struct sendpack_result *res)
{
	struct report r = {.cmd = cmd, .n = n};
	git_oid *want = calloc(n ? n : 1, sizeof(*want));
	int rc = -1;
	memset(res, 0, sizeof(*res));
	sp->cb = cb;
	sp->wlen = 0;
	sp->sent = 0;
	sp->rstart = sp->rend = 0;
	sp->stopped = 0;
	r.msg = calloc(n ? n : 1, sizeof(*r.msg));
	r.seen = calloc(n ? n : 1, 1);
	if (!want || !r.msg || !r.seen) {
		err_set(ERR_GENERIC, "out of memory");
		goto out;
	}
	if (!sp->stream) {
		err_set(ERR_PUSH, "not connected");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		git_oid_cpy(&want[i], &cmd[i].new);

	if (!sp->report_status) {
		/* Without it the server never says whether it took the pack or
		 * moved the branch: the lease would record a guess. Every git
		 * since 1.6 offers it; retrying will not make this one. */
		err_set(ERR_REFUSED, "the server does not offer report-status, so it cannot confirm a push; not pushing to it");
		goto out;
	}

	struct thin_stats st;
	if (put_commands(sp, cmd, n) < 0)
		goto out;
	/* An error of the pack leaves the server waiting for the rest: the
	 * caller disconnects, and the server drops what it got. */
	if (store_thin_pack(repo, want, n, have, nh, put, sp, &st) < 0 || flush_writes(sp) < 0)
		goto out;
	res->objects = st.objects;
	res->deltas = st.deltas;
	res->bytes = sp->sent;
	if (read_report(sp, &r) < 0)
		goto out;
	if (!r.unpack_seen) {
		err_set(ERR_PUSH, "report-status: the server's report has no unpack status");
		goto out;
	}
	if (!r.unpack_ok) {
		rc = SENDPACK_UNPACK_FAILED;
		err_set(ERR_PUSH, "unpacking the sent packfile failed on the remote: %s", r.unpack_why);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (!r.seen[i]) {
			err_set(ERR_PUSH, "report-status: the server did not report on %s", cmd[i].ref);
			goto out;
		}
	/* Done: libgit2's goodbye on close is not for this server any more. */
	sp->done = 1;
	for (size_t i = 0; i < n; i++)
		if (cb->status && cb->status(cmd[i].ref, r.msg[i], cb->payload) < 0)
			goto out;
	rc = 0;
out:
	if (rc != 0)
		sp->done = 1;
	for (size_t i = 0; r.msg && i < n; i++)
		free(r.msg[i]);
	free(r.msg);
	free(r.seen);
	buf_free(&r.pending);
	free(want);
	return rc;
}
