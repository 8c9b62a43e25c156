/* standingctl's CRM commands (io.standingd.Crm, doc/crm.md): customers, a
 * customer's profile page, the interaction log, and salespeople's tasks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "daemon/standingctl/table.h"
#include "daemon/standingctl/ctl.h"

#define CRM "io.standingd.Crm."

/* "-" for an empty or null field: a table cell is never blank. */
static const char *dash(json_t *o, const char *k) {
	const char *s = ctl_js(o, k);
	return *s ? s : "-";
}

static void print_customers(json_t *items) {
	static const char *const head[] = { "ID", "NAME", "LANGUAGE", "TIMEZONE", "SALESPERSON", "SOURCE" };
	table *t = table_new(6, head);
	size_t i;
	json_t *c;
	json_array_foreach(items, i, c) {
		const char *row[] = { ctl_js(c, "id"), ctl_js(c, "name"), ctl_js(c, "language"), ctl_js(c, "timezone"),
				      dash(c, "salesperson"), ctl_js(c, "source") };
		table_row(t, row);
	}
	table_print(t, stdout);
	table_free(t);
}

int ctl_cmd_customers(args *a) {
	json_t *items;
	int r = ctl_call(a, CRM "ListCustomers", json_object(), "customers", false, &items);
	if (r)
		return r;
	if (a->json)
		ctl_print_json_items(items);
	else
		print_customers(items);
	json_decref(items);
	return 0;
}

static void print_tasks(json_t *items) {
	static const char *const head[] = { "TASK", "DUE (UTC)", "STATUS", "ASSIGNEE", "CUSTOMER", "KIND", "TEXT" };
	table *t = table_new(7, head);
	size_t i;
	json_t *k;
	json_array_foreach(items, i, k) {
		const char *row[] = { ctl_js(k, "id"), ctl_js(k, "due"), ctl_js(k, "status"), ctl_js(k, "assignee"),
				      ctl_js(k, "customer"), ctl_js(k, "kind"), ctl_js(k, "text") };
		table_row(t, row);
	}
	table_print(t, stdout);
	table_free(t);
}

static void print_interactions(json_t *items) {
	static const char *const head[] = { "AT (UTC)", "KIND", "CONTACT", "AUTHOR", "SUMMARY" };
	table *t = table_new(5, head);
	size_t i;
	json_t *x;
	json_array_foreach(items, i, x) {
		const char *row[] = { ctl_js(x, "at"), ctl_js(x, "kind"), dash(x, "contact"), ctl_js(x, "author"),
				      ctl_js(x, "summary") };
		table_row(t, row);
	}
	table_print(t, stdout);
	table_free(t);
}

/* A section of the profile page: its title, then the table or "none". */
static void section(const char *title, json_t *items, void (*print)(json_t *items)) {
	printf("\n%s\n", title);
	if (json_array_size(items))
		print(items);
	else
		puts("none");
}

static void print_contacts(json_t *items) {
	static const char *const head[] = { "NAME", "ROLE", "EMAIL", "PHONE" };
	table *t = table_new(4, head);
	size_t i;
	json_t *c;
	json_array_foreach(items, i, c) {
		const char *row[] = { ctl_js(c, "name"), dash(c, "role"), dash(c, "email"), dash(c, "phone") };
		table_row(t, row);
	}
	table_print(t, stdout);
	table_free(t);
}

static void print_standing(json_t *items) {
	static const char *const head[] = { "STANDING ORDER", "SUPPLIER", "NEXT DELIVERY", "SOURCE" };
	table *t = table_new(4, head);
	size_t i;
	json_t *s;
	json_array_foreach(items, i, s) {
		const char *next = json_is_true(json_object_get(s, "paused")) ? "paused" : dash(s, "next_delivery");
		const char *row[] = { ctl_js(s, "id"), ctl_js(s, "supplier"), next, ctl_js(s, "source") };
		table_row(t, row);
	}
	table_print(t, stdout);
	table_free(t);
}

/* The profile page: who the customer is, then its contacts, standing orders, open
 * orders, open tasks and last interactions. */
static void print_profile(json_t *c) {
	char line[1024];
	snprintf(line, sizeof(line), "%s (%s)", ctl_js(c, "name"), ctl_js(c, "id"));
	ctl_put_line(stdout, line);
	snprintf(line, sizeof(line), "language      %s", ctl_js(c, "language"));
	ctl_put_line(stdout, line);
	snprintf(line, sizeof(line), "timezone      %s", ctl_js(c, "timezone"));
	ctl_put_line(stdout, line);
	json_t *sp = json_object_get(c, "salesperson");
	if (json_is_object(sp))
		snprintf(line, sizeof(line), "salesperson   %s <%s> (%s)", ctl_js(sp, "name"), ctl_js(sp, "email"),
			 ctl_js(sp, "id"));
	else
		snprintf(line, sizeof(line), "salesperson   none");
	ctl_put_line(stdout, line);
	snprintf(line, sizeof(line), "defined in    %s", ctl_js(c, "source"));
	ctl_put_line(stdout, line);
	json_t *acc = json_object_get(c, "account"), *v;
	size_t len = (size_t) snprintf(line, sizeof(line), "account       %s", dash(acc, "account"));
	json_t *limit = json_object_get(acc, "credit_limit");
	if (json_is_object(limit))
		len += (size_t) snprintf(line + len, sizeof(line) - len, ", credit limit %s %s", ctl_js(limit, "amount"),
					 ctl_js(limit, "currency"));
	size_t i;
	json_array_foreach(json_object_get(acc, "balances"), i, v)
		if (len < sizeof(line))
			len += (size_t) snprintf(line + len, sizeof(line) - len, ", balance %s %s", ctl_js(v, "amount"),
						 ctl_js(v, "currency"));
	ctl_put_line(stdout, line);
	section("Contacts", json_object_get(c, "contacts"), print_contacts);
	section("Standing orders", json_object_get(c, "standing_orders"), print_standing);
	section("Open orders", json_object_get(c, "orders_open"), ctl_print_orders_table);
	if (json_is_true(json_object_get(c, "orders_open_more")))
		puts("(more: the first 100 shown)");
	section("Open tasks", json_object_get(c, "open_tasks"), print_tasks);
	section("Last interactions", json_object_get(c, "interactions"), print_interactions);
}

