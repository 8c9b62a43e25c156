/* standingctl: the command-line client. Offline subcommands read the definitions
 * (forecast, check) or the LMDB store (orders, verify, diff) directly; the others
 * talk to standingd over its Varlink socket.
 * Exit codes: 0 success, 1 the command ran and found a problem (invalid
 * definitions, store violations, a refused request), 2 usage error, 3 could not
 * reach or open what it needed (socket, store, files). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lib/time/cal.h"
#include "config.h"
#include "lib/defs/defs.h"
#include "lib/defs/yamltree.h"
#include "lib/sched/catalog.h"
#include "lib/sched/forecast.h"
#include "lib/store/store.h"
#include "daemon/common/storefault.h"
#include "daemon/standingctl/table.h"
#include "lib/base/text.h"
#include "daemon/standingctl/vlclient.h"
#include "daemon/standingctl/errtext.h"
#include <pwd.h>
#include <time.h>
#include <unistd.h>

#define EXIT_PROBLEM 1
#define EXIT_USAGE 2
#define EXIT_UNAVAILABLE 3

static const char *prog = "standingctl";

static void usage(FILE *f) {
	fprintf(f,
		"Usage: standingctl COMMAND [OPTIONS]\n"
		"\n"
		"Offline commands (no daemon needed):\n"
		"  forecast --conf DIR --from YYYY-MM-DD --to YYYY-MM-DD [--json]\n"
		"                    occurrences whose delivery lies in [from, to)\n"
		"  check --conf DIR  validate the definitions (like standingd --check)\n"
		"  orders --state DIR [--standing-order ID] [--json]\n"
		"                    orders created so far, in delivery order (read-only)\n"
		"  verify --state DIR\n"
		"                    check the store's invariants; exit 1 naming each violation\n"
		"  diff --conf DIR --state DIR\n"
		"                    what a reload would change: added, changed (next three\n"
		"                    deliveries before and after), deactivated, invalid files\n"
		"\n"
		"Commands over the socket (--socket PATH or $STANDINGD_SOCKET):\n"
		"  upcoming [--from D] [--to D] [--supplier ID] [--json | --ics [FILE]]\n"
		"                    shipments with delivery in [from, to); dates are midnights\n"
		"                    in each delivery's zone; default --from: today by the\n"
		"                    daemon's clock (its date here), --to: 14 days after --from;\n"
		"                    --ics writes iCalendar (RFC 5545) to FILE or standard output\n"
		"  orders [--standing-order ID] [--json]\n"
		"                    orders (without --state: asks the daemon)\n"
		"  order NUMBER      one order, with its history\n"
		"  ship NUMBER --carrier NAME --tracking CODE\n"
		"                    mark a confirmed order shipped\n"
		"  place-order FILE  place a one-time order from a YAML or JSON file (- for\n"
		"                    standard input): customer, supplier, ship_to, lines,\n"
		"                    payment, delivery; refusals at FILE:LINE:COL\n"
		"  cancel ORDER [--reason TEXT]\n"
		"                    cancel an order not yet shipped (credit or refund entry)\n"
		"  pay ORDER AMOUNT REFERENCE\n"
		"                    record the payment of a prepaid order; AMOUNT is exactly\n"
		"                    what is due, like \"850.00 EUR\"\n"
		"  pay-account CUSTOMER AMOUNT REFERENCE\n"
		"                    record a payment to a customer's account\n"
		"  hold ORDER [--reason TEXT]\n"
		"                    put an order not yet shipped on hold\n"
		"  release ORDER     release an order on hold (the credit limit is checked)\n"
		"  account CUSTOMER  balance per currency, credit limit, open orders, last entries\n"
		"  ledger CUSTOMER [--from D] [--to D]\n"
		"                    the account's ledger entries\n"
		"  status            counts, next due order, outbox backlog\n"
		"  reload            reload the definitions (all or nothing)\n"
		"  standing-orders   standing orders with their next delivery\n"
		"\n"
		"Options:\n"
		"  --conf DIR        configuration directory (standingd.yaml, orders.d/)\n"
		"  --state DIR       the daemon's state directory (LMDB)\n"
		"  --json            one JSON object per line instead of a table\n"
		"  --idempotency-key KEY\n"
		"                    place-order, cancel, pay, pay-account, hold, release:\n"
		"                    the same KEY again returns the first reply, done once\n"
		"  -h, --help        this help\n"
		"\n"
		"  --socket PATH     the daemon's socket (default $STANDINGD_SOCKET, else\n"
		"                    " STANDINGD_SOCKET_DEFAULT ")\n"
		"\n"
		"Exit status: 0 success, 1 problem found (or an error reply), 2 usage error,\n"
		"3 unavailable (no store, no socket).\n");
}

enum { OPT_CONF = 256, OPT_FROM, OPT_TO, OPT_JSON, OPT_STATE, OPT_SO, OPT_SOCKET, OPT_SUPPLIER,
       OPT_ICS, OPT_CARRIER, OPT_TRACKING, OPT_REASON, OPT_IDEM };

#define MAX_OPERANDS 4

typedef struct args {
	const char *conf, *from, *to, *state, *so, *socket, *supplier, *ics, *carrier, *tracking;
	const char *reason, *idem_key;
	const char *operand;      /* the first operand (NUMBER of order/ship, FILE, CUSTOMER) */
	const char *ops[MAX_OPERANDS];
	int n_ops;
	int json;
} args;

