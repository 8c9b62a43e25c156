/* The heap holds one entry per standing order that has a next occurrence, and one
 * per `before:` reminder that has a next reminder instant (delivery - offset); the
 * schedule state (watermark) is cached per standing order, and each reminder's
 * watermark (`through`, doc/crm.md) per reminder; both mirror the store: the engine
 * is their only writer, and a failed batch reloads the cache. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lib/defs/pack.h"
#include "lib/sched/engine.h"
#include "lib/sales/crm.h"
#include "lib/sales/sales.h"

#define SKIP_DETAIL_MAX 1000     /* more skipped occurrences than this are summarised in one record */

/* Indexes are 32-bit: engine_apply refuses more than ENGINE_MAX_ENTRIES standing
 * orders or reminders, so UINT32_MAX stays free as the sentinel. */
#define NO_REM ENGINE_NO_REM
#define NO_IDX UINT32_MAX

/* A heap entry: its instant as the bytes of an int64_t in two 32-bit words (read
 * and written with memcpy: ent_at, ent_set_at), so that the entry is 4-aligned
 * and 12 bytes, and one index: a standing order's next create_at (who: its index
 * in defs->orders) or, with HEAP_REM set, a `before:` reminder's next instant
 * (who: HEAP_REM | its index in engine.rems). ENGINE_MAX_ENTRIES keeps both
 * indexes below HEAP_REM and who below NO_IDX, apply_known's mark. */
typedef struct heap_ent {
	uint32_t at[2];
	uint32_t who;
} heap_ent;
_Static_assert(sizeof(heap_ent) == 12, "one heap entry per standing order and reminder");
#define HEAP_REM 0x80000000u
_Static_assert(ENGINE_MAX_ENTRIES < HEAP_REM, "indexes below HEAP_REM, HEAP_REM | index below NO_IDX");

static int64_t ent_at(const heap_ent *h) {
	int64_t at;
	memcpy(&at, h->at, sizeof(at));
	return at;
}

static void ent_set_at(heap_ent *h, int64_t at) {
	memcpy(h->at, &at, sizeof(at));
}

/* A standing order's entry (idx) or, with rem not NO_REM, reminder rem's. */
static heap_ent ent_of(int64_t at, uint32_t idx, uint32_t rem) {
	heap_ent h = { .who = rem == NO_REM ? idx : HEAP_REM | rem };
	ent_set_at(&h, at);
	return h;
}

/* The reminder of a reminder's entry; NO_REM for a standing order's. */
static uint32_t ent_rem(const heap_ent *h) {
	return h->who & HEAP_REM ? h->who & ~HEAP_REM : NO_REM;
}

/* What the loop keeps of a standing order's stored state (sched_state, 40 bytes):
 * the watermark. The rest is known or read when the state is written: every
 * standing order of the running set is active and its stored def_hash is its hash
 * (engine_apply writes both); the counts are the store's, which state_put adds to. */
typedef struct so_state {
	int64_t watermark;
} so_state;
_Static_assert(sizeof(so_state) == 8, "one per standing order");

/* A `before:` reminder: every occurrence whose reminder instant is at or before
 * through has been handled (INT64_MIN: not seen yet; it starts at the first now). */
typedef struct rem_state {
	int64_t through;
	uint64_t hash;           /* crm_reminder_hash's 16 hex digits as a number */
	uint32_t idx;            /* its standing order */
	uint32_t k;              /* its index in the standing order's reminders */
} rem_state;

static const reminder *rem_of(const defs *d, const rem_state *rs) {
	return &d->orders[rs->idx].bulk->reminders[rs->k];
}

struct engine {
	store *s;
	engine_hooks hooks;
	const defs *d;
	so_state *state;         /* per defs->orders index */
	heap_ent *heap;          /* room for every standing order and reminder */
	size_t n_heap, cap_heap;
	size_t cap_state;        /* room in state */
	/* The `before:` reminders, grouped by standing order in index order (idx
	 * ascending; within one, in the order of its reminders): load_rems and
	 * apply_known build them so, and rem_lo() relies on it. */
	rem_state *rems;
	size_t n_rems;
	engine_stats stats;
	int64_t grace;
	sales_order *done;       /* created in the open batch; hooks run after commit */
	size_t n_done, cap_done;
	struct skip_note { uint32_t idx; int64_t delivery; char reason[96]; } *skips;
	size_t n_skips, cap_skips;
	/* The open batch's full standing orders (sales_so_full): the bulk read into
	 * scratch, which the orders in done point into, reset when the next batch
	 * begins; full is that of orders[full_idx - 1] (0: none). */
	struct defs_arena *scratch;
	standing_order full;
	size_t full_idx;
	size_t bad_idx;          /* engine_bulk_damaged: orders[bad_idx - 1]; 0: none */
};

/* The standing order of an entry (a reminder's read in e->rems). */
static uint32_t ent_idx(const engine *e, const heap_ent *h) {
	return h->who & HEAP_REM ? e->rems[h->who & ~HEAP_REM].idx : h->who;
}

/* Entries in the order of (at, standing order, reminder), a standing order's own
 * after its reminders' (NO_REM): the order of creation on ties; the standing order
 * of a reminder's entry is read only on a tie, in e->rems, which must be numbered
 * as the entries are. An entry marked for removal (who NO_IDX: only inside
 * apply_known) comes before every other. */
static bool heap_less(const engine *e, const heap_ent *a, const heap_ent *b) {
	if (a->who == NO_IDX || b->who == NO_IDX)
		return a->who == NO_IDX && b->who != NO_IDX;
	int64_t x = ent_at(a), y = ent_at(b);
	if (x != y)
		return x < y;
	if (a->who == b->who)
		return false;
	uint32_t ia = ent_idx(e, a), ib = ent_idx(e, b);
	return ia < ib || (ia == ib && ent_rem(a) < ent_rem(b));
}

