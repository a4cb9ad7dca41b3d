/*
 * Unit tests for src/store/delta.c, git's pack delta format: every delta
 * delta_create writes turns its source into its target again through
 * delta_apply, at the sizes that matter (empty, the 127-byte insert and
 * 0x10000 / 24-bit copy limits, offsets past 16 MiB), and costs about what
 * changed: a few lines changed, inserted or deleted in a dump of INSERT
 * lines give a delta of about those lines. delta_apply refuses every kind
 * of malformed delta with ERR_VERIFY and one line. The speed of both on a
 * 256 KiB chunk is printed, not asserted (this is the sanitized build).
 *
 * t7230 shows the same deltas through real git (index-pack, cat-file,
 * fsck); it drives this binary's tool mode:
 *   test_delta create SRC DST OUT [MAX_LEN]   writes the delta (exit 3 if
 *                                              it would pass MAX_LEN)
 *   test_delta apply SRC DELTA OUT            writes the result
 *   test_delta git-index REPO PACK             indexes PACK into the bare
 *                                              REPO with libgit2's indexer
 *   test_delta git-read REPO OID OUT           writes blob OID as libgit2
 *                                              reads it (size from the
 *                                              header checked too)
 * (libgit2 is what dbgit reads its repositories with.)
 *
 * Inputs come from a fixed-seed generator, so a failure reproduces exactly.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <git2.h>

#include "../../src/store/delta.h"
#include "dbgit/util.h"

#include "check.h"

/* xorshift64*: the same stream on every platform. */
static uint64_t rng_state = 1;
static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

static void add_random(struct buf *b, size_t n)
{
	buf_grow(b, n);
	for (size_t i = 0; i < n; i++)
		b->data[b->len++] = (char)(rnd() >> 56);
}

/* One dump line: an INSERT of the kind dbgit's SQL chunks hold. */
static void add_line(struct buf *b, uint64_t id)
{
	static const char alpha[] = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	buf_printf(b, "INSERT INTO \"events\" VALUES(%llu,'", (unsigned long long)id);
	size_t n = 10 + rnd() % 80;
	for (size_t i = 0; i < n; i++)
		buf_add(b, &alpha[rnd() % (sizeof(alpha) - 1)], 1);
	buf_printf(b, "',%llu.5,X'%08llX');\n", (unsigned long long)(rnd() % 100000),
		   (unsigned long long)(rnd() & 0xffffffffu));
}

/* Lines ids first.. until the text has at least `bytes`; *line_off gets
 * each line's start (and the end) when not NULL. */
static size_t make_lines(struct buf *b, uint64_t seed, size_t bytes, size_t **line_off)
{
	rng_state = seed;
	size_t n = 0, cap = 1024;
	size_t *off = malloc(cap * sizeof(*off));
	while (b->len < bytes) {
		if (n + 2 > cap)
			off = realloc(off, (cap *= 2) * sizeof(*off));
		off[n++] = b->len;
		add_line(b, n);
	}
	off[n] = b->len;
	if (line_off)
		*line_off = off;
	else
		free(off);
	return n;
}

/* dst = src[0, a) + ins + src[b, end). */
static void splice(struct buf *dst, const struct buf *src, size_t a, size_t b, const char *ins,
		   size_t ins_len)
{
	buf_clear(dst);
	buf_add(dst, src->data, a);
	buf_add(dst, ins, ins_len);
	buf_add(dst, src->data + b, src->len - b);
}

#define U(p) ((const unsigned char *)(p))

/* delta_create, then delta_apply must give dst back; returns the delta's
 * size (0 on failure). */
