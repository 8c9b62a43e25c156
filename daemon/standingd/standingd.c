/* standingd: the standing-order daemon. Thin wiring over lib/: a libuv loop with
 * one due timer armed for the engine's earliest create_at, a one-second tick that
 * notices wall-clock jumps, signals (HUP reload, TERM/INT stop), a debounced
 * inotify watch on the config directory, sd_notify and the watchdog; the outbox's
 * events go to notify_command through notify.c. */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>
#include <uv.h>
#include "lib/time/cal.h"
#include "daemon/standingd/clock.h"
#include "config.h"
#include "lib/base/fsdir.h"
#include "lib/defs/defs.h"
#include "lib/defs/pack.h"
#include "lib/mail/mail.h"
#include "lib/sched/catalog.h"
#include "lib/sched/engine.h"
#include "daemon/standingd/log.h"
#include "daemon/standingd/loopstat.h"
#include "daemon/standingd/notify.h"
#include "lib/store/store.h"
#include "daemon/common/storefault.h"
#include "daemon/standingd/server.h"
#include "lib/api/api.h"
#include "lib/sales/crm.h"
#include "lib/sales/sales.h"
#include "lib/api/idem.h"

#define JUMP_TOLERANCE_MS 1000
#define RELOAD_DEBOUNCE_MS 300
/* Order creation that the store refuses (disk full, map at max_store_size) is
 * retried on a timer backing off from 1 s to 8 s: no busy loop, and creation
 * resumes within seconds of space coming back. */
#define STORE_RETRY_MIN_MS 1000
#define STORE_RETRY_SOON_MS 20       /* -EAGAIN: the map grows once a list's snapshot ends */
#define STORE_RETRY_MAX_MS 8000
/* Blocks of this size and more are always mmap'd (mallopt in main). glibc
 * otherwise raises its threshold to the size of such a block once one is freed
 * (up to 32 MiB), and a change's arrays (the catalog's, the engine's: megabytes
 * at 1,000,000) land in the heap and stay resident once freed: +30 MiB after the
 * first change at 1,000,000. Not lower: a start's many blocks of a few hundred
 * KiB (files, arenas) mmap'd one by one make it seconds slower. */
#define MMAP_THRESHOLD (4 << 20)
/* Prepaid orders' payment deadlines handled per loop turn while more are due
 * (order.payment_overdue, or cancelled unpaid): one short write transaction each,
 * so a backlog after downtime never holds the loop. */
#define PAYMENT_SLICE 64
/* The CRM's due run (after_shipped tasks, task alerts): entries per loop turn while
 * more are due, and how often it looks for an earlier entry written since
 * (MarkShipped, SnoozeTask, AddTask write them from socket requests): one read of
 * the task queue's first key. */
#define CRM_SLICE 64
#define CRM_POLL_MS 250

/* A change of the running set being made (the section "changes of the running
 * set" below): one at a time. */
typedef struct change {
	uv_work_t work;
	bool busy;                /* its stage runs on libuv's pool (work queued) */
	bool reload;              /* the config directory read again; else an API file */
	bool call;                /* an API call waits for it (change_end) */
	bool dropped;             /* that call went away: the change is not made */
	bool done;                /* committed or refused: r and diags are the outcome */
	bool forget;              /* the reload reads every file (a damaged compiled record) */
	char why[64];             /* the reload's, for the log */
	char *id, *json;
	int (*also)(store_txn *t, const defs *d, void *ud);
	void *also_ud;
	int r;
	diag_list diags;
	/* a reload's candidate's zones and their TZif fingerprint for the compiled set,
	 * found on the thread (a pass over every standing order) */
	char **zones;
	size_t n_zones;
	uint64_t tz_hash;
	bool has_zones;
} change;

typedef struct daemon_ctx {
	uv_loop_t *loop;
	const char *conf_dir, *state_dir, *socket_path;
	dclock clock;
	store *store;
	engine *engine;
	catalog *cat;             /* the running set of definitions and where it came from */
	const defs *defs;         /* catalog_defs(cat) */
	int lock_fd;
	uv_timer_t due_timer, tick_timer, debounce_timer, watchdog_timer;
	uv_timer_t payment_timer; /* the earliest prepaid payment deadline */
	uint64_t payment_retry_ms; /* the next retry's delay after a failed payment run; 0 */
	uv_timer_t crm_timer;     /* the CRM's next due taskq entry (crm_due_run's next_at) */
	uv_timer_t crm_poll;      /* looks for taskq entries written since, every CRM_POLL_MS */
	uint64_t crm_retry_ms;    /* the next retry's delay after a failed due run; 0 */
	int64_t crm_next_at;      /* the taskq's first instant at the last due run (INT64_MAX: none) */
	uv_signal_t sighup, sigterm, sigint;
	uv_fs_event_t watch_conf, watch_orders;
	int watching_orders;
	int64_t skew_ms;          /* realtime - monotonic at the last tick */
	int exit_code;
	int store_fault;          /* -ENOSPC, -EFBIG ...: why order creation is stopped; 0 */
	uint64_t retry_ms;        /* the next retry's delay while store_fault */
	bool rereading;           /* reloading after a damaged compiled record (run_due) */
	bool catchup_trim;        /* the start's catch-up went on after READY (trim_after_catchup) */
	uv_work_t trim;           /* trim_soon's malloc_trim on the pool */
	bool trim_busy, trim_again;
	change ch;                /* the change being made, if any */
	bool reload_wanted;       /* a reload asked while another change has the turn */
	bool reload_forget;       /* ... that reads every file */
	char reload_why[64];
	bool stopping;            /* SIGTERM: a change staged meanwhile is dropped */
	uint64_t map_seen;        /* the store's map size last logged */
	vl_service *svc;
	server *srv;
	api_env env;
	loopstat loopstat;        /* the longest loop step, for Status */
	notify *notify;           /* runs notify_command over the outbox's due events */
} daemon_ctx;

static void usage(FILE *f) {
	fprintf(f,
		"Usage: standingd --conf DIR [--state DIR] [--socket PATH] [--test-clock START[,SPEED]]\n"
		"       standingd --check --conf DIR\n"
		"\n"
		"Creates the repeat orders of standing orders when they come due, exactly once.\n"
		"\n"
		"  --conf DIR          configuration directory: standingd.yaml and orders.d/*.yaml\n"
		"  --state DIR         LMDB state directory (overrides state_dir:)\n"
		"  --socket PATH       Varlink socket path (overrides socket:)\n"
		"  --test-clock START[,SPEED]\n"
		"                      run on virtual time from START (ISO 8601 instant, e.g.\n"
		"                      2026-12-01T00:00:00Z), SPEED times faster than real time;\n"
		"                      for tests and the demo only\n"
		"  --check             validate the definitions, print OK or every error, exit\n"
		"  -h, --help          this help\n"
		"  --version           print the version\n"
		"\n"
		"Signals: SIGHUP reloads the definitions; SIGTERM and SIGINT stop.\n"
		"Exit status: 0 success, 1 invalid definitions or failure, 2 usage error.\n");
}

static void print_diags(diag_list *diags, FILE *f, int priority) {
	for (size_t i = 0; i < diags->n; i++) {
		char *s = diag_format(&diags->v[i]);
		const char *text = s ? s : diags->v[i].msg;
		if (f)
			fprintf(f, "%s\n", text);
		else
			log_send(priority, NULL, "%s", text);
		free(s);
	}
}

static int64_t now_s(daemon_ctx *c) {
	return cal_floordiv(dclock_now_ms(&c->clock), 1000);
}

static void notify_status(daemon_ctx *c) {
	engine_stats st;
	engine_get_stats(c->engine, &st);
	if (c->store_fault) {
		sd_notifyf(0, "STATUS=order creation stopped: %s; retrying; %llu orders created",
			   c->store_fault == -ENOSPC ? "disk full" :
			   c->store_fault == -EFBIG ? "store full (max_store_size)" : strerror(-c->store_fault),
			   (unsigned long long) st.created);
		return;
	}
	int64_t at;
	const standing_order *next = NULL;
	store_txn *t;
	if (store_begin(c->store, false, &t) == 0) {
		if (engine_peek(c->engine, t, &next, &at) < 0)
			next = NULL;   /* nothing to create, or unreadable: the line says nothing due */
		store_abort(t);
	}
	char when[CAL_ISO_MAX];
	if (next)
		sd_notifyf(0, "STATUS=%zu active, %zu paused standing orders; %llu orders created; next: %s at %s",
			   st.active, st.paused, (unsigned long long) st.created, next->id, cal_format_utc(at, when));
	else
		sd_notifyf(0, "STATUS=%zu active, %zu paused standing orders; %llu orders created; nothing due",
			   st.active, st.paused, (unsigned long long) st.created);
}

