/* engine: occurrences to orders against a real store in a fresh directory.
 * Definitions are loaded from in-memory YAML (UTC, so instants are easy to
 * write); `now` is passed in, so every test is deterministic. Asserted: exact
 * counts of created and skipped occurrences, the skip reasons, the watermark,
 * and that no occurrence is ever created twice (store_verify). */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <cmocka.h>
#include "lib/time/cal.h"
#include "lib/defs/defs.h"
#include "lib/sales/crm.h"
#include "lib/sales/sales.h"
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

/* standingd.yaml cfg and one orders file, loaded (the diags printed). */
static defs *load_files(const char *cfg, const char *orders) {
	defs_file files[] = {
		{ "standingd.yaml", (char *) cfg, strlen(cfg) },
		{ "orders.d/a.yaml", (char *) orders, strlen(orders) },
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
	assert_int_equal(r, 0);
	return d;
}

/* Loads a set: the config cfg, the customer acme (with the lines acme_extra), and
 * the given items. The defs stays owned by the fixture (the engine borrows it
 * until the next apply). */
static const defs *load_set(fx *f, const char *cfg, const char *acme_extra, const char *items) {
	char *orders;
	assert_true(asprintf(&orders,
		"customers:\n"
		"  - id: acme\n"
		"    name: ACME Oy\n%s"
		"    account: {number: ACC-1001, credit_limit: \"50000.00 EUR\"}\n"
		"standing_orders:\n%s", acme_extra, items) > 0);
	defs *d = load_files(cfg, orders);
	free(orders);
	assert_true(f->n_defs < sizeof(f->d) / sizeof(f->d[0]));
	f->d[f->n_defs++] = d;
	return d;
}

/* A config with max_catch_up. */
static const defs *load(fx *f, unsigned max_catch_up, const char *items) {
	char cfg[512];
	snprintf(cfg, sizeof(cfg),
		 "timezone: UTC\n"
		 "catch_up: all\n"
		 "max_catch_up: %u\n"
		 "suppliers:\n"
		 "  - {id: lumen, name: Lumen Oy, users: [lumen]}\n", max_catch_up);
	return load_set(f, cfg, "", items);
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

/* A standing order's counts are the store's, 64 bits, added to when its state is
 * written (the engine keeps none): they go on exactly past 32 bits, through a
 * creation, a skip in advance and a deactivation. */
static void test_counts_past_32_bits(void **state) {
	fx *f = *state;
	const defs *d = load1(f, 100, "daily", DAILY);
	store_txn *t;
	sched_state st = { .watermark = T0 - DAY, .created = UINT32_MAX - 1, .skipped = (UINT64_C(1) << 32) + 7,
			   .active = true, .def_hash = d->orders[0].hash };
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(store_sched_put(t, "daily", &st), 0);
	assert_int_equal(sales_skip_occurrence_in(t, "daily", T0 + 2 * DAY, T0, "skipped by request of test"), 0);
	assert_int_equal(store_commit(t), 0);
	assert_int_equal(engine_apply(f->e, d, NULL), 0);
	assert_int_equal(engine_run(f->e, T0 + 10, 10), 1);
	st = sched(f, "daily");
	assert_true(st.created == UINT32_MAX);
	assert_true(st.skipped == (UINT64_C(1) << 32) + 7);
	assert_int_equal(engine_run(f->e, T0 + DAY + 10, 10), 1);
	assert_int_equal(engine_run(f->e, T0 + 2 * DAY + 10, 10), 0);   /* skipped in advance */
	st = sched(f, "daily");
	assert_true(st.created == UINT64_C(1) << 32);
	assert_true(st.skipped == (UINT64_C(1) << 32) + 8);
	assert_int_equal(st.watermark, T0 + 2 * DAY);
	/* gone from the definitions: the counts stay */
	char *other = order_item("other", DAILY);
	assert_int_equal(engine_apply(f->e, load(f, 100, other), NULL), 0);
	free(other);
	st = sched(f, "daily");
	assert_false(st.active);
	assert_true(st.created == UINT64_C(1) << 32);
	assert_true(st.skipped == (UINT64_C(1) << 32) + 8);
	assert_int_equal(st.def_hash, d->orders[0].hash);
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
		.ship_to = so->bulk->ship_to, .lines = so->bulk->lines, .n_lines = so->n_lines, .total = { 850, "EUR" },
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
	char *item = order_item_q("hourly", "1", "      every: 1 hour\n      start: 2027-01-01\n      timezone: UTC\n");
	assert_int_equal(engine_apply(f->e, load(f, 10000, item), NULL), 0);
	free(item);
	int64_t now = T0 + 9000 * HOUR + 10;    /* 9,001 due: 9,000 missed (<= max_catch_up) and one on time */
	/* plain orders (one line, all within the credit limit) cost one unit each */
	assert_int_equal(engine_run(f->e, now, 1), ENGINE_BATCH);
	assert_int_equal(engine_run(f->e, now, 1), ENGINE_BATCH);
	assert_int_equal(engine_run(f->e, now, 1), 9001 - 2 * ENGINE_BATCH);
	assert_int_equal(engine_run(f->e, now, 1), 0);
	assert_int_equal(n_orders(f), 9001);
	assert_int_equal(skips(f).n, 0);
	assert_int_equal(next_due(f), T0 + 9001 * HOUR);
	verify_clean(f);
}

/* Orders put on hold (over the credit limit: a task each) cost ENGINE_COST_TASK
 * more: a batch of them is ENGINE_BATCH / (1 + ENGINE_COST_TASK) orders, the last
 * one overdrawing the budget, so that a loop step stays short. */
static void test_batches_weighted(void **state) {
	fx *f = *state;
	char *item = order_item_q("big", "100000", "      every: 1 hour\n      start: 2027-01-01\n      timezone: UTC\n");
	assert_int_equal(engine_apply(f->e, load(f, 1000, item), NULL), 0);
	free(item);
	const int per = (ENGINE_BATCH + ENGINE_COST_PLAIN + ENGINE_COST_TASK - 1) / (ENGINE_COST_PLAIN + ENGINE_COST_TASK);
	const int n = 2 * per + per / 2;   /* due, each 85,000 EUR against a limit of 50,000 */
	int64_t now = T0 + (n - 1) * HOUR + 10;
	assert_true(per > 1 && per < ENGINE_BATCH / 16);
	assert_int_equal(engine_run(f->e, now, 1), per);
	assert_int_equal(engine_run(f->e, now, 1), per);
	assert_int_equal(engine_run(f->e, now, 1), n - 2 * per);
	assert_int_equal(engine_run(f->e, now, 1), 0);
	assert_int_equal(n_orders(f), (size_t) n);
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
	so->bulk->lines[0].quantity = INT64_MAX;
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

/* ---- reminders (`before:`, doc/crm.md) ---- */

/* A set with a salesperson (the tasks' assignee) and the items given. */
static const defs *load_crm(fx *f, const char *items) {
	return load_set(f,
		"timezone: UTC\n"
		"catch_up: all\n"
		"max_catch_up: 100\n"
		"suppliers:\n"
		"  - {id: lumen, name: Lumen Oy, users: [lumen]}\n"
		"salespeople:\n"
		"  - {id: anna, name: Anna Virtanen, email: anna@example.com, language: en}\n",
		"    salesperson: anna\n"
		"    contacts: [{name: Liisa Laine, role: purchasing, email: liisa@example.com}]\n", items);
}

/* One standing order "so" with the schedule lines and a `before:` reminder. */
static const defs *load_rem(fx *f, const char *sched, const char *before) {
	char *item = order_item("so", sched), *items;
	assert_true(asprintf(&items, "%s    reminders:\n"
			     "      - {before: %s, task: \"Call {contact} about {delivery_date}\"}\n", item, before) > 0);
	const defs *d = load_crm(f, items);
	free(item);
	free(items);
	return d;
}

typedef struct task_seen {
	char due[CAL_ISO_MAX], delivery[CAL_ISO_MAX], status[16], kind[16];
} task_seen;

/* The tasks in due order (at most 16). */
static size_t tasks(fx *f, task_seen ret[16]) {
	store_txn *t;
	json_t *arr = json_array();
	bool more = false;
	assert_int_equal(store_begin(f->s, false, &t), 0);
	assert_int_equal(crm_task_list(t, NULL, -1, INT64_MAX, NULL, NULL, 16, arr, &more), 0);
	store_abort(t);
	assert_false(more);
	size_t n = json_array_size(arr);
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_array_get(arr, i);
		const char *dl = json_string_value(json_object_get(v, "delivery"));
		snprintf(ret[i].due, sizeof(ret[i].due), "%s", json_string_value(json_object_get(v, "due")));
		snprintf(ret[i].delivery, sizeof(ret[i].delivery), "%s", dl ? dl : "null");
		snprintf(ret[i].status, sizeof(ret[i].status), "%s", json_string_value(json_object_get(v, "status")));
		snprintf(ret[i].kind, sizeof(ret[i].kind), "%s", json_string_value(json_object_get(v, "kind")));
	}
	json_decref(arr);
	return n;
}

static int64_t through(fx *f, const defs *d) {
	char hash[17];
	int64_t v = 0;
	store_txn *t;
	crm_reminder_hash(&d->orders[0].bulk->reminders[0], hash);
	assert_int_equal(store_begin(f->s, false, &t), 0);
	assert_int_equal(crm_reminder_get(t, "so", hash, &v), 0);
	store_abort(t);
	return v;
}

/* glibc's mktime in Europe/Helsinki: the oracle for local wall-clock instants. */
static int64_t helsinki(int y, int mo, int day, int h, int mi) {
	char *old = getenv("TZ") ? strdup(getenv("TZ")) : NULL;
	setenv("TZ", "Europe/Helsinki", 1);
	tzset();
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = day, .tm_hour = h, .tm_min = mi,
			 .tm_isdst = -1 };
	time_t v = mktime(&tm);
	if (old) {
		setenv("TZ", old, 1);
		free(old);
	} else
		unsetenv("TZ");
	tzset();
	return (int64_t) v;
}

static void restart(fx *f, const defs *d, int64_t now) {
	engine_free(f->e);
	engine_hooks h = { .created = on_created, .skipped = on_skipped, .ud = f };
	assert_int_equal(engine_new(f->s, &h, &f->e), 0);
	engine_sources src = { .now = now };
	assert_int_equal(engine_apply(f->e, d, &src), 0);
}

/* Deliveries 2027-03-26 and 2027-03-30 06:00 in Helsinki, across the change to
 * summer time (2027-03-28): each reminder task is due exactly 72 hours (elapsed)
 * before, made at that instant and not a second earlier, once; the daemon wakes
 * exactly then (engine_next_due). */
static void test_reminder_exact_across_dst(void **state) {
	fx *f = *state;
	const defs *d = load_rem(f, "      every: 4 days\n      start: 2027-03-26\n      at: \"06:00\"\n"
				 "      timezone: Europe/Helsinki\n      lead_time: 1 hour\n", "3 days");
	int64_t d1 = helsinki(2027, 3, 26, 6, 0), d2 = helsinki(2027, 3, 30, 6, 0);
	assert_int_equal(d2 - d1, 4 * DAY - HOUR);   /* the oracle sees the change */
	int64_t r1 = d1 - 3 * DAY, r2 = d2 - 3 * DAY;
	int64_t seen = helsinki(2027, 3, 20, 0, 0);
	engine_sources src = { .now = seen };
	assert_int_equal(engine_apply(f->e, d, &src), 0);
	assert_int_equal(through(f, d), seen - 1);   /* starts when first seen: recorded */
	assert_int_equal(next_due(f), r1);
	assert_int_equal(engine_run(f->e, r1 - 1, 10), 0);
	task_seen ts[16];
	assert_int_equal(tasks(f, ts), 0);
	assert_int_equal(engine_run(f->e, r1, 10), 0);
	char want[CAL_ISO_MAX];
	assert_int_equal(tasks(f, ts), 1);
	assert_string_equal(ts[0].due, cal_format_utc(r1, want));
	assert_string_equal(ts[0].delivery, cal_format_utc(d1, want));
	assert_string_equal(ts[0].kind, "before");
	assert_string_equal(ts[0].status, "open");
	assert_string_equal(ts[0].due, "2027-03-23T04:00:00Z");
	assert_int_equal(through(f, d), r1);
	/* the order of d1 (lead_time 1 hour), then r2 (05:00 local on the 27th, before the change) */
	assert_int_equal(next_due(f), d1 - HOUR);
	assert_int_equal(engine_run(f->e, d1 - HOUR, 10), 1);
	assert_int_equal(next_due(f), r2);
	assert_int_equal(engine_run(f->e, r2 - 1, 10), 0);
	assert_int_equal(tasks(f, ts), 1);
	assert_int_equal(engine_run(f->e, r2, 10), 0);
	assert_int_equal(tasks(f, ts), 2);
	assert_string_equal(ts[1].due, cal_format_utc(r2, want));
	assert_string_equal(ts[1].due, "2027-03-27T03:00:00Z");
	assert_string_equal(ts[1].delivery, cal_format_utc(d2, want));
	assert_int_equal(engine_run(f->e, r2 + 10, 10), 0);
	assert_int_equal(tasks(f, ts), 2);
	assert_int_equal(next_due(f), d2 - HOUR);   /* the order of d2 */
	verify_clean(f);
}

/* A restart (a new engine, the store closed and reopened) makes nothing twice; a
 * re-apply of the same set keeps the watermark. */
static void test_reminder_once_across_reopen(void **state) {
	fx *f = *state;
	const defs *d = load_rem(f, DAILY "      lead_time: 1 hour\n", "12 hours");
	engine_sources src = { .now = T0 - DAY };
	assert_int_equal(engine_apply(f->e, d, &src), 0);
	assert_int_equal(next_due(f), T0 - 12 * HOUR);
	assert_int_equal(engine_run(f->e, T0 - 12 * HOUR, 10), 0);
	task_seen ts[16];
	assert_int_equal(tasks(f, ts), 1);
	restart(f, d, T0 - 11 * HOUR);
	assert_int_equal(engine_run(f->e, T0 - 11 * HOUR, 10), 0);
	assert_int_equal(tasks(f, ts), 1);
	engine_free(f->e);
	f->e = NULL;
	store_close(f->s);
	assert_int_equal(store_open(f->tmp, NULL, &f->s), 0);
	restart(f, d, T0 - 10 * HOUR);
	assert_int_equal(next_due(f), T0 - HOUR);
	assert_int_equal(engine_run(f->e, T0 - 10 * HOUR, 10), 0);
	assert_int_equal(tasks(f, ts), 1);
	assert_int_equal(engine_apply(f->e, d, &src), 0);
	assert_int_equal(engine_run(f->e, T0 + 12 * HOUR, 10), 1);   /* the order of Jan 1; Jan 2's task */
	assert_int_equal(tasks(f, ts), 2);
	assert_string_equal(ts[1].due, "2027-01-01T12:00:00Z");
	assert_string_equal(ts[1].delivery, "2027-01-02T00:00:00Z");
	verify_clean(f);
}

/* Reminder tasks cost ENGINE_COST_TASK each: a batch makes ENGINE_BATCH /
 * ENGINE_COST_TASK of them, so a step of tasks stays as short as one of plain
 * orders. Hourly deliveries from Mar 2 with a 30-day reminder, 2.5 batches due. */
static void test_reminders_weighted(void **state) {
	fx *f = *state;
	const int per = (ENGINE_BATCH + ENGINE_COST_TASK - 1) / ENGINE_COST_TASK;
	const defs *d = load_rem(f, "      every: 1 hour\n      start: 2027-03-02\n      timezone: UTC\n", "30 days");
	engine_sources src = { .now = T0 };
	assert_int_equal(engine_apply(f->e, d, &src), 0);
	int64_t first = T0 + 30 * DAY;   /* Mar 2 00:00 - 30 days */
	assert_true(per > 1 && per < ENGINE_BATCH / 16);
	int64_t now = first + (2 * per + per / 2 - 1) * HOUR;
	assert_int_equal(engine_run(f->e, now, 1), 0);
	assert_int_equal(through(f, d), first + (per - 1) * HOUR);
	assert_int_equal(engine_run(f->e, now, 1), 0);
	assert_int_equal(through(f, d), first + (2 * per - 1) * HOUR);
	assert_int_equal(engine_run(f->e, now, 1), 0);
	assert_int_equal(through(f, d), now);
	verify_clean(f);
}

/* An occurrence skipped in advance and a paused standing order make no task; the
 * watermark still moves past them. */
static void test_reminder_skipped_paused(void **state) {
	fx *f = *state;
	const defs *d = load_rem(f, DAILY "      lead_time: 1 hour\n", "12 hours");
	engine_sources src = { .now = T0 - DAY };
	assert_int_equal(engine_apply(f->e, d, &src), 0);
	assert_int_equal(sales_skip_occurrence(f->s, "so", T0 + DAY, T0 - DAY, "ops:root: holiday", NULL), 0);
	assert_int_equal(engine_run(f->e, T0 - 12 * HOUR, 10), 0);   /* Jan 1: a task */
	assert_int_equal(engine_run(f->e, T0 + 12 * HOUR, 10), 1);   /* Jan 2 skipped: none */
	task_seen ts[16];
	assert_int_equal(tasks(f, ts), 1);
	assert_string_equal(ts[0].delivery, "2027-01-01T00:00:00Z");
	assert_int_equal(through(f, d), T0 + 12 * HOUR);
	assert_int_equal(engine_run(f->e, T0 + DAY + 12 * HOUR, 10), 0);   /* Jan 3: a task */
	assert_int_equal(tasks(f, ts), 2);
	assert_string_equal(ts[1].delivery, "2027-01-03T00:00:00Z");
	/* paused from Jan 3 on: Jan 4's reminder makes none */
	const defs *p = load_rem(f, DAILY "      lead_time: 1 hour\n      paused: true\n", "12 hours");
	src.now = T0 + DAY + 13 * HOUR;
	assert_int_equal(engine_apply(f->e, p, &src), 0);
	assert_int_equal(engine_run(f->e, T0 + 2 * DAY + 12 * HOUR, 10), 0);
	assert_int_equal(tasks(f, ts), 2);
	assert_int_equal(through(f, p), T0 + 2 * DAY + 12 * HOUR);
	/* resumed: the same reminder (same hash) goes on from its watermark */
	const defs *r = load_rem(f, DAILY "      lead_time: 1 hour\n", "12 hours");
	src.now = T0 + 2 * DAY + 13 * HOUR;
	assert_int_equal(engine_apply(f->e, r, &src), 0);
	assert_int_equal(next_due(f), T0 + 3 * DAY - HOUR);   /* Jan 4's order; its reminder was passed */
	assert_int_equal(engine_run(f->e, T0 + 3 * DAY + 12 * HOUR, 10), 1);
	assert_int_equal(tasks(f, ts), 3);
	assert_string_equal(ts[2].delivery, "2027-01-05T00:00:00Z");
	verify_clean(f);
}

/* A reminder every minute, missed for 50 years: the watermark jumps in one write
 * (rule arithmetic), only the one whose delivery is still ahead makes a task. */
static void test_reminder_long_downtime_jumps(void **state) {
	fx *f = *state;
	const defs *d = load_rem(f, "      every: 1 minute\n      start: 2027-01-01\n      timezone: UTC\n"
				 "      lead_time: 0 minutes\n", "30 seconds");
	engine_sources src = { .now = T0 - 1 };
	assert_int_equal(engine_apply(f->e, d, &src), 0);
	int64_t now = T0 + 50 * 365 * DAY + 45;   /* 45 s past a minute */
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	assert_true(engine_run(f->e, now, 1) >= 0);
	clock_gettime(CLOCK_MONOTONIC, &b);
	double ms = (double) (b.tv_sec - a.tv_sec) * 1e3 + (double) (b.tv_nsec - a.tv_nsec) / 1e6;
	fprintf(stderr, "50 years of minutely reminders missed: %.2f ms\n", ms);
	assert_true(ms < 1000);
	task_seen ts[16];
	assert_int_equal(tasks(f, ts), 1);   /* delivery now + 15 s, reminder now - 15 s */
	char want[CAL_ISO_MAX];
	assert_string_equal(ts[0].delivery, cal_format_utc(now + 15, want));
	assert_string_equal(ts[0].due, cal_format_utc(now - 15, want));
	assert_int_equal(through(f, d), now - 15);
	verify_clean(f);
}

/* The order exists when the reminder comes due (lead_time 2 days, reminder 1 day
 * before): the task names it; a cancelled order gets none. */
static void test_reminder_order_exists_or_cancelled(void **state) {
	fx *f = *state;
	const defs *d = load_rem(f, DAILY "      lead_time: 2 days\n", "1 day");
	engine_sources src = { .now = T0 - 3 * DAY };
	assert_int_equal(engine_apply(f->e, d, &src), 0);
	assert_int_equal(next_due(f), T0 - 2 * DAY);   /* Jan 1's order */
	assert_int_equal(engine_run(f->e, T0 - 2 * DAY, 10), 1);
	assert_int_equal(next_due(f), T0 - DAY);   /* Jan 1's reminder and Jan 2's order */
	assert_int_equal(engine_run(f->e, T0 - DAY, 10), 1);
	store_txn *t;
	json_t *arr = json_array();
	bool more;
	assert_int_equal(store_begin(f->s, false, &t), 0);
	assert_int_equal(crm_task_list(t, NULL, -1, INT64_MAX, NULL, NULL, 16, arr, &more), 0);
	store_abort(t);
	assert_int_equal(json_array_size(arr), 1);
	char number[ORDER_NUMBER_MAX];
	assert_int_equal(store_begin(f->s, false, &t), 0);
	assert_int_equal(store_occurrence_get(t, "so", T0, number), 0);
	store_abort(t);
	assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 0), "order")), number);
	json_decref(arr);
	/* Jan 2's order is cancelled before its reminder: no task */
	assert_int_equal(store_begin(f->s, false, &t), 0);
	assert_int_equal(store_occurrence_get(t, "so", T0 + DAY, number), 0);
	store_abort(t);
	sales_order *o = NULL;
	assert_int_equal(sales_cancel(f->s, number, T0 - DAY + 10, "ops:root", "closed", NULL, &o, NULL), 0);
	order_free(o);
	assert_int_equal(engine_run(f->e, T0, 10), 1);   /* Jan 3's order; Jan 2's reminder makes none */
	task_seen ts[16];
	assert_int_equal(tasks(f, ts), 1);
	assert_int_equal(through(f, d), T0);
	verify_clean(f);
}

