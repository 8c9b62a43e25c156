/* idem: idempotent requests. A mutating method's optional idempotency_key, per
 * caller's user: the first reply is stored (store_idem_put) in the write
 * transaction of the call's effect, and a later call with the same key and the
 * same parameters gets it back without the effect happening again; other
 * parameters are IdempotencyKeyReused. "The same parameters" is the canonical
 * text of the call's parameters without idempotency_key (jansson, compact, keys
 * sorted), compared by its 64-bit FNV-1a hash (16 hex digits). Records live at
 * least API_IDEM_KEEP seconds (api_idem_expire removes older ones in slices). */
#pragma once
#include <stdint.h>
#include <jansson.h>
#include "lib/sales/sales.h"
#include "lib/store/store.h"
#include "lib/varlink/varlink.h"

#define API_IDEM_KEEP (24 * 3600)
/* Records removed per api_idem_expire call (one short write transaction). */
#define API_IDEM_EXPIRE_SLICE 256

typedef struct api_idem {
	const char *key;          /* NULL: the call has none; borrowed from the parameters */
	char user[64];            /* the caller's user name, or its uid in decimal */
	char hash[17];            /* of the canonical parameters */
	int64_t at;               /* now, when the record is written */
	sales_idem sales;         /* for the sales operations (api_idem_sales) */
} api_idem;

/* The canonical parameters' hash: params without "idempotency_key", dumped
 * compact with sorted keys, FNV-1a 64 as 16 lower-case hex digits. 0, -ENOMEM. */
int api_idem_hash(json_t *params, char ret[17]);
/* FNV-1a, 64 bits. */
uint64_t api_idem_fnv1a(const void *p, size_t n);
/* A key is 1..STORE_IDEM_KEY_MAX bytes of UTF-8 text without control characters. */
bool api_idem_key_ok(const char *key);

/* Reads idempotency_key from params and, when present, looks it up for the caller:
 * 0: go on (ret->key NULL when the call has none; else not stored yet, ret ready for
 * the write); 1: answered (InvalidParameter for a bad key, the stored reply, or
 * IdempotencyKeyReused); a negative errno from a failed reply. */
int api_idem_begin(vl_call_ctx *ctx, store *s, json_t *params, int64_t now, api_idem *ret);
/* After an operation found the key stored in its own transaction (-EEXIST): answers
 * as api_idem_begin would now. */
int api_idem_answer(vl_call_ctx *ctx, store *s, api_idem *ix);
/* ix->sales for a sales operation, its reply built by reply_for in the operation's
 * transaction (NULL when the call has no key). */
const sales_idem *api_idem_sales(api_idem *ix, char *(*reply_for)(const sales_order *o, const ledger_entry *e,
								  void *ud));
/* The same for an operation whose reply is {"order": Order}. */
const sales_idem *api_idem_sales_order(api_idem *ix);
/* Writes the record with reply (a JSON object as text) in t. */
int api_idem_put(store_txn *t, const api_idem *ix, const char *reply);

/* Removes records older than API_IDEM_KEEP, at most API_IDEM_EXPIRE_SLICE in one
 * write transaction: the daemon calls it from its periodic tick. *ret_removed: how
 * many (fewer than the slice: none older left). */
int api_idem_expire(store *s, int64_t now, size_t *ret_removed);
