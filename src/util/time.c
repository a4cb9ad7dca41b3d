/*
 * time: the clock, formatting and parsing. In the test build only
 * (DBGIT_TEST_HOOKS), DBGIT_NOW (epoch seconds or an ISO date-time) replaces
 * the clock, so tests can build a year of nightly snapshots in seconds.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dbgit/util.h"

int64_t time_now(void)
{
#ifdef DBGIT_TEST_HOOKS
	const char *fake = getenv("DBGIT_NOW");
	int64_t t;
	if (fake && *fake && time_parse(fake, &t) == 0)
		return t;
#endif
	return (int64_t)time(NULL);
}

void time_format_utc(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)**p))
			return -1;
		v = v * 10 + (**p - '0');
		(*p)++;
	}
	*out = v;
	return 0;
}

int time_parse(const char *s, int64_t *out)
{
	const char *p = s;
	char *end;
	/* All digits: epoch seconds. */
	long long epoch = strtoll(s, &end, 10);
	if (*s && *end == '\0' && strlen(s) != 8) {
		*out = epoch;
		return 0;
	}
	struct tm tm = {0};
	int y, mo, d, h = 0, mi = 0, se = 0;
	if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
	    digits(&p, 2, &d))
		goto bad;
	if (*p == 'T' || *p == ' ') {
		p++;
		if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi))
			goto bad;
		if (*p == ':') {
			p++;
			if (digits(&p, 2, &se))
				goto bad;
		}
	}
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
		goto bad;
	if (*p == '\0') {
		tm.tm_isdst = -1;
		*out = (int64_t)mktime(&tm);
		return 0;
	}
	int64_t base = (int64_t)timegm(&tm);
	if (*p == 'Z' && p[1] == '\0') {
		*out = base;
		return 0;
	}
	if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1, oh, om = 0;
		p++;
		if (digits(&p, 2, &oh))
			goto bad;
		if (*p == ':')
			p++;
		if (*p && digits(&p, 2, &om))
			goto bad;
		if (*p)
			goto bad;
		*out = base - sign * (oh * 3600 + om * 60);
		return 0;
	}
bad:
	return err_set(ERR_USAGE, "'%s' is not a date or time (use 2026-11-21 or 2026-11-21T03:00:00Z)", s);
}

int duration_parse(const char *s, int64_t *out)
{
	const char *p = s;
	int64_t total = 0;
	if (!*p)
		goto bad;
	while (*p) {
		char *end;
		long long n = strtoll(p, &end, 10);
		if (end == p || n < 0)
			goto bad;
		int64_t unit;
		switch (*end) {
		case 's': unit = 1; break;
		case 'h': unit = 3600; break;
		case 'd': unit = 86400; break;
		case 'w': unit = 7 * 86400; break;
		case 'm': unit = 30 * 86400; break;
		case 'y': unit = 365 * 86400; break;
		default: goto bad;
		}
		total += n * unit;
		p = end + 1;
	}
	*out = total;
	return 0;
bad:
	return err_set(ERR_USAGE, "'%s' is not a duration (use e.g. 30d, 12h, 2w, 1y6m)", s);
}
