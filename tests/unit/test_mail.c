/* mail: every template of every language rendered for a sample event against a
 * golden file; ICU's formatting per language, exactly (no-break spaces included);
 * the MIME pieces (quoted-printable, RFC 2047, header injection, Message-ID);
 * the template errors and warnings with their FILE:LINE:COL texts.
 *
 * The golden files are tests/golden/mail/LANG/TEMPLATE.txt: the recipient, the
 * decoded Subject and the decoded body. MAIL_GOLDEN_UPDATE=1 rewrites them
 * (`MAIL_GOLDEN_UPDATE=1 build/tests/unit/test_mail`); read the diff before
 * committing it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <unicode/uclean.h>
#include "lib/mail/mail.h"
#include "lib/mail/mail_int.h"
#include "tests/unit/tmpdir.h"

#define NBSP "\xc2\xa0"     /* U+00A0 NO-BREAK SPACE */
#define NNBSP "\xe2\x80\xaf" /* U+202F NARROW NO-BREAK SPACE */

/* ---- decoders of our own, to read back what mime.c wrote ---- */

static int hexval(char c) {
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* a quoted-printable body (CRLF lines) back to text with "\n" */
static char *qp_decode(const char *s) {
	char *out = malloc(strlen(s) + 1), *o = out;
	while (*s) {
		if (s[0] == '=' && s[1] == '\r' && s[2] == '\n')
			s += 3;
		else if (s[0] == '=') {
			assert_true(hexval(s[1]) >= 0 && hexval(s[2]) >= 0);
			*o++ = (char) (hexval(s[1]) * 16 + hexval(s[2]));
			s += 3;
		} else if (s[0] == '\r' && s[1] == '\n') {
			*o++ = '\n';
			s += 2;
		} else {
			/* what QP leaves literal: printable ASCII, and blanks not ending a line */
			assert_true((*s >= 33 && *s <= 126) || ((*s == ' ' || *s == '\t') && s[1] != '\r'));
			*o++ = *s++;
		}
	}
	*o = 0;
	return out;
}

static int b64val(char c) {
	const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = c ? strchr(a, c) : NULL;
	return p ? (int) (p - a) : -1;
}

/* an unfolded header value with RFC 2047 "B" words in UTF-8 back to text; the
 * blanks between two encoded words vanish (RFC 2047 6.2) */
static char *rfc2047_decode(const char *s) {
	char *out = calloc(1, strlen(s) + 1), *o = out;
	bool after_word = false;
	while (*s) {
		if (!strncmp(s, "=?UTF-8?B?", 10)) {
			const char *e = strstr(s + 10, "?=");
			assert_non_null(e);
			assert_true(e - s + 2 <= 75);
			unsigned v = 0;
			int bits = 0;
			for (const char *c = s + 10; c < e && *c != '='; c++) {
				assert_true(b64val(*c) >= 0);
				v = v << 6 | (unsigned) b64val(*c);
				bits += 6;
				if (bits >= 8) {
					bits -= 8;
					*o++ = (char) (v >> bits & 0xff);
				}
			}
			s = e + 2;
			after_word = true;
		} else if (after_word && *s == ' ' && s[strspn(s, " ")] && !strncmp(s + strspn(s, " "), "=?", 2)) {
			s += strspn(s, " ");
		} else {
			*o++ = *s++;
			after_word = false;
		}
	}
	*o = 0;
	return out;
}

/* header NAME of a message (unfolded, still encoded); NULL when absent */
static char *header(const char *msg, const char *name) {
	size_t n = strlen(name);
	for (const char *l = msg; l && *l && strncmp(l, "\r\n", 2);) {
		const char *e = strstr(l, "\r\n");
		if (!strncasecmp(l, name, n) && l[n] == ':') {
			const char *v = l + n + 1;
			while (*v == ' ')
				v++;
			char *out = calloc(1, strlen(v) + 1), *o = out;
			for (;;) {
				e = strstr(v, "\r\n");
				memcpy(o, v, (size_t) (e - v));
				o += e - v;
				if (e[2] != ' ' && e[2] != '\t')
					break;
				v = e + 2;   /* unfold: the CRLF goes, the blank stays */
			}
			*o = 0;
			return out;
		}
		l = e + 2;
	}
	return NULL;
}

static const char *body_of(const char *msg) {
	const char *b = strstr(msg, "\r\n\r\n");
	assert_non_null(b);
	return b + 4;
}

/* every line of a message: CRLF ends, at most 78 characters in the header and 76
 * in the body, no bare CR or LF */
static void assert_lines(const char *msg) {
	bool in_body = false;
	for (const char *l = msg; *l;) {
		const char *e = strstr(l, "\r\n");
		assert_non_null(e);
		size_t n = (size_t) (e - l);
		assert_null(memchr(l, '\n', n));
		assert_null(memchr(l, '\r', n));
		if (n > (in_body ? 76u : 78u))
			print_error("line too long (%zu): %.*s\n", n, (int) n, l);
		assert_true(n <= (in_body ? 76u : 78u));
		if (n == 0)
			in_body = true;
		l = e + 2;
	}
}

/* ---- sample events, one set of facts per language ---- */

typedef struct sample {
	const char *lang, *cust_id, *cust_name, *zone, *account, *contact, *email, *salesperson, *sp_lang;
	const char *supplier_id, *supplier_name, *ship_name, *street, *postcode, *city, *country;
	const char *currency, *sku[2], *unit[2], *line_net[2];
	int qty[2];
	const char *net, *vat, *rate, *gross, *delivery, *created, *due, *overdue_due;
	const char *carrier_id, *carrier_name, *tracking, *tracking_url, *shipped;
	const char *reference, *balance, *limit, *cancel_reason;
	bool cancel_unpaid;
} sample;

static const sample SAMPLES[] = {
	{ "en", "harbour", "Harbour Lights Ltd", "Europe/Dublin", "ACC-5001", "Emma Clarke", "emma@harbour.example",
	  "sales@lumen.example", "en", "lumen", "Lumen Oy", "Harbour Lights", "12 Quay Street", "D02 X285", "Dublin", "IE",
	  "EUR", { "BULB-E27-9W", "SHADE-40CM" }, { "0.85", "14.50" }, { "850.00", "174.00" }, { 1000, 12 },
	  "1024.00", "235.52", "23%", "1259.52", "2027-01-15T08:00:00+00:00", "2027-01-08T08:00:00Z",
	  "2027-01-11T08:00:00Z", "2027-01-11T08:00:00Z", "dhl", "DHL Express", "JD014600006281230704",
	  "https://tracking.example/dhl/JD014600006281230704", "2027-01-13T14:30:00Z", "RF71000000513",
	  "48250.00", "50000.00", "The customer closed the shop for renovation", false },
	{ "fi", "acme", "ACME Oy", "Europe/Helsinki", "ACC-1001", "Aino Virtanen", "aino@acme.example",
	  "sales@lumen.example", "fi", "lumen", "Lumen Oy", "ACME Oy, keskusvarasto", "Teollisuuskatu 21", "00510",
	  "Helsinki", "FI", "EUR", { "BULB-E27-9W", "LAMP-HOLDER" }, { "0.85", "3.40" }, { "850.00", "68.00" },
	  { 1000, 20 }, "918.00", "234.09", "25.5%", "1152.09", "2027-02-01T08:00:00+02:00", "2027-01-25T06:00:00Z",
	  "2027-01-28T06:00:00Z", "2027-01-28T06:00:00Z", "posti", "Posti", "JJFI65432100000123456",
	  "https://tracking.example/posti/JJFI65432100000123456", "2027-01-29T12:15:00Z", "RF18000000427",
	  "49500.00", "50000.00", "Asiakkaan pyynnöstä", true },
	{ "lv", "rigas-biroji", "Rīgas Biroji SIA", "Europe/Riga", "ACC-2040", "Ģirts Bērziņš", "girts@birojs.example",
	  "pardosana@baltic-paper.example", "lv", "baltic-paper", "Baltijas Papīrs SIA", "Rīgas Biroji", "Brīvības iela 55",
	  "LV-1010", "Rīga", "LV", "EUR", { "PAPER-A4-80G", "TONER-85A" }, { "3.95", "15.00" }, { "790.00", "60.00" },
	  { 200, 4 }, "850.00", "178.50", "21%", "1028.50", "2027-03-31T09:00:00+03:00", "2027-03-24T06:00:00Z",
	  "2027-03-27T06:00:00Z", "2027-03-27T06:00:00Z", "omniva", "Omniva", "CE123456789LV",
	  "https://tracking.example/omniva/CE123456789LV", "2027-03-29T10:00:00Z", "RF95000002048",
	  "7500.00", "8000.00", "Klients lūdza atcelt pasūtījumu", false },
	{ "nb", "kaffe-tromso", "Kaffebrenneriet Tromsø AS", "Europe/Oslo", "ACC-3007", "Bjørn Ødegård",
	  "bjorn@kaffe.example", "salg@nordkaffe.example", "nb", "nordkaffe", "Nordkaffe AS", "Kaffebrenneriet",
	  "Storgata 12", "9008", "Tromsø", "NO", "NOK", { "KAFFE-1KG", "FILTER-1X4" }, { "189.00", "24.50" },
	  { "11340.00", "245.00" }, { 60, 10 }, "11585.00", "2896.25", "25%", "14481.25", "2027-01-31T03:30:00+01:00",
	  "2027-01-30T14:30:00Z", "2027-02-02T14:30:00Z", "2027-02-02T14:30:00Z", "posten", "Posten", "370123456789",
	  "https://tracking.example/posten/370123456789", "2027-01-30T08:15:00Z", "RF47000003007",
	  "112000.00", "120000.00", "Kunden har stengt for oppussing", false },
	{ "vi", "anh-sang", "Công ty TNHH Ánh Sáng Sài Gòn", "Asia/Ho_Chi_Minh", "ACC-4100", "Nguyễn Thị Hương",
	  "huong@anhsang.example", "sales@lumen.example", "vi", "lumen", "Lumen Oy", "Ánh Sáng Sài Gòn",
	  "123 Nguyễn Huệ, Phường Bến Nghé, Quận 1", NULL, "Thành phố Hồ Chí Minh", "VN", "VND",
	  { "BULB-E27-9W", "LAMP-HOLDER" }, { "45000", "150000" }, { "45000000", "3000000" }, { 1000, 20 },
	  "48000000", "3840000", "8%", "51840000", "2027-02-05T09:00:00+07:00", "2027-01-29T02:00:00Z",
	  "2027-02-01T02:00:00Z", "2027-02-01T02:00:00Z", "viettelpost", "Viettel Post", "VTP1234567890",
	  "https://tracking.example/viettelpost/VTP1234567890", "2027-02-03T03:00:00Z", "RF22000004100",
	  "480000000", "500000000", "Theo yêu cầu của khách hàng", true },
};
#define N_SAMPLES (sizeof(SAMPLES) / sizeof(SAMPLES[0]))

static const char *const EVENT_OF[TMPL_N] = {
	"order.created", "order.awaiting_payment", "order.payment_overdue",
	"order.on_hold", "order.cancelled", "order.shipped", "task.due",
};

static json_t *money_j(const char *amount, const char *cur) {
	return json_pack("{s:s, s:s}", "amount", amount, "currency", cur);
}

static json_t *sample_event(const sample *s, mail_tmpl_id id) {
	bool prepaid = id == TMPL_PAYMENT_REQUEST || id == TMPL_PAYMENT_OVERDUE || (id == TMPL_ORDER_CANCELLED && s->cancel_unpaid);
	const char *status = id == TMPL_ORDER_CONFIRMATION ? "confirmed" : id == TMPL_ORDER_ON_HOLD ? "on_hold" :
			     id == TMPL_ORDER_CANCELLED ? "cancelled" : id == TMPL_SHIPPING_CONFIRMATION ? "shipped" :
			     "awaiting_payment";
	json_t *lines = json_array();
	for (int i = 0; i < 2; i++)
		json_array_append_new(lines, json_pack("{s:s, s:i, s:s, s:s, s:s}", "sku", s->sku[i], "quantity", s->qty[i],
						       "unit_price", s->unit[i], "currency", s->currency, "net", s->line_net[i]));
	const char *number = id == TMPL_ORDER_CONFIRMATION ? "SO-00000042-7" : "SO-00000043-5";
	json_t *order = json_pack(
		"{s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s?, s:s, s:s}, s:o, s:o, s:s, s:s, s:s, s:s, s:b, s:s?, s:s?, s:s?,"
		" s:o, s:o, s:s, s:o, s:o, s:s?}",
		"order", number, "standing_order", "standing-1", "customer", s->cust_id, "supplier", s->supplier_id,
		"ship_to", "name", s->ship_name, "street", s->street, "postcode", s->postcode, "city", s->city,
		"country", s->country, "lines", lines, "total", money_j(s->gross, s->currency), "delivery", s->delivery,
		"created", s->created, "payment", prepaid ? "prepaid" : "account", "status", status, "late", false,
		"carrier", id == TMPL_SHIPPING_CONFIRMATION ? s->carrier_id : NULL,
		"tracking", id == TMPL_SHIPPING_CONFIRMATION ? s->tracking : NULL,
		"shipped", id == TMPL_SHIPPING_CONFIRMATION ? s->shipped : NULL,
		"net", money_j(s->net, s->currency), "vat", money_j(s->vat, s->currency), "vat_rate", s->rate,
		"gross", money_j(s->gross, s->currency),
		"amount_due", prepaid && id != TMPL_ORDER_CANCELLED ? money_j(s->gross, s->currency) : json_null(),
		"payment_reference", prepaid ? s->reference : NULL);
	json_t *details;
	switch (id) {
	case TMPL_ORDER_CONFIRMATION:
		details = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "order", number, "standing_order", "standing-1",
				    "customer", s->cust_id, "supplier", s->supplier_id, "delivery", s->delivery, "total",
				    money_j(s->gross, s->currency));
		break;
	case TMPL_PAYMENT_REQUEST:
		details = json_pack("{s:s, s:s, s:o, s:s, s:s}", "order", number, "customer", s->cust_id, "amount_due",
				    money_j(s->gross, s->currency), "payment_reference", s->reference, "due", s->due);
		break;
	case TMPL_PAYMENT_OVERDUE:
		details = json_pack("{s:s, s:s, s:o, s:s, s:s, s:s}", "order", number, "customer", s->cust_id,
				    "amount_due", money_j(s->gross, s->currency), "payment_reference", s->reference,
				    "created", s->created, "due", s->overdue_due);
		break;
	case TMPL_ORDER_ON_HOLD: {
		char reason[160];
		snprintf(reason, sizeof(reason), "credit limit %s %s: balance %s + order %s", s->limit, s->currency,
			 s->balance, s->gross);
		details = json_pack("{s:s, s:s, s:o, s:o, s:o, s:s}", "order", number, "customer", s->cust_id, "total",
				    money_j(s->gross, s->currency), "balance", money_j(s->balance, s->currency),
				    "credit_limit", money_j(s->limit, s->currency), "reason", reason);
		break;
	}
	case TMPL_ORDER_CANCELLED:
		if (s->cancel_unpaid)
			details = json_pack("{s:s, s:s, s:s, s:s, s:s, s:n, s:n}", "order", number, "customer", s->cust_id,
					    "status_before", "awaiting_payment", "reason", "unpaid after 14 days", "by",
					    "standingd", "credited", "refunded");
		else
			details = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:n}", "order", number, "customer", s->cust_id,
					    "status_before", "confirmed", "reason", s->cancel_reason, "by", "ops:anna",
					    "credited", money_j(s->gross, s->currency), "refunded");
		break;
	default:
		details = json_pack("{s:s, s:s, s:s, s:s, s:s}", "order", number, "supplier", s->supplier_id, "carrier",
				    s->carrier_id, "tracking", s->tracking, "shipped", s->shipped);
		break;
	}
	json_t *ev = json_pack(
		"{s:s, s:i, s:s, s:s, s:i,"
		" s:{s:s, s:s, s:s, s:s, s:s, s:[{s:s, s:s, s:s, s:n}]},"
		" s:{s:s, s:s, s:s}, s:{s:s, s:n, s:s, s:s}, s:{s:s, s:s}, s:o, s:s, s:o, s:o}",
		"id", "5f0c9a3e1b2d4c6f-42", "seq", 42, "type", EVENT_OF[id], "at", "2027-01-08T08:00:00Z", "attempt", 1,
		"customer", "id", s->cust_id, "name", s->cust_name, "language", s->lang, "timezone", s->zone,
		"account_number", s->account, "contacts", "name", s->contact, "role", "purchasing", "email", s->email, "phone",
		"recipient", "name", s->contact, "role", "purchasing", "email", s->email,
		"salesperson", "id", s->salesperson, "name", "email", s->salesperson, "language", s->sp_lang,
		"supplier", "id", s->supplier_id, "name", s->supplier_name,
		"order", order, "delivery_zone", s->zone,
		"carrier", id == TMPL_SHIPPING_CONFIRMATION ? json_pack("{s:s, s:s, s:s}", "id", s->carrier_id, "name",
									s->carrier_name, "tracking_url", s->tracking_url)
							    : json_null(),
		"details", details);
	assert_non_null(ev);
	return ev;
}

