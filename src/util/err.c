/*
 * err: the one error path. A single message, set where the failure is
 * understood best (deepest), kept until cleared, so the line the user sees
 * names the file, table or remote at fault.
 */
#include <stdio.h>
#include <string.h>

#include "dbgit/util.h"

static _Thread_local char err_msg[2048];
static _Thread_local int err_val;

static int err_vset(int code, const char *fmt, va_list ap)
{
	/* Through a local buffer: callers may pass err_last() itself as an
	 * argument ("job 'x': %s", err_last()). */
	char tmp[sizeof(err_msg)];
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	memcpy(err_msg, tmp, sizeof(err_msg));
	/* One line: a message that spans lines breaks cron mail and log greps. */
	for (char *p = err_msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	err_val = code;
	return code;
}

int err_set(int code, const char *fmt, ...)
{
	if (err_val != 0)
		return code;
	va_list ap;
	va_start(ap, fmt);
	err_vset(code, fmt, ap);
	va_end(ap);
	return code;
}

int err_reset(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	err_vset(code, fmt, ap);
	va_end(ap);
	return code;
}

const char *err_last(void)
{
	return err_val ? err_msg : "unknown error";
}

int err_code(void)
{
	return err_val;
}

void err_clear(void)
{
	err_val = 0;
	err_msg[0] = '\0';
}

int err_exit_status(int code)
{
	switch (code) {
	case 0:
		return EXIT_OK;
	case ERR_USAGE:
	case ERR_NOTFOUND: /* an unknown job, revision or time */
	case ERR_EXISTS:   /* a restore target, without --force */
		return EXIT_USAGE;
	case ERR_LOCKED:
		return EXIT_LOCKED;
	case ERR_PUSH:
		return EXIT_PUSH_FAILED;
	case ERR_REFUSED:
		return EXIT_REFUSED;
	case ERR_INTERRUPTED:
		return sig_exit_status() ? sig_exit_status() : EXIT_JOB_FAILED;
	default:
		return EXIT_JOB_FAILED;
	}
}
