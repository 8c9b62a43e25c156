/* cron: Vixie cron expressions "m h dom mon dow" (lists, ranges, steps, names,
 * @yearly @annually @monthly @weekly @daily @midnight @hourly), on local civil time.
 * Vixie's rule: when both dom and dow are restricted (neither starts with '*'),
 * a day matches when either matches. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

typedef struct cron_expr {
	uint64_t minute;   /* bits 0..59 */
	uint32_t hour;     /* bits 0..23 */
	uint32_t dom;      /* bits 1..31 */
	uint16_t month;    /* bits 1..12 */
	uint8_t dow;       /* bits 0..6, 0 = Sunday (cron order; 7 is folded into 0) */
	bool dom_star, dow_star;
} cron_expr;

/* 0, or -EINVAL with a message (static string) in *ret_why naming what is wrong
 * ("field 2 (hour): 24 is out of range 0-23"). ret_why may be NULL. */
int cron_parse(const char *s, cron_expr *ret, const char **ret_why);
bool cron_matches_day(const cron_expr *c, int64_t days);
bool cron_matches(const cron_expr *c, int64_t local); /* local civil seconds, minute-aligned */
/* First matching local minute strictly after `local`; -ENOENT if none within
 * 50 years (e.g. "0 0 30 2 *"). */
int cron_next(const cron_expr *c, int64_t local, int64_t *ret_local);
