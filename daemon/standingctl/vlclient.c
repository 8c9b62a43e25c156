#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "daemon/standingctl/vlclient.h"
#include "lib/varlink/varlink.h"
#include "config.h"

#define MAX_REPLY (16u << 20)

struct vlclient {
	int fd;
	vl_reader rd;      /* the daemon's framing, lib/varlink's reader */
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
	vl_reader_init(&c->rd, MAX_REPLY);
	*ret = c;
	return 0;
}

void vlclient_close(vlclient *c) {
	if (!c)
		return;
	close(c->fd);
	vl_reader_free(&c->rd);
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

/* The next reply: from what was read already, else after reading more. */
static int recv_reply(vlclient *c, vl_reply_msg *ret) {
	for (;;) {
		const char *msg;
		size_t len;
		int r = vl_reader_next(&c->rd, &msg, &len);
		if (r < 0)
			return r;
		if (r == 1)
			return vl_reply_parse(msg, len, ret);
		char buf[65536];
		ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		if ((r = vl_reader_feed(&c->rd, buf, (size_t) n)) < 0)
			return r;
	}
}

int vlclient_call(vlclient *c, const char *method, json_t *params, bool more,
		  int (*fn)(json_t *params, const char *error, void *ud), void *ud) {
	char *text;
	size_t len;
	int r = vl_call_encode(method, params, more, false, &text, &len);
	if (r < 0)
		return r;
	r = send_all(c->fd, text, len);
	free(text);
	if (r < 0)
		return r;
	for (;;) {
		vl_reply_msg reply;
		if ((r = recv_reply(c, &reply)) < 0)
			return r;
		bool error = reply.error != NULL, continues = reply.continues;
		int fr = fn(reply.parameters, reply.error, ud);
		vl_reply_msg_clear(&reply);
		if (error)
			return 1;
		if (fr)
			return fr;
		if (!continues)
			return 0;
	}
}
