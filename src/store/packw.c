/*
 * packw: dbgit's own pack writer, for the nightly pack (store_maintain).
 *
 * libgit2 1.5's packbuilder recomputes every delta and re-deflates every
 * object it writes, and it cannot reuse what an existing pack holds, so
 * packing a night's new chunks either rewrote the whole history (minutes
 * at 1 GB) or left each changed chunk whole in a pack of its own (the
 * repository grew by the size of every changed chunk a night). This
 * writer does what git's `repack` does with delta reuse, in the one case
 * dbgit needs, where the delta base is known without any search: a new
 * chunk is a new version of a chunk of the previous snapshot, the one of
 * the same file with the same first line (lineage.c: boundaries are
 * content-defined, so a chunk's number shifts when an earlier boundary
 * moves), or, when its first line changed, the old chunk after the last
 * one paired; other files and trees by their name.
 *
 * It writes ONE new pack made of
 *   1. every entry of the base pack (the largest pack), copied as it is:
 *      the compressed bytes verbatim, checked against the CRC-32 its index
 *      gives, only an OFS_DELTA's header rewritten where the distance to
 *      its base changed;
 *   2. except the previous versions of the chunks that changed: each is
 *      re-stored as a delta against its new version (right after it), so the
 *      newest snapshot's chunks are whole and older ones are deltas, as git
 *      itself arranges it (reading the latest snapshot, which restore does,
 *      costs no delta chain);
 *   3. the new objects (loose, or in other packs): per lineage the newest
 *      version whole, each older one of the same batch a delta against the
 *      next (OFS_DELTA); commits and objects no snapshot names whole.
 * A delta is kept only when it is under half the object's size and no
 * object's delta chain grows past PACKW_MAX_DEPTH (git's default depth).
 * So a night costs: deflating its changed chunks once, one delta each
 * against the chunk's previous version (no delta search, no window), and
 * one sequential copy of the pack (disk speed, no inflate, no deflate).
 * The repository grows by the changed chunks' deltas, not the chunks.
 *
 * The index (.idx v2) is written here too, from what the writer knows
 * (every id, offset and CRC): libgit2's indexer would inflate and hash
 * every object of the history again to learn it. Before the caller deletes
 * anything, packw_check reads every object the writer encoded (not only
 * copied) back through libgit2 from the new pack alone, which checks each
 * one's id against its content, and checks that every object it replaces
 * is in it.
 *
 * A reclaim (reclaim.c, pack_live) uses the same writer with a keep set:
 * entries no ref reaches are left out, and a kept delta whose base is
 * left out is stored whole (a kept yearly snapshot must not pin the
 * nights the rotation dropped).
 *
 * The base pack is read as untrusted input: its index must be a
 * well-formed v2 index that agrees with the pack's size and checksum,
 * every entry's header must parse and name a base inside the pack, chains
 * must end; any doubt returns PACKW_FALLBACK and the caller packs with
 * libgit2 instead (which checks everything it reads).
 *
 * Memory: the entries' table (about 80 bytes an object of the base pack),
 * a 1 MiB copy buffer, and per worker thread two objects of the night at
 * once (chunks are at most 1 MiB) plus PACKW_WINDOW lineages' compressed
 * output, whatever the size of the history.
 */
#include <errno.h>
#include <fcntl.h>
#include <git2.h>
#include <git2/sys/odb_backend.h>
#include <libdeflate.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "dbgit/util.h"
#include "delta.h"
#include "packw.h"
#include "store_internal.h"

#define PACKW_MAX_DEPTH 50
/* Objects larger than this are stored whole (no delta): chunks are at most
 * 1 MiB, so only objects dbgit did not cut are this big. */
#define PACKW_DELTA_MAX (16u * 1024 * 1024)
#define COPY_BUF (1024u * 1024)

enum { OBJ_COMMIT = 1, OBJ_TREE = 2, OBJ_BLOB = 3, OBJ_TAG = 4, OBJ_OFS_DELTA = 6, OBJ_REF_DELTA = 7 };

/* An entry of the base pack (the array is in the index's order: by id). */
struct ent {
	git_oid id;
	uint64_t off, end; /* its bytes in the old pack */
	uint64_t newoff;   /* where it went in the new pack */
	uint32_t crc;      /* from the old index */
	uint32_t newcrc;
	int64_t base;    /* entry index of its delta base, or -1 */
	int32_t depth;   /* delta chain length down to a whole object */
	int32_t maxdesc; /* deepest depth among itself and what deltas against it */
	int32_t lin;     /* lineage whose previous version it is, or -1 */
	uint8_t type;    /* as stored: 1-4, 6 or 7 */
	uint8_t drop;    /* not kept: left out */
	uint8_t whole;   /* kept, but its delta base is left out: stored whole */
	uint8_t rebase;  /* a prior to re-store after its lineage (not in the copy) */
	uint8_t rebased; /* re-stored as a delta against its new version */
	uint8_t written;
	uint8_t tslen;   /* bytes of the type/size header */
	uint8_t hdrlen;  /* and with the base reference */
};

/* A reusable deflater; out holds the last object deflated. libdeflate,
 * not zlib's deflate: every object here is whole in memory already, and
 * on the SQL text of a dump libdeflate's level 6 is about twice as fast as
 * zlib's and 10% smaller (127 MB of the benchmark's dump in 300 KB pieces:
 * 1.4 s and 34.3 MB against 2.7 s and 38.3 MB). Its output is a zlib
 * stream like any other: git, libgit2 and zlib's inflate read it. */
struct zdef {
	struct libdeflate_compressor *c;
	struct buf out;
};

/* A new object: loose, or in a pack that is merged (by id). */
struct add {
	git_oid id;
	uint64_t newoff;
	uint32_t crc;
	int32_t lin; /* lineage, or -1 */
	uint8_t written;
};

/* The new versions of one chunk (or file, or tree), oldest first, and the
 * version before them in the base pack (prior, or -1). */
struct lin {
	int64_t prior;
	/* an old chunk no new one starts like any more, right after the prior
	 * in the old tree: merged into this chunk when a boundary went away,
	 * so re-stored as a delta against it (or -1) */
	int64_t merged;
	size_t *v;
	size_t n, cap;
	git_oid last; /* newest: the next snapshot's parent entry must be it */
};

