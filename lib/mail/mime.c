/* mime: the pieces of an RFC 5322 message with MIME (RFC 2045, 2047): the
 * quoted-printable body, header fields with RFC 2047 "B" encoded words for
 * non-ASCII text, addresses and the date. Nothing a value holds can end a header
 * line: control characters in header text become spaces, addresses are checked. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "lib/mail/mail_int.h"

static void buf_puts(text_buf *b, const char *s) {
	text_buf_put(b, s, strlen(s));
}

/* length of the UTF-8 sequence starting with c (1 for a stray byte) */
static size_t u8len(unsigned char c) {
	return c < 0xc0 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
}

/* ---- quoted-printable (RFC 2045 6.7) ---- */

static const char HEX[] = "0123456789ABCDEF";

int mime_qp_encode(const char *text, char **ret) {
	text_buf b = { 0 };
	const unsigned char *s = (const unsigned char *) text;
	while (*s) {
		const unsigned char *e = (const unsigned char *) strchrnul((const char *) s, '\n');
		size_t col = 0;
		for (const unsigned char *p = s; p < e;) {
			/* one character's encoding stays on one line: a reader sees whole letters */
			size_t k = u8len(*p);
			if ((size_t) (e - p) < k)
				k = (size_t) (e - p);
			char tok[16];
			size_t tl = 0;
			bool last = p + k == e;
			for (size_t i = 0; i < k; i++) {
				unsigned char c = p[i];
				bool lit = (c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !last);
				/* a "." opening a line is escaped: SMTP's end of data, and sendmail without -i */
				if (c == '.' && col == 0 && i == 0)
					lit = false;
				if (lit)
					tok[tl++] = (char) c;
				else {
					tok[tl++] = '=';
					tok[tl++] = HEX[c >> 4];
					tok[tl++] = HEX[c & 15];
				}
			}
			/* lines of at most 76 characters, the soft break's "=" counted */
			if (col + tl > (last ? 76 : 75)) {
				text_buf_put(&b, "=\r\n", 3);
				col = 0;
				if (*p == '.') {
					tl = 0;
					tok[tl++] = '=';
					tok[tl++] = '2';
					tok[tl++] = 'E';
					for (size_t i = 1; i < k; i++)
						tok[tl++] = (char) p[i];
				}
			}
			text_buf_put(&b, tok, tl);
			col += tl;
			p += k;
		}
		text_buf_put(&b, "\r\n", 2);
		s = *e ? e + 1 : e;
	}
	return text_buf_finish(&b, ret);
}

/* ---- header fields ---- */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void base64(text_buf *b, const unsigned char *s, size_t n) {
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned) s[i] << 16 | (i + 1 < n ? (unsigned) s[i + 1] << 8 : 0) | (i + 2 < n ? s[i + 2] : 0);
		char q[4] = { B64[v >> 18 & 63], B64[v >> 12 & 63], i + 1 < n ? B64[v >> 6 & 63] : '=',
			      i + 2 < n ? B64[v & 63] : '=' };
		text_buf_put(b, q, 4);
	}
}

static bool ascii_printable(const char *s) {
	for (; *s; s++)
		if ((unsigned char) *s < 0x20 || (unsigned char) *s >= 0x7f)
			return false;
	return true;
}

/* a copy with every control character (C0, DEL, C1 as UTF-8) a space */
static char *clean(const char *s) {
	char *c = strdup(s ? s : "");
	if (!c)
		return NULL;
	unsigned char *u = (unsigned char *) c;
	for (size_t i = 0; u[i]; i++) {
		if (u[i] < 0x20 || u[i] == 0x7f)
			u[i] = ' ';
		else if (u[i] == 0xc2 && u[i + 1] >= 0x80 && u[i + 1] <= 0x9f)
			u[i] = ' ', u[i + 1] = ' ';
	}
	return c;
}

/* Encoded words for text, the first on a line that already holds col characters;
 * each word at most 75 characters and each line at most 76 (RFC 2047 2). The
 * words split only between characters; the space folding them apart is not part
 * of the text (RFC 2047 6.2). Returns the column after the last word. */
static size_t encoded_words(text_buf *b, const char *text, size_t col) {
	const unsigned char *s = (const unsigned char *) text;
	size_t n = strlen(text);
	static const char pre[] = "=?UTF-8?B?";
	for (size_t i = 0; i < n;) {
		size_t room = 76 - col;
		if (room > 75)
			room = 75;
		/* bytes that fit: 4 base64 characters per 3 bytes after "=?UTF-8?B?" and "?=" */
		size_t max = room > 12 ? (room - 12) / 4 * 3 : 0;
		size_t take = 0;
		while (i + take < n) {
			size_t k = u8len(s[i + take]);
			if (k > n - i - take)   /* a cut sequence: its bytes as they are */
				k = n - i - take;
			if (take + k > max)
				break;
			take += k;
		}
		if (!take) {
			if (col <= 1) /* cannot happen: a fresh line has room for 45 bytes */
				take = 1;
			else {
				text_buf_put(b, "\r\n ", 3);
				col = 1;
				continue;
			}
		}
		text_buf_put(b, pre, sizeof(pre) - 1);
		base64(b, s + i, take);
		text_buf_put(b, "?=", 2);
		col += 12 + (take + 2) / 3 * 4;
		i += take;
		if (i < n) {
			text_buf_put(b, "\r\n ", 3);
			col = 1;
		}
	}
	return col;
}

