/* Handlers are short-lived: each opens its own store transaction, builds its
 * reply with jansson and sends it through the vl_call_ctx; those that list what
 * grows with the data run as jobs in steps instead (long lists, below). Dates in
 * requests are local midnights in the zone of each delivery, the same convention
 * as the forecast, so a supplier's "2027-01-01" means the same day everywhere. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lib/api/api.h"
#include "lib/api/api_idl.h"
#include "lib/time/cal.h"
#include "config.h"
#include "lib/api/idem.h"
#include "lib/api/peer.h"
#include "lib/sales/sales.h"
#include "lib/base/text.h"
#include "lib/defs/yamltree.h"

#define MAX_WINDOW_DAYS 400
#define CHUNK 100
/* Items one call may return: a list is collected whole before it is sent (it is
 * sorted), so this bounds the daemon's memory per request (about 9 MB of JSON);
 * the loop's time is bounded by building it in steps (below). */
#define MAX_ITEMS 20000

/* ---- small helpers ---- */

static json_t *jstr_or_null(const char *s) {
	return s ? json_string(s) : json_null();
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

/* ---- authorisation ---- */

/* The shop role reaches only what shop users placed (README, Access control):
 * one-time orders they placed, standing orders they placed through the API, and
 * the orders those standing orders created. Ops reach everything. */
static bool shop_only(peer_role r) {
	return (r.flags & PEER_ROLE_SHOP) && !(r.flags & PEER_ROLE_OPS);
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
	const char *role = r.flags & PEER_ROLE_OPS ? "ops" : "shop";
	if (p->user[0])
		snprintf(buf, 96, "%s:%s", role, p->user);
	else
		snprintf(buf, 96, "%s:%u", role, (unsigned) p->uid);
}

static int denied(vl_call_ctx *ctx) {
	return vl_error(ctx, "io.standingd.PermissionDenied", NULL);
}

/* io.standingd.Orders methods the shop role may not call: holding an order and the
 * accounts (a web shop sees its orders, not a customer's ledger nor its balance). */
static bool ops_only_method(const char *method) {
	static const char *const ops_only[] = { "HoldOrder", "RecordAccountPayment", "GetAccount", "ListLedger", NULL };
	for (size_t i = 0; ops_only[i]; i++)
		if (!strcmp(method, ops_only[i]))
			return true;
	return false;
}

static int authorize(void *caller, const char *interface, const char *method, void *ud) {
	api_env *env = ud;
	if (!strcmp(interface, "io.standingd"))
		return 0;   /* Now: anyone who may connect */
	peer_role r = peer_role_of(caller, &env->defs->config, env->self_uid);
	if (r.flags & PEER_ROLE_OPS)
		return 0;
	if ((r.flags & PEER_ROLE_SUPPLIER) && !strcmp(interface, "io.standingd.Supplier"))
		return 0;
	if ((r.flags & PEER_ROLE_SHOP) && !strcmp(interface, "io.standingd.Orders") && !ops_only_method(method))
		return 0;
	return -EPERM;
}

/* ---- long lists, built in steps ----
 * ListUpcoming, ListOrders and Forecast grow with the data (up to MAX_ITEMS items,
 * ~9 MB of JSON), and ListStandingOrders with the definitions (no cap), so they
 * run as a job in steps (vl_defer): a step reads, encodes
 * and keeps at most STEP_UNITS things, then returns to the loop; the job keeps its
 * place (a key in the due index, a standing order and an instant in its rule).
 * Each item is encoded on its own (vl_item_encode) and the reply is assembled from
 * those texts (vl_list), the same bytes as one jansson tree gave, never the tree.
 * One read snapshot (an LMDB read transaction) is held from the first step to the
 * last of the collection, so a list sees one state of the store however many turns
 * it takes; a change of the definitions starts the collection again. */

/* Work per step: orders read, occurrences looked at, standing orders visited and
 * items encoded count one each; ~1 ms (a few under ASan). */
#define STEP_UNITS 64
/* Encoded items copied into the reply per step once all are collected. */
#define STEP_EMIT 500
/* Lists collected at once: each holds an LMDB reader slot (126 in all, shared with
 * standingctl) and keeps the map from growing; the others wait their turn. */
#define MAX_SNAPSHOTS 8

typedef struct list_item {
	int64_t delivery;
	const char *so;      /* sort key; points into the defs of the collection */
	char number[ORDER_NUMBER_MAX];
	uint64_t n;          /* occurrence index (forecast) */
	char *text;          /* the item as JSON */
	size_t len;
} list_item;

typedef enum job_kind { JOB_UPCOMING, JOB_ORDERS, JOB_FORECAST, JOB_STANDING } job_kind;
typedef enum job_phase { PHASE_START, PHASE_ORDERS, PHASE_RULES, PHASE_EMIT } job_phase;

typedef struct list_job {
	api_env *env;
	job_kind kind;
	job_phase phase;
	const char *key;              /* "shipments" */
	const char *too_many;         /* the error past limit */
	size_t limit;                 /* items: MAX_ITEMS, or none (ListStandingOrders) */
	uint64_t gen;                 /* env->defs_generation collected under */
	store_txn *t;                 /* the snapshot */
	int units;                    /* left in this step */
	int err;                      /* from a callback */
	/* the store walk: next (delivery, sequence), window [lo, hi) */
	int64_t lo, hi, at;
	uint64_t at_seq;
	/* the rules: next standing order, where in its rule (INT64_MIN: not begun) */
	size_t so_i;
	int64_t so_from, so_to, watermark;
	/* filters */
	char *supplier;               /* owned */
	const char *customer, *so_id, *status;   /* ListOrders; borrowed from the call */
	bool window, shop_only;
	bound from, to;
	int64_t from_day, to_day;     /* Forecast */
	/* the result */
	list_item *v;
	size_t n, cap, emitted;
	vl_list out;
} list_job;

static void job_items_clear(list_job *j) {
	for (size_t i = j->emitted; i < j->n; i++)
		free(j->v[i].text);
	free(j->v);
	j->v = NULL;
	j->n = j->cap = j->emitted = 0;
}

static void job_release(list_job *j) {
	if (j->t) {
		store_abort(j->t);
		j->t = NULL;
		j->env->snapshots--;
	}
}

static void job_free(void *state) {
	list_job *j = state;
	job_release(j);
	job_items_clear(j);
	vl_list_clear(&j->out);
	free(j->supplier);
	free(j);
}

/* Encodes item (taken) and keeps it. -E2BIG past MAX_ITEMS. */
static int job_push(list_job *j, int64_t delivery, const char *so, const char *number, uint64_t n, json_t *item) {
	if (!item)
		return -ENOMEM;
	if (j->n >= j->limit) {
		json_decref(item);
		return -E2BIG;
	}
	if (j->n == j->cap) {
		size_t cap = j->cap ? j->cap * 2 : 64;
		list_item *v = realloc(j->v, cap * sizeof(*v));
		if (!v) {
			json_decref(item);
			return -ENOMEM;
		}
		j->v = v;
		j->cap = cap;
	}
	list_item *x = &j->v[j->n];
	int r = vl_item_encode(item, &x->text, &x->len);
	json_decref(item);
	if (r < 0)
		return r;
	x->delivery = delivery;
	x->so = so ? so : "";
	snprintf(x->number, sizeof(x->number), "%s", number ? number : "");
	x->n = n;
	j->n++;
	return 0;
}

/* Delivery, then standing order id, then confirmation number, then occurrence
 * index: ListUpcoming's and Forecast's order (each uses the keys it has). */
static int cmp_item(const void *a, const void *b) {
	const list_item *x = a, *y = b;
	if (x->delivery != y->delivery)
		return x->delivery < y->delivery ? -1 : 1;
	int c = strcmp(x->so, y->so);
	if (!c)
		c = strcmp(x->number, y->number);
	return c ? c : x->n < y->n ? -1 : x->n > y->n;
}

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

/* Counts a unit of work; when the step's are used up, the walk stops here and the
 * job goes on after o next time. 1: stop. */
static int job_pause_after_order(list_job *j, const sales_order *o) {
	if (--j->units > 0)
		return 0;
	uint64_t seq = 0;
	if (order_number_parse(o->number, &seq) < 0) {
		j->err = -EBADMSG;
		return 1;
	}
	j->at = o->delivery;
	j->at_seq = seq + 1;
	return 1;
}

static int upcoming_order(const sales_order *o, list_job *j) {
	if (o->status == ORDER_STATUS_CANCELLED || (j->supplier && strcmp(o->supplier, j->supplier)))
		return 0;
	const tz_zone *z = zone_named(j->env, o->zone);
	if (o->delivery < bound_at(&j->from, z) || o->delivery >= bound_at(&j->to, z))
		return 0;
	char local[CAL_ISO_MAX], utc[CAL_ISO_MAX];
	json_t *item = json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:s, s:o, s:o, s:o, s:o}",
		"delivery", cal_format_instant(o->delivery, o->delivery_offset, local),
		"delivery_utc", cal_format_utc(o->delivery, utc),
		"status", order_status_name(o->status), "order", o->number,
		"standing_order", jstr_or_null(o->standing_order),
		"customer", o->customer, "customer_name", customer_name(j->env, o->customer),
		"supplier", o->supplier, "ship_to", order_address_view(&o->ship_to),
		"lines", order_lines_view(o->lines, o->n_lines),
		"carrier", jstr_or_null(o->carrier), "tracking", jstr_or_null(o->tracking));
	const standing_order *so = o->standing_order ? defs_find_order(j->env->defs, o->standing_order) : NULL;
	return job_push(j, o->delivery, so ? so->id : "", o->number, 0, item);
}

