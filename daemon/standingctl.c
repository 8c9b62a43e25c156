/* standingctl: the command-line client. Offline subcommands read the definitions
 * (forecast, check) or the LMDB store (orders, verify, diff) directly; the others
 * talk to standingd over its Varlink socket.
 * Exit codes: 0 success, 1 the command ran and found a problem (invalid
 * definitions, store violations, a refused request), 2 usage error, 3 could not
 * reach or open what it needed (socket, store, files). */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cal.h"
#include "config.h"
#include "defs.h"
#include "forecast.h"
#include "store.h"
#include "table.h"

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
		"Options:\n"
		"  --conf DIR        configuration directory (standingd.yaml, orders.d/)\n"
		"  --state DIR       the daemon's state directory (LMDB)\n"
		"  --json            one JSON object per line instead of a table\n"
		"  -h, --help        this help\n"
		"\n"
		"Exit status: 0 success, 1 problem found, 2 usage error, 3 unavailable.\n");
}

enum { OPT_CONF = 256, OPT_FROM, OPT_TO, OPT_JSON, OPT_STATE, OPT_SO };

typedef struct args {
	const char *conf, *from, *to, *state, *so;
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
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_CONF: a->conf = optarg; break;
		case OPT_FROM: a->from = optarg; break;
		case OPT_TO: a->to = optarg; break;
		case OPT_JSON: a->json = 1; break;
		case OPT_STATE: a->state = optarg; break;
		case OPT_SO: a->so = optarg; break;
		case 'h': usage(stdout); exit(0);
		case ':': return usage_error("option %s needs a value", argv[optind - 1]);
		default: return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	return 0;
}

/* Loads the definitions and prints every error as FILE:LINE:COL: message. */
static int load_defs(const char *conf, defs **ret, FILE *errf) {
	diag_list diags = { 0 };
	int r = defs_load(conf, NULL, ret, &diags);
	for (size_t i = 0; i < diags.n; i++) {
		char *s = diag_format(&diags.v[i]);
		fprintf(errf, "%s\n", s);
		free(s);
	}
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

static json_t *lines_json(const order_line *lines, size_t n) {
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++) {
		char amount[32];
		money_format_amount(&lines[i].unit_price, amount, sizeof(amount));
		json_array_append_new(a, json_pack("{s:s, s:I, s:s, s:s}",
			"sku", lines[i].sku, "quantity", (json_int_t) lines[i].quantity,
			"unit_price", amount, "currency", lines[i].unit_price.currency));
	}
	return a;
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
				"lines", lines_json(so->lines, so->n_lines)));
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
	int r = store_open(state, STORE_READONLY, ret);
	if (r < 0) {
		fprintf(stderr, "%s: cannot open the store in %s: %s\n", prog, state,
			r == -ENOENT ? "no store there (has standingd run with this --state?)" :
			r == -EPROTO ? "written by a newer standingd" : strerror(-r));
		return EXIT_UNAVAILABLE;
	}
	return 0;
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
		json_t *j = json_pack("{s:s, s:o, s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:{s:s, s:s}, s:o}",
			"order", o->number,
			"standing_order", o->standing_order ? json_string(o->standing_order) : json_null(),
			"customer", o->customer, "supplier", o->supplier,
			"delivery", delivery, "created", created, "late", o->late,
			"status", order_status_name(o->status),
			"payment", o->payment == PAYMENT_PREPAID ? "prepaid" : "account",
			"total", "amount", total, "currency", o->total.currency,
			"lines", lines_json(o->lines, o->n_lines));
		print_json_line(j);
	} else {
		char tot[64];
		snprintf(tot, sizeof(tot), "%s %s", total, o->total.currency);
		const char *row[] = { o->number, o->standing_order ? o->standing_order : "-", o->customer,
				      delivery, created, order_status_name(o->status), o->late ? "late" : "", tot };
		table_row(ctx->t, row);
	}
	return 0;
}

static int cmd_orders(args *a) {
	store *s;
	int r = open_store(a->state, &s);
	if (r)
		return r;
	store_txn *t;
	static const char *const head[] = { "ORDER", "STANDING ORDER", "CUSTOMER", "DELIVERY",
					     "CREATED (UTC)", "STATUS", "LATE", "TOTAL" };
	orders_ctx ctx = { .a = a, .t = a->json ? NULL : table_new(8, head) };
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
	if (r < 0) {
		fprintf(stderr, "%s: reading the store failed: %s\n", prog, strerror(-r));
		return EXIT_UNAVAILABLE;
	}
	return 0;
}

static int cmd_verify(args *a) {
	store *s;
	int r = open_store(a->state, &s);
	if (r)
		return r;
	diag_list diags = { 0 };
	r = store_verify(s, &diags);
	for (size_t i = 0; i < diags.n; i++) {
		char *m = diag_format(&diags.v[i]);
		printf("%s\n", m);
		free(m);
	}
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
	defs *cur = NULL, *next = NULL;
	defs_file *files = NULL;
	size_t n = 0;
	store_txn *t = NULL;
	diag_list diags = { 0 };
	r = store_begin(s, false, &t);
	if (r == 0)
		r = store_defs_get(t, &files, &n);
	if (r == 0)
		r = defs_load_files(files, n, NULL, &cur, &diags);
	else if (r == -ENOENT)
		r = 0;      /* nothing applied yet: everything is new */
	defs_files_free(files, n);
	diag_list_clear(&diags);
	if (r < 0) {
		fprintf(stderr, "%s: cannot read the applied definitions from %s: %s\n", prog, a->state, strerror(-r));
		store_abort(t);
		store_close(s);
		return EXIT_UNAVAILABLE;
	}
	r = load_defs(a->conf, &next, stdout);
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
	defs_free(cur);
	defs_free(next);
	store_close(s);
	return rc;
}

int main(int argc, char **argv) {
	static const struct {
		const char *name;
		int (*fn)(args *a);
	} cmds[] = {
		{ "forecast", cmd_forecast },
		{ "check", cmd_check },
		{ "orders", cmd_orders },
		{ "verify", cmd_verify },
		{ "diff", cmd_diff },
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
			return cmds[i].fn(&a);
		}
	return usage_error("unknown command '%s'", argv[1]);
}
