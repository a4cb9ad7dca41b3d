/*
 * fuzz_value: the dump's promise that every value comes back bit for bit.
 * From the fuzz bytes it builds one value - an INTEGER, a REAL from 8 raw
 * bytes (NaN, infinities, -0, subnormals included), a TEXT of any bytes
 * (NUL, CR, LF, quotes, invalid UTF-8 or UTF-16) or a BLOB - in an
 * in-memory database of each text encoding, formats it as the dump does,
 * evaluates "SELECT <literal>" with ieee754() registered as restore does,
 * and checks the result has the same type and the same bytes. SQLite holds
 * a NaN as NULL, as the dump sees it; so does this.
 *
 * Input: byte 0 picks the type (bits 0-1) and the encoding (bits 2-3: UTF-8,
 * UTF-16le, UTF-16be); the rest is the value.
 */
#include <math.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/engine/sqlite_value.h"

static const char *const enc_names[3] = {"UTF-8", "UTF-16le", "UTF-16be"};
static const int encs[3] = {SQLITE_UTF8, SQLITE_UTF16LE, SQLITE_UTF16BE};

struct conn {
	sqlite3 *db;
	sqlite3_stmt *bind;	  /* SELECT ?1: the value as SQLite holds it */
	sqlite3_stmt *real_check; /* as the dump prepares it */
};
static struct conn conns[3];

static void die(const char *what, sqlite3 *db)
{
	fprintf(stderr, "fuzz_value: %s: %s\n", what, db ? sqlite3_errmsg(db) : "");
	exit(1);
}

