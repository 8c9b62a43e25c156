/* hostile_rule: the cost of the rule calls behind issue 7's hostile schedules, in ns
 * or us per call (best of 5 trials). Built with -DOLD_API against a tree without
 * rule_count()/cron_index it times only rule_next(), for before/after figures.
 * Prints Markdown table rows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "lib/time/cal.h"
#include "lib/time/cron.h"
#include "lib/time/rule.h"
#include "lib/time/tz.h"

static double now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec * 1e9 + (double) ts.tv_nsec;
}

/* best of 5 trials of up to n calls (stopping a trial after 2 s) */
#define TIME(label, n, expr)                                                   \
	do {                                                                   \
		double best = 1e300;                                           \
		for (int trial = 0; trial < 5; trial++) {                      \
			double t0 = now_ns();                                  \
			long i = 0;                                            \
			for (; i < (n) && now_ns() - t0 < 2e9; i++)            \
				(void) (expr);                                 \
			double per = (now_ns() - t0) / (double) i;             \
			if (per < best)                                        \
				best = per;                                    \
		}                                                              \
		if (best >= 1e6)                                               \
			printf("| %s | %.1f ms per call |\n", label, best / 1e6); \
		else if (best >= 1e4)                                          \
			printf("| %s | %.1f us per call |\n", label, best / 1e3); \
		else                                                           \
			printf("| %s | %.0f ns per call |\n", label, best);    \
	} while (0)

static rule base(const tz_zone *z) {
	rule r;
	memset(&r, 0, sizeof(r));
	r.zone = z;
	r.interval = 1;
	return r;
}

int main(void) {
	tz_db *db = tz_db_new(NULL);
	const tz_zone *hel;
	int64_t d;
	occurrence o;
	if (!db || tz_db_get(db, "Europe/Helsinki", &hel) < 0) {
		fprintf(stderr, "hostile_rule: no Europe/Helsinki\n");
		return 1;
	}
	/* cron "* * * * *", start 2026-12-01, count 1e9 */
	rule cron_count = base(hel);
	cron_count.kind = RULE_CRON;
	cron_expr every_minute;
	cron_parse("* * * * *", &every_minute, NULL);
	cron_count.cron = &every_minute;
	int64_t day;
	cal_parse_date("2026-12-01", &day);
	cron_count.start_day = (int32_t) day;
	cron_count.count = 1000000000;
	int64_t t2027 = INT64_C(1798761600), t2030 = INT64_C(1893456000);
	TIME("rule_next, cron \"* * * * *\" with count, start 2026-12-01, after 2027-01-01", 100000,
	     rule_next(&cron_count, t2027, &o));
	TIME("rule_next, the same, after 2030-01-01", 100000, rule_next(&cron_count, t2030, &o));
	/* every 1 minute, 20,000 skipped dates from 2027-01-01 */
	rule skip = base(hel);
	skip.kind = RULE_EVERY;
	skip.unit = RULE_UNIT_MINUTE;
	cal_parse_date("2027-01-01", &day);
	skip.start_day = (int32_t) day;
	skip.n_skip = 20000;
	skip.skip = malloc(skip.n_skip * sizeof(*skip.skip));
	for (size_t i = 0; i < skip.n_skip; i++)
		skip.skip[i] = skip.start_day + (int64_t) i;
	TIME("rule_next, every 1 minute, 20,000 consecutive skipped dates, after 2027-01-01", 100000,
	     rule_next(&skip, t2027, &o));
	/* every 1 minute from 1970 */
	rule old = base(hel);
	old.kind = RULE_EVERY;
	old.unit = RULE_UNIT_MINUTE;
	old.start_day = 0;
	TIME("rule_next, every 1 minute from 1970, after 2027-01-01", 1000000, rule_next(&old, t2027, &o));
	/* cron "@yearly" without start, from no watermark (what a new one met before) */
	rule yearly = base(hel);
	yearly.kind = RULE_CRON;
	yearly.start_day = RULE_NO_DAY;
	cron_expr at_yearly;
	cron_parse("@yearly", &at_yearly, NULL);
	yearly.cron = &at_yearly;
	TIME("rule_next, cron \"@yearly\" without start, after INT64_MIN", 10000, rule_next(&yearly, INT64_MIN, &o));
#ifndef OLD_API
	uint64_t n;
	TIME("rule_count, every 1 minute from 1970 up to 2027-01-01 (29,979,360)", 1000000,
	     rule_count(&old, INT64_MIN, t2027, &n));
	TIME("rule_count, cron \"* * * * *\" with count, 2026-12-01 .. 2030-01-01", 100000,
	     rule_count(&cron_count, INT64_MIN, t2030, &n));
	TIME("rule_nth_after, cron \"* * * * *\" with count, the 1,000,000th after 2027-01-01", 100000,
	     rule_nth_after(&cron_count, t2027, 999999, &o));
	TIME("rule_count, every 1 minute, 20,000 skipped dates, 2027 .. 2090", 10000,
	     rule_count(&skip, t2027, INT64_C(3786825600), &n));
	cron_index ix;
	cron_expr c;
	cron_parse("*/7 3-5 13 * fri", &c, NULL);
	TIME("cron_index_init, \"*/7 3-5 13 * fri\"", 1000000, cron_index_init(&ix, &c));
	TIME("cron_index_before, the same, 2027", 1000000, cron_index_before(&ix, t2027 + 7200));
	d = cron_index_before(&ix, t2027);
	int64_t l;
	TIME("cron_index_at, the same", 1000000, cron_index_at(&ix, d + 12345, &l));
#else
	(void) d;
#endif
	free(skip.skip);
	tz_db_free(db);
	return 0;
}
