/* Long lists, built in steps: the job machinery of ListUpcoming, ListOrders,
 * Forecast and ListStandingOrders (described below). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lib/api/api_int.h"
#include "lib/defs/pack.h"

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

/* Encoded items copied into the reply per step once all are collected. */
#define STEP_EMIT 500
/* Lists collected at once: each holds an LMDB reader slot (126 in all, shared with
 * standingctl) and keeps the map from growing; the others wait their turn. */
#define MAX_SNAPSHOTS 8

static void job_items_clear(list_job *j) {
	free(j->v);
	free(j->text.b.s);
	j->text = (jsonw) { 0 };
	j->v = NULL;
	j->n = j->cap = j->emitted = 0;
}

/* The snapshot is let go; one the daemon lent (a worker's call) is the daemon's to
 * end. */
static void job_release(list_job *j) {
	if (j->t) {
		if (j->t != api_read_lent()) {
			store_abort(j->t);
			j->env->snapshots--;
		}
		j->t = NULL;
	}
}

static void job_free(void *state) {
	list_job *j = state;
	job_release(j);
	job_items_clear(j);
	vl_list_clear(&j->out);
	defs_arena_free(j->scratch);
	free(j->supplier);
	free(j);
}

/* Room for one more item: -E2BIG past the job's limit (MAX_ITEMS). Called before
 * the item is written. */
