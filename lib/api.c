/* Handlers are short-lived: each opens its own store transaction, builds its
 * reply with jansson and sends it through the vl_call_ctx. Dates in requests are
 * local midnights in the zone of each delivery, the same convention as the
 * forecast, so a supplier's "2027-01-01" means the same day everywhere. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api.h"
#include "api_idl.h"
#include "cal.h"
#include "config.h"
#include "forecast.h"
#include "peer.h"
#include "text.h"
#include "yamltree.h"

#define MAX_WINDOW_DAYS 400
#define CHUNK 100
/* Items one call may return: a reply is built whole before it is sent, so this
 * bounds the daemon's memory and the loop's time per request (about 9 MB of JSON). */
#define MAX_ITEMS 20000

/* ---- small helpers ---- */

static json_t *jstr_or_null(const char *s) {
	return s ? json_string(s) : json_null();
}

static json_t *address_json(const address *a) {
	return json_pack("{s:s?, s:s?, s:o, s:s?, s:s?}", "name", a->name, "street", a->street,
			 "postcode", jstr_or_null(a->postcode), "city", a->city, "country", a->country);
}

static json_t *lines_json(const order_line *lines, size_t n) {
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++) {
		char amount[32];
		money_format_amount(&lines[i].unit_price, amount, sizeof(amount));
		json_array_append_new(a, json_pack("{s:s, s:I, s:s, s:s}", "sku", lines[i].sku,
			"quantity", (json_int_t) lines[i].quantity, "unit_price", amount,
			"currency", lines[i].unit_price.currency));
	}
	return a;
}

static json_t *order_json(const sales_order *o) {
	char delivery[CAL_ISO_MAX], created[CAL_ISO_MAX], shipped[CAL_ISO_MAX], amount[32];
	cal_format_instant(o->delivery, o->delivery_offset, delivery);
	cal_format_utc(o->created, created);
	money_format_amount(&o->total, amount, sizeof(amount));
	return json_pack("{s:s, s:o, s:s, s:s, s:o, s:o, s:{s:s, s:s}, s:s, s:s, s:s, s:s, s:b, s:o, s:o, s:o}",
		"order", o->number, "standing_order", jstr_or_null(o->standing_order),
		"customer", o->customer, "supplier", o->supplier,
		"ship_to", address_json(&o->ship_to), "lines", lines_json(o->lines, o->n_lines),
		"total", "amount", amount, "currency", o->total.currency,
		"delivery", delivery, "created", created,
		"payment", o->payment == PAYMENT_PREPAID ? "prepaid" : "account",
		"status", order_status_name(o->status), "late", o->late,
		"carrier", jstr_or_null(o->carrier), "tracking", jstr_or_null(o->tracking),
		"shipped", o->shipped ? json_string(cal_format_utc(o->shipped, shipped)) : json_null());
}

/* vl_reply/vl_error borrow their parameters; these take ownership. */
static int error_new(vl_call_ctx *ctx, const char *name, json_t *params) {
	int r = vl_error(ctx, name, params);
	json_decref(params);
	return r;
}

static int reply_new(vl_call_ctx *ctx, json_t *params) {
	int r = vl_reply(ctx, params, false);
	json_decref(params);
	return r;
}

/* errno on the wire is positive, as errno(3) numbers are: varlink encodes it. */
static int internal(vl_call_ctx *ctx, int err) {
	return vl_internal_error(ctx, err);
}

/* A text parameter that breaks the text rule: a field error in errs. */
static bool text_ok(diag_list *errs, const char *field, const char *s) {
	char msg[TEXT_MSG_MAX];
	if (text_check(s, strlen(s), msg) == 0)
		return true;
	diag_add(errs, field, 0, 0, "%s", msg);
	return false;
}

/* A window bound: a date (local midnight in each delivery's zone) or an instant. */
typedef struct bound {
	bool is_date;
	int64_t day, instant;
} bound;

static int parse_bound(const char *s, bound *ret) {
	if (cal_parse_date(s, &ret->day) == 0) {
		ret->is_date = true;
		return 0;
	}
	ret->is_date = false;
	return cal_parse_instant(s, &ret->instant);
}

static int64_t bound_at(const bound *b, const tz_zone *z) {
	return b->is_date ? tz_from_local(z, b->day * CAL_SECS_PER_DAY) : b->instant;
}

/* Reads from/to (required unless optional) and checks the window. 1 both present,
 * 0 absent (optional), -EINVAL replied. */
static int window_params(vl_call_ctx *ctx, json_t *params, bool required, bound *from, bound *to) {
	const char *f = NULL, *t = NULL;
	int r;
	if ((r = vl_param_string(ctx, params, "from", required, &f)) < 0 ||
	    (r = vl_param_string(ctx, params, "to", required, &t)) < 0)
		return r;
	if (!f && !t)
		return 0;
	if (!f || parse_bound(f, from) < 0)
		return vl_invalid_parameter(ctx, "from");
	if (!t || parse_bound(t, to) < 0)
		return vl_invalid_parameter(ctx, "to");
	int64_t a = from->is_date ? from->day * CAL_SECS_PER_DAY : from->instant;
	int64_t b = to->is_date ? to->day * CAL_SECS_PER_DAY : to->instant;
	if (b <= a || b - a > MAX_WINDOW_DAYS * CAL_SECS_PER_DAY)
		return vl_invalid_parameter(ctx, "to");
	return 1;
}

static peer_role role_of(vl_call_ctx *ctx, api_env *env) {
	return peer_role_of(vl_call_ctx_caller(ctx), &env->defs->config, env->self_uid);
}

