/*
 * diff: a unified diff between two snapshots' text files, in proportion to
 * the change.
 *
 * Files are compared as the logical files the engine wrote ("t/1-rows.sql"),
 * whatever their chunks, but never joined whole. The two chunk lists of a
 * file are aligned by blob id (text chunks are cut where a line's own
 * content says, so an unchanged stretch of rows is the same blobs on both
 * sides); only the runs of chunks that differ are read and diffed, each with
 * the unchanged chunk on either side of it, so that the hunks, their one
 * line of context and the line git shows after "@@" come out as a diff of
 * the whole files would give them. A run of more than RUN_MAX chunks is
 * diffed in pieces, so memory stays bounded whatever changed.
 *
 * Line numbers in the hunk headers are the files' own: they need the line
 * count of every unchanged chunk before a change, which is read (one blob
 * at a time, counted, dropped) but never diffed. There is no "index" line:
 * it would name the blob of the whole logical file, which the repository
 * does not hold and which would take reading every chunk to compute.
 *
 * The pieces are planned in order by the main thread, then read, joined
 * and diffed by whichever thread is free (one per other core, each with
 * its own repository handle) and printed by the main thread in plan order:
 * the output is the one-thread run's, byte for byte (t7221), and at most
 * one piece more than there are threads is in flight. The work is inflate,
 * SHA-1 and xdiff, about a third each: plain chunks are checked against
 * their ids with OpenSSL's SHA-1 rather than libgit2's SHA-1DC (struct
 * reader), and snap_diff_lines (--stat) counts lines as multisets instead
 * of running xdiff (rows_changed). Profile 6 in bench/PROFILE.md.
 *
 * Trees come from a repository that may be hostile: files are listed by
 * snap_files (entries checked, sealed names opened, plain path order) and
 * read by snap_blob_read (a blob larger than DIFF_BLOB_MAX is refused before
 * it is read; a sealed one is authenticated), as everywhere in the store.
 */
#include <git2.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dbgit/store.h"
#include "dbgit/util.h"
#include "store_internal.h"

/* Text chunks are at most 1 MiB (chunk.c); this leaves room, and bounds
 * what a crafted tree can make diff hold. */
#define DIFF_BLOB_MAX ((size_t)64 << 20)
/* Changed chunks diffed in one piece, per side: about 4 MiB (xdiff
 * needs several times that). */
#define RUN_MAX 16
#ifndef DIFF_WINDOW
#define DIFF_WINDOW ((size_t)2 << 20)
#define DIFF_MAPPED ((size_t)8 << 20)
#endif

/* One chunk file of a side, in tree order. */
struct entry {
	char *logical;
	char *path;
	git_oid id;
	int side;
};

struct side_walk {
	struct entry *e;
	size_t n, cap;
	int side;
	const char *suffix;
	const char *commit[2];
	const struct crypt_key *key[2]; /* each side's, NULL if plain */
};

/* Keeps a file of the side being listed if it ends in the suffix. */
static void add_entry(struct side_walk *w, const char *path, const git_oid *id)
{
	size_t plen = strlen(path), slen = strlen(w->suffix);
	if (plen < slen || strcmp(path + plen - slen, w->suffix))
		return;
	if (w->n == w->cap) {
		w->cap = w->cap ? 2 * w->cap : 64;
		w->e = realloc(w->e, w->cap * sizeof(*w->e));
	}
	struct entry *e = &w->e[w->n++];
	e->logical = chunk_logical_name(path);
	e->path = xstrdup(path);
	e->id = *id;
	e->side = w->side;
}

/* Logical file, then side, then path (byte-wise, as restores concatenate
 * chunks): each file's chunks of each side end up adjacent, in order. */
static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int c = strcmp(x->logical, y->logical);
	if (c)
		return c;
	if (x->side != y->side)
		return x->side - y->side;
	return strcmp(x->path, y->path);
}

/* Where a thread reads chunks from: its own repository handle (libgit2
 * objects are not shared between threads). verify: libgit2's own check of
 * each object against its id is off for this diff (it hashes with SHA-1DC,
 * about a third of a diff's time) and plain chunks are hashed here instead,
 * with OpenSSL's SHA-1, as packw.c does; sealed chunks keep libgit2's check. */
struct reader {
	git_repository *repo;
	int verify;
};

/* 0 if data is the blob id names ("blob <len>\0" + data, SHA-1). */
static int same_id(const git_oid *id, const char *data, size_t len)
{
	char head[32];
	int hl = snprintf(head, sizeof(head), "blob %zu", len);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok = c && EVP_DigestInit_ex(c, EVP_sha1(), NULL) == 1 &&
		 EVP_DigestUpdate(c, head, (size_t)hl + 1) == 1 && EVP_DigestUpdate(c, data, len) == 1 &&
		 EVP_DigestFinal_ex(c, md, &mdlen) == 1 && mdlen == GIT_OID_RAWSZ;
	EVP_MD_CTX_free(c);
	return ok && !memcmp(md, id->id, GIT_OID_RAWSZ) ? 0 : -1;
}

/* The one place diff reads a chunk's bytes: through snap_blob_read, which
 * checks the size before reading and opens a sealed blob with the side's
 * key. b is released by the caller (snap_blob_release). */
static int read_chunk(const struct reader *r, const struct crypt_key *key, const char *commit,
		      const git_oid *id, const char *logical, struct snap_blob *b)
{
	if (sig_check() < 0)
		return ERR_INTERRUPTED;
	int rc = snap_blob_read(r->repo, key, id, DIFF_BLOB_MAX, commit, logical, b);
	if (rc == 0 && r->verify && !key && same_id(id, b->data, b->len) < 0)
		rc = err_set(ERR_VERIFY, "snapshot %.12s: %s (blob %.12s) does not hold what its id says",
			     commit, logical, git_oid_tostr_s(id));
	return rc;
}