static size_t round_trip(const char *what, const struct buf *src, const struct buf *dst)
{
	struct buf delta = BUF_INIT, back = BUF_INIT;
	size_t size = 0;
	err_clear();
	int rc = delta_create(U(src->data), src->len, U(dst->data), dst->len, SIZE_MAX, &delta);
	if (rc == 1 && !dst->len) {
		buf_free(&delta);
		return 0; /* stored whole (test_empty) */
	}
	CHECK(rc == 0, "%s: delta_create: %d %s", what, rc, err_last());
	if (rc == 0) {
		CHECK(delta_target_size(U(delta.data), delta.len) == (int64_t)dst->len, "%s: target size",
		      what);
		rc = delta_apply(U(src->data), src->len, U(delta.data), delta.len, &back);
		CHECK(rc == 0, "%s: delta_apply: %s", what, err_last());
		CHECK(back.len == dst->len && (!dst->len || !memcmp(back.data, dst->data, dst->len)),
		      "%s: the applied delta (%zu bytes) differs from the target (%zu)", what, back.len,
		      dst->len);
		size = delta.len;
	}
	buf_free(&delta);
	buf_free(&back);
	return size;
}

static void test_empty(void)
{
	struct buf none = BUF_INIT, some = BUF_INIT, big = BUF_INIT, delta = BUF_INIT, back = BUF_INIT;
	buf_puts(&some, "hello, delta");
	CHECK(round_trip("empty to some", &none, &some) == 2 + 1 + some.len, "empty to some is one insert");
	/* git cannot read an empty blob stored as a delta (t7230): such a
	 * target is stored whole. */
	CHECK(delta_create(U(""), 0, U(""), 0, SIZE_MAX, &delta) == 1, "empty to empty: stored whole");
	CHECK(delta_create(U(some.data), some.len, U(""), 0, SIZE_MAX, &delta) == 1, "some to empty: whole");
	add_random(&big, 1 << 14);
	CHECK(delta_create(U(big.data), big.len, NULL, 0, SIZE_MAX, &delta) == 1, "16 KiB to empty: whole");
	CHECK(delta_create(NULL, 0, NULL, 0, SIZE_MAX, &delta) == 1, "NULL, 0: whole");
	/* NULL with length 0 is an empty buffer too. */
	CHECK(delta_create(NULL, 0, U(some.data), some.len, SIZE_MAX, &delta) == 0, "NULL to some");
	CHECK(delta_apply(NULL, 0, U(delta.data), delta.len, &back) == 0 && back.len == some.len,
	      "apply to NULL");
	/* The smallest deltas: one byte inserted, one copied. */
	CHECK(delta_create(NULL, 0, U("x"), 1, SIZE_MAX, &delta) == 0 && delta.len == 4, "one byte inserted");
	CHECK(delta_create(U("x"), 1, U("x"), 1, SIZE_MAX, &delta) == 0 && delta.len == 4, "one byte: %zu",
	      delta.len);
	buf_free(&some);
	buf_free(&big);
	buf_free(&delta);
	buf_free(&back);
}

static void test_text_edits(void)
{
	struct buf src = BUF_INIT, dst = BUF_INIT;
	size_t *line;
	size_t n = make_lines(&src, 42, 1 << 20, &line);
	const char *extra =
	    "INSERT INTO \"events\" VALUES(123456789,'a row that was not there before',1.5,X'00');\n";
	size_t extra_len = strlen(extra);
	char what[128];

	size_t d = round_trip("identical", &src, &src);
	printf("# 1 MiB of INSERT lines, identical: delta %zu bytes\n", d);
	CHECK(d > 0 && d < 16, "identical 1 MiB: %zu bytes (one copy)", d);

	splice(&dst, &src, src.len / 2, src.len / 2 + 1, "#", 1);
	d = round_trip("one byte changed", &src, &dst);
	printf("# one byte changed: delta %zu bytes\n", d);
	CHECK(d > 0 && d < 32, "one byte changed: %zu bytes", d);

	size_t at[3] = {0, n / 2, n};
	const char *where[3] = {"start", "middle", "end"};
	for (int k = 0; k < 3; k++) {
		splice(&dst, &src, line[at[k]], line[at[k]], extra, extra_len);
		snprintf(what, sizeof(what), "a line inserted at the %s", where[k]);
		d = round_trip(what, &src, &dst);
		printf("# %s: delta %zu bytes (the line is %zu)\n", what, d, extra_len);
		CHECK(d > 0 && d < extra_len + 32, "%s: %zu bytes", what, d);

		size_t l = at[k] < n ? at[k] : n - 1;
		splice(&dst, &src, line[l], line[l + 1], "", 0);
		snprintf(what, sizeof(what), "a line deleted at the %s", where[k]);
		d = round_trip(what, &src, &dst);
		printf("# %s: delta %zu bytes\n", what, d);
		CHECK(d > 0 && d < 32, "%s: %zu bytes", what, d);
	}

	/* Every shift of the rest by 1..40 bytes is still found (rolling hash). */
	for (size_t shift = 1; shift <= 40; shift++) {
		splice(&dst, &src, line[3], line[3], "0123456789012345678901234567890123456789", shift);
		snprintf(what, sizeof(what), "%zu bytes inserted", shift);
		d = round_trip(what, &src, &dst);
		CHECK(d > 0 && d < shift + 32, "%s: %zu bytes", what, d);
	}
	free(line);
	buf_free(&src);
	buf_free(&dst);
}

