#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lib/base/bytes.h"
#include "lib/base/jfield.h"
#include "lib/base/jsonw.h"
#include "lib/base/text.h"
#include "lib/model/order.h"
#include "lib/time/cal.h"

/* ---- names ---- */

const char *const order_payment_names[] = {
	[ORDER_PAYMENT_ACCOUNT] = "account",
	[ORDER_PAYMENT_PREPAID] = "prepaid",
	NULL,
};

const char *const order_status_names[] = {
	[ORDER_STATUS_AWAITING_PAYMENT] = "awaiting_payment",
	[ORDER_STATUS_ON_HOLD] = "on_hold",
	[ORDER_STATUS_CONFIRMED] = "confirmed",
	[ORDER_STATUS_SHIPPED] = "shipped",
	[ORDER_STATUS_CANCELLED] = "cancelled",
	NULL,
};

const char *model_name_of(const char *const *names, unsigned v) {
	for (unsigned i = 0; names[i]; i++)
		if (i == v)
			return names[i];
	return "unknown";
}

int model_name_parse(const char *const *names, const char *s, unsigned *ret) {
	for (unsigned i = 0; s && names[i]; i++)
		if (!strcmp(s, names[i])) {
			*ret = i;
			return 0;
		}
	return -EINVAL;
}

const char *order_payment_name(order_payment p) {
	return model_name_of(order_payment_names, (unsigned) p);
}

int order_payment_parse(const char *s, order_payment *ret) {
	unsigned v;
	int r = model_name_parse(order_payment_names, s, &v);
	if (r == 0)
		*ret = (order_payment) v;
	return r;
}

const char *order_status_name(order_status s) {
	return model_name_of(order_status_names, (unsigned) s);
}

int order_status_parse(const char *s, order_status *ret) {
	unsigned v;
	int r = model_name_parse(order_status_names, s, &v);
	if (r < 0 && s && !strcmp(s, "created")) {
		/* records written before issue 9: every order was taken as it came */
		v = ORDER_STATUS_CONFIRMED;
		r = 0;
	}
	if (r == 0)
		*ret = (order_status) v;
	return r;
}

const char *const ledger_kind_names[] = {
	[LEDGER_CHARGE] = "charge",
	[LEDGER_PAYMENT] = "payment",
	[LEDGER_CREDIT] = "credit",
	[LEDGER_REFUND] = "refund",
	NULL,
};

const char *ledger_kind_name(ledger_kind k) {
	return model_name_of(ledger_kind_names, (unsigned) k);
}

int ledger_kind_parse(const char *s, ledger_kind *ret) {
	unsigned v;
	int r = model_name_parse(ledger_kind_names, s, &v);
	if (r == 0)
		*ret = (ledger_kind) v;
	return r;
}

int ledger_kind_sign(ledger_kind k) {
	return k == LEDGER_CHARGE || k == LEDGER_REFUND ? 1 : -1;
}

/* ---- the total ---- */

int order_total_add(money *total, const order_line *l) {
	if (!total->currency[0])
		memcpy(total->currency, l->unit_price.currency, sizeof(total->currency));
	else if (strcmp(total->currency, l->unit_price.currency))
		return -EINVAL;
	int64_t line, sum;
	if (__builtin_mul_overflow(l->quantity, l->unit_price.minor, &line) ||
	    __builtin_add_overflow(total->minor, line, &sum))
		return -EOVERFLOW;
	total->minor = sum;
	return 0;
}

int order_total(const order_line *lines, size_t n, money *ret) {
	money total = { 0 };
	if (!n || !lines)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		int r = order_total_add(&total, &lines[i]);
		if (r < 0)
			return r;
	}
	*ret = total;
	return 0;
}

/* ---- VAT and the gross ---- */

int order_vat(money net, int32_t rate, money *ret) {
	if (rate < 0 || rate > ORDER_VAT_MAX)
		return -EINVAL;
	/* One rounding per order, half away from zero: |net| * rate / 100000 rounded
	 * up at exactly .5, the sign put back. 128 bits: no intermediate overflow. */
	__int128 a = net.minor < 0 ? -(__int128) net.minor : (__int128) net.minor;
	__int128 q = (a * rate * 2 + 100000) / 200000;
	if (q > INT64_MAX)
		return -EOVERFLOW;
	money v = net;
	v.minor = net.minor < 0 ? -(int64_t) q : (int64_t) q;
	*ret = v;
	return 0;
}

int order_amounts(sales_order *o) {
	money net = { 0 }, vat;
	int r = order_total(o->lines, o->n_lines, &net);
	if (r < 0)
		return r;
	if ((r = order_vat(net, o->vat_rate, &vat)) < 0)
		return r;
	money gross = net;
	if (__builtin_add_overflow(net.minor, vat.minor, &gross.minor))
		return -EOVERFLOW;
	o->net = net;
	o->vat = vat;
	o->total = gross;
	return 0;
}

int order_vat_parse(const char *s, int32_t *ret) {
	int64_t v = 0;
	int decimals = -1;
	size_t i = 0;
	if (!s || !(s[0] >= '0' && s[0] <= '9'))
		return -EINVAL;
	for (; s[i] && s[i] != '%'; i++) {
		if (s[i] == '.' && decimals < 0 && i > 0 && s[i + 1] >= '0' && s[i + 1] <= '9') {
			decimals = 0;
			continue;
		}
		if (s[i] < '0' || s[i] > '9' || decimals == 3 || v > ORDER_VAT_MAX)
			return -EINVAL;
		v = v * 10 + (s[i] - '0');
		if (decimals >= 0)
			decimals++;
	}
	if (s[i] != '%' || s[i + 1])
		return -EINVAL;
	for (int d = decimals < 0 ? 0 : decimals; d < 3; d++)
		v *= 10;
	if (v > ORDER_VAT_MAX)
		return -EINVAL;
	*ret = (int32_t) v;
	return 0;
}

void order_vat_format(int32_t rate, char ret[16]) {
	if (rate % 1000 == 0)
		snprintf(ret, 16, "%" PRId32 "%%", rate / 1000);
	else if (rate % 100 == 0)
		snprintf(ret, 16, "%" PRId32 ".%" PRId32 "%%", rate / 1000, (rate % 1000) / 100);
	else if (rate % 10 == 0)
		snprintf(ret, 16, "%" PRId32 ".%02" PRId32 "%%", rate / 1000, (rate % 1000) / 10);
	else
		snprintf(ret, 16, "%" PRId32 ".%03" PRId32 "%%", rate / 1000, rate % 1000);
}

void order_payment_ref(const char *number, char ret[ORDER_PAYMENT_REF_MAX]) {
	char digits[ORDER_NUMBER_MAX] = "";
	size_t n = 0;
	for (size_t i = 0; number && number[i] && n < sizeof(digits) - 1; i++)
		if (number[i] >= '0' && number[i] <= '9')
			digits[n++] = number[i];
	digits[n] = 0;
	/* ISO 11649: the reference, then "RF00" as digits (R=27, F=15), mod 97. */
	unsigned m = 0;
	for (size_t i = 0; i < n; i++)
		m = (m * 10 + (unsigned) (digits[i] - '0')) % 97;
	const char *tail = "271500";
	for (size_t i = 0; tail[i]; i++)
		m = (m * 10 + (unsigned) (tail[i] - '0')) % 97;
	snprintf(ret, ORDER_PAYMENT_REF_MAX, "RF%02u%s", 98 - m, digits);
}

void order_transitions_clear(sales_order *o) {
	for (size_t i = 0; i < o->n_history; i++) {
		free(o->history[i].by);
		free(o->history[i].reason);
	}
	free(o->history);
	o->history = NULL;
	o->n_history = 0;
}

int order_transition_add(sales_order *o, int64_t at, const char *by, order_status st, const char *reason) {
	order_transition *h = realloc(o->history, (o->n_history + 1) * sizeof(*h));
	if (!h)
		return -ENOMEM;
	o->history = h;
	order_transition *t = &h[o->n_history];
	t->at = at;
	t->status = st;
	t->by = by ? strdup(by) : NULL;
	t->reason = reason ? strdup(reason) : NULL;
	if ((by && !t->by) || (reason && !t->reason)) {
		free(t->by);
		free(t->reason);
		return -ENOMEM;
	}
	o->n_history++;
	o->status = st;
	return 0;
}