static int usage_error(const char *fmt, const char *arg) {
	fprintf(stderr, "%s: ", prog);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'standingctl --help'.\n");
	return EXIT_USAGE;
}

static int parse_args(int argc, char **argv, args *a) {
	static const struct option opts[] = {
		{ "conf", required_argument, NULL, OPT_CONF },
		{ "from", required_argument, NULL, OPT_FROM },
		{ "to", required_argument, NULL, OPT_TO },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "state", required_argument, NULL, OPT_STATE },
		{ "standing-order", required_argument, NULL, OPT_SO },
		{ "socket", required_argument, NULL, OPT_SOCKET },
		{ "supplier", required_argument, NULL, OPT_SUPPLIER },
		{ "ics", optional_argument, NULL, OPT_ICS },
		{ "carrier", required_argument, NULL, OPT_CARRIER },
		{ "tracking", required_argument, NULL, OPT_TRACKING },
		{ "reason", required_argument, NULL, OPT_REASON },
		{ "idempotency-key", required_argument, NULL, OPT_IDEM },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_CONF: a->conf = optarg; break;
		case OPT_FROM: a->from = optarg; break;
		case OPT_TO: a->to = optarg; break;
		case OPT_JSON: a->json = 1; break;
		case OPT_STATE: a->state = optarg; break;
		case OPT_SO: a->so = optarg; break;
		case OPT_SOCKET: a->socket = optarg; break;
		case OPT_SUPPLIER: a->supplier = optarg; break;
		case OPT_ICS: a->ics = optarg ? optarg : ""; break;
		case OPT_CARRIER: a->carrier = optarg; break;
		case OPT_TRACKING: a->tracking = optarg; break;
		case OPT_REASON: a->reason = optarg; break;
		case OPT_IDEM: a->idem_key = optarg; break;
		case 'h': usage(stdout); exit(0);
		case ':': return usage_error("option %s needs a value", argv[optind - 1]);
		default: return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	while (optind < argc && a->n_ops < MAX_OPERANDS)
		a->ops[a->n_ops++] = argv[optind++];
	a->operand = a->ops[0];
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	return 0;
}

/* One line of text from a definition, the store or the daemon, with control
 * characters escaped ("\x1b"): what reached old state must not steer a terminal. */
static void put_line(FILE *f, const char *s) {
	char *e = text_escape_terminal(s ? s : "");
	fprintf(f, "%s\n", e ? e : "?");
	free(e);
}

/* JSON as jansson wrote it (C0 escaped), with DEL and C1 escaped too. */
static void put_json(FILE *f, json_t *v, size_t flags) {
	char *t = json_dumps(v, flags);
	char *e = t ? text_escape_json(t) : NULL;
	fprintf(f, "%s\n", e ? e : "null");
	free(e);
	free(t);
}

static void put_diags(FILE *f, const diag_list *diags) {
	for (size_t i = 0; i < diags->n; i++) {
		char *m = diag_format(&diags->v[i]);
		put_line(f, m ? m : diags->v[i].msg);
		free(m);
	}
}

/* Loads the definitions and prints every error as FILE:LINE:COL: message. */
static int load_defs(const char *conf, defs **ret, FILE *errf) {
	diag_list diags = { 0 };
	int r = defs_load(conf, NULL, ret, &diags);
	put_diags(errf, &diags);
	diag_list_clear(&diags);
	return r;
}

static int parse_day(const char *opt, const char *s, int64_t *ret) {
	if (!s) {
		fprintf(stderr, "%s: %s is required\nTry 'standingctl --help'.\n", prog, opt);
		return EXIT_USAGE;
	}
	if (cal_parse_date(s, ret) < 0) {
		fprintf(stderr, "%s: %s: expected a date YYYY-MM-DD, got \"%s\"\n", prog, opt, s);
		return EXIT_USAGE;
	}
	return 0;
}

static void lines_summary(const standing_order *so, char *buf, size_t size) {
	size_t len = 0;
	buf[0] = 0;
	for (size_t i = 0; i < so->n_lines && len < size; i++)
		len += snprintf(buf + len, size - len, "%s%lld x %s", i ? ", " : "",
				(long long) so->lines[i].quantity, so->lines[i].sku);
}

static void print_json_line(json_t *o) {
	char *s = json_dumps(o, JSON_PRESERVE_ORDER);
	puts(s);
	free(s);
	json_decref(o);
}

