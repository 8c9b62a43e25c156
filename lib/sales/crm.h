/* crm: the CRM's writes and reads (doc/crm.md): tasks made exactly once (their
 * dedup key, their task.due event and, for the engine's reminders, the watermark
 * in the same write transaction), completed, snoozed, added, cancelled with a
 * skipped occurrence; the due run that makes after_shipped tasks and task alerts
 * at their instant; the interaction log; task texts rendered in the assignee's
 * language. Each operation is one write transaction with its events, or one step
 * of the caller's (the *_in functions). */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include "lib/defs/defs.h"
#include "lib/model/crm.h"
#include "lib/model/order.h"
#include "lib/store/store.h"
#include "lib/time/rule.h"

/* The reminder's HASH (doc/crm.md): 16 hex digits + NUL. */
void crm_reminder_hash(const reminder *r, char ret[17]);

/* Renders a reminder's task text for one occurrence (or order) in the assignee's
 * language: {customer} {contact} {delivery_date} {order} {standing_order} {total};
 * order may be NULL (then {order} is the standing order's id). malloc'd, or NULL
 * (-ENOMEM). The placeholders are checked by lib/defs at load. */
char *crm_task_text(const defs *d, const standing_order *so, const reminder *r, const occurrence *occ,
		    const sales_order *order);

/* Inside the caller's write transaction t: makes the task (id assigned, history
 * "created" by "standingd") under dedup key, with its task.due event. 0 (made;
 * ret_id filled when not NULL); -EEXIST when the key exists (nothing written);
 * another negative errno. */
int crm_task_create_in(store_txn *t, const char *key, task *tk, int64_t now, char ret_id[TASK_ID_MAX]);

/* The engine's reminder step, in its batch transaction: the `before` task of so's
 * occurrence occ for reminder r (skipped, paused or cancelled: no task), then
 * r's watermark set to through. 0, or a negative errno. */
int crm_reminder_in(store_txn *t, const defs *d, const standing_order *so, const reminder *r,
		    const occurrence *occ, bool make, int64_t through, int64_t now);
/* A reminder's watermark: INT64_MIN when it has none yet. */
int crm_reminder_get(store_txn *t, const char *so_id, const char hash[17], int64_t *ret_through);

/* MarkShipped's step, in sales_mark_shipped's transaction: a taskq entry per
 * after_shipped reminder of the order's standing order, due shipped + offset. */
int crm_after_shipped_in(store_txn *t, const defs *d, const sales_order *o);
/* The hold and overdue tasks, in the transaction of that change. */
int crm_on_hold_in(store_txn *t, const defs *d, const sales_order *o, size_t transition, int64_t now);
int crm_payment_overdue_in(store_txn *t, const defs *d, const sales_order *o, int64_t now);
/* SkipOccurrence's step: cancels the open `before` tasks of (so_id, delivery). */
int crm_occurrence_skipped_in(store_txn *t, const char *so_id, int64_t delivery, int64_t now, const char *by);

/* The due run (the daemon's timer): at most max taskq entries due at now, in one
 * write transaction: after_shipped tasks made, alerts turned into task.due. *ret_made
 * tasks made, *ret_next_at the next entry's instant (INT64_MAX: none), *ret_more when
 * more are due. 0 or a negative errno. */
int crm_due_run(store *s, const defs *d, int64_t now, size_t max, size_t *ret_made, int64_t *ret_next_at,
		bool *ret_more);

/* Salespeople's operations, each one write transaction; by is "sales:USER" etc.
 * -ENOENT: no such task; -EALREADY: the task is not open. */
int crm_task_complete(store *s, const char *id, const char *note, int64_t now, const char *by, task **ret);
int crm_task_snooze(store *s, const char *id, int64_t until, int64_t now, const char *by, task **ret);
int crm_task_add(store *s, const char *customer, const char *assignee, int64_t due, const char *text,
		 int64_t now, const char *by, task **ret);
int crm_task_get(store_txn *t, const char *id, task **ret);
/* Tasks in due order matching the filters (NULL/-1/INT64_MAX: any), after the task
 * id after (NULL: from the start), at most max, appended to arr as views. */
int crm_task_list(store_txn *t, const char *assignee, int status, int64_t due_before, const char *customer,
		  const char *after, size_t max, json_t *arr, bool *ret_more);

/* LogInteraction: appended with seq; ret_seq. The *_in form for the outbox's
 * e-mail interactions. */
int crm_interaction_log_in(store_txn *t, interaction *i);
int crm_interaction_log(store *s, interaction *i);
/* Interactions of customer with at in [from, to) in (at, seq) order after the
 * cursor (after_at, after_seq; INT64_MIN: from the start), at most max, as views.
 * newest_first: the last ones first (GetCustomer's last 20). */
int crm_interaction_list(store_txn *t, const char *customer, int64_t from, int64_t to, int64_t after_at,
			 uint64_t after_seq, size_t max, bool newest_first, json_t *arr, bool *ret_more);

