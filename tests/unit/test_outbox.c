/* outbox: which pending events are handed out (oldest first, in order per order,
 * none twice at once, a bound on the scan), the exact line each becomes (task.due
 * with its task and assignee, the salesperson from salespeople:), what a batch's
 * outcome does (backoff instants for a given random number, parking, permanent
 * failures, the e-mail interaction of a `sent:` delivery), the counts, the list and
 * the retry of parked events. A real store in a fresh directory; orders made by
 * lib/sales and tasks by lib/sales/crm as the daemon makes them. */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>
#include "lib/defs/defs.h"
#include "lib/sales/crm.h"
#include "lib/sales/outbox.h"
#include "lib/sales/sales.h"
#include "lib/store/store.h"
#include "lib/time/cal.h"
#include "tests/unit/tmpdir.h"

static const char CONFIG[] =
	"timezone: Europe/Helsinki\n"
	"suppliers:\n"
	"  - {id: nordkaffe, name: Nordkaffe AS, users: [nk]}\n"
	"carriers:\n"
	"  - {id: posten, name: Posten, tracking_url: \"https://sporing.posten.no/sporing/{tracking}\"}\n"
	"salespeople:\n"
	"  - {id: ingrid, name: Ingrid Haugen, email: ingrid@nordkaffe.example, language: nb}\n"
	"  - {id: thao, name: Trần Thu Thảo, email: thao@lumen.example, language: vi}\n";

static const char ORDERS[] =
	"customers:\n"
	"  - id: nordlys\n"
	"    name: Nordlys Kafé AS\n"
	"    language: nb\n"
	"    timezone: Europe/Oslo\n"
	"    salesperson: ingrid\n"
	"    account: {number: ACC-3001, credit_limit: \"1000.00 NOK\"}\n"
	"    vat: \"25%\"\n"
	"    contacts:\n"
	"      - {name: Ola Regnskap, role: accounting, email: ola@nordlys.example}\n"
	"      - {name: Kari Nordmann, role: purchasing, email: kari@nordlys.example}\n"
	"  - id: vinh\n"
	"    name: Cà phê Vinh\n"
	"    language: vi\n"
	"    timezone: Asia/Ho_Chi_Minh\n"
	"    contacts:\n"
	"      - {name: Bếp, phone: \"+84 1\"}\n"
	"      - {name: Nguyễn Văn An, email: an@vinh.example}\n"
	"standing_orders:\n"
	"  - id: kaffe-weekly\n"
	"    customer: nordlys\n"
	"    supplier: nordkaffe\n"
	"    ship_to: {name: Nordlys Kafé, street: Storgata 1, postcode: \"9008\", city: Tromsø, country: NO}\n"
	"    lines:\n"
	"      - {sku: KAFFE-1KG, quantity: 4, unit_price: \"150.00 NOK\"}\n"
	"    payment: account\n"
	"    schedule: {every: 1 week, start: 2027-02-01, at: \"08:00\", timezone: Europe/Oslo}\n";

typedef struct fx {
	char tmp[64];
	store *s;
	defs *d;
	char inst[STORE_INSTANCE_LEN + 1];
} fx;

/* 2027-01-30T08:00:00Z */
#define T0 INT64_C(1801296000)

static order_line nok_lines[] = {
	{ .sku = "KAFFE-1KG", .quantity = 4, .unit_price = { 15000, "NOK" } },
	{ .sku = "FILTER", .quantity = 2, .unit_price = { 2500, "NOK" } },
};

static order_line vnd_lines[] = {
	{ .sku = "CA-PHE", .quantity = 10, .unit_price = { 85000, "VND" } },
};

