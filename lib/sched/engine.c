/* The heap holds one entry per standing order that has a next occurrence; the
 * schedule state (watermark) is cached per standing order and mirrors the store:
 * the engine is the store's only writer, and a failed batch reloads the cache. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lib/sched/engine.h"
#include "lib/sales/sales.h"

#define SKIP_DETAIL_MAX 1000     /* more skipped occurrences than this are summarised in one record */

typedef struct heap_ent {
	int64_t at;
	size_t idx;              /* into defs->orders */
} heap_ent;

struct engine {
	store *s;
	engine_hooks hooks;
	const defs *d;
	sched_state *state;      /* per defs->orders index */
	heap_ent *heap;
	size_t n_heap;
	engine_stats stats;
	int64_t grace;
	sales_order *done;       /* created in the open batch; hooks run after commit */
	size_t n_done, cap_done;
	struct skip_note { size_t idx; int64_t delivery; char reason[96]; } *skips;
	size_t n_skips, cap_skips;
};

static bool heap_less(const heap_ent *a, const heap_ent *b) {
	return a->at < b->at || (a->at == b->at && a->idx < b->idx);
}

static void sift_down(engine *e, size_t i) {
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		if (l < e->n_heap && heap_less(&e->heap[l], &e->heap[m]))
			m = l;
		if (l + 1 < e->n_heap && heap_less(&e->heap[l + 1], &e->heap[m]))
			m = l + 1;
		if (m == i)
			return;
		heap_ent t = e->heap[i];
		e->heap[i] = e->heap[m];
		e->heap[m] = t;
		i = m;
	}
}

/* Next occurrence after the watermark, whatever its create_at. */
static int next_after_watermark(const standing_order *so, const sched_state *st, occurrence *ret) {
	return rule_next(&so->rule, st->watermark, ret);
}

static void rebuild_heap(engine *e) {
	e->n_heap = 0;
	e->stats.active = e->stats.paused = 0;
	if (!e->d)
		return;
	for (size_t i = 0; i < e->d->n_orders; i++) {
		const standing_order *so = &e->d->orders[i];
		occurrence o;
		if (so->rule.paused)
			e->stats.paused++;
		else
			e->stats.active++;
		if (next_after_watermark(so, &e->state[i], &o) == 0)
			e->heap[e->n_heap++] = (heap_ent) { .at = o.create_at, .idx = i };
	}
	for (size_t i = e->n_heap / 2; i-- > 0;)
		sift_down(e, i);
}

int engine_new(store *s, const engine_hooks *hooks, engine **ret) {
	engine *e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->s = s;
	e->grace = ENGINE_GRACE;
	if (hooks)
		e->hooks = *hooks;
	*ret = e;
	return 0;
}

void engine_free(engine *e) {
	if (!e)
		return;
	free(e->state);
	free(e->heap);
	free(e->done);
	free(e->skips);
	free(e);
}

/* A cron schedule without `start` begins when the engine first sees it: nothing it
 * matched before that is ever created. */
static bool starts_when_seen(const standing_order *so, const sched_state *st) {
	return so->rule.kind == RULE_CRON && so->rule.start_day == INT64_MIN && st->watermark == INT64_MIN;
}

/* Loads every standing order's state from the store (new ones start with no
 * watermark). */
static int load_state(engine *e, store_txn *t, const defs *d, sched_state *state) {
	for (size_t i = 0; i < d->n_orders; i++) {
		int r = store_sched_get(t, d->orders[i].id, &state[i]);
		if (r == -ENOENT)
			state[i] = (sched_state) { .watermark = INT64_MIN };
		else if (r < 0)
			return r;
	}
	(void) e;
	return 0;
}

static int collect_removed(const char *so_id, const sched_state *st, void *ud) {
	char ***list = ud;
	(void) st;
	if (!st->active)
		return 0;
	size_t n = 0;
	while ((*list)[n])
		n++;
	char **v = realloc(*list, (n + 2) * sizeof(char *));
	if (!v)
		return -ENOMEM;
	v[n] = strdup(so_id);
	v[n + 1] = NULL;
	*list = v;
	return v[n] ? 0 : -ENOMEM;
}

static int put_sources(store_txn *t, const defs *d, const engine_sources *src) {
	int r = 0;
	if (src && src->files && (r = store_defs_put(t, src->files, src->n_files)) < 0)
		return r;
	if (src && src->api && (r = store_api_defs_put(t, src->api, src->n_api)) < 0)
		return r;
	if (src && src->also && (r = src->also(t, d, src->also_ud)) < 0)
		return r;
	return 0;
}

