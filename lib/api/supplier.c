/* io.standingd.Supplier: ListUpcoming and MarkShipped. */
#include <errno.h>
#include <string.h>
#include "lib/api/api_int.h"

/* ---- io.standingd.Supplier ---- */

static int list_upcoming(vl_call_ctx *ctx, json_t *params, void *userdata) {
	api_env *env = userdata;
	static const char *const allowed[] = { "from", "to", "supplier", NULL };
	const char *sup = NULL;
	bound from, to;
	int r;
	if ((r = vl_params_check(ctx, params, allowed)) < 0 || (r = api_window_params(ctx, params, true, &from, &to)) < 0 ||
	    (r = vl_param_string(ctx, params, "supplier", false, &sup)) < 0)
		return r;
	peer_role role = api_role_of(ctx, env);
	if (!(role.flags & PEER_ROLE_OPS)) {
		/* a supplier's user always gets its own shipments, and only those */
		if (sup && strcmp(sup, role.supplier->id))
			return vl_error(ctx, "io.standingd.PermissionDenied", NULL);
		sup = role.supplier->id;
	} else if (sup && !defs_find_supplier(env->defs, sup))
		return vl_invalid_parameter(ctx, "supplier");

	list_job *j = api_job_new(env, JOB_UPCOMING, "shipments", "io.standingd.Supplier.TooManyShipments", sup);
	if (!j)
		return -ENOMEM;
	api_job_window(j, &from, &to);
	return api_job_start(ctx, j);
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
	peer_role role = api_role_of(ctx, env);
	sales_ship_result res;
	sales_order *o = NULL;
	char by[96];
	api_placer_of(ctx, role, by);
	r = sales_mark_shipped(env->store, env->defs, number, (role.flags & PEER_ROLE_OPS) ? NULL : role.supplier->id, carrier,
			       tracking, env->now(env->ud), by, &res, &o);
	if (r == -ENOENT || r == -EACCES)   /* another supplier's order: as if it did not exist */
		r = api_error_new(ctx, "io.standingd.Supplier.OrderNotFound", json_pack("{s:s}", "order", o ? o->number : number));
	else if (r == -ECANCELED)
		r = api_error_new(ctx, "io.standingd.Supplier.OrderCancelled", json_pack("{s:s}", "order", o->number));
	else if (r == -ENOTCONN)   /* awaiting payment or on hold: not to be shipped yet */
		r = api_error_new(ctx, "io.standingd.Supplier.NotConfirmed", json_pack("{s:s, s:s}", "order",
			o->number, "status", order_status_name(o->status)));
	else if (r == -EALREADY)
		r = api_error_new(ctx, "io.standingd.Supplier.AlreadyShipped", json_pack("{s:s, s:s, s:s}",
			"order", o->number, "carrier", o->carrier ? o->carrier : "", "tracking", o->tracking ? o->tracking : ""));
	else if (r < 0)
		r = api_internal(ctx, r);
	else
		r = api_reply_new(ctx, json_pack("{s:o}", "order", order_to_view(o)));
	order_free(o);
	return r;
}

/* ---- the methods, registered by api_register ---- */

const vl_method api_supplier_methods[] = {
	{ "ListUpcoming", list_upcoming, API_READ_ONLY },
	{ "MarkShipped", mark_shipped, 0 },
};
const size_t api_supplier_n_methods = sizeof(api_supplier_methods) / sizeof(api_supplier_methods[0]);
