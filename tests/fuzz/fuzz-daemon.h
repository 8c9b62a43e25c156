/* fuzz-daemon: the daemon's side of the socket API in-process (tests/common/inproc)
 * for the Varlink harnesses: a fresh store in a temporary directory, the example
 * definitions (conf/, read once per process), and four peers. Time stands still
 * at FUZZ_NOW. */
#pragma once
#include "tests/common/inproc.h"

typedef enum fuzz_role { FUZZ_OPS, FUZZ_SUPPLIER, FUZZ_SHOP, FUZZ_NOBODY } fuzz_role;

typedef struct fuzz_daemon {
	inproc d;                /* d.svc, d.defs, d.env */
	peer peers[4];           /* by fuzz_role: root, "lumen", "webshop", an unknown user */
} fuzz_daemon;

/* Aborts when the environment (not the input) fails. */
void fuzz_daemon_start(fuzz_daemon *d);
/* Aborts unless store_verify finds the store's invariants intact. */
void fuzz_daemon_verify(fuzz_daemon *fd);
/* Closes everything and removes the store's files. */
void fuzz_daemon_stop(fuzz_daemon *d);