static int setup(void **state) {
	fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	strcpy(f->tmp, "/tmp/test_outbox.XXXXXX");
	assert_non_null(mkdtemp(f->tmp));
	assert_int_equal(store_open(f->tmp, NULL, &f->s), 0);
	assert_int_equal(store_instance(f->s, f->inst), 0);
	defs_file files[] = {
		{ "standingd.yaml", (char *) CONFIG, sizeof(CONFIG) - 1 },
		{ "orders.d/a.yaml", (char *) ORDERS, sizeof(ORDERS) - 1 },
	};
	diag_list dl = { 0 };
	int r = defs_load_files(files, 2, NULL, &f->d, &dl);
	for (size_t i = 0; i < dl.n; i++)
		fprintf(stderr, "%s:%d:%d: %s\n", dl.v[i].file, dl.v[i].line, dl.v[i].col, dl.v[i].msg);
	diag_list_clear(&dl);
	assert_int_equal(r, 0);
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

/* A one-time order of customer id, created at `at`; its number in ret. */
static void place(fx *f, const char *cust, order_payment pay, int64_t at, char ret[ORDER_NUMBER_MAX]) {
	const customer *cu = defs_find_customer(f->d, cust);
	assert_non_null(cu);
	bool nok = !strcmp(cust, "nordlys");
	sales_order o = {
		.customer = (char *) cust, .supplier = "nordkaffe",
		.ship_to = nok ? (order_address) { "Nordlys Kafé", "Storgata 1", "9008", "Tromsø", "NO" }
			       : (order_address) { "Cà phê Vinh", "1 Lê Lợi", NULL, "Hồ Chí Minh", "VN" },
		.lines = nok ? nok_lines : vnd_lines, .n_lines = nok ? 2 : 1,
		.delivery = at + 3 * 86400, .zone = nok ? "Europe/Oslo" : "Asia/Ho_Chi_Minh",
		.delivery_offset = nok ? 3600 : 7 * 3600, .created = at, .payment = pay,
	};
	assert_int_equal(sales_place(f->s, NULL, cu, &o, "shop:web", NULL), 0);
	order_transitions_clear(&o);
	memcpy(ret, o.number, ORDER_NUMBER_MAX);
}

static void ship(fx *f, const char *number, const char *tracking, int64_t at) {
	sales_ship_result res;
	sales_order *o = NULL;
	assert_int_equal(sales_mark_shipped(f->s, NULL, number, NULL, "posten", tracking, at, "supplier:nk", &res, &o), 0);
	order_free(o);
}

typedef struct busy_set {
	const char *keys[4];
	size_t calls;
} busy_set;

static bool busy_fn(void *ud, const char *key) {
	busy_set *b = ud;
	b->calls++;
	for (size_t i = 0; i < 4 && b->keys[i]; i++)
		if (!strcmp(b->keys[i], key))
			return true;
	return false;
}

/* The batch as "SEQ KEY" lines joined by "; ". */
static char *take_text(fx *f, int64_t now, size_t max, size_t scan_max, busy_set *busy, int64_t *ret_next) {
	outbox_batch b;
	int64_t next;
	assert_int_equal(outbox_take(f->s, f->d, now, max, scan_max, busy ? busy_fn : NULL, busy, &b, &next), 0);
	static char buf[1024];
	size_t o = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < b.n; i++)
		o += (size_t) snprintf(buf + o, sizeof(buf) - o, "%s%" PRIu64 " %s", i ? "; " : "", b.items[i].seq,
				       b.items[i].key);
	outbox_batch_free(&b);
	if (ret_next)
		*ret_next = next;
	return buf;
}

/* The line of event seq, as outbox_take hands it out at T0 + 10 days. */
static json_t *line_of(fx *f, uint64_t seq) {
	outbox_batch b;
	int64_t next;
	assert_int_equal(outbox_take(f->s, f->d, T0 + 864000, OUTBOX_BATCH_MAX, 1000, NULL, NULL, &b, &next), 0);
	json_t *j = NULL;
	for (size_t i = 0; i < b.n; i++)
		if (b.items[i].seq == seq) {
			char want[OUTBOX_ID_MAX];
			snprintf(want, sizeof(want), "%s-%" PRIu64, f->inst, seq);
			assert_string_equal(b.items[i].id, want);
			assert_null(strchr(b.items[i].line, '\n'));
			j = json_loads(b.items[i].line, 0, NULL);
		}
	outbox_batch_free(&b);
	assert_non_null(j);
	/* the id holds the random instance: checked above, replaced for the comparison */
	json_object_set_new(j, "id", json_string("ID"));
	return j;
}

static void expect_json(json_t *j, const char *want) {
	char *got = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
	if (strcmp(got, want))
		print_message("got:  %s\nwant: %s\n", got, want);
	assert_string_equal(got, want);
	free(got);
}

static void deliver(fx *f, uint64_t seq) {
	outbox_result r = { .seq = seq, .outcome = OUTBOX_DELIVERED };
	assert_int_equal(outbox_done(f->s, &r, 1, T0, 20, 0), 0);
}

static const char NORDLYS_CUSTOMER[] =
	"\"customer\":{\"id\":\"nordlys\",\"name\":\"Nordlys Kafé AS\",\"language\":\"nb\",\"timezone\":\"Europe/Oslo\","
	"\"account_number\":\"ACC-3001\",\"contacts\":[{\"name\":\"Ola Regnskap\",\"role\":\"accounting\","
	"\"email\":\"ola@nordlys.example\",\"phone\":null},{\"name\":\"Kari Nordmann\",\"role\":\"purchasing\","
	"\"email\":\"kari@nordlys.example\",\"phone\":null}]},"
	"\"recipient\":{\"name\":\"Kari Nordmann\",\"role\":\"purchasing\",\"email\":\"kari@nordlys.example\","
	"\"phone\":null},";
static const char INGRID[] =
	"\"salesperson\":{\"id\":\"ingrid\",\"name\":\"Ingrid Haugen\",\"email\":\"ingrid@nordkaffe.example\","
	"\"language\":\"nb\"},";
static const char NORDKAFFE[] = "\"supplier\":{\"id\":\"nordkaffe\",\"name\":\"Nordkaffe AS\"},";

