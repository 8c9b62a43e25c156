#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include "bench/benchdefs.h"
#include "bench/benchutil.h"

defs *bench_defs_load(const char *config, size_t config_len, const char *orders, size_t orders_len) {
	defs_file files[2] = {
		{ (char *) "standingd.yaml", (char *) config, config_len },
		{ (char *) "orders.d/bench.yaml", (char *) orders, orders_len },
	};
	diag_list dl = { 0 };
	defs *d = NULL;
	if (defs_load_files(files, 2, NULL, &d, &dl) < 0) {
		for (size_t i = 0; i < dl.n && i < 10; i++) {
			char *s = diag_format(&dl.v[i]);
			fprintf(stderr, "%s: %s\n", program_invocation_short_name, s ? s : "?");
			free(s);
		}
		die("the generated definitions do not validate (%zu errors)", dl.n);
	}
	diag_list_clear(&dl);
	return d;
}
