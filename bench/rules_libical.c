/* rules_libical: our rule arithmetic (lib/time/rule) against libical's icalrecur_iterator
 * on the same schedules, written as RFC 5545 RRULEs with DTSTART;TZID, at the same query
 * instants. Prints Markdown table rows (| measurement | N | ours | comparison | ratio |
 * target |) on stdout; the classification of differences and the first disagreements go
 * to stderr. --n N: the number of queries (default 2000); schedules are min(N, 10000),
 * each query picks one.
 *
 * The mix (issue 12): 60% monthly every 1-3 months on a day (some on a weekday: 2nd tue,
 * last fri), 20% weekly every 1-2 weeks on given days, 10% cron, 10% yearly or last day
 * of the month; zones Europe/Helsinki, Europe/Riga, Europe/Oslo, Asia/Ho_Chi_Minh, UTC;
 * a fifth of the `at` times lie in a DST gap or overlap (02:30, 03:00, 03:30).
 *
 * "Next after T" for libical is what its user pays: icalrecur_iterator_new() (the
 * iterator is stateful), icalrecur_iterator_set_start() (libical 3.0 has it; without it
 * one iterates from DTSTART, also timed on a sample), icalrecur_iterator_next() until an
 * instant after T, each local result converted to UTC with libical's zone; T converted
 * to local time with it too. Rules are parsed once, outside the timing.
 *
 * Two comparisons: (1) ours against libical as it is (its own local -> UTC conversion)
 * and (2) ours against libical's local occurrences converted by RFC 5545 3.3.5 (a time
 * in a gap takes the offset before the gap; one in an overlap the first instant; this is
 * DESIGN.md's rule too, so tz_from_local() does it). (2) must agree exactly except on
 * schedules where RFC 5545 and DESIGN.md differ on purpose, which are classified. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <libical/ical.h>
#include "lib/time/cal.h"
#include "lib/time/cron.h"
#include "lib/time/rule.h"
#include "lib/time/tz.h"

#define K_STREAM 16
#define MAX_SCHED 10000
#define NONE INT64_MIN

enum intent {
	AGREE_RFC,     /* RFC 5545 and DESIGN.md agree: must match exactly */
	CLAMP_DAY,     /* day 29-31: ours the month's last day, RFC 5545 skips the month */
	CLAMP_FEB29,   /* yearly from Feb 29: ours Feb 28 in common years, RFC skips */
	VIXIE_OR,      /* cron dom and dow both restricted: Vixie ORs, an RRULE intersects */
	N_INTENT,
};

static const char *intent_text[N_INTENT] = {
	"RFC 5545 and our calendar rules agree",
	"day 29-31 clamped to the last day of shorter months (RFC 5545 skips them)",
	"yearly from Feb 29 gives Feb 28 in common years (RFC 5545 skips them)",
	"cron with day-of-month and day-of-week: either matches (Vixie; BYMONTHDAY+BYDAY intersect)",
};

typedef struct sched {
	rule r;
	cron_expr cron;        /* r.cron points here (a cron rule's expression is out of line) */
	const char *zone_name;
	char rrule[200];
	char text[120];        /* ours, as YAML-ish text for the disagreement lines */
	enum intent intent;
	icaltimezone *iz;
	struct icaltimetype dt;
	int64_t dt_local;
	struct icalrecurrencetype *ical;
} sched;

typedef struct query {
	uint32_t s;
	int64_t t;
} query;

static uint64_t rng_state = 0x2545F4914F6CDD1DULL;
static uint64_t rnd(void) { /* splitmix64 */
	uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}
static int rndi(int lo, int hi) { return lo + (int) (rnd() % (uint64_t) (hi - lo + 1)); }

static double now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec * 1e9 + (double) ts.tv_nsec;
}

static const char *zones[] = { "Europe/Helsinki", "Europe/Riga", "Europe/Oslo", "Asia/Ho_Chi_Minh", "UTC" };
static const char *ical_day[7] = { "MO", "TU", "WE", "TH", "FR", "SA", "SU" };
static const char *ical_cron_day[7] = { "SU", "MO", "TU", "WE", "TH", "FR", "SA" };