int ctl_cmd_customer(args *a) {
	if (!a->operand)
		return ctl_usage_error("%s: which customer? standingctl customer ID", "customer");
	json_t *c;
	int r = ctl_call(a, CRM "GetCustomer", json_pack("{s:s}", "customer", a->operand), "customer", false, &c);
	if (r)
		return r;
	if (a->json)
		ctl_print_object(a, c);
	else
		print_profile(c);
	json_decref(c);
	return 0;
}

int ctl_cmd_log(args *a) {
	if (a->n_ops != 3)
		return ctl_usage_error("%s: standingctl log CUSTOMER KIND SUMMARY [--contact NAME] (KIND: visit, call, "
				       "email, meeting or note)", "log");
	json_t *p = json_pack("{s:s, s:s, s:s}", "customer", a->ops[0], "kind", a->ops[1], "summary", a->ops[2]), *x;
	if (a->contact)
		json_object_set_new(p, "contact", json_string(a->contact));
	int r = ctl_call(a, CRM "LogInteraction", p, "interaction", false, &x);
	if (r)
		return r;
	if (a->json)
		ctl_print_object(a, x);
	else {
		char line[512];
		snprintf(line, sizeof(line), "logged %s with %s at %s", ctl_js(x, "kind"), ctl_js(x, "customer"),
			 ctl_js(x, "at"));
		ctl_put_line(stdout, line);
	}
	json_decref(x);
	return 0;
}

int ctl_cmd_history(args *a) {
	if (!a->operand)
		return ctl_usage_error("%s: which customer? standingctl history CUSTOMER [--from D] [--to D]", "history");
	json_t *p = json_pack("{s:s}", "customer", a->operand), *items;
	if (a->from)
		json_object_set_new(p, "from", json_string(a->from));
	if (a->to)
		json_object_set_new(p, "to", json_string(a->to));
	int r = ctl_call(a, CRM "ListInteractions", p, "interactions", true, &items);
	if (r)
		return r;
	if (a->json)
		ctl_print_json_items(items);
	else
		print_interactions(items);
	json_decref(items);
	return 0;
}

int ctl_cmd_tasks(args *a) {
	json_t *p = json_object(), *items;
	if (a->mine)
		json_object_set_new(p, "mine", json_true());
	if (a->all)
		json_object_set_new(p, "status", json_string("all"));
	int r = ctl_call(a, CRM "ListTasks", p, "tasks", true, &items);
	if (r)
		return r;
	if (a->json)
		ctl_print_json_items(items);
	else
		print_tasks(items);
	json_decref(items);
	return 0;
}

/* done and snooze: the task as it is now, one line (or --json). */
static int task_change(args *a, const char *method, json_t *p) {
	json_t *k;
	int r = ctl_call(a, method, p, "task", false, &k);
	if (r)
		return r;
	if (a->json)
		ctl_print_object(a, k);
	else {
		char line[512];
		if (!strcmp(ctl_js(k, "status"), "done"))
			snprintf(line, sizeof(line), "task %s done", ctl_js(k, "id"));
		else
			snprintf(line, sizeof(line), "task %s due %s", ctl_js(k, "id"), ctl_js(k, "due"));
		ctl_put_line(stdout, line);
	}
	json_decref(k);
	return 0;
}

int ctl_cmd_done(args *a) {
	if (a->n_ops < 1 || a->n_ops > 2)
		return ctl_usage_error("%s: which task? standingctl done TASK [NOTE]", "done");
	json_t *p = json_pack("{s:s}", "task", a->ops[0]);
	if (a->n_ops == 2)
		json_object_set_new(p, "note", json_string(a->ops[1]));
	return task_change(a, CRM "CompleteTask", p);
}

int ctl_cmd_snooze(args *a) {
	if (a->n_ops != 2)
		return ctl_usage_error("%s: standingctl snooze TASK UNTIL (UNTIL an instant like 2027-01-01T08:00:00Z)",
				       "snooze");
	return task_change(a, CRM "SnoozeTask", json_pack("{s:s, s:s}", "task", a->ops[0], "until", a->ops[1]));
}
