/* defs: the validated definitions: daemon config (standingd.yaml), customers and
 * standing orders (orders.d/NAME.yaml). Loading never applies a partly valid set:
 * defs_load() returns a complete defs or fills a diag list with every error of
 * every file (FILE:LINE:COL relative to the config dir). A defs owns all its
 * strings, rules and the tz_db that the rules' zones point into. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "lib/base/diag.h"
#include "lib/base/money.h"
#include "lib/model/order.h"
#include "lib/time/rule.h"
#include "lib/time/tz.h"
#include "lib/defs/yamltree.h"

typedef enum catch_up { CATCH_UP_ALL, CATCH_UP_LATEST, CATCH_UP_NONE } catch_up;

typedef struct contact { char *name, *role, *email, *phone; } contact;

typedef struct customer {
	char *id, *name;
	char language[3];         /* en fi lv nb vi; default en */
	const tz_zone *zone;      /* the customer's, else the config default */
	char *salesperson;        /* may be NULL */
	char *account_number;     /* may be NULL */
	money credit_limit;       /* minor 0 and empty currency when absent */
	int32_t vat_rate;         /* `vat: "25.5%"`: thousandths of a percent; 0 when absent */
	int64_t payment_due;      /* `payment_due:` seconds; 0: the config's */
	int64_t cancel_unpaid_after; /* `cancel_unpaid_after:` seconds; 0: the config's */
	contact *contacts;
	size_t n_contacts;
	char *file; int line;     /* where it was defined */
} customer;

typedef enum reminder_kind { REMIND_BEFORE, REMIND_AFTER_SHIPPED } reminder_kind;
typedef struct reminder {
	reminder_kind kind;
	int64_t offset;           /* seconds */
	char *task;               /* text with {contact} {customer} {delivery_date} {order} ... */
	char *assignee;           /* NULL: the customer's salesperson */
} reminder;

/* A standing order's bulk: what the loop never reads (ship_to, lines, reminders,
 * placed_by, file). A resident standing order's lives with it (its unit's arena,
 * or malloc'd with it by the definitions' parser: defs_order_done frees it); a
 * thin one's is its file's, shared, with file alone, and the rest is read from
 * its compiled record (lib/defs/pack.h, defs_bulk_unpack) when an order is made,
 * a reminder task written or a reply built. file: "orders.d/acme.yaml" (NULL for
 * the record's reader, and for none); line: the standing order's, of its `- id:`
 * item (0 in a thin one's shared bulk: read its full bulk, sales_so_full). */
typedef struct so_bulk {
	order_address ship_to;
	order_line *lines;
	size_t n_lines;
	reminder *reminders;
	char *placed_by;
	const char *file;
	uint32_t n_reminders;
	int line;                 /* of the standing order's `- id:` item */
	/* The catalog's tag (lib/sched/catalog.c; 0 elsewhere), so that it keeps no
	 * owner per standing order: owner, the slot of the catalog's file whose unit
	 * holds this bulk (a thin file's shared one too); pos, the standing order's
	 * place in that unit (a resident one's; a thin one's is stored - 1). */
	uint32_t owner, pos;
} so_bulk;
/* 96 bytes, as before the tag (n_reminders was a size_t). */
_Static_assert(sizeof(so_bulk) == 96, "struct so_bulk: the catalog's tag fills what was padding");

/* The bulk of none: everything empty. */
extern const so_bulk defs_so_bulk_none;

/* A rule's fields as the compiled records (pack) and the definitions' hash write
 * them: as when they were apart and 64 bits, so that neither changed with the
 * smaller rule: start_day RULE_NO_DAY as INT64_MIN, and the other kind's fields
 * (the cron ones and the others share storage) as the parser left them then
 * (interval 1, the rest 0). */
typedef struct defs_rule_wire {
	uint32_t interval;
	int64_t start_day;
	uint8_t on_mask;
	int8_t day, nth, weekday;
	cron_expr cron;
} defs_rule_wire;
void defs_rule_wire_of(const rule *r, defs_rule_wire *ret);

