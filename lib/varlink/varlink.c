/* varlink: message framing, call validation, reply encoding and dispatch; the rules a
 * client sees are listed in varlink.h. No I/O here: the daemon feeds bytes in and
 * writes out what the send callback receives. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "lib/varlink/varlink.h"

/* The description every Varlink service serves for org.varlink.service, written from
 * the method and error list of the specification. */
static const char service_idl[] =
	"# The interface every Varlink service implements: what the service is and\n"
	"# which interfaces it offers.\n"
	"interface org.varlink.service\n"
	"\n"
	"# Describes the service and lists the interfaces it implements.\n"
	"method GetInfo() -> (\n"
	"  vendor: string,\n"
	"  product: string,\n"
	"  version: string,\n"
	"  url: string,\n"
	"  interfaces: []string\n"
	")\n"
	"\n"
	"# Returns the interface definition text of one implemented interface.\n"
	"method GetInterfaceDescription(interface: string) -> (description: string)\n"
	"\n"
	"# The service does not implement the requested interface.\n"
	"error InterfaceNotFound (interface: string)\n"
	"\n"
	"# The interface has no method of the requested name.\n"
	"error MethodNotFound (method: string)\n"
	"\n"
	"# The interface defines the method, but this service does not implement it.\n"
	"error MethodNotImplemented (method: string)\n"
	"\n"
	"# A parameter of the call is missing, of the wrong type, or has a bad value.\n"
	"error InvalidParameter (parameter: string)\n"
	"\n"
	"# The caller may not call this method.\n"
	"error PermissionDenied ()\n"
	"\n"
	"# The method streams its replies and must be called with \"more\" set.\n"
	"error ExpectedMore ()\n";

/* ---- names ---- */

/* Appends len bytes to a buffer that doubles (from min) as it fills. 0, -ENOMEM. */
static int buf_append(char **buf, size_t *used, size_t *cap, size_t min, const void *data, size_t len) {
	if (*cap - *used < len) {
		size_t need, c;
		char *b;

		if (len > SIZE_MAX - *used)
			return -ENOMEM;
		need = *used + len;
		c = *cap ? *cap : min;
		while (c < need)
			c = c > SIZE_MAX / 2 ? need : c * 2;
		b = realloc(*buf, c);
		if (!b)
			return -ENOMEM;
		*buf = b;
		*cap = c;
	}
	memcpy(*buf + *used, data, len);
	*used += len;
	return 0;
}

/* Own ASCII tests: <ctype.h> depends on the locale and is undefined for negative char. */
static bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_alnum(char c) { return is_alpha(c) || is_digit(c); }

/* Reverse-domain: at least two dot-separated segments of letters, digits and '-', no
 * segment empty or starting or ending with '-', the first starting with a letter. */
static bool interface_name_valid(const char *s, size_t n) {
	size_t segments = 0, i = 0;

	if (n == 0 || !is_alpha(s[0]))
		return false;
	while (i < n) {
		size_t b = i;
		while (i < n && s[i] != '.') {
			if (!is_alnum(s[i]) && s[i] != '-')
				return false;
			i++;
		}
		if (i == b || s[b] == '-' || s[i - 1] == '-')
			return false;
		segments++;
		if (i < n && ++i == n)   /* trailing dot */
			return false;
	}
	return segments >= 2;
}

