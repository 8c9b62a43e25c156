/* test_api: lib/api in-process, without a daemon or a socket: a store in a
 * temporary directory, the definitions of a small config written here, the api_env
 * callbacks of tests/common/inproc (they reload and apply as standingd does) and
 * peers made up on the spot (uid, user name, groups; no real users). Every method
 * of io.standingd.Supplier, .Orders, .Ops and org.varlink.service is called through
 * the service's dispatch as the daemon calls it (vl_service_start, then
 * vl_pending_step while a long list is built, replies taken in pieces), and the
 * replies are compared as exact text. Then the permission matrix: every method x
 * every role, the expected outcome of each cell written down below; and the shop
 * role's reach (README, Access control). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include "lib/api/api_idl.h"
#include "config.h"
#include "lib/sales/outbox.h"
#include "tests/common/inproc.h"
#include "tests/unit/tmpdir.h"

/* 2026-11-28T12:00:00Z: bulbs' first order (create_at 2026-11-26T04:00Z) and
 * coffee's first (2026-11-27T02:30Z) are created at start; nothing else is due. */
#define NOW INT64_C(1795867200)
#define SELF_UID 4242

static const char CONFIG[] =
	"state_dir: /nonexistent/state\n"
	"socket: /nonexistent/sd.sock\n"
	"timezone: Europe/Helsinki\n"
	"ops_group: sd-ops\n"
	"shop_users: [shop1, shop2]\n"
	"suppliers:\n"
	"  - id: lumen\n"
	"    name: Lumen Oy\n"
	"    users: [lumen-a]\n"
	"  - id: kaffe\n"
	"    name: Nordkaffe AS\n"
	"    users: [kaffe-b]\n"
	"salespeople:\n"
	"  - {id: anna, name: Anna Myyj\xC3\xA4, email: anna@lumen.example, language: fi, users: [sales-a]}\n"
	"  - {id: ville, name: Ville, email: ville@lumen.example}\n";

static const char ORDERS[] =
	"customers:\n"
	"  - id: acme\n"
	"    name: ACME Oy\n"
	"    timezone: Europe/Helsinki\n"
	"    account: {number: ACC-1001, credit_limit: \"50000.00 EUR\"}\n"
	"  - id: tromso\n"
	"    name: Kaffebrenneriet\n"
	"    timezone: Europe/Oslo\n"
	"    account: {number: ACC-3007, credit_limit: \"120000 NOK\"}\n"
	"  - id: cash\n"
	"    name: Cash Oy\n"
	"standing_orders:\n"
	"  - id: bulbs\n"
	"    customer: acme\n"
	"    supplier: lumen\n"
	"    ship_to: {name: Varasto, street: Katu 1, postcode: \"00510\", city: Helsinki, country: FI}\n"
	"    lines:\n"
	"      - {sku: BULB, quantity: 10, unit_price: \"0.85 EUR\"}\n"
	"    payment: account\n"
	"    schedule: {every: 2 months, start: 2026-12-01, at: \"06:00\", lead_time: 5 days}\n"
	"  - id: coffee\n"
	"    customer: tromso\n"
	"    supplier: kaffe\n"
	"    ship_to: {name: Brenneri, street: Storgata 12, postcode: \"9008\", city: Tromsø, country: \"NO\"}\n"
	"    lines:\n"
	"      - {sku: KAFFE, quantity: 6, unit_price: \"189.00 NOK\"}\n"
	"    payment: account\n"
	"    schedule: {every: 1 week, start: 2026-11-29, at: \"03:30\", timezone: Europe/Oslo, lead_time: 2 days}\n";

/* ---- roles: who calls ---- */

typedef enum role { ROOT, SELF, OPS_GROUP, SUPPLIER_A, SUPPLIER_B, SHOP, SHOP2, STRANGER, SALES, N_ROLES } role;
static const char *const role_name[N_ROLES] = {
	"root", "the daemon's uid", "ops_group member", "supplier A (lumen)", "supplier B (kaffe)",
	"shop user", "another shop user", "stranger", "salesperson (anna)",
};

typedef struct fixture {
	char dir[64];
	char conf[96];
	char state[96];
	inproc d;
	peer peers[N_ROLES];
	int steps;              /* vl_pending_step calls of the last call */
} fixture;

static int setup(void **state) {
	fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/standingd-api-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->conf, sizeof(f->conf), "%s/conf", f->dir);
	snprintf(f->state, sizeof(f->state), "%s/state", f->dir);
	char orders_d[128];
	snprintf(orders_d, sizeof(orders_d), "%s/orders.d", f->conf);
	assert_int_equal(mkdir(f->conf, 0700), 0);
	assert_int_equal(mkdir(orders_d, 0700), 0);
	tmpdir_write(f->conf, "standingd.yaml", CONFIG);
	tmpdir_write(f->conf, "orders.d/a.yaml", ORDERS);
	diag_list diags = { 0 };
	inproc_options o = { .conf_dir = f->conf, .now = NOW, .self_uid = SELF_UID };
	int r = inproc_start(&f->d, f->state, &o, &diags);
	for (size_t i = 0; i < diags.n; i++)
		fprintf(stderr, "%s\n", diags.v[i].msg);
	diag_list_clear(&diags);
	assert_int_equal(r, 0);
	inproc_peer(&f->peers[ROOT], 0, "root", (const char *[]) { "root", NULL });
	inproc_peer(&f->peers[SELF], SELF_UID, "standingd", (const char *[]) { "standingd", NULL });
	inproc_peer(&f->peers[OPS_GROUP], 5001, "opsuser", (const char *[]) { "opsuser", "sd-ops", NULL });
	inproc_peer(&f->peers[SUPPLIER_A], 5002, "lumen-a", (const char *[]) { "lumen-a", NULL });
	inproc_peer(&f->peers[SUPPLIER_B], 5003, "kaffe-b", (const char *[]) { "kaffe-b", NULL });
	inproc_peer(&f->peers[SHOP], 5004, "shop1", (const char *[]) { "shop1", NULL });
	inproc_peer(&f->peers[SHOP2], 5006, "shop2", (const char *[]) { "shop2", "users", NULL });
	inproc_peer(&f->peers[STRANGER], 5005, "stranger", (const char *[]) { "users", NULL });
	inproc_peer(&f->peers[SALES], 5008, "sales-a", (const char *[]) { "sales-a", NULL });
	*state = f;
	return 0;
}

static void remove_file(const char *dir, const char *name) {
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
}

static int teardown(void **state) {
	fixture *f = *state;
	for (int i = 0; i < N_ROLES; i++)
		peer_clear(&f->peers[i]);
	assert_int_equal(inproc_stop(&f->d), 0);
	remove_file(f->conf, "standingd.yaml");
	remove_file(f->conf, "orders.d/a.yaml");
	remove_file(f->conf, "orders.d/b.yaml");
	remove_file(f->conf, "orders.d");
	char orders_d[128];
	snprintf(orders_d, sizeof(orders_d), "%s/orders.d", f->conf);
	rmdir(orders_d);
	rmdir(f->conf);
	assert_int_equal(rmdir(f->dir), 0);
	free(f);
	return 0;
}

/* ---- calling: as the daemon's server does ---- */

typedef struct out {
	char *s;
	size_t n, cap;
} out;

/* Pieces of replies; each message ends at its NUL, shown as a newline. */
static void on_send(void *ud, const char *buf, size_t len) {
	out *o = ud;
	if (o->n + len + 1 > o->cap) {
		o->cap = (o->n + len + 1) * 2;
		o->s = realloc(o->s, o->cap);
		assert_non_null(o->s);
	}
	for (size_t i = 0; i < len; i++)
		o->s[o->n++] = buf[i] ? buf[i] : '\n';
	o->s[o->n] = '\0';
}

/* Every reply of the call msg (a whole message), one a line, without the last
 * newline; malloc'd. */
static char *call_msg(fixture *f, role who, const char *msg) {
	out o = { 0 };
	vl_pending *p = NULL;
	int r = vl_service_start(f->d.svc, msg, strlen(msg), on_send, &o, &f->peers[who], VL_START_PIECES, &p);
	f->steps = 0;
	while (p && r >= 0) {
		r = vl_pending_step(p);
		f->steps++;
		assert_true(f->steps < 100000);
		if (r != VL_AGAIN)
			break;
	}
	vl_pending_free(p);
	assert_int_equal(r, 0);
	if (!o.s)
		return strdup("");
	assert_true(o.n > 0 && o.s[o.n - 1] == '\n');
	o.s[o.n - 1] = '\0';
	return o.s;
}

static char *call(fixture *f, role who, const char *method, const char *params) {
	char msg[8192];
	int len = snprintf(msg, sizeof(msg), "{\"method\":\"%s\",\"parameters\":%s}", method, params ? params : "{}");
	assert_true(len > 0 && (size_t) len < sizeof(msg));
	return call_msg(f, who, msg);
}

static void expect_reply(fixture *f, role who, const char *method, const char *params, const char *want,
			 const char *file, int line) {
	char *got = call(f, who, method, params);
	bool differs = strcmp(got, want);
	if (differs)
		fprintf(stderr, "%s:%d: %s %s as %s\n  got:  %s\n  want: %s\n", file, line, method,
			params ? params : "{}", role_name[who], got, want);
	free(got);
	if (differs)
		fail_msg("reply differs");
}
#define EXPECT(f, who, method, params, want) expect_reply(f, who, method, params, want, __FILE__, __LINE__)

/* A success, whatever it says. */
static void expect_ok(fixture *f, role who, const char *method, const char *params, const char *file, int line) {
	char *got = call(f, who, method, params);
	bool failed = strncmp(got, "{\"parameters\":", 14);
	if (failed)
		fprintf(stderr, "%s:%d: %s %s as %s\n  got: %s\n", file, line, method, params ? params : "{}",
			role_name[who], got);
	free(got);
	if (failed)
		fail_msg("not a success");
}
#define OK(f, who, method, params) expect_ok(f, who, method, params, __FILE__, __LINE__)

/* The value at key of the reply's parameters, as compact JSON; malloc'd. */
static char *reply_field(const char *reply, const char *key) {
	json_error_t e;
	json_t *j = json_loads(reply, 0, &e);
	assert_non_null(j);
	json_t *v = json_object_get(json_object_get(j, "parameters"), key);
	assert_non_null(v);
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(j);
	return s;
}

#define DENIED "{\"error\":\"io.standingd.PermissionDenied\",\"parameters\":{}}"
#define OK_EMPTY "{\"parameters\":{}}"

#define INVALID(name) "{\"error\":\"org.varlink.service.InvalidParameter\",\"parameters\":{\"parameter\":\"" name "\"}}"

/* ---- the state at start, as the wire shows it ---- */

#define SO1 "SO-00000001-3"   /* bulbs' 2026-12-01 delivery, created at start */
#define SO2 "SO-00000002-1"   /* coffee's 2026-11-29 delivery, created at start */
#define SO3 "SO-00000003-7"
#define SO4 "SO-00000004-5"
#define SO9 "SO-00000009-2"   /* a valid number no order has */

#define SHIP_BULBS "{\"name\":\"Varasto\",\"street\":\"Katu 1\",\"postcode\":\"00510\",\"city\":\"Helsinki\",\"country\":\"FI\"}"
#define SHIP_COFFEE "{\"name\":\"Brenneri\",\"street\":\"Storgata 12\",\"postcode\":\"9008\",\"city\":\"Tromsø\",\"country\":\"NO\"}"
#define SHIP_API "{\"name\":\"ACME\",\"street\":\"Katu 1\",\"postcode\":null,\"city\":\"Helsinki\",\"country\":\"FI\"}"
#define LINES_BULBS "[{\"sku\":\"BULB\",\"quantity\":10,\"unit_price\":\"0.85\",\"currency\":\"EUR\"}]"
#define LINES_COFFEE "[{\"sku\":\"KAFFE\",\"quantity\":6,\"unit_price\":\"189.00\",\"currency\":\"NOK\"}]"
#define LINES_BULBS_NET "[{\"sku\":\"BULB\",\"quantity\":10,\"unit_price\":\"0.85\",\"currency\":\"EUR\",\"net\":\"8.50\"}]"
#define LINES_COFFEE_NET "[{\"sku\":\"KAFFE\",\"quantity\":6,\"unit_price\":\"189.00\",\"currency\":\"NOK\",\"net\":\"1134.00\"}]"
#define UNSHIPPED "\"carrier\":null,\"tracking\":null,\"shipped\":null"
#define SHIPPED_DHL "\"carrier\":\"DHL\",\"tracking\":\"JD1\",\"shipped\":\"2026-11-28T12:00:00Z\""

/* An order's money and life (issue 9) after its shipping fields: the test customers
 * have no VAT; history is its transitions (STEP), all at NOW. */
#define PAY(amount, cur, due, ref, history) \
	",\"net\":{\"amount\":\"" amount "\",\"currency\":\"" cur "\"},\"vat\":{\"amount\":\"0.00\",\"currency\":\"" cur "\"}," \
	"\"vat_rate\":\"0%\",\"gross\":{\"amount\":\"" amount "\",\"currency\":\"" cur "\"},\"amount_due\":" due "," \
	"\"payment_reference\":" ref ",\"paid\":null,\"history\":[" history "]"
#define STEP(by, status) "{\"at\":\"2026-11-28T12:00:00Z\",\"by\":\"" by "\",\"status\":\"" status "\",\"reason\":null}"
/* created by the engine; then shipped by the supplier lumen's user */
#define BY_ENGINE STEP("standingd", "confirmed")
#define BY_LUMEN BY_ENGINE "," STEP("supplier:lumen-a", "shipped")

/* An order of GetOrder, ListOrders, MarkShipped (status, then carrier, tracking, shipped, its history). */
#define ORDER_SO1(status, tail, history) \
	"{\"order\":\"" SO1 "\",\"standing_order\":\"bulbs\",\"customer\":\"acme\",\"supplier\":\"lumen\"," \
	"\"ship_to\":" SHIP_BULBS ",\"lines\":" LINES_BULBS_NET ",\"total\":{\"amount\":\"8.50\",\"currency\":\"EUR\"}," \
	"\"delivery\":\"2026-12-01T06:00:00+02:00\",\"created\":\"2026-11-28T12:00:00Z\",\"payment\":\"account\"," \
	"\"status\":\"" status "\",\"late\":true," tail PAY("8.50", "EUR", "null", "null", history) "}"
#define ORDER_SO2(status, tail, history) \
	"{\"order\":\"" SO2 "\",\"standing_order\":\"coffee\",\"customer\":\"tromso\",\"supplier\":\"kaffe\"," \
	"\"ship_to\":" SHIP_COFFEE ",\"lines\":" LINES_COFFEE_NET ",\"total\":{\"amount\":\"1134.00\",\"currency\":\"NOK\"}," \
	"\"delivery\":\"2026-11-29T03:30:00+01:00\",\"created\":\"2026-11-28T12:00:00Z\",\"payment\":\"account\"," \
	"\"status\":\"" status "\",\"late\":true," tail PAY("1134.00", "NOK", "null", "null", history) "}"
/* PlaceOrder's one-time order (ONE_TIME below) as number n, placed by `by` (ops:root,
 * shop:shop1): on account confirmed at once; prepaid awaiting payment of 3.75 with ref. */
#define ORDER_ONE_TIME_AS(n, payment, status, due, ref, by) \
	"{\"order\":\"" n "\",\"standing_order\":null,\"customer\":\"acme\",\"supplier\":\"lumen\"," \
	"\"ship_to\":" SHIP_API ",\"lines\":[{\"sku\":\"LAMP\",\"quantity\":3,\"unit_price\":\"1.25\",\"currency\":\"EUR\"," \
	"\"net\":\"3.75\"}],\"total\":{\"amount\":\"3.75\",\"currency\":\"EUR\"},\"delivery\":\"2027-01-10T00:00:00+02:00\"," \
	"\"created\":\"2026-11-28T12:00:00Z\",\"payment\":\"" payment "\",\"status\":\"" status "\",\"late\":false," UNSHIPPED \
	PAY("3.75", "EUR", due, ref, STEP(by, status)) "}"
#define ORDER_ONE_TIME(n, by) ORDER_ONE_TIME_AS(n, "account", "confirmed", "null", "null", by)

/* ListUpcoming's shipments. */
#define SHIPMENT_SO1(status, carrier, tracking) \
	"{\"delivery\":\"2026-12-01T06:00:00+02:00\",\"delivery_utc\":\"2026-12-01T04:00:00Z\",\"status\":\"" status "\"," \
	"\"order\":\"" SO1 "\",\"standing_order\":\"bulbs\",\"customer\":\"acme\",\"customer_name\":\"ACME Oy\"," \
	"\"supplier\":\"lumen\",\"ship_to\":" SHIP_BULBS ",\"lines\":" LINES_BULBS ",\"carrier\":" carrier ",\"tracking\":" tracking "}"
#define SHIPMENT_SO2 \
	"{\"delivery\":\"2026-11-29T03:30:00+01:00\",\"delivery_utc\":\"2026-11-29T02:30:00Z\",\"status\":\"confirmed\"," \
	"\"order\":\"" SO2 "\",\"standing_order\":\"coffee\",\"customer\":\"tromso\",\"customer_name\":\"Kaffebrenneriet\"," \
	"\"supplier\":\"kaffe\",\"ship_to\":" SHIP_COFFEE ",\"lines\":" LINES_COFFEE ",\"carrier\":null,\"tracking\":null}"
