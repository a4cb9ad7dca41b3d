/*
 * delta: git's pack delta format, written and applied (delta.h).
 *
 * The encoder indexes the source in aligned blocks of BLOCK bytes (a
 * chained hash table of block numbers with their hashes, 12 to 16 bytes
 * per block) and slides a window of BLOCK bytes over the target with a
 * rolling hash, so that a match is found at any target offset: a line
 * inserted or deleted shifts everything after it, and the rest must still
 * be copied. A window is compared with the source where the last copy
 * would continue (the guess that finds the rest of a line after a changed
 * value) and with the blocks of its hash (at most MAX_CANDIDATES); the
 * longest match, extended forward as far as the bytes agree and backward
 * over the literal bytes not yet emitted, becomes copy instructions and the
 * scan resumes after it. Bytes no match covers become inserts. Inside a
 * copy nothing is hashed, so an unchanged stretch costs one memcmp-like
 * pass.
 *
 * Bounds the applier relies on, and git too: a copy's offset fits 32 bits
 * and its size 24 bits (0x10000 is written as size 0, as git does); an
 * insert carries 1..127 bytes; a delta has at least 4 bytes and declares a
 * target of at least 1 (git cannot read an empty blob stored as a delta).
 * The encoder gives up (returns 1) as soon as the delta passes max_len, so
 * its memory stays O(src_len / 16 + max_len) and an unrelated target costs
 * little.
 *
 * The applier trusts nothing: it checks the whole delta (sizes, every
 * opcode, every offset and length, the exact output size) before it
 * allocates the declared output, so a hostile delta can neither crash it
 * nor make it allocate more than it really produces.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dbgit/util.h"
#include "delta.h"

#define BLOCK	       16
#define MAX_INSERT     127
#define MAX_COPY       0xffffffu /* 24 bits of size */
#define MAX_CANDIDATES 64	 /* source blocks tried per target window */
#define NONE	       UINT32_MAX
/* dbgit's objects are far below this; git's format allows more, but a
 * delta that declares more is not one dbgit wrote. */
#define MAX_OBJECT ((uint64_t)UINT32_MAX)

/* git refuses a delta shorter than this ("failed to apply delta"). */
#define DELTA_MIN 4

/* Stands in for a NULL pointer of length 0, on which even p + 0 is undefined. */
static const unsigned char empty[1];

static inline uint32_t rotl32(uint32_t x, unsigned r)
{
	return r % 32 ? (x << (r % 32)) | (x >> (32 - r % 32)) : x;
}

/* The source's index: block numbers chained by the hash of their bytes.
 * A slot names a block and carries its full hash, so a window whose
 * bucket holds only other hashes (most, in a target unlike the source) is
 * turned away by the one slot read, without touching the source. */
struct slot {
	uint32_t block; /* or NONE */
	uint32_t hash;
};
struct index {
	struct slot *head; /* bucket -> its first block */
	struct slot *next; /* block -> the next block in its bucket */
	uint32_t mask;	   /* buckets - 1 */
	uint32_t byte_hash[256];
};

/* A cyclic-polynomial (buzhash) rolling hash: each byte value maps to a
 * well-mixed word; the window's hash is their xor, each rotated by its
 * distance from the window's end. Rolling drops the oldest byte's term and
 * adds the new one in O(1). */
static void index_init_hash(struct index *ix)
{
	for (uint32_t c = 0; c < 256; c++) {
		uint32_t x = (c + 1) * 0x9e3779b9u; /* a murmur3-style finaliser */
		x ^= x >> 16;
		x *= 0x85ebca6bu;
		x ^= x >> 13;
		x *= 0xc2b2ae35u;
		x ^= x >> 16;
		ix->byte_hash[c] = x;
	}
}

static inline uint32_t window_hash(const struct index *ix, const unsigned char *p)
{
	uint32_t h = 0;
	for (int j = 0; j < BLOCK; j++)
		h = rotl32(h, 1) ^ ix->byte_hash[p[j]];
	return h;
}

