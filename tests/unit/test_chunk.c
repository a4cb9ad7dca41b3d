/*
 * Unit tests for chunker_cut: where the store cuts a dump into blobs. What a
 * user relies on: no blob is larger than max_blob_size, a text dump is cut
 * between rows, and a small change to a large table adds a few new blobs,
 * not a new copy of the table.
 *
 * Streams are synthetic rows from a fixed-seed generator, so a failure
 * reproduces exactly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbgit/store.h"
#include "dbgit/util.h"

#include "check.h"

/* xorshift64*: the same stream on every platform. */
static uint64_t rng_state;
static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

/* One dump-like row: an INSERT of random width (40..440 bytes). */
static void add_row(struct buf *b, uint64_t id)
{
	static const char alpha[] = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	buf_printf(b, "INSERT INTO \"events\" VALUES(%llu,'", (unsigned long long)id);
	size_t n = 10 + rnd() % 400;
	for (size_t i = 0; i < n; i++)
		buf_add(b, &alpha[rnd() % (sizeof(alpha) - 1)], 1);
	buf_printf(b, "',%llu.5,X'%08llX');\n", (unsigned long long)(rnd() % 100000),
		   (unsigned long long)(rnd() & 0xffffffffu));
}

static void make_rows(struct buf *b, uint64_t seed, size_t bytes)
{
	rng_state = seed;
	uint64_t id = 1;
	while (b->len < bytes)
		add_row(b, id++);
}

struct chunks {
	size_t n;
	size_t *off, *len;
	char (*sum)[65];
};

static void chunks_free(struct chunks *c)
{
	free(c->off), free(c->len), free(c->sum);
	memset(c, 0, sizeof(*c));
}

static void chunks_add(struct chunks *c, const char *base, size_t off, size_t len)
{
	c->off = realloc(c->off, (c->n + 1) * sizeof(*c->off));
	c->len = realloc(c->len, (c->n + 1) * sizeof(*c->len));
	c->sum = realloc(c->sum, (c->n + 1) * sizeof(*c->sum));
	struct sha256 *h = sha256_new();
	sha256_update(h, base + off, len);
	sha256_final_hex(h, c->sum[c->n]);
	c->off[c->n] = off;
	c->len[c->n] = len;
	c->n++;
}

/* Cuts the whole of data as one call sequence with everything visible. */
static void cut_all(const struct chunker *ch, const char *data, size_t len, struct chunks *out)
{
	memset(out, 0, sizeof(*out));
	size_t off = 0;
	while (off < len) {
		size_t n = chunker_cut(ch, off, data + off, len - off, 1);
		if (n == 0 || n > len - off) {
			fprintf(stderr, "chunker_cut returned %zu with %zu left at eof\n", n, len - off);
			exit(2);
		}
		chunks_add(out, data, off, n);
		off += n;
	}
}

/* Cuts data as the snap writer does: written in random pieces, cut only
 * once a maximum chunk is pending, flushed at the end. */
static void cut_streaming(const struct chunker *ch, const char *data, size_t len, struct chunks *out)
{
	memset(out, 0, sizeof(*out));
	size_t fed = 0, start = 0; /* pending = data[start..fed) */
	while (fed < len) {
		size_t piece = 1 + rnd() % 100000;
		fed += piece < len - fed ? piece : len - fed;
		if (fed - start < chunker_max_at(ch, start))
			continue;
		size_t n;
		while (start < fed && (n = chunker_cut(ch, start, data + start, fed - start, 0)) > 0) {
			chunks_add(out, data, start, n);
			start += n;
		}
	}
	size_t n;
	while (start < len && (n = chunker_cut(ch, start, data + start, len - start, 1)) > 0) {
		chunks_add(out, data, start, n);
		start += n;
	}
}

static int has_sum(const struct chunks *c, const char *sum)
{
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->sum[i], sum))
			return 1;
	return 0;
}

/* Chunks of b that a also has: how many new blobs b adds after a. */
static size_t new_chunks(const struct chunks *a, const struct chunks *b)
{
	size_t n = 0;
	for (size_t i = 0; i < b->n; i++)
		if (!has_sum(a, b->sum[i]))
			n++;
	return n;
}

