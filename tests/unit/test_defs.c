/* defs: the definitions loader. Fixtures are in memory (defs_load_files) and
 * every error test asserts the exact "FILE:LINE:COL: message" a person reads. */
#include <errno.h>
#include <fcntl.h>
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
#include "lib/time/cal.h"
#include "lib/defs/defs.h"
#include "lib/defs/yamltree.h"

#ifndef SRCDIR
#define SRCDIR "."
#endif

/* The DESIGN.md example, with the line numbers the tests rely on. */
static const char CONFIG[] =
	"state_dir: /var/lib/standingd          # LMDB environment\n"             /* 1 */
	"socket: /run/standingd/io.standingd.sock\n"                              /* 2 */
	"timezone: Europe/Helsinki              # default for schedules and customers\n"
	"catch_up: all                          # default policy: all | latest | none\n"
	"max_catch_up: 100\n"                                                     /* 5 */
	"notify_command: /usr/lib/standingd/notify-mail\n"
	"ops_group: standingd-ops               # members may call everything on the socket\n"
	"shop_users: [webshop]                  # may place orders\n"
	"suppliers:\n"                                                            /* 9 */
	"  - id: lumen\n"
	"    name: Lumen Oy\n"
	"    users: [lumen]                     # Unix users that act for this supplier\n"
	"salespeople:\n"                                                          /* 13 */
	"  - {id: sanna, name: Sanna Myyj\xC3\xA4, email: sales@lumen.example, language: fi, users: [sanna]}\n"
	"  - {id: ville, name: Ville Vi, email: ville@lumen.example, language: vi}\n";

/* The salesperson ACME names, for configs of their own. */
#define SALESPEOPLE "salespeople: [{id: sanna, name: Sanna, email: sales@lumen.example}]\n"

#define ACME_HEAD \
	"customers:\n"                                                            /* 1 */ \
	"  - id: acme\n"                                                          /* 2 */ \
	"    name: ACME Oy\n"                                                     /* 3 */ \
	"    language: fi                       # en | fi | lv | nb | vi\n"       /* 4 */ \
	"    timezone: Europe/Helsinki\n"                                         /* 5 */ \
	"    salesperson: sanna\n"                                                /* 6 */ \
	"    account: {number: ACC-1001, credit_limit: \"50000.00 EUR\"}\n"       /* 7 */ \
	"    contacts:\n"                                                         /* 8 */ \
	"      - {name: Aino Virtanen, role: purchasing, email: aino@acme.example, phone: \"+358 40 123 4567\"}\n" \
	"standing_orders:\n"                                                      /* 10 */ \
	"  - id: acme-bulbs\n"                                                    /* 11 */ \
	"    customer: acme\n"                                                    /* 12 */ \
	"    supplier: lumen\n"                                                   /* 13 */ \
	"    ship_to: {name: ACME varasto, street: Teollisuuskatu 1, postcode: \"00510\", city: Helsinki, country: FI}\n" \
	"    lines:\n"                                                            /* 15 */ \
	"      - {sku: BULB-60W, quantity: 1000, unit_price: \"0.85 EUR\"}\n"     /* 16 */ \
	"    payment: account                   # account | prepaid\n"            /* 17 */ \
	"    schedule:\n"                                                         /* 18 */

static const char ACME[] = ACME_HEAD
	"      every: 2 months                  # singular or plural unit\n"      /* 19 */
	"      start: 2026-12-01\n"                                               /* 20 */
	"      at: \"06:00\"\n"                                                   /* 21 */
	"      timezone: Europe/Helsinki        # optional\n"                     /* 22 */
	"      lead_time: 5 days\n"                                               /* 23 */
	"      # until: 2029-12-31 | count: 12  (neither: until further notice)\n"
	"      # skip: [2027-06-01]\n"
	"    reminders:\n"                                                        /* 26 */
	"      - {before: 3 days, task: \"Call {contact} to confirm the {delivery_date} delivery\"}\n"
	"      - {after_shipped: 2 days, task: \"Check that {customer} received order {order}\"}\n";

/* ---- helpers ---- */

#define DEFS_FILE(name, text) { (char *) (name), (char *) (text), strlen(text) }

static int load_files(const defs_file *files, size_t n, defs **ret, diag_list *dl) {
	return defs_load_files(files, n, NULL, ret, dl);
}

/* standingd.yaml = cfg, plus one orders.d file. */
static int load2(const char *cfg, const char *name, const char *yaml, defs **ret, diag_list *dl) {
	defs_file f[2] = {
		DEFS_FILE("standingd.yaml", cfg),
		DEFS_FILE(name, yaml),
	};
	return load_files(f, 2, ret, dl);
}

/* Asserts the diags are exactly want[] (NULL-terminated), printing both on mismatch. */
static void expect_diags(const diag_list *dl, const char *const want[]) {
	size_t n = 0;
	while (want[n])
		n++;
	bool ok = dl->n == n;
	for (size_t i = 0; ok && i < n; i++) {
		char *s = diag_format(&dl->v[i]);
		ok = strcmp(s, want[i]) == 0;
		free(s);
	}
	if (!ok) {
		print_error("got %zu diag(s):\n", dl->n);
		for (size_t i = 0; i < dl->n; i++) {
			char *s = diag_format(&dl->v[i]);
			print_error("  %s\n", s);
			free(s);
		}
		print_error("wanted %zu:\n", n);
		for (size_t i = 0; i < n; i++)
			print_error("  %s\n", want[i]);
	}
	assert_true(ok);
}

static void expect_fail(const char *cfg, const char *name, const char *yaml, const char *const want[]) {
	defs *d = (defs *) 0x1;
	diag_list dl = { 0 };
	assert_int_equal(load2(cfg, name, yaml, &d, &dl), -EINVAL);
	assert_ptr_equal(d, (defs *) 0x1);   /* untouched on failure */
	expect_diags(&dl, want);
	diag_list_clear(&dl);
}

static void expect_one(const char *yaml, const char *want) {
	const char *w[] = { want, NULL };
	expect_fail(CONFIG, "orders.d/acme.yaml", yaml, w);
}

/* ACME with the first occurrence of `from` replaced by `to`. */
static char *edit(const char *base, const char *from, const char *to) {
	const char *p = strstr(base, from);
	assert_true(p != NULL);
	size_t pre = (size_t) (p - base), lf = strlen(from), lt = strlen(to), lb = strlen(base);
	char *s = malloc(lb - lf + lt + 1);
	assert_true(s != NULL);
	memcpy(s, base, pre);
	memcpy(s + pre, to, lt);
	memcpy(s + pre + lt, base + pre + lf, lb - pre - lf + 1);
	return s;
}

static void expect_edit(const char *from, const char *to, const char *want) {
	char *s = edit(ACME, from, to);
	expect_one(s, want);
	free(s);
}

static void expect_edit2(const char *from, const char *to, const char *want1, const char *want2) {
	char *s = edit(ACME, from, to);
	const char *w[] = { want1, want2, NULL };
	expect_fail(CONFIG, "orders.d/acme.yaml", s, w);
	free(s);
}

/* ACME's order with these schedule lines (from line 19, keys in column 7). */
static char *with_schedule(const char *lines) {
	char *s;
	assert_true(asprintf(&s, "%s%s", ACME_HEAD, lines) >= 0);
	return s;
}

static void expect_sched(const char *lines, const char *want) {
	char *s = with_schedule(lines);
	expect_one(s, want);
	free(s);
}

/* Loads ACME with these schedule lines; the caller frees *ret. */
static const standing_order *sched_ok(const char *lines, defs **ret) {
	char *s = with_schedule(lines);
	diag_list dl = { 0 };
	int r = load2(CONFIG, "orders.d/acme.yaml", s, ret, &dl);
	expect_diags(&dl, (const char *[]) { NULL });
	assert_int_equal(r, 0);
	diag_list_clear(&dl);
	free(s);
	const standing_order *so = defs_find_order(*ret, "acme-bulbs");
	assert_non_null(so);
	return so;
}

static int64_t day(const char *s) {
	int64_t d;
	assert_int_equal(cal_parse_date(s, &d), 0);
	return d;
}

/* ---- loading what is valid ---- */

static void test_example(void **state) {
	(void) state;
	defs *d = NULL;
	diag_list dl = { 0 };
	assert_int_equal(load2(CONFIG, "orders.d/acme.yaml", ACME, &d, &dl), 0);
	assert_int_equal(dl.n, 0);

	const defs_config *cf = &d->config;
	assert_string_equal(cf->state_dir, "/var/lib/standingd");
	assert_string_equal(cf->socket, "/run/standingd/io.standingd.sock");
	assert_string_equal(tz_zone_name(cf->zone), "Europe/Helsinki");
	assert_int_equal(cf->catch_up, CATCH_UP_ALL);
	assert_int_equal(cf->max_catch_up, 100);
	assert_int_equal(cf->notify_argc, 1);
	assert_string_equal(cf->notify_argv[0], "/usr/lib/standingd/notify-mail");
	assert_null(cf->notify_argv[1]);
	assert_string_equal(cf->ops_group, "standingd-ops");
	assert_int_equal(cf->n_shop_users, 1);
	assert_string_equal(cf->shop_users[0], "webshop");
	assert_int_equal(cf->n_suppliers, 1);
	const supplier *su = defs_find_supplier(d, "lumen");
	assert_non_null(su);
	assert_string_equal(su->name, "Lumen Oy");
	assert_int_equal(su->n_users, 1);
	assert_string_equal(su->users[0], "lumen");
	assert_null(defs_find_supplier(d, "lumenn"));

	assert_int_equal(d->n_customers, 1);
	const customer *cu = defs_find_customer(d, "acme");
	assert_non_null(cu);
	assert_string_equal(cu->name, "ACME Oy");
	assert_string_equal(cu->language, "fi");
	assert_string_equal(tz_zone_name(cu->zone), "Europe/Helsinki");
	assert_string_equal(cu->salesperson, "sanna");
	assert_string_equal(cu->account_number, "ACC-1001");
	assert_true(cu->credit_limit.minor == 5000000);
	assert_string_equal(cu->credit_limit.currency, "EUR");
	assert_int_equal(cu->n_contacts, 1);
	assert_string_equal(cu->contacts[0].name, "Aino Virtanen");
	assert_string_equal(cu->contacts[0].role, "purchasing");
	assert_string_equal(cu->contacts[0].email, "aino@acme.example");
	assert_string_equal(cu->contacts[0].phone, "+358 40 123 4567");
	assert_string_equal(cu->file, "orders.d/acme.yaml");
	assert_int_equal(cu->line, 2);
	assert_null(defs_find_customer(d, "acne"));

	assert_int_equal(d->n_orders, 1);
	const standing_order *so = defs_find_order(d, "acme-bulbs");
	assert_non_null(so);
	assert_null(defs_find_order(d, "acme"));
	assert_ptr_equal(so->customer, cu);
	assert_string_equal(so->supplier, "lumen");
	assert_string_equal(so->bulk->ship_to.name, "ACME varasto");
	assert_string_equal(so->bulk->ship_to.street, "Teollisuuskatu 1");
	assert_string_equal(so->bulk->ship_to.postcode, "00510");   /* quoted: the leading zero stays */
	assert_string_equal(so->bulk->ship_to.city, "Helsinki");
	assert_string_equal(so->bulk->ship_to.country, "FI");
	assert_int_equal(so->n_lines, 1);
	assert_string_equal(so->bulk->lines[0].sku, "BULB-60W");
	assert_true(so->bulk->lines[0].quantity == 1000);
	assert_true(so->bulk->lines[0].unit_price.minor == 85);
	assert_string_equal(so->bulk->lines[0].unit_price.currency, "EUR");
	assert_int_equal(so->payment, ORDER_PAYMENT_ACCOUNT);
	assert_int_equal(so->rule.kind, RULE_EVERY);
	assert_int_equal(so->rule.unit, RULE_UNIT_MONTH);
	assert_int_equal(so->rule.interval, 2);
	assert_true(so->rule.start_day == day("2026-12-01"));
	assert_int_equal(so->rule.at, 6 * 3600);
	assert_string_equal(tz_zone_name(so->rule.zone), "Europe/Helsinki");
	assert_true(so->rule.lead_time == 5 * 86400);
	assert_false(so->rule.has_until);
	assert_true(so->rule.count == 0);
	assert_int_equal(so->rule.n_skip, 0);
	assert_false(so->rule.paused);
	assert_int_equal(so->catch_up, CATCH_UP_ALL);
	assert_int_equal(so->bulk->n_reminders, 2);
	assert_int_equal(so->bulk->reminders[0].kind, REMIND_BEFORE);
	assert_true(so->bulk->reminders[0].offset == 3 * 86400);
	assert_string_equal(so->bulk->reminders[0].task, "Call {contact} to confirm the {delivery_date} delivery");
	assert_null(so->bulk->reminders[0].assignee);
	assert_int_equal(so->bulk->reminders[1].kind, REMIND_AFTER_SHIPPED);
	assert_true(so->bulk->reminders[1].offset == 2 * 86400);
	assert_string_equal(so->bulk->reminders[1].task, "Check that {customer} received order {order}");
	assert_string_equal(so->bulk->file, "orders.d/acme.yaml");
	assert_int_equal(so->bulk->line, 11);
	assert_true(so->hash != 0);

	defs_free(d);
	diag_list_clear(&dl);
	defs_free(NULL);
}

