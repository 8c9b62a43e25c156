/* The catalog keeps one cat_file per definition file (its length and content
 * hash, its bytes unless a source can give them again, and for orders files the
 * unit read or unpacked from them: a YAML file's unit lives in an arena and, once
 * its standing orders run, keeps none of them: what its file said of one is read
 * again from the file when needed), an id index of the customers
 * (customer id -> owning file and position) and the running defs, whose arrays
 * are shallow copies of the units' entries (the strings stay the units'). A
 * parallel owner array says which file each customer of the running defs came
 * from; a standing order says it itself: its bulk is its unit's (a thin one's
 * its file's shared one), tagged with the file's slot and its place in the unit
 * (so_bulk.owner, .pos; a thin one's place is stored - 1: cat_so_own). The
 * standing orders are sorted by id, so one is found by a search of them
 * (cat_run_order), without an index. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "lib/defs/pack.h"
#include "lib/sched/catalog.h"

#define CAT_RETIRED_MAX 8
#define CAT_THREADS 4        /* files read or unpacked at once, at most */

typedef struct cat_file {
	defs_file f;             /* owned copy, data NUL-terminated; NULL when not held (a source is set) */
	defs_file_info info;     /* identity and content hash (packed unused) */
	uint8_t *packed;         /* a YAML orders file read or linked anew by this stage: its unit
				  * packed for the store, until commit */
	size_t packed_len;
	defs_unit u;             /* empty for standingd.yaml */
	bool dying;              /* removed or replaced by the staged candidate */
	bool orders_yaml;        /* a YAML orders file (not standingd.yaml, not the API's) */
	bool dirty;              /* its unit differs from its stored compiled record */
	so_bulk *thin_bulk;      /* its thin standing orders' bulk (the name alone), in u's arena */
	uint32_t slot;           /* its place in the catalog's slots (cat_own.file, so_bulk.owner) */
} cat_file;

/* 8 bytes a customer of the running set and the candidate (a standing order's:
 * cat_so_own). */
typedef struct cat_own {
	uint32_t file;           /* the catalog's slot of its cat_file (cat_of) */
	uint32_t idx;            /* into its u.customers or u.orders */
} cat_own;

/* Files read again (cat_reread_unit), each once a build or a stage's errors. */
typedef struct cat_reread {
	struct cat_reread_file { const cat_file *f; defs_unit u; } *v;
	size_t n, cap;
} cat_reread;

typedef struct cat_ent {
	const char *id;          /* NULL: a free slot */
	uint64_t h;              /* defs_hash64 of id */
	cat_own own;
} cat_ent;

/* Open addressing with linear probing, no allocation per entry; the home slot of
 * an id is its hash scaled to the capacity (any capacity, kept under 3/4 full). */
typedef struct cat_map {
	cat_ent *v;
	size_t cap, n;
} cat_map;

typedef struct cat_set {
	defs *d;                 /* shallow: arrays owned here, config and tz the base's */
	cat_own *own_cust;
	defs *base;              /* standingd.yaml alone: config and tz_db */
	cat_file **yaml, **api;
	size_t n_yaml, n_api;
	defs_file *yaml_flat, *api_flat;   /* shallow views for engine_sources */
	defs_file_info *yaml_info, *api_info;   /* their hashes, for a stage of the running files */
} cat_set;

struct catalog {
	char *tzdir;
	cat_set run;
	cat_map cust;            /* customer ids of run (its standing orders: cat_run_order) */
	bool staged;
	cat_set pend;
	cat_map add_cust;        /* the customer ids of the candidate's added files (a full one's: all) */
	cat_file **added, **removed;
	size_t n_added, n_removed;
	bool pend_full, yaml_changed, api_changed;
	bool force_full;         /* the indexes are incomplete: read everything next time */
	bool commit_unstored;    /* catalog_commit_unstored: the units stay to be stored */
	/* Configs replaced by a change that left every file's reading as it was: the
	 * units read under them point into their tz_db, so they live until every file
	 * is read again (at most CAT_RETIRED_MAX, then the next change reads all). */
	defs *retired[CAT_RETIRED_MAX];
	size_t n_retired;
	catalog_stats stats;
	catalog_source_fn source;
	void *source_ud;
	bool thin;               /* catalog_set_thin */
	catalog_free_fn *free_fn;   /* catalog_set_free */
	void *free_ud;
	bool thin_all;           /* every running standing order that can be thin is: a commit
				  * with the changes known thins only the ones it added */
	/* the candidate's standing orders that are not the running set's as they
	 * were (indexes of run.d dropped, of pend.d added), for engine_sources */
	struct cat_changes { uint32_t *v; size_t n, cap; } chg_drop, chg_add;
	bool chg_known;
	/* every cat_file (running, added) by its slot; the free ones' numbers
	 * (room for all of them is kept, so that freeing one needs no memory) */
	cat_file **slots;
	uint32_t *free_slots;
	size_t n_slots, n_free, cap_slots;
};

static cat_file *cat_of(const catalog *c, const cat_own *o) {
	return c->slots[o->file];
}

/* A standing order of the running set or the candidate: its file and place,
 * from its bulk's tag (cat_tag). */
static cat_own cat_so_own(const standing_order *so) {
	return (cat_own) { so->bulk->owner, so->stored ? so->stored - 1 : so->bulk->pos };
}

static cat_file *cat_so_file(const catalog *c, const standing_order *so) {
	return c->slots[so->bulk->owner];
}

/* ---- the id index ---- */

static uint64_t cat_hash(const char *id) {
	return defs_hash64(id, strlen(id), 0);
}

static size_t cat_home(const cat_map *m, uint64_t h) {
	return (size_t) (((unsigned __int128) h * m->cap) >> 64);
}

static void cat_map_clear(cat_map *m) {
	free(m->v);
	*m = (cat_map) { 0 };
}

static int cat_map_reserve(cat_map *m, size_t n) {
	if (n * 4 < m->cap * 3)
		return 0;
	size_t cap = n + n / 2 + 64;
	cat_ent *v = calloc(cap, sizeof(*v));
	if (!v)
		return -ENOMEM;
	cat_map nm = { .v = v, .cap = cap, .n = m->n };
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->v[i].id)
			continue;
		size_t k = cat_home(&nm, m->v[i].h);
		while (v[k].id)
			k = k + 1 == cap ? 0 : k + 1;
		v[k] = m->v[i];
	}
	free(m->v);
	*m = nm;
	return 0;
}

static const cat_ent *cat_map_get(const cat_map *m, const char *id) {
	if (!m->n)
		return NULL;
	uint64_t h = cat_hash(id);
	for (size_t k = cat_home(m, h); m->v[k].id; k = k + 1 == m->cap ? 0 : k + 1)
		if (m->v[k].h == h && strcmp(m->v[k].id, id) == 0)
			return &m->v[k];
	return NULL;
}

/* Adds id; with unique, -EEXIST when it is there already (nothing added). */
static int cat_map_add(cat_map *m, const char *id, const cat_file *f, size_t idx, bool unique) {
	if (cat_map_reserve(m, m->n + 1) < 0)
		return -ENOMEM;
	uint64_t h = cat_hash(id);
	size_t k = cat_home(m, h);
	for (; m->v[k].id; k = k + 1 == m->cap ? 0 : k + 1)
		if (unique && m->v[k].h == h && strcmp(m->v[k].id, id) == 0)
			return -EEXIST;
	m->v[k] = (cat_ent) { .id = id, .h = h, .own = { f->slot, (uint32_t) idx } };
	m->n++;
	return 0;
}