/* Method, error and type names: [A-Z][A-Za-z0-9]* */
static bool member_name_valid(const char *s, size_t n) {
	if (n == 0 || !(s[0] >= 'A' && s[0] <= 'Z'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!is_alnum(s[i]))
			return false;
	return true;
}

/* "interface.Member"; *ret_iface_len is the length of the interface part. */
static bool qualified_name_valid(const char *s, size_t n, size_t *ret_iface_len) {
	const char *dot;

	if (!s || n == 0 || n > VL_NAME_MAX || memchr(s, 0, n))
		return false;
	dot = memrchr(s, '.', n);
	if (!dot)
		return false;
	if (!interface_name_valid(s, (size_t) (dot - s)) ||
	    !member_name_valid(dot + 1, n - (size_t) (dot - s) - 1))
		return false;
	if (ret_iface_len)
		*ret_iface_len = (size_t) (dot - s);
	return true;
}

/* ---- reader ---- */

void vl_reader_init(vl_reader *r, size_t max_message) {
	*r = (vl_reader) { .max = max_message };
}

int vl_reader_feed(vl_reader *r, const void *data, size_t len) {
	if (len == 0)
		return 0;
	/* After an oversized message the stream is lost; keep memory bounded. */
	if (r->failed)
		return 0;
	if (r->start == r->end)
		r->start = r->end = r->scanned = 0;
	if (r->cap - r->end < len && r->start > 0) {
		/* Only the unreturned tail moves, once per returned message at most. */
		memmove(r->buf, r->buf + r->start, r->end - r->start);
		r->end -= r->start;
		r->scanned = r->scanned > r->start ? r->scanned - r->start : 0;
		r->start = 0;
	}
	return buf_append(&r->buf, &r->end, &r->cap, 4096, data, len);
}

int vl_reader_next(vl_reader *r, const char **ret_msg, size_t *ret_len) {
	size_t avail, window, from, to;
	char *nul = NULL;

	if (r->failed)
		return -EMSGSIZE;
	avail = r->end - r->start;
	/* A delimiter further than max bytes away makes the message too long anyway, so
	 * never look beyond it. */
	window = r->max < avail ? r->max + 1 : avail;
	from = r->scanned > r->start ? r->scanned : r->start;
	to = r->start + window;
	if (from < to)
		nul = memchr(r->buf + from, 0, to - from);
	if (nul) {
		*ret_msg = r->buf + r->start;
		*ret_len = (size_t) (nul - (r->buf + r->start));
		r->start = (size_t) (nul - r->buf) + 1;
		r->scanned = r->start;
		return 1;
	}
	if (to > r->scanned)
		r->scanned = to;
	if (avail > r->max) {
		r->failed = true;
		return -EMSGSIZE;
	}
	return 0;
}

size_t vl_reader_pending(const vl_reader *r) {
	return r->end - r->start;
}

void vl_reader_free(vl_reader *r) {
	if (!r)
		return;
	free(r->buf);
	*r = (vl_reader) { .max = r->max };
}

/* ---- calls ---- */

/* Nesting depth of objects and arrays outside strings, checked before jansson sees the
 * text so that no recursion anywhere goes deeper than VL_MAX_DEPTH. */
static bool depth_ok(const char *s, size_t n) {
	unsigned depth = 0;
	bool in_string = false;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = false;
		} else if (c == '"') {
			in_string = true;
		} else if (c == '{' || c == '[') {
			if (++depth > VL_MAX_DEPTH)
				return false;
		} else if ((c == '}' || c == ']') && depth > 0) {
			depth--;
		}
	}
	return true;
}

/* Absent and null are false; anything else but a boolean is an error. */
static int get_flag(json_t *root, const char *key, bool *ret) {
	json_t *v = json_object_get(root, key);

	if (!v || json_is_null(v)) {
		*ret = false;
		return 0;
	}
	if (!json_is_boolean(v))
		return -EBADMSG;
	*ret = json_is_true(v);
	return 0;
}

/* "parameters": an object, or absent or null, which become {} (handlers and clients
 * always get an object; the root owns it like the rest). 0, -EBADMSG, -ENOMEM. */
static int params_of(json_t *root, json_t **ret) {
	json_t *p = json_object_get(root, "parameters");

	if (!p || json_is_null(p)) {
		p = json_object();
		if (!p || json_object_set_new(root, "parameters", p) < 0)
			return -ENOMEM;
	} else if (!json_is_object(p)) {
		return -EBADMSG;
	}
	*ret = p;
	return 0;
}

int vl_call_parse(const char *msg, size_t len, vl_call *ret, const char **ret_bad) {
	vl_call c = {0};
	const char *bad = VL_PARAM_MESSAGE;
	json_t *m;
	size_t iface_len;
	int r = -EBADMSG;

	if (!msg || len == 0 || memchr(msg, 0, len) || !depth_ok(msg, len))
		goto fail;
	/* No JSON_ALLOW_NUL: strings handed to handlers are C strings. No
	 * JSON_DISABLE_EOF_CHECK: trailing garbage is an error. jansson also rejects
	 * invalid UTF-8 and numbers that overflow. */
	c.root = json_loadb(msg, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(c.root))
		goto fail;

	bad = "method";
	m = json_object_get(c.root, "method");
	if (!json_is_string(m) ||
	    !qualified_name_valid(json_string_value(m), json_string_length(m), &iface_len))
		goto fail;
	c.method = json_string_value(m);
	c.member = c.method + iface_len + 1;

	bad = "parameters";
	if ((r = params_of(c.root, &c.parameters)) < 0)
		goto fail;
	r = -EBADMSG;

	if (get_flag(c.root, "more", &c.more) < 0) {
		bad = "more";
		goto fail;
	}
	if (get_flag(c.root, "oneway", &c.oneway) < 0) {
		bad = "oneway";
		goto fail;
	}
	if (get_flag(c.root, "upgrade", &c.upgrade) < 0) {
		bad = "upgrade";
		goto fail;
	}
	/* A call cannot both want no reply and a stream of them. */
	if (c.more && c.oneway) {
		bad = "oneway";
		goto fail;
	}

	c.interface = strndup(c.method, iface_len);
	if (!c.interface) {
		r = -ENOMEM;
		goto fail;
	}
	*ret = c;
	return 0;
fail:
	vl_call_clear(&c);
	if (r == -EBADMSG && ret_bad)
		*ret_bad = bad;
	return r;
}

void vl_call_clear(vl_call *c) {
	if (!c)
		return;
	json_decref(c->root);
	free(c->interface);
	*c = (vl_call) {0};
}

/* ---- encoding ---- */

