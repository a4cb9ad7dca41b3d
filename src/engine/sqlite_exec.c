/*
 * sqlite_exec: snapshot SQL and snapshot databases are hostile input.
 *
 * A repository can come back from a remote that someone else pushed to, and
 * a manifest proves nothing (whoever rewrites a .sql file rewrites the
 * manifest too). So the SQL of a snapshot runs here, on a connection that
 * can touch nothing but its own database file:
 *   - statements run one at a time, and only the kinds a dump is made of
 *     (CREATE, INSERT, BEGIN ... by their leading keyword: no ATTACH,
 *     VACUUM [INTO], SELECT, dot-commands of the sqlite3 shell);
 *   - SQLite's authorizer, consulted while each statement (and any trigger
 *     or view it reaches) is compiled, refuses ATTACH/DETACH, every PRAGMA
 *     but the few a dump sets, functions outside a list of pure built-ins,
 *     WITH RECURSIVE, and virtual table modules other than FTS and R*Tree;
 *   - the connection is defensive (no direct write to the schema table,
 *     no journal_mode=OFF or schema_version from the text), loads no
 *     extension, attaches nothing, and is opened without URI parsing. Its
 *     schema stays trusted: see harden() for why.
 * The one thing a dump needs beyond that, as `sqlite3 .dump` does, is the
 * schema row of a virtual table inserted under writable_schema. Only that
 * exact statement, right after "PRAGMA writable_schema=ON;", gets a
 * writable schema, for itself alone, and the row it wrote is checked.
 *
 * Errors name the snapshot file and line and never quote the statement:
 * rows are personal data, and error lines go to cron mail and chat hooks.
 *
 * A table's row file takes a fast path (sqlite_rows.c): a line that is
 * exactly one of dbgit's rows is bound to one INSERT prepared on this same
 * connection, under the same authorizer; any other line comes here.
 */
#include <ctype.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "dbgit/util.h"
#include "sqlite_internal.h"
#include "sqlite_value.h"

/* Built-in functions that read nothing but their arguments (and the
 * database the statement already reads): what schema expressions (CHECK,
 * DEFAULT, generated columns, index expressions, triggers) use, and
 * dbgit's own ieee754(). Anything else - load_extension, fts3_tokenizer,
 * an application's function - is refused. */
/* clang-format off */
static const char *const allowed_functions[] = {
	"->", "->>", "abs", "acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "avg",
	"bm25", "ceil", "ceiling", "changes", "char", "coalesce", "cos", "cosh", "count",
	"cume_dist", "current_date", "current_time", "current_timestamp", "date", "datetime",
	"degrees", "dense_rank", "exp", "first_value", "floor", "format", "glob", "group_concat",
	"hex", "highlight", "ieee754", "ifnull", "iif", "instr", "json", "json_array",
	"json_array_length", "json_extract", "json_group_array", "json_group_object",
	"json_insert", "json_object", "json_patch", "json_quote", "json_remove", "json_replace",
	"json_set", "json_type", "json_valid", "julianday", "lag", "last_insert_rowid",
	"last_value", "lead", "length", "like", "likelihood", "likely", "ln", "log", "log10",
	"log2", "lower", "ltrim", "matchinfo", "max", "min", "mod", "nth_value", "ntile", "nullif",
	"offsets", "percent_rank", "pi", "pow", "power", "printf", "quote", "radians", "random",
	"randomblob", "rank", "replace", "round", "row_number", "rtreecheck", "rtrim", "sign",
	"sin", "sinh", "snippet", "soundex", "sqlite_source_id", "sqlite_version", "sqrt",
	"strftime", "substr", "substring", "sum", "tan", "tanh", "time", "total", "total_changes",
	"trim", "trunc", "typeof", "unicode", "unixepoch", "unlikely", "upper", "zeroblob", NULL,
};

/* Virtual table modules built into SQLite that keep their data in their
 * own shadow tables of the same database. */
static const char *const allowed_modules[] = {"fts3", "fts4", "fts5", "rtree", "rtree_i32", "geopoly", NULL};

/* Statements a dump is made of, by their first keyword. */
static const char *const allowed_statements[] = {
	"ALTER", "BEGIN", "COMMIT", "CREATE", "DELETE", "DROP", "END", "INSERT", "PRAGMA",
	"REINDEX", "RELEASE", "REPLACE", "ROLLBACK", "SAVEPOINT", "UPDATE", NULL,
};
/* clang-format on */

