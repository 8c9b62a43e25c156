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

typedef struct bytes_buf bytes_buf;   /* lib/base/bytes.h */

#define ORDER_NUMBER_MAX 16     /* "SO-00000042-7" + NUL fits */
/* Sequences past 8 digits widen the number ("SO-123456789-4"); ORDER_NUMBER_MAX
 * holds 10 digits, so no sequence past this is ever assigned. */
#define ORDER_SEQ_MAX UINT64_C(9999999999)

/* Event types (the outbox's "type"). */
#define ORDER_EVENT_CREATED "order.created"
#define ORDER_EVENT_SHIPPED "order.shipped"
#define ORDER_EVENT_ON_HOLD "order.on_hold"
#define ORDER_EVENT_AWAITING_PAYMENT "order.awaiting_payment"
#define ORDER_EVENT_CONFIRMED "order.confirmed"     /* released, or a prepaid order paid */
#define ORDER_EVENT_CANCELLED "order.cancelled"
#define ORDER_EVENT_PAYMENT_OVERDUE "order.payment_overdue"
#define ORDER_EVENT_ACCOUNT_PAYMENT "account.payment"  /* RecordAccountPayment */

/* Who did it when the daemon did (an occurrence created, an unpaid order cancelled). */
#define ORDER_BY_DAEMON "standingd"

typedef enum order_payment { ORDER_PAYMENT_ACCOUNT, ORDER_PAYMENT_PREPAID } order_payment;

/* The order's life: account orders start confirmed (charged) or on_hold (the
 * charge would pass the credit limit: nothing charged); prepaid ones start
 * awaiting_payment. Records written before issue 9 say "created": they are read
 * as confirmed (order_status_parse accepts "created" for that, never writes it). */
typedef enum order_status {
	ORDER_STATUS_AWAITING_PAYMENT, ORDER_STATUS_ON_HOLD, ORDER_STATUS_CONFIRMED, ORDER_STATUS_SHIPPED,
	ORDER_STATUS_CANCELLED,
} order_status;
/* The status the old records' "created" means (and code written before issue 9). */
#define ORDER_STATUS_CREATED ORDER_STATUS_CONFIRMED

/* One step of the order's life, recorded on the order, oldest first. */
typedef struct order_transition {
	int64_t at;                      /* instant */
	char *by;                        /* a user name, "shop:USER"/"ops:USER", or "standingd" */
	order_status status;             /* the status it went to */
	char *reason;                    /* may be NULL */
} order_transition;

/* VAT rate: thousandths of a percent ("25.5%" is 25500); 0: no VAT. At most 100%. */
#define ORDER_VAT_MAX 100000
#define ORDER_PAYMENT_REF_MAX 24         /* "RF" reference + NUL fits */

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
	money net;                       /* order_total() of the lines: net, before VAT */
	int32_t vat_rate;                /* thousandths of a percent, 0: none (the customer's `vat`) */
	money vat;                       /* order_vat(net, vat_rate) */
	money total;                     /* gross: net + vat; what is charged, paid, limited */
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
	/* Payment (issue 9). */
	bool charged;                    /* its total is charged to the account (a charge entry, no credit yet) */
	bool paid;                       /* prepaid: payment recorded */
	int64_t paid_at;                 /* instant, 0 when not paid */
	char *paid_reference;            /* the payer's reference, NULL when not paid */
	char payment_ref[ORDER_PAYMENT_REF_MAX]; /* prepaid: reference to pay with (order_payment_ref), "" otherwise */
	bool overdue_sent;               /* order.payment_overdue emitted */
	int64_t payment_due_at;          /* prepaid: instant it is overdue; 0 otherwise */
	int64_t cancel_at;               /* prepaid: instant it is cancelled unpaid; 0 otherwise */
	order_transition *history;       /* every transition, oldest first */
	size_t n_history;
} sales_order;

/* ---- the ledger: one per customer account, append-only ---- */
typedef enum ledger_kind {
	LEDGER_CHARGE,     /* +amount: an order's gross total charged */
	LEDGER_PAYMENT,    /* -amount: money received (account payment, or a prepaid order's) */
	LEDGER_CREDIT,     /* -amount: a charge taken back (a charged order cancelled) */
	LEDGER_REFUND,     /* +amount: money paid back (a paid prepaid order cancelled) */
} ledger_kind;
/* "charge" "payment" "credit" "refund", indexed by the enum, NULL-terminated. */
extern const char *const ledger_kind_names[];
const char *ledger_kind_name(ledger_kind k);                  /* "unknown" when out of range */
int ledger_kind_parse(const char *s, ledger_kind *ret);       /* 0, -EINVAL */
/* +1 for charge and refund (the customer owes more), -1 for payment and credit. */
int ledger_kind_sign(ledger_kind k);

/* The balance is what the customer owes in that currency (negative: a credit
 * balance). Prepaid orders post a charge and a payment together when paid, and a
 * credit and a refund when such an order is cancelled: they never move it. */