static void on_created(const sales_order *o, void *ud) {
	daemon_ctx *c = ud;
	const customer *cu = defs_find_customer(c->defs, o->customer);
	char delivery[CAL_ISO_MAX], f_so[160], f_order[64], f_cust[160];
	snprintf(f_so, sizeof(f_so), "STANDING_ORDER=%s", o->standing_order ? o->standing_order : "");
	snprintf(f_order, sizeof(f_order), "ORDER=%s", o->number);
	snprintf(f_cust, sizeof(f_cust), "CUSTOMER=%s", o->customer);
	const char *const fields[] = { f_so, f_order, f_cust, NULL };
	log_send(LOG_INFO, fields, "order %s created: %s for %s, delivery %s%s", o->number,
		 o->standing_order ? o->standing_order : "one-time", cu ? cu->name : o->customer,
		 cal_format_instant(o->delivery, o->delivery_offset, delivery), o->late ? " (late)" : "");
}

static void on_skipped(const standing_order *so, int64_t delivery, const char *reason, void *ud) {
	(void) ud;
	char when[CAL_ISO_MAX], f_so[160];
	snprintf(f_so, sizeof(f_so), "STANDING_ORDER=%s", so->id);
	const char *const fields[] = { f_so, NULL };
	log_send(LOG_WARNING, fields, "occurrence of %s at %s not created: %s", so->id,
		 cal_format_instant(delivery, tz_offset_at(so->rule.zone, delivery), when), reason);
}

static void on_due(uv_timer_t *t);
static void arm_payments(daemon_ctx *c);

static void arm(daemon_ctx *c) {
	int64_t at;
	if (engine_next_due(c->engine, &at) < 0) {
		uv_timer_stop(&c->due_timer);
		return;
	}
	/* at may be INT64_MIN (a reminder to start: engine_next_due): due now */
	int64_t delay = at <= now_s(c) ? 0 : at * 1000 - dclock_now_ms(&c->clock);
	uint64_t real = dclock_real_delay(&c->clock, delay);
	/* Never 0: libuv runs a timer due "now" again in the same pass, which would
	 * starve signals and clients while a backlog is worked through. */
	uv_timer_start(&c->due_timer, on_due, real ? real : 1, 0);
}

static const char *size_text(uint64_t v, char buf[32]) {
	static const char *const units[] = { "bytes", "KiB", "MiB", "GiB", "TiB" };
	int u = 0;
	while (u < 4 && v && v % 1024 == 0) {
		v /= 1024;
		u++;
	}
	snprintf(buf, 32, "%llu %s", (unsigned long long) v, units[u]);
	return buf;
}

/* The store grows its map by itself (on MAP_FULL, up to max_store_size); say so. */
static void log_map_growth(daemon_ctx *c) {
	store_info i;
	char a[32], b[32];
	if (store_get_info(c->store, &i) < 0)
		return;
	if (c->map_seen && i.map_size > c->map_seen)
		log_info("store map grown to %s (max_store_size %s)", size_text(i.map_size, a), size_text(i.max_size, b));
	c->map_seen = i.map_size;
}

/* Logged once when order creation stops and once when it resumes. */
static void store_fault_begin(daemon_ctx *c, int r) {
	char a[32], b[32];
	store_info i = { 0 };
	if (r == c->store_fault)
		return;
	c->store_fault = r;
	c->retry_ms = 0;
	if (r == -ENOSPC)
		log_error("disk full: cannot write to the store in %s (%s); order creation stopped, reads go on; "
			  "retrying until space returns", c->state_dir, strerror(-r));
	else if (r == -EFBIG) {
		store_get_info(c->store, &i);
		log_error("store full: the map of the store in %s is %s and may not grow (max_store_size %s%s%s); "
			  "order creation stopped, reads go on; raise max_store_size and reload",
			  c->state_dir, size_text(i.map_size, a), size_text(i.max_size, b),
			  i.grow_error ? "; growing failed: " : "", i.grow_error ? strerror(-i.grow_error) : "");
	} else
		log_error("creating due orders failed: %s; retrying", strerror(-r));
}

static void reload(daemon_ctx *c, const char *why);

/* What a change or a catch-up left free goes back to the system: malloc_trim(0)
 * on libuv's pool, not on the loop. At 1,000,000 standing orders a reload of
 * files whose identity changed reads and hashes them all (~490 MB) on the stage's
 * thread, and freed memory stays resident in that thread's malloc arena: RssAnon
 * idle went 137 -> 605 MiB after one such reload and to 1.7 GB after four more
 * changes. malloc_trim takes each arena's lock in turn, so the loop waits only
 * while the main arena is walked (~2 ms at 1,000,000); giving back hundreds of MiB
 * of a stage thread's arena takes that arena's lock alone. One at a time; asked
 * again meanwhile, it runs once more after. */
static void trim_soon(daemon_ctx *c);

static void trim_work(uv_work_t *w) {
	(void) w;
	malloc_trim(0);
}

static void trim_after(uv_work_t *w, int status) {
	daemon_ctx *c = w->data;
	(void) status;
	c->trim_busy = false;
	if (c->trim_again && !c->stopping) {
		c->trim_again = false;
		trim_soon(c);
	}
}

static void trim_soon(daemon_ctx *c) {
	if (c->trim_busy) {
		c->trim_again = true;
		return;
	}
	c->trim.data = c;
	if (uv_queue_work(c->loop, &c->trim, trim_work, trim_after) == 0)
		c->trim_busy = true;
}

/* The orders due while the daemon was down (at a first start every past
 * occurrence its catch-up policy creates) are made in batches on the loop after
 * READY, so after the start's malloc_trim: their transient memory (sales orders,
 * log lines, LMDB's write buffers) is taken from holes the trim had given back,
 * and stays resident once freed (~4 MiB at 1,000,000 standing orders). Once
 * nothing more is due, trimmed once more. */
static bool due_now(daemon_ctx *c) {
	int64_t at;
	return engine_next_due(c->engine, &at) == 0 && at <= now_s(c);
}

static void trim_after_catchup(daemon_ctx *c) {
	if (!c->catchup_trim || due_now(c))
		return;
	c->catchup_trim = false;
	trim_soon(c);
}

static void run_due(daemon_ctx *c) {
	int r = engine_run(c->engine, now_s(c), 1);
	log_map_growth(c);
	if (r == -ENOTRECOVERABLE) {
		log_error("the store in %s became unusable (a failed remap could not be undone): stopping", c->state_dir);
		c->exit_code = 1;
		uv_stop(c->loop);
		return;
	}
	if (r == -EAGAIN) {
		/* the map is full while a list holds its snapshot: it grows as soon as
		 * that ends (store_room_wanted), which is a few loop turns, not a fault */
		uv_timer_start(&c->due_timer, on_due, STORE_RETRY_SOON_MS, 0);
		return;
	}
	const standing_order *bad = r == -EBADMSG ? engine_bulk_damaged(c->engine) : NULL;
	if (bad && !c->rereading) {
		/* a thin standing order's bulk did not read (nothing was written): its
		 * file's record is damaged; every file is read again (the apply rewrites
		 * every record) and creation goes on from there */
		log_error("the compiled record of %s is damaged at standing order %s: read from its YAML",
			  bad->bulk->file ? bad->bulk->file : "?", bad->id);
		c->rereading = true;   /* until that reload is done (change_after) */
		c->reload_forget = true;
		reload(c, "a damaged compiled record");
		return;
	}
	if (bad && c->rereading)
		return;   /* the reload reading every file is staged or waits for its turn: its commit creates */
	if (r < 0) {
		store_fault_begin(c, r);
		c->retry_ms = c->retry_ms ? c->retry_ms * 2 : STORE_RETRY_MIN_MS;
		if (c->retry_ms > STORE_RETRY_MAX_MS)
			c->retry_ms = STORE_RETRY_MAX_MS;
		uv_timer_start(&c->due_timer, on_due, c->retry_ms, 0);
		notify_status(c);
		return;
	}
	if (c->store_fault) {
		log_notice("order creation resumed: the store in %s accepts writes again", c->state_dir);
		c->store_fault = 0;
		c->retry_ms = 0;
	}
	arm(c);
	if (!c->payment_retry_ms)
		arm_payments(c);   /* a prepaid occurrence may have the earliest deadline */
	notify_status(c);
	trim_after_catchup(c);
}

