/* pack: the packed unit (lib/defs/pack) round-trips every field of a unit, odd
 * values included (NULLs, empty strings, extremes, UTF-8, repeated strings), and
 * refuses what is not one: every truncation (even with its hash made right), bit
 * flips, another version, an unknown zone. The compiled set's manifest
 * (store_cset_*) round-trips, and a damaged or other-version manifest is told
 * apart. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "lib/defs/defs.h"
#include "lib/defs/pack.h"
#include "lib/store/store.h"
#include "tests/unit/order_assert.h"
#include "tests/unit/tmpdir.h"

static const char CONFIG[] = "suppliers:\n  - id: s1\n    name: S\n";

static defs *base_defs(void) {
	defs_file f = { .name = "standingd.yaml", .data = (char *) CONFIG, .len = sizeof(CONFIG) - 1 };
	diag_list dl = { 0 };
	defs *d = NULL;
	assert_int_equal(defs_load_files(&f, 1, NULL, &d, &dl), 0);
	diag_list_clear(&dl);
	return d;
}

/* A unit by hand: every field set, odd values where a field allows them. */
static customer cu_v[2];
static contact ct_v[2];
static defs_unit_order ord_v[3];
static order_line line_v[3];
static reminder rem_v[2];
static int64_t skip_v[3] = { INT64_MIN, -1, INT64_MAX };
static const cron_expr cron_v = { .minute = UINT64_MAX, .hour = 0xffffff, .dom = UINT32_MAX, .month = 0x1ffe,
				  .dow = 0x7f, .dom_star = false, .dow_star = true };
static so_bulk bulk_v[3];

static defs_unit make_unit(const defs *base) {
	const tz_zone *hel, *utc;
	assert_int_equal(tz_db_get(base->tz, "Europe/Helsinki", &hel), 0);
	assert_int_equal(tz_db_get(base->tz, "UTC", &utc), 0);
	ct_v[0] = (contact) { .name = "Åsa Öberg", .role = "", .email = "a@example.com", .phone = NULL };
	ct_v[1] = (contact) { .name = "Bo", .role = "buyer", .email = NULL, .phone = "+358 40 123" };
	cu_v[0] = (customer) {
		.id = "c-1", .name = "Acme Oy", .language = "fi", .zone = hel, .salesperson = "sp1",
		.account_number = "ACC-1", .credit_limit = { .minor = INT64_MAX, .currency = "EUR" },
		.vat_rate = 25500, .payment_due = INT64_MIN, .cancel_unpaid_after = 1209600,
		.contacts = ct_v, .n_contacts = 2, .file = "orders.d/a.yaml", .line = 3,
	};
	cu_v[1] = (customer) {
		.id = "c-2", .name = "", .language = "", .zone = NULL, .salesperson = NULL, .account_number = NULL,
		.credit_limit = { .minor = 0, .currency = "" }, .vat_rate = INT32_MIN, .payment_due = 0,
		.cancel_unpaid_after = -1, .contacts = NULL, .n_contacts = 0, .file = "orders.d/a.yaml",
		.line = INT32_MAX,
	};
	line_v[0] = (order_line) { .sku = "SKU-1", .quantity = 1, .unit_price = { .minor = 1999, .currency = "EUR" } };
	line_v[1] = (order_line) { .sku = "SKU-1", .quantity = INT64_MAX, .unit_price = { .minor = INT64_MIN, .currency = "EUR" } };
	line_v[2] = (order_line) { .sku = "Ωmega", .quantity = 3, .unit_price = { .minor = 0, .currency = "JPY" } };
	rem_v[0] = (reminder) { .kind = REMIND_BEFORE, .offset = 86400, .task = "Call {contact}", .assignee = NULL };
	rem_v[1] = (reminder) { .kind = REMIND_AFTER_SHIPPED, .offset = INT64_MIN, .task = "", .assignee = "sp2" };
	bulk_v[0] = (so_bulk) {
		.ship_to = { .name = "Acme", .street = "Katu 1", .postcode = "00100", .city = "Helsinki", .country = "FI" },
		.lines = line_v, .n_lines = 3, .reminders = rem_v, .n_reminders = 2, .placed_by = "shop:alice",
		.file = "orders.d/a.yaml", .line = 10,
	};
	bulk_v[1] = (so_bulk) { .lines = line_v + 2, .n_lines = 1, .file = NULL };
	bulk_v[2] = (so_bulk) { .file = "orders.d/a.yaml" };
	ord_v[0] = (defs_unit_order) {
		.o = {
			.id = "so-1", .supplier = "s1", .bulk = &bulk_v[0], .n_lines = 3, .payment = ORDER_PAYMENT_PREPAID,
			.rule = { .kind = RULE_MONTHLY_WEEKDAY, .unit = RULE_UNIT_MONTH, .interval = UINT32_MAX,
				  .start_day = RULE_NO_DAY, .at = 86399, .on_mask = 0x7f, .day = RULE_LAST, .nth = -1,
				  .weekday = 6,
				  .has_until = true, .until_day = INT32_MAX, .count = UINT32_MAX, .skip = skip_v,
				  .n_skip = 3, .paused = true, .lead_time = -7200, .zone = hel },
			.catch_up = CATCH_UP_NONE, .hash = UINT64_MAX,
		},
		.customer_id = "c-1", .has_zone = true, .has_catch_up = true, .has_payment = true,
		.id_line = 10, .id_col = INT32_MAX, .link_zone = hel, .link_catch_up = CATCH_UP_NONE,
	};
	ord_v[1] = (defs_unit_order) {
		.o = { .id = "so-2", .rule = { .kind = RULE_CRON, .start_day = RULE_NO_DAY, .zone = NULL,
					       .cron = &cron_v },
		       .catch_up = CATCH_UP_ALL, .bulk = &bulk_v[2] },
		.customer_id = NULL, .id_line = -5, .id_col = 0,
	};
	ord_v[2] = (defs_unit_order) {
		.o = { .id = "so-3", .supplier = "s1", .bulk = &bulk_v[1], .n_lines = 1,
		       .rule = { .kind = RULE_EVERY, .unit = RULE_UNIT_MINUTE, .interval = 1, .zone = utc },
		       .catch_up = CATCH_UP_LATEST },
		.customer_id = "c-2", .has_zone = false, .has_catch_up = false, .has_payment = false,
		.link_zone = utc, .link_catch_up = CATCH_UP_LATEST,
	};
	return (defs_unit) { .customers = cu_v, .n_customers = 2, .orders = ord_v, .n_orders = 3 };
}

