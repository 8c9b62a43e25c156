/* Unit tests for the compact records (issue 12, doc/store.md "Compact records"):
 * lib/base/bytes.h's varints and strings, the order's two-part codec and the
 * ledger entry's (lib/model/order.c): every field round-trips, odd values
 * included; the JSON codec and the compact one give the same struct; damage
 * (truncation, trailing bytes, overlong varints, bad UTF-8, NUL, enums out of
 * range, huge counts) is refused, never guessed at. */
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
#include "lib/base/bytes.h"
#include "lib/model/order.h"
#include "tests/unit/order_assert.h"

static order_line lines_eur[] = {
	{ .sku = "BULB-60W", .quantity = 1000, .unit_price = { 85, "EUR" } },
	{ .sku = "SOCKET-E27", .quantity = 20, .unit_price = { 1250, "EUR" } },
};

static order_transition hist[] = {
	{ .at = 1801022400, .by = "standingd", .status = ORDER_STATUS_AWAITING_PAYMENT, .reason = NULL },
	{ .at = 1801108800, .by = "shop:ilze", .status = ORDER_STATUS_CONFIRMED, .reason = "paid" },
	{ .at = 1801368000, .by = NULL, .status = ORDER_STATUS_SHIPPED, .reason = "" },
};

/* A prepaid order, paid and shipped: every field set. */
static sales_order sample(void) {
	sales_order o = {
		.number = "SO-00000042-7",
		.standing_order = "acme-bulbs",
		.occurrence = 3,
		.customer = "acme",
		.supplier = "lux",
		.ship_to = { "ACME Rīga", "Brīvības iela 1", NULL, "Rīga", "LV" },
		.lines = lines_eur,
		.n_lines = 2,
		.vat_rate = 21000,
		.delivery = 1801454400,
		.delivery_offset = 7200,
		.zone = "Europe/Riga",
		.created = 1801022400,
		.payment = ORDER_PAYMENT_PREPAID,
		.status = ORDER_STATUS_SHIPPED,
		.late = true,
		.carrier = "DHL", .tracking = "JD014600",
		.shipped = 1801368000,
		.charged = true, .paid = true, .paid_at = 1801108800, .paid_reference = "bank 1234",
		.overdue_sent = true, .payment_due_at = 1801195200, .cancel_at = 1801281600,
		.history = hist, .n_history = 3,
	};
	assert_int_equal(order_amounts(&o), 0);
	order_payment_ref(o.number, o.payment_ref);
	return o;
}

static void assert_money_eq(const money *a, const money *b) {
	assert_int_equal(a->minor, b->minor);
	assert_string_equal(a->currency, b->currency);
}

/* Every field, the ones order_assert.h leaves out too. */
static void assert_order_all(const sales_order *a, const sales_order *b) {
	assert_order_eq(a, b);
	assert_money_eq(&a->net, &b->net);
	assert_money_eq(&a->vat, &b->vat);
	assert_int_equal(a->vat_rate, b->vat_rate);
	assert_int_equal(a->charged, b->charged);
	assert_int_equal(a->paid, b->paid);
	assert_int_equal(a->paid_at, b->paid_at);
	assert_str_eq(a->paid_reference, b->paid_reference);
	assert_string_equal(a->payment_ref, b->payment_ref);
	assert_int_equal(a->overdue_sent, b->overdue_sent);
	assert_int_equal(a->payment_due_at, b->payment_due_at);
	assert_int_equal(a->cancel_at, b->cancel_at);
	assert_int_equal(a->n_history, b->n_history);
	for (size_t i = 0; i < a->n_history; i++) {
		assert_int_equal(a->history[i].at, b->history[i].at);
		assert_str_eq(a->history[i].by, b->history[i].by);
		assert_int_equal(a->history[i].status, b->history[i].status);
		assert_str_eq(a->history[i].reason, b->history[i].reason);
	}
}

typedef struct enc { bytes_buf rec, shared; } enc;