/* The whole line of order.created and order.shipped for an account order. */
static void test_line_created_shipped(void **state) {
	fx *f = *state;
	char num[ORDER_NUMBER_MAX];
	place(f, "nordlys", ORDER_PAYMENT_ACCOUNT, T0, num);
	assert_string_equal(num, "SO-00000001-3");
	ship(f, num, "3701 23/45ø", T0 + 3600);
	json_t *j = line_of(f, 1);
	json_t *order = json_incref(json_object_get(j, "order"));
	json_object_set_new(j, "order", json_string("VIEW"));
	char want[4096];
	snprintf(want, sizeof(want),
		 "{\"id\":\"ID\",\"seq\":1,\"type\":\"order.created\",\"at\":\"2027-01-30T08:00:00Z\",\"attempt\":1,%s%s%s"
		 "\"order\":\"VIEW\",\"delivery_zone\":\"Europe/Oslo\",\"carrier\":null,"
		 "\"details\":{\"order\":\"SO-00000001-3\",\"standing_order\":null,\"customer\":\"nordlys\","
		 "\"supplier\":\"nordkaffe\",\"delivery\":\"2027-02-02T08:00:00Z\","
		 "\"total\":{\"amount\":\"812.50\",\"currency\":\"NOK\"}}}", NORDLYS_CUSTOMER, INGRID, NORDKAFFE);
	expect_json(j, want);
	/* the order view is GetOrder's, as it is now (shipped) */
	sales_order *o;
	store_txn *t;
	assert_int_equal(store_begin(f->s, false, &t), 0);
	assert_int_equal(store_order_get(t, num, &o), 0);
	store_abort(t);
	json_t *view = order_to_view(o);
	assert_true(json_equal(view, order));
	assert_string_equal(json_string_value(json_object_get(order, "tracking")), "3701 23/45ø");
	json_decref(view);
	json_decref(order);
	order_free(o);
	json_decref(j);

	deliver(f, 1);   /* the shipment waits behind its order's creation until then */
	j = line_of(f, 2);
	json_object_set_new(j, "order", json_string("VIEW"));
	snprintf(want, sizeof(want),
		 "{\"id\":\"ID\",\"seq\":2,\"type\":\"order.shipped\",\"at\":\"2027-01-30T09:00:00Z\",\"attempt\":1,%s%s%s"
		 "\"order\":\"VIEW\",\"delivery_zone\":\"Europe/Oslo\","
		 "\"carrier\":{\"id\":\"posten\",\"name\":\"Posten\","
		 "\"tracking_url\":\"https://sporing.posten.no/sporing/3701%%2023%%2F45%%C3%%B8\"},"
		 "\"details\":{\"order\":\"SO-00000001-3\",\"standing_order\":null,\"supplier\":\"nordkaffe\","
		 "\"carrier\":\"posten\",\"tracking\":\"3701 23/45ø\",\"shipped\":\"2027-01-30T09:00:00Z\"}}",
		 NORDLYS_CUSTOMER, INGRID, NORDKAFFE);
	expect_json(j, want);
	json_decref(j);
}

/* The details and the parties of the payment events, a customer no longer
 * defined, and a carrier not in the config. */