static void check_customer(const customer *a, const customer *b) {
	assert_str_eq(a->id, b->id);
	assert_str_eq(a->name, b->name);
	assert_string_equal(a->language, b->language);
	assert_ptr_equal(a->zone, b->zone);
	assert_str_eq(a->salesperson, b->salesperson);
	assert_str_eq(a->account_number, b->account_number);
	assert_true(a->credit_limit.minor == b->credit_limit.minor);
	assert_string_equal(a->credit_limit.currency, b->credit_limit.currency);
	assert_int_equal(a->vat_rate, b->vat_rate);
	assert_true(a->payment_due == b->payment_due);
	assert_true(a->cancel_unpaid_after == b->cancel_unpaid_after);
	assert_int_equal(a->n_contacts, b->n_contacts);
	for (size_t i = 0; i < a->n_contacts; i++) {
		assert_str_eq(a->contacts[i].name, b->contacts[i].name);
		assert_str_eq(a->contacts[i].role, b->contacts[i].role);
		assert_str_eq(a->contacts[i].email, b->contacts[i].email);
		assert_str_eq(a->contacts[i].phone, b->contacts[i].phone);
	}
	assert_str_eq(a->file, b->file);
	assert_int_equal(a->line, b->line);
}

static void check_order(const defs_unit_order *x, const defs_unit_order *y) {
	const standing_order *a = &x->o, *b = &y->o;
	assert_str_eq(a->id, b->id);
	assert_null(b->customer);
	assert_str_eq(a->supplier, b->supplier);
	assert_address_eq(&a->bulk->ship_to, &b->bulk->ship_to);
	assert_lines_eq(a->bulk->lines, a->n_lines, b->bulk->lines, b->n_lines);
	assert_int_equal(a->payment, b->payment);
	const rule *p = &a->rule, *q = &b->rule;
	assert_int_equal(p->kind, q->kind);
	assert_int_equal(p->unit, q->unit);
	assert_true(p->start_day == q->start_day);
	assert_int_equal(p->at, q->at);
	if (p->kind == RULE_CRON) {
		assert_non_null(p->cron);
		assert_non_null(q->cron);
		assert_true(p->cron != q->cron);   /* the unpacked unit's own */
		assert_true(p->cron->minute == q->cron->minute);
		assert_int_equal(p->cron->hour, q->cron->hour);
		assert_int_equal(p->cron->dom, q->cron->dom);
		assert_int_equal(p->cron->month, q->cron->month);
		assert_int_equal(p->cron->dow, q->cron->dow);
		assert_int_equal(p->cron->dom_star, q->cron->dom_star);
		assert_int_equal(p->cron->dow_star, q->cron->dow_star);
	} else {
		assert_int_equal(p->interval, q->interval);
		assert_int_equal(p->on_mask, q->on_mask);
		assert_int_equal(p->day, q->day);
		assert_int_equal(p->nth, q->nth);
		assert_int_equal(p->weekday, q->weekday);
	}
	assert_int_equal(p->has_until, q->has_until);
	assert_true(p->until_day == q->until_day);
	assert_true(p->count == q->count);
	assert_int_equal(p->n_skip, q->n_skip);
	for (size_t i = 0; i < p->n_skip; i++)
		assert_true(p->skip[i] == q->skip[i]);
	assert_int_equal(p->paused, q->paused);
	assert_true(p->lead_time == q->lead_time);
	assert_ptr_equal(p->zone, q->zone);
	assert_int_equal(a->catch_up, b->catch_up);
	assert_int_equal(a->bulk->n_reminders, b->bulk->n_reminders);
	for (size_t i = 0; i < a->bulk->n_reminders; i++) {
		assert_int_equal(a->bulk->reminders[i].kind, b->bulk->reminders[i].kind);
		assert_true(a->bulk->reminders[i].offset == b->bulk->reminders[i].offset);
		assert_str_eq(a->bulk->reminders[i].task, b->bulk->reminders[i].task);
		assert_str_eq(a->bulk->reminders[i].assignee, b->bulk->reminders[i].assignee);
	}
	assert_str_eq(a->bulk->file, b->bulk->file);
	assert_int_equal(a->bulk->line, b->bulk->line);
	assert_str_eq(a->bulk->placed_by, b->bulk->placed_by);
	assert_true(a->hash == b->hash);
	assert_str_eq(x->customer_id, y->customer_id);
	assert_int_equal(x->has_zone, y->has_zone);
	assert_int_equal(x->has_catch_up, y->has_catch_up);
	assert_int_equal(x->has_payment, y->has_payment);
	assert_int_equal(x->id_line, y->id_line);
	assert_int_equal(x->id_col, y->id_col);
	assert_ptr_equal(x->link_zone, y->link_zone);
	assert_int_equal(x->link_catch_up, y->link_catch_up);
}

