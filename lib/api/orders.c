/* io.standingd.Orders: standing orders placed through the API, one-time orders,
 * and the payments and the order's life (issue 9). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lib/api/api_int.h"
#include "lib/base/jsonw.h"
#include "lib/defs/pack.h"

/* ---- io.standingd.Orders ---- */

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
static json_t *standing_also_reply(store_txn *t, const defs *d, const char *id) {
	return standing_reply(t, defs_find_order(d, id), id);
}

/* placed: a store that cannot be read now only leaves next_delivery null */
static json_t *standing_placed(api_env *env, void *ud) {
	const char *id = ud;
	store_txn *t;
	bool snap = store_begin(env->store, false, &t) == 0;
	json_t *p = standing_reply(snap ? t : NULL, defs_find_order(env->defs, id), id);
	if (snap)
		store_abort(t);
	return p;
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
		r = api_error_new(ctx, "io.standingd.Orders.InvalidDefinition", json_pack("{s:o}", "errors", api_field_errors(&bad, NULL)));
		diag_list_clear(&bad);
		return r;
	}
	const char *id = json_string_value(jid);
	peer_role role = api_role_of(ctx, env);
	const standing_order *old = id ? defs_find_order(env->defs, id) : NULL;
	if (old && api_shop_only(role) && !api_placed_by_shop(old->bulk->placed_by))
		return api_denied(ctx);
	/* who placed it first stays on record when it is replaced */
	char placer[96];
	if (old && old->bulk->placed_by)
		snprintf(placer, sizeof(placer), "%s", old->bulk->placed_by);
	else
		api_placer_of(ctx, role, placer);
	const api_place p = { .list = "standing_orders", .file = id ? id : "", .id = id ? id : "",
			      .also_reply = standing_also_reply, .placed = standing_placed, .placed_ud = (void *) id,
			      .invalid = "io.standingd.Orders.InvalidDefinition", .prefix = "standing_orders[0]" };
	return api_place_run(ctx, env, &ix, def, placer, &p);
}

static int find_standing_order(vl_call_ctx *ctx, api_env *env, json_t *params, const standing_order **ret) {
	const char *id;
	int r = vl_param_string(ctx, params, "standing_order", true, &id);
	if (r < 0)
		return r;
	*ret = defs_find_order(env->defs, id);
	if (!*ret)
		return api_error_new(ctx, "io.standingd.Orders.StandingOrderNotFound", json_pack("{s:s}", "standing_order", id)) < 0
			? -EIO : 1;
	return 0;
}

static int cancel_done(vl_call_ctx *ctx, api_env *env, int r, const diag_list *diags, void *state) {
	(void) env;
	(void) diags;
	(void) state;
	return r < 0 ? api_internal(ctx, r) : vl_reply(ctx, NULL, false);
}