/* Replies with items (an array we own) under key, in chunks when the call set more. */
static int reply_list(vl_call_ctx *ctx, const char *key, json_t *items) {
	int r = 0;
	if (vl_call_ctx_more(ctx) && json_array_size(items) > CHUNK) {
		size_t n = json_array_size(items);
		for (size_t i = 0; i < n && r == 0; i += CHUNK) {
			json_t *chunk = json_array();
			for (size_t k = i; k < n && k < i + CHUNK; k++)
				json_array_append(chunk, json_array_get(items, k));
			json_t *p = json_pack("{s:o}", key, chunk);
			r = vl_reply(ctx, p, i + CHUNK < n);
			json_decref(p);
		}
	} else {
		json_t *p = json_pack("{s:O}", key, items);
		r = reply_new(ctx, p);
	}
	json_decref(items);
	return r;
}

/* ---- authorisation ---- */

/* The shop role reaches only what shop users placed (README, Access control):
 * one-time orders they placed, standing orders they placed through the API, and
 * the orders those standing orders created. Ops reach everything. */
static bool shop_only(peer_role r) {
	return (r.flags & ROLE_SHOP) && !(r.flags & ROLE_OPS);
}

static bool placed_by_shop(const char *placed_by) {
	return placed_by && !strncmp(placed_by, "shop:", 5);
}

static bool shop_order(api_env *env, const sales_order *o) {
	if (placed_by_shop(o->placed_by))
		return true;
	const standing_order *so = o->standing_order ? defs_find_order(env->defs, o->standing_order) : NULL;
	return so && placed_by_shop(so->placed_by);
}

/* "shop:alice", "ops:root" (the uid when the user has no name). */
static void placer_of(vl_call_ctx *ctx, peer_role r, char buf[96]) {
	const peer *p = vl_call_ctx_caller(ctx);
	const char *role = r.flags & ROLE_OPS ? "ops" : "shop";
	if (p->user[0])
		snprintf(buf, 96, "%s:%s", role, p->user);
	else
		snprintf(buf, 96, "%s:%u", role, (unsigned) p->uid);
}

static int denied(vl_call_ctx *ctx) {
	return vl_error(ctx, "io.standingd.PermissionDenied", NULL);
}

static int authorize(void *caller, const char *interface, const char *method, void *ud) {
	api_env *env = ud;
	(void) method;
	peer_role r = peer_role_of(caller, &env->defs->config, env->self_uid);
	if (r.flags & ROLE_OPS)
		return 0;
	if ((r.flags & ROLE_SUPPLIER) && !strcmp(interface, "io.standingd.Supplier"))
		return 0;
	if ((r.flags & ROLE_SHOP) && !strcmp(interface, "io.standingd.Orders"))
		return 0;
	return -EPERM;
}

/* ---- io.standingd.Supplier ---- */

typedef struct shipment {
	int64_t delivery;
	const char *so;      /* sort key */
	char number[ORDER_NUMBER_MAX];
	json_t *j;
} shipment;

typedef struct shipments {
	shipment *v;
	size_t n, cap;
} shipments;

static int shipments_push(shipments *s, int64_t delivery, const char *so, const char *number, json_t *j) {
	if (!j)
		return -ENOMEM;
	if (s->n >= MAX_ITEMS) {
		json_decref(j);
		return -E2BIG;
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		shipment *v = realloc(s->v, cap * sizeof(*v));
		if (!v) {
			json_decref(j);
			return -ENOMEM;
		}
		s->v = v;
		s->cap = cap;
	}
	shipment *x = &s->v[s->n++];
	x->delivery = delivery;
	x->so = so ? so : "";
	snprintf(x->number, sizeof(x->number), "%s", number ? number : "");
	x->j = j;
	return 0;
}

static int cmp_shipment(const void *a, const void *b) {
	const shipment *x = a, *y = b;
	if (x->delivery != y->delivery)
		return x->delivery < y->delivery ? -1 : 1;
	int c = strcmp(x->so, y->so);
	return c ? c : strcmp(x->number, y->number);
}

typedef struct upcoming_ctx {
	api_env *env;
	const char *supplier;
	bound from, to;
	shipments out;
	int err;
} upcoming_ctx;

static const tz_zone *zone_named(api_env *env, const char *name) {
	const tz_zone *z;
	if (!name || tz_db_get(env->defs->tz, name, &z) < 0)
		tz_db_get(env->defs->tz, "UTC", &z);
	return z;
}

static const char *customer_name(api_env *env, const char *id) {
	const customer *c = defs_find_customer(env->defs, id);
	return c ? c->name : id;
}

static int upcoming_order(const sales_order *o, void *ud) {
	upcoming_ctx *u = ud;
	if (o->status == ORDER_CANCELLED || (u->supplier && strcmp(o->supplier, u->supplier)))
		return 0;
	const tz_zone *z = zone_named(u->env, o->zone);
	if (o->delivery < bound_at(&u->from, z) || o->delivery >= bound_at(&u->to, z))
		return 0;
	char local[CAL_ISO_MAX], utc[CAL_ISO_MAX];
	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:s, s:o, s:o, s:o, s:o}",
		"delivery", cal_format_instant(o->delivery, o->delivery_offset, local),
		"delivery_utc", cal_format_utc(o->delivery, utc),
		"status", order_status_name(o->status), "order", o->number,
		"standing_order", jstr_or_null(o->standing_order),
		"customer", o->customer, "customer_name", customer_name(u->env, o->customer),
		"supplier", o->supplier, "ship_to", address_json(&o->ship_to),
		"lines", lines_json(o->lines, o->n_lines),
		"carrier", jstr_or_null(o->carrier), "tracking", jstr_or_null(o->tracking));
	const standing_order *so = o->standing_order ? defs_find_order(u->env->defs, o->standing_order) : NULL;
	int r = shipments_push(&u->out, o->delivery, so ? so->id : "", o->number, j);
	return r < 0 ? r : 0;
}