/* engine_apply after the first: old and new definitions are both sorted by id,
 * so one merge pass pairs them. A standing order whose hash did not change keeps
 * its cached state and heap entry (only its index moves); only the changed, new
 * and removed ones touch the store or call rule_next(). */
static int apply_changes(engine *e, const defs *d, const engine_sources *src) {
	const defs *od = e->d;
	size_t n = d->n_orders;
	/* state and moved are written for every index below, heap up to its count */
	sched_state *state = malloc((n ? n : 1) * sizeof(*state));
	heap_ent *heap = malloc((n ? n : 1) * sizeof(*heap));
	size_t *moved = malloc((od->n_orders ? od->n_orders : 1) * sizeof(*moved));   /* old idx -> new, SIZE_MAX: redone */
	bool *fresh = calloc(n ? n : 1, sizeof(*fresh));
	store_txn *t = NULL;
	int r = -ENOMEM;
	if (!state || !heap || !moved || !fresh)
		goto out;
	if ((r = store_begin(e->s, true, &t)) < 0)
		goto out;
	size_t i = 0, j = 0;
	while (i < od->n_orders || j < n) {
		/* the catalog's sets share the strings of unchanged files: equal pointers, equal ids */
		int cmp = i >= od->n_orders ? 1 : j >= n ? -1 :
			  od->orders[i].id == d->orders[j].id ? 0 : strcmp(od->orders[i].id, d->orders[j].id);
		if (cmp < 0) {
			/* gone from the definitions: deactivate, keep history */
			sched_state st = e->state[i];
			moved[i++] = SIZE_MAX;
			st.active = false;
			if ((r = store_sched_put(t, od->orders[i - 1].id, &st)) < 0)
				goto out;
			continue;
		}
		if (cmp == 0 && e->state[i].active && od->orders[i].hash == d->orders[j].hash) {
			state[j] = e->state[i];
			moved[i++] = j++;
			continue;
		}
		if (cmp == 0)
			moved[i++] = SIZE_MAX;
		r = store_sched_get(t, d->orders[j].id, &state[j]);
		if (r == -ENOENT)
			state[j] = (sched_state) { .watermark = INT64_MIN };
		else if (r < 0)
			goto out;
		fresh[j] = true;
		bool first_seen = src && src->now != 0 && starts_when_seen(&d->orders[j], &state[j]);
		if (first_seen)
			state[j].watermark = src->now;
		else if (state[j].active && state[j].def_hash == d->orders[j].hash) {
			j++;
			continue;
		}
		state[j].active = true;
		state[j].def_hash = d->orders[j].hash;
		if ((r = store_sched_put(t, d->orders[j].id, &state[j])) < 0)
			goto out;
		j++;
	}
	if ((r = put_sources(t, d, src)) < 0)
		goto out;
	r = store_commit(t);
	t = NULL;
	if (r < 0)
		goto out;
	/* the heap: kept entries renumbered, the redone ones computed, then heapified */
	size_t nh = 0;
	for (size_t k = 0; k < e->n_heap; k++)
		if (moved[e->heap[k].idx] != SIZE_MAX)
			heap[nh++] = (heap_ent) { .at = e->heap[k].at, .idx = moved[e->heap[k].idx] };
	e->stats.active = e->stats.paused = 0;
	for (size_t k = 0; k < n; k++) {
		if (d->orders[k].rule.paused)
			e->stats.paused++;
		else
			e->stats.active++;
		occurrence o;
		if (fresh[k] && next_after_watermark(&d->orders[k], &state[k], &o) == 0)
			heap[nh++] = (heap_ent) { .at = o.create_at, .idx = k };
	}
	free(e->state);
	free(e->heap);
	e->state = state;
	e->heap = heap;
	e->n_heap = nh;
	e->d = d;
	for (size_t k = e->n_heap / 2; k-- > 0;)
		sift_down(e, k);
	state = NULL;
	heap = NULL;
	r = 0;
out:
	store_abort(t);
	free(state);
	free(heap);
	free(moved);
	free(fresh);
	return r;
}

