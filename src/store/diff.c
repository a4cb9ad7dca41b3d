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
 * Trees come from a repository that may be hostile: files are listed by
 * snap_files (entries checked, sealed names opened, plain path order) and
 * read by snap_blob_read (a blob larger than DIFF_BLOB_MAX is refused before
 * it is read; a sealed one is authenticated), as everywhere in the store.
 */
#include <git2.h>
#include <stdlib.h>
#include <string.h>

#include "dbgit/store.h"
#include "dbgit/util.h"
#include "store_internal.h"

/* Text chunks are at most 1 MiB (chunk.c); this leaves room, and bounds
 * what a crafted tree can make diff hold. */
#define DIFF_BLOB_MAX ((size_t)64 << 20)
/* Changed chunks diffed in one piece, per side: about 4 MiB (xdiff
 * needs several times that). */
#define RUN_MAX 16

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

/* The one place diff reads a chunk's bytes: through snap_blob_read, which
 * checks the size before reading and opens a sealed blob with the side's
 * key. b is released by the caller (snap_blob_release). */
static int read_chunk(struct store *st, const struct crypt_key *key, const char *commit, const git_oid *id,
		      const char *logical, struct snap_blob *b)
{
	if (sig_check() < 0)
		return ERR_INTERRUPTED;
	return snap_blob_read(st->repo, key, id, DIFF_BLOB_MAX, commit, logical, b);
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

static int print_line(const git_diff_delta *d, const git_diff_hunk *h, const git_diff_line *l, void *payload)
{
	(void)d;
	/* A huge diff into a pager: a stop signal ends the printing. */
	if (sig_pending())
		return GIT_EUSER;
	struct printer *p = payload;
	if (p->cb) {
		if (l->origin == GIT_DIFF_LINE_HUNK_HDR)
			p->hunks++;
		if (l->origin != GIT_DIFF_LINE_ADDITION && l->origin != GIT_DIFF_LINE_DELETION)
			return 0;
		/* Without its newline, as one row. */
		size_t n = l->content_len;
		if (n && l->content[n - 1] == '\n')
			n--;
		p->cb_rc = p->cb->line(p->arg, p->f->logical, (char)l->origin, l->content, n);
		return p->cb_rc ? GIT_EUSER : 0;
	}
	switch (l->origin) {
	case GIT_DIFF_LINE_FILE_HDR:
		return 0; /* the logical file's header is ours (print_header) */
	case GIT_DIFF_LINE_HUNK_HDR: {
		/* The piece's line numbers moved to the file's. */
		print_header(p);
		p->hunks++;
		struct buf b = BUF_INIT;
		size_t os = h->old_lines || h->old_start ? (size_t)h->old_start + p->off[0] : p->off[0];
		size_t ns = h->new_lines || h->new_start ? (size_t)h->new_start + p->off[1] : p->off[1];
		buf_puts(&b, "@@ ");
		range(&b, '-', os, (size_t)h->old_lines);
		buf_puts(&b, " ");
		range(&b, '+', ns, (size_t)h->new_lines);
		buf_puts(&b, " @@");
		/* What git shows after the second "@@": kept as it came. */
		const char *tail = h->header_len > 2 ? memmem(h->header + 2, h->header_len - 2, "@@", 2) : NULL;
		if (tail)
			buf_add(&b, tail + 2, h->header_len - (size_t)(tail + 2 - h->header));
		else
			buf_puts(&b, "\n");
		print_colored(p, "\033[36m", b.data, b.len);
		buf_free(&b);
		return 0;
	}
	case GIT_DIFF_LINE_ADDITION:
	case GIT_DIFF_LINE_DELETION:
	case GIT_DIFF_LINE_CONTEXT: {
		const char *color = l->origin == GIT_DIFF_LINE_ADDITION	  ? "\033[32m"
				    : l->origin == GIT_DIFF_LINE_DELETION ? "\033[31m"
									  : NULL;
		if (p->color && color)
			fputs(color, p->out);
		fputc(l->origin, p->out);
		fwrite(l->content, 1, l->content_len, p->out);
		if (p->color && color)
			fputs("\033[m", p->out);
		return 0;
	}
	default:
		fwrite(l->content, 1, l->content_len, p->out);
		return 0;
	}
}

/* Appends chunks [from, to) of one side to out; *lines_before_mark: the
 * lines of the chunks before index mark. */
static int join(struct store *st, const struct lfile *f, int side, size_t from, size_t to, size_t mark,
		struct buf *out, size_t *lines_before_mark)
{
	for (size_t i = from; i < to; i++) {
		struct snap_blob b = SNAP_BLOB_INIT;
		int rc = read_chunk(st, f->key[side], f->commit[side], &f->ids[side][i], f->logical, &b);
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

/* Lines in chunk i of side (an unchanged chunk: read, counted, dropped). */
static int chunk_lines(struct store *st, const struct lfile *f, int side, size_t i, size_t *lines)
{
	struct snap_blob b = SNAP_BLOB_INIT;
	int rc = read_chunk(st, f->key[side], f->commit[side], &f->ids[side][i], f->logical, &b);
	if (rc == 0)
		*lines = count_lines(b.data, b.len);
	snap_blob_release(&b);
	return rc;
}

/* Diffs old chunks [a0, a1) against new chunks [b0, b1), the piece's
 * first line being line off[side] + 1 of each file; then moves off past
 * the chunks before am (old) and bm (new). */
static int diff_piece(struct store *st, struct printer *p, const struct buf *prefix, size_t a0, size_t a1,
		      size_t am, size_t b0, size_t b1, size_t bm)
{
	struct lfile *f = p->f;
	struct buf a = BUF_INIT, b = BUF_INIT;
	git_patch *patch = NULL;
	size_t lines[2] = {0, 0};
	int rc;
	/* After a split: the line both sides share, as context. */
	if (prefix->len) {
		buf_add(&a, prefix->data, prefix->len);
		buf_add(&b, prefix->data, prefix->len);
		lines[0] = lines[1] = 1;
	}
	if ((rc = join(st, f, 0, a0, a1, am, &a, &lines[0])) < 0 ||
	    (rc = join(st, f, 1, b0, b1, bm, &b, &lines[1])) < 0)
		goto out;
	git_diff_options opts;
	git_diff_options_init(&opts, GIT_DIFF_OPTIONS_VERSION);
	opts.context_lines = 1;
	if (git_patch_from_buffers(&patch, a.data, a.len, f->logical, b.data, b.len, f->logical, &opts) < 0) {
		rc = store_git_error(f->logical);
		goto out;
	}
	if (git_patch_num_hunks(patch) > 0 && git_patch_print(patch, print_line, p) < 0) {
		if (p->cb_rc)
			rc = p->cb_rc;
		else if (sig_pending())
			rc = ERR_INTERRUPTED;
	}
	p->off[0] += lines[0];
	p->off[1] += lines[1];
out:
	git_patch_free(patch);
	buf_free(&a);
	buf_free(&b);
	return rc;
}

/* The last line of a chunk (with its newline) into out; empty if the
 * chunk does not end a line. */
static int last_line(struct store *st, const struct lfile *f, int side, size_t i, struct buf *out)
{
	struct snap_blob b = SNAP_BLOB_INIT;
	buf_clear(out);
	int rc = read_chunk(st, f->key[side], f->commit[side], &f->ids[side][i], f->logical, &b);
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
static int find_split(struct store *st, const struct lfile *f, size_t g0, size_t e0, size_t g1, size_t e1,
		      size_t *t0, size_t *t1, struct buf *common)
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
		if ((rc = last_line(st, f, 0, g0 + c, &line)) < 0 || !line.len)
			continue;
		/* Nearest first: c, c - 1, c + 1, c - 2, ... */
		for (size_t step = 0; step < 2 * m1 && !found && rc == 0; step++) {
			size_t off = (step + 1) / 2;
			if (step % 2 ? c < off : c + off >= m1)
				continue;
			size_t d = step % 2 ? c - off : c + off;
			if (!have[d]) {
				ends[d] = (struct buf)BUF_INIT;
				if ((rc = last_line(st, f, 1, g1 + d, &ends[d])) < 0)
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
static int diff_file(struct store *st, struct printer *p)
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
		/* Unchanged chunks up to there: the same on both sides,
		 * counted once, never diffed. */
		while (ctx && pos[0] < s0) {
			size_t lines = 0;
			if ((rc = chunk_lines(st, f, 0, pos[0], &lines)) < 0)
				goto out;
			p->off[0] += lines;
			p->off[1] += lines;
			pos[0]++, pos[1]++;
		}
		buf_clear(&prefix);
		while (rc == 0 && (g0 < e0 || g1 < e1)) {
			size_t t0 = e0, t1 = e1;
			if ((e0 - g0 > RUN_MAX || e1 - g1 > RUN_MAX) &&
			    (rc = find_split(st, f, g0, e0, g1, e1, &t0, &t1, &common)) < 0)
				goto out;
			/* The unchanged chunk after the gap closes the last
			 * piece: context, and no hunk runs to its edge. */
			int tail = ctx && t0 == e0 && t1 == e1 && k < na;
			if (prefix.len)
				p->off[0]--, p->off[1]--;
			if ((rc = diff_piece(st, p, &prefix, s0, t0 + tail, t0, s1, t1 + tail, t1)) < 0)
				goto out;
			buf_clear(&prefix);
			if (t0 != e0 || t1 != e1)
				buf_add(&prefix, common.data, common.len);
			s0 = g0 = pos[0] = t0;
			s1 = g1 = pos[1] = t1;
		}
	}
out:
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
	for (size_t i = 0; i < w.n && rc == 0;) {
		struct lfile f = {w.e[i].logical, {ids + i, NULL}, {0, 0}, 0, {w.key[0], w.key[1]}, {old_hex, new_hex}};
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
		rc = diff_file(st, &p);
		if (p.hunks > 0)
			(*n_changed)++;
	}
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
