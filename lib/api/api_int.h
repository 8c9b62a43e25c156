/* The private header of lib/api: what the interface files (supplier.c, orders.c,
 * ops.c), the authorisation (auth.c), the long lists (jobs.c) and the
 * registration (api.c) share. Not for use outside lib/api. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "lib/api/api.h"
#include "lib/api/idem.h"
#include "lib/api/peer.h"
#include "lib/base/jsonw.h"
#include "lib/base/text.h"
#include "lib/defs/yamltree.h"
#include "lib/sales/sales.h"
#include "lib/time/cal.h"

#define MAX_WINDOW_DAYS 400
#define CHUNK 100
/* Items one call may return: a list is collected whole before it is sent (it is
 * sorted), so this bounds the daemon's memory per request (about 9 MB of JSON);
 * the loop's time is bounded by building it in steps (jobs.c). */
#define MAX_ITEMS 20000

/* Work per step: orders read, occurrences looked at, standing orders visited and
 * items encoded count one each; ~1 ms (a few under ASan). */
#define STEP_UNITS 64

/* A window bound: a date (local midnight in each delivery's zone) or an instant. */
typedef struct bound {
	bool is_date;
	int64_t day, instant;
} bound;

typedef struct list_item {
	int64_t delivery;
	const char *so;      /* sort key; points into the defs of the collection */
	char number[ORDER_NUMBER_MAX];
	uint64_t n;          /* occurrence index (forecast) */
	size_t off, len;     /* the item as JSON: bytes [off, off + len) of the job's text */
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
	/* the result: the items' JSON one after another in text (jsonw), v in order */
	jsonw text;
	list_item *v;
	size_t n, cap, emitted;
	vl_list out;
	/* orders[full_i - 1] with its bulk (sales_so_full; 0: none), read once for
	 * all its items, its strings in scratch */
	struct defs_arena *scratch;
	standing_order full;
	size_t full_i;
} list_job;

/* ---- small helpers and shared parameter readers (api.c) ---- */

json_t *api_jstr_or_null(const char *s);
int api_error_new(vl_call_ctx *ctx, const char *name, json_t *params);
int api_reply_new(vl_call_ctx *ctx, json_t *params);
int api_internal(vl_call_ctx *ctx, int err);
bool api_text_ok(diag_list *errs, const char *field, const char *s);
int api_parse_bound(const char *s, bound *ret);
int64_t api_bound_at(const bound *b, const tz_zone *z);
int api_window_params(vl_call_ctx *ctx, json_t *params, bool required, bound *from, bound *to);
/* Optional from/to (dates: midnight in zone z; instants) as [*ret_lo, *ret_hi),
 * INT64_MIN/INT64_MAX when absent: 0, or a negative errno after replying
 * InvalidParameter (to not after from). */
int api_open_window(vl_call_ctx *ctx, json_t *params, const tz_zone *z, int64_t *ret_lo, int64_t *ret_hi);
peer_role api_role_of(vl_call_ctx *ctx, api_env *env);
/* The read transaction of a call: the one the daemon lent this thread
 * (api_read_lend), or a new one; api_read_end() ends only a call's own. */
int api_read_begin(api_env *env, store_txn **ret);
void api_read_end(store_txn *t);
store_txn *api_read_lent(void);
int api_order_param(vl_call_ctx *ctx, api_env *env, json_t *params, store_txn **ret_t,
		       sales_order **ret_o, const char *error_iface);
bool api_from_api(const standing_order *so);
/* A standing order's "source" in replies: "api", else "FILE:LINE" (the line of
 * its `- id:` item, in its bulk: full must be a full standing order, a thin one
 * read with sales_so_full). */
void api_so_source(const standing_order *full, char *buf, size_t size);
/* Diags to [{field, message}]: a definition placed through the API is read as the
 * first item of its file; prefix ("standing_orders[0]", "customers[0]") is left out
 * of the field names. */
json_t *api_field_errors(const diag_list *diags, const char *prefix);
/* For an engine_sources.also callback: stores p (taken) as the idempotency record's
 * reply, its text kept in *reply (the first answer). 0 or a negative errno. */
int api_idem_put_reply(store_txn *t, const api_idem *ix, json_t *p, char **reply);
/* A definition placed through the API (PlaceStandingOrder, PlaceCustomer): what
 * api_place_run needs besides the definition. */
typedef struct api_place {
	const char *list;         /* its file's list: "standing_orders", "customers" */
	const char *file;         /* the API file's id (api_change_req.id) */
	const char *id;           /* the definition's id, for also_reply ("" when none) */
	/* with an idempotency key: the reply stored in the apply's transaction */
	json_t *(*also_reply)(store_txn *t, const defs *d, const char *id);
	/* the reply otherwise (NULL: out of memory) */
	json_t *(*placed)(api_env *env, void *ud);
	void *placed_ud;
	/* the error name of an invalid definition, and its fields' prefix
	 * ("standing_orders[0]") left out of the errors */
	const char *invalid, *prefix;
} api_place;
/* Places def ({list: [def], placed_by: placer} as the API file) through
 * api_change_run; answered invalid (p->invalid with the diags' fields), with the
 * answer a racing retry stored, with the reply stored in the apply's transaction,
 * or with p->placed's. ix is taken. */
int api_place_run(vl_call_ctx *ctx, api_env *env, const api_idem *ix, json_t *def, const char *placer,
		  const api_place *p);

/* A change of the running set (req) made through env, then answered by done (r:
 * the change's outcome as apply_api_order or reload returns it, diags its
 * errors): synchronously, or with env->change_begin after the change was made off
 * the daemon's loop, the call waiting meanwhile (vl_defer). state is the
 * handler's (req->also_ud in it), freed with free_state (may be NULL) once the
 * call is over. Returns what a handler returns. */
typedef int api_change_done_fn(vl_call_ctx *ctx, api_env *env, int r, const diag_list *diags, void *state);
int api_change_run(vl_call_ctx *ctx, api_env *env, const api_change_req *req, api_change_done_fn *done, void *state,
		   void (*free_state)(void *state));

/* ---- authorisation (auth.c) ---- */

bool api_shop_only(peer_role r);
bool api_placed_by_shop(const char *placed_by);
bool api_shop_order(api_env *env, const sales_order *o);
void api_placer_of(vl_call_ctx *ctx, peer_role r, char buf[96]);
int api_denied(vl_call_ctx *ctx);
int api_authorize(void *caller, const char *interface, const char *method, void *ud);

/* ---- long lists, built in steps (jobs.c) ---- */

list_job *api_job_new(api_env *env, job_kind kind, const char *key, const char *too_many, const char *sup);
void api_job_window(list_job *j, const bound *from, const bound *to);
int api_job_start(vl_call_ctx *ctx, list_job *j);

/* ---- each interface's methods (supplier.c, orders.c, ops.c, crm.c), for api_register ---- */

extern const vl_method api_common_methods[], api_supplier_methods[], api_orders_methods[], api_ops_methods[],
	api_crm_methods[];
extern const size_t api_common_n_methods, api_supplier_n_methods, api_orders_n_methods, api_ops_n_methods,
	api_crm_n_methods;
