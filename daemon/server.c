#include <errno.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>
#include "log.h"
#include "peer.h"
#include "server.h"

typedef struct conn conn;

struct server {
	uv_pipe_t listener;
	vl_service *svc;
	server_limits limits;
	conn *conns;               /* doubly linked */
	size_t n_conns;
	bool stopping;
	bool bound;                /* we created the socket file: remove it at the end */
	char path[108];
};

struct conn {
	uv_pipe_t pipe;
	uv_timer_t idle;
	server *srv;
	conn *prev, *next;
	vl_reader reader;
	peer peer;
	int closing;               /* handles still to close */
	bool close_after_write;
	char readbuf[65536];
};

typedef struct write_req {
	uv_write_t req;
	conn *c;
	char data[];
} write_req;

static void conn_free_if_closed(conn *c) {
	if (--c->closing > 0)
		return;
	vl_reader_free(&c->reader);
	peer_clear(&c->peer);
	free(c);
}

static void on_conn_handle_closed(uv_handle_t *h) {
	conn_free_if_closed(h->data);
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
	c->closing = 2;
	uv_close((uv_handle_t *) &c->pipe, on_conn_handle_closed);
	uv_close((uv_handle_t *) &c->idle, on_conn_handle_closed);
}

static void on_written(uv_write_t *req, int status) {
	write_req *w = (write_req *) req;
	conn *c = w->c;
	free(w);
	if (c->closing)
		return;
	if (status < 0 || (c->close_after_write && uv_stream_get_write_queue_size((uv_stream_t *) &c->pipe) == 0))
		conn_close(c);
}

static void send_reply(void *ud, const char *buf, size_t len) {
	conn *c = ud;
	if (c->closing)
		return;
	/* A client that does not read its replies is dropped, not buffered forever. */
	if (uv_stream_get_write_queue_size((uv_stream_t *) &c->pipe) + len > c->srv->limits.max_write_queue) {
		log_warning("dropping client pid %d (%s): it does not read its replies", (int) c->peer.pid,
			    c->peer.user[0] ? c->peer.user : "?");
		conn_close(c);
		return;
	}
	write_req *w = malloc(sizeof(*w) + len);
	if (!w) {
		conn_close(c);
		return;
	}
	w->c = c;
	memcpy(w->data, buf, len);
	uv_buf_t b = uv_buf_init(w->data, (unsigned) len);
	int r = uv_write(&w->req, (uv_stream_t *) &c->pipe, &b, 1, on_written);
	if (r < 0) {
		free(w);
		conn_close(c);
	}
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
	for (;;) {
		const char *msg;
		size_t len;
		int r = vl_reader_next(&c->reader, &msg, &len);
		if (r == 0)
			break;
		if (r == -EMSGSIZE) {
			vl_send_invalid_parameter(send_reply, c, VL_PARAM_MESSAGE);
			c->close_after_write = true;
			uv_read_stop(stream);
			if (!c->closing && uv_stream_get_write_queue_size(stream) == 0)
				conn_close(c);
			return;
		}
		if (r < 0) {
			conn_close(c);
			return;
		}
		uv_timer_again(&c->idle);
		r = vl_service_handle(c->srv->svc, msg, len, send_reply, c, &c->peer);
		if (r < 0)
			log_error("request from pid %d failed: %s", (int) c->peer.pid, strerror(-r));
		if (c->closing)
			return;
	}
}

static void on_connection(uv_stream_t *listener, int status) {
	server *s = listener->data;
	if (status < 0)
		return;
	conn *c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->srv = s;
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
	if (s->n_conns > s->limits.max_connections) {
		log_warning("refusing a connection from pid %d: %zu connections open", (int) cred.pid,
			    s->limits.max_connections);
		conn_close(c);
		return;
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

static void on_listener_closed(uv_handle_t *h) {
	free(h->data);
}

int server_start(uv_loop_t *loop, const char *path, vl_service *svc, const server_limits *limits,
		 server **ret, bool *ret_activated) {
	server *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->svc = svc;
	s->limits = *limits;
	uv_pipe_init(loop, &s->listener, 0);
	s->listener.data = s;
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
	s->stopping = true;
	uv_close((uv_handle_t *) &s->listener, on_listener_closed);
	return r;
}

void server_stop(server *s) {
	if (!s)
		return;
	while (s->conns)
		conn_close(s->conns);
	if (s->bound)
		unlink(s->path);
	uv_close((uv_handle_t *) &s->listener, on_listener_closed);
}

size_t server_connections(const server *s) {
	return s->n_conns;
}