/* The lead's example configuration, when the tree has it. */
static void test_conf_dir(void **state) {
	(void) state;
	struct stat st;
	if (stat(SRCDIR "/conf/standingd.yaml", &st) < 0)
		skip();
	defs *d = NULL;
	diag_list dl = { 0 };
	int r = defs_load(SRCDIR "/conf", NULL, &d, &dl);
	expect_diags(&dl, (const char *[]) { NULL });
	assert_int_equal(r, 0);
	assert_true(d->n_orders > 0);
	assert_true(d->n_customers > 0);
	for (size_t i = 0; i < d->n_orders; i++) {
		assert_non_null(d->orders[i].customer);
		assert_non_null(d->orders[i].rule.zone);
		assert_int_equal(rule_validate(&d->orders[i].rule, NULL), 0);
		if (i > 0)
			assert_true(strcmp(d->orders[i - 1].id, d->orders[i].id) < 0);
	}
	defs_free(d);
	diag_list_clear(&dl);
}

/* Names in Finnish, Latvian, Norwegian and Vietnamese come back byte for byte. */
static void test_multilingual(void **state) {
	(void) state;
	static const char yaml[] =
		"customers:\n"
		"  - {id: c-fi, name: \"Äänekosken Öljy Oy\", language: fi, timezone: Europe/Helsinki}\n"
		"  - id: c-lv\n"
		"    name: Rīgas Biroji\n"
		"    language: lv\n"
		"    timezone: Europe/Riga\n"
		"    contacts: [{name: Ģirts Bērziņš, role: vadītājs}]\n"
		"  - {id: c-nb, name: Kaffebrenneriet Tromsø, language: nb, timezone: Europe/Oslo,\n"
		"     contacts: [{name: 'Bjørn Ødegård'}]}\n"
		"  - id: c-vi\n"
		"    name: Nguyễn Thị Hương\n"
		"    language: vi\n"
		"    timezone: Asia/Ho_Chi_Minh\n"
		"    account: {number: ACC-4100, credit_limit: \"500000000 VND\"}\n"
		"standing_orders:\n"
		"  - id: saigon\n"
		"    customer: c-vi\n"
		"    supplier: lumen\n"
		"    ship_to: {name: Kho Ánh Sáng, street: 12 Nguyễn Huệ, city: Thành phố Hồ Chí Minh, country: VN}\n"
		"    lines: [{sku: ĐÈN-1, quantity: 150, unit_price: \"450000 VND\"}]\n"
		"    payment: prepaid\n"
		"    schedule: {every: 1 month, day: 15, start: 2026-12-15, at: \"08:00\"}\n"
		"    reminders: [{before: 2 days, task: \"Pārbaudīt, vai {customer} apmaksāja\"}]\n";
	defs *d = NULL;
	diag_list dl = { 0 };
	int r = load2(CONFIG, "orders.d/world.yaml", yaml, &d, &dl);
	expect_diags(&dl, (const char *[]) { NULL });
	assert_int_equal(r, 0);
	/* spelled as bytes, so the test does not depend on the source encoding */
	assert_string_equal(defs_find_customer(d, "c-fi")->name,
			    "\xC3\x84\xC3\xA4nekosken \xC3\x96ljy Oy");
	assert_string_equal(defs_find_customer(d, "c-lv")->name, "R\xC4\xABgas Biroji");
	assert_string_equal(defs_find_customer(d, "c-lv")->contacts[0].name,
			    "\xC4\xA2irts B\xC4\x93rzi\xC5\x86\xC5\xA1");
	assert_string_equal(defs_find_customer(d, "c-nb")->name, "Kaffebrenneriet Troms\xC3\xB8");
	assert_string_equal(defs_find_customer(d, "c-nb")->contacts[0].name,
			    "Bj\xC3\xB8rn \xC3\x98" "deg\xC3\xA5rd");
	assert_string_equal(defs_find_customer(d, "c-vi")->name,
			    "Nguy\xE1\xBB\x85n Th\xE1\xBB\x8B H\xC6\xB0\xC6\xA1ng");
	assert_string_equal(defs_find_customer(d, "c-vi")->language, "vi");
	const standing_order *so = defs_find_order(d, "saigon");
	assert_string_equal(so->bulk->ship_to.city,
			    "Th\xC3\xA0nh ph\xE1\xBB\x91 H\xE1\xBB\x93 Ch\xC3\xAD Minh");
	assert_string_equal(so->bulk->lines[0].sku, "\xC4\x90\xC3\x88N-1");
	assert_true(so->bulk->lines[0].unit_price.minor == 450000);
	assert_string_equal(so->bulk->lines[0].unit_price.currency, "VND");
	assert_string_equal(tz_zone_name(so->rule.zone), "Asia/Ho_Chi_Minh");
	assert_string_equal(so->bulk->reminders[0].task,
			    "P\xC4\x81rbaud\xC4\xABt, vai {customer} apmaks\xC4\x81ja");
	defs_free(d);
	diag_list_clear(&dl);
}

/* ---- schedule forms ---- */