static struct icaltimetype ical_from_local(int64_t local, icaltimezone *iz) {
	int64_t day = cal_floordiv(local, CAL_SECS_PER_DAY), sod = local - day * CAL_SECS_PER_DAY;
	cal_date d = cal_civil_from_days(day);
	struct icaltimetype t = icaltime_null_time();
	t.year = d.year;
	t.month = d.month;
	t.day = d.day;
	t.hour = (int) (sod / 3600);
	t.minute = (int) (sod % 3600 / 60);
	t.second = (int) (sod % 60);
	t.is_date = 0;
	return icaltime_set_timezone(&t, iz);
}

static int64_t local_from_ical(struct icaltimetype t) {
	return cal_days_from_civil(t.year, t.month, t.day) * CAL_SECS_PER_DAY + t.hour * 3600 + t.minute * 60 +
	       t.second;
}

static void fmt_local(int64_t local, char *buf, size_t size) {
	char d[CAL_ISO_MAX];
	int64_t day = cal_floordiv(local, CAL_SECS_PER_DAY), sod = local - day * CAL_SECS_PER_DAY;
	snprintf(buf, size, "%sT%02d:%02d", cal_format_date(day, d), (int) (sod / 3600), (int) (sod % 3600 / 60));
}

static void fmt_utc(int64_t t, char *buf) {
	if (t == NONE)
		strcpy(buf, "(none)");
	else
		cal_format_utc(t, buf);
}

static int32_t pick_at(void) {
	static const int32_t dst[] = { 2 * 3600 + 1800, 3 * 3600, 3 * 3600 + 1800 };
	if (rndi(0, 4) == 0)
		return dst[rndi(0, 2)];
	return rndi(5, 20) * 3600 + rndi(0, 3) * 900;
}

static void at_text(int32_t at, char *buf, size_t size) {
	snprintf(buf, size, "%02d:%02d", at / 3600, at % 3600 / 60);
}

