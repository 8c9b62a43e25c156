/* rule: occurrences of a recurrence rule. Every wall-clock form maps an occurrence
 * index n straight to its local date (start + n * interval, clipped), so next-after-T
 * is arithmetic plus a few steps; `every: N minutes|hours` is elapsed time from the
 * anchor instant. Nothing is cached: a rule is plain data and these are pure functions. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "cal.h"
#include "rule.h"

/* Instants and local times are kept within about a million years of 1970, so every
 * product and sum below stays far from int64 overflow and years fit cal_date. Beyond
 * it a schedule simply has no more occurrences. */
#define RULE_LIMIT (INT64_C(1) << 45)
#define RULE_LIMIT_DAYS (RULE_LIMIT / CAL_SECS_PER_DAY)
#define RULE_LIMIT_MONTHS (RULE_LIMIT_DAYS / 31)

/* Reading a rule one occurrence at a time, from a position chosen by rule_seek(). */
typedef struct rule_cursor {
	const rule *r;
	uint64_t n;            /* index of the next occurrence to produce */
	bool numbered;         /* false for cron without count: n is RULE_N_UNKNOWN */
	int64_t cron_local;    /* cron: the next match is searched strictly after this */
	uint64_t before_start; /* wall-clock forms: slots of the first week/month before start */
	int64_t anchor;        /* every N minutes|hours: instant of occurrence 0 */
	int64_t step;          /* every N minutes|hours: seconds between occurrences */
	int64_t end;           /* every N minutes|hours: first instant past `until` */
} rule_cursor;

static bool rule_is_elapsed(const rule *r) {
	return r->kind == RULE_EVERY && (r->unit == UNIT_MINUTE || r->unit == UNIT_HOUR);
}

int rule_validate(const rule *r, const char **ret_why) {
	const char *why = NULL;

	if (!r)
		why = "no rule";
	else if (!r->zone)
		why = "no time zone";
	else if (r->kind != RULE_CRON && r->interval < 1)
		why = "interval must be at least 1";
	else if (r->kind != RULE_CRON && (r->at < 0 || r->at >= CAL_SECS_PER_DAY))
		why = "at: must be within the day";
	else if (r->kind != RULE_CRON && r->start_day == INT64_MIN)
		why = "start: is required";
	else if (r->start_day != INT64_MIN &&
		 (r->start_day < -RULE_LIMIT_DAYS / 2 || r->start_day > RULE_LIMIT_DAYS / 2))
		why = "start: is out of range";
	else if (r->has_until && (r->until_day < -RULE_LIMIT_DAYS / 2 || r->until_day > RULE_LIMIT_DAYS / 2))
		why = "until: is out of range";
	else if (r->n_skip > 0 && !r->skip)
		why = "skip: list missing";
	if (!why) {
		switch (r->kind) {
		case RULE_EVERY:
			if (r->unit > UNIT_YEAR)
				why = "unknown unit";
			break;
		case RULE_WEEKLY_ON:
			if ((r->on_mask & 0x7f) == 0 || (r->on_mask & 0x80))
				why = "on: needs at least one weekday";
			break;
		case RULE_MONTHLY_DAY:
			if (r->day != RULE_LAST && (r->day < 1 || r->day > 31))
				why = "day: must be 1..31 or last";
			break;
		case RULE_MONTHLY_WEEKDAY:
			if (r->nth != RULE_LAST && (r->nth < 1 || r->nth > 4))
				why = "weekday: must be 1st..4th or last";
			else if (r->weekday < 0 || r->weekday > 6)
				why = "weekday: unknown day";
			break;
		case RULE_CRON:
			if (r->count > 0 && r->start_day == INT64_MIN)
				why = "count: needs a start: for a cron schedule";
			break;
		default:
			why = "unknown schedule kind";
		}
	}
	for (size_t i = 1; !why && i < r->n_skip; i++)
		if (r->skip[i - 1] > r->skip[i])
			why = "skip: dates are not sorted";
	if (why) {
		if (ret_why)
			*ret_why = why;
		return -EINVAL;
	}
	return 0;
}

static bool rule_skipped(const rule *r, int64_t day) {
	size_t lo = 0, hi = r->n_skip;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (r->skip[mid] < day)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < r->n_skip && r->skip[lo] == day;
}

/* Days between RULE_EVERY occurrences of the day and week units. */
static int64_t rule_day_step(const rule *r) {
	return (int64_t) r->interval * (r->unit == UNIT_WEEK ? 7 : 1);
}