static int job_room(list_job *j) {
	if (j->n >= j->limit)
		return -E2BIG;
	if (j->n == j->cap) {
		size_t cap = j->cap ? j->cap * 2 : 64;
		list_item *v = realloc(j->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		j->v = v;
		j->cap = cap;
	}
	return 0;
}

/* Keeps the item written into j->text from off on (job_room() made its room). */
static int job_keep(list_job *j, size_t off, int64_t delivery, const char *so, const char *number, uint64_t n) {
	if (j->text.b.oom)
		return -ENOMEM;
	list_item *x = &j->v[j->n++];
	x->off = off;
	x->len = j->text.b.n - off;
	x->delivery = delivery;
	x->so = so ? so : "";
	size_t len = number ? strnlen(number, sizeof(x->number) - 1) : 0;
	memcpy(x->number, number ? number : "", len);
	x->number[len] = '\0';
	x->n = n;
	return 0;
}

/* An item built as a tree (taken): encoded into j->text and kept. */
static int job_push(list_job *j, int64_t delivery, const char *so, const char *number, uint64_t n, json_t *item) {
	char *text = NULL;
	size_t len = 0;
	int r = item ? job_room(j) : -ENOMEM;
	if (r == 0)
		r = vl_item_encode(item, &text, &len);
	json_decref(item);
	if (r < 0)
		return r;
	size_t off = j->text.b.n;
	j->text.comma = false;
	jsonw_raw(&j->text, text, len);
	free(text);
	return job_keep(j, off, delivery, so, number, n);
}

/* The items written directly: an order's address and lines as order_address_view
 * and order_lines_view build them (the same keys in the same order). */
static void write_address(jsonw *w, const order_address *a) {
	jsonw_obj_open(w);
	jsonw_kstr(w, "name", a->name);
	jsonw_kstr(w, "street", a->street);
	jsonw_kstr(w, "postcode", a->postcode);
	jsonw_kstr(w, "city", a->city);
	jsonw_kstr(w, "country", a->country);
	jsonw_obj_close(w);
}

static void write_lines(jsonw *w, const order_line *lines, size_t n) {
	jsonw_arr_open(w);
	for (size_t i = 0; i < n; i++) {
		char amount[32];
		money_format_amount(&lines[i].unit_price, amount, sizeof(amount));
		jsonw_obj_open(w);
		jsonw_kstr(w, "sku", lines[i].sku);
		jsonw_kint(w, "quantity", (int64_t) lines[i].quantity);
		jsonw_kstr(w, "unit_price", amount);
		jsonw_kstr(w, "currency", lines[i].unit_price.currency);
		jsonw_obj_close(w);
	}
	jsonw_arr_close(w);
}

/* Opens an item in j->text: its offset. */
static size_t item_open(list_job *j) {
	size_t off = j->text.b.n;
	j->text.comma = false;
	j->text.after_key = false;
	jsonw_obj_open(&j->text);
	return off;
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
	if (o->delivery < api_bound_at(&j->from, z) || o->delivery >= api_bound_at(&j->to, z))
		return 0;
	int r = job_room(j);
	if (r < 0)
		return r;
	char local[CAL_ISO_MAX], utc[CAL_ISO_MAX];
	jsonw *w = &j->text;
	size_t off = item_open(j);
	jsonw_kstr(w, "delivery", cal_format_instant(o->delivery, o->delivery_offset, local));
	jsonw_kstr(w, "delivery_utc", cal_format_utc(o->delivery, utc));
	jsonw_kstr(w, "status", order_status_name(o->status));
	jsonw_kstr(w, "order", o->number);
	jsonw_kstr(w, "standing_order", o->standing_order);
	jsonw_kstr(w, "customer", o->customer);
	jsonw_kstr(w, "customer_name", customer_name(j->env, o->customer));
	jsonw_kstr(w, "supplier", o->supplier);
	jsonw_key(w, "ship_to");
	write_address(w, &o->ship_to);
	jsonw_key(w, "lines");
	write_lines(w, o->lines, o->n_lines);
	jsonw_kstr(w, "carrier", o->carrier);
	jsonw_kstr(w, "tracking", o->tracking);
	jsonw_obj_close(w);
	const standing_order *so = o->standing_order ? defs_find_order(j->env->defs, o->standing_order) : NULL;
	return job_keep(j, off, o->delivery, so ? so->id : "", o->number, 0);
}

static int list_order(const sales_order *o, list_job *j) {
	if ((j->customer && strcmp(j->customer, o->customer)) || (j->supplier && strcmp(j->supplier, o->supplier)) ||
	    (j->so_id && (!o->standing_order || strcmp(j->so_id, o->standing_order))) ||
	    (j->status && strcmp(j->status, order_status_name(o->status))) ||
	    (j->shop_only && !api_shop_order(j->env, o)))
		return 0;
	if (j->window) {
		const tz_zone *z = zone_named(j->env, o->zone);
		if (o->delivery < api_bound_at(&j->from, z) || o->delivery >= api_bound_at(&j->to, z))
			return 0;
	}
	int r = job_room(j);
	if (r < 0)
		return r;
	size_t off = j->text.b.n;
	j->text.comma = false;
	j->text.after_key = false;
	order_view_write(&j->text, o);   /* order_to_view's bytes (test_order_view) */
	return job_keep(j, off, o->delivery, "", o->number, 0);
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

/* orders[so_i] with its bulk, read in the job's snapshot once for all its items
 * (the thin set is read-only while the job runs: a change of the definitions
 * restarts it, with its snapshot). */
static int job_full(list_job *j, const standing_order **ret) {
	if (j->full_i != j->so_i + 1) {
		defs_arena_reset(&j->scratch);
		j->full_i = 0;
		int r = sales_so_full(j->t, &j->env->defs->orders[j->so_i], &j->scratch, &j->full);
		if (r < 0)
			return r;
		j->full_i = j->so_i + 1;
	}
	*ret = &j->full;
	return 0;
}

static int upcoming_projected(const occurrence *o, list_job *j) {
	const standing_order *so;
	int r = engine_occurrence_state(j->t, j->env->defs->orders[j->so_i].id, j->watermark, o->delivery);
	if (r != ENGINE_OCC_PENDING)
		return r < 0 ? r : 0;   /* created (listed from the store) or skipped */
	if ((r = job_room(j)) < 0 || (r = job_full(j, &so)) < 0)
		return r;
	char local[CAL_ISO_MAX], utc[CAL_ISO_MAX];
	jsonw *w = &j->text;
	size_t off = item_open(j);
	jsonw_kstr(w, "delivery", cal_format_instant(o->delivery, tz_offset_at(so->rule.zone, o->delivery), local));
	jsonw_kstr(w, "delivery_utc", cal_format_utc(o->delivery, utc));
	jsonw_kstr(w, "status", "projected");
	jsonw_kstr(w, "order", NULL);
	jsonw_kstr(w, "standing_order", so->id);
	jsonw_kstr(w, "customer", so->customer->id);
	jsonw_kstr(w, "customer_name", so->customer->name);
	jsonw_kstr(w, "supplier", so->supplier);
	jsonw_key(w, "ship_to");
	write_address(w, &so->bulk->ship_to);
	jsonw_key(w, "lines");
	write_lines(w, so->bulk->lines, so->bulk->n_lines);
	jsonw_kstr(w, "carrier", NULL);
	jsonw_kstr(w, "tracking", NULL);
	jsonw_obj_close(w);
	return job_keep(j, off, o->delivery, so->id, "", 0);
}

static int forecast_occurrence(const occurrence *o, list_job *j) {
	const standing_order *so;
	int r = engine_occurrence_state(j->t, j->env->defs->orders[j->so_i].id, j->watermark, o->delivery);
	if (r < 0 || r == ENGINE_OCC_SKIPPED)
		return r < 0 ? r : 0;   /* the forecast is what was or will be created */
	if ((r = job_room(j)) < 0 || (r = job_full(j, &so)) < 0)
		return r;
	char d[CAL_ISO_MAX], c[CAL_ISO_MAX];
	jsonw *w = &j->text;
	size_t off = item_open(j);
	jsonw_kstr(w, "standing_order", so->id);
	jsonw_kstr(w, "customer", so->customer->id);
	jsonw_kstr(w, "supplier", so->supplier);
	jsonw_kstr(w, "delivery", cal_format_instant(o->delivery, tz_offset_at(so->rule.zone, o->delivery), d));
	jsonw_kstr(w, "create_at", cal_format_utc(o->create_at, c));
	jsonw_key(w, "lines");
	write_lines(w, so->bulk->lines, so->bulk->n_lines);
	jsonw_obj_close(w);
	return job_keep(j, off, o->delivery, so->id, "", o->n);
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
	/* a thin one's line is in its bulk (job_full: the standing order's) */
	const standing_order *full = so;
	if (so->stored && (r = job_full(j, &full)) < 0)
		return r;
	api_so_source(full, src, sizeof(src));
	json_t *item = json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:b, s:o, s:o, s:I, s:I}",
		"id", so->id, "customer", so->customer->id, "supplier", so->supplier, "source", src,
		"placed_by", api_jstr_or_null(so->bulk->placed_by),
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
	j->so_from = api_bound_at(&j->from, z);
	j->so_to = api_bound_at(&j->to, z);
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
	store_txn *lent = api_read_lent();
	if (!lent && store_room_wanted(env->store)) {
		/* the map must grow, which it cannot under a snapshot: let go, begin again
		 * (a lent one is the daemon's: it lends no new ones until the map grew) */
		job_release(j);
		job_items_clear(j);
		j->phase = PHASE_START;
		return VL_AGAIN;
	}
	j->units = STEP_UNITS;
	if (j->phase == PHASE_START) {
		if (lent) {
			j->t = lent;
		} else {
			if (env->snapshots >= MAX_SNAPSHOTS)
				return VL_AGAIN;   /* others hold theirs: wait for a turn */
			if ((r = store_begin(env->store, false, &j->t)) < 0)
				return r;
			env->snapshots++;
		}
		j->gen = env->defs_generation;
		j->full_i = 0;
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
		bytes += j->text.b.n;
		if ((r = vl_list_reserve(&j->out, bytes)) < 0)
			return r;
	}
	while (j->emitted < stop) {
		list_item *x = &j->v[j->emitted];
		r = vl_list_add(&j->out, j->text.b.s + x->off, x->len);
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
			return api_error_new(ctx, j->too_many, json_pack("{s:i}", "limit", MAX_ITEMS));
		if (r < 0)
			return api_internal(ctx, r);
		return VL_AGAIN;   /* the reply from the next step on: a sort is work enough for one */
	}
	r = job_emit(ctx, j);
	return r < 0 ? api_internal(ctx, r) : r;
}

/* sup (a supplier filter, or NULL) is copied: it may point into definitions that a
 * reload frees while the job runs. */
list_job *api_job_new(api_env *env, job_kind kind, const char *key, const char *too_many, const char *sup) {
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
void api_job_window(list_job *j, const bound *from, const bound *to) {
	j->window = true;
	j->from = *from;
	j->to = *to;
	j->lo = (from->is_date ? from->day * CAL_SECS_PER_DAY : from->instant) - 2 * CAL_SECS_PER_DAY;
	j->hi = (to->is_date ? to->day * CAL_SECS_PER_DAY : to->instant) + 2 * CAL_SECS_PER_DAY;
}

/* Hands the job to the dispatcher; a oneway call gets nothing, so nothing is built. */
int api_job_start(vl_call_ctx *ctx, list_job *j) {
	if (vl_call_ctx_oneway(ctx)) {
		job_free(j);
		return vl_reply(ctx, NULL, false);
	}
	return vl_defer(ctx, job_step, j, job_free);
}
