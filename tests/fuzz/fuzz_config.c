/*
 * fuzz_config: dbgit.toml is typed by people and copied around; whatever
 * it holds, config_parse either returns a config whose jobs can be looked
 * up, or fails with ERR_USAGE and one line naming the file - and frees
 * what it built either way (LeakSanitizer checks every input).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbgit/config.h"
#include "dbgit/util.h"

#define FILE_NAME "fuzz.toml"

static void fail(const char *why)
{
	fprintf(stderr, "fuzz_config: %s (last error: %s)\n", why, err_last());
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	struct config *cfg = (struct config *)1;
	err_clear();
	int rc = config_parse(&cfg, FILE_NAME, text);
	if (rc == 0) {
		if (!cfg || !cfg->repo_path)
			fail("success without a config or its repository path");
		for (size_t i = 0; i < cfg->n_jobs; i++) {
			const struct job_cfg *job = &cfg->jobs[i];
			if (!job->name || config_job(cfg, job->name) != job)
				fail("a job that config_job does not find");
			if (!config_job_keep(cfg, job))
				fail("a job without a retention policy");
		}
	} else {
		if (cfg)
			fail("an error that leaves *out set");
		if (rc != ERR_USAGE)
			fail("an error other than ERR_USAGE");
		if (!strstr(err_last(), FILE_NAME) || strchr(err_last(), '\n'))
			fail("an error message that does not name the file on one line");
	}
	config_free(cfg);
	free(text);
	return 0;
}
