/* creation: issue 12's targets 3 and 6, the creation path's throughput. A backlog
 * of N due occurrences (S hourly standing orders, account payment, no credit limit,
 * catch_up: all with a max_catch_up above the backlog) is created by one
 * engine_run into a fresh store, durably as the daemon runs it (LMDB syncs on every
 * commit; ENGINE_BATCH orders per write transaction), everything included: the
 * order, its occurrence, due and open-orders index entries, the order.created
 * event and its pending entry, the ledger entry and balance, the counters and the
 * watermarks.
 *
 * The comparisons are measured in the same run on the same file system, with the
 * records the store wrote (every key and value of every database, read back from
 * the new store): raw mdb_put of them into a fresh LMDB environment (same flags,
 * durable) and INSERTs into SQLite (WAL, synchronous=FULL, one WITHOUT ROWID table
 * of (k, v) per LMDB database), both in as many transactions as the engine used.
 * Raw LMDB is measured twice: "as written", each transaction holding the records
 * of the orders the engine's transaction made, in the order it wrote them (order
 * by order: its occurrence entry, the order, its event and pending entry, its
 * ledger entry, its open-orders entry; then the transaction's due entries in key
 * order, as the store puts them at the commit; the engine makes a standing
 * order's backlog in a row, so the due index is written all over), and "sorted",
 * each database's records in key order spread evenly over the transactions (every
 * index appended: LMDB's best case, what SQLite gets too). Records the store
 * overwrote while it ran (the counters, the balances, the watermarks) and the
 * orders' shared parts are put once, spread evenly, so the comparisons do less
 * than the store. Raw LMDB puts through one cursor per database, as the store
 * does. Only the puts and commits are timed for them (reading the
 * source is not). --raw-batch N also times raw LMDB (both ways) at N orders per
 * transaction, for the figures of larger batches.
 *
 * Prints Markdown rows | measurement | N | ours | comparison | ratio | target |;
 * no thresholds. Options: --n N (default 50000), --trials T (default 3: each
 * measured T times, interleaved, the best kept), --dir DIR (where the temporary
 * directories go; default $TMPDIR or /tmp), --keep (leave the last trial's),
 * --raw-batch N (above), --ours-only (no comparisons: our run alone, its time and
 * CPU on stderr, for profiling). */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <lmdb.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench/benchdefs.h"
#include "bench/benchutil.h"
#include "lib/base/diag.h"
#include "lib/defs/defs.h"
#include "lib/model/order.h"
#include "lib/sched/engine.h"
#include "lib/store/store.h"
#include "lib/time/rule.h"

#define MAX_DBS 64

static double cpu_s(void) {
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double) ru.ru_utime.tv_sec + (double) ru.ru_utime.tv_usec / 1e6 + (double) ru.ru_stime.tv_sec +
	       (double) ru.ru_stime.tv_usec / 1e6;
}

static const char *const CUSTOMER_IDS[] = { "c-hel", "c-rix", "c-osl", "c-sgn" };

