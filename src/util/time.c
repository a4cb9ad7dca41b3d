/*
 * time: the clock, formatting and parsing. In the test build only
 * (DBGIT_TEST_HOOKS), DBGIT_NOW (epoch seconds or an ISO date-time) replaces
 * the clock, so tests can build a year of nightly snapshots in seconds.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
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

/* 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the times that have a
 * four-digit year, so that every time printed parses back. */
#define TIME_MIN INT64_C(-62167219200)
#define TIME_MAX INT64_C(253402300799)

void time_format_utc(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;
	/* A time from a damaged commit may be anything: never print garbage. */
	if (t < TIME_MIN || t > TIME_MAX || !gmtime_r(&tt, &tm)) {
		snprintf(out, 32, "@%lld", (long long)t);
		return;
	}
	/* In range every field has its width (20 chars); the compiler cannot
	 * know, so format into room for any int and copy. */
	char full[96];
	snprintf(full, sizeof(full), "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	snprintf(out, 32, "%.31s", full);
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

static int days_in_month(int y, int mo)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return days[mo - 1] + (mo == 2 && leap);
}

static int in_range(const char *s, int64_t t, int64_t *out)
{
	if (t < TIME_MIN || t > TIME_MAX)
		return err_set(ERR_USAGE, "'%s' is out of range (years 0000 to 9999)", s);
	*out = t;
	return 0;
}

int time_parse(const char *s, int64_t *out)
{
	const char *p = s;
	/* All digits (8 would be a date without dashes): epoch seconds. */
	size_t nd = strspn(s + (*s == '-'), "0123456789");
	if (nd && s[(*s == '-') + nd] == '\0' && strlen(s) != 8) {
		errno = 0;
		long long epoch = strtoll(s, NULL, 10);
		if (errno == ERANGE)
			return err_set(ERR_USAGE, "'%s' is out of range (years 0000 to 9999)", s);
		return in_range(s, epoch, out);
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
	/* A day that does not exist is a typo, not the next month. */
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || se > 60)
		goto bad;
	if (*p == '\0') {
		tm.tm_isdst = -1;
		return in_range(s, (int64_t)mktime(&tm), out);
	}
	int64_t base = (int64_t)timegm(&tm);
	if (*p == 'Z' && p[1] == '\0')
		return in_range(s, base, out);
	if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1, oh, om = 0;
		p++;
		if (digits(&p, 2, &oh))
			goto bad;
		if (*p == ':')
			p++;
		if (*p && digits(&p, 2, &om))
			goto bad;
		if (*p || oh > 23 || om > 59)
			goto bad;
		return in_range(s, base - sign * (oh * 3600 + om * 60), out);
	}
bad:
	return err_set(ERR_USAGE, "'%s' is not a date or time (use 2026-11-21 or 2026-11-21T03:00:00Z)", s);
}

int time_parse_at(const char *s, int64_t *out)
{
	/* Checked as given first, so that an error quotes what was typed. */
	if (time_parse(s, out) < 0)
		return ERR_USAGE;
	size_t len = strlen(s);
	if (len < 10 || s[4] != '-')
		return 0; /* epoch seconds */
	char utc[48];
	if (len == 10)
		snprintf(utc, sizeof(utc), "%sT23:59:59Z", s);
	else if (!strpbrk(s + 10, "Z+-") && len < 40)
		snprintf(utc, sizeof(utc), "%sZ", s);
	else
		return 0;
	return time_parse(utc, out);
}

int duration_parse(const char *s, int64_t *out)
{
	const char *p = s;
	int64_t total = 0;
	if (!*p)
		goto bad;
	while (*p) {
		char *end;
		/* Digits only: strtoll would also take blanks and signs. */
		if (!isdigit((unsigned char)*p))
			goto bad;
		errno = 0;
		long long n = strtoll(p, &end, 10);
		if (errno == ERANGE)
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
		if (n > (INT64_MAX - total) / unit)
			return err_set(ERR_USAGE, "'%s' is too long a duration", s);
		total += n * unit;
		p = end + 1;
	}
	*out = total;
	return 0;
bad:
	return err_set(ERR_USAGE, "'%s' is not a duration (use e.g. 30d, 12h, 2w, 1y6m)", s);
}