static int in_list(const char *const *list, const char *s)
{
	for (; s && *list; list++)
		if (!sqlite3_stricmp(*list, s))
			return 1;
	return 0;
}

static int is_off(const char *v)
{
	return v && (!sqlite3_stricmp(v, "0") || !sqlite3_stricmp(v, "off") || !sqlite3_stricmp(v, "false") ||
		     !sqlite3_stricmp(v, "no"));
}

/* Only names made of [A-Za-z0-9_] are repeated in a message: anything else
 * might be data, or a control character meant for a terminal. */
static void copy_word(char *out, size_t cap, const char *s)
{
	size_t n = 0;
	for (; s && *s && n + 1 < cap; s++) {
		if (!isalnum((unsigned char)*s) && *s != '_')
			break;
		out[n++] = *s;
	}
	out[n] = '\0';
	if (!n)
		snprintf(out, cap, "?");
}

static int deny(struct sqlite_exec *x, const char *fmt, const char *word)
{
	char w[64];
	copy_word(w, sizeof(w), word);
	if (!x->denied[0])
		snprintf(x->denied, sizeof(x->denied), fmt, w);
	return SQLITE_DENY;
}

/* Names a snapshot may not give a table, view or virtual table: SQLite's
 * table-valued functions (pragma_table_info, json_each, ...). A table of
 * that name would take the function's place in every later query,
 * dbgit's own schema queries included, and run a view of the snapshot's
 * where dbgit asks the schema. n: the name's length (it may be a token of
 * SQL text, quoted or not). */
static int reserved_name(const char *s, size_t n)
{
	if (n && (*s == '"' || *s == '\'' || *s == '[' || *s == '`'))
		s++, n--;
	static const char *const fns[] = {"json_each", "json_tree", "dbstat", "sqlite_dbpage", "sqlite_stmt"};
	if (n >= 7 && !sqlite3_strnicmp(s, "pragma_", 7))
		return 1;
	for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
		size_t k = strlen(fns[i]);
		if (n >= k && !sqlite3_strnicmp(s, fns[i], (int)k) &&
		    (n == k || s[k] == '"' || s[k] == '\'' || s[k] == ']' || s[k] == '`'))
			return 1;
	}
	return 0;
}