static void sift_up(engine *e, size_t i) {
	while (i > 0 && heap_less(e, &e->heap[i], &e->heap[(i - 1) / 2])) {
		heap_ent t = e->heap[i];
		e->heap[i] = e->heap[(i - 1) / 2];
		e->heap[(i - 1) / 2] = t;
		i = (i - 1) / 2;
	}
}

static void sift_down(engine *e, size_t i) {
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		if (l < e->n_heap && heap_less(e, &e->heap[l], &e->heap[m]))
			m = l;
		if (l + 1 < e->n_heap && heap_less(e, &e->heap[l + 1], &e->heap[m]))
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
static int next_after_watermark(const standing_order *so, const so_state *st, occurrence *ret) {
	return rule_next(&so->rule, st->watermark, ret);
}

static so_state state_of(const sched_state *st) {
	return (so_state) { .watermark = st->watermark };
}

/* Writes so's state: the watermark, the stored counts plus the ones added (none
 * stored when unstored: the caller knows there is no state yet), active or not,
 * so's hash. At 1,000,000 standing orders the counts in the cache were 8 MB; the
 * read is one per standing order a batch touches, of the page the write dirties
 * next. */
static int state_put(store_txn *t, const standing_order *so, int64_t watermark, uint64_t add_created,
		     uint64_t add_skipped, bool active, bool unstored) {
	sched_state full = { .watermark = watermark, .created = add_created, .skipped = add_skipped,
			     .active = active, .def_hash = so->hash };
	int r;
	if (!unstored) {
		sched_state old;
		if ((r = store_sched_get(t, so->id, &old)) < 0 && r != -ENOENT)
			return r;
		if (r == 0) {
			full.created = old.created + add_created;
			full.skipped = old.skipped + add_skipped;
		}
	}
	return store_sched_put(t, so->id, &full);
}

static int64_t sat_add(int64_t a, int64_t b) {
	int64_t r;
	return __builtin_add_overflow(a, b, &r) ? (b > 0 ? INT64_MAX : INT64_MIN) : r;
}

/* The reminder's next instant: that of the first occurrence whose reminder instant
 * is after through; INT64_MIN when it has not been seen yet (due at once). 0 or
 * -ENOENT (the schedule has ended). */
static int rem_next_at(const engine *e, const rem_state *rs, int64_t *ret_at) {
	if (rs->through == INT64_MIN) {
		*ret_at = INT64_MIN;
		return 0;
	}
	occurrence o;
	int64_t offset = rem_of(e->d, rs)->offset;
	int r = rule_next(&e->d->orders[rs->idx].rule, sat_add(rs->through, offset), &o);
	if (r == 0)
		*ret_at = o.delivery - offset;
	return r;
}

/* The first of standing order k's reminders in e->rems (their end is
 * rem_lo(e, k + 1)): a binary search, as the grouping allows; loops over every
 * standing order keep a running cursor instead. */
static uint32_t rem_lo(const engine *e, uint32_t k) {
	size_t lo = 0, hi = e->n_rems;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (e->rems[mid].idx < k)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (uint32_t) lo;
}

/* A standing order's `before:` reminders. */
static size_t so_rems(const standing_order *so) {
	size_t n = 0;
	for (size_t k = 0; k < so->bulk->n_reminders; k++)
		n += so->bulk->reminders[k].kind == REMIND_BEFORE;
	return n;
}

static size_t count_rems(const defs *d) {
	size_t n = 0;
	for (size_t i = 0; i < d->n_orders; i++)
		n += so_rems(&d->orders[i]);
	return n;
}

static void rem_hash_text(const rem_state *rs, char ret[17]) {
	snprintf(ret, 17, "%016" PRIx64, rs->hash);
}

/* Records a reminder's watermark (no task). */
static int rem_put(store_txn *t, const defs *d, const rem_state *rs, int64_t through, int64_t now) {
	occurrence none = { 0 };
	return crm_reminder_in(t, d, &d->orders[rs->idx], rem_of(d, rs), &none, false, through, now);
}

/* Reminder m of d's standing order j, not in the cache: its watermark read in t;
 * one seen for the first time starts at now (its watermark now - 1, written in
 * t) when now is known (not 0) and t writes. */
static int rem_read(store_txn *t, const defs *d, uint32_t j, uint32_t m, int64_t now, bool write, rem_state *rs) {
	const standing_order *so = &d->orders[j];
	char hash[17];
	*rs = (rem_state) { .idx = j, .k = m };
	crm_reminder_hash(&so->bulk->reminders[m], hash);
	rs->hash = strtoull(hash, NULL, 16);
	int r = crm_reminder_get(t, so->id, hash, &rs->through);
	if (r == -ENOENT)
		rs->through = INT64_MIN;
	else if (r < 0)
		return r;
	if (rs->through == INT64_MIN && write && now != 0) {
		if ((r = rem_put(t, d, rs, now - 1, now)) < 0)
			return r;
		rs->through = now - 1;
	}
	return 0;
}

/* The reminders of d with their watermarks, grouped by standing order in d's
 * index order: an unchanged standing order's (old_of[j] its index in the engine's
 * current set; those not NO_IDX ascend with j) are copied from the cache, and
 * remap (when not NULL) takes the new index of each one copied at its old one; the
 * others are read in t; a reminder seen for the first time starts at now (its
 * watermark now - 1, written in t) when now is known (not 0) and t writes. */
static int load_rems(const engine *e, store_txn *t, const defs *d, const uint32_t *old_of, int64_t now, bool write,
		     uint32_t *remap, rem_state **ret, size_t *ret_n) {
	size_t n = count_rems(d);
	rem_state *rems = calloc(n ? n : 1, sizeof(*rems));
	if (!rems)
		return -ENOMEM;
	uint32_t k = 0;
	size_t ok = 0;   /* the cache's reminders, a running cursor (old_of ascends) */
	for (size_t j = 0; j < d->n_orders; j++) {
		const standing_order *so = &d->orders[j];
		uint32_t old = old_of ? old_of[j] : NO_IDX;
		while (old != NO_IDX && ok < e->n_rems && e->rems[ok].idx < old)
			ok++;
		for (size_t m = 0; m < so->bulk->n_reminders; m++) {
			if (so->bulk->reminders[m].kind != REMIND_BEFORE)
				continue;
			rem_state *rs = &rems[k++];
			if (old != NO_IDX) {
				/* unchanged: the same reminders in the same order */
				*rs = (rem_state) { .through = e->rems[ok].through, .hash = e->rems[ok].hash,
						    .idx = (uint32_t) j, .k = (uint32_t) m };
				if (remap)
					remap[ok] = k - 1;
				ok++;
				continue;
			}
			int r = rem_read(t, d, (uint32_t) j, (uint32_t) m, now, write, rs);
			if (r < 0) {
				free(rems);
				return r;
			}
		}
	}
	*ret = rems;
	*ret_n = n;
	return 0;
}

static void set_rems(engine *e, rem_state *rems, size_t n) {
	free(e->rems);
	e->rems = rems;
	e->n_rems = n;
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
			e->heap[e->n_heap++] = ent_of(o.create_at, (uint32_t) i, NO_REM);
	}
	for (size_t k = 0; k < e->n_rems; k++) {
		int64_t at;
		if (rem_next_at(e, &e->rems[k], &at) == 0)
			e->heap[e->n_heap++] = ent_of(at, e->rems[k].idx, (uint32_t) k);
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
	free(e->rems);
	free(e->done);
	defs_arena_free(e->scratch);
	free(e->skips);
	free(e);
}

/* A cron schedule without `start` begins when the engine first sees it: nothing it
 * matched before that is ever created. */
static bool starts_when_seen(const standing_order *so, const so_state *st) {
	return so->rule.kind == RULE_CRON && so->rule.start_day == RULE_NO_DAY && st->watermark == INT64_MIN;
}

/* Loads every standing order's state from the store (new ones start with no
 * watermark). */
static int load_state(engine *e, store_txn *t, const defs *d, so_state *state) {
	for (size_t i = 0; i < d->n_orders; i++) {
		sched_state st;
		int r = store_sched_get(t, d->orders[i].id, &st);
		if (r == -ENOENT)
			state[i] = (so_state) { .watermark = INT64_MIN };
		else if (r < 0)
			return r;
		else
			state[i] = state_of(&st);
	}
	(void) e;
	return 0;
}

/* The active standing orders' ids in the store, a NULL-terminated list that grows
 * by doubling (once counted per id, it made a first start at 1,000,000 quadratic). */
typedef struct id_list {
	char **v;
	size_t n, cap;
} id_list;

static int collect_removed(const char *so_id, const sched_state *st, void *ud) {
	id_list *l = ud;
	if (!st->active)
		return 0;
	if (l->n + 2 > l->cap) {
		size_t cap = l->cap < 32 ? 64 : l->cap * 2;
		char **v = realloc(l->v, cap * sizeof(char *));
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n] = strdup(so_id);
	if (!l->v[l->n])
		return -ENOMEM;
	l->v[++l->n] = NULL;
	return 0;
}

/* The first apply's one pass over the stored states: both they (by key) and d's
 * standing orders (by id) are in strcmp order, so one merge gives every standing
 * order its state (none: watermark INT64_MIN), notes those stored (FIRST_STORED)
 * and those stored active with their hash (FIRST_KEPT: no write) and collects the
 * active ids that are gone from d. */
enum { FIRST_NEW, FIRST_STORED, FIRST_KEPT };
typedef struct first_merge {
	const defs *d;
	so_state *state;
	uint8_t *kept;           /* FIRST_* per standing order */
	size_t i;
	id_list removed;
} first_merge;

static int merge_state(const char *so_id, const sched_state *st, void *ud) {
	first_merge *m = ud;
	int cmp = 1;
	while (m->i < m->d->n_orders && (cmp = strcmp(m->d->orders[m->i].id, so_id)) < 0)
		m->i++;
	if (m->i < m->d->n_orders && cmp == 0) {
		m->kept[m->i] = st->active && st->def_hash == m->d->orders[m->i].hash ? FIRST_KEPT : FIRST_STORED;
		m->state[m->i++] = state_of(st);
		return 0;
	}
	return collect_removed(so_id, st, &m->removed);
}

static int put_sources(store_txn *t, const defs *d, const engine_sources *src) {
	int r = 0;
	if (src && src->files &&
	    (r = (src->compiled ? store_defs_put_compiled : store_defs_put)(t, src->files, src->n_files)) < 0)
		return r;
	if (src && src->api && (r = store_api_defs_put(t, src->api, src->n_api)) < 0)
		return r;
	if (src && src->also && (r = src->also(t, d, src->also_ud)) < 0)
		return r;
	return 0;
}

/* The sources stored in *t, then *t committed (*t NULL once the commit was tried). */
static int commit_sources(store_txn **t, const defs *d, const engine_sources *src) {
	int r = put_sources(*t, d, src);
	if (r < 0)
		return r;
	r = store_commit(*t);
	*t = NULL;
	return r;
}

/* A new or changed standing order's state, read in t (none: no watermark) and
 * recorded active with so's hash unless it is already; a cron schedule without
 * start that is seen first begins at src->now. */
static int state_take(store_txn *t, const standing_order *so, const engine_sources *src, so_state *ret) {
	sched_state st;
	int r = store_sched_get(t, so->id, &st);
	if (r == -ENOENT)
		st = (sched_state) { .watermark = INT64_MIN };
	else if (r < 0)
		return r;
	*ret = state_of(&st);
	bool first_seen = src && src->now != 0 && starts_when_seen(so, ret);
	if (first_seen)
		st.watermark = ret->watermark = src->now;
	else if (st.active && st.def_hash == so->hash)
		return 0;
	st.active = true;
	st.def_hash = so->hash;
	return store_sched_put(t, so->id, &st);
}

/* engine_apply after the first: old and new definitions are both sorted by id,
 * so one merge pass pairs them. A standing order whose hash did not change keeps
 * its cached state and heap entry (only its index moves); only the changed, new
 * and removed ones touch the store or call rule_next(). */
static int apply_changes(engine *e, const defs *d, const engine_sources *src) {
	const defs *od = e->d;
	size_t n = d->n_orders;
	/* state and moved are written for every index below, heap up to its count */
	size_t n_rems_new = count_rems(d);
	so_state *state = malloc((n ? n : 1) * sizeof(*state));
	heap_ent *heap = malloc((n + n_rems_new ? n + n_rems_new : 1) * sizeof(*heap));
	uint32_t *moved = malloc((od->n_orders ? od->n_orders : 1) * sizeof(*moved));   /* old idx -> new, NO_IDX: redone */
	uint32_t *old_of = malloc((n ? n : 1) * sizeof(*old_of));   /* new idx -> old, NO_IDX: redone */
	bool *fresh = calloc(n ? n : 1, sizeof(*fresh));
	/* the cache's reminder k -> its index in the new rems, for those kept */
	uint32_t *remap = malloc((e->n_rems ? e->n_rems : 1) * sizeof(*remap));
	rem_state *rems = NULL;
	size_t n_rems = 0;
	store_txn *t = NULL;
	int r = -ENOMEM;
	if (!state || !heap || !moved || !old_of || !fresh || !remap)
		goto out;
	for (size_t k = 0; k < n; k++)
		old_of[k] = NO_IDX;
	if ((r = store_begin(e->s, true, &t)) < 0)
		goto out;
	size_t i = 0, j = 0;
	while (i < od->n_orders || j < n) {
		/* the catalog's sets share the strings of unchanged files: equal pointers, equal ids */
		int cmp = i >= od->n_orders ? 1 : j >= n ? -1 :
			  od->orders[i].id == d->orders[j].id ? 0 : strcmp(od->orders[i].id, d->orders[j].id);
		if (cmp < 0) {
			/* gone from the definitions: deactivate, keep history */
			moved[i++] = NO_IDX;
			if ((r = state_put(t, &od->orders[i - 1], e->state[i - 1].watermark, 0, 0, false, false)) < 0)
				goto out;
			continue;
		}
		if (cmp == 0 && od->orders[i].hash == d->orders[j].hash) {
			state[j] = e->state[i];
			old_of[j] = (uint32_t) i;
			moved[i++] = (uint32_t) j++;
			continue;
		}
		if (cmp == 0)
			moved[i++] = NO_IDX;
		fresh[j] = true;
		if ((r = state_take(t, &d->orders[j], src, &state[j])) < 0)
			goto out;
		j++;
	}
	if ((r = load_rems(e, t, d, old_of, src ? src->now : 0, true, remap, &rems, &n_rems)) < 0)
		goto out;
	if ((r = commit_sources(&t, d, src)) < 0)
		goto out;
	/* the heap: kept entries renumbered, the redone ones computed, then heapified */
	size_t nh = 0;
	for (size_t k = 0; k < e->n_heap; k++) {
		const heap_ent *h = &e->heap[k];
		uint32_t to = moved[ent_idx(e, h)];   /* e->rems: still the current set's */
		if (to == NO_IDX)
			continue;
		uint32_t rem = ent_rem(h);
		heap[nh++] = ent_of(ent_at(h), to, rem == NO_REM ? NO_REM : remap[rem]);
	}
	e->stats.active = e->stats.paused = 0;
	for (size_t k = 0; k < n; k++) {
		if (d->orders[k].rule.paused)
			e->stats.paused++;
		else
			e->stats.active++;
		occurrence o;
		if (old_of[k] == NO_IDX && fresh[k] && next_after_watermark(&d->orders[k], &state[k], &o) == 0)
			heap[nh++] = ent_of(o.create_at, (uint32_t) k, NO_REM);
	}
	free(e->state);
	free(e->heap);
	e->state = state;
	e->heap = heap;
	e->cap_state = n;
	e->cap_heap = n + n_rems_new;
	e->d = d;
	set_rems(e, rems, n_rems);
	rems = NULL;
	for (size_t m = 0; m < e->n_rems; m++) {
		/* in standing order then reminder order, as the loop over k it replaces */
		int64_t at;
		uint32_t k = e->rems[m].idx;
		if (old_of[k] == NO_IDX && rem_next_at(e, &e->rems[m], &at) == 0)
			heap[nh++] = ent_of(at, k, (uint32_t) m);
	}
	e->n_heap = nh;
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
	free(old_of);
	free(fresh);
	free(remap);
	free(rems);
	return r;
}

/* ---- engine_apply with the changes known (engine_sources.changes_known) ---- */

/* Entries of the ascending v below x. */
static size_t below(const uint32_t *v, size_t n, uint32_t x) {
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v[mid] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The changes from the current set to the new one, and the `before:` reminders
 * of the first k dropped (drem[k]) and added (arem[k]) standing orders. */
typedef struct change_map {
	const uint32_t *dropped, *added;
	size_t n_dropped, n_added;
	size_t *drem, *arem;
} change_map;

/* Where the current set's standing order i is in the new one (*ret_j) and how
 * far its reminders' indexes move (*ret_shift); false when it is dropped. It is
 * the (i - da)-th unchanged one (da: those dropped before it); the added ones
 * before it are those k with added[k] - k <= i - da (added[k] - k unchanged ones
 * come before added[k]). */
static bool change_map_idx(const change_map *m, uint32_t i, uint32_t *ret_j, int64_t *ret_shift) {
	size_t da = below(m->dropped, m->n_dropped, i);
	if (da < m->n_dropped && m->dropped[da] == i)
		return false;
	size_t rank = i - da, lo = 0, hi = m->n_added;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->added[mid] - mid <= rank)
			lo = mid + 1;
		else
			hi = mid;
	}
	*ret_j = (uint32_t) (rank + lo);
	*ret_shift = (int64_t) m->arem[lo] - (int64_t) m->drem[da];
	return true;
}

