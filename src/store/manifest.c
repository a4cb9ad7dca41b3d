/*
 * manifest: MANIFEST.json written, parsed and validated in one place.
 *
 * Invariants:
 * - Nothing outside this file reads a manifest's cJSON: callers get a
 *   struct manifest whose every field has been checked (type, range, hex,
 *   path shape), so they may use it without further checks.
 * - The writer goes through the same validation as the reader (the
 *   engine's findings are validated as they are taken over, and the text
 *   written is what manifest_parse accepts), so what dbgit commits, dbgit
 *   can read back.
 * - A document that could hurt the parser is refused before it is parsed:
 *   larger than MANIFEST_MAX_TEXT or nested deeper than MANIFEST_MAX_DEPTH
 *   (cJSON recurses once per level).
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dbgit/manifest.h"
#include "dbgit/store.h"
#include "dbgit/util.h"

/* 2^53: every integer up to here is exact in a JSON number (a double). */
#define MAX_EXACT 9007199254740992.0

static const char *const known_formats[] = {"sql", "binary", "stream", "json"};
static const char *const known_engines[] = {"sqlite", "command", "postgres", "mysql", "mongodb"};
static const char *const known_schema_types[] = {"table", "index", "view", "trigger", "function"};

static int in_list(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(s, list[i]))
			return 1;
	return 0;
}
#define IN_LIST(s, list) in_list((s), (list), sizeof(list) / sizeof((list)[0]))

void manifest_set_string(char **field, const char *value)
{
	free(*field);
	*field = value ? xstrdup(value) : NULL;
}

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void manifest_free(struct manifest *m)
{
	if (!m)
		return;
	free(m->job), free(m->engine), free(m->source), free(m->dbgit_version);
	free(m->started), free(m->finished), free(m->verify_mode), free(m->verify_result);
	free(m->sqlite_version);
	free_strv(m->formats, m->n_formats);
	free_strv(m->exclusions, m->n_exclusions);
	for (size_t i = 0; i < m->n_tables; i++)
		free(m->tables[i].name);
	free(m->tables);
	for (size_t i = 0; i < m->n_files; i++)
		free(m->files[i].path);
	free(m->files);
	for (size_t i = 0; i < m->n_schema; i++) {
		free(m->schema[i].type);
		free(m->schema[i].name);
		free(m->schema[i].tbl_name);
	}
	free(m->schema);
	cJSON_Delete(m->extra);
	memset(m, 0, sizeof(*m));
}

/* ---- validation ---- */

static int bad(const char *what, const char *field, const char *why)
{
	return err_set(ERR_GENERIC, "%s: %s %s", what, field, why);
}

static int has_control(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return 1;
	return 0;
}

/* A string of at most max bytes without control characters. */
static int get_string(const cJSON *v, const char *what, const char *field, size_t max, char **out)
{
	if (!cJSON_IsString(v) || !v->valuestring)
		return bad(what, field, "is not a string");
	size_t len = strlen(v->valuestring);
	if (len > max)
		return bad(what, field, "is too long");
	if (has_control(v->valuestring))
		return bad(what, field, "holds a control character");
	*out = xstrdup(v->valuestring);
	return 0;
}

static int get_int(const cJSON *v, const char *what, const char *field, double min, double max, int64_t *out)
{
	if (!cJSON_IsNumber(v))
		return bad(what, field, "is not a number");
	double d = v->valuedouble;
	if (!isfinite(d) || d != floor(d) || d < min || d > max) {
		if (min == 0)
			return bad(what, field, "is not a non-negative integer");
		return bad(what, field, "is not an integer in range");
	}
	*out = (int64_t)d;
	return 0;
}

static int get_hex(const cJSON *v, const char *what, const char *field, size_t len, char *out)
{
	if (!cJSON_IsString(v) || !v->valuestring || strlen(v->valuestring) != len ||
	    strspn(v->valuestring, "0123456789abcdef") != len) {
		char why[64];
		snprintf(why, sizeof(why), "is not %zu lowercase hex digits", len);
		return bad(what, field, why);
	}
	memcpy(out, v->valuestring, len + 1);
	return 0;
}

