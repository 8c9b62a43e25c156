/* benchutil: what every bench program needs: dying with a message, a monotonic
 * clock in ns, a growing text buffer for generated files, removing a temporary
 * tree. Bench-only; nothing in lib/ or daemon/ uses it. */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* "PROGRAM: message" on stderr, exit 1. */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
int64_t now_ns(void);                     /* CLOCK_MONOTONIC */

typedef struct text {
	char *s;
	size_t n, cap;
} bench_text;
/* Appends printf output; dies when out of memory. */
void text_add(bench_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* rm -rf dir (depth first, not following links): 0 or -1 with errno. */
int remove_tree(const char *dir);