struct pw {
	git_repository *repo;
	git_odb *odb;
	const char *packdir;
	/* the base pack */
	int in_fd;
	uint64_t in_size;
	struct ent *e;
	size_t ne;
	uint32_t *byoff;
	/* new objects */
	struct add *a;
	size_t na;
	struct lin *l;
	size_t nl, capl;
	/* blob id -> hash of its first line (lineage.c) */
	struct lcache cache;
	size_t lines_read;
	/* output */
	int out_fd;
	char *tmp_pack, *tmp_idx;
	uint64_t out_off;
	EVP_MD_CTX *sha;
	unsigned char *obuf;
	size_t olen;
	unsigned char *cbuf;
	struct zdef zd;
	struct packw_result *res;
	size_t rebased_split;  /* priors re-stored against the next lineage's version */
	size_t rebased_merged; /* merged priors re-stored */
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static int doubt(const char *path, const char *what)
{
	err_set(ERR_GENERIC, "pack: %s: %s", path, what);
	return PACKW_FALLBACK;
}

static int full_pread(int fd, void *buf, size_t len, uint64_t off)
{
	unsigned char *p = buf;
	while (len > 0) {
		ssize_t got = pread(fd, p, len, (off_t)off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return -1;
		p += got;
		len -= (size_t)got;
		off += (uint64_t)got;
	}
	return 0;
}

/* Index of id in n records of size stride sorted by the git_oid at their
 * start, or -1. */
static int64_t oid_search(const void *base, size_t n, size_t stride, const git_oid *id)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = git_oid_cmp((const git_oid *)((const char *)base + mid * stride), id);
		if (c == 0)
			return (int64_t)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static int64_t find_id(const struct pw *w, const git_oid *id)
{
	return oid_search(w->e, w->ne, sizeof(*w->e), id);
}

static int64_t find_off(const struct pw *w, uint64_t off)
{
	size_t lo = 0, hi = w->ne;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (w->e[w->byoff[mid]].off < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < w->ne && w->e[w->byoff[lo]].off == off ? (int64_t)w->byoff[lo] : -1;
}

static int64_t find_add(const struct pw *w, const git_oid *id)
{
	return oid_search(w->a, w->na, sizeof(*w->a), id);
}

struct offpair {
	uint64_t off;
	uint32_t i;
};

static int cmp_offpair(const void *a, const void *b)
{
	const struct offpair *x = a, *y = b;
	return x->off < y->off ? -1 : x->off > y->off;
}

/* Parses entry i's header (type, size, base reference). */
static int parse_entry(struct pw *w, size_t i, const char *path)
{
	struct ent *x = &w->e[i];
	unsigned char b[64];
	uint64_t avail = x->end - x->off;
	size_t want = avail < sizeof(b) ? (size_t)avail : sizeof(b);
	if (full_pread(w->in_fd, b, want, x->off) < 0)
		return doubt(path, "cannot read an object header");
	size_t n = 0;
	unsigned c = b[n++];
	int shift = 4;
	x->type = (uint8_t)((c >> 4) & 7);
	while (c & 0x80) {
		if (n >= want || shift > 57)
			return doubt(path, "bad object header");
		c = b[n++];
		shift += 7;
	}
	x->tslen = (uint8_t)n;
	switch (x->type) {
	case OBJ_COMMIT:
	case OBJ_TREE:
	case OBJ_BLOB:
	case OBJ_TAG:
		break;
	case OBJ_OFS_DELTA: {
		if (n >= want)
			return doubt(path, "bad delta header");
		c = b[n++];
		uint64_t dist = c & 127;
		while (c & 128) {
			if (n >= want || dist > (1ull << 55))
				return doubt(path, "bad delta header");
			c = b[n++];
			dist = ((dist + 1) << 7) | (c & 127);
		}
		if (dist == 0 || dist > x->off)
			return doubt(path, "delta base outside the pack");
		x->base = find_off(w, x->off - dist);
		if (x->base < 0)
			return doubt(path, "delta base is not an object");
		break;
	}
	case OBJ_REF_DELTA: {
		if (n + 20 > want)
			return doubt(path, "bad delta header");
		git_oid bid;
		git_oid_fromraw(&bid, b + n);
		n += 20;
		x->base = find_id(w, &bid);
		if (x->base < 0)
			return doubt(path, "delta base not in the pack (a thin pack)");
		break;
	}
	default:
		return doubt(path, "unknown object type");
	}
	if ((int64_t)i == x->base || n >= avail)
		return doubt(path, "bad object entry");
	x->hdrlen = (uint8_t)n;
	return 0;
}

/* Every entry's delta depth and the deepest depth below it. */
static int chain_depths(struct pw *w, const char *path)
{
	uint32_t *stack = malloc((w->ne + 1) * sizeof(*stack));
	if (!stack)
		return err_set(ERR_GENERIC, "out of memory");
	for (size_t i = 0; i < w->ne; i++)
		w->e[i].depth = -1;
	for (size_t i = 0; i < w->ne; i++) {
		size_t top = 0, j = i;
		while (w->e[j].depth < 0) {
			if (w->e[j].base < 0) {
				w->e[j].depth = 0;
				break;
			}
			if (top >= w->ne) {
				free(stack);
				return doubt(path, "a delta chain that never ends");
			}
			stack[top++] = (uint32_t)j;
			j = (size_t)w->e[j].base;
		}
		int32_t d = w->e[j].depth;
		while (top > 0) {
			j = stack[--top];
			w->e[j].depth = ++d;
		}
		if (d > 10000) {
			free(stack);
			return doubt(path, "delta chains too deep");
		}
	}
	free(stack);
	for (size_t i = 0; i < w->ne; i++)
		w->e[i].maxdesc = w->e[i].depth;
	for (size_t i = 0; i < w->ne; i++)
		for (int64_t j = w->e[i].base; j >= 0; j = w->e[j].base) {
			/* a deeper descendant already went up this chain */
			if (w->e[j].maxdesc >= w->e[i].depth)
				break;
			w->e[j].maxdesc = w->e[i].depth;
		}
	return 0;
}

/* Reads and checks the base pack's .idx v2 and every entry's header. */
static int load_base(struct pw *w, const char *base)
{
	char *idx_path = xasprintf("%s/%s.idx", w->packdir, base);
	char *pack_path = xasprintf("%s/%s.pack", w->packdir, base);
	unsigned char *idx = NULL;
	struct offpair *op = NULL;
	int rc = 0;
	struct stat sb;
	int fd = open(idx_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) < 0 || sb.st_size < 8 + 1024 + 40 || sb.st_size > (1ll << 34)) {
		rc = doubt(idx_path, "cannot read the index");
		goto out;
	}
	size_t isz = (size_t)sb.st_size;
	idx = malloc(isz);
	if (!idx || full_pread(fd, idx, isz, 0) < 0) {
		rc = doubt(idx_path, "cannot read the index");
		goto out;
	}
	if (memcmp(idx, "\377tOc\0\0\0\2", 8) != 0) {
		rc = doubt(idx_path, "not a version 2 pack index");
		goto out;
	}
	/* the index's own checksum: a damaged index (an id mapped to another
	 * object's offset and CRC) would otherwise be copied as it is */
	unsigned char isum[EVP_MAX_MD_SIZE];
	unsigned int ilen = 0;
	EVP_MD_CTX *ictx = EVP_MD_CTX_new();
	int iok = ictx && EVP_DigestInit_ex(ictx, EVP_sha1(), NULL) == 1 &&
		  EVP_DigestUpdate(ictx, idx, isz - 20) == 1 && EVP_DigestFinal_ex(ictx, isum, &ilen) == 1 &&
		  ilen == 20 && memcmp(isum, idx + isz - 20, 20) == 0;
	EVP_MD_CTX_free(ictx);
	if (!iok) {
		rc = doubt(idx_path, "the index's checksum does not match");
		goto out;
	}
	const unsigned char *fan = idx + 8;
	uint32_t n = be32(fan + 255 * 4), prev = 0;
	for (int i = 0; i < 256; i++) {
		uint32_t f = be32(fan + 4 * i);
		if (f < prev) {
			rc = doubt(idx_path, "fan-out table out of order");
			goto out;
		}
		prev = f;
	}
	uint64_t fixed = 8 + 1024 + (uint64_t)n * 28 + 40;
	if (isz < fixed || (isz - fixed) % 8 != 0) {
		rc = doubt(idx_path, "index size does not match its object count");
		goto out;
	}
	size_t nlarge = (size_t)((isz - fixed) / 8);
	const unsigned char *ids = fan + 1024, *crcs = ids + (size_t)n * 20, *offs = crcs + (size_t)n * 4,
			    *large = offs + (size_t)n * 4, *trail = large + nlarge * 8;

	w->in_fd = open(pack_path, O_RDONLY | O_CLOEXEC);
	struct stat ps;
	unsigned char head[12], sum[20];
	if (w->in_fd < 0 || fstat(w->in_fd, &ps) < 0 || ps.st_size < 32 || full_pread(w->in_fd, head, 12, 0) < 0 ||
	    full_pread(w->in_fd, sum, 20, (uint64_t)ps.st_size - 20) < 0) {
		rc = doubt(pack_path, "cannot read the pack");
		goto out;
	}
	w->in_size = (uint64_t)ps.st_size;
	if (memcmp(head, "PACK\0\0\0\2", 8) != 0 || be32(head + 8) != n || memcmp(sum, trail, 20) != 0) {
		rc = doubt(pack_path, "the pack and its index do not agree");
		goto out;
	}
	w->e = calloc(n ? n : 1, sizeof(*w->e));
	w->byoff = calloc(n ? n : 1, sizeof(*w->byoff));
	op = calloc(n ? n : 1, sizeof(*op));
	if (!w->e || !w->byoff || !op) {
		rc = err_set(ERR_GENERIC, "out of memory");
		goto out;
	}
	w->ne = n;
	for (uint32_t i = 0; i < n; i++) {
		struct ent *x = &w->e[i];
		const unsigned char *id = ids + (size_t)i * 20;
		if (i > 0 && memcmp(id - 20, id, 20) >= 0) {
			rc = doubt(idx_path, "object ids out of order");
			goto out;
		}
		if ((id[0] > 0 && i < be32(fan + 4 * (id[0] - 1))) || i >= be32(fan + 4 * id[0])) {
			rc = doubt(idx_path, "the fan-out table does not match the ids");
			goto out;
		}
		git_oid_fromraw(&x->id, id);
		x->crc = be32(crcs + (size_t)i * 4);
		uint32_t o = be32(offs + (size_t)i * 4);
		if (o & 0x80000000u) {
			size_t li = o & 0x7fffffffu;
			if (li >= nlarge) {
				rc = doubt(idx_path, "large offset out of range");
				goto out;
			}
			x->off = (uint64_t)be32(large + li * 8) << 32 | be32(large + li * 8 + 4);
		} else {
			x->off = o;
		}
		if (x->off < 12 || x->off >= w->in_size - 20) {
			rc = doubt(idx_path, "an offset outside the pack");
			goto out;
		}
		x->base = -1;
		x->lin = -1;
		op[i].off = x->off;
		op[i].i = i;
	}
	qsort(op, n, sizeof(*op), cmp_offpair);
	for (uint32_t k = 0; k < n; k++) {
		w->byoff[k] = op[k].i;
		uint64_t end = k + 1 < n ? op[k + 1].off : w->in_size - 20;
		if (end <= op[k].off) {
			rc = doubt(idx_path, "two objects at one offset");
			goto out;
		}
		w->e[op[k].i].end = end;
	}
	for (uint32_t i = 0; i < n && rc == 0; i++)
		rc = parse_entry(w, i, pack_path);
	if (rc == 0)
		rc = chain_depths(w, pack_path);
out:
	if (fd >= 0)
		close(fd);
	free(op);
	free(idx);
	free(idx_path);
	free(pack_path);
	return rc;
}

/* ---- lineages: which new object is a new version of what ---- */

static int lin_push(struct lin *l, size_t ai)
{
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 2;
		size_t *nv = realloc(l->v, ncap * sizeof(*nv));
		if (!nv)
			return err_set(ERR_GENERIC, "out of memory");
		l->v = nv;
		l->cap = ncap;
	}
	l->v[l->n++] = ai;
	return 0;
}

/* New object ai, whose parent snapshot had prev_id at its place (NULL if
 * nothing of its kind): when prev_id is the newest version of a lineage
 * of this batch, ai continues it; else ai starts one whose prior is
 * prev_id if the base pack holds it and no other lineage claimed it. */
static int lin_add(struct pw *w, size_t ai, const git_oid *prev_id)
{
	int64_t li = -1;
	if (prev_id) {
		int64_t pa = find_add(w, prev_id);
		if (pa >= 0 && w->a[pa].lin >= 0 && git_oid_equal(&w->l[w->a[pa].lin].last, prev_id))
			li = w->a[pa].lin;
	}
	if (li < 0) {
		if (w->nl == w->capl) {
			size_t ncap = w->capl ? w->capl * 2 : 256;
			struct lin *nl = realloc(w->l, ncap * sizeof(*nl));
			if (!nl)
				return err_set(ERR_GENERIC, "out of memory");
			w->l = nl;
			w->capl = ncap;
		}
		li = (int64_t)w->nl++;
		memset(&w->l[li], 0, sizeof(w->l[li]));
		w->l[li].prior = -1;
		w->l[li].merged = -1;
		if (prev_id) {
			int64_t p = find_id(w, prev_id);
			if (p >= 0 && w->e[p].lin < 0 && !w->e[p].drop) {
				w->l[li].prior = p;
				w->e[p].lin = (int32_t)li;
			}
		}
	}
	if (lin_push(&w->l[li], ai) < 0)
		return -1;
	w->l[li].last = w->a[ai].id;
	w->a[ai].lin = (int32_t)li;
	return 0;
}

/* The hash of blob id's first line: from the cache, or read. */
static int line_hash(struct pw *w, const git_oid *id, uint64_t *h)
{
	if (lcache_get(&w->cache, id, h))
		return 0;
	git_odb_object *o = NULL;
	if (git_odb_read(&o, w->odb, id) < 0) {
		char hex[GIT_OID_HEXSZ + 1];
		git_oid_tostr(hex, sizeof(hex), id);
		return store_git_error(hex);
	}
	*h = lineage_line_hash(git_odb_object_data(o), git_odb_object_size(o));
	git_odb_object_free(o);
	w->lines_read++;
	if (lcache_put(&w->cache, id, *h) < 0)
		err_clear(); /* only a smaller cache */
	return 0;
}

/* The chunks of a directory of the parent snapshot, by logical name and
 * first line. */
struct pchunk {
	uint64_t name, line;
	const git_tree_entry *e;
	size_t idx; /* in the parent tree */
};

static int cmp_pchunk(const void *a, const void *b)
{
	const struct pchunk *x = a, *y = b;
	if (x->name != y->name)
		return x->name < y->name ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

static uint64_t name_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return h;
}

static int parent_chunks(struct pw *w, const git_tree *pt, struct pchunk **out, size_t *n)
{
	size_t cnt = git_tree_entrycount(pt);
	struct pchunk *v = calloc(cnt ? cnt : 1, sizeof(*v));
	if (!v)
		return err_set(ERR_GENERIC, "out of memory");
	*n = 0;
	for (size_t k = 0; k < cnt; k++) {
		const git_tree_entry *e = git_tree_entry_byindex(pt, k);
		const char *name = git_tree_entry_name(e);
		if (git_tree_entry_type(e) != GIT_OBJECT_BLOB)
			continue;
		char *logical = chunk_logical_name(name);
		int chunk = strcmp(logical, name) != 0;
		uint64_t nh = name_hash(logical), lh = 0;
		free(logical);
		if (!chunk)
			continue;
		if (line_hash(w, git_tree_entry_id(e), &lh) < 0) {
			free(v);
			return -1;
		}
		v[*n].name = nh;
		v[*n].line = lh;
		v[*n].e = e;
		v[*n].idx = k;
		(*n)++;
	}
	qsort(v, *n, sizeof(*v), cmp_pchunk);
	*out = v;
	return 0;
}

/* The old tree's chunks from index at on were skipped: no new chunk
 * starts with their first lines any more. When the new chunk just before
 * (lineage li) is paired with the old chunk right before them, a boundary
 * went away and the first skipped one was merged into it (the same file):
 * it is li's merged prior, re-stored as a delta against it. */
static void note_merged(struct pw *w, const git_tree *pt, size_t at, const char *logical, int64_t li)
{
	struct lin *l = &w->l[li];
	if (at == 0 || at >= git_tree_entrycount(pt) || l->prior < 0 || l->merged >= 0)
		return;
	const git_tree_entry *before = git_tree_entry_byindex(pt, at - 1), *e = git_tree_entry_byindex(pt, at);
	if (git_tree_entry_type(e) != GIT_OBJECT_BLOB || find_id(w, git_tree_entry_id(before)) != l->prior)
		return;
	char *name = chunk_logical_name(git_tree_entry_name(e));
	int same = strcmp(name, logical) == 0;
	free(name);
	int64_t p = same ? find_id(w, git_tree_entry_id(e)) : -1;
	if (p < 0 || w->e[p].lin >= 0 || w->e[p].drop || w->e[p].whole)
		return;
	l->merged = p;
	w->e[p].lin = (int32_t)li;
}

static int walk_tree(struct pw *w, const git_tree *t, const git_tree *pt)
{
	size_t n = git_tree_entrycount(t), npc = 0, after = SIZE_MAX;
	struct pchunk *pc = NULL;
	int64_t last_li = -1; /* the lineage of the chunk just before, if new */
	int pc_built = 0, rc = 0;
	for (size_t k = 0; k < n && rc == 0; k++) {
		const git_tree_entry *te = git_tree_entry_byindex(t, k);
		git_object_t type = git_tree_entry_type(te);
		int64_t li_before = last_li;
		last_li = -1;
		if (type != GIT_OBJECT_BLOB && type != GIT_OBJECT_TREE)
			continue;
		int64_t ai = find_add(w, git_tree_entry_id(te));
		if (ai < 0)
			continue; /* in the base pack, and everything below it too */
		const char *name = git_tree_entry_name(te);
		const git_tree_entry *pe = pt ? git_tree_entry_byname(pt, name) : NULL;
		if (pe && git_tree_entry_type(pe) != type)
			pe = NULL;
		char *logical = type == GIT_OBJECT_BLOB ? chunk_logical_name(name) : NULL;
		if (logical && strcmp(logical, name) != 0 && w->a[ai].lin < 0) {
			/* a chunk: its lineage is its logical file and first line,
			 * its previous version the parent's chunk of that lineage */
			uint64_t lh = 0;
			if ((rc = line_hash(w, git_tree_entry_id(te), &lh)) < 0) {
				free(logical);
				break;
			}
			if (pt && !pc_built) {
				if ((rc = parent_chunks(w, pt, &pc, &npc)) < 0) {
					free(logical);
					break;
				}
				pc_built = 1;
			}
			struct pchunk want = {name_hash(logical), lh, NULL, 0};
			struct pchunk *hit = npc ? bsearch(&want, pc, npc, sizeof(*pc), cmp_pchunk) : NULL;
			const git_tree_entry *next = pt && after < git_tree_entrycount(pt) ? git_tree_entry_byindex(pt, after) : NULL;
			if (hit) {
				pe = hit->e;
				if (li_before >= 0 && after != SIZE_MAX && hit->idx > after)
					note_merged(w, pt, after, logical, li_before);
				after = hit->idx + 1;
			} else if (next && git_tree_entry_type(next) == GIT_OBJECT_BLOB) {
				/* its first line changed (that row was updated or
				 * deleted, or a boundary moved): the old chunk after the
				 * last one paired, if it is of the same file */
				char *nl = chunk_logical_name(git_tree_entry_name(next));
				if (strcmp(nl, logical) == 0) {
					pe = next;
					after++;
				}
				free(nl);
			}
		}
		int is_chunk = logical && strcmp(logical, name) != 0;
		free(logical);
		if (w->a[ai].lin < 0 && (rc = lin_add(w, (size_t)ai, pe ? git_tree_entry_id(pe) : NULL)) < 0)
			break;
		if (is_chunk)
			last_li = w->a[ai].lin;
		if (type == GIT_OBJECT_TREE) {
			git_tree *sub = NULL, *psub = NULL;
			if (git_tree_lookup(&sub, w->repo, git_tree_entry_id(te)) < 0) {
				rc = store_git_error("pack: reading a tree");
				break;
			}
			if (pe && git_tree_lookup(&psub, w->repo, git_tree_entry_id(pe)) < 0) {
				git_error_clear();
				psub = NULL;
			}
			rc = walk_tree(w, sub, psub);
			git_tree_free(sub);
			git_tree_free(psub);
		}
	}
	free(pc);
	return rc;
}

/* History oldest first; only the new commits' trees are read. */
static int find_lineages(struct pw *w)
{
	git_revwalk *walk = NULL;
	git_oid cid;
	int rc = 0;
	if (git_revwalk_new(&walk, w->repo) < 0 || git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE) < 0 ||
	    git_revwalk_push_glob(walk, "refs/*") < 0) {
		git_revwalk_free(walk);
		return store_git_error("pack: walking history");
	}
	while (rc == 0 && git_revwalk_next(&cid, walk) == 0) {
		int64_t ai = find_add(w, &cid);
		if (ai < 0)
			continue;
		git_commit *c = NULL, *parent = NULL;
		git_tree *t = NULL, *pt = NULL;
		if (git_commit_lookup(&c, w->repo, &cid) < 0 || git_commit_tree(&t, c) < 0) {
			rc = store_git_error("pack: reading a snapshot");
		} else {
			if (git_commit_parentcount(c) > 0 &&
			    (git_commit_parent(&parent, c, 0) < 0 || git_commit_tree(&pt, parent) < 0)) {
				git_error_clear();
				pt = NULL;
			}
			int64_t ti = find_add(w, git_tree_id(t));
			const git_oid *pti = pt ? git_tree_id(pt) : NULL;
			if (ti >= 0 && w->a[ti].lin < 0)
				rc = lin_add(w, (size_t)ti, pti);
			if (rc == 0 && ti >= 0)
				rc = walk_tree(w, t, pt);
		}
		git_tree_free(pt);
		git_tree_free(t);
		git_commit_free(parent);
		git_commit_free(c);
		if (rc == 0 && sig_pending())
			rc = sig_check();
	}
	git_revwalk_free(walk);
	git_error_clear();
	return rc;
}