/* back packs again to p's len bytes; then p and back are freed. */
static void repacks_to(defs_unit *back, uint8_t *p, size_t len) {
	uint8_t *p2;
	size_t len2;
	assert_int_equal(defs_unit_pack(back, &p2, &len2), 0);
	assert_int_equal(len2, len);
	assert_memory_equal(p2, p, len);
	free(p2);
	defs_unit_done(back);
	assert_null(back->arena);
	free(p);
}

static void test_round_trip(void **state) {
	(void) state;
	defs *base = base_defs();
	defs_unit u = make_unit(base), back;
	uint8_t *p;
	size_t len;
	assert_int_equal(defs_unit_pack(&u, &p, &len), 0);
	assert_int_equal(p[0], DEFS_PACK_VERSION);
	assert_int_equal(defs_unit_unpack(base, p, len, &back), 0);
	assert_non_null(back.arena);
	assert_int_equal(back.n_customers, 2);
	assert_int_equal(back.n_orders, 3);
	for (size_t i = 0; i < 2; i++)
		check_customer(&u.customers[i], &back.customers[i]);
	for (size_t i = 0; i < 3; i++)
		check_order(&u.orders[i], &back.orders[i]);
	/* a repeated value of the head is one string of the table: shared once
	 * unpacked; a section's strings are its own (it decodes alone) */
	assert_ptr_equal(back.customers[0].file, back.orders[0].o.bulk->file);
	assert_ptr_not_equal(back.orders[0].o.bulk->lines[0].sku, back.orders[0].o.bulk->lines[1].sku);
	/* packing what was unpacked gives the same bytes */
	repacks_to(&back, p, len);
	defs_free(base);
}

/* More lines than standing_order.n_lines holds: it saturates at UINT16_MAX, the
 * record (head and section) keeps the count, and unpacked it packs the same. */
static void test_many_lines(void **state) {
	(void) state;
	defs *base = base_defs();
	defs_unit u = make_unit(base), back;
	enum { N = 70000 };
	order_line *many = malloc(N * sizeof(*many));
	assert_non_null(many);
	for (size_t i = 0; i < N; i++)
		many[i] = line_v[i % 3];
	bulk_v[1].lines = many;
	bulk_v[1].n_lines = N;
	ord_v[2].o.n_lines = defs_so_n_lines(N);
	assert_int_equal(ord_v[2].o.n_lines, UINT16_MAX);
	assert_int_equal(defs_so_n_lines(UINT16_MAX - 1), UINT16_MAX - 1);
	uint8_t *p;
	size_t len;
	assert_int_equal(defs_unit_pack(&u, &p, &len), 0);
	assert_int_equal(defs_unit_unpack(base, p, len, &back), 0);
	const standing_order *so = &back.orders[2].o;
	assert_int_equal(so->n_lines, UINT16_MAX);
	assert_int_equal(so->bulk->n_lines, N);
	assert_string_equal(so->bulk->lines[N - 1].sku, line_v[(N - 1) % 3].sku);
	repacks_to(&back, p, len);
	free(many);
	defs_free(base);
}

/* defs_unit_thin drops an unpacked unit's standing orders and keeps the rest
 * (the customers, the strings in the arena); a unit not unpacked keeps them. */
static void test_thin_unit(void **state) {
	(void) state;
	defs *base = base_defs();
	defs_unit made = make_unit(base), back;
	uint8_t *packed;
	size_t n;
	assert_int_equal(defs_unit_pack(&made, &packed, &n), 0);
	assert_int_equal(defs_unit_unpack(base, packed, n, &back), 0);
	free(packed);
	defs_unit_thin(&made);
	assert_false(made.thin);
	assert_non_null(made.orders);
	assert_non_null(back.orders);
	size_t no = back.n_orders, nc = back.n_customers;
	const char *cid = back.customers[0].id;
	defs_unit_thin(&back);
	assert_true(back.thin);
	assert_null(back.orders);
	assert_int_equal(back.n_orders, no);
	assert_int_equal(back.n_customers, nc);
	assert_ptr_equal(back.customers[0].id, cid);
	assert_string_equal(back.customers[0].id, made.customers[0].id);
	defs_unit_thin(&back);   /* again: nothing */
	assert_true(back.thin);
	defs_unit_done(&back);
	defs_free(base);
}

static void test_empty_unit(void **state) {
	(void) state;
	defs *base = base_defs();
	defs_unit u = { 0 }, back;
	uint8_t *p;
	size_t len;
	assert_int_equal(defs_unit_pack(&u, &p, &len), 0);
	assert_int_equal(defs_unit_unpack(base, p, len, &back), 0);
	assert_int_equal(back.n_customers, 0);
	assert_int_equal(back.n_orders, 0);
	defs_unit_done(&back);
	free(p);
	defs_free(base);
}

static uint32_t le32(const uint8_t *p) {
	return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v) {
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t) (v >> (8 * i));
}

/* Where version 3's sections start: 13 + the head's length. */
static size_t bulk_at(const uint8_t *p) {
	return 13 + (size_t) le32(p + 9);
}

/* The header's hash made right for the head there is (when the record holds it). */
static void rehash(uint8_t *p, size_t len) {
	if (len < 17 || bulk_at(p) > len)
		return;
	uint64_t h = defs_hash64(p + 9, bulk_at(p) - 9, DEFS_PACK_VERSION);
	for (int i = 0; i < 8; i++)
		p[1 + i] = (uint8_t) (h >> (8 * i));
}