/* Fill s (rule, RRULE, DTSTART local) from the mix; false to draw again. */
static bool gen(sched *s, tz_db *db) {
	rule *r = &s->r;
	char at[16], buf[96];
	int p = rndi(0, 99);

	memset(s, 0, sizeof(*s));
	s->zone_name = zones[rndi(0, 4)];
	if (tz_db_get(db, s->zone_name, &r->zone) < 0)
		return false;
	r->interval = 1;
	r->at = pick_at();
	at_text(r->at, at, sizeof(at));
	int y = rndi(2024, 2027), m = rndi(1, 12);
	if (p < 60) {
		r->interval = (uint32_t) rndi(1, 3);
		if (rndi(0, 9) == 0) {
			r->kind = RULE_MONTHLY_WEEKDAY;
			r->nth = (int8_t) (rndi(0, 4) == 4 ? RULE_LAST : rndi(1, 4));
			r->weekday = (int8_t) rndi(0, 6);
			int64_t first = cal_days_from_civil(y, m, 1), last = first + cal_days_in_month(y, m) - 1;
			r->start_day = r->nth == RULE_LAST ? last - (cal_weekday(last) - r->weekday + 7) % 7
							   : first + (r->weekday - cal_weekday(first) + 7) % 7 + 7 * (r->nth - 1);
			snprintf(s->rrule, sizeof(s->rrule), "FREQ=MONTHLY;INTERVAL=%u;BYDAY=%d%s", r->interval,
				 r->nth == RULE_LAST ? -1 : r->nth, ical_day[r->weekday]);
			static const char *nth[] = { "", "1st", "2nd", "3rd", "4th" };
			snprintf(s->text, sizeof(s->text), "every %u months, weekday %s %s, at %s", r->interval,
				 r->nth == RULE_LAST ? "last" : nth[r->nth], ical_day[r->weekday], at);
		} else {
			r->kind = RULE_MONTHLY_DAY;
			int q = rndi(0, 99);
			int d = q < 88 ? rndi(1, 28) : rndi(29, 31);
			if (d > cal_days_in_month(y, m))
				return false;
			r->day = (int8_t) d;
			r->start_day = cal_days_from_civil(y, m, d);
			if (d <= 28) {
				snprintf(s->rrule, sizeof(s->rrule), "FREQ=MONTHLY;INTERVAL=%u;BYMONTHDAY=%d", r->interval, d);
			} else if (q < 96) {
				/* "the day, or the last day when shorter" is expressible exactly */
				int n = snprintf(s->rrule, sizeof(s->rrule), "FREQ=MONTHLY;INTERVAL=%u;BYMONTHDAY=28", r->interval);
				for (int i = 29; i <= d; i++)
					n += snprintf(s->rrule + n, sizeof(s->rrule) - (size_t) n, ",%d", i);
				snprintf(s->rrule + n, sizeof(s->rrule) - (size_t) n, ";BYSETPOS=-1");
			} else {
				snprintf(s->rrule, sizeof(s->rrule), "FREQ=MONTHLY;INTERVAL=%u;BYMONTHDAY=%d", r->interval, d);
				s->intent = CLAMP_DAY;
			}
			snprintf(s->text, sizeof(s->text), "every %u months, day %d, at %s", r->interval, d, at);
		}
	} else if (p < 80) {
		r->kind = RULE_WEEKLY_ON;
		r->interval = (uint32_t) rndi(1, 2);
		int n = rndi(1, 3);
		for (int i = 0; i < n; i++)
			r->on_mask |= (uint8_t) (1u << rndi(0, 6));
		int64_t monday = cal_days_from_civil(y, m, 1);
		monday -= cal_weekday(monday);
		int first = 0;
		while (!((r->on_mask >> first) & 1))
			first++;
		r->start_day = monday + first;
		int k = snprintf(s->rrule, sizeof(s->rrule), "FREQ=WEEKLY;INTERVAL=%u;WKST=MO;BYDAY=", r->interval);
		int t = snprintf(s->text, sizeof(s->text), "every %u weeks on", r->interval);
		const char *sep = "";
		for (int wd = 0; wd < 7; wd++)
			if ((r->on_mask >> wd) & 1) {
				k += snprintf(s->rrule + k, sizeof(s->rrule) - (size_t) k, "%s%s", sep, ical_day[wd]);
				t += snprintf(s->text + t, sizeof(s->text) - (size_t) t, " %s", ical_day[wd]);
				sep = ",";
			}
		snprintf(s->text + t, sizeof(s->text) - (size_t) t, ", at %s", at);
	} else if (p < 90) {
		/* cron "M H dom mon dow", the same fields as BY* parts of a DAILY RRULE */
		int mi = rndi(0, 3) * 15, h = rndi(0, 4) == 0 ? rndi(2, 3) : rndi(5, 21);
		char cron[64], dom[32] = "*", dow[32] = "*", byx[64] = "";
		int shape = rndi(0, 9);
		if (shape <= 2) {
			int d1 = rndi(1, 14), d2 = d1 + rndi(1, 14);
			snprintf(dom, sizeof(dom), "%d,%d", d1, d2);
			snprintf(byx, sizeof(byx), ";BYMONTHDAY=%d,%d", d1, d2);
		} else if (shape <= 6) {
			int a = rndi(0, 6), b = (a + rndi(1, 6)) % 7;
			snprintf(dow, sizeof(dow), "%d,%d", a < b ? a : b, a < b ? b : a);
			snprintf(byx, sizeof(byx), ";BYDAY=%s,%s", ical_cron_day[a], ical_cron_day[b]);
		} else if (shape == 7) {
			int d1 = rndi(1, 28);
			snprintf(dom, sizeof(dom), "%d", d1);
			snprintf(dow, sizeof(dow), "%d", rndi(0, 6));
			snprintf(byx, sizeof(byx), ";BYMONTHDAY=%d;BYDAY=%s", d1, ical_cron_day[atoi(dow)]);
			s->intent = VIXIE_OR;
		}
		/* shape 8, 9: every day; 9 every half hour from 01:00 to 04:30, across the
		 * DST changes of all three European zones */
		if (shape == 9)
			snprintf(cron, sizeof(cron), "0,30 1-4 * * *");
		else
			snprintf(cron, sizeof(cron), "%d %d %s * %s", mi, h, dom, dow);
		if (cron_parse(cron, &s->cron, NULL) < 0)
			return false;
		r->kind = RULE_CRON;
		r->cron = &s->cron;
		r->unit = RULE_UNIT_MINUTE;
		r->start_day = cal_days_from_civil(y, m, rndi(1, 28));
		if (shape == 9)
			snprintf(s->rrule, sizeof(s->rrule), "FREQ=DAILY;BYHOUR=1,2,3,4;BYMINUTE=0,30;BYSECOND=0");
		else
			snprintf(s->rrule, sizeof(s->rrule), "FREQ=DAILY;BYHOUR=%d;BYMINUTE=%d;BYSECOND=0%s", h, mi, byx);
		snprintf(s->text, sizeof(s->text), "cron \"%s\"", cron);
	} else if (p < 95) {
		r->kind = RULE_MONTHLY_DAY;
		r->day = RULE_LAST;
		r->interval = (uint32_t) rndi(1, 3);
		r->start_day = cal_days_from_civil(y, m, cal_days_in_month(y, m));
		snprintf(s->rrule, sizeof(s->rrule), "FREQ=MONTHLY;INTERVAL=%u;BYMONTHDAY=-1", r->interval);
		snprintf(s->text, sizeof(s->text), "every %u months, day last, at %s", r->interval, at);
	} else {
		r->kind = RULE_EVERY;
		r->unit = RULE_UNIT_YEAR;
		r->interval = (uint32_t) rndi(1, 2);
		int q = rndi(0, 9);
		if (q < 2) {   /* Feb 29 */
			y = rndi(0, 1) ? 2024 : 2028;
			r->start_day = cal_days_from_civil(y, 2, 29);
			if (q == 0) {
				snprintf(s->rrule, sizeof(s->rrule),
					 "FREQ=YEARLY;INTERVAL=%u;BYMONTH=2;BYMONTHDAY=28,29;BYSETPOS=-1", r->interval);
			} else {
				snprintf(s->rrule, sizeof(s->rrule), "FREQ=YEARLY;INTERVAL=%u", r->interval);
				s->intent = CLAMP_FEB29;
			}
		} else {
			r->start_day = cal_days_from_civil(y, m, rndi(1, 28));
			snprintf(s->rrule, sizeof(s->rrule), "FREQ=YEARLY;INTERVAL=%u", r->interval);
		}
		snprintf(s->text, sizeof(s->text), "every %u years, at %s", r->interval, at);
	}
	if (rule_validate(r, NULL) < 0)
		return false;
	/* DTSTART: the first occurrence's wall-clock time (an RRULE's DTSTART should be
	 * one of its instances). One that does not exist is drawn again: libical moves a
	 * DTSTART in a gap and then every instance with it. */
	if (r->kind == RULE_CRON) {
		if (cron_next(r->cron, r->start_day * CAL_SECS_PER_DAY - 60, &s->dt_local) < 0)
			return false;
	} else {
		s->dt_local = r->start_day * CAL_SECS_PER_DAY + r->at;
	}
	if (tz_to_local(r->zone, tz_from_local(r->zone, s->dt_local)) != s->dt_local)
		return false;
	s->iz = strcmp(s->zone_name, "UTC") == 0 ? icaltimezone_get_utc_timezone()
						  : icaltimezone_get_builtin_timezone(s->zone_name);
	if (!s->iz)
		return false;
	s->dt = ical_from_local(s->dt_local, s->iz);
	s->ical = malloc(sizeof(*s->ical));
	if (!s->ical)
		return false;
	*s->ical = icalrecurrencetype_from_string(s->rrule);
	if (s->ical->freq == ICAL_NO_RECURRENCE) {
		free(s->ical);
		return false;
	}
	char d[CAL_ISO_MAX];
	size_t tl = strlen(s->text);
	snprintf(buf, sizeof(buf), ", start %s, %s", cal_format_date(r->start_day, d), s->zone_name);
	snprintf(s->text + tl, sizeof(s->text) - tl, "%s", buf);
	return true;
}

