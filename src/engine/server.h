/*
 * server: what the server engines (postgres, mysql, mongodb) share beyond their
 * child processes (child.h): table names made folder names, the scratch
 * database named after a verification's target path, summaries and the
 * schema digest in the engine's findings, exclusions, and the merge of two
 * key-ordered row streams that diff --stat counts with. The sqlite engine
 * uses the folder names and the summaries too.
 */
#ifndef DBGIT_ENGINE_SERVER_H
#define DBGIT_ENGINE_SERVER_H

#include <stdint.h>

#include "dbgit/config.h"
#include "dbgit/stream.h"
#include "dbgit/util.h"

struct cJSON;

/* The keys every SQL server engine needs and refuses (database required;
 * path and command do not apply; format "sql" only), one message naming
 * the engine; what names the server for the message ("PostgreSQL"). */
int server_check_keys(const struct job_cfg *job, const char *engine, const char *what);

/* A table name as a folder name: [A-Za-z0-9_.-] kept (no leading '.'),
 * every other byte %XX, so that two names never meet and byte-wise
 * folder order is stable. */
char *server_sanitize(const char *name);

/* The scratch database for a target path in a scratch directory (verify,
 * diff): dbgit_<job>_<pid>_<file>, lower case, [a-z0-9_] only, so that
 * parallel runs never meet; a target without '/' is a user's database
 * name (restore --to) and returned as it is. */
char *server_scratch_name(const struct job_cfg *job, const char *target);

/* Whether job->exclude_tables names this table; with qualified, names are
 * "schema.table" and a bare table name matches too. */
int server_excluded(const struct job_cfg *job, const char *name, int qualified);
/* The same for job->exclude_table_data (the definition kept, the rows left
 * out). */
int server_data_excluded(const struct job_cfg *job, const char *name, int qualified);

/* One {"name", "rows", "checksum"} into summaries. */
void server_add_summary(struct cJSON *summaries, const char *name, int64_t rows, const char *sum);
/* One {"type", "name", "tbl_name" (may be NULL), "sha256" of def} into schema. */
void server_add_schema(struct cJSON *schema, const char *type, const char *name, const char *tbl_name,
		       const char *def, size_t len);
const char *server_jstr(const struct cJSON *o, const char *key);

/* A whole small file into sink. */
int server_write_text(struct dump_sink *sink, const char *path, const char *text, size_t len);

/* diff --stat's schema lines ("+ index i", "- table t", "~ view v") from
 * two "schema" arrays, appended to out (an array of strings). */
void server_schema_diff(const struct cJSON *old_schema, const struct cJSON *new_schema, struct cJSON *out);

/* Two streams of "key\tdigest" lines in byte order of key, merged: a key
 * on one side only is a row removed (old) or added (new), on both with
 * another digest a changed row. next fills line (without caring for its
 * '\n') and sets *have to 0 at the end; a side may be NULL (the table is
 * on the other side only). If anything differs, one {"name", "added",
 * "removed", "changed"} goes into tables. Memory: two lines. */
typedef int (*server_next_fn)(void *side, struct buf *line, int *have);
int server_compare_keyed(server_next_fn next, void *old_side, void *new_side, const char *name,
			 struct cJSON *tables);

/* The first of names found in PATH (as given), or names[0] so that the
 * error names the preferred tool. */
const char *server_pick_tool(const char *const *names);

#endif
