/* catalog: the incremental running set gives exactly what a full validation
 * (defs_load_with_api) gives on the same files: the same accept or refuse, the
 * same errors (texts and positions), the same standing orders and customers.
 * Random edits over many seeded rounds: standing orders added, removed, changed;
 * files broken, added, removed; duplicate ids across files; a customer another
 * file uses removed; standingd.yaml's suppliers and zone changed; API standing
 * orders placed and cancelled. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sys/stat.h>
#include <lmdb.h>
#include "lib/defs/defs.h"
#include "lib/defs/pack.h"
#include "lib/sched/catalog.h"
#include "lib/store/store.h"
#include "tests/unit/tmpdir.h"

#define N_FILES_MAX 6
#define N_CUST 4          /* customers per file, at most */
#define N_ORD 8           /* standing orders per file, at most */

typedef struct m_order { int id, cust_file, cust, supplier, qty, every, has_zone; bool account; } m_order;
typedef struct m_file {
	bool present;
	int broken;            /* 0 fine, 1 syntax error, 2 a bad field */
	int n_cust, cust[N_CUST];
	bool cust_account[N_CUST];
	int n_ord;
	m_order ord[N_ORD];
} m_file;

typedef struct model {
	uint64_t rng;
	int suppliers;         /* bit mask of s0..s3 in standingd.yaml */
	int zone;              /* 0 UTC, 1 Europe/Helsinki */
	int quota;             /* max_connections: reaches no definition */
	m_file f[N_FILES_MAX];
	int next_id;
} model;

static uint32_t rnd(model *m, uint32_t n) {
	m->rng ^= m->rng << 13;
	m->rng ^= m->rng >> 7;
	m->rng ^= m->rng << 17;
	return (uint32_t) (m->rng % n);
}

typedef struct buf { char *s; size_t n, cap; } buf;

static void put(buf *b, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	char tmp[512];
	int k = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (b->n + (size_t) k + 1 > b->cap) {
		b->cap = (b->n + (size_t) k + 1) * 2;
		b->s = realloc(b->s, b->cap);
		assert_non_null(b->s);
	}
	memcpy(b->s + b->n, tmp, (size_t) k + 1);
	b->n += (size_t) k;
}

static void order_yaml(buf *b, const m_order *o, const char *indent) {
	put(b, "%s- id: so%d\n", indent, o->id);
	put(b, "%s  customer: c%d-%d\n", indent, o->cust_file, o->cust);
	put(b, "%s  supplier: s%d\n", indent, o->supplier);
	put(b, "%s  ship_to: {name: Depot, street: Main 1, city: Turku, country: FI}\n", indent);
	put(b, "%s  lines:\n%s    - {sku: SKU-%d, quantity: %d, unit_price: \"1.25 EUR\"}\n", indent, indent, o->id,
	    o->qty);
	put(b, "%s  payment: %s\n", indent, o->account ? "account" : "prepaid");
	put(b, "%s  schedule: {every: %d weeks, start: 2026-12-0%d%s}\n", indent, o->every, 1 + o->id % 7,
	    o->has_zone ? ", timezone: Europe/Riga" : "");
}

static defs_file make_file(const char *name, buf *b) {
	defs_file f = { .name = strdup(name), .data = b->s ? b->s : strdup(""), .len = b->n };
	*b = (buf) { 0 };
	return f;
}

/* The YAML set as the model says: standingd.yaml, then orders.d/fN.yaml. */
static void render(const model *m, defs_file **ret, size_t *ret_n) {
	defs_file *v = calloc(N_FILES_MAX + 1, sizeof(*v));
	size_t n = 0;
	buf b = { 0 };
	put(&b, "timezone: %s\nmax_connections: %d\nsuppliers:\n", m->zone ? "Europe/Helsinki" : "UTC", 10 + m->quota);
	for (int s = 0; s < 4; s++)
		if (m->suppliers & (1 << s))
			put(&b, "  - {id: s%d, name: Supplier %d}\n", s, s);
	if (!(m->suppliers & 15))
		put(&b, "  []\n");
	v[n++] = make_file("standingd.yaml", &b);
	for (int i = 0; i < N_FILES_MAX; i++) {
		const m_file *f = &m->f[i];
		if (!f->present)
			continue;
		put(&b, "customers:\n");
		for (int k = 0; k < f->n_cust; k++) {
			put(&b, "  - id: c%d-%d\n    name: Customer %d\n", i, f->cust[k], f->cust[k]);
			if (f->cust_account[k])
				put(&b, "    account: {number: ACC-%d}\n", f->cust[k]);
		}
		if (!f->n_cust)
			put(&b, "  []\n");
		put(&b, "standing_orders:\n");
		for (int k = 0; k < f->n_ord; k++)
			order_yaml(&b, &f->ord[k], "  ");
		if (!f->n_ord)
			put(&b, "  []\n");
		if (f->broken == 1)
			put(&b, "  - {id: [unclosed\n");
		else if (f->broken == 2)
			put(&b, "  - id: bad%d\n    customer: nobody\n", i);
		char name[64];
		snprintf(name, sizeof(name), "orders.d/f%d.yaml", i);
		v[n++] = make_file(name, &b);
	}
	*ret = v;
	*ret_n = n;
}

static void random_order(model *m, m_order *o, int file) {
	/* mostly customers that exist; sometimes one of another file, or none */
	int cf = rnd(m, 4) == 0 ? (int) rnd(m, N_FILES_MAX) : file;
	const m_file *f = &m->f[cf];
	int cust = f->n_cust ? f->cust[rnd(m, (uint32_t) f->n_cust)] : 0;
	if (rnd(m, 20) == 0)
		cust = 9;   /* no such customer */
	*o = (m_order) { .id = m->next_id++, .cust_file = cf, .cust = cust, .supplier = (int) rnd(m, 4),
			 .qty = 1 + (int) rnd(m, 50), .every = 1 + (int) rnd(m, 3), .has_zone = rnd(m, 3) == 0,
			 .account = rnd(m, 5) == 0 };
}

static bool has_customer(const model *m, int file, int cust) {
	const m_file *f = &m->f[file];
	for (int k = 0; f->present && k < f->n_cust; k++)
		if (f->cust[k] == cust)
			return true;
	return false;
}

/* Back to a set that is likely valid, so that both outcomes keep coming. */
static void mend(model *m) {
	m->suppliers = 15;
	for (int i = 0; i < N_FILES_MAX; i++) {
		m_file *f = &m->f[i];
		f->broken = 0;
		for (int k = 0; k < f->n_cust; k++)
			for (int j = k + 1; j < f->n_cust; j++)
				if (f->cust[j] == f->cust[k])
					f->cust[j--] = f->cust[--f->n_cust];
		for (int k = 0; k < f->n_ord; k++) {
			m_order *o = &f->ord[k];
			o->account = false;
			bool dup = false;
			for (int j = 0; j <= i && !dup; j++)
				for (int l = 0; l < (j == i ? k : m->f[j].n_ord) && !dup; l++)
					dup = m->f[j].present && m->f[j].ord[l].id == o->id;
			if (dup || !has_customer(m, o->cust_file, o->cust))
				f->ord[k--] = f->ord[--f->n_ord];
		}
	}
}

