/*
 * writer: the dump_sink the store gives an engine. Each logical file is cut
 * into chunks (chunk.c) as it streams in; each chunk becomes a blob at once,
 * so memory holds at most one chunk whatever the database size. A blob that
 * the repository already has (an unchanged chunk) is not written again.
 *
 * The chunks of "dir/name.ext" are "dir/name-000000.ext", "...-000001.ext":
 * byte-wise path order is stream order, so concatenating a snapshot's files
 * in sorted order gives back each stream.
 */
#include <errno.h>
#include <git2.h>
#include <git2/sys/mempack.h>
#include <git2/sys/odb_backend.h>
#include <git2/sys/repository.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dbgit/manifest.h"
#include "dbgit/store.h"
#include "dbgit/util.h"
#include "store_internal.h"

struct snap_writer {
	struct dump_sink sink; /* first: the sink pointer is the writer */
	struct store *st;
	git_odb *odb;
	git_index *index;
	size_t max_blob;
	struct manifest_file *files; /* in write order */
	size_t n_files, cap_files;
	size_t new_blobs;
	/* Every object this writer stored that the repository did not have
	 * before: what snap_writer_discard may delete, and nothing else. */
	git_oid *fresh;
	size_t n_fresh, cap_fresh;
	snap_chunk_cb on_chunk;
	void *on_chunk_arg;
	/* the logical file being written */
	char *path;
	struct chunker chunker;
	struct buf pending;
	unsigned chunk_no;
	uint64_t file_off; /* bytes of the open file already cut */
};

static int note_fresh(struct snap_writer *w, const git_oid *id)
{
	if (w->n_fresh == w->cap_fresh) {
		size_t cap = w->cap_fresh ? 2 * w->cap_fresh : 256;
		git_oid *v = realloc(w->fresh, cap * sizeof(*v));
		if (!v)
			return err_set(ERR_GENERIC, "out of memory");
		w->fresh = v;
		w->cap_fresh = cap;
	}
	git_oid_cpy(&w->fresh[w->n_fresh++], id);
	return 0;
}

static int emit_chunk(struct snap_writer *w, const char *data, size_t len)
{
	char *dot = strrchr(w->path, '.');
	char *slash = strrchr(w->path, '/');
	if (dot && slash && dot < slash)
		dot = NULL;
	char *name;
	/* Six digits keep byte-wise order equal to stream order. */
	if (w->chunk_no > 999999)
		return err_set(ERR_GENERIC, "%s: more than a million chunks; raise max_blob_size", w->path);
	if (dot)
		name = xasprintf("%.*s-%06u%s", (int)(dot - w->path), w->path, w->chunk_no, dot);
	else
		name = xasprintf("%s-%06u", w->path, w->chunk_no);
	w->chunk_no++;

	git_oid oid;
	int rc = 0, is_new = 0;
	char *tree_path = NULL;
	if ((rc = snap_blob_put(w->odb, w->st->key, CRYPT_CHUNK, data, len, &oid, &is_new)) < 0 ||
	    (rc = snap_tree_path(w->st->key, name, &tree_path)) < 0)
		goto out;
	if (is_new) {
		w->new_blobs++;
		if ((rc = note_fresh(w, &oid)) < 0)
			goto out;
		/* the nightly pack pairs chunks by first line: known here
		 * without reading the blob back (a sealed blob has none) */
		if (!w->st->key && lcache_put(&w->st->lines, &oid, lineage_line_hash(data, len)) < 0)
			err_clear();
	}
	git_index_entry e;
	memset(&e, 0, sizeof(e));
	e.mode = GIT_FILEMODE_BLOB;
	e.id = oid;
	e.path = tree_path;
	e.file_size = (uint32_t)len;
	if (git_index_add(w->index, &e) < 0) {
		rc = store_git_error(name);
		goto out;
	}
	char hex[GIT_OID_HEXSZ + 1];
	git_oid_tostr(hex, sizeof(hex), &oid);
	if (w->on_chunk)
		w->on_chunk(w->on_chunk_arg, name, hex);
	/* A compact record a chunk (a cJSON object took 3 times the memory,
	 * and a large encrypted table is tens of thousands of chunks). */
	if (w->n_files == w->cap_files) {
		size_t cap = w->cap_files ? 2 * w->cap_files : 256;
		struct manifest_file *v = realloc(w->files, cap * sizeof(*v));
		if (!v) {
			rc = err_set(ERR_GENERIC, "out of memory");
			goto out;
		}
		w->files = v;
		w->cap_files = cap;
	}
	struct manifest_file *f = &w->files[w->n_files++];
	f->path = name;
	name = NULL;
	f->size = (int64_t)len;
	memcpy(f->blob, hex, sizeof(f->blob));
out:
	free(tree_path);
	free(name);
	return rc;
}

