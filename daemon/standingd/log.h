/* log: the daemon's one way to log. Under systemd (JOURNAL_STREAM names our
 * stderr) messages go to journald with priority and structured fields; otherwise
 * to stderr as "standingd: LEVEL: message". Fields are "KEY=value" strings, the
 * list ends with NULL. */
#pragma once
#include <syslog.h>

void log_init(void);
void log_send(int priority, const char *const *fields, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_error(...)   log_send(LOG_ERR, NULL, __VA_ARGS__)
#define log_warning(...) log_send(LOG_WARNING, NULL, __VA_ARGS__)
#define log_notice(...)  log_send(LOG_NOTICE, NULL, __VA_ARGS__)
#define log_info(...)    log_send(LOG_INFO, NULL, __VA_ARGS__)