static void test_every_units(void **state) {
	(void) state;
	static const struct { const char *every; rule_unit unit; uint32_t n; } cases[] = {
		{ "1 minute", RULE_UNIT_MINUTE, 1 }, { "15 minutes", RULE_UNIT_MINUTE, 15 },
		{ "1 hour", RULE_UNIT_HOUR, 1 }, { "6 hours", RULE_UNIT_HOUR, 6 },
		{ "1 day", RULE_UNIT_DAY, 1 }, { "3 days", RULE_UNIT_DAY, 3 },
		{ "1 week", RULE_UNIT_WEEK, 1 }, { "2 weeks", RULE_UNIT_WEEK, 2 },
		{ "1 month", RULE_UNIT_MONTH, 1 }, { "2 months", RULE_UNIT_MONTH, 2 },
		{ "1 year", RULE_UNIT_YEAR, 1 }, { "10 years", RULE_UNIT_YEAR, 10 },
		{ "\"2 months\"", RULE_UNIT_MONTH, 2 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *lines;
		defs *d;
		assert_true(asprintf(&lines, "      every: %s\n      start: 2026-12-01\n", cases[i].every) >= 0);
		const standing_order *so = sched_ok(lines, &d);
		assert_int_equal(so->rule.kind, RULE_EVERY);
		assert_int_equal(so->rule.unit, cases[i].unit);
		assert_int_equal(so->rule.interval, cases[i].n);
		assert_int_equal(so->rule.at, 0);   /* at: defaults to midnight */
		assert_true(so->rule.start_day == day("2026-12-01"));
		defs_free(d);
		free(lines);
	}
}

static void test_weekly_on(void **state) {
	(void) state;
	defs *d;
	const standing_order *so = sched_ok(
		"      every: 2 weeks\n"
		"      on: [mon, thu]\n"
		"      start: 2026-11-30\n"
		"      at: \"09:30\"\n", &d);
	assert_int_equal(so->rule.kind, RULE_WEEKLY_ON);
	assert_int_equal(so->rule.unit, RULE_UNIT_WEEK);
	assert_int_equal(so->rule.interval, 2);
	assert_int_equal(so->rule.on_mask, (1 << 0) | (1 << 3));
	assert_int_equal(so->rule.at, 9 * 3600 + 30 * 60);
	defs_free(d);

	so = sched_ok("      every: 1 week\n      on: [sun, sat, sun]\n      start: 2026-11-30\n", &d);
	assert_int_equal(so->rule.on_mask, (1 << 6) | (1 << 5));
	defs_free(d);
}

static void test_monthly_day(void **state) {
	(void) state;
	defs *d;
	const standing_order *so = sched_ok("      every: 1 month\n      day: 15\n      start: 2026-12-15\n", &d);
	assert_int_equal(so->rule.kind, RULE_MONTHLY_DAY);
	assert_int_equal(so->rule.unit, RULE_UNIT_MONTH);
	assert_int_equal(so->rule.interval, 1);
	assert_int_equal(so->rule.day, 15);
	defs_free(d);

	so = sched_ok("      every: 3 months\n      day: last\n      start: 2026-11-30\n      at: \"14:00\"\n", &d);
	assert_int_equal(so->rule.kind, RULE_MONTHLY_DAY);
	assert_int_equal(so->rule.interval, 3);
	assert_int_equal(so->rule.day, RULE_LAST);
	assert_int_equal(so->rule.at, 14 * 3600);
	defs_free(d);

	so = sched_ok("      every: 1 month\n      day: 31\n      start: 2026-12-01\n", &d);
	assert_int_equal(so->rule.day, 31);
	defs_free(d);
}

static void test_monthly_weekday(void **state) {
	(void) state;
	static const struct { const char *text; int nth, weekday; } cases[] = {
		{ "1st mon", 1, 0 }, { "2nd tue", 2, 1 }, { "3rd wed", 3, 2 }, { "4th thu", 4, 3 },
		{ "last fri", RULE_LAST, 4 }, { "\"last sun\"", RULE_LAST, 6 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *lines;
		defs *d;
		assert_true(asprintf(&lines, "      every: 3 months\n      weekday: %s\n      start: 2026-12-01\n",
				     cases[i].text) >= 0);
		const standing_order *so = sched_ok(lines, &d);
		assert_int_equal(so->rule.kind, RULE_MONTHLY_WEEKDAY);
		assert_int_equal(so->rule.unit, RULE_UNIT_MONTH);
		assert_int_equal(so->rule.interval, 3);
		assert_int_equal(so->rule.nth, cases[i].nth);
		assert_int_equal(so->rule.weekday, cases[i].weekday);
		defs_free(d);
		free(lines);
	}
}

static void test_cron(void **state) {
	(void) state;
	defs *d;
	cron_expr want;
	assert_int_equal(cron_parse("30 3 * * 0", &want, NULL), 0);
	const standing_order *so = sched_ok("      cron: \"30 3 * * 0\"\n      lead_time: 12 hours\n", &d);
	assert_int_equal(so->rule.kind, RULE_CRON);
	assert_true(so->rule.start_day == RULE_NO_DAY);
	assert_int_equal(so->rule.unit, RULE_UNIT_MINUTE);   /* interval: the cron fields share its storage */
	assert_true(so->rule.lead_time == 12 * 3600);
	assert_true(so->rule.cron->minute == want.minute);
	assert_true(so->rule.cron->hour == want.hour);
	assert_true(so->rule.cron->dom == want.dom);
	assert_true(so->rule.cron->month == want.month);
	assert_true(so->rule.cron->dow == want.dow);
	assert_true(so->rule.cron->dom_star == want.dom_star);
	assert_true(so->rule.cron->dow_star == want.dow_star);
	defs_free(d);

	so = sched_ok("      cron: \"@daily\"\n      start: 2026-11-23\n      count: 10\n", &d);
	assert_int_equal(so->rule.kind, RULE_CRON);
	assert_true(so->rule.start_day == day("2026-11-23"));
	assert_true(so->rule.count == 10);
	defs_free(d);
}

static void test_bounds_and_flags(void **state) {
	(void) state;
	defs *d;
	const standing_order *so = sched_ok(
		"      every: 1 day\n"
		"      start: 2026-12-01\n"
		"      until: 2027-06-30\n"
		"      skip: [2027-01-01, 2026-12-24, 2027-01-01, 2026-12-25]\n"
		"      paused: true\n"
		"      catch_up: latest\n"
		"      lead_time: 90 minutes\n", &d);
	assert_true(so->rule.has_until);
	assert_true(so->rule.until_day == day("2027-06-30"));
	assert_true(so->rule.count == 0);
	assert_int_equal(so->rule.n_skip, 3);   /* sorted, duplicates dropped */
	assert_true(so->rule.skip[0] == day("2026-12-24"));
	assert_true(so->rule.skip[1] == day("2026-12-25"));
	assert_true(so->rule.skip[2] == day("2027-01-01"));
	assert_true(so->rule.paused);
	assert_int_equal(so->catch_up, CATCH_UP_LATEST);
	assert_true(so->rule.lead_time == 90 * 60);
	defs_free(d);

	so = sched_ok("      every: 1 week\n      start: 2026-12-01\n      count: 12\n"
		      "      paused: false\n      catch_up: none\n      lead_time: 1 week\n", &d);
	assert_false(so->rule.has_until);
	assert_true(so->rule.count == 12);
	assert_false(so->rule.paused);
	assert_int_equal(so->catch_up, CATCH_UP_NONE);
	assert_true(so->rule.lead_time == 7 * 86400);
	defs_free(d);
}

/* Zones: the schedule's, else the customer's, else the config's, else UTC. */
static void test_zone_inheritance(void **state) {
	(void) state;
	static const char yaml[] =
		"customers:\n"
		"  - {id: riga, name: R, timezone: Europe/Riga}\n"
		"  - {id: plain, name: P}\n"
		"standing_orders:\n"
		"  - {id: own, customer: riga, supplier: lumen, payment: prepaid,\n"
		"     ship_to: {name: a, street: b, city: c, country: LV}, lines: [{sku: x, quantity: 1, unit_price: \"1 EUR\"}],\n"
		"     schedule: {every: 1 day, start: 2026-12-01, timezone: Asia/Ho_Chi_Minh}}\n"
		"  - {id: cust, customer: riga, supplier: lumen, payment: prepaid,\n"
		"     ship_to: {name: a, street: b, city: c, country: LV}, lines: [{sku: x, quantity: 1, unit_price: \"1 EUR\"}],\n"
		"     schedule: {every: 1 day, start: 2026-12-01}}\n"
		"  - {id: conf, customer: plain, supplier: lumen, payment: prepaid,\n"
		"     ship_to: {name: a, street: b, city: c, country: LV}, lines: [{sku: x, quantity: 1, unit_price: \"1 EUR\"}],\n"
		"     schedule: {every: 1 day, start: 2026-12-01}}\n";
	defs *d;
	diag_list dl = { 0 };
	assert_int_equal(load2(CONFIG, "orders.d/z.yaml", yaml, &d, &dl), 0);
	assert_string_equal(tz_zone_name(defs_find_order(d, "own")->rule.zone), "Asia/Ho_Chi_Minh");
	assert_string_equal(tz_zone_name(defs_find_order(d, "cust")->rule.zone), "Europe/Riga");
	assert_string_equal(tz_zone_name(defs_find_order(d, "conf")->rule.zone), "Europe/Helsinki");
	assert_string_equal(tz_zone_name(defs_find_customer(d, "plain")->zone), "Europe/Helsinki");
	defs_free(d);

	/* a config without timezone: UTC */
	static const char cfg[] = "suppliers: [{id: lumen, name: Lumen Oy}]\n" SALESPEOPLE;
	assert_int_equal(load2(cfg, "orders.d/z.yaml", yaml, &d, &dl), 0);
	assert_int_equal(dl.n, 0);
	assert_string_equal(tz_zone_name(defs_find_order(d, "conf")->rule.zone), "UTC");
	assert_string_equal(tz_zone_name(defs_find_order(d, "cust")->rule.zone), "Europe/Riga");
	defs_free(d);
	diag_list_clear(&dl);
}

static void test_defaults(void **state) {
	(void) state;
	static const char cfg[] = "catch_up: none\nmax_catch_up: 7\nsuppliers: [{id: lumen, name: Lumen Oy}]\n";
	static const char yaml[] =
		"customers: [{id: c, name: C}]\n"
		"standing_orders:\n"
		"  - id: o\n"
		"    customer: c\n"
		"    supplier: lumen\n"
		"    ship_to: {name: a, street: b, city: c, country: FI}\n"
		"    lines: [{sku: x, quantity: 1, unit_price: \"1 EUR\"}]\n"
		"    payment: prepaid\n"
		"    schedule: {every: 1 day, start: 2026-12-01}\n";
	defs *d;
	diag_list dl = { 0 };
	assert_int_equal(load2(cfg, "orders.d/d.yaml", yaml, &d, &dl), 0);
	assert_null(d->config.state_dir);
	assert_string_equal(d->config.socket, "/run/standingd/io.standingd.sock");
	assert_int_equal(d->config.catch_up, CATCH_UP_NONE);
	assert_int_equal(d->config.max_catch_up, 7);
	assert_null(d->config.notify_argv);
	assert_int_equal(d->config.notify_argc, 0);
	assert_int_equal(d->config.notify_parallel, 1);
	assert_int_equal(d->config.notify_timeout, 60);
	assert_int_equal(d->config.notify_max_attempts, 20);
	assert_int_equal(d->config.n_carriers, 0);
	assert_int_equal(d->config.mail.via, DEFS_MAIL_NONE);
	assert_null(d->config.ops_group);
	assert_int_equal(d->config.n_shop_users, 0);
	assert_string_equal(tz_zone_name(d->config.zone), "UTC");
	const customer *cu = defs_find_customer(d, "c");
	assert_string_equal(cu->language, "en");
	assert_null(cu->salesperson);
	assert_null(cu->account_number);
	assert_true(cu->credit_limit.minor == 0);
	assert_string_equal(cu->credit_limit.currency, "");
	assert_int_equal(cu->n_contacts, 0);
	/* issue 9: no VAT; the payment times are the config's defaults */
	assert_int_equal(cu->vat_rate, 0);
	assert_int_equal(d->config.payment_due, 3 * 86400);
	assert_int_equal(d->config.cancel_unpaid_after, 14 * 86400);
	assert_int_equal(cu->payment_due, 3 * 86400);
	assert_int_equal(cu->cancel_unpaid_after, 14 * 86400);
	const standing_order *so = defs_find_order(d, "o");
	assert_int_equal(so->catch_up, CATCH_UP_NONE);   /* from the config */
	assert_null(so->bulk->ship_to.postcode);
	assert_int_equal(so->bulk->n_reminders, 0);
	assert_int_equal(so->rule.at, 0);
	assert_true(so->rule.lead_time == 0);
	assert_false(so->rule.paused);
	defs_free(d);

	/* an empty standingd.yaml is all defaults; an empty orders file defines nothing */
	assert_int_equal(load2("", "orders.d/empty.yaml", "# nothing yet\n", &d, &dl), 0);
	assert_int_equal(dl.n, 0);
	assert_int_equal(d->config.catch_up, CATCH_UP_ALL);
	assert_int_equal(d->config.max_catch_up, 100);
	assert_int_equal(d->n_orders, 0);
	assert_int_equal(d->n_customers, 0);
	defs_free(d);
	diag_list_clear(&dl);
}

/* Customers and orders come out sorted by id, with references across files. */
static void test_cross_file(void **state) {
	(void) state;
	static const char a[] = "customers: [{id: zeta, name: Z}, {id: alpha, name: A, account: {number: N1}}]\n";
	static const char b[] =
		"standing_orders:\n"
		"  - {id: o2, customer: alpha, supplier: lumen, payment: account,\n"
		"     ship_to: {name: a, street: b, city: c, country: FI}, lines: [{sku: x, quantity: 1, unit_price: \"1 EUR\"}],\n"
		"     schedule: {every: 1 day, start: 2026-12-01}}\n"
		"  - {id: o1, customer: zeta, supplier: lumen, payment: prepaid,\n"
		"     ship_to: {name: a, street: b, city: c, country: FI}, lines: [{sku: x, quantity: 1, unit_price: \"1 EUR\"}],\n"
		"     schedule: {every: 1 day, start: 2026-12-01}}\n";
	defs_file f[] = {
		DEFS_FILE("standingd.yaml", CONFIG),
		DEFS_FILE("orders.d/a.yaml", a),
		DEFS_FILE("orders.d/b.yaml", b),
	};
	defs *d;
	diag_list dl = { 0 };
	assert_int_equal(load_files(f, 3, &d, &dl), 0);
	assert_int_equal(d->n_customers, 2);
	assert_string_equal(d->customers[0].id, "alpha");
	assert_string_equal(d->customers[1].id, "zeta");
	assert_string_equal(d->orders[0].id, "o1");
	assert_string_equal(d->orders[1].id, "o2");
	assert_ptr_equal(d->orders[0].customer, &d->customers[1]);
	assert_ptr_equal(d->orders[1].customer, &d->customers[0]);
	assert_string_equal(d->orders[1].bulk->file, "orders.d/b.yaml");
	assert_int_equal(d->orders[1].bulk->line, 2);
	defs_free(d);
	diag_list_clear(&dl);
}

/* Same definition, same hash wherever it sits; any change, another hash. */
static void test_hash(void **state) {
	(void) state;
	defs *d;
	diag_list dl = { 0 };
	assert_int_equal(load2(CONFIG, "orders.d/acme.yaml", ACME, &d, &dl), 0);
	uint64_t h0 = d->orders[0].hash;
	defs_free(d);

	/* other file name, other position, comments, flow style: same definition */
	char *moved;
	assert_true(asprintf(&moved, "# moved\n\n%s", ACME) >= 0);
	assert_int_equal(load2(CONFIG, "orders.d/other.yaml", moved, &d, &dl), 0);
	assert_true(d->orders[0].hash == h0);
	defs_free(d);
	free(moved);

	static const char *const edits[][2] = {
		{ "quantity: 1000", "quantity: 1001" },
		{ "\"0.85 EUR\"", "\"0.86 EUR\"" },
		{ "every: 2 months", "every: 3 months" },
		{ "start: 2026-12-01", "start: 2026-12-02" },
		{ "\"06:00\"", "\"06:01\"" },
		{ "timezone: Europe/Helsinki        #", "timezone: Europe/Riga        #" },
		{ "lead_time: 5 days", "lead_time: 4 days" },
		{ "payment: account", "payment: prepaid" },
		{ "city: Helsinki", "city: Espoo" },
		{ "before: 3 days", "before: 2 days" },
		{ "received order", "got order" },
		{ "      # skip: [2027-06-01]", "      skip: [2027-06-01]" },
		{ "      # until", "      paused: true\n      # until" },
	};
	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		char *s = edit(ACME, edits[i][0], edits[i][1]);
		int r = load2(CONFIG, "orders.d/acme.yaml", s, &d, &dl);
		expect_diags(&dl, (const char *[]) { NULL });
		assert_int_equal(r, 0);
		if (d->orders[0].hash == h0)
			print_error("edit %zu (%s) kept the hash\n", i, edits[i][1]);
		assert_true(d->orders[0].hash != h0);
		defs_free(d);
		free(s);
	}
	/* the inherited zone counts too: drop the schedule's, change the customer's */
	char *s1 = edit(ACME, "      timezone: Europe/Helsinki        # optional\n", "");
	char *s2 = edit(s1, "    timezone: Europe/Helsinki\n", "    timezone: Europe/Oslo\n");
	assert_int_equal(load2(CONFIG, "orders.d/acme.yaml", s1, &d, &dl), 0);
	uint64_t h1 = d->orders[0].hash;
	assert_true(h1 == h0);   /* same effective zone */
	defs_free(d);
	assert_int_equal(load2(CONFIG, "orders.d/acme.yaml", s2, &d, &dl), 0);
	assert_true(d->orders[0].hash != h1);
	defs_free(d);
	free(s1);
	free(s2);
	diag_list_clear(&dl);
}

/* ---- one test per kind of error ---- */

static void test_err_unknown_key(void **state) {
	(void) state;
	expect_edit2("    schedule:\n", "    shedule:\n",
		     "orders.d/acme.yaml:11:5: missing key \"schedule\"",
		     "orders.d/acme.yaml:18:5: unknown key \"shedule\" (did you mean \"schedule\"?)");
	expect_edit("      lead_time:", "      xyz: 1\n      lead_time:",
		    "orders.d/acme.yaml:23:7: unknown key \"xyz\"");
	expect_edit("    language: fi", "    langauge: fi",
		    "orders.d/acme.yaml:4:5: unknown key \"langauge\" (did you mean \"language\"?)");
	expect_edit("quantity: 1000", "quantity: 1000, qty: 1",
		    "orders.d/acme.yaml:16:41: unknown key \"qty\"");
	expect_edit2("{before: 3 days,", "{befor: 3 days,",
		     "orders.d/acme.yaml:27:9: missing key \"before\" or \"after_shipped\"",
		     "orders.d/acme.yaml:27:10: unknown key \"befor\" (did you mean \"before\"?)");
	expect_fail("state_dir: /a\nsoket: /b\n", "orders.d/acme.yaml", "",
		    (const char *[]) { "standingd.yaml:2:1: unknown key \"soket\" (did you mean \"socket\"?)", NULL });
	expect_one("customers: []\nstanding_order: []\n",
		   "orders.d/acme.yaml:2:1: unknown key \"standing_order\" (did you mean \"standing_orders\"?)");
	expect_edit("      at: \"06:00\"\n", "      at: \"06:00\"\n      at: \"07:00\"\n",
		    "orders.d/acme.yaml:22:7: duplicate key \"at\"");
}

static void test_err_missing_key(void **state) {
	(void) state;
	expect_edit("    customer: acme\n", "", "orders.d/acme.yaml:11:5: missing key \"customer\"");
	expect_edit("  - id: acme-bulbs\n    customer: acme\n", "  - customer: acme\n",
		    "orders.d/acme.yaml:11:5: missing key \"id\"");
	expect_edit("{sku: BULB-60W, ", "{", "orders.d/acme.yaml:16:9: missing key \"sku\"");
	expect_edit("      start: 2026-12-01\n", "", "orders.d/acme.yaml:19:7: missing key \"start\"");
	expect_edit("      every: 2 months                  # singular or plural unit\n", "",
		    "orders.d/acme.yaml:19:7: missing key \"every\" or \"cron\"");
	expect_edit(", task: \"Call {contact} to confirm the {delivery_date} delivery\"", "",
		    "orders.d/acme.yaml:27:9: missing key \"task\"");
}

static void test_err_types(void **state) {
	(void) state;
	expect_edit("ship_to: {", "ship_to: Teollisuuskatu 1 #{",
		    "orders.d/acme.yaml:14:14: expected a mapping");
	expect_edit("    lines:\n      - {sku: BULB-60W, quantity: 1000, unit_price: \"0.85 EUR\"}\n",
		    "    lines: BULB-60W\n", "orders.d/acme.yaml:15:12: expected a list");
	expect_edit("name: ACME Oy", "name: [ACME, Oy]", "orders.d/acme.yaml:3:11: expected a string");
	expect_edit("name: ACME Oy", "name:", "orders.d/acme.yaml:3:10: expected a string");
	expect_edit("quantity: 1000", "quantity: ten", "orders.d/acme.yaml:16:35: expected an integer");
	expect_edit("quantity: 1000", "quantity: \"1000\"", "orders.d/acme.yaml:16:35: expected an integer");
	expect_edit("quantity: 1000", "quantity: 1.5", "orders.d/acme.yaml:16:35: expected an integer");
	expect_edit("lead_time: 5 days", "lead_time: 5 days\n      paused: yes",
		    "orders.d/acme.yaml:24:15: expected true or false");
	expect_one("- customers\n", "orders.d/acme.yaml:1:1: expected a mapping");
	expect_edit("  - id: acme-bulbs\n", "  - just a string\n  - id: acme-bulbs\n",
		    "orders.d/acme.yaml:11:5: expected a mapping");
	expect_fail("suppliers: lumen\n", "orders.d/acme.yaml", "",
		    (const char *[]) { "standingd.yaml:1:12: expected a list", NULL });
	expect_fail("max_catch_up: many\n", "orders.d/acme.yaml", "",
		    (const char *[]) { "standingd.yaml:1:15: expected an integer", NULL });
	expect_fail("max_catch_up: 0\n", "orders.d/acme.yaml", "",
		    (const char *[]) { "standingd.yaml:1:15: expected a positive integer", NULL });
	expect_fail("state_dir: var/lib\n", "orders.d/acme.yaml", "",
		    (const char *[]) { "standingd.yaml:1:12: expected an absolute path, got \"var/lib\"", NULL });
	expect_edit("sku: BULB-60W", "sku: \"\"", "orders.d/acme.yaml:16:15: expected a non-empty string");
	expect_edit("id: acme-bulbs", "id: acme bulbs",
		    "orders.d/acme.yaml:11:9: expected an id of at most 128 letters, digits, \".\", \"_\" or \"-\", "
		    "got \"acme bulbs\"");
	expect_edit("country: FI}", "country: Finland}",
		    "orders.d/acme.yaml:14:105: expected a country code like \"FI\", got \"Finland\"");
}

static void test_err_quantity(void **state) {
	(void) state;
	expect_edit("quantity: 1000", "quantity: 0", "orders.d/acme.yaml:16:35: expected a positive integer");
	expect_edit("quantity: 1000", "quantity: -5", "orders.d/acme.yaml:16:35: expected a positive integer");
	expect_edit("quantity: 1000", "quantity: 99999999999999999999",
		    "orders.d/acme.yaml:16:35: expected an integer of at most 9223372036854775807");
	expect_edit("    lines:\n      - {sku: BULB-60W, quantity: 1000, unit_price: \"0.85 EUR\"}\n",
		    "    lines: []\n", "orders.d/acme.yaml:15:12: expected at least one line");
}

static void test_err_date_time(void **state) {
	(void) state;
	expect_edit("start: 2026-12-01", "start: 2027-02-30",
		    "orders.d/acme.yaml:20:14: expected a date YYYY-MM-DD, got \"2027-02-30\"");
	expect_edit("start: 2026-12-01", "start: 1.12.2026",
		    "orders.d/acme.yaml:20:14: expected a date YYYY-MM-DD, got \"1.12.2026\"");
	expect_edit("at: \"06:00\"", "at: \"25:00\"",
		    "orders.d/acme.yaml:21:11: expected a time HH:MM, got \"25:00\"");
	expect_edit("at: \"06:00\"", "at: 6am", "orders.d/acme.yaml:21:11: expected a time HH:MM, got \"6am\"");
	expect_edit("      # skip: [2027-06-01]", "      skip: [2027-06-01, 2027-13-01]",
		    "orders.d/acme.yaml:25:26: expected a date YYYY-MM-DD, got \"2027-13-01\"");
	expect_edit("      # until: 2029-12-31 | count: 12  (neither: until further notice)",
		    "      until: 2026-01-01",
		    "orders.d/acme.yaml:24:14: until 2026-01-01 is before start 2026-12-01");
}

static void test_err_duration_interval(void **state) {
	(void) state;
	expect_edit("lead_time: 5 days", "lead_time: 5 dayz",
		    "orders.d/acme.yaml:23:18: expected a duration like \"5 days\", got \"5 dayz\"");
	expect_edit("lead_time: 5 days", "lead_time: 1 month",
		    "orders.d/acme.yaml:23:18: expected a duration like \"5 days\", got \"1 month\"");
	expect_edit("lead_time: 5 days", "lead_time: -5 days",
		    "orders.d/acme.yaml:23:18: expected a duration like \"5 days\", got \"-5 days\"");
	expect_edit("{after_shipped: 2 days", "{after_shipped: two days",
		    "orders.d/acme.yaml:28:25: expected a duration like \"5 days\", got \"two days\"");
	/* a reminder at the delivery itself would never make a task: refused like the
	 * other durations that must be positive; after_shipped: 0 is MarkShipped's instant */
	expect_edit("{before: 3 days,", "{before: 0 days,", "orders.d/acme.yaml:27:18: expected a positive duration");
	expect_edit("{before: 3 days,", "{before: 0 seconds,", "orders.d/acme.yaml:27:18: expected a positive duration");
	char *zero = edit(ACME, "{after_shipped: 2 days", "{after_shipped: 0 days");
	defs *d = NULL;
	diag_list dl = { 0 };
	assert_int_equal(load2(CONFIG, "orders.d/acme.yaml", zero, &d, &dl), 0);
	assert_int_equal(defs_find_order(d, "acme-bulbs")->bulk->reminders[1].offset, 0);
	defs_free(d);
	free(zero);
	expect_edit("every: 2 months", "every: 0 months", "orders.d/acme.yaml:19:14: expected a positive interval");
	expect_edit("every: 2 months", "every: -1 days", "orders.d/acme.yaml:19:14: expected a positive interval");
	expect_edit("every: 2 months", "every: 2 fortnights",
		    "orders.d/acme.yaml:19:14: expected an interval like \"2 months\", got \"2 fortnights\"");
	expect_edit("every: 2 months", "every: 2",
		    "orders.d/acme.yaml:19:14: expected an interval like \"2 months\", got \"2\"");
	expect_edit("every: 2 months", "every: monthly",
		    "orders.d/acme.yaml:19:14: expected an interval like \"2 months\", got \"monthly\"");
}

static void test_err_zone(void **state) {
	(void) state;
	expect_edit("      timezone: Europe/Helsinki        #", "      timezone: Europe/Helsinky        #",
		    "orders.d/acme.yaml:22:17: unknown time zone \"Europe/Helsinky\"");
	expect_edit("    timezone: Europe/Helsinki\n", "    timezone: Mars/Olympus\n",
		    "orders.d/acme.yaml:5:15: unknown time zone \"Mars/Olympus\"");
	expect_edit("    timezone: Europe/Helsinki\n", "    timezone: ../../etc/passwd\n",
		    "orders.d/acme.yaml:5:15: unknown time zone \"../../etc/passwd\"");
	expect_fail("timezone: Europe/Helsinky\n", "orders.d/acme.yaml", "",
		    (const char *[]) { "standingd.yaml:1:11: unknown time zone \"Europe/Helsinky\"", NULL });
}

static void test_err_references(void **state) {
	(void) state;
	expect_edit("customer: acme", "customer: acne", "orders.d/acme.yaml:12:15: unknown customer \"acne\"");
	expect_edit("supplier: lumen", "supplier: lumenn", "orders.d/acme.yaml:13:15: unknown supplier \"lumenn\"");
	expect_edit("    account: {number: ACC-1001, credit_limit: \"50000.00 EUR\"}\n", "",
		    "orders.d/acme.yaml:16:14: payment \"account\" needs an account for customer \"acme\"");
}

static void test_err_duplicates(void **state) {
	(void) state;
	/* the same file twice: every id is defined again */
	defs_file f[] = {
		DEFS_FILE("standingd.yaml", CONFIG),
		DEFS_FILE("orders.d/a.yaml", ACME),
		DEFS_FILE("orders.d/b.yaml", ACME),
	};
	defs *d = NULL;
	diag_list dl = { 0 };
	assert_int_equal(load_files(f, 3, &d, &dl), -EINVAL);
	assert_null(d);
	expect_diags(&dl, (const char *[]) {
		"orders.d/b.yaml:2:9: duplicate customer id \"acme\" (first defined at orders.d/a.yaml:2:9)",
		"orders.d/b.yaml:11:9: duplicate standing order id \"acme-bulbs\" (first defined at orders.d/a.yaml:11:9)",
		NULL });
	diag_list_clear(&dl);

	/* within one file, and a third definition still names the first */
	char *three;
	const char *again =
		"  - {id: acme-bulbs, customer: acme, supplier: lumen, payment: prepaid,\n"
		"     ship_to: {name: a, street: b, city: c, country: FI}, lines: [{sku: x, quantity: 1, unit_price: \"1 EUR\"}],\n"
		"     schedule: {every: 1 day, start: 2026-12-01}}\n";
	assert_true(asprintf(&three, "%s%s%s", ACME, again, again) >= 0);
	expect_fail(CONFIG, "orders.d/acme.yaml", three, (const char *[]) {
		"orders.d/acme.yaml:29:10: duplicate standing order id \"acme-bulbs\" (first defined at orders.d/acme.yaml:11:9)",
		"orders.d/acme.yaml:32:10: duplicate standing order id \"acme-bulbs\" (first defined at orders.d/acme.yaml:11:9)",
		NULL });
	free(three);

	static const char cfg[] =
		"suppliers:\n"
		"  - {id: lumen, name: Lumen Oy}\n"
		"  - {id: lumen, name: Lumen AB}\n";
	expect_fail(cfg, "orders.d/acme.yaml", "",
		    (const char *[]) { "standingd.yaml:3:10: duplicate supplier id \"lumen\" (first defined at standingd.yaml:2:10)", NULL });
}

static void test_err_money(void **state) {
	(void) state;
	expect_edit("\"0.85 EUR\"", "\"0.855 EUR\"",
		    "orders.d/acme.yaml:16:53: EUR has at most 2 decimals, got \"0.855 EUR\"");
	expect_edit("\"0.85 EUR\"", "\"0.85\"",
		    "orders.d/acme.yaml:16:53: expected an amount and currency like \"0.85 EUR\", got \"0.85\"");
	expect_edit("\"0.85 EUR\"", "0.85",
		    "orders.d/acme.yaml:16:53: expected an amount and currency like \"0.85 EUR\", got \"0.85\"");
	expect_edit("\"0.85 EUR\"", "\"0.85 EUX\"", "orders.d/acme.yaml:16:53: unknown currency \"EUX\"");
	expect_edit("\"0.85 EUR\"", "\"1.5 VND\"", "orders.d/acme.yaml:16:53: VND has no decimals, got \"1.5 VND\"");
	expect_edit("\"0.85 EUR\"", "\"1.2345 KWD\"",
		    "orders.d/acme.yaml:16:53: KWD has at most 3 decimals, got \"1.2345 KWD\"");
	expect_edit("\"0.85 EUR\"", "\"99999999999999999999 EUR\"",
		    "orders.d/acme.yaml:16:53: amount out of range, got \"99999999999999999999 EUR\"");
	expect_edit("\"0.85 EUR\"", "\"-0.85 EUR\"",
		    "orders.d/acme.yaml:16:53: expected an amount of at least zero, got \"-0.85 EUR\"");
	expect_edit("\"50000.00 EUR\"", "\"1 000 EUR\"",
		    "orders.d/acme.yaml:7:47: expected an amount and currency like \"0.85 EUR\", got \"1 000 EUR\"");
	expect_edit("      - {sku: BULB-60W, quantity: 1000, unit_price: \"0.85 EUR\"}\n",
		    "      - {sku: BULB-60W, quantity: 1000, unit_price: \"0.85 EUR\"}\n"
		    "      - {sku: BULB-40W, quantity: 1000, unit_price: \"5.00 NOK\"}\n",
		    "orders.d/acme.yaml:17:53: expected the currency of the first line, EUR, got \"5.00 NOK\"");
}

/* issue 9: vat, payment_due and cancel_unpaid_after; a credit limit in one currency
 * and an account order in another. */
static void test_payment_keys(void **state) {
	(void) state;
	static const char cfg[] = "payment_due: 2 days\ncancel_unpaid_after: 10 days\nsuppliers: [{id: lumen, name: Lumen Oy}]\n" SALESPEOPLE;
	char *yaml = edit(ACME, "    language: fi", "    vat: \"25.5%\"\n    payment_due: 5 days\n    language: fi");
	defs *d;
	diag_list dl = { 0 };
	assert_int_equal(load2(cfg, "orders.d/acme.yaml", yaml, &d, &dl), 0);
	free(yaml);
	assert_int_equal(d->config.payment_due, 2 * 86400);
	assert_int_equal(d->config.cancel_unpaid_after, 10 * 86400);
	const customer *cu = defs_find_customer(d, "acme");
	assert_int_equal(cu->vat_rate, 25500);
	assert_int_equal(cu->payment_due, 5 * 86400);            /* its own */
	assert_int_equal(cu->cancel_unpaid_after, 10 * 86400);   /* the config's */
	defs_free(d);
	expect_edit("    language: fi", "    vat: 25.5\n    language: fi",
		    "orders.d/acme.yaml:4:10: expected a VAT rate like \"25.5%\" (0% to 100%, up to 3 decimals), got \"25.5\"");
	expect_edit("    language: fi", "    vat: \"120%\"\n    language: fi",
		    "orders.d/acme.yaml:4:10: expected a VAT rate like \"25.5%\" (0% to 100%, up to 3 decimals), got \"120%\"");
	expect_edit("    language: fi", "    payment_due: 20 days\n    language: fi",
		    "orders.d/acme.yaml:4:18: cancel_unpaid_after (1209600 seconds) must be longer than payment_due "
		    "(1728000 seconds)");
	expect_edit("    language: fi", "    cancel_unpaid_after: 0 days\n    language: fi",
		    "orders.d/acme.yaml:4:26: expected a positive duration");
	/* the credit limit is in EUR: an account order in NOK is refused where it says account */
	expect_edit("unit_price: \"0.85 EUR\"", "unit_price: \"8.50 NOK\"",
		    "orders.d/acme.yaml:17:14: payment \"account\" in NOK: customer \"acme\" has a credit limit in EUR, "
		    "which applies only to EUR charges");
	/* prepaid in NOK is fine: no charge on the account */
	char *p = edit(ACME, "unit_price: \"0.85 EUR\"", "unit_price: \"8.50 NOK\"");
	char *q = edit(p, "payment: account ", "payment: prepaid ");
	assert_int_equal(load2(CONFIG, "orders.d/acme.yaml", q, &d, &dl), 0);
	defs_free(d);
	free(p);
	free(q);
}

static void test_err_utf8(void **state) {
	(void) state;
	expect_edit("name: ACME Oy", "name: ACME \xFFOy", "orders.d/acme.yaml:3:16: invalid UTF-8");
	/* columns count characters, not bytes */
	expect_edit("name: ACME Oy", "name: \xC3\x84\xC3\xA4ne\xC0\xAF", "orders.d/acme.yaml:3:15: invalid UTF-8");
	expect_edit("name: ACME Oy", "name: \xED\xA0\x80", "orders.d/acme.yaml:3:11: invalid UTF-8");   /* a surrogate */
	expect_edit("name: ACME Oy", "name: \xF4\x90\x80\x80", "orders.d/acme.yaml:3:11: invalid UTF-8"); /* > U+10FFFF */
	expect_one("customers: []\n# \xE2\x82", "orders.d/acme.yaml:2:3: invalid UTF-8");   /* cut at the end */
	/* valid UTF-8 that YAML does not allow */
	expect_edit("name: ACME Oy", "name: ACME\x01", "orders.d/acme.yaml:3:15: control characters are not allowed");
}

static void test_err_syntax(void **state) {
	(void) state;
	expect_edit("name: ACME Oy", "name: ACME: Oy",
		    "orders.d/acme.yaml:3:15: mapping values are not allowed in this context");
	expect_edit("    customer: acme\n", "   customer: acme\n",
		    "orders.d/acme.yaml:12:4: did not find expected '-' indicator");
	expect_edit("ship_to: {", "ship_to: [", "orders.d/acme.yaml:14:107: did not find expected ',' or ']'");
	expect_one("customers: []\n---\nstanding_orders: []\n",
		   "orders.d/acme.yaml:2:1: expected a single document, not several");
	expect_one("customers: *nothing\n", "orders.d/acme.yaml:1:12: unknown alias \"nothing\"");
	expect_one("customers: &a [ *a ]\n", "orders.d/acme.yaml:1:17: alias \"a\" refers to a node that contains it");
	/* a syntax error hides the rest of that file, not the errors in others */
	defs_file f[] = {
		DEFS_FILE("standingd.yaml", "catch_up: sometimes\nsuppliers: [{id: lumen, name: L}]\n" SALESPEOPLE),
		DEFS_FILE("orders.d/a.yaml", "customers: [\n"),
		DEFS_FILE("orders.d/b.yaml", ACME),
	};
	defs *d = NULL;
	diag_list dl = { 0 };
	assert_int_equal(load_files(f, 3, &d, &dl), -EINVAL);
	expect_diags(&dl, (const char *[]) {
		"orders.d/a.yaml:2:1: did not find expected node content",
		"standingd.yaml:1:11: expected one of all, latest, none, got \"sometimes\"",
		NULL });
	diag_list_clear(&dl);

	/* nor do the references into a file that did not parse */
	f[0].data = (char *) "suppliers: [\n";
	f[0].len = strlen(f[0].data);
	f[1].data = (char *) "customers: [{id: acme, name: A}\n";
	f[1].len = strlen(f[1].data);
	assert_int_equal(load_files(f, 3, &d, &dl), -EINVAL);
	expect_diags(&dl, (const char *[]) {
		"orders.d/a.yaml:2:1: did not find expected ',' or ']'",
		"standingd.yaml:2:1: did not find expected node content",
		NULL });
	diag_list_clear(&dl);
}

static void test_err_enums(void **state) {
	(void) state;
	expect_edit("language: fi", "language: se",
		    "orders.d/acme.yaml:4:15: expected one of en, fi, lv, nb, vi, got \"se\"");
	expect_edit("payment: account", "payment: acount",
		    "orders.d/acme.yaml:17:14: expected one of account, prepaid, got \"acount\"");
	expect_edit("lead_time: 5 days", "lead_time: 5 days\n      catch_up: sometimes",
		    "orders.d/acme.yaml:24:17: expected one of all, latest, none, got \"sometimes\"");
	expect_sched("      every: 1 week\n      on: [mon, thux]\n      start: 2026-12-01\n",
		     "orders.d/acme.yaml:20:17: expected one of mon, tue, wed, thu, fri, sat, sun, got \"thux\"");
	expect_sched("      every: 1 month\n      weekday: 5th tue\n      start: 2026-12-01\n",
		     "orders.d/acme.yaml:20:16: expected one of 1st, 2nd, 3rd, 4th, last, got \"5th\"");
	expect_sched("      every: 1 month\n      weekday: 2nd tux\n      start: 2026-12-01\n",
		     "orders.d/acme.yaml:20:16: expected one of mon, tue, wed, thu, fri, sat, sun, got \"tux\"");
	expect_sched("      every: 1 month\n      weekday: tuesday\n      start: 2026-12-01\n",
		     "orders.d/acme.yaml:20:16: expected a weekday like \"2nd tue\" or \"last fri\", got \"tuesday\"");
	expect_sched("      every: 1 month\n      day: 32\n      start: 2026-12-01\n",
		     "orders.d/acme.yaml:20:12: expected a day of the month 1..31 or \"last\", got \"32\"");
	expect_sched("      every: 1 week\n      on: []\n      start: 2026-12-01\n",
		     "orders.d/acme.yaml:20:11: expected at least one weekday");
}

static void test_err_cron(void **state) {
	(void) state;
	cron_expr ce;
	const char *why = NULL;
	assert_int_equal(cron_parse("61 * * * *", &ce, &why), -EINVAL);
	char *want;
	assert_true(asprintf(&want, "orders.d/acme.yaml:19:13: invalid cron expression: %s", why) >= 0);
	expect_sched("      cron: \"61 * * * *\"\n", want);
	free(want);
	expect_sched("      cron: \"30 3 * * 0\"\n      count: 5\n",
		     "orders.d/acme.yaml:20:14: \"count\" needs \"start\" with \"cron\"");
}

/* Bounds on what has no sensible meaning: dates outside 1970..9999, a lead_time
 * beyond a year, a count beyond what a minutely schedule reaches by 9999. */
static void test_err_sched_bounds(void **state) {
	(void) state;
	expect_sched("      every: 1 minute\n      start: 0001-01-01\n",
		     "orders.d/acme.yaml:20:14: expected a date from 1970-01-01 to 9999-12-31, got \"0001-01-01\"");
	expect_sched("      cron: \"@daily\"\n      start: 1969-12-31\n",
		     "orders.d/acme.yaml:20:14: expected a date from 1970-01-01 to 9999-12-31, got \"1969-12-31\"");
	expect_sched("      every: 1 day\n      start: 2026-12-01\n      until: 1969-12-31\n",
		     "orders.d/acme.yaml:21:14: expected a date from 1970-01-01 to 9999-12-31, got \"1969-12-31\"");
	expect_sched("      every: 1 day\n      start: 2026-12-01\n      skip: [2026-12-24, 1969-12-31]\n",
		     "orders.d/acme.yaml:21:26: expected a date from 1970-01-01 to 9999-12-31, got \"1969-12-31\"");
	expect_sched("      cron: \"@daily\"\n      lead_time: 999999999 weeks\n",
		     "orders.d/acme.yaml:20:18: lead_time must be at most a year (366 days), got \"999999999 weeks\"");
	expect_sched("      cron: \"@daily\"\n      lead_time: 367 days\n",
		     "orders.d/acme.yaml:20:18: lead_time must be at most a year (366 days), got \"367 days\"");
	expect_sched("      every: 1 day\n      start: 2026-12-01\n      count: 4294967296\n",
		     "orders.d/acme.yaml:21:14: expected an integer of at most 4294967295");
	/* the bounds themselves are accepted */
	defs *d;
	const standing_order *so = sched_ok("      every: 1 minute\n      start: 1970-01-01\n      count: 4294967295\n"
					    "      lead_time: 366 days\n", &d);
	assert_true(so->rule.start_day == 0);
	assert_true(so->rule.count == UINT64_C(4294967295));
	assert_true(so->rule.lead_time == 366 * 86400);
	defs_free(d);
	so = sched_ok("      every: 1 day\n      start: 9999-12-31\n      until: 9999-12-31\n", &d);
	assert_true(so->rule.until_day == 2932896);
	defs_free(d);
}

static void test_err_mixing(void **state) {
	(void) state;
	expect_sched("      every: 2 months\n      on: [mon, thu]\n      start: 2026-12-01\n",
		     "orders.d/acme.yaml:20:11: \"on\" needs \"every: N weeks\"");
	expect_sched("      every: 2 weeks\n      day: 15\n      start: 2026-12-01\n",
		     "orders.d/acme.yaml:20:12: \"day\" needs \"every: N months\"");
	expect_sched("      every: 1 year\n      weekday: 2nd tue\n      start: 2026-12-01\n",
		     "orders.d/acme.yaml:20:16: \"weekday\" needs \"every: N months\"");
	expect_sched("      every: 1 month\n      day: 15\n      weekday: 2nd tue\n      start: 2026-12-01\n",
		     "orders.d/acme.yaml:21:16: \"day\" and \"weekday\" are exclusive");
	expect_sched("      every: 1 day\n      cron: \"30 3 * * 0\"\n      start: 2026-12-01\n",
		     "orders.d/acme.yaml:20:13: \"every\" and \"cron\" are exclusive");
	expect_sched("      cron: \"30 3 * * 0\"\n      at: \"06:00\"\n",
		     "orders.d/acme.yaml:20:11: \"at\" is not used with \"cron\"");
	expect_sched("      cron: \"30 3 * * 0\"\n      on: [mon]\n",
		     "orders.d/acme.yaml:20:11: \"on\" needs \"every: N weeks\"");
	expect_sched("      every: 1 day\n      start: 2026-12-01\n      until: 2027-12-01\n      count: 3\n",
		     "orders.d/acme.yaml:22:14: \"until\" and \"count\" are exclusive");
	expect_edit("{before: 3 days,", "{before: 3 days, after_shipped: 1 day,",
		    "orders.d/acme.yaml:27:41: \"before\" and \"after_shipped\" are exclusive");
	expect_sched("      every: 1 day\n      start: 2026-12-01\n      count: 0\n",
		     "orders.d/acme.yaml:21:14: expected a positive integer");
}

/* Every error of a file is reported, not only the first. */
static void test_all_errors(void **state) {
	(void) state;
	char *s1 = edit(ACME, "language: fi", "language: se");
	char *s2 = edit(s1, "quantity: 1000", "quantity: 0");
	char *s3 = edit(s2, "start: 2026-12-01", "start: 2027-02-30");
	expect_fail(CONFIG, "orders.d/acme.yaml", s3, (const char *[]) {
		"orders.d/acme.yaml:4:15: expected one of en, fi, lv, nb, vi, got \"se\"",
		"orders.d/acme.yaml:16:35: expected a positive integer",
		"orders.d/acme.yaml:20:14: expected a date YYYY-MM-DD, got \"2027-02-30\"",
		NULL });
	free(s1);
	free(s2);
	free(s3);

	/* and all files: errors come sorted by file, line, column */
	char *bad_a = edit(ACME, "supplier: lumen", "supplier: lumenn");
	defs_file f[] = {
		DEFS_FILE("standingd.yaml", "max_catch_up: -1\n" SALESPEOPLE),
		DEFS_FILE("orders.d/b.yaml", "customers: [{id: x, name: X, language: xx}]\n"),
		DEFS_FILE("orders.d/a.yaml", bad_a),
	};
	defs *d = NULL;
	diag_list dl = { 0 };
	assert_int_equal(load_files(f, 3, &d, &dl), -EINVAL);
	expect_diags(&dl, (const char *[]) {
		"orders.d/a.yaml:13:15: unknown supplier \"lumenn\"",
		"orders.d/b.yaml:1:40: expected one of en, fi, lv, nb, vi, got \"xx\"",
		"standingd.yaml:1:15: expected a positive integer",
		NULL });
	diag_list_clear(&dl);
	free(bad_a);

	/* a customer whose file has an error still resolves references: no cascade */
	const char *orders_only = strstr(ACME, "standing_orders:");
	defs_file g[] = {
		DEFS_FILE("standingd.yaml", CONFIG),
		DEFS_FILE("orders.d/a.yaml", "customers: [{id: acme, name: A, language: xx, account: {number: N}}]\n"),
		DEFS_FILE("orders.d/b.yaml", orders_only),
	};
	assert_int_equal(load_files(g, 3, &d, &dl), -EINVAL);
	expect_diags(&dl, (const char *[]) { "orders.d/a.yaml:1:43: expected one of en, fi, lv, nb, vi, got \"xx\"", NULL });
	diag_list_clear(&dl);
}

/* A file with hundreds of errors does not bury the others. */
static void test_error_cap(void **state) {
	(void) state;
	char *yaml = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&yaml, &len);
	fprintf(f, "customers:\n");
	for (int i = 0; i < 150; i++)
		fprintf(f, "  - {id: c%d, name: C, language: xx}\n", i);
	fclose(f);
	defs *d = NULL;
	diag_list dl = { 0 };
	assert_int_equal(load2(CONFIG, "orders.d/many.yaml", yaml, &d, &dl), -EINVAL);
	assert_int_equal(dl.n, 101);
	char *s = diag_format(&dl.v[0]);
	assert_string_equal(s, "orders.d/many.yaml: 50 more errors not shown");
	free(s);
	s = diag_format(&dl.v[100]);
	assert_string_equal(s, "orders.d/many.yaml:101:34: expected one of en, fi, lv, nb, vi, got \"xx\"");
	free(s);
	diag_list_clear(&dl);
	free(yaml);
}

