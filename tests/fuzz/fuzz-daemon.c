#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz-daemon.h"

#define SELF_UID 39999

static defs_file *conf_files;
static size_t n_conf_files;
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
	/* tmpfs when there is one: a store per input, as fast as possible */
	const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
	snprintf(base_dir, sizeof(base_dir), "%s/standingd-fuzz-XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(base_dir))
		die("mkdtemp", -errno);
	atexit(remove_base);
}

void fuzz_daemon_start(fuzz_daemon *fd) {
	setup_once();
	memset(fd, 0, sizeof(*fd));
	char dir[256];
	snprintf(dir, sizeof(dir), "%s/%u", base_dir, serial++);
	inproc_options o = { .files = conf_files, .n_files = n_conf_files, .now = FUZZ_NOW, .self_uid = SELF_UID };
	int r = inproc_start(&fd->d, dir, &o, NULL);
	if (r < 0)
		die("starting on conf/", r);
	inproc_peer(&fd->peers[FUZZ_OPS], 0, "root", NULL);
	inproc_peer(&fd->peers[FUZZ_SUPPLIER], 40001, "lumen", NULL);
	inproc_peer(&fd->peers[FUZZ_SHOP], 40002, "webshop", NULL);
	inproc_peer(&fd->peers[FUZZ_NOBODY], 40003, "fuzz-nobody", NULL);
}

void fuzz_daemon_verify(fuzz_daemon *fd) {
	diag_list diags = { 0 };
	int r = store_verify(fd->d.store, &diags);
	for (size_t i = 0; r < 0 && i < diags.n; i++)
		fprintf(stderr, "store_verify: %s\n", diags.v[i].msg);
	FUZZ_CHECK(r == 0, "store_verify: %d (%zu violations)", r, diags.n);
	diag_list_clear(&diags);
}

void fuzz_daemon_stop(fuzz_daemon *fd) {
	int r = inproc_stop(&fd->d);
	if (r < 0) {
		/* whatever else the store keeps there: say so once, the input is not at fault */
		static bool warned;
		if (!warned)
			fprintf(stderr, "fuzz-daemon: a store directory not removed: %s\n", strerror(-r));
		warned = true;
	}
	memset(fd, 0, sizeof(*fd));
}