static void test_refused(void **state) {
	(void) state;
	defs *base = base_defs();
	defs_unit u = make_unit(base), back = { 0 };
	uint8_t *p;
	size_t len;
	assert_int_equal(defs_unit_pack(&u, &p, &len), 0);
	uint8_t *q = malloc(len);
	/* every truncation: by the hash, and by the reader when the hash is made right */
	for (size_t k = 0; k < len; k++) {
		memcpy(q, p, len);
		assert_int_equal(defs_unit_unpack(base, q, k, &back), -EBADMSG);
		if (k >= 9) {
			rehash(q, k);
			assert_int_equal(defs_unit_unpack(base, q, k, &back), -EBADMSG);
		}
	}
	/* a byte more */
	uint8_t *longer = malloc(len + 1);
	memcpy(longer, p, len);
	longer[len] = 0;
	rehash(longer, len + 1);
	assert_int_equal(defs_unit_unpack(base, longer, len + 1, &back), -EBADMSG);
	free(longer);
	/* every single bit flipped after the version byte */
	for (size_t k = 1; k < len; k++)
		for (int bit = 0; bit < 8; bit++) {
			memcpy(q, p, len);
			q[k] ^= (uint8_t) (1u << bit);
			assert_int_equal(defs_unit_unpack(base, q, len, &back), -EBADMSG);
		}
	/* another version */
	memcpy(q, p, len);
	q[0] = DEFS_PACK_VERSION + 1;
	assert_int_equal(defs_unit_unpack(base, q, len, &back), -EPROTO);
	assert_null(back.arena);
	free(q);
	free(p);
	defs_free(base);
}

static void test_zone_refused(void **state) {
	(void) state;
	defs *base = base_defs();
	const tz_zone *utc;
	assert_int_equal(tz_db_get(base->tz, "UTC", &utc), 0);
	defs_unit_order o = { .o = { .id = "x", .bulk = &defs_so_bulk_none, .rule = { .kind = RULE_EVERY, .interval = 1, .zone = utc } } };
	defs_unit u = { .orders = &o, .n_orders = 1 }, back;
	uint8_t *p;
	size_t len;
	assert_int_equal(defs_unit_pack(&u, &p, &len), 0);
	uint8_t *z = memmem(p, len, "UTC", 3);
	assert_non_null(z);
	memcpy(z, "XYZ", 3);   /* no such zone */
	rehash(p, len);
	assert_int_equal(defs_unit_unpack(base, p, len, &back), -EBADMSG);
	free(p);
	defs_free(base);
}

/* A rule's `at` is read back only within the day (the rule holds it in 17 bits; the
 * parser gives 0..86399): the last second of the day reads, the next is refused. */
static void test_at_refused(void **state) {
	(void) state;
	defs *base = base_defs();
	const tz_zone *utc;
	assert_int_equal(tz_db_get(base->tz, "UTC", &utc), 0);
	defs_unit_order o = { .o = { .id = "x", .bulk = &defs_so_bulk_none,
				     .rule = { .kind = RULE_EVERY, .interval = 1, .at = 86399, .zone = utc } } };
	defs_unit u = { .orders = &o, .n_orders = 1 }, back;
	uint8_t *p;
	size_t len;
	assert_int_equal(defs_unit_pack(&u, &p, &len), 0);
	assert_int_equal(defs_unit_unpack(base, p, len, &back), 0);
	assert_int_equal(back.orders[0].o.rule.at, 86399);
	defs_unit_done(&back);
	free(p);
	o.o.rule.at = 86400;
	assert_int_equal(defs_unit_pack(&u, &p, &len), 0);
	assert_int_equal(defs_unit_unpack(base, p, len, &back), -EBADMSG);
	free(p);
	defs_free(base);
}

static void test_hash(void **state) {
	(void) state;
	uint8_t buf[200];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t) (i * 7);
	/* every length and every seed gives another value; a flipped bit too */
	for (size_t n = 1; n < sizeof(buf); n++) {
		assert_true(defs_hash64(buf, n, 0) != defs_hash64(buf, n - 1, 0));
		assert_true(defs_hash64(buf, n, 0) != defs_hash64(buf, n, 1));
		buf[n / 2] ^= 1;
		uint64_t h = defs_hash64(buf, n, 0);
		buf[n / 2] ^= 1;
		assert_true(h != defs_hash64(buf, n, 0));
	}
}

/* defs_unit_read hashes each standing order as linking it will (on the
 * catalog's threads) when its customer is in the same file (its zone or the
 * customer's); one whose customer is elsewhere is left to the link. The link then gives the hash it
 * computes itself. */
static const char PRELINK[] =
	"customers:\n"
	"  - id: c-1\n    name: A\n    timezone: Asia/Ho_Chi_Minh\n"
	"standing_orders:\n"
	"  - id: so-1\n    customer: c-1\n    supplier: s1\n    payment: prepaid\n"
	"    ship_to: {name: N, street: S, postcode: \"1\", city: C, country: FI}\n"
	"    lines: [{sku: X, quantity: 1, unit_price: \"1.00 EUR\"}]\n"
	"    schedule: {every: \"1 week\", start: \"2027-01-04\", at: \"10:00\"}\n"
	"  - id: so-2\n    customer: c-1\n    supplier: s1\n    payment: prepaid\n"
	"    ship_to: {name: N, street: S, postcode: \"1\", city: C, country: FI}\n"
	"    lines: [{sku: X, quantity: 1, unit_price: \"1.00 EUR\"}]\n"
	"    schedule: {every: \"1 week\", start: \"2027-01-04\", at: \"10:00\", timezone: UTC}\n"
	"  - id: so-3\n    customer: c-9\n    supplier: s1\n    payment: prepaid\n"
	"    ship_to: {name: N, street: S, postcode: \"1\", city: C, country: FI}\n"
	"    lines: [{sku: X, quantity: 1, unit_price: \"1.00 EUR\"}]\n"
	"    schedule: {every: \"1 week\", start: \"2027-01-04\", at: \"10:00\"}\n";

