/* store: the LMDB sales store. One environment, named databases opened once;
 * every record is a versioned JSON document, every key is fixed-width binary
 * where order matters (layout documented in store.c and doc/store.md).
 * Creating an order, its idempotency index entry, its due-index entry and its
 * outbox event happen in the caller's one write transaction; the caller also
 * advances the schedule watermark in that transaction, so after any crash an
 * occurrence exists exactly once or not at all. Not thread-safe; one writer
 * process (the daemon) and any number of read-only readers (standingctl). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "lib/base/diag.h"
#include "lib/model/crm.h"
#include "lib/model/order.h"

/* The definition files the store keeps as bytes (lib/defs/defs.h). */
typedef struct defs_file defs_file;

typedef struct store store;
typedef struct store_txn store_txn;

/* 2 since issue 12's compact records: a version before them would take them for
 * damage; it refuses the store as newer instead (-EPROTO). A read-write open of a
 * format-1 store raises it (store_upgrade); both kinds of records are read. */
#define STORE_FORMAT 2
/* The store's instance id: 16 lower-case hex digits (doc/notify.md: event ids). */
#define STORE_INSTANCE_LEN 16
/* Mode of the state directory (the store creates it, and so does the daemon). */
#define STORE_DIR_MODE 0750
/* Per standing order: what the engine has done so far. */
typedef struct sched_state {
	int64_t watermark;      /* delivery instant of the last created-or-skipped occurrence; INT64_MIN: none */
	uint64_t created;       /* orders created so far */
	uint64_t skipped;       /* occurrences recorded as skipped (catch-up policy, paused) */
	bool active;            /* false once removed from the definitions (history kept) */
	uint64_t def_hash;      /* standing_order.hash the state was last written with */
} sched_state;

typedef enum store_flags {
	STORE_READONLY = 1 << 0,   /* standingctl: MDB_RDONLY, never creates */
} store_flags;

/* Smallest max_size store_open accepts (a store needs a handful of pages). */
#define STORE_MAX_SIZE_MIN (UINT64_C(1) << 20)

/* Options of store_open; a NULL pointer means all defaults, read-write. */
typedef struct store_options {
	unsigned flags;          /* store_flags */
	/* Map of a store that has none yet (a new one), in bytes; 0: 64 MiB or
	 * max_size, whichever is smaller. An existing store keeps the map it was
	 * last grown to (never less than that default, never more than max_size
	 * unless it already was). */
	uint64_t map_size;
	/* The map grows (doubling) on MDB_MAP_FULL only up to this; 0: the
	 * default, store_default_max_size(dir). Ignored read-only. */
	uint64_t max_size;
	/* LMDB found its own data inconsistent (an mdb_assert): what the program
	 * does about it (report and exit). The library never exits; when this
	 * returns, or is NULL, LMDB aborts. */
	void (*on_damage)(const char *dir, const char *what, void *ud);
	void *ud;
	/* When not NULL, store_open adds one diag (file "DIR/data.mdb") saying why it
	 * refused a damaged store (-EUCLEAN). */
	diag_list *diags;
	/* Called on the writer's thread when the map must grow while other
	 * transactions of the process are open (read transactions lent to other
	 * threads): end those it can (wait for their users, abort them) before the
	 * write gives up with -EAGAIN. NULL: none. */
	void (*release_readers)(void *ud);
	void *release_ud;
} store_options;

/* Errors (converted from LMDB and the system in store_errno() only):
 * -ENOSPC   the file system is full (ENOSPC or EDQUOT from a write): nothing of
 *           the transaction was committed, the store is intact, reads go on.
 * -EFBIG    the map is full and may not grow: it has reached max_size, or mapping
 *           a larger one failed (store_get_info: grow_error).
 *           A write that merely fills the map does not return this: the store
 *           doubles the map and replays the transaction itself.
 * -EAGAIN   the map is full but another transaction of this process is open (the
 *           map must not move under it) and release_readers did not end it: retry
 *           once it has ended (store_room_wanted);
 *           also LMDB's reader table or thread slots full. Nothing was committed.
 * -EUCLEAN  store_open: the data file is damaged (truncated, empty or missing
 *           while the store was in use, bad meta pages); nothing was opened.
 * -EBADMSG  a record or LMDB page is damaged (MDB_CORRUPTED, MDB_PAGE_NOTFOUND ...).
 * -ENOTRECOVERABLE  the environment was lost (a failed remap that could not be
 *           undone): every call fails with it; close the store. */