typedef struct standing_order {
	char *id;
	const customer *customer;
	char *supplier;           /* supplier id from standingd.yaml */
	/* ship_to, lines, reminders, placed_by, file; never NULL (thin: its file's,
	 * holding only the file's name). placed_by: who placed it first through the
	 * API, "shop:USER" or "ops:USER" (the API file's "placed_by"); NULL for the
	 * files and for API orders stored before it was recorded (treated as ops');
	 * not part of the hash. Its line: bulk->line (a full one's). */
	const so_bulk *bulk;
	uint64_t hash;            /* of the canonical definition, to see what changed */
	rule rule;                /* schedule, incl. zone, lead_time, paused */
	/* Thin (issue 12): 0 when all of it is here (resident); else its bulk is left
	 * to its file's compiled record, at standing_orders[stored - 1] of the record
	 * of bulk->file (sales_so_full reads it). */
	uint32_t stored;
	/* bulk->n_lines up to UINT16_MAX (saturated: bulk->n_lines is the count;
	 * the engine weighs a batch by the orders it made, the record keeps the
	 * bulk's), kept when thin */
	uint16_t n_lines;
	uint8_t payment;          /* order_payment */
	uint8_t catch_up;         /* catch_up: the schedule's, else the config default */
} standing_order;
/* One per standing order in memory (issue 12): 4 pointers, the hash, the rule (48),
 * 8 bytes, no padding; it was 224 bytes with the bulk's fields inline, 104 with
 * its line here and n_lines in 32 bits. */
_Static_assert(sizeof(standing_order) == 96, "struct standing_order: one per standing order in memory");

/* standing_order.n_lines of a bulk of n lines: n up to UINT16_MAX. */
static inline uint16_t defs_so_n_lines(size_t n) {
	return n < UINT16_MAX ? (uint16_t) n : UINT16_MAX;
}

/* *ret: so with its bulk b (ret may be so): the full standing order the order
 * makers, the CRM and the list writers take; b must outlive it (it points into b
 * and b's strings). */
void defs_so_full(const standing_order *so, const so_bulk *b, standing_order *ret);

/* `salespeople:` in standingd.yaml (doc/crm.md). */
typedef struct salesperson {
	char *id, *name, *email;
	char language[3];         /* en fi lv nb vi; default en */
	char **users;             /* Unix users with the sales role as this salesperson */
	size_t n_users;
} salesperson;

typedef struct supplier {
	char *id, *name;
	char **users;
	size_t n_users;
} supplier;

/* carriers: in standingd.yaml (doc/notify.md): tracking_url is an http(s) URL with
 * "{tracking}" exactly once. */
typedef struct defs_carrier { char *id, *name, *tracking_url; } defs_carrier;

typedef enum defs_mail_via { DEFS_MAIL_NONE, DEFS_MAIL_SMTP, DEFS_MAIL_SENDMAIL, DEFS_MAIL_MAILDIR } defs_mail_via;

/* mail: in standingd.yaml, read by standingd-mail (via DEFS_MAIL_NONE: no mail: key). */
typedef struct defs_mail {
	defs_mail_via via;
	char *from;               /* as written: "addr@domain" or "Name <addr@domain>" */
	char *from_addr;          /* the address alone */
	char *from_name;          /* the display name, NULL when none */
	char *smtp;               /* smtp://host[:port] or smtps://host[:port] */
	bool starttls;            /* smtp only */
	char *credentials;        /* smtp only: a file; NULL when none */
	char *sendmail;           /* absolute path */
	char *maildir;            /* as written (relative: to the config dir; defs_config_load makes it absolute) */
} defs_mail;