/* The brief's yardstick: a 2,500-line chunk with 10 lines changed. */
static void test_ten_lines(void)
{
	struct buf src = BUF_INIT, dst = BUF_INIT, line = BUF_INIT;
	size_t *off;
	size_t n = 0;
	rng_state = 7;
	off = malloc(2501 * sizeof(*off));
	for (n = 0; n < 2500; n++) {
		off[n] = src.len;
		add_line(&src, n + 1);
	}
	off[n] = src.len;
	/* Ten lines, each rewritten (same id, new values), in sorted order. */
	size_t from = 0, changed = 0;
	for (int k = 0; k < 10; k++) {
		size_t l = 100 + (size_t)k * 240 + rnd() % 200;
		buf_add(&dst, src.data + off[from], off[l] - off[from]);
		buf_clear(&line);
		add_line(&line, l + 1);
		buf_add(&dst, line.data, line.len);
		changed += line.len;
		from = l + 1;
	}
	buf_add(&dst, src.data + off[from], src.len - off[from]);
	size_t d = round_trip("10 lines changed in 2,500", &src, &dst);
	printf("# 10 lines changed in 2,500 (%zu bytes, %zu of them new): delta %zu bytes, %.2f%% of the "
	       "target\n",
	       dst.len, changed, d, 100.0 * (double)d / (double)dst.len);
	CHECK(d > 0 && d * 20 < dst.len, "10 of 2,500 lines: delta %zu of %zu bytes, not below 5%%", d,
	      dst.len);
	CHECK(d < changed + 10 * 32, "10 of 2,500 lines: delta %zu bytes for %zu changed", d, changed);
	free(off);
	buf_free(&src);
	buf_free(&dst);
	buf_free(&line);
}

static void test_unrelated(void)
{
	struct buf src = BUF_INIT, dst = BUF_INIT, delta = BUF_INIT;
	rng_state = 99;
	add_random(&src, 300000);
	add_random(&dst, 300000);
	/* The caller's cap: past it, delta_create gives up with 1. */
	CHECK(delta_create(U(src.data), src.len, U(dst.data), dst.len, dst.len / 2, &delta) == 1,
	      "unrelated target, max_len half of it: 1");
	CHECK(delta_create(U(src.data), src.len, U(dst.data), dst.len, 1, &delta) == 1,
	      "max_len below the header: 1");
	size_t d = round_trip("unrelated random", &src, &dst);
	/* Inserts cost one byte per 127 on top of the bytes themselves. */
	CHECK(d > dst.len && d <= dst.len + dst.len / 127 + 16, "unrelated: %zu bytes for %zu", d, dst.len);
	/* A text to another text: the common prefixes may be copied, the rest is inserted. */
	buf_clear(&src);
	buf_clear(&dst);
	make_lines(&src, 1, 256 << 10, NULL);
	make_lines(&dst, 2, 256 << 10, NULL);
	d = round_trip("unrelated text", &src, &dst);
	printf("# two unrelated 256 KiB texts: delta %zu bytes\n", d);
	CHECK(d > 0 && d < dst.len + dst.len / 64, "unrelated text: %zu bytes", d);
	buf_free(&src);
	buf_free(&dst);
	buf_free(&delta);
}

/* Random binary with random edits, and the degenerate inputs (runs,
 * short periods) that crowd a hash table. */