static void test_line_payment_events(void **state) {
	fx *f = *state;
	char a[ORDER_NUMBER_MAX], b[ORDER_NUMBER_MAX];
	place(f, "vinh", ORDER_PAYMENT_PREPAID, T0, a);   /* 1 created, 2 awaiting_payment */
	sales_order *o = NULL;
	sales_refusal why;
	assert_int_equal(sales_record_payment(f->s, a, (money) { 850000, "VND" }, "VCB-77", T0 + 60, "ops:anna", NULL,
					      &o, &why), 0);   /* 3 confirmed */
	order_free(o);
	place(f, "nordlys", ORDER_PAYMENT_ACCOUNT, T0, b);    /* 4 created, 812.50 NOK */
	place(f, "nordlys", ORDER_PAYMENT_ACCOUNT, T0, b);    /* 5 created, 6 on_hold: past 1000 NOK */
	assert_int_equal(sales_cancel(f->s, b, T0 + 120, "ops:anna", "duplicate", NULL, &o, &why), 0);   /* 7 */
	order_free(o);
	ledger_entry e;
	assert_int_equal(sales_record_account_payment(f->s, defs_find_customer(f->d, "nordlys"), (money) { 50000, "NOK" },
						      "KID 123", T0 + 180, "ops:anna", NULL, &e), 0);   /* 8 */
	ledger_entry_done(&e);

	deliver(f, 1);
	json_t *j = line_of(f, 2);
	expect_json(json_object_get(j, "details"),
		    "{\"order\":\"SO-00000001-3\",\"customer\":\"vinh\",\"amount_due\":{\"amount\":\"850000\",\"currency\":\"VND\"},"
		    "\"payment_reference\":\"RF41000000013\",\"due\":\"2027-02-02T08:00:00Z\"}");
	expect_json(json_object_get(j, "recipient"),
		    "{\"name\":\"Nguyễn Văn An\",\"role\":null,\"email\":\"an@vinh.example\",\"phone\":null}");
	expect_json(json_object_get(j, "salesperson"), "null");
	assert_string_equal(json_string_value(json_object_get(j, "type")), "order.awaiting_payment");
	json_decref(j);
	deliver(f, 2);
	j = line_of(f, 3);
	expect_json(json_object_get(j, "details"),
		    "{\"order\":\"SO-00000001-3\",\"customer\":\"vinh\",\"total\":{\"amount\":\"850000\",\"currency\":\"VND\"},"
		    "\"by\":\"ops:anna\"}");
	json_decref(j);
	deliver(f, 5);
	j = line_of(f, 6);
	assert_string_equal(json_string_value(json_object_get(j, "type")), "order.on_hold");
	expect_json(json_object_get(j, "details"),
		    "{\"order\":\"SO-00000003-7\",\"customer\":\"nordlys\",\"total\":{\"amount\":\"812.50\",\"currency\":\"NOK\"},"
		    "\"balance\":{\"amount\":\"812.50\",\"currency\":\"NOK\"},"
		    "\"credit_limit\":{\"amount\":\"1000.00\",\"currency\":\"NOK\"},"
		    "\"reason\":\"credit limit 1000.00 NOK: balance 812.50 + order 812.50\"}");
	json_decref(j);
	deliver(f, 6);
	j = line_of(f, 7);
	expect_json(json_object_get(j, "details"),
		    "{\"order\":\"SO-00000003-7\",\"customer\":\"nordlys\",\"status_before\":\"on_hold\","
		    "\"reason\":\"duplicate\",\"by\":\"ops:anna\",\"credited\":null,\"refunded\":null}");
	json_decref(j);
	j = line_of(f, 8);
	assert_string_equal(json_string_value(json_object_get(j, "type")), "account.payment");
	expect_json(json_object_get(j, "order"), "null");
	expect_json(json_object_get(j, "supplier"), "null");
	expect_json(json_object_get(j, "carrier"), "null");
	expect_json(json_object_get(j, "delivery_zone"), "null");
	expect_json(json_object_get(j, "details"),
		    "{\"customer\":\"nordlys\",\"amount\":{\"amount\":\"500.00\",\"currency\":\"NOK\"},"
		    "\"reference\":\"KID 123\",\"balance_after\":{\"amount\":\"312.50\",\"currency\":\"NOK\"}}");
	json_decref(j);

	/* the customers and the carrier gone from the definitions */
	static const char bare[] = "suppliers: [{id: nordkaffe, name: Nordkaffe AS}]\n";
	defs_file files[] = { { "standingd.yaml", (char *) bare, sizeof(bare) - 1 } };
	diag_list dl = { 0 };
	defs *d2;
	assert_int_equal(defs_load_files(files, 1, NULL, &d2, &dl), 0);
	defs_free(f->d);
	f->d = d2;
	ship(f, "SO-00000002-1", "AB1", T0 + 240);   /* 9 */
	deliver(f, 4);
	j = line_of(f, 9);
	expect_json(json_object_get(j, "customer"),
		    "{\"id\":\"nordlys\",\"name\":null,\"language\":null,\"timezone\":null,\"account_number\":null,"
		    "\"contacts\":null}");
	expect_json(json_object_get(j, "recipient"), "null");
	expect_json(json_object_get(j, "salesperson"), "null");
	expect_json(json_object_get(j, "carrier"), "{\"id\":\"posten\",\"name\":\"posten\",\"tracking_url\":null}");
	json_decref(j);
}

/* A task made as lib/sales/crm makes them, due at T0 (so its task.due is appended
 * at once); its id in ret. */
static void make_task(fx *f, const char *key, const char *assignee, const char *cust, task_kind kind,
		      const char *order, const char *so, int64_t delivery, const char *text, char ret[TASK_ID_MAX]) {
	task tk = { .assignee = (char *) assignee, .customer = (char *) cust, .due = T0, .text = (char *) text,
		    .kind = kind, .order = (char *) order, .standing_order = (char *) so, .delivery = delivery };
	store_txn *t;
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(crm_task_create_in(t, key, &tk, T0, ret), 0);
	assert_int_equal(store_commit(t), 0);
	for (size_t i = 0; i < tk.n_history; i++) {
		free(tk.history[i].by);
		free(tk.history[i].note);
	}
	free(tk.history);
}

/* task.due: the task as it is now, the assignee as the salesperson (not the
 * customer's), the order when the task names one, else the standing order's
 * supplier and zone; its ordering key is the task's. */