/* json_dumps() allocates with jansson's allocator, malloc unless the program changed
 * it; the terminating NUL it writes is the Varlink delimiter. */
/* Floats (max_loop_step_ms) with 6 significant digits: 0.748323, not 0.74832299999999996. */
#define VL_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(6))

static int encode(json_t *env, char **ret, size_t *ret_len) {
	char *s = json_dumps(env, VL_JSON_FLAGS);

	json_decref(env);
	if (!s)
		return -ENOMEM;
	*ret = s;
	*ret_len = strlen(s) + 1;
	return 0;
}

/* {"parameters": params} with params borrowed, or a fresh {} for NULL. */
static json_t *envelope(json_t *params) {
	json_t *env = json_object();

	if (!env)
		return NULL;
	if (params ? json_object_set(env, "parameters", params) < 0
		   : json_object_set_new(env, "parameters", json_object()) < 0) {
		json_decref(env);
		return NULL;
	}
	return env;
}

int vl_reply_encode(json_t *params, bool continues, char **ret, size_t *ret_len) {
	json_t *env;

	if (params && !json_is_object(params))
		return -EINVAL;
	env = envelope(params);
	if (!env)
		return -ENOMEM;
	if (continues && json_object_set_new(env, "continues", json_true()) < 0) {
		json_decref(env);
		return -ENOMEM;
	}
	return encode(env, ret, ret_len);
}

int vl_error_encode(const char *error, json_t *params, char **ret, size_t *ret_len) {
	json_t *env, *e;

	if (!error || !qualified_name_valid(error, strlen(error), NULL))
		return -EINVAL;
	if (params && !json_is_object(params))
		return -EINVAL;
	/* "error" first: readers of a log see what happened before the details. */
	env = json_object();
	e = json_string(error);
	if (!env || !e || json_object_set_new(env, "error", e) < 0) {
		json_decref(env);
		return -ENOMEM;
	}
	if (params ? json_object_set(env, "parameters", params) < 0
		   : json_object_set_new(env, "parameters", json_object()) < 0) {
		json_decref(env);
		return -ENOMEM;
	}
	return encode(env, ret, ret_len);
}

/* ---- the client's side ---- */

int vl_call_encode(const char *method, json_t *params, bool more, bool oneway, char **ret, size_t *ret_len) {
	json_t *env, *m;

	if (!method || !qualified_name_valid(method, strlen(method), NULL) || (more && oneway))
		return -EINVAL;
	if (params && !json_is_object(params))
		return -EINVAL;
	/* "method" first, as a person reading a capture expects */
	env = json_object();
	m = json_string(method);
	if (!env || !m || json_object_set_new(env, "method", m) < 0) {
		json_decref(env);
		return -ENOMEM;
	}
	if ((params ? json_object_set(env, "parameters", params) < 0
		    : json_object_set_new(env, "parameters", json_object()) < 0) ||
	    (more && json_object_set_new(env, "more", json_true()) < 0) ||
	    (oneway && json_object_set_new(env, "oneway", json_true()) < 0)) {
		json_decref(env);
		return -ENOMEM;
	}
	return encode(env, ret, ret_len);
}

int vl_reply_parse(const char *msg, size_t len, vl_reply_msg *ret) {
	vl_reply_msg m = {0};
	json_t *e;
	int r = -EBADMSG;

	if (!msg || len == 0 || memchr(msg, 0, len) || !depth_ok(msg, len))
		goto fail;
	m.root = json_loadb(msg, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(m.root))
		goto fail;
	e = json_object_get(m.root, "error");
	if (e) {
		if (!json_is_string(e) || !qualified_name_valid(json_string_value(e), json_string_length(e), NULL))
			goto fail;
		m.error = json_string_value(e);
	}
	if ((r = params_of(m.root, &m.parameters)) < 0)
		goto fail;
	r = -EBADMSG;
	if (get_flag(m.root, "continues", &m.continues) < 0)
		goto fail;
	*ret = m;
	return 0;
fail:
	vl_reply_msg_clear(&m);
	return r;
}

void vl_reply_msg_clear(vl_reply_msg *m) {
	if (!m)
		return;
	json_decref(m->root);
	*m = (vl_reply_msg) {0};
}

int vl_send_invalid_parameter(vl_send_fn *send, void *ud, const char *parameter) {
	json_t *p = json_pack("{s:s}", "parameter", parameter ? parameter : "");
	char *buf;
	size_t len;
	int r;

	if (!p)
		return -ENOMEM;
	r = vl_error_encode(VL_ERROR_INVALID_PARAMETER, p, &buf, &len);
	json_decref(p);
	if (r < 0)
		return r;
	send(ud, buf, len);
	free(buf);
	return 0;
}

/* ---- service ---- */

typedef struct vl_iface {
	char *name;
	char *idl;
	vl_method *methods;
	size_t n;
	void *userdata;
} vl_iface;