static void edit(model *m) {
	int i = (int) rnd(m, N_FILES_MAX);
	m_file *f = &m->f[i];
	switch (rnd(m, 12)) {
	case 0: case 1:   /* add a standing order */
		if (f->present && f->n_ord < N_ORD)
			random_order(m, &f->ord[f->n_ord++], i);
		break;
	case 2:           /* remove one */
		if (f->present && f->n_ord) {
			int k = (int) rnd(m, (uint32_t) f->n_ord);
			f->ord[k] = f->ord[--f->n_ord];
		}
		break;
	case 3: case 4:   /* change one */
		if (f->present && f->n_ord) {
			m_order *o = &f->ord[rnd(m, (uint32_t) f->n_ord)];
			o->qty = 1 + (int) rnd(m, 50);
			if (rnd(m, 2))
				o->supplier = (int) rnd(m, 4);
			if (rnd(m, 3) == 0)
				o->has_zone = !o->has_zone;
		}
		break;
	case 5:           /* break or mend a file */
		f->broken = f->broken ? 0 : 1 + (int) rnd(m, 2);
		break;
	case 6: {         /* a duplicate standing order id across files */
		int j = (int) rnd(m, N_FILES_MAX);
		if (f->present && m->f[j].n_ord && f->n_ord < N_ORD) {
			f->ord[f->n_ord] = m->f[j].ord[rnd(m, (uint32_t) m->f[j].n_ord)];
			f->n_ord++;
		}
		break;
	}
	case 7:           /* remove a customer (others may use it), or add one */
		if (f->present && f->n_cust && rnd(m, 2)) {
			int k = (int) rnd(m, (uint32_t) f->n_cust);
			f->cust_account[k] = f->cust_account[f->n_cust - 1];
			f->cust[k] = f->cust[--f->n_cust];
		} else if (f->present && f->n_cust < N_CUST) {
			f->cust_account[f->n_cust] = rnd(m, 2);
			f->cust[f->n_cust++] = (int) rnd(m, 6);   /* may repeat: a duplicate customer */
		}
		break;
	case 8:           /* a customer's account comes or goes */
		if (f->present && f->n_cust) {
			int k = (int) rnd(m, (uint32_t) f->n_cust);
			f->cust_account[k] = !f->cust_account[k];
		}
		break;
	case 9:           /* standingd.yaml: suppliers, zone, a key no definition uses */
		if (rnd(m, 4) == 0)
			m->zone = !m->zone;
		else if (rnd(m, 3) == 0)
			m->quota++;
		else
			m->suppliers ^= 1 << rnd(m, 4);
		break;
	case 10:          /* a file comes or goes */
		if (f->present && rnd(m, 2))
			f->present = false;
		else
			f->present = true;
		break;
	default:          /* nothing: a reload of unchanged files */
		break;
	}
}

static char *diags_text(const diag_list *l) {
	buf b = { 0 };
	put(&b, "%s", "");
	for (size_t i = 0; i < l->n; i++) {
		char *s = diag_format(&l->v[i]);
		put(&b, "%s\n", s);
		free(s);
	}
	return b.s;
}

static void assert_same_defs(const defs *a, const defs *b) {
	assert_int_equal(a->n_customers, b->n_customers);
	for (size_t i = 0; i < a->n_customers; i++) {
		assert_string_equal(a->customers[i].id, b->customers[i].id);
		assert_string_equal(a->customers[i].file, b->customers[i].file);
		assert_int_equal(a->customers[i].line, b->customers[i].line);
		assert_string_equal(tz_zone_name(a->customers[i].zone), tz_zone_name(b->customers[i].zone));
	}
	assert_int_equal(a->n_orders, b->n_orders);
	for (size_t i = 0; i < a->n_orders; i++) {
		const standing_order *x = &a->orders[i], *y = &b->orders[i];
		assert_string_equal(x->id, y->id);
		assert_string_equal(x->bulk->file, y->bulk->file);
		assert_int_equal(x->bulk->line, y->bulk->line);
		assert_string_equal(x->customer->id, y->customer->id);
		assert_string_equal(x->supplier, y->supplier);
		assert_string_equal(tz_zone_name(x->rule.zone), tz_zone_name(y->rule.zone));
		assert_int_equal(x->catch_up, y->catch_up);
		assert_int_equal(x->bulk->lines[0].quantity, y->bulk->lines[0].quantity);
		assert_true(x->hash == y->hash);
		assert_true((x->bulk->placed_by == NULL) == (y->bulk->placed_by == NULL));
	}
	assert_int_equal(a->config.n_suppliers, b->config.n_suppliers);
	assert_string_equal(tz_zone_name(a->config.zone), tz_zone_name(b->config.zone));
}

/* The changes the candidate lists for the engine (engine_sources): every
 * standing order of the running set not listed as dropped is, in order, one of
 * the candidate's not listed as added, the same one (id, hash, reminders). */
static size_t n_changes_known, n_changes_listed;

static bool listed(const uint32_t *v, size_t n, size_t x) {
	for (size_t k = 0; k < n; k++)
		if (v[k] == x)
			return true;
	return false;
}

static void check_changes(const catalog *c) {
	engine_sources src = { 0 };
	catalog_pending_sources(c, &src);
	if (!src.changes_known)
		return;
	const defs *od = catalog_defs(c), *d = catalog_pending(c);
	assert_ptr_equal(src.changes_from, od);
	assert_int_equal(d->n_orders, od->n_orders - src.n_dropped + src.n_added);
	size_t j = 0;
	for (size_t i = 0; i < od->n_orders; i++) {
		if (listed(src.dropped, src.n_dropped, i))
			continue;
		while (listed(src.added, src.n_added, j))
			j++;
		assert_true(j < d->n_orders);
		assert_string_equal(od->orders[i].id, d->orders[j].id);
		assert_true(od->orders[i].hash == d->orders[j].hash);
		assert_ptr_equal(od->orders[i].bulk->reminders, d->orders[j].bulk->reminders);
		j++;
	}
	for (size_t k = 1; k < src.n_dropped; k++)
		assert_true(src.dropped[k - 1] < src.dropped[k]);
	for (size_t k = 1; k < src.n_added; k++)
		assert_true(src.added[k - 1] < src.added[k]);
	n_changes_known++;
	n_changes_listed += src.n_dropped + src.n_added;
}

/* Compares the staged candidate with a full validation of the same files; on
 * success commits it. Returns whether it was accepted. */
static bool compare_stage(catalog *c, int r, diag_list *dc, const defs_file *files, size_t n,
			  const defs_file *api, size_t na) {
	defs *full = NULL;
	diag_list df = { 0 };
	int rf = defs_load_with_api(files, n, api, na, NULL, &full, &df);
	char *tc = diags_text(dc), *tf = diags_text(&df);
	assert_string_equal(tc, tf);
	assert_int_equal(r, rf);
	if (r == 0) {
		assert_same_defs(catalog_pending(c), full);
		check_changes(c);
		catalog_commit(c);
		assert_same_defs(catalog_defs(c), full);
		/* sorted by id, each once: the catalog finds a standing order by id so */
		const defs *d = catalog_defs(c);
		for (size_t i = 1; i < d->n_orders; i++)
			assert_true(strcmp(d->orders[i - 1].id, d->orders[i].id) < 0);
	}
	free(tc);
	free(tf);
	diag_list_clear(&df);
	defs_free(full);
	return r == 0;
}

/* One API standing order placed (json) or cancelled (NULL) through the catalog,
 * compared with a full validation of the running YAML and the API's files with it. */
static size_t n_unit_errors;        /* API refusals told by defs_unit_errors */
static size_t n_yaml_unit_errors;   /* reloads refused so */
static size_t n_config_kept;        /* standingd.yaml changes that read no file again */

static bool api_change(catalog *c, const char *id, const char *json) {
	diag_list dc = { 0 };
	const defs_file *y, *a;
	size_t ny, na;
	catalog_files(c, &y, &ny, &a, &na);
	defs_file *api2;
	size_t n2;
	assert_int_equal(defs_api_files_with(a, na, id, json, &api2, &n2), 0);
	int r = catalog_stage_api_order(c, id, json, &dc);
	catalog_stats st;
	catalog_last_stats(c, &st);
	n_unit_errors += st.unit_errors;
	bool ok = compare_stage(c, r, &dc, y, ny, api2, n2);
	defs_files_free(api2, n2);
	diag_list_clear(&dc);
	return ok;
}

