/* standingd-mail: the project's notify_command (doc/notify.md). Reads the expanded
 * outbox events as JSON lines on standard input, turns each into one e-mail
 * (lib/mail) and hands it to the mail system of standingd.yaml's `mail:` (submit),
 * printing one protocol line per event, flushed at once: `ID`, `ID sent: <MESSAGE-ID>
 * SUBJECT` (a mail submitted to the customer's contact: standingd logs it as an
 * e-mail interaction), `ID temporary: TEXT` or `ID permanent: TEXT`. Exit 0 when it ran (failures are named per event); 1 on
 * a usage or configuration error, naming no event, so standingd retries them all. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include "config.h"
#include "lib/base/diag.h"
#include "lib/defs/defs.h"
#include "lib/mail/mail.h"
#include "daemon/standingd-mail/submit.h"

static const char *prog = "standingd-mail";

/* An expanded event is a few kB (an order of 1,000 lines some 200 kB); a line
 * longer than this is not read, only its id. */
#define EVENT_LINE_MAX (8u << 20)
/* What a protocol line carries of a reason. */
#define WHY_MAX 900

static void usage(FILE *f) {
	fprintf(f,
		"Usage: standingd-mail [--conf DIR]\n"
		"\n"
		"standingd's notify_command: reads outbox events (JSON lines) on standard input,\n"
		"sends one e-mail per event as DIR/standingd.yaml's mail: says, and prints per\n"
		"event `ID` (delivered), `ID sent: <MESSAGE-ID> SUBJECT` (delivered: a mail to\n"
		"the customer), `ID temporary: TEXT` or `ID permanent: TEXT`.\n"
		"\n"
		"  --conf DIR   configuration directory: standingd.yaml and templates/\n"
		"               (default " SYSCONFDIR ")\n"
		"  -h, --help   this help\n"
		"\n"
		"Exit status: 0 it ran (failures are named per event), 1 usage or\n"
		"configuration error (no event named: standingd retries them all).\n");
}

/* ---- the protocol's output ---- */

/* One line, flushed: standingd counts what was printed before a timeout. */
static void say(const char *id, const char *kind, const char *why) {
	if (!kind) {
		printf("%s\n", id);
	} else {
		char text[WHY_MAX + 1];
		size_t o = 0;
		for (const unsigned char *p = (const unsigned char *)(why ? why : ""); *p && o < WHY_MAX; p++)
			text[o++] = (*p < 0x20 || *p == 0x7f) ? ' ' : (char)*p;
		text[o] = 0;
		printf("%s %s: %s\n", id, kind, text);
	}
	if (fflush(stdout) == EOF) {
		/* standingd is gone (or killed our group): nobody reads the rest. */
		fprintf(stderr, "%s: standard output: %s\n", prog, strerror(errno));
		exit(1);
	}
}

/* A mail submitted to a customer's contact: `ID sent: <MESSAGE-ID> SUBJECT`, the
 * Subject as rendered (one line: a control character becomes a space). */
static void say_sent(const char *id, const mail_message *msg) {
	char subj[WHY_MAX + 1];
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)msg->subject; *p && o < WHY_MAX; p++)
		subj[o++] = (*p < 0x20 || *p == 0x7f) ? ' ' : (char)*p;
	/* cut inside a UTF-8 sequence: the whole character goes */
	if (((unsigned char)msg->subject[o] & 0xc0) == 0x80) {
		while (o && ((unsigned char)subj[o - 1] & 0xc0) == 0x80)
			o--;
		if (o)
			o--;
	}
	subj[o] = 0;
	printf("%s sent: %s %s\n", id, msg->message_id, subj);
	if (fflush(stdout) == EOF) {
		fprintf(stderr, "%s: standard output: %s\n", prog, strerror(errno));
		exit(1);
	}
}

