/* tmpdir: removes a unit test's temporary directory tree (stores, config files)
 * at teardown, one helper for every test that makes one with mkdtemp; writes a
 * file into it (tmpdir_write: include cmocka.h first). */
#pragma once
#include <ftw.h>
#include <stdio.h>

static inline int tmpdir_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
	(void) st; (void) flag; (void) ftw;
	return remove(path);
}

static inline void tmpdir_remove(const char *dir) {
	nftw(dir, tmpdir_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#ifdef cmocka_unit_test
/* DIR/name (relative, its directory made already) with text, or the test fails. */
static inline void tmpdir_write(const char *dir, const char *name, const char *text) {
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}
#endif
