#include <errno.h>
#include <grp.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>
#include "daemon/standingd/log.h"
#include "lib/api/api.h"
#include "lib/api/peer.h"
#include "lib/base/text.h"
#include "daemon/standingd/server.h"

/* Requests run for at most about this long per loop turn before the loop polls
 * again, so a new ops request waits for one slice and one request at most. */
#define SERVER_SLICE_NS ((uint64_t) 10 * 1000 * 1000)
/* Once this many reply bytes have been freed and the queues are nearly empty,
 * give the memory back to the system (glibc keeps freed heap otherwise). */
#define SERVER_TRIM_AFTER ((size_t) 16 << 20)
#define SERVER_TRIM_BELOW ((size_t) 1 << 20)
/* The worker threads' nice value (Linux: per thread), above the loop's 0. */
#define SERVER_WORKER_NICE 5
/* A worker writes a reply of at least this many bytes to its client itself (when
 * nothing else of the connection's is queued), for at most SERVER_DIRECT_MS while
 * the client reads it; what remains is the loop's to write. The loop then never
 * copies a long list into the socket piece by piece, woken at each piece. */
#define SERVER_DIRECT_MIN ((size_t) 16384)
#define SERVER_DIRECT_MS 50

/* Who is served first and disconnected last; the order of the values matters. */
typedef enum conn_class { CLASS_OPS, CLASS_ROLE, CLASS_NONE, N_CLASSES } conn_class;

typedef struct conn conn;

/* Connections in line, one queue per class, each served first to last. */
typedef struct conn_queue {
	conn *head[N_CLASSES], *tail[N_CLASSES];
	unsigned n;                /* connections in it (Status's calls_waiting) */
} conn_queue;

/* A read-only call answered by a worker thread: parsed on the loop, its read
 * transaction begun on the loop (the store's bookkeeping is the loop's), run on a
 * worker with that transaction lent (api_read_lend), its reply bytes collected in
 * out and handed to the connection's writes on the loop, where the transaction
 * ends. */
typedef struct work {
	struct work *next;
	conn *c;
	vl_call call;
	store_txn *t;
	text_buf out;
	int r;
	bool began_empty;          /* nothing of the connection's was unread when it began */
	bool is_short;             /* API_READ_SHORT: may take the thread kept for short calls */
	int fd;                    /* a dup of the connection's socket for the worker to write the
				      reply itself (SERVER_DIRECT_MIN), or -1 */
	size_t sent;               /* of out, written by the worker (then moved out of out) */
	int write_err;             /* the worker's write failed (errno): the connection is closed */
} work;

struct server {
	uv_pipe_t listener;
	uv_idle_t runner;          /* active while requests wait in the run queues */
	vl_service *svc;
	server_limits limits;
	server_roles_fn *roles;
	void *roles_ud;
	uid_t self_uid;
	conn *conns;               /* doubly linked, newest first */
	size_t n_conns;
	conn_queue run;            /* connections with a request to read or a step to take */
	conn_queue wait;           /* connections with a read-only call waiting for a worker */
	conn_queue wait_short;     /* the same for short calls (API_READ_SHORT) */
	/* the worker pool: threads take works from todo and put them on done (mu) */
	store *st;
	pthread_t *threads;
	unsigned n_threads;
	pthread_mutex_t mu;
	pthread_cond_t work_cv;    /* todo has a work, or quit */
	pthread_cond_t idle_cv;    /* in_flight went down */
	work *todo_head, *todo_tail, *done;
	work *writing;             /* built, their replies being written by the workers (mu) */
	unsigned in_flight;        /* handed to the threads and not finished (mu) */
	unsigned busy;             /* handed out and not yet collected by the loop */
	unsigned busy_long;        /* of those, calls that are not short: at most n_threads - 1 */
	bool quit;
	uv_async_t wake;           /* a work is done */
	uv_timer_t retry;          /* works wait for the map to grow */
	bool pool_handles;         /* wake and retry are open */
	size_t queued;             /* reply bytes held for open connections */
	size_t released;           /* reply bytes freed since memory was last trimmed */
	size_t n_paused;
	size_t alive;              /* connections not yet freed */
	int handles;               /* of listener and runner, not yet closed */
	bool trim_wanted;
	/* the last refusal logged, to log a flood of alike ones once */
	uid_t refused_uid;
	size_t refused_limit;
	uint64_t refused_at;
	size_t refused_quiet;
	/* The calls that change the running set (API_CHANGES) take turns, and the
	 * daemon's own changes with them (server_turn_take): one at a time, first come
	 * first served, from any connection. */
	conn *turn_conn;           /* the call whose turn it is (its conn), or NULL */
	bool turn_daemon;          /* the daemon has the turn (server_turn_take, _keep) */
	bool turn_parked;          /* turn_conn's call waits for server_turn_wake */
	bool turn_wanted;          /* the daemon waits for a turn: turn_cb once it has it */
	bool turn_kick;            /* the turn may have come free: the runner passes it on */
	conn *turn_head, *turn_tail;   /* change calls waiting for their turn, in order */
	void (*turn_cb)(void *ud);
	void *turn_ud;
	bool stopping;
	bool bound;                /* we created the socket file: remove it at the end */
	char path[108];
};

