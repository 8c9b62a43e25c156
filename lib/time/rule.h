/* rule: a compiled recurrence rule (the `schedule:` of a standing order).
 * Occurrence n is computed from the anchor (start + n * interval), never by
 * stepping from occurrence n-1. Wall-clock forms (days and longer, weekly `on`,
 * monthly `day`/`weekday`, cron) live in the schedule's zone and are turned into
 * instants with tz_from_local(); `every: N minutes|hours` is elapsed time from
 * the anchor instant. Every form numbers its occurrences and maps a number to its
 * occurrence without walking (cron through cron_index), so `next strictly after T`,
 * counting the occurrences between two instants and finding the i-th after T are
 * arithmetic plus a few steps, whatever the distance from `start`. Skipped dates are
 * binary-searched and jumped over a run at a time. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "lib/time/cron.h"
#include "lib/time/tz.h"

typedef enum rule_kind {
	RULE_EVERY,            /* every N units from start+at */
	RULE_WEEKLY_ON,        /* every N weeks, on a set of weekdays */
	RULE_MONTHLY_DAY,      /* every N months, on day D or the last day */
	RULE_MONTHLY_WEEKDAY,  /* every N months, on the 1st..4th or last <weekday> */
	RULE_CRON,
} rule_kind;

typedef enum rule_unit {
	RULE_UNIT_MINUTE, RULE_UNIT_HOUR, RULE_UNIT_DAY, RULE_UNIT_WEEK, RULE_UNIT_MONTH, RULE_UNIT_YEAR,
} rule_unit;

#define RULE_LAST (-1)         /* day: last, weekday: last fri */
/* start_day of a cron rule without `start:` (the pack format and the definitions'
 * hash still write it as INT64_MIN, its value when the field was 64 bits). */
#define RULE_NO_DAY INT32_MIN

/* One per standing order held in memory (issue 12): 48 bytes. Counts, civil days and
 * lead_time are 32 bits (rule_validate() bounds the days to +-203 million, the
 * definitions to 1970..9999 and lead_time to 366 days); `at` (< 86400: 17 bits),
 * kind, unit and the two flags share one 32-bit word of bit-fields (read kind and
 * unit through a cast to rule_kind/rule_unit where a switch wants the enum). A cron
 * rule's expression is out of line (`cron`, owned like `skip`: malloc'd by the
 * definitions' parser and freed by rule_done(), copied by rule_copy(), in the arena
 * of an unpacked unit, one copy per distinct expression of the unit; a shallow copy
 * of the rule shares it), so the cron pointer and the other forms' fields share 8
 * bytes (a union): a rule reads only its kind's; the pack format and the
 * definitions' hash write the other kind's as the definitions' parser left them
 * when they were apart (interval 1, the rest 0). */
typedef struct rule {
	const tz_zone *zone;   /* owned by the tz_db */
	int64_t *skip;         /* sorted civil days whose occurrences are suppressed */
	int32_t start_day;     /* civil day of `start` (cron: RULE_NO_DAY when absent) */
	int32_t until_day;     /* inclusive: occurrences whose local date <= until */
	int32_t lead_time;     /* seconds; create_at = delivery - lead_time */
	uint32_t at : 17;      /* seconds after local midnight (`at:`, default 00:00), < 86400 */
	uint32_t kind : 3;     /* rule_kind */
	uint32_t unit : 3;     /* rule_unit; RULE_EVERY only; the others imply week or month */
	uint32_t has_until : 1;
	uint32_t paused : 1;   /* carried for the callers; rule_next() ignores it */
	union {
		const cron_expr *cron; /* RULE_CRON: the expression (NULL: none, an invalid rule) */
		struct {               /* the other kinds */
			uint32_t interval;     /* N >= 1 */
			uint8_t on_mask;       /* RULE_WEEKLY_ON: bit 0 = Monday .. bit 6 = Sunday */
			int8_t day;            /* RULE_MONTHLY_DAY: 1..31 or RULE_LAST */
			int8_t nth;            /* RULE_MONTHLY_WEEKDAY: 1..4 or RULE_LAST */
			int8_t weekday;        /* RULE_MONTHLY_WEEKDAY: 0 = Monday .. 6 = Sunday */
		};
	};
	uint32_t count;        /* 0: no count bound (the definitions allow up to 2^32 - 1) */
	uint32_t n_skip;
} rule;
_Static_assert(sizeof(rule) == 48, "struct rule: one per standing order in memory");

/* occurrence.n of a cron rule without `count:`: numbering those would mean walking
 * every match since `start`, which next-after-T must not do. */
#define RULE_N_UNKNOWN UINT64_MAX

typedef struct occurrence {
	uint64_t n;            /* index from the anchor, 0-based; skipped ones count */
	int64_t local;         /* local civil seconds of delivery: the wall clock at the
				* delivery instant (a time in a DST gap reads as moved) */
	int64_t delivery;      /* instant (UTC seconds) */
	int64_t create_at;     /* delivery - lead_time */
} occurrence;

/* 0 when the rule is well-formed (zone set, interval >= 1, at within the day, start
 * present except for cron, on/day/nth/weekday in range, skip sorted, cron with count
 * has a start), else -EINVAL and a static message in *ret_why (may be NULL).
 * rule_next() and rule_each() check this themselves and return -EINVAL. */
int rule_validate(const rule *r, const char **ret_why);
/* The first occurrence whose delivery instant is strictly after `after`, honouring
 * until/count/skip: the first in index order, so an instant is never delivered twice.
 * Deliveries follow n except in a spring-forward gap, where a time moved forward by
 * the gap lands on or after times that follow it (cron 03:30 in a 03:00->04:00 gap is
 * delivered at 04:30, like the real 04:30): those later ones are not returned, here or
 * by rule_each(). A skipped occurrence still uses up its n, so `count: 12` with one
 * date in `skip` delivers 11. 0, or -ENOENT when the schedule has ended. */
int rule_next(const rule *r, int64_t after, occurrence *ret);
/* Calls fn for every occurrence with delivery in [from, to), in order: exactly the
 * ones repeated rule_next() calls from `from - 1` would return. Stops early when fn
 * returns non-zero and returns that value; else 0 (or -EINVAL for a bad rule). */
int rule_each(const rule *r, int64_t from, int64_t to,
	      int (*fn)(const occurrence *o, void *userdata), void *userdata);
/* The number of occurrences rule_each(r, after + 1, before, ...) would report, without
 * visiting them: O(1) plus O(runs of skipped dates in the range); cron also pays for
 * the spring-forward gaps in the range (the offset sampled weekly: about 20 us a
 * century; each gap's dropped duplicates counted in closed form). Gaps are not
 * looked for over ranges beyond 1,000 years, nor seen when two offset changes
 * within one week cancel out. 0 or -EINVAL. */
int rule_count(const rule *r, int64_t after, int64_t before, uint64_t *ret);
/* The i-th (0-based) occurrence after `after`: what i + 1 rule_next() calls starting
 * from `after` return last. Up to i = 1023 it steps (O(i)); further it costs a few
 * rule_count()s (one more per gap that drops occurrences). 0, -ENOENT or -EINVAL. */
int rule_nth_after(const rule *r, int64_t after, uint64_t i, occurrence *ret);
void rule_done(rule *r);   /* frees skip and cron; the struct itself is the caller's */
/* Deep copy (the skip array and the cron expression) */
int rule_copy(rule *dst, const rule *src);