static void encode(const sales_order *o, enc *e) {
	bytes_init(&e->rec, NULL, 0);
	bytes_init(&e->shared, NULL, 0);
	assert_int_equal(order_bin_encode(o, NULL, &e->rec, &e->shared), 0);
}

static void enc_free(enc *e) {
	bytes_free(&e->rec);
	bytes_free(&e->shared);
}

static int decode(const sales_order *o, const void *rec, size_t n, const void *sh, size_t n_sh) {
	sales_order *r = NULL;
	int rc = order_bin_decode(o->number, rec, n, sh, n_sh, &r);
	if (rc == 0)
		order_free(r);
	return rc;
}

/* Compact round trip, and the same struct as the JSON codec's. */
static void roundtrip(const sales_order *o) {
	enc e;
	encode(o, &e);
	sales_order *r, *j;
	assert_int_equal(order_bin_decode(o->number, e.rec.p, e.rec.n, e.shared.p, e.shared.n, &r), 0);
	assert_order_all(r, o);
	json_t *rec = order_to_record(o, NULL);
	assert_non_null(rec);
	assert_int_equal(order_from_record(rec, &j), 0);
	json_decref(rec);
	assert_order_all(r, j);
	order_free(r);
	order_free(j);
	enc_free(&e);
}

static void test_order_roundtrip(void **state) {
	(void) state;
	sales_order o = sample();
	roundtrip(&o);

	/* an account order of the creation path: no payment reference, no history */
	o.payment = ORDER_PAYMENT_ACCOUNT;
	o.payment_ref[0] = 0;
	o.paid = o.charged = o.overdue_sent = false;
	o.paid_at = o.payment_due_at = o.cancel_at = 0;
	o.paid_reference = NULL;
	o.n_history = 0;
	o.history = NULL;
	roundtrip(&o);

	/* a one-time order: no standing order, no occurrence, placed by someone */
	o.standing_order = NULL;
	o.occurrence = UINT64_MAX;
	o.placed_by = "shop:ilze";
	o.carrier = o.tracking = o.zone = NULL;
	o.ship_to = (order_address) { NULL, NULL, NULL, NULL, NULL };
	roundtrip(&o);

	/* empty strings, UTF-8 of every length, a payment reference of its own */
	o = sample();
	o.ship_to = (order_address) { "", "Đường Lê Lợi 1", "", "Hồ Chí Minh", "VN" };
	o.customer = "";
	o.supplier = "日本 🚚";
	o.zone = "";
	o.carrier = "";
	o.tracking = "";
	o.paid_reference = "";
	strcpy(o.payment_ref, "RF99 own");
	hist[0].by = "";
	roundtrip(&o);
	hist[0].by = "standingd";

	/* extremes: instants, offsets, occurrence numbers */
	o = sample();
	o.delivery = INT64_MIN;
	o.created = INT64_MAX;
	o.shipped = INT64_MIN;
	o.paid_at = -1;
	o.payment_due_at = INT64_MAX;
	o.cancel_at = INT64_MIN;
	o.delivery_offset = INT32_MIN;
	o.occurrence = 0;
	roundtrip(&o);
	o.delivery = INT64_MAX;
	o.created = INT64_MIN;
	o.delivery_offset = INT32_MAX;
	o.occurrence = INT64_MAX;
	roundtrip(&o);

	/* maximum money: amounts the lines do not give are stored as they are */
	static order_line huge[] = { { .sku = "GOLD", .quantity = INT64_MAX, .unit_price = { INT64_MAX, "KWD" } } };
	o = sample();
	o.lines = huge;
	o.n_lines = 1;
	o.net = (money) { INT64_MAX, "KWD" };
	o.vat = (money) { INT64_MIN, "KWD" };
	o.total = (money) { -1, "" };
	o.vat_rate = ORDER_VAT_MAX;
	roundtrip(&o);
	/* no lines at all (the amounts then never derive) */
	o.n_lines = 0;
	o.lines = NULL;
	roundtrip(&o);

	/* many lines and many transitions */
	enum { N = 1000 };
	order_line *many = calloc(N, sizeof(*many));
	order_transition *steps = calloc(N, sizeof(*steps));
	char (*skus)[16] = calloc(N, sizeof(*skus));
	assert_true(many && steps && skus);
	for (size_t i = 0; i < N; i++) {
		snprintf(skus[i], sizeof(skus[i]), "SKU-%zu", i);
		many[i] = (order_line) { .sku = skus[i], .quantity = (int64_t) i + 1, .unit_price = { (int64_t) i, "EUR" } };
		steps[i] = (order_transition) { .at = 1801022400 + (int64_t) i * 977, .by = i % 3 ? "ops:anna" : "standingd",
						.status = (order_status) (i % 5), .reason = i % 2 ? NULL : skus[i] };
	}
	o = sample();
	o.lines = many;
	o.n_lines = N;
	o.history = steps;
	o.n_history = N;
	assert_int_equal(order_amounts(&o), 0);
	roundtrip(&o);
	free(many);
	free(steps);
	free(skus);
}