/* Months between RULE_EVERY occurrences of the month and year units. */
static int64_t rule_month_step(const rule *r) {
	return (int64_t) r->interval * (r->unit == UNIT_YEAR ? 12 : 1);
}

static int rule_popcount7(uint8_t mask) {
	return __builtin_popcount(mask & 0x7f);
}

/* Weekday of the p-th (0-based) set bit of mask. */
static int rule_nth_weekday(uint8_t mask, int p) {
	for (int wd = 0; wd < 7; wd++)
		if (((mask >> wd) & 1) && p-- == 0)
			return wd;
	return 0; /* unreachable: p < popcount */
}

/* The matching day in month (y, m) for the monthly forms. */
static int64_t rule_day_in_month(const rule *r, int32_t y, int32_t m) {
	int dim = cal_days_in_month(y, m);
	if (r->kind == RULE_MONTHLY_DAY) {
		int d = r->day == RULE_LAST || r->day > dim ? dim : r->day;
		return cal_days_from_civil(y, m, d);
	}
	if (r->nth == RULE_LAST) {
		int64_t last = cal_days_from_civil(y, m, dim);
		return last - (cal_weekday(last) - r->weekday + 7) % 7;
	}
	int64_t first = cal_days_from_civil(y, m, 1);
	return first + (r->weekday - cal_weekday(first) + 7) % 7 + 7 * (r->nth - 1);
}

/* The local date of slot j of a wall-clock form. Slots are what the rule's period
 * offers counted from the anchor, before dropping those earlier than start: slot j of
 * a monthly form is month start + j * interval; of a weekly `on` form, the (j % k)-th
 * listed weekday of active week j / k (k weekdays listed). -ENOENT past the limits. */
static int rule_slot_day(const rule *r, uint64_t j, int64_t *ret_day) {
	int64_t day;

	switch (r->kind) {
	case RULE_EVERY:
		if (r->unit == UNIT_DAY || r->unit == UNIT_WEEK) {
			int64_t step = rule_day_step(r);
			if (j > (uint64_t) (RULE_LIMIT_DAYS / step))
				return -ENOENT;
			day = r->start_day + (int64_t) j * step;
		} else {
			int64_t step = rule_month_step(r);
			if (j > (uint64_t) (RULE_LIMIT_MONTHS / step))
				return -ENOENT;
			cal_date d = cal_add_months(cal_civil_from_days(r->start_day), (int64_t) j * step);
			day = cal_days_from_civil(d.year, d.month, d.day);
		}
		break;
	case RULE_WEEKLY_ON: {
		uint64_t k = (uint64_t) rule_popcount7(r->on_mask);
		uint64_t week = j / k;
		int64_t step = (int64_t) r->interval * 7;
		if (week > (uint64_t) (RULE_LIMIT_DAYS / step))
			return -ENOENT;
		int64_t monday = r->start_day - cal_weekday(r->start_day);
		day = monday + (int64_t) week * step + rule_nth_weekday(r->on_mask, (int) (j % k));
		break;
	}
	case RULE_MONTHLY_DAY:
	case RULE_MONTHLY_WEEKDAY: {
		if (j > (uint64_t) (RULE_LIMIT_MONTHS / r->interval))
			return -ENOENT;
		cal_date s = cal_civil_from_days(r->start_day);
		int64_t total = (int64_t) s.year * 12 + (s.month - 1) + (int64_t) j * r->interval;
		day = rule_day_in_month(r, (int32_t) cal_floordiv(total, 12),
					(int32_t) cal_floormod(total, 12) + 1);
		break;
	}
	default:
		return -EINVAL;
	}
	if (day > RULE_LIMIT_DAYS)
		return -ENOENT;
	*ret_day = day;
	return 0;
}

/* Slots before start are not occurrences (`at` is the same for all, so comparing dates
 * is enough): some weekdays of the first week, or the first month's day when it falls
 * before start's. */
static uint64_t rule_slots_before_start(const rule *r) {
	int64_t day;
	switch (r->kind) {
	case RULE_WEEKLY_ON:
		return (uint64_t) rule_popcount7((uint8_t) (r->on_mask & ((1u << cal_weekday(r->start_day)) - 1)));
	case RULE_MONTHLY_DAY:
	case RULE_MONTHLY_WEEKDAY:
		return rule_slot_day(r, 0, &day) == 0 && day < r->start_day ? 1 : 0;
	default:
		return 0;
	}
}