static size_t count_lines(const char *p, size_t n)
{
	size_t lines = 0;
	const char *end = p + n;
	while (p < end && (p = memchr(p, '\n', (size_t)(end - p)))) {
		lines++;
		p++;
	}
	return lines;
}

/* One logical file's two chunk lists. */
struct lfile {
	const char *logical;
	const git_oid *ids[2];
	size_t n[2];
	int printed_header;
	const struct crypt_key *key[2]; /* each side's, NULL if plain */
	const char *commit[2];
};

struct printer {
	FILE *out;
	int color;
	struct lfile *f;
	size_t off[2]; /* lines before the piece being printed, per side */
	int hunks;
	/* snap_diff_lines: lines handed over instead of printed. */
	const struct snap_diff_cb *cb;
	void *arg;
	int cb_rc;
};

static void print_colored(struct printer *p, const char *color, const char *text, size_t len)
{
	if (p->color && color)
		fputs(color, p->out);
	fwrite(text, 1, len, p->out);
	if (p->color && color)
		fputs("\033[m", p->out);
}

static void print_header(struct printer *p)
{
	struct lfile *f = p->f;
	if (f->printed_header)
		return;
	f->printed_header = 1;
	struct buf h = BUF_INIT;
	buf_printf(&h, "diff --git a/%s b/%s\n", f->logical, f->logical);
	if (!f->n[0])
		buf_printf(&h, "new file mode 100644\n--- /dev/null\n+++ b/%s\n", f->logical);
	else if (!f->n[1])
		buf_printf(&h, "deleted file mode 100644\n--- a/%s\n+++ /dev/null\n", f->logical);
	else
		buf_printf(&h, "--- a/%s\n+++ b/%s\n", f->logical, f->logical);
	print_colored(p, "\033[1m", h.data, h.len);
	buf_free(&h);
}

/* "-12,3" as xdiff writes it: the count left out when it is 1. */
static void range(struct buf *b, char sign, size_t start, size_t lines)
{
	if (lines == 1)
		buf_printf(b, "%c%zu", sign, start);
	else
		buf_printf(b, "%c%zu,%zu", sign, start, lines);
}

/*
 * A piece's diff, as the thread that diffed it left it: the bytes to print
 * (or, for snap_diff_lines, the lines to hand over), with its hunk headers
 * kept apart, because their line numbers are the file's and depend on the
 * pieces before it. So the piece's joined chunks are dropped as soon as it
 * is diffed, and the main thread only writes.
 */
struct hunk_at {
	size_t pos;	       /* in out: the bytes before it are printed first */
	size_t tail;	       /* out[pos, pos + tail): what git shows after "@@" */
	size_t os, ol, ns, nl; /* as xdiff gave them, the piece's own numbers */
};

struct rendered {
	int color, lines; /* lines: records "<origin><size_t len><text>" */
	struct buf out;
	struct hunk_at *h;
	size_t n_h, cap_h;
};

static int render_line(const git_diff_delta *d, const git_diff_hunk *h, const git_diff_line *l, void *payload)
{
	(void)d;
	/* A stop signal ends the piece. */
	if (sig_pending())
		return GIT_EUSER;
	struct rendered *r = payload;
	if (l->origin == GIT_DIFF_LINE_HUNK_HDR) {
		if (r->n_h == r->cap_h) {
			r->cap_h = r->cap_h ? 2 * r->cap_h : 16;
			r->h = realloc(r->h, r->cap_h * sizeof(*r->h));
		}
		struct hunk_at *x = &r->h[r->n_h++];
		x->pos = r->out.len;
		x->os = (size_t)h->old_start, x->ol = (size_t)h->old_lines;
		x->ns = (size_t)h->new_start, x->nl = (size_t)h->new_lines;
		x->tail = 0;
		if (r->lines)
			return 0;
		/* What git shows after the second "@@": kept as it came. */
		const char *tail =
		    h->header_len > 2 ? memmem(h->header + 2, h->header_len - 2, "@@", 2) : NULL;
		if (tail) {
			x->tail = h->header_len - (size_t)(tail + 2 - h->header);
			buf_add(&r->out, tail + 2, x->tail);
		} else {
			x->tail = 1;
			buf_puts(&r->out, "\n");
		}
		return 0;
	}
	if (r->lines) {
		if (l->origin != GIT_DIFF_LINE_ADDITION && l->origin != GIT_DIFF_LINE_DELETION)
			return 0;
		/* Without its newline, as one row. */
		size_t n = l->content_len;
		if (n && l->content[n - 1] == '\n')
			n--;
		char o = (char)l->origin;
		buf_add(&r->out, &o, 1);
		buf_add(&r->out, &n, sizeof(n));
		buf_add(&r->out, l->content, n);
		return 0;
	}
	switch (l->origin) {
	case GIT_DIFF_LINE_FILE_HDR: return 0; /* the logical file's header is ours (print_header) */
	case GIT_DIFF_LINE_ADDITION:
	case GIT_DIFF_LINE_DELETION:
	case GIT_DIFF_LINE_CONTEXT: {
		const char *color = l->origin == GIT_DIFF_LINE_ADDITION	  ? "\033[32m"
				    : l->origin == GIT_DIFF_LINE_DELETION ? "\033[31m"
									  : NULL;
		if (r->color && color)
			buf_puts(&r->out, color);
		char o = (char)l->origin;
		buf_add(&r->out, &o, 1);
		buf_add(&r->out, l->content, l->content_len);
		if (r->color && color)
			buf_puts(&r->out, "\033[m");
		return 0;
	}
	default: buf_add(&r->out, l->content, l->content_len); return 0;
	}
}

