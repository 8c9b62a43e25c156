/* Tests for lib/time/rule.c: the exact examples of DESIGN.md, DST gaps and folds in
 * Europe/Helsinki, until/count/skip, O(1) answers far from start, and random rules
 * against an oracle that walks the calendar day by day and decides from first
 * principles whether each day holds an occurrence. The oracle uses neither rule.c nor
 * cal.c (it counts days itself); it converts local times with tz_from_local(), which
 * test_tz covers. Seed: $STANDINGD_TEST_SEED (printed); STANDINGD_TEST_QUICK=1 cuts
 * iteration counts 10x. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "tests/unit/testutil.h"
#include "lib/time/rule.h"

static tz_db *db;
static const tz_zone *utc, *hel;

/* ---- helpers independent of cal.c and rule.c ---- */

static int64_t rnd64(int64_t lo, int64_t hi) {
	return lo + (int64_t) (rng() % (uint64_t) (hi - lo + 1));
}

static int n_weekday(int64_t n) { /* 0 = Monday; 1970-01-01 was a Thursday */
	return (int) (((n % 7) + 7 + 3) % 7);
}

/* UTC instant / local civil seconds of a civil date and time */
static int64_t T(int y, int m, int d, int h, int mi) {
	return n_days(y, m, d) * 86400 + h * 3600 + mi * 60;
}

static void fmt_instant(char *buf, size_t size, int64_t t) {
	int64_t day = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
	int64_t sod = t - day * 86400;
	int y = 1970;
	int64_t left = day;
	while (left < 0)
		left += n_leap(--y) ? 366 : 365;
	while (left >= (n_leap(y) ? 366 : 365))
		left -= n_leap(y++) ? 366 : 365;
	int m = 1;
	while (left >= n_dim(y, m))
		left -= n_dim(y, m++);
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d", y, m, (int) left + 1, (int) (sod / 3600),
		 (int) (sod % 3600 / 60), (int) (sod % 60));
}

static void print_seed(void) {
	static bool printed;
	if (!printed) {
		print_message("seed: %llu (set STANDINGD_TEST_SEED to repeat another)\n",
			      (unsigned long long) test_seed());
		printed = true;
	}
}

static rule mk(rule_kind kind, const tz_zone *z, int y, int m, int d, int h, int mi) {
	return (rule) {
		.kind = kind,
		.unit = RULE_UNIT_DAY,
		.interval = 1,
		.start_day = n_days(y, m, d),
		.at = h * 3600 + mi * 60,
		.zone = z,
	};
}

/* rule_next from `after` must walk through want[] (UTC instants) and then end when
 * `ends`; rule_each over the same span must agree. n of each is want_n[i] when given. */
static void expect_seq(const rule *r, int64_t after, const int64_t *want, size_t n_want,
		       const uint64_t *want_n, bool ends) {
	occurrence o;
	char a[32], b[32];
	int64_t t = after;
	for (size_t i = 0; i < n_want; i++) {
		int k = rule_next(r, t, &o);
		fmt_instant(a, sizeof(a), want[i]);
		if (k != 0)
			fail_msg("occurrence %zu: rule_next = %d, want %sZ", i, k, a);
		fmt_instant(b, sizeof(b), o.delivery);
		if (o.delivery != want[i])
			fail_msg("occurrence %zu: got %sZ, want %sZ", i, b, a);
		if (want_n && o.n != want_n[i])
			fail_msg("occurrence %zu (%sZ): n = %llu, want %llu", i, b,
				 (unsigned long long) o.n, (unsigned long long) want_n[i]);
		assert_true(o.local == o.delivery + tz_offset_at(r->zone, o.delivery));
		assert_true(o.create_at == o.delivery - r->lead_time);
		t = o.delivery;
	}
	if (ends) {
		int k = rule_next(r, t, &o);
		if (k != -ENOENT) {
			fmt_instant(b, sizeof(b), o.delivery);
			fail_msg("after the last: rule_next = %d (%sZ), want -ENOENT", k, b);
		}
	}
}

typedef struct collect {
	occurrence v[64];
	size_t n;
	size_t stop_at;
} collect;

static int collect_cb(const occurrence *o, void *ud) {
	collect *c = ud;
	if (c->n < 64)
		c->v[c->n] = *o;
	c->n++;
	return c->stop_at && c->n == c->stop_at ? 7 : 0;
}

/* ---- exact examples ---- */

static void test_design_every_2_months(void **state) {
	(void) state;
	/* DESIGN.md: every 2 months from 2026-12-01 06:00 Europe/Helsinki, lead 5 days */
	rule r = mk(RULE_EVERY, hel, 2026, 12, 1, 6, 0);
	r.unit = RULE_UNIT_MONTH;
	r.interval = 2;
	r.lead_time = 5 * 86400;
	const int64_t want[] = { T(2026, 12, 1, 4, 0), T(2027, 2, 1, 4, 0), T(2027, 4, 1, 3, 0),
				 T(2027, 6, 1, 3, 0) };
	const uint64_t ns[] = { 0, 1, 2, 3 };
	expect_seq(&r, T(2026, 1, 1, 0, 0), want, 4, ns, false);
	occurrence o;
	assert_int_equal(rule_next(&r, INT64_MIN, &o), 0);
	assert_true(o.delivery == T(2026, 12, 1, 4, 0));
	assert_true(o.local == T(2026, 12, 1, 6, 0));
	assert_true(o.create_at == T(2026, 11, 26, 4, 0));
	assert_int_equal(rule_next(&r, T(2027, 2, 1, 4, 0) - 1, &o), 0);
	assert_true(o.delivery == T(2027, 2, 1, 4, 0));
	assert_int_equal(rule_next(&r, T(2027, 4, 1, 3, 0), &o), 0);
	assert_true(o.local == T(2027, 6, 1, 6, 0));
}

static void test_monthly_from_jan31(void **state) {
	(void) state;
	rule r = mk(RULE_EVERY, utc, 2027, 1, 31, 0, 0);
	r.unit = RULE_UNIT_MONTH;
	const int64_t want[] = { T(2027, 1, 31, 0, 0), T(2027, 2, 28, 0, 0), T(2027, 3, 31, 0, 0),
				 T(2027, 4, 30, 0, 0), T(2027, 5, 31, 0, 0), T(2027, 6, 30, 0, 0) };
	expect_seq(&r, T(2027, 1, 1, 0, 0), want, 6, NULL, false);
	occurrence o;
	/* a year on: leap February, and the anchor still gives the 31st after it */
	assert_int_equal(rule_next(&r, T(2028, 2, 1, 0, 0), &o), 0);
	assert_true(o.delivery == T(2028, 2, 29, 0, 0));
	assert_int_equal(o.n, 13);
	assert_int_equal(rule_next(&r, o.delivery, &o), 0);
	assert_true(o.delivery == T(2028, 3, 31, 0, 0));
	/* 2100 is not a leap year */
	assert_int_equal(rule_next(&r, T(2100, 2, 1, 0, 0), &o), 0);
	assert_true(o.delivery == T(2100, 2, 28, 0, 0));
}

