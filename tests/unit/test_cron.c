/* Tests for lib/time/cron.c: parser bitsets and messages, exact known cases, and random
 * expressions checked against an oracle that knows nothing of cron.c or cal.c: its
 * own field sets, its own calendar walk, a minute-by-minute scan for the first days
 * and a day-by-day scan after that. Seed: $STANDINGD_TEST_SEED (printed); iteration
 * counts cut 10x by STANDINGD_TEST_QUICK=1. */
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
#include "lib/time/cron.h"

/* ---- helpers independent of cal.c ---- */

typedef struct nday {
	int y, m, d;
	int dow;    /* 0 = Sunday */
	int64_t n;
} nday;

static nday n_from_days(int64_t n) {
	nday r = { 1970, 1, 1, 4, 0 };  /* 1970-01-01 was a Thursday */
	int64_t left = n;
	while (left < 0) {
		r.y--;
		left += n_leap(r.y) ? 366 : 365;
	}
	while (left >= (n_leap(r.y) ? 366 : 365)) {
		left -= n_leap(r.y) ? 366 : 365;
		r.y++;
	}
	while (left >= n_dim(r.y, r.m)) {
		left -= n_dim(r.y, r.m);
		r.m++;
	}
	r.d = (int) left + 1;
	r.n = n;
	r.dow = (int) (((n % 7) + 7 + 4) % 7);
	return r;
}

static void n_next_day(nday *x) {
	x->n++;
	x->dow = (x->dow + 1) % 7;
	if (++x->d > n_dim(x->y, x->m)) {
		x->d = 1;
		if (++x->m > 12) {
			x->m = 1;
			x->y++;
		}
	}
}

/* ---- naive cron model ---- */

typedef struct model {
	bool min[60], hour[24], dom[32], mon[13], dow[8];
	bool dom_star, dow_star;
} model;

static bool m_day(const model *e, const nday *x) {
	if (!e->mon[x->m])
		return false;
	if (e->dom_star || e->dow_star)
		return e->dom[x->d] && e->dow[x->dow];
	return e->dom[x->d] || e->dow[x->dow];
}

/* First match strictly after local: minute by minute over the first two days, then
 * day by day (each matching day searched minute by minute) up to the horizon. */
static int m_next(const model *e, int64_t local, int64_t *ret) {
	int64_t t = (local >= 0 ? local / 60 : -((-local + 59) / 60)) * 60 + 60;
	int64_t day = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
	int64_t sod = t - day * 86400;
	nday x = n_from_days(day);
	int h = (int) (sod / 3600), mi = (int) (sod % 3600 / 60);
	int64_t i;

	for (int k = 0; k < 2 * 1440; k++) {
		if (m_day(e, &x) && e->hour[h] && e->min[mi]) {
			*ret = x.n * 86400 + h * 3600 + mi * 60;
			return 0;
		}
		if (++mi == 60) {
			mi = 0;
			if (++h == 24) {
				h = 0;
				n_next_day(&x);
			}
		}
	}
	/* now at 00:00 of day + 2 (or later, when we started mid-day: still day + 2) */
	for (i = x.n - day; i < CRON_HORIZON_DAYS; i++, n_next_day(&x)) {
		if (!m_day(e, &x))
			continue;
		for (h = 0; h < 24; h++)
			for (mi = 0; mi < 60; mi++)
				if (e->hour[h] && e->min[mi]) {
					*ret = x.n * 86400 + h * 3600 + mi * 60;
					return 0;
				}
	}
	return -ENOENT;
}

/* ---- random expressions ---- */

static const char *const mon_names[] = { "", "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug",
	"sep", "oct", "nov", "dec" };
static const char *const dow_names[] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat" };