/* task.due as standingd expands it (doc/crm.md): the task, the assignee from
 * salespeople:, the customer, the order when the task names one. Per sample: the
 * assignee (a salesperson writing in the customer's language), the contact's
 * phone, the reminder's text as crm_task_text rendered it, its due instant (three
 * days before the sample's delivery). */
static const struct {
	const char *sp_id, *sp_name, *sp_email, *phone, *text, *manual_text, *due;
} TASK_SAMPLES[] = {
	{ "siobhan", "Siobhan Walsh", "siobhan@lumen.example", "+353 1 555 0142",
	  "Call Emma Clarke about the Friday, 15 January 2027 delivery", "Ask about the spring catalogue",
	  "2027-01-12T08:00:00Z" },
	{ "ville", "Ville Korhonen", "ville.korhonen@lumen.example", "+358 40 555 0123",
	  "Soita asiakkaalle (Aino Virtanen): toimitus maanantai 1. helmikuuta 2027",
	  "Kysy, haluavatko he kevään tuoteluettelon", "2027-01-29T06:00:00Z" },
	{ "ilze", "Ilze Kalniņa", "ilze@baltic-paper.example", "+371 2955 0142",
	  "Piezvanīt klientam (Ģirts Bērziņš) par piegādi: trešdiena, 2027. gada 31. marts",
	  "Pajautāt, vai viņiem vajag pavasara katalogu", "2027-03-28T06:00:00Z" },
	{ "ingrid", "Ingrid Haugen", "ingrid@nordkaffe.example", "+47 915 55 014",
	  "Ring Bjørn Ødegård om leveringen søndag 31. januar 2027", "Spør om de vil ha vårkatalogen",
	  "2027-01-28T02:30:00Z" },
	{ "thao", "Trần Thu Thảo", "thao@lumen.example", "+84 28 5555 0142",
	  "Gọi cho Nguyễn Thị Hương về đợt giao hàng Thứ Sáu, 5 tháng 2, 2027",
	  "Hỏi khách hàng có cần catalogue mùa xuân không", "2027-02-02T02:00:00Z" },
};

