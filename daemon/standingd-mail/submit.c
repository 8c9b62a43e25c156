/* submit: SMTP through libcurl, sendmail through fork/exec, Maildir through
 * tmp/ + rename into new/. See submit.h. */
#include "daemon/standingd-mail/submit.h"
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "lib/base/fsdir.h"

/* sysexits.h's codes a sendmail uses for "this recipient / this message, for good". */
#define EX_DATAERR_ 65
#define EX_NOUSER_ 67

#define REPLY_MAX 400

struct submitter {
	submit_kind kind;
	char *target;
	bool starttls;
	char *user, *password;
	CURL *curl;
	/* one SMTP transfer */
	const char *data;
	size_t len, off;
	char last_cmd[10];         /* verb of the last command sent: MAIL, RCPT, DATA, AUTH ... */
	char reply[REPLY_MAX];     /* the last reply line the relay sent, before any QUIT */
	bool quitting;             /* QUIT sent: its 221 is not the answer that failed */
	char errbuf[CURL_ERROR_SIZE];
};

/* A malloc'd one-line text; NULL when out of memory. */
static char *why_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *why_fmt(const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

/* Printable ASCII of s (at most n bytes) into dst, control characters as spaces,
 * trailing CR/LF and spaces dropped. */
static void copy_line(char *dst, size_t cap, const char *s, size_t n) {
	size_t o = 0;
	for (size_t i = 0; i < n && o + 1 < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		dst[o++] = (c < 0x20 || c >= 0x7f) ? ' ' : (char)c;
	}
	while (o > 0 && dst[o - 1] == ' ')
		o--;
	dst[o] = 0;
}

/* ---- SMTP ---- */

static size_t smtp_read(char *buf, size_t size, size_t nitems, void *userdata) {
	submitter *s = userdata;
	size_t want = size * nitems, left = s->len - s->off;
	size_t n = want < left ? want : left;
	memcpy(buf, s->data + s->off, n);
	s->off += n;
	return n;
}

/* Sees the dialogue (CURLOPT_VERBOSE without printing): which command was sent last
 * (never its arguments: AUTH carries the password) and the relay's last reply, so a
 * 5xx to RCPT or to the data is told from one to MAIL FROM or AUTH. */
static int smtp_debug(CURL *h, curl_infotype type, char *text, size_t n, void *userdata) {
	(void)h;
	submitter *s = userdata;
	if (s->quitting)
		return 0;
	if (type == CURLINFO_HEADER_OUT) {
		char verb[sizeof s->last_cmd];
		size_t i = 0;
		for (; i < n && i + 1 < sizeof verb && text[i] >= 'A' && text[i] <= 'Z'; i++)
			verb[i] = text[i];
		verb[i] = 0;
		/* Only a command's verb: an AUTH exchange also sends base64 lines (the
		 * password), which must never reach last_cmd and the log. */
		static const char *const verbs[] = { "EHLO", "HELO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA", "RSET",
						     "NOOP", "VRFY" };
		bool whole = i < n && (text[i] == ' ' || text[i] == '\r' || text[i] == '\n');
		if (whole && !strcmp(verb, "QUIT"))
			s->quitting = true;   /* after a refusal libcurl says goodbye: keep the refusal */
		for (size_t k = 0; whole && k < sizeof verbs / sizeof *verbs; k++)
			if (!strcmp(verb, verbs[k]))
				memcpy(s->last_cmd, verb, i + 1);
	} else if (type == CURLINFO_HEADER_IN) {
		copy_line(s->reply, sizeof s->reply, text, n);
	}
	return 0;
}

static int smtp_open(submitter *s, char **ret_error) {
	CURLcode cc = curl_global_init(CURL_GLOBAL_DEFAULT);
	if (cc != CURLE_OK) {
		*ret_error = why_fmt("libcurl: %s", curl_easy_strerror(cc));
		return -EIO;
	}
	s->curl = curl_easy_init();
	if (!s->curl) {
		*ret_error = why_fmt("libcurl: cannot make a handle");
		return -ENOMEM;
	}
	return 0;
}

static int smtp_send(submitter *s, const mail_message *m, submit_status *ret_status, char **ret_why,
		     bool *ret_unreachable) {
	CURL *h = s->curl;
	struct curl_slist *rcpt = NULL;
	char *from = why_fmt("<%s>", m->envelope_from ? m->envelope_from : "");
	char *to = why_fmt("<%s>", m->rcpt);
	if (!from || !to || !(rcpt = curl_slist_append(NULL, to))) {
		free(from);
		free(to);
		return -ENOMEM;
	}
	s->data = m->data;
	s->len = m->len;
	s->off = 0;
	s->last_cmd[0] = 0;
	s->reply[0] = 0;
	s->quitting = false;
	s->errbuf[0] = 0;
	curl_easy_setopt(h, CURLOPT_URL, s->target);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(h, CURLOPT_USE_SSL, (long)(s->starttls ? CURLUSESSL_ALL : CURLUSESSL_NONE));
	if (s->user) {
		curl_easy_setopt(h, CURLOPT_USERNAME, s->user);
		curl_easy_setopt(h, CURLOPT_PASSWORD, s->password);
	}
	curl_easy_setopt(h, CURLOPT_MAIL_FROM, from);
	curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, smtp_read);
	curl_easy_setopt(h, CURLOPT_READDATA, s);
	curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)m->len);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, s->errbuf);
	curl_easy_setopt(h, CURLOPT_VERBOSE, 1L);
	curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, smtp_debug);
	curl_easy_setopt(h, CURLOPT_DEBUGDATA, s);
	CURLcode cc = curl_easy_perform(h);
	/* The code of the reply kept (CURLINFO_RESPONSE_CODE would be QUIT's 221). */
	long code = 0;
	if (s->reply[0] >= '2' && s->reply[0] <= '5' && s->reply[1] >= '0' && s->reply[1] <= '9' &&
	    s->reply[2] >= '0' && s->reply[2] <= '9')
		code = (s->reply[0] - '0') * 100 + (s->reply[1] - '0') * 10 + (s->reply[2] - '0');
	else
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_setopt(h, CURLOPT_MAIL_RCPT, NULL);
	curl_slist_free_all(rcpt);
	free(from);
	free(to);

	*ret_unreachable = false;
	if (cc == CURLE_OK) {
		*ret_status = SUBMIT_DELIVERED;
		return 0;
	}
	char *why;
	if (code >= 400 && code < 600 && s->reply[0]) {
		/* The relay answered: a 5xx to RCPT TO or to the message itself is about this
		 * message only; anything else (4xx, 5xx to MAIL FROM or AUTH: the relay's
		 * configuration) is worth a retry. */
		bool permanent = code >= 500 && (!strcmp(s->last_cmd, "RCPT") || !strcmp(s->last_cmd, "DATA"));
		*ret_status = permanent ? SUBMIT_PERMANENT : SUBMIT_TEMPORARY;
		why = permanent ? why_fmt("%s", s->reply)
				: why_fmt("%s: %s refused: %s", s->target, s->last_cmd[0] ? s->last_cmd : "relay", s->reply);
	} else {
		*ret_status = SUBMIT_TEMPORARY;
		*ret_unreachable = true;
		char detail[CURL_ERROR_SIZE];
		copy_line(detail, sizeof detail, s->errbuf, strlen(s->errbuf));
		why = why_fmt("%s: %s", s->target, detail[0] ? detail : curl_easy_strerror(cc));
	}
	if (!why)
		return -ENOMEM;
	*ret_why = why;
	return 0;
}

