/* crm: tasks made exactly once with their task.due events, the due run, the
 * salespeople's task operations and the interaction log (doc/crm.md). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lib/mail/mail.h"
#include "lib/sales/crm.h"
#include "lib/time/cal.h"

#define CRM_BY "standingd"

/* ---- the reminder's hash ---- */

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

void crm_reminder_hash(const reminder *r, char ret[17]) {
	char off[24];
	const char *kind = r->kind == REMIND_BEFORE ? "before" : "after_shipped";
	snprintf(off, sizeof(off), "%" PRId64, r->offset);
	/* each field with its NUL, so that no two reminders read alike */
	uint64_t h = UINT64_C(0xcbf29ce484222325);
	h = fnv(h, kind, strlen(kind) + 1);
	h = fnv(h, off, strlen(off) + 1);
	h = fnv(h, r->task ? r->task : "", strlen(r->task ? r->task : "") + 1);
	h = fnv(h, r->assignee ? r->assignee : "", strlen(r->assignee ? r->assignee : "") + 1);
	snprintf(ret, 17, "%016" PRIx64, h);
}

/* ---- who gets it, in which language ---- */

/* The reminder's assignee, else the customer's salesperson; NULL: no one (no task). */
static const char *assignee_of(const customer *cu, const char *assignee) {
	if (assignee && *assignee)
		return assignee;
	return cu && cu->salesperson && *cu->salesperson ? cu->salesperson : NULL;
}

static const char *language_of(const defs *d, const char *assignee) {
	const salesperson *sp = d && assignee ? defs_find_salesperson(&d->config, assignee) : NULL;
	return sp && sp->language[0] ? sp->language : "en";
}

/* ---- texts ---- */

typedef struct text_buf { char *p; size_t n, cap; bool oom; } text_buf;

static void put(text_buf *b, const char *s, size_t n) {
	if (b->oom)
		return;
	if (b->n + n + 1 > b->cap) {
		size_t cap = (b->n + n + 1) * 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = 0;
}

static void puts_(text_buf *b, const char *s) {
	put(b, s, strlen(s));
}

static char *finish(text_buf *b) {
	if (!b->p && !b->oom)
		put(b, "", 0);
	if (b->oom) {
		free(b->p);
		return NULL;
	}
	return b->p;
}

static char *money_text(const char *lang, const money *m) {
	char amount[40], *out = NULL;
	if (!m->currency[0] || !money_format_amount(m, amount, sizeof(amount)))
		return strdup("");
	if (mail_format_money(lang, amount, m->currency, &out) < 0) {
		/* ICU refused it: the plain amount and code still say it */
		char plain[64];
		snprintf(plain, sizeof(plain), "%s %s", amount, m->currency);
		return strdup(plain);
	}
	return out;
}

static char *date_text(const char *lang, const char *zone, int32_t offset, int64_t t, bool full) {
	char *out = NULL;
	if (mail_format_date(lang, zone, offset, t, full, &out) < 0) {
		char iso[CAL_ISO_MAX];
		return strdup(cal_format_utc(t, iso));
	}
	return out;
}

/* What a task text's placeholders stand for. */
typedef struct text_values {
	const char *lang;
	const customer *cu;
	const char *standing_order;
	const char *order;            /* the order number, else NULL */
	int64_t delivery;
	const char *zone;
	int32_t offset;
	money total;
} text_values;

static const char *contact_of(const customer *cu) {
	if (!cu || !cu->n_contacts)
		return "";
	for (size_t i = 0; i < cu->n_contacts; i++)
		if (cu->contacts[i].role && !strcmp(cu->contacts[i].role, "purchasing") && cu->contacts[i].name)
			return cu->contacts[i].name;
	return cu->contacts[0].name ? cu->contacts[0].name : "";
}

static char *render(const char *tmpl, const text_values *v) {
	text_buf b = { 0 };
	const char *p = tmpl ? tmpl : "";
	while (*p) {
		if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
			put(&b, p, 1);
			p += 2;
			continue;
		}
		const char *end = p[0] == '{' ? strchr(p + 1, '}') : NULL;
		if (!end) {
			put(&b, p, 1);
			p++;
			continue;
		}
		size_t n = (size_t) (end - p - 1);
		const char *name = p + 1;
		char *made = NULL;
		const char *val = NULL;
		bool known = true;
#define IS(s) (n == strlen(s) && !memcmp(name, s, n))
		if (IS("customer"))
			val = v->cu && v->cu->name ? v->cu->name : v->cu ? v->cu->id : "";
		else if (IS("contact"))
			val = contact_of(v->cu);
		else if (IS("delivery_date"))
			val = made = v->delivery ? date_text(v->lang, v->zone, v->offset, v->delivery, true) : strdup("");
		else if (IS("order"))
			val = v->order ? v->order : v->standing_order ? v->standing_order : "";
		else if (IS("standing_order"))
			val = v->standing_order ? v->standing_order : "";
		else if (IS("total"))
			val = made = money_text(v->lang, &v->total);
		else
			known = false;
#undef IS
		if (!known)
			put(&b, p, n + 2);   /* lib/defs refuses an unknown one at load; kept as written */
		else if (!val)
			b.oom = true;
		else
			puts_(&b, val);
		free(made);
		p = end + 1;
	}
	return finish(&b);
}

