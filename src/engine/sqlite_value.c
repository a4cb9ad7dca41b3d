/*
 * sqlite_value: the SQL literal of one value, exact (see sqlite_value.h).
 *
 * A REAL is written in its shortest decimal form only if SQLite's own
 * parser (which is not correctly rounded in 3.40) reads it back to the same
 * bits; otherwise as ieee754(M,E), which the sqlite3 shell understands and
 * which restore registers. An infinity is 9e999 (SQLite reads an overflow
 * as infinity). TEXT holding CR or LF is written as quoted lines joined by
 * char(), 'one' || char(10) || 'two', as the sqlite3 shell's .dump does:
 * a row stays on one line and a diff still shows the words (see
 * text_lines). TEXT holding NUL, or that is not valid in the database's
 * encoding and holds CR or LF, or too many line breaks for SQLite's
 * expression depth, or over SQLITE_BIG_VALUE, is written as CAST(X'..' AS
 * TEXT), which reads the bytes in the database's encoding; so is UTF-16
 * text that SQLite's UTF-8 conversion would change (see utf16_plain).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlite_value.h"

static const char hexdig[] = "0123456789ABCDEF";

void sqlite_fmt_hex(struct buf *b, const unsigned char *p, size_t n)
{
	if (buf_grow(b, 2 * n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		b->data[b->len++] = hexdig[p[i] >> 4];
		b->data[b->len++] = hexdig[p[i] & 15];
	}
	b->data[b->len] = '\0';
}

void sqlite_fmt_quoted(struct buf *b, const char *s)
{
	buf_puts(b, "'");
	const char *q;
	while ((q = strchr(s, '\''))) {
		buf_add(b, s, (size_t)(q - s) + 1);
		buf_puts(b, "'");
		s = q + 1;
	}
	buf_puts(b, s);
	buf_puts(b, "'");
}

/* Integers are most of a dump's values: written without printf. */
void sqlite_fmt_int(struct buf *b, int64_t v)
{
	char tmp[24], *p = tmp + sizeof(tmp);
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	buf_add(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

/* Does SQLite's parser read text back to exactly want? */
static int reads_back(sqlite3_stmt *real_check, const char *text, double want)
{
	sqlite3_reset(real_check);
	sqlite3_bind_text(real_check, 1, text, -1, SQLITE_STATIC);
	if (sqlite3_step(real_check) != SQLITE_ROW)
		return 0;
	double got = sqlite3_column_double(real_check, 0);
	return memcmp(&got, &want, sizeof(double)) == 0;
}

void sqlite_fmt_real(sqlite3_stmt *real_check, struct buf *b, double v)
{
	char text[64];
	if (isnan(v)) {
		/* SQLite holds no NaN: binding or computing one gives NULL. */
		buf_puts(b, "NULL");
		return;
	}
	if (isinf(v)) {
		buf_puts(b, v > 0 ? "9e999" : "-9e999");
		return;
	}
	/* The shortest of 15, 16, 17 significant digits that reads back
	 * exactly; 17 always does (IEEE 754 doubles), so it needs no check. */
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(text, sizeof(text), "%.*g", prec, v);
		if (prec == 17)
			break;
		double back = strtod(text, NULL);
		if (back == v && signbit(back) == signbit(v))
			break;
	}
	if (!strpbrk(text, ".eE"))
		strcat(text, ".0");
	if (reads_back(real_check, text, v)) {
		buf_puts(b, text);
		return;
	}
	int e;
	double m = frexp(v, &e);
	/* v = m * 2^e with 0.5 <= |m| < 1: scale m to a 53-bit integer. */
	int64_t mi = (int64_t)ldexp(m, 53);
	e -= 53;
	while (mi != 0 && (mi & 1) == 0) {
		mi /= 2;
		e++;
	}
	buf_printf(b, "ieee754(%lld,%d)", (long long)mi, e);
}

/* Hex of a value into b; a large one goes to the sink in pieces, after
 * what b holds so far, so a row's size never sits in memory twice over. */
static void hex_value(struct sqlite_fmt *f, struct buf *b, const unsigned char *p, size_t n)
{
	if (n <= SQLITE_BIG_VALUE || !f->sink) {
		sqlite_fmt_hex(b, p, n);
		return;
	}
	if (f->sink_rc == 0)
		f->sink_rc = f->sink->write(f->sink, b->data, b->len);
	buf_clear(b);
	for (size_t off = 0; off < n && f->sink_rc == 0; off += SQLITE_BIG_VALUE / 2) {
		size_t k = n - off < SQLITE_BIG_VALUE / 2 ? n - off : SQLITE_BIG_VALUE / 2;
		sqlite_fmt_hex(b, p + off, k);
		f->sink_rc = f->sink->write(f->sink, b->data, b->len);
		buf_clear(b);
	}
}

/* The CAST reads the bytes in the database's encoding. */
static void hex_text(struct sqlite_fmt *f, struct buf *b, const void *p, size_t n)
{
	buf_puts(b, "CAST(X'");
	hex_value(f, b, p, n);
	buf_puts(b, "' AS TEXT)");
}

/* Line-break runs a value may hold to be written as lines: each is one
 * char() between two quoted pieces, and SQLite's parser refuses a chain of
 * || deeper than SQLITE_LIMIT_EXPR_DEPTH (1000, which restore also sets)
 * and a function of more than SQLITE_MAX_FUNCTION_ARG (127) arguments. */
#define LINES_MAX_BREAKS 200
#define LINES_MAX_RUN 100

/* Is s[0..n) well-formed UTF-8 (RFC 3629: no overlong form, surrogate or
 * code point past U+10FFFF)? */
static int utf8_valid(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned c = s[i], k;
		unsigned lo = 0x80, hi = 0xBF;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF)
			k = 1;
		else if (c >= 0xE0 && c <= 0xEF) {
			k = 2;
			if (c == 0xE0)
				lo = 0xA0;
			if (c == 0xED)
				hi = 0x9F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			k = 3;
			if (c == 0xF0)
				lo = 0x90;
			if (c == 0xF4)
				hi = 0x8F;
		} else
			return 0;
		if (n - i <= k)
			return 0;
		for (unsigned j = 1; j <= k; j++) {
			unsigned d = s[i + j];
			if (d < (j == 1 ? lo : 0x80) || d > (j == 1 ? hi : 0xBF))
				return 0;
		}
		i += k + 1;
	}
	return 1;
}

