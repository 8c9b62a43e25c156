/* cron: cron_parse, then cron_next and rule_next/rule_each on the result. The
 * input's first line is the expression; the bytes after it, when there are any,
 * choose the zone, start, count and the instant asked about (binary, so that the
 * fuzzer can mutate them; a plain expression gets no start, no count, UTC, now).
 * Invariants: parse refusals have a message and leave *ret alone; cron_next
 * answers a matching, minute-aligned time strictly later and no earlier match
 * exists (checked minute by minute up to 3 days); a rule's occurrences come in
 * strictly increasing order, count bounds n, and rule_each, rule_nth_after and
 * rule_count agree with rule_next; cron_index numbers matches
 * consecutively and maps each number back to its minute. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lib/time/cal.h"
#include "lib/time/cron.h"
#include "tests/fuzz/fuzz.h"
#include "lib/time/rule.h"

#define CHECK_MINUTES (3 * 24 * 60)

static const char *const zones[] = {
	"UTC", "Europe/Helsinki", "America/New_York", "Asia/Ho_Chi_Minh", "Australia/Lord_Howe",
};

static tz_db *db;

static uint32_t u32(const uint8_t *p) {
	return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static void check_fields(const cron_expr *c) {
	FUZZ_CHECK(c->minute && !(c->minute >> 60), "minute bits %llx", (unsigned long long) c->minute);
	FUZZ_CHECK(c->hour && !(c->hour >> 24), "hour bits");
	FUZZ_CHECK(c->dom && !(c->dom & 1), "dom bits");
	FUZZ_CHECK(c->month && !(c->month & ~UINT16_C(0x1ffe)), "month bits");
	FUZZ_CHECK(c->dow && !(c->dow & 0x80), "dow bits");
}

static void check_next(const cron_expr *c, const cron_index *ix, int64_t local) {
	int64_t prev_k = 0;
	for (int step = 0; step < 8; step++) {
		int64_t next;
		int r = cron_next(c, local, &next);
		if (r == -ENOENT) {
			for (int64_t m = cal_floordiv(local, 60) * 60 + 60, k = 0; k < CHECK_MINUTES; m += 60, k++)
				FUZZ_CHECK(!cron_matches(c, m), "-ENOENT after %lld, yet %lld matches",
					   (long long) local, (long long) m);
			return;
		}
		FUZZ_CHECK(r == 0, "cron_next(%lld): %d", (long long) local, r);
		FUZZ_CHECK(next > local && next % 60 == 0 && cron_matches(c, next),
			   "cron_next(%lld) = %lld", (long long) local, (long long) next);
		FUZZ_CHECK(cron_matches_day(c, cal_floordiv(next, CAL_SECS_PER_DAY)), "day of %lld", (long long) next);
		/* numbering without walking: next is match number before(next), the one after it is +1 */
		int64_t k = cron_index_before(ix, next), at;
		FUZZ_CHECK(cron_index_at(ix, k, &at) == 0 && at == next, "cron_index_at(%lld) = %lld, want %lld",
			   (long long) k, (long long) at, (long long) next);
		FUZZ_CHECK(step == 0 || k == prev_k + 1, "match numbers %lld then %lld", (long long) prev_k, (long long) k);
		prev_k = k;
		int64_t seen = 0;
		for (int64_t m = cal_floordiv(local, 60) * 60 + 60; m < next && seen < CHECK_MINUTES; m += 60, seen++)
			FUZZ_CHECK(!cron_matches(c, m), "cron_next(%lld) = %lld skips %lld", (long long) local,
				   (long long) next, (long long) m);
		local = next;
	}
}

typedef struct each_state {
	const rule *r;
	int64_t prev;
	size_t n;
} each_state;

static int each_fn(const occurrence *o, void *ud) {
	each_state *s = ud;
	occurrence want;
	FUZZ_CHECK(rule_next(s->r, s->prev, &want) == 0 && want.delivery == o->delivery && want.n == o->n,
		   "rule_each gave %lld, rule_next from %lld gives another", (long long) o->delivery, (long long) s->prev);
	s->prev = o->delivery;
	return ++s->n >= 500;
}