/* The bytes of the creation path's order, spelled out: the format is the store's
 * on-disk layout (doc/store.md), so a change to it must be deliberate. */
static void test_order_bytes(void **state) {
	(void) state;
	static order_line one[] = { { .sku = "B", .quantity = 2, .unit_price = { 85, "EUR" } } };
	sales_order o = {
		.number = "SO-00000001-3", .standing_order = "s", .occurrence = 0, .customer = "c", .supplier = "l",
		.ship_to = { "N", NULL, NULL, NULL, "FI" }, .lines = one, .n_lines = 1, .delivery = 64,
		.delivery_offset = 7200, .zone = "UTC", .created = 100, .payment = ORDER_PAYMENT_ACCOUNT,
		.status = ORDER_STATUS_CONFIRMED, .charged = true, .history = hist, .n_history = 1,
	};
	assert_int_equal(order_amounts(&o), 0);
	order_transition h = { .at = 100, .by = "standingd", .status = ORDER_STATUS_CONFIRMED };
	o.history = &h;
	enc e;
	encode(&o, &e);
	static const unsigned char shared[] = {
		2, 's', 1, 'c', 1, 'l',          /* standing order, customer, supplier */
		2, 'N', 0, 0, 0, 3, 'F', 'I',    /* ship_to: name, street, postcode, city, country */
		4, 'U', 'T', 'C',                /* zone */
		0, 0, 0,                         /* payment account, VAT rate 0, placed_by NULL */
		1, 1, 'B', 4, 0xaa, 1, 3, 'E', 'U', 'R',   /* one line: sku, quantity 2, 85 EUR */
	};
	static const unsigned char rec[] = {
		2,                               /* flags: charged */
		2,                               /* status confirmed */
		1,                               /* occurrence 0 (+ 1) */
		0x80, 1,                         /* delivery 64 (zigzag 128) */
		0xc0, 0x70,                      /* offset 7200 (zigzag 14400) */
		72,                              /* created - delivery: 36 */
		0, 0, 0, 0,                      /* shipped, paid_at, payment_due_at, cancel_at */
		0, 0, 0,                         /* carrier, tracking, paid_reference: NULL */
		1, 0, 1, 2, 0,                   /* one transition: at - created 0, by standingd, confirmed, no reason */
	};
	assert_int_equal(e.shared.n, sizeof(shared));
	assert_memory_equal(e.shared.p, shared, sizeof(shared));
	assert_int_equal(e.rec.n, sizeof(rec));
	assert_memory_equal(e.rec.p, rec, sizeof(rec));
	enc_free(&e);
}