/* The gross total of an occurrence before its order exists: what sales would charge. */
static money occurrence_total(const standing_order *so) {
	sales_order o = { .lines = so->bulk->lines, .n_lines = so->bulk->n_lines,
			  .vat_rate = so->customer ? so->customer->vat_rate : 0 };
	money none = { 0 };
	return order_amounts(&o) == 0 ? o.total : none;
}

static char *task_text_for(const defs *d, const char *assignee, const standing_order *so, const customer *cu,
			   const char *tmpl, int64_t delivery, const sales_order *order) {
	text_values v = {
		.lang = language_of(d, assignee),
		.cu = cu,
		.standing_order = so ? so->id : order ? order->standing_order : NULL,
		.order = order && order->number[0] ? order->number : NULL,
		.delivery = delivery,
		.zone = so ? tz_zone_name(so->rule.zone) : order ? order->zone : NULL,
		.offset = so ? tz_offset_at(so->rule.zone, delivery) : order ? order->delivery_offset : 0,
	};
	if (order && order->total.currency[0])
		v.total = order->total;
	else if (so)
		v.total = occurrence_total(so);
	return render(tmpl, &v);
}

char *crm_task_text(const defs *d, const standing_order *so, const reminder *r, const occurrence *occ,
		    const sales_order *order) {
	if (!so || !r)
		return NULL;
	const char *assignee = assignee_of(so->customer, r->assignee);
	int64_t delivery = occ ? occ->delivery : order ? order->delivery : 0;
	return task_text_for(d, assignee, so, so->customer, r->task, delivery, order);
}

/* ---- making a task ---- */

static int emit_due(store_txn *t, const task *tk, int64_t at) {
	json_t *p = task_event_due(tk);
	char *text = p ? json_dumps(p, JSON_COMPACT) : NULL;
	json_decref(p);
	if (!text)
		return -ENOMEM;
	int r = store_outbox_append(t, TASK_EVENT_DUE, text, at);
	free(text);
	return r;
}

/* A task due later gets an alert entry; one due now (or already) its task.due now. */
static int announce(store_txn *t, const task *tk, int64_t now) {
	if (tk->due <= now)
		return emit_due(t, tk, now);
	store_taskq_entry e = { .due = tk->due, .kind = STORE_TASKQ_ALERT };
	memcpy(e.task, tk->id, TASK_ID_MAX);
	return store_taskq_put(t, &e);
}

int crm_task_create_in(store_txn *t, const char *key, task *tk, int64_t now, char ret_id[TASK_ID_MAX]) {
	if (!t || !tk || !tk->assignee || !tk->customer || !tk->text)
		return -EINVAL;
	tk->status = TASK_OPEN;
	tk->created = now;
	int r;
	if (!tk->n_history && (r = task_add_step(tk, now, CRM_BY, TASK_ACT_CREATED, NULL)) < 0)
		return r;
	if ((r = store_task_create(t, key, tk)) < 0)
		return r;
	if ((r = announce(t, tk, now)) < 0)
		return r;
	if (ret_id)
		memcpy(ret_id, tk->id, TASK_ID_MAX);
	return 0;
}

