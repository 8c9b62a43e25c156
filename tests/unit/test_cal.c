/* Tests for lib/time/cal.c: every civil day 0001-01-01..9999-12-31 against a naive day
 * counter that only knows month lengths and the leap rule, known weekdays, anchored
 * month arithmetic, and the date/time parsers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "lib/time/cal.h"

static bool naive_leap(int y) {
	if (y % 400 == 0)
		return true;
	if (y % 100 == 0)
		return false;
	return y % 4 == 0;
}

static int naive_dim(int y, int m) {
	static const int len[13] = { 0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	return m == 2 && naive_leap(y) ? 29 : len[m];
}

static void test_round_trip_all_days(void **state) {
	(void) state;
	/* 0001-01-01 is 719162 days before 1970-01-01 and a Monday (proleptic Gregorian) */
	int y = 1, m = 1, d = 1, wd = 0;
	int64_t n = -719162, checked = 0;

	for (;;) {
		if (cal_days_from_civil(y, m, d) != n)
			fail_msg("days_from_civil(%04d-%02d-%02d) = %lld, want %lld", y, m, d,
				 (long long) cal_days_from_civil(y, m, d), (long long) n);
		cal_date c = cal_civil_from_days(n);
		if (c.year != y || c.month != m || c.day != d)
			fail_msg("civil_from_days(%lld) = %04d-%02d-%02d, want %04d-%02d-%02d",
				 (long long) n, c.year, c.month, c.day, y, m, d);
		if (cal_weekday(n) != wd)
			fail_msg("weekday(%04d-%02d-%02d) = %d, want %d", y, m, d, cal_weekday(n), wd);
		if (d == 1) {
			if (cal_days_in_month(y, m) != naive_dim(y, m))
				fail_msg("days_in_month(%d, %d)", y, m);
			if (m == 1 && cal_is_leap(y) != naive_leap(y))
				fail_msg("is_leap(%d)", y);
		}
		checked++;
		if (y == 9999 && m == 12 && d == 31)
			break;
		n++;
		wd = (wd + 1) % 7;
		if (++d > naive_dim(y, m)) {
			d = 1;
			if (++m > 12) {
				m = 1;
				y++;
			}
		}
	}
	assert_int_equal(n, 2932896);
	assert_int_equal(checked, 2932896 + 719162 + 1);
}

static void test_weekday_known(void **state) {
	(void) state;
	static const struct {
		int y, m, d, wd;
		int64_t days;
	} known[] = {
		{ 1970, 1, 1, 3, 0 },        /* Thursday */
		{ 1969, 12, 31, 2, -1 },     /* Wednesday */
		{ 2000, 1, 1, 5, 10957 },    /* Saturday */
		{ 2024, 2, 29, 3, 19782 },   /* Thursday */
		{ 2026, 11, 23, 0, 20780 },  /* Monday */
		{ 2100, 3, 1, 0, 47541 },    /* Monday */
		{ 1582, 10, 15, 4, -141427 },/* Friday, first Gregorian day */
		{ 9999, 12, 31, 4, 2932896 },/* Friday */
	};
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		int64_t days = cal_days_from_civil(known[i].y, known[i].m, known[i].d);
		assert_int_equal(days, known[i].days);
		assert_int_equal(cal_weekday(days), known[i].wd);
	}
	/* far outside 0001..9999 the arithmetic still holds (400-year eras repeat) */
	assert_int_equal(cal_days_from_civil(-400, 1, 1), cal_days_from_civil(0, 1, 1) - 146097);
	assert_int_equal(cal_weekday(cal_days_from_civil(-400, 1, 1)),
			 cal_weekday(cal_days_from_civil(0, 1, 1)));
	cal_date c = cal_civil_from_days(cal_days_from_civil(-1234, 5, 6));
	assert_int_equal(c.year, -1234);
	assert_int_equal(c.month, 5);
	assert_int_equal(c.day, 6);
}

static void expect_date(cal_date got, int y, int m, int d) {
	if (got.year != y || got.month != m || got.day != d)
		fail_msg("got %04d-%02d-%02d, want %04d-%02d-%02d", got.year, got.month, got.day, y, m, d);
}

