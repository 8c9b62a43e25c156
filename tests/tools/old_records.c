/* old_records STATE_DIR: turns a store into one the code before issue 12 wrote:
 * every order, outbox event, pending and parked entry, ledger entry and schedule
 * state is rewritten as the JSON record that code wrote for it (the model's trees
 * with "v" first, tests/common/oldrec.h; the event, entry and state texts as its
 * store.c spelled them), and the orders' shared parts
 * (oshared, which it did not have) are dropped. Prints how many records of each
 * family it found compact: "orders 5/5 events 6/6 pending 4/4 parked 0/0 ledger
 * 3/3 sched 1/1". The daemon must not run. For the integration test of an older
 * store (test_old_records.py). Ledgers are those of the orders' customers. */
#include <inttypes.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "lib/store/store.h"
#include "tests/common/oldrec.h"

typedef struct rec {
	const char *db;
	unsigned char key[256];
	size_t klen;
	char *text;
} rec;

static rec *recs;
static size_t n_recs, cap_recs;

static void die(const char *what, int r) {
	fprintf(stderr, "old_records: %s: %s\n", what, r < 0 ? strerror(-r) : mdb_strerror(r));
	exit(1);
}

static rec *add(const char *db, const void *key, size_t klen, char *text) {
	if (!text || klen > sizeof(recs->key))
		die("out of memory or key too long", -12);
	if (n_recs == cap_recs) {
		cap_recs = cap_recs ? cap_recs * 2 : 64;
		if (!(recs = realloc(recs, cap_recs * sizeof(*recs))))
			die("out of memory", -12);
	}
	rec *r = &recs[n_recs++];
	r->db = db;
	memcpy(r->key, key, klen);
	r->klen = klen;
	r->text = text;
	return r;
}

static void be64(unsigned char *p, uint64_t v) {
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char) v;
}

static char *customers[64];
static size_t n_customers;

static int on_order(const sales_order *o, void *ud) {
	(void) ud;
	uint64_t seq;
	char *text;
	if (order_number_parse(o->number, &seq) < 0 || !(text = old_record_text(order_to_record(o, NULL))))
		die("order", -22);
	unsigned char k[8];
	be64(k, seq);
	add("orders", k, 8, text);
	size_t i = 0;
	while (i < n_customers && strcmp(customers[i], o->customer))
		i++;
	if (i == n_customers && n_customers < 64)
		customers[n_customers++] = strdup(o->customer);
	return 0;
}

static int on_event(uint64_t seq, const char *type, const char *payload_json, int64_t at, void *ud) {
	(void) ud;
	json_t *t = json_string(type);
	char *ty = json_dumps(t, JSON_ENCODE_ANY), *text = NULL;
	json_decref(t);
	if (!ty || asprintf(&text, "{\"v\":1,\"type\":%s,\"at\":%" PRId64 ",\"payload\":%s}", ty, at, payload_json) < 0)
		die("event", -12);
	free(ty);
	unsigned char k[8];
	be64(k, seq);
	add("outbox", k, 8, text);
	return 0;
}

static bool parked_now;

static int on_outq(const store_outq_entry *e, void *ud) {
	(void) ud;
	json_t *j = json_pack("{s:i, s:I, s:o, s:o, s:s}", "v", 1, "attempts", (json_int_t) e->attempts, "next_at",
			      e->next_at == INT64_MIN ? json_null() : json_integer(e->next_at), "last_error",
			      e->last_error ? json_string(e->last_error) : json_null(), "key", e->key);
	/* the members in the order the old code set them (jansson keeps it) */
	if (!j || (parked_now && json_object_set_new(j, "parked_at", json_integer(e->parked_at)) < 0))
		die("pending entry", -22);
	unsigned char k[8];
	be64(k, e->seq);
	add(parked_now ? "outpark" : "outq", k, 8, json_dumps(j, JSON_COMPACT));
	json_decref(j);
	return 0;
}

static const char *ledger_customer;

static int on_entry(const ledger_entry *e, void *ud) {
	(void) ud;
	char *text;
	if (!(text = old_record_text(ledger_entry_to_record(e))))
		die("ledger entry", -22);
	unsigned char k[256];
	size_t n = strlen(ledger_customer) + 1;
	memcpy(k, ledger_customer, n);
	be64(k + n, e->seq);
	add("ledger", k, n + 8, text);
	return 0;
}

