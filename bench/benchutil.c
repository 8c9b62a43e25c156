#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "bench/benchutil.h"

void die(const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s: ", program_invocation_short_name);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

int64_t now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void text_add(bench_text *t, const char *fmt, ...) {
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int k = vsnprintf(t->s ? t->s + t->n : NULL, t->s ? t->cap - t->n : 0, fmt, ap);
		va_end(ap);
		if (k < 0)
			die("vsnprintf failed");
		if (t->s && t->n + (size_t) k < t->cap) {
			t->n += (size_t) k;
			return;
		}
		size_t cap = t->cap ? t->cap * 2 : 4096;
		while (cap < t->n + (size_t) k + 1)
			cap *= 2;
		char *s = realloc(t->s, cap);
		if (!s)
			die("out of memory");
		t->s = s;
		t->cap = cap;
	}
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
	(void) st;
	(void) type;
	(void) ftw;
	return remove(path);
}

int remove_tree(const char *dir) {
	return nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}
