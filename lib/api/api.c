/* Handlers are short-lived: each opens its own store transaction, builds its
 * reply with jansson and sends it through the vl_call_ctx; those that list what
 * grows with the data run as jobs in steps instead (long lists, below). Dates in
 * requests are local midnights in the zone of each delivery, the same convention
 * as the forecast, so a supplier's "2027-01-01" means the same day everywhere. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lib/api/api_idl.h"
#include "lib/api/api_int.h"

/* ---- small helpers ---- */

json_t *api_jstr_or_null(const char *s) {
	return s ? json_string(s) : json_null();
}

/* vl_reply/vl_error borrow their parameters; these take ownership. */
int api_error_new(vl_call_ctx *ctx, const char *name, json_t *params) {
	int r = vl_error(ctx, name, params);
	json_decref(params);
	return r;
}

int api_reply_new(vl_call_ctx *ctx, json_t *params) {
	int r = vl_reply(ctx, params, false);
	json_decref(params);
	return r;
}

/* errno on the wire is positive, as errno(3) numbers are: varlink encodes it. */
int api_internal(vl_call_ctx *ctx, int err) {
	return vl_internal_error(ctx, err);
}

/* A text parameter that breaks the text rule: a field error in errs. */
bool api_text_ok(diag_list *errs, const char *field, const char *s) {
	char msg[TEXT_MSG_MAX];
	if (text_check(s, strlen(s), msg) == 0)
		return true;
	diag_add(errs, field, 0, 0, "%s", msg);
	return false;
}

int api_parse_bound(const char *s, bound *ret) {
	if (cal_parse_date(s, &ret->day) == 0) {
		ret->is_date = true;
		return 0;
	}
	ret->is_date = false;
	return cal_parse_instant(s, &ret->instant);
}

int64_t api_bound_at(const bound *b, const tz_zone *z) {
	return b->is_date ? tz_from_local(z, b->day * CAL_SECS_PER_DAY) : b->instant;
}

/* Reads from/to (required unless optional) and checks the window. 1 both present,
 * 0 absent (optional), -EINVAL replied. */
int api_window_params(vl_call_ctx *ctx, json_t *params, bool required, bound *from, bound *to) {
	const char *f = NULL, *t = NULL;
	int r;
	if ((r = vl_param_string(ctx, params, "from", required, &f)) < 0 ||
	    (r = vl_param_string(ctx, params, "to", required, &t)) < 0)
		return r;
	if (!f && !t)
		return 0;
	if (!f || api_parse_bound(f, from) < 0)
		return vl_invalid_parameter(ctx, "from");
	if (!t || api_parse_bound(t, to) < 0)
		return vl_invalid_parameter(ctx, "to");
	int64_t a = from->is_date ? from->day * CAL_SECS_PER_DAY : from->instant;
	int64_t b = to->is_date ? to->day * CAL_SECS_PER_DAY : to->instant;
	if (b <= a || b - a > MAX_WINDOW_DAYS * CAL_SECS_PER_DAY)
		return vl_invalid_parameter(ctx, "to");
	return 1;
}

int api_open_window(vl_call_ctx *ctx, json_t *params, const tz_zone *z, int64_t *ret_lo, int64_t *ret_hi) {
	const char *f = NULL, *t = NULL;
	bound from, to;
	int r;
	if ((r = vl_param_string(ctx, params, "from", false, &f)) < 0 ||
	    (r = vl_param_string(ctx, params, "to", false, &t)) < 0)
		return r;
	if (f && api_parse_bound(f, &from) < 0)
		return vl_invalid_parameter(ctx, "from");
	if (t && api_parse_bound(t, &to) < 0)
		return vl_invalid_parameter(ctx, "to");
	*ret_lo = f ? api_bound_at(&from, z) : INT64_MIN;
	*ret_hi = t ? api_bound_at(&to, z) : INT64_MAX;
	if (*ret_hi <= *ret_lo)
		return vl_invalid_parameter(ctx, "to");
	return 0;
}

peer_role api_role_of(vl_call_ctx *ctx, api_env *env) {
	return peer_role_of(vl_call_ctx_caller(ctx), &env->defs->config, env->self_uid);
}

/* A lent read transaction, per thread (the daemon's workers each answer one call
 * at a time from the one it lends). */
static _Thread_local store_txn *lent_read;

void api_read_lend(store_txn *t) {
	lent_read = t;
}