static int cmd_forecast(args *a) {
	int64_t from, to;
	int r;
	if (!a->conf)
		return usage_error("%s is required", "--conf");
	if ((r = parse_day("--from", a->from, &from)) || (r = parse_day("--to", a->to, &to)))
		return r;
	if (to <= from) {
		fprintf(stderr, "%s: --to %s is not after --from %s\n", prog, a->to, a->from);
		return EXIT_USAGE;
	}
	defs *d;
	r = load_defs(a->conf, &d, stderr);
	if (r == -EINVAL)
		return EXIT_PROBLEM;
	if (r < 0)
		return EXIT_UNAVAILABLE;
	forecast f = { 0 };
	if (forecast_collect(d, from, to, &f) < 0) {
		fprintf(stderr, "%s: out of memory\n", prog);
		defs_free(d);
		return EXIT_UNAVAILABLE;
	}
	static const char *const head[] = { "DELIVERY", "CREATE AT (UTC)", "STANDING ORDER",
					     "CUSTOMER", "SUPPLIER", "LINES" };
	table *t = a->json ? NULL : table_new(6, head);
	for (size_t i = 0; i < f.n; i++) {
		const forecast_item *it = &f.v[i];
		const standing_order *so = it->so;
		char delivery[CAL_ISO_MAX], create[CAL_ISO_MAX];
		cal_format_instant(it->occ.delivery, tz_offset_at(so->rule.zone, it->occ.delivery), delivery);
		cal_format_utc(it->occ.create_at, create);
		if (a->json) {
			print_json_line(json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}",
				"standing_order", so->id, "customer", so->customer->id,
				"supplier", so->supplier, "delivery", delivery, "create_at", create,
				"lines", order_lines_view(so->lines, so->n_lines)));
		} else {
			char lines[256];
			lines_summary(so, lines, sizeof(lines));
			const char *row[] = { delivery, create, so->id, so->customer->name, so->supplier, lines };
			table_row(t, row);
		}
	}
	if (t) {
		table_print(t, stdout);
		table_free(t);
	}
	forecast_clear(&f);
	defs_free(d);
	return 0;
}

static int cmd_check(args *a) {
	if (!a->conf)
		return usage_error("%s is required", "--conf");
	defs *d;
	int r = load_defs(a->conf, &d, stdout);
	if (r == -EINVAL)
		return EXIT_PROBLEM;
	if (r < 0)
		return EXIT_UNAVAILABLE;
	printf("OK: %zu customers, %zu standing orders\n", d->n_customers, d->n_orders);
	defs_free(d);
	return 0;
}

static int open_store(const char *state, store **ret) {
	if (!state) {
		usage_error("%s is required", "--state");
		return EXIT_USAGE;
	}
	diag_list diags = { 0 };
	store_options opts = { .flags = STORE_READONLY, .on_damage = storefault_lmdb, .diags = &diags };
	storefault_install(prog, state);
	int r = store_open(state, &opts, ret);
	if (r == -EUCLEAN || r == -EBADMSG) {
		/* damage is a problem found, not an unavailable store */
		fprintf(stderr, "%s: the store in %s is damaged: %s%s%s\n", prog, state,
			diags.n ? diags.v[0].file : "", diags.n ? " " : "", diags.n ? diags.v[0].msg : strerror(-r));
		diag_list_clear(&diags);
		return EXIT_PROBLEM;
	}
	diag_list_clear(&diags);
	if (r < 0) {
		fprintf(stderr, "%s: cannot open the store in %s: %s\n", prog, state,
			r == -ENOENT ? "no store there (has standingd run with this --state?)" :
			r == -EPROTO ? "written by a newer standingd" : strerror(-r));
		return EXIT_UNAVAILABLE;
	}
	return 0;
}

/* A read that failed: damage is exit 1 (a problem found), anything else 3. */
static int store_read_failed(const char *state, const char *what, int r) {
	if (r == -EBADMSG) {
		fprintf(stderr, "%s: %s failed: the store in %s is damaged (%s)\n", prog, what, state, strerror(-r));
		return EXIT_PROBLEM;
	}
	fprintf(stderr, "%s: %s failed: %s\n", prog, what, strerror(-r));
	return EXIT_UNAVAILABLE;
}

typedef struct orders_ctx {
	const args *a;
	table *t;
} orders_ctx;

