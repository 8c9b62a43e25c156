/* mail: the templates of a config directory, and one expanded outbox event into
 * one message: which template and recipient (doc/notify.md's table), the values
 * formatted for the language, the rendered text inside RFC 5322 headers. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "lib/mail/mail.h"
#include "lib/mail/mail_int.h"
#include "lib/time/cal.h"

static const char *const LANGS[MAIL_N_LANGS] = MAIL_LANGS;
static const char *const LANG_NAMES[MAIL_N_LANGS] = { "English", "Finnish", "Latvian", "Norwegian", "Vietnamese" };

struct mail_templates {
	mail_tmpl *t[MAIL_N_LANGS][TMPL_N];   /* NULL: missing, English is used */
};

void mail_templates_free(mail_templates *t) {
	if (!t)
		return;
	for (size_t l = 0; l < MAIL_N_LANGS; l++)
		for (size_t i = 0; i < TMPL_N; i++)
			mail_tmpl_free(t->t[l][i]);
	free(t);
}

/* the whole file into a malloc'd buffer; -errno */
static int slurp(const char *path, char **ret, size_t *ret_len) {
	FILE *f = fopen(path, "rb");
	if (!f)
		return -errno;
	char *s = NULL;
	size_t n = 0, cap = 0;
	int r = 0;
	for (;;) {
		if (n + 4096 > cap) {
			cap = cap ? cap * 2 : 8192;
			char *v = cap > (1u << 20) ? NULL : realloc(s, cap);
			if (!v) {
				r = cap > (1u << 20) ? -EFBIG : -ENOMEM;
				break;
			}
			s = v;
		}
		size_t k = fread(s + n, 1, cap - n, f);
		n += k;
		if (k == 0) {
			if (ferror(f))
				r = -EIO;
			break;
		}
	}
	fclose(f);
	if (r < 0) {
		free(s);
		return r;
	}
	*ret = s;
	*ret_len = n;
	return 0;
}

static bool ignorable(const char *name) {
	size_t n = strlen(name);
	return name[0] == '.' || (n && name[n - 1] == '~');   /* hidden, editors' backups */
}

/* Files and folders under templates/ that no one reads: most likely a misspelt
 * name, whose translation would silently not be used. Warnings, in name order. */
static int warn_strays(const char *confdir, diag_list *warns) {
	char *dir = NULL;
	struct dirent **langs = NULL;
	if (asprintf(&dir, "%s/templates", confdir) < 0)
		return -ENOMEM;
	int n = scandir(dir, &langs, NULL, alphasort), r = 0;
	for (int i = 0; i < n; i++) {
		const char *l = langs[i]->d_name;
		char rel[300];
		snprintf(rel, sizeof(rel), "templates/%s", l);
		if (ignorable(l))
			continue;
		int li = -1;
		for (int k = 0; k < MAIL_N_LANGS; k++)
			if (!strcmp(l, LANGS[k]))
				li = k;
		if (li < 0) {
			if (r >= 0)
				r = diag_add(warns, rel, 0, 0, "not a language of the mails (en fi lv nb vi); ignored");
			continue;
		}
		char *sub = NULL;
		struct dirent **files = NULL;
		if (asprintf(&sub, "%s/%s", dir, l) < 0) {
			r = -ENOMEM;
			continue;
		}
		int m = scandir(sub, &files, NULL, alphasort);
		free(sub);
		for (int j = 0; j < m; j++) {
			const char *f = files[j]->d_name;
			bool known = ignorable(f);
			for (int k = 0; k < TMPL_N && !known; k++)
				known = !strncmp(f, mail_tmpl_names[k], strlen(mail_tmpl_names[k])) &&
					!strcmp(f + strlen(mail_tmpl_names[k]), ".txt");
			char frel[600];
			snprintf(frel, sizeof(frel), "%s/%s", rel, f);
			if (!known && r >= 0)
				r = diag_add(warns, frel, 0, 0, "not a template name (order-confirmation.txt, "
					     "payment-request.txt, payment-overdue.txt, order-on-hold.txt, "
					     "order-cancelled.txt, shipping-confirmation.txt, task-due.txt); ignored");
			free(files[j]);
		}
		free(files);
	}
	for (int i = 0; i < n; i++)
		free(langs[i]);
	free(langs);
	free(dir);
	return r;
}

