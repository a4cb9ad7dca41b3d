/* Private to src/store: the store's struct and shared helpers. */
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
