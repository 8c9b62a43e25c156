/* engine: occurrences to orders against a real store in a fresh directory.
 * Definitions are loaded from in-memory YAML (UTC, so instants are easy to
 * write); `now` is passed in, so every test is deterministic. Asserted: exact
 * counts of created and skipped occurrences, the skip reasons, the watermark,
 * and that no occurrence is ever created twice (store_verify). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>
#include "lib/time/cal.h"
#include "lib/defs/defs.h"
#include "lib/sched/engine.h"
#include "lib/store/store.h"
#include "tests/unit/tmpdir.h"

#define MINUTE INT64_C(60)
#define HOUR INT64_C(3600)
#define DAY CAL_SECS_PER_DAY

typedef struct fx {
	char tmp[64];
	store *s;
	engine *e;
	defs *d[4];
	size_t n_defs;
	uint64_t created, skipped;          /* seen by the hooks */
	char last_reason[256];
} fx;

static void on_created(const sales_order *o, void *ud) {
	fx *f = ud;
	assert_true(o->number[0] != 0);
	f->created++;
}

static void on_skipped(const standing_order *so, int64_t delivery, const char *reason, void *ud) {
	fx *f = ud;
	(void) so; (void) delivery;
	f->skipped++;
	snprintf(f->last_reason, sizeof(f->last_reason), "%s", reason);
}

static int setup(void **state) {
	fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	strcpy(f->tmp, "/tmp/test_engine.XXXXXX");
	assert_non_null(mkdtemp(f->tmp));
	assert_int_equal(store_open(f->tmp, NULL, &f->s), 0);
	engine_hooks h = { .created = on_created, .skipped = on_skipped, .ud = f };
	assert_int_equal(engine_new(f->s, &h, &f->e), 0);
	*state = f;
	return 0;
}

static int teardown(void **state) {
	fx *f = *state;
	engine_free(f->e);
	for (size_t i = 0; i < f->n_defs; i++)
		defs_free(f->d[i]);
	store_close(f->s);
	tmpdir_remove(f->tmp);
	free(f);
	return 0;
}

static const int64_t T0 = INT64_C(1798761600);   /* 2027-01-01T00:00:00Z */

/* One standing order item; sched is the schedule's YAML lines (6 spaces in). */
static char *order_item_q(const char *id, const char *quantity, const char *sched) {
	char *s;
	assert_true(asprintf(&s,
		"  - id: %s\n"
		"    customer: acme\n"
		"    supplier: lumen\n"
		"    ship_to: {name: ACME, street: Katu 1, postcode: \"00510\", city: Helsinki, country: FI}\n"
		"    lines:\n"
		"      - {sku: BULB-60W, quantity: %s, unit_price: \"0.85 EUR\"}\n"
		"    payment: account\n"
		"    schedule:\n"
		"%s", id, quantity, sched) > 0);
	return s;
}

static char *order_item(const char *id, const char *sched) {
	return order_item_q(id, "10", sched);
}

/* Loads a set: a config with max_catch_up, and the given items. The defs stays
 * owned by the fixture (the engine borrows it until the next apply). */
static const defs *load(fx *f, unsigned max_catch_up, const char *items) {
	char cfg[512];
	snprintf(cfg, sizeof(cfg),
		 "timezone: UTC\n"
		 "catch_up: all\n"
		 "max_catch_up: %u\n"
		 "suppliers:\n"
		 "  - {id: lumen, name: Lumen Oy, users: [lumen]}\n", max_catch_up);
	char *orders;
	assert_true(asprintf(&orders,
		"customers:\n"
		"  - id: acme\n"
		"    name: ACME Oy\n"
		"    account: {number: ACC-1001, credit_limit: \"50000.00 EUR\"}\n"
		"standing_orders:\n%s", items) > 0);
	defs_file files[] = {
		{ "standingd.yaml", cfg, strlen(cfg) },
		{ "orders.d/a.yaml", orders, strlen(orders) },
	};
	diag_list dl = { 0 };
	defs *d = NULL;
	int r = defs_load_files(files, 2, NULL, &d, &dl);
	for (size_t i = 0; i < dl.n; i++) {
		char *m = diag_format(&dl.v[i]);
		fprintf(stderr, "%s\n", m);
		free(m);
	}
	diag_list_clear(&dl);
	free(orders);
	assert_int_equal(r, 0);
	assert_true(f->n_defs < sizeof(f->d) / sizeof(f->d[0]));
	f->d[f->n_defs++] = d;
	return d;
}