/* Write one random field into buf and mark its values in set (indices lo..hi). */
static void gen_field(int idx, int lo, int hi, char *buf, size_t size, bool *set) {
	int kind = rnd(0, 99);
	size_t len = 0;
	if (kind < 20) {
		snprintf(buf, size, "*");
		for (int v = lo; v <= hi; v++)
			set[v] = true;
		return;
	}
	if (kind < 35) {
		int step = rnd(0, 3) == 0 ? rnd(1, hi - lo + 1) : rnd(1, 4);
		snprintf(buf, size, "*/%d", step);
		for (int v = lo; v <= hi; v += step)
			set[v] = true;
		return;
	}
	int items = rnd(1, 3);
	buf[0] = '\0';
	for (int it = 0; it < items; it++) {
		char tmp[32], a_s[8], b_s[8];
		int a = rnd(lo, hi), b = rnd(a, hi), step = 1, form = rnd(0, 9);
		bool names = (idx == 3 || idx == 4) && rnd(0, 2) == 0;
		if (names && idx == 4 && a == 7)
			a = 0;
		if (names && idx == 4 && b == 7 && a > 0 && rnd(0, 1)) {
			/* "fri-sun": sun as the end of a range */
			snprintf(b_s, sizeof(b_s), "%s", "Sun");
		} else if (names) {
			if (idx == 4 && b == 7)
				b = 6;
			snprintf(b_s, sizeof(b_s), "%s", idx == 3 ? mon_names[b] : dow_names[b]);
		} else {
			snprintf(b_s, sizeof(b_s), "%d", b);
		}
		if (names)
			snprintf(a_s, sizeof(a_s), "%s", idx == 3 ? mon_names[a] : dow_names[a]);
		else
			snprintf(a_s, sizeof(a_s), "%d", a);
		if (b < a)
			b = a;
		if (form < 4) {
			snprintf(tmp, sizeof(tmp), "%s", a_s);
			b = a;
		} else if (form < 7) {
			snprintf(tmp, sizeof(tmp), "%s-%s", a_s, b_s);
		} else if (form < 9) {
			step = rnd(1, 5);
			snprintf(tmp, sizeof(tmp), "%s-%s/%d", a_s, b_s, step);
		} else {
			step = rnd(1, 7);
			b = hi;
			snprintf(tmp, sizeof(tmp), "%s/%d", a_s, step);
		}
		for (int v = a; v <= b; v += step)
			set[v] = true;
		len += (size_t) snprintf(buf + len, size - len, "%s%s", it ? "," : "", tmp);
	}
}

static void gen_expr(char *s, size_t size, model *e) {
	static const int lo[5] = { 0, 0, 1, 1, 0 }, hi[5] = { 59, 23, 31, 12, 7 };
	char f[5][96];
	bool sets[5][64];
	memset(e, 0, sizeof(*e));
	memset(sets, 0, sizeof(sets));
	for (int i = 0; i < 5; i++)
		gen_field(i, lo[i], hi[i], f[i], sizeof(f[i]), sets[i]);
	memcpy(e->min, sets[0], sizeof(e->min));
	memcpy(e->hour, sets[1], sizeof(e->hour));
	memcpy(e->dom, sets[2], sizeof(e->dom));
	memcpy(e->mon, sets[3], sizeof(e->mon));
	memcpy(e->dow, sets[4], sizeof(e->dow));
	if (e->dow[7])
		e->dow[0] = true;
	if (rnd(0, 7) == 0) {
		/* rare or impossible days (Feb 29, Feb 30, Apr 31; Friday 13th with a '*'
		 * in front of dow, so the AND rule applies), to reach the horizon */
		static const char *const rare[][3] = {
			{ "29", "2", "*" }, { "30", "feb", "*" }, { "31", "4,6", "*" },
			{ "13", "*", "*/5" }, { "29", "2", "*/3" }, { "31", "2-4", "*" },
		};
		int k = rnd(0, 5);
		snprintf(f[2], sizeof(f[2]), "%s", rare[k][0]);
		snprintf(f[3], sizeof(f[3]), "%s", rare[k][1]);
		snprintf(f[4], sizeof(f[4]), "%s", rare[k][2]);
		memset(e->dom, 0, sizeof(e->dom));
		memset(e->mon, 0, sizeof(e->mon));
		memset(e->dow, 0, sizeof(e->dow));
		e->dom[atoi(rare[k][0])] = true;
		static const bool mons[][13] = {
			{ [2] = true }, { [2] = true }, { [4] = true, [6] = true },
			{ false, true, true, true, true, true, true, true, true, true, true, true, true },
			{ [2] = true }, { [2] = true, [3] = true, [4] = true },
		};
		memcpy(e->mon, mons[k], sizeof(e->mon));
		int dstep = k == 3 ? 5 : k == 4 ? 3 : 1;
		for (int v = 0; v <= 7; v += dstep)
			e->dow[v] = true;
	}
	e->dom_star = f[2][0] == '*';
	e->dow_star = f[4][0] == '*';
	snprintf(s, size, "%s %s %s %s %s", f[0], f[1], f[2], f[3], f[4]);
}

