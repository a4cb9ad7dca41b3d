/*
 * Unit tests for rotate_plan: restic's forget semantics on synthetic
 * timestamps. Each case lists the snapshots that must survive (UTC,
 * "YYYY-MM-DD HH:MM", newest first) and, where it matters, why.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dbgit/rotate.h"
#include "dbgit/util.h"

static int passed, failed;

#define MAXN 2000

static int64_t at(const char *s)
{
	struct tm tm = {0};
	if (sscanf(s, "%d-%d-%d %d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
		   &tm.tm_min) != 5) {
		fprintf(stderr, "bad time %s\n", s);
		exit(2);
	}
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm);
}

static void fmt(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%d %H:%M", &tm);
}

/* n snapshots every step seconds, newest first, ending at newest. */
static size_t series(int64_t *t, const char *newest, int64_t step, size_t n)
{
	int64_t top = at(newest);
	for (size_t i = 0; i < n; i++)
		t[i] = top - (int64_t)i * step;
	return n;
}

static size_t list(int64_t *t, const char *const *s)
{
	size_t n = 0;
	while (s[n]) {
		t[n] = at(s[n]);
		n++;
	}
	return n;
}

static struct keep_policy pol(int last, int hourly, int daily, int weekly, int monthly,
			      int yearly, int64_t within)
{
	struct keep_policy p = {1, last, hourly, daily, weekly, monthly, yearly, within};
	return p;
}

/* Checks the survivors (joined by ", ") and, if want_reason0 is given,
 * the reasons of the newest. */
static void check(const char *name, const struct keep_policy *p, const int64_t *t, size_t n,
		  int64_t now, const char *want, const char *want_reason0)
{
	static int keep[MAXN];
	static char reasons[MAXN][64];
	char got[MAXN * 20] = "";
	int rc = rotate_plan(p, t, n, now, keep, reasons);
	for (size_t i = 0; i < n; i++) {
		if (!keep[i])
			continue;
		char s[32];
		fmt(t[i], s);
		if (*got)
			strcat(got, ", ");
		strcat(got, s);
	}
	int ok = rc == 0 && strcmp(got, want) == 0;
	if (ok && want_reason0 && strcmp(reasons[0], want_reason0) != 0)
		ok = 0;
	if (ok) {
		passed++;
		printf("ok - %s\n", name);
	} else {
		failed++;
		printf("not ok - %s\n  rc:   %d %s\n  want: %s\n  got:  %s\n  why0: %s\n", name, rc,
		       rc ? err_last() : "", want, got, n ? reasons[0] : "");
	}
}