struct conn {
	uv_pipe_t pipe;
	uv_timer_t idle;
	server *srv;
	conn *prev, *next;
	conn *run_next;
	conn_class run_class;
	work *waiting;             /* its read-only call, in the wait queue */
	bool working;              /* a worker answers its call: the conn is kept until it is done */
	vl_reader reader;
	vl_pending *pending;       /* a request answered in steps (a long list); the next waits */
	peer peer;
	uint64_t since;            /* loop time (ms) of connecting or of its last request */
	size_t queued;             /* reply bytes not yet reported written */
	int closing;               /* handles still to close */
	bool in_run;               /* waits in a run queue; not reading meanwhile */
	bool paused;               /* back-pressure: neither reading nor running */
	bool close_after_write;
	bool stepping;             /* inside the Varlink service: pending is in use */
	bool may_wait;             /* pending began with every earlier reply read: it waits for its reader */
	bool turn_waiting;         /* in the turn queue with turn_msg */
	conn *turn_next;
	char *turn_msg;            /* its change call's message, copied while it waits its turn */
	size_t turn_len;
	char readbuf[65536];
};

typedef struct write_req {
	uv_write_t req;
	conn *c;
	size_t len;
	char *owned;               /* a worker's reply, taken as it is; else data */
	char data[];
} write_req;

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);
static void on_run(uv_idle_t *h);
static void server_relieve(server *s);
static void pool_dispatch(server *s);

static const char *who(const conn *c) {
	return c->peer.user[0] ? c->peer.user : "?";
}

static conn_class conn_class_of(const server *s, const conn *c) {
	if (!s->roles)
		return c->peer.uid == 0 || c->peer.uid == s->self_uid ? CLASS_OPS : CLASS_ROLE;
	unsigned f = s->roles(&c->peer, s->roles_ud);
	return f & PEER_ROLE_OPS ? CLASS_OPS : f ? CLASS_ROLE : CLASS_NONE;
}

static void server_free_if_done(server *s) {
	if (s->handles == 0 && s->alive == 0)
		free(s);
}

static void on_server_handle_closed(uv_handle_t *h) {
	server *s = h->data;
	s->handles--;
	server_free_if_done(s);
}

/* ---- the run queues ---- */

static void cq_push(conn_queue *q, conn *c, conn_class k) {
	c->run_class = k;
	c->run_next = NULL;
	if (q->tail[k])
		q->tail[k]->run_next = c;
	else
		q->head[k] = c;
	q->tail[k] = c;
	c->in_run = true;
	q->n++;
}

static void cq_remove(conn_queue *q, conn *c) {
	if (!c->in_run)
		return;
	conn **p = &q->head[c->run_class], *prev = NULL;
	while (*p != c) {
		prev = *p;
		p = &(*p)->run_next;
	}
	*p = c->run_next;
	if (q->tail[c->run_class] == c)
		q->tail[c->run_class] = prev;
	q->n--;
	c->in_run = false;
	c->run_next = NULL;
}

static conn *cq_pop(conn_queue *q) {
	for (int k = 0; k < N_CLASSES; k++)
		if (q->head[k]) {
			conn *c = q->head[k];
			cq_remove(q, c);
			return c;
		}
	return NULL;
}

static void run_push(conn *c) {
	server *s = c->srv;
	if (c->in_run || c->paused || c->closing || c->waiting || c->working)
		return;
	cq_push(&s->run, c, conn_class_of(s, c));
	uv_idle_start(&s->runner, on_run);
}

/* Out of whichever queue it is in (a waiting call's or the run queue). */
static void run_remove(conn *c) {
	cq_remove(!c->waiting ? &c->srv->run : c->waiting->is_short ? &c->srv->wait_short : &c->srv->wait, c);
}

static conn *run_pop(server *s) {
	return cq_pop(&s->run);
}

/* ---- turns of the calls that change the running set ---- */

static bool turn_busy(const server *s) {
	return s->turn_conn || s->turn_daemon || s->turn_wanted || s->turn_head;
}

/* The turn may have come free: the runner passes it on (not here: this may be
 * deep in a close or a step). */
static void turn_may_pass(server *s) {
	s->turn_kick = true;
	if (!s->stopping)
		uv_idle_start(&s->runner, on_run);
}

/* The turn of the call of turn_conn ended. */
static void turn_end(server *s) {
	s->turn_conn = NULL;
	s->turn_parked = false;
	turn_may_pass(s);
}

/* c's change call waits for its change (server_turn_park): not run till woken. */
static bool turn_parked_on(const server *s, const conn *c) {
	return c->pending && s->turn_conn == c && s->turn_parked;
}

/* The daemon's waiting change first (one, standing for any number of reloads
 * asked meanwhile), then the calls in the order they came. */
static void turn_pass(server *s) {
	s->turn_kick = false;
	if (s->stopping || s->turn_conn || s->turn_daemon)
		return;
	if (s->turn_wanted) {
		s->turn_wanted = false;
		s->turn_daemon = true;
		s->turn_cb(s->turn_ud);
		return;
	}
	conn *c = s->turn_head;
	if (!c)
		return;
	s->turn_head = c->turn_next;
	if (!s->turn_head)
		s->turn_tail = NULL;
	c->turn_next = NULL;
	c->turn_waiting = false;
	s->turn_conn = c;   /* its message is in turn_msg: conn_step starts it */
	run_push(c);
}

static void turn_unqueue(conn *c) {
	server *s = c->srv;
	if (c->turn_waiting) {
		conn **p = &s->turn_head, *prev = NULL;
		while (*p != c) {
			prev = *p;
			p = &(*p)->turn_next;
		}
		*p = c->turn_next;
		if (s->turn_tail == c)
			s->turn_tail = prev;
		c->turn_waiting = false;
	}
	free(c->turn_msg);
	c->turn_msg = NULL;
	if (s->turn_conn == c)
		turn_end(s);   /* reserved for it, or its call dropped (its pending is freed) */
}

