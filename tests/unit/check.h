/* check.h: the unit tests' one assertion. CHECK(cond, fmt, ...) counts a
 * pass or prints where and why it failed; CHECK_DONE() prints the closing
 * "N passed, N failed" line and gives main's exit status. */
#ifndef DBGIT_TEST_CHECK_H
#define DBGIT_TEST_CHECK_H

#include <stdio.h>

static int passed, failed;

#define CHECK(cond, ...)                                                     \
	do {                                                                 \
		if (cond) {                                                  \
			passed++;                                            \
		} else {                                                     \
			failed++;                                            \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__);                        \
			fputc('\n', stderr);                                 \
		}                                                            \
	} while (0)

#define CHECK_DONE()                                              \
	(printf("%d passed, %d failed\n", passed, failed), failed ? 1 : 0)

#endif
