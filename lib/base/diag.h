/* diag: errors a person must read (definitions, requests, command lines).
 * A diag list collects every error of one validation run with its location;
 * lib/ never prints, it fills a list and the caller decides what to do. */
#pragma once
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct diag {
	char *file;     /* relative to the config dir, or a field path for API input; may be NULL */
	int line, col;  /* 1-based; 0 when unknown */
	char *msg;
} diag;

typedef struct diag_list {
	diag *v;
	size_t n, cap;
	bool oom;       /* a diag was dropped for lack of memory: the caller answers -ENOMEM */
} diag_list;

/* 0, or -ENOMEM: the diag is dropped and the list marked (oom); never aborts. */
int diag_add(diag_list *l, const char *file, int line, int col, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
int diag_vadd(diag_list *l, const char *file, int line, int col, const char *fmt, va_list ap);
/* Sort by file, line, column (stable), so output order is independent of load order. */
void diag_sort(diag_list *l);
/* "FILE:LINE:COL: message" into a fresh malloc'd string; NULL when out of memory. */
char *diag_format(const diag *d);
void diag_list_clear(diag_list *l);
