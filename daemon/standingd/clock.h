/* clock: the daemon's notion of now. Real: CLOCK_REALTIME. Test clock: starts at
 * a given instant and runs SPEED times faster than CLOCK_MONOTONIC, so integration
 * tests cover months in seconds. Times are int64 milliseconds. */
#pragma once
#include <stdint.h>

typedef struct dclock {
	int test;
	int64_t start_ms;        /* virtual instant at mono0 */
	int64_t mono0_ms;
	double speed;
} dclock;

/* Parses "2026-12-01T00:00:00Z[,SPEED]"; 0 or -EINVAL. */
int dclock_parse_test(const char *arg, dclock *ret);
void dclock_real(dclock *ret);
int64_t dclock_now_ms(const dclock *c);
/* Real milliseconds until virtual delay_ms has passed. */
uint64_t dclock_real_delay(const dclock *c, int64_t delay_ms);
int64_t mono_ms(void);
int64_t real_ms(void);