/* ---- libical's side ---- */

/* Converts a local occurrence to an instant: libical's own conversion, or RFC 5545
 * 3.3.5's (tz_from_local). */
static int64_t to_instant(const sched *s, struct icaltimetype t, bool rfc) {
	if (rfc)
		return tz_from_local(s->r.zone, local_from_ical(t));
	return (int64_t) icaltime_as_timet_with_zone(t, s->iz);
}

/* The iterator positioned two hours before T's local time (a time moved forward out
 * of a gap can be delivered after T although its wall clock reads earlier), or at
 * DTSTART when that is earlier. */
static icalrecur_iterator *ical_iter(const sched *s, int64_t t, bool set_start) {
	icalrecur_iterator *it = icalrecur_iterator_new(*s->ical, s->dt);
	if (it && set_start) {
		struct icaltimetype st = icaltime_from_timet_with_zone((time_t) (t - 7200), 0, s->iz);
		if (icaltime_compare(st, s->dt) > 0)
			icalrecur_iterator_set_start(it, st);
	}
	return it;
}

/* Up to k instants after t into out[]; returns how many. */
static int ical_after(const sched *s, int64_t t, bool set_start, bool rfc, int64_t *out, int k) {
	icalrecur_iterator *it = ical_iter(s, t, set_start);
	int n = 0;
	if (!it)
		return 0;
	while (n < k) {
		struct icaltimetype o = icalrecur_iterator_next(it);
		if (icaltime_is_null_time(o))
			break;
		int64_t u = to_instant(s, o, rfc);
		if (u > (n ? out[n - 1] : t))
			out[n++] = u;
	}
	icalrecur_iterator_free(it);
	return n;
}

