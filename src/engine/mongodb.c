/*
 * mongodb engine: a MongoDB database through the MongoDB Database Tools
 * (mongodump, mongorestore) and the MongoDB Shell (mongosh), run as child
 * processes (child.c); no driver is linked in. libbson turns BSON into
 * canonical Extended JSON and back, losslessly (int32, int64, double and
 * decimal128 stay apart; binary, dates and ObjectIds are exact).
 *
 * Dump: `mongodump --db DB --out DIR` writes one DB/<coll>.bson and
 * DB/<coll>.metadata.json per collection (not --archive, which interleaves
 * collections) into a private 0700 scratch directory; each collection is
 * then streamed into the store as
 *
 *   collections/<name>/documents.json   one document a line, canonical
 *                                        Extended JSON, in _id order
 *   collections/<name>/metadata.json    options and indexes, canonical
 *
 * (<name> with every byte but [A-Za-z0-9_.-] written %XX). mongodump
 * cannot sort (its --query takes a filter, not a sort), and it reads in
 * _id index order or the storage order, depending on the version and the
 * collection. So dbgit puts the documents in a fixed order of its own: an
 * order-preserving key of each _id (numbers by value, whatever their BSON
 * type; strings by bytes; ObjectIds by bytes; type classes in BSON's
 * comparison order). A first pass over the .bson file computes the keys;
 * if they already increase (mongodump followed the _id index), the second
 * pass writes the lines straight through; otherwise they go through
 * `sort` (coreutils, LC_ALL=C, -S 32M, temporary files in the scratch
 * directory), so memory stays bounded whatever the collection's size.
 * Documents with the same key (no _id index) are ordered by their text.
 *
 * The per-collection checksum is SHA-256 over those lines; the schema
 * digest is one "table" entry per collection (its options), one "index"
 * entry per index and one "view" per view, with what a restore into
 * another database changes (uuid, the index's "ns") left out.
 *
 * Restore rebuilds <coll>.bson and <coll>.metadata.json from the snapshot
 * (untrusted: every line must parse, names are checked) and runs
 * `mongorestore --drop --dir` into a scratch database named after the job
 * and the pid; verification dumps that database again and compares counts
 * and checksums. mongosh drops the scratch database afterwards and, for
 * `restore --to DBNAME`, moves its collections under the new name.
 *
 * The password: only from password_file (0600), to the tools through a
 * 0600 `--config` YAML file in the scratch directory (`password: "..."`,
 * escaped as a JSON string, which YAML reads the same), to mongosh through
 * the same file read by its script. Never argv, a log line or the store.
 *
 * Consistency: mongodump reads each collection at its own point in time;
 * a dump of one database cannot use --oplog. A job that needs one point in
 * time across collections stops the writers (a pre-backup hook) or dumps a
 * hidden secondary.
 */
#include <bson/bson.h>
#include <cjson/cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "child.h"
#include "server.h"
#include "dbgit/engine.h"

#define COLL_PREFIX "collections/"
#define DOCS_FILE   "documents"
#define META_FILE   "metadata"
/* Longest document line read back from a snapshot (a BSON document is at
 * most 16 MiB; its Extended JSON may be a few times longer). */
#define MAX_LINE (128u << 20)

/* ---- the tools and their arguments ---- */

struct argv {
	char **v;
	size_t n;
};

static void arg(struct argv *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void arg(struct argv *a, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	a->v = realloc(a->v, (a->n + 2) * sizeof(char *));
	if (!a->v)
		abort();
	a->v[a->n++] = s;
	a->v[a->n] = NULL;
}

static void argv_free(struct argv *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
	a->v = NULL;
	a->n = 0;
}

/* Whether an executable named tool is in PATH: the tools come from a
 * separate download, so their absence deserves its own message. */
static int on_path(const char *tool)
{
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	char *copy = xstrdup(path), *save = NULL;
	int found = 0;
	for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
		char *p = xasprintf("%s/%s", *d ? d : ".", tool);
		struct stat sb;
		found = stat(p, &sb) == 0 && S_ISREG(sb.st_mode) && access(p, X_OK) == 0;
		free(p);
	}
	free(copy);
	return found;
}

static int need_tool(const struct job_cfg *job, const char *tool)
{
	if (on_path(tool))
		return 0;
	if (!strcmp(tool, "mongosh"))
		return err_set(
		    ERR_GENERIC,
		    "job '%s': mongosh not found on PATH: install the MongoDB Shell (it drops the scratch "
		    "database a verification restores into)",
		    job->name);
	return err_set(ERR_GENERIC, "job '%s': %s not found on PATH: install MongoDB Database Tools",
		       job->name, tool);
}

/* A JSON string is also a YAML double-quoted scalar. */
static void json_escape(struct buf *b, const char *pw)
{
	cJSON *s = cJSON_CreateString(pw);
	char *p = cJSON_PrintUnformatted(s);
	if (p) {
		buf_puts(b, p);
		explicit_bzero(p, strlen(p));
		cJSON_free(p);
	}
	explicit_bzero(s->valuestring, strlen(s->valuestring));
	cJSON_Delete(s);
}

/* One run of the tools: the scratch directory, the environment, the 0600
 * config file that holds the password (NULL without password_file). */
struct mg {
	const struct job_cfg *job;
	struct child_env ce;
	char *cfgfile;
};

static int mg_open(struct mg *m, const struct job_cfg *job)
{
	memset(m, 0, sizeof(*m));
	m->job = job;
	if (child_env_new(&m->ce, job->name, NULL) < 0)
		return ERR_GENERIC;
	/* sort compares bytes; the tools' messages stay in English. */
	child_env_set(&m->ce, "LC_ALL", "C");
	if (job->password_file &&
	    child_password_file(&m->ce, job->password_file, "password: ", json_escape, &m->cfgfile) < 0) {
		child_env_free(&m->ce);
		return ERR_GENERIC;
	}
	return 0;
}

static void mg_close(struct mg *m)
{
	free(m->cfgfile);
	child_env_free(&m->ce);
}

