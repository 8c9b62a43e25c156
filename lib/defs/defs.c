/* defs: reading and validating the definition files. Each file is parsed into
 * a ytree and validated node by node against the schema below, collecting every
 * error with the position of the offending node (the value; the key for an
 * unknown key; the mapping for a missing key). Cross-file checks (references,
 * duplicate ids) run once all files are read, on everything that parsed, so an
 * error in one file does not cascade into "unknown customer" in another. Any
 * error fails the whole load: the caller never sees a partial set. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "lib/time/cal.h"
#include "lib/defs/defs.h"
#include "lib/defs/pack.h"
#include "config.h"
#include "lib/base/text.h"
#include "lib/defs/yamltree.h"

#define DEFS_MAX_FILE_SIZE (16u << 20)
/* A broken file (say, mis-indented) can produce an error per line; enough of
 * them to fix the first few, without drowning the rest. */
#define DEFS_MAX_FILE_ERRORS 100
#define DEFS_MAX_ERRORS 1000
#define DEFS_ID_MAX 128
#define DEFS_QUOTE_MAX 100

static const char *const defs_config_keys[] = {
	"state_dir", "socket", "timezone", "catch_up", "max_catch_up", "notify_command",
	"ops_group", "shop_users", "suppliers", "max_connections", "max_connections_per_user", "idle_timeout",
	"max_store_size", "max_reply_queue", "max_reply_queue_total", "payment_due", "cancel_unpaid_after",
	"notify_parallel", "notify_timeout", "notify_max_attempts", "carriers", "mail", "salespeople", NULL };
static const char *const defs_supplier_keys[] = { "id", "name", "users", NULL };
static const char *const defs_salesperson_keys[] = { "id", "name", "email", "language", "users", NULL };
static const char *const defs_carrier_keys[] = { "id", "name", "tracking_url", NULL };
static const char *const defs_mail_keys[] = { "from", "smtp", "sendmail", "maildir", "starttls", "credentials", NULL };
static const char *const defs_file_keys[] = { "customers", "standing_orders", NULL };
/* A standing order placed through the socket API ("api/ID.json") also records who placed it. */
static const char *const defs_api_file_keys[] = { "customers", "standing_orders", "placed_by", NULL };
static const char *const defs_customer_keys[] = {
	"id", "name", "language", "timezone", "salesperson", "account", "contacts", "vat", "payment_due",
	"cancel_unpaid_after", NULL };
static const char *const defs_account_keys[] = { "number", "credit_limit", NULL };
static const char *const defs_contact_keys[] = { "name", "role", "email", "phone", NULL };
static const char *const defs_order_keys[] = {
	"id", "customer", "supplier", "ship_to", "lines", "payment", "schedule", "reminders", NULL };
static const char *const defs_address_keys[] = { "name", "street", "postcode", "city", "country", NULL };
static const char *const defs_line_keys[] = { "sku", "quantity", "unit_price", NULL };
static const char *const defs_schedule_keys[] = {
	"every", "start", "at", "timezone", "lead_time", "until", "count", "skip", "paused",
	"catch_up", "on", "day", "weekday", "cron", NULL };
static const char *const defs_reminder_keys[] = { "before", "after_shipped", "task", "assignee", NULL };

static const char *const defs_languages[] = { "en", "fi", "lv", "nb", "vi", NULL };
static const char *const defs_catch_ups[] = { "all", "latest", "none", NULL };
static const char *const defs_weekdays[] = { "mon", "tue", "wed", "thu", "fri", "sat", "sun", NULL };
static const char *const defs_ordinals[] = { "1st", "2nd", "3rd", "4th", "last", NULL };
/* A reminder's task text (doc/crm.md, Task texts): lib/sales/crm renders these. */
static const char *const defs_task_placeholders[] = {
	"customer", "contact", "delivery_date", "order", "standing_order", "total", NULL };

/* A customer or standing order as read, with what the cross-file pass needs. */
typedef struct defs_cust_ent {
	customer c;
	const char *file;            /* the defs_file's name */
	const ytree_node *id_node;
	size_t seq;                  /* definition order over all files */
} defs_cust_ent;

typedef struct defs_order_ent {
	standing_order o;
	const char *file;
	const ytree_node *id_node, *customer_node, *supplier_node, *payment_node, *schedule_node;
	char *customer_id;
	size_t customer_idx;         /* into the sorted defs_cust_ent array, SIZE_MAX: none */
	bool has_zone, has_catch_up;
	size_t seq;
} defs_order_ent;

typedef struct defs_ctx {
	diag_list *diags;
	tz_db *tz;
	bool oom;
	const char *file;            /* the file being reported on */
	size_t file_errors, file_hidden;
	size_t errors, hidden;
	/* A file that did not parse hides its suppliers or customers; references to
	 * them are then not reported, so the syntax error is not buried. */
	bool config_unparsed, orders_unparsed;
	defs_config cfg;
	const ytree_node **supplier_nodes; /* id node per cfg.suppliers entry */
	const char *placed_by;       /* of the API file being read, NULL otherwise */
	defs_cust_ent *cust;
	size_t n_cust, cap_cust;
	defs_order_ent *ord;
	size_t n_ord, cap_ord;
	ytree **trees;
	size_t n_trees;
} defs_ctx;

/* ---- memory ---- */

static char *defs_strdup(defs_ctx *c, const char *s) {
	if (!s)
		return NULL;
	char *p = strdup(s);
	if (!p)
		c->oom = true;
	return p;
}

/* Grow *v (of *cap elements of size) to hold one more; false when out of memory. */
static bool defs_grow(defs_ctx *c, void **v, size_t *cap, size_t n, size_t size) {
	if (n < *cap)
		return true;
	size_t ncap = *cap ? 2 * *cap : 8;
	void *p = realloc(*v, ncap * size);
	if (!p) {
		c->oom = true;
		return false;
	}
	*v = p;
	*cap = ncap;
	return true;
}

static void defs_strv_free(char **v, size_t n) {
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void defs_customer_done(customer *cu) {
	free(cu->id);
	free(cu->name);
	free(cu->salesperson);
	free(cu->account_number);
	for (size_t i = 0; i < cu->n_contacts; i++) {
		free(cu->contacts[i].name);
		free(cu->contacts[i].role);
		free(cu->contacts[i].email);
		free(cu->contacts[i].phone);
	}
	free(cu->contacts);
	free(cu->file);
}

const so_bulk defs_so_bulk_none;

void defs_rule_wire_of(const rule *r, defs_rule_wire *ret) {
	*ret = (defs_rule_wire) { .interval = 1, .start_day = r->start_day == RULE_NO_DAY ? INT64_MIN : r->start_day };
	if (r->kind == RULE_CRON) {
		if (r->cron)
			ret->cron = *r->cron;
		return;
	}
	ret->interval = r->interval;
	ret->on_mask = r->on_mask;
	ret->day = r->day;
	ret->nth = r->nth;
	ret->weekday = r->weekday;
}

void defs_so_full(const standing_order *so, const so_bulk *b, standing_order *ret) {
	if (ret != so)
		*ret = *so;
	ret->bulk = b;
	ret->n_lines = defs_so_n_lines(b->n_lines);
}

/* A standing order's own bulk, malloc'd (the parser's); NULL on ENOMEM. */
static so_bulk *defs_bulk_new(standing_order *so) {
	so_bulk *b = calloc(1, sizeof(*b));
	so->bulk = b ? b : &defs_so_bulk_none;
	return b;
}

void defs_order_done(standing_order *so) {
	if (!so)
		return;
	free(so->id);
	free(so->supplier);
	rule_done(&so->rule);
	if (so->bulk && so->bulk != &defs_so_bulk_none) {
		so_bulk *b = (so_bulk *) so->bulk;
		free((char *) b->file);
		free(b->ship_to.name);
		free(b->ship_to.street);
		free(b->ship_to.postcode);
		free(b->ship_to.city);
		free(b->ship_to.country);
		for (size_t i = 0; i < b->n_lines; i++)
			free(b->lines[i].sku);
		free(b->lines);
		for (size_t i = 0; i < b->n_reminders; i++) {
			free(b->reminders[i].task);
			free(b->reminders[i].assignee);
		}
		free(b->reminders);
		free(b->placed_by);
		free(b);
	}
	so->bulk = NULL;
}

static void defs_config_done(defs_config *cf) {
	free(cf->state_dir);
	free(cf->socket);
	defs_strv_free(cf->notify_argv, cf->notify_argc);
	for (size_t i = 0; i < cf->n_carriers; i++) {
		free(cf->carriers[i].id);
		free(cf->carriers[i].name);
		free(cf->carriers[i].tracking_url);
	}
	free(cf->carriers);
	defs_mail *m = &cf->mail;
	free(m->from);
	free(m->from_addr);
	free(m->from_name);
	free(m->smtp);
	free(m->credentials);
	free(m->sendmail);
	free(m->maildir);
	free(cf->ops_group);
	defs_strv_free(cf->shop_users, cf->n_shop_users);
	for (size_t i = 0; i < cf->n_suppliers; i++) {
		free(cf->suppliers[i].id);
		free(cf->suppliers[i].name);
		defs_strv_free(cf->suppliers[i].users, cf->suppliers[i].n_users);
	}
	free(cf->suppliers);
	for (size_t i = 0; i < cf->n_salespeople; i++) {
		free(cf->salespeople[i].id);
		free(cf->salespeople[i].name);
		free(cf->salespeople[i].email);
		defs_strv_free(cf->salespeople[i].users, cf->salespeople[i].n_users);
	}
	free(cf->salespeople);
}

/* ---- errors ---- */

/* s as it may appear between double quotes in a message: at most about
 * DEFS_QUOTE_MAX bytes (cut on a UTF-8 boundary), control characters, quotes
 * and backslashes escaped, so a diag stays one line. len bytes of s: a NUL in
 * a scalar is shown too (\x00), never taken for the end. */
static const char *defs_qn(const char *s, size_t len, char buf[static DEFS_QUOTE_MAX + 8]) {
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *) s, *e = p + len; p < e; p++) {
		if (o >= DEFS_QUOTE_MAX && (*p & 0xC0) != 0x80) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (*p == '"' || *p == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char) *p;
		} else if (*p < 0x20 || *p == 0x7f) {
			o += (size_t) snprintf(buf + o, 5, "\\x%02x", *p);
		} else {
			buf[o++] = (char) *p;
		}
	}
	buf[o] = '\0';
	return buf;
}

static const char *defs_q(const char *s, char buf[static DEFS_QUOTE_MAX + 8]) {
	return defs_qn(s, strlen(s), buf);
}

static void defs_verr(defs_ctx *c, const ytree_node *n, bool at_key, const char *fmt, va_list ap) {
	if (c->file_errors >= DEFS_MAX_FILE_ERRORS || c->errors >= DEFS_MAX_ERRORS) {
		c->file_hidden++;
		c->hidden++;
		return;
	}
	c->file_errors++;
	c->errors++;
	const ytree_node *pos = at_key && n && n->key ? n->key : n;
	if (pos && pos->line > 0) {
		if (diag_vadd(c->diags, c->file, pos->line, pos->col, fmt, ap) < 0)
			c->oom = true;
		return;
	}
	/* A tree without positions (JSON): name the field by its path instead. */
	char path[256];
	path[0] = '\0';
	if (n)
		ytree_path(n, path, sizeof(path));
	if (diag_vadd(c->diags, path[0] ? path : c->file, 0, 0, fmt, ap) < 0)
		c->oom = true;
}

__attribute__((format(printf, 3, 4)))
static void defs_err(defs_ctx *c, const ytree_node *n, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	defs_verr(c, n, false, fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 3, 4)))
static void defs_err_key(defs_ctx *c, const ytree_node *n, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	defs_verr(c, n, true, fmt, ap);
	va_end(ap);
}

/* "expected one of en, fi, lv, nb, vi, got "se"" */
static void defs_err_enum(defs_ctx *c, const ytree_node *n, const char *const names[], const char *got) {
	char list[128], q[DEFS_QUOTE_MAX + 8];
	size_t o = 0;
	list[0] = '\0';
	for (size_t i = 0; names[i]; i++)
		o += (size_t) snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "", names[i]);
	defs_err(c, n, "expected one of %s, got \"%s\"", list, defs_q(got, q));
}

/* Optimal string alignment distance (Levenshtein plus adjacent swaps), for
 * "did you mean". Keys are short; longer input gets no suggestion. */
static size_t defs_distance(const char *a, const char *b) {
	size_t la = strlen(a), lb = strlen(b);
	if (la > 32 || lb > 32)
		return SIZE_MAX;
	size_t d[33][33];
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] != b[j - 1];
			size_t v = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (d[i - 1][j - 1] + cost < v)
				v = d[i - 1][j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	return d[la][lb];
}

/* ---- shape ---- */

/* Checks that n is a mapping whose keys are all in keys[] (at most 64), once
 * each. Unknown and repeated keys are reported; false only when n is not a
 * mapping at all, so the caller still validates the keys it knows. */
static bool defs_map(defs_ctx *c, const ytree_node *n, const char *const keys[]) {
	char q[DEFS_QUOTE_MAX + 8];
	if (!n || n->kind != YTREE_MAPPING) {
		defs_err(c, n, "expected a mapping");
		return false;
	}
	uint64_t seen = 0;
	for (const ytree_node *v = n->first; v; v = v->next) {
		if (!v->key)
			continue;   /* only a hand-built tree can lack one */
		const char *k = v->key->text;
		/* a key with a NUL inside looks like its prefix: never "did you mean" itself */
		bool has_nul = strlen(k) != v->key->len;
		size_t i, best = SIZE_MAX, best_d = SIZE_MAX;
		for (i = 0; keys[i] && (has_nul || strcmp(k, keys[i]) != 0); i++)
			;
		/* "did you mean" only for a key that is not known (distances are slow) */
		for (size_t j = 0; !keys[i] && !has_nul && keys[j]; j++) {
			size_t dist = defs_distance(k, keys[j]);
			if (dist < best_d) {
				best_d = dist;
				best = j;
			}
		}
		if (keys[i]) {
			if (seen & (UINT64_C(1) << i))
				defs_err_key(c, v, "duplicate key \"%s\"", keys[i]);
			seen |= UINT64_C(1) << i;
		} else if (best != SIZE_MAX && best_d <= 2 && best_d < strlen(k)) {
			defs_err_key(c, v, "unknown key \"%s\" (did you mean \"%s\"?)", defs_q(k, q), keys[best]);
		} else {
			defs_err_key(c, v, "unknown key \"%s\"", defs_qn(k, v->key->len, q));
		}
	}
	return true;
}

