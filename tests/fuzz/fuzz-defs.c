/* The YAML definition loader (defs_load_files, in memory). The input is either
 * one orders.d file, loaded with the example standingd.yaml (conf/), or a whole
 * set: parts separated by lines "%%%%", the first being standingd.yaml and each
 * further one orders.d/NN.yaml.
 * Invariants: a refusal is -EINVAL with at least one diag, each naming one of the
 * files with a line (but the "N more errors not shown" summaries); an accepted
 * set is sorted and unique by id, every rule passes rule_validate, loading it
 * again gives the same hashes, and its schedules answer rule_next consistently
 * (strictly later, create_at = delivery - lead_time, the same occurrence from
 * just before it, rule_each, rule_nth_after and rule_count agreeing with it). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lib/defs/defs.h"
#include "tests/fuzz/fuzz.h"

#define SEP "%%%%"
#define MAX_FILES 8

static defs_file conf;   /* conf/standingd.yaml */

static void load_conf(void) {
	if (conf.name)
		return;
	FILE *f = fopen(SRCDIR "/conf/standingd.yaml", "rb");
	FUZZ_CHECK(f, "cannot open %s", SRCDIR "/conf/standingd.yaml");
	static char buf[65536];
	conf.len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	conf.data = buf;
	conf.name = "standingd.yaml";
}

/* Splits data at lines that are exactly SEP (at most MAX_FILES parts; further
 * separators stay text). Returns the number of parts: 1 when there is none. */
static size_t split(const uint8_t *data, size_t size, defs_file files[MAX_FILES], char names[MAX_FILES][32]) {
	const size_t sl = strlen(SEP);
	size_t n = 0, start = 0, i = 0;
	for (;;) {
		size_t eol = i;
		while (eol < size && data[eol] != '\n')
			eol++;
		if (n < MAX_FILES - 1 && eol - i == sl && !memcmp(data + i, SEP, sl)) {
			files[n] = (defs_file) { .name = names[n], .data = (char *) data + start, .len = i - start };
			n++;
			start = eol < size ? eol + 1 : size;
		}
		if (eol >= size)
			break;
		i = eol + 1;
	}
	files[n] = (defs_file) { .name = names[n], .data = (char *) data + start, .len = size - start };
	n++;
	for (size_t k = 0; k < n; k++) {
		if (k == 0)
			snprintf(names[k], 32, "standingd.yaml");
		else
			snprintf(names[k], 32, "orders.d/%02u.yaml", (unsigned) k % 100);
	}
	return n;
}

/* "N more errors not shown", exactly */
static bool is_summary(const char *msg) {
	static const char tail[] = " more errors not shown";
	size_t digits = msg ? strspn(msg, "0123456789") : 0;
	return digits > 0 && !strcmp(msg + digits, tail);
}

typedef struct each_state {
	int64_t last;
	size_t n;
	occurrence first;
} each_state;

static int each_fn(const occurrence *o, void *ud) {
	each_state *s = ud;
	FUZZ_CHECK(s->n == 0 || o->delivery > s->last, "rule_each out of order");
	if (s->n == 0)
		s->first = *o;
	s->last = o->delivery;
	return ++s->n >= 2000;
}

