/*
 * engine: one database engine behind one interface. An engine knows its
 * database and its dump tools, and nothing of git: it writes a dump into a
 * dump_sink, restores from a dump_source into a scratch target, and computes
 * per-table row counts and content checksums that the cycle compares.
 *
 * An engine reports what it found (dump: of the source; inspect: of a
 * restore) as a cJSON object: "tables" [{"name", "rows", "checksum"}],
 * "schema" [{"type", "name", "tbl_name", "sha256"}], PRAGMA values. The
 * manifest module validates it into a struct manifest (MANIFEST_FINDINGS);
 * nobody else reads it.
 *
 * An engine writes its files in byte-wise path order (each file's chunks
 * follow in order), so that the cycle can restore them for verification
 * while the dump is still being written.
 */
#ifndef DBGIT_ENGINE_H
#define DBGIT_ENGINE_H

#include "dbgit/config.h"
#include "dbgit/stream.h"
#include "dbgit/util.h"

struct cJSON;

/* diff --stat without restoring two databases: fed the lines that differ
 * between two snapshots' text files (suffix), as the store finds them by
 * reading only the chunks that changed. begin gets a reader of one file of
 * the newer snapshot by its logical path (a table's schema, say). file()
 * comes before the lines of each file that differs; end() fills out as
 * compare does. Any of them may answer ENGINE_STAT_FALLBACK: the text
 * cannot tell (a schema change, a line it cannot read), and the cycle
 * restores both snapshots and calls compare. */
#define ENGINE_STAT_FALLBACK 1
struct engine_text_stat {
	const char *suffix;
	void *(*begin)(const struct job_cfg *job, int (*read)(void *rarg, const char *path, struct buf *out),
		       void *rarg);
	int (*file)(void *s, const char *path, int in_old, int in_new);
	int (*line)(void *s, const char *path, char origin, const char *text, size_t len);
	int (*end)(void *s, struct cJSON *out);
	void (*free)(void *s);
};

struct engine {
	const char *name;
	/* Engine-specific config validation; names the job and key. */
	int (*check)(const struct job_cfg *job);
	/* Dumps a consistent snapshot into sink. Fills info (an object) with
	 * "tables" (the summaries, computed in the same read transaction as the
	 * dump), "formats" (array of strings), "schema" where the engine knows
	 * one, and anything worth recording. */
	int (*dump)(const struct job_cfg *job, struct dump_sink *sink, struct cJSON *info);
	/* Rebuilds a database at target (a file path for file engines) from
	 * the snapshot's files; format picks "sql" or "binary". */
	int (*restore)(const struct job_cfg *job, struct dump_source *src, const char *format,
		       const char *target);
	/* Checks a restored database (integrity, foreign keys) and computes its
	 * findings into info ("tables", "schema", PRAGMA values), as dump does,
	 * with the job's exclusions left out: a snapshot holds only what was
	 * dumped. Problems found are described
	 * in problems, one per line; returns ERR_VERIFY if any. */
	int (*inspect)(const struct job_cfg *job, const char *target, struct cJSON *info,
		       struct buf *problems);
	/* Compares two restored databases table by table. Fills out with
	 * "tables": [{"name", "added", "removed", "changed"}] for tables whose
	 * rows differ (a changed row kept its key) and "schema": ["+ index i",
	 * "- table t", "~ view v", ...]. */
	int (*compare)(const struct job_cfg *job, const char *old_db, const char *new_db,
		       struct cJSON *out); /* NULL: not available */
	/* The same from the text formats alone, where it can; NULL: never. */
	const struct engine_text_stat *text_stat;
	/* For job->only_tables (restore --table): whether the restore needs
	 * the snapshot file at path, so that the source does not even read the
	 * others. NULL: the engine cannot restore some tables only. */
	int (*restore_wants)(const struct job_cfg *job, const char *path);
	/* The format of this job's dump whose restore may start while the dump
	 * is being written (its files come first in path order), or NULL. */
	const char *(*early_format)(const struct job_cfg *job);
	/* Server engines: restore and inspect take a target path in a
	 * scratch directory to mean a scratch database they name after it;
	 * discard drops it once the caller is done with it (also after a
	 * failure). NULL for file engines, whose scratch files go with the
	 * directory. */
	void (*discard)(const struct job_cfg *job, const char *target);
	/* Server engines restore `--to DBNAME` into a database on the job's
	 * server: non-NULL is the flag the cycle branches on. db_target_check
	 * refuses (ERR_USAGE) a name that is not valid, or a database that
	 * holds tables unless force; db_install renames the verified scratch
	 * database (a target path, as for restore) to name, replacing an
	 * existing one only with force, the old one kept until the new one
	 * has its name. */
	int (*db_target_check)(const struct job_cfg *job, const char *name, int force);
	int (*db_install)(const struct job_cfg *job, const char *scratch, const char *name, int force);
	/* `dbgit check`: reaches the job's source as a dump would (opens
	 * the file and reads its schema; connects to the server, tools
	 * found) and writes nothing. NULL: nothing to check before a run. */
	int (*probe)(const struct job_cfg *job);
};

const struct engine *engine_find(const char *name);

/* Writes the files of src whose paths start with prefix and end with
 * suffix, in order, into target (created 0600, fsynced): how a chunked
 * stream is put back together. files receives how many there were. */
int engine_concat_files(struct dump_source *src, const char *prefix, const char *suffix, const char *target,
			int *files);

/* Compares the tables of two manifests (the source's, and the findings of
 * inspect on a restore), by name. Describes each difference in problems
 * ("table t: 10 rows in the source, 9 in the snapshot"). Returns the number
 * of differences. */
struct manifest;
int engine_compare_tables(const struct manifest *expected, const struct manifest *actual,
			  struct buf *problems);

#endif
