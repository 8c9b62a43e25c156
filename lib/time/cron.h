/* cron: Vixie cron expressions "m h dom mon dow" (lists, ranges, steps, names,
 * @yearly @annually @monthly @weekly @daily @midnight @hourly), on local civil time.
 * Vixie's rule: when both dom and dow are restricted (neither starts with '*'),
 * a day matches when either matches. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How far cron_next() looks ahead: 50 years of days from the day of `local`. */
#define CRON_HORIZON_DAYS INT64_C(18263)

typedef struct cron_expr {
	uint64_t minute;   /* bits 0..59 */
	uint32_t hour;     /* bits 0..23 */
	uint32_t dom;      /* bits 1..31 */
	uint16_t month;    /* bits 1..12 */
	uint8_t dow;       /* bits 0..6, 0 = Sunday (cron order; 7 is folded into 0) */
	bool dom_star, dow_star;
} cron_expr;

/* 0, or -EINVAL with a message in *ret_why naming what is wrong
 * ("field 2 (hour): 24 is out of range 0-23"). ret_why may be NULL. The message lives
 * in a thread-local buffer, valid until this thread's next cron_parse(); the caller
 * never frees it. *ret is untouched on failure. */
int cron_parse(const char *s, cron_expr *ret, const char **ret_why);
/* The same, writing the message (truncated, NUL-terminated) into why[why_size]. */
int cron_parse_msg(const char *s, cron_expr *ret, char *why, size_t why_size);
bool cron_matches_day(const cron_expr *c, int64_t days);
/* local civil seconds; false unless minute-aligned (seconds are never a cron match). */
bool cron_matches(const cron_expr *c, int64_t local);
/* First matching local minute strictly after `local`; -ENOENT if none on the
 * CRON_HORIZON_DAYS days that start with the day of `local` (e.g. "0 0 30 2 *"); -EINVAL when
 * `local` is beyond about a million years from 1970. */
int cron_next(const cron_expr *c, int64_t local, int64_t *ret_local);

/* Numbering matches without walking: the day pattern of dom/month/dow repeats every
 * 400 Gregorian years (146097 days, whole weeks), so the matches before a minute are
 * (whole cycles x matches per cycle) + the years before it in its cycle (14 kinds of
 * year, counted by a static table) + at most 12 months (a month's matching days are
 * the popcount of a 31-bit mask) + the minutes of the day. Match k is found the same way backwards. Indices count from 0000-01-01
 * 00:00 local (negative before it); only differences mean anything. Build the index
 * once (about a microsecond) and ask it many times. */
typedef struct cron_index {
	cron_expr c;
	int64_t per_day;          /* matching minutes of a matching day */
	uint64_t dow_days[7];     /* by weekday of the 1st: the dow field as bits of days 1..35 */
	int32_t per_type[14];     /* matching days of a year by leap * 7 + weekday of Jan 1 */
	int32_t per_cycle;        /* matching days of 400 years */
} cron_index;

void cron_index_init(cron_index *ix, const cron_expr *c);
/* The number of matching minutes strictly before `local` (local civil seconds within
 * about a million years of 1970, as cron_next()). */
int64_t cron_index_before(const cron_index *ix, int64_t local);
/* The local minute of match k, so that cron_index_before(ix, *ret_local) == k;
 * -ENOENT when the expression never matches, -EINVAL beyond the limits. */
int cron_index_at(const cron_index *ix, int64_t k, int64_t *ret_local);
