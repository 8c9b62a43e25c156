/* bench_engine: how fast the library parts of standingd are, printed as Markdown
 * table rows ("| what | figure |") for bench/run --all. No thresholds: the machines
 * are shared and noisy, so what matters are ratios measured in one run (a rule
 * anchored in 1990 against one anchored the day before the queried year shows
 * whether rule_next() is O(1) in the distance from the anchor).
 *
 * Everything runs in memory except the engine part, which writes a fresh LMDB
 * store into a mkdtemp() directory and removes it at the end. Times are wall-clock
 * (CLOCK_MONOTONIC), best of a few trials. */
#include <errno.h>
#include <ftw.h>
#include <lmdb.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench/benchdefs.h"
#include "bench/benchutil.h"
#include "lib/time/cal.h"
#include "lib/defs/defs.h"
#include "lib/base/diag.h"
#include "lib/sales/crm.h"
#include "lib/sched/engine.h"
#include "lib/sched/forecast.h"
#include "lib/time/rule.h"
#include "lib/store/store.h"
#include "lib/time/tz.h"

#define TRIALS 3
#define TRIAL_NS INT64_C(150000000)     /* each timed trial runs about this long */
#define N_QUERIES 4096                  /* distinct query instants, cycled */

#define ENGINE_ORDERS 10
#define ENGINE_BACKLOG 2000             /* hourly occurrences each */
#define FORECAST_ORDERS 10000

static volatile int64_t sink;           /* keeps the measured calls from being optimised away */

static long max_rss_kib(void) {
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;   /* KiB on Linux */
}

/* Current resident set (VmRSS), KiB; 0 when /proc is not there. */
static long rss_kib(void) {
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &v) == 1)
			break;
	fclose(f);
	return v;
}

/* ---- definitions ---- */

static const char CONFIG[] =
	"timezone: Europe/Helsinki\n"
	"catch_up: all\n"
	"max_catch_up: 1000000\n"        /* the engine benchmark creates its whole backlog */
	"suppliers:\n"
	"  - id: lumen\n"
	"    name: Lumen Oy\n"
	"    users: [lumen]\n"
	"salespeople:\n"
	"  - {id: anna, name: Anna Virtanen, email: anna@example.com, language: fi}\n";

static const char CUSTOMERS[] =
	"customers:\n"
	"  - id: c-hel\n"
	"    name: Helsinki Oy\n"
	"    salesperson: anna\n"
	"    timezone: Europe/Helsinki\n"
	"    account: {number: ACC-1, credit_limit: \"50000.00 EUR\"}\n"
	"  - id: c-rix\n"
	"    name: Riga SIA\n"
	"    timezone: Europe/Riga\n"
	"    account: {number: ACC-2, credit_limit: \"50000.00 EUR\"}\n"
	"  - id: c-osl\n"
	"    name: Oslo AS\n"
	"    timezone: Europe/Oslo\n"
	"    account: {number: ACC-3, credit_limit: \"50000.00 EUR\"}\n"
	"  - id: c-sgn\n"
	"    name: Saigon Co\n"
	"    timezone: Asia/Ho_Chi_Minh\n"
	"    account: {number: ACC-4, credit_limit: \"50000.00 EUR\"}\n"
	"standing_orders:\n";

/* One standing order; schedule is the indented `schedule:` body. */
static void add_order(bench_text *t, const char *id, const char *customer_id, const char *schedule) {
	text_add(t,
		 "  - id: %s\n"
		 "    customer: %s\n"
		 "    supplier: lumen\n"
		 "    ship_to: {name: Varasto, street: Teollisuuskatu 1, postcode: \"00510\", city: Helsinki, country: FI}\n"
		 "    lines:\n"
		 "      - {sku: BULB-60W, quantity: 1000, unit_price: \"0.85 EUR\"}\n"
		 "    payment: account\n"
		 "    schedule:\n%s",
		 id, customer_id, schedule);
}

static defs *load_defs(const char *orders_yaml, size_t len) {
	return bench_defs_load(CONFIG, strlen(CONFIG), orders_yaml, len);
}

static const standing_order *find(const defs *d, const char *id) {
	const standing_order *so = defs_find_order(d, id);
	if (!so)
		die("standing order %s missing", id);
	return so;
}

/* ---- rule_next ---- */

static int64_t queries[N_QUERIES];

