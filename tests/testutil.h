/* testutil: what the randomised unit tests share: a seeded splitmix64 generator
 * (the same sequence on every libc; $STANDINGD_TEST_SEED replays a run) and
 * iteration counts that STANDINGD_TEST_QUICK=1 cuts tenfold (valgrind runs). */
#pragma once
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TEST_DEFAULT_SEED UINT64_C(20261123)

static uint64_t rng_state;

static inline uint64_t rng(void) {
	uint64_t z = (rng_state += UINT64_C(0x9E3779B97F4A7C15));
	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

/* Seeds the generator from $STANDINGD_TEST_SEED or the default; returns the seed. */
static inline uint64_t test_seed(void) {
	const char *s = getenv("STANDINGD_TEST_SEED");
	rng_state = s ? strtoull(s, NULL, 0) : TEST_DEFAULT_SEED;
	return rng_state;
}

static inline int iterations(int n) {
	const char *q = getenv("STANDINGD_TEST_QUICK");
	return q && strcmp(q, "1") == 0 ? (n / 10 > 0 ? n / 10 : 1) : n;
}