#define PROJECTED_COFFEE(local, utc) \
	"{\"delivery\":\"" local "\",\"delivery_utc\":\"" utc "\",\"status\":\"projected\",\"order\":null," \
	"\"standing_order\":\"coffee\",\"customer\":\"tromso\",\"customer_name\":\"Kaffebrenneriet\",\"supplier\":\"kaffe\"," \
	"\"ship_to\":" SHIP_COFFEE ",\"lines\":" LINES_COFFEE ",\"carrier\":null,\"tracking\":null}"
#define COFFEE_1206 PROJECTED_COFFEE("2026-12-06T03:30:00+01:00", "2026-12-06T02:30:00Z")
#define COFFEE_1213 PROJECTED_COFFEE("2026-12-13T03:30:00+01:00", "2026-12-13T02:30:00Z")

/* Forecast's occurrences. */
#define OCC_COFFEE(delivery, create_at) \
	"{\"standing_order\":\"coffee\",\"customer\":\"tromso\",\"supplier\":\"kaffe\",\"delivery\":\"" delivery "\"," \
	"\"create_at\":\"" create_at "\",\"lines\":" LINES_COFFEE "}"
#define OCC_BULBS(delivery, create_at) \
	"{\"standing_order\":\"bulbs\",\"customer\":\"acme\",\"supplier\":\"lumen\",\"delivery\":\"" delivery "\"," \
	"\"create_at\":\"" create_at "\",\"lines\":" LINES_BULBS "}"

/* ListStandingOrders' items of the YAML set (bulbs: created and skipped given). */
#define LISTED_BULBS(next, next_create, created, skipped) \
	"{\"id\":\"bulbs\",\"customer\":\"acme\",\"supplier\":\"lumen\",\"source\":\"orders.d/a.yaml:13\",\"placed_by\":null," \
	"\"timezone\":\"Europe/Helsinki\",\"paused\":false,\"next_delivery\":\"" next "\",\"next_create_at\":\"" next_create "\"," \
	"\"created\":" created ",\"skipped\":" skipped "}"
#define LISTED_COFFEE \
	"{\"id\":\"coffee\",\"customer\":\"tromso\",\"supplier\":\"kaffe\",\"source\":\"orders.d/a.yaml:21\",\"placed_by\":null," \
	"\"timezone\":\"Europe/Oslo\",\"paused\":false,\"next_delivery\":\"2026-12-06T03:30:00+01:00\"," \
	"\"next_create_at\":\"2026-12-04T02:30:00Z\",\"created\":1,\"skipped\":0}"
#define LISTED_BULBS_START LISTED_BULBS("2027-02-01T06:00:00+02:00", "2027-01-27T04:00:00Z", "1", "0")

#define STATUS(standing_orders, active, orders, outbox) \
	"{\"parameters\":{\"version\":\"" STANDINGD_VERSION "\",\"now\":\"2026-11-28T12:00:00Z\",\"customers\":3,\"standing_orders\":" \
	standing_orders ",\"active\":" active ",\"paused\":0,\"orders\":" orders ",\"outbox_backlog\":" outbox "," \
	"\"outbox_pending\":" outbox ",\"outbox_parked\":0,\"outbox_oldest_pending_age\":0," \
	"\"next_due\":\"2026-12-04T02:30:00Z\",\"next_standing_order\":\"coffee\",\"max_loop_step_ms\":0.0,\"max_loop_step_cpu_ms\":0.0," \
	"\"workers\":0,\"workers_busy\":0,\"calls_waiting\":0}}"

/* PlaceOrder's parameters: 3 x 1.25 EUR for acme from lumen, delivered 2027-01-10. */
#define ONE_TIME_WITH(customer, payment) \
	"{\"customer\":\"" customer "\",\"supplier\":\"lumen\",\"delivery\":\"2027-01-10\"," payment \
	"\"ship_to\":{\"name\":\"ACME\",\"street\":\"Katu 1\",\"city\":\"Helsinki\",\"country\":\"FI\"}," \
	"\"lines\":[{\"sku\":\"LAMP\",\"quantity\":3,\"unit_price\":\"1.25\",\"currency\":\"EUR\"}]}"
#define ONE_TIME ONE_TIME_WITH("acme", "")

/* PlaceStandingOrder's parameters: a monthly standing order of acme's from lumen. */
#define STANDING(id, start, quantity) \
	"{\"definition\":{\"id\":\"" id "\",\"customer\":\"acme\",\"supplier\":\"lumen\",\"ship_to\":{\"name\":\"ACME\"," \
	"\"street\":\"Katu 1\",\"city\":\"Helsinki\",\"country\":\"FI\"},\"lines\":[{\"sku\":\"LAMP\",\"quantity\":" \
	quantity ",\"unit_price\":\"12.00 EUR\"}],\"payment\":\"account\",\"schedule\":{\"every\":\"1 month\"," \
	"\"start\":\"" start "\",\"at\":\"10:00\",\"lead_time\":\"2 days\"}}}"

/* SkipOccurrence's parameters. */
#define SKIP(so, when) "{\"standing_order\":\"" so "\",\"delivery\":\"" when "\"}"

/* An order's status changed in the store, as older state or another tool may leave it. */
static void set_status_in_store(fixture *f, const char *number, order_status st) {
	store_txn *t;
	sales_order *o;
	assert_int_equal(store_begin(f->d.store, true, &t), 0);
	assert_int_equal(store_order_get(t, number, &o), 0);
	o->status = st;
	assert_int_equal(store_order_update(t, o), 0);
	assert_int_equal(store_commit(t), 0);
	order_free(o);
}

/* ---- org.varlink.service ---- */

static void introspection(void **state) {
	fixture *f = *state;
	EXPECT(f, STRANGER, "org.varlink.service.GetInfo", NULL,
	       "{\"parameters\":{\"vendor\":\"standingd\",\"product\":\"standingd (in-process)\",\"version\":\"0\","
	       "\"url\":\"https://standingd.example/\",\"interfaces\":[\"org.varlink.service\",\"io.standingd\","
	       "\"io.standingd.Supplier\",\"io.standingd.Orders\",\"io.standingd.Ops\",\"io.standingd.Crm\"]}}");
	static const struct { const char *name, *idl; } ifaces[] = {
		{ "io.standingd", API_IDL_COMMON }, { "io.standingd.Supplier", API_IDL_SUPPLIER },
		{ "io.standingd.Orders", API_IDL_ORDERS }, { "io.standingd.Ops", API_IDL_OPS },
		{ "io.standingd.Crm", API_IDL_CRM },
	};
	for (size_t i = 0; i < 5; i++) {
		char params[128];
		snprintf(params, sizeof(params), "{\"interface\":\"%s\"}", ifaces[i].name);
		char *got = call(f, STRANGER, "org.varlink.service.GetInterfaceDescription", params);
		json_t *want = json_pack("{s:{s:s}}", "parameters", "description", ifaces[i].idl);
		char *w = json_dumps(want, JSON_COMPACT);
		assert_string_equal(got, w);
		free(w);
		json_decref(want);
		free(got);
	}
	char *got = call(f, STRANGER, "org.varlink.service.GetInterfaceDescription", "{\"interface\":\"org.varlink.service\"}");
	char *d = reply_field(got, "description");
	assert_non_null(strstr(d, "interface org.varlink.service\\n"));
	assert_non_null(strstr(d, "method GetInfo() -> "));
	free(d);
	free(got);
	/* io.standingd.Now: the daemon's clock, for anyone */
	EXPECT(f, STRANGER, "io.standingd.Now", NULL, "{\"parameters\":{\"now\":\"2026-11-28T12:00:00Z\"}}");
	f->d.now = INT64_C(1800003600);
	EXPECT(f, SUPPLIER_B, "io.standingd.Now", NULL, "{\"parameters\":{\"now\":\"2027-01-15T09:00:00Z\"}}");
	EXPECT(f, ROOT, "io.standingd.Now", "{\"zone\":\"UTC\"}", INVALID("zone"));
	EXPECT(f, STRANGER, "org.varlink.service.GetInterfaceDescription", "{\"interface\":\"io.standingd.Nope\"}",
	       "{\"error\":\"org.varlink.service.InterfaceNotFound\",\"parameters\":{\"interface\":\"io.standingd.Nope\"}}");
	EXPECT(f, STRANGER, "org.varlink.service.GetInterfaceDescription", NULL, INVALID("interface"));
	EXPECT(f, ROOT, "io.standingd.Ops.Nope", NULL,
	       "{\"error\":\"org.varlink.service.MethodNotFound\",\"parameters\":{\"method\":\"io.standingd.Ops.Nope\"}}");
	EXPECT(f, ROOT, "io.standingd.Nope.Status", NULL,
	       "{\"error\":\"org.varlink.service.InterfaceNotFound\",\"parameters\":{\"interface\":\"io.standingd.Nope\"}}");
}

/* ---- io.standingd.Supplier ---- */

#define WINDOW "{\"from\":\"2026-11-28\",\"to\":\"2026-12-14\"}"

static void list_upcoming(void **state) {
	fixture *f = *state;
	const char *method = "io.standingd.Supplier.ListUpcoming";
	/* created orders and projected occurrences, by delivery; built in steps */
	EXPECT(f, ROOT, method, WINDOW,
	       "{\"parameters\":{\"shipments\":[" SHIPMENT_SO2 "," SHIPMENT_SO1("confirmed", "null", "null") ","
	       COFFEE_1206 "," COFFEE_1213 "]}}");
	assert_true(f->steps >= 2);
	/* each supplier's user gets its own, and only those */
	EXPECT(f, SUPPLIER_A, method, WINDOW, "{\"parameters\":{\"shipments\":[" SHIPMENT_SO1("confirmed", "null", "null") "]}}");
	EXPECT(f, SUPPLIER_A, method, "{\"from\":\"2026-11-28\",\"to\":\"2026-12-14\",\"supplier\":\"lumen\"}",
	       "{\"parameters\":{\"shipments\":[" SHIPMENT_SO1("confirmed", "null", "null") "]}}");
	EXPECT(f, SUPPLIER_B, method, WINDOW,
	       "{\"parameters\":{\"shipments\":[" SHIPMENT_SO2 "," COFFEE_1206 "," COFFEE_1213 "]}}");
	EXPECT(f, SUPPLIER_A, method, "{\"from\":\"2026-11-28\",\"to\":\"2026-12-14\",\"supplier\":\"kaffe\"}", DENIED);
	/* ops choose */
	EXPECT(f, OPS_GROUP, method, "{\"from\":\"2026-11-28\",\"to\":\"2026-12-14\",\"supplier\":\"kaffe\"}",
	       "{\"parameters\":{\"shipments\":[" SHIPMENT_SO2 "," COFFEE_1206 "," COFFEE_1213 "]}}");
	EXPECT(f, ROOT, method, "{\"from\":\"2026-11-28\",\"to\":\"2026-12-14\",\"supplier\":\"nope\"}", INVALID("supplier"));
	/* instants: [03:00Z, 04:00Z) leaves out bulbs' 04:00Z, [04:00Z, 04:00:01Z) has it */
	EXPECT(f, ROOT, method, "{\"from\":\"2026-12-01T03:00:00Z\",\"to\":\"2026-12-01T04:00:00Z\"}",
	       "{\"parameters\":{\"shipments\":[]}}");
	EXPECT(f, ROOT, method, "{\"from\":\"2026-12-01T04:00:00Z\",\"to\":\"2026-12-01T04:00:01Z\"}",
	       "{\"parameters\":{\"shipments\":[" SHIPMENT_SO1("confirmed", "null", "null") "]}}");
	/* the window: both ends, to after from, at most 400 days */
	EXPECT(f, ROOT, method, "{\"from\":\"2026-11-28\"}", INVALID("to"));
	EXPECT(f, ROOT, method, "{\"to\":\"2026-11-28\"}", INVALID("from"));
	EXPECT(f, ROOT, method, "{\"from\":\"28.11.2026\",\"to\":\"2026-12-14\"}", INVALID("from"));
	EXPECT(f, ROOT, method, "{\"from\":\"2026-11-28\",\"to\":\"2026-11-28\"}", INVALID("to"));
	EXPECT(f, ROOT, method, "{\"from\":\"2026-11-28\",\"to\":\"2028-01-03\"}", INVALID("to"));
	OK(f, ROOT, method, "{\"from\":\"2026-11-28\",\"to\":\"2028-01-02\"}");
	EXPECT(f, ROOT, method, "{\"from\":1,\"to\":\"2026-12-14\"}", INVALID("from"));
	EXPECT(f, ROOT, method, "{\"from\":\"2026-11-28\",\"to\":\"2026-12-14\",\"extra\":1}", INVALID("extra"));
	/* a skipped occurrence is not a shipment; a shipped order shows its carrier */
	EXPECT(f, ROOT, "io.standingd.Orders.SkipOccurrence",
	       "{\"standing_order\":\"coffee\",\"delivery\":\"2026-12-06T03:30:00+01:00\"}",
	       "{\"parameters\":{\"standing_order\":\"coffee\",\"delivery\":\"2026-12-06T03:30:00+01:00\"}}");
	OK(f, SUPPLIER_A, "io.standingd.Supplier.MarkShipped", "{\"order\":\"" SO1 "\",\"carrier\":\"DHL\",\"tracking\":\"JD1\"}");
	EXPECT(f, ROOT, method, WINDOW,
	       "{\"parameters\":{\"shipments\":[" SHIPMENT_SO2 "," SHIPMENT_SO1("shipped", "\"DHL\"", "\"JD1\"") ","
	       COFFEE_1213 "]}}");
	/* a cancelled order is not a shipment either */
	set_status_in_store(f, SO2, ORDER_STATUS_CANCELLED);
	EXPECT(f, SUPPLIER_B, method, WINDOW, "{\"parameters\":{\"shipments\":[" COFFEE_1213 "]}}");
	/* a oneway call gets nothing */
	char *got = call_msg(f, ROOT, "{\"method\":\"io.standingd.Supplier.ListUpcoming\",\"parameters\":" WINDOW ",\"oneway\":true}");
	assert_string_equal(got, "");
	free(got);
}

#define SHIP(order, carrier, tracking) "{\"order\":\"" order "\",\"carrier\":\"" carrier "\",\"tracking\":\"" tracking "\"}"

static void mark_shipped(void **state) {
	fixture *f = *state;
	const char *method = "io.standingd.Supplier.MarkShipped";
	EXPECT(f, SUPPLIER_A, method, SHIP(SO1, "DHL", "JD1"),
	       "{\"parameters\":{\"order\":" ORDER_SO1("shipped", SHIPPED_DHL, BY_LUMEN) "}}");
	/* one event order.shipped in the outbox (two order.created before), the order stored shipped */
	EXPECT(f, ROOT, "io.standingd.Ops.Status", NULL, STATUS("2", "2", "2", "3"));
	EXPECT(f, ROOT, "io.standingd.Orders.GetOrder", "{\"order\":\"" SO1 "\"}",
	       "{\"parameters\":{\"order\":" ORDER_SO1("shipped", SHIPPED_DHL, BY_LUMEN) "}}");
	/* the same again is the same answer (a retry), and writes nothing */
	EXPECT(f, SUPPLIER_A, method, SHIP(SO1, "DHL", "JD1"),
	       "{\"parameters\":{\"order\":" ORDER_SO1("shipped", SHIPPED_DHL, BY_LUMEN) "}}");
	EXPECT(f, ROOT, "io.standingd.Ops.Status", NULL, STATUS("2", "2", "2", "3"));
	EXPECT(f, SUPPLIER_A, method, SHIP(SO1, "DHL", "JD2"),
	       "{\"error\":\"io.standingd.Supplier.AlreadyShipped\",\"parameters\":{\"order\":\"" SO1 "\","
	       "\"carrier\":\"DHL\",\"tracking\":\"JD1\"}}");
	/* another supplier's order is as if it did not exist */
	EXPECT(f, SUPPLIER_A, method, SHIP(SO2, "DHL", "JD2"),
	       "{\"error\":\"io.standingd.Supplier.OrderNotFound\",\"parameters\":{\"order\":\"" SO2 "\"}}");
	EXPECT(f, SUPPLIER_B, method, SHIP(SO1, "DHL", "JD1"),
	       "{\"error\":\"io.standingd.Supplier.OrderNotFound\",\"parameters\":{\"order\":\"" SO1 "\"}}");
	EXPECT(f, SUPPLIER_A, method, SHIP(SO9, "DHL", "JD2"),
	       "{\"error\":\"io.standingd.Supplier.OrderNotFound\",\"parameters\":{\"order\":\"" SO9 "\"}}");
	/* parameters */
	EXPECT(f, SUPPLIER_A, method, SHIP("SO-00000009-1", "DHL", "JD2"), INVALID("order"));
	EXPECT(f, SUPPLIER_A, method, "{\"carrier\":\"DHL\",\"tracking\":\"JD2\"}", INVALID("order"));
	EXPECT(f, SUPPLIER_A, method, SHIP(SO1, "", "JD2"), INVALID("carrier"));
	EXPECT(f, SUPPLIER_A, method, SHIP(SO1, "DHL", ""), INVALID("tracking"));
	EXPECT(f, SUPPLIER_A, method, SHIP(SO1, "DHL", "JD\\u001b[2J"), INVALID("tracking"));
	EXPECT(f, SUPPLIER_A, method, "{\"order\":\"" SO1 "\",\"carrier\":\"DHL\"}", INVALID("tracking"));
	EXPECT(f, SUPPLIER_A, method, "{\"order\":\"" SO1 "\",\"carrier\":\"DHL\",\"tracking\":\"1\",\"at\":1}", INVALID("at"));
	/* a cancelled order is not shipped; ops ship any supplier's */
	set_status_in_store(f, SO2, ORDER_STATUS_CANCELLED);
	EXPECT(f, SUPPLIER_B, method, SHIP(SO2, "Posten", "N1"),
	       "{\"error\":\"io.standingd.Supplier.OrderCancelled\",\"parameters\":{\"order\":\"" SO2 "\"}}");
	set_status_in_store(f, SO2, ORDER_STATUS_CREATED);
	EXPECT(f, SELF, method, SHIP(SO2, "Posten", "N1"),
	       "{\"parameters\":{\"order\":" ORDER_SO2("shipped",
	       "\"carrier\":\"Posten\",\"tracking\":\"N1\",\"shipped\":\"2026-11-28T12:00:00Z\"",
	       BY_ENGINE "," STEP("ops:standingd", "shipped")) "}}");
	EXPECT(f, ROOT, "io.standingd.Ops.Status", NULL, STATUS("2", "2", "2", "4"));
}