typedef struct ledger_entry {
	uint64_t seq;                    /* per customer, from 1, in append order */
	ledger_kind kind;
	char order[ORDER_NUMBER_MAX];    /* "" for an account payment */
	money amount;                    /* > 0 */
	int64_t at;                      /* instant */
	money balance_after;             /* the balance in amount's currency after this entry */
	char *reference;                 /* payments: the payer's reference; may be NULL */
	char *by;                        /* who caused it; may be NULL */
} ledger_entry;
json_t *ledger_entry_to_record(const ledger_entry *e);
int ledger_entry_from_record(json_t *j, ledger_entry *ret);  /* 0, -EBADMSG, -ENOMEM; free with ledger_entry_done */
/* The compact record (issue 12, doc/store.md): appended to b; seq is the key's
 * (not stored). Encode: 0, -EINVAL (a string that is not UTF-8, a bad kind), -ENOMEM.
 * Decode: exactly the bytes encode writes; 0, -EBADMSG, -ENOMEM. */
int ledger_entry_bin_encode(const ledger_entry *e, bytes_buf *b);
int ledger_entry_bin_decode(const void *p, size_t n, uint64_t seq, ledger_entry *ret);
json_t *ledger_entry_view(const ledger_entry *e);           /* amounts as decimal strings, at as text */
void ledger_entry_done(ledger_entry *e);                    /* frees the strings; accepts NULL */
/* *ret = *e with its own strings. 0, -ENOMEM (*ret then has none). */
int ledger_entry_copy(const ledger_entry *e, ledger_entry *ret);

/* One currency's balance of an account. */
typedef struct account_balance { money balance; } account_balance;

/* GetAccount: built by sales_account_read. */
typedef struct account_summary {
	char *customer;
	char *number;                    /* the account number, NULL when none */
	money credit_limit;              /* minor 0 and currency "" when none */
	money *balances;                 /* one per currency that has entries, by currency code */
	size_t n_balances;
	char (*open_orders)[ORDER_NUMBER_MAX];  /* on_hold and awaiting_payment, by number */
	size_t n_open_orders;
	ledger_entry *entries;           /* the last N, oldest first */
	size_t n_entries;
} account_summary;
json_t *account_summary_view(const account_summary *a);
void account_summary_free(account_summary *a);              /* accepts NULL */

/* ---- names: "account" "prepaid"; "awaiting_payment" "on_hold" "confirmed" "shipped" "cancelled" ---- */
/* Indexed by the enum, NULL-terminated (for "expected one of" messages). */
extern const char *const order_payment_names[];
extern const char *const order_status_names[];
const char *order_payment_name(order_payment p);    /* "unknown" when out of range */
int order_payment_parse(const char *s, order_payment *ret);   /* 0, -EINVAL */
const char *order_status_name(order_status s);      /* "unknown" when out of range */
int order_status_parse(const char *s, order_status *ret);     /* 0, -EINVAL */
/* A name table of this layer (NULL-terminated, indexed by the enum): the name of v
 * ("unknown" when out of range), and the value of a name (0, -EINVAL). */
const char *model_name_of(const char *const *names, unsigned v);
int model_name_parse(const char *const *names, const char *s, unsigned *ret);

/* ---- the total: the sum of quantity * unit_price in the first line's currency ---- */
/* Adds one line to *total (whose currency it sets when still empty). -EOVERFLOW when
 * the line or the sum leaves int64 (*total unchanged), -EINVAL for another currency. */
int order_total_add(money *total, const order_line *l);
/* The total of lines[0..n). 0, -EOVERFLOW, -EINVAL (n == 0, mixed currencies). */
int order_total(const order_line *lines, size_t n, money *ret);
/* VAT of an order: net * rate / 100000, rounded once per order, half away from
 * zero (0.5 minor units round to 1, -0.5 to -1). 0, -EOVERFLOW, -EINVAL (rate). */
int order_vat(money net, int32_t rate, money *ret);
/* Sets o->net, o->vat and o->total (gross) from its lines and o->vat_rate.
 * 0, -EOVERFLOW, -EINVAL (as order_total; the gross leaving int64). */
int order_amounts(sales_order *o);
/* Parses a `vat:` text: a decimal percentage "25.5%" (up to 3 decimals, "%" required,
 * 0..100). 0, -EINVAL. */
int order_vat_parse(const char *s, int32_t *ret);
/* "25.5%" from 25500; ret holds at least 16 bytes. */
void order_vat_format(int32_t rate, char ret[16]);
/* A prepaid order's payment reference, derived from its confirmation number:
 * the number's digits with an ISO 11649 "RF" check ("RF18" "000000427"). */
void order_payment_ref(const char *number, char ret[ORDER_PAYMENT_REF_MAX]);
/* Frees o's transitions (o->history NULL, n_history 0), leaving everything else:
 * for an order whose other strings are borrowed. */
