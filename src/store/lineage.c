/*
 * lineage: which chunk is a new version of which. Chunk boundaries are
 * content-defined (chunk.c), so a chunk's first line is the same in every
 * snapshot the chunk appears in, changed or not, whatever its number
 * there (an earlier boundary that moves renumbers every chunk after it).
 * The hash of the first line, with the chunk's logical file, names a
 * chunk's lineage: the nightly pack (packw.c) pairs a new chunk with its
 * previous version by it, the full reclaim names blobs for libgit2's
 * packer by it (reclaim.c, lineage_name).
 */
#include <errno.h>
#include <fcntl.h>
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dbgit/util.h"
#include "store_internal.h"

uint64_t lineage_line_hash(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n && i < 4096 && p[i] != '\n'; i++) {
		h ^= (unsigned char)p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static size_t oid_hash(const git_oid *id)
{
	size_t h;
	memcpy(&h, id->id, sizeof(h));
	return h;
}

/* The lineage cache: blob id -> hash of the blob's first line, so that
 * naming a blob for the packer (lineage_name) reads it only the first
 * time. It lives in <gitdir>/dbgit-lineage:
 *   "DBGITLN1", a little-endian u64 count, count records of (20-byte blob
 *   id, little-endian u64 hash), then the SHA-256 of all of that in hex.
 * It is read from the repository, so untrusted: a file whose size, count
 * or checksum does not add up is ignored (and rewritten by this run). A
 * well-formed but wrong cache can only make deltas worse, never lose or
 * change an object: the names steer the packer's delta search and nothing
 * else. Written to a temp file and renamed, without fsync: a torn file
 * after a crash fails its checksum and is rebuilt. */
#define LCACHE_MAGIC "DBGITLN1"
#define LCACHE_REC 28

static int lcache_grow(struct lcache *c)
{
	size_t ncap = c->cap ? c->cap * 2 : 1024;
	git_oid *key = calloc(ncap, sizeof(*key));
	uint64_t *val = calloc(ncap, sizeof(*val));
	unsigned char *used = calloc(ncap, 1);
	if (!key || !val || !used) {
		free(key);
		free(val);
		free(used);
		return err_set(ERR_GENERIC, "out of memory");
	}
	for (size_t i = 0; i < c->cap; i++) {
		if (!c->used[i])
			continue;
		size_t j = oid_hash(&c->key[i]) & (ncap - 1);
		while (used[j])
			j = (j + 1) & (ncap - 1);
		used[j] = 1;
		key[j] = c->key[i];
		val[j] = c->val[i];
	}
	free(c->key);
	free(c->val);
	free(c->used);
	c->key = key;
	c->val = val;
	c->used = used;
	c->cap = ncap;
	return 0;
}

int lcache_get(const struct lcache *c, const git_oid *id, uint64_t *v)
{
	if (!c->cap)
		return 0;
	for (size_t j = oid_hash(id) & (c->cap - 1); c->used[j]; j = (j + 1) & (c->cap - 1))
		if (git_oid_equal(&c->key[j], id)) {
			*v = c->val[j];
			return 1;
		}
	return 0;
}

int lcache_put(struct lcache *c, const git_oid *id, uint64_t v)
{
	if (c->cap) {
		for (size_t j = oid_hash(id) & (c->cap - 1); c->used[j]; j = (j + 1) & (c->cap - 1))
			if (git_oid_equal(&c->key[j], id)) {
				c->val[j] = v;
				return 0;
			}
	}
	if ((c->len + 1) * 2 > c->cap && lcache_grow(c) < 0)
		return -1;
	size_t j = oid_hash(id) & (c->cap - 1);
	while (c->used[j])
		j = (j + 1) & (c->cap - 1);
	c->used[j] = 1;
	c->key[j] = *id;
	c->val[j] = v;
	c->len++;
	return 0;
}

void lcache_free(struct lcache *c)
{
	free(c->key);
	free(c->val);
	free(c->used);
	memset(c, 0, sizeof(*c));
}

static uint64_t le64_get(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void le64_put(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++, v >>= 8)
		p[i] = (unsigned char)v;
}

char *lcache_path(git_repository *repo)
{
	return xasprintf("%sdbgit-lineage", git_repository_path(repo));
}

/* Loads the cache at path into c (empty if absent or not valid). */
void lcache_load(struct lcache *c, const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return;
	const char *why = NULL;
	struct sha256 *sum = sha256_new();
	unsigned char head[16], rec[LCACHE_REC];
	char want[65], got[65];
	struct stat sb;
	if (fstat(fileno(f), &sb) < 0 || fread(head, 1, sizeof(head), f) != sizeof(head) ||
	    memcmp(head, LCACHE_MAGIC, 8) != 0) {
		why = "not a lineage cache";
		goto out;
	}
	uint64_t count = le64_get(head + 8);
	if (count > (uint64_t)sb.st_size / LCACHE_REC ||
	    (uint64_t)sb.st_size != sizeof(head) + count * LCACHE_REC + 64) {
		why = "size does not match its count";
		goto out;
	}
	sha256_update(sum, head, sizeof(head));
	for (uint64_t i = 0; i < count; i++) {
		git_oid id;
		if (fread(rec, 1, sizeof(rec), f) != sizeof(rec)) {
			why = "truncated";
			goto out;
		}
		sha256_update(sum, rec, sizeof(rec));
		git_oid_fromraw(&id, rec);
		if (lcache_put(c, &id, le64_get(rec + 20)) < 0) {
			err_clear();
			why = "out of memory";
			goto out;
		}
	}
	if (fread(want, 1, 64, f) != 64) {
		why = "truncated";
		goto out;
	}
	want[64] = '\0';
	sha256_final_hex(sum, got);
	sum = NULL;
	if (strcmp(want, got) != 0)
		why = "checksum mismatch";
out:
	sha256_free(sum);
	fclose(f);
	if (why) {
		log_info("reclaim: ignoring the lineage cache %s (%s); it is rebuilt", path, why);
		lcache_free(c);
	}
}

/* Replaces the cache at path with c. A cache that cannot be written only
 * costs the next run its blob reads. */
void lcache_save(const struct lcache *c, const char *path)
{
	char *tmp = xasprintf("%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FILE *f = fd < 0 ? NULL : fdopen(fd, "wb");
	int ok = f != NULL;
	if (!f && fd >= 0)
		close(fd);
	struct sha256 *sum = sha256_new();
	unsigned char head[16], rec[LCACHE_REC];
	char hex[65];
	memcpy(head, LCACHE_MAGIC, 8);
	le64_put(head + 8, c->len);
	sha256_update(sum, head, sizeof(head));
	ok = ok && fwrite(head, 1, sizeof(head), f) == sizeof(head);
	for (size_t i = 0; ok && i < c->cap; i++) {
		if (!c->used[i])
			continue;
		memcpy(rec, c->key[i].id, 20);
		le64_put(rec + 20, c->val[i]);
		sha256_update(sum, rec, sizeof(rec));
		ok = fwrite(rec, 1, sizeof(rec), f) == sizeof(rec);
	}
	sha256_final_hex(sum, hex);
	ok = ok && fwrite(hex, 1, 64, f) == 64;
	if (f && fclose(f) != 0)
		ok = 0;
	if (ok && rename(tmp, path) < 0)
		ok = 0;
	if (!ok) {
		log_warn("reclaim: cannot write the lineage cache %s: %s", path, strerror(errno));
		unlink(tmp);
	}
	free(tmp);
}