/* An id as the protocol can carry it: 1 to 200 bytes of printable ASCII, no space. */
static bool id_ok(const char *s, size_t n) {
	if (n == 0 || n > 200)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

/* The id of a line that is not a JSON event (cut, over-long): standingd writes "id"
 * first, so `{"id": "X"` at the start is enough. Into buf; false when none. */
static bool id_from_prefix(const char *s, size_t n, char buf[static 201]) {
	size_t i = 0;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (i >= n || s[i++] != '{')
		return false;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (n - i < 4 || memcmp(s + i, "\"id\"", 4) != 0)
		return false;
	i += 4;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (i >= n || s[i++] != ':')
		return false;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (i >= n || s[i++] != '"')
		return false;
	size_t start = i;
	while (i < n && s[i] != '"' && s[i] != '\\')
		i++;
	if (i >= n || s[i] != '"' || !id_ok(s + start, i - start))
		return false;
	memcpy(buf, s + start, i - start);
	buf[i - start] = 0;
	return true;
}

/* ---- a batch ---- */

typedef struct mailer {
	const mail_templates *templates;
	mail_settings ms;
	submitter *sub;
	char **failed;          /* orders with an event not delivered in this batch */
	size_t n_failed, cap_failed;
	char *unreachable;      /* why the mail system could not be reached (then not tried again) */
} mailer;

/* The order an event belongs to, for "in order per order": the order number, else
 * (account.payment) the customer. NULL when neither. */
static const char *order_key(const json_t *ev, char *buf, size_t cap) {
	/* a task's alerts are in order per task (standingd's "task:ID") */
	const char *tk = json_string_value(json_object_get(json_object_get(ev, "task"), "id"));
	if (tk && (size_t)snprintf(buf, cap, "task %s", tk) < cap)
		return buf;
	const char *o = json_string_value(json_object_get(json_object_get(ev, "order"), "order"));
	if (o)
		return o;
	const char *c = json_string_value(json_object_get(json_object_get(ev, "customer"), "id"));
	if (c && (size_t)snprintf(buf, cap, "customer %s", c) < cap)
		return buf;
	return NULL;
}

static bool order_failed(const mailer *m, const char *key) {
	for (size_t i = 0; key && i < m->n_failed; i++)
		if (!strcmp(m->failed[i], key))
			return true;
	return false;
}

static void order_mark_failed(mailer *m, const char *key) {
	if (!key || order_failed(m, key))
		return;
	if (m->n_failed == m->cap_failed) {
		size_t cap = m->cap_failed ? 2 * m->cap_failed : 16;
		char **v = realloc(m->failed, cap * sizeof *v);
		if (!v)
			return;   /* then a later event may go out of order; only when out of memory */
		m->failed = v;
		m->cap_failed = cap;
	}
	char *k = strdup(key);
	if (k)
		m->failed[m->n_failed++] = k;
}

/* One event line: compose, submit, say. */
static void handle(mailer *m, const char *line, size_t len, bool cut, size_t lineno) {
	char prefix_id[201];
	json_error_t jerr;
	json_t *ev = cut ? NULL : json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	const char *id = json_string_value(json_object_get(ev, "id"));
	if (id && !id_ok(id, strlen(id)))
		id = NULL;
	if (!id && id_from_prefix(line, len, prefix_id))
		id = prefix_id;
	if (!ev || !json_is_object(ev)) {
		const char *what = cut ? "longer than 8 MiB" : ev ? "not a JSON object" : jerr.text;
		if (id)
			say(id, "permanent", cut ? "malformed event: longer than 8 MiB" : "malformed event");
		fprintf(stderr, "%s: line %zu: malformed event%s%s: %s\n", prog, lineno, id ? " " : "", id ? id : "",
			what);
		json_decref(ev);
		return;
	}
	if (!id) {
		fprintf(stderr, "%s: line %zu: an event without a usable \"id\", not handled\n", prog, lineno);
		json_decref(ev);
		return;
	}
	char keybuf[256];
	const char *key = order_key(ev, keybuf, sizeof keybuf);
	if (order_failed(m, key)) {
		say(id, "temporary", "an earlier event of this order was not delivered");
		json_decref(ev);
		return;
	}
	mail_result res;
	mail_message msg = { 0 };
	char *err = NULL;
	int r = mail_compose(m->templates, ev, &m->ms, (int64_t)time(NULL), &res, &msg, &err);
	if (r == -EINVAL) {
		char *why = NULL;
		if (asprintf(&why, "malformed event: %s", err ? err : "invalid") < 0)
			why = NULL;
		say(id, "permanent", why ? why : "malformed event");
		free(why);
	} else if (r < 0) {
		say(id, "temporary", strerror(-r));
		order_mark_failed(m, key);
	} else if (res == MAIL_NONE) {
		say(id, NULL, NULL);
	} else if (res == MAIL_UNDELIVERABLE) {
		say(id, "permanent", err ? err : "undeliverable");
	} else if (m->unreachable) {
		say(id, "temporary", m->unreachable);
		order_mark_failed(m, key);
	} else {
		submit_status st;
		char *why = NULL;
		bool unreachable = false;
		r = submit_send(m->sub, &msg, &st, &why, &unreachable);
		if (r < 0) {
			say(id, "temporary", strerror(-r));
			order_mark_failed(m, key);
		} else if (st == SUBMIT_DELIVERED) {
			if (msg.to_customer)
				say_sent(id, &msg);
			else
				say(id, NULL, NULL);
		} else {
			say(id, st == SUBMIT_PERMANENT ? "permanent" : "temporary", why);
			fprintf(stderr, "%s: %s to %s not delivered (%s): %s\n", prog, id, msg.rcpt,
				st == SUBMIT_PERMANENT ? "permanent" : "temporary", why ? why : "");
			if (st == SUBMIT_TEMPORARY)
				order_mark_failed(m, key);
			if (unreachable && !m->unreachable && why && asprintf(&m->unreachable, "not tried: %s", why) < 0)
				m->unreachable = NULL;
		}
		free(why);
	}
	free(err);
	mail_message_free(&msg);
	json_decref(ev);
}

/* Reads one line into *buf (without the newline, NUL-terminated). 1 with a line, 0 at
 * the end; *ret_cut when it was longer than EVENT_LINE_MAX (then only its first
 * EVENT_LINE_MAX bytes are kept, the rest is skipped). -ENOMEM. */
static int read_line(FILE *f, char **buf, size_t *cap, size_t *ret_len, bool *ret_cut) {
	size_t n = 0;
	bool cut = false, any = false;
	int c;
	while ((c = getc_unlocked(f)) != EOF) {
		any = true;
		if (c == '\n')
			break;
		if (n >= EVENT_LINE_MAX) {
			cut = true;
			continue;
		}
		if (n + 1 >= *cap) {
			size_t ncap = *cap ? 2 * *cap : 65536;
			char *b = realloc(*buf, ncap);
			if (!b)
				return -ENOMEM;
			*buf = b;
			*cap = ncap;
		}
		(*buf)[n++] = (char)c;
	}
	if (!any)
		return 0;
	(*buf)[n] = 0;
	*ret_len = n;
	*ret_cut = cut;
	return 1;
}

/* ---- configuration ---- */

typedef struct mailer_conf {
	submit_opts so;
	char *from;
	char *target;            /* resolved against the config dir */
	char *user, *password;
} mailer_conf;

static void mailer_conf_done(mailer_conf *c) {
	free(c->from);
	free(c->target);
	free(c->user);
	if (c->password) {
		explicit_bzero(c->password, strlen(c->password));
		free(c->password);
	}
}

/* Errors of the configuration, each as CONFDIR/FILE:LINE:COL: message; just the errno
 * (on what) when there are none. */
static void print_diags(const char *confdir, const diag_list *l, const char *what, int r) {
	for (size_t i = 0; i < l->n; i++) {
		char *s = diag_format(&l->v[i]);
		fprintf(stderr, "%s: %s/%s\n", prog, confdir, s ? s : l->v[i].msg);
		free(s);
	}
	if (l->n == 0)
		fprintf(stderr, "%s: %s/%s: %s\n", prog, confdir, what, strerror(-r));
}

/* standingd.yaml's config only (defs_config_load: orders.d is not read, relative
 * paths are made absolute against the config dir). 0; 1 after printing why it
 * cannot run. */
static int load_conf(const char *confdir, mailer_conf *ret) {
	defs *d = NULL;
	diag_list diags = { 0 };
	int r = defs_config_load(confdir, NULL, &d, &diags);
	if (r < 0) {
		print_diags(confdir, &diags, "standingd.yaml", r);
		diag_list_clear(&diags);
		return 1;
	}
	diag_list_clear(&diags);
	const defs_mail *dm = &d->config.mail;
	mailer_conf c = { 0 };
	const char *target = NULL;
	switch (dm->via) {
	case DEFS_MAIL_SMTP:
		c.so.kind = SUBMIT_SMTP;
		target = dm->smtp;
		break;
	case DEFS_MAIL_SENDMAIL:
		c.so.kind = SUBMIT_SENDMAIL;
		target = dm->sendmail;
		break;
	case DEFS_MAIL_MAILDIR:
		c.so.kind = SUBMIT_MAILDIR;
		target = dm->maildir;
		break;
	default:
		fprintf(stderr, "%s: %s/standingd.yaml has no mail: (from, and smtp, sendmail or maildir): "
			"nothing to send with\n", prog, confdir);
		defs_free(d);
		return 1;
	}
	c.so.starttls = dm->starttls;
	c.from = strdup(dm->from);
	c.target = strdup(target);
	int rc = 0;
	if (!c.from || !c.target) {
		fprintf(stderr, "%s: %s\n", prog, strerror(ENOMEM));
		rc = 1;
	} else if (c.so.kind == SUBMIT_SMTP && dm->credentials) {
		char *why = NULL;
		r = submit_credentials_read(dm->credentials, &c.user, &c.password, &why);
		if (r < 0) {
			fprintf(stderr, "%s: %s\n", prog, why ? why : strerror(-r));
			free(why);
			rc = 1;
		}
	}
	defs_free(d);
	if (rc != 0) {
		mailer_conf_done(&c);
		return rc;
	}
	c.so.target = c.target;
	c.so.user = c.user;
	c.so.password = c.password;
	*ret = c;
	return 0;
}

int main(int argc, char **argv) {
	static const struct option opts[] = {
		{ "conf", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *confdir = SYSCONFDIR;
	int o;
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			confdir = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument %s\n", prog, argv[optind]);
		usage(stderr);
		return 1;
	}
	/* A relay or a sendmail that hangs up must not kill us mid-batch. */
	signal(SIGPIPE, SIG_IGN);

	mailer_conf conf = { 0 };
	if (load_conf(confdir, &conf) != 0)
		return 1;

	int rc = 1;
	mail_templates *t = NULL;
	submitter *sub = NULL;
	diag_list errs = { 0 }, warns = { 0 };
	int r = mail_templates_load(confdir, &t, &errs, &warns);
	if (r < 0) {
		print_diags(confdir, &errs, "templates", r);
		goto out;
	}
	/* Missing translations are standingd --check's to report, not every batch's. */
	char *why = NULL;
	r = submit_open(&conf.so, &sub, &why);
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", prog, why ? why : strerror(-r));
		free(why);
		goto out;
	}

	mailer m = { .templates = t, .ms = { .from = conf.from }, .sub = sub };
	char *buf = NULL;
	size_t cap = 0, len, lineno = 0;
	bool cut;
	while ((r = read_line(stdin, &buf, &cap, &len, &cut)) > 0) {
		lineno++;
		size_t i = 0;
		while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r'))
			i++;
		if (i == len)
			continue;
		handle(&m, buf, len, cut, lineno);
	}
	if (r < 0)
		fprintf(stderr, "%s: reading events: %s\n", prog, strerror(-r));
	else if (ferror(stdin))
		fprintf(stderr, "%s: reading events: %s\n", prog, strerror(errno));
	free(buf);
	for (size_t i = 0; i < m.n_failed; i++)
		free(m.failed[i]);
	free(m.failed);
	free(m.unreachable);
	rc = 0;
out:
	submit_close(sub);
	mail_templates_free(t);
	diag_list_clear(&errs);
	diag_list_clear(&warns);
	mailer_conf_done(&conf);
	return rc;
}
