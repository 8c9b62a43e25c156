#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lib/defs/pack.h"
#include "lib/sales/crm.h"
#include "lib/sales/sales.h"

static int create_in(store_txn *t, const defs *d, const customer *cu, sales_order *o, const char *by,
		     const void *src);

int sales_so_full(store_txn *t, const standing_order *so, struct defs_arena **scratch, standing_order *ret) {
	if (!so->stored) {
		*ret = *so;
		return 0;
	}
	/* the full copy's bulk with its strings, in the scratch arena */
	so_bulk *b = defs_arena_alloc(scratch, sizeof(*b));
	if (!b)
		return -ENOMEM;
	int r = store_cset_order(t, so->bulk->file, so->stored - 1, scratch, b);
	if (r == -ENOENT || r == -EPROTO || r == -ERANGE)
		r = -EBADMSG;
	if (r < 0)
		return r;
	defs_so_full(so, b, ret);
	ret->stored = 0;
	return 0;
}

int sales_create_occurrence_in(store_txn *t, const defs *d, const standing_order *so, const occurrence *occ, int64_t now,
			       bool late, sales_order *ret) {
	if (!t || !so || !occ || !ret || !so->customer)
		return -EINVAL;
	/* The strings are borrowed from the definitions: the store copies them. */
	sales_order o = {
		.standing_order = so->id,
		.occurrence = occ->n,
		.customer = so->customer->id,
		.supplier = so->supplier,
		.ship_to = so->bulk->ship_to,
		.lines = so->bulk->lines,
		.n_lines = so->bulk->n_lines,
		.delivery = occ->delivery,
		.delivery_offset = tz_offset_at(so->rule.zone, occ->delivery),
		.zone = (char *) tz_zone_name(so->rule.zone),
		.created = now,
		.payment = so->payment,
		.late = late,
	};
	/* so's strings: its orders share them; so may be a copy (sales_so_full), its
	 * id is the running set's */
	int r = create_in(t, d, so->customer, &o, ORDER_BY_DAEMON, so->id);
	/* the transitions are the store's now; ret keeps only borrowed strings */
	order_transitions_clear(&o);
	if (r < 0)
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
	} else if (r == -ENOENT && (r = sales_skip_occurrence_in(t, so_id, delivery, at, reason)) == 0 &&
		   (r = crm_occurrence_skipped_in(t, so_id, delivery, at, ORDER_BY_DAEMON)) == 0) {
		r = store_commit(t);
		t = NULL;
	}
	store_abort(t);
	return r;
}

static bool same_text(const char *a, const char *b) {
	return !strcmp(a ? a : "", b ? b : "");
}

int sales_mark_shipped(store *s, const defs *d, const char *number, const char *supplier_id, const char *carrier,
		       const char *tracking, int64_t now, const char *by, sales_ship_result *ret_result, sales_order **ret) {
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
	if (o->status != ORDER_STATUS_CONFIRMED) {
		r = -ENOTCONN;   /* on_hold or awaiting_payment: not to be shipped yet */
		goto out;
	}
	free(o->carrier);
	free(o->tracking);
	o->carrier = strdup(carrier);
	o->tracking = strdup(tracking);
	o->shipped = now;
	if ((r = order_transition_add(o, now, by ? by : (supplier_id ? supplier_id : "ops"), ORDER_STATUS_SHIPPED, NULL)) < 0)
		goto out;
	json_t *ev = o->carrier && o->tracking ? order_event_shipped(o) : NULL;
	text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
	json_decref(ev);
	if (!text) {
		r = -ENOMEM;
		goto out;
	}
	if ((r = store_order_update(t, o)) < 0 ||
	    (r = store_outbox_append(t, ORDER_EVENT_SHIPPED, text, o->shipped)) < 0 ||
	    (r = crm_after_shipped_in(t, d, o)) < 0)
		goto out;
	r = store_commit(t);
	t = NULL;
	if (r == 0)
		*ret_result = SALES_SHIPPED;
out:
	free(text);
	store_abort(t);
	if (r == 0 || r == -EALREADY || r == -EACCES || r == -ECANCELED || r == -ENOTCONN)
		*ret = o;
	else
		order_free(o);
	return r;
}


