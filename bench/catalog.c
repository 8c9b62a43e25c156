/* bench_catalog: what a change to the definition set costs at scale, printed as
 * Markdown table rows ("| what | figure |"). No thresholds (shared, noisy
 * machines); the targets of issue 8 are PlaceStandingOrder under 10 ms and a
 * reload after one changed file under 200 ms at 100,000 standing orders.
 *
 * Generates FILES x PER_FILE standing orders (default 100 x 1,000; argv[1] and
 * argv[2] override) into a mkdtemp() config directory with a fresh LMDB store,
 * then times, best of a few trials, what the daemon does for each change:
 *   - before (as the daemon did up to issue 8): the whole set validated with
 *     defs_load_with_api, then applied whole (a fresh engine's engine_apply: every
 *     standing order's state read, the heap rebuilt); the store is today's, which
 *     writes only changed files;
 *   - after (the catalog): catalog_stage / catalog_stage_api_order, then
 *     engine_apply of the candidate and catalog_commit.
 * The reload includes defs_read_dir (reading every file's bytes). */
#include <errno.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench/benchutil.h"
#include "lib/base/diag.h"
#include "lib/defs/defs.h"
#include "lib/sched/catalog.h"
#include "lib/sched/engine.h"
#include "lib/store/store.h"

#define TRIALS 5
#define NOW INT64_C(1796083200)   /* 2026-12-01T00:00:00Z */

static void write_file(const char *path, const char *text) {
	FILE *f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0)
		die("cannot write %s", path);
}

/* orders.d/fNNN.yaml: 10 customers and per_file standing orders; version changes
 * one quantity, as an edit of one standing order would. */
static void write_orders_file(const char *dir, int file, int per_file, int version, bool customers) {
	size_t cap = (size_t) per_file * 400 + 4096, n = 0;
	char *s = malloc(cap);
	if (!s)
		die("out of memory");
	n += (size_t) snprintf(s + n, cap - n, "customers:%s\n", customers ? "" : " []");
	for (int c = 0; c < 10 && customers; c++)
		n += (size_t) snprintf(s + n, cap - n, "  - {id: c%03d-%d, name: Customer %d, account: {number: A-%d}}\n",
				       file, c, c, c);
	n += (size_t) snprintf(s + n, cap - n, "standing_orders:\n");
	for (int i = 0; i < per_file; i++)
		n += (size_t) snprintf(s + n, cap - n,
				       "  - id: so-%03d-%05d\n"
				       "    customer: c%03d-%d\n"
				       "    supplier: lumen\n"
				       "    ship_to: {name: Depot, street: Main 1, city: Turku, country: FI}\n"
				       "    lines: [{sku: SKU-%d, quantity: %d, unit_price: \"1.25 EUR\"}]\n"
				       "    payment: account\n"
				       "    schedule: {every: %d weeks, start: 2026-12-%02d}\n",
				       file, i, file, i % 10, i % 97, 1 + (i == 0 ? version : 0) + i % 5, 1 + i % 4,
				       1 + i % 28);
	char path[4096];
	snprintf(path, sizeof(path), "%s/orders.d/f%03d.yaml", dir, file);
	write_file(path, s);
	free(s);
}

static void row(const char *what, double ms) {
	printf("| %s | %.1f ms |\n", what, ms);
}

/* engine_apply as it was before issue 8 for every change: an engine that has no
 * set yet reads every standing order's state, walks the stored ones for removed
 * ids and builds the heap from scratch (today's first apply). */
static void fresh_engine(store *s, engine **e) {
	engine_free(*e);
	if (engine_new(s, NULL, e) < 0)
		die("engine_new");
}

static store *open_store(const char *dir) {
	store *s;
	store_options so = { .max_size = UINT64_C(4) << 30 };
	if (mkdir(dir, 0700) < 0 || store_open(dir, &so, &s) < 0)
		die("cannot open a store in %s", dir);
	return s;
}

/* The daemon's install(): the engine applies the staged candidate, then the
 * catalog commits it. */
static double apply_ms;   /* of the last apply_staged: engine_apply and commit */

static void apply_staged(catalog *c, engine *e) {
	int64_t t0 = now_ns();
	engine_sources src = { .now = NOW };
	catalog_pending_sources(c, &src);
	if (engine_apply(e, catalog_pending(c), &src) < 0)
		die("engine_apply");
	catalog_commit(c);
	apply_ms = (double) (now_ns() - t0) / 1e6;
}

