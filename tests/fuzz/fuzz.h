/* fuzz: what every harness shares. A harness defines LLVMFuzzerTestOneInput();
 * linked with clang's -fsanitize=fuzzer it is a libFuzzer target, linked with
 * fuzz-main.c it replays its corpus as an ordinary test. Harnesses check
 * invariants with FUZZ_CHECK, which aborts with the reason, so that libFuzzer
 * and the replay test both report the input as a crash. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

__attribute__((noreturn, format(printf, 4, 5)))
void fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...);

#define FUZZ_CHECK(cond, ...) \
	do { if (!(cond)) fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__); } while (0)

/* A NUL-terminated copy of data (embedded NULs kept); aborts on ENOMEM. */
char *fuzz_strndup(const uint8_t *data, size_t size);
/* The environment's now for every harness: 2027-01-15T09:00:00Z. */
#define FUZZ_NOW INT64_C(1800003600)
/* rule_count is exact over spans shorter than this (rule.h: gaps are not looked
 * for over ranges beyond 1,000 years): 900 years of seconds. */
#define FUZZ_EXACT_SPAN (INT64_C(900) * 365 * 86400)
