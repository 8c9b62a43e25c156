#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "daemon/standingctl/errtext.h"
#include "lib/base/text.h"

enum kind {
	PLAIN,          /* one sentence */
	FIELD_ERRORS,   /* the sentence, then "  FIELD: message" for each of errors[] */
	LINES,          /* each of errors[] (FILE:LINE:COL: message) as it is, then the sentence */
	BAD_PARAMETER,  /* org.varlink.service.InvalidParameter: the option and value given */
};

/* {name}: the reply's parameter (a status reads "awaiting payment", Money "850.00
 * EUR"); {>name}: the call's parameter; {@method}: the method without
 * "io.standingd."; {@user}: the caller's user; {@strerror}: strerror(errno). A
 * sentence whose parameter is missing falls back to the error as sent. method: only
 * for a method whose name ends so (NULL any); the first row that fits is taken. */
static const struct {
	const char *error, *method;
	enum kind kind;
	const char *text;
	int exit;
} table[] = {
	{ "io.standingd.PermissionDenied", NULL, PLAIN, "permission denied: user {@user} may not call {@method}", 1 },
	{ "org.varlink.service.PermissionDenied", NULL, PLAIN, "permission denied: user {@user} may not call {@method}", 1 },
	{ "io.standingd.InternalError", NULL, PLAIN, "the daemon failed to answer {@method}: {@strerror} (errno {errno}); its log says more", 1 },
	{ "io.standingd.TooManyConnections", NULL, PLAIN, "the daemon refused the connection: too many connections (its limit is {limit}); try again later", 3 },
	{ "io.standingd.Supplier.OrderNotFound", NULL, PLAIN, "order {order} was not found", 1 },
	{ "io.standingd.Supplier.AlreadyShipped", NULL, PLAIN, "order {order} was already shipped with {carrier}, tracking {tracking}", 1 },
	{ "io.standingd.Supplier.OrderCancelled", NULL, PLAIN, "order {order} is cancelled: it cannot be shipped", 1 },
	{ "io.standingd.Supplier.NotConfirmed", NULL, PLAIN, "order {order} is {status}, not confirmed: it cannot be shipped yet", 1 },
	{ "io.standingd.Supplier.TooManyShipments", NULL, PLAIN, "more than {limit} shipments in that window: ask for a shorter one", 1 },
	{ "io.standingd.Orders.InvalidDefinition", NULL, FIELD_ERRORS, "the daemon refused the standing order:", 1 },
	{ "io.standingd.Orders.InvalidOrder", NULL, FIELD_ERRORS, "the daemon refused the order:", 1 },
	{ "io.standingd.Orders.StandingOrderNotFound", NULL, PLAIN, "standing order {standing_order} was not found", 1 },
	{ "io.standingd.Orders.DefinedInFile", NULL, PLAIN, "standing order {standing_order} is defined in {file}:{line}: change it there", 1 },
	{ "io.standingd.Orders.NoSuchOccurrence", NULL, PLAIN, "standing order {standing_order} has no delivery at {delivery}", 1 },
	{ "io.standingd.Orders.AlreadyCreated", NULL, PLAIN, "the delivery of {standing_order} at {delivery} is already order {order}", 1 },
	{ "io.standingd.Orders.OrderNotFound", NULL, PLAIN, "order {order} was not found", 1 },
	{ "io.standingd.Orders.CustomerNotFound", NULL, PLAIN, "customer {customer} was not found", 1 },
	{ "io.standingd.Orders.CreditLimitExceeded", NULL, PLAIN, "order {order} stays on hold: its total {total} would take the balance {balance} past the credit limit {limit}", 1 },
	{ "io.standingd.Orders.WrongAmount", NULL, PLAIN, "order {order} awaits exactly {due}, not {>amount}", 1 },
	{ "io.standingd.Orders.WrongStatus", "ReleaseOrder", PLAIN, "order {order} is {status}, not on hold: there is nothing to release", 1 },
	{ "io.standingd.Orders.WrongStatus", "RecordPayment", PLAIN, "order {order} is {status}, not awaiting payment", 1 },
	{ "io.standingd.Orders.WrongStatus", "HoldOrder", PLAIN, "order {order} is {status}: only an order not yet shipped can be put on hold", 1 },
	{ "io.standingd.Orders.WrongStatus", "CancelOrder", PLAIN, "order {order} is {status}: only an order not yet shipped can be cancelled", 1 },
	{ "io.standingd.Orders.WrongStatus", NULL, PLAIN, "order {order} is {status}: {@method} does not apply to it", 1 },
	{ "io.standingd.Orders.NoAccount", NULL, PLAIN, "customer {customer} has no account", 1 },
	{ "io.standingd.Orders.TooManyEntries", NULL, PLAIN, "more than {limit} ledger entries match: narrow the window", 1 },
	{ "io.standingd.Orders.IdempotencyKeyReused", NULL, PLAIN, "idempotency key {idempotency_key} was used before with other parameters: nothing was done", 1 },
	{ "io.standingd.Orders.TooManyOrders", NULL, PLAIN, "more than {limit} orders match: narrow the filters or the window", 1 },
	{ "io.standingd.Ops.InvalidDefinitions", NULL, LINES, "reload refused: the daemon keeps the last good definitions", 1 },
	{ "io.standingd.Ops.TooManyOccurrences", NULL, PLAIN, "more than {limit} occurrences in that window: ask for a shorter one", 1 },
	{ "io.standingd.Ops.NoSuchEvent", NULL, PLAIN, "event {id} is not parked (standingctl outbox --parked lists those that are)", 1 },
	{ "io.standingd.Crm.CustomerNotFound", NULL, PLAIN, "customer {customer} was not found", 1 },
	{ "io.standingd.Crm.SalespersonNotFound", NULL, PLAIN, "salesperson {salesperson} was not found (salespeople: in standingd.yaml names them)", 1 },
	{ "io.standingd.Crm.TaskNotFound", NULL, PLAIN, "task {task} was not found", 1 },
	{ "io.standingd.Crm.TaskNotOpen", NULL, PLAIN, "task {task} is {status}: only an open task can be done or snoozed", 1 },
	{ "io.standingd.Crm.InvalidDefinition", NULL, FIELD_ERRORS, "the daemon refused the customer:", 1 },
	{ "io.standingd.Crm.DefinedInFile", NULL, PLAIN, "customer {customer} is defined in {file}:{line}: change it there", 1 },
	{ "io.standingd.Crm.TooManyTasks", NULL, PLAIN, "more than {limit} tasks match: narrow the filters", 1 },
	{ "io.standingd.Crm.TooManyInteractions", NULL, PLAIN, "more than {limit} interactions match: narrow the window", 1 },
	/* the protocol's own */
	{ "org.varlink.service.InterfaceNotFound", NULL, PLAIN, "the daemon does not know the interface {interface} (an older standingd?)", 3 },
	{ "org.varlink.service.MethodNotFound", NULL, PLAIN, "the daemon does not know the method {method} (an older standingd?)", 3 },
	{ "org.varlink.service.MethodNotImplemented", NULL, PLAIN, "the daemon does not implement {method}", 3 },
	{ "org.varlink.service.ExpectedMore", NULL, PLAIN, "the daemon wants {@method} called with \"more\" (a standingctl bug)", 1 },
	{ "org.varlink.service.InvalidParameter", NULL, BAD_PARAMETER, NULL, 1 },
};