int mail_templates_load(const char *confdir, mail_templates **ret, diag_list *errs, diag_list *warns) {
	mail_templates *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	size_t errs_before = errs->n;
	int r = 0;
	for (size_t l = 0; l < MAIL_N_LANGS && r >= 0; l++)
		for (size_t i = 0; i < TMPL_N && r >= 0; i++) {
			char rel[128], *path = NULL, *text = NULL;
			size_t len = 0;
			snprintf(rel, sizeof(rel), "templates/%s/%s.txt", LANGS[l], mail_tmpl_names[i]);
			if (asprintf(&path, "%s/%s", confdir, rel) < 0) {
				r = -ENOMEM;
				break;
			}
			int k = slurp(path, &text, &len);
			free(path);
			if (k == -ENOENT) {
				if (l == 0)
					r = diag_add(errs, rel, 0, 0, "missing; every language falls back to English, so it is required");
				else
					r = diag_add(warns, rel, 0, 0, "missing; %s customers get the English template", LANG_NAMES[l]);
			} else if (k == -ENOMEM)
				r = k;
			else if (k < 0)
				r = diag_add(errs, rel, 0, 0, "cannot read: %s", strerror(-k));
			else {
				k = mail_tmpl_parse(rel, text, len, (mail_tmpl_id) i, &t->t[l][i], errs);
				if (k == -ENOMEM)
					r = k;
			}
			free(text);
		}
	if (r >= 0)
		r = warn_strays(confdir, warns);
	if (r < 0 || errs->oom || warns->oom) {
		mail_templates_free(t);
		return -ENOMEM;
	}
	if (errs->n > errs_before) {
		mail_templates_free(t);
		return -EINVAL;
	}
	*ret = t;
	return 0;
}

int mail_templates_check(const char *confdir, diag_list *errs, diag_list *warns) {
	char *dir;
	struct stat st;
	if (asprintf(&dir, "%s/templates", confdir) < 0)
		return -ENOMEM;
	bool exists = stat(dir, &st) == 0;
	free(dir);
	if (!exists)
		return 0;
	mail_templates *t = NULL;
	int r = mail_templates_load(confdir, &t, errs, warns);
	mail_templates_free(t);
	diag_sort(warns);
	return r;
}

void mail_message_free(mail_message *m) {
	if (!m)
		return;
	free(m->envelope_from);
	free(m->rcpt);
	free(m->subject);
	free(m->message_id);
	free(m->data);
	memset(m, 0, sizeof(*m));
}

/* ---- reading the event ---- */

static const char *jstr(const json_t *o, const char *k) {
	return json_string_value(json_object_get(o, k));
}

static int lang_index(const char *lang) {
	for (int i = 0; lang && i < MAIL_N_LANGS; i++)
		if (!strcmp(lang, LANGS[i]))
			return i;
	return 0;
}

/* the offset of an ISO 8601 instant's text ("...+02:00", "...Z"), seconds east */
static int32_t iso_offset(const char *s) {
	size_t n = s ? strlen(s) : 0;
	if (n < 6 || (s[n - 6] != '+' && s[n - 6] != '-') || s[n - 3] != ':')
		return 0;
	int h = (s[n - 5] - '0') * 10 + (s[n - 4] - '0'), m = (s[n - 2] - '0') * 10 + (s[n - 1] - '0');
	int32_t off = h * 3600 + m * 60;
	return s[n - 6] == '-' ? -off : off;
}

typedef struct ctx {
	mail_fmt *fmt;
	mail_values mv;
	int r;
} ctx;

static void fail(ctx *c, int r) {
	if (c->r >= 0)
		c->r = r;
}

/* {"amount": "850.00", "currency": "EUR"} */
static char *money_text(ctx *c, const json_t *m) {
	const char *a = jstr(m, "amount"), *cur = jstr(m, "currency");
	if (!a || !cur)
		return NULL;
	char *s = NULL;
	int r = mail_fmt_money(c->fmt, a, cur, &s);
	if (r < 0)
		fail(c, r);
	return s;
}

