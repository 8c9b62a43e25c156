/* fsdir_make: the one mkdir -p of the store and the daemon. Exact modes (umask 0):
 * missing parents 0755, the directory itself as asked; an existing directory is
 * left as it is; a file in the way is -ENOTDIR. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>
#include "lib/base/fsdir.h"
#include "tests/unit/tmpdir.h"

static mode_t mode_of(const char *path) {
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	return st.st_mode & 07777;
}

static void test_fsdir_make(void **state) {
	(void) state;
	char tmp[] = "/tmp/test_fsdir.XXXXXX", p[256];
	assert_non_null(mkdtemp(tmp));
	mode_t old = umask(0);

	snprintf(p, sizeof(p), "%s/a/b/state", tmp);
	assert_int_equal(fsdir_make(p, 0750), 0);
	assert_int_equal(mode_of(p), 0750);
	snprintf(p, sizeof(p), "%s/a/b", tmp);
	assert_int_equal(mode_of(p), 0755);
	snprintf(p, sizeof(p), "%s/a", tmp);
	assert_int_equal(mode_of(p), 0755);

	/* there already: 0, the mode left as it is */
	snprintf(p, sizeof(p), "%s/a/b/state", tmp);
	assert_int_equal(fsdir_make(p, 0700), 0);
	assert_int_equal(mode_of(p), 0750);
	/* a trailing slash names the same directory */
	snprintf(p, sizeof(p), "%s/a/c/", tmp);
	assert_int_equal(fsdir_make(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/a/c", tmp);
	assert_int_equal(mode_of(p), 0700);

	/* a file in the way, as the directory or as a parent */
	snprintf(p, sizeof(p), "%s/file", tmp);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(fsdir_make(p, 0750), -ENOTDIR);
	snprintf(p, sizeof(p), "%s/file/x", tmp);
	assert_int_equal(fsdir_make(p, 0750), -ENOTDIR);
	assert_int_equal(fsdir_make("", 0750), -EINVAL);
	assert_int_equal(fsdir_make(NULL, 0750), -EINVAL);

	umask(old);
	tmpdir_remove(tmp);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fsdir_make),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
