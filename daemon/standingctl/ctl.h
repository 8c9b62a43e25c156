/* The private header of standingctl: what main and option parsing (standingctl.c),
 * the offline commands (offline.c), the remote commands (remote.c) and the
 * iCalendar writer (ics.c) share. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <jansson.h>

#define EXIT_PROBLEM 1
#define EXIT_USAGE 2
#define EXIT_UNAVAILABLE 3

extern const char *ctl_prog;

#define MAX_OPERANDS 4

typedef struct args {
	const char *conf, *from, *to, *state, *so, *socket, *supplier, *ics, *carrier, *tracking;
	const char *reason, *idem_key;
	const char *retry;        /* outbox --retry ID */
	int parked, retry_all;    /* outbox --parked, --retry-all */
	const char *operand;      /* the first operand (NUMBER of order/ship, FILE, CUSTOMER) */
	const char *ops[MAX_OPERANDS];
	int n_ops;
	int json;
} args;

/* ---- main, option parsing and output (standingctl.c) ---- */

int ctl_usage_error(const char *fmt, const char *arg);
void ctl_put_line(FILE *f, const char *s);
void ctl_put_json(FILE *f, json_t *v, size_t flags);

/* ---- offline commands (offline.c) ---- */

int ctl_cmd_check(args *a);
int ctl_cmd_diff(args *a);
int ctl_cmd_forecast(args *a);
int ctl_cmd_orders(args *a);
int ctl_cmd_verify(args *a);

/* ---- remote commands (remote.c) ---- */

const char *ctl_js(json_t *o, const char *k);
void ctl_lines_text(json_t *lines, char *buf, size_t size);
int ctl_cmd_orders_socket(args *a);
int ctl_cmd_account(args *a);
int ctl_cmd_cancel(args *a);
int ctl_cmd_hold(args *a);
int ctl_cmd_ledger(args *a);
int ctl_cmd_outbox(args *a);
int ctl_cmd_order(args *a);
int ctl_cmd_pay(args *a);
int ctl_cmd_pay_account(args *a);
int ctl_cmd_place_order(args *a);
int ctl_cmd_release(args *a);
int ctl_cmd_reload(args *a);
int ctl_cmd_ship(args *a);
int ctl_cmd_standing_orders(args *a);
int ctl_cmd_status(args *a);
int ctl_cmd_upcoming(args *a);

/* ---- iCalendar (ics.c) ---- */

void ctl_write_ics(FILE *f, json_t *items);