/* The value for key, or NULL; reports a missing required key at the mapping. */
static const ytree_node *defs_get(defs_ctx *c, const ytree_node *map, const char *key, bool required) {
	if (!map || map->kind != YTREE_MAPPING)
		return NULL;
	const ytree_node *v = ytree_get(map, key);
	if (!v && required)
		defs_err(c, map, "missing key \"%s\"", key);
	return v;
}

/* The text of a scalar that stands for a string, or NULL after reporting. */
static const char *defs_text(defs_ctx *c, const ytree_node *n) {
	if (n->kind != YTREE_SCALAR || ytree_is_null(n)) {
		defs_err(c, n, "expected a string");
		return NULL;
	}
	if (strlen(n->text) != n->len) {
		defs_err(c, n, "unexpected NUL character in string");
		return NULL;
	}
	/* every text field: no terminal escapes in tables, no broken lines in logs */
	char msg[TEXT_MSG_MAX];
	if (text_check(n->text, n->len, msg) < 0) {
		defs_err(c, n, "%s", msg);
		return NULL;
	}
	return n->text;
}

/* Reads a non-empty string into a fresh copy. 1 read, 0 absent, -EINVAL reported (the diag is added). */
static int defs_str(defs_ctx *c, const ytree_node *map, const char *key, bool required, char **ret) {
	const ytree_node *n = defs_get(c, map, key, required);
	if (!n)
		return required ? -EINVAL : 0;
	const char *s = defs_text(c, n);
	if (!s)
		return -EINVAL;
	if (!*s) {
		defs_err(c, n, "expected a non-empty string");
		return -EINVAL;
	}
	*ret = defs_strdup(c, s);
	return 1;
}

static bool defs_id_ok(const char *s) {
	size_t len = strlen(s);
	if (len == 0 || len > DEFS_ID_MAX)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '.' || *p == '_' || *p == '-'))
			return false;
	return true;
}

/* Ids end up in store keys, socket replies and log fields: keep them plain. */
static int defs_id(defs_ctx *c, const ytree_node *map, char **ret) {
	char q[DEFS_QUOTE_MAX + 8];
	const ytree_node *n = defs_get(c, map, "id", true);
	if (!n)
		return -EINVAL;
	const char *s = defs_text(c, n);
	if (!s)
		return -EINVAL;
	if (!defs_id_ok(s)) {
		defs_err(c, n, "expected an id of at most %d letters, digits, \".\", \"_\" or \"-\", got \"%s\"",
			 DEFS_ID_MAX, defs_q(s, q));
		return -EINVAL;
	}
	*ret = defs_strdup(c, s);
	return 1;
}

/* 1 and *ret the index into names, 0 absent, -EINVAL reported (the diag is added). */
static int defs_enum(defs_ctx *c, const ytree_node *map, const char *key, const char *const names[], int *ret) {
	const ytree_node *n = defs_get(c, map, key, false);
	if (!n)
		return 0;
	const char *s = defs_text(c, n);
	if (!s)
		return -EINVAL;
	for (int i = 0; names[i]; i++)
		if (strcmp(s, names[i]) == 0) {
			*ret = i;
			return 1;
		}
	defs_err_enum(c, n, names, s);
	return -EINVAL;
}

/* An integer in [min, max]; min 1 reads as "a positive integer". */
static int defs_int(defs_ctx *c, const ytree_node *map, const char *key, bool required,
		    int64_t min, int64_t max, int64_t *ret) {
	const ytree_node *n = defs_get(c, map, key, required);
	if (!n)
		return required ? -EINVAL : 0;
	int64_t v;
	int r = ytree_int64(n, &v);
	if (r == -EINVAL) {
		defs_err(c, n, "expected an integer");
		return -EINVAL;
	}
	if (r < 0 || v > max) {
		defs_err(c, n, "expected an integer of at most %lld", (long long) max);
		return -EINVAL;
	}
	if (v < min) {
		if (min == 1)
			defs_err(c, n, "expected a positive integer");
		else
			defs_err(c, n, "expected an integer of at least %lld", (long long) min);
		return -EINVAL;
	}
	*ret = v;
	return 1;
}

static int defs_bool(defs_ctx *c, const ytree_node *map, const char *key, bool *ret) {
	const ytree_node *n = defs_get(c, map, key, false);
	if (!n)
		return 0;
	if (ytree_bool(n, ret) < 0) {
		defs_err(c, n, "expected true or false");
		return -EINVAL;
	}
	return 1;
}

/* A list of non-empty strings. */
static int defs_strv(defs_ctx *c, const ytree_node *map, const char *key, char ***ret, size_t *ret_n) {
	const ytree_node *n = defs_get(c, map, key, false);
	if (!n)
		return 0;
	if (n->kind != YTREE_SEQUENCE) {
		defs_err(c, n, "expected a list");
		return -EINVAL;
	}
	char **v = calloc(n->n ? n->n : 1, sizeof(*v));
	if (!v) {
		c->oom = true;
		return -ENOMEM;
	}
	size_t k = 0;
	int rc = 1;
	for (const ytree_node *i = n->first; i; i = i->next) {
		const char *s = defs_text(c, i);
		if (s && !*s)
			defs_err(c, i, "expected a non-empty string");
		if (!s || !*s) {
			rc = -EINVAL;
			continue;
		}
		v[k++] = defs_strdup(c, s);
	}
	*ret = v;
	*ret_n = k;
	return rc;
}

static int defs_date(defs_ctx *c, const ytree_node *n, int64_t *ret) {
	char q[DEFS_QUOTE_MAX + 8];
	const char *s = defs_text(c, n);
	if (!s)
		return -EINVAL;
	if (cal_parse_date(s, ret) < 0) {
		defs_err(c, n, "expected a date YYYY-MM-DD, got \"%s\"", defs_q(s, q));
		return -EINVAL;
	}
	return 1;
}

/* "N unit" with N decimal (at most 9 digits, optional sign when signed) and a
 * unit from units[] (singular; a trailing "s" is accepted). -1 malformed,
 * else the unit's index. */
static int defs_count_unit(const char *s, bool sign, const char *const units[], int64_t *ret_n) {
	const char *p = s;
	bool neg = false;
	if (sign && (*p == '-' || *p == '+'))
		neg = *p++ == '-';
	int64_t v = 0;
	int digits = 0;
	while (*p >= '0' && *p <= '9' && digits < 10) {
		v = v * 10 + (*p++ - '0');
		digits++;
	}
	if (digits == 0 || digits > 9 || *p != ' ')
		return -EINVAL;
	while (*p == ' ')
		p++;
	size_t len = strlen(p);
	if (len > 1 && p[len - 1] == 's')
		len--;
	for (int i = 0; units[i]; i++)
		if (strlen(units[i]) == len && strncmp(p, units[i], len) == 0) {
			*ret_n = neg ? -v : v;
			return i;
		}
	return -EINVAL;
}

/* Elapsed durations: lead_time, before, after_shipped. */
static int defs_duration(defs_ctx *c, const ytree_node *n, int64_t *ret) {
	static const char *const units[] = { "second", "minute", "hour", "day", "week", NULL };
	static const int64_t secs[] = { 1, 60, 3600, 86400, 604800 };
	char q[DEFS_QUOTE_MAX + 8];
	const char *s = defs_text(c, n);
	if (!s)
		return -EINVAL;
	int64_t v;
	int u = defs_count_unit(s, false, units, &v);
	if (u < 0) {
		defs_err(c, n, "expected a duration like \"5 days\", got \"%s\"", defs_q(s, q));
		return -EINVAL;
	}
	*ret = v * secs[u];
	return 1;
}

/* payment_due and cancel_unpaid_after (standingd.yaml, or a customer's overrides):
 * positive durations, the payment due before the cancellation. */
static void defs_payment_times(defs_ctx *c, const ytree_node *n, int64_t *due, int64_t *cancel) {
	const ytree_node *pd = defs_get(c, n, "payment_due", false);
	const ytree_node *cu = defs_get(c, n, "cancel_unpaid_after", false);
	int64_t v;
	if (pd && defs_duration(c, pd, &v) == 1) {
		if (v < 1)
			defs_err(c, pd, "expected a positive duration");
		else
			*due = v;
	}
	if (cu && defs_duration(c, cu, &v) == 1) {
		if (v < 1)
			defs_err(c, cu, "expected a positive duration");
		else
			*cancel = v;
	}
	if ((pd || cu) && *cancel <= *due)
		defs_err(c, cu ? cu : pd, "cancel_unpaid_after (%lld seconds) must be longer than payment_due (%lld seconds)",
			 (long long) *cancel, (long long) *due);
}

/* "512 MiB", "8 GiB": a byte count in binary units, 1 MiB .. 1024 TiB. */
static int defs_size(defs_ctx *c, const ytree_node *n, uint64_t *ret) {
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", NULL };
	char q[DEFS_QUOTE_MAX + 8];
	const char *s = defs_text(c, n);
	if (!s)
		return -EINVAL;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	int u = -1;
	if (s[0] >= '0' && s[0] <= '9' && !errno && *end == ' ')
		for (int i = 0; units[i]; i++)
			if (!strcmp(end + 1, units[i]))
				u = i;
	if (u < 0 || v > (UINT64_C(1) << 50) >> (10 * (u + 1))) {
		defs_err(c, n, "expected a size like \"512 MiB\" or \"8 GiB\" (at most 1024 TiB), got \"%s\"",
			 defs_q(s, q));
		return -EINVAL;
	}
	*ret = (uint64_t) v << (10 * (u + 1));
	if (*ret < (UINT64_C(1) << 20)) {
		defs_err(c, n, "expected a size of at least 1 MiB");
		return -EINVAL;
	}
	return 1;
}

/* Schedule dates (start, until, skip) lie in 1970-01-01..9999-12-31: earlier or
 * later has no sensible meaning for an order and would only make work. */
#define DEFS_DAY_MIN INT64_C(0)               /* 1970-01-01 */
#define DEFS_DAY_MAX INT64_C(2932896)         /* 9999-12-31 */
/* lead_time at most a year (366 days); count at most what a minutely schedule has
 * before 9999-12-31 fits in (one occurrence a minute at most, and fewer than 2^32). */
#define DEFS_LEAD_MAX (366 * INT64_C(86400))
#define DEFS_COUNT_MAX INT64_C(4294967295)

static int defs_sched_date(defs_ctx *c, const ytree_node *n, int64_t *ret) {
	char q[DEFS_QUOTE_MAX + 8];
	int64_t day;
	if (defs_date(c, n, &day) != 1)
		return -EINVAL;
	if (day < DEFS_DAY_MIN || day > DEFS_DAY_MAX) {
		defs_err(c, n, "expected a date from 1970-01-01 to 9999-12-31, got \"%s\"", defs_q(n->text, q));
		return -EINVAL;
	}
	*ret = day;
	return 1;
}

static int defs_interval(defs_ctx *c, const ytree_node *n, rule_unit *ret_unit, uint32_t *ret_n) {
	static const char *const units[] = { "minute", "hour", "day", "week", "month", "year", NULL };
	static const rule_unit map[] = { RULE_UNIT_MINUTE, RULE_UNIT_HOUR, RULE_UNIT_DAY, RULE_UNIT_WEEK, RULE_UNIT_MONTH, RULE_UNIT_YEAR };
	char q[DEFS_QUOTE_MAX + 8];
	const char *s = defs_text(c, n);
	if (!s)
		return -EINVAL;
	int64_t v;
	int u = defs_count_unit(s, true, units, &v);
	if (u < 0) {
		defs_err(c, n, "expected an interval like \"2 months\", got \"%s\"", defs_q(s, q));
		return -EINVAL;
	}
	if (v <= 0) {
		defs_err(c, n, "expected a positive interval");
		return -EINVAL;
	}
	*ret_unit = map[u];
	*ret_n = (uint32_t) v;
	return 1;
}

static int defs_zone(defs_ctx *c, const ytree_node *n, const tz_zone **ret) {
	char q[DEFS_QUOTE_MAX + 8];
	const char *s = defs_text(c, n);
	if (!s)
		return -EINVAL;
	int r = tz_db_get(c->tz, s, ret);
	if (r == -ENOMEM) {
		c->oom = true;
		return -EINVAL;
	}
	if (r == -ENOENT || r == -EINVAL) {
		defs_err(c, n, "unknown time zone \"%s\"", defs_q(s, q));
		return -EINVAL;
	}
	if (r < 0) {
		char buf[128];
		defs_err(c, n, "cannot load time zone \"%s\": %s", defs_q(s, q), strerror_r(-r, buf, sizeof(buf)));
		return -EINVAL;
	}
	return 1;
}

/* Turns money_parse's short reason into the full message; the currency (when
 * the reason concerns it) is the token after the space. */
static int defs_money(defs_ctx *c, const ytree_node *n, bool non_negative, money *ret) {
	char q[DEFS_QUOTE_MAX + 8];
	const char *why;
	const char *s = defs_text(c, n);
	if (!s)
		return -EINVAL;
	if (money_parse(s, ret, &why) == 0) {
		if (non_negative && ret->minor < 0) {
			defs_err(c, n, "expected an amount of at least zero, got \"%s\"", defs_q(s, q));
			return -EINVAL;
		}
		return 1;
	}
	const char *sp = strrchr(s, ' ');
	const char *code = sp ? sp + 1 : s;
	if (strcmp(why, "unknown currency") == 0) {
		defs_err(c, n, "unknown currency \"%s\"", defs_q(code, q));
	} else if (strncmp(why, "too many decimals", 17) == 0) {
		int e = money_exponent(code);
		if (e == 0)
			defs_err(c, n, "%s has no decimals, got \"%s\"", code, defs_q(s, q));
		else
			defs_err(c, n, "%s has at most %d decimals, got \"%s\"", code, e, defs_q(s, q));
	} else if (strcmp(why, "amount out of range") == 0) {
		defs_err(c, n, "amount out of range, got \"%s\"", defs_q(s, q));
	} else {
		defs_err(c, n, "expected an amount and currency like \"0.85 EUR\", got \"%s\"", defs_q(s, q));
	}
	return -EINVAL;
}

/* ---- standingd.yaml ---- */