static int authorize(void *arg, int action, const char *a1, const char *a2, const char *db_name,
		     const char *trigger)
{
	struct sqlite_exec *x = arg;
	(void)db_name, (void)trigger;
	/* What sqlite_rows.c asks the schema, between statements of the
	 * snapshot's: not snapshot text. */
	if (x->trusted)
		return SQLITE_OK;
	/* A dump never makes TEMP objects, and one would stand beside the
	 * restored tables unseen: a TEMP table named like one of them takes
	 * its INSERTs, a TEMP trigger fires on them. */
	if (action == SQLITE_CREATE_TEMP_INDEX || action == SQLITE_CREATE_TEMP_TABLE ||
	    action == SQLITE_CREATE_TEMP_TRIGGER || action == SQLITE_CREATE_TEMP_VIEW)
		return deny(x, "CREATE TEMP %s is not allowed in a snapshot", a1 ? a1 : "object");
	if ((action == SQLITE_CREATE_TABLE || action == SQLITE_CREATE_VIEW || action == SQLITE_CREATE_VTABLE) && a1 &&
	    reserved_name(a1, strlen(a1)))
		return deny(x, "the name %s is reserved for SQLite's functions: not allowed in a snapshot", a1);
	/* Some tables only (restore --table): an index or trigger on another
	 * table, and any view, is not created. SQLITE_IGNORE makes SQLite
	 * skip the CREATE without an error. */
	if (x->only && (action == SQLITE_CREATE_INDEX || action == SQLITE_CREATE_TRIGGER ||
			action == SQLITE_CREATE_VIEW || action == SQLITE_CREATE_TEMP_INDEX ||
			action == SQLITE_CREATE_TEMP_TRIGGER || action == SQLITE_CREATE_TEMP_VIEW)) {
		int wanted = 0;
		for (size_t i = 0; a2 && i < x->n_only && !wanted; i++)
			wanted = !sqlite3_stricmp(x->only[i], a2);
		if (action == SQLITE_CREATE_VIEW || action == SQLITE_CREATE_TEMP_VIEW || !wanted)
			return SQLITE_IGNORE;
	}
	switch (action) {
	case SQLITE_CREATE_INDEX:
	case SQLITE_CREATE_TABLE:
	case SQLITE_CREATE_TRIGGER:
	case SQLITE_CREATE_VIEW:
	case SQLITE_CREATE_TEMP_INDEX:
	case SQLITE_CREATE_TEMP_TABLE:
	case SQLITE_CREATE_TEMP_TRIGGER:
	case SQLITE_CREATE_TEMP_VIEW:
	case SQLITE_DROP_INDEX:
	case SQLITE_DROP_TABLE:
	case SQLITE_DROP_TRIGGER:
	case SQLITE_DROP_VIEW:
	case SQLITE_DROP_TEMP_INDEX:
	case SQLITE_DROP_TEMP_TABLE:
	case SQLITE_DROP_TEMP_TRIGGER:
	case SQLITE_DROP_TEMP_VIEW:
	case SQLITE_DROP_VTABLE:
	case SQLITE_ALTER_TABLE:
	case SQLITE_REINDEX:
	case SQLITE_SELECT:
	case SQLITE_TRANSACTION:
	case SQLITE_SAVEPOINT: return SQLITE_OK;
	case SQLITE_RECURSIVE:
		/* A few bytes that write rows without end. A dump never runs
		 * one: its views and triggers are created, not used. */
		return deny(x, "WITH %s is not allowed in a snapshot", "RECURSIVE");
	case SQLITE_READ:
		if (a1 && !sqlite3_stricmp(a1, "sqlite_dbpage"))
			return deny(x, "reading %s is not allowed in a snapshot", a1);
		return SQLITE_OK;
	case SQLITE_INSERT:
	case SQLITE_UPDATE:
	case SQLITE_DELETE:
		/* The schema table is written by CREATE itself; a direct
		 * write is refused by the defensive flag. */
		if (a1 && !sqlite3_stricmp(a1, "sqlite_dbpage"))
			return deny(x, "writing to %s is not allowed in a snapshot", a1);
		return SQLITE_OK;
	case SQLITE_CREATE_VTABLE:
		if (!in_list(allowed_modules, a2))
			return deny(x, "virtual table module %s is not allowed in a snapshot", a2);
		return SQLITE_OK;
	case SQLITE_FUNCTION:
		if (!in_list(allowed_functions, a2))
			return deny(x, "function %s() is not allowed in a snapshot", a2);
		return SQLITE_OK;
	case SQLITE_PRAGMA:
		/* What dbgit's dumps set (0-begin.sql, 4-end.sql). Setting
		 * foreign_keys only off: on, it would make the restore
		 * depend on row order. */
		if (!sqlite3_stricmp(a1, "page_size") || !sqlite3_stricmp(a1, "auto_vacuum") ||
		    !sqlite3_stricmp(a1, "encoding") || !sqlite3_stricmp(a1, "user_version") ||
		    !sqlite3_stricmp(a1, "application_id"))
			return SQLITE_OK;
		if ((!sqlite3_stricmp(a1, "foreign_keys") || !sqlite3_stricmp(a1, "writable_schema")) &&
		    is_off(a2))
			return SQLITE_OK;
		/* A WAL source comes back in WAL mode: where dbgit writes it,
		 * in 4-end.sql after COMMIT. No other journal mode, and not
		 * from anywhere else. */
		if (!sqlite3_stricmp(a1, "journal_mode") && a2 && !sqlite3_stricmp(a2, "wal") &&
		    x->stmt_file && !strncmp(x->stmt_file, "4-end", 5) && sqlite3_get_autocommit(x->db))
			return SQLITE_OK;
		return deny(x, "PRAGMA %s is not allowed in a snapshot", a1);
	case SQLITE_ATTACH: return deny(x, "%s is not allowed in a snapshot", "ATTACH");
	case SQLITE_DETACH: return deny(x, "%s is not allowed in a snapshot", "DETACH");
	case SQLITE_ANALYZE: return deny(x, "%s is not allowed in a snapshot", "ANALYZE");
	default: return deny(x, "%s is not allowed in a snapshot", "this statement");
	}
}

/* A path SQLite cannot take for a URI, whatever it was compiled with. */
static char *plain_path(const char *path)
{
	return path[0] == '/' ? xstrdup(path) : xasprintf("./%s", path);
}