/* ---- payments and the order's life (issue 9) ---- */

/* Appends an event built by lib/model (consumes payload). */
static int emit(store_txn *t, const char *type, json_t *payload, int64_t at) {
	char *text = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
	json_decref(payload);
	if (!text)
		return -ENOMEM;
	int r = store_outbox_append(t, type, text, at);
	free(text);
	return r;
}

static int post(store_txn *t, const char *customer_id, ledger_kind kind, const sales_order *o, money amount,
		int64_t at, const char *reference, const char *by, ledger_entry *ret) {
	ledger_entry e = {
		.kind = kind, .amount = amount, .at = at,
		.reference = (char *) reference, .by = (char *) by,
	};
	if (o)
		memcpy(e.order, o->number, ORDER_NUMBER_MAX);
	int r = store_ledger_append(t, customer_id, &e);
	if (r == 0 && ret)
		*ret = e;
	return r;
}

static int idem_write(store_txn *t, const sales_idem *idem, const sales_order *o, const ledger_entry *e) {
	if (!idem)
		return 0;
	char *made = NULL;
	const char *reply = idem->reply;
	if (!reply) {
		if (!idem->reply_for || !(made = idem->reply_for(o, e, idem->ud)))
			return -ENOMEM;
		reply = made;
	}
	int r = store_idem_put(t, idem->user, idem->key, idem->params_hash, reply, idem->at);
	free(made);
	return r;
}

/* Does charging total keep cu's balance within its limit? 0 (*ret_over set), or a store error. */
static int limit_check(store_txn *t, const customer *cu, const char *customer_id, money total, bool *ret_over,
		       sales_refusal *why) {
	money bal;
	int r = store_ledger_balance(t, customer_id, total.currency, &bal);
	if (r < 0)
		return r;
	*ret_over = false;
	if (why) {
		why->balance = bal;
		why->total = total;
		memset(&why->limit, 0, sizeof(why->limit));
	}
	if (!cu || !cu->credit_limit.currency[0])
		return 0;   /* no limit */
	if (why)
		why->limit = cu->credit_limit;
	if (strcmp(cu->credit_limit.currency, total.currency))
		return -EXDEV;   /* refused at validation; PlaceOrder's caller says so */
	int64_t after;
	*ret_over = __builtin_add_overflow(bal.minor, total.minor, &after) || after > cu->credit_limit.minor;
	return 0;
}

static void hold_reason(const money *limit, const money *bal, const money *total, char *buf, size_t n) {
	char l[32], b[32], tt[32];
	money_format_amount(limit, l, sizeof(l));
	money_format_amount(bal, b, sizeof(b));
	money_format_amount(total, tt, sizeof(tt));
	snprintf(buf, n, "credit limit %s %s: balance %s + order %s", l, limit->currency, b, tt);
}

static int create_in(store_txn *t, const defs *d, const customer *cu, sales_order *o, const char *by,
		     const void *src) {
	o->vat_rate = cu ? cu->vat_rate : 0;
	int r = order_amounts(o);
	if (r < 0)
		return o->standing_order ? -ERANGE : r;
	const char *reason = NULL;
	char why[160];
	sales_refusal ref = { 0 };
	order_status st;
	if (o->payment == ORDER_PAYMENT_ACCOUNT) {
		bool over;
		if ((r = limit_check(t, cu, o->customer, o->total, &over, &ref)) < 0)
			return r == -EXDEV && o->standing_order ? -ERANGE : r;   /* validation refuses it first */
		if (over) {
			hold_reason(&ref.limit, &ref.balance, &o->total, why, sizeof(why));
			reason = why;
			st = ORDER_STATUS_ON_HOLD;
		} else
			st = ORDER_STATUS_CONFIRMED;
		o->charged = st == ORDER_STATUS_CONFIRMED;
	} else {
		int64_t due = cu && cu->payment_due > 0 ? cu->payment_due : SALES_PAYMENT_DUE_DEFAULT;
		int64_t cancel = cu && cu->cancel_unpaid_after > 0 ? cu->cancel_unpaid_after : SALES_CANCEL_UNPAID_DEFAULT;
		o->payment_due_at = o->created + due;
		o->cancel_at = o->created + cancel;
		st = ORDER_STATUS_AWAITING_PAYMENT;
	}
	if ((r = order_transition_add(o, o->created, by, st, reason)) < 0)
		return r;
	if ((r = store_order_create_from(t, o, src)) < 0)
		return r;
	/* from here on a failure has written: t is failed, the caller aborts */
	if (st == ORDER_STATUS_CONFIRMED)
		return post(t, o->customer, LEDGER_CHARGE, o, o->total, o->created, NULL, by, NULL);
	if (st == ORDER_STATUS_ON_HOLD &&
	    (r = emit(t, ORDER_EVENT_ON_HOLD, order_event_on_hold(o, ref.balance, ref.limit, reason), o->created)) < 0)
		return r;
	if (st == ORDER_STATUS_ON_HOLD)
		return crm_on_hold_in(t, d, o, o->n_history - 1, o->created);
	order_payment_ref(o->number, o->payment_ref);
	if ((r = store_order_update(t, o)) < 0 ||
	    (r = store_payment_due_set(t, o->number, 0, o->payment_due_at)) < 0)
		return r;
	return emit(t, ORDER_EVENT_AWAITING_PAYMENT, order_event_awaiting_payment(o, o->payment_due_at), o->created);
}