static void api_edit(model *m, catalog *c) {
	char id[32], json[4096];
	const defs *d = catalog_defs(c);
	if (!d)
		return;
	snprintf(id, sizeof(id), "api%u", rnd(m, 6));
	if (rnd(m, 3) == 0) {
		/* cancel (or try to cancel one that is not there: nothing changes) */
		api_change(c, id, NULL);
		return;
	}
	/* a customer of the running set, or sometimes none; sometimes a YAML id */
	const char *cust = d->n_customers && rnd(m, 8) ? d->customers[rnd(m, (uint32_t) d->n_customers)].id : "ghost";
	const char *sid = rnd(m, 6) == 0 && d->n_orders ? d->orders[rnd(m, (uint32_t) d->n_orders)].id : id;
	if (rnd(m, 4) == 0)   /* the id of another API standing order, placed earlier or later in the list */
		for (size_t k = 0, at = rnd(m, (uint32_t) d->n_orders + 1); k < d->n_orders; k++)
			if (d->orders[(at + k) % d->n_orders].bulk->placed_by) {
				sid = d->orders[(at + k) % d->n_orders].id;
				break;
			}
	snprintf(json, sizeof(json),
		 "{\"standing_orders\": [{\"id\": \"%s\", \"customer\": \"%s\", \"supplier\": \"s%u\", "
		 "\"ship_to\": {\"name\": \"D\", \"street\": \"S 1\", \"city\": \"Oulu\", \"country\": \"FI\"}, "
		 "\"lines\": [{\"sku\": \"X\", \"quantity\": %u, \"unit_price\": \"2.00 EUR\"}], "
		 "\"payment\": \"prepaid\", \"schedule\": {\"every\": \"1 week\", \"start\": \"2026-12-01\"}}], "
		 "\"placed_by\": \"shop:web\"}",
		 sid, cust, rnd(m, 4), rnd(m, 10));   /* quantity 0: a field error */
	if (rnd(m, 10) == 0)
		json[strlen(json) / 2] = '\0';   /* not JSON */
	else if (rnd(m, 8) == 0) {
		/* two standing orders in one file, the same id twice or one of the set */
		char two[2048], *lines = strstr(json, "\"ship_to\"");
		snprintf(two, sizeof(two), "{\"standing_orders\": [{\"id\": \"%s\", \"customer\": \"%s\", %.*s}, %s",
			 rnd(m, 2) ? sid : id, cust, (int) (strstr(lines, "}}],") + 1 - lines), lines,
			 strchr(json, '[') + 1);
		snprintf(json, sizeof(json), "%s", two);
	}
	api_change(c, id, json);
}

/* A reload of the YAML set files, compared with a full validation (and
 * committed when accepted). */
static bool stage_yaml(catalog *c, const defs_file *files, size_t n) {
	const defs_file *y, *a;
	size_t ny, na;
	catalog_files(c, &y, &ny, &a, &na);
	/* the API's files are the running ones: copy them, the stage may replace them */
	defs_file *api;
	assert_int_equal(defs_files_dup(a, na, &api), 0);
	diag_list dc = { 0 };
	int r = catalog_stage(c, files, n, NULL, 0, &dc);
	catalog_stats st;
	catalog_last_stats(c, &st);
	n_yaml_unit_errors += st.unit_errors;
	n_config_kept += st.config_kept && r == 0;
	bool ok = compare_stage(c, r, &dc, files, n, api, na);
	diag_list_clear(&dc);
	defs_files_free(api, na);
	return ok;
}

static void round_with_seed(uint64_t seed, int steps, size_t *accepted, size_t *refused) {
	model m = { .rng = seed * 0x9E3779B97F4A7C15u + 1, .suppliers = 15, .next_id = 1 };
	for (int i = 0; i < 3; i++) {
		m.f[i].present = true;
		m.f[i].n_cust = 2;
		m.f[i].cust[0] = 0;
		m.f[i].cust[1] = 1;
		m.f[i].cust_account[1] = true;
		for (int k = 0; k < 3; k++) {
			random_order(&m, &m.f[i].ord[m.f[i].n_ord], i);
			m.f[i].ord[m.f[i].n_ord].cust_file = i;
			m.f[i].ord[m.f[i].n_ord].cust = 0;
			m.f[i].ord[m.f[i].n_ord].account = false;
			m.f[i].n_ord++;
		}
	}
	catalog *c;
	assert_int_equal(catalog_new(NULL, &c), 0);
	for (int s = 0; s < steps; s++) {
		if (catalog_defs(c) && rnd(&m, 5) == 0) {
			api_edit(&m, c);
			continue;
		}
		if (s && rnd(&m, 4) == 0)
			mend(&m);
		else if (s)
			for (uint32_t k = 1 + rnd(&m, 2); k-- > 0;)
				edit(&m);
		defs_file *files;
		size_t n;
		render(&m, &files, &n);
		if (stage_yaml(c, files, n))
			++*accepted;
		else
			++*refused;
		defs_files_free(files, n);
	}
	catalog_free(c);
}

/* A set large enough to be linked on several threads (cat_link_new): standing
 * orders whose customer is in another file (their hash and zone come from the
 * link, so their file's record is packed again), and one whose customer does
 * not exist. The candidate is what a full validation gives, hashes included,
 * and every compiled record carries the linked hashes. */
static void big_file(buf *b, int file, int n, int other, bool bad) {
	put(b, "customers:\n  - id: c%d-0\n    name: C\n    timezone: Asia/Tokyo\n", file);
	put(b, "standing_orders:\n");
	for (int k = 0; k < n; k++) {
		/* every 7th in file 1 has file 0's customer (another zone) */
		int cf = file == 1 && k % 7 == 0 ? other : file;
		m_order o = { .id = file * 100000 + k, .cust_file = cf, .supplier = k % 2, .qty = 1 + k,
			      .every = 1 + k % 3, .has_zone = k % 5 == 0 };
		order_yaml(b, &o, "  ");
	}
	if (bad)
		put(b, "  - id: bad\n    customer: c9-0\n    supplier: s0\n    payment: prepaid\n"
		       "    ship_to: {name: D, street: M, city: T, country: FI}\n"
		       "    lines: [{sku: X, quantity: 1, unit_price: \"1.00 EUR\"}]\n"
		       "    schedule: {every: 1 week, start: 2026-12-01}\n");
}

static void test_link_threads(void **state) {
	(void) state;
	for (int bad = 0; bad < 2; bad++) {
		defs_file files[3];
		buf b = { 0 };
		put(&b, "timezone: Europe/Helsinki\nsuppliers:\n  - {id: s0, name: S0}\n  - {id: s1, name: S1}\n");
		files[0] = make_file("standingd.yaml", &b);
		big_file(&b, 0, 6000, 0, false);
		files[1] = make_file("orders.d/f0.yaml", &b);
		big_file(&b, 1, 9000, 0, bad);
		files[2] = make_file("orders.d/f1.yaml", &b);
		catalog *c;
		assert_int_equal(catalog_new(NULL, &c), 0);
		diag_list dc = { 0 };
		int r = catalog_stage(c, files, 3, NULL, 0, &dc);
		assert_int_equal(r, bad ? -EINVAL : 0);
		if (!bad) {
			const defs *d = catalog_pending(c);
			assert_int_equal(d->n_orders, 15000);
			catalog_compiled *v;
			size_t n;
			uint64_t ch;
			assert_int_equal(catalog_pending_compiled(c, &v, &n, &ch), 0);
			size_t checked = 0;
			for (size_t i = 0; i < n; i++) {
				if (!v[i].packed)
					continue;
				defs_unit u;
				assert_int_equal(defs_unit_unpack(d, v[i].packed, v[i].packed_len, &u), 0);
				for (size_t k = 0; k < u.n_orders; k++) {
					const standing_order *so = defs_find_order(d, u.orders[k].o.id);
					assert_non_null(so);
					assert_true(so->hash == u.orders[k].o.hash);
					assert_ptr_equal(so->rule.zone, u.orders[k].link_zone);
					checked++;
				}
				defs_unit_done(&u);
			}
			free(v);
			assert_int_equal(checked, 15000);
		}
		/* the same as a full validation: the set, or the error's text */
		assert_int_equal(compare_stage(c, r, &dc, files, 3, NULL, 0), !bad);
		if (bad) {
			char *t = diags_text(&dc);
			assert_non_null(strstr(t, "c9-0"));
			free(t);
		}
		diag_list_clear(&dc);
		catalog_free(c);
		for (int i = 0; i < 3; i++) {
			free(files[i].name);
			free(files[i].data);
		}
	}
}

