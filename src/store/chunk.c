/*
 * chunk: where to cut a stream into blobs.
 *
 * Text dumps (one row per line) are cut after a line whose own content picks
 * it, so a boundary depends on that line alone: a changed or inserted row
 * moves at most the boundaries next to it and every other chunk stays the
 * same blob. A line is picked with a probability proportional to its length
 * (hash mod avg < len), which makes chunks average `avg` bytes whatever the
 * row width. A minimum avoids slivers; the maximum (never above
 * max_blob_size) forces a cut, mid-line if one row is larger than that.
 *
 * Page files are cut at fixed offsets, so a changed page changes one chunk.
 */
#include <string.h>

#include "dbgit/store.h"
#include "dbgit/util.h"
#include "store_internal.h"

#define LINE_AVG (256u * 1024)
#define FIXED_SIZE (1024u * 1024)
#define SEALED_LINE_AVG_MIN (8u * 1024)
#define SEALED_FIXED_SIZE (256u * 1024)
#define SEALED_GROW_FROM (16ull << 20)

void chunker_init(struct chunker *c, enum chunk_mode mode, size_t max_blob)
{
	memset(c, 0, sizeof(*c));
	c->mode = mode;
	if (mode == CHUNK_FIXED) {
		c->avg = c->min = c->max = FIXED_SIZE < max_blob ? FIXED_SIZE : max_blob;
		return;
	}
	c->avg = LINE_AVG;
	c->max = 4 * LINE_AVG;
	if (c->max > max_blob)
		c->max = max_blob;
	if (c->avg > c->max)
		c->avg = c->max;
	c->min = c->avg / 8;
	c->max_cap = c->max;
}

/* The average chunk for a line at offset at of the file. */
static size_t avg_at(const struct chunker *c, uint64_t at)
{
	size_t avg = c->avg;
	if (!c->grow_from)
		return avg;
	for (uint64_t edge = c->grow_from; at >= edge && avg < c->grow_cap; edge *= 2)
		avg *= 2;
	return avg < c->grow_cap || !c->grow_cap ? avg : c->grow_cap;
}

size_t chunker_max_at(const struct chunker *c, uint64_t at)
{
	size_t avg = avg_at(c, at);
	if (avg == c->avg)
		return c->max;
	size_t max = 4 * avg;
	return max < c->max_cap ? max : c->max_cap;
}

/* FNV-1a, 64 bit: stable across platforms and versions (chunk boundaries,
 * hence blob reuse, depend on it). */
static uint64_t line_hash(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 1099511628211ULL;
	}
	return h ^ (h >> 29);
}

size_t chunker_cut(const struct chunker *c, uint64_t at, const char *data, size_t len, int at_eof)
{
	if (c->mode == CHUNK_FIXED) {
		if (len >= c->max)
			return c->max;
		return at_eof ? len : 0;
	}
	size_t avg = avg_at(c, at), max = chunker_max_at(c, at), min = avg / 8;
	if (avg == c->avg)
		min = c->min;
	size_t pos = 0;
	while (pos < len) {
		const char *nl = memchr(data + pos, '\n', len - pos);
		if (!nl)
			break;
		size_t end = (size_t)(nl - data) + 1;
		if (end > max)
			return pos ? pos : max;
		size_t line_len = end - pos;
		/* The line's own offset picks the average, so that a cut
		 * depends on the line and the region of the file it is in,
		 * not on where the chunk began. */
		size_t line_avg = c->grow_from ? avg_at(c, at + pos) : avg;
		if (end >= min && line_hash(data + pos, line_len) % line_avg < line_len)
			return end;
		pos = end;
	}
	if (len >= max)
		return pos ? pos : max;
	return at_eof ? len : 0;
}

void chunker_init_sealed(struct chunker *c, enum chunk_mode mode, size_t max_blob)
{
	/* Encrypted chunks neither delta nor compress once in git: a chunk
	 * with one changed row is stored again whole, where reclaim would pack
	 * a plain one as a small delta. Smaller chunks then store less per
	 * change; the price is more tree entries (about 75 bytes each) and
	 * more files in the manifest. Measured on bench.sh's data (100,000
	 * rows, 500 updated and 500 added a night): 256 KiB chunks grow the
	 * repository by 5.0 MB a night, 32 KiB by 4.2 MB, 8 KiB by 2.4 MB;
	 * restic by 4.3 MB. So 8 KiB with the default max_blob_size (48M),
	 * growing with it (max_blob_size / 6144).
	 *
	 * A large table at 8 KiB would be 130,000 chunks a GB: a manifest
	 * past its 16 MiB bound and as many entries held in memory while the
	 * snapshot is written (each costs about 1 KiB of memory then: at
	 * 1 GB, 67,000 chunks took backup's peak RSS to 136 MiB). So the
	 * average doubles with the offset in the file: 8 KiB for the first
	 * 16 MiB, 16 KiB to 32 MiB, ... 256 KiB (a plain snapshot's) from
	 * 256 MiB on; a 1 GiB table is then about 9,000 chunks (the 1 GB
	 * benchmark database: 25,000 chunks, a peak of 54 MiB). The price: a
	 * changed row deep in a large table re-stores a larger chunk.
	 *
	 * A line's own offset picks its average. An insertion shifts the
	 * offsets after it, which changes cuts only for lines within that
	 * shift of a doubling point; and with averages that are powers of
	 * two a cut at 2a is also a cut at a, so the cuts agree again within
	 * a chunk or two. */
	if (mode == CHUNK_FIXED) {
		memset(c, 0, sizeof(*c));
		c->mode = mode;
		c->avg = c->min = c->max = SEALED_FIXED_SIZE < max_blob ? SEALED_FIXED_SIZE : max_blob;
		c->max_cap = c->max;
		return;
	}
	chunker_init(c, mode, max_blob);
	size_t cap = c->avg, limit = c->max;
	size_t avg = max_blob / 6144;
	if (avg < SEALED_LINE_AVG_MIN)
		avg = SEALED_LINE_AVG_MIN;
	if (avg < c->avg)
		c->avg = avg;
	if (4 * c->avg < c->max)
		c->max = 4 * c->avg;
	c->min = c->avg / 8;
	if (c->avg < cap) {
		c->grow_from = SEALED_GROW_FROM;
		c->grow_cap = cap;
	}
	c->max_cap = limit;
}

char *chunk_logical_name(const char *path)
{
	const char *dot = strrchr(path, '.');
	const char *slash = strrchr(path, '/');
	if (!dot || (slash && dot < slash))
		dot = path + strlen(path);
	if (dot - path >= 7 && dot[-7] == '-' && strspn(dot - 6, "0123456789") >= 6)
		return xasprintf("%.*s%s", (int)(dot - 7 - path), path, dot);
	return xstrdup(path);
}
