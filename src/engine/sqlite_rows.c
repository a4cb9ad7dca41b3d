/*
 * sqlite_rows: a restore's fast path for the rows of one table. A row file
 * (1-table/<dir>/1-rows.sql) is one INSERT a line, as sqlite_dump.c writes
 * it; running each line through SQLite's parser and code generator costs
 * more than the insert itself, and holds a large value three times (the
 * statement's text, the compiled literal, the record). Here a line that is
 * exactly
 *     <the table's INSERT head>v1,v2,...,vn);\n
 * where each v is a literal of sqlite_value.c's - NULL, an integer, a real,
 * ieee754(M,E), 'text', 'lines' || char(10) || 'joined', CAST(X'..' AS
 * TEXT), X'..' - has its values bound to one statement prepared once for
 * the table: "<head>?,?,...,?)". The values bound are the ones the literals
 * stand for, bit for bit:
 *   - an integer is read as SQLite reads it, and only if it is an int64
 *     written the way sqlite_fmt_int writes it;
 *   - a real goes through "SELECT CAST(?1 AS REAL)": SQLite's own decimal
 *     conversion, the one sqlite_fmt_real checked the text against;
 *   - ieee754(M,E) is ldexp(M, E), what the registered function computes;
 *   - text and blobs are their bytes: only in a UTF-8 database, where
 *     SQLite stores a literal's bytes and a bound text's as they are.
 * Both statements are prepared on the sandboxed connection with its
 * authorizer in place, so what the INSERT reaches (a trigger, a CHECK) is
 * checked exactly as when the line itself is prepared. Anything else on the
 * line - a comment, a space, lowercase hex, another table, one value too
 * many, a construct this parser does not know - is handed back, and the
 * line runs through sqlite_exec.c as before. The line is kept to hand back
 * up to ROWS_RAW_MAX bytes; past that, a line that then turns out not to
 * be a row is refused (no dump of dbgit's writes one).
 *
 * Memory per line: the decoded values, never the line's text. A BLOB over
 * SPILL_MIN is decoded into a temp file instead, where the table allows it
 * (spill_ok): the row is inserted with a zeroblob of its size, which SQLite
 * writes without allocating it when it is the row's last value, and the
 * bytes are copied in with sqlite3_blob_write. Nothing can tell the two
 * ways apart: no trigger, CHECK, generated column or index sees the row
 * between the insert and the write. So a 32 MiB BLOB costs a restore a
 * few pages of cache, not 64 MiB.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sqlite_internal.h"

#define ROWS_RAW_MAX (1 << 20)
#define TOKEN_MAX    64
/* A value buffer larger than this is given back after its row. */
#define KEEP_MAX (1 << 20)
/* A BLOB larger than this goes to a temp file as it is decoded (see
 * spill_ok). */
#define SPILL_MIN (1 << 20)

enum state {
	S_HEAD,	      /* matching the INSERT head */
	S_VALUE,      /* at a value's first byte */
	S_PIECE,      /* at the next piece of text written as lines */
	S_TOKEN,      /* NULL, a number, ieee754(M,E) */
	S_TEXT,	      /* inside '...' */
	S_TEXT_QUOTE, /* a quote inside '...': doubled, or the end */
	S_HEX,	      /* inside X'...' or CAST(X'... */
	S_WORD,	      /* matching fixed text (want), then going to next */
	S_CHAR,	      /* inside char(: 10 or 13, then ',' or ')' */
	S_AFTER,      /* after a value or piece: ',', ')' or " || " */
	S_DONE,	      /* the line is complete */
};

enum kind { K_NONE, K_TEXT, K_BLOB };

struct sqlite_rows {
	sqlite3 *db;
	sqlite3_stmt *ins;
	sqlite3_stmt *real; /* SELECT CAST(?1 AS REAL) */
	char *head;
	size_t head_len;
	int ncols;
	struct buf *vals; /* one per column: bound SQLITE_STATIC until the step */
	/* the line being read */
	enum state st;
	size_t pos;	  /* in head, or in want */
	const char *want; /* S_WORD: the text to match */
	enum state next;  /* ... and the state after it */
	int col;
	enum kind kind; /* of the value being read */
	int hex_hi;	/* -1, or the high nibble read */
	int pieces;	/* the value is text: '...' or char() pieces joined by || */
	int char_code;	/* S_CHAR: the number so far, -1 if none */
	char tok[TOKEN_MAX + 1];
	size_t tok_len;
	struct buf raw;
	int raw_gone;
	size_t line_len;
	/* the spill of one large BLOB a row */
	char *table;	 /* the table's name, for sqlite3_blob_open */
	char **col_name; /* each parameter's column (NULL: the rowid) */
	int *col_cid;	 /* ... and its cid, -1 for the rowid */
	int rowid_table;
	sqlite3_stmt *check; /* spill_ok's: tables, triggers, indexes */
	int *trusted;	     /* set while dbgit's own statements run */
	int spill_fd;
	int spill_col; /* the column spilled this line, or -1 */
	uint64_t spill_len;
	int spill_err; /* errno of a failed write */
};