/* The running set's standing orders are found by id without an index (a search
 * of the sorted running set): an API standing order or a file with the id of one
 * present (the first, the last, one between, by strcmp) is refused, one with an
 * id next to them that is absent is accepted, after many stages; a file's ids
 * moving to another file in one stage are no duplicates. */
static char *api_json(const char *sid) {
	char *s;
	assert_true(asprintf(&s,
			     "{\"standing_orders\": [{\"id\": \"%s\", \"customer\": \"c0-0\", \"supplier\": \"s1\", "
			     "\"ship_to\": {\"name\": \"D\", \"street\": \"S 1\", \"city\": \"Oulu\", \"country\": \"FI\"}, "
			     "\"lines\": [{\"sku\": \"X\", \"quantity\": 2, \"unit_price\": \"2.00 EUR\"}], "
			     "\"payment\": \"prepaid\", \"schedule\": {\"every\": \"1 week\", \"start\": \"2026-12-01\"}}], "
			     "\"placed_by\": \"shop:web\"}",
			     sid) > 0);
	return s;
}

static void test_order_ids(void **state) {
	(void) state;
	defs_file files[3];
	buf b = { 0 };
	put(&b, "timezone: UTC\nsuppliers:\n  - {id: s0, name: S0}\n  - {id: s1, name: S1}\n");
	files[0] = make_file("standingd.yaml", &b);
	big_file(&b, 0, 1000, 0, false);   /* so0 .. so999 */
	files[1] = make_file("orders.d/f0.yaml", &b);
	catalog *c;
	assert_int_equal(catalog_new(NULL, &c), 0);
	assert_true(stage_yaml(c, files, 2));
	static const char *present[] = { "so0", "so999", "so500", "so1", "so10", "so99", "so100" };
	static const char *absent[] = { "a", "so", "so0a", "so1000", "so9990", "so5a", "sz", "so5000" };
	for (int round = 0; round < 3; round++) {
		for (size_t k = 0; k < sizeof(present) / sizeof(*present); k++) {
			char *j = api_json(present[k]);
			assert_false(api_change(c, "api1", j));
			free(j);
		}
		for (size_t k = 0; k < sizeof(absent) / sizeof(*absent); k++) {
			char id[32];
			snprintf(id, sizeof(id), "api%zu", k);
			char *j = api_json(absent[k]);
			assert_true(api_change(c, id, j));
			free(j);
			/* now present: once more under another API id, refused */
			j = api_json(absent[k]);
			assert_false(api_change(c, "apix", j));
			free(j);
		}
		const defs *d = catalog_defs(c);
		assert_int_equal(d->n_orders, 1000 + sizeof(absent) / sizeof(*absent));
		assert_non_null(defs_find_order(d, "so0a"));
		for (size_t k = 0; k < sizeof(absent) / sizeof(*absent); k++) {
			char id[32];
			snprintf(id, sizeof(id), "api%zu", k);
			assert_true(api_change(c, id, NULL));   /* cancelled */
		}
		assert_int_equal(catalog_defs(c)->n_orders, 1000);
		/* a YAML file with one of the ids: refused; the file renamed (its ids
		 * leave the dying one in the same stage): accepted, and back */
		put(&b, "customers: []\nstanding_orders:\n");
		m_order o = { .id = round == 0 ? 0 : round == 1 ? 999 : 500, .cust_file = 0, .supplier = 1, .qty = 1,
			      .every = 1 };
		order_yaml(&b, &o, "  ");
		files[2] = make_file("orders.d/f1.yaml", &b);
		assert_false(stage_yaml(c, files, 3));
		free(files[2].name);
		free(files[2].data);
		files[2] = (defs_file) { .name = strdup("orders.d/f1.yaml"), .data = files[1].data, .len = files[1].len };
		defs_file moved[2] = { files[0], files[2] };
		assert_true(stage_yaml(c, moved, 2));
		assert_string_equal(defs_find_order(catalog_defs(c), "so999")->bulk->file, "orders.d/f1.yaml");
		assert_true(stage_yaml(c, files, 2));
		free(files[2].name);
	}
	catalog_free(c);
	for (int i = 0; i < 2; i++) {
		free(files[i].name);
		free(files[i].data);
	}
}

static void test_random_edits(void **state) {
	(void) state;
	size_t accepted = 0, refused = 0;
	for (uint64_t seed = 1; seed <= 60; seed++)
		round_with_seed(seed, 60, &accepted, &refused);
	/* both outcomes must be exercised a fair number of times */
	print_message("accepted %zu, refused %zu, told without the whole set: %zu API changes, %zu reloads; "
		      "standingd.yaml changes that read no file again: %zu\n",
		      accepted, refused, n_unit_errors, n_yaml_unit_errors, n_config_kept);
	print_message("changes listed for the engine: %zu stages, %zu standing orders\n", n_changes_known,
		      n_changes_listed);
	assert_true(n_changes_known > 300);
	assert_true(n_config_kept > 50);
	assert_true(accepted > 300);
	assert_true(refused > 300);
	assert_true(n_unit_errors > 100);
	assert_true(n_yaml_unit_errors > 100);
}

/* The catalog reads again only what changed, and links again the standing
 * orders of other files that use a customer of a changed file. */
/* Four files of five standing orders each (so1..so20 in file order), all of f0's
 * customer c0-0. */
static model four_files(uint64_t rng) {
	model m = { .rng = rng, .suppliers = 15, .next_id = 1 };
	for (int i = 0; i < 4; i++) {
		m.f[i].present = true;
		m.f[i].n_cust = 1;
		m.f[i].cust[0] = 0;
		for (int k = 0; k < 5; k++)
			m.f[i].ord[m.f[i].n_ord++] = (m_order) { .id = m.next_id++, .cust_file = 0, .cust = 0,
								 .supplier = 1, .qty = 3, .every = 1 };
	}
	return m;
}

