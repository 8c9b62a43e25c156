/* inproc: the daemon's side of the socket API without a loop or a socket, for the
 * tests that drive lib/api in-process (tests/unit/test_api.c, the Varlink fuzz
 * harnesses): a store in a directory of the caller's, a definition set, an engine,
 * and io.standingd registered on a vl_service with an api_env whose callbacks do
 * what standingd's do through a catalog (lib/sched/catalog): reload re-reads the
 * definition files and stages them, PlaceStandingOrder/CancelStandingOrder stage
 * one API standing order replaced, added or removed; the candidate is applied
 * (engine_apply, then catalog_commit, defs_generation + 1) and whatever is due is
 * created. Time stands still at `now` (a test may move it and call
 * inproc_run_due). */
#pragma once
#include <stdbool.h>
#include "lib/api/api.h"
#include "lib/api/peer.h"
#include "lib/sched/catalog.h"

typedef struct inproc_options {
	/* The YAML set (files[0] standingd.yaml): read from conf_dir, which Reload
	 * re-reads as the daemon does; or, with conf_dir NULL, these files (copied by
	 * the catalog), which Reload stages again. */
	const char *conf_dir;
	const defs_file *files;
	size_t n_files;
	int64_t now;
	uid_t self_uid;
} inproc_options;

typedef struct inproc {
	char dir[256];           /* the store's */
	char conf_dir[256];      /* "" without one */
	int64_t now;
	store *store;
	engine *engine;
	catalog *cat;            /* the running set, as the daemon keeps it */
	const defs *defs;        /* catalog_defs(cat) */
	vl_service *svc;
	api_env env;
} inproc;

/* Opens a store in dir (created when missing) and installs the set. 0 or a negative
 * errno; with -EINVAL, diags (may be NULL) say why the set is invalid. */
int inproc_start(inproc *d, const char *dir, const inproc_options *o, diag_list *diags);
/* Creates every occurrence due at d->now. The number created, or a negative errno. */
int inproc_run_due(inproc *d);
/* A peer as the socket would resolve it, without a real user: groups are copied
 * (NULL-terminated list, may be NULL). */
void inproc_peer(peer *p, uid_t uid, const char *user, const char *const *groups);
/* Closes everything and removes the store's files (and dir itself). 0, or -errno
 * when something was left in dir. */
int inproc_stop(inproc *d);