/* Which column each parameter of the INSERT fills, as table_prepare
 * listed them: the rowid first if it is kept, then every column that is
 * not hidden, in cid order. Leaves the spill off if they do not match. */
static void spill_setup(struct sqlite_rows *r, const struct sqlite_table *t)
{
	sqlite3_stmt *st;
	r->spill_fd = -1;
	r->spill_col = -1;
	if (t->without_rowid || !sqlite3_strnicmp(t->name, "sqlite_", 7))
		return;
	r->col_name = calloc((size_t)r->ncols, sizeof(*r->col_name));
	r->col_cid = calloc((size_t)r->ncols, sizeof(*r->col_cid));
	if (!r->col_name || !r->col_cid)
		return;
	int k = 0;
	if (t->rowid_name)
		r->col_cid[k++] = -1;
	*r->trusted = 1;
	int ok =
	    sqlite3_prepare_v2(r->db, "SELECT cid, name, hidden FROM pragma_table_xinfo(?1) ORDER BY cid", -1,
			       &st, NULL) == SQLITE_OK;
	if (ok) {
		sqlite3_bind_text(st, 1, t->name, -1, SQLITE_STATIC);
		while (sqlite3_step(st) == SQLITE_ROW) {
			if (sqlite3_column_int(st, 2))
				continue;
			if (k == r->ncols) {
				ok = 0;
				break;
			}
			r->col_cid[k] = sqlite3_column_int(st, 0);
			r->col_name[k++] = xstrdup((const char *)sqlite3_column_text(st, 1));
		}
		sqlite3_finalize(st);
	}
	/* Is the table as it was, and is its column in no index (nor in an
	 * expression or a partial index's WHERE, which may read it)? */
	ok = ok && k == r->ncols &&
	     sqlite3_prepare_v3(
		 r->db,
		 "SELECT (SELECT count(*) FROM sqlite_schema WHERE type='table' AND name=?1 "
		 "AND sql NOT LIKE '%CHECK%' AND sql NOT LIKE '%WITHOUT%') "
		 "- (SELECT count(*) FROM sqlite_schema WHERE type='trigger' AND tbl_name=?1 COLLATE NOCASE) "
		 "- (SELECT count(*) FROM pragma_table_xinfo(?1) WHERE hidden) "
		 "- (SELECT count(*) FROM pragma_index_list(?1) il, pragma_index_xinfo(il.name) ix "
		 "WHERE ix.cid = ?2 OR ix.cid = -2 OR il.partial)",
		 -1, SQLITE_PREPARE_PERSISTENT, &r->check, NULL) == SQLITE_OK;
	*r->trusted = 0;
	if (ok)
		r->table = xstrdup(t->name);
}

/* May the BLOB of parameter col be written after the row (see the top)?
 * Asked again for every such row: a line that went the slow way may have
 * changed the schema. */
static int spill_ok(struct sqlite_rows *r, int col)
{
	if (!r->table || r->col_cid[col] < 0)
		return 0;
	*r->trusted = 1;
	sqlite3_reset(r->check);
	sqlite3_bind_text(r->check, 1, r->table, -1, SQLITE_STATIC);
	sqlite3_bind_int(r->check, 2, r->col_cid[col]);
	int ok = sqlite3_step(r->check) == SQLITE_ROW && sqlite3_column_int(r->check, 0) == 1;
	sqlite3_reset(r->check);
	*r->trusted = 0;
	return ok;
}

/* Moves what the column decoded so far to the spill file. */
static int spill_write(struct sqlite_rows *r, struct buf *v)
{
	for (size_t off = 0; off < v->len;) {
		ssize_t w = write(r->spill_fd, v->data + off, v->len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			r->spill_err = w < 0 ? errno : ENOSPC;
			return -1;
		}
		off += (size_t)w;
	}
	r->spill_len += v->len;
	buf_clear(v);
	return 0;
}

