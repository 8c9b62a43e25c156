/* io.standingd.Ops (Status, Reload, ListStandingOrders, Forecast, ListOutbox,
 * RetryOutbox) and io.standingd (Now). */
#include <errno.h>
#include <stdlib.h>
#include "config.h"
#include "lib/api/api_int.h"
#include "lib/sales/outbox.h"

/* ListOutbox: events per call, default and most. */
#define OUTBOX_LIST_DEFAULT 100
#define OUTBOX_LIST_MAX 1000

/* ---- io.standingd.Ops ---- */

static int status(vl_call_ctx *ctx, json_t *params, void *userdata) {
	api_env *env = userdata;
	static const char *const allowed[] = { NULL };
	int r;
	if ((r = vl_params_check(ctx, params, allowed)) < 0)
		return r;
	store_txn *t;
	uint64_t orders = 0, outbox = 0;
	outbox_stats ob = { 0 };
	const standing_order *next = NULL;
	int64_t at = 0, nowt = env->now(env->ud);
	if ((r = store_begin(env->store, false, &t)) < 0)
		return api_internal(ctx, r);
	/* next_due: the next order to be created (not paused, no skip record) */
	if ((r = store_counts(t, &orders, &outbox)) == 0 && (r = outbox_stats_get(t, &ob)) == 0 &&
	    (r = engine_peek(env->engine, t, &next, &at)) == -ENOENT)
		r = 0;
	store_abort(t);
	if (r < 0)
		return api_internal(ctx, r);
	engine_stats st;
	engine_get_stats(env->engine, &st);
	char now[CAL_ISO_MAX], due[CAL_ISO_MAX];
	/* an event stamped after now (a clock set back) is 0 seconds old */
	json_t *age = ob.oldest_pending_at == INT64_MAX ? json_null()
		: json_integer(nowt > ob.oldest_pending_at ? nowt - ob.oldest_pending_at : 0);
	unsigned threads = 0, busy = 0, waiting = 0;
	if (env->workers)
		env->workers(env->ud, &threads, &busy, &waiting);
	json_t *p = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:f, s:f, s:I, s:I, s:I}",
		"version", STANDINGD_VERSION, "now", cal_format_utc(nowt, now),
		"customers", (json_int_t) env->defs->n_customers, "standing_orders", (json_int_t) env->defs->n_orders,
		"active", (json_int_t) st.active, "paused", (json_int_t) st.paused,
		"orders", (json_int_t) orders, "outbox_backlog", (json_int_t) ob.pending,
		"outbox_pending", (json_int_t) ob.pending, "outbox_parked", (json_int_t) ob.parked,
		"outbox_oldest_pending_age", age,
		"next_due", next ? json_string(cal_format_utc(at, due)) : json_null(),
		"next_standing_order", next ? json_string(next->id) : json_null(),
		"max_loop_step_ms", env->max_loop_step_ms ? env->max_loop_step_ms(env->ud) : 0.0,
		"max_loop_step_cpu_ms", env->max_loop_step_cpu_ms ? env->max_loop_step_cpu_ms(env->ud) : 0.0,
		"workers", (json_int_t) threads, "workers_busy", (json_int_t) busy, "calls_waiting", (json_int_t) waiting);
	return api_reply_new(ctx, p);
}

static int reload_done(vl_call_ctx *ctx, api_env *env, int r, const diag_list *diags, void *state) {
	(void) state;
	if (r == -EINVAL) {
		json_t *a = json_array();
		for (size_t i = 0; i < diags->n; i++) {
			char *s = diag_format(&diags->v[i]);
			json_array_append_new(a, json_string(s ? s : diags->v[i].msg));
			free(s);
		}
		return api_error_new(ctx, "io.standingd.Ops.InvalidDefinitions", json_pack("{s:o}", "errors", a));
	}
	if (r < 0)
		return api_internal(ctx, r);
	json_t *p = json_pack("{s:I, s:I}", "customers", (json_int_t) env->defs->n_customers,
			      "standing_orders", (json_int_t) env->defs->n_orders);
	return api_reply_new(ctx, p);
}

static int reload(vl_call_ctx *ctx, json_t *params, void *userdata) {
	api_env *env = userdata;
	static const char *const allowed[] = { NULL };
	int r;
	if ((r = vl_params_check(ctx, params, allowed)) < 0)
		return r;
	api_change_req req = { .reload = true };
	return api_change_run(ctx, env, &req, reload_done, NULL, NULL);
}

