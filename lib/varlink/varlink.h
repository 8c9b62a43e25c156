/* varlink: the Varlink protocol (https://varlink.org) without I/O: splitting a byte
 * stream into NUL-delimited messages, validating calls, encoding replies, and a
 * registry of interfaces that dispatches calls to handlers, answering
 * org.varlink.service itself. The caller owns the sockets and the loop; every output
 * message goes through a send callback, already NUL-terminated. Not thread-safe.
 *
 * Decisions (the wire behaviour a client sees):
 * - Every problem with a message as a whole (empty, not JSON, not UTF-8, an embedded
 *   NUL, numbers out of range, duplicate keys, nesting deeper than VL_MAX_DEPTH, not an
 *   object, larger than the reader's limit) is answered with
 *   org.varlink.service.InvalidParameter {"parameter":"<message>"} (VL_PARAM_MESSAGE,
 *   not a possible field name). A bad envelope field names that field: "method" (missing,
 *   not a string, not "interface.Method"), "parameters" (not an object or null),
 *   "more"/"oneway"/"upgrade" (not booleans), "oneway" (with "more" also set).
 *   Envelope errors are always answered, even when "oneway" was set, because the flags
 *   of a broken message cannot be trusted. Unknown envelope keys are ignored, for
 *   forward compatibility. Framing stays intact, so the connection can go on; only
 *   an oversized message leaves the stream out of step (the caller closes).
 * - "upgrade" is not supported: InvalidParameter {"parameter":"upgrade"}.
 * - A "oneway" call is never answered, not even with an error.
 * - Authorization denial: "io.standingd.PermissionDenied" {} by default. A handler that
 *   fails (negative return) or returns without a final reply gets a final
 *   "io.standingd.InternalError" {"errno": N} sent for it, N the positive errno(3)
 *   number (a handler's -ENOSPC is 28). Both names can be changed
 *   with vl_service_set_error_names(); declare them in an IDL the service serves.
 * - org.varlink.service calls bypass authorization; GetInfo lists org.varlink.service
 *   first, then the interfaces in registration order. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VL_SERVICE_INTERFACE "org.varlink.service"
#define VL_ERROR_INTERFACE_NOT_FOUND "org.varlink.service.InterfaceNotFound"
#define VL_ERROR_METHOD_NOT_FOUND "org.varlink.service.MethodNotFound"
#define VL_ERROR_METHOD_NOT_IMPLEMENTED "org.varlink.service.MethodNotImplemented"
#define VL_ERROR_INVALID_PARAMETER "org.varlink.service.InvalidParameter"
#define VL_ERROR_PERMISSION_DENIED "org.varlink.service.PermissionDenied"
#define VL_ERROR_EXPECTED_MORE "org.varlink.service.ExpectedMore"

/* The "parameter" value of InvalidParameter when the message as a whole is unusable. */
#define VL_PARAM_MESSAGE "<message>"
/* JSON nesting accepted in a call (objects and arrays, the envelope counts as 1):
 * bounds the recursion of the parser, of json_decref() and of handlers. */
#define VL_MAX_DEPTH 64
/* Longest "interface.Method" accepted, in bytes. */
#define VL_NAME_MAX 255

/* ---- reader: bytes in, whole messages out ---- */

/* Fields are private; the struct is public only so it can live inside a connection. */
typedef struct vl_reader {
	char *buf;
	size_t start;    /* first byte not yet returned */
	size_t end;      /* bytes held */
	size_t cap;
	size_t scanned;  /* [start, scanned) is known to hold no NUL */
	size_t max;
	bool failed;     /* an oversized message was seen; sticky */
} vl_reader;

/* max_message: the longest message accepted, in bytes, not counting its NUL. */
void vl_reader_init(vl_reader *r, size_t max_message);
/* Append bytes as read from the socket. 0 or -ENOMEM. Call vl_reader_next() until it
 * returns 0 after every feed, so the buffer stays about one message large. Once
 * vl_reader_next() said -EMSGSIZE, bytes fed are dropped. */
int vl_reader_feed(vl_reader *r, const void *data, size_t len);
/* 1: *ret_msg, *ret_len is the next message without its delimiter (NUL-terminated in
 * place; valid until the next feed, next or free). 0: need more bytes. -EMSGSIZE:
 * the pending message is longer than max; sticky, the stream cannot be resynchronised:
 * send vl_send_invalid_parameter(..., VL_PARAM_MESSAGE) and close. Each byte is scanned
 * once however the message is split. */
int vl_reader_next(vl_reader *r, const char **ret_msg, size_t *ret_len);
/* Bytes held that are not part of a returned message (a partial message at EOF). */
size_t vl_reader_pending(const vl_reader *r);
void vl_reader_free(vl_reader *r);

/* ---- calls ---- */