static int spill_start(struct sqlite_rows *r)
{
	if (r->spill_fd < 0) {
		char *dir = NULL;
		if (fs_mkdtemp(&dir, "blob") < 0) {
			err_clear();
			return -1;
		}
		char *path = xasprintf("%s/value", dir);
		r->spill_fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		unlink(path);
		rmdir(dir);
		free(path);
		free(dir);
		if (r->spill_fd < 0)
			return -1;
	}
	if (ftruncate(r->spill_fd, 0) < 0 || lseek(r->spill_fd, 0, SEEK_SET) < 0)
		return -1;
	r->spill_col = r->col;
	r->spill_len = 0;
	return 0;
}

/* After the insert: the spilled bytes into the row. */
static int spill_copy(struct sqlite_rows *r)
{
	if (sqlite3_changes(r->db) != 1)
		return 0; /* nothing was inserted (OR IGNORE): nothing to fill */
	sqlite3_blob *h = NULL;
	int rc = sqlite3_blob_open(r->db, "main", r->table, r->col_name[r->spill_col],
				   sqlite3_last_insert_rowid(r->db), 1, &h);
	char *chunk = rc == SQLITE_OK ? malloc(1 << 16) : NULL;
	if (rc == SQLITE_OK && !chunk)
		rc = SQLITE_NOMEM;
	for (uint64_t off = 0; rc == SQLITE_OK && off < r->spill_len;) {
		size_t want = r->spill_len - off < (1 << 16) ? (size_t)(r->spill_len - off) : (1 << 16);
		ssize_t n = pread(r->spill_fd, chunk, want, (off_t)off);
		if (n <= 0) {
			r->spill_err = n < 0 ? errno : EIO;
			rc = SQLITE_IOERR;
			break;
		}
		rc = sqlite3_blob_write(h, chunk, (int)n, (int)off);
		off += (uint64_t)n;
	}
	free(chunk);
	int crc = h ? sqlite3_blob_close(h) : SQLITE_OK;
	return rc == SQLITE_OK ? crc : rc;
}

struct sqlite_rows *sqlite_rows_open(sqlite3 *db, const struct sqlite_table *t, int *trusted)
{
	if (!t->insert_head || t->ncols <= 0 || t->ncols > 2000)
		return NULL;
	struct sqlite_rows *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->spill_fd = -1;
	r->trusted = trusted;
	struct buf sql = BUF_INIT;
	buf_puts(&sql, t->insert_head);
	for (int i = 0; i < t->ncols; i++)
		buf_puts(&sql, i ? ",?" : "?");
	buf_puts(&sql, ")");
	r->db = db;
	r->head = xstrdup(t->insert_head);
	r->head_len = strlen(r->head);
	r->ncols = t->ncols;
	r->vals = calloc((size_t)t->ncols, sizeof(*r->vals));
	int ok = r->vals &&
		 sqlite3_prepare_v3(db, buf_cstr(&sql), -1, SQLITE_PREPARE_PERSISTENT, &r->ins, NULL) ==
		     SQLITE_OK &&
		 r->ins && sqlite3_bind_parameter_count(r->ins) == t->ncols &&
		 sqlite3_prepare_v3(db, "SELECT CAST(?1 AS REAL)", -1, SQLITE_PREPARE_PERSISTENT, &r->real,
				    NULL) == SQLITE_OK;
	buf_free(&sql);
	if (!ok) {
		sqlite_rows_free(r);
		return NULL;
	}
	r->hex_hi = -1;
	spill_setup(r, t);
	return r;
}

void sqlite_rows_free(struct sqlite_rows *r)
{
	if (!r)
		return;
	sqlite3_finalize(r->ins);
	sqlite3_finalize(r->real);
	sqlite3_finalize(r->check);
	for (int i = 0; r->col_name && i < r->ncols; i++)
		free(r->col_name[i]);
	free(r->col_name);
	free(r->col_cid);
	free(r->table);
	if (r->spill_fd >= 0)
		close(r->spill_fd);
	for (int i = 0; r->vals && i < r->ncols; i++)
		buf_free(&r->vals[i]);
	free(r->vals);
	free(r->head);
	buf_free(&r->raw);
	free(r);
}

const struct buf *sqlite_rows_raw(const struct sqlite_rows *r)
{
	return &r->raw;
}