static void test_line_cuts_between_rows(void)
{
	struct chunker ch;
	chunker_init(&ch, CHUNK_LINES, 48u * 1024 * 1024);
	CHECK(ch.max <= 48u * 1024 * 1024 && ch.min < ch.avg && ch.avg <= ch.max,
	      "line chunker limits min %zu avg %zu max %zu", ch.min, ch.avg, ch.max);
	struct buf b = BUF_INIT;
	make_rows(&b, 1, 20u * 1024 * 1024);
	struct chunks c;
	cut_all(&ch, b.data, b.len, &c);
	int bad_end = 0, too_big = 0;
	for (size_t i = 0; i < c.n; i++) {
		if (c.len[i] > ch.max)
			too_big++;
		if (b.data[c.off[i] + c.len[i] - 1] != '\n')
			bad_end++;
	}
	CHECK(bad_end == 0, "%d of %zu chunks of a row stream end mid-row", bad_end, c.n);
	CHECK(too_big == 0, "%d chunks exceed max %zu", too_big, ch.max);
	size_t avg = b.len / c.n;
	CHECK(avg >= ch.avg / 4 && avg <= 2 * ch.avg,
	      "average chunk %zu bytes, configured average %zu (%zu chunks)", avg, ch.avg, c.n);
	/* The writer sees the stream in pieces; the cuts must not depend on
	 * how the engine happened to split its writes. */
	struct chunks s;
	rng_state = 99;
	cut_streaming(&ch, b.data, b.len, &s);
	int same = s.n == c.n;
	for (size_t i = 0; same && i < c.n; i++)
		same = s.off[i] == c.off[i] && s.len[i] == c.len[i];
	CHECK(same, "streaming cuts (%zu chunks) differ from whole-buffer cuts (%zu chunks)", s.n, c.n);
	chunks_free(&s);
	chunks_free(&c);
	buf_free(&b);
}

static void test_small_max_blob(void)
{
	/* max_blob_size = "64K" in the config: every chunk fits. */
	struct chunker ch;
	chunker_init(&ch, CHUNK_LINES, 65536);
	CHECK(ch.max <= 65536, "line max %zu above max_blob 65536", ch.max);
	struct buf b = BUF_INIT;
	make_rows(&b, 2, 4u * 1024 * 1024);
	struct chunks c;
	cut_all(&ch, b.data, b.len, &c);
	size_t biggest = 0;
	int bad_end = 0;
	for (size_t i = 0; i < c.n; i++) {
		if (c.len[i] > biggest)
			biggest = c.len[i];
		if (b.data[c.off[i] + c.len[i] - 1] != '\n')
			bad_end++;
	}
	CHECK(biggest <= 65536, "a chunk of %zu bytes with max_blob 65536", biggest);
	CHECK(bad_end == 0, "%d chunks end mid-row with max_blob 64K", bad_end);
	CHECK(c.n > 4u * 1024 * 1024 / 65536, "only %zu chunks for 4 MiB at max 64K", c.n);
	chunks_free(&c);
	buf_free(&b);
}

