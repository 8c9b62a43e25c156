/* ytree: the document tree, and its YAML reader over libyaml's event API. The
 * reader keeps libyaml out of the validator: it only turns events into nodes
 * with positions, and libyaml's errors into one ytree_error (the one place
 * libyaml's error space is converted). Nodes and text live in an arena, so a
 * tree is freed in one sweep however it was built. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <yaml.h>
#include "lib/base/text.h"
#include "lib/defs/yamltree.h"

/* Definition files are a few hundred lines; these bounds keep a hostile or
 * broken file (deep nesting, alias bombs) from costing more than a few MiB. */
#define YTREE_MAX_DEPTH 64
#define YTREE_MAX_NODES (1u << 20)
#define YTREE_BLOCK 16384

typedef struct ytree_block {
	struct ytree_block *next;
	size_t used, size;
	_Alignas(max_align_t) unsigned char data[];
} ytree_block;

struct ytree {
	ytree_block *blocks;
	ytree_node *root;
	size_t n_nodes;
};

static void *ytree_alloc(ytree *t, size_t size) {
	size = (size + _Alignof(max_align_t) - 1) & ~(_Alignof(max_align_t) - 1);
	ytree_block *b = t->blocks;
	if (!b || b->size - b->used < size) {
		size_t bs = size > YTREE_BLOCK ? size : YTREE_BLOCK;
		b = malloc(sizeof(*b) + bs);
		if (!b)
			return NULL;
		b->size = bs;
		b->used = 0;
		/* a big one-off block goes behind the current one, which may still have room */
		if (bs > YTREE_BLOCK && t->blocks) {
			b->next = t->blocks->next;
			t->blocks->next = b;
		} else {
			b->next = t->blocks;
			t->blocks = b;
		}
	}
	void *p = b->data + b->used;
	b->used += size;
	return p;
}

ytree *ytree_new(void) {
	return calloc(1, sizeof(ytree));
}

void ytree_free(ytree *t) {
	if (!t)
		return;
	ytree_block *b = t->blocks;
	while (b) {
		ytree_block *next = b->next;
		free(b);
		b = next;
	}
	free(t);
}

ytree_node *ytree_new_node(ytree *t, ytree_kind kind, int line, int col) {
	ytree_node *n = ytree_alloc(t, sizeof(*n));
	if (!n)
		return NULL;
	memset(n, 0, sizeof(*n));
	n->kind = kind;
	n->line = line;
	n->col = col;
	t->n_nodes++;
	return n;
}

ytree_node *ytree_new_scalar(ytree *t, const char *text, size_t len, bool quoted, int line, int col) {
	ytree_node *n = ytree_new_node(t, YTREE_SCALAR, line, col);
	if (!n)
		return NULL;
	char *s = ytree_alloc(t, len + 1);
	if (!s)
		return NULL;
	if (len)
		memcpy(s, text, len);
	s[len] = '\0';
	n->text = s;
	n->len = len;
	n->quoted = quoted;
	return n;
}

void ytree_append(ytree_node *parent, ytree_node *key, ytree_node *child) {
	child->parent = parent;
	child->key = key;
	child->index = parent->n++;
	child->next = NULL;
	if (key)
		key->parent = parent;
	if (parent->last)
		parent->last->next = child;
	else
		parent->first = child;
	parent->last = child;
}

void ytree_set_root(ytree *t, ytree_node *root) {
	t->root = root;
}

ytree_node *ytree_root(const ytree *t) {
	return t->root;
}

ytree_node *ytree_get(const ytree_node *map, const char *key) {
	if (!map || map->kind != YTREE_MAPPING)
		return NULL;
	size_t len = strlen(key);
	for (ytree_node *v = map->first; v; v = v->next)
		if (v->key && v->key->len == len && memcmp(v->key->text, key, len) == 0)
			return v;
	return NULL;
}

bool ytree_is_null(const ytree_node *n) {
	if (!n || n->kind != YTREE_SCALAR || n->quoted)
		return false;
	return n->len == 0 || strcmp(n->text, "~") == 0 || strcmp(n->text, "null") == 0 ||
	       strcmp(n->text, "Null") == 0 || strcmp(n->text, "NULL") == 0;
}

int ytree_bool(const ytree_node *n, bool *ret) {
	if (!n || n->kind != YTREE_SCALAR || n->quoted)
		return -EINVAL;
	if (strcmp(n->text, "true") == 0 || strcmp(n->text, "True") == 0 || strcmp(n->text, "TRUE") == 0) {
		*ret = true;
		return 0;
	}
	if (strcmp(n->text, "false") == 0 || strcmp(n->text, "False") == 0 || strcmp(n->text, "FALSE") == 0) {
		*ret = false;
		return 0;
	}
	return -EINVAL;
}

