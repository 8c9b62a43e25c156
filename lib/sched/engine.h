/* engine: turns due occurrences into sales orders, exactly once. It keeps a
 * min-heap of every standing order's next create_at (no periodic scan), and
 * creates what is due in one LMDB write transaction per batch: the order, its
 * idempotency entry and outbox event (store_order_create) and the advanced
 * watermark (store_sched_put) commit together. No clock of its own: the caller
 * passes `now` (real or test clock), so everything here runs without a daemon.
 *
 * Work is bounded: missed occurrences are counted with rule_count() and the last
 * skipped one found with rule_nth_after(), never visited one by one; a batch (one
 * write transaction, one loop step of the daemon) spends at most ENGINE_BATCH cost
 * units, each write weighted by what it costs (below): a backlog of plain orders
 * goes in large transactions, one of on-hold orders or reminder tasks in small ones,
 * and every step stays a few milliseconds.
 *
 * Catch-up: an occurrence is missed when its create_at is more than
 * ENGINE_GRACE seconds before now. Missed occurrences follow the standing order's
 * catch_up policy (all, capped at max_catch_up most recent; latest; none); skipped
 * ones are recorded in the store's audit list with the reason. Occurrences of a
 * paused standing order are recorded as skipped ("paused") when they come due, so
 * resuming never creates a backlog.
 *
 * Reminders (doc/crm.md): the heap also holds each `before:` reminder's next
 * reminder instant (delivery - offset); when it comes, the batch makes its task
 * through crm_reminder_in (none for a paused standing order, a skipped occurrence
 * or a cancelled order) with the reminder's watermark. A reminder first seen starts
 * at that now (engine_sources.now, else the first engine_run's); reminders whose
 * delivery has passed too are jumped over with rule arithmetic, no task. */
#pragma once
#include <stdint.h>
#include "lib/defs/defs.h"
#include "lib/store/store.h"

#define ENGINE_GRACE 60          /* seconds after create_at that still count as on time */
#ifndef ENGINE_BATCH             /* -DENGINE_BATCH=N: bench/creation's figures at other sizes */
#define ENGINE_BATCH 4096        /* cost units per write transaction: 4,096 plain orders */
#endif
/* What one write costs of a batch's ENGINE_BATCH (measured: a plain order about
 * 3 us, an on-hold order or a reminder's task 100-150 us, their task's text,
 * record, indexes and event): */
#define ENGINE_COST_PLAIN 1      /* an order of up to ENGINE_COST_LINES lines, a skip
				    record, a reminder passed over or making no task */
#define ENGINE_COST_LINES 8      /* each further ENGINE_COST_LINES lines: one more unit */
#define ENGINE_COST_TASK 64      /* an order on hold (its task) or a reminder's task */

typedef struct engine engine;

typedef struct engine_hooks {
	/* Called after the transaction that created o has committed. */
	void (*created)(const sales_order *o, void *ud);
	/* An occurrence recorded as skipped (after commit). */
	void (*skipped)(const standing_order *so, int64_t delivery, const char *reason, void *ud);
	void *ud;
} engine_hooks;

int engine_new(store *s, const engine_hooks *hooks, engine **ret);
void engine_free(engine *e);

/* Where a definition set came from, to be stored with it. */
typedef struct engine_sources {
	const defs_file *files;   /* the YAML files: the last good set; NULL: leave as stored */
	size_t n_files;
	const defs_file *api;     /* standing orders placed through the API; NULL: leave as stored */
	size_t n_api;
	/* The caller's now (UTC seconds; 0: unknown, then the first engine_run's now).
	 * A cron schedule without `start` begins here: its watermark is set to it in the
	 * transaction that first records the standing order, so a restart keeps it. */
	int64_t now;
	/* Also written in the apply's one write transaction, after the schedule states
	 * and the sources, with the new definitions d (NULL: nothing): PlaceStandingOrder's
	 * idempotency record, so that the stored definition and its key land together. */
	int (*also)(store_txn *t, const defs *d, void *ud);
	void *also_ud;
	/* files[1..] (the orders files) are in the compiled set that also writes:
	 * stored by name and length only (store_defs_put_compiled). */
	bool compiled;
	/* What d changes of the engine's current set, when the caller knows it (the
	 * catalog, catalog_pending_sources): the current set's indexes of the standing
	 * orders d drops or replaces, and d's indexes of those it adds or replaces,
	 * both ascending. Every other standing order must be the same one (same id,
	 * hash and reminders) in the same order in both sets; one listed as dropped and
	 * added that did not change is allowed. Then engine_apply touches only the
	 * listed ones in the store and renumbers the others' entries in memory (up to
	 * ENGINE_KNOWN_MAX changes or a sixteenth of the set; with more, or none
	 * known, it compares both sets in full). */
	bool changes_known;
	const defs *changes_from;   /* the set they are changes of: else not used */
	const uint32_t *dropped, *added;
	size_t n_dropped, n_added;
} engine_sources;

