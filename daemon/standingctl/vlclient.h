/* vlclient: a small blocking Varlink client for standingctl. It owns the socket and
 * the loop over replies; the framing (vl_reader), the call's encoding and the reply's
 * checks are lib/varlink's, the same code the daemon's side uses. */
#pragma once
#include <jansson.h>
#include <stdbool.h>

typedef struct vlclient vlclient;

/* path NULL: $STANDINGD_SOCKET, else the default socket path. 0 or -errno. */
int vlclient_connect(const char *path, vlclient **ret);
void vlclient_close(vlclient *c);
/* Calls method; for each reply calls fn (params, error name or NULL, ud) until a
 * reply without "continues". Returns 0, a negative errno for transport trouble,
 * or 1 when the service answered with an error (fn saw it). */
int vlclient_call(vlclient *c, const char *method, json_t *params, bool more,
		  int (*fn)(json_t *params, const char *error, void *ud), void *ud);
const char *vlclient_default_path(void);