/* ---- memory ---- */

static void server_release(server *s, size_t len) {
	s->released += len;
	if (s->released >= SERVER_TRIM_AFTER && s->queued <= SERVER_TRIM_BELOW && !s->trim_wanted) {
		/* after the close callbacks of this turn have freed the rest: in the runner */
		s->trim_wanted = true;
		if (!s->stopping)
			uv_idle_start(&s->runner, on_run);
	}
}

static void server_trim(server *s) {
	s->trim_wanted = false;
	/* not while workers build replies: the pages would only come back at once */
	if (s->queued > SERVER_TRIM_BELOW || s->busy)
		return;
	s->released = 0;
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}

/* ---- connections ---- */

static void conn_free_if_closed(conn *c) {
	if (--c->closing > 0)
		return;
	server *s = c->srv;
	vl_reader_free(&c->reader);
	peer_clear(&c->peer);
	free(c);
	s->alive--;
	if (s->stopping)
		server_free_if_done(s);
	else
		server_relieve(s);
}

static void on_conn_handle_closed(uv_handle_t *h) {
	conn_free_if_closed(h->data);
}

static int uv_fileno_int(conn *c) {
	uv_os_fd_t fd;
	return uv_fileno((uv_handle_t *) &c->pipe, &fd) == 0 ? (int) fd : -1;
}

static void conn_close(conn *c) {
	if (c->closing)
		return;
	server *s = c->srv;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->n_conns--;
	run_remove(c);
	if (c->waiting) {   /* not begun: nothing holds it */
		vl_call_clear(&c->waiting->call);
		free(c->waiting);
		c->waiting = NULL;
	}
	if (c->paused) {
		c->paused = false;
		s->n_paused--;
	}
	/* its buffers are freed as libuv cancels the writes, later in this loop turn */
	s->queued -= c->queued;
	if (!c->stepping) {   /* else conn_step drops it once the service returns */
		vl_pending_free(c->pending);
		c->pending = NULL;
		turn_unqueue(c);
	}
	c->closing = c->working ? 3 : 2;   /* a worker's call holds it until collected */
	/* Requests it sent that were not read yet are dropped here: a Unix socket closed
	 * with unread input resets the peer, whose reads then fail before the replies
	 * already sent are taken (a worker's own writes make that likelier). */
	int fd = uv_fileno_int(c);
	char sink[4096];
	for (int i = 0; fd >= 0 && i < 64 && recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0; i++)
		;
	uv_close((uv_handle_t *) &c->pipe, on_conn_handle_closed);
	uv_close((uv_handle_t *) &c->idle, on_conn_handle_closed);
}

static void conn_resume(conn *c) {
	c->paused = false;
	c->srv->n_paused--;
	run_push(c);
}

/* Once the replies held for everyone are below the back-pressure mark again, the
 * connections paused by it may send requests again. */
static void server_relieve(server *s) {
	if (!s->n_paused || s->queued >= s->limits.max_write_queue_total / 2)
		return;
	for (conn *c = s->conns; c && s->n_paused; c = c->next)
		if (c->paused)
			conn_resume(c);
}

static void on_written(uv_write_t *req, int status) {
	write_req *w = (write_req *) req;
	conn *c = w->c;
	server *s = c->srv;
	size_t len = w->len;
	free(w->owned);
	free(w);
	c->queued -= len;
	if (c->closing) {
		server_release(s, len);
		return;
	}
	s->queued -= len;
	server_release(s, len);
	if (status < 0 || (c->close_after_write && uv_stream_get_write_queue_size((uv_stream_t *) &c->pipe) == 0))
		conn_close(c);
	else if (c->paused && c->queued == 0)
		conn_resume(c);
	server_relieve(s);
}

/* The connection to drop when the replies held for everyone would pass the total
 * cap: role-less callers first, then callers with a role, ops last; the one with
 * the most bytes queued among them. self counts with the reply it is about to get. */
static conn *byte_victim(server *s, conn *self, size_t extra) {
	conn *best = NULL;
	conn_class best_k = CLASS_OPS;
	size_t best_q = 0;
	for (conn *v = s->conns; v; v = v->next) {
		size_t q = v->queued + (v == self ? extra : 0);
		if (!q)
			continue;
		conn_class k = conn_class_of(s, v);
		if (!best || k > best_k || (k == best_k && q > best_q)) {
			best = v;
			best_k = k;
			best_q = q;
		}
	}
	return best;
}

/* Whether len more reply bytes for c fit the caps, dropping whom they must not
 * hold (c itself, or the biggest offender over all connections). own_cap: c's own
 * cap applies (not to a worker's reply begun with nothing of c's unread: a client
 * that reads, however slowly, gets a whole list; MAX_ITEMS bounds it). */
static bool reply_admit(conn *c, size_t len, bool own_cap) {
	server *s = c->srv;
	if (c->closing)
		return false;
	/* A client that does not read its replies is dropped, not buffered forever. */
	if (own_cap && c->queued + len > s->limits.max_write_queue) {
		log_warning("dropping client pid %d (%s): it does not read its replies (%zu bytes queued)",
			    (int) c->peer.pid, who(c), c->queued + len);
		conn_close(c);
		return false;
	}
	while (s->queued + len > s->limits.max_write_queue_total) {
		conn *v = byte_victim(s, c, len);
		log_warning("dropping client pid %d (%s): it does not read its replies (%zu bytes queued, "
			    "%zu for all clients)", (int) v->peer.pid, who(v), v->queued + (v == c ? len : 0),
			    s->queued + len);
		conn_close(v);
		if (v == c)
			return false;
	}
	return true;
}