static int defs_abs_path(defs_ctx *c, const ytree_node *map, const char *key, char **ret) {
	char q[DEFS_QUOTE_MAX + 8];
	char *s = NULL;
	int r = defs_str(c, map, key, false, &s);
	if (r == 1 && s[0] != '/') {
		defs_err(c, ytree_get(map, key), "expected an absolute path, got \"%s\"", defs_q(s, q));
		free(s);
		return -EINVAL;
	}
	if (r == 1)
		*ret = s;
	return r;
}

static void defs_supplier(defs_ctx *c, const ytree_node *n) {
	defs_config *cf = &c->cfg;
	supplier *su = &cf->suppliers[cf->n_suppliers];
	memset(su, 0, sizeof(*su));
	if (!defs_map(c, n, defs_supplier_keys))
		return;
	c->supplier_nodes[cf->n_suppliers] = ytree_get(n, "id");
	cf->n_suppliers++;
	defs_id(c, n, &su->id);
	defs_str(c, n, "name", true, &su->name);
	defs_strv(c, n, "users", &su->users, &su->n_users);
}

/* notify_command (a list: the program and its arguments; a string: the program
 * alone) and the delivery's limits (doc/notify.md). */
static void defs_notify(defs_ctx *c, const ytree_node *root) {
	defs_config *cf = &c->cfg;
	int64_t i;
	const ytree_node *n = defs_get(c, root, "notify_command", false);
	if (n && n->kind == YTREE_SCALAR && !ytree_is_null(n)) {
		char *one = NULL;
		if (defs_str(c, root, "notify_command", false, &one) == 1) {
			if (!(cf->notify_argv = calloc(2, sizeof(*cf->notify_argv)))) {
				c->oom = true;
				free(one);
			} else {
				cf->notify_argv[0] = one;
				cf->notify_argc = 1;
			}
		}
	} else if (n && n->kind != YTREE_SEQUENCE) {
		defs_err(c, n, "expected a list of strings (the program and its arguments) or a string");
	} else if (n && n->n == 0) {
		defs_err(c, n, "expected the program and its arguments, got an empty list");
	} else if (n) {
		char **v = calloc(n->n + 1, sizeof(*v));
		size_t k = 0;
		bool bad = false;
		for (const ytree_node *it = n->first; v && it; it = it->next) {
			const char *s = defs_text(c, it);
			if (s && !*s)
				defs_err(c, it, "expected a non-empty string");
			if (!s || !*s)
				bad = true;
			else if ((v[k] = defs_strdup(c, s)))
				k++;
		}
		if (!v)
			c->oom = true;
		else if (bad || c->oom)
			defs_strv_free(v, k);
		else {
			cf->notify_argv = v;
			cf->notify_argc = k;
		}
	}
	if (defs_int(c, root, "notify_parallel", false, 1, 16, &i) == 1)
		cf->notify_parallel = (uint32_t) i;
	if (defs_int(c, root, "notify_max_attempts", false, 1, 1000, &i) == 1)
		cf->notify_max_attempts = (uint32_t) i;
	const ytree_node *to = defs_get(c, root, "notify_timeout", false);
	if (to && defs_duration(c, to, &i) == 1) {
		if (i < 1)
			defs_err(c, to, "expected a duration of at least 1 second");
		else if (i > 86400)
			defs_err(c, to, "expected a duration of at most 1 day");
		else
			cf->notify_timeout = i;
	}
}

/* "http://" or "https://", a host, and "{tracking}" exactly once. */
static void defs_carrier_read(defs_ctx *c, const ytree_node *n, const ytree_node **id_nodes) {
	char q[DEFS_QUOTE_MAX + 8];
	defs_config *cf = &c->cfg;
	defs_carrier *ca = &cf->carriers[cf->n_carriers];
	memset(ca, 0, sizeof(*ca));
	if (!defs_map(c, n, defs_carrier_keys))
		return;
	id_nodes[cf->n_carriers] = ytree_get(n, "id");
	cf->n_carriers++;
	defs_id(c, n, &ca->id);
	defs_str(c, n, "name", true, &ca->name);
	char *url = NULL;
	if (defs_str(c, n, "tracking_url", true, &url) != 1)
		return;
	const ytree_node *un = ytree_get(n, "tracking_url");
	size_t skip = !strncmp(url, "https://", 8) ? 8 : !strncmp(url, "http://", 7) ? 7 : 0;
	size_t times = 0;
	for (const char *p = strstr(url, "{tracking}"); p; p = strstr(p + 1, "{tracking}"))
		times++;
	if (!skip || !url[skip] || url[skip] == '/' || url[skip] == '{' || strchr(url, ' '))
		defs_err(c, un, "expected an http:// or https:// URL, got \"%s\"", defs_q(url, q));
	else if (times != 1)
		defs_err(c, un, "expected {tracking} exactly once in the URL (where the tracking number goes), got \"%s\"",
			 defs_q(url, q));
	else {
		ca->tracking_url = url;
		return;
	}
	free(url);
}

static void defs_carriers(defs_ctx *c, const ytree_node *root) {
	defs_config *cf = &c->cfg;
	const ytree_node *n = defs_get(c, root, "carriers", false);
	if (!n)
		return;
	if (n->kind != YTREE_SEQUENCE) {
		defs_err(c, n, "expected a list");
		return;
	}
	const ytree_node **ids = calloc(n->n ? n->n : 1, sizeof(*ids));
	cf->carriers = calloc(n->n ? n->n : 1, sizeof(*cf->carriers));
	if (!ids || !cf->carriers) {
		c->oom = true;
		free(ids);
		return;
	}
	for (const ytree_node *it = n->first; it; it = it->next)
		defs_carrier_read(c, it, ids);
	for (size_t a = 0; a < cf->n_carriers; a++)
		for (size_t b = 0; b < a; b++)
			if (cf->carriers[a].id && cf->carriers[b].id && !strcmp(cf->carriers[a].id, cf->carriers[b].id)) {
				defs_err(c, ids[a], "duplicate carrier id \"%s\" (first defined at %s:%d:%d)",
					 cf->carriers[a].id, c->file, ids[b]->line, ids[b]->col);
				break;
			}
	free(ids);
}

/* An address's local part and domain: the common unquoted form only. */
static bool defs_addr_ok(const char *s, size_t len) {
	const char *at = memchr(s, '@', len);
	if (!at || at == s || at == s + len - 1 || at - s > 64)
		return false;
	for (const char *p = s; p < at; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      strchr("!#$%&'*+/=?^_`{|}~.-", *p)))
			return false;
	if (*s == '.' || at[-1] == '.' || memmem(s, (size_t) (at - s), "..", 2))
		return false;
	for (const char *p = at + 1, *label = p; p <= s + len; p++) {
		if (p == s + len || *p == '.') {
			if (p == label || label[0] == '-' || p[-1] == '-')
				return false;
			label = p + 1;
		} else if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-'))
			return false;
	}
	return true;
}

/* from: "addr@domain" or "Name <addr@domain>". */
static void defs_mail_from(defs_ctx *c, const ytree_node *map, defs_mail *m) {
	char q[DEFS_QUOTE_MAX + 8];
	if (defs_str(c, map, "from", true, &m->from) != 1)
		return;
	const char *s = m->from, *lt = strchr(s, '<');
	size_t len = strlen(s);
	if (!lt && defs_addr_ok(s, len)) {
		m->from_addr = defs_strdup(c, s);
		return;
	}
	if (lt && len > 2 && s[len - 1] == '>' && defs_addr_ok(lt + 1, (size_t) (s + len - 1 - (lt + 1)))) {
		const char *e = lt;
		while (e > s && e[-1] == ' ')
			e--;
		bool ok = e > s && e < lt && s[0] != ' ';
		for (const char *p = s; ok && p < e; p++)
			ok = !strchr("<>\"\\", *p);
		if (ok) {
			m->from_name = strndup(s, (size_t) (e - s));
			m->from_addr = strndup(lt + 1, (size_t) (s + len - 1 - (lt + 1)));
			if (!m->from_name || !m->from_addr)
				c->oom = true;
			return;
		}
	}
	defs_err(c, ytree_get(map, "from"),
		 "expected an address like \"shop@example.com\" or \"Shop <shop@example.com>\", got \"%s\"", defs_q(s, q));
	free(m->from);
	m->from = NULL;
}

/* smtp://host[:port] or smtps://host[:port], an optional "/" at the end. */
static bool defs_smtp_url_ok(const char *u) {
	size_t skip = !strncmp(u, "smtp://", 7) ? 7 : !strncmp(u, "smtps://", 8) ? 8 : 0;
	if (!skip)
		return false;
	const char *p = u + skip, *h = p;
	if (*p == '[') {
		const char *e = strchr(p, ']');
		if (!e || e == p + 1)
			return false;
		for (const char *x = p + 1; x < e; x++)
			if (!((*x >= '0' && *x <= '9') || (*x >= 'a' && *x <= 'f') || (*x >= 'A' && *x <= 'F') || *x == ':' ||
			      *x == '.'))
				return false;
		p = e + 1;
	} else {
		while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' ||
		       *p == '-')
			p++;
		if (p == h)
			return false;
	}
	if (*p == ':') {
		long port = 0;
		const char *d = ++p;
		while (*p >= '0' && *p <= '9' && port <= 65535)
			port = port * 10 + (*p++ - '0');
		if (p == d || port < 1 || port > 65535)
			return false;
	}
	return !*p || (p[0] == '/' && !p[1]);
}

static void defs_mail_read(defs_ctx *c, const ytree_node *root) {
	char q[DEFS_QUOTE_MAX + 8];
	defs_mail *m = &c->cfg.mail;
	const ytree_node *n = defs_get(c, root, "mail", false);
	if (!n || !defs_map(c, n, defs_mail_keys))
		return;
	defs_mail_from(c, n, m);
	static const char *const vias[] = { "smtp", "sendmail", "maildir" };
	const ytree_node *first = NULL;
	for (size_t i = 0; i < 3; i++) {
		const ytree_node *v = ytree_get(n, vias[i]);
		if (!v)
			continue;
		if (first) {
			defs_err_key(c, v, "only one of smtp, sendmail and maildir may be given (%s is at line %d)",
				     first->key ? first->key->text : "?", first->line);
			continue;
		}
		first = v;
		if (i == 0 && defs_str(c, n, "smtp", false, &m->smtp) == 1) {
			if (!defs_smtp_url_ok(m->smtp)) {
				defs_err(c, v, "expected a URL like \"smtp://mail.example.com:587\" or "
					 "\"smtps://mail.example.com:465\", got \"%s\"", defs_q(m->smtp, q));
				free(m->smtp);
				m->smtp = NULL;
			} else
				m->via = DEFS_MAIL_SMTP;
		} else if (i == 1 && defs_abs_path(c, n, "sendmail", &m->sendmail) == 1)
			m->via = DEFS_MAIL_SENDMAIL;
		else if (i == 2 && defs_str(c, n, "maildir", false, &m->maildir) == 1)
			m->via = DEFS_MAIL_MAILDIR;
	}
	if (!first)
		defs_err(c, n, "expected one of smtp, sendmail or maildir (how mail is submitted)");
	const ytree_node *st = ytree_get(n, "starttls"), *cr = ytree_get(n, "credentials");
	bool smtp = first && first->key && !strcmp(first->key->text, "smtp");
	if (st && !smtp)
		defs_err_key(c, st, "starttls is only for smtp");
	else if (st && defs_bool(c, n, "starttls", &m->starttls) == 1 && m->starttls && m->smtp &&
		 !strncmp(m->smtp, "smtps:", 6))
		defs_err(c, st, "starttls needs an smtp:// URL (smtps:// is TLS from the start)");
	if (cr && !smtp)
		defs_err_key(c, cr, "credentials is only for smtp");
	else if (cr)
		defs_str(c, n, "credentials", false, &m->credentials);
}

/* ---- salespeople (doc/crm.md) ---- */

static void defs_salesperson(defs_ctx *c, const ytree_node *n) {
	defs_config *cf = &c->cfg;
	salesperson *sp = &cf->salespeople[cf->n_salespeople];
	int v;
	char q[DEFS_QUOTE_MAX + 8];
	memset(sp, 0, sizeof(*sp));
	if (!defs_map(c, n, defs_salesperson_keys))
		return;
	cf->n_salespeople++;
	defs_id(c, n, &sp->id);
	defs_str(c, n, "name", true, &sp->name);
	if (defs_str(c, n, "email", true, &sp->email) == 1 && !defs_addr_ok(sp->email, strlen(sp->email)))
		defs_err(c, ytree_get(n, "email"), "expected an e-mail address like \"anna@shop.example\", got \"%s\"",
			 defs_q(sp->email, q));
	memcpy(sp->language, "en", 3);
	if (defs_enum(c, n, "language", defs_languages, &v) == 1)
		memcpy(sp->language, defs_languages[v], 3);
	defs_strv(c, n, "users", &sp->users, &sp->n_users);
}

/* The first scalar item equal to u in the sequence at map's key, before stop. */
static const ytree_node *defs_user_in(const ytree_node *map, const char *key, const char *u, const ytree_node *stop) {
	const ytree_node *seq = map && map->kind == YTREE_MAPPING ? ytree_get(map, key) : NULL;
	if (!seq || seq->kind != YTREE_SEQUENCE)
		return NULL;
	for (const ytree_node *it = seq->first; it && it != stop; it = it->next)
		if (it->kind == YTREE_SCALAR && !strcmp(it->text, u))
			return it;
	return NULL;
}

/* A Unix user has one role on the socket: a salesperson's user listed again
 * (in shop_users, a supplier's users, or another salesperson's) is an error. */
static void defs_salespeople_users(defs_ctx *c, const ytree_node *root, const ytree_node *sn) {
	const ytree_node *sup = ytree_get(root, "suppliers");
	for (const ytree_node *sp = sn->first; sp; sp = sp->next) {
		const ytree_node *us = sp->kind == YTREE_MAPPING ? ytree_get(sp, "users") : NULL;
		if (!us || us->kind != YTREE_SEQUENCE)
			continue;
		for (const ytree_node *u = us->first; u; u = u->next) {
			if (u->kind != YTREE_SCALAR || !*u->text)
				continue;
			const ytree_node *other = defs_user_in(sp, "users", u->text, u);
			for (const ytree_node *p = sn->first; !other && p != sp; p = p->next)
				other = defs_user_in(p, "users", u->text, NULL);
			if (!other)
				other = defs_user_in(root, "shop_users", u->text, NULL);
			for (const ytree_node *p = sup && sup->kind == YTREE_SEQUENCE ? sup->first : NULL; !other && p;
			     p = p->next)
				other = defs_user_in(p, "users", u->text, NULL);
			if (other)
				defs_err(c, u, "user \"%s\" is listed twice (also at %s:%d:%d): a user has one role",
					 u->text, c->file, other->line, other->col);
		}
	}
}

