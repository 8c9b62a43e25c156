/* put_order STATE_DIR JSON: writes one one-time order into a store as it is,
 * without the socket's validation, as an order from before the text rule would
 * be. For tests of how old state is shown (standingctl escapes it). JSON:
 * {"customer","supplier","ship_to":{name,street,postcode,city,country},
 *  "lines":[{"sku","quantity","minor","currency"}],"delivery":UNIX,"offset":SECONDS,"zone",
 *  "carrier","tracking"}. Prints the order number. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "lib/store/store.h"

static char *str(json_t *o, const char *k) {
	return (char *) json_string_value(json_object_get(o, k));
}

int main(int argc, char **argv) {
	if (argc != 3) {
		fprintf(stderr, "usage: put_order STATE_DIR JSON\n");
		return 2;
	}
	json_error_t err;
	json_t *j = json_loads(argv[2], 0, &err);
	if (!j) {
		fprintf(stderr, "put_order: %s\n", err.text);
		return 2;
	}
	json_t *a = json_object_get(j, "ship_to"), *lines = json_object_get(j, "lines");
	size_t n = json_array_size(lines);
	order_line *ol = calloc(n ? n : 1, sizeof(*ol));
	sales_order o = {
		.customer = str(j, "customer"), .supplier = str(j, "supplier"),
		.ship_to = { str(a, "name"), str(a, "street"), str(a, "postcode"), str(a, "city"), str(a, "country") },
		.lines = ol, .n_lines = n, .delivery = json_integer_value(json_object_get(j, "delivery")),
		.delivery_offset = (int32_t) json_integer_value(json_object_get(j, "offset")),
		.zone = str(j, "zone"), .created = json_integer_value(json_object_get(j, "delivery")) - 86400,
		.payment = ORDER_PAYMENT_ACCOUNT, .status = ORDER_STATUS_CREATED, .occurrence = UINT64_MAX,
		.carrier = str(j, "carrier"), .tracking = str(j, "tracking"), .placed_by = str(j, "placed_by"),
	};
	if (o.carrier) {
		o.status = ORDER_STATUS_SHIPPED;
		o.shipped = o.created + 3600;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *l = json_array_get(lines, i);
		ol[i].sku = str(l, "sku");
		ol[i].quantity = json_integer_value(json_object_get(l, "quantity"));
		ol[i].unit_price.minor = json_integer_value(json_object_get(l, "minor"));
		snprintf(ol[i].unit_price.currency, sizeof(ol[i].unit_price.currency), "%s", str(l, "currency"));
	}
	order_total(ol, n, &o.total);   /* planted as given: a total that does not compute stays 0 */
	store *s;
	store_txn *t = NULL;
	int r = store_open(argv[1], 0, &s);   /* 0: default options (flags or a NULL options pointer) */
	if (r == 0 && (r = store_begin(s, true, &t)) == 0 && (r = store_order_create(t, &o)) == 0)
		r = store_commit(t);
	else if (t)
		store_abort(t);
	if (r < 0) {
		fprintf(stderr, "put_order: %s\n", strerror(-r));
		return 1;
	}
	printf("%s\n", o.number);
	store_close(s);
	free(ol);
	json_decref(j);
	return 0;
}
