/* notify: runs notify_command over the outbox's due batches (see notify.h and
 * doc/notify.md). A batch's life: taken (its ordering keys become busy), the
 * command spawned in its own session with the batch on standard input, its output
 * read line by line until it exited and both pipes reached EOF (or NOTIFY_DRAIN_MS
 * after the exit), the outcome recorded with outbox_done (retried on a timer if the
 * store refuses), then its handles closed and the batch freed in the last close
 * callback. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>
#include "daemon/standingd/log.h"
#include "daemon/standingd/notify.h"
#include "lib/base/text.h"
#include "lib/sales/outbox.h"
#include "lib/time/cal.h"

#define ERROR_TEXT_MAX 500        /* bytes of a command's TEXT kept as the event's last error */
#define MESSAGE_ID_MAX 250        /* bytes of a `sent:` line's <MESSAGE-ID> */
#define SUBJECT_MAX 900           /* bytes of a `sent:` line's SUBJECT kept in the interaction */
#define LOGGED_LINES_MAX 20       /* odd stdout lines and stderr lines logged per batch */
#define STORE_RETRY_SOON_MS 20    /* -EAGAIN: the map grows once a snapshot ends */
#define STORE_RETRY_MIN_MS 1000
#define STORE_RETRY_MAX_MS 8000
#define STR_(x) #x
#define STR(x) STR_(x)

typedef enum item_state { ITEM_UNNAMED, ITEM_DELIVERED, ITEM_TEMPORARY, ITEM_PERMANENT } item_state;

typedef struct linebuf {
	char buf[NOTIFY_LINE_MAX + 1];
	size_t len;
	bool overlong;
} linebuf;

typedef struct nbatch nbatch;

struct notify {
	notify_env env;
	uv_timer_t poll_timer, wake_timer;
	nbatch *batches;              /* in flight (spawned, or recording their outcome) */
	size_t running;
	const char **keys;            /* the busy set: open addressing over the batches' item keys */
	size_t keys_cap;              /* a power of two, at least twice the keys; 0: none */
	uint64_t seen_pending, seen_parked;
	bool seen_valid;
	int store_error;              /* the last outbox_take failure logged; 0 */
	uint64_t store_retry_ms;
	bool stopping;
	bool again;                   /* a batch was recorded during this look: look again next turn */
	char readbuf[65536];          /* every read callback consumes it before the next alloc */
};

struct nbatch {
	notify *n;
	nbatch *next;
	outbox_batch b;
	unsigned char *state;         /* item_state per item */
	char **text;                  /* per item: the command's TEXT, or NULL; delivered with
	                               * `sent:`, "<MESSAGE-ID>\0SUBJECT" (sent_of) */
	uv_process_t proc;
	uv_pipe_t in, out, err;
	uv_timer_t timer;             /* the timeout, then the drain, then retries of outbox_done */
	uv_write_t wreq;
	uv_shutdown_t sreq;
	char *input;
	linebuf outl, errl;
	char *cmd;                    /* argv[0], for the log */
	int handles;                  /* initialised handles not yet closed */
	int pid;
	int timeout_s;
	int64_t exit_status;
	int term_signal;
	bool exited, out_open, err_open, timed_out, finished, named_any;
	unsigned odd_lines, err_lines;
	outbox_result *results;       /* once finished */
	uint64_t retry_ms;
	int record_error;
	char why[256];                /* the error of the events it did not name */
};

/* ---- text from the command: valid UTF-8 without control characters ---- */

/* Copies s[0, len) into a new string of at most max bytes, each control character
 * (C0, DEL, C1) or byte of invalid UTF-8 replaced by '?', never splitting a
 * sequence. NULL when out of memory. */
static char *clean_text(const char *s, size_t len, size_t max) {
	char *out = malloc((len < max ? len : max) + 1);
	size_t o = 0;
	if (!out)
		return NULL;
	for (size_t i = 0; i < len;) {
		uint32_t cp = 0;
		size_t n = text_utf8_seq(s + i, len - i, &cp);
		bool ok = n > 0 && !(cp < 0x20 || (cp >= 0x7f && cp <= 0x9f));
		if (!ok)
			n = 1;
		if (o + (ok ? n : 1) > max)
			break;
		if (ok)
			memcpy(out + o, s + i, n);
		else
			out[o] = '?';
		o += ok ? n : 1;
		i += n;
	}
	out[o] = 0;
	return out;
}

