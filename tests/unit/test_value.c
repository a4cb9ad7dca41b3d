/*
 * test_value: the SQL literals of the dump (src/engine/sqlite_value.c) for
 * the values known to be awkward. Each literal is evaluated by SQLite as
 * restore does ("SELECT <literal>" with ieee754() registered, in a database
 * of the same text encoding) and must give the value back with the same
 * type and the same bytes; where the form matters to a reader (diffs, the
 * sqlite3 shell), the exact text is checked too.
 */
#include <math.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/engine/sqlite_value.h"
#include "check.h"

struct conn {
	sqlite3 *db;
	sqlite3_stmt *bind, *real_check;
	int enc;
};

static void conn_open(struct conn *c, int enc)
{
	const char *name = enc == SQLITE_UTF8 ? "UTF-8" : enc == SQLITE_UTF16LE ? "UTF-16le" : "UTF-16be";
	char pragma[64];
	snprintf(pragma, sizeof(pragma), "PRAGMA encoding='%s'; CREATE TABLE t(x);", name);
	c->enc = enc;
	if (sqlite3_open(":memory:", &c->db) != SQLITE_OK || sqlite3_exec(c->db, pragma, NULL, NULL, NULL) ||
	    sqlite_value_register(c->db) < 0 ||
	    sqlite3_prepare_v2(c->db, "SELECT ?1", -1, &c->bind, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(c->db, "SELECT CAST(?1 AS REAL)", -1, &c->real_check, NULL) != SQLITE_OK) {
		printf("setup failed: %s\n", sqlite3_errmsg(c->db));
		exit(2);
	}
}

static void conn_close(struct conn *c)
{
	sqlite3_finalize(c->bind);
	sqlite3_finalize(c->real_check);
	sqlite3_close(c->db);
}

/* The bytes of a TEXT in the database's encoding, or of a BLOB. */
static const void *bytes_of(sqlite3_value *v, int enc, size_t *n)
{
	if (sqlite3_value_type(v) == SQLITE_TEXT && enc != SQLITE_UTF8) {
		const void *p = enc == SQLITE_UTF16LE ? sqlite3_value_text16le(v) : sqlite3_value_text16be(v);
		*n = (size_t)sqlite3_value_bytes16(v);
		return p;
	}
	const void *p = sqlite3_value_type(v) == SQLITE_TEXT ? (const void *)sqlite3_value_text(v)
							     : sqlite3_value_blob(v);
	*n = (size_t)sqlite3_value_bytes(v);
	return p;
}

/* The value's literal; checks that SQLite reads it back bit for bit.
 * Returns the literal (caller frees) or NULL if it did not come back. */
static char *round_trip(struct conn *c, sqlite3_value *want)
{
	struct sqlite_fmt fmt = {.real_check = c->real_check, .enc = c->enc};
	struct buf lit = BUF_INIT;
	int type = sqlite3_value_type(want);
	size_t wn = 0;
	const void *wp = bytes_of(want, c->enc, &wn);
	void *wcopy = malloc(wn + 1);
	if (wn)
		memcpy(wcopy, wp, wn);
	double wd = sqlite3_value_double(want);
	int64_t wi = sqlite3_value_int64(want);
	sqlite_fmt_value(&fmt, &lit, want);
	char *sql = xasprintf("SELECT %s", buf_cstr(&lit));
	sqlite3_stmt *st = NULL;
	int ok = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW;
	if (ok) {
		sqlite3_value *got = sqlite3_column_value(st, 0);
		ok = sqlite3_value_type(got) == type;
		if (ok && type == SQLITE_INTEGER)
			ok = sqlite3_value_int64(got) == wi;
		if (ok && type == SQLITE_FLOAT) {
			double gd = sqlite3_value_double(got);
			ok = memcmp(&gd, &wd, 8) == 0;
		}
		if (ok && (type == SQLITE_TEXT || type == SQLITE_BLOB)) {
			size_t gn;
			const void *gp = bytes_of(got, c->enc, &gn);
			ok = gn == wn && (!wn || !memcmp(gp, wcopy, wn));
		}
	}
	ok = ok && !memchr(lit.data, '\n', lit.len) && !memchr(lit.data, '\r', lit.len);
	sqlite3_finalize(st);
	free(sql);
	free(wcopy);
	if (!ok) {
		CHECK(0, "%s does not read back", buf_cstr(&lit));
		buf_free(&lit);
		return NULL;
	}
	passed++;
	return lit.data ? lit.data : xstrdup("");
}

/* A value as SQLite holds it, through a bound parameter. */
static sqlite3_value *hold(struct conn *c)
{
	if (sqlite3_step(c->bind) != SQLITE_ROW)
		exit(2);
	sqlite3_value *v = sqlite3_value_dup(sqlite3_column_value(c->bind, 0));
	sqlite3_reset(c->bind);
	sqlite3_clear_bindings(c->bind);
	return v;
}

/* Round-trips v; if want is given the literal must be exactly that. */
static void expect(struct conn *c, sqlite3_value *v, const char *want, const char *what)
{
	char *lit = round_trip(c, v);
	if (lit && want)
		CHECK(!strcmp(lit, want), "%s: literal %s, want %s", what, lit, want);
	free(lit);
	sqlite3_value_free(v);
}

static void expect_int(struct conn *c, int64_t i, const char *want)
{
	sqlite3_bind_int64(c->bind, 1, i);
	expect(c, hold(c), want, want);
}

static void expect_real(struct conn *c, double d, const char *want, const char *what)
{
	sqlite3_bind_double(c->bind, 1, d);
	expect(c, hold(c), want, what);
}

static void expect_text(struct conn *c, const void *p, size_t n, const char *want, const char *what)
{
	sqlite3_bind_text64(c->bind, 1, p, n, SQLITE_TRANSIENT, (unsigned char)c->enc);
	expect(c, hold(c), want, what);
}

static double from_bits(uint64_t u)
{
	double d;
	memcpy(&d, &u, 8);
	return d;
}

/* A memory sink, to see big values leave the buffer in pieces. */
struct mem_sink {
	struct dump_sink sink;
	struct buf all;
	size_t writes, biggest;
	int fail;
};

static int mem_write(struct dump_sink *s, const void *data, size_t len)
{
	struct mem_sink *m = (struct mem_sink *)s;
	if (m->fail)
		return -1;
	m->writes++;
	if (len > m->biggest)
		m->biggest = len;
	return buf_add(&m->all, data, len);
}

static void test_integers(struct conn *c)
{
	expect_int(c, 0, "0");
	expect_int(c, -1, "-1");
	expect_int(c, INT64_MAX, "9223372036854775807");
	/* Parsed by SQLite as an integer, not as minus a too-big one. */
	expect_int(c, INT64_MIN, "-9223372036854775808");
	expect_int(c, INT64_MIN + 1, "-9223372036854775807");
}

static void test_reals(struct conn *c)
{
	expect_real(c, 0.0, "0.0", "zero");
	expect_real(c, -0.0, "-0.0", "negative zero keeps its sign");
	expect_real(c, 1.0, "1.0", "an integral REAL stays a REAL");
	expect_real(c, 9007199254740992.0, "9007199254740992.0", "2^53");
	expect_real(c, 0.1, "0.1", "shortest form");
	expect_real(c, 0.30000000000000004, "0.30000000000000004", "17 digits");
	expect_real(c, INFINITY, "9e999", "infinity");
	expect_real(c, -INFINITY, "-9e999", "minus infinity");
	/* SQLite holds a NaN as NULL: the dump sees NULL and writes it. */
	expect_real(c, NAN, "NULL", "NaN");
	expect_real(c, from_bits(0x7ff8dead0000beefULL), "NULL", "NaN with a payload");
	expect_real(c, from_bits(1), NULL, "smallest subnormal");
	expect_real(c, -from_bits(1), NULL, "smallest negative subnormal");
	expect_real(c, from_bits(0x000fffffffffffffULL), NULL, "largest subnormal");
	expect_real(c, 2.2250738585072014e-308, NULL, "smallest normal");
	expect_real(c, 1.7976931348623157e308, NULL, "largest");
	expect_real(c, 1e23, NULL, "1e23");
	expect_real(c, 9223372036854775808.0, NULL, "2^63, past the integers");

	/* Random bit patterns, all of them exact; some need ieee754(). */
	uint64_t x = 20261122;
	int fallback = 0;
	for (int i = 0; i < 20000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		double d = from_bits(x);
		if (isnan(d))
			continue;
		sqlite3_bind_double(c->bind, 1, d);
		sqlite3_value *v = hold(c);
		char *lit = round_trip(c, v);
		fallback += lit && !strncmp(lit, "ieee754(", 8);
		free(lit);
		sqlite3_value_free(v);
	}
	CHECK(fallback > 0, "no random REAL needed ieee754(): the fallback is not tested");
	printf("%d of 20000 random REALs written as ieee754()\n", fallback);
}

/* The literal of a text given in UTF-8, held in the database's encoding,
 * once it has read back (caller frees; NULL if it did not). */
static char *literal_of(struct conn *c, const char *s, size_t n)
{
	sqlite3_bind_text64(c->bind, 1, s, n, SQLITE_TRANSIENT, SQLITE_UTF8);
	sqlite3_value *v = hold(c);
	char *lit = round_trip(c, v);
	sqlite3_value_free(v);
	return lit;
}

static void expect_prefix(struct conn *c, const char *s, size_t n, const char *want, const char *what)
{
	char *lit = literal_of(c, s, n);
	CHECK(lit && !strncmp(lit, want, strlen(want)), "%s: literal %.40s, want %s...", what, lit, want);
	free(lit);
}

/* Up to 200 runs of line breaks of up to 100 each are lines (401 terms,
 * within SQLite's expression depth of 1000 and 127 function arguments);
 * more is hex, which SQLite reads at any length. */
static void test_many_lines(struct conn *c)
{
	char text[1024];
	size_t n = 0;
	for (int i = 0; i < 200; i++)
		text[n++] = 'x', text[n++] = '\n';
	expect_prefix(c, text, n, "'x' || char(10) || 'x'", "200 lines");
	text[n++] = 'x', text[n++] = '\r';
	expect_prefix(c, text, n, "CAST(X'", "201 lines");
	memset(text, '\n', 100);
	text[100] = 'y';
	expect_prefix(c, text, 101, "char(10,10,", "100 blank lines");
	memset(text, '\r', 101);
	text[101] = 'y';
	expect_prefix(c, text, 102, "CAST(X'", "101 CRs in a row");
}

static void test_text_utf8(struct conn *c)
{
	expect_text(c, "", 0, "''", "empty text");
	expect_text(c, "it's", 4, "'it''s'", "quote doubled");
	expect_text(c, "''", 2, "''''''", "only quotes");
	/* Lines as the sqlite3 shell's .dump writes them: one row on one
	 * line, and a diff shows the words. */
	expect_text(c, "a\nb", 3, "'a' || char(10) || 'b'", "LF keeps the row on one line");
	expect_text(c, "\r", 1, "char(13)", "CR alone");
	expect_text(c, "first\r\nit's two\n\n", 17, "'first' || char(13,10) || 'it''s two' || char(10,10)",
		    "CR LF, a quote, a blank line at the end");
	expect_text(c, "\n'\n", 3, "char(10) || '''' || char(10)", "a quote between line breaks");
	expect_text(c, "caf\xc3\xa9\n\xf0\x9d\x84\x9e", 10, "'caf\xc3\xa9' || char(10) || '\xf0\x9d\x84\x9e'",
		    "non-ASCII lines");
	expect_text(c, "\xff\n", 2, "CAST(X'FF0A' AS TEXT)", "invalid UTF-8 with a line break");
	expect_text(c, "\xed\xa0\x80\n", 4, "CAST(X'EDA0800A' AS TEXT)", "an encoded surrogate with a line break");
	expect_text(c, "\xc0\xaf\n", 3, "CAST(X'C0AF0A' AS TEXT)", "an overlong form with a line break");
	expect_text(c, "\xe2\x9c\n", 3, "CAST(X'E29C0A' AS TEXT)", "a cut sequence before a line break");
	expect_text(c, "a\n\0", 3, "CAST(X'610A00' AS TEXT)", "NUL and a line break");
	test_many_lines(c);
	expect_text(c, "nul\0in", 6, "CAST(X'6E756C00696E' AS TEXT)", "NUL inside");
	expect_text(c, "\xff\xfe\xc3(", 4, "'\xff\xfe\xc3('", "invalid UTF-8 kept as bytes");
	expect_text(c, "\xed\xa0\x80", 3, NULL, "an encoded surrogate");
	expect_text(c, "');DROP TABLE t;--", 18, "''');DROP TABLE t;--'", "SQL in a string");
	expect_text(c, "\xf0\x9d\x84\x9e \xe2\x9c\x93", 8, NULL, "non-ASCII");
}

static void test_text_utf16(struct conn *le, struct conn *be)
{
	/* "A", a lone high surrogate, "B": UTF-8 cannot carry it back. */
	expect_text(le,
		    "A\0\0\xd8"
		    "B\0",
		    6, "CAST(X'410000D84200' AS TEXT)", "lone surrogate (LE)");
	expect_text(be, "\0A\xdc\0\0B", 6, "CAST(X'0041DC000042' AS TEXT)", "lone low surrogate (BE)");
	/* SQLite reads U+FFFF in UTF-8 back as U+FFFD. */
	expect_text(le, "\xff\xff", 2, "CAST(X'FFFF' AS TEXT)", "U+FFFF");
	expect_text(be, "\0a\xff\xfe", 4, "CAST(X'0061FFFE' AS TEXT)",
		    "U+FFFE (not first: binding takes a BOM off)");
	/* A pair is fine as it is: quoted, readable in a diff. */
	expect_text(le,
		    "\x34\xd8\x1e\xdd"
		    "x\0",
		    6, "'\xf0\x9d\x84\x9ex'", "a surrogate pair");
	expect_text(be, "\0a\0\r\0\n\0b", 8, "'a' || char(13,10) || 'b'", "CR LF in UTF-16");
	expect_text(le,
		    "\x34\xd8\x1e\xdd"
		    "\n\0'\0",
		    8, "'\xf0\x9d\x84\x9e' || char(10) || ''''", "a pair and a quote in UTF-16 lines");
	expect_text(le, "A\0\0\xd8\n\0", 6, "CAST(X'410000D80A00' AS TEXT)",
		    "a lone surrogate with a line break");
	test_many_lines(le);
	test_many_lines(be);
	expect_text(le, "i\0'\0s\0", 6, "'i''s'", "quote in UTF-16");
}

static void test_blobs(struct conn *c)
{
	sqlite3_bind_blob(c->bind, 1, "", 0, SQLITE_STATIC);
	expect(c, hold(c), "X''", "empty blob");
	sqlite3_bind_blob(c->bind, 1, "\0\xff\x10", 3, SQLITE_STATIC);
	expect(c, hold(c), "X'00FF10'", "blob");
}

/* A value over SQLITE_BIG_VALUE goes to the sink in pieces; the pieces
 * plus what stays in the buffer are the same literal. */
static void test_big_value(struct conn *c)
{
	size_t n = 3 * SQLITE_BIG_VALUE + 17;
	char *text = malloc(n);
	for (size_t i = 0; i < n; i++)
		text[i] = (char)('a' + i % 26);
	text[n / 2] = '\n';
	sqlite3_bind_text64(c->bind, 1, text, n, SQLITE_TRANSIENT, SQLITE_UTF8);
	sqlite3_value *v = hold(c);

	struct buf whole = BUF_INIT, tail = BUF_INIT;
	struct sqlite_fmt plain = {.real_check = c->real_check, .enc = c->enc};
	sqlite_fmt_value(&plain, &whole, v);

	struct mem_sink m = {.sink = {.write = mem_write}};
	struct sqlite_fmt streaming = {.real_check = c->real_check, .enc = c->enc, .sink = &m.sink};
	buf_puts(&tail, "INSERT INTO t VALUES(");
	sqlite_fmt_value(&streaming, &tail, v);
	buf_add(&m.all, tail.data, tail.len);
	CHECK(streaming.sink_rc == 0, "sink error %d", streaming.sink_rc);
	CHECK(m.writes > 3, "a big value went out in %zu writes", m.writes);
	CHECK(m.biggest <= SQLITE_BIG_VALUE + 64, "a piece of %zu bytes", m.biggest);
	CHECK(m.all.len == whole.len + 21 && !memcmp(m.all.data + 21, whole.data, whole.len),
	      "the streamed literal differs from the whole one");

	/* A failing sink is reported, and nothing more is written. */
	struct mem_sink bad = {.sink = {.write = mem_write}, .fail = 1};
	struct sqlite_fmt failing = {.real_check = c->real_check, .enc = c->enc, .sink = &bad.sink};
	buf_clear(&tail);
	sqlite_fmt_value(&failing, &tail, v);
	CHECK(failing.sink_rc < 0, "a sink error was lost");

	expect(c, v, NULL, "a big text with a line break");
	buf_free(&whole);
	buf_free(&tail);
	buf_free(&m.all);
	buf_free(&bad.all);
	free(text);
}

int main(void)
{
	struct conn u8, le, be;
	conn_open(&u8, SQLITE_UTF8);
	conn_open(&le, SQLITE_UTF16LE);
	conn_open(&be, SQLITE_UTF16BE);
	test_integers(&u8);
	test_reals(&u8);
	test_reals(&le);
	test_text_utf8(&u8);
	test_text_utf16(&le, &be);
	test_blobs(&u8);
	test_blobs(&be);
	test_big_value(&u8);
	conn_close(&u8);
	conn_close(&le);
	conn_close(&be);
	return CHECK_DONE();
}