typedef struct projected_ctx {
	upcoming_ctx *u;
	const standing_order *so;
	store_txn *t;
	int64_t watermark;
} projected_ctx;

static int upcoming_projected(const occurrence *o, void *ud) {
	projected_ctx *p = ud;
	char number[ORDER_NUMBER_MAX];
	if (o->delivery <= p->watermark)
		return 0;   /* created (listed from the store) or skipped */
	int r = store_occurrence_get(p->t, p->so->id, o->delivery, number);
	if (r == 0)
		return 0;
	if (r != -ENOENT)
		return r;
	if ((r = store_skip_get(p->t, p->so->id, o->delivery, NULL)) == 0)
		return 0;
	if (r != -ENOENT)
		return r;
	const standing_order *so = p->so;
	char local[CAL_ISO_MAX], utc[CAL_ISO_MAX];
	json_t *j = json_pack("{s:s, s:s, s:s, s:n, s:s, s:s, s:s, s:s, s:o, s:o, s:n, s:n}",
		"delivery", cal_format_instant(o->delivery, tz_offset_at(so->rule.zone, o->delivery), local),
		"delivery_utc", cal_format_utc(o->delivery, utc), "status", "projected", "order",
		"standing_order", so->id, "customer", so->customer->id, "customer_name", so->customer->name,
		"supplier", so->supplier, "ship_to", address_json(&so->ship_to),
		"lines", lines_json(so->lines, so->n_lines), "carrier", "tracking");
	return shipments_push(&p->u->out, o->delivery, so->id, "", j);
}

static int list_upcoming(vl_call_ctx *ctx, json_t *params, void *userdata) {
	api_env *env = userdata;
	static const char *const allowed[] = { "from", "to", "supplier", NULL };
	upcoming_ctx u = { .env = env };
	int r;
	if ((r = vl_params_check(ctx, params, allowed)) < 0 || (r = window_params(ctx, params, true, &u.from, &u.to)) < 0 ||
	    (r = vl_param_string(ctx, params, "supplier", false, &u.supplier)) < 0)
		return r;
	peer_role role = role_of(ctx, env);
	if (!(role.flags & ROLE_OPS)) {
		/* a supplier's user always gets its own shipments, and only those */
		if (u.supplier && strcmp(u.supplier, role.supplier->id))
			return vl_error(ctx, "io.standingd.PermissionDenied", NULL);
		u.supplier = role.supplier->id;
	} else if (u.supplier && !defs_find_supplier(env->defs, u.supplier))
		return vl_invalid_parameter(ctx, "supplier");

	store_txn *t;
	if ((r = store_begin(env->store, false, &t)) < 0)
		return internal(ctx, r);
	/* Orders: a day's margin either side covers every zone's midnight. */
	int64_t lo = (u.from.is_date ? u.from.day * CAL_SECS_PER_DAY : u.from.instant) - 2 * CAL_SECS_PER_DAY;
	int64_t hi = (u.to.is_date ? u.to.day * CAL_SECS_PER_DAY : u.to.instant) + 2 * CAL_SECS_PER_DAY;
	r = store_order_each(t, lo, hi, upcoming_order, &u);
	for (size_t i = 0; r >= 0 && i < env->defs->n_orders; i++) {
		const standing_order *so = &env->defs->orders[i];
		if (so->rule.paused || (u.supplier && strcmp(so->supplier, u.supplier)))
			continue;
		sched_state st = { .watermark = INT64_MIN };
		if ((r = store_sched_get(t, so->id, &st)) == -ENOENT)
			r = 0;
		if (r < 0)
			break;
		projected_ctx p = { .u = &u, .so = so, .t = t, .watermark = st.watermark };
		r = rule_each(&so->rule, bound_at(&u.from, so->rule.zone), bound_at(&u.to, so->rule.zone),
			      upcoming_projected, &p);
	}
	store_abort(t);
	if (r >= 0 && u.out.n)
		qsort(u.out.v, u.out.n, sizeof(*u.out.v), cmp_shipment);
	json_t *items = json_array();
	for (size_t i = 0; i < u.out.n; i++)
		json_array_append_new(items, u.out.v[i].j);
	free(u.out.v);
	if (r == -E2BIG) {
		json_decref(items);
		return error_new(ctx, "io.standingd.Supplier.TooManyShipments", json_pack("{s:i}", "limit", MAX_ITEMS));
	}
	if (r < 0) {
		json_decref(items);
		return internal(ctx, r);
	}
	return reply_list(ctx, "shipments", items);
}

/* Opens a transaction and fetches an order: 0 with both, or (after replying) 1 or
 * a negative errno. */
static int order_param(vl_call_ctx *ctx, api_env *env, json_t *params, bool write, store_txn **ret_t,
		       sales_order **ret_o, const char *error_iface) {
	const char *number;
	int r = vl_param_string(ctx, params, "order", true, &number);
	if (r < 0)
		return r;
	uint64_t seq;
	if (order_number_parse(number, &seq) < 0)
		return vl_invalid_parameter(ctx, "order");
	if ((r = store_begin(env->store, write, ret_t)) < 0) {
		r = internal(ctx, r);
		return r < 0 ? r : 1;
	}
	r = store_order_get(*ret_t, number, ret_o);
	if (r == -ENOENT || r == -EINVAL) {
		store_abort(*ret_t);
		char err[96];
		snprintf(err, sizeof(err), "%s.OrderNotFound", error_iface);
		r = error_new(ctx, err, json_pack("{s:s}", "order", number));
		return r < 0 ? r : 1;
	}
	if (r < 0) {
		store_abort(*ret_t);
		r = internal(ctx, r);
		return r < 0 ? r : 1;
	}
	return 0;
}