static defs *make_defs(size_t n_so, uint64_t backlog) {
	bench_text c = { 0 }, t = { 0 };
	text_add(&c,
		 "timezone: Europe/Helsinki\n"
		 "catch_up: all\n"
		 "max_catch_up: %llu\n"
		 "suppliers:\n"
		 "  - id: lumen\n"
		 "    name: Lumen Oy\n"
		 "    users: [lumen]\n",
		 (unsigned long long) (backlog + 10));
	text_add(&t,
		 "customers:\n"
		 "  - {id: c-hel, name: Helsinki Oy, timezone: Europe/Helsinki, account: {number: ACC-1}}\n"
		 "  - {id: c-rix, name: Riga SIA, timezone: Europe/Riga, account: {number: ACC-2}}\n"
		 "  - {id: c-osl, name: Oslo AS, timezone: Europe/Oslo, account: {number: ACC-3}}\n"
		 "  - {id: c-sgn, name: Saigon Co, timezone: Asia/Ho_Chi_Minh, account: {number: ACC-4}}\n"
		 "standing_orders:\n");
	for (size_t i = 0; i < n_so; i++)
		text_add(&t,
			 "  - id: so-%06zu\n"
			 "    customer: %s\n"
			 "    supplier: lumen\n"
			 "    ship_to: {name: Varasto, street: Teollisuuskatu 1, postcode: \"00510\", city: Helsinki, country: FI}\n"
			 "    lines:\n"
			 "      - {sku: BULB-60W, quantity: 1000, unit_price: \"0.85 EUR\"}\n"
			 "      - {sku: TUBE-T8, quantity: 20, unit_price: \"4.10 EUR\"}\n"
			 "    payment: account\n"
			 "    schedule:\n"
			 "      every: 1 hour\n"
			 "      start: 2026-01-01\n"
			 "      timezone: UTC\n",
			 i, CUSTOMER_IDS[i % 4]);
	defs *d = bench_defs_load(c.s, c.n, t.s, t.n);
	free(c.s);
	free(t.s);
	return d;
}

static void rm_tree(const char *dir) {
	if (remove_tree(dir) < 0)
		fprintf(stderr, "creation: cannot remove %s: %s\n", dir, strerror(errno));
}

static uint64_t file_size(const char *dir, const char *name) {
	char path[4096];
	struct stat sb;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &sb) == 0 ? (uint64_t) sb.st_size : 0;
}

static void check(int rc, const char *what) {
	if (rc)
		die("%s: %s", what, mdb_strerror(rc));
}

/* The store's databases as written: names, record counts and bytes. */
typedef struct src_db {
	char name[64];
	MDB_dbi dbi;
	unsigned flags;
	size_t n;
	uint64_t key_bytes, val_bytes;
	uint64_t pages;        /* branch, leaf and overflow pages (mdb_stat) */
	MDB_cursor *c;
} src_db;

typedef struct source {
	MDB_env *env;
	MDB_txn *txn;
	src_db db[MAX_DBS];
	size_t n_db;
	uint64_t used_bytes;   /* pages in use */
} source;

static void source_open(const char *dir, source *src) {
	memset(src, 0, sizeof(*src));
	check(mdb_env_create(&src->env), "mdb_env_create");
	check(mdb_env_set_maxdbs(src->env, MAX_DBS), "mdb_env_set_maxdbs");
	check(mdb_env_open(src->env, dir, MDB_RDONLY | MDB_NOTLS, 0), "mdb_env_open (source)");
	MDB_envinfo info;
	MDB_stat st;
	check(mdb_env_info(src->env, &info), "mdb_env_info");
	check(mdb_env_stat(src->env, &st), "mdb_env_stat");
	src->used_bytes = ((uint64_t) info.me_last_pgno + 1) * st.ms_psize;
	check(mdb_txn_begin(src->env, NULL, MDB_RDONLY, &src->txn), "mdb_txn_begin (source)");
	MDB_dbi main_dbi;
	MDB_cursor *c;
	MDB_val k, v;
	check(mdb_dbi_open(src->txn, NULL, 0, &main_dbi), "mdb_dbi_open (main)");
	check(mdb_cursor_open(src->txn, main_dbi, &c), "mdb_cursor_open");
	for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (src->n_db == MAX_DBS || k.mv_size >= sizeof(src->db[0].name))
			die("unexpected database in the store");
		src_db *d = &src->db[src->n_db++];
		memcpy(d->name, k.mv_data, k.mv_size);
		d->name[k.mv_size] = 0;
	}
	mdb_cursor_close(c);
	for (size_t i = 0; i < src->n_db; i++) {
		src_db *d = &src->db[i];
		check(mdb_dbi_open(src->txn, d->name, 0, &d->dbi), d->name);
		check(mdb_dbi_flags(src->txn, d->dbi, &d->flags), "mdb_dbi_flags");
		MDB_stat ds;
		check(mdb_stat(src->txn, d->dbi, &ds), "mdb_stat");
		d->pages = ds.ms_branch_pages + ds.ms_leaf_pages + ds.ms_overflow_pages;
		check(mdb_cursor_open(src->txn, d->dbi, &d->c), "mdb_cursor_open");
		for (int rc = mdb_cursor_get(d->c, &k, &v, MDB_FIRST); rc == 0;
		     rc = mdb_cursor_get(d->c, &k, &v, MDB_NEXT)) {
			d->n++;
			d->key_bytes += k.mv_size;
			d->val_bytes += v.mv_size;
		}
	}
}

