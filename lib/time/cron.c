/* cron: parse Vixie cron expressions into per-field bitsets and find matching local
 * minutes. Pure functions on local civil time; zones are the caller's business (rule.c).
 * cron_next() walks days, skipping whole months and non-matching days and hours with
 * the bitsets, so its cost is bounded by the days it crosses, never by minutes. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "lib/time/cal.h"
#include "lib/time/cron.h"

/* cron_next() refuses inputs past this many seconds from 1970 (about a million years):
 * beyond it the civil year would no longer fit cal_date's int32. */
#define CRON_LIMIT (INT64_C(1) << 45)

typedef struct cron_field {
	const char *name;
	int low, high;                 /* numbers accepted as written */
	const char *const *names;      /* three-letter names, or NULL when only numbers */
	int n_names, name_base;        /* names[i] stands for name_base + i */
} cron_field;

static const char *const cron_month_names[] = {
	"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
};
static const char *const cron_day_names[] = {
	"sun", "mon", "tue", "wed", "thu", "fri", "sat",
};

/* Day of week accepts 0..7 as Vixie does; 7 is folded into Sunday (0) at the end. */
static const cron_field cron_fields[5] = {
	{ "minute", 0, 59, NULL, 0, 0 },
	{ "hour", 0, 23, NULL, 0, 0 },
	{ "day of month", 1, 31, NULL, 0, 0 },
	{ "month", 1, 12, cron_month_names, 12, 1 },
	{ "day of week", 0, 7, cron_day_names, 7, 0 },
};

static const struct {
	const char *name, *expansion;
} cron_shortcuts[] = {
	{ "@yearly", "0 0 1 1 *" },
	{ "@annually", "0 0 1 1 *" },
	{ "@monthly", "0 0 1 * *" },
	{ "@weekly", "0 0 * * 0" },
	{ "@daily", "0 0 * * *" },
	{ "@midnight", "0 0 * * *" },
	{ "@hourly", "0 * * * *" },
};

typedef struct cron_err {
	char *buf;
	size_t size;
} cron_err;

__attribute__((format(printf, 4, 5)))
static int cron_fail(cron_err *e, int field, const cron_field *f, const char *fmt, ...) {
	if (e->buf && e->size > 0) {
		int k = 0;
		if (f)
			k = snprintf(e->buf, e->size, "field %d (%s): ", field + 1, f->name);
		if (k >= 0 && (size_t) k < e->size) {
			va_list ap;
			va_start(ap, fmt);
			vsnprintf(e->buf + k, e->size - (size_t) k, fmt, ap);
			va_end(ap);
		}
	}
	return -EINVAL;
}