/* Where the server is and who connects: the same for every tool. */
static void conn_args(const struct mg *m, struct argv *a)
{
	const struct job_cfg *job = m->job;
	if (m->cfgfile)
		arg(a, "--config=%s", m->cfgfile);
	if (job->uri) {
		arg(a, "--uri=%s", job->uri);
	} else {
		if (job->host)
			arg(a, "--host=%s", job->host);
		if (job->port > 0)
			arg(a, "--port=%d", job->port);
	}
	if (job->user)
		arg(a, "--username=%s", job->user);
	/* Named always: the tools' default is the --db given, and
	 * mongorestore into the scratch database gives none. */
	if (job->auth_database)
		arg(a, "--authenticationDatabase=%s", job->auth_database);
	else if (job->user && !job->uri)
		arg(a, "--authenticationDatabase=%s", job->database);
}

static int run_tool(struct mg *m, struct argv *a)
{
	struct child c;
	if (child_start(&c, &m->ce, a->v, 0, 0) < 0)
		return ERR_GENERIC;
	return child_finish(&c, 0);
}

/* mongodump of database db into out (out/db/<coll>.bson ...). */
static int run_mongodump(struct mg *m, const char *db, const char *out, int exclusions)
{
	struct argv a = {0};
	arg(&a, "mongodump");
	/* Errors only: the first line of its standard error is the reason. */
	arg(&a, "--quiet");
	conn_args(m, &a);
	arg(&a, "--db=%s", db);
	for (size_t i = 0; exclusions && i < m->job->n_exclude_coll; i++)
		arg(&a, "--excludeCollection=%s", m->job->exclude_collections[i]);
	for (size_t i = 0; exclusions && i < m->job->n_exclude; i++)
		arg(&a, "--excludeCollection=%s", m->job->exclude_tables[i]);
	for (size_t i = 0; exclusions && i < m->job->n_options; i++)
		arg(&a, "%s", m->job->options[i]);
	arg(&a, "--out=%s", out);
	log_debug("job '%s': mongodump --db=%s --out=%s", m->job->name, db, out);
	int rc = run_tool(m, &a);
	argv_free(&a);
	return rc;
}

/* One request to mongosh: a script whose first line is the request as
 * JSON (the password stays in the 0600 config file, which the script
 * reads). Its standard output, if wanted, into *out. */
static const char mongosh_program[] =
    "const fs = require('fs');\n"
    "const conn = new Mongo(req.uri);\n"
    /* Never a prompt: stdin is /dev/null. */
    "if (req.user && req.pwfile) {\n"
    "  const l = fs.readFileSync(req.pwfile, 'utf8');\n"
    "  conn.getDB(req.authdb).auth(req.user, JSON.parse(l.slice(l.indexOf(':') + 1)));\n"
    "}\n"
    "const d = conn.getDB(req.db);\n"
    "const user = (n) => !n.startsWith('system.');\n"
    "if (req.op === 'ping') {\n"
    "  const r = conn.getDB('admin').runCommand({ping: 1}); if (!r.ok) throw new Error('ping failed');\n"
    "  print(d.getCollectionNames().length);\n"
    "} else if (req.op === 'count') {\n"
    "  print(d.getCollectionNames().filter(user).length);\n"
    "} else if (req.op === 'list') {\n"
    "  for (const n of conn.getDBNames()) if (n.startsWith(req.db)) print(n);\n"
    "} else if (req.op === 'drop') {\n"
    "  d.dropDatabase();\n"
    "} else if (req.op === 'install') {\n"
    "  const to = conn.getDB(req.to);\n"
    "  const infos = d.getCollectionInfos().filter((i) => user(i.name));\n"
    "  const keep = new Set(infos.map((i) => i.name));\n"
    "  for (const i of infos.filter((i) => i.type !== 'view')) {\n"
    "    const r = conn.adminCommand({renameCollection: req.db + '.' + i.name, to: req.to + '.' + i.name, "
    "dropTarget: true});\n"
    "    if (!r.ok) throw new Error('renameCollection ' + i.name + ': ' + r.errmsg);\n"
    "  }\n"
    "  for (const i of infos.filter((i) => i.type === 'view')) {\n"
    "    if (to.getCollectionNames().includes(i.name)) to.getCollection(i.name).drop();\n"
    "    const o = i.options.collation ? {collation: i.options.collation} : {};\n"
    "    to.createView(i.name, i.options.viewOn, i.options.pipeline || [], o);\n"
    "  }\n"
    "  if (req.force) for (const n of to.getCollectionNames().filter(user)) if (!keep.has(n)) "
    "to.getCollection(n).drop();\n"
    "  d.dropDatabase();\n"
    "}\n";

static int run_mongosh(struct mg *m, const char *op, const char *db, const char *to, int force,
		       struct buf *out)
{
	const struct job_cfg *job = m->job;
	cJSON *req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "op", op);
	cJSON_AddStringToObject(req, "db", db);
	if (to)
		cJSON_AddStringToObject(req, "to", to);
	cJSON_AddBoolToObject(req, "force", force);
	char *uri = job->uri ? xstrdup(job->uri)
			     : xasprintf("mongodb://%s:%d/", job->host ? job->host : "127.0.0.1",
					 job->port > 0 ? job->port : 27017);
	cJSON_AddStringToObject(req, "uri", uri);
	free(uri);
	if (job->user)
		cJSON_AddStringToObject(req, "user", job->user);
	cJSON_AddStringToObject(req, "authdb", job->auth_database ? job->auth_database : job->database);
	if (m->cfgfile)
		cJSON_AddStringToObject(req, "pwfile", m->cfgfile);
	char *json = cJSON_PrintUnformatted(req);
	cJSON_Delete(req);
	char *path = xasprintf("%s/request-%d.js", m->ce.dir, m->ce.n_err);
	int rc = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || fs_write_all(fd, "const req = ", 12) < 0 || fs_write_all(fd, json, strlen(json)) < 0 ||
	    fs_write_all(fd, ";\n", 2) < 0 ||
	    fs_write_all(fd, mongosh_program, sizeof(mongosh_program) - 1) < 0)
		rc = err_set(ERR_GENERIC, "job '%s': %s: %s", job->name, path, strerror(errno));
	if (fd >= 0)
		close(fd);
	cJSON_free(json);
	if (rc == 0) {
		char *argv[] = {"mongosh", "--nodb", "--norc", "--quiet", path, NULL};
		struct child c;
		rc = child_start(&c, &m->ce, argv, 0, out != NULL);
		if (rc == 0 && out) {
			char piece[4096];
			ssize_t n;
			while ((n = read(c.out, piece, sizeof(piece))) != 0) {
				if (n < 0 && errno == EINTR)
					continue;
				if (n < 0 || out->len > 65536)
					break;
				buf_add(out, piece, (size_t)n);
			}
		}
		if (rc == 0)
			rc = child_finish(&c, 0);
		else
			rc = ERR_GENERIC;
	}
	unlink(path);
	free(path);
	return rc;
}