static void source_close(source *src) {
	for (size_t i = 0; i < src->n_db; i++)
		mdb_cursor_close(src->db[i].c);
	mdb_txn_abort(src->txn);
	mdb_env_close(src->env);
}

/* One transaction's records: pointers into the source's map. */
typedef struct rec {
	size_t db;
	MDB_val k, v;
} rec;

/* Transaction b of nb gets records [n*b/nb, n*(b+1)/nb) of each database, read
 * from its cursor, which sits where the previous transaction stopped. */
static size_t batch_records(source *src, size_t b, size_t nb, rec *out) {
	size_t m = 0;
	for (size_t i = 0; i < src->n_db; i++) {
		src_db *d = &src->db[i];
		size_t from = d->n * b / nb, to = d->n * (b + 1) / nb;
		for (size_t j = from; j < to; j++) {
			MDB_val k, v;
			check(mdb_cursor_get(d->c, &k, &v, j == 0 ? MDB_FIRST : MDB_NEXT), "mdb_cursor_get");
			out[m++] = (rec) { .db = i, .k = k, .v = v };
		}
	}
	return m;
}

/* The records of the orders, in the order the store wrote them: by order
 * sequence, then by database as store_order_create and the ledger write them. */
typedef struct orec {
	uint64_t seq;
	unsigned rank;
	size_t db;
	MDB_val k, v;
} orec;

static int orec_cmp(const void *a, const void *b) {
	const orec *x = a, *y = b;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return (int) x->rank - (int) y->rank;
}

static uint64_t be64_at(const void *p) {
	const unsigned char *c = p;
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | c[i];
	return v;
}

/* The order a record belongs to: 1 and *ret_seq, or 0 for a record of no order. */
static int order_of(const char *db, const MDB_val *k, const MDB_val *v, uint64_t *ret_seq) {
	if (!strcmp(db, "orders") || !strcmp(db, "outbox") || !strcmp(db, "outq")) {
		*ret_seq = be64_at(k->mv_data);   /* one event per order here: the same sequence */
		return 1;
	}
	if (!strcmp(db, "occ")) {
		*ret_seq = be64_at(v->mv_data);
		return 1;
	}
	if (!strcmp(db, "due") || !strcmp(db, "custopen")) {
		*ret_seq = be64_at((const unsigned char *) k->mv_data + k->mv_size - 8);
		return 1;
	}
	if (!strcmp(db, "ledger")) {
		ledger_entry e;
		const unsigned char *p = v->mv_data;
		if (v->mv_size < 1 || p[0] != 0x01 || ledger_entry_bin_decode(p + 1, v->mv_size - 1, 1, &e) < 0 ||
		    order_number_parse(e.order, ret_seq) < 0)
			die("a ledger entry that is not a compact one of an order");
		ledger_entry_done(&e);
		return 1;
	}
	return 0;
}

/* The order store_order_create writes them in (due is kept, sorted, for the
 * commit: see raw_lmdb). */
static const char *const WRITE_ORDER[] = { "occ", "orders", "due", "outbox", "outq", "ledger", "custopen" };

static int due_rec_cmp(const void *a, const void *b) {
	const rec *x = a, *y = b;
	size_t n = x->k.mv_size < y->k.mv_size ? x->k.mv_size : y->k.mv_size;
	int c = memcmp(x->k.mv_data, y->k.mv_data, n);
	return c ? c : (int) x->k.mv_size - (int) y->k.mv_size;
}