int engine_apply(engine *e, const defs *d, const engine_sources *src) {
	if (e->d)
		return apply_changes(e, d, src);
	sched_state *state = calloc(d->n_orders ? d->n_orders : 1, sizeof(*state));
	heap_ent *heap = calloc(d->n_orders ? d->n_orders : 1, sizeof(*heap));
	char **known = calloc(1, sizeof(char *));
	store_txn *t = NULL;
	int r = -ENOMEM;
	if (!state || !heap || !known)
		goto fail;
	r = store_begin(e->s, true, &t);
	if (r < 0)
		goto fail;
	r = load_state(e, t, d, state);
	if (r < 0)
		goto fail;
	for (size_t i = 0; i < d->n_orders; i++) {
		bool first_seen = src && src->now != 0 && starts_when_seen(&d->orders[i], &state[i]);
		if (first_seen)
			state[i].watermark = src->now;
		else if (state[i].active && state[i].def_hash == d->orders[i].hash)
			continue;
		state[i].active = true;
		state[i].def_hash = d->orders[i].hash;
		r = store_sched_put(t, d->orders[i].id, &state[i]);
		if (r < 0)
			goto fail;
	}
	/* Standing orders that are gone from the definitions: deactivate, keep history. */
	r = store_sched_each(t, collect_removed, &known);
	if (r < 0)
		goto fail;
	for (char **k = known; *k; k++) {
		if (defs_find_order(d, *k))
			continue;
		sched_state st;
		r = store_sched_get(t, *k, &st);
		if (r < 0)
			goto fail;
		st.active = false;
		r = store_sched_put(t, *k, &st);
		if (r < 0)
			goto fail;
	}
	if ((r = put_sources(t, d, src)) < 0)
		goto fail;
	r = store_commit(t);
	t = NULL;
	if (r < 0)
		goto fail;
	free(e->state);
	free(e->heap);
	e->state = state;
	e->heap = heap;
	e->d = d;
	rebuild_heap(e);
	for (char **k = known; *k; k++)
		free(*k);
	free(known);
	return 0;
fail:
	store_abort(t);
	for (char **k = known; k && *k; k++)
		free(*k);
	free(known);
	free(state);
	free(heap);
	return r;
}

int engine_next_due(const engine *e, int64_t *ret_at) {
	if (e->n_heap == 0)
		return -ENOENT;
	*ret_at = e->heap[0].at;
	return 0;
}

int engine_occurrence_state(store_txn *t, const char *so_id, int64_t watermark, int64_t delivery) {
	char number[ORDER_NUMBER_MAX];
	int r = store_occurrence_get(t, so_id, delivery, number);
	if (r == 0)
		return ENGINE_OCC_CREATED;   /* also past the watermark, when an edit moved it back */
	if (r != -ENOENT)
		return r;
	if (delivery <= watermark)
		return ENGINE_OCC_SKIPPED;   /* passed without an order: a policy, paused, before start */
	r = store_skip_get(t, so_id, delivery, NULL);
	return r == 0 ? ENGINE_OCC_SKIPPED : r == -ENOENT ? ENGINE_OCC_PENDING : r;
}

int engine_next_pending(store_txn *t, const standing_order *so, int64_t watermark, occurrence *ret) {
	occurrence o;
	int64_t after = watermark;
	for (int i = 0; i < ENGINE_LOOKAHEAD; i++) {
		int r = rule_next(&so->rule, after, &o);
		if (r < 0)
			return r;
		if ((r = engine_occurrence_state(t, so->id, watermark, o.delivery)) < 0)
			return r;
		if (r == ENGINE_OCC_PENDING) {
			*ret = o;
			return 0;
		}
		after = o.delivery;
	}
	return -ELOOP;
}

typedef struct peek_best {
	int64_t at;
	size_t idx;
	int err;
} peek_best;

/* The heap orders by the raw next create_at, a lower bound of the next one to be
 * created; a subtree whose root is not below the best found so far is passed over,
 * so only the paused and skipped entries ahead of the answer (and their children)
 * are looked at. */
static void peek_visit(const engine *e, store_txn *t, size_t i, peek_best *best) {
	if (i >= e->n_heap || best->err)
		return;
	const heap_ent *h = &e->heap[i];
	if (best->idx != SIZE_MAX && !heap_less(h, &(heap_ent) { .at = best->at, .idx = best->idx }))
		return;
	const standing_order *so = &e->d->orders[h->idx];
	occurrence o;
	bool exact = false;
	if (!so->rule.paused) {
		int r = engine_next_pending(t, so, e->state[h->idx].watermark, &o);
		if (r == 0) {
			heap_ent cand = { .at = o.create_at, .idx = h->idx };
			exact = cand.at == h->at;
			if (best->idx == SIZE_MAX || heap_less(&cand, &(heap_ent) { .at = best->at, .idx = best->idx }))
				*best = (peek_best) { .at = cand.at, .idx = cand.idx };
		} else if (r != -ENOENT && r != -ELOOP) {
			best->err = r;
			return;
		}
	}
	if (exact)
		return;   /* its children come no earlier */
	peek_visit(e, t, 2 * i + 1, best);
	peek_visit(e, t, 2 * i + 2, best);
}