static int list_standing_orders(vl_call_ctx *ctx, json_t *params, void *userdata) {
	api_env *env = userdata;
	static const char *const allowed[] = { NULL };
	int r;
	if ((r = vl_params_check(ctx, params, allowed)) < 0)
		return r;
	list_job *j = api_job_new(env, JOB_STANDING, "standing_orders", NULL, NULL);
	if (!j)
		return -ENOMEM;
	return api_job_start(ctx, j);
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
	list_job *j = api_job_new(env, JOB_FORECAST, "occurrences", "io.standingd.Ops.TooManyOccurrences", NULL);
	if (!j)
		return -ENOMEM;
	j->from_day = from;
	j->to_day = to;
	return api_job_start(ctx, j);
}

static int list_outbox(vl_call_ctx *ctx, json_t *params, void *userdata) {
	api_env *env = userdata;
	static const char *const allowed[] = { "parked", "after", "limit", NULL };
	bool parked = false;
	int64_t after = 0, limit = OUTBOX_LIST_DEFAULT;
	int r;
	if ((r = vl_params_check(ctx, params, allowed)) < 0 ||
	    (r = vl_param_bool(ctx, params, "parked", false, &parked)) < 0 ||
	    (r = vl_param_int(ctx, params, "after", false, &after)) < 0 ||
	    (r = vl_param_int(ctx, params, "limit", false, &limit)) < 0)
		return r;
	if (after < 0)
		return vl_invalid_parameter(ctx, "after");
	if (limit < 1 || limit > OUTBOX_LIST_MAX)
		return vl_invalid_parameter(ctx, "limit");
	json_t *events = json_array();
	if (!events)
		return -ENOMEM;
	store_txn *t;
	bool more = false;
	if ((r = store_begin(env->store, false, &t)) == 0) {
		r = outbox_list(t, parked, (uint64_t) after, (size_t) limit, events, &more);
		store_abort(t);
	}
	if (r < 0) {
		json_decref(events);
		return api_internal(ctx, r);
	}
	return api_reply_new(ctx, json_pack("{s:o, s:b}", "events", events, "more", more));
}

static int retry_outbox(vl_call_ctx *ctx, json_t *params, void *userdata) {
	api_env *env = userdata;
	static const char *const allowed[] = { "id", "all", NULL };
	const char *id = NULL;
	bool all = false;
	int r, has_id = 0, has_all = 0;
	if ((r = vl_params_check(ctx, params, allowed)) < 0 ||
	    (has_id = vl_param_string(ctx, params, "id", false, &id)) < 0 ||
	    (has_all = vl_param_bool(ctx, params, "all", false, &all)) < 0)
		return has_id < 0 ? has_id : has_all;
	/* exactly one: an id, or all: true */
	if (has_all && (!all || has_id))
		return vl_invalid_parameter(ctx, "all");
	if (!has_id && !has_all)
		return vl_invalid_parameter(ctx, "id");
	uint64_t n = 0;
	r = outbox_retry(env->store, all ? NULL : id, env->now(env->ud), &n);
	if (r == -ENOENT)
		return api_error_new(ctx, "io.standingd.Ops.NoSuchEvent", json_pack("{s:s}", "id", id));
	if (r < 0)
		return api_internal(ctx, r);
	if (n && env->outbox_wake)
		env->outbox_wake(env->ud);
	return api_reply_new(ctx, json_pack("{s:I}", "retried", (json_int_t) n));
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
	return api_reply_new(ctx, json_pack("{s:s}", "now", cal_format_utc(env->now(env->ud), now)));
}

/* ---- the methods, registered by api_register ---- */

const vl_method api_ops_methods[] = {
	{ "Status", status, 0 },
	{ "Reload", reload, API_CHANGES },
	{ "ListStandingOrders", list_standing_orders, 0 },
	{ "Forecast", forecast_method, API_READ_ONLY },
	{ "ListOutbox", list_outbox, 0 },
	{ "RetryOutbox", retry_outbox, 0 },
};
const size_t api_ops_n_methods = sizeof(api_ops_methods) / sizeof(api_ops_methods[0]);

const vl_method api_common_methods[] = {
	{ "Now", clock_now, 0 },
};
const size_t api_common_n_methods = sizeof(api_common_methods) / sizeof(api_common_methods[0]);