/* Every record of an order, sorted as written; *ret_n. Pointers into src's map. */
static orec *ordered_records(source *src, size_t *ret_n) {
	size_t n = 0, cap = 0;
	orec *v = NULL;
	for (size_t i = 0; i < src->n_db; i++) {
		src_db *d = &src->db[i];
		unsigned rank = 0;
		while (rank < 7 && strcmp(WRITE_ORDER[rank], d->name))
			rank++;
		if (rank == 7)
			continue;
		MDB_val k, val;
		for (int rc = mdb_cursor_get(d->c, &k, &val, MDB_FIRST); rc == 0;
		     rc = mdb_cursor_get(d->c, &k, &val, MDB_NEXT)) {
			uint64_t seq;
			if (!order_of(d->name, &k, &val, &seq))
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 1 << 16;
				if (!(v = realloc(v, cap * sizeof(*v))))
					die("out of memory");
			}
			v[n++] = (orec) { .seq = seq, .rank = rank, .db = i, .k = k, .v = val };
		}
	}
	qsort(v, n, sizeof(*v), orec_cmp);
	*ret_n = n;
	return v;
}

static size_t total_records(const source *src) {
	size_t n = 0;
	for (size_t i = 0; i < src->n_db; i++)
		n += src->db[i].n;
	return n;
}

static size_t max_batch_records(const source *src, size_t nb) {
	size_t n = 0;
	for (size_t i = 0; i < src->n_db; i++)
		n += src->db[i].n / nb + 2;
	return n;
}

/* Raw LMDB: the same records into a fresh environment, nb durable transactions:
 * sorted (each database's records in key order, spread evenly) or, with ord,
 * as written (the records of orders [per*b, per*(b+1)) in transaction b, in
 * ord's order, but the due entries after them in key order, as the store puts
 * them at its commit; the records of no order spread evenly). Each database's
 * puts go through one cursor (mdb_cursor_put), as the store's do. Returns the
 * seconds the puts and commits took. */