static void test_line_task_due(void **state) {
	fx *f = *state;
	char num[ORDER_NUMBER_MAX], a[TASK_ID_MAX], b[TASK_ID_MAX], c[TASK_ID_MAX];
	place(f, "nordlys", ORDER_PAYMENT_ACCOUNT, T0, num);   /* 1 */
	make_task(f, "test/a", "thao", "nordlys", TASK_BEFORE, num, "kaffe-weekly", T0 + 3 * 86400,
		  "Gọi cho Kari Nordmann", a);                    /* 2 */
	make_task(f, "test/b", "ingrid", "nordlys", TASK_BEFORE, NULL, "kaffe-weekly", INT64_C(1802246400),
		  "Ring Kari Nordmann om leveringen", b);           /* 3; delivery 2027-02-10T06:00:00Z */
	make_task(f, "test/c", "ingrid", "vinh", TASK_MANUAL, NULL, NULL, 0, "Spør om vårkatalogen", c);   /* 4 */
	assert_string_equal(a, "T-00000001");
	/* a task's alert does not wait behind its order's confirmation */
	assert_string_equal(take_text(f, T0, 10, 100, NULL, NULL),
			    "1 SO-00000001-3; 2 task:T-00000001; 3 task:T-00000002; 4 task:T-00000003");

	json_t *j = line_of(f, 2);
	json_t *order = json_object_get(j, "order"), *tk = json_incref(json_object_get(j, "task"));
	assert_string_equal(json_string_value(json_object_get(order, "order")), num);
	json_object_set_new(j, "order", json_string("VIEW"));
	json_object_del(j, "task");
	char want[4096];
	snprintf(want, sizeof(want),
		 "{\"id\":\"ID\",\"seq\":2,\"type\":\"task.due\",\"at\":\"2027-01-30T08:00:00Z\",\"attempt\":1,%s"
		 "\"salesperson\":{\"id\":\"thao\",\"name\":\"Trần Thu Thảo\",\"email\":\"thao@lumen.example\","
		 "\"language\":\"vi\"},%s"
		 "\"order\":\"VIEW\",\"delivery_zone\":\"Europe/Oslo\",\"carrier\":null,"
		 "\"details\":{\"task\":\"T-00000001\",\"assignee\":\"thao\",\"customer\":\"nordlys\","
		 "\"due\":\"2027-01-30T08:00:00Z\",\"kind\":\"before\",\"order\":\"SO-00000001-3\","
		 "\"standing_order\":\"kaffe-weekly\"}}", NORDLYS_CUSTOMER, NORDKAFFE);
	expect_json(j, want);
	/* the task: ListTasks' view of the record */
	task *rec = NULL;
	store_txn *t;
	assert_int_equal(store_begin(f->s, false, &t), 0);
	assert_int_equal(crm_task_get(t, a, &rec), 0);
	store_abort(t);
	json_t *view = task_to_view(rec);
	assert_true(json_equal(view, tk));
	expect_json(json_object_get(tk, "text"), "\"Gọi cho Kari Nordmann\"");
	expect_json(json_object_get(tk, "delivery"), "\"2027-02-02T08:00:00Z\"");
	json_decref(view);
	task_free(rec);
	json_decref(tk);
	json_decref(j);

	/* before its order exists: the standing order's supplier and zone */
	j = line_of(f, 3);
	json_object_del(j, "task");
	snprintf(want, sizeof(want),
		 "{\"id\":\"ID\",\"seq\":3,\"type\":\"task.due\",\"at\":\"2027-01-30T08:00:00Z\",\"attempt\":1,%s%s%s"
		 "\"order\":null,\"delivery_zone\":\"Europe/Oslo\",\"carrier\":null,"
		 "\"details\":{\"task\":\"T-00000002\",\"assignee\":\"ingrid\",\"customer\":\"nordlys\","
		 "\"due\":\"2027-01-30T08:00:00Z\",\"kind\":\"before\",\"order\":null,"
		 "\"standing_order\":\"kaffe-weekly\"}}", NORDLYS_CUSTOMER, INGRID, NORDKAFFE);
	expect_json(j, want);
	json_decref(j);

	/* a customer without a salesperson: the assignee all the same; nothing else */
	j = line_of(f, 4);
	expect_json(json_object_get(j, "salesperson"), "{\"id\":\"ingrid\",\"name\":\"Ingrid Haugen\","
		    "\"email\":\"ingrid@nordkaffe.example\",\"language\":\"nb\"}");
	expect_json(json_object_get(j, "recipient"),
		    "{\"name\":\"Nguyễn Văn An\",\"role\":null,\"email\":\"an@vinh.example\",\"phone\":null}");
	expect_json(json_object_get(j, "supplier"), "null");
	expect_json(json_object_get(j, "order"), "null");
	expect_json(json_object_get(j, "delivery_zone"), "null");
	expect_json(json_object_get(json_object_get(j, "task"), "id"), "\"T-00000003\"");
	expect_json(json_object_get(json_object_get(j, "task"), "kind"), "\"manual\"");
	json_decref(j);
}

/* The customer's e-mail interactions, as GetCustomer lists them. */
static char *interactions(fx *f, const char *cust) {
	store_txn *t;
	json_t *arr = json_array();
	bool more;
	assert_int_equal(store_begin(f->s, false, &t), 0);
	assert_int_equal(crm_interaction_list(t, cust, INT64_MIN, INT64_MAX, INT64_MIN, 0, 100, false, arr, &more), 0);
	store_abort(t);
	char *s = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	return s;
}

/* outbox_done: a delivery reported with `sent:` logs one `email` interaction for
 * the event's customer in the transaction that records it; a plain delivery, a
 * failure, a result for an event no longer pending log none. */
