/* template: the mail templates' small syntax. Line 1 is the Subject, the rest the
 * body (blank lines right after the Subject are dropped). `{{name}}` inserts a
 * value, `{{#name}}...{{/name}}` keeps its text when the value is present
 * (`{{#lines}}` repeats it per order line), `{{^name}}...{{/name}}` when it is
 * absent. A tag alone on its line takes the line with it. Tags do not span lines.
 * Columns are counted in characters, 1-based, at the tag's "{{". */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lib/base/text.h"
#include "lib/mail/mail_int.h"

const char *const mail_tmpl_names[TMPL_N] = {
	"order-confirmation", "payment-request", "payment-overdue",
	"order-on-hold", "order-cancelled", "shipping-confirmation", "task-due",
};

const char *const mail_var_names[V_N] = {
	"customer_name", "contact_name", "account_number", "order", "standing_order",
	"supplier_name", "salesperson_name", "salesperson_email", "order_date",
	"delivery_date", "delivery_time", "ship_to_name", "ship_to_street",
	"ship_to_postcode", "ship_to_city", "ship_to_country", "net", "vat", "vat_rate",
	"gross", "total", "prepaid", "lines",
	"payment_reference", "amount_due", "due_date", "due_time",
	"reason", "balance", "credit_limit", "unpaid", "refunded", "credited",
	"carrier_name", "tracking", "tracking_url", "shipped_date",
	"task", "task_text", "task_due_date", "task_due_time", "contact_email", "contact_phone",
};

const char *const mail_line_var_names[L_N] = { "sku", "quantity", "unit_price", "net" };

/* which templates may use a name beyond the common ones */
#define T(x) (1u << (x))
static unsigned var_templates(mail_var v) {
	if (v < V_PAYMENT_REFERENCE)
		return ~0u;
	if (v <= V_DUE_TIME)
		return T(TMPL_PAYMENT_REQUEST) | T(TMPL_PAYMENT_OVERDUE);
	if (v == V_REASON)
		return T(TMPL_ORDER_ON_HOLD) | T(TMPL_ORDER_CANCELLED);
	if (v == V_BALANCE || v == V_CREDIT_LIMIT)
		return T(TMPL_ORDER_ON_HOLD);
	if (v <= V_CREDITED)
		return T(TMPL_ORDER_CANCELLED);
	if (v <= V_SHIPPED_DATE)
		return T(TMPL_SHIPPING_CONFIRMATION);
	return T(TMPL_TASK_DUE);
}

typedef enum node_kind { N_TEXT, N_VAR, N_SECTION, N_INVERTED, N_LINES } node_kind;

typedef struct node {
	node_kind kind;
	bool line_var;      /* N_VAR/N_SECTION/N_INVERTED: var is a mail_line_var */
	int var;
	const char *text;   /* N_TEXT: into the template's own copy */
	size_t len;
	size_t end;         /* sections: index of the node after the section */
} node;

typedef struct part {
	node *v;
	size_t n, cap;
} part;

struct mail_tmpl {
	char *src;          /* the text, which N_TEXT nodes point into */
	part subject, body;
};

void mail_values_clear(mail_values *mv) {
	if (!mv)
		return;
	for (size_t i = 0; i < V_N; i++)
		free(mv->v[i]);
	for (size_t i = 0; i < mv->n_lines; i++)
		for (size_t k = 0; k < L_N; k++)
			free(mv->lines[i][k]);
	free(mv->lines);
	memset(mv, 0, sizeof(*mv));
}

void mail_tmpl_free(mail_tmpl *t) {
	if (!t)
		return;
	free(t->src);
	free(t->subject.v);
	free(t->body.v);
	free(t);
}

static int push(part *p, node n) {
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		node *v = realloc(p->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		p->v = v;
		p->cap = cap;
	}
	p->v[p->n++] = n;
	return 0;
}

/* ---- parsing ---- */

typedef struct open_sec {
	size_t node;        /* index of the section node */
	int line, col;
	char name[40];
} open_sec;