/* v (n_old entries of sz bytes, room for the larger of n_old and n_new) without
 * the dropped entries and with a hole at each added index of the new numbering:
 * the others keep their order. Only what lies after the first change moves. */
static void respace(void *base, size_t sz, size_t n_old, const change_map *m, size_t n_new) {
	char *v = base;
	size_t w = 0, from = 0;
	for (size_t k = 0; k <= m->n_dropped; k++) {
		size_t end = k < m->n_dropped ? m->dropped[k] : n_old;
		if (end > from && w != from)
			memmove(v + w * sz, v + from * sz, (end - from) * sz);
		w += end > from ? end - from : 0;
		from = end + 1;
	}
	size_t src_end = w, dst_end = n_new;   /* w: the unchanged ones, now first */
	for (size_t k = m->n_added; k-- > 0;) {
		size_t len = dst_end - m->added[k] - 1;
		if (len && m->added[k] + 1 != src_end - len)
			memmove(v + (m->added[k] + 1) * sz, v + (src_end - len) * sz, len * sz);
		src_end -= len;
		dst_end = m->added[k];
	}
}

static bool ascending(const uint32_t *v, size_t n, size_t limit) {
	for (size_t k = 0; k < n; k++)
		if (v[k] >= limit || (k > 0 && v[k - 1] >= v[k]))
			return false;
	return true;
}