/* ---- output ---- */

static int out_flush(struct pw *w)
{
	if (w->olen && fs_write_all(w->out_fd, w->obuf, w->olen) < 0)
		return err_set(ERR_GENERIC, "pack: writing %s: %s", w->tmp_pack, strerror(errno));
	w->olen = 0;
	return 0;
}

static int out_write(struct pw *w, const void *data, size_t len)
{
	if (EVP_DigestUpdate(w->sha, data, len) != 1)
		return err_set(ERR_GENERIC, "pack: SHA-1 failed");
	w->out_off += len;
	if (w->olen + len > COPY_BUF && out_flush(w) < 0)
		return -1;
	if (len >= COPY_BUF)
		return fs_write_all(w->out_fd, data, len) < 0
			       ? err_set(ERR_GENERIC, "pack: writing %s: %s", w->tmp_pack, strerror(errno))
			       : 0;
	memcpy(w->obuf + w->olen, data, len);
	w->olen += len;
	return 0;
}

static size_t enc_typesize(unsigned char *h, int type, uint64_t size)
{
	size_t n = 0;
	unsigned c = (unsigned)(type << 4) | (unsigned)(size & 15);
	size >>= 4;
	while (size) {
		h[n++] = (unsigned char)(c | 0x80);
		c = size & 0x7f;
		size >>= 7;
	}
	h[n++] = (unsigned char)c;
	return n;
}