/* ---- the busy set: ordering keys of the events in flight ---- */

static uint64_t key_hash(const char *k) {
	uint64_t h = 1469598103934665603ull;   /* FNV-1a */
	for (; *k; k++)
		h = (h ^ (unsigned char) *k) * 1099511628211ull;
	return h;
}

static void keys_add(const char **tab, size_t cap, const char *k) {
	for (size_t i = key_hash(k) & (cap - 1);; i = (i + 1) & (cap - 1)) {
		if (!tab[i]) {
			tab[i] = k;
			return;
		}
		if (!strcmp(tab[i], k))
			return;
	}
}

/* Rebuilt whenever a batch starts or leaves: at most notify_parallel * 100 keys. */
static int keys_rebuild(notify *n) {
	size_t count = 0, cap = 16;
	for (nbatch *b = n->batches; b; b = b->next)
		count += b->b.n;
	while (cap < 2 * count)
		cap *= 2;
	const char **tab = calloc(cap, sizeof(*tab));
	if (!tab)
		return -ENOMEM;
	for (nbatch *b = n->batches; b; b = b->next)
		for (size_t i = 0; i < b->b.n; i++)
			keys_add(tab, cap, b->b.items[i].key);
	free(n->keys);
	n->keys = tab;
	n->keys_cap = cap;
	return 0;
}

static bool key_busy(void *ud, const char *k) {
	notify *n = ud;
	if (!n->keys_cap)
		return false;
	for (size_t i = key_hash(k) & (n->keys_cap - 1); n->keys[i]; i = (i + 1) & (n->keys_cap - 1))
		if (!strcmp(n->keys[i], k))
			return true;
	return false;
}

/* ---- a batch's handles ---- */

static void batch_free(nbatch *nb) {
	for (size_t i = 0; nb->text && i < nb->b.n; i++)
		free(nb->text[i]);
	free(nb->text);
	outbox_batch_free(&nb->b);
	free(nb->state);
	free(nb->input);
	free(nb->cmd);
	free(nb->results);
	free(nb);
}

static void on_batch_close(uv_handle_t *h) {
	nbatch *nb = h->data;
	if (--nb->handles == 0)
		batch_free(nb);
}

static void close_handle(nbatch *nb, uv_handle_t *h) {
	if (h->data == nb && !uv_is_closing(h))
		uv_close(h, on_batch_close);
}

/* Leaves the runner's list (its keys are free again) and closes every handle. */
static void batch_release(nbatch *nb) {
	notify *n = nb->n;
	for (nbatch **p = &n->batches; *p; p = &(*p)->next)
		if (*p == nb) {
			*p = nb->next;
			n->running--;
			break;
		}
	if (keys_rebuild(n) < 0) {
		/* keep the old table: it holds a superset, so nothing is handed out twice;
		 * its pointers into this batch must not outlive it, though */
		free(n->keys);
		n->keys = NULL;
		n->keys_cap = 0;
	}
	close_handle(nb, (uv_handle_t *) &nb->proc);
	close_handle(nb, (uv_handle_t *) &nb->in);
	close_handle(nb, (uv_handle_t *) &nb->out);
	close_handle(nb, (uv_handle_t *) &nb->err);
	close_handle(nb, (uv_handle_t *) &nb->timer);
}

/* ---- the command's output ---- */

static nbatch *find_item(nbatch *nb, const char *id, size_t len, size_t *ret_i) {
	for (size_t i = 0; i < nb->b.n; i++)
		if (strlen(nb->b.items[i].id) == len && !memcmp(nb->b.items[i].id, id, len)) {
			*ret_i = i;
			return nb;
		}
	return NULL;
}

static void log_odd(nbatch *nb, const char *what, const char *line, size_t len) {
	if (++nb->odd_lines > LOGGED_LINES_MAX)
		return;
	char *t = clean_text(line, len, 200);
	log_warning("notify_command %s (pid %d) printed %s: \"%s\"", nb->cmd, nb->pid, what, t ? t : "");
	free(t);
}

/* A `sent:` line's rest, "<MESSAGE-ID> SUBJECT", as "<MESSAGE-ID>\0SUBJECT" (both
 * cleaned); NULL when it has no <MESSAGE-ID> (or out of memory). */
