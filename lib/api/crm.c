/* io.standingd.Crm (doc/crm.md): a customer's profile, customers signed up through
 * the API, the interaction log and salespeople's tasks. The records and their
 * exactly-once rules are lib/sales/crm's; this file reads parameters, checks who
 * may ask for what and builds replies. The long lists (ListInteractions,
 * ListTasks) are read in steps of STEP_UNITS from a cursor, each step in its own
 * read transaction: both logs only grow at their end or change a task in place,
 * so a walk that resumes after the last item sent never repeats one. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lib/api/api_int.h"
#include "lib/base/jsonw.h"
#include "lib/defs/pack.h"
#include "lib/sales/crm.h"

#define CRM_IFACE "io.standingd.Crm"
#define CRM_LAST_INTERACTIONS 20
#define CRM_OPEN_TASKS 100
#define CRM_OPEN_ORDERS 100
#define CRM_ACCOUNT_ENTRIES 5
/* a summary, a task's text, a note: a paragraph, not a document */
#define CRM_TEXT_MAX 2000

/* ---- parameters ---- */

/* Replies with the interface's error name; takes params. 0 or a negative errno. */
static int crm_error(vl_call_ctx *ctx, const char *name, json_t *params) {
	char full[96];
	snprintf(full, sizeof(full), CRM_IFACE ".%s", name);
	return api_error_new(ctx, full, params);
}

/* The customer named by "customer": 0, or 1 / a negative errno after replying. */
static int customer_param(vl_call_ctx *ctx, api_env *env, json_t *params, const customer **ret) {
	const char *id;
	int r = vl_param_string(ctx, params, "customer", true, &id);
	if (r < 0)
		return r;
	if (!(*ret = defs_find_customer(env->defs, id))) {
		r = crm_error(ctx, "CustomerNotFound", json_pack("{s:s}", "customer", id));
		return r < 0 ? r : 1;
	}
	return 0;
}

/* A text parameter: non-empty, at most CRM_TEXT_MAX bytes, no control character. */
static int text_param(vl_call_ctx *ctx, json_t *params, const char *key, bool required, const char **ret) {
	char msg[TEXT_MSG_MAX];
	*ret = NULL;
	int r = vl_param_string(ctx, params, key, required, ret);
	if (r < 0)
		return r;
	if (*ret && (!**ret || strlen(*ret) > CRM_TEXT_MAX || text_check(*ret, strlen(*ret), msg) < 0))
		return vl_invalid_parameter(ctx, key);
	return 0;
}

/* An instant parameter (2027-01-01T08:00:00Z, or with an offset); absent: *ret kept. */
static int instant_param(vl_call_ctx *ctx, json_t *params, const char *key, bool required, int64_t *ret) {
	const char *s = NULL;
	int r = vl_param_string(ctx, params, key, required, &s);
	if (r < 0)
		return r;
	if (s && cal_parse_instant(s, ret) < 0)
		return vl_invalid_parameter(ctx, key);
	return 0;
}

/* "sales:anna", "ops:root": who did it, in task histories and the log. */
static void crm_by(vl_call_ctx *ctx, api_env *env, char buf[96]) {
	api_placer_of(ctx, api_role_of(ctx, env), buf);
}

/* ---- views ---- */

static json_t *salesperson_view(const salesperson *sp) {
	if (!sp)
		return json_null();
	return json_pack("{s:s, s:s, s:s, s:s}", "id", sp->id, "name", sp->name, "email", sp->email,
			 "language", sp->language);
}

static json_t *contacts_view(const customer *cu) {
	json_t *a = json_array();
	for (size_t i = 0; a && i < cu->n_contacts; i++) {
		const contact *c = &cu->contacts[i];
		json_array_append_new(a, json_pack("{s:s, s:o, s:o, s:o}", "name", c->name, "role", api_jstr_or_null(c->role),
						   "email", api_jstr_or_null(c->email), "phone", api_jstr_or_null(c->phone)));
	}
	return a;
}

/* "orders.d/acme.yaml:3" or "api": where a customer is defined. */
static const char *customer_source(const customer *cu, char buf[512]) {
	if (cu->file && !strncmp(cu->file, "api/", 4))
		return "api";
	snprintf(buf, 512, "%s:%d", cu->file ? cu->file : "?", cu->line);
	return buf;
}

