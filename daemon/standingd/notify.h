/* notify: delivers the outbox by running notify_command (doc/notify.md). Takes due
 * batches with outbox_take, runs the command per batch through libuv's process API
 * in its own session (so a timeout kills its whole process group), reads the ids it
 * prints and records each batch's outcome with outbox_done. At most notify_parallel
 * batches at once; no ordering key in two of them. Never blocks the loop: every read
 * and write of the child is a libuv stream, every wait a timer. Backoff is on the
 * daemon's clock, notify_timeout in real time. Not thread-safe. */
#pragma once
#include <uv.h>
#include "daemon/standingd/clock.h"
#include "lib/defs/defs.h"
#include "lib/store/store.h"

/* How often the runner looks whether the outbox changed (real milliseconds): a
 * read transaction and outbox_stats_get, so events appended by anyone (the engine,
 * a socket request, the payment timer, Ops.RetryOutbox) go out within this. */
#define NOTIFY_POLL_MS 200
/* Pending events one look at the outbox may examine (outbox_take's scan_max). */
#define NOTIFY_SCAN_MAX 1000
/* Longest line of the command's standard output or error kept (bytes); the rest of
 * a longer line is dropped and the line logged as too long. */
#define NOTIFY_LINE_MAX 4096
/* After the command exited, how long its pipes may stay open (real ms; a child it
 * left behind holding them) before they are closed and the batch is finished. */
#define NOTIFY_DRAIN_MS 1000

typedef struct notify notify;

typedef struct notify_env {
	uv_loop_t *loop;
	store *store;
	const dclock *clock;
	const defs *const *defs;   /* the definitions in force: the daemon repoints *defs on reload */
} notify_env;

/* Starts the runner (its poll timer); the first look happens on the next loop turn.
 * 0 or a negative errno. */
int notify_start(const notify_env *env, notify **ret);
/* Look for due events soon (after a reload, which may have set notify_command). */
void notify_kick(notify *n);
/* Shutting down: kills the process group of every command in flight (SIGKILL, no
 * waiting), records what they named so far, and closes every handle; the events
 * they were not done with stay pending. The loop must run once more for the close
 * callbacks; then notify_free. Accepts NULL. */
void notify_stop(notify *n);
/* Frees the runner once notify_stop's handles are closed. Accepts NULL. */
void notify_free(notify *n);