static void test_binary(void)
{
	struct buf src = BUF_INIT, dst = BUF_INIT, piece = BUF_INIT;
	char what[64];
	rng_state = 5;
	for (int round = 0; round < 200; round++) {
		buf_clear(&src);
		size_t len = rnd() % (round < 100 ? 300 : 100000);
		int kind = (int)(rnd() % 3);
		for (size_t i = 0; i < len; i++) {
			char c = kind == 0   ? (char)(rnd() >> 56)
				 : kind == 1 ? (char)(i % 7)
					     : (char)(rnd() % 2);
			buf_add(&src, &c, 1);
		}
		/* dst: pieces of src (any offset, any order) and new bytes. */
		buf_clear(&dst);
		int pieces = (int)(rnd() % 8);
		for (int p = 0; p < pieces; p++) {
			if (rnd() % 2 && src.len) {
				size_t a = rnd() % src.len, l = rnd() % (src.len - a + 1);
				buf_add(&dst, src.data + a, l);
			} else {
				buf_clear(&piece);
				add_random(&piece, rnd() % 300);
				buf_add(&dst, piece.data, piece.len);
			}
		}
		snprintf(what, sizeof(what), "binary round %d", round);
		round_trip(what, &src, &dst);
	}
	buf_clear(&src);
	buf_clear(&dst);
	buf_grow(&src, 1 << 20);
	memset(src.data, 0, 1 << 20);
	src.len = 1 << 20;
	buf_add(&dst, src.data, src.len);
	dst.data[12345] = 1;
	size_t d = round_trip("1 MiB of zeros, one byte changed", &src, &dst);
	CHECK(d > 0 && d < 32, "zeros: %zu bytes", d);
	buf_free(&src);
	buf_free(&dst);
	buf_free(&piece);
}

/* The ops' limits: inserts of 127 bytes, copies of 0x10000 (written as
 * size 0) and of 24 bits. */
static void test_limits(void)
{
	struct buf none = BUF_INIT, src = BUF_INIT, dst = BUF_INIT, delta = BUF_INIT;
	char what[64];
	size_t ins[] = {1, 126, 127, 128, 254, 255, 1000};
	rng_state = 11;
	for (size_t k = 0; k < sizeof(ins) / sizeof(ins[0]); k++) {
		buf_clear(&dst);
		add_random(&dst, ins[k]);
		snprintf(what, sizeof(what), "an insert of %zu bytes", ins[k]);
		size_t d = round_trip(what, &none, &dst);
		size_t header = ins[k] < 128 ? 2 : 3;
		CHECK(d == header + ins[k] + (ins[k] + 126) / 127, "%s: %zu bytes", what, d);
	}
	size_t copies[] = {16, 0xffff, 0x10000, 0x10001, 0x20000, 0xffffff, 0x1000000, 0x1000001};
	for (size_t k = 0; k < sizeof(copies) / sizeof(copies[0]); k++) {
		buf_clear(&src);
		add_random(&src, copies[k]);
		snprintf(what, sizeof(what), "a copy of %#zx bytes", copies[k]);
		size_t d = round_trip(what, &src, &src);
		CHECK(d > 0 && d < 24, "%s: %zu bytes", what, d);
	}
	/* Exactly 0x10000 from offset 0 is the lone opcode 0x80, as git writes it. */
	buf_clear(&src);
	add_random(&src, 0x10000);
	CHECK(delta_create(U(src.data), src.len, U(src.data), src.len, SIZE_MAX, &delta) == 0, "0x10000");
	CHECK(delta.len == 7 && (unsigned char)delta.data[6] == 0x80,
	      "0x10000 is copied by 0x80 alone (%zu bytes)", delta.len);
	buf_free(&src);
	buf_free(&dst);
	buf_free(&delta);
}

