/* Unit tests for the LMDB store: every test gets a fresh state directory.
 * Where a test must plant a broken record it opens the environment with raw
 * LMDB calls, using the layout documented in doc/store.md, after closing the
 * store (LMDB allows one environment per file per process). */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <lmdb.h>
#include "lib/time/cal.h"
#include "lib/defs/defs.h"
#include "lib/store/store.h"
#include "tests/common/oldrec.h"
#include "tests/unit/order_assert.h"
#include "tests/unit/tmpdir.h"

static const store_options readonly = { .flags = STORE_READONLY };

typedef struct fx {
	char tmp[64];
	char dir[128];
	store *s;
} fx;

static int setup(void **state) {
	fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	strcpy(f->tmp, "/tmp/test_store.XXXXXX");
	assert_non_null(mkdtemp(f->tmp));
	/* two levels that do not exist yet: store_open must create them */
	snprintf(f->dir, sizeof(f->dir), "%s/var/state", f->tmp);
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

static void reopen(fx *f) {
	store_close(f->s);
	f->s = NULL;
	assert_int_equal(store_open(f->dir, NULL, &f->s), 0);
}

static int64_t utc(int y, int m, int d, int h) {
	return cal_days_from_civil(y, m, d) * CAL_SECS_PER_DAY + h * 3600;
}

static order_line lines_eur[] = {
	{ .sku = "BULB-60W", .quantity = 1000, .unit_price = { 85, "EUR" } },
	{ .sku = "SOCKET-E27", .quantity = 20, .unit_price = { 1250, "EUR" } },
};

static sales_order sample(const char *so, int64_t delivery) {
	return (sales_order) {
		.standing_order = (char *) so,
		.occurrence = 3,
		.customer = "acme",
		.supplier = "lux",
		.ship_to = { "ACME Rīga", "Brīvības iela 1", "LV-1010", "Rīga", "LV" },
		.lines = lines_eur,
		.n_lines = 2,
		.total = { 85 * 1000 + 1250 * 20, "EUR" },
		.delivery = delivery,
		.delivery_offset = 7200,
		.zone = "Europe/Riga",
		.created = delivery < INT64_MIN + 5 * CAL_SECS_PER_DAY ? delivery : delivery - 5 * CAL_SECS_PER_DAY,
		.payment = ORDER_PAYMENT_ACCOUNT,
		.status = ORDER_STATUS_CREATED,
	};
}

static int create(store *s, sales_order *o) {
	store_txn *t;
	int r = store_begin(s, true, &t);
	assert_int_equal(r, 0);
	r = store_order_create(t, o);
	if (r < 0) {
		store_abort(t);
		return r;
	}
	return store_commit(t);
}

static void put_sched(store *s, const char *so, int64_t watermark) {
	store_txn *t;
	sched_state st = { .watermark = watermark, .active = true };
	assert_int_equal(store_begin(s, true, &t), 0);
	assert_int_equal(store_sched_put(t, so, &st), 0);
	assert_int_equal(store_commit(t), 0);
}

static void expect_clean(store *s) {
	diag_list diags = { 0 };
	int r = store_verify(s, &diags);
	for (size_t i = 0; i < diags.n; i++)
		print_message("diag: %s\n", diags.v[i].msg);
	assert_int_equal(diags.n, 0);
	assert_int_equal(r, 0);
}

static sales_order *get(store *s, const char *number) {
	store_txn *t;
	sales_order *o = NULL;
	assert_int_equal(store_begin(s, false, &t), 0);
	assert_int_equal(store_order_get(t, number, &o), 0);
	store_abort(t);
	return o;
}

static int count_cb(const sales_order *o, void *ud) {
	(void) o;
	(*(size_t *) ud)++;
	return 0;
}

static size_t count_orders(store *s) {
	store_txn *t;
	size_t n = 0;
	assert_int_equal(store_begin(s, false, &t), 0);
	assert_int_equal(store_order_each(t, INT64_MIN, INT64_MAX, count_cb, &n), 0);
	store_abort(t);
	return n;
}

static int count_outbox_cb(uint64_t seq, const char *type, const char *payload, int64_t at, void *ud) {
	(void) seq; (void) type; (void) payload; (void) at;
	(*(size_t *) ud)++;
	return 0;
}

static size_t count_outbox(store *s) {
	store_txn *t;
	size_t n = 0;
	assert_int_equal(store_begin(s, false, &t), 0);
	assert_int_equal(store_outbox_each(t, 0, count_outbox_cb, &n), 0);
	store_abort(t);
	return n;
}

/* Raw LMDB: a write transaction on the store's environment, and its end. */
static MDB_txn *raw_begin(const char *dir, MDB_env **env) {
	MDB_txn *txn;
	assert_int_equal(mdb_env_create(env), 0);
	assert_int_equal(mdb_env_set_maxdbs(*env, 16), 0);
	assert_int_equal(mdb_env_open(*env, dir, 0, 0640), 0);
	assert_int_equal(mdb_txn_begin(*env, NULL, 0, &txn), 0);
	return txn;
}

static void raw_commit(MDB_env *env, MDB_txn *txn) {
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

/* Raw LMDB: put (val != NULL) or delete one key in one named database. */
static void raw_op(const char *dir, const char *db, const void *key, size_t klen, const void *val, size_t vlen) {
	MDB_env *env;
	MDB_txn *txn = raw_begin(dir, &env);
	MDB_dbi dbi;
	assert_int_equal(mdb_dbi_open(txn, db, 0, &dbi), 0);
	MDB_val k = { .mv_size = klen, .mv_data = (void *) key };
	MDB_val v = { .mv_size = vlen, .mv_data = (void *) val };
	if (val)
		assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	else
		assert_int_equal(mdb_del(txn, dbi, &k, NULL), 0);
	raw_commit(env, txn);
}

static void be64(unsigned char *p, uint64_t v) {
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char) v;
}

/* ---- orders ---- */

static void test_create_read(void **state) {
	fx *f = *state;
	static order_line vnd[] = { { .sku = "ĐÈN-LED", .quantity = 500, .unit_price = { 120000, "VND" } } };
	sales_order a = sample("acme-bulbs", utc(2027, 2, 1, 4));
	sales_order b = sample("nord-bulbs", utc(2027, 2, 3, 6));
	b.ship_to = (order_address) { "Nordlys AS", "Storgata 5", "9008", "Tromsø", "NO" };
	b.payment = ORDER_PAYMENT_PREPAID;
	b.delivery_offset = 3600;
	b.zone = "Europe/Oslo";
	b.late = true;
	b.occurrence = 0;
	sales_order c = {
		.customer = "saigon-light", .supplier = "lux",
		.ship_to = { "Công ty Ánh Sáng", NULL, "700000", "Thành phố Hồ Chí Minh", "VN" },
		.lines = vnd, .n_lines = 1, .total = { 60000000, "VND" },
		.delivery = utc(2027, 2, 2, 1), .delivery_offset = 25200, .zone = NULL,
		.created = utc(2027, 1, 20, 0), .payment = ORDER_PAYMENT_ACCOUNT, .status = ORDER_STATUS_ON_HOLD,
	};
	assert_int_equal(create(f->s, &a), 0);
	assert_int_equal(create(f->s, &b), 0);
	assert_int_equal(create(f->s, &c), 0);
	assert_string_equal(a.number, "SO-00000001-3");
	assert_string_equal(b.number, "SO-00000002-1");
	assert_string_equal(c.number, "SO-00000003-7");

	sales_order *o = get(f->s, "SO-00000001-3");
	assert_order_eq(&a, o);
	assert_string_equal(o->ship_to.city, "Rīga");
	order_free(o);
	o = get(f->s, "so000000021");
	assert_order_eq(&b, o);
	assert_string_equal(o->ship_to.city, "Tromsø");
	order_free(o);
	o = get(f->s, "SO-00000003-7");
	assert_order_eq(&c, o);
	assert_string_equal(o->ship_to.city, "Thành phố Hồ Chí Minh");
	assert_null(o->ship_to.street);
	assert_null(o->standing_order);
	order_free(o);

	store_txn *t;
	char num[ORDER_NUMBER_MAX];
	assert_int_equal(store_begin(f->s, false, &t), 0);
	assert_int_equal(store_occurrence_get(t, "nord-bulbs", b.delivery, num), 0);
	assert_string_equal(num, "SO-00000002-1");
	assert_int_equal(store_occurrence_get(t, "nord-bulbs", b.delivery + 1, num), -ENOENT);
	assert_int_equal(store_order_get(t, "SO-00000004-5", &o), -ENOENT);
	assert_int_equal(store_order_get(t, "SO-00000004-6", &o), -EINVAL);
	assert_int_equal(store_order_create(t, &a), -EROFS);
	store_abort(t);
}

static void test_create_rejects_bad_input(void **state) {
	fx *f = *state;
	sales_order o = sample("acme-bulbs", utc(2027, 2, 1, 4));
	o.ship_to.city = "R\xc4";   /* truncated UTF-8 */
	assert_int_equal(create(f->s, &o), -EINVAL);
	assert_string_equal(o.number, "");
	o = sample("acme-bulbs", utc(2027, 2, 1, 4));
	o.customer = NULL;
	assert_int_equal(create(f->s, &o), -EINVAL);
	o = sample("", utc(2027, 2, 1, 4));
	assert_int_equal(create(f->s, &o), -EINVAL);
	char longid[600];
	memset(longid, 'x', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = 0;
	o = sample(longid, utc(2027, 2, 1, 4));
	assert_int_equal(create(f->s, &o), -ENAMETOOLONG);
	/* nothing was written: the first good order still gets number 1 */
	o = sample("acme-bulbs", utc(2027, 2, 1, 4));
	assert_int_equal(create(f->s, &o), 0);
	assert_string_equal(o.number, "SO-00000001-3");
	assert_int_equal(count_outbox(f->s), 1);
}

static void test_duplicate_occurrence(void **state) {
	fx *f = *state;
	sales_order a = sample("acme-bulbs", utc(2027, 2, 1, 4));
	assert_int_equal(create(f->s, &a), 0);

	/* same (standing order, delivery), everything else different */
	sales_order b = sample("acme-bulbs", utc(2027, 2, 1, 4));
	b.customer = "someone-else";
	b.occurrence = 9;
	store_txn *t;
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(store_order_create(t, &b), -EEXIST);
	assert_string_equal(b.number, "");
	/* the transaction stays usable: the engine goes on with the batch */
	sales_order c = sample("acme-bulbs", utc(2027, 4, 1, 3));
	assert_int_equal(store_order_create(t, &c), 0);
	assert_string_equal(c.number, "SO-00000002-1");
	/* and a duplicate of an occurrence created earlier in the same transaction */
	sales_order d = sample("acme-bulbs", utc(2027, 4, 1, 3));
	assert_int_equal(store_order_create(t, &d), -EEXIST);
	assert_int_equal(store_commit(t), 0);

	assert_int_equal(count_orders(f->s), 2);
	assert_int_equal(count_outbox(f->s), 2);
	sales_order *o = get(f->s, "SO-00000001-3");
	assert_string_equal(o->customer, "acme");
	order_free(o);
	/* a different standing order may deliver at the same instant */
	sales_order e = sample("acme-sockets", utc(2027, 2, 1, 4));
	assert_int_equal(create(f->s, &e), 0);
	assert_string_equal(e.number, "SO-00000003-7");
	put_sched(f->s, "acme-bulbs", c.delivery);
	put_sched(f->s, "acme-sockets", e.delivery);
	expect_clean(f->s);
}

typedef struct collect {
	int64_t v[16];
	size_t n;
	size_t stop_after;
} collect;

static int collect_cb(const sales_order *o, void *ud) {
	collect *c = ud;
	c->v[c->n++] = o->delivery;
	return c->stop_after && c->n == c->stop_after ? 7 : 0;
}

static void test_each_delivery_order(void **state) {
	fx *f = *state;
	static const int64_t ins[] = {
		1801454400, -1, INT64_MAX - 1, 0, -3155760000, INT64_MIN, 1, -86400, 4102444800,
	};
	static const int64_t sorted[] = {
		INT64_MIN, -3155760000, -86400, -1, 0, 1, 1801454400, 4102444800, INT64_MAX - 1,
	};
	for (size_t i = 0; i < sizeof(ins) / sizeof(ins[0]); i++) {
		sales_order o = sample(i % 2 ? "acme-bulbs" : NULL, ins[i]);
		o.created = 0;
		assert_int_equal(create(f->s, &o), 0);
	}
	store_txn *t;
	collect c = { 0 };
	assert_int_equal(store_begin(f->s, false, &t), 0);
	assert_int_equal(store_order_each(t, INT64_MIN, INT64_MAX, collect_cb, &c), 0);
	assert_int_equal(c.n, 9);
	for (size_t i = 0; i < c.n; i++)
		assert_int_equal(c.v[i], sorted[i]);
	/* [from, to) */
	c = (collect) { 0 };
	assert_int_equal(store_order_each(t, -86400, 1, collect_cb, &c), 0);
	assert_int_equal(c.n, 3);
	assert_int_equal(c.v[0], -86400);
	assert_int_equal(c.v[1], -1);
	assert_int_equal(c.v[2], 0);
	c = (collect) { 0 };
	assert_int_equal(store_order_each(t, 2, 1801454400, collect_cb, &c), 0);
	assert_int_equal(c.n, 0);
	assert_int_equal(store_order_each(t, 5, 5, collect_cb, &c), 0);
	assert_int_equal(c.n, 0);
	/* a non-zero callback result stops the walk and comes back */
	c = (collect) { .stop_after = 2 };
	assert_int_equal(store_order_each(t, INT64_MIN, INT64_MAX, collect_cb, &c), 7);
	assert_int_equal(c.n, 2);
	store_abort(t);
}

/* A transaction's new due entries are put in key order at the commit, and before
 * due is read or changed in it: a walk sees them in delivery order, an update
 * moves one of them. */
static void test_due_in_one_txn(void **state) {
	fx *f = *state;
	static const int64_t ins[] = { 1801454400, -1, INT64_MAX - 1, 0, -86400, 4102444800 };
	static const int64_t sorted[] = { -86400, -1, 0, 7, 1801454400, 4102444800, INT64_MAX - 1 };
	store_txn *t;
	assert_int_equal(store_begin(f->s, true, &t), 0);
	for (size_t i = 0; i < sizeof(ins) / sizeof(ins[0]); i++) {
		sales_order o = sample(i % 2 ? "acme-bulbs" : NULL, ins[i]);
		o.created = 0;
		assert_int_equal(store_order_create(t, &o), 0);
	}
	collect c = { 0 };
	assert_int_equal(store_order_each(t, INT64_MIN, INT64_MAX, collect_cb, &c), 0);
	assert_int_equal(c.n, 6);
	for (size_t i = 0; i < c.n; i++)
		assert_int_equal(c.v[i], sorted[i < 3 ? i : i + 1]);   /* all but 7 */
	sales_order o = sample(NULL, 5);
	o.created = 0;
	assert_int_equal(store_order_create(t, &o), 0);
	o.delivery = 7;
	assert_int_equal(store_order_update(t, &o), 0);   /* its entry at 5 not put yet */
	assert_int_equal(store_commit(t), 0);
	assert_int_equal(store_begin(f->s, false, &t), 0);
	c = (collect) { 0 };
	assert_int_equal(store_order_each(t, INT64_MIN, INT64_MAX, collect_cb, &c), 0);
	assert_int_equal(c.n, 7);
	for (size_t i = 0; i < c.n; i++)
		assert_int_equal(c.v[i], sorted[i]);
	store_abort(t);
}

static void test_abort_leaves_nothing(void **state) {
	fx *f = *state;
	store_txn *t;
	sales_order o = sample("acme-bulbs", utc(2027, 2, 1, 4));
	sched_state st = { .watermark = o.delivery, .created = 1, .active = true };
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(store_order_create(t, &o), 0);
	assert_int_equal(store_sched_put(t, "acme-bulbs", &st), 0);
	assert_int_equal(store_skip_record(t, "acme-bulbs", 5, 6, "paused"), 0);
	assert_int_equal(store_outbox_append(t, "x", "{}", 1), 0);
	store_abort(t);
	store_abort(NULL);

	char num[ORDER_NUMBER_MAX];
	sales_order *got;
	assert_int_equal(store_begin(f->s, false, &t), 0);
	assert_int_equal(store_order_get(t, "SO-00000001-3", &got), -ENOENT);
	assert_int_equal(store_occurrence_get(t, "acme-bulbs", o.delivery, num), -ENOENT);
	assert_int_equal(store_sched_get(t, "acme-bulbs", &st), -ENOENT);
	store_abort(t);
	assert_int_equal(count_orders(f->s), 0);
	assert_int_equal(count_outbox(f->s), 0);
	/* the counters were rolled back with the rest */
	o = sample("acme-bulbs", utc(2027, 2, 1, 4));
	assert_int_equal(create(f->s, &o), 0);
	assert_string_equal(o.number, "SO-00000001-3");
}

static void test_commit_persists(void **state) {
	fx *f = *state;
	sales_order a = sample("acme-bulbs", utc(2027, 2, 1, 4));
	sched_state st = { .watermark = a.delivery, .created = 1, .active = true, .def_hash = 42 };
	store_txn *t;
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(store_order_create(t, &a), 0);
	assert_int_equal(store_sched_put(t, "acme-bulbs", &st), 0);
	assert_int_equal(store_commit(t), 0);
	reopen(f);
	sales_order *o = get(f->s, a.number);
	assert_order_eq(&a, o);
	order_free(o);
	sched_state got;
	assert_int_equal(store_begin(f->s, false, &t), 0);
	assert_int_equal(store_sched_get(t, "acme-bulbs", &got), 0);
	assert_int_equal(got.watermark, a.delivery);
	assert_int_equal(got.def_hash, 42);
	store_abort(t);
	/* the sequence continues after a reopen */
	sales_order b = sample("acme-bulbs", utc(2027, 4, 1, 3));
	assert_int_equal(create(f->s, &b), 0);
	assert_string_equal(b.number, "SO-00000002-1");
}

/* Readers run in a child process started afresh from this binary (fork and
 * exec): LMDB allows one environment per file per process, and an exec'd child
 * inherits no heap, so valgrind has nothing to report about it. */
static char self_path[PATH_MAX];

static pid_t spawn(const char *what, const char *dir, int fd1, int fd2) {
	char a1[16], a2[16];
	snprintf(a1, sizeof(a1), "%d", fd1);
	snprintf(a2, sizeof(a2), "%d", fd2);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		execl(self_path, self_path, "--child", what, dir, a1, a2, (char *) NULL);
		_exit(127);
	}
	return pid;
}

static void expect_child_ok(pid_t pid) {
	int status;
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static int child_reader(const char *dir) {
	store *s;
	store_txn *t;
	sales_order *o;
	size_t n = 0;
	if (store_open(dir, &readonly, &s) != 0)
		return 10;
	if (store_begin(s, true, &t) != -EROFS)
		return 11;
	if (store_begin(s, false, &t) != 0)
		return 12;
	if (store_order_get(t, "SO-00000001-3", &o) != 0)
		return 13;
	bool ok = !strcmp(o->ship_to.city, "Rīga");
	order_free(o);
	if (!ok)
		return 14;
	if (store_order_get(t, "SO-00000002-1", &o) != -ENOENT)   /* not committed yet */
		return 15;
	if (store_order_each(t, INT64_MIN, INT64_MAX, count_cb, &n) != 0 || n != 1)
		return 16;
	store_abort(t);
	if (store_set_max_size(s, 0) != -EROFS)
		return 17;
	store_close(s);
	return 0;
}

static void test_readonly_while_writing(void **state) {
	fx *f = *state;
	sales_order a = sample("acme-bulbs", utc(2027, 2, 1, 4));
	assert_int_equal(create(f->s, &a), 0);
	store_txn *t;
	sales_order b = sample("acme-bulbs", utc(2027, 4, 1, 3));
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(store_order_create(t, &b), 0);
	expect_child_ok(spawn("reader", f->dir, -1, -1));
	assert_int_equal(store_commit(t), 0);
	assert_int_equal(count_orders(f->s), 2);
}

static void test_readonly_missing(void **state) {
	fx *f = *state;
	store *s = NULL;
	char path[256];
	snprintf(path, sizeof(path), "%s/nothing", f->tmp);
	assert_int_equal(store_open(path, &readonly, &s), -ENOENT);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(store_open(path, &readonly, &s), -ENOENT);
	assert_null(s);
	/* and it left nothing behind */
	char lock[300];
	snprintf(lock, sizeof(lock), "%s/lock.mdb", path);
	assert_int_equal(access(lock, F_OK), -1);
	assert_int_equal(store_open(NULL, NULL, &s), -EINVAL);
	assert_int_equal(store_open(path, &(store_options) { .flags = 0x80 }, &s), -EINVAL);
}

static void test_format_newer(void **state) {
	fx *f = *state;
	store_close(f->s);
	f->s = NULL;
	unsigned char v[8];
	be64(v, STORE_FORMAT + 1);
	raw_op(f->dir, "meta", "format", 6, v, 8);
	store *s = NULL;
	assert_int_equal(store_open(f->dir, NULL, &s), -EPROTO);
	assert_int_equal(store_open(f->dir, &readonly, &s), -EPROTO);
	assert_null(s);
	/* a garbled version is not mistaken for an old or new one */
	raw_op(f->dir, "meta", "format", 6, "1", 1);
	assert_int_equal(store_open(f->dir, NULL, &s), -EBADMSG);
	be64(v, STORE_FORMAT);
	raw_op(f->dir, "meta", "format", 6, v, 8);
	assert_int_equal(store_open(f->dir, NULL, &f->s), 0);
}

static size_t raw_get(const char *dir, const char *db, const void *key, size_t klen, unsigned char *buf, size_t cap);

/* A store of format 1 (before the compact records) is read as it is and raised to
 * 2 by a read-write open, so that a version before them refuses it as newer
 * instead of taking its compact records for damage. */
static void test_format_raised(void **state) {
	fx *f = *state;
	assert_int_equal(STORE_FORMAT, 2);
	store_close(f->s);
	f->s = NULL;
	unsigned char v[8], got[16];
	be64(v, 1);
	raw_op(f->dir, "meta", "format", 6, v, 8);
	store *s = NULL;
	assert_int_equal(store_open(f->dir, &readonly, &s), 0);   /* read-only: read, not raised */
	store_close(s);
	assert_int_equal(raw_get(f->dir, "meta", "format", 6, got, sizeof(got)), 8);
	assert_memory_equal(got, v, 8);
	assert_int_equal(store_open(f->dir, NULL, &f->s), 0);
	assert_int_equal(raw_get(f->dir, "meta", "format", 6, got, sizeof(got)), 8);
	be64(v, 2);
	assert_memory_equal(got, v, 8);
}

/* Opens a fresh store in DIR/name with the given map and cap. */
static store *open_sized(fx *f, const char *name, uint64_t map, uint64_t max, char ret_dir[160]) {
	snprintf(ret_dir, 160, "%s/%s", f->tmp, name);
	store_options o = { .map_size = map, .max_size = max };
	store *s = NULL;
	assert_int_equal(store_open(ret_dir, &o, &s), 0);
	return s;
}

static uint64_t map_of(store *s) {
	store_info i;
	assert_int_equal(store_get_info(s, &i), 0);
	return i.map_size;
}

/* The compiled records are put without a copy (store_cset_put borrows them):
 * a transaction replayed on a grown map puts them from the caller's buffers,
 * byte for byte. */
static void test_cset_put_grown(void **state) {
	fx *f = *state;
	char dir[160];
	store_close(f->s);
	f->s = open_sized(f, "cset-grown", 256 << 10, 16 << 20, dir);
	size_t len = 300 << 10;
	uint8_t *a = malloc(len), *b = malloc(len);
	assert_non_null(a);
	assert_non_null(b);
	for (size_t i = 0; i < len; i++) {
		a[i] = (uint8_t) (i * 7 + 1);
		b[i] = (uint8_t) (i * 13 + 5);
	}
	store_cset head = { .program = "standingd test" };
	store_cset_put_file pf[2] = {
		{ .name = "orders.d/a.yaml", .info = { .hash = 1 }, .packed = a, .packed_len = len },
		{ .name = "orders.d/b.yaml", .info = { .hash = 2 }, .packed = b, .packed_len = len },
	};
	store_txn *t;
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(store_cset_put(t, &head, pf, 2), 0);
	assert_int_equal(store_commit(t), 0);
	assert_true(map_of(f->s) >= 1 << 20);   /* grown twice at least: replayed */
	assert_int_equal(store_begin(f->s, false, &t), 0);
	const void *p;
	size_t n;
	assert_int_equal(store_cset_record(t, "orders.d/a.yaml", &p, &n), 0);
	assert_int_equal(n, len);
	assert_memory_equal(p, a, len);
	assert_int_equal(store_cset_record(t, "orders.d/b.yaml", &p, &n), 0);
	assert_int_equal(n, len);
	assert_memory_equal(p, b, len);
	store_abort(t);
	free(a);
	free(b);
}

/* A write that fills the map grows it (doubling) and replays the transaction
 * inside the store; at max_size the map stays and the write is -EFBIG (map
 * full), never -ENOSPC (disk full). */
static void test_grow_to_cap(void **state) {
	fx *f = *state;
	char dir[160];
	store_close(f->s);
	f->s = open_sized(f, "capped", 256 << 10, 1 << 20, dir);
	assert_int_equal(map_of(f->s), 256 << 10);
	int r = 0;
	int64_t d = utc(2027, 1, 1, 0);
	size_t committed = 0;
	uint64_t seen[8] = { map_of(f->s) };
	size_t n_seen = 1;
	for (int batch = 0; batch < 1000 && r == 0; batch++) {
		store_txn *t;
		assert_int_equal(store_begin(f->s, true, &t), 0);
		sched_state st = { .watermark = d + 10 * CAL_SECS_PER_DAY, .active = true };
		for (int i = 0; i < 10 && r == 0; i++) {
			sales_order o = sample("acme-bulbs", d += CAL_SECS_PER_DAY);
			r = store_order_create(t, &o);
		}
		if (r == 0)
			r = store_sched_put(t, "acme-bulbs", &st);
		if (r == 0) {
			r = store_commit(t);
			if (r == 0)
				committed += 10;
		} else
			assert_int_equal(store_commit(t), r);   /* a half-done batch never commits */
		uint64_t m = map_of(f->s);
		if (m != seen[n_seen - 1] && n_seen < 8)
			seen[n_seen++] = m;
	}
	assert_int_equal(r, -EFBIG);
	/* 256 KiB, 512 KiB, 1 MiB: doubling, and no further than the cap */
	assert_int_equal(n_seen, 3);
	assert_int_equal(seen[1], 512 << 10);
	assert_int_equal(seen[2], 1 << 20);
	store_info i;
	assert_int_equal(store_get_info(f->s, &i), 0);
	assert_int_equal(i.max_size, 1 << 20);
	assert_int_equal(i.grow_error, 0);
	assert_true(i.used <= i.map_size);
	assert_true(committed >= 100);
	assert_int_equal(count_orders(f->s), committed);
	assert_int_equal(count_outbox(f->s), committed);
	expect_clean(f->s);
	/* a larger cap lets it go on, without reopening */
	assert_int_equal(store_set_max_size(f->s, 1000), -EINVAL);
	assert_int_equal(store_set_max_size(f->s, 2 << 20), 0);
	size_t more = 0;
	while (map_of(f->s) == 1 << 20 && more < 1000) {
		sales_order o = sample("acme-bulbs", d += CAL_SECS_PER_DAY);
		assert_int_equal(create(f->s, &o), 0);
		more++;
	}
	assert_int_equal(map_of(f->s), 2 << 20);
	/* reopened without a map size: the size it was grown to, or the smaller of
	 * 64 MiB and the cap when that is more */
	store_close(f->s);
	f->s = NULL;
	store_options opts = { .max_size = 4 << 20 };
	assert_int_equal(store_open(dir, &opts, &f->s), 0);
	assert_int_equal(map_of(f->s), 4 << 20);
	assert_int_equal(count_orders(f->s), committed + more);
	/* options that make no sense */
	store *s2 = NULL;
	opts = (store_options) { .max_size = 4096 };
	assert_int_equal(store_open(dir, &opts, &s2), -EINVAL);
	opts = (store_options) { .map_size = 8 << 20, .max_size = 4 << 20 };
	assert_int_equal(store_open(dir, &opts, &s2), -EINVAL);
	assert_null(s2);
}

/* One transaction larger than the whole map: replayed on ever larger maps. */
static void test_grow_replays_big_txn(void **state) {
	fx *f = *state;
	char dir[160];
	store_close(f->s);
	f->s = open_sized(f, "replay", 256 << 10, 64 << 20, dir);
	store_txn *t;
	assert_int_equal(store_begin(f->s, true, &t), 0);
	int64_t d = utc(2027, 1, 1, 0);
	/* (compact records since issue 12: 12,000 orders are past 1 MiB) */
	for (int i = 0; i < 12000; i++) {
		sales_order o = sample(NULL, d += 3600);
		assert_int_equal(store_order_create(t, &o), 0);
	}
	assert_int_equal(store_commit(t), 0);
	assert_true(map_of(f->s) >= 2 << 20);
	assert_int_equal(count_orders(f->s), 12000);
	expect_clean(f->s);
	/* while another transaction is open the map must not move: -EAGAIN (retry once it ends), nothing written */
	store_txn *r;
	assert_int_equal(store_begin(f->s, false, &r), 0);
	assert_int_equal(store_begin(f->s, true, &t), 0);
	int rc = 0;
	for (int i = 0; i < 20000 && rc == 0; i++) {
		sales_order o = sample(NULL, d += 3600);
		rc = store_order_create(t, &o);
	}
	assert_int_equal(rc, -EAGAIN);
	assert_int_equal(store_commit(t), -EAGAIN);
	/* the growth waits for the reader (a list built in steps lets go when asked) */
	uint64_t before = map_of(f->s);
	assert_true(store_room_wanted(f->s));
	store_abort(r);
	assert_false(store_room_wanted(f->s));
	assert_int_equal(map_of(f->s), 2 * before);
	assert_int_equal(count_orders(f->s), 12000);
}

static void test_default_max_size(void **state) {
	fx *f = *state;
	uint64_t m = store_default_max_size(f->tmp);
	assert_true(m >= (UINT64_C(64) << 20));
	assert_true(m <= (UINT64_C(1) << 40));
	assert_int_equal(store_default_max_size("/nonexistent/x"), UINT64_C(64) << 30);
	store_info i;
	assert_int_equal(store_get_info(f->s, &i), 0);
	assert_int_equal(i.max_size, store_default_max_size(f->dir));
	assert_int_equal(i.map_size, UINT64_C(64) << 20);
}

/* The file system refusing data (here RLIMIT_FSIZE, which a write meets as
 * EFBIG) is -ENOSPC, not a full map: the map does not grow, reads go on, and
 * writing works again once there is room. */
static void test_disk_full(void **state) {
	fx *f = *state;
	char dir[160], data[200];
	store_close(f->s);
	f->s = open_sized(f, "diskfull", 0, 0, dir);
	snprintf(data, sizeof(data), "%s/data.mdb", dir);
	int64_t d = utc(2027, 1, 1, 0);
	sales_order o = sample(NULL, d += 3600);
	assert_int_equal(create(f->s, &o), 0);
	uint64_t map = map_of(f->s);
	struct stat st;
	assert_int_equal(stat(data, &st), 0);
	struct rlimit old, lim;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
	lim = (struct rlimit) { .rlim_cur = (rlim_t) st.st_size + 64 * 1024, .rlim_max = old.rlim_max };
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	int r = 0;
	size_t n = 1;
	for (int i = 0; i < 5000 && r == 0; i++) {
		o = sample(NULL, d += 3600);
		if ((r = create(f->s, &o)) == 0)
			n++;
	}
	assert_int_equal(r, -ENOSPC);
	assert_int_equal(map_of(f->s), map);
	assert_int_equal(count_orders(f->s), n);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, prev);
	o = sample(NULL, d += 3600);
	assert_int_equal(create(f->s, &o), 0);
	assert_int_equal(count_orders(f->s), n + 1);
	expect_clean(f->s);
}

/* ---- a damaged data file is refused before LMDB maps it ---- */

static void expect_refused(const char *dir, const char *msg) {
	for (int ro = 0; ro < 2; ro++) {
		diag_list diags = { 0 };
		store_options o = { .flags = ro ? STORE_READONLY : 0, .diags = &diags };
		store *s = NULL;
		assert_int_equal(store_open(dir, &o, &s), -EUCLEAN);
		assert_null(s);
		assert_int_equal(diags.n, 1);
		char want[300];
		snprintf(want, sizeof(want), "%s/data.mdb", dir);
		assert_string_equal(diags.v[0].file, want);
		assert_string_equal(diags.v[0].msg, msg);
		diag_list_clear(&diags);
	}
}

static void test_damaged_data_file(void **state) {
	fx *f = *state;
	for (int i = 0; i < 50; i++) {
		sales_order o = sample(NULL, utc(2027, 1, 1, 0) + i * 3600);
		assert_int_equal(create(f->s, &o), 0);
	}
	store_info info;
	assert_int_equal(store_get_info(f->s, &info), 0);
	store_close(f->s);
	f->s = NULL;
	char data[200], copy[200], msg[300];
	snprintf(data, sizeof(data), "%s/data.mdb", f->dir);
	snprintf(copy, sizeof(copy), "%s/saved.mdb", f->tmp);
	struct stat st;
	assert_int_equal(stat(data, &st), 0);
	assert_int_equal((uint64_t) st.st_size, info.used);
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "cp %s %s", data, copy);
	assert_int_equal(system(cmd), 0);

	/* half */
	off_t half = st.st_size / 2;
	assert_int_equal(truncate(data, half), 0);
	snprintf(msg, sizeof(msg), "is %lld bytes, but its last page (%llu) ends at byte %llu: the file was truncated",
		 (long long) half, (unsigned long long) (info.used / 4096 - 1), (unsigned long long) info.used);
	expect_refused(f->dir, msg);
	/* one page short */
	snprintf(cmd, sizeof(cmd), "cp %s %s", copy, data);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(truncate(data, st.st_size - 4096), 0);
	snprintf(msg, sizeof(msg), "is %lld bytes, but its last page (%llu) ends at byte %llu: the file was truncated",
		 (long long) (st.st_size - 4096), (unsigned long long) (info.used / 4096 - 1),
		 (unsigned long long) info.used);
	expect_refused(f->dir, msg);
	/* shorter than the meta pages */
	assert_int_equal(truncate(data, 100), 0);
	expect_refused(f->dir, "is 100 bytes, too short to hold LMDB meta page 0: the file was truncated");
	/* empty, and missing, while the store was in use: never a fresh start */
	assert_int_equal(truncate(data, 0), 0);
	expect_refused(f->dir, "is empty (0 bytes), but the store was in use (store.created)");
	assert_int_equal(unlink(data), 0);
	diag_list diags = { 0 };
	store_options o = { .diags = &diags };
	assert_int_equal(store_open(f->dir, &o, &f->s), -EUCLEAN);
	assert_int_equal(diags.n, 1);
	snprintf(msg, sizeof(msg), "is missing, but %s/store.created shows the store was in use", f->dir);
	assert_string_equal(diags.v[0].msg, msg);
	diag_list_clear(&diags);
	/* a damaged meta page */
	assert_int_equal(system(cmd), 0);
	FILE *fp = fopen(data, "r+b");
	assert_non_null(fp);
	assert_int_equal(fseek(fp, 4096 + 16, SEEK_SET), 0);
	assert_int_equal(fputc(0x5a, fp), 0x5a);
	fclose(fp);
	expect_refused(f->dir, "meta page 1 is damaged (not an LMDB meta page)");
	/* the saved copy is whole again */
	assert_int_equal(system(cmd), 0);
	assert_int_equal(store_open(f->dir, NULL, &f->s), 0);
	assert_int_equal(count_orders(f->s), 50);
	expect_clean(f->s);

	/* A 0-byte data file with no marker is a creation cut short: LMDB starts it. */
	char fresh[160], path[200];
	snprintf(fresh, sizeof(fresh), "%s/fresh", f->tmp);
	assert_int_equal(mkdir(fresh, 0700), 0);
	snprintf(path, sizeof(path), "%s/data.mdb", fresh);
	FILE *e = fopen(path, "w");
	assert_non_null(e);
	fclose(e);
	store *s = NULL;
	store_options ro = { .flags = STORE_READONLY, .diags = &diags };
	assert_int_equal(store_open(fresh, &ro, &s), -ENOENT);   /* being created: no store yet */
	assert_int_equal(diags.n, 0);
	assert_int_equal(store_open(fresh, NULL, &s), 0);
	store_close(s);
}