/* Writes (or hands over) a rendered piece whose first line is line
 * p->off[side] + 1 of each file. */
static int emit(struct printer *p, const struct rendered *r)
{
	size_t at = 0;
	if (p->cb) {
		p->hunks += (int)r->n_h;
		while (at < r->out.len) {
			char o = r->out.data[at];
			size_t n;
			memcpy(&n, r->out.data + at + 1, sizeof(n));
			const char *text = r->out.data + at + 1 + sizeof(n);
			at += 1 + sizeof(n) + n;
			if (sig_pending())
				return sig_check();
			if ((p->cb_rc = p->cb->line(p->arg, p->f->logical, o, text, n)) != 0)
				return p->cb_rc;
		}
		return 0;
	}
	for (size_t k = 0; k < r->n_h; k++) {
		/* A huge diff into a pager: a stop signal ends the printing. */
		if (sig_pending())
			return sig_check();
		const struct hunk_at *x = &r->h[k];
		fwrite(r->out.data + at, 1, x->pos - at, p->out);
		/* The piece's line numbers moved to the file's. */
		print_header(p);
		p->hunks++;
		struct buf b = BUF_INIT;
		size_t os = x->ol || x->os ? x->os + p->off[0] : p->off[0];
		size_t ns = x->nl || x->ns ? x->ns + p->off[1] : p->off[1];
		buf_puts(&b, "@@ ");
		range(&b, '-', os, x->ol);
		buf_puts(&b, " ");
		range(&b, '+', ns, x->nl);
		buf_puts(&b, " @@");
		buf_add(&b, r->out.data + x->pos, x->tail);
		print_colored(p, "\033[36m", b.data, b.len);
		buf_free(&b);
		at = x->pos + x->tail;
	}
	if (r->out.len > at) /* an empty piece's buffer is NULL */
		fwrite(r->out.data + at, 1, r->out.len - at, p->out);
	return 0;
}

/* Appends chunks [from, to) of one side to out; *lines_before_mark: the
 * lines of the chunks before index mark. */