void order_transitions_clear(sales_order *o);
/* Appends a transition (copies by and reason; sets o->status). 0, -ENOMEM. */
int order_transition_add(sales_order *o, int64_t at, const char *by, order_status st, const char *reason);

/* ---- confirmation numbers: "SO-" 8 digits "-" Damm check digit ---- */
/* ret is "" for a seq past ORDER_SEQ_MAX (never assigned). */
void order_number_format(uint64_t seq, char ret[ORDER_NUMBER_MAX]);
/* Normalises (strips dashes/space, upper-cases) and checks the digit. 0, -EINVAL. */
int order_number_parse(const char *s, uint64_t *ret_seq);
/* The sequence of a number spelled exactly as order_number_format spells it
 * ("SO-00000042-7"); -EINVAL for anything else, other spellings included. */
int order_number_seq(const char *s, uint64_t *ret_seq);

/* ---- the JSON codec ---- */
/* The stored record's fields (integers, lossless; the store adds its version key).
 * number is the one to write (o->number when NULL). NULL on a string that is not
 * UTF-8 or out of memory. */
json_t *order_to_record(const sales_order *o, const char *number);
/* The inverse; ignores keys it does not know. 0, -EBADMSG, -ENOMEM. */
int order_from_record(json_t *j, sales_order **ret);
/* The compact record (issue 12, doc/store.md "Compact records"): an order in two
 * parts, appended to shared and rec. shared is what the orders of one standing
 * order have in common (standing order, customer, supplier, ship_to, zone,
 * payment, VAT rate, placed_by, lines: the store keeps each such part once); rec
 * the rest. Neither holds the number (the store's key), nor net, VAT and total
 * when they are what order_amounts gives the lines and the rate, nor a prepaid
 * order's payment reference when it is order_payment_ref(number). number is the
 * one the order is stored under (o->number when NULL). shared NULL: rec only, and
 * the shared part's strings are not checked (the caller has that part from an
 * order with the very same ones). 0, -EINVAL (a string that is not UTF-8, a value
 * out of range), -ENOMEM. */
int order_bin_encode(const sales_order *o, const char *number, bytes_buf *rec, bytes_buf *shared);
/* The inverse: the same struct order_from_record gives for the same order. Every
 * byte must be taken: trailing bytes, a truncated field, a varint spelled longer
 * than needed, a string that is not UTF-8 or holds a NUL, an enum out of range,
 * derived amounts that do not compute, anything spelled otherwise than encode
 * spells it (so encode(decode(x)) is x, byte for byte): -EBADMSG. 0, -EINVAL,
 * -ENOMEM. */
int order_bin_decode(const char *number, const void *rec, size_t n, const void *shared, size_t n_shared,
		     sales_order **ret);
/* The view: the wire's Order type (io.standingd.*), which standingctl prints the
 * same way offline: dates as text, amounts as decimal strings. NULL on failure. */
json_t *order_to_view(const sales_order *o);
/* The same view written with jsonw (ListOrders' items): the bytes json_dumps
 * (JSON_COMPACT) gives of order_to_view(o), which test_order_view checks for orders
 * of every status, payment, line count and odd strings. */
struct jsonw;
void order_view_write(struct jsonw *w, const sales_order *o);
json_t *order_address_view(const order_address *a);
json_t *order_lines_view(const order_line *lines, size_t n);
/* A deep copy (owned strings). 0, -ENOMEM. */
int order_dup(const sales_order *o, sales_order **ret);
void order_free(sales_order *o);     /* accepts NULL */

/* ---- event payloads (the outbox's "payload" object) ---- */
/* order.created: order, standing_order, customer, supplier, delivery, total. */
json_t *order_event_created(const sales_order *o, const char *number);
/* Its text, written directly (json_dumps(JSON_COMPACT) of it, byte for byte: the
 * store expands a compact event with it). 0, -EINVAL (a string that is not UTF-8),
 * -ENOMEM. */
int order_event_created_dump(const sales_order *o, const char *number, char **ret);
/* order.shipped: order, carrier, tracking, shipped. */
json_t *order_event_shipped(const sales_order *o);
/* order.on_hold: order, customer, total, balance, credit_limit, reason. */
json_t *order_event_on_hold(const sales_order *o, money balance, money limit, const char *reason);
/* order.awaiting_payment: order, customer, amount_due, payment_reference, due (instant). */
json_t *order_event_awaiting_payment(const sales_order *o, int64_t due);
/* order.confirmed: order, customer, total, by. */
json_t *order_event_confirmed(const sales_order *o, const char *by);
/* order.cancelled: order, customer, status_before, reason, by, credited/refunded amount (or null). */
json_t *order_event_cancelled(const sales_order *o, order_status before, const char *by, const char *reason,
			      const ledger_entry *entry);
/* order.payment_overdue: order, customer, amount_due, payment_reference, created, due. */
json_t *order_event_payment_overdue(const sales_order *o, int64_t due);
/* account.payment: customer, amount, reference, balance_after. */
json_t *account_event_payment(const char *customer, const ledger_entry *e);