/* The option of standingctl that carries a parameter ("" an operand named by value). */
static const struct {
	const char *param, *option;
} options[] = {
	{ "from", "--from" }, { "to", "--to" }, { "supplier", "--supplier" }, { "carrier", "--carrier" },
	{ "tracking", "--tracking" }, { "standing_order", "--standing-order" }, { "reason", "--reason" },
	{ "idempotency_key", "--idempotency-key" }, { "order", "order" }, { "customer", "customer" },
	{ "reference", "reference" }, { "id", "--retry" }, { "contact", "--contact" }, { "kind", "kind" },
	{ "summary", "summary" }, { "until", "until" }, { "note", "note" }, { "task", "task" }, { "mine", "--mine" },
};

/* Why a parameter is refused, by method (a suffix of it, NULL any) and parameter. */
static const struct {
	const char *method, *param, *why;
} hints[] = {
	{ NULL, "<message>", "the daemon could not read the request" },
	{ NULL, "from", "not a date (YYYY-MM-DD) or an instant (2027-01-01T00:00:00Z)" },
	{ NULL, "to", "not a date or an instant after --from, at most 400 days after it" },
	{ "ListUpcoming", "supplier", "no such supplier" },
	{ NULL, "order", "not an order number (SO-NNNNNNNN-D, D its check digit)" },
	{ NULL, "carrier", "empty, or has a control character" },
	{ NULL, "tracking", "empty, or has a control character" },
	{ NULL, "reason", "empty, or has a control character" },
	{ NULL, "reference", "empty, or has a control character" },
	{ "ListOrders", "status", "not an order status" },
	{ "SkipOccurrence", "delivery", "not an instant (2027-01-01T06:00:00+02:00)" },
	{ NULL, "amount", "not an amount in the currency's minor units (850.00 EUR)" },
	{ NULL, "idempotency_key", "empty, longer than 200 bytes, or has a control character" },
	{ "RetryOutbox", "id", "not an event id (INSTANCE-SEQ, as standingctl outbox --parked shows it)" },
	{ "LogInteraction", "kind", "not one of visit, call, email, meeting, note" },
	{ NULL, "summary", "empty, longer than 2000 bytes, or has a control character" },
	{ NULL, "contact", "empty, longer than 2000 bytes, or has a control character" },
	{ NULL, "note", "empty, longer than 2000 bytes, or has a control character" },
	{ "SnoozeTask", "until", "not an instant after now (2027-01-05T08:00:00Z)" },
	{ "ListTasks", "mine", "your user is no salesperson's (users: of salespeople: in standingd.yaml)" },
};