static void print_seed(void) {
	static bool printed;
	if (!printed) {
		print_message("seed: %llu (set STANDINGD_TEST_SEED to repeat another)\n",
			      (unsigned long long) test_seed());
		printed = true;
	}
}

/* ---- parser ---- */

static cron_expr parse_ok(const char *s) {
	cron_expr c;
	const char *why = NULL;
	int r = cron_parse(s, &c, &why);
	if (r != 0)
		fail_msg("cron_parse(\"%s\") failed: %s", s, why ? why : "?");
	return c;
}

/* field by field: the struct has padding, which memcmp would read */
static void assert_same(const cron_expr *a, const cron_expr *b) {
	assert_true(a->minute == b->minute);
	assert_int_equal(a->hour, b->hour);
	assert_int_equal(a->dom, b->dom);
	assert_int_equal(a->month, b->month);
	assert_int_equal(a->dow, b->dow);
	assert_int_equal(a->dom_star, b->dom_star);
	assert_int_equal(a->dow_star, b->dow_star);
}

static uint64_t bits(int lo, int hi, int step) {
	uint64_t b = 0;
	for (int v = lo; v <= hi; v += step)
		b |= UINT64_C(1) << v;
	return b;
}

static void test_parse_fields(void **state) {
	(void) state;
	cron_expr c = parse_ok("30 3 * * 0");
	assert_true(c.minute == UINT64_C(1) << 30);
	assert_true(c.hour == 1u << 3);
	assert_true(c.dom == (uint32_t) bits(1, 31, 1));
	assert_true(c.month == (uint16_t) bits(1, 12, 1));
	assert_true(c.dow == 1);
	assert_true(c.dom_star);
	assert_false(c.dow_star);

	c = parse_ok("  */15\t0-23/6 1,15 jan-MAR,Dec mon-fri  ");
	assert_true(c.minute == bits(0, 59, 15));
	assert_true(c.hour == (uint32_t) bits(0, 23, 6));
	assert_true(c.dom == ((1u << 1) | (1u << 15)));
	assert_true(c.month == (uint16_t) (bits(1, 3, 1) | (1u << 12)));
	assert_true(c.dow == (uint8_t) bits(1, 5, 1));
	assert_false(c.dom_star);
	assert_false(c.dow_star);

	c = parse_ok("0 0 * * 7");
	assert_int_equal(c.dow, 1);
	c = parse_ok("0 0 * * 5-7");
	assert_int_equal(c.dow, (1 << 5) | (1 << 6) | 1);
	c = parse_ok("0 0 * * fri-sun");
	assert_int_equal(c.dow, (1 << 5) | (1 << 6) | 1);
	c = parse_ok("0 0 * * sun-sun");
	assert_int_equal(c.dow, 1);
	c = parse_ok("0 0 */2 * 1-7/2");
	assert_true(c.dom_star);  /* Vixie: '*' first means unrestricted for the OR rule */
	assert_false(c.dow_star);
	assert_int_equal(c.dow, (1 << 1) | (1 << 3) | (1 << 5) | 1);
	c = parse_ok("5/20 * * * *");
	assert_true(c.minute == ((UINT64_C(1) << 5) | (UINT64_C(1) << 25) | (UINT64_C(1) << 45)));

	cron_expr d = parse_ok("0 0 1 1 *");
	c = parse_ok("@yearly");
	assert_same(&c, &d);
	c = parse_ok("@annually");
	assert_same(&c, &d);
	d = parse_ok("0 0 1 * *");
	c = parse_ok("@monthly");
	assert_same(&c, &d);
	d = parse_ok("0 0 * * 0");
	c = parse_ok(" @weekly ");
	assert_same(&c, &d);
	d = parse_ok("0 0 * * *");
	c = parse_ok("@daily");
	assert_same(&c, &d);
	c = parse_ok("@midnight");
	assert_same(&c, &d);
	d = parse_ok("0 * * * *");
	c = parse_ok("@hourly");
	assert_same(&c, &d);
}