struct vl_service {
	char *vendor, *product, *version, *url;
	vl_iface *ifaces;
	size_t n_ifaces;
	vl_authorize_fn *authorize;
	void *authorize_ud;
	char *err_denied, *err_internal;
};

struct vl_call_ctx {
	const vl_call *call;
	vl_send_fn *send;
	void *ud;
	void *caller;
	unsigned flags;
	bool done;   /* a final reply (or error) went out; nothing may follow */
	const char *err_internal;   /* the service's InternalError name */
	bool pieces;     /* the caller takes a reply in pieces */
	bool partial;    /* a piece went out: the message is open until vl_list_send */
	/* set by vl_defer(): the call goes on in steps */
	vl_resume_fn *resume;
	void *state;
	vl_state_free_fn *free_state;
};

struct vl_pending {
	vl_call call;
	vl_call_ctx ctx;   /* ctx.call points at call */
};

vl_service *vl_service_new(const char *vendor, const char *product, const char *version, const char *url) {
	vl_service *svc;

	if (!vendor || !product || !version || !url)
		return NULL;
	svc = calloc(1, sizeof(*svc));
	if (!svc)
		return NULL;
	svc->vendor = strdup(vendor);
	svc->product = strdup(product);
	svc->version = strdup(version);
	svc->url = strdup(url);
	svc->err_denied = strdup("io.standingd.PermissionDenied");
	svc->err_internal = strdup("io.standingd.InternalError");
	if (!svc->vendor || !svc->product || !svc->version || !svc->url ||
	    !svc->err_denied || !svc->err_internal) {
		vl_service_free(svc);
		return NULL;
	}
	return svc;
}

void vl_service_free(vl_service *svc) {
	if (!svc)
		return;
	for (size_t i = 0; i < svc->n_ifaces; i++) {
		free(svc->ifaces[i].name);
		free(svc->ifaces[i].idl);
		free(svc->ifaces[i].methods);
	}
	free(svc->ifaces);
	free(svc->vendor);
	free(svc->product);
	free(svc->version);
	free(svc->url);
	free(svc->err_denied);
	free(svc->err_internal);
	free(svc);
}

static vl_iface *find_iface(vl_service *svc, const char *name) {
	for (size_t i = 0; i < svc->n_ifaces; i++)
		if (strcmp(svc->ifaces[i].name, name) == 0)
			return &svc->ifaces[i];
	return NULL;
}

int vl_service_add_interface(vl_service *svc, const char *name, const char *idl,
			     const vl_method *methods, size_t n, void *userdata) {
	vl_iface f = { .n = n, .userdata = userdata };
	vl_iface *v;

	if (!svc || !name || !idl || (n > 0 && !methods) ||
	    strlen(name) >= VL_NAME_MAX || !interface_name_valid(name, strlen(name)))
		return -EINVAL;
	if (strcmp(name, VL_SERVICE_INTERFACE) == 0 || find_iface(svc, name))
		return -EEXIST;
	for (size_t i = 0; i < n; i++) {
		if (!methods[i].name || !methods[i].handler ||
		    !member_name_valid(methods[i].name, strlen(methods[i].name)) ||
		    strlen(name) + 1 + strlen(methods[i].name) > VL_NAME_MAX)
			return -EINVAL;
		for (size_t j = 0; j < i; j++)
			if (strcmp(methods[i].name, methods[j].name) == 0)
				return -EINVAL;
	}

	f.name = strdup(name);
	f.idl = strdup(idl);
	f.methods = n > 0 ? calloc(n, sizeof(*f.methods)) : NULL;
	v = reallocarray(svc->ifaces, svc->n_ifaces + 1, sizeof(*v));
	if (v)
		svc->ifaces = v;
	if (!f.name || !f.idl || (n > 0 && !f.methods) || !v) {
		free(f.name);
		free(f.idl);
		free(f.methods);
		return -ENOMEM;
	}
	if (n > 0)
		memcpy(f.methods, methods, n * sizeof(*methods));
	svc->ifaces[svc->n_ifaces++] = f;
	return 0;
}

void vl_service_set_authorize(vl_service *svc, vl_authorize_fn *fn, void *ud) {
	svc->authorize = fn;
	svc->authorize_ud = fn ? ud : NULL;
}

int vl_service_set_error_names(vl_service *svc, const char *permission_denied, const char *internal_error) {
	char *d = NULL, *i = NULL;

	if ((permission_denied && !qualified_name_valid(permission_denied, strlen(permission_denied), NULL)) ||
	    (internal_error && !qualified_name_valid(internal_error, strlen(internal_error), NULL)))
		return -EINVAL;
	if ((permission_denied && !(d = strdup(permission_denied))) ||
	    (internal_error && !(i = strdup(internal_error)))) {
		free(d);
		return -ENOMEM;
	}
	if (d) {
		free(svc->err_denied);
		svc->err_denied = d;
	}
	if (i) {
		free(svc->err_internal);
		svc->err_internal = i;
	}
	return 0;
}

/* ---- replies from handlers ---- */