/* Queues the write of buf (owned: taken, freed once written; else copied). */
static void reply_write(conn *c, const char *buf, char *owned, size_t len) {
	server *s = c->srv;
	write_req *w = malloc(sizeof(*w) + (owned ? 0 : len));
	if (!w) {
		free(owned);
		conn_close(c);
		return;
	}
	w->c = c;
	w->len = len;
	w->owned = owned;
	if (!owned)
		memcpy(w->data, buf, len);
	uv_buf_t b = uv_buf_init(owned ? owned : w->data, (unsigned) len);
	int r = uv_write(&w->req, (uv_stream_t *) &c->pipe, &b, 1, on_written);
	if (r < 0) {
		free(owned);
		free(w);
		conn_close(c);
		return;
	}
	c->queued += len;
	s->queued += len;
}

static void send_reply(void *ud, const char *buf, size_t len) {
	conn *c = ud;
	if (reply_admit(c, len, true))
		reply_write(c, buf, NULL, len);
}

/* ---- the worker pool ---- */

static void work_send(void *ud, const char *buf, size_t len) {
	work *w = ud;
	if (!w->out.s) {
		/* the first piece of a long list is a part of it: room for a few more */
		size_t cap = len < 16384 ? len + 1 : 4 * len;
		if ((w->out.s = malloc(cap)))
			w->out.cap = cap;
	}
	text_buf_put(&w->out, buf, len);
}

/* On a worker: writes what the socket takes of w's reply, waiting for the client to
 * read for at most SERVER_DIRECT_MS; the rest is moved to the front of out for the
 * loop. The socket is a dup of the connection's, so the loop closing the connection
 * meanwhile never lets these bytes reach another's. */
static void work_write(work *w) {
	uint64_t until = uv_hrtime() + (uint64_t) SERVER_DIRECT_MS * 1000000;
	while (w->sent < w->out.n) {
		ssize_t k = send(w->fd, w->out.s + w->sent, w->out.n - w->sent, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (k > 0) {
			w->sent += (size_t) k;
			continue;
		}
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			w->write_err = errno;
			return;
		}
		uint64_t now = uv_hrtime();
		struct pollfd pf = { .fd = w->fd, .events = POLLOUT };
		if (now >= until || poll(&pf, 1, (int) ((until - now) / 1000000) + 1) == 0)
			break;
	}
	if (w->sent && w->sent < w->out.n)
		memmove(w->out.s, w->out.s + w->sent, w->out.n - w->sent);
	w->out.n -= w->sent;
}