/* A relative path inside the snapshot: no leading '/', no "." or ".."
 * component, no empty component, no control character, bounded. */
static int path_ok(const char *p)
{
	size_t len = strlen(p);
	if (len == 0 || len > MANIFEST_MAX_PATH || has_control(p) || p[0] == '/' || p[len - 1] == '/')
		return 0;
	for (const char *c = p; *c;) {
		size_t n = strcspn(c, "/");
		if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return 0;
		c += n + (c[n] == '/');
	}
	return 1;
}

static const cJSON *get(const cJSON *o, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(o, key);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Names must be unique: sorts a copy of the pointers and looks at
 * neighbours (a hostile list may be long). Returns the repeated one. */
static const char *first_repeat(const char **names, size_t n)
{
	qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 1; i < n; i++)
		if (!strcmp(names[i - 1], names[i]))
			return names[i];
	return NULL;
}

static int parse_strv(const cJSON *arr, const char *what, const char *key, const char *const *known,
		      size_t n_known, char ***out, size_t *n_out)
{
	char field[64];
	if (!cJSON_IsArray(arr))
		return bad(what, key, "is not an array");
	size_t n = (size_t)cJSON_GetArraySize(arr), i = 0;
	char **v = calloc(n + 1, sizeof(*v));
	*out = v;
	*n_out = 0;
	const cJSON *e;
	cJSON_ArrayForEach (e, arr) {
		snprintf(field, sizeof(field), "%s[%zu]", key, i);
		if (get_string(e, what, field, MANIFEST_MAX_NAME, &v[i]) < 0)
			return ERR_GENERIC;
		(*n_out)++;
		if (known && !in_list(v[i], known, n_known))
			return err_set(ERR_GENERIC, "%s: %s \"%s\" is not known to this dbgit", what, field,
				       v[i]);
		i++;
	}
	const char **copy = malloc((n + 1) * sizeof(*copy));
	memcpy(copy, v, n * sizeof(*copy));
	const char *rep = first_repeat(copy, n);
	free(copy);
	if (rep)
		return err_set(ERR_GENERIC, "%s: %s lists \"%s\" twice", what, key, rep);
	return 0;
}

static int parse_tables(struct manifest *m, const cJSON *arr, const char *what)
{
	char field[64];
	if (!cJSON_IsArray(arr))
		return bad(what, "tables", "is not an array");
	size_t n = (size_t)cJSON_GetArraySize(arr), i = 0;
	m->tables = calloc(n + 1, sizeof(*m->tables));
	const cJSON *t;
	cJSON_ArrayForEach (t, arr) {
		struct manifest_table *mt = &m->tables[i];
		if (!cJSON_IsObject(t)) {
			snprintf(field, sizeof(field), "tables[%zu]", i);
			return bad(what, field, "is not an object");
		}
		snprintf(field, sizeof(field), "tables[%zu].name", i);
		if (get_string(get(t, "name"), what, field, MANIFEST_MAX_NAME, &mt->name) < 0)
			return ERR_GENERIC;
		m->n_tables++;
		snprintf(field, sizeof(field), "tables[%zu].rows", i);
		if (get_int(get(t, "rows"), what, field, 0, MAX_EXACT, &mt->rows) < 0)
			return ERR_GENERIC;
		snprintf(field, sizeof(field), "tables[%zu].checksum", i);
		if (get_hex(get(t, "checksum"), what, field, 64, mt->checksum) < 0)
			return ERR_GENERIC;
		i++;
	}
	const char **names = malloc((n + 1) * sizeof(*names));
	for (size_t k = 0; k < n; k++)
		names[k] = m->tables[k].name;
	const char *rep = first_repeat(names, n);
	int rc = rep ? err_set(ERR_GENERIC, "%s: tables lists \"%s\" twice", what, rep) : 0;
	free(names);
	return rc;
}