static bool cron_is_digit(char ch) { return ch >= '0' && ch <= '9'; }
static bool cron_is_alpha(char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'); }
static bool cron_is_space(char ch) { return ch == ' ' || ch == '\t'; }
static char cron_lower(char ch) { return (ch >= 'A' && ch <= 'Z') ? (char) (ch - 'A' + 'a') : ch; }

/* Numbers in a cron field have at most two digits; more than this many is never a
 * valid value and would only risk overflow. */
#define CRON_MAX_DIGITS 6

/* One number or name at *pp (which stops before `end`). `named` tells the caller the
 * value came from a name, which matters for "fri-sun" (Sunday as the end of a range). */
static int cron_value(cron_err *e, int idx, const char **pp, const char *end,
		      int *ret_v, bool *ret_named) {
	const cron_field *f = &cron_fields[idx];
	const char *p = *pp, *tok = p;

	if (p < end && cron_is_digit(*p)) {
		int v = 0, nd = 0;
		while (p < end && cron_is_digit(*p)) {
			if (++nd > CRON_MAX_DIGITS)
				return cron_fail(e, idx, f, "number \"%.*s\" is too long",
						 (int) (end - tok), tok);
			v = v * 10 + (*p++ - '0');
		}
		if (v < f->low || v > f->high)
			return cron_fail(e, idx, f, "%d is out of range %d-%d", v, f->low, f->high);
		*ret_v = v;
		*ret_named = false;
	} else if (p < end && cron_is_alpha(*p)) {
		while (p < end && cron_is_alpha(*p))
			p++;
		size_t len = (size_t) (p - tok);
		if (!f->names)
			return cron_fail(e, idx, f, "expected a number, got \"%.*s\"", (int) len, tok);
		int found = -1;
		for (int i = 0; len == 3 && i < f->n_names; i++)
			if (cron_lower(tok[0]) == f->names[i][0] && cron_lower(tok[1]) == f->names[i][1] &&
			    cron_lower(tok[2]) == f->names[i][2])
				found = i;
		if (found < 0)
			return cron_fail(e, idx, f, "unknown name \"%.*s\"", (int) len, tok);
		*ret_v = f->name_base + found;
		*ret_named = true;
	} else if (p >= end) {
		return cron_fail(e, idx, f, "missing value at the end");
	} else {
		return cron_fail(e, idx, f, "unexpected character '%c'", *p);
	}
	*pp = p;
	return 0;
}

/* One list element: "*", "a", "a-b", each optionally with "/step". A lone "a/step"
 * means a through the field's maximum, as cronie and most crons read it. */
static int cron_element(cron_err *e, int idx, const char *p, const char *end, uint64_t *bits) {
	const cron_field *f = &cron_fields[idx];
	const char *elem = p;
	int lo, hi, step = 1, r;
	bool named;

	if (p == end)
		return cron_fail(e, idx, f, "empty list element");
	if (*p == '*') {
		lo = f->low;
		hi = f->high;
		p++;
	} else {
		r = cron_value(e, idx, &p, end, &lo, &named);
		if (r < 0)
			return r;
		hi = lo;
		if (p < end && *p == '-') {
			p++;
			r = cron_value(e, idx, &p, end, &hi, &named);
			if (r < 0)
				return r;
			/* "fri-sun": the name sun ends the week, so read it as 7 here
			 * (but "sun-sun" stays just Sunday). */
			if (idx == 4 && named && hi == 0 && lo > 0)
				hi = 7;
			if (lo > hi) {
				const char *s = elem;
				while (s < end && *s != '/')
					s++;
				return cron_fail(e, idx, f, "range \"%.*s\" runs backwards",
						 (int) (s - elem), elem);
			}
		} else if (p < end && *p == '/') {
			hi = f->high;
		}
	}
	if (p < end && *p == '/') {
		const char *tok = ++p;
		int nd = 0;
		step = 0;
		if (p == end || !cron_is_digit(*p))
			return cron_fail(e, idx, f, "expected a step number after '/'");
		while (p < end && cron_is_digit(*p)) {
			if (++nd > CRON_MAX_DIGITS)
				return cron_fail(e, idx, f, "step \"%.*s\" is too long", (int) (end - tok), tok);
			step = step * 10 + (*p++ - '0');
		}
		int max_step = f->high - f->low + 1;
		if (step < 1 || step > max_step)
			return cron_fail(e, idx, f, "step %d is out of range 1-%d", step, max_step);
	}
	if (p != end)
		return cron_fail(e, idx, f, "unexpected character '%c'", *p);
	for (int v = lo; v <= hi; v += step)
		*bits |= UINT64_C(1) << v;
	return 0;
}

static int cron_field_parse(cron_err *e, int idx, const char *p, const char *end, uint64_t *ret_bits) {
	uint64_t bits = 0;
	for (;;) {
		const char *comma = p;
		while (comma < end && *comma != ',')
			comma++;
		int r = cron_element(e, idx, p, comma, &bits);
		if (r < 0)
			return r;
		if (comma == end)
			break;
		p = comma + 1;
	}
	*ret_bits = bits;
	return 0;
}

static int cron_parse_fields(const char *s, cron_expr *ret, cron_err *e) {
	const char *start[5], *stop[5];
	int n = 0;
	const char *p = s;

	for (;;) {
		while (cron_is_space(*p))
			p++;
		if (!*p)
			break;
		const char *tok = p;
		while (*p && !cron_is_space(*p))
			p++;
		if (n < 5) {
			start[n] = tok;
			stop[n] = p;
		}
		n++;
	}
	if (n == 1 && *start[0] == '@') {
		size_t len = (size_t) (stop[0] - start[0]);
		for (size_t i = 0; i < sizeof(cron_shortcuts) / sizeof(cron_shortcuts[0]); i++) {
			const char *name = cron_shortcuts[i].name;
			if (strlen(name) != len)
				continue;
			size_t k = 0;
			while (k < len && cron_lower(start[0][k]) == name[k])
				k++;
			if (k == len)
				return cron_parse_fields(cron_shortcuts[i].expansion, ret, e);
		}
		return cron_fail(e, 0, NULL, "unknown shortcut \"%.*s\" (expected @yearly, @annually, "
				 "@monthly, @weekly, @daily, @midnight or @hourly)", (int) len, start[0]);
	}
	if (n != 5)
		return cron_fail(e, 0, NULL, "expected 5 fields, got %d", n);

	uint64_t bits[5];
	for (int i = 0; i < 5; i++) {
		int r = cron_field_parse(e, i, start[i], stop[i], &bits[i]);
		if (r < 0)
			return r;
	}
	if (bits[4] & (UINT64_C(1) << 7))
		bits[4] = (bits[4] | 1) & ~(UINT64_C(1) << 7);

	*ret = (cron_expr) {
		.minute = bits[0],
		.hour = (uint32_t) bits[1],
		.dom = (uint32_t) bits[2],
		.month = (uint16_t) bits[3],
		.dow = (uint8_t) bits[4],
		/* Vixie decides "restricted" by the first character alone, so "*\/2" counts
		 * as unrestricted for the dom/dow OR rule. */
		.dom_star = *start[2] == '*',
		.dow_star = *start[4] == '*',
	};
	return 0;
}

int cron_parse_msg(const char *s, cron_expr *ret, char *why, size_t why_size) {
	cron_err e = { why, why_size };
	if (why && why_size > 0)
		why[0] = '\0';
	if (!s)
		return cron_fail(&e, 0, NULL, "no expression");
	return cron_parse_fields(s, ret, &e);
}

int cron_parse(const char *s, cron_expr *ret, const char **ret_why) {
	/* Thread-local so the message can outlive the call without the caller freeing it,
	 * and parsing in two threads at once stays safe. */
	static _Thread_local char why[192];
	int r = cron_parse_msg(s, ret, why, sizeof(why));
	if (r < 0 && ret_why)
		*ret_why = why;
	return r;
}

/* dow in cron order (0 = Sunday); day of month 1..31. */
static bool cron_day_ok(const cron_expr *c, int mday, int dow) {
	bool dom = (c->dom >> mday) & 1, wd = (c->dow >> dow) & 1;
	if (c->dom_star || c->dow_star)
		return dom && wd;
	return dom || wd;
}

bool cron_matches_day(const cron_expr *c, int64_t days) {
	cal_date d = cal_civil_from_days(days);
	if (!((c->month >> d.month) & 1))
		return false;
	return cron_day_ok(c, d.day, (cal_weekday(days) + 1) % 7);
}

bool cron_matches(const cron_expr *c, int64_t local) {
	if (cal_floormod(local, 60) != 0)
		return false;
	int64_t day = cal_floordiv(local, CAL_SECS_PER_DAY);
	int64_t sod = local - day * CAL_SECS_PER_DAY;
	return cron_matches_day(c, day) && ((c->hour >> (sod / 3600)) & 1) &&
	       ((c->minute >> (sod % 3600 / 60)) & 1);
}

/* Lowest set bit at or above `from` in bits, or -1. */
static int cron_bit_from(uint64_t bits, int from) {
	if (from >= 64)
		return -1;
	bits &= ~UINT64_C(0) << from;
	return bits ? __builtin_ctzll(bits) : -1;
}

int cron_next(const cron_expr *c, int64_t local, int64_t *ret_local) {
	if (local < -CRON_LIMIT || local > CRON_LIMIT)
		return -EINVAL;
	int64_t t = cal_floordiv(local, 60) * 60 + 60;
	int64_t day = cal_floordiv(t, CAL_SECS_PER_DAY);
	int64_t sod = t - day * CAL_SECS_PER_DAY;
	int hour = (int) (sod / 3600), minute = (int) (sod % 3600 / 60);
	int64_t end = day + CRON_HORIZON_DAYS;
	cal_date d = cal_civil_from_days(day);
	int dow = (cal_weekday(day) + 1) % 7;

	while (day < end) {
		int dim = cal_days_in_month(d.year, d.month);
		if (!((c->month >> d.month) & 1)) {
			/* Jump to the 1st of the next month in one step. */
			int skip = dim - d.day + 1;
			day += skip;
			dow = (dow + skip) % 7;
			d.day = 1;
			if (++d.month > 12) {
				d.month = 1;
				d.year++;
			}
			hour = minute = 0;
			continue;
		}
		if (cron_day_ok(c, d.day, dow)) {
			int h = cron_bit_from(c->hour, hour);
			if (h == hour) {
				int m = cron_bit_from(c->minute, minute);
				if (m >= 0 && m < 60) {
					*ret_local = day * CAL_SECS_PER_DAY + h * 3600 + m * 60;
					return 0;
				}
				h = cron_bit_from(c->hour, hour + 1);
			}
			if (h >= 0 && h < 24) {
				int m = cron_bit_from(c->minute, 0);
				if (m >= 0 && m < 60) {
					*ret_local = day * CAL_SECS_PER_DAY + h * 3600 + m * 60;
					return 0;
				}
			}
		}
		day++;
		dow = (dow + 1) % 7;
		if (++d.day > dim) {
			d.day = 1;
			if (++d.month > 12) {
				d.month = 1;
				d.year++;
			}
		}
		hour = minute = 0;
	}
	return -ENOENT;
}

/* Matching days of month (y, m) as bits 0..30 (bit d-1 = day d); wd1 is the cron
 * weekday (0 = Sunday) of the 1st. The Vixie rule: dom OR dow when both are restricted. */
/* Bits set, without __builtin_popcount*(): built for baseline x86-64 (no POPCNT
 * instruction) those are a call into libgcc's table loop, and they are most of the
 * cost of cron_index_init(). */
static inline int cron_popcount(uint64_t x) {
	x = x - ((x >> 1) & UINT64_C(0x5555555555555555));
	x = (x & UINT64_C(0x3333333333333333)) + ((x >> 2) & UINT64_C(0x3333333333333333));
	x = (x + (x >> 4)) & UINT64_C(0x0f0f0f0f0f0f0f0f);
	return (int) ((x * UINT64_C(0x0101010101010101)) >> 56);
}

static uint32_t cron_month_mask(const cron_index *ix, int32_t y, int m, int wd1) {
	const cron_expr *c = &ix->c;
	if (!((c->month >> m) & 1))
		return 0;
	uint64_t all = (UINT64_C(1) << cal_days_in_month(y, m)) - 1;
	uint64_t dom = ((uint64_t) c->dom >> 1) & all, dow = ix->dow_days[wd1] & all;
	return (uint32_t) (c->dom_star || c->dow_star ? dom & dow : dom | dow);
}

static int cron_wd1(int32_t y, int m) {
	return (cal_weekday(cal_days_from_civil(y, m, 1)) + 1) % 7;
}

/* Year y's kind: leap * 7 + cron weekday of Jan 1. */
static int cron_year_kind(int32_t y) {
	return (cal_is_leap(y) ? 7 : 0) + cron_wd1(y, 1);
}

/* cron_year_kinds[r][t]: how many of the years [0, r) of a 400-year cycle are of kind
 * t (leap * 7 + cron weekday of Jan 1). The same for every expression: built once. */
static uint16_t cron_year_kinds[401][14];
/* cron_month_wd1[t][m]: the weekday of the 1st of month m in a year of kind t */
static uint8_t cron_month_wd1[14][13];
static pthread_once_t cron_year_kinds_once = PTHREAD_ONCE_INIT;

static void cron_year_kinds_build(void) {
	for (int t = 0; t < 14; t++) {
		int32_t y = t >= 7 ? 2000 : 2001;   /* a leap and a common year */
		int wd = t % 7;
		for (int m = 1; m <= 12; m++) {
			cron_month_wd1[t][m] = (uint8_t) wd;
			wd = (wd + cal_days_in_month(y, m)) % 7;
		}
	}
	int wd = (cal_weekday(cal_days_from_civil(0, 1, 1)) + 1) % 7;
	for (int r = 0; r < 400; r++) {
		bool leap = cal_is_leap(r);
		memcpy(cron_year_kinds[r + 1], cron_year_kinds[r], sizeof(cron_year_kinds[r]));
		cron_year_kinds[r + 1][(leap ? 7 : 0) + wd]++;
		wd = (wd + (leap ? 366 : 365)) % 7;
	}
}

/* Matching days in the years [0, r) of a cycle. */
static int64_t cron_years_before(const cron_index *ix, int r) {
	int64_t n = 0;
	for (int t = 0; t < 14; t++)
		n += (int64_t) cron_year_kinds[r][t] * ix->per_type[t];
	return n;
}

void cron_index_init(cron_index *ix, const cron_expr *c) {
	static const int dim[2][13] = {
		{ 0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 },
		{ 0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 },
	};
	pthread_once(&cron_year_kinds_once, cron_year_kinds_build);
	ix->c = *c;
	for (int wd1 = 0; wd1 < 7; wd1++) {
		/* day i (from 0) of such a month has weekday (wd1 + i) % 7: a rotation */
		uint64_t dow = c->dow & 0x7f;
		uint64_t week = ((dow >> wd1) | (dow << (7 - wd1))) & 0x7f;
		ix->dow_days[wd1] = week | week << 7 | week << 14 | week << 21 | week << 28;
	}
	ix->per_day = (int64_t) cron_popcount(c->minute & ((UINT64_C(1) << 60) - 1)) *
		      cron_popcount(c->hour & 0xffffff);
	/* matching days of a month (of a month the month field allows) by its length
	 * (28..31) and the weekday of its 1st */
	int pop[4][7];
	for (int len = 28; len <= 31; len++)
		for (int wd = 0; wd < 7; wd++) {
			uint64_t all = (UINT64_C(1) << len) - 1;
			uint64_t dom = ((uint64_t) c->dom >> 1) & all, dow = ix->dow_days[wd] & all;
			pop[len - 28][wd] = cron_popcount(c->dom_star || c->dow_star ? dom & dow : dom | dow);
		}
	for (int type = 0; type < 14; type++) {
		int leap = type >= 7, n = 0;
		for (int m = 1; m <= 12; m++)
			if ((c->month >> m) & 1)
				n += pop[dim[leap][m] - 28][cron_month_wd1[type][m]];
		ix->per_type[type] = n;
	}
	ix->per_cycle = (int32_t) cron_years_before(ix, 400);
}

/* Matching days before `day`; *ret_mask gets the mask of day's month and *ret_bit
 * day's bit in it. */
static int64_t cron_days_before(const cron_index *ix, int64_t day, uint32_t *ret_mask, int *ret_bit) {
	cal_date d = cal_civil_from_days(day);
	int64_t q = cal_floordiv(d.year, 400);
	int64_t n = q * ix->per_cycle + cron_years_before(ix, (int) (d.year - q * 400));
	const uint8_t *wd1 = cron_month_wd1[cron_year_kind(d.year)];
	for (int m = 1; m < d.month; m++)
		n += cron_popcount(cron_month_mask(ix, d.year, m, wd1[m]));
	uint32_t mask = cron_month_mask(ix, d.year, d.month, wd1[d.month]);
	*ret_mask = mask;
	*ret_bit = d.day - 1;
	return n + cron_popcount(mask & ((UINT32_C(1) << (d.day - 1)) - 1));
}

int64_t cron_index_before(const cron_index *ix, int64_t local) {
	int64_t day = cal_floordiv(local, CAL_SECS_PER_DAY);
	int64_t sod = local - day * CAL_SECS_PER_DAY;
	uint32_t mask;
	int bit;
	int64_t n = cron_days_before(ix, day, &mask, &bit) * ix->per_day;
	if (!((mask >> bit) & 1) || ix->per_day == 0)
		return n;
	int h = (int) (sod / 3600), m = (int) (sod % 3600 / 60);
	uint64_t minutes = ix->c.minute & ((UINT64_C(1) << 60) - 1);
	n += (int64_t) cron_popcount(ix->c.hour & ((UINT32_C(1) << h) - 1)) * cron_popcount(minutes);
	if ((ix->c.hour >> h) & 1) {
		/* minutes before m, and m itself once `local` is past its first second */
		int upto = m + (sod % 60 != 0 ? 1 : 0);
		n += cron_popcount(minutes & ((UINT64_C(1) << upto) - 1));
	}
	return n;
}

/* The position of the k-th (0-based) set bit of bits. */
static int cron_select(uint64_t bits, int64_t k) {
	for (; bits != 0; bits &= bits - 1)   /* clears the lowest set bit */
		if (k-- == 0)
			return __builtin_ctzll(bits);
	return -1;
}

int cron_index_at(const cron_index *ix, int64_t k, int64_t *ret_local) {
	int64_t cycle = ix->per_cycle;
	if (cycle == 0 || ix->per_day == 0)
		return -ENOENT;
	int64_t kd = cal_floordiv(k, ix->per_day), km = k - kd * ix->per_day;
	int64_t q = cal_floordiv(kd, cycle), rem = kd - q * cycle;
	/* 400-year cycles within the limit (and the int32 years of cal_date) */
	if (q > CRON_LIMIT / (146097 * CAL_SECS_PER_DAY) + 1 || q < -(CRON_LIMIT / (146097 * CAL_SECS_PER_DAY)) - 2)
		return -EINVAL;
	int lo = 0, hi = 400;      /* the year r with prefix[r] <= rem < prefix[r + 1] */
	/* Matches spread almost evenly over the cycle: guess the year in proportion and
	 * step a little; the binary search is the fallback when that does not settle. */
	int g = (int) (rem * 400 / cycle);
	for (int step = 0; step < 8 && g >= 0 && g < 400; step++) {
		if (cron_years_before(ix, g) > rem)
			g--;
		else if (cron_years_before(ix, g + 1) <= rem)
			g++;
		else {
			lo = g;
			hi = g + 1;
			break;
		}
	}
	while (hi - lo > 1) {
		int mid = (lo + hi) / 2;
		if (cron_years_before(ix, mid) <= rem)
			lo = mid;
		else
			hi = mid;
	}
	int32_t y = (int32_t) (q * 400 + lo);
	rem -= cron_years_before(ix, lo);
	const uint8_t *wd1 = cron_month_wd1[cron_year_kind(y)];
	int64_t day = 0;
	for (int m = 1; m <= 12; m++) {
		uint32_t mask = cron_month_mask(ix, y, m, wd1[m]);
		int pc = cron_popcount(mask);
		if (rem < pc) {
			day = cal_days_from_civil(y, m, cron_select(mask, rem) + 1);
			break;
		}
		rem -= pc;
	}
	uint64_t minutes = ix->c.minute & ((UINT64_C(1) << 60) - 1);
	int per_hour = cron_popcount(minutes);
	int h = cron_select(ix->c.hour & 0xffffff, km / per_hour);
	int mi = cron_select(minutes, km % per_hour);
	int64_t local = day * CAL_SECS_PER_DAY + h * 3600 + mi * 60;
	if (local < -CRON_LIMIT || local > CRON_LIMIT)
		return -EINVAL;
	*ret_local = local;
	return 0;
}