static inline uint32_t window_roll(const struct index *ix, uint32_t h, unsigned char out, unsigned char in)
{
	return rotl32(h, 1) ^ rotl32(ix->byte_hash[out], BLOCK) ^ ix->byte_hash[in];
}

static int index_build(struct index *ix, const unsigned char *src, size_t src_len)
{
	/* One to two blocks a bucket: 12 to 16 bytes of index for each
	 * block of 16 source bytes. */
	size_t blocks = src_len / BLOCK, buckets = 1;
	while (buckets * 2 < blocks)
		buckets *= 2;
	ix->mask = (uint32_t)(buckets - 1);
	ix->head = malloc(buckets * sizeof(*ix->head));
	ix->next = malloc((blocks ? blocks : 1) * sizeof(*ix->next));
	if (!ix->head || !ix->next)
		return err_set(ERR_GENERIC, "delta: out of memory indexing a source of %zu bytes", src_len);
	for (size_t k = 0; k < buckets; k++)
		ix->head[k] = (struct slot){NONE, 0};
	uint32_t prev = 0;
	for (size_t b = 0; b < blocks; b++) {
		uint32_t h = window_hash(ix, src + b * BLOCK);
		/* A run of equal blocks (zeros, padding) keeps only its first:
		 * a match there extends over the rest of the run anyway, and one
		 * long chain would crowd out every other candidate. */
		if (b && h == prev && !memcmp(src + b * BLOCK, src + (b - 1) * BLOCK, BLOCK)) {
			ix->next[b] = (struct slot){NONE, 0};
			continue;
		}
		prev = h;
		ix->next[b] = ix->head[h & ix->mask];
		ix->head[h & ix->mask] = (struct slot){(uint32_t)b, h};
	}
	return 0;
}

static void index_free(struct index *ix)
{
	free(ix->head);
	free(ix->next);
}

/* How many bytes a and b have in common from their starts (at most n). */
static size_t common_forward(const unsigned char *a, const unsigned char *b, size_t n)
{
	size_t k = 0;
	while (k + 8 <= n) {
		uint64_t x, y;
		memcpy(&x, a + k, 8);
		memcpy(&y, b + k, 8);
		if (x != y) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			return k + (size_t)(__builtin_ctzll(x ^ y) / 8);
#else
			break;
#endif
		}
		k += 8;
	}
	while (k < n && a[k] == b[k])
		k++;
	return k;
}

/* How many bytes a and b have in common going back from their ends (at most n). */
static size_t common_backward(const unsigned char *a_end, const unsigned char *b_end, size_t n)
{
	size_t k = 0;
	while (k < n && a_end[-1 - (ptrdiff_t)k] == b_end[-1 - (ptrdiff_t)k])
		k++;
	return k;
}

/* The output of delta_create, which gives up past max_len. */
struct emit {
	struct buf *out;
	size_t max_len;
};

/* 0, 1 when past max_len, or an error. */
static int emit_bytes(struct emit *e, const unsigned char *p, size_t n)
{
	if (e->out->len + n > e->max_len)
		return 1;
	return buf_add(e->out, p, n) < 0 ? ERR_GENERIC : 0;
}

static int emit_varint(struct emit *e, uint64_t v)
{
	unsigned char b[10];
	size_t n = 0;
	do {
		b[n] = v & 0x7f;
		v >>= 7;
		if (v)
			b[n] |= 0x80;
		n++;
	} while (v);
	return emit_bytes(e, b, n);
}

static int emit_insert(struct emit *e, const unsigned char *p, size_t n)
{
	while (n) {
		unsigned char op[1 + MAX_INSERT];
		size_t k = n < MAX_INSERT ? n : MAX_INSERT;
		op[0] = (unsigned char)k;
		memcpy(op + 1, p, k);
		int rc = emit_bytes(e, op, 1 + k);
		if (rc)
			return rc;
		p += k;
		n -= k;
	}
	return 0;
}