/* ---- confirmation numbers ---- */

/* Damm's totally anti-symmetric quasigroup of order 10: the check digit
 * catches every single-digit error and every adjacent transposition. */
static const uint8_t damm_table[10][10] = {
	{ 0, 3, 1, 7, 5, 9, 8, 6, 4, 2 },
	{ 7, 0, 9, 2, 1, 5, 4, 8, 6, 3 },
	{ 4, 2, 0, 6, 8, 7, 1, 3, 5, 9 },
	{ 1, 7, 5, 0, 9, 8, 3, 4, 2, 6 },
	{ 6, 1, 2, 3, 0, 4, 5, 9, 7, 8 },
	{ 3, 6, 7, 4, 2, 0, 9, 5, 8, 1 },
	{ 5, 8, 6, 9, 7, 2, 0, 1, 3, 4 },
	{ 8, 9, 4, 5, 3, 6, 2, 0, 1, 7 },
	{ 9, 4, 3, 8, 6, 1, 7, 2, 0, 5 },
	{ 2, 5, 8, 1, 4, 3, 6, 7, 9, 0 },
};

static unsigned damm(const char *digits, size_t n) {
	unsigned c = 0;
	for (size_t i = 0; i < n; i++)
		c = damm_table[c][digits[i] - '0'];
	return c;
}

void order_number_format(uint64_t seq, char ret[ORDER_NUMBER_MAX]) {
	char d[ORDER_NUMBER_MAX - 5];   /* "SO-", "-", check digit and NUL around the digits */
	if (seq > ORDER_SEQ_MAX) {
		ret[0] = 0;   /* never assigned: the store stops at ORDER_SEQ_MAX */
		return;
	}
	/* the digits, at least 8 (zero-padded), without printf: once per order created */
	size_t n = 0;
	for (uint64_t v = seq; v || n < 8; v /= 10)
		d[n++] = (char) ('0' + v % 10);
	for (size_t i = 0; i < n / 2; i++) {
		char c = d[i];
		d[i] = d[n - 1 - i];
		d[n - 1 - i] = c;
	}
	memcpy(ret, "SO-", 3);
	memcpy(ret + 3, d, n);
	ret[3 + n] = '-';
	ret[4 + n] = (char) ('0' + damm(d, n));
	ret[5 + n] = 0;
}

int order_number_seq(const char *s, uint64_t *ret_seq) {
	/* "SO-", 8..10 digits (no padding beyond 8), "-", the check digit: the one
	 * spelling order_number_parse takes for a sequence, read in one pass (twice
	 * per order created: its ledger entry and its event's pending entry) */
	if (!s || strncmp(s, "SO-", 3))
		return -EINVAL;
	const char *p = s + 3;
	unsigned c = 0;
	uint64_t seq = 0;
	size_t d = 0;
	for (; p[d] >= '0' && p[d] <= '9'; d++) {
		if (d == 10)
			return -EINVAL;
		c = damm_table[c][p[d] - '0'];
		seq = seq * 10 + (uint64_t) (p[d] - '0');
	}
	if (d < 8 || p[d] != '-' || p[d + 1] < '0' || p[d + 1] > '9' || p[d + 2] || (d > 8 && p[0] == '0') ||
	    damm_table[c][p[d + 1] - '0'] != 0 || seq == 0)
		return -EINVAL;
	*ret_seq = seq;
	return 0;
}

int order_number_parse(const char *s, uint64_t *ret_seq) {
	char d[ORDER_NUMBER_MAX];
	size_t n = 0;
	if (!s || !ret_seq)
		return -EINVAL;
	while (*s == ' ' || *s == '-')
		s++;
	if ((s[0] == 'S' || s[0] == 's') && (s[1] == 'O' || s[1] == 'o'))
		s += 2;
	for (; *s; s++) {
		if (*s == ' ' || *s == '-')
			continue;
		if (*s < '0' || *s > '9' || n == sizeof(d) - 1)
			return -EINVAL;
		d[n++] = *s;
	}
	/* 8 digits, or 9-10 without padding, then the check digit: one spelling per number. */
	if (n < 9 || n > 11 || (n > 9 && d[0] == '0') || damm(d, n) != 0)
		return -EINVAL;
	uint64_t seq = 0;
	for (size_t i = 0; i + 1 < n; i++)
		seq = seq * 10 + (uint64_t) (d[i] - '0');
	if (seq == 0)
		return -EINVAL;
	*ret_seq = seq;
	return 0;
}

/* ---- JSON helpers ---- */