static int cancel_standing_order(vl_call_ctx *ctx, json_t *params, void *userdata) {
	api_env *env = userdata;
	static const char *const allowed[] = { "standing_order", NULL };
	const standing_order *so;
	int r;
	if ((r = vl_params_check(ctx, params, allowed)) < 0 || (r = find_standing_order(ctx, env, params, &so)) != 0)
		return r < 0 ? r : 0;
	if (api_shop_only(api_role_of(ctx, env)) && !api_placed_by_shop(so->bulk->placed_by))
		return api_denied(ctx);
	if (!api_from_api(so)) {
		/* a thin one's line is in its file's compiled record */
		store_txn *t = NULL;
		struct defs_arena *scratch = NULL;
		standing_order full;
		if ((!so->stored || (r = api_read_begin(env, &t)) == 0) && (r = sales_so_full(t, so, &scratch, &full)) == 0)
			r = api_error_new(ctx, "io.standingd.Orders.DefinedInFile", json_pack("{s:s, s:s, s:i}",
					"standing_order", so->id, "file", so->bulk->file ? so->bulk->file : "", "line",
					full.bulk->line));
		else
			r = api_internal(ctx, r);
		api_read_end(t);
		defs_arena_free(scratch);
		return r;
	}
	char *id = strdup(so->id);
	if (!id)
		return api_internal(ctx, -ENOMEM);
	api_change_req req = { .id = id };
	return api_change_run(ctx, env, &req, cancel_done, id, free);
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
	if (api_shop_only(api_role_of(ctx, env)) && !api_placed_by_shop(so->bulk->placed_by))
		return api_denied(ctx);
	if ((r = vl_param_string(ctx, params, "delivery", true, &when)) < 0)
		return r;
	if (cal_parse_instant(when, &delivery) < 0)
		return vl_invalid_parameter(ctx, "delivery");
	occurrence o;
	if (rule_next(&so->rule, delivery - 1, &o) < 0 || o.delivery != delivery)
		return api_error_new(ctx, "io.standingd.Orders.NoSuchOccurrence",
				json_pack("{s:s, s:s}", "standing_order", so->id, "delivery", when));
	char number[ORDER_NUMBER_MAX];
	peer *p = vl_call_ctx_caller(ctx);
	char reason[128];
	snprintf(reason, sizeof(reason), "skipped by request of %s (uid %u)", p->user[0] ? p->user : "?",
		 (unsigned) p->uid);
	r = sales_skip_occurrence(env->store, so->id, delivery, env->now(env->ud), reason, number);
	if (r == -EEXIST)
		return api_error_new(ctx, "io.standingd.Orders.AlreadyCreated", json_pack("{s:s, s:s, s:s}",
				"standing_order", so->id, "delivery", when, "order", number));
	if (r < 0)
		return api_internal(ctx, r);
	char iso[CAL_ISO_MAX];
	json_t *rep = json_pack("{s:s, s:s}", "standing_order", so->id,
				"delivery", cal_format_instant(delivery, tz_offset_at(so->rule.zone, delivery), iso));
	r = api_reply_new(ctx, rep);
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
	if (api_text_ok(&errs, "customer", cust_id) && !(cu = defs_find_customer(env->defs, cust_id)))
		diag_add(&errs, "customer", 0, 0, "unknown customer \"%s\"", cust_id);
	if (api_text_ok(&errs, "supplier", supp_id) && !defs_find_supplier(env->defs, supp_id))
		diag_add(&errs, "supplier", 0, 0, "unknown supplier \"%s\"", supp_id);
	order_payment pm = ORDER_PAYMENT_ACCOUNT;
	if (api_text_ok(&errs, "payment", pay)) {
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
		return api_internal(ctx, r);
	}
	/* a credit limit in one currency limits only charges in it: an account order in
	 * another could never be checked against it, so it is refused here */
	if (r == 0 && pm == ORDER_PAYMENT_ACCOUNT && cu && cu->credit_limit.currency[0] && items.bulk->n_lines &&
	    strcmp(items.bulk->lines[0].unit_price.currency, cu->credit_limit.currency))
		diag_add(&errs, "lines", 0, 0, "customer \"%s\" has its credit limit in %s: an account order must be in %s, "
			 "got %s", cu->id, cu->credit_limit.currency, cu->credit_limit.currency,
			 items.bulk->lines[0].unit_price.currency);
	bound b;
	if (api_text_ok(&errs, "delivery", when)) {
		char iso[CAL_ISO_MAX];
		if (api_parse_bound(when, &b) < 0)
			diag_add(&errs, "delivery", 0, 0, "expected a date YYYY-MM-DD or an instant, got \"%s\"", when);
		else if (cu && api_bound_at(&b, cu->zone) < now)   /* a date is its midnight in the customer's zone */
			diag_add(&errs, "delivery", 0, 0, "\"%s\" is in the past (now is %s)", when, cal_format_utc(now, iso));
	}
	if (errs.n) {
		defs_order_done(&items);
		diag_sort(&errs);
		r = api_error_new(ctx, "io.standingd.Orders.InvalidOrder", json_pack("{s:o}", "errors", api_field_errors(&errs, NULL)));
		diag_list_clear(&errs);
		return r;
	}
	char placer[96];
	api_placer_of(ctx, api_role_of(ctx, env), placer);
	const tz_zone *z = cu->zone;
	int64_t delivery = api_bound_at(&b, z);
	sales_order o = {
		.customer = cu->id, .supplier = (char *) supp_id, .ship_to = items.bulk->ship_to,
		.lines = items.bulk->lines, .n_lines = items.bulk->n_lines, .delivery = delivery, .delivery_offset = tz_offset_at(z, delivery),
		.zone = (char *) tz_zone_name(z), .created = now, .payment = pm,
		.occurrence = UINT64_MAX, .placed_by = placer,
	};
	/* the validator has checked one currency and that the net fits; the gross (VAT
	 * added) may not: that is the lines' error too */
	r = sales_place(env->store, env->defs, cu, &o, placer, api_idem_sales_order(&ix));
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
		r = api_error_new(ctx, "io.standingd.Orders.InvalidOrder", json_pack("{s:o}", "errors", api_field_errors(&errs, NULL)));
		diag_list_clear(&errs);
		return r;
	}
	if (r < 0) {
		defs_order_done(&items);
		order_transitions_clear(&o);
		return api_internal(ctx, r);
	}
	if (env->order_placed)
		env->order_placed(env->ud, &o);
	json_t *p = json_pack("{s:o}", "order", order_to_view(&o));
	r = api_reply_new(ctx, p);
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
	    (r = api_order_param(ctx, env, params, &t, &o, "io.standingd.Orders")) != 0)
		return r < 0 ? r : 0;
	api_read_end(t);
	if (api_shop_only(api_role_of(ctx, env)) && !api_shop_order(env, o)) {
		order_free(o);
		return api_denied(ctx);
	}
	/* written directly: order_to_view's bytes (test_order_view) */
	jsonw w = { 0 };
	order_view_write(&w, o);
	order_free(o);
	r = w.b.oom ? api_internal(ctx, -ENOMEM) : vl_reply_member(ctx, "order", w.b.s, w.b.n);
	free(w.b.s);
	return r;
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
	    (r = api_window_params(ctx, params, false, &from, &to)) < 0)
		return r;
	bool window = r == 1;
	order_status st;
	if (status && order_status_parse(status, &st) < 0)
		return vl_invalid_parameter(ctx, "status");
	list_job *j = api_job_new(env, JOB_ORDERS, "orders", "io.standingd.Orders.TooManyOrders", sup);
	if (!j)
		return -ENOMEM;
	j->customer = cust;
	j->so_id = so;
	j->status = status;
	j->shop_only = api_shop_only(api_role_of(ctx, env));
	if (window)
		api_job_window(j, &from, &to);
	return api_job_start(ctx, j);
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
		r = api_error_new(ctx, "io.standingd.Orders.CustomerNotFound", json_pack("{s:s}", "customer", id));
		return r < 0 ? r : 1;
	}
	return 0;
}