static char *sent_text(const char *s, size_t len) {
	while (len && *s == ' ') {
		s++;
		len--;
	}
	const char *gt = len && *s == '<' ? memchr(s, '>', len) : NULL;
	size_t idlen = gt ? (size_t) (gt - s) + 1 : 0;
	if (idlen < 3 || idlen > MESSAGE_ID_MAX || memchr(s, ' ', idlen) || (idlen < len && s[idlen] != ' '))
		return NULL;
	char *id = clean_text(s, idlen, MESSAGE_ID_MAX);
	size_t sublen = idlen < len ? len - idlen - 1 : 0;
	char *subj = clean_text(s + len - sublen, sublen, SUBJECT_MAX);
	char *out = id && subj ? malloc(strlen(id) + strlen(subj) + 2) : NULL;
	if (out) {
		strcpy(out, id);
		strcpy(out + strlen(id) + 1, subj);
	}
	free(id);
	free(subj);
	return out;
}

/* The message a delivered item reported with `sent:`, into r (else left NULL). */
static void sent_of(const nbatch *nb, size_t i, outbox_result *r) {
	if (nb->text && nb->text[i] && nb->state && nb->state[i] == ITEM_DELIVERED) {
		r->message_id = nb->text[i];
		r->subject = nb->text[i] + strlen(nb->text[i]) + 1;
	}
}

/* One line of standard output: "ID", "ID sent: <MESSAGE-ID> SUBJECT" (delivered: a
 * mail to the customer, logged as an e-mail interaction), "ID temporary: TEXT" or
 * "ID permanent: TEXT". A later line about the same id replaces an earlier one. */
static void stdout_line(nbatch *nb, const char *line, size_t len) {
	while (len && line[len - 1] == '\r')
		len--;
	if (!len)
		return;
	const char *sp = memchr(line, ' ', len);
	size_t idlen = sp ? (size_t) (sp - line) : len, i;
	if (!find_item(nb, line, idlen, &i)) {
		log_odd(nb, "an id not in its batch", line, len);
		return;
	}
	item_state st = ITEM_DELIVERED;
	const char *text = NULL;
	size_t textlen = 0;
	if (sp) {
		const char *rest = sp + 1;
		size_t restlen = len - idlen - 1;
		static const char tmp[] = "temporary:", perm[] = "permanent:", sent[] = "sent:";
		if (restlen >= sizeof(sent) - 1 && !memcmp(rest, sent, sizeof(sent) - 1)) {
			/* delivered even when the rest is not as it should be: the mail went */
			char *st_text = sent_text(rest + sizeof(sent) - 1, restlen - (sizeof(sent) - 1));
			if (!st_text)
				log_odd(nb, "a sent: line without <MESSAGE-ID> (delivered, not logged)", line, len);
			nb->named_any = true;
			nb->state[i] = ITEM_DELIVERED;
			free(nb->text[i]);
			nb->text[i] = st_text;
			return;
		}
		if (restlen >= sizeof(tmp) - 1 && !memcmp(rest, tmp, sizeof(tmp) - 1))
			st = ITEM_TEMPORARY;
		else if (restlen >= sizeof(perm) - 1 && !memcmp(rest, perm, sizeof(perm) - 1))
			st = ITEM_PERMANENT;
		else {
			log_odd(nb, "a line not in the protocol", line, len);
			return;
		}
		text = rest + sizeof(tmp) - 1;
		textlen = restlen - (sizeof(tmp) - 1);
		while (textlen && *text == ' ') {
			text++;
			textlen--;
		}
	}
	nb->named_any = true;
	nb->state[i] = (unsigned char) st;
	free(nb->text[i]);
	nb->text[i] = NULL;
	if (st != ITEM_DELIVERED)
		nb->text[i] = clean_text(text, textlen, ERROR_TEXT_MAX);
}

static void stderr_line(nbatch *nb, const char *line, size_t len) {
	while (len && line[len - 1] == '\r')
		len--;
	if (++nb->err_lines > LOGGED_LINES_MAX)
		return;
	char *t = clean_text(line, len, 1000);
	log_warning("notify_command %s (pid %d): %s", nb->cmd, nb->pid, t ? t : "");
	free(t);
}