static size_t enc_ofs(unsigned char *h, uint64_t dist)
{
	unsigned char tmp[16];
	size_t pos = sizeof(tmp) - 1;
	tmp[pos] = dist & 127;
	while (dist >>= 7)
		tmp[--pos] = (unsigned char)(128 | (--dist & 127));
	memcpy(h, tmp + pos, sizeof(tmp) - pos);
	return sizeof(tmp) - pos;
}

static int zdef_run(struct zdef *zd, const void *data, size_t len)
{
	if (!zd->c && !(zd->c = libdeflate_alloc_compressor(6)))
		return err_set(ERR_GENERIC, "pack: out of memory (deflate)");
	if (len > UINT32_MAX)
		return err_set(ERR_GENERIC, "pack: an object of %zu bytes is too large", len);
	size_t bound = libdeflate_zlib_compress_bound(zd->c, len);
	zd->out.len = 0;
	if (buf_grow(&zd->out, bound) < 0)
		return -1;
	size_t n = libdeflate_zlib_compress(zd->c, data, len, zd->out.data, bound);
	if (n == 0)
		return err_set(ERR_GENERIC, "pack: deflate failed");
	zd->out.len = n;
	return 0;
}

static void zdef_free(struct zdef *zd)
{
	if (zd->c)
		libdeflate_free_compressor(zd->c);
	zd->c = NULL;
	buf_free(&zd->out);
}

/* Writes one entry: header bytes hdr, then data deflated. */
static int put_entry(struct pw *w, const unsigned char *hdr, size_t hlen, const void *data, size_t len,
		     uint64_t *off, uint32_t *crc)
{
	if (zdef_run(&w->zd, data, len) < 0)
		return -1;
	*off = w->out_off;
	uLong c = crc32(0L, Z_NULL, 0);
	c = crc32(c, hdr, (uInt)hlen);
	c = crc32(c, (const Bytef *)w->zd.out.data, (uInt)w->zd.out.len);
	*crc = (uint32_t)c;
	if (out_write(w, hdr, hlen) < 0 || out_write(w, w->zd.out.data, w->zd.out.len) < 0)
		return -1;
	w->res->bytes_new += hlen + w->zd.out.len;
	return 0;
}

/* Writes one entry whose payload a worker deflated already. */
static int put_encoded(struct pw *w, const unsigned char *hdr, size_t hlen, const struct buf *z, uint64_t *off,
		       uint32_t *crc)
{
	*off = w->out_off;
	uLong c = crc32(0L, Z_NULL, 0);
	c = crc32(c, hdr, (uInt)hlen);
	c = crc32(c, (const Bytef *)z->data, (uInt)z->len);
	*crc = (uint32_t)c;
	if (out_write(w, hdr, hlen) < 0 || out_write(w, z->data, z->len) < 0)
		return -1;
	w->res->bytes_new += hlen + z->len;
	return 0;
}

static int put_whole(struct pw *w, git_odb_object *o, uint64_t *off, uint32_t *crc)
{
	unsigned char h[16];
	size_t hl = enc_typesize(h, (int)git_odb_object_type(o), git_odb_object_size(o));
	w->res->whole++;
	return put_entry(w, h, hl, git_odb_object_data(o), git_odb_object_size(o), off, crc);
}

static int read_obj(struct pw *w, const git_oid *id, git_odb_object **o)
{
	if (git_odb_read(o, w->odb, id) < 0) {
		char hex[GIT_OID_HEXSZ + 1];
		git_oid_tostr(hex, sizeof(hex), id);
		return store_git_error(hex);
	}
	return 0;
}

/* A base pack entry, copied as it is: the compressed bytes verbatim
 * (checked against the old index's CRC-32), the header rewritten only for
 * an OFS_DELTA: the new distance to its base, or a REF_DELTA naming the
 * base when the base comes later in the new pack (a re-stored prior). */
static int copy_entry(struct pw *w, size_t i)
{
	struct ent *x = &w->e[i];
	unsigned char h[32 + GIT_OID_RAWSZ];
	size_t hl = x->hdrlen;
	int rewrite = 0;
	x->newoff = w->out_off;
	w->res->copied++;
	if (x->type == OBJ_OFS_DELTA) {
		const struct ent *b = &w->e[x->base];
		if (full_pread(w->in_fd, h, x->tslen, x->off) < 0)
			return err_set(ERR_GENERIC, "pack: reading the old pack: %s", strerror(errno));
		if (b->written) {
			hl = x->tslen + enc_ofs(h + x->tslen, x->newoff - b->newoff);
		} else {
			h[0] = (unsigned char)((h[0] & 0x8f) | (OBJ_REF_DELTA << 4));
			memcpy(h + x->tslen, b->id.id, GIT_OID_RAWSZ);
			hl = x->tslen + GIT_OID_RAWSZ;
		}
		rewrite = 1;
	}
	uLong oldcrc = crc32(0L, Z_NULL, 0), newcrc = crc32(0L, Z_NULL, 0);
	uint64_t pos = x->off, skip = rewrite ? x->hdrlen : 0;
	if (rewrite) {
		if (out_write(w, h, hl) < 0)
			return -1;
		newcrc = crc32(newcrc, h, (uInt)hl);
	}
	while (pos < x->end) {
		size_t len = x->end - pos < COPY_BUF ? (size_t)(x->end - pos) : COPY_BUF;
		if (full_pread(w->in_fd, w->cbuf, len, pos) < 0)
			return err_set(ERR_GENERIC, "pack: reading the old pack: %s", strerror(errno));
		oldcrc = crc32(oldcrc, w->cbuf, (uInt)len);
		size_t from = 0;
		if (skip) {
			from = skip < len ? (size_t)skip : len;
			skip -= from;
		}
		newcrc = crc32(newcrc, w->cbuf + from, (uInt)(len - from));
		if (out_write(w, w->cbuf + from, len - from) < 0)
			return -1;
		pos += len;
	}
	if ((uint32_t)oldcrc != x->crc) {
		char hex[GIT_OID_HEXSZ + 1];
		git_oid_tostr(hex, sizeof(hex), &x->id);
		return err_set(ERR_GENERIC, "pack: object %s is damaged in the old pack (CRC-32); nothing changed",
			       hex);
	}
	x->newcrc = (uint32_t)newcrc;
	x->written = 1;
	return 0;
}