/* A slot index j such that every slot before j has a date before `day`: the seek is
 * then exact up to a handful of slots, whatever the distance from start. */
static uint64_t rule_slot_lower_bound(const rule *r, int64_t day) {
	if (day <= r->start_day)
		return 0;
	cal_date s = cal_civil_from_days(r->start_day), d = cal_civil_from_days(day);
	int64_t months = cal_months_between(s.year, s.month, d.year, d.month);

	switch (r->kind) {
	case RULE_EVERY:
		if (r->unit == UNIT_DAY || r->unit == UNIT_WEEK) {
			int64_t step = rule_day_step(r);
			return (uint64_t) ((day - r->start_day + step - 1) / step);
		}
		/* Slot j lies in month start + j * step, so earlier slots lie in earlier months. */
		return (uint64_t) (months / rule_month_step(r));
	case RULE_WEEKLY_ON: {
		int64_t monday = r->start_day - cal_weekday(r->start_day);
		int64_t weeks = (day - monday) / 7;
		return (uint64_t) (weeks / r->interval) * (uint64_t) rule_popcount7(r->on_mask);
	}
	case RULE_MONTHLY_DAY:
	case RULE_MONTHLY_WEEKDAY:
		return (uint64_t) (months / r->interval);
	default:
		return 0;
	}
}

/* How much earlier than tz_to_local(after) a local time can lie and still be
 * delivered after `after`. Outside gaps, local order is instant order (a fold maps to
 * its first pass, which is not later than `after` when tz_to_local(after) is in the
 * fold). A local time in a spring-forward gap, though, goes out moved forward by the
 * gap (03:30 in 03:00->04:00 at 04:30 new time), after the real 04:00: only a forward
 * jump less than the gap's length before `after` does that, and the gap is the rise
 * of the offset. Sampled hourly over the last day, which covers gaps of up to a day
 * (Pacific/Apia skipped 2011-12-30 whole). */
static int64_t rule_gap_margin(const tz_zone *z, int64_t after) {
	int32_t now = tz_offset_at(z, after), low = now;
	for (int h = 1; h <= 25; h++) {
		int32_t off = tz_offset_at(z, after - h * INT64_C(3600));
		if (off < low)
			low = off;
	}
	return now - low;
}

/* Position the cursor at or before the first occurrence that can be delivered after
 * `after`: every occurrence before it is delivered at or before `after`. Callers then
 * step past the few that are still not later than `after`. */
static void rule_seek(rule_cursor *cur, const rule *r, int64_t after) {
	*cur = (rule_cursor) { .r = r, .numbered = true };
	if (r->kind == RULE_CRON) {
		if (r->count > 0) {
			/* Counting needs every match since start; count keeps this bounded. */
			cur->cron_local = r->start_day * CAL_SECS_PER_DAY - 1;
			return;
		}
		cur->numbered = false;
		cur->n = RULE_N_UNKNOWN;
		cur->cron_local = tz_to_local(r->zone, after) - rule_gap_margin(r->zone, after) - 1;
		if (r->start_day != INT64_MIN && cur->cron_local < r->start_day * CAL_SECS_PER_DAY - 1)
			cur->cron_local = r->start_day * CAL_SECS_PER_DAY - 1;
		return;
	}
	if (rule_is_elapsed(r)) {
		/* Elapsed time, not wall-clock hours: stepping wall-clock hours through a
		 * fall-back fold would deliver two occurrences at one instant (both passes of
		 * 03:00 map to the first) and skip an hour of real time; in a spring-forward
		 * gap, two local hours would collapse onto one instant. */
		cur->step = (int64_t) r->interval * (r->unit == UNIT_HOUR ? 3600 : 60);
		cur->anchor = tz_from_local(r->zone, r->start_day * CAL_SECS_PER_DAY + r->at);
		cur->end = r->has_until ? tz_from_local(r->zone, (r->until_day + 1) * CAL_SECS_PER_DAY)
					: INT64_MAX;
		if (after >= cur->anchor)
			cur->n = (uint64_t) ((after - cur->anchor) / cur->step) + 1;
		return;
	}
	cur->before_start = rule_slots_before_start(r);
	/* Wall-clock forms have at most one occurrence a day, so two days of margin cover
	 * any gap (and any change of offset of up to two days) without looking at the zone. */
	int64_t day = cal_floordiv(tz_to_local(r->zone, after), CAL_SECS_PER_DAY) - 2;
	uint64_t j = rule_slot_lower_bound(r, day);
	cur->n = j > cur->before_start ? j - cur->before_start : 0;
}

