/* yaml_parse: libyaml alone over the given files, every event pulled with
 * yaml_parser_parse and dropped; prints "EVENTS BYTES SECONDS" (wall time of the
 * parse, the files' reading included, as standingd reads them). bench/run's
 * comparison for a first start from YAML (issue 12, target 2: at most 1.3x this). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <yaml.h>

static double now_s(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
	if (argc < 2) {
		fputs("usage: yaml_parse FILE...\n", stderr);
		return 2;
	}
	uint64_t events = 0, bytes = 0;
	double t0 = now_s();
	for (int i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		if (!f) {
			perror(argv[i]);
			return 1;
		}
		yaml_parser_t p;
		if (!yaml_parser_initialize(&p)) {
			fputs("yaml_parse: out of memory\n", stderr);
			return 1;
		}
		yaml_parser_set_input_file(&p, f);
		for (;;) {
			yaml_event_t ev;
			if (!yaml_parser_parse(&p, &ev)) {
				fprintf(stderr, "yaml_parse: %s: %s\n", argv[i], p.problem ? p.problem : "error");
				return 1;
			}
			yaml_event_type_t type = ev.type;
			yaml_event_delete(&ev);
			events++;
			if (type == YAML_STREAM_END_EVENT)
				break;
		}
		bytes += (uint64_t) ftell(f);
		yaml_parser_delete(&p);
		fclose(f);
	}
	printf("%llu %llu %.6f\n", (unsigned long long) events, (unsigned long long) bytes, now_s() - t0);
	return 0;
}