/* A source past 16 MiB: copies need the fourth offset byte. */
static void test_big_source(void)
{
	struct buf src = BUF_INIT, dst = BUF_INIT, delta = BUF_INIT, back = BUF_INIT;
	rng_state = 13;
	add_random(&src, (17 << 20) + 5);
	buf_add(&dst, "head", 4);
	buf_add(&dst, src.data + (16 << 20) + 1000, 300000);
	buf_add(&dst, src.data + 77, 5000);
	buf_add(&dst, src.data + src.len - 100, 100);
	CHECK(delta_create(U(src.data), src.len, U(dst.data), dst.len, SIZE_MAX, &delta) == 0,
	      "17 MiB source");
	CHECK(delta.len < 64, "17 MiB source: delta %zu bytes", delta.len);
	/* The first copy's opcode: after the 4+3 header bytes and the 5 of "head". */
	CHECK(delta.len > 12 && ((unsigned char)delta.data[4 + 3 + 5] & 0x88) == 0x88,
	      "the copy from past 16 MiB has its fourth offset byte");
	CHECK(delta_apply(U(src.data), src.len, U(delta.data), delta.len, &back) == 0, "apply: %s",
	      err_last());
	CHECK(back.len == dst.len && !memcmp(back.data, dst.data, dst.len), "17 MiB source round trip");
	buf_free(&src);
	buf_free(&dst);
	buf_free(&delta);
	buf_free(&back);
}

struct bad {
	const char *what;
	const char *bytes;
	size_t len;
};
#define BAD(what, lit)                                                                                       \
	{                                                                                                    \
		what, lit, sizeof(lit) - 1                                                                   \
	}

static void test_malformed(void)
{
	/* Applied to the 16-byte source below. */
	static const struct bad bad[] = {
	    BAD("an empty delta", ""),
	    BAD("no target size", "\x10"),
	    BAD("a truncated source size", "\x90\x90\x90\x90"),
	    BAD("a truncated target size", "\x10\x85\x85\x85"),
	    BAD("a size varint of six bytes", "\x10\x80\x80\x80\x80\x80\x00"),
	    BAD("a target size beyond 4 GiB", "\x10\x80\x80\x80\x80\x10"),
	    BAD("the wrong source size", "\x05\x00\x00\x00"),
	    BAD("two bytes, under git's minimum of 4", "\x10\x00"),
	    BAD("three bytes, under git's minimum of 4", "\x10\x01\x01"),
	    BAD("an empty target, which git cannot read", "\x90\x00\x00\x00"),
	    BAD("reserved opcode 0", "\x10\x01\x00"),
	    BAD("opcode 0 after a good insert", "\x10\x02\x01x\x00"),
	    BAD("a copy past the source's end", "\x10\x04\x91\x0e\x04"),
	    BAD("a copy at an offset past the source", "\x10\x01\x91\x20\x01"),
	    BAD("a copy of 0x10000 (size 0) from 16 bytes", "\x10\x00\x80"),
	    BAD("a copy of the largest offset and size", "\x10\x01\xff\xff\xff\xff\xff\xff\xff\xff"),
	    BAD("a copy missing its offset byte", "\x10\x04\x91"),
	    BAD("a copy missing its size byte", "\x10\x04\x91\x00"),
	    BAD("an insert past the delta's end", "\x10\x05\x05"
						  "ab"),
	    BAD("an insert of 127 with nothing", "\x10\x7f\x7f"),
	    BAD("fewer bytes than declared", "\x10\x05\x02"
					     "ab"),
	    BAD("an insert past the declared size", "\x10\x01\x02"
						    "ab"),
	    BAD("a copy past the declared size", "\x10\x04\x90\x08"),
	    BAD("4 GiB declared, nothing made", "\x10\xff\xff\xff\xff\x0f"),
	    BAD("4 GiB declared, one copy made", "\x10\xff\xff\xff\xff\x0f\x90\x10"),
	};
	const unsigned char *src = U("0123456789abcdef");
	struct buf out = BUF_INIT;
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		err_clear();
		buf_puts(&out, "left over");
		int rc = delta_apply(src, 16, U(bad[k].bytes), bad[k].len, &out);
		CHECK(rc == ERR_VERIFY, "%s: %d, not ERR_VERIFY", bad[k].what, rc);
		CHECK(out.len == 0, "%s: out not cleared", bad[k].what);
		CHECK(!strncmp(err_last(), "delta: ", 7) && !strchr(err_last(), '\n'), "%s: message '%s'",
		      bad[k].what, err_last());
	}
	CHECK(delta_apply(src, 16, NULL, 0, &out) == ERR_VERIFY, "a NULL delta");
	/* The good deltas next to them pass. */
	CHECK(delta_apply(src, 16, U("\x10\x03\x90\x03"), 4, &out) == 0 && out.len == 3 &&
		  !memcmp(out.data, "012", 3),
	      "a copy of 3 at 0");
	CHECK(delta_apply(src, 16, U("\x10\x04\x91\x0c\x04"), 5, &out) == 0 && !memcmp(out.data, "cdef", 4),
	      "a copy up to the source's last byte");
	CHECK(delta_apply(src, 16, U("\x10\x05\x02xy\x91\x0e\x02\x01z"), 10, &out) == 0 &&
		  !memcmp(out.data, "xyefz", 5),
	      "insert, copy, insert");
	/* A copy of explicit size 0x10000 (bit 6 set, bytes 00 00 01) is as valid as size 0. */
	struct buf big = BUF_INIT;
	add_random(&big, 0x10000);
	CHECK(delta_apply(U(big.data), big.len, U("\x80\x80\x04\x80\x80\x04\xc0\x01"), 8, &out) == 0 &&
		  out.len == 0x10000,
	      "size 0x10000 in three bytes: %s", err_last());

	CHECK(delta_target_size(U("\x10\x85\x01"), 3) == 133, "target size 133");
	CHECK(delta_target_size(U("\x10\x85"), 2) == -1, "truncated target size");
	CHECK(delta_target_size(U("\x10\xff\xff\xff\xff\x0f"), 6) == 0xffffffffll, "target size 2^32-1");
	CHECK(delta_target_size(U("\x10\x80\x80\x80\x80\x10"), 6) == -1, "target size 2^32");
	CHECK(delta_target_size(NULL, 0) == -1, "NULL");
	buf_free(&out);
	buf_free(&big);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One measured case: MB/s of target through delta_create (with max_len)
 * and, when it made a delta, delta_apply; printed, not asserted. */
