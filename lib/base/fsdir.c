#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "lib/base/fsdir.h"

int fsdir_make(const char *dir, mode_t mode) {
	if (!dir || !*dir)
		return -EINVAL;
	char *p = strdup(dir);
	if (!p)
		return -ENOMEM;
	int r = 0;
	for (char *c = p + 1; ; c++) {
		if (*c != '/' && *c)
			continue;
		char save = *c;
		*c = 0;
		/* a trailing slash ends the last component too */
		bool last = !save || !c[1];
		if (mkdir(p, last ? mode : 0755) < 0 && errno != EEXIST) {
			r = -errno;
			break;
		}
		*c = save;
		if (last)
			break;
	}
	free(p);
	if (r < 0)
		return r;
	struct stat st;
	if (stat(dir, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}