static int list_order(const sales_order *o, list_job *j) {
	if ((j->customer && strcmp(j->customer, o->customer)) || (j->supplier && strcmp(j->supplier, o->supplier)) ||
	    (j->so_id && (!o->standing_order || strcmp(j->so_id, o->standing_order))) ||
	    (j->status && strcmp(j->status, order_status_name(o->status))) ||
	    (j->shop_only && !shop_order(j->env, o)))
		return 0;
	if (j->window) {
		const tz_zone *z = zone_named(j->env, o->zone);
		if (o->delivery < bound_at(&j->from, z) || o->delivery >= bound_at(&j->to, z))
			return 0;
	}
	return job_push(j, o->delivery, "", o->number, 0, order_to_view(o));
}

/* A callback's error stops the walk (1) and is kept for the step to return. */
static int job_stop(list_job *j, int r) {
	if (r < 0)
		j->err = r;
	return r < 0;
}

static int job_order(const sales_order *o, void *ud) {
	list_job *j = ud;
	if (job_stop(j, j->kind == JOB_UPCOMING ? upcoming_order(o, j) : list_order(o, j)))
		return 1;
	return job_pause_after_order(j, o);
}

static int upcoming_projected(const occurrence *o, list_job *j) {
	const standing_order *so = &j->env->defs->orders[j->so_i];
	int r = engine_occurrence_state(j->t, so->id, j->watermark, o->delivery);
	if (r != ENGINE_OCC_PENDING)
		return r < 0 ? r : 0;   /* created (listed from the store) or skipped */
	char local[CAL_ISO_MAX], utc[CAL_ISO_MAX];
	json_t *item = json_pack("{s:s, s:s, s:s, s:n, s:s, s:s, s:s, s:s, s:o, s:o, s:n, s:n}",
		"delivery", cal_format_instant(o->delivery, tz_offset_at(so->rule.zone, o->delivery), local),
		"delivery_utc", cal_format_utc(o->delivery, utc), "status", "projected", "order",
		"standing_order", so->id, "customer", so->customer->id, "customer_name", so->customer->name,
		"supplier", so->supplier, "ship_to", order_address_view(&so->ship_to),
		"lines", order_lines_view(so->lines, so->n_lines), "carrier", "tracking");
	return job_push(j, o->delivery, so->id, "", 0, item);
}

static int forecast_occurrence(const occurrence *o, list_job *j) {
	const standing_order *so = &j->env->defs->orders[j->so_i];
	int r = engine_occurrence_state(j->t, so->id, j->watermark, o->delivery);
	if (r < 0 || r == ENGINE_OCC_SKIPPED)
		return r < 0 ? r : 0;   /* the forecast is what was or will be created */
	char d[CAL_ISO_MAX], c[CAL_ISO_MAX];
	json_t *item = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}",
		"standing_order", so->id, "customer", so->customer->id, "supplier", so->supplier,
		"delivery", cal_format_instant(o->delivery, tz_offset_at(so->rule.zone, o->delivery), d),
		"create_at", cal_format_utc(o->create_at, c),
		"lines", order_lines_view(so->lines, so->n_lines));
	return job_push(j, o->delivery, so->id, "", o->n, item);
}

static int job_occurrence(const occurrence *o, void *ud) {
	list_job *j = ud;
	if (job_stop(j, j->kind == JOB_UPCOMING ? upcoming_projected(o, j) : forecast_occurrence(o, j)))
		return 1;
	if (--j->units > 0)
		return 0;
	j->so_from = o->delivery + 1;   /* rule_each from here goes on after o */
	return 1;
}

static bool from_api(const standing_order *so);