/* A re-apply that adds a standing order before "so" (its index and its reminder's
 * move): the kept heap entry follows its reminder; the new one starts when seen. */
static void test_reminder_kept_across_reapply(void **state) {
	fx *f = *state;
	const defs *d = load_rem(f, DAILY "      lead_time: 1 hour\n", "12 hours");
	engine_sources src = { .now = T0 - DAY };
	assert_int_equal(engine_apply(f->e, d, &src), 0);
	assert_int_equal(engine_run(f->e, T0 - 12 * HOUR, 10), 0);
	char *so = order_item("so", DAILY "      lead_time: 1 hour\n");
	char *aa = order_item("aa", DAILY "      lead_time: 1 hour\n");
	char *items;
	assert_true(asprintf(&items, "%s    reminders: [{before: 6 hours, task: \"A {customer}\"}]\n"
			     "%s    reminders:\n      - {before: 12 hours, task: \"Call {contact} about {delivery_date}\"}\n",
			     aa, so) > 0);
	const defs *d2 = load_crm(f, items);
	free(so);
	free(aa);
	free(items);
	assert_int_equal(d2->orders[1].hash, d->orders[0].hash);   /* "so" unchanged, now second */
	src.now = T0 - 11 * HOUR;
	assert_int_equal(engine_apply(f->e, d2, &src), 0);
	assert_int_equal(next_due(f), T0 - 6 * HOUR);   /* aa's Jan 1 reminder */
	assert_int_equal(engine_run(f->e, T0 - 6 * HOUR, 10), 0);
	assert_int_equal(engine_run(f->e, T0 + 12 * HOUR, 10), 2);   /* the Jan 1 orders; so's Jan 2 reminder */
	task_seen ts[16];
	assert_int_equal(tasks(f, ts), 3);
	assert_string_equal(ts[0].due, "2026-12-31T12:00:00Z");
	assert_string_equal(ts[1].due, "2026-12-31T18:00:00Z");
	assert_string_equal(ts[2].due, "2027-01-01T12:00:00Z");
	assert_string_equal(ts[2].delivery, "2027-01-02T00:00:00Z");
	assert_int_equal(next_due(f), T0 + 18 * HOUR);   /* aa's Jan 2 reminder */
	verify_clean(f);
}