/* Opens (creating dir and environment unless read-only) and checks the format
 * version. Before LMDB touches the files it checks data.mdb against its meta
 * pages (see doc/store.md). -ENOENT (read-only, nothing there), -EPROTO (format
 * from a newer version), -EUCLEAN, -EINVAL (bad options), other negative errno. */
int store_open(const char *dir, const store_options *opts, store **ret);
void store_close(store *s);   /* accepts NULL */

/* Closes the environment and opens it again in place (same options, the map it
 * has, the databases' handles opened again): LMDB gives back the memory of the
 * pages a big write transaction dirtied only then. -EBUSY while a transaction
 * (a lent read one included) is open, -EINVAL (NULL); when opening it again
 * fails, that error, and the store is lost (-ENOTRECOVERABLE from then on). */
int store_reopen(store *s);

/* Half the size of the file system holding dir, at least 64 MiB and at most
 * 1 TiB (64 GiB when the file system cannot be asked). */
uint64_t store_default_max_size(const char *dir);

typedef struct store_info {
	uint64_t map_size;       /* bytes mapped now */
	uint64_t max_size;       /* the cap in force */
	uint64_t used;           /* bytes of the data file in use (last page) */
	int grow_error;          /* why the last growth failed (negative errno), 0 */
} store_info;
int store_get_info(store *s, store_info *ret);
/* Changes the cap (0: the default); the map never shrinks. -EINVAL below STORE_MAX_SIZE_MIN. */
int store_set_max_size(store *s, uint64_t max_size);

/* A failed write (-ENOSPC, -ENOMEM ...) that may have left a change half done
 * makes every later call and store_commit() return that error. -EROFS: write on a
 * read-only store; -EBUSY: a write transaction is already open (LMDB would block). */
int store_begin(store *s, bool write, store_txn **ret);
int store_commit(store_txn *t);       /* frees t in every case */
/* A write found the map full while other transactions were open, so the map could
 * not grow under them (the write failed with -EAGAIN): whoever holds a transaction
 * across loop turns (a list built in steps) should end it; the map grows when the
 * last one ends, and the write succeeds when retried. */
bool store_room_wanted(const store *s);
void store_abort(store_txn *t);       /* accepts NULL */
/* The store a transaction belongs to. */
store *store_txn_store(store_txn *t);

/* The *_each functions call fn in key order; fn returns 0 to go on, anything else
 * stops the walk and is returned. */

/* Schedule state. -ENOENT when none. */
int store_sched_get(store_txn *t, const char *so_id, sched_state *ret);
int store_sched_put(store_txn *t, const char *so_id, const sched_state *st);
int store_sched_each(store_txn *t, int (*fn)(const char *so_id, const sched_state *st, void *ud), void *ud);

/* Assigns o->number (next sequence number + check digit), writes the order, the
 * idempotency entry (standing_order, delivery) -> number when o->standing_order
 * is set (-EEXIST when that occurrence already exists: nothing written), the
 * due index (delivery, number), and appends outbox event "order.created". */
int store_order_create(store_txn *t, sales_order *o);
/* The same, for the orders of one source (the engine's: a standing order of the
 * definitions, alive as long as t) whose shared part (order_bin_encode: customer,
 * supplier, ship_to, lines ...) src's strings make, the same for every order of
 * src in t: it is encoded and checked once a run of them, not once an order. */
int store_order_create_from(store_txn *t, sales_order *o, const void *src);
/* Rewrites an existing order (status, shipping); keeps the due index right.
 * -EINVAL when it would change the standing order, the occurrence, or the delivery
 * of a standing order's occurrence (its identity in the idempotency index). */
int store_order_update(store_txn *t, const sales_order *o);
/* number is accepted with or without dashes, any case; -ENOENT, -EINVAL (bad check digit). */
int store_order_get(store_txn *t, const char *number, sales_order **ret);
/* (standing order, delivery) -> number. -ENOENT when that occurrence was never created. */
int store_occurrence_get(store_txn *t, const char *so_id, int64_t delivery, char ret_number[ORDER_NUMBER_MAX]);
/* Orders in delivery order, delivery in [from, to). */
int store_order_each(store_txn *t, int64_t from, int64_t to,
		     int (*fn)(const sales_order *o, void *ud), void *ud);