/* ---- io.standingd.Orders ---- */

static void place_standing_order(void **state) {
	fixture *f = *state;
	const char *method = "io.standingd.Orders.PlaceStandingOrder";
	EXPECT(f, ROOT, method, STANDING("api-so", "2027-01-05", "2"),
	       "{\"parameters\":{\"standing_order\":\"api-so\",\"next_delivery\":\"2027-01-05T10:00:00+02:00\"}}");
	EXPECT(f, ROOT, "io.standingd.Ops.ListStandingOrders", NULL,
	       "{\"parameters\":{\"standing_orders\":[{\"id\":\"api-so\",\"customer\":\"acme\",\"supplier\":\"lumen\","
	       "\"source\":\"api\",\"placed_by\":\"ops:root\",\"timezone\":\"Europe/Helsinki\",\"paused\":false,"
	       "\"next_delivery\":\"2027-01-05T10:00:00+02:00\",\"next_create_at\":\"2027-01-03T08:00:00Z\","
	       "\"created\":0,\"skipped\":0}," LISTED_BULBS_START "," LISTED_COFFEE "]}}");
	/* replaced: the first placer stays */
	EXPECT(f, OPS_GROUP, method, STANDING("api-so", "2027-02-07", "2"),
	       "{\"parameters\":{\"standing_order\":\"api-so\",\"next_delivery\":\"2027-02-07T10:00:00+02:00\"}}");
	char *got = call(f, ROOT, "io.standingd.Ops.ListStandingOrders", NULL);
	assert_non_null(strstr(got, "{\"id\":\"api-so\",\"customer\":\"acme\",\"supplier\":\"lumen\",\"source\":\"api\","
				    "\"placed_by\":\"ops:root\",\"timezone\":\"Europe/Helsinki\",\"paused\":false,"
				    "\"next_delivery\":\"2027-02-07T10:00:00+02:00\""));
	free(got);
	/* due at once: created before the reply (create_at 2026-11-27T08:00Z < now); the
	 * next delivery is the next one to be created, as ListStandingOrders says */
	EXPECT(f, SHOP, method, STANDING("shop-so", "2026-11-29", "1"),
	       "{\"parameters\":{\"standing_order\":\"shop-so\",\"next_delivery\":\"2026-12-29T10:00:00+02:00\"}}");
	EXPECT(f, SHOP, "io.standingd.Orders.ListOrders", "{\"standing_order\":\"shop-so\"}",
	       "{\"parameters\":{\"orders\":[{\"order\":\"" SO3 "\",\"standing_order\":\"shop-so\",\"customer\":\"acme\","
	       "\"supplier\":\"lumen\",\"ship_to\":" SHIP_API ",\"lines\":[{\"sku\":\"LAMP\",\"quantity\":1,"
	       "\"unit_price\":\"12.00\",\"currency\":\"EUR\",\"net\":\"12.00\"}],\"total\":{\"amount\":\"12.00\",\"currency\":\"EUR\"},"
	       "\"delivery\":\"2026-11-29T10:00:00+02:00\",\"created\":\"2026-11-28T12:00:00Z\",\"payment\":\"account\","
	       "\"status\":\"confirmed\",\"late\":true," UNSHIPPED PAY("12.00", "EUR", "null", "null", BY_ENGINE) "}]}}");
	EXPECT(f, ROOT, "io.standingd.Ops.Status", NULL,
	       "{\"parameters\":{\"version\":\"" STANDINGD_VERSION "\",\"now\":\"2026-11-28T12:00:00Z\",\"customers\":3,"
	       "\"standing_orders\":4,\"active\":4,\"paused\":0,\"orders\":3,\"outbox_backlog\":3,"
	       "\"outbox_pending\":3,\"outbox_parked\":0,\"outbox_oldest_pending_age\":0,"
	       "\"next_due\":\"2026-12-04T02:30:00Z\",\"next_standing_order\":\"coffee\",\"max_loop_step_ms\":0.0,\"max_loop_step_cpu_ms\":0.0,"
	       "\"workers\":0,\"workers_busy\":0,\"calls_waiting\":0}}");
	/* replaced after its next occurrence was skipped, or paused: next_delivery is
	 * what will be created (ListStandingOrders' next_delivery), none when paused */
	OK(f, ROOT, "io.standingd.Orders.SkipOccurrence", SKIP("api-so", "2027-02-07T10:00:00+02:00"));
	EXPECT(f, ROOT, method, STANDING("api-so", "2027-02-07", "5"),
	       "{\"parameters\":{\"standing_order\":\"api-so\",\"next_delivery\":\"2027-03-07T10:00:00+02:00\"}}");
	EXPECT(f, ROOT, method,
	       "{\"definition\":{\"id\":\"halted\",\"customer\":\"acme\",\"supplier\":\"lumen\",\"ship_to\":{\"name\":\"A\","
	       "\"street\":\"K 1\",\"city\":\"H\",\"country\":\"FI\"},\"lines\":[{\"sku\":\"L\",\"quantity\":1,"
	       "\"unit_price\":\"1.00 EUR\"}],\"payment\":\"account\",\"schedule\":{\"every\":\"1 month\","
	       "\"start\":\"2027-01-05\",\"at\":\"10:00\",\"paused\":true}}}",
	       "{\"parameters\":{\"standing_order\":\"halted\",\"next_delivery\":null}}");
	got = call(f, ROOT, "io.standingd.Ops.ListStandingOrders", NULL);
	assert_non_null(strstr(got, "\"next_delivery\":\"2027-03-07T10:00:00+02:00\""));
	assert_non_null(strstr(got, "{\"id\":\"halted\",\"customer\":\"acme\",\"supplier\":\"lumen\",\"source\":\"api\","
				    "\"placed_by\":\"ops:root\",\"timezone\":\"Europe/Helsinki\",\"paused\":true,"
				    "\"next_delivery\":null,\"next_create_at\":null,"));
	free(got);
	OK(f, ROOT, "io.standingd.Orders.CancelStandingOrder", "{\"standing_order\":\"halted\"}");
	/* every error with its field, nothing applied */
	EXPECT(f, ROOT, method,
	       "{\"definition\":{\"id\":\"bad\",\"customer\":\"nobody\",\"supplier\":\"lumen\",\"ship_to\":{\"name\":\"A\","
	       "\"street\":\"K 1\",\"city\":\"H\",\"country\":\"FI\"},\"lines\":[{\"sku\":\"L\",\"quantity\":0,"
	       "\"unit_price\":\"12.00 EUR\"}],\"payment\":\"account\",\"schedule\":{\"every\":\"1 month\","
	       "\"start\":\"2027-01-05\",\"at\":\"10:00\",\"lead_time\":\"2 days\"}}}",
	       "{\"error\":\"io.standingd.Orders.InvalidDefinition\",\"parameters\":{\"errors\":["
	       "{\"field\":\"customer\",\"message\":\"unknown customer \\\"nobody\\\"\"},"
	       "{\"field\":\"lines[0].quantity\",\"message\":\"expected a positive integer\"}]}}");
	EXPECT(f, ROOT, method, "{\"definition\":{\"id\":5}}",
	       "{\"error\":\"io.standingd.Orders.InvalidDefinition\",\"parameters\":{\"errors\":["
	       "{\"field\":\"id\",\"message\":\"expected a string\"}]}}");
	EXPECT(f, ROOT, method, STANDING("bulbs", "2027-01-05", "2"),
	       "{\"error\":\"io.standingd.Orders.InvalidDefinition\",\"parameters\":{\"errors\":[{\"field\":\"id\","
	       "\"message\":\"duplicate standing order id \\\"bulbs\\\" (first defined at orders.d/a.yaml:13:9)\"}]}}");
	EXPECT(f, ROOT, method, NULL, INVALID("definition"));
	EXPECT(f, ROOT, method, "{\"definition\":[]}", INVALID("definition"));
	EXPECT(f, ROOT, method, "{\"definition\":{},\"x\":1}", INVALID("x"));
	got = call(f, ROOT, "io.standingd.Ops.Status", NULL);
	assert_non_null(strstr(got, "\"standing_orders\":4,\"active\":4,"));
	free(got);
}

static void cancel_standing_order(void **state) {
	fixture *f = *state;
	const char *method = "io.standingd.Orders.CancelStandingOrder";
	OK(f, ROOT, "io.standingd.Orders.PlaceStandingOrder", STANDING("api-so", "2027-01-05", "2"));
	EXPECT(f, ROOT, method, "{\"standing_order\":\"api-so\"}", OK_EMPTY);
	EXPECT(f, ROOT, "io.standingd.Ops.ListStandingOrders", NULL,
	       "{\"parameters\":{\"standing_orders\":[" LISTED_BULBS_START "," LISTED_COFFEE "]}}");
	EXPECT(f, ROOT, method, "{\"standing_order\":\"api-so\"}",
	       "{\"error\":\"io.standingd.Orders.StandingOrderNotFound\",\"parameters\":{\"standing_order\":\"api-so\"}}");
	EXPECT(f, ROOT, method, "{\"standing_order\":\"bulbs\"}",
	       "{\"error\":\"io.standingd.Orders.DefinedInFile\",\"parameters\":{\"standing_order\":\"bulbs\","
	       "\"file\":\"orders.d/a.yaml\",\"line\":13}}");
	EXPECT(f, ROOT, method, NULL, INVALID("standing_order"));
	EXPECT(f, ROOT, method, "{\"standing_order\":7}", INVALID("standing_order"));
	EXPECT(f, ROOT, method, "{\"standing_order\":\"bulbs\",\"now\":true}", INVALID("now"));
}

static void skip_occurrence(void **state) {
	fixture *f = *state;
	const char *method = "io.standingd.Orders.SkipOccurrence";
	EXPECT(f, ROOT, method, SKIP("bulbs", "2027-02-01T06:00:00+02:00"),
	       "{\"parameters\":{\"standing_order\":\"bulbs\",\"delivery\":\"2027-02-01T06:00:00+02:00\"}}");
	/* again: the same answer; the same instant in UTC names the same occurrence */
	EXPECT(f, ROOT, method, SKIP("bulbs", "2027-02-01T04:00:00Z"),
	       "{\"parameters\":{\"standing_order\":\"bulbs\",\"delivery\":\"2027-02-01T06:00:00+02:00\"}}");
	EXPECT(f, ROOT, "io.standingd.Supplier.ListUpcoming", "{\"from\":\"2027-01-31\",\"to\":\"2027-02-02\",\"supplier\":\"lumen\"}",
	       "{\"parameters\":{\"shipments\":[]}}");
	/* left out of what is next and of the forecast (what was or will be created) */
	EXPECT(f, ROOT, "io.standingd.Ops.ListStandingOrders", NULL,
	       "{\"parameters\":{\"standing_orders\":[" LISTED_BULBS("2027-04-01T06:00:00+03:00", "2027-03-27T03:00:00Z", "1", "0")
	       "," LISTED_COFFEE "]}}");
	EXPECT(f, ROOT, "io.standingd.Ops.Forecast", "{\"from\":\"2027-01-31\",\"to\":\"2027-02-02\"}",
	       "{\"parameters\":{\"occurrences\":[" OCC_COFFEE("2027-01-31T03:30:00+01:00", "2027-01-29T02:30:00Z") "]}}");
	/* a skipped next occurrence is not Status's next_due */
	OK(f, ROOT, "io.standingd.Orders.SkipOccurrence", SKIP("coffee", "2026-12-06T03:30:00+01:00"));
	char *st = call(f, ROOT, "io.standingd.Ops.Status", NULL);
	assert_non_null(strstr(st, ",\"next_due\":\"2026-12-11T02:30:00Z\",\"next_standing_order\":\"coffee\","));
	free(st);
	/* when the clock passes it, it is skipped instead of created */
	f->d.now = INT64_C(1801000000);   /* 2027-01-26T21:46:40Z */
	assert_true(inproc_run_due(&f->d) >= 0);
	f->d.now = INT64_C(1801100000);   /* 2027-01-28T01:33:20Z: past bulbs' create_at */
	assert_true(inproc_run_due(&f->d) >= 0);
	char *got = call(f, ROOT, "io.standingd.Ops.ListStandingOrders", NULL);
	assert_non_null(strstr(got, LISTED_BULBS("2027-04-01T06:00:00+03:00", "2027-03-27T03:00:00Z", "1", "1")));
	free(got);
	got = call(f, ROOT, "io.standingd.Orders.ListOrders", "{\"standing_order\":\"bulbs\"}");
	assert_string_equal(got, "{\"parameters\":{\"orders\":[" ORDER_SO1("confirmed", UNSHIPPED, BY_ENGINE) "]}}");
	free(got);
	f->d.now = NOW;
	/* errors */
	EXPECT(f, ROOT, method, SKIP("bulbs", "2027-02-02T06:00:00+02:00"),
	       "{\"error\":\"io.standingd.Orders.NoSuchOccurrence\",\"parameters\":{\"standing_order\":\"bulbs\","
	       "\"delivery\":\"2027-02-02T06:00:00+02:00\"}}");
	EXPECT(f, ROOT, method, SKIP("bulbs", "2026-12-01T06:00:00+02:00"),
	       "{\"error\":\"io.standingd.Orders.AlreadyCreated\",\"parameters\":{\"standing_order\":\"bulbs\","
	       "\"delivery\":\"2026-12-01T06:00:00+02:00\",\"order\":\"" SO1 "\"}}");
	EXPECT(f, ROOT, method, SKIP("nope", "2026-12-01T06:00:00+02:00"),
	       "{\"error\":\"io.standingd.Orders.StandingOrderNotFound\",\"parameters\":{\"standing_order\":\"nope\"}}");
	EXPECT(f, ROOT, method, SKIP("bulbs", "tomorrow"), INVALID("delivery"));
	EXPECT(f, ROOT, method, SKIP("bulbs", "2027-02-01"), INVALID("delivery"));
	EXPECT(f, ROOT, method, "{\"standing_order\":\"bulbs\"}", INVALID("delivery"));
	EXPECT(f, ROOT, method, "{\"delivery\":\"2027-02-01T04:00:00Z\"}", INVALID("standing_order"));
}

