/* standingctl's remote commands: each one or more calls to standingd over its
 * Varlink socket (vlclient), the replies printed as tables, JSON or iCalendar. */
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "lib/time/cal.h"
#include "lib/sched/forecast.h"
#include "daemon/standingctl/table.h"
#include "lib/base/text.h"
#include "daemon/standingctl/vlclient.h"
#include "daemon/standingctl/errtext.h"
#include "daemon/standingctl/ctl.h"

/* ---- over the socket ---- */

typedef struct call_ctx {
	json_t *acc;         /* replies' values of `key`, concatenated (arrays) or the last object */
	const char *key;
	char *error;
	json_t *error_params;
} call_ctx;

static int collect(json_t *params, const char *error, void *ud) {
	call_ctx *c = ud;
	if (error) {
		c->error = strdup(error);
		c->error_params = json_incref(params);
		return 0;
	}
	json_t *v = c->key ? json_object_get(params, c->key) : params;
	if (json_is_array(v) && json_is_array(c->acc))
		json_array_extend(c->acc, v);
	else {
		json_decref(c->acc);
		c->acc = json_incref(v);
	}
	return 0;
}

/* The socket cannot be reached: why, as a sentence. */
static void connect_failed(const char *path, int r) {
	char *e = text_escape_terminal(path);
	fprintf(stderr, "%s: cannot connect to %s: %s\n", ctl_prog, e ? e : "?",
		r == -ENOENT ? "no socket there (is standingd running? --socket or $STANDINGD_SOCKET names another)" :
		r == -ECONNREFUSED ? "nothing listens there (is standingd running?)" :
		r == -EACCES ? "permission denied (your user needs the socket's group)" : strerror(-r));
	free(e);
}

/* The user this runs as, for "permission denied: user X may not call ...". */
static const char *self_user(char *buf, size_t size) {
	struct passwd *pw = getpwuid(geteuid());
	if (pw && pw->pw_name)
		snprintf(buf, size, "%s", pw->pw_name);
	else
		snprintf(buf, size, "%lu", (unsigned long) geteuid());
	return buf;
}

/* An error reply as a sentence (errtext): its exit code. */
static int print_error(const char *method, json_t *sent, const char *error, json_t *params) {
	char user[256];
	errtext_ctx ec = { .method = method, .call_params = sent, .user = self_user(user, sizeof(user)) };
	int rc;
	char *text = errtext_format(&ec, error, params, &rc);
	fputs(text ? text : "standingctl: out of memory\n", stderr);
	free(text);
	return text ? rc : EXIT_UNAVAILABLE;
}

typedef struct call_error {
	char *name;
	json_t *params;
} call_error;

static int call_ex(const args *a, const char *method, json_t *params, const char *key, bool more, json_t **ret,
		   call_error *ret_err);

/* One call; prints errors. 0 with *ret (owned), or an exit code. */
static int call(const args *a, const char *method, json_t *params, const char *key, bool more, json_t **ret) {
	return call_ex(a, method, params, key, more, ret, NULL);
}

/* As call(); with ret_err, an error reply is not printed but handed over (owned)
 * with EXIT_PROBLEM, for the caller to say it with what it knows (place-order: the
 * file's lines). */
static int call_ex(const args *a, const char *method, json_t *params, const char *key, bool more, json_t **ret,
		   call_error *ret_err) {
	vlclient *vc;
	const char *path = a->socket ? a->socket : vlclient_default_path();
	int r = vlclient_connect(path, &vc);
	if (r < 0) {
		connect_failed(path, r);
		json_decref(params);
		return EXIT_UNAVAILABLE;
	}
	call_ctx c = { .acc = more ? json_array() : NULL, .key = key };
	r = vlclient_call(vc, method, params, more, collect, &c);
	vlclient_close(vc);
	if (r < 0 && !c.error) {
		fprintf(stderr, "%s: %s: %s\n", ctl_prog, method, strerror(-r));
		json_decref(params);
		json_decref(c.acc);
		return EXIT_UNAVAILABLE;
	}
	if (c.error && ret_err) {
		ret_err->name = c.error;
		ret_err->params = c.error_params;
		json_decref(c.acc);
		json_decref(params);
		return EXIT_PROBLEM;
	}
	if (c.error) {
		int rc = print_error(method, params, c.error, c.error_params);
		free(c.error);
		json_decref(c.error_params);
		json_decref(c.acc);
		json_decref(params);
		return rc;
	}
	json_decref(params);
	*ret = c.acc;
	return 0;
}

static void print_json_items(json_t *items) {
	size_t i;
	json_t *v;
	json_array_foreach(items, i, v)
		ctl_put_json(stdout, v, JSON_PRESERVE_ORDER | JSON_COMPACT);
}

