/* The private header of standingctl: what main and option parsing (standingctl.c),
 * the offline commands (offline.c), the remote commands (remote.c, crm.c) and the
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
	const char *contact;      /* log --contact NAME */
	int mine, all;            /* tasks --mine, --all */
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
/* for the CRM commands: one call (errors printed; 0 with *ret owned, or an exit
 * code), and the printers they share with the others */
int ctl_call(const args *a, const char *method, json_t *params, const char *key, bool more, json_t **ret);
void ctl_print_json_items(json_t *items);
int ctl_print_object(const args *a, json_t *o);
void ctl_print_orders_table(json_t *items);

/* ---- the CRM (crm.c) ---- */

int ctl_cmd_customers(args *a);
int ctl_cmd_customer(args *a);
int ctl_cmd_log(args *a);
int ctl_cmd_history(args *a);
int ctl_cmd_tasks(args *a);
int ctl_cmd_done(args *a);
int ctl_cmd_snooze(args *a);

/* ---- iCalendar (ics.c) ---- */

void ctl_write_ics(FILE *f, json_t *items);