static int mark_shipped(vl_call_ctx *ctx, json_t *params, void *userdata) {
	api_env *env = userdata;
	static const char *const allowed[] = { "order", "carrier", "tracking", NULL };
	const char *carrier, *tracking;
	int r;
	if ((r = vl_params_check(ctx, params, allowed)) < 0 ||
	    (r = vl_param_string(ctx, params, "carrier", true, &carrier)) < 0 ||
	    (r = vl_param_string(ctx, params, "tracking", true, &tracking)) < 0)
		return r;
	char msg[TEXT_MSG_MAX];
	if (!*carrier || text_check(carrier, strlen(carrier), msg) < 0)
		return vl_invalid_parameter(ctx, "carrier");
	if (!*tracking || text_check(tracking, strlen(tracking), msg) < 0)
		return vl_invalid_parameter(ctx, "tracking");
	store_txn *t;
	sales_order *o;
	if ((r = order_param(ctx, env, params, true, &t, &o, "io.standingd.Supplier")) != 0)
		return r < 0 ? r : 0;
	peer_role role = role_of(ctx, env);
	if (!(role.flags & ROLE_OPS) && strcmp(o->supplier, role.supplier->id)) {
		/* another supplier's order: as if it did not exist */
		r = error_new(ctx, "io.standingd.Supplier.OrderNotFound", json_pack("{s:s}", "order", o->number));
		goto out;
	}
	if (o->status == ORDER_CANCELLED) {
		r = error_new(ctx, "io.standingd.Supplier.OrderCancelled", json_pack("{s:s}", "order", o->number));
		goto out;
	}
	if (o->status == ORDER_SHIPPED) {
		if (!strcmp(o->carrier ? o->carrier : "", carrier) && !strcmp(o->tracking ? o->tracking : "", tracking))
			r = reply_new(ctx, json_pack("{s:o}", "order", order_json(o)));
		else
			r = error_new(ctx, "io.standingd.Supplier.AlreadyShipped", json_pack("{s:s, s:s, s:s}",
				"order", o->number, "carrier", o->carrier ? o->carrier : "", "tracking", o->tracking ? o->tracking : ""));
		goto out;
	}
	free(o->carrier);
	free(o->tracking);
	o->carrier = strdup(carrier);
	o->tracking = strdup(tracking);
	o->status = ORDER_SHIPPED;
	o->shipped = env->now(env->ud);
	json_t *ev = json_pack("{s:s, s:o, s:s, s:s, s:s, s:I}", "order", o->number,
			       "standing_order", jstr_or_null(o->standing_order), "supplier", o->supplier,
			       "carrier", carrier, "tracking", tracking, "shipped", (json_int_t) o->shipped);
	char *payload = json_dumps(ev, JSON_COMPACT);
	json_decref(ev);
	if (!o->carrier || !o->tracking || !payload)
		r = -ENOMEM;
	else if ((r = store_order_update(t, o)) == 0 &&
		 (r = store_outbox_append(t, "order.shipped", payload, o->shipped)) == 0) {
		r = store_commit(t);
		t = NULL;
	}
	free(payload);
	if (r < 0)
		r = internal(ctx, r);
	else {
		json_t *p = json_pack("{s:o}", "order", order_json(o));
		r = reply_new(ctx, p);
	}
out:
	store_abort(t);
	sales_order_free(o);
	return r;
}

/* ---- io.standingd.Orders ---- */

/* Diags to [{field, message}]: API definitions are wrapped as standing_orders[0]. */
static json_t *field_errors(const diag_list *diags, const char *prefix) {
	json_t *a = json_array();
	size_t pl = prefix ? strlen(prefix) : 0;
	for (size_t i = 0; i < diags->n; i++) {
		const diag *d = &diags->v[i];
		const char *field = d->file ? d->file : "";
		char buf[512];
		if (d->line > 0) {
			snprintf(buf, sizeof(buf), "%s:%d:%d", field, d->line, d->col);
			field = buf;
		} else if (pl && !strncmp(field, prefix, pl)) {
			field += pl;
			if (*field == '.')
				field++;
		}
		json_array_append_new(a, json_pack("{s:s, s:s}", "field", field, "message", d->msg));
	}
	return a;
}