/* A reader process whose map is smaller than the data a writer grew into must
 * adopt the new size (MDB_MAP_RESIZED) instead of failing. */
static int child_resized(const char *dir, int ready, int go) {
	store *s;
	store_txn *t;
	size_t n = 0, want;
	if (store_open(dir, &readonly, &s) != 0)
		return 20;
	if (store_begin(s, false, &t) != 0)
		return 21;
	store_abort(t);   /* leaves a reset read transaction to renew */
	if (write(ready, "r", 1) != 1 || read(go, &want, sizeof(want)) != sizeof(want))
		return 22;
	if (store_begin(s, false, &t) != 0)
		return 23;
	int r = store_order_each(t, INT64_MIN, INT64_MAX, count_cb, &n);
	store_abort(t);
	store_close(s);
	return r == 0 && n == want ? 0 : 24;
}

static void test_reader_adopts_grown_map(void **state) {
	fx *f = *state;
	char dir[160];
	store_close(f->s);
	f->s = open_sized(f, "resized", 256 << 10, 0, dir);
	int p1[2], p2[2];
	assert_int_equal(pipe(p1), 0);
	assert_int_equal(pipe(p2), 0);
	pid_t pid = spawn("resized", dir, p1[1], p2[0]);
	assert_true(pid > 0);
	char c;
	assert_int_equal(read(p1[0], &c, 1), 1);
	/* fill the small map, grow, and write well past the reader's map */
	size_t n = 0;
	int64_t d = 0;
	bool grown = false;
	for (int i = 0; i < 5000 && !(grown && n >= 1000); i++) {
		sales_order o = sample(NULL, d += 60);
		assert_int_equal(create(f->s, &o), 0);   /* the store grows the map itself */
		grown = map_of(f->s) > 256 << 10;
		n++;
	}
	assert_true(grown);
	assert_int_equal(write(p2[1], &n, sizeof(n)), sizeof(n));
	expect_child_ok(pid);
	close(p1[0]);
	close(p1[1]);
	close(p2[0]);
	close(p2[1]);
}