#define ENGINE_KNOWN_MAX 4096

/* The most standing orders, and the most `before:` reminders, one definition set
 * may hold: the engine's indexes are 31-bit (a heap entry's 32-bit index has its
 * top bit for "a reminder's", and UINT32_MAX is its "none"). */
#define ENGINE_MAX_ENTRIES ((uint32_t) INT32_MAX)

/* Makes d the current definitions: records new standing orders' schedule state,
 * marks removed ones inactive (history kept), stores the sources (when given), all
 * in one write transaction; then rebuilds the heap. d stays owned by the caller and
 * must outlive its use by the engine (until the next engine_apply or engine_free).
 * -EOVERFLOW (nothing written) when d has more than ENGINE_MAX_ENTRIES standing
 * orders or `before:` reminders. */
int engine_apply(engine *e, const defs *d, const engine_sources *src);

/* When the engine must run next: the earliest create_at over all active standing
 * orders and reminder instant over their `before:` reminders (INT64_MIN: a reminder
 * applied without a now is to be started); -ENOENT when nothing is scheduled. */
int engine_next_due(const engine *e, int64_t *ret_at);

/* Creates (or skips, per policy) occurrences with create_at <= now, and makes the
 * tasks of reminders whose instant is <= now, in at most
 * max_batches write transactions (the daemon does one per loop turn so that
 * signals and clients are served during a long backlog; engine_next_due() tells
 * whether more is due). Returns the number of orders created, or a negative errno
 * (the failed batch is rolled back and nothing of it happened; earlier batches stay
 * committed). */
int engine_run(engine *e, int64_t now, size_t max_batches);
/* Seconds after create_at that still count as on time (default ENGINE_GRACE). A
 * test clock running N times faster scales it, since the loop's own latency does. */
void engine_set_grace(engine *e, int64_t seconds);
/* After engine_run failed with -EBADMSG because a thin standing order's bulk
 * could not be read from its file's compiled record (sales_so_full: missing or
 * damaged there; the batch was rolled back): that standing order (its file and
 * id). NULL otherwise. Valid until the next engine_run or engine_apply. */
const standing_order *engine_bulk_damaged(const engine *e);

/* Counts for status lines. */
typedef struct engine_stats {
	size_t active, paused;
	uint64_t created, skipped;      /* by this engine since engine_new */
	uint64_t applied_known;         /* engine_apply calls that used the changes given */
} engine_stats;
void engine_get_stats(const engine *e, engine_stats *ret);
/* What becomes of one occurrence (delivery) of a standing order whose watermark is
 * given, read in t: the one answer the engine, Ops.Status, ListStandingOrders,
 * ListUpcoming and Forecast share. CREATED: an order exists for it. SKIPPED: none,
 * and none will be: a skip record covers it (SkipOccurrence in advance, a catch-up
 * policy, paused when it came due) or the engine passed it without an order (a
 * backlog summarised in one record, before a cron schedule without start began).
 * PENDING: the engine will create it when it comes due. Or a negative errno. */
enum { ENGINE_OCC_PENDING, ENGINE_OCC_CREATED, ENGINE_OCC_SKIPPED };
int engine_occurrence_state(store_txn *t, const char *so_id, int64_t watermark, int64_t delivery);

/* Pending occurrences looked past at most by engine_next_pending(). */
#define ENGINE_LOOKAHEAD 1000
/* The first PENDING occurrence after the watermark (whatever the pause flag says):
 * 0, -ENOENT when the rule has no more, -ELOOP past ENGINE_LOOKAHEAD occurrences
 * that are all created or skipped (reported as "none known"). */
int engine_next_pending(store_txn *t, const standing_order *so, int64_t watermark, occurrence *ret);

/* The next order to be created: the standing order and the create_at of its first
 * PENDING occurrence, earliest over all standing orders that are not paused; read in
 * t. 0, -ENOENT when there is none, or a negative errno. engine_next_due() is when
 * the engine must wake, which may be earlier: to record a paused or skipped
 * occurrence as it comes due. */
int engine_peek(const engine *e, store_txn *t, const standing_order **ret_so, int64_t *ret_at);

/* The engine's schedule as it stands (for tests): one entry per standing order
 * with a next occurrence (rem ENGINE_NO_REM, at its create_at) and per `before:`
 * reminder with a next instant (rem: its index over the set's reminders, in
 * standing order then reminder order), in the heap's layout (entry k's children
 * are 2k+1, 2k+2). *ret is malloc'd (free()); 0 or -ENOMEM. */
#define ENGINE_NO_REM UINT32_MAX
typedef struct engine_entry {
	int64_t at;
	uint32_t idx;             /* into the current defs->orders */
	uint32_t rem;
} engine_entry;
int engine_entries(const engine *e, engine_entry **ret, size_t *ret_n);