typedef struct parser {
	const char *file;
	mail_tmpl_id id;
	diag_list *errs;
	bool failed, oom;
	open_sec stack[8];
	size_t depth;
	bool in_lines;
} parser;

__attribute__((format(printf, 4, 5)))
static void perr(parser *ps, int line, int col, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	ps->failed = true;
	if (diag_vadd(ps->errs, ps->file, line, col, fmt, ap) < 0)
		ps->oom = true;
	va_end(ap);
}

/* column (1-based, in characters) of byte offset off in a line */
static int col_of(const char *line, size_t off) {
	int c = 1;
	for (size_t i = 0; i < off; i++)
		if (((unsigned char) line[i] & 0xc0) != 0x80)
			c++;
	return c;
}

static int lookup(const char *const *names, int n, const char *name) {
	for (int i = 0; i < n; i++)
		if (!strcmp(names[i], name))
			return i;
	return -1;
}

/* one tag's inside (trimmed) at line:col; adds its node to p */
static void tag(parser *ps, part *p, const char *in, size_t len, int line, int col) {
	while (len && (*in == ' ' || *in == '\t'))
		in++, len--;
	while (len && (in[len - 1] == ' ' || in[len - 1] == '\t'))
		len--;
	char sigil = len ? in[0] : 0;
	if (sigil == '#' || sigil == '^' || sigil == '/') {
		in++, len--;
		while (len && (*in == ' ' || *in == '\t'))
			in++, len--;
	} else
		sigil = 0;
	char name[40];
	bool ok = len > 0 && len < sizeof(name);
	for (size_t i = 0; ok && i < len; i++)
		ok = (in[i] >= 'a' && in[i] <= 'z') || in[i] == '_' || (in[i] >= '0' && in[i] <= '9');
	if (!ok) {
		char shown[64];
		size_t n = len < 40 ? len : 40;
		memcpy(shown, in, n);
		shown[n] = 0;
		perr(ps, line, col, "bad placeholder \"%s%s\": a name is lowercase letters, digits and _", shown,
		     len > n ? "..." : "");
		return;
	}
	memcpy(name, in, len);
	name[len] = 0;

	if (sigil == '/') {
		if (!ps->depth) {
			perr(ps, line, col, "{{/%s}} closes no open section", name);
			return;
		}
		open_sec *o = &ps->stack[ps->depth - 1];
		if (strcmp(o->name, name)) {
			perr(ps, line, col, "{{/%s}} does not close the open section {{#%s}}", name, o->name);
			return;
		}
		p->v[o->node].end = p->n;
		if (!strcmp(name, "lines"))
			ps->in_lines = false;
		ps->depth--;
		return;
	}

	node n = { .kind = N_VAR };
	int lv = ps->in_lines ? lookup(mail_line_var_names, L_N, name) : -1;
	if (lv >= 0) {
		n.line_var = true;
		n.var = lv;
	} else {
		int v = lookup(mail_var_names, V_N, name);
		if (v < 0) {
			if (lookup(mail_line_var_names, L_N, name) >= 0)
				perr(ps, line, col, "placeholder \"%s\" is an order line's: use it inside {{#lines}}...{{/lines}}",
				     name);
			else
				perr(ps, line, col, "unknown placeholder \"%s\"", name);
			return;
		}
		if (!(var_templates((mail_var) v) & T(ps->id))) {
			perr(ps, line, col, "placeholder \"%s\" is not available in %s", name, mail_tmpl_names[ps->id]);
			return;
		}
		n.var = v;
		if (v == V_LINES && sigil == 0) {
			perr(ps, line, col, "\"lines\" is a section: use {{#lines}}...{{/lines}}");
			return;
		}
		if (v == V_LINES && sigil == '#') {
			if (ps->in_lines) {
				perr(ps, line, col, "{{#lines}} inside {{#lines}}");
				return;
			}
			n.kind = N_LINES;
		}
	}
	if (sigil && n.kind != N_LINES)
		n.kind = sigil == '#' ? N_SECTION : N_INVERTED;
	if (sigil) {
		if (ps->depth == sizeof(ps->stack) / sizeof(ps->stack[0])) {
			perr(ps, line, col, "sections nested too deeply");
			return;
		}
		open_sec *o = &ps->stack[ps->depth++];
		o->node = p->n;
		o->line = line;
		o->col = col;
		strcpy(o->name, name);
		if (n.kind == N_LINES)
			ps->in_lines = true;
	}
	if (push(p, n) < 0)
		ps->oom = true;
}