/* ListStandingOrders: one item per standing order, with its schedule state. */
static int standing_item(list_job *j, const standing_order *so) {
	sched_state st = { .watermark = INT64_MIN };
	int r = store_sched_get(j->t, so->id, &st);
	if (r < 0 && r != -ENOENT)
		return r;
	occurrence o;
	char src[512], d[CAL_ISO_MAX], c[CAL_ISO_MAX];
	/* the next one the engine will create: not one a skip record covers */
	r = so->rule.paused ? -ENOENT : engine_next_pending(j->t, so, st.watermark, &o);
	if (r < 0 && r != -ENOENT && r != -ELOOP)
		return r;
	bool has = r == 0;
	if (from_api(so))
		snprintf(src, sizeof(src), "api");
	else
		snprintf(src, sizeof(src), "%s:%d", so->file ? so->file : "?", so->line);
	json_t *item = json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:b, s:o, s:o, s:I, s:I}",
		"id", so->id, "customer", so->customer->id, "supplier", so->supplier, "source", src,
		"placed_by", jstr_or_null(so->placed_by),
		"timezone", tz_zone_name(so->rule.zone), "paused", so->rule.paused,
		"next_delivery", has ? json_string(cal_format_instant(o.delivery, tz_offset_at(so->rule.zone, o.delivery), d)) : json_null(),
		"next_create_at", has ? json_string(cal_format_utc(o.create_at, c)) : json_null(),
		"created", (json_int_t) st.created, "skipped", (json_int_t) st.skipped);
	return job_push(j, 0, so->id, "", 0, item);
}

/* Begins orders[so_i]: 0 to walk its rule, 1 to pass it, or a negative errno. */
static int job_rule_begin(list_job *j, const standing_order *so) {
	if (j->kind == JOB_STANDING) {
		int r = standing_item(j, so);
		return r < 0 ? r : 1;
	}
	if (so->rule.paused || (j->supplier && strcmp(so->supplier, j->supplier)))
		return 1;
	const tz_zone *z = so->rule.zone;
	sched_state st = { .watermark = INT64_MIN };
	int r = store_sched_get(j->t, so->id, &st);
	if (r < 0 && r != -ENOENT)
		return r;
	j->watermark = st.watermark;
	if (j->kind == JOB_FORECAST) {
		j->so_from = tz_from_local(z, j->from_day * CAL_SECS_PER_DAY);
		j->so_to = tz_from_local(z, j->to_day * CAL_SECS_PER_DAY);
		return 0;
	}
	j->so_from = bound_at(&j->from, z);
	j->so_to = bound_at(&j->to, z);
	return 0;
}

/* What a walk returned that job_stop() or the step's units may have stopped: the
 * error, VL_AGAIN (paused, the place is kept) or 0 (complete). */
static int walk_end(const list_job *j, int r) {
	return j->err ? j->err : r < 0 ? r : r > 0 ? VL_AGAIN : 0;
}

/* One step of the collection: 0 when it is complete, VL_AGAIN, or a negative errno. */
static int job_collect(list_job *j) {
	api_env *env = j->env;
	int r;
	if (j->gen != env->defs_generation) {
		/* the standing orders (and their pointers) changed: start again */
		job_release(j);
		job_items_clear(j);
		j->phase = PHASE_START;
	}
	if (store_room_wanted(env->store)) {
		/* the map must grow, which it cannot under a snapshot: let go, begin again */
		job_release(j);
		job_items_clear(j);
		j->phase = PHASE_START;
		return VL_AGAIN;
	}
	j->units = STEP_UNITS;
	if (j->phase == PHASE_START) {
		if (env->snapshots >= MAX_SNAPSHOTS)
			return VL_AGAIN;   /* others hold theirs: wait for a turn */
		if ((r = store_begin(env->store, false, &j->t)) < 0)
			return r;
		env->snapshots++;
		j->gen = env->defs_generation;
		j->phase = j->kind == JOB_FORECAST || j->kind == JOB_STANDING ? PHASE_RULES : PHASE_ORDERS;
		j->at = j->lo;
		j->at_seq = 0;
		j->so_i = 0;
		j->so_from = INT64_MIN;
		j->err = 0;
	}
	if (j->phase == PHASE_ORDERS) {
		if ((r = walk_end(j, store_order_each_from(j->t, j->at, j->at_seq, j->hi, job_order, j))) != 0)
			return r;
		j->phase = j->kind == JOB_UPCOMING ? PHASE_RULES : PHASE_EMIT;
	}
	while (j->phase == PHASE_RULES) {
		if (j->so_i >= env->defs->n_orders) {
			j->phase = PHASE_EMIT;
			break;
		}
		const standing_order *so = &env->defs->orders[j->so_i];
		r = 0;
		if (j->so_from == INT64_MIN && (r = job_rule_begin(j, so)) < 0)
			return r;
		if (r == 0 && (r = walk_end(j, rule_each(&so->rule, j->so_from, j->so_to, job_occurrence, j))) != 0)
			return r;
		j->so_i++;
		j->so_from = INT64_MIN;
		if (--j->units <= 0)
			return VL_AGAIN;
	}
	job_release(j);
	if ((j->kind == JOB_UPCOMING || j->kind == JOB_FORECAST) && j->n)   /* the others come in order */
		qsort(j->v, j->n, sizeof(*j->v), cmp_item);
	return 0;
}

/* One step of the reply: items copied into parts of CHUNK when the call set more
 * and there are more than CHUNK (exactly what reply_list sends), else into one,
 * which goes out piece by piece when the server takes pieces (one buffer of a few
 * hundred KB, no copy of the whole at the end), else is assembled whole. */
static int job_emit(vl_call_ctx *ctx, list_job *j) {
	bool chunks = vl_call_ctx_more(ctx) && j->n > CHUNK;
	size_t stop = j->emitted + STEP_EMIT < j->n ? j->emitted + STEP_EMIT : j->n;
	int r;
	bool pieces = vl_call_ctx_pieces(ctx);
	if (!chunks && !pieces && j->emitted == 0) {
		size_t bytes = j->n;   /* the commas */
		for (size_t i = 0; i < j->n; i++)
			bytes += j->v[i].len;
		if ((r = vl_list_reserve(&j->out, bytes)) < 0)
			return r;
	}
	while (j->emitted < stop) {
		list_item *x = &j->v[j->emitted];
		r = vl_list_add(&j->out, x->text, x->len);
		free(x->text);
		x->text = NULL;
		j->emitted++;
		if (r < 0)
			return r;
		if (chunks && (j->out.n == CHUNK || j->emitted == j->n) &&
		    (r = vl_list_send(ctx, &j->out, j->emitted < j->n)) < 0)
			return r;
	}
	if (j->emitted < j->n)
		return chunks || (r = vl_list_flush(ctx, &j->out)) == 0 ? VL_AGAIN : r;
	if (!chunks || j->n == 0)
		return vl_list_send(ctx, &j->out, false);
	return 0;
}

static int job_step(vl_call_ctx *ctx, void *state) {
	list_job *j = state;
	int r;
	if (j->phase != PHASE_EMIT) {
		r = job_collect(j);
		if (r == -E2BIG)
			return error_new(ctx, j->too_many, json_pack("{s:i}", "limit", MAX_ITEMS));
		if (r < 0)
			return internal(ctx, r);
		return VL_AGAIN;   /* the reply from the next step on: a sort is work enough for one */
	}
	r = job_emit(ctx, j);
	return r < 0 ? internal(ctx, r) : r;
}

