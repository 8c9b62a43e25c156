/* standingctl: the command-line client. Offline subcommands read the definitions
 * (forecast, check) or the LMDB store (orders, verify, diff) directly; the others
 * talk to standingd over its Varlink socket.
 * Exit codes: 0 success, 1 the command ran and found a problem (invalid
 * definitions, store violations, a refused request), 2 usage error, 3 could not
 * reach or open what it needed (socket, store, files). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "config.h"
#include "lib/base/text.h"
#include "daemon/standingctl/ctl.h"

const char *ctl_prog = "standingctl";

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
		"  status            counts, next due order, the outbox: events pending, parked\n"
		"                    and the oldest pending one's age in seconds\n"
		"  outbox [--parked] [--retry ID | --retry-all] [--json]\n"
		"                    events waiting for the notify command (--parked: given\n"
		"                    up on); --retry makes parked ones pending again\n"
		"  reload            reload the definitions (all or nothing)\n"
		"  standing-orders   standing orders with their next delivery\n"
		"\n"
		"The CRM (salespeople, ops; over the socket):\n"
		"  customers         every customer, its salesperson and where it is defined\n"
		"  customer ID       a customer's profile: contacts, standing orders with their\n"
		"                    next delivery, open orders, open tasks, last interactions\n"
		"  log CUSTOMER KIND SUMMARY [--contact NAME]\n"
		"                    log a visit, call, email, meeting or note (you are its author)\n"
		"  history CUSTOMER [--from D] [--to D]\n"
		"                    the customer's interactions, oldest first\n"
		"  tasks [--mine] [--all]\n"
		"                    open tasks by due (--mine: your own, as a salesperson;\n"
		"                    --all: done and cancelled ones too)\n"
		"  done TASK [NOTE]  mark a task done (the note is logged)\n"
		"  snooze TASK UNTIL move an open task's due to UTC instant UNTIL\n"
		"                    (2027-01-05T08:00:00Z); it alerts again then\n"
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
       OPT_ICS, OPT_CARRIER, OPT_TRACKING, OPT_REASON, OPT_IDEM, OPT_PARKED, OPT_RETRY, OPT_RETRY_ALL,
       OPT_CONTACT, OPT_MINE, OPT_ALL };

int ctl_usage_error(const char *fmt, const char *arg) {
	fprintf(stderr, "%s: ", ctl_prog);
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
		{ "parked", no_argument, NULL, OPT_PARKED },
		{ "retry", required_argument, NULL, OPT_RETRY },
		{ "retry-all", no_argument, NULL, OPT_RETRY_ALL },
		{ "contact", required_argument, NULL, OPT_CONTACT },
		{ "mine", no_argument, NULL, OPT_MINE },
		{ "all", no_argument, NULL, OPT_ALL },
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
		case OPT_PARKED: a->parked = 1; break;
		case OPT_RETRY: a->retry = optarg; break;
		case OPT_RETRY_ALL: a->retry_all = 1; break;
		case OPT_CONTACT: a->contact = optarg; break;
		case OPT_MINE: a->mine = 1; break;
		case OPT_ALL: a->all = 1; break;
		case 'h': usage(stdout); exit(0);
		case ':': return ctl_usage_error("option %s needs a value", argv[optind - 1]);
		default: return ctl_usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	while (optind < argc && a->n_ops < MAX_OPERANDS)
		a->ops[a->n_ops++] = argv[optind++];
	a->operand = a->ops[0];
	if (optind < argc)
		return ctl_usage_error("unexpected argument '%s'", argv[optind]);
	return 0;
}

/* One line of text from a definition, the store or the daemon, with control
 * characters escaped ("\x1b"): what reached old state must not steer a terminal. */
void ctl_put_line(FILE *f, const char *s) {
	char *e = text_escape_terminal(s ? s : "");
	fprintf(f, "%s\n", e ? e : "?");
	free(e);
}

/* JSON as jansson wrote it (C0 escaped), with DEL and C1 escaped too. */
void ctl_put_json(FILE *f, json_t *v, size_t flags) {
	char *t = json_dumps(v, flags);
	char *e = t ? text_escape_json(t) : NULL;
	fprintf(f, "%s\n", e ? e : "null");
	free(e);
	free(t);
}

int main(int argc, char **argv) {
	static const struct {
		const char *name;
		int (*fn)(args *a);
		int max_ops;     /* operands it takes (the command checks which it needs) */
	} cmds[] = {
		{ "forecast", ctl_cmd_forecast, 0 },
		{ "check", ctl_cmd_check, 0 },
		{ "orders", ctl_cmd_orders, 0 },
		{ "verify", ctl_cmd_verify, 0 },
		{ "diff", ctl_cmd_diff, 0 },
		{ "upcoming", ctl_cmd_upcoming, 1 },
		{ "order", ctl_cmd_order, 1 },
		{ "ship", ctl_cmd_ship, 1 },
		{ "status", ctl_cmd_status, 0 },
		{ "reload", ctl_cmd_reload, 0 },
		{ "standing-orders", ctl_cmd_standing_orders, 0 },
		{ "place-order", ctl_cmd_place_order, 1 },
		{ "cancel", ctl_cmd_cancel, 1 },
		{ "pay", ctl_cmd_pay, 4 },        /* ORDER AMOUNT REFERENCE, AMOUNT may come as two words */
		{ "pay-account", ctl_cmd_pay_account, 4 },
		{ "hold", ctl_cmd_hold, 1 },
		{ "release", ctl_cmd_release, 1 },
		{ "account", ctl_cmd_account, 1 },
		{ "ledger", ctl_cmd_ledger, 1 },
		{ "outbox", ctl_cmd_outbox, 0 },
		{ "customers", ctl_cmd_customers, 0 },
		{ "customer", ctl_cmd_customer, 1 },
		{ "log", ctl_cmd_log, 3 },
		{ "history", ctl_cmd_history, 1 },
		{ "tasks", ctl_cmd_tasks, 0 },
		{ "done", ctl_cmd_done, 2 },
		{ "snooze", ctl_cmd_snooze, 2 },
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
				return ctl_usage_error("unexpected argument '%s'", a.ops[cmds[i].max_ops]);
			return cmds[i].fn(&a);
		}
	return ctl_usage_error("unknown command '%s'", argv[1]);
}