static void set_lines(ctx *c, const json_t *lines) {
	size_t n = json_array_size(lines);
	if (!n)
		return;
	if (!(c->mv.lines = calloc(n, sizeof(*c->mv.lines)))) {
		fail(c, -ENOMEM);
		return;
	}
	c->mv.n_lines = n;
	for (size_t i = 0; i < n; i++) {
		const json_t *l = json_array_get(lines, i);
		char **out = c->mv.lines[i];
		const char *cur = jstr(l, "currency");
		char q[32];
		json_t *qj = json_object_get(l, "quantity");
		if (json_is_integer(qj))
			snprintf(q, sizeof(q), "%" JSON_INTEGER_FORMAT, json_integer_value(qj));
		else
			snprintf(q, sizeof(q), "%s", jstr(l, "quantity") ? jstr(l, "quantity") : "");
		int r = 0;
		if (jstr(l, "sku") && !(out[L_SKU] = strdup(jstr(l, "sku"))))
			r = -ENOMEM;
		if (r >= 0 && q[0])
			r = mail_fmt_number(c->fmt, q, &out[L_QUANTITY]);
		if (r >= 0 && cur && jstr(l, "unit_price"))
			r = mail_fmt_money(c->fmt, jstr(l, "unit_price"), cur, &out[L_UNIT_PRICE]);
		if (r >= 0 && cur && jstr(l, "net"))
			r = mail_fmt_money(c->fmt, jstr(l, "net"), cur, &out[L_NET]);
		if (r < 0)
			fail(c, r);
	}
}

/* Where each value comes from in the event, and how it is written; the first
 * row of a name that the event has wins. */
typedef enum src { S_CUST, S_RCPT, S_SP, S_SUP, S_ORDER, S_SHIP, S_DET, S_CAR, S_TASK, S_N } src;
typedef enum kind { K_TEXT, K_MONEY, K_DATE_FULL, K_DATE, K_TIME, K_COUNTRY, K_PERCENT } kind;
static const struct {
	mail_var var;
	src from;
	const char *key;
	kind how;
} SOURCES[] = {
	{ V_CUSTOMER_NAME, S_CUST, "name", K_TEXT },
	{ V_CONTACT_NAME, S_RCPT, "name", K_TEXT },
	{ V_ACCOUNT_NUMBER, S_CUST, "account_number", K_TEXT },
	{ V_ORDER, S_ORDER, "order", K_TEXT },
	{ V_ORDER, S_TASK, "order", K_TEXT },
	{ V_STANDING_ORDER, S_ORDER, "standing_order", K_TEXT },
	{ V_STANDING_ORDER, S_TASK, "standing_order", K_TEXT },
	{ V_SUPPLIER_NAME, S_SUP, "name", K_TEXT },
	{ V_SUPPLIER_NAME, S_SUP, "id", K_TEXT },
	{ V_SUPPLIER_NAME, S_ORDER, "supplier", K_TEXT },
	{ V_SALESPERSON_NAME, S_SP, "name", K_TEXT },
	{ V_SALESPERSON_EMAIL, S_SP, "email", K_TEXT },
	{ V_ORDER_DATE, S_ORDER, "created", K_DATE },
	{ V_DELIVERY_DATE, S_ORDER, "delivery", K_DATE_FULL },
	{ V_DELIVERY_TIME, S_ORDER, "delivery", K_TIME },
	{ V_DELIVERY_DATE, S_TASK, "delivery", K_DATE_FULL },   /* a reminder before its order exists */
	{ V_DELIVERY_TIME, S_TASK, "delivery", K_TIME },
	{ V_SHIP_TO_NAME, S_SHIP, "name", K_TEXT },
	{ V_SHIP_TO_STREET, S_SHIP, "street", K_TEXT },
	{ V_SHIP_TO_POSTCODE, S_SHIP, "postcode", K_TEXT },
	{ V_SHIP_TO_CITY, S_SHIP, "city", K_TEXT },
	{ V_SHIP_TO_COUNTRY, S_SHIP, "country", K_COUNTRY },
	{ V_SHIP_TO_COUNTRY, S_SHIP, "country", K_TEXT },
	{ V_NET, S_ORDER, "net", K_MONEY },
	{ V_VAT, S_ORDER, "vat", K_MONEY },
	{ V_VAT_RATE, S_ORDER, "vat_rate", K_PERCENT },
	{ V_GROSS, S_ORDER, "gross", K_MONEY },
	{ V_GROSS, S_ORDER, "total", K_MONEY },
	{ V_TOTAL, S_ORDER, "gross", K_MONEY },
	{ V_TOTAL, S_ORDER, "total", K_MONEY },
	{ V_PAYMENT_REFERENCE, S_DET, "payment_reference", K_TEXT },
	{ V_PAYMENT_REFERENCE, S_ORDER, "payment_reference", K_TEXT },
	{ V_AMOUNT_DUE, S_DET, "amount_due", K_MONEY },
	{ V_AMOUNT_DUE, S_ORDER, "amount_due", K_MONEY },
	{ V_DUE_DATE, S_DET, "due", K_DATE },
	{ V_DUE_TIME, S_DET, "due", K_TIME },
	{ V_REASON, S_DET, "reason", K_TEXT },
	{ V_BALANCE, S_DET, "balance", K_MONEY },
	{ V_CREDIT_LIMIT, S_DET, "credit_limit", K_MONEY },
	{ V_REFUNDED, S_DET, "refunded", K_MONEY },
	{ V_CREDITED, S_DET, "credited", K_MONEY },
	{ V_CARRIER_NAME, S_CAR, "name", K_TEXT },
	{ V_CARRIER_NAME, S_ORDER, "carrier", K_TEXT },
	{ V_TRACKING, S_ORDER, "tracking", K_TEXT },
	{ V_TRACKING, S_DET, "tracking", K_TEXT },
	{ V_TRACKING_URL, S_CAR, "tracking_url", K_TEXT },
	{ V_SHIPPED_DATE, S_ORDER, "shipped", K_DATE },
	{ V_SHIPPED_DATE, S_DET, "shipped", K_DATE },
	{ V_TASK, S_TASK, "id", K_TEXT },
	{ V_TASK_TEXT, S_TASK, "text", K_TEXT },
	{ V_TASK_DUE_DATE, S_TASK, "due", K_DATE_FULL },
	{ V_TASK_DUE_TIME, S_TASK, "due", K_TIME },
	{ V_CONTACT_EMAIL, S_RCPT, "email", K_TEXT },
	{ V_CONTACT_PHONE, S_RCPT, "phone", K_TEXT },
};

