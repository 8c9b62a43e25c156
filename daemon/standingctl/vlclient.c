#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "daemon/standingctl/vlclient.h"
#include "config.h"

#define MAX_REPLY (16u << 20)

struct vlclient {
	int fd;
	char *buf;
	size_t len, cap;
};

const char *vlclient_default_path(void) {
	const char *p = getenv("STANDINGD_SOCKET");
	return p && *p ? p : STANDINGD_SOCKET_DEFAULT;
}

int vlclient_connect(const char *path, vlclient **ret) {
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (!path)
		path = vlclient_default_path();
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	vlclient *c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->fd = fd;
	*ret = c;
	return 0;
}

void vlclient_close(vlclient *c) {
	if (!c)
		return;
	close(c->fd);
	free(c->buf);
	free(c);
}

static int send_all(int fd, const char *p, size_t n) {
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t) w;
	}
	return 0;
}

/* One NUL-terminated message into a fresh json_t. */
static int recv_message(vlclient *c, json_t **ret) {
	for (;;) {
		char *nul = c->len ? memchr(c->buf, 0, c->len) : NULL;
		if (nul) {
			size_t mlen = (size_t) (nul - c->buf);
			json_error_t err;
			json_t *j = json_loadb(c->buf, mlen, 0, &err);
			memmove(c->buf, nul + 1, c->len - mlen - 1);
			c->len -= mlen + 1;
			if (!j || !json_is_object(j)) {
				json_decref(j);
				return -EBADMSG;
			}
			*ret = j;
			return 0;
		}
		if (c->len == c->cap) {
			if (c->cap >= MAX_REPLY)
				return -EMSGSIZE;
			size_t cap = c->cap ? c->cap * 2 : 65536;
			char *b = realloc(c->buf, cap);
			if (!b)
				return -ENOMEM;
			c->buf = b;
			c->cap = cap;
		}
		ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ECONNRESET;
		c->len += (size_t) r;
	}
}

int vlclient_call(vlclient *c, const char *method, json_t *params, bool more,
		  int (*fn)(json_t *params, const char *error, void *ud), void *ud) {
	json_t *call = json_pack("{s:s, s:o}", "method", method,
				 "parameters", params ? json_incref(params) : json_object());
	if (more)
		json_object_set_new(call, "more", json_true());
	char *text = json_dumps(call, JSON_COMPACT);
	json_decref(call);
	if (!text)
		return -ENOMEM;
	int r = send_all(c->fd, text, strlen(text) + 1);
	free(text);
	if (r < 0)
		return r;
	for (;;) {
		json_t *reply;
		r = recv_message(c, &reply);
		if (r < 0)
			return r;
		json_t *p = json_object_get(reply, "parameters");
		const char *error = json_string_value(json_object_get(reply, "error"));
		bool continues = json_is_true(json_object_get(reply, "continues"));
		int fr = fn(p ? p : NULL, error, ud);
		json_decref(reply);
		if (error)
			return 1;
		if (fr)
			return fr;
		if (!continues)
			return 0;
	}
}