typedef struct defs_config {
	char *state_dir;          /* NULL when absent (--state names it) */
	char *socket;             /* default STANDINGD_SOCKET_DEFAULT (config.h) */
	const tz_zone *zone;      /* default zone, default UTC */
	catch_up catch_up;        /* default all */
	uint32_t max_catch_up;    /* default 100 */
	uint32_t max_connections; /* socket clients at once, default 128 */
	uint32_t max_connections_per_user; /* of one Unix user (ops exempt); 0: a quarter of max_connections */
	uint64_t max_reply_queue;       /* reply bytes held for one client, default 16 MiB */
	uint64_t max_reply_queue_total; /* for all clients, default 256 MiB, >= max_reply_queue */
	int64_t idle_timeout;     /* seconds a client may stay silent, default 60 */
	uint64_t max_store_size;  /* bytes the store's map may grow to; 0: the store's default */
	char **notify_argv;       /* NULL-terminated; NULL when notify_command is absent */
	size_t notify_argc;       /* 0 when absent, else >= 1 */
	uint32_t notify_parallel; /* batches in flight at once, 1..16, default 1 */
	int64_t notify_timeout;   /* seconds one batch may run (real time), default 60 */
	uint32_t notify_max_attempts; /* attempts before an event is parked, default 20 */
	defs_carrier *carriers;
	size_t n_carriers;
	defs_mail mail;
	char *ops_group;          /* may be NULL */
	int64_t payment_due;      /* prepaid: seconds after creation until order.payment_overdue, default 3 days */
	int64_t cancel_unpaid_after; /* prepaid: seconds after creation until cancelled unpaid, default 14 days */
	char **shop_users;
	size_t n_shop_users;
	salesperson *salespeople; /* in file order */
	size_t n_salespeople;
	supplier *suppliers;
	size_t n_suppliers;
} defs_config;

typedef struct defs {
	defs_config config;
	customer *customers;      /* sorted by id */
	size_t n_customers;
	standing_order *orders;   /* sorted by id */
	size_t n_orders;
	tz_db *tz;
} defs;

/* What stat says of a file, to tell without reading it whether it changed since:
 * size, mtime and ctime (ns), inode and device; seen: the wall clock (ns) when it
 * was taken (a ctime within a second of it is not trusted: "racy"). */
typedef struct defs_file_id {
	uint64_t size, ino, dev;
	int64_t mtime_ns, ctime_ns, seen_ns;
} defs_file_id;

/* One definition file in memory: name relative to the config dir
 * ("standingd.yaml", "orders.d/acme.yaml"); data need not be NUL-terminated. */
typedef struct defs_file {
	char *name;
	char *data;               /* NULL (with len set) when it was not read: see unread */
	size_t len;
} defs_file;

/* What defs_read_dir_known says of each file beside its defs_file: its identity
 * when it was read or looked at (stat) and defs_hash64 of its bytes
 * (lib/defs/pack.h). unread: the file was not read (its defs_file's data is NULL,
 * len is its size), its identity matched what known() said and hash is known's.
 * packed: the file's compiled unit (defs_unit_pack), which catalog_stage_known
 * unpacks instead of reading the YAML; borrowed, set by the caller. */
typedef struct defs_file_info {
	defs_file_id id;
	uint64_t hash;
	bool unread;
	const void *packed;
	size_t packed_len;
} defs_file_info;

/* Read DIR/standingd.yaml and DIR/orders.d/\*.yaml (sorted by name; files not
 * ending in .yaml or .yml are ignored) into memory. files[0] is standingd.yaml.
 * Never blocks on a FIFO or device: only regular files of at most 16 MiB are read.
 * 0; -EINVAL with a diag naming the file relative to DIR ("orders.d/x.yaml: not a
 * regular file"): an unreadable file makes the set invalid; or -ENOMEM. */
int defs_read_dir(const char *dir, defs_file **ret_files, size_t *ret_n, diag_list *diags);
/* defs_read_dir, with each file's identity and content hash in *ret_info (a
 * parallel array, free()); an orders file whose identity known() recognises (it
 * returns true and fills *ret_hash, the hash of the bytes it knew) is not read:
 * unread, data NULL, len its size. known NULL: every file is read. standingd.yaml
 * is always read. */
typedef bool (*defs_known_fn)(void *ud, const char *name, const defs_file_id *id, uint64_t *ret_hash);
int defs_read_dir_known(const char *dir, defs_known_fn known, void *ud, defs_file **ret_files,
			defs_file_info **ret_info, size_t *ret_n, diag_list *diags);
