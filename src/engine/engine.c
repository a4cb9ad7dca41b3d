/* engine: the table of engines, and what is common to them. */
#include <cjson/cJSON.h>
#include <string.h>

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
