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
	int bad;
};

static int walk_cb(const char *root, const git_tree_entry *e, void *payload)
{
	struct side_walk *w = payload;
	if (snap_check_entry(w->commit[w->side], root, e) < 0) {
		w->bad = 1;
		return -1;
	}
	if (git_tree_entry_type(e) != GIT_OBJECT_BLOB)
		return 0;
	char *path = xasprintf("%s%s", root, git_tree_entry_name(e));
	size_t plen = strlen(path), slen = strlen(w->suffix);
	if (plen < slen || strcmp(path + plen - slen, w->suffix)) {
		free(path);
		return 0;
	}
	char *logical = chunk_logical_name(path);
	free(path);
	struct lfile *f = NULL;
	/* Tree walks are in path order, so a file's chunks are adjacent;
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
	f->ids[w->side][f->n[w->side]++] = *git_tree_entry_id(e);
	return 0;
}

static int tree_of(struct store *st, const char *hex, git_tree **out)
{
	git_oid oid;
	git_object *obj = NULL;
	int rc = 0;
	if (git_oid_fromstr(&oid, hex) < 0 || git_object_lookup(&obj, st->repo, &oid, GIT_OBJECT_ANY) < 0 ||
	    git_object_peel((git_object **)out, obj, GIT_OBJECT_TREE) < 0)
		rc = store_git_error(hex);
	git_object_free(obj);
	return rc;
}

static int join(struct store *st, const struct lfile *f, int side, struct buf *out)
{
	buf_clear(out);
	for (size_t i = 0; i < f->n[side]; i++) {
		git_blob *b;
		if (sig_check() < 0)
			return ERR_INTERRUPTED;
		if (git_blob_lookup(&b, st->repo, &f->ids[side][i]) < 0)
			return store_git_error(f->logical);
		buf_add(out, git_blob_rawcontent(b), (size_t)git_blob_rawsize(b));
		git_blob_free(b);
	}
	return 0;
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
	git_tree *trees[2] = {NULL, NULL};
	struct side_walk w = {0};
	struct buf a = BUF_INIT, b = BUF_INIT;
	int rc = 0;
	*n_changed = 0;
	w.suffix = suffix;
	w.commit[0] = old_hex;
	w.commit[1] = new_hex;
	if ((rc = tree_of(st, old_hex, &trees[0])) < 0 || (rc = tree_of(st, new_hex, &trees[1])) < 0)
		goto out;
	for (w.side = 0; w.side < 2; w.side++)
		if (git_tree_walk(trees[w.side], GIT_TREEWALK_PRE, walk_cb, &w) < 0) {
			rc = w.bad ? ERR_VERIFY : store_git_error("diff");
			goto out;
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
		if ((rc = join(st, f, 0, &a)) < 0 || (rc = join(st, f, 1, &b)) < 0)
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
	git_tree_free(trees[0]);
	git_tree_free(trees[1]);
	return rc;
}