static json_t *task_event(size_t l, bool manual) {
	const sample *s = &SAMPLES[l];
	json_t *ev = sample_event(s, TMPL_ORDER_CONFIRMATION);
	const char *text = manual ? TASK_SAMPLES[l].manual_text : TASK_SAMPLES[l].text;
	const char *order = manual ? NULL : "SO-00000042-7", *so = manual ? NULL : "standing-1";
	const char *delivery = manual ? NULL : s->delivery;
	json_object_set_new(ev, "type", json_string("task.due"));
	json_object_set_new(ev, "salesperson", json_pack("{s:s, s:s, s:s, s:s}", "id", TASK_SAMPLES[l].sp_id, "name",
							 TASK_SAMPLES[l].sp_name, "email", TASK_SAMPLES[l].sp_email,
							 "language", s->lang));
	json_object_set_new(json_object_get(ev, "recipient"), "phone",
			    manual ? json_null() : json_string(TASK_SAMPLES[l].phone));
	json_object_set_new(ev, "task", json_pack(
		"{s:s, s:s, s:s, s:s, s:s, s:s, s:s?, s:s?, s:s?, s:s, s:s, s:[]}", "id", "T-00000042", "assignee",
		TASK_SAMPLES[l].sp_id, "customer", s->cust_id, "due", TASK_SAMPLES[l].due, "text", text, "kind",
		manual ? "manual" : "before", "order", order, "standing_order", so, "delivery", delivery, "status", "open",
		"created", TASK_SAMPLES[l].due, "history"));
	json_object_set_new(ev, "details", json_pack(
		"{s:s, s:s, s:s, s:s, s:s, s:s?, s:s?}", "task", "T-00000042", "assignee", TASK_SAMPLES[l].sp_id,
		"customer", s->cust_id, "due", TASK_SAMPLES[l].due, "kind", manual ? "manual" : "before", "order", order,
		"standing_order", so));
	if (manual) {
		json_object_set_new(ev, "order", json_null());
		json_object_set_new(ev, "supplier", json_null());
		json_object_set_new(ev, "delivery_zone", json_null());
	}
	assert_non_null(json_object_get(ev, "task"));
	return ev;
}

static const mail_settings SETTINGS = { .from = "Lumen Oy <orders@lumen.example>" };
#define NOW 1800000000   /* 2027-01-15T08:00:00Z */

static mail_templates *load_conf(void) {
	diag_list errs = { 0 }, warns = { 0 };
	mail_templates *t = NULL;
	int r = mail_templates_load(SRCDIR "/conf", &t, &errs, &warns);
	for (size_t i = 0; i < errs.n; i++)
		print_error("%s\n", diag_format(&errs.v[i]));
	assert_int_equal(r, 0);
	assert_int_equal(errs.n, 0);
	assert_int_equal(warns.n, 0);   /* conf/ has every translation */
	diag_list_clear(&errs);
	diag_list_clear(&warns);
	return t;
}

static void compose_ok(const mail_templates *t, json_t *ev, mail_message *m) {
	mail_result res = MAIL_NONE;
	char *err = NULL;
	int r = mail_compose(t, ev, &SETTINGS, NOW, &res, m, &err);
	if (r < 0 || res != MAIL_SEND)
		print_error("mail_compose: %d %s\n", r, err ? err : "");
	assert_int_equal(r, 0);
	assert_int_equal(res, MAIL_SEND);
	assert_null(err);
}

static char *slurp(const char *path) {
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *s = calloc(1, 1 << 16);
	size_t n = fread(s, 1, (1 << 16) - 1, f);
	s[n] = 0;
	fclose(f);
	return s;
}

/* ---- golden files ---- */

/* One golden file: 0 when the rendered message matches (or was rewritten). */
static int golden(const mail_templates *t, json_t *ev, const char *lang, const char *name, bool update) {
	mail_message m = { 0 };
	compose_ok(t, ev, &m);
	assert_lines(m.data);
	char *to = header(m.data, "To"), *subj = header(m.data, "Subject");
	char *dto = rfc2047_decode(to), *dsubj = rfc2047_decode(subj);
	assert_string_equal(dsubj, m.subject);
	char *body = qp_decode(body_of(m.data));
	char *got;
	assert_true(asprintf(&got, "To: %s\nSubject: %s\n\n%s", dto, dsubj, body) > 0);
	char path[512];
	snprintf(path, sizeof(path), SRCDIR "/tests/golden/mail/%s/%s.txt", lang, name);
	int failed = 0;
	if (update) {
		char dir[512];
		snprintf(dir, sizeof(dir), SRCDIR "/tests/golden/mail/%s", lang);
		mkdir(SRCDIR "/tests/golden", 0755);
		mkdir(SRCDIR "/tests/golden/mail", 0755);
		mkdir(dir, 0755);
		FILE *f = fopen(path, "wb");
		assert_non_null(f);
		fputs(got, f);
		fclose(f);
	} else {
		char *want = slurp(path);
		if (!want || strcmp(want, got)) {
			print_error("%s differs (MAIL_GOLDEN_UPDATE=1 rewrites it); got:\n%s\n", path, got);
			failed = 1;
		}
		free(want);
	}
	free(got);
	free(body);
	free(to);
	free(subj);
	free(dto);
	free(dsubj);
	mail_message_free(&m);
	json_decref(ev);
	return failed;
}

static void test_golden(void **state) {
	(void) state;
	mail_templates *t = load_conf();
	bool update = getenv("MAIL_GOLDEN_UPDATE") && *getenv("MAIL_GOLDEN_UPDATE");
	int failed = 0;
	for (size_t l = 0; l < N_SAMPLES; l++) {
		const sample *s = &SAMPLES[l];
		for (int id = 0; id < TMPL_TASK_DUE; id++)
			failed += golden(t, sample_event(s, (mail_tmpl_id) id), s->lang, mail_tmpl_names[id], update);
		/* the salesperson's task alert: a reminder of a standing order's delivery,
		 * and a task set by hand with nothing but the customer */
		failed += golden(t, task_event(l, false), s->lang, "task-due", update);
		failed += golden(t, task_event(l, true), s->lang, "task-due-manual", update);
		/* the optional parts of two templates, in every language: a paid prepaid
		 * order cancelled by ops (credited and refunded, the operator's reason),
		 * and a shipment without a tracking link nor a contact name */
		json_t *ev = sample_event(s, TMPL_ORDER_CANCELLED);
		json_object_set_new(json_object_get(ev, "order"), "payment", json_string("prepaid"));
		json_object_set_new(ev, "details", json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o}", "order", "SO-00000043-5",
							      "customer", s->cust_id, "status_before", "confirmed", "reason",
							      s->cancel_reason, "by",
							      "ops:anna", "credited", money_j(s->gross, s->currency),
							      "refunded", money_j(s->gross, s->currency)));
		failed += golden(t, ev, s->lang, "order-cancelled-refunded", update);
		ev = sample_event(s, TMPL_SHIPPING_CONFIRMATION);
		json_object_set_new(json_object_get(ev, "carrier"), "tracking_url", json_null());
		json_object_set_new(json_object_get(ev, "recipient"), "name", json_null());
		failed += golden(t, ev, s->lang, "shipping-confirmation-no-link", update);
	}
	mail_templates_free(t);
	assert_int_equal(failed, 0);
}

/* ---- ICU formatting, exactly ---- */

static char *fmt1(const char *lang, const char *zone, int which, const char *a, const char *b, int64_t t) {
	mail_fmt *f = NULL;
	assert_int_equal(mail_fmt_open(lang, zone, 7200, &f), 0);
	char *out = NULL;
	int r = which == 0 ? mail_fmt_money(f, a, b, &out) : which == 1 ? mail_fmt_number(f, a, &out) :
		which == 2 ? mail_fmt_percent(f, a, &out) : which == 3 ? mail_fmt_date_full(f, t, &out) :
		which == 4 ? mail_fmt_date(f, t, &out) : which == 5 ? mail_fmt_time(f, t, &out) :
		mail_fmt_country(f, a, &out);
	assert_int_equal(r, 0);
	mail_fmt_close(f);
	return out;
}

#define EXPECT(want, expr) do { \
		char *got_ = (expr); \
		if (strcmp(got_, want)) \
			print_error("got \"%s\", want \"%s\"\n", got_, want); \
		assert_string_equal(got_, want); \
		free(got_); \
	} while (0)