int ytree_int64(const ytree_node *n, int64_t *ret) {
	if (!n || n->kind != YTREE_SCALAR || n->quoted || n->len == 0)
		return -EINVAL;
	const char *s = n->text;
	bool neg = false;
	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if (!*s)
		return -EINVAL;
	/* accumulate as a negative number so INT64_MIN is reachable */
	int64_t v = 0;
	bool range = false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		int d = *s - '0';
		if (v < (INT64_MIN + d) / 10)
			range = true;
		else
			v = v * 10 - d;
	}
	if ((size_t) (s - n->text) != n->len)
		return -EINVAL;   /* an embedded NUL */
	if (range || (!neg && v == INT64_MIN))
		return -ERANGE;
	*ret = neg ? v : -v;
	return 0;
}

/* Length of one path component of n (".key", "key" at the top, "[i]"). */
static size_t ytree_component(const ytree_node *n, char *out) {
	char num[32];
	if (n->key) {
		bool top = !n->parent->parent;
		if (out) {
			if (!top)
				*out++ = '.';
			memcpy(out, n->key->text, n->key->len);
		}
		return n->key->len + !top;
	}
	int k = snprintf(num, sizeof(num), "[%zu]", n->index);
	if (out)
		memcpy(out, num, (size_t) k);
	return (size_t) k;
}

size_t ytree_path(const ytree_node *n, char *buf, size_t size) {
	size_t total = 0;
	for (const ytree_node *p = n; p && p->parent; p = p->parent)
		total += ytree_component(p, NULL);
	if (size == 0)
		return total;
	/* Components come leaf first; write them from the end of a scratch copy. */
	char *tmp = malloc(total + 1);
	if (!tmp) {
		buf[0] = '\0';
		return total;
	}
	size_t end = total;
	for (const ytree_node *p = n; p && p->parent; p = p->parent) {
		size_t k = ytree_component(p, NULL);
		end -= k;
		ytree_component(p, tmp + end);
	}
	size_t k = total < size ? total : size - 1;
	memcpy(buf, tmp, k);
	buf[k] = '\0';
	free(tmp);
	return total;
}

/* ---- YAML reader ---- */

typedef struct ytree_anchor {
	char *name;
	ytree_node *node;
} ytree_anchor;

typedef struct ytree_reader {
	ytree *t;
	ytree_error *err;
	ytree_node *stack[YTREE_MAX_DEPTH + 1];
	ytree_node *pending_key[YTREE_MAX_DEPTH + 1];   /* mapping frames: key awaiting its value */
	size_t depth;
	ytree_anchor *anchors;
	size_t n_anchors, cap_anchors;
	int documents;
} ytree_reader;

static int ytree_fail(ytree_reader *r, int line, int col, const char *fmt, const char *arg) {
	r->err->line = line;
	r->err->col = col;
	snprintf(r->err->msg, sizeof(r->err->msg), fmt, arg);
	return -EINVAL;
}

static int ytree_fail_mark(ytree_reader *r, yaml_mark_t m, const char *msg) {
	return ytree_fail(r, (int) m.line + 1, (int) m.column + 1, "%s", msg);
}

/* Line and column (code points) of a byte offset, for errors that libyaml
 * reports as an offset (its reader errors) and for our own UTF-8 check. */
static void ytree_position(const char *data, size_t len, size_t off, int *line, int *col) {
	int l = 1, c = 1;
	if (off > len)
		off = len;
	for (size_t i = 0; i < off; i++) {
		unsigned char ch = (unsigned char) data[i];
		if (ch == '\n' || (ch == '\r' && (i + 1 >= len || data[i + 1] != '\n'))) {
			l++;
			c = 1;
		} else if ((ch & 0xC0) != 0x80 && ch != '\r') {
			c++;
		}
	}
	*line = l;
	*col = c;
}

static int ytree_add_anchor(ytree_reader *r, const char *name, ytree_node *n) {
	if (!name)
		return 0;
	if (r->n_anchors == r->cap_anchors) {
		size_t cap = r->cap_anchors ? 2 * r->cap_anchors : 8;
		ytree_anchor *a = realloc(r->anchors, cap * sizeof(*a));
		if (!a)
			return -ENOMEM;
		r->anchors = a;
		r->cap_anchors = cap;
	}
	size_t len = strlen(name);
	char *copy = ytree_alloc(r->t, len + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, name, len + 1);
	r->anchors[r->n_anchors++] = (ytree_anchor) { copy, n };
	return 0;
}

/* Copy of src to be placed at `depth`. Scalar text is shared: it is immutable
 * and owned by the same arena. */
