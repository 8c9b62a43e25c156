#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz-daemon.h"

#define SELF_UID 39999

static defs_file *conf_files;
static size_t n_conf_files;
static defs *conf_defs;   /* conf/ loaded once: every daemon starts on it, none frees it */
static char base_dir[200];
static unsigned serial;

static void die(const char *what, int r) {
	fprintf(stderr, "fuzz-daemon: %s: %s\n", what, strerror(r < 0 ? -r : r));
	abort();
}

static void remove_base(void) {
	rmdir(base_dir);
}

static void setup_once(void) {
	if (conf_files)
		return;
	diag_list diags = { 0 };
	int r = defs_read_dir(SRCDIR "/conf", &conf_files, &n_conf_files, &diags);
	diag_list_clear(&diags);
	if (r < 0)
		die("reading " SRCDIR "/conf", r);
	if ((r = defs_load_with_api(conf_files, n_conf_files, NULL, 0, NULL, &conf_defs, &diags)) < 0)
		die("loading conf/", r);
	diag_list_clear(&diags);
	/* tmpfs when there is one: a store per input, as fast as possible */
	const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
	snprintf(base_dir, sizeof(base_dir), "%s/standingd-fuzz-XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(base_dir))
		die("mkdtemp", -errno);
	atexit(remove_base);
}

/* The daemon's install(): engine_apply, then d becomes current. Takes d and api. */
static int install(fuzz_daemon *fd, defs *d, defs_file *api, size_t na) {
	engine_sources src = { .files = conf_files, .n_files = n_conf_files, .api = api, .n_api = na,
				.now = FUZZ_NOW };
	int r = engine_apply(fd->engine, d, &src);   /* the store grows a full map itself */
	if (r < 0) {
		if (d != conf_defs)
			defs_free(d);
		defs_files_free(api, na);
		return r;
	}
	if (fd->defs != conf_defs)
		defs_free(fd->defs);
	fd->defs = d;
	fd->env.defs = d;
	if (api) {
		defs_files_free(fd->api, fd->n_api);
		fd->api = api;
		fd->n_api = na;
	}
	return 0;
}

static void run_due(fuzz_daemon *fd) {
	int r = engine_run(fd->engine, FUZZ_NOW, 1);
	FUZZ_CHECK(r >= 0, "engine_run: %s", strerror(-r));
}

static int64_t cb_now(void *ud) {
	(void) ud;
	return FUZZ_NOW;
}

static int cb_reload(void *ud, diag_list *diags) {
	fuzz_daemon *fd = ud;
	defs *d;
	int r = defs_load_with_api(conf_files, n_conf_files, fd->api, fd->n_api, NULL, &d, diags);
	if (r == 0 && (r = install(fd, d, NULL, 0)) == 0)
		run_due(fd);
	return r;
}

static int cb_apply(void *ud, const char *id, const char *json, diag_list *diags) {
	fuzz_daemon *fd = ud;
	defs_file *api;
	size_t n;
	int r = defs_api_files_with(fd->api, fd->n_api, id, json, &api, &n);
	if (r < 0)
		return r;
	defs *d;
	if ((r = defs_load_with_api(conf_files, n_conf_files, api, n, NULL, &d, diags)) < 0) {
		defs_files_free(api, n);
		return r;
	}
	if ((r = install(fd, d, api, n)) < 0)
		return r;
	run_due(fd);
	return 0;
}

static void set_peer(peer *p, uid_t uid, const char *user) {
	memset(p, 0, sizeof(*p));
	p->pid = 1;
	p->uid = uid;
	p->gid = uid;
	snprintf(p->user, sizeof(p->user), "%s", user);
}

void fuzz_daemon_start(fuzz_daemon *fd) {
	setup_once();
	memset(fd, 0, sizeof(*fd));
	snprintf(fd->dir, sizeof(fd->dir), "%s/%u", base_dir, serial++);
	int r = store_open(fd->dir, 0, &fd->store);
	if (r < 0)
		die("store_open", r);
	if ((r = engine_new(fd->store, &(engine_hooks) { 0 }, &fd->engine)) < 0)
		die("engine_new", r);
	defs_file *api;
	if ((r = defs_files_dup(NULL, 0, &api)) < 0 || (r = install(fd, conf_defs, api, 0)) < 0)
		die("installing conf/", r);
	run_due(fd);
	fd->env = (api_env) {
		.defs = fd->defs, .store = fd->store, .engine = fd->engine, .self_uid = SELF_UID,
		.now = cb_now, .reload = cb_reload, .apply_api_order = cb_apply, .ud = fd,
	};
	fd->svc = vl_service_new("standingd", "standingd fuzz", "0", "https://standingd.example/");
	if (!fd->svc || (r = api_register(fd->svc, &fd->env)) < 0)
		die("api_register", r ? r : -ENOMEM);
	set_peer(&fd->peers[FUZZ_OPS], 0, "root");
	set_peer(&fd->peers[FUZZ_SUPPLIER], 40001, "lumen");
	set_peer(&fd->peers[FUZZ_SHOP], 40002, "webshop");
	set_peer(&fd->peers[FUZZ_NOBODY], 40003, "fuzz-nobody");
}

void fuzz_daemon_verify(fuzz_daemon *fd) {
	diag_list diags = { 0 };
	int r = store_verify(fd->store, &diags);
	for (size_t i = 0; r < 0 && i < diags.n; i++)
		fprintf(stderr, "store_verify: %s\n", diags.v[i].msg);
	FUZZ_CHECK(r == 0, "store_verify: %d (%zu violations)", r, diags.n);
	diag_list_clear(&diags);
}

void fuzz_daemon_stop(fuzz_daemon *fd) {
	vl_service_free(fd->svc);
	engine_free(fd->engine);
	store_close(fd->store);
	if (fd->defs != conf_defs)
		defs_free(fd->defs);
	defs_files_free(fd->api, fd->n_api);
	DIR *dir = opendir(fd->dir);
	struct dirent *de;
	while (dir && (de = readdir(dir)))
		if (de->d_name[0] != '.')
			unlinkat(dirfd(dir), de->d_name, 0);
	if (dir)
		closedir(dir);
	if (rmdir(fd->dir) < 0) {
		/* whatever else the store keeps there: say so once, the input is not at fault */
		static bool warned;
		if (!warned)
			fprintf(stderr, "fuzz-daemon: %s not removed: %s\n", fd->dir, strerror(errno));
		warned = true;
	}
	memset(fd, 0, sizeof(*fd));
}