bool vl_call_ctx_more(const vl_call_ctx *ctx) { return ctx->call->more; }
bool vl_call_ctx_oneway(const vl_call_ctx *ctx) { return ctx->call->oneway; }
void *vl_call_ctx_caller(const vl_call_ctx *ctx) { return ctx->caller; }
const char *vl_call_ctx_method(const vl_call_ctx *ctx) { return ctx->call->method; }
unsigned vl_call_ctx_flags(const vl_call_ctx *ctx) { return ctx->flags; }

int vl_reply(vl_call_ctx *ctx, json_t *params, bool continues) {
	char *buf;
	size_t len;
	int r;

	if (ctx->done)
		return -EALREADY;
	if (ctx->partial)
		return -EBUSY;
	if ((params && !json_is_object(params)) || (continues && !ctx->call->more))
		return -EINVAL;
	if (ctx->call->oneway) {
		ctx->done = true;
		return 0;
	}
	r = vl_reply_encode(params, continues, &buf, &len);
	if (r < 0)
		return r;
	ctx->send(ctx->ud, buf, len);
	free(buf);
	if (!continues)
		ctx->done = true;
	return 0;
}

int vl_reply_member(vl_call_ctx *ctx, const char *key, const char *value, size_t len) {
	static const char head[] = "{\"parameters\":{\"", mid[] = "\":", end[] = "}}";
	size_t klen = strlen(key);
	if (ctx->done)
		return -EALREADY;
	if (ctx->partial)
		return -EBUSY;
	if (!klen || strspn(key, "abcdefghijklmnopqrstuvwxyz_") != klen || !len)
		return -EINVAL;
	if (ctx->call->oneway) {
		ctx->done = true;
		return 0;
	}
	size_t n = sizeof(head) - 1 + klen + sizeof(mid) - 1 + len + sizeof(end);   /* sizeof(end): the NUL */
	char *buf = malloc(n);
	if (!buf)
		return -ENOMEM;
	char *p = buf;
	memcpy(p, head, sizeof(head) - 1);
	p += sizeof(head) - 1;
	memcpy(p, key, klen);
	p += klen;
	memcpy(p, mid, sizeof(mid) - 1);
	p += sizeof(mid) - 1;
	memcpy(p, value, len);
	p += len;
	memcpy(p, end, sizeof(end));
	ctx->send(ctx->ud, buf, n);
	free(buf);
	ctx->done = true;
	return 0;
}

int vl_error(vl_call_ctx *ctx, const char *error, json_t *params) {
	char *buf;
	size_t len;
	int r;

	if (ctx->done)
		return -EALREADY;
	if (ctx->partial)
		return -EBUSY;
	if (!error || !qualified_name_valid(error, strlen(error), NULL) ||
	    (params && !json_is_object(params)))
		return -EINVAL;
	if (ctx->call->oneway) {
		ctx->done = true;
		return 0;
	}
	r = vl_error_encode(error, params, &buf, &len);
	if (r < 0)
		return r;
	ctx->send(ctx->ud, buf, len);
	free(buf);
	ctx->done = true;
	return 0;
}

/* ---- lists encoded item by item ---- */

int vl_item_encode(json_t *item, char **ret, size_t *ret_len) {
	/* the flags of encode(): an item reads the same alone as inside a reply */
	char *s = item ? json_dumps(item, VL_JSON_FLAGS | JSON_ENCODE_ANY) : NULL;

	if (!s)
		return -ENOMEM;
	*ret = s;
	*ret_len = strlen(s);
	return 0;
}

static int list_append(vl_list *l, const char *p, size_t n) {
	return buf_append(&l->buf, &l->len, &l->cap, 256, p, n);
}

/* {"parameters":{"KEY":[ once per part. */
static int list_open(vl_list *l) {
	size_t k;
	int r;

	if (l->open)
		return 0;
	if (!l->key || !(k = strlen(l->key)) || k > VL_NAME_MAX)
		return -EINVAL;
	for (size_t i = 0; i < k; i++)
		if (!((l->key[i] >= 'a' && l->key[i] <= 'z') || l->key[i] == '_'))
			return -EINVAL;
	if ((r = list_append(l, "{\"parameters\":{\"", 16)) < 0 || (r = list_append(l, l->key, k)) < 0 ||
	    (r = list_append(l, "\":[", 3)) < 0)
		return r;
	l->open = true;
	return 0;
}

int vl_list_reserve(vl_list *l, size_t bytes) {
	/* the envelope around the items: {"parameters":{"KEY":[ ... ]},"continues":true} */
	size_t want = bytes + 64 + (l->key ? strlen(l->key) : 0);
	char *b;

	if (want < bytes)
		return -ENOMEM;
	if (l->cap - l->len >= want)
		return 0;
	if (want > SIZE_MAX - l->len || !(b = realloc(l->buf, l->len + want)))
		return -ENOMEM;
	l->buf = b;
	l->cap = l->len + want;
	return 0;
}

