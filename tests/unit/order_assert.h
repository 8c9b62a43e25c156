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

/* A ship_to address and order lines (an order's, a standing order's). */
static inline void assert_address_eq(const order_address *a, const order_address *b) {
	assert_str_eq(a->name, b->name);
	assert_str_eq(a->street, b->street);
	assert_str_eq(a->postcode, b->postcode);
	assert_str_eq(a->city, b->city);
	assert_str_eq(a->country, b->country);
}

static inline void assert_lines_eq(const order_line *a, size_t na, const order_line *b, size_t nb) {
	assert_int_equal(na, nb);
	for (size_t i = 0; i < na; i++) {
		assert_string_equal(a[i].sku, b[i].sku);
		assert_int_equal(a[i].quantity, b[i].quantity);
		assert_int_equal(a[i].unit_price.minor, b[i].unit_price.minor);
		assert_string_equal(a[i].unit_price.currency, b[i].unit_price.currency);
	}
}

static inline void assert_order_eq(const sales_order *a, const sales_order *b) {
	assert_string_equal(a->number, b->number);
	assert_str_eq(a->standing_order, b->standing_order);
	assert_int_equal(a->occurrence, b->occurrence);
	assert_str_eq(a->customer, b->customer);
	assert_str_eq(a->supplier, b->supplier);
	assert_address_eq(&a->ship_to, &b->ship_to);
	assert_lines_eq(a->lines, a->n_lines, b->lines, b->n_lines);
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