typedef struct vl_call {
	json_t *root;          /* the whole message; owns everything below */
	const char *method;    /* "io.standingd.Ops.Status" */
	char *interface;       /* "io.standingd.Ops", owned */
	const char *member;    /* "Status", points into method */
	json_t *parameters;    /* always an object ({} when absent or null), borrowed from root */
	bool more, oneway, upgrade;
} vl_call;

/* Parse and validate one message (the bytes vl_reader_next() returned). 0; -EBADMSG
 * with *ret_bad set to the field to name in InvalidParameter (a static string, see the
 * decisions above); -ENOMEM. *ret is untouched on failure. */
int vl_call_parse(const char *msg, size_t len, vl_call *ret, const char **ret_bad);
/* Frees what the call holds and zeroes it; accepts a zeroed call. */
void vl_call_clear(vl_call *c);

/* ---- encoding ---- */

/* {"parameters":{...}} or {"parameters":{...},"continues":true}, compact, UTF-8 kept,
 * into a malloc'd buffer whose last byte is the NUL delimiter; *ret_len counts it.
 * params is borrowed; NULL means {}. 0, -EINVAL (params not an object), -ENOMEM. */
int vl_reply_encode(json_t *params, bool continues, char **ret, size_t *ret_len);
/* {"error":"iface.Name","parameters":{...}}. -EINVAL if error is not "interface.Name". */
int vl_error_encode(const char *error, json_t *params, char **ret, size_t *ret_len);

/* Receives each encoded message, NUL delimiter included (len counts it). The buffer is
 * only lent for the duration of the call: copy it into the connection's output. A
 * caller of vl_service_start() with VL_START_PIECES may also get a long reply in
 * pieces, one per step, the last one ending with the NUL (see vl_list_flush). */
typedef void vl_send_fn(void *ud, const char *buf, size_t len);

/* Sends org.varlink.service.InvalidParameter {"parameter": parameter}. 0 or -ENOMEM. */
int vl_send_invalid_parameter(vl_send_fn *send, void *ud, const char *parameter);

/* ---- the client's side: calls out, replies in ----
 * A client frames replies with the same reader (vl_reader) and owns its socket. */

/* {"method":"iface.Method","parameters":{...}}, with "more":true or "oneway":true when
 * asked, compact, into a malloc'd buffer whose last byte is the NUL delimiter; *ret_len
 * counts it. params is borrowed; NULL means {}. 0, -EINVAL (method not
 * "interface.Method", params not an object, both more and oneway), -ENOMEM. */
int vl_call_encode(const char *method, json_t *params, bool more, bool oneway, char **ret, size_t *ret_len);

/* One reply as a client reads it. */
typedef struct vl_reply_msg {
	json_t *root;          /* the whole message; owns everything below */
	json_t *parameters;    /* always an object ({} when absent or null), borrowed from root */
	const char *error;     /* "iface.Name" for an error reply, else NULL */
	bool continues;
} vl_reply_msg;

/* Parses one message (as vl_reader_next() returned it) with the checks vl_call_parse()
 * makes of a call (UTF-8, no NUL, no duplicate keys, depth, an object): "error" must
 * be "interface.Name" when present, "parameters" an object or null, "continues" a
 * boolean. 0, -EBADMSG, -ENOMEM; *ret is untouched on failure. */
int vl_reply_parse(const char *msg, size_t len, vl_reply_msg *ret);
/* Frees what the reply holds and zeroes it; accepts a zeroed one. */
void vl_reply_msg_clear(vl_reply_msg *m);

/* ---- service: registry and dispatch ---- */

typedef struct vl_service vl_service;
typedef struct vl_call_ctx vl_call_ctx;

/* A handler answers through vl_reply()/vl_error() on ctx before it returns: exactly one
 * final reply, preceded by any number of replies with continues when the call set
 * "more". Returns 0, or a negative errno: if nothing final was sent yet, the
 * dispatcher sends the internal error for it. Returning -EINVAL after a vl_param_*()
 * helper failed is the normal short path (the reply is already out). */
typedef int vl_handler_fn(vl_call_ctx *ctx, json_t *parameters, void *userdata);

typedef struct vl_method {
	const char *name;       /* "Status": [A-Z][A-Za-z0-9]* */
	vl_handler_fn *handler;
	unsigned flags;         /* the caller's own; see vl_call_ctx_flags() */
} vl_method;

/* 0 allows; -EPERM (or any other non-zero value) denies. caller is what was given to
 * vl_service_dispatch(), e.g. the peer's credentials. */
typedef int vl_authorize_fn(void *caller, const char *interface, const char *method, void *ud);