/* The next occurrence in index order, whatever its delivery; -ENOENT once count, until
 * or the limits end the schedule. Skip is the caller's business: skipped occurrences
 * still take their n. */
static int rule_take(rule_cursor *cur, occurrence *o, int64_t *ret_day) {
	const rule *r = cur->r;
	int64_t local, delivery, day;

	if (cur->numbered && r->count > 0 && cur->n >= r->count)
		return -ENOENT;
	if (r->kind == RULE_CRON) {
		int k = cron_next(&r->cron, cur->cron_local, &local);
		if (k == -EINVAL)
			return -ENOENT; /* beyond the limits */
		if (k < 0)
			return k;
		day = cal_floordiv(local, CAL_SECS_PER_DAY);
		if ((r->has_until && day > r->until_day) || local > RULE_LIMIT)
			return -ENOENT;
		cur->cron_local = local;
		delivery = tz_from_local(r->zone, local);
	} else if (rule_is_elapsed(r)) {
		if (cur->n > (uint64_t) ((RULE_LIMIT - cur->anchor) / cur->step))
			return -ENOENT;
		delivery = cur->anchor + (int64_t) cur->n * cur->step;
		if (delivery >= cur->end)
			return -ENOENT;
		day = cal_floordiv(tz_to_local(r->zone, delivery), CAL_SECS_PER_DAY);
	} else {
		if (cur->n > UINT64_MAX - cur->before_start)
			return -ENOENT;
		int k = rule_slot_day(r, cur->n + cur->before_start, &day);
		if (k < 0)
			return k;
		if (r->has_until && day > r->until_day)
			return -ENOENT;
		delivery = tz_from_local(r->zone, day * CAL_SECS_PER_DAY + r->at);
	}
	*o = (occurrence) {
		.n = cur->n,
		.local = tz_to_local(r->zone, delivery),
		.delivery = delivery,
		.create_at = delivery - r->lead_time,
	};
	*ret_day = day;
	if (cur->numbered)
		cur->n++;
	return 0;
}

int rule_next(const rule *r, int64_t after, occurrence *ret) {
	rule_cursor cur;
	occurrence o;
	int64_t day;
	int k;

	if (rule_validate(r, NULL) < 0)
		return -EINVAL;
	if (after >= RULE_LIMIT)
		return -ENOENT;
	if (after < -RULE_LIMIT)
		after = -RULE_LIMIT;
	rule_seek(&cur, r, after);
	for (;;) {
		k = rule_take(&cur, &o, &day);
		if (k < 0)
			return k;
		if (o.delivery > after && !rule_skipped(r, day))
			break;
	}
	*ret = o;
	return 0;
}

int rule_each(const rule *r, int64_t from, int64_t to,
	      int (*fn)(const occurrence *o, void *userdata), void *userdata) {
	rule_cursor cur;
	occurrence o;
	int64_t day, last;
	int k;

	if (rule_validate(r, NULL) < 0 || !fn)
		return -EINVAL;
	if (from < -RULE_LIMIT + 1)
		from = -RULE_LIMIT + 1;
	if (to > RULE_LIMIT)
		to = RULE_LIMIT;
	if (from >= to)
		return 0;
	/* `last` is the latest instant already reported (or from - 1): taking only later
	 * deliveries gives exactly the sequence of repeated rule_next() calls. */
	last = from - 1;
	rule_seek(&cur, r, last);
	for (;;) {
		k = rule_take(&cur, &o, &day);
		if (k == -ENOENT)
			return 0;
		if (k < 0)
			return k;
		if (o.delivery <= last || rule_skipped(r, day))
			continue;
		if (o.delivery >= to)
			return 0;
		k = fn(&o, userdata);
		if (k != 0)
			return k;
		last = o.delivery;
	}
}

void rule_done(rule *r) {
	if (!r)
		return;
	free(r->skip);
	r->skip = NULL;
	r->n_skip = 0;
}

int rule_copy(rule *dst, const rule *src) {
	int64_t *skip = NULL;
	if (!dst || !src)
		return -EINVAL;
	if (src->n_skip > 0) {
		if (!src->skip)
			return -EINVAL;
		skip = malloc(src->n_skip * sizeof(*skip));
		if (!skip)
			return -ENOMEM;
		memcpy(skip, src->skip, src->n_skip * sizeof(*skip));
	}
	*dst = *src;
	dst->skip = skip;
	return 0;
}