static int print_order(const sales_order *o, void *ud) {
	orders_ctx *ctx = ud;
	if (ctx->a->so && (!o->standing_order || strcmp(ctx->a->so, o->standing_order)))
		return 0;
	char delivery[CAL_ISO_MAX], created[CAL_ISO_MAX], total[32];
	cal_format_instant(o->delivery, o->delivery_offset, delivery);
	cal_format_utc(o->created, created);
	money_format_amount(&o->total, total, sizeof(total));
	if (ctx->a->json) {
		/* the wire's Order (GetOrder, ListOrders), from the one codec: the same
		 * fields and bytes as `standingctl orders --json` over the socket */
		json_t *j = order_to_view(o);
		if (!j)
			return -ENOMEM;
		put_json(stdout, j, JSON_PRESERVE_ORDER | JSON_COMPACT);
		json_decref(j);
	} else {
		char tot[64], due[64];
		snprintf(tot, sizeof(tot), "%s %s", total, o->total.currency);
		/* what is due, as the view (GetOrder's amount_due) says it: the gross while
		 * the order awaits payment */
		snprintf(due, sizeof(due), "%s", o->status == ORDER_STATUS_AWAITING_PAYMENT ? tot : "-");
		const char *row[] = { o->number, o->standing_order ? o->standing_order : "-", o->customer,
				      delivery, created, order_status_name(o->status), o->late ? "late" : "", tot, due };
		table_row(ctx->t, row);
	}
	return 0;
}

static int cmd_orders_socket(args *a);

static int cmd_orders(args *a) {
	if (!a->state)
		return cmd_orders_socket(a);
	store *s;
	int r = open_store(a->state, &s);
	if (r)
		return r;
	store_txn *t;
	static const char *const head[] = { "ORDER", "STANDING ORDER", "CUSTOMER", "DELIVERY",
					     "CREATED (UTC)", "STATUS", "LATE", "TOTAL", "DUE" };
	orders_ctx ctx = { .a = a, .t = a->json ? NULL : table_new(9, head) };
	r = store_begin(s, false, &t);
	if (r == 0) {
		r = store_order_each(t, INT64_MIN, INT64_MAX, print_order, &ctx);
		store_abort(t);
	}
	if (ctx.t) {
		if (r == 0)
			table_print(ctx.t, stdout);
		table_free(ctx.t);
	}
	store_close(s);
	if (r < 0)
		return store_read_failed(a->state, "reading the store", r);
	return 0;
}

static int cmd_verify(args *a) {
	store *s;
	int r = open_store(a->state, &s);
	if (r)
		return r;
	diag_list diags = { 0 };
	r = store_verify(s, &diags);
	put_diags(stdout, &diags);
	diag_list_clear(&diags);
	store_close(s);
	if (r == -EBADMSG)
		return EXIT_PROBLEM;
	if (r < 0) {
		fprintf(stderr, "%s: verify failed: %s\n", prog, strerror(-r));
		return EXIT_UNAVAILABLE;
	}
	printf("OK: no violations\n");
	return 0;
}

/* The next three deliveries after the watermark (what the engine would create next). */
static void next_three(const standing_order *so, int64_t after, char *buf, size_t size) {
	occurrence o;
	size_t len = 0;
	buf[0] = 0;
	/* a cron schedule without start begins when the daemon first sees it: about now */
	if (after == INT64_MIN && so->rule.kind == RULE_CRON && so->rule.start_day == INT64_MIN)
		after = (int64_t) time(NULL);
	for (int i = 0; i < 3 && rule_next(&so->rule, after, &o) == 0 && len < size; i++) {
		char when[CAL_ISO_MAX];
		len += snprintf(buf + len, size - len, "%s%s", i ? ", " : "",
				cal_format_instant(o.delivery, tz_offset_at(so->rule.zone, o.delivery), when));
		after = o.delivery;
	}
	if (!buf[0])
		snprintf(buf, size, "(none)");
}