static void test_prelink_hash(void **state) {
	(void) state;
	defs *base = base_defs();
	defs_file f = { .name = "orders.d/p.yaml", .data = (char *) PRELINK, .len = sizeof(PRELINK) - 1 };
	defs_unit u;
	assert_int_equal(defs_unit_read(base, &f, &u), 0);
	assert_int_equal(u.n_orders, 3);
	assert_int_equal(u.n_customers, 1);
	const tz_zone *hcm, *utc;
	assert_int_equal(tz_db_get(base->tz, "Asia/Ho_Chi_Minh", &hcm), 0);
	assert_int_equal(tz_db_get(base->tz, "UTC", &utc), 0);
	assert_true(u.orders[0].o.hash != 0);
	assert_ptr_equal(u.orders[0].link_zone, hcm);
	assert_true(u.orders[1].o.hash != 0);
	assert_ptr_equal(u.orders[1].link_zone, utc);
	assert_true(u.orders[0].o.hash != u.orders[1].o.hash);
	assert_true(u.orders[2].o.hash == 0);
	assert_null(u.orders[2].link_zone);
	customer other = u.customers[0];
	other.id = "c-9";
	const customer *cus[3] = { &u.customers[0], &u.customers[0], &other };
	for (size_t i = 0; i < 3; i++) {
		standing_order got, fresh;
		assert_true(defs_unit_link(base, &u.orders[i], cus[i], &got));
		defs_unit_order e = u.orders[i];
		e.o.hash = 0;   /* the link computes it */
		assert_true(defs_unit_link(base, &e, cus[i], &fresh));
		assert_true(fresh.hash != 0);
		assert_true(got.hash == fresh.hash);
		assert_ptr_equal(got.rule.zone, i == 1 ? utc : hcm);
	}
	defs_unit_done(&u);
	defs_free(base);
}

static void test_manifest(void **state) {
	(void) state;
	char tmp[] = "/tmp/test_pack.XXXXXX";
	assert_non_null(mkdtemp(tmp));
	store *s;
	assert_int_equal(store_open(tmp, NULL, &s), 0);
	char *zones[] = { "Europe/Helsinki", "UTC" };
	store_cset head = { .program = "standingd 9.8.7", .config_hash = UINT64_MAX, .tz_hash = 42, .zones = zones,
			    .n_zones = 2 };
	store_cset_put_file f[2] = {
		{ .name = "orders.d/a.yaml", .info = { .id = { .size = 10, .ino = UINT64_MAX, .dev = 3,
			.mtime_ns = INT64_MIN, .ctime_ns = -1, .seen_ns = INT64_MAX }, .hash = 7 },
		  .packed = "AAAA", .packed_len = 4 },
		{ .name = "orders.d/b.yaml", .info = { .hash = 8 }, .packed = "BB", .packed_len = 2 },
	};
	store_txn *t;
	assert_int_equal(store_begin(s, true, &t), 0);
	assert_int_equal(store_cset_put(t, &head, f, 2), 0);
	assert_int_equal(store_commit(t), 0);
	/* b gone, a kept (no packed): b's record is deleted, a's stays */
	assert_int_equal(store_begin(s, true, &t), 0);
	f[0].packed = NULL;
	head.tz_hash = 43;
	assert_int_equal(store_cset_put(t, &head, f, 1), 0);
	assert_int_equal(store_commit(t), 0);
	store_cset *m;
	const void *rp;
	size_t rl;
	assert_int_equal(store_begin(s, false, &t), 0);
	assert_int_equal(store_cset_get(t, &m), 0);
	assert_string_equal(m->program, "standingd 9.8.7");
	assert_true(m->config_hash == UINT64_MAX);
	assert_true(m->tz_hash == 43);
	assert_int_equal(m->n_zones, 2);
	assert_string_equal(m->zones[0], "Europe/Helsinki");
	assert_string_equal(m->zones[1], "UTC");
	assert_int_equal(m->n_files, 1);
	assert_string_equal(m->files[0].name, "orders.d/a.yaml");
	assert_true(m->files[0].info.id.size == 10 && m->files[0].info.id.ino == UINT64_MAX &&
		    m->files[0].info.id.dev == 3 && m->files[0].info.id.mtime_ns == INT64_MIN &&
		    m->files[0].info.id.ctime_ns == -1 && m->files[0].info.id.seen_ns == INT64_MAX &&
		    m->files[0].info.hash == 7);
	store_cset_free(m);
	assert_int_equal(store_cset_record(t, "orders.d/a.yaml", &rp, &rl), 0);
	assert_int_equal(rl, 4);
	assert_memory_equal(rp, "AAAA", 4);
	assert_int_equal(store_cset_record(t, "orders.d/b.yaml", &rp, &rl), -ENOENT);
	store_abort(t);
	/* cleared: nothing */
	assert_int_equal(store_begin(s, true, &t), 0);
	assert_int_equal(store_cset_clear(t), 0);
	assert_int_equal(store_cset_get(t, &m), -ENOENT);
	assert_int_equal(store_cset_record(t, "orders.d/a.yaml", &rp, &rl), -ENOENT);
	store_abort(t);
	store_close(s);
	tmpdir_remove(tmp);
}