/* ---- names ---- */

static int hexval(int c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
				      : -1;
}

/* mongodump's file name back to the collection name (%XX). */
static char *unescape(const char *s, size_t n)
{
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			char c = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			buf_add(&b, &c, 1);
			i += 2;
		} else {
			buf_add(&b, s + i, 1);
		}
	}
	return b.data ? b.data : xstrdup("");
}

/* A folder name of a snapshot (untrusted) that server_sanitize could have made. */
static int valid_folder(const char *s, size_t n)
{
	if (n == 0 || n > 400 || s[0] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '%') {
			if (i + 2 >= n || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0)
				return 0;
		} else if (!isalnum(c) && c != '_' && c != '.' && c != '-') {
			return 0;
		}
	}
	return 1;
}

/* ---- documents: canonical Extended JSON in _id order ---- */

static void key_u64(struct buf *k, uint64_t v)
{
	for (int i = 7; i >= 0; i--)
		buf_printf(k, "%02x", (unsigned)((v >> (8 * i)) & 0xff));
}

static void key_bytes(struct buf *k, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		buf_printf(k, "%02x", p[i]);
}

/* A double as 8 bytes whose unsigned order is the numeric order (NaN
 * first, -0 with 0). */
static uint64_t ordered_double(double d)
{
	if (isnan(d))
		return 0;
	if (d == 0)
		d = 0;
	uint64_t u;
	memcpy(&u, &d, sizeof(u));
	return (u & (1ull << 63)) ? ~u : u ^ (1ull << 63);
}

/* The sort key of a document, hex (so that it holds no tab): its _id's
 * type class in BSON comparison order, then an order-preserving encoding
 * of the value. */
static void doc_key(const bson_t *doc, struct buf *k)
{
	buf_clear(k);
	bson_iter_t it;
	if (!bson_iter_init_find(&it, doc, "_id")) {
		buf_puts(k, "00");
		return;
	}
	switch (bson_iter_type(&it)) {
	case BSON_TYPE_MINKEY: buf_puts(k, "01"); break;
	case BSON_TYPE_NULL:
	case BSON_TYPE_UNDEFINED: buf_puts(k, "02"); break;
	case BSON_TYPE_INT32:
	case BSON_TYPE_INT64:
	case BSON_TYPE_DOUBLE:
	case BSON_TYPE_DECIMAL128: {
		/* By value across types; equal doubles (large int64s) by the
		 * exact integer. */
		int64_t i = 0;
		double d;
		bson_type_t t = bson_iter_type(&it);
		if (t == BSON_TYPE_INT32)
			d = (double)(i = bson_iter_int32(&it));
		else if (t == BSON_TYPE_INT64)
			d = (double)(i = bson_iter_int64(&it));
		else if (t == BSON_TYPE_DOUBLE)
			d = bson_iter_double(&it);
		else {
			bson_decimal128_t dec;
			char s[BSON_DECIMAL128_STRING];
			bson_iter_decimal128(&it, &dec);
			bson_decimal128_to_string(&dec, s);
			d = strtod(s, NULL);
		}
		buf_puts(k, "03");
		key_u64(k, ordered_double(d));
		key_u64(k, (uint64_t)i ^ (1ull << 63));
		break;
	}
	case BSON_TYPE_UTF8:
	case BSON_TYPE_SYMBOL: {
		uint32_t n = 0;
		const char *s = bson_iter_type(&it) == BSON_TYPE_UTF8 ? bson_iter_utf8(&it, &n)
								      : bson_iter_symbol(&it, &n);
		buf_puts(k, "04");
		/* 00 inside a string sorts before any other byte, after the end. */
		for (uint32_t i = 0; i < n; i++)
			buf_printf(k, (unsigned char)s[i] ? "%02x" : "0001", (unsigned char)s[i]);
		buf_puts(k, "0000");
		break;
	}
	case BSON_TYPE_OID:
		buf_puts(k, "08");
		key_bytes(k, bson_iter_oid(&it)->bytes, 12);
		break;
	case BSON_TYPE_BOOL: buf_puts(k, bson_iter_bool(&it) ? "0901" : "0900"); break;
	case BSON_TYPE_DATE_TIME:
		buf_puts(k, "0a");
		key_u64(k, (uint64_t)bson_iter_date_time(&it) ^ (1ull << 63));
		break;
	case BSON_TYPE_TIMESTAMP: {
		uint32_t ts, inc;
		bson_iter_timestamp(&it, &ts, &inc);
		buf_puts(k, "0b");
		key_u64(k, ((uint64_t)ts << 32) | inc);
		break;
	}
	case BSON_TYPE_MAXKEY: buf_puts(k, "7f"); break;
	default: {
		/* Documents, arrays, binary, regex...: by their bytes, a fixed
		 * order if not BSON's. */
		static const char cls[] = {[BSON_TYPE_DOCUMENT] = 5,
					   [BSON_TYPE_ARRAY] = 6,
					   [BSON_TYPE_BINARY] = 7,
					   [BSON_TYPE_REGEX] = 12};
		bson_type_t t = bson_iter_type(&it);
		buf_printf(k, "%02x%02x", (size_t)t < sizeof(cls) && cls[t] ? cls[t] : 13, (unsigned)t);
		uint32_t n = 0;
		const uint8_t *p = NULL;
		if (t == BSON_TYPE_DOCUMENT)
			bson_iter_document(&it, &n, &p);
		else if (t == BSON_TYPE_ARRAY)
			bson_iter_array(&it, &n, &p);
		else if (t == BSON_TYPE_BINARY) {
			bson_subtype_t st;
			bson_iter_binary(&it, &st, &n, &p);
			buf_printf(k, "%02x", (unsigned)st);
		} else {
			const char *opts = NULL, *re = bson_iter_regex(&it, &opts);
			if (t == BSON_TYPE_REGEX && re) {
				p = (const uint8_t *)re;
				n = (uint32_t)strlen(re);
			}
		}
		if (p)
			key_bytes(k, p, n);
		break;
	}
	}
}

