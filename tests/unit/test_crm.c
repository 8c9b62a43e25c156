/* crm: the task and interaction codecs; tasks made exactly once (dedup keys, one
 * task.due each), reminder watermarks, the due run (after_shipped at exactly
 * shipped + offset, alerts after a snooze), the salespeople's operations and their
 * errors, SkipOccurrence cancelling a `before` task, the on-hold and overdue texts
 * in two languages, the interaction log's order and paging, and store_verify
 * finding a planted inconsistency. A real store in a fresh directory. */
#include <errno.h>
#include <lmdb.h>
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
#include "lib/model/crm.h"
#include "lib/sales/crm.h"
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
	"salespeople:\n"
	"  - {id: anna, name: Anna Berg, email: anna@shop.example, language: en, users: [anna]}\n"
	"  - {id: ville, name: Ville Laine, email: ville@shop.example, language: fi, users: [ville]}\n";

static const char ORDERS[] =
	"customers:\n"
	"  - id: acme\n"
	"    name: ACME Oy\n"
	"    salesperson: ville\n"
	"    account: {number: ACC-1001, credit_limit: \"100.00 EUR\"}\n"
	"    contacts:\n"
	"      - {name: Jyrki Mäki, role: warehouse, email: jyrki@acme.example}\n"
	"      - {name: Aino Virtanen, role: purchasing, email: aino@acme.example}\n"
	"  - id: nord\n"
	"    name: Nordlys AS\n"
	"    salesperson: anna\n"
	"    account: {number: ACC-2002, credit_limit: \"100.00 EUR\"}\n"
	"  - id: lone\n"
	"    name: Lone Ltd\n"
	"standing_orders:\n"
	"  - id: bulbs\n"
	"    customer: acme\n"
	"    supplier: lumen\n"
	"    ship_to: {name: ACME, street: Katu 1, postcode: \"00510\", city: Helsinki, country: FI}\n"
	"    lines:\n"
	"      - {sku: BULB-60W, quantity: 10, unit_price: \"0.85 EUR\"}\n"
	"      - {sku: SOCKET, quantity: 2, unit_price: \"12.50 EUR\"}\n"
	"    payment: account\n"
	"    schedule: {every: 1 week, start: 2027-01-01, at: \"06:00\", lead_time: 1 day}\n"
	"    reminders:\n"
	"      - {before: 3 days, task: \"Soita {contact}: {order} {delivery_date}, {total} {{ok}}\"}\n"
	"      - {after_shipped: 2 days, task: \"Check that {customer} received {order} ({standing_order})\","
	" assignee: anna}\n";

