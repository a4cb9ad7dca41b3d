/* engine: the table of engines, and what is common to them. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dbgit/engine.h"

extern const struct engine engine_sqlite;
extern const struct engine engine_command;

static const struct engine *const engines[] = {
	&engine_sqlite,
	&engine_command,
};

const struct engine *engine_find(const char *name)
{
	for (size_t i = 0; i < sizeof(engines) / sizeof(engines[0]); i++)
		if (name && !strcmp(engines[i]->name, name))
			return engines[i];
	return NULL;
}

static const cJSON *find_table(const cJSON *tables, const char *name)
{
	const cJSON *t;
	cJSON_ArrayForEach(t, tables)
	{
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(t, "name");
		if (cJSON_IsString(n) && !strcmp(n->valuestring, name))
			return t;
	}
	return NULL;
}

int engine_compare_tables(const cJSON *expected, const cJSON *actual, struct buf *problems)
{
	int diffs = 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, expected)
	{
		const char *name = cJSON_GetObjectItemCaseSensitive(e, "name")->valuestring;
		const cJSON *a = find_table(actual, name);
		if (!a) {
			buf_printf(problems, "table %s: missing from the snapshot\n", name);
			diffs++;
			continue;
		}
		double er = cJSON_GetObjectItemCaseSensitive(e, "rows")->valuedouble;
		double ar = cJSON_GetObjectItemCaseSensitive(a, "rows")->valuedouble;
		const char *es = cJSON_GetObjectItemCaseSensitive(e, "checksum")->valuestring;
		const char *as = cJSON_GetObjectItemCaseSensitive(a, "checksum")->valuestring;
		if (er != ar) {
			buf_printf(problems, "table %s: %.0f rows in the source, %.0f in the snapshot\n", name,
				   er, ar);
			diffs++;
		} else if (strcmp(es, as)) {
			buf_printf(problems,
				   "table %s: same %.0f rows but different content (checksum %.12s in the "
				   "source, %.12s in the snapshot)\n",
				   name, er, es, as);
			diffs++;
		}
	}
	cJSON_ArrayForEach(e, actual)
	{
		const char *name = cJSON_GetObjectItemCaseSensitive(e, "name")->valuestring;
		if (!find_table(expected, name)) {
			buf_printf(problems, "table %s: in the snapshot but not in the source\n", name);
			diffs++;
		}
	}
	return diffs;
}

int engine_concat_files(struct dump_source *src, const char *prefix, const char *suffix, const char *target,
			int *files)
{
	*files = 0;
	int fd = open(target, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_set(ERR_GENERIC, "%s: %s", target, strerror(errno));
	char *piece = malloc(1 << 16);
	const char *path;
	int rc;
	size_t plen = strlen(prefix), slen = strlen(suffix);
	while ((rc = src->next(src, &path)) == 1) {
		size_t len = strlen(path);
		if (strncmp(path, prefix, plen) || len < slen || strcmp(path + len - slen, suffix))
			continue;
		(*files)++;
		ssize_t n;
		while ((n = src->read(src, piece, 1 << 16)) > 0)
			if (fs_write_all(fd, piece, (size_t)n) < 0) {
				rc = err_set(ERR_GENERIC, "%s: %s", target, strerror(errno));
				goto out;
			}
		if (n < 0) {
			rc = ERR_VERIFY;
			goto out;
		}
	}
	if (rc == 0 && fsync(fd) < 0)
		rc = err_set(ERR_GENERIC, "%s: %s", target, strerror(errno));
out:
	free(piece);
	close(fd);
	return rc;
}