static json_t *done(json_t *j, bool ok) {
	if (!ok) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static json_t *money_record(const money *m) {
	if (!memchr(m->currency, 0, sizeof(m->currency)))
		return NULL;
	return json_pack("{s:I, s:s}", "minor", (json_int_t) m->minor, "currency", m->currency);
}

static int jmoney(json_t *v, money *ret) {
	int64_t minor;
	json_t *cur = json_object_get(v, "currency");
	if (!json_is_object(v) || jfield_int(v, "minor", &minor) < 0 || !json_is_string(cur) ||
	    json_string_length(cur) >= sizeof(ret->currency) ||
	    strlen(json_string_value(cur)) != json_string_length(cur))
		return -EBADMSG;
	memset(ret, 0, sizeof(*ret));
	ret->minor = minor;
	memcpy(ret->currency, json_string_value(cur), json_string_length(cur));
	return 0;
}

/* ---- the stored record ---- */

json_t *order_to_record(const sales_order *o, const char *number) {
	bool ok = true;
	json_t *j = json_object();
	json_t *ship = json_object();
	json_t *lines = json_array();
	if (!number)
		number = o->number;
	jfield_set(ship, "name", jfield_str_or_null(o->ship_to.name), &ok);
	jfield_set(ship, "street", jfield_str_or_null(o->ship_to.street), &ok);
	jfield_set(ship, "postcode", jfield_str_or_null(o->ship_to.postcode), &ok);
	jfield_set(ship, "city", jfield_str_or_null(o->ship_to.city), &ok);
	jfield_set(ship, "country", jfield_str_or_null(o->ship_to.country), &ok);
	for (size_t i = 0; i < o->n_lines; i++) {
		const order_line *l = &o->lines[i];
		json_t *lj = json_object();
		jfield_set(lj, "sku", json_string(l->sku), &ok);
		jfield_set(lj, "quantity", json_integer(l->quantity), &ok);
		jfield_set(lj, "unit_price", money_record(&l->unit_price), &ok);
		if (!lines || json_array_append_new(lines, lj) < 0)
			ok = false;
	}
	jfield_set(j, "number", json_string(number), &ok);
	jfield_set(j, "standing_order", jfield_str_or_null(o->standing_order), &ok);
	/* UINT64_MAX: the rule does not number its occurrences (cron without count). */
	jfield_set(j, "occurrence", o->occurrence == UINT64_MAX ? json_null() : json_integer((json_int_t) o->occurrence), &ok);
	jfield_set(j, "customer", json_string(o->customer), &ok);
	jfield_set(j, "supplier", json_string(o->supplier), &ok);
	jfield_set(j, "ship_to", ship, &ok);
	jfield_set(j, "lines", lines, &ok);
	jfield_set(j, "total", money_record(&o->total), &ok);
	jfield_set(j, "delivery", json_integer(o->delivery), &ok);
	jfield_set(j, "delivery_offset", json_integer(o->delivery_offset), &ok);
	jfield_set(j, "zone", jfield_str_or_null(o->zone), &ok);
	jfield_set(j, "created", json_integer(o->created), &ok);
	jfield_set(j, "payment", json_string(order_payment_name(o->payment)), &ok);
	jfield_set(j, "status", json_string(order_status_name(o->status)), &ok);
	jfield_set(j, "late", json_boolean(o->late), &ok);
	jfield_set(j, "carrier", jfield_str_or_null(o->carrier), &ok);
	jfield_set(j, "tracking", jfield_str_or_null(o->tracking), &ok);
	jfield_set(j, "shipped", json_integer(o->shipped), &ok);
	if (o->placed_by)   /* absent in records from before it was kept */
		jfield_set(j, "placed_by", json_string(o->placed_by), &ok);
	/* issue 9: absent in older records (read as net = total, no VAT) */
	jfield_set(j, "net", money_record(o->net.currency[0] ? &o->net : &o->total), &ok);
	jfield_set(j, "vat_rate", json_integer(o->vat_rate), &ok);
	jfield_set(j, "vat", o->vat.currency[0] ? money_record(&o->vat) :
		json_pack("{s:I, s:s}", "minor", (json_int_t) 0, "currency", o->total.currency), &ok);
	jfield_set(j, "charged", json_boolean(o->charged), &ok);
	jfield_set(j, "paid", json_boolean(o->paid), &ok);
	jfield_set(j, "paid_at", json_integer(o->paid_at), &ok);
	jfield_set(j, "paid_reference", jfield_str_or_null(o->paid_reference), &ok);
	jfield_set(j, "payment_ref", json_string(o->payment_ref), &ok);
	jfield_set(j, "overdue_sent", json_boolean(o->overdue_sent), &ok);
	jfield_set(j, "payment_due_at", json_integer(o->payment_due_at), &ok);
	jfield_set(j, "cancel_at", json_integer(o->cancel_at), &ok);
	json_t *hist = json_array();
	for (size_t i = 0; hist && i < o->n_history; i++) {
		const order_transition *t = &o->history[i];
		json_t *tj = json_object();
		jfield_set(tj, "at", json_integer(t->at), &ok);
		jfield_set(tj, "by", jfield_str_or_null(t->by), &ok);
		jfield_set(tj, "status", json_string(order_status_name(t->status)), &ok);
		jfield_set(tj, "reason", jfield_str_or_null(t->reason), &ok);
		if (json_array_append_new(hist, tj) < 0)
			ok = false;
	}
	jfield_set(j, "history", hist, &ok);
	return done(j, ok);
}

/* The members issue 9 added: absent in older records, whose orders were all
 * taken as they came (status "created" reads as confirmed, net = total). */
static int order_payment_from_record(json_t *j, sales_order *o) {
	int r;
	json_t *net = json_object_get(j, "net");
	if (!net) {
		o->net = o->total;
		o->vat = o->total;
		o->vat.minor = 0;
		o->charged = false;   /* taken before the ledger: no charge entry (n_history 0 tells) */
		return 0;
	}
	int64_t rate;
	char *ref = NULL;
	json_t *hist = json_object_get(j, "history");
	if ((r = jmoney(net, &o->net)) < 0 || (r = jmoney(json_object_get(j, "vat"), &o->vat)) < 0 ||
	    (r = jfield_int(j, "vat_rate", &rate)) < 0 || (r = jfield_bool(j, "charged", &o->charged)) < 0 ||
	    (r = jfield_bool(j, "paid", &o->paid)) < 0 || (r = jfield_int(j, "paid_at", &o->paid_at)) < 0 ||
	    (r = jfield_str(j, "paid_reference", true, &o->paid_reference)) < 0 ||
	    (r = jfield_str(j, "payment_ref", false, &ref)) < 0 ||
	    (r = jfield_bool(j, "overdue_sent", &o->overdue_sent)) < 0 ||
	    (r = jfield_int(j, "payment_due_at", &o->payment_due_at)) < 0 ||
	    (r = jfield_int(j, "cancel_at", &o->cancel_at)) < 0)
		goto out;
	r = -EBADMSG;
	if (rate < 0 || rate > ORDER_VAT_MAX || strlen(ref) >= ORDER_PAYMENT_REF_MAX || !json_is_array(hist))
		goto out;
	o->vat_rate = (int32_t) rate;
	strcpy(o->payment_ref, ref);
	size_t n = json_array_size(hist);
	if (n && !(o->history = calloc(n, sizeof(*o->history)))) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *tj = json_array_get(hist, i);
		order_transition *t = &o->history[i];
		char *st = NULL;
		o->n_history = i + 1;
		if (!json_is_object(tj) || (r = jfield_int(tj, "at", &t->at)) < 0 ||
		    (r = jfield_str(tj, "by", true, &t->by)) < 0 || (r = jfield_str(tj, "reason", true, &t->reason)) < 0 ||
		    (r = jfield_str(tj, "status", false, &st)) < 0 || (r = order_status_parse(st, &t->status)) < 0) {
			free(st);
			if (r >= 0 || r == -EINVAL)
				r = -EBADMSG;
			goto out;
		}
		free(st);
	}
	r = 0;
out:
	free(ref);
	return r;
}

int order_from_record(json_t *j, sales_order **ret) {
	sales_order *o = calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	o->occurrence = UINT64_MAX;
	json_t *num = json_object_get(j, "number");
	json_t *ship = json_object_get(j, "ship_to");
	json_t *lines = json_object_get(j, "lines");
	json_t *occ = json_object_get(j, "occurrence");
	char *pay = NULL, *status = NULL;
	int64_t off, n_occ;
	int r = -EBADMSG;
	if (!json_is_string(num) || json_string_length(num) >= ORDER_NUMBER_MAX || !json_is_object(ship) ||
	    !json_is_array(lines))
		goto fail;
	strcpy(o->number, json_string_value(num));
	if (!json_is_null(occ)) {
		if ((r = jfield_int(j, "occurrence", &n_occ)) < 0)
			goto fail;
		r = -EBADMSG;
		if (n_occ < 0)
			goto fail;
		o->occurrence = (uint64_t) n_occ;
	}
	if ((r = jfield_str(j, "standing_order", true, &o->standing_order)) < 0 ||
	    (r = jfield_str(j, "customer", false, &o->customer)) < 0 ||
	    (r = jfield_str(j, "supplier", false, &o->supplier)) < 0 ||
	    (r = jfield_str(ship, "name", true, &o->ship_to.name)) < 0 ||
	    (r = jfield_str(ship, "street", true, &o->ship_to.street)) < 0 ||
	    (r = jfield_str(ship, "postcode", true, &o->ship_to.postcode)) < 0 ||
	    (r = jfield_str(ship, "city", true, &o->ship_to.city)) < 0 ||
	    (r = jfield_str(ship, "country", true, &o->ship_to.country)) < 0 ||
	    (r = jmoney(json_object_get(j, "total"), &o->total)) < 0 ||
	    (r = jfield_int(j, "delivery", &o->delivery)) < 0 ||
	    (r = jfield_int(j, "delivery_offset", &off)) < 0 ||
	    (r = jfield_str(j, "zone", true, &o->zone)) < 0 ||
	    (r = jfield_int(j, "created", &o->created)) < 0 ||
	    (r = jfield_str(j, "payment", false, &pay)) < 0 ||
	    (r = jfield_str(j, "status", false, &status)) < 0 ||
	    (r = jfield_bool(j, "late", &o->late)) < 0 ||
	    (r = jfield_str(j, "carrier", true, &o->carrier)) < 0 ||
	    (r = jfield_str(j, "tracking", true, &o->tracking)) < 0 ||
	    (r = jfield_int(j, "shipped", &o->shipped)) < 0 ||
	    (r = jfield_str(j, "placed_by", true, &o->placed_by)) < 0)
		goto fail;
	r = -EBADMSG;
	if (off < INT32_MIN || off > INT32_MAX)
		goto fail;
	o->delivery_offset = (int32_t) off;
	if (order_payment_parse(pay, &o->payment) < 0 || order_status_parse(status, &o->status) < 0)
		goto fail;
	size_t n = json_array_size(lines);
	if (n) {
		o->lines = calloc(n, sizeof(*o->lines));
		if (!o->lines) {
			r = -ENOMEM;
			goto fail;
		}
	}
	for (size_t i = 0; i < n; i++) {
		json_t *lj = json_array_get(lines, i);
		order_line *l = &o->lines[i];
		o->n_lines = i + 1;   /* so the free below sees every sku so far */
		if (!json_is_object(lj) || (r = jfield_str(lj, "sku", false, &l->sku)) < 0 ||
		    (r = jfield_int(lj, "quantity", &l->quantity)) < 0 ||
		    (r = jmoney(json_object_get(lj, "unit_price"), &l->unit_price)) < 0) {
			if (r >= 0)
				r = -EBADMSG;
			goto fail;
		}
	}
	if ((r = order_payment_from_record(j, o)) < 0)
		goto fail;
	free(pay);
	free(status);
	*ret = o;
	return 0;
fail:
	free(pay);
	free(status);
	order_free(o);
	return r;
}

