/*
 * feed: verification while the dump is written. The writer hands each
 * chunk over as soon as its blob is in the repository; a reader thread,
 * with a repository handle of its own, reads the blob back from the
 * objects and restores it. The dump and the restore then run side by side
 * on two cores instead of one after the other.
 *
 * What the reader went through is recorded, and snap_feed_check compares
 * it with the snapshot's tree once that is written: same paths, same
 * blobs, same order. So a pipelined verification proves exactly what a
 * restore from the committed tree would.
 */
#include <git2.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dbgit/store.h"
#include "dbgit/util.h"
#include "store_internal.h"

struct feed_entry {
	char *path;
	git_oid id;
};

struct snap_feed {
	struct dump_source src; /* first */
	pthread_mutex_t lock;
	pthread_cond_t more;
	struct feed_entry *entries;
	size_t n, cap;
	int closed, failed;
	/* reader side */
	char *repo_path;
	git_repository *repo;
	size_t cur;   /* entries handed to the reader */
	git_blob *blob;
	int loaded;   /* blob of the current entry read (lazily) */
	size_t off;
};

void snap_feed_push(void *arg, const char *path, const char *blob)
{
	struct snap_feed *f = arg;
	pthread_mutex_lock(&f->lock);
	if (f->n == f->cap) {
		f->cap = f->cap ? 2 * f->cap : 256;
		f->entries = realloc(f->entries, f->cap * sizeof(*f->entries));
	}
	f->entries[f->n].path = xstrdup(path);
	git_oid_fromstr(&f->entries[f->n].id, blob);
	f->n++;
	pthread_cond_signal(&f->more);
	pthread_mutex_unlock(&f->lock);
}

void snap_feed_close(struct snap_feed *f, int failed)
{
	pthread_mutex_lock(&f->lock);
	f->closed = 1;
	f->failed = failed;
	pthread_cond_broadcast(&f->more);
	pthread_mutex_unlock(&f->lock);
}

static int feed_next(struct dump_source *d, const char **path)
{
	struct snap_feed *f = (struct snap_feed *)d;
	git_blob_free(f->blob);
	f->blob = NULL;
	f->loaded = 0;
	pthread_mutex_lock(&f->lock);
	while (f->cur >= f->n && !f->closed)
		pthread_cond_wait(&f->more, &f->lock);
	int rc;
	if (f->failed)
		rc = err_set(ERR_GENERIC, "the dump stopped before it was complete");
	else if (f->cur >= f->n)
		rc = 0;
	else {
		/* the array may move on realloc; the path strings do not */
		*path = f->entries[f->cur].path;
		f->cur++;
		rc = 1;
	}
	pthread_mutex_unlock(&f->lock);
	return rc;
}

static ssize_t feed_read(struct dump_source *d, void *buf, size_t len)
{
	struct snap_feed *f = (struct snap_feed *)d;
	if (sig_check() < 0)
		return -1;
	if (!f->loaded) {
		git_oid id;
		const char *path;
		pthread_mutex_lock(&f->lock);
		id = f->entries[f->cur - 1].id;
		path = f->entries[f->cur - 1].path;
		pthread_mutex_unlock(&f->lock);
		if (!f->repo && git_repository_open_ext(&f->repo, f->repo_path,
							GIT_REPOSITORY_OPEN_NO_SEARCH | GIT_REPOSITORY_OPEN_BARE,
							NULL) < 0)
			return store_git_error(f->repo_path);
		if (git_blob_lookup(&f->blob, f->repo, &id) < 0) {
			const git_error *ge = git_error_last();
			return err_set(ERR_VERIFY, "cannot read %s (blob %.12s) from the repository: %s", path,
				       git_oid_tostr_s(&id), ge ? ge->message : "");
		}
		f->loaded = 1;
		f->off = 0;
	}
	size_t size = (size_t)git_blob_rawsize(f->blob);
	size_t n = size - f->off < len ? size - f->off : len;
	memcpy(buf, (const char *)git_blob_rawcontent(f->blob) + f->off, n);
	f->off += n;
	return (ssize_t)n;
}

int snap_feed_new(struct snap_feed **out, const char *repo_path)
{
	struct snap_feed *f = calloc(1, sizeof(*f));
	f->src.next = feed_next;
	f->src.read = feed_read;
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->more, NULL);
	f->repo_path = xstrdup(repo_path);
	*out = f;
	return 0;
}

struct dump_source *snap_feed_source(struct snap_feed *f)
{
	return &f->src;
}

static int collect(const char *root, const git_tree_entry *e, void *payload)
{
	struct buf *b = payload;
	if (git_tree_entry_type(e) != GIT_OBJECT_BLOB)
		return 0;
	char hex[GIT_OID_HEXSZ + 1];
	git_oid_tostr(hex, sizeof(hex), git_tree_entry_id(e));
	if (!*root && !strcmp(git_tree_entry_name(e), MANIFEST_NAME))
		return 0;
	buf_printf(b, "%s%s %s\n", root, git_tree_entry_name(e), hex);
	return 0;
}

static int cmp_line(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int snap_feed_check(struct snap_feed *f, struct store *st, const char *tree_hex)
{
	git_oid oid;
	git_tree *tree = NULL;
	struct buf walked = BUF_INIT, fed = BUF_INIT;
	char **lines = NULL;
	int rc = 0;
	if (git_oid_fromstr(&oid, tree_hex) < 0 || git_tree_lookup(&tree, st->repo, &oid) < 0 ||
	    git_tree_walk(tree, GIT_TREEWALK_PRE, collect, &walked) < 0) {
		rc = store_git_error(tree_hex);
		goto out;
	}
	/* The tree, in byte-wise path order. */
	size_t n = 0;
	for (const char *p = buf_cstr(&walked); *p; p = strchr(p, '\n') + 1)
		n++;
	lines = calloc(n + 1, sizeof(*lines));
	char *p = walked.data;
	for (size_t i = 0; i < n; i++) {
		lines[i] = p;
		p = strchr(p, '\n');
		*p++ = '\0';
	}
	qsort(lines, n, sizeof(*lines), cmp_line);
	/* What the reader went through: every entry, in order. */
	pthread_mutex_lock(&f->lock);
	int complete = f->closed && !f->failed && f->cur == f->n && f->n == n;
	for (size_t i = 0; complete && i < f->n; i++) {
		char hex[GIT_OID_HEXSZ + 1];
		git_oid_tostr(hex, sizeof(hex), &f->entries[i].id);
		buf_clear(&fed);
		buf_printf(&fed, "%s %s", f->entries[i].path, hex);
		if (strcmp(fed.data, lines[i]))
			complete = 0;
	}
	pthread_mutex_unlock(&f->lock);
	if (!complete)
		rc = err_set(ERR_VERIFY, "the files restored while writing are not the snapshot's files, in order");
out:
	free(lines);
	buf_free(&walked);
	buf_free(&fed);
	git_tree_free(tree);
	return rc;
}

void snap_feed_free(struct snap_feed *f)
{
	if (!f)
		return;
	git_blob_free(f->blob);
	git_repository_free(f->repo);
	for (size_t i = 0; i < f->n; i++)
		free(f->entries[i].path);
	free(f->entries);
	free(f->repo_path);
	pthread_mutex_destroy(&f->lock);
	pthread_cond_destroy(&f->more);
	free(f);
}