/* Ready for the next line. */
static void line_reset(struct sqlite_rows *r)
{
	r->st = S_HEAD;
	r->pos = 0;
	r->col = 0;
	r->kind = K_NONE;
	r->hex_hi = -1;
	r->pieces = 0;
	r->tok_len = 0;
	r->line_len = 0;
	r->raw_gone = 0;
	r->spill_col = -1;
	r->spill_len = 0;
	buf_clear(&r->raw);
	if (r->raw.cap > 2 * ROWS_RAW_MAX)
		buf_free(&r->raw);
	for (int i = 0; i < r->ncols; i++) {
		buf_clear(&r->vals[i]);
		if (r->vals[i].cap > KEEP_MAX)
			buf_free(&r->vals[i]);
	}
}

int sqlite_rows_errno(const struct sqlite_rows *r)
{
	return r->spill_err;
}

int sqlite_rows_cut(struct sqlite_rows *r)
{
	return r->raw_gone ? ROWS_REFUSED : ROWS_FALLBACK;
}

void sqlite_rows_abandon(struct sqlite_rows *r)
{
	r->spill_err = 0;
	sqlite3_reset(r->ins);
	sqlite3_clear_bindings(r->ins);
	line_reset(r);
}

static const char empty[1] = "";

/* sqlite_fmt_int's form: -?(0|[1-9][0-9]*), within int64. */
static int parse_int(const char *s, size_t n, sqlite3_int64 *out)
{
	int neg = n && s[0] == '-';
	size_t i = (size_t)neg;
	if (i == n || n - i > 19 || (s[i] == '0' && n - i > 1) || (neg && s[i] == '0'))
		return 0;
	uint64_t u = 0;
	for (; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		u = u * 10 + (uint64_t)(s[i] - '0');
	}
	if (u > (uint64_t)INT64_MAX + (uint64_t)neg)
		return 0;
	*out = neg ? (sqlite3_int64)(0 - u) : (sqlite3_int64)u;
	return 1;
}

/* sqlite_fmt_real's decimal form: -?D+(.D+)?(e[+-]D+)? with a '.' or an
 * 'e' (else it would be an integer). */
static int real_form(const char *s, size_t n)
{
	size_t i = s[0] == '-';
	size_t d = 0;
	int dot = 0, exp = 0;
	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++, d++;
	if (!d)
		return 0;
	if (i < n && s[i] == '.') {
		dot = 1;
		for (d = 0, i++; i < n && s[i] >= '0' && s[i] <= '9';)
			i++, d++;
		if (!d)
			return 0;
	}
	if (i < n && s[i] == 'e') {
		exp = 1;
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		for (d = 0; i < n && s[i] >= '0' && s[i] <= '9';)
			i++, d++;
		if (!d)
			return 0;
	}
	return i == n && (dot || exp);
}

/* ieee754(M,E) exactly as sqlite_fmt_real writes it. */
static int parse_ieee(const char *s, size_t n, double *out)
{
	if (n < 12 || memcmp(s, "ieee754(", 8) || s[n - 1] != ')')
		return 0;
	const char *a = s + 8, *end = s + n - 1;
	const char *comma = memchr(a, ',', (size_t)(end - a));
	sqlite3_int64 m, e;
	if (!comma || !parse_int(a, (size_t)(comma - a), &m) ||
	    !parse_int(comma + 1, (size_t)(end - comma - 1), &e) || e < -2000 || e > 2000)
		return 0;
	*out = ldexp((double)m, (int)e);
	return 1;
}

/* Binds the token just read to the current column; 0 if it is no value
 * of dbgit's. */
static int bind_token(struct sqlite_rows *r)
{
	const char *s = r->tok;
	size_t n = r->tok_len;
	sqlite3_int64 i;
	double d;
	int c = r->col + 1;
	if (n == 4 && !memcmp(s, "NULL", 4))
		return sqlite3_bind_null(r->ins, c) == SQLITE_OK;
	if (parse_int(s, n, &i))
		return sqlite3_bind_int64(r->ins, c, i) == SQLITE_OK;
	if (parse_ieee(s, n, &d))
		return sqlite3_bind_double(r->ins, c, d) == SQLITE_OK;
	if (!real_form(s, n))
		return 0;
	sqlite3_reset(r->real);
	sqlite3_bind_text(r->real, 1, s, (int)n, SQLITE_STATIC);
	if (sqlite3_step(r->real) != SQLITE_ROW || sqlite3_column_type(r->real, 0) != SQLITE_FLOAT)
		return 0;
	d = sqlite3_column_double(r->real, 0);
	sqlite3_reset(r->real);
	return sqlite3_bind_double(r->ins, c, d) == SQLITE_OK;
}

