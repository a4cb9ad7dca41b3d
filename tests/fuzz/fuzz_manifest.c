/*
 * libFuzzer target: MANIFEST.json as anyone who can push to a remote could
 * write it. The bytes go through manifest_parse (size and depth checks,
 * cJSON, validation); whatever it accepts is used the way callers use it
 * (queries, the schema and table comparisons, written back and parsed
 * again, which must succeed). Any crash, leak, sanitizer report or a
 * refused round trip is a bug.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbgit/manifest.h"
#include "dbgit/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct manifest m;
	err_clear();
	if (manifest_parse(&m, (const char *)data, size, "fuzz: MANIFEST.json") < 0) {
		/* One line, naming the document. */
		if (strchr(err_last(), '\n') || strncmp(err_last(), "fuzz: MANIFEST.json", 19))
			abort();
		manifest_free(&m);
		return 0;
	}
	(void)manifest_rows(&m);
	(void)manifest_pick_format(&m, NULL);
	(void)manifest_pick_format(&m, "sql");
	(void)manifest_job_format(&m);
	struct buf problems = BUF_INIT;
	(void)manifest_compare_schema(&m, &m, &problems);
	if (problems.len)
		abort(); /* a manifest equals itself */
	char *text = manifest_text(&m);
	struct manifest back;
	if (!text || manifest_parse(&back, text, strlen(text), "fuzz: written back") < 0) {
		fprintf(stderr, "written back, refused: %s\n", err_last());
		abort();
	}
	if (back.n_tables != m.n_tables || back.n_files != m.n_files || back.size != m.size ||
	    manifest_rows(&back) != manifest_rows(&m))
		abort();
	manifest_free(&back);
	free(text);
	buf_free(&problems);
	manifest_free(&m);
	return 0;
}