static int join(const struct reader *r, const struct lfile *f, int side, size_t from, size_t to, size_t mark,
		struct buf *out, size_t *lines_before_mark)
{
	/* The room at once, from the objects' headers: growing by doubling
	 * would hold up to twice the piece (issue 10's memory bound). A
	 * sealed chunk's header says its sealed size: left to grow. */
	git_odb *odb = NULL;
	if (!f->key[side] && git_repository_odb(&odb, r->repo) == 0) {
		size_t need = out->len + 1, i = from;
		for (; i < to; i++) {
			size_t size = 0;
			git_object_t type;
			if (git_odb_read_header(&size, &type, odb, &f->ids[side][i]) < 0 ||
			    size > DIFF_BLOB_MAX)
				break;
			need += size;
		}
		char *d = i == to && need > out->cap ? realloc(out->data, need) : NULL;
		if (d)
			out->data = d, out->cap = need;
	}
	git_odb_free(odb);
	git_error_clear();
	for (size_t i = from; i < to; i++) {
		struct snap_blob b = SNAP_BLOB_INIT;
		int rc = read_chunk(r, f->key[side], f->commit[side], &f->ids[side][i], f->logical, &b);
		if (rc == 0) {
			if (i < mark)
				*lines_before_mark += count_lines(b.data, b.len);
			buf_add(out, b.data, b.len);
		}
		snap_blob_release(&b);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/*
 * The pieces are independent once planned: a piece is read, joined and
 * diffed (the work: inflate, hashing, xdiff) by whichever thread is free,
 * and printed by the main thread strictly in plan order, so the bytes are
 * those of a one-thread run. At most PIECES_MAX pieces are in flight, so
 * memory is a constant times one piece's whatever the database's size.
 * The main thread plans, prints, and diffs a queued piece itself rather
 * than wait idle for the one it must print next.
 */
#define WORKERS_MAX 4
#define PIECES_MAX  (WORKERS_MAX + 1)

enum { PIECE_FREE, PIECE_QUEUED, PIECE_BUSY, PIECE_DONE };

struct piece {
	/* Planned by the main thread. */
	const struct lfile *f;
	size_t c0, c1; /* unchanged chunks before it, counted (old side's indexes) */
	size_t a0, a1, am, b0, b1, bm;
	int shared; /* starts with the line both sides share (after a split) */
	struct buf prefix;
	unsigned long seq;
	int state;
	/* Made by the thread that took it. */
	size_t counted, lines[2];
	struct rendered r;
	int rc;
	char err[1024];
};

struct pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct piece pieces[PIECES_MAX];
	size_t n_slots;
	unsigned long next, head; /* seq of the next piece planned, printed */
	int quit, paused;
	int stopped; /* a piece failed or its printing was stopped: no more output */
	size_t n_threads;
	pthread_t th[WORKERS_MAX];
	struct reader rd[WORKERS_MAX];
	struct reader main_rd;
};

/*
 * snap_diff_lines needs the rows, not a diff: what it is handed is counted
 * by key (engine.h's text stat: same key and same text on both sides is no
 * change), so the lines of the old side that the new side lacks, and the
 * other way round, counted as multisets, tell the same as xdiff's - and +
 * lines: xdiff's differ only by lines it shows as removed and added again,
 * the very same text on both sides, which that count drops. Without xdiff
 * or its hashing of both buffers this is a few times cheaper.
 */
struct mline {
	const char *p;
	size_t n; /* with its newline, if it has one: xdiff compares so */
	uint64_t h;
	size_t left; /* occurrences on the new side not yet matched */
};

/* Eight bytes a step: this hashes every line of both sides. */
static uint64_t line_hash(const char *p, size_t n)
{
	uint64_t h = (uint64_t)n * 0x9E3779B97F4A7C15ULL, w;
	for (; n >= 8; p += 8, n -= 8) {
		memcpy(&w, p, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
	}
	w = 0;
	memcpy(&w, p, n);
	h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
	return h ^ (h >> 29);
}

static const char *line_end(const char *p, const char *end)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	return nl ? nl + 1 : end;
}

static void add_row(struct rendered *r, char o, const char *p, size_t n)
{
	if (n && p[n - 1] == '\n')
		n--;
	buf_add(&r->out, &o, 1);
	buf_add(&r->out, &n, sizeof(n));
	buf_add(&r->out, p, n);
}

static int rows_changed(const struct buf *a, const struct buf *b, struct rendered *r)
{
	size_t nb = count_lines(b->data, b->len) + 1, cap = 16;
	while (cap < 2 * nb)
		cap *= 2;
	struct mline *t = calloc(cap, sizeof(*t));
	size_t *slot = malloc(nb * sizeof(*slot)), i = 0;
	if (!t || !slot) {
		free(t);
		free(slot);
		return err_set(ERR_GENERIC, "out of memory");
	}
	const char *end = b->data + b->len;
	for (const char *q = b->data; q < end;) {
		const char *e = line_end(q, end);
		uint64_t h = line_hash(q, (size_t)(e - q));
		size_t k = (size_t)h & (cap - 1);
		while (t[k].p && (t[k].h != h || t[k].n != (size_t)(e - q) || memcmp(t[k].p, q, t[k].n)))
			k = (k + 1) & (cap - 1);
		if (!t[k].p)
			t[k] = (struct mline){q, (size_t)(e - q), h, 0};
		t[k].left++;
		slot[i++] = k;
		q = e;
	}
	end = a->data + a->len;
	for (const char *q = a->data; q < end;) {
		if (sig_pending())
			break;
		const char *e = line_end(q, end);
		uint64_t h = line_hash(q, (size_t)(e - q));
		size_t k = (size_t)h & (cap - 1);
		while (t[k].p && (t[k].h != h || t[k].n != (size_t)(e - q) || memcmp(t[k].p, q, t[k].n)))
			k = (k + 1) & (cap - 1);
		if (t[k].p && t[k].left)
			t[k].left--;
		else
			add_row(r, GIT_DIFF_LINE_DELETION, q, (size_t)(e - q));
		q = e;
	}
	/* The new side's lines left unmatched (which of equal ones is all
	 * the same), in its order. */
	end = b->data + b->len;
	i = 0;
	for (const char *q = b->data; q < end && !sig_pending();) {
		const char *e = line_end(q, end);
		size_t k = slot[i++];
		if (t[k].left) {
			t[k].left--;
			add_row(r, GIT_DIFF_LINE_ADDITION, q, (size_t)(e - q));
		}
		q = e;
	}
	free(t);
	free(slot);
	return sig_pending() ? sig_check() : 0;
}

/* Reads, joins and diffs one planned piece (any thread). */
static void piece_run(const struct reader *r, struct piece *pc, int worker)
{
	int had_error = err_code() != 0;
	const struct lfile *f = pc->f;
	int rc = 0;
	pc->counted = 0;
	pc->lines[0] = pc->lines[1] = pc->shared ? 1 : 0;
	/* Unchanged chunks before it: the same on both sides, counted once,
	 * never diffed. */
	for (size_t i = pc->c0; i < pc->c1 && rc == 0; i++) {
		struct snap_blob b = SNAP_BLOB_INIT;
		if ((rc = read_chunk(r, f->key[0], f->commit[0], &f->ids[0][i], f->logical, &b)) == 0)
			pc->counted += count_lines(b.data, b.len);
		snap_blob_release(&b);
	}
	/* After a split: the line both sides share, as context. */
	struct buf a = BUF_INIT, b = BUF_INIT;
	git_patch *patch = NULL;
	if (rc == 0 && pc->shared) {
		buf_add(&a, pc->prefix.data, pc->prefix.len);
		buf_add(&b, pc->prefix.data, pc->prefix.len);
	}
	if (rc == 0)
		rc = join(r, f, 0, pc->a0, pc->a1, pc->am, &a, &pc->lines[0]);
	if (rc == 0)
		rc = join(r, f, 1, pc->b0, pc->b1, pc->bm, &b, &pc->lines[1]);
	if (rc == 0 && pc->r.lines) {
		rc = rows_changed(&a, &b, &pc->r);
	} else if (rc == 0) {
		git_diff_options opts;
		git_diff_options_init(&opts, GIT_DIFF_OPTIONS_VERSION);
		opts.context_lines = 1;
		if (git_patch_from_buffers(&patch, a.data, a.len, f->logical, b.data, b.len, f->logical,
					   &opts) < 0)
			rc = store_git_error(f->logical);
	}
	if (rc == 0 && patch && git_patch_num_hunks(patch) > 0 &&
	    git_patch_print(patch, render_line, &pc->r) < 0)
		rc = sig_pending() ? sig_check() : store_git_error(f->logical);
	/* Only the diff's own lines outlive the piece's work. */
	git_patch_free(patch);
	buf_free(&a);
	buf_free(&b);
	pc->rc = rc;
	/* The message lives in this thread's error state: carried over, and
	 * set again when the piece's turn to print comes. The main thread's
	 * state keeps an error it had before (the run's first). */
	if (rc < 0)
		snprintf(pc->err, sizeof(pc->err), "%s", err_last());
	if (worker || (rc < 0 && !had_error))
		err_clear();
}

static void piece_clear(struct piece *pc)
{
	buf_free(&pc->r.out);
	free(pc->r.h);
	memset(&pc->r, 0, sizeof(pc->r));
	buf_free(&pc->prefix);
	pc->state = PIECE_FREE;
}

/* The queued piece planned first, or NULL. Called with mu held. */
static struct piece *pool_take(struct pool *pl)
{
	struct piece *best = NULL;
	for (size_t i = 0; i < pl->n_slots; i++)
		if (pl->pieces[i].state == PIECE_QUEUED && (!best || pl->pieces[i].seq < best->seq))
			best = &pl->pieces[i];
	if (best)
		best->state = PIECE_BUSY;
	return best;
}

struct worker_arg {
	struct pool *pl;
	size_t k;
};

static void *worker_main(void *arg)
{
	struct worker_arg *wa = arg;
	struct pool *pl = wa->pl;
	const struct reader *r = &pl->rd[wa->k];
	pthread_mutex_lock(&pl->mu);
	while (!pl->quit) {
		struct piece *pc = pool_take(pl);
		if (!pc) {
			pthread_cond_wait(&pl->cv, &pl->mu);
			continue;
		}
		pthread_mutex_unlock(&pl->mu);
		piece_run(r, pc, 1);
		pthread_mutex_lock(&pl->mu);
		pc->state = PIECE_DONE;
		pthread_cond_broadcast(&pl->cv);
	}
	pthread_mutex_unlock(&pl->mu);
	git_repository_free((git_repository *)r->repo);
	free(wa);
	return NULL;
}

/* How many threads diff beside the main one: one per other core, at most
 * WORKERS_MAX; none on one core. DBGIT_TEST_DIFF_WORKERS (test builds
 * only) sets it, so that a test can compare with a one-thread run. */
static size_t pool_workers(void)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	size_t n = cores > 1 ? (size_t)cores - 1 : 0;
#ifdef DBGIT_TEST_HOOKS
	const char *e = getenv("DBGIT_TEST_DIFF_WORKERS");
	if (e && *e)
		n = (size_t)strtoul(e, NULL, 10);
#endif
	return n > WORKERS_MAX ? WORKERS_MAX : n;
}