/* Can UTF-8 text s[0..n), free of NUL, be written as lines? */
static int lines_fit(const char *s, size_t n)
{
	size_t breaks = 0, run = 0;
	if (n > SQLITE_BIG_VALUE)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '\n' && s[i] != '\r') {
			run = 0;
			continue;
		}
		if (run++ == 0 && ++breaks > LINES_MAX_BREAKS)
			return 0;
		if (run > LINES_MAX_RUN)
			return 0;
	}
	return 1;
}

/* 'first' || char(10) || 'line two': quoted pieces between runs of CR and
 * LF, each run one char(13,10,...). SQLite converts char()'s result to
 * the database's encoding, so this is exact in UTF-16 databases too. */
static void text_lines(struct buf *b, const char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		size_t j = i;
		if (i)
			buf_puts(b, " || ");
		if (s[i] == '\n' || s[i] == '\r') {
			buf_puts(b, "char(");
			for (; j < n && (s[j] == '\n' || s[j] == '\r'); j++)
				buf_puts(b, j > i ? (s[j] == '\n' ? ",10" : ",13") : (s[j] == '\n' ? "10" : "13"));
			buf_puts(b, ")");
		} else {
			while (j < n && s[j] != '\n' && s[j] != '\r')
				j++;
			buf_puts(b, "'");
			for (size_t k = i; k < j;) {
				const char *q = memchr(s + k, '\'', j - k);
				size_t m = q ? (size_t)(q - s) + 1 - k : j - k;
				buf_add(b, s + k, m);
				if (q)
					buf_puts(b, "'");
				k += m;
			}
			buf_puts(b, "'");
		}
		i = j;
	}
}

static void text_utf8(struct sqlite_fmt *f, struct buf *b, sqlite3_value *v)
{
	const char *s = (const char *)sqlite3_value_text(v);
	size_t n = (size_t)sqlite3_value_bytes(v);
	if (!s) {
		f->sink_rc = err_set(ERR_GENERIC, "out of memory reading a TEXT value");
		return;
	}
	if (memchr(s, '\0', n))
		hex_text(f, b, s, n);
	else if (!memchr(s, '\n', n) && !memchr(s, '\r', n))
		sqlite_fmt_quoted(b, s);
	else if (utf8_valid((const unsigned char *)s, n) && lines_fit(s, n))
		text_lines(b, s, n);
	else
		hex_text(f, b, s, n);
}