/* ---- local modes: the message with LF line ends, as local mail stores it ---- */

static char *to_lf(const mail_message *m, size_t *ret_len) {
	char *out = malloc(m->len + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < m->len; i++)
		if (!(m->data[i] == '\r' && i + 1 < m->len && m->data[i + 1] == '\n'))
			out[o++] = m->data[i];
	out[o] = 0;
	*ret_len = o;
	return out;
}

static int write_all(int fd, const char *p, size_t n) {
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* ---- sendmail: PATH -i -f FROM -- RCPT, the message on its standard input ---- */

static int sendmail_send(submitter *s, const mail_message *m, submit_status *ret_status, char **ret_why) {
	size_t len;
	char *data = to_lf(m, &len);
	if (!data)
		return -ENOMEM;
	int in[2], report[2];   /* report: exec's errno, closed unread when exec succeeds */
	if (pipe2(in, O_CLOEXEC) < 0) {
		int e = errno;
		free(data);
		*ret_status = SUBMIT_TEMPORARY;
		*ret_why = why_fmt("%s: pipe: %s", s->target, strerror(e));
		return *ret_why ? 0 : -ENOMEM;
	}
	if (pipe2(report, O_CLOEXEC) < 0) {
		int e = errno;
		close(in[0]);
		close(in[1]);
		free(data);
		*ret_status = SUBMIT_TEMPORARY;
		*ret_why = why_fmt("%s: pipe: %s", s->target, strerror(e));
		return *ret_why ? 0 : -ENOMEM;
	}
	const char *from = m->envelope_from ? m->envelope_from : "";
	pid_t pid = fork();
	if (pid == 0) {
		/* Its standard output must not mix with the protocol's: to standard error. */
		if (dup2(in[0], 0) < 0 || dup2(2, 1) < 0) {
			int e = errno;
			(void)!write(report[1], &e, sizeof e);
			_exit(127);
		}
		signal(SIGPIPE, SIG_DFL);
		execl(s->target, s->target, "-i", "-f", from, "--", m->rcpt, (char *)NULL);
		int e = errno;
		(void)!write(report[1], &e, sizeof e);
		_exit(127);
	}
	int fork_errno = errno;
	close(in[0]);
	close(report[1]);
	if (pid < 0) {
		close(in[1]);
		close(report[0]);
		free(data);
		*ret_status = SUBMIT_TEMPORARY;
		*ret_why = why_fmt("%s: fork: %s", s->target, strerror(fork_errno));
		return *ret_why ? 0 : -ENOMEM;
	}
	int werr = write_all(in[1], data, len);   /* EPIPE when it did not read it all */
	close(in[1]);
	free(data);
	int exec_errno = 0;
	ssize_t r;
	while ((r = read(report[0], &exec_errno, sizeof exec_errno)) < 0 && errno == EINTR)
		;
	if (r != (ssize_t)sizeof exec_errno)
		exec_errno = 0;
	close(report[0]);
	int st;
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR) {
			*ret_status = SUBMIT_TEMPORARY;
			*ret_why = why_fmt("%s: waitpid: %s", s->target, strerror(errno));
			return *ret_why ? 0 : -ENOMEM;
		}
	}
	if (exec_errno) {
		*ret_status = SUBMIT_TEMPORARY;
		*ret_why = why_fmt("cannot run %s: %s", s->target, strerror(exec_errno));
	} else if (WIFEXITED(st) && WEXITSTATUS(st) == 0 && werr == 0) {
		*ret_status = SUBMIT_DELIVERED;
		return 0;
	} else if (WIFEXITED(st) && (WEXITSTATUS(st) == EX_NOUSER_ || WEXITSTATUS(st) == EX_DATAERR_)) {
		*ret_status = SUBMIT_PERMANENT;
		*ret_why = why_fmt("%s exited %d (%s)", s->target, WEXITSTATUS(st),
				   WEXITSTATUS(st) == EX_NOUSER_ ? "EX_NOUSER: no such recipient" : "EX_DATAERR: message refused");
	} else if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		*ret_status = SUBMIT_TEMPORARY;
		*ret_why = why_fmt("%s exited 0 without reading the whole message: %s", s->target, strerror(-werr));
	} else if (WIFEXITED(st)) {
		*ret_status = SUBMIT_TEMPORARY;
		*ret_why = why_fmt("%s exited %d", s->target, WEXITSTATUS(st));
	} else {
		*ret_status = SUBMIT_TEMPORARY;
		*ret_why = why_fmt("%s killed by signal %d", s->target, WTERMSIG(st));
	}
	return *ret_why ? 0 : -ENOMEM;
}

