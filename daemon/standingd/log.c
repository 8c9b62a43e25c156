#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <systemd/sd-journal.h>
#include "daemon/standingd/log.h"

static int to_journal;

/* JOURNAL_STREAM is "DEV:INODE" of the stream systemd connected; only when our
 * stderr is that very stream is journald the reader. */
void log_init(void) {
	const char *js = getenv("JOURNAL_STREAM");
	struct stat st;
	unsigned long long dev, ino;
	if (js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0)
		to_journal = st.st_dev == dev && st.st_ino == ino;
}

void log_send(int priority, const char *const *fields, const char *fmt, ...) {
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (to_journal) {
		struct iovec iov[16];
		char *bufs[16];
		size_t n = 0;
		if (asprintf(&bufs[n], "MESSAGE=%s", msg) >= 0) n++;
		if (asprintf(&bufs[n], "PRIORITY=%d", priority) >= 0) n++;
		if (asprintf(&bufs[n], "SYSLOG_IDENTIFIER=standingd") >= 0) n++;
		for (size_t i = 0; fields && fields[i] && n < 16; i++)
			if (asprintf(&bufs[n], "%s", fields[i]) >= 0) n++;
		for (size_t i = 0; i < n; i++)
			iov[i] = (struct iovec) { .iov_base = bufs[i], .iov_len = strlen(bufs[i]) };
		sd_journal_sendv(iov, (int) n);
		for (size_t i = 0; i < n; i++)
			free(bufs[i]);
		return;
	}
	static const char *const names[] = { "emergency", "alert", "critical", "error",
					     "warning", "notice", "info", "debug" };
	fprintf(stderr, "standingd: %s: %s\n", names[priority & 7], msg);
}