static void measure(const char *what, const struct buf *src, const struct buf *dst, size_t max_len)
{
	struct buf delta = BUF_INIT, back = BUF_INIT;
	int runs = 0, rc;
	double t0 = now(), t;
	do {
		rc = delta_create(U(src->data), src->len, U(dst->data), dst->len, max_len, &delta);
		runs++;
	} while ((t = now() - t0) < 0.2);
	double create = (double)dst->len * runs / t / 1e6;
	if (rc != 0) {
		printf("#   %-44s gave up (%d)           create %6.0f MB/s\n", what, rc, create);
		buf_free(&delta);
		return;
	}
	runs = 0;
	t0 = now();
	do {
		delta_apply(U(src->data), src->len, U(delta.data), delta.len, &back);
		runs++;
	} while ((t = now() - t0) < 0.1);
	double apply = (double)dst->len * runs / t / 1e6;
	CHECK(back.len == dst->len && !memcmp(back.data, dst->data, dst->len), "%s: round trip", what);
	printf("#   %-44s delta %7zu bytes  create %6.0f MB/s  apply %6.0f MB/s\n", what, delta.len, create,
	       apply);
	buf_free(&delta);
	buf_free(&back);
}

/* dst: src's lines with `edits` of them rewritten in place (every third
 * one deleted instead when mixed, every third one kept with a new line
 * before it). */
static void edit_lines(struct buf *dst, const struct buf *src, const size_t *off, size_t n, int edits,
		       int mixed, void (*line)(struct buf *, uint64_t))
{
	size_t from = 0;
	buf_clear(dst);
	for (int k = 0; k < edits; k++) {
		size_t l = (size_t)k * (n / (size_t)edits) + rnd() % (n / (size_t)edits);
		buf_add(dst, src->data + off[from], off[l] - off[from]);
		if (!mixed || k % 3 != 1)
			line(dst, l + 1);
		from = mixed && k % 3 == 2 ? l : l + 1;
	}
	buf_add(dst, src->data + off[from], src->len - off[from]);
}

/* Narrow rows: every line shares most of its bytes with every other. */
static void add_narrow(struct buf *b, uint64_t id)
{
	buf_printf(b, "INSERT INTO \"t\" VALUES(%llu,NULL,NULL,%llu);\n", (unsigned long long)id,
		   (unsigned long long)(rnd() % 3));
}

