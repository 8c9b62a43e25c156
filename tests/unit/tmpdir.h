/* tmpdir: removes a unit test's temporary directory tree (stores, config files)
 * at teardown, one helper for every test that makes one with mkdtemp. */
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
