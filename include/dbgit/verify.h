/*
 * verify: restore a snapshot from the repository's objects into scratch and
 * compare it with its manifest (rows and checksum per table, schema objects,
 * integrity, the PRAGMAs the engine records), using the engine and formats
 * the manifest names. The early restore does the restore of
 * one format on a second thread while the dump is written.
 */
#ifndef DBGIT_VERIFY_H
#define DBGIT_VERIFY_H

#include <pthread.h>

#include "dbgit/config.h"
#include "dbgit/util.h"

struct engine;
struct manifest;
struct snap_feed;
struct snap_writer;
struct store;

/* A format already restored while the dump was written: its database, or
 * why its restore failed. */
struct restored {
	const char *format;
	const char *db;    /* restored from exactly the snapshot's objects */
	const char *error; /* the restore failed: why */
};

/* Restores every format the manifest expect lists from object obj (a
 * commit or tree) into dir (a new scratch directory if NULL) and compares.
 * Problems go to problems, one per line; the directory is removed, or on
 * failure moved into keep_failed when given. early: a format restored in
 * advance (or NULL). */
int verify_in_scratch(struct store *st, const struct job_cfg *job, const char *obj,
		      const struct manifest *expect, const char *keep_failed, const char *dir,
		      const struct restored *early, struct buf *problems);

/* The job as the snapshot described by m was taken: engine and format from
 * the manifest, no exclusions (the snapshot holds only what was dumped);
 * the rest (paths, branch) from today's job. out borrows from both. */
void verify_snapshot_job(const struct job_cfg *job, const struct manifest *m, struct job_cfg *out);

/* Compares what inspect found in a restore (got) with the manifest
 * (tables, schema, PRAGMA values); one line per difference in problems.
 * Returns the number of differences. */
int verify_compare(const struct manifest *expect, const struct manifest *got, struct buf *problems);

/* restore --table: keeps in m only the tables named in only (and the
 * indexes and triggers on them; no views), and drops what compares the
 * whole database (foreign key violations). */
void verify_restrict(struct manifest *m, char *const *only, size_t n);

/* Inspects the database restored at target (integrity, foreign keys, its
 * findings) and compares it with expect. ERR_VERIFY with problems if it
 * differs. */
int verify_restored(const struct engine *eng, const struct job_cfg *job, const char *target,
		    const struct manifest *expect, struct buf *problems);

/* Picks up to want distinct indexes of [from, n) at random (getrandom),
 * written to out in ascending order; returns how many (all of them when
 * the range holds no more than want). */
size_t verify_sample_pick(size_t from, size_t n, size_t want, size_t *out);

/* The first line of b, for a one-line error. */
const char *verify_first_line(struct buf *b, char *out, size_t len);

/* The early restore (see src/verify.c). Zero-initialise, start before the
 * dump, join after it, ask for the result once the tree is written. */
struct early_restore {
	const struct engine *eng;
	const struct job_cfg *job;
	struct snap_feed *feed;
	const char *format;
	char *dir, *db;
	pthread_t thread;
	int started, rc;
	char error[600];
};
int early_restore_start(struct early_restore *er, struct store *st, const struct engine *eng,
			const struct job_cfg *job, struct snap_writer *w);
void early_restore_join(struct early_restore *er, int failed);
/* 1 and out filled if the early restore went through exactly tree's files. */
int early_restore_result(struct early_restore *er, struct store *st, const char *tree,
			 struct restored *out);
void early_restore_free(struct early_restore *er);

#endif