/* Whether src's changes can be used for d: known, few, and consistent. */
static bool changes_usable(const engine *e, const defs *d, const engine_sources *src) {
	if (!e->d || !src || !src->changes_known || src->changes_from != e->d)
		return false;
	size_t no = e->d->n_orders, n = d->n_orders, k = src->n_dropped + src->n_added;
	if (k > ENGINE_KNOWN_MAX && k > (no + n) / 16)
		return false;   /* many: one merge of both sets costs less */
	return src->n_dropped <= no && n == no - src->n_dropped + src->n_added &&
	       ascending(src->dropped, src->n_dropped, no) && ascending(src->added, src->n_added, n);
}

/* engine_apply when the caller tells what changed: only the dropped and added
 * standing orders touch the store or call rule_next(); in memory, the others'
 * entries are renumbered (the order of the heap stays: the renumbering keeps
 * it), the dropped ones' taken out and the added ones' put in. What still grows
 * with the set is moving the cache's arrays past the first change and one pass
 * over the heap (no allocation, no rule, no store). */
static int apply_known(engine *e, const defs *d, const engine_sources *src) {
	const defs *od = e->d;
	size_t no = od->n_orders, n = d->n_orders, a = src->n_dropped, b = src->n_added;
	change_map m = { .dropped = src->dropped, .added = src->added, .n_dropped = a, .n_added = b,
			 .drem = calloc(a + 1, sizeof(size_t)), .arem = calloc(b + 1, sizeof(size_t)) };
	so_state *fst = calloc(b ? b : 1, sizeof(*fst));   /* the added ones' state */
	rem_state *frem = NULL, *rems = NULL;               /* the added ones' reminders; the new array */
	uint32_t *marked = NULL;
	store_txn *t = NULL;
	int r = -ENOMEM;
	if (!m.drem || !m.arem || !fst)
		goto out;
	for (size_t k = 0; k < a; k++)
		m.drem[k + 1] = m.drem[k] + (rem_lo(e, m.dropped[k] + 1) - rem_lo(e, m.dropped[k]));
	for (size_t k = 0; k < b; k++)
		m.arem[k + 1] = m.arem[k] + so_rems(&d->orders[m.added[k]]);
	size_t n_rems = e->n_rems - m.drem[a] + m.arem[b];
	if (n_rems > ENGINE_MAX_ENTRIES) {
		r = -EOVERFLOW;
		goto out;
	}
	bool with_rems = e->n_rems > 0 || n_rems > 0;
	/* every allocation before the transaction: after its commit nothing may fail */
	size_t cap = no > n ? no : n;
	if (cap > e->cap_state) {
		so_state *st = realloc(e->state, cap * sizeof(*st));
		if (!st)
			goto out;
		e->state = st;
		e->cap_state = cap;
	}
	if (n + n_rems > e->cap_heap) {
		heap_ent *h = realloc(e->heap, (n + n_rems) * sizeof(*h));
		if (!h)
			goto out;
		e->heap = h;
		e->cap_heap = n + n_rems;
	}
	if (!(marked = malloc((a + m.drem[a] + 1) * sizeof(*marked))) ||
	    !(frem = calloc(m.arem[b] + 1, sizeof(*frem))))
		goto out;
	if (with_rems && !(rems = malloc((n_rems ? n_rems : 1) * sizeof(*rems))))
		goto out;

	if ((r = store_begin(e->s, true, &t)) < 0)
		goto out;
	for (size_t k = 0; k < a; k++) {
		/* gone (or replaced, then recorded again below): deactivate, keep history */
		uint32_t i = m.dropped[k];
		if ((r = state_put(t, &od->orders[i], e->state[i].watermark, 0, 0, false, false)) < 0)
			goto out;
	}
	for (size_t k = 0; k < b; k++) {
		uint32_t j = m.added[k];
		const standing_order *so = &d->orders[j];
		if ((r = state_take(t, so, src, &fst[k])) < 0)
			goto out;
		rem_state *rs = &frem[m.arem[k]];
		for (size_t x = 0; x < so->bulk->n_reminders; x++)
			if (so->bulk->reminders[x].kind == REMIND_BEFORE &&
			    (r = rem_read(t, d, j, (uint32_t) x, src->now, true, rs++)) < 0)
				goto out;
	}
	if ((r = commit_sources(&t, d, src)) < 0)
		goto out;

	/* the heap: the others renumbered (a reminder's standing order read in the
	 * current set's rems, still in place), the dropped ones' entries marked; they
	 * are taken out below, once the comparisons' rems is the new set's */
	size_t n_marked = 0;
	for (size_t k = 0; k < e->n_heap; k++) {
		heap_ent *h = &e->heap[k];
		uint32_t j, rem = ent_rem(h);
		int64_t shift;
		if (!change_map_idx(&m, ent_idx(e, h), &j, &shift)) {
			h->who = NO_IDX;
			marked[n_marked++] = (uint32_t) k;
			continue;
		}
		h->who = rem == NO_REM ? j : HEAP_REM | (uint32_t) ((int64_t) rem + shift);
	}
	/* the cache: states moved to their new places, the added ones' put in */
	for (size_t k = 0; k < a; k++) {
		if (od->orders[m.dropped[k]].rule.paused)
			e->stats.paused--;
		else
			e->stats.active--;
	}
	respace(e->state, sizeof(*e->state), no, &m, n);
	for (size_t k = 0; k < b; k++)
		e->state[m.added[k]] = fst[k];
	if (with_rems) {
		/* every reminder's place may move: the array made anew, grouped in the
		 * new index order (x: a running cursor over the current one) */
		size_t i = 0, da = 0, ka = 0, w = 0, x = 0;
		for (size_t j = 0; j < n; j++) {
			if (ka < b && m.added[ka] == j) {
				for (size_t y = m.arem[ka]; y < m.arem[ka + 1]; y++) {
					rems[w] = frem[y];
					rems[w++].idx = (uint32_t) j;
				}
				ka++;
				continue;
			}
			while (da < a && m.dropped[da] == i)
				i++, da++;
			while (x < e->n_rems && e->rems[x].idx < i)
				x++;   /* a dropped one's */
			for (; x < e->n_rems && e->rems[x].idx == i; x++) {
				rems[w] = e->rems[x];
				rems[w++].idx = (uint32_t) j;
			}
			i++;
		}
		set_rems(e, rems, n_rems);
		rems = NULL;
	}
	e->d = d;
	/* the marked entries (they sort first) sifted up in the order of their
	 * places, then taken from the top */
	for (size_t k = 0; k < n_marked; k++)
		sift_up(e, marked[k]);
	for (size_t k = 0; k < n_marked; k++) {
		e->heap[0] = e->heap[--e->n_heap];
		sift_down(e, 0);
	}
	for (size_t k = 0; k < b; k++) {
		uint32_t j = m.added[k];
		const standing_order *so = &d->orders[j];
		occurrence o;
		if (so->rule.paused)
			e->stats.paused++;
		else
			e->stats.active++;
		if (next_after_watermark(so, &e->state[j], &o) == 0) {
			e->heap[e->n_heap] = ent_of(o.create_at, j, NO_REM);
			sift_up(e, e->n_heap++);
		}
		int64_t at;
		for (uint32_t x = rem_lo(e, j), end = rem_lo(e, j + 1); x < end; x++)
			if (rem_next_at(e, &e->rems[x], &at) == 0) {
				e->heap[e->n_heap] = ent_of(at, j, x);
				sift_up(e, e->n_heap++);
			}
	}
	e->stats.applied_known++;
	r = 0;
out:
	store_abort(t);
	free(m.drem);
	free(m.arem);
	free(fst);
	free(frem);
	free(rems);
	free(marked);
	return r;
}