/* Reads a .bson file document by document. */
struct docs {
	bson_reader_t *r;
	const char *path;
	const char *coll;
	const char *job;
};

static int docs_open(struct docs *d, const char *job, const char *coll, const char *path)
{
	bson_error_t e;
	d->job = job;
	d->coll = coll;
	d->path = path;
	d->r = bson_reader_new_from_file(path, &e);
	if (!d->r)
		return err_set(ERR_GENERIC, "job '%s': collection %s: %s: %s", job, coll, path, e.message);
	return 0;
}

/* 1: *doc; 0: the end; <0: a broken file. */
static int docs_next(struct docs *d, const bson_t **doc)
{
	bool eof = false;
	*doc = bson_reader_read(d->r, &eof);
	if (*doc)
		return 1;
	if (eof)
		return 0;
	return err_set(ERR_GENERIC, "job '%s': collection %s: %s holds a broken BSON document at byte %lld",
		       d->job, d->coll, d->path, (long long)bson_reader_tell(d->r));
}

static void docs_close(struct docs *d)
{
	if (d->r)
		bson_reader_destroy(d->r);
	d->r = NULL;
}

static int doc_json(const struct docs *d, const bson_t *doc, char **json, size_t *len)
{
	*json = bson_as_canonical_extended_json(doc, len);
	if (!*json)
		return err_set(ERR_GENERIC,
			       "job '%s': collection %s: a document libbson cannot write as JSON "
			       "(invalid UTF-8?)",
			       d->job, d->coll);
	return 0;
}

/* What one collection's documents add up to. */
struct tally {
	struct sha256 *h;
	int64_t docs;
	struct dump_sink *sink;
};

static int emit(struct tally *t, const char *line, size_t len)
{
	sha256_update(t->h, line, len);
	sha256_update(t->h, "\n", 1);
	t->docs++;
	int rc = 0;
	if (t->sink && (rc = t->sink->write(t->sink, line, len)) == 0)
		rc = t->sink->write(t->sink, "\n", 1);
	if (rc == 0 && (t->docs & 0xfff) == 0)
		rc = sig_check();
	return rc;
}

/* Pass one: are the keys already strictly increasing? */
static int docs_sorted(struct docs *d, int *sorted)
{
	struct buf k = BUF_INIT, prev = BUF_INIT;
	const bson_t *doc;
	int rc, first = 1;
	*sorted = 1;
	while ((rc = docs_next(d, &doc)) == 1) {
		doc_key(doc, &k);
		if (!first && strcmp(buf_cstr(&prev), buf_cstr(&k)) >= 0) {
			*sorted = 0;
			rc = 0;
			break;
		}
		first = 0;
		buf_clear(&prev);
		buf_add(&prev, k.data, k.len);
	}
	buf_free(&k);
	buf_free(&prev);
	return rc;
}

/* Pass two, already in order: straight through. */
static int docs_straight(struct docs *d, struct tally *t)
{
	const bson_t *doc;
	int rc;
	while ((rc = docs_next(d, &doc)) == 1) {
		char *json;
		size_t len;
		if ((rc = doc_json(d, doc, &json, &len)) < 0)
			break;
		rc = emit(t, json, len);
		bson_free(json);
		if (rc < 0)
			break;
	}
	return rc;
}

/* Pass two, out of order: "key\tjson" lines through sort(1), which spills
 * to temporary files in the scratch directory. */
static int docs_sort(struct mg *m, struct docs *d, struct tally *t)
{
	char *tmp = xasprintf("%s/sort", m->ce.dir);
	mkdir(tmp, 0700);
	char *argv[] = {"sort", "-t", "\t", "-k1,1", "-S", "32M", "-T", tmp, NULL};
	struct child c;
	int rc = child_start(&c, &m->ce, argv, 1, 1);
	free(tmp);
	if (rc < 0)
		return ERR_GENERIC;
	struct buf line = BUF_INIT;
	const bson_t *doc;
	while ((rc = docs_next(d, &doc)) == 1) {
		char *json;
		size_t len;
		if ((rc = doc_json(d, doc, &json, &len)) < 0)
			break;
		doc_key(doc, &line);
		buf_puts(&line, "\t");
		buf_add(&line, json, len);
		buf_puts(&line, "\n");
		bson_free(json);
		if (child_write(&c, line.data, line.len) < 0) {
			rc = ERR_GENERIC;
			break;
		}
	}
	buf_free(&line);
	if (rc == 0) {
		/* sort writes only once its input has ended. */
		close(c.in);
		c.in = -1;
		struct line_reader r;
		line_reader_init(&r, c.out);
		const char *l;
		size_t n;
		while ((rc = line_reader_next(&r, &l, &n)) == 1) {
			const char *tab = memchr(l, '\t', n);
			if (!tab) {
				rc = err_set(ERR_GENERIC, "job '%s': sort wrote an unexpected line",
					     m->job->name);
				break;
			}
			size_t skip = (size_t)(tab + 1 - l);
			size_t len = n - skip - (l[n - 1] == '\n');
			if ((rc = emit(t, tab + 1, len)) < 0)
				break;
		}
		line_reader_free(&r);
	}
	int frc = child_finish(&c, rc < 0);
	return rc < 0 ? (rc == ERR_GENERIC && frc < 0 ? frc : rc) : frc;
}

/* ---- metadata: options and indexes ---- */

/* The metadata without what differs between two databases holding the
 * same collection (its uuid, the index's "ns"): what the schema digest
 * hashes. Fills schema with "table"/"view" and "index" entries. */