static json_t *customer_item(const defs *d, const customer *cu) {
	char src[512];
	(void) d;
	return json_pack("{s:s, s:s, s:s, s:s, s:o, s:s}", "id", cu->id, "name", cu->name, "language", cu->language,
			 "timezone", tz_zone_name(cu->zone), "salesperson", api_jstr_or_null(cu->salesperson),
			 "source", customer_source(cu, src));
}

/* The customer's standing orders with the next delivery the engine will create. */
static int standing_orders_view(store_txn *t, const defs *d, const customer *cu, json_t **ret) {
	json_t *a = json_array();
	if (!a)
		return -ENOMEM;
	struct defs_arena *scratch = NULL;   /* a thin one's bulk (its line: api_so_source) */
	int r = 0;
	for (size_t i = 0; i < d->n_orders && r == 0; i++) {
		const standing_order *so = &d->orders[i];
		/* the catalog's defs share customers by id, not always by address */
		if (!so->customer || strcmp(so->customer->id, cu->id))
			continue;
		sched_state st = { .watermark = INT64_MIN };
		char when[CAL_ISO_MAX], src[512];
		defs_arena_reset(&scratch);
		if ((r = store_sched_get(t, so->id, &st)) == -ENOENT)
			r = 0;
		standing_order full;
		if (r < 0 || (r = sales_so_full(t, so, &scratch, &full)) < 0)
			break;
		api_so_source(&full, src, sizeof(src));
		occurrence o;
		r = so->rule.paused ? -ENOENT : engine_next_pending(t, so, st.watermark, &o);
		if (r < 0 && r != -ENOENT && r != -ELOOP)
			break;
		json_t *next = r == 0 ? json_string(cal_format_instant(o.delivery, tz_offset_at(so->rule.zone, o.delivery), when))
				      : json_null();
		r = json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:b, s:o}", "id", so->id, "supplier", so->supplier,
						       "source", src, "paused", so->rule.paused, "next_delivery", next)) < 0 ? -ENOMEM : 0;
	}
	defs_arena_free(scratch);
	if (r < 0) {
		json_decref(a);
		return r;
	}
	*ret = a;
	return 0;
}

/* ---- GetCustomer, ListCustomers ---- */

/* A tree written into w as the value of key, as vl_reply would encode it; v taken. */
static void write_tree(jsonw *w, const char *key, json_t *v) {
	char *text = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(6)) : NULL;
	json_decref(v);
	jsonw_key(w, key);
	if (text)
		jsonw_raw(w, text, strlen(text));
	else
		w->b.oom = true;
	free(text);
}

