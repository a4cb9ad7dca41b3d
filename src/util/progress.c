/*
 * progress: one self-overwriting line on a terminal ("app: dump 120 MiB"),
 * at most a few updates a second; nothing at all when stderr is not a
 * terminal (cron) or with -q.
 */
#include <stdio.h>
#include <time.h>

#include "dbgit/util.h"

static char label[128];
static uint64_t done_bytes;
static int64_t last_ms = -1;
static int shown;
static int on; /* decided once per progress_begin: isatty is a syscall */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int enabled(void)
{
	return log_level() >= LOG_WARN && tty_stderr();
}

void progress_begin(const char *what)
{
	snprintf(label, sizeof(label), "%s", what);
	done_bytes = 0;
	last_ms = -1;
	on = enabled();
}

void progress_add(uint64_t bytes)
{
	done_bytes += bytes;
	if (!on)
		return;
	int64_t t = now_ms();
	if (last_ms >= 0 && t - last_ms < 250)
		return;
	last_ms = t;
	fprintf(stderr, "\r%s %.1f MiB\033[K", label, (double)done_bytes / (1024.0 * 1024.0));
	shown = 1;
}

void progress_end(void)
{
	if (shown && on)
		fprintf(stderr, "\r\033[K");
	shown = 0;
	on = 0;
	label[0] = '\0';
}
