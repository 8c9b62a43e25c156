#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "lib/sales/sales.h"

int sales_create_occurrence_in(store_txn *t, const standing_order *so, const occurrence *occ, int64_t now,
			       bool late, sales_order *ret) {
	if (!t || !so || !occ || !ret || !so->customer)
		return -EINVAL;
	/* The strings are borrowed from the definitions: the store copies them. */
	sales_order o = {
		.standing_order = so->id,
		.occurrence = occ->n,
		.customer = so->customer->id,
		.supplier = so->supplier,
		.ship_to = so->ship_to,
		.lines = so->lines,
		.n_lines = so->n_lines,
		.delivery = occ->delivery,
		.delivery_offset = tz_offset_at(so->rule.zone, occ->delivery),
		.zone = (char *) tz_zone_name(so->rule.zone),
		.created = now,
		.payment = so->payment,
		.status = ORDER_STATUS_CREATED,
		.late = late,
	};
	int r = order_total(so->lines, so->n_lines, &o.total);
	if (r < 0)
		return -ERANGE;   /* not the store's -EOVERFLOW (no sequence left): this one occurrence only */
	if ((r = store_order_create(t, &o)) < 0)
		return r;
	*ret = o;
	return 0;
}

int sales_skip_occurrence_in(store_txn *t, const char *so_id, int64_t delivery, int64_t at, const char *reason) {
	return store_skip_record(t, so_id, delivery, at, reason);
}

int sales_skip_occurrence(store *s, const char *so_id, int64_t delivery, int64_t at, const char *reason,
			  char ret_number[ORDER_NUMBER_MAX]) {
	store_txn *t = NULL;
	char number[ORDER_NUMBER_MAX];
	int r = store_begin(s, true, &t);
	if (r < 0)
		return r;
	if ((r = store_occurrence_get(t, so_id, delivery, number)) == 0) {
		if (ret_number)
			memcpy(ret_number, number, ORDER_NUMBER_MAX);
		r = -EEXIST;
	} else if (r == -ENOENT && (r = store_skip_get(t, so_id, delivery, NULL)) == 0) {
		r = 0;   /* skipped before: that record, and whoever asked, stays */
	} else if (r == -ENOENT && (r = sales_skip_occurrence_in(t, so_id, delivery, at, reason)) == 0) {
		r = store_commit(t);
		t = NULL;
	}
	store_abort(t);
	return r;
}

int sales_place_order(store *s, sales_order *o) {
	if (!s || !o || o->standing_order)
		return -EINVAL;
	o->occurrence = UINT64_MAX;
	int r = order_total(o->lines, o->n_lines, &o->total);
	if (r < 0)
		return r;
	store_txn *t = NULL;   /* store_begin leaves it untouched on failure */
	if ((r = store_begin(s, true, &t)) == 0 && (r = store_order_create(t, o)) == 0) {
		r = store_commit(t);
		t = NULL;
	}
	store_abort(t);
	return r;
}

static bool same_text(const char *a, const char *b) {
	return !strcmp(a ? a : "", b ? b : "");
}