/* ---- files on disk ---- */

static void write_file(const char *dir, const char *name, const char *data) {
	char *p;
	assert_true(asprintf(&p, "%s/%s", dir, name) >= 0);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(data, f);
	fclose(f);
	free(p);
}

static void remove_tree(const char *dir) {
	char *cmd;
	assert_true(asprintf(&cmd, "rm -rf '%s'", dir) >= 0);
	assert_int_equal(system(cmd), 0);
	free(cmd);
}

static void test_read_dir(void **state) {
	(void) state;
	char dir[] = "/tmp/test_defs.XXXXXX";
	assert_non_null(mkdtemp(dir));
	defs_file *files = NULL;
	size_t n = 0;
	diag_list dl = { 0 };

	/* no standingd.yaml: an invalid set, the error names the file */
	assert_int_equal(defs_read_dir(dir, &files, &n, &dl), -EINVAL);
	assert_null(files);
	expect_diags(&dl, (const char *[]) { "standingd.yaml: no such file or directory", NULL });
	diag_list_clear(&dl);

	/* standingd.yaml alone: fine, no orders */
	write_file(dir, "standingd.yaml", CONFIG);
	assert_int_equal(defs_read_dir(dir, &files, &n, &dl), 0);
	assert_int_equal(n, 1);
	assert_string_equal(files[0].name, "standingd.yaml");
	assert_int_equal(files[0].len, strlen(CONFIG));
	assert_true(memcmp(files[0].data, CONFIG, files[0].len) == 0);
	defs_files_free(files, n);

	char *od;
	assert_true(asprintf(&od, "%s/orders.d", dir) >= 0);
	assert_int_equal(mkdir(od, 0700), 0);
	write_file(od, "b.yaml", ACME);
	write_file(od, "a.yml", "customers: [{id: other, name: O}]\n");
	write_file(od, "README.txt", "not: [yaml");
	write_file(od, "b.yaml~", "not: [yaml");
	write_file(od, ".#b.yaml", "not: [yaml");
	write_file(od, "c.yaml.swp", "not: [yaml");
	char *sub;
	assert_true(asprintf(&sub, "%s/d.yml", od) >= 0);
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(defs_read_dir(dir, &files, &n, &dl), -EINVAL);
	expect_diags(&dl, (const char *[]) { "orders.d/d.yml: not a regular file", NULL });
	diag_list_clear(&dl);
	assert_int_equal(rmdir(sub), 0);
	free(sub);
	/* a FIFO: reported, never opened for a blocking read */
	assert_true(asprintf(&sub, "%s/f.yaml", od) >= 0);
	assert_int_equal(mkfifo(sub, 0600), 0);
	assert_int_equal(defs_read_dir(dir, &files, &n, &dl), -EINVAL);
	expect_diags(&dl, (const char *[]) { "orders.d/f.yaml: not a regular file", NULL });
	diag_list_clear(&dl);
	assert_int_equal(unlink(sub), 0);
	free(sub);

	assert_int_equal(defs_read_dir(dir, &files, &n, &dl), 0);
	assert_int_equal(dl.n, 0);
	assert_int_equal(n, 3);
	assert_string_equal(files[0].name, "standingd.yaml");
	assert_string_equal(files[1].name, "orders.d/a.yml");
	assert_string_equal(files[2].name, "orders.d/b.yaml");
	assert_int_equal(files[2].len, strlen(ACME));
	defs_files_free(files, n);
	defs_files_free(NULL, 0);

	defs *d = NULL;
	assert_int_equal(defs_load(dir, NULL, &d, &dl), 0);
	assert_int_equal(d->n_customers, 2);
	assert_int_equal(d->n_orders, 1);
	assert_string_equal(d->orders[0].bulk->file, "orders.d/b.yaml");
	defs_free(d);

	/* errors name files relative to the directory */
	write_file(od, "b.yaml", "customers: [{id: x, name: X, language: xx}]\n");
	d = NULL;
	assert_int_equal(defs_load(dir, NULL, &d, &dl), -EINVAL);
	assert_null(d);
	expect_diags(&dl, (const char *[]) { "orders.d/b.yaml:1:40: expected one of en, fi, lv, nb, vi, got \"xx\"", NULL });
	diag_list_clear(&dl);

	free(od);
	remove_tree(dir);
}