static int parse_files(struct manifest *m, const cJSON *arr, const char *what)
{
	char field[64];
	if (!cJSON_IsArray(arr))
		return bad(what, "files", "is not an array");
	size_t n = (size_t)cJSON_GetArraySize(arr), i = 0;
	m->files = calloc(n + 1, sizeof(*m->files));
	const cJSON *f;
	cJSON_ArrayForEach (f, arr) {
		struct manifest_file *mf = &m->files[i];
		if (!cJSON_IsObject(f)) {
			snprintf(field, sizeof(field), "files[%zu]", i);
			return bad(what, field, "is not an object");
		}
		snprintf(field, sizeof(field), "files[%zu].path", i);
		const cJSON *p = get(f, "path");
		if (!cJSON_IsString(p) || !p->valuestring)
			return bad(what, field, "is not a string");
		if (!path_ok(p->valuestring))
			return bad(what, field, "is not a relative path inside the snapshot");
		mf->path = xstrdup(p->valuestring);
		m->n_files++;
		snprintf(field, sizeof(field), "files[%zu].size", i);
		if (get_int(get(f, "size"), what, field, 0, MAX_EXACT, &mf->size) < 0)
			return ERR_GENERIC;
		snprintf(field, sizeof(field), "files[%zu].blob", i);
		if (get_hex(get(f, "blob"), what, field, 40, mf->blob) < 0)
			return ERR_GENERIC;
		i++;
	}
	const char **names = malloc((n + 1) * sizeof(*names));
	for (size_t k = 0; k < n; k++)
		names[k] = m->files[k].path;
	const char *rep = first_repeat(names, n);
	int rc = rep ? err_set(ERR_GENERIC, "%s: files lists \"%s\" twice", what, rep) : 0;
	free(names);
	return rc;
}

static int parse_schema(struct manifest *m, const cJSON *arr, const char *what)
{
	char field[64];
	if (!cJSON_IsArray(arr))
		return bad(what, "schema", "is not an array");
	size_t n = (size_t)cJSON_GetArraySize(arr), i = 0;
	m->schema = calloc(n + 1, sizeof(*m->schema));
	m->has_schema = 1;
	const cJSON *s;
	cJSON_ArrayForEach (s, arr) {
		struct manifest_schema *ms = &m->schema[i];
		if (!cJSON_IsObject(s)) {
			snprintf(field, sizeof(field), "schema[%zu]", i);
			return bad(what, field, "is not an object");
		}
		m->n_schema++;
		snprintf(field, sizeof(field), "schema[%zu].type", i);
		if (get_string(get(s, "type"), what, field, 16, &ms->type) < 0)
			return ERR_GENERIC;
		if (!IN_LIST(ms->type, known_schema_types))
			return bad(what, field, "is not table, index, view, trigger or function");
		snprintf(field, sizeof(field), "schema[%zu].name", i);
		if (get_string(get(s, "name"), what, field, MANIFEST_MAX_NAME, &ms->name) < 0)
			return ERR_GENERIC;
		snprintf(field, sizeof(field), "schema[%zu].tbl_name", i);
		if (get(s, "tbl_name") &&
		    get_string(get(s, "tbl_name"), what, field, MANIFEST_MAX_NAME, &ms->tbl_name) < 0)
			return ERR_GENERIC;
		snprintf(field, sizeof(field), "schema[%zu].sha256", i);
		if (get_hex(get(s, "sha256"), what, field, 64, ms->sha256) < 0)
			return ERR_GENERIC;
		i++;
	}
	return 0;
}

/* Keys this file reads; anything else is kept in extra. */
static const char *const known_keys[] = {
    "format_version", "job",
    "engine",	      "source",
    "dbgit_version",  "started",
    "finished",	      "formats",
    "tables",	      "files",
    "size",	      "new_blobs",
    "verification",   "exclude_tables",
    "schema",	      "user_version",
    "application_id", "foreign_key_violations",
    "sqlite_version",
};