static void *worker_main(void *arg) {
	server *s = arg;
	/* below the loop: when the CPUs are busy building replies, the loop (Status, the
	 * engine, the writes) still gets one first */
	setpriority(PRIO_PROCESS, (id_t) gettid(), SERVER_WORKER_NICE);
	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (!s->quit && !s->todo_head)
			pthread_cond_wait(&s->work_cv, &s->mu);
		if (s->quit)
			break;
		work *w = s->todo_head;
		if (!(s->todo_head = w->next))
			s->todo_tail = NULL;
		pthread_mutex_unlock(&s->mu);
		api_read_lend(w->t);
		w->r = vl_service_run(s->svc, &w->call, work_send, w, &w->c->peer, VL_START_PIECES);
		api_read_lend(NULL);
		vl_call_clear(&w->call);
		bool direct = w->fd >= 0 && w->r >= 0 && !w->out.oom && w->out.n >= SERVER_DIRECT_MIN;
		pthread_mutex_lock(&s->mu);
		if (direct) {
			/* built: neither the definitions nor the transaction are used any more, so
			 * server_quiesce need not wait for the client to read */
			w->next = s->writing;
			s->writing = w;
			s->in_flight--;
			pthread_cond_broadcast(&s->idle_cv);
			pthread_mutex_unlock(&s->mu);
			work_write(w);
			pthread_mutex_lock(&s->mu);
			work **pp = &s->writing;
			while (*pp != w)
				pp = &(*pp)->next;
			*pp = w->next;
		}
		if (w->fd >= 0)
			close(w->fd);
		w->fd = -1;
		w->next = s->done;
		s->done = w;
		if (!direct)
			s->in_flight--;
		pthread_cond_broadcast(&s->idle_cv);
		uv_async_send(&s->wake);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* On the loop: the transaction ends here, the reply is queued, the connection
 * reads its next request. */
static void work_finish(server *s, work *w) {
	conn *c = w->c;
	store_abort(w->t);
	s->busy--;
	if (!w->is_short)
		s->busy_long--;
	c->working = false;
	if (w->r < 0 && w->r != -EPIPE)
		log_error("request from pid %d failed: %s", (int) c->peer.pid, strerror(-w->r));
	if (c->closing || s->stopping) {
		free(w->out.s);
		if (c->closing)
			conn_free_if_closed(c);
	} else if (w->write_err) {
		/* the client went away while a worker wrote to it */
		free(w->out.s);
		conn_close(c);
	} else if (w->out.oom || w->r == -EPIPE) {
		/* a reply cut in the middle: no valid message can follow on the stream */
		log_error("request from pid %d failed: %s", (int) c->peer.pid, strerror(w->out.oom ? ENOMEM : EPIPE));
		free(w->out.s);
		conn_close(c);
	} else {
		if (w->out.n && reply_admit(c, w->out.n, !w->began_empty))
			reply_write(c, NULL, w->out.s, w->out.n);
		else
			free(w->out.s);
		run_push(c);
	}
	free(w);
}

static void pool_collect(server *s) {
	pthread_mutex_lock(&s->mu);
	work *w = s->done;
	s->done = NULL;
	pthread_mutex_unlock(&s->mu);
	while (w) {
		work *next = w->next;
		work_finish(s, w);
		w = next;
	}
}

static void on_wake(uv_async_t *h) {
	server *s = h->data;
	pool_collect(s);
	pool_dispatch(s);
}

static void on_retry(uv_timer_t *t) {
	pool_dispatch(t->data);
}

/* Hands waiting calls to idle workers, each with a read transaction begun here:
 * short calls first, to any idle thread; the others to all threads but one, which
 * is kept for short calls (a GetOrder never waits behind lists of 20,000). None
 * while the store wants its map to grow (it cannot under a transaction): those in
 * flight end, the map grows, then they go on. */
static void pool_dispatch(server *s) {
	while (!s->stopping && s->busy < s->n_threads) {
		if (store_room_wanted(s->st)) {
			uv_timer_start(&s->retry, on_retry, 5, 0);
			return;
		}
		conn *c = cq_pop(&s->wait_short);
		if (!c && s->busy_long + (s->n_threads > 1) < s->n_threads)
			c = cq_pop(&s->wait);
		if (!c)
			return;
		work *w = c->waiting;
		c->waiting = NULL;
		int r = store_begin(s->st, false, &w->t);
		if (r < 0) {
			/* answered on the loop, each handler with its own (failing) begin */
			vl_service_run(s->svc, &w->call, send_reply, c, &c->peer, 0);
			vl_call_clear(&w->call);
			free(w);
			run_push(c);
			continue;
		}
		/* the worker writes a long reply itself when nothing is queued before it */
		w->fd = c->queued == 0 ? fcntl(uv_fileno_int(c), F_DUPFD_CLOEXEC, 0) : -1;
		c->working = true;
		s->busy++;
		if (!w->is_short)
			s->busy_long++;
		pthread_mutex_lock(&s->mu);
		w->next = NULL;
		if (s->todo_tail)
			s->todo_tail->next = w;
		else
			s->todo_head = w;
		s->todo_tail = w;
		s->in_flight++;
		pthread_cond_signal(&s->work_cv);
		pthread_mutex_unlock(&s->mu);
	}
}

/* A read-only call goes to the pool: 1 when taken (c waits for it), 0 to answer
 * it on the loop as any other. */
static int pool_take(conn *c, const char *msg, size_t len, unsigned *ret_flags) {
	server *s = c->srv;
	vl_call call;
	const char *bad;
	*ret_flags = 0;
	if (vl_call_parse(msg, len, &call, &bad) < 0)
		return 0;   /* the loop answers the envelope's error */
	unsigned flags = *ret_flags = vl_service_method_flags(s->svc, &call);
	if (!s->n_threads || call.oneway || !(flags & API_READ_ONLY)) {
		vl_call_clear(&call);
		return 0;
	}
	work *w = calloc(1, sizeof(*w));
	if (!w) {
		vl_call_clear(&call);
		return 0;
	}
	w->c = c;
	w->call = call;
	w->fd = -1;
	w->began_empty = c->queued == 0;
	w->is_short = flags & API_READ_SHORT;
	c->waiting = w;
	cq_push(w->is_short ? &s->wait_short : &s->wait, c, conn_class_of(s, c));
	pool_dispatch(s);
	return 1;
}

/* One step of a connection in the run queue: its next request, or, with none
 * complete, back to reading. */
static void conn_step(conn *c) {
	server *s = c->srv;
	/* Under pressure a client that has not read its last replies waits for them
	 * before its next request starts; one under way runs on (as it did when one
	 * request was one step), so it never sits on its snapshot and its items
	 * unaccounted: its reply bytes meet the caps like any others. */
	if (!c->pending && c->queued > 0 && s->queued >= s->limits.max_write_queue_total / 2) {
		c->paused = true;
		s->n_paused++;
		return;
	}
	/* A long answer goes on only as fast as its client takes it: with half its own
	 * cap unread it waits until that is written (conn_resume). Orders carry their
	 * money and history since issue 9, so 20,000 of them (one reply, or parts with
	 * "more") pass max_reply_queue's 16 MiB: a client that reads, however slowly,
	 * must get them all. A list sends only once collected, its snapshot let go.
	 * Only an answer begun with nothing unread waits: one begun behind unread
	 * replies (a client pipelining requests it does not read) meets the cap. */
	if (c->pending && c->may_wait && c->queued >= s->limits.max_write_queue / 2) {
		c->paused = true;
		s->n_paused++;
		return;
	}
	int r;
	if (c->pending) {
		/* One slice of a long answer, then back in line behind the others. A
		 * connection being answered is not idle. */
		uv_timer_again(&c->idle);
		c->stepping = true;
		r = vl_pending_step(c->pending);
		c->stepping = false;
		if (r != VL_AGAIN || c->closing) {
			vl_pending_free(c->pending);
			c->pending = NULL;
			if (s->turn_conn == c)
				turn_end(s);
		}
		if (c->closing)
			turn_unqueue(c);
		if (r < 0)
			log_error("request from pid %d failed: %s", (int) c->peer.pid, strerror(-r));
		if (r == -EPIPE)   /* a reply cut in the middle: the stream cannot go on */
			conn_close(c);
		if (!turn_parked_on(s, c))
			run_push(c);
		return;
	}
	const char *msg;
	size_t len;
	char *own = NULL;
	if (c->turn_msg && s->turn_conn == c) {
		/* its turn came (turn_pass) */
		msg = own = c->turn_msg;
		len = c->turn_len;
		c->turn_msg = NULL;
		uv_timer_again(&c->idle);
		goto start;
	}
	r = vl_reader_next(&c->reader, &msg, &len);
	if (r == 0) {
		uv_read_start((uv_stream_t *) &c->pipe, on_alloc, on_read);
		return;
	}
	if (r == -EMSGSIZE) {
		vl_send_invalid_parameter(send_reply, c, VL_PARAM_MESSAGE);
		c->close_after_write = true;
		if (!c->closing && uv_stream_get_write_queue_size((uv_stream_t *) &c->pipe) == 0)
			conn_close(c);
		return;
	}
	if (r < 0) {
		conn_close(c);
		return;
	}
	c->since = uv_now(c->pipe.loop);
	uv_timer_again(&c->idle);
	unsigned flags;
	if (pool_take(c, msg, len, &flags))
		return;
	if (flags & API_CHANGES) {
		if (turn_busy(s)) {
			/* after the changes before it: it waits, neither reading nor running */
			if (!(c->turn_msg = malloc(len + 1))) {
				conn_close(c);
				return;
			}
			memcpy(c->turn_msg, msg, len);
			c->turn_msg[len] = 0;
			c->turn_len = len;
			c->turn_waiting = true;
			if (s->turn_tail)
				s->turn_tail->turn_next = c;
			else
				s->turn_head = c;
			s->turn_tail = c;
			uv_timer_stop(&c->idle);   /* waiting for others is not being idle */
			return;
		}
		s->turn_conn = c;
	}
start:
	c->stepping = true;
	c->may_wait = c->queued == 0;
	r = vl_service_start(s->svc, msg, len, send_reply, c, &c->peer, VL_START_PIECES, &c->pending);
	c->stepping = false;
	free(own);
	if (c->closing) {
		vl_pending_free(c->pending);
		c->pending = NULL;
		turn_unqueue(c);
	} else if (!c->pending && s->turn_conn == c) {
		turn_end(s);   /* answered at once */
	}
	if (r < 0)
		log_error("request from pid %d failed: %s", (int) c->peer.pid, strerror(-r));
	if (!turn_parked_on(s, c))
		run_push(c);
}

static void on_run(uv_idle_t *h) {
	server *s = h->data;
	uint64_t t0 = uv_hrtime();
	conn *c;
	if (s->turn_kick)
		turn_pass(s);
	while ((c = run_pop(s))) {
		conn_step(c);
		if (uv_hrtime() - t0 >= SERVER_SLICE_NS)
			return;
	}
	if (s->turn_kick) {   /* a turn ended in this slice: the next starts at the next turn */
		turn_pass(s);
		if (s->run.n)
			return;
	}
	if (s->trim_wanted)
		server_trim(s);
	pool_dispatch(s);
	uv_idle_stop(h);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
	conn *c = h->data;
	(void) suggested;
	*buf = uv_buf_init(c->readbuf, sizeof(c->readbuf));
}

static void on_idle(uv_timer_t *t) {
	conn *c = t->data;
	conn_close(c);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
	conn *c = stream->data;
	if (nread < 0) {
		/* A client that only shut down its sending side (printf | socat) still
		 * reads: deliver the replies queued for it, then close (on_written). */
		if (nread == UV_EOF && uv_stream_get_write_queue_size(stream) > 0) {
			c->close_after_write = true;
			uv_read_stop(stream);
			return;
		}
		conn_close(c);
		return;
	}
	if (nread == 0 || c->close_after_write)
		return;
	if (vl_reader_feed(&c->reader, buf->base, (size_t) nread) < 0) {
		conn_close(c);
		return;
	}
	/* Parse and run from the queue; read more once this is used up. */
	uv_read_stop(stream);
	run_push(c);
}

/* A connection over a limit gets one unasked error reply, then is closed. One
 * log line per user and limit per 10 s: a flood of connections is not a flood of
 * lines. */
static void conn_refuse(conn *c, size_t limit, const char *why) {
	server *s = c->srv;
	uint64_t now = uv_now(c->pipe.loop);
	if (s->refused_at && s->refused_uid == c->peer.uid && s->refused_limit == limit &&
	    now - s->refused_at < 10000) {
		s->refused_quiet++;
	} else {
		if (s->refused_quiet)
			log_warning("refusing a connection from pid %d (%s): %s (%zu more refused before, not logged)",
				    (int) c->peer.pid, who(c), why, s->refused_quiet);
		else
			log_warning("refusing a connection from pid %d (%s): %s", (int) c->peer.pid, who(c), why);
		s->refused_uid = c->peer.uid;
		s->refused_limit = limit;
		s->refused_at = now;
		s->refused_quiet = 0;
	}
	char msg[96];
	int n = snprintf(msg, sizeof(msg), "{\"error\":\"io.standingd.TooManyConnections\",\"parameters\":{\"limit\":%zu}}",
			 limit);
	send_reply(c, msg, (size_t) n + 1);   /* with its NUL delimiter */
	if (c->closing)
		return;
	c->close_after_write = true;
	if (uv_stream_get_write_queue_size((uv_stream_t *) &c->pipe) == 0)
		conn_close(c);
	else
		uv_timer_start(&c->idle, on_idle, c->srv->limits.idle_timeout_ms, 0);
}

/* Whom a newcomer of class k may push out when the server is full: ops push out
 * anyone but ops, callers with a role push out role-less ones. Role-less first,
 * then idle ones (no request or reply in flight), then the longest silent. */
static conn *conn_victim(server *s, const conn *self, conn_class k) {
	conn *best = NULL;
	conn_class best_k = CLASS_OPS;
	bool best_idle = false;
	for (conn *v = s->conns; v; v = v->next) {
		if (v == self)
			continue;
		conn_class vk = conn_class_of(s, v);
		if (vk <= k)
			continue;
		bool idle = v->queued == 0 && !v->in_run && !v->working && !v->turn_waiting && s->turn_conn != v;
		if (!best || vk > best_k || (vk == best_k && idle && !best_idle) ||
		    (vk == best_k && idle == best_idle && v->since <= best->since)) {
			best = v;
			best_k = vk;
			best_idle = idle;
		}
	}
	return best;
}

static size_t per_user_limit(const server_limits *l) {
	if (l->max_connections_per_user)
		return l->max_connections_per_user;
	return l->max_connections / 4 ? l->max_connections / 4 : 1;
}

static void on_connection(uv_stream_t *listener, int status) {
	server *s = listener->data;
	if (status < 0)
		return;
	conn *c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->srv = s;
	s->alive++;
	uv_pipe_init(listener->loop, &c->pipe, 0);
	c->pipe.data = c;
	if (uv_accept(listener, (uv_stream_t *) &c->pipe) < 0) {
		c->closing = 1;
		uv_close((uv_handle_t *) &c->pipe, on_conn_handle_closed);
		return;
	}
	uv_timer_init(listener->loop, &c->idle);
	c->idle.data = c;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->n_conns++;
	c->since = uv_now(listener->loop);
	vl_reader_init(&c->reader, s->limits.max_message);
	uv_os_fd_t fd;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (uv_fileno((uv_handle_t *) &c->pipe, &fd) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		conn_close(c);
		return;
	}
	peer_resolve(&c->peer, cred.pid, cred.uid, cred.gid);
	conn_class k = conn_class_of(s, c);
	size_t per_user = per_user_limit(&s->limits);
	if (k != CLASS_OPS) {
		size_t mine = 0;
		for (conn *o = s->conns; o; o = o->next)
			mine += o != c && o->peer.uid == c->peer.uid;
		if (mine >= per_user) {
			char why[96];
			snprintf(why, sizeof(why), "its user has %zu connections open (max_connections_per_user)", mine);
			conn_refuse(c, per_user, why);
			return;
		}
	}
	if (s->n_conns > s->limits.max_connections) {
		conn *v = k == CLASS_NONE ? NULL : conn_victim(s, c, k);
		if (!v) {
			char why[64];
			snprintf(why, sizeof(why), "%zu connections open", s->limits.max_connections);
			conn_refuse(c, s->limits.max_connections, why);
			return;
		}
		log_warning("disconnecting client pid %d (%s), silent for %llu ms, to make room for pid %d (%s): "
			    "%zu connections open", (int) v->peer.pid, who(v),
			    (unsigned long long) (c->since - v->since), (int) cred.pid, who(c),
			    s->limits.max_connections);
		conn_close(v);
	}
	uv_timer_start(&c->idle, on_idle, s->limits.idle_timeout_ms, s->limits.idle_timeout_ms);
	uv_read_start((uv_stream_t *) &c->pipe, on_alloc, on_read);
}

/* A socket file left by a crashed daemon refuses connections: remove it. A live one
 * answers: leave it alone and fail, so two daemons never share a path. */
static int clear_stale(const char *path) {
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int r = connect(fd, (struct sockaddr *) &sa, sizeof(sa));
	int e = errno;
	close(fd);
	if (r == 0)
		return -EADDRINUSE;
	if (e == ECONNREFUSED)
		unlink(path);
	return 0;
}

static void server_close_handles(server *s) {
	s->stopping = true;
	uv_close((uv_handle_t *) &s->runner, on_server_handle_closed);
	uv_close((uv_handle_t *) &s->listener, on_server_handle_closed);
	if (s->pool_handles) {
		s->pool_handles = false;
		uv_close((uv_handle_t *) &s->wake, on_server_handle_closed);
		uv_close((uv_handle_t *) &s->retry, on_server_handle_closed);
	}
}

int server_set_pool(server *s, store *st, unsigned n_threads) {
	if (s->threads || !n_threads)
		return 0;
	if (!(s->threads = calloc(n_threads, sizeof(*s->threads))))
		return -ENOMEM;
	s->st = st;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->work_cv, NULL);
	pthread_cond_init(&s->idle_cv, NULL);
	uv_loop_t *loop = s->listener.loop;
	uv_async_init(loop, &s->wake, on_wake);
	s->wake.data = s;
	uv_timer_init(loop, &s->retry);
	s->retry.data = s;
	s->handles += 2;
	s->pool_handles = true;
	for (unsigned i = 0; i < n_threads; i++) {
		int r = -pthread_create(&s->threads[i], NULL, worker_main, s);
		if (r < 0) {
			log_warning("cannot start worker thread %u: %s", i + 1, strerror(-r));
			break;
		}
		s->n_threads++;
	}
	return 0;
}