/* Cuts and writes what the chunker allows; at_eof flushes everything. */
static int drain(struct snap_writer *w, int at_eof)
{
	size_t off = 0;
	while (off < w->pending.len) {
		size_t n = chunker_cut(&w->chunker, w->file_off, w->pending.data + off, w->pending.len - off,
				       at_eof);
		if (n == 0)
			break;
		if (emit_chunk(w, w->pending.data + off, n) < 0)
			return ERR_GENERIC;
		off += n;
		w->file_off += n;
	}
	if (off) {
		memmove(w->pending.data, w->pending.data + off, w->pending.len - off);
		w->pending.len -= off;
	}
	return 0;
}

static int sink_open(struct dump_sink *s, const char *path, enum chunk_mode mode)
{
	struct snap_writer *w = (struct snap_writer *)s;
	if (w->path)
		return err_set(ERR_GENERIC, "internal: %s opened while %s is open", path, w->path);
	w->path = xstrdup(path);
	w->chunk_no = 0;
	w->file_off = 0;
	if (w->st->key)
		chunker_init_sealed(&w->chunker, mode, w->max_blob);
	else
		chunker_init(&w->chunker, mode, w->max_blob);
	buf_clear(&w->pending);
	return 0;
}

static int sink_write(struct dump_sink *s, const void *data, size_t len)
{
	struct snap_writer *w = (struct snap_writer *)s;
	/* Every dump writes through here: a stop signal ends it. */
	if (sig_check() < 0)
		return ERR_INTERRUPTED;
	if (buf_add(&w->pending, data, len) < 0)
		return ERR_GENERIC;
	progress_add(len);
	/* Cutting only once a full maximum chunk is pending gives the same
	 * cuts as looking at every byte, without rescanning. */
	if (w->pending.len >= chunker_max_at(&w->chunker, w->file_off))
		return drain(w, 0);
	return 0;
}

static int sink_close(struct dump_sink *s)
{
	struct snap_writer *w = (struct snap_writer *)s;
	int rc = drain(w, 1);
	/* An empty file still gets one (empty) chunk, so it exists. */
	if (rc == 0 && w->chunk_no == 0)
		rc = emit_chunk(w, "", 0);
	free(w->path);
	w->path = NULL;
	return rc;
}

int snap_writer_new(struct snap_writer **out, struct store *st, size_t max_blob)
{
	struct snap_writer *w = calloc(1, sizeof(*w));
	w->sink.open = sink_open;
	w->sink.write = sink_write;
	w->sink.close = sink_close;
	w->st = st;
	w->max_blob = max_blob;
	if (git_repository_odb(&w->odb, st->repo) < 0 || git_index_new(&w->index) < 0) {
		snap_writer_free(w);
		return store_git_error(st->path);
	}
	*out = w;
	return 0;
}

void snap_writer_on_chunk(struct snap_writer *w, snap_chunk_cb cb, void *arg)
{
	w->on_chunk = cb;
	w->on_chunk_arg = arg;
}

struct dump_sink *snap_writer_sink(struct snap_writer *w)
{
	return &w->sink;
}

void snap_writer_take_files(struct snap_writer *w, struct manifest_file **files, size_t *n)
{
	*files = w->files;
	*n = w->n_files;
	w->files = NULL;
	w->n_files = w->cap_files = 0;
}

size_t snap_writer_new_blobs(struct snap_writer *w)
{
	return w->new_blobs;
}

/* Adds to out the trees under id (read through repo) that the repository
 * does not have; a tree it has comes with all its subtrees. */
static int collect_new_trees(struct snap_writer *w, git_repository *repo, const git_oid *id,
			     git_oid **out, size_t *n)
{
	if (git_odb_exists(w->odb, id))
		return 0;
	git_tree *t = NULL;
	if (git_tree_lookup(&t, repo, id) < 0)
		return -1;
	git_oid *v = realloc(*out, (*n + 1) * sizeof(*v));
	int rc = v ? 0 : -1;
	if (v) {
		*out = v;
		git_oid_cpy(&v[(*n)++], id);
	}
	for (size_t i = 0; rc == 0 && i < git_tree_entrycount(t); i++) {
		const git_tree_entry *e = git_tree_entry_byindex(t, i);
		if (git_tree_entry_type(e) == GIT_OBJECT_TREE)
			rc = collect_new_trees(w, repo, git_tree_entry_id(e), out, n);
	}
	git_tree_free(t);
	return rc;
}

/* Which of the trees the index makes are new to the repository, so that
 * snap_writer_discard may delete them too (a dry run leaves no object
 * behind). Found by writing the trees first into memory - a mempack in
 * front of the repository's objects as a read-only alternate - since once
 * written to the repository a new tree and an old one look alike. */