/* ---- engine_apply with the changes given, against the full merge ---- */

/* One engine on a store of its own, with what its hooks saw in order. */
typedef struct side {
	char tmp[64];
	store *s;
	engine *e;
	char *log;
	size_t len, cap;
} side;

static void side_log(side *sd, const char *line) {
	size_t n = strlen(line);
	if (sd->len + n + 1 > sd->cap) {
		sd->cap = (sd->len + n + 1) * 2;
		sd->log = realloc(sd->log, sd->cap);
		assert_non_null(sd->log);
	}
	memcpy(sd->log + sd->len, line, n + 1);
	sd->len += n;
}

static void side_created(const sales_order *o, void *ud) {
	char line[160];
	snprintf(line, sizeof(line), "C %s %" PRId64 "\n", o->standing_order, o->delivery);
	side_log(ud, line);
}

static void side_skipped(const standing_order *so, int64_t delivery, const char *reason, void *ud) {
	char line[256];
	snprintf(line, sizeof(line), "S %s %" PRId64 " %s\n", so->id, delivery, reason);
	side_log(ud, line);
}

static void side_open(side *sd) {
	*sd = (side) { 0 };
	strcpy(sd->tmp, "/tmp/test_engine.XXXXXX");
	assert_non_null(mkdtemp(sd->tmp));
	assert_int_equal(store_open(sd->tmp, NULL, &sd->s), 0);
	engine_hooks h = { .created = side_created, .skipped = side_skipped, .ud = sd };
	assert_int_equal(engine_new(sd->s, &h, &sd->e), 0);
	side_log(sd, "");
}