/* ---- the view (wire and standingctl) ---- */

static json_t *order_view_base(const sales_order *o);

json_t *order_address_view(const order_address *a) {
	return json_pack("{s:s?, s:s?, s:o, s:s?, s:s?}", "name", a->name, "street", a->street,
			 "postcode", jfield_str_or_null(a->postcode), "city", a->city, "country", a->country);
}

json_t *order_lines_view(const order_line *lines, size_t n) {
	bool ok = true;
	json_t *a = json_array();
	for (size_t i = 0; i < n && a; i++) {
		char amount[32];
		money_format_amount(&lines[i].unit_price, amount, sizeof(amount));
		if (json_array_append_new(a, json_pack("{s:s, s:I, s:s, s:s}", "sku", lines[i].sku,
			"quantity", (json_int_t) lines[i].quantity, "unit_price", amount,
			"currency", lines[i].unit_price.currency)) < 0)
			ok = false;
	}
	return done(a, ok && a);
}

static json_t *money_view(const money *m) {
	char amount[32];
	money_format_amount(m, amount, sizeof(amount));
	return json_pack("{s:s, s:s}", "amount", amount, "currency", m->currency);
}

static json_t *instant_view(int64_t at) {
	char text[CAL_ISO_MAX];
	return at ? json_string(cal_format_utc(at, text)) : json_null();
}

json_t *order_to_view(const sales_order *o) {
	json_t *v = order_view_base(o);
	bool ok = v != NULL;
	char rate[16];
	order_vat_format(o->vat_rate, rate);
	json_t *hist = json_array();
	for (size_t i = 0; hist && i < o->n_history; i++) {
		const order_transition *t = &o->history[i];
		if (json_array_append_new(hist, json_pack("{s:o, s:o, s:s, s:o}", "at", instant_view(t->at),
			"by", jfield_str_or_null(t->by), "status", order_status_name(t->status),
			"reason", jfield_str_or_null(t->reason))) < 0)
			ok = false;
	}
	bool due = o->status == ORDER_STATUS_AWAITING_PAYMENT;
	if (v) {
		jfield_set(v, "net", money_view(o->net.currency[0] ? &o->net : &o->total), &ok);
		money zero = o->total;
		zero.minor = 0;
		jfield_set(v, "vat", money_view(o->vat.currency[0] ? &o->vat : &zero), &ok);
		jfield_set(v, "vat_rate", json_string(rate), &ok);
		jfield_set(v, "gross", money_view(&o->total), &ok);
		/* net per line (the "net per line"): quantity x unit_price */
		json_t *lines = json_object_get(v, "lines");
		for (size_t i = 0; i < o->n_lines && i < json_array_size(lines); i++) {
			money net = { 0, "" };
			char amount[32];
			if (order_total_add(&net, &o->lines[i]) == 0)
				jfield_set(json_array_get(lines, i), "net",
					   json_string(money_format_amount(&net, amount, sizeof(amount))), &ok);
		}
		jfield_set(v, "amount_due", due ? money_view(&o->total) : json_null(), &ok);
		jfield_set(v, "payment_reference", o->payment_ref[0] ? json_string(o->payment_ref) : json_null(), &ok);
		jfield_set(v, "paid", instant_view(o->paid_at), &ok);
		jfield_set(v, "history", hist, &ok);
		hist = NULL;
	}
	json_decref(hist);
	return done(v, ok);
}

static void money_write(jsonw *w, const char *key, const money *m) {
	char amount[32];
	money_format_amount(m, amount, sizeof(amount));
	jsonw_key(w, key);
	jsonw_obj_open(w);
	jsonw_kstr(w, "amount", amount);
	jsonw_kstr(w, "currency", m->currency);
	jsonw_obj_close(w);
}

static void instant_write(jsonw *w, const char *key, int64_t at) {
	char text[CAL_ISO_MAX];
	jsonw_kstr(w, key, at ? cal_format_utc(at, text) : NULL);
}

/* order_view_base and order_to_view's keys, in their order */
void order_view_write(jsonw *w, const sales_order *o) {
	char delivery[CAL_ISO_MAX], created[CAL_ISO_MAX], rate[16];
	jsonw_obj_open(w);
	jsonw_kstr(w, "order", o->number);
	jsonw_kstr(w, "standing_order", o->standing_order);
	jsonw_kstr(w, "customer", o->customer);
	jsonw_kstr(w, "supplier", o->supplier);
	jsonw_key(w, "ship_to");
	jsonw_obj_open(w);
	jsonw_kstr(w, "name", o->ship_to.name);
	jsonw_kstr(w, "street", o->ship_to.street);
	jsonw_kstr(w, "postcode", o->ship_to.postcode);
	jsonw_kstr(w, "city", o->ship_to.city);
	jsonw_kstr(w, "country", o->ship_to.country);
	jsonw_obj_close(w);
	jsonw_key(w, "lines");
	jsonw_arr_open(w);
	for (size_t i = 0; i < o->n_lines; i++) {
		char amount[32];
		money net = { 0, "" };
		money_format_amount(&o->lines[i].unit_price, amount, sizeof(amount));
		jsonw_obj_open(w);
		jsonw_kstr(w, "sku", o->lines[i].sku);
		jsonw_kint(w, "quantity", (int64_t) o->lines[i].quantity);
		jsonw_kstr(w, "unit_price", amount);
		jsonw_kstr(w, "currency", o->lines[i].unit_price.currency);
		if (order_total_add(&net, &o->lines[i]) == 0)
			jsonw_kstr(w, "net", money_format_amount(&net, amount, sizeof(amount)));
		jsonw_obj_close(w);
	}
	jsonw_arr_close(w);
	money_write(w, "total", &o->total);
	jsonw_kstr(w, "delivery", cal_format_instant(o->delivery, o->delivery_offset, delivery));
	jsonw_kstr(w, "created", cal_format_utc(o->created, created));
	jsonw_kstr(w, "payment", order_payment_name(o->payment));
	jsonw_kstr(w, "status", order_status_name(o->status));
	jsonw_key(w, "late");
	jsonw_bool(w, o->late);
	jsonw_kstr(w, "carrier", o->carrier);
	jsonw_kstr(w, "tracking", o->tracking);
	instant_write(w, "shipped", o->shipped);
	money_write(w, "net", o->net.currency[0] ? &o->net : &o->total);
	money zero = o->total;
	zero.minor = 0;
	money_write(w, "vat", o->vat.currency[0] ? &o->vat : &zero);
	order_vat_format(o->vat_rate, rate);
	jsonw_kstr(w, "vat_rate", rate);
	money_write(w, "gross", &o->total);
	if (o->status == ORDER_STATUS_AWAITING_PAYMENT)
		money_write(w, "amount_due", &o->total);
	else
		jsonw_kstr(w, "amount_due", NULL);
	jsonw_kstr(w, "payment_reference", o->payment_ref[0] ? o->payment_ref : NULL);
	instant_write(w, "paid", o->paid_at);
	jsonw_key(w, "history");
	jsonw_arr_open(w);
	for (size_t i = 0; i < o->n_history; i++) {
		const order_transition *t = &o->history[i];
		jsonw_obj_open(w);
		instant_write(w, "at", t->at);
		jsonw_kstr(w, "by", t->by);
		jsonw_kstr(w, "status", order_status_name(t->status));
		jsonw_kstr(w, "reason", t->reason);
		jsonw_obj_close(w);
	}
	jsonw_arr_close(w);
	jsonw_obj_close(w);
}