static void test_busy_and_readonly_txn(void **state) {
	fx *f = *state;
	store_txn *t, *t2, *r1, *r2;
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(store_begin(f->s, true, &t2), -EBUSY);
	/* readers alongside the writer, and more than one at a time */
	assert_int_equal(store_begin(f->s, false, &r1), 0);
	assert_int_equal(store_begin(f->s, false, &r2), 0);
	assert_int_equal(store_sched_put(r1, "x", &(sched_state) { .watermark = 1 }), -EROFS);
	assert_int_equal(store_outbox_append(r1, "x", "{}", 1), -EROFS);
	store_abort(r1);
	assert_int_equal(store_commit(r2), 0);
	assert_int_equal(store_commit(t), 0);
	assert_int_equal(store_commit(NULL), -EINVAL);
}

/* store_reopen (issue 12, stage 7): a big write, then the environment closed and
 * opened again in place: every record there, the map it had grown to, the next
 * write right (the order numbers go on); not while a transaction is open. */
static void test_reopen_after_big_write(void **state) {
	fx *f = *state;
	char dir[160];
	store_close(f->s);
	f->s = open_sized(f, "reopen", 256 << 10, 64 << 20, dir);
	store_txn *t;
	assert_int_equal(store_begin(f->s, true, &t), 0);
	int64_t d = utc(2027, 1, 1, 0);
	char id[32];
	for (int i = 0; i < 20000; i++) {
		snprintf(id, sizeof(id), "so-%05d", i);
		assert_int_equal(store_sched_put(t, id, &(sched_state) { .watermark = i, .created = (uint64_t) i + 1,
									 .active = true, .def_hash = 7 }), 0);
	}
	for (int i = 0; i < 3000; i++) {
		sales_order o = sample(NULL, d += 3600);
		assert_int_equal(store_order_create(t, &o), 0);
	}
	assert_int_equal(store_commit(t), 0);
	uint64_t map = map_of(f->s);
	assert_true(map > 256 << 10);   /* grown by the write */
	/* not while a transaction is open: a reader (also a lent one), the writer */
	store_txn *r;
	assert_int_equal(store_begin(f->s, false, &r), 0);
	assert_int_equal(store_reopen(f->s), -EBUSY);
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(store_reopen(f->s), -EBUSY);
	store_abort(t);
	assert_int_equal(store_reopen(f->s), -EBUSY);
	store_abort(r);
	assert_int_equal(store_reopen(NULL), -EINVAL);
	assert_int_equal(store_reopen(f->s), 0);
	assert_int_equal(map_of(f->s), map);
	assert_int_equal(count_orders(f->s), 3000);
	assert_int_equal(store_begin(f->s, false, &r), 0);
	sched_state got;
	assert_int_equal(store_sched_get(r, "so-12345", &got), 0);
	assert_int_equal(got.watermark, 12345);
	assert_int_equal(got.created, 12346);
	assert_true(got.active);
	assert_int_equal(got.def_hash, 7);
	store_abort(r);
	/* a write after it: the numbers go on from where they were */
	assert_int_equal(store_begin(f->s, true, &t), 0);
	sales_order o = sample(NULL, d += 3600);
	assert_int_equal(store_order_create(t, &o), 0);
	assert_int_equal(store_sched_put(t, "so-new", &(sched_state) { .watermark = 1 }), 0);
	assert_int_equal(store_commit(t), 0);
	assert_memory_equal(o.number, "SO-00003001-", 12);
	assert_int_equal(count_orders(f->s), 3001);
	/* twice in a row, and a read-only store too */
	assert_int_equal(store_reopen(f->s), 0);
	assert_int_equal(count_orders(f->s), 3001);
	expect_clean(f->s);
	store *ro = NULL;
	assert_int_equal(store_open(dir, &readonly, &ro), 0);
	assert_int_equal(store_reopen(ro), 0);
	assert_int_equal(count_orders(ro), 3001);
	store_close(ro);
}

/* ---- schedule state, skips ---- */

typedef struct ids {
	char v[8][32];
	sched_state st[8];
	size_t n;
} ids;

static int ids_cb(const char *id, const sched_state *st, void *ud) {
	ids *x = ud;
	snprintf(x->v[x->n], sizeof(x->v[0]), "%s", id);
	x->st[x->n++] = *st;
	return 0;
}