static void on_due(uv_timer_t *t) {
	run_due(t->data);
}

/* ---- prepaid payment deadlines ----
 * The store indexes every unpaid prepaid order by its next deadline (payment_due,
 * then cancel_unpaid_after after creation). One timer is armed for the earliest;
 * when it fires, sales_payment_due_run handles a slice of what is due, and the
 * next slice runs on the next loop turn. Nothing polls. */

static void on_payment_due(uv_timer_t *t);

/* The next delay of a retry backing off from STORE_RETRY_MIN_MS to STORE_RETRY_MAX_MS. */
static uint64_t retry_backoff(uint64_t *ms) {
	*ms = *ms ? *ms * 2 : STORE_RETRY_MIN_MS;
	if (*ms > STORE_RETRY_MAX_MS)
		*ms = STORE_RETRY_MAX_MS;
	return *ms;
}

/* Starts timer for the instant at (UTC seconds) on the daemon's clock; never 0 ms:
 * see arm(). */
static void timer_at(daemon_ctx *c, uv_timer_t *timer, uv_timer_cb cb, int64_t at) {
	int64_t delay = at * 1000 - dclock_now_ms(&c->clock);
	uint64_t real = delay > 0 ? dclock_real_delay(&c->clock, delay) : 0;
	uv_timer_start(timer, cb, real ? real : 1, 0);
}

static int first_deadline(const char *number, int64_t at, void *ud) {
	(void) number;
	*(int64_t *) ud = at;
	return 1;
}

static void arm_payments(daemon_ctx *c) {
	int64_t at = INT64_MAX;
	store_txn *t;
	int r = store_begin(c->store, false, &t);
	if (r == 0) {
		r = store_payment_due_each(t, INT64_MAX, 1, first_deadline, &at);
		store_abort(t);
	}
	if (r < 0) {
		/* unreadable now: look again in a while rather than never */
		uv_timer_start(&c->payment_timer, on_payment_due, STORE_RETRY_MAX_MS, 0);
		return;
	}
	if (at == INT64_MAX)
		uv_timer_stop(&c->payment_timer);
	else
		timer_at(c, &c->payment_timer, on_payment_due, at);
}

static void run_payments(daemon_ctx *c) {
	size_t overdue = 0, cancelled = 0;
	bool more = false;
	int r = sales_payment_due_run(c->store, c->defs, now_s(c), PAYMENT_SLICE, &overdue, &cancelled, &more);
	if (r == -EAGAIN) {
		uv_timer_start(&c->payment_timer, on_payment_due, STORE_RETRY_SOON_MS, 0);
		return;
	}
	if (r < 0) {
		if (!c->payment_retry_ms)
			log_error("payment deadlines of prepaid orders: %s; retrying", strerror(-r));
		uv_timer_start(&c->payment_timer, on_payment_due, retry_backoff(&c->payment_retry_ms), 0);
		return;
	}
	if (c->payment_retry_ms) {
		log_notice("payment deadlines of prepaid orders handled again");
		c->payment_retry_ms = 0;
	}
	if (overdue || cancelled)
		log_info("prepaid orders unpaid: %zu overdue (order.payment_overdue), %zu cancelled", overdue, cancelled);
	if (more)
		uv_timer_start(&c->payment_timer, on_payment_due, 1, 0);   /* the next slice on the next turn */
	else
		arm_payments(c);
}

static void on_payment_due(uv_timer_t *t) {
	run_payments(t->data);
}

/* ---- the CRM's due run ----
 * crm_due_run makes the after_shipped tasks and turns task alerts into task.due
 * when they come due (doc/crm.md), a slice per loop turn; one timer is armed for
 * the next entry's instant on the daemon's clock. Entries written by socket
 * requests are noticed by a poll (CRM_POLL_MS): when the queue's first instant
 * is no longer the one the timer was armed for, the due run runs (and re-arms).
 * An entry later than the first needs nothing: the run at the first re-arms. */

static void on_crm_due(uv_timer_t *t);

static void run_crm(daemon_ctx *c) {
	size_t made = 0;
	int64_t next_at = INT64_MAX;
	bool more = false;
	int r = crm_due_run(c->store, c->defs, now_s(c), CRM_SLICE, &made, &next_at, &more);
	if (r == -EAGAIN) {
		uv_timer_start(&c->crm_timer, on_crm_due, STORE_RETRY_SOON_MS, 0);
		return;
	}
	if (r < 0) {
		if (!c->crm_retry_ms)
			log_error("tasks coming due (after_shipped reminders, task alerts): %s; retrying", strerror(-r));
		uv_timer_start(&c->crm_timer, on_crm_due, retry_backoff(&c->crm_retry_ms), 0);
		return;
	}
	if (c->crm_retry_ms) {
		log_notice("tasks coming due handled again");
		c->crm_retry_ms = 0;
	}
	if (made)
		log_info("%zu after_shipped tasks made", made);
	c->crm_next_at = more ? INT64_MIN : next_at;
	if (more) {
		uv_timer_start(&c->crm_timer, on_crm_due, 1, 0);   /* the next slice on the next turn */
		return;
	}
	if (next_at == INT64_MAX)
		uv_timer_stop(&c->crm_timer);
	else
		timer_at(c, &c->crm_timer, on_crm_due, next_at);
}

static void on_crm_due(uv_timer_t *t) {
	run_crm(t->data);
}

static void on_crm_poll(uv_timer_t *t) {
	daemon_ctx *c = t->data;
	if (c->crm_retry_ms || c->crm_next_at == INT64_MIN)   /* failing, or slices running: their timer has it */
		return;
	int64_t first = INT64_MAX;
	store_txn *txn;
	if (store_begin(c->store, false, &txn) < 0)
		return;
	int r = store_taskq_next(txn, &first);
	store_abort(txn);
	if (r == -ENOENT)
		first = INT64_MAX;
	else if (r < 0)
		return;
	if (first != c->crm_next_at)
		run_crm(c);
}

/* A wall-clock step shows as a change of (realtime - monotonic). Forward jumps
 * make occurrences due at once (the catch-up policy applies); backward jumps only
 * re-arm the timer: the watermark keeps anything from being created twice. */
static void on_tick(uv_timer_t *t) {
	daemon_ctx *c = t->data;
	/* idempotency records past API_IDEM_KEEP: at most one slice per tick, one short
	 * write transaction, so the loop never waits on a long removal */
	size_t expired = 0;
	int er = api_idem_expire(c->store, now_s(c), &expired);
	if (er < 0 && er != -EBUSY && er != -EAGAIN)
		log_warning("cannot remove expired idempotency keys: %s", strerror(-er));
	else if (expired)
		log_info("removed %zu idempotency keys older than %d h", expired, API_IDEM_KEEP / 3600);
	int64_t skew = real_ms() - mono_ms();
	int64_t jump = skew - c->skew_ms;
	c->skew_ms = skew;
	if (c->clock.test || (jump < JUMP_TOLERANCE_MS && jump > -JUMP_TOLERANCE_MS))
		return;
	log_notice("wall clock jumped %s by %lld s", jump > 0 ? "forward" : "backward",
		   (long long) (jump > 0 ? jump : -jump) / 1000);
	run_due(c);
}

/* ---- the compiled set (doc/store.md): what a restart unpacks instead of the YAML ---- */

/* The TZif files' fingerprint of the zones a set uses ($TZDIR as lib/time/tz). */
static uint64_t tz_fingerprint(char **zones, size_t n) {
	return defs_tz_fingerprint(NULL, (const char *const *) zones, n);
}