static void side_close(side *sd) {
	engine_free(sd->e);
	store_close(sd->s);
	tmpdir_remove(sd->tmp);
	free(sd->log);
}

#define ORACLE_IDS 24

static uint64_t oracle_rng;
static uint32_t rnd(uint32_t n) {
	oracle_rng = oracle_rng * 6364136223846793005u + 1442695040888963407u;
	return (uint32_t) (oracle_rng >> 33) % n;
}

/* Standing order i in variant v (0: absent): schedules with ties (the same
 * instants), a lead time, a cron without start, a paused one, reminders. */
static char *oracle_item(int i, int v) {
	static const char *const sched[] = {
		"      every: 1 day\n      start: 2027-01-01\n      at: \"00:00\"\n      timezone: UTC\n",
		"      every: 1 day\n      start: 2027-01-01\n      at: \"06:00\"\n      lead_time: 1 hour\n"
		"      timezone: UTC\n",
		"      every: 2 days\n      start: 2027-01-02\n      at: \"00:00\"\n      timezone: UTC\n",
		"      cron: \"0 */6 * * *\"\n      timezone: UTC\n",
		"      every: 1 day\n      start: 2027-01-01\n      at: \"00:00\"\n      timezone: UTC\n      paused: true\n",
		"      every: 1 day\n      start: 2027-01-01\n      at: \"12:00\"\n      timezone: UTC\n",
	};
	char id[16], qty[16], *item, *s;
	snprintf(id, sizeof(id), "s%02d", i);
	snprintf(qty, sizeof(qty), "%d", 10 + (v - 1) / 6);
	item = order_item_q(id, qty, sched[(v - 1) % 6]);
	if ((v - 1) % 6 != 5 && (v - 1) % 6 != 1)
		return item;
	assert_true(asprintf(&s, "%s    reminders:\n      - {before: 3 hours, task: \"Call {customer}\"}\n%s", item,
			     (v - 1) % 6 == 1 ? "      - {before: 1 day, task: \"Plan {delivery_date}\"}\n" : "") > 0);
	free(item);
	return s;
}

