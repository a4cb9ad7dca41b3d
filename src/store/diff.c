/*
 * diff: a unified diff between two snapshots' text files, through libgit2.
 *
 * Files are compared as the logical files the engine wrote, not chunk by
 * chunk: the chunks of "t/1-rows.sql" are joined on each side before the
 * diff, so a row that moved from one chunk to the next (a boundary shift)
 * is not shown as changed. Only logical files whose chunk lists differ are
 * read at all.
 */
#include <git2.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dbgit/store.h"
#include "dbgit/util.h"
#include "store_internal.h"

struct lfile {
	char *logical;
	git_oid *ids[2];
	size_t n[2];
};

struct side_walk {
	struct lfile *files;
	size_t n, cap;
	int side;
	const char *suffix;
	const char *commit[2];
	const struct crypt_key *key[2]; /* each side's, NULL if plain */
};

/* Groups a file of one side under its logical name. */
static int add_file(struct side_walk *w, const char *path, const git_oid *id)
{
	size_t plen = strlen(path), slen = strlen(w->suffix);
	if (plen < slen || strcmp(path + plen - slen, w->suffix))
		return 0;
	char *logical = chunk_logical_name(path);
	struct lfile *f = NULL;
	/* Files come in path order, so a file's chunks are adjacent;
	 * search from the end. */
	for (size_t i = w->n; i-- > 0;)
		if (!strcmp(w->files[i].logical, logical)) {
			f = &w->files[i];
			break;
		}
	if (!f) {
		if (w->n == w->cap) {
			w->cap = w->cap ? 2 * w->cap : 64;
			w->files = realloc(w->files, w->cap * sizeof(*w->files));
		}
		f = &w->files[w->n++];
		memset(f, 0, sizeof(*f));
		f->logical = logical;
	} else {
		free(logical);
	}
	f->ids[w->side] = realloc(f->ids[w->side], (f->n[w->side] + 1) * sizeof(git_oid));
	f->ids[w->side][f->n[w->side]++] = *id;
	return 0;
}

static int join(struct store *st, const struct side_walk *w, const struct lfile *f, int side, struct buf *out)
{
	struct snap_blob b = SNAP_BLOB_INIT;
	int rc = 0;
	buf_clear(out);
	for (size_t i = 0; rc == 0 && i < f->n[side]; i++) {
		if (sig_check() < 0)
			rc = ERR_INTERRUPTED;
		else if ((rc = snap_blob_read(st->repo, w->key[side], &f->ids[side][i], SIZE_MAX / 2, w->commit[side],
					      f->logical, &b)) == 0)
			rc = buf_add(out, b.data, b.len);
	}
	snap_blob_release(&b);
	return rc;
}

struct printer {
	FILE *out;
	int color;
};

static int print_line(const git_diff_delta *d, const git_diff_hunk *h, const git_diff_line *l, void *payload)
{
	(void)d, (void)h;
	/* A huge diff into a pager: a stop signal ends the printing. */
	if (sig_pending())
		return GIT_EUSER;
	struct printer *p = payload;
	const char *color = NULL;
	switch (l->origin) {
	case GIT_DIFF_LINE_ADDITION: color = "\033[32m"; break;
	case GIT_DIFF_LINE_DELETION: color = "\033[31m"; break;
	case GIT_DIFF_LINE_HUNK_HDR: color = "\033[36m"; break;
	case GIT_DIFF_LINE_FILE_HDR: color = "\033[1m"; break;
	}
	if (p->color && color)
		fputs(color, p->out);
	if (l->origin == GIT_DIFF_LINE_ADDITION || l->origin == GIT_DIFF_LINE_DELETION ||
	    l->origin == GIT_DIFF_LINE_CONTEXT)
		fputc(l->origin, p->out);
	fwrite(l->content, 1, l->content_len, p->out);
	if (p->color && color)
		fputs("\033[m", p->out);
	return 0;
}

static int cmp_lfile(const void *a, const void *b)
{
	return strcmp(((const struct lfile *)a)->logical, ((const struct lfile *)b)->logical);
}

int snap_diff(struct store *st, const char *old_hex, const char *new_hex, const char *suffix,
	      int color, FILE *out, int *n_changed)
{
	struct side_walk w = {0};
	struct buf a = BUF_INIT, b = BUF_INIT;
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
			add_file(&w, files[i].path, &files[i].id);
		snap_files_free(files, n);
	}
	qsort(w.files, w.n, sizeof(*w.files), cmp_lfile);
	struct printer p = {out, color};
	git_diff_options opts;
	git_diff_options_init(&opts, GIT_DIFF_OPTIONS_VERSION);
	opts.context_lines = 1;
	for (size_t i = 0; i < w.n; i++) {
		struct lfile *f = &w.files[i];
		if (f->n[0] == f->n[1] && (!f->n[0] || !memcmp(f->ids[0], f->ids[1], f->n[0] * sizeof(git_oid))))
			continue;
		if ((rc = join(st, &w, f, 0, &a)) < 0 || (rc = join(st, &w, f, 1, &b)) < 0)
			goto out;
		git_patch *patch = NULL;
		int r = git_patch_from_buffers(&patch, a.data, a.len, f->n[0] ? f->logical : NULL, b.data,
					       b.len, f->n[1] ? f->logical : NULL, &opts);
		if (r < 0) {
			rc = store_git_error(f->logical);
			goto out;
		}
		if (git_patch_num_hunks(patch) > 0) {
			(*n_changed)++;
			git_patch_print(patch, print_line, &p);
		}
		git_patch_free(patch);
	}
out:
	for (size_t i = 0; i < w.n; i++) {
		free(w.files[i].logical);
		free(w.files[i].ids[0]);
		free(w.files[i].ids[1]);
	}
	free(w.files);
	buf_free(&a);
	buf_free(&b);
	return rc;
}