static void add_schema(cJSON *schema, const char *type, const char *name, const char *tbl, const bson_t *b)
{
	size_t len = 0;
	char *json = bson_as_canonical_extended_json(b, &len);
	char hex[65];
	struct sha256 *h = sha256_new();
	sha256_update(h, json ? json : "", json ? len : 0);
	sha256_final_hex(h, hex);
	bson_free(json);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "type", type);
	cJSON_AddStringToObject(o, "name", name);
	cJSON_AddStringToObject(o, "tbl_name", tbl);
	cJSON_AddStringToObject(o, "sha256", hex);
	cJSON_AddItemToArray(schema, o);
}

static void meta_schema(const bson_t *meta, const char *coll, cJSON *schema)
{
	bson_t rest = BSON_INITIALIZER;
	bson_copy_to_excluding_noinit(meta, &rest, "uuid", "collectionName", "indexes", NULL);
	bson_iter_t it;
	const char *type = "table";
	if (bson_iter_init_find(&it, meta, "type") && BSON_ITER_HOLDS_UTF8(&it) &&
	    !strcmp(bson_iter_utf8(&it, NULL), "view"))
		type = "view";
	add_schema(schema, type, coll, coll, &rest);
	bson_destroy(&rest);
	bson_iter_t idx;
	if (!bson_iter_init_find(&it, meta, "indexes") || !BSON_ITER_HOLDS_ARRAY(&it) ||
	    !bson_iter_recurse(&it, &idx))
		return;
	while (bson_iter_next(&idx)) {
		uint32_t n;
		const uint8_t *p;
		bson_t spec;
		if (!BSON_ITER_HOLDS_DOCUMENT(&idx))
			continue;
		bson_iter_document(&idx, &n, &p);
		if (!bson_init_static(&spec, p, n))
			continue;
		bson_t clean = BSON_INITIALIZER;
		bson_copy_to_excluding_noinit(&spec, &clean, "ns", NULL);
		bson_iter_t nm;
		char *name = xasprintf("%s.%s", coll,
				       bson_iter_init_find(&nm, &spec, "name") && BSON_ITER_HOLDS_UTF8(&nm)
					   ? bson_iter_utf8(&nm, NULL)
					   : "?");
		add_schema(schema, "index", name, coll, &clean);
		free(name);
		bson_destroy(&clean);
	}
}

/* ---- the walk over a mongodump output ---- */

struct coll {
	char *name; /* the collection's name */
	char *dir;  /* its folder in the snapshot */
	char *base; /* its files in the dump: base.bson, base.metadata.json */
	int has_bson, has_meta;
};

static int cmp_coll(const void *a, const void *b)
{
	return strcmp(((const struct coll *)a)->dir, ((const struct coll *)b)->dir);
}

static void free_colls(struct coll *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(c[i].name), free(c[i].dir), free(c[i].base);
	free(c);
}

static int ends_with(const char *s, size_t n, const char *suffix, size_t *stem)
{
	size_t sl = strlen(suffix);
	if (n <= sl || memcmp(s + n - sl, suffix, sl))
		return 0;
	*stem = n - sl;
	return 1;
}

static struct coll *find_base(struct coll *c, size_t n, const char *base)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(c[i].base, base))
			return &c[i];
	return NULL;
}

/* Reads a metadata file into a BSON document (the tools write relaxed or
 * canonical Extended JSON; libbson reads both). */
static int read_meta(const struct job_cfg *job, const char *path, const char *what, bson_t **out)
{
	char *text = NULL;
	*out = NULL;
	if (fs_read_small(path, &text, 16u << 20) < 0)
		return ERR_GENERIC;
	bson_error_t e;
	*out = bson_new_from_json((const uint8_t *)text, (ssize_t)strlen(text), &e);
	free(text);
	if (!*out)
		return err_set(ERR_GENERIC, "job '%s': %s: %s", job->name, what, e.message);
	return 0;
}

/* The collections of dir (mongodump's DB folder), sorted by folder. */
static int list_colls(const struct job_cfg *job, const char *dir, struct coll **out, size_t *n_out)
{
	*out = NULL;
	*n_out = 0;
	DIR *d = opendir(dir);
	if (!d) {
		if (errno == ENOENT)
			return 0; /* an empty database: mongodump writes nothing */
		return err_set(ERR_GENERIC, "job '%s': %s: %s", job->name, dir, strerror(errno));
	}
	struct coll *c = NULL;
	size_t n = 0;
	struct dirent *e;
	int rc = 0;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name), stem;
		int meta = 0;
		if (ends_with(e->d_name, len, ".metadata.json", &stem))
			meta = 1;
		else if (!ends_with(e->d_name, len, ".bson", &stem))
			continue;
		char *base = xasprintf("%.*s", (int)stem, e->d_name);
		struct coll *x = find_base(c, n, base);
		if (!x) {
			c = realloc(c, (n + 1) * sizeof(*c));
			x = &c[n++];
			memset(x, 0, sizeof(*x));
			x->base = base;
		} else {
			free(base);
		}
		if (meta)
			x->has_meta = 1;
		else
			x->has_bson = 1;
	}
	closedir(d);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		/* The name: the metadata's collectionName where it has one
		 * (mongodump shortens long names), else the file name. */
		if (c[i].has_meta) {
			char *path = xasprintf("%s/%s.metadata.json", dir, c[i].base);
			bson_t *meta = NULL;
			rc = read_meta(job, path, path, &meta);
			bson_iter_t it;
			if (rc == 0 && bson_iter_init_find(&it, meta, "collectionName") &&
			    BSON_ITER_HOLDS_UTF8(&it))
				c[i].name = xstrdup(bson_iter_utf8(&it, NULL));
			if (meta)
				bson_destroy(meta);
			free(path);
		}
		if (!c[i].name)
			c[i].name = unescape(c[i].base, strlen(c[i].base));
		c[i].dir = server_sanitize(c[i].name);
	}
	if (rc == 0 && n)
		qsort(c, n, sizeof(*c), cmp_coll);
	for (size_t i = 0; rc == 0 && i + 1 < n; i++)
		if (!strcmp(c[i].dir, c[i + 1].dir))
			rc = err_set(ERR_GENERIC, "job '%s': two collections named %s in the dump", job->name,
				     c[i].name);
	if (rc < 0) {
		free_colls(c, n);
		return rc;
	}
	*out = c;
	*n_out = n;
	return 0;
}