static int get_customer(vl_call_ctx *ctx, json_t *params, void *userdata) {
	api_env *env = userdata;
	static const char *const allowed[] = { "customer", NULL };
	const customer *cu;
	account_summary *acct = NULL;
	store_txn *t = NULL;
	json_t *sos = NULL, *tasks = NULL, *log = NULL;
	jsonw open = { 0 };   /* the open orders' array, written as GetOrder's views */
	bool more, open_more = false;
	char (*numbers)[ORDER_NUMBER_MAX] = NULL;
	size_t n_numbers = 0;
	int r;
	if ((r = vl_params_check(ctx, params, allowed)) < 0 || (r = customer_param(ctx, env, params, &cu)) != 0)
		return r < 0 ? r : 0;
	if ((r = api_read_begin(env, &t)) < 0)
		return api_internal(ctx, r);
	if ((r = sales_account_read(t, cu, CRM_ACCOUNT_ENTRIES, &acct)) < 0)
		goto fail;
	if ((r = standing_orders_view(t, env->defs, cu, &sos)) < 0)
		goto fail;
	r = -ENOMEM;
	if (!(tasks = json_array()) || !(log = json_array()))
		goto fail;
	/* orders_open: every order neither shipped nor cancelled (the account's
	 * open_orders are only those on hold or awaiting payment) */
	if ((r = store_customer_orders(t, cu->id, CRM_OPEN_ORDERS, &numbers, &n_numbers, &open_more)) < 0)
		goto fail;
	jsonw_arr_open(&open);
	for (size_t i = 0; i < n_numbers; i++) {
		sales_order *o = NULL;
		r = store_order_get(t, numbers[i], &o);
		if (r == -ENOENT)
			continue;
		if (r < 0)
			goto fail;
		order_view_write(&open, o);   /* order_to_view's bytes (test_order_view) */
		order_free(o);
	}
	jsonw_arr_close(&open);
	r = -ENOMEM;
	if (open.b.oom)
		goto fail;
	if ((r = crm_task_list(t, NULL, TASK_OPEN, INT64_MAX, cu->id, NULL, CRM_OPEN_TASKS, tasks, &more)) < 0 ||
	    (r = crm_interaction_list(t, cu->id, INT64_MIN, INT64_MAX, INT64_MIN, 0, CRM_LAST_INTERACTIONS, true, log,
				      &more)) < 0)
		goto fail;
	api_read_end(t);
	t = NULL;
	free(numbers);
	numbers = NULL;
	json_t *p = customer_item(env->defs, cu);
	if (!p) {
		r = -ENOMEM;
		goto fail;
	}
	json_object_set_new(p, "salesperson", salesperson_view(defs_find_salesperson(&env->defs->config, cu->salesperson)));
	json_object_set_new(p, "account", account_summary_view(acct));
	json_object_set_new(p, "contacts", contacts_view(cu));
	json_object_set_new(p, "standing_orders", sos);
	account_summary_free(acct);
	/* the customer's members in their order, the open orders written directly */
	jsonw w = { 0 };
	const char *key;
	json_t *v;
	jsonw_obj_open(&w);
	json_object_foreach(p, key, v)
		write_tree(&w, key, json_incref(v));
	json_decref(p);
	jsonw_key(&w, "orders_open");
	jsonw_raw(&w, open.b.s, open.b.n);
	free(open.b.s);
	jsonw_key(&w, "orders_open_more");
	jsonw_bool(&w, open_more);
	write_tree(&w, "open_tasks", tasks);
	write_tree(&w, "interactions", log);
	jsonw_obj_close(&w);
	r = w.b.oom ? api_internal(ctx, -ENOMEM) : vl_reply_member(ctx, "customer", w.b.s, w.b.n);
	free(w.b.s);
	return r;
fail:
	api_read_end(t);
	free(numbers);
	json_decref(sos);
	free(open.b.s);
	json_decref(tasks);
	json_decref(log);
	account_summary_free(acct);
	return api_internal(ctx, r);
}

static int list_customers(vl_call_ctx *ctx, json_t *params, void *userdata) {
	api_env *env = userdata;
	static const char *const allowed[] = { "salesperson", NULL };
	const char *sp = NULL;
	int r;
	if ((r = vl_params_check(ctx, params, allowed)) < 0 ||
	    (r = vl_param_string(ctx, params, "salesperson", false, &sp)) < 0)
		return r;
	if (sp && !defs_find_salesperson(&env->defs->config, sp))
		return crm_error(ctx, "SalespersonNotFound", json_pack("{s:s}", "salesperson", sp));
	json_t *a = json_array();
	for (size_t i = 0; a && i < env->defs->n_customers; i++) {
		const customer *cu = &env->defs->customers[i];
		if (sp && (!cu->salesperson || strcmp(cu->salesperson, sp)))
			continue;
		if (json_array_append_new(a, customer_item(env->defs, cu)) < 0) {
			json_decref(a);
			a = NULL;
		}
	}
	if (!a)
		return api_internal(ctx, -ENOMEM);
	return api_reply_new(ctx, json_pack("{s:o}", "customers", a));
}

/* ---- PlaceCustomer ---- */

static json_t *customer_reply(const char *id) {
	return json_pack("{s:s}", "customer", id);
}

static json_t *customer_also_reply(store_txn *t, const defs *d, const char *id) {
	(void) t;
	(void) d;
	return customer_reply(id);
}

static json_t *customer_placed(api_env *env, void *ud) {
	(void) env;
	return customer_reply(ud);
}

static int place_customer(vl_call_ctx *ctx, json_t *params, void *userdata) {
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
	if (!json_is_string(jid) || !*json_string_value(jid)) {
		/* the API file is named by the id: it must be a string (the loader says the rest) */
		json_t *e = json_pack("[{s:s, s:s}]", "field", "id", "message",
				      jid ? "expected a string" : "missing key \"id\"");
		return crm_error(ctx, "InvalidDefinition", json_pack("{s:o}", "errors", e));
	}
	const char *id = json_string_value(jid);
	const customer *old = defs_find_customer(env->defs, id);
	if (old && !(old->file && !strncmp(old->file, "api/", 4)))
		return crm_error(ctx, "DefinedInFile", json_pack("{s:s, s:s, s:i}", "customer", id, "file",
								  old->file ? old->file : "", "line", old->line));
	char placer[96], key[200];
	api_placer_of(ctx, api_role_of(ctx, env), placer);
	/* "customer:ID": ':' is in no id, so the file never clashes with a standing order's */
	snprintf(key, sizeof(key), "customer:%s", strchr(id, '/') ? "invalid-id" : id);
	const api_place p = { .list = "customers", .file = key, .id = id, .also_reply = customer_also_reply,
			      .placed = customer_placed, .placed_ud = (void *) id, .invalid = CRM_IFACE ".InvalidDefinition",
			      .prefix = "customers[0]" };
	return api_place_run(ctx, env, &ix, def, placer, &p);
}

