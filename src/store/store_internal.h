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

struct store {
	git_repository *repo;
	char *path;
	int lock_fd;
};

/* Flushes every object written so far to disk (one syncfs), so a ref
 * moved afterwards never names an object a crash could lose. */
int store_sync(struct store *st);

/* Step 4 of the protocol above: fsync the loose ref file refname (or
 * packed-refs if it is packed), the directory holding it, and its reflog. */
int store_sync_ref(struct store *st, const char *refname);

/* The logical file a chunk belongs to: "t/1-rows-000012.sql" ->
 * "t/1-rows.sql"; other names unchanged. Caller frees. */
char *chunk_logical_name(const char *path);

/* A snapshot tree entry from a repository that may be hostile: plain
 * files and directories with plain names only (snap.c). Sets a one-line
 * error naming commit and path and returns ERR_VERIFY otherwise. */
struct git_tree_entry;
int snap_check_entry(const char *commit, const char *root, const struct git_tree_entry *e);

/* Sets the error from git_error_last(), prefixed with what. */
int store_git_error(const char *what);

#endif