int sales_mark_shipped(store *s, const char *number, const char *supplier_id, const char *carrier,
		       const char *tracking, int64_t now, sales_ship_result *ret_result, sales_order **ret) {
	if (!s || !number || !carrier || !tracking || !ret_result || !ret)
		return -EINVAL;
	store_txn *t = NULL;
	sales_order *o = NULL;
	char *text = NULL;
	int r = store_begin(s, true, &t);
	if (r < 0)
		return r;
	r = store_order_get(t, number, &o);
	if (r == -EINVAL)
		r = -ENOENT;   /* a bad check digit names no order */
	if (r < 0)
		goto out;
	if (supplier_id && strcmp(o->supplier, supplier_id)) {
		r = -EACCES;   /* another supplier's order */
		goto out;
	}
	if (o->status == ORDER_STATUS_CANCELLED) {
		r = -ECANCELED;
		goto out;
	}
	if (o->status == ORDER_STATUS_SHIPPED) {
		if (same_text(o->carrier, carrier) && same_text(o->tracking, tracking)) {
			*ret_result = SALES_ALREADY_SHIPPED;
			r = 0;
		} else
			r = -EALREADY;
		goto out;
	}
	free(o->carrier);
	free(o->tracking);
	o->carrier = strdup(carrier);
	o->tracking = strdup(tracking);
	o->status = ORDER_STATUS_SHIPPED;
	o->shipped = now;
	json_t *ev = o->carrier && o->tracking ? order_event_shipped(o) : NULL;
	text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
	json_decref(ev);
	if (!text) {
		r = -ENOMEM;
		goto out;
	}
	if ((r = store_order_update(t, o)) < 0 ||
	    (r = store_outbox_append(t, ORDER_EVENT_SHIPPED, text, o->shipped)) < 0)
		goto out;
	r = store_commit(t);
	t = NULL;
	if (r == 0)
		*ret_result = SALES_SHIPPED;
out:
	free(text);
	store_abort(t);
	if (r == 0 || r == -EALREADY || r == -EACCES || r == -ECANCELED)
		*ret = o;
	else
		order_free(o);
	return r;
}

/* ---- payments (issue 9): contract first, bodies follow ---- */

int sales_place(store *s, const customer *cu, sales_order *o, const char *by, const sales_idem *idem) {
	(void) s, (void) cu, (void) o, (void) by, (void) idem;
	return -ENOSYS;
}

int sales_release(store *s, const customer *cu, const char *number, int64_t now, const char *by,
		  const sales_idem *idem, sales_order **ret, sales_refusal *ret_why) {
	(void) s, (void) cu, (void) number, (void) now, (void) by, (void) idem, (void) ret, (void) ret_why;
	return -ENOSYS;
}

int sales_hold(store *s, const char *number, int64_t now, const char *by, const char *reason,
	       const sales_idem *idem, sales_order **ret, sales_refusal *ret_why) {
	(void) s, (void) number, (void) now, (void) by, (void) reason, (void) idem, (void) ret, (void) ret_why;
	return -ENOSYS;
}

int sales_record_payment(store *s, const char *number, money amount, const char *reference, int64_t now,
			 const char *by, const sales_idem *idem, sales_order **ret, sales_refusal *ret_why) {
	(void) s, (void) number, (void) amount, (void) reference, (void) now, (void) by, (void) idem, (void) ret,
		(void) ret_why;
	return -ENOSYS;
}

int sales_record_account_payment(store *s, const customer *cu, money amount, const char *reference, int64_t now,
				 const char *by, const sales_idem *idem, ledger_entry *ret_entry) {
	(void) s, (void) cu, (void) amount, (void) reference, (void) now, (void) by, (void) idem, (void) ret_entry;
	return -ENOSYS;
}

int sales_cancel(store *s, const char *number, int64_t now, const char *by, const char *reason,
		 const sales_idem *idem, sales_order **ret, sales_refusal *ret_why) {
	(void) s, (void) number, (void) now, (void) by, (void) reason, (void) idem, (void) ret, (void) ret_why;
	return -ENOSYS;
}

int sales_payment_due_run(store *s, int64_t now, size_t max, size_t *ret_overdue, size_t *ret_cancelled,
			  bool *ret_more) {
	(void) s, (void) now, (void) max, (void) ret_overdue, (void) ret_cancelled, (void) ret_more;
	return -ENOSYS;
}

int sales_account_get(store *s, const customer *cu, size_t n_last, account_summary **ret) {
	(void) s, (void) cu, (void) n_last, (void) ret;
	return -ENOSYS;
}

int sales_ledger_list(store *s, const char *customer_id, int64_t from, int64_t to, uint64_t from_seq, size_t max,
		      ledger_entry **ret, size_t *ret_n, uint64_t *ret_next_seq) {
	(void) s, (void) customer_id, (void) from, (void) to, (void) from_seq, (void) max, (void) ret, (void) ret_n,
		(void) ret_next_seq;
	return -ENOSYS;
}