static void test_yearly_from_feb29(void **state) {
	(void) state;
	rule r = mk(RULE_EVERY, hel, 2024, 2, 29, 12, 0);
	r.unit = RULE_UNIT_YEAR;
	const int64_t want[] = { T(2024, 2, 29, 10, 0), T(2025, 2, 28, 10, 0), T(2026, 2, 28, 10, 0),
				 T(2027, 2, 28, 10, 0), T(2028, 2, 29, 10, 0) };
	const uint64_t ns[] = { 0, 1, 2, 3, 4 };
	expect_seq(&r, T(2020, 1, 1, 0, 0), want, 5, ns, false);
	occurrence o;
	assert_int_equal(rule_next(&r, T(2099, 3, 1, 0, 0), &o), 0);
	assert_true(o.delivery == T(2100, 2, 28, 10, 0));
	assert_int_equal(rule_next(&r, o.delivery, &o), 0);
	assert_true(o.delivery == T(2101, 2, 28, 10, 0));
	/* every 4 years from a leap day stays on leap days, except across 2100 */
	r.interval = 4;
	assert_int_equal(rule_next(&r, T(2097, 1, 1, 0, 0), &o), 0);
	assert_true(o.delivery == T(2100, 2, 28, 10, 0));
	assert_int_equal(rule_next(&r, o.delivery, &o), 0);
	assert_true(o.delivery == T(2104, 2, 29, 10, 0));
}

static void test_weekly_on(void **state) {
	(void) state;
	/* every 2 weeks on [mon, thu] from Wednesday 2026-01-07: the week of Monday 01-05
	 * counts, but its Monday is before start */
	rule r = mk(RULE_WEEKLY_ON, utc, 2026, 1, 7, 9, 30);
	r.interval = 2;
	r.on_mask = 1 << 0 | 1 << 3;
	const int64_t want[] = { T(2026, 1, 8, 9, 30), T(2026, 1, 19, 9, 30), T(2026, 1, 22, 9, 30),
				 T(2026, 2, 2, 9, 30), T(2026, 2, 5, 9, 30) };
	const uint64_t ns[] = { 0, 1, 2, 3, 4 };
	expect_seq(&r, T(2025, 1, 1, 0, 0), want, 5, ns, false);
	/* start on a Monday: that Monday is occurrence 0 */
	r.start_day = n_days(2026, 1, 5);
	const int64_t want2[] = { T(2026, 1, 5, 9, 30), T(2026, 1, 8, 9, 30), T(2026, 1, 19, 9, 30) };
	expect_seq(&r, T(2025, 1, 1, 0, 0), want2, 3, ns, false);
	/* weekly on sundays, from a Sunday */
	r = mk(RULE_WEEKLY_ON, hel, 2027, 3, 21, 3, 30);
	r.on_mask = 1 << 6;
	const int64_t want3[] = { T(2027, 3, 21, 1, 30), T(2027, 3, 28, 1, 30), T(2027, 4, 4, 0, 30) };
	expect_seq(&r, 0, want3, 3, ns, false);
}

static void test_monthly_day_and_weekday(void **state) {
	(void) state;
	rule r = mk(RULE_MONTHLY_DAY, utc, 2026, 1, 15, 8, 0);
	r.day = RULE_LAST;
	const int64_t last[] = { T(2026, 1, 31, 8, 0), T(2026, 2, 28, 8, 0), T(2026, 3, 31, 8, 0),
				 T(2026, 4, 30, 8, 0) };
	const uint64_t ns[] = { 0, 1, 2, 3, 4 };
	expect_seq(&r, 0, last, 4, ns, false);

	r = mk(RULE_MONTHLY_DAY, utc, 2026, 4, 10, 8, 0);
	r.day = 31;
	const int64_t d31[] = { T(2026, 4, 30, 8, 0), T(2026, 5, 31, 8, 0), T(2026, 6, 30, 8, 0),
				T(2026, 7, 31, 8, 0) };
	expect_seq(&r, 0, d31, 4, ns, false);

	/* every 3 months on the 15th from Jan 20: Jan 15 is before start, so April first */
	r = mk(RULE_MONTHLY_DAY, utc, 2026, 1, 20, 8, 0);
	r.day = 15;
	r.interval = 3;
	const int64_t d15[] = { T(2026, 4, 15, 8, 0), T(2026, 7, 15, 8, 0), T(2026, 10, 15, 8, 0) };
	expect_seq(&r, 0, d15, 3, ns, false);
	/* on start day itself, at the `at` time: start counts */
	r.start_day = n_days(2026, 1, 15);
	const int64_t d15b[] = { T(2026, 1, 15, 8, 0), T(2026, 4, 15, 8, 0) };
	expect_seq(&r, 0, d15b, 2, ns, false);

	/* 2nd tue: 2026-01-13, 02-10, 03-10 */
	r = mk(RULE_MONTHLY_WEEKDAY, hel, 2026, 1, 1, 10, 0);
	r.nth = 2;
	r.weekday = 1;
	const int64_t tue[] = { T(2026, 1, 13, 8, 0), T(2026, 2, 10, 8, 0), T(2026, 3, 10, 8, 0),
				T(2026, 4, 14, 7, 0) };
	expect_seq(&r, 0, tue, 4, ns, false);
	/* started after January's 2nd Tuesday: February's is occurrence 0 */
	r.start_day = n_days(2026, 1, 20);
	expect_seq(&r, 0, tue + 1, 3, ns, false);

	/* last fri: 2026-01-30, 02-27, 03-27 */
	r = mk(RULE_MONTHLY_WEEKDAY, utc, 2026, 1, 1, 10, 0);
	r.nth = RULE_LAST;
	r.weekday = 4;
	const int64_t fri[] = { T(2026, 1, 30, 10, 0), T(2026, 2, 27, 10, 0), T(2026, 3, 27, 10, 0),
				T(2026, 4, 24, 10, 0), T(2026, 5, 29, 10, 0) };
	expect_seq(&r, 0, fri, 5, ns, false);
	/* 4th weekday when the month has five of them */
	r.nth = 4;
	r.weekday = 3; /* Thursday; January 2026 has five */
	const int64_t thu[] = { T(2026, 1, 22, 10, 0), T(2026, 2, 26, 10, 0) };
	expect_seq(&r, 0, thu, 2, ns, false);
}

static void test_dst_gap_and_fold(void **state) {
	(void) state;
	/* 2027-03-28: 03:00 EET -> 04:00 EEST; 03:30 does not exist and moves to 04:30 */
	rule r = mk(RULE_EVERY, hel, 2027, 3, 27, 3, 30);
	const int64_t gap[] = { T(2027, 3, 27, 1, 30), T(2027, 3, 28, 1, 30), T(2027, 3, 29, 0, 30) };
	const uint64_t ns[] = { 0, 1, 2 };
	expect_seq(&r, 0, gap, 3, ns, false);
	occurrence o;
	assert_int_equal(rule_next(&r, T(2027, 3, 28, 0, 0), &o), 0);
	assert_true(o.local == T(2027, 3, 28, 4, 30));  /* the wall clock at delivery */

	/* 2027-10-31: 04:00 EEST -> 03:00 EET; 03:30 exists twice, the first is 00:30Z */
	r = mk(RULE_EVERY, hel, 2027, 10, 30, 3, 30);
	const int64_t fold[] = { T(2027, 10, 30, 0, 30), T(2027, 10, 31, 0, 30), T(2027, 11, 1, 1, 30) };
	expect_seq(&r, 0, fold, 3, ns, false);
	/* asking from inside the second pass of the fold moves on to the next day */
	assert_int_equal(rule_next(&r, T(2027, 10, 31, 1, 15), &o), 0);
	assert_true(o.delivery == T(2027, 11, 1, 1, 30));
	assert_int_equal(rule_next(&r, T(2027, 10, 31, 0, 29), &o), 0);
	assert_true(o.delivery == T(2027, 10, 31, 0, 30));
}