/* Instants spread over 2026 in a scrambled order (so consecutive calls do not
 * walk neighbouring dates). */
static void make_queries(void) {
	int64_t lo = cal_days_from_civil(2026, 1, 1) * CAL_SECS_PER_DAY;
	int64_t span = 365 * CAL_SECS_PER_DAY;
	uint64_t x = 0x9e3779b97f4a7c15u;
	for (size_t i = 0; i < N_QUERIES; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		queries[i] = lo + (int64_t) (x % (uint64_t) span);
	}
}

/* ns per rule_next() call: one trial of about TRIAL_NS. */
static double rule_trial(const rule *r) {
	int64_t calls = 0, t0 = now_ns(), t1;
	int64_t acc = 0;
	do {
		for (size_t i = 0; i < N_QUERIES; i++) {
			occurrence o;
			if (rule_next(r, queries[i], &o) == 0)
				acc += o.delivery;
		}
		calls += N_QUERIES;
		t1 = now_ns();
	} while (t1 - t0 < TRIAL_NS);
	sink += acc;
	return (double) (t1 - t0) / (double) calls;
}

/* Best of TRIALS for two rules, trials interleaved so drift hits both alike. */
static void rule_pair(const char *what, const defs *d, const char *old_id, const char *new_id) {
	const rule *a = &find(d, old_id)->rule, *b = &find(d, new_id)->rule;
	double best_a = 1e300, best_b = 1e300;
	for (int i = 0; i < TRIALS; i++) {
		double x = rule_trial(a), y = rule_trial(b);
		if (x < best_a)
			best_a = x;
		if (y < best_b)
			best_b = y;
	}
	printf("| rule_next %s, start 1990-01-01 / 2025-12-31, queried in 2026 | %.0f / %.0f ns per call (ratio %.2f) |\n",
	       what, best_a, best_b, best_a / best_b);
}

static void bench_rules(void) {
	static const struct {
		const char *name, *what, *schedule;
	} forms[] = {
		{ "daily", "daily `every: 1 day`", "      every: 1 day\n      at: \"06:00\"\n" },
		{ "monthly", "monthly `day: last`", "      every: 1 month\n      day: last\n      at: \"14:00\"\n" },
		{ "weekly", "`every: 2 weeks, on: [mon, thu]`", "      every: 2 weeks\n      on: [mon, thu]\n      at: \"09:30\"\n" },
		{ "cron", "cron `30 3 * * 0`", "      cron: \"30 3 * * 0\"\n" },
	};
	bench_text t = { 0 };
	text_add(&t, "%s", CUSTOMERS);
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		char id[64], sched[256];
		snprintf(id, sizeof(id), "%s-1990", forms[i].name);
		snprintf(sched, sizeof(sched), "%s      start: 1990-01-01\n", forms[i].schedule);
		add_order(&t, id, "c-hel", sched);
		snprintf(id, sizeof(id), "%s-recent", forms[i].name);
		snprintf(sched, sizeof(sched), "%s      start: 2025-12-31\n", forms[i].schedule);
		add_order(&t, id, "c-hel", sched);
	}
	defs *d = load_defs(t.s, t.n);
	make_queries();
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		char a[64], b[64];
		snprintf(a, sizeof(a), "%s-1990", forms[i].name);
		snprintf(b, sizeof(b), "%s-recent", forms[i].name);
		rule_pair(forms[i].what, d, a, b);
	}
	defs_free(d);
	free(t.s);
}

/* ---- tz ---- */

static double tz_trial(const tz_zone *z, int64_t shift, int local) {
	int64_t calls = 0, t0 = now_ns(), t1;
	int64_t acc = 0;
	do {
		if (local)
			for (size_t i = 0; i < N_QUERIES; i++)
				acc += tz_from_local(z, queries[i] + shift);
		else
			for (size_t i = 0; i < N_QUERIES; i++)
				acc += tz_offset_at(z, queries[i] + shift);
		calls += N_QUERIES;
		t1 = now_ns();
	} while (t1 - t0 < TRIAL_NS);
	sink += acc;
	return (double) (t1 - t0) / (double) calls;
}

