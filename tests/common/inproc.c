#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tests/common/inproc.h"

/* standingd's install(): engine_apply, then set becomes the running one. Takes set
 * (unless it is the base) and the arrays that are not NULL. */
static int install(inproc *d, defs *set, defs_file *yaml, size_t ny, defs_file *api, size_t na) {
	engine_sources src = { .files = yaml, .n_files = ny, .api = api, .n_api = na, .now = d->now };
	int r = engine_apply(d->engine, set, &src);   /* the store grows a full map itself */
	if (r < 0) {
		if (set != d->base)
			defs_free(set);
		defs_files_free(yaml, ny);
		defs_files_free(api, na);
		return r;
	}
	if (d->defs != d->base)
		defs_free(d->defs);
	d->defs = set;
	d->env.defs = set;
	d->env.defs_generation++;
	if (yaml) {
		defs_files_free(d->yaml, d->n_yaml);
		d->yaml = yaml;
		d->n_yaml = ny;
	}
	if (api) {
		defs_files_free(d->api, d->n_api);
		d->api = api;
		d->n_api = na;
	}
	return 0;
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

static int cb_reload(void *ud, diag_list *diags) {
	inproc *d = ud;
	defs_file *files = NULL;
	size_t n = 0;
	int r = d->conf_dir[0] ? defs_read_dir(d->conf_dir, &files, &n, diags)
			       : defs_files_dup(d->yaml, d->n_yaml, &files);
	if (!d->conf_dir[0])
		n = d->n_yaml;
	defs *set = NULL;
	if (r == 0)
		r = defs_load_with_api(files, n, d->api, d->n_api, NULL, &set, diags);
	if (r < 0) {
		if (!diags->n)
			diag_add(diags, d->conf_dir, 0, 0, "cannot load the definitions: %s", strerror(-r));
		defs_files_free(files, n);
		return -EINVAL;
	}
	if ((r = install(d, set, files, n, NULL, 0)) < 0) {
		diag_add(diags, d->dir, 0, 0, "cannot store the definitions: %s", strerror(-r));
		return -EINVAL;
	}
	r = inproc_run_due(d);
	return r < 0 ? r : 0;
}

static int cb_apply(void *ud, const char *id, const char *json, diag_list *diags) {
	inproc *d = ud;
	defs_file *api;
	size_t n;
	int r = defs_api_files_with(d->api, d->n_api, id, json, &api, &n);
	if (r < 0)
		return r;
	defs *set;
	if ((r = defs_load_with_api(d->yaml, d->n_yaml, api, n, NULL, &set, diags)) < 0) {
		defs_files_free(api, n);
		return r;
	}
	if ((r = install(d, set, NULL, 0, api, n)) < 0)
		return r;
	r = inproc_run_due(d);
	return r < 0 ? r : 0;
}

int inproc_start(inproc *d, const char *dir, const inproc_options *o, diag_list *diags) {
	diag_list scratch = { 0 };
	if (!diags)
		diags = &scratch;
	memset(d, 0, sizeof(*d));
	snprintf(d->dir, sizeof(d->dir), "%s", dir);
	snprintf(d->conf_dir, sizeof(d->conf_dir), "%s", o->conf_dir ? o->conf_dir : "");
	d->now = o->now;
	d->base = o->base;
	defs_file *yaml = NULL, *api = NULL;
	size_t ny = o->n_files;
	defs *set = (defs *) o->base;
	int r = o->conf_dir ? defs_read_dir(o->conf_dir, &yaml, &ny, diags) : defs_files_dup(o->files, ny, &yaml);
	if (r == 0 && !set)
		r = defs_load_with_api(yaml, ny, NULL, 0, NULL, &set, diags);
	if (r == 0)
		r = defs_files_dup(NULL, 0, &api);
	if (r < 0) {
		defs_files_free(yaml, ny);
		diag_list_clear(&scratch);
		return r;
	}
	if ((r = store_open(d->dir, NULL, &d->store)) < 0 ||
	    (r = engine_new(d->store, &(engine_hooks) { 0 }, &d->engine)) < 0) {
		if (set != d->base)
			defs_free(set);
		defs_files_free(yaml, ny);
		defs_files_free(api, 0);
		inproc_stop(d);
		return r;
	}
	if ((r = install(d, set, yaml, ny, api, 0)) < 0 || (r = inproc_run_due(d)) < 0) {
		inproc_stop(d);
		return r;
	}
	d->env = (api_env) {
		.defs = d->defs, .store = d->store, .engine = d->engine, .self_uid = o->self_uid,
		.now = cb_now, .reload = cb_reload, .apply_api_order = cb_apply, .ud = d,
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
	if (d->defs != d->base)
		defs_free(d->defs);
	defs_files_free(d->yaml, d->n_yaml);
	defs_files_free(d->api, d->n_api);
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