/* Strings are copied. NULL on -ENOMEM or a NULL argument. */
vl_service *vl_service_new(const char *vendor, const char *product, const char *version, const char *url);
void vl_service_free(vl_service *svc);
/* Registers an interface: name is reverse-domain ("io.standingd.Ops"); idl is its
 * description text, served verbatim by GetInterfaceDescription (copied); methods[] is
 * copied, but the name strings and handlers must outlive the service (static tables);
 * userdata goes to every handler of the interface. 0, -EINVAL (bad or duplicate method
 * name, NULL handler, bad interface name), -EEXIST (interface already registered, or
 * org.varlink.service), -ENOMEM. */
int vl_service_add_interface(vl_service *svc, const char *name, const char *idl,
			     const vl_method *methods, size_t n, void *userdata);
/* NULL fn removes the hook (everything allowed). */
void vl_service_set_authorize(vl_service *svc, vl_authorize_fn *fn, void *ud);
/* Error names for denial and handler failure; NULL keeps the current one. Copied.
 * 0, -EINVAL (not "interface.Name"), -ENOMEM. */
int vl_service_set_error_names(vl_service *svc, const char *permission_denied, const char *internal_error);

/* Answers one parsed call; every reply goes to send(ud, ...). caller is opaque, handed
 * to the authorize hook and to handlers (vl_call_ctx_caller()). Returns 0 when the call
 * was answered as intended, errors to the client included; a negative errno when the
 * service itself failed: -ENOMEM, or the handler's error when it returned one without
 * replying (the daemon logs these). */
int vl_service_dispatch(vl_service *svc, const vl_call *call, vl_send_fn *send, void *ud, void *caller);
/* vl_call_parse() then vl_service_dispatch(); envelope errors are answered here.
 * Same return values; a rejected envelope returns 0. */
int vl_service_handle(vl_service *svc, const char *msg, size_t len, vl_send_fn *send, void *ud, void *caller);

/* ---- calls that take more than one step ----
 * Work that grows with the data (a list of 20,000 shipments) must not hold the
 * caller's loop in one go. A handler hands the rest of its work to a resume
 * function with vl_defer() and returns; the caller then runs the call in steps
 * (vl_pending_step), one bounded slice of work each, serving others between them.
 * vl_service_handle() and vl_service_dispatch() still answer a call completely
 * before they return (they run the steps themselves). */

/* A resume function's "not finished yet": call it again later. */
#define VL_AGAIN 1
/* One slice of the work: VL_AGAIN when more remains, 0 when the final reply was
 * sent, or a negative errno (the dispatcher sends the internal error, as for a
 * handler). */
typedef int vl_resume_fn(vl_call_ctx *ctx, void *state);
typedef void vl_state_free_fn(void *state);

/* From inside a handler: the call goes on in resume(ctx, state) after the handler
 * returns 0. state is the caller's; free_state(state) runs once the call is over
 * (answered, failed or dropped) and also when vl_defer fails. 0; -EALREADY (the
 * call was answered already), -EINVAL (deferred twice, NULL resume). */
int vl_defer(vl_call_ctx *ctx, vl_resume_fn *resume, void *state, vl_state_free_fn *free_state);

/* A call that was started and not answered yet. It owns the parsed message (so a
 * handler's state may point into its parameters). send/ud must stay valid until
 * it is answered or freed. */
typedef struct vl_pending vl_pending;
/* The send callback takes a reply in pieces (bytes in order; a message ends at its
 * NUL), so a long reply goes out as it is built instead of in one copy at the end. */
#define VL_START_PIECES 1u
/* vl_service_handle() that returns after the handler: same return values; when the
 * handler deferred, *ret_pending is the call to step (else NULL). flags: 0 or
 * VL_START_PIECES. */
int vl_service_start(vl_service *svc, const char *msg, size_t len, vl_send_fn *send, void *ud, void *caller,
		     unsigned flags, vl_pending **ret_pending);
/* The flags of the method a parsed call names (its vl_method's), 0 when the service
 * has no such method (org.varlink.service's included). Only reads the registry: a
 * service that is not changed any more may be asked from any thread. */
unsigned vl_service_method_flags(vl_service *svc, const vl_call *call);
/* vl_service_dispatch() of a parsed call (borrowed) with vl_service_start()'s
 * flags: answers it completely, its steps in a row, without the caller's loop. The
 * dispatch touches no shared state of the service, so calls may be run on several
 * threads at once when their handlers allow it. Same returns as vl_pending_step(). */
int vl_service_run(vl_service *svc, const vl_call *call, vl_send_fn *send, void *ud, void *caller, unsigned flags);
/* Runs one slice: VL_AGAIN when more remains; 0 when the call is answered; a
 * negative errno as vl_service_dispatch() returns it (the final error was sent);
 * -EPIPE when the call failed after part of a reply had gone out in pieces: no
 * valid message can follow on that stream, close the connection. After 0 or an
 * error only vl_pending_free() may be called. */
int vl_pending_step(vl_pending *p);
/* Drops the call (answered or not: a closed connection), freeing its state. NULL ok. */
void vl_pending_free(vl_pending *p);