static void test_reads_only_changes(void **state) {
	(void) state;
	model m = four_files(7);
	catalog *c;
	assert_int_equal(catalog_new(NULL, &c), 0);
	defs_file *files;
	size_t n;
	diag_list dc = { 0 };
	catalog_stats st;
	render(&m, &files, &n);
	assert_int_equal(catalog_stage(c, files, n, NULL, 0, &dc), 0);
	catalog_commit(c);
	catalog_last_stats(c, &st);
	assert_true(st.full);
	assert_int_equal(st.files_read, 4);
	defs_files_free(files, n);

	m.f[2].ord[0].qty = 4;   /* one file, no customer changed */
	render(&m, &files, &n);
	assert_int_equal(catalog_stage(c, files, n, NULL, 0, &dc), 0);
	catalog_commit(c);
	catalog_last_stats(c, &st);
	assert_false(st.full);
	assert_int_equal(st.files_read, 1);
	assert_int_equal(st.orders_linked, 5);
	defs_files_free(files, n);

	m.f[0].cust_account[0] = true;   /* f0's customer c0-0, used by all 20 */
	render(&m, &files, &n);
	assert_int_equal(catalog_stage(c, files, n, NULL, 0, &dc), 0);
	catalog_commit(c);
	catalog_last_stats(c, &st);
	assert_int_equal(st.files_read, 1);
	assert_int_equal(st.orders_linked, 20);
	assert_string_equal(catalog_defs(c)->orders[19].customer->account_number, "ACC-0");
	defs_files_free(files, n);

	/* f1's standing orders pay on account with f0's customer; f0 drops the account
	 * and breaks a field of its own: errors in both files, as a full validation */
	for (int k = 0; k < 5; k++)
		m.f[1].ord[k].account = true;
	render(&m, &files, &n);
	assert_int_equal(catalog_stage(c, files, n, NULL, 0, &dc), 0);
	catalog_commit(c);
	defs_files_free(files, n);
	m.f[0].cust_account[0] = false;
	m.f[0].broken = 2;
	render(&m, &files, &n);
	const defs_file *y, *a;
	size_t ny, na;
	catalog_files(c, &y, &ny, &a, &na);
	int r = catalog_stage(c, files, n, NULL, 0, &dc);
	assert_false(compare_stage(c, r, &dc, files, n, a, na));
	/* f0's own six, then f1's five accounts: only the whole set tells those */
	assert_int_equal(dc.n, 11);
	char *t = diag_format(&dc.v[10]);
	assert_string_equal(t, "orders.d/f1.yaml:43:14: payment \"account\" needs an account for customer \"c0-0\"");
	free(t);
	catalog_last_stats(c, &st);
	assert_false(st.unit_errors);
	assert_true(st.full_validation);
	diag_list_clear(&dc);
	defs_files_free(files, n);
	m.f[0].cust_account[0] = true;
	m.f[0].broken = 0;
	for (int k = 0; k < 5; k++)
		m.f[1].ord[k].account = false;

	m.f[0].n_cust = 0;   /* gone: the other files' standing orders name an unknown customer */
	render(&m, &files, &n);
	assert_int_equal(catalog_stage(c, files, n, NULL, 0, &dc), -EINVAL);
	catalog_last_stats(c, &st);
	assert_true(st.full_validation);
	assert_int_equal(dc.n, 20);
	char *s = diag_format(&dc.v[5]);
	assert_string_equal(s, "orders.d/f1.yaml:6:15: unknown customer \"c0-0\"");
	free(s);
	diag_list_clear(&dc);
	defs_files_free(files, n);
	assert_int_equal(catalog_defs(c)->n_customers, 4);
	catalog_free(c);
}

/* The source of test_thin: the bytes of the files last rendered. */
typedef struct src_files { defs_file *v; size_t n; int calls; } src_files;

static int src_get(void *ud, const char *name, uint64_t hash, defs_file *ret) {
	src_files *s = ud;
	(void) hash;
	s->calls++;
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->v[i].name, name)) {
			ret->name = strdup(name);
			ret->data = malloc(s->v[i].len + 1);
			memcpy(ret->data, s->v[i].data, s->v[i].len);
			ret->data[s->v[i].len] = 0;
			ret->len = s->v[i].len;
			return 0;
		}
	return -ESTALE;
}

/* The thin running set (catalog_set_thin): after a commit the files' standing
 * orders without reminders keep no ship_to or lines (stored: their place in their
 * file + 1), and everything else is as a resident catalog's; a customer changed
 * in another file links them again from their file read through the source (the
 * same hashes and links as the resident one's), and they stay thin. */
static void test_thin(void **state) {
	(void) state;
	model m = four_files(11);
	catalog *thin, *res;
	src_files src = { 0 };
	assert_int_equal(catalog_new(NULL, &thin), 0);
	assert_int_equal(catalog_new(NULL, &res), 0);
	catalog_set_thin(thin, true);
	catalog_set_source(thin, src_get, &src);
	catalog_set_source(res, src_get, &src);
	diag_list dc = { 0 };
	catalog_stats st;
	/* the thin catalog's compiled records, by file, as last packed: a thin
	 * standing order's line is its section's */
	struct { char *name; uint8_t *p; size_t n; } rec[8] = { 0 };
	struct defs_arena *ar = NULL;
	for (int round = 0; round < 3; round++) {
		if (round == 1)
			m.f[0].cust_account[0] = true;   /* f0's customer, used by all 20 */
		if (round == 2)
			m.f[3].ord[0].qty = 9;           /* one file, no customer changed */
		render(&m, &src.v, &src.n);
		src.calls = 0;
		assert_int_equal(catalog_stage(thin, src.v, src.n, NULL, 0, &dc), 0);
		engine_sources cs = { 0 }, cr = { 0 };
		catalog_pending_sources(thin, &cs);
		assert_int_equal(catalog_stage(res, src.v, src.n, NULL, 0, &dc), 0);
		catalog_pending_sources(res, &cr);
		/* the changes the engine is told of: the same, thin or not (round 1: f0's
		 * 5 read anew and the other files' 15 linked again to its customer) */
		assert_int_equal(cs.changes_known, cr.changes_known);
		if (round > 0) {
			assert_true(cs.changes_known);
			assert_int_equal(cs.n_dropped, round == 1 ? 20 : 5);   /* round 2: f3 read anew */
			assert_int_equal(cs.n_added, round == 1 ? 20 : 5);
			assert_int_equal(cr.n_dropped, cs.n_dropped);
			assert_int_equal(cr.n_added, cs.n_added);
		}
		catalog_compiled *cc;
		size_t n_cc;
		uint64_t ch;
		assert_int_equal(catalog_pending_compiled(thin, &cc, &n_cc, &ch), 0);
		for (size_t k = 0; k < n_cc; k++) {
			size_t at = 0;
			while (at < 8 && rec[at].name && strcmp(rec[at].name, cc[k].name))
				at++;
			assert_true(at < 8);
			if (!cc[k].packed)
				continue;
			if (!rec[at].name)
				rec[at].name = strdup(cc[k].name);
			free(rec[at].p);
			rec[at].p = malloc(cc[k].packed_len);
			memcpy(rec[at].p, cc[k].packed, cc[k].packed_len);
			rec[at].n = cc[k].packed_len;
		}
		free(cc);
		catalog_commit(thin);
		catalog_last_stats(thin, &st);
		catalog_commit(res);
		const defs *t = catalog_defs(thin), *r = catalog_defs(res);
		assert_int_equal(t->n_orders, 20);
		assert_int_equal(r->n_orders, 20);
		for (size_t i = 0; i < 20; i++) {
			const standing_order *a = &t->orders[i], *b = &r->orders[i];
			assert_string_equal(a->id, b->id);
			assert_int_equal(b->stored, 0);
			assert_non_null(b->bulk->lines);
			assert_int_equal(a->stored, (atoi(a->id + 2) - 1) % 5 + 1);   /* soN: the (N-1)%5-th of its file */
			assert_null(a->bulk->lines);
			assert_null(a->bulk->ship_to.name);
			assert_int_equal(a->n_lines, b->n_lines);
			assert_true(a->hash == b->hash);
			assert_string_equal(tz_zone_name(a->rule.zone), tz_zone_name(b->rule.zone));
			assert_string_equal(a->customer->id, b->customer->id);
			assert_string_equal(a->bulk->file, b->bulk->file);
			/* the line: the resident one's bulk's, the thin one's section's */
			assert_int_equal(a->bulk->line, 0);
			assert_true(b->bulk->line > 0);
			size_t at = 0;
			while (at < 8 && rec[at].name && strcmp(rec[at].name, a->bulk->file))
				at++;
			assert_true(at < 8 && rec[at].p);
			so_bulk sb;
			assert_int_equal(defs_bulk_unpack(rec[at].p, rec[at].n, a->stored - 1, &ar, &sb), 0);
			assert_int_equal(sb.line, b->bulk->line);
			defs_arena_reset(&ar);
		}
		/* the thin ones of a file share one bulk, its name alone */
		for (size_t i = 0; i < 20; i++)
			for (size_t j = 0; j < 20; j++)
				if (!strcmp(t->orders[i].bulk->file, t->orders[j].bulk->file))
					assert_ptr_equal(t->orders[i].bulk, t->orders[j].bulk);
				else
					assert_ptr_not_equal(t->orders[i].bulk, t->orders[j].bulk);
		if (round == 1) {
			/* f1-f3 read again for their 15 standing orders, by each catalog
			 * (a thinned unit keeps nothing of what its file said): 6 fetches */
			assert_int_equal(st.orders_linked, 20);
			assert_int_equal(src.calls, 6);
			assert_string_equal(t->orders[19].customer->account_number, "ACC-0");
		}
		if (round == 2)
			assert_int_equal(src.calls, 0);
		defs_files_free(src.v, src.n);
	}
	for (size_t k = 0; k < 8; k++) {
		free(rec[k].name);
		free(rec[k].p);
	}
	defs_arena_free(ar);
	catalog_free(thin);
	catalog_free(res);
}

