/* ytree: a small generic document tree (scalars, sequences, mappings) that the
 * definitions validator walks. Built from YAML (libyaml events) here, and from
 * JSON for the socket API, so validation never sees a parser's events. A node
 * knows where it came from: 1-based line and column for YAML, or nothing
 * (line 0) for JSON, where ytree_path() names it as "lines[0].unit_price".
 * A ytree owns all its nodes and text (one arena); nodes live as long as it. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum ytree_kind { YTREE_SCALAR, YTREE_SEQUENCE, YTREE_MAPPING } ytree_kind;

typedef struct ytree_node ytree_node;
struct ytree_node {
	ytree_kind kind;
	/* Scalars: a quoted scalar (or a JSON string) is always a string; a plain
	 * one may also read as an integer, a boolean or null. */
	bool quoted;
	int line, col;         /* 1-based; 0 when the source has no positions */
	char *text;            /* scalar text, NUL-terminated (it may hold NULs: see len) */
	size_t len;
	ytree_node *parent;
	ytree_node *key;       /* in a mapping: the key scalar of this value */
	size_t index;          /* position in the parent sequence or mapping */
	ytree_node *first;     /* children: sequence items, or mapping values (with ->key) */
	ytree_node *last;
	ytree_node *next;
	size_t n;              /* number of children */
};

typedef struct ytree ytree;

/* Where a document could not be parsed, in the same terms as a diag. */
typedef struct ytree_error {
	int line, col;         /* 1-based; 0 when unknown */
	char msg[160];
} ytree_error;

/* Parse one YAML document (UTF-8; data need not be NUL-terminated). An empty
 * document gives a tree whose root is NULL. Anchors and aliases are expanded
 * (copies of the anchored node, positions of the original); merge keys are not
 * special. 0, -EINVAL with *err filled (syntax, invalid UTF-8, more than one
 * document, too deep or too large), or -ENOMEM. */
int ytree_parse_yaml(const char *data, size_t len, ytree **ret, ytree_error *err);

/* Building a tree by hand (the JSON reader, tests). Nodes come from the tree's
 * arena; NULL only when out of memory. */
ytree *ytree_new(void);
ytree_node *ytree_new_node(ytree *t, ytree_kind kind, int line, int col);
ytree_node *ytree_new_scalar(ytree *t, const char *text, size_t len, bool quoted, int line, int col);
/* Append child to a sequence (key NULL) or a mapping (key a scalar). */
void ytree_append(ytree_node *parent, ytree_node *key, ytree_node *child);
void ytree_set_root(ytree *t, ytree_node *root);
ytree_node *ytree_root(const ytree *t);
void ytree_free(ytree *t);

/* The value of the first pair with this key in a mapping, or NULL. */
ytree_node *ytree_get(const ytree_node *map, const char *key);
/* Scalar readings. A plain scalar "~", "null", "Null", "NULL" or "" is null;
 * booleans are plain true/false (also True, TRUE, False, FALSE); integers are
 * plain decimal with an optional sign. -EINVAL when the node is not that,
 * -ERANGE when an integer does not fit. */
bool ytree_is_null(const ytree_node *n);
int ytree_bool(const ytree_node *n, bool *ret);
int ytree_int64(const ytree_node *n, int64_t *ret);
/* A field path from the root: "standing_orders[2].lines[0].unit_price" ("" for
 * the root). Truncated to size; returns the length it needed, like snprintf. */
size_t ytree_path(const ytree_node *n, char *buf, size_t size);

/* Parse one JSON document (the socket API's definitions) into a tree without
 * positions: strings become quoted scalars, numbers, booleans and null plain ones,
 * so that the validator reads them exactly as it reads YAML. 0, -EINVAL with *err
 * (jansson's message), or -ENOMEM. */
int ytree_parse_json(const char *data, size_t len, ytree **ret, ytree_error *err);