/* ---- Maildir ---- */

/* The file name from the Message-ID: a retry of the same event finds its file and
 * writes no second one. Characters other than [A-Za-z0-9._@-] as %XX ('/' and ':'
 * mean something in a Maildir). */
static char *maildir_name(const char *message_id) {
	const char *p = message_id ? message_id : "";
	size_t n = strlen(p);
	if (n >= 2 && p[0] == '<' && p[n - 1] == '>') {
		p++;
		n -= 2;
	}
	if (n == 0 || n > 200)
		return NULL;
	char *out = malloc(3 * n + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
		    c == '_' || c == '@' || c == '-')
			out[o++] = (char)c;
		else
			o += (size_t)sprintf(out + o, "%%%02X", c);
	}
	out[o] = 0;
	if (out[0] == '.')   /* never a hidden file */
		out[0] = '_';
	return out;
}

/* Already in new/NAME, or in cur/ as NAME or NAME:2,FLAGS (a reader moved it)? */
static bool maildir_has(const char *dir, const char *name) {
	char path[4096];
	struct stat st;
	snprintf(path, sizeof path, "%s/new/%s", dir, name);
	if (stat(path, &st) == 0)
		return true;
	snprintf(path, sizeof path, "%s/cur", dir);
	DIR *d = opendir(path);
	if (!d)
		return false;
	size_t n = strlen(name);
	bool found = false;
	struct dirent *e;
	while (!found && (e = readdir(d)))
		found = !strncmp(e->d_name, name, n) && (e->d_name[n] == 0 || e->d_name[n] == ':');
	closedir(d);
	return found;
}

