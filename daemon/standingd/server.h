/* server: the Varlink socket. Accepts connections on an AF_UNIX stream socket
 * (systemd's, when socket-activated, else one it binds with mode 0660), reads
 * NUL-delimited messages with a size limit, hands each to the Varlink service
 * with the peer's credentials, and writes replies with bounded queues.
 *
 * Fairness and quotas: requests run from a queue, ops callers first, then callers
 * with a role, then the rest, round-robin one request per connection, at most a
 * slice of time per loop turn; a request answered in steps (vl_pending: a long
 * list) takes one step per round, the connection's next request waits for it;
 * each user holds at most max_connections_per_user connections (ops exempt); at
 * max_connections an ops caller evicts a non-ops one (role-less first) and a
 * caller with a role evicts a role-less one; reply bytes are capped per
 * connection and over all connections (back-pressure from half the total, then
 * the biggest offender is dropped). */
#pragma once
#include <stdbool.h>
#include <uv.h>
#include "lib/api/peer.h"
#include "lib/store/store.h"
#include "lib/varlink/varlink.h"

typedef struct server_limits {
	size_t max_message;        /* bytes; larger requests get an error and the connection closes */
	size_t max_connections;
	size_t max_connections_per_user; /* 0: a quarter of max_connections (at least 1) */
	size_t max_write_queue;    /* reply bytes queued to one client before it is dropped */
	size_t max_write_queue_total; /* over all clients: see the header comment */
	uint64_t idle_timeout_ms;  /* no complete request for this long: closed */
} server_limits;

#define SERVER_LIMITS_DEFAULT { .max_message = 1u << 20, .max_connections = 128, \
	.max_connections_per_user = 0, .max_write_queue = (size_t) 16 << 20, \
	.max_write_queue_total = (size_t) 256 << 20, .idle_timeout_ms = 60000 }

/* The caller's role flags (PEER_ROLE_OPS, PEER_ROLE_SUPPLIER, PEER_ROLE_SHOP of peer.h) under the
 * definitions in force; asked at connect time and whenever the server must choose
 * whom to serve first or to disconnect. */
typedef unsigned server_roles_fn(const peer *p, void *ud);

typedef struct server server;

/* Takes the socket from systemd (sd_listen_fds) when there is one, else binds
 * path. ret_activated tells which. 0 or a negative errno (logged by the caller).
 * Until server_set_roles(), root and the daemon's own user are ops and everyone
 * else counts as having a role. */
int server_start(uv_loop_t *loop, const char *path, vl_service *svc, const server_limits *limits,
		 server **ret, bool *ret_activated);
void server_set_roles(server *s, server_roles_fn *fn, void *ud);
/* Answers the read-only calls (API_READ_ONLY: ListUpcoming, ListOrders, GetOrder,
 * ...) on n_threads worker threads: the loop parses the call, begins a read
 * transaction of st, hands both to an idle worker (at most n_threads calls out at
 * once, the others wait in line by class, one per connection; one thread is kept for
 * short calls, API_READ_SHORT, when there are two or more) and, once answered, ends
 * the transaction and queues the reply's bytes. While st wants its map to grow, no
 * call is handed out. 0 or -ENOMEM; 0 threads: everything on the loop. */
int server_set_pool(server *s, store *st, unsigned n_threads);
/* Returns once no worker runs a call: before the definitions the calls read change
 * (a reload, a standing order placed), as none starts until the loop turns again. */
void server_quiesce(server *s);
/* The calls that change the running set (API_CHANGES: PlaceStandingOrder,
 * CancelStandingOrder, Reload, PlaceCustomer) take turns: one at a time, each
 * from its start to its reply, in the order they arrive from any connection (a
 * call that must wait is copied aside; its connection neither reads nor runs
 * meanwhile). The daemon's own changes (a reload on SIGHUP) take a turn too:
 * server_turn_take is true when the turn is the daemon's (until
 * server_turn_give), false when another has it: then the callback of
 * server_set_turn_cb runs once the turn is the daemon's (a refused take asked
 * again before that counts once). Only the loop calls these. NULL s: always the
 * daemon's. */
bool server_turn_take(server *s);
void server_turn_give(server *s);
void server_set_turn_cb(server *s, void (*cb)(void *ud), void *ud);
/* From inside a step of the call whose turn it is: the daemon keeps the turn
 * after that call ends (its client left while its change is being made), until
 * server_turn_give. */
void server_turn_keep(server *s);
/* From inside a step of the call whose turn it is: it is not stepped again until
 * server_turn_wake (its change was made off the loop). */
void server_turn_park(server *s);
void server_turn_wake(server *s);
/* For the store's release_readers: the map must grow and cannot under open
 * transactions. Waits for the calls in flight (server_quiesce) and ends the read
 * transactions of those answered but not yet collected (their replies are built;
 * they are queued at the next turn as usual). Only the loop calls it. */
void server_release_readers(server *s);
/* For Ops.Status: the worker threads, the calls handed to them and not yet
 * collected, the read-only calls waiting for one. Only the loop calls it. */
void server_pool_stats(const server *s, unsigned *ret_threads, unsigned *ret_busy, unsigned *ret_waiting);
/* Closes the listener and every connection; the server is freed once the loop has
 * run the close callbacks. */
void server_stop(server *s);
size_t server_connections(const server *s);