/* Whether id (taken now) is the same file as was (taken earlier) and was not
 * racy: same size, times, inode and device, and was's ctime more than a second
 * before was's seen. */
bool defs_file_id_same(const defs_file_id *was, const defs_file_id *id);
/* One file read as defs_read_dir reads it (name relative to dir), with its
 * identity and hash. 0, -EINVAL with a diag, -ENOMEM. */
int defs_read_one(const char *dir, const char *name, defs_file *ret, defs_file_info *ret_info, diag_list *diags);
void defs_files_free(defs_file *files, size_t n);
/* A deep copy of files[0..n) (each data NUL-terminated) with one spare zeroed entry
 * at the end. 0 or -ENOMEM. */
int defs_files_dup(const defs_file *files, size_t n, defs_file **ret);
/* The API's files ("api/ID.json") with the one of id replaced by json, added, or
 * removed (json NULL), as a new array. 0 or -ENOMEM. */
int defs_api_files_with(const defs_file *api, size_t n, const char *id, const char *json,
			defs_file **ret, size_t *ret_n);
/* Validate and compile a complete set. files[0] must be standingd.yaml. tzdir
 * NULL = system default. 0 and *ret, or -EINVAL with every error of every file in
 * diags (sorted). The daemon keeps the bytes of the last good set in LMDB and
 * loads them with this same function. */
int defs_load_files(const defs_file *files, size_t n, const char *tzdir, defs **ret, diag_list *diags);
/* The set the daemon runs: the YAML files followed by the standing orders placed
 * through the API ("api/ID.json"), validated as one (the arrays are only read). */
int defs_load_with_api(const defs_file *files, size_t n, const defs_file *api, size_t na, const char *tzdir,
		       defs **ret, diag_list *diags);
/* defs_read_dir + defs_load_files. */
int defs_load(const char *dir, const char *tzdir, defs **ret, diag_list *diags);
void defs_free(defs *d);
const standing_order *defs_find_order(const defs *d, const char *id);
const customer *defs_find_customer(const defs *d, const char *id);
const supplier *defs_find_supplier(const defs *d, const char *id);
const salesperson *defs_find_salesperson(const defs_config *cf, const char *id);   /* NULL when none */
const defs_carrier *defs_find_carrier(const defs_config *cf, const char *id);   /* NULL when none */

/* CONFDIR/standingd.yaml alone, read and validated as defs_load does (orders.d is
 * not read): for standingd-mail, which runs once per batch. A relative mail.maildir
 * or mail.credentials is made absolute against confdir. 0 and *ret (a defs with
 * only its config: no customers, no standing orders; free with defs_free), -EINVAL
 * with diags ("standingd.yaml:LINE:COL: ..."), -ENOMEM. */
int defs_config_load(const char *confdir, const char *tzdir, defs **ret, diag_list *diags);

/* One standing order given as a tree (the socket API's JSON) checked against d:
 * its customer and supplier must exist there, zone and catch_up default as in
 * the files. Errors name the field by position, or by path ("lines[0].sku")
 * when the tree has none. Whether the id is new is the caller's question.
 * 0 and *ret (free with defs_order_done(); ret->customer points into d), or
 * -EINVAL with diags, or -ENOMEM. */
int defs_order_from_tree(const defs *d, const ytree_node *n, standing_order *ret, diag_list *diags);
/* The ship_to and lines of a one-time order (the socket API's PlaceOrder), read
 * and checked exactly as a standing order's; both nodes must be non-NULL. Errors
 * name the field by its path ("ship_to.country", "lines[0].quantity"). 0 with
 * ret's bulk (ship_to, lines) and n_lines set (free with defs_order_done()), -EINVAL with
 * diags, or -ENOMEM. */
int defs_order_items_from_tree(const ytree_node *ship_to, const ytree_node *lines, standing_order *ret,
			       diag_list *diags);
/* Frees what a standing order owns (not the struct). NULL is fine. */
void defs_order_done(standing_order *so);