/* ---- ours ---- */

typedef struct stream_ctx {
	int64_t *out;
	int n, k;
} stream_ctx;

static int stream_fn(const occurrence *o, void *userdata) {
	stream_ctx *c = userdata;
	c->out[c->n++] = o->delivery;
	return c->n >= c->k;
}

static int ours_after(const sched *s, int64_t t, int64_t *out, int k) {
	stream_ctx c = { out, 0, k };
	if (k == 1) {
		occurrence o;
		if (rule_next(&s->r, t, &o) < 0)
			return 0;
		out[0] = o.delivery;
		return 1;
	}
	rule_each(&s->r, t + 1, INT64_MAX, stream_fn, &c);
	return c.n;
}

/* ---- comparison ---- */

typedef struct tally {
	long compared, agree, disagree, by_intent[N_INTENT], dst_libical, setstart_bug, drift_libical;
	int shown, shown_drift;
} tally;

static void show(const sched *s, int64_t t, const int64_t *a, int na, const int64_t *b, int nb, const char *what) {
	char ts[CAL_ISO_MAX], x[CAL_ISO_MAX], y[CAL_ISO_MAX], lx[32];
	int i = 0;
	while (i < na && i < nb && a[i] == b[i])
		i++;
	fmt_utc(t, ts);
	fmt_utc(i < na ? a[i] : NONE, x);
	fmt_utc(i < nb ? b[i] : NONE, y);
	fmt_local(i < nb && b[i] != NONE ? tz_to_local(s->r.zone, b[i]) : 0, lx, sizeof(lx));
	fprintf(stderr, "  %s: %s; RRULE:%s DTSTART;TZID=%s:%04d%02d%02dT%02d%02d%02d; after %s, #%d: ours %s, libical %s (local %s)\n",
		what, s->text, s->rrule, s->zone_name, s->dt.year, s->dt.month, s->dt.day, s->dt.hour,
		s->dt.minute, s->dt.second, ts, i, x, y, lx);
}

/* Whether local civil seconds are a wall-clock time the rule asks for (its `at`, or a
 * cron match); the date is not checked. */
static bool is_instance(const sched *s, int64_t local) {
	if (s->r.kind == RULE_CRON)
		return cron_matches(s->r.cron, local);
	return cal_floormod(local, CAL_SECS_PER_DAY) == s->r.at;
}