static int place_standing_order(vl_call_ctx *ctx, json_t *params, void *userdata) {
	api_env *env = userdata;
	static const char *const allowed[] = { "definition", NULL };
	json_t *def;
	int r;
	if ((r = vl_params_check(ctx, params, allowed)) < 0 ||
	    (r = vl_param_object(ctx, params, "definition", true, &def)) < 0)
		return r;
	json_t *jid = json_object_get(def, "id");
	if (jid && !json_is_string(jid)) {
		/* The loader would read 5 as the id "5", but the reply and the API file's
		 * name need the id as a string: refuse it here, like any invalid field. */
		diag_list bad = { 0 };
		diag_add(&bad, "id", 0, 0, "expected a string");
		r = error_new(ctx, "io.standingd.Orders.InvalidDefinition", json_pack("{s:o}", "errors", field_errors(&bad, NULL)));
		diag_list_clear(&bad);
		return r;
	}
	const char *id = json_string_value(jid);
	peer_role role = role_of(ctx, env);
	const standing_order *old = id ? defs_find_order(env->defs, id) : NULL;
	if (old && shop_only(role) && !placed_by_shop(old->placed_by))
		return denied(ctx);
	/* who placed it first stays on record when it is replaced */
	char placer[96];
	if (old && old->placed_by)
		snprintf(placer, sizeof(placer), "%s", old->placed_by);
	else
		placer_of(ctx, role, placer);
	json_t *wrapped = json_pack("{s:[O], s:s}", "standing_orders", def, "placed_by", placer);
	char *text = json_dumps(wrapped, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(wrapped);
	if (!text)
		return internal(ctx, -ENOMEM);
	diag_list diags = { 0 };
	r = env->apply_api_order(env->ud, id ? id : "", text, &diags);
	free(text);
	if (r == -EINVAL) {
		r = error_new(ctx, "io.standingd.Orders.InvalidDefinition",
			     json_pack("{s:o}", "errors", field_errors(&diags, "standing_orders[0]")));
	} else if (r < 0) {
		r = internal(ctx, r);
	} else {
		const standing_order *so = defs_find_order(env->defs, id);
		occurrence o;
		char when[CAL_ISO_MAX];
		json_t *next = json_null();
		if (so && rule_next(&so->rule, env->now(env->ud), &o) == 0)
			next = json_string(cal_format_instant(o.delivery, tz_offset_at(so->rule.zone, o.delivery), when));
		json_t *p = json_pack("{s:s, s:o}", "standing_order", id, "next_delivery", next);
		r = reply_new(ctx, p);
	}
	diag_list_clear(&diags);
	return r;
}

static bool from_api(const standing_order *so) {
	return so->file && !strncmp(so->file, "api/", 4);
}

static int find_standing_order(vl_call_ctx *ctx, api_env *env, json_t *params, const standing_order **ret) {
	const char *id;
	int r = vl_param_string(ctx, params, "standing_order", true, &id);
	if (r < 0)
		return r;
	*ret = defs_find_order(env->defs, id);
	if (!*ret)
		return error_new(ctx, "io.standingd.Orders.StandingOrderNotFound", json_pack("{s:s}", "standing_order", id)) < 0
			? -EIO : 1;
	return 0;
}

static int cancel_standing_order(vl_call_ctx *ctx, json_t *params, void *userdata) {
	api_env *env = userdata;
	static const char *const allowed[] = { "standing_order", NULL };
	const standing_order *so;
	int r;
	if ((r = vl_params_check(ctx, params, allowed)) < 0 || (r = find_standing_order(ctx, env, params, &so)) != 0)
		return r < 0 ? r : 0;
	if (shop_only(role_of(ctx, env)) && !placed_by_shop(so->placed_by))
		return denied(ctx);
	if (!from_api(so))
		return error_new(ctx, "io.standingd.Orders.DefinedInFile", json_pack("{s:s, s:s, s:i}",
				"standing_order", so->id, "file", so->file ? so->file : "", "line", so->line));
	char *id = strdup(so->id);
	diag_list diags = { 0 };
	r = id ? env->apply_api_order(env->ud, id, NULL, &diags) : -ENOMEM;
	free(id);
	diag_list_clear(&diags);
	return r < 0 ? internal(ctx, r) : vl_reply(ctx, NULL, false);
}

static int skip_occurrence(vl_call_ctx *ctx, json_t *params, void *userdata) {
	api_env *env = userdata;
	static const char *const allowed[] = { "standing_order", "delivery", NULL };
	const standing_order *so;
	const char *when;
	int64_t delivery;
	int r;
	if ((r = vl_params_check(ctx, params, allowed)) < 0 || (r = find_standing_order(ctx, env, params, &so)) != 0)
		return r < 0 ? r : 0;
	if (shop_only(role_of(ctx, env)) && !placed_by_shop(so->placed_by))
		return denied(ctx);
	if ((r = vl_param_string(ctx, params, "delivery", true, &when)) < 0)
		return r;
	if (cal_parse_instant(when, &delivery) < 0)
		return vl_invalid_parameter(ctx, "delivery");
	occurrence o;
	if (rule_next(&so->rule, delivery - 1, &o) < 0 || o.delivery != delivery)
		return error_new(ctx, "io.standingd.Orders.NoSuchOccurrence",
				json_pack("{s:s, s:s}", "standing_order", so->id, "delivery", when));
	store_txn *t;
	char number[ORDER_NUMBER_MAX];
	if ((r = store_begin(env->store, true, &t)) < 0)
		return internal(ctx, r);
	if ((r = store_occurrence_get(t, so->id, delivery, number)) == 0) {
		store_abort(t);
		return error_new(ctx, "io.standingd.Orders.AlreadyCreated", json_pack("{s:s, s:s, s:s}",
				"standing_order", so->id, "delivery", when, "order", number));
	}
	peer *p = vl_call_ctx_caller(ctx);
	char reason[128];
	snprintf(reason, sizeof(reason), "skipped by request of %s (uid %u)", p->user[0] ? p->user : "?",
		 (unsigned) p->uid);
	if (r == -ENOENT && (r = store_skip_get(t, so->id, delivery, NULL)) == -ENOENT &&
	    (r = store_skip_record(t, so->id, delivery, env->now(env->ud), reason)) == 0) {
		r = store_commit(t);
		t = NULL;
	}
	store_abort(t);
	if (r < 0)
		return internal(ctx, r);
	char iso[CAL_ISO_MAX];
	json_t *rep = json_pack("{s:s, s:s}", "standing_order", so->id,
				"delivery", cal_format_instant(delivery, tz_offset_at(so->rule.zone, delivery), iso));
	r = reply_new(ctx, rep);
	return r;
}

/* PlaceOrder's ship_to and lines as the standing orders' validator reads them: a
 * Line's "unit_price": "0.85" with "currency": "EUR" becomes "0.85 EUR", as in YAML. */
static int order_items(json_t *ship, json_t *lines, standing_order *ret, diag_list *errs) {
	json_t *doc = json_pack("{s:O, s:[]}", "ship_to", ship, "lines");
	if (!doc)
		return -ENOMEM;
	json_t *out = json_object_get(doc, "lines"), *l;
	size_t i;
	json_array_foreach(lines, i, l) {
		json_t *c = json_copy(l);
		const char *price = json_string_value(json_object_get(l, "unit_price"));
		const char *cur = json_string_value(json_object_get(l, "currency"));
		if (c && price && cur) {
			char *full = NULL;
			if (asprintf(&full, "%s %s", price, cur) < 0)
				full = NULL;
			json_object_set_new(c, "unit_price", json_string(full ? full : ""));
			json_object_del(c, "currency");
			free(full);
		}
		json_array_append_new(out, c ? c : json_null());
	}
	char *text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	ytree *t = NULL;
	ytree_error err;
	int r = text ? ytree_parse_json(text, strlen(text), &t, &err) : -ENOMEM;
	free(text);
	if (r == -EINVAL) {
		diag_add(errs, "ship_to", 0, 0, "%s", err.msg);
		return r;
	}
	if (r < 0)
		return r;
	const ytree_node *root = ytree_root(t);
	r = defs_order_items_from_tree(ytree_get(root, "ship_to"), ytree_get(root, "lines"), ret, errs);
	ytree_free(t);
	return r;
}

static int place_order(vl_call_ctx *ctx, json_t *params, void *userdata) {
	api_env *env = userdata;
	static const char *const allowed[] = { "customer", "supplier", "ship_to", "lines", "payment", "delivery", NULL };
	const char *cust_id, *supp_id, *pay = "account", *when;
	json_t *ship, *lines;
	int r;
	if ((r = vl_params_check(ctx, params, allowed)) < 0 ||
	    (r = vl_param_string(ctx, params, "customer", true, &cust_id)) < 0 ||
	    (r = vl_param_string(ctx, params, "supplier", true, &supp_id)) < 0 ||
	    (r = vl_param_object(ctx, params, "ship_to", true, &ship)) < 0 ||
	    (r = vl_param_array(ctx, params, "lines", true, &lines)) < 0 ||
	    (r = vl_param_string(ctx, params, "payment", false, &pay)) < 0 ||
	    (r = vl_param_string(ctx, params, "delivery", true, &when)) < 0)
		return r;
	diag_list errs = { 0 };
	const customer *cu = NULL;
	if (text_ok(&errs, "customer", cust_id) && !(cu = defs_find_customer(env->defs, cust_id)))
		diag_add(&errs, "customer", 0, 0, "unknown customer \"%s\"", cust_id);
	if (text_ok(&errs, "supplier", supp_id) && !defs_find_supplier(env->defs, supp_id))
		diag_add(&errs, "supplier", 0, 0, "unknown supplier \"%s\"", supp_id);
	payment pm = PAYMENT_ACCOUNT;
	if (text_ok(&errs, "payment", pay)) {
		if (!strcmp(pay, "prepaid"))
			pm = PAYMENT_PREPAID;
		else if (strcmp(pay, "account"))
			diag_add(&errs, "payment", 0, 0, "expected one of account, prepaid, got \"%s\"", pay);
		else if (cu && !cu->account_number)
			diag_add(&errs, "payment", 0, 0, "customer \"%s\" has no account: use prepaid", cu->id);
	}
	/* ship_to and lines: the standing orders' own checks (country code, prices, text) */
	standing_order items = { 0 };
	if ((r = order_items(ship, lines, &items, &errs)) == -ENOMEM) {
		diag_list_clear(&errs);
		return internal(ctx, r);
	}
	bound b;
	if (text_ok(&errs, "delivery", when) && parse_bound(when, &b) < 0)
		diag_add(&errs, "delivery", 0, 0, "expected a date YYYY-MM-DD or an instant, got \"%s\"", when);
	if (errs.n) {
		defs_order_done(&items);
		diag_sort(&errs);
		r = error_new(ctx, "io.standingd.Orders.InvalidOrder", json_pack("{s:o}", "errors", field_errors(&errs, NULL)));
		diag_list_clear(&errs);
		return r;
	}
	char placer[96];
	placer_of(ctx, role_of(ctx, env), placer);
	const tz_zone *z = cu->zone;
	int64_t delivery = bound_at(&b, z), now = env->now(env->ud);
	sales_order o = {
		.customer = cu->id, .supplier = (char *) supp_id, .ship_to = items.ship_to,
		.lines = items.lines, .n_lines = items.n_lines, .delivery = delivery, .delivery_offset = tz_offset_at(z, delivery),
		.zone = (char *) tz_zone_name(z), .created = now, .payment = pm, .status = ORDER_CREATED,
		.occurrence = UINT64_MAX, .placed_by = placer,
	};
	/* the validator has checked one currency and that the total fits */
	memcpy(o.total.currency, items.lines[0].unit_price.currency, sizeof(o.total.currency));
	for (size_t i = 0; i < items.n_lines; i++)
		o.total.minor += items.lines[i].quantity * items.lines[i].unit_price.minor;
	store_txn *t = NULL;   /* store_begin leaves it untouched on failure */
	if ((r = store_begin(env->store, true, &t)) == 0 && (r = store_order_create(t, &o)) == 0) {
		r = store_commit(t);
		t = NULL;
	}
	store_abort(t);
	if (r < 0) {
		defs_order_done(&items);
		return internal(ctx, r);
	}
	if (env->order_placed)
		env->order_placed(env->ud, &o);
	json_t *p = json_pack("{s:o}", "order", order_json(&o));
	r = reply_new(ctx, p);
	defs_order_done(&items);
	return r;
}

static int get_order(vl_call_ctx *ctx, json_t *params, void *userdata) {
	api_env *env = userdata;
	static const char *const allowed[] = { "order", NULL };
	store_txn *t;
	sales_order *o;
	int r;
	if ((r = vl_params_check(ctx, params, allowed)) < 0 ||
	    (r = order_param(ctx, env, params, false, &t, &o, "io.standingd.Orders")) != 0)
		return r < 0 ? r : 0;
	store_abort(t);
	if (shop_only(role_of(ctx, env)) && !shop_order(env, o)) {
		sales_order_free(o);
		return denied(ctx);
	}
	json_t *p = json_pack("{s:o}", "order", order_json(o));
	sales_order_free(o);
	return reply_new(ctx, p);
}

typedef struct list_ctx {
	api_env *env;
	const char *customer, *supplier, *so, *status;
	bool window, shop_only;
	bound from, to;
	json_t *items;
} list_ctx;

static int list_one(const sales_order *o, void *ud) {
	list_ctx *l = ud;
	if ((l->customer && strcmp(l->customer, o->customer)) || (l->supplier && strcmp(l->supplier, o->supplier)) ||
	    (l->so && (!o->standing_order || strcmp(l->so, o->standing_order))) ||
	    (l->status && strcmp(l->status, order_status_name(o->status))) ||
	    (l->shop_only && !shop_order(l->env, o)))
		return 0;
	if (l->window) {
		const tz_zone *z = zone_named(l->env, o->zone);
		if (o->delivery < bound_at(&l->from, z) || o->delivery >= bound_at(&l->to, z))
			return 0;
	}
	if (json_array_size(l->items) >= MAX_ITEMS)
		return -E2BIG;
	return json_array_append_new(l->items, order_json(o)) < 0 ? -ENOMEM : 0;
}

static int list_orders(vl_call_ctx *ctx, json_t *params, void *userdata) {
	api_env *env = userdata;
	static const char *const allowed[] = { "customer", "supplier", "standing_order", "status", "from", "to", NULL };
	list_ctx l = { .env = env };
	int r;
	if ((r = vl_params_check(ctx, params, allowed)) < 0 ||
	    (r = vl_param_string(ctx, params, "customer", false, &l.customer)) < 0 ||
	    (r = vl_param_string(ctx, params, "supplier", false, &l.supplier)) < 0 ||
	    (r = vl_param_string(ctx, params, "standing_order", false, &l.so)) < 0 ||
	    (r = vl_param_string(ctx, params, "status", false, &l.status)) < 0 ||
	    (r = window_params(ctx, params, false, &l.from, &l.to)) < 0)
		return r;
	l.window = r == 1;
	l.shop_only = shop_only(role_of(ctx, env));
	if (l.status && strcmp(l.status, "created") && strcmp(l.status, "on_hold") && strcmp(l.status, "shipped") &&
	    strcmp(l.status, "cancelled"))
		return vl_invalid_parameter(ctx, "status");
	int64_t lo = INT64_MIN, hi = INT64_MAX;
	if (l.window) {
		lo = (l.from.is_date ? l.from.day * CAL_SECS_PER_DAY : l.from.instant) - 2 * CAL_SECS_PER_DAY;
		hi = (l.to.is_date ? l.to.day * CAL_SECS_PER_DAY : l.to.instant) + 2 * CAL_SECS_PER_DAY;
	}
	store_txn *t;
	if ((r = store_begin(env->store, false, &t)) < 0)
		return internal(ctx, r);
	l.items = json_array();
	r = store_order_each(t, lo, hi, list_one, &l);
	store_abort(t);
	if (r < 0) {
		json_decref(l.items);
		if (r == -E2BIG)
			return error_new(ctx, "io.standingd.Orders.TooManyOrders", json_pack("{s:i}", "limit", MAX_ITEMS));
		return internal(ctx, r);
	}
	return reply_list(ctx, "orders", l.items);
}

/* ---- io.standingd.Ops ---- */

static int status(vl_call_ctx *ctx, json_t *params, void *userdata) {
	api_env *env = userdata;
	static const char *const allowed[] = { NULL };
	int r;
	if ((r = vl_params_check(ctx, params, allowed)) < 0)
		return r;
	store_txn *t;
	uint64_t orders = 0, outbox = 0;
	if ((r = store_begin(env->store, false, &t)) < 0)
		return internal(ctx, r);
	r = store_counts(t, &orders, &outbox);
	store_abort(t);
	if (r < 0)
		return internal(ctx, r);
	engine_stats st;
	engine_get_stats(env->engine, &st);
	int64_t at;
	const standing_order *next = engine_peek(env->engine, &at);
	char now[CAL_ISO_MAX], due[CAL_ISO_MAX];
	json_t *p = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:f}",
		"version", STANDINGD_VERSION, "now", cal_format_utc(env->now(env->ud), now),
		"customers", (json_int_t) env->defs->n_customers, "standing_orders", (json_int_t) env->defs->n_orders,
		"active", (json_int_t) st.active, "paused", (json_int_t) st.paused,
		"orders", (json_int_t) orders, "outbox_backlog", (json_int_t) outbox,
		"next_due", next ? json_string(cal_format_utc(at, due)) : json_null(),
		"next_standing_order", next ? json_string(next->id) : json_null(),
		"max_loop_step_ms", env->max_loop_step_ms ? env->max_loop_step_ms(env->ud) : 0.0);
	return reply_new(ctx, p);
}