static int maildir_open(submitter *s, char **ret_error) {
	static const char *const sub[] = { "", "/tmp", "/new", "/cur" };
	for (size_t i = 0; i < sizeof sub / sizeof *sub; i++) {
		char *p = why_fmt("%s%s", s->target, sub[i]);
		if (!p)
			return -ENOMEM;
		int r = fsdir_make(p, 0700);
		if (r < 0) {
			*ret_error = why_fmt("maildir %s: %s", p, strerror(-r));
			free(p);
			return r;
		}
		free(p);
	}
	return 0;
}

static int maildir_send(submitter *s, const mail_message *m, submit_status *ret_status, char **ret_why) {
	char *name = maildir_name(m->message_id);
	if (!name) {
		*ret_status = SUBMIT_PERMANENT;
		*ret_why = why_fmt("no usable Message-ID for a Maildir file name");
		return *ret_why ? 0 : -ENOMEM;
	}
	if (maildir_has(s->target, name)) {
		free(name);
		*ret_status = SUBMIT_DELIVERED;
		return 0;
	}
	char *tmp = why_fmt("%s/tmp/%s.%ld", s->target, name, (long)getpid());
	char *dst = why_fmt("%s/new/%s", s->target, name);
	char *newdir = why_fmt("%s/new", s->target);
	size_t len;
	char *data = to_lf(m, &len);
	free(name);
	if (!tmp || !dst || !newdir || !data) {
		free(tmp);
		free(dst);
		free(newdir);
		free(data);
		return -ENOMEM;
	}
	int r = 0;
	const char *what = tmp;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		r = -errno;
	if (r == 0)
		r = write_all(fd, data, len);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (fd >= 0 && close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0) {
		what = dst;
		if (rename(tmp, dst) < 0)
			r = -errno;
	}
	if (r == 0) {   /* the rename is durable once new/ is */
		what = newdir;
		int dfd = open(newdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0 || fsync(dfd) < 0)
			r = -errno;
		if (dfd >= 0)
			close(dfd);
	}
	if (r < 0) {
		unlink(tmp);
		*ret_status = SUBMIT_TEMPORARY;
		*ret_why = why_fmt("%s: %s", what, strerror(-r));
	} else {
		*ret_status = SUBMIT_DELIVERED;
	}
	free(tmp);
	free(dst);
	free(newdir);
	free(data);
	return r < 0 && !*ret_why ? -ENOMEM : 0;
}

