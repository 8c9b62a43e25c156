#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "lib/time/cal.h"
#include "daemon/standingd/clock.h"

static int64_t ms_of(clockid_t id) {
	struct timespec ts;
	clock_gettime(id, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t mono_ms(void) { return ms_of(CLOCK_MONOTONIC); }
int64_t real_ms(void) { return ms_of(CLOCK_REALTIME); }

int dclock_parse_test(const char *arg, dclock *ret) {
	char buf[64];
	const char *comma = strchr(arg, ',');
	size_t len = comma ? (size_t) (comma - arg) : strlen(arg);
	if (len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, arg, len);
	buf[len] = 0;
	int64_t start;
	if (cal_parse_instant(buf, &start) < 0)
		return -EINVAL;
	double speed = 1;
	if (comma) {
		char *end;
		errno = 0;
		speed = strtod(comma + 1, &end);
		if (errno || *end || end == comma + 1 || !(speed > 0) || speed > 1e9)
			return -EINVAL;
	}
	*ret = (dclock) { .test = 1, .start_ms = start * 1000, .mono0_ms = mono_ms(), .speed = speed };
	return 0;
}

void dclock_real(dclock *ret) {
	*ret = (dclock) { .speed = 1 };
}

int64_t dclock_now_ms(const dclock *c) {
	if (!c->test)
		return real_ms();
	return c->start_ms + (int64_t) ((double) (mono_ms() - c->mono0_ms) * c->speed);
}

uint64_t dclock_real_delay(const dclock *c, int64_t delay_ms) {
	if (delay_ms <= 0)
		return 0;
	double real = (double) delay_ms / c->speed;
	if (real > 86400000.0)
		return 86400000;
	return (uint64_t) real + 1;
}