/* One collection: documents (sorted), then metadata, into sink (may be
 * NULL: inspect), its summary and schema into info. */
static int walk_coll(struct mg *m, const char *dir, const struct coll *c, struct dump_sink *sink,
		     cJSON *summaries, cJSON *schema)
{
	int rc = 0;
	if (c->has_bson) {
		char *path = xasprintf("%s/%s.bson", dir, c->base);
		struct docs d = {0};
		int sorted = 1;
		rc = docs_open(&d, m->job->name, c->name, path);
		if (rc == 0)
			rc = docs_sorted(&d, &sorted);
		docs_close(&d);
		if (rc == 0)
			rc = docs_open(&d, m->job->name, c->name, path);
		struct tally t = {sha256_new(), 0, sink};
		if (rc == 0 && sink) {
			char *f = xasprintf(COLL_PREFIX "%s/" DOCS_FILE ".json", c->dir);
			rc = sink->open(sink, f, CHUNK_LINES);
			free(f);
		}
		if (rc == 0)
			rc = sorted ? docs_straight(&d, &t) : docs_sort(m, &d, &t);
		if (rc == 0 && sink)
			rc = sink->close(sink);
		docs_close(&d);
		char hex[65];
		sha256_final_hex(t.h, hex);
		if (rc == 0)
			server_add_summary(summaries, c->name, t.docs, hex);
		if (rc == 0 && !sorted)
			log_debug("job '%s': collection %s sorted by _id", m->job->name, c->name);
		free(path);
	}
	if (rc == 0 && c->has_meta) {
		char *path = xasprintf("%s/%s.metadata.json", dir, c->base);
		bson_t *meta = NULL;
		rc = read_meta(m->job, path, path, &meta);
		if (rc == 0) {
			meta_schema(meta, c->name, schema);
			size_t len = 0;
			char *json = bson_as_canonical_extended_json(meta, &len);
			char *f = xasprintf(COLL_PREFIX "%s/" META_FILE ".json", c->dir);
			if (!json)
				rc = err_set(ERR_GENERIC, "job '%s': %s: not writable as JSON", m->job->name,
					     path);
			if (rc == 0 && sink && (rc = sink->open(sink, f, CHUNK_LINES)) == 0 &&
			    (rc = sink->write(sink, json, len)) == 0 &&
			    (rc = sink->write(sink, "\n", 1)) == 0)
				rc = sink->close(sink);
			bson_free(json);
			free(f);
		}
		if (meta)
			bson_destroy(meta);
		free(path);
	}
	return rc;
}

/* mongodump of db, then every collection in folder order. */
static int walk_database(struct mg *m, const char *db, int exclusions, struct dump_sink *sink, cJSON *info)
{
	char *out = xasprintf("%s/dump", m->ce.dir);
	int rc = run_mongodump(m, db, out, exclusions);
	char *dir = xasprintf("%s/%s", out, db);
	struct coll *c = NULL;
	size_t n = 0;
	cJSON *summaries = cJSON_AddArrayToObject(info, "tables");
	cJSON *schema = cJSON_AddArrayToObject(info, "schema");
	if (rc == 0)
		rc = list_colls(m->job, dir, &c, &n);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = walk_coll(m, dir, &c[i], sink, summaries, schema);
	free_colls(c, n);
	fs_rmtree(out);
	free(out);
	free(dir);
	return rc;
}

/* Scratch databases of this job left by a run that was killed (-9, a
 * crash): dropped when the pid in their name is gone (see
 * child_scratch_abandoned; only this host's processes are seen). */
static void sweep_scratch(struct mg *m)
{
	char *prefix = server_scratch_name(m->job, "/x");
	/* "dbgit_<job>_<pid>_x": the prefix up to the pid. */
	*strrchr(prefix, '_') = '\0';
	strrchr(prefix, '_')[1] = '\0';
	struct buf out = BUF_INIT;
	if (run_mongosh(m, "list", prefix, NULL, 0, &out) < 0) {
		err_clear(); /* the dump that follows says what is wrong */
		buf_clear(&out);
	}
	char *save = NULL;
	for (char *l = strtok_r((char *)buf_cstr(&out), "\r\n", &save); l;
	     l = strtok_r(NULL, "\r\n", &save)) {
		if (strncmp(l, prefix, strlen(prefix)) || !child_scratch_abandoned(l))
			continue;
		if (run_mongosh(m, "drop", l, NULL, 0, NULL) == 0)
			log_info("job '%s': dropped scratch database %s, left by a run that was killed",
				 m->job->name, l);
		else
			err_clear();
	}
	buf_free(&out);
	free(prefix);
}

static int mg_dump(const struct job_cfg *job, struct dump_sink *sink, cJSON *info)
{
	/* All the tools a run needs, before anything is dumped. */
	int rc = need_tool(job, "mongodump");
	if (rc == 0 && strcmp(job->verify, "none"))
		rc = need_tool(job, "mongorestore");
	if (rc == 0 && strcmp(job->verify, "none"))
		rc = need_tool(job, "mongosh");
	struct mg m;
	if (rc < 0 || mg_open(&m, job) < 0)
		return ERR_GENERIC;
	if (strcmp(job->verify, "none"))
		sweep_scratch(&m);
	rc = walk_database(&m, job->database, 1, sink, info);
	if (rc == 0) {
		cJSON *formats = cJSON_AddArrayToObject(info, "formats");
		cJSON_AddItemToArray(formats, cJSON_CreateString("json"));
	}
	mg_close(&m);
	return rc;
}

/* ---- restore ---- */

/* Rebuilds the dump folder from the snapshot's files. */
struct rebuild {
	const struct job_cfg *job;
	char *dir;
	int fd;		 /* the file being written */
	char *cur;	 /* "folder/documents" or "folder/metadata" */
	struct buf line; /* a documents line not yet ended */
	int docs;	 /* cur is a documents file */
	int files;
};