static void harden(sqlite3 *db)
{
	sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	/* The schema stays trusted, on purpose: SQLite 3.40 flags none of
	 * its JSON functions innocuous, so an untrusted schema makes a
	 * database with CHECK (json_valid(x)) or a JSON generated column
	 * unreadable ("malformed database schema - unsafe use of json()").
	 * What an untrusted schema would refuse is refused anyway: the
	 * dangerous built-ins (load_extension, fts3_tokenizer) are
	 * direct-only whatever this says, no function of dbgit's but the
	 * innocuous ieee754() exists on these connections, inspection runs
	 * no view or trigger, and on the restore connection the authorizer
	 * sees every function a statement, trigger or view reaches. */
	sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 1, NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_FTS3_TOKENIZER, 0, NULL);
	sqlite3_limit(db, SQLITE_LIMIT_LIKE_PATTERN_LENGTH, 10000);
	sqlite3_limit(db, SQLITE_LIMIT_TRIGGER_DEPTH, 100);
	sqlite3_limit(db, SQLITE_LIMIT_EXPR_DEPTH, 1000);
	sqlite3_limit(db, SQLITE_LIMIT_WORKER_THREADS, 0);
}

int sqlite_open_untrusted(const char *path, int flags, int attach, sqlite3 **out)
{
	char *p = plain_path(path);
	int rc = sqlite3_open_v2(p, out, (flags & ~SQLITE_OPEN_URI) | SQLITE_OPEN_NOMUTEX, NULL);
	free(p);
	if (rc != SQLITE_OK)
		return rc;
	harden(*out);
	/* Inspection reads tables and the schema's text: a view or trigger of
	 * the snapshot never needs to run, so none can. */
	sqlite3_db_config(*out, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, NULL);
	sqlite3_db_config(*out, SQLITE_DBCONFIG_ENABLE_VIEW, 0, NULL);
	sqlite3_limit(*out, SQLITE_LIMIT_ATTACHED, attach);
	/* Recommended for databases from untrusted sources: a corrupt page
	 * is found when read rather than trusted. */
	sqlite3_exec(*out, "PRAGMA cell_size_check=ON; PRAGMA mmap_size=0;", NULL, NULL, NULL);
	return SQLITE_OK;
}