static int cmd_diff(args *a) {
	if (!a->conf)
		return usage_error("%s is required", "--conf");
	store *s;
	int r = open_store(a->state, &s);
	if (r)
		return r;
	/* the daemon's catalog: the applied set running, the config dir's staged on it */
	const defs *cur = NULL, *next = NULL;
	catalog *cat = NULL;
	defs_file *files = NULL, *api = NULL, *conf_files = NULL;
	size_t n = 0, na = 0, nc = 0;
	store_txn *t = NULL;
	diag_list diags = { 0 };
	/* standing orders placed through the API take part in both sets */
	r = catalog_new(NULL, &cat);
	if (r == 0)
		r = store_begin(s, false, &t);
	if (r == 0 && (r = store_api_defs_get(t, &api, &na)) == -ENOENT)
		r = 0;
	if (r == 0)
		r = store_defs_get(t, &files, &n);
	if (r == 0 && (r = catalog_stage(cat, files, n, api, na, &diags)) == 0) {
		catalog_commit(cat);
		cur = catalog_defs(cat);
	} else if (r == -ENOENT)
		r = 0;      /* nothing applied yet: everything is new */
	defs_files_free(files, n);
	diag_list_clear(&diags);
	if (r < 0) {
		fprintf(stderr, "%s: cannot read the applied definitions from %s: %s\n", prog, a->state, strerror(-r));
		defs_files_free(api, na);
		store_abort(t);
		catalog_free(cat);
		store_close(s);
		return EXIT_UNAVAILABLE;
	}
	r = defs_read_dir(a->conf, &conf_files, &nc, &diags);
	if (r == 0 && (r = catalog_stage(cat, conf_files, nc, api, na, &diags)) == 0)
		next = catalog_pending(cat);
	put_diags(stdout, &diags);
	diag_list_clear(&diags);
	defs_files_free(conf_files, nc);
	defs_files_free(api, na);
	int rc = 0;
	if (r < 0) {
		printf("invalid: a reload now would be refused and the current definitions kept\n");
		rc = EXIT_PROBLEM;
		goto out;
	}
	size_t changes = 0;
	for (size_t i = 0; i < next->n_orders; i++) {
		const standing_order *so = &next->orders[i];
		const standing_order *old = cur ? defs_find_order(cur, so->id) : NULL;
		sched_state st = { .watermark = INT64_MIN };
		if (store_sched_get(t, so->id, &st) < 0)
			st.watermark = INT64_MIN;
		char nb[512], ob[512];
		next_three(so, st.watermark, nb, sizeof(nb));
		if (!old) {
			printf("added    %s: next %s\n", so->id, nb);
			changes++;
		} else if (old->hash != so->hash) {
			next_three(old, st.watermark, ob, sizeof(ob));
			printf("changed  %s:\n  old next %s\n  new next %s\n", so->id, ob, nb);
			changes++;
		}
	}
	for (size_t i = 0; cur && i < cur->n_orders; i++)
		if (!defs_find_order(next, cur->orders[i].id)) {
			printf("removed  %s: will be deactivated (its orders are kept)\n", cur->orders[i].id);
			changes++;
		}
	if (!changes)
		printf("no changes\n");
out:
	store_abort(t);
	catalog_free(cat);   /* drops the staged set too */
	store_close(s);
	return rc;
}

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
	fprintf(stderr, "%s: cannot connect to %s: %s\n", prog, e ? e : "?",
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
		fprintf(stderr, "%s: %s: %s\n", prog, method, strerror(-r));
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
		put_json(stdout, v, JSON_PRESERVE_ORDER | JSON_COMPACT);
}