static bool same(const int64_t *a, int na, const int64_t *b, int nb) {
	return na == nb && memcmp(a, b, (size_t) na * sizeof(*a)) == 0;
}

/* Compare ours (a) with libical's own conversion (b) and with RFC 5545's conversion. */
static void compare(const sched *s, int64_t t, int k, tally *own, tally *rfc) {
	int64_t a[K_STREAM], b[K_STREAM], c[K_STREAM];
	int na = ours_after(s, t, a, k);
	int nb = ical_after(s, t, true, false, b, k);
	int nc = ical_after(s, t, true, true, c, k);
	tally *tl[2] = { own, rfc };
	const int64_t *lib[2] = { b, c };
	int nlib[2] = { nb, nc };
	for (int w = 0; w < 2; w++) {
		tally *y = tl[w];
		y->compared++;
		if (same(a, na, lib[w], nlib[w])) {
			y->agree++;
			continue;
		}
		if (s->intent != AGREE_RFC) {
			y->by_intent[s->intent]++;
			continue;
		}
		/* libical's own conversion of a local time in a gap or an overlap */
		int i = 0;
		while (i < na && i < nlib[w] && a[i] == lib[w][i])
			i++;
		if (w == 0 && same(a, na, c, nc)) {
			y->dst_libical++;
			continue;
		}
		if (w == 0) {
			/* both: set_start skipped an instance, and its conversion moved one */
			int64_t e[K_STREAM];
			int ne = ical_after(s, t, false, true, e, k);
			if (same(a, na, e, ne)) {
				y->dst_libical++;
				continue;
			}
		}
		/* libical's local time is no instance of the rule: after an instance in a
		 * spring-forward gap its iterator keeps the moved wall-clock time (03:30 in
		 * 03:00->04:00 comes out 04:30, and so do the instances after it) */
		if (i < nlib[w] && i < na && !is_instance(s, tz_to_local(s->r.zone, lib[w][i]))) {
			y->drift_libical++;
			if (y->shown_drift++ == 0 && w == 1)
				show(s, t, a, na, lib[w], nlib[w], "libical's wall clock moved after a DST gap (example)");
			continue;
		}
		/* set_start against iterating from DTSTART */
		int64_t d[K_STREAM];
		int nd = ical_after(s, t, false, w == 1, d, k);
		if (same(a, na, d, nd)) {
			y->setstart_bug++;
			if (y->shown < 3 && w == 1) {
				show(s, t, a, na, lib[w], nlib[w], "libical set_start differs from iterating from DTSTART");
				y->shown++;
			}
			continue;
		}
		y->disagree++;
		if (y->shown < 8) {
			show(s, t, a, na, lib[w], nlib[w], w ? "DISAGREE (RFC 5545 conversion)" : "DISAGREE (libical's conversion)");
			y->shown++;
		}
	}
}

static void report_tally(const char *title, const tally *y) {
	fprintf(stderr, "%s: %ld results compared, %ld agree, %ld disagree", title, y->compared, y->agree, y->disagree);
	if (y->dst_libical)
		fprintf(stderr, ", %ld only through libical's conversion of a local time in a DST gap or overlap "
			"(it takes the later instant of an overlap; RFC 5545 3.3.5 and DESIGN.md the first; "
			"ours equals libical's local occurrences converted by RFC 5545, with set_start or from DTSTART)", y->dst_libical);
	if (y->drift_libical)
		fprintf(stderr, ", %ld where libical's iterator returns a wall-clock time the rule does not ask for "
			"(after an instance in a spring-forward gap it keeps the moved time: a libical defect)", y->drift_libical);
	if (y->setstart_bug)
		fprintf(stderr, ", %ld where icalrecur_iterator_set_start() differs from iterating from DTSTART (ours agrees with the latter)",
			y->setstart_bug);
	fprintf(stderr, "\n");
	for (int i = 1; i < N_INTENT; i++)
		if (y->by_intent[i])
			fprintf(stderr, "  differ on purpose, %s: %ld\n", intent_text[i], y->by_intent[i]);
}