/* sup (a supplier filter, or NULL) is copied: it may point into definitions that a
 * reload frees while the job runs. */
static list_job *job_new(api_env *env, job_kind kind, const char *key, const char *too_many, const char *sup) {
	list_job *j = calloc(1, sizeof(*j));
	if (!j)
		return NULL;
	*j = (list_job) { .env = env, .kind = kind, .key = key, .too_many = too_many, .out = { .key = key },
			  .limit = too_many ? MAX_ITEMS : SIZE_MAX, .lo = INT64_MIN, .hi = INT64_MAX };
	if (sup && !(j->supplier = strdup(sup))) {
		free(j);
		return NULL;
	}
	return j;
}

/* The window [from, to); orders are read with a day's margin either side, which
 * covers every zone's midnight. */
static void job_window(list_job *j, const bound *from, const bound *to) {
	j->window = true;
	j->from = *from;
	j->to = *to;
	j->lo = (from->is_date ? from->day * CAL_SECS_PER_DAY : from->instant) - 2 * CAL_SECS_PER_DAY;
	j->hi = (to->is_date ? to->day * CAL_SECS_PER_DAY : to->instant) + 2 * CAL_SECS_PER_DAY;
}

/* Hands the job to the dispatcher; a oneway call gets nothing, so nothing is built. */
static int job_start(vl_call_ctx *ctx, list_job *j) {
	if (vl_call_ctx_oneway(ctx)) {
		job_free(j);
		return vl_reply(ctx, NULL, false);
	}
	return vl_defer(ctx, job_step, j, job_free);
}

/* ---- io.standingd.Supplier ---- */