static void test_order_rejects(void **state) {
	(void) state;
	sales_order o = sample();
	enc e;
	encode(&o, &e);
	unsigned char rec[512], sh[512];
	assert_true(e.rec.n < sizeof(rec) - 16 && e.shared.n < sizeof(sh) - 16);
	memcpy(rec, e.rec.p, e.rec.n);
	memcpy(sh, e.shared.p, e.shared.n);
	size_t n = e.rec.n, ns = e.shared.n;
	assert_int_equal(decode(&o, rec, n, sh, ns), 0);

	/* every truncation of either part, and a byte more */
	for (size_t i = 0; i < n; i++)
		assert_int_equal(decode(&o, rec, i, sh, ns), -EBADMSG);
	for (size_t i = 0; i < ns; i++)
		assert_int_equal(decode(&o, rec, n, sh, i), -EBADMSG);
	rec[n] = 0;
	sh[ns] = 0;
	assert_int_equal(decode(&o, rec, n + 1, sh, ns), -EBADMSG);
	assert_int_equal(decode(&o, rec, n, sh, ns + 1), -EBADMSG);

	/* an unknown flag, a status past the last, both payment reference flags */
	unsigned char f = rec[0];
	rec[0] = (unsigned char) (f | 0x80);
	assert_int_equal(decode(&o, rec, n, sh, ns), -EBADMSG);
	rec[0] = (unsigned char) (f | 0x20 | 0x40);
	assert_int_equal(decode(&o, rec, n, sh, ns), -EBADMSG);
	rec[0] = f;
	rec[1] = ORDER_STATUS_CANCELLED + 1;
	assert_int_equal(decode(&o, rec, n, sh, ns), -EBADMSG);
	rec[1] = (unsigned char) o.status;
	assert_int_equal(decode(&o, rec, n, sh, ns), 0);

	/* the standing order's id (the shared part's first string): "acme-bulbs" */
	assert_int_equal(sh[0], 11);
	sh[1] = 0xff;   /* not UTF-8 */
	assert_int_equal(decode(&o, rec, n, sh, ns), -EBADMSG);
	sh[1] = 0xc3;   /* a sequence cut short */
	assert_int_equal(decode(&o, rec, n, sh, ns), -EBADMSG);
	sh[1] = 0;      /* a NUL inside */
	assert_int_equal(decode(&o, rec, n, sh, ns), -EBADMSG);
	sh[1] = 'a';
	assert_int_equal(decode(&o, rec, n, sh, ns), 0);
	sh[0] = 0xff;   /* a length past the end */
	assert_int_equal(decode(&o, rec, n, sh, ns), -EBADMSG);
	sh[0] = 11;

	/* a varint spelled longer than it needs (occurrence 3 + 1 as 0x84 0x00) */
	unsigned char longer[520];
	assert_int_equal(rec[2], 4);
	memcpy(longer, rec, 2);
	longer[2] = 0x84;
	longer[3] = 0x00;
	memcpy(longer + 4, rec + 3, n - 3);
	assert_int_equal(decode(&o, longer, n + 1, sh, ns), -EBADMSG);
	/* a varint of 11 bytes */
	memset(longer + 2, 0xff, 10);
	longer[12] = 0x01;
	assert_int_equal(decode(&o, longer, n + 10, sh, ns), -EBADMSG);

	/* a line count far past what is left: refused before anything is allocated */
	enc_free(&e);
	o.n_lines = 0;
	o.lines = NULL;
	encode(&o, &e);   /* the same shared part up to the count, which is 0 and last */
	assert_int_equal(e.shared.p[e.shared.n - 1], 0);
	e.shared.n--;
	bytes_uv(&e.shared, UINT64_C(1) << 60);
	assert_int_equal(decode(&o, e.rec.p, e.rec.n, e.shared.p, e.shared.n), -EBADMSG);
	enc_free(&e);

	/* derived amounts that do not compute (a sum past int64) are damage */
	static order_line huge[] = { { .sku = "X", .quantity = 2, .unit_price = { INT64_MAX, "EUR" } } };
	o = sample();
	encode(&o, &e);
	sales_order h = o;
	h.lines = huge;
	h.n_lines = 1;
	enc e2;
	encode(&h, &e2);   /* its amounts are explicit: take its shared part, o's own part (derived) */
	assert_int_equal(decode(&o, e.rec.p, e.rec.n, e2.shared.p, e2.shared.n), -EBADMSG);
	enc_free(&e2);
	enc_free(&e);

	/* the encoder refuses what it could not read back */
	o = sample();
	bytes_buf r1, r2;
	bytes_init(&r1, NULL, 0);
	bytes_init(&r2, NULL, 0);
	o.customer = "\xff";
	assert_int_equal(order_bin_encode(&o, NULL, &r1, &r2), -EINVAL);
	o = sample();
	o.customer = NULL;
	assert_int_equal(order_bin_encode(&o, NULL, &r1, &r2), -EINVAL);
	o = sample();
	o.status = (order_status) 9;
	assert_int_equal(order_bin_encode(&o, NULL, &r1, &r2), -EINVAL);
	bytes_free(&r1);
	bytes_free(&r2);
}