store_txn *api_read_lent(void) {
	return lent_read;
}

int api_read_begin(api_env *env, store_txn **ret) {
	if (lent_read) {
		*ret = lent_read;
		return 0;
	}
	return store_begin(env->store, false, ret);
}

void api_read_end(store_txn *t) {
	if (t && t != lent_read)
		store_abort(t);
}

/* Opens a read transaction and fetches an order: 0 with both, or (after replying) 1 or
 * a negative errno. */
int api_order_param(vl_call_ctx *ctx, api_env *env, json_t *params, store_txn **ret_t,
		       sales_order **ret_o, const char *error_iface) {
	const char *number;
	int r = vl_param_string(ctx, params, "order", true, &number);
	if (r < 0)
		return r;
	uint64_t seq;
	if (order_number_parse(number, &seq) < 0)
		return vl_invalid_parameter(ctx, "order");
	if ((r = api_read_begin(env, ret_t)) < 0) {
		r = api_internal(ctx, r);
		return r < 0 ? r : 1;
	}
	r = store_order_get(*ret_t, number, ret_o);
	if (r == -ENOENT || r == -EINVAL) {
		api_read_end(*ret_t);
		char err[96];
		snprintf(err, sizeof(err), "%s.OrderNotFound", error_iface);
		r = api_error_new(ctx, err, json_pack("{s:s}", "order", number));
		return r < 0 ? r : 1;
	}
	if (r < 0) {
		api_read_end(*ret_t);
		r = api_internal(ctx, r);
		return r < 0 ? r : 1;
	}
	return 0;
}