static int emit_copy(struct emit *e, size_t off, size_t n)
{
	while (n) {
		size_t k = n < MAX_COPY ? n : MAX_COPY;
		unsigned char op[8];
		size_t len = 1;
		op[0] = 0x80;
		/* Only the non-zero bytes are written; their bits say which. */
		for (int i = 0; i < 4; i++) {
			unsigned char b = (unsigned char)(off >> (8 * i));
			if (b) {
				op[0] |= (unsigned char)(1u << i);
				op[len++] = b;
			}
		}
		if (k != 0x10000) {
			for (int i = 0; i < 3; i++) {
				unsigned char b = (unsigned char)(k >> (8 * i));
				if (b) {
					op[0] |= (unsigned char)(0x10u << i);
					op[len++] = b;
				}
			}
		}
		int rc = emit_bytes(e, op, len);
		if (rc)
			return rc;
		off += k;
		n -= k;
	}
	return 0;
}

static inline uint64_t load64(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

/* The best match found for the window at a target offset. */
struct match {
	size_t len, s, t; /* len bytes at src + s equal those at dst + t */
};

/* Measures the source offset s against the target at i: forward as far
 * as the bytes agree, backward over the literal bytes dst[lit, i). A match
 * shorter than a block forward is a hash collision (or a wrong guess). */
static inline void try_match(const unsigned char *src, size_t src_len, const unsigned char *dst,
			     size_t dst_len, size_t lit, size_t i, size_t s, struct match *best)
{
	/* Most tries fail in their first bytes: that test costs no call.
	 * (The scan keeps BLOCK bytes of dst after i.) */
	if (src_len - s < BLOCK || load64(src + s) != load64(dst + i))
		return;
	size_t fwd = common_forward(src + s, dst + i, src_len - s < dst_len - i ? src_len - s : dst_len - i);
	if (fwd < BLOCK)
		return;
	size_t back = common_backward(src + s, dst + i, s < i - lit ? s : i - lit);
	if (fwd + back > best->len) {
		best->len = fwd + back;
		best->s = s - back;
		best->t = i - back;
	}
}

/* Whether the window at i deserves the full look: the guess agrees in its
 * first 8 bytes, or a block in the window's bucket has the window's hash.
 * Most windows of a changed or unrelated stretch fail both, and this is
 * all they cost besides the roll. */
static inline int worth_a_look(const struct index *ix, const unsigned char *src, size_t src_len,
			       const unsigned char *dst, size_t i, ptrdiff_t disp, uint32_t h)
{
	size_t s = (size_t)((ptrdiff_t)i + disp); /* huge when negative */
	if (s <= src_len - BLOCK && load64(src + s) == load64(dst + i))
		return 1;
	int tried = 0;
	for (struct slot sl = ix->head[h & ix->mask]; sl.block != NONE && tried < MAX_CANDIDATES;
	     sl = ix->next[sl.block], tried++) {
		if (sl.hash == h)
			return 1;
	}
	return 0;
}

/* The scan: literal bytes dst[lit, i) wait to be emitted until a match
 * ends them (then the match may take some of them back) or dst ends.
 *
 * Besides the blocks the hash names, each window first tries the source
 * offset that continues the last copy at the same displacement (at first:
 * the same offset). A changed value in a line leaves the displacement as
 * it was, and when many source blocks share the window's bytes (every
 * line starts `INSERT INTO "t" VALUES(`), the hash chain's first
 * MAX_CANDIDATES may not hold the right one, while this guess does. */
static int delta_scan(const struct index *ix, const unsigned char *src, size_t src_len,
		      const unsigned char *dst, size_t dst_len, struct emit *e)
{
	size_t lit = 0, i = 0;
	ptrdiff_t disp = 0; /* source offset - target offset of the last copy */
	if (!ix->head || dst_len < BLOCK)
		return emit_insert(e, dst, dst_len);
	uint32_t h = window_hash(ix, dst);
	for (;;) {
		while (!worth_a_look(ix, src, src_len, dst, i, disp, h)) {
			if (i + BLOCK == dst_len)
				goto done;
			h = window_roll(ix, h, dst[i], dst[i + BLOCK]);
			i++;
		}
		struct match best = {0, 0, 0};
		size_t s = (size_t)((ptrdiff_t)i + disp);
		if (s < src_len)
			try_match(src, src_len, dst, dst_len, lit, i, s, &best);
		int tried = 0;
		for (struct slot sl = ix->head[h & ix->mask];
		     sl.block != NONE && tried < MAX_CANDIDATES && best.t + best.len < dst_len;
		     sl = ix->next[sl.block], tried++) {
			if (sl.hash == h)
				try_match(src, src_len, dst, dst_len, lit, i, (size_t)sl.block * BLOCK,
					  &best);
		}
		if (best.len) {
			int rc = emit_insert(e, dst + lit, best.t - lit);
			if (!rc)
				rc = emit_copy(e, best.s, best.len);
			if (rc)
				return rc;
			i = lit = best.t + best.len;
			disp = (ptrdiff_t)best.s - (ptrdiff_t)best.t;
			if (i + BLOCK > dst_len)
				break;
			h = window_hash(ix, dst + i);
			continue;
		}
		if (i + BLOCK == dst_len)
			break;
		h = window_roll(ix, h, dst[i], dst[i + BLOCK]);
		i++;
	}
done:
	return emit_insert(e, dst + lit, dst_len - lit);
}

int delta_create(const unsigned char *src, size_t src_len, const unsigned char *dst, size_t dst_len,
		 size_t max_len, struct buf *out)
{
	buf_clear(out);
	if (!src)
		src = empty, src_len = 0;
	if (!dst)
		dst = empty, dst_len = 0;
	if ((uint64_t)src_len > MAX_OBJECT || (uint64_t)dst_len > MAX_OBJECT)
		return err_set(ERR_GENERIC, "delta: a source of %zu or target of %zu bytes is beyond 4 GiB",
			       src_len, dst_len);
	/* git resolves a delta to an empty blob in index-pack, but then cannot
	 * read it (cat-file -s, verify-pack: "could not get object info": a
	 * size of 0 from a delta header means an error there); from a source
	 * under 16 KiB it would also be under git's 4 bytes. Stored whole. */
	if (!dst_len)
		return 1;
	struct emit e = {out, max_len};
	int rc = emit_varint(&e, src_len);
	if (!rc)
		rc = emit_varint(&e, dst_len);
	if (rc)
		return rc;

	struct index ix = {0};
	index_init_hash(&ix);
	if (src_len >= BLOCK && dst_len >= BLOCK && (rc = index_build(&ix, src, src_len)) < 0)
		goto out;
	rc = delta_scan(&ix, src, src_len, dst, dst_len, &e);
out:
	index_free(&ix);
	return rc;
}

/* A size varint of the header; 0, or -1 when truncated or beyond 4 GiB. */
static int read_size(const unsigned char **p, const unsigned char *end, uint64_t *out)
{
	uint64_t v = 0;
	for (unsigned shift = 0;; shift += 7) {
		if (*p == end || shift > 28)
			return -1;
		unsigned char c = *(*p)++;
		v |= (uint64_t)(c & 0x7f) << shift;
		if (v > MAX_OBJECT)
			return -1;
		if (!(c & 0x80))
			break;
	}
	*out = v;
	return 0;
}

int64_t delta_target_size(const unsigned char *delta, size_t delta_len)
{
	if (!delta)
		delta = empty, delta_len = 0;
	const unsigned char *p = delta, *end = delta + delta_len;
	uint64_t src_size, dst_size;
	if (read_size(&p, end, &src_size) < 0 || read_size(&p, end, &dst_size) < 0)
		return -1;
	return (int64_t)dst_size;
}

static int past_declared(size_t at, uint64_t dst_size)
{
	return err_set(ERR_VERIFY, "delta: the instruction at byte %zu writes past the declared %llu bytes",
		       at, (unsigned long long)dst_size);
}

/* Runs delta's instructions, checking each; writes the output to dst when
 * dst is not NULL (it then holds the declared size, already proved). */
static int delta_run(const unsigned char *src, size_t src_len, const unsigned char *delta, size_t delta_len,
		     unsigned char *dst, uint64_t *declared)
{
	const unsigned char *p = delta, *end = delta + delta_len;
	uint64_t src_size, dst_size, made = 0;
	if (delta_len < DELTA_MIN)
		return err_set(ERR_VERIFY, "delta: %zu bytes, below git's minimum of %d", delta_len,
			       DELTA_MIN);
	if (read_size(&p, end, &src_size) < 0 || read_size(&p, end, &dst_size) < 0)
		return err_set(ERR_VERIFY, "delta: its header (the two sizes) is truncated or beyond 4 GiB");
	if (src_size != src_len)
		return err_set(ERR_VERIFY, "delta: made for a source of %llu bytes, applied to one of %zu",
			       (unsigned long long)src_size, src_len);
	if (!dst_size)
		return err_set(ERR_VERIFY, "delta: declares an empty target, which git cannot read back");
	*declared = dst_size;
	while (p < end) {
		size_t at = (size_t)(p - delta);
		unsigned char cmd = *p++;
		if (cmd & 0x80) {
			uint64_t off = 0, size = 0;
			for (int i = 0; i < 7; i++) {
				if (!(cmd & (1u << i)))
					continue;
				if (p == end)
					return err_set(ERR_VERIFY, "delta: copy at byte %zu is truncated",
						       at);
				if (i < 4)
					off |= (uint64_t)*p++ << (8 * i);
				else
					size |= (uint64_t)*p++ << (8 * (i - 4));
			}
			if (!size)
				size = 0x10000;
			if (off + size > src_len)
				return err_set(ERR_VERIFY,
					       "delta: copy at byte %zu reads %llu bytes at %llu, past the "
					       "source's %zu",
					       at, (unsigned long long)size, (unsigned long long)off,
					       src_len);
			if (size > dst_size - made)
				return past_declared(at, dst_size);
			if (dst)
				memcpy(dst + made, src + off, (size_t)size);
			made += size;
		} else if (cmd) {
			if (cmd > end - p)
				return err_set(ERR_VERIFY,
					       "delta: insert of %u bytes at byte %zu runs past its end", cmd,
					       at);
			if (cmd > dst_size - made)
				return past_declared(at, dst_size);
			if (dst)
				memcpy(dst + made, p, cmd);
			p += cmd;
			made += cmd;
		} else {
			return err_set(ERR_VERIFY, "delta: reserved opcode 0 at byte %zu", at);
		}
	}
	if (made != dst_size)
		return err_set(ERR_VERIFY, "delta: makes %llu bytes, declares %llu", (unsigned long long)made,
			       (unsigned long long)dst_size);
	return 0;
}

int delta_apply(const unsigned char *src, size_t src_len, const unsigned char *delta, size_t delta_len,
		struct buf *out)
{
	uint64_t size;
	buf_clear(out);
	if (!src)
		src = empty, src_len = 0;
	if (!delta)
		delta = empty, delta_len = 0;
	/* First proved whole, then allocated and written: a hostile header
	 * cannot make us allocate more than the instructions really produce. */
	int rc = delta_run(src, src_len, delta, delta_len, NULL, &size);
	if (rc < 0)
		return rc;
	if (buf_grow(out, (size_t)size) < 0)
		return err_set(ERR_GENERIC, "delta: out of memory for a target of %llu bytes",
			       (unsigned long long)size);
	rc = delta_run(src, src_len, delta, delta_len, (unsigned char *)out->data, &size);
	if (rc < 0)
		return rc;
	out->len = (size_t)size;
	out->data[out->len] = '\0';
	return 0;
}