static void feed(nbatch *nb, linebuf *lb, const char *p, size_t len, void (*fn)(nbatch *, const char *, size_t)) {
	while (len) {
		const char *nl = memchr(p, '\n', len);
		size_t take = nl ? (size_t) (nl - p) : len;
		if (!lb->overlong) {
			size_t room = NOTIFY_LINE_MAX - lb->len;
			if (take > room) {
				lb->overlong = true;
				take = room;
			}
			memcpy(lb->buf + lb->len, p, take);
			lb->len += take;
		}
		size_t used = nl ? (size_t) (nl - p) + 1 : len;
		p += used;
		len -= used;
		if (nl) {
			if (lb->overlong)
				log_odd(nb, "a line longer than " STR(NOTIFY_LINE_MAX) " bytes (ignored)", lb->buf, 80);
			else
				fn(nb, lb->buf, lb->len);
			lb->len = 0;
			lb->overlong = false;
		}
	}
}

static void maybe_finish(nbatch *nb);
static void conclude(nbatch *nb, bool all, const char *status, int priority);

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
	nbatch *nb = h->data;
	(void) suggested;
	*buf = uv_buf_init(nb->n->readbuf, sizeof(nb->n->readbuf));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
	nbatch *nb = s->data;
	bool is_out = s == (uv_stream_t *) &nb->out;
	linebuf *lb = is_out ? &nb->outl : &nb->errl;
	void (*fn)(nbatch *, const char *, size_t) = is_out ? stdout_line : stderr_line;
	if (nread > 0) {
		feed(nb, lb, buf->base, (size_t) nread, fn);
		return;
	}
	if (nread == 0)
		return;
	/* EOF or an error: a last line without its newline still counts */
	if (lb->len && !lb->overlong)
		fn(nb, lb->buf, lb->len);
	lb->len = 0;
	if (is_out)
		nb->out_open = false;
	else
		nb->err_open = false;
	close_handle(nb, (uv_handle_t *) s);
	maybe_finish(nb);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
	nbatch *nb = req->data;
	(void) status;
	close_handle(nb, (uv_handle_t *) &nb->in);
}

static void on_written(uv_write_t *req, int status) {
	nbatch *nb = req->data;
	if (uv_is_closing((uv_handle_t *) &nb->in))
		return;
	/* an error (EPIPE: the command exited without reading everything) needs no
	 * action of its own: the events it did not name are retried */
	if (status < 0 || uv_shutdown(&nb->sreq, (uv_stream_t *) &nb->in, on_shutdown) < 0)
		close_handle(nb, (uv_handle_t *) &nb->in);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int term_signal) {
	nbatch *nb = p->data;
	nb->exited = true;
	nb->exit_status = status;
	nb->term_signal = term_signal;
	uv_timer_stop(&nb->timer);
	maybe_finish(nb);
}

static void on_batch_timer(uv_timer_t *t);

/* ---- recording the outcome ---- */

static uint64_t random64(void) {
	uint64_t x;
	if (getrandom(&x, sizeof(x), GRND_NONBLOCK) == (ssize_t) sizeof(x))
		return x;
	return (uint64_t) mono_ms() * 6364136223846793005ull ^ (uint64_t) getpid();
}

static int64_t now_s(notify *n) {
	return cal_floordiv(dclock_now_ms(n->env.clock), 1000);
}

/* The attempt number and type the event was handed out with (its JSON line). */
static void item_facts(const outbox_item *it, json_int_t *ret_attempt, char type[64]) {
	json_t *o = json_loads(it->line, 0, NULL);
	*ret_attempt = o ? json_integer_value(json_object_get(o, "attempt")) : 0;
	snprintf(type, 64, "%s", o && json_string_value(json_object_get(o, "type")) ?
		 json_string_value(json_object_get(o, "type")) : "?");
	json_decref(o);
}

/* Writes the outcome; on failure the batch stays in flight (its keys busy) and
 * the timer tries again. */