int sales_place(store *s, const defs *d, const customer *cu, sales_order *o, const char *by, const sales_idem *idem) {
	if (!s || !o || o->standing_order)
		return -EINVAL;
	o->occurrence = UINT64_MAX;
	store_txn *t = NULL;
	int r = store_begin(s, true, &t);
	if (r < 0)
		return r;
	if ((r = create_in(t, d, cu, o, by, NULL)) == 0 && (r = idem_write(t, idem, o, NULL)) == 0) {
		r = store_commit(t);
		t = NULL;
	}
	store_abort(t);
	if (r < 0)
		order_transitions_clear(o);
	return r;
}

/* The skeleton of an operation on one order: begin, load, then op decides. */
typedef int (*order_op)(store_txn *t, sales_order *o, void *ud);

static int order_change(store *s, const char *number, const sales_idem *idem, order_op op, void *ud,
			sales_order **ret) {
	if (!s || !number || !ret)
		return -EINVAL;
	store_txn *t = NULL;
	sales_order *o = NULL;
	int r = store_begin(s, true, &t);
	if (r < 0)
		return r;
	r = store_order_get(t, number, &o);
	if (r == -EINVAL)
		r = -ENOENT;   /* a bad check digit names no order */
	if (r == 0 && (r = op(t, o, ud)) == 0 && (r = store_order_update(t, o)) == 0 &&
	    (r = idem_write(t, idem, o, NULL)) == 0) {
		r = store_commit(t);
		t = NULL;
	}
	store_abort(t);
	if (r == 0)
		*ret = o;
	else
		order_free(o);
	return r;
}

typedef struct op_args {
	const defs *d;
	const customer *cu;
	int64_t now;
	const char *by, *reason, *reference;
	money amount;
	sales_refusal *why;
} op_args;

static int refuse(op_args *a, const sales_order *o) {
	if (a->why)
		a->why->status = o->status;
	return -EPERM;
}

static int op_release(store_txn *t, sales_order *o, void *ud) {
	op_args *a = ud;
	if (o->status != ORDER_STATUS_ON_HOLD)
		return refuse(a, o);
	bool over;
	int r = limit_check(t, a->cu, o->customer, o->total, &over, a->why);
	if (r < 0)
		return r;
	if (over)
		return -EDQUOT;
	if ((r = order_transition_add(o, a->now, a->by, ORDER_STATUS_CONFIRMED, a->reason)) < 0)
		return r;
	o->charged = true;
	if ((r = post(t, o->customer, LEDGER_CHARGE, o, o->total, a->now, NULL, a->by, NULL)) < 0)
		return r;
	return emit(t, ORDER_EVENT_CONFIRMED, order_event_confirmed(o, a->by), a->now);
}

int sales_release(store *s, const customer *cu, const char *number, int64_t now, const char *by,
		  const sales_idem *idem, sales_order **ret, sales_refusal *ret_why) {
	op_args a = { .cu = cu, .now = now, .by = by, .reason = "released", .why = ret_why };
	return order_change(s, number, idem, op_release, &a, ret);
}

