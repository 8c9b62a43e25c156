/* standingctl's offline commands: forecast and check read the definitions; orders
 * (--state), verify and diff read the LMDB store directly. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "lib/time/cal.h"
#include "lib/mail/mail.h"
#include "lib/sched/catalog.h"
#include "lib/sched/forecast.h"
#include "daemon/common/storefault.h"
#include "daemon/standingctl/table.h"
#include "daemon/standingctl/ctl.h"

static void put_diags(FILE *f, const diag_list *diags) {
	for (size_t i = 0; i < diags->n; i++) {
		char *m = diag_format(&diags->v[i]);
		ctl_put_line(f, m ? m : diags->v[i].msg);
		free(m);
	}
}

/* Loads the definitions as standingd does (catalog_load_dir) and prints every
 * error as FILE:LINE:COL: message. *ret_defs is the catalog's. */
static int load_defs(const char *conf, catalog **ret, const defs **ret_defs, FILE *errf) {
	diag_list diags = { 0 };
	int r = catalog_load_dir(conf, NULL, ret, &diags);
	put_diags(errf, &diags);
	diag_list_clear(&diags);
	if (r == 0)
		*ret_defs = catalog_defs(*ret);
	return r;
}

static int parse_day(const char *opt, const char *s, int64_t *ret) {
	if (!s) {
		fprintf(stderr, "%s: %s is required\nTry 'standingctl --help'.\n", ctl_prog, opt);
		return EXIT_USAGE;
	}
	if (cal_parse_date(s, ret) < 0) {
		fprintf(stderr, "%s: %s: expected a date YYYY-MM-DD, got \"%s\"\n", ctl_prog, opt, s);
		return EXIT_USAGE;
	}
	return 0;
}

static void lines_summary(const standing_order *so, char *buf, size_t size) {
	size_t len = 0;
	buf[0] = 0;
	for (size_t i = 0; i < so->bulk->n_lines && len < size; i++)
		len += snprintf(buf + len, size - len, "%s%lld x %s", i ? ", " : "",
				(long long) so->bulk->lines[i].quantity, so->bulk->lines[i].sku);
}

static void print_json_line(json_t *o) {
	char *s = json_dumps(o, JSON_PRESERVE_ORDER);
	puts(s);
	free(s);
	json_decref(o);
}

int ctl_cmd_forecast(args *a) {
	int64_t from, to;
	int r;
	if (!a->conf)
		return ctl_usage_error("%s is required", "--conf");
	if ((r = parse_day("--from", a->from, &from)) || (r = parse_day("--to", a->to, &to)))
		return r;
	if (to <= from) {
		fprintf(stderr, "%s: --to %s is not after --from %s\n", ctl_prog, a->to, a->from);
		return EXIT_USAGE;
	}
	catalog *cat = NULL;
	const defs *d = NULL;
	r = load_defs(a->conf, &cat, &d, stderr);
	if (r == -EINVAL)
		return EXIT_PROBLEM;
	if (r < 0)
		return EXIT_UNAVAILABLE;
	forecast f = { 0 };
	if (forecast_collect(d, from, to, &f) < 0) {
		fprintf(stderr, "%s: out of memory\n", ctl_prog);
		catalog_free(cat);
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
				"lines", order_lines_view(so->bulk->lines, so->bulk->n_lines)));
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
	catalog_free(cat);
	return 0;
}

int ctl_cmd_check(args *a) {
	if (!a->conf)
		return ctl_usage_error("%s is required", "--conf");
	catalog *cat = NULL;
	const defs *d = NULL;
	int r = load_defs(a->conf, &cat, &d, stdout);
	/* the mail templates too, when there are any (standingd-mail reads them) */
	diag_list errs = { 0 }, warns = { 0 };
	int rt = r == -EINVAL || r >= 0 ? mail_templates_check(a->conf, &errs, &warns) : 0;
	for (size_t i = 0; i < errs.n + warns.n; i++) {
		diag *dg = i < errs.n ? &errs.v[i] : &warns.v[i - errs.n];
		char *s = diag_format(dg);
		printf("%s%s\n", i < errs.n ? "" : "warning: ", s ? s : dg->msg);
		free(s);
	}
	diag_list_clear(&errs);
	diag_list_clear(&warns);
	if (r == 0 && rt == 0)
		printf("OK: %zu customers, %zu standing orders\n", d->n_customers, d->n_orders);
	catalog_free(cat);
	if (r == -EINVAL || rt == -EINVAL)
		return EXIT_PROBLEM;
	return r < 0 || rt < 0 ? EXIT_UNAVAILABLE : 0;
}