static defs *load(void) {
	defs_file files[] = {
		{ "standingd.yaml", (char *) CONFIG, sizeof(CONFIG) - 1 },
		{ "orders.d/a.yaml", (char *) ORDERS, sizeof(ORDERS) - 1 },
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

static int setup(void **state) {
	fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	strcpy(f->tmp, "/tmp/test_crm.XXXXXX");
	assert_non_null(mkdtemp(f->tmp));
	assert_int_equal(store_open(f->tmp, NULL, &f->s), 0);
	f->d = load();
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

/* ---- helpers ---- */

static char *dump(json_t *j) {
	assert_non_null(j);
	char *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	assert_non_null(s);
	return s;
}

static void verify_clean(store *s) {
	diag_list dl = { 0 };
	int r = store_verify(s, &dl);
	for (size_t i = 0; i < dl.n; i++) {
		char *m = diag_format(&dl.v[i]);
		fprintf(stderr, "%s\n", m);
		free(m);
	}
	diag_list_clear(&dl);
	assert_int_equal(r, 0);
}

typedef struct events { size_t n; char type[16][32]; char payload[16][512]; int64_t at[16]; } events;

static int ev_cb(uint64_t seq, const char *type, const char *payload, int64_t at, void *ud) {
	events *e = ud;
	(void) seq;
	if (!strcmp(type, TASK_EVENT_DUE) && e->n < 16) {
		snprintf(e->type[e->n], sizeof(e->type[0]), "%s", type);
		snprintf(e->payload[e->n], sizeof(e->payload[0]), "%s", payload);
		e->at[e->n] = at;
		e->n++;
	}
	return 0;
}

/* The task.due events so far. */
static events due_events(store *s) {
	events e = { 0 };
	store_txn *t;
	assert_int_equal(store_begin(s, false, &t), 0);
	assert_int_equal(store_outbox_each(t, 0, ev_cb, &e), 0);
	store_abort(t);
	return e;
}

static task *get_task(store *s, const char *id) {
	store_txn *t;
	task *tk = NULL;
	assert_int_equal(store_begin(s, false, &t), 0);
	assert_int_equal(crm_task_get(t, id, &tk), 0);
	store_abort(t);
	return tk;
}

/* The tasks a list returns, as "ID:status" joined by spaces, and whether more. */
static void list_ids(store *s, const char *assignee, int status, int64_t due_before, const char *customer_id,
		     const char *after, size_t max, char *out, size_t n, bool *more) {
	store_txn *t;
	json_t *arr = json_array();
	assert_int_equal(store_begin(s, false, &t), 0);
	assert_int_equal(crm_task_list(t, assignee, status, due_before, customer_id, after, max, arr, more), 0);
	store_abort(t);
	out[0] = 0;
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v) {
		size_t l = strlen(out);
		snprintf(out + l, n - l, "%s%s:%s", i ? " " : "", json_string_value(json_object_get(v, "id")),
			 json_string_value(json_object_get(v, "status")));
	}
	json_decref(arr);
}

static int64_t at_utc(int y, int m, int d, int hh, int mm) {
	return cal_days_from_civil(y, m, d) * CAL_SECS_PER_DAY + hh * 3600 + mm * 60;
}

static int run_due(store *s, const defs *d, int64_t now, size_t *made, int64_t *next) {
	bool more;
	int r = crm_due_run(s, d, now, 16, made, next, &more);
	assert_false(more);
	return r;
}

/* ---- codecs ---- */

static void test_names_and_ids(void **state) {
	(void) state;
	char id[TASK_ID_MAX];
	uint64_t n;
	task_id_format(42, id);
	assert_string_equal(id, "T-00000042");
	assert_int_equal(task_id_parse("T-00000042", &n), 0);
	assert_int_equal(n, 42);
	task_id_format(123456789, id);
	assert_string_equal(id, "T-123456789");
	assert_int_equal(task_id_parse(id, &n), 0);
	assert_int_equal(n, 123456789);
	task_id_format(TASK_NUMBER_MAX, id);
	assert_string_equal(id, "T-9999999999999");
	assert_int_equal(task_id_parse(id, &n), 0);
	assert_true(n == TASK_NUMBER_MAX);
	assert_int_equal(task_id_parse("T-10000000000000", &n), -EINVAL);   /* 14 digits */
	assert_int_equal(task_id_parse("T-0000042", &n), -EINVAL);    /* 7 digits */
	assert_int_equal(task_id_parse("T-012345678", &n), -EINVAL);  /* padded past 8 */
	assert_int_equal(task_id_parse("T-00000000", &n), -EINVAL);
	assert_int_equal(task_id_parse("SO-00000001-3", &n), -EINVAL);
	assert_int_equal(task_id_parse(NULL, &n), -EINVAL);
	task_kind k;
	assert_int_equal(task_kind_parse("payment_overdue", &k), 0);
	assert_int_equal(k, TASK_PAYMENT_OVERDUE);
	assert_string_equal(task_kind_name(TASK_AFTER_SHIPPED), "after_shipped");
	assert_int_equal(task_kind_parse("later", &k), -EINVAL);
	task_status st;
	assert_int_equal(task_status_parse("cancelled", &st), 0);
	assert_int_equal(st, TASK_CANCELLED);
	assert_string_equal(task_action_name(TASK_ACT_SNOOZED), "snoozed");
	interaction_kind ik;
	assert_int_equal(interaction_kind_parse("meeting", &ik), 0);
	assert_int_equal(ik, INTERACTION_MEETING);
	assert_string_equal(interaction_kind_name(INTERACTION_EMAIL), "email");
	assert_int_equal(interaction_kind_parse("fax", &ik), -EINVAL);
}

static void test_task_codec(void **state) {
	(void) state;
	task t = {
		.id = "T-00000007", .assignee = "ville", .customer = "acme", .due = 1801022400, .text = "Soita Ainolle",
		.kind = TASK_BEFORE, .standing_order = "bulbs", .delivery = 1801281600, .status = TASK_OPEN,
		.created = 1801022400,
	};
	assert_int_equal(task_add_step(&t, 1801022400, "standingd", TASK_ACT_CREATED, NULL), 0);
	assert_int_equal(task_add_step(&t, 1801026000, "sales:ville", TASK_ACT_SNOOZED, "huomenna"), 0);
	char *rec = dump(task_to_record(&t));
	assert_string_equal(rec,
		"{\"id\":\"T-00000007\",\"assignee\":\"ville\",\"customer\":\"acme\",\"due\":1801022400,"
		"\"text\":\"Soita Ainolle\",\"kind\":\"before\",\"order\":null,\"standing_order\":\"bulbs\","
		"\"delivery\":1801281600,\"status\":\"open\",\"created\":1801022400,\"history\":["
		"{\"at\":1801022400,\"by\":\"standingd\",\"action\":\"created\",\"note\":null},"
		"{\"at\":1801026000,\"by\":\"sales:ville\",\"action\":\"snoozed\",\"note\":\"huomenna\"}]}");
	char *view = dump(task_to_view(&t));
	assert_string_equal(view,
		"{\"id\":\"T-00000007\",\"assignee\":\"ville\",\"customer\":\"acme\",\"due\":\"2027-01-27T04:00:00Z\","
		"\"text\":\"Soita Ainolle\",\"kind\":\"before\",\"order\":null,\"standing_order\":\"bulbs\","
		"\"delivery\":\"2027-01-30T04:00:00Z\",\"status\":\"open\",\"created\":\"2027-01-27T04:00:00Z\",\"history\":["
		"{\"at\":\"2027-01-27T04:00:00Z\",\"by\":\"standingd\",\"action\":\"created\",\"note\":null},"
		"{\"at\":\"2027-01-27T05:00:00Z\",\"by\":\"sales:ville\",\"action\":\"snoozed\",\"note\":\"huomenna\"}]}");
	char *payload = dump(task_event_due(&t));
	assert_string_equal(payload, "{\"task\":\"T-00000007\",\"assignee\":\"ville\",\"customer\":\"acme\","
		"\"due\":1801022400,\"kind\":\"before\",\"order\":null,\"standing_order\":\"bulbs\"}");
	/* round trip */
	json_t *j = json_loads(rec, 0, NULL);
	task *back;
	assert_int_equal(task_from_record(j, &back), 0);
	char *rec2 = dump(task_to_record(back));
	assert_string_equal(rec2, rec);
	task_free(back);
	/* a kind that has no delivery must not carry one; an unknown action is refused */
	json_object_set_new(j, "kind", json_string("manual"));
	assert_int_equal(task_from_record(j, &back), -EINVAL);
	json_object_set_new(j, "kind", json_string("before"));
	json_object_set_new(json_array_get(json_object_get(j, "history"), 0), "action", json_string("ate"));
	assert_int_equal(task_from_record(j, &back), -EINVAL);
	json_decref(j);
	for (size_t i = 0; i < t.n_history; i++) {
		free(t.history[i].by);
		free(t.history[i].note);
	}
	free(t.history);
	free(rec);
	free(rec2);
	free(view);
	free(payload);
}

static void test_interaction_codec(void **state) {
	(void) state;
	interaction i = { .customer = "acme", .at = 1801022400, .seq = 3, .kind = INTERACTION_EMAIL,
			  .summary = "Tilausvahvistus SO-00000001-3", .author = "standingd",
			  .message_id = "<e.1@shop.example>" };
	char *rec = dump(interaction_to_record(&i));
	assert_string_equal(rec, "{\"customer\":\"acme\",\"at\":1801022400,\"seq\":3,\"kind\":\"email\",\"contact\":null,"
		"\"summary\":\"Tilausvahvistus SO-00000001-3\",\"author\":\"standingd\",\"message_id\":\"<e.1@shop.example>\"}");
	char *view = dump(interaction_to_view(&i));
	assert_string_equal(view, "{\"customer\":\"acme\",\"at\":\"2027-01-27T04:00:00Z\",\"seq\":3,\"kind\":\"email\","
		"\"contact\":null,\"summary\":\"Tilausvahvistus SO-00000001-3\",\"author\":\"standingd\","
		"\"message_id\":\"<e.1@shop.example>\"}");
	json_t *j = json_loads(rec, 0, NULL);
	interaction *back;
	assert_int_equal(interaction_from_record(j, &back), 0);
	char *rec2 = dump(interaction_to_record(back));
	assert_string_equal(rec2, rec);
	interaction_free(back);
	json_object_set_new(j, "kind", json_string("fax"));
	assert_int_equal(interaction_from_record(j, &back), -EINVAL);
	json_decref(j);
	free(rec);
	free(rec2);
	free(view);
}

/* ---- exactly once ---- */

static void test_dedup(void **state) {
	fx *f = *state;
	int64_t now = at_utc(2027, 1, 4, 9, 0);
	store_txn *t;
	char id[TASK_ID_MAX] = "";
	task tk = { .assignee = "anna", .customer = "nord", .due = now, .text = "Call", .kind = TASK_ON_HOLD,
		    .order = "SO-00000001-3" };
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(crm_task_create_in(t, "hold/SO-00000001-3/0", &tk, now, id), 0);
	assert_string_equal(id, "T-00000001");
	task tk2 = { .assignee = "anna", .customer = "nord", .due = now, .text = "Call again", .kind = TASK_ON_HOLD };
	assert_int_equal(crm_task_create_in(t, "hold/SO-00000001-3/0", &tk2, now + 5, NULL), -EEXIST);
	assert_int_equal(store_commit(t), 0);
	/* and in a later transaction too */
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(crm_task_create_in(t, "hold/SO-00000001-3/0", &tk2, now + 5, NULL), -EEXIST);
	assert_int_equal(store_task_key_get(t, "hold/SO-00000001-3/0", id), 0);
	assert_string_equal(id, "T-00000001");
	assert_int_equal(store_commit(t), 0);
	for (size_t i = 0; i < tk.n_history; i++)
		free(tk.history[i].by);
	free(tk.history);
	for (size_t i = 0; i < tk2.n_history; i++)
		free(tk2.history[i].by);
	free(tk2.history);
	events e = due_events(f->s);
	assert_int_equal(e.n, 1);
	assert_string_equal(e.payload[0], "{\"task\":\"T-00000001\",\"assignee\":\"anna\",\"customer\":\"nord\","
		"\"due\":1799053200,\"kind\":\"on_hold\",\"order\":\"SO-00000001-3\",\"standing_order\":null}");
	assert_int_equal(e.at[0], now);
	char out[256];
	bool more;
	list_ids(f->s, NULL, -1, INT64_MAX, NULL, NULL, 10, out, sizeof(out), &more);
	assert_string_equal(out, "T-00000001:open");
	task *g = get_task(f->s, "T-00000001");
	assert_string_equal(g->text, "Call");
	assert_int_equal(g->n_history, 1);
	assert_string_equal(g->history[0].by, "standingd");
	assert_int_equal(g->history[0].action, TASK_ACT_CREATED);
	task_free(g);
	verify_clean(f->s);
}

static void test_reminder_watermark(void **state) {
	fx *f = *state;
	const standing_order *so = defs_find_order(f->d, "bulbs");
	char h0[17], h1[17];
	crm_reminder_hash(&so->bulk->reminders[0], h0);
	crm_reminder_hash(&so->bulk->reminders[1], h1);
	assert_int_equal(strlen(h0), 16);
	assert_string_not_equal(h0, h1);
	reminder changed = so->bulk->reminders[0];
	changed.offset += 1;
	char h2[17];
	crm_reminder_hash(&changed, h2);
	assert_string_not_equal(h0, h2);
	store_txn *t;
	int64_t through = 0;
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(crm_reminder_get(t, "bulbs", h0, &through), 0);
	assert_true(through == INT64_MIN);
	/* make false: only the watermark moves */
	assert_int_equal(crm_reminder_in(t, f->d, so, &so->bulk->reminders[0], NULL, false, 1799000000, 1799000001), 0);
	assert_int_equal(crm_reminder_get(t, "bulbs", h0, &through), 0);
	assert_int_equal(through, 1799000000);
	assert_int_equal(crm_reminder_get(t, "bulbs", h1, &through), 0);
	assert_true(through == INT64_MIN);
	assert_int_equal(store_commit(t), 0);
	assert_int_equal(store_begin(f->s, false, &t), 0);
	assert_int_equal(crm_reminder_get(t, "bulbs", h0, &through), 0);
	assert_int_equal(through, 1799000000);
	store_abort(t);
	assert_int_equal(due_events(f->s).n, 0);
	verify_clean(f->s);
}

/* ---- before: made by the engine's step; SkipOccurrence cancels it ---- */

static void test_before_and_skip(void **state) {
	fx *f = *state;
	const standing_order *so = defs_find_order(f->d, "bulbs");
	occurrence occ;
	assert_int_equal(rule_next(&so->rule, at_utc(2027, 1, 1, 0, 0), &occ), 0);
	assert_int_equal(occ.delivery, at_utc(2027, 1, 1, 4, 0));   /* 06:00 in Helsinki */
	int64_t at = occ.delivery - 3 * 86400;
	store_txn *t;
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(crm_reminder_in(t, f->d, so, &so->bulk->reminders[0], &occ, true, at, at), 0);
	/* the same step again (a retry after a crash before the watermark was seen) */
	assert_int_equal(crm_reminder_in(t, f->d, so, &so->bulk->reminders[0], &occ, true, at, at + 1), 0);
	assert_int_equal(store_commit(t), 0);
	task *g = get_task(f->s, "T-00000001");
	assert_int_equal(g->kind, TASK_BEFORE);
	assert_string_equal(g->assignee, "ville");
	assert_string_equal(g->customer, "acme");
	assert_int_equal(g->due, at);
	assert_int_equal(g->delivery, occ.delivery);
	assert_null(g->order);
	/* in Finnish (ville's language), the purchasing contact, {order} before the order
	 * exists is the standing order, the gross total */
	assert_string_equal(g->text, "Soita Aino Virtanen: bulbs perjantai 1. tammikuuta 2027, 33,50\xc2\xa0\xe2\x82\xac {ok}");
	task_free(g);
	events e = due_events(f->s);
	assert_int_equal(e.n, 1);
	char expect[256];
	snprintf(expect, sizeof(expect), "{\"task\":\"T-00000001\",\"assignee\":\"ville\",\"customer\":\"acme\","
		 "\"due\":%lld,\"kind\":\"before\",\"order\":null,\"standing_order\":\"bulbs\"}", (long long) at);
	assert_string_equal(e.payload[0], expect);
	/* the next delivery is not skipped: its task stays */
	occurrence occ2;
	assert_int_equal(rule_next(&so->rule, occ.delivery, &occ2), 0);
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(crm_reminder_in(t, f->d, so, &so->bulk->reminders[0], &occ2, true, occ2.delivery - 3 * 86400,
					 occ2.delivery - 3 * 86400), 0);
	assert_int_equal(store_commit(t), 0);
	/* SkipOccurrence of the first: its open task is cancelled, the other stays open */
	assert_int_equal(sales_skip_occurrence(f->s, "bulbs", occ.delivery, at + 60, "skipped by request of ilze (uid 1000)",
					       NULL), 0);
	g = get_task(f->s, "T-00000001");
	assert_int_equal(g->status, TASK_CANCELLED);
	assert_int_equal(g->n_history, 2);
	assert_int_equal(g->history[1].action, TASK_ACT_CANCELLED);
	assert_int_equal(g->history[1].at, at + 60);
	assert_string_equal(g->history[1].by, "standingd");
	assert_string_equal(g->history[1].note, "occurrence skipped");
	task_free(g);
	char out[256];
	bool more;
	list_ids(f->s, NULL, -1, INT64_MAX, "acme", NULL, 10, out, sizeof(out), &more);
	assert_string_equal(out, "T-00000001:cancelled T-00000002:open");
	list_ids(f->s, NULL, TASK_OPEN, INT64_MAX, NULL, NULL, 10, out, sizeof(out), &more);
	assert_string_equal(out, "T-00000002:open");
	/* a skipped occurrence gets no task */
	occurrence occ3;
	assert_int_equal(rule_next(&so->rule, occ2.delivery, &occ3), 0);
	assert_int_equal(sales_skip_occurrence(f->s, "bulbs", occ3.delivery, at, "skipped", NULL), 0);
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(crm_reminder_in(t, f->d, so, &so->bulk->reminders[0], &occ3, true, occ3.delivery - 3 * 86400,
					 occ3.delivery - 3 * 86400), 0);
	assert_int_equal(store_commit(t), 0);
	list_ids(f->s, NULL, -1, INT64_MAX, NULL, NULL, 10, out, sizeof(out), &more);
	assert_string_equal(out, "T-00000001:cancelled T-00000002:open");
	assert_int_equal(due_events(f->s).n, 2);
	verify_clean(f->s);
}

/* ---- after_shipped: at exactly shipped + offset, once ---- */

static void test_after_shipped(void **state) {
	fx *f = *state;
	const standing_order *so = defs_find_order(f->d, "bulbs");
	occurrence occ;
	assert_int_equal(rule_next(&so->rule, at_utc(2027, 1, 1, 0, 0), &occ), 0);
	store_txn *t;
	sales_order o;
	/* an order within the limit: 33.50 EUR */
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(sales_create_occurrence_in(t, f->d, so, &occ, occ.create_at, false, &o), 0);
	sched_state st = { .watermark = occ.delivery, .created = 1, .active = true };
	assert_int_equal(store_sched_put(t, so->id, &st), 0);
	assert_int_equal(store_commit(t), 0);
	assert_string_equal(o.number, "SO-00000001-3");
	int64_t shipped = occ.delivery - 3600;
	sales_ship_result res;
	sales_order *g;
	assert_int_equal(sales_mark_shipped(f->s, f->d, o.number, NULL, "DHL", "JD1", shipped, "supplier:lumen", &res, &g), 0);
	assert_int_equal(res, SALES_SHIPPED);
	order_free(g);
	/* the retry writes nothing, not a second entry */
	assert_int_equal(sales_mark_shipped(f->s, f->d, o.number, NULL, "DHL", "JD1", shipped + 5, "supplier:lumen", &res, &g), 0);
	assert_int_equal(res, SALES_ALREADY_SHIPPED);
	order_free(g);
	size_t made;
	int64_t next;
	int64_t due = shipped + 2 * 86400;
	assert_int_equal(run_due(f->s, f->d, due - 1, &made, &next), 0);
	assert_int_equal(made, 0);
	assert_int_equal(next, due);
	assert_int_equal(due_events(f->s).n, 0);
	assert_int_equal(run_due(f->s, f->d, due, &made, &next), 0);
	assert_int_equal(made, 1);
	assert_true(next == INT64_MAX);
	task *tk = get_task(f->s, "T-00000001");
	assert_int_equal(tk->kind, TASK_AFTER_SHIPPED);
	assert_int_equal(tk->due, due);
	assert_int_equal(tk->created, due);
	assert_string_equal(tk->assignee, "anna");   /* the reminder's assignee, in English */
	assert_string_equal(tk->order, "SO-00000001-3");
	assert_string_equal(tk->standing_order, "bulbs");
	assert_string_equal(tk->text, "Check that ACME Oy received SO-00000001-3 (bulbs)");
	task_free(tk);
	events e = due_events(f->s);
	assert_int_equal(e.n, 1);
	assert_int_equal(e.at[0], due);
	/* nothing more */
	assert_int_equal(run_due(f->s, f->d, due + 86400, &made, &next), 0);
	assert_int_equal(made, 0);
	assert_int_equal(due_events(f->s).n, 1);
	char id[TASK_ID_MAX];
	char hash[17], key[64];
	crm_reminder_hash(&so->bulk->reminders[1], hash);
	snprintf(key, sizeof(key), "after/SO-00000001-3/%s", hash);
	assert_int_equal(store_begin(f->s, false, &t), 0);
	assert_int_equal(store_task_key_get(t, key, id), 0);
	store_abort(t);
	assert_string_equal(id, "T-00000001");
	verify_clean(f->s);
}

/* ---- the salespeople's operations ---- */

static void test_add_snooze_complete(void **state) {
	fx *f = *state;
	int64_t now = at_utc(2027, 2, 1, 8, 0);
	task *tk;
	/* due later: an alert, no event yet */
	assert_int_equal(crm_task_add(f->s, "nord", "anna", now + 100, "Visit Nordlys", now, "sales:anna", &tk), 0);
	assert_string_equal(tk->id, "T-00000001");
	assert_int_equal(tk->kind, TASK_MANUAL);
	assert_int_equal(tk->status, TASK_OPEN);
	assert_string_equal(tk->history[0].by, "sales:anna");
	task_free(tk);
	assert_int_equal(due_events(f->s).n, 0);
	/* snoozed before its alert: the first alert finds its due changed and says nothing */
	assert_int_equal(crm_task_snooze(f->s, "T-00000001", now + 200, now + 10, "sales:anna", &tk), 0);
	assert_int_equal(tk->due, now + 200);
	assert_int_equal(tk->n_history, 2);
	assert_int_equal(tk->history[1].action, TASK_ACT_SNOOZED);
	assert_int_equal(tk->history[1].at, now + 10);
	task_free(tk);
	size_t made;
	int64_t next;
	assert_int_equal(run_due(f->s, f->d, now + 150, &made, &next), 0);
	assert_int_equal(next, now + 200);
	assert_int_equal(due_events(f->s).n, 0);
	assert_int_equal(run_due(f->s, f->d, now + 199, &made, &next), 0);
	assert_int_equal(due_events(f->s).n, 0);
	assert_int_equal(run_due(f->s, f->d, now + 200, &made, &next), 0);
	assert_int_equal(made, 0);
	events e = due_events(f->s);
	assert_int_equal(e.n, 1);
	assert_int_equal(e.at[0], now + 200);
	char expect[256];
	snprintf(expect, sizeof(expect), "{\"task\":\"T-00000001\",\"assignee\":\"anna\",\"customer\":\"nord\","
		 "\"due\":%lld,\"kind\":\"manual\",\"order\":null,\"standing_order\":null}", (long long) (now + 200));
	assert_string_equal(e.payload[0], expect);
	/* due now: its task.due at once */
	assert_int_equal(crm_task_add(f->s, "acme", "ville", now - 50, "Soita", now + 300, "ops:root", &tk), 0);
	assert_string_equal(tk->id, "T-00000002");
	task_free(tk);
	assert_int_equal(due_events(f->s).n, 2);
	/* complete: done, and a note in the log */
	assert_int_equal(crm_task_complete(f->s, "T-00000001", NULL, now + 400, "sales:anna", &tk), 0);
	assert_int_equal(tk->status, TASK_DONE);
	assert_int_equal(tk->history[2].action, TASK_ACT_DONE);
	assert_null(tk->history[2].note);
	task_free(tk);
	assert_int_equal(crm_task_complete(f->s, "T-00000002", "Aino tilaa lisää", now + 500, "sales:ville", NULL), 0);
	store_txn *t;
	json_t *arr = json_array();
	bool more;
	assert_int_equal(store_begin(f->s, false, &t), 0);
	assert_int_equal(crm_interaction_list(t, "nord", INT64_MIN, INT64_MAX, INT64_MIN, 0, 10, false, arr, &more), 0);
	assert_int_equal(crm_interaction_list(t, "acme", INT64_MIN, INT64_MAX, INT64_MIN, 0, 10, false, arr, &more), 0);
	store_abort(t);
	char *got = dump(arr);
	assert_string_equal(got,
		"[{\"customer\":\"nord\",\"at\":\"2027-02-01T08:06:40Z\",\"seq\":1,\"kind\":\"note\",\"contact\":null,"
		"\"summary\":\"Task T-00000001 done: Visit Nordlys\",\"author\":\"sales:anna\",\"message_id\":null},"
		"{\"customer\":\"acme\",\"at\":\"2027-02-01T08:08:20Z\",\"seq\":2,\"kind\":\"note\",\"contact\":null,"
		"\"summary\":\"Aino tilaa lisää\",\"author\":\"sales:ville\",\"message_id\":null}]");
	free(got);
	/* errors */
	assert_int_equal(crm_task_complete(f->s, "T-00000001", NULL, now, "sales:anna", &tk), -EALREADY);
	assert_int_equal(crm_task_snooze(f->s, "T-00000002", now + 900, now, "sales:anna", &tk), -EALREADY);
	assert_int_equal(crm_task_complete(f->s, "T-00000099", NULL, now, "sales:anna", &tk), -ENOENT);
	assert_int_equal(crm_task_snooze(f->s, "T-00000099", now + 900, now, "sales:anna", &tk), -ENOENT);
	assert_int_equal(crm_task_complete(f->s, "nonsense", NULL, now, "sales:anna", &tk), -ENOENT);
	assert_int_equal(crm_task_add(f->s, "nord", NULL, now, "x", now, "sales:anna", &tk), -EINVAL);
	store_begin(f->s, false, &t);
	assert_int_equal(crm_task_get(t, "T-00000003", &tk), -ENOENT);
	store_abort(t);
	verify_clean(f->s);
}

static void test_list_filters(void **state) {
	fx *f = *state;
	int64_t now = at_utc(2027, 3, 1, 8, 0);
	task *tk;
	/* T1 anna nord +300, T2 ville acme +100, T3 anna acme +200, T4 anna nord +100 (done) */
	assert_int_equal(crm_task_add(f->s, "nord", "anna", now + 300, "a", now, "sales:anna", NULL), 0);
	assert_int_equal(crm_task_add(f->s, "acme", "ville", now + 100, "b", now, "sales:ville", NULL), 0);
	assert_int_equal(crm_task_add(f->s, "acme", "anna", now + 200, "c", now, "sales:anna", NULL), 0);
	assert_int_equal(crm_task_add(f->s, "nord", "anna", now + 100, "d", now, "sales:anna", NULL), 0);
	assert_int_equal(crm_task_complete(f->s, "T-00000004", NULL, now, "sales:anna", &tk), 0);
	task_free(tk);
	char out[256];
	bool more;
	list_ids(f->s, NULL, -1, INT64_MAX, NULL, NULL, 10, out, sizeof(out), &more);
	assert_string_equal(out, "T-00000002:open T-00000004:done T-00000003:open T-00000001:open");
	assert_false(more);
	list_ids(f->s, "anna", -1, INT64_MAX, NULL, NULL, 10, out, sizeof(out), &more);
	assert_string_equal(out, "T-00000004:done T-00000003:open T-00000001:open");
	list_ids(f->s, "anna", TASK_OPEN, INT64_MAX, NULL, NULL, 10, out, sizeof(out), &more);
	assert_string_equal(out, "T-00000003:open T-00000001:open");
	list_ids(f->s, "anna", TASK_OPEN, now + 300, NULL, NULL, 10, out, sizeof(out), &more);
	assert_string_equal(out, "T-00000003:open");   /* due before: strictly */
	list_ids(f->s, "anna", -1, INT64_MAX, "acme", NULL, 10, out, sizeof(out), &more);
	assert_string_equal(out, "T-00000003:open");
	list_ids(f->s, NULL, TASK_DONE, INT64_MAX, NULL, NULL, 10, out, sizeof(out), &more);
	assert_string_equal(out, "T-00000004:done");
	/* paging: two at a time, after the last one's id */
	list_ids(f->s, NULL, -1, INT64_MAX, NULL, NULL, 2, out, sizeof(out), &more);
	assert_string_equal(out, "T-00000002:open T-00000004:done");
	assert_true(more);
	list_ids(f->s, NULL, -1, INT64_MAX, NULL, "T-00000004", 2, out, sizeof(out), &more);
	assert_string_equal(out, "T-00000003:open T-00000001:open");
	assert_false(more);
	store_txn *t;
	json_t *arr = json_array();
	store_begin(f->s, false, &t);
	assert_int_equal(crm_task_list(t, NULL, -1, INT64_MAX, NULL, "T-00000077", 2, arr, &more), -ENOENT);
	store_abort(t);
	json_decref(arr);
	verify_clean(f->s);
}

/* An alert of a task completed meanwhile says nothing; the run goes in slices. */
static void test_due_run_slices(void **state) {
	fx *f = *state;
	int64_t now = at_utc(2027, 5, 1, 8, 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(crm_task_add(f->s, "nord", "anna", now + 10 + i, "x", now, "sales:anna", NULL), 0);
	assert_int_equal(crm_task_complete(f->s, "T-00000002", "done early", now + 5, "sales:anna", NULL), 0);
	size_t made;
	int64_t next;
	bool more;
	assert_int_equal(crm_due_run(f->s, f->d, now + 100, 1, &made, &next, &more), 0);
	assert_true(more);
	assert_int_equal(next, now + 11);   /* the next entry's instant, already due */
	assert_int_equal(crm_due_run(f->s, f->d, now + 100, 1, &made, &next, &more), 0);
	assert_true(more);
	assert_int_equal(crm_due_run(f->s, f->d, now + 100, 1, &made, &next, &more), 0);
	assert_false(more);
	assert_true(next == INT64_MAX);
	events e = due_events(f->s);
	assert_int_equal(e.n, 2);
	assert_non_null(strstr(e.payload[0], "\"task\":\"T-00000001\""));
	assert_non_null(strstr(e.payload[1], "\"task\":\"T-00000003\""));
	assert_int_equal(crm_due_run(f->s, f->d, now + 100, 1, &made, &next, &more), 0);
	assert_false(more);
	assert_int_equal(due_events(f->s).n, 2);
	verify_clean(f->s);
}

/* A text rendered without definitions (no salesperson known): English. */
static void test_task_text(void **state) {
	fx *f = *state;
	const standing_order *so = defs_find_order(f->d, "bulbs");
	occurrence occ;
	assert_int_equal(rule_next(&so->rule, at_utc(2027, 1, 1, 0, 0), &occ), 0);
	reminder r = { .kind = REMIND_BEFORE, .offset = 86400,
		       .task = "{{customer}} {customer}: {delivery_date} {total} {order} }}{{" };
	char *text = crm_task_text(NULL, so, &r, &occ, NULL);
	assert_string_equal(text, "{customer} ACME Oy: Friday, 1 January 2027 \xe2\x82\xac" "33.50 bulbs }{");
	free(text);
	sales_order o = { .number = "SO-00000042-6", .standing_order = "bulbs", .total = { .minor = 123456, .currency = "EUR" } };
	text = crm_task_text(f->d, so, &r, &occ, &o);   /* ville's: Finnish */
	assert_string_equal(text, "{customer} ACME Oy: perjantai 1. tammikuuta 2027 1\xc2\xa0" "234,56\xc2\xa0\xe2\x82\xac SO-00000042-6 }{");
	free(text);
}

/* ---- system tasks: on hold, overdue ---- */

static sales_order big_order(const standing_order *so, const char *customer_id, order_line lines[2], int64_t now,
			     int64_t bulbs) {
	lines[0] = so->bulk->lines[0];
	lines[1] = so->bulk->lines[1];
	lines[0].quantity = bulbs;   /* 1000: 850.00 + 25.00 */
	return (sales_order) {
		.customer = (char *) customer_id, .supplier = so->supplier, .ship_to = so->bulk->ship_to, .lines = lines,
		.n_lines = 2, .delivery = now + 5 * 86400, .delivery_offset = 7200, .zone = "Europe/Helsinki",
		.created = now, .payment = ORDER_PAYMENT_ACCOUNT, .occurrence = UINT64_MAX, .placed_by = "shop:web",
	};
}

static void test_hold_and_overdue_texts(void **state) {
	fx *f = *state;
	const standing_order *so = defs_find_order(f->d, "bulbs");
	int64_t now = at_utc(2027, 4, 1, 9, 0);
	order_line lines[2];
	/* over the credit limit at creation: ville's in Finnish, anna's in English */
	sales_order a = big_order(so, "acme", lines, now, 1000);
	assert_int_equal(sales_place(f->s, f->d, defs_find_customer(f->d, "acme"), &a, "shop:web", NULL), 0);
	order_transitions_clear(&a);
	assert_int_equal(a.status, ORDER_STATUS_ON_HOLD);
	sales_order b = big_order(so, "nord", lines, now, 1000);
	assert_int_equal(sales_place(f->s, f->d, defs_find_customer(f->d, "nord"), &b, "shop:web", NULL), 0);
	order_transitions_clear(&b);
	/* a customer without a salesperson: no task */
	sales_order c = big_order(so, "lone", lines, now, 1000);
	assert_int_equal(sales_place(f->s, f->d, defs_find_customer(f->d, "lone"), &c, "shop:web", NULL), 0);
	order_transitions_clear(&c);
	task *tk = get_task(f->s, "T-00000001");
	assert_int_equal(tk->kind, TASK_ON_HOLD);
	assert_string_equal(tk->assignee, "ville");
	assert_string_equal(tk->order, "SO-00000001-3");
	assert_int_equal(tk->due, now);
	assert_string_equal(tk->text, "Tilaus SO-00000001-3 (ACME Oy, 875,00\xc2\xa0\xe2\x82\xac) on pidossa: luottoraja ylittyisi.");
	task_free(tk);
	tk = get_task(f->s, "T-00000002");
	assert_string_equal(tk->assignee, "anna");
	assert_string_equal(tk->text, "Order SO-00000002-1 (Nordlys AS, \xe2\x82\xac" "875.00) is on hold: the credit limit would be exceeded.");
	task_free(tk);
	/* HoldOrder of a confirmed order: its reason as given, key hold/ORDER/1 */
	sales_order d = big_order(so, "nord", lines, now, 10);
	assert_int_equal(sales_place(f->s, f->d, defs_find_customer(f->d, "nord"), &d, "shop:web", NULL), 0);
	order_transitions_clear(&d);
	assert_int_equal(d.status, ORDER_STATUS_CONFIRMED);
	sales_order *g;
	sales_refusal why;
	assert_int_equal(sales_hold(f->s, f->d, d.number, now + 60, "ops:root", "address unclear", NULL, &g, &why), 0);
	order_free(g);
	tk = get_task(f->s, "T-00000003");
	assert_string_equal(tk->text, "Order SO-00000004-5 (Nordlys AS, \xe2\x82\xac" "33.50) is on hold: address unclear");
	task_free(tk);
	/* a prepaid order overdue: once, with its due date */
	sales_order p = big_order(so, "acme", lines, now, 10);
	p.payment = ORDER_PAYMENT_PREPAID;
	assert_int_equal(sales_place(f->s, f->d, defs_find_customer(f->d, "acme"), &p, "shop:web", NULL), 0);
	order_transitions_clear(&p);
	sales_order p2 = big_order(so, "nord", lines, now + 60, 20);
	p2.payment = ORDER_PAYMENT_PREPAID;
	assert_int_equal(sales_place(f->s, f->d, defs_find_customer(f->d, "nord"), &p2, "shop:web", NULL), 0);
	order_transitions_clear(&p2);
	size_t od, cn;
	bool more;
	assert_int_equal(sales_payment_due_run(f->s, f->d, now + 3 * 86400 - 1, 10, &od, &cn, &more), 0);
	assert_int_equal(od, 0);
	assert_int_equal(sales_payment_due_run(f->s, f->d, now + 3 * 86400, 10, &od, &cn, &more), 0);
	assert_int_equal(od, 1);
	tk = get_task(f->s, "T-00000004");
	assert_int_equal(tk->kind, TASK_PAYMENT_OVERDUE);
	assert_string_equal(tk->order, p.number);
	assert_string_equal(tk->text, "Ennakkoon maksettavan tilauksen SO-00000005-9 (ACME Oy) maksu on myöhässä: "
		"33,50\xc2\xa0\xe2\x82\xac erääntyi 4. huhtikuuta 2027.");
	task_free(tk);
	assert_int_equal(sales_payment_due_run(f->s, f->d, now + 3 * 86400 + 60, 10, &od, &cn, &more), 0);
	assert_int_equal(od, 1);
	tk = get_task(f->s, "T-00000005");
	assert_string_equal(tk->assignee, "anna");
	assert_string_equal(tk->text, "Prepaid order SO-00000006-8 (Nordlys AS) is overdue: \xe2\x82\xac" "42.00 was due on 4 April 2027.");
	task_free(tk);
	/* both overdue once: a later run makes no second task */
	assert_int_equal(sales_payment_due_run(f->s, f->d, now + 4 * 86400, 10, &od, &cn, &more), 0);
	assert_int_equal(od, 0);
	char out[256];
	list_ids(f->s, NULL, -1, INT64_MAX, NULL, NULL, 10, out, sizeof(out), &more);
	assert_string_equal(out, "T-00000001:open T-00000002:open T-00000003:open T-00000004:open T-00000005:open");
	assert_int_equal(due_events(f->s).n, 5);
	verify_clean(f->s);
}

/* ---- the interaction log ---- */

static void log_one(store *s, const char *customer_id, int64_t at, const char *summary) {
	interaction i = { .customer = (char *) customer_id, .at = at, .kind = INTERACTION_CALL,
			  .summary = (char *) summary, .author = "sales:anna", .contact = "Aino" };
	assert_int_equal(crm_interaction_log(s, &i), 0);
}

static void list_log(store *s, int64_t from, int64_t to, int64_t after_at, uint64_t after_seq, size_t max,
		     bool newest, const char *expect, bool expect_more) {
	store_txn *t;
	json_t *arr = json_array();
	bool more;
	assert_int_equal(store_begin(s, false, &t), 0);
	assert_int_equal(crm_interaction_list(t, "acme", from, to, after_at, after_seq, max, newest, arr, &more), 0);
	store_abort(t);
	char out[256] = "";
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v) {
		size_t l = strlen(out);
		snprintf(out + l, sizeof(out) - l, "%s%s", i ? " " : "", json_string_value(json_object_get(v, "summary")));
	}
	json_decref(arr);
	assert_string_equal(out, expect);
	assert_int_equal(more, expect_more);
}

static void test_interactions(void **state) {
	fx *f = *state;
	log_one(f->s, "acme", 100, "a100s1");
	log_one(f->s, "acme", 50, "b50s2");
	log_one(f->s, "nord", 70, "n70s3");
	log_one(f->s, "acme", 100, "c100s4");
	log_one(f->s, "acme", 200, "d200s5");
	interaction bad = { .customer = "acme", .at = 1, .kind = INTERACTION_NOTE, .author = "x" };
	assert_int_equal(crm_interaction_log(f->s, &bad), -EINVAL);   /* no summary */
	list_log(f->s, INT64_MIN, INT64_MAX, INT64_MIN, 0, 10, false, "b50s2 a100s1 c100s4 d200s5", false);
	list_log(f->s, INT64_MIN, INT64_MAX, INT64_MIN, 0, 2, false, "b50s2 a100s1", true);
	list_log(f->s, INT64_MIN, INT64_MAX, 100, 1, 2, false, "c100s4 d200s5", false);
	list_log(f->s, INT64_MIN, INT64_MAX, 100, 4, 2, false, "d200s5", false);
	list_log(f->s, 60, 200, INT64_MIN, 0, 10, false, "a100s1 c100s4", false);
	list_log(f->s, 100, 101, 100, 1, 10, false, "c100s4", false);
	/* newest first: GetCustomer's last ones, and on before the cursor */
	list_log(f->s, INT64_MIN, INT64_MAX, INT64_MIN, 0, 2, true, "d200s5 c100s4", true);
	list_log(f->s, INT64_MIN, INT64_MAX, 100, 4, 2, true, "a100s1 b50s2", false);
	list_log(f->s, 60, 200, INT64_MIN, 0, 10, true, "c100s4 a100s1", false);
	list_log(f->s, 300, 400, INT64_MIN, 0, 10, true, "", false);
	verify_clean(f->s);
}

/* ---- verify ---- */

static void plant(const char *dir, const char *db, const void *key, size_t klen, const void *val, size_t vlen) {
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 32), 0);
	assert_int_equal(mdb_env_open(env, dir, 0, 0640), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, db, 0, &dbi), 0);
	MDB_val k = { .mv_size = klen, .mv_data = (void *) key };
	if (val) {
		MDB_val v = { .mv_size = vlen, .mv_data = (void *) val };
		assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	} else
		assert_int_equal(mdb_del(txn, dbi, &k, NULL), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static void test_verify_planted(void **state) {
	fx *f = *state;
	int64_t now = at_utc(2027, 1, 4, 9, 0);
	store_txn *t;
	task tk = { .assignee = "anna", .customer = "nord", .due = now, .text = "Call", .kind = TASK_ON_HOLD,
		    .order = "SO-00000001-3" };
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(crm_task_create_in(t, "hold/SO-00000001-3/0", &tk, now, NULL), 0);
	assert_int_equal(store_commit(t), 0);
	free(tk.history[0].by);
	free(tk.history);
	assert_int_equal(crm_task_add(f->s, "acme", "ville", now + 7, "Soita", now, "sales:ville", NULL), 0);
	log_one(f->s, "acme", 100, "x");
	verify_clean(f->s);
	store_close(f->s);
	/* the task's record goes: its index entries and its key name nothing */
	unsigned char id[8] = { 0, 0, 0, 0, 0, 0, 0, 1 };
	plant(f->tmp, "tasks", id, 8, NULL, 0);
	/* an interaction under another instant than its record's */
	unsigned char ik[5 + 16] = "acme";
	uint64_t at = (uint64_t) 101 ^ (UINT64_C(1) << 63);
	for (int i = 0; i < 8; i++)
		ik[5 + i] = (unsigned char) (at >> (56 - 8 * i));
	ik[5 + 15] = 9;
	const char rec[] = "{\"v\":1,\"customer\":\"acme\",\"at\":100,\"seq\":9,\"kind\":\"call\",\"contact\":null,"
			   "\"summary\":\"y\",\"author\":\"sales:anna\",\"message_id\":null}";
	plant(f->tmp, "crmlog", ik, sizeof(ik), rec, sizeof(rec) - 1);
	/* the open task T-00000002 drops out of the status index */
	unsigned char sk[18] = { 'S', 0 };
	uint64_t due = (uint64_t) (now + 7) ^ (UINT64_C(1) << 63);
	for (int i = 0; i < 8; i++)
		sk[2 + i] = (unsigned char) (due >> (56 - 8 * i));
	sk[17] = 2;
	plant(f->tmp, "taskidx", sk, sizeof(sk), NULL, 0);
	assert_int_equal(store_open(f->tmp, NULL, &f->s), 0);
	diag_list dl = { 0 };
	assert_int_equal(store_verify(f->s, &dl), -EBADMSG);
	char *m[8] = { 0 };
	assert_int_equal(dl.n, 7);
	for (size_t i = 0; i < dl.n; i++)
		m[i] = diag_format(&dl.v[i]);
	assert_string_equal(m[0], "task T-00000002: not in the status index (open, 2027-01-04T09:00:07Z)");
	assert_string_equal(m[1], "assignee index entry (anna, 2027-01-04T09:00:00Z, T-00000001): no such task");
	assert_string_equal(m[2], "customer index entry (nord, 2027-01-04T09:00:00Z, T-00000001): no such task");
	assert_string_equal(m[3], "status index entry (2027-01-04T09:00:00Z, T-00000001): no such task");
	assert_string_equal(m[4], "task key hold/SO-00000001-3/0: task T-00000001 does not exist");
	assert_string_equal(m[5], "interaction (acme, 1970-01-01T00:01:41Z, 9): the record says "
				  "(acme, 1970-01-01T00:01:40Z, 9)");
	assert_string_equal(m[6], "meta: next interaction number 2 is not after the last one 9");
	for (size_t i = 0; i < dl.n; i++)
		free(m[i]);
	diag_list_clear(&dl);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_and_ids),
		cmocka_unit_test(test_task_codec),
		cmocka_unit_test(test_interaction_codec),
		cmocka_unit_test_setup_teardown(test_dedup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reminder_watermark, setup, teardown),
		cmocka_unit_test_setup_teardown(test_before_and_skip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_after_shipped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_snooze_complete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_filters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_due_run_slices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_task_text, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hold_and_overdue_texts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interactions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify_planted, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