static void test_icu_money(void **state) {
	(void) state;
	/* 850 EUR: ICU 72's data for each language, its no-break spaces included */
	EXPECT("€850.00", fmt1("en", NULL, 0, "850.00", "EUR", 0));
	EXPECT("850,00" NBSP "€", fmt1("fi", NULL, 0, "850.00", "EUR", 0));
	EXPECT("850,00" NBSP "€", fmt1("lv", NULL, 0, "850.00", "EUR", 0));
	EXPECT("€" NBSP "850,00", fmt1("nb", NULL, 0, "850.00", "EUR", 0));
	EXPECT("kr" NBSP "14" NBSP "481,25", fmt1("nb", NULL, 0, "14481.25", "NOK", 0));
	EXPECT("850.000" NBSP "₫", fmt1("vi", NULL, 0, "850000", "VND", 0));
	/* the currency's decimals, from a decimal string: no binary rounding */
	EXPECT("1" NBSP "234" NBSP "567,89" NBSP "€", fmt1("fi", NULL, 0, "1234567.89", "EUR", 0));
	EXPECT("€92,233,720,368,547,758.07", fmt1("en", NULL, 0, "92233720368547758.07", "EUR", 0));
	/* U+2212 MINUS SIGN, as ICU's Finnish data writes it */
	EXPECT("\xe2\x88\x92" "0,05" NBSP "€", fmt1("fi", NULL, 0, "-0.05", "EUR", 0));
	/* numbers and percentages */
	EXPECT("1,000", fmt1("en", NULL, 1, "1000", NULL, 0));
	EXPECT("1" NBSP "000", fmt1("fi", NULL, 1, "1000", NULL, 0));
	EXPECT("1" NBSP "000", fmt1("lv", NULL, 1, "1000", NULL, 0));
	EXPECT("1" NBSP "000", fmt1("nb", NULL, 1, "1000", NULL, 0));
	EXPECT("1.000", fmt1("vi", NULL, 1, "1000", NULL, 0));
	EXPECT("25.5%", fmt1("en", NULL, 2, "25.5", NULL, 0));
	EXPECT("25,5" NBSP "%", fmt1("fi", NULL, 2, "25.5", NULL, 0));
	EXPECT("21%", fmt1("lv", NULL, 2, "21", NULL, 0));
	EXPECT("25" NBSP "%", fmt1("nb", NULL, 2, "25", NULL, 0));
	EXPECT("8%", fmt1("vi", NULL, 2, "8", NULL, 0));
	EXPECT("12,125" NBSP "%", fmt1("fi", NULL, 2, "12.125", NULL, 0));
	/* what is not a decimal is refused, not guessed */
	mail_fmt *f = NULL;
	char *out = NULL;
	assert_int_equal(mail_fmt_open("fi", NULL, 0, &f), 0);
	assert_int_equal(mail_fmt_money(f, "8,50", "EUR", &out), -EINVAL);
	assert_int_equal(mail_fmt_money(f, "1e3", "EUR", &out), -EINVAL);
	assert_int_equal(mail_fmt_money(f, "", "EUR", &out), -EINVAL);
	assert_int_equal(mail_fmt_money(f, "8.50", "EU", &out), -EINVAL);
	assert_int_equal(mail_fmt_number(f, "12.", &out), 0);   /* "12." is 12 */
	assert_string_equal(out, "12");
	free(out);
	assert_null(NULL);
	mail_fmt_close(f);
}

static void test_icu_dates(void **state) {
	(void) state;
	const int64_t t = 1801375200;   /* 2027-01-31T06:00:00Z: Sunday 08:00 in Helsinki */
	EXPECT("Sunday, 31 January 2027", fmt1("en", "Europe/Helsinki", 3, NULL, NULL, t));
	EXPECT("31 January 2027", fmt1("en", "Europe/Helsinki", 4, NULL, NULL, t));
	EXPECT("08:00", fmt1("en", "Europe/Helsinki", 5, NULL, NULL, t));
	EXPECT("sunnuntai 31. tammikuuta 2027", fmt1("fi", "Europe/Helsinki", 3, NULL, NULL, t));
	EXPECT("31. tammikuuta 2027", fmt1("fi", "Europe/Helsinki", 4, NULL, NULL, t));
	EXPECT("8.00", fmt1("fi", "Europe/Helsinki", 5, NULL, NULL, t));
	EXPECT("svētdiena, 2027. gada 31. janvāris", fmt1("lv", "Europe/Riga", 3, NULL, NULL, t));
	EXPECT("2027. gada 31. janvāris", fmt1("lv", "Europe/Riga", 4, NULL, NULL, t));
	EXPECT("08:00", fmt1("lv", "Europe/Riga", 5, NULL, NULL, t));
	EXPECT("søndag 31. januar 2027", fmt1("nb", "Europe/Oslo", 3, NULL, NULL, t));
	EXPECT("07:00", fmt1("nb", "Europe/Oslo", 5, NULL, NULL, t));
	EXPECT("Chủ Nhật, 31 tháng 1, 2027", fmt1("vi", "Asia/Ho_Chi_Minh", 3, NULL, NULL, t));
	EXPECT("31 tháng 1, 2027", fmt1("vi", "Asia/Ho_Chi_Minh", 4, NULL, NULL, t));
	EXPECT("13:00", fmt1("vi", "Asia/Ho_Chi_Minh", 5, NULL, NULL, t));
	/* the delivery zone decides the day: 23:30 UTC is already Monday in Helsinki */
	EXPECT("maanantai 1. helmikuuta 2027", fmt1("fi", "Europe/Helsinki", 3, NULL, NULL, 1801438200));
	EXPECT("1.30", fmt1("fi", "Europe/Helsinki", 5, NULL, NULL, 1801438200));
	EXPECT("Sunday, 31 January 2027", fmt1("en", "Europe/Dublin", 3, NULL, NULL, 1801438200));
	/* a zone ICU does not know: the fixed offset (here +02:00) */
	EXPECT("1.30", fmt1("fi", "Mars/Olympus_Mons", 5, NULL, NULL, 1801438200));
	EXPECT("1.30", fmt1("fi", NULL, 5, NULL, NULL, 1801438200));
	/* country names in the language */
	EXPECT("Norja", fmt1("fi", NULL, 6, "NO", NULL, 0));
	EXPECT("Norvēģija", fmt1("lv", NULL, 6, "NO", NULL, 0));
	EXPECT("Phần Lan", fmt1("vi", NULL, 6, "FI", NULL, 0));
	EXPECT("Latvia", fmt1("en", NULL, 6, "LV", NULL, 0));
}

/* ---- MIME ---- */

static char *qp(const char *text) {
	char *out = NULL;
	assert_int_equal(mime_qp_encode(text, &out), 0);
	return out;
}

static void test_qp(void **state) {
	(void) state;
	EXPECT("Hyv=C3=A4 =C3=84=C3=A4kk=C3=B6nen\r\n", qp("Hyvä Ääkkönen\n"));
	EXPECT("a=3Db\r\n", qp("a=b\n"));
	/* blanks ending a line are encoded (transport may strip them) */
	EXPECT("a=20\r\nb=09\r\n\r\n", qp("a \nb\t\n\n"));
	/* a dot opening a line: SMTP's end of data */
	EXPECT("=2E\r\n=2E.x\r\n", qp(".\n..x\n"));
	/* a long line of non-ASCII: lines of at most 76, soft breaks between whole
	 * characters (12 "ä" = 72 characters and "=" per line), decoded back exactly */
	char text[256] = "", want[1024] = "";
	for (int i = 0; i < 100; i++)
		strcat(text, "ä");
	strcat(text, "\n");
	for (int i = 0; i < 100; i++) {
		strcat(want, "=C3=A4");
		if (i % 12 == 11)
			strcat(want, "=\r\n");
	}
	strcat(want, "\r\n");
	char *got = qp(text);
	assert_string_equal(got, want);
	char *back = qp_decode(got);
	assert_string_equal(back, text);
	free(back);
	free(got);
	/* 76 plain characters fit one line; 77 do not */
	char l76[100], l77[100];
	memset(l76, 'x', 76), l76[76] = '\n', l76[77] = 0;
	memset(l77, 'x', 77), l77[77] = '\n', l77[78] = 0;
	got = qp(l76);
	assert_int_equal(strlen(got), 78);
	free(got);
	got = qp(l77);
	assert_string_equal(got + 75, "=\r\nxx\r\n");
	free(got);
	/* a text without a final line end gets one */
	EXPECT("x\r\n", qp("x"));
}

static char *hdr_u(const char *name, const char *value) {
	char *out = NULL;
	assert_int_equal(mime_header_unstructured(name, value, &out), 0);
	return out;
}

static char *hdr_a(const char *name, const char *display, const char *addr) {
	char *out = NULL;
	assert_int_equal(mime_header_address(name, display, addr, &out), 0);
	return out;
}