static int list_upcoming(vl_call_ctx *ctx, json_t *params, void *userdata) {
	api_env *env = userdata;
	static const char *const allowed[] = { "from", "to", "supplier", NULL };
	const char *sup = NULL;
	bound from, to;
	int r;
	if ((r = vl_params_check(ctx, params, allowed)) < 0 || (r = window_params(ctx, params, true, &from, &to)) < 0 ||
	    (r = vl_param_string(ctx, params, "supplier", false, &sup)) < 0)
		return r;
	peer_role role = role_of(ctx, env);
	if (!(role.flags & PEER_ROLE_OPS)) {
		/* a supplier's user always gets its own shipments, and only those */
		if (sup && strcmp(sup, role.supplier->id))
			return vl_error(ctx, "io.standingd.PermissionDenied", NULL);
		sup = role.supplier->id;
	} else if (sup && !defs_find_supplier(env->defs, sup))
		return vl_invalid_parameter(ctx, "supplier");

	list_job *j = job_new(env, JOB_UPCOMING, "shipments", "io.standingd.Supplier.TooManyShipments", sup);
	if (!j)
		return -ENOMEM;
	job_window(j, &from, &to);
	return job_start(ctx, j);
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
	const char *number;
	uint64_t seq;
	if ((r = vl_param_string(ctx, params, "order", true, &number)) < 0)
		return r;
	if (order_number_parse(number, &seq) < 0)
		return vl_invalid_parameter(ctx, "order");
	peer_role role = role_of(ctx, env);
	sales_ship_result res;
	sales_order *o = NULL;
	r = sales_mark_shipped(env->store, number, (role.flags & PEER_ROLE_OPS) ? NULL : role.supplier->id, carrier,
			       tracking, env->now(env->ud), &res, &o);
	if (r == -ENOENT || r == -EACCES)   /* another supplier's order: as if it did not exist */
		r = error_new(ctx, "io.standingd.Supplier.OrderNotFound", json_pack("{s:s}", "order", o ? o->number : number));
	else if (r == -ECANCELED)
		r = error_new(ctx, "io.standingd.Supplier.OrderCancelled", json_pack("{s:s}", "order", o->number));
	else if (r == -ENOTCONN)   /* awaiting payment or on hold: not to be shipped yet */
		r = error_new(ctx, "io.standingd.Supplier.NotConfirmed", json_pack("{s:s, s:s}", "order",
			o->number, "status", order_status_name(o->status)));
	else if (r == -EALREADY)
		r = error_new(ctx, "io.standingd.Supplier.AlreadyShipped", json_pack("{s:s, s:s, s:s}",
			"order", o->number, "carrier", o->carrier ? o->carrier : "", "tracking", o->tracking ? o->tracking : ""));
	else if (r < 0)
		r = internal(ctx, r);
	else
		r = reply_new(ctx, json_pack("{s:o}", "order", order_to_view(o)));
	order_free(o);
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

/* The next occurrence the engine will create, as ListStandingOrders names it: not
 * a skipped one, none of a paused standing order. 0, or -ENOENT when there is none
 * (or none known, or the store could not say: the standing order is placed anyway). */
static int next_pending_in(store_txn *t, const standing_order *so, occurrence *ret) {
	if (so->rule.paused)
		return -ENOENT;
	sched_state st = { .watermark = INT64_MIN };
	int r = store_sched_get(t, so->id, &st);
	if (r == 0 || r == -ENOENT)
		r = engine_next_pending(t, so, st.watermark, ret);
	return r < 0 ? -ENOENT : 0;
}

/* PlaceStandingOrder's reply, read in t (so or t NULL: no next delivery). */
static json_t *standing_reply(store_txn *t, const standing_order *so, const char *id) {
	occurrence o;
	char when[CAL_ISO_MAX];
	json_t *next = json_null();
	if (so && t && next_pending_in(t, so, &o) == 0)
		next = json_string(cal_format_instant(o.delivery, tz_offset_at(so->rule.zone, o.delivery), when));
	return json_pack("{s:s, s:o}", "standing_order", id, "next_delivery", next);
}

/* PlaceStandingOrder with an idempotency key: the reply is built and its record
 * written inside the engine's apply transaction (engine_sources.also), which also
 * stores the API definition, so the key and the definition land together. */
typedef struct standing_also {
	const api_idem *ix;
	const char *id;
	char *reply;          /* the text stored, for the first reply */
} standing_also;

static int standing_also_put(store_txn *t, const defs *d, void *ud) {
	standing_also *a = ud;
	json_t *p = standing_reply(t, defs_find_order(d, a->id), a->id);
	char *text = p ? json_dumps(p, JSON_COMPACT) : NULL;
	json_decref(p);
	if (!text)
		return -ENOMEM;
	int r = api_idem_put(t, a->ix, text);
	if (r < 0) {
		free(text);
		return r;
	}
	free(a->reply);
	a->reply = text;
	return 0;
}

static int place_standing_order(vl_call_ctx *ctx, json_t *params, void *userdata) {
	api_env *env = userdata;
	static const char *const allowed[] = { "definition", "idempotency_key", NULL };
	json_t *def;
	int r;
	if ((r = vl_params_check(ctx, params, allowed)) < 0 ||
	    (r = vl_param_object(ctx, params, "definition", true, &def)) < 0)
		return r;
	api_idem ix;
	if ((r = api_idem_begin(ctx, env->store, params, env->now(env->ud), &ix)) != 0)
		return r < 0 ? r : 0;
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
	standing_also also = { .ix = &ix, .id = id ? id : "" };
	if (ix.key && env->apply_api_order_also)
		r = env->apply_api_order_also(env->ud, id ? id : "", text, standing_also_put, &also, &diags);
	else
		r = env->apply_api_order(env->ud, id ? id : "", text, &diags);
	free(text);
	store_txn *t;
	if (r == -EINVAL) {
		r = error_new(ctx, "io.standingd.Orders.InvalidDefinition",
			     json_pack("{s:o}", "errors", field_errors(&diags, "standing_orders[0]")));
	} else if (r == -EEXIST && ix.key && !also.reply) {
		r = api_idem_answer(ctx, env->store, &ix);   /* stored meanwhile */
	} else if (r < 0) {
		r = internal(ctx, r);
	} else if (also.reply) {
		/* exactly the text stored, as a retry gets it */
		json_t *p = json_loads(also.reply, 0, NULL);
		r = p ? reply_new(ctx, p) : internal(ctx, -ENOMEM);
	} else {
		/* placed: a store that cannot be read now only leaves next_delivery null */
		bool snap = store_begin(env->store, false, &t) == 0;
		json_t *p = standing_reply(snap ? t : NULL, defs_find_order(env->defs, id), id);
		if (snap)
			store_abort(t);
		r = reply_new(ctx, p);
	}
	free(also.reply);
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
	char number[ORDER_NUMBER_MAX];
	peer *p = vl_call_ctx_caller(ctx);
	char reason[128];
	snprintf(reason, sizeof(reason), "skipped by request of %s (uid %u)", p->user[0] ? p->user : "?",
		 (unsigned) p->uid);
	r = sales_skip_occurrence(env->store, so->id, delivery, env->now(env->ud), reason, number);
	if (r == -EEXIST)
		return error_new(ctx, "io.standingd.Orders.AlreadyCreated", json_pack("{s:s, s:s, s:s}",
				"standing_order", so->id, "delivery", when, "order", number));
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
	static const char *const allowed[] = { "customer", "supplier", "ship_to", "lines", "payment", "delivery",
					       "idempotency_key", NULL };
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
	api_idem ix;   /* a retry gets the first reply, before any check that time may change */
	int64_t now = env->now(env->ud);
	if ((r = api_idem_begin(ctx, env->store, params, now, &ix)) != 0)
		return r < 0 ? r : 0;
	diag_list errs = { 0 };
	const customer *cu = NULL;
	if (text_ok(&errs, "customer", cust_id) && !(cu = defs_find_customer(env->defs, cust_id)))
		diag_add(&errs, "customer", 0, 0, "unknown customer \"%s\"", cust_id);
	if (text_ok(&errs, "supplier", supp_id) && !defs_find_supplier(env->defs, supp_id))
		diag_add(&errs, "supplier", 0, 0, "unknown supplier \"%s\"", supp_id);
	order_payment pm = ORDER_PAYMENT_ACCOUNT;
	if (text_ok(&errs, "payment", pay)) {
		if (order_payment_parse(pay, &pm) < 0)
			diag_add(&errs, "payment", 0, 0, "expected one of %s, %s, got \"%s\"",
				 order_payment_names[ORDER_PAYMENT_ACCOUNT], order_payment_names[ORDER_PAYMENT_PREPAID], pay);
		else if (pm == ORDER_PAYMENT_ACCOUNT && cu && !cu->account_number)
			diag_add(&errs, "payment", 0, 0, "customer \"%s\" has no account: use prepaid", cu->id);
	}
	/* ship_to and lines: the standing orders' own checks (country code, prices, text) */
	standing_order items = { 0 };
	if ((r = order_items(ship, lines, &items, &errs)) == -ENOMEM) {
		diag_list_clear(&errs);
		return internal(ctx, r);
	}
	/* a credit limit in one currency limits only charges in it: an account order in
	 * another could never be checked against it, so it is refused here */
	if (r == 0 && pm == ORDER_PAYMENT_ACCOUNT && cu && cu->credit_limit.currency[0] && items.n_lines &&
	    strcmp(items.lines[0].unit_price.currency, cu->credit_limit.currency))
		diag_add(&errs, "lines", 0, 0, "customer \"%s\" has its credit limit in %s: an account order must be in %s, "
			 "got %s", cu->id, cu->credit_limit.currency, cu->credit_limit.currency,
			 items.lines[0].unit_price.currency);
	bound b;
	if (text_ok(&errs, "delivery", when)) {
		char iso[CAL_ISO_MAX];
		if (parse_bound(when, &b) < 0)
			diag_add(&errs, "delivery", 0, 0, "expected a date YYYY-MM-DD or an instant, got \"%s\"", when);
		else if (cu && bound_at(&b, cu->zone) < now)   /* a date is its midnight in the customer's zone */
			diag_add(&errs, "delivery", 0, 0, "\"%s\" is in the past (now is %s)", when, cal_format_utc(now, iso));
	}
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
	int64_t delivery = bound_at(&b, z);
	sales_order o = {
		.customer = cu->id, .supplier = (char *) supp_id, .ship_to = items.ship_to,
		.lines = items.lines, .n_lines = items.n_lines, .delivery = delivery, .delivery_offset = tz_offset_at(z, delivery),
		.zone = (char *) tz_zone_name(z), .created = now, .payment = pm,
		.occurrence = UINT64_MAX, .placed_by = placer,
	};
	/* the validator has checked one currency and that the net fits; the gross (VAT
	 * added) may not: that is the lines' error too */
	r = sales_place(env->store, cu, &o, placer, api_idem_sales_order(&ix));
	if (r == -EEXIST && ix.key) {   /* stored meanwhile: its reply */
		defs_order_done(&items);
		order_transitions_clear(&o);
		diag_list_clear(&errs);
		return api_idem_answer(ctx, env->store, &ix);
	}
	if (r == -EOVERFLOW) {
		defs_order_done(&items);
		order_transitions_clear(&o);
		diag_add(&errs, "lines", 0, 0, "the order's total with VAT is out of range");
		r = error_new(ctx, "io.standingd.Orders.InvalidOrder", json_pack("{s:o}", "errors", field_errors(&errs, NULL)));
		diag_list_clear(&errs);
		return r;
	}
	if (r < 0) {
		defs_order_done(&items);
		order_transitions_clear(&o);
		return internal(ctx, r);
	}
	if (env->order_placed)
		env->order_placed(env->ud, &o);
	json_t *p = json_pack("{s:o}", "order", order_to_view(&o));
	r = reply_new(ctx, p);
	defs_order_done(&items);
	order_transitions_clear(&o);
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
		order_free(o);
		return denied(ctx);
	}
	json_t *p = json_pack("{s:o}", "order", order_to_view(o));
	order_free(o);
	return reply_new(ctx, p);
}