static void place_order(void **state) {
	fixture *f = *state;
	const char *method = "io.standingd.Orders.PlaceOrder";
	EXPECT(f, SHOP, method, ONE_TIME, "{\"parameters\":{\"order\":" ORDER_ONE_TIME(SO3, "shop:shop1") "}}");
	EXPECT(f, ROOT, method, ONE_TIME_WITH("acme", "\"payment\":\"prepaid\","),
	       "{\"parameters\":{\"order\":" ORDER_ONE_TIME_AS(SO4, "prepaid", "awaiting_payment",
	       "{\"amount\":\"3.75\",\"currency\":\"EUR\"}", "\"RF50000000045\"" /* ISO 11649 over 000000045 */, "ops:root")
	       "}}");
	/* four order.created, and the prepaid one's order.awaiting_payment */
	EXPECT(f, ROOT, "io.standingd.Ops.Status", NULL, STATUS("2", "2", "4", "5"));
	/* a customer without an account pays in advance */
	char *got = call(f, OPS_GROUP, method, ONE_TIME_WITH("cash", "\"payment\":\"prepaid\","));
	assert_non_null(strstr(got, "\"customer\":\"cash\","));
	assert_non_null(strstr(got, "\"payment\":\"prepaid\",\"status\":\"awaiting_payment\""));
	free(got);
	/* every field error at once, sorted by field */
	EXPECT(f, SHOP, method,
	       "{\"customer\":\"cash\",\"supplier\":\"nope\",\"payment\":\"account\",\"delivery\":\"soon\","
	       "\"ship_to\":{\"name\":\"ACME\",\"street\":\"Katu 1\",\"city\":\"Helsinki\",\"country\":\"XX\"},\"lines\":[]}",
	       "{\"error\":\"io.standingd.Orders.InvalidOrder\",\"parameters\":{\"errors\":["
	       "{\"field\":\"delivery\",\"message\":\"expected a date YYYY-MM-DD or an instant, got \\\"soon\\\"\"},"
	       "{\"field\":\"lines\",\"message\":\"expected at least one line\"},"
	       "{\"field\":\"payment\",\"message\":\"customer \\\"cash\\\" has no account: use prepaid\"},"
	       "{\"field\":\"supplier\",\"message\":\"unknown supplier \\\"nope\\\"\"}]}}");
	EXPECT(f, SHOP, method, ONE_TIME_WITH("nobody", "\"payment\":\"cheque\","),
	       "{\"error\":\"io.standingd.Orders.InvalidOrder\",\"parameters\":{\"errors\":["
	       "{\"field\":\"customer\",\"message\":\"unknown customer \\\"nobody\\\"\"},"
	       "{\"field\":\"payment\",\"message\":\"expected one of account, prepaid, got \\\"cheque\\\"\"}]}}");
	/* a delivery before now: a date is its midnight in the customer's zone */
	EXPECT(f, SHOP, method,
	       "{\"customer\":\"acme\",\"supplier\":\"lumen\",\"delivery\":\"2026-11-28\",\"ship_to\":{\"name\":\"A\","
	       "\"street\":\"K 1\",\"city\":\"H\",\"country\":\"FI\"},\"lines\":[{\"sku\":\"L\",\"quantity\":1,"
	       "\"unit_price\":\"1.00\",\"currency\":\"EUR\"}]}",
	       "{\"error\":\"io.standingd.Orders.InvalidOrder\",\"parameters\":{\"errors\":[{\"field\":\"delivery\","
	       "\"message\":\"\\\"2026-11-28\\\" is in the past (now is 2026-11-28T12:00:00Z)\"}]}}");
	EXPECT(f, SHOP, method, "{\"supplier\":\"lumen\"}", INVALID("customer"));
	EXPECT(f, SHOP, method, "{\"customer\":\"acme\",\"supplier\":\"lumen\",\"ship_to\":[]}", INVALID("ship_to"));
	EXPECT(f, SHOP, method, "{\"customer\":\"acme\",\"supplier\":\"lumen\",\"ship_to\":{},\"lines\":{}}", INVALID("lines"));
	EXPECT(f, SHOP, method, "{\"customer\":\"acme\",\"supplier\":\"lumen\",\"ship_to\":{},\"lines\":[]}", INVALID("delivery"));
	EXPECT(f, SHOP, method, "{\"customer\":\"acme\",\"coupon\":\"X\"}", INVALID("coupon"));
	/* nothing was stored for them */
	/* (cash's prepaid order: order.created and order.awaiting_payment) */
	EXPECT(f, ROOT, "io.standingd.Ops.Status", NULL, STATUS("2", "2", "5", "7"));
}

static void get_order(void **state) {
	fixture *f = *state;
	const char *method = "io.standingd.Orders.GetOrder";
	EXPECT(f, ROOT, method, "{\"order\":\"" SO1 "\"}", "{\"parameters\":{\"order\":" ORDER_SO1("confirmed", UNSHIPPED, BY_ENGINE) "}}");
	EXPECT(f, OPS_GROUP, method, "{\"order\":\"" SO2 "\"}", "{\"parameters\":{\"order\":" ORDER_SO2("confirmed", UNSHIPPED, BY_ENGINE) "}}");
	OK(f, SHOP, "io.standingd.Orders.PlaceOrder", ONE_TIME);
	EXPECT(f, SHOP, method, "{\"order\":\"" SO3 "\"}", "{\"parameters\":{\"order\":" ORDER_ONE_TIME(SO3, "shop:shop1") "}}");
	EXPECT(f, ROOT, method, "{\"order\":\"" SO9 "\"}",
	       "{\"error\":\"io.standingd.Orders.OrderNotFound\",\"parameters\":{\"order\":\"" SO9 "\"}}");
	EXPECT(f, ROOT, method, "{\"order\":\"SO-00000009-1\"}", INVALID("order"));
	EXPECT(f, ROOT, method, "{\"order\":\"x\"}", INVALID("order"));
	EXPECT(f, ROOT, method, NULL, INVALID("order"));
	EXPECT(f, ROOT, method, "{\"order\":\"" SO1 "\",\"full\":true}", INVALID("full"));
}

static void list_orders(void **state) {
	fixture *f = *state;
	const char *method = "io.standingd.Orders.ListOrders";
	OK(f, SHOP, "io.standingd.Orders.PlaceOrder", ONE_TIME);
	OK(f, SUPPLIER_A, "io.standingd.Supplier.MarkShipped", SHIP(SO1, "DHL", "JD1"));
#define ALL3 ORDER_SO2("confirmed", UNSHIPPED, BY_ENGINE) "," ORDER_SO1("shipped", SHIPPED_DHL, BY_LUMEN) "," ORDER_ONE_TIME(SO3, "shop:shop1")
	/* by delivery, built in steps */
	EXPECT(f, ROOT, method, NULL, "{\"parameters\":{\"orders\":[" ALL3 "]}}");
	assert_true(f->steps >= 2);
	/* with "more" and fewer than a chunk's items: one reply */
	char *got = call_msg(f, ROOT, "{\"method\":\"io.standingd.Orders.ListOrders\",\"more\":true}");
	assert_string_equal(got, "{\"parameters\":{\"orders\":[" ALL3 "]}}");
	free(got);
	EXPECT(f, ROOT, method, "{\"customer\":\"acme\"}",
	       "{\"parameters\":{\"orders\":[" ORDER_SO1("shipped", SHIPPED_DHL, BY_LUMEN) "," ORDER_ONE_TIME(SO3, "shop:shop1") "]}}");
	EXPECT(f, ROOT, method, "{\"supplier\":\"kaffe\"}", "{\"parameters\":{\"orders\":[" ORDER_SO2("confirmed", UNSHIPPED, BY_ENGINE) "]}}");
	EXPECT(f, ROOT, method, "{\"standing_order\":\"bulbs\"}",
	       "{\"parameters\":{\"orders\":[" ORDER_SO1("shipped", SHIPPED_DHL, BY_LUMEN) "]}}");
	EXPECT(f, ROOT, method, "{\"status\":\"shipped\"}", "{\"parameters\":{\"orders\":[" ORDER_SO1("shipped", SHIPPED_DHL, BY_LUMEN) "]}}");
	EXPECT(f, ROOT, method, "{\"status\":\"cancelled\"}", "{\"parameters\":{\"orders\":[]}}");
	EXPECT(f, ROOT, method, "{\"customer\":\"acme\",\"status\":\"confirmed\"}",
	       "{\"parameters\":{\"orders\":[" ORDER_ONE_TIME(SO3, "shop:shop1") "]}}");
	/* a window of local dates: 2026-11-29 in Oslo ends at 23:00Z */
	EXPECT(f, ROOT, method, "{\"from\":\"2026-11-29\",\"to\":\"2026-11-30\"}",
	       "{\"parameters\":{\"orders\":[" ORDER_SO2("confirmed", UNSHIPPED, BY_ENGINE) "]}}");
	EXPECT(f, ROOT, method, "{\"from\":\"2026-11-30\",\"to\":\"2027-01-11\"}",
	       "{\"parameters\":{\"orders\":[" ORDER_SO1("shipped", SHIPPED_DHL, BY_LUMEN) "," ORDER_ONE_TIME(SO3, "shop:shop1") "]}}");
	EXPECT(f, ROOT, method, "{\"status\":\"lost\"}", INVALID("status"));
	EXPECT(f, ROOT, method, "{\"status\":1}", INVALID("status"));
	EXPECT(f, ROOT, method, "{\"to\":\"2027-01-11\"}", INVALID("from"));
	EXPECT(f, ROOT, method, "{\"from\":\"2027-01-11\",\"to\":\"2027-01-01\"}", INVALID("to"));
	EXPECT(f, ROOT, method, "{\"page\":2}", INVALID("page"));
}

/* ---- io.standingd.Ops ---- */

static double step_ms(void *ud) {
	(void) ud;
	return 12.5;
}

static double step_cpu_ms(void *ud) {
	(void) ud;
	return 7.25;
}

static void pool(void *ud, unsigned *ret_threads, unsigned *ret_busy, unsigned *ret_waiting) {
	(void) ud;
	*ret_threads = 3;
	*ret_busy = 2;
	*ret_waiting = 7;
}

static void status(void **state) {
	fixture *f = *state;
	EXPECT(f, ROOT, "io.standingd.Ops.Status", NULL, STATUS("2", "2", "2", "2"));
	f->d.env.max_loop_step_ms = step_ms;
	f->d.env.max_loop_step_cpu_ms = step_cpu_ms;
	f->d.env.workers = pool;
	EXPECT(f, SELF, "io.standingd.Ops.Status", NULL,
	       "{\"parameters\":{\"version\":\"" STANDINGD_VERSION "\",\"now\":\"2026-11-28T12:00:00Z\",\"customers\":3,\"standing_orders\":2,"
	       "\"active\":2,\"paused\":0,\"orders\":2,\"outbox_backlog\":2,\"outbox_pending\":2,\"outbox_parked\":0,"
	       "\"outbox_oldest_pending_age\":0,\"next_due\":\"2026-12-04T02:30:00Z\","
	       "\"next_standing_order\":\"coffee\",\"max_loop_step_ms\":12.5,\"max_loop_step_cpu_ms\":7.25,"
	       "\"workers\":3,\"workers_busy\":2,\"calls_waiting\":7}}");
	EXPECT(f, ROOT, "io.standingd.Ops.Status", "{\"x\":1}", INVALID("x"));
}

/* ---- the outbox (issue 10): Status's counts, ListOutbox, RetryOutbox ---- */

static int woken;
static void outbox_wake(void *ud) {
	(void) ud;
	woken++;
}

static void expect_field(fixture *f, const char *method, const char *params, const char *key, const char *want) {
	char *got = call(f, ROOT, method, params);
	char *v = reply_field(got, key);
	if (strcmp(v, want))
		fprintf(stderr, "%s: %s\n", key, got);
	assert_string_equal(v, want);
	free(v);
	free(got);
}

static void outbox_methods(void **state) {
	fixture *f = *state;
	const char *list = "io.standingd.Ops.ListOutbox", *retry = "io.standingd.Ops.RetryOutbox";
	char inst[STORE_INSTANCE_LEN + 1], want[2048], params[128];
	assert_int_equal(store_instance(f->d.store, inst), 0);
	f->d.env.outbox_wake = outbox_wake;
	/* the two orders created at start are pending; an hour later their age is 3600 s */
	f->d.now = NOW + 3600;
	expect_field(f, "io.standingd.Ops.Status", NULL, "outbox_oldest_pending_age", "3600");
	snprintf(want, sizeof(want),
		 "{\"parameters\":{\"events\":[{\"id\":\"%s-1\",\"seq\":1,\"type\":\"order.created\","
		 "\"at\":\"2026-11-28T12:00:00Z\",\"order\":\"" SO1 "\",\"customer\":\"acme\",\"task\":null,\"attempts\":0,"
		 "\"next_attempt\":null,\"last_error\":null,\"parked\":false,\"parked_at\":null}],\"more\":true}}", inst);
	EXPECT(f, ROOT, list, "{\"limit\":1}", want);
	/* event 1 fails for good: parked; event 2 backs off 10 s + its jitter for rnd 42 (1 s) */
	outbox_result r[] = { { .seq = 1, .outcome = OUTBOX_PERMANENT, .error = "550 5.1.1 unknown" },
			      { .seq = 2, .outcome = OUTBOX_FAILED, .error = "exit status 75" } };
	assert_int_equal(outbox_done(f->d.store, r, 2, NOW + 3600, 20, 42), 0);
	snprintf(want, sizeof(want),
		 "{\"parameters\":{\"events\":[{\"id\":\"%s-2\",\"seq\":2,\"type\":\"order.created\","
		 "\"at\":\"2026-11-28T12:00:00Z\",\"order\":\"" SO2 "\",\"customer\":\"tromso\",\"task\":null,\"attempts\":1,"
		 "\"next_attempt\":\"2026-11-28T13:00:11Z\",\"last_error\":\"exit status 75\",\"parked\":false,"
		 "\"parked_at\":null}],\"more\":false}}", inst);
	EXPECT(f, ROOT, list, NULL, want);
	EXPECT(f, ROOT, list, "{\"parked\":false,\"after\":1,\"limit\":1000}", want);
	EXPECT(f, ROOT, list, "{\"after\":2}", "{\"parameters\":{\"events\":[],\"more\":false}}");
	snprintf(want, sizeof(want),
		 "{\"parameters\":{\"events\":[{\"id\":\"%s-1\",\"seq\":1,\"type\":\"order.created\","
		 "\"at\":\"2026-11-28T12:00:00Z\",\"order\":\"" SO1 "\",\"customer\":\"acme\",\"task\":null,\"attempts\":1,"
		 "\"next_attempt\":null,\"last_error\":\"550 5.1.1 unknown\",\"parked\":true,"
		 "\"parked_at\":\"2026-11-28T13:00:00Z\"}],\"more\":false}}", inst);
	EXPECT(f, ROOT, list, "{\"parked\":true}", want);
	expect_field(f, "io.standingd.Ops.Status", NULL, "outbox_pending", "1");
	expect_field(f, "io.standingd.Ops.Status", NULL, "outbox_backlog", "1");
	expect_field(f, "io.standingd.Ops.Status", NULL, "outbox_parked", "1");
	expect_field(f, "io.standingd.Ops.Status", NULL, "outbox_oldest_pending_age", "3600");
	EXPECT(f, ROOT, list, "{\"limit\":0}", INVALID("limit"));
	EXPECT(f, ROOT, list, "{\"limit\":1001}", INVALID("limit"));
	EXPECT(f, ROOT, list, "{\"after\":-1}", INVALID("after"));
	EXPECT(f, ROOT, list, "{\"parked\":1}", INVALID("parked"));
	EXPECT(f, ROOT, list, "{\"id\":\"x\"}", INVALID("id"));

	/* RetryOutbox: exactly one of id and all: true */
	EXPECT(f, ROOT, retry, NULL, INVALID("id"));
	EXPECT(f, ROOT, retry, "{\"id\":\"1\",\"all\":true}", INVALID("all"));
	EXPECT(f, ROOT, retry, "{\"all\":false}", INVALID("all"));
	EXPECT(f, ROOT, retry, "{\"id\":7}", INVALID("id"));
	EXPECT(f, ROOT, retry, "{\"id\":\"nope\"}",
	       "{\"error\":\"io.standingd.Ops.NoSuchEvent\",\"parameters\":{\"id\":\"nope\"}}");
	snprintf(params, sizeof(params), "{\"id\":\"%s-2\"}", inst);   /* pending, not parked */
	snprintf(want, sizeof(want), "{\"error\":\"io.standingd.Ops.NoSuchEvent\",\"parameters\":{\"id\":\"%s-2\"}}", inst);
	EXPECT(f, ROOT, retry, params, want);
	assert_int_equal(woken, 0);
	snprintf(params, sizeof(params), "{\"id\":\"%s-1\"}", inst);
	EXPECT(f, OPS_GROUP, retry, params, "{\"parameters\":{\"retried\":1}}");
	assert_int_equal(woken, 1);
	/* pending again now: a second retry finds nothing parked */
	snprintf(want, sizeof(want), "{\"error\":\"io.standingd.Ops.NoSuchEvent\",\"parameters\":{\"id\":\"%s-1\"}}", inst);
	EXPECT(f, ROOT, retry, params, want);
	EXPECT(f, ROOT, retry, "{\"all\":true}", "{\"parameters\":{\"retried\":0}}");
	assert_int_equal(woken, 1);
	expect_field(f, "io.standingd.Ops.Status", NULL, "outbox_pending", "2");
	expect_field(f, "io.standingd.Ops.Status", NULL, "outbox_parked", "0");
	f->d.now = NOW;
}

