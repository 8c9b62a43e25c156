#include <stdio.h>
#include <string.h>
#include "lib/base/jsonw.h"

/* text_buf_put without the call when it fits (the common case) */
static inline void put(jsonw *w, const char *s, size_t n) {
	text_buf *b = &w->b;
	if (b->n + n + 1 > b->cap) {
		text_buf_put(b, s, n);
		return;
	}
	memcpy(b->s + b->n, s, n);
	b->n += n;
	b->s[b->n] = '\0';
}

/* The comma before a value, unless it follows its key or opens its level. */
static void value_begin(jsonw *w) {
	if (w->after_key)
		w->after_key = false;
	else if (w->comma)
		put(w, ",", 1);
	w->comma = true;
}

void jsonw_obj_open(jsonw *w) {
	value_begin(w);
	put(w, "{", 1);
	w->comma = false;
}

void jsonw_obj_close(jsonw *w) {
	put(w, "}", 1);
	w->comma = true;
}

void jsonw_arr_open(jsonw *w) {
	value_begin(w);
	put(w, "[", 1);
	w->comma = false;
}

void jsonw_arr_close(jsonw *w) {
	put(w, "]", 1);
	w->comma = true;
}

/* s[0, n) between quotes, escaped as jansson escapes it (see the header). */
static void put_string(jsonw *w, const char *s, size_t n) {
	put(w, "\"", 1);
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char) s[i];
		if (ch >= 0x20 && ch != '"' && ch != '\\')
			continue;
		put(w, s + run, i - run);
		run = i + 1;
		char seq[8];
		const char *e = seq;
		size_t len = 2;
		switch (ch) {
		case '"': e = "\\\""; break;
		case '\\': e = "\\\\"; break;
		case '\b': e = "\\b"; break;
		case '\f': e = "\\f"; break;
		case '\n': e = "\\n"; break;
		case '\r': e = "\\r"; break;
		case '\t': e = "\\t"; break;
		default:
			snprintf(seq, sizeof(seq), "\\u%04X", (unsigned) ch);
			len = 6;
		}
		put(w, e, len);
	}
	put(w, s + run, n - run);
	put(w, "\"", 1);
}

void jsonw_key(jsonw *w, const char *k) {
	if (w->comma)
		put(w, ",", 1);
	put_string(w, k, strlen(k));
	put(w, ":", 1);
	w->comma = true;
	w->after_key = true;
}

void jsonw_strn(jsonw *w, const char *s, size_t n) {
	value_begin(w);
	put_string(w, s, n);
}

void jsonw_str(jsonw *w, const char *s) {
	if (!s)
		jsonw_null(w);
	else
		jsonw_strn(w, s, strlen(s));
}

void jsonw_null(jsonw *w) {
	value_begin(w);
	put(w, "null", 4);
}

void jsonw_bool(jsonw *w, bool v) {
	value_begin(w);
	put(w, v ? "true" : "false", v ? 4 : 5);
}

void jsonw_int(jsonw *w, int64_t v) {
	char num[24], *p = num + sizeof(num);
	uint64_t u = v < 0 ? (uint64_t) 0 - (uint64_t) v : (uint64_t) v;
	do {
		*--p = (char) ('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	value_begin(w);
	put(w, p, (size_t) (num + sizeof(num) - p));
}

void jsonw_raw(jsonw *w, const char *json, size_t n) {
	value_begin(w);
	put(w, json, n);
}

void jsonw_kstr(jsonw *w, const char *k, const char *s) {
	jsonw_key(w, k);
	jsonw_str(w, s);
}

void jsonw_kint(jsonw *w, const char *k, int64_t v) {
	jsonw_key(w, k);
	jsonw_int(w, v);
}

void jsonw_reset(jsonw *w) {
	w->b.n = 0;
	if (w->b.s)
		w->b.s[0] = '\0';
	w->comma = w->after_key = false;
}