/* Every single byte changed to every value: refused or read, never a crash or a
 * leak (run under ASan and valgrind). */
static void test_order_flips(void **state) {
	(void) state;
	sales_order o = sample();
	enc e;
	encode(&o, &e);
	unsigned char *rec = malloc(e.rec.n), *sh = malloc(e.shared.n);
	assert_true(rec && sh);
	size_t readable = 0, refused = 0;
	for (int part = 0; part < 2; part++) {
		unsigned char *p = part ? sh : rec;
		size_t n = part ? e.shared.n : e.rec.n;
		for (size_t i = 0; i < n; i++)
			for (unsigned v = 0; v < 256; v++) {
				memcpy(rec, e.rec.p, e.rec.n);
				memcpy(sh, e.shared.p, e.shared.n);
				p[i] = (unsigned char) v;
				int rc = decode(&o, rec, e.rec.n, sh, e.shared.n);
				assert_true(rc == 0 || rc == -EBADMSG);
				if (rc)
					refused++;
				else
					readable++;
			}
	}
	assert_true(refused > 0 && readable > 0);
	free(rec);
	free(sh);
	enc_free(&e);
}

static void ledger_roundtrip(const ledger_entry *e) {
	bytes_buf b;
	bytes_init(&b, NULL, 0);
	assert_int_equal(ledger_entry_bin_encode(e, &b), 0);
	ledger_entry r, j;
	assert_int_equal(ledger_entry_bin_decode(b.p, b.n, e->seq, &r), 0);
	json_t *rec = ledger_entry_to_record(e);
	assert_non_null(rec);
	assert_int_equal(ledger_entry_from_record(rec, &j), 0);
	json_decref(rec);
	const ledger_entry *x[2] = { &r, &j };
	for (int i = 0; i < 2; i++) {
		assert_int_equal(x[i]->seq, e->seq);
		assert_int_equal(x[i]->kind, e->kind);
		assert_string_equal(x[i]->order, e->order);
		assert_money_eq(&x[i]->amount, &e->amount);
		assert_int_equal(x[i]->at, e->at);
		assert_money_eq(&x[i]->balance_after, &e->balance_after);
		assert_str_eq(x[i]->reference, e->reference);
		assert_str_eq(x[i]->by, e->by);
	}
	/* every truncation, and a byte more */
	for (size_t i = 0; i < b.n; i++)
		assert_int_equal(ledger_entry_bin_decode(b.p, i, e->seq, &j), -EBADMSG);
	bytes_u8(&b, 0);
	assert_int_equal(ledger_entry_bin_decode(b.p, b.n, e->seq, &j), -EBADMSG);
	ledger_entry_done(&r);
	ledger_entry_done(&j);
	bytes_free(&b);
}