int vl_list_add(vl_list *l, const char *item, size_t len) {
	int r = list_open(l);

	if (r < 0 || (l->n && (r = list_append(l, ",", 1)) < 0) || (r = list_append(l, item, len)) < 0)
		return r;
	l->n++;
	return 0;
}

int vl_list_send(vl_call_ctx *ctx, vl_list *l, bool continues) {
	static const char end[] = "]}}", end_more[] = "]},\"continues\":true}";
	int r;

	if (ctx->done)
		return -EALREADY;
	if (continues && !ctx->call->more)
		return -EINVAL;
	if (!ctx->call->oneway) {
		if ((r = list_open(l)) < 0 ||
		    (r = continues ? list_append(l, end_more, sizeof(end_more)) : list_append(l, end, sizeof(end))) < 0)
			return r;   /* sizeof counts the NUL delimiter */
		ctx->send(ctx->ud, l->buf, l->len);
	}
	l->len = 0;
	l->n = 0;
	l->open = false;
	ctx->partial = false;
	if (!continues)
		ctx->done = true;
	return 0;
}

int vl_list_flush(vl_call_ctx *ctx, vl_list *l) {
	if (ctx->done)
		return -EALREADY;
	if (!ctx->pieces || ctx->call->oneway || !l->len)
		return 0;
	ctx->send(ctx->ud, l->buf, l->len);
	l->len = 0;
	ctx->partial = true;
	return 0;
}

bool vl_call_ctx_pieces(const vl_call_ctx *ctx) { return ctx->pieces; }

void vl_list_clear(vl_list *l) {
	if (!l)
		return;
	free(l->buf);
	l->buf = NULL;
	l->len = l->cap = l->n = 0;
	l->open = false;
}

/* An error with one string parameter: {"key": value}. */
static int error_with(vl_call_ctx *ctx, const char *error, const char *key, const char *value) {
	json_t *p = json_pack("{s:s}", key, value);
	int r;

	if (!p)
		return -ENOMEM;
	r = vl_error(ctx, error, p);
	json_decref(p);
	return r;
}

int vl_internal_error(vl_call_ctx *ctx, int err) {
	/* one convention on the wire: the positive errno(3) number */
	json_t *p = json_pack("{s:i}", "errno", err < 0 ? -err : err);
	if (!p)
		return -ENOMEM;
	int r = vl_error(ctx, ctx->err_internal, p);
	json_decref(p);
	return r;
}

int vl_invalid_parameter(vl_call_ctx *ctx, const char *name) {
	int r = error_with(ctx, VL_ERROR_INVALID_PARAMETER, "parameter", name ? name : "");

	return r < 0 ? r : -EINVAL;
}

/* ---- parameter helpers ---- */

static int param_get(vl_call_ctx *ctx, json_t *params, const char *key, bool required,
		     bool (*type_ok)(const json_t *), json_t **ret) {
	json_t *v = json_is_object(params) ? json_object_get(params, key) : NULL;

	if (!v || json_is_null(v))
		return required ? vl_invalid_parameter(ctx, key) : 0;
	if (!type_ok(v))
		return vl_invalid_parameter(ctx, key);
	*ret = v;
	return 1;
}

/* jansson's json_is_* are macros; these give param_get() something to point at. */
static bool type_string(const json_t *v) { return json_is_string(v); }
static bool type_integer(const json_t *v) { return json_is_integer(v); }
static bool type_boolean(const json_t *v) { return json_is_boolean(v); }
static bool type_object(const json_t *v) { return json_is_object(v); }
static bool type_array(const json_t *v) { return json_is_array(v); }

int vl_param_string(vl_call_ctx *ctx, json_t *params, const char *key, bool required, const char **ret) {
	json_t *v = NULL;
	int r = param_get(ctx, params, key, required, type_string, &v);

	if (r > 0)
		*ret = json_string_value(v);
	return r;
}

int vl_param_int(vl_call_ctx *ctx, json_t *params, const char *key, bool required, int64_t *ret) {
	json_t *v = NULL;
	int r = param_get(ctx, params, key, required, type_integer, &v);

	if (r > 0)
		*ret = (int64_t) json_integer_value(v);
	return r;
}

int vl_param_bool(vl_call_ctx *ctx, json_t *params, const char *key, bool required, bool *ret) {
	json_t *v = NULL;
	int r = param_get(ctx, params, key, required, type_boolean, &v);

	if (r > 0)
		*ret = json_is_true(v);
	return r;
}

int vl_param_object(vl_call_ctx *ctx, json_t *params, const char *key, bool required, json_t **ret) {
	json_t *v = NULL;
	int r = param_get(ctx, params, key, required, type_object, &v);

	if (r > 0)
		*ret = v;
	return r;
}

int vl_param_array(vl_call_ctx *ctx, json_t *params, const char *key, bool required, json_t **ret) {
	json_t *v = NULL;
	int r = param_get(ctx, params, key, required, type_array, &v);

	if (r > 0)
		*ret = v;
	return r;
}