static void test_done_email_interaction(void **state) {
	fx *f = *state;
	char a[ORDER_NUMBER_MAX], b[ORDER_NUMBER_MAX], tid[TASK_ID_MAX];
	place(f, "nordlys", ORDER_PAYMENT_ACCOUNT, T0, a);    /* 1 */
	place(f, "vinh", ORDER_PAYMENT_PREPAID, T0, b);       /* 2 created, 3 awaiting_payment */
	make_task(f, "test/a", "ingrid", "nordlys", TASK_MANUAL, NULL, NULL, 0, "Ring Kari", tid);   /* 4 */
	char *got = interactions(f, "nordlys");
	assert_string_equal(got, "[]");
	free(got);
	/* not delivered: nothing, whatever the result carries */
	outbox_result fail = { .seq = 1, .outcome = OUTBOX_FAILED, .error = "451 later",
			       .message_id = "<x-1@standingd.lumen.example>", .subject = "Ordrebekreftelse SO-00000001-3" };
	assert_int_equal(outbox_done(f->s, &fail, 1, T0, 20, 0), 0);
	got = interactions(f, "nordlys");
	assert_string_equal(got, "[]");
	free(got);
	outbox_result r[4] = {
		{ .seq = 1, .outcome = OUTBOX_DELIVERED, .message_id = "<x-1@standingd.lumen.example>",
		  .subject = "Ordrebekreftelse SO-00000001-3" },
		{ .seq = 2, .outcome = OUTBOX_DELIVERED },   /* a prepaid order's creation sends none */
		{ .seq = 3, .outcome = OUTBOX_DELIVERED, .message_id = "<x-3@standingd.lumen.example>",
		  .subject = "Yêu cầu thanh toán đơn hàng SO-00000002-1" },
		{ .seq = 4, .outcome = OUTBOX_DELIVERED },   /* the salesperson's task mail */
	};
	assert_int_equal(outbox_done(f->s, r, 4, T0 + 60, 20, 0), 0);
	got = interactions(f, "nordlys");
	assert_string_equal(got, "[{\"customer\":\"nordlys\",\"at\":\"2027-01-30T08:01:00Z\",\"seq\":1,"
			    "\"kind\":\"email\",\"contact\":null,\"summary\":\"Ordrebekreftelse SO-00000001-3\","
			    "\"author\":\"standingd\",\"message_id\":\"<x-1@standingd.lumen.example>\"}]");
	free(got);
	got = interactions(f, "vinh");
	assert_string_equal(got, "[{\"customer\":\"vinh\",\"at\":\"2027-01-30T08:01:00Z\",\"seq\":2,"
			    "\"kind\":\"email\",\"contact\":null,"
			    "\"summary\":\"Yêu cầu thanh toán đơn hàng SO-00000002-1\","
			    "\"author\":\"standingd\",\"message_id\":\"<x-3@standingd.lumen.example>\"}]");
	free(got);
	/* reported again (a retried record): no longer pending, not logged twice */
	assert_int_equal(outbox_done(f->s, r, 1, T0 + 120, 20, 0), 0);
	got = interactions(f, "nordlys");
	assert_non_null(strstr(got, "\"seq\":1,"));
	assert_null(strstr(got, "\"seq\":3,"));
	free(got);
	outbox_stats st;
	store_txn *t;
	assert_int_equal(store_begin(f->s, false, &t), 0);
	assert_int_equal(outbox_stats_get(t, &st), 0);
	store_abort(t);
	assert_true(st.pending == 0 && st.parked == 0);
}

/* Backoff: 10 s * 2^(k-1), at most an hour, plus up to a quarter from rnd. */
static void test_backoff(void **state) {
	(void) state;
	/* the bases */
	int64_t want_base[] = { 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600 };
	for (uint32_t k = 1; k <= 11; k++) {
		int64_t lo = want_base[k - 1], hi = lo + lo / 4;
		for (uint64_t rnd = 0; rnd < 200; rnd++) {
			int64_t w = outbox_backoff(k, 7, rnd * UINT64_C(0x9E3779B97F4A7C15));
			assert_true(w >= lo && w <= hi);
		}
	}
	int64_t capped = outbox_backoff(1000, 7, 1);   /* capped, still jittered */
	assert_true(capped >= 3600 && capped <= 4500);
	/* exact: splitmix64(rnd ^ seq) mod (base / 4 + 1), computed apart in Python */
	assert_int_equal(outbox_backoff(1, 1, 42), 10 + 1);
	assert_int_equal(outbox_backoff(2, 1, 42), 20 + 4);
	assert_int_equal(outbox_backoff(7, 1, 42), 640 + 106);
	assert_int_equal(outbox_backoff(12, 1, 42), 3600 + 544);
	assert_int_equal(outbox_backoff(1, 2, 42), 10 + 1);
	assert_int_equal(outbox_backoff(1, 3, 0), 10 + 0);
	assert_int_equal(outbox_backoff(1, 1, 0), 10 + 2);
}

static store_outq_entry entry(fx *f, bool parked, uint64_t seq) {
	store_txn *t;
	store_outq_entry e = { 0 };
	assert_int_equal(store_begin(f->s, false, &t), 0);
	assert_int_equal(store_outq_get(t, parked, seq, &e), 0);
	store_abort(t);
	return e;
}

/* Per order: a later event waits behind one backing off; a parked one no longer
 * holds it; a busy key holds all of its events; other orders go on. */