static void bench_tz(void) {
	tz_db *db = tz_db_new(NULL);
	const tz_zone *z;
	if (!db || tz_db_get(db, "Europe/Helsinki", &z) < 0)
		die("cannot load Europe/Helsinki");
	/* 2026 is inside the TZif transition table; 2100 is past it (POSIX TZ footer). */
	int64_t to_2100 = (cal_days_from_civil(2100, 1, 1) - cal_days_from_civil(2026, 1, 1)) * CAL_SECS_PER_DAY;
	double best[4] = { 1e300, 1e300, 1e300, 1e300 };
	for (int i = 0; i < TRIALS; i++) {
		double v[4] = { tz_trial(z, 0, 0), tz_trial(z, to_2100, 0), tz_trial(z, 0, 1), tz_trial(z, to_2100, 1) };
		for (int k = 0; k < 4; k++)
			if (v[k] < best[k])
				best[k] = v[k];
	}
	printf("| tz_offset_at, Europe/Helsinki, 2026 / 2100 | %.1f / %.1f ns per call |\n", best[0], best[1]);
	printf("| tz_from_local, Europe/Helsinki, 2026 / 2100 | %.1f / %.1f ns per call |\n", best[2], best[3]);
	tz_db_free(db);
}

/* ---- forecast ---- */

static const char *const ZONE_CUSTOMERS[] = { "c-hel", "c-rix", "c-osl", "c-sgn" };

/* Schedule forms in the mix: what a real book of standing orders looks like,
 * not the worst case (no hourly ones). */
static const char *const MIX[] = {
	"      every: 1 day\n      start: 2026-03-01\n      at: \"06:00\"\n      lead_time: 1 day\n",
	"      every: 1 week\n      start: 2026-02-02\n      at: \"07:00\"\n      lead_time: 2 days\n",
	"      every: 2 weeks\n      on: [mon, thu]\n      start: 2025-11-30\n      at: \"09:30\"\n      lead_time: 1 day\n",
	"      every: 1 month\n      day: last\n      start: 2024-11-30\n      at: \"14:00\"\n      lead_time: 2 days\n",
	"      every: 3 months\n      weekday: 2nd tue\n      start: 2026-12-01\n      at: \"10:00\"\n      lead_time: 1 week\n",
	"      cron: \"30 3 * * 0\"\n      start: 2026-11-23\n      lead_time: 12 hours\n",
	"      every: 2 months\n      day: 15\n      start: 2026-12-15\n      at: \"08:00\"\n      lead_time: 3 days\n      skip: [2027-02-15]\n",
	"      every: 3 days\n      start: 2020-01-01\n      at: \"05:45\"\n      until: 2030-12-31\n",
};

static void bench_forecast(void) {
	bench_text t = { 0 };
	text_add(&t, "%s", CUSTOMERS);
	for (size_t i = 0; i < FORECAST_ORDERS; i++) {
		char id[32];
		snprintf(id, sizeof(id), "so-%05zu", i);
		add_order(&t, id, ZONE_CUSTOMERS[i % 4], MIX[i % (sizeof(MIX) / sizeof(MIX[0]))]);
	}
	int64_t t0 = now_ns();
	defs *d = load_defs(t.s, t.n);
	int64_t t1 = now_ns();
	printf("| defs_load_files, %d standing orders (%.1f MB of YAML) | %.0f ms |\n",
	       FORECAST_ORDERS, (double) t.n / 1e6, (double) (t1 - t0) / 1e6);
	free(t.s);

	long rss_before = max_rss_kib(), cur_before = rss_kib();
	forecast f = { 0 };
	t0 = now_ns();
	if (forecast_collect(d, cal_days_from_civil(2027, 1, 1), cal_days_from_civil(2028, 1, 1), &f) < 0)
		die("forecast_collect failed");
	t1 = now_ns();
	long rss_after = max_rss_kib(), cur_after = rss_kib();
	printf("| forecast_collect, %d standing orders, 2027 (%zu occurrences) | %.0f ms; peak RSS %.1f -> %.1f MiB, "
	       "current %.1f -> %.1f MiB |\n",
	       FORECAST_ORDERS, f.n, (double) (t1 - t0) / 1e6, rss_before / 1024.0, rss_after / 1024.0,
	       cur_before / 1024.0, cur_after / 1024.0);
	forecast_clear(&f);
	defs_free(d);
}

/* ---- engine ---- */

