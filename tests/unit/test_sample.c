/*
 * test_sample: verify --sample's pick (verify_sample_pick) gives distinct
 * indexes inside the range asked for, in ascending order, all of them when
 * the range is small, and over many draws reaches every index (it is
 * random, not the first N).
 */
#include <stdio.h>
#include <string.h>

#include "dbgit/verify.h"

#include "check.h"

/* out[0..k) is ascending, distinct, within [from, n). */
static int well_formed(const size_t *out, size_t k, size_t from, size_t n)
{
	for (size_t i = 0; i < k; i++) {
		if (out[i] < from || out[i] >= n)
			return 0;
		if (i && out[i - 1] >= out[i])
			return 0;
	}
	return 1;
}

int main(void)
{
	size_t out[64];
	/* Fewer candidates than asked for: all of them, in order. */
	size_t k = verify_sample_pick(1, 4, 10, out);
	CHECK(k == 3 && out[0] == 1 && out[1] == 2 && out[2] == 3, "small range: k=%zu", k);
	/* Nothing older than the newest. */
	CHECK(verify_sample_pick(1, 1, 3, out) == 0, "one snapshot: nothing to sample");
	CHECK(verify_sample_pick(1, 0, 3, out) == 0, "no snapshot: nothing to sample");
	CHECK(verify_sample_pick(5, 5, 0, out) == 0, "want 0");

	int seen[50];
	memset(seen, 0, sizeof(seen));
	for (int round = 0; round < 2000; round++) {
		k = verify_sample_pick(1, 50, 3, out);
		CHECK(k == 3, "round %d: %zu picks, want 3", round, k);
		CHECK(well_formed(out, k, 1, 50), "round %d: picks out of range, repeated or unsorted",
		      round);
		for (size_t i = 0; i < k; i++)
			if (out[i] < 50)
				seen[out[i]]++;
	}
	CHECK(seen[0] == 0, "the newest (index 0) was picked %d times", seen[0]);
	/* 6000 picks over 49 candidates: each expected ~122 times. */
	for (int i = 1; i < 50; i++)
		CHECK(seen[i] > 40, "index %d picked only %d times in 2000 rounds", i, seen[i]);

	/* Asking for all but one of a range. */
	k = verify_sample_pick(0, 10, 9, out);
	CHECK(k == 9 && well_formed(out, k, 0, 10), "9 of 10: k=%zu", k);
	return CHECK_DONE();
}