int engine_peek(const engine *e, store_txn *t, const standing_order **ret_so, int64_t *ret_at) {
	peek_best best = { .idx = SIZE_MAX };
	peek_visit(e, t, 0, &best);
	if (best.err)
		return best.err;
	if (best.idx == SIZE_MAX)
		return -ENOENT;
	if (ret_so)
		*ret_so = &e->d->orders[best.idx];
	if (ret_at)
		*ret_at = best.at;
	return 0;
}

void engine_get_stats(const engine *e, engine_stats *ret) {
	*ret = e->stats;
}

static int note_skip(engine *e, store_txn *t, size_t idx, int64_t delivery, int64_t now, const char *reason) {
	int r = sales_skip_occurrence_in(t, e->d->orders[idx].id, delivery, now, reason);
	if (r < 0)
		return r;
	if (e->n_skips == e->cap_skips) {
		size_t cap = e->cap_skips ? e->cap_skips * 2 : 64;
		void *v = realloc(e->skips, cap * sizeof(*e->skips));
		if (!v)
			return -ENOMEM;
		e->skips = v;
		e->cap_skips = cap;
	}
	struct skip_note *s = &e->skips[e->n_skips++];
	s->idx = idx;
	s->delivery = delivery;
	snprintf(s->reason, sizeof(s->reason), "%s", reason);
	return 0;
}

static int create_order(engine *e, store_txn *t, size_t idx, const occurrence *o, int64_t now) {
	const standing_order *so = &e->d->orders[idx];
	if (e->n_done == e->cap_done) {
		size_t cap = e->cap_done ? e->cap_done * 2 : 64;
		void *v = realloc(e->done, cap * sizeof(*e->done));
		if (!v)
			return -ENOMEM;
		e->done = v;
		e->cap_done = cap;
	}
	int r = sales_create_occurrence_in(t, so, o, now, o->create_at < now - e->grace, &e->done[e->n_done]);
	if (r == -EEXIST)
		return 0;   /* created before (an edit moved the watermark back): never twice */
	if (r < 0)
		return r;
	e->n_done++;
	return 1;
}

static int64_t sat_add(int64_t a, int64_t b) {
	int64_t r;
	return __builtin_add_overflow(a, b, &r) ? (b > 0 ? INT64_MAX : INT64_MIN) : r;
}

/* Handles one standing order's due occurrences within *budget writes. Missed
 * occurrences (create_at before now - grace) are counted first so the policy can
 * pick the most recent ones without holding them all in memory. */