static void reload(void **state) {
	fixture *f = *state;
	const char *method = "io.standingd.Ops.Reload";
	EXPECT(f, ROOT, method, NULL, "{\"parameters\":{\"customers\":3,\"standing_orders\":2}}");
	/* a new file: applied, and what it makes due is created */
	tmpdir_write(f->conf, "orders.d/b.yaml",
		   "standing_orders:\n"
		   "  - id: paper\n"
		   "    customer: acme\n"
		   "    supplier: lumen\n"
		   "    ship_to: {name: Varasto, street: Katu 1, city: Helsinki, country: FI}\n"
		   "    lines: [{sku: A4, quantity: 5, unit_price: \"4.00 EUR\"}]\n"
		   "    payment: account\n"
		   "    schedule: {every: 1 month, start: 2026-11-30, at: \"08:00\", lead_time: 3 days}\n");
	EXPECT(f, OPS_GROUP, method, NULL, "{\"parameters\":{\"customers\":3,\"standing_orders\":3}}");
	EXPECT(f, ROOT, "io.standingd.Orders.ListOrders", "{\"standing_order\":\"paper\"}",
	       "{\"parameters\":{\"orders\":[{\"order\":\"" SO3 "\",\"standing_order\":\"paper\",\"customer\":\"acme\","
	       "\"supplier\":\"lumen\",\"ship_to\":{\"name\":\"Varasto\",\"street\":\"Katu 1\",\"postcode\":null,"
	       "\"city\":\"Helsinki\",\"country\":\"FI\"},\"lines\":[{\"sku\":\"A4\",\"quantity\":5,\"unit_price\":\"4.00\","
	       "\"currency\":\"EUR\",\"net\":\"20.00\"}],\"total\":{\"amount\":\"20.00\",\"currency\":\"EUR\"},"
	       "\"delivery\":\"2026-11-30T08:00:00+02:00\",\"created\":\"2026-11-28T12:00:00Z\",\"payment\":\"account\","
	       "\"status\":\"confirmed\",\"late\":true," UNSHIPPED PAY("20.00", "EUR", "null", "null", BY_ENGINE) "}]}}");
	/* a broken file: every error at FILE:LINE:COL, the running set kept */
	tmpdir_write(f->conf, "orders.d/b.yaml", "standing_orders:\n  - id: x\n    customer: nobody\n");
	EXPECT(f, SELF, method, NULL,
	       "{\"error\":\"io.standingd.Ops.InvalidDefinitions\",\"parameters\":{\"errors\":["
	       "\"orders.d/b.yaml:2:5: missing key \\\"supplier\\\"\",\"orders.d/b.yaml:2:5: missing key \\\"ship_to\\\"\","
	       "\"orders.d/b.yaml:2:5: missing key \\\"lines\\\"\",\"orders.d/b.yaml:2:5: missing key \\\"payment\\\"\","
	       "\"orders.d/b.yaml:2:5: missing key \\\"schedule\\\"\",\"orders.d/b.yaml:3:15: unknown customer \\\"nobody\\\"\"]}}");
	char *got = call(f, ROOT, "io.standingd.Ops.Status", NULL);
	assert_non_null(strstr(got, "\"standing_orders\":3,\"active\":3,\"paused\":0,\"orders\":3,"));
	free(got);
	EXPECT(f, ROOT, method, "{\"force\":true}", INVALID("force"));
	/* roles come from the running config: a reload that moves lumen to another user
	 * takes supplier A's role away at once */
	tmpdir_write(f->conf, "orders.d/b.yaml", "customers: []\n");
	char *yaml = strdup(CONFIG);
	char *at = strstr(yaml, "users: [lumen-a]");
	assert_non_null(at);
	memcpy(at, "users: [lumen-z]", 16);
	tmpdir_write(f->conf, "standingd.yaml", yaml);
	free(yaml);
	OK(f, SUPPLIER_A, "io.standingd.Supplier.ListUpcoming", WINDOW);
	EXPECT(f, ROOT, method, NULL, "{\"parameters\":{\"customers\":3,\"standing_orders\":2}}");
	EXPECT(f, SUPPLIER_A, "io.standingd.Supplier.ListUpcoming", WINDOW, DENIED);
}

static void list_standing_orders(void **state) {
	fixture *f = *state;
	EXPECT(f, ROOT, "io.standingd.Ops.ListStandingOrders", NULL,
	       "{\"parameters\":{\"standing_orders\":[" LISTED_BULBS_START "," LISTED_COFFEE "]}}");
	assert_true(f->steps >= 2);
	EXPECT(f, ROOT, "io.standingd.Ops.ListStandingOrders", "{\"id\":\"bulbs\"}", INVALID("id"));
}

static void forecast(void **state) {
	fixture *f = *state;
	const char *method = "io.standingd.Ops.Forecast";
	EXPECT(f, ROOT, method, WINDOW,
	       "{\"parameters\":{\"occurrences\":["
	       OCC_COFFEE("2026-11-29T03:30:00+01:00", "2026-11-27T02:30:00Z") ","
	       OCC_BULBS("2026-12-01T06:00:00+02:00", "2026-11-26T04:00:00Z") ","
	       OCC_COFFEE("2026-12-06T03:30:00+01:00", "2026-12-04T02:30:00Z") ","
	       OCC_COFFEE("2026-12-13T03:30:00+01:00", "2026-12-11T02:30:00Z") "]}}");
	assert_true(f->steps >= 2);
	EXPECT(f, ROOT, method, "{\"from\":\"2027-01-31\",\"to\":\"2027-02-02\"}",
	       "{\"parameters\":{\"occurrences\":["
	       OCC_COFFEE("2027-01-31T03:30:00+01:00", "2027-01-29T02:30:00Z") ","
	       OCC_BULBS("2027-02-01T06:00:00+02:00", "2027-01-27T04:00:00Z") "]}}");
	OK(f, ROOT, method, "{\"from\":\"2026-11-28\",\"to\":\"2028-01-02\"}");   /* 400 days */
	EXPECT(f, ROOT, method, "{\"from\":\"2026-11-28\",\"to\":\"2028-01-03\"}", INVALID("to"));
	EXPECT(f, ROOT, method, "{\"from\":\"2027-01-31\",\"to\":\"2027-01-31\"}", INVALID("to"));
	EXPECT(f, ROOT, method, "{\"from\":\"2027-01-31T00:00:00Z\",\"to\":\"2027-02-02\"}", INVALID("from"));
	EXPECT(f, ROOT, method, "{\"from\":\"2027-01-31\"}", INVALID("to"));
	EXPECT(f, ROOT, method, "{\"to\":\"2027-01-31\"}", INVALID("from"));
	EXPECT(f, ROOT, method, "{\"from\":\"2027-01-31\",\"to\":\"2027-02-02\",\"supplier\":\"lumen\"}", INVALID("supplier"));
}

/* ---- long lists: the item cap, parts with "more" ---- */

static void long_lists(void **state) {
	fixture *f = *state;
	tmpdir_write(f->conf, "orders.d/b.yaml",
		   "standing_orders:\n"
		   "  - id: minutely\n"
		   "    customer: acme\n"
		   "    supplier: lumen\n"
		   "    ship_to: {name: V, street: K 1, city: Helsinki, country: FI}\n"
		   "    lines: [{sku: X, quantity: 1, unit_price: \"1.00 EUR\"}]\n"
		   "    payment: account\n"
		   "    schedule: {every: 1 minute, start: 2027-01-01}\n");
	EXPECT(f, ROOT, "io.standingd.Ops.Reload", NULL, "{\"parameters\":{\"customers\":3,\"standing_orders\":3}}");
	/* 14 days of minutes: more than 20,000 */
	const char *fortnight = "{\"from\":\"2027-01-01\",\"to\":\"2027-01-15\"}";
	EXPECT(f, ROOT, "io.standingd.Ops.Forecast", fortnight,
	       "{\"error\":\"io.standingd.Ops.TooManyOccurrences\",\"parameters\":{\"limit\":20000}}");
	EXPECT(f, ROOT, "io.standingd.Supplier.ListUpcoming", fortnight,
	       "{\"error\":\"io.standingd.Supplier.TooManyShipments\",\"parameters\":{\"limit\":20000}}");
	EXPECT(f, SUPPLIER_A, "io.standingd.Supplier.ListUpcoming", fortnight,
	       "{\"error\":\"io.standingd.Supplier.TooManyShipments\",\"parameters\":{\"limit\":20000}}");
	/* another supplier's list is not capped by lumen's minutes */
	char *got = call(f, SUPPLIER_B, "io.standingd.Supplier.ListUpcoming", fortnight);
	const char *head = "{\"parameters\":{\"shipments\":[";
	assert_int_equal(strncmp(got, head, strlen(head)), 0);
	free(got);
	/* a day of minutes with "more": parts of 100, all but the last with continues */
	got = call_msg(f, ROOT, "{\"method\":\"io.standingd.Ops.Forecast\",\"parameters\":"
			       "{\"from\":\"2027-01-01\",\"to\":\"2027-01-02\"},\"more\":true}");
	size_t parts = 0, items = 0;
	char *save = NULL;
	for (char *line = strtok_r(got, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_error_t e;
		json_t *j = json_loads(line, 0, &e);
		assert_non_null(j);
		size_t n = json_array_size(json_object_get(json_object_get(j, "parameters"), "occurrences"));
		bool continues = json_is_true(json_object_get(j, "continues"));
		parts++;
		items += n;
		assert_int_equal(n, parts < 15 ? 100 : 40);
		assert_int_equal(continues, parts < 15);
		if (parts == 1)
			assert_non_null(strstr(line, "[{\"standing_order\":\"minutely\",\"customer\":\"acme\",\"supplier\":\"lumen\","
						     "\"delivery\":\"2027-01-01T00:00:00+02:00\",\"create_at\":\"2026-12-31T22:00:00Z\","));
		json_decref(j);
	}
	assert_int_equal(parts, 15);
	assert_int_equal(items, 1440);
	free(got);
}

/* ---- lists built in steps meet new definitions ---- */

/* A list whose collection spans steps starts again when the definitions change
 * between two of them (defs_generation): the reply is one whole, consistent list of
 * the new set, whatever was collected before. */
static void list_restarts_on_new_definitions(void **state) {
	fixture *f = *state;
	char *yaml = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&yaml, &len);
	assert_non_null(m);
	fputs("standing_orders:\n", m);
	for (int i = 0; i < 100; i++)
		fprintf(m, "  - id: so-%03d\n    customer: acme\n    supplier: lumen\n"
			   "    ship_to: {name: V, street: K 1, city: Helsinki, country: FI}\n"
			   "    lines: [{sku: X, quantity: 1, unit_price: \"1.00 EUR\"}]\n    payment: account\n"
			   "    schedule: {every: 1 month, start: 2027-01-%02d, at: \"08:00\"}\n", i, i % 28 + 1);
	assert_int_equal(fclose(m), 0);
	tmpdir_write(f->conf, "orders.d/b.yaml", yaml);
	free(yaml);
	EXPECT(f, ROOT, "io.standingd.Ops.Reload", NULL, "{\"parameters\":{\"customers\":3,\"standing_orders\":102}}");
	const char *msg = "{\"method\":\"io.standingd.Ops.ListStandingOrders\"}";
	out o = { 0 };
	vl_pending *p = NULL;
	assert_int_equal(vl_service_start(f->d.svc, msg, strlen(msg), on_send, &o, &f->peers[ROOT], VL_START_PIECES, &p), 0);
	assert_non_null(p);
	assert_int_equal(vl_pending_step(p), VL_AGAIN);   /* the first standing orders, not all */
	assert_null(o.s);
	uint64_t gen = f->d.env.defs_generation;
	/* one before all (a walk that went on by index would list so-061 twice and miss
	 * aaa), one after all */
	OK(f, OPS_GROUP, "io.standingd.Orders.PlaceStandingOrder", STANDING("aaa", "2027-01-05", "1"));
	OK(f, OPS_GROUP, "io.standingd.Orders.PlaceStandingOrder", STANDING("zzz", "2027-01-05", "1"));
	assert_int_equal(f->d.env.defs_generation, gen + 2);
	int r, steps = 1;
	while ((r = vl_pending_step(p)) == VL_AGAIN)
		steps++;
	assert_int_equal(r, 0);
	assert_true(steps >= 3);
	vl_pending_free(p);
	assert_non_null(o.s);
	json_error_t e;
	json_t *j = json_loads(o.s, 0, &e);
	assert_non_null(j);
	json_t *list = json_object_get(json_object_get(j, "parameters"), "standing_orders");
	assert_int_equal(json_array_size(list), 104);
	static const char *const first[] = { "aaa", "bulbs", "coffee" };
	for (size_t i = 0; i < 104; i++) {
		const char *id = json_string_value(json_object_get(json_array_get(list, i), "id"));
		char want[16];
		if (i < 3)
			snprintf(want, sizeof(want), "%s", first[i]);
		else if (i < 103)
			snprintf(want, sizeof(want), "so-%03zu", i - 3);
		else
			snprintf(want, sizeof(want), "zzz");
		assert_string_equal(id, want);
	}
	json_decref(j);
	free(o.s);
}

/* ---- the permission matrix ---- */

/* A cell's outcome: answered (a success reply), PermissionDenied, the supplier's
 * OrderNotFound (another supplier's order is as if it did not exist), or Orders'
 * WrongStatus (allowed, but the order's status refuses it: SO4 held once by root,
 * released once, cancelled once, below). */
typedef enum outcome { Y, N, NF, WS, TNO, OTHER } outcome;
static const char *const outcome_name[] = { "Y", "N", "NF", "WS", "TNO", "other" };

/* The shop's targets (placed in matrix() below): the standing order shop-so and
 * the one-time order SO4, both placed by a shop user. */
#define SHOP_SO STANDING("shop-so", "2026-11-29", "1")

static const struct matrix_row {
	const char *method, *params;
	bool replace_first;     /* the shop places shop-so again before each cell */
	outcome want[N_ROLES];  /* root, the daemon's uid, ops_group, supplier A, supplier B, shop, shop 2, stranger */
} MATRIX[] = {
	{ "io.standingd.Supplier.ListUpcoming", WINDOW, false,          { Y, Y, Y, Y, Y, N, N, N, N } },
	{ "io.standingd.Supplier.MarkShipped", SHIP(SO1, "DHL", "JD1"), false, { Y, Y, Y, Y, NF, N, N, N, N } },
	{ "io.standingd.Orders.PlaceStandingOrder", SHOP_SO, false,     { Y, Y, Y, N, N, Y, Y, N, N } },
	{ "io.standingd.Orders.CancelStandingOrder", "{\"standing_order\":\"shop-so\"}", true, { Y, Y, Y, N, N, Y, Y, N, N } },
	{ "io.standingd.Orders.SkipOccurrence", SKIP("shop-so", "2026-12-29T10:00:00+02:00"), false, { Y, Y, Y, N, N, Y, Y, N, N } },
	{ "io.standingd.Orders.PlaceOrder", ONE_TIME, false,            { Y, Y, Y, N, N, Y, Y, N, N } },
	{ "io.standingd.Orders.GetOrder", "{\"order\":\"" SO4 "\"}", false, { Y, Y, Y, N, N, Y, Y, N, Y } },
	{ "io.standingd.Orders.ListOrders", "{}", false,                { Y, Y, Y, N, N, Y, Y, N, Y } },
	/* issue 9: holding is ops' alone; SO4 (the shop's, on account, confirmed) is held
	 * by root, then released by root, then paid for (not awaiting payment), then
	 * cancelled by root; the shop reaches it, the rest are refused */
	{ "io.standingd.Orders.HoldOrder", "{\"order\":\"" SO4 "\",\"reason\":\"check\"}", false, { Y, WS, WS, N, N, N, N, N, N } },
	{ "io.standingd.Orders.ReleaseOrder", "{\"order\":\"" SO4 "\"}", false, { Y, WS, WS, N, N, WS, WS, N, N } },
	{ "io.standingd.Orders.RecordPayment", "{\"order\":\"" SO4 "\",\"amount\":{\"amount\":\"1.00\",\"currency\":\"EUR\"},"
	  "\"reference\":\"R1\"}", false,                                { WS, WS, WS, N, N, WS, WS, N, N } },
	{ "io.standingd.Orders.CancelOrder", "{\"order\":\"" SO4 "\",\"reason\":\"no\"}", false, { Y, WS, WS, N, N, WS, WS, N, N } },
	/* the accounts are ops': a web shop sees its orders, not a customer's ledger */
	{ "io.standingd.Orders.RecordAccountPayment", "{\"customer\":\"acme\",\"amount\":{\"amount\":\"1.00\","
	  "\"currency\":\"EUR\"},\"reference\":\"R2\"}", false,        { Y, Y, Y, N, N, N, N, N, N } },
	{ "io.standingd.Orders.GetAccount", "{\"customer\":\"acme\"}", false, { Y, Y, Y, N, N, N, N, N, Y } },
	{ "io.standingd.Orders.ListLedger", "{\"customer\":\"acme\"}", false, { Y, Y, Y, N, N, N, N, N, Y } },
	{ "io.standingd.Ops.Status", "{}", false,                       { Y, Y, Y, N, N, N, N, N, N } },
	{ "io.standingd.Ops.Reload", "{}", false,                       { Y, Y, Y, N, N, N, N, N, N } },
	{ "io.standingd.Ops.ListStandingOrders", "{}", false,           { Y, Y, Y, N, N, N, N, N, N } },
	{ "io.standingd.Ops.Forecast", WINDOW, false,                   { Y, Y, Y, N, N, N, N, N, N } },
	{ "io.standingd.Ops.ListOutbox", "{\"parked\":true}", false,    { Y, Y, Y, N, N, N, N, N, N } },
	{ "io.standingd.Ops.RetryOutbox", "{\"all\":true}", false,      { Y, Y, Y, N, N, N, N, N, N } },
	{ "io.standingd.Now", "{}", false,                              { Y, Y, Y, Y, Y, Y, Y, Y, Y } },
	{ "org.varlink.service.GetInfo", "{}", false,                   { Y, Y, Y, Y, Y, Y, Y, Y, Y } },
	{ "org.varlink.service.GetInterfaceDescription", "{\"interface\":\"io.standingd.Ops\"}", false,
									{ Y, Y, Y, Y, Y, Y, Y, Y, Y } },
	/* issue 11: the CRM is the salespeople's (and ops'); a web shop signs customers up.
	 * AddTask makes T-00000001.. (one per allowed cell): CompleteTask finishes the
	 * first, then finds it done; SnoozeTask moves the second each time. */
	{ "io.standingd.Crm.GetCustomer", "{\"customer\":\"acme\"}", false, { Y, Y, Y, N, N, N, N, N, Y } },
	{ "io.standingd.Crm.ListCustomers", "{}", false,                { Y, Y, Y, N, N, N, N, N, Y } },
	{ "io.standingd.Crm.PlaceCustomer", "{\"definition\":{\"id\":\"web\",\"name\":\"Web Oy\"}}", false,
									{ Y, Y, Y, N, N, Y, Y, N, N } },
	{ "io.standingd.Crm.LogInteraction", "{\"customer\":\"acme\",\"kind\":\"call\",\"summary\":\"Hi\"}", false,
									{ Y, Y, Y, N, N, N, N, N, Y } },
	{ "io.standingd.Crm.ListInteractions", "{\"customer\":\"acme\"}", false, { Y, Y, Y, N, N, N, N, N, Y } },
	{ "io.standingd.Crm.AddTask", "{\"customer\":\"acme\",\"due\":\"2026-12-01\",\"text\":\"Call\",\"assignee\":\"anna\"}",
	  false,                                                        { Y, Y, Y, N, N, N, N, N, Y } },
	{ "io.standingd.Crm.ListTasks", "{}", false,                    { Y, Y, Y, N, N, N, N, N, Y } },
	{ "io.standingd.Crm.CompleteTask", "{\"task\":\"T-00000001\"}", false, { Y, TNO, TNO, N, N, N, N, N, TNO } },
	{ "io.standingd.Crm.SnoozeTask", "{\"task\":\"T-00000002\",\"until\":\"2027-01-01T00:00:00Z\"}", false,
									{ Y, Y, Y, N, N, N, N, N, Y } },
};