/* The same walk starting at (from, from_seq) in the due index's order (delivery,
 * then sequence number), so that a long walk can stop and go on later: resume
 * at (last delivery, last sequence + 1). */
int store_order_each_from(store_txn *t, int64_t from, uint64_t from_seq, int64_t to,
			  int (*fn)(const sales_order *o, void *ud), void *ud);

/* Audit: an occurrence that was deliberately not created (catch-up policy, paused). */
int store_skip_record(store_txn *t, const char *so_id, int64_t delivery, int64_t at, const char *reason);
int store_skip_each(store_txn *t, int (*fn)(const char *so_id, int64_t delivery, int64_t at, const char *reason, void *ud), void *ud);

/* Outbox: events in append order; type e.g. "order.created", payload a JSON object text.
 * Appending also makes the event pending (an outq entry, store_outq_*) in the same
 * transaction. */
int store_outbox_append(store_txn *t, const char *type, const char *payload_json, int64_t at);
int store_outbox_each(store_txn *t, uint64_t after_seq,
		      int (*fn)(uint64_t seq, const char *type, const char *payload_json, int64_t at, void *ud), void *ud);
/* One event: its type and payload (compact JSON text) malloc'd, either pointer may
 * be NULL. -ENOENT when there is no event seq. */
int store_outbox_get(store_txn *t, uint64_t seq, char **ret_type, char **ret_payload_json, int64_t *ret_at);

/* ---- delivery of the outbox (issue 10, doc/notify.md) ----
 * Two record families keyed by the event's sequence: `outq` the pending events,
 * `outpark` the parked ones (never both). An event appended before this version
 * has neither: it was never pending. The writers (put, del) are lib/sales's only. */
typedef struct store_outq_entry {
	uint64_t seq;
	uint32_t attempts;        /* failed attempts so far */
	int64_t next_at;          /* not before this instant; INT64_MIN: at once */
	char *last_error;         /* NULL when none */
	char *key;                /* the ordering key: the order number, "customer:ID" or "task:ID" */
	int64_t parked_at;        /* outpark only (0 in outq) */
} store_outq_entry;
void store_outq_entry_done(store_outq_entry *e);   /* frees the strings; accepts NULL */
/* The store's instance id (STORE_INSTANCE_LEN hex digits). -ENOENT on a read-only
 * open of a store that has none yet (made before issue 10, never opened since by a
 * read-write open). */
int store_instance(const store *s, char ret[STORE_INSTANCE_LEN + 1]);
/* parked false: outq, true: outpark. -ENOENT when seq has no entry there. */
int store_outq_get(store_txn *t, bool parked, uint64_t seq, store_outq_entry *ret);
/* Writes e (e->seq names an existing outbox event: -ENOENT otherwise). */
int store_outq_put(store_txn *t, bool parked, const store_outq_entry *e);
int store_outq_del(store_txn *t, bool parked, uint64_t seq);   /* -ENOENT when absent */
/* Entries with seq > after_seq in seq order; e is valid during the call. */
int store_outq_each(store_txn *t, bool parked, uint64_t after_seq,
		    int (*fn)(const store_outq_entry *e, void *ud), void *ud);
/* How many pending and parked (mdb_stat: no walk). */
int store_outq_counts(store_txn *t, uint64_t *ret_pending, uint64_t *ret_parked);
/* The pending entry with the lowest seq (the oldest); -ENOENT when none. */
int store_outq_first(store_txn *t, store_outq_entry *ret);

/* The last good set of definition files (bytes as read), so the daemon can start
 * on it when a YAML file is broken at start-up. A file with data NULL and its len
 * is unchanged: its stored bytes are kept (-ESTALE when none of that length). */
int store_defs_put(store_txn *t, const defs_file *files, size_t n);
/* The same, with files[1..] (the orders files) in the compiled set the caller
 * writes in the same transaction (store_cset_put): their names and lengths only,
 * any bytes stored for them before deleted (issue 12: the sources are not stored
 * twice). store_defs_get gives those files with data NULL and their len. */