/* so's bulk fields equal b's. */
static void check_bulk(const standing_order *so, const so_bulk *b) {
	standing_order full;
	defs_so_full(so, b, &full);
	assert_ptr_equal(full.id, so->id);
	assert_str_eq(b->ship_to.name, so->bulk->ship_to.name);
	assert_str_eq(b->ship_to.street, so->bulk->ship_to.street);
	assert_str_eq(b->ship_to.postcode, so->bulk->ship_to.postcode);
	assert_str_eq(b->ship_to.city, so->bulk->ship_to.city);
	assert_str_eq(b->ship_to.country, so->bulk->ship_to.country);
	assert_lines_eq(b->lines, b->n_lines, so->bulk->lines, so->n_lines);
	assert_int_equal(b->n_reminders, so->bulk->n_reminders);
	for (size_t i = 0; i < so->bulk->n_reminders; i++) {
		assert_int_equal(b->reminders[i].kind, so->bulk->reminders[i].kind);
		assert_true(b->reminders[i].offset == so->bulk->reminders[i].offset);
		assert_str_eq(b->reminders[i].task, so->bulk->reminders[i].task);
		assert_str_eq(b->reminders[i].assignee, so->bulk->reminders[i].assignee);
	}
	assert_str_eq(b->placed_by, so->bulk->placed_by);
	assert_int_equal(b->line, so->bulk->line);
	assert_null(b->file);
}

/* Each standing order's section read alone (into an exact-size copy: ASan sees
 * any read past the value) equals the unit's; pos past the table: -ERANGE. */
static void test_sections(void **state) {
	(void) state;
	defs *base = base_defs();
	defs_unit u = make_unit(base);
	uint8_t *p;
	size_t len;
	assert_int_equal(defs_unit_pack(&u, &p, &len), 0);
	assert_int_equal(le32(p + 13), 3);
	struct defs_arena *a = NULL;
	for (size_t i = 0; i < 3; i++) {
		so_bulk b;
		assert_int_equal(defs_bulk_unpack(p, len, i, &a, &b), 0);
		check_bulk(&u.orders[i].o, &b);
	}
	so_bulk b;
	assert_int_equal(defs_bulk_unpack(p, len, 3, &a, &b), -ERANGE);
	assert_int_equal(defs_bulk_unpack(p, len, SIZE_MAX, &a, &b), -ERANGE);
	/* another version; a stub */
	p[0] = 2;
	assert_int_equal(defs_bulk_unpack(p, len, 0, &a, &b), -EPROTO);
	p[0] = DEFS_PACK_VERSION;
	for (size_t k = 0; k < 17; k++) {
		uint8_t *q = malloc(k ? k : 1);
		memcpy(q, p, k);
		assert_int_equal(defs_bulk_unpack(q, k, 0, &a, &b), -EBADMSG);
		free(q);
	}
	defs_arena_free(a);
	free(p);
	defs_free(base);
}

/* Each byte of a section flipped: that section alone reads -EBADMSG, the others
 * read as before, and the whole unit is refused. */
static void test_section_damage(void **state) {
	(void) state;
	defs *base = base_defs();
	defs_unit u = make_unit(base), back;
	uint8_t *p;
	size_t len;
	assert_int_equal(defs_unit_pack(&u, &p, &len), 0);
	size_t bulk = bulk_at(p);
	struct defs_arena *a = NULL;
	uint8_t *q = malloc(len);
	for (size_t k = bulk; k < len; k++) {
		memcpy(q, p, len);
		q[k] ^= 0x20;
		size_t hit = 3;
		for (size_t i = 0; i < 3; i++)
			if (k - bulk >= le32(p + 17 + 4 * i) && k - bulk < le32(p + 17 + 4 * (i + 1)))
				hit = i;
		assert_true(hit < 3);
		for (size_t i = 0; i < 3; i++) {
			so_bulk b;
			int r = defs_bulk_unpack(q, len, i, &a, &b);
			if (i == hit) {
				assert_int_equal(r, -EBADMSG);
			} else {
				assert_int_equal(r, 0);
				check_bulk(&u.orders[i].o, &b);
			}
		}
		assert_int_equal(defs_unit_unpack(base, q, len, &back), -EBADMSG);
	}
	/* the offsets: out of order, past the value, or a section read at another
	 * position (its hash is seeded with its position) */
	so_bulk b;
	memcpy(q, p, len);
	put_le32(q + 17 + 4, le32(p + 17 + 8) + 1);
	assert_int_equal(defs_bulk_unpack(q, len, 0, &a, &b), -EBADMSG);
	assert_int_equal(defs_bulk_unpack(q, len, 1, &a, &b), -EBADMSG);
	rehash(q, len);
	assert_int_equal(defs_unit_unpack(base, q, len, &back), -EBADMSG);
	memcpy(q, p, len);
	put_le32(q + 17 + 12, (uint32_t) (len - bulk + 1));
	assert_int_equal(defs_bulk_unpack(q, len, 2, &a, &b), -EBADMSG);
	put_le32(q + 17 + 12, UINT32_MAX);
	assert_int_equal(defs_bulk_unpack(q, len, 2, &a, &b), -EBADMSG);
	rehash(q, len);
	assert_int_equal(defs_unit_unpack(base, q, len, &back), -EBADMSG);
	memcpy(q, p, len);
	put_le32(q + 17 + 4, le32(p + 17));
	put_le32(q + 17 + 8, le32(p + 17 + 4));   /* section 1 is section 0's bytes */
	assert_int_equal(defs_bulk_unpack(q, len, 1, &a, &b), -EBADMSG);
	/* n_orders past the head */
	memcpy(q, p, len);
	put_le32(q + 13, UINT32_MAX);
	assert_int_equal(defs_bulk_unpack(q, len, 0, &a, &b), -EBADMSG);
	put_le32(q + 13, 1000);
	assert_int_equal(defs_bulk_unpack(q, len, 0, &a, &b), -EBADMSG);
	/* the head's length past the value */
	memcpy(q, p, len);
	put_le32(q + 9, (uint32_t) len);
	assert_int_equal(defs_bulk_unpack(q, len, 0, &a, &b), -EBADMSG);
	assert_int_equal(defs_unit_unpack(base, q, len, &back), -EBADMSG);
	free(q);
	defs_arena_free(a);
	free(p);
	defs_free(base);
}