int main(void)
{
	static int64_t t[MAXN];
	size_t n;
	const int64_t day = 86400, hour = 3600;
	const int64_t now = at("2030-01-01 00:00");

	setenv("TZ", "UTC", 1);
	tzset();

	/* last only: ten days at noon. */
	n = series(t, "2024-01-10 12:00", day, 10);
	struct keep_policy p = pol(3, 0, 0, 0, 0, 0, 0);
	check("last 3 keeps the three newest", &p, t, n, now,
	      "2024-01-10 12:00, 2024-01-09 12:00, 2024-01-08 12:00", "last");
	p = pol(20, 0, 0, 0, 0, 0, 0);
	check("last 20 of 10 keeps all", &p, t, n, now,
	      "2024-01-10 12:00, 2024-01-09 12:00, 2024-01-08 12:00, 2024-01-07 12:00, "
	      "2024-01-06 12:00, 2024-01-05 12:00, 2024-01-04 12:00, 2024-01-03 12:00, "
	      "2024-01-02 12:00, 2024-01-01 12:00",
	      NULL);

	/* daily: several a day, a day without any. */
	static const char *const days[] = {"2024-01-05 18:00", "2024-01-05 09:00",
					   "2024-01-04 20:00", "2024-01-04 08:00",
					   "2024-01-02 12:00", "2024-01-01 12:00", NULL};
	n = list(t, days);
	p = pol(0, 0, 3, 0, 0, 0, 0);
	check("daily 3 keeps the newest of the three newest days, a gap uses no count", &p, t, n,
	      now, "2024-01-05 18:00, 2024-01-04 20:00, 2024-01-02 12:00", "daily");
	n = 4;
	p = pol(0, 0, 5, 0, 0, 0, 0);
	check("daily with counts left also keeps the oldest (restic)", &p, t, n, now,
	      "2024-01-05 18:00, 2024-01-04 20:00, 2024-01-04 08:00", NULL);

	/* hourly. */
	static const char *const hours[] = {"2024-03-01 12:00", "2024-03-01 11:30",
					    "2024-03-01 10:55", "2024-03-01 10:05", NULL};
	n = list(t, hours);
	p = pol(0, 2, 0, 0, 0, 0, 0);
	check("hourly 2", &p, t, n, now, "2024-03-01 12:00, 2024-03-01 11:30", "hourly");

	/* A year of nightly snapshots: weekly + monthly. 2024-12-31 is a
	 * Tuesday of ISO week 2025-W01, which began on Monday 2024-12-30. */
	n = series(t, "2024-12-31 03:00", day, 366);
	p = pol(0, 0, 0, 2, 2, 0, 0);
	check("weekly 2 + monthly 2 over a year, ISO week across new year", &p, t, n, now,
	      "2024-12-31 03:00, 2024-12-29 03:00, 2024-11-30 03:00", "weekly, monthly");
	p = pol(0, 0, 0, 0, 0, 1, 0);
	check("yearly 1 keeps only the newest", &p, t, n, now, "2024-12-31 03:00", "yearly");
	p = pol(7, 0, 0, 4, 0, 0, 0);
	check("last 7 + weekly 4 over a year", &p, t, n, now,
	      "2024-12-31 03:00, 2024-12-30 03:00, 2024-12-29 03:00, 2024-12-28 03:00, "
	      "2024-12-27 03:00, 2024-12-26 03:00, 2024-12-25 03:00, 2024-12-22 03:00, "
	      "2024-12-15 03:00",
	      "last, weekly");

	/* yearly: monthly snapshots over four years. */
	n = 0;
	for (int y = 2024; y >= 2021; y--)
		for (int m = 12; m >= 1; m--) {
			char s[32];
			snprintf(s, sizeof(s), "%04d-%02d-01 00:00", y, m);
			t[n++] = at(s);
		}
	p = pol(0, 0, 0, 0, 0, 3, 0);
	check("yearly 3 over four years", &p, t, n, now,
	      "2024-12-01 00:00, 2023-12-01 00:00, 2022-12-01 00:00", NULL);
	p = pol(0, 0, 0, 0, 0, 10, 0);
	check("yearly 10 over four years also keeps the oldest", &p, t, n, now,
	      "2024-12-01 00:00, 2023-12-01 00:00, 2022-12-01 00:00, 2021-12-01 00:00, "
	      "2021-01-01 00:00",
	      NULL);

	/* monthly with gaps: empty months use no count. */
	static const char *const months[] = {"2024-07-15 00:00", "2024-06-15 00:00",
					     "2024-01-15 00:00", "2023-12-15 00:00", NULL};
	n = list(t, months);
	p = pol(0, 0, 0, 0, 3, 0, 0);
	check("monthly 3 skips empty months", &p, t, n, now,
	      "2024-07-15 00:00, 2024-06-15 00:00, 2024-01-15 00:00", NULL);

	/* within: relative to the newest snapshot, not to now; the boundary
	 * itself is out (restic: strictly after). */
	n = series(t, "2024-01-31 12:00", day, 31);
	p = pol(0, 0, 0, 0, 0, 0, 10 * day);
	check("within 10d of the newest", &p, t, n, at("2024-02-15 00:00"),
	      "2024-01-31 12:00, 2024-01-30 12:00, 2024-01-29 12:00, 2024-01-28 12:00, "
	      "2024-01-27 12:00, 2024-01-26 12:00, 2024-01-25 12:00, 2024-01-24 12:00, "
	      "2024-01-23 12:00, 2024-01-22 12:00",
	      "within");
	/* A snapshot from the future does not move the window. */
	memmove(t + 1, t, n * sizeof(t[0]));
	t[0] = at("2024-02-20 00:00");
	n++;
	p = pol(0, 0, 0, 0, 0, 0, 1 * day);
	check("within ignores a future snapshot as the anchor", &p, t, n, at("2024-02-15 00:00"),
	      "2024-02-20 00:00, 2024-01-31 12:00", "within");

	/* Combined: every 6 hours for 20 days; 2024-01-20 is a Saturday. */
	n = series(t, "2024-01-20 18:00", 6 * hour, 80);
	p = pol(2, 0, 3, 2, 0, 0, 1 * day);
	check("last 2 + daily 3 + weekly 2 + within 1d", &p, t, n, now,
	      "2024-01-20 18:00, 2024-01-20 12:00, 2024-01-20 06:00, 2024-01-20 00:00, "
	      "2024-01-19 18:00, 2024-01-18 18:00, 2024-01-14 18:00",
	      "within, last, daily, weekly");

	/* Ties: equal timestamps are distinct snapshots in one bucket. */
	static const char *const ties[] = {"2024-05-01 10:00", "2024-05-01 10:00",
					   "2024-05-01 09:00", NULL};
	n = list(t, ties);
	p = pol(1, 0, 0, 0, 0, 0, 0);
	check("last 1 with a tie keeps one", &p, t, n, now, "2024-05-01 10:00", NULL);
	p = pol(0, 2, 0, 0, 0, 0, 0);
	check("hourly 2 with a tie keeps the first of the tie", &p, t, n, now,
	      "2024-05-01 10:00, 2024-05-01 09:00", NULL);
	p = pol(0, 0, 2, 0, 0, 0, 0);
	check("daily 2 in one day: newest and oldest", &p, t, n, now,
	      "2024-05-01 10:00, 2024-05-01 09:00", NULL);

	/* Negative count = all. */
	n = list(t, days);
	p = pol(0, 0, -1, 0, 0, 0, 0);
	check("daily -1 keeps one per day, all days", &p, t, n, now,
	      "2024-01-05 18:00, 2024-01-04 20:00, 2024-01-02 12:00, 2024-01-01 12:00", NULL);

	/* One snapshot. */
	t[0] = at("2024-01-01 00:00");
	p = pol(0, 0, 0, 0, 0, 1, 0);
	check("a single snapshot stays", &p, t, 1, now, "2024-01-01 00:00", "yearly");

	/* Buckets are local time: three snapshots on 1 January in UTC fall on
	 * two days at UTC+10. */
	static const char *const tz[] = {"2024-01-01 15:00", "2024-01-01 13:00",
					 "2024-01-01 12:00", NULL};
	n = list(t, tz);
	p = pol(0, 0, 2, 0, 0, 0, 0);
	check("daily buckets in UTC", &p, t, n, now, "2024-01-01 15:00, 2024-01-01 12:00", NULL);
	setenv("TZ", "XXX-10", 1);
	tzset();
	check("daily buckets in local time (UTC+10)", &p, t, n, now,
	      "2024-01-01 15:00, 2024-01-01 13:00", NULL);
	setenv("TZ", "UTC", 1);
	tzset();

	/* An empty policy is refused, and keeps everything. */
	{
		struct keep_policy empty = {0};
		int keep[3];
		char reasons[3][64];
		n = list(t, ties);
		err_clear();
		int rc = rotate_plan(&empty, t, n, now, keep, reasons);
		if (rc == ERR_USAGE && keep[0] && keep[1] && keep[2] && rotate_policy_empty(&empty)) {
			passed++;
			printf("ok - an empty policy is a usage error and drops nothing\n");
		} else {
			failed++;
			printf("not ok - an empty policy is a usage error and drops nothing (rc %d)\n",
			       rc);
		}
	}

	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