static void defs_salespeople(defs_ctx *c, const ytree_node *root) {
	defs_config *cf = &c->cfg;
	const ytree_node *sn = defs_get(c, root, "salespeople", false);
	if (!sn)
		return;
	if (sn->kind != YTREE_SEQUENCE) {
		defs_err(c, sn, "expected a list");
		return;
	}
	if (!(cf->salespeople = calloc(sn->n ? sn->n : 1, sizeof(*cf->salespeople)))) {
		c->oom = true;
		return;
	}
	for (const ytree_node *it = sn->first; it; it = it->next)
		defs_salesperson(c, it);
	for (const ytree_node *a = sn->first; a; a = a->next) {
		const ytree_node *ia = a->kind == YTREE_MAPPING ? ytree_get(a, "id") : NULL;
		for (const ytree_node *b = sn->first; ia && ia->kind == YTREE_SCALAR && b != a; b = b->next) {
			const ytree_node *ib = b->kind == YTREE_MAPPING ? ytree_get(b, "id") : NULL;
			if (ib && ib->kind == YTREE_SCALAR && !strcmp(ia->text, ib->text)) {
				defs_err(c, ia, "duplicate salesperson id \"%s\" (first defined at %s:%d:%d)", ia->text, c->file,
					 ib->line, ib->col);
				break;
			}
		}
	}
	defs_salespeople_users(c, root, sn);
}

/* key's value in map, when present, must name a salesperson: "unknown
 * salesperson "bob"; defined: anna, ville". */
static void defs_salesperson_ref(defs_ctx *c, const ytree_node *map, const char *key, const char *id) {
	char q[DEFS_QUOTE_MAX + 8], list[256];
	const defs_config *cf = &c->cfg;
	if (!id || c->config_unparsed || defs_find_salesperson(cf, id))
		return;
	size_t o = 0;
	list[0] = '\0';
	for (size_t i = 0; i < cf->n_salespeople; i++) {
		const char *sid = cf->salespeople[i].id;
		if (!sid)
			continue;
		if (o + strlen(sid) + 8 >= sizeof(list)) {
			snprintf(list + o, sizeof(list) - o, ", ...");
			break;
		}
		o += (size_t) snprintf(list + o, sizeof(list) - o, "%s%s", o ? ", " : "", sid);
	}
	if (o)
		defs_err(c, ytree_get(map, key), "unknown salesperson \"%s\"; defined: %s", defs_q(id, q), list);
	else
		defs_err(c, ytree_get(map, key), "unknown salesperson \"%s\"; standingd.yaml defines no salespeople",
			 defs_q(id, q));
}

/* A reminder's task: only the placeholders of doc/crm.md, "{{" and "}}" for
 * literal braces. The error points at the brace itself when the text sits on
 * the key's line as written (a plain or quoted one-line scalar). */
static void defs_task_text(defs_ctx *c, const ytree_node *n) {
	const char *s = n->text;
	size_t chars = 0;
	/* text fields hold no line break (text_check); a folded block scalar's
	 * text does not start at its indicator: the column is then approximate */
	bool one_line = !strchr(s, '\n');
	for (size_t i = 0; s[i]; i++) {
		const char *why = NULL;
		size_t at = i, nlen = 0;
		if ((s[i] == '{' && s[i + 1] == '{') || (s[i] == '}' && s[i + 1] == '}')) {
			i++;
			chars += 2;
			continue;
		}
		if (s[i] == '}')
			why = "a \"}\" without its \"{\" (write \"}}\" for a literal brace)";
		else if (s[i] == '{') {
			const char *e = strpbrk(s + i + 1, "{}");
			if (!e || *e == '{')
				why = "a \"{\" without its \"}\" (write \"{{\" for a literal brace)";
			else {
				nlen = (size_t) (e - (s + i + 1));
				bool known = false;
				for (size_t k = 0; defs_task_placeholders[k] && !known; k++)
					known = strlen(defs_task_placeholders[k]) == nlen &&
						!memcmp(defs_task_placeholders[k], s + i + 1, nlen);
				if (!known)
					why = "";
				i = (size_t) (e - s);
			}
		}
		if (why) {
			ytree_node at_node = *n;
			if (n->line > 0 && one_line)
				at_node.col = n->col + (n->quoted ? 1 : 0) + (int) chars;
			char q[DEFS_QUOTE_MAX + 8];
			if (*why)
				defs_err(c, &at_node, "%s", why);
			else
				defs_err(c, &at_node, "unknown placeholder \"{%s}\"; expected {customer}, {contact}, "
					 "{delivery_date}, {order}, {standing_order} or {total} ({{ and }} for literal braces)",
					 defs_qn(s + at + 1, nlen, q));
			return;
		}
		/* columns count characters: skip UTF-8 continuation bytes */
		for (size_t k = at; k <= i; k++)
			if (((unsigned char) s[k] & 0xC0) != 0x80)
				chars++;
	}
}

static void defs_config_read(defs_ctx *c, const ytree_node *root) {
	defs_config *cf = &c->cfg;
	int v;
	int64_t i;
	if (!root)
		return;   /* an empty file: all defaults */
	if (!defs_map(c, root, defs_config_keys))
		return;
	defs_abs_path(c, root, "state_dir", &cf->state_dir);
	defs_abs_path(c, root, "socket", &cf->socket);
	const ytree_node *tzn = defs_get(c, root, "timezone", false);
	if (tzn)
		defs_zone(c, tzn, &cf->zone);
	if (defs_enum(c, root, "catch_up", defs_catch_ups, &v) == 1)
		cf->catch_up = (catch_up) v;
	if (defs_int(c, root, "max_catch_up", false, 1, UINT32_MAX, &i) == 1)
		cf->max_catch_up = (uint32_t) i;
	defs_notify(c, root);
	defs_str(c, root, "ops_group", false, &cf->ops_group);
	defs_strv(c, root, "shop_users", &cf->shop_users, &cf->n_shop_users);
	if (defs_int(c, root, "max_connections", false, 1, 65536, &i) == 1)
		cf->max_connections = (uint32_t) i;
	if (defs_int(c, root, "max_connections_per_user", false, 1, 65536, &i) == 1)
		cf->max_connections_per_user = (uint32_t) i;
	const ytree_node *idle = defs_get(c, root, "idle_timeout", false);
	if (idle && defs_duration(c, idle, &i) == 1) {
		if (i < 1)
			defs_err(c, idle, "expected a positive duration");
		else
			cf->idle_timeout = i;
	}
	const ytree_node *mss = defs_get(c, root, "max_store_size", false);
	if (mss)
		defs_size(c, mss, &cf->max_store_size);
	const ytree_node *rq = defs_get(c, root, "max_reply_queue", false);
	if (rq)
		defs_size(c, rq, &cf->max_reply_queue);
	const ytree_node *rqt = defs_get(c, root, "max_reply_queue_total", false);
	if (rqt)
		defs_size(c, rqt, &cf->max_reply_queue_total);
	if (cf->max_reply_queue_total < cf->max_reply_queue)
		defs_err(c, rqt ? rqt : rq, "max_reply_queue_total (%llu MiB) is less than max_reply_queue (%llu MiB)",
			 (unsigned long long) (cf->max_reply_queue_total >> 20),
			 (unsigned long long) (cf->max_reply_queue >> 20));
	defs_payment_times(c, root, &cf->payment_due, &cf->cancel_unpaid_after);
	defs_carriers(c, root);
	defs_mail_read(c, root);
	defs_salespeople(c, root);

	const ytree_node *sn = defs_get(c, root, "suppliers", false);
	if (!sn)
		return;
	if (sn->kind != YTREE_SEQUENCE) {
		defs_err(c, sn, "expected a list");
		return;
	}
	cf->suppliers = calloc(sn->n ? sn->n : 1, sizeof(*cf->suppliers));
	c->supplier_nodes = calloc(sn->n ? sn->n : 1, sizeof(*c->supplier_nodes));
	if (!cf->suppliers || !c->supplier_nodes) {
		c->oom = true;
		return;
	}
	for (const ytree_node *it = sn->first; it; it = it->next)
		defs_supplier(c, it);
	/* ids are unique within the one config file; n is small */
	for (size_t a = 0; a < cf->n_suppliers; a++)
		for (size_t b = 0; b < a; b++) {
			const ytree_node *na = c->supplier_nodes[a], *nb = c->supplier_nodes[b];
			if (cf->suppliers[a].id && cf->suppliers[b].id &&
			    strcmp(cf->suppliers[a].id, cf->suppliers[b].id) == 0) {
				defs_err(c, na, "duplicate supplier id \"%s\" (first defined at %s:%d:%d)",
					 cf->suppliers[a].id, c->file, nb->line, nb->col);
				break;
			}
		}
}

/* ---- customers ---- */

static void defs_contacts(defs_ctx *c, const ytree_node *n, customer *cu) {
	if (n->kind != YTREE_SEQUENCE) {
		defs_err(c, n, "expected a list");
		return;
	}
	cu->contacts = calloc(n->n ? n->n : 1, sizeof(*cu->contacts));
	if (!cu->contacts) {
		c->oom = true;
		return;
	}
	for (const ytree_node *it = n->first; it; it = it->next) {
		contact *ct = &cu->contacts[cu->n_contacts++];
		if (!defs_map(c, it, defs_contact_keys))
			continue;
		defs_str(c, it, "name", true, &ct->name);
		defs_str(c, it, "role", false, &ct->role);
		defs_str(c, it, "email", false, &ct->email);
		defs_str(c, it, "phone", false, &ct->phone);
	}
}

static void defs_customer(defs_ctx *c, const ytree_node *n, size_t seq) {
	int v;
	if (!defs_grow(c, (void **) &c->cust, &c->cap_cust, c->n_cust, sizeof(*c->cust)))
		return;
	defs_cust_ent *e = &c->cust[c->n_cust];
	memset(e, 0, sizeof(*e));
	if (!defs_map(c, n, defs_customer_keys))
		return;
	c->n_cust++;
	customer *cu = &e->c;
	e->file = c->file;
	e->seq = seq;
	e->id_node = ytree_get(n, "id");
	cu->file = defs_strdup(c, c->file);
	cu->line = n->line;
	defs_id(c, n, &cu->id);
	defs_str(c, n, "name", true, &cu->name);
	memcpy(cu->language, "en", 3);
	if (defs_enum(c, n, "language", defs_languages, &v) == 1)
		memcpy(cu->language, defs_languages[v], 3);
	cu->zone = c->cfg.zone;
	const ytree_node *tzn = defs_get(c, n, "timezone", false);
	if (tzn)
		defs_zone(c, tzn, &cu->zone);
	defs_str(c, n, "salesperson", false, &cu->salesperson);
	defs_salesperson_ref(c, n, "salesperson", cu->salesperson);
	const ytree_node *vat = defs_get(c, n, "vat", false);
	const char *vs = vat ? defs_text(c, vat) : NULL;
	char vq[DEFS_QUOTE_MAX + 8];
	if (vs && order_vat_parse(vs, &cu->vat_rate) < 0)
		defs_err(c, vat, "expected a VAT rate like \"25.5%%\" (0%% to 100%%, up to 3 decimals), got \"%s\"",
			 defs_q(vs, vq));
	/* the config's unless overridden; sales falls back to its defaults on 0 */
	cu->payment_due = c->cfg.payment_due;
	cu->cancel_unpaid_after = c->cfg.cancel_unpaid_after;
	defs_payment_times(c, n, &cu->payment_due, &cu->cancel_unpaid_after);
	const ytree_node *acc = defs_get(c, n, "account", false);
	if (acc && defs_map(c, acc, defs_account_keys)) {
		defs_str(c, acc, "number", true, &cu->account_number);
		const ytree_node *cl = defs_get(c, acc, "credit_limit", false);
		if (cl)
			defs_money(c, cl, true, &cu->credit_limit);
	}
	const ytree_node *ct = defs_get(c, n, "contacts", false);
	if (ct)
		defs_contacts(c, ct, cu);
}

/* ---- standing orders ---- */