static int list_orders(vl_call_ctx *ctx, json_t *params, void *userdata) {
	api_env *env = userdata;
	static const char *const allowed[] = { "customer", "supplier", "standing_order", "status", "from", "to", NULL };
	const char *cust = NULL, *sup = NULL, *so = NULL, *status = NULL;
	bound from, to;
	int r;
	if ((r = vl_params_check(ctx, params, allowed)) < 0 ||
	    (r = vl_param_string(ctx, params, "customer", false, &cust)) < 0 ||
	    (r = vl_param_string(ctx, params, "supplier", false, &sup)) < 0 ||
	    (r = vl_param_string(ctx, params, "standing_order", false, &so)) < 0 ||
	    (r = vl_param_string(ctx, params, "status", false, &status)) < 0 ||
	    (r = window_params(ctx, params, false, &from, &to)) < 0)
		return r;
	bool window = r == 1;
	order_status st;
	if (status && order_status_parse(status, &st) < 0)
		return vl_invalid_parameter(ctx, "status");
	list_job *j = job_new(env, JOB_ORDERS, "orders", "io.standingd.Orders.TooManyOrders", sup);
	if (!j)
		return -ENOMEM;
	j->customer = cust;
	j->so_id = so;
	j->status = status;
	j->shop_only = shop_only(role_of(ctx, env));
	if (window)
		job_window(j, &from, &to);
	return job_start(ctx, j);
}

/* ---- payments and the order's life (issue 9) ---- */

/* Last ledger entries GetAccount shows. */
#define ACCOUNT_LAST_ENTRIES 20

static json_t *money_view(money m) {
	char buf[32];
	return json_pack("{s:s, s:s}", "amount", money_format_amount(&m, buf, sizeof(buf)), "currency", m.currency);
}

/* A Money parameter, {"amount": "850.00", "currency": "EUR"}, more than zero, in the
 * currency's precision. 0, or -EINVAL after InvalidParameter naming it. */
static int money_param(vl_call_ctx *ctx, json_t *params, const char *key, money *ret) {
	json_t *m;
	int r = vl_param_object(ctx, params, key, true, &m);
	if (r < 0)
		return r;
	const char *amount = json_string_value(json_object_get(m, "amount"));
	const char *cur = json_string_value(json_object_get(m, "currency"));
	char text[96];
	const char *why;
	money v;
	if (!amount || !cur || json_object_size(m) != 2 || strchr(amount, ' ') || strchr(cur, ' ') ||
	    snprintf(text, sizeof(text), "%s %s", amount, cur) >= (int) sizeof(text) ||
	    money_parse(text, &v, &why) < 0 || v.minor <= 0)
		return vl_invalid_parameter(ctx, key);
	*ret = v;
	return 0;
}

/* A payment reference: text, not empty, at most 200 bytes. */
static int reference_param(vl_call_ctx *ctx, json_t *params, const char **ret) {
	int r = vl_param_string(ctx, params, "reference", true, ret);
	char msg[TEXT_MSG_MAX];
	if (r < 0)
		return r;
	size_t n = strlen(*ret);
	if (!n || n > 200 || text_check(*ret, n, msg) < 0)
		return vl_invalid_parameter(ctx, "reference");
	return 0;
}

/* The customer named by params' "customer": 0 with it, or 1 / a negative errno after
 * replying (InvalidParameter, CustomerNotFound). */
static int customer_param(vl_call_ctx *ctx, api_env *env, json_t *params, const customer **ret) {
	const char *id;
	int r = vl_param_string(ctx, params, "customer", true, &id);
	if (r < 0)
		return r;
	if (!(*ret = defs_find_customer(env->defs, id))) {
		r = error_new(ctx, "io.standingd.Orders.CustomerNotFound", json_pack("{s:s}", "customer", id));
		return r < 0 ? r : 1;
	}
	return 0;
}

/* Reads the order named by "order" for a method on one order and checks the shop's
 * reach (only orders shop users placed, as GetOrder). 0 with *ret (order_free), or 1
 * / a negative errno after replying. */
static int target_order(vl_call_ctx *ctx, api_env *env, json_t *params, sales_order **ret) {
	store_txn *t;
	int r = order_param(ctx, env, params, false, &t, ret, "io.standingd.Orders");
	if (r != 0)
		return r;
	store_abort(t);
	if (shop_only(role_of(ctx, env)) && !shop_order(env, *ret)) {
		order_free(*ret);
		*ret = NULL;
		r = denied(ctx);
		return r < 0 ? r : 1;
	}
	return 0;
}

/* The reply of a method on one order: the order as written, or why it was refused. */
static int order_outcome(vl_call_ctx *ctx, const char *number, int r, const sales_order *o, const sales_refusal *why) {
	const char *iface = "io.standingd.Orders";
	char name[96];
	json_t *p;
	switch (r) {
	case 0:
		return reply_new(ctx, json_pack("{s:o}", "order", order_to_view(o)));
	case -ENOENT:
		snprintf(name, sizeof(name), "%s.OrderNotFound", iface);
		p = json_pack("{s:s}", "order", number);
		break;
	case -EDQUOT:
		snprintf(name, sizeof(name), "%s.CreditLimitExceeded", iface);
		p = json_pack("{s:s, s:o, s:o, s:o}", "order", number, "balance", money_view(why->balance),
			      "limit", money_view(why->limit), "total", money_view(why->total));
		break;
	case -EBADE:
		snprintf(name, sizeof(name), "%s.WrongAmount", iface);
		p = json_pack("{s:s, s:o}", "order", number, "due", money_view(why->total));
		break;
	case -EPERM:
		snprintf(name, sizeof(name), "%s.WrongStatus", iface);
		p = json_pack("{s:s, s:s}", "order", number, "status", order_status_name(why->status));
		break;
	default:
		return internal(ctx, r);
	}
	return error_new(ctx, name, p);
}

/* A reason: text; required ones not empty. 0 with *ret (NULL when absent or empty and
 * optional), or -EINVAL after InvalidParameter. */
static int reason_param(vl_call_ctx *ctx, json_t *params, bool required, const char **ret) {
	const char *reason = NULL;
	char msg[TEXT_MSG_MAX];
	int r = vl_param_string(ctx, params, "reason", required, &reason);
	if (r < 0)
		return r;
	if (reason && ((required && !*reason) || text_check(reason, strlen(reason), msg) < 0))
		return vl_invalid_parameter(ctx, "reason");
	*ret = reason && *reason ? reason : NULL;
	return 0;
}

