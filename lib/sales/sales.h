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

/* The full standing order of so (a member of the running set) for the order
 * makers, the CRM and the list writers: so itself when its bulk is resident,
 * else so with its bulk read from its file's compiled record in t
 * (store_cset_order; the strings in *scratch, valid until the caller resets or
 * frees it). 0; -EBADMSG when the record is missing, of another version or
 * damaged at so (the caller says so: engine_last_error, the lists' errno 74);
 * -ENOMEM. */
int sales_so_full(store_txn *t, const standing_order *so, struct defs_arena **scratch, standing_order *ret);

/* The order of one occurrence of so, inside the engine's batch transaction t:
 * its total (order_total), number, idempotency, due-index entry and order.created
 * event. so is a full standing order (sales_so_full). *ret is the order as stored,
 * its strings borrowed from so (valid while so's strings are). 0; -EEXIST when that occurrence already has an order (nothing written);
 * -ERANGE when its total does not compute (out of range; nothing written: the
 * engine records a skip instead); another negative
 * errno (t is then failed). */
int sales_create_occurrence_in(store_txn *t, const defs *d, const standing_order *so, const occurrence *occ, int64_t now,
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

typedef enum sales_ship_result {
	SALES_SHIPPED,            /* marked shipped now, order.shipped appended */
	SALES_ALREADY_SHIPPED,    /* shipped before with the same carrier and tracking: nothing written */
} sales_ship_result;

/* MarkShipped: the order number (any spelling order_number_parse accepts) is
 * shipped by carrier with tracking at now, with its order.shipped event, in one
 * transaction. supplier_id, when not NULL, must be the order's (else it is not found).
 * by is who shipped it for the order's history ("supplier:USER", "ops:USER").
 * Retrying with the same carrier and tracking writes nothing again. 0 with
 * *ret_result and *ret (free with order_free()); -ENOENT (no such order);
 * -EACCES (another supplier's: *ret is set, nothing written); -ECANCELED
 * (cancelled: *ret is set); -EALREADY (shipped with another carrier or tracking: *ret is set,
 * so the caller can say with what); another negative errno. */
int sales_mark_shipped(store *s, const defs *d, const char *number, const char *supplier_id, const char *carrier,
		       const char *tracking, int64_t now, const char *by, sales_ship_result *ret_result,
		       sales_order **ret);

/* The CRM's steps (issue 11, lib/sales/crm.h) ride in these transactions: d is the
 * running definitions (the assignee and its language); NULL makes no task.
 * sales_create_occurrence_in, sales_place and sales_hold: an order going on_hold
 * gets its on_hold task (crm_on_hold_in); sales_mark_shipped's first shipping its
 * after_shipped taskq entries (crm_after_shipped_in, not the idempotent retry);
 * sales_payment_due_run's overdue orders their payment_overdue task;
 * sales_skip_occurrence cancels the occurrence's open `before` tasks. */

/* ---- payments and the order's life (issue 9) ----
 * Every operation below is one write transaction holding the order's change, its
 * transition record (at, by, status, reason), its ledger entries and its outbox
 * events, and, when idem is not NULL, the idempotency record: all or nothing.
 * Creation (sales_create_occurrence_in, sales_place): payment account -> the gross
 * total is charged (a charge entry) and the order is confirmed, unless the
 * customer's balance in that currency plus the total would pass credit_limit:
 * then on_hold with the reason, nothing charged, order.on_hold. payment prepaid ->
 * awaiting_payment, order.awaiting_payment with the amount due and o->payment_ref,
 * o->payment_due_at and o->cancel_at set from the customer (defs resolves its
 * overrides and the config's defaults) and a payment index entry. Every order
 * also gets order.created as before. */

#define SALES_PAYMENT_DUE_DEFAULT (3 * 86400)
#define SALES_CANCEL_UNPAID_DEFAULT (14 * 86400)

/* An idempotency key to store with the effect (NULL: none). The caller (the API)
 * looks the key up first (store_idem_get) and answers the stored reply itself; the
 * operation only writes it, with store_idem_put, in its own transaction. When the
 * key is stored already the operation fails with -EEXIST and writes nothing. */
typedef struct sales_idem {
	const char *key;              /* up to 200 bytes */
	const char *user;             /* the caller's user */
	const char *params_hash;      /* a hash of the request's parameters */
	const char *reply;            /* the reply text to store; NULL: reply_for builds it */
	/* Builds the reply from the result inside the transaction: o is the order as
	 * written (NULL for an account payment), e the ledger entry written (or NULL).
	 * malloc'd text, NULL when out of memory (the operation fails with -ENOMEM). */
	char *(*reply_for)(const sales_order *o, const ledger_entry *e, void *ud);
	void *ud;
	int64_t at;                   /* instant stored with the key */
} sales_idem;

/* What a refused operation carries so that the caller can say why. */
typedef struct sales_refusal {
	money balance;                /* -EDQUOT: the account's balance in the order's currency */
	money limit;                  /* -EDQUOT: its credit limit */
	money total;                  /* -EDQUOT: the order's gross total; -EBADE: the amount due */
	order_status status;          /* -EPERM: the order's status */
} sales_refusal;

/* PlaceOrder: a one-time order of customer cu (o->standing_order NULL), created at
 * o->created by `by` ("shop:USER"/"ops:USER"). Sets o->vat_rate (cu's), net, vat,
 * total, number, status, history. o->history is malloc'd: free it with
 * order_transitions_clear (on failure it is cleared here). 0; -EOVERFLOW/-EINVAL
 * (total); -EXDEV (an account order in another currency than cu's credit limit);
 * -EEXIST (idem key stored); a store error; nothing written on failure. */
int sales_place(store *s, const defs *d, const customer *cu, sales_order *o, const char *by, const sales_idem *idem);

/* ReleaseOrder: an on_hold account order re-checks the limit: charges (a charge
 * entry), confirms, order.confirmed. 0 with *ret (order_free); -ENOENT; -EDQUOT
 * (still past the limit: ret_why's balance, limit and total, nothing written);
 * -EPERM (not on_hold: ret_why->status); -EEXIST (idem); a store error. */
int sales_release(store *s, const customer *cu, const char *number, int64_t now, const char *by,
		  const sales_idem *idem, sales_order **ret, sales_refusal *ret_why);
/* HoldOrder (ops): a confirmed account order goes on_hold; its charge is credited
 * back (a credit entry: an on_hold order is never charged; release charges again).
 * order.on_hold. 0 with *ret; -ENOENT; -EPERM (not a confirmed account order:
 * ret_why->status); -EEXIST (idem); a store error. */
int sales_hold(store *s, const defs *d, const char *number, int64_t now, const char *by, const char *reason,
	       const sales_idem *idem, sales_order **ret, sales_refusal *ret_why);
/* RecordPayment on a prepaid order awaiting payment: amount must equal its gross
 * total exactly. Writes a charge and a payment entry (the balance does not move),
 * paid, paid_at, paid_reference, confirmed, order.confirmed; removes its payment
 * index entry. 0 with *ret; -ENOENT; -EBADE (another amount or currency:
 * ret_why->total is what is due, nothing written); -EPERM (not awaiting_payment:
 * ret_why->status); -EEXIST (idem); a store error. */
int sales_record_payment(store *s, const char *number, money amount, const char *reference, int64_t now,
			 const char *by, const sales_idem *idem, sales_order **ret, sales_refusal *ret_why);
/* RecordAccountPayment: a payment entry of amount (> 0) on cu's account, lowering
 * its balance in that currency (an overpayment leaves a credit balance); event
 * account.payment. 0 with *ret_entry (ledger_entry_done); -EINVAL (amount <= 0, a
 * customer without an account); -EEXIST (idem); a store error. */
int sales_record_account_payment(store *s, const customer *cu, money amount, const char *reference, int64_t now,
				 const char *by, const sales_idem *idem, ledger_entry *ret_entry);
/* CancelOrder: any order not shipped nor cancelled. A charged one gets a credit
 * entry, a paid prepaid one a credit and a refund entry; its payment index entry
 * goes; order.cancelled. 0 with *ret; -ENOENT; -EPERM (shipped or cancelled:
 * ret_why->status); -EEXIST (idem); a store error. */
int sales_cancel(store *s, const char *number, int64_t now, const char *by, const char *reason,
		 const sales_idem *idem, sales_order **ret, sales_refusal *ret_why);
/* (sales_mark_shipped above refuses an order that is not confirmed with -ENOTCONN,
 * *ret set so the caller can name its status.) */

/* The overdue run (the daemon's timer): at most max payment index entries due at
 * now, in one write transaction: an order unpaid at its payment_due_at gets
 * order.payment_overdue once (its entry moves to cancel_at); one unpaid at its
 * cancel_at is cancelled by "standingd" ("unpaid after N days", order.cancelled).
 * *ret_more is true when more entries are due (run again). 0 or a store error. */
int sales_payment_due_run(store *s, const defs *d, int64_t now, size_t max, size_t *ret_overdue, size_t *ret_cancelled,
			  bool *ret_more);

/* GetAccount, from the caller's read transaction: account number, limit, every
 * currency's balance, open orders (on_hold, awaiting_payment) and the last n_last
 * entries. 0, a store error. */
int sales_account_read(store_txn *t, const customer *cu, size_t n_last, account_summary **ret);
/* ListLedger in steps: entries of customer with at in [from, to) and seq >= from_seq
 * (1 at first), at most max; *ret_next_seq is where to resume (0 when the walk is
 * done). *ret malloc'd (ledger_entry_done each, then free). */
int sales_ledger_list(store *s, const char *customer_id, int64_t from, int64_t to, uint64_t from_seq, size_t max,
		      ledger_entry **ret, size_t *ret_n, uint64_t *ret_next_seq);
