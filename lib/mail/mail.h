/* mail: turning one expanded outbox event (doc/notify.md) into one RFC 5322
 * message: which template and recipient an event gets, the templates
 * (CONFDIR/templates/LANG/EVENT.txt; first line the Subject; `{{name}}`,
 * `{{#lines}}...{{/lines}}`), values formatted for the language with ICU (dates,
 * numbers, money), and the MIME message (UTF-8 text/plain, quoted-printable body,
 * RFC 2047 headers, Message-ID from the event id). No submission: standingd-mail
 * sends what this builds. Reads template files; no other I/O. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include "lib/base/diag.h"

/* The languages (customer `language:`), English first: the fallback. */
#define MAIL_LANGS { "en", "fi", "lv", "nb", "vi" }
#define MAIL_N_LANGS 5

typedef struct mail_templates mail_templates;

/* Loads and checks every template under CONFDIR/templates for every language and
 * template name. A missing English template, a syntax error or an unknown
 * placeholder is an error in errs (`templates/fi/order-confirmation.txt:3:14:
 * unknown placeholder "totl"`); a missing translation is a warning in warns
 * (`templates/lv/payment-overdue.txt: missing; Latvian customers get the English
 * template`), and so is a file or folder there that no one reads (a misspelt
 * name). 0 with *ret when errs stayed empty; -EINVAL when it did not (*ret NULL);
 * -ENOMEM. */
int mail_templates_load(const char *confdir, mail_templates **ret, diag_list *errs, diag_list *warns);
void mail_templates_free(mail_templates *t);   /* accepts NULL */
/* What `standingd --check` and `standingctl check` run: when CONFDIR/templates
 * exists, mail_templates_load's errors and warnings (the set is then freed); when
 * it does not, nothing (the mailer is not in use). Warnings come sorted by file.
 * 0, -EINVAL (errors), -ENOMEM. */
int mail_templates_check(const char *confdir, diag_list *errs, diag_list *warns);

typedef struct mail_settings {
	const char *from;      /* `mail: from:`, "Name <addr>" or "addr" */
} mail_settings;

typedef struct mail_message {
	char *envelope_from;   /* addr-spec of From, for SMTP MAIL FROM */
	char *rcpt;            /* addr-spec of To, for SMTP RCPT TO */
	char *subject;         /* the Subject as rendered (UTF-8, not encoded) */
	char *message_id;      /* "<...>" as in the header */
	char *data;            /* the whole message, headers and body, CRLF line ends */
	size_t len;
	bool to_customer;      /* to a customer's contact (not to a salesperson): the mailer
	                        * reports it as `ID sent: <MESSAGE-ID> SUBJECT` (doc/crm.md) */
} mail_message;
void mail_message_free(mail_message *m);     /* frees the fields, zeroes *m */

typedef enum mail_result {
	MAIL_SEND,             /* *ret holds a message to send */
	MAIL_NONE,             /* this event sends no mail (doc/notify.md's table): deliver it as is */
	MAIL_UNDELIVERABLE,    /* no recipient, unknown customer: *ret_error says why; park it */
} mail_result;

/* The message for one expanded event, Date: now (Unix seconds). 0 with *ret_result
 * (and *ret when MAIL_SEND; *ret_error, malloc'd, when MAIL_UNDELIVERABLE);
 * -EINVAL when the event is malformed (*ret_error says what); -ENOMEM. */
int mail_compose(const mail_templates *t, const json_t *event, const mail_settings *ms, int64_t now,
		 mail_result *ret_result, mail_message *ret, char **ret_error);

/* One value formatted as the templates format it, for texts written outside a
 * template (lib/sales/crm: task texts in the salesperson's language). lang one of
 * MAIL_LANGS (else English); zone an IANA zone ICU knows, else fallback_offset
 * (seconds east of UTC). full: the date with its weekday (a delivery), else the
 * long date. amount a decimal string ("850.00"). *ret malloc'd; -EINVAL, -ENOMEM. */
int mail_format_date(const char *lang, const char *zone, int32_t fallback_offset, int64_t t, bool full,
		     char **ret);
int mail_format_money(const char *lang, const char *amount, const char *currency, char **ret);
