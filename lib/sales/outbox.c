/* outbox: which pending events go out next, each expanded into the line the notify
 * command reads (doc/notify.md), and what a batch's outcome does to them. The
 * pending and parked sets are the store's (outq, outpark); the in-flight set is the
 * daemon's, asked through the busy callback. Instants are Unix seconds on the
 * daemon's clock. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lib/base/jfield.h"
#include "lib/base/money.h"
#include "lib/base/text.h"
#include "lib/time/cal.h"
#include "lib/time/tz.h"
#include "lib/sales/crm.h"
#include "lib/sales/outbox.h"

/* The last error kept per event: enough for an SMTP reply, not a whole stderr. */
#define OUTBOX_ERROR_MAX 512
/* What an e-mail interaction keeps of a Subject and a Message-ID. */
#define OUTBOX_SUBJECT_MAX 1000

void outbox_batch_free(outbox_batch *b) {
	if (!b)
		return;
	for (size_t i = 0; i < b->n; i++) {
		free(b->items[i].key);
		free(b->items[i].line);
	}
	free(b->items);
	*b = (outbox_batch) { 0 };
}

/* ---- a set of ordering keys (the ones left out so far in one take) ---- */

typedef struct keyset {
	char **slot;
	size_t cap, n;
} keyset;

static uint64_t key_hash(const char *s) {
	uint64_t h = UINT64_C(14695981039346656037);
	for (; *s; s++)
		h = (h ^ (unsigned char) *s) * UINT64_C(1099511628211);
	return h;
}

static bool keyset_has(const keyset *k, const char *key) {
	if (!k->cap)
		return false;
	for (size_t i = key_hash(key) & (k->cap - 1); k->slot[i]; i = (i + 1) & (k->cap - 1))
		if (!strcmp(k->slot[i], key))
			return true;
	return false;
}

static int keyset_add(keyset *k, const char *key) {
	if (keyset_has(k, key))
		return 0;
	if (2 * (k->n + 1) > k->cap) {
		size_t cap = k->cap ? 2 * k->cap : 64;
		char **slot = calloc(cap, sizeof(*slot));
		if (!slot)
			return -ENOMEM;
		for (size_t i = 0; i < k->cap; i++)
			if (k->slot[i]) {
				size_t j = key_hash(k->slot[i]) & (cap - 1);
				while (slot[j])
					j = (j + 1) & (cap - 1);
				slot[j] = k->slot[i];
			}
		free(k->slot);
		k->slot = slot;
		k->cap = cap;
	}
	char *d = strdup(key);
	if (!d)
		return -ENOMEM;
	size_t i = key_hash(key) & (k->cap - 1);
	while (k->slot[i])
		i = (i + 1) & (k->cap - 1);
	k->slot[i] = d;
	k->n++;
	return 0;
}

static void keyset_done(keyset *k) {
	for (size_t i = 0; i < k->cap; i++)
		free(k->slot[i]);
	free(k->slot);
}

/* ---- ids ---- */

static int event_id(store_txn *t, uint64_t seq, char ret[OUTBOX_ID_MAX]) {
	char inst[STORE_INSTANCE_LEN + 1];
	int r = store_instance(store_txn_store(t), inst);
	if (r < 0)
		return r;
	snprintf(ret, OUTBOX_ID_MAX, "%s-%" PRIu64, inst, seq);
	return 0;
}

/* "INSTANCE-SEQ" of this store, or a bare SEQ. */
static int id_parse(store *s, const char *id, uint64_t *ret_seq) {
	char inst[STORE_INSTANCE_LEN + 1];
	const char *p = id;
	const char *dash = strchr(id, '-');
	if (dash) {
		int r = store_instance(s, inst);
		if (r < 0)
			return r;
		if ((size_t) (dash - id) != STORE_INSTANCE_LEN || strncmp(id, inst, STORE_INSTANCE_LEN))
			return -ENOENT;
		p = dash + 1;
	}
	uint64_t v = 0;
	if (!*p || *p == '0')
		return -ENOENT;
	for (; *p; p++) {
		if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10)
			return -ENOENT;
		v = v * 10 + (uint64_t) (*p - '0');
	}
	*ret_seq = v;
	return 0;
}