static int op_hold(store_txn *t, sales_order *o, void *ud) {
	op_args *a = ud;
	if (o->status != ORDER_STATUS_CONFIRMED || o->payment != ORDER_PAYMENT_ACCOUNT)
		return refuse(a, o);
	int r;
	if ((r = order_transition_add(o, a->now, a->by, ORDER_STATUS_ON_HOLD, a->reason)) < 0)
		return r;
	if (o->charged) {
		o->charged = false;
		if ((r = post(t, o->customer, LEDGER_CREDIT, o, o->total, a->now, NULL, a->by, NULL)) < 0)
			return r;
	}
	money bal;
	if ((r = store_ledger_balance(t, o->customer, o->total.currency, &bal)) < 0)
		return r;
	money none = { 0 };
	if ((r = emit(t, ORDER_EVENT_ON_HOLD, order_event_on_hold(o, bal, none, a->reason), a->now)) < 0)
		return r;
	return crm_on_hold_in(t, a->d, o, o->n_history - 1, a->now);
}

int sales_hold(store *s, const defs *d, const char *number, int64_t now, const char *by, const char *reason,
	       const sales_idem *idem, sales_order **ret, sales_refusal *ret_why) {
	op_args a = { .d = d, .now = now, .by = by, .reason = reason ? reason : "held", .why = ret_why };
	return order_change(s, number, idem, op_hold, &a, ret);
}

static int op_pay(store_txn *t, sales_order *o, void *ud) {
	op_args *a = ud;
	if (o->status != ORDER_STATUS_AWAITING_PAYMENT)
		return refuse(a, o);
	if (a->amount.minor != o->total.minor || strcmp(a->amount.currency, o->total.currency)) {
		if (a->why)
			a->why->total = o->total;
		return -EBADE;
	}
	int r;
	if ((r = order_transition_add(o, a->now, a->by, ORDER_STATUS_CONFIRMED, "paid")) < 0)
		return r;
	o->paid = true;
	o->charged = true;
	o->paid_at = a->now;
	free(o->paid_reference);
	if (!(o->paid_reference = a->reference ? strdup(a->reference) : NULL) && a->reference)
		return -ENOMEM;
	if ((r = store_payment_due_set(t, o->number, o->overdue_sent ? o->cancel_at : o->payment_due_at, 0)) < 0 ||
	    (r = post(t, o->customer, LEDGER_CHARGE, o, o->total, a->now, NULL, a->by, NULL)) < 0 ||
	    (r = post(t, o->customer, LEDGER_PAYMENT, o, o->total, a->now, a->reference, a->by, NULL)) < 0)
		return r;
	return emit(t, ORDER_EVENT_CONFIRMED, order_event_confirmed(o, a->by), a->now);
}

int sales_record_payment(store *s, const char *number, money amount, const char *reference, int64_t now,
			 const char *by, const sales_idem *idem, sales_order **ret, sales_refusal *ret_why) {
	op_args a = { .now = now, .by = by, .reference = reference, .amount = amount, .why = ret_why };
	return order_change(s, number, idem, op_pay, &a, ret);
}

static int cancel_in(store_txn *t, sales_order *o, op_args *a) {
	if (o->status == ORDER_STATUS_SHIPPED || o->status == ORDER_STATUS_CANCELLED)
		return refuse(a, o);
	order_status before = o->status;
	ledger_entry credit = { 0 };
	bool credited = false;
	int r;
	if (before == ORDER_STATUS_AWAITING_PAYMENT &&
	    (r = store_payment_due_set(t, o->number, o->overdue_sent ? o->cancel_at : o->payment_due_at, 0)) < 0)
		return r;
	if ((r = order_transition_add(o, a->now, a->by, ORDER_STATUS_CANCELLED, a->reason)) < 0)
		return r;
	if (o->charged) {
		o->charged = false;
		if ((r = post(t, o->customer, LEDGER_CREDIT, o, o->total, a->now, NULL, a->by, &credit)) < 0)
			return r;
		credited = true;
		if (o->paid && (r = post(t, o->customer, LEDGER_REFUND, o, o->total, a->now, o->paid_reference, a->by,
					 NULL)) < 0)
			return r;
	}
	return emit(t, ORDER_EVENT_CANCELLED, order_event_cancelled(o, before, a->by, a->reason, credited ? &credit : NULL),
		    a->now);
}

