#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tests/common/inproc.h"

/* standingd's install(): the engine applies the catalog's candidate (storing the
 * sources that changed), then the catalog commits it; on failure it is dropped. */
static int install_also(inproc *d, int (*also)(store_txn *t, const defs *defs, void *ud), void *also_ud) {
	engine_sources src = { .now = d->now, .also = also, .also_ud = also_ud };
	catalog_pending_sources(d->cat, &src);
	int r = engine_apply(d->engine, catalog_pending(d->cat), &src);   /* the store grows a full map itself */
	if (r < 0) {
		catalog_abort(d->cat);
		return r;
	}
	catalog_commit(d->cat);
	d->defs = catalog_defs(d->cat);
	d->env.defs = d->defs;
	d->env.defs_generation++;
	return 0;
}

static int install(inproc *d) {
	return install_also(d, NULL, NULL);
}

int inproc_run_due(inproc *d) {
	int total = 0;
	int64_t at;
	/* one batch per turn, as the daemon's loop does, until nothing is due */
	for (int turn = 0; turn < 100000 && engine_next_due(d->engine, &at) == 0 && at <= d->now; turn++) {
		int r = engine_run(d->engine, d->now, 1);
		if (r < 0)
			return r;
		total += r;
	}
	return total;
}

static int64_t cb_now(void *ud) {
	return ((inproc *) ud)->now;
}

/* standingd's reload_files(): every failure is -EINVAL with a diag. */
static int cb_reload(void *ud, diag_list *diags) {
	inproc *d = ud;
	defs_file *files = NULL;
	size_t n = 0;
	int r = 0;
	if (d->conf_dir[0])
		r = defs_read_dir(d->conf_dir, &files, &n, diags);
	if (r == 0)
		r = catalog_stage(d->cat, files, n, NULL, 0, diags);
	defs_files_free(files, n);
	if (r < 0) {
		if (!diags->n)
			diag_add(diags, d->conf_dir, 0, 0, "cannot load the definitions: %s", strerror(-r));
		return -EINVAL;
	}
	if ((r = install(d)) < 0) {
		diag_add(diags, d->dir, 0, 0, "cannot store the definitions: %s", strerror(-r));
		return -EINVAL;
	}
	r = inproc_run_due(d);
	return r < 0 ? r : 0;
}

/* standingd's api_apply_order(). */
static int cb_apply_also(void *ud, const char *id, const char *json,
			 int (*also)(store_txn *t, const defs *defs, void *also_ud), void *also_ud, diag_list *diags) {
	inproc *d = ud;
	int r = catalog_stage_api_order(d->cat, id, json, diags);
	if (r < 0 || (r = install_also(d, also, also_ud)) < 0)
		return r;
	r = inproc_run_due(d);
	return r < 0 ? r : 0;
}

static int cb_apply(void *ud, const char *id, const char *json, diag_list *diags) {
	return cb_apply_also(ud, id, json, NULL, NULL, diags);
}

int inproc_start(inproc *d, const char *dir, const inproc_options *o, diag_list *diags) {
	diag_list scratch = { 0 };
	if (!diags)
		diags = &scratch;
	memset(d, 0, sizeof(*d));
	snprintf(d->dir, sizeof(d->dir), "%s", dir);
	snprintf(d->conf_dir, sizeof(d->conf_dir), "%s", o->conf_dir ? o->conf_dir : "");
	d->now = o->now;
	defs_file *files = NULL, *api = NULL;
	size_t n = 0;
	int r = o->conf_dir ? defs_read_dir(o->conf_dir, &files, &n, diags) : 0;
	if (r == 0)
		r = defs_files_dup(NULL, 0, &api);   /* no API standing orders yet */
	if (r == 0)
		r = catalog_new(NULL, &d->cat);
	if (r == 0)
		r = catalog_stage(d->cat, o->conf_dir ? files : o->files, o->conf_dir ? n : o->n_files, api, 0, diags);
	defs_files_free(files, n);
	defs_files_free(api, 0);
	diag_list_clear(&scratch);
	if (r == 0 && (r = store_open(d->dir, NULL, &d->store)) == 0 &&
	    (r = engine_new(d->store, &(engine_hooks) { 0 }, &d->engine)) == 0 && (r = install(d)) == 0)
		r = inproc_run_due(d);
	if (r < 0) {
		inproc_stop(d);
		return r;
	}
	d->env = (api_env) {
		.defs = d->defs, .store = d->store, .engine = d->engine, .self_uid = o->self_uid,
		.now = cb_now, .reload = cb_reload, .apply_api_order = cb_apply, .apply_api_order_also = cb_apply_also, .ud = d,
		.defs_generation = d->env.defs_generation,
	};
	d->svc = vl_service_new("standingd", "standingd (in-process)", "0", "https://standingd.example/");
	if (!d->svc) {
		inproc_stop(d);
		return -ENOMEM;
	}
	if ((r = api_register(d->svc, &d->env)) < 0) {
		inproc_stop(d);
		return r;
	}
	return 0;
}

void inproc_peer(peer *p, uid_t uid, const char *user, const char *const *groups) {
	memset(p, 0, sizeof(*p));
	p->pid = 1;
	p->uid = uid;
	p->gid = uid;
	snprintf(p->user, sizeof(p->user), "%s", user ? user : "");
	for (size_t i = 0; groups && groups[i] && p->n_groups < PEER_MAX_GROUPS; i++)
		if ((p->groups[p->n_groups] = strdup(groups[i])))
			p->n_groups++;
}

int inproc_stop(inproc *d) {
	vl_service_free(d->svc);
	engine_free(d->engine);
	store_close(d->store);
	if (d->cat && catalog_pending(d->cat))
		catalog_abort(d->cat);
	catalog_free(d->cat);
	DIR *dir = d->dir[0] ? opendir(d->dir) : NULL;
	struct dirent *de;
	while (dir && (de = readdir(dir)))
		if (de->d_name[0] != '.')
			unlinkat(dirfd(dir), de->d_name, 0);
	if (dir)
		closedir(dir);
	int r = d->dir[0] && rmdir(d->dir) < 0 ? -errno : 0;
	memset(d, 0, sizeof(*d));
	return r;
}