int vl_params_check(vl_call_ctx *ctx, json_t *params, const char *const allowed[]) {
	const char *key;
	json_t *v = NULL;

	if (!json_is_object(params))
		return vl_invalid_parameter(ctx, "parameters");
	/* jansson iterates in insertion order, i.e. the order of the message. */
	json_object_foreach(params, key, v) {
		bool known = false;
		for (size_t i = 0; allowed && allowed[i]; i++)
			if (strcmp(allowed[i], key) == 0) {
				known = true;
				break;
			}
		if (!known)
			return vl_invalid_parameter(ctx, key);
	}
	return 0;
}

/* ---- org.varlink.service ---- */

static int get_info(vl_call_ctx *ctx, json_t *params, void *userdata) {
	static const char *const none[] = { NULL };
	vl_service *svc = userdata;
	json_t *ifaces, *reply;
	int r;

	r = vl_params_check(ctx, params, none);
	if (r < 0)
		return r;
	ifaces = json_array();
	if (!ifaces || json_array_append_new(ifaces, json_string(VL_SERVICE_INTERFACE)) < 0)
		goto oom;
	for (size_t i = 0; i < svc->n_ifaces; i++)
		if (json_array_append_new(ifaces, json_string(svc->ifaces[i].name)) < 0)
			goto oom;
	reply = json_pack("{s:s,s:s,s:s,s:s,s:o}",
			  "vendor", svc->vendor, "product", svc->product,
			  "version", svc->version, "url", svc->url, "interfaces", ifaces);
	if (!reply)   /* "o" is consumed even on failure */
		return -ENOMEM;
	r = vl_reply(ctx, reply, false);
	json_decref(reply);
	return r;
oom:
	json_decref(ifaces);
	return -ENOMEM;
}

static int get_interface_description(vl_call_ctx *ctx, json_t *params, void *userdata) {
	static const char *const allowed[] = { "interface", NULL };
	vl_service *svc = userdata;
	const char *name = NULL, *idl;
	vl_iface *f;
	json_t *reply;
	int r;

	r = vl_params_check(ctx, params, allowed);
	if (r < 0)
		return r;
	r = vl_param_string(ctx, params, "interface", true, &name);
	if (r < 0)
		return r;
	if (strcmp(name, VL_SERVICE_INTERFACE) == 0)
		idl = service_idl;
	else if ((f = find_iface(svc, name)))
		idl = f->idl;
	else
		return error_with(ctx, VL_ERROR_INTERFACE_NOT_FOUND, "interface", name);
	reply = json_pack("{s:s}", "description", idl);
	if (!reply)
		return -ENOMEM;
	r = vl_reply(ctx, reply, false);
	json_decref(reply);
	return r;
}

/* ---- dispatch ---- */

int vl_defer(vl_call_ctx *ctx, vl_resume_fn *resume, void *state, vl_state_free_fn *free_state) {
	int r = 0;

	if (!resume || ctx->resume)
		r = -EINVAL;
	else if (ctx->done)
		r = -EALREADY;
	if (r < 0) {
		if (free_state)
			free_state(state);
		return r;
	}
	ctx->resume = resume;
	ctx->state = state;
	ctx->free_state = free_state;
	return 0;
}

static void ctx_release(vl_call_ctx *ctx) {
	vl_state_free_fn *f = ctx->free_state;
	void *state = ctx->state;

	ctx->resume = NULL;
	ctx->state = NULL;
	ctx->free_state = NULL;
	if (f)
		f(state);
}

/* The handler or its last step returned r and the call is over: what is still
 * owed to the client. */
static int conclude(vl_call_ctx *ctx, int r) {
	ctx_release(ctx);
	if (ctx->partial && !ctx->done) {
		/* half a message is out: nothing valid can follow it */
		ctx->done = true;
		return -EPIPE;
	}
	if (ctx->done)
		return 0;
	if (r >= 0) {
		if (ctx->call->oneway)   /* nothing was owed */
			return 0;
		r = -EPROTO;        /* the handler forgot its final reply */
	}
	if (ctx->call->oneway)
		return r;
	/* An error also ends a stream that the handler left open. */
	if (vl_internal_error(ctx, r) < 0)
		r = -ENOMEM;
	return r;
}

static int ctx_step(vl_call_ctx *ctx) {
	int r = ctx->resume(ctx, ctx->state);

	if (r == VL_AGAIN && !ctx->done)
		return VL_AGAIN;
	return conclude(ctx, r == VL_AGAIN ? 0 : r);
}