static int cat_map_put(cat_map *m, const char *id, const cat_file *f, size_t idx) {
	return cat_map_add(m, id, f, idx, false);
}

static void cat_map_del(cat_map *m, const char *id, const cat_file *f) {
	if (!m->n)
		return;
	uint64_t h = cat_hash(id);
	size_t k = cat_home(m, h);
	for (; m->v[k].id; k = k + 1 == m->cap ? 0 : k + 1)
		if (m->v[k].own.file == f->slot && m->v[k].h == h && strcmp(m->v[k].id, id) == 0)
			break;
	if (!m->v[k].id)
		return;
	/* backward shift: the entries after it that may move into the hole do */
	size_t hole = k;
	for (size_t j = k + 1 == m->cap ? 0 : k + 1; m->v[j].id; j = j + 1 == m->cap ? 0 : j + 1) {
		size_t home = cat_home(m, m->v[j].h);
		/* j's entry may fill the hole unless its home lies cyclically in (hole, j] */
		bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
		if (!stays) {
			m->v[hole] = m->v[j];
			hole = j;
		}
	}
	m->v[hole] = (cat_ent) { 0 };
	m->n--;
}

/* The running set's standing orders are sorted by id (strcmp; cat_build merges
 * sorted arrays) and unique: the first at or after lo whose id is not below id,
 * found by galloping from lo then bisecting (n: past the end). */