static void test_parse_errors(void **state) {
	(void) state;
	static const struct {
		const char *expr, *why;
	} cases[] = {
		{ "0 24 * * *", "field 2 (hour): 24 is out of range 0-23" },
		{ "0 0 * *", "expected 5 fields, got 4" },
		{ "", "expected 5 fields, got 0" },
		{ "0 0 * * * *", "expected 5 fields, got 6" },
		{ "0 0 * * sno", "field 5 (day of week): unknown name \"sno\"" },
		{ "60 * * * *", "field 1 (minute): 60 is out of range 0-59" },
		{ "* * 0 * *", "field 3 (day of month): 0 is out of range 1-31" },
		{ "* * 32 * *", "field 3 (day of month): 32 is out of range 1-31" },
		{ "* * * 13 *", "field 4 (month): 13 is out of range 1-12" },
		{ "* * * 0 *", "field 4 (month): 0 is out of range 1-12" },
		{ "* * * * 8", "field 5 (day of week): 8 is out of range 0-7" },
		{ "* * * janu *", "field 4 (month): unknown name \"janu\"" },
		{ "* * * * monday", "field 5 (day of week): unknown name \"monday\"" },
		{ "x * * * *", "field 1 (minute): expected a number, got \"x\"" },
		{ "* * mon * *", "field 3 (day of month): expected a number, got \"mon\"" },
		{ "*/0 * * * *", "field 1 (minute): step 0 is out of range 1-60" },
		{ "* */25 * * *", "field 2 (hour): step 25 is out of range 1-24" },
		{ "* 10-2 * * *", "field 2 (hour): range \"10-2\" runs backwards" },
		{ "* * * * fri-mon", "field 5 (day of week): range \"fri-mon\" runs backwards" },
		{ "1,,2 * * * *", "field 1 (minute): empty list element" },
		{ "1, * * * *", "field 1 (minute): empty list element" },
		{ "1- * * * *", "field 1 (minute): missing value at the end" },
		{ "*/ * * * *", "field 1 (minute): expected a step number after '/'" },
		{ "*x * * * *", "field 1 (minute): unexpected character 'x'" },
		{ "1-5/2x * * * *", "field 1 (minute): unexpected character 'x'" },
		{ "* * * * -1", "field 5 (day of week): unexpected character '-'" },
		{ "1234567 * * * *", "field 1 (minute): number \"1234567\" is too long" },
		{ "@reboot", "unknown shortcut \"@reboot\" (expected @yearly, @annually, @monthly, "
			     "@weekly, @daily, @midnight or @hourly)" },
		{ "@daily *", "expected 5 fields, got 2" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cron_expr c;
		memset(&c, 0xa5, sizeof(c));
		cron_expr before = c;
		const char *why = NULL;
		int r = cron_parse(cases[i].expr, &c, &why);
		if (r != -EINVAL || !why || strcmp(why, cases[i].why) != 0)
			fail_msg("\"%s\": got %d \"%s\", want \"%s\"", cases[i].expr, r,
				 why ? why : "(null)", cases[i].why);
		assert_memory_equal(&c, &before, sizeof(c));  /* untouched on failure */
	}
	/* NULL message pointer and NULL input are fine */
	cron_expr c;
	assert_int_equal(cron_parse("61 * * * *", &c, NULL), -EINVAL);
	assert_int_equal(cron_parse(NULL, &c, NULL), -EINVAL);
	char small[12];
	assert_int_equal(cron_parse_msg("0 24 * * *", &c, small, sizeof(small)), -EINVAL);
	assert_string_equal(small, "field 2 (ho");
}

/* ---- cron_next exact cases ---- */

static int64_t at(int y, int m, int d, int h, int mi) {
	return n_days(y, m, d) * 86400 + h * 3600 + mi * 60;
}

static void expect_next(const char *expr, int64_t from, int64_t want) {
	cron_expr c = parse_ok(expr);
	int64_t got = 0;
	int r = cron_next(&c, from, &got);
	if (r != 0 || got != want)
		fail_msg("\"%s\" after %lld: got %d %lld, want %lld", expr, (long long) from, r,
			 (long long) got, (long long) want);
}

static void test_next_known(void **state) {
	(void) state;
	/* Feb 29 only: from 2025 the next is 2028; from 2096 the next is 2104 (2100 is common) */
	expect_next("0 0 29 2 *", at(2025, 3, 1, 0, 0), at(2028, 2, 29, 0, 0));
	expect_next("0 0 29 2 *", at(2028, 2, 29, 0, 0), at(2032, 2, 29, 0, 0));
	expect_next("0 0 29 2 *", at(2096, 2, 29, 0, 0), at(2104, 2, 29, 0, 0));
	/* Sundays 03:30; 2026-11-22 is a Sunday */
	expect_next("30 3 * * 0", at(2026, 11, 22, 3, 29), at(2026, 11, 22, 3, 30));
	expect_next("30 3 * * 0", at(2026, 11, 22, 3, 30), at(2026, 11, 29, 3, 30));
	expect_next("30 3 * * sun", at(2026, 11, 23, 12, 0), at(2026, 11, 29, 3, 30));
	expect_next("30 3 * * 7", at(2026, 11, 23, 12, 0), at(2026, 11, 29, 3, 30));
	/* OR rule: the 1st, the 15th, and every Monday at 09:00. 2026-12-01 is a Tuesday. */
	expect_next("0 9 1,15 * mon", at(2026, 11, 30, 9, 0), at(2026, 12, 1, 9, 0));
	expect_next("0 9 1,15 * mon", at(2026, 12, 1, 9, 0), at(2026, 12, 7, 9, 0));
	expect_next("0 9 1,15 * mon", at(2026, 12, 7, 9, 0), at(2026, 12, 14, 9, 0));
	expect_next("0 9 1,15 * mon", at(2026, 12, 14, 9, 0), at(2026, 12, 15, 9, 0));
	expect_next("0 9 1,15 * mon", at(2026, 12, 15, 9, 0), at(2026, 12, 21, 9, 0));
	/* with dow '*', only the dom counts */
	expect_next("0 9 1,15 * *", at(2026, 12, 1, 9, 0), at(2026, 12, 15, 9, 0));
	expect_next("@monthly", at(2026, 11, 23, 11, 59), at(2026, 12, 1, 0, 0));
	expect_next("@monthly", at(2026, 12, 31, 23, 59), at(2027, 1, 1, 0, 0));
	expect_next("@yearly", at(2026, 1, 1, 0, 0), at(2027, 1, 1, 0, 0));
	expect_next("@hourly", at(2026, 12, 31, 23, 0), at(2027, 1, 1, 0, 0));
	/* strictly after, and seconds are floored: 10:00:30 -> 10:01 */
	expect_next("* * * * *", at(2026, 1, 1, 10, 0), at(2026, 1, 1, 10, 1));
	expect_next("* * * * *", at(2026, 1, 1, 10, 0) + 30, at(2026, 1, 1, 10, 1));
	expect_next("* * * * *", at(2026, 1, 1, 10, 0) - 1, at(2026, 1, 1, 10, 0));
	/* before 1970: negative day numbers */
	expect_next("15 12 13 * fri", at(1950, 1, 1, 0, 0), at(1950, 1, 6, 12, 15));
	expect_next("15 12 13 * *", at(1950, 1, 1, 0, 0), at(1950, 1, 13, 12, 15));

	cron_expr c = parse_ok("0 0 30 2 *");
	int64_t got = 42;
	assert_int_equal(cron_next(&c, at(2026, 1, 1, 0, 0), &got), -ENOENT);
	assert_int_equal(got, 42);
	c = parse_ok("0 0 31 4,6,9,11 *");
	assert_int_equal(cron_next(&c, at(2026, 1, 1, 0, 0), &got), -ENOENT);
	c = parse_ok("* * * * *");
	assert_int_equal(cron_next(&c, INT64_MAX, &got), -EINVAL);
	assert_int_equal(cron_next(&c, INT64_MIN, &got), -EINVAL);

	/* matches */
	c = parse_ok("0 9 1,15 * mon");
	assert_true(cron_matches(&c, at(2026, 12, 7, 9, 0)));
	assert_false(cron_matches(&c, at(2026, 12, 7, 9, 0) + 1));
	assert_false(cron_matches(&c, at(2026, 12, 8, 9, 0)));
	assert_true(cron_matches_day(&c, n_days(2026, 12, 15)));
	assert_false(cron_matches_day(&c, n_days(2026, 12, 16)));
}

/* ---- random expressions against the model ---- */

static void test_random(void **state) {
	(void) state;
	print_seed();
	int n_expr = iterations(1000), checked = 0, enoent = 0;
	for (int i = 0; i < n_expr; i++) {
		char s[512];
		model e;
		cron_expr c;
		const char *why = NULL;
		gen_expr(s, sizeof(s), &e);
		if (cron_parse(s, &c, &why) != 0)
			fail_msg("\"%s\" rejected: %s", s, why);
		/* bitsets against the model */
		for (int v = 0; v < 64; v++) {
			if (((c.minute >> v) & 1) != (v < 60 && e.min[v]))
				fail_msg("\"%s\": minute %d", s, v);
			if (v < 32 && ((c.hour >> v) & 1) != (v < 24 && e.hour[v]))
				fail_msg("\"%s\": hour %d", s, v);
			if (v < 32 && ((c.dom >> v) & 1) != (v >= 1 && e.dom[v]))
				fail_msg("\"%s\": dom %d", s, v);
			if (v < 16 && ((c.month >> v) & 1) != (v >= 1 && v <= 12 && e.mon[v]))
				fail_msg("\"%s\": month %d", s, v);
			if (v < 8 && ((c.dow >> v) & 1) != (v < 7 && e.dow[v]))
				fail_msg("\"%s\": dow %d", s, v);
		}
		assert_int_equal(c.dom_star, e.dom_star);
		assert_int_equal(c.dow_star, e.dow_star);

		/* cron_matches_day and cron_matches against the model on random days */
		for (int k = 0; k < 40; k++) {
			int64_t day = n_days(rnd(1600, 2500), 1, 1) + rnd(0, 365);
			nday x = n_from_days(day);
			if (cron_matches_day(&c, day) != m_day(&e, &x))
				fail_msg("\"%s\": cron_matches_day(%d-%02d-%02d)", s, x.y, x.m, x.d);
			int h = rnd(0, 23), mi = rnd(0, 59);
			bool want = m_day(&e, &x) && e.hour[h] && e.min[mi];
			if (cron_matches(&c, day * 86400 + h * 3600 + mi * 60) != want)
				fail_msg("\"%s\": cron_matches(%d-%02d-%02d %02d:%02d)", s, x.y, x.m, x.d, h, mi);
		}

		/* cron_next from random instants, then a few steps along the chain */
		for (int k = 0; k < 12; k++) {
			int y = rnd(0, 2) == 0 ? rnd(1600, 2500) : rnd(1995, 2105);
			int64_t t = n_days(y, rnd(1, 12), rnd(1, 28)) * 86400 + rnd(0, 86399);
			if (rnd(0, 1))
				t -= t % 60;
			for (int step = 0; step < 4; step++) {
				int64_t got = -1, want = -1;
				int rg = cron_next(&c, t, &got), rw = m_next(&e, t, &want);
				if (rg != rw || (rw == 0 && got != want))
					fail_msg("\"%s\" after %lld: got %d %lld, want %d %lld", s,
						 (long long) t, rg, (long long) got, rw, (long long) want);
				checked++;
				if (rw != 0) {
					enoent++;
					break;
				}
				/* also just before the match, so "strictly after" is exercised */
				if (step == 1) {
					rg = cron_next(&c, want - 1, &got);
					assert_int_equal(rg, 0);
					assert_true(got == want);
				}
				t = want;
			}
		}
	}
	print_message("cron: %d expressions, %d cron_next checks (%d without a match)\n",
		      n_expr, checked, enoent);
	assert_true(checked > n_expr * 12);
}

/* Matching minutes in [a, b) by the model, day by day (b - a of a few days) */
static int64_t m_count(const model *e, int64_t a, int64_t b) {
	int64_t n = 0;
	for (int64_t t = a; t < b;) {
		if (t % 60 != 0) {
			t += 60 - (t % 60 + 60) % 60;
			continue;
		}
		int64_t day = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
		nday x = n_from_days(day);
		int64_t sod = t - day * 86400;
		if (m_day(e, &x) && e->hour[sod / 3600] && e->min[sod % 3600 / 60])
			n++;
		t += 60;
	}
	return n;
}

/* cron_index_before/cron_index_at against the model: differences of the index are
 * minute-by-minute counts, and match k is the first match at or after a minute
 * whose index is k. Far apart instants are checked through whole years of the
 * model's day walk. */
static void test_index_random(void **state) {
	(void) state;
	print_seed();
	int n_expr = iterations(300), checked = 0;
	for (int i = 0; i < n_expr; i++) {
		char s[512];
		model e;
		cron_expr c;
		gen_expr(s, sizeof(s), &e);
		assert_int_equal(cron_parse(s, &c, NULL), 0);
		cron_index ix;
		cron_index_init(&ix, &c);
		for (int k = 0; k < 6; k++) {
			int y = rnd(0, 2) == 0 ? rnd(-400, 2500) : rnd(1995, 2105);
			int64_t a = n_days(y, rnd(1, 12), rnd(1, 28)) * 86400 + rnd(0, 86399);
			if (rnd(0, 1))
				a -= (a % 60 + 60) % 60;
			int64_t b = a + rnd(0, 3 * 86400);
			int64_t got = cron_index_before(&ix, b) - cron_index_before(&ix, a);
			int64_t want = m_count(&e, a, b);
			if (got != want)
				fail_msg("\"%s\" [%lld, %lld): %lld matches, want %lld", s, (long long) a,
					 (long long) b, (long long) got, (long long) want);
			/* the match at the index of a is the first match >= a */
			int64_t m = -1, w = -1;
			int rg = cron_index_at(&ix, cron_index_before(&ix, a), &m);
			int rw = m_next(&e, a - 1, &w);
			if (rw == 0 && (rg != 0 || m != w))
				fail_msg("\"%s\" at index of %lld: %d %lld, want %lld", s, (long long) a, rg,
					 (long long) m, (long long) w);
			if (rw == 0)
				assert_true(cron_index_before(&ix, m) == cron_index_before(&ix, a));
			checked++;
		}
		/* whole years: matching days of the model times matches per day */
		int y = rnd(1900, 2100);
		int64_t days = 0, per_day = 0;
		for (int h = 0; h < 24; h++)
			for (int mi = 0; mi < 60; mi++)
				per_day += e.hour[h] && e.min[mi];
		nday x = n_from_days(n_days(y, 1, 1));
		int64_t end = n_days(y + 5, 1, 1);
		for (; x.n < end; n_next_day(&x))
			days += m_day(&e, &x);
		int64_t got = cron_index_before(&ix, end * 86400) - cron_index_before(&ix, n_days(y, 1, 1) * 86400);
		if (got != days * per_day)
			fail_msg("\"%s\" years %d..%d: %lld, want %lld", s, y, y + 4, (long long) got,
				 (long long) (days * per_day));
	}
	print_message("cron index: %d expressions, %d window checks\n", n_expr, checked);
}

static void test_index_known(void **state) {
	(void) state;
	cron_index ix;
	int64_t t;
	cron_expr c = parse_ok("0 0 30 2 *");
	cron_index_init(&ix, &c);
	assert_int_equal(cron_index_at(&ix, 0, &t), -ENOENT);
	/* @yearly: one a year; 400 years hold 400 */
	c = parse_ok("@yearly");
	cron_index_init(&ix, &c);
	assert_true(cron_index_before(&ix, at(2400, 1, 1, 0, 0)) - cron_index_before(&ix, at(2000, 1, 1, 0, 0)) == 400);
	assert_true(cron_index_before(&ix, at(2000, 1, 1, 0, 1)) - cron_index_before(&ix, at(2000, 1, 1, 0, 0)) == 1);
	assert_int_equal(cron_index_at(&ix, cron_index_before(&ix, at(1969, 6, 1, 0, 0)), &t), 0);
	assert_true(t == at(1970, 1, 1, 0, 0));
	/* every minute: 1440 a day, a million years out still exact */
	c = parse_ok("* * * * *");
	cron_index_init(&ix, &c);
	int64_t k = cron_index_before(&ix, at(2026, 12, 1, 0, 0));
	assert_int_equal(cron_index_at(&ix, k + 999999999, &t), 0);
	assert_true(t == at(2026, 12, 1, 0, 0) + INT64_C(999999999) * 60);
	assert_int_equal(cron_index_at(&ix, INT64_MAX / 2, &t), -EINVAL);
	/* Friday the 13th (dom and dow restricted: OR), and the AND form */
	c = parse_ok("0 12 13 * 5");
	cron_index_init(&ix, &c);
	assert_true(cron_index_before(&ix, at(2027, 1, 1, 0, 0)) - cron_index_before(&ix, at(2026, 1, 1, 0, 0)) == 61);   /* 52 Fridays + 12 thirteenths - 3 Friday the 13ths */
	c = parse_ok("0 12 13 * */5");   /* '*' first: AND; 13th on a Sunday or Friday */
	cron_index_init(&ix, &c);
	assert_true(cron_index_before(&ix, at(2027, 1, 1, 0, 0)) - cron_index_before(&ix, at(2026, 1, 1, 0, 0)) == 5);
}

/* cron_index_at guesses the year within the 400-year cycle in proportion and steps;
 * sparse and uneven expressions (leap days only, Friday the 13th with AND, once a
 * year) must land on the same year as the binary search would: every k maps to a
 * minute whose index is k, in increasing order, across whole cycles. */
static void test_index_at_sparse(void **state) {
	(void) state;
	static const char *const exprs[] = {
		"0 0 29 2 *", "0 12 13 * */5", "@yearly", "30 3 31 12 *", "0 0 29 2 1", "*/30 * * 1 *",
	};
	long checked = 0;
	for (size_t e = 0; e < sizeof(exprs) / sizeof(exprs[0]); e++) {
		cron_index ix;
		cron_expr c = parse_ok(exprs[e]);
		cron_index_init(&ix, &c);
		int64_t k0 = cron_index_before(&ix, at(1200, 1, 1, 0, 0)), k1 = cron_index_before(&ix, at(2801, 1, 1, 0, 0));
		int64_t step = (k1 - k0) / 20000 + 1, prev = INT64_MIN;
		for (int64_t k = k0; k < k1; k += step) {
			int64_t t;
			assert_int_equal(cron_index_at(&ix, k, &t), 0);
			if (cron_index_before(&ix, t) != k || !cron_matches(&c, t) || t <= prev)
				fail_msg("%s: k=%lld gives %lld (index %lld)", exprs[e], (long long) k, (long long) t,
					 (long long) cron_index_before(&ix, t));
			prev = t;
			checked++;
		}
	}
	print_message("cron_index_at: %ld indices of sparse expressions\n", checked);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_fields),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_next_known),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_index_known),
		cmocka_unit_test(test_index_at_sparse),
		cmocka_unit_test(test_index_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