static outcome outcome_of(const char *reply) {
	if (!strncmp(reply, "{\"parameters\":", 14))
		return Y;
	if (!strcmp(reply, DENIED))
		return N;
	if (strstr(reply, "{\"error\":\"io.standingd.Supplier.OrderNotFound\",") == reply)
		return NF;
	if (strstr(reply, "{\"error\":\"io.standingd.Orders.WrongStatus\",") == reply)
		return WS;
	if (strstr(reply, "{\"error\":\"io.standingd.Crm.TaskNotOpen\",") == reply)
		return TNO;
	return OTHER;
}

static void permission_matrix(void **state) {
	fixture *f = *state;
	EXPECT(f, SHOP, "io.standingd.Orders.PlaceStandingOrder", SHOP_SO,
	       "{\"parameters\":{\"standing_order\":\"shop-so\",\"next_delivery\":\"2026-12-29T10:00:00+02:00\"}}");
	EXPECT(f, SHOP, "io.standingd.Orders.PlaceOrder", ONE_TIME, "{\"parameters\":{\"order\":" ORDER_ONE_TIME(SO4, "shop:shop1") "}}");
	int wrong = 0, cells = 0;
	for (size_t i = 0; i < sizeof(MATRIX) / sizeof(MATRIX[0]); i++) {
		const struct matrix_row *m = &MATRIX[i];
		for (int who = 0; who < N_ROLES; who++) {
			if (m->replace_first)
				OK(f, SHOP, "io.standingd.Orders.PlaceStandingOrder", SHOP_SO);
			char *got = call(f, who, m->method, m->params);
			outcome o = outcome_of(got);
			cells++;
			if (o != m->want[who]) {
				fprintf(stderr, "%s as %s: %s, want %s: %s\n", m->method, role_name[who], outcome_name[o],
					outcome_name[m->want[who]], got);
				wrong++;
			}
			free(got);
		}
	}
	assert_int_equal(cells, 33 * N_ROLES);
	assert_int_equal(wrong, 0);
	/* what was refused did not happen: five PlaceOrder cells answered (SO5..SO9)... */
	char *got = call(f, ROOT, "io.standingd.Ops.Status", NULL);
	assert_non_null(strstr(got, "\"orders\":9,"));
	free(got);
	/* ...one skip of shop-so, its placer the shop's */
	got = call(f, ROOT, "io.standingd.Ops.ListStandingOrders", NULL);
	assert_non_null(strstr(got, "{\"id\":\"shop-so\",\"customer\":\"acme\",\"supplier\":\"lumen\",\"source\":\"api\","
				    "\"placed_by\":\"shop:shop1\","));
	free(got);
	/* refused before the parameters are looked at; an unknown method is unknown to
	 * anyone (the IDL is public) */
	EXPECT(f, STRANGER, "io.standingd.Ops.Status", "{\"x\":1}", DENIED);
	EXPECT(f, SUPPLIER_A, "io.standingd.Orders.GetOrder", "{\"order\":\"x\"}", DENIED);
	EXPECT(f, SHOP, "io.standingd.Orders.SkipOccurrence", SKIP("bulbs", "x"), DENIED);
	EXPECT(f, STRANGER, "io.standingd.Ops.Nope", NULL,
	       "{\"error\":\"org.varlink.service.MethodNotFound\",\"parameters\":{\"method\":\"io.standingd.Ops.Nope\"}}");
	/* a standing order that does not exist is not found, for the shop as for ops */
	EXPECT(f, SHOP, "io.standingd.Orders.SkipOccurrence", SKIP("nope", "x"),
	       "{\"error\":\"io.standingd.Orders.StandingOrderNotFound\",\"parameters\":{\"standing_order\":\"nope\"}}");
	EXPECT(f, SHOP, "io.standingd.Orders.CancelStandingOrder", "{\"standing_order\":\"nope\"}",
	       "{\"error\":\"io.standingd.Orders.StandingOrderNotFound\",\"parameters\":{\"standing_order\":\"nope\"}}");
	/* a peer without a name is not a supplier's or the shop's, only ops by uid or group */
	peer nameless;
	inproc_peer(&nameless, 5007, "", (const char *[]) { "sd-ops", NULL });
	peer saved = f->peers[STRANGER];
	f->peers[STRANGER] = nameless;
	got = call(f, STRANGER, "io.standingd.Ops.Status", NULL);
	assert_int_equal(outcome_of(got), Y);
	free(got);
	peer_clear(&f->peers[STRANGER]);
	inproc_peer(&f->peers[STRANGER], 5007, "", NULL);
	got = call(f, STRANGER, "io.standingd.Orders.ListOrders", NULL);
	assert_string_equal(got, DENIED);
	free(got);
	peer_clear(&f->peers[STRANGER]);
	f->peers[STRANGER] = saved;
}

/* ---- the shop's reach (README, Access control) ---- */

static void shop_reach(void **state) {
	fixture *f = *state;
	const char *place = "io.standingd.Orders.PlaceStandingOrder", *get = "io.standingd.Orders.GetOrder";
	/* ops: ops-so and a one-time order; the shop: shop-so (its first order at once) and one */
	OK(f, OPS_GROUP, place, STANDING("ops-so", "2027-03-01", "1"));
	OK(f, OPS_GROUP, "io.standingd.Orders.PlaceOrder", ONE_TIME);                  /* SO3 */
	OK(f, SHOP, place, STANDING("shop-so", "2026-11-29", "1"));                    /* SO4 */
	OK(f, SHOP, "io.standingd.Orders.PlaceOrder", ONE_TIME);                       /* SO5 */
#define SO5 "SO-00000005-9"
	/* place (replace) */
	EXPECT(f, SHOP2, place, STANDING("shop-so", "2026-11-29", "3"),
	       "{\"parameters\":{\"standing_order\":\"shop-so\",\"next_delivery\":\"2026-12-29T10:00:00+02:00\"}}");
	EXPECT(f, SHOP, place, STANDING("ops-so", "2026-12-03", "3"), DENIED);
	EXPECT(f, SHOP, place, STANDING("bulbs", "2026-12-03", "3"), DENIED);
	/* skip */
	EXPECT(f, SHOP, "io.standingd.Orders.SkipOccurrence", SKIP("shop-so", "2027-01-29T10:00:00+02:00"),
	       "{\"parameters\":{\"standing_order\":\"shop-so\",\"delivery\":\"2027-01-29T10:00:00+02:00\"}}");
	EXPECT(f, SHOP, "io.standingd.Orders.SkipOccurrence", SKIP("ops-so", "2027-04-01T10:00:00+03:00"), DENIED);
	EXPECT(f, SHOP, "io.standingd.Orders.SkipOccurrence", SKIP("bulbs", "2027-02-01T06:00:00+02:00"), DENIED);
	/* get: its one-time orders and its standing orders' orders */
	{
		char *got = call(f, SHOP2, get, "{\"order\":\"" SO5 "\"}");
		assert_int_equal(outcome_of(got), Y);
		assert_non_null(strstr(got, "\"order\":\"" SO5 "\""));
		free(got);
		got = call(f, SHOP, get, "{\"order\":\"" SO4 "\"}");
		assert_non_null(strstr(got, "{\"parameters\":{\"order\":{\"order\":\"" SO4 "\",\"standing_order\":\"shop-so\","));
		free(got);
	}
	EXPECT(f, SHOP, get, "{\"order\":\"" SO3 "\"}", DENIED);
	EXPECT(f, SHOP, get, "{\"order\":\"" SO1 "\"}", DENIED);
	/* a number no order has: NotFound for the shop as for anyone */
	EXPECT(f, SHOP, get, "{\"order\":\"" SO9 "\"}",
	       "{\"error\":\"io.standingd.Orders.OrderNotFound\",\"parameters\":{\"order\":\"" SO9 "\"}}");
	/* list: only those */
	char *got = call(f, SHOP, "io.standingd.Orders.ListOrders", NULL);
	json_error_t e;
	json_t *j = json_loads(got, 0, &e);
	json_t *orders = json_object_get(json_object_get(j, "parameters"), "orders");
	assert_int_equal(json_array_size(orders), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(orders, 0), "order")), SO4);
	assert_string_equal(json_string_value(json_object_get(json_array_get(orders, 1), "order")), SO5);
	json_decref(j);
	free(got);
	EXPECT(f, SHOP, "io.standingd.Orders.ListOrders", "{\"standing_order\":\"bulbs\"}", "{\"parameters\":{\"orders\":[]}}");
	/* cancel */
	EXPECT(f, SHOP, "io.standingd.Orders.CancelStandingOrder", "{\"standing_order\":\"ops-so\"}", DENIED);
	EXPECT(f, SHOP, "io.standingd.Orders.CancelStandingOrder", "{\"standing_order\":\"bulbs\"}", DENIED);
	/* nothing refused happened; ops replacing shop-so keep it the shop's */
	got = call(f, ROOT, "io.standingd.Ops.ListStandingOrders", NULL);
	assert_non_null(strstr(got, "{\"id\":\"ops-so\",\"customer\":\"acme\",\"supplier\":\"lumen\",\"source\":\"api\","
				    "\"placed_by\":\"ops:opsuser\",\"timezone\":\"Europe/Helsinki\",\"paused\":false,"
				    "\"next_delivery\":\"2027-03-01T10:00:00+02:00\""));
	assert_non_null(strstr(got, LISTED_BULBS_START));
	free(got);
	OK(f, ROOT, place, STANDING("shop-so", "2027-06-01", "1"));
	got = call(f, ROOT, "io.standingd.Ops.ListStandingOrders", NULL);
	assert_non_null(strstr(got, "\"source\":\"api\",\"placed_by\":\"shop:shop1\",\"timezone\":\"Europe/Helsinki\","
				    "\"paused\":false,\"next_delivery\":\"2027-06-01T10:00:00+03:00\""));
	free(got);
	EXPECT(f, SHOP2, "io.standingd.Orders.CancelStandingOrder", "{\"standing_order\":\"shop-so\"}", OK_EMPTY);
	/* its standing order gone, that order is no longer the shop's to see */
	EXPECT(f, SHOP, get, "{\"order\":\"" SO4 "\"}", DENIED);
	EXPECT(f, ROOT, "io.standingd.Orders.CancelStandingOrder", "{\"standing_order\":\"ops-so\"}", OK_EMPTY);
}

/* params (an object's text) with "idempotency_key": key first. */
static const char *keyed(char buf[4096], const char *key, const char *params) {
	int n = snprintf(buf, 4096, "{\"idempotency_key\":%s,%s", key, params + 1);
	assert_true(n > 0 && n < 4096);
	return buf;
}

/* ---- payments and the order's life (issue 9) ----
 * Exact replies and errors of RecordPayment, RecordAccountPayment, ReleaseOrder,
 * HoldOrder, CancelOrder, GetAccount, ListLedger, and MarkShipped's NotConfirmed.
 * At start acme's account (50000.00 EUR limit) has bulbs' SO1 charged: 8.50. */

#define EUR(a) "{\"amount\":\"" a "\",\"currency\":\"EUR\"}"
#define ENTRY(seq, kind, order, amount, balance, ref, by) \
	"{\"seq\":" seq ",\"kind\":\"" kind "\",\"order\":" order ",\"amount\":" EUR(amount) "," \
	"\"at\":\"2026-11-28T12:00:00Z\",\"balance_after\":" EUR(balance) ",\"reference\":" ref ",\"by\":\"" by "\"}"
#define PAY_ACME(amount, ref) \
	"{\"customer\":\"acme\",\"amount\":{\"amount\":\"" amount "\",\"currency\":\"EUR\"},\"reference\":\"" ref "\"}"
#define PAY_ORDER(n, amount, cur) \
	"{\"order\":\"" n "\",\"amount\":{\"amount\":\"" amount "\",\"currency\":\"" cur "\"},\"reference\":\"RF-3\"}"
#define WRONG_STATUS(n, status) \
	"{\"error\":\"io.standingd.Orders.WrongStatus\",\"parameters\":{\"order\":\"" n "\",\"status\":\"" status "\"}}"