/* ---- the expanded event (doc/notify.md, "The event as the command reads it") ---- */

static json_t *iso_utc(int64_t t) {
	char buf[CAL_ISO_MAX];
	return json_string(cal_format_utc(t, buf));
}

/* The stored payload as the command reads it: instants as ISO 8601 UTC, money as
 * {"amount": "850.00", "currency": "EUR"}. Consumes nothing; a new object. */
static json_t *details_view(json_t *payload) {
	static const char *const instants[] = { "delivery", "shipped", "due", "created", NULL };
	json_t *out = json_object();
	const char *k;
	json_t *v;
	bool ok = out != NULL;
	json_object_foreach(payload, k, v) {
		json_t *nv = NULL;
		bool instant = false;
		for (size_t i = 0; instants[i]; i++)
			instant |= !strcmp(k, instants[i]);
		json_t *minor = json_object_get(v, "minor"), *cur = json_object_get(v, "currency");
		if (instant && json_is_integer(v)) {
			nv = iso_utc(json_integer_value(v));
		} else if (json_is_object(v) && json_object_size(v) == 2 && json_is_integer(minor) && json_is_string(cur)) {
			money m = { .minor = json_integer_value(minor) };
			snprintf(m.currency, sizeof(m.currency), "%s", json_string_value(cur));
			char buf[64];
			nv = json_object();
			jfield_set(nv, "amount", json_string(money_format_amount(&m, buf, sizeof(buf))), &ok);
			jfield_set(nv, "currency", json_string(m.currency), &ok);
		} else {
			nv = json_deep_copy(v);
		}
		jfield_set(out, k, nv, &ok);
	}
	if (!ok) {
		json_decref(out);
		return NULL;
	}
	return out;
}