/* Does UTF-16 text come back the same through the UTF-8 of a quoted
 * literal? Not if it holds NUL, an odd byte, a surrogate that is not half
 * of a pair, or U+FFFE/U+FFFF: SQLite turns the last two kinds into U+FFFD
 * on the way back. Returns 0 if not, 1 if it can be quoted as it is, 2 if
 * it holds CR or LF and can be written as lines (see lines_fit). */
static int utf16_plain(const unsigned char *p, size_t n, int le)
{
	size_t breaks = 0, run = 0;
	if (n % 2)
		return 0;
	for (size_t i = 0; i < n; i += 2) {
		unsigned u = le ? p[i] | p[i + 1] << 8 : p[i] << 8 | p[i + 1];
		if (u == '\n' || u == '\r') {
			if (run++ == 0)
				breaks++;
			if (run > LINES_MAX_RUN)
				return 0;
			continue;
		}
		run = 0;
		if (u == 0 || u >= 0xFFFE || (u >= 0xDC00 && u <= 0xDFFF))
			return 0;
		if (u >= 0xD800 && u <= 0xDBFF) {
			if (i + 2 >= n)
				return 0;
			unsigned w = le ? p[i + 2] | p[i + 3] << 8 : p[i + 2] << 8 | p[i + 3];
			if (w < 0xDC00 || w > 0xDFFF)
				return 0;
			i += 2;
		}
	}
	if (!breaks)
		return 1;
	return breaks <= LINES_MAX_BREAKS && n <= SQLITE_BIG_VALUE ? 2 : 0;
}

static void text_utf16(struct sqlite_fmt *f, struct buf *b, sqlite3_value *v)
{
	/* The database's own bytes first: asking for UTF-8 converts the value
	 * in place, and the way back is not exact for every UTF-16 text. */
	int le = f->enc == SQLITE_UTF16LE;
	const unsigned char *w = le ? sqlite3_value_text16le(v) : sqlite3_value_text16be(v);
	size_t n = (size_t)sqlite3_value_bytes16(v);
	int plain = w ? utf16_plain(w, n, le) : 1;
	const char *s;
	if (!plain)
		hex_text(f, b, w, n);
	else if (!(s = (const char *)sqlite3_value_text(v)))
		f->sink_rc = err_set(ERR_GENERIC, "out of memory reading a TEXT value");
	else if (plain == 2)
		text_lines(b, s, (size_t)sqlite3_value_bytes(v));
	else
		sqlite_fmt_quoted(b, s);
}

void sqlite_fmt_value(struct sqlite_fmt *f, struct buf *b, sqlite3_value *v)
{
	switch (sqlite3_value_type(v)) {
	case SQLITE_NULL: buf_puts(b, "NULL"); break;
	case SQLITE_INTEGER: sqlite_fmt_int(b, sqlite3_value_int64(v)); break;
	case SQLITE_FLOAT: sqlite_fmt_real(f->real_check, b, sqlite3_value_double(v)); break;
	case SQLITE_TEXT:
		if (f->enc == SQLITE_UTF8)
			text_utf8(f, b, v);
		else
			text_utf16(f, b, v);
		break;
	default:
		buf_puts(b, "X'");
		hex_value(f, b, sqlite3_value_blob(v), (size_t)sqlite3_value_bytes(v));
		buf_puts(b, "'");
	}
}

/* ieee754(M, E) = M * 2^E, as in the sqlite3 shell, for exact REALs. */
static void ieee754_func(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	(void)argc;
	sqlite3_int64 m = sqlite3_value_int64(argv[0]);
	int e = sqlite3_value_int(argv[1]);
	sqlite3_result_double(ctx, ldexp((double)m, e));
}

int sqlite_value_register(sqlite3 *db)
{
	int rc = sqlite3_create_function(db, "ieee754", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, NULL,
					 ieee754_func, NULL, NULL);
	return rc == SQLITE_OK ? 0 : err_set(ERR_GENERIC, "registering ieee754(): %s", sqlite3_errstr(rc));
}
