/*
 * fuzz_time: the times and durations users type (restore --at, the keep
 * policy's within, DBGIT_NOW). A parse either fails with a message or
 * gives a value in range: a time within years 0000-9999 that prints and
 * parses back to itself, a duration that is not negative.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbgit/util.h"

/* 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z. */
#define TIME_MIN INT64_C(-62167219200)
#define TIME_MAX INT64_C(253402300799)

static void fail(const char *what, const char *input, int64_t v)
{
	fprintf(stderr, "fuzz_time: %s: input '%s' gave %lld\n", what, input, (long long)v);
	abort();
}

static void check_time(const char *s)
{
	int64_t t = 0;
	err_clear();
	if (time_parse(s, &t) < 0) {
		if (!err_last()[0])
			fail("time_parse failed without a message", s, 0);
		return;
	}
	if (t < TIME_MIN || t > TIME_MAX)
		fail("time_parse out of range", s, t);
	char text[32], again[32];
	time_format_utc(t, text);
	int64_t back = 0;
	if (time_parse(text, &back) < 0 || back != t)
		fail("time_format_utc does not parse back", text, back);
	time_format_utc(back, again);
	if (strcmp(text, again))
		fail("time_format_utc is not stable", again, back);
}

static void check_duration(const char *s)
{
	int64_t d = 0;
	err_clear();
	if (duration_parse(s, &d) < 0) {
		if (!err_last()[0])
			fail("duration_parse failed without a message", s, 0);
		return;
	}
	if (d < 0)
		fail("negative duration", s, d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	check_time(s);
	check_duration(s);
	/* Any 64-bit time in range prints and parses back. */
	if (size >= 8) {
		int64_t t;
		memcpy(&t, data, 8);
		if (t >= TIME_MIN && t <= TIME_MAX) {
			char text[32];
			int64_t back = 0;
			time_format_utc(t, text);
			if (time_parse(text, &back) < 0 || back != t)
				fail("time_format_utc does not parse back", text, back);
		}
	}
	free(s);
	return 0;
}