static void test_ledger(void **state) {
	(void) state;
	ledger_entry e = {
		.seq = 3, .kind = LEDGER_CHARGE, .amount = { 8502500, "EUR" },
		.at = 1801022400, .balance_after = { 4502500, "EUR" }, .reference = NULL, .by = "standingd",
	};
	order_number_format(7, e.order);   /* stored as the sequence */
	ledger_roundtrip(&e);
	/* the creation path's entry is small: flags, kind, order, amount, at, balance, reference */
	bytes_buf b;
	bytes_init(&b, NULL, 0);
	assert_int_equal(ledger_entry_bin_encode(&e, &b), 0);
	assert_int_equal(b.n, 1 + 1 + 1 + 4 + 4 + 5 + 4 + 1);
	bytes_free(&b);
	/* an account payment: no order; a reference; another currency for the balance */
	e = (ledger_entry) { .seq = INT64_MAX, .kind = LEDGER_PAYMENT, .order = "", .amount = { INT64_MAX, "VND" },
			     .at = INT64_MIN, .balance_after = { INT64_MIN, "" }, .reference = "Ōsaka 🏦", .by = "ops:anna" };
	ledger_roundtrip(&e);
	/* an order text that is no confirmation number, kept as text; by NULL */
	e = (ledger_entry) { .seq = 1, .kind = LEDGER_REFUND, .order = "SO-00000042-1", .amount = { 1, "EUR" },
			     .balance_after = { 0, "EUR" }, .by = NULL, .reference = "" };
	ledger_roundtrip(&e);
	/* refused: seq 0, an unknown kind or flag, a sequence past the last */
	bytes_init(&b, NULL, 0);
	assert_int_equal(ledger_entry_bin_encode(&e, &b), 0);
	ledger_entry r;
	assert_int_equal(ledger_entry_bin_decode(b.p, b.n, 0, &r), -EBADMSG);
	b.p[1] = LEDGER_REFUND + 1;
	assert_int_equal(ledger_entry_bin_decode(b.p, b.n, 1, &r), -EBADMSG);
	b.p[1] = LEDGER_REFUND;
	b.p[0] |= 0x80;
	assert_int_equal(ledger_entry_bin_decode(b.p, b.n, 1, &r), -EBADMSG);
	bytes_free(&b);
	e.order[0] = 0;
	e.reference = "\xc3";
	bytes_init(&b, NULL, 0);
	assert_int_equal(ledger_entry_bin_encode(&e, &b), -EINVAL);
	bytes_free(&b);
}

static void test_varints(void **state) {
	(void) state;
	static const int64_t sv[] = { 0, 1, -1, 63, -64, 64, INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN };
	static const uint64_t uv[] = { 0, 1, 127, 128, 16383, 16384, UINT32_MAX, UINT64_MAX - 1, UINT64_MAX };
	unsigned char small[4];
	bytes_buf b;
	bytes_init(&b, small, sizeof(small));   /* starts on the caller's buffer, then grows */
	for (size_t i = 0; i < sizeof(sv) / sizeof(sv[0]); i++)
		bytes_sv(&b, sv[i]);
	for (size_t i = 0; i < sizeof(uv) / sizeof(uv[0]); i++)
		bytes_uv(&b, uv[i]);
	bytes_ostr(&b, NULL);
	bytes_ostr(&b, "");
	bytes_str(&b, "ä");
	assert_false(b.failed);
	assert_true(b.heap);
	bytes_rd r = bytes_reader(b.p, b.n);
	for (size_t i = 0; i < sizeof(sv) / sizeof(sv[0]); i++)
		assert_int_equal(bytes_get_sv(&r), sv[i]);
	for (size_t i = 0; i < sizeof(uv) / sizeof(uv[0]); i++)
		assert_int_equal(bytes_get_uv(&r), uv[i]);
	char *s;
	assert_true(bytes_get_ostr(&r, &s));
	assert_null(s);
	assert_true(bytes_get_ostr(&r, &s));
	assert_string_equal(s, "");
	free(s);
	s = bytes_get_str(&r);
	assert_string_equal(s, "ä");
	free(s);
	assert_true(bytes_done(&r));
	bytes_free(&b);
	/* UINT64_MAX is ten bytes, the last 0x01; a tenth byte above 1 overflows */
	static const unsigned char over[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02 };
	r = bytes_reader(over, sizeof(over));
	bytes_get_uv(&r);
	assert_true(r.bad);
	static const unsigned char pad[] = { 0x80, 0x00 };
	r = bytes_reader(pad, sizeof(pad));
	bytes_get_uv(&r);
	assert_true(r.bad);
	r = bytes_reader(pad, 1);
	bytes_get_uv(&r);
	assert_true(r.bad);
}

