/* log: one line per message on stderr, filtered by level. */
#include <stdio.h>
#include <unistd.h>

#include "dbgit/util.h"

static int current_level = LOG_WARN;

void log_set_level(int level)
{
	current_level = level;
}

int log_level(void)
{
	return current_level;
}

void log_msg(int level, const char *fmt, ...)
{
	static const char *const prefix[] = {"error: ", "warning: ", "", ""};
	if (level > current_level)
		return;
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "dbgit: %s", prefix[level]);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

int tty_stderr(void)
{
	return isatty(STDERR_FILENO);
}