static json_t *order_view_base(const sales_order *o) {
	char delivery[CAL_ISO_MAX], created[CAL_ISO_MAX], shipped[CAL_ISO_MAX], amount[32];
	cal_format_instant(o->delivery, o->delivery_offset, delivery);
	cal_format_utc(o->created, created);
	money_format_amount(&o->total, amount, sizeof(amount));
	return json_pack("{s:s, s:o, s:s, s:s, s:o, s:o, s:{s:s, s:s}, s:s, s:s, s:s, s:s, s:b, s:o, s:o, s:o}",
		"order", o->number, "standing_order", jfield_str_or_null(o->standing_order),
		"customer", o->customer, "supplier", o->supplier,
		"ship_to", order_address_view(&o->ship_to), "lines", order_lines_view(o->lines, o->n_lines),
		"total", "amount", amount, "currency", o->total.currency,
		"delivery", delivery, "created", created,
		"payment", order_payment_name(o->payment),
		"status", order_status_name(o->status), "late", o->late,
		"carrier", jfield_str_or_null(o->carrier), "tracking", jfield_str_or_null(o->tracking),
		"shipped", o->shipped ? json_string(cal_format_utc(o->shipped, shipped)) : json_null());
}

/* ---- ownership ---- */

static int sdup(const char *s, char **ret, bool *ok) {
	*ret = s ? strdup(s) : NULL;
	if (s && !*ret)
		*ok = false;
	return 0;
}

int order_dup(const sales_order *o, sales_order **ret) {
	sales_order *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	bool ok = true;
	*d = *o;
	d->lines = NULL;
	d->n_lines = 0;
	sdup(o->standing_order, &d->standing_order, &ok);
	sdup(o->customer, &d->customer, &ok);
	sdup(o->supplier, &d->supplier, &ok);
	sdup(o->ship_to.name, &d->ship_to.name, &ok);
	sdup(o->ship_to.street, &d->ship_to.street, &ok);
	sdup(o->ship_to.postcode, &d->ship_to.postcode, &ok);
	sdup(o->ship_to.city, &d->ship_to.city, &ok);
	sdup(o->ship_to.country, &d->ship_to.country, &ok);
	sdup(o->zone, &d->zone, &ok);
	sdup(o->carrier, &d->carrier, &ok);
	sdup(o->tracking, &d->tracking, &ok);
	sdup(o->placed_by, &d->placed_by, &ok);
	sdup(o->paid_reference, &d->paid_reference, &ok);
	d->history = NULL;
	d->n_history = 0;
	if (o->n_history && !(d->history = calloc(o->n_history, sizeof(*d->history))))
		ok = false;
	for (size_t i = 0; d->history && i < o->n_history; i++) {
		d->history[i] = o->history[i];
		d->history[i].by = d->history[i].reason = NULL;
		d->n_history = i + 1;
		sdup(o->history[i].by, &d->history[i].by, &ok);
		sdup(o->history[i].reason, &d->history[i].reason, &ok);
	}
	if (o->n_lines) {
		d->lines = calloc(o->n_lines, sizeof(*d->lines));
		if (!d->lines)
			ok = false;
		for (size_t i = 0; d->lines && i < o->n_lines; i++) {
			d->lines[i] = o->lines[i];
			d->lines[i].sku = NULL;
			d->n_lines = i + 1;
			sdup(o->lines[i].sku, &d->lines[i].sku, &ok);
		}
	}
	if (!ok) {
		order_free(d);
		return -ENOMEM;
	}
	*ret = d;
	return 0;
}

void order_free(sales_order *o) {
	if (!o)
		return;
	free(o->standing_order);
	free(o->customer);
	free(o->supplier);
	free(o->ship_to.name);
	free(o->ship_to.street);
	free(o->ship_to.postcode);
	free(o->ship_to.city);
	free(o->ship_to.country);
	for (size_t i = 0; i < o->n_lines; i++)
		free(o->lines[i].sku);
	free(o->lines);
	free(o->zone);
	free(o->carrier);
	free(o->tracking);
	free(o->placed_by);
	free(o->paid_reference);
	order_transitions_clear(o);
	free(o);
}

/* ---- event payloads ---- */

json_t *order_event_created(const sales_order *o, const char *number) {
	bool ok = true;
	json_t *j = json_object();
	jfield_set(j, "order", json_string(number ? number : o->number), &ok);
	jfield_set(j, "standing_order", jfield_str_or_null(o->standing_order), &ok);
	jfield_set(j, "customer", json_string(o->customer), &ok);
	jfield_set(j, "supplier", json_string(o->supplier), &ok);
	jfield_set(j, "delivery", json_integer(o->delivery), &ok);
	jfield_set(j, "total", money_record(&o->total), &ok);
	return done(j, ok);
}

json_t *order_event_shipped(const sales_order *o) {
	bool ok = true;
	json_t *j = json_object();
	jfield_set(j, "order", json_string(o->number), &ok);
	jfield_set(j, "standing_order", jfield_str_or_null(o->standing_order), &ok);
	jfield_set(j, "supplier", json_string(o->supplier), &ok);
	jfield_set(j, "carrier", jfield_str_or_null(o->carrier), &ok);
	jfield_set(j, "tracking", jfield_str_or_null(o->tracking), &ok);
	jfield_set(j, "shipped", json_integer(o->shipped), &ok);
	return done(j, ok);
}

static json_t *order_event_base(const sales_order *o, bool *ok) {
	json_t *j = json_object();
	jfield_set(j, "order", json_string(o->number), ok);
	jfield_set(j, "customer", json_string(o->customer), ok);
	return j;
}

json_t *order_event_on_hold(const sales_order *o, money balance, money limit, const char *reason) {
	bool ok = true;
	json_t *j = order_event_base(o, &ok);
	jfield_set(j, "total", money_record(&o->total), &ok);
	jfield_set(j, "balance", money_record(&balance), &ok);
	jfield_set(j, "credit_limit", limit.currency[0] ? money_record(&limit) : json_null(), &ok);
	jfield_set(j, "reason", jfield_str_or_null(reason), &ok);
	return done(j, ok);
}

json_t *order_event_awaiting_payment(const sales_order *o, int64_t due) {
	bool ok = true;
	json_t *j = order_event_base(o, &ok);
	jfield_set(j, "amount_due", money_record(&o->total), &ok);
	jfield_set(j, "payment_reference", json_string(o->payment_ref), &ok);
	jfield_set(j, "due", json_integer(due), &ok);
	return done(j, ok);
}

json_t *order_event_confirmed(const sales_order *o, const char *by) {
	bool ok = true;
	json_t *j = order_event_base(o, &ok);
	jfield_set(j, "total", money_record(&o->total), &ok);
	jfield_set(j, "by", jfield_str_or_null(by), &ok);
	return done(j, ok);
}

json_t *order_event_cancelled(const sales_order *o, order_status before, const char *by, const char *reason,
			      const ledger_entry *entry) {
	bool ok = true;
	json_t *j = order_event_base(o, &ok);
	jfield_set(j, "status_before", json_string(order_status_name(before)), &ok);
	jfield_set(j, "reason", jfield_str_or_null(reason), &ok);
	jfield_set(j, "by", jfield_str_or_null(by), &ok);
	jfield_set(j, "credited", entry && entry->kind == LEDGER_CREDIT ? money_record(&entry->amount) : json_null(), &ok);
	jfield_set(j, "refunded", o->paid ? money_record(&o->total) : json_null(), &ok);
	return done(j, ok);
}

json_t *order_event_payment_overdue(const sales_order *o, int64_t due) {
	bool ok = true;
	json_t *j = order_event_base(o, &ok);
	jfield_set(j, "amount_due", money_record(&o->total), &ok);
	jfield_set(j, "payment_reference", json_string(o->payment_ref), &ok);
	jfield_set(j, "created", json_integer(o->created), &ok);
	jfield_set(j, "due", json_integer(due), &ok);
	return done(j, ok);
}

