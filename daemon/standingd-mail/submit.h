/* submit: hands one composed message to the mail system chosen in standingd.yaml's
 * `mail:`: an SMTP relay through libcurl (one handle for the whole batch, so the
 * connection is kept), a sendmail program, or a Maildir. Every attempt ends
 * delivered, temporary (retry later) or permanent (this recipient or this message
 * was refused for good). Not thread-safe; one submitter per process. */
#pragma once
#include <stdbool.h>
#include "lib/mail/mail.h"

typedef enum submit_kind { SUBMIT_SMTP, SUBMIT_SENDMAIL, SUBMIT_MAILDIR } submit_kind;

typedef struct submit_opts {
	submit_kind kind;
	const char *target;          /* smtp: the URL; sendmail: the program; maildir: the directory */
	bool starttls;               /* smtp: refuse to send unless STARTTLS succeeds */
	const char *user, *password; /* smtp: AUTH; both NULL without a credentials file */
} submit_opts;

typedef enum submit_status { SUBMIT_DELIVERED, SUBMIT_TEMPORARY, SUBMIT_PERMANENT } submit_status;

typedef struct submitter submitter;

/* Copies what it needs from o. smtp: curl set up (no connection yet); maildir:
 * DIR/tmp, DIR/new and DIR/cur created (0700). 0; -ENOMEM; a negative errno with
 * *ret_error (malloc'd) saying what could not be set up. */
int submit_open(const submit_opts *o, submitter **ret, char **ret_error);
void submit_close(submitter *s);   /* accepts NULL */

/* One message. 0 with *ret_status; when not delivered *ret_why (malloc'd, one line:
 * the relay's reply or what failed) and *ret_unreachable true when the mail system
 * could not be reached at all (no connection, a timeout, TLS refused): the later
 * messages of the batch would fail the same way. -ENOMEM. */
int submit_send(submitter *s, const mail_message *m, submit_status *ret_status, char **ret_why,
		bool *ret_unreachable);

/* A credentials file: one line `user:password` (a trailing newline allowed), not
 * readable or writable by others (mode & 0007 == 0). 0 with *ret_user and
 * *ret_password (malloc'd); -errno with *ret_error (malloc'd) otherwise. */
int submit_credentials_read(const char *path, char **ret_user, char **ret_password, char **ret_error);