int manifest_from_json(struct manifest *m, const cJSON *doc, int kind, const char *what)
{
	memset(m, 0, sizeof(*m));
	int rc = ERR_GENERIC;
	const cJSON *v;
	if (!cJSON_IsObject(doc)) {
		err_set(ERR_GENERIC, "%s is not a JSON object", what);
		goto fail;
	}
	if (kind == MANIFEST_SNAPSHOT) {
		int64_t fv = 0;
		if (!(v = get(doc, "format_version"))) {
			err_set(ERR_GENERIC, "%s: format_version is missing", what);
			goto fail;
		}
		if (get_int(v, what, "format_version", 1, 1e9, &fv) < 0)
			goto fail;
		if (fv > MANIFEST_FORMAT) {
			err_set(ERR_GENERIC, "%s: format_version %lld is newer than this dbgit reads (%d)",
				what, (long long)fv, MANIFEST_FORMAT);
			goto fail;
		}
		m->format_version = (int)fv;
		static const char *const required[] = {"job", "engine", "formats", "tables", "files"};
		for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
			if (!get(doc, required[i])) {
				err_set(ERR_GENERIC, "%s: %s is missing", what, required[i]);
				goto fail;
			}
		if (get_string(get(doc, "job"), what, "job", MANIFEST_MAX_NAME, &m->job) < 0 ||
		    get_string(get(doc, "engine"), what, "engine", 64, &m->engine) < 0)
			goto fail;
		if (!IN_LIST(m->engine, known_engines)) {
			err_set(ERR_GENERIC, "%s: engine \"%s\" is not known to this dbgit", what, m->engine);
			goto fail;
		}
		static const struct {
			const char *key;
			size_t max;
			size_t off;
		} opt[] = {
		    {"source", MANIFEST_MAX_PATH * 4, offsetof(struct manifest, source)},
		    {"dbgit_version", 64, offsetof(struct manifest, dbgit_version)},
		    {"started", 64, offsetof(struct manifest, started)},
		    {"finished", 64, offsetof(struct manifest, finished)},
		};
		for (size_t i = 0; i < sizeof(opt) / sizeof(opt[0]); i++)
			if ((v = get(doc, opt[i].key)) && get_string(v, what, opt[i].key, opt[i].max,
								     (char **)((char *)m + opt[i].off)) < 0)
				goto fail;
		if (parse_files(m, get(doc, "files"), what) < 0)
			goto fail;
		if ((v = get(doc, "size"))) {
			if (get_int(v, what, "size", 0, MAX_EXACT, &m->size) < 0)
				goto fail;
		} else {
			for (size_t i = 0; i < m->n_files; i++)
				m->size += m->files[i].size;
		}
		if ((v = get(doc, "new_blobs")) &&
		    get_int(v, what, "new_blobs", 0, MAX_EXACT, &m->new_blobs) < 0)
			goto fail;
		if ((v = get(doc, "verification"))) {
			if (!cJSON_IsObject(v)) {
				bad(what, "verification", "is not an object");
				goto fail;
			}
			const cJSON *x;
			if ((x = get(v, "mode")) &&
			    get_string(x, what, "verification.mode", 16, &m->verify_mode) < 0)
				goto fail;
			if ((x = get(v, "result")) &&
			    get_string(x, what, "verification.result", 16, &m->verify_result) < 0)
				goto fail;
		}
		if ((v = get(doc, "exclude_tables"))) {
			m->has_exclusions = 1;
			if (parse_strv(v, what, "exclude_tables", NULL, 0, &m->exclusions, &m->n_exclusions) <
			    0)
				goto fail;
		}
	}
	/* The findings: what an engine reports of a dump or a restore. */
	if ((v = get(doc, "formats"))) {
		if (parse_strv(v, what, "formats", known_formats, 4, &m->formats, &m->n_formats) < 0)
			goto fail;
		if (kind == MANIFEST_SNAPSHOT && m->n_formats == 0) {
			bad(what, "formats", "is empty");
			goto fail;
		}
	}
	if ((v = get(doc, "tables")) && parse_tables(m, v, what) < 0)
		goto fail;
	if ((v = get(doc, "schema")) && parse_schema(m, v, what) < 0)
		goto fail;
	if ((v = get(doc, "user_version"))) {
		m->has_user_version = 1;
		if (get_int(v, what, "user_version", -2147483648.0, 2147483647.0, &m->user_version) < 0)
			goto fail;
	}
	if ((v = get(doc, "application_id"))) {
		m->has_application_id = 1;
		if (get_int(v, what, "application_id", -2147483648.0, 2147483647.0, &m->application_id) < 0)
			goto fail;
	}
	if ((v = get(doc, "foreign_key_violations"))) {
		m->has_fk = 1;
		if (get_int(v, what, "foreign_key_violations", 0, MAX_EXACT, &m->foreign_key_violations) < 0)
			goto fail;
	}
	if ((v = get(doc, "sqlite_version")) &&
	    get_string(v, what, "sqlite_version", 64, &m->sqlite_version) < 0)
		goto fail;
	const cJSON *item;
	cJSON_ArrayForEach (item, doc) {
		if (!item->string || IN_LIST(item->string, known_keys))
			continue;
		if (!m->extra)
			m->extra = cJSON_CreateObject();
		cJSON_AddItemToObject(m->extra, item->string, cJSON_Duplicate(item, 1));
	}
	return 0;
fail:
	manifest_free(m);
	return rc;
}

