/* jsonw: JSON written straight into a growing output string (text_buf), for replies
 * that are too large or too frequent to build as jansson trees first. Compact, the
 * bytes jansson's json_dumps(JSON_COMPACT) gives for the same values written in the
 * same order: strings are escaped exactly as jansson escapes them (", \, and the C0
 * controls: \b \f \n \r \t, the others as \u00XX with upper-case hex; everything
 * else, '/', DEL, C1 and non-ASCII UTF-8, as it is). Strings must be UTF-8 (the
 * parsers and the text rule have checked them). Commas are placed by the writer;
 * the caller only opens, names and closes. Out of memory marks the buffer
 * (text_buf.oom): check once at the end. Start from { 0 }. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "lib/base/text.h"

typedef struct jsonw {
	text_buf b;
	bool comma;       /* a value was written at this level: the next one needs a comma */
	bool after_key;   /* a key was written: its value follows without one */
} jsonw;

void jsonw_obj_open(jsonw *w);
void jsonw_obj_close(jsonw *w);
void jsonw_arr_open(jsonw *w);
void jsonw_arr_close(jsonw *w);
/* An object's key; its value is the next thing written. */
void jsonw_keyn(jsonw *w, const char *k, size_t n);
static inline void jsonw_key(jsonw *w, const char *k) {
	jsonw_keyn(w, k, strlen(k));   /* a literal's length is known when compiling */
}
/* A string value; NULL writes null. */
void jsonw_str(jsonw *w, const char *s);
void jsonw_strn(jsonw *w, const char *s, size_t n);
void jsonw_null(jsonw *w);
void jsonw_bool(jsonw *w, bool v);
void jsonw_int(jsonw *w, int64_t v);
/* Text that already is one JSON value (an encoded item): written as it is. */
void jsonw_raw(jsonw *w, const char *json, size_t n);
/* key and value in one call */
static inline void jsonw_kstr(jsonw *w, const char *k, const char *s) {
	jsonw_key(w, k);
	jsonw_str(w, s);
}
void jsonw_kint(jsonw *w, const char *k, int64_t v);