static int op_cancel(store_txn *t, sales_order *o, void *ud) {
	return cancel_in(t, o, ud);
}

int sales_cancel(store *s, const char *number, int64_t now, const char *by, const char *reason,
		 const sales_idem *idem, sales_order **ret, sales_refusal *ret_why) {
	op_args a = { .now = now, .by = by, .reason = reason, .why = ret_why };
	return order_change(s, number, idem, op_cancel, &a, ret);
}

int sales_record_account_payment(store *s, const customer *cu, money amount, const char *reference, int64_t now,
				 const char *by, const sales_idem *idem, ledger_entry *ret_entry) {
	if (!s || !cu || !ret_entry || amount.minor <= 0 || money_exponent(amount.currency) < 0)
		return -EINVAL;
	if (!cu->account_number && !cu->credit_limit.currency[0])
		return -EINVAL;   /* no account */
	store_txn *t = NULL;
	ledger_entry e;
	int r = store_begin(s, true, &t);
	if (r < 0)
		return r;
	if ((r = post(t, cu->id, LEDGER_PAYMENT, NULL, amount, now, reference, by, &e)) == 0 &&
	    (r = emit(t, ORDER_EVENT_ACCOUNT_PAYMENT, account_event_payment(cu->id, &e), now)) == 0 &&
	    (r = idem_write(t, idem, NULL, &e)) == 0) {
		r = store_commit(t);
		t = NULL;
	}
	store_abort(t);
	if (r < 0)
		return r;
	return ledger_entry_copy(&e, ret_entry);   /* its strings were the caller's */
}

typedef struct due_ctx {
	char (*numbers)[ORDER_NUMBER_MAX];
	size_t n;
} due_ctx;

static int due_collect(const char *number, int64_t at, void *ud) {
	(void) at;
	due_ctx *d = ud;
	memcpy(d->numbers[d->n++], number, ORDER_NUMBER_MAX);
	return 0;
}

/* "unpaid after 14 days", "after 4 hours", "after 90 minutes": the largest whole unit. */
static void unpaid_reason(int64_t secs, char *buf, size_t n) {
	static const struct { int64_t secs; const char *one, *many; } units[] = {
		{ 86400, "day", "days" }, { 3600, "hour", "hours" }, { 60, "minute", "minutes" }, { 1, "second", "seconds" },
	};
	size_t i = 0;
	while (i + 1 < sizeof(units) / sizeof(units[0]) && secs % units[i].secs)
		i++;
	int64_t k = secs / units[i].secs;
	snprintf(buf, n, "unpaid after %" PRId64 " %s", k, k == 1 ? units[i].one : units[i].many);
}