json_t *account_event_payment(const char *customer, const ledger_entry *e) {
	bool ok = true;
	json_t *j = json_object();
	jfield_set(j, "customer", json_string(customer), &ok);
	jfield_set(j, "amount", money_record(&e->amount), &ok);
	jfield_set(j, "reference", jfield_str_or_null(e->reference), &ok);
	jfield_set(j, "balance_after", money_record(&e->balance_after), &ok);
	return done(j, ok);
}

/* ---- ledger entries ---- */

json_t *ledger_entry_to_record(const ledger_entry *e) {
	bool ok = true;
	json_t *j = json_object();
	jfield_set(j, "seq", json_integer((json_int_t) e->seq), &ok);
	jfield_set(j, "kind", json_string(ledger_kind_name(e->kind)), &ok);
	jfield_set(j, "order", e->order[0] ? json_string(e->order) : json_null(), &ok);
	jfield_set(j, "amount", money_record(&e->amount), &ok);
	jfield_set(j, "at", json_integer(e->at), &ok);
	jfield_set(j, "balance_after", money_record(&e->balance_after), &ok);
	jfield_set(j, "reference", jfield_str_or_null(e->reference), &ok);
	jfield_set(j, "by", jfield_str_or_null(e->by), &ok);
	return done(j, ok);
}

int ledger_entry_from_record(json_t *j, ledger_entry *ret) {
	ledger_entry e = { 0 };
	char *kind = NULL, *order = NULL;
	int64_t seq;
	int r;
	if ((r = jfield_int(j, "seq", &seq)) < 0 || (r = jfield_str(j, "kind", false, &kind)) < 0 ||
	    (r = jfield_str(j, "order", true, &order)) < 0 ||
	    (r = jmoney(json_object_get(j, "amount"), &e.amount)) < 0 || (r = jfield_int(j, "at", &e.at)) < 0 ||
	    (r = jmoney(json_object_get(j, "balance_after"), &e.balance_after)) < 0 ||
	    (r = jfield_str(j, "reference", true, &e.reference)) < 0 || (r = jfield_str(j, "by", true, &e.by)) < 0)
		goto fail;
	r = -EBADMSG;
	if (seq < 1 || ledger_kind_parse(kind, &e.kind) < 0 || (order && strlen(order) >= ORDER_NUMBER_MAX))
		goto fail;
	e.seq = (uint64_t) seq;
	if (order)
		strcpy(e.order, order);
	free(kind);
	free(order);
	*ret = e;
	return 0;
fail:
	free(kind);
	free(order);
	ledger_entry_done(&e);
	return r;
}

json_t *ledger_entry_view(const ledger_entry *e) {
	return json_pack("{s:I, s:s, s:o, s:o, s:o, s:o, s:o, s:o}", "seq", (json_int_t) e->seq,
		"kind", ledger_kind_name(e->kind), "order", e->order[0] ? json_string(e->order) : json_null(),
		"amount", money_view(&e->amount), "at", instant_view(e->at),
		"balance_after", money_view(&e->balance_after), "reference", jfield_str_or_null(e->reference),
		"by", jfield_str_or_null(e->by));
}

void ledger_entry_done(ledger_entry *e) {
	if (!e)
		return;
	free(e->reference);
	free(e->by);
	e->reference = e->by = NULL;
}

int ledger_entry_copy(const ledger_entry *e, ledger_entry *ret) {
	*ret = *e;
	ret->reference = e->reference ? strdup(e->reference) : NULL;
	ret->by = e->by ? strdup(e->by) : NULL;
	if ((e->reference && !ret->reference) || (e->by && !ret->by)) {
		ledger_entry_done(ret);
		return -ENOMEM;
	}
	return 0;
}

json_t *account_summary_view(const account_summary *a) {
	bool ok = true;
	json_t *j = json_object();
	json_t *bal = json_array(), *open = json_array(), *ents = json_array();
	for (size_t i = 0; bal && i < a->n_balances; i++)
		if (json_array_append_new(bal, money_view(&a->balances[i])) < 0)
			ok = false;
	for (size_t i = 0; open && i < a->n_open_orders; i++)
		if (json_array_append_new(open, json_string(a->open_orders[i])) < 0)
			ok = false;
	for (size_t i = 0; ents && i < a->n_entries; i++)
		if (json_array_append_new(ents, ledger_entry_view(&a->entries[i])) < 0)
			ok = false;
	jfield_set(j, "customer", json_string(a->customer), &ok);
	jfield_set(j, "account", jfield_str_or_null(a->number), &ok);
	jfield_set(j, "credit_limit", a->credit_limit.currency[0] ? money_view(&a->credit_limit) : json_null(), &ok);
	jfield_set(j, "balances", bal, &ok);
	jfield_set(j, "open_orders", open, &ok);
	jfield_set(j, "entries", ents, &ok);
	return done(j, ok);
}

void account_summary_free(account_summary *a) {
	if (!a)
		return;
	free(a->customer);
	free(a->number);
	free(a->balances);
	free(a->open_orders);
	for (size_t i = 0; i < a->n_entries; i++)
		ledger_entry_done(&a->entries[i]);
	free(a->entries);
	free(a);
}

/* ---- order.created's payload as text (an event expanded from its compact record) ----
 * json_dumps(JSON_COMPACT) of order_event_created, byte for byte (jsonw writes
 * jansson's bytes), refused as json_string refuses a string (not UTF-8). */

static bool utf8_ok(const char *s);

int order_event_created_dump(const sales_order *o, const char *number, char **ret) {
	if (!number)
		number = o->number;
	if (!number || !o->customer || !o->supplier || !utf8_ok(number) || !utf8_ok(o->standing_order) ||
	    !utf8_ok(o->customer) || !utf8_ok(o->supplier) ||
	    !memchr(o->total.currency, 0, sizeof(o->total.currency)) || !utf8_ok(o->total.currency))
		return -EINVAL;
	jsonw w = { 0 };
	jsonw_obj_open(&w);
	jsonw_kstr(&w, "order", number);
	jsonw_kstr(&w, "standing_order", o->standing_order);
	jsonw_kstr(&w, "customer", o->customer);
	jsonw_kstr(&w, "supplier", o->supplier);
	jsonw_kint(&w, "delivery", o->delivery);
	jsonw_key(&w, "total");
	jsonw_obj_open(&w);
	jsonw_kint(&w, "minor", o->total.minor);
	jsonw_kstr(&w, "currency", o->total.currency);
	jsonw_obj_close(&w);
	jsonw_obj_close(&w);
	if (w.b.oom) {
		free(w.b.s);
		return -ENOMEM;
	}
	*ret = w.b.s;
	return 0;
}

/* ---- the compact record (issue 12; doc/store.md "Compact records") ---- */

/* Flags of the order's own part. */
enum {
	OB_LATE = 1, OB_CHARGED = 2, OB_PAID = 4, OB_OVERDUE_SENT = 8,
	OB_AMOUNTS = 16,       /* net, vat and total follow: not what the lines and the rate give */
	OB_REF_DERIVED = 32,   /* payment_ref is order_payment_ref(number) */
	OB_REF = 64,           /* payment_ref follows */
	OB_ALL = 127,
};
/* A transition's "by": 0 NULL, 1 ORDER_BY_DAEMON, else the length + 2 and the bytes. */
#define OB_BY_DAEMON 1

static bool utf8_ok(const char *s) {
	if (!s)
		return true;
	const unsigned char *p = (const unsigned char *) s;
	while (*p && *p < 0x80)   /* ASCII, the common case, without the decoder */
		p++;
	if (!*p)
		return true;
	size_t n = strlen((const char *) p);
	return text_utf8_prefix((const char *) p, n) == n;
}

static void bin_money(bytes_buf *b, const money *m) {
	bytes_sv(b, m->minor);
	bytes_str(b, m->currency);
}