static int rb_finish_file(struct rebuild *r)
{
	int rc = 0;
	if (r->docs && r->line.len)
		rc = err_set(ERR_VERIFY, "the snapshot of '%s': %s.json does not end with a newline",
			     r->job->name, r->cur);
	if (r->fd >= 0 && close(r->fd) < 0 && rc == 0)
		rc = err_set(ERR_GENERIC, "%s: %s", r->dir, strerror(errno));
	r->fd = -1;
	buf_clear(&r->line);
	return rc;
}

/* The next chunk of the snapshot, at path: which file it continues. */
static int rb_open(struct rebuild *r, const char *path, int *skip)
{
	*skip = 0;
	if (strncmp(path, COLL_PREFIX, strlen(COLL_PREFIX))) {
		*skip = 1;
		return 0;
	}
	const char *folder = path + strlen(COLL_PREFIX), *slash = strchr(folder, '/');
	const char *file = slash ? slash + 1 : NULL;
	size_t stem = 0;
	int docs = file && !strncmp(file, DOCS_FILE "-", strlen(DOCS_FILE) + 1);
	int meta = file && !strncmp(file, META_FILE "-", strlen(META_FILE) + 1);
	if (!slash || !valid_folder(folder, (size_t)(slash - folder)) || (!docs && !meta) ||
	    !ends_with(file, strlen(file), ".json", &stem) || strchr(file, '/'))
		return err_set(ERR_VERIFY, "the snapshot of '%s' holds an unexpected file: %.200s",
			       r->job->name, path);
	char *cur = xasprintf("%.*s/%s", (int)(slash - folder), folder, docs ? DOCS_FILE : META_FILE);
	if (r->cur && !strcmp(r->cur, cur)) {
		free(cur);
		return 0; /* its next chunk */
	}
	int rc = rb_finish_file(r);
	free(r->cur);
	r->cur = cur;
	r->docs = docs;
	if (rc < 0)
		return rc;
	char *out =
	    xasprintf("%s/%.*s.%s", r->dir, (int)(slash - folder), folder, docs ? "bson" : "metadata.json");
	/* O_EXCL: each file of the snapshot once (chunks come in order). */
	r->fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (r->fd < 0)
		rc = errno == EEXIST ? err_set(ERR_VERIFY, "the snapshot of '%s' holds %.200s out of order",
					       r->job->name, path)
				     : err_set(ERR_GENERIC, "%s: %s", out, strerror(errno));
	free(out);
	r->files++;
	return rc;
}

static int rb_line(struct rebuild *r, const char *l, size_t n)
{
	bson_error_t e;
	bson_t *doc = bson_new_from_json((const uint8_t *)l, (ssize_t)n, &e);
	if (!doc)
		return err_set(ERR_VERIFY, "the snapshot of '%s': %s.json: a line that is no document: %s",
			       r->job->name, r->cur, e.message);
	int rc = 0;
	if (fs_write_all(r->fd, bson_get_data(doc), doc->len) < 0)
		rc = err_set(ERR_GENERIC, "%s: %s", r->dir, strerror(errno));
	bson_destroy(doc);
	return rc;
}

static int rb_data(struct rebuild *r, const char *p, size_t n)
{
	if (!r->docs)
		return fs_write_all(r->fd, p, n) < 0 ? err_set(ERR_GENERIC, "%s: %s", r->dir, strerror(errno))
						     : 0;
	int rc = 0;
	while (rc == 0 && n) {
		const char *nl = memchr(p, '\n', n);
		size_t take = nl ? (size_t)(nl - p) : n;
		if (r->line.len + take > MAX_LINE)
			return err_set(ERR_VERIFY, "the snapshot of '%s': %s.json has a line over %u MiB",
				       r->job->name, r->cur, MAX_LINE >> 20);
		if (nl && r->line.len == 0) {
			rc = rb_line(r, p, take);
		} else {
			buf_add(&r->line, p, take);
			if (nl) {
				rc = rb_line(r, r->line.data, r->line.len);
				buf_clear(&r->line);
			}
		}
		p += take + (nl != NULL);
		n -= take + (nl != NULL);
	}
	return rc;
}

static int rebuild_dump(const struct job_cfg *job, struct dump_source *src, const char *dir)
{
	struct rebuild r = {job, (char *)dir, -1, NULL, BUF_INIT, 0, 0};
	char *piece = malloc(1 << 16);
	const char *path;
	int rc;
	while ((rc = src->next(src, &path)) == 1) {
		int skip;
		if ((rc = rb_open(&r, path, &skip)) < 0)
			break;
		ssize_t n;
		while ((n = src->read(src, piece, 1 << 16)) > 0)
			if (!skip && (rc = rb_data(&r, piece, (size_t)n)) < 0)
				break;
		if (rc < 0)
			break;
		if (n < 0) {
			rc = ERR_VERIFY;
			break;
		}
		if ((rc = sig_check()) < 0)
			break;
	}
	int frc = rb_finish_file(&r);
	if (rc == 0)
		rc = frc;
	free(r.cur);
	buf_free(&r.line);
	free(piece);
	return rc;
}

static int mg_restore(const struct job_cfg *job, struct dump_source *src, const char *format,
		      const char *target)
{
	(void)format;
	int rc = need_tool(job, "mongorestore");
	if (rc == 0)
		rc = need_tool(job, "mongosh");
	struct mg m;
	if (rc < 0 || mg_open(&m, job) < 0)
		return ERR_GENERIC;
	char *db = server_scratch_name(job, target);
	char *top = xasprintf("%s/restore", m.ce.dir);
	char *dir = xasprintf("%s/%s", top, db);
	if (mkdir(top, 0700) < 0 || mkdir(dir, 0700) < 0)
		rc = err_set(ERR_GENERIC, "%s: %s", dir, strerror(errno));
	if (rc == 0)
		rc = rebuild_dump(job, src, dir);
	if (rc == 0) {
		struct argv a = {0};
		arg(&a, "mongorestore");
		arg(&a, "--quiet");
		conn_args(&m, &a);
		/* --drop: a scratch database left by an earlier run is
		 * replaced collection by collection, never merged into. */
		arg(&a, "--drop");
		arg(&a, "--stopOnError");
		arg(&a, "--nsInclude=%s.*", db);
		arg(&a, "--dir=%s", top);
		rc = run_tool(&m, &a);
		argv_free(&a);
	}
	fs_rmtree(top);
	free(top);
	free(dir);
	free(db);
	mg_close(&m);
	return rc;
}