/* The catalog's source of an orders file's bytes: the config directory. */
static int conf_source(void *ud, const char *name, uint64_t hash, defs_file *ret) {
	daemon_ctx *c = ud;
	diag_list diags = { 0 };
	defs_file f;
	defs_file_info fi;
	int r = defs_read_one(c->conf_dir, name, &f, &fi, &diags);
	diag_list_clear(&diags);
	if (r < 0)
		return r == -ENOMEM ? r : -ESTALE;
	if (fi.hash != hash) {
		free(f.name);
		free(f.data);
		return -ESTALE;
	}
	*ret = f;
	return 0;
}

typedef struct also_chain {
	daemon_ctx *c;
	int (*also)(store_txn *t, const defs *d, void *ud);
	void *also_ud;
} also_chain;

/* What compiled a stored set: another version may read or check the YAML
 * otherwise, so its units are not used (every file is read again). */
#define CSET_PROGRAM "standingd " STANDINGD_VERSION

/* In the apply's transaction: the compiled set of the candidate when its YAML
 * files changed (the manifest with every file's identity, the records of the
 * files read), then the caller's also. */
static int also_compiled(store_txn *t, const defs *d, void *ud) {
	also_chain *ch = ud;
	catalog_compiled *v = NULL;
	size_t n = 0;
	store_cset head = { .program = (char *) CSET_PROGRAM };
	change *cz = &ch->c->ch;
	int r = catalog_pending_compiled(ch->c->cat, &v, &n, &head.config_hash);
	if (r == 0 && cz->has_zones) {   /* the stage's (taken: freed below) */
		head.zones = cz->zones;
		head.n_zones = cz->n_zones;
		head.tz_hash = cz->tz_hash;
		cz->zones = NULL;
		cz->n_zones = 0;
		cz->has_zones = false;
	} else if (r == 0 && (r = defs_zone_names(d, &head.zones, &head.n_zones)) == 0) {
		head.tz_hash = tz_fingerprint(head.zones, head.n_zones);
	}
	if (r == 0) {
		store_cset_put_file *pf = calloc(n ? n : 1, sizeof(*pf));
		if (!pf)
			r = -ENOMEM;
		for (size_t i = 0; pf && i < n; i++)
			pf[i] = (store_cset_put_file) { .name = v[i].name, .info = v[i].info, .packed = v[i].packed,
							.packed_len = v[i].packed_len };
		if (pf)
			r = store_cset_put(t, &head, pf, n);
		free(pf);
		for (size_t i = 0; i < head.n_zones; i++)
			free(head.zones[i]);
		free(head.zones);
	}
	free(v);
	if (r < 0 && r != -ENOENT)
		return r;
	return ch->also ? ch->also(t, d, ch->also_ud) : 0;
}

/* Makes the catalog's staged candidate the running set: the engine applies it
 * (storing the sources that changed, unless they came from the store, and then
 * the compiled set), then the catalog commits it; on failure the candidate is
 * dropped. */
static int install_also(daemon_ctx *c, bool store_sources, int (*also)(store_txn *t, const defs *d, void *ud),
			void *also_ud) {
	const defs *d = catalog_pending(c->cat);
	also_chain ch = { .c = c, .also = also, .also_ud = also_ud };
	engine_sources src = { .now = now_s(c), .also = also, .also_ud = also_ud };
	if (store_sources) {
		src.also = also_compiled;
		src.also_ud = &ch;
		src.compiled = true;   /* the orders files' bytes are not stored twice */
	}
	if (store_sources)
		catalog_pending_sources(c->cat, &src);
	/* the cap first: a grown definition set may need the room */
	store_set_max_size(c->store, d->config.max_store_size);
	server_quiesce(c->srv);   /* no worker reads the running set while it changes */
	int r = engine_apply(c->engine, d, &src);
	log_map_growth(c);
	if (r < 0) {
		if (c->defs)
			store_set_max_size(c->store, c->defs->config.max_store_size);
		catalog_abort(c->cat);
		return r;
	}
	if (store_sources)
		catalog_commit(c->cat);
	else
		catalog_commit_unstored(c->cat);   /* the next apply stores its units (review finding) */
	c->defs = catalog_defs(c->cat);
	c->env.defs = c->defs;
	c->env.defs_generation++;   /* lists being built start again (api.c) */
	return 0;
}

static int install(daemon_ctx *c, bool store_sources) {
	return install_also(c, store_sources, NULL, NULL);
}

/* ---- changes of the running set, made off the loop (issue 12) ----
 * A change (the config directory read again, an API definition placed or
 * removed) is staged on a thread of libuv's pool: the directory read, the
 * catalog's candidate built (a copy of the running set's arrays: O(N)), while the
 * loop goes on serving. The running set is not changed meanwhile: the loop calls
 * nothing of the catalog's until the stage is back, the workers of server.c read
 * the running defs. Back on the loop the candidate is committed (install_also:
 * the workers quiesced, engine_apply with the changes known, the store's writes,
 * catalog_commit). One change at a time: the server's turns order the API's
 * calls and the daemon's own reloads (server_turn_take); a reload asked while
 * another change has the turn runs after it, once for any number asked. */

/* catalog_set_free's fn: the replaced running set's arrays are freed on the pool
 * (a munmap of ~8 ms at 1,000,000), or here when it cannot take them. */
typedef struct retired_free {
	uv_work_t work;
	void *p;
} retired_free;

static void retired_work(uv_work_t *w) {
	free(((retired_free *) w->data)->p);
}

static void retired_after(uv_work_t *w, int status) {
	(void) status;
	free(w->data);
}

static void retired_free_fn(void *ud, void *p) {
	daemon_ctx *c = ud;
	retired_free *rf = malloc(sizeof(*rf));
	if (!rf || (rf->p = p, rf->work.data = rf, uv_queue_work(c->loop, &rf->work, retired_work, retired_after) < 0)) {
		free(p);
		free(rf);
	}
}

static void change_clear(daemon_ctx *c) {
	for (size_t i = 0; i < c->ch.n_zones; i++)
		free(c->ch.zones[i]);
	free(c->ch.zones);
	free(c->ch.id);
	free(c->ch.json);
	diag_list_clear(&c->ch.diags);
	c->ch = (change) { 0 };
	if (!c->stopping)
		trim_soon(c);   /* what the stage and the commit left free */
}

/* On the thread: what a reload reads and stages. Every failure is in diags as a
 * line naming the file (the loader's) or -EINVAL/-ENOMEM/-ESTALE. */
static int reload_stage(daemon_ctx *c, diag_list *diags) {
	defs_file *files = NULL;
	defs_file_info *info = NULL;
	size_t n = 0;
	/* files whose identity is the running set's are not read again */
	int r = defs_read_dir_known(c->conf_dir, catalog_known, c->cat, &files, &info, &n, diags);
	if (r == 0)
		r = catalog_stage_known(c->cat, files, info, n, NULL, 0, diags);
	defs_files_free(files, n);
	free(info);
	if (r == -ESTALE) {   /* a file changed while it was looked at: read them all */
		files = NULL;
		n = 0;
		r = defs_read_dir(c->conf_dir, &files, &n, diags);
		if (r == 0)
			r = catalog_stage(c->cat, files, n, NULL, 0, diags);
		defs_files_free(files, n);
	}
	return r;
}

static void change_work(uv_work_t *w) {
	daemon_ctx *c = w->data;
	change *ch = &c->ch;
	if (ch->reload) {
		ch->r = reload_stage(c, &ch->diags);
		/* the compiled set's zones (also_compiled), when a YAML file changed */
		const defs *d = catalog_pending(c->cat);
		if (ch->r == 0 && d && defs_zone_names(d, &ch->zones, &ch->n_zones) == 0) {
			ch->tz_hash = tz_fingerprint(ch->zones, ch->n_zones);
			ch->has_zones = true;
		}
	} else
		ch->r = catalog_stage_api_order(c->cat, ch->id, ch->json, &ch->diags);
}

/* The reload's commit, on the loop. 0, or -EINVAL with at least one diag naming
 * the file (or the state directory) and what went wrong: every failure, an
 * unreadable file or a store fault included, reaches Ops.Reload's caller as
 * InvalidDefinitions lines. Nothing is applied on failure. */
