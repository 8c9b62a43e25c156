/* order_assert: field-by-field equality of two orders, for the unit tests that
 * round-trip them (test_model's codec, test_store's records). Include after
 * <cmocka.h>. */
#pragma once
#include "lib/model/order.h"

static inline void assert_str_eq(const char *a, const char *b) {
	if (!a || !b)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

static inline void assert_order_eq(const sales_order *a, const sales_order *b) {
	assert_string_equal(a->number, b->number);
	assert_str_eq(a->standing_order, b->standing_order);
	assert_int_equal(a->occurrence, b->occurrence);
	assert_str_eq(a->customer, b->customer);
	assert_str_eq(a->supplier, b->supplier);
	assert_str_eq(a->ship_to.name, b->ship_to.name);
	assert_str_eq(a->ship_to.street, b->ship_to.street);
	assert_str_eq(a->ship_to.postcode, b->ship_to.postcode);
	assert_str_eq(a->ship_to.city, b->ship_to.city);
	assert_str_eq(a->ship_to.country, b->ship_to.country);
	assert_int_equal(a->n_lines, b->n_lines);
	for (size_t i = 0; i < a->n_lines; i++) {
		assert_string_equal(a->lines[i].sku, b->lines[i].sku);
		assert_int_equal(a->lines[i].quantity, b->lines[i].quantity);
		assert_int_equal(a->lines[i].unit_price.minor, b->lines[i].unit_price.minor);
		assert_string_equal(a->lines[i].unit_price.currency, b->lines[i].unit_price.currency);
	}
	assert_int_equal(a->total.minor, b->total.minor);
	assert_string_equal(a->total.currency, b->total.currency);
	assert_int_equal(a->delivery, b->delivery);
	assert_int_equal(a->delivery_offset, b->delivery_offset);
	assert_str_eq(a->zone, b->zone);
	assert_int_equal(a->created, b->created);
	assert_int_equal(a->payment, b->payment);
	assert_int_equal(a->status, b->status);
	assert_int_equal(a->late, b->late);
	assert_str_eq(a->carrier, b->carrier);
	assert_str_eq(a->tracking, b->tracking);
	assert_int_equal(a->shipped, b->shipped);
	assert_str_eq(a->placed_by, b->placed_by);
}