/* ---- the interface ---- */

int submit_open(const submit_opts *o, submitter **ret, char **ret_error) {
	submitter *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	s->kind = o->kind;
	s->starttls = o->starttls;
	s->target = strdup(o->target);
	s->user = o->user ? strdup(o->user) : NULL;
	s->password = o->password ? strdup(o->password) : NULL;
	int r = 0;
	if (!s->target || (o->user && !s->user) || (o->password && !s->password))
		r = -ENOMEM;
	else if (s->kind == SUBMIT_SMTP)
		r = smtp_open(s, ret_error);
	else if (s->kind == SUBMIT_MAILDIR)
		r = maildir_open(s, ret_error);
	if (r < 0) {
		submit_close(s);
		return r;
	}
	*ret = s;
	return 0;
}

void submit_close(submitter *s) {
	if (!s)
		return;
	if (s->curl) {
		curl_easy_cleanup(s->curl);
		curl_global_cleanup();
	}
	free(s->target);
	free(s->user);
	if (s->password) {
		explicit_bzero(s->password, strlen(s->password));
		free(s->password);
	}
	free(s);
}

int submit_send(submitter *s, const mail_message *m, submit_status *ret_status, char **ret_why,
		bool *ret_unreachable) {
	submit_status st = SUBMIT_TEMPORARY;
	char *why = NULL;
	bool unreachable = false;
	int r;
	switch (s->kind) {
	case SUBMIT_SMTP:
		r = smtp_send(s, m, &st, &why, &unreachable);
		break;
	case SUBMIT_SENDMAIL:
		r = sendmail_send(s, m, &st, &why);
		break;
	default:
		r = maildir_send(s, m, &st, &why);
		break;
	}
	if (r < 0) {
		free(why);
		return r;
	}
	*ret_status = st;
	*ret_why = why;
	*ret_unreachable = unreachable;
	return 0;
}

int submit_credentials_read(const char *path, char **ret_user, char **ret_password, char **ret_error) {
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		int e = errno;
		*ret_error = why_fmt("credentials %s: %s", path, strerror(e));
		return -e;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		*ret_error = why_fmt("credentials %s: not a regular file", path);
		return -EINVAL;
	}
	if (st.st_mode & 0007) {
		close(fd);
		*ret_error = why_fmt("credentials %s: readable or writable by others (mode %04o); chmod o-rwx it",
				     path, (unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	char buf[1024];
	ssize_t n;
	while ((n = read(fd, buf, sizeof buf)) < 0 && errno == EINTR)
		;
	int e = errno;
	close(fd);
	if (n < 0) {
		*ret_error = why_fmt("credentials %s: %s", path, strerror(e));
		return -e;
	}
	size_t len = (size_t)n;
	if (len == sizeof buf) {
		*ret_error = why_fmt("credentials %s: longer than one line `user:password`", path);
		return -EINVAL;
	}
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	char *colon = memchr(buf, ':', len);
	if (!colon || colon == buf || memchr(buf, '\n', len) || memchr(buf, 0, len)) {
		explicit_bzero(buf, sizeof buf);
		*ret_error = why_fmt("credentials %s: expected one line `user:password`", path);
		return -EINVAL;
	}
	char *user = strndup(buf, (size_t)(colon - buf));
	char *password = strndup(colon + 1, len - (size_t)(colon + 1 - buf));
	explicit_bzero(buf, sizeof buf);
	if (!user || !password) {
		free(user);
		free(password);
		return -ENOMEM;
	}
	*ret_user = user;
	*ret_password = password;
	return 0;
}