static int reload(vl_call_ctx *ctx, json_t *params, void *userdata) {
	api_env *env = userdata;
	static const char *const allowed[] = { NULL };
	int r;
	if ((r = vl_params_check(ctx, params, allowed)) < 0)
		return r;
	diag_list diags = { 0 };
	r = env->reload(env->ud, &diags);
	if (r == -EINVAL) {
		json_t *a = json_array();
		for (size_t i = 0; i < diags.n; i++) {
			char *s = diag_format(&diags.v[i]);
			json_array_append_new(a, json_string(s));
			free(s);
		}
		r = error_new(ctx, "io.standingd.Ops.InvalidDefinitions", json_pack("{s:o}", "errors", a));
	} else if (r < 0) {
		r = internal(ctx, r);
	} else {
		json_t *p = json_pack("{s:I, s:I}", "customers", (json_int_t) env->defs->n_customers,
				      "standing_orders", (json_int_t) env->defs->n_orders);
		r = reply_new(ctx, p);
	}
	diag_list_clear(&diags);
	return r;
}

static int list_standing_orders(vl_call_ctx *ctx, json_t *params, void *userdata) {
	api_env *env = userdata;
	static const char *const allowed[] = { NULL };
	int r;
	if ((r = vl_params_check(ctx, params, allowed)) < 0)
		return r;
	store_txn *t;
	if ((r = store_begin(env->store, false, &t)) < 0)
		return internal(ctx, r);
	json_t *items = json_array();
	for (size_t i = 0; i < env->defs->n_orders; i++) {
		const standing_order *so = &env->defs->orders[i];
		sched_state st = { .watermark = INT64_MIN };
		if ((r = store_sched_get(t, so->id, &st)) < 0 && r != -ENOENT)
			break;
		r = 0;
		occurrence o;
		char src[512], d[CAL_ISO_MAX], c[CAL_ISO_MAX];
		bool has = !so->rule.paused && rule_next(&so->rule, st.watermark, &o) == 0;
		if (from_api(so))
			snprintf(src, sizeof(src), "api");
		else
			snprintf(src, sizeof(src), "%s:%d", so->file ? so->file : "?", so->line);
		json_array_append_new(items, json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:b, s:o, s:o, s:I, s:I}",
			"id", so->id, "customer", so->customer->id, "supplier", so->supplier, "source", src,
			"placed_by", jstr_or_null(so->placed_by),
			"timezone", tz_zone_name(so->rule.zone), "paused", so->rule.paused,
			"next_delivery", has ? json_string(cal_format_instant(o.delivery, tz_offset_at(so->rule.zone, o.delivery), d)) : json_null(),
			"next_create_at", has ? json_string(cal_format_utc(o.create_at, c)) : json_null(),
			"created", (json_int_t) st.created, "skipped", (json_int_t) st.skipped));
	}
	store_abort(t);
	if (r < 0) {
		json_decref(items);
		return internal(ctx, r);
	}
	return reply_list(ctx, "standing_orders", items);
}