/* ---- the tree ---- */

static void test_ytree_yaml(void **state) {
	(void) state;
	static const char yaml[] =
		"base: &wh {name: ACME varasto, city: Helsinki}\n"
		"a: *wh\n"
		"list: [1, \"two\", ~, true, -7]\n"
		"tagged: !!str 12\n";
	ytree *t = NULL;
	ytree_error err;
	assert_int_equal(ytree_parse_yaml(yaml, strlen(yaml), &t, &err), 0);
	ytree_node *root = ytree_root(t);
	assert_int_equal(root->kind, YTREE_MAPPING);
	assert_int_equal(root->n, 4);
	ytree_node *a = ytree_get(root, "a");
	assert_int_equal(a->kind, YTREE_MAPPING);
	assert_string_equal(ytree_get(a, "city")->text, "Helsinki");
	/* an alias copy keeps the positions of the anchored original */
	assert_int_equal(ytree_get(a, "city")->line, 1);
	assert_int_equal(ytree_get(a, "city")->col, 38);
	assert_int_equal(a->key->line, 2);
	assert_int_equal(a->key->col, 1);

	ytree_node *l = ytree_get(root, "list");
	int64_t v;
	bool b;
	ytree_node *i0 = l->first, *i1 = i0->next, *i2 = i1->next, *i3 = i2->next, *i4 = i3->next;
	assert_int_equal(ytree_int64(i0, &v), 0);
	assert_true(v == 1);
	assert_int_equal(ytree_int64(i1, &v), -EINVAL);   /* quoted: a string */
	assert_true(ytree_is_null(i2));
	assert_false(ytree_is_null(i1));
	assert_int_equal(ytree_bool(i3, &b), 0);
	assert_true(b);
	assert_int_equal(ytree_int64(i4, &v), 0);
	assert_true(v == -7);
	assert_true(ytree_get(root, "tagged")->quoted);

	char path[64];
	assert_int_equal(ytree_path(i4, path, sizeof(path)), strlen("list[4]"));
	assert_string_equal(path, "list[4]");
	assert_int_equal(ytree_path(ytree_get(a, "city"), path, sizeof(path)), strlen("a.city"));
	assert_string_equal(path, "a.city");
	assert_int_equal(ytree_path(root, path, sizeof(path)), 0);
	assert_string_equal(path, "");
	char tiny[4];
	assert_int_equal(ytree_path(ytree_get(a, "city"), tiny, sizeof(tiny)), 6);
	assert_string_equal(tiny, "a.c");
	ytree_free(t);

	/* integers at the edges */
	static const char ints[] = "[9223372036854775807, -9223372036854775808, 9223372036854775808, 1x, +5, '']";
	assert_int_equal(ytree_parse_yaml(ints, strlen(ints), &t, &err), 0);
	ytree_node *n = ytree_root(t)->first;
	assert_int_equal(ytree_int64(n, &v), 0);
	assert_true(v == INT64_MAX);
	assert_int_equal(ytree_int64(n = n->next, &v), 0);
	assert_true(v == INT64_MIN);
	assert_int_equal(ytree_int64(n = n->next, &v), -ERANGE);
	assert_int_equal(ytree_int64(n = n->next, &v), -EINVAL);
	assert_int_equal(ytree_int64(n = n->next, &v), 0);
	assert_true(v == 5);
	assert_int_equal(ytree_int64(n = n->next, &v), -EINVAL);
	assert_false(ytree_is_null(n));   /* '' is an empty string, not null */
	ytree_free(t);

	/* empty input: no root */
	assert_int_equal(ytree_parse_yaml(NULL, 0, &t, &err), 0);
	assert_null(ytree_root(t));
	ytree_free(t);
	ytree_free(NULL);
}