static void defs_address(defs_ctx *c, const ytree_node *n, order_address *a) {
	char q[DEFS_QUOTE_MAX + 8];
	if (!defs_map(c, n, defs_address_keys))
		return;
	defs_str(c, n, "name", true, &a->name);
	defs_str(c, n, "street", true, &a->street);
	defs_str(c, n, "postcode", false, &a->postcode);
	defs_str(c, n, "city", true, &a->city);
	if (defs_str(c, n, "country", true, &a->country) == 1) {
		const char *s = a->country;
		/* ISO 3166-1 alpha-2: what carriers and invoices want */
		if (strlen(s) != 2 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z')
			defs_err(c, ytree_get(n, "country"), "expected a country code like \"FI\", got \"%s\"",
				 defs_q(s, q));
	}
}

static void defs_lines(defs_ctx *c, const ytree_node *n, so_bulk *so) {
	char q[DEFS_QUOTE_MAX + 8];
	if (n->kind != YTREE_SEQUENCE) {
		defs_err(c, n, "expected a list");
		return;
	}
	if (n->n == 0) {
		defs_err(c, n, "expected at least one line");
		return;
	}
	so->lines = calloc(n->n, sizeof(*so->lines));
	if (!so->lines) {
		c->oom = true;
		return;
	}
	const char *currency = NULL;
	money total = { 0 };
	bool total_ok = true;
	for (const ytree_node *it = n->first; it; it = it->next) {
		order_line *l = &so->lines[so->n_lines++];
		if (!defs_map(c, it, defs_line_keys))
			continue;
		defs_str(c, it, "sku", true, &l->sku);
		int has_qty = defs_int(c, it, "quantity", true, 1, INT64_MAX, &l->quantity);
		const ytree_node *pn = defs_get(c, it, "unit_price", true);
		if (pn && defs_money(c, pn, true, &l->unit_price) == 1) {
			/* one order, one invoice, one currency */
			if (!currency)
				currency = l->unit_price.currency;
			else if (strcmp(currency, l->unit_price.currency) != 0)
				defs_err(c, pn, "expected the currency of the first line, %s, got \"%s\"",
					 currency, defs_q(pn->text, q));
			/* the order total is an int64 of minor units: it must fit */
			if (has_qty == 1 && total_ok && !strcmp(currency, l->unit_price.currency) &&
			    order_total_add(&total, l) == -EOVERFLOW) {
				defs_err(c, ytree_get(it, "quantity"), "the order total is out of range");
				total_ok = false;
			}
		}
	}
}

static void defs_reminders(defs_ctx *c, const ytree_node *n, so_bulk *so) {
	if (n->kind != YTREE_SEQUENCE) {
		defs_err(c, n, "expected a list");
		return;
	}
	so->reminders = calloc(n->n ? n->n : 1, sizeof(*so->reminders));
	if (!so->reminders) {
		c->oom = true;
		return;
	}
	for (const ytree_node *it = n->first; it; it = it->next) {
		reminder *rm = &so->reminders[so->n_reminders++];
		if (!defs_map(c, it, defs_reminder_keys))
			continue;
		const ytree_node *before = ytree_get(it, "before"), *after = ytree_get(it, "after_shipped");
		if (before && after)
			defs_err(c, after, "\"before\" and \"after_shipped\" are exclusive");
		else if (!before && !after)
			defs_err(c, it, "missing key \"before\" or \"after_shipped\"");
		else if (before) {
			rm->kind = REMIND_BEFORE;
			/* 0 would be due at the delivery itself, where the engine makes no
			 * task (an occurrence that is not after now has none) */
			if (defs_duration(c, before, &rm->offset) == 1 && rm->offset < 1)
				defs_err(c, before, "expected a positive duration");
		} else {
			rm->kind = REMIND_AFTER_SHIPPED;
			defs_duration(c, after, &rm->offset);
		}
		if (defs_str(c, it, "task", true, &rm->task) == 1)
			defs_task_text(c, ytree_get(it, "task"));
		if (defs_str(c, it, "assignee", false, &rm->assignee) == 1)
			defs_salesperson_ref(c, it, "assignee", rm->assignee);
	}
}

static int defs_day_cmp(const void *a, const void *b) {
	int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
	return (x > y) - (x < y);
}

static void defs_skip(defs_ctx *c, const ytree_node *n, rule *r) {
	if (n->kind != YTREE_SEQUENCE) {
		defs_err(c, n, "expected a list");
		return;
	}
	if (n->n == 0)
		return;
	r->skip = calloc(n->n, sizeof(*r->skip));
	if (!r->skip) {
		c->oom = true;
		return;
	}
	for (const ytree_node *it = n->first; it; it = it->next)
		if (defs_sched_date(c, it, &r->skip[r->n_skip]) == 1)
			r->n_skip++;
	size_t sorted = 1;
	while (sorted < r->n_skip && r->skip[sorted - 1] <= r->skip[sorted])
		sorted++;
	if (sorted < r->n_skip)   /* lists are mostly written in order: no sort then */
		qsort(r->skip, r->n_skip, sizeof(*r->skip), defs_day_cmp);
	size_t k = 0;
	for (size_t i = 0; i < r->n_skip; i++)
		if (k == 0 || r->skip[k - 1] != r->skip[i])
			r->skip[k++] = r->skip[i];
	r->n_skip = k;
}

static void defs_on(defs_ctx *c, const ytree_node *n, rule *r) {
	if (n->kind != YTREE_SEQUENCE) {
		defs_err(c, n, "expected a list");
		return;
	}
	if (n->n == 0) {
		defs_err(c, n, "expected at least one weekday");
		return;
	}
	for (const ytree_node *it = n->first; it; it = it->next) {
		const char *s = defs_text(c, it);
		if (!s)
			continue;
		int i;
		for (i = 0; defs_weekdays[i]; i++)
			if (strcmp(s, defs_weekdays[i]) == 0)
				break;
		if (defs_weekdays[i])
			r->on_mask |= (uint8_t) (1u << i);
		else
			defs_err_enum(c, it, defs_weekdays, s);
	}
}

static void defs_day(defs_ctx *c, const ytree_node *n, rule *r) {
	char q[DEFS_QUOTE_MAX + 8];
	const char *s = defs_text(c, n);
	if (!s)
		return;
	if (strcmp(s, "last") == 0) {
		r->day = RULE_LAST;
		return;
	}
	int v = 0;
	size_t len = strlen(s);
	bool ok = len >= 1 && len <= 2;
	for (size_t i = 0; i < len && ok; i++) {
		ok = s[i] >= '0' && s[i] <= '9';
		v = v * 10 + (s[i] - '0');
	}
	if (!ok || v < 1 || v > 31) {
		defs_err(c, n, "expected a day of the month 1..31 or \"last\", got \"%s\"", defs_q(s, q));
		return;
	}
	r->day = (int8_t) v;
}

/* "2nd tue", "last fri" */
static void defs_weekday(defs_ctx *c, const ytree_node *n, rule *r) {
	char q[DEFS_QUOTE_MAX + 8], ord[16], wd[16];
	const char *s = defs_text(c, n);
	if (!s)
		return;
	const char *sp = strchr(s, ' ');
	if (!sp || (size_t) (sp - s) >= sizeof(ord) || strlen(sp + 1) >= sizeof(wd) || strchr(sp + 1, ' ')) {
		defs_err(c, n, "expected a weekday like \"2nd tue\" or \"last fri\", got \"%s\"", defs_q(s, q));
		return;
	}
	memcpy(ord, s, (size_t) (sp - s));
	ord[sp - s] = '\0';
	strcpy(wd, sp + 1);
	int i, j;
	for (i = 0; defs_ordinals[i]; i++)
		if (strcmp(ord, defs_ordinals[i]) == 0)
			break;
	for (j = 0; defs_weekdays[j]; j++)
		if (strcmp(wd, defs_weekdays[j]) == 0)
			break;
	if (!defs_ordinals[i]) {
		defs_err_enum(c, n, defs_ordinals, ord);
		return;
	}
	if (!defs_weekdays[j]) {
		defs_err_enum(c, n, defs_weekdays, wd);
		return;
	}
	r->nth = (int8_t) (i == 4 ? RULE_LAST : i + 1);
	r->weekday = (int8_t) j;
}

static void defs_schedule(defs_ctx *c, const ytree_node *n, defs_order_ent *e) {
	rule *r = &e->o.rule;
	char q[DEFS_QUOTE_MAX + 8], q2[DEFS_QUOTE_MAX + 8];
	int v;
	int64_t i;

	r->kind = RULE_EVERY;
	r->unit = RULE_UNIT_DAY;
	r->interval = 1;
	r->start_day = RULE_NO_DAY;
	if (!defs_map(c, n, defs_schedule_keys))
		return;
	const ytree_node *every = ytree_get(n, "every"), *cron = ytree_get(n, "cron");
	const ytree_node *on = ytree_get(n, "on"), *day = ytree_get(n, "day"), *wd = ytree_get(n, "weekday");
	const ytree_node *start = ytree_get(n, "start"), *at = ytree_get(n, "at");
	const ytree_node *until = ytree_get(n, "until"), *count = ytree_get(n, "count");
	bool every_ok = false, cron_ok = false;
	cron_expr ce;

	if (every && cron)
		defs_err(c, cron, "\"every\" and \"cron\" are exclusive");
	else if (!every && !cron)
		defs_err(c, n, "missing key \"every\" or \"cron\"");
	if (every) {
		rule_unit unit = (rule_unit) r->unit;
		every_ok = defs_interval(c, every, &unit, &r->interval) == 1;
		r->unit = (uint8_t) unit;
	} else if (cron) {
		const char *s = defs_text(c, cron);
		const char *why = NULL;
		r->kind = RULE_CRON;
		r->unit = RULE_UNIT_MINUTE;
		r->cron = NULL;   /* set below, once parsed */
		if (s && cron_parse(s, &ce, &why) < 0)
			defs_err(c, cron, "invalid cron expression: %s", why ? why : defs_q(s, q));
		else
			cron_ok = s != NULL;
		if (at)
			defs_err(c, at, "\"at\" is not used with \"cron\"");
	}
	if (on) {
		/* an "every" that did not parse has been reported already */
		if (every_ok ? r->unit != RULE_UNIT_WEEK : !every)
			defs_err(c, on, "\"on\" needs \"every: N weeks\"");
		defs_on(c, on, r);
		r->kind = RULE_WEEKLY_ON;
	}
	if (day && wd)
		defs_err(c, wd, "\"day\" and \"weekday\" are exclusive");
	else if (day || wd) {
		if (every_ok ? r->unit != RULE_UNIT_MONTH : !every)
			defs_err(c, day ? day : wd, "\"%s\" needs \"every: N months\"", day ? "day" : "weekday");
		if (day) {
			defs_day(c, day, r);
			r->kind = RULE_MONTHLY_DAY;
		} else {
			defs_weekday(c, wd, r);
			r->kind = RULE_MONTHLY_WEEKDAY;
		}
	}
	/* the expression out of line (the rule's, freed by rule_done()), once no
	 * other form's fields can take its storage */
	if (cron_ok && r->kind == RULE_CRON) {
		cron_expr *cp = malloc(sizeof(*cp));
		if (cp) {
			*cp = ce;
			r->cron = cp;
		} else {
			c->oom = true;
		}
	}
	if (every && !start)
		defs_err(c, n, "missing key \"start\"");
	int64_t day64;   /* the rule's days and lead_time are 32 bits: the bounds checked here fit */
	bool start_ok = start && defs_sched_date(c, start, &day64) == 1;
	if (start_ok)
		r->start_day = (int32_t) day64;
	if (at && every) {
		const char *s = defs_text(c, at);
		int32_t secs;   /* 0..86399: fits the rule's 17 bits */
		if (s && cal_parse_time(s, &secs) < 0)
			defs_err(c, at, "expected a time HH:MM, got \"%s\"", defs_q(s, q));
		else if (s)
			r->at = (uint32_t) secs;
	}
	const ytree_node *tzn = ytree_get(n, "timezone");
	if (tzn)
		e->has_zone = defs_zone(c, tzn, &r->zone) == 1;
	const ytree_node *lead = ytree_get(n, "lead_time");
	if (lead && defs_duration(c, lead, &i) == 1) {
		if (i > DEFS_LEAD_MAX)
			defs_err(c, lead, "lead_time must be at most a year (366 days), got \"%s\"", defs_q(lead->text, q));
		else
			r->lead_time = (int32_t) i;
	}
	if (until && count)
		defs_err(c, count, "\"until\" and \"count\" are exclusive");
	if (until && defs_sched_date(c, until, &day64) == 1) {
		r->until_day = (int32_t) day64;
		r->has_until = true;
		if (start_ok && r->until_day < r->start_day)
			defs_err(c, until, "until %s is before start %s", defs_q(until->text, q),
				 defs_q(start->text, q2));
	}
	if (defs_int(c, n, "count", false, 1, DEFS_COUNT_MAX, &i) == 1) {
		r->count = (uint32_t) i;
		/* counting cron matches needs a first one to count from */
		if (cron && !every && !start)
			defs_err(c, count, "\"count\" needs \"start\" with \"cron\"");
	}
	const ytree_node *skip = ytree_get(n, "skip");
	if (skip)
		defs_skip(c, skip, r);
	bool paused = false;
	defs_bool(c, n, "paused", &paused);
	r->paused = paused;
	if (defs_enum(c, n, "catch_up", defs_catch_ups, &v) == 1) {
		e->o.catch_up = (catch_up) v;
		e->has_catch_up = true;
	}
}

static void defs_order_read(defs_ctx *c, const ytree_node *n, size_t seq) {
	int v;
	if (!defs_grow(c, (void **) &c->ord, &c->cap_ord, c->n_ord, sizeof(*c->ord)))
		return;
	defs_order_ent *e = &c->ord[c->n_ord];
	memset(e, 0, sizeof(*e));
	e->o.rule.start_day = RULE_NO_DAY;
	e->customer_idx = SIZE_MAX;
	if (!defs_map(c, n, defs_order_keys))
		return;
	c->n_ord++;
	standing_order *so = &e->o;
	e->file = c->file;
	e->seq = seq;
	e->id_node = ytree_get(n, "id");
	so_bulk *b = defs_bulk_new(so);
	if (!b) {
		c->oom = true;
		return;
	}
	b->file = defs_strdup(c, c->file);
	b->line = n->line;
	if (c->placed_by)
		b->placed_by = defs_strdup(c, c->placed_by);
	defs_id(c, n, &so->id);
	if (defs_str(c, n, "customer", true, &e->customer_id) == 1)
		e->customer_node = ytree_get(n, "customer");
	if (defs_str(c, n, "supplier", true, &so->supplier) == 1)
		e->supplier_node = ytree_get(n, "supplier");
	const ytree_node *st = defs_get(c, n, "ship_to", true);
	if (st)
		defs_address(c, st, &b->ship_to);
	const ytree_node *ln = defs_get(c, n, "lines", true);
	if (ln)
		defs_lines(c, ln, b);
	so->n_lines = defs_so_n_lines(b->n_lines);
	if (defs_get(c, n, "payment", true) && defs_enum(c, n, "payment", order_payment_names, &v) == 1) {
		so->payment = (order_payment) v;
		e->payment_node = ytree_get(n, "payment");
	}
	const ytree_node *sc = defs_get(c, n, "schedule", true);
	e->schedule_node = sc;
	if (sc)
		defs_schedule(c, sc, e);
	else
		e->o.rule.interval = 1;
	const ytree_node *rm = defs_get(c, n, "reminders", false);
	if (rm)
		defs_reminders(c, rm, b);
}

static void defs_orders_file(defs_ctx *c, const ytree_node *root, size_t *seq) {
	if (!root)
		return;   /* an empty file defines nothing */
	bool api = !strncmp(c->file, "api/", 4);
	if (!defs_map(c, root, api ? defs_api_file_keys : defs_file_keys))
		return;
	c->placed_by = NULL;
	const ytree_node *pb = api ? ytree_get(root, "placed_by") : NULL;
	if (pb)
		c->placed_by = defs_text(c, pb);
	const ytree_node *cn = ytree_get(root, "customers"), *on = ytree_get(root, "standing_orders");
	if (cn && cn->kind != YTREE_SEQUENCE)
		defs_err(c, cn, "expected a list");
	else if (cn)
		for (const ytree_node *it = cn->first; it; it = it->next)
			defs_customer(c, it, (*seq)++);
	if (on && on->kind != YTREE_SEQUENCE)
		defs_err(c, on, "expected a list");
	else if (on)
		for (const ytree_node *it = on->first; it; it = it->next)
			defs_order_read(c, it, (*seq)++);
	c->placed_by = NULL;
}

/* ---- the canonical hash ---- */

/* FNV-1a over a tagged, length-prefixed serialization of the effective values,
 * so a reload can tell which standing orders changed. Not a security hash. */
static void defs_hash_bytes(uint64_t *h, const void *p, size_t n) {
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++) {
		*h ^= b[i];
		*h *= UINT64_C(0x100000001b3);
	}
}