static defs *oracle_load(const int *v) {
	char *items = strdup("");
	for (int i = 0; i < ORACLE_IDS; i++) {
		if (!v[i])
			continue;
		char *it = oracle_item(i, v[i]), *s;
		assert_true(asprintf(&s, "%s%s", items, it) > 0);
		free(it);
		free(items);
		items = s;
	}
	const char *cfg = "timezone: UTC\ncatch_up: all\nmax_catch_up: 3\nsuppliers:\n"
			  "  - {id: lumen, name: Lumen Oy, users: [lumen]}\nsalespeople:\n"
			  "  - {id: anna, name: Anna Virtanen, email: anna@example.com, language: en}\n";
	char *orders;
	assert_true(asprintf(&orders, "customers:\n  - id: acme\n    name: ACME Oy\n    salesperson: anna\n"
			     "    contacts: [{name: Liisa Laine, role: purchasing, email: liisa@example.com}]\n"
			     "    account: {number: ACC-1001, credit_limit: \"50000.00 EUR\"}\n"
			     "standing_orders:\n%s", items) > 0);
	free(items);
	defs *d = load_files(cfg, orders);
	free(orders);
	return d;
}

static int entry_cmp(const void *a, const void *b) {
	const engine_entry *x = a, *y = b;
	if (x->at != y->at)
		return x->at < y->at ? -1 : 1;
	if (x->idx != y->idx)
		return x->idx < y->idx ? -1 : 1;
	return x->rem < y->rem ? -1 : x->rem > y->rem;
}