static int reload_commit(daemon_ctx *c, int r, diag_list *diags) {
	const char *why = c->ch.why;
	if (r < 0) {
		if (!diags->n)   /* the loader names the file; this is for anything it did not */
			diag_add(diags, c->conf_dir, 0, 0, "cannot load the definitions: %s", strerror(-r));
		print_diags(diags, NULL, LOG_ERR);
		log_error("reload (%s) failed: keeping the last good definitions", why);
		r = -EINVAL;
	} else if ((r = install(c, true)) < 0) {
		log_error("reload (%s) failed: cannot store the definitions: %s", why, strerror(-r));
		diag_add(diags, c->state_dir, 0, 0, "cannot store the definitions: %s", strerror(-r));
		r = -EINVAL;
	} else {
		log_info("reloaded (%s): %zu customers, %zu standing orders", why, c->defs->n_customers,
			 c->defs->n_orders);
		run_due(c);
		notify_kick(c->notify);   /* notify_command may be new */
	}
	sd_notify(0, "READY=1");
	notify_status(c);
	return r;
}

/* PlaceStandingOrder / CancelStandingOrder / PlaceCustomer's commit, on the loop:
 * the API's files with one replaced, added or removed, checked against the
 * running set by the catalog on the thread. */
static int order_commit(daemon_ctx *c, int r) {
	const char *id = c->ch.id;
	if (r < 0)
		return r;
	if ((r = install_also(c, true, c->ch.also, c->ch.also_ud)) < 0)
		return r;
	/* Crm.PlaceCustomer's files are "customer:ID" (lib/api/crm.c) */
	if (!strncmp(id, "customer:", 9))
		log_info("customer %s placed through the API", id + 9);
	else
		log_info("standing order %s %s through the API", id, c->ch.json ? "placed" : "cancelled");
	run_due(c);
	return 0;
}

static void reload_next(daemon_ctx *c);

static void change_after(uv_work_t *w, int status) {
	daemon_ctx *c = w->data;
	change *ch = &c->ch;
	ch->busy = false;
	if (status < 0 && ch->r == 0)
		ch->r = status;   /* not run (cancelled) */
	if (c->stopping || ch->dropped) {
		/* SIGTERM, or the call went away: the candidate is dropped, nothing changes;
		 * the server may be gone (stopping) */
		if (ch->r == 0)
			catalog_abort(c->cat);
		bool stopping = c->stopping;
		if (ch->reload) {
			c->rereading = false;
			if (!stopping)
				sd_notify(0, "READY=1");   /* the running set is as it was */
		}
		change_clear(c);
		if (!stopping) {
			server_turn_give(c->srv);
			reload_next(c);
		}
		return;
	}
	ch->r = ch->reload ? reload_commit(c, ch->r, &ch->diags) : order_commit(c, ch->r);
	if (ch->reload)
		c->rereading = false;
	ch->done = true;
	if (ch->call) {
		server_turn_wake(c->srv);   /* change_end gives the outcome; the turn ends with its reply */
		return;
	}
	change_clear(c);
	server_turn_give(c->srv);
	reload_next(c);
}

/* Stages c->ch (filled in) on the pool. 0 or a negative errno (nothing queued). */
static int change_start(daemon_ctx *c) {
	c->ch.work.data = c;
	if (c->ch.reload) {
		sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu", (unsigned long long) mono_ms() * 1000);
		if (c->ch.forget)
			catalog_forget(c->cat);
	}
	int r = uv_queue_work(c->loop, &c->ch.work, change_work, change_after);
	if (r < 0) {
		if (c->ch.reload)
			sd_notify(0, "READY=1");   /* not reloading after all */
		return r == UV_ENOMEM ? -ENOMEM : -EIO;
	}
	c->ch.busy = true;
	return 0;
}

/* The daemon's own reload, with the turn: staged now. */
static void reload_start(daemon_ctx *c) {
	change_clear(c);
	c->ch.reload = true;
	c->ch.forget = c->reload_forget;
	snprintf(c->ch.why, sizeof(c->ch.why), "%s", c->reload_why);
	c->reload_wanted = c->reload_forget = false;
	int r = change_start(c);
	if (r < 0) {
		log_error("reload (%s) failed: %s", c->ch.why, strerror(-r));
		if (c->ch.forget)
			c->reload_forget = true;   /* the next reload reads everything */
		c->rereading = false;
		change_clear(c);
		server_turn_give(c->srv);
	}
}

/* The server's turn callback: the daemon's turn has come. */
static void on_turn(void *ud) {
	daemon_ctx *c = ud;
	if (c->reload_wanted && !c->stopping)
		reload_start(c);
	else
		server_turn_give(c->srv);
}

/* After a change of the daemon's: a reload asked meanwhile (and refused a turn
 * then) is asked again. */
static void reload_next(daemon_ctx *c) {
	if (c->reload_wanted)
		reload(c, c->reload_why);
}

static void reload(daemon_ctx *c, const char *why) {
	if (c->stopping)
		return;
	if (!c->reload_wanted)
		snprintf(c->reload_why, sizeof(c->reload_why), "%s", why);
	c->reload_wanted = true;
	if (c->srv ? server_turn_take(c->srv) : !c->ch.busy)
		reload_start(c);
	/* else on_turn starts it once the turn is the daemon's */
}

/* api_env.change_begin: the call whose turn it is (server.c) starts its change. */
static int api_change_begin(void *ud, const api_change_req *req) {
	daemon_ctx *c = ud;
	if (c->ch.busy || c->ch.done)
		return -EBUSY;   /* the turns rule this out */
	change_clear(c);
	c->ch.call = true;
	c->ch.reload = req->reload;
	if (req->reload) {
		snprintf(c->ch.why, sizeof(c->ch.why), "Ops.Reload");
		/* one asked before stands for this one too */
		c->ch.forget = c->reload_forget;
		c->reload_wanted = c->reload_forget = false;
	} else {
		c->ch.also = req->also;
		c->ch.also_ud = req->also_ud;
		if (!(c->ch.id = strdup(req->id)) || (req->json && !(c->ch.json = strdup(req->json)))) {
			change_clear(c);
			return -ENOMEM;
		}
	}
	int r = change_start(c);
	if (r < 0) {
		change_clear(c);
		return r;
	}
	server_turn_park(c->srv);
	return 0;
}

static int api_change_end(void *ud, diag_list *diags) {
	daemon_ctx *c = ud;
	if (!c->ch.done) {
		server_turn_park(c->srv);
		return -EINPROGRESS;
	}
	int r = c->ch.r;
	*diags = c->ch.diags;
	c->ch.diags = (diag_list) { 0 };
	change_clear(c);
	return r;
}

/* The call went away before its outcome: a stage still running is dropped when
 * it is back (the daemon keeps the turn till then); a change made is kept. */
static void api_change_drop(void *ud) {
	daemon_ctx *c = ud;
	if (c->ch.busy) {
		c->ch.dropped = true;
		server_turn_keep(c->srv);
		return;
	}
	change_clear(c);
}

static int64_t api_now(void *ud) {
	return now_s(ud);
}

static double api_max_loop_step_ms(void *ud) {
	return loopstat_max_ms(&((daemon_ctx *) ud)->loopstat);
}

static double api_max_loop_step_cpu_ms(void *ud) {
	return loopstat_max_cpu_ms(&((daemon_ctx *) ud)->loopstat);
}

static void api_order_placed(void *ud, const sales_order *o) {
	daemon_ctx *c = ud;
	on_created(o, ud);
	if (o->payment == ORDER_PAYMENT_PREPAID && !c->payment_retry_ms)
		arm_payments(c);
}

/* Ops.RetryOutbox made parked events pending: deliver them now, not at the next poll. */
static void api_outbox_wake(void *ud) {
	notify_kick(((daemon_ctx *) ud)->notify);
}

static void on_sighup(uv_signal_t *s, int signum) {
	(void) signum;
	reload(s->data, "SIGHUP");
}

static void on_debounced(uv_timer_t *t) {
	reload(t->data, "files changed");
}

static void on_fs_event(uv_fs_event_t *h, const char *filename, int events, int status) {
	daemon_ctx *c = h->data;
	(void) events;
	(void) status;
	/* Editors write temp files and rename; one reload after the burst settles. */
	if (filename && (filename[0] == '.' || filename[strlen(filename) - 1] == '~'))
		return;
	uv_timer_start(&c->debounce_timer, on_debounced, RELOAD_DEBOUNCE_MS, 0);
}

static void on_watchdog(uv_timer_t *t) {
	(void) t;
	sd_notify(0, "WATCHDOG=1");
}

