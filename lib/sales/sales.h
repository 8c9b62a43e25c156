/* sales: the only writer of orders, of their events (the outbox) and of skip
 * records. Each operation is one write transaction together with its events, or,
 * where the engine batches, one step inside the caller's write transaction (the
 * *_in functions: the caller commits, and advances the schedule watermark in the
 * same transaction). The payment, notification and CRM workflows add their
 * operations here (a payment captured, a notice queued, a task opened), so that
 * every change to an order and the event that announces it land together or not
 * at all. Orders are built from lib/model; the store only keeps them. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include "lib/defs/defs.h"
#include "lib/model/order.h"
#include "lib/store/store.h"
#include "lib/time/rule.h"

/* The order of one occurrence of so, inside the engine's batch transaction t:
 * its total (order_total), number, idempotency, due-index entry and order.created
 * event. *ret is the order as stored, its strings borrowed from so (valid while so
 * is). 0; -EEXIST when that occurrence already has an order (nothing written);
 * -ERANGE when its total does not compute (out of range; nothing written: the
 * engine records a skip instead); another negative
 * errno (t is then failed). */
int sales_create_occurrence_in(store_txn *t, const standing_order *so, const occurrence *occ, int64_t now,
			       bool late, sales_order *ret);

/* An occurrence deliberately not created (catch-up policy, paused, a total out of
 * range), recorded inside the engine's transaction t. 0 or a negative errno. */
int sales_skip_occurrence_in(store_txn *t, const char *so_id, int64_t delivery, int64_t at, const char *reason);

/* SkipOccurrence: records in its own transaction that (so_id, delivery) must not be
 * created, with reason. 0 (also when it was already skipped: the first record is
 * kept, it names who asked); -EEXIST when its order exists (ret_number set when
 * not NULL); another negative errno. */
int sales_skip_occurrence(store *s, const char *so_id, int64_t delivery, int64_t at, const char *reason,
			  char ret_number[ORDER_NUMBER_MAX]);

/* PlaceOrder: a one-time order (o->standing_order NULL, occurrence UINT64_MAX).
 * Sets o->total (order_total of its lines) and o->number, writes the order and its
 * order.created event in one transaction. 0; -EOVERFLOW/-EINVAL (total), -EINVAL
 * (a standing order's), or a store error (nothing written). */
int sales_place_order(store *s, sales_order *o);

typedef enum sales_ship_result {
	SALES_SHIPPED,            /* marked shipped now, order.shipped appended */
	SALES_ALREADY_SHIPPED,    /* shipped before with the same carrier and tracking: nothing written */
} sales_ship_result;

/* MarkShipped: the order number (any spelling order_number_parse accepts) is
 * shipped by carrier with tracking at now, with its order.shipped event, in one
 * transaction. supplier_id, when not NULL, must be the order's (else it is not found).
 * Retrying with the same carrier and tracking writes nothing again. 0 with
 * *ret_result and *ret (free with order_free()); -ENOENT (no such order);
 * -EACCES (another supplier's: *ret is set, nothing written); -ECANCELED
 * (cancelled: *ret is set); -EALREADY (shipped with another carrier or tracking: *ret is set,
 * so the caller can say with what); another negative errno. */
int sales_mark_shipped(store *s, const char *number, const char *supplier_id, const char *carrier,
		       const char *tracking, int64_t now, sales_ship_result *ret_result, sales_order **ret);