static void pool_start(struct pool *pl, git_repository *repo, int verify)
{
	memset(pl, 0, sizeof(*pl));
	pthread_mutex_init(&pl->mu, NULL);
	pthread_cond_init(&pl->cv, NULL);
	pl->main_rd.repo = repo;
	pl->main_rd.verify = verify;
	size_t want = pool_workers();
	const char *path = git_repository_path(repo);
	for (size_t k = 0; k < want; k++) {
		git_repository *own = NULL;
		/* Without a thread (no handle, no thread): the main thread
		 * does all the work, as before. */
		if (git_repository_open_ext(
			&own, path, GIT_REPOSITORY_OPEN_NO_SEARCH | GIT_REPOSITORY_OPEN_BARE, NULL) < 0) {
			git_error_clear();
			break;
		}
		struct worker_arg *wa = malloc(sizeof(*wa));
		wa->pl = pl;
		wa->k = k;
		pl->rd[k].repo = own;
		pl->rd[k].verify = verify;
		if (sig_thread_create(&pl->th[k], worker_main, wa) != 0) {
			git_repository_free(own);
			free(wa);
			break;
		}
		pl->n_threads++;
	}
	pl->n_slots = pl->n_threads + 1;
}

static void pool_stop(struct pool *pl)
{
	pthread_mutex_lock(&pl->mu);
	pl->quit = 1;
	pthread_cond_broadcast(&pl->cv);
	pthread_mutex_unlock(&pl->mu);
	for (size_t k = 0; k < pl->n_threads; k++)
		pthread_join(pl->th[k], NULL);
	for (size_t i = 0; i < PIECES_MAX; i++)
		piece_clear(&pl->pieces[i]);
	pthread_cond_destroy(&pl->cv);
	pthread_mutex_destroy(&pl->mu);
}

/* Prints the next piece in plan order once it is diffed (doing queued
 * pieces meanwhile), moving p->off as a one-thread run would; print 0:
 * only waits for it and drops it (after an error). */
static int pool_print_head(struct pool *pl, struct printer *p, int print)
{
	struct piece *pc = &pl->pieces[pl->head % pl->n_slots];
	/* Tests stop the run here, pieces in flight on other threads. */
	if (!pl->paused && pl->next - pl->head >= 2) {
		pl->paused = 1;
		TEST_PAUSE("DBGIT_TEST_PAUSE_DIFF", "diff", "pieces");
	}
	pthread_mutex_lock(&pl->mu);
	while (pc->state != PIECE_DONE) {
		struct piece *q = pool_take(pl);
		if (q) {
			pthread_mutex_unlock(&pl->mu);
			piece_run(&pl->main_rd, q, 0);
			pthread_mutex_lock(&pl->mu);
			q->state = PIECE_DONE;
			pthread_cond_broadcast(&pl->cv);
		} else {
			pthread_cond_wait(&pl->cv, &pl->mu);
		}
	}
	pthread_mutex_unlock(&pl->mu);
	pl->head++;
	/* Dropped: it says nothing, done or failed. */
	int rc = print ? pc->rc : 0;
	if (rc < 0)
		/* Before any error of the planner's: it was planned after. */
		err_reset(rc, "%s", pc->err);
	if (rc == 0 && print) {
		p->off[0] += pc->counted;
		p->off[1] += pc->counted;
		if (pc->shared)
			p->off[0]--, p->off[1]--;
		rc = emit(p, &pc->r);
		p->off[0] += pc->lines[0];
		p->off[1] += pc->lines[1];
	}
	if (rc != 0)
		pl->stopped = 1;
	pthread_mutex_lock(&pl->mu);
	piece_clear(pc);
	pthread_mutex_unlock(&pl->mu);
	return rc;
}