static const defs *load1(fx *f, unsigned max_catch_up, const char *id, const char *sched) {
	char *item = order_item(id, sched);
	const defs *d = load(f, max_catch_up, item);
	free(item);
	return d;
}

#define DAILY "      every: 1 day\n      start: 2027-01-01\n      at: \"00:00\"\n      timezone: UTC\n"

static int count_order(const sales_order *o, void *ud) {
	(void) o;
	(*(size_t *) ud)++;
	return 0;
}

static size_t n_orders(fx *f) {
	store_txn *t;
	size_t n = 0;
	assert_int_equal(store_begin(f->s, false, &t), 0);
	assert_int_equal(store_order_each(t, INT64_MIN, INT64_MAX, count_order, &n), 0);
	store_abort(t);
	return n;
}

typedef struct skips_seen {
	size_t n;
	char reason[256];
	int64_t delivery;
} skips_seen;

static int count_skip(const char *so_id, int64_t delivery, int64_t at, const char *reason, void *ud) {
	skips_seen *s = ud;
	(void) so_id; (void) at;
	s->n++;
	s->delivery = delivery;
	snprintf(s->reason, sizeof(s->reason), "%s", reason);
	return 0;
}

static skips_seen skips(fx *f) {
	store_txn *t;
	skips_seen s = { 0 };
	assert_int_equal(store_begin(f->s, false, &t), 0);
	assert_int_equal(store_skip_each(t, count_skip, &s), 0);
	store_abort(t);
	return s;
}

static sched_state sched(fx *f, const char *id) {
	store_txn *t;
	sched_state st;
	assert_int_equal(store_begin(f->s, false, &t), 0);
	assert_int_equal(store_sched_get(t, id, &st), 0);
	store_abort(t);
	return st;
}

static void verify_clean(fx *f) {
	diag_list dl = { 0 };
	int r = store_verify(f->s, &dl);
	for (size_t i = 0; i < dl.n; i++) {
		char *m = diag_format(&dl.v[i]);
		fprintf(stderr, "violation: %s\n", m);
		free(m);
	}
	diag_list_clear(&dl);
	assert_int_equal(r, 0);
}

static int64_t next_due(fx *f) {
	int64_t at = 0;
	assert_int_equal(engine_next_due(f->e, &at), 0);
	return at;
}

/* ---- tests ---- */

static void test_exactly_once_across_runs(void **state) {
	fx *f = *state;
	const defs *d = load1(f, 100, "daily", DAILY);
	assert_int_equal(engine_apply(f->e, d, NULL), 0);
	assert_int_equal(next_due(f), T0);
	assert_int_equal(engine_run(f->e, T0 - 1, 10), 0);
	assert_int_equal(engine_run(f->e, T0 + 10, 10), 1);
	assert_int_equal(engine_run(f->e, T0 + 10, 10), 0);
	assert_int_equal(engine_run(f->e, T0 + 20, 10), 0);
	/* Jan 2 is missed (late, caught up), Jan 3 on time */
	assert_int_equal(engine_run(f->e, T0 + 2 * DAY + 10, 10), 2);
	assert_int_equal(engine_run(f->e, T0 + 2 * DAY + 10, 10), 0);
	assert_int_equal(next_due(f), T0 + 3 * DAY);
	assert_int_equal(f->created, 3);
	/* a restart: a new engine on the same store creates nothing twice */
	engine_free(f->e);
	engine_hooks h = { .created = on_created, .skipped = on_skipped, .ud = f };
	assert_int_equal(engine_new(f->s, &h, &f->e), 0);
	assert_int_equal(engine_apply(f->e, d, NULL), 0);
	assert_int_equal(next_due(f), T0 + 3 * DAY);
	assert_int_equal(engine_run(f->e, T0 + 2 * DAY + 10, 10), 0);
	/* re-applying (a reload) keeps the watermark too */
	assert_int_equal(engine_apply(f->e, d, NULL), 0);
	assert_int_equal(engine_run(f->e, T0 + 2 * DAY + 10, 10), 0);
	sched_state st = sched(f, "daily");
	assert_int_equal(st.created, 3);
	assert_int_equal(st.skipped, 0);
	assert_int_equal(st.watermark, T0 + 2 * DAY);
	assert_true(st.active);
	assert_int_equal(n_orders(f), 3);
	assert_int_equal(skips(f).n, 0);
	verify_clean(f);
}