static void on_stop(uv_signal_t *s, int signum) {
	daemon_ctx *c = s->data;
	log_info("stopping on %s", signum == SIGTERM ? "SIGTERM" : "SIGINT");
	sd_notify(0, "STOPPING=1");
	c->stopping = true;   /* a change being staged is dropped when it is back */
	uv_stop(c->loop);
}

static void close_walk(uv_handle_t *h, void *arg) {
	(void) arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/* The store's release_readers: the workers' read transactions end so that the
 * map can grow under a write of the loop's. */
static void release_readers(void *ud) {
	daemon_ctx *c = ud;
	server_release_readers(c->srv);
}

static int lock_state(daemon_ctx *c) {
	char path[4096];
	snprintf(path, sizeof(path), "%s/standingd.lock", c->state_dir);
	c->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (c->lock_fd < 0) {
		log_error("cannot open %s: %s", path, strerror(errno));
		return -errno;
	}
	if (flock(c->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		char pid[32] = "";
		ssize_t len = pread(c->lock_fd, pid, sizeof(pid) - 1, 0);
		if (len > 0)
			pid[strcspn(pid, "\n")] = 0;
		log_error("another standingd%s%s%s is already running on state directory %s",
			  pid[0] ? " (pid " : "", pid, pid[0] ? ")" : "", c->state_dir);
		return -EBUSY;
	}
	char pid[32];
	int len = snprintf(pid, sizeof(pid), "%d\n", (int) getpid());
	if (ftruncate(c->lock_fd, 0) < 0 || pwrite(c->lock_fd, pid, len, 0) != len)
		log_warning("cannot write pid to %s", path);
	return 0;
}

typedef struct start_known {
	const store_cset *m;
} start_known;

static int cset_file_cmp(const void *key, const void *e) {
	return strcmp(key, ((const store_cset_file *) e)->name);
}

static const store_cset_file *cset_find(const store_cset *m, const char *name) {
	return m ? bsearch(name, m->files, m->n_files, sizeof(*m->files), cset_file_cmp) : NULL;
}

/* defs_read_dir_known's question at start: a file whose identity is the stored one's. */
static bool start_known_file(void *ud, const char *name, const defs_file_id *id, uint64_t *ret_hash) {
	const store_cset_file *f = cset_find(((start_known *) ud)->m, name);
	if (!f || !defs_file_id_same(&f->info.id, id))
		return false;
	*ret_hash = f->info.hash;
	return true;
}

static const char *cset_why(int r) {
	return r == -EPROTO ? "of another version" : r == -EBADMSG ? "damaged" : strerror(-r);
}

/* Stages the files at start: those whose identity or content hash is the stored
 * compiled set's are unpacked from it, the others read and validated; the stored
 * set is not used at all when it is of another version or damaged, when
 * standingd.yaml or the time zones it was compiled with changed. Logs what it
 * did ("definitions: N files unchanged, M read"). */
static int stage_start(daemon_ctx *c, const defs_file *api, size_t na, diag_list *diags) {
	defs_file *files = NULL;
	defs_file_info *info = NULL;
	size_t n = 0;
	store_cset *m = NULL;
	store_txn *t = NULL;
	const char *why = NULL;
	char whybuf[160];
	int64_t t0 = mono_ms();
	int r = store_begin(c->store, false, &t);
	if (r == 0 && (r = store_cset_get(t, &m)) < 0 && r != -ENOENT) {
		snprintf(whybuf, sizeof(whybuf), "the stored compiled definitions are %s", cset_why(r));
		why = whybuf;
	}
	if (m) {
		if (strcmp(m->program, CSET_PROGRAM)) {
			snprintf(whybuf, sizeof(whybuf), "they were compiled by %.60s, this is " CSET_PROGRAM,
				 m->program);
			why = whybuf;
		} else if (tz_fingerprint(m->zones, m->n_zones) != m->tz_hash)
			why = "the time zone data changed";
		if (why) {
			store_cset_free(m);
			m = NULL;
		}
	}
	start_known sk = { .m = m };
	r = defs_read_dir_known(c->conf_dir, m ? start_known_file : NULL, &sk, &files, &info, &n, diags);
	/* units compiled under another standingd.yaml than the one staged (read once,
	 * here: compared with a read of its own, it could change in between and the old
	 * units run with the new one, as a review found): every file read */
	if (r == 0 && m && n && info[0].hash != m->config_hash) {
		why = "standingd.yaml changed";
		defs_files_free(files, n);
		free(info);
		files = NULL;
		info = NULL;
		n = 0;
		store_cset_free(m);
		m = NULL;
		r = defs_read_dir_known(c->conf_dir, NULL, NULL, &files, &info, &n, diags);
	}
	/* the stored records of the files whose bytes are the ones compiled */
	for (size_t i = 1; r == 0 && m && i < n; i++) {
		const store_cset_file *f = cset_find(m, files[i].name);
		if (f && f->info.hash == info[i].hash && f->info.id.size == files[i].len &&
		    store_cset_record(t, files[i].name, &info[i].packed, &info[i].packed_len) < 0)
			info[i].packed = NULL;
	}
	if (r == 0)
		r = catalog_stage_known(c->cat, files, info, n, api, na, diags);
	store_abort(t);
	defs_files_free(files, n);
	free(info);
	store_cset_free(m);
	if (r == -ESTALE) {
		if (!why)
			why = "a file changed while it was looked at";
		files = NULL;
		n = 0;
		r = defs_read_dir(c->conf_dir, &files, &n, diags);
		if (r == 0)
			r = catalog_stage(c->cat, files, n, api, na, diags);
		defs_files_free(files, n);
	}
	if (r < 0)
		return r;
	catalog_stats st;
	catalog_last_stats(c->cat, &st);
	if (why)
		log_notice("definitions: %s: reading every file", why);
	if (st.packed_failed)
		log_warning("definitions: the compiled record of %s is %s: read from its YAML (%zu files so)",
			    st.packed_failed_name, cset_why(st.packed_error), st.packed_failed);
	log_info("definitions: %zu files unchanged, %zu read (%lld ms)", st.files_unpacked, st.files_read,
		 (long long) (mono_ms() - t0));
	return 0;
}

/* The definitions to start on: the files as they are, else the last good set in
 * the store (a broken file at start-up must not stop order creation), each with the
 * standing orders placed through the API. */
static int load_start_defs(daemon_ctx *c) {
	diag_list diags = { 0 };
	defs_file *api = NULL;
	size_t na = 0;
	store_txn *t;
	int r = store_begin(c->store, false, &t);
	if (r == 0) {
		r = store_api_defs_get(t, &api, &na);
		store_abort(t);
	}
	if (r < 0 && r != -ENOENT) {
		log_error("cannot read the API's standing orders from the store: %s", strerror(-r));
		return r;
	}
	if (!api && (r = defs_files_dup(NULL, 0, &api)) < 0)
		return r;
	r = stage_start(c, api, na, &diags);
	if (r == 0) {
		defs_files_free(api, na);
		return install(c, true);
	}
	print_diags(&diags, NULL, LOG_ERR);
	diag_list_clear(&diags);
	/* the stored files; the orders files stored compiled unpacked from their records */
	r = store_begin(c->store, false, &t);
	if (r == 0) {
		r = catalog_stage_stored(c->cat, t, api, na, &diags);
		store_abort(t);
	}
	diag_list_clear(&diags);
	defs_files_free(api, na);
	if (r == -ENOENT) {
		log_error("the definitions in %s are invalid and there is no last good version in %s",
			  c->conf_dir, c->state_dir);
		return -EINVAL;
	}
	if (r < 0) {
		log_error("the last good definitions in the store no longer load%s",
			  r == -EBADMSG || r == -EPROTO ? ": their compiled records are damaged or of another version" : "");
		return r;
	}
	log_warning("the definitions in %s are invalid: running on the last good version", c->conf_dir);
	/* the store already holds these: install them without writing them back */
	return install(c, false);
}

/* max_store_size before the store is opened: read from standingd.yaml alone
 * (the whole set is loaded later, and may fall back to the store's last good
 * one, whose value install() then applies). 0 (the default) when unreadable. */
static uint64_t conf_max_store_size(const char *conf_dir) {
	char path[4096];
	snprintf(path, sizeof(path), "%s/standingd.yaml", conf_dir);
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return 0;
	struct stat st;
	defs_file f = { .name = "standingd.yaml" };
	uint64_t v = 0;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size < (1 << 20) &&
	    (f.data = malloc((size_t) st.st_size + 1)) &&
	    read(fd, f.data, (size_t) st.st_size) == st.st_size) {
		diag_list diags = { 0 };
		defs *d;
		f.len = (size_t) st.st_size;
		if (defs_load_files(&f, 1, NULL, &d, &diags) == 0) {
			v = d->config.max_store_size;
			defs_free(d);
		}
		diag_list_clear(&diags);
	}
	free(f.data);
	close(fd);
	return v;
}

/* A new store's map, sized for the first apply: it writes the compiled records
 * and a schedule state per standing order in one transaction (about a third of
 * the YAML's bytes since the orders files are not stored again; three times the
 * YAML leaves room for what follows); a map grown by doubling on the way
 * replays the transaction's writes at every step. 0 (the store's default) for a
 * store that exists or a small set. */
static uint64_t first_map_size(daemon_ctx *c, uint64_t max_size) {
	char path[4096];
	struct stat st;
	snprintf(path, sizeof(path), "%s/data.mdb", c->state_dir);
	if (stat(path, &st) == 0)
		return 0;
	uint64_t bytes = 0;
	snprintf(path, sizeof(path), "%s/orders.d", c->conf_dir);
	DIR *d = opendir(path);
	for (struct dirent *de; d && (de = readdir(d));)
		if (de->d_name[0] != '.' && fstatat(dirfd(d), de->d_name, &st, 0) == 0 && S_ISREG(st.st_mode))
			bytes += (uint64_t) st.st_size;
	if (d)
		closedir(d);
	uint64_t want = bytes * 3, cap = max_size ? max_size : store_default_max_size(c->state_dir);
	if (want < (UINT64_C(64) << 20))
		return 0;
	want = (want + (UINT64_C(1) << 20) - 1) & ~((UINT64_C(1) << 20) - 1);
	return want < cap ? want : cap;
}

/* --check: the set validated as a start validates it (the catalog: files read and
 * checked on the CPUs' threads; errors exactly a full validation's), nothing applied. */
static int check(const char *conf) {
	diag_list diags = { 0 }, warns = { 0 };
	catalog *cat = NULL;
	int r = catalog_load_dir(conf, NULL, &cat, &diags);
	const defs *d = r == 0 ? catalog_defs(cat) : NULL;
	/* the mail templates too, when there are any (standingd-mail reads them) */
	int rt = mail_templates_check(conf, &diags, &warns);
	print_diags(&diags, stdout, 0);
	for (size_t i = 0; i < warns.n; i++) {
		char *w = diag_format(&warns.v[i]);
		printf("warning: %s\n", w ? w : warns.v[i].msg);
		free(w);
	}
	diag_list_clear(&diags);
	diag_list_clear(&warns);
	if (r == -ENOMEM)
		fprintf(stderr, "standingd: --check: %s\n", strerror(ENOMEM));
	if (r == 0 && rt == 0)
		printf("OK: %zu customers, %zu standing orders\n", d->n_customers, d->n_orders);
	catalog_free(cat);
	return r < 0 || rt < 0;
}

/* The server's view of a caller's role, under the definitions in force. */
static unsigned server_peer_roles(const peer *p, void *ud) {
	daemon_ctx *c = ud;
	return peer_role_of(p, &c->defs->config, c->env.self_uid).flags;
}

static void api_workers(void *ud, unsigned *ret_threads, unsigned *ret_busy, unsigned *ret_waiting) {
	server_pool_stats(((daemon_ctx *) ud)->srv, ret_threads, ret_busy, ret_waiting);
}

static int start_socket(daemon_ctx *c) {
	/* read-only calls on worker threads: one per CPU (at least 2, at most 8) for
	 * lists and one more kept for short calls; STANDINGD_WORKERS sets the number
	 * (0: everything on the loop); checked before anything is set up */
	long nw = sysconf(_SC_NPROCESSORS_ONLN);
	const char *env_nw = getenv("STANDINGD_WORKERS");
	if (env_nw && *env_nw) {
		char *end;
		errno = 0;
		nw = strtol(env_nw, &end, 10);
		if (errno || *end || nw < 0 || nw > 64) {
			log_error("STANDINGD_WORKERS=%s: expected a number of threads from 0 to 64", env_nw);
			return -EINVAL;
		}
	} else
		nw = (nw < 2 ? 2 : nw > 8 ? 8 : nw) + 1;
	c->env = (api_env) {
		.defs = c->defs, .store = c->store, .engine = c->engine, .self_uid = geteuid(),
		.now = api_now, .change_begin = api_change_begin, .change_end = api_change_end,
		.change_drop = api_change_drop,
		.order_placed = api_order_placed, .max_loop_step_ms = api_max_loop_step_ms,
		.max_loop_step_cpu_ms = api_max_loop_step_cpu_ms,
		.outbox_wake = api_outbox_wake, .workers = api_workers, .ud = c,
	};
	c->svc = vl_service_new("standingd", "standingd standing-order scheduler", STANDINGD_VERSION,
				"https://standingd.example/");
	if (!c->svc || api_register(c->svc, &c->env) < 0) {
		log_error("cannot set up the Varlink service");
		return -ENOMEM;
	}
	const char *path = c->socket_path ? c->socket_path : c->defs->config.socket;
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		fsdir_make(dir, 0755);
	}
	server_limits limits = SERVER_LIMITS_DEFAULT;
	limits.max_connections = c->defs->config.max_connections;
	limits.max_connections_per_user = c->defs->config.max_connections_per_user;
	limits.max_write_queue = (size_t) c->defs->config.max_reply_queue;
	limits.max_write_queue_total = (size_t) c->defs->config.max_reply_queue_total;
	limits.idle_timeout_ms = (uint64_t) c->defs->config.idle_timeout * 1000;
	bool activated;
	int r = server_start(c->loop, path, c->svc, &limits, &c->srv, &activated);
	if (r < 0) {
		log_error("cannot listen on %s: %s", path, r == -EADDRINUSE ? "another process serves it" : uv_strerror(r));
		return r;
	}
	server_set_roles(c->srv, server_peer_roles, c);
	server_set_turn_cb(c->srv, on_turn, c);
	catalog_set_free(c->cat, retired_free_fn, c);
	if ((r = server_set_pool(c->srv, c->store, (unsigned) nw)) < 0)
		return r;
	if (activated)
		log_info("listening on the socket passed by systemd");
	else
		log_info("listening on %s", path);
	return 0;
}