/* test_owners' files: orders.d/f<file>.yaml with customer c<file>-0 (when cust;
 * with an account when acct) and standing orders so<ids[k]> of customer
 * c<of>-0, the one at rem with a reminder (it stays resident in a thin
 * catalog; -1: none). */
typedef struct own_file { int file; bool cust, acct; int ids[6], n, of, rem, qty; } own_file;

static void own_render(const own_file *v, size_t nv, defs_file **ret, size_t *ret_n) {
	defs_file *f = calloc(nv + 1, sizeof(*f));
	buf b = { 0 };
	put(&b, "timezone: UTC\nsuppliers:\n  - {id: s0, name: S0}\n  - {id: s1, name: S1}\n");
	f[0] = make_file("standingd.yaml", &b);
	for (size_t i = 0; i < nv; i++) {
		put(&b, "customers:\n");
		if (v[i].cust)
			put(&b, "  - id: c%d-0\n    name: C\n%s", v[i].file, v[i].acct ? "    account: {number: ACC}\n" : "");
		else
			put(&b, "  []\n");
		put(&b, "standing_orders:\n");
		for (int k = 0; k < v[i].n; k++) {
			m_order o = { .id = v[i].ids[k], .cust_file = v[i].of, .supplier = k % 2, .qty = v[i].qty + k,
				      .every = 1 + k % 3, .has_zone = k % 4 == 1 };
			order_yaml(&b, &o, "  ");
			if (k == v[i].rem)
				put(&b, "    reminders: [{before: 2 days, task: Call}]\n");
		}
		char name[64];
		snprintf(name, sizeof(name), "orders.d/f%d.yaml", v[i].file);
		f[i + 1] = make_file(name, &b);
	}
	*ret = f;
	*ret_n = nv + 1;
}

/* t (a catalog's candidate or running set) is full, and each standing order's
 * file and place are its own: a thin one's stored is its place in its file + 1
 * (the standing orders of full before it in the same file, by line), a resident
 * one's line is full's; thin: every one that can be thin is. */
static void assert_same_owners(const defs *t, const defs *full, bool thin) {
	assert_int_equal(t->n_orders, full->n_orders);
	for (size_t i = 0; i < t->n_orders; i++) {
		const standing_order *a = &t->orders[i], *b = &full->orders[i];
		assert_string_equal(a->id, b->id);
		assert_string_equal(a->bulk->file, b->bulk->file);
		assert_string_equal(a->customer->id, b->customer->id);
		assert_true(!a->customer->account_number == !b->customer->account_number);
		assert_true(a->hash == b->hash);
		assert_string_equal(tz_zone_name(a->rule.zone), tz_zone_name(b->rule.zone));
		size_t pos = 0;
		for (size_t k = 0; k < full->n_orders; k++)
			pos += !strcmp(full->orders[k].bulk->file, b->bulk->file) && full->orders[k].bulk->line < b->bulk->line;
		/* resident: one with reminders or of the API; thin: every other one
		 * once committed, the kept ones in a candidate */
		bool resident = b->bulk->n_reminders || b->bulk->placed_by;
		assert_false(a->stored && resident);
		assert_false(thin && !resident && !a->stored);
		assert_int_equal(a->stored, a->stored ? pos + 1 : 0);
		assert_int_equal(a->bulk->line, a->stored ? 0 : b->bulk->line);
	}
}

/* One stage of test_owners (the YAML set v, or one API definition placed),
 * compared with a full validation of the same files: the errors' texts (an id
 * of the running set's "first defined at" its file's place, from the standing
 * order found there) or the set (committed). The stage's stats in *st. */
static int own_step(catalog *c, bool thin, src_files *src, const own_file *v, size_t nv, const char *api_id,
		    const char *api_json, catalog_stats *st) {
	const defs_file *y, *a;
	size_t ny, na;
	catalog_files(c, &y, &ny, &a, &na);
	defs_file *api;
	size_t n_api;
	if (api_id)
		assert_int_equal(defs_api_files_with(a, na, api_id, api_json, &api, &n_api), 0);
	else
		assert_int_equal(defs_files_dup(a, (n_api = na), &api), 0);
	if (!api_id) {
		defs_files_free(src->v, src->n);
		own_render(v, nv, &src->v, &src->n);
	}
	diag_list dc = { 0 }, df = { 0 };
	src->calls = 0;
	int r = api_id ? catalog_stage_api_order(c, api_id, api_json, &dc) : catalog_stage(c, src->v, src->n, NULL, 0, &dc);
	catalog_last_stats(c, st);
	defs *full = NULL;
	int rf = defs_load_with_api(src->v, src->n, api, n_api, NULL, &full, &df);
	char *tc = diags_text(&dc), *tf = diags_text(&df);
	assert_string_equal(tc, tf);
	assert_int_equal(r, rf);
	if (r == 0) {
		assert_same_owners(catalog_pending(c), full, false);
		catalog_commit(c);
		assert_same_owners(catalog_defs(c), full, thin);
	}
	free(tc);
	free(tf);
	diag_list_clear(&dc);
	diag_list_clear(&df);
	defs_free(full);
	defs_files_free(api, n_api);
	return r;
}

/* Whether the diags of the last refused stage (st: told by defs_unit_errors)
 * hold text: own_step compared them with a full validation's. */
static void assert_refused_with(catalog *c, bool thin, src_files *src, const own_file *v, size_t nv,
				const char *api_id, const char *api_json, const char *text) {
	catalog_stats st;
	assert_int_equal(own_step(c, thin, src, v, nv, api_id, api_json, &st), -EINVAL);
	assert_true(st.unit_errors);   /* the positions from the catalog's lookup, not a full validation */
	diag_list dc = { 0 };
	if (api_id)
		assert_int_equal(catalog_stage_api_order(c, api_id, api_json, &dc), -EINVAL);
	else
		assert_int_equal(catalog_stage(c, src->v, src->n, NULL, 0, &dc), -EINVAL);
	char *t = diags_text(&dc);
	if (!strstr(t, text))
		fail_msg("\"%s\" not in:\n%s", text, t);
	free(t);
	diag_list_clear(&dc);
}