int store_defs_put_compiled(store_txn *t, const defs_file *files, size_t n);
int store_defs_get(store_txn *t, defs_file **ret_files, size_t *ret_n);  /* -ENOENT when none */

/* Checks every invariant: no occurrence twice, every standing order's order has its
 * idempotency entry and vice versa, due index matches orders, watermark >= every
 * created delivery of that standing order, one order.created event per order,
 * every pending or parked entry names an event and none is both.
 * Adds one diag per violation; 0 when clean, -EBADMSG when violations found. */
int store_verify(store *s, diag_list *diags);

/* Standing orders placed through the API: the set of definition files
 * ("api/ID.json") kept beside the YAML ones. -ENOENT when none were ever stored. */
int store_api_defs_put(store_txn *t, const defs_file *files, size_t n);
int store_api_defs_get(store_txn *t, defs_file **ret_files, size_t *ret_n);
/* A skip record for (so_id, delivery): 0 (reason malloc'd into *ret_reason when not
 * NULL), -ENOENT. The engine consults it before creating an occurrence, so a skip
 * requested in advance (SkipOccurrence) and one recorded by the catch-up policy are
 * the same kind of record. */
int store_skip_get(store_txn *t, const char *so_id, int64_t delivery, char **ret_reason);
/* ---- the ledger (issue 9): per customer account, append-only ---- */
/* Appends e (e->seq and e->balance_after are assigned here: the running balance
 * of e->amount's currency, kept per customer and currency). e->amount > 0.
 * 0, -EINVAL, -EOVERFLOW (the balance would leave int64), a store error. Called
 * only by lib/sales. */
int store_ledger_append(store_txn *t, const char *customer_id, ledger_entry *e);
/* The balance of customer in currency (minor 0 when it has no entries). */
int store_ledger_balance(store_txn *t, const char *customer_id, const char *currency, money *ret);
/* Every currency's balance of customer, by currency code; *ret malloc'd (NULL, 0 when none). */
int store_ledger_balances(store_txn *t, const char *customer_id, money **ret, size_t *ret_n);
/* Entries of customer with seq >= from_seq and at in [from, to), in append order
 * (resume at the last seq + 1). The entry is valid during the call. */
int store_ledger_each(store_txn *t, const char *customer_id, uint64_t from_seq, int64_t from, int64_t to,
		      int (*fn)(const ledger_entry *e, void *ud), void *ud);
/* The last n entries of customer, oldest first; *ret malloc'd (ledger_entry_done each). */
int store_ledger_last(store_txn *t, const char *customer_id, size_t n, ledger_entry **ret, size_t *ret_n);

/* ---- open orders: on_hold / awaiting_payment, per customer, and the payment due index ---- */
/* The payment index: (instant of the next check, order sequence) for prepaid orders
 * awaiting payment. store_order_create/update keep the open index by status; the
 * payment index is set by lib/sales (0 removes the order's entry). */
int store_payment_due_set(store_txn *t, const char *number, int64_t old_at, int64_t new_at);
/* Entries with instant <= now, in instant order, at most max; fn gets the number. */
int store_payment_due_each(store_txn *t, int64_t now, size_t max,
			   int (*fn)(const char *number, int64_t at, void *ud), void *ud);
/* Numbers of customer's on_hold and awaiting_payment orders, in number order. */
int store_open_orders(store_txn *t, const char *customer_id, char (**ret)[ORDER_NUMBER_MAX], size_t *ret_n);
/* Numbers of customer's orders neither shipped nor cancelled (awaiting_payment,
 * on_hold, confirmed: the profile's open orders), in number order, at most max;
 * *ret_more when there are more. store_order_create/update keep the index (custopen)
 * in their transaction. *ret malloc'd. */
int store_customer_orders(store_txn *t, const char *customer_id, size_t max, char (**ret)[ORDER_NUMBER_MAX],
			  size_t *ret_n, bool *ret_more);

/* ---- idempotency keys (implemented by idem9) ---- */
/* An idempotency key is 1..STORE_IDEM_KEY_MAX bytes (no NUL); user is the caller's
 * user (its name, or its uid in decimal). Layout: doc/store.md, "idem". */