static size_t make_narrow(struct buf *b, size_t bytes, size_t **line_off)
{
	size_t n = 0, cap = 1024;
	size_t *off = malloc(cap * sizeof(*off));
	while (b->len < bytes) {
		if (n + 2 > cap)
			off = realloc(off, (cap *= 2) * sizeof(*off));
		off[n++] = b->len;
		add_narrow(b, n);
	}
	off[n] = b->len;
	*line_off = off;
	return n;
}

/* The nightly case (a 256 KiB chunk of INSERT lines, a few edited) and
 * the inputs that are hard on the index: narrow rows, unrelated texts,
 * binary, runs and short periods. Speed depends on the build: the ctest
 * build is sanitized, several times slower than a release build. */
static void test_speed(void)
{
	struct buf src = BUF_INIT, dst = BUF_INIT, other = BUF_INIT;
	size_t *off, n;
	printf("# speed (this build), 256 KiB chunks:\n");
	n = make_lines(&src, 3, 256 << 10, &off);
	rng_state = 17;
	edit_lines(&dst, &src, off, n, 12, 1, add_line);
	measure("INSERT lines, 12 edited/inserted/deleted", &src, &dst, SIZE_MAX);
	measure("INSERT lines, identical", &src, &src, SIZE_MAX);
	rng_state = 18;
	edit_lines(&dst, &src, off, n, 200, 0, add_line);
	measure("INSERT lines, 200 of 2,700 rewritten", &src, &dst, SIZE_MAX);
	make_lines(&other, 4, 256 << 10, NULL);
	measure("INSERT lines, all new", &src, &other, SIZE_MAX);
	measure("INSERT lines, all new, max_len = half", &src, &other, other.len / 2);
	free(off);
	buf_clear(&src);
	rng_state = 19;
	n = make_narrow(&src, 256 << 10, &off);
	edit_lines(&dst, &src, off, n, 12, 1, add_narrow);
	measure("narrow rows (6,000), 12 edited", &src, &dst, SIZE_MAX);
	free(off);
	buf_clear(&src);
	buf_clear(&dst);
	rng_state = 20;
	add_random(&src, 256 << 10);
	buf_add(&dst, src.data, src.len);
	for (int k = 0; k < 2600; k++)
		dst.data[rnd() % dst.len] = (char)rnd();
	measure("random binary, 1% of bytes changed", &src, &dst, SIZE_MAX);
	buf_clear(&src);
	buf_clear(&dst);
	for (size_t i = 0; i < 256 << 10; i++) {
		char c = (char)"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_=+()[]{};:,.<"
			       ">/?!@#$%^&*~"[i % 100 % 90];
		buf_add(&src, &c, 1);
	}
	splice(&dst, &src, 1000, 1000, "x", 1);
	measure("a period of 100 bytes, one byte inserted", &src, &dst, SIZE_MAX);
	buf_clear(&src);
	buf_grow(&src, 256 << 10);
	memset(src.data, 0, 256 << 10);
	src.len = 256 << 10;
	splice(&dst, &src, 5000, 5001, "\1", 1);
	measure("zeros, one byte changed", &src, &dst, SIZE_MAX);
	buf_free(&src);
	buf_free(&dst);
	buf_free(&other);
}

static int read_file(const char *path, struct buf *b)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		return -1;
	}
	char tmp[65536];
	size_t n;
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		buf_add(b, tmp, n);
	int bad = ferror(f);
	fclose(f);
	return bad ? -1 : 0;
}

static int write_file(const char *path, const struct buf *b)
{
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(b->data ? b->data : "", 1, b->len, f) != b->len || fclose(f)) {
		perror(path);
		return -1;
	}
	return 0;
}