static void test_sched(void **state) {
	fx *f = *state;
	store_txn *t;
	sched_state st, got;
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(store_sched_get(t, "acme-bulbs", &got), -ENOENT);
	st = (sched_state) { .watermark = INT64_MIN, .active = true, .def_hash = UINT64_C(0xfedcba9876543210) };
	assert_int_equal(store_sched_put(t, "acme-bulbs", &st), 0);
	st = (sched_state) { .watermark = -5, .created = 12, .skipped = 3, .active = false, .def_hash = 1 };
	assert_int_equal(store_sched_put(t, "Ålesund-fisk", &st), 0);
	assert_int_equal(store_sched_put(t, "aaa", &st), 0);
	st.watermark = 99;
	assert_int_equal(store_sched_put(t, "aaa", &st), 0);   /* overwrites */
	st.created = UINT64_MAX;
	assert_int_equal(store_sched_put(t, "aaa", &st), -EOVERFLOW);
	assert_int_equal(store_commit(t), 0);

	assert_int_equal(store_begin(f->s, false, &t), 0);
	assert_int_equal(store_sched_get(t, "acme-bulbs", &got), 0);
	assert_true(got.watermark == INT64_MIN);
	assert_int_equal(got.created, 0);
	assert_true(got.active);
	assert_int_equal(got.def_hash, UINT64_C(0xfedcba9876543210));
	ids x = { 0 };
	assert_int_equal(store_sched_each(t, ids_cb, &x), 0);
	assert_int_equal(x.n, 3);
	assert_string_equal(x.v[0], "aaa");
	assert_string_equal(x.v[1], "acme-bulbs");
	assert_string_equal(x.v[2], "Ålesund-fisk");   /* byte order: UTF-8 sorts after ASCII */
	assert_int_equal(x.st[0].watermark, 99);
	assert_int_equal(x.st[2].watermark, -5);
	assert_int_equal(x.st[2].created, 12);
	assert_int_equal(x.st[2].skipped, 3);
	assert_false(x.st[2].active);
	store_abort(t);
}

typedef struct skips {
	char so[4][32], reason[4][32];
	int64_t delivery[4], at[4];
	size_t n;
} skips;

static int skips_cb(const char *so, int64_t delivery, int64_t at, const char *reason, void *ud) {
	skips *x = ud;
	snprintf(x->so[x->n], 32, "%s", so);
	snprintf(x->reason[x->n], 32, "%s", reason);
	x->delivery[x->n] = delivery;
	x->at[x->n++] = at;
	return 0;
}

static void test_skips(void **state) {
	fx *f = *state;
	store_txn *t;
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(store_skip_record(t, "b", 100, 1000, "catch_up: none"), 0);
	assert_int_equal(store_skip_record(t, "a", 100, 1001, "paused"), 0);
	assert_int_equal(store_skip_record(t, "a", -100, 1002, "paused"), 0);
	assert_int_equal(store_skip_record(t, "a", 100, 1003, "catch_up: latest"), 0);   /* same occurrence */
	assert_int_equal(store_skip_record(t, "a", 1, 1, NULL), -EINVAL);
	assert_int_equal(store_commit(t), 0);
	skips x = { 0 };
	assert_int_equal(store_begin(f->s, false, &t), 0);
	assert_int_equal(store_skip_each(t, skips_cb, &x), 0);
	store_abort(t);
	assert_int_equal(x.n, 3);
	assert_string_equal(x.so[0], "a");
	assert_int_equal(x.delivery[0], -100);
	assert_int_equal(x.at[0], 1002);
	assert_string_equal(x.so[1], "a");
	assert_int_equal(x.delivery[1], 100);
	assert_string_equal(x.reason[1], "catch_up: latest");
	assert_string_equal(x.so[2], "b");
	assert_string_equal(x.reason[2], "catch_up: none");
}

/* ---- update ---- */

static void test_update(void **state) {
	fx *f = *state;
	sales_order a = sample("acme-bulbs", utc(2027, 2, 1, 4));
	sales_order b = sample(NULL, utc(2027, 3, 1, 4));
	sales_order c = sample(NULL, utc(2027, 5, 1, 4));
	assert_int_equal(create(f->s, &a), 0);
	assert_int_equal(create(f->s, &b), 0);
	assert_int_equal(create(f->s, &c), 0);
	sched_state st = { .watermark = a.delivery, .created = 1, .active = true };
	store_txn *t;
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(store_sched_put(t, "acme-bulbs", &st), 0);

	a.status = ORDER_STATUS_SHIPPED;
	a.carrier = "DHL";
	a.tracking = "JD014600003";
	a.shipped = utc(2027, 1, 30, 12);
	assert_int_equal(store_order_update(t, &a), 0);
	/* a standing order's occurrence cannot move: it is its identity */
	sales_order moved = a;
	moved.delivery += 3600;
	assert_int_equal(store_order_update(t, &moved), -EINVAL);
	moved = a;
	moved.standing_order = "other";
	assert_int_equal(store_order_update(t, &moved), -EINVAL);
	/* a one-time order can, and the due index follows */
	b.delivery = utc(2027, 6, 1, 4);
	assert_int_equal(store_order_update(t, &b), 0);
	sales_order ghost = sample(NULL, 0);
	strcpy(ghost.number, "SO-00000042-7");
	assert_int_equal(store_order_update(t, &ghost), -ENOENT);
	strcpy(ghost.number, "SO-00000042-1");
	assert_int_equal(store_order_update(t, &ghost), -EINVAL);
	assert_int_equal(store_commit(t), 0);

	sales_order *o = get(f->s, a.number);
	assert_order_eq(&a, o);
	assert_string_equal(order_status_name(o->status), "shipped");
	order_free(o);
	collect x = { 0 };
	assert_int_equal(store_begin(f->s, false, &t), 0);
	assert_int_equal(store_order_each(t, INT64_MIN, INT64_MAX, collect_cb, &x), 0);
	store_abort(t);
	assert_int_equal(x.n, 3);
	assert_int_equal(x.v[0], a.delivery);
	assert_int_equal(x.v[1], c.delivery);
	assert_int_equal(x.v[2], b.delivery);
	expect_clean(f->s);
}

static void good_store(fx *f);
static void expect_one_diag(store *s, const char *msg);

/* The customer's open orders (custopen): every order neither shipped nor
 * cancelled, put by create, taken out by the update that ships or cancels it. */
static char custopen_buf[256];
static const char *custopen_list(store *s, const char *cust, size_t max) {
	store_txn *t;
	char (*v)[ORDER_NUMBER_MAX] = NULL;
	size_t n = 99;
	bool more = false;
	assert_int_equal(store_begin(s, false, &t), 0);
	assert_int_equal(store_customer_orders(t, cust, max, &v, &n, &more), 0);
	store_abort(t);
	size_t len = 0;
	custopen_buf[0] = '\0';
	for (size_t i = 0; i < n; i++)
		len += (size_t) snprintf(custopen_buf + len, sizeof(custopen_buf) - len, "%s ", v[i]);
	snprintf(custopen_buf + len, sizeof(custopen_buf) - len, "more=%d", more);
	free(v);
	return custopen_buf;
}

static void test_customer_orders(void **state) {
	fx *f = *state;
	sales_order a = sample(NULL, utc(2027, 2, 1, 4));
	sales_order b = sample(NULL, utc(2027, 3, 1, 4));
	sales_order c = sample(NULL, utc(2027, 4, 1, 4));
	sales_order d = sample(NULL, utc(2027, 5, 1, 4));
	sales_order e = sample(NULL, utc(2027, 6, 1, 4));
	b.status = ORDER_STATUS_ON_HOLD;
	c.status = ORDER_STATUS_AWAITING_PAYMENT;
	d.status = ORDER_STATUS_CANCELLED;
	e.customer = "nordlys";
	assert_int_equal(create(f->s, &a), 0);
	assert_int_equal(create(f->s, &b), 0);
	assert_int_equal(create(f->s, &c), 0);
	assert_int_equal(create(f->s, &d), 0);
	assert_int_equal(create(f->s, &e), 0);
	/* confirmed, on hold and awaiting payment are open; a cancelled one never was */
	assert_string_equal(custopen_list(f->s, "acme", 100), "SO-00000001-3 SO-00000002-1 SO-00000003-7 more=0");
	assert_string_equal(custopen_list(f->s, "acme", 2), "SO-00000001-3 SO-00000002-1 more=1");
	assert_string_equal(custopen_list(f->s, "acme", 3), "SO-00000001-3 SO-00000002-1 SO-00000003-7 more=0");
	assert_string_equal(custopen_list(f->s, "nordlys", 100), "SO-00000005-9 more=0");
	assert_string_equal(custopen_list(f->s, "acm", 100), "more=0");
	store_txn *t;
	assert_int_equal(store_begin(f->s, true, &t), 0);
	a.status = ORDER_STATUS_SHIPPED;
	a.carrier = "DHL";
	a.tracking = "JD014600003";
	a.shipped = utc(2027, 1, 30, 12);
	assert_int_equal(store_order_update(t, &a), 0);
	b.status = ORDER_STATUS_CONFIRMED;   /* released from hold: still open */
	assert_int_equal(store_order_update(t, &b), 0);
	c.status = ORDER_STATUS_CANCELLED;
	assert_int_equal(store_order_update(t, &c), 0);
	assert_int_equal(store_commit(t), 0);
	assert_string_equal(custopen_list(f->s, "acme", 100), "SO-00000002-1 more=0");
	expect_clean(f->s);
	/* an aborted update leaves the index as it was */
	assert_int_equal(store_begin(f->s, true, &t), 0);
	b.status = ORDER_STATUS_CANCELLED;
	assert_int_equal(store_order_update(t, &b), 0);
	store_abort(t);
	assert_string_equal(custopen_list(f->s, "acme", 100), "SO-00000002-1 more=0");
}

/* store_verify names what a damaged key holds as text: a byte that is not part of
 * well-formed UTF-8 (a flipped bit) as \xHH, well-formed text as it is. */
static void test_verify_damaged_bytes(void **state) {
	fx *f = *state;
	good_store(f);
	store_close(f->s);
	f->s = NULL;
	unsigned char key[32];
	memcpy(key, "san\xee" "a", 6);
	be64(key + 6, 1);
	raw_op(f->dir, "custopen", key, 14, "", 0);
	assert_int_equal(store_open(f->dir, NULL, &f->s), 0);
	expect_one_diag(f->s, "customer open orders index entry (san\\xee" "a, SO-00000001-3): the order is acme's");
	store_close(f->s);
	f->s = NULL;
	raw_op(f->dir, "custopen", key, 14, NULL, 0);
	memcpy(key, "Ri\xc4\xa3" "a", 6);   /* Riģa */
	be64(key + 6, 1);
	raw_op(f->dir, "custopen", key, 14, "", 0);
	assert_int_equal(store_open(f->dir, NULL, &f->s), 0);
	expect_one_diag(f->s, "customer open orders index entry (Ri\xc4\xa3" "a, SO-00000001-3): the order is acme's");
}

/* store_verify: an open order without its entry, an entry without its order, an
 * entry for a shipped order and one under another customer. */
static void test_verify_customer_orders(void **state) {
	fx *f = *state;
	good_store(f);
	store_close(f->s);
	f->s = NULL;
	unsigned char key[32];
	memcpy(key, "acme", 5);   /* with its NUL */
	be64(key + 5, 2);
	raw_op(f->dir, "custopen", key, 13, NULL, 0);
	assert_int_equal(store_open(f->dir, &readonly, &f->s), 0);
	expect_one_diag(f->s, "order SO-00000002-1: confirmed but not in the customer's open orders index (acme)");
	store_close(f->s);
	f->s = NULL;
	raw_op(f->dir, "custopen", key, 13, "", 0);
	be64(key + 5, 9);
	raw_op(f->dir, "custopen", key, 13, "", 0);
	assert_int_equal(store_open(f->dir, NULL, &f->s), 0);
	expect_one_diag(f->s, "customer open orders index entry (acme, SO-00000009-2): no such order");
	store_close(f->s);
	f->s = NULL;
	raw_op(f->dir, "custopen", key, 13, NULL, 0);
	memcpy(key, "nordlys", 8);
	be64(key + 8, 1);
	raw_op(f->dir, "custopen", key, 16, "", 0);
	assert_int_equal(store_open(f->dir, NULL, &f->s), 0);
	expect_one_diag(f->s, "customer open orders index entry (nordlys, SO-00000001-3): the order is acme's");
	store_txn *t;
	sales_order *o = get(f->s, "SO-00000001-3");
	o->status = ORDER_STATUS_SHIPPED;
	o->carrier = strdup("DHL");   /* order_free frees them */
	o->tracking = strdup("JD1");
	o->shipped = utc(2027, 1, 1, 1);
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(store_order_update(t, o), 0);
	assert_int_equal(store_commit(t), 0);
	order_free(o);
	store_close(f->s);
	f->s = NULL;
	memcpy(key, "acme", 5);
	be64(key + 5, 1);
	raw_op(f->dir, "custopen", key, 13, "", 0);
	assert_int_equal(store_open(f->dir, NULL, &f->s), 0);
	diag_list diags = { 0 };
	assert_int_equal(store_verify(f->s, &diags), -EBADMSG);
	assert_int_equal(diags.n, 2);
	assert_string_equal(diags.v[0].msg, "customer open orders index entry (acme, SO-00000001-3): the order is shipped");
	assert_string_equal(diags.v[1].msg, "customer open orders index entry (nordlys, SO-00000001-3): the order is acme's");
	diag_list_clear(&diags);
}

/* A store from before the index: the first read-write open fills it from the
 * orders there are (open ones only); a reader before that lists none. */
static void test_customer_orders_old_store(void **state) {
	fx *f = *state;
	sales_order a = sample(NULL, utc(2027, 2, 1, 4));
	sales_order b = sample(NULL, utc(2027, 3, 1, 4));
	sales_order c = sample(NULL, utc(2027, 4, 1, 4));
	b.status = ORDER_STATUS_CANCELLED;
	c.status = ORDER_STATUS_ON_HOLD;
	assert_int_equal(create(f->s, &a), 0);
	assert_int_equal(create(f->s, &b), 0);
	assert_int_equal(create(f->s, &c), 0);
	store_close(f->s);
	f->s = NULL;
	MDB_env *env;
	MDB_txn *txn = raw_begin(f->dir, &env);
	MDB_dbi dbi;
	assert_int_equal(mdb_dbi_open(txn, "custopen", 0, &dbi), 0);
	assert_int_equal(mdb_drop(txn, dbi, 1), 0);
	raw_commit(env, txn);
	assert_int_equal(store_open(f->dir, &readonly, &f->s), 0);
	assert_string_equal(custopen_list(f->s, "acme", 100), "more=0");
	expect_clean(f->s);
	reopen(f);   /* read-write: upgrades */
	assert_string_equal(custopen_list(f->s, "acme", 100), "SO-00000001-3 SO-00000003-7 more=0");
	expect_clean(f->s);
}