static void set_value(ctx *c, mail_var v, const json_t *field, kind how) {
	const char *s = json_string_value(field);
	if (c->mv.v[v] || (how == K_MONEY ? !json_is_object(field) : !s))
		return;
	int64_t t;
	int r = 0;
	switch (how) {
	case K_TEXT:
		r = (c->mv.v[v] = strdup(s)) ? 0 : -ENOMEM;
		break;
	case K_MONEY:
		c->mv.v[v] = money_text(c, field);
		break;
	case K_DATE_FULL:
	case K_DATE:
	case K_TIME:
		if (cal_parse_instant(s, &t) < 0)
			return;
		r = (how == K_DATE_FULL ? mail_fmt_date_full : how == K_DATE ? mail_fmt_date : mail_fmt_time)(
			c->fmt, t, &c->mv.v[v]);
		break;
	case K_COUNTRY:
		/* a code ICU does not know stays as written (the next row) */
		if ((r = mail_fmt_country(c->fmt, s, &c->mv.v[v])) == -EINVAL)
			r = 0;
		break;
	case K_PERCENT: {
		char pct[32];   /* "25.5%" */
		snprintf(pct, sizeof(pct), "%.*s", (int) strcspn(s, "%"), s);
		r = mail_fmt_percent(c->fmt, pct, &c->mv.v[v]);
		break;
	}
	}
	if (r < 0)
		fail(c, r);
}

static void values(ctx *c, const json_t *ev, const json_t *order, const json_t *rcpt) {
	const json_t *obj[S_N] = {
		[S_CUST] = json_object_get(ev, "customer"), [S_RCPT] = rcpt, [S_SP] = json_object_get(ev, "salesperson"),
		[S_SUP] = json_object_get(ev, "supplier"), [S_ORDER] = order,
		[S_SHIP] = json_object_get(order, "ship_to"), [S_DET] = json_object_get(ev, "details"),
		[S_CAR] = json_object_get(ev, "carrier"), [S_TASK] = json_object_get(ev, "task"),
	};
	for (size_t i = 0; i < sizeof(SOURCES) / sizeof(SOURCES[0]); i++)
		set_value(c, SOURCES[i].var, json_object_get(obj[SOURCES[i].from], SOURCES[i].key), SOURCES[i].how);
	const char *pay = jstr(order, "payment");
	if (pay && !strcmp(pay, "prepaid") && !(c->mv.v[V_PREPAID] = strdup("yes")))
		fail(c, -ENOMEM);
	/* cancelled by standingd itself, unpaid: the templates say so in their language */
	const char *by = jstr(obj[S_DET], "by"), *before = jstr(obj[S_DET], "status_before");
	if (by && before && !strcmp(by, "standingd") && !strcmp(before, "awaiting_payment") &&
	    !(c->mv.v[V_UNPAID] = strdup("yes")))
		fail(c, -ENOMEM);
	set_lines(c, json_object_get(order, "lines"));
}

/* ---- the message ---- */

