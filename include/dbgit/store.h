/*
 * store: the git repository. Chunks streams into blobs, builds trees and
 * commits snapshots on job branches, reads them back, and takes the
 * repository lock. Knows nothing of databases.
 *
 * Invariants: a branch moves only after every object of its new commit is
 * written, and only from the commit it was read at (compare-and-swap), so a
 * crash or a concurrent writer leaves it at a complete snapshot.
 *
 * Object ids cross this interface as 40-char hex strings, so that callers
 * need not include git2.h.
 */
#ifndef DBGIT_STORE_H
#define DBGIT_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "dbgit/stream.h"

struct cJSON;
struct git_repository;
struct store;

#define MANIFEST_NAME "MANIFEST.json"
#define MANIFEST_FORMAT 1

/* Creates a bare repository (mode 0700) if none is there. */
int store_init(const char *path, int *created);
/* Opens an existing repository; a clear error if path is not one. */
int store_open(struct store **out, const char *path);
void store_free(struct store *st);
/* Takes the repository lock (ERR_LOCKED if another dbgit holds it). */
int store_lock(struct store *st);
const char *store_path(const struct store *st);
/* For `dbgit check`: a file can be made (and is removed) where objects
 * go, and the lock could be taken now (*locked = 1 when another dbgit
 * holds it; not an error). Writes nothing that stays. */
int store_check_writable(struct store *st, int *locked);
/* The libgit2 handle, for the parts that speak git (remote, rotate). */
struct git_repository *store_git(struct store *st);
/* Encryption at rest (crypt.h): every snapshot written from now on is
 * sealed with key (the store takes it over; NULL: plain). Reading does
 * not depend on it being set, only on the snapshot: a plain snapshot
 * reads without a key, an encrypted one needs exactly its own. */
struct crypt_key;
void store_set_key(struct store *st, struct crypt_key *key);
const struct crypt_key *store_key(const struct store *st);
/* The id of the key a snapshot (commit or tree) was encrypted with, ""
 * if it is plain (out: 17 bytes). */
int snap_key_id(struct store *st, const char *commit, char out[17]);

/* Chunking (pure; unit-tested): returns the length of the chunk to cut from
 * data[0..len), or 0 if more data is needed before a cut (at_eof = 0). */
struct chunker {
	enum chunk_mode mode;
	size_t avg, min, max; /* at the start of a file */
	/* Encrypted line chunks grow with the offset in the file: avg doubles
	 * at grow_from, 2 grow_from, 4 grow_from ... up to grow_cap (0: never). */
	uint64_t grow_from;
	size_t grow_cap;
	size_t max_cap; /* no chunk longer, wherever it starts */
};
void chunker_init(struct chunker *c, enum chunk_mode mode, size_t max_blob);
/* The same for an encrypted snapshot: smaller chunks (see chunk.c). */
void chunker_init_sealed(struct chunker *c, enum chunk_mode mode, size_t max_blob);
/* at: the offset of data[0] in the file (where the chunk starts). */
size_t chunker_cut(const struct chunker *c, uint64_t at, const char *data, size_t len, int at_eof);
/* The longest chunk that may start at offset at: with that much pending
 * a cut never needs more data. */
size_t chunker_max_at(const struct chunker *c, uint64_t at);

/* Writing one snapshot. */
struct snap_writer;
int snap_writer_new(struct snap_writer **out, struct store *st, size_t max_blob);
struct dump_sink *snap_writer_sink(struct snap_writer *w);
/* The files written so far, in write order; the caller takes them over
 * (frees each path and the array) and the writer holds none after. */
struct manifest_file;
void snap_writer_take_files(struct snap_writer *w, struct manifest_file **files, size_t *n);
/* Blobs written that the repository did not already have. */
size_t snap_writer_new_blobs(struct snap_writer *w);
/* Calls cb after each chunk's blob is in the repository, in write order. */
typedef void (*snap_chunk_cb)(void *arg, const char *path, const char *blob);
void snap_writer_on_chunk(struct snap_writer *w, snap_chunk_cb cb, void *arg);
/* Writes the tree of all files plus MANIFEST.json (the manifest text). */
int snap_writer_tree(struct snap_writer *w, const char *manifest_json, char tree_out[41]);
/* After a failed (or dry-run) attempt, with the lock held: deletes the
 * loose objects this writer stored that the repository did not have
 * before (no ref reaches them: blobs and trees), giving back their space
 * and leaving the object count as it was. An object that existed before
 * the attempt is never touched. */
int snap_writer_discard(struct snap_writer *w);
void snap_writer_free(struct snap_writer *w);

/* Commits tree on branch, whose tip must still be expected_parent ("" for
 * a new branch). */
int snap_commit(struct store *st, const char *branch, const char *expected_parent,
		const char *tree, const char *message, const char *author_name,
		const char *author_email, int64_t when, char commit_out[41]);
/* Reads every blob of tree; each loose one that fails (damaged on disk)
 * is moved into <repo>/dbgit-quarantine/, so that the next write of the
 * same content stores it again. Returns how many were moved. */
int snap_quarantine_damaged(struct store *st, const char *tree);
/* The branch tip, or "" if the branch does not exist. */
int snap_tip(struct store *st, const char *branch, char out[41]);

/* Reading snapshots. */
struct snap_info {
	char id[41];
	char tree[41];
	int64_t time; /* author time = when the dump started */
	struct manifest *manifest; /* owned; NULL if the commit has none that validates */
	char error[256];           /* then: why */
};
/* All snapshots on branch, newest first. */
int snap_list(struct store *st, const char *branch, struct snap_info **out, size_t *n);
void snap_list_free(struct snap_info *list, size_t n);
/* The same, streamed: cb sees each snapshot, newest first, one at a time
 * (what it points at is freed when cb returns), so a long branch costs the
 * memory of one manifest. with_manifest = 0 reads no manifest (manifest
 * NULL, error empty): commits only. A non-zero return of cb stops the
 * walk and is returned. */