typedef enum order_op { OP_RELEASE, OP_HOLD, OP_PAY, OP_CANCEL } order_op;

typedef struct order_call {
	order_op op;
	const char *reason;      /* HoldOrder, CancelOrder */
	money amount;            /* RecordPayment */
	const char *reference;   /* RecordPayment */
} order_call;

/* ReleaseOrder, HoldOrder, RecordPayment and CancelOrder, once their own parameters
 * are read: the order is read and the shop's reach checked (as GetOrder), then the
 * sales operation runs in its own write transaction as the caller ("ops:USER",
 * "shop:USER"), and the reply is the order as written or why it was refused. */
static int order_call_run(vl_call_ctx *ctx, api_env *env, json_t *params, const order_call *c) {
	sales_order *o = NULL, *done = NULL;
	api_idem ix;   /* a retry gets the first reply: looked up before the order is */
	int r = api_idem_begin(ctx, env->store, params, env->now(env->ud), &ix);
	if (r == 0)
		r = target_order(ctx, env, params, &o);
	if (r != 0)
		return r < 0 ? r : 0;
	const sales_idem *idem = api_idem_sales_order(&ix);
	char by[96];
	sales_refusal why = { 0 };
	placer_of(ctx, role_of(ctx, env), by);
	int64_t now = env->now(env->ud);
	const customer *cu;
	switch (c->op) {
	case OP_RELEASE:
		/* the limit is the customer's as defined now */
		if (!(cu = defs_find_customer(env->defs, o->customer))) {
			r = error_new(ctx, "io.standingd.Orders.CustomerNotFound", json_pack("{s:s}", "customer", o->customer));
			goto out;
		}
		r = sales_release(env->store, cu, o->number, now, by, idem, &done, &why);
		break;
	case OP_HOLD:
		r = sales_hold(env->store, o->number, now, by, c->reason, idem, &done, &why);
		break;
	case OP_PAY:
		r = sales_record_payment(env->store, o->number, c->amount, c->reference, now, by, idem, &done, &why);
		break;
	case OP_CANCEL:
		r = sales_cancel(env->store, o->number, now, by, c->reason, idem, &done, &why);
		break;
	}
	if (r == -EEXIST && ix.key)   /* stored meanwhile: its reply */
		r = api_idem_answer(ctx, env->store, &ix);
	else
		r = order_outcome(ctx, o->number, r, done, &why);
out:
	order_free(done);
	order_free(o);
	return r;
}

static int release_order(vl_call_ctx *ctx, json_t *params, void *userdata) {
	static const char *const allowed[] = { "order", "idempotency_key", NULL };
	int r = vl_params_check(ctx, params, allowed);
	return r < 0 ? r : order_call_run(ctx, userdata, params, &(order_call) { .op = OP_RELEASE });
}

static int hold_order(vl_call_ctx *ctx, json_t *params, void *userdata) {
	static const char *const allowed[] = { "order", "reason", "idempotency_key", NULL };
	order_call c = { .op = OP_HOLD };
	int r;
	if ((r = vl_params_check(ctx, params, allowed)) < 0 || (r = reason_param(ctx, params, false, &c.reason)) < 0)
		return r;
	return order_call_run(ctx, userdata, params, &c);
}

static int record_payment(vl_call_ctx *ctx, json_t *params, void *userdata) {
	static const char *const allowed[] = { "order", "amount", "reference", "idempotency_key", NULL };
	order_call c = { .op = OP_PAY };
	int r;
	if ((r = vl_params_check(ctx, params, allowed)) < 0 || (r = money_param(ctx, params, "amount", &c.amount)) < 0 ||
	    (r = reference_param(ctx, params, &c.reference)) < 0)
		return r;
	return order_call_run(ctx, userdata, params, &c);
}

static int cancel_order(vl_call_ctx *ctx, json_t *params, void *userdata) {
	static const char *const allowed[] = { "order", "reason", "idempotency_key", NULL };
	order_call c = { .op = OP_CANCEL };
	int r;
	if ((r = vl_params_check(ctx, params, allowed)) < 0 || (r = reason_param(ctx, params, true, &c.reason)) < 0)
		return r;
	return order_call_run(ctx, userdata, params, &c);
}

/* RecordAccountPayment's reply, built in the payment's transaction when the call has
 * an idempotency key (the record stores it): {"entry": LedgerEntry}, as below. */
static char *entry_reply(const sales_order *o, const ledger_entry *e, void *ud) {
	(void) o;
	(void) ud;
	json_t *p = e ? json_pack("{s:o}", "entry", ledger_entry_view(e)) : NULL;
	char *text = p ? json_dumps(p, JSON_COMPACT) : NULL;
	json_decref(p);
	return text;
}

static int record_account_payment(vl_call_ctx *ctx, json_t *params, void *userdata) {
	api_env *env = userdata;
	static const char *const allowed[] = { "customer", "amount", "reference", "idempotency_key", NULL };
	const customer *cu;
	const char *ref;
	money amount;
	int r;
	if ((r = vl_params_check(ctx, params, allowed)) < 0 || (r = money_param(ctx, params, "amount", &amount)) < 0 ||
	    (r = reference_param(ctx, params, &ref)) < 0)
		return r;
	api_idem ix;
	if ((r = api_idem_begin(ctx, env->store, params, env->now(env->ud), &ix)) != 0 ||
	    (r = customer_param(ctx, env, params, &cu)) != 0)
		return r < 0 ? r : 0;
	if (!cu->account_number)
		return error_new(ctx, "io.standingd.Orders.NoAccount", json_pack("{s:s}", "customer", cu->id));
	char by[96];
	placer_of(ctx, role_of(ctx, env), by);
	ledger_entry e = { 0 };
	r = sales_record_account_payment(env->store, cu, amount, ref, env->now(env->ud), by,
					 api_idem_sales(&ix, entry_reply), &e);
	if (r == -EEXIST && ix.key)
		return api_idem_answer(ctx, env->store, &ix);
	if (r < 0)
		return internal(ctx, r);
	r = reply_new(ctx, json_pack("{s:o}", "entry", ledger_entry_view(&e)));
	ledger_entry_done(&e);
	return r;
}

static int get_account(vl_call_ctx *ctx, json_t *params, void *userdata) {
	api_env *env = userdata;
	static const char *const allowed[] = { "customer", NULL };
	const customer *cu;
	account_summary *a = NULL;
	int r;
	if ((r = vl_params_check(ctx, params, allowed)) < 0 || (r = customer_param(ctx, env, params, &cu)) != 0)
		return r < 0 ? r : 0;
	if ((r = sales_account_get(env->store, cu, ACCOUNT_LAST_ENTRIES, &a)) < 0)
		return internal(ctx, r);
	r = reply_new(ctx, json_pack("{s:o}", "account", account_summary_view(a)));
	account_summary_free(a);
	return r;
}

