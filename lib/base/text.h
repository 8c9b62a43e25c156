/* text: the one rule for text fields (names, addresses, SKUs, carriers, tracking
 * codes, ids) and the escapes for showing text written before that rule existed.
 * A text field holds no control character: C0 (U+0000-U+001F, TAB, CR and LF
 * included), DEL (U+007F) or C1 (U+0080-U+009F). Input is UTF-8 (the parsers have
 * checked it); output strings are malloc'd, NULL only when out of memory. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A growing output string: after a failed allocation it stays marked (oom) and
 * drops further text, so a builder checks once at the end. Start from { 0 }. */
typedef struct text_buf {
	char *s;
	size_t n, cap;
	bool oom;
} text_buf;
void text_buf_put(text_buf *b, const char *s, size_t n);
/* 0 with *ret the string (never NULL; the caller frees it); -ENOMEM (the text is freed). */
int text_buf_finish(text_buf *b, char **ret);

/* The length of the well-formed UTF-8 sequence (RFC 3629: no overlong form, no
 * surrogate, nothing past U+10FFFF) at s, within n bytes, with its code point in
 * *ret_cp (may be NULL); 0 when the bytes there are not one. The one UTF-8 check
 * of the program. */
size_t text_utf8_seq(const char *s, size_t n, uint32_t *ret_cp);

/* The offset of the first byte of s[0, n) that does not start a well-formed
 * sequence (text_utf8_seq), or n when all of it is UTF-8. */
size_t text_utf8_prefix(const char *s, size_t n);

/* Finds the first control character in s[0, len): true with its byte offset and
 * code point, false when there is none. */
bool text_find_control(const char *s, size_t len, size_t *ret_at, uint32_t *ret_cp);

/* The field error for a text that breaks the rule, in buf ("" when s is fine):
 * "unexpected control character U+001B in string". 0 fine, -EINVAL otherwise. */
#define TEXT_MSG_MAX 64
int text_check(const char *s, size_t len, char buf[static TEXT_MSG_MAX]);

/* For a terminal: C0 controls and DEL as \xHH ("\x1b"), C1 as \u00HH ("\u009b");
 * everything else, backslashes included, as is. */
char *text_escape_terminal(const char *s);

/* Serialised JSON (jansson escapes C0 but not DEL or C1) with DEL and C1 written
 * as \u00HH escapes: still the same JSON value, but inert on a terminal. */
char *text_escape_json(const char *json);

/* One iCalendar content line "NAME:VALUE" with VALUE escaped as RFC 5545 TEXT
 * (\\ \; \, and \n for a line break; CRLF and a lone CR are one line break too;
 * other control characters are dropped) and folded at 75 octets (CRLF then a
 * space; a UTF-8 sequence is never split). Ends with CRLF. */
char *text_ics_property(const char *name, const char *value);