static int process_order(engine *e, store_txn *t, size_t idx, int64_t now, size_t *budget) {
	const standing_order *so = &e->d->orders[idx];
	sched_state *st = &e->state[idx];
	occurrence o;
	uint64_t missed = 0;
	int r;

	if (starts_when_seen(so, st))
		st->watermark = now;   /* applied without a `now` (engine_sources.now 0) */

	/* Missed: create_at < now - grace, i.e. delivery < now - grace + lead_time;
	 * paused: everything due (create_at <= now). Counted, not visited. */
	int64_t lead = so->rule.lead_time;
	int64_t before = so->rule.paused ? sat_add(sat_add(now, lead), 1) : sat_add(now - e->grace, lead);
	if ((r = rule_count(&so->rule, st->watermark, before, &missed)) < 0)
		return r;

	uint64_t cap = e->d->config.max_catch_up;
	uint64_t skip = 0;
	const char *why = NULL;
	char why_buf[64];
	if (so->rule.paused) {
		skip = missed;
		why = "paused";
	} else if (so->catch_up == CATCH_UP_NONE) {
		skip = missed;
		why = "catch_up: none";
	} else if (so->catch_up == CATCH_UP_LATEST) {
		skip = missed ? missed - 1 : 0;
		why = "catch_up: latest";
	} else if (missed > cap) {
		skip = missed - cap;
		snprintf(why_buf, sizeof(why_buf), "catch_up: all, beyond max_catch_up %llu", (unsigned long long) cap);
		why = why_buf;
	}

	/* The skipped ones end at the skip-th occurrence (found by index, not by walking);
	 * everything after it that is due gets created. */
	int64_t cutoff = INT64_MIN;
	if (skip > 0) {
		if ((r = rule_nth_after(&so->rule, st->watermark, skip - 1, &o)) < 0)
			return r;
		cutoff = o.delivery;
	}
	/* A huge backlog is summarised: one record at the last skipped occurrence. */
	if (skip > SKIP_DETAIL_MAX) {
		char reason[160];
		snprintf(reason, sizeof(reason), "%s (%llu occurrences skipped, up to this one)", why,
			 (unsigned long long) skip);
		if ((r = note_skip(e, t, idx, cutoff, now, reason)) < 0)
			return r;
		st->watermark = cutoff;
		st->skipped += skip;
		e->stats.skipped += skip;
		(*budget)--;
		skip = 0;
	}

	while (*budget > 0) {
		r = rule_next(&so->rule, st->watermark, &o);
		if (r == -ENOENT || (r == 0 && o.create_at > now))
			break;
		if (r < 0)
			return r;
		if (skip > 0 && o.delivery <= cutoff) {
			/* a skip requested in advance keeps its record: who asked is the audit */
			if ((r = store_skip_get(t, so->id, o.delivery, NULL)) == -ENOENT)
				r = note_skip(e, t, idx, o.delivery, now, why);
			if (r < 0)
				return r;
			skip--;
			st->skipped++;
			e->stats.skipped++;
		} else if ((r = store_skip_get(t, so->id, o.delivery, NULL)) == 0) {
			/* skipped in advance (SkipOccurrence): the record is already there */
			st->skipped++;
			e->stats.skipped++;
		} else if (r != -ENOENT) {
			return r;
		} else if ((r = create_order(e, t, idx, &o, now)) == -ERANGE) {
			/* The total is never representable (sales wrote nothing): record it,
			 * rather than fail this batch (and so every other standing order) on
			 * each retry. */
			if ((r = note_skip(e, t, idx, o.delivery, now, "order total out of range")) < 0)
				return r;
			st->skipped++;
			e->stats.skipped++;
		} else if (r < 0) {
			return r;
		} else {
			st->created += (uint64_t) r;
		}
		st->watermark = o.delivery;
		(*budget)--;
	}
	return store_sched_put(t, so->id, st);
}

static int reload_after_failure(engine *e) {
	store_txn *t;
	int r = store_begin(e->s, false, &t);
	if (r < 0)
		return r;
	r = load_state(e, t, e->d, e->state);
	store_abort(t);
	rebuild_heap(e);
	return r;
}

int engine_run(engine *e, int64_t now, size_t max_batches) {
	int created = 0;
	for (size_t batch = 0; batch < max_batches && e->n_heap > 0 && e->heap[0].at <= now; batch++) {
		store_txn *t;
		int r = store_begin(e->s, true, &t);
		if (r < 0)
			return r;
		e->n_done = e->n_skips = 0;
		size_t budget = ENGINE_BATCH;
		while (budget > 0 && e->n_heap > 0 && e->heap[0].at <= now) {
			size_t idx = e->heap[0].idx;
			r = process_order(e, t, idx, now, &budget);
			if (r < 0)
				break;
			occurrence o;
			if (next_after_watermark(&e->d->orders[idx], &e->state[idx], &o) == 0)
				e->heap[0].at = o.create_at;
			else
				e->heap[0] = e->heap[--e->n_heap];
			sift_down(e, 0);
		}
		if (r >= 0) {
			r = store_commit(t);
			t = NULL;
		}
		if (r < 0) {
			store_abort(t);
			reload_after_failure(e);
			return r;
		}
		created += (int) e->n_done;
		e->stats.created += e->n_done;
		for (size_t i = 0; i < e->n_done && e->hooks.created; i++)
			e->hooks.created(&e->done[i], e->hooks.ud);
		for (size_t i = 0; i < e->n_skips && e->hooks.skipped; i++)
			e->hooks.skipped(&e->d->orders[e->skips[i].idx], e->skips[i].delivery,
					 e->skips[i].reason, e->hooks.ud);
	}
	return created;
}

void engine_set_grace(engine *e, int64_t seconds) {
	e->grace = seconds;
}
