/* mail_int.h: the mail folder's private header: the template names, the parsed
 * template and its renderer (template.c), ICU formatting (fmt.c), the MIME pieces
 * (mime.c). The unit test calls these directly. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "lib/base/diag.h"
#include "lib/base/text.h"

/* ---- template names (the customers' six templates in doc/notify.md's order,
 * then the salesperson's task alert of doc/crm.md) ---- */
typedef enum mail_tmpl_id {
	TMPL_ORDER_CONFIRMATION,
	TMPL_PAYMENT_REQUEST,
	TMPL_PAYMENT_OVERDUE,
	TMPL_ORDER_ON_HOLD,
	TMPL_ORDER_CANCELLED,
	TMPL_SHIPPING_CONFIRMATION,
	TMPL_TASK_DUE,
	TMPL_N,
} mail_tmpl_id;
extern const char *const mail_tmpl_names[TMPL_N];

/* ---- placeholders: one table (template.c) says which template may use which ---- */
typedef enum mail_var {
	/* every template */
	V_CUSTOMER_NAME, V_CONTACT_NAME, V_ACCOUNT_NUMBER, V_ORDER, V_STANDING_ORDER,
	V_SUPPLIER_NAME, V_SALESPERSON_NAME, V_SALESPERSON_EMAIL, V_ORDER_DATE,
	V_DELIVERY_DATE, V_DELIVERY_TIME, V_SHIP_TO_NAME, V_SHIP_TO_STREET,
	V_SHIP_TO_POSTCODE, V_SHIP_TO_CITY, V_SHIP_TO_COUNTRY, V_NET, V_VAT, V_VAT_RATE,
	V_GROSS, V_TOTAL, V_PREPAID, V_LINES,
	/* payment-request, payment-overdue */
	V_PAYMENT_REFERENCE, V_AMOUNT_DUE, V_DUE_DATE, V_DUE_TIME,
	/* order-on-hold, order-cancelled */
	V_REASON, V_BALANCE, V_CREDIT_LIMIT, V_UNPAID, V_REFUNDED, V_CREDITED,
	/* shipping-confirmation */
	V_CARRIER_NAME, V_TRACKING, V_TRACKING_URL, V_SHIPPED_DATE,
	/* task-due */
	V_TASK, V_TASK_TEXT, V_TASK_DUE_DATE, V_TASK_DUE_TIME, V_CONTACT_EMAIL, V_CONTACT_PHONE,
	V_N,
} mail_var;

/* a line's own names, inside {{#lines}}...{{/lines}} */
typedef enum mail_line_var { L_SKU, L_QUANTITY, L_UNIT_PRICE, L_NET, L_N } mail_line_var;

extern const char *const mail_var_names[V_N];
extern const char *const mail_line_var_names[L_N];

/* The values of one message: UTF-8 strings, NULL (or "") when absent, which a
 * section {{#name}} treats as false. Owned by the struct. */
typedef struct mail_values {
	char *v[V_N];
	char *(*lines)[L_N];
	size_t n_lines;
} mail_values;
void mail_values_clear(mail_values *mv);

typedef struct mail_tmpl mail_tmpl;

/* Parses one template file's text (which names it may use: id). Errors go to
 * errs as FILE:LINE:COL (file as given). 0, -EINVAL (errors in errs), -ENOMEM. */
int mail_tmpl_parse(const char *file, const char *text, size_t len, mail_tmpl_id id, mail_tmpl **ret,
		    diag_list *errs);
void mail_tmpl_free(mail_tmpl *t);
/* Subject (one line, no line break) and body (lines ending in "\n"), malloc'd. */
int mail_tmpl_render(const mail_tmpl *t, const mail_values *mv, char **ret_subject, char **ret_body);

/* ---- ICU formatting (fmt.c); lang is one of MAIL_LANGS ---- */
typedef struct mail_fmt mail_fmt;
/* zone: an IANA zone ICU knows, else the fallback offset (seconds east of UTC). */
int mail_fmt_open(const char *lang, const char *zone, int32_t fallback_offset, mail_fmt **ret);
void mail_fmt_close(mail_fmt *f);
/* "850.00" "EUR" -> "850,00 €" (fi). *ret malloc'd. -EINVAL for a bad amount. */
int mail_fmt_money(mail_fmt *f, const char *amount, const char *currency, char **ret);
/* an integer or decimal string in the language's grouping: "1000" -> "1 000" (fi) */
int mail_fmt_number(mail_fmt *f, const char *decimal, char **ret);
/* "25.5" (percent) -> "25,5 %" (fi) */
int mail_fmt_percent(mail_fmt *f, const char *percent, char **ret);
/* a date with the weekday (delivery), a date, a time of day; t Unix seconds */
int mail_fmt_date_full(mail_fmt *f, int64_t t, char **ret);
int mail_fmt_date(mail_fmt *f, int64_t t, char **ret);
int mail_fmt_time(mail_fmt *f, int64_t t, char **ret);
/* an ISO 3166 country code as the country's name in the language: "NO" -> "Norja" (fi) */
int mail_fmt_country(mail_fmt *f, const char *code, char **ret);

/* ---- MIME (mime.c) ---- */
/* Quoted-printable body from UTF-8 text with "\n" line ends: lines <= 76, CRLF. */
int mime_qp_encode(const char *text, char **ret);
/* An unstructured header's text ("Subject: " + value), folded, RFC 2047 "B"
 * encoded words when it has non-ASCII; control characters become spaces.
 * Returns the header field with its trailing CRLF. */
int mime_header_unstructured(const char *name, const char *value, char **ret);
/* An address header: `Name <addr>` with the display name quoted or RFC 2047
 * encoded as needed; name may be NULL. Returns the field with its CRLF. */
int mime_header_address(const char *name, const char *display, const char *addr, char **ret);
/* addr-spec check: local@domain, printable ASCII, no specials that break headers */
bool mime_addr_valid(const char *addr);
/* "Name <addr>" or "addr" (the config's mail: from:) into its parts, malloc'd;
 * display NULL when there is none. -EINVAL when addr is not valid. */
int mime_addr_parse(const char *s, char **ret_display, char **ret_addr);
/* RFC 5322 date-time of t in UTC: "Mon, 30 Nov 2026 12:47:04 +0000" */
void mime_date(int64_t t, char buf[40]);