static void test_rfc2047(void **state) {
	(void) state;
	EXPECT("Subject: =?UTF-8?B?w4TDpGtrw7ZuZW4=?=\r\n", hdr_u("Subject", "Ääkkönen"));
	EXPECT("Subject: Order confirmation SO-00000042-7\r\n", hdr_u("Subject", "Order confirmation SO-00000042-7"));
	EXPECT("To: =?UTF-8?B?xKJpcnRzIELEk3J6acWGxaE=?= <girts@birojs.example>\r\n",
	       hdr_a("To", "Ģirts Bērziņš", "girts@birojs.example"));
	EXPECT("To: =?UTF-8?B?VHJvbXPDuA==?= <post@tromso.example>\r\n", hdr_a("To", "Tromsø", "post@tromso.example"));
	EXPECT("To: =?UTF-8?B?Tmd1eeG7hW4gVGjhu4sgSMawxqFuZw==?= <huong@anhsang.example>\r\n",
	       hdr_a("To", "Nguyễn Thị Hương", "huong@anhsang.example"));
	/* ASCII names: as they are, quoted when they hold specials */
	EXPECT("From: Lumen Oy <orders@lumen.example>\r\n", hdr_a("From", "Lumen Oy", "orders@lumen.example"));
	EXPECT("From: \"Lumen Oy, orders \\\"EU\\\"\" <orders@lumen.example>\r\n",
	       hdr_a("From", "Lumen Oy, orders \"EU\"", "orders@lumen.example"));
	EXPECT("Reply-To: sales@lumen.example\r\n", hdr_a("Reply-To", NULL, "sales@lumen.example"));
	/* a long Vietnamese subject: several encoded words of at most 75 characters,
	 * lines of at most 76, split between characters, decoded back exactly */
	const char *subj = "Nhắc nhở: đơn hàng SO-00000043-5 của Công ty TNHH Ánh Sáng Sài Gòn đã quá hạn thanh toán";
	char *h = hdr_u("Subject", subj);
	int words = 0;
	for (const char *l = h; *l;) {
		const char *e = strstr(l, "\r\n");
		assert_true(e - l <= 76);
		words++;
		l = e + 2;
	}
	assert_true(words >= 3);
	char *v = header(h, "Subject");
	char *d = rfc2047_decode(v);
	assert_string_equal(d, subj);
	free(d);
	free(v);
	free(h);
	/* a long ASCII subject folds at a space */
	h = hdr_u("Subject", "Reminder: payment for order SO-00000043-5 is overdue, please pay it as soon as you can");
	assert_string_equal(h, "Subject: Reminder: payment for order SO-00000043-5 is overdue, please pay it\r\n"
			       " as soon as you can\r\n");
	free(h);
	/* text a reader would decode ("=?...?=") and words too long for a line are
	 * encoded words too */
	EXPECT("Subject: =?UTF-8?B?PT9VVEYtOD9CP1FRPT0/PQ==?=\r\n", hdr_u("Subject", "=?UTF-8?B?QQ==?="));
	char word[120];
	memset(word, 'x', 100), word[100] = 0;
	h = hdr_u("Subject", word);
	assert_true(strncmp(h, "Subject: =?UTF-8?B?eHh4", 23) == 0);
	v = header(h, "Subject");
	d = rfc2047_decode(v);
	assert_string_equal(d, word);
	free(d);
	free(v);
	free(h);
	/* dates */
	char date[40];
	mime_date(NOW, date);
	assert_string_equal(date, "Fri, 15 Jan 2027 08:00:00 +0000");
	mime_date(951782400, date);
	assert_string_equal(date, "Tue, 29 Feb 2000 00:00:00 +0000");
}

static void test_addresses(void **state) {
	(void) state;
	assert_true(mime_addr_valid("aino@acme.example"));
	assert_true(mime_addr_valid("first.last+tag@sub.acme.example"));
	assert_false(mime_addr_valid("aino@acme.example\r\nBcc: x@evil.example"));
	assert_false(mime_addr_valid("aino@acme.example>"));
	assert_false(mime_addr_valid("Aino <aino@acme.example>"));
	assert_false(mime_addr_valid("aino"));
	assert_false(mime_addr_valid("@acme.example"));
	assert_false(mime_addr_valid("aino@"));
	assert_false(mime_addr_valid(".aino@acme.example"));
	assert_false(mime_addr_valid("ai..no@acme.example"));
	assert_false(mime_addr_valid("aino@acme..example"));
	assert_false(mime_addr_valid("äino@acme.example"));   /* no SMTPUTF8 */
	char *d = NULL, *a = NULL;
	assert_int_equal(mime_addr_parse("Lumen Oy <orders@lumen.example>", &d, &a), 0);
	assert_string_equal(d, "Lumen Oy");
	assert_string_equal(a, "orders@lumen.example");
	free(d), free(a);
	assert_int_equal(mime_addr_parse("\"Lumen, Oy\" <orders@lumen.example>", &d, &a), 0);
	assert_string_equal(d, "Lumen, Oy");
	free(d), free(a);
	assert_int_equal(mime_addr_parse(" orders@lumen.example ", &d, &a), 0);
	assert_null(d);
	assert_string_equal(a, "orders@lumen.example");
	free(a);
	d = a = (char *) "untouched";
	assert_int_equal(mime_addr_parse("Lumen <orders@lumen.example> x", &d, &a), -EINVAL);
	assert_int_equal(mime_addr_parse("Lumen <orders@lumen.example\r\nBcc: x@evil.example>", &d, &a), -EINVAL);
	assert_int_equal(mime_addr_parse("Lumen <orders>", &d, &a), -EINVAL);
	assert_string_equal(a, "untouched");
}

/* no value reaches a header with a line break: the header block has exactly the
 * fields we write, each ending in CRLF */
static void assert_headers_only(const char *msg, int n_extra) {
	static const char *const names[] = { "Date", "From", "To", "Subject", "Message-ID", "MIME-Version",
					     "Content-Type", "Content-Transfer-Encoding", "Content-Language",
					     "Auto-Submitted", "Reply-To" };
	int fields = 0;
	for (const char *l = msg; strncmp(l, "\r\n", 2);) {
		const char *e = strstr(l, "\r\n");
		if (*l != ' ') {
			bool known = false;
			for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
				if (!strncmp(l, names[i], strlen(names[i])) && l[strlen(names[i])] == ':')
					known = true;
			if (!known)
				print_error("unexpected header line: %.*s\n", (int) (e - l), l);
			assert_true(known);
			fields++;
		}
		l = e + 2;
	}
	assert_int_equal(fields, 10 + n_extra);
}

static void test_injection(void **state) {
	(void) state;
	mail_templates *t = load_conf();
	const sample *s = &SAMPLES[1];
	/* a name and an order number with line breaks: spaces in the headers */
	json_t *ev = sample_event(s, TMPL_ORDER_CONFIRMATION);
	json_object_set_new(json_object_get(ev, "recipient"), "name", json_string("Eve\r\nBcc: victim@evil.example"));
	json_object_set_new(json_object_get(ev, "order"), "order", json_string("SO-1\r\nBcc: victim@evil.example"));
	mail_message m = { 0 };
	compose_ok(t, ev, &m);
	assert_headers_only(m.data, 1);
	assert_null(strstr(m.data, "\r\nBcc:"));   /* nor in the body: values are one line */
	char *to = header(m.data, "To");
	assert_string_equal(to, "\"Eve  Bcc: victim@evil.example\" <aino@acme.example>");
	char *subj = header(m.data, "Subject");
	assert_string_equal(subj, "Tilausvahvistus SO-1  Bcc: victim@evil.example");
	free(to);
	free(subj);
	assert_string_equal(m.rcpt, "aino@acme.example");
	mail_message_free(&m);
	json_decref(ev);
	/* an address with a line break is no address: undeliverable */
	ev = sample_event(s, TMPL_ORDER_CONFIRMATION);
	json_object_set_new(json_object_get(ev, "recipient"), "email", json_string("aino@acme.example\r\nBcc: x@evil.example"));
	mail_result res = MAIL_SEND;
	char *err = NULL;
	assert_int_equal(mail_compose(t, ev, &SETTINGS, NOW, &res, &m, &err), 0);
	assert_int_equal(res, MAIL_UNDELIVERABLE);
	assert_string_equal(err, "\"aino@acme.example\r\nBcc: x@evil.example\" is not an e-mail address this mailer can send to");
	free(err);
	json_decref(ev);
	/* a salesperson's address with one: no Reply-To */
	ev = sample_event(s, TMPL_ORDER_CONFIRMATION);
	json_object_set_new(json_object_get(ev, "salesperson"), "email", json_string("s@x.example\r\nBcc: x@evil.example"));
	compose_ok(t, ev, &m);
	assert_headers_only(m.data, 0);
	mail_message_free(&m);
	json_decref(ev);
	/* a From with one: the config is wrong, not the event */
	ev = sample_event(s, TMPL_ORDER_CONFIRMATION);
	mail_settings bad = { .from = "Lumen <orders@lumen.example>\r\nBcc: x@evil.example" };
	err = NULL;
	assert_int_equal(mail_compose(t, ev, &bad, NOW, &res, &m, &err), -EINVAL);
	assert_string_equal(err, "mail from \"Lumen <orders@lumen.example>\r\nBcc: x@evil.example\" is not an e-mail address");
	free(err);
	json_decref(ev);
	mail_templates_free(t);
}

