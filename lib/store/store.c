/* store: the LMDB sales store (layout and record formats: doc/store.md).
 * The creation path's records (orders, order.created events, pending entries,
 * ledger entries, schedule states) are compact: a tag byte and varints (issue
 * 12); every other value, and those records in older stores, is a compact JSON
 * document with "v": 1; readers take both. Every key that is iterated is
 * fixed-width big-endian so that cursor order is the order we want (time,
 * sequence). LMDB's error codes are turned into negative errno in store_errno()
 * and nowhere else. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <lmdb.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include "lib/base/bytes.h"
#include "lib/base/fsdir.h"
#include "lib/base/jfield.h"
#include "lib/base/text.h"
#include "lib/defs/defs.h"
#include "lib/time/cal.h"
#include "lib/store/store.h"

#define STORE_MAPSIZE_DEFAULT (UINT64_C(64) << 20)
#define STORE_MAX_DEFAULT_CAP (UINT64_C(1) << 40)
#define STORE_MAX_DEFAULT_UNKNOWN (UINT64_C(64) << 30)
/* Written once the store exists: a data.mdb that is then missing or empty is
 * damage, never a reason to start afresh. */
#define STORE_MARKER "store.created"
/* Free space below which a failed write is taken for a full disk. */
#define STORE_DISK_LOW (UINT64_C(256) << 10)
#define STORE_MAXDBS 32
#define STORE_FILE_MODE 0640
/* Read-only users (standingctl run by the ops group) register in the reader
 * table, so they must be able to write the lock file, never the data. */
#define STORE_LOCK_MODE 0660
#define STORE_RECORD_V 1
/* The same as a raw JSON member, for the records written as text directly. */
#define STORE_RECORD_V_MEMBER "\"v\":1"
/* LMDB's compiled-in key limit is 511; a fixed buffer avoids a malloc per key. */
#define STORE_KEY_MAX 511
#define STORE_BIAS (UINT64_C(1) << 63)

static const char META_FORMAT[] = "format";
static const char META_NEXT_ORDER[] = "next_order";
static const char META_NEXT_OUTBOX[] = "next_outbox";
static const char META_DEFS[] = "defs";
static const char META_API_DEFS[] = "api_defs";
static const char META_INSTANCE[] = "instance";
static const char META_NEXT_TASK[] = "next_task";
static const char META_NEXT_TASKQ[] = "next_taskq";
static const char META_NEXT_INTERACTION[] = "next_interaction";

struct store {
	MDB_env *env;
	MDB_dbi meta, sched, orders, occ, due, outbox, skips;
	MDB_dbi idem;           /* idempotency records; 0: not there (read-only on an older store) */
	MDB_dbi ledger, accounts, openq, payq; /* issue 9's ledger family; 0: not there (as idem) */
	MDB_dbi outq, outpark;  /* issue 10: pending and parked events; 0: not there (as idem) */
	MDB_dbi tasks, taskkey, taskidx, taskq, crmlog, remwm; /* issue 11: the CRM; 0: not there (as idem) */
	MDB_dbi custopen;       /* a customer's orders not shipped nor cancelled; 0: not there (as idem) */
	MDB_dbi oshared;        /* issue 12: the orders' shared parts; 0: not there (as idem) */
	char instance[STORE_INSTANCE_LEN + 1]; /* "" when the store has none yet (read-only, older) */
	bool readonly;
	bool writing;           /* LMDB blocks (deadlocks here) on a second write txn */
	unsigned n_txn;         /* open transactions: the map must not move under them */
	bool room_wanted;       /* the map was full with others open: grow when they end */
	MDB_txn *idle_read;     /* reset read transaction kept for reuse */
	size_t max_key;
	char *dir;
	store_options opts;     /* flags, sizes and the damage hook; diags not kept */
	uint64_t max_size;      /* the cap in force */
	int grow_error;         /* why the last growth failed, 0 */
	int lost;               /* -ENOTRECOVERABLE once the environment is gone */
};

/* One change of a write transaction, kept so that the transaction can be
 * replayed on a grown map after MDB_MAP_FULL (we are the only writer, so the
 * replay meets exactly the state the original met). */
typedef struct txn_op {
	MDB_dbi dbi;
	bool del;
	unsigned flags;
	MDB_val k, v;           /* copies, in one allocation with the op; v the caller's
				 * when borrowed (txn_put_borrowed) */
} txn_op;

struct store_txn {
	store *s;
	MDB_txn *txn;
	bool write;
	/* First failure that may have left a multi-record change half written:
	 * every later call and the commit return it, so a half change never lands. */
	int err;
	unsigned cursors;       /* open cursors: a replay would pull the txn from under them */
	txn_op **ops;
	size_t n_ops, cap_ops;
	struct op_block *blocks; /* where the ops and their copies live: freed together */
	/* One cursor per database for txn_put: LMDB's cursor put looks in the page
	 * the cursor is on before it searches from the root, and a batch's puts into
	 * an index mostly land next to the previous one. Freed with the transaction
	 * (LMDB closes a write transaction's cursors); closed by a delete there. */
	MDB_cursor *put_cur[STORE_MAXDBS];
	/* The due index's new entries (delivery, sequence), put in key order at the
	 * commit or before due is next read or changed (due_flush): a batch makes
	 * one standing order's backlog at a time, whose entries are all over the
	 * index; in key order each lands beside the one before. */
	struct due_ent { uint64_t at, seq; } *due_new;
	size_t n_due_new, cap_due_new;
	/* What this transaction read or wrote last, so that a batch of orders reads
	 * it once: the counters (next_order, next_outbox: key is the META_ array),
	 * a customer's last ledger sequence and one balance. Their only writers
	 * in a transaction are meta_put_u64 and store_ledger_append, which keep them. */
	struct { const char *key; uint64_t val; bool dirty; } counters[2]; /* dirty: written at commit */
	struct { bool ok; char customer[64]; uint64_t last; } ledger_last;
	/* dirty: not put yet; written when another balance is cached, when accounts
	 * is read with a cursor, and at the commit (balance_flush), not once per entry */
	struct { bool ok, dirty; char customer[64]; char currency[8]; int64_t balance; } balance;
	/* The order shared part this transaction wrote or found last (its key and
	 * bytes): the orders of one standing order come in a row. */
	struct { bool ok; unsigned char key[8]; size_t n; unsigned char data[512]; } shared;
	const void *shared_src;  /* whose strings made shared (store_order_create_from), NULL */
};

/* The change log's memory: blocks of at least OP_BLOCK bytes, newest first (a
 * batch of orders logs thousands of puts; one malloc each was a tenth of it). */
#define OP_BLOCK (64u << 10)
typedef struct op_block {
	struct op_block *next;
	size_t used, cap;
	max_align_t data[];
} op_block;

/* LMDB reports a short write as EIO, and a full file system mostly shows as
 * one: the write filled what was left. So EIO from a write environment counts
 * as the disk being full when the file system has (almost) nothing left, or the
 * data file has reached the process's file size limit. */
static bool write_refused(MDB_env *env) {
	const char *dir;
	int fd;
	struct statvfs fs;
	struct stat st;
	struct rlimit lim;
	if (!env || mdb_env_get_path(env, &dir) || mdb_env_get_fd(env, &fd))
		return false;
	if (statvfs(dir, &fs) == 0 && (uint64_t) fs.f_bavail * fs.f_frsize < STORE_DISK_LOW)
		return true;
	return fstat(fd, &st) == 0 && getrlimit(RLIMIT_FSIZE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY &&
	       (uint64_t) st.st_size + STORE_DISK_LOW > (uint64_t) lim.rlim_cur;
}

/* The one place LMDB's error space becomes errno. */
static int store_errno(MDB_env *env, int rc) {
	switch (rc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_NOTFOUND:
		return -ENOENT;
	case MDB_KEYEXIST:
		return -EEXIST;
	case MDB_MAP_FULL:
		return -EFBIG;   /* only seen when the map may not grow any more */
	case MDB_READERS_FULL: {
		/* Slots of crashed readers are only freed by a check; the caller retries. */
		int dead;
		if (env)
			mdb_reader_check(env, &dead);
		return -EAGAIN;
	}
	case MDB_MAP_RESIZED:
	case MDB_TLS_FULL:
		return -EAGAIN;
	case MDB_TXN_FULL:
		return -E2BIG;
	case MDB_DBS_FULL:
		return -EMFILE;
	case MDB_CURSOR_FULL:
		return -EBADMSG;   /* a tree deeper than LMDB walks: a damaged page */
	case MDB_VERSION_MISMATCH:
	case MDB_INCOMPATIBLE:
		return -EPROTO;
	case MDB_INVALID:
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_PAGE_FULL:
		return -EBADMSG;
	case MDB_PANIC:
		return -EIO;
	case MDB_BAD_VALSIZE:
	case MDB_BAD_RSLOT:
	case MDB_BAD_TXN:
	case MDB_BAD_DBI:
		return -EINVAL;
	case EIO:
		return write_refused(env) ? -ENOSPC : -EIO;
	case ENOSPC:
	case EDQUOT:
	case EFBIG:   /* a write past RLIMIT_FSIZE or the file system's file size limit */
		return -ENOSPC;   /* the file system refuses the data, not the map */
	default:
		return rc > 0 ? -rc : -EIO;
	}
}

/* ---- keys ---- */

static void be64_put(unsigned char *p, uint64_t v) {
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char) v;
}

static uint64_t be64_get(const unsigned char *p) {
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* Flipping the sign bit makes unsigned byte order equal signed numeric order. */
static uint64_t bias(int64_t t) {
	return (uint64_t) t ^ STORE_BIAS;
}

static int64_t unbias(uint64_t v) {
	return (int64_t) (v ^ STORE_BIAS);
}

static int check_id(const store *s, const char *id, size_t extra) {
	if (!id || !*id)
		return -EINVAL;
	size_t n = strlen(id);
	if (n + extra > s->max_key || n + extra > STORE_KEY_MAX)
		return -ENAMETOOLONG;
	return 0;
}

/* so id, NUL, biased delivery: groups a standing order's entries in time order. */
static int so_key(const store *s, const char *so_id, int64_t delivery,
		  unsigned char buf[STORE_KEY_MAX], MDB_val *ret) {
	int r = check_id(s, so_id, 9);
	if (r < 0)
		return r;
	size_t n = strlen(so_id);
	memcpy(buf, so_id, n + 1);
	be64_put(buf + n + 1, bias(delivery));
	*ret = (MDB_val) { .mv_size = n + 9, .mv_data = buf };
	return 0;
}

/* Splits an so_key; so_id gets a NUL-terminated copy. */
static int so_key_parse(const MDB_val *k, char so_id[STORE_KEY_MAX + 1], int64_t *ret_delivery) {
	const unsigned char *p = k->mv_data;
	if (k->mv_size < 10 || k->mv_size > STORE_KEY_MAX)
		return -EBADMSG;
	size_t n = k->mv_size - 9;
	if (p[n] != 0 || memchr(p, 0, n))
		return -EBADMSG;
	memcpy(so_id, p, n + 1);
	*ret_delivery = unbias(be64_get(p + n + 1));
	return 0;
}

static MDB_val seq_key(uint64_t seq, unsigned char buf[8]) {
	be64_put(buf, seq);
	return (MDB_val) { .mv_size = 8, .mv_data = buf };
}

static MDB_val due_key(int64_t delivery, uint64_t seq, unsigned char buf[16]) {
	be64_put(buf, bias(delivery));
	be64_put(buf + 8, seq);
	return (MDB_val) { .mv_size = 16, .mv_data = buf };
}

static MDB_val str_val(const char *s) {
	return (MDB_val) { .mv_size = strlen(s), .mv_data = (void *) s };
}

/* ---- transaction primitives ---- */

static int map_grow(store *s);
static int map_size(store *s, uint64_t *ret_size, uint64_t *ret_used);

static int txn_fail(store_txn *t, int r) {
	if (r < 0 && t->write && !t->err)
		t->err = r;
	return r;
}

static int due_flush(store_txn *t);

/* A read's LMDB code as errno. LMDB fails a read transaction for good when a
 * read meets a damaged page (MDB_CORRUPTED, MDB_PAGE_NOTFOUND: -EBADMSG); every
 * later read in it is MDB_BAD_TXN, which is that damage too, not a misuse (store
 * verify reads on after an unreadable record). */
static int read_errno(const store_txn *t, int rc) {
	return rc == MDB_BAD_TXN && !t->write ? -EBADMSG : store_errno(t->s->env, rc);
}

static int txn_get(store_txn *t, MDB_dbi dbi, MDB_val *k, MDB_val *v) {
	if (t->n_due_new && dbi == t->s->due && due_flush(t) < 0)
		return t->err;
	if (t->err)
		return t->err;
	return read_errno(t, mdb_get(t->txn, dbi, k, v));
}

static int op_log(store_txn *t, MDB_dbi dbi, bool del, const MDB_val *k, const MDB_val *v, unsigned flags,
		  bool borrow) {
	if (t->n_ops == t->cap_ops) {
		size_t cap = t->cap_ops ? t->cap_ops * 2 : 16;
		txn_op **ops = realloc(t->ops, cap * sizeof(*ops));
		if (!ops)
			return -ENOMEM;
		t->ops = ops;
		t->cap_ops = cap;
	}
	size_t vs = v ? v->mv_size : 0, copied = borrow ? 0 : vs;
	size_t need = (sizeof(txn_op) + k->mv_size + copied + 1 + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
	op_block *b = t->blocks;
	if (!b || b->cap - b->used < need) {
		size_t cap = need > OP_BLOCK ? need : OP_BLOCK;
		if (!(b = malloc(sizeof(*b) + cap)))
			return -ENOMEM;
		*b = (op_block) { .next = t->blocks, .cap = cap };
		t->blocks = b;
	}
	txn_op *op = (txn_op *) ((char *) b->data + b->used);
	b->used += need;
	char *p = (char *) (op + 1);
	memcpy(p, k->mv_data, k->mv_size);
	if (copied)
		memcpy(p + k->mv_size, v->mv_data, copied);
	*op = (txn_op) { .dbi = dbi, .del = del, .flags = flags,
			 .k = { .mv_size = k->mv_size, .mv_data = p },
			 .v = { .mv_size = vs, .mv_data = borrow ? v->mv_data : p + k->mv_size } };
	t->ops[t->n_ops++] = op;
	return 0;
}

static void op_log_free(store_txn *t) {
	while (t->blocks) {
		op_block *next = t->blocks->next;
		free(t->blocks);
		t->blocks = next;
	}
	free(t->ops);
	t->ops = NULL;
	t->n_ops = t->cap_ops = 0;
	free(t->due_new);
	t->due_new = NULL;
	t->n_due_new = t->cap_due_new = 0;
}

/* LMDB has failed the transaction with MDB_MAP_FULL (it is unusable now): grow
 * the map and redo every change on a new transaction. Returns 0 or the LMDB
 * code / negative errno that stops it (MDB_MAP_FULL: may not grow); t->txn is
 * then a live transaction or NULL. */
static int txn_regrow(store_txn *t, bool txn_gone) {
	store *s = t->s;
	uint64_t cur = 0;
	if (map_size(s, &cur, NULL) == 0 && cur >= s->max_size)
		return MDB_MAP_FULL;   /* may not grow: waiting for the readers would not help */
	if (!t->cursors && s->n_txn != 1 && s->opts.release_readers)
		s->opts.release_readers(s->opts.release_ud);   /* readers lent to other threads */
	if (t->cursors || s->n_txn != 1) {
		/* the map must not move under other transactions: it grows once they
		 * have ended (txn_ended), long readers let go (store_room_wanted) */
		s->room_wanted = true;
		return EAGAIN;   /* not "may not grow": the writer retries soon */
	}
	for (;;) {
		memset(t->put_cur, 0, sizeof(t->put_cur));   /* gone with the transaction */
		if (!txn_gone)
			mdb_txn_abort(t->txn);
		t->txn = NULL;
		txn_gone = true;
		if (map_grow(s) < 0)
			return s->lost ? MDB_PANIC : MDB_MAP_FULL;
		int rc = mdb_txn_begin(s->env, NULL, 0, &t->txn);
		if (rc) {
			t->txn = NULL;
			return rc;
		}
		txn_gone = false;
		for (size_t i = 0; i < t->n_ops && !rc; i++) {
			txn_op *op = t->ops[i];
			rc = op->del ? mdb_del(t->txn, op->dbi, &op->k, NULL)
				     : mdb_put(t->txn, op->dbi, &op->k, &op->v, op->flags);
		}
		if (rc != MDB_MAP_FULL)
			return rc;
	}
}

/* mdb_put through the database's put cursor (t->put_cur). */
static int put_at(store_txn *t, MDB_dbi dbi, MDB_val *k, MDB_val *v, unsigned flags) {
	if (dbi >= STORE_MAXDBS)
		return mdb_put(t->txn, dbi, k, v, flags);
	if (!t->put_cur[dbi]) {
		int rc = mdb_cursor_open(t->txn, dbi, &t->put_cur[dbi]);
		if (rc) {
			t->put_cur[dbi] = NULL;
			return rc;
		}
	}
	return mdb_cursor_put(t->put_cur[dbi], k, v, flags);
}

/* Any failed put may leave LMDB's transaction unusable or a change half done;
 * with is_new (MDB_NOOVERWRITE) a key that is there is -EEXIST and leaves t
 * usable (LMDB refuses before it changes anything): the check that a key is
 * new and its write in one descent. */
static int txn_put_as(store_txn *t, MDB_dbi dbi, MDB_val *k, MDB_val *v, unsigned flags, bool is_new,
		      bool borrow) {
	if (!t->write)
		return -EROFS;
	if (t->n_due_new && dbi == t->s->due && due_flush(t) < 0)
		return t->err;
	if (t->err)
		return t->err;
	int rc = put_at(t, dbi, k, v, flags);
	if (rc == MDB_MAP_FULL && (rc = txn_regrow(t, false)) == 0)
		rc = put_at(t, dbi, k, v, flags);
	if (rc == MDB_KEYEXIST && is_new)
		return -EEXIST;
	if (rc == 0)
		return txn_fail(t, op_log(t, dbi, false, k, v, flags, borrow));
	return txn_fail(t, t->s->lost ? t->s->lost : store_errno(t->s->env, rc));
}

static int txn_put(store_txn *t, MDB_dbi dbi, MDB_val *k, MDB_val *v, unsigned flags) {
	return txn_put_as(t, dbi, k, v, flags, false, false);
}

/* txn_put whose value the caller keeps unchanged until the transaction ends
 * (committed or aborted): a replay puts it from there, not from a copy. For
 * large values (a compiled record: ~100 MB at 1,000,000 standing orders). */
static int txn_put_borrowed(store_txn *t, MDB_dbi dbi, MDB_val *k, MDB_val *v) {
	return txn_put_as(t, dbi, k, v, 0, false, true);
}

static int txn_put_new(store_txn *t, MDB_dbi dbi, MDB_val *k, MDB_val *v) {
	return txn_put_as(t, dbi, k, v, MDB_NOOVERWRITE, true, false);
}

static int txn_del(store_txn *t, MDB_dbi dbi, MDB_val *k) {
	if (!t->write)
		return -EROFS;
	if (t->err)
		return t->err;
	if (t->n_due_new && dbi == t->s->due && due_flush(t) < 0)
		return t->err;
	if (dbi < STORE_MAXDBS && t->put_cur[dbi]) {
		mdb_cursor_close(t->put_cur[dbi]);   /* LMDB keeps it right, but a put needs none after a delete */
		t->put_cur[dbi] = NULL;
	}
	int rc = mdb_del(t->txn, dbi, k, NULL);
	if (rc == MDB_MAP_FULL && (rc = txn_regrow(t, false)) == 0)
		rc = mdb_del(t->txn, dbi, k, NULL);
	if (rc == MDB_NOTFOUND)
		return -ENOENT;
	if (rc == 0)
		return txn_fail(t, op_log(t, dbi, true, k, NULL, 0, false));
	return txn_fail(t, t->s->lost ? t->s->lost : store_errno(t->s->env, rc));
}

static int balance_flush(store_txn *t);

static int txn_cursor(store_txn *t, MDB_dbi dbi, MDB_cursor **ret) {
	if (t->err)
		return t->err;
	if (dbi == t->s->accounts && t->balance.dirty && balance_flush(t) < 0)
		return t->err;
	if (t->n_due_new && dbi == t->s->due && due_flush(t) < 0)
		return t->err;
	int r = store_errno(t->s->env, mdb_cursor_open(t->txn, dbi, ret));
	if (r == 0)
		t->cursors++;
	return r;
}

static void cursor_close(store_txn *t, MDB_cursor *c) {
	mdb_cursor_close(c);
	t->cursors--;
}

static int cursor_get(store_txn *t, MDB_cursor *c, MDB_val *k, MDB_val *v, MDB_cursor_op op) {
	return read_errno(t, mdb_cursor_get(c, k, v, op));
}

static int meta_get_u64(store_txn *t, const char *key, uint64_t dflt, uint64_t *ret) {
	for (size_t i = 0; i < 2 && !t->err; i++)
		if (t->counters[i].key == key) {
			*ret = t->counters[i].val;
			return 0;
		}
	MDB_val k = str_val(key), v;
	int r = txn_get(t, t->s->meta, &k, &v);
	if (r == -ENOENT) {
		*ret = dflt;
		return 0;
	}
	if (r < 0)
		return r;
	if (v.mv_size != 8)
		return -EBADMSG;
	*ret = be64_get(v.mv_data);
	return 0;
}

static int meta_put_u64(store_txn *t, const char *key, uint64_t val) {
	if (key == META_NEXT_ORDER || key == META_NEXT_OUTBOX) {
		/* once per transaction, at its commit (counters_flush), not once per order */
		if (!t->write)
			return -EROFS;
		if (t->err)
			return t->err;
		size_t i = key == META_NEXT_ORDER ? 0 : 1;
		t->counters[i].key = key;
		t->counters[i].val = val;
		t->counters[i].dirty = true;
		return 0;
	}
	unsigned char b[8];
	MDB_val k = str_val(key), v = seq_key(val, b);
	return txn_put(t, t->s->meta, &k, &v, 0);
}

/* Writes the counters meta_put_u64 kept for the commit. */
static void counters_flush(store_txn *t) {
	for (size_t i = 0; i < 2 && !t->err; i++) {
		if (!t->counters[i].dirty)
			continue;
		unsigned char b[8];
		MDB_val k = str_val(t->counters[i].key), v = seq_key(t->counters[i].val, b);
		txn_fail(t, txn_put(t, t->s->meta, &k, &v, 0));
		t->counters[i].dirty = false;
	}
}

/* ---- open, transactions, map size ---- */

uint64_t store_default_max_size(const char *dir) {
	struct statvfs fs;
	if (!dir || statvfs(dir, &fs) < 0)
		return STORE_MAX_DEFAULT_UNKNOWN;
	uint64_t total = (uint64_t) fs.f_blocks * (fs.f_frsize ? fs.f_frsize : fs.f_bsize);
	uint64_t half = total / 2;
	if (half < STORE_MAPSIZE_DEFAULT)
		return STORE_MAPSIZE_DEFAULT;
	return half > STORE_MAX_DEFAULT_CAP ? STORE_MAX_DEFAULT_CAP : half;
}

/* ---- checking data.mdb before LMDB maps it ----
 * LMDB trusts its file: a data file shorter than its last page makes every
 * reader die of SIGBUS, an empty one is taken for a new store. The layout read
 * here is LMDB 0.9's on-disk format on a 64-bit host (doc/store.md): two meta
 * pages, each a 16-byte page header (flags at byte 10) followed by MDB_meta. */
#define LMDB_PAGEHDR 16
#define LMDB_P_META 0x08
#define LMDB_MAGIC 0xBEEFC0DEu
#define LMDB_DATA_VERSION 1
#define LMDB_META_SIZE 136
#define LMDB_P_INVALID UINT64_MAX

typedef struct data_meta {
	bool exists;            /* a data file with content */
	uint64_t psize, last_pg, txnid, mapsize, file_size;
} data_meta;

static uint32_t rd32(const unsigned char *p) {
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t rd64(const unsigned char *p) {
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

/* Checks one meta page; 0 or -EUCLEAN with why filled. */
static int meta_read(int fd, uint64_t off, int i, data_meta *m, char *why, size_t n) {
	unsigned char b[LMDB_PAGEHDR + LMDB_META_SIZE];
	ssize_t got = pread(fd, b, sizeof(b), (off_t) off);
	if (got < 0)
		return -errno;
	if ((size_t) got < sizeof(b)) {
		snprintf(why, n, "is %" PRIu64 " bytes, too short to hold LMDB meta page %d: the file was truncated",
			 m->file_size, i);
		return -EUCLEAN;
	}
	const unsigned char *meta = b + LMDB_PAGEHDR;
	uint16_t flags;
	memcpy(&flags, b + 10, sizeof(flags));
	uint32_t psize = rd32(meta + 24);
	if (!(flags & LMDB_P_META) || rd32(meta) != LMDB_MAGIC) {
		snprintf(why, n, "meta page %d is damaged (not an LMDB meta page)", i);
		return -EUCLEAN;
	}
	if (rd32(meta + 4) != LMDB_DATA_VERSION) {
		snprintf(why, n, "meta page %d has LMDB data version %" PRIu32 ", expected %d", i, rd32(meta + 4),
			 LMDB_DATA_VERSION);
		return -EUCLEAN;
	}
	if (psize < 512 || psize > 65536 || (psize & (psize - 1)) || (i == 1 && psize != m->psize)) {
		snprintf(why, n, "meta page %d is damaged (page size %" PRIu32 ")", i, psize);
		return -EUCLEAN;
	}
	uint64_t last_pg = rd64(meta + 120), txnid = rd64(meta + 128);
	uint64_t roots[2] = { rd64(meta + 64), rd64(meta + 112) };
	for (int d = 0; d < 2; d++)
		if (roots[d] != LMDB_P_INVALID && (roots[d] < 2 || roots[d] > last_pg)) {
			snprintf(why, n, "meta page %d is damaged (root page %" PRIu64 " is not in 2..%" PRIu64 ")",
				 i, roots[d], last_pg);
			return -EUCLEAN;
		}
	if (last_pg < 1 || last_pg > (UINT64_MAX >> 17)) {
		snprintf(why, n, "meta page %d is damaged (last page %" PRIu64 ")", i, last_pg);
		return -EUCLEAN;
	}
	if (i == 0 || txnid > m->txnid) {
		m->psize = psize;
		m->last_pg = last_pg;
		m->txnid = txnid;
		m->mapsize = rd64(meta + 16);
	}
	return 0;
}

static int check_data_once(const char *dir, data_meta *ret, char *why, size_t n) {
	char path[PATH_MAX];
	data_meta m = { 0 };
	bool used = false;
	snprintf(path, sizeof(path), "%s/" STORE_MARKER, dir);
	used = access(path, F_OK) == 0;
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	*ret = m;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno != ENOENT)
			return -errno;
		if (used) {
			snprintf(why, n, "is missing, but %s/" STORE_MARKER " shows the store was in use", dir);
			return -EUCLEAN;
		}
		*ret = m;
		return 0;
	}
	struct stat st;
	int r = 0;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, n, "is not a regular file");
		r = -EUCLEAN;
		goto out;
	}
	if (st.st_size == 0) {
		if (used) {
			snprintf(why, n, "is empty (0 bytes), but the store was in use (" STORE_MARKER ")");
			r = -EUCLEAN;
		}
		/* no marker: a store being created right now, or whose creation was cut
		 * short; LMDB starts it, a reader finds no store */
		goto out;
	}
	m.exists = true;
	m.file_size = (uint64_t) st.st_size;
	if ((r = meta_read(fd, 0, 0, &m, why, n)) < 0 || (r = meta_read(fd, m.psize, 1, &m, why, n)) < 0) {
		if (!used && m.file_size < 2 * 65536) {
			/* the same, caught between LMDB's first writes */
			r = 0;
			m.exists = false;
			*ret = m;
		}
		goto out;
	}
	/* The meta is read before the size: a writer writes its pages before the
	 * meta that names them, so a live store never looks truncated here. */
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	m.file_size = (uint64_t) st.st_size;
	uint64_t need = (m.last_pg + 1) * m.psize;
	if (m.file_size < need) {
		snprintf(why, n, "is %" PRIu64 " bytes, but its last page (%" PRIu64 ") ends at byte %" PRIu64
			 ": the file was truncated", m.file_size, m.last_pg, need);
		r = -EUCLEAN;
		goto out;
	}
	*ret = m;
out:
	close(fd);
	return r;
}