static void test_add_months(void **state) {
	(void) state;
	cal_date jan31 = { 2027, 1, 31 };
	expect_date(cal_add_months(jan31, 0), 2027, 1, 31);
	expect_date(cal_add_months(jan31, 1), 2027, 2, 28);
	expect_date(cal_add_months(jan31, 2), 2027, 3, 31);
	expect_date(cal_add_months(jan31, 3), 2027, 4, 30);
	expect_date(cal_add_months(jan31, 4), 2027, 5, 31);
	expect_date(cal_add_months(jan31, 13), 2028, 2, 29);
	expect_date(cal_add_months(jan31, 12 * 73 + 1), 2100, 2, 28);
	expect_date(cal_add_months(jan31, 12 * -27 + 1), 2000, 2, 29);
	expect_date(cal_add_months(jan31, -1), 2026, 12, 31);
	expect_date(cal_add_months(jan31, -2), 2026, 11, 30);

	cal_date feb29 = { 2024, 2, 29 };
	expect_date(cal_add_months(feb29, 12), 2025, 2, 28);
	expect_date(cal_add_months(feb29, 24), 2026, 2, 28);
	expect_date(cal_add_months(feb29, 48), 2028, 2, 29);
	expect_date(cal_add_months(feb29, 12 * 76), 2100, 2, 28);
	expect_date(cal_add_months(feb29, 12 * 80), 2104, 2, 29);
	expect_date(cal_add_months(feb29, -12 * 24), 2000, 2, 29);

	cal_date dec15 = { 2026, 12, 15 };
	expect_date(cal_add_months(dec15, 1), 2027, 1, 15);
	expect_date(cal_add_months(dec15, -12), 2025, 12, 15);
	expect_date(cal_add_months(dec15, -23), 2025, 1, 15);
	expect_date(cal_add_months(dec15, 12 * 7973), 9999, 12, 15);

	assert_int_equal(cal_months_between(2026, 12, 2027, 2), 2);
	assert_int_equal(cal_months_between(2027, 2, 2026, 12), -2);
	assert_int_equal(cal_months_between(1, 1, 9999, 12), 9998 * 12 + 11);
}

static void test_parse_date(void **state) {
	(void) state;
	static const struct {
		const char *s;
		int y, m, d;
	} good[] = {
		{ "2026-12-01", 2026, 12, 1 }, { "2028-02-29", 2028, 2, 29 }, { "2000-02-29", 2000, 2, 29 },
		{ "0001-01-01", 1, 1, 1 },     { "9999-12-31", 9999, 12, 31 }, { "1969-12-31", 1969, 12, 31 },
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		int64_t days = 0;
		assert_int_equal(cal_parse_date(good[i].s, &days), 0);
		assert_int_equal(days, cal_days_from_civil(good[i].y, good[i].m, good[i].d));
	}
	static const char *const bad[] = {
		"2026-02-29", "2100-02-29", "2026-04-31", "2026-13-01", "2026-00-10", "2026-01-00",
		"0000-01-01", "2026-1-01", "2026-01-1", "26-01-01", "2026-01-01x", " 2026-01-01",
		"2026/01/01", "+026-01-01", "2026-01-0a", "", "20260101", "2026-01-01T00:00",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t days = 42;
		if (cal_parse_date(bad[i], &days) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_int_equal(days, 42);  /* untouched on failure */
	}
}

static void test_parse_time(void **state) {
	(void) state;
	static const struct {
		const char *s;
		int32_t secs;
	} good[] = {
		{ "00:00", 0 }, { "06:00", 21600 }, { "23:59", 86340 }, { "23:59:59", 86399 },
		{ "03:30:15", 12615 }, { "00:00:00", 0 },
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		int32_t secs = -1;
		assert_int_equal(cal_parse_time(good[i].s, &secs), 0);
		assert_int_equal(secs, good[i].secs);
	}
	static const char *const bad[] = {
		"24:00", "12:60", "12:00:60", "1:00", "12:0", "12:00:0", "12-00", "12:00 ",
		" 12:00", "", "12", "12:00:00:00", "ab:cd", "-1:00", "12:00:0x",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int32_t secs = 42;
		if (cal_parse_time(bad[i], &secs) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_int_equal(secs, 42);
	}
}

static void test_floor(void **state) {
	(void) state;
	assert_int_equal(cal_floordiv(7, 2), 3);
	assert_int_equal(cal_floordiv(-7, 2), -4);
	assert_int_equal(cal_floordiv(-8, 2), -4);
	assert_int_equal(cal_floordiv(7, -2), -4);
	assert_int_equal(cal_floormod(-1, 86400), 86399);
	assert_int_equal(cal_floormod(-86400, 86400), 0);
	assert_int_equal(cal_floordiv(-1, CAL_SECS_PER_DAY), -1);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_all_days),
		cmocka_unit_test(test_weekday_known),
		cmocka_unit_test(test_add_months),
		cmocka_unit_test(test_parse_date),
		cmocka_unit_test(test_parse_time),
		cmocka_unit_test(test_floor),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