/* ---- outbox ---- */

typedef struct events {
	uint64_t seq[4];
	char type[4][32], payload[4][256];
	int64_t at[4];
	size_t n;
} events;

static int events_cb(uint64_t seq, const char *type, const char *payload, int64_t at, void *ud) {
	events *e = ud;
	e->seq[e->n] = seq;
	snprintf(e->type[e->n], 32, "%s", type);
	snprintf(e->payload[e->n], 256, "%s", payload);
	e->at[e->n++] = at;
	return 0;
}

static void test_outbox(void **state) {
	fx *f = *state;
	sales_order a = sample("acme-bulbs", utc(2027, 2, 1, 4));
	assert_int_equal(create(f->s, &a), 0);
	store_txn *t;
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(store_outbox_append(t, "task.created", "{ \"task\": \"Call Ilze\", \"n\": 1 }", 42), 0);
	assert_int_equal(store_outbox_append(t, "x", "[1]", 1), -EINVAL);
	assert_int_equal(store_outbox_append(t, "x", "nope", 1), -EINVAL);
	assert_int_equal(store_outbox_append(t, "x", "{\"a\":1,\"a\":2}", 1), -EINVAL);
	assert_int_equal(store_outbox_append(t, "", "{}", 1), -EINVAL);
	assert_int_equal(store_commit(t), 0);
	sales_order b = sample(NULL, utc(2027, 3, 1, 4));
	assert_int_equal(create(f->s, &b), 0);

	events e = { 0 };
	assert_int_equal(store_begin(f->s, false, &t), 0);
	assert_int_equal(store_outbox_each(t, 0, events_cb, &e), 0);
	assert_int_equal(e.n, 3);
	assert_int_equal(e.seq[0], 1);
	assert_string_equal(e.type[0], "order.created");
	assert_string_equal(e.payload[0],
		"{\"order\":\"SO-00000001-3\",\"standing_order\":\"acme-bulbs\",\"customer\":\"acme\","
		"\"supplier\":\"lux\",\"delivery\":1801454400,\"total\":{\"minor\":110000,\"currency\":\"EUR\"}}");
	assert_int_equal(e.at[0], a.created);
	assert_int_equal(e.seq[1], 2);
	assert_string_equal(e.type[1], "task.created");
	assert_string_equal(e.payload[1], "{\"task\":\"Call Ilze\",\"n\":1}");
	assert_int_equal(e.at[1], 42);
	assert_int_equal(e.seq[2], 3);
	assert_string_equal(e.payload[2],
		"{\"order\":\"SO-00000002-1\",\"standing_order\":null,\"customer\":\"acme\","
		"\"supplier\":\"lux\",\"delivery\":1803873600,\"total\":{\"minor\":110000,\"currency\":\"EUR\"}}");
	e = (events) { 0 };
	assert_int_equal(store_outbox_each(t, 2, events_cb, &e), 0);
	assert_int_equal(e.n, 1);
	assert_int_equal(e.seq[0], 3);
	e = (events) { 0 };
	assert_int_equal(store_outbox_each(t, UINT64_MAX, events_cb, &e), 0);
	assert_int_equal(e.n, 0);
	store_abort(t);
}

/* ---- pending and parked events (issue 10) ---- */

typedef struct outq_seen {
	size_t n;
	char line[8][160];
} outq_seen;

static int outq_seen_cb(const store_outq_entry *e, void *ud) {
	outq_seen *o = ud;
	if (o->n < 8)
		snprintf(o->line[o->n], sizeof(o->line[0]), "%" PRIu64 " %s a=%" PRIu32 " next=%" PRId64 " err=%s park=%" PRId64,
			 e->seq, e->key, e->attempts, e->next_at == INT64_MIN ? -1 : e->next_at,
			 e->last_error ? e->last_error : "-", e->parked_at);
	o->n++;
	return 0;
}

static outq_seen outq_list(store *s, bool parked, uint64_t after) {
	store_txn *t;
	outq_seen o = { 0 };
	assert_int_equal(store_begin(s, false, &t), 0);
	assert_int_equal(store_outq_each(t, parked, after, outq_seen_cb, &o), 0);
	store_abort(t);
	return o;
}

static void test_outq(void **state) {
	fx *f = *state;
	char inst[STORE_INSTANCE_LEN + 1], again[STORE_INSTANCE_LEN + 1];
	assert_int_equal(store_instance(f->s, inst), 0);
	assert_int_equal(strlen(inst), 16);
	assert_int_equal(strspn(inst, "0123456789abcdef"), 16);
	sales_order a = sample("acme-bulbs", utc(2027, 2, 1, 4));
	assert_int_equal(create(f->s, &a), 0);
	put_sched(f->s, "acme-bulbs", a.delivery);
	store_txn *t;
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(store_outbox_append(t, "account.payment", "{\"customer\":\"acme\",\"amount\":1}", 42), 0);
	assert_int_equal(store_outbox_append(t, "note.created", "{\"text\":\"Call Ilze\"}", 43), 0);
	assert_int_equal(store_commit(t), 0);
	outq_seen o = outq_list(f->s, false, 0);
	assert_int_equal(o.n, 3);
	assert_string_equal(o.line[0], "1 SO-00000001-3 a=0 next=-1 err=- park=0");
	assert_string_equal(o.line[1], "2 customer:acme a=0 next=-1 err=- park=0");
	assert_string_equal(o.line[2], "3 event:3 a=0 next=-1 err=- park=0");
	assert_int_equal(outq_list(f->s, false, 2).n, 1);
	assert_int_equal(outq_list(f->s, true, 0).n, 0);

	/* one fails and backs off, one is parked, one delivered */
	assert_int_equal(store_begin(f->s, true, &t), 0);
	store_outq_entry e;
	assert_int_equal(store_outq_get(t, false, 1, &e), 0);
	e.attempts = 1;
	e.next_at = 1000;
	free(e.last_error);
	e.last_error = strdup("exit status 75");
	assert_int_equal(store_outq_put(t, false, &e), 0);
	store_outq_entry_done(&e);
	assert_int_equal(store_outq_get(t, false, 2, &e), 0);
	e.attempts = 20;
	e.parked_at = 2000;
	assert_int_equal(store_outq_del(t, false, 2), 0);
	assert_int_equal(store_outq_put(t, true, &e), 0);
	store_outq_entry_done(&e);
	assert_int_equal(store_outq_del(t, false, 3), 0);
	assert_int_equal(store_outq_del(t, false, 3), -ENOENT);
	assert_int_equal(store_outq_get(t, false, 3, &e), -ENOENT);
	store_outq_entry none = { .seq = 9, .key = "x" };
	assert_int_equal(store_outq_put(t, false, &none), -ENOENT);   /* no event 9 */
	assert_int_equal(store_commit(t), 0);

	reopen(f);
	assert_int_equal(store_instance(f->s, again), 0);
	assert_string_equal(again, inst);
	o = outq_list(f->s, false, 0);
	assert_int_equal(o.n, 1);
	assert_string_equal(o.line[0], "1 SO-00000001-3 a=1 next=1000 err=exit status 75 park=0");
	o = outq_list(f->s, true, 0);
	assert_int_equal(o.n, 1);
	assert_string_equal(o.line[0], "2 customer:acme a=20 next=-1 err=- park=2000");
	uint64_t pending, parked;
	assert_int_equal(store_begin(f->s, false, &t), 0);
	assert_int_equal(store_outq_counts(t, &pending, &parked), 0);
	assert_int_equal(pending, 1);
	assert_int_equal(parked, 1);
	assert_int_equal(store_outq_first(t, &e), 0);
	assert_int_equal(e.seq, 1);
	assert_string_equal(e.key, "SO-00000001-3");
	store_outq_entry_done(&e);
	char *type, *payload;
	int64_t at;
	assert_int_equal(store_outbox_get(t, 2, &type, &payload, &at), 0);
	assert_string_equal(type, "account.payment");
	assert_string_equal(payload, "{\"customer\":\"acme\",\"amount\":1}");
	assert_int_equal(at, 42);
	free(type);
	free(payload);
	assert_int_equal(store_outbox_get(t, 4, NULL, NULL, NULL), -ENOENT);
	assert_int_equal(store_outq_put(t, false, &none), -EROFS);
	store_abort(t);
	expect_clean(f->s);
}

/* Raw LMDB: drops a named database and the instance id, as a store made before
 * issue 10 lacks them. */
static void raw_make_old(const char *dir) {
	MDB_env *env;
	MDB_txn *txn = raw_begin(dir, &env);
	MDB_dbi dbi;
	const char *const dbs[] = { "outq", "outpark", "idem", "ledger", "accounts", "openq", "payq",
				    "tasks", "taskkey", "taskidx", "taskq", "crmlog", "remwm" };
	for (size_t i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++) {
		assert_int_equal(mdb_dbi_open(txn, dbs[i], 0, &dbi), 0);
		assert_int_equal(mdb_drop(txn, dbi, 1), 0);
	}
	assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
	MDB_val k = { .mv_size = 8, .mv_data = "instance" };
	assert_int_equal(mdb_del(txn, dbi, &k, NULL), 0);
	raw_commit(env, txn);
}

/* A store from before issue 10 (and 9): a reader sees no pending events and no
 * instance; the first read-write open adds both, and its old events stay not pending. */
static void test_outq_old_store(void **state) {
	fx *f = *state;
	sales_order a = sample("acme-bulbs", utc(2027, 2, 1, 4));
	assert_int_equal(create(f->s, &a), 0);
	put_sched(f->s, "acme-bulbs", a.delivery);
	store_close(f->s);
	f->s = NULL;
	raw_make_old(f->dir);
	char inst[STORE_INSTANCE_LEN + 1];
	store_txn *t;
	uint64_t pending = 9, parked = 9;
	assert_int_equal(store_open(f->dir, &readonly, &f->s), 0);
	assert_int_equal(store_instance(f->s, inst), -ENOENT);
	assert_int_equal(store_begin(f->s, false, &t), 0);
	assert_int_equal(store_outq_counts(t, &pending, &parked), 0);
	assert_int_equal(pending + parked, 0);
	store_abort(t);
	expect_clean(f->s);
	reopen(f);   /* read-write: upgrades */
	assert_int_equal(store_instance(f->s, inst), 0);
	assert_int_equal(strspn(inst, "0123456789abcdef"), 16);
	assert_int_equal(outq_list(f->s, false, 0).n, 0);
	assert_int_equal(count_outbox(f->s), 1);
	sales_order b = sample(NULL, utc(2027, 3, 1, 4));
	assert_int_equal(create(f->s, &b), 0);
	outq_seen o = outq_list(f->s, false, 0);
	assert_int_equal(o.n, 1);
	assert_string_equal(o.line[0], "2 SO-00000002-1 a=0 next=-1 err=- park=0");
	expect_clean(f->s);
	char again[STORE_INSTANCE_LEN + 1];
	reopen(f);
	assert_int_equal(store_instance(f->s, again), 0);
	assert_string_equal(again, inst);
}

/* A store from before issue 11: a reader finds no tasks, no watermarks, no
 * interactions and a clean verify; the first read-write open adds the CRM's
 * databases, and tasks and interactions are written from then on. */
static void test_crm_old_store(void **state) {
	fx *f = *state;
	store_close(f->s);
	f->s = NULL;
	MDB_env *env;
	MDB_txn *txn = raw_begin(f->dir, &env);
	MDB_dbi dbi;
	const char *const dbs[] = { "tasks", "taskkey", "taskidx", "taskq", "crmlog", "remwm" };
	for (size_t i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++) {
		assert_int_equal(mdb_dbi_open(txn, dbs[i], 0, &dbi), 0);
		assert_int_equal(mdb_drop(txn, dbi, 1), 0);
	}
	raw_commit(env, txn);
	assert_int_equal(store_open(f->dir, &readonly, &f->s), 0);
	store_txn *t;
	task *tk;
	int64_t x;
	char id[TASK_ID_MAX];
	assert_int_equal(store_begin(f->s, false, &t), 0);
	assert_int_equal(store_task_get(t, "T-00000001", &tk), -ENOENT);
	assert_int_equal(store_task_key_get(t, "hold/SO-00000001-3/0", id), -ENOENT);
	assert_int_equal(store_reminder_get(t, "acme-bulbs", "0123456789abcdef", &x), -ENOENT);
	assert_int_equal(store_taskq_next(t, &x), -ENOENT);
	store_abort(t);
	expect_clean(f->s);
	reopen(f);   /* read-write: upgrades */
	task n = { .assignee = "anna", .customer = "acme", .due = 100, .text = "Call", .kind = TASK_MANUAL };
	interaction i = { .customer = "acme", .at = 50, .kind = INTERACTION_VISIT, .summary = "Visit", .author = "ops:root" };
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(store_task_create(t, "k", &n), 0);
	assert_int_equal(store_interaction_append(t, &i), 0);
	assert_int_equal(store_reminder_put(t, "acme-bulbs", "0123456789abcdef", 77), 0);
	assert_int_equal(store_commit(t), 0);
	assert_string_equal(n.id, "T-00000001");
	assert_int_equal(i.seq, 1);
	assert_int_equal(store_begin(f->s, false, &t), 0);
	assert_int_equal(store_task_get(t, "T-00000001", &tk), 0);
	assert_int_equal(store_reminder_get(t, "acme-bulbs", "0123456789abcdef", &x), 0);
	store_abort(t);
	assert_string_equal(tk->text, "Call");
	assert_int_equal(x, 77);
	task_free(tk);
	expect_clean(f->s);
}

/* ---- definitions ---- */

