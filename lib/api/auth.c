/* Authorisation: which role may call which interface and method, and what the shop
 * role reaches (README, Access control). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "lib/api/api_int.h"

/* ---- authorisation ---- */

/* The shop role reaches only what shop users placed (README, Access control):
 * one-time orders they placed, standing orders they placed through the API, and
 * the orders those standing orders created. Ops reach everything. */
bool api_shop_only(peer_role r) {
	return (r.flags & PEER_ROLE_SHOP) && !(r.flags & PEER_ROLE_OPS);
}

bool api_placed_by_shop(const char *placed_by) {
	return placed_by && !strncmp(placed_by, "shop:", 5);
}

bool api_shop_order(api_env *env, const sales_order *o) {
	if (api_placed_by_shop(o->placed_by))
		return true;
	const standing_order *so = o->standing_order ? defs_find_order(env->defs, o->standing_order) : NULL;
	return so && api_placed_by_shop(so->bulk->placed_by);
}

/* "shop:alice", "ops:root", "supplier:lumen-a", "sales:anna" (the uid when the user
 * has no name). */
void api_placer_of(vl_call_ctx *ctx, peer_role r, char buf[96]) {
	const peer *p = vl_call_ctx_caller(ctx);
	const char *role = r.flags & PEER_ROLE_OPS ? "ops" : r.flags & PEER_ROLE_SUPPLIER ? "supplier"
		: r.flags & PEER_ROLE_SALES ? "sales" : "shop";
	if (p->user[0])
		snprintf(buf, 96, "%s:%s", role, p->user);
	else
		snprintf(buf, 96, "%s:%u", role, (unsigned) p->uid);
}

int api_denied(vl_call_ctx *ctx) {
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

/* io.standingd.Orders methods the sales role may call: the reads (doc/crm.md). */
static bool sales_orders_method(const char *method) {
	static const char *const reads[] = { "GetOrder", "ListOrders", "GetAccount", "ListLedger", NULL };
	for (size_t i = 0; reads[i]; i++)
		if (!strcmp(method, reads[i]))
			return true;
	return false;
}

int api_authorize(void *caller, const char *interface, const char *method, void *ud) {
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
	/* a web shop signs customers up; salespeople keep them */
	bool crm = !strcmp(interface, "io.standingd.Crm"), place = crm && !strcmp(method, "PlaceCustomer");
	if ((r.flags & PEER_ROLE_SHOP) && place)
		return 0;
	if ((r.flags & PEER_ROLE_SALES) && ((crm && !place) ||
					    (!strcmp(interface, "io.standingd.Orders") && sales_orders_method(method))))
		return 0;
	return -EPERM;
}