/* A reader may catch a writer between writing a meta page's halves: a failed
 * check is repeated a few times before the store is called damaged. */
static int check_data(const char *dir, data_meta *ret, diag_list *diags) {
	char why[256] = "";
	int r = 0;
	for (int attempt = 0; attempt < 3; attempt++) {
		r = check_data_once(dir, ret, why, sizeof(why));
		if (r != -EUCLEAN || sizeof(void *) < 8)
			break;
		nanosleep(&(struct timespec) { .tv_nsec = 20 * 1000 * 1000 }, NULL);
	}
	if (sizeof(void *) < 8 && r == -EUCLEAN)
		r = 0;   /* the layout above is the 64-bit one; elsewhere LMDB is on its own */
	if (r == -EUCLEAN && diags) {
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/data.mdb", dir);
		diag_add(diags, path, 0, 0, "%s", why);
	}
	return r;
}

static int open_dbi(MDB_txn *txn, const char *name, unsigned flags, MDB_dbi *ret) {
	return mdb_dbi_open(txn, name, flags, ret);
}

/* The named databases added after the first version, in the order they came. */
static const struct { const char *name; size_t off; } later_dbs[] = {
	{ "idem", offsetof(store, idem) },
	{ "ledger", offsetof(store, ledger) },
	{ "accounts", offsetof(store, accounts) },
	{ "openq", offsetof(store, openq) },
	{ "payq", offsetof(store, payq) },
	{ "outq", offsetof(store, outq) },
	{ "outpark", offsetof(store, outpark) },
	{ "tasks", offsetof(store, tasks) },
	{ "taskkey", offsetof(store, taskkey) },
	{ "taskidx", offsetof(store, taskidx) },
	{ "taskq", offsetof(store, taskq) },
	{ "crmlog", offsetof(store, crmlog) },
	{ "remwm", offsetof(store, remwm) },
	{ "custopen", offsetof(store, custopen) },
	{ "oshared", offsetof(store, oshared) },
};

/* 16 lower-case hex digits from the kernel's random pool. */
static int instance_new(char ret[STORE_INSTANCE_LEN + 1]) {
	uint64_t x;
	size_t got = 0;
	while (got < sizeof(x)) {
		ssize_t n = getrandom((char *) &x + got, sizeof(x) - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		got += (size_t) n;
	}
	snprintf(ret, STORE_INSTANCE_LEN + 1, "%016" PRIx64, x);
	return 0;
}

static int instance_check(const MDB_val *v, char ret[STORE_INSTANCE_LEN + 1]) {
	if (v->mv_size != STORE_INSTANCE_LEN)
		return -EBADMSG;
	for (size_t i = 0; i < STORE_INSTANCE_LEN; i++) {
		char ch = ((const char *) v->mv_data)[i];
		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
			return -EBADMSG;
	}
	memcpy(ret, v->mv_data, STORE_INSTANCE_LEN);
	ret[STORE_INSTANCE_LEN] = '\0';
	return 0;
}

/* A read-write open of a store made by an older version: adds the databases and
 * the instance id it lacks, in one write transaction (only then: an existing
 * store is otherwise opened without writing, see store_setup). */
static int custopen_fill(store *s, MDB_txn *txn);
static int upgrade_once(store *s) {
	MDB_txn *txn;
	int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc)
		return store_errno(s->env, rc);
	bool fill = !s->custopen;   /* a new index of the orders there are: filled from them */
	for (size_t i = 0; i < sizeof(later_dbs) / sizeof(later_dbs[0]) && !rc; i++)
		rc = open_dbi(txn, later_dbs[i].name, MDB_CREATE, (MDB_dbi *) ((char *) s + later_dbs[i].off));
	if (!rc && fill) {
		int r = custopen_fill(s, txn);
		if (r < 0) {
			mdb_txn_abort(txn);
			return r;
		}
	}
	unsigned char fb[8];
	MDB_val fk = str_val(META_FORMAT), fv = seq_key(STORE_FORMAT, fb);
	if (!rc)
		rc = mdb_put(txn, s->meta, &fk, &fv, 0);   /* format 1 before the compact records */
	MDB_val k = str_val(META_INSTANCE), v;
	if (!rc && (rc = mdb_get(txn, s->meta, &k, &v)) == MDB_NOTFOUND) {
		int r = instance_new(s->instance);
		if (r < 0) {
			mdb_txn_abort(txn);
			return r;
		}
		v = str_val(s->instance);
		rc = mdb_put(txn, s->meta, &k, &v, 0);
	} else if (!rc && instance_check(&v, s->instance) < 0) {
		mdb_txn_abort(txn);
		return -EBADMSG;
	}
	if (rc) {
		mdb_txn_abort(txn);
		return store_errno(s->env, rc);
	}
	return store_errno(s->env, mdb_txn_commit(txn));
}

/* A store at its map size has no page for what the upgrade adds (issue 12's
 * oshared in a store of the version before): the map grows, as for any write,
 * up to max_size, and the upgrade runs again. */
static int store_upgrade(store *s) {
	enum { N = sizeof(later_dbs) / sizeof(later_dbs[0]) };
	MDB_dbi before[N];
	for (size_t i = 0; i < N; i++)
		before[i] = *(MDB_dbi *) ((char *) s + later_dbs[i].off);
	int r;
	while ((r = upgrade_once(s)) == -EFBIG) {
		/* the handles the aborted transaction opened are gone with it */
		for (size_t i = 0; i < N; i++)
			*(MDB_dbi *) ((char *) s + later_dbs[i].off) = before[i];
		if (map_grow(s) < 0)
			break;
	}
	return r;
}

/* Checks the format version before anything else is touched, then opens the
 * named databases once (their handles outlive this transaction). Without create
 * it only reads: a store that exists is opened without a write transaction, so a
 * damaged page is never copied (LMDB copies a page it writes by the lengths in
 * its header); -ENOENT when something is missing that create would make. */
static int store_setup(store *s, bool create) {
	MDB_txn *txn;
	unsigned cf = create ? MDB_CREATE : 0;
	int rc = mdb_txn_begin(s->env, NULL, create ? 0 : MDB_RDONLY, &txn);
	if (rc)
		return store_errno(s->env, rc);
	int r = 0;
	bool old_format = false;
	rc = open_dbi(txn, "meta", cf, &s->meta);
	if (rc == MDB_NOTFOUND) {
		r = -ENOENT;   /* read-only on an environment nobody initialised */
		goto out;
	}
	if (rc)
		goto out_rc;
	MDB_val k = str_val(META_FORMAT), v;
	rc = mdb_get(txn, s->meta, &k, &v);
	if (rc == 0) {
		if (v.mv_size != 8) {
			r = -EBADMSG;
			goto out;
		}
		uint64_t format = be64_get(v.mv_data);
		if (format > STORE_FORMAT) {
			r = -EPROTO;
			goto out;
		}
		if (format < 1) {
			r = -EBADMSG;
			goto out;
		}
		old_format = format < STORE_FORMAT;
	} else if (rc == MDB_NOTFOUND) {
		if (!create) {
			r = -ENOENT;
			goto out;
		}
		unsigned char b[8];
		MDB_val fv = seq_key(STORE_FORMAT, b);
		if ((rc = mdb_put(txn, s->meta, &k, &fv, 0)))
			goto out_rc;
	} else
		goto out_rc;
	if ((rc = open_dbi(txn, "sched", cf, &s->sched)) ||
	    (rc = open_dbi(txn, "orders", cf, &s->orders)) ||
	    (rc = open_dbi(txn, "occ", cf, &s->occ)) ||
	    (rc = open_dbi(txn, "due", cf, &s->due)) ||
	    (rc = open_dbi(txn, "outbox", cf, &s->outbox)) ||
	    (rc = open_dbi(txn, "skips", cf, &s->skips))) {
		if (rc == MDB_NOTFOUND && !create && !s->readonly) {
			r = -ENOENT;   /* the caller may create what is missing */
			goto out;
		}
		if (rc == MDB_NOTFOUND)
			rc = MDB_CORRUPTED;   /* versioned but incomplete */
		goto out_rc;
	}
	/* Added later (idem and the ledger family by issue 9, outq and outpark by
	 * issue 10): a store no daemon of that version has opened has none yet, which
	 * a reader takes as no records (the handle stays 0); a read-write open adds
	 * them afterwards in a write transaction of its own (store_upgrade). */
	bool upgrade = false;
	for (size_t i = 0; i < sizeof(later_dbs) / sizeof(later_dbs[0]); i++) {
		MDB_dbi *h = (MDB_dbi *) ((char *) s + later_dbs[i].off);
		if ((rc = open_dbi(txn, later_dbs[i].name, cf, h)) && rc != MDB_NOTFOUND)
			goto out_rc;
		if (rc) {
			*h = 0;
			upgrade = true;
		}
	}
	/* the instance id (issue 10): made with the store, or by the upgrade */
	k = str_val(META_INSTANCE);
	rc = mdb_get(txn, s->meta, &k, &v);
	if (rc == MDB_NOTFOUND && create) {
		if ((r = instance_new(s->instance)) < 0)
			goto out;
		MDB_val iv = str_val(s->instance);
		if ((rc = mdb_put(txn, s->meta, &k, &iv, 0)))
			goto out_rc;
	} else if (rc == MDB_NOTFOUND) {
		upgrade = true;
	} else if (rc) {
		goto out_rc;
	} else if ((r = instance_check(&v, s->instance)) < 0)
		goto out;
	if ((rc = mdb_txn_commit(txn)))
		return store_errno(s->env, rc);
	return (upgrade || old_format) && !s->readonly ? store_upgrade(s) : 0;
out_rc:
	r = store_errno(s->env, rc);
out:
	mdb_txn_abort(txn);
	return r;
}

static void on_lmdb_assert(MDB_env *env, const char *msg) {
	store *s = mdb_env_get_userctx(env);
	if (s && s->opts.on_damage)
		s->opts.on_damage(s->dir, msg, s->opts.ud);
}

/* Creates and opens the environment with map size mapsize (0: what the file
 * says) and opens the named databases, creating them only when may_create (a
 * store that was never set up). On failure s->env is NULL. */
static int env_open(store *s, uint64_t mapsize, bool may_create) {
	int rc = mdb_env_create(&s->env);
	if (rc) {
		s->env = NULL;
		return store_errno(NULL, rc);
	}
	int r;
	mdb_env_set_userctx(s->env, s);
	mdb_env_set_assert(s->env, on_lmdb_assert);
	if ((rc = mdb_env_set_maxdbs(s->env, STORE_MAXDBS)) ||
	    (mapsize && (rc = mdb_env_set_mapsize(s->env, (size_t) mapsize)))) {
		r = store_errno(s->env, rc);
		goto fail;
	}
	/* MDB_NOTLS: a reset read transaction keeps its reader slot, and a caller
	 * may hold more than one read transaction at a time. */
	rc = mdb_env_open(s->env, s->dir, MDB_NOTLS | (s->readonly ? MDB_RDONLY : 0), STORE_FILE_MODE);
	if (rc) {
		r = store_errno(s->env, rc);
		goto fail;
	}
	/* LMDB opens data.mdb inheritable (its lock file and meta handle it opens with
	 * O_CLOEXEC): a child the daemon starts (notify_command) must not get it */
	mdb_filehandle_t fd;
	if (mdb_env_get_fd(s->env, &fd) == 0 && fd >= 0)
		(void) fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC);
	if (!s->readonly) {
		char *lock = NULL;
		if (asprintf(&lock, "%s/lock.mdb", s->dir) >= 0) {
			(void) chmod(lock, STORE_LOCK_MODE);   /* best effort, see STORE_LOCK_MODE */
			free(lock);
		}
		int dead;
		mdb_reader_check(s->env, &dead);
	}
	int mk = mdb_env_get_maxkeysize(s->env);
	s->max_key = mk > 0 ? (size_t) mk : 0;
	r = store_setup(s, false);
	if (r == -ENOENT && may_create)
		r = store_setup(s, true);
	if (r < 0)
		goto fail;
	return 0;
fail:
	mdb_env_close(s->env);
	s->env = NULL;
	return r;
}

static void drop_idle_read(store *s) {
	if (s->idle_read) {
		mdb_txn_abort(s->idle_read);
		s->idle_read = NULL;
	}
}

/* mdb_env_set_mapsize unmaps before it maps again; when mapping fails the
 * environment has no map at all and the next transaction would crash on it.
 * So a failed remap reopens the environment at the size that worked, and when
 * even that fails the store is lost: every later call says so, none touches
 * LMDB. Only with no transaction open. */
static int map_set(store *s, uint64_t size, uint64_t old) {
	drop_idle_read(s);
	int rc = size > SIZE_MAX ? ENOMEM : mdb_env_set_mapsize(s->env, (size_t) size);
	if (rc == 0)
		return 0;
	int r = store_errno(s->env, rc);
	mdb_env_close(s->env);
	s->env = NULL;
	if (env_open(s, old, false) < 0)
		s->lost = -ENOTRECOVERABLE;
	return r;
}

static int map_size(store *s, uint64_t *ret_size, uint64_t *ret_used) {
	MDB_envinfo info;
	MDB_stat st;
	int rc = mdb_env_info(s->env, &info);
	if (!rc)
		rc = mdb_env_stat(s->env, &st);
	if (rc)
		return store_errno(s->env, rc);
	*ret_size = info.me_mapsize;
	if (ret_used)
		*ret_used = (uint64_t) (info.me_last_pgno + 1) * st.ms_psize;
	return 0;
}

/* Doubles the map, at most to max_size. -EFBIG when it is there already or
 * mapping a larger one failed (grow_error says why). */
static int map_grow(store *s) {
	uint64_t cur = 0;
	int r = map_size(s, &cur, NULL);
	if (r < 0)
		return r;
	if (cur >= s->max_size)
		return -EFBIG;
	uint64_t next = cur > s->max_size / 2 ? s->max_size : cur * 2;
	if ((r = map_set(s, next, cur)) < 0) {
		s->grow_error = r;
		return s->lost ? s->lost : -EFBIG;
	}
	s->grow_error = 0;
	return 0;
}

int store_open(const char *dir, const store_options *opts, store **ret) {
	static const store_options defaults = { 0 };
	if (!opts)
		opts = &defaults;
	if (!dir || !*dir || !ret || (opts->flags & ~(unsigned) STORE_READONLY) ||
	    (opts->max_size && opts->max_size < STORE_MAX_SIZE_MIN) ||
	    (opts->map_size && opts->max_size && opts->map_size > opts->max_size))
		return -EINVAL;
	bool ro = opts->flags & STORE_READONLY;
	int r = ro ? 0 : fsdir_make(dir, STORE_DIR_MODE);
	if (r < 0)
		return r;
	data_meta m = { 0 };
	if ((r = check_data(dir, &m, opts->diags)) < 0)
		return r;
	/* mdb_env_open would create lock.mdb before failing on a missing data file. */
	if (ro && !m.exists)
		return -ENOENT;

	store *s = calloc(1, sizeof(*s));
	if (!s || !(s->dir = strdup(dir))) {
		free(s);
		return -ENOMEM;
	}
	s->readonly = ro;
	s->opts = *opts;
	s->opts.diags = NULL;
	uint64_t mapsize = 0;
	if (!ro) {
		s->max_size = opts->max_size ? opts->max_size : store_default_max_size(dir);
		uint64_t floor = STORE_MAPSIZE_DEFAULT < s->max_size ? STORE_MAPSIZE_DEFAULT : s->max_size;
		/* the size it was last grown to, never below the default */
		mapsize = opts->map_size ? opts->map_size : m.mapsize > floor ? m.mapsize : floor;
	}
	char marker[PATH_MAX];
	snprintf(marker, sizeof(marker), "%s/" STORE_MARKER, dir);
	bool was_used = access(marker, F_OK) == 0;
	if ((r = env_open(s, mapsize, !ro && !was_used)) < 0) {
		free(s->dir);
		free(s);
		if (r == -ENOENT && m.exists && was_used) {
			/* not a store nobody set up: one whose main database lost its way */
			if (opts->diags) {
				char path[PATH_MAX];
				snprintf(path, sizeof(path), "%s/data.mdb", dir);
				diag_add(opts->diags, path, 0, 0, "has lost the store's databases, though the store was "
					 "in use (" STORE_MARKER ")");
			}
			r = -EUCLEAN;
		}
		return r;
	}
	if (!ro && !was_used) {
		int fd = open(marker, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, STORE_FILE_MODE);
		if (fd >= 0) {
			static const char text[] = "standingd store; data.mdb must not be missing or empty\n";
			(void) !write(fd, text, sizeof(text) - 1);
			close(fd);
		}
	}
	*ret = s;
	return 0;
}

void store_close(store *s) {
	if (!s)
		return;
	if (s->idle_read)
		mdb_txn_abort(s->idle_read);
	if (s->env)
		mdb_env_close(s->env);
	free(s->dir);
	free(s);
}

/* LMDB keeps every page a write transaction dirtied on the environment's list of
 * free pages (malloc'd, never given back before mdb_env_close): after a big
 * write the whole environment is closed and opened again at the map it has,
 * exactly as map_set does after a failed remap. */
int store_reopen(store *s) {
	if (!s)
		return -EINVAL;
	if (s->lost)
		return s->lost;
	if (s->n_txn)
		return -EBUSY;
	uint64_t cur = 0;
	int r = map_size(s, &cur, NULL);
	if (r < 0)
		return r;
	drop_idle_read(s);
	mdb_env_close(s->env);
	s->env = NULL;
	if ((r = env_open(s, cur, false)) < 0)
		s->lost = -ENOTRECOVERABLE;
	return r;
}

int store_get_info(store *s, store_info *ret) {
	if (!s || !ret)
		return -EINVAL;
	if (s->lost)
		return s->lost;
	store_info i = { .max_size = s->max_size, .grow_error = s->grow_error };
	int r = map_size(s, &i.map_size, &i.used);
	if (r < 0)
		return r;
	*ret = i;
	return 0;
}

int store_set_max_size(store *s, uint64_t max_size) {
	if (!s || (max_size && max_size < STORE_MAX_SIZE_MIN))
		return -EINVAL;
	if (s->readonly)
		return -EROFS;
	s->max_size = max_size ? max_size : store_default_max_size(s->dir);
	return 0;
}

int store_begin(store *s, bool write, store_txn **ret) {
	if (!s || !ret)
		return -EINVAL;
	if (s->lost)
		return s->lost;
	if (write && s->readonly)
		return -EROFS;
	if (write && s->writing)
		return -EBUSY;
	store_txn *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	MDB_txn *txn = NULL;
	int rc;
	for (int attempt = 0; ; attempt++) {
		rc = MDB_NOTFOUND;
		if (!write && s->idle_read) {
			txn = s->idle_read;
			s->idle_read = NULL;
			rc = mdb_txn_renew(txn);
			if (rc) {
				mdb_txn_abort(txn);
				txn = NULL;
			}
		}
		if (rc)
			rc = mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY, &txn);
		/* Another process grew the map: adopt its size, which is only safe
		 * while none of our transactions points into the old mapping. */
		if (rc == MDB_MAP_RESIZED && attempt == 0 && s->n_txn == 0) {
			uint64_t cur = 0;
			if (map_size(s, &cur, NULL) == 0 && map_set(s, 0, cur) == 0)
				continue;
			if (s->lost) {
				free(t);
				return s->lost;
			}
		}
		break;
	}
	if (rc) {
		free(t);
		return store_errno(s->env, rc);
	}
	*t = (store_txn) { .s = s, .txn = txn, .write = write };
	s->n_txn++;
	if (write)
		s->writing = true;
	*ret = t;
	return 0;
}

static void read_end(store *s, MDB_txn *txn) {
	if (!s->idle_read) {
		mdb_txn_reset(txn);
		s->idle_read = txn;
	} else
		mdb_txn_abort(txn);
}

/* After a transaction ended: the growth a write could not have while others were
 * open, now that none is. */
static void txn_ended(store *s) {
	if (s->room_wanted && !s->n_txn && !s->lost) {
		s->room_wanted = false;
		map_grow(s);
	}
}

store *store_txn_store(store_txn *t) {
	return t ? t->s : NULL;
}

bool store_room_wanted(const store *s) {
	return s && s->room_wanted;
}

int store_commit(store_txn *t) {
	if (!t)
		return -EINVAL;
	store *s = t->s;
	int r = 0;
	if (t->write) {
		counters_flush(t);
		balance_flush(t);
		due_flush(t);
	}
	if (t->write) {
		if (t->err) {
			if (t->txn)
				mdb_txn_abort(t->txn);
			r = t->err;
		} else {
			/* mdb_txn_commit frees the transaction in every case. The commit
			 * itself may need pages (the free list): grow, replay, again. */
			int rc = mdb_txn_commit(t->txn);
			t->txn = NULL;
			while (rc == MDB_MAP_FULL) {
				if ((rc = txn_regrow(t, true)) != 0)
					break;
				rc = mdb_txn_commit(t->txn);
				t->txn = NULL;
			}
			if (t->txn)
				mdb_txn_abort(t->txn);
			r = s->lost ? s->lost : store_errno(s->env, rc);
		}
		s->writing = false;
		op_log_free(t);
	} else
		read_end(s, t->txn);
	s->n_txn--;
	free(t);
	txn_ended(s);
	return r;
}

void store_abort(store_txn *t) {
	if (!t)
		return;
	store *s = t->s;
	if (t->write) {
		if (t->txn)
			mdb_txn_abort(t->txn);
		s->writing = false;
		op_log_free(t);
	} else
		read_end(s, t->txn);
	s->n_txn--;
	free(t);
	txn_ended(s);
}

/* ---- JSON helpers ---- */

/* The field helpers are lib/base/jfield's; short names in this file. */
#define jset jfield_set
#define jget_str jfield_str
#define jget_int jfield_int
#define jget_bool jfield_bool

