/* sales: each operation writes exactly its order, index entries, events and skip
 * records, in one transaction (nothing before the commit, nothing on failure), and
 * a retry of the same operation writes nothing twice. A real store in a fresh
 * directory; definitions from in-memory YAML. */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>
#include "lib/defs/defs.h"
#include "lib/sales/sales.h"
#include "lib/store/store.h"
#include "lib/time/cal.h"

typedef struct fx {
	char tmp[64];
	store *s;
	defs *d;
} fx;

static const char CONFIG[] =
	"timezone: Europe/Helsinki\n"
	"suppliers:\n"
	"  - {id: lumen, name: Lumen Oy, users: [lumen]}\n"
	"  - {id: other, name: Other Oy, users: [other]}\n";

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
	(void) st; (void) flag; (void) ftw;
	return remove(path);
}

static defs *load(const char *quantity) {
	char *orders;
	assert_true(asprintf(&orders,
		"customers:\n"
		"  - id: acme\n"
		"    name: ACME Oy\n"
		"    account: {number: ACC-1001, credit_limit: \"50000.00 EUR\"}\n"
		"standing_orders:\n"
		"  - id: bulbs\n"
		"    customer: acme\n"
		"    supplier: lumen\n"
		"    ship_to: {name: ACME, street: Katu 1, postcode: \"00510\", city: Helsinki, country: FI}\n"
		"    lines:\n"
		"      - {sku: BULB-60W, quantity: %s, unit_price: \"0.85 EUR\"}\n"
		"      - {sku: SOCKET, quantity: 2, unit_price: \"12.50 EUR\"}\n"
		"    payment: account\n"
		"    schedule: {every: 1 day, start: 2027-01-01, at: \"06:00\", lead_time: 1 day}\n", quantity) > 0);
	defs_file files[] = {
		{ "standingd.yaml", (char *) CONFIG, sizeof(CONFIG) - 1 },
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
	return d;
}

static int setup(void **state) {
	fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	strcpy(f->tmp, "/tmp/test_sales.XXXXXX");
	assert_non_null(mkdtemp(f->tmp));
	assert_int_equal(store_open(f->tmp, NULL, &f->s), 0);
	f->d = load("10");
	*state = f;
	return 0;
}

static int teardown(void **state) {
	fx *f = *state;
	defs_free(f->d);
	store_close(f->s);
	nftw(f->tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* ---- what the store holds ---- */

typedef struct seen {
	uint64_t orders, events, skips;
	char type[8][32];
	char payload[8][512];
	char skip_reason[8][128];
	int64_t skip_delivery[8];
} seen;

static int event_cb(uint64_t seq, const char *type, const char *payload, int64_t at, void *ud) {
	seen *s = ud;
	(void) seq; (void) at;
	if (s->events < 8) {
		snprintf(s->type[s->events], sizeof(s->type[0]), "%s", type);
		snprintf(s->payload[s->events], sizeof(s->payload[0]), "%s", payload);
	}
	s->events++;
	return 0;
}

static int skip_cb(const char *so_id, int64_t delivery, int64_t at, const char *reason, void *ud) {
	seen *s = ud;
	(void) so_id; (void) at;
	if (s->skips < 8) {
		snprintf(s->skip_reason[s->skips], sizeof(s->skip_reason[0]), "%s", reason);
		s->skip_delivery[s->skips] = delivery;
	}
	s->skips++;
	return 0;
}

static seen look(store *st) {
	seen s = { 0 };
	store_txn *t;
	uint64_t outbox;
	assert_int_equal(store_begin(st, false, &t), 0);
	assert_int_equal(store_counts(t, &s.orders, &outbox), 0);
	assert_int_equal(store_outbox_each(t, 0, event_cb, &s), 0);
	assert_int_equal(outbox, s.events);
	assert_int_equal(store_skip_each(t, skip_cb, &s), 0);
	store_abort(t);
	diag_list dl = { 0 };
	int r = store_verify(st, &dl);   /* every index and event in step */
	for (size_t i = 0; i < dl.n; i++) {
		char *m = diag_format(&dl.v[i]);
		fprintf(stderr, "%s\n", m);
		free(m);
	}
	diag_list_clear(&dl);
	assert_int_equal(r, 0);
	return s;
}

static void assert_counts(store *st, uint64_t orders, uint64_t events, uint64_t skips) {
	seen s = look(st);
	assert_int_equal(s.orders, orders);
	assert_int_equal(s.events, events);
	assert_int_equal(s.skips, skips);
}

static occurrence first_occurrence(const standing_order *so) {
	occurrence o;
	assert_int_equal(rule_next(&so->rule, cal_days_from_civil(2026, 12, 1) * CAL_SECS_PER_DAY, &o), 0);
	return o;
}

/* ---- an occurrence, in the engine's transaction ---- */

/* What the engine writes beside it in the same transaction (store_verify checks it). */
static void watermark(store_txn *t, const char *so_id, int64_t delivery) {
	sched_state st = { .watermark = delivery, .created = 1, .active = true };
	assert_int_equal(store_sched_put(t, so_id, &st), 0);
}

static void test_create_occurrence(void **state) {
	fx *f = *state;
	const standing_order *so = &f->d->orders[0];
	occurrence occ = first_occurrence(so);
	assert_int_equal(occ.delivery, cal_days_from_civil(2027, 1, 1) * CAL_SECS_PER_DAY + 4 * 3600);
	int64_t now = occ.create_at + 60;
	store_txn *t;
	sales_order o;

	/* inside the caller's transaction: nothing is there until it commits */
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(sales_create_occurrence_in(t, so, &occ, now, false, &o), 0);
	assert_string_equal(o.number, "SO-00000001-3");
	store_abort(t);
	assert_counts(f->s, 0, 0, 0);

	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(sales_create_occurrence_in(t, so, &occ, now, true, &o), 0);
	watermark(t, so->id, occ.delivery);
	assert_int_equal(store_commit(t), 0);
	assert_string_equal(o.number, "SO-00000001-3");
	assert_int_equal(o.total.minor, 10 * 85 + 2 * 1250);   /* order_total */
	assert_string_equal(o.total.currency, "EUR");
	assert_int_equal(o.occurrence, occ.n);
	assert_int_equal(o.delivery_offset, 7200);
	assert_string_equal(o.zone, "Europe/Helsinki");
	assert_true(o.late);
	assert_ptr_equal(o.lines, so->lines);   /* borrowed */
	seen s = look(f->s);
	assert_int_equal(s.orders, 1);
	assert_int_equal(s.events, 1);
	assert_int_equal(s.skips, 0);
	assert_string_equal(s.type[0], "order.created");
	char expect[512];
	snprintf(expect, sizeof(expect), "{\"order\":\"SO-00000001-3\",\"standing_order\":\"bulbs\",\"customer\":\"acme\","
		 "\"supplier\":\"lumen\",\"delivery\":%lld,\"total\":{\"minor\":3350,\"currency\":\"EUR\"}}",
		 (long long) occ.delivery);
	assert_string_equal(s.payload[0], expect);
	char number[ORDER_NUMBER_MAX];
	assert_int_equal(store_begin(f->s, false, &t), 0);
	assert_int_equal(store_occurrence_get(t, "bulbs", occ.delivery, number), 0);
	store_abort(t);
	assert_string_equal(number, "SO-00000001-3");

	/* a retry (the engine's watermark moved back): -EEXIST, nothing written */
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(sales_create_occurrence_in(t, so, &occ, now + 1, false, &o), -EEXIST);
	assert_int_equal(store_commit(t), 0);
	assert_counts(f->s, 1, 1, 0);
}

static void test_create_occurrence_total_out_of_range(void **state) {
	fx *f = *state;
	/* validation refuses such a total; were one to reach sales, nothing is written */
	standing_order big = f->d->orders[0];
	order_line lines[2] = { big.lines[0], big.lines[1] };
	lines[0].quantity = INT64_MAX;
	big.lines = lines;
	const standing_order *so = &big;
	occurrence occ = first_occurrence(so);
	store_txn *t;
	sales_order o = { .number = "x" };
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(sales_create_occurrence_in(t, so, &occ, occ.create_at, false, &o), -ERANGE);
	assert_string_equal(o.number, "x");
	assert_int_equal(sales_skip_occurrence_in(t, so->id, occ.delivery, occ.create_at, "order total out of range"), 0);
	assert_int_equal(store_commit(t), 0);
	seen s = look(f->s);
	assert_int_equal(s.orders, 0);
	assert_int_equal(s.events, 0);
	assert_int_equal(s.skips, 1);
	assert_string_equal(s.skip_reason[0], "order total out of range");
}

/* ---- PlaceOrder ---- */

static sales_order one_time(const standing_order *so, int64_t delivery) {
	return (sales_order) {
		.customer = so->customer->id, .supplier = so->supplier, .ship_to = so->ship_to,
		.lines = so->lines, .n_lines = so->n_lines, .delivery = delivery, .zone = "Europe/Helsinki",
		.delivery_offset = 7200, .created = delivery - 86400, .payment = ORDER_PAYMENT_PREPAID,
		.status = ORDER_STATUS_CREATED, .placed_by = "shop:ilze",
	};
}

static void test_place_order(void **state) {
	fx *f = *state;
	const standing_order *so = &f->d->orders[0];
	int64_t delivery = cal_days_from_civil(2027, 2, 1) * CAL_SECS_PER_DAY;
	sales_order o = one_time(so, delivery);
	o.total = (money) { 1, "XXX" };   /* whatever the caller says, the total is computed */
	o.occurrence = 7;
	assert_int_equal(sales_place_order(f->s, &o), 0);
	assert_string_equal(o.number, "SO-00000001-3");
	assert_int_equal(o.total.minor, 3350);
	assert_string_equal(o.total.currency, "EUR");
	assert_int_equal(o.occurrence, UINT64_MAX);
	seen s = look(f->s);
	assert_int_equal(s.orders, 1);
	assert_int_equal(s.events, 1);
	assert_string_equal(s.type[0], "order.created");
	char expect[512];
	snprintf(expect, sizeof(expect), "{\"order\":\"SO-00000001-3\",\"standing_order\":null,\"customer\":\"acme\","
		 "\"supplier\":\"lumen\",\"delivery\":%lld,\"total\":{\"minor\":3350,\"currency\":\"EUR\"}}",
		 (long long) delivery);
	assert_string_equal(s.payload[0], expect);
	store_txn *t;
	sales_order *got;
	assert_int_equal(store_begin(f->s, false, &t), 0);
	assert_int_equal(store_order_get(t, "SO-00000001-3", &got), 0);
	store_abort(t);
	assert_string_equal(got->placed_by, "shop:ilze");
	assert_int_equal(got->payment, ORDER_PAYMENT_PREPAID);
	assert_null(got->standing_order);
	order_free(got);

	/* a failed write leaves nothing: another write transaction is open */
	sales_order o2 = one_time(so, delivery);
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(sales_place_order(f->s, &o2), -EBUSY);
	store_abort(t);
	assert_string_equal(o2.number, "");
	/* a standing order's occurrence is not a one-time order */
	o2.standing_order = "bulbs";
	assert_int_equal(sales_place_order(f->s, &o2), -EINVAL);
	/* no lines, no order */
	sales_order o3 = one_time(so, delivery);
	o3.n_lines = 0;
	assert_int_equal(sales_place_order(f->s, &o3), -EINVAL);
	assert_counts(f->s, 1, 1, 0);
}

/* ---- MarkShipped ---- */

static void test_mark_shipped(void **state) {
	fx *f = *state;
	const standing_order *so = &f->d->orders[0];
	sales_order o = one_time(so, cal_days_from_civil(2027, 2, 1) * CAL_SECS_PER_DAY);
	assert_int_equal(sales_place_order(f->s, &o), 0);
	sales_ship_result res = 99;
	sales_order *got = NULL;
	int64_t at = cal_days_from_civil(2027, 1, 30) * CAL_SECS_PER_DAY;

	/* another supplier's order: nothing written, the order named */
	assert_int_equal(sales_mark_shipped(f->s, "SO-00000001-3", "other", "DHL", "JD1", at, &res, &got), -EACCES);
	assert_string_equal(got->number, "SO-00000001-3");
	order_free(got);
	assert_int_equal(res, 99);
	got = NULL;
	assert_int_equal(sales_mark_shipped(f->s, "SO-00000002-1", NULL, "DHL", "JD1", at, &res, &got), -ENOENT);
	assert_int_equal(sales_mark_shipped(f->s, "SO-00000001-4", NULL, "DHL", "JD1", at, &res, &got), -ENOENT);
	assert_null(got);
	assert_counts(f->s, 1, 1, 0);

	/* any spelling of the number; the supplier's own order */
	assert_int_equal(sales_mark_shipped(f->s, "so000000013", "lumen", "DHL", "JD1", at, &res, &got), 0);
	assert_int_equal(res, SALES_SHIPPED);
	assert_int_equal(got->status, ORDER_STATUS_SHIPPED);
	assert_string_equal(got->carrier, "DHL");
	assert_string_equal(got->tracking, "JD1");
	assert_int_equal(got->shipped, at);
	order_free(got);
	seen s = look(f->s);
	assert_int_equal(s.orders, 1);
	assert_int_equal(s.events, 2);
	assert_string_equal(s.type[1], "order.shipped");
	char expect[512];
	snprintf(expect, sizeof(expect), "{\"order\":\"SO-00000001-3\",\"standing_order\":null,\"supplier\":\"lumen\","
		 "\"carrier\":\"DHL\",\"tracking\":\"JD1\",\"shipped\":%lld}", (long long) at);
	assert_string_equal(s.payload[1], expect);

	/* the retry: the same answer, nothing written again */
	assert_int_equal(sales_mark_shipped(f->s, "SO-00000001-3", NULL, "DHL", "JD1", at + 99, &res, &got), 0);
	assert_int_equal(res, SALES_ALREADY_SHIPPED);
	assert_int_equal(got->shipped, at);
	order_free(got);
	/* another carrier or tracking: refused, the first kept */
	assert_int_equal(sales_mark_shipped(f->s, "SO-00000001-3", NULL, "DHL", "JD2", at, &res, &got), -EALREADY);
	assert_string_equal(got->tracking, "JD1");
	order_free(got);
	assert_counts(f->s, 1, 2, 0);

	/* a cancelled order is not shipped */
	sales_order c = one_time(so, cal_days_from_civil(2027, 2, 2) * CAL_SECS_PER_DAY);
	assert_int_equal(sales_place_order(f->s, &c), 0);
	store_txn *t;
	sales_order *cur;
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(store_order_get(t, c.number, &cur), 0);
	cur->status = ORDER_STATUS_CANCELLED;
	assert_int_equal(store_order_update(t, cur), 0);
	assert_int_equal(store_commit(t), 0);
	order_free(cur);
	assert_int_equal(sales_mark_shipped(f->s, c.number, NULL, "DHL", "JD3", at, &res, &got), -ECANCELED);
	assert_int_equal(got->status, ORDER_STATUS_CANCELLED);
	order_free(got);
	assert_counts(f->s, 2, 3, 0);
}

/* ---- SkipOccurrence ---- */

static void test_skip_occurrence(void **state) {
	fx *f = *state;
	const standing_order *so = &f->d->orders[0];
	occurrence occ = first_occurrence(so);
	int64_t d2 = occ.delivery + CAL_SECS_PER_DAY;
	char number[ORDER_NUMBER_MAX] = "";
	assert_int_equal(sales_skip_occurrence(f->s, "bulbs", d2, 100, "skipped by request of ilze (uid 1000)", number), 0);
	seen s = look(f->s);
	assert_int_equal(s.orders, 0);
	assert_int_equal(s.events, 0);
	assert_int_equal(s.skips, 1);
	assert_string_equal(s.skip_reason[0], "skipped by request of ilze (uid 1000)");
	assert_int_equal(s.skip_delivery[0], d2);
	/* the retry, even by someone else: the first record (who asked) stays */
	assert_int_equal(sales_skip_occurrence(f->s, "bulbs", d2, 200, "skipped by request of root (uid 0)", NULL), 0);
	s = look(f->s);
	assert_int_equal(s.skips, 1);
	assert_string_equal(s.skip_reason[0], "skipped by request of ilze (uid 1000)");

	/* an occurrence whose order exists is not skipped: the order is named */
	store_txn *t;
	sales_order o;
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(sales_create_occurrence_in(t, so, &occ, occ.create_at, false, &o), 0);
	watermark(t, so->id, occ.delivery);
	assert_int_equal(store_commit(t), 0);
	assert_int_equal(sales_skip_occurrence(f->s, "bulbs", occ.delivery, 300, "too late", number), -EEXIST);
	assert_string_equal(number, "SO-00000001-3");
	assert_counts(f->s, 1, 1, 1);

	/* inside the engine's transaction: nothing until it commits */
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(sales_skip_occurrence_in(t, "bulbs", d2 + CAL_SECS_PER_DAY, 400, "catch_up: latest"), 0);
	store_abort(t);
	assert_counts(f->s, 1, 1, 1);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_occurrence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_occurrence_total_out_of_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_place_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mark_shipped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_skip_occurrence, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