static void test_ytree_limits(void **state) {
	(void) state;
	ytree *t = NULL;
	ytree_error err;
	/* deep nesting */
	char deep[300];
	memset(deep, '[', 200);
	memset(deep + 200, ']', 99);
	deep[299] = '\0';
	assert_int_equal(ytree_parse_yaml(deep, strlen(deep), &t, &err), -EINVAL);
	assert_string_equal(err.msg, "nesting too deep");
	assert_int_equal(err.line, 1);
	assert_int_equal(err.col, 65);

	/* an alias bomb: 10 levels of 10 copies */
	char *bomb = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&bomb, &len);
	fprintf(f, "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
	for (int i = 1; i < 10; i++) {
		fprintf(f, "a%d: &a%d [", i, i);
		for (int j = 0; j < 10; j++)
			fprintf(f, "%s*a%d", j ? ", " : "", i - 1);
		fprintf(f, "]\n");
	}
	fclose(f);
	assert_int_equal(ytree_parse_yaml(bomb, len, &t, &err), -EINVAL);
	assert_string_equal(err.msg, "document too large (too many nodes)");
	free(bomb);

	/* a mapping key must be a scalar */
	static const char key[] = "? [a, b]\n: c\n";
	assert_int_equal(ytree_parse_yaml(key, strlen(key), &t, &err), -EINVAL);
	assert_string_equal(err.msg, "a mapping key must be a scalar");
	assert_int_equal(err.line, 1);
	assert_int_equal(err.col, 3);
}