/* git-index REPO PACK: the pack into REPO/objects/pack by libgit2's indexer. */
static int lg2_index(const char *repo_path, const char *pack)
{
	git_repository *repo = NULL;
	git_odb *odb = NULL;
	git_indexer *idx = NULL;
	git_indexer_progress stats;
	struct buf data = BUF_INIT;
	char *dir = xasprintf("%s/objects/pack", repo_path);
	int rc = 1;
	if (read_file(pack, &data) < 0)
		goto out;
	if (git_repository_open_bare(&repo, repo_path) < 0 || git_repository_odb(&odb, repo) < 0 ||
	    git_indexer_new(&idx, dir, 0, odb, NULL) < 0 ||
	    git_indexer_append(idx, data.data, data.len, &stats) < 0 || git_indexer_commit(idx, &stats) < 0) {
		fprintf(stderr, "libgit2: %s\n", git_error_last() ? git_error_last()->message : "?");
		goto out;
	}
	printf("%u objects, %u deltas resolved\n", stats.indexed_objects, stats.indexed_deltas);
	rc = 0;
out:
	git_indexer_free(idx);
	git_odb_free(odb);
	git_repository_free(repo);
	buf_free(&data);
	free(dir);
	return rc;
}

/* git-read REPO OID OUT: the blob as libgit2 reads it. */
static int lg2_read(const char *repo_path, const char *hex, const char *out)
{
	git_repository *repo = NULL;
	git_odb *odb = NULL;
	git_blob *blob = NULL;
	git_oid id;
	git_object_t type;
	size_t size;
	int rc = 1;
	if (git_repository_open_bare(&repo, repo_path) < 0 || git_oid_fromstr(&id, hex) < 0 ||
	    git_repository_odb(&odb, repo) < 0 || git_odb_read_header(&size, &type, odb, &id) < 0 ||
	    git_blob_lookup(&blob, repo, &id) < 0) {
		fprintf(stderr, "libgit2: %s\n", git_error_last() ? git_error_last()->message : "?");
		goto out;
	}
	struct buf b = {(char *)git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob), 0};
	if (type != GIT_OBJECT_BLOB || size != b.len) {
		fprintf(stderr, "libgit2: header says type %d size %zu, the blob has %zu bytes\n", (int)type,
			size, b.len);
		goto out;
	}
	rc = write_file(out, &b) < 0 ? 1 : 0;
out:
	git_blob_free(blob);
	git_odb_free(odb);
	git_repository_free(repo);
	return rc;
}

/* The tool mode t7230 drives (see the top). */
static int tool(int argc, char **argv)
{
	if (!strcmp(argv[1], "git-index") || !strcmp(argv[1], "git-read")) {
		int index = !strcmp(argv[1], "git-index");
		if (argc != (index ? 4 : 5)) {
			fprintf(stderr, "usage: test_delta git-index REPO PACK | git-read REPO OID OUT\n");
			return 2;
		}
		git_libgit2_init();
		int rc = index ? lg2_index(argv[2], argv[3]) : lg2_read(argv[2], argv[3], argv[4]);
		git_libgit2_shutdown();
		return rc;
	}
	struct buf a = BUF_INIT, b = BUF_INIT, out = BUF_INIT;
	int create = !strcmp(argv[1], "create");
	int rc = 2;
	if ((!create && strcmp(argv[1], "apply")) || argc < 5 || argc > 6 || (!create && argc != 5)) {
		fprintf(stderr, "usage: test_delta create SRC DST OUT [MAX_LEN] | apply SRC DELTA OUT\n");
		return 2;
	}
	if (read_file(argv[2], &a) < 0 || read_file(argv[3], &b) < 0)
		goto out;
	int r = create ? delta_create(U(a.data), a.len, U(b.data), b.len,
				      argc == 6 ? strtoull(argv[5], NULL, 10) : SIZE_MAX, &out)
		       : delta_apply(U(a.data), a.len, U(b.data), b.len, &out);
	if (r < 0) {
		fprintf(stderr, "%s\n", err_last());
		rc = 1;
	} else if (r == 1) {
		rc = 3;
	} else {
		rc = write_file(argv[4], &out) < 0 ? 1 : 0;
	}
out:
	buf_free(&a);
	buf_free(&b);
	buf_free(&out);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		return tool(argc, argv);
	test_empty();
	test_text_edits();
	test_ten_lines();
	test_unrelated();
	test_binary();
	test_limits();
	test_big_source();
	test_malformed();
	test_speed();
	return CHECK_DONE();
}