/* plain ASCII text, folded at spaces before 78 characters where it can be */
static size_t folded_ascii(text_buf *b, const char *text, size_t col) {
	const char *s = text;
	while (*s) {
		const char *sp = strchr(s + 1, ' ');
		size_t w = sp ? (size_t) (sp - s) : strlen(s);
		if (col + w > 78 && col > 1 && *s == ' ') {
			text_buf_put(b, "\r\n", 2);
			col = 0;
		}
		text_buf_put(b, s, w);
		col += w;
		s += w;
	}
	return col;
}

int mime_header_unstructured(const char *name, const char *value, char **ret) {
	char *v = clean(value);
	if (!v)
		return -ENOMEM;
	text_buf b = { 0 };
	buf_puts(&b, name);
	text_buf_put(&b, ": ", 2);
	/* plain text folds at its spaces; a word too long for a line of 78, any
	 * non-ASCII, and text a reader would take for an encoded word ("=?") go in
	 * encoded words, which split anywhere */
	size_t run = 0, longest = 0;
	for (const char *c = v; *c; c++)
		longest = (run = *c == ' ' ? 0 : run + 1) > longest ? run : longest;
	if (ascii_printable(v) && !strstr(v, "=?") && strlen(name) + 2 + longest <= 78)
		folded_ascii(&b, v, strlen(name) + 2);
	else
		encoded_words(&b, v, strlen(name) + 2);
	text_buf_put(&b, "\r\n", 2);
	free(v);
	return text_buf_finish(&b, ret);
}

/* RFC 5322 atext, and the space between words of a phrase */
static bool phrase_plain(const char *s) {
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      strchr(" !#$%&'*+-/=?^_`{|}~", *s)))
			return false;
	return true;
}

int mime_header_address(const char *name, const char *display, const char *addr, char **ret) {
	if (!mime_addr_valid(addr))
		return -EINVAL;
	char *d = display ? clean(display) : NULL;
	if (display && !d)
		return -ENOMEM;
	/* a name of blanks only is no name */
	if (d && strspn(d, " ") == strlen(d)) {
		free(d);
		d = NULL;
	}
	text_buf b = { 0 };
	buf_puts(&b, name);
	text_buf_put(&b, ": ", 2);
	size_t col = strlen(name) + 2;
	if (d) {
		if (!ascii_printable(d))
			col = encoded_words(&b, d, col);
		else if (phrase_plain(d)) {
			buf_puts(&b, d);
			col += strlen(d);
		} else {
			text_buf_put(&b, "\"", 1);
			for (const char *c = d; *c; c++) {
				if (*c == '"' || *c == '\\')
					text_buf_put(&b, "\\", 1), col++;
				text_buf_put(&b, c, 1);
			}
			text_buf_put(&b, "\"", 1);
			col += strlen(d) + 2;
		}
		if (col + strlen(addr) + 3 > 78)
			text_buf_put(&b, "\r\n", 2);
		text_buf_put(&b, " <", 2);
		buf_puts(&b, addr);
		text_buf_put(&b, ">", 1);
	} else
		buf_puts(&b, addr);
	text_buf_put(&b, "\r\n", 2);
	free(d);
	return text_buf_finish(&b, ret);
}

bool mime_addr_valid(const char *addr) {
	if (!addr)
		return false;
	const char *at = strrchr(addr, '@');
	size_t len = strlen(addr);
	if (!at || at == addr || !at[1] || len > 254 || (size_t) (at - addr) > 64)
		return false;
	for (const char *c = addr; c < at; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
		      strchr("!#$%&'*+-/=?^_`{|}~.", *c)))
			return false;
	if (addr[0] == '.' || at[-1] == '.' || strstr(addr, ".."))
		return false;
	for (const char *c = at + 1; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' ||
		      *c == '.'))
			return false;
	return at[1] != '.' && addr[len - 1] != '.';
}

int mime_addr_parse(const char *s, char **ret_display, char **ret_addr) {
	if (!s)
		return -EINVAL;
	const char *lt = strrchr(s, '<');
	char *display = NULL, *addr;
	if (lt) {
		const char *gt = strchr(lt, '>');
		if (!gt || gt[strspn(gt + 1, " ") + 1])
			return -EINVAL;
		addr = strndup(lt + 1, (size_t) (gt - lt - 1));
		const char *a = s, *z = lt;
		while (a < z && *a == ' ')
			a++;
		while (z > a && z[-1] == ' ')
			z--;
		if (z - a >= 2 && *a == '"' && z[-1] == '"')
			a++, z--;
		if (z > a && !(display = strndup(a, (size_t) (z - a)))) {
			free(addr);
			return -ENOMEM;
		}
	} else {
		size_t a = strspn(s, " ");
		size_t n = strlen(s + a);
		while (n && s[a + n - 1] == ' ')
			n--;
		addr = strndup(s + a, n);
	}
	if (!addr) {
		free(display);
		return -ENOMEM;
	}
	if (!mime_addr_valid(addr)) {
		free(display);
		free(addr);
		return -EINVAL;
	}
	*ret_display = display;
	*ret_addr = addr;
	return 0;
}

void mime_date(int64_t t, char buf[40]) {
	static const char *const day[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t tt = (time_t) t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	snprintf(buf, 40, "%s, %d %s %04d %02d:%02d:%02d +0000", day[tm.tm_wday], tm.tm_mday, mon[tm.tm_mon],
		 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}