static int run(daemon_ctx *c) {
	int r;
	if (!c->state_dir) {
		/* Only the config can name it; it must be readable for that. */
		diag_list diags = { 0 };
		defs *d = NULL;
		r = defs_load(c->conf_dir, NULL, &d, &diags);
		print_diags(&diags, NULL, LOG_ERR);
		diag_list_clear(&diags);
		if (r < 0) {
			log_error("cannot start: the definitions are invalid and no --state was given");
			return 1;
		}
		if (!d->config.state_dir) {
			defs_free(d);
			log_error("no state directory: set state_dir: in standingd.yaml or pass --state");
			return 1;
		}
		c->state_dir = strdup(d->config.state_dir);
		defs_free(d);
	}
	if ((r = fsdir_make(c->state_dir, STORE_DIR_MODE)) < 0) {
		log_error("cannot create state directory %s: %s", c->state_dir, strerror(-r));
		return 1;
	}
	if (lock_state(c) < 0)
		return 1;
	diag_list damage = { 0 };
	store_options so = { .max_size = conf_max_store_size(c->conf_dir), .on_damage = storefault_lmdb,
			     .diags = &damage, .release_readers = release_readers, .release_ud = c };
	so.map_size = first_map_size(c, so.max_size);
	storefault_install("standingd", c->state_dir);
	r = store_open(c->state_dir, &so, &c->store);
	if (r == -EUCLEAN && damage.n) {
		log_error("refusing the store in %s: %s %s; restore it from a backup, or move the state "
			  "directory away to start afresh", c->state_dir, damage.v[0].file, damage.v[0].msg);
		diag_list_clear(&damage);
		return 1;
	}
	diag_list_clear(&damage);
	if (r < 0) {
		log_error("cannot open the store in %s: %s", c->state_dir,
			  r == -EBADMSG ? "it is damaged (an LMDB page or record is unreadable)" : strerror(-r));
		return 1;
	}
	engine_hooks hooks = { .created = on_created, .skipped = on_skipped, .ud = c };
	if ((r = engine_new(c->store, &hooks, &c->engine)) < 0) {
		log_error("cannot start the engine: %s", strerror(-r));
		return 1;
	}
	if (c->clock.speed > ENGINE_GRACE)
		engine_set_grace(c->engine, (int64_t) c->clock.speed);
	if ((r = catalog_new(NULL, &c->cat)) < 0) {
		log_error("cannot start: %s", strerror(-r));
		return 1;
	}
	catalog_set_source(c->cat, conf_source, c);
	/* every commit but an unstored one stores its units: their bulk stays there
	 * (STANDINGD_RESIDENT=1 keeps it in memory too: the thin set's test compares) */
	const char *resident = getenv("STANDINGD_RESIDENT");
	catalog_set_thin(c->cat, !(resident && !strcmp(resident, "1")));
	if ((r = load_start_defs(c)) < 0) {
		if (r != -EINVAL)
			log_error("cannot apply the definitions: %s", strerror(-r));
		return 1;
	}
	/* LMDB keeps the pages of the biggest write transaction so far (the first
	 * start's apply: ~80 MiB at 1,000,000 standing orders) until its environment
	 * closes: opened again here, before any worker holds a read transaction
	 * (~1 ms). A failure costs only that memory, unless the store is lost. */
	store_info si;
	if ((r = store_reopen(c->store)) < 0 && store_get_info(c->store, &si) == -ENOTRECOVERABLE) {
		log_error("cannot open the store in %s again: %s", c->state_dir, strerror(-r));
		return 1;
	}
	if (r < 0)
		log_warning("cannot open the store again to give back LMDB's pages: %s", strerror(-r));

	c->loop = uv_default_loop();
	if ((r = loopstat_start(&c->loopstat, c->loop)) < 0)
		log_warning("cannot measure loop steps: %s", uv_strerror(r));
	uv_timer_init(c->loop, &c->due_timer);
	uv_timer_init(c->loop, &c->tick_timer);
	uv_timer_init(c->loop, &c->debounce_timer);
	uv_timer_init(c->loop, &c->watchdog_timer);
	uv_timer_init(c->loop, &c->payment_timer);
	uv_timer_init(c->loop, &c->crm_timer);
	uv_timer_init(c->loop, &c->crm_poll);
	c->due_timer.data = c->tick_timer.data = c->debounce_timer.data = c->watchdog_timer.data = c;
	c->payment_timer.data = c->crm_timer.data = c->crm_poll.data = c;
	uv_signal_init(c->loop, &c->sighup);
	uv_signal_init(c->loop, &c->sigterm);
	uv_signal_init(c->loop, &c->sigint);
	c->sighup.data = c->sigterm.data = c->sigint.data = c;
	uv_signal_start(&c->sighup, on_sighup, SIGHUP);
	uv_signal_start(&c->sigterm, on_stop, SIGTERM);
	uv_signal_start(&c->sigint, on_stop, SIGINT);
	uv_fs_event_init(c->loop, &c->watch_conf);
	uv_fs_event_init(c->loop, &c->watch_orders);
	c->watch_conf.data = c->watch_orders.data = c;
	if (uv_fs_event_start(&c->watch_conf, on_fs_event, c->conf_dir, 0) < 0)
		log_warning("cannot watch %s: reload with SIGHUP", c->conf_dir);
	char orders_dir[4096];
	snprintf(orders_dir, sizeof(orders_dir), "%s/orders.d", c->conf_dir);
	if (uv_fs_event_start(&c->watch_orders, on_fs_event, orders_dir, 0) < 0)
		log_warning("cannot watch %s: reload with SIGHUP", orders_dir);
	c->skew_ms = real_ms() - mono_ms();
	uv_timer_start(&c->tick_timer, on_tick, 1000, 1000);
	uint64_t wd_usec;
	if (sd_watchdog_enabled(0, &wd_usec) > 0)
		uv_timer_start(&c->watchdog_timer, on_watchdog, wd_usec / 2000, wd_usec / 2000);

	if (start_socket(c) < 0) {
		uv_walk(c->loop, close_walk, NULL);
		uv_run(c->loop, UV_RUN_DEFAULT);
		uv_loop_close(c->loop);
		return 1;
	}

	/* events appended by anyone are noticed by its poll (notify.h, NOTIFY_POLL_MS) */
	notify_env nenv = { .loop = c->loop, .store = c->store, .clock = &c->clock, .defs = &c->defs };
	if ((r = notify_start(&nenv, &c->notify)) < 0)
		log_error("cannot start delivering the outbox: %s", strerror(-r));

	char now[CAL_ISO_MAX];
	log_info("started: %zu customers, %zu standing orders, state %s%s%s", c->defs->n_customers,
		 c->defs->n_orders, c->state_dir, c->clock.test ? ", test clock at " : "",
		 c->clock.test ? cal_format_utc(now_s(c), now) : "");
	run_due(c);
	run_payments(c);   /* what came due while it was down, then the timer */
	run_crm(c);
	uv_timer_start(&c->crm_poll, on_crm_poll, CRM_POLL_MS, CRM_POLL_MS);
	sd_notify(0, "READY=1");
	notify_status(c);
	/* what reading the YAML left free goes back to the system (RssAnon idle);
	 * after READY: returning ~0.1 s of pages at 1,000,000 is no part of starting */
	malloc_trim(0);
	c->catchup_trim = due_now(c);

	uv_run(c->loop, UV_RUN_DEFAULT);

	/* stopped by a signal or by a lost store: a change still being staged is
	 * dropped when it is back (the server is gone by then) */
	c->stopping = true;
	notify_stop(c->notify);   /* kills commands in flight; their events stay pending */
	server_stop(c->srv);
	uv_walk(c->loop, close_walk, NULL);
	uv_run(c->loop, UV_RUN_DEFAULT);
	if (uv_loop_close(c->loop) != 0)
		log_warning("event loop did not close cleanly");
	log_info("stopped");
	return c->exit_code;
}