static void test_defs_roundtrip(void **state) {
	fx *f = *state;
	store_txn *t;
	defs_file *got;
	size_t n;
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(store_defs_get(t, &got, &n), -ENOENT);
	char buf[] = "- id: acme-bulbs\n  ship_to: {city: Rīga}\nTRAILING";   /* len stops before TRAILING */
	defs_file files[] = {
		{ .name = "standingd.yaml", .data = "state_dir: /var/lib/standingd\n# \"quoted\" \\ and \t tab\n",
		  .len = strlen("state_dir: /var/lib/standingd\n# \"quoted\" \\ and \t tab\n") },
		{ .name = "orders.d/acme.yaml", .data = buf, .len = strlen(buf) - strlen("TRAILING") },
		{ .name = "orders.d/empty.yaml", .data = NULL, .len = 0 },
	};
	assert_int_equal(store_defs_put(t, files, 3), 0);
	assert_int_equal(store_commit(t), 0);
	reopen(f);
	assert_int_equal(store_begin(f->s, false, &t), 0);
	assert_int_equal(store_defs_get(t, &got, &n), 0);
	store_abort(t);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(got[i].name, files[i].name);
		assert_int_equal(got[i].len, files[i].len);
		if (files[i].len)
			assert_memory_equal(got[i].data, files[i].data, files[i].len);
		assert_int_equal(got[i].data[got[i].len], 0);
		free(got[i].name);
		free(got[i].data);
	}
	free(got);
	/* a new set replaces the old one */
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(store_defs_put(t, files, 1), 0);
	assert_int_equal(store_defs_get(t, &got, &n), 0);
	assert_int_equal(n, 1);
	free(got[0].name);
	free(got[0].data);
	free(got);
	defs_file bad = { .name = "x.yaml", .data = "\xff\xfe", .len = 2 };
	assert_int_equal(store_defs_put(t, &bad, 1), -EINVAL);
	store_abort(t);
}

/* ---- verify ---- */

/* Three occurrences of acme-bulbs, one one-time order, schedule state set. */
static void good_store(fx *f) {
	int64_t d[] = { utc(2027, 1, 1, 4), utc(2027, 2, 1, 4), utc(2027, 3, 1, 4) };
	for (int i = 0; i < 3; i++) {
		sales_order o = sample("acme-bulbs", d[i]);
		o.occurrence = (uint64_t) i;
		assert_int_equal(create(f->s, &o), 0);
	}
	sales_order one = sample(NULL, utc(2027, 2, 15, 9));
	assert_int_equal(create(f->s, &one), 0);
	store_txn *t;
	sched_state st = { .watermark = d[2], .created = 3, .active = true };
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(store_sched_put(t, "acme-bulbs", &st), 0);
	assert_int_equal(store_skip_record(t, "acme-bulbs", utc(2026, 12, 1, 4), 5, "catch_up: none"), 0);
	assert_int_equal(store_commit(t), 0);
}

static void expect_one_diag(store *s, const char *msg) {
	diag_list diags = { 0 };
	assert_int_equal(store_verify(s, &diags), -EBADMSG);
	for (size_t i = 0; i < diags.n; i++)
		print_message("diag: %s\n", diags.v[i].msg);
	assert_int_equal(diags.n, 1);
	assert_null(diags.v[0].file);
	assert_string_equal(diags.v[0].msg, msg);
	diag_list_clear(&diags);
}

static void test_verify_clean(void **state) {
	fx *f = *state;
	expect_clean(f->s);   /* empty */
	good_store(f);
	expect_clean(f->s);
}

static void test_verify_outq(void **state) {
	fx *f = *state;
	good_store(f);
	store_close(f->s);
	f->s = NULL;
	unsigned char key[8];
	be64(key, 9);
	static const char rec[] = "{\"v\":1,\"attempts\":0,\"next_at\":null,\"last_error\":null,\"key\":\"x\"}";
	raw_op(f->dir, "outq", key, 8, rec, sizeof(rec) - 1);
	assert_int_equal(store_open(f->dir, &readonly, &f->s), 0);
	expect_one_diag(f->s, "pending event 9: no such outbox event");
	store_close(f->s);
	f->s = NULL;
	raw_op(f->dir, "outq", key, 8, NULL, 0);
	be64(key, 2);
	static const char prec[] = "{\"v\":1,\"attempts\":3,\"next_at\":5,\"last_error\":\"x\",\"key\":\"SO-00000002-1\","
				   "\"parked_at\":7}";
	raw_op(f->dir, "outpark", key, 8, prec, sizeof(prec) - 1);
	assert_int_equal(store_open(f->dir, &readonly, &f->s), 0);
	expect_one_diag(f->s, "outbox event 2: both pending and parked");
	store_close(f->s);
	f->s = NULL;
	raw_op(f->dir, "outq", key, 8, "{\"v\":1}", 7);
	raw_op(f->dir, "outpark", key, 8, NULL, 0);
	assert_int_equal(store_open(f->dir, &readonly, &f->s), 0);
	expect_one_diag(f->s, "pending event 2: record is unreadable");
}

static void test_verify_missing_occurrence(void **state) {
	fx *f = *state;
	good_store(f);
	store_close(f->s);
	f->s = NULL;
	unsigned char key[32];
	memcpy(key, "acme-bulbs", 11);   /* with its NUL */
	be64(key + 11, (uint64_t) utc(2027, 2, 1, 4) ^ (UINT64_C(1) << 63));
	raw_op(f->dir, "occ", key, 19, NULL, 0);
	assert_int_equal(store_open(f->dir, &readonly, &f->s), 0);
	expect_one_diag(f->s, "order SO-00000002-1: occurrence (acme-bulbs, 2027-02-01T04:00:00Z) has no idempotency entry");
}

static void test_verify_watermark(void **state) {
	fx *f = *state;
	good_store(f);
	store_txn *t;
	sched_state st = { .watermark = utc(2027, 2, 1, 4), .created = 3, .active = true };
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(store_sched_put(t, "acme-bulbs", &st), 0);
	assert_int_equal(store_commit(t), 0);
	expect_one_diag(f->s, "order SO-00000003-7: delivery 2027-03-01T04:00:00Z is after the watermark "
			      "of acme-bulbs (2027-02-01T04:00:00Z)");
}

static void test_verify_missing_event(void **state) {
	fx *f = *state;
	good_store(f);
	store_close(f->s);
	f->s = NULL;
	unsigned char key[8];
	be64(key, 4);
	raw_op(f->dir, "outbox", key, 8, NULL, 0);
	raw_op(f->dir, "outq", key, 8, NULL, 0);   /* its pending entry went with it */
	assert_int_equal(store_open(f->dir, NULL, &f->s), 0);
	expect_one_diag(f->s, "order SO-00000004-5: no order.created event");
}

static void test_verify_due_and_garbled(void **state) {
	fx *f = *state;
	good_store(f);
	store_close(f->s);
	f->s = NULL;
	unsigned char key[16];
	be64(key, (uint64_t) utc(2027, 3, 1, 4) ^ (UINT64_C(1) << 63));
	be64(key + 8, 3);
	raw_op(f->dir, "due", key, 16, NULL, 0);
	assert_int_equal(store_open(f->dir, NULL, &f->s), 0);
	expect_one_diag(f->s, "order SO-00000003-7: delivery 2027-03-01T04:00:00Z is missing from the due index");

	store_close(f->s);
	f->s = NULL;
	raw_op(f->dir, "due", key, 16, "", 0);   /* put it back */
	be64(key, 2);
	raw_op(f->dir, "orders", key, 8, "{\"v\":1,\"number\":", 16);
	raw_op(f->dir, "sched", "acme-bulbs", 10, "{\"v\":2}", 7);
	assert_int_equal(store_open(f->dir, NULL, &f->s), 0);

	store_txn *t;
	sales_order *o;
	sched_state st;
	collect c = { 0 };
	assert_int_equal(store_begin(f->s, false, &t), 0);
	assert_int_equal(store_order_get(t, "SO-00000002-1", &o), -EBADMSG);
	assert_int_equal(store_order_each(t, INT64_MIN, INT64_MAX, collect_cb, &c), -EBADMSG);
	assert_int_equal(store_sched_get(t, "acme-bulbs", &st), -EBADMSG);
	ids x = { 0 };
	assert_int_equal(store_sched_each(t, ids_cb, &x), -EBADMSG);
	store_abort(t);
	diag_list diags = { 0 };
	assert_int_equal(store_verify(f->s, &diags), -EBADMSG);
	assert_int_equal(diags.n, 2);
	assert_string_equal(diags.v[0].msg, "order SO-00000002-1: record is unreadable");
	assert_string_equal(diags.v[1].msg, "schedule state of acme-bulbs: record is unreadable");
	diag_list_clear(&diags);
}

static int child_create(store *s, int64_t delivery) {
	store_txn *t;
	sales_order o = sample(NULL, delivery);
	int r = store_begin(s, true, &t);
	if (r < 0)
		return r;
	if ((r = store_order_create(t, &o)) < 0) {
		store_abort(t);
		return r;
	}
	return store_commit(t);
}

static uint64_t vm_size(void) {
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	unsigned long long kib = 0;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmSize: %llu kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib * 1024;
}

/* With the address space limited to what is mapped now (plus a little), mapping
 * a larger map fails: the store must reopen at the old size (reads go on, the
 * write is -EFBIG with grow_error) or, if even that fails, refuse every call with
 * -ENOTRECOVERABLE; never crash on an environment without a map. */
static int child_remap(const char *dir) {
	store_options o = { .map_size = 256 << 10, .max_size = 64 << 20 };
	store *s;
	store_info i;
	if (store_open(dir, &o, &s) != 0)
		return 30;
	int64_t d = 0;
	size_t n = 0;
	for (;;) {
		if (store_get_info(s, &i) != 0 || i.map_size != 256 << 10)
			return 31;
		if (i.used + (64 << 10) > i.map_size)
			break;
		if (child_create(s, d += 60) != 0)
			return 32;
		n++;
	}
	struct rlimit lim;
	if (getrlimit(RLIMIT_AS, &lim) != 0)
		return 33;
	lim.rlim_cur = (rlim_t) (vm_size() + (128 << 10));
	if (setrlimit(RLIMIT_AS, &lim) != 0)
		return 34;
	int r = 0;
	for (int k = 0; k < 2000 && r == 0; k++)
		if ((r = child_create(s, d += 60)) == 0)
			n++;
	store_txn *t;
	if (r == -EFBIG) {
		size_t count = 0;
		if (store_get_info(s, &i) != 0 || i.grow_error != -ENOMEM || i.map_size != 256 << 10)
			return 35;
		if (store_begin(s, false, &t) != 0 || store_order_each(t, INT64_MIN, INT64_MAX, count_cb, &count) != 0)
			return 36;
		store_abort(t);
		if (count != n)
			return 37;
	} else if (r == -ENOTRECOVERABLE) {
		if (store_begin(s, false, &t) != -ENOTRECOVERABLE || store_get_info(s, &i) != -ENOTRECOVERABLE)
			return 38;
	} else
		return 39;
	store_close(s);
	return 0;
}

static void test_failed_remap(void **state) {
	fx *f = *state;
#if defined(__SANITIZE_ADDRESS__)
	skip();   /* the sanitizer's own mappings do not live with RLIMIT_AS */
#endif
	char dir[160];
	snprintf(dir, sizeof(dir), "%s/remap", f->tmp);
	/* a child process: the limit stays there (and valgrind does not follow it) */
	expect_child_ok(spawn("remap", dir, -1, -1));
	store_close(f->s);
	f->s = NULL;
	assert_int_equal(store_open(dir, NULL, &f->s), 0);
	expect_clean(f->s);
}

static int child_main(int argc, char **argv) {
	if (argc != 6)
		return 2;
	if (!strcmp(argv[2], "reader"))
		return child_reader(argv[3]);
	if (!strcmp(argv[2], "resized"))
		return child_resized(argv[3], atoi(argv[4]), atoi(argv[5]));
	if (!strcmp(argv[2], "remap"))
		return child_remap(argv[3]);
	return 2;
}


/* ---- the ledger (issue 9) ---- */

static void post(store *s, const char *customer_id, ledger_kind kind, const char *order, int64_t minor, int64_t at) {
	store_txn *t;
	ledger_entry e = { .kind = kind, .amount = { minor, "EUR" }, .at = at };
	if (order)
		snprintf(e.order, sizeof(e.order), "%s", order);
	assert_int_equal(store_begin(s, true, &t), 0);
	assert_int_equal(store_ledger_append(t, customer_id, &e), 0);
	assert_int_equal(store_commit(t), 0);
}

/* A one-time order with its first transition (not one from before the ledger). */
static void create_with(fx *f, order_status st, bool charged, char ret[ORDER_NUMBER_MAX]) {
	sales_order o = sample(NULL, utc(2027, 2, 15, 9));
	o.charged = charged;
	assert_int_equal(order_transition_add(&o, o.created, "standingd", st, NULL), 0);
	assert_int_equal(create(f->s, &o), 0);
	memcpy(ret, o.number, ORDER_NUMBER_MAX);
	order_transitions_clear(&o);
}