static int ytree_copy(ytree_reader *r, const ytree_node *src, size_t depth, ytree_node **ret) {
	if (depth > YTREE_MAX_DEPTH)
		return ytree_fail(r, src->line, src->col, "%s", "nesting too deep");
	if (r->t->n_nodes >= YTREE_MAX_NODES)
		return ytree_fail(r, src->line, src->col, "%s", "document too large (too many nodes)");
	ytree_node *n = ytree_new_node(r->t, src->kind, src->line, src->col);
	if (!n)
		return -ENOMEM;
	n->quoted = src->quoted;
	n->text = src->text;
	n->len = src->len;
	for (const ytree_node *c = src->first; c; c = c->next) {
		ytree_node *cc, *kc = NULL;
		int rc = ytree_copy(r, c, depth + 1, &cc);
		if (rc < 0)
			return rc;
		if (c->key) {
			rc = ytree_copy(r, c->key, depth + 1, &kc);
			if (rc < 0)
				return rc;
		}
		ytree_append(n, kc, cc);
	}
	*ret = n;
	return 0;
}

/* Place a finished (scalar, alias copy) or just opened (collection) node. */
static int ytree_place(ytree_reader *r, ytree_node *n, yaml_mark_t m) {
	if (r->depth == 0) {
		r->t->root = n;
		return 0;
	}
	ytree_node *top = r->stack[r->depth - 1];
	if (top->kind == YTREE_SEQUENCE) {
		ytree_append(top, NULL, n);
		return 0;
	}
	ytree_node **key = &r->pending_key[r->depth - 1];
	if (!*key) {
		if (n->kind != YTREE_SCALAR)
			return ytree_fail_mark(r, m, "a mapping key must be a scalar");
		*key = n;
		return 0;
	}
	ytree_append(top, *key, n);
	*key = NULL;
	return 0;
}

static int ytree_on_event(ytree_reader *r, const yaml_event_t *e) {
	yaml_mark_t m = e->start_mark;
	int line = (int) m.line + 1, col = (int) m.column + 1;
	ytree_node *n;
	int rc;

	if (r->t->n_nodes >= YTREE_MAX_NODES)
		return ytree_fail_mark(r, m, "document too large (too many nodes)");
	switch (e->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (++r->documents > 1)
			return ytree_fail_mark(r, m, "expected a single document, not several");
		return 0;
	case YAML_SCALAR_EVENT: {
		/* An explicit !!str makes a plain scalar a string, as quoting would. */
		bool str = e->data.scalar.tag &&
			   strcmp((const char *) e->data.scalar.tag, YAML_STR_TAG) == 0;
		n = ytree_new_scalar(r->t, (const char *) e->data.scalar.value, e->data.scalar.length,
				     e->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || str, line, col);
		if (!n)
			return -ENOMEM;
		rc = ytree_add_anchor(r, (const char *) e->data.scalar.anchor, n);
		if (rc < 0)
			return rc;
		return ytree_place(r, n, m);
	}
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT: {
		if (r->depth >= YTREE_MAX_DEPTH)
			return ytree_fail_mark(r, m, "nesting too deep");
		bool seq = e->type == YAML_SEQUENCE_START_EVENT;
		n = ytree_new_node(r->t, seq ? YTREE_SEQUENCE : YTREE_MAPPING, line, col);
		if (!n)
			return -ENOMEM;
		const yaml_char_t *anchor = seq ? e->data.sequence_start.anchor : e->data.mapping_start.anchor;
		rc = ytree_add_anchor(r, (const char *) anchor, n);
		if (rc < 0)
			return rc;
		rc = ytree_place(r, n, m);
		if (rc < 0)
			return rc;
		r->stack[r->depth] = n;
		r->pending_key[r->depth] = NULL;
		r->depth++;
		return 0;
	}
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		if (r->depth > 0)
			r->depth--;
		return 0;
	case YAML_ALIAS_EVENT: {
		const char *name = (const char *) e->data.alias.anchor;
		ytree_node *target = NULL;
		/* the latest definition of a name wins */
		for (size_t i = r->n_anchors; i-- > 0;)
			if (strcmp(r->anchors[i].name, name) == 0) {
				target = r->anchors[i].node;
				break;
			}
		if (!target)
			return ytree_fail(r, line, col, "unknown alias \"%s\"", name);
		for (size_t i = 0; i < r->depth; i++)
			if (r->stack[i] == target)
				return ytree_fail(r, line, col, "alias \"%s\" refers to a node that contains it", name);
		rc = ytree_copy(r, target, r->depth, &n);
		if (rc < 0)
			return rc;
		return ytree_place(r, n, m);
	}
	default:
		return 0;
	}
}