static json_t *customer_view(const customer *cu, const char *id) {
	bool ok = true;
	json_t *j = json_object();
	jfield_set(j, "id", json_string(cu ? cu->id : id), &ok);
	jfield_set(j, "name", jfield_str_or_null(cu ? cu->name : NULL), &ok);
	jfield_set(j, "language", jfield_str_or_null(cu ? cu->language : NULL), &ok);
	jfield_set(j, "timezone", jfield_str_or_null(cu && cu->zone ? tz_zone_name(cu->zone) : NULL), &ok);
	jfield_set(j, "account_number", jfield_str_or_null(cu ? cu->account_number : NULL), &ok);
	json_t *cs = cu ? json_array() : json_null();
	for (size_t i = 0; cu && i < cu->n_contacts; i++) {
		const contact *c = &cu->contacts[i];
		json_t *o = json_object();
		jfield_set(o, "name", jfield_str_or_null(c->name), &ok);
		jfield_set(o, "role", jfield_str_or_null(c->role), &ok);
		jfield_set(o, "email", jfield_str_or_null(c->email), &ok);
		jfield_set(o, "phone", jfield_str_or_null(c->phone), &ok);
		if (!o || json_array_append_new(cs, o) < 0)
			ok = false;
	}
	jfield_set(j, "contacts", cs, &ok);
	if (!ok) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* The contact with role purchasing that has an e-mail, else the first with one. */
static json_t *recipient_view(const customer *cu) {
	const contact *best = NULL;
	for (size_t i = 0; cu && i < cu->n_contacts && !(best && best->role && !strcmp(best->role, "purchasing")); i++) {
		const contact *c = &cu->contacts[i];
		if (!c->email)
			continue;
		if (!best || (c->role && !strcmp(c->role, "purchasing")))
			best = c;
	}
	if (!best)
		return json_null();
	bool ok = true;
	json_t *j = json_object();
	jfield_set(j, "name", jfield_str_or_null(best->name), &ok);
	jfield_set(j, "role", jfield_str_or_null(best->role), &ok);
	jfield_set(j, "email", json_string(best->email), &ok);
	jfield_set(j, "phone", jfield_str_or_null(best->phone), &ok);
	if (!ok) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* The salesperson id (the customer's, or a task's assignee) from salespeople:;
 * one named in no entry there keeps the old reading: its id is its e-mail when it
 * has an '@', and it writes in the customer's language. */
static json_t *salesperson_view(const defs *d, const char *id, const customer *cu) {
	if (!id)
		return json_null();
	const salesperson *sp = defs_find_salesperson(&d->config, id);
	bool ok = true;
	json_t *j = json_object();
	jfield_set(j, "id", json_string(id), &ok);
	jfield_set(j, "name", jfield_str_or_null(sp ? sp->name : NULL), &ok);
	jfield_set(j, "email", sp ? jfield_str_or_null(sp->email) : strchr(id, '@') ? json_string(id) : json_null(), &ok);
	jfield_set(j, "language", json_string(sp ? sp->language : cu ? cu->language : "en"), &ok);
	if (!ok) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static json_t *supplier_view(const defs *d, const char *id) {
	if (!id)
		return json_null();
	const supplier *su = defs_find_supplier(d, id);
	bool ok = true;
	json_t *j = json_object();
	jfield_set(j, "id", json_string(id), &ok);
	jfield_set(j, "name", jfield_str_or_null(su ? su->name : NULL), &ok);
	if (!ok) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* RFC 3986 percent-encoding: everything but the unreserved characters. */
static char *percent_encode(const char *s) {
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(3 * strlen(s) + 1), *o = out;
	if (!out)
		return NULL;
	for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || strchr("-._~", *p)) {
			*o++ = (char) *p;
		} else {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		}
	}
	*o = '\0';
	return out;
}

/* {"id", "name", "tracking_url"} of the shipment's carrier (null when it has none). */
static json_t *carrier_view(const defs *d, const char *id, const char *tracking) {
	if (!id)
		return json_null();
	const defs_carrier *ca = defs_find_carrier(&d->config, id);
	char *url = NULL;
	if (ca && ca->tracking_url && tracking) {
		const char *at = strstr(ca->tracking_url, "{tracking}");
		char *enc = percent_encode(tracking);
		if (!enc || !at ||
		    asprintf(&url, "%.*s%s%s", (int) (at - ca->tracking_url), ca->tracking_url, enc, at + 10) < 0)
			url = NULL;
		free(enc);
		if (!url)
			return NULL;
	}
	bool ok = true;
	json_t *j = json_object();
	jfield_set(j, "id", json_string(id), &ok);
	jfield_set(j, "name", json_string(ca && ca->name ? ca->name : id), &ok);
	jfield_set(j, "tracking_url", jfield_str_or_null(url), &ok);
	free(url);
	if (!ok) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* The self-contained line of one pending event. */
static int expand(store_txn *t, const defs *d, const store_outq_entry *e, char ret_id[OUTBOX_ID_MAX],
		  char **ret_line) {
	char *type = NULL, *text = NULL;
	int64_t at;
	int r = store_outbox_get(t, e->seq, &type, &text, &at);
	if (r < 0)
		return r;
	json_t *payload = json_loads(text, 0, NULL);
	free(text);
	sales_order *o = NULL;
	task *tk = NULL;
	json_t *j = NULL;
	if (!payload) {
		r = -EBADMSG;
		goto out;
	}
	const char *number = json_string_value(json_object_get(payload, "order"));
	if (number && (r = store_order_get(t, number, &o)) < 0 && r != -ENOENT && r != -EINVAL)
		goto out;
	/* task.due: the task as it is now (a record gone is shown as null) */
	const char *task_id = !strcmp(type, TASK_EVENT_DUE) ? json_string_value(json_object_get(payload, "task")) : NULL;
	if (task_id && (r = crm_task_get(t, task_id, &tk)) < 0 && r != -ENOENT && r != -EINVAL)
		goto out;
	const char *cust_id = json_string_value(json_object_get(payload, "customer"));
	if (!cust_id && o)
		cust_id = o->customer;
	const customer *cu = cust_id ? defs_find_customer(d, cust_id) : NULL;
	if ((r = event_id(t, e->seq, ret_id)) < 0)
		goto out;
	bool shipped = !strcmp(type, ORDER_EVENT_SHIPPED);
	/* the salesperson: a task's assignee, else the customer's */
	const char *sp_id = task_id ? json_string_value(json_object_get(payload, "assignee")) : NULL;
	if (!task_id && cu)
		sp_id = cu->salesperson;
	/* a task about a standing order whose order does not exist yet: its supplier
	 * and the zone of its deliveries */
	const char *so_id = !o && task_id ? json_string_value(json_object_get(payload, "standing_order")) : NULL;
	const standing_order *so = so_id ? defs_find_order(d, so_id) : NULL;
	const char *zone = o ? o->zone : so && so->rule.zone ? tz_zone_name(so->rule.zone) : NULL;
	bool ok = true;
	j = json_object();
	jfield_set(j, "id", json_string(ret_id), &ok);
	jfield_set(j, "seq", json_integer((json_int_t) e->seq), &ok);
	jfield_set(j, "type", json_string(type), &ok);
	jfield_set(j, "at", iso_utc(at), &ok);
	jfield_set(j, "attempt", json_integer((json_int_t) e->attempts + 1), &ok);
	jfield_set(j, "customer", cust_id ? customer_view(cu, cust_id) : json_null(), &ok);
	jfield_set(j, "recipient", recipient_view(cu), &ok);
	jfield_set(j, "salesperson", salesperson_view(d, sp_id, cu), &ok);
	jfield_set(j, "supplier", supplier_view(d, o ? o->supplier : so ? so->supplier : NULL), &ok);
	jfield_set(j, "order", o ? order_to_view(o) : json_null(), &ok);
	jfield_set(j, "delivery_zone", jfield_str_or_null(zone), &ok);
	jfield_set(j, "carrier", shipped ? carrier_view(d, json_string_value(json_object_get(payload, "carrier")),
							json_string_value(json_object_get(payload, "tracking")))
				   : json_null(), &ok);
	jfield_set(j, "details", details_view(payload), &ok);
	if (task_id)
		jfield_set(j, "task", tk ? task_to_view(tk) : json_null(), &ok);
	if (!ok) {
		r = -ENOMEM;
		goto out;
	}
	char *line = json_dumps(j, JSON_COMPACT);
	if (!line) {
		r = -ENOMEM;
		goto out;
	}
	*ret_line = line;
	r = 0;
out:
	json_decref(j);
	json_decref(payload);
	order_free(o);
	task_free(tk);
	free(type);
	return r;
}

/* ---- outbox_take ---- */

typedef struct take_ctx {
	store_txn *t;
	const defs *d;
	int64_t now;
	size_t max, scan_max, scanned;
	outbox_busy_fn busy;
	void *ud;
	keyset held;            /* keys with an earlier pending event left out, or taken */
	outbox_batch b;
	int64_t next_at;
} take_ctx;

static int take_one(const store_outq_entry *e, void *ud) {
	take_ctx *c = ud;
	if (c->b.n >= c->max || c->scanned >= c->scan_max)
		return 1;
	c->scanned++;
	if (keyset_has(&c->held, e->key))
		return 0;
	int r = keyset_add(&c->held, e->key);
	if (r < 0)
		return r;
	if (c->busy && c->busy(c->ud, e->key))
		return 0;
	if (e->next_at != INT64_MIN && e->next_at > c->now) {
		if (e->next_at < c->next_at)
			c->next_at = e->next_at;
		return 0;
	}
	outbox_item it = { .seq = e->seq };
	if (!(it.key = strdup(e->key)))
		return -ENOMEM;
	if ((r = expand(c->t, c->d, e, it.id, &it.line)) < 0) {
		free(it.key);
		return r;
	}
	c->b.items[c->b.n++] = it;
	return 0;
}

int outbox_take(store *s, const defs *d, int64_t now, size_t max, size_t scan_max, outbox_busy_fn busy,
		void *ud, outbox_batch *ret, int64_t *ret_next_at) {
	if (!s || !d || !ret || !ret_next_at || max > OUTBOX_BATCH_MAX)
		return -EINVAL;
	take_ctx c = { .d = d, .now = now, .max = max, .scan_max = scan_max, .busy = busy, .ud = ud,
		       .next_at = INT64_MAX };
	if (max && !(c.b.items = calloc(max, sizeof(*c.b.items))))
		return -ENOMEM;
	int r = store_begin(s, false, &c.t);
	if (r == 0) {
		r = max ? store_outq_each(c.t, false, 0, take_one, &c) : 0;
		store_abort(c.t);
	}
	keyset_done(&c.held);
	if (r < 0) {
		outbox_batch_free(&c.b);
		return r;
	}
	if (!c.b.n) {
		free(c.b.items);
		c.b.items = NULL;
	}
	*ret = c.b;
	*ret_next_at = c.next_at;
	return 0;
}

/* ---- outbox_done ---- */

/* splitmix64: one well-mixed draw per event from the caller's one random number. */
static uint64_t mix(uint64_t x) {
	x += UINT64_C(0x9E3779B97F4A7C15);
	x = (x ^ (x >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	x = (x ^ (x >> 27)) * UINT64_C(0x94D049BB133111EB);
	return x ^ (x >> 31);
}

int64_t outbox_backoff(uint32_t k, uint64_t seq, uint64_t rnd) {
	int64_t base = OUTBOX_BACKOFF_MAX;
	if (k >= 1 && k <= 20) {
		base = (int64_t) OUTBOX_BACKOFF_MIN << (k - 1);
		if (base > OUTBOX_BACKOFF_MAX)
			base = OUTBOX_BACKOFF_MAX;
	}
	return base + (int64_t) (mix(rnd ^ seq) % (uint64_t) (base / 4 + 1));
}

/* The command's text as it is kept: control characters as spaces, cut (on a
 * character boundary) at max bytes; invalid UTF-8 as '?'. */
static char *text_clean(const char *s, size_t max) {
	size_t full = strlen(s), n = full < max ? full : max;
	char *d = malloc(n + 1);
	if (!d)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		uint32_t cp = 0;
		size_t len = text_utf8_seq(s + i, n - i, &cp);
		if (!len) {
			if (text_utf8_seq(s + i, full - i, NULL))
				break;   /* cut inside a character */
			d[o++] = '?';
			i++;
		} else if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F)) {
			d[o++] = ' ';
			i += len;
		} else {
			memcpy(d + o, s + i, len);
			o += len;
			i += len;
		}
	}
	d[o] = '\0';
	return d;
}

/* The e-mail a delivered event sent its customer, in the customer's interaction
 * log (doc/crm.md, "E-mail interactions"). An event with no customer logs none. */
static int log_email(store_txn *t, const outbox_result *res, int64_t now) {
	char *type = NULL, *text = NULL;
	int r = store_outbox_get(t, res->seq, &type, &text, NULL);
	if (r < 0)
		return r;
	json_t *payload = json_loads(text, 0, NULL);
	free(text);
	free(type);
	if (!payload)
		return -EBADMSG;
	sales_order *o = NULL;
	const char *cust = json_string_value(json_object_get(payload, "customer"));
	const char *number = json_string_value(json_object_get(payload, "order"));
	if (!cust && number && (r = store_order_get(t, number, &o)) < 0 && r != -ENOENT && r != -EINVAL)
		goto out;
	if (!cust && o)
		cust = o->customer;
	r = 0;
	if (cust) {
		/* as text the log can hold: a bad byte must not keep the delivery from
		 * being recorded (the mail would go again and again) */
		char *subject = text_clean(res->subject, OUTBOX_SUBJECT_MAX);
		char *mid = text_clean(res->message_id, OUTBOX_SUBJECT_MAX);
		interaction i = { .customer = (char *) cust, .at = now, .kind = INTERACTION_EMAIL, .summary = subject,
				  .author = (char *) "standingd", .message_id = mid };
		r = subject && mid ? crm_interaction_log_in(t, &i) : -ENOMEM;
		free(subject);
		free(mid);
	}
out:
	order_free(o);
	json_decref(payload);
	return r;
}

static int done_one(store_txn *t, const outbox_result *res, int64_t now, uint32_t max_attempts, uint64_t rnd) {
	store_outq_entry e;
	int r = store_outq_get(t, false, res->seq, &e);
	if (r == -ENOENT)
		return 0;   /* delivered meanwhile, or parked: nothing to record */
	if (r < 0)
		return r;
	if (res->outcome == OUTBOX_DELIVERED) {
		if ((r = store_outq_del(t, false, res->seq)) == 0 && res->message_id && res->subject)
			r = log_email(t, res, now);
		goto out;
	}
	if (res->error) {
		char *err = text_clean(res->error, OUTBOX_ERROR_MAX);
		if (!err) {
			r = -ENOMEM;
			goto out;
		}
		free(e.last_error);
		e.last_error = err;
	}
	if (e.attempts < UINT32_MAX)
		e.attempts++;
	if (res->outcome == OUTBOX_PERMANENT || e.attempts >= max_attempts) {
		e.parked_at = now;
		if ((r = store_outq_del(t, false, res->seq)) == 0)
			r = store_outq_put(t, true, &e);
		goto out;
	}
	int64_t wait = outbox_backoff(e.attempts, e.seq, rnd);
	e.next_at = now > INT64_MAX - wait ? INT64_MAX : now + wait;
	r = store_outq_put(t, false, &e);
out:
	store_outq_entry_done(&e);
	return r;
}

int outbox_done(store *s, const outbox_result *r, size_t n, int64_t now, uint32_t max_attempts, uint64_t rnd) {
	if (!s || (n && !r) || max_attempts < 1)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (r[i].outcome != OUTBOX_DELIVERED && r[i].outcome != OUTBOX_FAILED && r[i].outcome != OUTBOX_PERMANENT)
			return -EINVAL;
	store_txn *t;
	int rc = store_begin(s, true, &t);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = done_one(t, &r[i], now, max_attempts, rnd);
	if (rc < 0) {
		store_abort(t);
		return rc;
	}
	return store_commit(t);
}

/* ---- stats, list, retry ---- */

int outbox_stats_get(store_txn *t, outbox_stats *ret) {
	if (!t || !ret)
		return -EINVAL;
	outbox_stats st = { .oldest_pending_at = INT64_MAX };
	int r = store_outq_counts(t, &st.pending, &st.parked);
	if (r < 0)
		return r;
	store_outq_entry e;
	if ((r = store_outq_first(t, &e)) == 0) {
		r = store_outbox_get(t, e.seq, NULL, NULL, &st.oldest_pending_at);
		store_outq_entry_done(&e);
	}
	if (r < 0 && r != -ENOENT)
		return r;
	*ret = st;
	return 0;
}

typedef struct list_ctx {
	store_txn *t;
	bool parked;
	size_t max, n;
	json_t *arr;
	bool more;
} list_ctx;

static int list_one(const store_outq_entry *e, void *ud) {
	list_ctx *c = ud;
	if (c->n == c->max) {
		c->more = true;
		return 1;
	}
	char id[OUTBOX_ID_MAX], *type = NULL, *text = NULL;
	int64_t at;
	int r = event_id(c->t, e->seq, id);
	if (r < 0 || (r = store_outbox_get(c->t, e->seq, &type, &text, &at)) < 0)
		return r;
	json_t *payload = json_loads(text, 0, NULL);
	free(text);
	const char *number = json_string_value(json_object_get(payload, "order"));
	const char *cust = json_string_value(json_object_get(payload, "customer"));
	/* task.due: the task it is about (its ordering key is task:ID, doc/notify.md) */
	const char *task_id = !strcmp(type, TASK_EVENT_DUE) ? json_string_value(json_object_get(payload, "task")) : NULL;
	sales_order *o = NULL;
	if (!cust && number && (r = store_order_get(c->t, number, &o)) < 0 && r != -ENOENT && r != -EINVAL) {
		json_decref(payload);
		free(type);
		return r;
	}
	if (!cust && o)
		cust = o->customer;
	bool ok = payload != NULL;
	json_t *j = json_object();
	jfield_set(j, "id", json_string(id), &ok);
	jfield_set(j, "seq", json_integer((json_int_t) e->seq), &ok);
	jfield_set(j, "type", json_string(type), &ok);
	jfield_set(j, "at", iso_utc(at), &ok);
	jfield_set(j, "order", jfield_str_or_null(number), &ok);
	jfield_set(j, "customer", jfield_str_or_null(cust), &ok);
	jfield_set(j, "task", jfield_str_or_null(task_id), &ok);
	jfield_set(j, "attempts", json_integer(e->attempts), &ok);
	jfield_set(j, "next_attempt", c->parked || e->next_at == INT64_MIN ? json_null() : iso_utc(e->next_at), &ok);
	jfield_set(j, "last_error", jfield_str_or_null(e->last_error), &ok);
	jfield_set(j, "parked", json_boolean(c->parked), &ok);
	jfield_set(j, "parked_at", c->parked ? iso_utc(e->parked_at) : json_null(), &ok);
	order_free(o);
	json_decref(payload);
	free(type);
	if (!ok || json_array_append_new(c->arr, j) < 0)
		return -ENOMEM;
	c->n++;
	return 0;
}

int outbox_list(store_txn *t, bool parked, uint64_t after_seq, size_t max, json_t *arr, bool *ret_more) {
	if (!t || !json_is_array(arr) || !ret_more)
		return -EINVAL;
	list_ctx c = { .t = t, .parked = parked, .max = max, .arr = arr };
	int r = store_outq_each(t, parked, after_seq, list_one, &c);
	if (r < 0)
		return r;
	*ret_more = c.more;
	return 0;
}

typedef struct seqv {
	uint64_t *v;
	size_t n, cap;
} seqv;

static int collect_seq(const store_outq_entry *e, void *ud) {
	seqv *c = ud;
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 64;
		uint64_t *v = realloc(c->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		c->v = v;
		c->cap = cap;
	}
	c->v[c->n++] = e->seq;
	return 0;
}

static int retry_one(store_txn *t, uint64_t seq, int64_t now) {
	store_outq_entry e;
	int r = store_outq_get(t, true, seq, &e);
	if (r < 0)
		return r;
	e.attempts = 0;
	e.next_at = now;
	e.parked_at = 0;
	if ((r = store_outq_del(t, true, seq)) == 0)
		r = store_outq_put(t, false, &e);
	store_outq_entry_done(&e);
	return r;
}

int outbox_retry(store *s, const char *id, int64_t now, uint64_t *ret_n) {
	if (!s || !ret_n)
		return -EINVAL;
	uint64_t seq = 0, n = 0;
	int r = id ? id_parse(s, id, &seq) : 0;
	if (r < 0)
		return r;
	store_txn *t;
	if ((r = store_begin(s, true, &t)) < 0)
		return r;
	if (id) {
		r = retry_one(t, seq, now);
		n = r == 0;
	} else {
		/* collected first: the moves must not run under the walk's cursor */
		seqv c = { 0 };
		r = store_outq_each(t, true, 0, collect_seq, &c);
		for (size_t i = 0; r == 0 && i < c.n; i++)
			if ((r = retry_one(t, c.v[i], now)) == 0)
				n++;
		free(c.v);
	}
	if (r < 0) {
		store_abort(t);
		return r;
	}
	if ((r = store_commit(t)) < 0)
		return r;
	*ret_n = n;
	return 0;
}