void server_quiesce(server *s) {
	if (!s || !s->n_threads)
		return;
	pthread_mutex_lock(&s->mu);
	while (s->in_flight)
		pthread_cond_wait(&s->idle_cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
}

bool server_turn_take(server *s) {
	if (!s)
		return true;
	if (turn_busy(s)) {
		s->turn_wanted = true;
		return false;
	}
	s->turn_daemon = true;
	return true;
}

void server_turn_keep(server *s) {
	if (s)
		s->turn_daemon = true;
}

void server_turn_give(server *s) {
	if (!s || !s->turn_daemon)
		return;
	s->turn_daemon = false;
	turn_may_pass(s);
}

void server_set_turn_cb(server *s, void (*cb)(void *ud), void *ud) {
	if (!s)
		return;
	s->turn_cb = cb;
	s->turn_ud = ud;
}

void server_turn_park(server *s) {
	if (s && s->turn_conn) {
		s->turn_parked = true;
		/* its change is being made (seconds at a million standing orders): that is
		 * not being idle; its idle timeout would drop the change */
		uv_timer_stop(&s->turn_conn->idle);
	}
}

void server_turn_wake(server *s) {
	if (!s || !s->turn_conn || !s->turn_parked)
		return;
	s->turn_parked = false;
	uv_timer_again(&s->turn_conn->idle);
	run_push(s->turn_conn);
}

void server_pool_stats(const server *s, unsigned *ret_threads, unsigned *ret_busy, unsigned *ret_waiting) {
	*ret_threads = s ? s->n_threads : 0;
	*ret_busy = s ? s->busy : 0;
	*ret_waiting = s ? s->wait.n + s->wait_short.n : 0;
}

void server_release_readers(server *s) {
	if (!s || !s->n_threads)
		return;
	server_quiesce(s);
	pthread_mutex_lock(&s->mu);
	for (work *w = s->done; w; w = w->next) {
		store_abort(w->t);   /* work_finish's abort then has nothing to end */
		w->t = NULL;
	}
	for (work *w = s->writing; w; w = w->next) {
		store_abort(w->t);   /* its worker only writes its reply now */
		w->t = NULL;
	}
	pthread_mutex_unlock(&s->mu);
}

/* Stops the threads after their current call; every work left is finished on the
 * loop (its transaction ended, its connection let go), none answered. */
static void pool_stop(server *s) {
	if (!s->threads)
		return;
	pthread_mutex_lock(&s->mu);
	s->quit = true;
	pthread_cond_broadcast(&s->work_cv);
	pthread_mutex_unlock(&s->mu);
	for (unsigned i = 0; i < s->n_threads; i++)
		pthread_join(s->threads[i], NULL);
	while (s->todo_head) {
		work *w = s->todo_head;
		s->todo_head = w->next;
		vl_call_clear(&w->call);
		if (w->fd >= 0)   /* the socket's dup for a direct write that never came */
			close(w->fd);
		w->fd = -1;
		w->next = s->done;
		s->done = w;
	}
	s->todo_tail = NULL;
	pool_collect(s);
	free(s->threads);
	s->threads = NULL;
	s->n_threads = 0;
	pthread_cond_destroy(&s->work_cv);
	pthread_cond_destroy(&s->idle_cv);
	pthread_mutex_destroy(&s->mu);
}

int server_start(uv_loop_t *loop, const char *path, vl_service *svc, const server_limits *limits,
		 server **ret, bool *ret_activated) {
	server *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->svc = svc;
	s->limits = *limits;
	s->self_uid = geteuid();
	uv_pipe_init(loop, &s->listener, 0);
	s->listener.data = s;
	uv_idle_init(loop, &s->runner);
	s->runner.data = s;
	s->handles = 2;
	int r, n = sd_listen_fds(1);
	*ret_activated = n > 0;
	if (n > 0) {
		r = uv_pipe_open(&s->listener, SD_LISTEN_FDS_START);
	} else {
		if (!path || strlen(path) >= sizeof(s->path)) {
			r = -ENAMETOOLONG;
			goto fail;
		}
		snprintf(s->path, sizeof(s->path), "%s", path);
		if ((r = clear_stale(path)) < 0)
			goto fail;
		/* Bind with a tight umask so the socket is never briefly world-writable. */
		mode_t old = umask(0117);
		r = uv_pipe_bind(&s->listener, path);
		umask(old);
		if (r < 0)
			goto fail;
		s->bound = true;
		struct group gr, *res = NULL;
		char buf[4096];
		if (getgrnam_r("standingd", &gr, buf, sizeof(buf), &res) == 0 && res && chown(path, (uid_t) -1, res->gr_gid) < 0)
			log_warning("cannot give %s to group standingd: %s", path, strerror(errno));
		chmod(path, 0660);
	}
	if (r == 0)
		r = uv_listen((uv_stream_t *) &s->listener, 128, on_connection);
	if (r < 0)
		goto fail;
	*ret = s;
	return 0;
fail:
	server_close_handles(s);
	return r;
}

void server_set_roles(server *s, server_roles_fn *fn, void *ud) {
	s->roles = fn;
	s->roles_ud = fn ? ud : NULL;
}

void server_stop(server *s) {
	if (!s)
		return;
	s->stopping = true;
	while (s->conns)
		conn_close(s->conns);
	pool_stop(s);
	if (s->bound)
		unlink(s->path);
	server_close_handles(s);
}

size_t server_connections(const server *s) {
	return s->n_conns;
}