static void test_until_count_skip(void **state) {
	(void) state;
	occurrence o;
	rule r = mk(RULE_EVERY, utc, 2026, 1, 1, 6, 0);
	r.has_until = true;
	r.until_day = n_days(2026, 1, 3);
	const int64_t three[] = { T(2026, 1, 1, 6, 0), T(2026, 1, 2, 6, 0), T(2026, 1, 3, 6, 0) };
	const uint64_t ns[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
	expect_seq(&r, 0, three, 3, ns, true);
	/* until is a local date: 2026-01-03 23:30 in Helsinki is still the 3rd */
	r = mk(RULE_EVERY, hel, 2026, 1, 1, 23, 30);
	r.has_until = true;
	r.until_day = n_days(2026, 1, 3);
	const int64_t late[] = { T(2026, 1, 1, 21, 30), T(2026, 1, 2, 21, 30), T(2026, 1, 3, 21, 30) };
	expect_seq(&r, 0, late, 3, ns, true);
	/* until before start: nothing at all */
	r.until_day = n_days(2025, 12, 31);
	assert_int_equal(rule_next(&r, INT64_MIN, &o), -ENOENT);

	r = mk(RULE_EVERY, utc, 2026, 1, 1, 6, 0);
	r.count = 3;
	expect_seq(&r, 0, three, 3, ns, true);
	assert_int_equal(rule_next(&r, T(2030, 1, 1, 0, 0), &o), -ENOENT);

	/* count: 12 monthly with one skipped date delivers 11; the skipped one keeps its n */
	r = mk(RULE_EVERY, utc, 2026, 1, 31, 6, 0);
	r.unit = RULE_UNIT_MONTH;
	r.count = 12;
	int64_t skip[] = { n_days(2026, 4, 30), n_days(2026, 5, 1) /* no occurrence that day */ };
	r.skip = skip;
	r.n_skip = 2;
	int64_t want[11];
	uint64_t wn[11];
	for (int i = 0, k = 0; i < 12; i++) {
		static const int dd[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
		if (i == 3)
			continue;
		want[k] = T(2026, i + 1, dd[i], 6, 0);
		wn[k++] = (uint64_t) i;
	}
	expect_seq(&r, 0, want, 11, wn, true);
	assert_int_equal(rule_next(&r, T(2026, 3, 31, 6, 0), &o), 0);
	assert_true(o.delivery == T(2026, 5, 31, 6, 0));
	assert_int_equal(o.n, 4);

	/* skipping the last counted occurrence ends the schedule early */
	int64_t skip_last[] = { n_days(2026, 12, 31) };
	r.skip = skip_last;
	r.n_skip = 1;
	assert_int_equal(rule_next(&r, T(2026, 11, 30, 6, 0), &o), -ENOENT);

	/* paused is carried, not applied */
	r.paused = true;
	assert_int_equal(rule_next(&r, 0, &o), 0);
	assert_true(o.delivery == T(2026, 1, 31, 6, 0));
}

static void test_elapsed(void **state) {
	(void) state;
	/* every hour from 2027-10-31 00:00 Helsinki (21:00Z the day before): elapsed time,
	 * so the fold's repeated local hour is two distinct deliveries an hour apart */
	rule r = mk(RULE_EVERY, hel, 2027, 10, 31, 0, 0);
	r.unit = RULE_UNIT_HOUR;
	int64_t want[8];
	uint64_t ns[8];
	for (int i = 0; i < 8; i++) {
		want[i] = T(2027, 10, 30, 21, 0) + i * 3600;
		ns[i] = (uint64_t) i;
	}
	expect_seq(&r, 0, want, 8, ns, false);
	occurrence o;
	assert_int_equal(rule_next(&r, T(2027, 10, 31, 0, 0) - 1, &o), 0);
	assert_true(o.local == T(2027, 10, 31, 3, 0));
	assert_int_equal(rule_next(&r, o.delivery, &o), 0);
	assert_true(o.local == T(2027, 10, 31, 3, 0));  /* the same wall-clock hour, again */

	/* every 90 minutes from 2026-01-01 00:00 UTC: n from arithmetic, far away too */
	r = mk(RULE_EVERY, utc, 2026, 1, 1, 0, 0);
	r.unit = RULE_UNIT_MINUTE;
	r.interval = 90;
	assert_int_equal(rule_next(&r, T(2026, 1, 1, 1, 29), &o), 0);
	assert_true(o.delivery == T(2026, 1, 1, 1, 30));
	assert_int_equal(o.n, 1);
	assert_int_equal(rule_next(&r, T(2026, 1, 1, 1, 30), &o), 0);
	assert_true(o.delivery == T(2026, 1, 1, 3, 0));
	assert_int_equal(rule_next(&r, T(2126, 1, 1, 0, 0), &o), 0);
	assert_int_equal(o.n, (uint64_t) ((T(2126, 1, 1, 0, 0) - T(2026, 1, 1, 0, 0)) / 5400 + 1));

	/* until is the end of the until day in the zone; skip drops one local date */
	r = mk(RULE_EVERY, hel, 2026, 6, 1, 0, 0);
	r.unit = RULE_UNIT_HOUR;
	r.interval = 6;
	r.has_until = true;
	r.until_day = n_days(2026, 6, 3);
	int64_t skip[] = { n_days(2026, 6, 2) };
	r.skip = skip;
	r.n_skip = 1;
	const int64_t w2[] = { T(2026, 5, 31, 21, 0), T(2026, 6, 1, 3, 0), T(2026, 6, 1, 9, 0),
			       T(2026, 6, 1, 15, 0), T(2026, 6, 2, 21, 0), T(2026, 6, 3, 3, 0),
			       T(2026, 6, 3, 9, 0), T(2026, 6, 3, 15, 0) };
	const uint64_t n2[] = { 0, 1, 2, 3, 8, 9, 10, 11 };
	expect_seq(&r, 0, w2, 8, n2, true);
}

static void test_cron_rules(void **state) {
	(void) state;
	const char *why;
	cron_expr ce;   /* the rules' expression (a rule points to it) */
	occurrence o;
	rule r = mk(RULE_CRON, hel, 2027, 3, 20, 12, 0);
	assert_int_equal(cron_parse("30 3 * * 0", &ce, &why), 0);
	r.cron = &ce;
	/* Sundays 03:30 local: 2027-03-28 is the spring-forward day, 10-31 the fold */
	const int64_t sun[] = { T(2027, 3, 21, 1, 30), T(2027, 3, 28, 1, 30), T(2027, 4, 4, 0, 30) };
	expect_seq(&r, 0, sun, 3, NULL, false);
	assert_int_equal(rule_next(&r, T(2027, 10, 25, 0, 0), &o), 0);
	assert_true(o.delivery == T(2027, 10, 31, 0, 30));
	assert_true(o.n == RULE_N_UNKNOWN);
	/* before start nothing; no start at all means no lower bound */
	assert_int_equal(rule_next(&r, T(2027, 1, 1, 0, 0), &o), 0);
	assert_true(o.delivery == T(2027, 3, 21, 1, 30));
	r.start_day = RULE_NO_DAY;
	assert_int_equal(rule_next(&r, T(2027, 1, 1, 0, 0), &o), 0);
	assert_true(o.delivery == T(2027, 1, 3, 1, 30));

	/* OR rule with start (at ignored), count and skip; Tuesday 2026-12-01 counts */
	r = mk(RULE_CRON, utc, 2026, 12, 1, 12, 0);
	assert_int_equal(cron_parse("0 9 1,15 * mon", &ce, &why), 0);
	r.cron = &ce;
	r.count = 4;
	const int64_t orr[] = { T(2026, 12, 1, 9, 0), T(2026, 12, 7, 9, 0), T(2026, 12, 14, 9, 0),
				T(2026, 12, 15, 9, 0) };
	const uint64_t ns[] = { 0, 1, 2, 3 };
	expect_seq(&r, INT64_MIN, orr, 4, ns, true);
	int64_t skip[] = { n_days(2026, 12, 7) };
	r.skip = skip;
	r.n_skip = 1;
	const int64_t orr2[] = { T(2026, 12, 1, 9, 0), T(2026, 12, 14, 9, 0), T(2026, 12, 15, 9, 0) };
	const uint64_t ns2[] = { 0, 2, 3 };
	expect_seq(&r, INT64_MIN, orr2, 3, ns2, true);
	r.count = 0;
	r.has_until = true;
	r.until_day = n_days(2026, 12, 21);
	const int64_t orr3[] = { T(2026, 12, 1, 9, 0), T(2026, 12, 14, 9, 0), T(2026, 12, 15, 9, 0),
				 T(2026, 12, 21, 9, 0) };
	expect_seq(&r, INT64_MIN, orr3, 4, NULL, true);

	/* every 30 minutes through the gap: 03:00 and 03:30 move to 04:00 and 04:30 EEST,
	 * which the real 04:00 and 04:30 then repeat; each instant is delivered once */
	r = mk(RULE_CRON, hel, 2027, 3, 1, 0, 0);
	assert_int_equal(cron_parse("*/30 * * * *", &ce, &why), 0);
	r.cron = &ce;
	const int64_t g[] = { T(2027, 3, 28, 0, 30), T(2027, 3, 28, 1, 0), T(2027, 3, 28, 1, 30),
			      T(2027, 3, 28, 2, 0) };
	expect_seq(&r, T(2027, 3, 28, 0, 0), g, 4, NULL, false);
	/* asked from inside the moved gap: 03:07 local goes out at 04:07 EEST (01:07Z),
	 * after the real 04:00 (01:00Z) although its local time is earlier */
	assert_int_equal(cron_parse("*/7 3 * * *", &ce, &why), 0);
	r.cron = &ce;
	const int64_t g7[] = { T(2027, 3, 28, 1, 7), T(2027, 3, 28, 1, 14), T(2027, 3, 28, 1, 21) };
	expect_seq(&r, T(2027, 3, 28, 1, 0), g7, 3, NULL, false);
	collect c = { .n = 0 };
	assert_int_equal(rule_each(&r, T(2027, 3, 28, 0, 0), T(2027, 3, 28, 2, 0), collect_cb, &c), 0);
	assert_int_equal(c.n, 9);  /* 03:00 .. 03:56 local, moved to 01:00Z .. 01:56Z */
	assert_true(c.v[0].delivery == T(2027, 3, 28, 1, 0) && c.v[8].delivery == T(2027, 3, 28, 1, 56));
	assert_true(c.v[8].local == T(2027, 3, 28, 4, 56));
	/* through the fold only the first pass is delivered */
	assert_int_equal(cron_parse("*/30 * * * *", &ce, &why), 0);
	r.cron = &ce;
	const int64_t f[] = { T(2027, 10, 30, 23, 30), T(2027, 10, 31, 0, 0), T(2027, 10, 31, 0, 30),
			      T(2027, 10, 31, 2, 0) };
	expect_seq(&r, T(2027, 10, 30, 23, 0), f, 4, NULL, false);

	/* a cron that never matches */
	assert_int_equal(cron_parse("0 0 30 2 *", &ce, &why), 0);
	r.cron = &ce;
	assert_int_equal(rule_next(&r, 0, &o), -ENOENT);
}

/* ---- O(1) far from start ---- */

static void test_far_from_start(void **state) {
	(void) state;
	occurrence o;
	/* daily from 0001-01-01: answering for the year 9000 must not walk 3 million days */
	rule r = mk(RULE_EVERY, utc, 1, 1, 1, 6, 0);
	for (int i = 0; i < 2000; i++) {
		int64_t after = T(9000, 6, 15, 12, 0) + (int64_t) i * 86400;
		assert_int_equal(rule_next(&r, after, &o), 0);
		assert_true(o.delivery == T(9000, 6, 16, 6, 0) + (int64_t) i * 86400);
		assert_true(o.n == (uint64_t) (n_days(9000, 6, 16) - n_days(1, 1, 1) + i));
	}
	/* daily from 1990 in Helsinki answers for 2026 */
	r = mk(RULE_EVERY, hel, 1990, 1, 1, 6, 0);
	assert_int_equal(rule_next(&r, T(2026, 11, 23, 12, 0), &o), 0);
	assert_true(o.delivery == T(2026, 11, 24, 4, 0));
	assert_int_equal(o.n, n_days(2026, 11, 24) - n_days(1990, 1, 1));
	/* every other form, from year 1 to year 9000 */
	r = mk(RULE_EVERY, utc, 1, 1, 31, 0, 0);
	r.unit = RULE_UNIT_MONTH;
	assert_int_equal(rule_next(&r, T(9004, 2, 1, 0, 0), &o), 0);
	assert_true(o.delivery == T(9004, 2, 29, 0, 0));  /* 9000 is not a leap year, 9004 is */
	assert_int_equal(o.n, 9003 * 12 + 1);
	r = mk(RULE_WEEKLY_ON, utc, 1, 1, 1, 0, 0);
	r.on_mask = 1 << 2 | 1 << 5;  /* wed, sat */
	r.interval = 3;
	for (int i = 0; i < 2000; i++)
		assert_int_equal(rule_next(&r, T(9000, 1, 1, 0, 0) + i * 86400, &o), 0);
	r = mk(RULE_MONTHLY_WEEKDAY, hel, 1, 1, 1, 0, 0);
	r.nth = RULE_LAST;
	r.weekday = 4;
	assert_int_equal(rule_next(&r, T(9000, 1, 1, 0, 0), &o), 0);
	r = mk(RULE_MONTHLY_DAY, hel, 1, 1, 1, 0, 0);
	r.day = 30;
	assert_int_equal(rule_next(&r, T(9004, 2, 1, 0, 0), &o), 0);
	assert_true(o.local == T(9004, 2, 29, 0, 0));
	r = mk(RULE_EVERY, utc, 1, 1, 1, 0, 0);
	r.unit = RULE_UNIT_MINUTE;
	assert_int_equal(rule_next(&r, T(9000, 1, 1, 0, 0), &o), 0);
	assert_true(o.delivery == T(9000, 1, 1, 0, 1));
	/* the ends of time: no overflow, just an answer */
	r = mk(RULE_EVERY, hel, 2026, 1, 1, 0, 0);
	assert_int_equal(rule_next(&r, INT64_MIN, &o), 0);
	assert_int_equal(o.n, 0);
	assert_int_equal(rule_next(&r, INT64_MAX, &o), -ENOENT);
	assert_int_equal(rule_next(&r, INT64_MAX / 2, &o), -ENOENT);
	r.unit = RULE_UNIT_YEAR;
	r.interval = UINT32_MAX;
	assert_int_equal(rule_next(&r, T(2026, 1, 1, 0, 0) - 7200, &o), -ENOENT);
	r.unit = RULE_UNIT_HOUR;  /* 490,000 years: still an answer; three steps are past the limit */
	int64_t step = (int64_t) UINT32_MAX * 3600;
	assert_int_equal(rule_next(&r, T(2026, 1, 1, 0, 0) - 7200, &o), 0);
	assert_int_equal(o.n, 1);
	assert_true(o.delivery == T(2026, 1, 1, 0, 0) - 7200 + step);
	assert_int_equal(rule_next(&r, o.delivery + step, &o), -ENOENT);
}

/* ---- rule_each, copy, validation ---- */

static void test_each(void **state) {
	(void) state;
	rule r = mk(RULE_EVERY, utc, 2026, 1, 1, 6, 0);
	collect c = { .n = 0 };
	/* [from, to): the from instant is included, the to instant is not */
	assert_int_equal(rule_each(&r, T(2026, 1, 2, 6, 0), T(2026, 1, 5, 6, 0), collect_cb, &c), 0);
	assert_int_equal(c.n, 3);
	assert_true(c.v[0].delivery == T(2026, 1, 2, 6, 0));
	assert_true(c.v[2].delivery == T(2026, 1, 4, 6, 0));
	assert_int_equal(c.v[2].n, 3);
	c = (collect) { .stop_at = 2 };
	assert_int_equal(rule_each(&r, 0, INT64_MAX, collect_cb, &c), 7);
	assert_int_equal(c.n, 2);
	c = (collect) { .n = 0 };
	assert_int_equal(rule_each(&r, T(2026, 1, 5, 0, 0), T(2026, 1, 5, 0, 0), collect_cb, &c), 0);
	assert_int_equal(c.n, 0);
	r.count = 5;
	assert_int_equal(rule_each(&r, INT64_MIN, INT64_MAX, collect_cb, &c), 0);
	assert_int_equal(c.n, 5);
	assert_int_equal(rule_each(&r, 0, 1, NULL, NULL), -EINVAL);
}

static void test_copy_done(void **state) {
	(void) state;
	rule r = mk(RULE_EVERY, utc, 2026, 1, 1, 6, 0), copy;
	r.n_skip = 3;
	r.skip = malloc(3 * sizeof(int64_t));
	assert_non_null(r.skip);
	r.skip[0] = 1;
	r.skip[1] = 2;
	r.skip[2] = 3;
	assert_int_equal(rule_copy(&copy, &r), 0);
	assert_true(copy.skip != r.skip);
	assert_int_equal(copy.n_skip, 3);
	r.skip[1] = 99;
	assert_int_equal(copy.skip[1], 2);
	assert_true(copy.start_day == r.start_day && copy.zone == r.zone);
	rule_done(&r);
	assert_null(r.skip);
	assert_int_equal(r.n_skip, 0);
	rule_done(&r);
	rule_done(NULL);
	rule copy2;
	assert_int_equal(rule_copy(&copy2, &r), 0);  /* no skip: nothing allocated */
	assert_null(copy2.skip);
	rule_done(&copy2);
	rule_done(&copy);

	/* a cron rule's expression is the rule's like skip: copied, freed */
	cron_expr *ce = malloc(sizeof(*ce));
	assert_non_null(ce);
	assert_int_equal(cron_parse("30 3 * * 0", ce, NULL), 0);
	r = mk(RULE_CRON, utc, 2026, 1, 1, 0, 0);
	r.cron = ce;
	assert_int_equal(rule_copy(&copy, &r), 0);
	assert_true(copy.cron != r.cron);
	assert_true(copy.cron->minute == UINT64_C(1) << 30 && copy.cron->hour == 1u << 3 && copy.cron->dow == 1);
	ce->minute = 1;
	assert_true(copy.cron->minute == UINT64_C(1) << 30);
	occurrence o;
	assert_int_equal(rule_next(&copy, n_days(2026, 1, 1) * 86400, &o), 0);
	assert_true(o.delivery == n_days(2026, 1, 4) * 86400 + 3 * 3600 + 30 * 60);   /* Sunday 03:30 */
	rule_done(&r);
	assert_null(r.cron);
	rule_done(&r);
	rule_done(&copy);
	assert_null(copy.cron);
	r.cron = NULL;   /* an invalid cron rule without its expression copies as it is */
	assert_int_equal(rule_copy(&copy, &r), 0);
	assert_null(copy.cron);
	rule_done(&copy);
}

static void test_validate(void **state) {
	(void) state;
	const char *why;
	occurrence o;
	rule good = mk(RULE_EVERY, utc, 2026, 1, 1, 6, 0), r;
	assert_int_equal(rule_validate(&good, &why), 0);
#define BAD(stmt)                                                        \
	do {                                                             \
		r = good;                                                \
		stmt;                                                    \
		why = NULL;                                              \
		assert_int_equal(rule_validate(&r, &why), -EINVAL);      \
		assert_non_null(why);                                    \
		assert_int_equal(rule_next(&r, 0, &o), -EINVAL);         \
	} while (0)
	BAD(r.interval = 0);
	BAD(r.zone = NULL);
	BAD(r.at = 86400);
	BAD(r.at = (1 << 17) - 1);   /* the most its 17 bits hold */
	BAD(r.start_day = RULE_NO_DAY);
	/* the 32-bit days' extremes lie outside rule_validate()'s +-203 million days */
	BAD(r.start_day = INT32_MAX);
	cron_expr ce;
	assert_int_equal(cron_parse("@daily", &ce, NULL), 0);
	BAD((r.kind = RULE_CRON, r.cron = &ce, r.start_day = RULE_NO_DAY + 1));
	BAD((r.kind = RULE_CRON, r.cron = NULL));
	BAD((r.has_until = true, r.until_day = INT32_MAX));
	BAD((r.has_until = true, r.until_day = INT32_MIN));
	BAD(r.unit = 7);   /* the most its 3 bits hold */
	BAD(r.kind = 7);
	BAD((r.kind = RULE_WEEKLY_ON, r.on_mask = 0));
	BAD((r.kind = RULE_WEEKLY_ON, r.on_mask = 0x81));
	BAD((r.kind = RULE_MONTHLY_DAY, r.day = 0));
	BAD((r.kind = RULE_MONTHLY_DAY, r.day = 32));
	BAD((r.kind = RULE_MONTHLY_WEEKDAY, r.nth = 5, r.weekday = 1));
	BAD((r.kind = RULE_MONTHLY_WEEKDAY, r.nth = 1, r.weekday = 7));
	int64_t unsorted[] = { 5, 3 };
	BAD((r.skip = unsorted, r.n_skip = 2));
	BAD(r.n_skip = 1);
	BAD((r.kind = RULE_CRON, r.cron = &ce, r.count = 3, r.start_day = RULE_NO_DAY));
	r = good;
	r.kind = RULE_CRON;
	r.cron = &ce;
	assert_int_equal(rule_validate(&r, &why), 0);
#undef BAD
	assert_int_equal(rule_validate(NULL, NULL), -EINVAL);
}

/* ---- random rules against the day-by-day oracle ---- */

enum { K_DAYS, K_WEEKS, K_MONTHS, K_YEARS, K_WEEKLY_ON, K_MONTH_DAY, K_MONTH_WEEKDAY, K_KINDS };
static const char *const kind_names[K_KINDS] = {
	"every N days", "every N weeks", "every N months", "every N years", "weekly on",
	"monthly day", "monthly weekday",
};

typedef struct spec {
	int kind;
	int n;                /* interval */
	int sy, sm, sd;       /* start */
	int64_t start;        /* its day number */
	int at;
	int mask, day, nth, wd;
} spec;

/* Is the day (y, m, d) with day number x an occurrence slot of s, and on or after start? */
static bool oracle_day(const spec *s, int y, int m, int d, int64_t x) {
	if (x < s->start)
		return false;
	int dim = n_dim(y, m);
	int months = (y - s->sy) * 12 + (m - s->sm);
	switch (s->kind) {
	case K_DAYS:
		return (x - s->start) % s->n == 0;
	case K_WEEKS:
		return (x - s->start) % (7 * s->n) == 0;
	case K_MONTHS:
		return months % s->n == 0 && d == (s->sd < dim ? s->sd : dim);
	case K_YEARS:
		return m == s->sm && (y - s->sy) % s->n == 0 && d == (s->sd < dim ? s->sd : dim);
	case K_WEEKLY_ON: {
		int64_t monday = s->start - n_weekday(s->start);
		int64_t week = (x - monday) / 7;
		return week % s->n == 0 && ((s->mask >> n_weekday(x)) & 1);
	}
	case K_MONTH_DAY:
		return months % s->n == 0 && d == (s->day == RULE_LAST || s->day > dim ? dim : s->day);
	case K_MONTH_WEEKDAY:
		if (months % s->n != 0 || n_weekday(x) != s->wd)
			return false;
		return s->nth == RULE_LAST ? d + 7 > dim : (d - 1) / 7 + 1 == s->nth;
	}
	return false;
}

typedef struct oentry {
	uint64_t n;
	int64_t day, delivery;
} oentry;

typedef struct olist {
	oentry *v;
	size_t n, cap;
} olist;

/* Every slot from start to horizon_days later, in order, numbered. */
static void oracle_build(const spec *s, const tz_zone *z, int64_t horizon_days, olist *out) {
	int y = s->sy, m = s->sm, d = s->sd;
	out->n = 0;
	for (int64_t x = s->start; x <= s->start + horizon_days; x++) {
		if (oracle_day(s, y, m, d, x)) {
			if (out->n == out->cap) {
				out->cap = out->cap ? 2 * out->cap : 1024;
				out->v = realloc(out->v, out->cap * sizeof(*out->v));
				assert_non_null(out->v);
			}
			out->v[out->n] = (oentry) { out->n, x, tz_from_local(z, x * 86400 + s->at) };
			out->n++;
		}
		if (++d > n_dim(y, m)) {
			d = 1;
			if (++m > 12) {
				m = 1;
				y++;
			}
		}
	}
}

static bool in_list(const int64_t *v, size_t n, int64_t x) {
	for (size_t i = 0; i < n; i++)
		if (v[i] == x)
			return true;
	return false;
}

/* Entries valid under count/until form a prefix; *ret_ended tells whether the schedule
 * ends inside the list (else the list merely stops at the horizon). */
static size_t oracle_valid(const rule *r, const olist *l, bool *ret_ended) {
	size_t k = 0;
	while (k < l->n && (!r->count || l->v[k].n < r->count) &&
	       (!r->has_until || l->v[k].day <= r->until_day))
		k++;
	*ret_ended = k < l->n;
	return k;
}

static void describe(char *buf, size_t size, const spec *s, const rule *r) {
	snprintf(buf, size, "%s N=%d start=%04d-%02d-%02d at=%d mask=%#x day=%d nth=%d wd=%d "
		 "zone=%s count=%llu until=%s%lld skip=%u", kind_names[s->kind], s->n, s->sy, s->sm,
		 s->sd, s->at, s->mask, s->day, s->nth, s->wd, tz_zone_name(r->zone),
		 (unsigned long long) r->count, r->has_until ? "" : "-", (long long) r->until_day,
		 r->n_skip);
}

static int pick_year(void) {
	int k = rnd(0, 9);
	if (k < 4)
		return rnd(1600, 2500);
	if (k < 7)
		return rnd(1995, 2005);
	return rnd(2095, 2105);
}

static void gen_spec(int kind, spec *s) {
	memset(s, 0, sizeof(*s));
	s->kind = kind;
	s->sy = pick_year();
	s->sm = rnd(1, 12);
	s->sd = rnd(1, n_dim(s->sy, s->sm));
	if ((kind == K_MONTHS || kind == K_MONTH_DAY || kind == K_MONTH_WEEKDAY) && rnd(0, 1))
		s->sd = rnd(28, n_dim(s->sy, s->sm));   /* the days that clip */
	if (kind == K_YEARS && rnd(0, 2) == 0) {
		while (!n_leap(s->sy))
			s->sy++;
		s->sm = 2;
		s->sd = 29;
	}
	s->start = n_days(s->sy, s->sm, s->sd);
	/* a third of the times between 03:00 and 04:00, where Helsinki has its gap and fold */
	s->at = rnd(0, 2) == 0 ? rnd(3 * 3600, 4 * 3600 - 1) : rnd(0, 86399);
	switch (kind) {
	case K_DAYS: s->n = rnd(0, 1) ? 1 : rnd(2, 10); break;
	case K_WEEKS: s->n = rnd(1, 5); break;
	case K_MONTHS: {
		static const int common[] = { 1, 1, 2, 3, 6, 12, 5, 7, 18, 24 };
		s->n = common[rnd(0, 9)];
		break;
	}
	case K_YEARS: s->n = rnd(1, 4); break;
	case K_WEEKLY_ON:
		s->n = rnd(1, 4);
		s->mask = rnd(1, 127);
		break;
	case K_MONTH_DAY:
		s->n = rnd(0, 1) ? 1 : rnd(2, 6);
		s->day = rnd(0, 4) == 0 ? RULE_LAST : rnd(0, 1) ? rnd(28, 31) : rnd(1, 31);
		break;
	case K_MONTH_WEEKDAY:
		s->n = rnd(0, 1) ? 1 : rnd(2, 6);
		s->nth = rnd(0, 4) == 0 ? RULE_LAST : rnd(1, 4);
		s->wd = rnd(0, 6);
		break;
	}
}

static rule spec_rule(const spec *s, const tz_zone *z) {
	rule r = mk(RULE_EVERY, z, s->sy, s->sm, s->sd, 0, 0);
	r.start_day = s->start;  /* the oracle's own day number */
	r.at = s->at;
	r.interval = (uint32_t) s->n;
	r.lead_time = rnd(0, 10) * 3600;
	switch (s->kind) {
	case K_DAYS: r.unit = RULE_UNIT_DAY; break;
	case K_WEEKS: r.unit = RULE_UNIT_WEEK; break;
	case K_MONTHS: r.unit = RULE_UNIT_MONTH; break;
	case K_YEARS: r.unit = RULE_UNIT_YEAR; break;
	case K_WEEKLY_ON:
		r.kind = RULE_WEEKLY_ON;
		r.on_mask = (uint8_t) s->mask;
		break;
	case K_MONTH_DAY:
		r.kind = RULE_MONTHLY_DAY;
		r.day = (int8_t) s->day;
		break;
	case K_MONTH_WEEKDAY:
		r.kind = RULE_MONTHLY_WEEKDAY;
		r.nth = (int8_t) s->nth;
		r.weekday = (int8_t) s->wd;
		break;
	}
	return r;
}

static int cmp64(const void *a, const void *b) {
	int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
	return (x > y) - (x < y);
}

typedef struct each_check {
	const oentry *v;
	size_t n, i;
	const int64_t *skip;
	size_t n_skip;
	int64_t from, to, last;
	const char *what;
} each_check;

/* The next expected entry of the oracle list for rule_each, or NULL. */
static const oentry *each_expected(each_check *e) {
	while (e->i < e->n) {
		const oentry *x = &e->v[e->i++];
		if (in_list(e->skip, e->n_skip, x->day) || x->delivery <= e->last)
			continue;
		if (x->delivery >= e->to)
			return NULL;
		return x;
	}
	return NULL;
}

static int each_cb(const occurrence *o, void *ud) {
	each_check *e = ud;
	const oentry *x = each_expected(e);
	if (!x)
		fail_msg("%s: rule_each gave an extra occurrence n=%llu", e->what, (unsigned long long) o->n);
	if (o->delivery != x->delivery || o->n != x->n)
		fail_msg("%s: rule_each gave n=%llu %lld, want n=%llu %lld", e->what, (unsigned long long) o->n,
			 (long long) o->delivery, (unsigned long long) x->n, (long long) x->delivery);
	e->last = o->delivery;
	return 0;
}

/* rule_count() and rule_nth_after() against walking rule_next() (which the oracles
 * above check): up to 1100 occurrences after `after`, so both ways of rule_nth_after
 * are checked (stepping below 1024, arithmetic from there); prefixes counted, i-th
 * ones found, at random points. exact_count is false where a DST gap drops
 * occurrences that counting includes (cron with several occurrences in the hour after
 * a gap): then counts need only not fall short, and the arithmetic i-th only exist. */
static int check_count_nth(const rule *r, int64_t after, bool exact_count, const char *what) {
	static int64_t v[1100];
	size_t n = 0;
	occurrence o;
	int checks = 0;
	for (int64_t t = after; n < 1100 && rule_next(r, t, &o) == 0; t = o.delivery)
		v[n++] = o.delivery;
	/* 0..7, one more below the switch, 1022..1025 around it, then every few */
	size_t mid = 8 + (size_t) rnd(0, 1000);
	for (size_t i = 0; i < n; i = i < 7 ? i + 1 : i < mid ? mid : i < 1022 ? 1022 : i < 1025 ? i + 1
							     : i + 1 + (size_t) rnd(0, 30)) {
		occurrence got;
		bool exact = exact_count || i < 1024;
		if (rule_nth_after(r, after, i, &got) != 0 || (exact && got.delivery != v[i]))
			fail_msg("%s: nth_after(%lld, %zu) = %lld, want %lld", what, (long long) after, i,
				 (long long) got.delivery, (long long) v[i]);
		uint64_t c1 = 0, c2 = 0;
		assert_int_equal(rule_count(r, after, v[i], &c1), 0);
		assert_int_equal(rule_count(r, after, v[i] + 1, &c2), 0);
		if (exact_count ? c1 != i || c2 != i + 1 : c2 < i + 1)
			fail_msg("%s: count(%lld, %lld) = %llu/%llu, want %zu/%zu", what, (long long) after,
				 (long long) v[i], (unsigned long long) c1, (unsigned long long) c2, i, i + 1);
		checks++;
	}
	if (n < 1100 && exact_count) {
		occurrence got;
		assert_int_equal(rule_nth_after(r, after, n, &got), -ENOENT);
	}
	return checks;
}

static void check_random_rule(int kind, const tz_zone *z, olist *l, int *checked, int *unknown) {
	spec s;
	char what[256];
	gen_spec(kind, &s);
	rule r = spec_rule(&s, z);
	bool long_period = kind == K_MONTHS || kind == K_YEARS || kind == K_MONTH_DAY ||
			   kind == K_MONTH_WEEKDAY;
	int64_t horizon = long_period ? 60 * 366 : 12 * 366;
	oracle_build(&s, z, horizon, l);

	/* until, count and skip on some of them */
	int64_t skip[8];
	size_t n_skip = 0;
	if (rnd(0, 3) == 0) {
		r.has_until = true;
		r.until_day = s.start + rnd64(-10, horizon);
	}
	if (rnd(0, 3) == 0)
		r.count = (uint64_t) rnd(1, 300);
	if (rnd(0, 2) == 0) {
		int k = rnd(1, 6);
		for (int i = 0; i < k; i++)
			skip[n_skip++] = l->n && rnd(0, 3) ? l->v[rnd(0, (int) (l->n < 400 ? l->n : 400) - 1)].day
							 : s.start + rnd(-5, 2000);
		qsort(skip, n_skip, sizeof(skip[0]), cmp64);
		r.skip = skip;
		r.n_skip = n_skip;
	}
	describe(what, sizeof(what), &s, &r);
	bool ended;
	size_t valid = oracle_valid(&r, l, &ended);

	int64_t t0 = s.start * 86400, span = horizon * 86400;
	for (int q = 0; q < 40; q++) {
		int64_t after;
		if (q < 24 || valid == 0) {
			after = t0 + rnd64(-400 * 86400, span);
		} else {
			/* right at an occurrence: one second before, at, one after */
			int64_t d = l->v[rnd(0, (int) valid - 1)].delivery;
			after = d + (q % 3) - 1;
		}
		const oentry *want = NULL;
		for (size_t i = 0; i < valid; i++)
			if (l->v[i].delivery > after && !in_list(skip, n_skip, l->v[i].day)) {
				want = &l->v[i];
				break;
			}
		if (!want && !ended) {
			(*unknown)++;
			continue;  /* beyond what the oracle walked */
		}
		occurrence o;
		int k = rule_next(&r, after, &o);
		if (!want) {
			if (k != -ENOENT)
				fail_msg("%s: after %lld got %d n=%llu %lld, want -ENOENT", what, (long long) after,
					 k, (unsigned long long) o.n, (long long) o.delivery);
		} else if (k != 0 || o.delivery != want->delivery || o.n != want->n) {
			fail_msg("%s: after %lld got %d n=%llu %lld, want n=%llu %lld", what, (long long) after,
				 k, (unsigned long long) o.n, (long long) o.delivery,
				 (unsigned long long) want->n, (long long) want->delivery);
		} else if (o.local != o.delivery + tz_offset_at(z, o.delivery) ||
			   o.create_at != o.delivery - r.lead_time) {
			fail_msg("%s: local/create_at of n=%llu", what, (unsigned long long) o.n);
		}
		(*checked)++;
	}
	if (rnd(0, 1))
		*checked += check_count_nth(&r, t0 + rnd64(-400 * 86400, span), true, what);
	/* rule_each over windows of up to two years the oracle fully knows */
	for (int q = 0; q < 3; q++) {
		int64_t from = t0 + rnd64(-100 * 86400, span), to = from + rnd64(0, 2 * 366 * 86400);
		if (!ended && (valid == 0 || to > l->v[valid - 1].delivery))
			continue;
		each_check e = { l->v, valid, 0, skip, n_skip, from, to, from - 1, what };
		assert_int_equal(rule_each(&r, from, to, each_cb, &e), 0);
		if (each_expected(&e))
			fail_msg("%s: rule_each [%lld, %lld) missed an occurrence", what, (long long) from,
				 (long long) to);
		(*checked)++;
	}
}

static void test_random_rules(void **state) {
	(void) state;
	print_seed();
	olist l = { NULL, 0, 0 };
	int per = iterations(150);
	for (int kind = 0; kind < K_KINDS; kind++) {
		int checked = 0, unknown = 0;
		for (int i = 0; i < per; i++) {
			check_random_rule(kind, utc, &l, &checked, &unknown);
			check_random_rule(kind, hel, &l, &checked, &unknown);
		}
		print_message("%-16s %4d rules, %6d checks (%d queries past the oracle's horizon)\n",
			      kind_names[kind], 2 * per, checked, unknown);
		assert_true(checked > per * 40);
	}
	free(l.v);
}

/* every N minutes|hours against stepping the anchor instant */
static void test_random_elapsed(void **state) {
	(void) state;
	print_seed();
	int n = iterations(400), checked = 0;
	for (int i = 0; i < n; i++) {
		const tz_zone *z = i % 2 ? hel : utc;
		int y = pick_year(), m = rnd(1, 12), d = rnd(1, 28);
		rule r = mk(RULE_EVERY, z, y, m, d, rnd(0, 23), rnd(0, 59));
		r.unit = rnd(0, 1) ? RULE_UNIT_MINUTE : RULE_UNIT_HOUR;
		r.interval = (uint32_t) (rnd(0, 1) ? rnd(1, 5) : rnd(1, 1000));
		int64_t step = (int64_t) r.interval * (r.unit == RULE_UNIT_HOUR ? 3600 : 60);
		int64_t anchor = tz_from_local(z, (int64_t) r.start_day * 86400 + r.at);
		if (rnd(0, 3) == 0)
			r.count = (uint64_t) rnd(1, 2000);
		for (int q = 0; q < 20; q++) {
			int64_t after = anchor + rnd64(-100 * step, 1500 * step) + rnd(-1, 1);
			uint64_t k = 0;
			while (anchor + (int64_t) k * step <= after)
				k++;
			occurrence o;
			int rc = rule_next(&r, after, &o);
			if (r.count && k >= r.count) {
				assert_int_equal(rc, -ENOENT);
			} else {
				assert_int_equal(rc, 0);
				assert_true(o.n == k);
				assert_true(o.delivery == anchor + (int64_t) k * step);
				assert_true(o.local == o.delivery + tz_offset_at(z, o.delivery));
			}
			checked++;
		}
		if (rnd(0, 1)) {
			/* skipped dates: whole local days of occurrences drop out */
			int64_t skip[8];
			for (int k = 0; k < 8; k++)
				skip[k] = r.start_day + k * rnd(0, 3) + rnd(0, 5);
			qsort(skip, 8, sizeof(skip[0]), cmp64);
			r.skip = skip;
			r.n_skip = 8;
			checked += check_count_nth(&r, anchor + rnd64(-100 * step, 1500 * step), true, "elapsed+skip");
			r.skip = NULL;
			r.n_skip = 0;
		} else {
			checked += check_count_nth(&r, anchor + rnd64(-100 * step, 1500 * step), true, "elapsed");
		}
	}
	print_message("elapsed: %d rules, %d checks\n", n, checked);
}

/* cron rules against a minute-by-minute scan of local time (matching by cron_matches,
 * which test_cron covers), mapped with tz_from_local and keeping only later instants */
static void test_random_cron_rules(void **state) {
	(void) state;
	print_seed();
	static const char *const exprs[] = {
		"*/15 * * * *", "30 3 * * 0", "0,30 2-4 * * *", "0 9 1,15 * mon", "45 23 * * *",
		"0 0 * * 1-5", "*/7 3 * 3,10 sun", "59 * 25-31 * 0", "@hourly", "@daily", "5 4 29 2 *",
	};
	int n = iterations(300), checked = 0;
	for (int i = 0; i < n; i++) {
		const char *why;
		cron_expr ce;
		rule r = mk(RULE_CRON, i % 3 ? hel : utc, 2000, 1, 1, 0, 0);
		assert_int_equal(cron_parse(exprs[rnd(0, sizeof(exprs) / sizeof(exprs[0]) - 1)], &ce, &why), 0);
		r.cron = &ce;
		int y = rnd(1995, 2105);
		/* windows of three days, half of them on a DST change (last Sunday of Mar or Oct) */
		int m = rnd(0, 1) ? (rnd(0, 1) ? 3 : 10) : rnd(1, 12);
		int64_t last_sun = n_days(y, m, n_dim(y, m));
		while (n_weekday(last_sun) != 6)
			last_sun--;
		int64_t base_day = (m == 3 || m == 10) ? last_sun - 1 : n_days(y, m, rnd(1, 25));
		r.start_day = rnd(0, 3) == 0 ? (int32_t) (base_day + 1) : rnd(0, 1) ? RULE_NO_DAY : (int32_t) (base_day - 100);
		if (rnd(0, 3) == 0) {
			r.has_until = true;
			r.until_day = base_day + rnd(0, 2);
		}
		int64_t from = base_day * 86400 + rnd(-7200, 7200), to = from + 3 * 86400;
		int64_t expect[3 * 1440 + 200];
		size_t n_expect = 0;
		int64_t last = INT64_MIN;
		for (int64_t l = (base_day - 1) * 86400; l < (base_day + 5) * 86400; l += 60) {
			int64_t day = l / 86400;
			if (!cron_matches(r.cron, l) || (r.start_day != RULE_NO_DAY && day < r.start_day) ||
			    (r.has_until && day > r.until_day))
				continue;
			int64_t d = tz_from_local(r.zone, l);
			if (d <= last)
				continue;
			last = d;
			if (d >= from && d < to)
				expect[n_expect++] = d;
		}
		collect c = { .n = 0 };
		assert_int_equal(rule_each(&r, from, to, collect_cb, &c), 0);
		assert_int_equal(c.n, n_expect);
		for (size_t k = 0; k < n_expect && k < 64; k++)
			assert_true(c.v[k].delivery == expect[k]);
		/* and rule_next walks the same list */
		int64_t t = from - 1;
		for (size_t k = 0; k < n_expect; k++) {
			occurrence o;
			assert_int_equal(rule_next(&r, t, &o), 0);
			if (o.delivery != expect[k])
				fail_msg("cron rule %zu: got %lld want %lld (after %lld, from %lld)", k,
					 (long long) o.delivery, (long long) expect[k], (long long) t, (long long) from);
			t = o.delivery;
			checked++;
		}
		checked += check_count_nth(&r, from - 1, true, "cron rule");
	}
	print_message("cron rules: %d windows, %d occurrences\n", n, checked);
}

/* Counting across years of DST gaps (Helsinki: 03:00 -> 04:00 every March) against
 * walking: "0,20,40 2-4 * * *" has 03:00, 03:20, 03:40 in each gap, delivered at
 * 04:00, 04:20, 04:40 new time, so the real 04:00, 04:20, 04:40 are dropped, every
 * year. */
static void test_count_across_gaps(void **state) {
	(void) state;
	const char *why;
	cron_expr ce;
	rule r = mk(RULE_CRON, hel, 2026, 1, 1, 0, 0);
	assert_int_equal(cron_parse("0,20,40 2-4 * * *", &ce, &why), 0);
	r.cron = &ce;
	int64_t after = n_days(2026, 1, 1) * 86400 - 7200, before = n_days(2029, 1, 1) * 86400;
	static int64_t v[3 * 366 * 9];
	size_t n = 0;
	occurrence o;
	for (int64_t t = after; rule_next(&r, t, &o) == 0 && o.delivery < before; t = o.delivery)
		v[n++] = o.delivery;
	assert_int_equal(n, (size_t) ((365 + 365 + 366) * 9 - 3 * 3));   /* 2028 is a leap year */
	uint64_t c;
	assert_int_equal(rule_count(&r, after, before, &c), 0);
	assert_int_equal(c, n);
	for (size_t i = 0; i < n; i += 997) {
		assert_int_equal(rule_nth_after(&r, after, i, &o), 0);
		assert_true(o.delivery == v[i]);
		assert_int_equal(rule_count(&r, after, v[i] + 1, &c), 0);
		assert_int_equal(c, i + 1);
	}
}

static int setup(void **state) {
	(void) state;
	db = tz_db_new(NULL);
	if (!db || tz_db_get(db, "UTC", &utc) < 0 || tz_db_get(db, "Europe/Helsinki", &hel) < 0)
		return -1;
	return 0;
}

static int teardown(void **state) {
	(void) state;
	tz_db_free(db);
	return 0;
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_design_every_2_months),
		cmocka_unit_test(test_monthly_from_jan31),
		cmocka_unit_test(test_yearly_from_feb29),
		cmocka_unit_test(test_weekly_on),
		cmocka_unit_test(test_monthly_day_and_weekday),
		cmocka_unit_test(test_dst_gap_and_fold),
		cmocka_unit_test(test_until_count_skip),
		cmocka_unit_test(test_elapsed),
		cmocka_unit_test(test_cron_rules),
		cmocka_unit_test(test_far_from_start),
		cmocka_unit_test(test_each),
		cmocka_unit_test(test_copy_done),
		cmocka_unit_test(test_validate),
		cmocka_unit_test(test_random_rules),
		cmocka_unit_test(test_random_elapsed),
		cmocka_unit_test(test_random_cron_rules),
		cmocka_unit_test(test_count_across_gaps),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