json_t *api_field_errors(const diag_list *diags, const char *prefix) {
	json_t *a = json_array();
	size_t pl = prefix ? strlen(prefix) : 0;
	for (size_t i = 0; a && i < diags->n; i++) {
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

int api_idem_put_reply(store_txn *t, const api_idem *ix, json_t *p, char **reply) {
	char *text = p ? json_dumps(p, JSON_COMPACT) : NULL;
	json_decref(p);
	if (!text)
		return -ENOMEM;
	int r = api_idem_put(t, ix, text);
	if (r < 0) {
		free(text);
		return r;
	}
	free(*reply);
	*reply = text;
	return 0;
}

/* The answer to a definition placed through the API (api_place_run): invalid (an
 * error with the diags' fields), the answer a racing retry stored, the reply
 * stored in the apply transaction, or placed()'s (NULL: out of memory). */
static int api_place_reply(vl_call_ctx *ctx, api_env *env, int r, api_idem *ix, const char *stored,
			   const diag_list *diags, const char *invalid, const char *prefix,
			   json_t *(*placed)(api_env *env, void *ud), void *ud) {
	if (r == -EINVAL)
		return api_error_new(ctx, invalid, json_pack("{s:o}", "errors", api_field_errors(diags, prefix)));
	if (r == -EEXIST && ix->key && !stored)
		return api_idem_answer(ctx, env->store, ix);   /* stored meanwhile */
	if (r < 0)
		return api_internal(ctx, r);
	if (stored) {
		/* exactly the text stored, as a retry gets it */
		json_t *p = json_loads(stored, 0, NULL);
		return p ? api_reply_new(ctx, p) : api_internal(ctx, -ENOMEM);
	}
	json_t *p = placed(env, ud);
	return p ? api_reply_new(ctx, p) : api_internal(ctx, -ENOMEM);
}

/* A call waiting for its change (api_change_run with env->change_begin). */
typedef struct api_change_wait {
	api_env *env;
	api_change_done_fn *done;
	void *state;
	void (*free_state)(void *state);
	bool ended;              /* change_end gave the outcome */
} api_change_wait;

static int api_change_resume(vl_call_ctx *ctx, void *p) {
	api_change_wait *w = p;
	diag_list diags = { 0 };
	int r = w->env->change_end(w->env->ud, &diags);
	if (r == -EINPROGRESS)
		return VL_AGAIN;
	w->ended = true;
	r = w->done(ctx, w->env, r, &diags, w->state);
	diag_list_clear(&diags);
	return r;
}

static void api_change_free(void *p) {
	api_change_wait *w = p;
	if (!w->ended)
		w->env->change_drop(w->env->ud);
	if (w->free_state)
		w->free_state(w->state);
	free(w);
}

int api_change_run(vl_call_ctx *ctx, api_env *env, const api_change_req *req, api_change_done_fn *done, void *state,
		   void (*free_state)(void *state)) {
	diag_list diags = { 0 };
	int r;
	api_change_wait *w = NULL;
	if (env->change_begin) {
		if (!(w = calloc(1, sizeof(*w)))) {
			r = -ENOMEM;
		} else if ((r = env->change_begin(env->ud, req)) == 0) {
			*w = (api_change_wait) { .env = env, .done = done, .state = state, .free_state = free_state };
			return vl_defer(ctx, api_change_resume, w, api_change_free);
		}
		free(w);
	} else if (req->reload) {
		r = env->reload(env->ud, &diags);
	} else if (req->also && env->apply_api_order_also) {
		r = env->apply_api_order_also(env->ud, req->id, req->json, req->also, req->also_ud, &diags);
	} else {
		r = env->apply_api_order(env->ud, req->id, req->json, &diags);
	}
	r = done(ctx, env, r, &diags, state);
	diag_list_clear(&diags);
	if (free_state)
		free_state(state);
	return r;
}

/* A definition placed waiting for its change (api_place_run). */
typedef struct api_place_state {
	api_idem ix;
	api_place p;
	char *reply;              /* the text also stored, for the first reply */
} api_place_state;

static int api_place_also(store_txn *t, const defs *d, void *ud) {
	api_place_state *ps = ud;
	return api_idem_put_reply(t, &ps->ix, ps->p.also_reply(t, d, ps->p.id), &ps->reply);
}

static int api_place_done(vl_call_ctx *ctx, api_env *env, int r, const diag_list *diags, void *state) {
	api_place_state *ps = state;
	return api_place_reply(ctx, env, r, &ps->ix, ps->reply, diags, ps->p.invalid, ps->p.prefix, ps->p.placed,
			       ps->p.placed_ud);
}

static void api_place_free(void *state) {
	api_place_state *ps = state;
	free(ps->reply);
	free(ps);
}

int api_place_run(vl_call_ctx *ctx, api_env *env, const api_idem *ix, json_t *def, const char *placer,
		  const api_place *p) {
	json_t *wrapped = json_pack("{s:[O], s:s}", p->list, def, "placed_by", placer);
	char *text = wrapped ? json_dumps(wrapped, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(wrapped);
	api_place_state *ps = text ? calloc(1, sizeof(*ps)) : NULL;
	if (!ps) {
		free(text);
		return api_internal(ctx, -ENOMEM);
	}
	ps->ix = *ix;
	ps->p = *p;
	ps->p.file = NULL;   /* req's strings are copied or used before api_change_run returns */
	api_change_req req = { .id = p->file, .json = text };
	if (ix->key) {
		req.also = api_place_also;
		req.also_ud = ps;
	}
	int r = api_change_run(ctx, env, &req, api_place_done, ps, api_place_free);
	free(text);
	return r;
}

bool api_from_api(const standing_order *so) {
	return so->bulk->file && !strncmp(so->bulk->file, "api/", 4);
}

void api_so_source(const standing_order *full, char *buf, size_t size) {
	if (api_from_api(full))
		snprintf(buf, size, "api");
	else
		snprintf(buf, size, "%s:%d", full->bulk->file ? full->bulk->file : "?", full->bulk->line);
}

/* ---- registration ---- */

int api_register(vl_service *svc, api_env *env) {
	int r;
	if ((r = vl_service_add_interface(svc, "io.standingd", API_IDL_COMMON, api_common_methods, api_common_n_methods, env)) < 0 ||
	    (r = vl_service_add_interface(svc, "io.standingd.Supplier", API_IDL_SUPPLIER, api_supplier_methods, api_supplier_n_methods, env)) < 0 ||
	    (r = vl_service_add_interface(svc, "io.standingd.Orders", API_IDL_ORDERS, api_orders_methods, api_orders_n_methods, env)) < 0 ||
	    (r = vl_service_add_interface(svc, "io.standingd.Ops", API_IDL_OPS, api_ops_methods, api_ops_n_methods, env)) < 0 ||
	    (r = vl_service_add_interface(svc, "io.standingd.Crm", API_IDL_CRM, api_crm_methods, api_crm_n_methods, env)) < 0)
		return r;
	vl_service_set_authorize(svc, api_authorize, env);
	return 0;
}
