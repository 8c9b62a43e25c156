/* crm: the salesperson's records (doc/crm.md): tasks with their history and the
 * customer's interaction log; each kind and status name spelled here once, and the
 * one JSON codec of each: the stored record and the view the wire and standingctl
 * print. Plain data, no I/O; instants are Unix seconds. Uses base only. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TASK_ID_MAX 16                /* "T-00000042" + NUL; wider past 8 digits */
#define TASK_NUMBER_MAX UINT64_C(9999999999999)   /* the last number TASK_ID_MAX holds (13 digits) */
#define TASK_EVENT_DUE "task.due"

typedef enum task_kind {
	TASK_BEFORE, TASK_AFTER_SHIPPED, TASK_ON_HOLD, TASK_PAYMENT_OVERDUE, TASK_MANUAL,
} task_kind;
typedef enum task_status { TASK_OPEN, TASK_DONE, TASK_CANCELLED } task_status;
typedef enum task_action { TASK_ACT_CREATED, TASK_ACT_SNOOZED, TASK_ACT_DONE, TASK_ACT_CANCELLED } task_action;

typedef struct task_step {
	int64_t at;
	char *by;                 /* "sales:USER", "ops:USER", "standingd" */
	task_action action;
	char *note;               /* may be NULL */
} task_step;

typedef struct task {
	char id[TASK_ID_MAX];
	char *assignee;           /* salesperson id */
	char *customer;
	int64_t due;
	char *text;               /* rendered */
	task_kind kind;
	char *order;              /* may be NULL */
	char *standing_order;     /* may be NULL */
	int64_t delivery;         /* TASK_BEFORE: the occurrence's delivery; else 0 */
	task_status status;
	int64_t created;
	task_step *history;
	size_t n_history;
} task;

const char *task_kind_name(task_kind k);
int task_kind_parse(const char *s, task_kind *ret);          /* 0 or -EINVAL */
const char *task_status_name(task_status s);
int task_status_parse(const char *s, task_status *ret);
const char *task_action_name(task_action a);
/* "T-00000042" for n; n >= 1. */
void task_id_format(uint64_t n, char ret[TASK_ID_MAX]);
int task_id_parse(const char *s, uint64_t *ret);             /* 0 or -EINVAL */

json_t *task_to_record(const task *t);                       /* NULL on failure */
int task_from_record(json_t *j, task **ret);                 /* 0, -EINVAL, -ENOMEM */
/* The wire's Task: id, assignee, customer, due (ISO UTC), text, kind, order,
 * standing_order, delivery (ISO UTC or null), status, created, history. */
json_t *task_to_view(const task *t);
/* Appends a history step (strings copied). 0 or -ENOMEM. */
int task_add_step(task *t, int64_t at, const char *by, task_action action, const char *note);
void task_free(task *t);                                     /* accepts NULL */
/* The payload of task.due (doc/crm.md): {task, assignee, customer, due (Unix
 * seconds), kind, order, standing_order}. NULL on failure. */
json_t *task_event_due(const task *t);

typedef enum interaction_kind {
	INTERACTION_VISIT, INTERACTION_CALL, INTERACTION_EMAIL, INTERACTION_MEETING, INTERACTION_NOTE,
} interaction_kind;
const char *interaction_kind_name(interaction_kind k);
int interaction_kind_parse(const char *s, interaction_kind *ret);

typedef struct interaction {
	char *customer;
	int64_t at;
	uint64_t seq;             /* assigned when stored */
	interaction_kind kind;
	char *contact;            /* may be NULL */
	char *summary;
	char *author;
	char *message_id;         /* e-mails the mailer sent; else NULL */
} interaction;

json_t *interaction_to_record(const interaction *i);
int interaction_from_record(json_t *j, interaction **ret);
/* The wire's Interaction: customer, at (ISO UTC), seq, kind, contact, summary,
 * author, message_id. */
json_t *interaction_to_view(const interaction *i);
void interaction_free(interaction *i);                       /* accepts NULL */