static int forecast_method(vl_call_ctx *ctx, json_t *params, void *userdata) {
	api_env *env = userdata;
	static const char *const allowed[] = { "from", "to", NULL };
	const char *f, *t;
	int64_t from, to;
	int r;
	if ((r = vl_params_check(ctx, params, allowed)) < 0 ||
	    (r = vl_param_string(ctx, params, "from", true, &f)) < 0 ||
	    (r = vl_param_string(ctx, params, "to", true, &t)) < 0)
		return r;
	if (cal_parse_date(f, &from) < 0)
		return vl_invalid_parameter(ctx, "from");
	if (cal_parse_date(t, &to) < 0 || to <= from || to - from > MAX_WINDOW_DAYS)
		return vl_invalid_parameter(ctx, "to");
	forecast fc = { .limit = MAX_ITEMS };
	if ((r = forecast_collect(env->defs, from, to, &fc)) < 0) {
		forecast_clear(&fc);
		if (r == -E2BIG)
			return error_new(ctx, "io.standingd.Ops.TooManyOccurrences", json_pack("{s:i}", "limit", MAX_ITEMS));
		return internal(ctx, r);
	}
	json_t *items = json_array();
	for (size_t i = 0; i < fc.n; i++) {
		const forecast_item *it = &fc.v[i];
		char d[CAL_ISO_MAX], c[CAL_ISO_MAX];
		json_array_append_new(items, json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}",
			"standing_order", it->so->id, "customer", it->so->customer->id, "supplier", it->so->supplier,
			"delivery", cal_format_instant(it->occ.delivery, tz_offset_at(it->so->rule.zone, it->occ.delivery), d),
			"create_at", cal_format_utc(it->occ.create_at, c),
			"lines", lines_json(it->so->lines, it->so->n_lines)));
	}
	forecast_clear(&fc);
	return reply_list(ctx, "occurrences", items);
}