static void bin_get_money(bytes_rd *r, money *m) {
	memset(m, 0, sizeof(*m));
	m->minor = bytes_get_sv(r);
	bytes_get_fixed(r, m->currency, sizeof(m->currency));
}

static bool money_same(const money *a, const money *b) {
	return a->minor == b->minor && !strcmp(a->currency, b->currency);
}

/* Whether o's net, vat and total are what order_amounts gives its lines and rate. */
static bool amounts_derived(const sales_order *o) {
	sales_order c = { .lines = o->lines, .n_lines = o->n_lines, .vat_rate = o->vat_rate };
	return order_amounts(&c) == 0 && money_same(&c.net, &o->net) && money_same(&c.vat, &o->vat) &&
	       money_same(&c.total, &o->total);
}

/* The part of an order its standing order's orders share (order_bin_encode). */
static void bin_shared(const sales_order *o, bytes_buf *shared) {
	bytes_ostr(shared, o->standing_order);
	bytes_str(shared, o->customer);
	bytes_str(shared, o->supplier);
	bytes_ostr(shared, o->ship_to.name);
	bytes_ostr(shared, o->ship_to.street);
	bytes_ostr(shared, o->ship_to.postcode);
	bytes_ostr(shared, o->ship_to.city);
	bytes_ostr(shared, o->ship_to.country);
	bytes_ostr(shared, o->zone);
	bytes_u8(shared, o->payment);
	bytes_uv(shared, (uint64_t) o->vat_rate);
	bytes_ostr(shared, o->placed_by);
	bytes_uv(shared, o->n_lines);
	for (size_t i = 0; i < o->n_lines; i++) {
		bytes_str(shared, o->lines[i].sku);
		bytes_sv(shared, o->lines[i].quantity);
		bin_money(shared, &o->lines[i].unit_price);
	}
}

int order_bin_encode(const sales_order *o, const char *number, bytes_buf *rec, bytes_buf *shared) {
	if (!number)
		number = o->number;
	if (!o->customer || !o->supplier || (o->n_lines && !o->lines) || !memchr(o->payment_ref, 0, ORDER_PAYMENT_REF_MAX))
		return -EINVAL;
	/* every string UTF-8, as the JSON records' (and money codes NUL-terminated) */
	const char *strs[] = { o->carrier, o->tracking, o->paid_reference, o->payment_ref, o->standing_order,
			       o->customer, o->supplier, o->ship_to.name, o->ship_to.street, o->ship_to.postcode,
			       o->ship_to.city, o->ship_to.country, o->zone, o->placed_by };
	size_t n_strs = shared ? sizeof(strs) / sizeof(strs[0]) : 4;   /* the shared part's from the fifth */
	for (size_t i = 0; i < n_strs; i++)
		if (!utf8_ok(strs[i]))
			return -EINVAL;
	const money *ms[] = { &o->net, &o->vat, &o->total };
	for (size_t i = 0; i < 3; i++)
		if (!memchr(ms[i]->currency, 0, sizeof(ms[i]->currency)) || !utf8_ok(ms[i]->currency))
			return -EINVAL;
	for (size_t i = 0; shared && i < o->n_lines; i++)
		if (!o->lines[i].sku || !utf8_ok(o->lines[i].sku) ||
		    !memchr(o->lines[i].unit_price.currency, 0, sizeof(o->lines[i].unit_price.currency)) ||
		    !utf8_ok(o->lines[i].unit_price.currency))
			return -EINVAL;
	for (size_t i = 0; i < o->n_history; i++)
		if (!utf8_ok(o->history[i].by) || !utf8_ok(o->history[i].reason) ||
		    (unsigned) o->history[i].status > ORDER_STATUS_CANCELLED)
			return -EINVAL;
	if ((unsigned) o->status > ORDER_STATUS_CANCELLED || (unsigned) o->payment > ORDER_PAYMENT_PREPAID ||
	    o->vat_rate < 0 || o->vat_rate > ORDER_VAT_MAX)
		return -EINVAL;

	/* The shared part (unless the caller has it). */
	if (shared)
		bin_shared(o, shared);
	/* Its own. Instants after delivery as differences from it (wrapping: exact
	 * for any value), which are small. */
	char ref[ORDER_PAYMENT_REF_MAX] = "";
	if (o->payment_ref[0])
		order_payment_ref(number, ref);
	unsigned flags = (o->late ? OB_LATE : 0) | (o->charged ? OB_CHARGED : 0) | (o->paid ? OB_PAID : 0) |
			 (o->overdue_sent ? OB_OVERDUE_SENT : 0) | (amounts_derived(o) ? 0 : OB_AMOUNTS) |
			 (!o->payment_ref[0] ? 0 : !strcmp(o->payment_ref, ref) ? OB_REF_DERIVED : OB_REF);
	uint64_t base = (uint64_t) o->delivery;
	bytes_u8(rec, flags);
	bytes_u8(rec, o->status);
	bytes_uv(rec, o->occurrence + 1);   /* UINT64_MAX (none) is 0 */
	bytes_sv(rec, o->delivery);
	bytes_sv(rec, o->delivery_offset);
	bytes_sv(rec, (int64_t) ((uint64_t) o->created - base));
	bytes_sv(rec, o->shipped);
	bytes_sv(rec, o->paid_at);
	bytes_sv(rec, o->payment_due_at);
	bytes_sv(rec, o->cancel_at);
	bytes_ostr(rec, o->carrier);
	bytes_ostr(rec, o->tracking);
	bytes_ostr(rec, o->paid_reference);
	if (flags & OB_REF)
		bytes_str(rec, o->payment_ref);
	if (flags & OB_AMOUNTS) {
		bin_money(rec, &o->net);
		bin_money(rec, &o->vat);
		bin_money(rec, &o->total);
	}
	bytes_uv(rec, o->n_history);
	for (size_t i = 0; i < o->n_history; i++) {
		const order_transition *t = &o->history[i];
		bytes_sv(rec, (int64_t) ((uint64_t) t->at - (uint64_t) o->created));
		if (!t->by)
			bytes_u8(rec, 0);
		else if (!strcmp(t->by, ORDER_BY_DAEMON))
			bytes_u8(rec, OB_BY_DAEMON);
		else {
			bytes_uv(rec, (uint64_t) strlen(t->by) + 2);
			bytes_put(rec, t->by, strlen(t->by));
		}
		bytes_u8(rec, t->status);
		bytes_ostr(rec, t->reason);
	}
	return rec->failed || (shared && shared->failed) ? -ENOMEM : 0;
}

