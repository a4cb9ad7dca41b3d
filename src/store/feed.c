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
#include <stdint.h>
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
	const struct crypt_key *key; /* the store's: what the writer seals with */
	git_repository *repo;
	size_t cur;   /* entries handed to the reader */
	struct snap_blob blob;
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
	snap_blob_release(&f->blob);
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
		/* A chunk is never larger than max_blob_size, itself bounded;
		 * this reads back what this process just wrote. */
		int rc = snap_blob_read(f->repo, f->key, &id, SIZE_MAX / 2, "(new)", path, &f->blob);
		if (rc < 0)
			return rc;
		f->loaded = 1;
		f->off = 0;
	}
	size_t n = f->blob.len - f->off < len ? f->blob.len - f->off : len;
	memcpy(buf, f->blob.data + f->off, n);
	f->off += n;
	return (ssize_t)n;
}

int snap_feed_new(struct snap_feed **out, struct store *st)
{
	struct snap_feed *f = calloc(1, sizeof(*f));
	f->src.next = feed_next;
	f->src.read = feed_read;
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->more, NULL);
	f->repo_path = xstrdup(st->path);
	f->key = st->key;
	*out = f;
	return 0;
}

struct dump_source *snap_feed_source(struct snap_feed *f)
{
	return &f->src;
}

int snap_feed_check(struct snap_feed *f, struct store *st, const char *tree_hex)
{
	struct snap_file *files = NULL;
	size_t n = 0;
	const struct crypt_key *used;
	/* The tree's files in byte-wise plain path order. */
	int rc = snap_files(st->repo, st->key, tree_hex, &files, &n, &used);
	if (rc < 0)
		return rc;
	/* What the reader went through: every entry, in order. */
	pthread_mutex_lock(&f->lock);
	int complete = f->closed && !f->failed && f->cur == f->n && f->n == n && used == f->key;
	for (size_t i = 0; complete && i < f->n; i++)
		if (strcmp(f->entries[i].path, files[i].path) || !git_oid_equal(&f->entries[i].id, &files[i].id))
			complete = 0;
	pthread_mutex_unlock(&f->lock);
	snap_files_free(files, n);
	if (!complete)
		rc = err_set(ERR_VERIFY, "the files restored while writing are not the snapshot's files, in order");
	return rc;
}

void snap_feed_free(struct snap_feed *f)
{
	if (!f)
		return;
	snap_blob_release(&f->blob);
	git_repository_free(f->repo);
	for (size_t i = 0; i < f->n; i++)
		free(f->entries[i].path);
	free(f->entries);
	free(f->repo_path);
	pthread_mutex_destroy(&f->lock);
	pthread_cond_destroy(&f->more);
	free(f);
}