/* ---- lists encoded item by item ----
 * A reply {"parameters":{KEY:[ITEM,...]}} (with ,"continues":true for a streamed
 * part) assembled from items encoded one at a time: the same bytes vl_reply()
 * sends for the whole tree, without ever holding the tree. KEY: [a-z_]+. */
typedef struct vl_list {
	const char *key;       /* borrowed */
	char *buf;
	size_t len, cap;
	size_t n;              /* items in this part */
	bool open;             /* the part's head is written (maybe already sent) */
} vl_list;

/* An item as compact JSON text, exactly as it appears inside a reply; malloc'd,
 * NUL-terminated, *ret_len without the NUL. 0, -ENOMEM. item is borrowed. */
int vl_item_encode(json_t *item, char **ret, size_t *ret_len);
/* Makes room for bytes more of items (and their commas) at once, so that a long
 * part grows without copying itself over and over. 0, -ENOMEM. */
int vl_list_reserve(vl_list *l, size_t bytes);
/* Appends an encoded item. 0, -EINVAL (bad key), -ENOMEM. */
int vl_list_add(vl_list *l, const char *item, size_t len);
/* Sends the items added since the last send as one reply (continues as vl_reply())
 * and starts the next part empty. Same returns as vl_reply(). */
int vl_list_send(vl_call_ctx *ctx, vl_list *l, bool continues);
/* When the call's caller takes pieces (VL_START_PIECES): sends what the part holds
 * so far, without its end, and empties the buffer; until vl_list_send() ends the
 * part, vl_reply() and vl_error() refuse (-EBUSY). Otherwise does nothing. 0, -EALREADY. */
int vl_list_flush(vl_call_ctx *ctx, vl_list *l);
/* Whether vl_list_flush() sends. */
bool vl_call_ctx_pieces(const vl_call_ctx *ctx);
void vl_list_clear(vl_list *l);   /* frees buf; key kept */

/* ---- inside a handler ---- */

bool vl_call_ctx_more(const vl_call_ctx *ctx);
bool vl_call_ctx_oneway(const vl_call_ctx *ctx);
void *vl_call_ctx_caller(const vl_call_ctx *ctx);
const char *vl_call_ctx_method(const vl_call_ctx *ctx);   /* full "iface.Method" */
unsigned vl_call_ctx_flags(const vl_call_ctx *ctx);       /* vl_method.flags */

/* Sends a reply (params borrowed, NULL = {}). continues=true needs a call with "more".
 * For a oneway call nothing is sent and 0 returned. 0; -EINVAL (continues without
 * "more", params not an object); -EALREADY (a final reply was already sent); -ENOMEM. */
int vl_reply(vl_call_ctx *ctx, json_t *params, bool continues);
/* The reply {"parameters":{key:value}} of one member whose value is compact JSON
 * text already written (jsonw): the bytes vl_reply() sends for that object. key:
 * [a-z_]+. Same returns as vl_reply(). */
int vl_reply_member(vl_call_ctx *ctx, const char *key, const char *value, size_t len);
/* Sends a final error reply. Same returns; -EINVAL also for a bad error name. */
int vl_error(vl_call_ctx *ctx, const char *error, json_t *params);
/* Sends the service's InternalError {"errno": N}, N the positive errno(3) number
 * whether err is -ENOSPC or ENOSPC: the one place that encodes it. Same returns as
 * vl_error(). */
int vl_internal_error(vl_call_ctx *ctx, int err);
/* Sends InvalidParameter {"parameter": name} and returns -EINVAL, so that a handler can
 * write `return vl_invalid_parameter(ctx, "from");`. */
int vl_invalid_parameter(vl_call_ctx *ctx, const char *name);

/* Parameter helpers. Each returns 1 when the key is present, 0 when it is absent or null
 * and not required (*ret untouched: set the default before), or -EINVAL after having
 * sent InvalidParameter naming key (wrong type; absent or null but required). */
int vl_param_string(vl_call_ctx *ctx, json_t *params, const char *key, bool required, const char **ret);
/* JSON integers only (no 1.0, no "1"). */
int vl_param_int(vl_call_ctx *ctx, json_t *params, const char *key, bool required, int64_t *ret);
int vl_param_bool(vl_call_ctx *ctx, json_t *params, const char *key, bool required, bool *ret);
/* Borrowed from params. */
int vl_param_object(vl_call_ctx *ctx, json_t *params, const char *key, bool required, json_t **ret);
int vl_param_array(vl_call_ctx *ctx, json_t *params, const char *key, bool required, json_t **ret);
/* allowed: NULL-terminated list of keys. 0, or -EINVAL after InvalidParameter naming
 * the first key of params (in message order) that is not in the list. */
int vl_params_check(vl_call_ctx *ctx, json_t *params, const char *const allowed[]);
