/*
 * manifest: MANIFEST.json, the one place that writes it, parses it and
 * validates it. Everyone else sees a struct manifest, never cJSON.
 *
 * A manifest read from a repository is hostile input (a remote others can
 * push to): every field is checked for type and range, paths for shape,
 * hex for length, the text for size and nesting depth, before anyone uses
 * it. Unknown keys are tolerated and kept (forward compatibility). A bad
 * manifest is one line naming the snapshot and the field:
 *   "snapshot 1a2b3c4d5e6f: MANIFEST.json: tables[3].rows is not a
 *    non-negative integer"
 *
 * The same parser reads an engine's findings (what dump and inspect
 * report: tables, schema, PRAGMA values) with MANIFEST_FINDINGS, where the
 * snapshot's own fields (job, files, ...) are not required.
 */
#ifndef DBGIT_MANIFEST_H
#define DBGIT_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

struct cJSON;
struct buf;

#define MANIFEST_MAX_TEXT  (16u << 20) /* bytes of JSON */
#define MANIFEST_MAX_DEPTH 32	       /* nesting of arrays and objects */
#define MANIFEST_MAX_PATH  1024	       /* bytes of a file's path */
#define MANIFEST_MAX_NAME  4096	       /* bytes of a table or object name */

struct manifest_table {
	char *name;
	int64_t rows;
	char checksum[65]; /* 64 hex */
};

struct manifest_file {
	char *path; /* relative, no "..", no empty component */
	int64_t size;
	char blob[41];
};

/* One schema object the dump held (SQLite: a sqlite_schema row). */
struct manifest_schema {
	char *type; /* table, index, view, trigger */
	char *name;
	char *tbl_name;
	char sha256[65]; /* of its SQL text */
};

struct manifest {
	int format_version;
	char *job, *engine, *source, *dbgit_version, *started, *finished;
	char **formats;
	size_t n_formats;
	struct manifest_table *tables;
	size_t n_tables;
	struct manifest_file *files;
	size_t n_files;
	int64_t size, new_blobs;
	char *verify_mode, *verify_result;
	/* Absent in snapshots taken before they were recorded: has_* = 0. */
	int has_exclusions, has_schema, has_user_version, has_application_id, has_fk;
	char **exclusions;
	size_t n_exclusions;
	struct manifest_schema *schema;
	size_t n_schema;
	int64_t user_version, application_id, foreign_key_violations;
	char *sqlite_version;
	struct cJSON *extra; /* keys this version does not know, kept as they are */
};

enum {
	MANIFEST_SNAPSHOT = 0, /* a whole MANIFEST.json: every required field */
	MANIFEST_FINDINGS = 1, /* an engine's findings: tables, schema, PRAGMAs */
};

/* Parses and validates text (len bytes). what names the document in the
 * error ("snapshot 1a2b3c4d5e6f: MANIFEST.json"). m is filled on success
 * and empty (freeable) on failure. */
int manifest_parse(struct manifest *m, const char *text, size_t len, const char *what);
/* The same on a parsed document (an engine's findings). */
int manifest_from_json(struct manifest *m, const struct cJSON *doc, int kind, const char *what);
void manifest_free(struct manifest *m);

/* Writing a new snapshot's manifest. */
void manifest_init(struct manifest *m, const char *job, const char *engine, const char *source,
		   int64_t started);
/* Takes over the engine's findings (formats, tables, schema, PRAGMAs and
 * anything else it recorded), validated like a manifest read back. */
int manifest_add_findings(struct manifest *m, const struct cJSON *info, const char *what);
/* The snapshot's files: takes over files[0..n) (each path and the array,
 * also on failure), checks paths as a manifest read back is checked, sums
 * size. */
int manifest_take_files(struct manifest *m, struct manifest_file *files, size_t n, int64_t new_blobs);
int manifest_set_exclusions(struct manifest *m, char *const *names, size_t n);
void manifest_set_string(char **field, const char *value);
/* The JSON text (caller frees); what manifest_parse reads back. */
char *manifest_text(const struct manifest *m);

/* Small queries. */
int manifest_has_format(const struct manifest *m, const char *format);
int64_t manifest_rows(const struct manifest *m);
/* The format to restore from: want if given, else binary (faster to
 * restore), else the first listed. NULL if there is none such. */
const char *manifest_pick_format(const struct manifest *m, const char *want);
/* "sql", "binary" or "both": what a job's format key would say. */
const char *manifest_job_format(const struct manifest *m);

/* Compares the schema objects of expected (the source) and actual (the
 * restored snapshot); describes each difference in problems ("index i: in
 * the source, missing from the snapshot"). Skipped (0) unless both have a
 * schema. Returns the number of differences. */
int manifest_compare_schema(const struct manifest *expected, const struct manifest *actual,
			    struct buf *problems);

#endif