/* Deeper than MANIFEST_MAX_DEPTH? Looks at brackets outside strings, so a
 * document that would make cJSON recurse deeply is never handed to it. */
static int too_deep(const char *text, size_t len)
{
	int depth = 0, in_str = 0;
	for (size_t i = 0; i < len; i++) {
		char c = text[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = 0;
		} else if (c == '"') {
			in_str = 1;
		} else if (c == '[' || c == '{') {
			if (++depth > MANIFEST_MAX_DEPTH)
				return 1;
		} else if (c == ']' || c == '}') {
			depth--;
		}
	}
	return 0;
}

int manifest_parse(struct manifest *m, const char *text, size_t len, const char *what)
{
	memset(m, 0, sizeof(*m));
	if (len > MANIFEST_MAX_TEXT)
		return err_set(ERR_GENERIC, "%s is larger than %u MiB", what, MANIFEST_MAX_TEXT >> 20);
	if (too_deep(text, len))
		return err_set(ERR_GENERIC, "%s is nested deeper than %d levels", what, MANIFEST_MAX_DEPTH);
	cJSON *doc = cJSON_ParseWithLength(text, len);
	if (!doc)
		return err_set(ERR_GENERIC, "%s is not valid JSON", what);
	int rc = manifest_from_json(m, doc, MANIFEST_SNAPSHOT, what);
	cJSON_Delete(doc);
	return rc;
}

/* ---- writing ---- */

void manifest_init(struct manifest *m, const char *job, const char *engine, const char *source,
		   int64_t started)
{
	char when[32];
	memset(m, 0, sizeof(*m));
	m->format_version = MANIFEST_FORMAT;
	m->job = xstrdup(job);
	m->engine = xstrdup(engine);
	m->source = xstrdup(source);
	m->dbgit_version = xstrdup(DBGIT_VERSION);
	time_format_utc(started, when);
	m->started = xstrdup(when);
}

int manifest_add_findings(struct manifest *m, const cJSON *info, const char *what)
{
	struct manifest f;
	if (manifest_from_json(&f, info, MANIFEST_FINDINGS, what) < 0)
		return ERR_GENERIC;
		/* Moved over field by field: the snapshot's own fields stay. */
#define TAKE(field) (m->field = f.field, f.field = 0)
	free_strv(m->formats, m->n_formats);
	TAKE(formats), TAKE(n_formats);
	for (size_t i = 0; i < m->n_tables; i++)
		free(m->tables[i].name);
	free(m->tables);
	TAKE(tables), TAKE(n_tables);
	TAKE(schema), TAKE(n_schema), TAKE(has_schema);
	TAKE(has_user_version), TAKE(user_version);
	TAKE(has_application_id), TAKE(application_id);
	TAKE(has_fk), TAKE(foreign_key_violations);
	free(m->sqlite_version);
	TAKE(sqlite_version);
	cJSON_Delete(m->extra);
	TAKE(extra);
#undef TAKE
	manifest_free(&f);
	return 0;
}