/* Both engines' schedules: a valid heap each, the same entries, the same order. */
static void oracle_same(side *a, side *b) {
	engine_entry *va, *vb;
	size_t na, nb;
	assert_int_equal(engine_entries(a->e, &va, &na), 0);
	assert_int_equal(engine_entries(b->e, &vb, &nb), 0);
	assert_int_equal(na, nb);
	for (size_t k = 1; k < na; k++) {
		assert_true(entry_cmp(&va[(k - 1) / 2], &va[k]) < 0);
		assert_true(entry_cmp(&vb[(k - 1) / 2], &vb[k]) < 0);
	}
	qsort(va, na, sizeof(*va), entry_cmp);
	qsort(vb, nb, sizeof(*vb), entry_cmp);
	assert_memory_equal(va, vb, na * sizeof(*va));
	free(va);
	free(vb);
	engine_stats sa, sb;
	engine_get_stats(a->e, &sa);
	engine_get_stats(b->e, &sb);
	assert_int_equal(sa.active, sb.active);
	assert_int_equal(sa.paused, sb.paused);
	assert_string_equal(a->log, b->log);
	store_txn *ta, *tb;
	assert_int_equal(store_begin(a->s, false, &ta), 0);
	assert_int_equal(store_begin(b->s, false, &tb), 0);
	for (int i = 0; i < ORACLE_IDS; i++) {
		char id[16];
		sched_state x = { 0 }, y = { 0 };
		snprintf(id, sizeof(id), "s%02d", i);
		assert_int_equal(store_sched_get(ta, id, &x), store_sched_get(tb, id, &y));
		assert_int_equal(x.watermark, y.watermark);
		assert_int_equal(x.created, y.created);
		assert_int_equal(x.skipped, y.skipped);
		assert_int_equal(x.active, y.active);
		assert_int_equal(x.def_hash, y.def_hash);
	}
	store_abort(ta);
	store_abort(tb);
}