/* Queues a planned piece, first printing the oldest if every slot is
 * taken. */
static int pool_submit(struct pool *pl, struct printer *p, const struct piece *plan)
{
	int rc = 0;
	/* Not only errors: snap_diff_cb's line may ask to stop (> 0). */
	if (pl->next - pl->head == pl->n_slots && (rc = pool_print_head(pl, p, 1)) != 0)
		return rc;
	struct piece *pc = &pl->pieces[pl->next % pl->n_slots];
	pthread_mutex_lock(&pl->mu);
	*pc = *plan;
	pc->r.color = p->color;
	pc->r.lines = p->cb != NULL;
	pc->seq = pl->next++;
	pc->state = PIECE_QUEUED;
	pthread_cond_broadcast(&pl->cv);
	pthread_mutex_unlock(&pl->mu);
	return 0;
}

/* Prints every piece still in flight, in order, up to one that failed
 * (then only waits for the rest and drops them); then planned is the
 * planner's result. A one-thread run would have printed them all before
 * it planned further: the output up to an error is the same. */
static int pool_drain(struct pool *pl, struct printer *p, int planned)
{
	int rc = 0;
	while (pl->head != pl->next) {
		int r = pool_print_head(pl, p, rc == 0 && !pl->stopped);
		if (rc == 0)
			rc = r;
	}
	return rc ? rc : planned;
}

/* The last line of a chunk (with its newline) into out; empty if the
 * chunk does not end a line. */
static int last_line(const struct reader *r, const struct lfile *f, int side, size_t i, struct buf *out)
{
	struct snap_blob b = SNAP_BLOB_INIT;
	buf_clear(out);
	int rc = read_chunk(r, f->key[side], f->commit[side], &f->ids[side][i], f->logical, &b);
	const char *d = b.data;
	size_t n = rc == 0 ? b.len : 0;
	if (n && d[n - 1] == '\n') {
		size_t start = n - 1;
		while (start > 0 && d[start - 1] != '\n')
			start--;
		buf_add(out, d + start, n - start);
	}
	snap_blob_release(&b);
	return rc;
}

/* A long run of changed chunks is diffed in pieces. Where to end the
 * first: after old chunk t0 - 1 and new chunk t1 - 1 that end with the
 * same line, so that each piece holds the same rows on both sides and the
 * pieces' diffs add up to the run's. The latest such old chunk within
 * RUN_MAX; common receives the line. Without one, RUN_MAX chunks of each
 * side (still a correct diff, perhaps not the shortest). */
static int find_split(const struct reader *r, const struct lfile *f, size_t g0, size_t e0, size_t g1,
		      size_t e1, size_t *t0, size_t *t1, struct buf *common)
{
	size_t m0 = e0 - g0 > RUN_MAX ? RUN_MAX : e0 - g0, m1 = e1 - g1 > 2 * RUN_MAX ? 2 * RUN_MAX : e1 - g1;
	/* New chunks' last lines, read when first needed: boundaries mostly
	 * fall on the same lines on both sides, so the first tries match. */
	struct buf *ends = calloc(m1 ? m1 : 1, sizeof(*ends));
	char *have = calloc(m1 ? m1 : 1, 1);
	struct buf line = BUF_INIT;
	int rc = 0, found = 0;
	buf_clear(common);
	for (size_t c = m0; c-- > 0 && rc == 0 && !found;) {
		if ((rc = last_line(r, f, 0, g0 + c, &line)) < 0 || !line.len)
			continue;
		/* Nearest first: c, c - 1, c + 1, c - 2, ... */
		for (size_t step = 0; step < 2 * m1 && !found && rc == 0; step++) {
			size_t off = (step + 1) / 2;
			if (step % 2 ? c < off : c + off >= m1)
				continue;
			size_t d = step % 2 ? c - off : c + off;
			if (!have[d]) {
				ends[d] = (struct buf)BUF_INIT;
				if ((rc = last_line(r, f, 1, g1 + d, &ends[d])) < 0)
					break;
				have[d] = 1;
			}
			if (ends[d].len != line.len || memcmp(ends[d].data, line.data, line.len))
				continue;
			/* Not the whole run on one side only: the rest of the
			 * other would follow with no context. */
			if ((g0 + c + 1 == e0) != (g1 + d + 1 == e1))
				continue;
			*t0 = g0 + c + 1;
			*t1 = g1 + d + 1;
			buf_add(common, line.data, line.len);
			found = 1;
		}
	}
	if (!found) {
		*t0 = g0 + m0;
		*t1 = g1 + (e1 - g1 > RUN_MAX ? RUN_MAX : e1 - g1);
	}
	for (size_t d = 0; d < m1; d++)
		if (have[d])
			buf_free(&ends[d]);
	free(ends);
	free(have);
	buf_free(&line);
	return rc;
}

/* The next chunk both sides share at or after (*i, *j): the first old
 * chunk, in order, that the new side holds at or after *j. n0/n1 when
 * there is none. new_pos[k] is the new side's index of its k-th chunk in
 * id order (sorted), for a binary search. */