static void defs_hash_u64(uint64_t *h, uint64_t v) {
	unsigned char b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char) (v >> (8 * i));
	defs_hash_bytes(h, b, sizeof(b));
}

static void defs_hash_str(uint64_t *h, const char *s) {
	if (!s) {
		defs_hash_u64(h, UINT64_MAX);
		return;
	}
	size_t len = strlen(s);
	defs_hash_u64(h, len);
	defs_hash_bytes(h, s, len);
}

static uint64_t defs_order_hash(const standing_order *so) {
	uint64_t h = UINT64_C(0xcbf29ce484222325);
	const rule *r = &so->rule;
	defs_hash_str(&h, "standing_order/1");
	defs_hash_str(&h, so->id);
	defs_hash_str(&h, so->customer ? so->customer->id : NULL);
	defs_hash_str(&h, so->supplier);
	const so_bulk *b = so->bulk;
	defs_hash_str(&h, b->ship_to.name);
	defs_hash_str(&h, b->ship_to.street);
	defs_hash_str(&h, b->ship_to.postcode);
	defs_hash_str(&h, b->ship_to.city);
	defs_hash_str(&h, b->ship_to.country);
	defs_hash_u64(&h, b->n_lines);
	for (size_t i = 0; i < b->n_lines; i++) {
		defs_hash_str(&h, b->lines[i].sku);
		defs_hash_u64(&h, (uint64_t) b->lines[i].quantity);
		defs_hash_u64(&h, (uint64_t) b->lines[i].unit_price.minor);
		defs_hash_str(&h, b->lines[i].unit_price.currency);
	}
	defs_hash_u64(&h, so->payment);
	defs_hash_u64(&h, r->kind);
	defs_hash_u64(&h, r->unit);
	defs_rule_wire w;
	defs_rule_wire_of(r, &w);
	defs_hash_u64(&h, w.interval);
	defs_hash_u64(&h, (uint64_t) w.start_day);
	defs_hash_u64(&h, (uint64_t) r->at);
	defs_hash_u64(&h, w.on_mask);
	defs_hash_u64(&h, (uint64_t) w.day);
	defs_hash_u64(&h, (uint64_t) w.nth);
	defs_hash_u64(&h, (uint64_t) w.weekday);
	defs_hash_u64(&h, w.cron.minute);
	defs_hash_u64(&h, w.cron.hour);
	defs_hash_u64(&h, w.cron.dom);
	defs_hash_u64(&h, w.cron.month);
	defs_hash_u64(&h, w.cron.dow);
	defs_hash_u64(&h, w.cron.dom_star);
	defs_hash_u64(&h, w.cron.dow_star);
	defs_hash_u64(&h, r->has_until);
	defs_hash_u64(&h, (uint64_t) r->until_day);
	defs_hash_u64(&h, r->count);
	defs_hash_u64(&h, r->n_skip);
	for (size_t i = 0; i < r->n_skip; i++)
		defs_hash_u64(&h, (uint64_t) r->skip[i]);
	defs_hash_u64(&h, r->paused);
	defs_hash_u64(&h, (uint64_t) r->lead_time);
	defs_hash_str(&h, r->zone ? tz_zone_name(r->zone) : NULL);
	defs_hash_u64(&h, so->catch_up);
	defs_hash_u64(&h, b->n_reminders);
	for (size_t i = 0; i < b->n_reminders; i++) {
		defs_hash_u64(&h, b->reminders[i].kind);
		defs_hash_u64(&h, (uint64_t) b->reminders[i].offset);
		defs_hash_str(&h, b->reminders[i].task);
		defs_hash_str(&h, b->reminders[i].assignee);
	}
	return h;
}

/* ---- cross-file checks ---- */

/* Entries whose id did not validate (NULL) sort first and match nothing. */
static int defs_cmp_ids(const char *a, const char *b) {
	if (!a)
		return b ? -1 : 0;
	if (!b)
		return 1;
	return strcmp(a, b);
}

static int defs_cust_cmp(const void *a, const void *b) {
	const defs_cust_ent *x = a, *y = b;
	int r = defs_cmp_ids(x->c.id, y->c.id);
	return r ? r : (x->seq > y->seq) - (x->seq < y->seq);
}

static int defs_ord_cmp(const void *a, const void *b) {
	const defs_order_ent *x = a, *y = b;
	int r = defs_cmp_ids(x->o.id, y->o.id);
	return r ? r : (x->seq > y->seq) - (x->seq < y->seq);
}

/* The first (by definition order) customer with this id, or SIZE_MAX. */
static size_t defs_cust_find(const defs_ctx *c, const char *id) {
	size_t lo = 0, hi = c->n_cust;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (defs_cmp_ids(c->cust[mid].c.id, id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < c->n_cust && c->cust[lo].c.id && strcmp(c->cust[lo].c.id, id) == 0 ? lo : SIZE_MAX;
}

static const supplier *defs_supplier_find(const defs_config *cf, const char *id) {
	for (size_t i = 0; i < cf->n_suppliers; i++)
		if (cf->suppliers[i].id && strcmp(cf->suppliers[i].id, id) == 0)
			return &cf->suppliers[i];
	return NULL;
}

/* References and inherited defaults of one standing order; cu is its
 * customer, NULL when the id names none (reported here). */
static void defs_link_order(defs_ctx *c, defs_order_ent *e, const customer *cu) {
	char q[DEFS_QUOTE_MAX + 8];
	standing_order *so = &e->o;
	if (e->customer_id && !cu && !c->orders_unparsed)
		defs_err(c, e->customer_node, "unknown customer \"%s\"", defs_q(e->customer_id, q));
	if (so->supplier && !c->config_unparsed && !defs_supplier_find(&c->cfg, so->supplier))
		defs_err(c, e->supplier_node, "unknown supplier \"%s\"", defs_q(so->supplier, q));
	if (cu && e->payment_node && so->payment == ORDER_PAYMENT_ACCOUNT && !cu->account_number)
		defs_err(c, e->payment_node, "payment \"account\" needs an account for customer \"%s\"", cu->id);
	if (cu && so->payment == ORDER_PAYMENT_ACCOUNT && cu->credit_limit.currency[0] && so->bulk->n_lines &&
	    so->bulk->lines[0].unit_price.currency[0] &&
	    strcmp(so->bulk->lines[0].unit_price.currency, cu->credit_limit.currency))
		defs_err(c, e->payment_node ? e->payment_node : e->customer_node,
			 "payment \"account\" in %s: customer \"%s\" has a credit limit in %s, which applies only to %s charges",
			 so->bulk->lines[0].unit_price.currency, cu->id, cu->credit_limit.currency, cu->credit_limit.currency);
	if (!e->has_zone)
		so->rule.zone = cu ? cu->zone : c->cfg.zone;
	if (!e->has_catch_up)
		so->catch_up = c->cfg.catch_up;
}

/* The checks above should leave nothing for rule_validate() to find; if they
 * ever fall behind it, say so here rather than at the first rule_next(). */
static void defs_check_rule(defs_ctx *c, const defs_order_ent *e) {
	const char *why = NULL;
	c->file = e->file;
	if (rule_validate(&e->o.rule, &why) < 0)
		defs_err(c, e->schedule_node, "invalid schedule: %s", why ? why : "rejected");
}

static void defs_link(defs_ctx *c) {
	if (c->n_cust)
		qsort(c->cust, c->n_cust, sizeof(*c->cust), defs_cust_cmp);
	for (size_t i = 1; i < c->n_cust; i++) {
		const defs_cust_ent *a = &c->cust[i - 1], *b = &c->cust[i];
		if (!a->c.id || !b->c.id || strcmp(a->c.id, b->c.id) != 0)
			continue;
		size_t first = defs_cust_find(c, b->c.id);
		const defs_cust_ent *f = &c->cust[first];
		c->file = b->file;
		defs_err(c, b->id_node, "duplicate customer id \"%s\" (first defined at %s:%d:%d)",
			 b->c.id, f->file, f->id_node->line, f->id_node->col);
	}

	if (c->n_ord)
		qsort(c->ord, c->n_ord, sizeof(*c->ord), defs_ord_cmp);
	for (size_t i = 0; i < c->n_ord; i++) {
		defs_order_ent *e = &c->ord[i];
		standing_order *so = &e->o;
		c->file = e->file;
		if (i > 0 && so->id && c->ord[i - 1].o.id && strcmp(so->id, c->ord[i - 1].o.id) == 0) {
			size_t first = i - 1;
			while (first > 0 && c->ord[first - 1].o.id && strcmp(c->ord[first - 1].o.id, so->id) == 0)
				first--;
			const defs_order_ent *f = &c->ord[first];
			defs_err(c, e->id_node, "duplicate standing order id \"%s\" (first defined at %s:%d:%d)",
				 so->id, f->file, f->id_node->line, f->id_node->col);
		}
		if (e->customer_id)
			e->customer_idx = defs_cust_find(c, e->customer_id);
		defs_link_order(c, e, e->customer_idx == SIZE_MAX ? NULL : &c->cust[e->customer_idx].c);
	}
	/* only a set without errors is complete enough for rule_validate() */
	if (c->errors)
		return;
	for (size_t i = 0; i < c->n_ord; i++)
		defs_check_rule(c, &c->ord[i]);
}

/* ---- loading ---- */

/* Parse one file; errors of the parse itself go to the diags. */
static const ytree_node *defs_parse(defs_ctx *c, const defs_file *f) {
	ytree *t = NULL;
	ytree_error err;
	size_t nl = strlen(f->name);
	/* Standing orders placed through the socket API are kept as JSON. */
	bool json = nl > 5 && !strcmp(f->name + nl - 5, ".json");
	int r = json ? ytree_parse_json(f->data, f->len, &t, &err) : ytree_parse_yaml(f->data, f->len, &t, &err);
	if (r == -ENOMEM) {
		c->oom = true;
		return NULL;
	}
	if (r < 0) {
		c->errors++;
		diag_add(c->diags, f->name, err.line, err.col, "%s", err.msg);
		return NULL;
	}
	c->trees[c->n_trees++] = t;
	return ytree_root(t);
}

static void defs_file_begin(defs_ctx *c, const defs_file *f) {
	c->file = f->name;
	c->file_errors = c->file_hidden = 0;
}

static void defs_file_end(defs_ctx *c) {
	if (c->file_hidden)
		diag_add(c->diags, c->file, 0, 0, "%zu more errors not shown", c->file_hidden);
}

static void defs_ctx_done(defs_ctx *c) {
	for (size_t i = 0; i < c->n_cust; i++)
		defs_customer_done(&c->cust[i].c);
	free(c->cust);
	for (size_t i = 0; i < c->n_ord; i++) {
		defs_order_done(&c->ord[i].o);
		free(c->ord[i].customer_id);
	}
	free(c->ord);
	defs_config_done(&c->cfg);
	free(c->supplier_nodes);
	for (size_t i = 0; i < c->n_trees; i++)
		ytree_free(c->trees[i]);
	free(c->trees);
	tz_db_free(c->tz);
}

static void defs_strdup_default(defs_ctx *c, char **p, const char *def) {
	if (!*p)
		*p = defs_strdup(c, def);
}

int defs_load_files(const defs_file *files, size_t n, const char *tzdir, defs **ret, diag_list *diags) {
	defs_ctx c = { .diags = diags };
	int r;
	size_t seq = 0;

	if (n == 0) {
		diag_add(diags, "standingd.yaml", 0, 0, "missing");
		return -EINVAL;
	}
	c.tz = tz_db_new(tzdir);
	c.trees = calloc(n, sizeof(*c.trees));
	if (!c.tz || !c.trees) {
		r = -ENOMEM;
		goto out;
	}
	c.cfg.catch_up = CATCH_UP_ALL;
	c.cfg.max_catch_up = 100;
	c.cfg.max_connections = 128;
	c.cfg.idle_timeout = 60;
	c.cfg.notify_parallel = 1;
	c.cfg.notify_timeout = 60;
	c.cfg.notify_max_attempts = 20;
	c.cfg.payment_due = 3 * 86400;
	c.cfg.cancel_unpaid_after = 14 * 86400;
	c.cfg.max_reply_queue = UINT64_C(16) << 20;
	c.cfg.max_reply_queue_total = UINT64_C(256) << 20;
	if (tz_db_get(c.tz, "UTC", &c.cfg.zone) < 0) {
		r = -ENOMEM;
		goto out;
	}

	defs_file_begin(&c, &files[0]);
	const ytree_node *root = defs_parse(&c, &files[0]);
	c.config_unparsed = c.errors > 0;
	defs_config_read(&c, root);
	defs_file_end(&c);
	/* state_dir stays NULL when absent: --state names it then */
	defs_strdup_default(&c, &c.cfg.socket, STANDINGD_SOCKET_DEFAULT);

	for (size_t i = 1; i < n && !c.oom; i++) {
		defs_file_begin(&c, &files[i]);
		size_t before = c.errors;
		root = defs_parse(&c, &files[i]);
		if (c.errors > before)
			c.orders_unparsed = true;
		defs_orders_file(&c, root, &seq);
		defs_file_end(&c);
	}
	if (c.oom) {
		r = -ENOMEM;
		goto out;
	}
	c.file_errors = c.file_hidden = 0;
	defs_link(&c);
	if (c.file_hidden)
		diag_add(diags, NULL, 0, 0, "%zu more errors not shown", c.file_hidden);
	if (c.oom || (diags && diags->oom)) {
		r = -ENOMEM;
		goto out;
	}
	if (c.errors) {
		diag_sort(diags);
		r = -EINVAL;
		goto out;
	}

	defs *d = calloc(1, sizeof(*d));
	customer *cv = calloc(c.n_cust ? c.n_cust : 1, sizeof(*cv));
	standing_order *ov = calloc(c.n_ord ? c.n_ord : 1, sizeof(*ov));
	if (!d || !cv || !ov) {
		free(d);
		free(cv);
		free(ov);
		r = -ENOMEM;
		goto out;
	}
	/* Both arrays are sorted by id already; the customers' array is final, so
	 * the orders can point into it. */
	for (size_t i = 0; i < c.n_cust; i++)
		cv[i] = c.cust[i].c;
	for (size_t i = 0; i < c.n_ord; i++) {
		ov[i] = c.ord[i].o;
		ov[i].customer = &cv[c.ord[i].customer_idx];
		ov[i].hash = defs_order_hash(&ov[i]);
		free(c.ord[i].customer_id);
	}
	d->config = c.cfg;
	d->customers = cv;
	d->n_customers = c.n_cust;
	d->orders = ov;
	d->n_orders = c.n_ord;
	d->tz = c.tz;
	/* ownership moved: free only the scaffolding */
	free(c.cust);
	free(c.ord);
	free(c.supplier_nodes);
	for (size_t i = 0; i < c.n_trees; i++)
		ytree_free(c.trees[i]);
	free(c.trees);
	*ret = d;
	return 0;
out:
	defs_ctx_done(&c);
	return r;
}

void defs_free(defs *d) {
	if (!d)
		return;
	for (size_t i = 0; i < d->n_orders; i++)
		defs_order_done(&d->orders[i]);
	free(d->orders);
	for (size_t i = 0; i < d->n_customers; i++)
		defs_customer_done(&d->customers[i]);
	free(d->customers);
	defs_config_done(&d->config);
	tz_db_free(d->tz);
	free(d);
}

const standing_order *defs_find_order(const defs *d, const char *id) {
	size_t lo = 0, hi = d->n_orders;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = strcmp(d->orders[mid].id, id);
		if (r == 0)
			return &d->orders[mid];
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const salesperson *defs_find_salesperson(const defs_config *cf, const char *id) {
	for (size_t i = 0; id && i < cf->n_salespeople; i++)
		if (cf->salespeople[i].id && strcmp(cf->salespeople[i].id, id) == 0)
			return &cf->salespeople[i];
	return NULL;
}

const customer *defs_find_customer(const defs *d, const char *id) {
	size_t lo = 0, hi = d->n_customers;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = strcmp(d->customers[mid].id, id);
		if (r == 0)
			return &d->customers[mid];
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const defs_carrier *defs_find_carrier(const defs_config *cf, const char *id) {
	for (size_t i = 0; id && i < cf->n_carriers; i++)
		if (cf->carriers[i].id && !strcmp(cf->carriers[i].id, id))
			return &cf->carriers[i];
	return NULL;
}

const supplier *defs_find_supplier(const defs *d, const char *id) {
	return defs_supplier_find(&d->config, id);
}

/* ---- reading the directory ---- */

/* Why a definition file cannot be used, as a person reads it; name is relative to
 * the config directory. A file that cannot be read makes the set invalid. */
static int defs_read_error(diag_list *diags, const char *name, int err) {
	char buf[128];
	switch (err) {
	case ENOENT: diag_add(diags, name, 0, 0, "no such file or directory"); break;
	case ENOTDIR: diag_add(diags, name, 0, 0, "not a directory"); break;
	case ELOOP: diag_add(diags, name, 0, 0, "too many levels of symbolic links (a loop?)"); break;
	case EFBIG: diag_add(diags, name, 0, 0, "larger than %u MiB", DEFS_MAX_FILE_SIZE >> 20); break;
	default: diag_add(diags, name, 0, 0, "cannot read: %s", strerror_r(err, buf, sizeof(buf))); break;
	}
	return -EINVAL;
}

/* Whole file at dirfd/name into a fresh buffer. Opened without blocking and only
 * if it is a regular file: a FIFO, socket or device named x.yaml would otherwise
 * hold the event loop in open() or read(). 0, -EINVAL reported as shown, or
 * -ENOMEM (not reported). */
static void defs_id_of(const struct stat *st, defs_file_id *ret) {
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	*ret = (defs_file_id) {
		.size = (uint64_t) st->st_size, .ino = (uint64_t) st->st_ino, .dev = (uint64_t) st->st_dev,
		.mtime_ns = (int64_t) st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec,
		.ctime_ns = (int64_t) st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec,
		.seen_ns = (int64_t) now.tv_sec * 1000000000 + now.tv_nsec,
	};
}

bool defs_file_id_same(const defs_file_id *was, const defs_file_id *id) {
	return was->size == id->size && was->ino == id->ino && was->dev == id->dev &&
	       was->mtime_ns == id->mtime_ns && was->ctime_ns == id->ctime_ns &&
	       was->ctime_ns < was->seen_ns - 1000000000;
}

static int defs_read_file(int dirfd, const char *name, const char *shown, char **ret, size_t *ret_len,
			  diag_list *diags, defs_file_id *ret_id) {
	struct stat st;
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		int e = errno;
		/* a socket file refuses open() (ENXIO): say what it is */
		if (fstatat(dirfd, name, &st, 0) == 0 && !S_ISREG(st.st_mode)) {
			diag_add(diags, shown, 0, 0, "not a regular file");
			return -EINVAL;
		}
		return defs_read_error(diags, shown, e);
	}
	int r = 0;
	char *buf = NULL;
	size_t len = 0;
	if (fstat(fd, &st) < 0) {
		r = defs_read_error(diags, shown, errno);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		diag_add(diags, shown, 0, 0, "not a regular file");
		r = -EINVAL;
		goto out;
	}
	if (st.st_size > (off_t) DEFS_MAX_FILE_SIZE) {
		r = defs_read_error(diags, shown, EFBIG);
		goto out;
	}
	if (ret_id)
		defs_id_of(&st, ret_id);
	/* one byte more than the limit shows a file that grew past it */
	size_t cap = (size_t) st.st_size + 2;
	buf = malloc(cap);
	if (!buf) {
		r = -ENOMEM;
		goto out;
	}
	/* read to EOF rather than trusting st_size: the file may be growing */
	for (;;) {
		if (len + 1 >= cap) {
			/* len <= the limit here, so cap < the limit + 2 and this grows */
			size_t nc = cap * 2 > DEFS_MAX_FILE_SIZE + 2 ? DEFS_MAX_FILE_SIZE + 2 : cap * 2;
			char *nb = realloc(buf, nc);
			if (!nb) {
				r = -ENOMEM;
				goto out;
			}
			buf = nb;
			cap = nc;
		}
		ssize_t k = read(fd, buf + len, cap - len - 1);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			r = defs_read_error(diags, shown, errno);
			goto out;
		}
		if (k == 0)
			break;
		len += (size_t) k;
		if (len > DEFS_MAX_FILE_SIZE) {
			r = defs_read_error(diags, shown, EFBIG);
			goto out;
		}
	}
	buf[len] = '\0';
	*ret = buf;
	*ret_len = len;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return r;
}

static bool defs_is_yaml_name(const char *name) {
	size_t len = strlen(name);
	/* dot files are editor droppings (".#acme.yaml" locks, backups) */
	if (name[0] == '.')
		return false;
	return (len > 5 && strcmp(name + len - 5, ".yaml") == 0) ||
	       (len > 4 && strcmp(name + len - 4, ".yml") == 0);
}

static int defs_name_cmp(const void *a, const void *b) {
	return strcmp(*(char *const *) a, *(char *const *) b);
}

void defs_files_free(defs_file *files, size_t n) {
	if (!files)
		return;
	for (size_t i = 0; i < n; i++) {
		free(files[i].name);
		free(files[i].data);
	}
	free(files);
}

int defs_files_dup(const defs_file *files, size_t n, defs_file **ret) {
	defs_file *v = calloc(n + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		v[i].name = strdup(files[i].name);
		v[i].data = malloc(files[i].len + 1);
		v[i].len = files[i].len;
		if (!v[i].name || !v[i].data) {
			defs_files_free(v, i + 1);
			return -ENOMEM;
		}
		memcpy(v[i].data, files[i].data, files[i].len);
		v[i].data[files[i].len] = 0;
	}
	*ret = v;
	return 0;
}

int defs_api_files_with(const defs_file *api, size_t n, const char *id, const char *json,
			defs_file **ret, size_t *ret_n) {
	char name[300];
	/* ids are validated with the definition; a name that is no id cannot clash */
	snprintf(name, sizeof(name), "api/%s.json", id[0] && !strchr(id, '/') ? id : "invalid-id");
	defs_file *v;
	size_t k = 0;
	int r = defs_files_dup(api, n, &v);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(v[i].name, name)) {
			v[k++] = v[i];
			continue;
		}
		free(v[i].name);
		free(v[i].data);
	}
	if (json) {
		v[k].name = strdup(name);
		v[k].data = strdup(json);
		v[k].len = strlen(json);
		if (!v[k].name || !v[k].data) {
			defs_files_free(v, k + 1);
			return -ENOMEM;
		}
		k++;
	}
	*ret = v;
	*ret_n = k;
	return 0;
}