/* ---- the lineages, encoded on every core, written in order ----
 *
 * Deflating the night's chunks is most of a nightly pack's CPU, and every
 * lineage is independent: PACKW_WORKERS threads encode lineages (read,
 * delta, deflate, each with its own object database handle and zlib
 * stream) at most PACKW_WINDOW ahead of the one being written, and this
 * thread writes them in order, so the pack is the same whatever the
 * timing and memory stays at PACKW_WINDOW lineages' compressed output.
 * Workers block every signal: the handlers run here, and a worker stops
 * at its next object when one is pending. */
#define PACKW_WORKERS 2
#define PACKW_WINDOW 16

enum enc_kind { ENC_WHOLE, ENC_DELTA, ENC_COPY };

struct enc {
	enum enc_kind kind;
	int type;      /* ENC_WHOLE: the object's type */
	uint64_t size; /* of the object (whole) or of the delta */
	struct buf z;  /* deflated */
};

struct slot {
	struct enc *it; /* the lineage's versions newest first */
	size_t n;
	/* its prior re-stored (a delta against its oldest version, or
	 * ENC_COPY), and its merged prior (below) */
	struct enc prior, merged;
	int has_prior, has_merged;
	/* the previous lineage's prior as a delta against this lineage's
	 * (only) version: written instead of that prior's own encoding when
	 * it is smaller (a chunk that split: see encode_split) */
	struct enc split;
	int has_split;
	int done, rc;
	char err[512];
};

struct pool {
	struct pw *w;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t next, written;
	int stop;
	struct slot slot[PACKW_WINDOW];
};

struct worker {
	struct pool *pool;
	git_odb *odb;
	struct zdef zd;
	struct buf dbuf;
};

/* Encodes into e: deflates data, or nothing for ENC_COPY. */
static int enc_put(struct worker *k, struct enc *e, enum enc_kind kind, int type, const void *data, size_t len)
{
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	e->type = type;
	e->size = len;
	if (kind == ENC_COPY)
		return 0;
	if (zdef_run(&k->zd, data, len) < 0)
		return -1;
	/* hand the buffer over: the slot owns it, the deflater starts a new one */
	e->z = k->zd.out;
	memset(&k->zd.out, 0, sizeof(k->zd.out));
	return 0;
}

static int enc_add(struct worker *k, struct slot *s, enum enc_kind kind, int type, const void *data, size_t len)
{
	return enc_put(k, &s->it[s->n++], kind, type, data, len);
}

static int worker_read(struct worker *k, const git_oid *id, git_odb_object **o)
{
	if (git_odb_read(o, k->odb, id) < 0) {
		char hex[GIT_OID_HEXSZ + 1];
		git_oid_tostr(hex, sizeof(hex), id);
		return store_git_error(hex);
	}
	return 0;
}

static int worker_delta(struct worker *k, git_odb_object *src, git_odb_object *dst)
{
	size_t sl = git_odb_object_size(src), dl = git_odb_object_size(dst);
	if (git_odb_object_type(src) != git_odb_object_type(dst) || sl > PACKW_DELTA_MAX || dl > PACKW_DELTA_MAX ||
	    dl < 64)
		return 1;
	return delta_create(git_odb_object_data(src), sl, git_odb_object_data(dst), dl, dl / 2, &k->dbuf);
}

/* An old version re-stored as a delta against base (a whole new version),
 * or ENC_COPY (the old entry copied as it is) when that does not pay. */
static int encode_old(struct worker *k, const git_oid *id, git_odb_object *base, struct enc *e)
{
	git_odb_object *o = NULL;
	int rc = worker_read(k, id, &o);
	if (rc == 0)
		rc = worker_delta(k, base, o);
	if (rc == 0)
		rc = enc_put(k, e, ENC_DELTA, 0, k->dbuf.data, k->dbuf.len);
	else if (rc == 1)
		rc = enc_put(k, e, ENC_COPY, 0, NULL, 0);
	git_odb_object_free(o);
	return rc;
}

/* Content-defined boundaries move with the data, so a chunk may split or
 * two may merge. When a new boundary splits a chunk, its first part keeps
 * the first line, so its lineage pairs it with the old chunk, but the old
 * chunk's second part now opens the next lineage's version: a delta
 * against the first part alone holds the second as literal bytes (or is
 * refused, and the old chunk stays whole for ever). So when a prior is
 * half as large again as its lineage's new version, the next lineage's
 * worker also tries it against its own version (whole, written before the
 * prior is), and write_prior keeps the smaller. (Merges: find_lineages'
 * merged prior.) */
static int encode_split(struct worker *k, const struct lin *pl, git_odb_object *base, struct slot *s)
{
	struct pw *w = k->pool->w;
	if (pl->prior < 0 || !w->e[pl->prior].rebase || pl->n == 0)
		return 0;
	size_t plen = 0, nlen = 0;
	git_object_t t1, t2;
	const git_oid *prior = &w->e[pl->prior].id, *mine = &w->a[pl->v[pl->n - 1]].id;
	if (git_odb_read_header(&plen, &t1, k->odb, prior) < 0 || git_odb_read_header(&nlen, &t2, k->odb, mine) < 0) {
		git_error_clear();
		return 0; /* the prior's own encoding stands (and fails there if it must) */
	}
	if (plen < nlen + nlen / 2)
		return 0;
	int rc = encode_old(k, prior, base, &s->split);
	if (rc == 0 && s->split.kind == ENC_DELTA)
		s->has_split = 1;
	return rc;
}

/* Lineage l into slot s: newest version whole, each older one a delta
 * against the next; then the prior (if it is re-stored) a delta against
 * the oldest new version, the merged prior against the newest (l->n is 1
 * then), the previous lineage's split prior against the newest. */
static int encode_lineage(struct worker *k, const struct lin *l, struct slot *s)
{
	struct pw *w = k->pool->w;
	git_odb_object *newer = NULL;
	int rc = 0;
	s->it = calloc(l->n + 1, sizeof(*s->it));
	if (!s->it)
		return err_set(ERR_GENERIC, "out of memory");
	for (size_t j = l->n; j-- > 0 && rc == 0;) {
		git_odb_object *o = NULL;
		if (sig_pending()) {
			rc = err_set(ERR_GENERIC, "pack: stopped by a signal");
			break;
		}
		if ((rc = worker_read(k, &w->a[l->v[j]].id, &o)) < 0)
			break;
		size_t depth = l->n - 1 - j;
		rc = newer && depth % (PACKW_MAX_DEPTH + 1) != 0 ? worker_delta(k, newer, o) : 1;
		if (rc == 0)
			rc = enc_add(k, s, ENC_DELTA, 0, k->dbuf.data, k->dbuf.len);
		else if (rc == 1)
			rc = enc_add(k, s, ENC_WHOLE, (int)git_odb_object_type(o), git_odb_object_data(o),
				     git_odb_object_size(o));
		git_odb_object_free(newer);
		newer = o;
	}
	if (rc == 0 && l->prior >= 0 && w->e[l->prior].rebase) {
		rc = encode_old(k, &w->e[l->prior].id, newer, &s->prior);
		s->has_prior = rc == 0;
	}
	if (rc == 0 && l->merged >= 0 && w->e[l->merged].rebase) {
		rc = encode_old(k, &w->e[l->merged].id, newer, &s->merged);
		s->has_merged = rc == 0;
	}
	if (rc == 0 && newer && l->n == 1 && l > w->l)
		rc = encode_split(k, l - 1, newer, s);
	git_odb_object_free(newer);
	return rc;
}

static void slot_clear(struct slot *s)
{
	for (size_t i = 0; i < s->n; i++)
		buf_free(&s->it[i].z);
	free(s->it);
	buf_free(&s->prior.z);
	buf_free(&s->merged.z);
	buf_free(&s->split.z);
	memset(s, 0, sizeof(*s));
}

static void *worker_main(void *arg)
{
	struct worker *k = arg;
	struct pool *p = k->pool;
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	for (;;) {
		pthread_mutex_lock(&p->mu);
		while (!p->stop && p->next < p->w->nl && p->next >= p->written + PACKW_WINDOW)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->stop || p->next >= p->w->nl) {
			pthread_mutex_unlock(&p->mu);
			break;
		}
		size_t i = p->next++;
		struct slot *s = &p->slot[i % PACKW_WINDOW];
		pthread_mutex_unlock(&p->mu);

		int rc = encode_lineage(k, &p->w->l[i], s);
		if (rc < 0)
			snprintf(s->err, sizeof(s->err), "%s", err_last());

		pthread_mutex_lock(&p->mu);
		s->rc = rc < 0 ? -1 : 0;
		s->done = 1;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
	}
	return NULL;
}

/* Test hook (test builds only): DBGIT_TEST_CORRUPT_PACK=1 damages the
 * first whole object the nightly pack writes (as a fault in the encoder
 * or in memory would), so a test can show that the read-back check stops
 * the pack before anything is deleted. */