static int bind_bytes(struct sqlite_rows *r)
{
	if (r->spill_col == r->col)
		return 1; /* bound at the end of the line */
	struct buf *v = &r->vals[r->col];
	const char *p = v->data ? v->data : empty;
	if (v->len > INT32_MAX)
		return 0;
	if (r->kind == K_BLOB)
		return sqlite3_bind_blob(r->ins, r->col + 1, p, (int)v->len, SQLITE_STATIC) == SQLITE_OK;
	return sqlite3_bind_text(r->ins, r->col + 1, p, (int)v->len, SQLITE_STATIC) == SQLITE_OK;
}

static int hexval(unsigned char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static void word(struct sqlite_rows *r, const char *want, enum state next)
{
	r->st = S_WORD;
	r->want = want;
	r->pos = 0;
	r->next = next;
}

/* Parses p[0..n); *bad is set at a byte that is no part of a row. */
static void parse(struct sqlite_rows *r, const unsigned char *p, size_t n, int *bad)
{
	size_t i = 0;
	*bad = 0;
	while (i < n) {
		unsigned char c = p[i];
		switch (r->st) {
		case S_HEAD: {
			size_t k = r->head_len - r->pos < n - i ? r->head_len - r->pos : n - i;
			if (memcmp(p + i, r->head + r->pos, k))
				goto bad;
			r->pos += k;
			i += k;
			if (r->pos == r->head_len)
				r->st = S_VALUE;
			continue;
		}
		case S_VALUE:
			if (r->col >= r->ncols)
				goto bad;
			r->kind = K_NONE;
			r->pieces = 0;
			if (c == 'X') {
				r->kind = K_BLOB;
				word(r, "X'", S_HEX);
				continue;
			}
			if (c == 'C') {
				r->kind = K_TEXT;
				word(r, "CAST(X'", S_HEX);
				continue;
			}
			if (c == '\'' || c == 'c') {
				r->kind = K_TEXT;
				r->pieces = 1;
				r->st = S_PIECE;
				continue;
			}
			r->tok_len = 0;
			r->st = S_TOKEN;
			continue;
		case S_PIECE:
			if (c == '\'') {
				r->st = S_TEXT;
				break;
			}
			if (c != 'c')
				goto bad;
			r->char_code = -1;
			word(r, "char(", S_CHAR);
			continue;
		case S_TOKEN:
			/* ieee754(M,E) holds a ',' and ends in ')'. */
			if ((c == ',' || c == ')') &&
			    (r->tok_len == 0 || r->tok[0] != 'i' || r->tok[r->tok_len - 1] == ')')) {
				r->tok[r->tok_len] = '\0';
				if (!bind_token(r))
					goto bad;
				r->st = S_AFTER;
				continue; /* the ',' or ')' is S_AFTER's */
			}
			if (r->tok_len == TOKEN_MAX || c == '\n')
				goto bad;
			r->tok[r->tok_len++] = (char)c;
			break;
		case S_TEXT: {
			/* Up to the next quote in one go. NUL would end the
			 * statement's text for SQLite's parser. */
			const unsigned char *q = memchr(p + i, '\'', n - i);
			size_t k = q ? (size_t)(q - (p + i)) : n - i;
			if (memchr(p + i, '\n', k) || memchr(p + i, '\0', k))
				goto bad;
			if (buf_add(&r->vals[r->col], p + i, k) < 0)
				goto bad;
			i += k;
			if (q) {
				r->st = S_TEXT_QUOTE;
				i++;
			}
			continue;
		}
		case S_TEXT_QUOTE:
			if (c == '\'') {
				if (buf_add(&r->vals[r->col], "'", 1) < 0)
					goto bad;
				r->st = S_TEXT;
				break;
			}
			r->st = S_AFTER;
			continue;
		case S_HEX: {
			struct buf *v = &r->vals[r->col];
			const unsigned char *q = memchr(p + i, '\'', n - i);
			size_t k = q ? (size_t)(q - p) : n;
			if (buf_grow(v, (k - i) / 2 + 1) < 0)
				goto bad;
			for (; i < k; i++) {
				int h = hexval(p[i]);
				if (h < 0)
					goto bad;
				if (r->hex_hi < 0) {
					r->hex_hi = h;
				} else {
					v->data[v->len++] = (char)(r->hex_hi << 4 | h);
					r->hex_hi = -1;
				}
			}
			/* Past SPILL_MIN, the column's bytes go on in the file (if
			 * that fails, in memory). */
			if (r->kind == K_BLOB && r->spill_col < 0 && v->len > SPILL_MIN && r->table &&
			    spill_ok(r, r->col))
				spill_start(r);
			if (r->spill_col == r->col && spill_write(r, v) < 0)
				goto bad;
			if (q) {
				if (r->hex_hi >= 0)
					goto bad;
				i++;
				if (r->kind == K_TEXT)
					word(r, " AS TEXT)", S_AFTER);
				else
					r->st = S_AFTER;
			}
			continue;
		}
		case S_WORD:
			if (c != (unsigned char)r->want[r->pos])
				goto bad;
			if (!r->want[++r->pos])
				r->st = r->next;
			break;
		case S_CHAR:
			if (c >= '0' && c <= '9') {
				r->char_code = (r->char_code < 0 ? 0 : r->char_code * 10) + (c - '0');
				if (r->char_code > 13)
					goto bad;
				break;
			}
			if ((c != ',' && c != ')') || (r->char_code != 10 && r->char_code != 13))
				goto bad;
			if (buf_add(&r->vals[r->col], r->char_code == 10 ? "\n" : "\r", 1) < 0)
				goto bad;
			r->char_code = -1;
			if (c == ')')
				r->st = S_AFTER;
			break;
		case S_AFTER:
			if (c == ' ') {
				/* Text written as lines: another piece follows. */
				if (!r->pieces)
					goto bad;
				word(r, " || ", S_PIECE);
				continue;
			}
			if (c != ',' && c != ')')
				goto bad;
			if (r->kind != K_NONE && !bind_bytes(r))
				goto bad;
			r->col++;
			if (c == ',') {
				r->st = S_VALUE;
				break;
			}
			if (r->col != r->ncols)
				goto bad;
			word(r, ";\n", S_DONE);
			break;
		case S_DONE: goto bad;
		}
		i++;
	}
	return;
bad:
	*bad = 1;
}

int sqlite_rows_feed(struct sqlite_rows *r, const char *p, size_t n, int eol, size_t limit)
{
	r->line_len += n;
	if (r->line_len > limit)
		return ROWS_TOO_LONG;
	/* A line read in one piece is the caller's to hand on: no copy. */
	if (!(eol && r->line_len == n)) {
		if (!r->raw_gone && r->raw.len + n > ROWS_RAW_MAX) {
			r->raw_gone = 1;
			buf_free(&r->raw);
		}
		if (!r->raw_gone && buf_add(&r->raw, p, n) < 0)
			return ROWS_REFUSED;
	}
	int bad;
	parse(r, (const unsigned char *)p, n, &bad);
	if (r->spill_err)
		return ROWS_IO;
	if (bad || (eol && r->st != S_DONE))
		return r->raw_gone ? ROWS_REFUSED : ROWS_FALLBACK;
	if (!eol)
		return ROWS_MORE;
	int spilled = r->spill_col >= 0, rc = SQLITE_OK;
	if (spilled && spill_ok(r, r->spill_col)) {
		rc = sqlite3_bind_zeroblob64(r->ins, r->spill_col + 1, r->spill_len);
	} else if (spilled) {
		/* The table changed: the bytes are bound after all. */
		struct buf *v = &r->vals[r->spill_col];
		rc = r->spill_len > INT32_MAX || buf_grow(v, (size_t)r->spill_len) < 0 ? SQLITE_TOOBIG
										       : SQLITE_OK;
		if (rc == SQLITE_OK &&
		    pread(r->spill_fd, v->data, (size_t)r->spill_len, 0) != (ssize_t)r->spill_len) {
			r->spill_err = errno ? errno : EIO;
			return ROWS_IO;
		}
		v->len = (size_t)r->spill_len;
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_blob(r->ins, r->spill_col + 1, v->data ? v->data : empty,
					       (int)v->len, SQLITE_STATIC);
		spilled = 0;
	}
	if (rc != SQLITE_OK)
		return ROWS_FAILED;
	rc = sqlite3_step(r->ins);
	if (rc != SQLITE_DONE)
		return ROWS_FAILED; /* the caller reads the message, then abandons */
	sqlite3_reset(r->ins);
	if (spilled && (rc = spill_copy(r)) != SQLITE_OK)
		return r->spill_err ? ROWS_IO : ROWS_FAILED;
	line_reset(r);
	return ROWS_DONE;
}