static void check_rule(const standing_order *so) {
	const char *why;
	FUZZ_CHECK(rule_validate(&so->rule, &why) == 0, "%s: rule_validate: %s", so->id, why);
	occurrence o, o2;
	int r = rule_next(&so->rule, FUZZ_NOW, &o);
	FUZZ_CHECK(r == 0 || r == -ENOENT, "%s: rule_next: %d", so->id, r);
	if (r == 0) {
		FUZZ_CHECK(o.delivery > FUZZ_NOW, "%s: rule_next not after now", so->id);
		FUZZ_CHECK(o.create_at == o.delivery - so->rule.lead_time, "%s: create_at", so->id);
		FUZZ_CHECK(rule_next(&so->rule, o.delivery - 1, &o2) == 0 && o2.delivery == o.delivery &&
			   o2.n == o.n, "%s: rule_next from just before differs", so->id);
		r = rule_next(&so->rule, o.delivery, &o2);
		FUZZ_CHECK(r == -ENOENT || (r == 0 && o2.delivery > o.delivery && (o2.n > o.n || o.n == RULE_N_UNKNOWN)),
			   "%s: the occurrence after %lld", so->id, (long long) o.delivery);
	}
	/* rule_nth_after and rule_count agree with repeated rule_next (rule_count looks
	 * for spring-forward gaps over at most 1,000 years) */
	bool utc = !strcmp(tz_zone_name(so->rule.zone), "UTC");
	int64_t t = FUZZ_NOW;
	for (uint64_t i = 0; i < 4 && rule_next(&so->rule, t, &o) == 0; i++) {
		uint64_t cnt;
		FUZZ_CHECK(rule_nth_after(&so->rule, FUZZ_NOW, i, &o2) == 0 && o2.delivery == o.delivery,
			   "%s: rule_nth_after(%llu)", so->id, (unsigned long long) i);
		FUZZ_CHECK(rule_count(&so->rule, FUZZ_NOW, o.delivery + 1, &cnt) == 0 &&
			   (utc || o.delivery - FUZZ_NOW < FUZZ_EXACT_SPAN ? cnt == i + 1 : cnt >= i + 1), "%s: rule_count %llu, want %llu", so->id,
			   (unsigned long long) cnt, (unsigned long long) i + 1);
		t = o.delivery;
	}
	each_state s = { 0 };
	r = rule_each(&so->rule, FUZZ_NOW + 1, FUZZ_NOW + 2 * 86400, each_fn, &s);
	FUZZ_CHECK(r >= 0, "%s: rule_each: %d", so->id, r);
	if (s.n > 0) {
		int q = rule_next(&so->rule, FUZZ_NOW, &o);
		FUZZ_CHECK(q == 0 && o.delivery == s.first.delivery, "%s: rule_each and rule_next disagree", so->id);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	defs_file files[MAX_FILES];
	char names[MAX_FILES][32];
	size_t n;
	n = split(data, size, files, names);
	if (n == 1) {
		load_conf();
		files[0] = conf;
		files[1] = (defs_file) { .name = "orders.d/fuzz.yaml", .data = (char *) data, .len = size };
		n = 2;
	}
	defs *d = NULL;
	diag_list diags = { 0 };
	int r = defs_load_files(files, n, NULL, &d, &diags);
	FUZZ_CHECK(r == 0 || r == -EINVAL, "defs_load_files: %s", strerror(-r));
	if (r < 0) {
		FUZZ_CHECK(diags.n > 0, "refused without a message");
		for (size_t i = 0; i < diags.n; i++) {
			const diag *g = &diags.v[i];
			bool known = false;
			for (size_t k = 0; g->file && k < n; k++)
				known |= !strcmp(g->file, files[k].name);
			/* the loader caps errors per file (and of the cross-file checks) with a
			 * summary line, which has no position */
			bool summary = g->line == 0 && is_summary(g->msg);
			FUZZ_CHECK(summary ? g->line == 0 && (known || !g->file) :
				   known && g->line >= 1 && g->col >= 0 && g->msg && g->msg[0],
				   "diag %s:%d:%d: %s", g->file ? g->file : "(null)", g->line, g->col,
				   g->msg ? g->msg : "(null)");
		}
		diag_list_clear(&diags);
		return 0;
	}
	diag_list_clear(&diags);
	for (size_t i = 0; i < d->n_orders; i++) {
		const standing_order *so = &d->orders[i];
		FUZZ_CHECK(i == 0 || strcmp(d->orders[i - 1].id, so->id) < 0, "orders not sorted/unique");
		FUZZ_CHECK(defs_find_order(d, so->id) == so, "defs_find_order(%s)", so->id);
		FUZZ_CHECK(so->customer && defs_find_customer(d, so->customer->id) == so->customer, "customer");
		FUZZ_CHECK(so->n_lines >= 1, "%s without lines", so->id);
		check_rule(so);
	}
	for (size_t i = 0; i < d->n_customers; i++)
		FUZZ_CHECK(i == 0 || strcmp(d->customers[i - 1].id, d->customers[i].id) < 0, "customers not sorted/unique");
	defs *d2 = NULL;
	r = defs_load_files(files, n, NULL, &d2, &diags);
	FUZZ_CHECK(r == 0 && d2->n_orders == d->n_orders, "a second load differs");
	for (size_t i = 0; i < d->n_orders; i++)
		FUZZ_CHECK(d->orders[i].hash == d2->orders[i].hash, "%s: hash differs between loads", d->orders[i].id);
	diag_list_clear(&diags);
	defs_free(d2);
	defs_free(d);
	return 0;
}