static void test_ledger_append(void **state) {
	fx *f = *state;
	store_txn *t;
	ledger_entry e = { .kind = LEDGER_CHARGE, .amount = { 100, "EUR" }, .at = 5, .reference = "r" };
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(store_ledger_append(t, "acme", &e), 0);
	assert_int_equal(e.seq, 1);
	assert_int_equal(e.balance_after.minor, 100);
	e.kind = LEDGER_PAYMENT;
	e.amount.minor = 250;
	assert_int_equal(store_ledger_append(t, "acme", &e), 0);
	assert_int_equal(e.seq, 2);
	assert_int_equal(e.balance_after.minor, -150);
	ledger_entry nok = { .kind = LEDGER_CHARGE, .amount = { 7, "NOK" }, .at = 6 };
	assert_int_equal(store_ledger_append(t, "acme", &nok), 0);
	assert_int_equal(nok.seq, 3);
	assert_int_equal(nok.balance_after.minor, 7);   /* one balance per currency */
	ledger_entry other = { .kind = LEDGER_CHARGE, .amount = { 1, "EUR" }, .at = 6 };
	assert_int_equal(store_ledger_append(t, "acme-2", &other), 0);   /* its own sequence */
	assert_int_equal(other.seq, 1);
	ledger_entry bad = { .kind = LEDGER_CHARGE, .amount = { 0, "EUR" } };
	assert_int_equal(store_ledger_append(t, "acme", &bad), -EINVAL);
	bad.amount = (money) { 1, "XYZ" };
	assert_int_equal(store_ledger_append(t, "acme", &bad), -EINVAL);
	assert_int_equal(store_commit(t), 0);
	reopen(f);
	money *b;
	size_t n;
	assert_int_equal(store_begin(f->s, false, &t), 0);
	assert_int_equal(store_ledger_balances(t, "acme", &b, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(b[0].currency, "EUR");
	assert_int_equal(b[0].minor, -150);
	assert_string_equal(b[1].currency, "NOK");
	free(b);
	ledger_entry *v;
	assert_int_equal(store_ledger_last(t, "acme", 2, &v, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(v[0].seq, 2);
	assert_string_equal(v[0].reference, "r");
	assert_int_equal(v[1].seq, 3);
	for (size_t i = 0; i < n; i++)
		ledger_entry_done(&v[i]);
	free(v);
	assert_int_equal(store_ledger_last(t, "nobody", 5, &v, &n), 0);
	assert_int_equal(n, 0);
	free(v);
	store_abort(t);
	expect_clean(f->s);
}

/* A batch's balance is put once, when another account's entry comes, when the
 * balances are walked and at the commit (not once per entry): each way it is the
 * sum of the entries. */
static void test_ledger_balance_kept(void **state) {
	fx *f = *state;
	store_txn *t;
	money *b, one;
	size_t n;
	ledger_entry e = { .kind = LEDGER_CHARGE, .amount = { 100, "EUR" }, .at = 5 };
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(store_ledger_append(t, "acme", &e), 0);
	e.amount.minor = 5;
	assert_int_equal(store_ledger_append(t, "acme-2", &e), 0);   /* acme's 100 put */
	e.amount.minor = 20;
	assert_int_equal(store_ledger_append(t, "acme", &e), 0);     /* acme-2's 5 put */
	assert_int_equal(store_ledger_balance(t, "acme-2", "EUR", &one), 0);
	assert_int_equal(one.minor, 5);
	assert_int_equal(store_ledger_balances(t, "acme", &b, &n), 0); /* walked: acme's 120 put */
	assert_int_equal(n, 1);
	assert_int_equal(b[0].minor, 120);
	free(b);
	e.amount.minor = 3;
	assert_int_equal(store_ledger_append(t, "acme", &e), 0);     /* put at the commit */
	assert_int_equal(store_commit(t), 0);
	reopen(f);
	assert_int_equal(store_begin(f->s, false, &t), 0);
	assert_int_equal(store_ledger_balances(t, "acme", &b, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(b[0].minor, 123);
	free(b);
	assert_int_equal(store_ledger_balances(t, "acme-2", &b, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(b[0].minor, 5);
	free(b);
	store_abort(t);
	expect_clean(f->s);
}

static void test_verify_ledger(void **state) {
	fx *f = *state;
	char a[ORDER_NUMBER_MAX], h[ORDER_NUMBER_MAX], c[ORDER_NUMBER_MAX];
	create_with(f, ORDER_STATUS_CONFIRMED, true, a);
	post(f->s, "acme", LEDGER_CHARGE, a, 110000, 10);
	expect_clean(f->s);
	/* a confirmed account order without its charge */
	create_with(f, ORDER_STATUS_CONFIRMED, true, c);
	expect_one_diag(f->s, "order SO-00000002-1: confirmed account order has 0 charges");
	post(f->s, "acme", LEDGER_CHARGE, c, 110000, 11);
	expect_clean(f->s);
	/* charged twice */
	post(f->s, "acme", LEDGER_CHARGE, c, 110000, 12);
	expect_one_diag(f->s, "order SO-00000002-1: confirmed account order has 2 charges");
	post(f->s, "acme", LEDGER_CREDIT, c, 110000, 13);
	expect_clean(f->s);
	/* an on_hold order that was charged */
	create_with(f, ORDER_STATUS_ON_HOLD, false, h);
	post(f->s, "acme", LEDGER_CHARGE, h, 110000, 14);
	expect_one_diag(f->s, "order SO-00000003-7: on_hold but charged");
	/* a credit that matches no charge */
	post(f->s, "acme", LEDGER_CREDIT, h, 110000, 15);
	post(f->s, "acme", LEDGER_CREDIT, h, 110000, 16);
	expect_one_diag(f->s, "order SO-00000003-7: a credit matches no charge (1 charges, 2 credits)");
	post(f->s, "acme", LEDGER_CHARGE, h, 110000, 17);
	expect_clean(f->s);
	/* a credit of another amount than the charge */
	char d[ORDER_NUMBER_MAX];
	create_with(f, ORDER_STATUS_CANCELLED, false, d);
	post(f->s, "acme", LEDGER_CHARGE, d, 500, 18);
	post(f->s, "acme", LEDGER_CREDIT, d, 499, 19);
	expect_one_diag(f->s, "order SO-00000004-5: a credit matches no charge (1 charges, 1 credits)");
	post(f->s, "acme", LEDGER_CHARGE, d, 499, 20);
	post(f->s, "acme", LEDGER_CREDIT, d, 500, 21);
	expect_clean(f->s);
	/* an entry naming no order */
	char none[ORDER_NUMBER_MAX];
	order_number_format(99, none);
	post(f->s, "acme", LEDGER_PAYMENT, none, 5, 22);
	expect_one_diag(f->s, "ledger of acme: entry 13 names order SO-00000099-9, which does not exist");

	/* the balance is not the sum of the entries; a running balance wrong */
	store_close(f->s);
	f->s = NULL;
	raw_op(f->dir, "accounts", "acme\0EUR", 8, "{\"v\":1,\"balance\":1}", 19);
	assert_int_equal(store_open(f->dir, &readonly, &f->s), 0);
	diag_list diags = { 0 };
	assert_int_equal(store_verify(f->s, &diags), -EBADMSG);
	for (size_t i = 0; i < diags.n; i++)
		print_message("diag: %s\n", diags.v[i].msg);
	assert_int_equal(diags.n, 2);
	assert_string_equal(diags.v[0].msg, "account acme: balance 1 EUR, its entries sum to 219995");
	assert_string_equal(diags.v[1].msg, "ledger of acme: entry 13 names order SO-00000099-9, which does not exist");
	diag_list_clear(&diags);
	store_close(f->s);
	f->s = NULL;
	unsigned char key[13];
	memcpy(key, "acme", 5);
	be64(key + 5, 2);
	const char *rec = "{\"v\":1,\"seq\":2,\"kind\":\"charge\",\"order\":\"SO-00000002-1\",\"amount\":{\"minor\":110000,"
			  "\"currency\":\"EUR\"},\"at\":11,\"balance_after\":{\"minor\":7,\"currency\":\"EUR\"},"
			  "\"reference\":null,\"by\":null}";
	raw_op(f->dir, "ledger", key, 13, rec, strlen(rec));
	assert_int_equal(store_open(f->dir, &readonly, &f->s), 0);
	assert_int_equal(store_verify(f->s, &diags), -EBADMSG);
	for (size_t i = 0; i < diags.n; i++)
		print_message("diag: %s\n", diags.v[i].msg);
	assert_int_equal(diags.n, 3);
	assert_string_equal(diags.v[0].msg, "ledger of acme: entry 2: balance_after 7 EUR, the entries sum to 220000");
	diag_list_clear(&diags);
}

/* A store written before the ledger: its orders say "created" and have no
 * charges; they read as confirmed and verify stays clean. */
static void test_ledger_old_orders(void **state) {
	fx *f = *state;
	good_store(f);
	store_txn *t;
	sales_order *o;
	assert_int_equal(store_begin(f->s, false, &t), 0);
	assert_int_equal(store_order_get(t, "SO-00000001-3", &o), 0);
	store_abort(t);
	assert_int_equal(o->status, ORDER_STATUS_CONFIRMED);
	assert_int_equal(o->n_history, 0);
	order_free(o);
	expect_clean(f->s);
}

/* ---- compact records (issue 12) and the JSON records of older stores ---- */

/* Everything a reader gets from the store, as text: the order, its event and
 * pending entry, the ledger, the schedule state. */
static void snapshot(store *s, char *out, size_t cap) {
	store_txn *t;
	sales_order *o;
	events e = { 0 };
	outq_seen q = { 0 };
	ledger_entry *le = NULL;
	size_t n_le = 0;
	sched_state st;
	assert_int_equal(store_begin(s, false, &t), 0);
	assert_int_equal(store_order_get(t, "SO-00000001-3", &o), 0);
	assert_int_equal(store_outbox_each(t, 0, events_cb, &e), 0);
	assert_int_equal(store_outq_each(t, false, 0, outq_seen_cb, &q), 0);
	assert_int_equal(store_ledger_last(t, "acme", 10, &le, &n_le), 0);
	assert_int_equal(store_sched_get(t, "acme-bulbs", &st), 0);
	store_abort(t);
	assert_int_equal(e.n, 1);
	assert_int_equal(q.n, 1);
	json_t *view = order_to_view(o);
	char *v = json_dumps(view, JSON_COMPACT | JSON_SORT_KEYS);
	size_t len = (size_t) snprintf(out, cap, "%s\n%" PRIu64 " %s %" PRId64 " %s\n%s\n", v, e.seq[0], e.type[0], e.at[0],
				       e.payload[0], q.line[0]);
	for (size_t i = 0; i < n_le; i++)
		len += (size_t) snprintf(out + len, cap - len, "ledger %" PRIu64 " %d %s %" PRId64 " %" PRId64 " %s\n",
					 le[i].seq, (int) le[i].kind, le[i].order, le[i].amount.minor,
					 le[i].balance_after.minor, le[i].by ? le[i].by : "-");
	snprintf(out + len, cap - len, "sched %" PRId64 " %" PRIu64 " %" PRIu64 " %d %016" PRIx64, st.watermark,
		 st.created, st.skipped, st.active, st.def_hash);
	for (size_t i = 0; i < n_le; i++)
		ledger_entry_done(&le[i]);
	free(le);
	free(v);
	json_decref(view);
	order_free(o);
}

/* One order of a standing order, with its ledger entry and schedule state. */
static void compact_store(fx *f) {
	sales_order a = sample("acme-bulbs", utc(2027, 2, 1, 4));
	assert_int_equal(order_transition_add(&a, a.created, "standingd", ORDER_STATUS_CONFIRMED, NULL), 0);
	a.charged = true;
	assert_int_equal(create(f->s, &a), 0);
	order_transitions_clear(&a);
	assert_string_equal(a.number, "SO-00000001-3");
	post(f->s, "acme", LEDGER_CHARGE, a.number, a.total.minor, a.created);
	store_txn *t;
	sched_state st = { .watermark = a.delivery, .created = 1, .active = true, .def_hash = UINT64_C(0x9f86d081884c7d65) };
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(store_sched_put(t, "acme-bulbs", &st), 0);
	assert_int_equal(store_commit(t), 0);
	expect_clean(f->s);
}

/* Raw LMDB: the value under key in db (copied into buf). */
static size_t raw_get(const char *dir, const char *db, const void *key, size_t klen, unsigned char *buf, size_t cap) {
	MDB_env *env;
	MDB_txn *txn = raw_begin(dir, &env);
	MDB_dbi dbi;
	MDB_val k = { .mv_size = klen, .mv_data = (void *) key }, v;
	assert_int_equal(mdb_dbi_open(txn, db, 0, &dbi), 0);
	assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
	assert_true(v.mv_size <= cap);
	memcpy(buf, v.mv_data, v.mv_size);
	raw_commit(env, txn);
	return v.mv_size;
}

/* The records as the code before issue 12 wrote them (JSON text) read exactly
 * as the compact ones: same order, event payload, pending entry, ledger entry
 * and schedule state; verify passes; an update rewrites the order compact. */
static void test_json_records_read(void **state) {
	fx *f = *state;
	compact_store(f);
	char before[4096], after[4096];
	snapshot(f->s, before, sizeof(before));
	sales_order *o = get(f->s, "SO-00000001-3");
	store_close(f->s);
	f->s = NULL;

	unsigned char k1[8], lk[13];
	be64(k1, 1);
	memcpy(lk, "acme", 5);
	be64(lk + 5, 1);
	char *order_json, *payload, *ledger_json, event[1024];
	assert_non_null(order_json = old_record_text(order_to_record(o, NULL)));
	assert_int_equal(order_event_created_dump(o, NULL, &payload), 0);
	snprintf(event, sizeof(event), "{\"v\":1,\"type\":\"order.created\",\"at\":%" PRId64 ",\"payload\":%s}", o->created,
		 payload);
	ledger_entry le = { .seq = 1, .kind = LEDGER_CHARGE, .order = "SO-00000001-3", .amount = o->total, .at = o->created,
			    .balance_after = o->total };
	assert_non_null(ledger_json = old_record_text(ledger_entry_to_record(&le)));
	static const char pending[] = "{\"v\":1,\"attempts\":0,\"next_at\":null,\"last_error\":null,\"key\":\"SO-00000001-3\"}";
	char sched[256];
	snprintf(sched, sizeof(sched), "{\"v\":1,\"watermark\":%" PRId64 ",\"created\":1,\"skipped\":0,\"active\":true,"
		 "\"def_hash\":\"9f86d081884c7d65\"}", o->delivery);
	raw_op(f->dir, "orders", k1, 8, order_json, strlen(order_json));
	raw_op(f->dir, "outbox", k1, 8, event, strlen(event));
	raw_op(f->dir, "outq", k1, 8, pending, strlen(pending));
	raw_op(f->dir, "ledger", lk, sizeof(lk), ledger_json, strlen(ledger_json));
	raw_op(f->dir, "sched", "acme-bulbs", 10, sched, strlen(sched));
	free(order_json);
	free(payload);
	free(ledger_json);

	/* read-only (standingctl) and read-write alike */
	assert_int_equal(store_open(f->dir, &readonly, &f->s), 0);
	snapshot(f->s, after, sizeof(after));
	assert_string_equal(after, before);
	expect_clean(f->s);
	reopen(f);
	snapshot(f->s, after, sizeof(after));
	assert_string_equal(after, before);
	expect_clean(f->s);
	store_close(f->s);
	f->s = NULL;
	/* they are JSON on disk; an update writes the order compact: the same order */
	unsigned char buf[2048];
	assert_true(raw_get(f->dir, "orders", k1, 8, buf, sizeof(buf)) > 0 && buf[0] == '{');
	assert_int_equal(store_open(f->dir, NULL, &f->s), 0);
	store_txn *t;
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(store_order_update(t, o), 0);
	assert_int_equal(store_commit(t), 0);
	snapshot(f->s, after, sizeof(after));
	assert_string_equal(after, before);
	expect_clean(f->s);
	store_close(f->s);
	f->s = NULL;
	assert_int_equal(raw_get(f->dir, "orders", k1, 8, buf, sizeof(buf)), 1 + 8 + 36);
	assert_int_equal(buf[0], 0x01);
	assert_int_equal(store_open(f->dir, NULL, &f->s), 0);
	order_free(o);
}

/* All of verify's findings, one per line. */
static char diags_buf[1024];
static const char *verify_diags(store *s) {
	diag_list diags = { 0 };
	int r = store_verify(s, &diags);
	size_t len = 0;
	diags_buf[0] = 0;
	for (size_t i = 0; i < diags.n; i++)
		len += (size_t) snprintf(diags_buf + len, sizeof(diags_buf) - len, "%s\n", diags.v[i].msg);
	assert_int_equal(r, diags.n ? -EBADMSG : 0);
	diag_list_clear(&diags);
	return diags_buf;
}

/* Damage in a compact record: verify names it as it names a broken JSON one, and
 * the readers refuse it (-EBADMSG), never guess. */
static void test_compact_damage(void **state) {
	fx *f = *state;
	compact_store(f);
	store_close(f->s);
	f->s = NULL;
	unsigned char k1[8], lk[13], good[2048], bad[2048], sk[8];
	be64(k1, 1);
	memcpy(lk, "acme", 5);
	be64(lk + 5, 1);
	static const struct { const char *db; int key; const char *found; } cases[] = {
		{ "orders", 0, "order SO-00000001-3: record is unreadable\n" },
		{ "outbox", 0, "outbox event 1: record is unreadable\norder SO-00000001-3: no order.created event\n" },
		{ "outq", 0, "pending event 1: record is unreadable\n" },
		/* (an unreadable entry stops the walk over the account's entries: so with a JSON one) */
		{ "ledger", 1, "ledger of acme: entry 1: record is unreadable\n"
			       "the store is damaged: a database could not be read to the end (Bad message)\n" },
		{ "sched", 2, "schedule state of acme-bulbs: record is unreadable\n" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const void *key = cases[i].key == 0 ? (const void *) k1 : cases[i].key == 1 ? (const void *) lk : "acme-bulbs";
		size_t klen = cases[i].key == 0 ? 8 : cases[i].key == 1 ? sizeof(lk) : 10;
		size_t n = raw_get(f->dir, cases[i].db, key, klen, good, sizeof(good));
		assert_int_equal(good[0], 0x01);
		/* cut short, one byte more, another tag; and the same found in a JSON record */
		for (int way = 0; way < 4; way++) {
			memcpy(bad, good, n);
			size_t bn = way == 0 ? n - 1 : way == 1 ? n + 1 : way == 2 ? n : 7;
			bad[n] = 0;
			if (way == 2)
				bad[0] = 0x02;
			if (way == 3)
				memcpy(bad, "{\"v\":1}", 7);
			raw_op(f->dir, cases[i].db, key, klen, bad, bn);
			assert_int_equal(store_open(f->dir, &readonly, &f->s), 0);
			assert_string_equal(verify_diags(f->s), cases[i].found);
			store_close(f->s);
			f->s = NULL;
		}
		raw_op(f->dir, cases[i].db, key, klen, good, n);
	}
	/* the order's shared part gone: the order is unreadable, to verify and readers */
	MDB_env *env;
	MDB_txn *txn = raw_begin(f->dir, &env);
	MDB_dbi dbi;
	MDB_val k, v;
	MDB_cursor *c;
	assert_int_equal(mdb_dbi_open(txn, "oshared", 0, &dbi), 0);
	assert_int_equal(mdb_cursor_open(txn, dbi, &c), 0);
	assert_int_equal(mdb_cursor_get(c, &k, &v, MDB_FIRST), 0);
	assert_int_equal(k.mv_size, 8);
	memcpy(sk, k.mv_data, 8);
	mdb_cursor_close(c);
	assert_int_equal(mdb_del(txn, dbi, &k, NULL), 0);
	raw_commit(env, txn);
	assert_int_equal(store_open(f->dir, &readonly, &f->s), 0);
	assert_string_equal(verify_diags(f->s), "order SO-00000001-3: record is unreadable\n");
	store_txn *t;
	sales_order *o;
	char *type, *payload;
	assert_int_equal(store_begin(f->s, false, &t), 0);
	assert_int_equal(store_order_get(t, "SO-00000001-3", &o), -EBADMSG);
	assert_int_equal(store_outbox_get(t, 1, &type, &payload, NULL), -EBADMSG);   /* expanded from the order */
	store_abort(t);
	store_close(f->s);
	f->s = NULL;
	/* the order's record names the key of its shared part */
	assert_true(raw_get(f->dir, "orders", k1, 8, good, sizeof(good)) > 9);
	assert_memory_equal(good + 1, sk, 8);
	assert_int_equal(store_open(f->dir, NULL, &f->s), 0);
}

/* store_order_create_from: the orders of one source in a transaction share the
 * part its first order wrote (encoded and checked once); another source's order
 * between them writes and reads its own; store_order_create (no source) never
 * takes a part kept for a source. */
static void test_order_create_from(void **state) {
	fx *f = *state;
	int src_a, src_b;
	sales_order a1 = sample("acme-bulbs", utc(2027, 2, 1, 4)), a2 = sample("acme-bulbs", utc(2027, 2, 2, 4));
	sales_order b1 = sample("rix-bulbs", utc(2027, 2, 1, 4)), a3 = sample("acme-bulbs", utc(2027, 2, 3, 4));
	sales_order c1 = sample("oslo-bulbs", utc(2027, 2, 1, 4));
	b1.customer = "rix";
	b1.ship_to.city = "Jūrmala";
	c1.customer = "oslo";
	store_txn *t;
	assert_int_equal(store_begin(f->s, true, &t), 0);
	assert_int_equal(store_order_create_from(t, &a1, &src_a), 0);
	assert_int_equal(store_order_create_from(t, &a2, &src_a), 0);
	assert_int_equal(store_order_create_from(t, &b1, &src_b), 0);
	assert_int_equal(store_order_create_from(t, &a3, &src_a), 0);
	assert_int_equal(store_order_create(t, &c1), 0);
	assert_int_equal(store_commit(t), 0);
	reopen(f);
	static const struct { const char *so, *customer, *city; } want[] = {
		{ "acme-bulbs", "acme", "Rīga" }, { "acme-bulbs", "acme", "Rīga" }, { "rix-bulbs", "rix", "Jūrmala" },
		{ "acme-bulbs", "acme", "Rīga" }, { "oslo-bulbs", "oslo", "Rīga" },
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		char number[ORDER_NUMBER_MAX];
		order_number_format(i + 1, number);
		sales_order *o = get(f->s, number);
		assert_string_equal(o->standing_order, want[i].so);
		assert_string_equal(o->customer, want[i].customer);
		assert_string_equal(o->ship_to.city, want[i].city);
		assert_int_equal(o->n_lines, 2);
		assert_string_equal(o->lines[1].sku, "SOCKET-E27");
		order_free(o);
	}
	/* one part per source: acme-bulbs', rix-bulbs', oslo-bulbs' */
	MDB_env *env;
	MDB_txn *txn = raw_begin(f->dir, &env);
	MDB_dbi dbi;
	MDB_stat st;
	assert_int_equal(mdb_dbi_open(txn, "oshared", 0, &dbi), 0);
	assert_int_equal(mdb_stat(txn, dbi, &st), 0);
	assert_int_equal(st.ms_entries, 3);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	put_sched(f->s, "acme-bulbs", utc(2027, 2, 3, 4));
	put_sched(f->s, "rix-bulbs", utc(2027, 2, 1, 4));
	put_sched(f->s, "oslo-bulbs", utc(2027, 2, 1, 4));
	expect_clean(f->s);
}

/* An older store (no oshared, no custopen: the upgrade adds both and fills
 * custopen from 120 orders) whose map is full to the last page a put can take:
 * the read-write open grows the map for what its upgrade writes, as a write
 * would, instead of failing, and everything reads as before. */
static void test_upgrade_full_map(void **state) {
	fx *f = *state;
	char dir[160];
	store_close(f->s);
	f->s = open_sized(f, "fullmap", 256 << 10, 64 << 20, dir);
	sales_order a = sample("acme-bulbs", utc(2027, 2, 1, 4));
	assert_int_equal(create(f->s, &a), 0);
	for (int i = 0; i < 119; i++) {
		sales_order x = sample(NULL, utc(2027, 3, 1, 4) + i * 3600);
		assert_int_equal(create(f->s, &x), 0);
	}
	sales_order *o = get(f->s, a.number);
	/* every order as the JSON record the version before wrote */
	char *json[120];
	for (uint64_t seq = 1; seq <= 120; seq++) {
		char number[ORDER_NUMBER_MAX];
		order_number_format(seq, number);
		sales_order *x = get(f->s, number);
		assert_non_null(json[seq - 1] = old_record_text(order_to_record(x, NULL)));
		order_free(x);
	}
	store_close(f->s);
	f->s = NULL;
	/* raw LMDB on a map of 1 MiB (recorded in the store: its size from now on);
	 * no fsync (a test's filler) */
	uint64_t map = 1 << 20;
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
	assert_int_equal(mdb_env_set_mapsize(env, map), 0);
	assert_int_equal(mdb_env_open(env, dir, MDB_NOSYNC, 0640), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "orders", 0, &dbi), 0);
	for (uint64_t seq = 1; seq <= 120; seq++) {
		unsigned char kb[8];
		be64(kb, seq);
		MDB_val k = { .mv_size = 8, .mv_data = kb }, v = { .mv_size = strlen(json[seq - 1]), .mv_data = json[seq - 1] };
		assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
		free(json[seq - 1]);
	}
	assert_int_equal(mdb_dbi_open(txn, "oshared", 0, &dbi), 0);
	assert_int_equal(mdb_drop(txn, dbi, 1), 0);
	assert_int_equal(mdb_dbi_open(txn, "custopen", 0, &dbi), 0);
	assert_int_equal(mdb_drop(txn, dbi, 1), 0);
	assert_int_equal(mdb_dbi_open(txn, "filler", MDB_CREATE, &dbi), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	/* fill: big values, then small ones, each in a transaction of its own, until none fits */
	static char junk[1500];
	int rc = 0;
	for (size_t size = sizeof(junk), i = 0; size >= 8; size /= 4)
		for (rc = 0; rc == 0; i++) {
			unsigned char kb[8];
			be64(kb, i);
			MDB_val k = { .mv_size = 8, .mv_data = kb }, v = { .mv_size = size, .mv_data = junk };
			assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
			if ((rc = mdb_put(txn, dbi, &k, &v, 0)) == 0)
				rc = mdb_txn_commit(txn);
			else
				mdb_txn_abort(txn);
			assert_true(rc == 0 || rc == MDB_MAP_FULL);
		}
	/* and the main database (where the upgrade adds oshared's record) with tiny keys */
	for (unsigned i = 0; rc != 0 || i == 0; i++) {
		char name[16];
		snprintf(name, sizeof(name), "~%u", i);
		MDB_val k = { .mv_size = strlen(name), .mv_data = name }, v = { 0 };
		assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
		if ((rc = mdb_put(txn, 1, &k, &v, 0)) == 0)   /* 1: LMDB's MAIN_DBI */
			rc = mdb_txn_commit(txn);
		else
			mdb_txn_abort(txn);
		assert_true(rc == 0 || rc == MDB_MAP_FULL);
		if (rc == MDB_MAP_FULL)
			break;
		rc = 1;
	}
	MDB_envinfo info;
	assert_int_equal(mdb_env_info(env, &info), 0);
	assert_int_equal(info.me_mapsize, map);
	mdb_env_close(env);
	/* read-only: no oshared, the JSON order as it was */
	store_options ro = { .flags = STORE_READONLY };
	assert_int_equal(store_open(dir, &ro, &f->s), 0);
	sales_order *back = get(f->s, a.number);
	assert_order_eq(back, o);
	order_free(back);
	store_close(f->s);
	f->s = NULL;
	/* read-write at that map size (a store grown to it and full, here set explicitly):
	 * the upgrade grows the map for oshared */
	store_options rw = { .map_size = map, .max_size = 64 << 20 };
	assert_int_equal(store_open(dir, &rw, &f->s), 0);
	assert_true(map_of(f->s) > map);
	assert_string_equal(custopen_list(f->s, "acme", 2), "SO-00000001-3 SO-00000002-1 more=1");
	back = get(f->s, a.number);
	assert_order_eq(back, o);
	order_free(back);
	sales_order b = sample("acme-bulbs", utc(2027, 2, 2, 4));
	assert_int_equal(create(f->s, &b), 0);
	put_sched(f->s, "acme-bulbs", b.delivery);
	expect_clean(f->s);
	order_free(o);
}

int main(int argc, char **argv) {
	if (argc > 1 && !strcmp(argv[1], "--child"))
		return child_main(argc, argv);
	if (!realpath(argv[0], self_path))
		snprintf(self_path, sizeof(self_path), "/proc/self/exe");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_rejects_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_occurrence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_each_delivery_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort_leaves_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_persists, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly_while_writing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_format_newer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_format_raised, setup, teardown),
		cmocka_unit_test_setup_teardown(test_grow_to_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cset_put_grown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_grow_replays_big_txn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_default_max_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disk_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_data_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_remap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reader_adopts_grown_map, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy_and_readonly_txn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_after_big_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sched, setup, teardown),
		cmocka_unit_test_setup_teardown(test_skips, setup, teardown),
		cmocka_unit_test_setup_teardown(test_update, setup, teardown),
		cmocka_unit_test_setup_teardown(test_customer_orders, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify_damaged_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify_customer_orders, setup, teardown),
		cmocka_unit_test_setup_teardown(test_customer_orders_old_store, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outbox, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outq, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outq_old_store, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crm_old_store, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify_outq, setup, teardown),
		cmocka_unit_test_setup_teardown(test_defs_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify_clean, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ledger_append, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ledger_balance_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_order_create_from, setup, teardown),
		cmocka_unit_test_setup_teardown(test_due_in_one_txn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify_ledger, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ledger_old_orders, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify_missing_occurrence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify_watermark, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify_missing_event, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify_due_and_garbled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_json_records_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_compact_damage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_upgrade_full_map, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