static void test_catch_up_all(void **state) {
	fx *f = *state;
	assert_int_equal(engine_apply(f->e, load1(f, 3, "daily", DAILY), NULL), 0);
	/* Jan 1..9 missed, Jan 10 on time: the 3 most recent missed and Jan 10 */
	assert_int_equal(engine_run(f->e, T0 + 9 * DAY + 10, 10), 4);
	assert_int_equal(f->created, 4);
	assert_int_equal(f->skipped, 6);
	assert_string_equal(f->last_reason, "catch_up: all, beyond max_catch_up 3");
	skips_seen s = skips(f);
	assert_int_equal(s.n, 6);
	assert_int_equal(s.delivery, T0 + 5 * DAY);
	assert_string_equal(s.reason, "catch_up: all, beyond max_catch_up 3");
	sched_state st = sched(f, "daily");
	assert_int_equal(st.created, 4);
	assert_int_equal(st.skipped, 6);
	assert_int_equal(st.watermark, T0 + 9 * DAY);
	assert_int_equal(n_orders(f), 4);
	assert_int_equal(engine_run(f->e, T0 + 9 * DAY + 10, 10), 0);
	verify_clean(f);
}

static void test_catch_up_latest(void **state) {
	fx *f = *state;
	assert_int_equal(engine_apply(f->e, load1(f, 100, "daily", DAILY "      catch_up: latest\n"), NULL), 0);
	assert_int_equal(engine_run(f->e, T0 + 9 * DAY + 10, 10), 2);   /* Jan 9 (late) and Jan 10 */
	skips_seen s = skips(f);
	assert_int_equal(s.n, 8);
	assert_int_equal(s.delivery, T0 + 7 * DAY);
	assert_string_equal(s.reason, "catch_up: latest");
	sched_state st = sched(f, "daily");
	assert_int_equal(st.created, 2);
	assert_int_equal(st.skipped, 8);
	assert_int_equal(f->skipped, 8);
	assert_int_equal(n_orders(f), 2);
	verify_clean(f);
}

static void test_catch_up_none(void **state) {
	fx *f = *state;
	assert_int_equal(engine_apply(f->e, load1(f, 100, "daily", DAILY "      catch_up: none\n"), NULL), 0);
	assert_int_equal(engine_run(f->e, T0 + 9 * DAY + 10, 10), 1);   /* only Jan 10, on time */
	skips_seen s = skips(f);
	assert_int_equal(s.n, 9);
	assert_int_equal(s.delivery, T0 + 8 * DAY);
	assert_string_equal(s.reason, "catch_up: none");
	sched_state st = sched(f, "daily");
	assert_int_equal(st.created, 1);
	assert_int_equal(st.skipped, 9);
	assert_int_equal(n_orders(f), 1);
	verify_clean(f);
}

static void test_paused(void **state) {
	fx *f = *state;
	assert_int_equal(engine_apply(f->e, load1(f, 100, "daily", DAILY "      paused: true\n"), NULL), 0);
	engine_stats es;
	engine_get_stats(f->e, &es);
	assert_int_equal(es.paused, 1);
	assert_int_equal(es.active, 0);
	assert_int_equal(engine_run(f->e, T0 + 9 * DAY + 10, 10), 0);
	skips_seen s = skips(f);
	assert_int_equal(s.n, 10);
	assert_string_equal(s.reason, "paused");
	assert_int_equal(next_due(f), T0 + 10 * DAY);
	/* resumed: no backlog, the next one on time */
	assert_int_equal(engine_apply(f->e, load1(f, 100, "daily", DAILY), NULL), 0);
	assert_int_equal(engine_run(f->e, T0 + 9 * DAY + 10, 10), 0);
	assert_int_equal(engine_run(f->e, T0 + 10 * DAY + 10, 10), 1);
	sched_state st = sched(f, "daily");
	assert_int_equal(st.created, 1);
	assert_int_equal(st.skipped, 10);
	assert_int_equal(n_orders(f), 1);
	verify_clean(f);
}

