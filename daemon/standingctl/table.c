#include <stdlib.h>
#include <string.h>
#include "daemon/standingctl/table.h"
#include "lib/base/text.h"

struct table {
	int ncols;
	size_t nrows, cap;
	char **cells;   /* row-major, row 0 = headers */
};

/* Cells are shown escaped (text.h): a control character that reached old state
 * must not steer the terminal or break the alignment. */
static char *xstrdup(const char *s) {
	char *p = text_escape_terminal(s ? s : "");
	if (!p)
		abort();
	return p;
}

/* Columns are counted in code points: every script our customers use (Finnish,
 * Latvian, Norwegian, precomposed Vietnamese) is one column per code point. */
static size_t width(const char *s) {
	size_t w = 0;
	for (; *s; s++)
		if (((unsigned char) *s & 0xC0) != 0x80)
			w++;
	return w;
}

table *table_new(int ncols, const char *const *headers) {
	table *t = calloc(1, sizeof(*t));
	if (!t)
		abort();
	t->ncols = ncols;
	table_row(t, headers);
	return t;
}

void table_row(table *t, const char *const *cells) {
	if (t->nrows == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->cells = realloc(t->cells, t->cap * t->ncols * sizeof(char *));
		if (!t->cells)
			abort();
	}
	for (int c = 0; c < t->ncols; c++)
		t->cells[t->nrows * t->ncols + c] = xstrdup(cells[c]);
	t->nrows++;
}

void table_print(const table *t, FILE *f) {
	size_t *w = calloc(t->ncols, sizeof(*w));
	if (!w)
		abort();
	for (size_t r = 0; r < t->nrows; r++)
		for (int c = 0; c < t->ncols; c++) {
			size_t cw = width(t->cells[r * t->ncols + c]);
			if (cw > w[c])
				w[c] = cw;
		}
	for (size_t r = 0; r < t->nrows; r++) {
		for (int c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];
			fputs(s, f);
			if (c + 1 < t->ncols)
				for (size_t pad = width(s); pad < w[c] + 2; pad++)
					fputc(' ', f);
		}
		fputc('\n', f);
	}
	free(w);
}

void table_free(table *t) {
	if (!t)
		return;
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}
