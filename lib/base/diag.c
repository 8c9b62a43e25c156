#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lib/base/diag.h"

int diag_vadd(diag_list *l, const char *file, int line, int col, const char *fmt, va_list ap) {
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		diag *v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			goto oom;
		l->v = v;
		l->cap = cap;
	}
	diag d = { .line = line, .col = col };
	if (file && !(d.file = strdup(file)))
		goto oom;
	if (vasprintf(&d.msg, fmt, ap) < 0) {
		free(d.file);
		goto oom;
	}
	l->v[l->n++] = d;
	return 0;
oom:
	l->oom = true;
	return -ENOMEM;
}

int diag_add(diag_list *l, const char *file, int line, int col, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	int r = diag_vadd(l, file, line, col, fmt, ap);
	va_end(ap);
	return r;
}

static int cmp(const diag *a, const diag *b) {
	int c = strcmp(a->file ? a->file : "", b->file ? b->file : "");
	if (c)
		return c;
	if (a->line != b->line)
		return a->line < b->line ? -1 : 1;
	if (a->col != b->col)
		return a->col < b->col ? -1 : 1;
	return 0;
}

void diag_sort(diag_list *l) {
	/* insertion sort: stable, and the lists are short */
	for (size_t i = 1; i < l->n; i++) {
		diag t = l->v[i];
		size_t j = i;
		while (j > 0 && cmp(&l->v[j - 1], &t) > 0) {
			l->v[j] = l->v[j - 1];
			j--;
		}
		l->v[j] = t;
	}
}

char *diag_format(const diag *d) {
	char *s;
	int r;
	if (d->file && d->line > 0)
		r = asprintf(&s, "%s:%d:%d: %s", d->file, d->line, d->col, d->msg);
	else if (d->file)
		r = asprintf(&s, "%s: %s", d->file, d->msg);
	else
		r = asprintf(&s, "%s", d->msg);
	return r < 0 ? NULL : s;
}

void diag_list_clear(diag_list *l) {
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].file);
		free(l->v[i].msg);
	}
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
	l->oom = false;
}
