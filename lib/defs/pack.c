/* The packed unit (pack.h): writer, reader, arena, content hash. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "lib/base/bytes.h"
#include "lib/defs/pack.h"
#include "lib/time/cal.h"

/* ---- the hash: four 64-bit lanes over 32-byte stripes, then the tail ---- */

#define H_P1 UINT64_C(0x9e3779b185ebca87)
#define H_P2 UINT64_C(0xc2b2ae3d27d4eb4f)
#define H_P3 UINT64_C(0x165667b19e3779f9)

static inline uint64_t h_rotl(uint64_t x, int r) {
	return (x << r) | (x >> (64 - r));
}

static inline uint64_t h_load(const unsigned char *p) {
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint64_t h_round(uint64_t acc, uint64_t w) {
	return h_rotl(acc + w * H_P2, 31) * H_P1;
}

static inline uint64_t h_fmix(uint64_t h) {
	h ^= h >> 33;
	h *= UINT64_C(0xff51afd7ed558ccd);
	h ^= h >> 33;
	h *= UINT64_C(0xc4ceb9fe1a85ec53);
	h ^= h >> 33;
	return h;
}

uint64_t defs_hash64(const void *data, size_t len, uint64_t seed) {
	const unsigned char *p = data, *end = p + len;
	uint64_t h;
	if (len >= 32) {
		uint64_t a = seed + H_P1 + H_P2, b = seed + H_P2, c = seed, d = seed - H_P1;
		for (; end - p >= 32; p += 32) {
			a = h_round(a, h_load(p));
			b = h_round(b, h_load(p + 8));
			c = h_round(c, h_load(p + 16));
			d = h_round(d, h_load(p + 24));
		}
		h = h_rotl(a, 1) + h_rotl(b, 7) + h_rotl(c, 12) + h_rotl(d, 18);
		h = (h ^ h_round(0, a)) * H_P1 + H_P3;
		h = (h ^ h_round(0, b)) * H_P1 + H_P3;
		h = (h ^ h_round(0, c)) * H_P1 + H_P3;
		h = (h ^ h_round(0, d)) * H_P1 + H_P3;
	} else {
		h = seed + H_P3;
	}
	h += (uint64_t) len;
	for (; end - p >= 8; p += 8)
		h = h_rotl(h ^ h_round(0, h_load(p)), 27) * H_P1 + H_P3;
	for (; p < end; p++)
		h = h_rotl(h ^ (*p * H_P3), 11) * H_P1;
	return h_fmix(h);
}

/* ---- the arena ---- */

typedef struct defs_arena {
	struct defs_arena *next;
	size_t used, cap;
	max_align_t data[];
} defs_arena;

/* The small allocations share blocks that grow from ARENA_MIN to ARENA_MAX bytes,
 * each twice the one before, so a small arena (a thinned orders file keeps its ids
 * and customers in one) leaves at most about half its newest block unused, not most
 * of a fixed-size one (a 60,000-byte first block was ~9 MiB of 1,000 files' arenas
 * at 1,000,000 standing orders). An allocation of more than ARENA_MIN bytes (a
 * file's string table, its customers) gets a block of its own, of exactly its size,
 * put behind the newest shared block, which keeps its room: a block sized for one
 * allocation never sets the next shared block's size. */
#define ARENA_MIN 1024
#define ARENA_MAX 65536

static defs_arena *arena_block(size_t cap) {
	if (cap > SIZE_MAX - sizeof(defs_arena))
		return NULL;
	defs_arena *n = malloc(sizeof(*n) + cap);
	if (!n)
		return NULL;
	n->next = NULL;
	n->used = 0;
	n->cap = cap;
	return n;
}

static void *arena_alloc(defs_arena **a, size_t size) {
	if (size > SIZE_MAX - 7)
		return NULL;
	size = (size + 7) & ~(size_t) 7;
	if (!*a && !(*a = arena_block(ARENA_MIN)))
		return NULL;
	defs_arena *h = *a;
	if (h->cap - h->used >= size) {
		void *p = (char *) h->data + h->used;
		h->used += size;
		return p;
	}
	defs_arena *n = arena_block(size > ARENA_MIN ? size : (h->cap < ARENA_MAX / 2 ? 2 * h->cap : ARENA_MAX));
	if (!n)
		return NULL;
	n->used = size;
	if (size > ARENA_MIN) {
		n->next = h->next;
		h->next = n;
	} else {
		n->next = h;
		*a = n;
	}
	return n->data;
}

void *defs_arena_alloc(defs_arena **a, size_t size) {
	return arena_alloc(a, size);
}

void defs_arena_reset(defs_arena **a) {
	if (!*a)
		return;
	defs_arena_free((*a)->next);   /* the newest block stays */
	(*a)->next = NULL;
	(*a)->used = 0;
}

void defs_arena_free(defs_arena *a) {
	while (a) {
		defs_arena *n = a->next;
		free(a);
		a = n;
	}
}

/* ---- writer ---- */

/* The string table: open addressing over the distinct strings, in order of first use. */
typedef struct pk_strs {
	const char **v;          /* by index - 1 */
	size_t n, cap;
	uint32_t *slot;          /* index + 1, 0 empty */
	size_t n_slot;
	bool oom;
} pk_strs;

static uint64_t pk_str_hash(const char *s) {
	return defs_hash64(s, strlen(s), 0);
}

static void pk_strs_grow(pk_strs *t) {
	size_t ns = t->n_slot ? t->n_slot * 2 : 256;
	uint32_t *slot = calloc(ns, sizeof(*slot));
	const char **v = realloc(t->v, ns / 2 * sizeof(*v));
	if (!slot || !v) {
		free(slot);
		if (v)
			t->v = v;
		t->oom = true;
		return;
	}
	t->v = v;
	t->cap = ns / 2;
	for (size_t i = 0; i < t->n; i++) {
		size_t k = pk_str_hash(t->v[i]) & (ns - 1);
		while (slot[k])
			k = (k + 1) & (ns - 1);
		slot[k] = (uint32_t) (i + 1);
	}
	free(t->slot);
	t->slot = slot;
	t->n_slot = ns;
}

/* The string's reference: 0 for NULL, else its index in the table + 1. */
static uint64_t pk_str_ref(pk_strs *t, const char *s) {
	if (!s || t->oom)
		return 0;
	if (t->n >= t->cap)
		pk_strs_grow(t);
	if (t->oom)
		return 0;
	size_t k = pk_str_hash(s) & (t->n_slot - 1);
	for (; t->slot[k]; k = (k + 1) & (t->n_slot - 1))
		if (!strcmp(t->v[t->slot[k] - 1], s))
			return t->slot[k];
	t->v[t->n++] = s;
	t->slot[k] = (uint32_t) t->n;
	return t->n;
}

static void pk_str(bytes_buf *b, pk_strs *t, const char *s) {
	bytes_uv(b, pk_str_ref(t, s));
}

static void pk_customer(bytes_buf *b, pk_strs *t, const customer *cu) {
	pk_str(b, t, cu->id);
	pk_str(b, t, cu->name);
	pk_str(b, t, cu->language);
	pk_str(b, t, cu->zone ? tz_zone_name(cu->zone) : NULL);
	pk_str(b, t, cu->salesperson);
	pk_str(b, t, cu->account_number);
	bytes_sv(b, cu->credit_limit.minor);
	pk_str(b, t, cu->credit_limit.currency);
	bytes_sv(b, cu->vat_rate);
	bytes_sv(b, cu->payment_due);
	bytes_sv(b, cu->cancel_unpaid_after);
	bytes_uv(b, cu->n_contacts);
	for (size_t i = 0; i < cu->n_contacts; i++) {
		pk_str(b, t, cu->contacts[i].name);
		pk_str(b, t, cu->contacts[i].role);
		pk_str(b, t, cu->contacts[i].email);
		pk_str(b, t, cu->contacts[i].phone);
	}
	pk_str(b, t, cu->file);
	bytes_sv(b, cu->line);
}

/* A standing order's thin fields in the head (version 3): all but its bulk, with
 * the counts of its lines and its reminders' kinds and offsets. */
static void pk_order(bytes_buf *b, pk_strs *t, const defs_unit_order *e) {
	const standing_order *so = &e->o;
	const rule *r = &so->rule;
	defs_rule_wire w;   /* the bytes of version 3 with the smaller rule */
	defs_rule_wire_of(r, &w);
	pk_str(b, t, so->id);
	pk_str(b, t, so->supplier);
	bytes_uv(b, so->bulk->n_lines);   /* so->n_lines saturates */
	bytes_uv(b, so->payment);
	bytes_uv(b, r->kind);
	bytes_uv(b, r->unit);
	bytes_uv(b, w.interval);
	bytes_sv(b, w.start_day);
	bytes_sv(b, r->at);
	bytes_uv(b, w.on_mask);
	bytes_sv(b, w.day);
	bytes_sv(b, w.nth);
	bytes_sv(b, w.weekday);
	bytes_uv(b, w.cron.minute);
	bytes_uv(b, w.cron.hour);
	bytes_uv(b, w.cron.dom);
	bytes_uv(b, w.cron.month);
	bytes_uv(b, w.cron.dow);
	bytes_uv(b, (uint64_t) w.cron.dom_star | (uint64_t) w.cron.dow_star << 1 | (uint64_t) r->has_until << 2 |
		(uint64_t) r->paused << 3);
	bytes_sv(b, r->until_day);
	bytes_uv(b, r->count);
	bytes_uv(b, r->n_skip);
	for (size_t i = 0; i < r->n_skip; i++)
		bytes_sv(b, r->skip[i]);
	bytes_sv(b, r->lead_time);
	pk_str(b, t, r->zone ? tz_zone_name(r->zone) : NULL);
	bytes_uv(b, so->catch_up);
	const so_bulk *sb = so->bulk;
	bytes_uv(b, sb->n_reminders);
	for (size_t i = 0; i < sb->n_reminders; i++) {
		bytes_uv(b, sb->reminders[i].kind);
		bytes_sv(b, sb->reminders[i].offset);
	}
	pk_str(b, t, sb->file);
	bytes_uv(b, so->hash);
	pk_str(b, t, e->customer_id);
	bytes_uv(b, (uint64_t) e->has_zone | (uint64_t) e->has_catch_up << 1 | (uint64_t) e->has_payment << 2 |
		(uint64_t) (sb->placed_by && !strncmp(sb->placed_by, "shop:", 5)) << 3);
	bytes_sv(b, e->id_line);
	bytes_sv(b, e->id_col);
	pk_str(b, t, e->link_zone ? tz_zone_name(e->link_zone) : NULL);
	bytes_uv(b, e->link_catch_up);
}

/* The seed of section pos's hash: a section read at another position fails. */
static uint64_t pk_section_seed(uint32_t pos) {
	return (uint64_t) pos << 8 | DEFS_PACK_VERSION;
}

/* A standing order's bulk section: 8 bytes of hash, then its fields with their
 * strings inline (a section decodes alone). */
static void pk_section(bytes_buf *b, const standing_order *so, uint32_t pos) {
	size_t at = b->n;
	uint8_t h0[8] = { 0 };
	bytes_put(b, h0, 8);
	const so_bulk *sb = so->bulk;
	bytes_ostr(b, sb->ship_to.name);
	bytes_ostr(b, sb->ship_to.street);
	bytes_ostr(b, sb->ship_to.postcode);
	bytes_ostr(b, sb->ship_to.city);
	bytes_ostr(b, sb->ship_to.country);
	bytes_uv(b, sb->n_lines);
	for (size_t i = 0; i < sb->n_lines; i++) {
		bytes_ostr(b, sb->lines[i].sku);
		bytes_sv(b, sb->lines[i].quantity);
		bytes_sv(b, sb->lines[i].unit_price.minor);
		bytes_ostr(b, sb->lines[i].unit_price.currency);
	}
	bytes_uv(b, sb->n_reminders);
	for (size_t i = 0; i < sb->n_reminders; i++) {
		bytes_uv(b, sb->reminders[i].kind);
		bytes_sv(b, sb->reminders[i].offset);
		bytes_ostr(b, sb->reminders[i].task);
		bytes_ostr(b, sb->reminders[i].assignee);
	}
	bytes_ostr(b, sb->placed_by);
	bytes_sv(b, sb->line);
	if (b->failed)
		return;
	uint64_t h = defs_hash64(b->p + at + 8, b->n - at - 8, pk_section_seed(pos));
	for (int i = 0; i < 8; i++)
		b->p[at + i] = (uint8_t) (h >> (8 * i));
}

static void pk_le32(bytes_buf *b, uint32_t v) {
	uint8_t x[4] = { (uint8_t) v, (uint8_t) (v >> 8), (uint8_t) (v >> 16), (uint8_t) (v >> 24) };
	bytes_put(b, x, 4);
}

static uint32_t rd_le32(const uint8_t *p) {
	return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

/* Version 3: [0] the version, [1, 9) defs_hash64 of [9, bulk), [9, 13) the head's
 * length L (from byte 13; bulk = 13 + L), [13, 17) n_orders, then n_orders + 1
 * offsets of the sections from bulk (4-byte little-endian each, the last the bulk
 * area's length), the string table, the customers, the standing orders' thin
 * fields; [bulk, len): the sections. */
#define PK_HEAD 9   /* version byte, 8 bytes of hash */
#define PK_FIX 17   /* and the head's length, n_orders */

int defs_unit_pack(const defs_unit *u, uint8_t **ret, size_t *ret_len) {
	bytes_buf body = { 0 }, out = { 0 }, bulk = { 0 };
	pk_strs t = { 0 };
	int r = -ENOMEM;
	uint32_t *off = NULL;
	if (u->n_customers > UINT32_MAX || u->n_orders >= UINT32_MAX)
		return -EINVAL;
	off = malloc((u->n_orders + 1) * sizeof(*off));
	if (!off)
		return -ENOMEM;
	bytes_uv(&body, u->n_customers);
	for (size_t i = 0; i < u->n_customers; i++)
		pk_customer(&body, &t, &u->customers[i]);
	bytes_uv(&body, u->n_orders);
	for (size_t i = 0; i < u->n_orders; i++) {
		pk_order(&body, &t, &u->orders[i]);
		off[i] = (uint32_t) bulk.n;
		pk_section(&bulk, &u->orders[i].o, (uint32_t) i);
		if (bulk.n > UINT32_MAX) {
			r = -EINVAL;
			goto out;
		}
	}
	off[u->n_orders] = (uint32_t) bulk.n;
	if (body.failed || t.oom || bulk.failed)
		goto out;
	uint8_t head[PK_FIX] = { 0 };
	bytes_put(&out, head, PK_FIX);
	for (size_t i = 0; i <= u->n_orders; i++)
		pk_le32(&out, off[i]);
	bytes_uv(&out, t.n);
	for (size_t i = 0; i < t.n; i++) {
		size_t len = strlen(t.v[i]);
		bytes_uv(&out, len);
		bytes_put(&out, t.v[i], len);
	}
	bytes_put(&out, body.p, body.n);
	if (out.failed)
		goto out;
	if (out.n - 13 > UINT32_MAX) {
		r = -EINVAL;
		goto out;
	}
	size_t head_end = out.n;
	uint32_t hl = (uint32_t) (out.n - 13), no = (uint32_t) u->n_orders;
	for (int i = 0; i < 4; i++) {
		out.p[9 + i] = (uint8_t) (hl >> (8 * i));
		out.p[13 + i] = (uint8_t) (no >> (8 * i));
	}
	uint64_t h = defs_hash64(out.p + PK_HEAD, head_end - PK_HEAD, DEFS_PACK_VERSION);
	out.p[0] = DEFS_PACK_VERSION;
	for (int i = 0; i < 8; i++)
		out.p[1 + i] = (uint8_t) (h >> (8 * i));
	bytes_put(&out, bulk.p, bulk.n);
	if (out.failed)
		goto out;
	*ret = out.p;
	*ret_len = out.n;
	out = (bytes_buf) { 0 };
	r = 0;
out:
	bytes_free(&out);
	bytes_free(&body);
	bytes_free(&bulk);
	free(off);
	free(t.v);
	free(t.slot);
	return r;
}

/* ---- reader ---- */

enum { RD_CRONS = 16 };

typedef struct pk_rd {
	bytes_rd b;
	char **strs;             /* the table's strings (they are in the arena; this array
				  * is malloc'd and freed once the unit is read) */
	size_t n_strs;
	defs_arena *arena;
	tz_db *tz;
	const char *zone_name;   /* the last zone looked up (a string of the table) */
	const tz_zone *zone;
	/* the unit's cron expressions, one copy each (RD_CRONS distinct at most; more
	 * get their own): a schedule rarely has one of its own, and at 1,000,000
	 * standing orders a copy each was 2.3 MiB */
	const cron_expr *crons[RD_CRONS];
	size_t n_crons;
	bool bad, oom;
} pk_rd;

static uint64_t rd_u(pk_rd *r) {
	uint64_t v = bytes_get_uv(&r->b);
	r->bad |= r->b.bad;
	return v;
}

static int64_t rd_s(pk_rd *r) {
	int64_t v = bytes_get_sv(&r->b);
	r->bad |= r->b.bad;
	return v;
}

static int64_t rd_range(pk_rd *r, int64_t lo, int64_t hi) {
	int64_t v = rd_s(r);
	if (v < lo || v > hi)
		r->bad = true;
	return v;
}

/* A rule's start_day: INT64_MIN stands for RULE_NO_DAY (the bytes of the 64-bit field) */
static int32_t rd_start_day(pk_rd *r) {
	int64_t v = rd_s(r);
	if (v == INT64_MIN)
		return RULE_NO_DAY;
	if (v <= INT32_MIN || v > INT32_MAX)
		r->bad = true;
	return (int32_t) v;
}

static uint64_t rd_max(pk_rd *r, uint64_t hi) {
	uint64_t v = rd_u(r);
	if (v > hi)
		r->bad = true;
	return v;
}

static char *rd_str(pk_rd *r) {
	uint64_t k = rd_u(r);
	if (k == 0)
		return NULL;
	if (k > r->n_strs || !r->strs) {
		r->bad |= k > r->n_strs;
		return NULL;
	}
	return r->strs[k - 1];
}

/* A count of elements of at least min_size bytes each: bounded by what is left. */
static size_t rd_count(pk_rd *r, size_t min_size) {
	uint64_t n = rd_u(r);
	if (n > (uint64_t) (r->b.end - r->b.p) / min_size) {
		r->bad = true;
		return 0;
	}
	return (size_t) n;
}

static void *rd_alloc(pk_rd *r, size_t n, size_t size) {
	if (r->bad || r->oom || n == 0)
		return NULL;
	void *p = arena_alloc(&r->arena, n * size);
	if (!p)
		r->oom = true;
	else
		memset(p, 0, n * size);
	return p;
}

static void rd_fixed(pk_rd *r, char *dst, size_t cap) {
	const char *s = rd_str(r);
	if (!s)
		return;   /* an empty fixed field is written as its "" (never NULL) */
	if (strlen(s) >= cap)
		r->bad = true;
	else
		memcpy(dst, s, strlen(s) + 1);
}

static const tz_zone *rd_zone(pk_rd *r) {
	const char *name = rd_str(r);
	const tz_zone *z = NULL;
	if (name && name == r->zone_name)
		return r->zone;   /* the table holds each name once */
	if (name && !r->bad && tz_db_get(r->tz, name, &z) < 0)
		r->bad = true;
	r->zone_name = name;
	r->zone = z;
	return z;
}

static void rd_customer(pk_rd *r, customer *cu) {
	cu->id = rd_str(r);
	cu->name = rd_str(r);
	rd_fixed(r, cu->language, sizeof(cu->language));
	cu->zone = rd_zone(r);
	cu->salesperson = rd_str(r);
	cu->account_number = rd_str(r);
	cu->credit_limit.minor = rd_s(r);
	rd_fixed(r, cu->credit_limit.currency, sizeof(cu->credit_limit.currency));
	cu->vat_rate = (int32_t) rd_range(r, INT32_MIN, INT32_MAX);
	cu->payment_due = rd_s(r);
	cu->cancel_unpaid_after = rd_s(r);
	cu->n_contacts = rd_count(r, 4);
	cu->contacts = rd_alloc(r, cu->n_contacts, sizeof(*cu->contacts));
	for (size_t i = 0; i < cu->n_contacts && cu->contacts; i++) {
		cu->contacts[i].name = rd_str(r);
		cu->contacts[i].role = rd_str(r);
		cu->contacts[i].email = rd_str(r);
		cu->contacts[i].phone = rd_str(r);
	}
	if (!cu->contacts)
		cu->n_contacts = 0;
	cu->file = rd_str(r);
	cu->line = (int) rd_range(r, INT32_MIN, INT32_MAX);
	if (!cu->id)
		r->bad = true;
}

static bool cron_same(const cron_expr *a, const cron_expr *b) {
	return a->minute == b->minute && a->hour == b->hour && a->dom == b->dom && a->month == b->month &&
	       a->dow == b->dow && a->dom_star == b->dom_star && a->dow_star == b->dow_star;
}

/* ce out of line, in the arena like skip: the unit's copy of it (r->crons) */
static const cron_expr *rd_cron(pk_rd *r, const cron_expr *ce) {
	for (size_t i = 0; i < r->n_crons; i++)
		if (cron_same(r->crons[i], ce))
			return r->crons[i];
	cron_expr *cp = rd_alloc(r, 1, sizeof(*cp));
	if (cp) {
		*cp = *ce;
		if (r->n_crons < RD_CRONS)
			r->crons[r->n_crons++] = cp;
	}
	return cp;
}

/* e's head; *hb: the head's counts and reminders' kinds and offsets (in the
 * arena), for the section's check. */
static void rd_order(pk_rd *r, defs_unit_order *e, so_bulk *hb) {
	standing_order *so = &e->o;
	rule *ru = &so->rule;
	so->id = rd_str(r);
	so->supplier = rd_str(r);
	uint32_t n_lines = (uint32_t) rd_max(r, UINT32_MAX);
	so->n_lines = defs_so_n_lines(n_lines);
	so->payment = (order_payment) rd_max(r, ORDER_PAYMENT_PREPAID);
	ru->kind = (uint8_t) rd_max(r, RULE_CRON);
	ru->unit = (uint8_t) rd_max(r, RULE_UNIT_YEAR);
	/* the cron fields and the others share storage: the other kind's must be
	 * what the writer puts there, so that the unit packs again to these bytes */
	uint32_t interval = (uint32_t) rd_max(r, UINT32_MAX);
	ru->start_day = rd_start_day(r);
	ru->at = (uint32_t) rd_range(r, 0, CAL_SECS_PER_DAY - 1);   /* 17 bits: what the parser gives */
	uint8_t on_mask = (uint8_t) rd_max(r, UINT8_MAX);
	int8_t day = (int8_t) rd_range(r, INT8_MIN, INT8_MAX);
	int8_t nth = (int8_t) rd_range(r, INT8_MIN, INT8_MAX);
	int8_t weekday = (int8_t) rd_range(r, INT8_MIN, INT8_MAX);
	cron_expr ce;
	ce.minute = rd_u(r);
	ce.hour = (uint32_t) rd_max(r, UINT32_MAX);
	ce.dom = (uint32_t) rd_max(r, UINT32_MAX);
	ce.month = (uint16_t) rd_max(r, UINT16_MAX);
	ce.dow = (uint8_t) rd_max(r, UINT8_MAX);
	uint64_t fl = rd_max(r, 15);
	ce.dom_star = fl & 1;
	ce.dow_star = fl & 2;
	if (ru->kind == RULE_CRON) {
		if (interval != 1 || on_mask || day || nth || weekday)
			r->bad = true;
		ru->cron = rd_cron(r, &ce);
	} else {
		if (ce.minute || ce.hour || ce.dom || ce.month || ce.dow || ce.dom_star || ce.dow_star)
			r->bad = true;
		ru->interval = interval;
		ru->on_mask = on_mask;
		ru->day = day;
		ru->nth = nth;
		ru->weekday = weekday;
	}
	ru->has_until = (fl & 4) != 0;
	ru->paused = (fl & 8) != 0;
	ru->until_day = (int32_t) rd_range(r, INT32_MIN, INT32_MAX);
	ru->count = (uint32_t) rd_max(r, UINT32_MAX);
	ru->n_skip = (uint32_t) rd_count(r, 1);
	ru->skip = rd_alloc(r, ru->n_skip, sizeof(*ru->skip));
	for (size_t i = 0; i < ru->n_skip && ru->skip; i++)
		ru->skip[i] = rd_s(r);
	if (!ru->skip)
		ru->n_skip = 0;
	ru->lead_time = (int32_t) rd_range(r, INT32_MIN, INT32_MAX);
	ru->zone = rd_zone(r);
	so->catch_up = (uint8_t) rd_max(r, CATCH_UP_NONE);
	*hb = (so_bulk) { .n_lines = n_lines };
	hb->n_reminders = rd_count(r, 2);
	hb->reminders = rd_alloc(r, hb->n_reminders, sizeof(*hb->reminders));
	for (size_t i = 0; i < hb->n_reminders && hb->reminders; i++) {
		hb->reminders[i].kind = (reminder_kind) rd_max(r, REMIND_AFTER_SHIPPED);
		hb->reminders[i].offset = rd_s(r);
	}
	if (!hb->reminders)
		hb->n_reminders = 0;
	hb->file = rd_str(r);
	so->hash = rd_u(r);
	e->customer_id = rd_str(r);
	fl = rd_max(r, 15);
	e->has_zone = fl & 1;
	e->has_catch_up = fl & 2;
	e->has_payment = fl & 4;
	e->id_line = (int) rd_range(r, INT32_MIN, INT32_MAX);
	e->id_col = (int) rd_range(r, INT32_MIN, INT32_MAX);
	e->link_zone = rd_zone(r);
	e->link_catch_up = (catch_up) rd_max(r, CATCH_UP_NONE);
	if (!so->id)
		r->bad = true;
}

/* ---- a section ---- */

typedef struct sec_rd {
	bytes_rd b;
	defs_arena **arena;
	bool oom;
} sec_rd;

static void *sec_alloc(sec_rd *r, size_t n, size_t size) {
	if (r->b.bad || r->oom || n == 0)
		return NULL;
	void *p = arena_alloc(r->arena, n * size);
	if (!p)
		r->oom = true;
	else
		memset(p, 0, n * size);
	return p;
}

/* An inline string that may be NULL (bytes_ostr), into the arena. */
static char *sec_ostr(sec_rd *r) {
	uint64_t n = bytes_get_uv(&r->b);
	if (r->b.bad || n == 0)
		return NULL;
	n--;
	if (n > (uint64_t) (r->b.end - r->b.p)) {
		r->b.bad = true;
		return NULL;
	}
	if (memchr(r->b.p, 0, (size_t) n)) {
		r->b.bad = true;   /* strings of the definitions never hold a NUL */
		return NULL;
	}
	char *s = sec_alloc(r, (size_t) n + 1, 1);
	if (s)
		memcpy(s, r->b.p, (size_t) n);
	r->b.p += n;
	return s;
}

static size_t sec_count(sec_rd *r, size_t min_size) {
	uint64_t n = bytes_get_uv(&r->b);
	if (n > (uint64_t) (r->b.end - r->b.p) / min_size) {
		r->b.bad = true;
		return 0;
	}
	return (size_t) n;
}

static int64_t sec_range(sec_rd *r, int64_t lo, int64_t hi) {
	int64_t v = bytes_get_sv(&r->b);
	if (v < lo || v > hi)
		r->b.bad = true;
	return v;
}

/* Section pos: p[0..n) with its 8 bytes of hash first. */
static int sec_read(const uint8_t *p, size_t n, uint32_t pos, defs_arena **arena, so_bulk *ret) {
	if (n < 8)
		return -EBADMSG;
	uint64_t h = 0;
	for (int i = 0; i < 8; i++)
		h |= (uint64_t) p[i] << (8 * i);
	if (h != defs_hash64(p + 8, n - 8, pk_section_seed(pos)))
		return -EBADMSG;
	sec_rd r = { .b = bytes_reader(p + 8, n - 8), .arena = arena };
	so_bulk b = { 0 };
	b.ship_to.name = sec_ostr(&r);
	b.ship_to.street = sec_ostr(&r);
	b.ship_to.postcode = sec_ostr(&r);
	b.ship_to.city = sec_ostr(&r);
	b.ship_to.country = sec_ostr(&r);
	b.n_lines = sec_count(&r, 4);
	b.lines = sec_alloc(&r, b.n_lines, sizeof(*b.lines));
	for (size_t i = 0; i < b.n_lines && b.lines && !r.b.bad; i++) {
		order_line *l = &b.lines[i];
		l->sku = sec_ostr(&r);
		l->quantity = bytes_get_sv(&r.b);
		l->unit_price.minor = bytes_get_sv(&r.b);
		const char *c = sec_ostr(&r);
		if (!c || strlen(c) >= sizeof(l->unit_price.currency))
			r.b.bad = true;
		else
			memcpy(l->unit_price.currency, c, strlen(c) + 1);
	}
	if (!b.lines)
		b.n_lines = 0;
	b.n_reminders = sec_count(&r, 4);
	b.reminders = sec_alloc(&r, b.n_reminders, sizeof(*b.reminders));
	for (size_t i = 0; i < b.n_reminders && b.reminders && !r.b.bad; i++) {
		reminder *m = &b.reminders[i];
		uint64_t k = bytes_get_uv(&r.b);
		if (k > REMIND_AFTER_SHIPPED)
			r.b.bad = true;
		m->kind = (reminder_kind) k;
		m->offset = bytes_get_sv(&r.b);
		m->task = sec_ostr(&r);
		m->assignee = sec_ostr(&r);
	}
	if (!b.reminders)
		b.n_reminders = 0;
	b.placed_by = sec_ostr(&r);
	b.line = (int) sec_range(&r, INT32_MIN, INT32_MAX);
	if (r.oom)
		return -ENOMEM;
	if (!bytes_done(&r.b))
		return -EBADMSG;
	*ret = b;
	return 0;
}

/* The fixed part of a version-3 record: the head's length, the offset table. */
typedef struct pk_frame {
	size_t bulk;             /* where the sections start */
	uint32_t n_orders;
	const uint8_t *off;      /* n_orders + 1 little-endian offsets */
} pk_frame;

static int pk_frame_of(const uint8_t *b, size_t len, pk_frame *ret) {
	if (len < PK_FIX)
		return -EBADMSG;
	if (b[0] != DEFS_PACK_VERSION)
		return -EPROTO;
	uint64_t hl = rd_le32(b + 9);
	uint64_t no = rd_le32(b + 13);
	if (13 + hl > len || (no + 1) * 4 > hl - 4 || hl < 4)
		return -EBADMSG;
	*ret = (pk_frame) { .bulk = (size_t) (13 + hl), .n_orders = (uint32_t) no, .off = b + PK_FIX };
	return 0;
}

int defs_bulk_unpack(const void *p, size_t len, size_t pos, struct defs_arena **arena, so_bulk *ret) {
	const uint8_t *b = p;
	pk_frame f;
	int r = pk_frame_of(b, len, &f);
	if (r < 0)
		return r;
	if (pos >= f.n_orders)
		return -ERANGE;
	uint32_t o0 = rd_le32(f.off + 4 * pos), o1 = rd_le32(f.off + 4 * (pos + 1));
	if (o0 > o1 || o1 > len - f.bulk)
		return -EBADMSG;
	return sec_read(b + f.bulk + o0, o1 - o0, (uint32_t) pos, arena, ret);
}

int defs_unit_unpack(const defs *base, const void *p, size_t len, defs_unit *ret) {
	const uint8_t *b = p;
	pk_frame f;
	int rc = pk_frame_of(b, len, &f);
	if (rc < 0)
		return rc;
	uint64_t h = 0;
	for (int i = 0; i < 8; i++)
		h |= (uint64_t) b[1 + i] << (8 * i);
	if (h != defs_hash64(b + PK_HEAD, f.bulk - PK_HEAD, DEFS_PACK_VERSION))
		return -EBADMSG;
	/* the offsets: from 0, increasing, the last the bulk area's end */
	uint32_t prev = 0;
	for (size_t i = 0; i <= f.n_orders; i++) {
		uint32_t o = rd_le32(f.off + 4 * i);
		if ((i == 0 && o != 0) || o < prev)
			return -EBADMSG;
		prev = o;
	}
	if (prev != len - f.bulk)
		return -EBADMSG;
	const uint8_t *body = f.off + 4 * ((size_t) f.n_orders + 1);
	pk_rd r = { .b = bytes_reader(body, (size_t) (b + f.bulk - body)), .tz = base->tz };
	defs_unit u = { 0 };
	defs_arena *bulk = NULL;
	/* the table: every string once, NUL-terminated, in one block */
	r.n_strs = rd_count(&r, 1);
	r.strs = r.n_strs ? calloc(r.n_strs, sizeof(*r.strs)) : NULL;
	r.oom |= r.n_strs && !r.strs;
	const unsigned char *save = r.b.p;
	size_t total = 0;
	for (size_t i = 0; i < r.n_strs && !r.bad; i++) {
		uint64_t l = rd_u(&r);
		if (r.bad || l > (uint64_t) (r.b.end - r.b.p)) {
			r.bad = true;
			break;
		}
		r.b.p += l;
		total += (size_t) l + 1;
	}
	char *block = rd_alloc(&r, total ? total : 1, 1);
	r.b.p = save;
	for (size_t i = 0, o = 0; i < r.n_strs && block && !r.bad; i++) {
		size_t l = (size_t) rd_u(&r);
		memcpy(block + o, r.b.p, l);
		if (memchr(block + o, 0, l))
			r.bad = true;   /* strings of the definitions never hold a NUL */
		block[o + l] = 0;
		r.strs[i] = block + o;
		r.b.p += l;
		o += l + 1;
	}
	u.n_customers = rd_count(&r, 14);
	u.customers = rd_alloc(&r, u.n_customers ? u.n_customers : 1, sizeof(*u.customers));
	for (size_t i = 0; i < u.n_customers && u.customers && !r.bad; i++)
		rd_customer(&r, &u.customers[i]);
	u.n_orders = rd_count(&r, 30);
	if (u.n_orders != f.n_orders)
		r.bad = true;
	/* beside the arena: a thinned unit frees it (defs_unit_thin) */
	u.orders = r.bad ? NULL : calloc(u.n_orders ? u.n_orders : 1, sizeof(*u.orders));
	r.oom |= !r.bad && !u.orders;
	for (size_t i = 0; i < u.n_orders && u.orders && !r.bad && !r.oom; i++) {
		standing_order *so = &u.orders[i].o;
		so_bulk hb;
		rd_order(&r, &u.orders[i], &hb);
		if (r.bad || r.oom)
			break;
		uint32_t o0 = rd_le32(f.off + 4 * i), o1 = rd_le32(f.off + 4 * (i + 1));
		/* the bulk of a standing order without reminders (the so_bulk too) in
		 * its own arena (the running set may drop it: defs_unit_bulk_free);
		 * reminders stay */
		defs_arena **in = hb.n_reminders ? &r.arena : &bulk;
		so_bulk *sb = arena_alloc(in, sizeof(*sb));
		if (!sb) {
			r.oom = true;
			break;
		}
		int k = sec_read(b + f.bulk + o0, o1 - o0, (uint32_t) i, in, sb);
		if (k < 0) {
			r.oom |= k == -ENOMEM;
			r.bad |= k != -ENOMEM;
			break;
		}
		/* the head's counts, kinds and offsets are the section's */
		if (sb->n_lines != hb.n_lines || sb->n_reminders != hb.n_reminders) {
			r.bad = true;
			break;
		}
		for (size_t j = 0; j < sb->n_reminders; j++)
			if (sb->reminders[j].kind != hb.reminders[j].kind ||
			    sb->reminders[j].offset != hb.reminders[j].offset)
				r.bad = true;
		sb->file = hb.file;
		defs_so_full(so, sb, so);
	}
	if (r.b.p != r.b.end)
		r.bad = true;
	free(r.strs);
	if (r.bad || r.oom) {
		free(u.orders);
		defs_arena_free(r.arena);
		defs_arena_free(bulk);
		return r.oom ? -ENOMEM : -EBADMSG;
	}
	u.arena = r.arena;
	u.bulk = bulk;
	*ret = u;
	return 0;
}

void defs_unit_bulk_free(defs_unit *u) {
	defs_arena_free(u->bulk);
	u->bulk = NULL;
}

void defs_unit_thin(defs_unit *u) {
	if (!u->arena || u->thin)
		return;
	free(u->orders);
	u->orders = NULL;
	u->thin = true;
}

/* ---- the zones a set uses ---- */

static int zn_add(const tz_zone ***v, size_t *n, size_t *cap, const tz_zone *z) {
	if (!z)
		return 0;
	for (size_t i = *n; i-- > 0;)
		if ((*v)[i] == z)
			return 0;
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 8;
		const tz_zone **nv = realloc(*v, nc * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = nc;
	}
	(*v)[(*n)++] = z;
	return 0;
}

static int zn_cmp(const void *a, const void *b) {
	return strcmp(*(char *const *) a, *(char *const *) b);
}

int defs_zone_names(const defs *d, char ***ret, size_t *ret_n) {
	const tz_zone **v = NULL, *last = NULL;
	size_t n = 0, cap = 0;
	int r = zn_add(&v, &n, &cap, d->config.zone);
	for (size_t i = 0; r == 0 && i < d->n_customers; i++)
		if (d->customers[i].zone != last)
			r = zn_add(&v, &n, &cap, last = d->customers[i].zone);
	for (size_t i = 0; r == 0 && i < d->n_orders; i++)
		if (d->orders[i].rule.zone != last)
			r = zn_add(&v, &n, &cap, last = d->orders[i].rule.zone);
	char **names = r == 0 ? calloc(n ? n : 1, sizeof(*names)) : NULL;
	for (size_t i = 0; names && i < n; i++)
		if (!(names[i] = strdup(tz_zone_name(v[i])))) {
			while (i-- > 0)
				free(names[i]);
			free(names);
			names = NULL;
		}
	free(v);
	if (!names)
		return -ENOMEM;
	qsort(names, n, sizeof(*names), zn_cmp);
	*ret = names;
	*ret_n = n;
	return 0;
}

uint64_t defs_tz_fingerprint(const char *tzdir, const char *const *zones, size_t n) {
	if (!tzdir)
		tzdir = getenv("TZDIR");
	if (!tzdir || !*tzdir)
		tzdir = "/usr/share/zoneinfo";
	uint64_t h = defs_hash64(tzdir, strlen(tzdir), n);
	char path[4096];
	char buf[16384];
	for (size_t i = 0; i < n; i++) {
		h = defs_hash64(zones[i], strlen(zones[i]), h);
		snprintf(path, sizeof(path), "%s/%s", tzdir, zones[i]);
		int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0) {
			h = defs_hash64("-", 1, h);
			continue;
		}
		ssize_t k;
		while ((k = read(fd, buf, sizeof(buf))) > 0)
			h = defs_hash64(buf, (size_t) k, h);
		close(fd);
	}
	return h;
}