/* store_cset_order: a standing order's bulk from the stored record of its file. */
static void test_cset_order(void **state) {
	(void) state;
	char tmp[] = "/tmp/test_pack.XXXXXX";
	assert_non_null(mkdtemp(tmp));
	defs *base = base_defs();
	defs_unit u = make_unit(base);
	uint8_t *p;
	size_t len;
	assert_int_equal(defs_unit_pack(&u, &p, &len), 0);
	store *s;
	store_txn *t;
	assert_int_equal(store_open(tmp, NULL, &s), 0);
	store_cset head = { .program = "standingd 9.8.7" };
	store_cset_put_file f = { .name = "orders.d/a.yaml", .packed = p, .packed_len = len };
	assert_int_equal(store_begin(s, true, &t), 0);
	assert_int_equal(store_cset_put(t, &head, &f, 1), 0);
	assert_int_equal(store_commit(t), 0);
	struct defs_arena *a = NULL;
	so_bulk b;
	assert_int_equal(store_begin(s, false, &t), 0);
	for (size_t i = 0; i < 3; i++) {
		const char *name = "orders.d/a.yaml";
		assert_int_equal(store_cset_order(t, name, i, &a, &b), 0);
		assert_ptr_equal(b.file, name);
		b.file = NULL;
		check_bulk(&u.orders[i].o, &b);
	}
	assert_int_equal(store_cset_order(t, "orders.d/a.yaml", 3, &a, &b), -ERANGE);
	assert_int_equal(store_cset_order(t, "orders.d/b.yaml", 0, &a, &b), -ENOENT);
	store_abort(t);
	defs_arena_free(a);
	store_close(s);
	tmpdir_remove(tmp);
	free(p);
	defs_free(base);
}

/* The bytes of a unit read from YAML and its standing orders' hashes, as main
 * wrote them before the rule's days and lead_time became 32 bits and its cron
 * and other fields shared storage (issue 12): neither may change without a new
 * pack version (old records would unpack differently) or a reason to make every
 * standing order look changed. A cron rule without start, until 9999-12-31 and
 * the longest lead_time; a weekly one from 1970-01-01; a monthly one on the
 * last day the definitions allow. */
static const char GOLDEN_YAML[] =
	"customers:\n"
	"  - id: c-1\n"
	"    name: A\n"
	"    timezone: Europe/Helsinki\n"
	"standing_orders:\n"
	"  - id: so-1\n"
	"    customer: c-1\n"
	"    supplier: s1\n"
	"    payment: prepaid\n"
	"    ship_to: {name: N, street: S, postcode: \"1\", city: C, country: FI}\n"
	"    lines: [{sku: X, quantity: 1, unit_price: \"1.00 EUR\"}]\n"
	"    schedule: {cron: \"*/5 3 1,15 * mon\", lead_time: 366 days, until: 9999-12-31}\n"
	"  - id: so-2\n"
	"    customer: c-1\n"
	"    supplier: s1\n"
	"    payment: prepaid\n"
	"    ship_to: {name: N, street: S, postcode: \"1\", city: C, country: FI}\n"
	"    lines: [{sku: X, quantity: 1, unit_price: \"1.00 EUR\"}]\n"
	"    schedule: {every: 2 weeks, on: [mon, sun], start: 1970-01-01, at: \"23:59\", skip: [2026-01-01], count: 7}\n"
	"  - id: so-3\n"
	"    customer: c-1\n"
	"    supplier: s1\n"
	"    payment: prepaid\n"
	"    ship_to: {name: N, street: S, postcode: \"1\", city: C, country: FI}\n"
	"    lines: [{sku: X, quantity: 1, unit_price: \"1.00 EUR\"}]\n"
	"    schedule: {every: 3 months, weekday: last fri, start: 9999-12-31, paused: true}\n";
static const char GOLDEN_HEX[] =
	"03ffae92ba6c02480f0601000003000000000000002000000040000000600000000a03632d31014102656e0f4575726f"
	"70652f48656c73696e6b69000f6f72646572732e642f702e79616d6c04736f2d3102733104736f2d3204736f2d330101"
	"020304000000050080d21f80d493010006040307080101040001ffffffffffffffffff010000000000a188c29084a188"
	"4208828002fe3f0204c082e60200008094941e00000006bbbef6cfc2ee94af2501040c120400090801010103020088c5"
	"0a41000000000000000000000701ccbf020000000006dfefb4be89d3d591ef0101041a1204000a080101030403c082e6"
	"0200000001080000000000080000000000000006f981d4d99ee4feb1360104281204002947677431f0c42f024e025302"
	"31024303464901025802c8010445555200000cc17baa44907edbac024e02530231024303464901025802c80104455552"
	"00001a08653f20cc6d0044024e02530231024303464901025802c80104455552000028";