int sales_payment_due_run(store *s, const defs *d, int64_t now, size_t max, size_t *ret_overdue, size_t *ret_cancelled,
			  bool *ret_more) {
	if (!s || !max || !ret_overdue || !ret_cancelled || !ret_more)
		return -EINVAL;
	due_ctx dc = { .numbers = calloc(max + 1, ORDER_NUMBER_MAX) };
	if (!dc.numbers)
		return -ENOMEM;
	size_t overdue = 0, cancelled = 0;
	store_txn *t = NULL;
	int r = store_begin(s, true, &t);
	if (r < 0)
		goto out;
	/* one more than max tells whether more are due */
	if ((r = store_payment_due_each(t, now, max + 1, due_collect, &dc)) < 0)
		goto out;
	for (size_t i = 0; i < dc.n && i < max; i++) {
		sales_order *o;
		if ((r = store_order_get(t, dc.numbers[i], &o)) < 0)
			goto out;
		if (o->status != ORDER_STATUS_AWAITING_PAYMENT) {
			/* paid or cancelled: its entry should be gone already */
			r = store_payment_due_set(t, o->number, o->overdue_sent ? o->cancel_at : o->payment_due_at, 0);
		} else if (now >= o->cancel_at) {
			char reason[64];
			unpaid_reason(o->cancel_at - o->created, reason, sizeof(reason));
			op_args a = { .now = now, .by = ORDER_BY_DAEMON, .reason = reason };
			/* both deadlines passed while the daemon was down: the overdue
			 * event is still told once, before the cancellation */
			if (!o->overdue_sent &&
			    ((r = store_payment_due_set(t, o->number, o->payment_due_at, 0)) < 0 ||
			     (r = emit(t, ORDER_EVENT_PAYMENT_OVERDUE, order_event_payment_overdue(o, o->payment_due_at), now)) < 0 ||
			     (r = crm_payment_overdue_in(t, d, o, now)) < 0)) {
				order_free(o);
				goto out;
			}
			if (!o->overdue_sent)
				overdue++;
			o->overdue_sent = true;   /* its index entry is at cancel_at now */
			if ((r = cancel_in(t, o, &a)) == 0 && (r = store_order_update(t, o)) == 0)
				cancelled++;
		} else if (!o->overdue_sent) {
			o->overdue_sent = true;
			if ((r = store_payment_due_set(t, o->number, o->payment_due_at, o->cancel_at)) == 0 &&
			    (r = emit(t, ORDER_EVENT_PAYMENT_OVERDUE, order_event_payment_overdue(o, o->payment_due_at), now)) == 0 &&
			    (r = crm_payment_overdue_in(t, d, o, now)) == 0 && (r = store_order_update(t, o)) == 0)
				overdue++;
		}
		order_free(o);
		if (r < 0)
			goto out;
	}
	if ((r = store_commit(t)) < 0) {
		t = NULL;
		goto out;
	}
	t = NULL;
	*ret_overdue = overdue;
	*ret_cancelled = cancelled;
	*ret_more = dc.n > max;
out:
	store_abort(t);
	free(dc.numbers);
	return r;
}

int sales_account_read(store_txn *t, const customer *cu, size_t n_last, account_summary **ret) {
	if (!t || !cu || !ret)
		return -EINVAL;
	account_summary *a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	int r = -ENOMEM;
	if (!(a->customer = strdup(cu->id)) || (cu->account_number && !(a->number = strdup(cu->account_number))))
		goto out;
	a->credit_limit = cu->credit_limit;
	if ((r = store_ledger_balances(t, cu->id, &a->balances, &a->n_balances)) < 0 ||
	    (r = store_open_orders(t, cu->id, &a->open_orders, &a->n_open_orders)) < 0 ||
	    (r = store_ledger_last(t, cu->id, n_last, &a->entries, &a->n_entries)) < 0)
		goto out;
out:
	if (r < 0) {
		account_summary_free(a);
		return r;
	}
	*ret = a;
	return 0;
}

typedef struct list_ctx {
	ledger_entry *v;
	size_t n, max;
	uint64_t next;
} list_ctx;

static int list_add(const ledger_entry *e, void *ud) {
	list_ctx *l = ud;
	if (l->n == l->max) {
		l->next = e->seq;
		return 1;
	}
	int r = ledger_entry_copy(e, &l->v[l->n]);
	if (r == 0)
		l->n++;
	return r;
}

int sales_ledger_list(store *s, const char *customer_id, int64_t from, int64_t to, uint64_t from_seq, size_t max,
		      ledger_entry **ret, size_t *ret_n, uint64_t *ret_next_seq) {
	if (!s || !customer_id || !ret || !ret_n || !ret_next_seq || !max)
		return -EINVAL;
	list_ctx l = { .v = calloc(max, sizeof(*l.v)), .max = max };
	if (!l.v)
		return -ENOMEM;
	store_txn *t = NULL;
	int r = store_begin(s, false, &t);
	if (r == 0)
		r = store_ledger_each(t, customer_id, from_seq ? from_seq : 1, from, to, list_add, &l);
	store_abort(t);
	if (r < 0) {
		for (size_t i = 0; i < l.n; i++)
			ledger_entry_done(&l.v[i]);
		free(l.v);
		return r;
	}
	*ret = l.v;
	*ret_n = l.n;
	*ret_next_seq = l.next;
	return 0;
}