/* A standing order's file and place come from the standing order itself (its
 * bulk's tag, a thin one's stored): with files removed, added (taking the freed
 * slots of the catalog's files) and replaced, a thin and a resident catalog
 * name the right file and place of a running standing order in the errors of a
 * duplicate id (the first definition, or the error at the other file's place
 * when it comes later), link again the right ones from the right file when
 * their customer changes, and drop exactly a removed file's. */
static void test_owners(void **state) {
	(void) state;
	for (int thin = 0; thin < 2; thin++) {
		catalog *c;
		src_files src = { 0 };
		catalog_stats st;
		assert_int_equal(catalog_new(NULL, &c), 0);
		catalog_set_thin(c, thin);
		catalog_set_source(c, src_get, &src);
		own_file v[4] = {
			{ .file = 0, .cust = true, .ids = { 1, 2, 3, 4, 5 }, .n = 5, .of = 0, .rem = -1, .qty = 1 },
			{ .file = 1, .cust = true, .ids = { 6, 7, 8, 9, 10 }, .n = 5, .of = 0, .rem = -1, .qty = 1 },
			{ .file = 2, .cust = true, .ids = { 11, 12, 13, 14, 15 }, .n = 5, .of = 2, .rem = -1, .qty = 1 },
			{ .file = 3, .cust = true, .ids = { 16, 17, 18, 19, 20 }, .n = 5, .of = 3, .rem = 2, .qty = 1 },
		};
		assert_int_equal(own_step(c, thin, &src, v, 4, NULL, NULL, &st), 0);
		/* f1 and f2 go: their slots are free */
		v[1] = v[3];
		assert_int_equal(own_step(c, thin, &src, v, 2, NULL, NULL, &st), 0);
		/* f3 replaced, f4 (c0-0's, so23 resident) and f5 added: the free slots
		 * taken again */
		v[1].qty = 7;
		v[2] = (own_file) { .file = 4, .ids = { 21, 22, 23, 24, 25 }, .n = 5, .of = 0, .rem = 2, .qty = 2 };
		v[3] = (own_file) { .file = 5, .cust = true, .ids = { 26, 27, 28, 29, 30 }, .n = 5, .of = 5, .rem = -1,
				    .qty = 3 };
		assert_int_equal(own_step(c, thin, &src, v, 4, NULL, NULL, &st), 0);
		assert_int_equal(st.files_read, 3);
		/* a file with ids of the running set: defined earlier (f6 after them)
		 * or later (f1 before them: the errors at their places) */
		own_file w[5] = { v[0], v[1], v[2], v[3] };
		w[4] = (own_file) { .file = 6, .ids = { 31, 17, 18, 2, 29 }, .n = 5, .of = 0, .rem = -1, .qty = 1 };
		assert_refused_with(c, thin, &src, w, 5, NULL, NULL,
				    "orders.d/f6.yaml:20:9: duplicate standing order id \"so18\" (first defined at "
				    "orders.d/f3.yaml:21:9)");
		w[4] = w[3];
		w[3] = w[2];
		w[2] = w[1];
		w[1] = (own_file) { .file = 1, .ids = { 28, 23, 32 }, .n = 3, .of = 0, .rem = -1, .qty = 1 };
		assert_refused_with(c, thin, &src, w, 5, NULL, NULL,
				    "orders.d/f4.yaml:20:9: duplicate standing order id \"so23\" (first defined at "
				    "orders.d/f1.yaml:12:9)");
		own_step(c, thin, &src, v, 4, NULL, NULL, &st);   /* src back to the running files */
		/* API definitions: one placed (its unit is not thinned), then ids of
		 * the running set */
		char *j = api_json("apiA");
		assert_int_equal(own_step(c, thin, &src, v, 4, "api0", j, &st), 0);
		free(j);
		j = api_json("so27");
		assert_refused_with(c, thin, &src, v, 4, "api1", j,
				    "duplicate standing order id \"so27\" (first defined at orders.d/f5.yaml:");
		free(j);
		j = api_json("apiA");
		assert_refused_with(c, thin, &src, v, 4, "api2", j, "duplicate standing order id \"apiA\"");
		free(j);
		/* c0-0 gets an account: f0's five read anew, f4's five linked again
		 * from f4 read through the source (so23 among them), and apiA */
		v[0].acct = true;
		assert_int_equal(own_step(c, thin, &src, v, 4, NULL, NULL, &st), 0);
		assert_int_equal(st.files_read, 1);
		assert_int_equal(st.orders_linked, 11);
		assert_int_equal(src.calls, 1);
		assert_non_null(defs_find_order(catalog_defs(c), "so23")->customer->account_number);
		/* f4 goes (its slot free again) and comes back with other ids; f5 stays */
		assert_int_equal(own_step(c, thin, &src, (own_file[]) { v[0], v[1], v[3] }, 3, NULL, NULL, &st), 0);
		v[2] = (own_file) { .file = 4, .ids = { 40, 41, 42 }, .n = 3, .of = 5, .rem = 0, .qty = 4 };
		assert_int_equal(own_step(c, thin, &src, v, 4, NULL, NULL, &st), 0);
		/* c5-0 loses nothing but f5 is replaced: f4's three linked again */
		v[3].qty = 5;
		assert_int_equal(own_step(c, thin, &src, v, 4, NULL, NULL, &st), 0);
		assert_int_equal(st.orders_linked, 8);
		assert_int_equal(src.calls, 1);
		defs_files_free(src.v, src.n);
		catalog_free(c);
	}
}

/* issue 11: a salesperson removed from standingd.yaml that a customer or a
 * reminder still names is an error, as a full validation says; one no definition
 * names reads no file again. */
static void test_salespeople_removed(void **state) {
	(void) state;
	static const char cfg[] =
		"suppliers: [{id: lumen, name: Lumen Oy}]\n"
		"salespeople:\n"
		"  - {id: anna, name: Anna, email: anna@x.example}\n"
		"  - {id: ville, name: Ville, email: ville@x.example}\n"
		"  - {id: idle, name: Idle, email: idle@x.example}\n";
	static const char orders[] =
		"customers:\n"
		"  - {id: c1, name: C1, salesperson: anna}\n"
		"standing_orders:\n"
		"  - id: so1\n"
		"    customer: c1\n"
		"    supplier: lumen\n"
		"    ship_to: {name: V, street: K 1, city: Helsinki, country: FI}\n"
		"    lines: [{sku: A, quantity: 1, unit_price: \"1.00 EUR\"}]\n"
		"    payment: prepaid\n"
		"    schedule: {every: 1 week, start: 2027-01-04}\n"
		"    reminders: [{before: 1 day, task: Call, assignee: ville}]\n";
	defs_file files[2] = {
		{ (char *) "standingd.yaml", (char *) cfg, sizeof(cfg) - 1 },
		{ (char *) "orders.d/a.yaml", (char *) orders, sizeof(orders) - 1 },
	};
	catalog *c;
	diag_list dc = { 0 };
	catalog_stats st;
	assert_int_equal(catalog_new(NULL, &c), 0);
	assert_int_equal(catalog_stage(c, files, 2, NULL, 0, &dc), 0);
	catalog_commit(c);
	/* idle is named by nothing: the files stay as read */
	static const char no_idle[] =
		"suppliers: [{id: lumen, name: Lumen Oy}]\n"
		"salespeople:\n"
		"  - {id: anna, name: Anna, email: anna@x.example}\n"
		"  - {id: ville, name: Ville, email: ville@x.example}\n";
	files[0].data = (char *) no_idle;
	files[0].len = sizeof(no_idle) - 1;
	assert_int_equal(catalog_stage(c, files, 2, NULL, 0, &dc), 0);
	catalog_last_stats(c, &st);
	assert_true(st.config_kept);
	catalog_commit(c);
	/* ville is a reminder's assignee, anna a customer's salesperson */
	static const char anna_only[] =
		"suppliers: [{id: lumen, name: Lumen Oy}]\n"
		"salespeople: [{id: anna, name: Anna, email: anna@x.example}]\n";
	files[0].data = (char *) anna_only;
	files[0].len = sizeof(anna_only) - 1;
	assert_int_equal(catalog_stage(c, files, 2, NULL, 0, &dc), -EINVAL);
	assert_int_equal(dc.n, 1);
	char *t = diag_format(&dc.v[0]);
	assert_string_equal(t, "orders.d/a.yaml:11:55: unknown salesperson \"ville\"; defined: anna");
	free(t);
	diag_list_clear(&dc);
	static const char ville_only[] =
		"suppliers: [{id: lumen, name: Lumen Oy}]\n"
		"salespeople: [{id: ville, name: Ville, email: ville@x.example}]\n";
	files[0].data = (char *) ville_only;
	files[0].len = sizeof(ville_only) - 1;
	assert_int_equal(catalog_stage(c, files, 2, NULL, 0, &dc), -EINVAL);
	assert_int_equal(dc.n, 1);
	t = diag_format(&dc.v[0]);
	assert_string_equal(t, "orders.d/a.yaml:2:37: unknown salesperson \"anna\"; defined: ville");
	free(t);
	diag_list_clear(&dc);
	assert_string_equal(catalog_defs(c)->customers[0].salesperson, "anna");
	catalog_free(c);
}