/* a tag alone on its line (blanks around it) that opens or closes a section */
static bool standalone(const char *s, size_t len) {
	size_t i = 0;
	while (i < len && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (i + 5 > len || s[i] != '{' || s[i + 1] != '{' || !strchr("#^/", s[i + 2]))
		return false;
	const char *close = NULL;
	for (size_t k = i + 3; k + 1 < len; k++)
		if (s[k] == '}' && s[k + 1] == '}') {
			close = s + k;
			break;
		}
	if (!close)
		return false;
	for (const char *c = close + 2; c < s + len; c++)
		if (*c != ' ' && *c != '\t')
			return false;
	return true;
}

/* one line (without its "\n"), number lineno; nl: append the line end */
static void parse_line(parser *ps, part *p, const char *s, size_t len, int lineno, bool nl) {
	if (standalone(s, len)) {
		const char *o = strstr(s, "{{");
		const char *c = strstr(o + 2, "}}");
		tag(ps, p, o + 2, (size_t) (c - o - 2), lineno, col_of(s, (size_t) (o - s)));
		return;
	}
	size_t i = 0, text = 0;
	while (i < len) {
		if (s[i] == '{' && i + 1 < len && s[i + 1] == '{') {
			size_t k = i + 2;
			while (k + 1 < len && !(s[k] == '}' && s[k + 1] == '}'))
				k++;
			if (k + 1 >= len) {
				perr(ps, lineno, col_of(s, i), "\"{{\" without \"}}\" on its line");
				return;
			}
			if (i > text && push(p, (node) { .kind = N_TEXT, .text = s + text, .len = i - text }) < 0)
				ps->oom = true;
			tag(ps, p, s + i + 2, k - i - 2, lineno, col_of(s, i));
			i = text = k + 2;
		} else if (s[i] == '}' && i + 1 < len && s[i + 1] == '}') {
			perr(ps, lineno, col_of(s, i), "\"}}\" without \"{{\"");
			return;
		} else
			i++;
	}
	/* the text up to the line end, with the "\n" (it follows s in src) */
	size_t n = len - text + (nl ? 1 : 0);
	if (n && push(p, (node) { .kind = N_TEXT, .text = s + text, .len = n }) < 0)
		ps->oom = true;
}

static void close_all(parser *ps, const char *where) {
	for (size_t i = 0; i < ps->depth; i++)
		perr(ps, ps->stack[i].line, ps->stack[i].col, "unclosed section \"%s\"%s", ps->stack[i].name, where);
	ps->depth = 0;
	ps->in_lines = false;
}

int mail_tmpl_parse(const char *file, const char *text, size_t len, mail_tmpl_id id, mail_tmpl **ret,
		    diag_list *errs) {
	mail_tmpl *t = calloc(1, sizeof(*t));
	if (!t || !(t->src = malloc(len + 2))) {
		free(t);
		return -ENOMEM;
	}
	/* CRLF and CR line ends become "\n"; a last line gets one */
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		if (text[i] == '\r') {
			t->src[n++] = '\n';
			if (i + 1 < len && text[i + 1] == '\n')
				i++;
		} else
			t->src[n++] = text[i];
	}
	if (n && t->src[n - 1] != '\n')
		t->src[n++] = '\n';
	t->src[n] = 0;

	parser ps = { .file = file, .id = id, .errs = errs };
	int lineno = 0;
	bool body_started = false;
	for (size_t at = 0; at < n;) {
		const char *s = t->src + at;
		const char *e = memchr(s, '\n', n - at);
		size_t ll = (size_t) (e - s);
		at += ll + 1;
		lineno++;
		size_t bad = text_utf8_prefix(s, ll);
		if (bad < ll) {
			perr(&ps, lineno, col_of(s, bad), "invalid UTF-8");
			continue;
		}
		bool ctl = false;
		for (size_t i = 0; i < ll && !ctl; i++)
			if (((unsigned char) s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f) {
				char what[16];
				snprintf(what, sizeof(what), "U+%04X", (unsigned char) s[i]);
				perr(&ps, lineno, col_of(s, i), "unexpected control character %s", what);
				ctl = true;
			}
		if (ctl)
			continue;
		if (lineno == 1) {
			size_t k = 0;
			while (k < ll && (s[k] == ' ' || s[k] == '\t'))
				k++;
			if (k == ll)
				perr(&ps, 1, 1, "the first line is the Subject, and it is empty");
			else
				parse_line(&ps, &t->subject, s, ll, lineno, false);
			close_all(&ps, " (the Subject is line 1 only)");
			continue;
		}
		if (!body_started) {
			size_t k = 0;
			while (k < ll && (s[k] == ' ' || s[k] == '\t'))
				k++;
			if (k == ll)
				continue;
			body_started = true;
		}
		parse_line(&ps, &t->body, s, ll, lineno, true);
	}
	if (lineno == 0)
		perr(&ps, 0, 0, "empty: the first line is the Subject, the body follows");
	else if (!body_started && !ps.failed)
		perr(&ps, 0, 0, "no body after the Subject line");
	close_all(&ps, "");
	if (ps.oom || errs->oom) {
		mail_tmpl_free(t);
		return -ENOMEM;
	}
	if (ps.failed) {
		mail_tmpl_free(t);
		return -EINVAL;
	}
	*ret = t;
	return 0;
}

/* ---- rendering ---- */

static const char *value(const node *nd, const mail_values *mv, const char *const *line) {
	if (nd->line_var)
		return line ? line[nd->var] : NULL;
	if (nd->var == V_LINES)
		return mv->n_lines ? "yes" : NULL;
	return mv->v[nd->var];
}

static void render(const part *p, size_t from, size_t to, const mail_values *mv, const char *const *line, text_buf *b) {
	for (size_t i = from; i < to;) {
		const node *nd = &p->v[i];
		switch (nd->kind) {
		case N_TEXT:
			text_buf_put(b, nd->text, nd->len);
			i++;
			break;
		case N_VAR: {
			/* a value is text of one line: a control character in it
			 * (none passes the definitions' checks) becomes a space */
			for (const char *v = value(nd, mv, line); v && *v; v++)
				text_buf_put(b, (unsigned char) *v < 0x20 || *v == 0x7f ? " " : v, 1);
			i++;
			break;
		}
		case N_SECTION:
		case N_INVERTED: {
			const char *v = value(nd, mv, line);
			bool present = v && *v;
			if (present == (nd->kind == N_SECTION))
				render(p, i + 1, nd->end, mv, line, b);
			i = nd->end;
			break;
		}
		case N_LINES:
			for (size_t k = 0; k < mv->n_lines; k++)
				render(p, i + 1, nd->end, mv, (const char *const *) mv->lines[k], b);
			i = nd->end;
			break;
		}
	}
}

int mail_tmpl_render(const mail_tmpl *t, const mail_values *mv, char **ret_subject, char **ret_body) {
	text_buf s = { 0 }, b = { 0 };
	render(&t->subject, 0, t->subject.n, mv, NULL, &s);
	render(&t->body, 0, t->body.n, mv, NULL, &b);
	text_buf_put(&s, "", 0);
	text_buf_put(&b, "", 0);
	/* the body ends in exactly one line end */
	while (b.n && (b.s[b.n - 1] == '\n' || b.s[b.n - 1] == ' '))
		b.s[--b.n] = 0;
	text_buf_put(&b, "\n", 1);
	if (s.oom || b.oom) {
		free(s.s);
		free(b.s);
		return -ENOMEM;
	}
	*ret_subject = s.s;
	*ret_body = b.s;
	return 0;
}
