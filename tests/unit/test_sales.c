/* sales: each operation writes exactly its order, index entries, events and skip
 * records, in one transaction (nothing before the commit, nothing on failure), and
 * a retry of the same operation writes nothing twice. A real store in a fresh
 * directory; definitions from in-memory YAML. */
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
#include <jansson.h>
#include "lib/defs/defs.h"
#include "lib/defs/pack.h"
#include "lib/sales/sales.h"
#include "lib/store/store.h"
#include "lib/time/cal.h"
#include "tests/unit/tmpdir.h"

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
	tmpdir_remove(f->tmp);
	free(f);
	return 0;
}

/* ---- what the store holds ---- */

typedef struct seen {
	uint64_t orders, events, skips;
	char type[16][32];
	char payload[16][512];
	char skip_reason[8][128];
	int64_t skip_delivery[8];
} seen;

static int event_cb(uint64_t seq, const char *type, const char *payload, int64_t at, void *ud) {
	seen *s = ud;
	(void) seq; (void) at;
	if (s->events < 16) {
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

/* A thin standing order (its bulk left to its file's compiled record) read back
 * whole by sales_so_full makes the very order its resident self makes; a
 * record missing or damaged at it: -EBADMSG. */
static void test_so_full_stored(void **state) {
	fx *f = *state;
	const standing_order *so = &f->d->orders[0];
	defs_unit_order e = { .o = *so, .customer_id = "acme" };
	defs_unit u = { .orders = &e, .n_orders = 1 };
	uint8_t *p;
	size_t len;
	assert_int_equal(defs_unit_pack(&u, &p, &len), 0);
	store_cset head = { .program = "test" };
	store_cset_put_file pf = { .name = "orders.d/a.yaml", .packed = p, .packed_len = len };
	store_txn *t;
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(store_cset_put(t, &head, &pf, 1), 0);
	assert_int_equal(store_commit(t), 0);
	standing_order thin = *so, full;
	so_bulk tb = { .file = "orders.d/a.yaml" };   /* its file's, the name alone */
	thin.bulk = &tb;
	thin.stored = 1;
	struct defs_arena *a = NULL;
	occurrence occ = first_occurrence(so);
	sales_order o;
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(sales_so_full(t, &thin, &a, &full), 0);
	assert_int_equal(full.stored, 0);
	assert_ptr_equal(full.id, so->id);
	assert_string_equal(full.bulk->ship_to.street, "Katu 1");
	assert_string_equal(full.bulk->ship_to.postcode, "00510");
	assert_int_equal(full.n_lines, 2);
	assert_string_equal(full.bulk->lines[1].sku, "SOCKET");
	assert_int_equal(full.bulk->lines[1].quantity, 2);
	assert_int_equal(full.bulk->lines[1].unit_price.minor, 1250);
	assert_int_equal(full.bulk->line, so->bulk->line);
	assert_int_equal(sales_create_occurrence_in(t, NULL, &full, &occ, occ.create_at, false, &o), 0);
	assert_string_equal(o.ship_to.city, "Helsinki");
	assert_int_equal(o.total.minor, 10 * 85 + 2 * 1250);
	assert_int_equal(o.n_lines, 2);
	/* a resident one is itself */
	assert_int_equal(sales_so_full(t, so, &a, &full), 0);
	assert_ptr_equal(full.bulk, so->bulk);
	/* no record, a record past its table, a damaged section */
	tb.file = "orders.d/b.yaml";
	assert_int_equal(sales_so_full(t, &thin, &a, &full), -EBADMSG);
	tb.file = "orders.d/a.yaml";
	thin.stored = 2;
	assert_int_equal(sales_so_full(t, &thin, &a, &full), -EBADMSG);
	thin.stored = 1;
	p[len - 3] ^= 1;
	assert_int_equal(store_cset_put(t, &head, &pf, 1), 0);
	assert_int_equal(sales_so_full(t, &thin, &a, &full), -EBADMSG);
	store_abort(t);
	defs_arena_free(a);
	free(p);
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
	assert_int_equal(sales_create_occurrence_in(t, NULL, so, &occ, now, false, &o), 0);
	assert_string_equal(o.number, "SO-00000001-3");
	store_abort(t);
	assert_counts(f->s, 0, 0, 0);

	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(sales_create_occurrence_in(t, NULL, so, &occ, now, true, &o), 0);
	watermark(t, so->id, occ.delivery);
	assert_int_equal(store_commit(t), 0);
	assert_string_equal(o.number, "SO-00000001-3");
	assert_int_equal(o.total.minor, 10 * 85 + 2 * 1250);   /* order_total */
	assert_string_equal(o.total.currency, "EUR");
	assert_int_equal(o.occurrence, occ.n);
	assert_int_equal(o.delivery_offset, 7200);
	assert_string_equal(o.zone, "Europe/Helsinki");
	assert_true(o.late);
	assert_ptr_equal(o.lines, so->bulk->lines);   /* borrowed */
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
	assert_int_equal(sales_create_occurrence_in(t, NULL, so, &occ, now + 1, false, &o), -EEXIST);
	assert_int_equal(store_commit(t), 0);
	assert_counts(f->s, 1, 1, 0);
}

static void test_create_occurrence_total_out_of_range(void **state) {
	fx *f = *state;
	/* validation refuses such a total; were one to reach sales, nothing is written */
	standing_order big = f->d->orders[0];
	order_line lines[2] = { big.bulk->lines[0], big.bulk->lines[1] };
	lines[0].quantity = INT64_MAX;
	so_bulk b = *big.bulk;
	b.lines = lines;
	big.bulk = &b;
	const standing_order *so = &big;
	occurrence occ = first_occurrence(so);
	store_txn *t;
	sales_order o = { .number = "x" };
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(sales_create_occurrence_in(t, NULL, so, &occ, occ.create_at, false, &o), -ERANGE);
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

/* sales_place without a customer (no VAT, no credit limit), as the first tests of
 * one-time orders use it; the transitions are dropped since o's strings are borrowed. */
static int place_plain(store *s, sales_order *o) {
	int r = sales_place(s, NULL, NULL, o, o->placed_by, NULL);
	order_transitions_clear(o);
	return r;
}

static sales_order one_time(const standing_order *so, int64_t delivery) {
	return (sales_order) {
		.customer = so->customer->id, .supplier = so->supplier, .ship_to = so->bulk->ship_to,
		.lines = so->bulk->lines, .n_lines = so->n_lines, .delivery = delivery, .zone = "Europe/Helsinki",
		.delivery_offset = 7200, .created = delivery - 86400, .payment = ORDER_PAYMENT_ACCOUNT,
		.placed_by = "shop:ilze",
	};
}

static void test_place_order(void **state) {
	fx *f = *state;
	const standing_order *so = &f->d->orders[0];
	int64_t delivery = cal_days_from_civil(2027, 2, 1) * CAL_SECS_PER_DAY;
	sales_order o = one_time(so, delivery);
	o.total = (money) { 1, "XXX" };   /* whatever the caller says, the total is computed */
	o.occurrence = 7;
	assert_int_equal(place_plain(f->s, &o), 0);
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
	assert_int_equal(got->payment, ORDER_PAYMENT_ACCOUNT);
	assert_int_equal(got->status, ORDER_STATUS_CONFIRMED);   /* was "created" before issue 9 */
	assert_null(got->standing_order);
	order_free(got);

	/* a failed write leaves nothing: another write transaction is open */
	sales_order o2 = one_time(so, delivery);
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(place_plain(f->s, &o2), -EBUSY);
	store_abort(t);
	assert_string_equal(o2.number, "");
	/* a standing order's occurrence is not a one-time order */
	o2.standing_order = "bulbs";
	assert_int_equal(place_plain(f->s, &o2), -EINVAL);
	/* no lines, no order */
	sales_order o3 = one_time(so, delivery);
	o3.n_lines = 0;
	assert_int_equal(place_plain(f->s, &o3), -EINVAL);
	assert_counts(f->s, 1, 1, 0);
}

/* ---- MarkShipped ---- */

static void test_mark_shipped(void **state) {
	fx *f = *state;
	const standing_order *so = &f->d->orders[0];
	sales_order o = one_time(so, cal_days_from_civil(2027, 2, 1) * CAL_SECS_PER_DAY);
	assert_int_equal(place_plain(f->s, &o), 0);
	sales_ship_result res = 99;
	sales_order *got = NULL;
	int64_t at = cal_days_from_civil(2027, 1, 30) * CAL_SECS_PER_DAY;

	/* another supplier's order: nothing written, the order named */
	assert_int_equal(sales_mark_shipped(f->s, NULL, "SO-00000001-3", "other", "DHL", "JD1", at, "supplier:lumen-a", &res, &got), -EACCES);
	assert_string_equal(got->number, "SO-00000001-3");
	order_free(got);
	assert_int_equal(res, 99);
	got = NULL;
	assert_int_equal(sales_mark_shipped(f->s, NULL, "SO-00000002-1", NULL, "DHL", "JD1", at, "supplier:lumen-a", &res, &got), -ENOENT);
	assert_int_equal(sales_mark_shipped(f->s, NULL, "SO-00000001-4", NULL, "DHL", "JD1", at, "supplier:lumen-a", &res, &got), -ENOENT);
	assert_null(got);
	assert_counts(f->s, 1, 1, 0);

	/* any spelling of the number; the supplier's own order */
	assert_int_equal(sales_mark_shipped(f->s, NULL, "so000000013", "lumen", "DHL", "JD1", at, "supplier:lumen-a", &res, &got), 0);
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
	assert_int_equal(sales_mark_shipped(f->s, NULL, "SO-00000001-3", NULL, "DHL", "JD1", at + 99, "supplier:lumen-a", &res, &got), 0);
	assert_int_equal(res, SALES_ALREADY_SHIPPED);
	assert_int_equal(got->shipped, at);
	order_free(got);
	/* another carrier or tracking: refused, the first kept */
	assert_int_equal(sales_mark_shipped(f->s, NULL, "SO-00000001-3", NULL, "DHL", "JD2", at, "supplier:lumen-a", &res, &got), -EALREADY);
	assert_string_equal(got->tracking, "JD1");
	order_free(got);
	assert_counts(f->s, 1, 2, 0);

	/* a cancelled order is not shipped */
	sales_order c = one_time(so, cal_days_from_civil(2027, 2, 2) * CAL_SECS_PER_DAY);
	assert_int_equal(place_plain(f->s, &c), 0);
	sales_order *cur;
	assert_int_equal(sales_cancel(f->s, c.number, at, "ops:anna", "wrong address", NULL, &cur, NULL), 0);
	order_free(cur);
	assert_int_equal(sales_mark_shipped(f->s, NULL, c.number, NULL, "DHL", "JD3", at, "supplier:lumen-a", &res, &got), -ECANCELED);
	assert_int_equal(got->status, ORDER_STATUS_CANCELLED);
	order_free(got);
	assert_counts(f->s, 2, 4, 0);   /* created, shipped, created, cancelled */
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
	assert_int_equal(sales_create_occurrence_in(t, NULL, so, &occ, occ.create_at, false, &o), 0);
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


/* ---- payments and the order's life (issue 9) ---- */

/* The ledger of a customer as text: "kind order amount balance" per entry. */
static char *ledger_text(store *st, const char *customer_id) {
	store_txn *t;
	ledger_entry *v;
	size_t n;
	static char buf[2048];
	size_t len = 0;
	buf[0] = 0;
	assert_int_equal(store_begin(st, false, &t), 0);
	assert_int_equal(store_ledger_last(t, customer_id, 100, &v, &n), 0);
	store_abort(t);
	for (size_t i = 0; i < n; i++) {
		len += (size_t) snprintf(buf + len, sizeof(buf) - len, "%s%s %s %lld %lld %s", i ? "; " : "",
					 ledger_kind_name(v[i].kind), v[i].order[0] ? v[i].order : "-",
					 (long long) v[i].amount.minor, (long long) v[i].balance_after.minor,
					 v[i].amount.currency);
		assert_int_equal(v[i].seq, i + 1);
		ledger_entry_done(&v[i]);
	}
	free(v);
	return buf;
}

static int64_t balance(store *st, const char *customer_id) {
	store_txn *t;
	money m;
	assert_int_equal(store_begin(st, false, &t), 0);
	assert_int_equal(store_ledger_balance(t, customer_id, "EUR", &m), 0);
	store_abort(t);
	return m.minor;
}

static sales_order *get(store *st, const char *number) {
	store_txn *t;
	sales_order *o;
	assert_int_equal(store_begin(st, false, &t), 0);
	assert_int_equal(store_order_get(t, number, &o), 0);
	store_abort(t);
	return o;
}

/* GetAccount's summary in a read transaction of its own. */
static int account(store *st, const customer *cu, size_t n_last, account_summary **ret) {
	store_txn *t;
	assert_int_equal(store_begin(st, false, &t), 0);
	int r = sales_account_read(t, cu, n_last, ret);
	store_abort(t);
	return r;
}

static const int64_t T0 = INT64_C(1801022400);   /* 2027-0127 04:00 UTC */

/* 100,000 bulbs at 0.85 + 2 sockets: 85,025.00 EUR, past acme's 50,000.00 limit */
static sales_order big_order(const standing_order *so, order_line lines[2]) {
	lines[0] = so->bulk->lines[0];
	lines[1] = so->bulk->lines[1];
	lines[0].quantity = 100000;
	sales_order o = one_time(so, T0 + 5 * 86400);
	o.lines = lines;
	o.created = T0;
	return o;
}

static void test_account_within_limit(void **state) {
	fx *f = *state;
	const standing_order *so = &f->d->orders[0];
	const customer *cu = so->customer;
	sales_order o = one_time(so, T0 + 5 * 86400);
	o.created = T0;
	assert_int_equal(sales_place(f->s, NULL, cu, &o, "shop:ilze", NULL), 0);
	order_transitions_clear(&o);
	assert_string_equal(o.number, "SO-00000001-3");
	assert_int_equal(o.status, ORDER_STATUS_CONFIRMED);
	assert_true(o.charged);
	assert_string_equal(ledger_text(f->s, "acme"), "charge SO-00000001-3 3350 3350 EUR");
	seen s = look(f->s);
	assert_int_equal(s.events, 1);   /* order.created only: confirmed at once */
	assert_string_equal(s.type[0], "order.created");
	sales_order *g = get(f->s, o.number);
	assert_int_equal(g->n_history, 1);
	assert_int_equal(g->history[0].at, T0);
	assert_string_equal(g->history[0].by, "shop:ilze");
	assert_int_equal(g->history[0].status, ORDER_STATUS_CONFIRMED);
	assert_null(g->history[0].reason);
	order_free(g);
	/* an occurrence: charged by "standingd" in the engine's transaction */
	occurrence occ = first_occurrence(so);
	store_txn *t;
	sales_order oc;
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(sales_create_occurrence_in(t, NULL, so, &occ, occ.create_at, false, &oc), 0);
	watermark(t, so->id, occ.delivery);
	assert_int_equal(store_commit(t), 0);
	assert_int_equal(oc.status, ORDER_STATUS_CONFIRMED);
	assert_null(oc.history);
	g = get(f->s, oc.number);
	assert_string_equal(g->history[0].by, "standingd");
	order_free(g);
	assert_string_equal(ledger_text(f->s, "acme"),
			    "charge SO-00000001-3 3350 3350 EUR; charge SO-00000002-1 3350 6700 EUR");
	assert_counts(f->s, 2, 2, 0);
}

static void test_account_over_limit(void **state) {
	fx *f = *state;
	const standing_order *so = &f->d->orders[0];
	const customer *cu = so->customer;
	order_line lines[2];
	sales_order o = big_order(so, lines);
	assert_int_equal(sales_place(f->s, NULL, cu, &o, "shop:ilze", NULL), 0);
	order_transitions_clear(&o);
	assert_int_equal(o.status, ORDER_STATUS_ON_HOLD);
	assert_int_equal(o.total.minor, 8502500);
	assert_false(o.charged);
	assert_string_equal(ledger_text(f->s, "acme"), "");   /* nothing charged */
	seen s = look(f->s);
	assert_int_equal(s.events, 2);
	assert_string_equal(s.type[1], "order.on_hold");
	assert_string_equal(s.payload[1],
		"{\"order\":\"SO-00000001-3\",\"customer\":\"acme\",\"total\":{\"minor\":8502500,\"currency\":\"EUR\"},"
		"\"balance\":{\"minor\":0,\"currency\":\"EUR\"},\"credit_limit\":{\"minor\":5000000,\"currency\":\"EUR\"},"
		"\"reason\":\"credit limit 50000.00 EUR: balance 0.00 + order 85025.00\"}");
	sales_order *g = get(f->s, o.number);
	assert_string_equal(g->history[0].reason, "credit limit 50000.00 EUR: balance 0.00 + order 85025.00");
	order_free(g);
	/* shipping an order on hold is refused with its status */
	sales_ship_result res = 99;
	assert_int_equal(sales_mark_shipped(f->s, NULL, o.number, NULL, "DHL", "J", T0, "supplier:lumen-a", &res, &g), -ENOTCONN);
	assert_int_equal(g->status, ORDER_STATUS_ON_HOLD);
	order_free(g);

	/* release: still past the limit, what is missing told */
	sales_refusal why = { 0 };
	g = NULL;
	assert_int_equal(sales_release(f->s, cu, o.number, T0 + 60, "ops:anna", NULL, &g, &why), -EDQUOT);
	assert_null(g);
	assert_int_equal(why.balance.minor, 0);
	assert_int_equal(why.limit.minor, 5000000);
	assert_int_equal(why.total.minor, 8502500);
	assert_counts(f->s, 1, 2, 0);

	/* a payment of 40,000.00 brings the balance to -40,000.00: 45,025.00 fits */
	ledger_entry e;
	money pay = { 4000000, "EUR" };
	assert_int_equal(sales_record_account_payment(f->s, cu, pay, "BANK-77", T0 + 120, "ops:anna", NULL, &e), 0);
	assert_int_equal(e.seq, 1);
	assert_int_equal(e.kind, LEDGER_PAYMENT);
	assert_int_equal(e.balance_after.minor, -4000000);
	assert_string_equal(e.reference, "BANK-77");
	ledger_entry_done(&e);
	s = look(f->s);
	assert_string_equal(s.type[2], "account.payment");
	assert_string_equal(s.payload[2], "{\"customer\":\"acme\",\"amount\":{\"minor\":4000000,\"currency\":\"EUR\"},"
		"\"reference\":\"BANK-77\",\"balance_after\":{\"minor\":-4000000,\"currency\":\"EUR\"}}");
	assert_int_equal(sales_release(f->s, cu, o.number, T0 + 180, "ops:anna", NULL, &g, &why), 0);
	assert_int_equal(g->status, ORDER_STATUS_CONFIRMED);
	assert_true(g->charged);
	assert_int_equal(g->n_history, 2);
	assert_string_equal(g->history[1].by, "ops:anna");
	assert_int_equal(g->history[1].at, T0 + 180);
	order_free(g);
	assert_string_equal(ledger_text(f->s, "acme"),
			    "payment - 4000000 -4000000 EUR; charge SO-00000001-3 8502500 4502500 EUR");
	s = look(f->s);
	assert_int_equal(s.events, 4);
	assert_string_equal(s.type[3], "order.confirmed");
	assert_string_equal(s.payload[3], "{\"order\":\"SO-00000001-3\",\"customer\":\"acme\","
		"\"total\":{\"minor\":8502500,\"currency\":\"EUR\"},\"by\":\"ops:anna\"}");
	/* released once: again is refused with its status */
	assert_int_equal(sales_release(f->s, cu, o.number, T0 + 240, "ops:anna", NULL, &g, &why), -EPERM);
	assert_int_equal(why.status, ORDER_STATUS_CONFIRMED);
	/* an overpayment leaves a credit balance */
	pay.minor = 5000000;
	assert_int_equal(sales_record_account_payment(f->s, cu, pay, "BANK-78", T0 + 300, "ops:anna", NULL, &e), 0);
	ledger_entry_done(&e);
	assert_int_equal(balance(f->s, "acme"), -497500);
	pay.minor = 0;
	assert_int_equal(sales_record_account_payment(f->s, cu, pay, "X", T0, "ops:anna", NULL, &e), -EINVAL);
	assert_counts(f->s, 1, 5, 0);
}

static void test_hold_release(void **state) {
	fx *f = *state;
	const standing_order *so = &f->d->orders[0];
	const customer *cu = so->customer;
	sales_order o = one_time(so, T0 + 5 * 86400);
	o.created = T0;
	assert_int_equal(sales_place(f->s, NULL, cu, &o, "shop:ilze", NULL), 0);
	order_transitions_clear(&o);
	sales_order *g;
	sales_refusal why;
	assert_int_equal(sales_hold(f->s, NULL, o.number, T0 + 10, "ops:anna", "customer asked", NULL, &g, &why), 0);
	assert_int_equal(g->status, ORDER_STATUS_ON_HOLD);
	assert_false(g->charged);
	order_free(g);
	assert_string_equal(ledger_text(f->s, "acme"),
			    "charge SO-00000001-3 3350 3350 EUR; credit SO-00000001-3 3350 0 EUR");
	assert_int_equal(sales_hold(f->s, NULL, o.number, T0 + 20, "ops:anna", NULL, NULL, &g, &why), -EPERM);
	assert_int_equal(why.status, ORDER_STATUS_ON_HOLD);
	assert_int_equal(sales_release(f->s, cu, o.number, T0 + 30, "ops:anna", NULL, &g, &why), 0);
	order_free(g);
	assert_string_equal(ledger_text(f->s, "acme"), "charge SO-00000001-3 3350 3350 EUR; "
			    "credit SO-00000001-3 3350 0 EUR; charge SO-00000001-3 3350 3350 EUR");
	seen s = look(f->s);
	assert_int_equal(s.events, 3);
	assert_string_equal(s.type[1], "order.on_hold");
	assert_string_equal(s.type[2], "order.confirmed");
	assert_int_equal(sales_hold(f->s, NULL, "SO-00000009-9", T0, "ops:anna", NULL, NULL, &g, &why), -ENOENT);
}

static void test_prepaid(void **state) {
	fx *f = *state;
	const standing_order *so = &f->d->orders[0];
	customer cu = *so->customer;
	cu.payment_due = 2 * 86400;   /* the customer's override */
	sales_order o = one_time(so, T0 + 5 * 86400);
	o.created = T0;
	o.payment = ORDER_PAYMENT_PREPAID;
	assert_int_equal(sales_place(f->s, NULL, &cu, &o, "shop:ilze", NULL), 0);
	order_transitions_clear(&o);
	assert_int_equal(o.status, ORDER_STATUS_AWAITING_PAYMENT);
	assert_string_equal(o.payment_ref, "RF41000000013");
	assert_int_equal(o.payment_due_at, T0 + 2 * 86400);
	assert_int_equal(o.cancel_at, T0 + 14 * 86400);
	seen s = look(f->s);
	assert_int_equal(s.events, 2);
	assert_string_equal(s.type[1], "order.awaiting_payment");
	char expect[512];
	snprintf(expect, sizeof(expect), "{\"order\":\"SO-00000001-3\",\"customer\":\"acme\","
		 "\"amount_due\":{\"minor\":3350,\"currency\":\"EUR\"},\"payment_reference\":\"RF41000000013\","
		 "\"due\":%lld}", (long long) (T0 + 2 * 86400));
	assert_string_equal(s.payload[1], expect);
	sales_order *g = get(f->s, o.number);
	assert_string_equal(g->payment_ref, "RF41000000013");
	order_free(g);
	/* open orders: the account shows it */
	account_summary *a;
	assert_int_equal(account(f->s, &cu, 10, &a), 0);
	assert_int_equal(a->n_open_orders, 1);
	assert_string_equal(a->open_orders[0], "SO-00000001-3");
	assert_string_equal(a->number, "ACC-1001");
	assert_int_equal(a->n_entries, 0);
	account_summary_free(a);

	/* not shipped before it is paid */
	sales_ship_result res;
	assert_int_equal(sales_mark_shipped(f->s, NULL, o.number, NULL, "DHL", "J", T0, "supplier:lumen-a", &res, &g), -ENOTCONN);
	assert_int_equal(g->status, ORDER_STATUS_AWAITING_PAYMENT);
	order_free(g);
	/* the wrong amount, or currency: what is due told, nothing written */
	sales_refusal why = { 0 };
	g = NULL;
	money pay = { 3349, "EUR" };
	assert_int_equal(sales_record_payment(f->s, o.number, pay, "RF41000000013", T0 + 60, "shop:ilze", NULL, &g, &why),
			 -EBADE);
	assert_int_equal(why.total.minor, 3350);
	assert_string_equal(why.total.currency, "EUR");
	pay = (money) { 3350, "USD" };
	assert_int_equal(sales_record_payment(f->s, o.number, pay, "RF41000000013", T0 + 60, "shop:ilze", NULL, &g, &why),
			 -EBADE);
	assert_null(g);
	assert_counts(f->s, 1, 2, 0);
	/* the exact amount confirms: a charge and a payment, the balance unmoved */
	pay = (money) { 3350, "EUR" };
	assert_int_equal(sales_record_payment(f->s, o.number, pay, "RF41000000013", T0 + 60, "shop:ilze", NULL, &g, &why),
			 0);
	assert_int_equal(g->status, ORDER_STATUS_CONFIRMED);
	assert_true(g->paid);
	assert_int_equal(g->paid_at, T0 + 60);
	assert_string_equal(g->paid_reference, "RF41000000013");
	order_free(g);
	assert_string_equal(ledger_text(f->s, "acme"),
			    "charge SO-00000001-3 3350 3350 EUR; payment SO-00000001-3 3350 0 EUR");
	assert_int_equal(sales_record_payment(f->s, o.number, pay, "R", T0 + 70, "shop:ilze", NULL, &g, &why), -EPERM);
	assert_int_equal(why.status, ORDER_STATUS_CONFIRMED);
	/* paid: no overdue, no cancellation later */
	size_t od, cn;
	bool more;
	assert_int_equal(sales_payment_due_run(f->s, NULL, T0 + 30 * 86400, 10, &od, &cn, &more), 0);
	assert_int_equal(od, 0);
	assert_int_equal(cn, 0);
	/* cancelled after payment: a credit and a refund */
	assert_int_equal(sales_cancel(f->s, o.number, T0 + 100, "ops:anna", "out of stock", NULL, &g, &why), 0);
	assert_int_equal(g->status, ORDER_STATUS_CANCELLED);
	order_free(g);
	assert_string_equal(ledger_text(f->s, "acme"), "charge SO-00000001-3 3350 3350 EUR; "
			    "payment SO-00000001-3 3350 0 EUR; credit SO-00000001-3 3350 -3350 EUR; "
			    "refund SO-00000001-3 3350 0 EUR");
	s = look(f->s);
	assert_int_equal(s.events, 4);
	assert_string_equal(s.type[3], "order.cancelled");
	assert_string_equal(s.payload[3], "{\"order\":\"SO-00000001-3\",\"customer\":\"acme\",\"status_before\":\"confirmed\","
		"\"reason\":\"out of stock\",\"by\":\"ops:anna\",\"credited\":{\"minor\":3350,\"currency\":\"EUR\"},"
		"\"refunded\":{\"minor\":3350,\"currency\":\"EUR\"}}");
	assert_int_equal(sales_cancel(f->s, o.number, T0 + 200, "ops:anna", "again", NULL, &g, &why), -EPERM);
	assert_int_equal(why.status, ORDER_STATUS_CANCELLED);
}

static void test_cancel(void **state) {
	fx *f = *state;
	const standing_order *so = &f->d->orders[0];
	const customer *cu = so->customer;
	sales_order a = one_time(so, T0 + 5 * 86400), b = one_time(so, T0 + 6 * 86400);
	order_line lines[2];
	sales_order h = big_order(so, lines);
	a.created = b.created = T0;
	assert_int_equal(sales_place(f->s, NULL, cu, &a, "shop:ilze", NULL), 0);
	assert_int_equal(sales_place(f->s, NULL, cu, &b, "shop:ilze", NULL), 0);
	assert_int_equal(sales_place(f->s, NULL, cu, &h, "shop:ilze", NULL), 0);
	order_transitions_clear(&a);
	order_transitions_clear(&b);
	order_transitions_clear(&h);
	sales_order *g;
	sales_refusal why;
	/* a charged one: credited; an on_hold one: nothing to credit */
	assert_int_equal(sales_cancel(f->s, a.number, T0 + 10, "ops:anna", "duplicate", NULL, &g, &why), 0);
	order_free(g);
	assert_int_equal(sales_cancel(f->s, h.number, T0 + 20, "ops:anna", NULL, NULL, &g, &why), 0);
	assert_int_equal(g->n_history, 2);
	assert_int_equal(g->history[1].status, ORDER_STATUS_CANCELLED);
	order_free(g);
	assert_string_equal(ledger_text(f->s, "acme"), "charge SO-00000001-3 3350 3350 EUR; "
			    "charge SO-00000002-1 3350 6700 EUR; credit SO-00000001-3 3350 3350 EUR");
	seen s = look(f->s);
	assert_int_equal(s.events, 6);   /* 3 created, on_hold, 2 cancelled */
	assert_string_equal(s.payload[5], "{\"order\":\"SO-00000003-7\",\"customer\":\"acme\",\"status_before\":\"on_hold\","
		"\"reason\":null,\"by\":\"ops:anna\",\"credited\":null,\"refunded\":null}");
	/* a shipped one is not cancelled */
	sales_ship_result res;
	assert_int_equal(sales_mark_shipped(f->s, NULL, b.number, NULL, "DHL", "J", T0 + 30, "supplier:lumen-a", &res, &g), 0);
	order_free(g);
	assert_int_equal(sales_cancel(f->s, b.number, T0 + 40, "ops:anna", NULL, NULL, &g, &why), -EPERM);
	assert_int_equal(why.status, ORDER_STATUS_SHIPPED);
	assert_int_equal(sales_cancel(f->s, "SO-00000004-4", T0, "ops:anna", NULL, NULL, &g, &why), -ENOENT);
	account_summary *acc;
	assert_int_equal(account(f->s, cu, 2, &acc), 0);
	assert_int_equal(acc->n_balances, 1);
	assert_int_equal(acc->balances[0].minor, 3350);
	assert_int_equal(acc->n_open_orders, 0);
	assert_int_equal(acc->n_entries, 2);   /* the last 2, oldest first */
	assert_int_equal(acc->entries[0].seq, 2);
	assert_int_equal(acc->entries[1].kind, LEDGER_CREDIT);
	json_t *view = account_summary_view(acc);
	assert_non_null(view);
	assert_string_equal(json_string_value(json_object_get(json_object_get(view, "credit_limit"), "amount")), "50000.00");
	json_decref(view);
	account_summary_free(acc);
	/* the ledger in steps of 2, resumable, and by time */
	ledger_entry *v;
	size_t n;
	uint64_t next;
	assert_int_equal(sales_ledger_list(f->s, "acme", INT64_MIN, INT64_MAX, 0, 2, &v, &n, &next), 0);
	assert_int_equal(n, 2);
	assert_int_equal(next, 3);
	for (size_t i = 0; i < n; i++)
		ledger_entry_done(&v[i]);
	free(v);
	assert_int_equal(sales_ledger_list(f->s, "acme", INT64_MIN, INT64_MAX, next, 2, &v, &n, &next), 0);
	assert_int_equal(n, 1);
	assert_int_equal(next, 0);
	assert_int_equal(v[0].kind, LEDGER_CREDIT);
	ledger_entry_done(&v[0]);
	free(v);
	assert_int_equal(sales_ledger_list(f->s, "acme", T0 + 10, T0 + 11, 0, 10, &v, &n, &next), 0);
	assert_int_equal(n, 1);
	assert_int_equal(v[0].at, T0 + 10);
	ledger_entry_done(&v[0]);
	free(v);
}

static void test_payment_due(void **state) {
	fx *f = *state;
	const standing_order *so = &f->d->orders[0];
	const customer *cu = so->customer;
	sales_order a = one_time(so, T0 + 20 * 86400), b = one_time(so, T0 + 20 * 86400);
	a.created = T0;
	b.created = T0 + 3600;
	a.payment = b.payment = ORDER_PAYMENT_PREPAID;
	assert_int_equal(sales_place(f->s, NULL, cu, &a, "shop:ilze", NULL), 0);
	assert_int_equal(sales_place(f->s, NULL, cu, &b, "shop:ilze", NULL), 0);
	order_transitions_clear(&a);
	order_transitions_clear(&b);
	size_t od = 9, cn = 9;
	bool more = true;
	int64_t due = T0 + SALES_PAYMENT_DUE_DEFAULT;   /* 3 days: defs' default */
	assert_int_equal(sales_payment_due_run(f->s, NULL, due - 1, 10, &od, &cn, &more), 0);
	assert_int_equal(od, 0);
	assert_false(more);
	/* one at a time: the bound holds, more says there is another */
	assert_int_equal(sales_payment_due_run(f->s, NULL, due + 3600, 1, &od, &cn, &more), 0);
	assert_int_equal(od, 1);
	assert_true(more);
	assert_int_equal(sales_payment_due_run(f->s, NULL, due + 3600, 1, &od, &cn, &more), 0);
	assert_int_equal(od, 1);
	assert_false(more);
	/* once only */
	assert_int_equal(sales_payment_due_run(f->s, NULL, due + 86400, 10, &od, &cn, &more), 0);
	assert_int_equal(od, 0);
	assert_int_equal(cn, 0);
	seen s = look(f->s);
	assert_int_equal(s.events, 6);
	assert_string_equal(s.type[4], "order.payment_overdue");
	char expect[512];
	snprintf(expect, sizeof(expect), "{\"order\":\"SO-00000001-3\",\"customer\":\"acme\","
		 "\"amount_due\":{\"minor\":3350,\"currency\":\"EUR\"},\"payment_reference\":\"RF41000000013\","
		 "\"created\":%lld,\"due\":%lld}", (long long) T0, (long long) due);
	assert_string_equal(s.payload[4], expect);
	/* b is paid; a is cancelled 14 days after creation by standingd */
	sales_order *g;
	sales_refusal why;
	money pay = { 3350, "EUR" };
	assert_int_equal(sales_record_payment(f->s, b.number, pay, "R", T0 + 86400 * 4, "shop:ilze", NULL, &g, &why), 0);
	order_free(g);
	assert_int_equal(sales_payment_due_run(f->s, NULL, T0 + 14 * 86400 - 1, 10, &od, &cn, &more), 0);
	assert_int_equal(cn, 0);
	assert_int_equal(sales_payment_due_run(f->s, NULL, T0 + 14 * 86400, 10, &od, &cn, &more), 0);
	assert_int_equal(cn, 1);
	assert_int_equal(od, 0);
	g = get(f->s, a.number);
	assert_int_equal(g->status, ORDER_STATUS_CANCELLED);
	assert_string_equal(g->history[g->n_history - 1].by, "standingd");
	assert_string_equal(g->history[g->n_history - 1].reason, "unpaid after 14 days");
	order_free(g);
	s = look(f->s);
	assert_int_equal(s.events, 8);
	assert_string_equal(s.type[7], "order.cancelled");
	assert_int_equal(sales_payment_due_run(f->s, NULL, T0 + 100 * 86400, 10, &od, &cn, &more), 0);
	assert_int_equal(cn + od, 0);
	/* both deadlines passed unseen (the daemon was down): told overdue once, then cancelled */
	sales_order c = one_time(so, T0 + 200 * 86400);
	c.created = T0 + 100 * 86400;
	c.payment = ORDER_PAYMENT_PREPAID;
	assert_int_equal(sales_place(f->s, NULL, cu, &c, "shop:ilze", NULL), 0);
	order_transitions_clear(&c);
	assert_int_equal(sales_payment_due_run(f->s, NULL, c.created + 30 * 86400, 10, &od, &cn, &more), 0);
	assert_int_equal(od, 1);
	assert_int_equal(cn, 1);
	s = look(f->s);
	assert_int_equal(s.events, 12);   /* created, awaiting_payment, payment_overdue, cancelled */
	assert_string_equal(s.type[10], "order.payment_overdue");
	assert_string_equal(s.type[11], "order.cancelled");
	g = get(f->s, c.number);
	assert_string_equal(g->history[g->n_history - 1].reason, "unpaid after 14 days");
	order_free(g);
	assert_string_equal(ledger_text(f->s, "acme"),
			    "charge SO-00000002-1 3350 3350 EUR; payment SO-00000002-1 3350 0 EUR");
}

static void test_vat_order(void **state) {
	fx *f = *state;
	const standing_order *so = &f->d->orders[0];
	customer cu = *so->customer;
	cu.vat_rate = 25500;
	/* 10 x 0.85 + 2 x 12.50 = 33.50 net; 25.5% = 8.5425 -> 8.54; gross 42.04 */
	sales_order o = one_time(so, T0 + 5 * 86400);
	o.created = T0;
	assert_int_equal(sales_place(f->s, NULL, &cu, &o, "shop:ilze", NULL), 0);
	order_transitions_clear(&o);
	assert_int_equal(o.net.minor, 3350);
	assert_int_equal(o.vat.minor, 854);
	assert_int_equal(o.total.minor, 4204);
	assert_int_equal(o.vat_rate, 25500);
	assert_string_equal(ledger_text(f->s, "acme"), "charge SO-00000001-3 4204 4204 EUR");
	/* 3 x 0.05 at 10%: 0.015 -> 0.02 (half away from zero) */
	order_line l = { .sku = "NUT", .quantity = 3, .unit_price = { 5, "EUR" } };
	sales_order p = one_time(so, T0 + 5 * 86400);
	p.lines = &l;
	p.n_lines = 1;
	cu.vat_rate = 10000;
	assert_int_equal(sales_place(f->s, NULL, &cu, &p, "shop:ilze", NULL), 0);
	order_transitions_clear(&p);
	assert_int_equal(p.vat.minor, 2);
	assert_int_equal(p.total.minor, 17);
	sales_order *g = get(f->s, p.number);
	assert_int_equal(g->vat.minor, 2);
	assert_int_equal(g->net.minor, 15);
	order_free(g);
	look(f->s);
}

static int idem_n;
static char *reply_for(const sales_order *o, const ledger_entry *e, void *ud) {
	(void) e; (void) ud;
	idem_n++;
	char *r;
	return asprintf(&r, "{\"order\":\"%s\"}", o->number) < 0 ? NULL : r;
}

static void test_idem(void **state) {
	fx *f = *state;
	const standing_order *so = &f->d->orders[0];
	sales_order o = one_time(so, T0 + 5 * 86400);
	sales_idem ix = { .key = "k-1", .user = "ilze", .params_hash = "abc", .reply_for = reply_for, .at = T0 };
	assert_int_equal(sales_place(f->s, NULL, so->customer, &o, "shop:ilze", &ix), 0);
	order_transitions_clear(&o);
	assert_int_equal(idem_n, 1);
	store_txn *t;
	char *hash, *reply;
	int64_t at;
	assert_int_equal(store_begin(f->s, false, &t), 0);
	assert_int_equal(store_idem_get(t, "ilze", "k-1", &hash, &reply, &at), 0);
	store_abort(t);
	assert_string_equal(reply, "{\"order\":\"SO-00000001-3\"}");
	assert_string_equal(hash, "abc");
	assert_int_equal(at, T0);
	free(hash);
	free(reply);
	/* the key stored: the operation writes nothing */
	sales_order o2 = one_time(so, T0 + 5 * 86400);
	assert_int_equal(sales_place(f->s, NULL, so->customer, &o2, "shop:ilze", &ix), -EEXIST);
	order_transitions_clear(&o2);
	sales_order *g;
	sales_refusal why;
	assert_int_equal(sales_cancel(f->s, o.number, T0, "ops:anna", NULL, &ix, &g, &why), -EEXIST);
	assert_string_equal(ledger_text(f->s, "acme"), "charge SO-00000001-3 3350 3350 EUR");
	assert_counts(f->s, 1, 1, 0);
}

/* ---- the ledger against a model: random orders, payments, holds, releases, cancels ---- */

typedef struct model_order { char number[ORDER_NUMBER_MAX]; order_status st; bool prepaid, charged; int64_t total; } model_order;

static void test_ledger_property(void **state) {
	fx *f = *state;
	const standing_order *so = &f->d->orders[0];
	const customer *cu = so->customer;   /* limit 50,000.00 EUR */
	model_order m[64];
	size_t n = 0;
	int64_t bal = 0, now = T0;
	unsigned seed = 12345;
	for (int step = 0; step < 300; step++) {
		seed = seed * 1103515245u + 12345u;
		unsigned op = (seed >> 16) % 6, pick = (seed >> 8) % 64;
		sales_order *g = NULL;
		sales_refusal why;
		now += 60;
		if (op == 0 && n < 64) {   /* an order: account (maybe past the limit) or prepaid */
			order_line l = { .sku = "X", .quantity = 1 + (int64_t) ((seed >> 4) % 2000), .unit_price = so->bulk->lines[0].unit_price };
			l.unit_price.minor = 1000;   /* 10.00 EUR each: up to 20,000.00 */
			sales_order o = one_time(so, now + 86400);
			o.lines = &l;
			o.n_lines = 1;
			o.created = now;
			o.payment = (seed >> 20) % 3 == 0 ? ORDER_PAYMENT_PREPAID : ORDER_PAYMENT_ACCOUNT;
			assert_int_equal(sales_place(f->s, NULL, cu, &o, "shop:ilze", NULL), 0);
			order_transitions_clear(&o);
			model_order *x = &m[n++];
			memcpy(x->number, o.number, ORDER_NUMBER_MAX);
			x->total = l.quantity * 1000;
			x->prepaid = o.payment == ORDER_PAYMENT_PREPAID;
			x->charged = false;
			if (x->prepaid)
				x->st = ORDER_STATUS_AWAITING_PAYMENT;
			else if (bal + x->total > 5000000)
				x->st = ORDER_STATUS_ON_HOLD;
			else {
				x->st = ORDER_STATUS_CONFIRMED;
				x->charged = true;
				bal += x->total;
			}
			assert_int_equal(o.status, x->st);
		} else if (op == 1) {   /* an account payment */
			ledger_entry e;
			money pay = { 100 + (int64_t) (seed % 1500000), "EUR" };
			assert_int_equal(sales_record_account_payment(f->s, cu, pay, "B", now, "ops", NULL, &e), 0);
			ledger_entry_done(&e);
			bal -= pay.minor;
		} else if (n && op == 2) {   /* release */
			model_order *x = &m[pick % n];
			int r = sales_release(f->s, cu, x->number, now, "ops", NULL, &g, &why);
			if (x->st != ORDER_STATUS_ON_HOLD)
				assert_int_equal(r, -EPERM);
			else if (bal + x->total > 5000000) {
				assert_int_equal(r, -EDQUOT);
				assert_int_equal(why.balance.minor, bal);
			} else {
				assert_int_equal(r, 0);
				x->st = ORDER_STATUS_CONFIRMED;
				x->charged = true;
				bal += x->total;
			}
		} else if (n && op == 3) {   /* hold */
			model_order *x = &m[pick % n];
			int r = sales_hold(f->s, NULL, x->number, now, "ops", NULL, NULL, &g, &why);
			if (x->st != ORDER_STATUS_CONFIRMED || x->prepaid)
				assert_int_equal(r, -EPERM);
			else {
				assert_int_equal(r, 0);
				x->st = ORDER_STATUS_ON_HOLD;
				x->charged = false;
				bal -= x->total;
			}
		} else if (n && op == 4) {   /* cancel */
			model_order *x = &m[pick % n];
			int r = sales_cancel(f->s, x->number, now, "ops", NULL, NULL, &g, &why);
			if (x->st == ORDER_STATUS_CANCELLED || x->st == ORDER_STATUS_SHIPPED)
				assert_int_equal(r, -EPERM);
			else {
				assert_int_equal(r, 0);
				if (x->charged && !x->prepaid)
					bal -= x->total;   /* a prepaid one's credit and refund cancel out */
				x->st = ORDER_STATUS_CANCELLED;
				x->charged = false;
			}
		} else if (n && op == 5) {   /* pay a prepaid one, right or wrong */
			model_order *x = &m[pick % n];
			bool wrong = (seed >> 3) % 4 == 0;
			money pay = { x->total + (wrong ? 1 : 0), "EUR" };
			int r = sales_record_payment(f->s, x->number, pay, "R", now, "shop", NULL, &g, &why);
			if (x->st != ORDER_STATUS_AWAITING_PAYMENT)
				assert_int_equal(r, -EPERM);
			else if (wrong)
				assert_int_equal(r, -EBADE);
			else {
				assert_int_equal(r, 0);
				x->st = ORDER_STATUS_CONFIRMED;
				x->charged = true;
			}
		}
		order_free(g);
		assert_int_equal(balance(f->s, "acme"), bal);
		if (step % 25 == 0)
			look(f->s);   /* verify clean, ledger checks included */
	}
	for (size_t i = 0; i < n; i++) {
		sales_order *g = get(f->s, m[i].number);
		assert_int_equal(g->status, m[i].st);
		assert_int_equal(g->charged, m[i].charged);
		order_free(g);
	}
	look(f->s);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_occurrence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_so_full_stored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_occurrence_total_out_of_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_place_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mark_shipped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_skip_occurrence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_account_within_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_account_over_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hold_release, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prepaid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_payment_due, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vat_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idem, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ledger_property, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