static void record(nbatch *nb) {
	notify *n = nb->n;
	const defs *d = *n->env.defs;
	uint32_t max_attempts = (uint32_t) d->config.notify_max_attempts;
	int r = outbox_done(n->env.store, nb->results, nb->b.n, now_s(n), max_attempts, random64());
	if (r < 0 && !n->stopping) {
		if (r != nb->record_error && r != -EAGAIN)
			log_error("cannot record the outcome of a batch of %zu events: %s; retrying", nb->b.n, strerror(-r));
		nb->record_error = r;
		nb->retry_ms = r == -EAGAIN ? STORE_RETRY_SOON_MS :
			       nb->retry_ms < STORE_RETRY_MIN_MS ? STORE_RETRY_MIN_MS :
			       nb->retry_ms * 2 > STORE_RETRY_MAX_MS ? STORE_RETRY_MAX_MS : nb->retry_ms * 2;
		uv_timer_start(&nb->timer, on_batch_timer, nb->retry_ms, 0);
		return;
	}
	if (r < 0)
		log_error("cannot record the outcome of a batch of %zu events: %s; they stay pending",
			  nb->b.n, strerror(-r));
	else if (nb->record_error)
		log_notice("recorded the outcome of a batch of %zu events", nb->b.n);
	batch_release(nb);
	/* that write changed the counts: look on the next turn rather than at the next
	 * poll (not now: a batch that could not start would recurse through the outbox) */
	n->seen_valid = false;
	n->again = true;
	notify_kick(n);
}

/* The command exited and its output is read: every event's outcome, the log. */
static void finish(nbatch *nb) {
	char status[64];
	if (nb->timed_out) {
		snprintf(nb->why, sizeof(nb->why), "timed out after %d s", nb->timeout_s);
		snprintf(status, sizeof(status), "timed out after %d s, killed", nb->timeout_s);
	} else if (nb->term_signal)
		snprintf(status, sizeof(status), "killed by signal %d", nb->term_signal);
	else
		snprintf(status, sizeof(status), "exit status %" PRId64, nb->exit_status);
	if (!nb->timed_out)
		snprintf(nb->why, sizeof(nb->why), "%s", nb->term_signal || nb->exit_status ? status :
			 "not named by the command");
	bool all = !nb->timed_out && !nb->term_signal && !nb->exit_status && !nb->named_any;
	conclude(nb, all, status, LOG_WARNING);
}

/* Every event's outcome from what the command named (the unnamed ones: all
 * delivered, or failed with nb->why), logs the batch (status: how it ended) when
 * not everything was delivered and each event it parks, then records. */
static void conclude(nbatch *nb, bool all, const char *status, int priority) {
	notify *n = nb->n;
	const defs *d = *n->env.defs;
	const char *why = nb->why;
	size_t delivered = 0, failed = 0, parked = 0;
	uint32_t max_attempts = (uint32_t) d->config.notify_max_attempts;
	nb->results = calloc(nb->b.n ? nb->b.n : 1, sizeof(*nb->results));
	if (!nb->results) {
		log_error("out of memory recording a batch of %zu events; they stay pending", nb->b.n);
		batch_release(nb);
		return;
	}
	for (size_t i = 0; i < nb->b.n; i++) {
		outbox_result *r = &nb->results[i];
		r->seq = nb->b.items[i].seq;
		/* state and text are NULL only for a batch that could not start */
		const char *text = nb->text && nb->text[i] && *nb->text[i] ? nb->text[i] : NULL;
		switch ((item_state) (nb->state ? nb->state[i] : ITEM_UNNAMED)) {
		case ITEM_DELIVERED:
			r->outcome = OUTBOX_DELIVERED;
			sent_of(nb, i, r);
			break;
		case ITEM_TEMPORARY:
			r->outcome = OUTBOX_FAILED;
			r->error = text ? text : "temporary failure";
			break;
		case ITEM_PERMANENT:
			r->outcome = OUTBOX_PERMANENT;
			r->error = text ? text : "permanent failure";
			break;
		case ITEM_UNNAMED:
			r->outcome = all ? OUTBOX_DELIVERED : OUTBOX_FAILED;
			r->error = all ? NULL : why;
			break;
		}
		if (r->outcome == OUTBOX_DELIVERED) {
			delivered++;
			continue;
		}
		json_int_t attempt;
		char type[64];
		item_facts(&nb->b.items[i], &attempt, type);
		if (r->outcome == OUTBOX_FAILED && (attempt <= 0 || (uint64_t) attempt < max_attempts)) {
			failed++;
			continue;
		}
		parked++;
		char field[80];
		snprintf(field, sizeof(field), "OUTBOX_ID=%s", nb->b.items[i].id);
		const char *const fields[] = { field, NULL };
		log_send(LOG_WARNING, fields, "event %s (%s) parked after %lld attempt%s: %s", nb->b.items[i].id,
			 type, (long long) attempt, attempt == 1 ? "" : "s", r->error);
	}
	if (delivered < nb->b.n)
		log_send(priority, NULL, "notify_command %s: %s; %zu delivered, %zu failed, %zu parked", nb->cmd,
			 status, delivered, failed, parked);
	if (nb->err_lines > LOGGED_LINES_MAX || nb->odd_lines > LOGGED_LINES_MAX)
		log_warning("notify_command %s (pid %d): %u more lines not logged", nb->cmd, nb->pid,
			    (nb->err_lines > LOGGED_LINES_MAX ? nb->err_lines - LOGGED_LINES_MAX : 0) +
			    (nb->odd_lines > LOGGED_LINES_MAX ? nb->odd_lines - LOGGED_LINES_MAX : 0));
	/* the rest of the handles go now; the timer stays for retries of the record */
	close_handle(nb, (uv_handle_t *) &nb->proc);
	close_handle(nb, (uv_handle_t *) &nb->in);
	record(nb);
}