/* Reads the order named by "order" for a method on one order and checks the shop's
 * reach (only orders shop users placed, as GetOrder). 0 with *ret (order_free), or 1
 * / a negative errno after replying. */
static int target_order(vl_call_ctx *ctx, api_env *env, json_t *params, sales_order **ret) {
	store_txn *t;
	int r = api_order_param(ctx, env, params, &t, ret, "io.standingd.Orders");
	if (r != 0)
		return r;
	api_read_end(t);
	if (api_shop_only(api_role_of(ctx, env)) && !api_shop_order(env, *ret)) {
		order_free(*ret);
		*ret = NULL;
		r = api_denied(ctx);
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
		return api_reply_new(ctx, json_pack("{s:o}", "order", order_to_view(o)));
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
		return api_internal(ctx, r);
	}
	return api_error_new(ctx, name, p);
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
	api_placer_of(ctx, api_role_of(ctx, env), by);
	int64_t now = env->now(env->ud);
	const customer *cu;
	switch (c->op) {
	case OP_RELEASE:
		/* the limit is the customer's as defined now */
		if (!(cu = defs_find_customer(env->defs, o->customer))) {
			r = api_error_new(ctx, "io.standingd.Orders.CustomerNotFound", json_pack("{s:s}", "customer", o->customer));
			goto out;
		}
		r = sales_release(env->store, cu, o->number, now, by, idem, &done, &why);
		break;
	case OP_HOLD:
		r = sales_hold(env->store, env->defs, o->number, now, by, c->reason, idem, &done, &why);
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
		return api_error_new(ctx, "io.standingd.Orders.NoAccount", json_pack("{s:s}", "customer", cu->id));
	char by[96];
	api_placer_of(ctx, api_role_of(ctx, env), by);
	ledger_entry e = { 0 };
	r = sales_record_account_payment(env->store, cu, amount, ref, env->now(env->ud), by,
					 api_idem_sales(&ix, entry_reply), &e);
	if (r == -EEXIST && ix.key)
		return api_idem_answer(ctx, env->store, &ix);
	if (r < 0)
		return api_internal(ctx, r);
	r = api_reply_new(ctx, json_pack("{s:o}", "entry", ledger_entry_view(&e)));
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
	store_txn *t;
	if ((r = api_read_begin(env, &t)) < 0)
		return api_internal(ctx, r);
	r = sales_account_read(t, cu, ACCOUNT_LAST_ENTRIES, &a);
	api_read_end(t);
	if (r < 0)
		return api_internal(ctx, r);
	r = api_reply_new(ctx, json_pack("{s:o}", "account", account_summary_view(a)));
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
		return api_error_new(ctx, "io.standingd.Orders.TooManyEntries", json_pack("{s:i}", "limit", MAX_ITEMS));
	if (r < 0)
		return api_internal(ctx, r);
	j->next_seq = next;
	if (next)
		return VL_AGAIN;
	return vl_list_send(ctx, &j->out, false);
}

static int list_ledger(vl_call_ctx *ctx, json_t *params, void *userdata) {
	api_env *env = userdata;
	static const char *const allowed[] = { "customer", "from", "to", NULL };
	const customer *cu;
	int64_t lo, hi;
	int r;
	if ((r = vl_params_check(ctx, params, allowed)) < 0)
		return r;
	if ((r = customer_param(ctx, env, params, &cu)) != 0)
		return r < 0 ? r : 0;
	if ((r = api_open_window(ctx, params, cu->zone, &lo, &hi)) < 0)
		return r;
	if (vl_call_ctx_oneway(ctx))
		return vl_reply(ctx, NULL, false);
	ledger_job *j = calloc(1, sizeof(*j));
	if (!j || !(j->customer = strdup(cu->id))) {
		free(j);
		return api_internal(ctx, -ENOMEM);
	}
	j->env = env;
	j->from = lo;
	j->to = hi;
	j->next_seq = 1;
	j->out.key = "entries";
	return vl_defer(ctx, ledger_step, j, ledger_job_free);
}

/* ---- the methods, registered by api_register ---- */

const vl_method api_orders_methods[] = {
	{ "PlaceStandingOrder", place_standing_order, API_CHANGES },
	{ "CancelStandingOrder", cancel_standing_order, API_CHANGES },
	{ "SkipOccurrence", skip_occurrence, 0 },
	{ "PlaceOrder", place_order, 0 },
	{ "GetOrder", get_order, API_READ_ONLY | API_READ_SHORT },
	{ "ListOrders", list_orders, API_READ_ONLY },
	{ "RecordPayment", record_payment, 0 },
	{ "RecordAccountPayment", record_account_payment, 0 },
	{ "ReleaseOrder", release_order, 0 },
	{ "HoldOrder", hold_order, 0 },
	{ "CancelOrder", cancel_order, 0 },
	{ "GetAccount", get_account, API_READ_ONLY | API_READ_SHORT },
	{ "ListLedger", list_ledger, 0 },
};
const size_t api_orders_n_methods = sizeof(api_orders_methods) / sizeof(api_orders_methods[0]);