static void payments(void **state) {
	fixture *f = *state;
	const char *acct = "io.standingd.Orders.GetAccount", *ledger = "io.standingd.Orders.ListLedger";
	const char *pay_acct = "io.standingd.Orders.RecordAccountPayment", *pay = "io.standingd.Orders.RecordPayment";
	EXPECT(f, ROOT, acct, "{\"customer\":\"acme\"}",
	       "{\"parameters\":{\"account\":{\"customer\":\"acme\",\"account\":\"ACC-1001\",\"credit_limit\":" EUR("50000.00") ","
	       "\"balances\":[" EUR("8.50") "],\"open_orders\":[],\"entries\":["
	       ENTRY("1", "charge", "\"" SO1 "\"", "8.50", "8.50", "null", "standingd") "]}}}");
	EXPECT(f, ROOT, acct, "{\"customer\":\"nope\"}",
	       "{\"error\":\"io.standingd.Orders.CustomerNotFound\",\"parameters\":{\"customer\":\"nope\"}}");
	/* a customer without an account has no number, no limit, no entries */
	EXPECT(f, ROOT, acct, "{\"customer\":\"cash\"}",
	       "{\"parameters\":{\"account\":{\"customer\":\"cash\",\"account\":null,\"credit_limit\":null,"
	       "\"balances\":[],\"open_orders\":[],\"entries\":[]}}}");

	/* account payments: Money more than zero in the currency's precision, a reference */
	EXPECT(f, ROOT, pay_acct, PAY_ACME("0.00", "B1"), INVALID("amount"));
	EXPECT(f, ROOT, pay_acct, PAY_ACME("-1.00", "B1"), INVALID("amount"));
	EXPECT(f, ROOT, pay_acct, PAY_ACME("1.001", "B1"), INVALID("amount"));
	EXPECT(f, ROOT, pay_acct, PAY_ACME("1.00 EUR", "B1"), INVALID("amount"));
	EXPECT(f, ROOT, pay_acct, "{\"customer\":\"acme\",\"amount\":\"1.00 EUR\",\"reference\":\"B1\"}", INVALID("amount"));
	EXPECT(f, ROOT, pay_acct, "{\"customer\":\"acme\",\"amount\":{\"amount\":\"1.00\"},\"reference\":\"B1\"}",
	       INVALID("amount"));
	EXPECT(f, ROOT, pay_acct, "{\"customer\":\"acme\",\"amount\":{\"amount\":\"1.00\",\"currency\":\"EUR\",\"x\":1},"
	       "\"reference\":\"B1\"}", INVALID("amount"));
	EXPECT(f, ROOT, pay_acct, PAY_ACME("1.00", ""), INVALID("reference"));
	EXPECT(f, ROOT, pay_acct, PAY_ACME("1.00", "B\\u001b[2J"), INVALID("reference"));
	EXPECT(f, ROOT, pay_acct, "{\"customer\":\"cash\",\"amount\":" EUR("1.00") ",\"reference\":\"B1\"}",
	       "{\"error\":\"io.standingd.Orders.NoAccount\",\"parameters\":{\"customer\":\"cash\"}}");
	/* an overpayment leaves a credit balance */
	EXPECT(f, OPS_GROUP, pay_acct, PAY_ACME("10.00", "B1"),
	       "{\"parameters\":{\"entry\":" ENTRY("2", "payment", "null", "10.00", "-1.50", "\"B1\"", "ops:opsuser") "}}");

	/* a prepaid order: NotConfirmed for the supplier, WrongAmount, then paid */
	OK(f, ROOT, "io.standingd.Orders.PlaceOrder", ONE_TIME_WITH("acme", "\"payment\":\"prepaid\","));   /* SO3 */
	EXPECT(f, SUPPLIER_A, "io.standingd.Supplier.MarkShipped", SHIP(SO3, "DHL", "JD3"),
	       "{\"error\":\"io.standingd.Supplier.NotConfirmed\",\"parameters\":{\"order\":\"" SO3 "\","
	       "\"status\":\"awaiting_payment\"}}");
	EXPECT(f, ROOT, acct, "{\"customer\":\"acme\"}",
	       "{\"parameters\":{\"account\":{\"customer\":\"acme\",\"account\":\"ACC-1001\",\"credit_limit\":" EUR("50000.00") ","
	       "\"balances\":[" EUR("-1.50") "],\"open_orders\":[\"" SO3 "\"],\"entries\":["
	       ENTRY("1", "charge", "\"" SO1 "\"", "8.50", "8.50", "null", "standingd") ","
	       ENTRY("2", "payment", "null", "10.00", "-1.50", "\"B1\"", "ops:opsuser") "]}}}");
	const char *wrong = "{\"error\":\"io.standingd.Orders.WrongAmount\",\"parameters\":{\"order\":\"" SO3 "\","
			    "\"due\":" EUR("3.75") "}}";
	EXPECT(f, ROOT, pay, PAY_ORDER(SO3, "3.70", "EUR"), wrong);
	EXPECT(f, ROOT, pay, PAY_ORDER(SO3, "3.75", "NOK"), wrong);
	EXPECT(f, ROOT, pay, PAY_ORDER(SO9, "3.75", "EUR"),
	       "{\"error\":\"io.standingd.Orders.OrderNotFound\",\"parameters\":{\"order\":\"" SO9 "\"}}");
	/* ops placed it: a shop user may not pay for it */
	EXPECT(f, SHOP, pay, PAY_ORDER(SO3, "3.75", "EUR"), DENIED);
	char *got = call(f, ROOT, pay, PAY_ORDER(SO3, "3.75", "EUR"));
	assert_non_null(strstr(got, "\"status\":\"confirmed\","));
	assert_non_null(strstr(got, "\"amount_due\":null,\"payment_reference\":\"RF72000000037\",\"paid\":\"2026-11-28T12:00:00Z\","
				    "\"history\":[" STEP("ops:root", "awaiting_payment") ",{\"at\":\"2026-11-28T12:00:00Z\","
				    "\"by\":\"ops:root\",\"status\":\"confirmed\",\"reason\":\"paid\"}]"));
	free(got);
	EXPECT(f, ROOT, pay, PAY_ORDER(SO3, "3.75", "EUR"), WRONG_STATUS(SO3, "confirmed"));
	EXPECT(f, ROOT, "io.standingd.Orders.ReleaseOrder", "{\"order\":\"" SO3 "\"}", WRONG_STATUS(SO3, "confirmed"));

	/* cancelled: the charge credited; a reason is required */
	const char *cancel = "io.standingd.Orders.CancelOrder";
	EXPECT(f, ROOT, cancel, "{\"order\":\"" SO1 "\"}", INVALID("reason"));
	EXPECT(f, ROOT, cancel, "{\"order\":\"" SO1 "\",\"reason\":\"\"}", INVALID("reason"));
	got = call(f, ROOT, cancel, "{\"order\":\"" SO1 "\",\"reason\":\"not needed\"}");
	assert_non_null(strstr(got, "\"status\":\"cancelled\","));
	assert_non_null(strstr(got, "{\"at\":\"2026-11-28T12:00:00Z\",\"by\":\"ops:root\",\"status\":\"cancelled\","
				    "\"reason\":\"not needed\"}]"));
	free(got);
	EXPECT(f, ROOT, cancel, "{\"order\":\"" SO1 "\",\"reason\":\"again\"}", WRONG_STATUS(SO1, "cancelled"));
	EXPECT(f, ROOT, "io.standingd.Orders.HoldOrder", "{\"order\":\"" SO1 "\"}", WRONG_STATUS(SO1, "cancelled"));
	EXPECT(f, ROOT, "io.standingd.Orders.HoldOrder", "{\"order\":\"" SO1 "\",\"reason\":\"a\\u0007\"}",
	       INVALID("reason"));

	/* past the limit: on hold; released once a payment makes room */
	OK(f, ROOT, "io.standingd.Orders.PlaceOrder",
	   "{\"customer\":\"acme\",\"supplier\":\"lumen\",\"delivery\":\"2027-01-10\",\"ship_to\":{\"name\":\"ACME\","
	   "\"street\":\"Katu 1\",\"city\":\"Helsinki\",\"country\":\"FI\"},\"lines\":[{\"sku\":\"LAMP\",\"quantity\":20000,"
	   "\"unit_price\":\"2.60\",\"currency\":\"EUR\"}]}");   /* SO4: 52000.00 */
	got = call(f, ROOT, "io.standingd.Orders.GetOrder", "{\"order\":\"" SO4 "\"}");
	assert_non_null(strstr(got, "\"status\":\"on_hold\","));
	free(got);
	EXPECT(f, ROOT, "io.standingd.Orders.ReleaseOrder", "{\"order\":\"" SO4 "\"}",
	       "{\"error\":\"io.standingd.Orders.CreditLimitExceeded\",\"parameters\":{\"order\":\"" SO4 "\","
	       "\"balance\":" EUR("-10.00") ",\"limit\":" EUR("50000.00") ",\"total\":" EUR("52000.00") "}}");
	OK(f, ROOT, pay_acct, PAY_ACME("2010.00", "B2"));
	got = call(f, ROOT, "io.standingd.Orders.ReleaseOrder", "{\"order\":\"" SO4 "\"}");
	assert_non_null(strstr(got, "\"status\":\"confirmed\","));
	free(got);

	/* the whole ledger, and windows of it */
	EXPECT(f, ROOT, ledger, "{\"customer\":\"acme\"}", "{\"parameters\":{\"entries\":["
	       ENTRY("1", "charge", "\"" SO1 "\"", "8.50", "8.50", "null", "standingd") ","
	       ENTRY("2", "payment", "null", "10.00", "-1.50", "\"B1\"", "ops:opsuser") ","
	       ENTRY("3", "charge", "\"" SO3 "\"", "3.75", "2.25", "null", "ops:root") ","
	       ENTRY("4", "payment", "\"" SO3 "\"", "3.75", "-1.50", "\"RF-3\"", "ops:root") ","
	       ENTRY("5", "credit", "\"" SO1 "\"", "8.50", "-10.00", "null", "ops:root") ","
	       ENTRY("6", "payment", "null", "2010.00", "-2020.00", "\"B2\"", "ops:root") ","
	       ENTRY("7", "charge", "\"" SO4 "\"", "52000.00", "49980.00", "null", "ops:root") "]}}");
	EXPECT(f, ROOT, ledger, "{\"customer\":\"acme\",\"to\":\"2026-11-28\"}", "{\"parameters\":{\"entries\":[]}}");
	EXPECT(f, ROOT, ledger, "{\"customer\":\"acme\",\"from\":\"2026-11-28T12:00:01Z\"}", "{\"parameters\":{\"entries\":[]}}");
	got = call(f, ROOT, ledger, "{\"customer\":\"acme\",\"from\":\"2026-11-28\",\"to\":\"2026-11-29\"}");
	assert_non_null(strstr(got, "{\"seq\":7,"));
	free(got);
	EXPECT(f, ROOT, ledger, "{\"customer\":\"acme\",\"from\":\"28.11.2026\"}", INVALID("from"));
	EXPECT(f, ROOT, ledger, "{\"customer\":\"acme\",\"from\":\"2026-11-29\",\"to\":\"2026-11-28\"}", INVALID("to"));
	EXPECT(f, ROOT, ledger, "{\"customer\":\"cash\"}", "{\"parameters\":{\"entries\":[]}}");
	EXPECT(f, ROOT, ledger, "{\"customer\":\"nope\"}",
	       "{\"error\":\"io.standingd.Orders.CustomerNotFound\",\"parameters\":{\"customer\":\"nope\"}}");
}

static int count(const char *s, const char *what) {
	int n = 0;
	for (const char *p = strstr(s, what); p; p = strstr(p + 1, what))
		n++;
	return n;
}

/* ---- io.standingd.Crm (issue 11) ---- */

#define CRM "io.standingd.Crm."
#define CRM_ERR(name, params) "{\"error\":\"io.standingd.Crm." name "\",\"parameters\":" params "}"
#define TASK_HEAD(id, assignee, customer) "{\"id\":\"" id "\",\"assignee\":\"" assignee "\",\"customer\":\"" customer "\","
#define CREATED_BY(by) "\"history\":[{\"at\":\"2026-11-28T12:00:00Z\",\"by\":\"" by "\",\"action\":\"created\",\"note\":null}"

