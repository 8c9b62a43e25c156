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
	  "49500.00", "50000.00", NULL, true },
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
	  "480000000", "500000000", NULL, true },
};
#define N_SAMPLES (sizeof(SAMPLES) / sizeof(SAMPLES[0]))

static const char *const EVENT_OF[TMPL_N] = {
	"order.created", "order.awaiting_payment", "order.payment_overdue",
	"order.on_hold", "order.cancelled", "order.shipped",
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

static void test_golden(void **state) {
	(void) state;
	mail_templates *t = load_conf();
	bool update = getenv("MAIL_GOLDEN_UPDATE") && *getenv("MAIL_GOLDEN_UPDATE");
	int failed = 0;
	for (size_t l = 0; l < N_SAMPLES; l++)
		for (int id = 0; id < TMPL_N; id++) {
			json_t *ev = sample_event(&SAMPLES[l], (mail_tmpl_id) id);
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
			snprintf(path, sizeof(path), SRCDIR "/tests/golden/mail/%s/%s.txt", SAMPLES[l].lang,
				 mail_tmpl_names[id]);
			if (update) {
				char dir[512];
				snprintf(dir, sizeof(dir), SRCDIR "/tests/golden/mail/%s", SAMPLES[l].lang);
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
					failed++;
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
		}
	mail_templates_free(t);
	assert_int_equal(failed, 0);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	u_cleanup();
	return r;
}
