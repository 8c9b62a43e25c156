#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lib/base/jfield.h"
#include "lib/model/order.h"
#include "lib/time/cal.h"

/* ---- names ---- */

const char *const order_payment_names[] = {
	[ORDER_PAYMENT_ACCOUNT] = "account",
	[ORDER_PAYMENT_PREPAID] = "prepaid",
	NULL,
};

const char *const order_status_names[] = {
	[ORDER_STATUS_CREATED] = "created",
	[ORDER_STATUS_ON_HOLD] = "on_hold",
	[ORDER_STATUS_SHIPPED] = "shipped",
	[ORDER_STATUS_CANCELLED] = "cancelled",
	NULL,
};

static const char *name_of(const char *const *names, unsigned v) {
	for (unsigned i = 0; names[i]; i++)
		if (i == v)
			return names[i];
	return "unknown";
}

static int name_parse(const char *const *names, const char *s, unsigned *ret) {
	for (unsigned i = 0; s && names[i]; i++)
		if (!strcmp(s, names[i])) {
			*ret = i;
			return 0;
		}
	return -EINVAL;
}

const char *order_payment_name(order_payment p) {
	return name_of(order_payment_names, (unsigned) p);
}

int order_payment_parse(const char *s, order_payment *ret) {
	unsigned v;
	int r = name_parse(order_payment_names, s, &v);
	if (r == 0)
		*ret = (order_payment) v;
	return r;
}

const char *order_status_name(order_status s) {
	return name_of(order_status_names, (unsigned) s);
}

int order_status_parse(const char *s, order_status *ret) {
	unsigned v;
	int r = name_parse(order_status_names, s, &v);
	if (r == 0)
		*ret = (order_status) v;
	return r;
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
	int n = snprintf(d, sizeof(d), "%08" PRIu64, seq);
	snprintf(ret, ORDER_NUMBER_MAX, "SO-%s-%c", d, (char) ('0' + damm(d, (size_t) n)));
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
	return done(j, ok);
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

json_t *order_to_view(const sales_order *o) {
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
