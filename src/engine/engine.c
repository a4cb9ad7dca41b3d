/* engine: the table of engines, and what is common to them. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dbgit/engine.h"
#include "dbgit/manifest.h"

extern const struct engine engine_sqlite;
extern const struct engine engine_command;
extern const struct engine engine_postgres;
extern const struct engine engine_mysql;

static const struct engine *const engines[] = {
	&engine_sqlite,
	&engine_command,
	&engine_postgres,
	&engine_mysql,
};

const struct engine *engine_find(const char *name)
{
	for (size_t i = 0; i < sizeof(engines) / sizeof(engines[0]); i++)
		if (name && !strcmp(engines[i]->name, name))
			return engines[i];
	return NULL;
}

static int cmp_table(const void *a, const void *b)
{
	return strcmp((*(const struct manifest_table *const *)a)->name,
		      (*(const struct manifest_table *const *)b)->name);
}

static const struct manifest_table **sorted_tables(const struct manifest *m)
{
	const struct manifest_table **v = malloc((m->n_tables + 1) * sizeof(*v));
	for (size_t i = 0; i < m->n_tables; i++)
		v[i] = &m->tables[i];
	qsort(v, m->n_tables, sizeof(*v), cmp_table);
	return v;
}

/* Both lists sorted by name and walked side by side: a manifest may list
 * many tables, and its names are unique (manifest_parse checks). */
int engine_compare_tables(const struct manifest *expected, const struct manifest *actual,
			  struct buf *problems)
{
	const struct manifest_table **e = sorted_tables(expected), **a = sorted_tables(actual);
	size_t i = 0, j = 0, ne = expected->n_tables, na = actual->n_tables;
	int diffs = 0;
	while (i < ne || j < na) {
		int c = i == ne ? 1 : j == na ? -1 : strcmp(e[i]->name, a[j]->name);
		if (c < 0) {
			buf_printf(problems, "table %s: missing from the snapshot\n", e[i++]->name);
			diffs++;
		} else if (c > 0) {
			buf_printf(problems, "table %s: in the snapshot but not in the source\n", a[j++]->name);
			diffs++;
		} else {
			const struct manifest_table *x = e[i++], *y = a[j++];
			if (x->rows != y->rows) {
				buf_printf(problems, "table %s: %lld rows in the source, %lld in the snapshot\n",
					   x->name, (long long)x->rows, (long long)y->rows);
				diffs++;
			} else if (strcmp(x->checksum, y->checksum)) {
				buf_printf(problems,
					   "table %s: same %lld rows but different content (checksum %.12s in the "
					   "source, %.12s in the snapshot)\n",
					   x->name, (long long)x->rows, x->checksum, y->checksum);
				diffs++;
			}
		}
	}
	free(e);
	free(a);
	return diffs;
}

int engine_concat_files(struct dump_source *src, const char *prefix, const char *suffix, const char *target,
			int *files)
{
	*files = 0;
	/* Never through a symlink: see target_temp. */
	int fd = open(target, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
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
