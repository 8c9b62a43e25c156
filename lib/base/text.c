#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lib/base/text.h"

size_t text_utf8_seq(const char *s, size_t n, uint32_t *ret_cp) {
	const unsigned char *p = (const unsigned char *) s;
	if (n == 0)
		return 0;
	unsigned c = p[0];
	size_t k;
	uint32_t cp, least;
	if (c < 0x80) {
		k = 1; cp = c; least = 0;
	} else if (c >= 0xC2 && c <= 0xDF) {
		k = 2; cp = c & 0x1F; least = 0x80;
	} else if (c >= 0xE0 && c <= 0xEF) {
		k = 3; cp = c & 0x0F; least = 0x800;
	} else if (c >= 0xF0 && c <= 0xF4) {
		k = 4; cp = c & 0x07; least = 0x10000;
	} else
		return 0;
	if (k > n)
		return 0;
	for (size_t i = 1; i < k; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3F);
	}
	if (cp < least || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	if (ret_cp)
		*ret_cp = cp;
	return k;
}

size_t text_utf8_prefix(const char *s, size_t n) {
	size_t i = 0, k;
	for (;;) {
		/* ASCII (all of a YAML file, mostly) eight bytes at a time */
		for (uint64_t w; n - i >= 8; i += 8) {
			memcpy(&w, s + i, 8);
			if (w & UINT64_C(0x8080808080808080))
				break;
		}
		if (i >= n || (k = text_utf8_seq(s + i, n - i, NULL)) == 0)
			return i;
		i += k;
	}
}

/* The unit at p (n > 0 bytes left): its length (a UTF-8 sequence, or 1 for a
 * byte that starts none) and whether it is a control character, with its code
 * point. A byte 0x80-0x9F outside a sequence (not UTF-8: only old or hand-made
 * data) counts as one, as an 8-bit terminal would read it as C1. */
static size_t unit_at(const unsigned char *p, size_t n, bool *ctl, uint32_t *cp) {
	*ctl = false;
	if (*p < 0xc0) {
		*ctl = *p < 0x20 || (*p >= 0x7f && *p <= 0x9f);
		*cp = *p;
		return 1;
	}
	size_t k = *p < 0xe0 ? 2 : *p < 0xf0 ? 3 : 4, i = 1;
	while (i < k && i < n && (p[i] & 0xc0) == 0x80)
		i++;
	if (i == 2 && *p == 0xc2 && p[1] <= 0x9f) {
		*ctl = true;
		*cp = p[1];
	}
	return i;
}

bool text_find_control(const char *s, size_t len, size_t *ret_at, uint32_t *ret_cp) {
	const unsigned char *p = (const unsigned char *) s;
	for (size_t i = 0; i < len;) {
		bool ctl;
		uint32_t cp;
		size_t k = unit_at(p + i, len - i, &ctl, &cp);
		if (ctl) {
			if (ret_at)
				*ret_at = i;
			if (ret_cp)
				*ret_cp = cp;
			return true;
		}
		i += k;
	}
	return false;
}

int text_check(const char *s, size_t len, char buf[static TEXT_MSG_MAX]) {
	uint32_t cp;
	buf[0] = '\0';
	if (!text_find_control(s, len, NULL, &cp))
		return 0;
	snprintf(buf, TEXT_MSG_MAX, "unexpected control character U+%04X in string", (unsigned) cp);
	return -EINVAL;
}

void text_buf_put(text_buf *b, const char *s, size_t n) {
	if (b->oom)
		return;
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap < b->n + n + 1)
			cap *= 2;
		char *q = realloc(b->s, cap);
		if (!q) {
			b->oom = true;
			return;
		}
		b->s = q;
		b->cap = cap;
	}
	memcpy(b->s + b->n, s, n);
	b->n += n;
	b->s[b->n] = '\0';
}

int text_buf_finish(text_buf *b, char **ret) {
	text_buf_put(b, "", 0);
	if (b->oom) {
		free(b->s);
		return -ENOMEM;
	}
	*ret = b->s;
	return 0;
}

static char *sb_done(text_buf *b) {
	char *r;
	return text_buf_finish(b, &r) == 0 ? r : NULL;
}

/* Control characters as \u00HH (json, or a C1 sequence) or \xHH. */
static char *escape(const char *s, bool json) {
	text_buf b = { 0 };
	const unsigned char *p = (const unsigned char *) s;
	size_t n = strlen(s);
	for (size_t i = 0; i < n;) {
		bool ctl;
		uint32_t cp;
		size_t k = unit_at(p + i, n - i, &ctl, &cp);
		if (!ctl) {
			text_buf_put(&b, s + i, k);
		} else {
			char esc[8];
			int m = json || k == 2 ? snprintf(esc, sizeof(esc), "\\u%04x", (unsigned) cp)
					       : snprintf(esc, sizeof(esc), "\\x%02x", (unsigned) cp);
			text_buf_put(&b, esc, (size_t) m);
		}
		i += k;
	}
	return sb_done(&b);
}

char *text_escape_terminal(const char *s) {
	return escape(s, false);
}

/* jansson has already escaped C0 as \uXXXX: only DEL and C1 are left to do. */
char *text_escape_json(const char *json) {
	return escape(json, true);
}

char *text_ics_property(const char *name, const char *value) {
	text_buf v = { 0 };
	text_buf_put(&v, name, strlen(name));
	text_buf_put(&v, ":", 1);
	const unsigned char *p = (const unsigned char *) value;
	size_t n = strlen(value);
	for (size_t i = 0; i < n;) {
		bool ctl;
		uint32_t cp;
		size_t k = unit_at(p + i, n - i, &ctl, &cp);
		if (ctl) {
			if (cp == '\n' || cp == '\r') {
				text_buf_put(&v, "\\n", 2);
				if (cp == '\r' && i + 1 < n && p[i + 1] == '\n')
					k++;
			}
		} else {
			if (p[i] == '\\' || p[i] == ';' || p[i] == ',')
				text_buf_put(&v, "\\", 1);
			text_buf_put(&v, value + i, k);
		}
		i += k;
	}
	char *line = sb_done(&v);
	if (!line)
		return NULL;
	/* fold: at most 75 octets a line, the leading space of a continuation included */
	text_buf out = { 0 };
	size_t len = strlen(line), col = 0;
	for (size_t i = 0; i < len;) {
		bool ctl;
		uint32_t cp;
		size_t k = unit_at((const unsigned char *) line + i, len - i, &ctl, &cp);
		if (col + k > 75) {
			text_buf_put(&out, "\r\n ", 3);
			col = 1;
		}
		text_buf_put(&out, line + i, k);
		col += k;
		i += k;
	}
	text_buf_put(&out, "\r\n", 2);
	free(line);
	return sb_done(&out);
}