/* Random sequences of changes (standing orders added, removed, edited, a few
 * unchanged ones listed as changed too), applied with the changes given to one
 * engine and without to the other, each followed by a run to a later now: the
 * schedules, the orders and skips created (in order) and the stored states are
 * the same after every step. */
static void test_apply_known_matches_full(void **state) {
	(void) state;
	for (uint64_t seed = 1; seed <= 6; seed++) {
		oracle_rng = seed;
		side a, b;
		side_open(&a);
		side_open(&b);
		int v[ORACLE_IDS] = { 0 };
		for (int i = 0; i < ORACLE_IDS; i++)
			v[i] = rnd(3) ? 1 + (int) rnd(12) : 0;
		defs *cur = oracle_load(v), *prev = NULL;
		int64_t now = T0 - DAY;
		engine_sources src = { .now = now };
		assert_int_equal(engine_apply(a.e, cur, &src), 0);
		assert_int_equal(engine_apply(b.e, cur, &src), 0);
		oracle_same(&a, &b);
		uint64_t known = 0;
		for (int step = 0; step < 40; step++) {
			int nv[ORACLE_IDS];
			memcpy(nv, v, sizeof(nv));
			int n_chg = rnd(6) == 0 ? (int) rnd(ORACLE_IDS) : (int) rnd(4);
			for (int k = 0; k < n_chg; k++) {
				int i = (int) rnd(ORACLE_IDS);
				nv[i] = rnd(4) == 0 ? 0 : 1 + (int) rnd(12);
			}
			defs *nd = oracle_load(nv);
			/* the changes: by id and hash; some unchanged ones listed too */
			uint32_t dropped[ORACLE_IDS], added[ORACLE_IDS];
			size_t nd_n = 0, na_n = 0, i = 0, j = 0;
			while (i < cur->n_orders || j < nd->n_orders) {
				int cmp = i >= cur->n_orders ? 1 : j >= nd->n_orders ? -1 :
					  strcmp(cur->orders[i].id, nd->orders[j].id);
				if (cmp == 0 && cur->orders[i].hash == nd->orders[j].hash && rnd(8)) {
					i++, j++;
					continue;
				}
				if (cmp <= 0)
					dropped[nd_n++] = (uint32_t) i++;
				if (cmp >= 0)
					added[na_n++] = (uint32_t) j++;
			}
			now += (int64_t) rnd(30) * HOUR + (int64_t) rnd(60) * MINUTE;
			engine_sources sa = { .now = now, .changes_known = true, .changes_from = cur,
					      .dropped = dropped, .n_dropped = nd_n, .added = added, .n_added = na_n };
			engine_sources sb = { .now = now };
			assert_int_equal(engine_apply(a.e, nd, &sa), 0);
			assert_int_equal(engine_apply(b.e, nd, &sb), 0);
			known++;
			defs_free(prev);
			prev = cur;   /* the engine no longer uses it; freed one step later all the same */
			cur = nd;
			memcpy(v, nv, sizeof(v));
			oracle_same(&a, &b);
			int ca = engine_run(a.e, now, 1000), cb = engine_run(b.e, now, 1000);
			assert_true(ca >= 0);
			assert_int_equal(ca, cb);
			oracle_same(&a, &b);
		}
		engine_stats st;
		engine_get_stats(a.e, &st);
		assert_int_equal(st.applied_known, known);
		engine_get_stats(b.e, &st);
		assert_int_equal(st.applied_known, 0);
		assert_true(strlen(a.log) > 1000);   /* the runs created and skipped */
		side_close(&a);
		side_close(&b);
		defs_free(prev);
		defs_free(cur);
	}
}

