/* order_view_write (jsonw) against order_to_view (jansson) dumped compact: the same
 * bytes for orders of every status and payment, 0 to 4 lines, every optional part
 * present or not, and strings with quotes, backslashes, control characters, '/',
 * DEL and non-ASCII UTF-8. One view, two writers: this keeps them one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>
#include "lib/base/jsonw.h"
#include "lib/model/order.h"

static uint64_t seed = 12345;

static unsigned pick(unsigned n) {
	seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
	return (unsigned) ((seed >> 33) % n);
}

static char *odd_string(bool may_be_null) {
	static const char *const v[] = {
		"plain", "", "quote \" and \\ backslash", "tab\there\nnewline\r\x01\x1f\x7f",
		"slash / and </script>", "Hyvää päivää – Tromsø ÆØÅ", "日本語 😀", "\b\f",
		"ACME Oy", "a\\u0000b",
	};
	unsigned k = pick(may_be_null ? 11 : 10);
	return k == 10 ? NULL : strdup(v[k]);
}

static money amount(void) {
	static const char *const cur[] = { "EUR", "NOK", "VND" };
	money m = { (int64_t) pick(10000000) - (pick(8) == 0 ? 5000000 : 0), "" };
	strcpy(m.currency, cur[pick(3)]);
	return m;
}

static sales_order *random_order(unsigned i) {
	sales_order *o = calloc(1, sizeof(*o));
	assert_non_null(o);
	snprintf(o->number, sizeof(o->number), "SO-%07u", i);
	o->standing_order = odd_string(true);
	o->customer = odd_string(false);
	o->supplier = odd_string(false);
	o->ship_to = (order_address) { odd_string(true), odd_string(true), odd_string(true), odd_string(true),
				       odd_string(true) };
	o->n_lines = pick(5);
	o->lines = calloc(o->n_lines ? o->n_lines : 1, sizeof(*o->lines));
	money price = amount();
	for (size_t k = 0; k < o->n_lines; k++) {
		o->lines[k].sku = odd_string(false);
		o->lines[k].quantity = 1 + pick(1000);
		o->lines[k].unit_price = pick(6) ? price : amount();   /* mixed currencies: no net of the order */
	}
	o->total = amount();
	if (pick(2))
		o->net = amount();
	if (pick(2))
		o->vat = amount();
	o->vat_rate = (int32_t) pick(4) * 8500;
	o->delivery = 1798761600 + (int64_t) pick(100000000);
	o->delivery_offset = ((int32_t) pick(29) - 12) * 1800;
	o->created = 1798761600 + (int64_t) pick(100000000);
	o->payment = (order_payment) pick(2);
	o->status = (order_status) pick(5);
	o->late = pick(2);
	o->carrier = odd_string(true);
	o->tracking = odd_string(true);
	o->shipped = pick(2) ? 1798761600 + (int64_t) pick(1000000) : 0;
	o->paid_at = pick(2) ? 1798761600 + (int64_t) pick(1000000) : 0;
	if (pick(2))
		snprintf(o->payment_ref, sizeof(o->payment_ref), "RF%u", 10 + pick(90));
	o->n_history = pick(4);
	o->history = calloc(o->n_history ? o->n_history : 1, sizeof(*o->history));
	for (size_t k = 0; k < o->n_history; k++)
		o->history[k] = (order_transition) { pick(3) ? 1798761600 + (int64_t) pick(1000000) : 0,
						     odd_string(true), (order_status) pick(5), odd_string(true) };
	return o;
}

static void test_same_bytes(void **state) {
	(void) state;
	unsigned statuses = 0, payments = 0, lines = 0;
	for (unsigned i = 0; i < 3000; i++) {
		sales_order *o = random_order(i);
		statuses |= 1u << o->status;
		payments |= 1u << o->payment;
		lines |= 1u << o->n_lines;
		json_t *v = order_to_view(o);
		assert_non_null(v);
		char *want = json_dumps(v, JSON_COMPACT);
		assert_non_null(want);
		jsonw w = { 0 };
		order_view_write(&w, o);
		assert_false(w.b.oom);
		if (strlen(want) != w.b.n || memcmp(want, w.b.s, w.b.n))
			fail_msg("order %u:\njansson %s\njsonw   %.*s", i, want, (int) w.b.n, w.b.s);
		free(w.b.s);
		free(want);
		json_decref(v);
		order_free(o);
	}
	assert_int_equal(statuses, 0x1f);
	assert_int_equal(payments, 0x3);
	assert_int_equal(lines, 0x1f);
}

/* Appended after other values (a list's items): the writer places the commas. */
static void test_in_a_list(void **state) {
	(void) state;
	jsonw w = { 0 };
	jsonw_arr_open(&w);
	json_t *a = json_array();
	for (unsigned i = 0; i < 3; i++) {
		sales_order *o = random_order(100 + i);
		order_view_write(&w, o);
		json_array_append_new(a, order_to_view(o));
		order_free(o);
	}
	jsonw_arr_close(&w);
	char *want = json_dumps(a, JSON_COMPACT);
	assert_int_equal(strlen(want), w.b.n);
	assert_memory_equal(want, w.b.s, w.b.n);
	free(want);
	free(w.b.s);
	json_decref(a);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_bytes),
		cmocka_unit_test(test_in_a_list),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