static const char *js(json_t *o, const char *k) {
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

static void lines_text(json_t *lines, char *buf, size_t size) {
	size_t len = 0, i;
	json_t *l;
	buf[0] = 0;
	json_array_foreach(lines, i, l) {
		if (len >= size)
			break;
		len += snprintf(buf + len, size - len, "%s%lld x %s", i ? ", " : "",
				(long long) json_integer_value(json_object_get(l, "quantity")), js(l, "sku"));
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
		fprintf(stderr, "%s: io.standingd.Now: no instant in the reply\n", prog);
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

/* One RFC 5545 TEXT property, escaped and folded (text.h). */
static void ics_text(FILE *f, const char *name, const char *value) {
	char *line = text_ics_property(name, value);
	if (line)
		fputs(line, f);
	free(line);
}

/* 2027-02-01T04:00:00Z -> 20270201T040000Z */
static void ics_stamp(const char *iso, char *out, size_t size) {
	size_t n = 0;
	for (const char *p = iso; *p && n + 1 < size; p++)
		if (*p != '-' && *p != ':')
			out[n++] = *p;
	out[n] = 0;
}

static void write_ics(FILE *f, json_t *items) {
	char stamp[32], now_iso[CAL_ISO_MAX];
	ics_stamp(cal_format_utc((int64_t) time(NULL), now_iso), stamp, sizeof(stamp));
	fputs("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//standingd//standingctl " STANDINGD_VERSION "//EN\r\n"
	      "CALSCALE:GREGORIAN\r\nMETHOD:PUBLISH\r\n", f);
	size_t i;
	json_t *s;
	json_array_foreach(items, i, s) {
		char start[32], uid[256], lines[1024], summary[1200], where[1024], desc[1024];
		ics_stamp(js(s, "delivery_utc"), start, sizeof(start));
		/* stable: the order number once created, else the occurrence itself */
		if (*js(s, "order"))
			snprintf(uid, sizeof(uid), "%s@standingd", js(s, "order"));
		else
			snprintf(uid, sizeof(uid), "%s-%s@standingd", js(s, "standing_order"), start);
		lines_text(json_object_get(s, "lines"), lines, sizeof(lines));
		snprintf(summary, sizeof(summary), "Deliver to %s: %s", js(s, "customer_name"), lines);
		json_t *a = json_object_get(s, "ship_to");
		snprintf(where, sizeof(where), "%s, %s, %s %s, %s", js(a, "name"), js(a, "street"), js(a, "postcode"),
			 js(a, "city"), js(a, "country"));
		snprintf(desc, sizeof(desc), "Status: %s\nOrder: %s\nStanding order: %s\nDelivery: %s",
			 js(s, "status"), *js(s, "order") ? js(s, "order") : "(not yet created)",
			 js(s, "standing_order"), js(s, "delivery"));
		fputs("BEGIN:VEVENT\r\n", f);
		ics_text(f, "UID", uid);
		fprintf(f, "DTSTAMP:%s\r\nDTSTART:%s\r\nDURATION:PT1H\r\n", stamp, start);
		ics_text(f, "SUMMARY", summary);
		ics_text(f, "LOCATION", where);
		ics_text(f, "DESCRIPTION", desc);
		fprintf(f, "STATUS:%s\r\n", !strcmp(js(s, "status"), "projected") ? "TENTATIVE" : "CONFIRMED");
		fputs("END:VEVENT\r\n", f);
	}
	fputs("END:VCALENDAR\r\n", f);
}

/* --from/--to of a window over the socket: a date or an instant, else exit 2. */
static int check_bound(const char *opt, const char *s) {
	int64_t v;
	if (!s || cal_parse_date(s, &v) == 0 || cal_parse_instant(s, &v) == 0)
		return 0;
	char *e = text_escape_terminal(s);
	fprintf(stderr, "%s: %s %s: not a date (expected YYYY-MM-DD, or an instant like 2027-01-01T00:00:00Z)\n",
		prog, opt, e ? e : "?");
	free(e);
	return EXIT_USAGE;
}

/* Without --from, the window begins today by the daemon's clock; without --to, it
 * ends 14 days after --from (after today when --from is an instant). */
static int cmd_upcoming(args *a) {
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
		return usage_error("%s: choose one of --json and --ics", "upcoming");
	/* --ics alone writes to standard output; --ics FILE and --ics=FILE to FILE */
	const char *ics_path = a->ics && *a->ics ? a->ics : a->operand ? a->operand : "-";
	if (a->operand && !(a->ics && !*a->ics))
		return usage_error("unexpected argument '%s'", a->operand);
	json_t *p = json_pack("{s:s, s:s}", "from", from, "to", to), *items;
	if (a->supplier)
		json_object_set_new(p, "supplier", json_string(a->supplier));
	r = call(a, "io.standingd.Supplier.ListUpcoming", p, "shipments", true, &items);
	if (r)
		return r;
	if (a->ics) {
		FILE *f = strcmp(ics_path, "-") ? fopen(ics_path, "w") : stdout;
		if (!f) {
			fprintf(stderr, "%s: cannot write %s: %s\n", prog, ics_path, strerror(errno));
			json_decref(items);
			return EXIT_UNAVAILABLE;
		}
		write_ics(f, items);
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
			lines_text(json_object_get(s, "lines"), lines, sizeof(lines));
			snprintf(where, sizeof(where), "%s", js(json_object_get(s, "ship_to"), "city"));
			const char *row[] = { js(s, "delivery"), js(s, "status"), *js(s, "order") ? js(s, "order") : "-",
					      *js(s, "standing_order") ? js(s, "standing_order") : "-", js(s, "customer_name"),
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
	if (!json_is_object(m) || !*js(m, "amount"))
		snprintf(buf, size, "-");
	else
		snprintf(buf, size, "%s %s", js(m, "amount"), js(m, "currency"));
}

/* What a prepaid order still awaits; "-" when nothing (null, or zero). */
static void due_text(json_t *o, char *buf, size_t size) {
	json_t *m = json_object_get(o, "amount_due");
	const char *amt = js(m, "amount");
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
	json_t *o;
	json_array_foreach(items, i, o) {
		char total[64], due[64];
		money_text(json_object_get(o, "total"), total, sizeof(total));
		due_text(o, due, sizeof(due));
		const char *row[] = { js(o, "order"), *js(o, "standing_order") ? js(o, "standing_order") : "-",
				      js(o, "customer"), js(o, "delivery"), js(o, "status"), total, due,
				      *js(o, "tracking") ? js(o, "tracking") : "" };
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
	if (!strcmp(js(o, "status"), "awaiting_payment") && *js(o, "payment_reference")) {
		char due[64], line[512];
		due_text(o, due, sizeof(due));
		snprintf(line, sizeof(line), "awaiting payment of %s with reference %s", due, js(o, "payment_reference"));
		put_line(stdout, line);
	}
	json_t *hist = either(o, "transitions", "history");
	if (!json_array_size(hist))
		return;
	static const char *const head[] = { "AT (UTC)", "BY", "STATUS", "REASON" };
	table *t = table_new(4, head);
	size_t i;
	json_t *h;
	json_array_foreach(hist, i, h) {
		const char *row[] = { js(h, "at"), *js(h, "by") ? js(h, "by") : "-", js(h, "status"), js(h, "reason") };
		table_row(t, row);
	}
	putchar('\n');
	table_print(t, stdout);
	table_free(t);
}

static int cmd_orders_socket(args *a) {
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
	put_json(stdout, o, JSON_PRESERVE_ORDER | (a->json ? JSON_COMPACT : JSON_INDENT(2)));
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
	json_t *o;
	int r = call(a, method, p, "order", false, &o);
	return r ? r : show_order(a, o);
}

static int cmd_order(args *a) {
	if (!a->operand)
		return usage_error("%s: which order? standingctl order NUMBER", "order");
	return one_order(a, "io.standingd.Orders.GetOrder", json_pack("{s:s}", "order", a->operand));
}

static int cmd_ship(args *a) {
	if (!a->operand)
		return usage_error("%s: which order? standingctl ship NUMBER --carrier NAME --tracking CODE", "ship");
	if (!a->carrier || !a->tracking)
		return usage_error("%s: --carrier and --tracking are required", "ship");
	return one_order(a, "io.standingd.Supplier.MarkShipped",
			 json_pack("{s:s, s:s, s:s}", "order", a->operand, "carrier", a->carrier, "tracking", a->tracking));
}

static int cmd_status(args *a) {
	json_t *o;
	int r = call(a, "io.standingd.Ops.Status", json_object(), NULL, false, &o);
	if (r)
		return r;
	if (a->json)
		print_object(a, o);
	else {
		const char *k;
		json_t *v;
		json_object_foreach(o, k, v) {
			char *t = json_is_string(v) ? NULL : json_dumps(v, JSON_ENCODE_ANY), line[512];
			snprintf(line, sizeof(line), "%-20s %s", k, t ? t : json_string_value(v));
			put_line(stdout, line);
			free(t);
		}
	}
	json_decref(o);
	return 0;
}

static int cmd_reload(args *a) {
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
		fprintf(stderr, "%s: reload: %s\n", prog, strerror(-r));
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

static int cmd_standing_orders(args *a) {
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
			const char *row[] = { js(s, "id"), js(s, "customer"), js(s, "supplier"),
					      *js(s, "next_delivery") ? js(s, "next_delivery") :
					      json_is_true(json_object_get(s, "paused")) ? "-" : "(ended)", created,
					      json_is_true(json_object_get(s, "paused")) ? "paused" : "active", js(s, "source") };
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
	put_line(stderr, line);
}

/* Reads FILE (YAML or JSON) into PlaceOrder's parameters. 0, or an exit code after
 * saying why at FILE:LINE:COL. */
static int read_order_file(const char *file, ytree **ret_tree, json_t **ret) {
	FILE *f = strcmp(file, "-") ? fopen(file, "r") : stdin;
	if (!f) {
		fprintf(stderr, "%s: cannot read %s: %s\n", prog, file, strerror(errno));
		return EXIT_UNAVAILABLE;
	}
	char *data = malloc(ORDER_FILE_MAX + 1);
	size_t len = data ? fread(data, 1, ORDER_FILE_MAX + 1, f) : 0;
	bool err = ferror(f);
	if (f != stdin)
		fclose(f);
	if (!data || err) {
		fprintf(stderr, "%s: cannot read %s: %s\n", prog, file, data ? strerror(EIO) : strerror(ENOMEM));
		free(data);
		return EXIT_UNAVAILABLE;
	}
	if (len > ORDER_FILE_MAX) {
		fprintf(stderr, "%s: %s: larger than %u bytes\n", prog, file, ORDER_FILE_MAX);
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
		fprintf(stderr, "%s: %s: %s\n", prog, file, strerror(-r));
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
		fprintf(stderr, "%s: out of memory\n", prog);
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

static int cmd_place_order(args *a) {
	if (!a->operand)
		return usage_error("%s: which file? standingctl place-order FILE (YAML or JSON, - for standard input)",
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
			where(a->operand, node_at(ytree_root(t), js(fe, "field")), at, sizeof(at));
			snprintf(line, sizeof(line), "%s%s: %s", at, js(fe, "field"), js(fe, "message"));
			put_line(stderr, line);
		}
		char *e = text_escape_terminal(a->operand);
		fprintf(stderr, "%s: %s: the daemon refused the order\n", prog, e ? e : "?");
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
		fprintf(stderr, "%s: %s: which order? standingctl %s\nTry 'standingctl --help'.\n", prog, cmd, synopsis);
		return EXIT_USAGE;
	}
	return 0;
}

static int cmd_cancel(args *a) {
	int r = need_order(a, "cancel", "cancel ORDER [--reason TEXT]");
	if (r)
		return r;
	json_t *p = json_pack("{s:s, s:s}", "order", a->operand, "reason", a->reason ? a->reason : "cancelled with standingctl");
	add_idem(a, p);
	return one_order(a, "io.standingd.Orders.CancelOrder", p);
}

static int cmd_hold(args *a) {
	int r = need_order(a, "hold", "hold ORDER [--reason TEXT]");
	if (r)
		return r;
	json_t *p = json_pack("{s:s}", "order", a->operand);
	if (a->reason)
		json_object_set_new(p, "reason", json_string(a->reason));
	add_idem(a, p);
	return one_order(a, "io.standingd.Orders.HoldOrder", p);
}

static int cmd_release(args *a) {
	int r = need_order(a, "release", "release ORDER");
	if (r)
		return r;
	if (a->reason)
		return usage_error("%s: --reason is for cancel and hold", "release");
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
			prog, cmd, !strcmp(key, "order") ? "ORDER" : "CUSTOMER");
		return NULL;
	}
	money m;
	const char *why = NULL;
	if (money_parse(amount, &m, &why) < 0) {
		char *e = text_escape_terminal(amount);
		fprintf(stderr, "%s: %s: AMOUNT %s: %s (like \"850.00 EUR\")\nTry 'standingctl --help'.\n", prog, cmd,
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

static int cmd_pay(args *a) {
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
		const char *row[] = { seq, js(e, "at"), js(e, "kind"), *js(e, "order") ? js(e, "order") : "-",
				      *js(e, "reference") ? js(e, "reference") : "-", amount, balance };
		table_row(t, row);
	}
	table_print(t, stdout);
	table_free(t);
}

static void print_account(json_t *acc) {
	char line[1024], m[64];
	size_t i;
	json_t *v;
	snprintf(line, sizeof(line), "customer      %s", js(acc, "customer"));
	put_line(stdout, line);
	const char *number = json_string_value(either(acc, "number", "account"));
	snprintf(line, sizeof(line), "account       %s", number ? number : "(none)");
	put_line(stdout, line);
	money_text(json_object_get(acc, "credit_limit"), m, sizeof(m));
	snprintf(line, sizeof(line), "credit limit  %s", strcmp(m, "-") ? m : "(none)");
	put_line(stdout, line);
	json_t *bal = json_object_get(acc, "balances");
	if (!json_array_size(bal))
		put_line(stdout, "balance       0");
	json_array_foreach(bal, i, v) {
		money_text(v, m, sizeof(m));
		snprintf(line, sizeof(line), "balance       %s", m);
		put_line(stdout, line);
	}
	/* the open orders' numbers (an Order in the IDL's first draft) */
	size_t len = (size_t) snprintf(line, sizeof(line), "open orders   ");
	json_t *open = json_object_get(acc, "open_orders");
	json_array_foreach(open, i, v) {
		if (len < sizeof(line))
			len += (size_t) snprintf(line + len, sizeof(line) - len, "%s%s", i ? ", " : "",
						  json_is_string(v) ? json_string_value(v) : js(v, "order"));
		if (json_is_object(v) && len < sizeof(line))
			len += (size_t) snprintf(line + len, sizeof(line) - len, " (%s)", js(v, "status"));
	}
	if (!json_array_size(open))
		snprintf(line + len, sizeof(line) - len, "none");
	put_line(stdout, line);
	json_t *entries = json_object_get(acc, "entries");
	if (json_array_size(entries)) {
		putchar('\n');
		print_entries(entries);
	}
}

static int cmd_pay_account(args *a) {
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

static int cmd_account(args *a) {
	if (!a->operand)
		return usage_error("%s: which customer? standingctl account CUSTOMER", "account");
	json_t *acc;
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

static int cmd_ledger(args *a) {
	if (!a->operand)
		return usage_error("%s: which customer? standingctl ledger CUSTOMER [--from D] [--to D]", "ledger");
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

int main(int argc, char **argv) {
	static const struct {
		const char *name;
		int (*fn)(args *a);
		int max_ops;     /* operands it takes (the command checks which it needs) */
	} cmds[] = {
		{ "forecast", cmd_forecast, 0 },
		{ "check", cmd_check, 0 },
		{ "orders", cmd_orders, 0 },
		{ "verify", cmd_verify, 0 },
		{ "diff", cmd_diff, 0 },
		{ "upcoming", cmd_upcoming, 1 },
		{ "order", cmd_order, 1 },
		{ "ship", cmd_ship, 1 },
		{ "status", cmd_status, 0 },
		{ "reload", cmd_reload, 0 },
		{ "standing-orders", cmd_standing_orders, 0 },
		{ "place-order", cmd_place_order, 1 },
		{ "cancel", cmd_cancel, 1 },
		{ "pay", cmd_pay, 4 },        /* ORDER AMOUNT REFERENCE, AMOUNT may come as two words */
		{ "pay-account", cmd_pay_account, 4 },
		{ "hold", cmd_hold, 1 },
		{ "release", cmd_release, 1 },
		{ "account", cmd_account, 1 },
		{ "ledger", cmd_ledger, 1 },
	};
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("standingctl %s\n", STANDINGD_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name)) {
			args a = { 0 };
			int r = parse_args(argc - 1, argv + 1, &a);
			if (r)
				return r;
			if (a.n_ops > cmds[i].max_ops)
				return usage_error("unexpected argument '%s'", a.ops[cmds[i].max_ops]);
			return cmds[i].fn(&a);
		}
	return usage_error("unknown command '%s'", argv[1]);
}