static int find_new_trees(struct snap_writer *w, git_oid **out, size_t *n)
{
	git_odb *odb = NULL;
	git_odb_backend *mem = NULL;
	git_repository *mrepo = NULL;
	git_index *copy = NULL;
	git_oid root;
	char *objdir = xasprintf("%sobjects", git_repository_path(w->st->repo));
	int rc = -1;
	*out = NULL;
	*n = 0;
	if (git_odb_new(&odb) < 0 || git_mempack_new(&mem) < 0)
		goto out;
	if (git_odb_add_backend(odb, mem, 1000) < 0) {
		mem->free(mem);
		goto out;
	}
	if (git_odb_add_disk_alternate(odb, objdir) < 0 || git_repository_wrap_odb(&mrepo, odb) < 0 ||
	    git_index_new(&copy) < 0)
		goto out;
	/* A copy of the index: writing a tree fills the index's tree cache,
	 * and the writer's own would then skip writing those trees for real. */
	for (size_t i = 0; i < git_index_entrycount(w->index); i++)
		if (git_index_add(copy, git_index_get_byindex(w->index, i)) < 0)
			goto out;
	if (git_index_write_tree_to(&root, copy, mrepo) < 0)
		goto out;
	rc = collect_new_trees(w, mrepo, &root, out, n);
out:
	git_index_free(copy);
	git_repository_free(mrepo);
	git_odb_free(odb);
	free(objdir);
	if (rc < 0) {
		free(*out);
		*out = NULL;
		*n = 0;
		return store_git_error(w->st->path);
	}
	return 0;
}

/* A file at the root of the snapshot, next to the chunks. */
static int add_root_blob(struct snap_writer *w, const struct crypt_key *key, enum crypt_kind kind,
			 const char *name, const char *text)
{
	git_oid oid;
	int is_new = 0;
	size_t len = strlen(text);
	if (snap_blob_put(w->odb, key, kind, text, len, &oid, &is_new) < 0 ||
	    (is_new && note_fresh(w, &oid) < 0))
		return ERR_GENERIC;
	git_index_entry e;
	memset(&e, 0, sizeof(e));
	e.mode = GIT_FILEMODE_BLOB;
	e.id = oid;
	e.path = name;
	e.file_size = (uint32_t)len;
	if (git_index_add(w->index, &e) < 0)
		return store_git_error(w->st->path);
	return 0;
}

int snap_writer_tree(struct snap_writer *w, const char *manifest_json, char tree_out[41])
{
	git_oid tree;
	/* Encrypted: the sealed manifest and the key entry that says which
	 * key opens the snapshot; plain: MANIFEST.json as it is. */
	const struct crypt_key *key = w->st->key;
	char *key_text = key ? snap_key_text(key) : NULL;
	int rc = add_root_blob(w, key, CRYPT_MANIFEST, key ? SNAP_MANIFEST_ENC : MANIFEST_NAME, manifest_json);
	if (rc == 0 && key)
		rc = add_root_blob(w, NULL, CRYPT_MANIFEST, SNAP_KEY_NAME, key_text);
	free(key_text);
	if (rc < 0)
		return rc;
	git_oid *fresh_trees;
	size_t n_trees;
	if (find_new_trees(w, &fresh_trees, &n_trees) < 0)
		return ERR_GENERIC;
	if (git_index_write_tree_to(&tree, w->index, w->st->repo) < 0)
		rc = store_git_error(w->st->path);
	for (size_t i = 0; rc == 0 && i < n_trees; i++)
		rc = note_fresh(w, &fresh_trees[i]);
	free(fresh_trees);
	if (rc == 0)
		git_oid_tostr(tree_out, 41, &tree);
	return rc;
}

int snap_writer_discard(struct snap_writer *w)
{
	const char *gitdir = git_repository_path(w->st->repo);
	size_t removed = 0;
	for (size_t i = 0; i < w->n_fresh; i++) {
		char hex[GIT_OID_HEXSZ + 1];
		git_oid_tostr(hex, sizeof(hex), &w->fresh[i]);
		char *dir = xasprintf("%sobjects/%.2s", gitdir, hex);
		char *path = xasprintf("%s/%s", dir, hex + 2);
		if (unlink(path) == 0)
			removed++;
		else if (errno != ENOENT)
			log_warn("cannot remove %s: %s", path, strerror(errno));
		rmdir(dir); /* only if this attempt was its only user */
		free(path);
		free(dir);
	}
	if (removed)
		log_info("gave back %zu object%s of the failed attempt", removed, removed == 1 ? "" : "s");
	w->n_fresh = 0;
	w->new_blobs = 0;
	/* The repository's object cache may still answer "exists" for what
	 * was just deleted, and a retry would then not write it again: start
	 * from a fresh object database, as reclaim does. */
	git_odb *odb = NULL;
	char *objdir = xasprintf("%sobjects", gitdir);
	int rc = 0;
	if (git_odb_open(&odb, objdir) < 0 || git_repository_set_odb(w->st->repo, odb) < 0)
		rc = store_git_error(objdir);
	git_odb_free(odb);
	free(objdir);
	return rc;
}

void snap_writer_free(struct snap_writer *w)
{
	if (!w)
		return;
	free(w->fresh);
	git_index_free(w->index);
	git_odb_free(w->odb);
	for (size_t i = 0; i < w->n_files; i++)
		free(w->files[i].path);
	free(w->files);
	buf_free(&w->pending);
	free(w->path);
	free(w);
}