int order_bin_decode(const char *number, const void *rec, size_t n, const void *shared, size_t n_shared,
		     sales_order **ret) {
	if (!number || strlen(number) >= ORDER_NUMBER_MAX)
		return -EINVAL;
	sales_order *o = calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	strcpy(o->number, number);
	bytes_rd s = bytes_reader(shared, n_shared), r = bytes_reader(rec, n);
	uint64_t v;
	bytes_get_ostr(&s, &o->standing_order);
	o->customer = bytes_get_str(&s);
	o->supplier = bytes_get_str(&s);
	bytes_get_ostr(&s, &o->ship_to.name);
	bytes_get_ostr(&s, &o->ship_to.street);
	bytes_get_ostr(&s, &o->ship_to.postcode);
	bytes_get_ostr(&s, &o->ship_to.city);
	bytes_get_ostr(&s, &o->ship_to.country);
	bytes_get_ostr(&s, &o->zone);
	o->payment = (order_payment) bytes_get_u8(&s);
	v = bytes_get_uv(&s);
	o->vat_rate = (int32_t) (v <= ORDER_VAT_MAX ? v : 0);
	if (v > ORDER_VAT_MAX || (unsigned) o->payment > ORDER_PAYMENT_PREPAID)
		s.bad = true;
	bytes_get_ostr(&s, &o->placed_by);
	v = bytes_get_uv(&s);
	o->lines = bytes_get_array(&s, v, 4, sizeof(*o->lines));   /* sku, quantity, price: 4 bytes at least */
	for (uint64_t i = 0; i < v && !s.bad; i++) {
		order_line *l = &o->lines[i];
		o->n_lines = (size_t) i + 1;
		l->sku = bytes_get_str(&s);
		l->quantity = bytes_get_sv(&s);
		bin_get_money(&s, &l->unit_price);
	}

	unsigned flags = bytes_get_u8(&r);
	o->status = (order_status) bytes_get_u8(&r);
	v = bytes_get_uv(&r);
	o->occurrence = v - 1;
	if (flags & ~(unsigned) OB_ALL || (unsigned) o->status > ORDER_STATUS_CANCELLED ||
	    (o->occurrence > INT64_MAX && v != 0) || (flags & OB_REF && flags & OB_REF_DERIVED))
		r.bad = true;
	o->late = flags & OB_LATE;
	o->charged = flags & OB_CHARGED;
	o->paid = flags & OB_PAID;
	o->overdue_sent = flags & OB_OVERDUE_SENT;
	o->delivery = bytes_get_sv(&r);
	int64_t off = bytes_get_sv(&r);
	if (off < INT32_MIN || off > INT32_MAX)
		r.bad = true;
	o->delivery_offset = (int32_t) off;
	o->created = (int64_t) ((uint64_t) o->delivery + (uint64_t) bytes_get_sv(&r));
	o->shipped = bytes_get_sv(&r);
	o->paid_at = bytes_get_sv(&r);
	o->payment_due_at = bytes_get_sv(&r);
	o->cancel_at = bytes_get_sv(&r);
	bytes_get_ostr(&r, &o->carrier);
	bytes_get_ostr(&r, &o->tracking);
	bytes_get_ostr(&r, &o->paid_reference);
	if (flags & OB_REF) {
		char ref[ORDER_PAYMENT_REF_MAX];
		order_payment_ref(number, ref);
		bytes_get_fixed(&r, o->payment_ref, sizeof(o->payment_ref));
		if (!o->payment_ref[0] || !strcmp(o->payment_ref, ref))
			r.bad = true;   /* "" and the derived one are said by the flags: one spelling */
	} else if (flags & OB_REF_DERIVED)
		order_payment_ref(number, o->payment_ref);
	if (flags & OB_AMOUNTS) {
		bin_get_money(&r, &o->net);
		bin_get_money(&r, &o->vat);
		bin_get_money(&r, &o->total);
	}
	v = bytes_get_uv(&r);
	o->history = bytes_get_array(&r, v, 4, sizeof(*o->history));   /* at, by, status, reason */
	for (uint64_t i = 0; i < v && !r.bad; i++) {
		order_transition *t = &o->history[i];
		o->n_history = (size_t) i + 1;
		t->at = (int64_t) ((uint64_t) o->created + (uint64_t) bytes_get_sv(&r));
		uint64_t by = bytes_get_uv(&r);
		if (by == OB_BY_DAEMON && !(t->by = strdup(ORDER_BY_DAEMON)))
			r.bad = r.nomem = true;
		else if (by > OB_BY_DAEMON && (t->by = bytes_get_n(&r, by - 2)) && !strcmp(t->by, ORDER_BY_DAEMON))
			r.bad = true;   /* said by its code: one spelling */
		t->status = (order_status) bytes_get_u8(&r);
		if ((unsigned) t->status > ORDER_STATUS_CANCELLED)
			r.bad = true;
		bytes_get_ostr(&r, &t->reason);
	}
	int err = s.nomem || r.nomem ? -ENOMEM : 0;
	if (!err && (!bytes_done(&s) || !bytes_done(&r)))
		err = -EBADMSG;
	/* derived amounts: what the lines and the rate give; stored ones are not that
	 * (one spelling per order) */
	if (!err && (flags & OB_AMOUNTS ? amounts_derived(o) : order_amounts(o) < 0))
		err = -EBADMSG;
	if (err) {
		order_free(o);
		return err;
	}
	*ret = o;
	return 0;
}

/* Ledger entry flags. */
enum {
	LB_ORDER_SEQ = 1,      /* the order as its sequence (a confirmation number that formats back) */
	LB_ORDER = 2,          /* the order as text */
	LB_BY_DAEMON = 4,      /* by ORDER_BY_DAEMON */
	LB_BALANCE_CUR = 8,    /* balance_after's currency follows (else amount's) */
	LB_ALL = 15,
};

int ledger_entry_bin_encode(const ledger_entry *e, bytes_buf *b) {
	if (!memchr(e->order, 0, sizeof(e->order)) || !memchr(e->amount.currency, 0, sizeof(e->amount.currency)) ||
	    !memchr(e->balance_after.currency, 0, sizeof(e->balance_after.currency)) || !utf8_ok(e->order) ||
	    !utf8_ok(e->amount.currency) || !utf8_ok(e->balance_after.currency) || !utf8_ok(e->reference) ||
	    !utf8_ok(e->by) || (unsigned) e->kind > LEDGER_REFUND)
		return -EINVAL;
	uint64_t seq = 0;
	bool by_seq = e->order[0] && order_number_seq(e->order, &seq) == 0;
	bool by_daemon = e->by && !strcmp(e->by, ORDER_BY_DAEMON);
	unsigned flags = (!e->order[0] ? 0 : by_seq ? LB_ORDER_SEQ : LB_ORDER) |
			 (by_daemon ? LB_BY_DAEMON : 0) |
			 (strcmp(e->amount.currency, e->balance_after.currency) ? LB_BALANCE_CUR : 0);
	bytes_u8(b, flags);
	bytes_u8(b, e->kind);
	if (flags & LB_ORDER_SEQ)
		bytes_uv(b, seq);
	else if (flags & LB_ORDER)
		bytes_str(b, e->order);
	bin_money(b, &e->amount);
	bytes_sv(b, e->at);
	bytes_sv(b, e->balance_after.minor);
	if (flags & LB_BALANCE_CUR)
		bytes_str(b, e->balance_after.currency);
	bytes_ostr(b, e->reference);
	if (!by_daemon)
		bytes_ostr(b, e->by);
	return b->failed ? -ENOMEM : 0;
}

int ledger_entry_bin_decode(const void *p, size_t n, uint64_t seq, ledger_entry *ret) {
	ledger_entry e = { .seq = seq };
	bytes_rd r = bytes_reader(p, n);
	unsigned flags = bytes_get_u8(&r);
	e.kind = (ledger_kind) bytes_get_u8(&r);
	if (flags & ~(unsigned) LB_ALL || (flags & LB_ORDER_SEQ && flags & LB_ORDER) ||
	    (unsigned) e.kind > LEDGER_REFUND || seq < 1)
		r.bad = true;
	if (flags & LB_ORDER_SEQ) {
		uint64_t o = bytes_get_uv(&r);
		if (o == 0 || o > ORDER_SEQ_MAX)
			r.bad = true;
		else
			order_number_format(o, e.order);
	} else if (flags & LB_ORDER) {
		uint64_t o;
		bytes_get_fixed(&r, e.order, sizeof(e.order));
		if (!e.order[0] || order_number_seq(e.order, &o) == 0)
			r.bad = true;   /* "" and a number of a sequence are said otherwise: one spelling */
	}
	bin_get_money(&r, &e.amount);
	e.at = bytes_get_sv(&r);
	e.balance_after = e.amount;
	e.balance_after.minor = bytes_get_sv(&r);
	if (flags & LB_BALANCE_CUR) {
		bytes_get_fixed(&r, e.balance_after.currency, sizeof(e.balance_after.currency));
		if (!strcmp(e.balance_after.currency, e.amount.currency))
			r.bad = true;
	}
	bytes_get_ostr(&r, &e.reference);
	if (flags & LB_BY_DAEMON) {
		if (!(e.by = strdup(ORDER_BY_DAEMON)))
			r.bad = r.nomem = true;
	} else if (bytes_get_ostr(&r, &e.by) && e.by && !strcmp(e.by, ORDER_BY_DAEMON))
		r.bad = true;
	if (!bytes_done(&r)) {
		ledger_entry_done(&e);
		return r.nomem ? -ENOMEM : -EBADMSG;
	}
	*ret = e;
	return 0;
}