struct idpos {
	git_oid id;
	size_t pos;
};

static int cmp_idpos(const void *a, const void *b)
{
	const struct idpos *x = a, *y = b;
	int c = git_oid_cmp(&x->id, &y->id);
	return c ? c : (x->pos > y->pos) - (x->pos < y->pos);
}

static void next_anchor(const struct lfile *f, const struct idpos *sorted, size_t i, size_t j, size_t *ai,
			size_t *aj)
{
	for (; i < f->n[0]; i++) {
		/* The first entry with this id at a position >= j. */
		size_t lo = 0, hi = f->n[1];
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			int c = git_oid_cmp(&sorted[mid].id, &f->ids[0][i]);
			if (c < 0 || (c == 0 && sorted[mid].pos < j))
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < f->n[1] && git_oid_equal(&sorted[lo].id, &f->ids[0][i])) {
			*ai = i;
			*aj = sorted[lo].pos;
			return;
		}
	}
	*ai = f->n[0];
	*aj = f->n[1];
}

/* One logical file: its runs of changed chunks, each diffed with the
 * unchanged chunk before and after it. */
static int diff_file(struct pool *pl, struct printer *p)
{
	struct lfile *f = p->f;
	size_t n0 = f->n[0], n1 = f->n[1];
	struct idpos *sorted = calloc(n1 ? n1 : 1, sizeof(*sorted));
	/* Anchors: pairs (i, j) of the same chunk on both sides, in order. */
	size_t *anc = calloc(2 * (n0 + 1), sizeof(*anc)), na = 0;
	struct buf prefix = BUF_INIT, common = BUF_INIT;
	int rc = 0;
	for (size_t k = 0; k < n1; k++) {
		sorted[k].id = f->ids[1][k];
		sorted[k].pos = k;
	}
	qsort(sorted, n1, sizeof(*sorted), cmp_idpos);
	size_t i = 0, j = 0;
	while (i < n0 && j < n1) {
		size_t ai, aj;
		if (git_oid_equal(&f->ids[0][i], &f->ids[1][j])) {
			ai = i, aj = j;
		} else {
			next_anchor(f, sorted, i, j, &ai, &aj);
			if (ai == n0)
				break;
		}
		anc[2 * na] = ai;
		anc[2 * na + 1] = aj;
		na++;
		i = ai + 1;
		j = aj + 1;
	}
	/* The gaps between anchors, in order; anchor -1 is before the
	 * files, anchor na after them. pos/off: the first chunk of each side
	 * whose lines are not yet in off. */
	size_t pos[2] = {0, 0};
	p->off[0] = p->off[1] = 0;
	for (size_t k = 0; k <= na && rc == 0; k++) {
		size_t g0 = k ? anc[2 * k - 2] + 1 : 0, g1 = k ? anc[2 * k - 1] + 1 : 0;
		size_t e0 = k < na ? anc[2 * k] : n0, e1 = k < na ? anc[2 * k + 1] : n1;
		if (g0 == e0 && g1 == e1)
			continue;
		/* The piece starts with the unchanged chunk before the gap;
		 * lines handed over (snap_diff_lines) need no context nor
		 * line numbers: only the changed chunks are read. */
		int ctx = !p->cb;
		size_t s0 = k && ctx ? g0 - 1 : g0, s1 = k && ctx ? g1 - 1 : g1;
		/* Unchanged chunks up to there: counted by the first piece. */
		size_t c0 = pos[0], c1 = ctx && pos[0] < s0 ? s0 : pos[0];
		pos[0] = c1, pos[1] += c1 - c0;
		buf_clear(&prefix);
		while (rc == 0 && (g0 < e0 || g1 < e1)) {
			size_t t0 = e0, t1 = e1;
			if ((e0 - g0 > RUN_MAX || e1 - g1 > RUN_MAX) &&
			    (rc = find_split(&pl->main_rd, f, g0, e0, g1, e1, &t0, &t1, &common)) < 0)
				goto out;
			/* The unchanged chunk after the gap closes the last
			 * piece: context, and no hunk runs to its edge. */
			int tail = ctx && t0 == e0 && t1 == e1 && k < na;
			struct piece plan = {.f = f,
					     .c0 = c0,
					     .c1 = c1,
					     .a0 = s0,
					     .a1 = t0 + tail,
					     .am = t0,
					     .b0 = s1,
					     .b1 = t1 + tail,
					     .bm = t1,
					     .shared = prefix.len > 0};
			buf_add(&plan.prefix, prefix.data, prefix.len);
			c0 = c1;
			if ((rc = pool_submit(pl, p, &plan)) != 0) {
				buf_free(&plan.prefix);
				goto out;
			}
			buf_clear(&prefix);
			if (t0 != e0 || t1 != e1)
				buf_add(&prefix, common.data, common.len);
			s0 = g0 = pos[0] = t0;
			s1 = g1 = pos[1] = t1;
		}
	}
out:
	/* Every piece printed (or, after an error, dropped) before the
	 * file's chunk lists go. */
	rc = pool_drain(pl, p, rc);
	buf_free(&prefix);
	buf_free(&common);
	free(sorted);
	free(anc);
	return rc;
}

