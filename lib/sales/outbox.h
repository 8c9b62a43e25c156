/* outbox: delivering the outbox's events (doc/notify.md). Which pending events go
 * out next (oldest first, in order per order, none twice at once), each expanded
 * into the self-contained JSON line the notify command reads, and what a batch's
 * outcome does: delivered events leave the pending set, failed ones back off or are
 * parked, all in one write transaction. The daemon runs the command; this module
 * only reads and writes the store. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "lib/defs/defs.h"
#include "lib/store/store.h"

#define OUTBOX_BATCH_MAX 100
#define OUTBOX_ID_MAX 40               /* "INSTANCE-SEQ" + NUL */
#define OUTBOX_BACKOFF_MIN 10          /* seconds after the first failure */
#define OUTBOX_BACKOFF_MAX 3600        /* seconds, the cap */

/* One event handed out. */
typedef struct outbox_item {
	uint64_t seq;
	char id[OUTBOX_ID_MAX];        /* "INSTANCE-SEQ" */
	char *key;                     /* the ordering key: order number, "customer:ID" or "task:ID" */
	char *line;                    /* the expanded event: one JSON object, no newline */
} outbox_item;

typedef struct outbox_batch {
	outbox_item *items;
	size_t n;
} outbox_batch;
void outbox_batch_free(outbox_batch *b);   /* frees the items, zeroes *b */

/* Whether an ordering key has an event in flight (the daemon's in-memory set). */
typedef bool (*outbox_busy_fn)(void *ud, const char *key);

/* Up to max (<= OUTBOX_BATCH_MAX) pending events whose next attempt is at or before
 * now, oldest first, expanded with d and the config (doc/notify.md, "The event as the
 * command reads it"). An event is left out when its key is busy, or when an earlier
 * pending event of its key is not due or left out. Looks at no more than scan_max
 * pending events (a bound on the work of one call). *ret_next_at: the earliest next
 * attempt among the pending events it saw but left out for not being due (INT64_MAX
 * when none), so the caller knows when to look again. 0 (also with an empty batch),
 * or a negative errno. */
int outbox_take(store *s, const defs *d, int64_t now, size_t max, size_t scan_max, outbox_busy_fn busy,
		void *ud, outbox_batch *ret, int64_t *ret_next_at);

typedef enum outbox_outcome {
	OUTBOX_DELIVERED,              /* named by the command (or exit 0 naming none) */
	OUTBOX_FAILED,                 /* not named, "temporary:", timeout: retry with backoff */
	OUTBOX_PERMANENT,              /* "permanent:": park now */
} outbox_outcome;

typedef struct outbox_result {
	uint64_t seq;
	outbox_outcome outcome;
	const char *error;             /* kept as the last error; may be NULL */
	/* OUTBOX_DELIVERED as `ID sent: <MESSAGE-ID> SUBJECT` (a message the mailer
	 * submitted to the customer's contact): both set; else both NULL */
	const char *message_id;        /* "<...>" as in the header */
	const char *subject;
} outbox_result;

/* Records a batch's outcome in one write transaction at now: delivered events leave
 * the pending set (one with a message_id and subject logs an `email` interaction
 * for its customer: at now, author "standingd", the subject as its summary); failed ones count an attempt and wait OUTBOX_BACKOFF_MIN * 2^(k-1)
 * seconds after the k-th failure (at most OUTBOX_BACKOFF_MAX), plus a jitter of up to
 * a quarter of that drawn from rnd, and are parked at max_attempts; permanent ones
 * are parked. Results for events no longer pending are ignored. 0 or a negative errno
 * (nothing changed). */
int outbox_done(store *s, const outbox_result *r, size_t n, int64_t now, uint32_t max_attempts, uint64_t rnd);
/* The wait after the k-th failure of event seq (k >= 1): OUTBOX_BACKOFF_MIN * 2^(k-1)
 * capped at OUTBOX_BACKOFF_MAX, plus splitmix64(rnd ^ seq) mod (that / 4 + 1): the
 * jitter of outbox_done, so each event of a batch draws its own. */
int64_t outbox_backoff(uint32_t k, uint64_t seq, uint64_t rnd);

typedef struct outbox_stats {
	uint64_t pending, parked;
	int64_t oldest_pending_at;     /* the oldest pending event's instant; INT64_MAX when none */
} outbox_stats;
int outbox_stats_get(store_txn *t, outbox_stats *ret);

/* The pending (parked false) or parked events after seq after_seq, at most max, as
 * the wire's OutboxEvent objects: id, seq, type, at, order (or null), customer,
 * attempts, next_attempt (or null), last_error (or null), parked, parked_at (or
 * null; added by the implementation). Appended to arr.
 * *ret_more: there are more after the last. 0 or a negative errno. */
int outbox_list(store_txn *t, bool parked, uint64_t after_seq, size_t max, json_t *arr, bool *ret_more);

/* Makes parked events pending again with a fresh attempt count, due now: the event
 * with this id ("INSTANCE-SEQ" of this store, or the bare SEQ; id not NULL: -ENOENT
 * when it is not parked, or not an id of this store) or every parked one. The last
 * error is kept.
 * *ret_n: how many. 0 or a negative errno. */
int outbox_retry(store *s, const char *id, int64_t now, uint64_t *ret_n);