/* Changes given for another set than the engine's are not used. */
static void test_apply_known_other_set_ignored(void **state) {
	fx *f = *state;
	const defs *d1 = load1(f, 100, "daily", DAILY);
	const defs *d2 = load1(f, 100, "daily", DAILY "      lead_time: 1 hour\n");
	assert_int_equal(engine_apply(f->e, d1, NULL), 0);
	uint32_t none[1] = { 0 };
	engine_sources src = { .changes_known = true, .changes_from = d2, .dropped = none, .added = none };
	assert_int_equal(engine_apply(f->e, d2, &src), 0);
	engine_stats st;
	engine_get_stats(f->e, &st);
	assert_int_equal(st.applied_known, 0);
	assert_int_equal(next_due(f), T0 - HOUR);   /* the edit was seen: the full merge ran */
}

/* The schedule's entries (engine_entries) form a heap in the order of (at,
 * standing order, reminder), a standing order's own entry after its reminders':
 * the order in which tied entries are handled. */
static void assert_heap_order(fx *f, size_t n, int64_t at0, uint32_t idx0, uint32_t rem0) {
	engine_entry *v;
	size_t nv;
	assert_int_equal(engine_entries(f->e, &v, &nv), 0);
	assert_int_equal(nv, n);
	for (size_t k = 1; k < nv; k++)
		assert_true(entry_cmp(&v[(k - 1) / 2], &v[k]) < 0);
	assert_int_equal(v[0].at, at0);
	assert_int_equal(v[0].idx, idx0);
	assert_int_equal(v[0].rem, rem0);
	free(v);
}

/* Ties: standing orders whose create_at and whose `before:` reminders' instants
 * are all the same instant, through a first apply, one with the changes given (a
 * standing order added first: every index and reminder moves) and a full merge
 * (it removed again); then one batch handles them all. */
static void test_ties_in_entry_order(void **state) {
	fx *f = *state;
	const char *rems = "    reminders:\n      - {before: 3 hours, task: \"First {customer}\"}\n"
			   "      - {before: 3 hours, task: \"Second {customer}\"}\n";
	char *a0 = order_item("a0", DAILY "      lead_time: 3 hours\n");
	char *aa = order_item("aa", DAILY "      lead_time: 3 hours\n");
	char *bb = order_item("bb", DAILY "      lead_time: 3 hours\n");
	char *items1, *items2;
	assert_true(asprintf(&items1, "%s%s%s%s", aa, rems, bb, rems) > 0);
	assert_true(asprintf(&items2, "%s%s%s", a0, rems, items1) > 0);
	const defs *d1 = load_crm(f, items1);
	const defs *d2 = load_crm(f, items2);
	free(a0);
	free(aa);
	free(bb);
	free(items1);
	free(items2);
	engine_sources src = { .now = T0 - DAY };
	assert_int_equal(engine_apply(f->e, d1, &src), 0);
	assert_heap_order(f, 6, T0 - 3 * HOUR, 0, 0);
	uint32_t added[1] = { 0 };
	src = (engine_sources) { .now = T0 - DAY + 1, .changes_known = true, .changes_from = d1, .added = added,
				 .n_added = 1 };
	assert_int_equal(engine_apply(f->e, d2, &src), 0);
	engine_stats st;
	engine_get_stats(f->e, &st);
	assert_int_equal(st.applied_known, 1);
	assert_heap_order(f, 9, T0 - 3 * HOUR, 0, 0);
	src = (engine_sources) { .now = T0 - DAY + 2 };
	assert_int_equal(engine_apply(f->e, d1, &src), 0);
	assert_heap_order(f, 6, T0 - 3 * HOUR, 0, 0);
	assert_int_equal(engine_run(f->e, T0 - 3 * HOUR, 1), 2);
	task_seen ts[16];
	assert_int_equal(tasks(f, ts), 4);   /* aa's and bb's: a0 is gone */
	assert_heap_order(f, 6, T0 + DAY - 3 * HOUR, 0, 0);
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
		cmocka_unit_test_setup_teardown(test_counts_past_32_bits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_existing_occurrence_not_created_twice, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batches, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batches_weighted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reminders_weighted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_huge_backlog_summarised, setup, teardown),
		cmocka_unit_test_setup_teardown(test_paused_huge_backlog_summarised, setup, teardown),
		cmocka_unit_test_setup_teardown(test_total_overflow_does_not_block_others, setup, teardown),
		cmocka_unit_test_setup_teardown(test_requested_skip_survives_catch_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reminder_exact_across_dst, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reminder_once_across_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reminder_skipped_paused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reminder_long_downtime_jumps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reminder_order_exists_or_cancelled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reminder_kept_across_reapply, setup, teardown),
		cmocka_unit_test(test_apply_known_matches_full),
		cmocka_unit_test_setup_teardown(test_apply_known_other_set_ignored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ties_in_entry_order, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