int sqlite_exec_open(struct sqlite_exec *x, const char *job, const char *target)
{
	memset(x, 0, sizeof(*x));
	x->job = job;
	char *p = plain_path(target);
	/* Never through a symlink: see target_temp. */
	int rc = sqlite3_open_v2(p, &x->db,
				 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW,
				 NULL);
	free(p);
	if (rc != SQLITE_OK) {
		err_set(ERR_GENERIC, "%s: cannot create the database (%s)", target,
			x->db ? sqlite3_errmsg(x->db) : sqlite3_errstr(rc));
		sqlite3_close(x->db);
		x->db = NULL;
		return ERR_GENERIC;
	}
	/* A scratch file until the restore is checked: no journal, no syncs.
	 * Set before the connection turns defensive, which ignores both. */
	sqlite3_exec(x->db, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;", NULL, NULL, NULL);
	harden(x->db);
	sqlite3_limit(x->db, SQLITE_LIMIT_ATTACHED, 0);
	sqlite_value_register(x->db);
	sqlite3_set_authorizer(x->db, authorize, x);
	x->line_start = 1;
	return 0;
}

/* The statement's first keyword, skipping blanks and comments; "" if none
 * (only comments). Sets *dot if it is a dot-command of the sqlite3 shell.
 * Returns where the keyword starts. */
static const char *first_word(const char *s, const char *end, char *out, size_t cap, int *dot)
{
	*dot = 0;
	out[0] = '\0';
	while (s < end) {
		if (isspace((unsigned char)*s)) {
			s++;
		} else if (end - s >= 2 && s[0] == '-' && s[1] == '-') {
			while (s < end && *s != '\n')
				s++;
		} else if (end - s >= 2 && s[0] == '/' && s[1] == '*') {
			s += 2;
			while (s < end && !(end - s >= 2 && s[0] == '*' && s[1] == '/'))
				s++;
			s = s < end ? s + 2 : end;
		} else {
			break;
		}
	}
	const char *start = s;
	if (s < end && *s == '.') {
		*dot = 1;
		return start;
	}
	size_t n = 0;
	while (s < end && n + 1 < cap && isalpha((unsigned char)*s))
		out[n++] = (char)toupper((unsigned char)*s++);
	out[n] = '\0';
	if (!n && s < end)
		snprintf(out, cap, "?");
	return start;
}

/* SQLite's message without what it may quote from the statement
 * ("near "...": syntax error", "unrecognized token: "..."") and without
 * control characters. */
static void clean_message(const char *msg, char *out, size_t cap)
{
	if (!msg)
		msg = "error";
	if (!strncmp(msg, "near \"", 6)) {
		const char *colon = strstr(msg, "\": ");
		msg = colon ? colon + 3 : "syntax error";
	} else if (!strncmp(msg, "unrecognized token", 18)) {
		msg = "unrecognized token";
	}
	size_t n = 0;
	for (; *msg && n + 1 < cap; msg++)
		out[n++] = (unsigned char)*msg < 0x20 || *msg == 0x7f ? '?' : *msg;
	out[n] = '\0';
}

static int fail_at(struct sqlite_exec *x, const char *why)
{
	return err_set(ERR_VERIFY, "restoring %s: %s line %ld: %s", x->job, x->stmt_file ? x->stmt_file : "?",
		       x->stmt_line, why);
}

static int64_t schema_rows(struct sqlite_exec *x)
{
	sqlite3_stmt *st;
	int64_t n = -1;
	if (sqlite3_prepare_v2(x->db, "SELECT count(*) FROM sqlite_schema", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* Past an SQL name at s: a word, or quoted in "", `` or '' (the quote
 * doubled inside) or in []. NULL if it does not end. */
static const char *skip_name(const char *s)
{
	char close = *s == '"' || *s == '`' || *s == '\'' ? *s : *s == '[' ? ']' : 0;
	if (!close) {
		while (*s && (isalnum((unsigned char)*s) || *s == '_' || *s == '$' || (unsigned char)*s >= 0x80))
			s++;
		return s;
	}
	for (s++; *s; s++)
		if (*s == close) {
			if (close == ']' || s[1] != close)
				return s + 1;
			s++; /* a doubled quote */
		}
	return NULL;
}

/* After the one statement allowed to write the schema table: it added one
 * row, and that row is what `.dump` writes for a virtual table. */
static int check_vtab_row(struct sqlite_exec *x, int64_t rows_before)
{
	sqlite3_stmt *st;
	int ok = 0;
	if (rows_before < 0 || schema_rows(x) != rows_before + 1)
		return 0;
	if (sqlite3_prepare_v2(x->db,
			       "SELECT type, name, tbl_name, rootpage, sql FROM sqlite_schema "
			       "WHERE rowid=last_insert_rowid()",
			       -1, &st, NULL) != SQLITE_OK)
		return 0;
	if (sqlite3_step(st) == SQLITE_ROW) {
		const char *type = (const char *)sqlite3_column_text(st, 0);
		const char *name = (const char *)sqlite3_column_text(st, 1);
		const char *tbl = (const char *)sqlite3_column_text(st, 2);
		const char *sql = (const char *)sqlite3_column_text(st, 4);
		ok = type && name && tbl && sql && !strcmp(type, "table") && !strcmp(name, tbl) &&
		     sqlite3_column_type(st, 3) == SQLITE_INTEGER && sqlite3_column_int64(st, 3) == 0 &&
		     sqlite3_strnicmp(name, "sqlite_", 7) &&
		     !sqlite3_strnicmp(sql, "CREATE VIRTUAL TABLE ", 21);
		if (ok) {
			/* "... name USING module(...)": the module must be one we
			 * allow. Found past the name, which may be quoted and
			 * hold " USING fts5" itself. */
			const char *u = skip_name(sql + 21);
			ok = 0;
			if (u && (reserved_name(name, strlen(name)) || reserved_name(sql + 21, (size_t)(u - sql - 21))))
				u = NULL;
			if (u && isspace((unsigned char)*u)) {
				while (isspace((unsigned char)*u))
					u++;
				if (!sqlite3_strnicmp(u, "USING", 5) && isspace((unsigned char)u[5])) {
					char mod[32];
					for (u += 5; isspace((unsigned char)*u);)
						u++;
					copy_word(mod, sizeof(mod), u);
					ok = in_list(allowed_modules, mod);
				}
			}
		}
	}
	sqlite3_finalize(st);
	return ok;
}

#define VTAB_INSERT "INSERT INTO sqlite_schema(type,name,tbl_name,rootpage,sql) VALUES('table',"

/* Runs the complete statement(s) in x->stmt, one at a time. */
static int run(struct sqlite_exec *x)
{
	const char *p = x->stmt.data, *end = x->stmt.data + x->stmt.len;
	while (p < end) {
		char word[16];
		int dot;
		const char *q = first_word(p, end, word, sizeof(word), &dot);
		if (dot)
			return fail_at(
			    x, "a sqlite3 shell dot-command is not SQL and not allowed in a snapshot");
		if (!word[0])
			return 0; /* blanks and comments only */
		/* The statements exactly as dbgit writes them for a virtual
		 * table (see the top of the file). */
		if (!sqlite3_strnicmp(q, "PRAGMA writable_schema=ON;", 26) &&
		    strspn(q + 26, " \t\r\n") == (size_t)(end - q - 26)) {
			x->vtab_next = 1;
			return 0;
		}
		int vtab = x->vtab_next && !strncmp(q, VTAB_INSERT, strlen(VTAB_INSERT));
		x->vtab_next = 0;
		if (!vtab && !in_list(allowed_statements, word)) {
			if (!strcmp(word, "?"))
				return fail_at(x, "not an SQL statement");
			char why[64];
			snprintf(why, sizeof(why), "%s is not allowed in a snapshot", word);
			return fail_at(x, why);
		}
		sqlite3_stmt *st = NULL;
		const char *tail = NULL;
		x->denied[0] = '\0';
		int64_t rows_before = vtab ? schema_rows(x) : 0;
		if (vtab) {
			sqlite3_db_config(x->db, SQLITE_DBCONFIG_DEFENSIVE, 0, NULL);
			sqlite3_db_config(x->db, SQLITE_DBCONFIG_WRITABLE_SCHEMA, 1, NULL);
		}
		int rc = sqlite3_prepare_v2(x->db, p, (int)(end - p), &st, &tail);
		int unprepared = rc != SQLITE_OK;
		if (rc == SQLITE_OK && st) {
			if (vtab && tail && strspn(tail, " \t\r\n") != (size_t)(end - tail)) {
				rc = SQLITE_MISUSE;
				snprintf(
				    x->denied, sizeof(x->denied),
				    "only one statement may follow PRAGMA writable_schema=ON in a snapshot");
			} else {
				while ((rc = sqlite3_step(st)) == SQLITE_ROW)
					;
			}
			if (rc == SQLITE_DONE)
				rc = SQLITE_OK;
		}
		char msg[200];
		clean_message(sqlite3_errmsg(x->db), msg, sizeof(msg));
		sqlite3_finalize(st);
		if (vtab) {
			sqlite3_db_config(x->db, SQLITE_DBCONFIG_WRITABLE_SCHEMA, 0, NULL);
			sqlite3_db_config(x->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
			if (rc == SQLITE_OK && !check_vtab_row(x, rows_before))
				return fail_at(x, "a schema row that is not a virtual table's is not allowed "
						  "in a snapshot");
		}
		/* Some tables only: an index or trigger on a table left out
		 * does not compile ("no such table"); the authorizer skips the
		 * rest (see authorize). Skipping runs nothing; what the
		 * authorizer refused still fails, and an object of a restored
		 * table that is missing fails verification. */
		/* The rest of the text goes too: after a failed prepare the
		 * tail may point inside the statement (a trigger's "END;"). */
		if (unprepared && x->only && !x->denied[0] && x->stmt_file &&
		    !strncmp(x->stmt_file, "3-schema", 8))
			return 0;
		if (rc != SQLITE_OK)
			return fail_at(x, x->denied[0] ? x->denied : msg);
		if (!tail || tail <= p)
			break;
		/* Several statements on one line: the next one. */
		p = tail;
	}
	return 0;
}

/* Looks for the first word of the pending statement, past blanks and
 * comments, from where the last look stopped (x->scan), carrying an open
 * comment across lines and reads: linear in the input. Returns 1 if the
 * statement turns out to be a dot-command. */
static int find_start(struct sqlite_exec *x)
{
	const char *base = x->stmt.data, *s = base + x->scan, *end = base + x->stmt.len;
	while (s < end) {
		if (x->in_comment == 1) { /* block */
			if (end - s >= 2 && s[0] == '*' && s[1] == '/') {
				x->in_comment = 0;
				s += 2;
			} else if (s[0] == '*' && end - s == 1) {
				break; /* the '/' may come with the next read */
			} else {
				s++;
			}
		} else if (x->in_comment == 2) { /* to the end of the line */
			if (*s++ == '\n')
				x->in_comment = 0;
		} else if (isspace((unsigned char)*s)) {
			s++;
		} else if ((*s == '-' || *s == '/') && end - s == 1) {
			break; /* a comment's first character: wait for more */
		} else if (s[0] == '-' && s[1] == '-') {
			x->in_comment = 2;
			s += 2;
		} else if (s[0] == '/' && s[1] == '*') {
			x->in_comment = 1;
			s += 2;
		} else {
			/* The statement starts on the line of its first word:
			 * that is the line to name. */
			x->started = 1;
			free(x->stmt_file);
			x->stmt_file = xstrdup(x->file);
			x->stmt_line = x->line;
			return *s == '.';
		}
	}
	x->scan = (size_t)(s - base);
	/* Blanks and whole comments only: nothing worth keeping. */
	if (!x->in_comment && x->scan == x->stmt.len) {
		buf_clear(&x->stmt);
		x->scan = 0;
	}
	return 0;
}

/* The slow path: bytes of one line (nl: up to and with its newline) into
 * the pending statement, run once it is complete. */
static int slow_segment(struct sqlite_exec *x, const char *p, size_t take, int nl, int limit)
{
	/* Only a line with a ';' can complete a statement. */
	if (memchr(p, ';', take))
		x->semicolon = 1;
	buf_add(&x->stmt, p, take);
	x->line_start = nl;
	if (x->stmt.len > (size_t)limit)
		return fail_at(x, "a statement longer than SQLite's length limit");
	if (!x->started)
		x->dot = find_start(x);
	if (!nl)
		return 0;
	x->line++;
	/* Execute each complete statement as soon as its line ends, so
	 * memory holds one statement at a time. A dot-command is a line of
	 * its own to the sqlite3 shell. */
	int complete = 0;
	if (x->started && !x->dot && x->semicolon) {
		complete = sqlite3_complete(buf_cstr(&x->stmt));
		x->semicolon = 0;
	}
	if (x->started && (x->dot || complete)) {
		int rc = run(x);
		buf_clear(&x->stmt);
		x->started = x->dot = 0;
		x->in_comment = 0;
		x->scan = 0;
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* The table folder of a row file's chunk, "1-table/<dir>/1-rows-NNNNNN.sql"
 * (or of the whole file, "1-table/<dir>/1-rows.sql"); NULL if path is not
 * one. Caller frees. */
static char *rows_dir(const char *path)
{
	size_t pre = strlen(SQL_PREFIX);
	if (strncmp(path, SQL_PREFIX, pre))
		return NULL;
	const char *dir = path + pre, *slash = strchr(dir, '/');
	if (!slash || slash == dir || strncmp(slash, "/1-rows", 7))
		return NULL;
	const char *t = slash + 7;
	if (*t == '-') {
		for (t++; *t >= '0' && *t <= '9'; t++)
			;
		if (t - slash != 14)
			return NULL;
	}
	if (strcmp(t, ".sql"))
		return NULL;
	return xasprintf("%.*s", (int)(slash - dir), dir);
}

/* A new file. A table's row file gets the fast path (sqlite_rows.c) if its
 * table is there to load and the database is UTF-8; the next chunk of the
 * same file keeps it. Looking the table up is dbgit's own reading of the
 * schema, outside the authorizer; the INSERT is prepared under it. */
static void rows_file(struct sqlite_exec *x)
{
	char *dir = rows_dir(x->file);
	if (dir && x->rows_dir && !strcmp(dir, x->rows_dir)) {
		free(dir);
		return;
	}
	sqlite_rows_free(x->rows);
	x->rows = NULL;
	free(x->rows_dir);
	x->rows_dir = NULL;
	if (!dir)
		return;
	struct sqlite_table t;
	int found = 0, utf8 = 0;
	sqlite3_set_authorizer(x->db, NULL, NULL);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(x->db, "PRAGMA encoding", -1, &st, NULL) == SQLITE_OK) {
		utf8 = sqlite3_step(st) == SQLITE_ROW &&
		       !sqlite3_stricmp((const char *)sqlite3_column_text(st, 0), "UTF-8");
		sqlite3_finalize(st);
	}
	if (utf8 && (found = sqlite_table_for_dir(x->db, x->file, dir, &t)) < 0)
		err_clear(); /* the slow path will say what is wrong, if anything */
	sqlite3_set_authorizer(x->db, authorize, x);
	if (found == 1) {
		x->denied[0] = '\0';
		x->rows = sqlite_rows_open(x->db, &t, &x->trusted);
		x->denied[0] = '\0';
		sqlite_table_free(&t);
	}
	x->rows_dir = dir;
}

/* The fast path: bytes of a line that may be a row. */
static int fast_segment(struct sqlite_exec *x, const char *p, size_t take, int nl, int limit)
{
	x->fast_line = 1;
	x->line_start = 0;
	/* nl < 0: the file ends inside the line, which is then no row. */
	int r = nl < 0 ? sqlite_rows_cut(x->rows) : sqlite_rows_feed(x->rows, p, take, nl, (size_t)limit);
	if (nl < 0)
		nl = 0;
	if (r == ROWS_MORE)
		return 0;
	x->fast_line = 0;
	if (r == ROWS_DONE) {
		x->line++;
		x->line_start = 1;
		return 0;
	}
	if (r == ROWS_FALLBACK) {
		/* Not a row of dbgit's: the line so far goes the slow way,
		 * and so does the rest of it. */
		const struct buf *raw = sqlite_rows_raw(x->rows);
		struct buf line = BUF_INIT;
		if (raw->len)
			buf_add(&line, raw->data, raw->len);
		else
			buf_add(&line, p, take);
		sqlite_rows_abandon(x->rows);
		int rc = slow_segment(x, line.data ? line.data : "", line.len, nl, limit);
		buf_free(&line);
		return rc;
	}
	free(x->stmt_file);
	x->stmt_file = xstrdup(x->file);
	x->stmt_line = x->line;
	char msg[200];
	if (r == ROWS_IO)
		snprintf(msg, sizeof(msg), "a temp file for a large value: %s",
			 strerror(sqlite_rows_errno(x->rows)));
	else
		clean_message(sqlite3_errmsg(x->db), msg, sizeof(msg));
	sqlite_rows_abandon(x->rows);
	if (r == ROWS_TOO_LONG)
		return fail_at(x, "a statement longer than SQLite's length limit");
	if (r == ROWS_REFUSED)
		return fail_at(x, "a long line that is not a row in dbgit's format");
	return fail_at(x, x->denied[0] && r != ROWS_IO ? x->denied : msg);
}

int sqlite_exec_feed(struct sqlite_exec *x, const char *file, const char *data, size_t len)
{
	int limit = sqlite3_limit(x->db, SQLITE_LIMIT_SQL_LENGTH, -1);
	if (!x->file || strcmp(x->file, file)) {
		char *dir = rows_dir(file);
		int same = dir && x->rows_dir && !strcmp(dir, x->rows_dir);
		free(dir);
		/* A row cut by a chunk boundary (a long one) goes on in the
		 * next chunk of its file; before anything else it goes the
		 * slow way, as a statement across files always did. */
		if (x->fast_line && !same) {
			int rc = fast_segment(x, "", 0, -1, limit);
			if (rc < 0)
				return rc;
		}
		free(x->file);
		x->file = xstrdup(file);
		x->line = 1;
		x->line_start = !x->fast_line;
		rows_file(x);
	}
	const char *p = data, *end = data + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t take = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		/* A row line takes the fast path from its first byte, when
		 * nothing is pending (x->denied is what the authorizer says
		 * while a recompiled INSERT runs). */
		int fast = x->fast_line || (x->rows && x->line_start && !x->started && !x->in_comment &&
					    !x->stmt.len && !x->vtab_next);
		if (fast)
			x->denied[0] = '\0';
		int rc = fast ? fast_segment(x, p, take, nl != NULL, limit)
			      : slow_segment(x, p, take, nl != NULL, limit);
		p += take;
		if (rc < 0)
			return rc;
	}
	return 0;
}

int sqlite_exec_finish(struct sqlite_exec *x)
{
	if (x->started)
		return fail_at(x, "the snapshot's SQL ends in an incomplete statement");
	if (x->vtab_next)
		return fail_at(x, "PRAGMA writable_schema=ON without the statement it is for");
	return 0;
}

int sqlite_exec_close(struct sqlite_exec *x)
{
	int rc = 0;
	/* Its statements go before the connection. */
	sqlite_rows_free(x->rows);
	x->rows = NULL;
	free(x->rows_dir);
	x->rows_dir = NULL;
	if (x->db && sqlite3_close(x->db) != SQLITE_OK)
		rc = err_set(ERR_VERIFY, "restoring %s: cannot close the database", x->job);
	x->db = NULL;
	buf_free(&x->stmt);
	free(x->file);
	free(x->stmt_file);
	x->file = x->stmt_file = NULL;
	return rc;
}