/* vl_service_dispatch() up to the handler's return: VL_AGAIN when it deferred. */
static int dispatch(vl_service *svc, vl_call_ctx *ctx) {
	const vl_call *call = ctx->call;
	vl_handler_fn *handler = NULL;
	void *userdata = NULL;
	int r;

	if (call->upgrade) {
		r = vl_invalid_parameter(ctx, "upgrade");
		return r == -EINVAL ? 0 : r;
	}

	if (strcmp(call->interface, VL_SERVICE_INTERFACE) == 0) {
		/* Introspection is public: a client must be able to learn what it may not call. */
		userdata = svc;
		if (strcmp(call->member, "GetInfo") == 0)
			handler = get_info;
		else if (strcmp(call->member, "GetInterfaceDescription") == 0)
			handler = get_interface_description;
		else
			return error_with(ctx, VL_ERROR_METHOD_NOT_FOUND, "method", call->method);
	} else {
		vl_iface *f = find_iface(svc, call->interface);
		const vl_method *m = NULL;

		if (!f)
			return error_with(ctx, VL_ERROR_INTERFACE_NOT_FOUND, "interface", call->interface);
		for (size_t i = 0; i < f->n && !m; i++)
			if (strcmp(f->methods[i].name, call->member) == 0)
				m = &f->methods[i];
		if (!m)
			return error_with(ctx, VL_ERROR_METHOD_NOT_FOUND, "method", call->method);
		if (svc->authorize && svc->authorize(ctx->caller, f->name, m->name, svc->authorize_ud) != 0)
			return vl_error(ctx, svc->err_denied, NULL);
		handler = m->handler;
		userdata = f->userdata;
		ctx->flags = m->flags;
	}

	r = handler(ctx, call->parameters, userdata);
	if (ctx->resume && r >= 0 && !ctx->done)
		return VL_AGAIN;
	return conclude(ctx, r);
}

int vl_service_dispatch(vl_service *svc, const vl_call *call, vl_send_fn *send, void *ud, void *caller) {
	int r;

	if (!svc || !call || !call->method || !call->interface || !call->member ||
	    !json_is_object(call->parameters) || !send)
		return -EINVAL;
	vl_call_ctx ctx = { .call = call, .send = send, .ud = ud, .caller = caller, .err_internal = svc->err_internal };
	r = dispatch(svc, &ctx);
	while (r == VL_AGAIN)
		r = ctx_step(&ctx);
	return r;
}

unsigned vl_service_method_flags(vl_service *svc, const vl_call *call) {
	vl_iface *f = svc && call && call->interface && call->member ? find_iface(svc, call->interface) : NULL;
	for (size_t i = 0; f && i < f->n; i++)
		if (strcmp(f->methods[i].name, call->member) == 0)
			return f->methods[i].flags;
	return 0;
}

int vl_service_run(vl_service *svc, const vl_call *call, vl_send_fn *send, void *ud, void *caller, unsigned flags) {
	if (!svc || !call || !call->method || !call->interface || !call->member ||
	    !json_is_object(call->parameters) || !send)
		return -EINVAL;
	vl_call_ctx ctx = { .call = call, .send = send, .ud = ud, .caller = caller, .err_internal = svc->err_internal,
			    .pieces = flags & VL_START_PIECES };
	int r = dispatch(svc, &ctx);
	while (r == VL_AGAIN)
		r = ctx_step(&ctx);
	ctx_release(&ctx);
	return r;
}

int vl_service_start(vl_service *svc, const char *msg, size_t len, vl_send_fn *send, void *ud, void *caller,
		     unsigned flags, vl_pending **ret_pending) {
	vl_call call;
	const char *bad = VL_PARAM_MESSAGE;
	int r;

	if (!svc || !send || !ret_pending)
		return -EINVAL;
	*ret_pending = NULL;
	r = vl_call_parse(msg, len, &call, &bad);
	if (r == -EBADMSG)
		return vl_send_invalid_parameter(send, ud, bad);
	if (r < 0)
		return r;
	vl_call_ctx ctx = { .call = &call, .send = send, .ud = ud, .caller = caller, .err_internal = svc->err_internal,
			    .pieces = flags & VL_START_PIECES };
	r = dispatch(svc, &ctx);
	if (r == VL_AGAIN) {
		vl_pending *p = malloc(sizeof(*p));
		if (p) {
			p->call = call;
			p->ctx = ctx;
			p->ctx.call = &p->call;
			*ret_pending = p;
			return 0;
		}
		/* no memory to keep it: it ends here, answered InternalError (stepping it
		 * here could wait forever for what only the caller's loop brings: a
		 * change of the running set staged on a thread) */
		r = conclude(&ctx, -ENOMEM);
	}
	vl_call_clear(&call);
	return r;
}

int vl_pending_step(vl_pending *p) {
	if (!p || !p->ctx.resume)
		return -EINVAL;
	return ctx_step(&p->ctx);
}

void vl_pending_free(vl_pending *p) {
	if (!p)
		return;
	ctx_release(&p->ctx);
	vl_call_clear(&p->call);
	free(p);
}

int vl_service_handle(vl_service *svc, const char *msg, size_t len, vl_send_fn *send, void *ud, void *caller) {
	vl_pending *p = NULL;
	int r = vl_service_start(svc, msg, len, send, ud, caller, 0, &p);

	while (p && (r = vl_pending_step(p)) == VL_AGAIN)
		;
	vl_pending_free(p);
	return r;
}