static void maybe_finish(nbatch *nb) {
	if (nb->finished || !nb->exited)
		return;
	if (nb->out_open || nb->err_open) {
		/* exited, but something it left behind holds a pipe: wait a moment */
		if (!uv_is_active((uv_handle_t *) &nb->timer))
			uv_timer_start(&nb->timer, on_batch_timer, NOTIFY_DRAIN_MS, 0);
		return;
	}
	nb->finished = true;
	uv_timer_stop(&nb->timer);
	finish(nb);
}

static void on_batch_timer(uv_timer_t *t) {
	nbatch *nb = t->data;
	if (nb->finished) {
		record(nb);     /* a retry */
		return;
	}
	if (!nb->exited) {
		/* the timeout: the whole process group, the command's children too */
		nb->timed_out = true;
		if (kill(-nb->pid, SIGKILL) < 0 && errno != ESRCH)
			log_error("cannot kill notify_command %s (process group %d): %s", nb->cmd, nb->pid, strerror(errno));
		return;   /* on_exit_cb follows */
	}
	/* the drain after the exit is over */
	if (nb->out_open) {
		nb->out_open = false;
		close_handle(nb, (uv_handle_t *) &nb->out);
	}
	if (nb->err_open) {
		nb->err_open = false;
		close_handle(nb, (uv_handle_t *) &nb->err);
	}
	maybe_finish(nb);
}

/* ---- starting a batch ---- */

/* A batch that could not be started: every event failed with why. */
static void fail_unstarted(nbatch *nb, const char *why) {
	snprintf(nb->why, sizeof(nb->why), "%s", why);
	nb->finished = true;
	conclude(nb, false, nb->why, LOG_ERR);
}