/* Pages LMDB actually uses (the file may be larger or sparse). */
static int lmdb_used_bytes(const char *dir, uint64_t *ret) {
	MDB_env *env;
	MDB_envinfo info;
	MDB_stat st;
	int rc = mdb_env_create(&env);
	if (rc)
		return rc;
	if (!(rc = mdb_env_set_maxdbs(env, 64)) && !(rc = mdb_env_open(env, dir, MDB_RDONLY, 0)) &&
	    !(rc = mdb_env_info(env, &info)) && !(rc = mdb_env_stat(env, &st)))
		*ret = ((uint64_t) info.me_last_pgno + 1) * st.ms_psize;
	mdb_env_close(env);
	return rc;
}

static void bench_engine(void) {
	bench_text t = { 0 };
	text_add(&t, "%s", CUSTOMERS);
	for (int i = 0; i < ENGINE_ORDERS; i++) {
		char id[32];
		snprintf(id, sizeof(id), "hourly-%02d", i);
		add_order(&t, id, ZONE_CUSTOMERS[i % 4], "      every: 1 hour\n      start: 2026-01-01\n      timezone: UTC\n");
	}
	defs *d = load_defs(t.s, t.n);
	free(t.s);

	/* Every order has the same instants (UTC), so `now` = the first create_at +
	 * (backlog - 1) hours makes exactly ENGINE_BACKLOG of each due. */
	occurrence first;
	if (rule_next(&d->orders[0].rule, INT64_MIN, &first) < 0)
		die("no first occurrence");
	int64_t now = first.create_at + (ENGINE_BACKLOG - 1) * INT64_C(3600);

	char dir[] = "/tmp/standingd-bench-XXXXXX";
	if (!mkdtemp(dir))
		die("mkdtemp: %s", strerror(errno));
	store *s;
	engine *e;
	int r = store_open(dir, NULL, &s);
	if (r < 0)
		die("store_open: %s", strerror(-r));
	if ((r = engine_new(s, NULL, &e)) < 0 || (r = engine_apply(e, d, NULL)) < 0)
		die("engine: %s", strerror(-r));

	int64_t t0 = now_ns();
	r = engine_run(e, now, SIZE_MAX);   /* the store grows a full map itself */
	int64_t t1 = now_ns();
	if (r < 0)
		die("engine_run: %s", strerror(-r));
	engine_stats st;
	engine_get_stats(e, &st);
	engine_free(e);
	store_close(s);

	char path[sizeof(dir) + 16];
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	struct stat sb;
	uint64_t used = 0;
	if (stat(path, &sb) < 0)
		die("stat %s: %s", path, strerror(errno));
	if ((r = lmdb_used_bytes(dir, &used)) != 0)
		die("lmdb: %s", mdb_strerror(r));
	double n = st.created ? (double) st.created : 1;
	printf("| engine_run, %d standing orders x %d hourly occurrences of backlog, fresh LMDB | %llu orders in %.0f ms: %.0f orders/s |\n",
	       ENGINE_ORDERS, ENGINE_BACKLOG, (unsigned long long) st.created, (double) (t1 - t0) / 1e6,
	       n / ((double) (t1 - t0) / 1e9));
	printf("| data.mdb per order created | %.0f B used pages, %.0f B allocated on disk (file %.1f MiB) |\n",
	       (double) used / n, (double) sb.st_blocks * 512.0 / n, (double) sb.st_size / (1024.0 * 1024.0));
	if (st.created != (uint64_t) ENGINE_ORDERS * ENGINE_BACKLOG)
		fprintf(stderr, "bench_engine: expected %d orders, created %llu (skipped %llu)\n",
			ENGINE_ORDERS * ENGINE_BACKLOG, (unsigned long long) st.created, (unsigned long long) st.skipped);
	defs_free(d);
	if (remove_tree(dir) < 0)
		fprintf(stderr, "bench_engine: cannot remove %s: %s\n", dir, strerror(errno));
}

/* ---- the engine with `before:` reminders (issue 11) ---- */

#define REMIND_ORDERS 10
#define REMIND_HOURS 500                /* hourly occurrences, stepped half-hourly */

/* REMIND_ORDERS hourly standing orders of c-hel (with a reminder 30 minutes before
 * each delivery when reminders), run in half-hour steps as the daemon would: each
 * step one engine_run (one write transaction) that makes the orders or the tasks
 * then due. Returns the ms the steps took; *ret_records what they wrote. */