static double raw_lmdb(source *src, const char *dir, size_t nb, const orec *ord, size_t n_ord, uint64_t per,
		       uint64_t *ret_size) {
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi[MAX_DBS];
	check(mdb_env_create(&env), "mdb_env_create");
	check(mdb_env_set_maxdbs(env, MAX_DBS), "mdb_env_set_maxdbs");
	/* big enough for everything: a growing map would only add remaps */
	check(mdb_env_set_mapsize(env, (size_t) (src->used_bytes * 3 + (UINT64_C(64) << 20))), "mdb_env_set_mapsize");
	check(mdb_env_open(env, dir, MDB_NOTLS, 0640), "mdb_env_open (raw)");
	check(mdb_txn_begin(env, NULL, 0, &txn), "mdb_txn_begin");
	for (size_t i = 0; i < src->n_db; i++)
		check(mdb_dbi_open(txn, src->db[i].name, MDB_CREATE | src->db[i].flags, &dbi[i]), "mdb_dbi_open");
	check(mdb_txn_commit(txn), "mdb_txn_commit");
	rec *recs = malloc(max_batch_records(src, nb) * sizeof(*recs));
	rec *dues = ord ? malloc((size_t) per * 2 * sizeof(*dues)) : NULL;
	if (!recs || (ord && !dues))
		die("out of memory");
	size_t due_db = SIZE_MAX;
	for (size_t i = 0; i < src->n_db; i++)
		if (!strcmp(src->db[i].name, "due"))
			due_db = i;
	MDB_cursor *cur[MAX_DBS];
	int64_t spent = 0;
	size_t o = 0;
	for (size_t b = 0; b < nb; b++) {
		size_t m = batch_records(src, b, nb, recs), k = 0;
		if (ord) {   /* keep the records of no order only */
			for (size_t j = 0; j < m; j++) {
				uint64_t seq;
				unsigned rank = 0;
				while (rank < 7 && strcmp(WRITE_ORDER[rank], src->db[recs[j].db].name))
					rank++;
				if (rank == 7 || !order_of(src->db[recs[j].db].name, &recs[j].k, &recs[j].v, &seq))
					recs[k++] = recs[j];
			}
			m = k;
		}
		int64_t t0 = now_ns();
		check(mdb_txn_begin(env, NULL, 0, &txn), "mdb_txn_begin");
		for (size_t i = 0; i < src->n_db; i++)
			check(mdb_cursor_open(txn, dbi[i], &cur[i]), "mdb_cursor_open");
		size_t n_due = 0;
		for (; ord && o < n_ord && ord[o].seq <= per * (b + 1); o++) {
			if (ord[o].db == due_db) {
				if (n_due == (size_t) per * 2)
					die("more due entries in a transaction than expected");
				dues[n_due++] = (rec) { .db = ord[o].db, .k = ord[o].k, .v = ord[o].v };
				continue;
			}
			check(mdb_cursor_put(cur[ord[o].db], (MDB_val *) &ord[o].k, (MDB_val *) &ord[o].v, 0), "mdb_put");
		}
		qsort(dues, n_due, sizeof(*dues), due_rec_cmp);
		for (size_t j = 0; j < n_due; j++)
			check(mdb_cursor_put(cur[dues[j].db], &dues[j].k, &dues[j].v, 0), "mdb_put");
		for (size_t j = 0; j < m; j++)
			check(mdb_cursor_put(cur[recs[j].db], &recs[j].k, &recs[j].v, 0), "mdb_put");
		check(mdb_txn_commit(txn), "mdb_txn_commit");   /* closes the cursors */
		spent += now_ns() - t0;
	}
	if (ord && o != n_ord)
		die("records of orders past the last transaction");
	free(recs);
	free(dues);
	mdb_env_close(env);
	*ret_size = file_size(dir, "data.mdb");
	return (double) spent / 1e9;
}

static void sql_check(sqlite3 *db, int rc, const char *what) {
	if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
		die("sqlite %s: %s", what, sqlite3_errmsg(db));
}

/* SQLite: the same records, one table per database, nb transactions. */
static double sqlite_run(source *src, const char *dir, size_t nb, uint64_t *ret_size) {
	char path[4096];
	snprintf(path, sizeof(path), "%s/bench.sqlite", dir);
	sqlite3 *db;
	if (sqlite3_open(path, &db) != SQLITE_OK)
		die("sqlite3_open %s", path);
	sql_check(db, sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL, NULL), "pragma");
	sqlite3_stmt *ins[MAX_DBS];
	for (size_t i = 0; i < src->n_db; i++) {
		char sql[256];
		snprintf(sql, sizeof(sql), "CREATE TABLE \"%s\" (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID",
			 src->db[i].name);
		sql_check(db, sqlite3_exec(db, sql, NULL, NULL, NULL), "create table");
		snprintf(sql, sizeof(sql), "INSERT INTO \"%s\" (k, v) VALUES (?, ?)", src->db[i].name);
		sql_check(db, sqlite3_prepare_v2(db, sql, -1, &ins[i], NULL), "prepare");
	}
	rec *recs = malloc(max_batch_records(src, nb) * sizeof(*recs));
	if (!recs)
		die("out of memory");
	int64_t spent = 0;
	for (size_t b = 0; b < nb; b++) {
		size_t m = batch_records(src, b, nb, recs);
		int64_t t0 = now_ns();
		sql_check(db, sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), "begin");
		for (size_t j = 0; j < m; j++) {
			sqlite3_stmt *s = ins[recs[j].db];
			sqlite3_bind_blob(s, 1, recs[j].k.mv_data, (int) recs[j].k.mv_size, SQLITE_STATIC);
			sqlite3_bind_blob(s, 2, recs[j].v.mv_size ? recs[j].v.mv_data : "", (int) recs[j].v.mv_size,
					  SQLITE_STATIC);
			sql_check(db, sqlite3_step(s), "insert");
			sqlite3_reset(s);
		}
		sql_check(db, sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), "commit");
		spent += now_ns() - t0;
	}
	free(recs);
	for (size_t i = 0; i < src->n_db; i++)
		sqlite3_finalize(ins[i]);
	sqlite3_close(db);   /* checkpoints the WAL into the database file */
	*ret_size = file_size(dir, "bench.sqlite");
	return (double) spent / 1e9;
}