static void test_long_line_cut_at_max(void)
{
	/* One row (a large BLOB) longer than the maximum: the only mid-line
	 * cuts, each exactly max long, and the rows around it cut normally. */
	struct chunker ch;
	chunker_init(&ch, CHUNK_LINES, 65536);
	struct buf b = BUF_INIT;
	make_rows(&b, 3, 300000);
	size_t long_start = b.len;
	buf_puts(&b, "INSERT INTO \"blobs\" VALUES(1,X'");
	while (b.len < long_start + 5 * 65536 + 1234)
		buf_puts(&b, "DEADBEEF");
	buf_puts(&b, "');\n");
	size_t long_end = b.len;
	struct buf tail = BUF_INIT;
	make_rows(&tail, 4, 300000);
	buf_add(&b, tail.data, tail.len);
	struct chunks c;
	cut_all(&ch, b.data, b.len, &c);
	int mid = 0, bad = 0, over = 0;
	for (size_t i = 0; i < c.n; i++) {
		if (c.len[i] > ch.max)
			over++;
		if (i + 1 == c.n || b.data[c.off[i] + c.len[i] - 1] == '\n')
			continue;
		mid++;
		/* A mid-line cut only inside the long row, at exactly max. */
		if (c.len[i] != ch.max || c.off[i] < long_start || c.off[i] + c.len[i] > long_end ||
		    memchr(b.data + c.off[i], '\n', c.len[i]))
			bad++;
	}
	CHECK(over == 0, "%d chunks over max with a long row", over);
	CHECK(mid >= 5, "a row of %zu bytes cut mid-line only %d times (max %zu)", long_end - long_start, mid,
	      ch.max);
	CHECK(bad == 0, "%d mid-line cuts outside the long row or not at max", bad);
	/* The long row starts a chunk: the rows before it are cut as rows. */
	int starts = 0;
	for (size_t i = 0; i < c.n; i++)
		starts |= c.off[i] == long_start;
	CHECK(starts, "no chunk starts at the long row");
	chunks_free(&c);
	buf_free(&b);
	buf_free(&tail);
}

static void test_edit_moves_few_chunks(void)
{
	struct chunker ch;
	chunker_init(&ch, CHUNK_LINES, 48u * 1024 * 1024);
	struct buf b = BUF_INIT;
	make_rows(&b, 5, 20u * 1024 * 1024);
	struct chunks before;
	cut_all(&ch, b.data, b.len, &before);
	/* Edit one row at several places, one at a time: change a value in
	 * place, lengthen a row, delete a row, insert a row. */
	static const double where[] = {0.01, 0.25, 0.5, 0.61, 0.75, 0.99};
	size_t worst = 0;
	for (size_t k = 0; k < sizeof(where) / sizeof(where[0]); k++) {
		for (int kind = 0; kind < 4; kind++) {
			size_t at = (size_t)(where[k] * (double)b.len);
			while (b.data[at - 1] != '\n')
				at++; /* start of a row */
			const char *eol = memchr(b.data + at, '\n', b.len - at);
			size_t row_len = (size_t)(eol - (b.data + at)) + 1;
			struct buf e = BUF_INIT;
			buf_add(&e, b.data, at);
			switch (kind) {
			case 0: /* a value changed, same length */
				buf_add(&e, b.data + at, row_len);
				e.data[e.len - 10] = e.data[e.len - 10] == '0' ? '1' : '0';
				break;
			case 1: /* a longer text */
				buf_add(&e, b.data + at, row_len - 4);
				buf_puts(&e, " -- edited by the test ");
				buf_add(&e, b.data + at + row_len - 4, 4);
				break;
			case 2: /* row deleted */ break;
			case 3: /* row inserted */
				buf_puts(&e, "INSERT INTO \"events\" VALUES(0,'new row',1.5,X'00');\n");
				buf_add(&e, b.data + at, row_len);
				break;
			}
			buf_add(&e, b.data + at + row_len, b.len - at - row_len);
			struct chunks after;
			cut_all(&ch, e.data, e.len, &after);
			size_t n = new_chunks(&before, &after);
			CHECK(n >= 1 && n <= 2,
			      "edit kind %d at %.0f%% of a %zu-byte stream (%zu chunks): %zu new chunks",
			      kind, where[k] * 100, b.len, before.n, n);
			if (n > worst)
				worst = n;
			chunks_free(&after);
			buf_free(&e);
		}
	}
	CHECK(before.n >= 40, "a 20 MB stream gave only %zu chunks", before.n);
	printf("edit test: %zu chunks, at most %zu new per one-row edit\n", before.n, worst);
	chunks_free(&before);
	buf_free(&b);
}