static double remind_steps(bool reminders, uint64_t *ret_orders, size_t *ret_tasks) {
	bench_text t = { 0 };
	text_add(&t, "%s", CUSTOMERS);
	for (int i = 0; i < REMIND_ORDERS; i++) {
		char id[32];
		snprintf(id, sizeof(id), "hourly-%02d", i);
		add_order(&t, id, "c-hel", "      every: 1 hour\n      start: 2026-01-01\n      timezone: UTC\n"
			  "      lead_time: 0 minutes\n");
		if (reminders)
			text_add(&t, "    reminders: [{before: 30 minutes, task: \"Soita {customer}: {delivery_date}\"}]\n");
	}
	defs *d = load_defs(t.s, t.n);
	free(t.s);
	occurrence first;
	if (rule_next(&d->orders[0].rule, INT64_MIN, &first) < 0)
		die("no first occurrence");
	char dir[] = "/tmp/standingd-bench-XXXXXX";
	if (!mkdtemp(dir))
		die("mkdtemp: %s", strerror(errno));
	store *s;
	engine *e;
	int r = store_open(dir, NULL, &s);
	if (r < 0)
		die("store_open: %s", strerror(-r));
	engine_sources src = { .now = first.delivery - 3600 };
	if ((r = engine_new(s, NULL, &e)) < 0 || (r = engine_apply(e, d, &src)) < 0)
		die("engine: %s", strerror(-r));
	int64_t t0 = now_ns();
	for (int k = 0; k < 2 * REMIND_HOURS; k++)
		if ((r = engine_run(e, first.delivery - 1800 + k * INT64_C(1800), SIZE_MAX)) < 0)
			die("engine_run: %s", strerror(-r));
	int64_t t1 = now_ns();
	engine_stats st;
	engine_get_stats(e, &st);
	*ret_orders = st.created;
	store_txn *txn;
	json_t *arr = json_array();
	bool more = false;
	if (!arr || (r = store_begin(s, false, &txn)) < 0)
		die("store_begin: %s", strerror(-r));
	if ((r = crm_task_list(txn, NULL, -1, INT64_MAX, NULL, NULL, 100000, arr, &more)) < 0)
		die("crm_task_list: %s", strerror(-r));
	store_abort(txn);
	*ret_tasks = json_array_size(arr);
	json_decref(arr);
	engine_free(e);
	store_close(s);
	defs_free(d);
	if (remove_tree(dir) < 0)
		fprintf(stderr, "bench_engine: cannot remove %s: %s\n", dir, strerror(errno));
	return (double) (t1 - t0) / 1e6;
}

static void bench_reminders(void) {
	uint64_t orders0, orders1;
	size_t tasks0, tasks1;
	double ms0 = remind_steps(false, &orders0, &tasks0);
	double ms1 = remind_steps(true, &orders1, &tasks1);
	/* Both runs also make the on-hold tasks of orders past the customer's credit
	 * limit: the reminders' cost is the difference, per reminder task. */
	size_t reminder_tasks = tasks1 >= tasks0 ? tasks1 - tasks0 : 0;
	printf("| engine_run stepped half-hourly, %d hourly standing orders x %d hours, fresh LMDB | without reminders: "
	       "%llu orders and %zu on-hold tasks in %.0f ms; with a `before: 30 minutes` reminder each: %llu orders "
	       "and %zu more tasks in %.0f ms (%.0f us per reminder task) |\n",
	       REMIND_ORDERS, REMIND_HOURS, (unsigned long long) orders0, tasks0, ms0, (unsigned long long) orders1,
	       reminder_tasks, ms1, reminder_tasks ? (ms1 - ms0) * 1e3 / (double) reminder_tasks : 0.0);
	if (reminder_tasks != (size_t) REMIND_ORDERS * REMIND_HOURS || orders0 != orders1)
		fprintf(stderr, "bench_engine: expected %d reminder tasks, made %zu (%zu tasks, %zu without reminders)\n",
			REMIND_ORDERS * REMIND_HOURS, reminder_tasks, tasks1, tasks0);
}

int main(int argc, char **argv) {
	(void) argv;
	if (argc > 1) {
		fprintf(stderr, "usage: bench_engine\n"
				"Prints Markdown table rows: rule_next, tz, forecast_collect, engine_run (also with reminders).\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	bench_rules();
	bench_tz();
	/* forecast before the engine: the LMDB map's pages would count in ru_maxrss */
	bench_forecast();
	bench_engine();
	bench_reminders();
	return 0;
}