static void test_message(void **state) {
	(void) state;
	mail_templates *t = load_conf();
	json_t *ev = sample_event(&SAMPLES[1], TMPL_ORDER_CONFIRMATION);
	mail_message m = { 0 }, again = { 0 };
	compose_ok(t, ev, &m);
	const char *want =
		"Date: Fri, 15 Jan 2027 08:00:00 +0000\r\n"
		"From: Lumen Oy <orders@lumen.example>\r\n"
		"To: Aino Virtanen <aino@acme.example>\r\n"
		"Reply-To: sales@lumen.example\r\n"
		"Subject: Tilausvahvistus SO-00000042-7\r\n"
		"Message-ID: <5f0c9a3e1b2d4c6f-42@standingd.lumen.example>\r\n"
		"MIME-Version: 1.0\r\n"
		"Content-Type: text/plain; charset=UTF-8\r\n"
		"Content-Transfer-Encoding: quoted-printable\r\n"
		"Content-Language: fi\r\n"
		"Auto-Submitted: auto-generated\r\n"
		"\r\n"
		"Hei Aino Virtanen,\r\n";
	assert_true(m.len == strlen(m.data));
	if (strncmp(m.data, want, strlen(want)))
		print_error("got:\n%s\n", m.data);
	assert_true(strncmp(m.data, want, strlen(want)) == 0);
	assert_string_equal(m.envelope_from, "orders@lumen.example");
	assert_string_equal(m.rcpt, "aino@acme.example");
	assert_string_equal(m.subject, "Tilausvahvistus SO-00000042-7");
	assert_string_equal(m.message_id, "<5f0c9a3e1b2d4c6f-42@standingd.lumen.example>");
	/* a retry, later: the same Message-ID, a new Date */
	compose_ok(t, ev, &again);
	mail_message_free(&again);
	mail_result res;
	char *err = NULL;
	assert_int_equal(mail_compose(t, ev, &SETTINGS, NOW + 3600, &res, &again, &err), 0);
	assert_string_equal(again.message_id, m.message_id);
	char *d = header(again.data, "Date");
	assert_string_equal(d, "Fri, 15 Jan 2027 09:00:00 +0000");
	free(d);
	mail_message_free(&again);
	/* another event: another Message-ID; a From without a name */
	json_object_set_new(ev, "id", json_string("5f0c9a3e1b2d4c6f-43"));
	mail_settings plain = { .from = "orders@lumen.example" };
	assert_int_equal(mail_compose(t, ev, &plain, NOW, &res, &again, &err), 0);
	assert_string_equal(again.message_id, "<5f0c9a3e1b2d4c6f-43@standingd.lumen.example>");
	char *from = header(again.data, "From");
	assert_string_equal(from, "orders@lumen.example");
	free(from);
	mail_message_free(&again);
	mail_message_free(&m);
	assert_null(m.data);
	json_decref(ev);
	mail_templates_free(t);
}

/* doc/notify.md's table, and who gets what */
static void compose_result(const mail_templates *t, json_t *ev, int want_r, mail_result want, const char *want_err) {
	mail_result res = (mail_result) 99;
	mail_message m = { 0 };
	char *err = NULL;
	int r = mail_compose(t, ev, &SETTINGS, NOW, &res, &m, &err);
	assert_int_equal(r, want_r);
	if (r == 0)
		assert_int_equal(res, want);
	if (want_err) {
		assert_non_null(err);
		assert_string_equal(err, want_err);
	} else
		assert_null(err);
	free(err);
	mail_message_free(&m);
	json_decref(ev);
}

static void test_compose_table(void **state) {
	(void) state;
	mail_templates *t = load_conf();
	const sample *fi = &SAMPLES[1];
	json_t *ev;
	/* order.created of an order that is not confirmed: its other event mails */
	ev = sample_event(fi, TMPL_ORDER_CONFIRMATION);
	json_object_set_new(json_object_get(ev, "order"), "status", json_string("awaiting_payment"));
	compose_result(t, ev, 0, MAIL_NONE, NULL);
	ev = sample_event(fi, TMPL_ORDER_CONFIRMATION);
	json_object_set_new(json_object_get(ev, "order"), "status", json_string("on_hold"));
	compose_result(t, ev, 0, MAIL_NONE, NULL);
	/* the view shows the order as it is now: its status at creation is its first
	 * history entry's. Created confirmed and shipped since: confirmation */
	ev = sample_event(fi, TMPL_ORDER_CONFIRMATION);
	json_object_set_new(json_object_get(ev, "order"), "status", json_string("shipped"));
	json_object_set_new(json_object_get(ev, "order"), "history",
			    json_pack("[{s:s, s:s, s:s, s:n}, {s:s, s:s, s:s, s:n}]", "at", "2027-01-25T06:00:00Z", "by",
				      "standingd", "status", "confirmed", "reason", "at", "2027-01-29T12:15:00Z", "by",
				      "supplier:lumen", "status", "shipped", "reason"));
	compose_result(t, ev, 0, MAIL_SEND, NULL);
	/* created on hold and released since: order.confirmed mails, not this */
	ev = sample_event(fi, TMPL_ORDER_CONFIRMATION);
	json_object_set_new(json_object_get(ev, "order"), "history",
			    json_pack("[{s:s, s:s, s:s, s:s}, {s:s, s:s, s:s, s:n}]", "at", "2027-01-25T06:00:00Z", "by",
				      "standingd", "status", "on_hold", "reason", "credit limit", "at",
				      "2027-01-26T06:00:00Z", "by", "ops:anna", "status", "confirmed", "reason"));
	compose_result(t, ev, 0, MAIL_NONE, NULL);
	/* order.confirmed: the confirmation */
	ev = sample_event(fi, TMPL_ORDER_CONFIRMATION);
	json_object_set_new(ev, "type", json_string("order.confirmed"));
	compose_result(t, ev, 0, MAIL_SEND, NULL);
	/* account.payment and types this version does not know: nothing to send */
	ev = json_pack("{s:s, s:s, s:n, s:{s:s}}", "id", "5f0c9a3e1b2d4c6f-44", "type", "account.payment", "order",
		       "customer", "id", "acme");
	compose_result(t, ev, 0, MAIL_NONE, NULL);
	ev = sample_event(fi, TMPL_ORDER_CONFIRMATION);
	json_object_set_new(ev, "type", json_string("order.teleported"));
	compose_result(t, ev, 0, MAIL_NONE, NULL);
	/* no one to send to: undeliverable, with why */
	ev = sample_event(fi, TMPL_SHIPPING_CONFIRMATION);
	json_object_set_new(ev, "recipient", json_null());
	compose_result(t, ev, 0, MAIL_UNDELIVERABLE, "customer \"acme\" has no contact with an e-mail address");
	ev = sample_event(fi, TMPL_SHIPPING_CONFIRMATION);
	json_object_set_new(json_object_get(ev, "customer"), "name", json_null());
	compose_result(t, ev, 0, MAIL_UNDELIVERABLE, "customer \"acme\" is no longer defined");
	ev = sample_event(fi, TMPL_ORDER_ON_HOLD);
	json_object_set_new(ev, "salesperson", json_null());
	compose_result(t, ev, 0, MAIL_UNDELIVERABLE, "customer \"acme\" has no salesperson with an e-mail address");
	/* malformed events */
	ev = sample_event(fi, TMPL_SHIPPING_CONFIRMATION);
	json_object_del(ev, "id");
	compose_result(t, ev, -EINVAL, MAIL_NONE, "the event has no valid id");
	ev = sample_event(fi, TMPL_SHIPPING_CONFIRMATION);
	json_object_set_new(ev, "id", json_string("x>y"));
	compose_result(t, ev, -EINVAL, MAIL_NONE, "the event has no valid id");
	ev = sample_event(fi, TMPL_SHIPPING_CONFIRMATION);
	json_object_set_new(ev, "order", json_null());
	compose_result(t, ev, -EINVAL, MAIL_NONE, "event 5f0c9a3e1b2d4c6f-42 has no order or no customer");
	ev = sample_event(fi, TMPL_ORDER_CONFIRMATION);
	json_object_set_new(json_object_get(ev, "order"), "net", json_pack("{s:s, s:s}", "amount", "8,50", "currency", "EUR"));
	compose_result(t, ev, -EINVAL, MAIL_NONE, "event 5f0c9a3e1b2d4c6f-42: an amount, quantity or date is malformed");

	/* order-on-hold goes to the salesperson, in the salesperson's language */
	ev = sample_event(fi, TMPL_ORDER_ON_HOLD);
	json_object_set_new(json_object_get(ev, "salesperson"), "language", json_string("en"));
	json_object_set_new(json_object_get(ev, "salesperson"), "name", json_string("Sanna Myyjä"));
	mail_message m = { 0 };
	compose_ok(t, ev, &m);
	assert_string_equal(m.rcpt, "sales@lumen.example");
	assert_string_equal(m.subject, "On hold: order SO-00000043-5 for ACME Oy");
	assert_null(header(m.data, "Reply-To"));
	char *to = header(m.data, "To");
	assert_string_equal(to, "=?UTF-8?B?U2FubmEgTXl5asOk?= <sales@lumen.example>");
	free(to);
	char *body = qp_decode(body_of(m.data));
	assert_true(strncmp(body, "Hello Sanna Myyjä,\n", 19) == 0);
	assert_non_null(strstr(body, "Credit limit:   €50,000.00\n"));
	free(body);
	mail_message_free(&m);
	json_decref(ev);
	/* a language without templates of its own (or none at all): English */
	ev = sample_event(fi, TMPL_ORDER_CONFIRMATION);
	json_object_set_new(json_object_get(ev, "customer"), "language", json_string("de"));
	compose_ok(t, ev, &m);
	assert_string_equal(m.subject, "Order confirmation SO-00000042-7");
	char *lang = header(m.data, "Content-Language");
	assert_string_equal(lang, "en");
	free(lang);
	mail_message_free(&m);
	json_decref(ev);
	mail_templates_free(t);
}

