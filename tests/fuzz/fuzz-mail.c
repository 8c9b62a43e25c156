/* The mail texts: a template (first byte: which of the six; the rest: its text) is
 * either refused with located errors or renders, with every value holding a line
 * break, to a one-line Subject and a body ending in one line end; the same bytes as
 * a body survive quoted-printable (lines of at most 76, CRLF, decoded back
 * exactly) and as a Subject become a header whose only line breaks are folds
 * (lines at most 78, encoded-word lines at most 76). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "lib/mail/mail_int.h"
#include "tests/fuzz/fuzz.h"

static void check_template(mail_tmpl_id id, const char *text, size_t len) {
	diag_list errs = { 0 };
	mail_tmpl *t = NULL;
	int r = mail_tmpl_parse("t.txt", text, len, id, &t, &errs);
	if (r < 0) {
		FUZZ_CHECK(r == -EINVAL && errs.n > 0 && !t, "refused (%d) without an error", r);
		for (size_t i = 0; i < errs.n; i++)
			FUZZ_CHECK(errs.v[i].line >= 0 && errs.v[i].col >= 0 && (errs.v[i].line == 0) == (errs.v[i].col == 0),
				   "error at %d:%d", errs.v[i].line, errs.v[i].col);
		diag_list_clear(&errs);
		return;
	}
	FUZZ_CHECK(errs.n == 0, "accepted with errors");
	mail_values mv = { 0 };
	for (int v = 0; v < V_N; v++)
		mv.v[v] = strdup(v % 3 ? "ä\r\nBcc: x" : "");
	mv.n_lines = 2;
	mv.lines = calloc(2, sizeof(*mv.lines));
	for (int k = 0; k < L_N; k++)
		mv.lines[0][k] = strdup("1\n"), mv.lines[1][k] = NULL;
	char *subject = NULL, *body = NULL;
	FUZZ_CHECK(mail_tmpl_render(t, &mv, &subject, &body) == 0, "render");
	for (const char *c = subject; *c; c++)
		FUZZ_CHECK((unsigned char) *c >= 0x20 || *c == '\t', "control character in the Subject");
	size_t bl = strlen(body);
	FUZZ_CHECK(bl >= 1 && body[bl - 1] == '\n' && (bl == 1 || body[bl - 2] != '\n'), "body end");
	FUZZ_CHECK(!strchr(body, '\r'), "CR in the body");
	free(subject);
	free(body);
	mail_values_clear(&mv);
	mail_tmpl_free(t);
}

static int hexval(char c) {
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static void check_qp(const char *text) {
	char *qp = NULL;
	FUZZ_CHECK(mime_qp_encode(text, &qp) == 0, "qp");
	char *back = malloc(strlen(qp) + 1), *o = back;
	for (const char *l = qp; *l;) {
		const char *e = strstr(l, "\r\n");
		FUZZ_CHECK(e && e - l <= 76, "line of %d", e ? (int) (e - l) : -1);
		for (const char *c = l; c < e; c++) {
			FUZZ_CHECK(*c >= 32 && *c <= 126 ? true : *c == '\t', "raw byte %02x", (unsigned char) *c);
			if (*c == '=' && c + 1 == e)
				break;   /* soft line break */
			if (*c == '=') {
				FUZZ_CHECK(hexval(c[1]) >= 0 && hexval(c[2]) >= 0, "bad escape");
				*o++ = (char) (hexval(c[1]) * 16 + hexval(c[2]));
				c += 2;
			} else
				*o++ = *c;
		}
		if (e == l || e[-1] != '=')
			*o++ = '\n';
		l = e + 2;
	}
	*o = 0;
	size_t n = strlen(text);
	FUZZ_CHECK(!strncmp(back, text, n) && (n == 0 || text[n - 1] == '\n' ? back[n] == 0 : !strcmp(back + n, "\n")),
		   "quoted-printable does not decode back");
	free(back);
	free(qp);
}

static void check_header(const char *text) {
	char *h = NULL;
	FUZZ_CHECK(mime_header_unstructured("Subject", text, &h) == 0, "header");
	bool encoded = strstr(h, "=?UTF-8?B?") != NULL;
	for (const char *l = h; *l;) {
		const char *e = strstr(l, "\r\n");
		FUZZ_CHECK(e, "no CRLF");
		FUZZ_CHECK(!memchr(l, '\r', (size_t) (e - l)) && !memchr(l, '\n', (size_t) (e - l)), "bare CR or LF");
		FUZZ_CHECK(l == h || *l == ' ', "a continuation line that is not a fold");
		FUZZ_CHECK(e - l <= (encoded ? 76 : 78), "line of %d", (int) (e - l));
		l = e + 2;
	}
	free(h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	if (size < 1 || size > 8192)
		return -1;
	check_template((mail_tmpl_id) (data[0] % TMPL_N), (const char *) data + 1, size - 1);
	char *s = fuzz_strndup(data + 1, size - 1);
	if (!memchr(data + 1, 0, size - 1)) {
		check_qp(s);
		check_header(s);
	}
	free(s);
	return 0;
}