static void test_requested_skip(void **state) {
	fx *f = *state;
	assert_int_equal(engine_apply(f->e, load1(f, 100, "daily", DAILY), NULL), 0);
	store_txn *t;
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(store_skip_record(t, "daily", T0 + DAY, T0 - DAY, "skipped by request of test"), 0);
	assert_int_equal(store_commit(t), 0);
	assert_int_equal(engine_run(f->e, T0 + 10, 10), 1);
	assert_int_equal(engine_run(f->e, T0 + DAY + 10, 10), 0);
	assert_int_equal(next_due(f), T0 + 2 * DAY);
	assert_int_equal(engine_run(f->e, T0 + 2 * DAY + 10, 10), 1);
	skips_seen s = skips(f);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.delivery, T0 + DAY);
	assert_string_equal(s.reason, "skipped by request of test");
	sched_state st = sched(f, "daily");
	assert_int_equal(st.created, 2);
	assert_int_equal(st.skipped, 1);
	assert_int_equal(n_orders(f), 2);
	verify_clean(f);
}

static void test_deactivation_keeps_history(void **state) {
	fx *f = *state;
	char *a = order_item("a", DAILY), *b = order_item("b", DAILY), both[2048];
	snprintf(both, sizeof(both), "%s%s", a, b);
	assert_int_equal(engine_apply(f->e, load(f, 100, both), NULL), 0);
	assert_int_equal(engine_run(f->e, T0 + 10, 10), 2);
	/* b is gone from the definitions: inactive, history kept, nothing created */
	assert_int_equal(engine_apply(f->e, load(f, 100, a), NULL), 0);
	sched_state st = sched(f, "b");
	assert_false(st.active);
	assert_int_equal(st.created, 1);
	assert_int_equal(st.watermark, T0);
	assert_true(sched(f, "a").active);
	assert_int_equal(engine_run(f->e, T0 + DAY + 10, 10), 1);
	assert_int_equal(n_orders(f), 3);
	/* back again: it goes on from its watermark, Jan 1 is not created twice */
	assert_int_equal(engine_apply(f->e, load(f, 100, both), NULL), 0);
	assert_true(sched(f, "b").active);
	assert_int_equal(engine_run(f->e, T0 + DAY + 10, 10), 1);
	assert_int_equal(n_orders(f), 4);
	assert_int_equal(sched(f, "b").created, 2);
	free(a);
	free(b);
	verify_clean(f);
}

static void test_existing_occurrence_not_created_twice(void **state) {
	fx *f = *state;
	const defs *d = load1(f, 100, "daily", DAILY);
	/* the occurrence exists already (say, created before a definition edit
	 * moved the watermark back): the engine must step over it */
	const standing_order *so = defs_find_order(d, "daily");
	sales_order o = {
		.standing_order = so->id, .occurrence = 0, .customer = so->customer->id, .supplier = so->supplier,
		.ship_to = so->ship_to, .lines = so->lines, .n_lines = so->n_lines, .total = { 850, "EUR" },
		.delivery = T0, .zone = "UTC", .created = T0 - DAY, .payment = ORDER_PAYMENT_ACCOUNT,
	};
	store_txn *t;
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(store_order_create(t, &o), 0);
	assert_int_equal(store_commit(t), 0);
	assert_int_equal(engine_apply(f->e, d, NULL), 0);
	assert_int_equal(engine_run(f->e, T0 + 10, 10), 0);
	assert_int_equal(f->created, 0);
	assert_int_equal(n_orders(f), 1);
	sched_state st = sched(f, "daily");
	assert_int_equal(st.watermark, T0);
	assert_int_equal(st.created, 0);
	assert_int_equal(next_due(f), T0 + DAY);
	assert_int_equal(engine_run(f->e, T0 + DAY + 10, 10), 1);
	assert_int_equal(n_orders(f), 2);
	verify_clean(f);
}

static void test_batches(void **state) {
	fx *f = *state;
	assert_int_equal(engine_apply(f->e, load1(f, 1000, "hourly",
		"      every: 1 hour\n      start: 2027-01-01\n      timezone: UTC\n"), NULL), 0);
	int64_t now = T0 + 600 * HOUR + 10;    /* 601 due: 600 missed (<= max_catch_up) and one on time */
	assert_int_equal(engine_run(f->e, now, 1), ENGINE_BATCH);
	assert_int_equal(engine_run(f->e, now, 1), ENGINE_BATCH);
	assert_int_equal(engine_run(f->e, now, 1), 601 - 2 * ENGINE_BATCH);
	assert_int_equal(engine_run(f->e, now, 1), 0);
	assert_int_equal(n_orders(f), 601);
	assert_int_equal(skips(f).n, 0);
	assert_int_equal(next_due(f), T0 + 601 * HOUR);
	verify_clean(f);
}