/* One orders file (YAML or an API file) read on its own, for the incremental
 * catalog (lib/sched/catalog): nothing across files is checked or linked. */
typedef struct defs_unit_order {
	standing_order o;         /* customer NULL, zone/catch_up defaults not applied, hash 0 */
	char *customer_id;
	bool has_zone, has_catch_up, has_payment;
	int id_line, id_col;      /* of the id's value (0 in an API file) */
	/* The last link's result, kept in the compiled set: o.hash is the linked
	 * standing order's hash when it was linked with this zone and catch-up (the
	 * defaults it took), so that linking again the same way need not hash it. */
	const tz_zone *link_zone;
	catch_up link_catch_up;
} defs_unit_order;

typedef struct defs_unit {
	customer *customers;      /* in file order */
	size_t n_customers;
	/* In file order; NULL once thinned (defs_unit_thin: the running set holds the
	 * standing orders, and what else a file said of one, where its id is and which
	 * defaults linking it takes, is read again from the file when needed). */
	defs_unit_order *orders;
	size_t n_orders;
	bool thin;
	/* An unpacked unit (lib/defs/pack.h): everything above lives in this arena
	 * (strings shared), freed as a whole by defs_unit_done. NULL: malloc'd each. */
	struct defs_arena *arena;
	/* An unpacked unit's bulk (each so_bulk with its ship_to, lines, placed_by)
	 * of its standing orders without reminders, apart: the running set drops it
	 * (defs_unit_bulk_free) once those standing orders read it from the stored
	 * record. */
	struct defs_arena *bulk;
} defs_unit;

/* Reads f as defs_load_files reads an orders file, under base's config and
 * tz_db (both borrowed: base must outlive the unit). 0 and *ret; -EINVAL when the
 * file has errors of its own (no diags: a full validation reports them, with the
 * error caps that depend on the whole set); or -ENOMEM. */
int defs_unit_read(const defs *base, const defs_file *f, defs_unit *ret);
/* The cross-file checks and defaults of one standing order, as defs_load_files
 * applies them to a set without errors: cu is its customer (NULL when the id
 * names none). true and *ret (a shallow copy of e->o, linked, hashed; its
 * strings stay owned by the unit), or false when the full validation would
 * report an error for it. */
bool defs_unit_link(const defs *base, const defs_unit_order *e, const customer *cu, standing_order *ret);
void defs_unit_done(defs_unit *u);

/* Where a standing order of another file is defined, for "first defined at". */
typedef struct defs_unit_site {
	const char *file;         /* its file's name */
	int line, col;            /* of its id (0 in an API file: no positions) */
	size_t file_idx;          /* its file's place in the whole set (the YAML files, then the API's) */
	size_t pos;               /* its place in its file (standing_orders[pos]) */
} defs_unit_site;

typedef struct defs_unit_lookup {
	/* The standing order with this id in the other files of the set, if any. */
	bool (*order)(void *ud, const char *id, defs_unit_site *ret);
	/* The customer with this id in the other files, NULL if none. */
	const customer *(*customer)(void *ud, const char *id);
	void *ud;
	size_t file_idx;          /* f's place in the whole set */
	const customer *old_customers;   /* those of f's version in the running set */
	size_t n_old_customers;
} defs_unit_lookup;

/* The errors a full validation (defs_load_files) reports for a set whose other
 * files are valid together and unchanged, and f changed (added or replaced; the
 * lookups see the other files only): f's own errors and the cross-file ones of
 * its standing orders (a duplicate id, in f or in the other file, unknown
 * customer or supplier, account, schedule), with the same texts, positions and
 * caps, added to diags (sorted). -EINVAL with diags; 0: none (f fits); -EAGAIN:
 * the errors would reach other files through customers (one of f's defined twice
 * or elsewhere, one f had dropped or its account changed) or the shared cap on
 * cross-file errors was reached: validate the whole set; -ENOMEM. */
int defs_unit_errors(const defs *base, const defs_file *f, const defs_unit_lookup *lk, diag_list *diags);