int engine_apply(engine *e, const defs *d, const engine_sources *src) {
	if (d->n_orders > ENGINE_MAX_ENTRIES)
		return -EOVERFLOW;
	if (changes_usable(e, d, src))
		return apply_known(e, d, src);
	size_t n_rems_all = count_rems(d);
	if (n_rems_all > ENGINE_MAX_ENTRIES)
		return -EOVERFLOW;
	if (e->d)
		return apply_changes(e, d, src);
	size_t n_heap_max = d->n_orders + n_rems_all;
	so_state *state = calloc(d->n_orders ? d->n_orders : 1, sizeof(*state));
	uint8_t *kept = calloc(d->n_orders ? d->n_orders : 1, sizeof(*kept));
	heap_ent *heap = calloc(n_heap_max ? n_heap_max : 1, sizeof(*heap));
	char **known = calloc(1, sizeof(char *));
	rem_state *rems = NULL;
	size_t n_rems = 0;
	store_txn *t = NULL;
	int r = -ENOMEM;
	if (!state || !kept || !heap || !known)
		goto fail;
	r = store_begin(e->s, true, &t);
	if (r < 0)
		goto fail;
	for (size_t i = 0; i < d->n_orders; i++)
		state[i] = (so_state) { .watermark = INT64_MIN };
	first_merge fm = { .d = d, .state = state, .kept = kept, .removed = { .v = known, .n = 0, .cap = 1 } };
	r = store_sched_each(t, merge_state, &fm);
	known = fm.removed.v;
	if (r < 0)
		goto fail;
	for (size_t i = 0; i < d->n_orders; i++) {
		bool first_seen = src && src->now != 0 && starts_when_seen(&d->orders[i], &state[i]);
		if (first_seen)
			state[i].watermark = src->now;
		else if (kept[i] == FIRST_KEPT)
			continue;
		r = state_put(t, &d->orders[i], state[i].watermark, 0, 0, true, kept[i] == FIRST_NEW);
		if (r < 0)
			goto fail;
	}
	/* Standing orders that are gone from the definitions: deactivate, keep history. */
	for (char **k = known; *k; k++) {
		sched_state st;
		r = store_sched_get(t, *k, &st);
		if (r < 0)
			goto fail;
		st.active = false;
		r = store_sched_put(t, *k, &st);
		if (r < 0)
			goto fail;
	}
	if ((r = load_rems(e, t, d, NULL, src ? src->now : 0, true, NULL, &rems, &n_rems)) < 0)
		goto fail;
	if ((r = commit_sources(&t, d, src)) < 0)
		goto fail;
	free(e->state);
	free(e->heap);
	e->state = state;
	e->heap = heap;
	e->cap_state = d->n_orders;
	e->cap_heap = n_heap_max;
	e->d = d;
	set_rems(e, rems, n_rems);
	rebuild_heap(e);
	for (char **k = known; *k; k++)
		free(*k);
	free(known);
	free(kept);
	return 0;
fail:
	store_abort(t);
	for (char **k = known; k && *k; k++)
		free(*k);
	free(known);
	free(kept);
	free(state);
	free(heap);
	free(rems);
	return r;
}

