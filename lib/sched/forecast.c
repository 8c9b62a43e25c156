#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "lib/time/cal.h"
#include "lib/sched/forecast.h"

static int push(const occurrence *o, void *userdata) {
	void **ctx = userdata;
	forecast *f = ctx[0];
	if (f->limit && f->n >= f->limit)
		return -E2BIG;
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 64;
		forecast_item *v = realloc(f->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		f->v = v;
		f->cap = cap;
	}
	f->v[f->n++] = (forecast_item) { .so = ctx[1], .occ = *o };
	return 0;
}

int forecast_order(const standing_order *so, int64_t from_day, int64_t to_day, forecast *ret) {
	if (so->rule.paused)
		return 0;
	const tz_zone *z = so->rule.zone;
	int64_t from = tz_from_local(z, from_day * CAL_SECS_PER_DAY);
	int64_t to = tz_from_local(z, to_day * CAL_SECS_PER_DAY);
	void *ctx[2] = { ret, (void *) so };
	return rule_each(&so->rule, from, to, push, ctx);
}

int forecast_collect(const defs *d, int64_t from_day, int64_t to_day, forecast *ret) {
	for (size_t i = 0; i < d->n_orders; i++) {
		int r = forecast_order(&d->orders[i], from_day, to_day, ret);
		if (r < 0)
			return r;
	}
	forecast_sort(ret);
	return 0;
}

static int cmp_item(const void *a, const void *b) {
	const forecast_item *x = a, *y = b;
	if (x->occ.delivery != y->occ.delivery)
		return x->occ.delivery < y->occ.delivery ? -1 : 1;
	int c = strcmp(x->so->id, y->so->id);
	if (c)
		return c;
	return x->occ.n < y->occ.n ? -1 : x->occ.n > y->occ.n;
}

void forecast_sort(forecast *f) {
	if (f->n)
		qsort(f->v, f->n, sizeof(*f->v), cmp_item);
}

void forecast_clear(forecast *f) {
	free(f->v);
	f->v = NULL;
	f->n = f->cap = 0;
}