static void test_golden_bytes(void **state) {
	(void) state;
	defs *base = base_defs();
	defs_file f = { .name = "orders.d/p.yaml", .data = (char *) GOLDEN_YAML, .len = sizeof(GOLDEN_YAML) - 1 };
	defs_unit u, back;
	assert_int_equal(defs_unit_read(base, &f, &u), 0);
	assert_int_equal(u.n_orders, 3);
	assert_true(u.orders[0].o.rule.start_day == RULE_NO_DAY);
	assert_true(u.orders[0].o.hash == UINT64_C(0x255e537429fd9f3b));
	assert_true(u.orders[1].o.hash == UINT64_C(0xef23569897cd37df));
	assert_true(u.orders[2].o.hash == UINT64_C(0x3663fb21eb3500f9));
	uint8_t *p, *p2;
	size_t len, len2;
	assert_int_equal(defs_unit_pack(&u, &p, &len), 0);
	char *hex = malloc(2 * len + 1);
	assert_non_null(hex);
	for (size_t i = 0; i < len; i++)
		snprintf(hex + 2 * i, 3, "%02x", p[i]);
	assert_string_equal(hex, GOLDEN_HEX);
	assert_int_equal(defs_unit_unpack(base, p, len, &back), 0);
	const rule *c = &back.orders[0].o.rule, *w = &back.orders[1].o.rule, *m = &back.orders[2].o.rule;
	assert_true(c->kind == RULE_CRON && c->start_day == RULE_NO_DAY && c->has_until && c->until_day == 2932896 &&
		    c->lead_time == 366 * 86400 && c->cron->minute == u.orders[0].o.rule.cron->minute);
	assert_true(w->kind == RULE_WEEKLY_ON && w->interval == 2 && w->on_mask == (1 << 0 | 1 << 6) &&
		    w->start_day == 0 && w->at == 86340 && w->count == 7 && w->n_skip == 1);
	assert_true(m->kind == RULE_MONTHLY_WEEKDAY && m->interval == 3 && m->nth == RULE_LAST && m->weekday == 4 &&
		    m->start_day == 2932896 && m->paused);
	assert_int_equal(defs_unit_pack(&back, &p2, &len2), 0);
	assert_int_equal(len2, len);
	assert_memory_equal(p2, p, len);
	free(hex);
	free(p);
	free(p2);
	defs_unit_done(&back);
	defs_unit_done(&u);
	defs_free(base);
}

/* The arena: every allocation 8-byte aligned and apart from every other, whatever
 * the mix of sizes (shared blocks, blocks of their own for the large ones); after a
 * reset the same again. Each allocation is filled with its own byte and all are
 * checked at the end, so an overlap shows. */
static void test_arena(void **state) {
	(void) state;
	static const size_t sizes[] = { 1, 7, 8, 13, 1024, 1025, 100, 20000, 3, 65536, 70000, 5, 2048, 0, 999 };
	enum { N = 600 };
	struct defs_arena *a = NULL;
	for (int round = 0; round < 2; round++) {
		unsigned char *p[N];
		size_t len[N];
		for (size_t i = 0; i < N; i++) {
			len[i] = sizes[(i * 7 + (size_t) round) % (sizeof(sizes) / sizeof(*sizes))];
			p[i] = defs_arena_alloc(&a, len[i]);
			assert_non_null(p[i]);
			assert_int_equal((uintptr_t) p[i] % 8, 0);
			memset(p[i], (int) (i % 251) + 1, len[i]);
		}
		for (size_t i = 0; i < N; i++)
			for (size_t k = 0; k < len[i]; k++)
				if (p[i][k] != (unsigned char) ((i % 251) + 1))
					fail_msg("allocation %zu (%zu bytes) overwritten at %zu", i, len[i], k);
		defs_arena_reset(&a);
	}
	defs_arena_free(a);
}

/* An unpacked unit keeps one copy of each cron expression its standing orders
 * share (up to 16 distinct; more get copies of their own), equal in every field,
 * and packs again to the same bytes. */
static void test_cron_shared(void **state) {
	(void) state;
	defs *base = base_defs();
	defs_unit u = make_unit(base), back;
	enum { N = 40, K = 20 };
	defs_unit_order ov[N];
	cron_expr cv[K];
	char ids[N][8];
	for (size_t k = 0; k < K; k++)
		cv[k] = (cron_expr) { .minute = UINT64_C(1) << k, .hour = 1, .dom = 2, .month = 4, .dow = 1,
				      .dom_star = k % 2, .dow_star = k % 3 == 0 };
	for (size_t i = 0; i < N; i++) {
		ov[i] = ord_v[1];
		snprintf(ids[i], sizeof(ids[i]), "c%02zu", i);
		ov[i].o.id = ids[i];
		ov[i].o.rule.cron = &cv[i % K];
	}
	u.orders = ov;
	u.n_orders = N;
	uint8_t *p;
	size_t len;
	assert_int_equal(defs_unit_pack(&u, &p, &len), 0);
	assert_int_equal(defs_unit_unpack(base, p, len, &back), 0);
	assert_int_equal(back.n_orders, N);
	for (size_t i = 0; i < N; i++) {
		const cron_expr *a = back.orders[i].o.rule.cron, *b = &cv[i % K];
		assert_non_null(a);
		assert_true(a->minute == b->minute && a->hour == b->hour && a->dom == b->dom && a->month == b->month &&
			    a->dow == b->dow && a->dom_star == b->dom_star && a->dow_star == b->dow_star);
		const cron_expr *first = back.orders[i % K].o.rule.cron;
		if (i % K < 16)
			assert_ptr_equal(a, first);
		else if (i >= K)
			assert_ptr_not_equal(a, first);
	}
	for (size_t i = 1; i < 16; i++)
		assert_ptr_not_equal(back.orders[i].o.rule.cron, back.orders[i - 1].o.rule.cron);
	repacks_to(&back, p, len);
	defs_free(base);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_many_lines),
		cmocka_unit_test(test_arena),
		cmocka_unit_test(test_cron_shared),
		cmocka_unit_test(test_empty_unit),
		cmocka_unit_test(test_thin_unit),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_zone_refused),
		cmocka_unit_test(test_at_refused),
		cmocka_unit_test(test_hash),
		cmocka_unit_test(test_prelink_hash),
		cmocka_unit_test(test_golden_bytes),
		cmocka_unit_test(test_manifest),
		cmocka_unit_test(test_sections),
		cmocka_unit_test(test_section_damage),
		cmocka_unit_test(test_cset_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
