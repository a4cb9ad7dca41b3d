/*
 * Private to src/store: the store's struct and shared helpers.
 *
 * Durability protocol. Every change of the repository on disk follows it,
 * so that after a power cut at any instant each branch names a complete,
 * verified snapshot (the old one or the new one), never a missing object:
 *   1. objects are written (loose blobs, trees, commits; or a pack) without
 *      an fsync each - hundreds per snapshot would cost more than the dump;
 *   2. store_sync: one syncfs() makes all of them durable before any ref
 *      may name them (snap_commit, rotate_branch_ex);
 *   3. the ref moves by compare-and-swap (libgit2 writes <ref>.lock and
 *      renames it over the ref, then appends to the reflog);
 *   4. store_sync_ref: the ref file, the directory that holds it (the
 *      rename) and its reflog are fsynced before dbgit reports the commit
 *      or goes on to anything that relies on the move (rotation, reclaim,
 *      push);
 *   5. reclaim (reclaim.c) fsyncs its new pack, then syncs again after
 *      rewriting reflogs, so every ref it reads is durable before the
 *      first old pack or loose object is deleted;
 *   6. objects are deleted only when no durable ref reaches them: reclaim
 *      after 4/5, and a failed attempt's own new objects
 *      (snap_writer_discard), which no ref ever named.
 * Leftovers of a killed writer (objects/tmp_object_git2_*, pack temp files,
 * stale ref .lock files) are swept under the lock by store_lock.
 */
#ifndef DBGIT_STORE_INTERNAL_H
#define DBGIT_STORE_INTERNAL_H

#include <git2.h>

#include "dbgit/crypt.h"
#include "dbgit/util.h"

/* blob id -> hash of its first line (lineage.c) */
struct lcache {
	git_oid *key;
	uint64_t *val;
	unsigned char *used;
	size_t cap, len;
};

struct store {
	git_repository *repo;
	char *path;
	int lock_fd;
	struct crypt_key *key; /* [repository] key_file; NULL: snapshots written plain */
	struct lcache lines;   /* first lines of the chunks written by this process (writer.c) */
};

/*
 * Snapshot contents go through files.c only: every blob written
 * (snap_blob_put), every blob read (snap_blob_read), every walk over a
 * snapshot's files (snap_files). Encryption lives there and in crypt.c,
 * nowhere else.
 *
 * An encrypted snapshot's root holds SNAP_KEY_NAME (plain: the key id),
 * SNAP_MANIFEST_ENC (the sealed manifest) and the files under sealed
 * names (crypt_name_seal per path component).
 */
#define SNAP_KEY_NAME "dbgit-encrypted"
#define SNAP_MANIFEST_ENC "MANIFEST.enc"

struct snap_file {
	char *path; /* plain */
	git_oid id;
};
/* The files of a snapshot (a commit or tree id, hex) in byte-wise plain
 * path order, every entry checked (snap_check_entry; sealed names opened
 * with key), without the root's manifest and key entries. *key_used is
 * set to key if the snapshot is encrypted, else NULL. An encrypted
 * snapshot without key, or under another key, is a one-line ERR_VERIFY
 * naming the key ids (it cannot be read: exit 1, like a damaged one). */
int snap_files(git_repository *repo, const struct crypt_key *key, const char *rev, struct snap_file **out,
	       size_t *n, const struct crypt_key **key_used);
void snap_files_free(struct snap_file *f, size_t n);

/* One blob's content: plain as stored, or opened (key != NULL). */
struct snap_blob {
	const char *data;
	size_t len;
	git_blob *blob;
	struct buf plain;
};
#define SNAP_BLOB_INIT {NULL, 0, NULL, BUF_INIT}
/* Reads blob id of snapshot commit (file path, for messages): refused
 * before it is read if larger than max (plain bytes), then opened with
 * key if that is not NULL. Errors are ERR_VERIFY naming commit and path. */
int snap_blob_read(git_repository *repo, const struct crypt_key *key, const git_oid *id, size_t max,
		   const char *commit, const char *path, struct snap_blob *b);
void snap_blob_release(struct snap_blob *b);
/* Writes data as a blob (sealed as kind if key is not NULL) unless the
 * repository has it; *is_new says whether it was written. */
int snap_blob_put(git_odb *odb, const struct crypt_key *key, enum crypt_kind kind, const void *data, size_t len,
		  git_oid *id, int *is_new);
/* The name a plain path has in the tree: itself, or sealed component by
 * component. Caller frees. */
int snap_tree_path(const struct crypt_key *key, const char *path, char **out);
/* 0 if key opens a snapshot encrypted under key id id, else the one-line
 * error naming the key it needs (ERR_VERIFY). */
int snap_need_key(const struct crypt_key *key, const char *id, const char *commit);
/* The key entry's text for key. Caller frees. */
char *snap_key_text(const struct crypt_key *key);
/* The key id a snapshot tree was encrypted with ("" if plain). */
int snap_tree_key_id(git_repository *repo, const git_tree *root, const char *commit,
		     char id[CRYPT_KEY_ID_LEN + 1]);

/* Flushes every object written so far to disk (one syncfs), so a ref
 * moved afterwards never names an object a crash could lose. */
int store_sync(struct store *st);

/* Step 4 of the protocol above: fsync the loose ref file refname (or
 * packed-refs if it is packed), the directory holding it, and its reflog. */
int store_sync_ref(struct store *st, const char *refname);

/* The logical file a chunk belongs to: "t/1-rows-000012.sql" ->
 * "t/1-rows.sql"; other names unchanged. Caller frees. */
char *chunk_logical_name(const char *path);

/* lineage.c: the hash of a chunk's first line (at most 4096 bytes), which
 * names its lineage, and a cache of it by blob id (<gitdir>/dbgit-lineage,
 * untrusted: checked on load, ignored and rebuilt when it does not add up). */
uint64_t lineage_line_hash(const char *data, size_t len);
int lcache_get(const struct lcache *c, const git_oid *id, uint64_t *v);
int lcache_put(struct lcache *c, const git_oid *id, uint64_t v);
void lcache_free(struct lcache *c);
char *lcache_path(git_repository *repo);
void lcache_load(struct lcache *c, const char *path);
void lcache_save(const struct lcache *c, const char *path);

/* A snapshot tree entry from a repository that may be hostile: plain
 * files and directories with plain names only (snap.c). Sets a one-line
 * error naming commit and path and returns ERR_VERIFY otherwise. */
struct git_tree_entry;
int snap_check_entry(const char *commit, const char *root, const struct git_tree_entry *e);

/* Sets the error from git_error_last(), prefixed with what. */
int store_git_error(const char *what);

#endif