static void test_huge_backlog_summarised(void **state) {
	fx *f = *state;
	assert_int_equal(engine_apply(f->e, load1(f, 100, "minutely",
		"      every: 1 minute\n      start: 2027-01-01\n      timezone: UTC\n      catch_up: none\n"), NULL), 0);
	assert_int_equal(engine_run(f->e, T0 + 2000 * MINUTE + 10, 10), 1);
	skips_seen s = skips(f);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.delivery, T0 + 1999 * MINUTE);
	assert_string_equal(s.reason, "catch_up: none (2000 occurrences skipped, up to this one)");
	sched_state st = sched(f, "minutely");
	assert_int_equal(st.skipped, 2000);
	assert_int_equal(st.created, 1);
	assert_int_equal(st.watermark, T0 + 2000 * MINUTE);
	verify_clean(f);
}

/* decisions.md: more than 1,000 skipped occurrences at once are one summary
 * record, paused ones included (a paused order first seen long after its start). */
static void test_paused_huge_backlog_summarised(void **state) {
	fx *f = *state;
	assert_int_equal(engine_apply(f->e, load1(f, 100, "minutely",
		"      every: 1 minute\n      start: 2027-01-01\n      timezone: UTC\n      paused: true\n"), NULL), 0);
	assert_int_equal(engine_run(f->e, T0 + 4999 * MINUTE + 10, 1), 0);
	assert_int_equal(next_due(f), T0 + 5000 * MINUTE);
	skips_seen s = skips(f);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.delivery, T0 + 4999 * MINUTE);
	assert_string_equal(s.reason, "paused (5000 occurrences skipped, up to this one)");
	sched_state st = sched(f, "minutely");
	assert_int_equal(st.skipped, 5000);
	assert_int_equal(st.created, 0);
	/* from then on one record each, as they come due */
	assert_int_equal(engine_run(f->e, T0 + 5000 * MINUTE + 10, 1), 0);
	s = skips(f);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.reason, "paused");
	assert_int_equal(n_orders(f), 0);
}

/* A standing order whose total does not fit (validation accepts any quantity up
 * to INT64_MAX) must not stop every other standing order: it is recorded as
 * skipped with the reason, and the batch goes on. */
static void test_total_overflow_does_not_block_others(void **state) {
	fx *f = *state;
	char *a = order_item("a", DAILY), *huge = order_item_q("huge", "1", DAILY), both[2048];
	snprintf(both, sizeof(both), "%s%s", a, huge);
	const defs *d = load(f, 100, both);
	/* validation rejects such a total; the engine must survive one that slips
	 * through all the same (a definition from an older, laxer version) */
	standing_order *so = (standing_order *) defs_find_order(d, "huge");
	so->lines[0].quantity = INT64_MAX;
	assert_int_equal(engine_apply(f->e, d, NULL), 0);
	assert_int_equal(engine_run(f->e, T0 + 10, 10), 1);
	assert_int_equal(n_orders(f), 1);
	assert_int_equal(sched(f, "a").created, 1);
	sched_state st = sched(f, "huge");
	assert_int_equal(st.created, 0);
	assert_int_equal(st.skipped, 1);
	assert_int_equal(st.watermark, T0);
	skips_seen s = skips(f);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.reason, "order total out of range");
	assert_int_equal(engine_run(f->e, T0 + DAY + 10, 10), 1);
	assert_int_equal(n_orders(f), 2);
	free(a);
	free(huge);
	verify_clean(f);
}

typedef struct reason_at {
	int64_t delivery;
	char reason[256];
} reason_at;

static int find_skip(const char *so_id, int64_t delivery, int64_t at, const char *reason, void *ud) {
	reason_at *w = ud;
	(void) so_id; (void) at;
	if (delivery == w->delivery)
		snprintf(w->reason, sizeof(w->reason), "%s", reason);
	return 0;
}

/* A requested skip that the catch-up policy would skip anyway keeps its own
 * record (who asked), rather than being overwritten with the policy's reason. */
static void test_requested_skip_survives_catch_up(void **state) {
	fx *f = *state;
	assert_int_equal(engine_apply(f->e, load1(f, 100, "daily", DAILY "      catch_up: none\n"), NULL), 0);
	store_txn *t;
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(store_skip_record(t, "daily", T0 + DAY, T0 - DAY, "skipped by request of test"), 0);
	assert_int_equal(store_commit(t), 0);
	assert_int_equal(engine_run(f->e, T0 + 9 * DAY + 10, 10), 1);
	reason_at w = { .delivery = T0 + DAY };
	assert_int_equal(store_begin(f->s, false, &t), 0);
	assert_int_equal(store_skip_each(t, find_skip, &w), 0);
	store_abort(t);
	assert_string_equal(w.reason, "skipped by request of test");
	assert_int_equal(skips(f).n, 9);
	assert_int_equal(sched(f, "daily").skipped, 9);
	verify_clean(f);
}