int manifest_take_files(struct manifest *m, struct manifest_file *files, size_t n, int64_t new_blobs)
{
	for (size_t i = 0; i < m->n_files; i++)
		free(m->files[i].path);
	free(m->files);
	m->files = files;
	m->n_files = n;
	m->size = 0;
	/* What the writer made is checked as what is read back would be: a
	 * snapshot that could not be read back must not be written. */
	const char *what = "the snapshot's files";
	char field[64];
	for (size_t i = 0; i < n; i++) {
		snprintf(field, sizeof(field), "files[%zu].path", i);
		if (!path_ok(files[i].path))
			return bad(what, field, "is not a relative path inside the snapshot");
		snprintf(field, sizeof(field), "files[%zu].size", i);
		if (files[i].size < 0 || files[i].size > MAX_EXACT)
			return bad(what, field, "is out of range");
		m->size += files[i].size;
	}
	const char **names = malloc((n + 1) * sizeof(*names));
	for (size_t k = 0; k < n; k++)
		names[k] = files[k].path;
	const char *rep = first_repeat(names, n);
	int rc = rep ? err_set(ERR_GENERIC, "%s: files lists \"%s\" twice", what, rep) : 0;
	free(names);
	m->new_blobs = new_blobs;
	return rc;
}

int manifest_set_exclusions(struct manifest *m, char *const *names, size_t n)
{
	free_strv(m->exclusions, m->n_exclusions);
	m->exclusions = calloc(n + 1, sizeof(*m->exclusions));
	for (size_t i = 0; i < n; i++)
		m->exclusions[i] = xstrdup(names[i]);
	m->n_exclusions = n;
	m->has_exclusions = 1;
	return 0;
}

static void add_str(cJSON *o, const char *key, const char *v)
{
	if (v)
		cJSON_AddStringToObject(o, key, v);
}

/* Integers written exactly: cJSON prints a double with 15 significant
 * digits when that reads back "close enough", which rounds counts past
 * 10^15. */
static void add_int(cJSON *o, const char *key, int64_t v)
{
	char num[24];
	snprintf(num, sizeof(num), "%lld", (long long)v);
	cJSON_AddRawToObject(o, key, num);
}

static cJSON *strv_json(char *const *v, size_t n)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
	return a;
}

/* The shape of format_version 1, as dbgit has always written it, plus
 * exclude_tables and schema. */
char *manifest_text(const struct manifest *m)
{
	cJSON *o = cJSON_CreateObject();
	add_int(o, "format_version", m->format_version ? m->format_version : MANIFEST_FORMAT);
	add_str(o, "job", m->job);
	add_str(o, "engine", m->engine);
	add_str(o, "source", m->source);
	add_str(o, "dbgit_version", m->dbgit_version);
	add_str(o, "started", m->started);
	cJSON_AddItemToObject(o, "formats", strv_json(m->formats, m->n_formats));
	cJSON *tables = cJSON_AddArrayToObject(o, "tables");
	for (size_t i = 0; i < m->n_tables; i++) {
		cJSON *t = cJSON_CreateObject();
		cJSON_AddStringToObject(t, "name", m->tables[i].name);
		add_int(t, "rows", m->tables[i].rows);
		cJSON_AddStringToObject(t, "checksum", m->tables[i].checksum);
		cJSON_AddItemToArray(tables, t);
	}
	if (m->has_fk)
		add_int(o, "foreign_key_violations", m->foreign_key_violations);
	if (m->has_user_version)
		add_int(o, "user_version", m->user_version);
	if (m->has_application_id)
		add_int(o, "application_id", m->application_id);
	add_str(o, "sqlite_version", m->sqlite_version);
	if (m->has_schema) {
		cJSON *schema = cJSON_AddArrayToObject(o, "schema");
		for (size_t i = 0; i < m->n_schema; i++) {
			cJSON *s = cJSON_CreateObject();
			cJSON_AddStringToObject(s, "type", m->schema[i].type);
			cJSON_AddStringToObject(s, "name", m->schema[i].name);
			add_str(s, "tbl_name", m->schema[i].tbl_name);
			cJSON_AddStringToObject(s, "sha256", m->schema[i].sha256);
			cJSON_AddItemToArray(schema, s);
		}
	}
	if (m->has_exclusions)
		cJSON_AddItemToObject(o, "exclude_tables", strv_json(m->exclusions, m->n_exclusions));
	const cJSON *item;
	cJSON_ArrayForEach (item, m->extra)
		cJSON_AddItemToObject(o, item->string, cJSON_Duplicate(item, 1));
	cJSON *files = cJSON_AddArrayToObject(o, "files");
	for (size_t i = 0; i < m->n_files; i++) {
		cJSON *f = cJSON_CreateObject();
		cJSON_AddStringToObject(f, "path", m->files[i].path);
		add_int(f, "size", m->files[i].size);
		cJSON_AddStringToObject(f, "blob", m->files[i].blob);
		cJSON_AddItemToArray(files, f);
	}
	add_int(o, "size", m->size);
	add_int(o, "new_blobs", m->new_blobs);
	add_str(o, "finished", m->finished);
	if (m->verify_mode || m->verify_result) {
		cJSON *ver = cJSON_AddObjectToObject(o, "verification");
		add_str(ver, "mode", m->verify_mode);
		add_str(ver, "result", m->verify_result);
	}
	char *text = cJSON_Print(o);
	cJSON_Delete(o);
	return text;
}