static void corrupt_for_test(struct buf *z)
{
#ifdef DBGIT_TEST_HOOKS
	static int done;
	const char *v = getenv("DBGIT_TEST_CORRUPT_PACK");
	if (v && *v == '1' && !done && z->len > 16) {
		z->data[z->len / 2] ^= 0x55;
		done = 1;
	}
#else
	(void)z;
#endif
}

/* Writes one encoded entry at the end of the pack: whole, or a delta
 * against the entry at base_off. */
static int write_enc(struct pw *w, struct enc *e, uint64_t base_off, uint64_t *off, uint32_t *crc)
{
	unsigned char h[32];
	size_t hl;
	if (e->kind == ENC_DELTA) {
		hl = enc_typesize(h, OBJ_OFS_DELTA, e->size);
		hl += enc_ofs(h + hl, w->out_off - base_off);
	} else {
		hl = enc_typesize(h, e->type, e->size);
	}
	if (e->kind == ENC_WHOLE)
		corrupt_for_test(&e->z);
	return put_encoded(w, h, hl, &e->z, off, crc);
}

/* Writes lineage l's new versions from its encoded slot, then its merged
 * prior (its prior waits for the next lineage: write_prior). */
static int write_lineage(struct pw *w, const struct lin *l, struct slot *s)
{
	for (size_t j = 0; j < s->n; j++) {
		struct enc *e = &s->it[j];
		struct add *a = &w->a[l->v[l->n - 1 - j]];
		uint64_t base_off = 0;
		a->written = 1;
		if (e->kind == ENC_DELTA) {
			base_off = w->a[l->v[l->n - j]].newoff;
			w->res->deltas++;
		} else {
			w->res->whole++;
		}
		if (write_enc(w, e, base_off, &a->newoff, &a->crc) < 0)
			return -1;
	}
	if (!s->has_merged)
		return 0;
	if (s->merged.kind == ENC_COPY)
		return copy_entry(w, (size_t)l->merged);
	struct ent *x = &w->e[l->merged];
	x->rebased = x->written = 1;
	w->res->rebased++;
	w->rebased_merged++;
	return write_enc(w, &s->merged, w->a[l->v[l->n - 1]].newoff, &x->newoff, &x->newcrc);
}

/* Writes lineage l's prior, if it is re-stored: the smaller of its delta
 * against its own oldest new version (s) and its delta against the next
 * lineage's version (next's split, written already), or the old entry
 * copied as it was when neither pays. */
static int write_prior(struct pw *w, const struct lin *l, struct slot *s, const struct lin *nl, struct slot *next)
{
	if (!s->has_prior)
		return 0;
	struct enc *own = &s->prior;
	struct enc *split = next && next->has_split ? &next->split : NULL;
	struct ent *x = &w->e[l->prior];
	if (split && (own->kind == ENC_COPY || split->z.len < own->z.len)) {
		x->rebased = x->written = 1;
		w->res->rebased++;
		w->rebased_split++;
		return write_enc(w, split, w->a[nl->v[0]].newoff, &x->newoff, &x->newcrc);
	}
	if (own->kind == ENC_COPY)
		return copy_entry(w, (size_t)l->prior);
	x->rebased = x->written = 1;
	w->res->rebased++;
	return write_enc(w, own, w->a[l->v[0]].newoff, &x->newoff, &x->newcrc);
}

static int put_lineages(struct pw *w, const char *objdir)
{
	struct pool p;
	struct worker k[PACKW_WORKERS];
	pthread_t th[PACKW_WORKERS];
	size_t started = 0;
	int rc = 0;
	memset(&p, 0, sizeof(p));
	memset(k, 0, sizeof(k));
	p.w = w;
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.cv, NULL);
	for (size_t i = 0; i < PACKW_WORKERS && rc == 0; i++) {
		k[i].pool = &p;
		if (git_odb_open(&k[i].odb, objdir) < 0) {
			rc = store_git_error("pack: opening the object database");
			break;
		}
		if (pthread_create(&th[i], NULL, worker_main, &k[i]) != 0) {
			rc = err_set(ERR_GENERIC, "pack: cannot start a thread");
			break;
		}
		started++;
	}
	/* Lineage i's versions, then lineage i-1's prior (it may be a delta
	 * against lineage i's version), then slot i-1 is free. */
	for (size_t i = 0; rc == 0 && i <= w->nl; i++) {
		struct slot *s = i < w->nl ? &p.slot[i % PACKW_WINDOW] : NULL;
		if (s) {
			pthread_mutex_lock(&p.mu);
			while (!s->done)
				pthread_cond_wait(&p.cv, &p.mu);
			pthread_mutex_unlock(&p.mu);
			if (s->rc < 0)
				rc = sig_pending() ? sig_check() : err_set(ERR_GENERIC, "%s", s->err);
			else
				rc = write_lineage(w, &w->l[i], s);
		}
		if (rc == 0 && i > 0) {
			struct slot *prev = &p.slot[(i - 1) % PACKW_WINDOW];
			rc = write_prior(w, &w->l[i - 1], prev, s ? &w->l[i] : NULL, s);
			slot_clear(prev);
			pthread_mutex_lock(&p.mu);
			p.written = i;
			pthread_cond_broadcast(&p.cv);
			pthread_mutex_unlock(&p.mu);
		}
		if (rc == 0 && sig_pending())
			rc = sig_check();
	}
	pthread_mutex_lock(&p.mu);
	p.stop = 1;
	pthread_cond_broadcast(&p.cv);
	pthread_mutex_unlock(&p.mu);
	for (size_t i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	for (size_t i = 0; i < PACKW_WINDOW; i++)
		slot_clear(&p.slot[i]);
	for (size_t i = 0; i < PACKW_WORKERS; i++) {
		git_odb_free(k[i].odb);
		zdef_free(&k[i].zd);
		buf_free(&k[i].dbuf);
	}
	pthread_cond_destroy(&p.cv);
	pthread_mutex_destroy(&p.mu);
	return rc;
}

struct idxrow {
	const git_oid *id;
	uint64_t off;
	uint32_t crc;
};

static int cmp_idxrow(const void *a, const void *b)
{
	const struct idxrow *x = a, *y = b;
	return git_oid_cmp(x->id, y->id);
}