static void crm_methods(void **state) {
	fixture *f = *state;
	/* every customer, by id; one salesperson's */
	EXPECT(f, SALES, CRM "ListCustomers", NULL,
	       "{\"parameters\":{\"customers\":["
	       "{\"id\":\"acme\",\"name\":\"ACME Oy\",\"language\":\"en\",\"timezone\":\"Europe/Helsinki\",\"salesperson\":null,"
	       "\"source\":\"orders.d/a.yaml:2\"},"
	       "{\"id\":\"cash\",\"name\":\"Cash Oy\",\"language\":\"en\",\"timezone\":\"Europe/Helsinki\",\"salesperson\":null,"
	       "\"source\":\"orders.d/a.yaml:10\"},"
	       "{\"id\":\"tromso\",\"name\":\"Kaffebrenneriet\",\"language\":\"en\",\"timezone\":\"Europe/Oslo\","
	       "\"salesperson\":null,\"source\":\"orders.d/a.yaml:6\"}]}}");
	EXPECT(f, SALES, CRM "ListCustomers", "{\"salesperson\":\"anna\"}", "{\"parameters\":{\"customers\":[]}}");
	EXPECT(f, SALES, CRM "ListCustomers", "{\"salesperson\":\"bob\"}",
	       CRM_ERR("SalespersonNotFound", "{\"salesperson\":\"bob\"}"));

	/* a web shop signs a customer up: validated as a YAML customer, field paths */
	EXPECT(f, SHOP, CRM "PlaceCustomer", "{\"definition\":{\"id\":\"web\",\"name\":\"Web Oy\",\"salesperson\":\"bob\","
	       "\"language\":\"se\",\"contacts\":[{\"name\":\"Aino\",\"email\":\"a\\u001b\"}]}}",
	       CRM_ERR("InvalidDefinition", "{\"errors\":["
	       "{\"field\":\"contacts[0].email\",\"message\":\"unexpected control character U+001B in string\"},"
	       "{\"field\":\"language\",\"message\":\"expected one of en, fi, lv, nb, vi, got \\\"se\\\"\"},"
	       "{\"field\":\"salesperson\",\"message\":\"unknown salesperson \\\"bob\\\"; defined: anna, ville\"}]}"));
	EXPECT(f, SHOP, CRM "PlaceCustomer", "{\"definition\":{\"name\":\"Web Oy\"}}",
	       CRM_ERR("InvalidDefinition", "{\"errors\":[{\"field\":\"id\",\"message\":\"missing key \\\"id\\\"\"}]}"));
	EXPECT(f, SHOP, CRM "PlaceCustomer", "{\"definition\":{\"id\":\"acme\",\"name\":\"Web Oy\"}}",
	       CRM_ERR("DefinedInFile", "{\"customer\":\"acme\",\"file\":\"orders.d/a.yaml\",\"line\":2}"));
	EXPECT(f, SHOP, CRM "PlaceCustomer", "{\"definition\":{\"id\":\"web\",\"name\":\"Web Oy\",\"salesperson\":\"anna\","
	       "\"language\":\"fi\",\"contacts\":[{\"name\":\"Aino\",\"role\":\"purchasing\"}]}}",
	       "{\"parameters\":{\"customer\":\"web\"}}");
	/* a standing order may name it at once */
	OK(f, SHOP, "io.standingd.Orders.PlaceStandingOrder",
	   "{\"definition\":{\"id\":\"web-so\",\"customer\":\"web\",\"supplier\":\"lumen\",\"ship_to\":" SHIP_BULBS ","
	   "\"lines\":[{\"sku\":\"BULB\",\"quantity\":1,\"unit_price\":\"1.00 EUR\"}],\"payment\":\"prepaid\","
	   "\"schedule\":{\"every\":\"1 week\",\"start\":\"2026-12-07\",\"at\":\"08:00\"}}}");
	/* a standing order's reminders over the API: the assignee and the task's placeholders, by path */
	EXPECT(f, SHOP, "io.standingd.Orders.PlaceStandingOrder",
	       "{\"definition\":{\"id\":\"web-so2\",\"customer\":\"web\",\"supplier\":\"lumen\",\"ship_to\":" SHIP_BULBS ","
	       "\"lines\":[{\"sku\":\"BULB\",\"quantity\":1,\"unit_price\":\"1.00 EUR\"}],\"payment\":\"prepaid\","
	       "\"schedule\":{\"every\":\"1 week\",\"start\":\"2026-12-07\"},\"reminders\":["
	       "{\"before\":\"3 days\",\"task\":\"Call {contact} about {nonsense}\",\"assignee\":\"bob\"}]}}",
	       "{\"error\":\"io.standingd.Orders.InvalidDefinition\",\"parameters\":{\"errors\":["
	       "{\"field\":\"reminders[0].assignee\",\"message\":\"unknown salesperson \\\"bob\\\"; defined: anna, ville\"},"
	       "{\"field\":\"reminders[0].task\",\"message\":\"unknown placeholder \\\"{nonsense}\\\"; expected {customer}, "
	       "{contact}, {delivery_date}, {order}, {standing_order} or {total} ({{ and }} for literal braces)\"}]}}");
	EXPECT(f, SALES, CRM "ListCustomers", "{\"salesperson\":\"anna\"}",
	       "{\"parameters\":{\"customers\":[{\"id\":\"web\",\"name\":\"Web Oy\",\"language\":\"fi\","
	       "\"timezone\":\"Europe/Helsinki\",\"salesperson\":\"anna\",\"source\":\"api\"}]}}");

	/* the log: the caller is the author; at defaults to now, never after it */
	EXPECT(f, SALES, CRM "LogInteraction", "{\"customer\":\"web\",\"kind\":\"visit\",\"contact\":\"Aino\","
	       "\"summary\":\"Showed the LED range\"}",
	       "{\"parameters\":{\"interaction\":{\"customer\":\"web\",\"at\":\"2026-11-28T12:00:00Z\",\"seq\":1,"
	       "\"kind\":\"visit\",\"contact\":\"Aino\",\"summary\":\"Showed the LED range\",\"author\":\"sales:sales-a\","
	       "\"message_id\":null}}}");
	EXPECT(f, ROOT, CRM "LogInteraction", "{\"customer\":\"web\",\"kind\":\"call\",\"summary\":\"Earlier\","
	       "\"at\":\"2026-11-27T10:00:00+02:00\"}",
	       "{\"parameters\":{\"interaction\":{\"customer\":\"web\",\"at\":\"2026-11-27T08:00:00Z\",\"seq\":2,"
	       "\"kind\":\"call\",\"contact\":null,\"summary\":\"Earlier\",\"author\":\"ops:root\",\"message_id\":null}}}");
	EXPECT(f, SALES, CRM "LogInteraction", "{\"customer\":\"web\",\"kind\":\"fax\",\"summary\":\"x\"}", INVALID("kind"));
	EXPECT(f, SALES, CRM "LogInteraction", "{\"customer\":\"web\",\"kind\":\"call\",\"summary\":\"\"}", INVALID("summary"));
	EXPECT(f, SALES, CRM "LogInteraction", "{\"customer\":\"web\",\"kind\":\"call\",\"summary\":\"a\\u001b[2J\"}",
	       INVALID("summary"));
	EXPECT(f, SALES, CRM "LogInteraction", "{\"customer\":\"web\",\"kind\":\"call\",\"summary\":\"x\","
	       "\"at\":\"2026-11-28T12:00:01Z\"}", INVALID("at"));
	EXPECT(f, SALES, CRM "LogInteraction", "{\"customer\":\"nope\",\"kind\":\"call\",\"summary\":\"x\"}",
	       CRM_ERR("CustomerNotFound", "{\"customer\":\"nope\"}"));
	/* by at, then seq */
	EXPECT(f, SALES, CRM "ListInteractions", "{\"customer\":\"web\"}",
	       "{\"parameters\":{\"interactions\":["
	       "{\"customer\":\"web\",\"at\":\"2026-11-27T08:00:00Z\",\"seq\":2,\"kind\":\"call\",\"contact\":null,"
	       "\"summary\":\"Earlier\",\"author\":\"ops:root\",\"message_id\":null},"
	       "{\"customer\":\"web\",\"at\":\"2026-11-28T12:00:00Z\",\"seq\":1,\"kind\":\"visit\",\"contact\":\"Aino\","
	       "\"summary\":\"Showed the LED range\",\"author\":\"sales:sales-a\",\"message_id\":null}]}}");
	EXPECT(f, SALES, CRM "ListInteractions", "{\"customer\":\"web\",\"from\":\"2026-11-28\"}",
	       "{\"parameters\":{\"interactions\":["
	       "{\"customer\":\"web\",\"at\":\"2026-11-28T12:00:00Z\",\"seq\":1,\"kind\":\"visit\",\"contact\":\"Aino\","
	       "\"summary\":\"Showed the LED range\",\"author\":\"sales:sales-a\",\"message_id\":null}]}}");
	EXPECT(f, SALES, CRM "ListInteractions", "{\"customer\":\"web\",\"from\":\"2026-11-28\",\"to\":\"2026-11-28\"}",
	       INVALID("to"));

	/* tasks: the customer's salesperson, else the salesperson asking */
	EXPECT(f, ROOT, CRM "AddTask", "{\"customer\":\"web\",\"due\":\"2026-12-01\",\"text\":\"Call Aino\"}",
	       "{\"parameters\":{\"task\":" TASK_HEAD("T-00000001", "anna", "web")
	       "\"due\":\"2026-11-30T22:00:00Z\",\"text\":\"Call Aino\",\"kind\":\"manual\",\"order\":null,"
	       "\"standing_order\":null,\"delivery\":null,\"status\":\"open\",\"created\":\"2026-11-28T12:00:00Z\","
	       CREATED_BY("ops:root") "]}}}");
	EXPECT(f, SALES, CRM "AddTask", "{\"customer\":\"cash\",\"due\":\"2026-12-02T09:00:00Z\",\"text\":\"Offer\"}",
	       "{\"parameters\":{\"task\":" TASK_HEAD("T-00000002", "anna", "cash")
	       "\"due\":\"2026-12-02T09:00:00Z\",\"text\":\"Offer\",\"kind\":\"manual\",\"order\":null,"
	       "\"standing_order\":null,\"delivery\":null,\"status\":\"open\",\"created\":\"2026-11-28T12:00:00Z\","
	       CREATED_BY("sales:sales-a") "]}}}");
	EXPECT(f, ROOT, CRM "AddTask", "{\"customer\":\"cash\",\"due\":\"2026-12-02\",\"text\":\"Offer\"}", INVALID("assignee"));
	EXPECT(f, ROOT, CRM "AddTask", "{\"customer\":\"cash\",\"due\":\"2026-12-02\",\"text\":\"Offer\",\"assignee\":\"bob\"}",
	       CRM_ERR("SalespersonNotFound", "{\"salesperson\":\"bob\"}"));
	EXPECT(f, ROOT, CRM "AddTask", "{\"customer\":\"cash\",\"due\":\"soon\",\"text\":\"Offer\"}", INVALID("due"));
	EXPECT(f, ROOT, CRM "ListTasks", "{\"mine\":true}", INVALID("mine"));
	char *got = call(f, SALES, CRM "ListTasks", "{\"mine\":true,\"due_before\":\"2026-12-02T00:00:00Z\"}");
	assert_int_equal(count(got, "{\"id\":\"T-"), 1);
	assert_non_null(strstr(got, "{\"id\":\"T-00000001\","));
	free(got);
	got = call(f, SALES, CRM "ListTasks", "{\"customer\":\"cash\"}");
	assert_int_equal(count(got, "{\"id\":\"T-"), 1);
	assert_non_null(strstr(got, "{\"id\":\"T-00000002\","));
	free(got);
	EXPECT(f, SALES, CRM "ListTasks", "{\"status\":\"later\"}", INVALID("status"));
	/* done with a note (logged as a note); then it is not open */
	got = call(f, SALES, CRM "CompleteTask", "{\"task\":\"T-00000001\",\"note\":\"Aino ordered\"}");
	assert_non_null(strstr(got, "\"status\":\"done\","));
	assert_non_null(strstr(got, "{\"at\":\"2026-11-28T12:00:00Z\",\"by\":\"sales:sales-a\",\"action\":\"done\","
				    "\"note\":\"Aino ordered\"}]}}}"));
	free(got);
	EXPECT(f, SALES, CRM "CompleteTask", "{\"task\":\"T-00000001\"}",
	       CRM_ERR("TaskNotOpen", "{\"task\":\"T-00000001\",\"status\":\"done\"}"));
	EXPECT(f, SALES, CRM "SnoozeTask", "{\"task\":\"T-00000001\",\"until\":\"2026-12-05T00:00:00Z\"}",
	       CRM_ERR("TaskNotOpen", "{\"task\":\"T-00000001\",\"status\":\"done\"}"));
	EXPECT(f, SALES, CRM "CompleteTask", "{\"task\":\"T-00000099\"}", CRM_ERR("TaskNotFound", "{\"task\":\"T-00000099\"}"));
	EXPECT(f, SALES, CRM "CompleteTask", "{\"task\":\"nonsense\"}", CRM_ERR("TaskNotFound", "{\"task\":\"nonsense\"}"));
	EXPECT(f, SALES, CRM "SnoozeTask", "{\"task\":\"T-00000002\",\"until\":\"2026-11-28T12:00:00Z\"}", INVALID("until"));
	got = call(f, SALES, CRM "SnoozeTask", "{\"task\":\"T-00000002\",\"until\":\"2026-12-05T06:00:00Z\"}");
	assert_non_null(strstr(got, "\"due\":\"2026-12-05T06:00:00Z\","));
	assert_non_null(strstr(got, "\"by\":\"sales:sales-a\",\"action\":\"snoozed\""));
	free(got);
	got = call(f, SALES, CRM "ListTasks", "{\"status\":\"all\"}");
	assert_int_equal(count(got, "{\"id\":\"T-"), 2);
	free(got);

	/* the profile: salesperson, contacts, standing orders, open tasks, the log newest first */
	got = call(f, SALES, CRM "GetCustomer", "{\"customer\":\"web\"}");
	const char *want[] = {
		"{\"parameters\":{\"customer\":{\"id\":\"web\",\"name\":\"Web Oy\",\"language\":\"fi\","
		"\"timezone\":\"Europe/Helsinki\",\"salesperson\":{\"id\":\"anna\",\"name\":\"Anna Myyj\xC3\xA4\","
		"\"email\":\"anna@lumen.example\",\"language\":\"fi\"},\"source\":\"api\",\"account\":{\"customer\":\"web\",",
		"\"contacts\":[{\"name\":\"Aino\",\"role\":\"purchasing\",\"email\":null,\"phone\":null}],"
		"\"standing_orders\":[{\"id\":\"web-so\",\"supplier\":\"lumen\",\"source\":\"api\",\"paused\":false,"
		"\"next_delivery\":\"2026-12-07T08:00:00+02:00\"}],\"orders_open\":[],\"orders_open_more\":false,"
		"\"open_tasks\":[],\"interactions\":["
		"{\"customer\":\"web\",\"at\":\"2026-11-28T12:00:00Z\",\"seq\":3,\"kind\":\"note\",\"contact\":null,"
		"\"summary\":\"Aino ordered\",\"author\":\"sales:sales-a\",\"message_id\":null},"
		"{\"customer\":\"web\",\"at\":\"2026-11-28T12:00:00Z\",\"seq\":1,",
		"{\"customer\":\"web\",\"at\":\"2026-11-27T08:00:00Z\",\"seq\":2,",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (!strstr(got, want[i]))
			fail_msg("GetCustomer: no %s in %s", want[i], got);
	free(got);
	EXPECT(f, SALES, CRM "GetCustomer", "{\"customer\":\"nope\"}", CRM_ERR("CustomerNotFound", "{\"customer\":\"nope\"}"));

	/* kept: a reload reads the API's customer again */
	EXPECT(f, ROOT, "io.standingd.Ops.Reload", NULL, "{\"parameters\":{\"customers\":4,\"standing_orders\":3}}");

	/* ListInteractions in steps: 150 entries, with "more" in parts of 100 and 50 */
	for (int i = 0; i < 147; i++)
		OK(f, ROOT, CRM "LogInteraction", "{\"customer\":\"web\",\"kind\":\"note\",\"summary\":\"n\"}");
	got = call_msg(f, SALES, "{\"method\":\"io.standingd.Crm.ListInteractions\",\"parameters\":{\"customer\":\"web\"},"
				 "\"more\":true}");
	assert_true(f->steps >= 3);
	char *second = strchr(got, '\n');
	assert_non_null(second);
	*second++ = '\0';
	assert_int_equal(count(got, "{\"customer\":\"web\","), 100);
	assert_int_equal(count(got, "]},\"continues\":true}"), 1);
	assert_int_equal(count(second, "{\"customer\":\"web\","), 50);
	assert_int_equal(count(second, "continues"), 0);
	assert_non_null(strstr(second, "\"seq\":150,"));
	free(got);

	/* the profile's orders_open: every order neither shipped nor cancelled, the
	 * confirmed ones too (the account's open_orders: on hold or awaiting payment) */
	OK(f, SUPPLIER_A, "io.standingd.Supplier.MarkShipped", SHIP(SO1, "DHL", "JD1"));
	OK(f, ROOT, "io.standingd.Orders.PlaceOrder", ONE_TIME);   /* SO3 */
	OK(f, ROOT, "io.standingd.Orders.PlaceOrder", ONE_TIME);   /* SO4 */
	OK(f, ROOT, "io.standingd.Orders.CancelOrder", "{\"order\":\"" SO4 "\",\"reason\":\"no\"}");
	got = call(f, SALES, CRM "GetCustomer", "{\"customer\":\"acme\"}");
	const char *want_acme[] = {
		"\"balances\":[{\"amount\":\"12.25\",\"currency\":\"EUR\"}],\"open_orders\":[],\"entries\":[",
		"\"orders_open\":[" ORDER_ONE_TIME(SO3, "ops:root") "],\"orders_open_more\":false,\"open_tasks\":[",
	};
	for (size_t i = 0; i < sizeof(want_acme) / sizeof(want_acme[0]); i++)
		if (!strstr(got, want_acme[i]))
			fail_msg("GetCustomer: no %s in %s", want_acme[i], got);
	assert_int_equal(count(got, "{\"order\":\"SO-"), 1);
	/* written with jsonw around the trees: the very bytes of the whole tree dumped */
	json_t *tree = json_loads(got, 0, NULL);
	assert_non_null(tree);
	char *again = json_dumps(tree, JSON_COMPACT | JSON_REAL_PRECISION(6));
	assert_string_equal(again, got);
	free(again);
	json_decref(tree);
	free(got);
}

/* ListLedger in steps: 150 entries come in two parts with "more", and in one reply
 * without, built over several steps of the loop either way. */
static void ledger_in_steps(void **state) {
	fixture *f = *state;
	for (int i = 0; i < 149; i++)
		OK(f, ROOT, "io.standingd.Orders.RecordAccountPayment", PAY_ACME("1.00", "B"));
	char *got = call_msg(f, ROOT, "{\"method\":\"io.standingd.Orders.ListLedger\",\"parameters\":{\"customer\":\"acme\"},"
				      "\"more\":true}");
	assert_true(f->steps >= 3);
	/* two messages: 100 entries continuing, then 50 */
	char *second = strchr(got, '\n');
	assert_non_null(second);
	*second++ = '\0';
	assert_int_equal(count(got, "{\"seq\":"), 100);
	assert_int_equal(count(got, "]},\"continues\":true}"), 1);
	assert_int_equal(count(second, "{\"seq\":"), 50);
	assert_int_equal(count(second, "continues"), 0);
	assert_non_null(strstr(second, "{\"seq\":101,"));
	free(got);
	got = call(f, ROOT, "io.standingd.Orders.ListLedger", "{\"customer\":\"acme\"}");
	assert_int_equal(count(got, "{\"seq\":"), 150);
	assert_non_null(strstr(got, "{\"seq\":150,\"kind\":\"payment\",\"order\":null,\"amount\":" EUR("1.00") ","));
	assert_null(strstr(got, "continues"));
	assert_true(f->steps >= 3);
	free(got);
}

/* Idempotent requests (lib/api/idem): the same key and parameters get the first
 * reply, other parameters IdempotencyKeyReused, another user's key is its own; a
 * key that is not one is InvalidParameter before anything else is looked at. */
static void idempotency(void **state) {
	fixture *f = *state;
	const char *place = "io.standingd.Orders.PlaceStandingOrder";
	char b[4096];
	const char *first = "{\"parameters\":{\"standing_order\":\"api-so\",\"next_delivery\":\"2027-01-05T10:00:00+02:00\"}}";
	EXPECT(f, ROOT, place, keyed(b, "\"k1\"", STANDING("api-so", "2027-01-05", "2")), first);
	EXPECT(f, ROOT, place, keyed(b, "\"k1\"", STANDING("api-so", "2027-01-05", "2")), first);
	EXPECT(f, ROOT, place, keyed(b, "\"k1\"", STANDING("api-so", "2027-02-07", "2")),
	       "{\"error\":\"io.standingd.Orders.IdempotencyKeyReused\",\"parameters\":{\"idempotency_key\":\"k1\"}}");
	/* another user, the same key: its own call (it replaces the definition) */
	EXPECT(f, OPS_GROUP, place, keyed(b, "\"k1\"", STANDING("api-so", "2027-02-07", "2")),
	       "{\"parameters\":{\"standing_order\":\"api-so\",\"next_delivery\":\"2027-02-07T10:00:00+02:00\"}}");
	/* gone since: the retry still gets the first reply and places nothing */
	EXPECT(f, ROOT, "io.standingd.Orders.CancelStandingOrder", "{\"standing_order\":\"api-so\"}", OK_EMPTY);
	EXPECT(f, ROOT, place, keyed(b, "\"k1\"", STANDING("api-so", "2027-01-05", "2")), first);
	char *got = call(f, ROOT, "io.standingd.Ops.ListStandingOrders", NULL);
	assert_null(strstr(got, "api-so"));
	free(got);
	/* an invalid definition stores nothing */
	EXPECT(f, ROOT, place, keyed(b, "\"k2\"", "{\"definition\":{\"id\":5}}"),
	       "{\"error\":\"io.standingd.Orders.InvalidDefinition\",\"parameters\":{\"errors\":"
	       "[{\"field\":\"id\",\"message\":\"expected a string\"}]}}");
	OK(f, ROOT, place, keyed(b, "\"k2\"", STANDING("api-so2", "2027-01-05", "2")));
	/* keys that are not keys, on every mutating method */
	char longkey[205];
	longkey[0] = '"';
	memset(longkey + 1, 'k', 201);
	strcpy(longkey + 202, "\"");
	const char *bad[] = { "\"\"", "\"a\\tb\"", "5", longkey };
	const char *calls[][2] = {
		{ place, STANDING("api-so3", "2027-01-05", "2") },
		{ "io.standingd.Orders.PlaceOrder", ONE_TIME },
		{ "io.standingd.Orders.ReleaseOrder", "{\"order\":\"" SO1 "\"}" },
		{ "io.standingd.Orders.CancelOrder", "{\"order\":\"" SO1 "\",\"reason\":\"r\"}" },
		{ "io.standingd.Orders.RecordPayment",
		  "{\"order\":\"" SO1 "\",\"amount\":{\"amount\":\"1.00\",\"currency\":\"EUR\"},\"reference\":\"r\"}" },
	};
	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++)
		for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++)
			EXPECT(f, ROOT, calls[i][0], keyed(b, bad[k], calls[i][1]), INVALID("idempotency_key"));
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(introspection, setup, teardown),
		cmocka_unit_test_setup_teardown(list_upcoming, setup, teardown),
		cmocka_unit_test_setup_teardown(mark_shipped, setup, teardown),
		cmocka_unit_test_setup_teardown(place_standing_order, setup, teardown),
		cmocka_unit_test_setup_teardown(cancel_standing_order, setup, teardown),
		cmocka_unit_test_setup_teardown(skip_occurrence, setup, teardown),
		cmocka_unit_test_setup_teardown(place_order, setup, teardown),
		cmocka_unit_test_setup_teardown(get_order, setup, teardown),
		cmocka_unit_test_setup_teardown(list_orders, setup, teardown),
		cmocka_unit_test_setup_teardown(status, setup, teardown),
		cmocka_unit_test_setup_teardown(outbox_methods, setup, teardown),
		cmocka_unit_test_setup_teardown(reload, setup, teardown),
		cmocka_unit_test_setup_teardown(list_standing_orders, setup, teardown),
		cmocka_unit_test_setup_teardown(forecast, setup, teardown),
		cmocka_unit_test_setup_teardown(long_lists, setup, teardown),
		cmocka_unit_test_setup_teardown(list_restarts_on_new_definitions, setup, teardown),
		cmocka_unit_test_setup_teardown(permission_matrix, setup, teardown),
		cmocka_unit_test_setup_teardown(shop_reach, setup, teardown),
		cmocka_unit_test_setup_teardown(idempotency, setup, teardown),
		cmocka_unit_test_setup_teardown(payments, setup, teardown),
		cmocka_unit_test_setup_teardown(ledger_in_steps, setup, teardown),
		cmocka_unit_test_setup_teardown(crm_methods, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