/* ---- the interaction log ---- */

static int log_interaction(vl_call_ctx *ctx, json_t *params, void *userdata) {
	api_env *env = userdata;
	static const char *const allowed[] = { "customer", "kind", "contact", "summary", "at", NULL };
	const customer *cu;
	const char *kind, *who, *summary;
	int64_t now = env->now(env->ud), at = now;
	interaction_kind k;
	int r;
	if ((r = vl_params_check(ctx, params, allowed)) < 0 ||
	    (r = vl_param_string(ctx, params, "kind", true, &kind)) < 0)
		return r;
	if (interaction_kind_parse(kind, &k) < 0)
		return vl_invalid_parameter(ctx, "kind");
	if ((r = text_param(ctx, params, "contact", false, &who)) < 0 ||
	    (r = text_param(ctx, params, "summary", true, &summary)) < 0 ||
	    (r = instant_param(ctx, params, "at", false, &at)) < 0)
		return r;
	if (at > now)
		return vl_invalid_parameter(ctx, "at");   /* the log is of what happened */
	if ((r = customer_param(ctx, env, params, &cu)) != 0)
		return r < 0 ? r : 0;
	char by[96];
	crm_by(ctx, env, by);
	interaction i = { .customer = (char *) cu->id, .at = at, .kind = k, .contact = (char *) who,
			  .summary = (char *) summary, .author = by };
	if ((r = crm_interaction_log(env->store, &i)) < 0)
		return api_internal(ctx, r);
	return api_reply_new(ctx, json_pack("{s:o}", "interaction", interaction_to_view(&i)));
}

/* ---- the long lists ---- */

typedef enum crm_list_kind { CRM_LIST_INTERACTIONS, CRM_LIST_TASKS } crm_list_kind;

typedef struct crm_list {
	api_env *env;
	crm_list_kind kind;
	char *customer, *assignee;   /* filters, owned (NULL: any) */
	int status;                  /* tasks: -1 any */
	int64_t from, to, due_before;
	/* the cursor: after this task id, or after (at, seq) */
	char after_id[TASK_ID_MAX];
	int64_t after_at;
	uint64_t after_seq;
	size_t n;
	vl_list out;
} crm_list;

static void crm_list_free(void *state) {
	crm_list *j = state;
	vl_list_clear(&j->out);
	free(j->customer);
	free(j->assignee);
	free(j);
}

static int crm_list_step(vl_call_ctx *ctx, void *state) {
	crm_list *j = state;
	bool more = vl_call_ctx_more(ctx), left = false;
	store_txn *t;
	json_t *arr = json_array();
	int r = arr ? api_read_begin(j->env, &t) : -ENOMEM;
	if (r == 0) {
		if (j->kind == CRM_LIST_TASKS)
			r = crm_task_list(t, j->assignee, j->status, j->due_before, j->customer,
					  j->after_id[0] ? j->after_id : NULL, STEP_UNITS, arr, &left);
		else
			r = crm_interaction_list(t, j->customer, j->from, j->to, j->after_at, j->after_seq, STEP_UNITS, false,
						 arr, &left);
		api_read_end(t);
	}
	size_t i;
	json_t *item;
	json_array_foreach(arr, i, item) {
		char *text = NULL;
		size_t len = 0;
		if (r == 0 && !more && j->n >= MAX_ITEMS)
			r = -E2BIG;
		if (r == 0 && (r = vl_item_encode(item, &text, &len)) == 0) {
			r = vl_list_add(&j->out, text, len);
			j->n++;
		}
		free(text);
		if (r == 0 && more && j->out.n == CHUNK)
			r = vl_list_send(ctx, &j->out, true);
		if (r < 0)
			break;
		/* the cursor moves past what was taken */
		if (j->kind == CRM_LIST_TASKS)
			snprintf(j->after_id, sizeof(j->after_id), "%s", json_string_value(json_object_get(item, "id")));
		else {
			cal_parse_instant(json_string_value(json_object_get(item, "at")), &j->after_at);
			j->after_seq = (uint64_t) json_integer_value(json_object_get(item, "seq"));
		}
	}
	json_decref(arr);
	if (r == -E2BIG)
		return crm_error(ctx, j->kind == CRM_LIST_TASKS ? "TooManyTasks" : "TooManyInteractions",
				 json_pack("{s:i}", "limit", MAX_ITEMS));
	if (r < 0)
		return api_internal(ctx, r);
	if (left)
		return VL_AGAIN;
	return vl_list_send(ctx, &j->out, false);
}