static int on_sched(const char *so_id, const sched_state *st, void *ud) {
	(void) ud;
	char wm[24] = "null", *text;
	if (st->watermark != INT64_MIN)
		snprintf(wm, sizeof(wm), "%" PRId64, st->watermark);
	if (asprintf(&text, "{\"v\":1,\"watermark\":%s,\"created\":%" PRIu64 ",\"skipped\":%" PRIu64
		     ",\"active\":%s,\"def_hash\":\"%016" PRIx64 "\"}", wm, st->created, st->skipped,
		     st->active ? "true" : "false", st->def_hash) < 0)
		die("sched", -12);
	add("sched", so_id, strlen(so_id), text);
	return 0;
}

int main(int argc, char **argv) {
	if (argc != 2) {
		fprintf(stderr, "usage: old_records STATE_DIR\n");
		return 2;
	}
	store_options ro = { .flags = STORE_READONLY };
	store *s;
	store_txn *t;
	int r = store_open(argv[1], &ro, &s);
	if (r < 0 || (r = store_begin(s, false, &t)) < 0)
		die("store", r);
	if ((r = store_order_each(t, INT64_MIN, INT64_MAX, on_order, NULL)) < 0 ||
	    (r = store_outbox_each(t, 0, on_event, NULL)) < 0 ||
	    (r = store_outq_each(t, false, 0, on_outq, NULL)) < 0)
		die("reading", r);
	parked_now = true;
	if ((r = store_outq_each(t, true, 0, on_outq, NULL)) < 0 || (r = store_sched_each(t, on_sched, NULL)) < 0)
		die("reading", r);
	for (size_t i = 0; i < n_customers; i++) {
		ledger_customer = customers[i];
		if ((r = store_ledger_each(t, customers[i], 0, INT64_MIN, INT64_MAX, on_entry, NULL)) < 0)
			die("ledger", r);
	}
	store_abort(t);
	store_close(s);

	MDB_env *env;
	MDB_txn *txn;
	/* the map the store has (the JSON records must fit in it: a test's small store) */
	if ((r = mdb_env_create(&env)) || (r = mdb_env_set_maxdbs(env, 64)) || (r = mdb_env_open(env, argv[1], 0, 0640)) ||
	    (r = mdb_txn_begin(env, NULL, 0, &txn)))
		die("lmdb", r);
	static const char *const fams[] = { "orders", "outbox", "outq", "outpark", "ledger", "sched" };
	static const char *const shown[] = { "orders", "events", "pending", "parked", "ledger", "sched" };
	size_t compact[6] = { 0 }, all[6] = { 0 };
	for (size_t i = 0; i < n_recs; i++) {
		size_t f = 0;
		while (strcmp(fams[f], recs[i].db))
			f++;
		MDB_dbi dbi;
		MDB_val k = { .mv_size = recs[i].klen, .mv_data = recs[i].key }, v;
		if ((r = mdb_dbi_open(txn, recs[i].db, 0, &dbi)) || (r = mdb_get(txn, dbi, &k, &v)))
			die(recs[i].db, r);
		all[f]++;
		compact[f] += v.mv_size && ((const unsigned char *) v.mv_data)[0] == 0x01;
		v = (MDB_val) { .mv_size = strlen(recs[i].text), .mv_data = recs[i].text };
		if ((r = mdb_put(txn, dbi, &k, &v, 0)))
			die(recs[i].db, r);
		free(recs[i].text);
	}
	MDB_dbi sh;
	if ((r = mdb_dbi_open(txn, "oshared", 0, &sh)) == 0)
		r = mdb_drop(txn, sh, 1);
	if ((r && r != MDB_NOTFOUND) || (r = mdb_txn_commit(txn)))
		die("commit", r);
	mdb_env_close(env);
	for (size_t f = 0; f < 6; f++)
		printf("%s%s %zu/%zu", f ? " " : "", shown[f], compact[f], all[f]);
	printf("\n");
	free(recs);
	for (size_t i = 0; i < n_customers; i++)
		free(customers[i]);
	return 0;
}
