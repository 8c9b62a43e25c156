/* testutil: what the randomised unit tests share: a seeded splitmix64 generator
 * (the same sequence on every libc; $STANDINGD_TEST_SEED replays a run) and
 * iteration counts that STANDINGD_TEST_QUICK=1 cuts tenfold (valgrind runs). */
#pragma once
#include <stdbool.h>
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

static inline int rnd(int lo, int hi) { /* inclusive */
	return lo + (int) (rng() % (uint64_t) (hi - lo + 1));
}

/* A naive calendar, independent of lib/time/cal.c, for the oracles. */
static inline bool n_leap(int y) { return y % 400 == 0 || (y % 4 == 0 && y % 100 != 0); }

static inline int n_dim(int y, int m) {
	if (m == 2)
		return n_leap(y) ? 29 : 28;
	return (m == 4 || m == 6 || m == 9 || m == 11) ? 30 : 31;
}

/* Days since 1970-01-01 by counting whole years and months. */
static inline int64_t n_days(int y, int m, int d) {
	int64_t n = 0;
	for (int yy = 1970; yy < y; yy++)
		n += n_leap(yy) ? 366 : 365;
	for (int yy = y; yy < 1970; yy++)
		n -= n_leap(yy) ? 366 : 365;
	for (int mm = 1; mm < m; mm++)
		n += n_dim(y, mm);
	return n + d - 1;
}