/* A record object with its format version first. */
static json_t *record_new(void) {
	json_t *o = json_object();
	if (o && json_object_set_new(o, "v", json_integer(STORE_RECORD_V)) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Consumes j. A failed build is most often a string that is not UTF-8. */
static int record_dump(json_t *j, bool ok, char **ret) {
	if (!j || !ok) {
		json_decref(j);
		return -EINVAL;
	}
	char *text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (!text)
		return -ENOMEM;
	*ret = text;
	return 0;
}

static int record_load(const MDB_val *v, json_t **ret) {
	json_t *j = json_loadb(v->mv_data, v->mv_size, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
	if (!j)
		return -EBADMSG;
	json_t *ver = json_object_get(j, "v");
	if (!json_is_object(j) || !json_is_integer(ver) || json_integer_value(ver) != STORE_RECORD_V) {
		json_decref(j);
		return -EBADMSG;
	}
	*ret = j;
	return 0;
}

static int jget_count(json_t *o, const char *k, uint64_t *ret) {
	int64_t v;
	int r = jget_int(o, k, &v);
	if (r < 0)
		return r;
	if (v < 0)
		return -EBADMSG;
	*ret = (uint64_t) v;
	return 0;
}

/* ---- compact records (issue 12; doc/store.md "Compact records") ----
 * What the creation path writes (orders and their shared parts, order.created
 * events, pending and parked entries, ledger entries, schedule states) is written
 * compact: a tag byte, then varints and length-prefixed strings (lib/base/bytes.h).
 * A value that starts with '{' is a JSON record (every store before issue 12, and
 * the other families): both are read, the tag tells them apart. */
#define REC_COMPACT 0x01

static MDB_val bytes_val(const bytes_buf *b) {
	return (MDB_val) { .mv_size = b->n, .mv_data = b->p };
}

static uint64_t fnv1a64(const void *p, size_t n) {
	const unsigned char *c = p;
	uint64_t h = UINT64_C(14695981039346656037);
	for (size_t i = 0; i < n; i++)
		h = (h ^ c[i]) * UINT64_C(1099511628211);
	return h;
}

/* Stores an order's shared part once: under its FNV-1a hash, or the next free
 * key after it should another part hold that one. key: where it is. */
static int shared_put(store_txn *t, const bytes_buf *b, unsigned char key[8]) {
	if (!t->s->oshared)
		return -EROFS;
	if (t->shared.ok && t->shared.n == b->n && !memcmp(t->shared.data, b->p, b->n)) {
		memcpy(key, t->shared.key, 8);
		return 0;
	}
	uint64_t h = fnv1a64(b->p, b->n);
	int r = -EBADMSG;
	for (int probe = 0; probe < 64; probe++, h++) {
		MDB_val k = seq_key(h, key), v;
		r = txn_get(t, t->s->oshared, &k, &v);
		if (r == 0 && (v.mv_size != b->n || memcmp(v.mv_data, b->p, b->n))) {
			r = -EBADMSG;
			continue;   /* another part under this key */
		}
		if (r == -ENOENT) {
			v = bytes_val(b);
			r = txn_put(t, t->s->oshared, &k, &v, MDB_NOOVERWRITE);
		}
		break;
	}
	if (r < 0)
		return txn_fail(t, r);
	t->shared.ok = b->n <= sizeof(t->shared.data);
	if (t->shared.ok) {
		memcpy(t->shared.key, key, 8);
		memcpy(t->shared.data, b->p, b->n);
		t->shared.n = b->n;
	}
	return 0;
}

/* The order record: tag, the 8-byte key of its shared part in oshared, its own
 * part (order_bin_encode). Writes the shared part when it is new. */
static int order_to_bytes(store_txn *t, const sales_order *o, const char *number, const void *src, bytes_buf *out) {
	static const unsigned char head[9] = { REC_COMPACT };
	bytes_put(out, head, sizeof(head));
	if (src && t->shared.ok && t->shared_src == src) {
		/* src's shared part is the one kept: checked and written before */
		int r = order_bin_encode(o, number, out, NULL);
		if (r == 0 && out->failed)
			r = -ENOMEM;
		if (r == 0)
			memcpy(out->p + 1, t->shared.key, 8);
		return r;
	}
	unsigned char sb[512], key[8];
	bytes_buf sh;
	bytes_init(&sh, sb, sizeof(sb));
	int r = order_bin_encode(o, number, out, &sh);
	if (r == 0 && out->failed)
		r = -ENOMEM;
	if (r == 0 && (r = shared_put(t, &sh, key)) == 0)
		memcpy(out->p + 1, key, 8);
	t->shared_src = r == 0 ? src : NULL;
	bytes_free(&sh);
	return r;
}

/* Reads the order stored under seq, either form; its number must be seq's. */
static int order_from_val(store *s, MDB_txn *txn, uint64_t seq, const MDB_val *v, sales_order **ret) {
	char number[ORDER_NUMBER_MAX];
	order_number_format(seq, number);
	const unsigned char *p = v->mv_data;
	if (v->mv_size && p[0] == REC_COMPACT) {
		if (v->mv_size < 9 || !s->oshared)
			return -EBADMSG;
		MDB_val k = { .mv_size = 8, .mv_data = (void *) (p + 1) }, sv;
		int rc = mdb_get(txn, s->oshared, &k, &sv);
		if (rc)
			return rc == MDB_NOTFOUND ? -EBADMSG : store_errno(s->env, rc);
		int r = order_bin_decode(number, p + 9, v->mv_size - 9, sv.mv_data, sv.mv_size, ret);
		return r == -EINVAL ? -EBADMSG : r;
	}
	json_t *j;
	int r = record_load(v, &j);
	if (r < 0)
		return r;
	sales_order *o;
	r = order_from_record(j, &o);
	json_decref(j);
	if (r < 0)
		return r;
	if (strcmp(number, o->number)) {
		order_free(o);
		return -EBADMSG;
	}
	*ret = o;
	return 0;
}

/* order.created, compact: tag, the order's sequence, the delivery, at - delivery,
 * the total; the rest of its payload is the order's (standing order, customer,
 * supplier never change) and is put together when it is read. */
typedef struct event_created_rec { uint64_t order; int64_t delivery, at; money total; } event_created_rec;

static int event_created_parse(const MDB_val *v, event_created_rec *ret) {
	bytes_rd r = bytes_reader(v->mv_data, v->mv_size);
	event_created_rec e = { 0 };
	if (bytes_get_u8(&r) != REC_COMPACT)
		return -EBADMSG;
	e.order = bytes_get_uv(&r);
	e.delivery = bytes_get_sv(&r);
	e.at = (int64_t) ((uint64_t) e.delivery + (uint64_t) bytes_get_sv(&r));
	e.total.minor = bytes_get_sv(&r);
	bytes_get_fixed(&r, e.total.currency, sizeof(e.total.currency));
	if (!bytes_done(&r) || e.order == 0 || e.order > ORDER_SEQ_MAX)
		return r.nomem ? -ENOMEM : -EBADMSG;
	*ret = e;
	return 0;
}

static int order_load(store_txn *t, uint64_t seq, sales_order **ret);

/* An outbox record, either form: its type, payload (compact JSON text) and instant. */
static int outbox_from_val(store_txn *t, const MDB_val *v, char **ret_type, char **ret_payload, int64_t *ret_at) {
	char *ty = NULL, *text = NULL;
	int64_t at;
	int r = 0;
	if (v->mv_size && ((const unsigned char *) v->mv_data)[0] == REC_COMPACT) {
		event_created_rec e;
		sales_order *o;
		if ((r = event_created_parse(v, &e)) < 0)
			return r;
		if ((r = order_load(t, e.order, &o)) < 0)
			return r == -ENOENT ? -EBADMSG : r;   /* an event of no order: damage */
		sales_order c = *o;   /* the event's own facts over the order's */
		c.delivery = e.delivery;
		c.total = e.total;
		char number[ORDER_NUMBER_MAX];
		order_number_format(e.order, number);
		r = ret_payload ? order_event_created_dump(&c, number, &text) : 0;
		order_free(o);
		if (r < 0)
			return r;
		at = e.at;
		if (ret_type && !(ty = strdup(ORDER_EVENT_CREATED)))
			r = -ENOMEM;
	} else {
		json_t *j;
		if ((r = record_load(v, &j)) < 0)
			return r;
		json_t *type = json_object_get(j, "type"), *payload = json_object_get(j, "payload");
		if (!json_is_string(type) || !json_is_object(payload) || jget_int(j, "at", &at) < 0)
			r = -EBADMSG;
		else if ((ret_type && !(ty = strdup(json_string_value(type)))) ||
			 (ret_payload && !(text = json_dumps(payload, JSON_COMPACT))))
			r = -ENOMEM;
		json_decref(j);
	}
	if (r < 0) {
		free(ty);
		free(text);
		return r;
	}
	if (ret_type)
		*ret_type = ty;
	if (ret_payload)
		*ret_payload = text;
	if (ret_at)
		*ret_at = at;
	return 0;
}

/* ---- schedule state ---- */

/* Compact: tag, flags (1 active, 2 a watermark follows), the watermark, created,
 * skipped, the definition hash (8 bytes, big-endian). */
static int sched_to_bytes(const sched_state *st, bytes_buf *b) {
	if (st->created > INT64_MAX || st->skipped > INT64_MAX)
		return -EOVERFLOW;
	unsigned char h[8];
	be64_put(h, st->def_hash);
	bytes_u8(b, REC_COMPACT);
	bytes_u8(b, (st->active ? 1 : 0) | (st->watermark != INT64_MIN ? 2 : 0));
	if (st->watermark != INT64_MIN)
		bytes_sv(b, st->watermark);
	bytes_uv(b, st->created);
	bytes_uv(b, st->skipped);
	bytes_put(b, h, 8);
	return b->failed ? -ENOMEM : 0;
}

static int sched_from_bytes(const MDB_val *v, sched_state *ret) {
	bytes_rd r = bytes_reader(v->mv_data, v->mv_size);
	sched_state st = { .watermark = INT64_MIN };
	bytes_get_u8(&r);
	unsigned flags = bytes_get_u8(&r);
	if (flags & ~3u)
		r.bad = true;
	st.active = flags & 1;
	if (flags & 2) {
		st.watermark = bytes_get_sv(&r);
		if (st.watermark == INT64_MIN)
			r.bad = true;   /* "none" is said by the flag */
	}
	st.created = bytes_get_uv(&r);
	st.skipped = bytes_get_uv(&r);
	if (r.bad || r.end - r.p != 8 || st.created > INT64_MAX || st.skipped > INT64_MAX)
		return -EBADMSG;
	st.def_hash = be64_get(r.p);
	*ret = st;
	return 0;
}

static int sched_from_val(const MDB_val *v, sched_state *ret) {
	if (v->mv_size && ((const unsigned char *) v->mv_data)[0] == REC_COMPACT)
		return sched_from_bytes(v, ret);
	json_t *j;
	int r = record_load(v, &j);
	if (r < 0)
		return r;
	sched_state st = { 0 };
	json_t *wm = json_object_get(j, "watermark");
	json_t *h = json_object_get(j, "def_hash");
	r = -EBADMSG;
	if (json_is_null(wm))
		st.watermark = INT64_MIN;
	else if (json_is_integer(wm))
		st.watermark = json_integer_value(wm);
	else
		goto out;
	if (jget_count(j, "created", &st.created) < 0 || jget_count(j, "skipped", &st.skipped) < 0 ||
	    jget_bool(j, "active", &st.active) < 0 || !json_is_string(h) || json_string_length(h) != 16)
		goto out;
	char *end;
	const char *hs = json_string_value(h);
	if (strspn(hs, "0123456789abcdef") != 16)
		goto out;
	st.def_hash = strtoull(hs, &end, 16);
	*ret = st;
	r = 0;
out:
	json_decref(j);
	return r;
}

int store_sched_get(store_txn *t, const char *so_id, sched_state *ret) {
	if (!t || !ret)
		return -EINVAL;
	int r = check_id(t->s, so_id, 0);
	if (r < 0)
		return r;
	MDB_val k = str_val(so_id), v;
	if ((r = txn_get(t, t->s->sched, &k, &v)) < 0)
		return r;
	return sched_from_val(&v, ret);
}

int store_sched_put(store_txn *t, const char *so_id, const sched_state *st) {
	if (!t || !st)
		return -EINVAL;
	int r = check_id(t->s, so_id, 0);
	if (r < 0)
		return r;
	unsigned char buf[64];
	bytes_buf b;
	bytes_init(&b, buf, sizeof(buf));
	if ((r = sched_to_bytes(st, &b)) == 0) {
		MDB_val k = str_val(so_id), v = bytes_val(&b);
		r = txn_put(t, t->s->sched, &k, &v, 0);
	}
	bytes_free(&b);
	return r;
}

int store_sched_each(store_txn *t, int (*fn)(const char *so_id, const sched_state *st, void *ud), void *ud) {
	if (!t || !fn)
		return -EINVAL;
	MDB_cursor *c;
	int r = txn_cursor(t, t->s->sched, &c);
	if (r < 0)
		return r;
	MDB_val k, v;
	for (r = cursor_get(t, c, &k, &v, MDB_FIRST); r == 0; r = cursor_get(t, c, &k, &v, MDB_NEXT)) {
		char id[STORE_KEY_MAX + 1];
		sched_state st;
		if (k.mv_size == 0 || k.mv_size > STORE_KEY_MAX || memchr(k.mv_data, 0, k.mv_size)) {
			r = -EBADMSG;
			break;
		}
		memcpy(id, k.mv_data, k.mv_size);
		id[k.mv_size] = 0;
		if ((r = sched_from_val(&v, &st)) < 0 || (r = fn(id, &st, ud)) != 0)
			break;
	}
	cursor_close(t, c);
	return r == -ENOENT ? 0 : r;
}

/* ---- sales orders ---- */

static int order_check(const sales_order *o) {
	if (!o->customer || !o->supplier || (o->n_lines && !o->lines) ||
	    (o->occurrence > INT64_MAX && o->occurrence != UINT64_MAX) ||
	    (unsigned) o->status > ORDER_STATUS_CANCELLED ||
	    (o->payment != ORDER_PAYMENT_ACCOUNT && o->payment != ORDER_PAYMENT_PREPAID))
		return -EINVAL;
	for (size_t i = 0; i < o->n_lines; i++)
		if (!o->lines[i].sku)
			return -EINVAL;
	return 0;
}

/* Loads the order stored under seq and checks it names itself correctly. */
static int order_load(store_txn *t, uint64_t seq, sales_order **ret) {
	unsigned char kb[8];
	MDB_val k = seq_key(seq, kb), v;
	int r = txn_get(t, t->s->orders, &k, &v);
	if (r < 0)
		return r;
	return order_from_val(t->s, t->txn, seq, &v, ret);
}

static int outq_write(store_txn *t, bool parked, const store_outq_entry *e);
static int outq_to_bytes(bool parked, const store_outq_entry *e, bytes_buf *b);

/* An event's ordering key (doc/notify.md): its task, else its order, else its
 * customer's account. */
static char *outq_key_of(json_t *payload, uint64_t seq) {
	const char *order = json_string_value(json_object_get(payload, "order"));
	const char *cust = json_string_value(json_object_get(payload, "customer"));
	/* task.due: per task, never behind its order's mails (doc/notify.md) */
	const char *task_id = json_string_value(json_object_get(payload, "task"));
	char *k = NULL;
	int n = task_id ? asprintf(&k, "task:%s", task_id) : order ? asprintf(&k, "%s", order)
		: cust ? asprintf(&k, "customer:%s", cust) : asprintf(&k, "event:%" PRIu64, seq);
	return n < 0 ? NULL : k;
}

/* Appends one event and makes it pending; every failure after the first write
 * poisons t, so the record, its pending entry and its counter land together or
 * not at all. */
/* Puts the event record text (written by make(seq, ud)) under the next sequence
 * and its pending entry under key (NULL: key_of(seq, ud)). */
static int outbox_put_with(store_txn *t, int (*make)(uint64_t seq, void *ud, bytes_buf *out),
			   char *(*key_of)(uint64_t seq, void *ud), void *ud) {
	uint64_t seq;
	int r = meta_get_u64(t, META_NEXT_OUTBOX, 1, &seq);
	if (r < 0)
		return r;
	if (seq == UINT64_MAX)
		return -EOVERFLOW;
	unsigned char buf[256];
	bytes_buf b;
	bytes_init(&b, buf, sizeof(buf));
	if ((r = make(seq, ud, &b)) < 0 || (b.failed && (r = -ENOMEM))) {
		bytes_free(&b);
		return r;
	}
	/* Sequences only grow: appended (LMDB fills the pages instead of splitting
	 * them in half); a key not after the last is refused as one that exists. */
	unsigned char kb[8];
	MDB_val k = seq_key(seq, kb), v = bytes_val(&b);
	r = txn_put(t, t->s->outbox, &k, &v, MDB_APPEND);
	if (r == -EEXIST)
		return txn_fail(t, -EBADMSG);   /* the counter fell behind the records */
	if (r < 0)
		return r;
	store_outq_entry e = { .seq = seq, .next_at = INT64_MIN, .key = key_of(seq, ud) };
	b.n = 0;
	if (!e.key)
		r = -ENOMEM;
	else if (!t->s->outq)
		r = -EROFS;
	else if ((r = outq_to_bytes(false, &e, &b)) == 0) {
		/* pending entries are keyed by their event's sequence: appended too */
		v = bytes_val(&b);
		r = txn_put(t, t->s->outq, &k, &v, MDB_APPEND);
		if (r == -EEXIST)
			r = -EBADMSG;
	}
	bytes_free(&b);
	free(e.key);
	if (r < 0)
		return txn_fail(t, r);
	return meta_put_u64(t, META_NEXT_OUTBOX, seq + 1);
}

typedef struct event_tree { const char *type; json_t *payload; int64_t at; } event_tree;

static int event_tree_text(uint64_t seq, void *ud, bytes_buf *out) {
	event_tree *ev = ud;
	(void) seq;
	bool ok = true;
	json_t *j = record_new();
	jset(j, "type", json_string(ev->type), &ok);
	jset(j, "at", json_integer(ev->at), &ok);
	json_incref(ev->payload);
	jset(j, "payload", ev->payload, &ok);
	char *text;
	int r = record_dump(j, ok, &text);
	if (r == 0) {
		bytes_put(out, text, strlen(text));
		free(text);
	}
	return r;
}

static char *event_tree_key(uint64_t seq, void *ud) {
	return outq_key_of(((event_tree *) ud)->payload, seq);
}

static int outbox_put(store_txn *t, const char *type, json_t *payload, int64_t at) {
	event_tree ev = { type, payload, at };
	return outbox_put_with(t, event_tree_text, event_tree_key, &ev);
}

/* order.created, compact (event_created_parse), ordered by its order
 * (outq_key_of's answer). */
typedef struct event_created { const sales_order *o; uint64_t seq; const char *number; } event_created;

static int event_created_bytes(uint64_t seq, void *ud, bytes_buf *out) {
	event_created *ev = ud;
	(void) seq;
	bytes_u8(out, REC_COMPACT);
	bytes_uv(out, ev->seq);
	bytes_sv(out, ev->o->delivery);
	bytes_sv(out, (int64_t) ((uint64_t) ev->o->created - (uint64_t) ev->o->delivery));
	bytes_sv(out, ev->o->total.minor);
	bytes_str(out, ev->o->total.currency);
	return 0;
}

static char *event_created_key(uint64_t seq, void *ud) {
	(void) seq;
	return strdup(((event_created *) ud)->number);
}

static int openq_set(store_txn *t, const char *customer_id, uint64_t seq, bool open);
static int custopen_set(store_txn *t, const char *customer_id, uint64_t seq, bool open);
static int cust_seq_key(const store *s, const char *customer_id, uint64_t seq, unsigned char buf[STORE_KEY_MAX],
			MDB_val *ret);
static bool order_is_open(const sales_order *o) {
	return o->status == ORDER_STATUS_ON_HOLD || o->status == ORDER_STATUS_AWAITING_PAYMENT;
}
/* Open for the customer's profile (custopen): neither shipped nor cancelled. */
static bool order_is_live(const sales_order *o) {
	return o->status != ORDER_STATUS_SHIPPED && o->status != ORDER_STATUS_CANCELLED;
}

int store_order_create(store_txn *t, sales_order *o) {
	return store_order_create_from(t, o, NULL);
}

/* A new due entry, put by due_flush. */
static int due_add(store_txn *t, int64_t delivery, uint64_t seq) {
	if (t->n_due_new == t->cap_due_new) {
		size_t cap = t->cap_due_new ? t->cap_due_new * 2 : 256;
		struct due_ent *v = realloc(t->due_new, cap * sizeof(*v));
		if (!v)
			return txn_fail(t, -ENOMEM);
		t->due_new = v;
		t->cap_due_new = cap;
	}
	t->due_new[t->n_due_new++] = (struct due_ent) { bias(delivery), seq };
	return 0;
}

static int due_ent_cmp(const void *a, const void *b) {
	const struct due_ent *x = a, *y = b;
	if (x->at != y->at)
		return x->at < y->at ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Puts the due entries due_add kept, in key order; fails t on error. */
static int due_flush(store_txn *t) {
	size_t n = t->n_due_new;
	t->n_due_new = 0;   /* first: txn_put would flush again */
	if (!n || t->err)
		return t->err;
	qsort(t->due_new, n, sizeof(*t->due_new), due_ent_cmp);
	int r = 0;
	for (size_t i = 0; i < n && r == 0; i++) {
		unsigned char db[16];
		MDB_val dk = due_key(unbias(t->due_new[i].at), t->due_new[i].seq, db), empty = { 0 };
		r = txn_put(t, t->s->due, &dk, &empty, 0);
	}
	return txn_fail(t, r);
}

int store_order_create_from(store_txn *t, sales_order *o, const void *src) {
	if (!t || !o)
		return -EINVAL;
	if (!t->write)
		return -EROFS;
	if (t->err)
		return t->err;
	int r = order_check(o);
	if (r < 0)
		return r;
	unsigned char ob[STORE_KEY_MAX];
	MDB_val ok;
	if (o->standing_order && (r = so_key(t->s, o->standing_order, o->delivery, ob, &ok)) < 0)
		return r;
	uint64_t seq;
	if ((r = meta_get_u64(t, META_NEXT_ORDER, 1, &seq)) < 0)
		return r;
	if (seq == 0 || seq > ORDER_SEQ_MAX)
		return seq ? -EOVERFLOW : -EBADMSG;
	char number[ORDER_NUMBER_MAX];
	order_number_format(seq, number);

	/* Everything that can fail for bad input, before the first write: the
	 * encoding (the shared part is written with it: a write that fails fails
	 * the transaction). The event has no strings of its own. */
	unsigned char buf[512];
	bytes_buf b;
	bytes_init(&b, buf, sizeof(buf));
	if ((r = order_to_bytes(t, o, number, src, &b)) < 0) {
		bytes_free(&b);
		return t->err ? t->err : r;
	}
	event_created ev = { .o = o, .seq = seq, .number = number };
	unsigned char kb[8], sb[8];
	if (o->standing_order) {
		/* the first write: an occurrence made before is refused here, with
		 * nothing written (a new shared part at most, which is harmless) */
		MDB_val sv = seq_key(seq, sb);
		if ((r = txn_put_new(t, t->s->occ, &ok, &sv)) < 0) {
			bytes_free(&b);
			return r == -EEXIST ? r : txn_fail(t, r);
		}
	}
	MDB_val k = seq_key(seq, kb), rec = bytes_val(&b);
	r = txn_put(t, t->s->orders, &k, &rec, MDB_APPEND);   /* numbers only grow (as the outbox's) */
	bytes_free(&b);
	if (r == -EEXIST)
		r = txn_fail(t, -EBADMSG);
	if (r < 0)
		goto out;
	if ((r = due_add(t, o->delivery, seq)) < 0 ||
	    (r = outbox_put_with(t, event_created_bytes, event_created_key, &ev)) < 0 ||
	    (r = meta_put_u64(t, META_NEXT_ORDER, seq + 1)) < 0 ||
	    (order_is_open(o) && (r = openq_set(t, o->customer, seq, true)) < 0) ||
	    (order_is_live(o) && (r = custopen_set(t, o->customer, seq, true)) < 0))
		goto out;
	memcpy(o->number, number, ORDER_NUMBER_MAX);
out:
	return txn_fail(t, r);
}

static bool str_eq(const char *a, const char *b) {
	return a == b || (a && b && !strcmp(a, b));
}

int store_order_update(store_txn *t, const sales_order *o) {
	if (!t || !o)
		return -EINVAL;
	if (!t->write)
		return -EROFS;
	uint64_t seq;
	int r = order_number_parse(o->number, &seq);
	if (r < 0 || (r = order_check(o)) < 0)
		return r;
	sales_order *old;
	if ((r = order_load(t, seq, &old)) < 0)
		return r;
	/* An occurrence is identified by its scheduled delivery; moving it would
	 * make the engine create it again. One-time orders may move. */
	bool same = str_eq(old->standing_order, o->standing_order) && old->occurrence == o->occurrence &&
		    (!o->standing_order || old->delivery == o->delivery);
	int64_t old_delivery = old->delivery;
	bool was_open = order_is_open(old), was_live = order_is_live(old);
	order_free(old);
	if (!same)
		return -EINVAL;
	if (was_open != order_is_open(o) && (r = openq_set(t, o->customer, seq, order_is_open(o))) < 0)
		return r;
	if (was_live != order_is_live(o) && (r = custopen_set(t, o->customer, seq, order_is_live(o))) < 0)
		return r;
	char number[ORDER_NUMBER_MAX];
	order_number_format(seq, number);
	unsigned char buf[512];
	bytes_buf b;
	bytes_init(&b, buf, sizeof(buf));
	if ((r = order_to_bytes(t, o, number, NULL, &b)) < 0) {
		bytes_free(&b);
		return r;
	}
	unsigned char kb[8], db[16];
	MDB_val k = seq_key(seq, kb), rec = bytes_val(&b);
	r = txn_put(t, t->s->orders, &k, &rec, 0);
	bytes_free(&b);
	if (r < 0 || old_delivery == o->delivery)
		return r;
	MDB_val dk = due_key(old_delivery, seq, db), empty = { 0 };
	r = txn_del(t, t->s->due, &dk);
	if (r < 0 && r != -ENOENT)
		return r;
	dk = due_key(o->delivery, seq, db);
	return txn_fail(t, txn_put(t, t->s->due, &dk, &empty, 0));
}

int store_order_get(store_txn *t, const char *number, sales_order **ret) {
	if (!t || !ret)
		return -EINVAL;
	uint64_t seq;
	int r = order_number_parse(number, &seq);
	if (r < 0)
		return r;
	return order_load(t, seq, ret);
}

int store_occurrence_get(store_txn *t, const char *so_id, int64_t delivery, char ret_number[ORDER_NUMBER_MAX]) {
	if (!t || !ret_number)
		return -EINVAL;
	unsigned char ob[STORE_KEY_MAX];
	MDB_val k, v;
	int r = so_key(t->s, so_id, delivery, ob, &k);
	if (r < 0 || (r = txn_get(t, t->s->occ, &k, &v)) < 0)
		return r;
	if (v.mv_size != 8)
		return -EBADMSG;
	order_number_format(be64_get(v.mv_data), ret_number);
	return 0;
}

int store_order_each(store_txn *t, int64_t from, int64_t to,
		     int (*fn)(const sales_order *o, void *ud), void *ud) {
	return store_order_each_from(t, from, 0, to, fn, ud);
}

int store_order_each_from(store_txn *t, int64_t from, uint64_t from_seq, int64_t to,
			  int (*fn)(const sales_order *o, void *ud), void *ud) {
	if (!t || !fn)
		return -EINVAL;
	if (from >= to)
		return 0;
	MDB_cursor *c;
	int r = txn_cursor(t, t->s->due, &c);
	if (r < 0)
		return r;
	unsigned char db[16];
	MDB_val k = due_key(from, from_seq, db), v;
	for (r = cursor_get(t, c, &k, &v, MDB_SET_RANGE); r == 0; r = cursor_get(t, c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 16) {
			r = -EBADMSG;
			break;
		}
		if (unbias(be64_get(k.mv_data)) >= to)
			break;
		sales_order *o;
		r = order_load(t, be64_get((const unsigned char *) k.mv_data + 8), &o);
		if (r == -ENOENT)
			r = -EBADMSG;   /* the index names an order that is not there */
		if (r < 0)
			break;
		r = fn(o, ud);
		order_free(o);
		if (r != 0)
			break;
	}
	cursor_close(t, c);
	return r == -ENOENT ? 0 : r;
}

/* ---- skips ---- */

int store_skip_record(store_txn *t, const char *so_id, int64_t delivery, int64_t at, const char *reason) {
	if (!t || !reason)
		return -EINVAL;
	unsigned char kb[STORE_KEY_MAX];
	MDB_val k;
	int r = so_key(t->s, so_id, delivery, kb, &k);
	if (r < 0)
		return r;
	bool ok = true;
	json_t *j = record_new();
	jset(j, "at", json_integer(at), &ok);
	jset(j, "reason", json_string(reason), &ok);
	char *text;
	if ((r = record_dump(j, ok, &text)) < 0)
		return r;
	MDB_val v = str_val(text);
	r = txn_put(t, t->s->skips, &k, &v, 0);
	free(text);
	return r;
}

int store_skip_each(store_txn *t, int (*fn)(const char *so_id, int64_t delivery, int64_t at,
					    const char *reason, void *ud), void *ud) {
	if (!t || !fn)
		return -EINVAL;
	MDB_cursor *c;
	int r = txn_cursor(t, t->s->skips, &c);
	if (r < 0)
		return r;
	MDB_val k, v;
	for (r = cursor_get(t, c, &k, &v, MDB_FIRST); r == 0; r = cursor_get(t, c, &k, &v, MDB_NEXT)) {
		char id[STORE_KEY_MAX + 1], *reason = NULL;
		int64_t delivery, at;
		json_t *j;
		if ((r = so_key_parse(&k, id, &delivery)) < 0 || (r = record_load(&v, &j)) < 0)
			break;
		if ((r = jget_int(j, "at", &at)) == 0 && (r = jget_str(j, "reason", false, &reason)) == 0)
			r = fn(id, delivery, at, reason, ud);
		free(reason);
		json_decref(j);
		if (r != 0)
			break;
	}
	cursor_close(t, c);
	return r == -ENOENT ? 0 : r;
}

/* ---- outbox ---- */

int store_outbox_append(store_txn *t, const char *type, const char *payload_json, int64_t at) {
	if (!t || !type || !*type || !payload_json)
		return -EINVAL;
	if (!t->write)
		return -EROFS;
	json_t *p = json_loads(payload_json, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(p)) {
		json_decref(p);
		return -EINVAL;
	}
	int r = outbox_put(t, type, p, at);
	json_decref(p);
	return r;
}

int store_outbox_each(store_txn *t, uint64_t after_seq,
		      int (*fn)(uint64_t seq, const char *type, const char *payload_json, int64_t at, void *ud),
		      void *ud) {
	if (!t || !fn)
		return -EINVAL;
	if (after_seq == UINT64_MAX)
		return 0;
	MDB_cursor *c;
	int r = txn_cursor(t, t->s->outbox, &c);
	if (r < 0)
		return r;
	unsigned char kb[8];
	MDB_val k = seq_key(after_seq + 1, kb), v;
	for (r = cursor_get(t, c, &k, &v, MDB_SET_RANGE); r == 0; r = cursor_get(t, c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 8) {
			r = -EBADMSG;
			break;
		}
		uint64_t seq = be64_get(k.mv_data);
		int64_t at;
		char *type, *text;
		if ((r = outbox_from_val(t, &v, &type, &text, &at)) < 0)
			break;
		r = fn(seq, type, text, at, ud);
		free(type);
		free(text);
		if (r != 0)
			break;
	}
	cursor_close(t, c);
	return r == -ENOENT ? 0 : r;
}

int store_outbox_get(store_txn *t, uint64_t seq, char **ret_type, char **ret_payload_json, int64_t *ret_at) {
	if (!t)
		return -EINVAL;
	unsigned char kb[8];
	MDB_val k = seq_key(seq, kb), v;
	int r = txn_get(t, t->s->outbox, &k, &v);
	if (r < 0)
		return r;
	return outbox_from_val(t, &v, ret_type, ret_payload_json, ret_at);
}

/* ---- pending and parked events (issue 10) ----
 * outq:    u64 event seq -> {"v":1,"attempts":N,"next_at":T|null,"last_error":S|null,"key":K}
 * outpark: u64 event seq -> the same and "parked_at":T */

int store_instance(const store *s, char ret[STORE_INSTANCE_LEN + 1]) {
	if (!s || !ret)
		return -EINVAL;
	if (!s->instance[0])
		return -ENOENT;
	memcpy(ret, s->instance, STORE_INSTANCE_LEN + 1);
	return 0;
}

void store_outq_entry_done(store_outq_entry *e) {
	if (!e)
		return;
	free(e->last_error);
	free(e->key);
	e->last_error = e->key = NULL;
}

static MDB_dbi outq_dbi(const store_txn *t, bool parked) {
	return parked ? t->s->outpark : t->s->outq;
}

/* Compact: tag, flags, attempts, [next_at], [last_error], [parked_at], the key:
 * the confirmation number of a sequence, "event:" its own sequence, or text. */
enum { OQ_NEXT_AT = 1, OQ_ERROR = 2, OQ_PARKED = 4, OQ_KEY_ORDER = 8, OQ_KEY_EVENT = 16, OQ_ALL = 31 };

static int outq_to_bytes(bool parked, const store_outq_entry *e, bytes_buf *b) {
	if (!e->key || !*e->key || (e->last_error && text_utf8_prefix(e->last_error, strlen(e->last_error)) !=
				    strlen(e->last_error)) || text_utf8_prefix(e->key, strlen(e->key)) != strlen(e->key))
		return -EINVAL;
	uint64_t oseq = 0;
	char back[32];
	bool by_order = order_number_seq(e->key, &oseq) == 0, by_event = false;
	if (!by_order && !strncmp(e->key, "event:", 6)) {
		snprintf(back, sizeof(back), "event:%" PRIu64, e->seq);
		by_event = !strcmp(back, e->key);
	}
	bytes_u8(b, REC_COMPACT);
	bytes_u8(b, (e->next_at != INT64_MIN ? OQ_NEXT_AT : 0) | (e->last_error ? OQ_ERROR : 0) |
		    (parked ? OQ_PARKED : 0) | (by_order ? OQ_KEY_ORDER : 0) | (by_event ? OQ_KEY_EVENT : 0));
	bytes_uv(b, e->attempts);
	if (e->next_at != INT64_MIN)
		bytes_sv(b, e->next_at);
	if (e->last_error)
		bytes_str(b, e->last_error);
	if (parked)
		bytes_sv(b, e->parked_at);
	if (by_order)
		bytes_uv(b, oseq);
	else if (!by_event)
		bytes_str(b, e->key);
	return b->failed ? -ENOMEM : 0;
}

static int outq_from_bytes(bool parked, uint64_t seq, const MDB_val *v, store_outq_entry *ret) {
	bytes_rd r = bytes_reader(v->mv_data, v->mv_size);
	store_outq_entry e = { .seq = seq, .next_at = INT64_MIN };
	bytes_get_u8(&r);
	unsigned flags = bytes_get_u8(&r);
	uint64_t attempts = bytes_get_uv(&r);
	if (flags & ~(unsigned) OQ_ALL || !(flags & OQ_PARKED) != !parked || attempts > UINT32_MAX ||
	    (flags & OQ_KEY_ORDER && flags & OQ_KEY_EVENT))
		r.bad = true;
	e.attempts = (uint32_t) attempts;
	if (flags & OQ_NEXT_AT && (e.next_at = bytes_get_sv(&r)) == INT64_MIN)
		r.bad = true;   /* "at once" is said by the flag */
	if (flags & OQ_ERROR)
		e.last_error = bytes_get_str(&r);
	if (flags & OQ_PARKED)
		e.parked_at = bytes_get_sv(&r);
	char key[32];
	if (flags & OQ_KEY_ORDER) {
		uint64_t o = bytes_get_uv(&r);
		if (!r.bad && (o == 0 || o > ORDER_SEQ_MAX))
			r.bad = true;
		order_number_format(o, key);
		if (!r.bad && !(e.key = strdup(key)))
			r.bad = r.nomem = true;
	} else if (flags & OQ_KEY_EVENT) {
		snprintf(key, sizeof(key), "event:%" PRIu64, seq);
		if (!r.bad && !(e.key = strdup(key)))
			r.bad = r.nomem = true;
	} else if ((e.key = bytes_get_str(&r)) && !*e.key)
		r.bad = true;
	if (!bytes_done(&r)) {
		store_outq_entry_done(&e);
		return r.nomem ? -ENOMEM : -EBADMSG;
	}
	*ret = e;
	return 0;
}

static int outq_from_val(bool parked, const MDB_val *k, const MDB_val *v, store_outq_entry *ret) {
	if (k->mv_size != 8)
		return -EBADMSG;
	if (v->mv_size && ((const unsigned char *) v->mv_data)[0] == REC_COMPACT)
		return outq_from_bytes(parked, be64_get(k->mv_data), v, ret);
	json_t *j;
	int r = record_load(v, &j);
	if (r < 0)
		return r;
	store_outq_entry e = { .seq = be64_get(k->mv_data) };
	int64_t attempts = 0;
	json_t *na = json_object_get(j, "next_at");
	if ((r = jget_int(j, "attempts", &attempts)) < 0 || attempts < 0 || attempts > UINT32_MAX ||
	    (!json_is_null(na) && jget_int(j, "next_at", &e.next_at) < 0) ||
	    (r = jget_str(j, "last_error", true, &e.last_error)) < 0 || (r = jget_str(j, "key", false, &e.key)) < 0 ||
	    (parked && (r = jget_int(j, "parked_at", &e.parked_at)) < 0) || !na)
		r = r == -ENOMEM ? r : -EBADMSG;
	bool at_once = json_is_null(na);   /* na is j's: read before j goes */
	json_decref(j);
	if (r < 0) {
		store_outq_entry_done(&e);
		return r;
	}
	if (at_once)
		e.next_at = INT64_MIN;
	e.attempts = (uint32_t) attempts;
	*ret = e;
	return 0;
}

static int outq_write(store_txn *t, bool parked, const store_outq_entry *e) {
	MDB_dbi dbi = outq_dbi(t, parked);
	if (!dbi)
		return -EROFS;   /* a read-only open of an older store; a writer has them */
	unsigned char buf[256];
	bytes_buf b;
	bytes_init(&b, buf, sizeof(buf));
	int r = outq_to_bytes(parked, e, &b);
	if (r == 0) {
		unsigned char kb[8];
		MDB_val k = seq_key(e->seq, kb), v = bytes_val(&b);
		r = txn_put(t, dbi, &k, &v, 0);
	}
	bytes_free(&b);
	return r;
}

static int outq_writable(store_txn *t) {
	if (!t)
		return -EINVAL;
	if (!t->write)
		return -EROFS;
	return t->err;
}

int store_outq_get(store_txn *t, bool parked, uint64_t seq, store_outq_entry *ret) {
	if (!t || !ret)
		return -EINVAL;
	MDB_dbi dbi = outq_dbi(t, parked);
	if (!dbi)
		return -ENOENT;
	unsigned char kb[8];
	MDB_val k = seq_key(seq, kb), v;
	int r = txn_get(t, dbi, &k, &v);
	return r < 0 ? r : outq_from_val(parked, &k, &v, ret);
}

int store_outq_put(store_txn *t, bool parked, const store_outq_entry *e) {
	int r = outq_writable(t);
	if (r < 0 || !e)
		return r < 0 ? r : -EINVAL;
	unsigned char kb[8];
	MDB_val k = seq_key(e->seq, kb), v;
	if ((r = txn_get(t, t->s->outbox, &k, &v)) < 0)
		return r;
	return txn_fail(t, outq_write(t, parked, e));
}

int store_outq_del(store_txn *t, bool parked, uint64_t seq) {
	int r = outq_writable(t);
	if (r < 0)
		return r;
	MDB_dbi dbi = outq_dbi(t, parked);
	if (!dbi)
		return -ENOENT;
	unsigned char kb[8];
	MDB_val k = seq_key(seq, kb);
	r = txn_del(t, dbi, &k);
	return r == -ENOENT ? r : txn_fail(t, r);
}

int store_outq_each(store_txn *t, bool parked, uint64_t after_seq,
		    int (*fn)(const store_outq_entry *e, void *ud), void *ud) {
	if (!t || !fn)
		return -EINVAL;
	MDB_dbi dbi = outq_dbi(t, parked);
	if (!dbi || after_seq == UINT64_MAX)
		return 0;
	MDB_cursor *c;
	int r = txn_cursor(t, dbi, &c);
	if (r < 0)
		return r;
	unsigned char kb[8];
	MDB_val k = seq_key(after_seq + 1, kb), v;
	for (r = cursor_get(t, c, &k, &v, MDB_SET_RANGE); r == 0; r = cursor_get(t, c, &k, &v, MDB_NEXT)) {
		store_outq_entry e;
		if ((r = outq_from_val(parked, &k, &v, &e)) < 0)
			break;
		r = fn(&e, ud);
		store_outq_entry_done(&e);
		if (r != 0)
			break;
	}
	cursor_close(t, c);
	return r == -ENOENT ? 0 : r;
}

int store_outq_counts(store_txn *t, uint64_t *ret_pending, uint64_t *ret_parked) {
	if (!t || !ret_pending || !ret_parked)
		return -EINVAL;
	uint64_t n[2] = { 0, 0 };
	for (int i = 0; i < 2; i++) {
		MDB_dbi dbi = outq_dbi(t, i == 1);
		MDB_stat st;
		int rc;
		if (!dbi)
			continue;
		if ((rc = mdb_stat(t->txn, dbi, &st)))
			return store_errno(t->s->env, rc);
		n[i] = st.ms_entries;
	}
	*ret_pending = n[0];
	*ret_parked = n[1];
	return 0;
}

static int outq_first_fn(const store_outq_entry *e, void *ud) {
	store_outq_entry *ret = ud;
	*ret = *e;
	ret->key = ret->last_error = NULL;
	if ((e->key && !(ret->key = strdup(e->key))) || (e->last_error && !(ret->last_error = strdup(e->last_error)))) {
		store_outq_entry_done(ret);
		return -ENOMEM;
	}
	return 1;
}

int store_outq_first(store_txn *t, store_outq_entry *ret) {
	if (!ret)
		return -EINVAL;
	store_outq_entry e = { 0 };
	int r = store_outq_each(t, false, 0, outq_first_fn, &e);
	if (r == 0)
		return -ENOENT;
	if (r < 0)
		return r;
	*ret = e;
	return 0;
}

/* ---- last good definitions ---- */

/* The definition files are stored one value per file ("defs/NAME", "api_defs/NAME":
 * the file's bytes as they are) under a manifest record (key "defs", "api_defs")
 * naming them in order with their lengths, so that a change of one file rewrites
 * one value: a put compares each file with the stored bytes. A manifest whose
 * entries carry "data" is the older layout (every file inline); it is read as it
 * is and replaced by the next put. An entry with "compiled": true has no bytes
 * here: the file is in the compiled set (cset/NAME, issue 12), written in the same
 * transaction; store_defs_get gives it with data NULL. */

static int defs_file_key(const char *key, const char *name, char **ret) {
	if (asprintf(ret, "%s/%s", key, name) < 0)
		return -ENOMEM;
	return strlen(*ret) > 500 ? (free(*ret), -ENAMETOOLONG) : 0;
}

/* Whether fkey holds exactly these bytes. */
static bool defs_stored_same(store_txn *t, const char *fkey, const char *data, size_t len) {
	MDB_val fk = str_val(fkey), fv;
	return txn_get(t, t->s->meta, &fk, &fv) == 0 && fv.mv_size == len && (len == 0 || !memcmp(fv.mv_data, data, len));
}

static bool defs_named(const defs_file *files, size_t n, const char *name) {
	for (size_t i = 0; i < n; i++)
		if (!strcmp(files[i].name, name))
			return true;
	return false;
}

/* files[from..] (from > 0) are compiled: their names and lengths only. */
static int defs_put_key(store_txn *t, const char *key, const defs_file *files, size_t n, size_t from) {
	if (!t || (n && !files))
		return -EINVAL;
	/* what is stored now */
	json_t *oldj = NULL, *old = NULL;
	MDB_val k = str_val(key), v;
	int r = txn_get(t, t->s->meta, &k, &v);
	if (r == 0 && record_load(&v, &oldj) == 0)
		old = json_object_get(oldj, "files");
	else if (r < 0 && r != -ENOENT)
		return r;
	if (old && !json_is_array(old))
		old = NULL;
	bool ok = true;
	json_t *j = record_new();
	json_t *arr = json_array();
	r = 0;
	for (size_t i = 0; i < n && r == 0; i++) {
		if (!files[i].name) {
			ok = false;
			break;
		}
		/* data NULL with a length: the file is unchanged, its stored bytes stay */
		bool kept = files[i].len && !files[i].data;
		bool compiled = from && i >= from;
		const char *data = files[i].len ? files[i].data : "";
		json_t *f = json_object();
		jset(f, "name", json_string(files[i].name), &ok);
		jset(f, "len", json_integer((json_int_t) files[i].len), &ok);
		if (compiled)
			jset(f, "compiled", json_true(), &ok);
		if (json_array_append_new(arr, f) < 0)
			ok = false;
		char *fkey;
		if ((r = defs_file_key(key, files[i].name, &fkey)) < 0)
			break;
		if (compiled) {
			/* bytes stored by an earlier put go */
			MDB_val fk = str_val(fkey);
			if ((r = txn_del(t, t->s->meta, &fk)) == -ENOENT)
				r = 0;
		} else if (kept) {
			MDB_val fk = str_val(fkey), fv;
			r = txn_get(t, t->s->meta, &fk, &fv);
			if (r == 0 && fv.mv_size != files[i].len)
				r = -ESTALE;
		} else if (!defs_stored_same(t, fkey, data, files[i].len)) {
			/* UTF-8 only, as every string in the store (a set that loaded is:
			 * libyaml rejects anything else); checked in place (a copy of each
			 * file through jansson was 4% of a first start at 100,000) */
			MDB_val fk = str_val(fkey), fv = { .mv_size = files[i].len, .mv_data = (void *) data };
			r = text_utf8_prefix(data, files[i].len) == files[i].len ? txn_put(t, t->s->meta, &fk, &fv, 0)
										   : -EINVAL;
		}
		free(fkey);
	}
	/* files no longer in the set */
	size_t i;
	json_t *e;
	json_array_foreach(old, i, e) {
		const char *nm = json_string_value(json_object_get(e, "name"));
		if (r < 0 || !nm || json_object_get(e, "data") || defs_named(files, n, nm))
			continue;
		char *fkey;
		if ((r = defs_file_key(key, nm, &fkey)) < 0)
			break;
		MDB_val fk = str_val(fkey);
		r = txn_del(t, t->s->meta, &fk);
		if (r == -ENOENT)
			r = 0;
		free(fkey);
	}
	json_decref(oldj);
	jset(j, "files", arr, &ok);
	if (r < 0) {
		json_decref(j);
		return r;
	}
	char *text;
	if ((r = record_dump(j, ok, &text)) < 0)
		return r;
	v = str_val(text);
	r = txn_put(t, t->s->meta, &k, &v, 0);
	free(text);
	return r;
}

int store_defs_put(store_txn *t, const defs_file *files, size_t n) {
	return defs_put_key(t, META_DEFS, files, n, 0);
}

int store_defs_put_compiled(store_txn *t, const defs_file *files, size_t n) {
	return defs_put_key(t, META_DEFS, files, n, 1);
}

int store_api_defs_put(store_txn *t, const defs_file *files, size_t n) {
	return defs_put_key(t, META_API_DEFS, files, n, 0);
}

static void files_free(defs_file *f, size_t n) {
	for (size_t i = 0; i < n; i++) {
		free(f[i].name);
		free(f[i].data);
	}
	free(f);
}

static int defs_set_data(defs_file *ret, const void *p, size_t len) {
	ret->data = malloc(len + 1);   /* NUL-terminated for convenience, len is exact */
	if (!ret->data)
		return -ENOMEM;
	if (len)
		memcpy(ret->data, p, len);
	ret->data[len] = 0;
	ret->len = len;
	return 0;
}

/* One file's bytes: inline in an older manifest entry, else its own value. */
static int defs_get_data(store_txn *t, const char *key, json_t *e, const char *name, defs_file *ret) {
	json_t *d = json_object_get(e, "data"), *l = json_object_get(e, "len");
	if (json_is_true(json_object_get(e, "compiled"))) {
		/* in the compiled set: no bytes here */
		if (!json_is_integer(l) || json_integer_value(l) < 0)
			return -EBADMSG;
		ret->data = NULL;
		ret->len = (size_t) json_integer_value(l);
		return 0;
	}
	if (d)
		return json_is_string(d) ? defs_set_data(ret, json_string_value(d), json_string_length(d)) : -EBADMSG;
	char *fkey;
	int r = defs_file_key(key, name, &fkey);
	if (r < 0)
		return r;
	MDB_val fk = str_val(fkey), fv;
	r = txn_get(t, t->s->meta, &fk, &fv);
	free(fkey);
	if (r == -ENOENT || (r == 0 && (!json_is_integer(l) || (uint64_t) json_integer_value(l) != fv.mv_size)))
		return -EBADMSG;   /* the manifest names a file that is not there, or not so long */
	return r < 0 ? r : defs_set_data(ret, fv.mv_data, fv.mv_size);
}

static int defs_get_key(store_txn *t, const char *key, defs_file **ret_files, size_t *ret_n) {
	if (!t || !ret_files || !ret_n)
		return -EINVAL;
	MDB_val k = str_val(key), v;
	int r = txn_get(t, t->s->meta, &k, &v);
	if (r < 0)
		return r;
	json_t *j;
	if ((r = record_load(&v, &j)) < 0)
		return r;
	json_t *arr = json_object_get(j, "files");
	size_t n = json_array_size(arr);
	defs_file *f = NULL;
	r = -EBADMSG;
	if (!json_is_array(arr))
		goto out;
	f = calloc(n ? n : 1, sizeof(*f));
	if (!f) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(arr, i);
		r = -EBADMSG;
		if (!json_is_object(e) || (r = jget_str(e, "name", false, &f[i].name)) < 0 ||
		    (r = defs_get_data(t, key, e, f[i].name, &f[i])) < 0)
			goto fail;
	}
	*ret_files = f;
	*ret_n = n;
	r = 0;
	goto out;
fail:
	files_free(f, n);
out:
	json_decref(j);
	return r;
}

int store_defs_get(store_txn *t, defs_file **ret_files, size_t *ret_n) {
	return defs_get_key(t, META_DEFS, ret_files, ret_n);
}

int store_api_defs_get(store_txn *t, defs_file **ret_files, size_t *ret_n) {
	return defs_get_key(t, META_API_DEFS, ret_files, ret_n);
}

int store_skip_get(store_txn *t, const char *so_id, int64_t delivery, char **ret_reason) {
	if (!t)
		return -EINVAL;
	unsigned char kb[STORE_KEY_MAX];
	MDB_val k, v;
	int r = so_key(t->s, so_id, delivery, kb, &k);
	if (r < 0 || (r = txn_get(t, t->s->skips, &k, &v)) < 0)
		return r;
	if (!ret_reason)
		return 0;
	json_t *j;
	if ((r = record_load(&v, &j)) < 0)
		return r;
	r = jget_str(j, "reason", false, ret_reason);
	json_decref(j);
	return r;
}

int store_counts(store_txn *t, uint64_t *ret_orders, uint64_t *ret_outbox) {
	MDB_stat st;
	int r = mdb_stat(t->txn, t->s->orders, &st);
	if (r)
		return store_errno(t->s->env, r);
	*ret_orders = st.ms_entries;
	if ((r = mdb_stat(t->txn, t->s->outbox, &st)))
		return store_errno(t->s->env, r);
	*ret_outbox = st.ms_entries;
	return 0;
}

/* ---- idempotency records ----
 * One database, two kinds of key (doc/store.md): 'K' user NUL key -> the record;
 * 'T' biased time (8 bytes) user NUL key -> empty, the expiry index in time order. */

#define IDEM_TAG_KEY 'K'
#define IDEM_TAG_TIME 'T'

static int idem_check(const store_txn *t, const char *user, const char *key) {
	if (!t || !user || !*user || !key || !*key || strlen(key) > STORE_IDEM_KEY_MAX)
		return -EINVAL;
	if (strlen(user) + strlen(key) + 10 > STORE_KEY_MAX || strlen(user) + strlen(key) + 10 > t->s->max_key)
		return -ENAMETOOLONG;
	return 0;
}

/* tag, [time,] user, NUL, key */
static MDB_val idem_key(char tag, const int64_t *at, const char *user, const char *key, unsigned char buf[STORE_KEY_MAX]) {
	size_t n = 0, ul = strlen(user), kl = strlen(key);
	buf[n++] = (unsigned char) tag;
	if (at) {
		be64_put(buf + n, bias(*at));
		n += 8;
	}
	memcpy(buf + n, user, ul + 1);
	n += ul + 1;
	memcpy(buf + n, key, kl);
	return (MDB_val) { .mv_size = n + kl, .mv_data = buf };
}

static int idem_from_val(const MDB_val *v, char **ret_hash, char **ret_reply, int64_t *ret_at) {
	json_t *j;
	int r = record_load(v, &j);
	if (r < 0)
		return r;
	char *hash = NULL, *reply = NULL;
	int64_t at;
	if ((r = jget_str(j, "hash", false, &hash)) == 0 && (r = jget_str(j, "reply", false, &reply)) == 0 &&
	    (r = jget_int(j, "at", &at)) == 0) {
		if (ret_hash) {
			*ret_hash = hash;
			hash = NULL;
		}
		if (ret_reply) {
			*ret_reply = reply;
			reply = NULL;
		}
		if (ret_at)
			*ret_at = at;
	}
	free(hash);
	free(reply);
	json_decref(j);
	return r;
}

int store_idem_get(store_txn *t, const char *user, const char *key, char **ret_params_hash, char **ret_reply,
		   int64_t *ret_at) {
	int r = idem_check(t, user, key);
	if (r < 0)
		return r;
	if (!t->s->idem)
		return -ENOENT;   /* read-only on a store no daemon of issue 9 opened yet */
	unsigned char kb[STORE_KEY_MAX];
	MDB_val k = idem_key(IDEM_TAG_KEY, NULL, user, key, kb), v;
	if ((r = txn_get(t, t->s->idem, &k, &v)) < 0)
		return r;
	return idem_from_val(&v, ret_params_hash, ret_reply, ret_at);
}

int store_idem_put(store_txn *t, const char *user, const char *key, const char *params_hash, const char *reply,
		   int64_t at) {
	if (!params_hash || !*params_hash || !reply)
		return -EINVAL;
	int r = idem_check(t, user, key);
	if (r < 0)
		return r;
	if (!t->write)
		return -EROFS;
	unsigned char kb[STORE_KEY_MAX], tb[STORE_KEY_MAX];
	MDB_val k = idem_key(IDEM_TAG_KEY, NULL, user, key, kb), v;
	if ((r = txn_get(t, t->s->idem, &k, &v)) == 0)
		return -EEXIST;   /* nothing written: the first record stays */
	if (r != -ENOENT)
		return r;
	bool ok = true;
	json_t *j = record_new();
	jset(j, "hash", json_string(params_hash), &ok);
	jset(j, "reply", json_string(reply), &ok);
	jset(j, "at", json_integer(at), &ok);
	char *text;
	if ((r = record_dump(j, ok, &text)) < 0)
		return r;
	v = str_val(text);
	MDB_val tk = idem_key(IDEM_TAG_TIME, &at, user, key, tb), empty = { 0, (void *) "" };
	if ((r = txn_put(t, t->s->idem, &k, &v, 0)) == 0)
		r = txn_put(t, t->s->idem, &tk, &empty, 0);
	free(text);
	return r;
}

/* The expiry index's keys of at most max records older than before, copied (the
 * cursor is closed before anything is deleted: a replay must not run under it). */
static int idem_expired(store_txn *t, int64_t before, size_t max, MDB_val **ret, size_t *ret_n) {
	MDB_cursor *c;
	int r = txn_cursor(t, t->s->idem, &c);
	if (r < 0)
		return r;
	MDB_val *v = calloc(max ? max : 1, sizeof(*v));
	size_t n = 0;
	unsigned char first = IDEM_TAG_TIME;
	MDB_val k = { 1, &first }, d;
	if (!v)
		r = -ENOMEM;
	else
		r = cursor_get(t, c, &k, &d, MDB_SET_RANGE);
	for (; r == 0 && n < max; r = cursor_get(t, c, &k, &d, MDB_NEXT)) {
		const unsigned char *p = k.mv_data;
		if (k.mv_size < 1 || p[0] != IDEM_TAG_TIME)
			break;
		if (k.mv_size < 11 || !memchr(p + 9, 0, k.mv_size - 9)) {
			r = -EBADMSG;
			break;
		}
		if (unbias(be64_get(p + 1)) >= before)
			break;
		if (!(v[n].mv_data = malloc(k.mv_size))) {
			r = -ENOMEM;
			break;
		}
		memcpy(v[n].mv_data, p, k.mv_size);
		v[n++].mv_size = k.mv_size;
	}
	cursor_close(t, c);
	if (r == -ENOENT)
		r = 0;
	if (r < 0) {
		for (size_t i = 0; v && i < n; i++)
			free(v[i].mv_data);
		free(v);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

int store_idem_expire(store_txn *t, int64_t before, size_t max, size_t *ret_removed) {
	if (!t || !ret_removed)
		return -EINVAL;
	if (!t->write)
		return -EROFS;
	MDB_val *v = NULL;
	size_t n = 0;
	int r = idem_expired(t, before, max, &v, &n);
	if (r < 0)
		return r;
	size_t removed = 0;
	for (size_t i = 0; i < n && r == 0; i++) {
		/* the record's key is the tag and the part after the time */
		unsigned char kb[STORE_KEY_MAX];
		kb[0] = IDEM_TAG_KEY;
		memcpy(kb + 1, (unsigned char *) v[i].mv_data + 9, v[i].mv_size - 9);
		MDB_val k = { v[i].mv_size - 8, kb };
		if ((r = txn_del(t, t->s->idem, &v[i])) == 0 && (r = txn_del(t, t->s->idem, &k)) == -ENOENT)
			r = 0;   /* an index entry without its record: gone now too */
		if (r == 0)
			removed++;
	}
	for (size_t i = 0; i < n; i++)
		free(v[i].mv_data);
	free(v);
	if (r == 0)
		*ret_removed = removed;
	return r;
}

/* ---- verify ---- */

typedef struct created_event {
	uint64_t order;   /* sequence of the order it names */
	uint64_t seq;     /* outbox sequence */
} created_event;

static int created_event_cmp(const void *a, const void *b) {
	const created_event *x = a, *y = b;
	if (x->order != y->order)
		return x->order < y->order ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* ISO text for the years cal handles, raw seconds for garbage. */
static const char *when(int64_t t, char buf[CAL_ISO_MAX]) {
	if (t < INT64_C(-62135596800) || t > INT64_C(253402300799))
		snprintf(buf, CAL_ISO_MAX, "@%" PRId64, t);
	else
		cal_format_utc(t, buf);
	return buf;
}

typedef struct verify_ctx {
	store_txn *t;
	diag_list *diags;
	created_event *ev;
	size_t n_ev, cap_ev;
	uint64_t last_outbox, last_order;
} verify_ctx;

/* One diag per violation; no file or line: the store is not a text. */
static void violation(verify_ctx *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Bytes of a damaged store (a flipped bit in a key) named in a message: each byte
 * that does not belong to a well-formed UTF-8 sequence becomes \xHH, so that what
 * standingctl verify prints is text. */
static void violation(verify_ctx *v, const char *fmt, ...) {
	va_list ap;
	char *msg = NULL, *clean = NULL;
	va_start(ap, fmt);
	int n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n >= 0 && (clean = malloc(4 * (size_t) n + 1))) {
		char *o = clean;
		for (const unsigned char *p = (const unsigned char *) msg; *p;) {
			size_t k = text_utf8_seq((const char *) p, (size_t) (msg + n - (const char *) p), NULL);
			if (k) {
				memcpy(o, p, k);
				o += k;
				p += k;
			} else
				o += sprintf(o, "\\x%02x", *p++);
		}
		*o = 0;
	}
	if (clean)
		diag_add(v->diags, NULL, 0, 0, "%s", clean);
	else {
		va_start(ap, fmt);
		diag_vadd(v->diags, NULL, 0, 0, fmt, ap);
		va_end(ap);
	}
	free(msg);
	free(clean);
}

/* The order an outbox record's order.created names: 1 and *ret_order; 0 for
 * another type; -EBADMSG unreadable, -EINVAL no valid order number; -ENOMEM. */
static int verify_event_order(const MDB_val *val, uint64_t *ret_order) {
	if (val->mv_size && ((const unsigned char *) val->mv_data)[0] == REC_COMPACT) {
		event_created_rec ec;   /* compact: always order.created */
		int r = event_created_parse(val, &ec);
		if (r == 0)
			*ret_order = ec.order;
		return r < 0 ? r : 1;
	}
	json_t *j;
	if (record_load(val, &j) < 0)
		return -EBADMSG;
	json_t *type = json_object_get(j, "type"), *p = json_object_get(j, "payload");
	json_t *num = json_object_get(p, "order");
	int r = 1;
	if (!json_is_string(type) || !json_is_object(p))
		r = -EBADMSG;
	else if (strcmp(json_string_value(type), ORDER_EVENT_CREATED))
		r = 0;
	else if (!json_is_string(num) || order_number_parse(json_string_value(num), ret_order) < 0)
		r = -EINVAL;
	json_decref(j);
	return r;
}

static int verify_outbox(verify_ctx *v) {
	store_txn *t = v->t;
	MDB_cursor *c;
	int r = txn_cursor(t, t->s->outbox, &c);
	if (r < 0)
		return r;
	MDB_val k, val;
	for (r = cursor_get(t, c, &k, &val, MDB_FIRST); r == 0; r = cursor_get(t, c, &k, &val, MDB_NEXT)) {
		if (k.mv_size != 8) {
			violation(v, "outbox: malformed key of %zu bytes", k.mv_size);
			continue;
		}
		uint64_t seq = be64_get(k.mv_data), order;
		v->last_outbox = seq;
		int er = verify_event_order(&val, &order);
		if (er == -ENOMEM) {
			r = er;
			break;
		}
		if (er == -EBADMSG)
			violation(v, "outbox event %" PRIu64 ": record is unreadable", seq);
		else if (er == -EINVAL)
			violation(v, "outbox event %" PRIu64 ": order.created names no valid order number", seq);
		if (er != 1)
			continue;
		if (v->n_ev == v->cap_ev) {
			size_t cap = v->cap_ev ? v->cap_ev * 2 : 256;
			created_event *e = realloc(v->ev, cap * sizeof(*e));
			if (!e) {
				r = -ENOMEM;
				break;
			}
			v->ev = e;
			v->cap_ev = cap;
		}
		v->ev[v->n_ev++] = (created_event) { .order = order, .seq = seq };
	}
	cursor_close(t, c);
	if (r == -ENOENT)
		r = 0;
	if (r == 0 && v->n_ev)
		qsort(v->ev, v->n_ev, sizeof(*v->ev), created_event_cmp);
	return r;
}

/* Checks an order against the occurrence index, the due index and its watermark. */
static int verify_order(verify_ctx *v, const sales_order *o, uint64_t seq) {
	store_txn *t = v->t;
	char w1[CAL_ISO_MAX], w2[CAL_ISO_MAX], other[ORDER_NUMBER_MAX];
	unsigned char db[16], ob[STORE_KEY_MAX];
	MDB_val k = due_key(o->delivery, seq, db), val;
	int r = txn_get(t, t->s->due, &k, &val);
	if (r == -ENOENT)
		violation(v, "order %s: delivery %s is missing from the due index",
			 o->number, when(o->delivery, w1));
	else if (r < 0)
		return r;
	if (t->s->custopen && order_is_live(o)) {
		if (cust_seq_key(t->s, o->customer, seq, ob, &k) < 0)
			violation(v, "order %s: customer id cannot be a key", o->number);
		else if ((r = txn_get(t, t->s->custopen, &k, &val)) == -ENOENT)
			violation(v, "order %s: %s but not in the customer's open orders index (%s)", o->number,
				 order_status_name(o->status), o->customer);
		else if (r < 0)
			return r;
	}
	if (!o->standing_order)
		return 0;
	r = so_key(t->s, o->standing_order, o->delivery, ob, &k);
	if (r < 0) {
		violation(v, "order %s: standing order id cannot be a key", o->number);
		return 0;
	}
	r = txn_get(t, t->s->occ, &k, &val);
	if (r == -ENOENT)
		violation(v, "order %s: occurrence (%s, %s) has no idempotency entry",
			 o->number, o->standing_order, when(o->delivery, w1));
	else if (r < 0)
		return r;
	else if (val.mv_size == 8 && be64_get(val.mv_data) != seq) {
		order_number_format(be64_get(val.mv_data), other);
		violation(v, "order %s: occurrence (%s, %s) is also order %s",
			 o->number, o->standing_order, when(o->delivery, w1), other);
	}
	sched_state st;
	k = str_val(o->standing_order);
	r = txn_get(t, t->s->sched, &k, &val);
	if (r == -ENOENT)
		violation(v, "order %s: standing order %s has no schedule state",
			 o->number, o->standing_order);
	else if (r < 0)
		return r;
	else if (sched_from_val(&val, &st) < 0)
		;   /* reported by verify_sched */
	else if (st.watermark == INT64_MIN || st.watermark < o->delivery)
		violation(v, "order %s: delivery %s is after the watermark of %s (%s)",
			 o->number, when(o->delivery, w1), o->standing_order,
			 st.watermark == INT64_MIN ? "none" : when(st.watermark, w2));
	return 0;
}

static int verify_orders(verify_ctx *v) {
	store_txn *t = v->t;
	MDB_cursor *c;
	int r = txn_cursor(t, t->s->orders, &c);
	if (r < 0)
		return r;
	size_t i = 0;
	char number[ORDER_NUMBER_MAX], evnum[ORDER_NUMBER_MAX];
	MDB_val k, val;
	for (r = cursor_get(t, c, &k, &val, MDB_FIRST); ; r = cursor_get(t, c, &k, &val, MDB_NEXT)) {
		if (r < 0 && r != -ENOENT)
			break;
		bool end = r == -ENOENT;
		uint64_t seq = UINT64_MAX;
		if (!end) {
			if (k.mv_size != 8) {
				violation(v, "orders: malformed key of %zu bytes", k.mv_size);
				continue;
			}
			seq = be64_get(k.mv_data);
		}
		/* Walk the sorted created events alongside: orders come in sequence order. */
		for (; i < v->n_ev && (end || v->ev[i].order < seq); i++) {
			order_number_format(v->ev[i].order, evnum);
			violation(v, "outbox event %" PRIu64 ": order.created for %s, which does not exist",
				 v->ev[i].seq, evnum);
		}
		if (end) {
			r = 0;
			break;
		}
		v->last_order = seq;
		order_number_format(seq, number);
		size_t n = 0;
		for (; i < v->n_ev && v->ev[i].order == seq; i++)
			n++;
		if (n == 0)
			violation(v, "order %s: no order.created event", number);
		else if (n > 1)
			violation(v, "order %s: %zu order.created events", number, n);
		sales_order *o;
		r = order_from_val(t->s, t->txn, seq, &val, &o);
		if (r == -ENOMEM)
			break;
		if (r < 0) {
			violation(v, "order %s: record is unreadable", number);
			r = 0;
			continue;
		}
		r = verify_order(v, o, seq);
		order_free(o);
		if (r < 0)
			break;
	}
	cursor_close(t, c);
	return r;
}

/* Every entry of the customers' open orders index names an order of that customer
 * that is neither shipped nor cancelled (the other way round: verify_order). */
static int verify_custopen(verify_ctx *v) {
	store_txn *t = v->t;
	if (!t->s->custopen)
		return 0;
	MDB_cursor *c;
	int r = txn_cursor(t, t->s->custopen, &c);
	if (r < 0)
		return r;
	MDB_val k, val;
	for (r = cursor_get(t, c, &k, &val, MDB_FIRST); r == 0; r = cursor_get(t, c, &k, &val, MDB_NEXT)) {
		const char *key = k.mv_data, *nul = memchr(key, '\0', k.mv_size);
		if (!nul || (size_t) (nul - key) + 1 + 8 != k.mv_size || nul == key) {
			violation(v, "custopen: malformed key of %zu bytes", k.mv_size);
			continue;
		}
		char number[ORDER_NUMBER_MAX];
		order_number_format(be64_get((const unsigned char *) nul + 1), number);
		sales_order *o;
		int lr = order_load(t, be64_get((const unsigned char *) nul + 1), &o);
		if (lr == -ENOENT) {
			violation(v, "customer open orders index entry (%s, %s): no such order", key, number);
			continue;
		}
		if (lr == -ENOMEM) {
			r = lr;
			break;
		}
		if (lr < 0)
			continue;   /* reported by verify_orders */
		if (strcmp(o->customer, key))
			violation(v, "customer open orders index entry (%s, %s): the order is %s's", key, number,
				 o->customer);
		else if (!order_is_live(o))
			violation(v, "customer open orders index entry (%s, %s): the order is %s", key, number,
				 order_status_name(o->status));
		order_free(o);
	}
	cursor_close(t, c);
	return r == -ENOENT ? 0 : r;
}

/* Every idempotency entry names an order that is that occurrence. */
static int verify_occ(verify_ctx *v) {
	store_txn *t = v->t;
	MDB_cursor *c;
	int r = txn_cursor(t, t->s->occ, &c);
	if (r < 0)
		return r;
	MDB_val k, val;
	for (r = cursor_get(t, c, &k, &val, MDB_FIRST); r == 0; r = cursor_get(t, c, &k, &val, MDB_NEXT)) {
		char id[STORE_KEY_MAX + 1], w1[CAL_ISO_MAX], w2[CAL_ISO_MAX], number[ORDER_NUMBER_MAX];
		int64_t delivery;
		if (so_key_parse(&k, id, &delivery) < 0 || val.mv_size != 8) {
			violation(v, "idempotency index: malformed entry");
			continue;
		}
		uint64_t seq = be64_get(val.mv_data);
		order_number_format(seq, number);
		sales_order *o;
		r = order_load(t, seq, &o);
		if (r == -ENOENT)
			violation(v, "occurrence (%s, %s): order %s does not exist",
				 id, when(delivery, w1), number);
		else if (r == -EBADMSG)
			;   /* reported with the order */
		else if (r < 0)
			break;
		else {
			if (!str_eq(o->standing_order, id) || o->delivery != delivery)
				violation(v, "occurrence (%s, %s): order %s is (%s, %s)",
					 id, when(delivery, w1), number,
					 o->standing_order ? o->standing_order : "one-time", when(o->delivery, w2));
			order_free(o);
		}
		r = 0;
	}
	cursor_close(t, c);
	return r == -ENOENT ? 0 : r;
}

static int verify_due(verify_ctx *v) {
	store_txn *t = v->t;
	MDB_cursor *c;
	int r = txn_cursor(t, t->s->due, &c);
	if (r < 0)
		return r;
	MDB_val k, val;
	for (r = cursor_get(t, c, &k, &val, MDB_FIRST); r == 0; r = cursor_get(t, c, &k, &val, MDB_NEXT)) {
		char w1[CAL_ISO_MAX], w2[CAL_ISO_MAX], number[ORDER_NUMBER_MAX];
		if (k.mv_size != 16) {
			violation(v, "due index: malformed entry");
			continue;
		}
		int64_t delivery = unbias(be64_get(k.mv_data));
		uint64_t seq = be64_get((const unsigned char *) k.mv_data + 8);
		order_number_format(seq, number);
		sales_order *o;
		r = order_load(t, seq, &o);
		if (r == -ENOENT)
			violation(v, "due index entry (%s, %s): no such order",
				 when(delivery, w1), number);
		else if (r == -EBADMSG)
			;
		else if (r < 0)
			break;
		else {
			if (o->delivery != delivery)
				violation(v, "due index entry (%s, %s): the order's delivery is %s",
					 when(delivery, w1), number, when(o->delivery, w2));
			order_free(o);
		}
		r = 0;
	}
	cursor_close(t, c);
	return r == -ENOENT ? 0 : r;
}

/* Schedule states and skip records are at least readable. */
static int verify_records(verify_ctx *v, MDB_dbi dbi, bool skips) {
	store_txn *t = v->t;
	MDB_cursor *c;
	int r = txn_cursor(t, dbi, &c);
	if (r < 0)
		return r;
	MDB_val k, val;
	for (r = cursor_get(t, c, &k, &val, MDB_FIRST); r == 0; r = cursor_get(t, c, &k, &val, MDB_NEXT)) {
		char id[STORE_KEY_MAX + 1], w[CAL_ISO_MAX];
		int64_t delivery;
		json_t *j;
		if (skips) {
			int64_t at;
			if (so_key_parse(&k, id, &delivery) < 0)
				violation(v, "skips: malformed key");
			else if (record_load(&val, &j) < 0)
				violation(v, "skip (%s, %s): record is unreadable", id, when(delivery, w));
			else {
				if (jget_int(j, "at", &at) < 0 || !json_is_string(json_object_get(j, "reason")))
					violation(v, "skip (%s, %s): record is unreadable", id, when(delivery, w));
				json_decref(j);
			}
		} else {
			sched_state st;
			if (k.mv_size == 0 || k.mv_size > STORE_KEY_MAX || memchr(k.mv_data, 0, k.mv_size))
				violation(v, "schedule state: malformed key");
			else if (sched_from_val(&val, &st) < 0)
				violation(v, "schedule state of %.*s: record is unreadable",
					 (int) k.mv_size, (const char *) k.mv_data);
		}
	}
	cursor_close(t, c);
	return r == -ENOENT ? 0 : r;
}

/* Idempotency records: each readable and in the expiry index at its own time, each
 * index entry naming a record written then. */
static int verify_idem(verify_ctx *v) {
	store_txn *t = v->t;
	if (!t->s->idem)
		return 0;
	MDB_cursor *c;
	int r = txn_cursor(t, t->s->idem, &c);
	if (r < 0)
		return r;
	MDB_val k, val;
	for (r = cursor_get(t, c, &k, &val, MDB_FIRST); r == 0; r = cursor_get(t, c, &k, &val, MDB_NEXT)) {
		const unsigned char *p = k.mv_data;
		size_t skip = k.mv_size && p[0] == IDEM_TAG_TIME ? 9 : 1;
		const unsigned char *nul = k.mv_size > skip ? memchr(p + skip, 0, k.mv_size - skip) : NULL;
		if (!k.mv_size || (p[0] != IDEM_TAG_KEY && p[0] != IDEM_TAG_TIME) || !nul || nul == p + skip ||
		    nul == p + k.mv_size - 1 || k.mv_size > STORE_KEY_MAX) {
			violation(v, "idem: malformed key");
			continue;
		}
		char user[STORE_KEY_MAX + 1], key[STORE_KEY_MAX + 1], w[CAL_ISO_MAX];
		snprintf(user, sizeof(user), "%.*s", (int) (nul - (p + skip)), (const char *) p + skip);
		snprintf(key, sizeof(key), "%.*s", (int) (p + k.mv_size - nul - 1), (const char *) nul + 1);
		unsigned char kb[STORE_KEY_MAX];
		MDB_val other, ov;
		int64_t at;
		if (p[0] == IDEM_TAG_KEY) {
			if (idem_from_val(&val, NULL, NULL, &at) < 0) {
				violation(v, "idempotency key (%s, %s): record is unreadable", user, key);
				continue;
			}
			other = idem_key(IDEM_TAG_TIME, &at, user, key, kb);
			if ((r = txn_get(t, t->s->idem, &other, &ov)) == -ENOENT)
				violation(v, "idempotency key (%s, %s): not in the expiry index at %s", user, key, when(at, w));
		} else {
			int64_t tat = unbias(be64_get(p + 1));
			other = idem_key(IDEM_TAG_KEY, NULL, user, key, kb);
			if ((r = txn_get(t, t->s->idem, &other, &ov)) == -ENOENT)
				violation(v, "idempotency expiry entry (%s, %s, %s): no such record", user, key, when(tat, w));
			else if (r == 0 && idem_from_val(&ov, NULL, NULL, &at) == 0 && at != tat)
				violation(v, "idempotency expiry entry (%s, %s, %s): the record was written at %s", user, key,
					  when(tat, w), when(at, (char[CAL_ISO_MAX]) { 0 }));
		}
		if (r < 0 && r != -ENOENT)
			break;
		r = 0;
	}
	cursor_close(t, c);
	return r == -ENOENT ? 0 : r;
}

/* The counters must stay ahead of what exists, or a number would be reused. */
static int verify_counters(verify_ctx *v) {
	uint64_t next_order, next_outbox;
	int r = meta_get_u64(v->t, META_NEXT_ORDER, 1, &next_order);
	if (r == -EBADMSG)
		violation(v, "meta: the order counter is unreadable");
	else if (r < 0)
		return r;
	else if (v->last_order && next_order <= v->last_order) {
		char number[ORDER_NUMBER_MAX];
		order_number_format(v->last_order, number);
		violation(v, "meta: next order sequence %" PRIu64 " is not after the last order %s",
			 next_order, number);
	}
	r = meta_get_u64(v->t, META_NEXT_OUTBOX, 1, &next_outbox);
	if (r == -EBADMSG)
		violation(v, "meta: the outbox counter is unreadable");
	else if (r < 0)
		return r;
	else if (v->last_outbox && next_outbox <= v->last_outbox)
		violation(v, "meta: next outbox sequence %" PRIu64 " is not after the last event %" PRIu64,
			 next_outbox, v->last_outbox);
	return 0;
}

static int verify_ledger(verify_ctx *v);
static int verify_crm(verify_ctx *v);

/* Every pending (outq) and parked (outpark) entry names an outbox event, is
 * readable, and no event is both. */
static int verify_outq(verify_ctx *v) {
	store_txn *t = v->t;
	for (int parked = 0; parked < 2; parked++) {
		MDB_dbi dbi = outq_dbi(t, parked);
		const char *what = parked ? "parked" : "pending";
		if (!dbi)
			continue;
		MDB_cursor *c;
		int r = txn_cursor(t, dbi, &c);
		if (r < 0)
			return r;
		MDB_val k, val, ov;
		for (r = cursor_get(t, c, &k, &val, MDB_FIRST); r == 0; r = cursor_get(t, c, &k, &val, MDB_NEXT)) {
			if (k.mv_size != 8) {
				violation(v, "%s: malformed key of %zu bytes", parked ? "outpark" : "outq", k.mv_size);
				continue;
			}
			uint64_t seq = be64_get(k.mv_data);
			store_outq_entry e;
			if ((r = outq_from_val(parked, &k, &val, &e)) == -ENOMEM)
				break;
			if (r < 0)
				violation(v, "%s event %" PRIu64 ": record is unreadable", what, seq);
			else
				store_outq_entry_done(&e);
			r = txn_get(t, t->s->outbox, &k, &ov);
			if (r == -ENOENT)
				violation(v, "%s event %" PRIu64 ": no such outbox event", what, seq);
			else if (r < 0)
				break;
			if (parked && t->s->outq) {
				if ((r = txn_get(t, t->s->outq, &k, &ov)) == 0)
					violation(v, "outbox event %" PRIu64 ": both pending and parked", seq);
				else if (r != -ENOENT)
					break;
			}
			r = 0;
		}
		cursor_close(t, c);
		if (r != -ENOENT && r != 0)
			return r;
	}
	return 0;
}

int store_verify(store *s, diag_list *diags) {
	if (!s || !diags)
		return -EINVAL;
	store_txn *t;
	int r = store_begin(s, false, &t);
	if (r < 0)
		return r;
	size_t before = diags->n;
	verify_ctx v = { .t = t, .diags = diags };
	if ((r = verify_outbox(&v)) == 0 && (r = verify_orders(&v)) == 0 && (r = verify_occ(&v)) == 0 &&
	    (r = verify_due(&v)) == 0 && (r = verify_records(&v, s->sched, false)) == 0 &&
	    (r = verify_records(&v, s->skips, true)) == 0 && (r = verify_idem(&v)) == 0 &&
	    (r = verify_ledger(&v)) == 0 && (r = verify_outq(&v)) == 0 && (r = verify_counters(&v)) == 0 &&
	    (r = verify_custopen(&v)) == 0)
		r = verify_crm(&v);
	free(v.ev);
	store_abort(t);
	if (r == -EBADMSG) {
		/* a damaged page (MDB_CORRUPTED, MDB_PAGE_NOTFOUND) stops the walk */
		diag_add(diags, NULL, 0, 0, "the store is damaged: a database could not be read to the end (%s)",
			 strerror(-r));
		return r;
	}
	if (r < 0)
		return r;
	return diags->n > before ? -EBADMSG : 0;
}

/* ---- the ledger family (issue 9) ----
 * ledger:   customer NUL u64 seq          -> entry record (append-only)
 * accounts: customer NUL currency code    -> {"v":1,"balance":MINOR}
 * openq:    customer NUL u64 order seq    -> empty (on_hold, awaiting_payment)
 * payq:     biased instant, u64 order seq -> empty (prepaid orders' next check) */

static int cust_key(const store *s, const char *customer_id, const void *tail, size_t n_tail,
		    unsigned char buf[STORE_KEY_MAX], MDB_val *ret) {
	int r = check_id(s, customer_id, 1 + n_tail);
	if (r < 0)
		return r;
	size_t n = strlen(customer_id);
	memcpy(buf, customer_id, n + 1);
	if (n_tail)     /* tail may be NULL then: memcpy's arguments must not be */
		memcpy(buf + n + 1, tail, n_tail);
	*ret = (MDB_val) { .mv_size = n + 1 + n_tail, .mv_data = buf };
	return 0;
}

static int cust_seq_key(const store *s, const char *customer_id, uint64_t seq, unsigned char buf[STORE_KEY_MAX],
			MDB_val *ret) {
	unsigned char b[8];
	be64_put(b, seq);
	return cust_key(s, customer_id, b, 8, buf, ret);
}

static int ledger_need(store_txn *t, MDB_dbi dbi) {
	if (!t->write)
		return -EROFS;
	if (!dbi)
		return -EBADMSG;   /* a read-write open always has them */
	return 0;
}

/* Puts (open) or deletes a customer's order in an index of customer NUL seq
 * (openq, custopen). */
static int cust_order_set(store_txn *t, MDB_dbi dbi, const char *customer_id, uint64_t seq, bool open) {
	int r = ledger_need(t, dbi);
	unsigned char kb[STORE_KEY_MAX];
	MDB_val k, empty = { 0 };
	if (r < 0 || (r = cust_seq_key(t->s, customer_id, seq, kb, &k)) < 0)
		return r;
	if (open)
		return txn_put(t, dbi, &k, &empty, 0);
	r = txn_del(t, dbi, &k);
	return r == -ENOENT ? 0 : r;
}

static int openq_set(store_txn *t, const char *customer_id, uint64_t seq, bool open) {
	return cust_order_set(t, t->s->openq, customer_id, seq, open);
}

/* Calls fn for each key of dbi that is customer_id NUL + tail, tail >= start
 * (start_len bytes; 0: all), with the tail and the value, in key order. A database
 * an older store lacks (dbi 0) has none. fn returns 0 to go on. */
static int cust_walk(store_txn *t, MDB_dbi dbi, const char *customer_id, const void *start, size_t start_len,
		     int (*fn)(const MDB_val *tail, const MDB_val *v, void *ud), void *ud) {
	unsigned char kb[STORE_KEY_MAX];
	MDB_val k, v;
	int r = cust_key(t->s, customer_id, start, start_len, kb, &k);
	if (r < 0 || !dbi)
		return r;
	size_t prefix = k.mv_size - start_len;
	MDB_cursor *c;
	if ((r = txn_cursor(t, dbi, &c)) < 0)
		return r;
	for (r = cursor_get(t, c, &k, &v, MDB_SET_RANGE); r == 0; r = cursor_get(t, c, &k, &v, MDB_NEXT)) {
		if (k.mv_size <= prefix || memcmp(k.mv_data, kb, prefix))
			break;
		MDB_val tail = { .mv_size = k.mv_size - prefix, .mv_data = (unsigned char *) k.mv_data + prefix };
		if ((r = fn(&tail, &v, ud)) != 0)
			break;
	}
	cursor_close(t, c);
	return r == -ENOENT ? 0 : r;
}

/* A growing array for the walks below. */
typedef struct grow { void *v; size_t n, size, cap; } grow;   /* cap: live_add's limit */

static void *grow_one(grow *g) {
	void *p = realloc(g->v, (g->n + 1) * g->size);
	if (!p)
		return NULL;
	g->v = p;
	p = (char *) p + g->n++ * g->size;
	memset(p, 0, g->size);
	return p;
}

static int open_add(const MDB_val *tail, const MDB_val *v, void *ud) {
	(void) v;
	if (tail->mv_size != 8)
		return -EBADMSG;
	char *number = grow_one(ud);
	if (!number)
		return -ENOMEM;
	order_number_format(be64_get(tail->mv_data), number);
	return 0;
}

int store_open_orders(store_txn *t, const char *customer_id, char (**ret)[ORDER_NUMBER_MAX], size_t *ret_n) {
	if (!t || !ret || !ret_n)
		return -EINVAL;
	grow g = { .size = ORDER_NUMBER_MAX };
	int r = cust_walk(t, t->s->openq, customer_id, NULL, 0, open_add, &g);
	if (r < 0) {
		free(g.v);
		return r;
	}
	*ret = g.v;
	*ret_n = g.n;
	return 0;
}

/* ---- custopen: customer NUL u64 order seq -> empty, every order neither shipped
 * nor cancelled (awaiting_payment, on_hold, confirmed): the profile's open orders ---- */

static int custopen_set(store_txn *t, const char *customer_id, uint64_t seq, bool open) {
	return cust_order_set(t, t->s->custopen, customer_id, seq, open);
}

/* store_upgrade's: the index of a store that had none, from every order there is
 * (once; an unreadable order is left to store_verify). */
static int custopen_fill(store *s, MDB_txn *txn) {
	MDB_cursor *c;
	int rc = mdb_cursor_open(txn, s->orders, &c);
	if (rc)
		return store_errno(s->env, rc);
	MDB_val k, v, empty = { 0 };
	int r = 0;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); !rc && !r; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		sales_order *o;
		if (k.mv_size != 8)
			continue;
		r = order_from_val(s, txn, be64_get(k.mv_data), &v, &o);
		if (r == -ENOMEM)
			break;
		if (r < 0) {
			r = 0;
			continue;
		}
		unsigned char kb[STORE_KEY_MAX];
		MDB_val ck;
		if (order_is_live(o) && cust_seq_key(s, o->customer, be64_get(k.mv_data), kb, &ck) == 0 &&
		    (rc = mdb_put(txn, s->custopen, &ck, &empty, 0)))
			r = store_errno(s->env, rc);
		order_free(o);
	}
	mdb_cursor_close(c);
	if (r < 0)
		return r;
	return rc == MDB_NOTFOUND ? 0 : store_errno(s->env, rc);
}

static int live_add(const MDB_val *tail, const MDB_val *v, void *ud) {
	grow *g = ud;
	if (g->n == g->cap)
		return 1;   /* one more than asked: there are more */
	return open_add(tail, v, ud);
}

int store_customer_orders(store_txn *t, const char *customer_id, size_t max, char (**ret)[ORDER_NUMBER_MAX],
			  size_t *ret_n, bool *ret_more) {
	if (!t || !ret || !ret_n || !ret_more)
		return -EINVAL;
	grow g = { .size = ORDER_NUMBER_MAX, .cap = max };
	int r = cust_walk(t, t->s->custopen, customer_id, NULL, 0, live_add, &g);
	if (r < 0) {
		free(g.v);
		return r;
	}
	*ret = g.v;
	*ret_n = g.n;
	*ret_more = r == 1;
	return 0;
}

int store_payment_due_set(store_txn *t, const char *number, int64_t old_at, int64_t new_at) {
	if (!t || !number)
		return -EINVAL;
	uint64_t seq;
	int r = order_number_parse(number, &seq);
	if (r < 0 || (r = ledger_need(t, t->s->payq)) < 0)
		return r;
	unsigned char kb[16];
	MDB_val k, empty = { 0 };
	if (old_at) {
		k = due_key(old_at, seq, kb);
		if ((r = txn_del(t, t->s->payq, &k)) < 0 && r != -ENOENT)
			return r;
	}
	if (!new_at)
		return 0;
	k = due_key(new_at, seq, kb);
	return txn_put(t, t->s->payq, &k, &empty, 0);
}

int store_payment_due_each(store_txn *t, int64_t now, size_t max,
			   int (*fn)(const char *number, int64_t at, void *ud), void *ud) {
	if (!t || !fn)
		return -EINVAL;
	if (!t->s->payq)
		return 0;
	MDB_cursor *c;
	MDB_val k, v;
	size_t n = 0;
	int r = txn_cursor(t, t->s->payq, &c);
	if (r < 0)
		return r;
	for (r = cursor_get(t, c, &k, &v, MDB_FIRST); r == 0 && n < max; r = cursor_get(t, c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 16) {
			r = -EBADMSG;
			break;
		}
		int64_t at = unbias(be64_get(k.mv_data));
		if (at > now)
			break;
		char number[ORDER_NUMBER_MAX];
		order_number_format(be64_get((const unsigned char *) k.mv_data + 8), number);
		n++;
		if ((r = fn(number, at, ud)) != 0)
			break;
	}
	cursor_close(t, c);
	return r == -ENOENT ? 0 : r;
}

/* Either form; seq is the key's (the compact record does not repeat it). */
static int ledger_from_val(const MDB_val *v, uint64_t seq, ledger_entry *ret) {
	if (v->mv_size && ((const unsigned char *) v->mv_data)[0] == REC_COMPACT)
		return ledger_entry_bin_decode((const unsigned char *) v->mv_data + 1, v->mv_size - 1, seq, ret);
	json_t *j;
	int r = record_load(v, &j);
	if (r < 0)
		return r;
	r = ledger_entry_from_record(j, ret);
	json_decref(j);
	return r;
}

/* The balance record as store_ledger_append writes it, {"v":1,"balance":N} with N
 * in canonical decimal, read without a parser (twice per account order created);
 * false for anything else, which record_load then judges. */
static bool balance_text_parse(const MDB_val *v, int64_t *ret) {
	static const char head[] = "{" STORE_RECORD_V_MEMBER ",\"balance\":";
	const char *p = v->mv_data, *end = p + v->mv_size;
	if (v->mv_size < sizeof(head) + 1 || memcmp(p, head, sizeof(head) - 1) || end[-1] != '}')
		return false;
	p += sizeof(head) - 1;
	end--;
	bool neg = p < end && *p == '-';
	p += neg;
	if (p == end || end - p > 18 || (*p == '0' && end - p > 1))
		return false;   /* 18 digits cannot overflow; longer ones go the long way */
	int64_t x = 0;
	for (; p < end; p++) {
		if (*p < '0' || *p > '9')
			return false;
		x = x * 10 + (*p - '0');
	}
	*ret = neg ? -x : x;
	return true;
}

/* The balance record's text, {"v":1,"balance":N}, without printf (once per
 * account order created). buf holds 64 bytes. */
static void balance_text(int64_t v, char buf[64]) {
	static const char head[] = "{" STORE_RECORD_V_MEMBER ",\"balance\":";
	char d[24];
	size_t n = 0;
	uint64_t u = v < 0 ? -(uint64_t) v : (uint64_t) v;
	do
		d[n++] = (char) ('0' + u % 10);
	while ((u /= 10));
	memcpy(buf, head, sizeof(head) - 1);
	size_t len = sizeof(head) - 1;
	if (v < 0)
		buf[len++] = '-';
	while (n)
		buf[len++] = d[--n];
	buf[len++] = '}';
	buf[len] = 0;
}

static int balance_get(store_txn *t, const char *customer_id, const char *currency, int64_t *ret) {
	unsigned char kb[STORE_KEY_MAX];
	MDB_val k, v;
	int r = cust_key(t->s, customer_id, currency, strlen(currency), kb, &k);
	if (r < 0)
		return r;
	*ret = 0;
	if (!t->s->accounts)
		return 0;
	if (t->balance.ok && !t->err && !strcmp(t->balance.customer, customer_id) &&
	    !strcmp(t->balance.currency, currency)) {
		*ret = t->balance.balance;
		return 0;
	}
	if ((r = txn_get(t, t->s->accounts, &k, &v)) == -ENOENT)
		return 0;
	if (r == 0 && balance_text_parse(&v, ret))
		return 0;
	json_t *j;
	if (r < 0 || (r = record_load(&v, &j)) < 0)
		return r;
	r = jget_int(j, "balance", ret);
	json_decref(j);
	return r < 0 ? -EBADMSG : 0;
}

/* Puts a balance record. */
static int balance_put(store_txn *t, const char *customer_id, const char *currency, int64_t balance) {
	char btext[64];
	unsigned char bb[STORE_KEY_MAX];
	MDB_val bk, bv;
	balance_text(balance, btext);
	bv = str_val(btext);
	int r = cust_key(t->s, customer_id, currency, strlen(currency), bb, &bk);
	return r < 0 ? r : txn_put(t, t->s->accounts, &bk, &bv, 0);
}

/* Puts the balance store_ledger_append kept (t->balance.dirty); fails t on error. */
static int balance_flush(store_txn *t) {
	if (!t->balance.dirty || t->err)
		return t->err;
	t->balance.dirty = false;
	return txn_fail(t, balance_put(t, t->balance.customer, t->balance.currency, t->balance.balance));
}

/* The seq of customer's last entry, 0 when none. */
static int ledger_last_seq(store_txn *t, const char *customer_id, uint64_t *ret) {
	unsigned char kb[STORE_KEY_MAX];
	MDB_val k, v;
	int r = cust_seq_key(t->s, customer_id, UINT64_MAX, kb, &k);
	if (r < 0)
		return r;
	*ret = 0;
	if (!t->s->ledger)
		return 0;
	if (t->ledger_last.ok && !t->err && !strcmp(t->ledger_last.customer, customer_id)) {
		*ret = t->ledger_last.last;
		return 0;
	}
	size_t prefix = k.mv_size - 8;
	MDB_cursor *c;
	if ((r = txn_cursor(t, t->s->ledger, &c)) < 0)
		return r;
	r = cursor_get(t, c, &k, &v, MDB_SET_RANGE);
	if (r == 0)
		r = cursor_get(t, c, &k, &v, MDB_PREV);
	else if (r == -ENOENT)
		r = cursor_get(t, c, &k, &v, MDB_LAST);
	if (r == 0 && k.mv_size == prefix + 8 && !memcmp(k.mv_data, kb, prefix))
		*ret = be64_get((const unsigned char *) k.mv_data + prefix);
	cursor_close(t, c);
	return r == -ENOENT ? 0 : r;
}

int store_ledger_append(store_txn *t, const char *customer_id, ledger_entry *e) {
	if (!t || !e || e->amount.minor <= 0 || money_exponent(e->amount.currency) < 0)
		return -EINVAL;
	int r = ledger_need(t, t->s->ledger);
	if (r < 0)
		return r;
	if (t->err)
		return t->err;
	uint64_t last;
	int64_t bal, delta = e->amount.minor * ledger_kind_sign(e->kind), after;
	if ((r = ledger_last_seq(t, customer_id, &last)) < 0 ||
	    (r = balance_get(t, customer_id, e->amount.currency, &bal)) < 0)
		return r;
	if (__builtin_add_overflow(bal, delta, &after))
		return -EOVERFLOW;
	ledger_entry w = *e;
	w.seq = last + 1;
	w.balance_after = e->amount;
	w.balance_after.minor = after;
	unsigned char buf[128];
	bytes_buf b;
	bytes_init(&b, buf, sizeof(buf));
	bytes_u8(&b, REC_COMPACT);
	if ((r = ledger_entry_bin_encode(&w, &b)) < 0) {
		bytes_free(&b);
		return r;
	}
	size_t cn = strlen(customer_id);
	bool cache = cn < sizeof(t->ledger_last.customer) && strlen(e->amount.currency) < sizeof(t->balance.currency);
	bool same = t->balance.ok && !strcmp(t->balance.customer, customer_id) &&
		    !strcmp(t->balance.currency, e->amount.currency);
	unsigned char kb[STORE_KEY_MAX];
	MDB_val k, v = bytes_val(&b);
	if ((r = cust_seq_key(t->s, customer_id, w.seq, kb, &k)) == 0 &&
	    (r = txn_put(t, t->s->ledger, &k, &v, MDB_NOOVERWRITE)) == 0 && !same && t->balance.dirty)
		r = balance_flush(t);   /* the balance cached before, of another account */
	bytes_free(&b);
	if (r == 0 && !cache)
		r = balance_put(t, customer_id, e->amount.currency, after);
	if (r < 0)
		return txn_fail(t, r);
	t->ledger_last.ok = t->balance.ok = cache;
	if (cache) {
		memcpy(t->ledger_last.customer, customer_id, cn + 1);
		t->ledger_last.last = w.seq;
		memcpy(t->balance.customer, customer_id, cn + 1);
		strcpy(t->balance.currency, e->amount.currency);
		t->balance.balance = after;
		t->balance.dirty = true;
	}
	e->seq = w.seq;
	e->balance_after = w.balance_after;
	return 0;
}

int store_ledger_balance(store_txn *t, const char *customer_id, const char *currency, money *ret) {
	if (!t || !currency || !ret || strlen(currency) >= sizeof(ret->currency))
		return -EINVAL;
	int64_t bal;
	int r = balance_get(t, customer_id, currency, &bal);
	if (r < 0)
		return r;
	memset(ret, 0, sizeof(*ret));
	ret->minor = bal;
	strcpy(ret->currency, currency);
	return 0;
}

static int balance_add(const MDB_val *tail, const MDB_val *v, void *ud) {
	json_t *j;
	int64_t bal;
	if (tail->mv_size >= sizeof(((money *) 0)->currency) || record_load(v, &j) < 0)
		return -EBADMSG;
	int r = jget_int(j, "balance", &bal);
	json_decref(j);
	if (r < 0)
		return -EBADMSG;
	money *m = grow_one(ud);
	if (!m)
		return -ENOMEM;
	memcpy(m->currency, tail->mv_data, tail->mv_size);
	m->minor = bal;
	return 0;
}

int store_ledger_balances(store_txn *t, const char *customer_id, money **ret, size_t *ret_n) {
	if (!t || !ret || !ret_n)
		return -EINVAL;
	grow g = { .size = sizeof(money) };
	int r = cust_walk(t, t->s->accounts, customer_id, NULL, 0, balance_add, &g);
	if (r < 0) {
		free(g.v);
		return r;
	}
	*ret = g.v;
	*ret_n = g.n;
	return 0;
}

typedef struct each_ctx {
	int64_t from, to;
	int (*fn)(const ledger_entry *e, void *ud);
	void *ud;
} each_ctx;

static int each_entry(const MDB_val *tail, const MDB_val *v, void *ud) {
	each_ctx *c = ud;
	ledger_entry e;
	if (tail->mv_size != 8)
		return -EBADMSG;
	int r = ledger_from_val(v, be64_get(tail->mv_data), &e);
	if (r < 0)
		return r;
	if (e.at >= c->from && e.at < c->to)
		r = c->fn(&e, c->ud);
	ledger_entry_done(&e);
	return r;
}

int store_ledger_each(store_txn *t, const char *customer_id, uint64_t from_seq, int64_t from, int64_t to,
		      int (*fn)(const ledger_entry *e, void *ud), void *ud) {
	if (!t || !fn)
		return -EINVAL;
	unsigned char start[8];
	be64_put(start, from_seq);
	each_ctx c = { .from = from, .to = to, .fn = fn, .ud = ud };
	return cust_walk(t, t->s->ledger, customer_id, start, 8, each_entry, &c);
}

typedef struct last_ctx { ledger_entry *v; size_t n, cap; } last_ctx;

static int last_add(const ledger_entry *e, void *ud) {
	last_ctx *l = ud;
	if (l->n == l->cap) {   /* keep the newest cap: drop the oldest */
		ledger_entry_done(&l->v[0]);
		memmove(l->v, l->v + 1, (l->cap - 1) * sizeof(*l->v));
		l->n--;
	}
	int r = ledger_entry_copy(e, &l->v[l->n]);
	if (r == 0)
		l->n++;
	return r;
}

int store_ledger_last(store_txn *t, const char *customer_id, size_t n, ledger_entry **ret, size_t *ret_n) {
	if (!t || !ret || !ret_n)
		return -EINVAL;
	uint64_t last;
	int r = ledger_last_seq(t, customer_id, &last);
	if (r < 0)
		return r;
	last_ctx l = { .cap = n };
	if (n && !(l.v = calloc(n, sizeof(*l.v))))
		return -ENOMEM;
	if (n && last)
		r = store_ledger_each(t, customer_id, last >= n ? last - n + 1 : 1, INT64_MIN, INT64_MAX, last_add, &l);
	if (r < 0) {
		for (size_t i = 0; i < l.n; i++)
			ledger_entry_done(&l.v[i]);
		free(l.v);
		return r;
	}
	*ret = l.v;
	*ret_n = l.n;
	return 0;
}

/* ---- verify: the ledger ---- */

typedef struct ledger_ref {
	uint64_t order;          /* sequence of the order named */
	ledger_kind kind;
	int64_t minor;
	char customer[STORE_KEY_MAX + 1];
	uint64_t seq;            /* the entry's */
	bool taken;              /* a charge a credit has been matched with */
} ledger_ref;

static int ledger_ref_cmp(const void *a, const void *b) {
	const ledger_ref *x = a, *y = b;
	if (x->order != y->order)
		return x->order < y->order ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

typedef struct sum_ctx { const char *currency; int64_t sum; bool overflow; } sum_ctx;

static int sum_add(const ledger_entry *e, void *ud) {
	sum_ctx *c = ud;
	if (!strcmp(e->amount.currency, c->currency) &&
	    __builtin_add_overflow(c->sum, e->amount.minor * ledger_kind_sign(e->kind), &c->sum))
		c->overflow = true;
	return 0;
}

/* Entries in sequence with their running balances; each account balance is the
 * sum of its entries. */
static int verify_ledger_entries(verify_ctx *v, ledger_ref **refs, size_t *n_refs) {
	store_txn *t = v->t;
	MDB_cursor *c;
	MDB_val k, val;
	char cust[STORE_KEY_MAX + 1] = "";
	uint64_t want = 1;
	money *sums = NULL;
	size_t n_sums = 0, cap = 0;
	int r = txn_cursor(t, t->s->ledger, &c);
	if (r < 0)
		return r;
	for (r = cursor_get(t, c, &k, &val, MDB_FIRST); r == 0; r = cursor_get(t, c, &k, &val, MDB_NEXT)) {
		const unsigned char *p = k.mv_data;
		if (k.mv_size < 10 || k.mv_size > STORE_KEY_MAX || p[k.mv_size - 9] || memchr(p, 0, k.mv_size - 9)) {
			violation(v, "ledger: malformed key");
			continue;
		}
		uint64_t seq = be64_get(p + k.mv_size - 8);
		if (strlen(cust) != k.mv_size - 9 || memcmp(cust, p, k.mv_size - 9)) {
			memcpy(cust, p, k.mv_size - 8);
			want = 1;
			n_sums = 0;
		}
		ledger_entry e;
		if (ledger_from_val(&val, seq, &e) < 0) {
			violation(v, "ledger of %s: entry %" PRIu64 ": record is unreadable", cust, seq);
			want = seq + 1;
			continue;
		}
		if (seq != want || e.seq != seq)
			violation(v, "ledger of %s: entry %" PRIu64 " follows entry %" PRIu64, cust, seq, want - 1);
		want = seq + 1;
		size_t i;
		for (i = 0; i < n_sums && strcmp(sums[i].currency, e.amount.currency); i++)
			;
		if (i == n_sums) {
			if (n_sums == cap) {
				money *q = realloc(sums, (cap = cap ? cap * 2 : 4) * sizeof(*sums));
				if (!q) {
					ledger_entry_done(&e);
					r = -ENOMEM;
					break;
				}
				sums = q;
			}
			sums[n_sums] = e.amount;
			sums[n_sums++].minor = 0;
		}
		sums[i].minor += e.amount.minor * ledger_kind_sign(e.kind);
		if (e.balance_after.minor != sums[i].minor || strcmp(e.balance_after.currency, e.amount.currency))
			violation(v, "ledger of %s: entry %" PRIu64 ": balance_after %" PRId64 " %s, the entries sum to %" PRId64,
				 cust, seq, e.balance_after.minor, e.balance_after.currency, sums[i].minor);
		uint64_t oseq;
		if (e.order[0] && order_number_parse(e.order, &oseq) == 0) {
			ledger_ref *q = realloc(*refs, (*n_refs + 1) * sizeof(**refs));
			if (!q) {
				ledger_entry_done(&e);
				r = -ENOMEM;
				break;
			}
			*refs = q;
			q[*n_refs] = (ledger_ref) { .order = oseq, .kind = e.kind, .minor = e.amount.minor, .seq = seq };
			strcpy(q[(*n_refs)++].customer, cust);
		} else if (e.order[0])
			violation(v, "ledger of %s: entry %" PRIu64 " names order %s, not a confirmation number", cust, seq, e.order);
		ledger_entry_done(&e);
	}
	cursor_close(t, c);
	free(sums);
	if (r != -ENOENT)
		return r;
	/* each account balance is the sum of its entries */
	if ((r = txn_cursor(t, t->s->accounts, &c)) < 0)
		return r;
	for (r = cursor_get(t, c, &k, &val, MDB_FIRST); r == 0; r = cursor_get(t, c, &k, &val, MDB_NEXT)) {
		const char *p = k.mv_data;
		const char *nul = memchr(p, 0, k.mv_size);
		size_t cl = nul ? k.mv_size - (size_t) (nul - p) - 1 : 0;
		json_t *j;
		int64_t bal;
		if (!nul || nul == p || cl == 0 || cl >= sizeof(((money *) 0)->currency)) {
			violation(v, "accounts: malformed key");
			continue;
		}
		char id[STORE_KEY_MAX + 1], cur[8] = "";
		memcpy(id, p, (size_t) (nul - p) + 1);
		memcpy(cur, nul + 1, cl);
		if (record_load(&val, &j) < 0 || (jget_int(j, "balance", &bal) < 0 && (json_decref(j), true))) {
			violation(v, "account %s: %s balance: record is unreadable", id, cur);
			continue;
		}
		json_decref(j);
		sum_ctx sc = { .currency = cur };
		if ((r = store_ledger_each(t, id, 1, INT64_MIN, INT64_MAX, sum_add, &sc)) < 0)
			break;
		if (sc.overflow || sc.sum != bal)
			violation(v, "account %s: balance %" PRId64 " %s, its entries sum to %" PRId64, id, bal, cur, sc.sum);
	}
	cursor_close(t, c);
	return r == -ENOENT ? 0 : r;
}

/* Each order against its entries: a confirmed account order (or a paid prepaid
 * one) has exactly one charge not credited back; an on_hold order none; every
 * credit takes back a charge of the same amount. Orders taken before the ledger
 * (no transitions recorded) have no entries. */
static int verify_order_entries(verify_ctx *v, ledger_ref *refs, size_t n_refs) {
	store_txn *t = v->t;
	MDB_cursor *c;
	MDB_val k, val;
	size_t i = 0;
	int r = txn_cursor(t, t->s->orders, &c);
	if (r < 0)
		return r;
	if (n_refs)   /* refs may be NULL then: qsort's arguments must not be */
		qsort(refs, n_refs, sizeof(*refs), ledger_ref_cmp);
	for (r = cursor_get(t, c, &k, &val, MDB_FIRST); r == 0; r = cursor_get(t, c, &k, &val, MDB_NEXT)) {
		if (k.mv_size != 8)
			continue;   /* verify_orders reports it */
		uint64_t seq = be64_get(k.mv_data);
		char number[ORDER_NUMBER_MAX];
		for (; i < n_refs && refs[i].order < seq; i++) {
			order_number_format(refs[i].order, number);
			violation(v, "ledger of %s: entry %" PRIu64 " names order %s, which does not exist",
				 refs[i].customer, refs[i].seq, number);
		}
		size_t first = i;
		for (; i < n_refs && refs[i].order == seq; i++)
			;
		sales_order *o;
		if (order_load(t, seq, &o) < 0)
			continue;   /* verify_orders reports it */
		long charges = 0, credits = 0, payments = 0, refunds = 0;
		bool credit_mismatch = false, other_customer = false;
		for (size_t j = first; j < i; j++) {
			if (strcmp(refs[j].customer, o->customer))
				other_customer = true;
			switch (refs[j].kind) {
			case LEDGER_CHARGE: charges++; break;
			case LEDGER_CREDIT: credits++; break;
			case LEDGER_PAYMENT: payments++; break;
			case LEDGER_REFUND: refunds++; break;
			}
		}
		/* each credit takes back one charge of its amount */
		for (size_t j = first; j < i; j++) {
			if (refs[j].kind != LEDGER_CREDIT)
				continue;
			size_t m;
			for (m = first; m < i && !(refs[m].kind == LEDGER_CHARGE && !refs[m].taken && refs[m].minor == refs[j].minor);
			     m++)
				;
			if (m == i)
				credit_mismatch = true;
			else
				refs[m].taken = true;
		}
		long net = charges - credits;
		bool legacy = o->n_history == 0;
		bool settled = o->status == ORDER_STATUS_CONFIRMED || o->status == ORDER_STATUS_SHIPPED;
		if (other_customer)
			violation(v, "order %s: a ledger entry on another customer's account", o->number);
		if (credits > charges || credit_mismatch)
			violation(v, "order %s: a credit matches no charge (%ld charges, %ld credits)", o->number, charges,
				 credits);
		else if (o->status == ORDER_STATUS_ON_HOLD && (net || o->charged))
			violation(v, "order %s: on_hold but charged", o->number);
		else if (settled && !legacy && net != 1)
			violation(v, "order %s: %s %s order has %ld charges", o->number, order_status_name(o->status),
				 order_payment_name(o->payment), net);
		else if ((o->status == ORDER_STATUS_CANCELLED || o->status == ORDER_STATUS_AWAITING_PAYMENT) && net)
			violation(v, "order %s: %s but charged", o->number, order_status_name(o->status));
		else if (!legacy && o->charged != (net == 1))
			violation(v, "order %s: marked %scharged, the ledger says otherwise", o->number, o->charged ? "" : "not ");
		if (payments != refunds + (o->paid && o->status != ORDER_STATUS_CANCELLED ? 1 : 0) &&
		    o->payment == ORDER_PAYMENT_PREPAID)
			violation(v, "order %s: %ld payments and %ld refunds for a prepaid order %s", o->number, payments,
				 refunds, o->paid ? "paid" : "not paid");
		order_free(o);
	}
	cursor_close(t, c);
	for (; r == -ENOENT && i < n_refs; i++) {
		char number[ORDER_NUMBER_MAX];
		order_number_format(refs[i].order, number);
		violation(v, "ledger of %s: entry %" PRIu64 " names order %s, which does not exist", refs[i].customer,
			 refs[i].seq, number);
	}
	return r == -ENOENT ? 0 : r;
}

static int verify_ledger(verify_ctx *v) {
	if (!v->t->s->ledger || !v->t->s->accounts)
		return 0;   /* a store from before the ledger, read-only */
	ledger_ref *refs = NULL;
	size_t n_refs = 0;
	int r = verify_ledger_entries(v, &refs, &n_refs);
	if (r == 0)
		r = verify_order_entries(v, refs, n_refs);
	free(refs);
	return r;
}

/* ---- the CRM (issue 11, doc/crm.md) ----
 * tasks:   u64 task number                              -> task record
 * taskkey: dedup key (text)                             -> u64 task number
 * taskidx: 'S' status biased-due u64-id                 -> empty (every task, by status)
 *          'A' assignee NUL status biased-due u64-id    -> empty
 *          'C' customer_id NUL status biased-due u64-id    -> empty
 *          'O' so NUL biased-delivery u64-id            -> empty (`before` tasks)
 * taskq:   biased due, u64 seq                          -> {"v":1,"kind":"alert"|"after_shipped",...}
 * crmlog:  customer_id NUL biased at, u64 seq              -> interaction record
 * remwm:   so NUL 16 hex digits (the reminder's hash)   -> {"v":1,"through":T} */

#define TIDX_STATUS 'S'
#define TIDX_ASSIGNEE 'A'
#define TIDX_CUSTOMER 'C'
#define TIDX_OCC 'O'

static int crm_need(store_txn *t, MDB_dbi dbi) {
	if (!t->write)
		return -EROFS;
	if (!dbi)
		return -EBADMSG;   /* a read-write open always has them */
	return t->err;
}

/* tag [name NUL] [status] [biased when, u64 id]: the prefix alone when !full. */
static int tidx_key(const store *s, char tag, const char *name, int status, bool full, int64_t when, uint64_t id,
		    unsigned char buf[STORE_KEY_MAX], MDB_val *ret) {
	size_t n = 0;
	buf[n++] = (unsigned char) tag;
	if (name) {
		int r = check_id(s, name, 19);
		if (r < 0)
			return r;
		size_t l = strlen(name);
		memcpy(buf + n, name, l + 1);
		n += l + 1;
	}
	if (status >= 0)
		buf[n++] = (unsigned char) status;
	if (full) {
		be64_put(buf + n, bias(when));
		be64_put(buf + n + 8, id);
		n += 16;
	}
	*ret = (MDB_val) { .mv_size = n, .mv_data = buf };
	return 0;
}

static int task_number(const task *tk, uint64_t *ret) {
	return task_id_parse(tk->id, ret) < 0 ? -EINVAL : 0;
}

/* Puts (or deletes) every index entry of tk. */
static int tidx_apply(store_txn *t, const task *tk, bool put) {
	uint64_t id;
	int r = task_number(tk, &id);
	if (r < 0)
		return r;
	struct { char tag; const char *name; int status; int64_t when; } e[] = {
		{ TIDX_STATUS, NULL, (int) tk->status, tk->due },
		{ TIDX_ASSIGNEE, tk->assignee, (int) tk->status, tk->due },
		{ TIDX_CUSTOMER, tk->customer, (int) tk->status, tk->due },
		{ TIDX_OCC, tk->standing_order, -1, tk->delivery },
	};
	size_t n = tk->kind == TASK_BEFORE && tk->standing_order ? 4 : 3;
	for (size_t i = 0; i < n; i++) {
		unsigned char kb[STORE_KEY_MAX];
		MDB_val k, empty = { 0 };
		if ((r = tidx_key(t->s, e[i].tag, e[i].name, e[i].status, true, e[i].when, id, kb, &k)) < 0)
			return r;
		r = put ? txn_put(t, t->s->taskidx, &k, &empty, 0) : txn_del(t, t->s->taskidx, &k);
		if (r == -ENOENT && !put)
			r = 0;
		if (r < 0)
			return txn_fail(t, r);
	}
	return 0;
}

static int task_put_record(store_txn *t, const task *tk, uint64_t id, unsigned flags) {
	json_t *j = record_new(), *fields = task_to_record(tk);
	bool ok = j && fields && json_object_update(j, fields) == 0;
	json_decref(fields);
	char *text;
	int r = record_dump(j, ok, &text);
	if (r < 0)
		return r;
	unsigned char kb[8];
	MDB_val k = seq_key(id, kb), v = str_val(text);
	r = txn_put(t, t->s->tasks, &k, &v, flags);
	free(text);
	return r;
}

static int task_load(store_txn *t, uint64_t id, task **ret) {
	if (!t->s->tasks)
		return -ENOENT;
	unsigned char kb[8];
	MDB_val k = seq_key(id, kb), v;
	int r = txn_get(t, t->s->tasks, &k, &v);
	if (r < 0)
		return r;
	json_t *j;
	if ((r = record_load(&v, &j)) < 0)
		return r;
	task *tk;
	r = task_from_record(j, &tk);
	json_decref(j);
	if (r < 0)
		return r == -ENOMEM ? r : -EBADMSG;
	uint64_t n;
	if (task_number(tk, &n) < 0 || n != id) {
		task_free(tk);
		return -EBADMSG;
	}
	*ret = tk;
	return 0;
}

static int taskkey_val(const store *s, const char *key, MDB_val *ret) {
	if (!key || !*key)
		return -EINVAL;
	size_t n = strlen(key);
	if (n > s->max_key || n > STORE_KEY_MAX)
		return -ENAMETOOLONG;
	*ret = (MDB_val) { .mv_size = n, .mv_data = (void *) key };
	return 0;
}

int store_task_create(store_txn *t, const char *key, task *tk) {
	if (!t || !tk || !tk->assignee || !tk->customer || !tk->text)
		return -EINVAL;
	int r = crm_need(t, t->s->tasks);
	if (r < 0)
		return r;
	MDB_val kk, kv;
	if (key) {
		if ((r = taskkey_val(t->s, key, &kk)) < 0)
			return r;
		if ((r = txn_get(t, t->s->taskkey, &kk, &kv)) == 0)
			return -EEXIST;
		if (r != -ENOENT)
			return r;
	}
	/* the index keys must fit before anything is written */
	unsigned char kb[STORE_KEY_MAX];
	MDB_val ik;
	if ((r = tidx_key(t->s, TIDX_ASSIGNEE, tk->assignee, 0, true, 0, 0, kb, &ik)) < 0 ||
	    (r = tidx_key(t->s, TIDX_CUSTOMER, tk->customer, 0, true, 0, 0, kb, &ik)) < 0 ||
	    (tk->kind == TASK_BEFORE && tk->standing_order &&
	     (r = tidx_key(t->s, TIDX_OCC, tk->standing_order, -1, true, 0, 0, kb, &ik)) < 0))
		return r;
	uint64_t id;
	if ((r = meta_get_u64(t, META_NEXT_TASK, 1, &id)) < 0)
		return r;
	if (id > TASK_NUMBER_MAX)
		return -EOVERFLOW;
	char old[TASK_ID_MAX];
	memcpy(old, tk->id, TASK_ID_MAX);
	task_id_format(id, tk->id);
	r = task_put_record(t, tk, id, MDB_NOOVERWRITE);
	if (r == -EEXIST)
		r = -EBADMSG;   /* the counter fell behind the records */
	if (r == -EINVAL) {
		memcpy(tk->id, old, TASK_ID_MAX);
		return r;   /* nothing written: not UTF-8 */
	}
	if (r < 0)
		return txn_fail(t, r);
	unsigned char nb[8];
	kv = seq_key(id, nb);
	if ((r = tidx_apply(t, tk, true)) < 0 || (key && (r = txn_put(t, t->s->taskkey, &kk, &kv, 0)) < 0) ||
	    (r = meta_put_u64(t, META_NEXT_TASK, id + 1)) < 0)
		return txn_fail(t, r);
	return 0;
}

int store_task_update(store_txn *t, const task *tk) {
	if (!t || !tk)
		return -EINVAL;
	int r = crm_need(t, t->s->tasks);
	uint64_t id;
	if (r < 0 || (r = task_number(tk, &id)) < 0)
		return r;
	task *old;
	if ((r = task_load(t, id, &old)) < 0)
		return r;
	if (!str_eq(old->assignee, tk->assignee) || !str_eq(old->customer, tk->customer) || old->kind != tk->kind ||
	    !str_eq(old->standing_order, tk->standing_order) || old->delivery != tk->delivery) {
		task_free(old);
		return -EINVAL;
	}
	/* the record first: a text that is not UTF-8 fails before anything is written */
	if ((r = task_put_record(t, tk, id, 0)) == 0 && (old->due != tk->due || old->status != tk->status) &&
	    (r = tidx_apply(t, old, false)) == 0)
		r = tidx_apply(t, tk, true);
	task_free(old);
	return r == -EINVAL ? r : txn_fail(t, r);
}

int store_task_get(store_txn *t, const char *id, task **ret) {
	if (!t || !id || !ret)
		return -EINVAL;
	uint64_t n;
	if (task_id_parse(id, &n) < 0)
		return -EINVAL;
	return task_load(t, n, ret);
}

int store_task_key_get(store_txn *t, const char *key, char ret_id[TASK_ID_MAX]) {
	if (!t || !ret_id)
		return -EINVAL;
	MDB_val k, v;
	int r = taskkey_val(t->s, key, &k);
	if (r < 0)
		return r;
	if (!t->s->taskkey)
		return -ENOENT;
	if ((r = txn_get(t, t->s->taskkey, &k, &v)) < 0)
		return r;
	if (v.mv_size != 8)
		return -EBADMSG;
	task_id_format(be64_get(v.mv_data), ret_id);
	return 0;
}

/* One index stream of a task walk: the entries under prefix, from a start key. */
typedef struct tstream {
	MDB_cursor *c;
	unsigned char prefix[STORE_KEY_MAX];
	size_t n_prefix;
	bool live;
	int64_t due;
	uint64_t id;
} tstream;

static int tstream_read(store_txn *t, tstream *s, int r, const MDB_val *k, int64_t due_before) {
	s->live = false;
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	if (k->mv_size < s->n_prefix || memcmp(k->mv_data, s->prefix, s->n_prefix))
		return 0;
	(void) t;
	if (k->mv_size != s->n_prefix + 16)
		return -EBADMSG;
	const unsigned char *p = (const unsigned char *) k->mv_data + s->n_prefix;
	s->due = unbias(be64_get(p));
	s->id = be64_get(p + 8);
	s->live = s->due < due_before;
	return 0;
}

int store_task_each(store_txn *t, const char *assignee, const char *customer_id, int status, int64_t due_before,
		    int64_t after_due, uint64_t after_id, int (*fn)(const task *tk, void *ud), void *ud) {
	if (!t || !fn || status > TASK_CANCELLED)
		return -EINVAL;
	if (!t->s->taskidx)
		return 0;
	char tag = customer_id ? TIDX_CUSTOMER : assignee ? TIDX_ASSIGNEE : TIDX_STATUS;
	const char *name = customer_id ? customer_id : assignee;
	tstream st[3] = { 0 };
	size_t n = 0;
	int r = 0;
	for (int s = 0; s <= TASK_CANCELLED && r == 0; s++) {
		if (status >= 0 && s != status)
			continue;
		tstream *x = &st[n];
		MDB_val k, v;
		unsigned char kb[STORE_KEY_MAX];
		if ((r = tidx_key(t->s, tag, name, s, false, 0, 0, x->prefix, &k)) < 0)
			break;
		x->n_prefix = k.mv_size;
		if (after_id == 0)
			k = (MDB_val) { .mv_size = x->n_prefix, .mv_data = x->prefix };
		else if (after_id == UINT64_MAX && after_due == INT64_MAX)
			continue;   /* nothing after it */
		else if (after_id == UINT64_MAX)
			tidx_key(t->s, tag, name, s, true, after_due + 1, 0, kb, &k);
		else
			tidx_key(t->s, tag, name, s, true, after_due, after_id + 1, kb, &k);
		if ((r = txn_cursor(t, t->s->taskidx, &x->c)) < 0)
			break;
		n++;
		r = tstream_read(t, x, cursor_get(t, x->c, &k, &v, MDB_SET_RANGE), &k, due_before);
	}
	while (r == 0) {
		tstream *m = NULL;
		for (size_t i = 0; i < n; i++)
			if (st[i].live && (!m || st[i].due < m->due || (st[i].due == m->due && st[i].id < m->id)))
				m = &st[i];
		if (!m)
			break;
		task *tk;
		r = task_load(t, m->id, &tk);
		if (r == -ENOENT)
			r = -EBADMSG;   /* the index names a task that is not there */
		if (r < 0)
			break;
		if (!customer_id || !assignee || str_eq(tk->assignee, assignee))
			r = fn(tk, ud);
		task_free(tk);
		if (r != 0)
			break;
		MDB_val k, v;
		r = tstream_read(t, m, cursor_get(t, m->c, &k, &v, MDB_NEXT), &k, due_before);
	}
	for (size_t i = 0; i < n; i++)
		cursor_close(t, st[i].c);
	return r;
}

int store_task_occurrence_each(store_txn *t, const char *so_id, int64_t delivery,
			       int (*fn)(const task *tk, void *ud), void *ud) {
	if (!t || !fn)
		return -EINVAL;
	if (!t->s->taskidx)
		return 0;
	tstream x = { 0 };
	MDB_val k, v;
	int r = tidx_key(t->s, TIDX_OCC, so_id, -1, false, 0, 0, x.prefix, &k);
	if (r < 0)
		return r;
	/* the prefix includes the delivery: the stream's "due" is then the id's high half */
	be64_put(x.prefix + k.mv_size, bias(delivery));
	x.n_prefix = k.mv_size + 8;
	k = (MDB_val) { .mv_size = x.n_prefix, .mv_data = x.prefix };
	if ((r = txn_cursor(t, t->s->taskidx, &x.c)) < 0)
		return r;
	for (r = cursor_get(t, x.c, &k, &v, MDB_SET_RANGE); r == 0; r = cursor_get(t, x.c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != x.n_prefix + 8 || memcmp(k.mv_data, x.prefix, x.n_prefix))
			break;
		task *tk;
		if ((r = task_load(t, be64_get((const unsigned char *) k.mv_data + x.n_prefix), &tk)) == -ENOENT)
			r = -EBADMSG;
		if (r < 0)
			break;
		r = fn(tk, ud);
		task_free(tk);
		if (r != 0)
			break;
	}
	cursor_close(t, x.c);
	return r == -ENOENT ? 0 : r;
}

/* ---- the task queue ---- */

void store_taskq_entry_done(store_taskq_entry *e) {
	if (!e)
		return;
	free(e->standing_order);
	free(e->text);
	free(e->assignee);
	e->standing_order = e->text = e->assignee = NULL;
}

static bool hash_valid(const char *h) {
	return h && strlen(h) == 16 && strspn(h, "0123456789abcdef") == 16;
}

static int taskq_to_text(const store_taskq_entry *e, char **ret) {
	bool ok = true;
	json_t *j = record_new();
	if (e->kind == STORE_TASKQ_ALERT) {
		uint64_t n;
		if (task_id_parse(e->task, &n) < 0) {
			json_decref(j);
			return -EINVAL;
		}
		jset(j, "kind", json_string("alert"), &ok);
		jset(j, "task", json_string(e->task), &ok);
	} else if (e->kind == STORE_TASKQ_AFTER_SHIPPED) {
		uint64_t n;
		if (order_number_parse(e->order, &n) < 0 || !e->standing_order || !hash_valid(e->hash) || !e->text) {
			json_decref(j);
			return -EINVAL;
		}
		jset(j, "kind", json_string("after_shipped"), &ok);
		jset(j, "order", json_string(e->order), &ok);
		jset(j, "standing_order", json_string(e->standing_order), &ok);
		jset(j, "hash", json_string(e->hash), &ok);
		jset(j, "offset", json_integer(e->offset), &ok);
		jset(j, "text", json_string(e->text), &ok);
		jset(j, "assignee", jfield_str_or_null(e->assignee), &ok);
	} else
		ok = false;
	return record_dump(j, ok, ret);
}

static int taskq_from_val(const MDB_val *k, const MDB_val *v, store_taskq_entry *ret) {
	if (k->mv_size != 16)
		return -EBADMSG;
	json_t *j;
	int r = record_load(v, &j);
	if (r < 0)
		return r;
	store_taskq_entry e = { .due = unbias(be64_get(k->mv_data)), .seq = be64_get((const unsigned char *) k->mv_data + 8) };
	const char *kind = json_string_value(json_object_get(j, "kind"));
	char *id = NULL, *order = NULL, *hash = NULL;
	uint64_t n;
	r = -EBADMSG;
	if (kind && !strcmp(kind, "alert")) {
		e.kind = STORE_TASKQ_ALERT;
		if ((r = jget_str(j, "task", false, &id)) == 0 && (task_id_parse(id, &n) < 0 || strlen(id) >= TASK_ID_MAX))
			r = -EBADMSG;
		if (r == 0)
			strcpy(e.task, id);
	} else if (kind && !strcmp(kind, "after_shipped")) {
		e.kind = STORE_TASKQ_AFTER_SHIPPED;
		if ((r = jget_str(j, "order", false, &order)) == 0 && (r = jget_str(j, "hash", false, &hash)) == 0 &&
		    (r = jget_str(j, "standing_order", false, &e.standing_order)) == 0 &&
		    (r = jget_int(j, "offset", &e.offset)) == 0 && (r = jget_str(j, "text", false, &e.text)) == 0 &&
		    (r = jget_str(j, "assignee", true, &e.assignee)) == 0 &&
		    (order_number_parse(order, &n) < 0 || strlen(order) >= ORDER_NUMBER_MAX || !hash_valid(hash)))
			r = -EBADMSG;
		if (r == 0) {
			strcpy(e.order, order);
			strcpy(e.hash, hash);
		}
	}
	free(id);
	free(order);
	free(hash);
	json_decref(j);
	if (r < 0) {
		store_taskq_entry_done(&e);
		return r == -ENOMEM ? r : -EBADMSG;
	}
	*ret = e;
	return 0;
}

int store_taskq_put(store_txn *t, store_taskq_entry *e) {
	if (!t || !e)
		return -EINVAL;
	int r = crm_need(t, t->s->taskq);
	if (r < 0)
		return r;
	char *text;
	if ((r = taskq_to_text(e, &text)) < 0)
		return r;
	uint64_t seq;
	if ((r = meta_get_u64(t, META_NEXT_TASKQ, 1, &seq)) < 0) {
		free(text);
		return r;
	}
	unsigned char kb[16];
	MDB_val k = due_key(e->due, seq, kb), v = str_val(text);
	r = txn_put(t, t->s->taskq, &k, &v, 0);
	free(text);
	if (r < 0 || (r = meta_put_u64(t, META_NEXT_TASKQ, seq + 1)) < 0)
		return txn_fail(t, r);
	e->seq = seq;
	return 0;
}

int store_taskq_del(store_txn *t, int64_t due, uint64_t seq) {
	if (!t)
		return -EINVAL;
	int r = crm_need(t, t->s->taskq);
	if (r < 0)
		return r;
	unsigned char kb[16];
	MDB_val k = due_key(due, seq, kb);
	r = txn_del(t, t->s->taskq, &k);
	return r == -ENOENT ? r : txn_fail(t, r);
}

int store_taskq_each(store_txn *t, int64_t now, size_t max, int (*fn)(const store_taskq_entry *e, void *ud),
		     void *ud) {
	if (!t || !fn)
		return -EINVAL;
	if (!t->s->taskq || !max)
		return 0;
	MDB_cursor *c;
	int r = txn_cursor(t, t->s->taskq, &c);
	if (r < 0)
		return r;
	MDB_val k, v;
	size_t n = 0;
	for (r = cursor_get(t, c, &k, &v, MDB_FIRST); r == 0 && n < max; r = cursor_get(t, c, &k, &v, MDB_NEXT)) {
		store_taskq_entry e;
		if ((r = taskq_from_val(&k, &v, &e)) < 0)
			break;
		if (e.due > now) {
			store_taskq_entry_done(&e);
			break;
		}
		n++;
		r = fn(&e, ud);
		store_taskq_entry_done(&e);
		if (r != 0)
			break;
	}
	cursor_close(t, c);
	return r == -ENOENT ? 0 : r;
}

int store_taskq_next(store_txn *t, int64_t *ret_due) {
	if (!t || !ret_due)
		return -EINVAL;
	if (!t->s->taskq)
		return -ENOENT;
	MDB_cursor *c;
	int r = txn_cursor(t, t->s->taskq, &c);
	if (r < 0)
		return r;
	MDB_val k, v;
	if ((r = cursor_get(t, c, &k, &v, MDB_FIRST)) == 0) {
		if (k.mv_size != 16)
			r = -EBADMSG;
		else
			*ret_due = unbias(be64_get(k.mv_data));
	}
	cursor_close(t, c);
	return r;
}

/* ---- reminder watermarks ---- */

static int remwm_key(const store *s, const char *so_id, const char hash[17], unsigned char buf[STORE_KEY_MAX],
		     MDB_val *ret) {
	if (!hash_valid(hash))
		return -EINVAL;
	return cust_key(s, so_id, hash, 16, buf, ret);
}

int store_reminder_get(store_txn *t, const char *so_id, const char hash[17], int64_t *ret_through) {
	if (!t || !ret_through)
		return -EINVAL;
	unsigned char kb[STORE_KEY_MAX];
	MDB_val k, v;
	int r = remwm_key(t->s, so_id, hash, kb, &k);
	if (r < 0)
		return r;
	if (!t->s->remwm)
		return -ENOENT;
	if ((r = txn_get(t, t->s->remwm, &k, &v)) < 0)
		return r;
	json_t *j;
	if ((r = record_load(&v, &j)) < 0)
		return r;
	int64_t through;
	r = jget_int(j, "through", &through);
	json_decref(j);
	if (r < 0)
		return r == -ENOMEM ? r : -EBADMSG;
	*ret_through = through;
	return 0;
}

int store_reminder_put(store_txn *t, const char *so_id, const char hash[17], int64_t through) {
	if (!t)
		return -EINVAL;
	int r = crm_need(t, t->s->remwm);
	unsigned char kb[STORE_KEY_MAX];
	MDB_val k, v;
	if (r < 0 || (r = remwm_key(t->s, so_id, hash, kb, &k)) < 0)
		return r;
	bool ok = true;
	json_t *j = record_new();
	jset(j, "through", json_integer(through), &ok);
	char *text;
	if ((r = record_dump(j, ok, &text)) < 0)
		return r;
	v = str_val(text);
	r = txn_put(t, t->s->remwm, &k, &v, 0);
	free(text);
	return r;
}

/* ---- the interaction log ---- */

static int crmlog_key(const store *s, const char *customer_id, int64_t at, uint64_t seq,
		      unsigned char buf[STORE_KEY_MAX], MDB_val *ret) {
	unsigned char b[16];
	due_key(at, seq, b);
	return cust_key(s, customer_id, b, 16, buf, ret);
}

static int interaction_load(const MDB_val *v, interaction **ret) {
	json_t *j;
	int r = record_load(v, &j);
	if (r < 0)
		return r;
	r = interaction_from_record(j, ret);
	json_decref(j);
	return r < 0 && r != -ENOMEM ? -EBADMSG : r;
}

int store_interaction_append(store_txn *t, interaction *i) {
	if (!t || !i || !i->customer || !i->summary || !i->author)
		return -EINVAL;
	int r = crm_need(t, t->s->crmlog);
	if (r < 0)
		return r;
	uint64_t seq;
	if ((r = meta_get_u64(t, META_NEXT_INTERACTION, 1, &seq)) < 0)
		return r;
	unsigned char kb[STORE_KEY_MAX];
	MDB_val k, v;
	if ((r = crmlog_key(t->s, i->customer, i->at, seq, kb, &k)) < 0)
		return r;
	uint64_t old = i->seq;
	i->seq = seq;
	json_t *j = record_new(), *fields = interaction_to_record(i);
	bool ok = j && fields && json_object_update(j, fields) == 0;
	json_decref(fields);
	char *text;
	if ((r = record_dump(j, ok, &text)) < 0) {
		i->seq = old;
		return r;
	}
	v = str_val(text);
	r = txn_put(t, t->s->crmlog, &k, &v, MDB_NOOVERWRITE);
	free(text);
	if (r == -EEXIST)
		r = -EBADMSG;   /* the counter fell behind */
	if (r < 0 || (r = meta_put_u64(t, META_NEXT_INTERACTION, seq + 1)) < 0) {
		i->seq = old;
		return txn_fail(t, r);
	}
	return 0;
}

int store_interaction_each(store_txn *t, const char *customer_id, int64_t from, int64_t to, int64_t after_at,
			   uint64_t after_seq, bool newest_first, int (*fn)(const interaction *i, void *ud), void *ud) {
	if (!t || !fn)
		return -EINVAL;
	unsigned char pb[STORE_KEY_MAX], kb[STORE_KEY_MAX];
	MDB_val pk, k, v;
	int r = cust_key(t->s, customer_id, NULL, 0, pb, &pk);
	if (r < 0)
		return r;
	if (!t->s->crmlog || from >= to)
		return 0;
	size_t prefix = pk.mv_size;
	MDB_cursor *c;
	if (!newest_first) {
		/* from (from, 0), or just after the cursor when that is later */
		int64_t at = from;
		uint64_t seq = 0;
		if (after_at != INT64_MIN && (after_at > from || (after_at == from && after_seq != UINT64_MAX))) {
			if (after_seq == UINT64_MAX) {
				if (after_at == INT64_MAX)
					return 0;
				at = after_at + 1;
			} else {
				at = after_at;
				seq = after_seq + 1;
			}
		}
		crmlog_key(t->s, customer_id, at, seq, kb, &k);
		if ((r = txn_cursor(t, t->s->crmlog, &c)) < 0)
			return r;
		r = cursor_get(t, c, &k, &v, MDB_SET_RANGE);
	} else {
		/* before (to, 0), or before the cursor when that is earlier */
		int64_t at = to;
		uint64_t seq = 0;
		if (after_at != INT64_MIN && after_at < to) {
			at = after_at;
			seq = after_seq;
		}
		crmlog_key(t->s, customer_id, at, seq, kb, &k);
		if ((r = txn_cursor(t, t->s->crmlog, &c)) < 0)
			return r;
		r = cursor_get(t, c, &k, &v, MDB_SET_RANGE);
		if (r == 0)
			r = cursor_get(t, c, &k, &v, MDB_PREV);
		else if (r == -ENOENT)
			r = cursor_get(t, c, &k, &v, MDB_LAST);
	}
	for (; r == 0; r = cursor_get(t, c, &k, &v, newest_first ? MDB_PREV : MDB_NEXT)) {
		if (k.mv_size != prefix + 16 || memcmp(k.mv_data, pb, prefix))
			break;
		const unsigned char *p = (const unsigned char *) k.mv_data + prefix;
		int64_t at = unbias(be64_get(p));
		if (newest_first ? at < from : at >= to)
			break;
		interaction *i;
		if ((r = interaction_load(&v, &i)) < 0)
			break;
		if (i->at != at || i->seq != be64_get(p + 8) || strcmp(i->customer, customer_id))
			r = -EBADMSG;
		else
			r = fn(i, ud);
		interaction_free(i);
		if (r != 0)
			break;
	}
	cursor_close(t, c);
	return r == -ENOENT ? 0 : r;
}

/* ---- verify: the CRM ---- */

/* Calls fn for each entry of dbi in key order; fn returns 0 to go on (a violation
 * is reported and the walk goes on), a negative errno to stop. */
static int verify_walk(verify_ctx *v, MDB_dbi dbi, int (*fn)(verify_ctx *v, const MDB_val *k, const MDB_val *val, void *ud),
		       void *ud) {
	store_txn *t = v->t;
	MDB_cursor *c;
	int r = txn_cursor(t, dbi, &c);
	if (r < 0)
		return r;
	MDB_val k, val;
	for (r = cursor_get(t, c, &k, &val, MDB_FIRST); r == 0; r = cursor_get(t, c, &k, &val, MDB_NEXT))
		if ((r = fn(v, &k, &val, ud)) < 0)
			break;
	cursor_close(t, c);
	return r == -ENOENT ? 0 : r;
}

/* Every task readable, under its own number, with each of its index entries. */
static int verify_task(verify_ctx *v, const MDB_val *k, const MDB_val *val, void *ud) {
	(void) val;
	store_txn *t = v->t;
	if (k->mv_size != 8) {
		violation(v, "tasks: malformed key of %zu bytes", k->mv_size);
		return 0;
	}
	uint64_t id = be64_get(k->mv_data);
	char name[TASK_ID_MAX];
	task_id_format(id, name);
	*(uint64_t *) ud = id;
	task *tk;
	int r = task_load(t, id, &tk);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		violation(v, "task %s: record is unreadable", name);
		return 0;
	}
	struct { char tag; const char *name; int status; int64_t when; const char *what; } e[] = {
		{ TIDX_STATUS, NULL, (int) tk->status, tk->due, "status index" },
		{ TIDX_ASSIGNEE, tk->assignee, (int) tk->status, tk->due, "assignee index" },
		{ TIDX_CUSTOMER, tk->customer, (int) tk->status, tk->due, "customer index" },
		{ TIDX_OCC, tk->standing_order, -1, tk->delivery, "occurrence index" },
	};
	size_t n = tk->kind == TASK_BEFORE && tk->standing_order ? 4 : 3;
	r = 0;
	for (size_t i = 0; i < n && r == 0; i++) {
		unsigned char kb[STORE_KEY_MAX];
		MDB_val ik, iv;
		char w[CAL_ISO_MAX];
		if (tidx_key(t->s, e[i].tag, e[i].name, e[i].status, true, e[i].when, id, kb, &ik) < 0) {
			violation(v, "task %s: malformed fields", name);
			break;
		}
		if ((r = txn_get(t, t->s->taskidx, &ik, &iv)) == -ENOENT) {
			violation(v, "task %s: not in the %s (%s, %s)", name, e[i].what, task_status_name(tk->status),
				  when(e[i].when, w));
			r = 0;
		}
	}
	task_free(tk);
	return r;
}

/* Every index entry names an existing task that matches it. */
static int verify_task_index(verify_ctx *v, const MDB_val *k, const MDB_val *val, void *ud) {
	(void) val;
	(void) ud;
	const unsigned char *p = k->mv_data;
	size_t sz = k->mv_size;
	char tag = sz ? (char) p[0] : 0, name[STORE_KEY_MAX + 1] = "";
	size_t off = 1;
	if (tag == TIDX_ASSIGNEE || tag == TIDX_CUSTOMER || tag == TIDX_OCC) {
		const unsigned char *nul = sz > 1 ? memchr(p + 1, 0, sz - 1) : NULL;
		if (!nul || nul == p + 1) {
			violation(v, "taskidx: malformed key");
			return 0;
		}
		snprintf(name, sizeof(name), "%.*s", (int) (nul - p - 1), (const char *) p + 1);
		off = (size_t) (nul - p) + 1;
	}
	int status = -1;
	if (tag != TIDX_OCC && off < sz)
		status = p[off++];
	if ((tag != TIDX_STATUS && tag != TIDX_ASSIGNEE && tag != TIDX_CUSTOMER && tag != TIDX_OCC) ||
	    sz != off + 16 || status > TASK_CANCELLED || (tag != TIDX_OCC && status < 0)) {
		violation(v, "taskidx: malformed key");
		return 0;
	}
	int64_t at = unbias(be64_get(p + off));
	uint64_t id = be64_get(p + off + 8);
	char tid[TASK_ID_MAX], w[CAL_ISO_MAX];
	task_id_format(id, tid);
	const char *what = tag == TIDX_STATUS ? "status" : tag == TIDX_ASSIGNEE ? "assignee" :
			   tag == TIDX_CUSTOMER ? "customer" : "occurrence";
	task *tk;
	int r = task_load(v->t, id, &tk);
	if (r == -ENOENT)
		violation(v, "%s index entry (%s%s%s, %s): no such task", what, name, *name ? ", " : "", when(at, w), tid);
	if (r == -ENOENT || r == -EBADMSG)   /* an unreadable one is reported with the task */
		return 0;
	if (r < 0)
		return r;
	bool match = tag == TIDX_OCC ? tk->kind == TASK_BEFORE && str_eq(tk->standing_order, name) && tk->delivery == at
				     : (int) tk->status == status && tk->due == at &&
					       (tag == TIDX_STATUS ||
						str_eq(tag == TIDX_ASSIGNEE ? tk->assignee : tk->customer, name));
	if (!match)
		violation(v, "%s index entry (%s%s%s, %s): the task does not match it (%s, due %s)", what, name,
			  *name ? ", " : "", when(at, w), tid, task_status_name(tk->status),
			  when(tk->due, (char[CAL_ISO_MAX]) { 0 }));
	task_free(tk);
	return 0;
}

static int verify_task_key(verify_ctx *v, const MDB_val *k, const MDB_val *val, void *ud) {
	(void) ud;
	char key[STORE_KEY_MAX + 1], tid[TASK_ID_MAX];
	snprintf(key, sizeof(key), "%.*s", (int) k->mv_size, (const char *) k->mv_data);
	if (val->mv_size != 8) {
		violation(v, "task key %s: malformed entry", key);
		return 0;
	}
	task_id_format(be64_get(val->mv_data), tid);
	MDB_val tk = *val, tv;
	int r = txn_get(v->t, v->t->s->tasks, &tk, &tv);
	if (r == -ENOENT)
		violation(v, "task key %s: task %s does not exist", key, tid);
	return r == -ENOENT ? 0 : r;
}

static int verify_taskq_entry(verify_ctx *v, const MDB_val *k, const MDB_val *val, void *ud) {
	(void) ud;
	char w[CAL_ISO_MAX];
	if (k->mv_size != 16) {
		violation(v, "taskq: malformed key of %zu bytes", k->mv_size);
		return 0;
	}
	int64_t due = unbias(be64_get(k->mv_data));
	uint64_t seq = be64_get((const unsigned char *) k->mv_data + 8), n;
	store_taskq_entry e;
	int r = taskq_from_val(k, val, &e);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		violation(v, "task queue entry (%s, %" PRIu64 "): record is unreadable", when(due, w), seq);
		return 0;
	}
	if (e.kind == STORE_TASKQ_ALERT) {
		task *tk;
		task_id_parse(e.task, &n);
		if ((r = task_load(v->t, n, &tk)) == -ENOENT)
			violation(v, "task queue entry (%s, %" PRIu64 "): alert for task %s, which does not exist",
				  when(due, w), seq, e.task);
		else if (r == 0)
			task_free(tk);
	} else {
		sales_order *o;
		order_number_parse(e.order, &n);
		if ((r = order_load(v->t, n, &o)) == -ENOENT)
			violation(v, "task queue entry (%s, %" PRIu64 "): after_shipped for order %s, which does not exist",
				  when(due, w), seq, e.order);
		else if (r == 0)
			order_free(o);
	}
	store_taskq_entry_done(&e);
	return r == -ENOMEM ? r : 0;
}

/* "NAME" NUL tail of n bytes: NAME copied; false when the key is not that. */
static bool name_tail_key(const MDB_val *k, size_t n, char name[STORE_KEY_MAX + 1], const unsigned char **ret_tail) {
	const unsigned char *p = k->mv_data;
	const unsigned char *nul = k->mv_size > n + 1 ? memchr(p, 0, k->mv_size) : NULL;
	if (!nul || nul == p || (size_t) (nul - p) + 1 + n != k->mv_size)
		return false;
	memcpy(name, p, (size_t) (nul - p) + 1);
	*ret_tail = nul + 1;
	return true;
}

static int verify_interaction(verify_ctx *v, const MDB_val *k, const MDB_val *val, void *ud) {
	char cust[STORE_KEY_MAX + 1], w[CAL_ISO_MAX];
	const unsigned char *tail;
	if (!name_tail_key(k, 16, cust, &tail)) {
		violation(v, "crmlog: malformed key");
		return 0;
	}
	int64_t at = unbias(be64_get(tail));
	uint64_t seq = be64_get(tail + 8);
	if (seq > *(uint64_t *) ud)
		*(uint64_t *) ud = seq;
	interaction *i;
	int r = interaction_load(val, &i);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		violation(v, "interaction (%s, %s, %" PRIu64 "): record is unreadable", cust, when(at, w), seq);
		return 0;
	}
	if (strcmp(i->customer, cust) || i->at != at || i->seq != seq)
		violation(v, "interaction (%s, %s, %" PRIu64 "): the record says (%s, %s, %" PRIu64 ")", cust,
			  when(at, w), seq, i->customer, when(i->at, (char[CAL_ISO_MAX]) { 0 }), i->seq);
	interaction_free(i);
	return 0;
}

static int verify_watermark(verify_ctx *v, const MDB_val *k, const MDB_val *val, void *ud) {
	(void) ud;
	char so[STORE_KEY_MAX + 1], hash[17];
	const unsigned char *tail;
	if (!name_tail_key(k, 16, so, &tail)) {
		violation(v, "remwm: malformed key");
		return 0;
	}
	memcpy(hash, tail, 16);
	hash[16] = 0;
	json_t *j;
	int64_t through;
	bool ok = hash_valid(hash) && record_load(val, &j) == 0;
	if (ok) {
		ok = jget_int(j, "through", &through) == 0;
		json_decref(j);
	}
	if (!ok)
		violation(v, "reminder watermark (%s, %s): record is unreadable", so, hash);
	return 0;
}

static int verify_crm_counter(verify_ctx *v, const char *key, const char *what, uint64_t last) {
	uint64_t next;
	int r = meta_get_u64(v->t, key, 1, &next);
	if (r == -EBADMSG)
		violation(v, "meta: the %s counter is unreadable", what);
	else if (r < 0)
		return r;
	else if (last && next <= last)
		violation(v, "meta: next %s number %" PRIu64 " is not after the last one %" PRIu64, what, next, last);
	return 0;
}

static int verify_crm(verify_ctx *v) {
	store *s = v->t->s;
	if (!s->tasks || !s->taskkey || !s->taskidx || !s->taskq || !s->crmlog || !s->remwm)
		return 0;   /* an older store, read-only: no CRM records yet */
	uint64_t last_task = 0, last_inter = 0;
	int r;
	if ((r = verify_walk(v, s->tasks, verify_task, &last_task)) < 0 ||
	    (r = verify_walk(v, s->taskidx, verify_task_index, NULL)) < 0 ||
	    (r = verify_walk(v, s->taskkey, verify_task_key, NULL)) < 0 ||
	    (r = verify_walk(v, s->taskq, verify_taskq_entry, NULL)) < 0 ||
	    (r = verify_walk(v, s->crmlog, verify_interaction, &last_inter)) < 0 ||
	    (r = verify_walk(v, s->remwm, verify_watermark, NULL)) < 0 ||
	    (r = verify_crm_counter(v, META_NEXT_TASK, "task", last_task)) < 0)
		return r;
	return verify_crm_counter(v, META_NEXT_INTERACTION, "interaction", last_inter);
}

/* ==== the compiled definitions (helper M's family: store_cset_*; doc/store.md) ====
 * Manifest "cset": a version byte, then varints and strings (lib/base/bytes.h):
 * the program that compiled it, config hash, tz hash, the zones (count, names), the files (count; each: name,
 * size, ino, dev, mtime_ns, ctime_ns, seen_ns (signed), hash), then 8 bytes
 * (little-endian) of defs_hash64 over all before.
 * Records "cset/NAME": the packed unit as defs_unit_pack wrote it. */

#include "lib/defs/pack.h"

static const char CSET_KEY[] = "cset";

static void cset_u64(bytes_buf *b, uint64_t v) {
	uint8_t x[8];
	for (int i = 0; i < 8; i++)
		x[i] = (uint8_t) (v >> (8 * i));
	bytes_put(b, x, 8);
}

static int cset_rec_key(const char *name, char **ret) {
	if (asprintf(ret, "%s/%s", CSET_KEY, name) < 0)
		return -ENOMEM;
	return strlen(*ret) > 500 ? (free(*ret), -ENAMETOOLONG) : 0;
}

/* The record of name deleted: 0 also when there was none. */
static int cset_rec_del(store_txn *t, const char *name) {
	char *key;
	int r = cset_rec_key(name, &key);
	if (r < 0)
		return r;
	MDB_val k = str_val(key);
	r = txn_del(t, t->s->meta, &k);
	free(key);
	return r == -ENOENT ? 0 : r;
}

static bool cset_named(const store_cset_put_file *files, size_t n, const char *name) {
	for (size_t i = 0; i < n; i++)
		if (!strcmp(files[i].name, name))
			return true;
	return false;
}

int store_cset_put(store_txn *t, const store_cset *head, const store_cset_put_file *files, size_t n) {
	if (!t || !head || (n && !files) || n > UINT32_MAX || head->n_zones > UINT32_MAX)
		return -EINVAL;
	store_cset *old = NULL;
	int r = store_cset_get(t, &old);
	if (r < 0 && r != -ENOENT && r != -EPROTO && r != -EBADMSG)
		return r;
	r = 0;
	/* records of files gone from the set */
	for (size_t i = 0; old && i < old->n_files && r == 0; i++)
		if (!cset_named(files, n, old->files[i].name))
			r = cset_rec_del(t, old->files[i].name);
	store_cset_free(old);
	if (r < 0)
		return r;
	bytes_buf b = { 0 };
	bytes_u8(&b, STORE_CSET_VERSION);
	bytes_str(&b, head->program ? head->program : "");
	bytes_uv(&b, head->config_hash);
	bytes_uv(&b, head->tz_hash);
	bytes_uv(&b, head->n_zones);
	for (size_t i = 0; i < head->n_zones; i++)
		bytes_str(&b, head->zones[i]);
	bytes_uv(&b, n);
	for (size_t i = 0; i < n && r == 0; i++) {
		const defs_file_info *fi = &files[i].info;
		if (strlen(files[i].name) > 400) {
			r = -ENAMETOOLONG;
			break;
		}
		bytes_str(&b, files[i].name);
		bytes_uv(&b, fi->id.size);
		bytes_uv(&b, fi->id.ino);
		bytes_uv(&b, fi->id.dev);
		bytes_sv(&b, fi->id.mtime_ns);
		bytes_sv(&b, fi->id.ctime_ns);
		bytes_sv(&b, fi->id.seen_ns);
		bytes_uv(&b, fi->hash);
		if (!files[i].packed)
			continue;
		char *key;
		if ((r = cset_rec_key(files[i].name, &key)) < 0)
			break;
		MDB_val k = str_val(key), v = { .mv_size = files[i].packed_len, .mv_data = (void *) files[i].packed };
		r = txn_put_borrowed(t, t->s->meta, &k, &v);
		free(key);
	}
	if (r == 0 && b.failed)
		r = -ENOMEM;
	if (r == 0) {
		cset_u64(&b, defs_hash64(b.p, b.n, STORE_CSET_VERSION));
		MDB_val k = str_val(CSET_KEY), v = { .mv_size = b.n, .mv_data = b.p };
		r = b.failed ? -ENOMEM : txn_put(t, t->s->meta, &k, &v, 0);
	}
	bytes_free(&b);
	return r;
}

void store_cset_free(store_cset *m) {
	if (!m)
		return;
	for (size_t i = 0; i < m->n_zones; i++)
		free(m->zones[i]);
	free(m->zones);
	for (size_t i = 0; i < m->n_files; i++)
		free(m->files[i].name);
	free(m->files);
	free(m->program);
	free(m);
}

int store_cset_get(store_txn *t, store_cset **ret) {
	if (!t || !ret)
		return -EINVAL;
	MDB_val k = str_val(CSET_KEY), v;
	int r = txn_get(t, t->s->meta, &k, &v);
	if (r < 0)
		return r;
	const uint8_t *p = v.mv_data;
	if (v.mv_size < 1 + 8)
		return -EBADMSG;
	if (p[0] != STORE_CSET_VERSION)
		return -EPROTO;
	uint64_t h = 0;
	for (int i = 0; i < 8; i++)
		h |= (uint64_t) p[v.mv_size - 8 + i] << (8 * i);
	if (h != defs_hash64(p, v.mv_size - 8, STORE_CSET_VERSION))
		return -EBADMSG;
	bytes_rd rd = bytes_reader(p + 1, v.mv_size - 9);
	store_cset *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->program = bytes_get_str(&rd);
	m->config_hash = bytes_get_uv(&rd);
	m->tz_hash = bytes_get_uv(&rd);
	uint64_t nz = bytes_get_uv(&rd);
	if (!rd.bad && nz <= (uint64_t) (rd.end - rd.p) && (m->zones = calloc(nz ? nz : 1, sizeof(char *))))
		for (; m->n_zones < nz && !rd.bad; m->n_zones++)
			m->zones[m->n_zones] = bytes_get_str(&rd);
	else
		rd.bad = true;
	uint64_t nf = rd.bad ? 0 : bytes_get_uv(&rd);
	if (!rd.bad && nf <= (uint64_t) (rd.end - rd.p) / 8 && (m->files = calloc(nf ? nf : 1, sizeof(*m->files))))
		for (; m->n_files < nf && !rd.bad; m->n_files++) {
			store_cset_file *f = &m->files[m->n_files];
			f->name = bytes_get_str(&rd);
			f->info.id.size = bytes_get_uv(&rd);
			f->info.id.ino = bytes_get_uv(&rd);
			f->info.id.dev = bytes_get_uv(&rd);
			f->info.id.mtime_ns = bytes_get_sv(&rd);
			f->info.id.ctime_ns = bytes_get_sv(&rd);
			f->info.id.seen_ns = bytes_get_sv(&rd);
			f->info.hash = bytes_get_uv(&rd);
		}
	else
		rd.bad = true;
	if (!bytes_done(&rd)) {
		store_cset_free(m);
		return -EBADMSG;
	}
	*ret = m;
	return 0;
}

int store_cset_record(store_txn *t, const char *name, const void **ret_p, size_t *ret_len) {
	if (!t || !name)
		return -EINVAL;
	char *key;
	int r = cset_rec_key(name, &key);
	if (r < 0)
		return r;
	MDB_val k = str_val(key), v;
	r = txn_get(t, t->s->meta, &k, &v);
	free(key);
	if (r < 0)
		return r;
	*ret_p = v.mv_data;
	*ret_len = v.mv_size;
	return 0;
}

int store_cset_order(store_txn *t, const char *file, size_t pos, struct defs_arena **scratch, so_bulk *ret) {
	const void *p;
	size_t len;
	int r = store_cset_record(t, file, &p, &len);
	if (r < 0)
		return r;
	if ((r = defs_bulk_unpack(p, len, pos, scratch, ret)) < 0)
		return r;
	ret->file = file;
	return 0;
}

int store_cset_clear(store_txn *t) {
	store_cset *m = NULL;
	int r = store_cset_get(t, &m);
	if (r == -ENOENT)
		return 0;
	for (size_t i = 0; m && i < m->n_files && r >= 0; i++)
		r = cset_rec_del(t, m->files[i].name);
	store_cset_free(m);
	if (r < 0 && r != -EPROTO && r != -EBADMSG)
		return r;
	MDB_val k = str_val(CSET_KEY);
	r = txn_del(t, t->s->meta, &k);
	return r == -ENOENT ? 0 : r;
}