int defs_read_dir(const char *dir, defs_file **ret_files, size_t *ret_n, diag_list *diags) {
	defs_file_info *info = NULL;
	int r = defs_read_dir_known(dir, NULL, NULL, ret_files, &info, ret_n, diags);
	free(info);
	return r;
}

int defs_read_one(const char *dir, const char *name, defs_file *ret, defs_file_info *ret_info, diag_list *diags) {
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK);
	if (dfd < 0)
		return defs_read_error(diags, dir, errno);
	defs_file f = { .name = strdup(name) };
	defs_file_info fi = { 0 };
	int r = f.name ? defs_read_file(dfd, name, name, &f.data, &f.len, diags, &fi.id) : -ENOMEM;
	close(dfd);
	if (r < 0) {
		free(f.name);
		return r;
	}
	fi.hash = defs_hash64(f.data, f.len, 0);
	*ret = f;
	*ret_info = fi;
	return 0;
}

int defs_read_dir_known(const char *dir, defs_known_fn known, void *ud, defs_file **ret_files,
			defs_file_info **ret_info, size_t *ret_n, diag_list *diags) {
	defs_file_info *info = NULL;
	defs_file *files = NULL;
	size_t n = 0;
	char **names = NULL;
	size_t n_names = 0, cap_names = 0;
	DIR *od = NULL;
	int r = 0;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK);
	if (dfd < 0)
		return defs_read_error(diags, dir, errno);

	files = calloc(1, sizeof(*files));
	info = calloc(1, sizeof(*info));
	if (!files || !info) {
		r = -ENOMEM;
		goto out;
	}
	files[0].name = strdup("standingd.yaml");
	if (!files[0].name) {
		r = -ENOMEM;
		goto out;
	}
	n = 1;
	r = defs_read_file(dfd, "standingd.yaml", "standingd.yaml", &files[0].data, &files[0].len, diags, &info[0].id);
	if (r < 0)
		goto out;
	info[0].hash = defs_hash64(files[0].data, files[0].len, 0);

	int ofd = openat(dfd, "orders.d", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK);
	if (ofd < 0) {
		if (errno == ENOENT)
			goto done;   /* no standing orders in files: all may come from the API */
		r = defs_read_error(diags, "orders.d", errno);
		goto out;
	}
	od = fdopendir(ofd);
	if (!od) {
		r = defs_read_error(diags, "orders.d", errno);
		close(ofd);
		goto out;
	}
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(od);
		if (!de) {
			if (errno) {
				r = defs_read_error(diags, "orders.d", errno);
				goto out;
			}
			break;
		}
		/* a directory named x.yaml is reported when it is read, like a FIFO */
		if (!defs_is_yaml_name(de->d_name))
			continue;
		if (n_names == cap_names) {
			size_t nc = cap_names ? 2 * cap_names : 16;
			char **nv = realloc(names, nc * sizeof(*nv));
			if (!nv) {
				r = -ENOMEM;
				goto out;
			}
			names = nv;
			cap_names = nc;
		}
		names[n_names] = strdup(de->d_name);
		if (!names[n_names]) {
			r = -ENOMEM;
			goto out;
		}
		n_names++;
	}
	if (n_names)
		qsort(names, n_names, sizeof(*names), defs_name_cmp);
	defs_file *nf = realloc(files, (1 + n_names) * sizeof(*files));
	if (!nf) {
		r = -ENOMEM;
		goto out;
	}
	files = nf;
	defs_file_info *ni = realloc(info, (1 + n_names) * sizeof(*info));
	if (!ni) {
		r = -ENOMEM;
		goto out;
	}
	info = ni;
	for (size_t i = 0; i < n_names; i++) {
		defs_file *f = &files[n];
		defs_file_info *fi = &info[n];
		memset(f, 0, sizeof(*f));
		memset(fi, 0, sizeof(*fi));
		if (asprintf(&f->name, "orders.d/%s", names[i]) < 0) {
			f->name = NULL;
			r = -ENOMEM;
			goto out;
		}
		n++;
		struct stat st;
		if (known && fstatat(dirfd(od), names[i], &st, 0) == 0 && S_ISREG(st.st_mode)) {
			defs_id_of(&st, &fi->id);
			if (known(ud, f->name, &fi->id, &fi->hash)) {
				fi->unread = true;
				f->len = (size_t) st.st_size;
				continue;
			}
		}
		r = defs_read_file(dirfd(od), names[i], f->name, &f->data, &f->len, diags, &fi->id);
		if (r < 0)
			goto out;
		fi->hash = defs_hash64(f->data, f->len, 0);
	}
done:
	*ret_files = files;
	*ret_info = info;
	*ret_n = n;
	files = NULL;
	info = NULL;
out:
	if (r == -ENOMEM)
		diag_add(diags, dir, 0, 0, "out of memory");
	if (files)
		defs_files_free(files, n);
	free(info);
	for (size_t i = 0; i < n_names; i++)
		free(names[i]);
	free(names);
	if (od)
		closedir(od);
	close(dfd);
	return r;
}

int defs_load_with_api(const defs_file *files, size_t n, const defs_file *api, size_t na, const char *tzdir,
		       defs **ret, diag_list *diags) {
	defs_file *all = calloc(n + na + 1, sizeof(*all));
	if (!all)
		return -ENOMEM;
	if (n)
		memcpy(all, files, n * sizeof(*all));
	if (na)
		memcpy(all + n, api, na * sizeof(*all));
	int r = defs_load_files(all, n + na, tzdir, ret, diags);
	free(all);
	return r;
}