/* A system task: made under key unless it exists; -EEXIST is not a failure here. */
static int system_task(store_txn *t, const char *key, task *tk, int64_t now) {
	int r = crm_task_create_in(t, key, tk, now, NULL);
	return r == -EEXIST ? 0 : r;
}

/* ---- before: the engine's reminders ---- */

int crm_reminder_in(store_txn *t, const defs *d, const standing_order *so, const reminder *r,
		    const occurrence *occ, bool make, int64_t through, int64_t now) {
	if (!t || !so || !r)
		return -EINVAL;
	char hash[17];
	crm_reminder_hash(r, hash);
	const char *assignee = assignee_of(so->customer, r->assignee);
	int rc = 0;
	if (make && occ && assignee && so->customer) {
		char number[ORDER_NUMBER_MAX];
		sales_order *o = NULL;
		rc = store_occurrence_get(t, so->id, occ->delivery, number);
		if (rc == 0)
			rc = store_order_get(t, number, &o);
		else if (rc == -ENOENT && (rc = store_skip_get(t, so->id, occ->delivery, NULL)) == 0)
			rc = 1;   /* skipped: none */
		else if (rc == -ENOENT)
			rc = 0;
		if (rc == 0 && o && o->status == ORDER_STATUS_CANCELLED)
			rc = 1;
		if (rc == 0) {
			char key[512];
			snprintf(key, sizeof(key), "before/%s/%s/%" PRId64, so->id, hash, occ->delivery);
			task tk = {
				.assignee = (char *) assignee, .customer = so->customer->id,
				.due = occ->delivery - r->offset, .kind = TASK_BEFORE,
				.order = o ? o->number : NULL, .standing_order = so->id, .delivery = occ->delivery,
				.text = crm_task_text(d, so, r, occ, o),
			};
			rc = tk.text ? system_task(t, key, &tk, now) : -ENOMEM;
			free(tk.text);
			for (size_t i = 0; i < tk.n_history; i++)
				free(tk.history[i].by), free(tk.history[i].note);
			free(tk.history);
		}
		order_free(o);
		if (rc < 0)
			return rc;
	}
	return store_reminder_put(t, so->id, hash, through);
}

int crm_reminder_get(store_txn *t, const char *so_id, const char hash[17], int64_t *ret_through) {
	if (!ret_through)
		return -EINVAL;
	int r = store_reminder_get(t, so_id, hash, ret_through);
	if (r == -ENOENT) {
		*ret_through = INT64_MIN;
		return 0;
	}
	return r;
}

/* ---- after_shipped ---- */