/* One spelling per record: the longer spellings encode never writes are refused
 * (so encode(decode(x)) is x: the fuzz harness checks it on anything read). */
static void test_one_spelling(void **state) {
	(void) state;
	static order_line one[] = { { .sku = "B", .quantity = 2, .unit_price = { 85, "EUR" } } };
	sales_order o = {
		.number = "SO-00000001-3", .customer = "c", .supplier = "l", .occurrence = UINT64_MAX, .lines = one,
		.n_lines = 1, .payment = ORDER_PAYMENT_ACCOUNT, .status = ORDER_STATUS_CONFIRMED,
	};
	assert_int_equal(order_amounts(&o), 0);
	enc e;
	encode(&o, &e);
	unsigned char rec[64];
	size_t n = e.rec.n;
	memcpy(rec, e.rec.p, n);
	assert_int_equal(rec[0], 0);   /* no flags: amounts derived, no payment reference */
	/* the amounts stored although they are the derived ones */
	bytes_buf b;
	bytes_init(&b, NULL, 0);
	bytes_u8(&b, 16);
	bytes_put(&b, rec + 1, n - 2);   /* all but the transition count (0, last) */
	money m[3] = { o.net, o.vat, o.total };
	for (int i = 0; i < 3; i++) {
		bytes_sv(&b, m[i].minor);
		bytes_str(&b, m[i].currency);
	}
	bytes_u8(&b, 0);
	assert_int_equal(decode(&o, b.p, b.n, e.shared.p, e.shared.n), -EBADMSG);
	/* the same with another total: read */
	b.p[b.n - 6] = 1;   /* total 170 (zigzag 340: 0xd4 0x02), then "EUR" and the count: 0xd4 0x01 */
	assert_int_equal(decode(&o, b.p, b.n, e.shared.p, e.shared.n), 0);
	bytes_free(&b);
	/* "standingd" written out instead of its code */
	bytes_init(&b, NULL, 0);
	bytes_put(&b, rec, n - 1);
	bytes_u8(&b, 1);                 /* one transition */
	bytes_u8(&b, 0);                 /* at - created */
	bytes_u8(&b, 9 + 2);
	bytes_put(&b, "standingd", 9);
	bytes_u8(&b, ORDER_STATUS_CONFIRMED);
	bytes_u8(&b, 0);
	assert_int_equal(decode(&o, b.p, b.n, e.shared.p, e.shared.n), -EBADMSG);
	b.p[n + 2 + 1] = 'S';            /* "Standingd": someone else */
	assert_int_equal(decode(&o, b.p, b.n, e.shared.p, e.shared.n), 0);
	bytes_free(&b);
	/* the derived payment reference written out */
	char ref[ORDER_PAYMENT_REF_MAX];
	order_payment_ref(o.number, ref);
	bytes_init(&b, NULL, 0);
	bytes_u8(&b, 64);
	bytes_put(&b, rec + 1, n - 2);
	bytes_str(&b, ref);
	bytes_u8(&b, 0);
	assert_int_equal(decode(&o, b.p, b.n, e.shared.p, e.shared.n), -EBADMSG);
	bytes_free(&b);
	enc_free(&e);

	/* ledger: a confirmation number as text, the amount's currency repeated,
	 * "standingd" written out */
	ledger_entry le = { .kind = LEDGER_CHARGE, .amount = { 5, "EUR" }, .balance_after = { 5, "EUR" } }, r;
	static const unsigned char as_text[] = { 2, 0, 13, 'S', 'O', '-', '0', '0', '0', '0', '0', '0', '0', '1', '-', '3',
						 10, 3, 'E', 'U', 'R', 0, 10, 0, 0 };
	static const unsigned char cur_again[] = { 8, 0, 10, 3, 'E', 'U', 'R', 0, 10, 3, 'E', 'U', 'R', 0, 0 };
	static const unsigned char by_text[] = { 0, 0, 10, 3, 'E', 'U', 'R', 0, 10, 0, 10, 's', 't', 'a', 'n', 'd', 'i',
						 'n', 'g', 'd' };
	static const unsigned char fine[] = { 0, 0, 10, 3, 'E', 'U', 'R', 0, 10, 0, 0 };
	assert_int_equal(ledger_entry_bin_decode(as_text, sizeof(as_text), 1, &r), -EBADMSG);
	assert_int_equal(ledger_entry_bin_decode(cur_again, sizeof(cur_again), 1, &r), -EBADMSG);
	assert_int_equal(ledger_entry_bin_decode(by_text, sizeof(by_text), 1, &r), -EBADMSG);
	assert_int_equal(ledger_entry_bin_decode(fine, sizeof(fine), 1, &r), 0);
	bytes_init(&b, NULL, 0);
	assert_int_equal(ledger_entry_bin_encode(&le, &b), 0);
	assert_int_equal(b.n, sizeof(fine));
	assert_memory_equal(b.p, fine, sizeof(fine));
	bytes_free(&b);
	ledger_entry_done(&r);
}