int main(int argc, char **argv) {
	int n_files = argc > 1 ? atoi(argv[1]) : 100, per_file = argc > 2 ? atoi(argv[2]) : 1000;
	if (n_files < 1 || per_file < 1)
		die("usage: bench_catalog [FILES [PER_FILE]]");
	char root[] = "/tmp/bench_catalog.XXXXXX", conf[256], path[4096];
	if (!mkdtemp(root))
		die("mkdtemp: %s", strerror(errno));
	snprintf(conf, sizeof(conf), "%s/conf", root);
	snprintf(path, sizeof(path), "%s/orders.d", conf);
	if (mkdir(conf, 0700) < 0 || mkdir(path, 0700) < 0)
		die("mkdir %s: %s", path, strerror(errno));
	snprintf(path, sizeof(path), "%s/standingd.yaml", conf);
	write_file(path, "suppliers:\n  - {id: lumen, name: Lumen Oy}\n");
	for (int f = 0; f < n_files; f++)
		write_orders_file(conf, f, per_file, 0, true);
	printf("| %d standing orders in %d files | |\n", n_files * per_file, n_files);

	const char *api_json =
		"{\"standing_orders\": [{\"id\": \"api-1\", \"customer\": \"c000-1\", \"supplier\": \"lumen\", "
		"\"ship_to\": {\"name\": \"D\", \"street\": \"S 1\", \"city\": \"Oulu\", \"country\": \"FI\"}, "
		"\"lines\": [{\"sku\": \"X\", \"quantity\": 3, \"unit_price\": \"2.00 EUR\"}], \"payment\": \"prepaid\", "
		"\"schedule\": {\"every\": \"1 week\", \"start\": \"2026-12-01\"}}], \"placed_by\": \"shop:web\"}";

	/* ---- before: every change validates the whole set ---- */
	if (!getenv("BENCH_CATALOG_AFTER_ONLY")) {
		snprintf(path, sizeof(path), "%s/store-full", root);
		store *s = open_store(path);
		engine *e;
		if (engine_new(s, NULL, &e) < 0)
			die("engine_new");
		defs_file *files, *api = NULL;
		size_t n, na = 0;
		diag_list diags = { 0 };
		defs *d = NULL, *prev = NULL;
		int64_t t0 = now_ns();
		if (defs_read_dir(conf, &files, &n, &diags) < 0 || defs_load_with_api(files, n, NULL, 0, NULL, &d, &diags) < 0)
			die("the generated set does not load");
		engine_sources src = { .files = files, .n_files = n, .now = NOW };
		if (engine_apply(e, d, &src) < 0)
			die("engine_apply");
		row("before: start (read, validate, apply, store)", (double) (now_ns() - t0) / 1e6);
		double best_place = 1e18, best_reload = 1e18;
		for (int t = 0; t < TRIALS; t++) {
			/* PlaceStandingOrder (and cancel it again, untimed) */
			t0 = now_ns();
			if (defs_api_files_with(NULL, 0, "api-1", api_json, &api, &na) < 0)
				die("api files");
			prev = d;
			if (defs_load_with_api(files, n, api, na, NULL, &d, &diags) < 0)
				die("place does not load");
			src = (engine_sources) { .api = api, .n_api = na, .now = NOW };
			fresh_engine(s, &e);
			if (engine_apply(e, d, &src) < 0)
				die("engine_apply");
			double ms = (double) (now_ns() - t0) / 1e6;
			best_place = ms < best_place ? ms : best_place;
			defs_free(prev);
			prev = d;
			if (defs_load_with_api(files, n, NULL, 0, NULL, &d, &diags) < 0)
				die("cancel does not load");
			src = (engine_sources) { .api = files + n, .n_api = 0, .now = NOW };
			if (engine_apply(e, d, &src) < 0)
				die("engine_apply");
			defs_free(prev);
			defs_files_free(api, na);
			/* a reload after one file changed */
			write_orders_file(conf, t % n_files, per_file, t + 1, true);
			t0 = now_ns();
			defs_files_free(files, n);
			prev = d;
			if (defs_read_dir(conf, &files, &n, &diags) < 0 ||
			    defs_load_with_api(files, n, NULL, 0, NULL, &d, &diags) < 0)
				die("reload does not load");
			src = (engine_sources) { .files = files, .n_files = n, .now = NOW };
			fresh_engine(s, &e);
			if (engine_apply(e, d, &src) < 0)
				die("engine_apply");
			ms = (double) (now_ns() - t0) / 1e6;
			best_reload = ms < best_reload ? ms : best_reload;
			defs_free(prev);
		}
		row("before: PlaceStandingOrder (validate all, apply all)", best_place);
		row("before: reload after one changed file", best_reload);
		engine_free(e);
		defs_free(d);
		defs_files_free(files, n);
		store_close(s);
		diag_list_clear(&diags);
	}

	/* ---- after: the catalog ---- */
	{
		snprintf(path, sizeof(path), "%s/store-catalog", root);
		store *s = open_store(path);
		engine *e;
		catalog *c;
		if (engine_new(s, NULL, &e) < 0 || catalog_new(NULL, &c) < 0)
			die("engine_new");
		defs_file *files;
		size_t n;
		diag_list diags = { 0 };
		int64_t t0 = now_ns();
		if (defs_read_dir(conf, &files, &n, &diags) < 0 || catalog_stage(c, files, n, NULL, 0, &diags) < 0)
			die("the generated set does not load");
		defs_files_free(files, n);
		apply_staged(c, e);
		row("after: start (read, validate, apply, store)", (double) (now_ns() - t0) / 1e6);
		double best_place = 1e18, best_cancel = 1e18, best_reload = 1e18, best_refused = 1e18;
		double place_apply = 0, reload_apply = 0;
		for (int t = 0; t < TRIALS; t++) {
			t0 = now_ns();
			if (catalog_stage_api_order(c, "api-1", api_json, &diags) < 0)
				die("place does not load");
			apply_staged(c, e);
			double ms = (double) (now_ns() - t0) / 1e6;
			if (ms < best_place)
				best_place = ms, place_apply = apply_ms;
			t0 = now_ns();
			if (catalog_stage_api_order(c, "api-1", NULL, &diags) < 0)
				die("cancel does not load");
			apply_staged(c, e);
			ms = (double) (now_ns() - t0) / 1e6;
			best_cancel = ms < best_cancel ? ms : best_cancel;

			write_orders_file(conf, t % n_files, per_file, t + 10, true);
			t0 = now_ns();
			if (defs_read_dir(conf, &files, &n, &diags) < 0 || catalog_stage(c, files, n, NULL, 0, &diags) < 0)
				die("reload does not load");
			defs_files_free(files, n);
			apply_staged(c, e);
			ms = (double) (now_ns() - t0) / 1e6;
			if (ms < best_reload)
				best_reload = ms, reload_apply = apply_ms;

			/* a PlaceStandingOrder that is refused (unknown customer): its
			 * errors told from the indexes (defs_unit_errors) */
			t0 = now_ns();
			char bad[2048];
			snprintf(bad, sizeof(bad), "%s", api_json);
			memcpy(strstr(bad, "c000-1"), "zz", 2);
			if (catalog_stage_api_order(c, "api-1", bad, &diags) != -EINVAL)
				die("the bad order was not refused");
			ms = (double) (now_ns() - t0) / 1e6;
			best_refused = ms < best_refused ? ms : best_refused;
			diag_list_clear(&diags);
		}
		row("after: PlaceStandingOrder (catalog, incremental apply)", best_place);
		row("after: ... of which engine_apply and commit", place_apply);
		row("after: CancelStandingOrder", best_cancel);
		row("after: reload after one changed file", best_reload);
		row("after: ... of which engine_apply (stores the YAML files) and commit", reload_apply);
		row("after: PlaceStandingOrder refused (unknown customer)", best_refused);

		/* a reload of a file with an error (its customers as they were): its errors
		 * told from the indexes too */
		snprintf(path, sizeof(path), "%s/orders.d/f000.yaml", conf);
		FILE *bf = fopen(path, "a");
		if (!bf || fputs("  - {id: broken, customer: nobody}\n", bf) < 0 || fclose(bf) != 0)
			die("cannot break %s", path);
		t0 = now_ns();
		if (defs_read_dir(conf, &files, &n, &diags) < 0 || catalog_stage(c, files, n, NULL, 0, &diags) != -EINVAL)
			die("the broken file was not refused");
		defs_files_free(files, n);
		diag_list_clear(&diags);
		row("after: reload refused (a standing order of one file names an unknown customer)", (double) (now_ns() - t0) / 1e6);
		write_orders_file(conf, 0, per_file, 99, true);

		/* customers removed (that standing orders use): the whole set is validated for the errors */
		write_orders_file(conf, 1, per_file, 0, false);
		t0 = now_ns();
		if (defs_read_dir(conf, &files, &n, &diags) < 0 || catalog_stage(c, files, n, NULL, 0, &diags) != -EINVAL)
			die("the removed customers were not refused");
		defs_files_free(files, n);
		diag_list_clear(&diags);
		row("after: reload refused (customers removed that standing orders use: the whole set validated)",
		    (double) (now_ns() - t0) / 1e6);
		write_orders_file(conf, 1, per_file, 0, true);

		/* standingd.yaml changed: a key no definition uses, then the default zone
		 * (which reaches every customer and standing order without one) */
		static const char *const confs[][2] = {
			{ "max_connections: 64\nsuppliers:\n  - {id: lumen, name: Lumen Oy}\n",
			  "after: reload after standingd.yaml changed (max_connections: no file read)" },
			{ "timezone: Europe/Helsinki\nsuppliers:\n  - {id: lumen, name: Lumen Oy}\n",
			  "after: reload after standingd.yaml changed (timezone: every file read)" },
		};
		for (size_t k = 0; k < 2; k++) {
			snprintf(path, sizeof(path), "%s/standingd.yaml", conf);
			write_file(path, confs[k][0]);
			t0 = now_ns();
			if (defs_read_dir(conf, &files, &n, &diags) < 0 || catalog_stage(c, files, n, NULL, 0, &diags) < 0)
				die("reload does not load");
			defs_files_free(files, n);
			apply_staged(c, e);
			row(confs[k][1], (double) (now_ns() - t0) / 1e6);
		}
		catalog_free(c);
		engine_free(e);
		store_close(s);
		diag_list_clear(&diags);
	}
	remove_tree(root);
	return 0;
}