static void check_rule(const cron_expr *c, const uint8_t *p, size_t n) {
	rule r = { .kind = RULE_CRON, .cron = c, .start_day = RULE_NO_DAY };
	int64_t after = FUZZ_NOW;
	size_t zi = 0;
	if (n >= 13) {
		zi = (size_t) (p[0] & 0x7f) % (sizeof(zones) / sizeof(*zones));   /* bit 7: has a start */
		/* start 1970-01-01 .. 9999-12-31: what validation lets through */
		int64_t span = cal_days_from_civil(9999, 12, 31) + 1;
		if (p[0] & 0x80)
			r.start_day = (int64_t) (u32(p + 1) % (uint64_t) span);
		r.count = u32(p + 5);
		if (r.start_day == RULE_NO_DAY)
			r.count = 0;
		after = FUZZ_NOW + (int64_t) (int32_t) u32(p + 9) * 60;
	}
	FUZZ_CHECK(tz_db_get(db, zones[zi], &r.zone) == 0, "zone %s", zones[zi]);
	const char *why;
	FUZZ_CHECK(rule_validate(&r, &why) == 0, "rule_validate: %s", why);
	occurrence o, prev = { 0 };
	int64_t t = after;
	for (int i = 0; i < 8; i++) {
		int q = rule_next(&r, t, &o);
		if (q == -ENOENT)
			break;
		FUZZ_CHECK(q == 0, "rule_next(%lld): %d", (long long) t, q);
		FUZZ_CHECK(o.delivery > t, "rule_next(%lld) = %lld", (long long) t, (long long) o.delivery);
		FUZZ_CHECK(o.create_at == o.delivery, "create_at without lead_time");
		if (r.count) {
			FUZZ_CHECK(o.n < r.count, "n %llu beyond count %llu", (unsigned long long) o.n,
				   (unsigned long long) r.count);
			FUZZ_CHECK(i == 0 || o.n > prev.n, "n not increasing");
		}
		if (r.start_day != RULE_NO_DAY)
			FUZZ_CHECK(cal_floordiv(o.local, CAL_SECS_PER_DAY) >= r.start_day, "before start");
		occurrence nth;
		FUZZ_CHECK(rule_nth_after(&r, after, (uint64_t) i, &nth) == 0 && nth.delivery == o.delivery &&
			   nth.n == o.n, "rule_nth_after(%d) is not the %dth rule_next", i, i + 1);
		uint64_t cnt;
		FUZZ_CHECK(rule_count(&r, after, o.delivery + 1, &cnt) == 0, "rule_count");
		/* exact (rule.h), but gaps are not looked for over more than 1,000 years */
		bool exact = zi == 0 || o.delivery - after < FUZZ_EXACT_SPAN;
		FUZZ_CHECK(exact ? cnt == (uint64_t) i + 1 : cnt >= (uint64_t) i + 1,
			   "rule_count up to occurrence %d: %llu", i + 1, (unsigned long long) cnt);
		prev = o;
		t = o.delivery;
	}
	each_state s = { .r = &r, .prev = after };
	int q = rule_each(&r, after + 1, after + CAL_SECS_PER_DAY, each_fn, &s);
	FUZZ_CHECK(q >= 0, "rule_each: %d", q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	if (!db) {
		db = tz_db_new(NULL);
		FUZZ_CHECK(db, "tz_db_new");
	}
	const uint8_t *nl = memchr(data, '\n', size);
	size_t elen = nl ? (size_t) (nl - data) : size;
	char *expr = fuzz_strndup(data, elen);
	cron_expr c, untouched;
	memset(&c, 0xa5, sizeof(c));
	untouched = c;
	const char *why = NULL;
	int r = cron_parse(expr, &c, &why);
	char msg[256];
	cron_expr c2;
	int r2 = cron_parse_msg(expr, &c2, msg, sizeof(msg));
	FUZZ_CHECK(r == r2, "cron_parse %d, cron_parse_msg %d", r, r2);
	if (r < 0) {
		FUZZ_CHECK(r == -EINVAL && why && why[0] && msg[0], "refused without a message");
		FUZZ_CHECK(!memcmp(&c, &untouched, sizeof(c)), "*ret changed on failure");
		free(expr);
		return 0;
	}
	FUZZ_CHECK(c.minute == c2.minute && c.hour == c2.hour && c.dom == c2.dom && c.month == c2.month &&
		   c.dow == c2.dow && c.dom_star == c2.dom_star && c.dow_star == c2.dow_star,
		   "cron_parse and cron_parse_msg differ");
	check_fields(&c);
	cron_index *ix = malloc(sizeof(*ix));
	FUZZ_CHECK(ix, "malloc");
	cron_index_init(ix, &c);
	check_next(&c, ix, FUZZ_NOW);   /* as local seconds: some day in 2027 */
	const uint8_t *p = nl ? nl + 1 : data + size;
	size_t n = size - (size_t) (p - data);
	if (n >= 13)
		check_next(&c, ix, FUZZ_NOW + (int64_t) (int32_t) u32(p + 9) * 60 + (p[0] & 0x3f));
	check_rule(&c, p, n);
	free(ix);
	free(expr);
	return 0;
}