static int crm_list_start(vl_call_ctx *ctx, crm_list *j, const char *key) {
	if (vl_call_ctx_oneway(ctx)) {
		crm_list_free(j);
		return vl_reply(ctx, NULL, false);
	}
	j->out.key = key;
	j->after_at = INT64_MIN;
	return vl_defer(ctx, crm_list_step, j, crm_list_free);
}

static int list_interactions(vl_call_ctx *ctx, json_t *params, void *userdata) {
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
	crm_list *j = calloc(1, sizeof(*j));
	if (!j || !(j->customer = strdup(cu->id))) {
		free(j);
		return api_internal(ctx, -ENOMEM);
	}
	j->env = env;
	j->kind = CRM_LIST_INTERACTIONS;
	j->from = lo;
	j->to = hi;
	return crm_list_start(ctx, j, "interactions");
}

/* ---- tasks ---- */

static int task_outcome(vl_call_ctx *ctx, api_env *env, const char *id, int r, task *tk) {
	if (r == -ENOENT || r == -EINVAL)
		return crm_error(ctx, "TaskNotFound", json_pack("{s:s}", "task", id));
	if (r == -EALREADY) {
		/* which status it has: what the caller needs to know next */
		store_txn *t;
		task *now = NULL;
		const char *st = "unknown";
		if (store_begin(env->store, false, &t) == 0) {
			if (crm_task_get(t, id, &now) == 0)
				st = task_status_name(now->status);
			store_abort(t);
		}
		r = crm_error(ctx, "TaskNotOpen", json_pack("{s:s, s:s}", "task", id, "status", st));
		task_free(now);
		return r;
	}
	if (r < 0)
		return api_internal(ctx, r);
	json_t *p = json_pack("{s:o}", "task", task_to_view(tk));
	task_free(tk);
	return api_reply_new(ctx, p);
}

static int list_tasks(vl_call_ctx *ctx, json_t *params, void *userdata) {
	api_env *env = userdata;
	static const char *const allowed[] = { "assignee", "mine", "status", "due_before", "customer", NULL };
	const char *assignee = NULL, *status = NULL, *customer_id = NULL;
	bool mine = false;
	int64_t due_before = INT64_MAX;
	task_status st = TASK_OPEN;
	int r;
	if ((r = vl_params_check(ctx, params, allowed)) < 0 ||
	    (r = vl_param_string(ctx, params, "assignee", false, &assignee)) < 0 ||
	    (r = vl_param_bool(ctx, params, "mine", false, &mine)) < 0 ||
	    (r = vl_param_string(ctx, params, "status", false, &status)) < 0 ||
	    (r = instant_param(ctx, params, "due_before", false, &due_before)) < 0 ||
	    (r = vl_param_string(ctx, params, "customer", false, &customer_id)) < 0)
		return r;
	if (status && strcmp(status, "all") && task_status_parse(status, &st) < 0)
		return vl_invalid_parameter(ctx, "status");
	if (mine) {
		peer_role role = api_role_of(ctx, env);
		if (assignee || !(role.flags & PEER_ROLE_SALES))
			return vl_invalid_parameter(ctx, "mine");   /* the caller is no salesperson */
		assignee = role.salesperson->id;
	}
	if (assignee && !defs_find_salesperson(&env->defs->config, assignee))
		return crm_error(ctx, "SalespersonNotFound", json_pack("{s:s}", "salesperson", assignee));
	if (customer_id && !defs_find_customer(env->defs, customer_id))
		return crm_error(ctx, "CustomerNotFound", json_pack("{s:s}", "customer", customer_id));
	crm_list *j = calloc(1, sizeof(*j));
	if (!j || (assignee && !(j->assignee = strdup(assignee))) || (customer_id && !(j->customer = strdup(customer_id)))) {
		if (j)
			crm_list_free(j);
		return api_internal(ctx, -ENOMEM);
	}
	j->env = env;
	j->kind = CRM_LIST_TASKS;
	j->status = status && !strcmp(status, "all") ? -1 : (int) st;
	j->due_before = due_before;
	return crm_list_start(ctx, j, "tasks");
}

