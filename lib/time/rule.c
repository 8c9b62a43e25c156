/* rule: occurrences of a recurrence rule. Every wall-clock form maps an occurrence
 * index n straight to its local date (start + n * interval, clipped), so next-after-T
 * is arithmetic plus a few steps; `every: N minutes|hours` is elapsed time from the
 * anchor instant. Nothing is cached: a rule is plain data and these are pure functions. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "lib/time/cal.h"
#include "lib/time/rule.h"

/* Instants and local times are kept within about a million years of 1970, so every
 * product and sum below stays far from int64 overflow and years fit cal_date. Beyond
 * it a schedule simply has no more occurrences. */
#define RULE_LIMIT (INT64_C(1) << 45)
#define RULE_LIMIT_DAYS (RULE_LIMIT / CAL_SECS_PER_DAY)
#define RULE_LIMIT_MONTHS (RULE_LIMIT_DAYS / 31)

static bool rule_is_elapsed(const rule *r) {
	return r->kind == RULE_EVERY && (r->unit == RULE_UNIT_MINUTE || r->unit == RULE_UNIT_HOUR);
}

int rule_validate(const rule *r, const char **ret_why) {
	const char *why = NULL;

	if (!r)
		why = "no rule";
	else if (!r->zone)
		why = "no time zone";
	else if (r->kind != RULE_CRON && r->interval < 1)
		why = "interval must be at least 1";
	else if (r->kind != RULE_CRON && r->at >= CAL_SECS_PER_DAY)
		why = "at: must be within the day";
	else if (r->kind != RULE_CRON && r->start_day == RULE_NO_DAY)
		why = "start: is required";
	else if (r->start_day != RULE_NO_DAY &&
		 (r->start_day < -RULE_LIMIT_DAYS / 2 || r->start_day > RULE_LIMIT_DAYS / 2))
		why = "start: is out of range";
	else if (r->has_until && (r->until_day < -RULE_LIMIT_DAYS / 2 || r->until_day > RULE_LIMIT_DAYS / 2))
		why = "until: is out of range";
	else if (r->n_skip > 0 && !r->skip)
		why = "skip: list missing";
	else if (r->kind == RULE_CRON && !r->cron)
		why = "cron: expression missing";
	if (!why) {
		switch ((rule_kind) r->kind) {
		case RULE_EVERY:
			if (r->unit > RULE_UNIT_YEAR)
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
			if (r->count > 0 && r->start_day == RULE_NO_DAY)
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

/* The first position in the skip list whose date is >= day. */
static size_t rule_skip_lower(const rule *r, int64_t day) {
	size_t lo = 0, hi = r->n_skip;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (r->skip[mid] < day)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool rule_skipped(const rule *r, int64_t day) {
	size_t i = rule_skip_lower(r, day);
	return i < r->n_skip && r->skip[i] == day;
}

/* Days between RULE_EVERY occurrences of the day and week units. */
static int64_t rule_day_step(const rule *r) {
	return (int64_t) r->interval * (r->unit == RULE_UNIT_WEEK ? 7 : 1);
}

/* Months between RULE_EVERY occurrences of the month and year units. */
static int64_t rule_month_step(const rule *r) {
	return (int64_t) r->interval * (r->unit == RULE_UNIT_YEAR ? 12 : 1);
}

static int rule_popcount7(uint8_t mask) {
	static const uint8_t bits[16] = { 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4 };
	return bits[mask & 0xf] + bits[(mask >> 4) & 0x7];   /* no libgcc call on baseline x86-64 */
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
 * listed weekday of active week j / k (k weekdays listed). sd is the civil date of
 * start (computed once by the caller). -ENOENT past the limits. */
static int rule_slot_day(const rule *r, const cal_date *sd, uint64_t j, int64_t *ret_day) {
	int64_t day;

	switch ((rule_kind) r->kind) {
	case RULE_EVERY:
		if (r->unit == RULE_UNIT_DAY || r->unit == RULE_UNIT_WEEK) {
			int64_t step = rule_day_step(r);
			if (j > (uint64_t) (RULE_LIMIT_DAYS / step))
				return -ENOENT;
			day = r->start_day + (int64_t) j * step;
		} else {
			int64_t step = rule_month_step(r);
			if (j > (uint64_t) (RULE_LIMIT_MONTHS / step))
				return -ENOENT;
			cal_date d = cal_add_months(*sd, (int64_t) j * step);
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
		int64_t total = (int64_t) sd->year * 12 + (sd->month - 1) + (int64_t) j * r->interval;
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
static uint64_t rule_slots_before_start(const rule *r, const cal_date *sd) {
	int64_t day;
	switch ((rule_kind) r->kind) {
	case RULE_WEEKLY_ON:
		return (uint64_t) rule_popcount7((uint8_t) (r->on_mask & ((1u << cal_weekday(r->start_day)) - 1)));
	case RULE_MONTHLY_DAY:
	case RULE_MONTHLY_WEEKDAY:
		return rule_slot_day(r, sd, 0, &day) == 0 && day < r->start_day ? 1 : 0;
	default:
		return 0;
	}
}

/* A slot index j such that every slot before j has a date before `day`: the seek is
 * then exact up to a handful of slots, whatever the distance from start. */
static uint64_t rule_slot_lower_bound(const rule *r, const cal_date *sd, int64_t day) {
	if (day <= r->start_day)
		return 0;
	cal_date s = *sd, d = cal_civil_from_days(day);
	int64_t months = cal_months_between(s.year, s.month, d.year, d.month);

	switch ((rule_kind) r->kind) {
	case RULE_EVERY:
		if (r->unit == RULE_UNIT_DAY || r->unit == RULE_UNIT_WEEK) {
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


/* Every form numbers its occurrences (in index order, skipped ones included) with an
 * internal index k in [lo, hi), and maps k to its occurrence in O(1) (cron: O(12
 * months) with a cron_index). Deliveries grow with k (except where a spring-forward
 * gap moves a wall-clock time onto later ones), so "the first occurrence after T" and
 * "the first on or after day D" are arithmetic plus a few steps, and counting is a
 * difference of indices. Index k is occurrence.n except for cron, where k counts
 * local matching minutes from year 0 and n = k - lo (with count) or RULE_N_UNKNOWN. */
typedef struct rule_ix {
	const rule *r;
	int64_t lo, hi;
	uint64_t before_start; /* wall-clock forms: slots of the first week/month before start */
	int64_t anchor, step;  /* every N minutes|hours: instant of occurrence 0, seconds between */
	cron_index cron;
	cal_date start;        /* wall-clock forms: the civil date of start */
	/* rule_at()'s last answer: rule_pos() ends on the index rule_scan() then asks for */
	bool memo_ok;
	int64_t memo_k, memo_day;
	occurrence memo;
} rule_ix;

static int64_t rule_ix_min(int64_t a, int64_t b) { return a < b ? a : b; }

static int64_t rule_ix_clamp(const rule_ix *ix, int64_t k) {
	return k < ix->lo ? ix->lo : k > ix->hi ? ix->hi : k;
}

static int64_t rule_pos_day(const rule_ix *ix, int64_t day);

static void rule_ix_init(rule_ix *ix, const rule *r) {
	ix->r = r;
	ix->lo = 0;
	ix->hi = INT64_MAX;
	ix->before_start = 0;
	ix->memo_ok = false;
	if (r->kind == RULE_CRON) {
		cron_index_init(&ix->cron, r->cron);
		if (ix->cron.per_day == 0 || ix->cron.per_cycle == 0) {
			ix->hi = 0;    /* never matches */
			return;
		}
		ix->lo = r->start_day != RULE_NO_DAY ? cron_index_before(&ix->cron, r->start_day * CAL_SECS_PER_DAY)
						   : cron_index_before(&ix->cron, -RULE_LIMIT);
		ix->hi = cron_index_before(&ix->cron, RULE_LIMIT + 1);
		if (r->count > 0 && r->count < (uint64_t) (ix->hi - ix->lo))
			ix->hi = ix->lo + (int64_t) r->count;
		if (r->has_until)
			ix->hi = rule_ix_min(ix->hi, cron_index_before(&ix->cron, (r->until_day + 1) * CAL_SECS_PER_DAY));
	} else if (rule_is_elapsed(r)) {
		/* Elapsed time, not wall-clock hours: stepping wall-clock hours through a
		 * fall-back fold would deliver two occurrences at one instant (both passes of
		 * 03:00 map to the first) and skip an hour of real time; in a spring-forward
		 * gap, two local hours would collapse onto one instant. */
		ix->step = (int64_t) r->interval * (r->unit == RULE_UNIT_HOUR ? 3600 : 60);
		ix->anchor = tz_from_local(r->zone, r->start_day * CAL_SECS_PER_DAY + r->at);
		ix->hi = ix->anchor > RULE_LIMIT ? 0 : (RULE_LIMIT - ix->anchor) / ix->step + 1;
		if (r->has_until) {
			int64_t end = tz_from_local(r->zone, (r->until_day + 1) * CAL_SECS_PER_DAY);
			ix->hi = rule_ix_min(ix->hi, end <= ix->anchor ? 0 : (end - ix->anchor + ix->step - 1) / ix->step);
		}
		if (r->count > 0 && r->count < (uint64_t) ix->hi)
			ix->hi = (int64_t) r->count;
	} else {
		ix->start = cal_civil_from_days(r->start_day);
		ix->before_start = rule_slots_before_start(r, &ix->start);
		if (r->count > 0)
			ix->hi = (int64_t) r->count;
		if (r->has_until)
			ix->hi = rule_pos_day(ix, r->until_day + 1);
	}
	if (ix->hi < ix->lo)
		ix->hi = ix->lo;
}

/* Occurrence k, and the local date that `skip` is matched against; -ENOENT outside
 * [lo, hi) or past the limits. */
static int rule_at(const rule_ix *ix, int64_t k, occurrence *o, int64_t *ret_day) {
	const rule *r = ix->r;
	int64_t delivery, day, local;
	uint64_t n = (uint64_t) k;

	if (k < ix->lo || k >= ix->hi)
		return -ENOENT;
	if (ix->memo_ok && ix->memo_k == k) {
		*o = ix->memo;
		*ret_day = ix->memo_day;
		return 0;
	}
	if (r->kind == RULE_CRON) {
		if (cron_index_at(&ix->cron, k, &local) < 0)
			return -ENOENT;
		day = cal_floordiv(local, CAL_SECS_PER_DAY);
		delivery = tz_from_local(r->zone, local);
		n = r->count > 0 ? (uint64_t) (k - ix->lo) : RULE_N_UNKNOWN;
	} else if (rule_is_elapsed(r)) {
		delivery = ix->anchor + k * ix->step;
		day = cal_floordiv(tz_to_local(r->zone, delivery), CAL_SECS_PER_DAY);
	} else {
		if ((uint64_t) k > UINT64_MAX - ix->before_start)
			return -ENOENT;
		int e = rule_slot_day(r, &ix->start, (uint64_t) k + ix->before_start, &day);
		if (e < 0)
			return e;
		delivery = tz_from_local(r->zone, day * CAL_SECS_PER_DAY + r->at);
	}
	*o = (occurrence) {
		.n = n,
		.local = tz_to_local(r->zone, delivery),
		.delivery = delivery,
		.create_at = delivery - r->lead_time,
	};
	*ret_day = day;
	/* Every rule_ix is a non-const local of its entry point; the memo is the only
	 * part of it that changes after rule_ix_init(). */
	rule_ix *m = (rule_ix *) ix;
	m->memo = *o;
	m->memo_k = k;
	m->memo_day = day;
	m->memo_ok = true;
	return 0;
}

/* The first index whose date is on or after `day` (hi when none). */
static int64_t rule_pos_day(const rule_ix *ix, int64_t day) {
	const rule *r = ix->r;
	int64_t k;

	if (day < -RULE_LIMIT_DAYS)
		day = -RULE_LIMIT_DAYS;
	if (day > RULE_LIMIT_DAYS)
		day = RULE_LIMIT_DAYS;
	if (r->kind == RULE_CRON)
		return rule_ix_clamp(ix, cron_index_before(&ix->cron, day * CAL_SECS_PER_DAY));
	if (rule_is_elapsed(r)) {
		int64_t t = tz_from_local(r->zone, day * CAL_SECS_PER_DAY);
		k = t <= ix->anchor ? 0 : (t - ix->anchor + ix->step - 1) / ix->step;
		return rule_ix_clamp(ix, k);
	}
	uint64_t j = rule_slot_lower_bound(r, &ix->start, day);
	k = j > ix->before_start ? (int64_t) (j - ix->before_start) : 0;
	/* the lower bound is within a week's or a month's slots of the answer */
	for (int64_t d; k < ix->hi; k++)
		if (rule_slot_day(r, &ix->start, (uint64_t) k + ix->before_start, &d) < 0 || d >= day)
			break;
	return rule_ix_clamp(ix, k);
}

/* How much earlier than tz_to_local(after) a local time can lie and still be
 * delivered after `after`. Outside gaps, local order is instant order (a fold maps to
 * its first pass, which is not later than `after` when tz_to_local(after) is in the
 * fold). A local time in a spring-forward gap, though, goes out moved forward by the
 * gap (03:30 in 03:00->04:00 at 04:30 new time), after the real 04:00: only a forward
 * jump less than the gap's length before `after` does that, and the gap is the rise
 * of the offset. The lowest offset of the last 25 hours covers gaps of up to a day
 * (Pacific/Apia skipped 2011-12-30 whole). */
static int64_t rule_gap_margin(const tz_zone *z, int64_t after) {
	return tz_offset_at(z, after) - tz_offset_min(z, after - 25 * INT64_C(3600), after);
}

/* The first index in index order whose delivery is after `after` (hi when none). */
static int64_t rule_pos(const rule_ix *ix, int64_t after) {
	const rule *r = ix->r;
	int64_t k, day;
	occurrence o;

	if (rule_is_elapsed(r))
		return rule_ix_clamp(ix, after < ix->anchor ? 0 : (after - ix->anchor) / ix->step + 1);
	if (r->kind == RULE_CRON) {
		int64_t local = tz_to_local(r->zone, after) - rule_gap_margin(r->zone, after);
		k = rule_ix_clamp(ix, cron_index_before(&ix->cron, local));
	} else {
		/* Wall-clock forms have at most one occurrence a day, so two days of margin
		 * cover any gap (and any change of offset of up to two days). */
		k = rule_pos_day(ix, cal_floordiv(tz_to_local(r->zone, after), CAL_SECS_PER_DAY) - 2);
	}
	while (k < ix->hi && rule_at(ix, k, &o, &day) == 0 && o.delivery <= after)
		k++;
	return k;
}

/* The end of the run of consecutive skipped dates that starts at `day` (skipped). */
static int64_t rule_skip_run_end(const rule *r, int64_t day) {
	size_t lo = rule_skip_lower(r, day);
	while (lo + 1 < r->n_skip && r->skip[lo + 1] <= r->skip[lo] + 1)
		lo++;
	return r->skip[lo];
}

/* The first occurrence at index >= k whose date is not skipped and whose delivery
 * is after `after`: skipped dates are jumped over a run at a time, never stepped. */
static int rule_scan(const rule_ix *ix, int64_t k, int64_t after, occurrence *ret, int64_t *ret_k) {
	occurrence o;
	int64_t day;
	for (;;) {
		int e = rule_at(ix, k, &o, &day);
		if (e < 0)
			return e;
		if (ix->r->n_skip > 0 && rule_skipped(ix->r, day)) {
			int64_t next = rule_pos_day(ix, rule_skip_run_end(ix->r, day) + 1);
			k = next > k ? next : k + 1;
			continue;
		}
		if (o.delivery > after)
			break;
		k++;
	}
	*ret = o;
	*ret_k = k;
	return 0;
}

int rule_each(const rule *r, int64_t from, int64_t to,
	      int (*fn)(const occurrence *o, void *userdata), void *userdata) {
	rule_ix ix;
	occurrence o;
	int64_t k, last;
	int e;

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
	rule_ix_init(&ix, r);
	k = rule_pos(&ix, last);
	for (;;) {
		e = rule_scan(&ix, k, last, &o, &k);
		if (e == -ENOENT)
			return 0;
		if (e < 0)
			return e;
		if (o.delivery >= to)
			return 0;
		e = fn(&o, userdata);
		if (e != 0)
			return e;
		last = o.delivery;
		k++;
	}
}

/* rule_nth_after() steps up to this many occurrences; further ones are found by
 * counting. */
#define RULE_NTH_STEPPED 1024

/* The indices >= k0 of the run of consecutive skipped dates that starts at position
 * i, as [*ret_a, *ret_b); returns the position after the run. A run is one step
 * however many dates it holds. */
static size_t rule_skip_block(const rule_ix *ix, size_t i, int64_t k0, int64_t *ret_a, int64_t *ret_b) {
	const rule *r = ix->r;
	size_t e = i;
	while (e + 1 < r->n_skip && r->skip[e + 1] <= r->skip[e] + 1)
		e++;
	int64_t a = rule_pos_day(ix, r->skip[i]);
	*ret_a = a < k0 ? k0 : a;
	*ret_b = rule_pos_day(ix, r->skip[e] + 1);
	return e + 1;
}

/* The first skip list position that can hold occurrences from index k0 on. */
static size_t rule_skip_from(const rule_ix *ix, int64_t k0) {
	occurrence o;
	int64_t day;
	if (ix->r->n_skip == 0 || rule_at(ix, k0, &o, &day) < 0)
		return ix->r->n_skip;
	return rule_skip_lower(ix->r, day);
}

/* Indices [k0, k1) minus those on skipped dates. */
static uint64_t rule_unskipped(const rule_ix *ix, int64_t k0, int64_t k1) {
	uint64_t n = (uint64_t) (k1 - k0);
	int64_t a, b;
	for (size_t i = rule_skip_from(ix, k0); i < ix->r->n_skip;) {
		i = rule_skip_block(ix, i, k0, &a, &b);
		if (a >= k1)
			break;
		if (b > k1)
			b = k1;
		if (b > a)
			n -= (uint64_t) (b - a);
	}
	return n;
}

/* Cron occurrences dropped in the spring-forward gap whose missing local times are
 * [gap, gap + len): the gap's matches go out moved forward by len, onto or past the
 * matches of the first len after it, which rule_next() then never returns. Walks the
 * indices of [gap, gap + 2 len] within [k0, k1), as rule_scan() would. */
static uint64_t rule_gap_drops(const rule_ix *ix, int64_t after, int64_t k0, int64_t k1, int64_t gap, int64_t len) {
	int64_t a = cron_index_before(&ix->cron, gap), b = cron_index_before(&ix->cron, gap + 2 * len + 60);
	int64_t max = after, day, m;
	uint64_t n = 0;
	occurrence o;
	int64_t gap_day = cal_floordiv(gap, CAL_SECS_PER_DAY);
	if (a > k0 && (ix->r->n_skip == 0 || cal_floordiv(gap + 2 * len + 60, CAL_SECS_PER_DAY) == gap_day)) {
		/* The window lies after k0 (so after `after`) and on one day: in closed form.
		 * The last match in the gap, M, goes out at M + len new time: the matches in
		 * [gap + len, M + len] are dropped. None when the gap holds no match, or the
		 * day is skipped (then nothing of the window is delivered anyway). */
		int64_t in_gap_end = cron_index_before(&ix->cron, gap + len);
		if (in_gap_end <= a || (ix->r->n_skip > 0 && rule_skipped(ix->r, gap_day)) ||
		    cron_index_at(&ix->cron, in_gap_end - 1, &m) < 0)
			return 0;
		int64_t lo = in_gap_end, hi = cron_index_before(&ix->cron, m + len + 1);
		if (hi > k1)
			hi = k1;
		return hi > lo ? (uint64_t) (hi - lo) : 0;
	}
	for (int64_t k = a < k0 ? k0 : a; k < b && k < k1; k++) {
		if (rule_at(ix, k, &o, &day) < 0)
			break;
		if (ix->r->n_skip > 0 && rule_skipped(ix->r, day))
			continue;
		if (o.delivery <= max)
			n++;
		else
			max = o.delivery;
	}
	return n;
}

/* The index of the j-th (0-based) occurrence from k0 on that is not on a skipped
 * date: each run of skipped dates before it pushes it on by its occurrences. */
static int64_t rule_unskipped_nth(const rule_ix *ix, int64_t k0, uint64_t j) {
	int64_t k, a, b;
	if (j >= (uint64_t) (INT64_MAX - k0))
		return INT64_MAX;
	k = k0 + (int64_t) j;
	for (size_t s = rule_skip_from(ix, k0); s < ix->r->n_skip;) {
		s = rule_skip_block(ix, s, k0, &a, &b);
		if (a > k)
			break;
		if (b > a)
			k += b - a;
	}
	return k;
}

/* Spring-forward gaps between the deliveries of k0 and k1 - 1 and what they drop
 * (cron only: the other forms have at most one occurrence a day). The offset is
 * sampled weekly and each change bisected to the second, so two changes within a
 * week that cancel out are not seen; ranges beyond 1,000 years are not scanned. */
static uint64_t rule_dropped(const rule_ix *ix, int64_t after, int64_t k0, int64_t k1) {
	const tz_zone *z = ix->r->zone;
	const int64_t week = 7 * CAL_SECS_PER_DAY;
	occurrence first, last;
	int64_t day;
	uint64_t n = 0;
	if (ix->r->kind != RULE_CRON || k1 <= k0 || rule_at(ix, k0, &first, &day) < 0 ||
	    rule_at(ix, k1 - 1, &last, &day) < 0 || last.delivery - first.delivery > 1000 * 366 * CAL_SECS_PER_DAY)
		return 0;
	int64_t t = first.delivery - 2 * CAL_SECS_PER_DAY, end = last.delivery + 2 * CAL_SECS_PER_DAY;
	int32_t off = tz_offset_at(z, t);
	while (t < end) {
		if (tz_offset_at(z, t + week) == off) {
			t += week;
			continue;
		}
		int64_t lo = t, hi = t + week;   /* off at lo, another offset at hi */
		while (hi - lo > 1) {
			int64_t mid = lo + (hi - lo) / 2;
			if (tz_offset_at(z, mid) == off)
				lo = mid;
			else
				hi = mid;
		}
		int32_t next = tz_offset_at(z, hi);
		if (next > off)
			n += rule_gap_drops(ix, after, k0, k1, hi + off, next - off);
		off = next;
		t = hi;
	}
	return n;
}

int rule_count(const rule *r, int64_t after, int64_t before, uint64_t *ret) {
	rule_ix ix;
	if (rule_validate(r, NULL) < 0)
		return -EINVAL;
	if (after < -RULE_LIMIT)
		after = -RULE_LIMIT;
	if (before > RULE_LIMIT)
		before = RULE_LIMIT;
	if (before <= after + 1) {
		*ret = 0;
		return 0;
	}
	rule_ix_init(&ix, r);
	int64_t k0 = rule_pos(&ix, after), k1 = rule_pos(&ix, before - 1);
	*ret = k1 > k0 ? rule_unskipped(&ix, k0, k1) - rule_dropped(&ix, after, k0, k1) : 0;
	return 0;
}

int rule_nth_after(const rule *r, int64_t after, uint64_t i, occurrence *ret) {
	rule_ix ix;
	int64_t k;
	if (rule_validate(r, NULL) < 0)
		return -EINVAL;
	if (after >= RULE_LIMIT)
		return -ENOENT;
	if (after < -RULE_LIMIT)
		after = -RULE_LIMIT;
	rule_ix_init(&ix, r);
	int64_t k0 = rule_pos(&ix, after);
	if (i >= (uint64_t) (ix.hi - k0))
		return -ENOENT;
	if (i < RULE_NTH_STEPPED) {
		/* near: step, exactly as repeated rule_next() (gap-moved duplicates dropped) */
		occurrence o;
		int64_t last = after;
		k = k0;
		for (uint64_t j = 0;; j++, k++) {
			int e = rule_scan(&ix, k, last, &o, &k);
			if (e < 0)
				return e;
			if (j == i)
				break;
			last = o.delivery;
		}
		*ret = o;
		return 0;
	}
	/* The index of the (i + d)-th unskipped occurrence, where d is the number dropped
	 * by gaps up to it: d only grows, from below, so the first fixed point is the one
	 * (a handful of rounds: one per gap with drops). */
	uint64_t d = 0;
	for (int round = 0;; round++) {
		k = rule_unskipped_nth(&ix, k0, i + d);
		if (k >= ix.hi)
			return -ENOENT;
		uint64_t d2 = rule_dropped(&ix, after, k0, k + 1);
		if (d2 == d || round == 64)
			break;
		d = d2;
	}
	return rule_scan(&ix, k, after, ret, &k);
}

void rule_done(rule *r) {
	if (!r)
		return;
	free(r->skip);
	r->skip = NULL;
	r->n_skip = 0;
	if (r->kind == RULE_CRON) {
		free((cron_expr *) r->cron);
		r->cron = NULL;
	}
}

int rule_copy(rule *dst, const rule *src) {
	int64_t *skip = NULL;
	cron_expr *cron = NULL;
	if (!dst || !src)
		return -EINVAL;
	if (src->n_skip > 0 && !src->skip)
		return -EINVAL;
	if (src->kind == RULE_CRON && src->cron) {
		cron = malloc(sizeof(*cron));
		if (!cron)
			return -ENOMEM;
		*cron = *src->cron;
	}
	if (src->n_skip > 0) {
		skip = malloc(src->n_skip * sizeof(*skip));
		if (!skip) {
			free(cron);
			return -ENOMEM;
		}
		memcpy(skip, src->skip, src->n_skip * sizeof(*skip));
	}
	*dst = *src;
	dst->skip = skip;
	if (cron)
		dst->cron = cron;
	return 0;
}

int rule_next(const rule *r, int64_t after, occurrence *ret) {
	return rule_nth_after(r, after, 0, ret);
}
