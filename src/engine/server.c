/* server: what the server engines share (server.h). */
#include "server.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int server_check_keys(const struct job_cfg *job, const char *engine, const char *what)
{
	if (!job->database)
		return err_set(ERR_USAGE, "missing required key 'database' (the %s database to back up)", what);
	if (job->path)
		return err_set(ERR_USAGE, "key 'path' does not apply to engine \"%s\" (use host/socket, port, database)",
			       engine);
	if (strcmp(job->format, "sql"))
		return err_set(ERR_USAGE, "engine \"%s\" writes format = \"sql\" only", engine);
	if (job->command)
		return err_set(ERR_USAGE, "key 'command' does not apply to engine \"%s\"", engine);
	return 0;
}

char *server_sanitize(const char *name)
{
	struct buf b = BUF_INIT;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if (isalnum(*p) || *p == '_' || (*p == '.' && p != (const unsigned char *)name) || *p == '-')
			buf_add(&b, p, 1);
		else
			buf_printf(&b, "%%%02X", *p);
	}
	return b.data ? b.data : xstrdup("%");
}

char *server_scratch_name(const struct job_cfg *job, const char *target)
{
	const char *slash = strrchr(target, '/');
	if (!slash)
		return xstrdup(target); /* a database name (restore --to) */
	char *base = server_sanitize(slash + 1);
	char *dot = strrchr(base, '.');
	if (dot)
		*dot = '\0';
	for (char *p = base; *p; p++)
		if (!isalnum((unsigned char)*p))
			*p = '_';
	/* At most 6 + 24 + 1 + 7 + 1 + 16 bytes: within PostgreSQL's 63 and
	 * MySQL's 64. */
	char *name = xasprintf("dbgit_%.24s_%ld_%.16s", job->name, (long)getpid(), base);
	for (char *p = name; *p; p++)
		*p = (char)(isalnum((unsigned char)*p) ? tolower((unsigned char)*p) : '_');
	free(base);
	return name;
}

int server_excluded(const struct job_cfg *job, const char *name, int qualified)
{
	const char *dot = qualified ? strchr(name, '.') : NULL;
	for (size_t i = 0; i < job->n_exclude; i++)
		if (!strcmp(job->exclude_tables[i], name) || (dot && !strcmp(job->exclude_tables[i], dot + 1)))
			return 1;
	return 0;
}

int server_data_excluded(const struct job_cfg *job, const char *name, int qualified)
{
	const char *dot = qualified ? strchr(name, '.') : NULL;
	for (size_t i = 0; i < job->n_exclude_data; i++)
		if (!strcmp(job->exclude_table_data[i], name) || (dot && !strcmp(job->exclude_table_data[i], dot + 1)))
			return 1;
	return 0;
}

void server_add_summary(cJSON *summaries, const char *name, int64_t rows, const char *sum)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "name", name);
	cJSON_AddNumberToObject(o, "rows", (double)rows);
	cJSON_AddStringToObject(o, "checksum", sum);
	cJSON_AddItemToArray(summaries, o);
}

void server_add_schema(cJSON *schema, const char *type, const char *name, const char *tbl_name, const char *def,
		       size_t len)
{
	char hex[65];
	struct sha256 *h = sha256_new();
	sha256_update(h, def ? def : "", def ? len : 0);
	sha256_final_hex(h, hex);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "type", type);
	cJSON_AddStringToObject(o, "name", name);
	if (tbl_name)
		cJSON_AddStringToObject(o, "tbl_name", tbl_name);
	cJSON_AddStringToObject(o, "sha256", hex);
	cJSON_AddItemToArray(schema, o);
}

const char *server_jstr(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

int server_write_text(struct dump_sink *sink, const char *path, const char *text, size_t len)
{
	int rc = sink->open(sink, path, CHUNK_LINES);
	if (rc == 0 && len)
		rc = sink->write(sink, text, len);
	if (rc == 0)
		rc = sink->close(sink);
	return rc;
}

static const cJSON *schema_find(const cJSON *arr, const cJSON *e)
{
	const cJSON *x;
	const char *type = server_jstr(e, "type"), *name = server_jstr(e, "name");
	cJSON_ArrayForEach (x, arr) {
		const char *t = server_jstr(x, "type"), *n = server_jstr(x, "name");
		if (t && n && type && name && !strcmp(t, type) && !strcmp(n, name))
			return x;
	}
	return NULL;
}

static void schema_line(cJSON *out, char sign, const cJSON *e)
{
	const char *type = server_jstr(e, "type"), *name = server_jstr(e, "name");
	char *line = xasprintf("%c %s %s", sign, type ? type : "?", name ? name : "?");
	cJSON_AddItemToArray(out, cJSON_CreateString(line));
	free(line);
}

void server_schema_diff(const cJSON *old_schema, const cJSON *new_schema, cJSON *out)
{
	const cJSON *e;
	cJSON_ArrayForEach (e, old_schema) {
		const cJSON *o = schema_find(new_schema, e);
		const char *ha = server_jstr(e, "sha256"), *hb = o ? server_jstr(o, "sha256") : NULL;
		if (!o)
			schema_line(out, '-', e);
		else if (!ha || !hb || strcmp(ha, hb))
			schema_line(out, '~', e);
	}
	cJSON_ArrayForEach (e, new_schema)
		if (!schema_find(old_schema, e))
			schema_line(out, '+', e);
}

int server_compare_keyed(server_next_fn next, void *a, void *b, const char *name, cJSON *tables)
{
	int64_t added = 0, removed = 0, changed = 0;
	struct buf la = BUF_INIT, lb = BUF_INIT;
	int ha = 0, hb = 0;
	int rc = a ? next(a, &la, &ha) : 0;
	if (rc == 0 && b)
		rc = next(b, &lb, &hb);
	while (rc == 0 && (ha || hb)) {
		const char *ka = ha ? la.data : NULL, *kb = hb ? lb.data : NULL;
		size_t na = ha ? strcspn(ka, "\t") : 0, nb = hb ? strcspn(kb, "\t") : 0;
		int c;
		if (!ha)
			c = 1;
		else if (!hb)
			c = -1;
		else {
			c = memcmp(ka, kb, na < nb ? na : nb);
			if (c == 0)
				c = na < nb ? -1 : na > nb;
		}
		if (c < 0) {
			removed++;
			rc = next(a, &la, &ha);
		} else if (c > 0) {
			added++;
			rc = next(b, &lb, &hb);
		} else {
			if (strcmp(ka + na, kb + nb))
				changed++;
			rc = next(a, &la, &ha);
			if (rc == 0)
				rc = next(b, &lb, &hb);
		}
	}
	buf_free(&la);
	buf_free(&lb);
	if (rc == 0 && (added || removed || changed)) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", name);
		cJSON_AddNumberToObject(o, "added", (double)added);
		cJSON_AddNumberToObject(o, "removed", (double)removed);
		cJSON_AddNumberToObject(o, "changed", (double)changed);
		cJSON_AddItemToArray(tables, o);
	}
	return rc;
}

const char *server_pick_tool(const char *const *names)
{
	const char *path = getenv("PATH");
	for (const char *const *n = names; *n; n++) {
		for (const char *p = path ? path : ""; p && *p;) {
			const char *colon = strchr(p, ':');
			size_t len = colon ? (size_t)(colon - p) : strlen(p);
			char *full = xasprintf("%.*s/%s", (int)len, len ? p : ".", *n);
			int ok = access(full, X_OK) == 0;
			free(full);
			if (ok)
				return *n;
			p = colon ? colon + 1 : NULL;
		}
	}
	return names[0];
}
