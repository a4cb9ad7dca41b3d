/*
 * packw: dbgit's own pack writer (packw.c), private to src/store.
 */
#ifndef DBGIT_PACKW_H
#define DBGIT_PACKW_H

#include <git2.h>
#include <stdint.h>

/* The base pack is not one this writer can extend (an index or entry it
 * doubts, a thin pack): pack with libgit2 instead. The error is set. */
#define PACKW_FALLBACK 1

struct packw_result {
	size_t objects;     /* in the new pack */
	size_t added;       /* new objects */
	size_t copied;      /* base pack entries copied as they were */
	size_t rebased;     /* previous versions re-stored as deltas against their new version */
	size_t deltas;      /* new objects stored as deltas */
	size_t whole;       /* objects deflated whole */
	size_t lines_read;  /* blobs read to learn their first line (not in the lineage cache) */
	size_t dropped;     /* base pack entries left out (not kept) */
	size_t rewritten;   /* kept entries stored whole because their delta base was left out */
	uint64_t bytes;     /* of the new pack */
	uint64_t bytes_new; /* of it, encoded this time (not copied) */
};

/* Writes ONE new pack into packdir (fsynced, its .idx too, then checked:
 * see packw.c) of the objects of the pack base ("pack-<hex>", or NULL
 * for none) and the objects add (any order; duplicates and objects of the
 * base allowed; each must be readable from repo). *new_base gets the new
 * pack's base name (caller frees). Deletes nothing: the caller removes the
 * base pack and what add came from once the new pack is in place.
 * Returns 0, PACKW_FALLBACK, or a negative error. */
struct lcache;
/* keep: when not NULL, only the base pack's entries in keep (the array is
 * sorted in place) are written, a kept delta whose base is not kept
 * stored whole: the rest is dropped (a reclaim). seed: first-line hashes known already (the
 * chunks this process wrote), or NULL. */
int packw_write(git_repository *repo, const char *packdir, const char *base, const git_oid *add, size_t n_add,
		git_oid *keep, size_t n_keep, const struct lcache *seed, char **new_base,
		struct packw_result *res);

/* A pack written through a callback, for a push: the objects given
 * whole or as deltas against objects the receiver has (a thin pack: git's
 * receive-pack completes it with index-pack --fix-thin). count is the
 * number of entries that will follow; write gets every byte, in order,
 * and returns 0 or a negative error. */
struct packw_stream;
int packw_stream_new(struct packw_stream **out, uint32_t count,
		     int (*write)(void *payload, const void *data, size_t len), void *payload);
int packw_stream_whole(struct packw_stream *s, git_object_t type, const void *data, size_t len);
/* delta: git's delta format (delta.h) turning base's content into the object's */
int packw_stream_ref_delta(struct packw_stream *s, const git_oid *base, const void *delta, size_t len);
/* The trailer (SHA-1 of everything before it); fails unless every announced entry was written. */
int packw_stream_finish(struct packw_stream *s);
uint64_t packw_stream_bytes(const struct packw_stream *s);
void packw_stream_free(struct packw_stream *s);

#endif
