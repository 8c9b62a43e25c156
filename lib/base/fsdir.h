/* fsdir: directories the programs create (state, socket): one mkdir -p for both
 * the store and the daemon, so the modes are decided in one place. */
#pragma once
#include <sys/types.h>

/* Creates dir and every missing parent: parents 0755 (like mkdir -p), dir itself
 * with mode (both less the umask); an existing dir is left as it is. 0; -ENOTDIR
 * when dir exists and is not a directory; -ENOMEM; another negative errno. */
int fsdir_make(const char *dir, mode_t mode);