static void assert_files(store *s, const defs_file *want, size_t n) {
	store_txn *t;
	defs_file *got;
	size_t ng;
	assert_int_equal(store_begin(s, false, &t), 0);
	assert_int_equal(store_defs_get(t, &got, &ng), 0);
	store_abort(t);
	assert_int_equal(ng, n);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(got[i].name, want[i].name);
		assert_int_equal(got[i].len, want[i].len);
		assert_memory_equal(got[i].data, want[i].data, want[i].len);
	}
	defs_files_free(got, ng);
}

/* catalog_load_dir (standingd --check, standingctl's offline commands): the set
 * and the errors are defs_load's, exactly. */
static void test_load_dir(void **state) {
	(void) state;
	char dir[] = "/tmp/test_catalog.XXXXXX", sub[64];
	assert_non_null(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/orders.d", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	tmpdir_write(dir, "standingd.yaml", "suppliers: [{id: s1, name: S}]\n");
	tmpdir_write(dir, "orders.d/a.yaml",
		   "customers: [{id: c1, name: C}]\n"
		   "standing_orders:\n"
		   "  - id: so1\n    customer: c1\n    supplier: s1\n"
		   "    ship_to: {name: N, street: S 1, postcode: '00100', city: H, country: FI}\n"
		   "    lines: [{sku: X, quantity: 1, unit_price: 1.00 EUR}]\n"
		   "    payment: prepaid\n"
		   "    schedule: {every: 1 week, start: 2027-01-04}\n");
	catalog *c = NULL;
	diag_list diags = { 0 };
	assert_int_equal(catalog_load_dir(dir, NULL, &c, &diags), 0);
	assert_int_equal(diags.n, 0);
	const defs *d = catalog_defs(c);
	assert_int_equal(d->n_customers, 1);
	assert_int_equal(d->n_orders, 1);
	assert_string_equal(d->orders[0].id, "so1");
	catalog_free(c);
	/* two errors in two files: exactly defs_load's, in its order */
	tmpdir_write(dir, "orders.d/a.yaml", "customers: [{id: c1}]\n");
	tmpdir_write(dir, "orders.d/b.yaml", "standing_orders: [{id: so2, customer: nobody}]\n");
	diag_list want = { 0 };
	defs *full = NULL;
	assert_int_equal(defs_load(dir, NULL, &full, &want), -EINVAL);
	assert_true(want.n >= 2);
	c = NULL;
	assert_int_equal(catalog_load_dir(dir, NULL, &c, &diags), -EINVAL);
	assert_null(c);
	assert_int_equal(diags.n, want.n);
	for (size_t i = 0; i < want.n; i++) {
		char *a = diag_format(&diags.v[i]), *b = diag_format(&want.v[i]);
		assert_string_equal(a, b);
		free(a);
		free(b);
	}
	diag_list_clear(&diags);
	diag_list_clear(&want);
	/* an unreadable set: the directory's error */
	assert_int_equal(catalog_load_dir("/nonexistent/standingd-conf", NULL, &c, &diags), -EINVAL);
	assert_true(diags.n >= 1);
	diag_list_clear(&diags);
	tmpdir_remove(dir);
}

/* The last good set as stores before issue 8 kept it (one record, every file
 * inline) still loads; the next put keeps each file on its own, and a put that
 * changes one file leaves the others' values as they were. */
static void test_store_older_layout(void **state) {
	(void) state;
	char dir[] = "/tmp/test_catalog.XXXXXX";
	assert_non_null(mkdtemp(dir));
	store *s;
	store_options so = { 0 };
	assert_int_equal(store_open(dir, &so, &s), 0);
	store_close(s);
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
	assert_int_equal(mdb_env_set_mapsize(env, (size_t) 64 << 20), 0);
	assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
	static const char rec[] = "{\"v\":1,\"files\":[{\"name\":\"standingd.yaml\",\"data\":\"suppliers: []\\n\"},"
				  "{\"name\":\"orders.d/a.yaml\",\"data\":\"customers: [{id: c1, name: C}]\\n\"}]}";
	MDB_val k = { 4, (void *) "defs" }, v = { strlen(rec), (void *) rec };
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);

	defs_file files[] = {
		{ .name = "standingd.yaml", .data = "suppliers: []\n", .len = 14 },
		{ .name = "orders.d/a.yaml", .data = "customers: [{id: c1, name: C}]\n", .len = 31 },
		{ .name = "orders.d/b.yaml", .data = "customers: []\n", .len = 14 },
	};
	assert_int_equal(store_open(dir, &so, &s), 0);
	assert_files(s, files, 2);
	store_txn *t;
	assert_int_equal(store_begin(s, true, &t), 0);
	assert_int_equal(store_defs_put(t, files, 3), 0);
	assert_int_equal(store_commit(t), 0);
	assert_files(s, files, 3);
	files[1].data = "customers: [{id: c2, name: D}]\n";
	assert_int_equal(store_begin(s, true, &t), 0);
	assert_int_equal(store_defs_put(t, files, 2), 0);   /* b.yaml removed, a.yaml changed */
	assert_int_equal(store_commit(t), 0);
	assert_files(s, files, 2);
	store_close(s);

	/* each file is a value of its own; b.yaml's is gone */
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
	assert_int_equal(mdb_env_open(env, dir, MDB_RDONLY, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
	k = (MDB_val) { strlen("defs/orders.d/a.yaml"), (void *) "defs/orders.d/a.yaml" };
	assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
	assert_int_equal(v.mv_size, 31);
	assert_memory_equal(v.mv_data, files[1].data, 31);
	k = (MDB_val) { strlen("defs/orders.d/b.yaml"), (void *) "defs/orders.d/b.yaml" };
	assert_int_equal(mdb_get(txn, dbi, &k, &v), MDB_NOTFOUND);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	tmpdir_remove(dir);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_store_older_layout),
		cmocka_unit_test(test_reads_only_changes),
		cmocka_unit_test(test_thin),
		cmocka_unit_test(test_owners),
		cmocka_unit_test(test_salespeople_removed),
		cmocka_unit_test(test_random_edits),
		cmocka_unit_test(test_order_ids),
		cmocka_unit_test(test_link_threads),
		cmocka_unit_test(test_load_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