static int mg_inspect(const struct job_cfg *job, const char *target, cJSON *info, struct buf *problems)
{
	struct mg m;
	int rc = need_tool(job, "mongodump");
	if (rc == 0)
		rc = mg_open(&m, job);
	if (rc == 0) {
		char *db = server_scratch_name(job, target);
		rc = walk_database(&m, db, 0, NULL, info);
		free(db);
		mg_close(&m);
	}
	if (rc < 0) {
		buf_printf(problems, "%s\n", err_last());
		err_clear();
		return ERR_VERIFY;
	}
	return 0;
}

static void mg_discard(const struct job_cfg *job, const char *target)
{
	if (!strchr(target, '/'))
		return; /* a user's database, never a scratch one */
	struct mg m;
	if (mg_open(&m, job) < 0) {
		err_clear();
		return;
	}
	char *db = server_scratch_name(job, target);
	if (run_mongosh(&m, "drop", db, NULL, 0, NULL) < 0) {
		log_warn("job '%s': scratch database %s not dropped: %s", job->name, db, err_last());
		err_clear();
	}
	free(db);
	mg_close(&m);
}

/* MongoDB's rules for a database name, and no '.', '$' or '/' that would
 * change what the tools' namespaces mean. */
static int valid_db_name(const char *name)
{
	if (!*name || strlen(name) > 63)
		return 0;
	for (const char *p = name; *p; p++)
		if (strchr("/\\. \"$*<>:|?", *p) || (unsigned char)*p < 0x20)
			return 0;
	return 1;
}

static int collections_in(struct mg *m, const char *db, long *count)
{
	struct buf out = BUF_INIT;
	int rc = run_mongosh(m, "count", db, NULL, 0, &out);
	char *end = NULL;
	*count = rc == 0 ? strtol(buf_cstr(&out), &end, 10) : 0;
	if (rc == 0 && (end == buf_cstr(&out) || *count < 0))
		rc =
		    err_set(ERR_GENERIC, "job '%s': mongosh gave no count for database %s", m->job->name, db);
	buf_free(&out);
	return rc;
}

static int mg_db_target_check(const struct job_cfg *job, const char *name, int force)
{
	if (!valid_db_name(name))
		return err_set(ERR_USAGE,
			       "'%s' is not a MongoDB database name (1 to 63 bytes, none of /\\. \"$*<>:|?)",
			       name);
	int rc = need_tool(job, "mongosh");
	struct mg m;
	if (rc < 0 || mg_open(&m, job) < 0)
		return ERR_GENERIC;
	long n = 0;
	rc = collections_in(&m, name, &n);
	if (rc == 0 && n > 0 && !force)
		rc = err_set(
		    ERR_USAGE,
		    "database %s already holds %ld collections; --force replaces them (once the restore is "
		    "verified)",
		    name, n);
	mg_close(&m);
	return rc;
}

static int mg_db_install(const struct job_cfg *job, const char *scratch, const char *name, int force)
{
	struct mg m;
	if (mg_open(&m, job) < 0)
		return ERR_GENERIC;
	char *from = server_scratch_name(job, scratch);
	long n = 0;
	int rc = collections_in(&m, name, &n);
	if (rc == 0 && n > 0 && !force)
		rc = err_set(ERR_USAGE, "database %s gained collections meanwhile; nothing replaced", name);
	if (rc == 0)
		rc = run_mongosh(&m, "install", from, name, force, NULL);
	free(from);
	mg_close(&m);
	return rc;
}

/* check: the tools are there, mongosh connects and reads. */
static int mg_probe(const struct job_cfg *job)
{
	int rc = need_tool(job, "mongodump");
	if (rc == 0)
		rc = need_tool(job, "mongorestore");
	if (rc == 0)
		rc = need_tool(job, "mongosh");
	struct mg m;
	if (rc < 0 || mg_open(&m, job) < 0)
		return ERR_GENERIC;
	struct buf out = BUF_INIT;
	rc = run_mongosh(&m, "ping", job->database, NULL, 0, &out);
	buf_free(&out);
	mg_close(&m);
	return rc;
}

static int mg_check(const struct job_cfg *job)
{
	if (!job->database)
		return err_set(ERR_USAGE,
			       "missing required key 'database' (the MongoDB database to back up)");
	if (job->path || job->command || job->socket)
		return err_set(ERR_USAGE,
			       "keys 'path', 'command' and 'socket' do not apply to engine \"mongodb\" "
			       "(use uri or host/port, database)");
	if (strcmp(job->format, "sql"))
		return err_set(ERR_USAGE, "engine \"mongodb\" writes its own format; leave 'format' out");
	if (job->uri && (job->host || job->port))
		return err_set(ERR_USAGE, "give either 'uri' or 'host'/'port', not both");
	if (job->uri) {
		/* mongodb://user:password@host: a password on every command line. */
		const char *s = strstr(job->uri, "://");
		const char *at = s ? strchr(s + 3, '@') : NULL;
		const char *slash = s ? strchr(s + 3, '/') : NULL;
		if (!s || strncmp(job->uri, "mongodb", 7))
			return err_set(ERR_USAGE, "uri must start with mongodb:// or mongodb+srv://");
		if (at && (!slash || at < slash) && memchr(s + 3, ':', (size_t)(at - (s + 3))))
			return err_set(ERR_USAGE,
				       "uri holds a password: put it in password_file instead (it would "
				       "be on the tools' command lines)");
	}
	if (job->password_file && !job->user)
		return err_set(ERR_USAGE, "password_file needs 'user' (who the password is for)");
	return 0;
}

const struct engine engine_mongodb = {
    .name = "mongodb",
    .check = mg_check,
    .dump = mg_dump,
    .restore = mg_restore,
    .inspect = mg_inspect,
    .compare = NULL,
    .early_format = NULL,
    .discard = mg_discard,
    .db_target_check = mg_db_target_check,
    .db_install = mg_db_install,
    .probe = mg_probe,
};