static void usage(void) {
	fprintf(stderr, "usage: creation [--n N] [--trials T] [--dir DIR] [--keep] [--raw-batch N] [--ours-only]\n"
			"Creates a backlog of N orders with the engine into a fresh store and the same records\n"
			"with raw LMDB and SQLite; prints Markdown rows.\n");
	exit(2);
}

static char *fmt_int(double v, char *buf, size_t n) {
	char raw[64];
	snprintf(raw, sizeof(raw), "%.0f", v);
	size_t len = strlen(raw), j = 0;
	for (size_t i = 0; i < len && j + 2 < n; i++) {
		buf[j++] = raw[i];
		if (raw[i] != '-' && (len - i - 1) % 3 == 0 && i + 1 < len)
			buf[j++] = ',';
	}
	buf[j] = 0;
	return buf;
}

/* One engine_run of the whole backlog into a fresh store in dir; seconds
 * (wall), *ret_cpu the process's CPU seconds (user + system) meanwhile. */
static double ours_run(const defs *d, const char *dir, int64_t now, uint64_t n, double *ret_cpu) {
	store *s;
	engine *e;
	if (mkdir(dir, 0750) < 0)
		die("mkdir %s: %s", dir, strerror(errno));
	int r = store_open(dir, NULL, &s);
	if (r < 0)
		die("store_open: %s", strerror(-r));
	if ((r = engine_new(s, NULL, &e)) < 0 || (r = engine_apply(e, d, NULL)) < 0)
		die("engine: %s", strerror(-r));
	double c0 = cpu_s();
	int64_t t0 = now_ns();
	r = engine_run(e, now, SIZE_MAX);
	int64_t t1 = now_ns();
	*ret_cpu = cpu_s() - c0;
	if (r < 0)
		die("engine_run: %s", strerror(-r));
	engine_stats st;
	engine_get_stats(e, &st);
	engine_free(e);
	store_close(s);
	if (st.created != n)
		die("expected %llu orders, created %llu (skipped %llu)", (unsigned long long) n,
		    (unsigned long long) st.created, (unsigned long long) st.skipped);
	return (double) (t1 - t0) / 1e9;
}

