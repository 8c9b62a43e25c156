/* io.standingd.Ops (Status, Reload, ListStandingOrders, Forecast) and
 * io.standingd (Now). */
#include <errno.h>
#include <stdlib.h>
#include "config.h"
#include "lib/api/api_int.h"

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
		return api_internal(ctx, r);
	/* next_due: the next order to be created (not paused, no skip record) */
	if ((r = store_counts(t, &orders, &outbox)) == 0 && (r = engine_peek(env->engine, t, &next, &at)) == -ENOENT)
		r = 0;
	store_abort(t);
	if (r < 0)
		return api_internal(ctx, r);
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
	return api_reply_new(ctx, p);
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
		r = api_error_new(ctx, "io.standingd.Ops.InvalidDefinitions", json_pack("{s:o}", "errors", a));
	} else if (r < 0) {
		r = api_internal(ctx, r);
	} else {
		json_t *p = json_pack("{s:I, s:I}", "customers", (json_int_t) env->defs->n_customers,
				      "standing_orders", (json_int_t) env->defs->n_orders);
		r = api_reply_new(ctx, p);
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
	{ "Reload", reload, 0 },
	{ "ListStandingOrders", list_standing_orders, 0 },
	{ "Forecast", forecast_method, 0 },
};
const size_t api_ops_n_methods = sizeof(api_ops_methods) / sizeof(api_ops_methods[0]);

const vl_method api_common_methods[] = {
	{ "Now", clock_now, 0 },
};
const size_t api_common_n_methods = sizeof(api_common_methods) / sizeof(api_common_methods[0]);