/* ---- registration ---- */

int api_register(vl_service *svc, api_env *env) {
	static const vl_method m_supplier[] = {
		{ "ListUpcoming", list_upcoming, 0 },
		{ "MarkShipped", mark_shipped, 0 },
	};
	static const vl_method m_orders[] = {
		{ "PlaceStandingOrder", place_standing_order, 0 },
		{ "CancelStandingOrder", cancel_standing_order, 0 },
		{ "SkipOccurrence", skip_occurrence, 0 },
		{ "PlaceOrder", place_order, 0 },
		{ "GetOrder", get_order, 0 },
		{ "ListOrders", list_orders, 0 },
	};
	static const vl_method m_ops[] = {
		{ "Status", status, 0 },
		{ "Reload", reload, 0 },
		{ "ListStandingOrders", list_standing_orders, 0 },
		{ "Forecast", forecast_method, 0 },
	};
	int r;
	if ((r = vl_service_add_interface(svc, "io.standingd", API_IDL_COMMON, NULL, 0, env)) < 0 ||
	    (r = vl_service_add_interface(svc, "io.standingd.Supplier", API_IDL_SUPPLIER, m_supplier, 2, env)) < 0 ||
	    (r = vl_service_add_interface(svc, "io.standingd.Orders", API_IDL_ORDERS, m_orders, 6, env)) < 0 ||
	    (r = vl_service_add_interface(svc, "io.standingd.Ops", API_IDL_OPS, m_ops, 4, env)) < 0)
		return r;
	vl_service_set_authorize(svc, authorize, env);
	return 0;
}