static void test_order_per_key(void **state) {
	fx *f = *state;
	char a[ORDER_NUMBER_MAX], b[ORDER_NUMBER_MAX];
	place(f, "nordlys", ORDER_PAYMENT_ACCOUNT, T0, a);   /* 1 */
	ship(f, a, "T1", T0 + 60);                          /* 2 */
	place(f, "vinh", ORDER_PAYMENT_PREPAID, T0, b);       /* 3, 4 */
	int64_t next;
	assert_string_equal(take_text(f, T0, 100, 1000, NULL, &next), "1 SO-00000001-3; 3 SO-00000002-1");
	assert_int_equal(next, INT64_MAX);
	/* 1 fails: backs off 10 s + jitter; 3 delivered */
	outbox_result r[] = {
		{ .seq = 1, .outcome = OUTBOX_FAILED, .error = "smtp: 451 try\nlater\x1b" },
		{ .seq = 3, .outcome = OUTBOX_DELIVERED },
		{ .seq = 99, .outcome = OUTBOX_DELIVERED },   /* not pending: ignored */
	};
	assert_int_equal(outbox_done(f->s, r, 3, T0 + 5, 20, 42), 0);
	store_outq_entry e = entry(f, false, 1);
	assert_int_equal(e.attempts, 1);
	assert_int_equal(e.next_at, T0 + 5 + 11);
	assert_string_equal(e.last_error, "smtp: 451 try later ");
	store_outq_entry_done(&e);
	assert_string_equal(take_text(f, T0 + 15, 100, 1000, NULL, &next), "4 SO-00000002-1");
	assert_int_equal(next, T0 + 16);   /* 2 waits behind 1, which is due then */
	assert_string_equal(take_text(f, T0 + 16, 100, 1000, NULL, &next), "1 SO-00000001-3; 4 SO-00000002-1");
	/* busy keys hold their events, in flight or not */
	busy_set busy = { .keys = { "SO-00000002-1" } };
	assert_string_equal(take_text(f, T0 + 16, 100, 1000, &busy, &next), "1 SO-00000001-3");
	assert_int_equal(busy.calls, 2);
	/* 1 fails permanently: parked, and 2 goes */
	outbox_result p = { .seq = 1, .outcome = OUTBOX_PERMANENT, .error = "550 no such user" };
	assert_int_equal(outbox_done(f->s, &p, 1, T0 + 20, 20, 42), 0);
	e = entry(f, true, 1);
	assert_int_equal(e.attempts, 2);
	assert_int_equal(e.parked_at, T0 + 20);
	assert_string_equal(e.last_error, "550 no such user");
	store_outq_entry_done(&e);
	assert_string_equal(take_text(f, T0 + 20, 100, 1000, NULL, &next), "2 SO-00000001-3; 4 SO-00000002-1");
	/* the bound: at most max, looking at no more than scan_max */
	assert_string_equal(take_text(f, T0 + 20, 1, 1000, NULL, &next), "2 SO-00000001-3");
	assert_string_equal(take_text(f, T0 + 20, 100, 1, NULL, &next), "2 SO-00000001-3");
	assert_string_equal(take_text(f, T0 + 20, 0, 1000, NULL, &next), "");
	outbox_batch bb;
	assert_int_equal(outbox_take(f->s, f->d, T0, OUTBOX_BATCH_MAX + 1, 10, NULL, NULL, &bb, &next), -EINVAL);
}

/* The scan bound holds even when every event it sees waits. */
static void test_scan_bound(void **state) {
	fx *f = *state;
	char n[ORDER_NUMBER_MAX];
	for (int i = 0; i < 5; i++)
		place(f, "nordlys", ORDER_PAYMENT_ACCOUNT, T0, n);
	int64_t next;
	/* events: 1 (order 1, confirmed); 2, 3 (order 2: created, on_hold: past the
	 * limit); 4, 5; 6, 7; 8, 9: one per order at a time */
	assert_string_equal(take_text(f, T0, 100, 1000, NULL, &next),
			    "1 SO-00000001-3; 2 SO-00000002-1; 4 SO-00000003-7; 6 SO-00000004-5; 8 SO-00000005-9");
	outbox_result r[5];
	uint64_t seqs[] = { 1, 2, 4, 6, 8 };
	for (int i = 0; i < 5; i++)
		r[i] = (outbox_result) { .seq = seqs[i], .outcome = OUTBOX_FAILED };
	assert_int_equal(outbox_done(f->s, r, 5, T0, 20, 0), 0);
	/* every one backs off (rnd 0: seq 1 +12 s, seq 2 +11 s, seq 4 +11 s); the scan
	 * of 3 sees 1, 2 and 3 (held behind 2): the earliest of 1 and 2 */
	assert_string_equal(take_text(f, T0, 100, 3, NULL, &next), "");
	assert_int_equal(next, T0 + 11);
	assert_string_equal(take_text(f, T0 + 11, 100, 3, NULL, &next), "2 SO-00000002-1");
	assert_int_equal(next, T0 + 12);
	assert_string_equal(take_text(f, T0 + 100, 100, 3, NULL, &next), "1 SO-00000001-3; 2 SO-00000002-1");
	assert_int_equal(next, INT64_MAX);
	assert_string_equal(take_text(f, T0 + 100, 100, 4, NULL, &next),
			    "1 SO-00000001-3; 2 SO-00000002-1; 4 SO-00000003-7");
}

/* Parking at max_attempts, the counts and the oldest pending instant, the list,
 * retry of one id and of all, and all of it after a reopen. */
