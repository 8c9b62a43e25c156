/* Unit tests for idempotent requests: the store's "idem" record family (put,
 * get, per user, expiry in slices, survives a reopen, rolled back with its
 * transaction) and lib/api/idem's canonical parameters hash and key rule. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>
#include <jansson.h>
#include <lmdb.h>
#include "lib/api/idem.h"
#include "lib/store/store.h"
#include "tests/unit/tmpdir.h"

typedef struct fx {
	char tmp[64];
	char dir[128];
	store *s;
} fx;

static int setup(void **state) {
	fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	strcpy(f->tmp, "/tmp/test_idem.XXXXXX");
	assert_non_null(mkdtemp(f->tmp));
	snprintf(f->dir, sizeof(f->dir), "%s/state", f->tmp);
	assert_int_equal(store_open(f->dir, NULL, &f->s), 0);
	*state = f;
	return 0;
}

static int teardown(void **state) {
	fx *f = *state;
	store_close(f->s);
	tmpdir_remove(f->tmp);
	free(f);
	return 0;
}

static void put(store *s, const char *user, const char *key, const char *hash, const char *reply, int64_t at) {
	store_txn *t;
	assert_int_equal(store_begin(s, true, &t), 0);
	assert_int_equal(store_idem_put(t, user, key, hash, reply, at), 0);
	assert_int_equal(store_commit(t), 0);
}

/* 0 with the record's fields compared, or the error. */
static int get(store *s, const char *user, const char *key, const char *hash, const char *reply, int64_t at) {
	store_txn *t;
	char *h = NULL, *rp = NULL;
	int64_t a = 0;
	assert_int_equal(store_begin(s, false, &t), 0);
	int r = store_idem_get(t, user, key, &h, &rp, &a);
	store_abort(t);
	if (r == 0) {
		assert_string_equal(h, hash);
		assert_string_equal(rp, reply);
		assert_int_equal(a, at);
	}
	free(h);
	free(rp);
	return r;
}

static void test_put_get(void **state) {
	fx *f = *state;
	const char *reply = "{\"order\":{\"order\":\"SO-00000001-3\"}}";
	assert_int_equal(get(f->s, "shop", "k1", NULL, NULL, 0), -ENOENT);
	put(f->s, "shop", "k1", "00112233aabbccdd", reply, 1801022400);
	assert_int_equal(get(f->s, "shop", "k1", "00112233aabbccdd", reply, 1801022400), 0);
	/* per user: the same key of another user is another record */
	assert_int_equal(get(f->s, "alice", "k1", NULL, NULL, 0), -ENOENT);
	put(f->s, "alice", "k1", "ffffffffffffffff", "{}", 1801022401);
	assert_int_equal(get(f->s, "alice", "k1", "ffffffffffffffff", "{}", 1801022401), 0);
	assert_int_equal(get(f->s, "shop", "k1", "00112233aabbccdd", reply, 1801022400), 0);
	/* a user name that is another's prefix plus the key's start is not confused */
	assert_int_equal(get(f->s, "sho", "pk1", NULL, NULL, 0), -ENOENT);

	/* the first record stays: a second put is -EEXIST and writes nothing */
	store_txn *t;
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(store_idem_put(t, "shop", "k1", "0000000000000000", "{\"x\":1}", 5), -EEXIST);
	assert_int_equal(store_commit(t), 0);
	assert_int_equal(get(f->s, "shop", "k1", "00112233aabbccdd", reply, 1801022400), 0);

	/* read back optional pointers */
	assert_int_equal(store_begin(f->s, false, &t), 0);
	assert_int_equal(store_idem_get(t, "shop", "k1", NULL, NULL, NULL), 0);
	store_abort(t);
}

static void test_bad_input(void **state) {
	fx *f = *state;
	char key[STORE_IDEM_KEY_MAX + 2];
	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = 0;   /* 201 bytes */
	store_txn *t;
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(store_idem_put(t, "u", "", "h", "{}", 1), -EINVAL);
	assert_int_equal(store_idem_put(t, "", "k", "h", "{}", 1), -EINVAL);
	assert_int_equal(store_idem_put(t, "u", key, "h", "{}", 1), -EINVAL);
	assert_int_equal(store_idem_put(t, "u", "k", "", "{}", 1), -EINVAL);
	assert_int_equal(store_idem_put(t, "u", "k", "h", NULL, 1), -EINVAL);
	key[STORE_IDEM_KEY_MAX] = 0;   /* 200 bytes: the longest */
	assert_int_equal(store_idem_put(t, "u", key, "h", "{}", 1), 0);
	/* a reply that is not UTF-8 is refused before anything is written */
	assert_int_equal(store_idem_put(t, "u", "k2", "h", "\xff", 1), -EINVAL);
	assert_int_equal(store_commit(t), 0);
	assert_int_equal(get(f->s, "u", key, "h", "{}", 1), 0);
	/* read-only transactions do not write */
	assert_int_equal(store_begin(f->s, false, &t), 0);
	assert_int_equal(store_idem_put(t, "u", "k3", "h", "{}", 1), -EROFS);
	store_abort(t);
}