#define STORE_IDEM_KEY_MAX 200
/* Stores (user, key) -> (params_hash, reply, at) in t, with the effect it records.
 * -EEXIST when (user, key) is stored already (nothing written), -EINVAL (key empty or
 * over 200 bytes), a store error. */
int store_idem_put(store_txn *t, const char *user, const char *key, const char *params_hash, const char *reply,
		   int64_t at);
/* 0 with malloc'd *ret_params_hash and *ret_reply (either pointer may be NULL) and
 * *ret_at; -ENOENT when not stored. */
int store_idem_get(store_txn *t, const char *user, const char *key, char **ret_params_hash, char **ret_reply,
		   int64_t *ret_at);

/* Number of orders and of outbox events. */
int store_counts(store_txn *t, uint64_t *ret_orders, uint64_t *ret_outbox);

/* Idempotency records (doc/store.md, "idem"): the expiry. Removes at most max
 * records written before `before` (oldest first); *ret_removed says how many:
 * fewer than max means none older is left. */
int store_idem_expire(store_txn *t, int64_t before, size_t max, size_t *ret_removed);

/* ---- the CRM (issue 11, doc/crm.md): tasks, their dedup keys and indexes, the
 * task queue, reminder watermarks, the interaction log. The writers (create,
 * update, taskq put/del, reminder put, interaction append) are lib/sales's only. */
/* Assigns tk->id (the meta counter next_task) and writes the task, its indexes and
 * its dedup key (key -> id; NULL: none, a manual task) in t. -EEXIST when key is
 * stored already (nothing written); -EINVAL (a task without assignee, customer_id or
 * text); a store error. */
int store_task_create(store_txn *t, const char *key, task *tk);
/* Rewrites an existing task (status, due, history); keeps its indexes right.
 * -ENOENT when there is no such task; -EINVAL when it would change the task's
 * assignee, customer_id, kind, standing order or delivery (its identity). */
int store_task_update(store_txn *t, const task *tk);
/* id as task_id_parse accepts it. -ENOENT, -EINVAL (not a task id). */
int store_task_get(store_txn *t, const char *id, task **ret);
/* The task a dedup key made: -ENOENT when the key is not stored. */
int store_task_key_get(store_txn *t, const char *key, char ret_id[TASK_ID_MAX]);
/* Tasks in (due, id) order: of assignee (NULL: any), of customer_id (NULL: any), with
 * status (-1: any), due < due_before, after the position (after_due, after_id)
 * (after_id 0: from the start). The task is valid during the call; fn returns 0
 * to go on. The walk uses the status, assignee or customer index: it reads only
 * tasks that match (both assignee and customer: the customer's). */
int store_task_each(store_txn *t, const char *assignee, const char *customer_id, int status, int64_t due_before,
		    int64_t after_due, uint64_t after_id, int (*fn)(const task *tk, void *ud), void *ud);
/* The `before` tasks of the occurrence (so_id, delivery), any status, by id. */
int store_task_occurrence_each(store_txn *t, const char *so_id, int64_t delivery,
			       int (*fn)(const task *tk, void *ud), void *ud);

/* The task queue (taskq): what the CRM due run does at an instant. */
typedef enum store_taskq_kind { STORE_TASKQ_AFTER_SHIPPED, STORE_TASKQ_ALERT } store_taskq_kind;
typedef struct store_taskq_entry {
	int64_t due;              /* the key: when */
	uint64_t seq;             /* the key: a counter (meta next_taskq); assigned by put */
	store_taskq_kind kind;
	/* alert: the task whose task.due goes out at due (if it is still open and due) */
	char task[TASK_ID_MAX];
	/* after_shipped: the order shipped, its standing order, the reminder (its hash,
	 * offset, task text template and assignee: NULL for the customer's salesperson) */
	char order[ORDER_NUMBER_MAX];
	char *standing_order;
	char hash[17];
	int64_t offset;
	char *text;
	char *assignee;
} store_taskq_entry;
void store_taskq_entry_done(store_taskq_entry *e);   /* frees the strings; accepts NULL */
/* Writes e at (e->due, a new seq: e->seq is set). -EINVAL (malformed), a store error. */
int store_taskq_put(store_txn *t, store_taskq_entry *e);
int store_taskq_del(store_txn *t, int64_t due, uint64_t seq);   /* -ENOENT when absent */
/* Entries with due <= now in (due, seq) order, at most max; e is valid during the call. */
int store_taskq_each(store_txn *t, int64_t now, size_t max, int (*fn)(const store_taskq_entry *e, void *ud),
		     void *ud);
