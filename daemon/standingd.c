/* standingd: the standing-order daemon. Thin wiring over lib/. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"
#include "defs.h"

static void usage(FILE *f) {
	fprintf(f,
		"Usage: standingd --conf DIR [--state DIR] [--socket PATH] [--test-clock START[,SPEED]]\n"
		"       standingd --check --conf DIR\n"
		"\n"
		"  --conf DIR          configuration directory: standingd.yaml and orders.d/*.yaml\n"
		"  --check             validate the definitions, print OK or every error, and exit\n"
		"  -h, --help          this help\n"
		"  --version           print the version\n");
}

int main(int argc, char **argv) {
	static const struct option opts[] = {
		{ "conf", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	const char *conf = NULL;
	int check = 0, c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': conf = optarg; break;
		case 'k': check = 1; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("standingd %s\n", STANDINGD_VERSION); return 0;
		default:
			fprintf(stderr, "standingd: unknown option '%s'\nTry 'standingd --help'.\n", argv[optind - 1]);
			return 2;
		}
	}
	if (!conf) {
		fprintf(stderr, "standingd: --conf DIR is required\nTry 'standingd --help'.\n");
		return 2;
	}
	diag_list diags = { 0 };
	defs *d = NULL;
	int r = defs_load(conf, NULL, &d, &diags);
	for (size_t i = 0; i < diags.n; i++) {
		char *s = diag_format(&diags.v[i]);
		printf("%s\n", s);
		free(s);
	}
	diag_list_clear(&diags);
	if (r < 0)
		return 1;
	if (check)
		printf("OK: %zu customers, %zu standing orders\n", d->n_customers, d->n_orders);
	defs_free(d);
	return 0;
}
