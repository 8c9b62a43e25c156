#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "lib/base/jsonw.h"

/* The comma before a value, unless it follows its key or opens its level. */
static void value_begin(jsonw *w) {
	if (w->after_key)
		w->after_key = false;
	else if (w->comma)
		text_buf_put(&w->b, ",", 1);
	w->comma = true;
}

void jsonw_obj_open(jsonw *w) {
	value_begin(w);
	text_buf_put(&w->b, "{", 1);
	w->comma = false;
}

void jsonw_obj_close(jsonw *w) {
	text_buf_put(&w->b, "}", 1);
	w->comma = true;
}

void jsonw_arr_open(jsonw *w) {
	value_begin(w);
	text_buf_put(&w->b, "[", 1);
	w->comma = false;
}

void jsonw_arr_close(jsonw *w) {
	text_buf_put(&w->b, "]", 1);
	w->comma = true;
}

/* s[0, n) between quotes, escaped as jansson escapes it (see the header). */
static void put_string(jsonw *w, const char *s, size_t n) {
	text_buf_put(&w->b, "\"", 1);
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char) s[i];
		if (ch >= 0x20 && ch != '"' && ch != '\\')
			continue;
		text_buf_put(&w->b, s + run, i - run);
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
		text_buf_put(&w->b, e, len);
	}
	text_buf_put(&w->b, s + run, n - run);
	text_buf_put(&w->b, "\"", 1);
}

void jsonw_key(jsonw *w, const char *k) {
	if (w->comma)
		text_buf_put(&w->b, ",", 1);
	put_string(w, k, strlen(k));
	text_buf_put(&w->b, ":", 1);
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
	text_buf_put(&w->b, "null", 4);
}

void jsonw_bool(jsonw *w, bool v) {
	value_begin(w);
	text_buf_put(&w->b, v ? "true" : "false", v ? 4 : 5);
}

void jsonw_int(jsonw *w, int64_t v) {
	char num[24];
	int n = snprintf(num, sizeof(num), "%" PRId64, v);
	value_begin(w);
	text_buf_put(&w->b, num, (size_t) n);
}

void jsonw_raw(jsonw *w, const char *json, size_t n) {
	value_begin(w);
	text_buf_put(&w->b, json, n);
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
