/* server: the Varlink socket. Accepts connections on an AF_UNIX stream socket
 * (systemd's, when socket-activated, else one it binds with mode 0660), reads
 * NUL-delimited messages with a size limit, hands each to the Varlink service
 * with the peer's credentials, and writes replies with a bounded queue: a client
 * that does not read is disconnected rather than stalling the loop. */
#pragma once
#include <stdbool.h>
#include <uv.h>
#include "varlink.h"

typedef struct server_limits {
	size_t max_message;        /* bytes; larger requests get an error and the connection closes */
	size_t max_connections;
	size_t max_write_queue;    /* bytes queued to one client before it is dropped */
	uint64_t idle_timeout_ms;  /* no complete request for this long: closed */
} server_limits;

#define SERVER_LIMITS_DEFAULT { .max_message = 1u << 20, .max_connections = 128, \
	.max_write_queue = 16u << 20, .idle_timeout_ms = 60000 }

typedef struct server server;

/* Takes the socket from systemd (sd_listen_fds) when there is one, else binds
 * path. ret_activated tells which. 0 or a negative errno (logged by the caller). */
int server_start(uv_loop_t *loop, const char *path, vl_service *svc, const server_limits *limits,
		 server **ret, bool *ret_activated);
/* Closes the listener and every connection; the server is freed once the loop has
 * run the close callbacks. */
void server_stop(server *s);
size_t server_connections(const server *s);