int engine_next_due(const engine *e, int64_t *ret_at) {
	if (e->n_heap == 0)
		return -ENOENT;
	*ret_at = ent_at(&e->heap[0]);
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
	uint32_t idx;
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
	heap_ent b = ent_of(best->at, best->idx, NO_REM);
	if (best->idx != NO_IDX && !heap_less(e, h, &b))
		return;
	uint32_t idx = ent_idx(e, h);
	const standing_order *so = &e->d->orders[idx];
	occurrence o;
	bool exact = false;
	if (ent_rem(h) == NO_REM && !so->rule.paused) {   /* a reminder's entry: only its children count */
		int r = engine_next_pending(t, so, e->state[idx].watermark, &o);
		if (r == 0) {
			heap_ent cand = ent_of(o.create_at, idx, NO_REM);
			exact = o.create_at == ent_at(h);
			if (best->idx == NO_IDX || heap_less(e, &cand, &b))
				*best = (peek_best) { .at = o.create_at, .idx = idx };
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
	peek_best best = { .idx = NO_IDX };
	peek_visit(e, t, 0, &best);
	if (best.err)
		return best.err;
	if (best.idx == NO_IDX)
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
	s->idx = (uint32_t) idx;
	s->delivery = delivery;
	snprintf(s->reason, sizeof(s->reason), "%s", reason);
	return 0;
}

/* orders[idx] with its bulk, for the open batch (sales_so_full). */
static int full_of(engine *e, store_txn *t, size_t idx, const standing_order **ret) {
	if (e->full_idx != idx + 1) {
		int r = sales_so_full(t, &e->d->orders[idx], &e->scratch, &e->full);
		if (r < 0) {
			e->full_idx = 0;
			if (r == -EBADMSG)
				e->bad_idx = idx + 1;
			return r;
		}
		e->full_idx = idx + 1;
	}
	*ret = &e->full;
	return 0;
}

static int create_order(engine *e, store_txn *t, size_t idx, const occurrence *o, int64_t now) {
	const standing_order *so;
	int r = full_of(e, t, idx, &so);
	if (r < 0)
		return r;
	if (e->n_done == e->cap_done) {
		size_t cap = e->cap_done ? e->cap_done * 2 : 64;
		void *v = realloc(e->done, cap * sizeof(*e->done));
		if (!v)
			return -ENOMEM;
		e->done = v;
		e->cap_done = cap;
	}
	r = sales_create_occurrence_in(t, e->d, so, o, now, o->create_at < now - e->grace, &e->done[e->n_done]);
	if (r == -EEXIST)
		return 0;   /* created before (an edit moved the watermark back): never twice */
	if (r < 0)
		return r;
	e->n_done++;
	return 1;
}

/* Takes cost units from a batch's budget (the last write may overdraw it: 0). */
static void spend(size_t *budget, size_t cost) {
	*budget = cost < *budget ? *budget - cost : 0;
}

/* What creating o cost (engine.h, ENGINE_COST_*): its lines, its on-hold task. */
static size_t order_cost(const sales_order *o) {
	size_t cost = ENGINE_COST_PLAIN + (o->n_lines > 0 ? (o->n_lines - 1) / ENGINE_COST_LINES : 0);
	return o->status == ORDER_STATUS_ON_HOLD ? cost + ENGINE_COST_TASK : cost;
}

/* Handles one standing order's due occurrences within *budget cost units. Missed
 * occurrences (create_at before now - grace) are counted first so the policy can
 * pick the most recent ones without holding them all in memory. */
static int process_order(engine *e, store_txn *t, size_t idx, int64_t now, size_t *budget) {
	const standing_order *so = &e->d->orders[idx];
	so_state *st = &e->state[idx];
	occurrence o;
	uint64_t missed = 0, created = 0, skipped = 0;   /* added to the stored counts */
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
		skipped += skip;
		e->stats.skipped += skip;
		(*budget)--;
		skip = 0;
	}

	while (*budget > 0) {
		size_t cost = ENGINE_COST_PLAIN;
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
			skipped++;
			e->stats.skipped++;
		} else if ((r = store_skip_get(t, so->id, o.delivery, NULL)) == 0) {
			/* skipped in advance (SkipOccurrence): the record is already there */
			skipped++;
			e->stats.skipped++;
		} else if (r != -ENOENT) {
			return r;
		} else if ((r = create_order(e, t, idx, &o, now)) == -ERANGE) {
			/* The total is never representable (sales wrote nothing): record it,
			 * rather than fail this batch (and so every other standing order) on
			 * each retry. */
			if ((r = note_skip(e, t, idx, o.delivery, now, "order total out of range")) < 0)
				return r;
			skipped++;
			e->stats.skipped++;
		} else if (r < 0) {
			return r;
		} else {
			created += (uint64_t) r;
			if (r > 0)
				cost = order_cost(&e->done[e->n_done - 1]);
		}
		st->watermark = o.delivery;
		spend(budget, cost);
	}
	return state_put(t, so, st->watermark, created, skipped, true, false);
}