static int diff_trees(struct store *st, const char *old_hex, const char *new_hex, const char *suffix,
		      struct printer *tmpl, int *n_changed)
{
	struct side_walk w = {0};
	int rc = 0;
	*n_changed = 0;
	w.suffix = suffix;
	w.commit[0] = old_hex;
	w.commit[1] = new_hex;
	for (w.side = 0; w.side < 2; w.side++) {
		struct snap_file *files;
		size_t n;
		if ((rc = snap_files(st->repo, st->key, w.commit[w.side], &files, &n, &w.key[w.side])) < 0)
			goto out;
		for (size_t i = 0; i < n; i++)
			add_entry(&w, files[i].path, &files[i].id);
		snap_files_free(files, n);
	}
	if (w.n == 0)
		goto out;
	/* One sort instead of a search per chunk: n log n for any tree. */
	qsort(w.e, w.n, sizeof(*w.e), cmp_entry);
	git_oid *ids = calloc(w.n ? w.n : 1, sizeof(*ids));
	for (size_t i = 0; i < w.n; i++)
		ids[i] = w.e[i].id;
	/* Plain chunks are checked against their ids by read_chunk (see
	 * struct reader); the trees were checked by libgit2 above. */
	int verify = !w.key[0] && !w.key[1];
	if (verify)
		git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, 0);
	/* Memory: a diff reads the pack from end to end, once; mapped
	 * windows it has left are not read again, so a few suffice, and the
	 * pieces in flight get the room (issue 10: 64 MiB for the whole). */
	size_t win = 0, mapped = 0;
	git_libgit2_opts(GIT_OPT_GET_MWINDOW_SIZE, &win);
	git_libgit2_opts(GIT_OPT_GET_MWINDOW_MAPPED_LIMIT, &mapped);
	git_libgit2_opts(GIT_OPT_SET_MWINDOW_SIZE, DIFF_WINDOW);
	git_libgit2_opts(GIT_OPT_SET_MWINDOW_MAPPED_LIMIT, DIFF_MAPPED);
	struct pool pl;
	pool_start(&pl, st->repo, verify);
	for (size_t i = 0; i < w.n && rc == 0;) {
		struct lfile f = {w.e[i].logical,	{ids + i, NULL},   {0, 0}, 0,
				  {w.key[0], w.key[1]}, {old_hex, new_hex}};
		size_t k = i;
		while (k < w.n && !strcmp(w.e[k].logical, f.logical) && w.e[k].side == 0)
			k++;
		f.n[0] = k - i;
		f.ids[1] = ids + k;
		while (k < w.n && !strcmp(w.e[k].logical, f.logical))
			k++;
		f.n[1] = (size_t)(ids + k - f.ids[1]);
		i = k;
		if (f.n[0] == f.n[1] && !memcmp(f.ids[0], f.ids[1], f.n[0] * sizeof(git_oid)))
			continue;
		struct printer p = *tmpl;
		p.f = &f;
		if (p.cb && (rc = p.cb->file(p.arg, f.logical, f.n[0] > 0, f.n[1] > 0)) != 0)
			break;
		rc = diff_file(&pl, &p);
		if (p.hunks > 0)
			(*n_changed)++;
	}
	pool_stop(&pl);
	git_libgit2_opts(GIT_OPT_SET_MWINDOW_SIZE, win);
	git_libgit2_opts(GIT_OPT_SET_MWINDOW_MAPPED_LIMIT, mapped);
	if (verify)
		git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, 1);
	free(ids);
out:
	for (size_t i = 0; i < w.n; i++) {
		free(w.e[i].logical);
		free(w.e[i].path);
	}
	free(w.e);
	return rc;
}

int snap_diff(struct store *st, const char *old_hex, const char *new_hex, const char *suffix, int color,
	      FILE *out, int *n_changed)
{
	struct printer tmpl = {out, color, NULL, {0, 0}, 0, NULL, NULL, 0};
	return diff_trees(st, old_hex, new_hex, suffix, &tmpl, n_changed);
}

int snap_diff_lines(struct store *st, const char *old_hex, const char *new_hex, const char *suffix,
		    const struct snap_diff_cb *cb, void *arg)
{
	struct printer tmpl = {NULL, 0, NULL, {0, 0}, 0, cb, arg, 0};
	int n;
	return diff_trees(st, old_hex, new_hex, suffix, &tmpl, &n);
}

int snap_read_path(struct store *st, const char *commit_hex, const char *path, size_t max, struct buf *out)
{
	struct snap_file *files = NULL;
	const struct crypt_key *key = NULL;
	size_t n = 0;
	int rc = snap_files(st->repo, st->key, commit_hex, &files, &n, &key);
	if (rc < 0)
		return rc;
	buf_clear(out);
	/* The file itself, or a logical file of one chunk: "t/0-schema.sql"
	 * is stored as "t/0-schema-000000.sql" (and nothing after it). */
	const char *dot = strrchr(path, '.');
	const char *slash = strrchr(path, '/');
	if (!dot || (slash && dot < slash))
		dot = path + strlen(path);
	char *first = xasprintf("%.*s-000000%s", (int)(dot - path), path, dot);
	char *second = xasprintf("%.*s-000001%s", (int)(dot - path), path, dot);
	const struct snap_file *hit = NULL;
	int more = 0;
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(files[i].path, path))
			hit = &files[i];
		else if (!strcmp(files[i].path, first) && !hit)
			hit = &files[i];
		else if (!strcmp(files[i].path, second))
			more = 1;
	}
	if (hit && strcmp(hit->path, path) && more)
		hit = NULL;
	if (!hit) {
		rc = err_set(ERR_NOTFOUND, "snapshot %.12s has no file %s (of one chunk)", commit_hex, path);
	} else {
		struct snap_blob b = SNAP_BLOB_INIT;
		rc = snap_blob_read(st->repo, key, &hit->id, max, commit_hex, path, &b);
		if (rc == 0)
			buf_add(out, b.data, b.len);
		snap_blob_release(&b);
	}
	free(first);
	free(second);
	snap_files_free(files, n);
	return rc;
}