/* Text is written to a memory stream (open_memstream): a write error there is
 * out of memory, seen at fclose. */
typedef FILE buf;

static void puts_(buf *b, const char *s) {
	fputs(s, b);
}

/* A value from the daemon, escaped for a terminal. */
static void put_value(buf *b, json_t *v) {
	if (!v) {
		puts_(b, "?");
		return;
	}
	char *t = json_is_string(v) ? NULL : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	char *e = text_escape_terminal(t ? t : json_string_value(v));
	puts_(b, e ? e : "?");
	free(e);
	free(t);
}

static const char *short_method(const char *m) {
	static const char prefix[] = "io.standingd.";
	return m && !strncmp(m, prefix, sizeof(prefix) - 1) ? m + sizeof(prefix) - 1 : m ? m : "?";
}

/* Fills the template; -1 when a parameter it names is missing. */
static int fill(buf *b, const char *tpl, const errtext_ctx *c, json_t *params) {
	for (const char *p = tpl; *p;) {
		const char *open = strchr(p, '{');
		if (!open) {
			puts_(b, p);
			break;
		}
		fwrite(p, 1, (size_t) (open - p), b);
		const char *close = strchr(open, '}');
		char name[64];
		snprintf(name, sizeof(name), "%.*s", (int) (close - open - 1), open + 1);
		if (!strcmp(name, "@method"))
			puts_(b, short_method(c->method));
		else if (!strcmp(name, "@user"))
			puts_(b, c->user ? c->user : "?");
		else if (!strcmp(name, "@strerror")) {
			json_int_t e = json_integer_value(json_object_get(params, "errno"));
			puts_(b, e > 0 && e < 4096 ? strerror((int) e) : "unknown error");
		} else {
			bool sent = name[0] == '>';
			json_t *v = json_object_get(sent ? c->call_params : params, name + sent);
			if (!v || json_is_null(v))
				return -1;
			if (!strcmp(name, "status") && json_is_string(v)) {
				/* awaiting_payment reads "awaiting payment" */
				char st[64];
				snprintf(st, sizeof(st), "%s", json_string_value(v));
				for (char *u = st; *u; u++)
					if (*u == '_')
						*u = ' ';
				json_t *h = json_string(st);
				put_value(b, h);
				json_decref(h);
				p = close + 1;
				continue;
			}
			/* Money {amount, currency} reads "850.00 EUR" */
			if (json_is_object(v) && json_is_string(json_object_get(v, "amount"))) {
				put_value(b, json_object_get(v, "amount"));
				puts_(b, " ");
				put_value(b, json_object_get(v, "currency"));
			} else
				put_value(b, v);
		}
		p = close + 1;
	}
	return 0;
}