/* ListLedger: one customer's entries, read and encoded in steps of STEP_UNITS; the
 * ledger is append-only, so a walk that resumes at the next sequence number sees
 * every entry before it exactly as it was. */
typedef struct ledger_job {
	api_env *env;
	char *customer;
	int64_t from, to;
	uint64_t next_seq;       /* 0: done */
	size_t n;                /* entries collected */
	vl_list out;
} ledger_job;

static void ledger_job_free(void *state) {
	ledger_job *j = state;
	vl_list_clear(&j->out);
	free(j->customer);
	free(j);
}

static int ledger_step(vl_call_ctx *ctx, void *state) {
	ledger_job *j = state;
	bool more = vl_call_ctx_more(ctx);
	ledger_entry *v = NULL;
	size_t n = 0;
	uint64_t next = 0;
	int r = sales_ledger_list(j->env->store, j->customer, j->from, j->to, j->next_seq, STEP_UNITS, &v, &n, &next);
	for (size_t i = 0; i < n; i++) {
		char *text = NULL;
		size_t len = 0;
		if (r == 0 && !more && j->n >= MAX_ITEMS)
			r = -E2BIG;
		json_t *item = r == 0 ? ledger_entry_view(&v[i]) : NULL;
		if (r == 0 && !item)
			r = -ENOMEM;
		if (r == 0 && (r = vl_item_encode(item, &text, &len)) == 0) {
			r = vl_list_add(&j->out, text, len);
			j->n++;
		}
		json_decref(item);
		free(text);
		if (r == 0 && more && j->out.n == CHUNK)
			r = vl_list_send(ctx, &j->out, true);
		ledger_entry_done(&v[i]);
	}
	free(v);
	if (r == -E2BIG)
		return error_new(ctx, "io.standingd.Orders.TooManyEntries", json_pack("{s:i}", "limit", MAX_ITEMS));
	if (r < 0)
		return internal(ctx, r);
	j->next_seq = next;
	if (next)
		return VL_AGAIN;
	return vl_list_send(ctx, &j->out, false);
}

static int list_ledger(vl_call_ctx *ctx, json_t *params, void *userdata) {
	api_env *env = userdata;
	static const char *const allowed[] = { "customer", "from", "to", NULL };
	const customer *cu;
	const char *f = NULL, *t = NULL;
	bound from, to;
	int r;
	if ((r = vl_params_check(ctx, params, allowed)) < 0 ||
	    (r = vl_param_string(ctx, params, "from", false, &f)) < 0 ||
	    (r = vl_param_string(ctx, params, "to", false, &t)) < 0)
		return r;
	if (f && parse_bound(f, &from) < 0)
		return vl_invalid_parameter(ctx, "from");
	if (t && parse_bound(t, &to) < 0)
		return vl_invalid_parameter(ctx, "to");
	if ((r = customer_param(ctx, env, params, &cu)) != 0)
		return r < 0 ? r : 0;
	int64_t lo = f ? bound_at(&from, cu->zone) : INT64_MIN, hi = t ? bound_at(&to, cu->zone) : INT64_MAX;
	if (hi <= lo)
		return vl_invalid_parameter(ctx, "to");
	if (vl_call_ctx_oneway(ctx))
		return vl_reply(ctx, NULL, false);
	ledger_job *j = calloc(1, sizeof(*j));
	if (!j || !(j->customer = strdup(cu->id))) {
		free(j);
		return internal(ctx, -ENOMEM);
	}
	j->env = env;
	j->from = lo;
	j->to = hi;
	j->next_seq = 1;
	j->out.key = "entries";
	return vl_defer(ctx, ledger_step, j, ledger_job_free);
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
	const standing_order *next = NULL;
	int64_t at = 0;
	if ((r = store_begin(env->store, false, &t)) < 0)
		return internal(ctx, r);
	/* next_due: the next order to be created (not paused, no skip record) */
	if ((r = store_counts(t, &orders, &outbox)) == 0 && (r = engine_peek(env->engine, t, &next, &at)) == -ENOENT)
		r = 0;
	store_abort(t);
	if (r < 0)
		return internal(ctx, r);
	engine_stats st;
	engine_get_stats(env->engine, &st);
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
			json_array_append_new(a, json_string(s ? s : diags.v[i].msg));
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
	list_job *j = job_new(env, JOB_STANDING, "standing_orders", NULL, NULL);
	if (!j)
		return -ENOMEM;
	return job_start(ctx, j);
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
	list_job *j = job_new(env, JOB_FORECAST, "occurrences", "io.standingd.Ops.TooManyOccurrences", NULL);
	if (!j)
		return -ENOMEM;
	j->from_day = from;
	j->to_day = to;
	return job_start(ctx, j);
}

/* ---- io.standingd ---- */

/* The daemon's clock, its test clock when it runs on one: windows relative to today
 * (standingctl upcoming's default) are taken from it, not from the caller's host. */
static int clock_now(vl_call_ctx *ctx, json_t *params, void *userdata) {
	api_env *env = userdata;
	static const char *const allowed[] = { NULL };
	int r;
	if ((r = vl_params_check(ctx, params, allowed)) < 0)
		return r;
	char now[CAL_ISO_MAX];
	return reply_new(ctx, json_pack("{s:s}", "now", cal_format_utc(env->now(env->ud), now)));
}

/* ---- registration ---- */

int api_register(vl_service *svc, api_env *env) {
	static const vl_method m_common[] = {
		{ "Now", clock_now, 0 },
	};
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
		{ "RecordPayment", record_payment, 0 },
		{ "RecordAccountPayment", record_account_payment, 0 },
		{ "ReleaseOrder", release_order, 0 },
		{ "HoldOrder", hold_order, 0 },
		{ "CancelOrder", cancel_order, 0 },
		{ "GetAccount", get_account, 0 },
		{ "ListLedger", list_ledger, 0 },
	};
	static const vl_method m_ops[] = {
		{ "Status", status, 0 },
		{ "Reload", reload, 0 },
		{ "ListStandingOrders", list_standing_orders, 0 },
		{ "Forecast", forecast_method, 0 },
	};
	int r;
	if ((r = vl_service_add_interface(svc, "io.standingd", API_IDL_COMMON, m_common, 1, env)) < 0 ||
	    (r = vl_service_add_interface(svc, "io.standingd.Supplier", API_IDL_SUPPLIER, m_supplier, 2, env)) < 0 ||
	    (r = vl_service_add_interface(svc, "io.standingd.Orders", API_IDL_ORDERS, m_orders, sizeof(m_orders) / sizeof(m_orders[0]), env)) < 0 ||
	    (r = vl_service_add_interface(svc, "io.standingd.Ops", API_IDL_OPS, m_ops, 4, env)) < 0)
		return r;
	vl_service_set_authorize(svc, authorize, env);
	return 0;
}