static int fsync_file(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

/* The .idx v2 of the new pack. */
static int write_idx(struct pw *w, const unsigned char packsum[20])
{
	size_t n = w->ne + w->na, nlarge = 0;
	struct idxrow *r = calloc(n ? n : 1, sizeof(*r));
	EVP_MD_CTX *sha = EVP_MD_CTX_new();
	FILE *f = NULL;
	int rc = -1;
	if (!r || !sha || EVP_DigestInit_ex(sha, EVP_sha1(), NULL) != 1) {
		err_set(ERR_GENERIC, "out of memory");
		goto out;
	}
	n = 0;
	for (size_t i = 0; i < w->ne; i++)
		if (!w->e[i].drop)
			r[n++] = (struct idxrow){&w->e[i].id, w->e[i].newoff, w->e[i].newcrc};
	for (size_t i = 0; i < w->na; i++)
		r[n++] = (struct idxrow){&w->a[i].id, w->a[i].newoff, w->a[i].crc};
	qsort(r, n, sizeof(*r), cmp_idxrow);
	int fd = open(w->tmp_idx, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
	if (fd < 0 || !(f = fdopen(fd, "wb"))) {
		if (fd >= 0)
			close(fd);
		err_set(ERR_GENERIC, "pack: cannot create %s: %s", w->tmp_idx, strerror(errno));
		goto out;
	}
	unsigned char b[20];
#define EMIT(p, l)                                                                                                     \
	do {                                                                                                           \
		EVP_DigestUpdate(sha, (p), (l));                                                                       \
		fwrite((p), 1, (l), f);                                                                                \
	} while (0)
	EMIT("\377tOc\0\0\0\2", 8);
	size_t k = 0;
	for (int i = 0; i < 256; i++) {
		while (k < n && r[k].id->id[0] <= i)
			k++;
		put_be32(b, (uint32_t)k);
		EMIT(b, 4);
	}
	for (k = 0; k < n; k++)
		EMIT(r[k].id->id, 20);
	for (k = 0; k < n; k++) {
		put_be32(b, r[k].crc);
		EMIT(b, 4);
	}
	for (k = 0; k < n; k++) {
		if (r[k].off < 0x80000000u) {
			put_be32(b, (uint32_t)r[k].off);
		} else {
			put_be32(b, 0x80000000u | (uint32_t)nlarge++);
		}
		EMIT(b, 4);
	}
	for (k = 0; k < n; k++) {
		if (r[k].off < 0x80000000u)
			continue;
		put_be32(b, (uint32_t)(r[k].off >> 32));
		put_be32(b + 4, (uint32_t)r[k].off);
		EMIT(b, 8);
	}
	EMIT(packsum, 20);
#undef EMIT
	unsigned int dl = 0;
	if (EVP_DigestFinal_ex(sha, b, &dl) != 1)
		goto out;
	fwrite(b, 1, 20, f);
	if (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) < 0) {
		err_set(ERR_GENERIC, "pack: writing %s: %s", w->tmp_idx, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (f && fclose(f) != 0 && rc == 0)
		rc = err_set(ERR_GENERIC, "pack: writing %s: %s", w->tmp_idx, strerror(errno));
	EVP_MD_CTX_free(sha);
	free(r);
	return rc;
}

static int cmp_add(const void *a, const void *b)
{
	return git_oid_cmp(&((const struct add *)a)->id, &((const struct add *)b)->id);
}

/* Reads back, from the new pack alone, every object the writer encoded
 * (libgit2 rebuilds it through its delta chain; its id is checked against
 * its content here), and checks that every other object is in it. Two
 * threads, each with its own handle on the pack, take every other object. */
struct checker {
	struct pw *w;
	const char *idx_path;
	size_t first;
	int rc;
	char err[512];
};

/* Whether o's content hashes to id (OpenSSL's SHA-1: libgit2's
 * collision-detecting one is three times slower, and a collision attack is
 * not what this check is for). */
static int same_id(EVP_MD_CTX *sha, git_odb_object *o, const git_oid *id)
{
	char head[64];
	unsigned char sum[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	int hl = snprintf(head, sizeof(head), "%s %zu", git_object_type2string(git_odb_object_type(o)),
			  git_odb_object_size(o));
	return EVP_DigestInit_ex(sha, EVP_sha1(), NULL) == 1 && EVP_DigestUpdate(sha, head, (size_t)hl + 1) == 1 &&
	       EVP_DigestUpdate(sha, git_odb_object_data(o), git_odb_object_size(o)) == 1 &&
	       EVP_DigestFinal_ex(sha, sum, &n) == 1 && n == GIT_OID_RAWSZ && memcmp(sum, id->id, n) == 0;
}

static void *check_part(void *arg)
{
	struct checker *c = arg;
	struct pw *w = c->w;
	git_odb_backend *be = NULL;
	git_odb *odb = NULL;
	EVP_MD_CTX *sha = EVP_MD_CTX_new();
	int rc = 0;
	if (!sha) {
		rc = err_set(ERR_GENERIC, "out of memory");
		goto out;
	}
	if (c->first > 0) {
		sigset_t all;
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, NULL);
	}
	if (git_odb_new(&odb) < 0 || git_odb_backend_one_pack(&be, c->idx_path) < 0) {
		rc = store_git_error(c->idx_path);
		goto out;
	}
	if (git_odb_add_backend(odb, be, 1) < 0) {
		be->free(be);
		rc = store_git_error(c->idx_path);
		goto out;
	}
	for (size_t i = c->first; rc == 0 && i < w->ne + w->na; i += 2) {
		const git_oid *id = i < w->ne ? &w->e[i].id : &w->a[i - w->ne].id;
		int encoded = i >= w->ne || w->e[i].rebased;
		if (i < w->ne && w->e[i].drop)
			continue;
		if (!encoded) {
			size_t len;
			git_object_t type;
			/* copied bytes are CRC-checked; a rewritten OFS_DELTA header
			 * is checked by resolving the object's type through it */
			if (w->e[i].newcrc != w->e[i].crc ? git_odb_read_header(&len, &type, odb, id) < 0
							  : !git_odb_exists(odb, id))
				rc = -1;
			continue;
		}
		git_odb_object *o = NULL;
		if (git_odb_read(&o, odb, id) < 0 || !same_id(sha, o, id))
			rc = -1;
		git_odb_object_free(o);
		if (rc == 0 && sig_pending())
			rc = err_set(ERR_GENERIC, "pack: stopped by a signal");
	}
	if (rc == -1)
		rc = err_set(ERR_GENERIC, "pack: the new pack %s does not give back every object; nothing deleted",
			     c->idx_path);
out:
	git_odb_free(odb);
	EVP_MD_CTX_free(sha);
	git_error_clear();
	if (rc < 0)
		snprintf(c->err, sizeof(c->err), "%s", err_last());
	c->rc = rc;
	return NULL;
}

static int check_new(struct pw *w, const char *idx_path)
{
	struct checker c[2] = {{w, idx_path, 0, 0, ""}, {w, idx_path, 1, 0, ""}};
	pthread_t th;
	/* same_id hashes each object once: libgit2 need not hash it too */
	git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, 0);
	int threaded = pthread_create(&th, NULL, check_part, &c[1]) == 0;
	check_part(&c[0]);
	if (threaded)
		pthread_join(th, NULL);
	else
		check_part(&c[1]);
	git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, 1);
	if (sig_pending())
		return sig_check();
	for (int i = 0; i < 2; i++)
		if (c[i].rc < 0)
			return err_set(ERR_GENERIC, "%s", c[i].err);
	return 0;
}

static void pw_free(struct pw *w)
{
	if (w->in_fd >= 0)
		close(w->in_fd);
	if (w->out_fd >= 0)
		close(w->out_fd);
	if (w->tmp_pack)
		unlink(w->tmp_pack);
	if (w->tmp_idx)
		unlink(w->tmp_idx);
	free(w->tmp_pack);
	free(w->tmp_idx);
	free(w->e);
	free(w->byoff);
	free(w->a);
	for (size_t i = 0; i < w->nl; i++)
		free(w->l[i].v);
	free(w->l);
	EVP_MD_CTX_free(w->sha);
	free(w->obuf);
	free(w->cbuf);
	zdef_free(&w->zd);
	lcache_free(&w->cache);
	git_odb_free(w->odb);
}

static int cmp_oid(const void *a, const void *b)
{
	return git_oid_cmp(a, b);
}

/* Marks the base pack's entries not in keep (sorted) to be left out, and
 * the kept ones whose delta base goes to be stored whole (a kept old
 * snapshot's chunk may be a delta against a version only dropped
 * snapshots held: keeping that base would keep what the rotation drops). */
static void mark_drops(struct pw *w, const git_oid *keep, size_t n_keep)
{
	for (size_t i = 0; i < w->ne; i++)
		w->e[i].drop = !bsearch(&w->e[i].id, keep, n_keep, sizeof(*keep), cmp_oid);
	for (size_t i = 0; i < w->ne; i++) {
		w->res->dropped += w->e[i].drop;
		w->e[i].whole = !w->e[i].drop && w->e[i].base >= 0 && w->e[w->e[i].base].drop;
	}
}

/* A kept entry whose base is left out: read whole (through the old pack)
 * and deflated again. */
static int rewrite_whole(struct pw *w, size_t i)
{
	struct ent *x = &w->e[i];
	git_odb_object *o = NULL;
	int rc = read_obj(w, &x->id, &o);
	if (rc == 0)
		rc = put_whole(w, o, &x->newoff, &x->newcrc);
	git_odb_object_free(o);
	if (rc == 0) {
		x->rebased = x->written = 1;
		w->res->rewritten++;
	}
	return rc;
}

int packw_write(git_repository *repo, const char *packdir, const char *base, const git_oid *add, size_t n_add,
		git_oid *keep, size_t n_keep, const struct lcache *seed, char **new_base, struct packw_result *res)
{
	struct pw w;
	int rc = 0;
	memset(&w, 0, sizeof(w));
	memset(res, 0, sizeof(*res));
	w.repo = repo;
	w.packdir = packdir;
	w.in_fd = -1;
	w.out_fd = -1;
	w.res = res;
	*new_base = NULL;
	if (git_repository_odb(&w.odb, repo) < 0) {
		rc = store_git_error("pack: opening the object database");
		goto out;
	}
	if (base && (rc = load_base(&w, base)) != 0)
		goto out;
	if (keep) {
		qsort(keep, n_keep, sizeof(*keep), cmp_oid);
		mark_drops(&w, keep, n_keep);
	}

	/* the new objects: sorted, without duplicates and what the base holds */
	w.a = calloc(n_add ? n_add : 1, sizeof(*w.a));
	if (!w.a) {
		rc = err_set(ERR_GENERIC, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n_add; i++)
		if (find_id(&w, &add[i]) < 0)
			w.a[w.na++].id = add[i];
	qsort(w.a, w.na, sizeof(*w.a), cmp_add);
	size_t u = 0;
	for (size_t i = 0; i < w.na; i++)
		if (u == 0 || !git_oid_equal(&w.a[u - 1].id, &w.a[i].id))
			w.a[u++] = w.a[i];
	w.na = u;
	for (size_t i = 0; i < w.na; i++)
		w.a[i].lin = -1;
	if (base && w.na == 0 && res->dropped == 0) {
		/* everything is in the base pack already (a killed run's
		 * duplicates): nothing to write, the caller deletes the rest */
		*new_base = xstrdup(base);
		res->objects = res->copied = w.ne;
		goto out;
	}
	double t0 = now_s(), t1, t2, t3;
	char *cpath = lcache_path(repo);
	lcache_load(&w.cache, cpath);
	for (size_t i = 0; seed && i < seed->cap; i++)
		if (seed->used[i] && lcache_put(&w.cache, &seed->key[i], seed->val[i]) < 0)
			err_clear();
	rc = find_lineages(&w);
	res->lines_read = w.lines_read;
	if (rc == 0)
		lcache_save(&w.cache, cpath);
	free(cpath);
	if (rc < 0)
		goto out;

	w.sha = EVP_MD_CTX_new();
	w.obuf = malloc(COPY_BUF);
	w.cbuf = malloc(COPY_BUF);
	if (!w.sha || !w.obuf || !w.cbuf || EVP_DigestInit_ex(w.sha, EVP_sha1(), NULL) != 1) {
		rc = err_set(ERR_GENERIC, "out of memory");
		goto out;
	}
	/* tmp_ names: a killed run's leftovers are swept (sweep_pack_dir) */
	w.tmp_pack = xasprintf("%s/tmp_dbgit_%ld.pack", packdir, (long)getpid());
	w.tmp_idx = xasprintf("%s/tmp_dbgit_%ld.idx", packdir, (long)getpid());
	unlink(w.tmp_pack);
	unlink(w.tmp_idx);
	w.out_fd = open(w.tmp_pack, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
	if (w.out_fd < 0) {
		rc = err_set(ERR_GENERIC, "pack: cannot create %s: %s", w.tmp_pack, strerror(errno));
		goto out;
	}
	size_t total = w.ne - res->dropped + w.na;
	if (total > 0xffffffffu) {
		rc = err_set(ERR_GENERIC, "pack: too many objects");
		goto out;
	}
	unsigned char head[12] = {'P', 'A', 'C', 'K', 0, 0, 0, 2};
	put_be32(head + 8, (uint32_t)total);
	if ((rc = out_write(&w, head, 12)) < 0)
		goto out;
	/* a prior is re-stored after its lineage when the chains below it
	 * stay within PACKW_MAX_DEPTH: it becomes a delta n deep */
	for (size_t i = 0; i < w.nl; i++) {
		struct lin *l = &w.l[i];
		if (l->prior < 0)
			continue;
		struct ent *x = &w.e[l->prior];
		x->rebase = l->n <= PACKW_MAX_DEPTH && l->n + (size_t)(x->maxdesc - x->depth) <= PACKW_MAX_DEPTH;
		/* one version only: the merged prior is a delta against it, 1 deep */
		if (l->merged >= 0) {
			struct ent *m = &w.e[l->merged];
			m->rebase = l->n == 1 && 1 + (size_t)(m->maxdesc - m->depth) <= PACKW_MAX_DEPTH;
		}
	}
	t1 = now_s();
	for (size_t k = 0; k < w.ne && rc == 0; k++) {
		if (w.e[w.byoff[k]].rebase || w.e[w.byoff[k]].drop)
			continue;
		rc = w.e[w.byoff[k]].whole ? rewrite_whole(&w, w.byoff[k]) : copy_entry(&w, w.byoff[k]);
		if (rc == 0 && (k & 255) == 0 && sig_pending())
			rc = sig_check();
	}
	t2 = now_s();
	if (rc == 0 && w.nl > 0) {
		char *objdir = xasprintf("%s/..", packdir);
		rc = put_lineages(&w, objdir);
		free(objdir);
	}
	for (size_t i = 0; i < w.na && rc == 0; i++) {
		if (w.a[i].written)
			continue;
		git_odb_object *o = NULL;
		if ((rc = read_obj(&w, &w.a[i].id, &o)) == 0)
			rc = put_whole(&w, o, &w.a[i].newoff, &w.a[i].crc);
		git_odb_object_free(o);
		w.a[i].written = 1;
	}
	if (rc < 0)
		goto out;
	unsigned char sum[20];
	unsigned int sl = 0;
	if (out_flush(&w) < 0 || EVP_DigestFinal_ex(w.sha, sum, &sl) != 1 || fs_write_all(w.out_fd, sum, 20) < 0 ||
	    fsync(w.out_fd) < 0) {
		rc = err_set(ERR_GENERIC, "pack: writing %s: %s", w.tmp_pack, strerror(errno));
		goto out;
	}
	close(w.out_fd);
	w.out_fd = -1;
	if ((rc = write_idx(&w, sum)) < 0)
		goto out;

	char hex[41];
	for (int i = 0; i < 20; i++)
		snprintf(hex + 2 * i, 3, "%02x", sum[i]);
	char *name = xasprintf("pack-%s", hex);
	char *pack = xasprintf("%s/%s.pack", packdir, name), *idx = xasprintf("%s/%s.idx", packdir, name);
	/* the .pack first: a .pack without its .idx is a leftover to sweep,
	 * an .idx without its .pack would be a broken pack */
	if (rename(w.tmp_pack, pack) < 0 || rename(w.tmp_idx, idx) < 0 || fsync_file(packdir) < 0) {
		rc = err_set(ERR_GENERIC, "pack: installing %s: %s", pack, strerror(errno));
		unlink(idx);
		unlink(pack);
	} else {
		free(w.tmp_pack);
		free(w.tmp_idx);
		w.tmp_pack = w.tmp_idx = NULL;
		res->objects = total;
		res->added = w.na;
		res->bytes = w.out_off + 20;
		t3 = now_s();
		rc = check_new(&w, idx);
		log_debug("pack: lineages %.2f s (%zu first lines read), base pack %.2f s, new objects %.2f s "
			  "(previous versions re-stored against the next chunk: %zu, merged into the one before: %zu), "
			  "check %.2f s",
			  t1 - t0, w.lines_read, t2 - t1, t3 - t2, w.rebased_split, w.rebased_merged, now_s() - t3);
		if (rc < 0) {
			unlink(idx);
			unlink(pack);
		}
	}
	if (rc == 0)
		*new_base = name;
	else
		free(name);
	free(pack);
	free(idx);
out:
	pw_free(&w);
	return rc;
}

/* ---- a pack written to a stream (a push) ---- */

struct packw_stream {
	int (*write)(void *payload, const void *data, size_t len);
	void *payload;
	EVP_MD_CTX *sha;
	struct zdef zd;
	uint32_t left; /* entries still to write */
	uint64_t bytes;
};

static int stream_put(struct packw_stream *s, const void *data, size_t len)
{
	if (EVP_DigestUpdate(s->sha, data, len) != 1)
		return err_set(ERR_GENERIC, "pack: SHA-1 failed");
	s->bytes += len;
	return s->write(s->payload, data, len);
}

int packw_stream_new(struct packw_stream **out, uint32_t count,
		     int (*write)(void *payload, const void *data, size_t len), void *payload)
{
	struct packw_stream *s = calloc(1, sizeof(*s));
	*out = NULL;
	if (!s || !(s->sha = EVP_MD_CTX_new()) || EVP_DigestInit_ex(s->sha, EVP_sha1(), NULL) != 1) {
		if (s)
			EVP_MD_CTX_free(s->sha);
		free(s);
		return err_set(ERR_GENERIC, "out of memory");
	}
	s->write = write;
	s->payload = payload;
	s->left = count;
	unsigned char head[12] = {'P', 'A', 'C', 'K', 0, 0, 0, 2};
	put_be32(head + 8, count);
	int rc = stream_put(s, head, sizeof(head));
	if (rc < 0) {
		packw_stream_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

static int stream_entry(struct packw_stream *s, const unsigned char *hdr, size_t hlen, const void *data, size_t len)
{
	if (s->left == 0)
		return err_set(ERR_GENERIC, "pack: more objects than announced");
	int rc = zdef_run(&s->zd, data, len);
	if (rc == 0)
		rc = stream_put(s, hdr, hlen);
	if (rc == 0)
		rc = stream_put(s, s->zd.out.data, s->zd.out.len);
	if (rc == 0)
		s->left--;
	return rc;
}

int packw_stream_whole(struct packw_stream *s, git_object_t type, const void *data, size_t len)
{
	unsigned char h[16];
	if (type < GIT_OBJECT_COMMIT || type > GIT_OBJECT_TAG)
		return err_set(ERR_GENERIC, "pack: object type %d cannot be stored whole", (int)type);
	size_t hl = enc_typesize(h, (int)type, len);
	return stream_entry(s, h, hl, data, len);
}

int packw_stream_ref_delta(struct packw_stream *s, const git_oid *base, const void *delta, size_t len)
{
	unsigned char h[16 + GIT_OID_RAWSZ];
	size_t hl = enc_typesize(h, OBJ_REF_DELTA, len);
	memcpy(h + hl, base->id, GIT_OID_RAWSZ);
	return stream_entry(s, h, hl + GIT_OID_RAWSZ, delta, len);
}

int packw_stream_finish(struct packw_stream *s)
{
	unsigned char sum[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	if (s->left != 0)
		return err_set(ERR_GENERIC, "pack: %u objects announced but not written", s->left);
	if (EVP_DigestFinal_ex(s->sha, sum, &n) != 1 || n != 20)
		return err_set(ERR_GENERIC, "pack: SHA-1 failed");
	s->bytes += 20;
	return s->write(s->payload, sum, 20);
}

uint64_t packw_stream_bytes(const struct packw_stream *s)
{
	return s->bytes;
}

void packw_stream_free(struct packw_stream *s)
{
	if (!s)
		return;
	EVP_MD_CTX_free(s->sha);
	zdef_free(&s->zd);
	free(s);
}