typedef int (*snap_walk_cb)(void *arg, const struct snap_info *s);
int snap_walk(struct store *st, const char *branch, int with_manifest, snap_walk_cb cb, void *arg);
/* How many snapshots branch holds (commits counted, no manifest read),
 * and the newest with its manifest, the only one read. */
int snap_summary(struct store *st, const char *branch, struct snap_info *newest, size_t *n);
/* Frees what one snap_info owns (its manifest). */
void snap_info_clear(struct snap_info *s);
/* rev: git revision syntax relative to the branch ("HEAD~2" means two
 * before the tip), a commit id (prefix), or "latest". The commit must be on
 * the branch. */
int snap_resolve(struct store *st, const char *branch, const char *rev, char out[41]);
/* The newest snapshot on branch at or before t. */
int snap_resolve_time(struct store *st, const char *branch, int64_t t, char out[41]);
/* The commit's MANIFEST.json, parsed and validated (manifest.h); an error
 * names the commit and the field. */
struct manifest;
int snap_read_manifest(struct store *st, const char *commit, struct manifest *out);
/* Its text as stored (at most MANIFEST_MAX_TEXT bytes, NUL-terminated;
 * caller frees), not validated: for `show --json` after snap_read_manifest. */
int snap_read_manifest_text(struct store *st, const char *commit, char **text, size_t *len);
/* A source over the files of a commit (or tree) in byte-wise path order
 * (all of them; engines pick theirs). A blob larger than max_blob (the
 * job's max_blob_size; never less than MANIFEST_MAX_TEXT) is refused
 * before it is read. */
int snap_source_new(struct dump_source **out, struct store *st, const char *commit, size_t max_blob);
/* The same, over only the files for which want(arg, path) is true: the
 * others are never read from the repository. */
int snap_source_new_only(struct dump_source **out, struct store *st, const char *commit, size_t max_blob,
			 int (*want)(void *arg, const char *path), void *arg);
void snap_source_free(struct dump_source *src);

/* A feed: the chunks of a snapshot handed over as they are written (a
 * snap_chunk_cb), read back from the repository's objects by another
 * thread through a dump_source, in the order they were written - which
 * engines keep equal to path order. snap_feed_check then proves that what
 * was read is exactly the tree's files, in the tree's order. */
struct snap_feed;
int snap_feed_new(struct snap_feed **out, struct store *st);
void snap_feed_push(void *feed, const char *path, const char *blob); /* a snap_chunk_cb */
/* No more chunks (failed: the dump failed; the reader gets an error). */
void snap_feed_close(struct snap_feed *f, int failed);
/* The reading side; use from one thread only. */
struct dump_source *snap_feed_source(struct snap_feed *f);
/* 0 if the files the reader went through are the tree's files (all but
 * MANIFEST.json), same paths, same blobs, same order. */
int snap_feed_check(struct snap_feed *f, struct store *st, const char *tree);
void snap_feed_free(struct snap_feed *f);

/* Writes the commit's plain files and its MANIFEST.json (decrypted if
 * encrypted) into the new directory dir, built beside it and renamed into
 * place when complete. An existing empty dir is fine; a non-empty one is
 * ERR_EXISTS unless force (then it is replaced whole). */
int snap_export(struct store *st, const char *commit, const char *dir, int force, size_t max_blob,
		size_t *n_files);

/* Prints a unified diff of the files ending in suffix between two commits,
 * each logical file compared whole (its chunks joined). n_changed receives
 * the number of files that differ. */
#include <stdio.h>
int snap_diff(struct store *st, const char *old_commit, const char *new_commit, const char *suffix,
	      int color, FILE *out, int *n_changed);
/* The same comparison, handed over instead of printed: file() for each
 * logical file whose chunks differ (in_old/in_new: present on that side),
 * then line() for each line removed ('-') or added ('+'), without its
 * newline. Files whose chunks are the same blobs are not reported and not
 * read. A non-zero return of a callback stops the walk and is returned. */
struct snap_diff_cb {
	int (*file)(void *arg, const char *logical, int in_old, int in_new);
	int (*line)(void *arg, const char *logical, char origin, const char *text, size_t len);
};
int snap_diff_lines(struct store *st, const char *old_commit, const char *new_commit, const char *suffix,
		    const struct snap_diff_cb *cb, void *arg);
/* One file of a commit by exact path (a chunk file), at most max bytes
 * (refused before it is read). */
struct buf;
int snap_read_path(struct store *st, const char *commit, const char *path, size_t max, struct buf *out);

/* The pack a push sends (thin.c): the commits reachable from want and
 * not from have (the remote's tips, those known here; have[0] should be
 * the remote's tip of the pushed branch), with the trees and blobs each
 * adds to its parent, every changed blob or tree as a delta against the
 * entry at its path in the parent's tree when that is under half its size
 * (a thin pack: the bases are on the remote or earlier in the pack).
 * write gets every byte in order (0, or negative to stop). */
struct git_oid;
struct thin_stats {
	size_t objects, deltas, whole;
	uint64_t bytes; /* of the pack */
};
int store_thin_pack(struct git_repository *repo, const struct git_oid *want, size_t nw, const struct git_oid *have,
		    size_t nh, int (*write)(void *payload, const void *data, size_t len), void *payload,
		    struct thin_stats *st);

#endif
