/* order: the sales order as the rest of the program sees it: its lines, ship_to
 * address, payment kind and status (each name spelled here once), its total
 * (computed only by order_total), its confirmation number (SO-NNNNNNNN-C with a
 * Damm check digit), its one JSON codec (the stored record and the view the wire
 * and standingctl print), and the payloads of its events. Plain data, no I/O;
 * instants are Unix seconds. Uses base and time only. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "lib/base/money.h"

#define ORDER_NUMBER_MAX 16     /* "SO-00000042-7" + NUL fits */
/* Sequences past 8 digits widen the number ("SO-123456789-4"); ORDER_NUMBER_MAX
 * holds 10 digits, so no sequence past this is ever assigned. */
#define ORDER_SEQ_MAX UINT64_C(9999999999)

/* Event types (the outbox's "type"). */
#define ORDER_EVENT_CREATED "order.created"
#define ORDER_EVENT_SHIPPED "order.shipped"

typedef enum order_payment { ORDER_PAYMENT_ACCOUNT, ORDER_PAYMENT_PREPAID } order_payment;

typedef enum order_status {
	ORDER_STATUS_CREATED, ORDER_STATUS_ON_HOLD, ORDER_STATUS_SHIPPED, ORDER_STATUS_CANCELLED,
} order_status;

/* postcode may be NULL; country is ISO 3166-1 alpha-2 ("FI"). */
typedef struct order_address { char *name, *street, *postcode, *city, *country; } order_address;

typedef struct order_line {
	char *sku;
	int64_t quantity;         /* >= 1 */
	money unit_price;
} order_line;

typedef struct sales_order {
	char number[ORDER_NUMBER_MAX];   /* confirmation number, assigned when it is stored */
	char *standing_order;            /* NULL for one-time orders */
	uint64_t occurrence;             /* occurrence index n (standing orders); UINT64_MAX: none */
	char *customer, *supplier;
	order_address ship_to;
	order_line *lines;
	size_t n_lines;
	money total;                     /* order_total() of the lines */
	int64_t delivery;                /* instant */
	int32_t delivery_offset;         /* UTC offset at delivery in its zone, for display */
	char *zone;                      /* IANA name of the delivery's zone */
	int64_t created;                 /* instant the order was created (daemon clock) */
	order_payment payment;
	order_status status;
	bool late;                       /* created after its create_at (catch-up) */
	char *carrier, *tracking;        /* set when shipped */
	int64_t shipped;                 /* instant, 0 when not shipped */
	char *placed_by;                 /* one-time orders: "shop:USER" or "ops:USER"; NULL otherwise */
} sales_order;

/* ---- names: "account" "prepaid"; "created" "on_hold" "shipped" "cancelled" ---- */
/* Indexed by the enum, NULL-terminated (for "expected one of" messages). */
extern const char *const order_payment_names[];
extern const char *const order_status_names[];
const char *order_payment_name(order_payment p);    /* "unknown" when out of range */
int order_payment_parse(const char *s, order_payment *ret);   /* 0, -EINVAL */
const char *order_status_name(order_status s);      /* "unknown" when out of range */
int order_status_parse(const char *s, order_status *ret);     /* 0, -EINVAL */

/* ---- the total: the sum of quantity * unit_price in the first line's currency ---- */
/* Adds one line to *total (whose currency it sets when still empty). -EOVERFLOW when
 * the line or the sum leaves int64 (*total unchanged), -EINVAL for another currency. */
int order_total_add(money *total, const order_line *l);
/* The total of lines[0..n). 0, -EOVERFLOW, -EINVAL (n == 0, mixed currencies). */
int order_total(const order_line *lines, size_t n, money *ret);

/* ---- confirmation numbers: "SO-" 8 digits "-" Damm check digit ---- */
/* ret is "" for a seq past ORDER_SEQ_MAX (never assigned). */
void order_number_format(uint64_t seq, char ret[ORDER_NUMBER_MAX]);
/* Normalises (strips dashes/space, upper-cases) and checks the digit. 0, -EINVAL. */
int order_number_parse(const char *s, uint64_t *ret_seq);

/* ---- the JSON codec ---- */
/* The stored record's fields (integers, lossless; the store adds its version key).
 * number is the one to write (o->number when NULL). NULL on a string that is not
 * UTF-8 or out of memory. */
json_t *order_to_record(const sales_order *o, const char *number);
/* The inverse; ignores keys it does not know. 0, -EBADMSG, -ENOMEM. */
int order_from_record(json_t *j, sales_order **ret);
/* The view: the wire's Order type (io.standingd.*), which standingctl prints the
 * same way offline: dates as text, amounts as decimal strings. NULL on failure. */
json_t *order_to_view(const sales_order *o);
json_t *order_address_view(const order_address *a);
json_t *order_lines_view(const order_line *lines, size_t n);
/* A deep copy (owned strings). 0, -ENOMEM. */
int order_dup(const sales_order *o, sales_order **ret);
void order_free(sales_order *o);     /* accepts NULL */

/* ---- event payloads (the outbox's "payload" object) ---- */
/* order.created: order, standing_order, customer, supplier, delivery, total. */
json_t *order_event_created(const sales_order *o, const char *number);
/* order.shipped: order, carrier, tracking, shipped. */
json_t *order_event_shipped(const sales_order *o);