/* A key goes with its transaction: aborted, nothing is left (the effect and the
 * key land together or not at all). */
static void test_rolled_back(void **state) {
	fx *f = *state;
	store_txn *t;
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(store_idem_put(t, "u", "k", "h", "{}", 1), 0);
	assert_int_equal(store_idem_get(t, "u", "k", NULL, NULL, NULL), 0);   /* visible inside */
	store_abort(t);
	assert_int_equal(get(f->s, "u", "k", NULL, NULL, 0), -ENOENT);
}

static void test_reopen(void **state) {
	fx *f = *state;
	put(f->s, "u", "k", "0123456789abcdef", "{\"a\":[1,2]}", 42);
	store_close(f->s);
	f->s = NULL;
	static const store_options ro = { .flags = STORE_READONLY };
	assert_int_equal(store_open(f->dir, &ro, &f->s), 0);
	assert_int_equal(get(f->s, "u", "k", "0123456789abcdef", "{\"a\":[1,2]}", 42), 0);
	store_close(f->s);
	assert_int_equal(store_open(f->dir, NULL, &f->s), 0);
	assert_int_equal(get(f->s, "u", "k", "0123456789abcdef", "{\"a\":[1,2]}", 42), 0);
}

static size_t expire(store *s, int64_t before, size_t max) {
	store_txn *t;
	size_t n = 99999;
	assert_int_equal(store_begin(s, true, &t), 0);
	assert_int_equal(store_idem_expire(t, before, max, &n), 0);
	assert_int_equal(store_commit(t), 0);
	return n;
}

static void test_expire_in_slices(void **state) {
	fx *f = *state;
	char key[32];
	/* 10 records at 100..109 (written out of order), one at 1000 */
	for (int i = 9; i >= 0; i--) {
		snprintf(key, sizeof(key), "k%d", i);
		put(f->s, i % 2 ? "a" : "b", key, "h", "{}", 100 + i);
	}
	put(f->s, "a", "late", "h", "{}", 1000);
	assert_int_equal(expire(f->s, 100, 5), 0);      /* none before 100 */
	assert_int_equal(expire(f->s, 105, 3), 3);      /* 100, 101, 102: the oldest first */
	assert_int_equal(get(f->s, "b", "k0", NULL, NULL, 0), -ENOENT);
	assert_int_equal(get(f->s, "b", "k2", NULL, NULL, 0), -ENOENT);
	assert_int_equal(get(f->s, "a", "k3", "h", "{}", 103), 0);
	assert_int_equal(expire(f->s, 105, 3), 2);      /* 103, 104: fewer than the slice, done */
	assert_int_equal(get(f->s, "a", "k5", "h", "{}", 105), 0);
	assert_int_equal(expire(f->s, 1000, 100), 5);
	assert_int_equal(get(f->s, "a", "late", "h", "{}", 1000), 0);
	/* a key removed is free again */
	put(f->s, "b", "k0", "h2", "{}", 2000);
	assert_int_equal(get(f->s, "b", "k0", "h2", "{}", 2000), 0);
	/* negative instants sort before positive ones (biased keys) */
	put(f->s, "n", "neg", "h", "{}", -5);
	assert_int_equal(expire(f->s, 0, 10), 1);
	assert_int_equal(expire(f->s, 3000, 10), 2);
	assert_int_equal(expire(f->s, 3000, 10), 0);
}