const char *ctl_js(json_t *o, const char *k) {
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

void ctl_lines_text(json_t *lines, char *buf, size_t size) {
	size_t len = 0, i;
	json_t *l;
	buf[0] = 0;
	json_array_foreach(lines, i, l) {
		if (len >= size)
			break;
		len += snprintf(buf + len, size - len, "%s%lld x %s", i ? ", " : "",
				(long long) json_integer_value(json_object_get(l, "quantity")), ctl_js(l, "sku"));
	}
}

/* Today by the daemon's clock (which may be a test clock), as a date in this host's
 * time zone ($TZ): 0, or an exit code after saying why. */
static int daemon_today(const args *a, int64_t *ret_day) {
	json_t *v;
	int r = call(a, "io.standingd.Now", json_object(), NULL, false, &v);
	if (r)
		return r;
	const char *s = json_string_value(json_object_get(v, "now"));
	int64_t now;
	if (!s || cal_parse_instant(s, &now) < 0) {
		fprintf(stderr, "%s: io.standingd.Now: no instant in the reply\n", ctl_prog);
		json_decref(v);
		return EXIT_UNAVAILABLE;
	}
	json_decref(v);
	time_t t = (time_t) now;
	struct tm tm;
	localtime_r(&t, &tm);
	*ret_day = cal_days_from_civil(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
	return 0;
}


/* --from/--to of a window over the socket: a date or an instant, else exit 2. */
static int check_bound(const char *opt, const char *s) {
	int64_t v;
	if (!s || cal_parse_date(s, &v) == 0 || cal_parse_instant(s, &v) == 0)
		return 0;
	char *e = text_escape_terminal(s);
	fprintf(stderr, "%s: %s %s: not a date (expected YYYY-MM-DD, or an instant like 2027-01-01T00:00:00Z)\n",
		ctl_prog, opt, e ? e : "?");
	free(e);
	return EXIT_USAGE;
}

/* Without --from, the window begins today by the daemon's clock; without --to, it
 * ends 14 days after --from (after today when --from is an instant). */
int ctl_cmd_upcoming(args *a) {
	int64_t day = 0;
	char from[CAL_ISO_MAX], to[CAL_ISO_MAX];
	int r;
	if ((r = check_bound("--from", a->from)) || (r = check_bound("--to", a->to)))
		return r;
	if ((!a->from || !a->to) && (r = daemon_today(a, &day)) != 0)
		return r;
	if (a->from)
		snprintf(from, sizeof(from), "%s", a->from);
	else
		cal_format_date(day, from);   /* not through snprintf: source and target would overlap */
	if (a->to)
		snprintf(to, sizeof(to), "%s", a->to);
	else {
		int64_t f;
		cal_format_date((cal_parse_date(from, &f) == 0 ? f : day) + 14, to);
	}
	if (a->json && a->ics)
		return ctl_usage_error("%s: choose one of --json and --ics", "upcoming");
	/* --ics alone writes to standard output; --ics FILE and --ics=FILE to FILE */
	const char *ics_path = a->ics && *a->ics ? a->ics : a->operand ? a->operand : "-";
	if (a->operand && !(a->ics && !*a->ics))
		return ctl_usage_error("unexpected argument '%s'", a->operand);
	json_t *p = json_pack("{s:s, s:s}", "from", from, "to", to), *items;
	if (a->supplier)
		json_object_set_new(p, "supplier", json_string(a->supplier));
	r = call(a, "io.standingd.Supplier.ListUpcoming", p, "shipments", true, &items);
	if (r)
		return r;
	if (a->ics) {
		FILE *f = strcmp(ics_path, "-") ? fopen(ics_path, "w") : stdout;
		if (!f) {
			fprintf(stderr, "%s: cannot write %s: %s\n", ctl_prog, ics_path, strerror(errno));
			json_decref(items);
			return EXIT_UNAVAILABLE;
		}
		ctl_write_ics(f, items);
		if (f != stdout)
			fclose(f);
	} else if (a->json) {
		print_json_items(items);
	} else {
		static const char *const head[] = { "DELIVERY", "STATUS", "ORDER", "STANDING ORDER", "CUSTOMER", "SHIP TO", "LINES" };
		/* the window as asked for: a date is its midnight in each delivery's zone */
		printf("Shipments with delivery in [%s, %s)%s\n", from, to,
		       a->from ? "" : a->to ? " (from today by the daemon's clock)" : " (today by the daemon's clock and 13 more days)");
		table *t = table_new(7, head);
		size_t i;
		json_t *s;
		json_array_foreach(items, i, s) {
			char lines[512], where[256];
			ctl_lines_text(json_object_get(s, "lines"), lines, sizeof(lines));
			snprintf(where, sizeof(where), "%s", ctl_js(json_object_get(s, "ship_to"), "city"));
			const char *row[] = { ctl_js(s, "delivery"), ctl_js(s, "status"), *ctl_js(s, "order") ? ctl_js(s, "order") : "-",
					      *ctl_js(s, "standing_order") ? ctl_js(s, "standing_order") : "-", ctl_js(s, "customer_name"),
					      where, lines };
			table_row(t, row);
		}
		table_print(t, stdout);
		table_free(t);
	}
	json_decref(items);
	return 0;
}

/* The member named as in the IDL, else as the daemon's model named it in issue 9's
 * first drafts (Account.account, LedgerEntry.balance_after, Order.history). */
static json_t *either(json_t *o, const char *idl_name, const char *draft_name) {
	json_t *v = json_object_get(o, idl_name);
	return v ? v : json_object_get(o, draft_name);
}

/* Money {amount, currency} as "850.00 EUR"; "-" for null or none. */
static void money_text(json_t *m, char *buf, size_t size) {
	if (!json_is_object(m) || !*ctl_js(m, "amount"))
		snprintf(buf, size, "-");
	else
		snprintf(buf, size, "%s %s", ctl_js(m, "amount"), ctl_js(m, "currency"));
}

/* What a prepaid order still awaits; "-" when nothing (null, or zero). */
static void due_text(json_t *o, char *buf, size_t size) {
	json_t *m = json_object_get(o, "amount_due");
	const char *amt = ctl_js(m, "amount");
	if (!*amt || amt[strspn(amt, "0.")] == 0)
		snprintf(buf, size, "-");
	else
		money_text(m, buf, size);
}

static void print_orders_table(json_t *items) {
	static const char *const head[] = { "ORDER", "STANDING ORDER", "CUSTOMER", "DELIVERY", "STATUS", "TOTAL", "DUE",
					     "TRACKING" };
	table *t = table_new(8, head);
	size_t i;
	json_t *o = NULL;
	json_array_foreach(items, i, o) {
		char total[64], due[64];
		money_text(json_object_get(o, "total"), total, sizeof(total));
		due_text(o, due, sizeof(due));
		const char *row[] = { ctl_js(o, "order"), *ctl_js(o, "standing_order") ? ctl_js(o, "standing_order") : "-",
				      ctl_js(o, "customer"), ctl_js(o, "delivery"), ctl_js(o, "status"), total, due,
				      *ctl_js(o, "tracking") ? ctl_js(o, "tracking") : "" };
		table_row(t, row);
	}
	table_print(t, stdout);
	table_free(t);
}

/* One order: its row, then how to pay it (awaiting payment) and its history. */
static void print_order_detail(json_t *o) {
	json_t *list = json_array();
	json_array_append(list, o);
	print_orders_table(list);
	json_decref(list);
	if (!strcmp(ctl_js(o, "status"), "awaiting_payment") && *ctl_js(o, "payment_reference")) {
		char due[64], line[512];
		due_text(o, due, sizeof(due));
		snprintf(line, sizeof(line), "awaiting payment of %s with reference %s", due, ctl_js(o, "payment_reference"));
		ctl_put_line(stdout, line);
	}
	json_t *hist = either(o, "transitions", "history");
	if (!json_array_size(hist))
		return;
	static const char *const head[] = { "AT (UTC)", "BY", "STATUS", "REASON" };
	table *t = table_new(4, head);
	size_t i;
	json_t *h;
	json_array_foreach(hist, i, h) {
		const char *row[] = { ctl_js(h, "at"), *ctl_js(h, "by") ? ctl_js(h, "by") : "-", ctl_js(h, "status"), ctl_js(h, "reason") };
		table_row(t, row);
	}
	putchar('\n');
	table_print(t, stdout);
	table_free(t);
}

int ctl_cmd_orders_socket(args *a) {
	json_t *p = json_object(), *items;
	if (a->so)
		json_object_set_new(p, "standing_order", json_string(a->so));
	int r = call(a, "io.standingd.Orders.ListOrders", p, "orders", true, &items);
	if (r)
		return r;
	if (a->json)
		print_json_items(items);
	else
		print_orders_table(items);
	json_decref(items);
	return 0;
}

static int print_object(const args *a, json_t *o) {
	ctl_put_json(stdout, o, JSON_PRESERVE_ORDER | (a->json ? JSON_COMPACT : JSON_INDENT(2)));
	return 0;
}

/* An Order of a reply, as --json or the table with its history; drops o. */
static int show_order(const args *a, json_t *o) {
	if (a->json)
		print_object(a, o);
	else
		print_order_detail(o);
	json_decref(o);
	return 0;
}

static int one_order(args *a, const char *method, json_t *p) {
	json_t *o = NULL;
	int r = call(a, method, p, "order", false, &o);
	return r ? r : show_order(a, o);
}

int ctl_cmd_order(args *a) {
	if (!a->operand)
		return ctl_usage_error("%s: which order? standingctl order NUMBER", "order");
	return one_order(a, "io.standingd.Orders.GetOrder", json_pack("{s:s}", "order", a->operand));
}

int ctl_cmd_ship(args *a) {
	if (!a->operand)
		return ctl_usage_error("%s: which order? standingctl ship NUMBER --carrier NAME --tracking CODE", "ship");
	if (!a->carrier || !a->tracking)
		return ctl_usage_error("%s: --carrier and --tracking are required", "ship");
	return one_order(a, "io.standingd.Supplier.MarkShipped",
			 json_pack("{s:s, s:s, s:s}", "order", a->operand, "carrier", a->carrier, "tracking", a->tracking));
}

int ctl_cmd_status(args *a) {
	json_t *o = NULL;
	int r = call(a, "io.standingd.Ops.Status", json_object(), NULL, false, &o);
	if (r)
		return r;
	if (a->json)
		print_object(a, o);
	else {
		const char *k;
		json_t *v;
		json_object_foreach(o, k, v) {
			/* a real (max_loop_step_ms) to a tenth: the JSON form has 17 digits */
			char real[32], line[512];
			char *t = json_is_string(v) || json_is_real(v) ? NULL : json_dumps(v, JSON_ENCODE_ANY);
			if (json_is_real(v))
				snprintf(real, sizeof(real), "%.1f", json_real_value(v));
			snprintf(line, sizeof(line), "%-25s %s", k, t ? t : json_is_real(v) ? real : json_string_value(v));
			ctl_put_line(stdout, line);
			free(t);
		}
	}
	json_decref(o);
	return 0;
}

int ctl_cmd_reload(args *a) {
	vlclient *vc;
	const char *path = a->socket ? a->socket : vlclient_default_path();
	int r = vlclient_connect(path, &vc);
	if (r < 0) {
		connect_failed(path, r);
		return EXIT_UNAVAILABLE;
	}
	call_ctx c = { 0 };
	r = vlclient_call(vc, "io.standingd.Ops.Reload", NULL, false, collect, &c);
	vlclient_close(vc);
	if (r < 0 && !c.error) {
		fprintf(stderr, "%s: reload: %s\n", ctl_prog, strerror(-r));
		return EXIT_UNAVAILABLE;
	}
	int rc = 0;
	if (c.error) {
		rc = print_error("io.standingd.Ops.Reload", NULL, c.error, c.error_params);
	} else {
		printf("reloaded: %lld customers, %lld standing orders\n",
		       (long long) json_integer_value(json_object_get(c.acc, "customers")),
		       (long long) json_integer_value(json_object_get(c.acc, "standing_orders")));
	}
	free(c.error);
	json_decref(c.error_params);
	json_decref(c.acc);
	return rc;
}

int ctl_cmd_standing_orders(args *a) {
	json_t *items;
	int r = call(a, "io.standingd.Ops.ListStandingOrders", json_object(), "standing_orders", true, &items);
	if (r)
		return r;
	if (a->json)
		print_json_items(items);
	else {
		static const char *const head[] = { "STANDING ORDER", "CUSTOMER", "SUPPLIER", "NEXT DELIVERY", "CREATED", "STATE", "SOURCE" };
		table *t = table_new(7, head);
		size_t i;
		json_t *s;
		json_array_foreach(items, i, s) {
			char created[32];
			snprintf(created, sizeof(created), "%lld", (long long) json_integer_value(json_object_get(s, "created")));
			const char *row[] = { ctl_js(s, "id"), ctl_js(s, "customer"), ctl_js(s, "supplier"),
					      *ctl_js(s, "next_delivery") ? ctl_js(s, "next_delivery") :
					      json_is_true(json_object_get(s, "paused")) ? "-" : "(ended)", created,
					      json_is_true(json_object_get(s, "paused")) ? "paused" : "active", ctl_js(s, "source") };
			table_row(t, row);
		}
		table_print(t, stdout);
		table_free(t);
	}
	json_decref(items);
	return 0;
}

/* ---- the order's life and the money (issue 9) ---- */

#define ORDER_FILE_MAX (1u << 20)

static const char *const order_keys[] = { "customer", "supplier", "ship_to", "lines", "payment", "delivery", NULL };

/* A YAML node as JSON: a quoted scalar is a string; a plain one null, a boolean or
 * an integer when it reads so, else a string (as the validator reads YAML). */
static json_t *node_json(const ytree_node *n) {
	if (!n)
		return json_null();
	if (n->kind == YTREE_SCALAR) {
		bool b;
		int64_t i;
		if (!n->quoted && ytree_is_null(n))
			return json_null();
		if (!n->quoted && ytree_bool(n, &b) == 0)
			return json_boolean(b);
		if (!n->quoted && ytree_int64(n, &i) == 0)
			return json_integer(i);
		return json_stringn(n->text, n->len);
	}
	json_t *v = n->kind == YTREE_SEQUENCE ? json_array() : json_object();
	for (const ytree_node *c = n->first; v && c; c = c->next) {
		json_t *cv = node_json(c);
		int r = !cv ? -1 : n->kind == YTREE_SEQUENCE ? json_array_append_new(v, cv)
			: c->key && c->key->text ? json_object_set_new(v, c->key->text, cv) : (json_decref(cv), -1);
		if (r < 0) {
			json_decref(v);
			return NULL;
		}
	}
	return v;
}

/* The node a field path of the daemon's ("lines[0].unit_price") names, or the
 * deepest one on the way (a missing key: its mapping). */
static const ytree_node *node_at(const ytree_node *root, const char *path) {
	const ytree_node *n = root;
	const char *p = path;
	while (n && *p) {
		const ytree_node *next = NULL;
		if (*p == '[') {
			char *end;
			unsigned long idx = strtoul(p + 1, &end, 10);
			if (*end != ']' || n->kind != YTREE_SEQUENCE)
				break;
			next = n->first;
			for (unsigned long k = 0; next && k < idx; k++)
				next = next->next;
			p = end + 1;
		} else {
			if (*p == '.')
				p++;
			size_t len = strcspn(p, ".[");
			char key[128];
			snprintf(key, sizeof(key), "%.*s", (int) len, p);
			next = n->kind == YTREE_MAPPING ? ytree_get(n, key) : NULL;
			p += len;
		}
		if (!next)
			break;
		n = next;
	}
	return n;
}

/* "FILE:LINE:COL: " when the node has a position, else "FILE: ". */
static void where(const char *file, const ytree_node *n, char *buf, size_t size) {
	if (n && n->line > 0)
		snprintf(buf, size, "%s:%d:%d: ", file, n->line, n->col);
	else
		snprintf(buf, size, "%s: ", file);
}

/* "FILE:LINE:COL: message" on standard error, escaped. */
static void err_at(const char *at, const char *msg) {
	char line[PATH_MAX + 1024];
	snprintf(line, sizeof(line), "%s%s", at, msg);
	ctl_put_line(stderr, line);
}

/* Reads FILE (YAML or JSON) into PlaceOrder's parameters. 0, or an exit code after
 * saying why at FILE:LINE:COL. */
static int read_order_file(const char *file, ytree **ret_tree, json_t **ret) {
	FILE *f = strcmp(file, "-") ? fopen(file, "r") : stdin;
	if (!f) {
		fprintf(stderr, "%s: cannot read %s: %s\n", ctl_prog, file, strerror(errno));
		return EXIT_UNAVAILABLE;
	}
	char *data = malloc(ORDER_FILE_MAX + 1);
	size_t len = data ? fread(data, 1, ORDER_FILE_MAX + 1, f) : 0;
	bool err = ferror(f);
	if (f != stdin)
		fclose(f);
	if (!data || err) {
		fprintf(stderr, "%s: cannot read %s: %s\n", ctl_prog, file, data ? strerror(EIO) : strerror(ENOMEM));
		free(data);
		return EXIT_UNAVAILABLE;
	}
	if (len > ORDER_FILE_MAX) {
		fprintf(stderr, "%s: %s: larger than %u bytes\n", ctl_prog, file, ORDER_FILE_MAX);
		free(data);
		return EXIT_PROBLEM;
	}
	ytree *t;
	ytree_error ye = { 0 };
	int r = ytree_parse_yaml(data, len, &t, &ye);
	/* JSON that is not YAML too (a tab before a key): read as JSON, without positions */
	size_t lead = 0;
	while (lead < len && strchr(" \t\r\n", data[lead]))
		lead++;
	ytree_error je = { 0 };
	if (r == -EINVAL && lead < len && data[lead] == '{' && ytree_parse_json(data, len, &t, &je) == 0)
		r = 0;
	free(data);
	char at[PATH_MAX + 64];
	if (r == -EINVAL) {
		if (ye.line > 0)
			snprintf(at, sizeof(at), "%s:%d:%d: ", file, ye.line, ye.col);
		else
			snprintf(at, sizeof(at), "%s: ", file);
		err_at(at, ye.msg);
		return EXIT_PROBLEM;
	}
	if (r < 0) {
		fprintf(stderr, "%s: %s: %s\n", ctl_prog, file, strerror(-r));
		return EXIT_UNAVAILABLE;
	}
	const ytree_node *root = ytree_root(t);
	if (!root || root->kind != YTREE_MAPPING) {
		where(file, root, at, sizeof(at));
		err_at(at, "expected an order: a mapping with customer, supplier, ship_to, lines, payment, delivery");
		ytree_free(t);
		return EXIT_PROBLEM;
	}
	int rc = 0;
	for (const ytree_node *c = root->first; c; c = c->next) {
		size_t k = 0;
		while (order_keys[k] && strcmp(order_keys[k], c->key->text))
			k++;
		if (!order_keys[k]) {
			where(file, c->key, at, sizeof(at));
			char msg[256];
			snprintf(msg, sizeof(msg), "unknown key '%.64s' (an order has customer, supplier, ship_to, lines, payment, delivery)",
				 c->key->text);
			err_at(at, msg);
			rc = EXIT_PROBLEM;
		}
	}
	json_t *p = rc ? NULL : node_json(root);
	if (!rc && !p) {
		fprintf(stderr, "%s: out of memory\n", ctl_prog);
		rc = EXIT_UNAVAILABLE;
	}
	/* a line's unit_price may be written as in orders.d/: "0.85 EUR" */
	size_t i;
	json_t *l;
	json_array_foreach(p ? json_object_get(p, "lines") : NULL, i, l) {
		const char *up = json_string_value(json_object_get(l, "unit_price"));
		const char *sp = up ? strrchr(up, ' ') : NULL;
		if (sp && !json_object_get(l, "currency")) {
			json_object_set_new(l, "currency", json_string(sp + 1));
			json_object_set_new(l, "unit_price", json_stringn(up, (size_t) (sp - up)));
		}
	}
	if (rc) {
		json_decref(p);
		ytree_free(t);
		return rc;
	}
	*ret_tree = t;
	*ret = p;
	return 0;
}

static void add_idem(const args *a, json_t *p) {
	if (a->idem_key)
		json_object_set_new(p, "idempotency_key", json_string(a->idem_key));
}

int ctl_cmd_place_order(args *a) {
	if (!a->operand)
		return ctl_usage_error("%s: which file? standingctl place-order FILE (YAML or JSON, - for standard input)",
				   "place-order");
	ytree *t;
	json_t *p, *o;
	int r = read_order_file(a->operand, &t, &p);
	if (r)
		return r;
	add_idem(a, p);
	json_t *sent = json_incref(p);
	call_error err = { 0 };
	r = call_ex(a, "io.standingd.Orders.PlaceOrder", p, "order", false, &o, &err);
	if (r == EXIT_PROBLEM && err.name && !strcmp(err.name, "io.standingd.Orders.InvalidOrder")) {
		/* each field error where it stands in the file */
		size_t i;
		json_t *fe;
		json_array_foreach(json_object_get(err.params, "errors"), i, fe) {
			char at[PATH_MAX + 64], line[PATH_MAX + 1024];
			where(a->operand, node_at(ytree_root(t), ctl_js(fe, "field")), at, sizeof(at));
			snprintf(line, sizeof(line), "%s%s: %s", at, ctl_js(fe, "field"), ctl_js(fe, "message"));
			ctl_put_line(stderr, line);
		}
		char *e = text_escape_terminal(a->operand);
		fprintf(stderr, "%s: %s: the daemon refused the order\n", ctl_prog, e ? e : "?");
		free(e);
	} else if (err.name)
		r = print_error("io.standingd.Orders.PlaceOrder", sent, err.name, err.params);
	free(err.name);
	json_decref(err.params);
	json_decref(sent);
	ytree_free(t);
	return r ? r : show_order(a, o);
}

/* One ORDER operand: 0, or the usage error. */
static int need_order(const args *a, const char *cmd, const char *synopsis) {
	if (!a->operand) {
		fprintf(stderr, "%s: %s: which order? standingctl %s\nTry 'standingctl --help'.\n", ctl_prog, cmd, synopsis);
		return EXIT_USAGE;
	}
	return 0;
}

int ctl_cmd_cancel(args *a) {
	int r = need_order(a, "cancel", "cancel ORDER [--reason TEXT]");
	if (r)
		return r;
	json_t *p = json_pack("{s:s, s:s}", "order", a->operand, "reason", a->reason ? a->reason : "cancelled with standingctl");
	add_idem(a, p);
	return one_order(a, "io.standingd.Orders.CancelOrder", p);
}

int ctl_cmd_hold(args *a) {
	int r = need_order(a, "hold", "hold ORDER [--reason TEXT]");
	if (r)
		return r;
	json_t *p = json_pack("{s:s}", "order", a->operand);
	if (a->reason)
		json_object_set_new(p, "reason", json_string(a->reason));
	add_idem(a, p);
	return one_order(a, "io.standingd.Orders.HoldOrder", p);
}

int ctl_cmd_release(args *a) {
	int r = need_order(a, "release", "release ORDER");
	if (r)
		return r;
	if (a->reason)
		return ctl_usage_error("%s: --reason is for cancel and hold", "release");
	json_t *p = json_pack("{s:s}", "order", a->operand);
	add_idem(a, p);
	return one_order(a, "io.standingd.Orders.ReleaseOrder", p);
}

/* WHO AMOUNT REFERENCE, AMOUNT "850.00 EUR" (one word, or two): the parameters
 * {key: WHO, amount: Money, reference}, or NULL after a usage error. */
static json_t *payment_params(const args *a, const char *cmd, const char *key) {
	char amount[64];
	const char *ref = NULL;
	if (a->n_ops == 4) {
		snprintf(amount, sizeof(amount), "%s %s", a->ops[1], a->ops[2]);
		ref = a->ops[3];
	} else if (a->n_ops == 3) {
		snprintf(amount, sizeof(amount), "%s", a->ops[1]);
		ref = a->ops[2];
	} else {
		fprintf(stderr, "%s: %s: expected %s AMOUNT REFERENCE (AMOUNT like \"850.00 EUR\")\nTry 'standingctl --help'.\n",
			ctl_prog, cmd, !strcmp(key, "order") ? "ORDER" : "CUSTOMER");
		return NULL;
	}
	money m;
	const char *why = NULL;
	if (money_parse(amount, &m, &why) < 0) {
		char *e = text_escape_terminal(amount);
		fprintf(stderr, "%s: %s: AMOUNT %s: %s (like \"850.00 EUR\")\nTry 'standingctl --help'.\n", ctl_prog, cmd,
			e ? e : "?",
			why ? why : "not an amount");
		free(e);
		return NULL;
	}
	char num[32];
	money_format_amount(&m, num, sizeof(num));
	json_t *p = json_pack("{s:s, s:{s:s, s:s}, s:s}", key, a->operand, "amount", "amount", num, "currency", m.currency,
			      "reference", ref);
	add_idem(a, p);
	return p;
}

int ctl_cmd_pay(args *a) {
	json_t *p = payment_params(a, "pay", "order");
	if (!p)
		return EXIT_USAGE;
	return one_order(a, "io.standingd.Orders.RecordPayment", p);
}

static void print_entries(json_t *entries) {
	static const char *const head[] = { "SEQ", "AT (UTC)", "KIND", "ORDER", "REFERENCE", "AMOUNT", "BALANCE" };
	table *t = table_new(7, head);
	size_t i;
	json_t *e;
	json_array_foreach(entries, i, e) {
		char seq[32], amount[64], balance[64];
		snprintf(seq, sizeof(seq), "%lld", (long long) json_integer_value(json_object_get(e, "seq")));
		money_text(json_object_get(e, "amount"), amount, sizeof(amount));
		money_text(either(e, "balance", "balance_after"), balance, sizeof(balance));
		const char *row[] = { seq, ctl_js(e, "at"), ctl_js(e, "kind"), *ctl_js(e, "order") ? ctl_js(e, "order") : "-",
				      *ctl_js(e, "reference") ? ctl_js(e, "reference") : "-", amount, balance };
		table_row(t, row);
	}
	table_print(t, stdout);
	table_free(t);
}

static void print_account(json_t *acc) {
	char line[1024], m[64];
	size_t i;
	json_t *v;
	snprintf(line, sizeof(line), "customer      %s", ctl_js(acc, "customer"));
	ctl_put_line(stdout, line);
	const char *number = json_string_value(either(acc, "number", "account"));
	snprintf(line, sizeof(line), "account       %s", number ? number : "(none)");
	ctl_put_line(stdout, line);
	money_text(json_object_get(acc, "credit_limit"), m, sizeof(m));
	snprintf(line, sizeof(line), "credit limit  %s", strcmp(m, "-") ? m : "(none)");
	ctl_put_line(stdout, line);
	json_t *bal = json_object_get(acc, "balances");
	if (!json_array_size(bal))
		ctl_put_line(stdout, "balance       0");
	json_array_foreach(bal, i, v) {
		money_text(v, m, sizeof(m));
		snprintf(line, sizeof(line), "balance       %s", m);
		ctl_put_line(stdout, line);
	}
	/* the open orders' numbers (an Order in the IDL's first draft) */
	size_t len = (size_t) snprintf(line, sizeof(line), "open orders   ");
	json_t *open = json_object_get(acc, "open_orders");
	json_array_foreach(open, i, v) {
		if (len < sizeof(line))
			len += (size_t) snprintf(line + len, sizeof(line) - len, "%s%s", i ? ", " : "",
						  json_is_string(v) ? json_string_value(v) : ctl_js(v, "order"));
		if (json_is_object(v) && len < sizeof(line))
			len += (size_t) snprintf(line + len, sizeof(line) - len, " (%s)", ctl_js(v, "status"));
	}
	if (!json_array_size(open))
		snprintf(line + len, sizeof(line) - len, "none");
	ctl_put_line(stdout, line);
	json_t *entries = json_object_get(acc, "entries");
	if (json_array_size(entries)) {
		putchar('\n');
		print_entries(entries);
	}
}

int ctl_cmd_pay_account(args *a) {
	json_t *p = payment_params(a, "pay-account", "customer"), *v;
	if (!p)
		return EXIT_USAGE;
	int r = call(a, "io.standingd.Orders.RecordAccountPayment", p, NULL, false, &v);
	if (r)
		return r;
	json_t *entry = json_object_get(v, "entry"), *acc = json_object_get(v, "account");
	if (a->json)
		print_object(a, entry ? entry : acc ? acc : v);
	else if (entry) {
		json_t *list = json_array();
		json_array_append(list, entry);
		print_entries(list);
		json_decref(list);
	} else if (acc)
		print_account(acc);
	json_decref(v);
	return 0;
}

int ctl_cmd_account(args *a) {
	if (!a->operand)
		return ctl_usage_error("%s: which customer? standingctl account CUSTOMER", "account");
	json_t *acc = NULL;
	int r = call(a, "io.standingd.Orders.GetAccount", json_pack("{s:s}", "customer", a->operand), "account", false, &acc);
	if (r)
		return r;
	if (a->json)
		print_object(a, acc);
	else
		print_account(acc);
	json_decref(acc);
	return 0;
}

/* ---- the outbox (issue 10) ---- */

/* Every event of the list, asking in pages of the daemon's largest (after the
 * last seq seen). */
static int outbox_all(const args *a, json_t **ret) {
	json_t *all = json_array();
	json_int_t after = 0;
	for (;;) {
		json_t *o = NULL;
		int r = call(a, "io.standingd.Ops.ListOutbox", json_pack("{s:b, s:I, s:i}", "parked", a->parked,
			     "after", after, "limit", 1000), NULL, false, &o);
		if (r) {
			json_decref(all);
			return r;
		}
		json_t *ev = json_object_get(o, "events");
		size_t n = json_array_size(ev);
		json_array_extend(all, ev);
		bool more = json_is_true(json_object_get(o, "more")) && n;
		if (n)
			after = json_integer_value(json_object_get(json_array_get(ev, n - 1), "seq"));
		json_decref(o);
		if (!more)
			break;
	}
	*ret = all;
	return 0;
}

int ctl_cmd_outbox(args *a) {
	if (a->retry && a->retry_all)
		return ctl_usage_error("%s: --retry ID or --retry-all, not both", "outbox");
	if (a->retry || a->retry_all) {
		json_t *p = a->retry ? json_pack("{s:s}", "id", a->retry) : json_pack("{s:b}", "all", 1), *o;
		int r = call(a, "io.standingd.Ops.RetryOutbox", p, NULL, false, &o);
		if (r)
			return r;
		json_int_t n = json_integer_value(json_object_get(o, "retried"));
		if (a->json)
			print_object(a, o);
		else
			printf("retried %lld event%s: pending again, due now\n", (long long) n, n == 1 ? "" : "s");
		json_decref(o);
		return 0;
	}
	json_t *items;
	int r = outbox_all(a, &items);
	if (r)
		return r;
	if (a->json)
		print_json_items(items);
	else {
		static const char *const head[] = { "ID", "TYPE", "ORDER", "ATTEMPTS", "NEXT ATTEMPT", "LAST ERROR" };
		table *t = table_new(6, head);
		size_t i;
		json_t *e;
		json_array_foreach(items, i, e) {
			char attempts[32], order[256], next[64];
			snprintf(attempts, sizeof(attempts), "%lld", (long long) json_integer_value(json_object_get(e, "attempts")));
			/* what the event is about: its order, else its task (task.due), else its customer */
			if (*ctl_js(e, "order"))
				snprintf(order, sizeof(order), "%s", ctl_js(e, "order"));
			else if (*ctl_js(e, "task"))
				snprintf(order, sizeof(order), "task:%s", ctl_js(e, "task"));
			else if (*ctl_js(e, "customer"))
				snprintf(order, sizeof(order), "customer:%s", ctl_js(e, "customer"));
			else
				snprintf(order, sizeof(order), "-");
			if (json_is_true(json_object_get(e, "parked")))
				snprintf(next, sizeof(next), "parked %s", ctl_js(e, "parked_at"));
			else
				snprintf(next, sizeof(next), "%s", *ctl_js(e, "next_attempt") ? ctl_js(e, "next_attempt") : "now");
			const char *row[] = { ctl_js(e, "id"), ctl_js(e, "type"), order, attempts, next,
					      *ctl_js(e, "last_error") ? ctl_js(e, "last_error") : "-" };
			table_row(t, row);
		}
		table_print(t, stdout);
		table_free(t);
	}
	json_decref(items);
	return 0;
}

int ctl_cmd_ledger(args *a) {
	if (!a->operand)
		return ctl_usage_error("%s: which customer? standingctl ledger CUSTOMER [--from D] [--to D]", "ledger");
	int r;
	if ((r = check_bound("--from", a->from)) || (r = check_bound("--to", a->to)))
		return r;
	json_t *p = json_pack("{s:s}", "customer", a->operand), *entries;
	if (a->from)
		json_object_set_new(p, "from", json_string(a->from));
	if (a->to)
		json_object_set_new(p, "to", json_string(a->to));
	r = call(a, "io.standingd.Orders.ListLedger", p, "entries", true, &entries);
	if (r)
		return r;
	if (a->json)
		print_json_items(entries);
	else
		print_entries(entries);
	json_decref(entries);
	return 0;
}

/* ---- shared with the CRM commands (crm.c) ---- */

int ctl_call(const args *a, const char *method, json_t *params, const char *key, bool more, json_t **ret) {
	return call(a, method, params, key, more, ret);
}

void ctl_print_json_items(json_t *items) {
	print_json_items(items);
}

int ctl_print_object(const args *a, json_t *o) {
	return print_object(a, o);
}

void ctl_print_orders_table(json_t *items) {
	print_orders_table(items);
}