/* ---- template syntax and its errors ---- */

#define FI_OC "templates/fi/order-confirmation.txt"

static void parse_err(mail_tmpl_id id, const char *text, const char *want) {
	diag_list errs = { 0 };
	mail_tmpl *tm = (mail_tmpl *) 0x1;
	int r = mail_tmpl_parse(FI_OC, text, strlen(text), id, &tm, &errs);
	assert_int_equal(r, -EINVAL);
	assert_ptr_equal(tm, (mail_tmpl *) 0x1);   /* untouched */
	char all[1024] = "";
	for (size_t i = 0; i < errs.n; i++) {
		char *d = diag_format(&errs.v[i]);
		if (i)
			strcat(all, "\n");
		strncat(all, d, sizeof(all) - strlen(all) - 1);
		free(d);
	}
	if (strcmp(all, want))
		print_error("got:\n%s\nwant:\n%s\n", all, want);
	assert_string_equal(all, want);
	diag_list_clear(&errs);
}

/* task.due: to the assignee in the assignee's language, no Reply-To; a reminder
 * before its order exists shows the delivery from the task; what cannot be sent */
static void test_task_due(void **state) {
	(void) state;
	mail_templates *t = load_conf();
	mail_message m = { 0 };
	/* a Finnish customer's task assigned to a Norwegian-writing salesperson */
	json_t *ev = task_event(1, false);
	json_object_set_new(json_object_get(ev, "salesperson"), "language", json_string("nb"));
	compose_ok(t, ev, &m);
	assert_false(m.to_customer);
	assert_string_equal(m.rcpt, "ville.korhonen@lumen.example");
	assert_string_equal(m.subject, "Oppgave: Soita asiakkaalle (Aino Virtanen): toimitus maanantai 1. helmikuuta 2027");
	assert_null(header(m.data, "Reply-To"));
	char *cl = header(m.data, "Content-Language");
	assert_string_equal(cl, "nb");
	free(cl);
	char *b = qp_decode(body_of(m.data));
	assert_non_null(strstr(b, "Frist:           fredag 29. januar 2027 kl. 08:00\n"));
	free(b);
	mail_message_free(&m);
	json_decref(ev);
	/* before the occurrence's order exists: no order, the delivery from the task */
	ev = task_event(1, false);
	json_object_set_new(ev, "order", json_null());
	json_object_set_new(json_object_get(ev, "task"), "order", json_null());
	compose_ok(t, ev, &m);
	b = qp_decode(body_of(m.data));
	assert_null(strstr(b, "Tilaus:"));
	assert_non_null(strstr(b, "Kestotilaus:      standing-1\nToimitus:         maanantai 1. helmikuuta 2027 klo 8.00\n"));
	free(b);
	mail_message_free(&m);
	json_decref(ev);
	/* the customers' mails say so, the salesperson's do not */
	ev = sample_event(&SAMPLES[1], TMPL_ORDER_CONFIRMATION);
	compose_ok(t, ev, &m);
	assert_true(m.to_customer);
	mail_message_free(&m);
	json_decref(ev);
	ev = sample_event(&SAMPLES[1], TMPL_ORDER_ON_HOLD);
	compose_ok(t, ev, &m);
	assert_false(m.to_customer);
	mail_message_free(&m);
	json_decref(ev);
	/* an assignee not in salespeople: (no e-mail); a task record gone */
	ev = task_event(1, false);
	json_object_set_new(ev, "salesperson", json_pack("{s:s, s:n, s:n, s:s}", "id", "bob", "name", "email",
							 "language", "fi"));
	compose_result(t, ev, 0, MAIL_UNDELIVERABLE, "the assignee of task T-00000042 has no e-mail address");
	ev = task_event(1, false);
	json_object_set_new(ev, "task", json_null());
	compose_result(t, ev, -EINVAL, MAIL_NONE, "event 5f0c9a3e1b2d4c6f-42 has no task or no customer");
	mail_templates_free(t);
}

static void test_template_errors(void **state) {
	(void) state;
	parse_err(TMPL_ORDER_CONFIRMATION, "Tilausvahvistus {{order}}\n\nYhteensä:    {{totl}}\n",
		  FI_OC ":3:14: unknown placeholder \"totl\"");
	parse_err(TMPL_ORDER_CONFIRMATION, "S\n\nYhteensä: {{ gros }} ja {{net}}\n",
		  FI_OC ":3:11: unknown placeholder \"gros\"");
	parse_err(TMPL_ORDER_CONFIRMATION, "S\nbody\n{{#lines}}\n  {{sku}}\n",
		  FI_OC ":3:1: unclosed section \"lines\"");
	parse_err(TMPL_ORDER_CONFIRMATION, "S\nsumma }} euroa\n", FI_OC ":2:7: \"}}\" without \"{{\"");
	parse_err(TMPL_ORDER_CONFIRMATION, "S\nsumma {{net euroa\n", FI_OC ":2:7: \"{{\" without \"}}\" on its line");
	parse_err(TMPL_ORDER_CONFIRMATION, "S\nx\n{{/lines}}\n", FI_OC ":3:1: {{/lines}} closes no open section");
	parse_err(TMPL_SHIPPING_CONFIRMATION, "S\n{{#tracking}}x{{/lines}}{{/tracking}}\n",
		  FI_OC ":2:15: {{/lines}} does not close the open section {{#tracking}}");
	parse_err(TMPL_ORDER_CONFIRMATION, "S\nSeuranta: {{tracking}}\n",
		  FI_OC ":2:11: placeholder \"tracking\" is not available in order-confirmation");
	parse_err(TMPL_ORDER_CONFIRMATION, "S\n{{sku}}\n",
		  FI_OC ":2:1: placeholder \"sku\" is an order line's: use it inside {{#lines}}...{{/lines}}");
	parse_err(TMPL_ORDER_CONFIRMATION, "S\n{{lines}}\n", FI_OC ":2:1: \"lines\" is a section: use {{#lines}}...{{/lines}}");
	parse_err(TMPL_ORDER_CONFIRMATION, "S\n{{#lines}}{{#lines}}{{/lines}}{{/lines}}\n",
		  FI_OC ":2:11: {{#lines}} inside {{#lines}}\n" FI_OC ":2:31: {{/lines}} closes no open section");
	parse_err(TMPL_ORDER_CONFIRMATION, "S\n{{Order}} {{}}\n",
		  FI_OC ":2:1: bad placeholder \"Order\": a name is lowercase letters, digits and _\n"
		  FI_OC ":2:11: bad placeholder \"\": a name is lowercase letters, digits and _");
	parse_err(TMPL_ORDER_CONFIRMATION, "   \nbody\n", FI_OC ":1:1: the first line is the Subject, and it is empty");
	parse_err(TMPL_ORDER_CONFIRMATION, "{{#prepaid}}Maksettu\n{{/prepaid}}\n",
		  FI_OC ":1:1: unclosed section \"prepaid\" (the Subject is line 1 only)\n"
		  FI_OC ":2:1: {{/prepaid}} closes no open section");
	parse_err(TMPL_ORDER_CONFIRMATION, "S\nää \xff\n", FI_OC ":2:4: invalid UTF-8");
	parse_err(TMPL_ORDER_CONFIRMATION, "S\nä\x1b[31m\n", FI_OC ":2:2: unexpected control character U+001B");
	parse_err(TMPL_ORDER_CONFIRMATION, "Subject only\n\n  \n", FI_OC ": no body after the Subject line");
	parse_err(TMPL_ORDER_CONFIRMATION, "", FI_OC ": empty: the first line is the Subject, the body follows");
}

static char *render(mail_tmpl_id id, const char *text, const mail_values *mv) {
	diag_list errs = { 0 };
	mail_tmpl *tm = NULL;
	assert_int_equal(mail_tmpl_parse("t", text, strlen(text), id, &tm, &errs), 0);
	char *subj = NULL, *body = NULL, *out = NULL;
	assert_int_equal(mail_tmpl_render(tm, mv, &subj, &body), 0);
	assert_true(asprintf(&out, "%s|%s", subj, body) > 0);
	free(subj);
	free(body);
	mail_tmpl_free(tm);
	return out;
}