static void row(const char *what, long n, double ours, double theirs, const char *target) {
	printf("| %s | %ld | %.0f ns | %.0f ns | %.0fx | %s |\n", what, n, ours, theirs, theirs / ours, target);
}

int main(int argc, char **argv) {
	long n = 2000;
	bool profile_ours = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--n") == 0 && i + 1 < argc)
			n = atol(argv[++i]);
		else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
			rng_state = strtoull(argv[++i], NULL, 0);
		else if (strcmp(argv[i], "--profile-ours") == 0)
			profile_ours = true;   /* only our rule_next() loop, for perf */
		else {
			fprintf(stderr, "usage: rules_libical [--n N] [--seed S]\n");
			return 2;
		}
	}
	if (n < 1)
		n = 1;
	tz_db *db = tz_db_new(NULL);
	if (!db) {
		fprintf(stderr, "rules_libical: no time zone database\n");
		return 1;
	}
	long ns = n < MAX_SCHED ? n : MAX_SCHED;
	sched *S = calloc((size_t) ns, sizeof(*S));
	query *Q = calloc((size_t) n, sizeof(*Q));
	if (!S || !Q)
		return 1;
	long counts[N_INTENT] = { 0 };
	for (long i = 0; i < ns; i++) {
		while (!gen(&S[i], db))
			;
		counts[S[i].intent]++;
	}
	/* T: 2025-01-01 .. 2033-01-01; a tenth exactly on an occurrence (strictly after),
	 * a tenth within an hour of a DST change of the schedule's zone. */
	int64_t t0 = INT64_C(1735689600), t1 = INT64_C(1988150400);
	for (long i = 0; i < n; i++) {
		Q[i].s = (uint32_t) (rnd() % (uint64_t) ns);
		const sched *s = &S[Q[i].s];
		int64_t t = t0 + (int64_t) (rnd() % (uint64_t) (t1 - t0));
		int kind = rndi(0, 9);
		occurrence o;
		if (kind == 0 && rule_next(&s->r, t, &o) == 0)
			t = o.delivery;
		else if (kind == 1) {
			int32_t off = tz_offset_at(s->r.zone, t);
			for (int64_t u = t; u < t + 200 * CAL_SECS_PER_DAY; u += 3600)
				if (tz_offset_at(s->r.zone, u) != off) {
					t = u - 3600 + rndi(-4, 8) * 900;
					break;
				}
		}
		Q[i].t = t;
	}
	fprintf(stderr, "rules_libical: %ld schedules (%ld compared, %ld clamp day 29-31, %ld Feb 29, %ld Vixie OR), %ld queries, libical %s\n",
		ns, counts[AGREE_RFC], counts[CLAMP_DAY], counts[CLAMP_FEB29], counts[VIXIE_OR], n, ICAL_VERSION);

	if (profile_ours) {
		volatile int64_t psink = 0;
		for (int pass = 0; pass < 2000; pass++)
			for (long i = 0; i < n; i++) {
				occurrence o;
				if (rule_next(&S[Q[i].s].r, Q[i].t, &o) == 0)
					psink += o.delivery;
			}
		return 0;
	}
	/* next after T: ours best of 5 passes, libical best of 3 (one when long) */
	volatile int64_t sink = 0;
	int64_t buf[K_STREAM];
	double best_ours = 1e300, best_lib = 1e300;
	for (int trial = 0; trial < 5; trial++) {
		double a = now_ns();
		for (long i = 0; i < n; i++) {
			occurrence o;
			if (rule_next(&S[Q[i].s].r, Q[i].t, &o) == 0)
				sink += o.delivery;
		}
		double per = (now_ns() - a) / (double) n;
		if (per < best_ours)
			best_ours = per;
	}
	/* ours by kind of schedule (stderr) */
	static const char *kind_text[] = { "every N years", "weekly on", "monthly day", "monthly weekday", "cron" };
	for (int kind = RULE_EVERY; kind <= RULE_CRON; kind++) {
		double a = now_ns();
		long m = 0;
		for (int trial = 0; trial < 3; trial++)
			for (long i = 0; i < n; i++) {
				occurrence o;
				if (S[Q[i].s].r.kind != (rule_kind) kind)
					continue;
				m++;
				if (rule_next(&S[Q[i].s].r, Q[i].t, &o) == 0)
					sink += o.delivery;
			}
		if (m)
			fprintf(stderr, "ours, rule_next, %s: %.0f ns per call (%ld calls)\n", kind_text[kind],
				(now_ns() - a) / (double) m, m);
	}
	for (int trial = 0; trial < (n > 20000 ? 1 : 3); trial++) {
		double a = now_ns();
		for (long i = 0; i < n; i++)
			if (ical_after(&S[Q[i].s], Q[i].t, true, false, buf, 1) == 1)
				sink += buf[0];
		double per = (now_ns() - a) / (double) n;
		if (per < best_lib)
			best_lib = per;
	}
	row("rule next occurrence after T, ns per call (vs libical: iterator_new + set_start + next, local<->UTC)", n,
	    best_ours, best_lib, ">= 100x");

	/* streaming: the next K_STREAM from T, per occurrence */
	long nq = n < 100000 ? n : 100000;
	double sb_ours = 1e300, sb_lib = 1e300;
	long occ = 0;
	for (int trial = 0; trial < 5; trial++) {
		double a = now_ns();
		long got = 0;
		for (long i = 0; i < nq; i++)
			got += ours_after(&S[Q[i].s], Q[i].t, buf, K_STREAM);
		double per = (now_ns() - a) / (double) (got ? got : 1);
		occ = got;
		if (per < sb_ours)
			sb_ours = per;
	}
	for (int trial = 0; trial < (nq > 20000 ? 1 : 3); trial++) {
		double a = now_ns();
		long got = 0;
		for (long i = 0; i < nq; i++)
			got += ical_after(&S[Q[i].s], Q[i].t, true, false, buf, K_STREAM);
		double per = (now_ns() - a) / (double) (got ? got : 1);
		if (per < sb_lib)
			sb_lib = per;
	}
	char what[160];
	snprintf(what, sizeof(what), "rule streaming the next %d after T, ns per occurrence (vs libical iterator, %ld occurrences)",
		 K_STREAM, occ);
	row(what, nq, sb_ours, sb_lib, ">= 10x");

	/* libical without set_start (iterating from DTSTART), on a sample */
	long ndt = n < 500 ? n : 500;
	double a = now_ns();
	for (long i = 0; i < ndt; i++)
		if (ical_after(&S[Q[i].s], Q[i].t, false, false, buf, 1) == 1)
			sink += buf[0];
	double per_dt = (now_ns() - a) / (double) ndt;
	row("rule next occurrence after T (vs libical without set_start: iterating from DTSTART, a sample)", ndt,
	    best_ours, per_dt, "(information)");

	/* disagreements: every query, next-after and the stream */
	tally own = { 0 }, rfc = { 0 };
	for (long i = 0; i < n; i++) {
		compare(&S[Q[i].s], Q[i].t, 1, &own, &rfc);
		if (i < nq)
			compare(&S[Q[i].s], Q[i].t, K_STREAM, &own, &rfc);
	}
	report_tally("ours vs libical, instants by RFC 5545 3.3.5", &rfc);
	report_tally("ours vs libical, instants by libical's own conversion", &own);
	printf("| rule disagreements with libical where RFC 5545 and our calendar rules agree (next + streams) | %ld | %ld | %ld compared | - | 0 |\n",
	       rfc.compared - rfc.by_intent[CLAMP_DAY] - rfc.by_intent[CLAMP_FEB29] - rfc.by_intent[VIXIE_OR],
	       rfc.disagree, rfc.compared - rfc.by_intent[CLAMP_DAY] - rfc.by_intent[CLAMP_FEB29] - rfc.by_intent[VIXIE_OR]);

	for (long i = 0; i < ns; i++)
		free(S[i].ical);
	free(S);
	free(Q);
	tz_db_free(db);
	icaltimezone_free_builtin_timezones();
	(void) sink;
	return rfc.disagree ? 3 : 0;
}