static void test_append_keeps_prefix(void)
{
	struct chunker ch;
	chunker_init(&ch, CHUNK_LINES, 48u * 1024 * 1024);
	struct buf b = BUF_INIT;
	make_rows(&b, 6, 8u * 1024 * 1024);
	struct chunks before;
	cut_all(&ch, b.data, b.len, &before);
	/* New rows at the end (a table with a growing rowid). */
	uint64_t saved = rng_state;
	for (uint64_t id = 1000000; id < 1000000 + 3000; id++)
		add_row(&b, id);
	rng_state = saved;
	struct chunks after;
	cut_all(&ch, b.data, b.len, &after);
	int prefix = after.n >= before.n;
	for (size_t i = 0; prefix && i + 1 < before.n; i++)
		prefix = !strcmp(before.sum[i], after.sum[i]);
	CHECK(prefix, "appending rows changed chunks before the last (%zu -> %zu chunks)", before.n, after.n);
	size_t n = new_chunks(&before, &after);
	CHECK(n <= after.n - before.n + 1, "appending ~1 MB of rows added %zu new chunks (%zu -> %zu)", n,
	      before.n, after.n);
	chunks_free(&before);
	chunks_free(&after);
	buf_free(&b);
}

/* An encrypted table is cut finer (8 KiB), coarser with the offset in the
 * file so that a large table stays a bounded number of chunks. The real
 * doubling starts at 16 MiB; the same chunker with it at 1 MiB shows the
 * mechanism on a stream a unit test can afford. */
static void test_sealed_growth(void)
{
	struct chunker ch;
	chunker_init_sealed(&ch, CHUNK_LINES, 48u * 1024 * 1024);
	CHECK(ch.grow_from == 16ull << 20 && ch.grow_cap == 256 * 1024 && ch.avg == 8192,
	      "sealed chunker grows from %llu to %zu (avg %zu)", (unsigned long long)ch.grow_from, ch.grow_cap,
	      ch.avg);
	CHECK(chunker_max_at(&ch, 0) == 32768 && chunker_max_at(&ch, 16ull << 20) == 65536 &&
		      chunker_max_at(&ch, 64ull << 20) == 262144 && chunker_max_at(&ch, 3ull << 30) == 1024 * 1024,
	      "sealed maxima %zu %zu %zu %zu", chunker_max_at(&ch, 0), chunker_max_at(&ch, 16ull << 20),
	      chunker_max_at(&ch, 64ull << 20), chunker_max_at(&ch, 3ull << 30));
	ch.grow_from = 1u << 20;
	struct buf b = BUF_INIT;
	make_rows(&b, 11, 40u * 1024 * 1024);
	struct chunks c;
	cut_all(&ch, b.data, b.len, &c);
	/* Average chunk length in each region [2^k MiB, 2^(k+1) MiB). */
	size_t lo = 0, hi = 1u << 20, worst_ratio_x10 = 0;
	for (size_t expect = 8192; hi <= 32u << 20; expect *= 2) {
		size_t n = 0, bytes = 0, over = 0;
		for (size_t i = 0; i < c.n; i++)
			if (c.off[i] >= lo && c.off[i] < hi) {
				n++;
				bytes += c.len[i];
				over += c.len[i] > chunker_max_at(&ch, c.off[i]);
			}
		size_t avg = n ? bytes / n : 0;
		CHECK(n > 0 && avg >= expect / 3 && avg <= 2 * expect,
		      "region %zu..%zu MiB: %zu chunks of %zu bytes on average, expected about %zu", lo >> 20,
		      hi >> 20, n, avg, expect);
		CHECK(over == 0, "region %zu..%zu MiB: %zu chunks over their maximum", lo >> 20, hi >> 20, over);
		if (avg * 10 / expect > worst_ratio_x10)
			worst_ratio_x10 = avg * 10 / expect;
		lo = hi;
		hi *= 2;
		if (expect * 2 > ch.grow_cap)
			break;
	}
	/* The cuts do not depend on how the stream was written. */
	struct chunks s;
	rng_state = 42;
	cut_streaming(&ch, b.data, b.len, &s);
	int same = s.n == c.n;
	for (size_t i = 0; same && i < c.n; i++)
		same = s.off[i] == c.off[i] && s.len[i] == c.len[i];
	CHECK(same, "growing chunker: streaming cuts (%zu chunks) differ from whole-buffer cuts (%zu)", s.n, c.n);
	chunks_free(&s);
	/* A row inserted near the start shifts every offset after it: only
	 * the chunks next to the edit and next to each doubling point change. */
	size_t at = 1000;
	while (b.data[at - 1] != '\n')
		at++;
	struct buf e = BUF_INIT;
	buf_add(&e, b.data, at);
	buf_puts(&e, "INSERT INTO \"events\" VALUES(0,'a new row near the start',1.5,X'00');\n");
	buf_add(&e, b.data + at, b.len - at);
	struct chunks after;
	cut_all(&ch, e.data, e.len, &after);
	size_t n = new_chunks(&c, &after);
	CHECK(n >= 1 && n <= 12, "one row inserted: %zu new chunks of %zu (6 doubling points)", n, after.n);
	printf("sealed growth: %zu chunks for 40 MiB, %zu new after one inserted row\n", c.n, n);
	chunks_free(&after);
	chunks_free(&c);
	buf_free(&e);
	buf_free(&b);
}