/* Whether a reminder's occurrence o (its reminder instant come, its delivery still
 * ahead) makes a task: not when the standing order is paused, the occurrence is
 * skipped, or its order exists and is cancelled. */
static int reminder_makes(engine *e, store_txn *t, size_t idx, const occurrence *o, bool *ret) {
	const standing_order *so = &e->d->orders[idx];
	*ret = false;
	if (so->rule.paused)
		return 0;
	int st = engine_occurrence_state(t, so->id, e->state[idx].watermark, o->delivery);
	if (st < 0)
		return st;
	if (st == ENGINE_OCC_SKIPPED)
		return 0;
	if (st == ENGINE_OCC_CREATED) {
		char number[ORDER_NUMBER_MAX];
		sales_order *ord = NULL;
		int r = store_occurrence_get(t, so->id, o->delivery, number);
		if (r == 0)
			r = store_order_get(t, number, &ord);
		if (r < 0)
			return r;
		bool cancelled = ord->status == ORDER_STATUS_CANCELLED;
		order_free(ord);
		if (cancelled)
			return 0;
	}
	*ret = true;
	return 0;
}

/* Handles one `before:` reminder's due instants within *budget cost units: each
 * occurrence whose reminder instant has come makes its task (or none), with the
 * watermark, in one crm_reminder_in; occurrences whose delivery has passed too
 * (the daemon was down) make none and are jumped over in one write: counted with
 * rule_count() and the last found with rule_nth_after(), never visited. */