static void bad_parameter(buf *b, const errtext_ctx *c, json_t *params) {
	const char *param = json_string_value(json_object_get(params, "parameter"));
	if (!param)
		param = "?";
	const char *why = "not a valid value";
	for (size_t i = 0; i < sizeof(hints) / sizeof(hints[0]); i++)
		if (!strcmp(hints[i].param, param) &&
		    (!hints[i].method || (c->method && strstr(c->method, hints[i].method)))) {
			why = hints[i].why;
			break;
		}
	if (!strcmp(param, "<message>")) {
		puts_(b, why);
		return;
	}
	const char *opt = NULL;
	for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++)
		if (!strcmp(options[i].param, param))
			opt = options[i].option;
	json_t *given = json_object_get(c->call_params, param);
	puts_(b, "the daemon refused ");
	if (opt && json_is_string(given)) {
		puts_(b, opt);
		puts_(b, " ");
		/* an empty value would vanish from the sentence */
		if (*json_string_value(given))
			put_value(b, given);
		else
			puts_(b, "\"\"");
	} else if (opt && json_is_true(given)) {
		puts_(b, opt);   /* a flag */
	} else {
		/* a parameter the daemon names, not one of ours: its name, quoted */
		puts_(b, "\"");
		char *e = text_escape_terminal(param);
		puts_(b, e ? e : "?");
		free(e);
		puts_(b, "\"");
	}
	puts_(b, ": ");
	puts_(b, why);
}

static bool ends_with(const char *s, const char *suffix) {
	size_t n = s ? strlen(s) : 0, m = strlen(suffix);
	return n >= m && !strcmp(s + n - m, suffix);
}

/* The sentence alone; -1 when the reply's parameters do not fit it. */
static int sentence(buf *b, const errtext_ctx *c, size_t i, json_t *params) {
	if (table[i].kind == BAD_PARAMETER) {
		bad_parameter(b, c, params);
		return 0;
	}
	return fill(b, table[i].text, c, params);
}

char *errtext_format(const errtext_ctx *c, const char *error, json_t *params, int *ret_exit) {
	size_t i, n = sizeof(table) / sizeof(table[0]);
	for (i = 0; i < n; i++)
		if (!strcmp(table[i].error, error) && (!table[i].method || ends_with(c->method, table[i].method)))
			break;
	*ret_exit = i < n ? table[i].exit : 1;
	char *text = NULL, *one = NULL;
	size_t size, one_size;
	buf *b = open_memstream(&text, &size), *s = open_memstream(&one, &one_size);
	if (!b || !s) {
		if (b)
			fclose(b);
		if (s)
			fclose(s);
		free(text);
		free(one);
		return NULL;
	}
	if (i < n && table[i].kind == LINES) {
		size_t k;
		json_t *line;
		json_array_foreach(json_object_get(params, "errors"), k, line) {
			put_value(b, line);
			puts_(b, "\n");
		}
	}
	puts_(b, "standingctl: ");
	bool fits = i < n && sentence(s, c, i, params) == 0;
	int serr = fclose(s);
	if (fits && !serr)
		puts_(b, one);
	else {
		/* not in the table, or not the parameters it expects: as sent */
		puts_(b, short_method(c->method));
		puts_(b, ": the daemon answered ");
		char *e = text_escape_terminal(error);
		puts_(b, e ? e : "?");
		free(e);
		if (json_object_size(params)) {
			puts_(b, " ");
			put_value(b, params);
		}
	}
	free(one);
	puts_(b, "\n");
	if (i < n && table[i].kind == FIELD_ERRORS) {
		size_t k;
		json_t *fe;
		json_array_foreach(json_object_get(params, "errors"), k, fe) {
			puts_(b, "  ");
			put_value(b, json_object_get(fe, "field"));
			puts_(b, ": ");
			put_value(b, json_object_get(fe, "message"));
			puts_(b, "\n");
		}
	}
	if (fclose(b) != 0) {
		free(text);
		return NULL;
	}
	return text;
}
