/* api: the io.standingd.* Varlink interfaces: their IDL, authorisation by peer
 * role, and the method handlers over the definitions and the store. No event loop:
 * everything the daemon must do itself (now, reload, applying a definition placed
 * through the API) comes in through api_env's callbacks. */
#pragma once
#include <sys/types.h>
#include "lib/defs/defs.h"
#include "lib/base/diag.h"
#include "lib/sched/engine.h"
#include "lib/store/store.h"
#include "lib/varlink/varlink.h"

/* A change of the running set, for api_env.change_begin: the API definition file
 * id placed (json: its text) or removed (json NULL), with also as
 * apply_api_order_also's (NULL: none); or, reload set, the definition files read
 * again (id, json and also unused). */
typedef struct api_change_req {
	bool reload;
	const char *id;
	const char *json;
	int (*also)(store_txn *t, const defs *d, void *also_ud);
	void *also_ud;
} api_change_req;

typedef struct api_env {
	const defs *defs;        /* current definitions; the daemon updates the pointer */
	store *store;
	engine *engine;
	uid_t self_uid;
	int64_t (*now)(void *ud);
	/* Reload the definition files; 0, or -EINVAL with diags (nothing applied). */
	int (*reload)(void *ud, diag_list *diags);
	/* Apply a standing order placed through the API (json: a definition object as
	 * text) or remove one (json NULL). The daemon validates the whole resulting set
	 * exactly like the YAML files and applies it atomically. 0, or -EINVAL with diags
	 * (field paths), or another negative errno. */
	int (*apply_api_order)(void *ud, const char *id, const char *json, diag_list *diags);
	/* The same with also (may be NULL) called in the engine's apply transaction
	 * (engine_sources.also): PlaceStandingOrder's idempotency record. NULL: the API
	 * uses apply_api_order and stores no record. */
	int (*apply_api_order_also)(void *ud, const char *id, const char *json,
				    int (*also)(store_txn *t, const defs *d, void *also_ud), void *also_ud,
				    diag_list *diags);
	/* Optional (NULL: the synchronous callbacks above): a daemon that makes a change
	 * off its loop. change_begin starts what reload / apply_api_order(_also) would
	 * do and returns 0 (or a negative errno: nothing started); the call then waits
	 * (vl_defer) and asks change_end for the outcome: -EINPROGRESS while the change
	 * is being made, else what the synchronous callback returns, with its diags. The
	 * daemon runs the calls that change (API_CHANGES) one at a time. req's strings
	 * are copied; also and also_ud stay valid until change_end gave the outcome or
	 * change_drop was called: the call went away first (its client left), and a
	 * change not yet made is dropped. */
	int (*change_begin)(void *ud, const api_change_req *req);
	int (*change_end)(void *ud, diag_list *diags);
	void (*change_drop)(void *ud);
	/* Orders created through PlaceOrder, for logging. May be NULL. */
	void (*order_placed)(void *ud, const sales_order *o);
	/* The longest loop step so far in ms (Status's max_loop_step_ms). May be NULL. */
	double (*max_loop_step_ms)(void *ud);
	/* The most CPU time one loop step took so far in ms (max_loop_step_cpu_ms).
	 * May be NULL. */
	double (*max_loop_step_cpu_ms)(void *ud);
	/* Status's worker threads, calls they are answering, read-only calls waiting
	 * for one (the daemon's pool; 0 when everything is answered on the loop). May be
	 * NULL: all 0. */
	void (*workers)(void *ud, unsigned *ret_threads, unsigned *ret_busy, unsigned *ret_waiting);
	/* RetryOutbox made parked events pending again: deliver them now rather than at
	 * the next wake-up. May be NULL. */
	void (*outbox_wake)(void *ud);
	void *ud;
	/* The daemon adds 1 whenever it points defs at a new set: a list built in
	 * steps (ListUpcoming, ListOrders, Forecast) starts again under the new one. */
	uint64_t defs_generation;
	/* The api's own: read snapshots held by lists being built (at most a few). */
	unsigned snapshots;
} api_env;

/* Methods that only read (ListUpcoming, ListOrders, Forecast, GetOrder, GetAccount,
 * GetCustomer, ListCustomers, ListTasks, ListInteractions) carry this in their vl_method flags
 * (vl_service_method_flags): a daemon may answer them on other threads, each call
 * with the read transaction it lends with api_read_lend(), while the definitions
 * (env->defs and what it points to) stay as they are until the call returns. Those
 * calls use nothing else of the store's bookkeeping (no store_begin of their own), so
 * the transactions are begun and ended on the daemon's loop only. */
#define API_READ_ONLY 1u
/* ... and answered in bounded time whatever the data (GetOrder, GetAccount): a
 * daemon may keep a thread for these, so they never wait behind long lists. */
#define API_READ_SHORT 2u

/* ... and changes the running set (PlaceStandingOrder, CancelStandingOrder,
 * Reload, PlaceCustomer): a daemon runs these one at a time, in the order they
 * arrive, each from its start to its reply, so that each sees the set the one
 * before it made (api_env.change_begin). */
#define API_CHANGES 4u

/* Lends t to the calls this thread answers from now on (NULL: none; each then
 * begins its own transaction). The thread's own: other threads are not affected. */
void api_read_lend(store_txn *t);

/* Registers io.standingd, io.standingd.Supplier, io.standingd.Orders,
 * io.standingd.Ops and io.standingd.Crm on svc, and the authorisation hook (callers are peer *). */
int api_register(vl_service *svc, api_env *env);