/* order_number_seq: the one spelling order_number_format writes, nothing else. */
static void test_number_seq(void **state) {
	(void) state;
	uint64_t seq = 0;
	char n[ORDER_NUMBER_MAX];
	static const uint64_t seqs[] = { 1, 42, 99999999, 100000000, ORDER_SEQ_MAX };
	for (size_t i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
		order_number_format(seqs[i], n);
		assert_int_equal(order_number_seq(n, &seq), 0);
		assert_int_equal(seq, seqs[i]);
	}
	static const char *const other[] = { "so-00000042-7", "SO 00000042 7", "000000427", "SO-00000042-1",
					     "SO-0000042-7", "SO-000000042-7", "SO-00000042-7 ", "SO-00000042-", "", "SO-" };
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++)
		assert_int_equal(order_number_seq(other[i], &seq), -EINVAL);
	assert_int_equal(order_number_seq(NULL, &seq), -EINVAL);
	/* exactly the strings order_number_format writes: every one-character change
	 * of numbers of 8, 9 and 10 digits is taken only when it formats back the same */
	static const uint64_t base[] = { 1, 12345678, 123456789, 1234567890, ORDER_SEQ_MAX };
	static const char alphabet[] = "0123456789-S";
	for (size_t i = 0; i < sizeof(base) / sizeof(base[0]); i++) {
		order_number_format(base[i], n);
		for (size_t pos = 0; n[pos]; pos++)
			for (size_t a = 0; alphabet[a]; a++) {
				char m[ORDER_NUMBER_MAX], back[ORDER_NUMBER_MAX];
				memcpy(m, n, sizeof(m));
				m[pos] = alphabet[a];
				uint64_t p = 0;
				bool canonical = order_number_parse(m, &p) == 0 && (order_number_format(p, back), !strcmp(back, m));
				int r = order_number_seq(m, &seq);
				assert_int_equal(r, canonical ? 0 : -EINVAL);
				if (canonical)
					assert_int_equal(seq, p);
			}
	}
	assert_int_equal(order_number_seq("SO-00000000-0", &seq), -EINVAL);   /* no order 0 */
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_varints),
		cmocka_unit_test(test_order_roundtrip),
		cmocka_unit_test(test_order_bytes),
		cmocka_unit_test(test_order_rejects),
		cmocka_unit_test(test_order_flips),
		cmocka_unit_test(test_ledger),
		cmocka_unit_test(test_one_spelling),
		cmocka_unit_test(test_number_seq),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