/* Takes ownership of *b (zeroed). */
static void batch_start(notify *n, outbox_batch *b) {
	const defs_config *cf = &(*n->env.defs)->config;
	nbatch *nb = calloc(1, sizeof(*nb));
	if (!nb) {
		outbox_batch_free(b);
		return;
	}
	nb->n = n;
	nb->b = *b;
	*b = (outbox_batch) { 0 };
	nb->next = n->batches;
	n->batches = nb;
	n->running++;
	if (keys_rebuild(n) < 0)
		log_error("out of memory: the busy set is stale");
	nb->timeout_s = (int) cf->notify_timeout;
	nb->cmd = strdup(cf->notify_argv[0]);
	nb->state = calloc(nb->b.n, 1);
	nb->text = calloc(nb->b.n, sizeof(*nb->text));
	size_t total = 0;
	for (size_t i = 0; i < nb->b.n; i++)
		total += strlen(nb->b.items[i].line) + 1;
	nb->input = malloc(total + 1);
	/* every handle is initialised before anything can fail, so batch_release
	 * closes them all and the last close frees the batch */
	uv_timer_init(n->env.loop, &nb->timer);
	uv_pipe_init(n->env.loop, &nb->in, 0);
	uv_pipe_init(n->env.loop, &nb->out, 0);
	uv_pipe_init(n->env.loop, &nb->err, 0);
	nb->timer.data = nb->in.data = nb->out.data = nb->err.data = nb->proc.data = nb;
	nb->wreq.data = nb->sreq.data = nb;
	nb->handles = 4;
	if (!nb->cmd || !nb->state || !nb->text || !nb->input) {
		if (!nb->cmd)
			nb->cmd = strdup("?");
		nb->proc.data = NULL;    /* never initialised: not closed */
		fail_unstarted(nb, "out of memory");
		return;
	}
	size_t off = 0;
	for (size_t i = 0; i < nb->b.n; i++) {
		size_t len = strlen(nb->b.items[i].line);
		memcpy(nb->input + off, nb->b.items[i].line, len);
		off += len;
		nb->input[off++] = '\n';
	}
	uv_stdio_container_t stdio[3] = {
		{ .flags = UV_CREATE_PIPE | UV_READABLE_PIPE, .data.stream = (uv_stream_t *) &nb->in },
		{ .flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *) &nb->out },
		{ .flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *) &nb->err },
	};
	uv_process_options_t opt = {
		.exit_cb = on_exit_cb,
		.file = cf->notify_argv[0],
		.args = cf->notify_argv,
		/* setsid(): its own session and process group, so the timeout kills its
		 * children too, and a signal to standingd's group does not reach it */
		.flags = UV_PROCESS_DETACHED,
		.stdio_count = 3,
		.stdio = stdio,
	};
	int r = uv_spawn(n->env.loop, &nb->proc, &opt);
	nb->handles++;           /* initialised even when it failed */
	if (r < 0) {
		char why[256];
		snprintf(why, sizeof(why), "cannot run %s: %s", nb->cmd, uv_strerror(r));
		fail_unstarted(nb, why);
		return;
	}
	nb->pid = nb->proc.pid;
	nb->out_open = nb->err_open = true;
	uv_buf_t buf = uv_buf_init(nb->input, (unsigned) off);
	if (uv_write(&nb->wreq, (uv_stream_t *) &nb->in, &buf, 1, on_written) < 0)
		close_handle(nb, (uv_handle_t *) &nb->in);
	if (uv_read_start((uv_stream_t *) &nb->out, on_alloc, on_read) < 0) {
		nb->out_open = false;
		close_handle(nb, (uv_handle_t *) &nb->out);
	}
	if (uv_read_start((uv_stream_t *) &nb->err, on_alloc, on_read) < 0) {
		nb->err_open = false;
		close_handle(nb, (uv_handle_t *) &nb->err);
	}
	uv_timer_start(&nb->timer, on_batch_timer, (uint64_t) nb->timeout_s * 1000, 0);
}

/* ---- looking for due events ---- */

static void on_wake(uv_timer_t *t);

/* Starts batches while there is room and something is due; arms the wake timer
 * for the earliest event seen that is not due yet. */
static void look(notify *n) {
	if (n->stopping)
		return;
	const defs *d = *n->env.defs;
	const defs_config *cf = &d->config;
	if (!cf->notify_argv || !cf->notify_argc) {
		uv_timer_stop(&n->wake_timer);
		return;   /* nothing to run: the events stay pending (Status shows them) */
	}
	size_t parallel = cf->notify_parallel ? (size_t) cf->notify_parallel : 1;
	int64_t next_at = INT64_MAX;
	n->again = false;
	if (n->running >= parallel)
		return;   /* a batch that ends looks again; the wake timer stays as it is */
	/* at most `parallel` takes per look: a command that cannot start fails its
	 * batch at once, and must not make one look go through the whole outbox */
	for (size_t tries = 0; n->running < parallel && tries < parallel; tries++) {
		outbox_batch b = { 0 };
		int64_t at = INT64_MAX;
		int r = outbox_take(n->env.store, d, now_s(n), OUTBOX_BATCH_MAX, NOTIFY_SCAN_MAX, key_busy, n, &b, &at);
		if (r < 0) {
			if (r != n->store_error && r != -EAGAIN)
				log_error("cannot read the outbox: %s; retrying", strerror(-r));
			n->store_error = r;
			n->store_retry_ms = r == -EAGAIN ? STORE_RETRY_SOON_MS :
					    n->store_retry_ms < STORE_RETRY_MIN_MS ? STORE_RETRY_MIN_MS :
					    n->store_retry_ms * 2 > STORE_RETRY_MAX_MS ? STORE_RETRY_MAX_MS :
					    n->store_retry_ms * 2;
			uv_timer_start(&n->wake_timer, on_wake, n->store_retry_ms, 0);
			return;
		}
		if (n->store_error) {
			if (n->store_error != -EAGAIN)
				log_notice("reading the outbox works again");
			n->store_error = 0;
			n->store_retry_ms = 0;
		}
		if (at < next_at)
			next_at = at;
		if (!b.n) {
			outbox_batch_free(&b);
			break;
		}
		batch_start(n, &b);
	}
	if (n->again) {
		notify_kick(n);   /* a batch that could not start was recorded: more may be due */
		return;
	}
	if (next_at == INT64_MAX) {
		uv_timer_stop(&n->wake_timer);
		return;
	}
	int64_t delay = next_at * 1000 - dclock_now_ms(n->env.clock);
	uint64_t real = dclock_real_delay(n->env.clock, delay);
	uv_timer_start(&n->wake_timer, on_wake, real ? real : 1, 0);   /* never 0: see standingd.c arm() */
}