/* api_idem_expire: records older than API_IDEM_KEEP go, the others stay. */
static void test_api_expire(void **state) {
	fx *f = *state;
	int64_t now = 1801022400;
	put(f->s, "u", "old", "h", "{}", now - API_IDEM_KEEP - 1);
	put(f->s, "u", "day", "h", "{}", now - API_IDEM_KEEP);
	size_t n = 99;
	assert_int_equal(api_idem_expire(f->s, now, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(get(f->s, "u", "old", NULL, NULL, 0), -ENOENT);
	assert_int_equal(get(f->s, "u", "day", "h", "{}", now - API_IDEM_KEEP), 0);
	assert_int_equal(api_idem_expire(f->s, now, &n), 0);
	assert_int_equal(n, 0);
}

/* Plants raw entries in the idem database (layout: doc/store.md), the store closed. */
static void raw_idem(fx *f, void (*fn)(MDB_txn *txn, MDB_dbi dbi)) {
	store_close(f->s);
	f->s = NULL;
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
	assert_int_equal(mdb_env_open(env, f->dir, MDB_NOTLS, 0640), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "idem", 0, &dbi), 0);
	fn(txn, dbi);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	assert_int_equal(store_open(f->dir, NULL, &f->s), 0);
}

static void damage(MDB_txn *txn, MDB_dbi dbi) {
	/* u/k1's index entry gone; u/k2's record garbled; an index entry of nothing; a bad key */
	unsigned char t1[] = { 'T', 0x80, 0, 0, 0, 0, 0, 0, 10, 'u', 0, 'k', '1' };
	MDB_val k = { sizeof(t1), t1 }, v;
	assert_int_equal(mdb_del(txn, dbi, &k, NULL), 0);
	unsigned char k2[] = { 'K', 'u', 0, 'k', '2' };
	k = (MDB_val) { sizeof(k2), k2 };
	v = (MDB_val) { 5, "{\"v\":" };
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	unsigned char t3[] = { 'T', 0x80, 0, 0, 0, 0, 0, 0, 30, 'u', 0, 'k', '3' };
	k = (MDB_val) { sizeof(t3), t3 };
	v = (MDB_val) { 0, "" };
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	k = (MDB_val) { 3, "Kxy" };
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
}

static void test_verify(void **state) {
	fx *f = *state;
	put(f->s, "u", "k1", "h", "{}", 10);
	put(f->s, "u", "k2", "h", "{}", 20);
	put(f->s, "u", "k4", "h", "{}", 40);
	diag_list d = { 0 };
	assert_int_equal(store_verify(f->s, &d), 0);
	assert_int_equal(d.n, 0);
	raw_idem(f, damage);
	assert_int_equal(store_verify(f->s, &d), -EBADMSG);
	const char *want[] = {
		"idempotency key (u, k1): not in the expiry index at 1970-01-01T00:00:10Z",
		"idempotency key (u, k2): record is unreadable",
		"idem: malformed key",
		"idempotency expiry entry (u, k3, 1970-01-01T00:00:30Z): no such record",
	};
	assert_int_equal(d.n, 4);
	for (size_t i = 0; i < 4; i++)
		assert_string_equal(d.v[i].msg, want[i]);
	diag_list_clear(&d);
}

static void hash_of(const char *json, char out[17]) {
	json_t *j = json_loads(json, 0, NULL);
	assert_non_null(j);
	assert_int_equal(api_idem_hash(j, out), 0);
	json_decref(j);
}

static void test_canonical_hash(void **state) {
	(void) state;
	/* FNV-1a 64's published test values */
	assert_true(api_idem_fnv1a("", 0) == UINT64_C(0xcbf29ce484222325));
	assert_true(api_idem_fnv1a("a", 1) == UINT64_C(0xaf63dc4c8601ec8c));
	assert_true(api_idem_fnv1a("foobar", 6) == UINT64_C(0x85944171f73967e8));
	char a[17], b[17], c[17], d[17];
	/* the hash is of {"a":1,"b":{"c":[1,"x"]}} (sorted, compact), the key left out */
	hash_of("{\"b\": {\"c\": [1, \"x\"]}, \"a\": 1, \"idempotency_key\": \"k\"}", a);
	hash_of("{\"a\":1,\"b\":{\"c\":[1,\"x\"]}}", b);
	assert_string_equal(a, b);
	const char *canon = "{\"a\":1,\"b\":{\"c\":[1,\"x\"]}}";
	char want[17];
	snprintf(want, sizeof(want), "%016llx", (unsigned long long) api_idem_fnv1a(canon, strlen(canon)));
	assert_string_equal(a, want);
	assert_int_equal(strlen(a), 16);
	/* another key, the same parameters */
	hash_of("{\"a\":1,\"b\":{\"c\":[1,\"x\"]},\"idempotency_key\":\"other\"}", c);
	assert_string_equal(a, c);
	/* any other value, order inside an array, or type is other parameters */
	hash_of("{\"a\":1,\"b\":{\"c\":[\"x\",1]}}", d);
	assert_string_not_equal(a, d);
	hash_of("{\"a\":\"1\",\"b\":{\"c\":[1,\"x\"]}}", d);
	assert_string_not_equal(a, d);
	hash_of("{\"a\":1,\"b\":{\"c\":[1,\"x\"]},\"payment\":null}", d);
	assert_string_not_equal(a, d);
}

static void test_key_rule(void **state) {
	(void) state;
	char key[STORE_IDEM_KEY_MAX + 2];
	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = 0;
	assert_false(api_idem_key_ok(key));              /* 201 bytes */
	key[STORE_IDEM_KEY_MAX] = 0;
	assert_true(api_idem_key_ok(key));               /* 200 */
	assert_true(api_idem_key_ok("a"));
	assert_true(api_idem_key_ok("ordre-ø-2026/11"));
	assert_false(api_idem_key_ok(""));
	assert_false(api_idem_key_ok(NULL));
	assert_false(api_idem_key_ok("a\tb"));
	assert_false(api_idem_key_ok("a\nb"));
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_put_get, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rolled_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expire_in_slices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_api_expire, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify, setup, teardown),
		cmocka_unit_test(test_canonical_hash),
		cmocka_unit_test(test_key_rule),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