static void test_park_list_retry(void **state) {
	fx *f = *state;
	char a[ORDER_NUMBER_MAX], b[ORDER_NUMBER_MAX];
	place(f, "nordlys", ORDER_PAYMENT_ACCOUNT, T0, a);        /* 1 */
	place(f, "nordlys", ORDER_PAYMENT_ACCOUNT, T0 + 60, b);   /* 2, 3 (on hold) */
	outbox_result r = { .seq = 1, .outcome = OUTBOX_FAILED, .error = "exit status 1" };
	for (int i = 0; i < 2; i++)
		assert_int_equal(outbox_done(f->s, &r, 1, T0 + 100 * i, 3, 7), 0);
	store_outq_entry e = entry(f, false, 1);
	assert_int_equal(e.attempts, 2);
	assert_int_equal(e.next_at, T0 + 100 + outbox_backoff(2, 1, 7));
	store_outq_entry_done(&e);
	assert_int_equal(outbox_done(f->s, &r, 1, T0 + 300, 3, 7), 0);   /* the third: parked */
	r.seq = 2;
	r.outcome = OUTBOX_PERMANENT;
	r.error = "550 5.1.1 unknown";
	assert_int_equal(outbox_done(f->s, &r, 1, T0 + 400, 3, 7), 0);
	store_close(f->s);
	assert_int_equal(store_open(f->tmp, NULL, &f->s), 0);   /* all of it survives */

	store_txn *t;
	outbox_stats st;
	assert_int_equal(store_begin(f->s, false, &t), 0);
	assert_int_equal(outbox_stats_get(t, &st), 0);
	assert_int_equal(st.pending, 1);
	assert_int_equal(st.parked, 2);
	assert_int_equal(st.oldest_pending_at, T0 + 60);   /* event 3 was made with order 2 */
	json_t *arr = json_array();
	bool more;
	assert_int_equal(outbox_list(t, true, 0, 1, arr, &more), 0);
	assert_true(more);
	assert_int_equal(outbox_list(t, true, 1, 10, arr, &more), 0);
	assert_false(more);
	char want[2048];
	snprintf(want, sizeof(want),
		 "[{\"id\":\"%s-1\",\"seq\":1,\"type\":\"order.created\",\"at\":\"2027-01-30T08:00:00Z\","
		 "\"order\":\"SO-00000001-3\",\"customer\":\"nordlys\",\"task\":null,\"attempts\":3,\"next_attempt\":null,"
		 "\"last_error\":\"exit status 1\",\"parked\":true,\"parked_at\":\"2027-01-30T08:05:00Z\"},"
		 "{\"id\":\"%s-2\",\"seq\":2,\"type\":\"order.created\",\"at\":\"2027-01-30T08:01:00Z\","
		 "\"order\":\"SO-00000002-1\",\"customer\":\"nordlys\",\"task\":null,\"attempts\":1,\"next_attempt\":null,"
		 "\"last_error\":\"550 5.1.1 unknown\",\"parked\":true,\"parked_at\":\"2027-01-30T08:06:40Z\"}]",
		 f->inst, f->inst);
	expect_json(arr, want);
	json_array_clear(arr);
	assert_int_equal(outbox_list(t, false, 0, 10, arr, &more), 0);
	snprintf(want, sizeof(want),
		 "[{\"id\":\"%s-3\",\"seq\":3,\"type\":\"order.on_hold\",\"at\":\"2027-01-30T08:01:00Z\","
		 "\"order\":\"SO-00000002-1\",\"customer\":\"nordlys\",\"task\":null,\"attempts\":0,\"next_attempt\":null,"
		 "\"last_error\":null,\"parked\":false,\"parked_at\":null}]", f->inst);
	expect_json(arr, want);
	json_decref(arr);
	store_abort(t);

	/* retry: a pending, unknown or foreign id is not parked */
	uint64_t n = 99;
	char id[64];
	assert_int_equal(outbox_retry(f->s, "3", T0 + 500, &n), -ENOENT);
	assert_int_equal(outbox_retry(f->s, "0123456789abcdef-1", T0 + 500, &n), -ENOENT);
	assert_int_equal(outbox_retry(f->s, "x", T0 + 500, &n), -ENOENT);
	assert_int_equal(n, 99);
	snprintf(id, sizeof(id), "%s-2", f->inst);
	assert_int_equal(outbox_retry(f->s, id, T0 + 500, &n), 0);
	assert_int_equal(n, 1);
	e = entry(f, false, 2);
	assert_int_equal(e.attempts, 0);
	assert_int_equal(e.next_at, T0 + 500);
	assert_string_equal(e.last_error, "550 5.1.1 unknown");
	store_outq_entry_done(&e);
	int64_t next;
	assert_string_equal(take_text(f, T0 + 499, 100, 100, NULL, &next), "");
	assert_int_equal(next, T0 + 500);
	assert_string_equal(take_text(f, T0 + 500, 100, 100, NULL, &next), "2 SO-00000002-1");
	assert_int_equal(outbox_retry(f->s, NULL, T0 + 600, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(outbox_retry(f->s, NULL, T0 + 600, &n), 0);
	assert_int_equal(n, 0);
	assert_string_equal(take_text(f, T0 + 600, 100, 100, NULL, &next), "1 SO-00000001-3; 2 SO-00000002-1");
	diag_list dl = { 0 };
	assert_int_equal(store_verify(f->s, &dl), 0);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_line_created_shipped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_line_payment_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_line_task_due, setup, teardown),
		cmocka_unit_test_setup_teardown(test_done_email_interaction, setup, teardown),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test_setup_teardown(test_order_per_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_park_list_retry, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