/* A tree without positions (what the JSON reader builds) gets field paths. */
/* ---- salespeople (issue 11, doc/crm.md) ---- */

static void test_salespeople(void **state) {
	(void) state;
	defs *d = NULL;
	diag_list dl = { 0 };
	assert_int_equal(load2(CONFIG, "orders.d/acme.yaml", ACME, &d, &dl), 0);
	const defs_config *cf = &d->config;
	assert_int_equal(cf->n_salespeople, 2);
	const salesperson *sp = defs_find_salesperson(cf, "sanna");
	assert_non_null(sp);
	assert_string_equal(sp->name, "Sanna Myyj\xC3\xA4");
	assert_string_equal(sp->email, "sales@lumen.example");
	assert_string_equal(sp->language, "fi");
	assert_int_equal(sp->n_users, 1);
	assert_string_equal(sp->users[0], "sanna");
	sp = defs_find_salesperson(cf, "ville");
	assert_string_equal(sp->language, "vi");
	assert_int_equal(sp->n_users, 0);
	assert_null(defs_find_salesperson(cf, "bob"));
	assert_null(defs_find_salesperson(cf, NULL));
	defs_free(d);
	/* no language: en */
	static const char en[] = "salespeople: [{id: a, name: A, email: a@x.example}]\n";
	assert_int_equal(load2(en, "orders.d/x.yaml", "customers: [{id: c, name: C, salesperson: a}]\n", &d, &dl), 0);
	assert_string_equal(d->config.salespeople[0].language, "en");
	assert_string_equal(defs_find_customer(d, "c")->salesperson, "a");
	defs_free(d);

	static const char bad[] =
		"shop_users: [webshop]\n"                                                                   /* 1 */
		"suppliers: [{id: lumen, name: Lumen Oy, users: [lumen]}]\n"
		"salespeople:\n"
		"  - {id: anna, name: Anna, email: anna@shop.example, users: [anna, lumen]}\n"
		"  - {id: anna, name: Anna 2, email: not-an-address, language: se, users: [anna, webshop]}\n" /* 5 */
		"  - {id: b, email: b@shop.example, users: [b, b]}\n"
		"  - [x]\n";
	expect_fail(bad, "orders.d/x.yaml", "customers: []\n", (const char *[]) {
		"standingd.yaml:4:68: user \"lumen\" is listed twice (also at standingd.yaml:2:49): a user has one role",
		"standingd.yaml:5:10: duplicate salesperson id \"anna\" (first defined at standingd.yaml:4:10)",
		"standingd.yaml:5:37: expected an e-mail address like \"anna@shop.example\", got \"not-an-address\"",
		"standingd.yaml:5:63: expected one of en, fi, lv, nb, vi, got \"se\"",
		"standingd.yaml:5:75: user \"anna\" is listed twice (also at standingd.yaml:4:62): a user has one role",
		"standingd.yaml:5:81: user \"webshop\" is listed twice (also at standingd.yaml:1:14): a user has one role",
		"standingd.yaml:6:5: missing key \"name\"",
		"standingd.yaml:6:47: user \"b\" is listed twice (also at standingd.yaml:6:44): a user has one role",
		"standingd.yaml:7:5: expected a mapping",
		NULL });

	/* a customer's salesperson and a reminder's assignee name one */
	expect_edit("salesperson: sanna", "salesperson: bob",
		    "orders.d/acme.yaml:6:18: unknown salesperson \"bob\"; defined: sanna, ville");
	char *ok = edit(ACME, "delivery\"}", "delivery\", assignee: ville}");
	assert_int_equal(load2(CONFIG, "orders.d/acme.yaml", ok, &d, &dl), 0);
	assert_string_equal(defs_find_order(d, "acme-bulbs")->bulk->reminders[0].assignee, "ville");
	defs_free(d);
	free(ok);
	expect_edit("delivery\"}", "delivery\", assignee: anna}",
		    "orders.d/acme.yaml:27:100: unknown salesperson \"anna\"; defined: sanna, ville");
	expect_fail("", "orders.d/x.yaml", "customers: [{id: c, name: C, salesperson: a}]\n", (const char *[]) {
		"orders.d/x.yaml:1:43: unknown salesperson \"a\"; standingd.yaml defines no salespeople", NULL });

	/* task texts: the placeholders of doc/crm.md, {{ and }} literal; the column of the brace */
	expect_edit("Call {contact}", "Call {nonsense}",
		    "orders.d/acme.yaml:27:38: unknown placeholder \"{nonsense}\"; expected {customer}, {contact}, "
		    "{delivery_date}, {order}, {standing_order} or {total} ({{ and }} for literal braces)");
	expect_edit("Call {contact}", "Soita {{ {contact} }} ja {total} \xC3\xA4 {standing_order} {x}",
		    "orders.d/acme.yaml:27:85: unknown placeholder \"{x}\"; expected {customer}, {contact}, "
		    "{delivery_date}, {order}, {standing_order} or {total} ({{ and }} for literal braces)");
	expect_edit("Call {contact}", "Call {contact", "orders.d/acme.yaml:27:38: a \"{\" without its \"}\" "
		    "(write \"{{\" for a literal brace)");
	expect_edit("Call {contact}", "Call contact}", "orders.d/acme.yaml:27:45: a \"}\" without its \"{\" "
		    "(write \"}}\" for a literal brace)");
	expect_edit("task: \"Check that {customer} received order {order}\"", "task: 'Check {customr}'",
		    "orders.d/acme.yaml:28:46: unknown placeholder \"{customr}\"; expected {customer}, {contact}, "
		    "{delivery_date}, {order}, {standing_order} or {total} ({{ and }} for literal braces)");
	diag_list_clear(&dl);
}

static void test_order_from_tree(void **state) {
	(void) state;
	defs *d = NULL;
	diag_list dl = { 0 };
	assert_int_equal(load2(CONFIG, "orders.d/acme.yaml", ACME, &d, &dl), 0);

	ytree *t = ytree_new();
	assert_non_null(t);
#define S(text) ytree_new_scalar(t, text, strlen(text), true, 0, 0)
#define P(text) ytree_new_scalar(t, text, strlen(text), false, 0, 0)
	ytree_node *req = ytree_new_node(t, YTREE_MAPPING, 0, 0);
	ytree_node *so = ytree_new_node(t, YTREE_MAPPING, 0, 0);
	ytree_set_root(t, req);
	ytree_append(req, S("standing_order"), so);
	ytree_append(so, S("id"), S("web-1"));
	ytree_append(so, S("customer"), S("acme"));
	ytree_append(so, S("supplier"), S("lumen"));
	ytree_node *ship = ytree_new_node(t, YTREE_MAPPING, 0, 0);
	ytree_append(so, S("ship_to"), ship);
	ytree_append(ship, S("name"), S("ACME"));
	ytree_append(ship, S("street"), S("Teollisuuskatu 1"));
	ytree_append(ship, S("city"), S("Helsinki"));
	ytree_append(ship, S("country"), S("FI"));
	ytree_node *lines = ytree_new_node(t, YTREE_SEQUENCE, 0, 0);
	ytree_append(so, S("lines"), lines);
	ytree_node *l0 = ytree_new_node(t, YTREE_MAPPING, 0, 0);
	ytree_append(lines, NULL, l0);
	ytree_append(l0, S("sku"), S("BULB-60W"));
	ytree_append(l0, S("quantity"), P("10"));
	ytree_append(l0, S("unit_price"), S("0.855 EUR"));
	ytree_append(so, S("payment"), S("prepaid"));
	ytree_node *sc = ytree_new_node(t, YTREE_MAPPING, 0, 0);
	ytree_append(so, S("schedule"), sc);
	ytree_append(sc, S("every"), S("1 week"));
	ytree_append(sc, S("start"), S("2026-12-07"));
	ytree_append(sc, S("paused"), S("true"));   /* a JSON string, not a boolean */

	standing_order out;
	assert_int_equal(defs_order_from_tree(d, so, &out, &dl), -EINVAL);
	expect_diags(&dl, (const char *[]) {
		"standing_order.lines[0].unit_price: EUR has at most 2 decimals, got \"0.855 EUR\"",
		"standing_order.schedule.paused: expected true or false",
		NULL });
	diag_list_clear(&dl);

	/* fixed, it compiles against d's customer and defaults */
	ytree_node *price = ytree_get(l0, "unit_price");
	price->text = (char *) "0.85 EUR";
	price->len = strlen(price->text);
	ytree_node *paused = ytree_get(sc, "paused");
	paused->quoted = false;
	assert_int_equal(defs_order_from_tree(d, so, &out, &dl), 0);
	assert_int_equal(dl.n, 0);
	assert_string_equal(out.id, "web-1");
	assert_ptr_equal(out.customer, defs_find_customer(d, "acme"));
	assert_true(out.bulk->lines[0].unit_price.minor == 85);
	assert_true(out.rule.paused);
	assert_string_equal(tz_zone_name(out.rule.zone), "Europe/Helsinki");
	assert_null(out.bulk->file);
	assert_true(out.hash != 0);
	defs_order_done(&out);
	defs_order_done(NULL);
#undef S
#undef P
	ytree_free(t);
	defs_free(d);
}

/* ---- notify and mail (issue 10) ---- */

static const char NOTIFY_CONFIG[] =
	"notify_command: [/usr/libexec/standingd/standingd-mail, --conf, /etc/standingd]\n"   /* 1 */
	"notify_parallel: 4\n"
	"notify_timeout: 2 minutes\n"
	"notify_max_attempts: 5\n"
	"carriers:\n"                                                                          /* 5 */
	"  - {id: posten, name: Posten, tracking_url: \"https://sporing.posten.no/sporing/{tracking}\"}\n"
	"  - {id: dpd-lv, name: DPD Latvija, tracking_url: \"http://dpd.lv/t?n={tracking}&l=lv\"}\n"
	"mail:\n"
	"  from: \"Lumen Oy <orders@lumen.example>\"\n"
	"  smtp: smtp://relay.lumen.example:587\n"                                            /* 10 */
	"  starttls: true\n"
	"  credentials: smtp.secret\n"
	"suppliers: [{id: lumen, name: Lumen Oy}]\n" SALESPEOPLE;