int defs_load(const char *dir, const char *tzdir, defs **ret, diag_list *diags) {
	defs_file *files = NULL;
	size_t n = 0;
	int r = defs_read_dir(dir, &files, &n, diags);
	if (r < 0)
		return r;
	r = defs_load_files(files, n, tzdir, ret, diags);
	defs_files_free(files, n);
	return r;
}

/* A path of the config made absolute against confdir. */
static int defs_abs_against(const char *confdir, char **p) {
	if (!*p || (*p)[0] == '/')
		return 0;
	char *a;
	if (asprintf(&a, "%s/%s", confdir, *p) < 0)
		return -ENOMEM;
	free(*p);
	*p = a;
	return 0;
}

int defs_config_load(const char *confdir, const char *tzdir, defs **ret, diag_list *diags) {
	if (!confdir || !ret)
		return -EINVAL;
	defs_file f = { .name = "standingd.yaml" };
	int dfd = open(confdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK);
	if (dfd < 0)
		return defs_read_error(diags, confdir, errno);
	int r = defs_read_file(dfd, "standingd.yaml", "standingd.yaml", &f.data, &f.len, diags, NULL);
	close(dfd);
	if (r < 0)
		return r;
	defs *d = NULL;
	r = defs_load_files(&f, 1, tzdir, &d, diags);
	free(f.data);
	if (r < 0)
		return r;
	if ((r = defs_abs_against(confdir, &d->config.mail.maildir)) < 0 ||
	    (r = defs_abs_against(confdir, &d->config.mail.credentials)) < 0) {
		defs_free(d);
		return r;
	}
	*ret = d;
	return 0;
}

int defs_order_from_tree(const defs *d, const ytree_node *n, standing_order *ret, diag_list *diags) {
	/* The config and the tz_db are borrowed from d: nothing here frees them. */
	defs_ctx c = { .diags = diags, .tz = d->tz, .cfg = d->config };
	int r = -EINVAL;
	defs_order_read(&c, n, 0);
	if (c.n_ord == 1 && !c.oom) {
		defs_order_ent *e = &c.ord[0];
		const customer *cu = e->customer_id ? defs_find_customer(d, e->customer_id) : NULL;
		defs_link_order(&c, e, cu);
		if (!c.errors)
			defs_check_rule(&c, e);
		if (!c.errors && !c.oom) {
			e->o.customer = cu;
			e->o.hash = defs_order_hash(&e->o);
			*ret = e->o;
			free(e->customer_id);
			free(c.ord);
			return 0;
		}
	}
	if (c.oom)
		r = -ENOMEM;
	for (size_t i = 0; i < c.n_ord; i++) {
		defs_order_done(&c.ord[i].o);
		free(c.ord[i].customer_id);
	}
	free(c.ord);
	return r;
}

int defs_order_items_from_tree(const ytree_node *ship_to, const ytree_node *lines, standing_order *ret,
			       diag_list *diags) {
	defs_ctx c = { .diags = diags, .file = "" };
	standing_order so = { 0 };
	so_bulk *b = defs_bulk_new(&so);
	if (!b)
		return -ENOMEM;
	defs_address(&c, ship_to, &b->ship_to);
	defs_lines(&c, lines, b);
	so.n_lines = defs_so_n_lines(b->n_lines);
	if (c.errors || c.oom) {
		defs_order_done(&so);
		return c.oom ? -ENOMEM : -EINVAL;
	}
	*ret = so;
	return 0;
}

/* ---- one file at a time (the incremental catalog, lib/sched/catalog) ---- */

static int defs_cust_idx_cmp(const void *a, const void *b, void *ud) {
	const customer *cv = ud;
	const customer *x = &cv[*(const size_t *) a], *y = &cv[*(const size_t *) b];
	return defs_cmp_ids(x->id, y->id);
}

/* The link's hash computed where the file is read (on the catalog's threads,
 * not on the one thread that links): each standing order linked as it will be
 * when its customer is in its own file (the usual case) or it has none, under
 * base's defaults. defs_unit_link takes the hash from here when its zone and
 * catch-up come out the same and computes it otherwise. */
static void defs_unit_prelink(const defs *base, defs_unit *u) {
	size_t *idx = malloc((u->n_customers ? u->n_customers : 1) * sizeof(*idx));
	if (!idx)
		return;   /* the link hashes them all */
	for (size_t i = 0; i < u->n_customers; i++)
		idx[i] = i;
	qsort_r(idx, u->n_customers, sizeof(*idx), defs_cust_idx_cmp, u->customers);
	for (size_t i = 0; i < u->n_orders; i++) {
		defs_unit_order *e = &u->orders[i];
		const customer *cu = NULL;
		size_t lo = 0, hi = u->n_customers;
		while (e->customer_id && lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			int c = defs_cmp_ids(u->customers[idx[mid]].id, e->customer_id);
			if (c == 0) {
				cu = &u->customers[idx[mid]];
				break;
			}
			if (c < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (e->customer_id && !cu)
			continue;   /* its customer is in another file: the link hashes it */
		standing_order so = e->o;
		if (!e->has_zone)
			so.rule.zone = cu ? cu->zone : base->config.zone;
		if (!e->has_catch_up)
			so.catch_up = base->config.catch_up;
		so.customer = cu;
		e->o.hash = defs_order_hash(&so);
		e->link_zone = so.rule.zone;
		e->link_catch_up = so.catch_up;
	}
	free(idx);
}

int defs_unit_read(const defs *base, const defs_file *f, defs_unit *ret) {
	/* The config and the tz_db are borrowed from base, as in defs_order_from_tree. */
	diag_list diags = { 0 };
	defs_ctx c = { .diags = &diags, .tz = base->tz, .cfg = base->config };
	size_t seq = 0;
	int r = 0;
	*ret = (defs_unit) { 0 };
	c.trees = calloc(1, sizeof(*c.trees));
	if (!c.trees)
		return -ENOMEM;
	defs_file_begin(&c, f);
	const ytree_node *root = defs_parse(&c, f);
	if (!c.errors && !c.oom)
		defs_orders_file(&c, root, &seq);
	if (c.oom)
		r = -ENOMEM;
	else if (c.errors)
		r = -EINVAL;
	else {
		customer *cv = calloc(c.n_cust ? c.n_cust : 1, sizeof(*cv));
		defs_unit_order *ov = calloc(c.n_ord ? c.n_ord : 1, sizeof(*ov));
		if (!cv || !ov) {
			free(cv);
			free(ov);
			r = -ENOMEM;
		} else {
			for (size_t i = 0; i < c.n_cust; i++)
				cv[i] = c.cust[i].c;
			for (size_t i = 0; i < c.n_ord; i++)
				ov[i] = (defs_unit_order) {
					.o = c.ord[i].o, .customer_id = c.ord[i].customer_id,
					.has_zone = c.ord[i].has_zone, .has_catch_up = c.ord[i].has_catch_up,
					.has_payment = c.ord[i].payment_node != NULL,
					.id_line = c.ord[i].id_node ? c.ord[i].id_node->line : 0,
					.id_col = c.ord[i].id_node ? c.ord[i].id_node->col : 0,
				};
			*ret = (defs_unit) { .customers = cv, .n_customers = c.n_cust, .orders = ov, .n_orders = c.n_ord };
			c.n_cust = c.n_ord = 0;   /* moved */
			defs_unit_prelink(base, ret);
		}
	}
	diag_list_clear(&diags);
	c.cfg = (defs_config) { 0 };
	c.tz = NULL;
	defs_ctx_done(&c);
	return r;
}

bool defs_unit_link(const defs *base, const defs_unit_order *e, const customer *cu, standing_order *ret) {
	const standing_order *so = &e->o;
	if (e->customer_id && !cu)
		return false;
	if (so->supplier && !defs_supplier_find(&base->config, so->supplier))
		return false;
	if (cu && e->has_payment && so->payment == ORDER_PAYMENT_ACCOUNT && !cu->account_number)
		return false;
	if (cu && so->payment == ORDER_PAYMENT_ACCOUNT && cu->credit_limit.currency[0] && so->bulk->n_lines &&
	    so->bulk->lines[0].unit_price.currency[0] &&
	    strcmp(so->bulk->lines[0].unit_price.currency, cu->credit_limit.currency))
		return false;   /* defs_link_order's error */
	*ret = *so;
	if (!e->has_zone)
		ret->rule.zone = cu ? cu->zone : base->config.zone;
	if (!e->has_catch_up)
		ret->catch_up = base->config.catch_up;
	ret->customer = cu;
	const char *why = NULL;
	if (rule_validate(&ret->rule, &why) < 0)
		return false;
	/* the customer's id is e's customer_id: the same hash when the defaults are */
	if (!so->hash || e->link_zone != ret->rule.zone || e->link_catch_up != ret->catch_up)
		ret->hash = defs_order_hash(ret);
	return true;
}

void defs_unit_done(defs_unit *u) {
	if (!u)
		return;
	if (u->arena) {
		/* unpacked: strings and arrays are the arena's, but for these */
		free(u->orders);
		defs_arena_free(u->arena);
		defs_arena_free(u->bulk);
		*u = (defs_unit) { 0 };
		return;
	}
	for (size_t i = 0; i < u->n_customers; i++)
		defs_customer_done(&u->customers[i]);
	free(u->customers);
	for (size_t i = 0; i < u->n_orders; i++) {
		defs_order_done(&u->orders[i].o);
		free(u->orders[i].customer_id);
	}
	free(u->orders);
	*u = (defs_unit) { 0 };
}

/* (file, position) order of definition over the whole set */
static bool defs_site_before(size_t fa, size_t pa, size_t fb, size_t pb) {
	return fa < fb || (fa == fb && pa < pb);
}

int defs_unit_errors(const defs *base, const defs_file *f, const defs_unit_lookup *lk, diag_list *diags) {
	diag_list mine = { 0 };
	defs_ctx c = { .diags = &mine, .tz = base->tz, .cfg = base->config };
	size_t seq = 0;
	int r = -EAGAIN;
	c.trees = calloc(1, sizeof(*c.trees));
	if (!c.trees)
		return -ENOMEM;
	/* the file's own errors, as in defs_load_files (no file before it had any) */
	defs_file_begin(&c, f);
	const ytree_node *root = defs_parse(&c, f);
	c.orders_unparsed = c.errors > 0;
	defs_orders_file(&c, root, &seq);
	defs_file_end(&c);
	if (c.oom) {
		r = -ENOMEM;
		goto out;
	}
	/* The customers must leave the other files as they were: no id of f's defined
	 * twice or elsewhere (a duplicate error, maybe another file's), and every
	 * customer f had before still there with or without an account as before
	 * (other files' standing orders use them). A file that did not parse hides its
	 * customers' absence (defs_link_order reports no unknown customer then). */
	if (c.n_cust)
		qsort(c.cust, c.n_cust, sizeof(*c.cust), defs_cust_cmp);
	for (size_t i = 0; i < c.n_cust; i++) {
		const char *id = c.cust[i].c.id;
		if (id && ((i > 0 && c.cust[i - 1].c.id && !strcmp(c.cust[i - 1].c.id, id)) || lk->customer(lk->ud, id)))
			goto out;
	}
	for (size_t i = 0; i < lk->n_old_customers && !c.orders_unparsed; i++) {
		const customer *o = &lk->old_customers[i];
		size_t k = defs_cust_find(&c, o->id);
		if (k == SIZE_MAX || !c.cust[k].c.account_number != !o->account_number)
			goto out;
	}
	c.file_errors = c.file_hidden = 0;
	if (c.n_ord)
		qsort(c.ord, c.n_ord, sizeof(*c.ord), defs_ord_cmp);
	for (size_t i = 0; i < c.n_ord; i++) {
		defs_order_ent *e = &c.ord[i];
		const char *id = e->o.id;
		c.file = e->file;
		/* this id's group: the file's entries (sorted by place) and at most one
		 * other file's; the first by place over the whole set is "first defined" */
		size_t first = i;
		while (first > 0 && id && c.ord[first - 1].o.id && !strcmp(c.ord[first - 1].o.id, id))
			first--;
		defs_unit_site out;
		bool has_out = id && lk->order(lk->ud, id, &out);
		bool out_first = has_out && defs_site_before(out.file_idx, out.pos, lk->file_idx, c.ord[first].seq);
		const char *ffile = out_first ? out.file : e->file;
		int fline = out_first ? out.line : (c.ord[first].id_node ? c.ord[first].id_node->line : 0);
		int fcol = out_first ? out.col : (c.ord[first].id_node ? c.ord[first].id_node->col : 0);
		if (has_out && !out_first && i == first) {
			/* the other file's definition comes later: the error is its, at its place */
			if (c.file_errors >= DEFS_MAX_FILE_ERRORS || c.errors >= DEFS_MAX_ERRORS) {
				c.file_hidden++;
				c.hidden++;
			} else {
				char path[64];
				snprintf(path, sizeof(path), "standing_orders[%zu].id", out.pos);
				c.file_errors++;
				c.errors++;
				diag_add(c.diags, out.line > 0 ? out.file : path, out.line, out.col,
					 "duplicate standing order id \"%s\" (first defined at %s:%d:%d)", id, ffile, fline,
					 fcol);
			}
		}
		if (id && (i != first || out_first))
			defs_err(&c, e->id_node, "duplicate standing order id \"%s\" (first defined at %s:%d:%d)", id, ffile,
				 fline, fcol);
		const customer *cu = NULL;
		if (e->customer_id) {
			size_t k = defs_cust_find(&c, e->customer_id);
			cu = k != SIZE_MAX ? &c.cust[k].c : lk->customer(lk->ud, e->customer_id);
		}
		defs_link_order(&c, e, cu);
	}
	/* the cap on cross-file errors is shared by every file: reached, which errors
	 * show depends on the order of the whole set's */
	if (c.file_hidden || c.errors >= DEFS_MAX_ERRORS)
		goto out;
	if (!c.errors)
		for (size_t i = 0; i < c.n_ord; i++)
			defs_check_rule(&c, &c.ord[i]);
	if (c.oom || (diags && diags->oom)) {
		r = -ENOMEM;
		goto out;
	}
	r = c.errors ? -EINVAL : 0;
	for (size_t i = 0; i < mine.n; i++)
		diag_add(diags, mine.v[i].file, mine.v[i].line, mine.v[i].col, "%s", mine.v[i].msg);
	diag_sort(diags);
out:
	diag_list_clear(&mine);
	c.cfg = (defs_config) { 0 };
	c.tz = NULL;
	defs_ctx_done(&c);
	return r;
}