int crm_after_shipped_in(store_txn *t, const defs *d, const sales_order *o) {
	if (!t || !o)
		return -EINVAL;
	const standing_order *so = d && o->standing_order ? defs_find_order(d, o->standing_order) : NULL;
	if (!so)
		return 0;
	for (size_t i = 0; i < so->bulk->n_reminders; i++) {
		const reminder *r = &so->bulk->reminders[i];
		if (r->kind != REMIND_AFTER_SHIPPED)
			continue;
		store_taskq_entry e = {
			.due = o->shipped + r->offset, .kind = STORE_TASKQ_AFTER_SHIPPED,
			.standing_order = so->id, .offset = r->offset, .text = r->task, .assignee = r->assignee,
		};
		memcpy(e.order, o->number, ORDER_NUMBER_MAX);
		crm_reminder_hash(r, e.hash);
		int rc = store_taskq_put(t, &e);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ---- the system's tasks: on hold, payment overdue ---- */

typedef struct sys_texts {
	const char *lang;
	const char *on_hold;          /* order, customer, total, why */
	const char *credit;           /* why, when the credit limit put it on hold */
	const char *overdue;          /* order, customer, total, due date */
} sys_texts;

static const sys_texts SYS_TEXTS[] = {
	{ "en", "Order %s (%s, %s) is on hold: %s", "the credit limit would be exceeded.",
	  "Prepaid order %s (%s) is overdue: %s was due on %s." },
	{ "fi", "Tilaus %s (%s, %s) on pidossa: %s", "luottoraja ylittyisi.",
	  "Ennakkoon maksettavan tilauksen %s (%s) maksu on myöhässä: %s erääntyi %s." },
	{ "lv", "Pasūtījums %s (%s, %s) ir aizturēts: %s", "tiktu pārsniegts kredītlimits.",
	  "Priekšapmaksas pasūtījuma %s (%s) maksājums kavējas: %s, termiņš %s." },
	{ "nb", "Ordre %s (%s, %s) er satt på vent: %s", "kredittgrensen ville blitt overskredet.",
	  "Forhåndsbetalt ordre %s (%s) er forfalt: %s skulle vært betalt %s." },
	{ "vi", "Đơn hàng %s (%s, %s) đang bị tạm giữ: %s", "hạn mức tín dụng sẽ bị vượt quá.",
	  "Đơn hàng trả trước %s (%s) quá hạn thanh toán: %s đến hạn %s." },
};

static const sys_texts *sys_texts_for(const char *lang) {
	for (size_t i = 0; i < sizeof(SYS_TEXTS) / sizeof(SYS_TEXTS[0]); i++)
		if (!strcmp(SYS_TEXTS[i].lang, lang))
			return &SYS_TEXTS[i];
	return &SYS_TEXTS[0];
}

static int sys_task(store_txn *t, const char *key, const char *assignee, const sales_order *o, task_kind kind,
		    char *text, int64_t now) {
	if (!text)
		return -ENOMEM;
	task tk = {
		.assignee = (char *) assignee, .customer = o->customer, .due = now, .kind = kind,
		.order = (char *) o->number, .standing_order = o->standing_order, .text = text,
	};
	int r = system_task(t, key, &tk, now);
	free(text);
	for (size_t i = 0; i < tk.n_history; i++)
		free(tk.history[i].by), free(tk.history[i].note);
	free(tk.history);
	return r;
}

int crm_on_hold_in(store_txn *t, const defs *d, const sales_order *o, size_t transition, int64_t now) {
	if (!t || !o)
		return -EINVAL;
	const customer *cu = d ? defs_find_customer(d, o->customer) : NULL;
	const char *assignee = assignee_of(cu, NULL);
	if (!assignee)
		return 0;   /* no one to tell */
	const sys_texts *tx = sys_texts_for(language_of(d, assignee));
	const char *reason = transition < o->n_history ? o->history[transition].reason : NULL;
	/* the first transition on hold is the credit limit's (at creation); a later one
	 * is HoldOrder's, with its reason as given */
	const char *why = transition == 0 || !reason ? tx->credit : reason;
	char *total = money_text(tx->lang, &o->total), *text = NULL;
	if (!total || asprintf(&text, tx->on_hold, o->number, cu->name ? cu->name : cu->id, total, why) < 0)
		text = NULL;
	free(total);
	char key[64];
	snprintf(key, sizeof(key), "hold/%s/%zu", o->number, transition);
	return sys_task(t, key, assignee, o, TASK_ON_HOLD, text, now);
}

int crm_payment_overdue_in(store_txn *t, const defs *d, const sales_order *o, int64_t now) {
	if (!t || !o)
		return -EINVAL;
	const customer *cu = d ? defs_find_customer(d, o->customer) : NULL;
	const char *assignee = assignee_of(cu, NULL);
	if (!assignee)
		return 0;
	const sys_texts *tx = sys_texts_for(language_of(d, assignee));
	char *total = money_text(tx->lang, &o->total), *text = NULL;
	char *date = date_text(tx->lang, o->zone, o->delivery_offset, o->payment_due_at, false);
	if (!total || !date ||
	    asprintf(&text, tx->overdue, o->number, cu->name ? cu->name : cu->id, total, date) < 0)
		text = NULL;
	free(total);
	free(date);
	char key[64];
	snprintf(key, sizeof(key), "overdue/%s", o->number);
	return sys_task(t, key, assignee, o, TASK_PAYMENT_OVERDUE, text, now);
}

/* ---- SkipOccurrence ---- */

typedef struct id_list { char (*ids)[TASK_ID_MAX]; size_t n; } id_list;

static int collect_open(const task *tk, void *ud) {
	id_list *l = ud;
	if (tk->status != TASK_OPEN)
		return 0;
	char (*ids)[TASK_ID_MAX] = realloc(l->ids, (l->n + 1) * sizeof(*ids));
	if (!ids)
		return -ENOMEM;
	l->ids = ids;
	memcpy(ids[l->n++], tk->id, TASK_ID_MAX);
	return 0;
}

static int task_change(store_txn *t, const char *id, task_status st, task_action act, int64_t at, const char *by,
		       const char *note, task **ret) {
	task *tk;
	int r = store_task_get(t, id, &tk);
	if (r == -EINVAL)
		r = -ENOENT;   /* not a task id: no such task */
	if (r < 0)
		return r;
	if (tk->status != TASK_OPEN) {
		task_free(tk);
		return -EALREADY;
	}
	tk->status = st;
	if ((r = task_add_step(tk, at, by, act, note)) < 0 || (r = store_task_update(t, tk)) < 0) {
		task_free(tk);
		return r;
	}
	if (ret)
		*ret = tk;
	else
		task_free(tk);
	return 0;
}

int crm_occurrence_skipped_in(store_txn *t, const char *so_id, int64_t delivery, int64_t now, const char *by) {
	if (!t || !so_id)
		return -EINVAL;
	id_list l = { 0 };
	int r = store_task_occurrence_each(t, so_id, delivery, collect_open, &l);
	for (size_t i = 0; r == 0 && i < l.n; i++)
		r = task_change(t, l.ids[i], TASK_CANCELLED, TASK_ACT_CANCELLED, now, by ? by : CRM_BY,
				"occurrence skipped", NULL);
	free(l.ids);
	return r;
}

/* ---- the due run ---- */

typedef struct due_list { store_taskq_entry *v; size_t n, max; } due_list;

static int due_collect(const store_taskq_entry *e, void *ud) {
	due_list *l = ud;
	store_taskq_entry *c = &l->v[l->n];
	*c = *e;
	c->standing_order = e->standing_order ? strdup(e->standing_order) : NULL;
	c->text = e->text ? strdup(e->text) : NULL;
	c->assignee = e->assignee ? strdup(e->assignee) : NULL;
	if ((e->standing_order && !c->standing_order) || (e->text && !c->text) || (e->assignee && !c->assignee)) {
		store_taskq_entry_done(c);
		return -ENOMEM;
	}
	l->n++;
	return 0;
}

static int due_alert(store_txn *t, const store_taskq_entry *e, int64_t now) {
	task *tk;
	int r = store_task_get(t, e->task, &tk);
	if (r == -ENOENT)
		return 0;   /* verify reports it */
	if (r < 0)
		return r;
	if (tk->status == TASK_OPEN && tk->due == e->due)
		r = emit_due(t, tk, now);
	task_free(tk);
	return r;
}

static int due_after_shipped(store_txn *t, const defs *d, const store_taskq_entry *e, int64_t now, bool *ret_made) {
	sales_order *o;
	int r = store_order_get(t, e->order, &o);
	if (r == -ENOENT || r == -EINVAL)
		return 0;
	if (r < 0)
		return r;
	const standing_order *so = d ? defs_find_order(d, e->standing_order) : NULL;
	const customer *cu = d ? defs_find_customer(d, o->customer) : NULL;
	const char *assignee = assignee_of(cu, e->assignee);
	if (assignee && o->status != ORDER_STATUS_CANCELLED) {
		char key[512];
		snprintf(key, sizeof(key), "after/%s/%s", o->number, e->hash);
		task tk = {
			.assignee = (char *) assignee, .customer = o->customer, .due = e->due, .kind = TASK_AFTER_SHIPPED,
			.order = o->number, .standing_order = e->standing_order,
			.text = task_text_for(d, assignee, so, cu, e->text, o->delivery, o),
		};
		r = tk.text ? crm_task_create_in(t, key, &tk, now, NULL) : -ENOMEM;
		if (r == 0)
			*ret_made = true;
		else if (r == -EEXIST)
			r = 0;
		free(tk.text);
		for (size_t i = 0; i < tk.n_history; i++)
			free(tk.history[i].by), free(tk.history[i].note);
		free(tk.history);
	}
	order_free(o);
	return r;
}

int crm_due_run(store *s, const defs *d, int64_t now, size_t max, size_t *ret_made, int64_t *ret_next_at,
		bool *ret_more) {
	if (!s || !max || !ret_made || !ret_next_at || !ret_more)
		return -EINVAL;
	due_list l = { .v = calloc(max + 1, sizeof(*l.v)), .max = max + 1 };
	if (!l.v)
		return -ENOMEM;
	size_t made = 0;
	int64_t next = INT64_MAX;
	store_txn *t = NULL;
	int r = store_begin(s, true, &t);
	if (r < 0)
		goto out;
	/* one more than max tells whether more are due */
	if ((r = store_taskq_each(t, now, max + 1, due_collect, &l)) < 0)
		goto out;
	for (size_t i = 0; i < l.n && i < max; i++) {
		store_taskq_entry *e = &l.v[i];
		bool one = false;
		if ((r = store_taskq_del(t, e->due, e->seq)) < 0)
			goto out;
		r = e->kind == STORE_TASKQ_ALERT ? due_alert(t, e, now) : due_after_shipped(t, d, e, now, &one);
		if (r < 0)
			goto out;
		made += one;
	}
	if ((r = store_taskq_next(t, &next)) == -ENOENT) {
		next = INT64_MAX;
		r = 0;
	}
	if (r < 0)
		goto out;
	r = store_commit(t);
	t = NULL;
	if (r < 0)
		goto out;
	*ret_made = made;
	*ret_next_at = next;
	*ret_more = l.n > max;
out:
	store_abort(t);
	for (size_t i = 0; i < l.n; i++)
		store_taskq_entry_done(&l.v[i]);
	free(l.v);
	return r;
}

/* ---- the salespeople's operations ---- */

static int in_write(store *s, store_txn **ret) {
	if (!s)
		return -EINVAL;
	return store_begin(s, true, ret);
}

static int commit_or_abort(store_txn *t, int r) {
	if (r < 0) {
		store_abort(t);
		return r;
	}
	return store_commit(t);
}

int crm_task_complete(store *s, const char *id, const char *note, int64_t now, const char *by, task **ret) {
	if (!id || !by)
		return -EINVAL;
	store_txn *t;
	int r = in_write(s, &t);
	if (r < 0)
		return r;
	task *tk = NULL;
	char *summary = NULL;
	if ((r = task_change(t, id, TASK_DONE, TASK_ACT_DONE, now, by, note, &tk)) == 0) {
		if (note && *note)
			summary = strdup(note);
		else if (asprintf(&summary, "Task %s done: %s", tk->id, tk->text) < 0)
			summary = NULL;
		interaction i = { .customer = tk->customer, .at = now, .kind = INTERACTION_NOTE,
				  .summary = summary, .author = (char *) by };
		r = summary ? store_interaction_append(t, &i) : -ENOMEM;
	}
	free(summary);
	r = commit_or_abort(t, r);
	if (r == 0 && ret)
		*ret = tk;
	else
		task_free(tk);
	return r;
}

int crm_task_snooze(store *s, const char *id, int64_t until, int64_t now, const char *by, task **ret) {
	if (!id || !by)
		return -EINVAL;
	store_txn *t;
	int r = in_write(s, &t);
	if (r < 0)
		return r;
	task *tk = NULL;
	r = store_task_get(t, id, &tk);
	if (r == -EINVAL)
		r = -ENOENT;
	if (r == 0 && tk->status != TASK_OPEN)
		r = -EALREADY;
	if (r == 0) {
		tk->due = until;
		store_taskq_entry e = { .due = until, .kind = STORE_TASKQ_ALERT };
		memcpy(e.task, tk->id, TASK_ID_MAX);
		if ((r = task_add_step(tk, now, by, TASK_ACT_SNOOZED, NULL)) == 0 && (r = store_task_update(t, tk)) == 0)
			r = store_taskq_put(t, &e);
	}
	r = commit_or_abort(t, r);
	if (r == 0 && ret)
		*ret = tk;
	else
		task_free(tk);
	return r;
}

int crm_task_add(store *s, const char *customer_id, const char *assignee, int64_t due, const char *text,
		 int64_t now, const char *by, task **ret) {
	if (!customer_id || !assignee || !text || !by)
		return -EINVAL;
	store_txn *t;
	int r = in_write(s, &t);
	if (r < 0)
		return r;
	task *tk = calloc(1, sizeof(*tk));
	if (!tk || !(tk->assignee = strdup(assignee)) || !(tk->customer = strdup(customer_id)) ||
	    !(tk->text = strdup(text)))
		r = -ENOMEM;
	else {
		tk->due = due;
		tk->kind = TASK_MANUAL;
		if ((r = task_add_step(tk, now, by, TASK_ACT_CREATED, NULL)) == 0)
			r = crm_task_create_in(t, NULL, tk, now, NULL);
	}
	r = commit_or_abort(t, r);
	if (r == 0 && ret)
		*ret = tk;
	else
		task_free(tk);
	return r;
}

int crm_task_get(store_txn *t, const char *id, task **ret) {
	int r = store_task_get(t, id, ret);
	return r == -EINVAL && t && id && ret ? -ENOENT : r;
}

typedef struct list_ctx { json_t *arr; size_t n, max; bool more; } list_ctx;

/* Appends the next view to the page (1: full, the walk stops with more set). */
static int list_add(list_ctx *l, json_t *(*view)(const void *), const void *rec) {
	if (l->n == l->max) {
		l->more = true;
		return 1;
	}
	json_t *v = view(rec);
	if (!v || json_array_append_new(l->arr, v) < 0)
		return -ENOMEM;
	l->n++;
	return 0;
}

static json_t *task_view(const void *rec) {
	return task_to_view(rec);
}

static int list_task(const task *tk, void *ud) {
	return list_add(ud, task_view, tk);
}

int crm_task_list(store_txn *t, const char *assignee, int status, int64_t due_before, const char *customer_id,
		  const char *after, size_t max, json_t *arr, bool *ret_more) {
	if (!t || !arr || !ret_more || status < -1 || status > TASK_CANCELLED)
		return -EINVAL;
	int64_t after_due = 0;
	uint64_t after_id = 0;
	if (after) {
		task *tk;
		int r = crm_task_get(t, after, &tk);
		if (r < 0)
			return r;
		after_due = tk->due;
		task_id_parse(tk->id, &after_id);
		task_free(tk);
	}
	list_ctx l = { .arr = arr, .max = max };
	int r = store_task_each(t, assignee, customer_id, status, due_before, after_due, after_id, list_task, &l);
	if (r < 0)
		return r;
	*ret_more = l.more;
	return 0;
}

/* ---- the interaction log ---- */

int crm_interaction_log_in(store_txn *t, interaction *i) {
	if (!t || !i || !i->customer || !i->summary || !i->author || (unsigned) i->kind > INTERACTION_NOTE)
		return -EINVAL;
	return store_interaction_append(t, i);
}

int crm_interaction_log(store *s, interaction *i) {
	store_txn *t;
	int r = in_write(s, &t);
	if (r < 0)
		return r;
	return commit_or_abort(t, crm_interaction_log_in(t, i));
}

static json_t *interaction_view(const void *rec) {
	return interaction_to_view(rec);
}

static int list_interaction(const interaction *i, void *ud) {
	return list_add(ud, interaction_view, i);
}

int crm_interaction_list(store_txn *t, const char *customer_id, int64_t from, int64_t to, int64_t after_at,
			 uint64_t after_seq, size_t max, bool newest_first, json_t *arr, bool *ret_more) {
	if (!t || !customer_id || !arr || !ret_more)
		return -EINVAL;
	list_ctx l = { .arr = arr, .max = max };
	int r = store_interaction_each(t, customer_id, from, to, after_at, after_seq, newest_first, list_interaction, &l);
	if (r < 0)
		return r;
	*ret_more = l.more;
	return 0;
}