int main(int argc, char **argv) {
	static const struct option opts[] = {
		{ "conf", required_argument, NULL, 'c' },
		{ "state", required_argument, NULL, 's' },
		{ "socket", required_argument, NULL, 'S' },
		{ "test-clock", required_argument, NULL, 't' },
		{ "check", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD);
	daemon_ctx c = { .lock_fd = -1 };
	int do_check = 0, opt;
	dclock_real(&c.clock);
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': c.conf_dir = optarg; break;
		case 's': c.state_dir = optarg; break;
		case 'S': c.socket_path = optarg; break;
		case 't':
			if (dclock_parse_test(optarg, &c.clock) < 0) {
				fprintf(stderr, "standingd: --test-clock: expected START[,SPEED] with START an ISO 8601 "
					"instant like 2026-12-01T00:00:00Z and SPEED > 0, got \"%s\"\n", optarg);
				return 2;
			}
			break;
		case 'k': do_check = 1; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("standingd %s\n", STANDINGD_VERSION); return 0;
		case ':':
			fprintf(stderr, "standingd: option '%s' needs a value\nTry 'standingd --help'.\n", argv[optind - 1]);
			return 2;
		default:
			fprintf(stderr, "standingd: unknown option '%s'\nTry 'standingd --help'.\n", argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "standingd: unexpected argument '%s'\nTry 'standingd --help'.\n", argv[optind]);
		return 2;
	}
	if (!c.conf_dir) {
		fprintf(stderr, "standingd: --conf DIR is required\nTry 'standingd --help'.\n");
		return 2;
	}
	if (do_check)
		return check(c.conf_dir);
	log_init();
	/* A client that goes away while its reply is written must not kill the
	 * daemon (libuv writes with write(2); systemd ignores SIGPIPE for us, a
	 * shell does not). */
	signal(SIGPIPE, SIG_IGN);
	const char *state_arg = c.state_dir;
	int r = run(&c);
	notify_free(c.notify);
	engine_free(c.engine);
	vl_service_free(c.svc);
	catalog_free(c.cat);
	store_close(c.store);
	if (c.lock_fd >= 0)
		close(c.lock_fd);
	if (c.state_dir != state_arg)
		free((char *) c.state_dir);
	return r;
}
