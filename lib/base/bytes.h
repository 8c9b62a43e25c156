/* bytes: the compact records' encoding (issue 12, doc/store.md): a growing byte
 * buffer and a bounds-checked reader, with LEB128 varints (unsigned, and zigzag
 * for signed values) and length-prefixed UTF-8 strings. A varint has exactly one
 * spelling (the shortest); a string is never NUL inside and always well-formed
 * UTF-8. Both sides fail sticky: the writer on memory (failed), the reader on
 * anything it cannot take (bad): check once at the end. Header only. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "lib/base/text.h"

typedef struct bytes_buf {
	unsigned char *p;
	size_t n, cap;
	bool heap;      /* p is malloc'd (else the caller's initial buffer) */
	bool failed;    /* out of memory: the contents are incomplete */
} bytes_buf;

/* Starts on the caller's buffer (may be NULL, 0); grows on the heap past it. */
static inline void bytes_init(bytes_buf *b, void *initial, size_t cap) {
	*b = (bytes_buf) { .p = initial, .cap = initial ? cap : 0 };
}

static inline void bytes_free(bytes_buf *b) {
	if (b->heap)
		free(b->p);
	b->p = NULL;
	b->n = b->cap = 0;
	b->heap = false;
}

static inline bool bytes_room(bytes_buf *b, size_t more) {
	if (b->failed)
		return false;
	if (b->cap - b->n >= more)
		return true;
	size_t cap = b->cap ? b->cap * 2 : 128;
	while (cap - b->n < more)
		cap *= 2;
	unsigned char *p = b->heap ? realloc(b->p, cap) : malloc(cap);
	if (!p) {
		b->failed = true;
		return false;
	}
	if (!b->heap && b->n)
		memcpy(p, b->p, b->n);
	b->p = p;
	b->cap = cap;
	b->heap = true;
	return true;
}

static inline void bytes_put(bytes_buf *b, const void *p, size_t n) {
	if (n && bytes_room(b, n)) {
		memcpy(b->p + b->n, p, n);
		b->n += n;
	}
}

static inline void bytes_u8(bytes_buf *b, unsigned v) {
	if (bytes_room(b, 1))
		b->p[b->n++] = (unsigned char) v;
}

static inline void bytes_uv(bytes_buf *b, uint64_t v) {
	if (!bytes_room(b, 10))
		return;
	while (v >= 0x80) {
		b->p[b->n++] = (unsigned char) (v | 0x80);
		v >>= 7;
	}
	b->p[b->n++] = (unsigned char) v;
}

static inline uint64_t bytes_zigzag(int64_t v) {
	return ((uint64_t) v << 1) ^ (uint64_t) (v >> 63);
}

static inline void bytes_sv(bytes_buf *b, int64_t v) {
	bytes_uv(b, bytes_zigzag(v));
}

/* A string: its length, then its bytes (no NUL). */
static inline void bytes_str(bytes_buf *b, const char *s) {
	size_t n = strlen(s);
	bytes_uv(b, n);
	bytes_put(b, s, n);
}

/* A string that may be NULL: 0 for NULL, else length + 1, then its bytes. */
static inline void bytes_ostr(bytes_buf *b, const char *s) {
	if (!s) {
		bytes_u8(b, 0);
		return;
	}
	size_t n = strlen(s);
	bytes_uv(b, (uint64_t) n + 1);
	bytes_put(b, s, n);
}

/* ---- reading ---- */

typedef struct bytes_rd {
	const unsigned char *p, *end;
	bool bad;
	bool nomem;     /* bad because a string could not be allocated */
} bytes_rd;

static inline bytes_rd bytes_reader(const void *p, size_t n) {
	return (bytes_rd) { .p = p, .end = (const unsigned char *) p + n };
}

/* Everything read and nothing wrong. */
static inline bool bytes_done(const bytes_rd *r) {
	return !r->bad && r->p == r->end;
}

static inline unsigned bytes_get_u8(bytes_rd *r) {
	if (r->bad || r->p == r->end) {
		r->bad = true;
		return 0;
	}
	return *r->p++;
}

static inline uint64_t bytes_get_uv(bytes_rd *r) {
	uint64_t v = 0;
	for (unsigned shift = 0; !r->bad; shift += 7) {
		if (r->p == r->end || shift > 63) {
			r->bad = true;
			break;
		}
		unsigned c = *r->p++;
		/* the tenth byte holds bit 63 only; a last byte 0 after others is an overlong spelling */
		if ((shift == 63 && c > 1) || (shift && c == 0)) {
			r->bad = true;
			break;
		}
		v |= (uint64_t) (c & 0x7f) << shift;
		if (!(c & 0x80))
			return v;
	}
	return 0;
}

static inline int64_t bytes_get_sv(bytes_rd *r) {
	uint64_t u = bytes_get_uv(r);
	return (int64_t) (u >> 1) ^ -(int64_t) (u & 1);
}

/* n bytes as a new NUL-terminated string: no NUL inside, well-formed UTF-8. */
static inline char *bytes_get_n(bytes_rd *r, uint64_t n) {
	if (r->bad || n > (uint64_t) (r->end - r->p)) {
		r->bad = true;
		return NULL;
	}
	const char *s = (const char *) r->p;
	if (memchr(s, 0, (size_t) n) || text_utf8_prefix(s, (size_t) n) != (size_t) n) {
		r->bad = true;
		return NULL;
	}
	char *c = malloc((size_t) n + 1);
	if (!c) {
		r->bad = r->nomem = true;
		return NULL;
	}
	memcpy(c, s, (size_t) n);
	c[n] = 0;
	r->p += n;
	return c;
}

static inline char *bytes_get_str(bytes_rd *r) {
	return bytes_get_n(r, bytes_get_uv(r));
}

/* *ret NULL for a NULL string; false when the reader failed. */
static inline bool bytes_get_ostr(bytes_rd *r, char **ret) {
	uint64_t n = bytes_get_uv(r);
	*ret = NULL;
	if (r->bad)
		return false;
	if (n == 0)
		return true;
	*ret = bytes_get_n(r, n - 1);
	return *ret != NULL;
}

/* A string into a fixed buffer of size cap (NUL included). */
static inline void bytes_get_fixed(bytes_rd *r, char *buf, size_t cap) {
	uint64_t n = bytes_get_uv(r);
	if (r->bad || n >= cap) {
		r->bad = true;
		return;
	}
	char *s = bytes_get_n(r, n);
	if (s) {
		memcpy(buf, s, (size_t) n + 1);
		free(s);
	}
}

/* Room for n elements of size bytes read from r, each taking at least min_bytes
 * there: calloc'd; NULL for n 0 or when r fails (a count past what is left is
 * damage, so a damaged count never allocates much). */
static inline void *bytes_get_array(bytes_rd *r, uint64_t n, size_t min_bytes, size_t size) {
	if (r->bad || n == 0)
		return NULL;
	if (n > (uint64_t) (r->end - r->p) / min_bytes) {
		r->bad = true;
		return NULL;
	}
	void *p = calloc((size_t) n, size);
	if (!p)
		r->bad = r->nomem = true;
	return p;
}