static int open_store(const char *state, store **ret) {
	if (!state) {
		ctl_usage_error("%s is required", "--state");
		return EXIT_USAGE;
	}
	diag_list diags = { 0 };
	store_options opts = { .flags = STORE_READONLY, .on_damage = storefault_lmdb, .diags = &diags };
	storefault_install(ctl_prog, state);
	int r = store_open(state, &opts, ret);
	if (r == -EUCLEAN || r == -EBADMSG) {
		/* damage is a problem found, not an unavailable store */
		fprintf(stderr, "%s: the store in %s is damaged: %s%s%s\n", ctl_prog, state,
			diags.n ? diags.v[0].file : "", diags.n ? " " : "", diags.n ? diags.v[0].msg : strerror(-r));
		diag_list_clear(&diags);
		return EXIT_PROBLEM;
	}
	diag_list_clear(&diags);
	if (r < 0) {
		fprintf(stderr, "%s: cannot open the store in %s: %s\n", ctl_prog, state,
			r == -ENOENT ? "no store there (has standingd run with this --state?)" :
			r == -EPROTO ? "written by a newer standingd" : strerror(-r));
		return EXIT_UNAVAILABLE;
	}
	return 0;
}

/* A read that failed: damage is exit 1 (a problem found), anything else 3. */
static int store_read_failed(const char *state, const char *what, int r) {
	if (r == -EBADMSG) {
		fprintf(stderr, "%s: %s failed: the store in %s is damaged (%s)\n", ctl_prog, what, state, strerror(-r));
		return EXIT_PROBLEM;
	}
	fprintf(stderr, "%s: %s failed: %s\n", ctl_prog, what, strerror(-r));
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
		ctl_put_json(stdout, j, JSON_PRESERVE_ORDER | JSON_COMPACT);
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


int ctl_cmd_orders(args *a) {
	if (!a->state)
		return ctl_cmd_orders_socket(a);
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

int ctl_cmd_verify(args *a) {
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
		fprintf(stderr, "%s: verify failed: %s\n", ctl_prog, strerror(-r));
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
	if (after == INT64_MIN && so->rule.kind == RULE_CRON && so->rule.start_day == RULE_NO_DAY)
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

int ctl_cmd_diff(args *a) {
	if (!a->conf)
		return ctl_usage_error("%s is required", "--conf");
	store *s;
	int r = open_store(a->state, &s);
	if (r)
		return r;
	/* the daemon's catalog: the applied set running, the config dir's staged on it */
	const defs *cur = NULL, *next = NULL;
	catalog *cat = NULL;
	defs_file *api = NULL, *conf_files = NULL;
	size_t na = 0, nc = 0;
	store_txn *t = NULL;
	diag_list diags = { 0 };
	/* standing orders placed through the API take part in both sets */
	r = catalog_new(NULL, &cat);
	if (r == 0)
		r = store_begin(s, false, &t);
	if (r == 0 && (r = store_api_defs_get(t, &api, &na)) == -ENOENT)
		r = 0;
	/* the orders files stored compiled are unpacked from their records */
	if (r == 0 && (r = catalog_stage_stored(cat, t, api, na, &diags)) == 0) {
		catalog_commit(cat);
		cur = catalog_defs(cat);
	} else if (r == -ENOENT)
		r = 0;      /* nothing applied yet: everything is new */
	diag_list_clear(&diags);
	if (r < 0) {
		fprintf(stderr, "%s: cannot read the applied definitions from %s: %s\n", ctl_prog, a->state, strerror(-r));
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
