/* Idempotent requests (idem.h). The lookup happens before the call's own checks,
 * so that a retry gets the first reply even when the call would now be refused
 * (a delivery date that has passed since). Requests are served one at a time and
 * the mutating ones are never deferred across loop turns, so nothing can come
 * between the lookup and the write; the write still refuses a key stored
 * meanwhile (-EEXIST) and the handler then answers the stored reply. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lib/api/idem.h"
#include "lib/api/peer.h"
#include "lib/base/text.h"

#define IDEM_PARAM "idempotency_key"

uint64_t api_idem_fnv1a(const void *p, size_t n) {
	const unsigned char *b = p;
	uint64_t h = UINT64_C(0xcbf29ce484222325);
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

int api_idem_hash(json_t *params, char ret[17]) {
	json_t *c = params ? json_copy(params) : json_object();
	if (!c)
		return -ENOMEM;
	json_object_del(c, IDEM_PARAM);
	char *text = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(c);
	if (!text)
		return -ENOMEM;
	snprintf(ret, 17, "%016" PRIx64, api_idem_fnv1a(text, strlen(text)));
	free(text);
	return 0;
}

bool api_idem_key_ok(const char *key) {
	char msg[TEXT_MSG_MAX];
	size_t n = key ? strlen(key) : 0;
	return n >= 1 && n <= STORE_IDEM_KEY_MAX && text_check(key, n, msg) == 0;
}

/* Looks (user, key) up: 1 answered, 0 not stored, a negative errno. */
static int idem_lookup(vl_call_ctx *ctx, store *s, api_idem *ix) {
	store_txn *t;
	char *hash = NULL, *reply = NULL;
	int r = store_begin(s, false, &t);
	if (r < 0)
		return vl_internal_error(ctx, r) < 0 ? -EIO : 1;
	r = store_idem_get(t, ix->user, ix->key, &hash, &reply, NULL);
	store_abort(t);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return vl_internal_error(ctx, r) < 0 ? -EIO : 1;
	if (strcmp(hash, ix->hash)) {
		json_t *p = json_pack("{s:s}", IDEM_PARAM, ix->key);
		r = vl_error(ctx, "io.standingd.Orders.IdempotencyKeyReused", p);
		json_decref(p);
	} else {
		json_t *p = json_loads(reply, JSON_REJECT_DUPLICATES, NULL);
		r = p && json_is_object(p) ? vl_reply(ctx, p, false) : vl_internal_error(ctx, -EBADMSG);
		json_decref(p);
	}
	free(hash);
	free(reply);
	return r < 0 ? r : 1;
}

int api_idem_begin(vl_call_ctx *ctx, store *s, json_t *params, int64_t now, api_idem *ret) {
	memset(ret, 0, sizeof(*ret));
	const char *key = NULL;
	int r = vl_param_string(ctx, params, IDEM_PARAM, false, &key);
	if (r < 0)
		return 1;   /* InvalidParameter sent */
	if (!key)
		return 0;
	if (!api_idem_key_ok(key))
	{
		vl_invalid_parameter(ctx, IDEM_PARAM);   /* -EINVAL with the reply out */
		return 1;
	}
	const peer *p = vl_call_ctx_caller(ctx);
	if (p && p->user[0])
		snprintf(ret->user, sizeof(ret->user), "%s", p->user);
	else
		snprintf(ret->user, sizeof(ret->user), "%u", p ? (unsigned) p->uid : 0u);
	if ((r = api_idem_hash(params, ret->hash)) < 0)
		return vl_internal_error(ctx, r) < 0 ? -EIO : 1;
	ret->key = key;
	ret->at = now;
	r = idem_lookup(ctx, s, ret);
	if (r != 0)
		ret->key = NULL;
	return r;
}

int api_idem_answer(vl_call_ctx *ctx, store *s, api_idem *ix) {
	int r = ix->key ? idem_lookup(ctx, s, ix) : 0;
	if (r == 0)   /* the operation said it was stored, and it is not: not ours to guess */
		r = vl_internal_error(ctx, -EEXIST);
	return r < 0 ? r : 0;
}

/* {"order": Order}, as the handlers reply it. */
static char *order_reply(const sales_order *o, const ledger_entry *e, void *ud) {
	(void) e;
	(void) ud;
	json_t *p = o ? json_pack("{s:o}", "order", order_to_view(o)) : NULL;
	char *text = p ? json_dumps(p, JSON_COMPACT) : NULL;
	json_decref(p);
	return text;
}

const sales_idem *api_idem_sales(api_idem *ix, char *(*reply_for)(const sales_order *o, const ledger_entry *e,
								  void *ud)) {
	if (!ix->key)
		return NULL;
	ix->sales = (sales_idem) { .key = ix->key, .user = ix->user, .params_hash = ix->hash,
				   .reply_for = reply_for, .at = ix->at };
	return &ix->sales;
}

const sales_idem *api_idem_sales_order(api_idem *ix) {
	return api_idem_sales(ix, order_reply);
}

int api_idem_put(store_txn *t, const api_idem *ix, const char *reply) {
	return store_idem_put(t, ix->user, ix->key, ix->hash, reply, ix->at);
}

int api_idem_expire(store *s, int64_t now, size_t *ret_removed) {
	store_txn *t;
	size_t n = 0;
	int r = store_begin(s, true, &t);
	if (r < 0)
		return r;
	if ((r = store_idem_expire(t, now - API_IDEM_KEEP, API_IDEM_EXPIRE_SLICE, &n)) < 0 || n == 0) {
		store_abort(t);
		if (r == 0)
			*ret_removed = 0;
		return r;
	}
	if ((r = store_commit(t)) == 0)
		*ret_removed = n;
	return r;
}