static void on_wake(uv_timer_t *t) {
	look(t->data);
}

/* Whether anyone changed the outbox since the last look: events appended (the
 * engine, socket requests, the payment timer) or parked ones made pending
 * (Ops.RetryOutbox) raise the pending count, and only the runner lowers it, so
 * comparing the counts with those after the runner's own last write is enough. */
static void on_poll(uv_timer_t *t) {
	notify *n = t->data;
	store_txn *txn;
	outbox_stats st;
	if (store_begin(n->env.store, false, &txn) < 0)
		return;
	int r = outbox_stats_get(txn, &st);
	store_abort(txn);
	if (r < 0)
		return;
	bool changed = !n->seen_valid || st.pending != n->seen_pending || st.parked != n->seen_parked;
	n->seen_pending = st.pending;
	n->seen_parked = st.parked;
	n->seen_valid = true;
	if (changed && !n->store_error)
		look(n);
}

/* ---- the runner ---- */

int notify_start(const notify_env *env, notify **ret) {
	notify *n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->env = *env;
	uv_timer_init(env->loop, &n->poll_timer);
	uv_timer_init(env->loop, &n->wake_timer);
	n->poll_timer.data = n->wake_timer.data = n;
	uv_timer_start(&n->poll_timer, on_poll, 1, NOTIFY_POLL_MS);
	*ret = n;
	return 0;
}

void notify_kick(notify *n) {
	if (n && !n->stopping)
		uv_timer_start(&n->wake_timer, on_wake, 1, 0);
}

void notify_stop(notify *n) {
	if (!n || n->stopping)
		return;
	n->stopping = true;
	uv_close((uv_handle_t *) &n->poll_timer, NULL);
	uv_close((uv_handle_t *) &n->wake_timer, NULL);
	while (n->batches) {
		nbatch *nb = n->batches;
		if (nb->finished) {
			record(nb);      /* one last try; releases it */
			continue;
		}
		if (!nb->exited && nb->pid > 0 && kill(-nb->pid, SIGKILL) < 0 && errno != ESRCH)
			log_error("cannot kill notify_command %s (process group %d): %s", nb->cmd, nb->pid,
				  strerror(errno));
		/* what it named so far counts; the rest stays pending without an attempt */
		size_t k = 0;
		outbox_result *res = calloc(nb->b.n ? nb->b.n : 1, sizeof(*res));
		for (size_t i = 0; res && i < nb->b.n; i++)
			if (nb->state[i] == ITEM_DELIVERED) {
				res[k] = (outbox_result) { .seq = nb->b.items[i].seq, .outcome = OUTBOX_DELIVERED };
				sent_of(nb, i, &res[k++]);
			} else if (nb->state[i] == ITEM_PERMANENT)
				res[k++] = (outbox_result) { .seq = nb->b.items[i].seq, .error = nb->text[i],
					.outcome = OUTBOX_PERMANENT };
		int r = k ? outbox_done(n->env.store, res, k, now_s(n),
					(uint32_t) (*n->env.defs)->config.notify_max_attempts, random64()) : 0;
		if (r < 0)
			log_error("cannot record what notify_command named before stopping: %s", strerror(-r));
		if (!nb->exited)
			log_info("notify_command %s (pid %d) killed on stop; %zu of its %zu events stay pending",
				 nb->cmd, nb->pid, nb->b.n - k, nb->b.n);
		free(res);
		batch_release(nb);
	}
}

void notify_free(notify *n) {
	if (!n)
		return;
	free(n->keys);
	free(n);
}