static void test_fixed_mode(void)
{
	struct chunker ch;
	chunker_init(&ch, CHUNK_FIXED, 48u * 1024 * 1024);
	size_t size = ch.max;
	CHECK(size > 0 && size <= 48u * 1024 * 1024 && ch.min == size, "fixed size %zu", size);
	/* Pages contain newlines; fixed mode must ignore them. */
	size_t len = 5 * size + 4096;
	char *data = malloc(len);
	rng_state = 7;
	for (size_t i = 0; i < len; i++)
		data[i] = (char)(rnd() % 3 == 0 ? '\n' : rnd());
	CHECK(chunker_cut(&ch, 0, data, size - 1, 0) == 0, "fixed: cut before a full chunk is pending");
	CHECK(chunker_cut(&ch, 0, data, size, 0) == size, "fixed: a full chunk not cut at max");
	CHECK(chunker_cut(&ch, 0, data, len, 0) == size, "fixed: not cut at exactly max");
	CHECK(chunker_cut(&ch, 0, data, 4096, 1) == 4096, "fixed: the tail not flushed at eof");
	struct chunks c;
	cut_all(&ch, data, len, &c);
	int exact = c.n == 6;
	for (size_t i = 0; exact && i < 5; i++)
		exact = c.len[i] == size && c.off[i] == i * size;
	CHECK(exact && c.len[5] == 4096, "fixed: %zu chunks, not 5 of %zu and a 4096 tail", c.n, size);
	chunks_free(&c);
	/* A small max_blob_size bounds page chunks too. */
	chunker_init(&ch, CHUNK_FIXED, 65536);
	CHECK(ch.max == 65536 && chunker_cut(&ch, 0, data, len, 0) == 65536,
	      "fixed with max_blob 64K cuts at %zu", ch.max);
	free(data);
}

static void test_degenerate(void)
{
	struct chunker ch;
	chunker_init(&ch, CHUNK_LINES, 1024 * 1024);
	/* No newline yet and below max: wait for more, flush at eof. */
	CHECK(chunker_cut(&ch, 0, "abc", 3, 0) == 0, "cut inside an incomplete short line");
	CHECK(chunker_cut(&ch, 0, "abc", 3, 1) == 3, "eof: the tail not flushed");
	CHECK(chunker_cut(&ch, 0, "a\nb", 3, 1) >= 2, "eof: a cut inside the first line");
	/* A stream of empty lines still makes progress and respects max. */
	size_t len = 3 * ch.max;
	char *nl = malloc(len);
	memset(nl, '\n', len);
	struct chunks c;
	cut_all(&ch, nl, len, &c);
	size_t biggest = 0;
	for (size_t i = 0; i < c.n; i++)
		biggest = c.len[i] > biggest ? c.len[i] : biggest;
	CHECK(biggest <= ch.max && c.n >= 3, "empty lines: %zu chunks, biggest %zu", c.n, biggest);
	chunks_free(&c);
	free(nl);
}

int main(void)
{
	test_line_cuts_between_rows();
	test_small_max_blob();
	test_long_line_cut_at_max();
	test_edit_moves_few_chunks();
	test_append_keeps_prefix();
	test_fixed_mode();
	test_sealed_growth();
	test_degenerate();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