int ytree_parse_yaml(const char *data, size_t len, ytree **ret, ytree_error *err) {
	ytree_reader r = { .err = err };
	yaml_parser_t p;
	yaml_event_t e;
	int rc = 0;

	err->line = err->col = 0;
	err->msg[0] = '\0';
	if (!data)
		data = "";   /* libyaml asserts on a NULL input even when empty */
	/* libyaml would name the byte but not the line; check first for a position */
	size_t bad = text_utf8_prefix(data, len);
	if (bad < len) {
		ytree_position(data, len, bad, &err->line, &err->col);
		snprintf(err->msg, sizeof(err->msg), "invalid UTF-8");
		return -EINVAL;
	}
	r.t = ytree_new();
	if (!r.t)
		return -ENOMEM;
	if (!yaml_parser_initialize(&p)) {
		ytree_free(r.t);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *) data, len);
	for (;;) {
		if (!yaml_parser_parse(&p, &e)) {
			switch (p.error) {
			case YAML_MEMORY_ERROR:
				rc = -ENOMEM;
				break;
			case YAML_READER_ERROR:
				ytree_position(data, len, p.problem_offset, &err->line, &err->col);
				snprintf(err->msg, sizeof(err->msg), "%s", p.problem ? p.problem : "cannot read");
				rc = -EINVAL;
				break;
			default:
				rc = ytree_fail_mark(&r, p.problem_mark, p.problem ? p.problem : "syntax error");
				break;
			}
			break;
		}
		bool end = e.type == YAML_STREAM_END_EVENT;
		rc = ytree_on_event(&r, &e);
		yaml_event_delete(&e);
		if (rc < 0 || end)
			break;
	}
	yaml_parser_delete(&p);
	free(r.anchors);
	if (rc < 0) {
		ytree_free(r.t);
		return rc;
	}
	*ret = r.t;
	return 0;
}

/* ---- JSON ---- */

static ytree_node *json_to_node(ytree *t, json_t *j, int depth) {
	char num[64];
	if (depth > 64)
		return NULL;
	switch (json_typeof(j)) {
	case JSON_OBJECT: {
		ytree_node *m = ytree_new_node(t, YTREE_MAPPING, 0, 0);
		const char *k;
		json_t *v;
		if (!m)
			return NULL;
		json_object_foreach(j, k, v) {
			ytree_node *key = ytree_new_scalar(t, k, strlen(k), true, 0, 0);
			ytree_node *val = json_to_node(t, v, depth + 1);
			if (!key || !val)
				return NULL;
			ytree_append(m, key, val);
		}
		return m;
	}
	case JSON_ARRAY: {
		ytree_node *s = ytree_new_node(t, YTREE_SEQUENCE, 0, 0);
		size_t i;
		json_t *v;
		if (!s)
			return NULL;
		json_array_foreach(j, i, v) {
			ytree_node *item = json_to_node(t, v, depth + 1);
			if (!item)
				return NULL;
			ytree_append(s, NULL, item);
		}
		return s;
	}
	case JSON_STRING:
		return ytree_new_scalar(t, json_string_value(j), json_string_length(j), true, 0, 0);
	case JSON_INTEGER:
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(j));
		return ytree_new_scalar(t, num, strlen(num), false, 0, 0);
	case JSON_REAL:
		/* Kept as written would be better; %.17g is exact enough to be rejected
		 * with a clear message where an integer or a money string is expected. */
		snprintf(num, sizeof(num), "%.17g", json_real_value(j));
		return ytree_new_scalar(t, num, strlen(num), false, 0, 0);
	case JSON_TRUE:
		return ytree_new_scalar(t, "true", 4, false, 0, 0);
	case JSON_FALSE:
		return ytree_new_scalar(t, "false", 5, false, 0, 0);
	case JSON_NULL:
		return ytree_new_scalar(t, "null", 4, false, 0, 0);
	}
	return NULL;
}

int ytree_parse_json(const char *data, size_t len, ytree **ret, ytree_error *err) {
	json_error_t je;
	json_t *j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
	if (!j) {
		err->line = je.line > 0 ? je.line : 0;
		err->col = je.column > 0 ? je.column : 0;
		snprintf(err->msg, sizeof(err->msg), "%s", je.text);
		return -EINVAL;
	}
	ytree *t = ytree_new();
	if (!t) {
		json_decref(j);
		return -ENOMEM;
	}
	ytree_node *root = json_to_node(t, j, 0);
	json_decref(j);
	if (!root) {
		ytree_free(t);
		err->line = err->col = 0;
		snprintf(err->msg, sizeof(err->msg), "nested too deeply");
		return -EINVAL;
	}
	ytree_set_root(t, root);
	*ret = t;
	return 0;
}