static size_t cat_run_lower(const catalog *c, size_t lo, const char *id) {
	const defs *d = c->run.d;
	size_t n = d ? d->n_orders : 0, hi = lo, step = 1;
	while (hi < n && strcmp(d->orders[hi].id, id) < 0) {
		lo = hi + 1;
		hi += step;
		step *= 2;
	}
	if (hi > n)
		hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(d->orders[mid].id, id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The running standing order at i when it has this id and the candidate keeps
 * it (its file not dying), else NULL. */
static const standing_order *cat_run_kept(const catalog *c, size_t i, const char *id) {
	const defs *d = c->run.d;
	if (!d || i >= d->n_orders || strcmp(d->orders[i].id, id) != 0 || cat_so_file(c, &d->orders[i])->dying)
		return NULL;
	return &d->orders[i];
}

/* The running standing order with this id that the candidate keeps. */
static const standing_order *cat_run_order(const catalog *c, const char *id) {
	return cat_run_kept(c, cat_run_lower(c, 0, id), id);
}

/* The running customers' index without the files the candidate drops. */
static const cat_ent *cat_live(const catalog *c, const char *id) {
	const cat_ent *e = cat_map_get(&c->cust, id);
	return e && !cat_of(c, &e->own)->dying ? e : NULL;
}

/* ---- files ---- */

static void cat_file_free(cat_file *f) {
	if (!f)
		return;
	defs_unit_done(&f->u);
	free(f->f.name);
	free(f->f.data);
	free(f->packed);
	free(f);
}

/* A copy of src (its bytes when it has them) with its identity and hash. */
static cat_file *cat_file_new(const defs_file *src, const defs_file_info *info, uint64_t hash) {
	cat_file *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->f.name = strdup(src->name);
	if (src->data)
		f->f.data = malloc(src->len + 1);
	if (!f->f.name || (src->data && !f->f.data)) {
		cat_file_free(f);
		return NULL;
	}
	if (src->data) {
		if (src->len)
			memcpy(f->f.data, src->data, src->len);
		f->f.data[src->len] = '\0';
	}
	f->f.len = src->len;
	if (info)
		f->info = *info;
	f->info.hash = hash;
	f->info.unread = false;
	f->info.packed = NULL;
	f->info.packed_len = 0;
	return f;
}

/* f gets a slot (cat_own.file): 0, -ENOMEM. */
static int cat_slot_take(catalog *c, cat_file *f) {
	if (c->n_free) {
		f->slot = c->free_slots[--c->n_free];
		c->slots[f->slot] = f;
		return 0;
	}
	if (c->n_slots >= UINT32_MAX)
		return -ENOMEM;
	if (c->n_slots == c->cap_slots) {
		size_t cap = c->cap_slots ? c->cap_slots * 2 : 64;
		cat_file **v = realloc(c->slots, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		c->slots = v;
		uint32_t *fr = realloc(c->free_slots, cap * sizeof(*fr));
		if (!fr)
			return -ENOMEM;
		c->free_slots = fr;
		c->cap_slots = cap;
	}
	f->slot = (uint32_t) c->n_slots;
	c->slots[c->n_slots++] = f;
	return 0;
}

/* f freed and its slot with it. */
static void cat_file_drop(catalog *c, cat_file *f) {
	c->slots[f->slot] = NULL;
	c->free_slots[c->n_free++] = f->slot;
	cat_file_free(f);
}

static bool cat_same(const cat_file *f, const defs_file *src, uint64_t hash) {
	return f->f.len == src->len && f->info.hash == hash && strcmp(f->f.name, src->name) == 0;
}

/* The hash of files[i]: info's, else computed from its bytes. */
static uint64_t cat_hash_of(const defs_file *files, const defs_file_info *info, size_t i) {
	if (info)
		return info[i].hash;
	return files[i].data ? defs_hash64(files[i].data, files[i].len, 0) : 0;
}

static int cat_name_cmp(const void *key, const void *e) {
	return strcmp(key, (*(cat_file *const *) e)->f.name);
}

bool catalog_known(void *ud, const char *name, const defs_file_id *id, uint64_t *ret_hash) {
	const catalog *c = ud;
	if (c->run.n_yaml < 2 || c->force_full)
		return false;
	/* the orders files follow standingd.yaml, sorted by name */
	cat_file *const *p = bsearch(name, c->run.yaml + 1, c->run.n_yaml - 1, sizeof(*c->run.yaml), cat_name_cmp);
	if (!p || !defs_file_id_same(&(*p)->info.id, id))
		return false;
	*ret_hash = (*p)->info.hash;
	return true;
}

void catalog_set_source(catalog *c, catalog_source_fn fn, void *ud) {
	c->source = fn;
	c->source_ud = ud;
}

void catalog_set_thin(catalog *c, bool on) {
	c->thin = on;
}

void catalog_set_free(catalog *c, catalog_free_fn *fn, void *ud) {
	c->free_fn = fn;
	c->free_ud = ud;
}

/* The running set's big arrays, replaced by a commit, to catalog_set_free's fn. */
static void cat_run_arrays_free(catalog *c) {
	cat_set *s = &c->run;
	if (!c->free_fn)
		return;
	void *v[] = { s->d ? s->d->orders : NULL, s->d ? s->d->customers : NULL, s->own_cust };
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		if (v[i])
			c->free_fn(c->free_ud, v[i]);
	if (s->d) {
		s->d->orders = NULL;
		s->d->customers = NULL;
	}
	s->own_cust = NULL;
}

void catalog_forget(catalog *c) {
	c->force_full = true;
}

/* f's bytes from the source, checked against its hash. */
static int cat_fetch(catalog *c, cat_file *f) {
	if (!c->source)
		return -ESTALE;
	defs_file got = { 0 };
	int r = c->source(c->source_ud, f->f.name, f->info.hash, &got);
	if (r < 0)
		return r;
	free(got.name);
	if (got.len != f->f.len) {
		free(got.data);
		return -ESTALE;
	}
	free(f->f.data);
	f->f.data = got.data;
	return 0;
}

/* A YAML orders file just read: its unit packed (the record for the store,
 * unless the link changes the unit: cat_build) and the unit as read freed. It
 * comes back unpacked, its strings in one arena (shared where repeated), in a
 * second round (cat_files_stage) once every file's reading is freed: what stays
 * of it is then not spread over the pages the reading used (a first start's
 * RssAnon, doc/decisions.md). */
static int cat_pack_read(cat_file *f) {
	uint8_t *p;
	size_t len;
	int r = defs_unit_pack(&f->u, &p, &len);
	if (r < 0)
		return r;
	defs_unit_done(&f->u);
	f->u = (defs_unit) { 0 };
	f->thin_bulk = NULL;
	free(f->packed);
	f->packed = p;
	f->packed_len = len;
	return 0;
}

static void cat_set_done(cat_set *s, bool own_base) {
	if (s->d) {
		free(s->d->customers);
		free(s->d->orders);
		free(s->d);
	}
	free(s->own_cust);
	if (own_base)
		defs_free(s->base);
	free(s->yaml);
	free(s->api);
	free(s->yaml_flat);
	free(s->api_flat);
	free(s->yaml_info);
	free(s->api_info);
	*s = (cat_set) { 0 };
}

int catalog_new(const char *tzdir, catalog **ret) {
	catalog *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	if (tzdir && !(c->tzdir = strdup(tzdir))) {
		free(c);
		return -ENOMEM;
	}
	*ret = c;
	return 0;
}

/* The thin running set (catalog_set_thin), after a commit that stored every
 * unit: the standing orders of the YAML files' units that still hold their bulk
 * (read or unpacked by this stage, or kept since an unstored commit) leave it to
 * the store, and the units drop it. One without reminders only (the engine keeps
 * the `before:` ones' texts) and without placed_by (an API file's). */
static void cat_thin_one(catalog *c, size_t m) {
	standing_order *so = &c->run.d->orders[m];
	cat_file *f = cat_so_file(c, so);
	size_t idx = so->bulk->pos;
	if (!f->orders_yaml || !f->u.bulk || !f->u.thin || !f->thin_bulk || so->stored ||
	    so->bulk->n_reminders || so->bulk->placed_by || idx >= UINT32_MAX)
		return;
	so_bulk *tb = f->thin_bulk;
	if (!tb->file)
		tb->file = so->bulk->file;   /* the same string for all of the unit's */
	so->stored = (uint32_t) idx + 1;
	so->bulk = tb;   /* n_lines stays: the engine weighs a batch by it */
}

/* ... only: the standing orders this commit added, when the others are thin
 * already (thin_all) and the stage knew its changes: at 1,000,000 a pass over
 * all of them is ~5 ms of the loop's commit for a change of one. */
static void cat_thin_run(catalog *c) {
	defs *d = c->run.d;
	bool some = c->thin_all && c->chg_known;
	/* each file's shared bulk, the name alone (set by its first standing order
	 * below), in the unit's arena where the name is; none (ENOMEM): the file's
	 * standing orders stay resident */
	for (size_t i = 1; i < c->run.n_yaml; i++) {
		cat_file *f = c->run.yaml[i];
		if (f->u.thin && f->u.bulk && !f->thin_bulk) {
			so_bulk *tb = defs_arena_alloc(&f->u.arena, sizeof(*tb));
			if (tb)
				*tb = (so_bulk) { .owner = f->slot };
			f->thin_bulk = tb;
		}
	}
	for (size_t k = 0; some && k < c->chg_add.n; k++)
		cat_thin_one(c, c->chg_add.v[k]);
	for (size_t m = 0; !some && d && m < d->n_orders; m++)
		cat_thin_one(c, m);
	c->thin_all = true;
	for (size_t i = 1; i < c->run.n_yaml; i++) {
		cat_file *f = c->run.yaml[i];
		if (f->u.thin && f->thin_bulk)
			defs_unit_bulk_free(&f->u);
	}
}

void catalog_commit_unstored(catalog *c) {
	c->commit_unstored = true;
	catalog_commit(c);
}

int catalog_load_dir(const char *dir, const char *tzdir, catalog **ret, diag_list *diags) {
	catalog *c;
	defs_file *files = NULL;
	size_t n = 0;
	int r = catalog_new(tzdir, &c);
	if (r < 0)
		return r;
	if ((r = defs_read_dir(dir, &files, &n, diags)) == 0 && (r = catalog_stage(c, files, n, NULL, 0, diags)) == 0)
		catalog_commit(c);
	defs_files_free(files, n);
	if (r < 0) {
		catalog_free(c);
		return r;
	}
	*ret = c;
	return 0;
}

void catalog_free(catalog *c) {
	if (!c)
		return;
	if (c->staged)
		catalog_abort(c);
	for (size_t i = 0; i < c->run.n_yaml; i++)
		cat_file_free(c->run.yaml[i]);
	for (size_t i = 0; i < c->run.n_api; i++)
		cat_file_free(c->run.api[i]);
	cat_set_done(&c->run, true);
	for (size_t i = 0; i < c->n_retired; i++)
		defs_free(c->retired[i]);
	cat_map_clear(&c->cust);
	free(c->slots);
	free(c->free_slots);
	free(c->chg_drop.v);
	free(c->chg_add.v);
	free(c->tzdir);
	free(c);
}

const defs *catalog_defs(const catalog *c) {
	return c->run.d;
}

const defs *catalog_pending(const catalog *c) {
	return c->staged ? c->pend.d : NULL;
}

void catalog_files(const catalog *c, const defs_file **ret_yaml, size_t *ret_ny, const defs_file **ret_api,
		   size_t *ret_na) {
	*ret_yaml = c->run.yaml_flat;
	*ret_ny = c->run.n_yaml;
	*ret_api = c->run.api_flat;
	*ret_na = c->run.n_api;
}

void catalog_pending_sources(const catalog *c, engine_sources *src) {
	src->files = c->yaml_changed ? c->pend.yaml_flat : NULL;
	src->n_files = c->yaml_changed ? c->pend.n_yaml : 0;
	src->api = c->api_changed ? c->pend.api_flat : NULL;
	src->n_api = c->api_changed ? c->pend.n_api : 0;
	src->changes_known = c->staged && c->chg_known;
	src->changes_from = c->run.d;
	src->dropped = c->chg_drop.v;
	src->n_dropped = c->chg_drop.n;
	src->added = c->chg_add.v;
	src->n_added = c->chg_add.n;
}

/* Notes a change for engine_sources; out of memory, none is known. */
static void cat_change(catalog *c, struct cat_changes *v, size_t idx) {
	if (!c->chg_known)
		return;
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 16;
		uint32_t *nv = realloc(v->v, cap * sizeof(*nv));
		if (!nv) {
			c->chg_known = false;
			return;
		}
		v->v = nv;
		v->cap = cap;
	}
	v->v[v->n++] = (uint32_t) idx;
}

void catalog_last_stats(const catalog *c, catalog_stats *ret) {
	*ret = c->stats;
}

/* ---- staging ---- */

static int cat_push(cat_file ***v, size_t *n, cat_file *f) {
	cat_file **nv = realloc(*v, (*n + 1) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	nv[(*n)++] = f;
	*v = nv;
	return 0;
}

/* One file to unpack (packed set, or a YAML orders file's own record) or to read
 * and validate (then packed when it is a YAML orders file), on one of the
 * threads of cat_run_jobs. */
typedef struct cat_job {
	cat_file *f;
	const void *packed;
	size_t packed_len;
	int r;
} cat_job;

typedef struct cat_pool {
	const catalog *c;
	cat_job *jobs;
	size_t n;
	atomic_size_t next;
} cat_pool;

static void cat_job_run(const catalog *c, cat_job *jb) {
	if (jb->packed) {
		jb->r = defs_unit_unpack(c->pend.base, jb->packed, jb->packed_len, &jb->f->u);
		return;
	}
	jb->r = defs_unit_read(c->pend.base, &jb->f->f, &jb->f->u);
	if (jb->r == 0 && jb->f->orders_yaml) {
		jb->f->dirty = true;
		jb->r = cat_pack_read(jb->f);
	}
}

static void *cat_worker(void *arg) {
	cat_pool *p = arg;
	for (size_t i; (i = atomic_fetch_add(&p->next, 1)) < p->n;)
		cat_job_run(p->c, &p->jobs[i]);
	return NULL;
}

/* fn(arg) on as many threads as there are CPUs (at most CAT_THREADS and
 * max), this one among them; one thread when a thread cannot be had. */
static void cat_threads(void *(*fn)(void *), void *arg, size_t max) {
	pthread_t th[CAT_THREADS];
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	size_t nt = ncpu < 1 ? 1 : ncpu > CAT_THREADS ? CAT_THREADS : (size_t) ncpu, started = 0;
	if (nt > max)
		nt = max;
	for (size_t i = 1; i < nt; i++)
		if (pthread_create(&th[started], NULL, fn, arg) == 0)
			started++;
	fn(arg);
	for (size_t i = 0; i < started; i++)
		pthread_join(th[i], NULL);
}

/* The jobs on the CPUs' threads (cat_threads). */
static void cat_run_jobs(const catalog *c, cat_job *jobs, size_t n) {
	cat_pool p = { .c = c, .jobs = jobs, .n = n };
	cat_threads(cat_worker, &p, n);
}

/* The candidate's list for one kind of file: unchanged files kept (the same
 * cat_file), the others read anew. A file that does not read cleanly: -EINVAL. */
static int cat_files_stage(catalog *c, cat_file **old, size_t n_old, const defs_file *nf,
			   const defs_file_info *ni, size_t n, bool config_first, cat_file ***ret, bool *changed) {
	cat_file **v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	*ret = v;
	bool *kept = calloc(n_old ? n_old : 1, sizeof(*kept));
	cat_job *jobs = calloc(n ? n : 1, sizeof(*jobs));
	size_t n_jobs = 0;
	if (!kept || !jobs) {
		free(kept);
		free(jobs);
		return -ENOMEM;
	}
	int r = 0, bad = 0;
	*changed = n != n_old;
	size_t j = 0;
	for (size_t i = 0; i < n && r == 0; i++) {
		cat_file *f = NULL;
		uint64_t h = cat_hash_of(nf, ni, i);
		bool orders_yaml = config_first && i > 0;
		if (!c->pend_full) {
			/* both lists are in the same order (by name); a search is rarely needed */
			if (j < n_old && !kept[j] && cat_same(old[j], &nf[i], h))
				f = old[j];
			else
				for (size_t k = 0; k < n_old && !f; k++)
					if (!kept[k] && cat_same(old[k], &nf[i], h))
						f = old[k], j = k;
			if (f) {
				kept[j++] = true;
				v[i] = f;
				c->stats.files_kept += orders_yaml;
				continue;
			}
		}
		*changed = true;
		if (!(f = cat_file_new(&nf[i], ni ? &ni[i] : NULL, h))) {
			r = -ENOMEM;
			break;
		}
		if ((r = cat_slot_take(c, f)) < 0) {
			cat_file_free(f);
			break;
		}
		v[i] = f;
		if ((r = cat_push(&c->added, &c->n_added, f)) < 0) {
			cat_file_drop(c, f);
			v[i] = NULL;
			break;
		}
		if (config_first && i == 0)
			continue;
		f->orders_yaml = orders_yaml;
		jobs[n_jobs++] = (cat_job) { .f = f, .packed = ni ? ni[i].packed : NULL, .packed_len = ni ? ni[i].packed_len : 0 };
		if (!jobs[n_jobs - 1].packed && !f->f.data && (r = cat_fetch(c, f)) < 0)
			break;
	}
	/* unpacked or read and validated, on the CPUs there are */
	if (r == 0)
		cat_run_jobs(c, jobs, n_jobs);
	for (size_t k = 0; k < n_jobs && r == 0; k++) {
		cat_job *jb = &jobs[k];
		cat_file *f = jb->f;
		if (jb->packed) {
			if (jb->r == 0) {
				c->stats.files_unpacked++;
				continue;
			}
			if ((r = jb->r) == -ENOMEM)
				break;
			if (!c->stats.packed_failed++) {
				c->stats.packed_error = r;
				snprintf(c->stats.packed_failed_name, sizeof(c->stats.packed_failed_name), "%s", f->f.name);
			}
			/* a damaged record: the YAML */
			if (!f->f.data && (r = cat_fetch(c, f)) < 0)
				break;
			jb->packed = NULL;
			cat_job_run(c, jb);
		}
		c->stats.files_read++;
		/* a file with errors: the rest still staged, for the lookups of cat_unit_errors */
		r = jb->r == -EINVAL ? 0 : jb->r;
		if (jb->r == -EINVAL)
			bad = -EINVAL;
	}
	/* the YAML orders files read: their units back from their records */
	size_t n_own = 0;
	for (size_t k = 0; k < n_jobs && r == 0; k++)
		if (jobs[k].f->orders_yaml && !jobs[k].packed && jobs[k].r == 0)
			jobs[n_own++] = (cat_job) { .f = jobs[k].f, .packed = jobs[k].f->packed,
						    .packed_len = jobs[k].f->packed_len };
	if (r == 0 && n_own)
		cat_run_jobs(c, jobs, n_own);
	for (size_t k = 0; k < n_own && r == 0; k++)
		if (jobs[k].r < 0)   /* a unit that does not come back: a defect */
			r = jobs[k].r == -ENOMEM ? -ENOMEM : -EIO;
	free(jobs);
	for (size_t k = 0; k < n_old && r != -ENOMEM; k++)
		if (!kept[k]) {
			*changed = true;
			old[k]->dying = true;
			if (cat_push(&c->removed, &c->n_removed, old[k]) < 0)
				r = -ENOMEM;
		}
	free(kept);
	return r < 0 ? r : bad;
}

typedef struct cat_new {
	const char *id;
	size_t pos;              /* customers: index into the new customers' array; standing
				  * orders: their index in the candidate (cat_link_new) */
	cat_own own;
} cat_new;

static int cat_new_cmp(const void *a, const void *b) {
	return strcmp(((const cat_new *) a)->id, ((const cat_new *) b)->id);
}

static bool cat_new_sorted(const cat_new *v, size_t n) {
	for (size_t i = 1; i < n; i++)
		if (strcmp(v[i - 1].id, v[i].id) > 0)
			return false;
	return true;
}

static const customer *cat_customer(const catalog *c, const cat_own *o) {
	return &cat_of(c, o)->u.customers[o->idx];
}

/* The customer with this id in the candidate: a new file's, else a kept one's. */
static const customer *cat_find_customer(const catalog *c, const cat_map *added, const char *id) {
	const cat_ent *e = cat_map_get(added, id);
	if (!e)
		e = cat_live(c, id);
	return e ? cat_customer(c, &e->own) : NULL;
}

/* f's standing orders' bulks tagged with f's slot and their places (cat_so_own),
 * before any of them enters the candidate: a unit's bulks are its own, one per
 * standing order. -ENOMEM: one has none (the parser's stand-in for a bulk it
 * could not allocate, which fails the reading anyway). */
static int cat_tag(cat_file *f) {
	for (size_t j = 0; j < f->u.n_orders; j++) {
		const so_bulk *b = f->u.orders[j].o.bulk;
		if (b == &defs_so_bulk_none)
			return -ENOMEM;
		so_bulk *own = (so_bulk *) b;   /* the unit's own, read-only to the set */
		own->owner = f->slot;
		own->pos = (uint32_t) j;
	}
	return 0;
}

static bool cat_dying_customer(const catalog *c, const customer *cu) {
	for (size_t i = 0; i < c->n_removed; i++) {
		const defs_unit *u = &c->removed[i]->u;
		if (u->n_customers && cu >= u->customers && cu < u->customers + u->n_customers)
			return true;
	}
	return false;
}


static void cat_reread_done(cat_reread *rr) {
	for (size_t i = 0; i < rr->n; i++)
		defs_unit_done(&rr->v[i].u);
	free(rr->v);
	*rr = (cat_reread) { 0 };
}

/* The unit of the running file of, read again from its bytes (held, or through
 * the source, checked against its hash), once a build (rr). 0 and *ret (rr's);
 * -ESTALE when the file is not there as it was; -ENOMEM. */
static int cat_reread_unit(catalog *c, cat_reread *rr, const defs *base, const cat_file *of, const defs_unit **ret) {
	struct cat_reread_file *rf = NULL;
	for (size_t i = rr->n; i-- > 0 && !rf;)
		if (rr->v[i].f == of)
			rf = &rr->v[i];
	if (!rf) {
		if (rr->n == rr->cap) {
			size_t cap = rr->cap ? rr->cap * 2 : 8;
			void *v = realloc(rr->v, cap * sizeof(*rr->v));
			if (!v)
				return -ENOMEM;
			rr->v = v;
			rr->cap = cap;
		}
		/* its bytes when they are held (no source), else from the source */
		cat_file tmp = { .f = { .name = of->f.name, .len = of->f.len }, .info = of->info };
		int r = of->f.data ? 0 : cat_fetch(c, &tmp);
		if (r < 0)
			return r;
		rf = &rr->v[rr->n];
		r = defs_unit_read(base, of->f.data ? &of->f : &tmp.f, &rf->u);
		free(tmp.f.data);
		if (r < 0)
			return r == -ENOMEM ? r : -ESTALE;
		rf->f = of;
		rr->n++;
	}
	*ret = &rf->u;
	return 0;
}

/* Links again the standing order so of o's thinned file (its customer changed):
 * linking needs what the file said of it (its lines, which defaults it takes),
 * so its file is read again (cat_reread_unit) and its version there is linked;
 * *ret is so with what the link changes (customer, the defaulted zone and
 * catch-up, hash), still thin if it was. 0; -EINVAL where the link fails;
 * -ESTALE when the file is not there as it was; -ENOMEM. */
static int cat_relink_thin(catalog *c, cat_reread *rr, const defs *base, const cat_own *o, const standing_order *so,
			   const customer *cu, standing_order *ret) {
	const defs_unit *u;
	int r = cat_reread_unit(c, rr, base, cat_of(c, o), &u);
	if (r < 0)
		return r;
	if (o->idx >= u->n_orders || strcmp(u->orders[o->idx].o.id, so->id) != 0)
		return -ESTALE;
	standing_order linked;
	if (!defs_unit_link(base, &u->orders[o->idx], cu, &linked))
		return -EINVAL;
	*ret = *so;
	ret->customer = linked.customer;
	ret->rule.zone = linked.rule.zone;
	ret->catch_up = linked.catch_up;
	ret->hash = linked.hash;
	return 0;
}

/* Links the new standing orders no[0..n) (their places .pos in the pending
 * set, their owners there): on the CPUs' threads when there are many (a first
 * start links every standing order), the files' records marked for packing
 * again after on this one. -EINVAL when one does not link. */
typedef struct cat_link_pool {
	const catalog *c;
	const cat_map *acust;
	const cat_new *no;
	size_t n;
	uint8_t *changed;
	atomic_size_t next;
	atomic_bool failed;
} cat_link_pool;

#define CAT_LINK_CHUNK 4096

static void *cat_link_worker(void *arg) {
	cat_link_pool *p = arg;
	const catalog *c = p->c;
	const defs *base = c->pend.base;
	for (size_t k; (k = atomic_fetch_add(&p->next, CAT_LINK_CHUNK)) < p->n && !atomic_load(&p->failed);) {
		size_t end = k + CAT_LINK_CHUNK < p->n ? k + CAT_LINK_CHUNK : p->n;
		for (size_t x = k; x < end; x++) {
			size_t m = p->no[x].pos;
			const cat_own *ow = &p->no[x].own;
			defs_unit_order *me = &cat_of(c, ow)->u.orders[ow->idx];
			const customer *cu = me->customer_id ? cat_find_customer(c, p->acust, me->customer_id) : NULL;
			standing_order *so = &c->pend.d->orders[m];
			if (!defs_unit_link(base, me, cu, so)) {
				atomic_store(&p->failed, true);
				break;
			}
			/* the link's result goes into the compiled record: the next link the
			 * same way takes the hash from there */
			if (me->o.hash != so->hash || me->link_zone != so->rule.zone || me->link_catch_up != so->catch_up) {
				me->o.hash = so->hash;
				me->link_zone = so->rule.zone;
				me->link_catch_up = so->catch_up;
				p->changed[x] = 1;
			}
		}
	}
	return NULL;
}

static int cat_link_new(const catalog *c, const cat_map *acust, const cat_new *no, size_t n) {
	cat_link_pool p = { .c = c, .acust = acust, .no = no, .n = n, .changed = calloc(n ? n : 1, 1) };
	if (!p.changed)
		return -ENOMEM;
	atomic_init(&p.next, 0);
	atomic_init(&p.failed, false);
	cat_threads(cat_link_worker, &p, (n + CAT_LINK_CHUNK - 1) / CAT_LINK_CHUNK);
	for (size_t x = 0; x < n && !atomic_load(&p.failed); x++)
		if (p.changed[x]) {
			cat_file *f = cat_of(c, &no[x].own);
			f->dirty = true;
			free(f->packed);   /* packed again after the link */
			f->packed = NULL;
		}
	free(p.changed);
	return atomic_load(&p.failed) ? -EINVAL : 0;
}

/* Checks the added files against each other and the kept ones, links their
 * standing orders and those of kept files whose customer is in a removed file,
 * and builds the candidate's sorted arrays by merging. 0, -EINVAL (a full
 * validation would report an error), -ENOMEM. */
static int cat_build(catalog *c) {
	cat_reread rr = { 0 };
	cat_map acust = { 0 };
	cat_map_clear(&c->add_cust);
	cat_new *nc = NULL, *no = NULL;
	size_t n_nc = 0, n_no = 0;
	int r = -ENOMEM;
	for (size_t i = 0; i < c->n_added; i++) {
		n_nc += c->added[i]->u.n_customers;
		n_no += c->added[i]->u.n_orders;
		if (c->added[i]->u.n_customers > UINT32_MAX || c->added[i]->u.n_orders > UINT32_MAX)
			return -ENOMEM;   /* past cat_own.idx */
	}
	nc = calloc(n_nc ? n_nc : 1, sizeof(*nc));
	no = calloc(n_no ? n_no : 1, sizeof(*no));
	/* the standing orders have no index: duplicates among the new ones are seen
	 * once they are sorted, against the kept ones by searching the running set */
	bool full = c->pend_full;
	if (!nc || !no || cat_map_reserve(&acust, n_nc) < 0)
		goto out;
	/* ids: new ones must be unique among themselves and against what is kept */
	size_t k = 0, ko = 0;
	for (size_t i = 0; i < c->n_added; i++) {
		cat_file *f = c->added[i];
		for (size_t j = 0; j < f->u.n_customers; j++) {
			const char *id = f->u.customers[j].id;
			if (cat_live(c, id)) {
				r = -EINVAL;
				goto out;
			}
			if ((r = cat_map_add(&acust, id, f, j, true)) < 0) {
				r = r == -EEXIST ? -EINVAL : r;
				goto out;
			}
			nc[k++] = (cat_new) { .id = id, .own = { f->slot, (uint32_t) j } };
		}
		if ((r = cat_tag(f)) < 0)
			goto out;
		for (size_t j = 0; j < f->u.n_orders; j++)
			no[ko++] = (cat_new) { .id = f->u.orders[j].o.id, .own = { f->slot, (uint32_t) j } };
	}
	r = -ENOMEM;   /* for the allocations below */
	const defs *base = c->pend.base;
	/* files are named in id order often (generated sets): a sorted list needs no sort */
	if (!cat_new_sorted(nc, n_nc))
		qsort(nc, n_nc, sizeof(*nc), cat_new_cmp);
	if (!cat_new_sorted(no, n_no))
		qsort(no, n_no, sizeof(*no), cat_new_cmp);
	for (size_t i = 1; i < n_no; i++)
		if (strcmp(no[i - 1].id, no[i].id) == 0) {
			r = -EINVAL;
			goto out;
		}
	/* the new ones ascend: each search starts where the last one ended */
	for (size_t i = 0, lo = 0; !full && c->run.d && i < n_no; i++) {
		lo = cat_run_lower(c, lo, no[i].id);
		if (cat_run_kept(c, lo, no[i].id)) {
			r = -EINVAL;
			goto out;
		}
	}

	/* merge the kept entries (sorted already) with the new ones */
	const defs *old = c->run.d;
	size_t old_nc = old ? old->n_customers : 0, old_no = old ? old->n_orders : 0;
	defs *d = calloc(1, sizeof(*d));
	c->pend.d = d;
	if (!d)
		goto out;
	/* filled below up to their counts: not zeroed (at 100,000 that is time) */
	d->customers = malloc((old_nc + n_nc + 1) * sizeof(*d->customers));
	d->orders = malloc((old_no + n_no + 1) * sizeof(*d->orders));
	c->pend.own_cust = malloc((old_nc + n_nc + 1) * sizeof(cat_own));
	if (!d->customers || !d->orders || !c->pend.own_cust)
		goto out;
	d->config = base->config;
	d->tz = base->tz;
	size_t i = 0, j = 0, m = 0, ko_link = 0;
	while (i < old_nc || j < n_nc) {
		if (i < old_nc && cat_of(c, &c->run.own_cust[i])->dying) {
			i++;
			continue;
		}
		bool take_old = j >= n_nc || (i < old_nc && strcmp(old->customers[i].id, nc[j].id) < 0);
		const cat_own *o = take_old ? &c->run.own_cust[i++] : &nc[j++].own;
		d->customers[m] = *cat_customer(c, o);
		c->pend.own_cust[m++] = *o;
	}
	d->n_customers = m;
	c->chg_drop.n = c->chg_add.n = 0;
	c->chg_known = !full && old;
	bool relink = false;
	for (size_t x = 0; x < c->n_removed; x++)
		relink |= c->removed[x]->u.n_customers > 0;
	i = j = m = 0;
	while (i < old_no || j < n_no) {
		/* a file dies only with one removed (replaced): else no owner is read */
		if (i < old_no && c->n_removed && cat_so_file(c, &old->orders[i])->dying) {
			cat_change(c, &c->chg_drop, i++);
			continue;
		}
		if (j >= n_no || (i < old_no && strcmp(old->orders[i].id, no[j].id) < 0)) {
			const standing_order *so = &old->orders[i++];
			if (relink && so->customer && cat_dying_customer(c, so->customer)) {
				const customer *cu = cat_find_customer(c, &acust, so->customer->id);
				cat_own o = cat_so_own(so);
				/* a thinned unit's standing orders are linked from their file
				 * read again, the others from their unit */
				if (cat_of(c, &o)->u.thin)
					r = cat_relink_thin(c, &rr, base, &o, so, cu, &d->orders[m]);
				else
					r = defs_unit_link(base, &cat_of(c, &o)->u.orders[o.idx], cu, &d->orders[m]) ? 0 : -EINVAL;
				if (r < 0)
					goto out;
				c->stats.orders_linked++;
				cat_change(c, &c->chg_drop, i - 1);
				cat_change(c, &c->chg_add, m);
			} else {
				d->orders[m] = *so;
			}
			m++;
		} else {
			/* a new one, linked in its place below (cat_link_new) */
			cat_change(c, &c->chg_add, m);
			no[ko_link++].pos = m++;
			j++;
		}
	}
	if ((r = cat_link_new(c, &acust, no, ko_link)) < 0)
		goto out;
	d->n_orders = m;
	c->stats.orders_linked += ko_link;
	r = 0;
	/* kept for the commit: a full candidate's is the new index as it is */
	c->add_cust = acust;
	acust = (cat_map) { 0 };
out:
	cat_reread_done(&rr);
	cat_map_clear(&acust);
	free(nc);
	free(no);
	return r;
}

static int cat_flat(cat_file **v, size_t n, defs_file **ret, defs_file_info **ret_info) {
	defs_file *f = calloc(n + 1, sizeof(*f));
	defs_file_info *fi = calloc(n + 1, sizeof(*fi));
	if (!f || !fi) {
		free(f);
		free(fi);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		f[i] = v[i]->f;
		fi[i] = v[i]->info;
	}
	*ret = f;
	*ret_info = fi;
	return 0;
}

/* The errors of the candidate, exactly as a full validation reports them. */
static int cat_full_validation(catalog *c, const defs_file *files, const defs_file_info *info, size_t n,
			       const defs_file *api, size_t na, diag_list *diags) {
	defs *d = NULL;
	defs_file *copy = NULL;
	c->stats.full_validation = true;
	/* the bytes of files not read or not held: from the source */
	for (size_t i = 0; i < n; i++) {
		if (files[i].data)
			continue;
		if (!copy && !(copy = calloc(n, sizeof(*copy))))
			return -ENOMEM;
		cat_file tmp = { .f = { .name = files[i].name, .len = files[i].len },
				 .info = { .hash = cat_hash_of(files, info, i) } };
		int r = cat_fetch(c, &tmp);
		if (r < 0) {
			for (size_t k = 0; k < i; k++)
				free(copy[k].data);
			free(copy);
			return r;
		}
		copy[i] = (defs_file) { .name = files[i].name, .data = tmp.f.data, .len = files[i].len };
	}
	if (copy)
		for (size_t i = 0; i < n; i++)
			if (files[i].data)
				copy[i] = files[i];
	int r = defs_load_with_api(copy ? copy : files, n, api, na, c->tzdir, &d, diags);
	for (size_t i = 0; copy && i < n; i++)
		if (!files[i].data)
			free(copy[i].data);
	free(copy);
	if (r == 0) {
		/* the incremental check and the full one disagree: a defect here */
		defs_free(d);
		diag_add(diags, NULL, 0, 0, "internal error: the catalog refused a set the full validation accepts");
		return -EINVAL;
	}
	return r;
}

static bool cat_has_supplier(const defs_config *cf, const char *id) {
	for (size_t i = 0; i < cf->n_suppliers; i++)
		if (cf->suppliers[i].id && !strcmp(cf->suppliers[i].id, id))
			return true;
	return false;
}

/* Whether the running set names salesperson id (a customer's salesperson:, a
 * reminder's assignee:), which a file's reading checks against the config. */
static bool cat_names_salesperson(const catalog *c, const char *id) {
	const defs *d = c->run.d;
	for (size_t k = 0; k < d->n_customers; k++)
		if (d->customers[k].salesperson && !strcmp(d->customers[k].salesperson, id))
			return true;
	for (size_t k = 0; k < d->n_orders; k++)
		for (size_t i = 0; i < d->orders[k].bulk->n_reminders; i++)
			if (d->orders[k].bulk->reminders[i].assignee && !strcmp(d->orders[k].bulk->reminders[i].assignee, id))
				return true;
	return false;
}

/* Whether a new config leaves every file's reading and linking as it was: the
 * default zone (customers and standing orders without one) and catch-up policy,
 * every supplier a standing order names and every salesperson a customer or a
 * reminder names. The other keys (sockets, quotas, users, names, e-mail
 * addresses) reach no definition. */
static bool cat_config_compatible(const catalog *c, const defs *nb) {
	const defs_config *o = &c->run.base->config, *n = &nb->config;
	if (strcmp(tz_zone_name(o->zone), tz_zone_name(n->zone)) != 0 || o->catch_up != n->catch_up)
		return false;
	for (size_t i = 0; i < o->n_salespeople; i++) {
		const char *id = o->salespeople[i].id;
		if (id && !defs_find_salesperson(n, id) && cat_names_salesperson(c, id))
			return false;
	}
	for (size_t i = 0; i < o->n_suppliers; i++) {
		const char *id = o->suppliers[i].id;
		if (!id || cat_has_supplier(n, id))
			continue;
		for (size_t k = 0; k < c->run.d->n_orders; k++)
			if (c->run.d->orders[k].supplier && !strcmp(c->run.d->orders[k].supplier, id))
				return false;
	}
	return true;
}

/* The candidate's place of a file: the YAML files, then the API's. */
static size_t cat_file_idx(const catalog *c, const cat_file *f) {
	for (size_t i = 0; i < c->pend.n_yaml; i++)
		if (c->pend.yaml[i] == f)
			return i;
	for (size_t i = 0; i < c->pend.n_api; i++)
		if (c->pend.api[i] == f)
			return c->pend.n_yaml + i;
	return SIZE_MAX;
}

/* cat_unit_errors' lookups: the catalog, and the files read again for the
 * positions of ids in the errors. */
typedef struct cat_lookup {
	catalog *c;
	cat_reread rr;
} cat_lookup;

static bool cat_lookup_order(void *ud, const char *id, defs_unit_site *ret) {
	cat_lookup *lc = ud;
	catalog *c = lc->c;
	const standing_order *so = cat_run_order(c, id);
	if (!so)
		return false;
	cat_own own = cat_so_own(so);
	const cat_own *o = &own;
	const cat_file *f = cat_of(c, o);
	/* a thinned unit's positions: from its file read again (once a stage), an
	 * error's only (an id of the running set again); none when it is not there
	 * as it was */
	const defs_unit *u = &f->u;
	if (u->thin && cat_reread_unit(c, &lc->rr, c->pend.base, f, &u) < 0)
		u = NULL;
	bool at = u && u->orders && o->idx < u->n_orders && !strcmp(u->orders[o->idx].o.id, id);
	*ret = (defs_unit_site) { .file = f->f.name, .line = at ? u->orders[o->idx].id_line : 0,
				  .col = at ? u->orders[o->idx].id_col : 0, .file_idx = cat_file_idx(c, f),
				  .pos = o->idx };
	return true;
}

static const customer *cat_lookup_customer(void *ud, const char *id) {
	const catalog *c = ((const cat_lookup *) ud)->c;
	const cat_ent *e = cat_live(c, id);
	return e ? cat_customer(c, &e->own) : NULL;
}

/* A refused change of one orders file (a reload after one file changed, or
 * PlaceStandingOrder): its errors without validating the whole set, when
 * defs_unit_errors can tell them exactly. -EINVAL with diags, or -EAGAIN (or 0,
 * a disagreement): validate the whole set. */
static int cat_unit_errors(catalog *c, diag_list *diags) {
	if (c->pend_full || c->n_added != 1 || c->n_removed > 1)
		return -EAGAIN;
	cat_file *f = c->added[0];
	size_t idx = cat_file_idx(c, f);
	if (idx == SIZE_MAX || idx == 0)   /* standingd.yaml reaches everything */
		return -EAGAIN;
	if (c->n_removed && strcmp(c->removed[0]->f.name, f->f.name) != 0)
		return -EAGAIN;
	if (!f->f.data)
		return -EAGAIN;   /* unpacked: the whole set, with the bytes from the source */
	cat_lookup lc = { .c = c };
	defs_unit_lookup lk = { .order = cat_lookup_order, .customer = cat_lookup_customer, .ud = &lc, .file_idx = idx };
	if (c->n_removed) {
		lk.old_customers = c->removed[0]->u.customers;
		lk.n_old_customers = c->removed[0]->u.n_customers;
	}
	int r = defs_unit_errors(c->pend.base, &f->f, &lk, diags);
	cat_reread_done(&lc.rr);
	return r;
}

int catalog_stage(catalog *c, const defs_file *files, size_t n, const defs_file *api, size_t na,
		  diag_list *diags) {
	return catalog_stage_known(c, files, NULL, n, api, na, diags);
}

static int cset_file_cmp(const void *key, const void *e) {
	return strcmp(key, ((const store_cset_file *) e)->name);
}

int catalog_stage_stored(catalog *c, store_txn *t, const defs_file *api, size_t na, diag_list *diags) {
	defs_file *files = NULL;
	defs_file_info *info = NULL;
	store_cset *m = NULL;
	size_t n = 0;
	int r = store_defs_get(t, &files, &n);
	if (r < 0)
		return r;
	bool compiled = false;
	for (size_t i = 1; i < n; i++)
		compiled |= !files[i].data;
	/* the orders files stored compiled: their records, which the same
	 * transactions wrote under the stored standingd.yaml; files stored as bytes
	 * (all of them in a store written before the compiled records) with their
	 * hash and size, which the compiled set the next apply writes names them by
	 * (without, that set would name them by none and its records not load) */
	if (compiled && (r = store_cset_get(t, &m)) < 0)
		r = r == -ENOENT ? -EBADMSG : r;
	else if (!(info = calloc(n ? n : 1, sizeof(*info))))
		r = -ENOMEM;
	for (size_t i = 0; r == 0 && i < n; i++) {
		if (files[i].data) {
			info[i].hash = defs_hash64(files[i].data, files[i].len, 0);
			info[i].id.size = files[i].len;
			continue;
		}
		const store_cset_file *f = bsearch(files[i].name, m->files, m->n_files, sizeof(*m->files), cset_file_cmp);
		if (!f || f->info.id.size != files[i].len) {
			r = -EBADMSG;   /* a file the compiled set does not name */
			break;
		}
		info[i] = f->info;
		info[i].unread = true;
		if ((r = store_cset_record(t, files[i].name, &info[i].packed, &info[i].packed_len)) < 0)
			r = r == -ENOENT ? -EBADMSG : r;
	}
	if (r == 0)
		r = catalog_stage_known(c, files, info, n, api, na, diags);
	/* a record that does not unpack (damaged, another version) with no source to
	 * read the YAML from is no last good set */
	if (r == -ESTALE)
		r = -EBADMSG;
	free(info);
	store_cset_free(m);
	defs_files_free(files, n);
	return r;
}

int catalog_stage_known(catalog *c, const defs_file *files, const defs_file_info *info, size_t n,
			const defs_file *api, size_t na, diag_list *diags) {
	const defs_file_info *api_info = NULL;
	if (c->staged)
		return -EBUSY;
	c->stats = (catalog_stats) { 0 };
	c->chg_known = false;
	if (!files) {
		files = c->run.yaml_flat;
		info = c->run.yaml_info;
		n = c->run.n_yaml;
	}
	if (!api) {
		api = c->run.api_flat;
		api_info = c->run.api_info;
		na = c->run.n_api;
	}
	if (n == 0 || (!c->run.d && !files))
		return cat_full_validation(c, files, info, n, api, na, diags);
	c->staged = true;
	c->pend = (cat_set) { 0 };
	c->pend_full = !c->run.d || c->force_full;
	int r;
	if (c->pend_full || !cat_same(c->run.yaml[0], &files[0], cat_hash_of(files, info, 0))) {
		diag_list ignored = { 0 };
		r = defs_load_files(&files[0], 1, c->tzdir, &c->pend.base, &ignored);
		diag_list_clear(&ignored);
		if (r < 0)
			goto fail;
		/* a new standingd.yaml: every file is read again, unless what the files'
		 * reading and linking take from it stayed as it was */
		if (!c->pend_full && (c->n_retired == CAT_RETIRED_MAX || !cat_config_compatible(c, c->pend.base)))
			c->pend_full = true;
		c->stats.config_kept = !c->pend_full;
	} else {
		c->pend.base = c->run.base;
	}
	c->stats.full = c->pend_full;
	c->pend.n_yaml = n;
	c->pend.n_api = na;
	if ((r = cat_files_stage(c, c->run.yaml, c->run.n_yaml, files, info, n, true, &c->pend.yaml,
				 &c->yaml_changed)) < 0)
		goto fail;
	if ((r = cat_files_stage(c, c->run.api, c->run.n_api, api, api_info, na, false, &c->pend.api,
				 &c->api_changed)) < 0)
		goto fail;
	if ((r = cat_build(c)) < 0)
		goto fail;
	if ((r = cat_flat(c->pend.yaml, n, &c->pend.yaml_flat, &c->pend.yaml_info)) < 0 ||
	    (r = cat_flat(c->pend.api, na, &c->pend.api_flat, &c->pend.api_info)) < 0)
		goto fail;
	/* the compiled records of the YAML orders files read or linked anew */
	for (size_t i = 0; i < c->n_added; i++) {
		cat_file *f = c->added[i];
		if (f->orders_yaml && f->dirty && !f->packed && (r = defs_unit_pack(&f->u, &f->packed, &f->packed_len)) < 0)
			goto fail;
	}
	return 0;
fail:
	if (r == -EINVAL) {
		int ru = cat_unit_errors(c, diags);
		c->stats.unit_errors = ru == -EINVAL;
		if (ru == -EINVAL || ru == -ENOMEM) {
			catalog_abort(c);
			return ru;
		}
	}
	catalog_abort(c);
	if (r == -EINVAL)
		r = cat_full_validation(c, files, info, n, api, na, diags);
	return r;
}

int catalog_pending_compiled(const catalog *c, catalog_compiled **ret, size_t *ret_n, uint64_t *ret_config_hash) {
	if (!c->staged || !c->yaml_changed)
		return -ENOENT;
	size_t n = c->pend.n_yaml ? c->pend.n_yaml - 1 : 0;
	catalog_compiled *v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const cat_file *f = c->pend.yaml[i + 1];
		v[i] = (catalog_compiled) { .name = f->f.name, .info = f->info, .packed = f->packed,
					    .packed_len = f->packed_len };
	}
	*ret = v;
	*ret_n = n;
	*ret_config_hash = c->pend.n_yaml ? c->pend.yaml[0]->info.hash : 0;
	return 0;
}

int catalog_stage_api_order(catalog *c, const char *id, const char *json, diag_list *diags) {
	if (c->staged)
		return -EBUSY;
	defs_file *api;
	size_t na;
	int r = defs_api_files_with(c->run.api_flat, c->run.n_api, id, json, &api, &na);
	if (r < 0)
		return r;
	r = catalog_stage(c, NULL, 0, api, na, diags);
	defs_files_free(api, na);
	return r;
}

void catalog_abort(catalog *c) {
	c->chg_known = false;
	if (!c->staged)
		return;
	for (size_t i = 0; i < c->n_added; i++)
		cat_file_drop(c, c->added[i]);
	for (size_t i = 0; i < c->n_removed; i++)
		c->removed[i]->dying = false;
	free(c->added);
	free(c->removed);
	c->added = c->removed = NULL;
	c->n_added = c->n_removed = 0;
	cat_map_clear(&c->add_cust);
	cat_set_done(&c->pend, c->pend.base != c->run.base);
	c->staged = false;
}

void catalog_commit(catalog *c) {
	if (!c->staged)
		return;
	bool ok = true;
	if (c->pend_full) {
		cat_map_clear(&c->cust);
		c->force_full = false;
		/* cat_build's index of the added files' customers is the whole set's */
		c->cust = c->add_cust;
		c->add_cust = (cat_map) { 0 };
	} else {
		for (size_t i = 0; i < c->n_removed; i++) {
			cat_file *f = c->removed[i];
			for (size_t j = 0; j < f->u.n_customers; j++)
				cat_map_del(&c->cust, f->u.customers[j].id, f);
		}
	}
	/* The index must not fail half-way: on -ENOMEM it is dropped below and the
	 * next change reads everything again. */
	cat_map_clear(&c->add_cust);
	for (size_t i = 0; i < c->n_added && ok && !c->pend_full; i++) {
		cat_file *f = c->added[i];
		for (size_t j = 0; j < f->u.n_customers && ok; j++)
			ok = cat_map_put(&c->cust, f->u.customers[j].id, f, j) == 0;
	}
	for (size_t i = 0; i < c->n_removed; i++)
		cat_file_drop(c, c->removed[i]);
	free(c->added);
	free(c->removed);
	c->added = c->removed = NULL;
	c->n_added = c->n_removed = 0;
	cat_run_arrays_free(c);
	if (c->pend_full) {
		/* every unit is new: the configs they were read under can go */
		for (size_t i = 0; i < c->n_retired; i++)
			defs_free(c->retired[i]);
		c->n_retired = 0;
		cat_set_done(&c->run, c->pend.base != c->run.base);
	} else {
		if (c->pend.base != c->run.base)
			c->retired[c->n_retired++] = c->run.base;   /* kept units point into its tz_db */
		cat_set_done(&c->run, false);
	}
	c->run = c->pend;
	c->pend = (cat_set) { 0 };
	c->staged = false;
	/* the packed units are in the store now (unless committed unstored: then the
	 * next apply that stores the compiled set writes them); with a source, no orders
	 * file's bytes are held either (the flat views share the pointers) */
	bool unstored = c->commit_unstored;
	c->commit_unstored = false;
	for (size_t i = 0; i < c->run.n_yaml; i++) {
		cat_file *f = c->run.yaml[i];
		if (!unstored) {
			free(f->packed);
			f->packed = NULL;
			f->packed_len = 0;
			f->dirty = false;
		}
		/* its standing orders are the running set's now: the unit drops them */
		if (i > 0)
			defs_unit_thin(&f->u);
		if (c->source && i > 0 && f->f.data) {
			free(f->f.data);
			f->f.data = c->run.yaml_flat[i].data = NULL;
		}
	}
	if (c->thin && !unstored)
		cat_thin_run(c);
	else
		c->thin_all = false;
	if (!ok) {
		/* out of memory: an index that misses ids would accept duplicates; drop
		 * it so that the next change reads everything again */
		cat_map_clear(&c->cust);
		c->force_full = true;
	}
}