static void test_template_render(void **state) {
	(void) state;
	mail_values mv = { 0 };
	mv.v[V_ORDER] = strdup("SO-1");
	mv.v[V_NET] = strdup("10,00 €");
	mv.v[V_CONTACT_NAME] = strdup("");
	mv.n_lines = 2;
	mv.lines = calloc(2, sizeof(*mv.lines));
	mv.lines[0][L_SKU] = strdup("A");
	mv.lines[0][L_NET] = strdup("4,00 €");
	mv.lines[1][L_SKU] = strdup("B");
	mv.lines[1][L_NET] = strdup("6,00 €");
	/* CRLF template, blank lines after the Subject dropped, a section tag alone on
	 * its line takes the line with it, {{net}} inside lines is the line's, an
	 * empty value is absent for a section, trailing blank lines go */
	EXPECT("Tilaus SO-1|Hei,\n  A 4,00 €\n  B 6,00 €\nYht. 10,00 €\nei nimeä\n",
	       render(TMPL_ORDER_CONFIRMATION,
		      "Tilaus {{ order }}\r\n\r\n\r\nHei{{#contact_name}} {{contact_name}}{{/contact_name}},\r\n"
		      "  {{#lines}}  \r\n  {{sku}} {{net}}\r\n{{/lines}}\r\nYht. {{net}}\r\n"
		      "{{^contact_name}}\r\nei nimeä\r\n{{/contact_name}}\r\n{{#prepaid}}\r\nmaksettu\r\n{{/prepaid}}\r\n\r\n\r\n",
		      &mv));
	/* {{^lines}}: no lines; a section on a line's own name */
	mv.lines[1][L_NET][0] = 0;
	EXPECT("S|A:4,00 € B:-\n",
	       render(TMPL_ORDER_CONFIRMATION, "S\n{{#lines}}{{sku}}:{{#net}}{{net}}{{/net}}{{^net}}-{{/net}} {{/lines}}{{^lines}}none{{/lines}}\n", &mv));
	/* a value with a line break cannot break the Subject, nor a line of the body */
	free(mv.v[V_ORDER]);
	mv.v[V_ORDER] = strdup("SO-1\r\nBcc: x");
	EXPECT("Tilaus SO-1  Bcc: x|b SO-1  Bcc: x\n", render(TMPL_ORDER_CONFIRMATION, "Tilaus {{order}}\nb {{order}}", &mv));
	mail_values_clear(&mv);
	mail_values_clear(&mv);   /* cleared: again is harmless */
}

/* ---- loading a config directory's templates ---- */

static void put_file(const char *dir, const char *rel, const char *text) {
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void copy_conf(const char *dir, const char *lang) {
	char d[512];
	snprintf(d, sizeof(d), "%s/templates/%s", dir, lang);
	mkdir(d, 0755);
	for (int i = 0; i < TMPL_N; i++) {
		char src[512], rel[128];
		snprintf(src, sizeof(src), SRCDIR "/conf/templates/%s/%s.txt", lang, mail_tmpl_names[i]);
		snprintf(rel, sizeof(rel), "templates/%s/%s.txt", lang, mail_tmpl_names[i]);
		char *text = slurp(src);
		assert_non_null(text);
		put_file(dir, rel, text);
		free(text);
	}
}

static char *diags(diag_list *l) {
	diag_sort(l);
	size_t cap = 8192;
	char *all = calloc(1, cap);
	for (size_t i = 0; i < l->n; i++) {
		char *d = diag_format(&l->v[i]);
		strncat(all, d, cap - strlen(all) - 2);
		strcat(all, "\n");
		free(d);
	}
	return all;
}

static void test_load(void **state) {
	(void) state;
	char dir[] = "/tmp/test_mail.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char sub[600];
	snprintf(sub, sizeof(sub), "%s/templates", dir);
	mkdir(sub, 0755);
	copy_conf(dir, "en");
	copy_conf(dir, "fi");
	copy_conf(dir, "nb");
	/* a missing translation: a warning, and English is used */
	snprintf(sub, sizeof(sub), "%s/templates/nb/payment-overdue.txt", dir);
	unlink(sub);
	/* files no one reads: a misspelt name, a language there are no mails in;
	 * hidden files and editors' backups are no one's business */
	put_file(dir, "templates/nb/payment-overdu.txt", "Påminnelse\n\nx\n");
	put_file(dir, "templates/nb/.payment-overdue.txt.swp", "x");
	put_file(dir, "templates/nb/payment-request.txt~", "x");
	snprintf(sub, sizeof(sub), "%s/templates/de", dir);
	mkdir(sub, 0755);
	diag_list errs = { 0 }, warns = { 0 };
	mail_templates *t = NULL;
	assert_int_equal(mail_templates_load(dir, &t, &errs, &warns), 0);
	assert_int_equal(errs.n, 0);
	char *w = diags(&warns);
	const char *want_w =
		"templates/de: not a language of the mails (en fi lv nb vi); ignored\n"
		"templates/lv/order-cancelled.txt: missing; Latvian customers get the English template\n"
		"templates/lv/order-confirmation.txt: missing; Latvian customers get the English template\n"
		"templates/lv/order-on-hold.txt: missing; Latvian customers get the English template\n"
		"templates/lv/payment-overdue.txt: missing; Latvian customers get the English template\n"
		"templates/lv/payment-request.txt: missing; Latvian customers get the English template\n"
		"templates/lv/shipping-confirmation.txt: missing; Latvian customers get the English template\n"
		"templates/lv/task-due.txt: missing; Latvian customers get the English template\n"
		"templates/nb/payment-overdu.txt: not a template name (order-confirmation.txt, payment-request.txt, "
		"payment-overdue.txt, order-on-hold.txt, order-cancelled.txt, shipping-confirmation.txt, "
		"task-due.txt); ignored\n"
		"templates/nb/payment-overdue.txt: missing; Norwegian customers get the English template\n"
		"templates/vi/order-cancelled.txt: missing; Vietnamese customers get the English template\n"
		"templates/vi/order-confirmation.txt: missing; Vietnamese customers get the English template\n"
		"templates/vi/order-on-hold.txt: missing; Vietnamese customers get the English template\n"
		"templates/vi/payment-overdue.txt: missing; Vietnamese customers get the English template\n"
		"templates/vi/payment-request.txt: missing; Vietnamese customers get the English template\n"
		"templates/vi/shipping-confirmation.txt: missing; Vietnamese customers get the English template\n"
		"templates/vi/task-due.txt: missing; Vietnamese customers get the English template\n";
	assert_string_equal(w, want_w);
	free(w);
	diag_list_clear(&warns);
	json_t *ev = sample_event(&SAMPLES[3], TMPL_PAYMENT_OVERDUE);
	mail_message m = { 0 };
	compose_ok(t, ev, &m);
	assert_string_equal(m.subject, "Reminder: payment for order SO-00000043-5 is overdue");
	/* English all through: the text, its formats, Content-Language */
	char *cl = header(m.data, "Content-Language");
	assert_string_equal(cl, "en");
	free(cl);
	char *b = qp_decode(body_of(m.data));
	assert_non_null(strstr(b, "your order SO-00000043-5 of 30 January 2027. It was due on 2 February 2027.\n"));
	assert_non_null(strstr(b, "Amount due:        NOK" NBSP "14,481.25\n"));
	free(b);
	mail_message_free(&m);
	json_decref(ev);
	ev = sample_event(&SAMPLES[3], TMPL_PAYMENT_REQUEST);
	compose_ok(t, ev, &m);
	assert_string_equal(m.subject, "Forhåndsbetaling for ordre SO-00000043-5");
	mail_message_free(&m);
	json_decref(ev);
	mail_templates_free(t);

	/* errors: every one of every file, English missing is one */
	put_file(dir, "templates/fi/order-confirmation.txt", "Tilausvahvistus {{order}}\n\nYhteensä:    {{totl}}\n");
	put_file(dir, "templates/nb/order-cancelled.txt", "Ordre {{order}} er kansellert\n\n{{#unpaid}}\nx\n");
	snprintf(sub, sizeof(sub), "%s/templates/en/shipping-confirmation.txt", dir);
	unlink(sub);
	t = (mail_templates *) 0x1;
	assert_int_equal(mail_templates_load(dir, &t, &errs, &warns), -EINVAL);
	assert_ptr_equal(t, (mail_templates *) 0x1);
	char *e = diags(&errs);
	assert_string_equal(e,
		"templates/en/shipping-confirmation.txt: missing; every language falls back to English, so it is required\n"
		"templates/fi/order-confirmation.txt:3:14: unknown placeholder \"totl\"\n"
		"templates/nb/order-cancelled.txt:3:1: unclosed section \"unpaid\"\n");
	free(e);
	diag_list_clear(&errs);
	diag_list_clear(&warns);
	/* no templates directory at all: English missing seven times */
	tmpdir_remove(dir);
	assert_non_null(mkdtemp(strcpy(dir, "/tmp/test_mail.XXXXXX")));
	assert_int_equal(mail_templates_load(dir, &t, &errs, &warns), -EINVAL);
	assert_int_equal(errs.n, 7);
	assert_int_equal(warns.n, 28);
	diag_list_clear(&errs);
	diag_list_clear(&warns);
	tmpdir_remove(dir);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_icu_money),
		cmocka_unit_test(test_icu_dates),
		cmocka_unit_test(test_qp),
		cmocka_unit_test(test_rfc2047),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_injection),
		cmocka_unit_test(test_message),
		cmocka_unit_test(test_compose_table),
		cmocka_unit_test(test_task_due),
		cmocka_unit_test(test_template_errors),
		cmocka_unit_test(test_template_render),
		cmocka_unit_test(test_load),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	u_cleanup();
	return r;
}