/* decisions.md: a cron schedule without `start` begins when the engine first sees
 * it (engine_sources.now, or the first engine_run's now): never backdated. */
static void test_cron_without_start_begins_when_seen(void **state) {
	fx *f = *state;
	char *a = order_item("hourly", "      cron: \"0 * * * *\"\n      timezone: UTC\n");
	char *b = order_item("yearly", "      cron: \"@yearly\"\n      timezone: UTC\n");
	char both[2048];
	snprintf(both, sizeof(both), "%s%s", a, b);
	engine_sources src = { .now = T0 + 30 * MINUTE };
	assert_int_equal(engine_apply(f->e, load(f, 100, both), &src), 0);
	assert_int_equal(sched(f, "hourly").watermark, T0 + 30 * MINUTE);
	assert_int_equal(sched(f, "yearly").watermark, T0 + 30 * MINUTE);
	assert_int_equal(next_due(f), T0 + HOUR);
	assert_int_equal(engine_run(f->e, T0 + 30 * MINUTE + 10, 10), 0);
	assert_int_equal(engine_run(f->e, T0 + 3 * HOUR + 10, 10), 3);
	assert_int_equal(n_orders(f), 3);
	assert_int_equal(skips(f).n, 0);
	/* a later apply keeps the first-seen watermark */
	assert_int_equal(engine_apply(f->e, load(f, 100, both), &src), 0);
	assert_int_equal(sched(f, "yearly").watermark, T0 + 30 * MINUTE);
	assert_int_equal(engine_run(f->e, T0 + 3 * HOUR + 10, 10), 0);
	free(a);
	free(b);
	verify_clean(f);
}

static void test_cron_without_start_no_now(void **state) {
	fx *f = *state;
	assert_int_equal(engine_apply(f->e, load1(f, 100, "yearly", "      cron: \"@yearly\"\n      timezone: UTC\n"),
				      NULL), 0);
	assert_int_equal(engine_run(f->e, T0 + 10 * DAY, 1), 0);
	assert_int_equal(sched(f, "yearly").watermark, T0 + 10 * DAY);
	assert_int_equal(skips(f).n, 0);
	assert_int_equal(next_due(f), INT64_C(1830297600));   /* 2028-01-01 */
	verify_clean(f);
}

/* Missed occurrences are counted, not visited: every minute since 1970 is 30
 * million of them, one summary record and max_catch_up orders in one batch. */
static void test_arithmetic_catch_up(void **state) {
	fx *f = *state;
	assert_int_equal(engine_apply(f->e, load1(f, 100, "minutely",
		"      every: 1 minute\n      start: 1970-01-01\n      timezone: UTC\n"), NULL), 0);
	assert_int_equal(engine_run(f->e, T0 + 10, 1), 101);
	skips_seen s = skips(f);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.delivery, T0 - 101 * MINUTE);
	assert_string_equal(s.reason, "catch_up: all, beyond max_catch_up 100 (29979260 occurrences skipped, up to this one)");
	sched_state st = sched(f, "minutely");
	assert_int_equal(st.skipped, 29979260);
	assert_int_equal(st.created, 101);
	assert_int_equal(st.watermark, T0);
	assert_int_equal(next_due(f), T0 + MINUTE);
	verify_clean(f);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_exactly_once_across_runs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_catch_up_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cron_without_start_begins_when_seen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cron_without_start_no_now, setup, teardown),
		cmocka_unit_test_setup_teardown(test_arithmetic_catch_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_catch_up_latest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_catch_up_none, setup, teardown),
		cmocka_unit_test_setup_teardown(test_paused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_requested_skip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deactivation_keeps_history, setup, teardown),
		cmocka_unit_test_setup_teardown(test_existing_occurrence_not_created_twice, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batches, setup, teardown),
		cmocka_unit_test_setup_teardown(test_huge_backlog_summarised, setup, teardown),
		cmocka_unit_test_setup_teardown(test_paused_huge_backlog_summarised, setup, teardown),
		cmocka_unit_test_setup_teardown(test_total_overflow_does_not_block_others, setup, teardown),
		cmocka_unit_test_setup_teardown(test_requested_skip_survives_catch_up, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