static int complete_task(vl_call_ctx *ctx, json_t *params, void *userdata) {
	api_env *env = userdata;
	static const char *const allowed[] = { "task", "note", NULL };
	const char *id, *note;
	int r;
	if ((r = vl_params_check(ctx, params, allowed)) < 0 || (r = vl_param_string(ctx, params, "task", true, &id)) < 0 ||
	    (r = text_param(ctx, params, "note", false, &note)) < 0)
		return r;
	char by[96];
	crm_by(ctx, env, by);
	task *tk = NULL;
	r = crm_task_complete(env->store, id, note, env->now(env->ud), by, &tk);
	return task_outcome(ctx, env, id, r, tk);
}

static int snooze_task(vl_call_ctx *ctx, json_t *params, void *userdata) {
	api_env *env = userdata;
	static const char *const allowed[] = { "task", "until", NULL };
	const char *id;
	int64_t until = 0, now = env->now(env->ud);
	int r;
	if ((r = vl_params_check(ctx, params, allowed)) < 0 || (r = vl_param_string(ctx, params, "task", true, &id)) < 0 ||
	    (r = instant_param(ctx, params, "until", true, &until)) < 0)
		return r;
	if (until <= now)
		return vl_invalid_parameter(ctx, "until");
	char by[96];
	crm_by(ctx, env, by);
	task *tk = NULL;
	r = crm_task_snooze(env->store, id, until, now, by, &tk);
	return task_outcome(ctx, env, id, r, tk);
}

static int add_task(vl_call_ctx *ctx, json_t *params, void *userdata) {
	api_env *env = userdata;
	static const char *const allowed[] = { "customer", "due", "text", "assignee", NULL };
	const customer *cu;
	const char *due_s, *text, *assignee = NULL;
	bound due;
	int r;
	if ((r = vl_params_check(ctx, params, allowed)) < 0 || (r = vl_param_string(ctx, params, "due", true, &due_s)) < 0 ||
	    (r = text_param(ctx, params, "text", true, &text)) < 0 ||
	    (r = vl_param_string(ctx, params, "assignee", false, &assignee)) < 0)
		return r;
	if (api_parse_bound(due_s, &due) < 0)
		return vl_invalid_parameter(ctx, "due");
	if ((r = customer_param(ctx, env, params, &cu)) != 0)
		return r < 0 ? r : 0;
	peer_role role = api_role_of(ctx, env);
	/* the customer's salesperson, else the salesperson asking */
	if (!assignee)
		assignee = cu->salesperson ? cu->salesperson : (role.flags & PEER_ROLE_SALES) ? role.salesperson->id : NULL;
	if (!assignee)
		return vl_invalid_parameter(ctx, "assignee");
	if (!defs_find_salesperson(&env->defs->config, assignee))
		return crm_error(ctx, "SalespersonNotFound", json_pack("{s:s}", "salesperson", assignee));
	char by[96];
	crm_by(ctx, env, by);
	task *tk = NULL;
	r = crm_task_add(env->store, cu->id, assignee, api_bound_at(&due, cu->zone), text, env->now(env->ud), by, &tk);
	if (r < 0)
		return api_internal(ctx, r);
	json_t *p = json_pack("{s:o}", "task", task_to_view(tk));
	task_free(tk);
	return api_reply_new(ctx, p);
}

/* ---- the methods, registered by api_register ---- */

const vl_method api_crm_methods[] = {
	{ "GetCustomer", get_customer, API_READ_ONLY },
	{ "ListCustomers", list_customers, API_READ_ONLY },
	{ "PlaceCustomer", place_customer, API_CHANGES },
	{ "LogInteraction", log_interaction, 0 },
	{ "ListInteractions", list_interactions, API_READ_ONLY },
	{ "ListTasks", list_tasks, API_READ_ONLY },
	{ "CompleteTask", complete_task, 0 },
	{ "SnoozeTask", snooze_task, 0 },
	{ "AddTask", add_task, 0 },
};
const size_t api_crm_n_methods = sizeof(api_crm_methods) / sizeof(api_crm_methods[0]);