int main(int argc, char **argv) {
	uint64_t n = 50000;
	int trials = 3;
	const char *base = getenv("TMPDIR");
	bool keep = false;
	uint64_t raw_batch = 0;
	bool ours_only = false;
	if (!base || !*base)
		base = "/tmp";
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--n") && i + 1 < argc) {
			char *end;
			n = strtoull(argv[++i], &end, 10);
			if (*end || n == 0)
				usage();
		} else if (!strcmp(argv[i], "--trials") && i + 1 < argc) {
			trials = atoi(argv[++i]);
			if (trials < 1)
				usage();
		} else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
			base = argv[++i];
		else if (!strcmp(argv[i], "--keep"))
			keep = true;
		else if (!strcmp(argv[i], "--ours-only"))
			ours_only = true;
		else if (!strcmp(argv[i], "--raw-batch") && i + 1 < argc) {
			char *end;
			raw_batch = strtoull(argv[++i], &end, 10);
			if (*end || raw_batch == 0)
				usage();
		} else
			usage();
	}
	setvbuf(stdout, NULL, _IOLBF, 0);

	/* S standing orders with B hourly occurrences of backlog each: 100 per
	 * standing order, at most 10,000 standing orders (their definitions are held
	 * in memory, which is target 1's matter, not this one's). */
	size_t n_so = (size_t) (n / 100);
	if (n_so < 1)
		n_so = 1;
	if (n_so > 10000)
		n_so = 10000;
	uint64_t backlog = (n + n_so - 1) / n_so;
	n = backlog * n_so;
	defs *d = make_defs(n_so, backlog);
	occurrence first;
	if (rule_next(&d->orders[0].rule, INT64_MIN, &first) < 0)
		die("no first occurrence");
	int64_t now = first.create_at + (int64_t) (backlog - 1) * 3600;

	char top[2048];
	snprintf(top, sizeof(top), "%s/standingd-creation-XXXXXX", base);
	if (!mkdtemp(top))
		die("mkdtemp %s: %s", top, strerror(errno));
	size_t nb = (size_t) ((n + ENGINE_BATCH - 1) / ENGINE_BATCH);

	/* Trials interleaved (ours, raw LMDB, SQLite), the best of each kept: the
	 * machine is shared, so a slow trial is mostly someone else's work. */
	double ours_s = 1e300, ours_cpu = 0, raw_s = 1e300, sql_s = 1e300, rawo_s = 1e300;
	double big_s = 1e300, bigo_s = 1e300;   /* --raw-batch: sorted, as written */
	size_t nb_big = raw_batch ? (size_t) ((n + raw_batch - 1) / raw_batch) : 0;
	uint64_t rec_bytes = 0, used = 0, ours_size = 0, raw_size = 0, sql_size = 0;
	size_t n_rec = 0;
	for (int k = 0; k < trials; k++) {
		char ours[2100], raw[2100], sql[2100];
		snprintf(ours, sizeof(ours), "%s/store-%d", top, k);
		snprintf(raw, sizeof(raw), "%s/raw-%d", top, k);
		snprintf(sql, sizeof(sql), "%s/sqlite-%d", top, k);
		if (mkdir(raw, 0750) < 0 || mkdir(sql, 0750) < 0)
			die("mkdir: %s", strerror(errno));
		double cpu, secs = ours_run(d, ours, now, n, &cpu);
		if (secs < ours_s) {
			ours_s = secs;
			ours_cpu = cpu;
		}
		if (ours_only) {
			fprintf(stderr, "creation: %.3f s ours (%.3f s CPU: %.0f orders/s, %.2f us CPU per order)\n", secs,
				cpu, (double) n / secs, cpu * 1e6 / (double) n);
			rm_tree(ours);
			rmdir(raw);
			rmdir(sql);
			continue;
		}
		source src;
		source_open(ours, &src);
		rec_bytes = 0;
		for (size_t i = 0; i < src.n_db; i++) {
			rec_bytes += src.db[i].key_bytes + src.db[i].val_bytes;
			if (k == 0 && src.db[i].n)
				fprintf(stderr, "creation: %-10s %9zu records, %6.1f B key + %6.1f B value per record, "
					"%6.1f B per order; %7" PRIu64 " pages, %6.1f B per order\n", src.db[i].name,
					src.db[i].n, (double) src.db[i].key_bytes / (double) src.db[i].n,
					(double) src.db[i].val_bytes / (double) src.db[i].n,
					(double) (src.db[i].key_bytes + src.db[i].val_bytes) / (double) n, src.db[i].pages,
					(double) src.db[i].pages * 4096.0 / (double) n);
		}
		size_t n_ord;
		orec *ord = ordered_records(&src, &n_ord);
		secs = raw_lmdb(&src, raw, nb, NULL, 0, 0, &raw_size);
		raw_s = secs < raw_s ? secs : raw_s;
		rm_tree(raw);
		if (mkdir(raw, 0750) < 0)
			die("mkdir: %s", strerror(errno));
		secs = raw_lmdb(&src, raw, nb, ord, n_ord, ENGINE_BATCH, &raw_size);
		rawo_s = secs < rawo_s ? secs : rawo_s;
		for (int w = 0; w < 2 && raw_batch; w++) {
			rm_tree(raw);
			if (mkdir(raw, 0750) < 0)
				die("mkdir: %s", strerror(errno));
			uint64_t ignored;
			secs = raw_lmdb(&src, raw, nb_big, w ? ord : NULL, w ? n_ord : 0, raw_batch, &ignored);
			double *best = w ? &bigo_s : &big_s;
			*best = secs < *best ? secs : *best;
		}
		free(ord);
		secs = sqlite_run(&src, sql, nb, &sql_size);
		sql_s = secs < sql_s ? secs : sql_s;
		n_rec = total_records(&src);
		used = src.used_bytes;
		ours_size = file_size(ours, "data.mdb");
		source_close(&src);
		if (!keep || k + 1 < trials) {
			rm_tree(ours);
			rm_tree(raw);
			rm_tree(sql);
		}
	}

	if (ours_only) {
		defs_free(d);
		rm_tree(top);
		return 0;
	}
	double fn = (double) n, ours_rate = fn / ours_s, raw_rate = fn / raw_s, sql_rate = fn / sql_s;
	double rawo_rate = fn / rawo_s;
	char a[32], b[32], c[32], nn[32];
	fmt_int(fn, nn, sizeof(nn));
	printf("| creation: backlog created by engine_run, durable, %d orders per transaction (%zu standing orders) "
	       "vs raw LMDB puts (a cursor per database) of the same %zu records as written (each transaction the "
	       "records of its orders in the store's order, its due entries last in key order) | %s | %s orders/s | %s orders/s | %.2f | >= 500,000 orders/s, >= 0.5 |\n",
	       ENGINE_BATCH, n_so, n_rec, nn, fmt_int(ours_rate, a, sizeof(a)), fmt_int(rawo_rate, b, sizeof(b)),
	       ours_rate / rawo_rate);
	printf("| creation vs raw LMDB puts of the same records sorted (each database in key order, spread evenly "
	       "over the same transactions: every index appended) | %s | %s orders/s | %s orders/s | %.2f | "
	       "(comparison) |\n",
	       nn, a, fmt_int(raw_rate, b, sizeof(b)), ours_rate / raw_rate);
	if (raw_batch)
		printf("| raw LMDB alone at %" PRIu64 " orders per transaction (%zu transactions), as written / sorted | %s "
		       "| - | %s / %s orders/s | - | (information) |\n",
		       raw_batch, nb_big, nn, fmt_int(fn / bigo_s, a, sizeof(a)), fmt_int(fn / big_s, c, sizeof(c)));
	fmt_int(ours_rate, a, sizeof(a));
	printf("| creation vs SQLite (WAL, synchronous=FULL), the same records and transactions | %s | %s orders/s | "
	       "%s orders/s | %.2f | (comparison) |\n",
	       nn, a, fmt_int(sql_rate, c, sizeof(c)), ours_rate / sql_rate);
	printf("| bytes per order on disk: data.mdb pages in use (records' keys and values: %.0f B) vs the SQLite file "
	       "| %s | %.0f B | %.0f B | %.2f | < 400 B |\n",
	       (double) rec_bytes / fn, nn, (double) used / fn, (double) sql_size / fn,
	       (double) used / (double) sql_size);
	fprintf(stderr, "creation: best of %d: %.2f s ours (%.2f s CPU: %.0f orders per CPU second), %.2f s raw LMDB "
		"as written, %.2f s sorted, %.2f s SQLite; data.mdb file %.1f MiB (raw LMDB's as written %.1f MiB)\n",
		trials, ours_s, ours_cpu, fn / ours_cpu, rawo_s, raw_s, sql_s, (double) ours_size / 1048576.0,
		(double) raw_size / 1048576.0);
	defs_free(d);
	if (keep)
		fprintf(stderr, "creation: kept %s\n", top);
	else
		rm_tree(top);
	return 0;
}
