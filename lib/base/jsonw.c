#include <stdint.h>
#include <stdlib.h>
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

/* Room for need bytes in all (and the NUL); false when out of memory (marked). */
static bool reserve(text_buf *b, size_t need) {
	if (need + 1 <= b->cap)
		return true;
	if (b->oom)
		return false;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need + 1)
		cap *= 2;
	char *q = realloc(b->s, cap);
	if (!q) {
		b->oom = true;
		return false;
	}
	b->s = q;
	b->cap = cap;
	return true;
}

#define ONES UINT64_C(0x0101010101010101)
/* non-zero when a byte of x is below n (n <= 128) */
#define BYTE_BELOW(x, n) (((x) - ONES * (n)) & ~(x) & (ONES * 0x80))

/* The bytes jansson escapes: the C0 controls, '"' and '\'. */
static const unsigned char needs_escape[256] = {
	[0x00] = 1, [0x01] = 1, [0x02] = 1, [0x03] = 1, [0x04] = 1, [0x05] = 1, [0x06] = 1, [0x07] = 1,
	[0x08] = 1, [0x09] = 1, [0x0a] = 1, [0x0b] = 1, [0x0c] = 1, [0x0d] = 1, [0x0e] = 1, [0x0f] = 1,
	[0x10] = 1, [0x11] = 1, [0x12] = 1, [0x13] = 1, [0x14] = 1, [0x15] = 1, [0x16] = 1, [0x17] = 1,
	[0x18] = 1, [0x19] = 1, [0x1a] = 1, [0x1b] = 1, [0x1c] = 1, [0x1d] = 1, [0x1e] = 1, [0x1f] = 1,
	['"'] = 1, ['\\'] = 1,
};

/* s[0, n) between quotes, escaped as jansson escapes it (see the header), then
 * tail (a ':' after a key, or nothing). Room for the worst case is made once. */
static void put_string(jsonw *w, const char *s, size_t n, const char *tail) {
	text_buf *b = &w->b;
	if (n > (SIZE_MAX - b->n - 8) / 6 || !reserve(b, b->n + 6 * n + 4))
		return;
	char *d = b->s + b->n;
	*d++ = '"';
	size_t i = 0;
	/* eight bytes at a time while none of them needs an escape (SWAR: a byte below
	 * 0x20, or equal to '"' or '\\'; a false alarm only takes the byte loop) */
	for (; i + 8 <= n; i += 8) {
		uint64_t x;
		memcpy(&x, s + i, 8);
		if (BYTE_BELOW(x, 0x20) | BYTE_BELOW(x ^ (ONES * '"'), 1) | BYTE_BELOW(x ^ (ONES * '\\'), 1))
			break;
		memcpy(d, &x, 8);
		d += 8;
	}
	for (; i < n; i++) {
		unsigned char ch = (unsigned char) s[i];
		if (!needs_escape[ch]) {
			*d++ = (char) ch;
			continue;
		}
		*d++ = '\\';
		switch (ch) {
		case '"': *d++ = '"'; break;
		case '\\': *d++ = '\\'; break;
		case '\b': *d++ = 'b'; break;
		case '\f': *d++ = 'f'; break;
		case '\n': *d++ = 'n'; break;
		case '\r': *d++ = 'r'; break;
		case '\t': *d++ = 't'; break;
		default:
			*d++ = 'u';
			*d++ = '0';
			*d++ = '0';
			*d++ = "0123456789ABCDEF"[ch >> 4];
			*d++ = "0123456789ABCDEF"[ch & 15];
		}
	}
	*d++ = '"';
	while (*tail)
		*d++ = *tail++;
	*d = '\0';
	b->n = (size_t) (d - b->s);
}

void jsonw_keyn(jsonw *w, const char *k, size_t n) {
	if (w->comma)
		put(w, ",", 1);
	put_string(w, k, n, ":");
	w->comma = true;
	w->after_key = true;
}

void jsonw_strn(jsonw *w, const char *s, size_t n) {
	value_begin(w);
	put_string(w, s, n, "");
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

void jsonw_kint(jsonw *w, const char *k, int64_t v) {
	jsonw_key(w, k);
	jsonw_int(w, v);
}
