/* cal: proleptic Gregorian civil dates as day numbers (days since 1970-01-01),
 * valid far beyond 1970-9999. Pure integer arithmetic, no time zones.
 * Weekdays are 0 = Monday .. 6 = Sunday (ISO order), as in the YAML `on:` lists. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#define CAL_SECS_PER_DAY INT64_C(86400)

typedef struct cal_date {
	int32_t year;
	int32_t month; /* 1..12 */
	int32_t day;   /* 1..31 */
} cal_date;

int64_t cal_days_from_civil(int32_t y, int32_t m, int32_t d);
cal_date cal_civil_from_days(int64_t days);
int cal_weekday(int64_t days);                 /* 0 = Monday */
bool cal_is_leap(int32_t y);
int cal_days_in_month(int32_t y, int32_t m);
/* y/m/d + n months, day clipped to the target month's length (anchored: the caller
 * always adds to the original anchor, so Jan 31 + 1 = Feb 28/29, + 2 = Mar 31). */
cal_date cal_add_months(cal_date d, int64_t n);
/* Months from (y1,m1) to (y2,m2): 12*(y2-y1) + (m2-m1). */
int64_t cal_months_between(int32_t y1, int32_t m1, int32_t y2, int32_t m2);

/* Parse "YYYY-MM-DD" exactly (no trailing text); 0 or -EINVAL. */
int cal_parse_date(const char *s, int64_t *ret_days);
/* Parse "HH:MM" or "HH:MM:SS" (00:00 .. 23:59:59); seconds since midnight. */
int cal_parse_time(const char *s, int32_t *ret_secs);
/* Floor division helpers used everywhere instants are split into days. */
static inline int64_t cal_floordiv(int64_t a, int64_t b) {
	int64_t q = a / b;
	return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}
static inline int64_t cal_floormod(int64_t a, int64_t b) { return a - cal_floordiv(a, b) * b; }

/* ISO 8601 text. offset in seconds east of UTC. */
#define CAL_ISO_MAX 40
/* "2027-02-01T06:00:00+02:00" (the instant shown in local time with its offset) */
char *cal_format_instant(int64_t t, int32_t offset, char buf[CAL_ISO_MAX]);
/* "2027-01-27T04:00:00Z" */
char *cal_format_utc(int64_t t, char buf[CAL_ISO_MAX]);
/* "2027-01-27" of a civil day */
char *cal_format_date(int64_t days, char buf[CAL_ISO_MAX]);
/* Parse an instant "YYYY-MM-DDTHH:MM[:SS](Z|+HH:MM|-HH:MM)"; a space may stand for T.
 * 0 or -EINVAL. */
int cal_parse_instant(const char *s, int64_t *ret);