/* The first entry's due; -ENOENT when the queue is empty. */
int store_taskq_next(store_txn *t, int64_t *ret_due);

/* A reminder's watermark (so_id, hash) -> through. -ENOENT when none. */
int store_reminder_get(store_txn *t, const char *so_id, const char hash[17], int64_t *ret_through);
int store_reminder_put(store_txn *t, const char *so_id, const char hash[17], int64_t through);

/* The interaction log: appends i under (customer, at, seq), i->seq assigned (the
 * meta counter next_interaction). -EINVAL (no customer, summary or author). */
int store_interaction_append(store_txn *t, interaction *i);
/* customer's interactions with at in [from, to), in (at, seq) order after the
 * position (after_at, after_seq) (after_at INT64_MIN: from the start), or in
 * reverse order before it when newest_first (after_at INT64_MIN: from the end).
 * i is valid during the call; fn returns 0 to go on. */
int store_interaction_each(store_txn *t, const char *customer_id, int64_t from, int64_t to, int64_t after_at,
			   uint64_t after_seq, bool newest_first, int (*fn)(const interaction *i, void *ud), void *ud);

/* ---- the compiled definitions (helper M's family; doc/store.md) ----
 * The running set's YAML orders files as compiled units (lib/defs/pack.h), so a
 * restart with unchanged files unpacks them instead of reading and validating the
 * YAML. A manifest (meta key "cset") names each file with its identity and
 * content hash, under the hash of the standingd.yaml they were read with and a
 * fingerprint of the time zones they use; one record per file ("cset/NAME": the
 * packed unit, which carries its own version byte and hash). Written in the
 * engine's apply transaction of that set, so a kill -9 leaves the old or the new. */
#include "lib/defs/defs.h"

#define STORE_CSET_VERSION 2   /* 2: the program that compiled it */

typedef struct store_cset_file {
	char *name;
	defs_file_info info;      /* id, hash (unread/packed unused) */
} store_cset_file;

typedef struct store_cset {
	char *program;            /* what compiled it ("standingd 0.1.0"); the caller's */
	uint64_t config_hash;     /* defs_hash64 of standingd.yaml */
	uint64_t tz_hash;         /* the zones' fingerprint (the caller's) */
	char **zones;             /* the zone names it covers */
	size_t n_zones;
	store_cset_file *files;   /* by name */
	size_t n_files;
} store_cset;

/* One file to store: packed NULL when its record is already stored (kept). */
typedef struct store_cset_put_file {
	const char *name;
	defs_file_info info;
	const void *packed;
	size_t packed_len;
} store_cset_put_file;

/* Writes the manifest of files[0..n) (sorted by name) with the head's hashes and
 * zones, the records of the files with packed set, and deletes the records of
 * files the old manifest named and this one does not. 0 or a negative errno.
 * The records (packed) are not copied: they stay unchanged until t ends. */
int store_cset_put(store_txn *t, const store_cset *head, const store_cset_put_file *files, size_t n);
/* The manifest: 0 and *ret (store_cset_free), -ENOENT when none, -EPROTO when of
 * another version, -EBADMSG when damaged. */
int store_cset_get(store_txn *t, store_cset **ret);
void store_cset_free(store_cset *m);
/* One file's record, valid while t lives: 0, -ENOENT. */
int store_cset_record(store_txn *t, const char *name, const void **ret_p, size_t *ret_len);
/* Standing order pos of the record of file (its place in that file): its bulk
 * (defs_bulk_unpack, strings in *scratch), ret->file set to file (borrowed).
 * 0; -ENOENT: no record; -EPROTO: a record of another version; -ERANGE: pos past
 * its table; -EBADMSG: the section or its offsets damaged; -ENOMEM. */
int store_cset_order(store_txn *t, const char *file, size_t pos, struct defs_arena **scratch, so_bulk *ret);
/* Drops the manifest and the records (standingctl, tests). 0 or a negative errno. */
int store_cset_clear(store_txn *t);