static int process_reminder(engine *e, store_txn *t, size_t k, int64_t now, size_t *budget) {
	rem_state *rs = &e->rems[k];
	const standing_order *so = &e->d->orders[rs->idx];
	const reminder *rm = rem_of(e->d, rs);
	int64_t offset = rm->offset;
	occurrence o;
	int r;
	if (rs->through == INT64_MIN) {
		/* applied without a `now` (engine_sources.now 0): it starts here */
		if ((r = rem_put(t, e->d, rs, now - 1, now)) < 0)
			return r;
		rs->through = now - 1;
		(*budget)--;
	}
	while (*budget > 0) {
		size_t cost = ENGINE_COST_PLAIN;
		int64_t after = sat_add(rs->through, offset);
		r = rule_next(&so->rule, after, &o);
		if (r == -ENOENT)
			return 0;
		if (r < 0)
			return r;
		int64_t at = o.delivery - offset;
		if (at > now)
			return 0;
		if (o.delivery <= now) {
			uint64_t n = 0;
			if ((r = rule_count(&so->rule, after, sat_add(now, 1), &n)) < 0)
				return r;
			if (n > 1 && (r = rule_nth_after(&so->rule, after, n - 1, &o)) < 0)
				return r;
			if ((r = rem_put(t, e->d, rs, o.delivery - offset, now)) < 0)
				return r;
			rs->through = o.delivery - offset;
		} else {
			bool make;
			if ((r = reminder_makes(e, t, rs->idx, &o, &make)) < 0)
				return r;
			const standing_order *full;
			if ((r = full_of(e, t, rs->idx, &full)) < 0)
				return r;
			/* the reminder itself is resident: a standing order with reminders
			 * keeps its bulk (lib/sched/catalog.c) */
			if ((r = crm_reminder_in(t, e->d, full, rm, &o, make, at, now)) < 0)
				return r;
			rs->through = at;
			if (make)
				cost = ENGINE_COST_TASK;
		}
		spend(budget, cost);
	}
	return 0;
}

static int reload_after_failure(engine *e) {
	store_txn *t;
	int r = store_begin(e->s, false, &t);
	if (r < 0)
		return r;
	r = load_state(e, t, e->d, e->state);
	for (size_t k = 0; r >= 0 && k < e->n_rems; k++) {
		rem_state *rs = &e->rems[k];
		char hash[17];
		rem_hash_text(rs, hash);
		r = crm_reminder_get(t, e->d->orders[rs->idx].id, hash, &rs->through);
		if (r == -ENOENT) {
			rs->through = INT64_MIN;
			r = 0;
		}
	}
	store_abort(t);
	rebuild_heap(e);
	return r;
}

int engine_run(engine *e, int64_t now, size_t max_batches) {
	int created = 0;
	for (size_t batch = 0; batch < max_batches && e->n_heap > 0 && ent_at(&e->heap[0]) <= now; batch++) {
		store_txn *t;
		int r = store_begin(e->s, true, &t);
		if (r < 0)
			return r;
		e->n_done = e->n_skips = 0;
		e->full_idx = e->bad_idx = 0;
		defs_arena_reset(&e->scratch);
		size_t budget = ENGINE_BATCH;
		while (budget > 0 && e->n_heap > 0 && ent_at(&e->heap[0]) <= now) {
			uint32_t idx = ent_idx(e, &e->heap[0]), rem = ent_rem(&e->heap[0]);
			occurrence o;
			int64_t at;
			bool again;
			if (rem == NO_REM) {
				if ((r = process_order(e, t, idx, now, &budget)) < 0)
					break;
				again = next_after_watermark(&e->d->orders[idx], &e->state[idx], &o) == 0;
				at = again ? o.create_at : 0;
			} else {
				if ((r = process_reminder(e, t, rem, now, &budget)) < 0)
					break;
				again = rem_next_at(e, &e->rems[rem], &at) == 0;
			}
			if (again)
				ent_set_at(&e->heap[0], at);
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

const standing_order *engine_bulk_damaged(const engine *e) {
	return e->bad_idx && e->d && e->bad_idx <= e->d->n_orders ? &e->d->orders[e->bad_idx - 1] : NULL;
}

void engine_set_grace(engine *e, int64_t seconds) {
	e->grace = seconds;
}

int engine_entries(const engine *e, engine_entry **ret, size_t *ret_n) {
	engine_entry *v = malloc((e->n_heap ? e->n_heap : 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t k = 0; k < e->n_heap; k++)
		v[k] = (engine_entry) { .at = ent_at(&e->heap[k]), .idx = ent_idx(e, &e->heap[k]), .rem = ent_rem(&e->heap[k]) };
	*ret = v;
	*ret_n = e->n_heap;
	return 0;
}