static void close_all(void)
{
	for (int i = 0; i < 3; i++) {
		sqlite3_finalize(conns[i].bind);
		sqlite3_finalize(conns[i].real_check);
		sqlite3_close(conns[i].db);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	for (int i = 0; i < 3; i++) {
		struct conn *c = &conns[i];
		char pragma[64];
		if (sqlite3_open(":memory:", &c->db) != SQLITE_OK)
			die("open", c->db);
		/* The encoding of an empty database can still be chosen. */
		snprintf(pragma, sizeof(pragma), "PRAGMA encoding='%s'", enc_names[i]);
		if (sqlite3_exec(c->db, pragma, NULL, NULL, NULL) != SQLITE_OK ||
		    sqlite3_exec(c->db, "CREATE TABLE t(x)", NULL, NULL, NULL) != SQLITE_OK)
			die(pragma, c->db);
		if (sqlite_value_register(c->db) < 0)
			die("ieee754", c->db);
		if (sqlite3_prepare_v2(c->db, "SELECT ?1", -1, &c->bind, NULL) != SQLITE_OK ||
		    sqlite3_prepare_v2(c->db, "SELECT CAST(?1 AS REAL)", -1, &c->real_check, NULL) !=
			SQLITE_OK)
			die("prepare", c->db);
	}
	atexit(close_all);
	return 0;
}

/* The bytes of a value as the database holds them: TEXT in its encoding.
 * (Asking for the length in the other encoding would convert the value
 * and free the bytes just returned.) */
static const void *bytes_of(sqlite3_value *v, int enc, size_t *n)
{
	const void *p;
	if (sqlite3_value_type(v) != SQLITE_TEXT) {
		p = sqlite3_value_blob(v);
		*n = (size_t)sqlite3_value_bytes(v);
	} else if (enc == SQLITE_UTF8) {
		p = sqlite3_value_text(v);
		*n = (size_t)sqlite3_value_bytes(v);
	} else {
		p = enc == SQLITE_UTF16LE ? sqlite3_value_text16le(v) : sqlite3_value_text16be(v);
		*n = (size_t)sqlite3_value_bytes16(v);
	}
	return p;
}

static void mismatch(const char *enc, const char *literal, const char *why)
{
	fprintf(stderr, "fuzz_value: %s database: the literal %.400s %s\n", enc, literal, why);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	int type = data[0] & 3, e = (data[0] >> 2) % 3;
	const uint8_t *p = data + 1;
	size_t n = size - 1;
	struct conn *c = &conns[e];
	uint8_t raw[8] = {0};
	memcpy(raw, p, n < 8 ? n : 8);

	sqlite3_reset(c->bind);
	switch (type) {
	case 0: {
		int64_t i;
		memcpy(&i, raw, 8);
		sqlite3_bind_int64(c->bind, 1, i);
		break;
	}
	case 1: {
		double d;
		memcpy(&d, raw, 8);
		sqlite3_bind_double(c->bind, 1, d);
		break;
	}
	case 2:
		/* TEXT as it lies in a database of this encoding: the bytes,
		 * unchecked. */
		if (encs[e] == SQLITE_UTF8)
			sqlite3_bind_text64(c->bind, 1, (const char *)p, n, SQLITE_TRANSIENT, SQLITE_UTF8);
		else
			sqlite3_bind_text64(c->bind, 1, (const char *)p, n & ~(size_t)1, SQLITE_TRANSIENT,
					    (unsigned char)encs[e]);
		break;
	default: sqlite3_bind_blob64(c->bind, 1, p, n, SQLITE_TRANSIENT);
	}
	if (sqlite3_step(c->bind) != SQLITE_ROW)
		die("SELECT ?1", c->db);
	sqlite3_value *want = sqlite3_value_dup(sqlite3_column_value(c->bind, 0));
	sqlite3_reset(c->bind);
	sqlite3_clear_bindings(c->bind);
	if (!want)
		die("out of memory", NULL);

	/* Formatting may convert the value's text in place; keep the
	 * original bytes first. */
	int want_type = sqlite3_value_type(want);
	size_t want_n;
	const void *wp = bytes_of(want, encs[e], &want_n);
	void *want_bytes = malloc(want_n + 1);
	if (want_n)
		memcpy(want_bytes, wp, want_n);
	double want_d = sqlite3_value_double(want);
	int64_t want_i = sqlite3_value_int64(want);

	struct sqlite_fmt fmt = {.real_check = c->real_check, .enc = encs[e]};
	struct buf lit = BUF_INIT;
	sqlite_fmt_value(&fmt, &lit, want);
	const char *literal = buf_cstr(&lit);
	if (memchr(lit.data, '\n', lit.len) || memchr(lit.data, '\r', lit.len) || strlen(literal) != lit.len)
		mismatch(enc_names[e], literal, "breaks the line");

	char *sql = xasprintf("SELECT %s", literal);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
		mismatch(enc_names[e], literal, sqlite3_errmsg(c->db));
	if (sqlite3_step(st) != SQLITE_ROW)
		mismatch(enc_names[e], literal, "gives no row");
	sqlite3_value *got = sqlite3_column_value(st, 0);
	int got_type = sqlite3_value_type(got);
	if (got_type != want_type)
		mismatch(enc_names[e], literal, "reads back as another type");
	if (want_type == SQLITE_INTEGER && sqlite3_value_int64(got) != want_i)
		mismatch(enc_names[e], literal, "reads back as another integer");
	if (want_type == SQLITE_FLOAT) {
		double got_d = sqlite3_value_double(got);
		if (memcmp(&got_d, &want_d, 8))
			mismatch(enc_names[e], literal, "reads back as another REAL");
	}
	if (want_type == SQLITE_TEXT || want_type == SQLITE_BLOB) {
		size_t got_n;
		const void *gp = bytes_of(got, encs[e], &got_n);
		if (got_n != want_n || (want_n && memcmp(gp, want_bytes, want_n)))
			mismatch(enc_names[e], literal, "reads back as other bytes");
	}
	sqlite3_finalize(st);
	free(sql);
	free(want_bytes);
	buf_free(&lit);
	sqlite3_value_free(want);
	return 0;
}