static int compose_error(char **ret_error, const char *fmt, const char *a) {
	if (asprintf(ret_error, fmt, a ? a : "") < 0) {
		*ret_error = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* the event id as the Message-ID's left side: dot-atom text only */
static bool id_valid(const char *id) {
	if (!id || !*id || strlen(id) > 100)
		return false;
	for (const char *c = id; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' ||
		      *c == '.' || *c == '_'))
			return false;
	return id[0] != '.' && id[strlen(id) - 1] != '.' && !strstr(id, "..");
}

static int build(const mail_settings *ms, const char *id, const char *lang, const json_t *to, const char *reply_to,
		 const char *subject, const char *body, int64_t now, mail_message *m, char **ret_error) {
	char *from_name = NULL, *from_addr = NULL, *h_from = NULL, *h_to = NULL, *h_reply = NULL, *h_subj = NULL,
	     *qp = NULL;
	int r = mime_addr_parse(ms ? ms->from : NULL, &from_name, &from_addr);
	if (r == -EINVAL) {
		r = compose_error(ret_error, "mail from \"%s\" is not an e-mail address", ms ? ms->from : NULL);
		return r < 0 ? r : -EINVAL;
	}
	if (r < 0)
		return r;
	char date[40];
	mime_date(now, date);
	const char *domain = strrchr(from_addr, '@') + 1;
	if ((r = mime_header_address("From", from_name, from_addr, &h_from)) < 0 ||
	    (r = mime_header_address("To", jstr(to, "name"), jstr(to, "email"), &h_to)) < 0 ||
	    (reply_to && (r = mime_header_address("Reply-To", NULL, reply_to, &h_reply)) < 0) ||
	    (r = mime_header_unstructured("Subject", subject, &h_subj)) < 0 || (r = mime_qp_encode(body, &qp)) < 0)
		goto out;
	if (asprintf(&m->message_id, "<%s@standingd.%s>", id, domain) < 0 ||
	    !(m->envelope_from = strdup(from_addr)) || !(m->rcpt = strdup(jstr(to, "email"))) ||
	    !(m->subject = strdup(subject))) {
		m->message_id = NULL;
		r = -ENOMEM;
		goto out;
	}
	int n = asprintf(&m->data,
			 "Date: %s\r\n%s%s%s%sMessage-ID: %s\r\nMIME-Version: 1.0\r\n"
			 "Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n"
			 "Content-Language: %s\r\nAuto-Submitted: auto-generated\r\n\r\n%s",
			 date, h_from, h_to, h_reply ? h_reply : "", h_subj, m->message_id, lang, qp);
	if (n < 0) {
		m->data = NULL;
		r = -ENOMEM;
		goto out;
	}
	m->len = (size_t) n;
	r = 0;
out:
	if (r < 0)
		mail_message_free(m);
	free(from_name);
	free(from_addr);
	free(h_from);
	free(h_to);
	free(h_reply);
	free(h_subj);
	free(qp);
	return r;
}

/* doc/notify.md's table: the template of an event type, or -1 for none */
static int template_of(const char *type, const json_t *order) {
	static const struct { const char *type; mail_tmpl_id id; } map[] = {
		{ "order.created", TMPL_ORDER_CONFIRMATION },
		{ "order.confirmed", TMPL_ORDER_CONFIRMATION },
		{ "order.awaiting_payment", TMPL_PAYMENT_REQUEST },
		{ "order.payment_overdue", TMPL_PAYMENT_OVERDUE },
		{ "order.on_hold", TMPL_ORDER_ON_HOLD },
		{ "order.cancelled", TMPL_ORDER_CANCELLED },
		{ "order.shipped", TMPL_SHIPPING_CONFIRMATION },
		{ "task.due", TMPL_TASK_DUE },
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(type, map[i].type)) {
			/* a created order that is not confirmed gets its on_hold or
			 * awaiting_payment event's mail instead. The status it was created
			 * with (its history's first), not its status now: an order shipped
			 * before its order.created went out still gets its confirmation. */
			const json_t *h0 = json_array_get(json_object_get(order, "history"), 0);
			const char *st = jstr(h0 ? h0 : order, "status");
			if (i == 0 && (!st || strcmp(st, "confirmed")))
				return -1;
			return (int) map[i].id;
		}
	return -1;
}

int mail_compose(const mail_templates *t, const json_t *event, const mail_settings *ms, int64_t now,
		 mail_result *ret_result, mail_message *ret, char **ret_error) {
	*ret_error = NULL;
	const char *type = jstr(event, "type"), *id = jstr(event, "id");
	const json_t *order = json_object_get(event, "order"), *cust = json_object_get(event, "customer");
	if (!json_is_object(event) || !type || !id_valid(id)) {
		int r = compose_error(ret_error, "%s", !json_is_object(event) ? "the event is not a JSON object" :
						    !type ? "the event has no type" : "the event has no valid id");
		return r < 0 ? r : -EINVAL;
	}
	int tid = template_of(type, order);
	if (tid < 0) {
		*ret_result = MAIL_NONE;
		return 0;
	}
	/* a task's alert is about its task; the order only when the task names one */
	bool task_due = tid == TMPL_TASK_DUE;
	const json_t *tk = json_object_get(event, "task");
	if (task_due && (!jstr(tk, "id") || !jstr(tk, "text") || !json_is_object(cust))) {
		int r = compose_error(ret_error, "event %s has no task or no customer", id);
		return r < 0 ? r : -EINVAL;
	}
	if (task_due && !json_is_object(order))
		order = NULL;
	else if (!json_is_object(order) || !jstr(order, "order") || !json_is_object(cust)) {
		int r = compose_error(ret_error, "event %s has no order or no customer", id);
		return r < 0 ? r : -EINVAL;
	}
	const char *cust_id = jstr(cust, "id");
	if (!jstr(cust, "name")) {
		*ret_result = MAIL_UNDELIVERABLE;
		return compose_error(ret_error, "customer \"%s\" is no longer defined", cust_id);
	}
	const json_t *rcpt = json_object_get(event, "recipient"), *sp = json_object_get(event, "salesperson");
	const json_t *to = rcpt;
	const char *lang = jstr(cust, "language");
	bool to_salesperson = tid == TMPL_ORDER_ON_HOLD || task_due;
	if (task_due && !jstr(sp, "email")) {
		*ret_result = MAIL_UNDELIVERABLE;
		return compose_error(ret_error, "the assignee of task %s has no e-mail address", jstr(tk, "id"));
	}
	if (to_salesperson) {
		to = sp;
		if (!jstr(sp, "email")) {
			*ret_result = MAIL_UNDELIVERABLE;
			return compose_error(ret_error, "customer \"%s\" has no salesperson with an e-mail address", cust_id);
		}
		if (jstr(sp, "language"))
			lang = jstr(sp, "language");
	} else if (!jstr(rcpt, "email")) {
		*ret_result = MAIL_UNDELIVERABLE;
		return compose_error(ret_error, "customer \"%s\" has no contact with an e-mail address", cust_id);
	}
	if (!mime_addr_valid(jstr(to, "email"))) {
		*ret_result = MAIL_UNDELIVERABLE;
		return compose_error(ret_error, "\"%s\" is not an e-mail address this mailer can send to", jstr(to, "email"));
	}
	const char *reply_to = to_salesperson ? NULL : jstr(sp, "email");
	if (reply_to && !mime_addr_valid(reply_to))
		reply_to = NULL;
	/* a missing translation: the English text, with English formats and
	 * Content-Language, not an English sentence around Norwegian dates */
	int li = lang_index(lang);
	if (!t->t[li][tid])
		li = 0;
	const mail_tmpl *tm = t->t[li][tid];
	if (!tm) /* mail_templates_load refuses a set without English */
		return -EINVAL;

	ctx c = { 0 };
	const char *zone = jstr(event, "delivery_zone");
	const char *delivery = order ? jstr(order, "delivery") : jstr(tk, "delivery");
	int r = mail_fmt_open(LANGS[li], zone ? zone : jstr(cust, "timezone"), iso_offset(delivery), &c.fmt);
	if (r < 0)
		return r;
	values(&c, event, order, rcpt);
	char *subject = NULL, *body = NULL;
	if ((r = c.r) < 0 || (r = mail_tmpl_render(tm, &c.mv, &subject, &body)) < 0)
		goto out;
	mail_message m = { 0 };
	if ((r = build(ms, id, LANGS[li], to, reply_to, subject, body, now, &m, ret_error)) < 0)
		goto out;
	m.to_customer = !to_salesperson;
	*ret = m;
	*ret_result = MAIL_SEND;
out:
	if (r == -EINVAL && !*ret_error)
		compose_error(ret_error, "event %s: an amount, quantity or date is malformed", id);
	free(subject);
	free(body);
	mail_values_clear(&c.mv);
	mail_fmt_close(c.fmt);
	return r;
}