/* ---- queries ---- */

int manifest_has_format(const struct manifest *m, const char *format)
{
	for (size_t i = 0; i < m->n_formats; i++)
		if (!strcmp(m->formats[i], format))
			return 1;
	return 0;
}

int64_t manifest_rows(const struct manifest *m)
{
	int64_t rows = 0;
	/* Each is at most 2^53; a hostile list could still add up past
	 * INT64_MAX, so saturate. */
	for (size_t i = 0; i < m->n_tables; i++)
		rows = rows > INT64_MAX - m->tables[i].rows ? INT64_MAX : rows + m->tables[i].rows;
	return rows;
}

const char *manifest_pick_format(const struct manifest *m, const char *want)
{
	const char *fmt = NULL;
	for (size_t i = 0; i < m->n_formats; i++) {
		const char *f = m->formats[i];
		if (want ? !strcmp(want, f) : (!fmt || !strcmp(f, "binary")))
			fmt = f;
	}
	return fmt;
}

const char *manifest_job_format(const struct manifest *m)
{
	int sql = manifest_has_format(m, "sql"), bin = manifest_has_format(m, "binary");
	return sql && bin ? "both" : bin ? "binary" : "sql";
}

static int cmp_schema(const void *a, const void *b)
{
	const struct manifest_schema *x = *(const struct manifest_schema *const *)a;
	const struct manifest_schema *y = *(const struct manifest_schema *const *)b;
	int c = strcmp(x->type, y->type);
	return c ? c : strcmp(x->name, y->name);
}

static const struct manifest_schema **sorted_schema(const struct manifest *m)
{
	const struct manifest_schema **v = malloc((m->n_schema + 1) * sizeof(*v));
	for (size_t i = 0; i < m->n_schema; i++)
		v[i] = &m->schema[i];
	qsort(v, m->n_schema, sizeof(*v), cmp_schema);
	return v;
}

int manifest_compare_schema(const struct manifest *expected, const struct manifest *actual,
			    struct buf *problems)
{
	if (!expected->has_schema || !actual->has_schema)
		return 0;
	const struct manifest_schema **e = sorted_schema(expected), **a = sorted_schema(actual);
	size_t i = 0, j = 0, ne = expected->n_schema, na = actual->n_schema;
	int diffs = 0;
	while (i < ne || j < na) {
		int c = i == ne ? 1 : j == na ? -1 : cmp_schema(&e[i], &a[j]);
		if (c < 0) {
			buf_printf(problems, "%s %s: in the source, missing from the snapshot\n", e[i]->type,
				   e[i]->name);
			i++;
		} else if (c > 0) {
			buf_printf(problems, "%s %s: in the snapshot but not in the source\n", a[j]->type,
				   a[j]->name);
			j++;
		} else {
			if (strcmp(e[i]->sha256, a[j]->sha256)) {
				buf_printf(problems, "%s %s: different definition\n", e[i]->type, e[i]->name);
				diffs++;
			}
			i++, j++;
			continue;
		}
		diffs++;
	}
	free(e);
	free(a);
	return diffs;
}
