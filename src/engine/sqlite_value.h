/*
 * sqlite_value: one SQLite value as the SQL literal the dump writes, and the
 * ieee754() function a restore needs to read some of them back. Private to
 * the SQLite engine; unit-tested (tests/unit/test_value.c) and fuzzed
 * (tests/fuzz/fuzz_value.c) on its own.
 *
 * The promise: for every value v SQLite can hold (it holds a NaN as NULL),
 * "SELECT <literal of v>" on a connection with the same text encoding and
 * sqlite_value_register() gives v back bit for bit: same type, same bytes.
 * A literal never holds a NUL, CR or LF, so a row stays on one line.
 */
#ifndef DBGIT_SQLITE_VALUE_H
#define DBGIT_SQLITE_VALUE_H

#include <sqlite3.h>
#include <stdint.h>

#include "dbgit/stream.h"
#include "dbgit/util.h"

/* Values bigger than this (in bytes) leave the buffer for the sink in
 * pieces, and are hashed in place rather than copied. */
#define SQLITE_BIG_VALUE (64 * 1024)

struct sqlite_fmt {
	/* "SELECT CAST(?1 AS REAL)" prepared on any connection: SQLite's own
	 * parser decides whether a decimal form is exact. */
	sqlite3_stmt *real_check;
	int enc;		/* SQLITE_UTF8, SQLITE_UTF16LE or SQLITE_UTF16BE */
	struct dump_sink *sink; /* NULL: every literal stays in the buffer */
	int sink_rc;		/* the first error: the sink's, or out of memory */
};

/* Appends v's literal to b. With a sink, a value over SQLITE_BIG_VALUE
 * bytes is written to it in pieces, after what b held, and b is left
 * holding the literal's tail only. */
void sqlite_fmt_value(struct sqlite_fmt *f, struct buf *b, sqlite3_value *v);
void sqlite_fmt_int(struct buf *b, int64_t v);
/* A REAL as its shortest exact decimal, else ieee754(M,E); never NaN. */
void sqlite_fmt_real(sqlite3_stmt *real_check, struct buf *b, double v);
/* 'text' with quotes doubled; s is NUL-terminated. */
void sqlite_fmt_quoted(struct buf *b, const char *s);
/* Uppercase hex of n bytes, no quotes. */
void sqlite_fmt_hex(struct buf *b, const unsigned char *p, size_t n);

/* Registers ieee754(M,E) = M * 2^E (as the sqlite3 shell has it) on db. */
int sqlite_value_register(sqlite3 *db);

#endif
