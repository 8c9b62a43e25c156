/* fuzz-daemon: the daemon's side of the socket API without a loop or a socket,
 * for the Varlink harnesses: a fresh store in a temporary directory, the example
 * definitions (conf/), an engine, and io.standingd registered on a vl_service with
 * an api_env whose callbacks validate and apply like standingd does (reload,
 * PlaceStandingOrder/CancelStandingOrder as the API's files with one replaced,
 * then the due orders of one batch). Time stands still at FUZZ_NOW. */
#pragma once
#include "lib/api/api.h"
#include "lib/api/peer.h"

typedef enum fuzz_role { FUZZ_OPS, FUZZ_SUPPLIER, FUZZ_SHOP, FUZZ_NOBODY } fuzz_role;

typedef struct fuzz_daemon {
	char dir[256];
	store *store;
	engine *engine;
	defs *defs;
	defs_file *api;          /* owned; the YAML files are the process's cached conf/ */
	size_t n_api;
	vl_service *svc;
	api_env env;
	peer peers[4];           /* by fuzz_role: root, "lumen", "webshop", an unknown user */
} fuzz_daemon;

/* Aborts when the environment (not the input) fails. */
void fuzz_daemon_start(fuzz_daemon *d);
/* Aborts unless store_verify finds the store's invariants intact. */
void fuzz_daemon_verify(fuzz_daemon *fd);
/* Closes everything and removes the store's files. */
void fuzz_daemon_stop(fuzz_daemon *d);