static void test_notify_mail(void **state) {
	(void) state;
	defs *d = NULL;
	diag_list dl = { 0 };
	assert_int_equal(load2(NOTIFY_CONFIG, "orders.d/acme.yaml", ACME, &d, &dl), 0);
	const defs_config *cf = &d->config;
	assert_int_equal(cf->notify_argc, 3);
	assert_string_equal(cf->notify_argv[0], "/usr/libexec/standingd/standingd-mail");
	assert_string_equal(cf->notify_argv[1], "--conf");
	assert_string_equal(cf->notify_argv[2], "/etc/standingd");
	assert_null(cf->notify_argv[3]);
	assert_int_equal(cf->notify_parallel, 4);
	assert_int_equal(cf->notify_timeout, 120);
	assert_int_equal(cf->notify_max_attempts, 5);
	assert_int_equal(cf->n_carriers, 2);
	assert_string_equal(defs_find_carrier(cf, "dpd-lv")->name, "DPD Latvija");
	assert_string_equal(defs_find_carrier(cf, "posten")->tracking_url, "https://sporing.posten.no/sporing/{tracking}");
	assert_null(defs_find_carrier(cf, "ups"));
	assert_int_equal(cf->mail.via, DEFS_MAIL_SMTP);
	assert_string_equal(cf->mail.from, "Lumen Oy <orders@lumen.example>");
	assert_string_equal(cf->mail.from_name, "Lumen Oy");
	assert_string_equal(cf->mail.from_addr, "orders@lumen.example");
	assert_string_equal(cf->mail.smtp, "smtp://relay.lumen.example:587");
	assert_true(cf->mail.starttls);
	assert_string_equal(cf->mail.credentials, "smtp.secret");   /* defs_config_load makes it absolute */
	assert_null(cf->mail.sendmail);
	assert_null(cf->mail.maildir);
	defs_free(d);

	/* a string is one program; sendmail and maildir */
	static const char one[] = "notify_command: /usr/bin/notify\nmail: {from: shop@example.com, sendmail: /usr/sbin/sendmail}\n"
				  "suppliers: [{id: lumen, name: Lumen Oy}]\n" SALESPEOPLE;
	assert_int_equal(load2(one, "orders.d/acme.yaml", ACME, &d, &dl), 0);
	assert_int_equal(d->config.notify_argc, 1);
	assert_string_equal(d->config.notify_argv[0], "/usr/bin/notify");
	assert_null(d->config.notify_argv[1]);
	assert_int_equal(d->config.mail.via, DEFS_MAIL_SENDMAIL);
	assert_string_equal(d->config.mail.sendmail, "/usr/sbin/sendmail");
	assert_string_equal(d->config.mail.from_addr, "shop@example.com");
	assert_null(d->config.mail.from_name);
	defs_free(d);
	static const char md[] = "mail: {from: \"Cà phê <an@vinh.example>\", maildir: demo/mail}\n"
				 "suppliers: [{id: lumen, name: Lumen Oy}]\n" SALESPEOPLE;
	assert_int_equal(load2(md, "orders.d/acme.yaml", ACME, &d, &dl), 0);
	assert_int_equal(d->config.mail.via, DEFS_MAIL_MAILDIR);
	assert_string_equal(d->config.mail.maildir, "demo/mail");
	assert_string_equal(d->config.mail.from_name, "Cà phê");
	defs_free(d);
}

static void test_err_notify_mail(void **state) {
	(void) state;
	static const char bad1[] =
		"notify_command: []\n"                                                     /* 1 */
		"notify_parallel: 17\n"
		"notify_timeout: 2 days\n"
		"notify_max_attempts: 0\n"
		"carriers:\n"                                                              /* 5 */
		"  - {id: posten, name: Posten, tracking_url: \"ftp://x/{tracking}\"}\n"
		"  - {id: posten, name: P2, tracking_url: \"https://x/{tracking}/{tracking}\"}\n"
		"  - {id: p3, name: P3, tracking_url: \"https://x/\", phone: 1}\n"
		"  - {id: p4, tracking_url: \"https:///{tracking}\"}\n"
		"mail:\n"                                                                  /* 10 */
		"  smtp: \"http://relay\"\n"
		"  sendmail: sendmail\n"
		"  starttls: yes\n"
		"suppliers: [{id: lumen, name: Lumen Oy}]\n" SALESPEOPLE;
	expect_fail(bad1, "orders.d/acme.yaml", ACME, (const char *[]) {
		"standingd.yaml:1:17: expected the program and its arguments, got an empty list",
		"standingd.yaml:2:18: expected an integer of at most 16",
		"standingd.yaml:3:17: expected a duration of at most 1 day",
		"standingd.yaml:4:22: expected a positive integer",
		"standingd.yaml:6:46: expected an http:// or https:// URL, got \"ftp://x/{tracking}\"",
		"standingd.yaml:7:10: duplicate carrier id \"posten\" (first defined at standingd.yaml:6:10)",
		"standingd.yaml:7:42: expected {tracking} exactly once in the URL (where the tracking number goes), "
			"got \"https://x/{tracking}/{tracking}\"",
		"standingd.yaml:8:38: expected {tracking} exactly once in the URL (where the tracking number goes), "
			"got \"https://x/\"",
		"standingd.yaml:8:52: unknown key \"phone\"",
		"standingd.yaml:9:5: missing key \"name\"",
		"standingd.yaml:9:28: expected an http:// or https:// URL, got \"https:///{tracking}\"",
		"standingd.yaml:11:3: missing key \"from\"",
		"standingd.yaml:11:9: expected a URL like \"smtp://mail.example.com:587\" or \"smtps://mail.example.com:465\", "
			"got \"http://relay\"",
		"standingd.yaml:12:3: only one of smtp, sendmail and maildir may be given (smtp is at line 11)",
		"standingd.yaml:13:13: expected true or false",
		NULL });
	static const char bad2[] =
		"notify_command: {a: b}\n"
		"notify_timeout: 0 seconds\n"
		"mail:\n"
		"  from: \"Shop <shop@example.com\"\n"
		"  starttls: true\n"
		"  credentials: /etc/x\n"
		"  port: 25\n"
		"suppliers: [{id: lumen, name: Lumen Oy}]\n" SALESPEOPLE;
	expect_fail(bad2, "orders.d/acme.yaml", ACME, (const char *[]) {
		"standingd.yaml:1:17: expected a list of strings (the program and its arguments) or a string",
		"standingd.yaml:2:17: expected a duration of at least 1 second",
		"standingd.yaml:4:3: expected one of smtp, sendmail or maildir (how mail is submitted)",
		"standingd.yaml:4:9: expected an address like \"shop@example.com\" or \"Shop <shop@example.com>\", "
			"got \"Shop <shop@example.com\"",
		"standingd.yaml:5:3: starttls is only for smtp",
		"standingd.yaml:6:3: credentials is only for smtp",
		"standingd.yaml:7:3: unknown key \"port\"",
		NULL });
	static const char bad3[] =
		"notify_command: [/bin/x, \"\"]\n"
		"mail:\n"
		"  from: \"@example.com\"\n"
		"  maildir: /var/mail\n"
		"  starttls: true\n"
		"  credentials: /etc/x\n"
		"suppliers: [{id: lumen, name: Lumen Oy}]\n" SALESPEOPLE;
	expect_fail(bad3, "orders.d/acme.yaml", ACME, (const char *[]) {
		"standingd.yaml:1:26: expected a non-empty string",
		"standingd.yaml:3:9: expected an address like \"shop@example.com\" or \"Shop <shop@example.com>\", "
			"got \"@example.com\"",
		"standingd.yaml:5:3: starttls is only for smtp",
		"standingd.yaml:6:3: credentials is only for smtp",
		NULL });
	static const char bad4[] =
		"mail: {from: a@b.example, smtp: \"smtps://relay:465\", starttls: true}\n"
		"carriers: {id: x}\n"
		"suppliers: [{id: lumen, name: Lumen Oy}]\n" SALESPEOPLE;
	expect_fail(bad4, "orders.d/acme.yaml", ACME, (const char *[]) {
		"standingd.yaml:1:64: starttls needs an smtp:// URL (smtps:// is TLS from the start)",
		"standingd.yaml:2:11: expected a list",
		NULL });
	static const char bad5[] = "mail: {from: a@b.example}\nsuppliers: [{id: lumen, name: Lumen Oy}]\n" SALESPEOPLE;
	expect_fail(bad5, "orders.d/acme.yaml", ACME, (const char *[]) {
		"standingd.yaml:1:7: expected one of smtp, sendmail or maildir (how mail is submitted)",
		NULL });
}

/* defs_config_load: standingd.yaml alone (orders.d is not even looked at), its
 * relative mail paths made absolute against the config dir. */
static void test_config_load(void **state) {
	(void) state;
	char dir[] = "/tmp/test_defs.XXXXXX";
	assert_non_null(mkdtemp(dir));
	defs *d = NULL;
	diag_list dl = { 0 };
	assert_int_equal(defs_config_load(dir, NULL, &d, &dl), -EINVAL);
	expect_diags(&dl, (const char *[]) { "standingd.yaml: no such file or directory", NULL });
	diag_list_clear(&dl);
	write_file(dir, "standingd.yaml", "mail: {from: a@b.example, maildir: out/mail}\ncarriers: [{id: x}]\n");
	assert_int_equal(defs_config_load(dir, NULL, &d, &dl), -EINVAL);
	expect_diags(&dl, (const char *[]) {
		"standingd.yaml:2:12: missing key \"name\"", "standingd.yaml:2:12: missing key \"tracking_url\"", NULL });
	diag_list_clear(&dl);
	write_file(dir, "standingd.yaml", "timezone: Europe/Riga\nmail: {from: a@b.example, smtp: \"smtp://[::1]:2525\", "
					     "credentials: c.txt}\n");
	char *od;
	assert_true(asprintf(&od, "%s/orders.d", dir) >= 0);
	assert_int_equal(mkdir(od, 0700), 0);
	write_file(od, "broken.yaml", "customers: [\n");
	assert_int_equal(defs_config_load(dir, NULL, &d, &dl), 0);
	assert_int_equal(dl.n, 0);
	assert_int_equal(d->n_customers, 0);
	assert_int_equal(d->n_orders, 0);
	assert_string_equal(tz_zone_name(d->config.zone), "Europe/Riga");
	char *cred;
	assert_true(asprintf(&cred, "%s/c.txt", dir) >= 0);
	assert_string_equal(d->config.mail.credentials, cred);
	assert_string_equal(d->config.mail.smtp, "smtp://[::1]:2525");
	free(cred);
	free(od);
	defs_free(d);
	remove_tree(dir);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_example),
		cmocka_unit_test(test_notify_mail),
		cmocka_unit_test(test_err_notify_mail),
		cmocka_unit_test(test_config_load),
		cmocka_unit_test(test_conf_dir),
		cmocka_unit_test(test_multilingual),
		cmocka_unit_test(test_every_units),
		cmocka_unit_test(test_weekly_on),
		cmocka_unit_test(test_monthly_day),
		cmocka_unit_test(test_monthly_weekday),
		cmocka_unit_test(test_cron),
		cmocka_unit_test(test_bounds_and_flags),
		cmocka_unit_test(test_zone_inheritance),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_cross_file),
		cmocka_unit_test(test_hash),
		cmocka_unit_test(test_err_unknown_key),
		cmocka_unit_test(test_err_missing_key),
		cmocka_unit_test(test_err_types),
		cmocka_unit_test(test_err_quantity),
		cmocka_unit_test(test_err_date_time),
		cmocka_unit_test(test_err_duration_interval),
		cmocka_unit_test(test_err_zone),
		cmocka_unit_test(test_err_references),
		cmocka_unit_test(test_err_duplicates),
		cmocka_unit_test(test_err_money),
		cmocka_unit_test(test_payment_keys),
		cmocka_unit_test(test_err_utf8),
		cmocka_unit_test(test_err_syntax),
		cmocka_unit_test(test_err_enums),
		cmocka_unit_test(test_err_cron),
		cmocka_unit_test(test_err_sched_bounds),
		cmocka_unit_test(test_err_mixing),
		cmocka_unit_test(test_all_errors),
		cmocka_unit_test(test_error_cap),
		cmocka_unit_test(test_read_dir),
		cmocka_unit_test(test_ytree_yaml),
		cmocka_unit_test(test_ytree_limits),
		cmocka_unit_test(test_order_from_tree),
		cmocka_unit_test(test_salespeople),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
