/* Tests for lib/varlink/varlink.c: framing, envelope validation and dispatch, checked against
 * the exact bytes a client receives; then 10,000 mutated messages through reader,
 * parser and dispatcher, every output checked for well-formedness. Seed:
 * $STANDINGD_TEST_SEED (printed), fixed by default. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "tests/unit/testutil.h"
#include "lib/varlink/varlink.h"

/* ---- an output sink that checks every message it gets ---- */

typedef struct out {
	char **msg;     /* without the NUL delimiter */
	size_t n, cap;
	bool keep;      /* false: check and count only (fuzzing) */
	size_t errors, replies;
} out;

static void out_send(void *ud, const char *buf, size_t len) {
	out *o = ud;
	json_error_t e;
	json_t *j, *p, *err, *cont;

	/* One message, its delimiter last and nowhere else. */
	assert_true(len >= 2);
	assert_int_equal(buf[len - 1], '\0');
	assert_int_equal(strlen(buf), len - 1);
	j = json_loads(buf, JSON_REJECT_DUPLICATES, &e);
	assert_non_null(j);
	assert_true(json_is_object(j));
	p = json_object_get(j, "parameters");
	assert_true(json_is_object(p));
	err = json_object_get(j, "error");
	cont = json_object_get(j, "continues");
	if (err) {
		assert_true(json_is_string(err));
		assert_null(cont);
		assert_int_equal(json_object_size(j), 2);
		o->errors++;
	} else {
		assert_true(!cont || json_is_true(cont));
		assert_int_equal(json_object_size(j), cont ? 2 : 1);
		o->replies++;
	}
	json_decref(j);

	if (!o->keep)
		return;
	if (o->n == o->cap) {
		o->cap = o->cap ? o->cap * 2 : 8;
		o->msg = realloc(o->msg, o->cap * sizeof(*o->msg));
		assert_non_null(o->msg);
	}
	o->msg[o->n] = strdup(buf);
	assert_non_null(o->msg[o->n]);
	o->n++;
}

static void out_clear(out *o) {
	for (size_t i = 0; i < o->n; i++)
		free(o->msg[i]);
	free(o->msg);
	*o = (out) { .keep = true };
}

/* ---- a service to call ---- */

static const char test_idl[] =
	"# Calls for the dispatcher tests.\n"
	"interface io.standingd.Test\n"
	"\n"
	"method Echo(text: string, n: ?int, flag: ?bool, obj: ?object, list: ?[]string)\n"
	"  -> (text: string, n: int, flag: bool)\n"
	"method Count(n: int, fail_at: ?int) -> (i: int)\n"
	"method Fail() -> ()\n"
	"method Silent() -> ()\n"
	"method Secret() -> ()\n"
	"method Misuse() -> ()\n"
	"method Internal(err: int) -> ()\n";

static const char other_idl[] = "interface io.standingd.Other\n\nmethod Ping() -> ()\n";

static int other_userdata;
static int last_misuse[4];
static void *last_caller;
static int authorize_calls;

static int h_echo(vl_call_ctx *ctx, json_t *params, void *userdata) {
	static const char *const allowed[] = { "text", "n", "flag", "obj", "list", NULL };
	const char *text = NULL;
	int64_t n = 0;
	bool flag = false;
	json_t *obj = NULL, *list = NULL, *reply;
	int r;

	(void) userdata;
	if ((r = vl_params_check(ctx, params, allowed)) < 0 ||
	    (r = vl_param_string(ctx, params, "text", true, &text)) < 0 ||
	    (r = vl_param_int(ctx, params, "n", false, &n)) < 0 ||
	    (r = vl_param_bool(ctx, params, "flag", false, &flag)) < 0 ||
	    (r = vl_param_object(ctx, params, "obj", false, &obj)) < 0 ||
	    (r = vl_param_array(ctx, params, "list", false, &list)) < 0)
		return r;
	reply = json_pack("{s:s,s:I,s:b}", "text", text, "n", (json_int_t) n, "flag", flag);
	assert_non_null(reply);
	r = vl_reply(ctx, reply, false);
	json_decref(reply);
	return r;
}

static int h_count(vl_call_ctx *ctx, json_t *params, void *userdata) {
	int64_t n = 0, fail_at = -1;
	int r;

	(void) userdata;
	if ((r = vl_param_int(ctx, params, "n", true, &n)) < 0 ||
	    (r = vl_param_int(ctx, params, "fail_at", false, &fail_at)) < 0)
		return r;
	if (n < 1 || n > 100)
		return vl_invalid_parameter(ctx, "n");
	if (!vl_call_ctx_more(ctx))
		return vl_error(ctx, VL_ERROR_EXPECTED_MORE, NULL);
	for (int64_t i = 0; i < n; i++) {
		json_t *p;
		if (i == fail_at)
			return -EIO;
		p = json_pack("{s:I}", "i", (json_int_t) i);
		assert_non_null(p);
		r = vl_reply(ctx, p, i < n - 1);
		json_decref(p);
		if (r < 0)
			return r;
	}
	return 0;
}

static int h_fail(vl_call_ctx *ctx, json_t *params, void *userdata) {
	(void) ctx, (void) params, (void) userdata;
	return -EIO;
}

/* A handler that reports an error itself, with either sign. */
static int h_internal(vl_call_ctx *ctx, json_t *params, void *userdata) {
	int64_t err = 0;
	(void) userdata;
	vl_param_int(ctx, params, "err", true, &err);
	return vl_internal_error(ctx, (int) err);
}

static int h_silent(vl_call_ctx *ctx, json_t *params, void *userdata) {
	(void) ctx, (void) params, (void) userdata;
	return 0;
}

static int h_secret(vl_call_ctx *ctx, json_t *params, void *userdata) {
	(void) params, (void) userdata;
	return vl_reply(ctx, NULL, false);
}

static int h_misuse(vl_call_ctx *ctx, json_t *params, void *userdata) {
	json_t *arr = json_array();

	(void) params, (void) userdata;
	last_misuse[0] = vl_reply(ctx, NULL, true);           /* no "more" */
	last_misuse[1] = vl_reply(ctx, arr, false);           /* not an object */
	last_misuse[2] = vl_reply(ctx, NULL, false);          /* fine */
	last_misuse[3] = vl_error(ctx, "io.standingd.X", NULL); /* too late */
	json_decref(arr);
	return 0;
}

static int h_ping(vl_call_ctx *ctx, json_t *params, void *userdata) {
	(void) params;
	assert_ptr_equal(userdata, &other_userdata);
	assert_int_equal(vl_call_ctx_flags(ctx), 7);
	assert_string_equal(vl_call_ctx_method(ctx), "io.standingd.Other.Ping");
	return vl_reply(ctx, NULL, false);
}

static int authorize(void *caller, const char *interface, const char *method, void *ud) {
	(void) ud;
	authorize_calls++;
	last_caller = caller;
	assert_string_not_equal(interface, VL_SERVICE_INTERFACE);
	return strcmp(method, "Secret") == 0 ? -EPERM : 0;
}

static const vl_method test_methods[] = {
	{ "Echo", h_echo, 0 },
	{ "Count", h_count, 0 },
	{ "Fail", h_fail, 0 },
	{ "Silent", h_silent, 0 },
	{ "Secret", h_secret, 0 },
	{ "Misuse", h_misuse, 0 },
	{ "Internal", h_internal, 0 },
};

static const vl_method other_methods[] = {
	{ "Ping", h_ping, 7 },
};

static vl_service *make_service(void) {
	vl_service *svc = vl_service_new("standingd project", "standingd", "0.1.0",
					 "https://example.org/standingd");
	assert_non_null(svc);
	assert_int_equal(vl_service_add_interface(svc, "io.standingd.Test", test_idl, test_methods,
						  sizeof(test_methods) / sizeof(test_methods[0]), NULL), 0);
	assert_int_equal(vl_service_add_interface(svc, "io.standingd.Other", other_idl, other_methods,
						  1, &other_userdata), 0);
	vl_service_set_authorize(svc, authorize, NULL);
	return svc;
}

static int caller_token;

/* Sends msg (len = strlen) and returns what vl_service_handle() returned. */
static int call(vl_service *svc, out *o, const char *msg) {
	return vl_service_handle(svc, msg, strlen(msg), out_send, o, &caller_token);
}

/* One call that must produce exactly one message, equal to want. */
static void expect1(vl_service *svc, const char *msg, const char *want) {
	out o = { .keep = true };
	int r = call(svc, &o, msg);

	if (o.n != 1 || strcmp(o.msg[0], want) != 0)
		print_error("call: %s\nwant: %s\ngot:  %s (%zu messages)\n", msg, want,
			    o.n ? o.msg[0] : "(nothing)", o.n);
	assert_int_equal(r, 0);
	assert_int_equal(o.n, 1);
	assert_string_equal(o.msg[0], want);
	out_clear(&o);
}

#define INVALID(p) "{\"error\":\"org.varlink.service.InvalidParameter\",\"parameters\":{\"parameter\":\"" p "\"}}"

/* ---- reader ---- */

static void test_reader_several(void **state) {
	static const char in[] = "a\0bb\0\0ccc\0dd";
	const char *m;
	size_t n;
	vl_reader r;

	(void) state;
	vl_reader_init(&r, 100);
	assert_int_equal(vl_reader_next(&r, &m, &n), 0);
	assert_int_equal(vl_reader_feed(&r, in, sizeof(in) - 1), 0);
	assert_int_equal(vl_reader_next(&r, &m, &n), 1);
	assert_int_equal(n, 1);
	assert_string_equal(m, "a");
	assert_int_equal(vl_reader_next(&r, &m, &n), 1);
	assert_int_equal(n, 2);
	assert_memory_equal(m, "bb", 2);
	assert_int_equal(vl_reader_next(&r, &m, &n), 1);  /* the empty message */
	assert_int_equal(n, 0);
	assert_int_equal(vl_reader_next(&r, &m, &n), 1);
	assert_int_equal(n, 3);
	assert_string_equal(m, "ccc");
	assert_int_equal(vl_reader_next(&r, &m, &n), 0);
	assert_int_equal(vl_reader_pending(&r), 2);
	assert_int_equal(vl_reader_feed(&r, "d\0e", 3), 0);
	assert_int_equal(vl_reader_next(&r, &m, &n), 1);
	assert_int_equal(n, 3);
	assert_string_equal(m, "ddd");
	assert_int_equal(vl_reader_next(&r, &m, &n), 0);
	assert_int_equal(vl_reader_pending(&r), 1);
	vl_reader_free(&r);
	vl_reader_free(NULL);
}

static void test_reader_bytewise(void **state) {
	vl_service *svc = make_service();
	out o = { .keep = true };
	char *msg;
	size_t len;
	const char *m;
	size_t n;
	vl_reader r;
	int got = 0;

	(void) state;
	/* A real call with a long string, delivered one byte per read. */
	len = 5000;
	msg = malloc(len + 1);
	assert_non_null(msg);
	memset(msg, 'x', len);
	static const char head[] = "{\"method\":\"io.standingd.Test.Echo\",\"parameters\":{\"text\":\"";
	memcpy(msg, head, sizeof(head) - 1);
	memcpy(msg + len - 3, "\"}}", 3);
	msg[len] = '\0';
	vl_reader_init(&r, 1 << 20);
	for (size_t i = 0; i <= len; i++) {
		assert_int_equal(vl_reader_feed(&r, msg + i, 1), 0);
		int k = vl_reader_next(&r, &m, &n);
		if (i < len) {
			assert_int_equal(k, 0);
			continue;
		}
		assert_int_equal(k, 1);
		assert_int_equal(n, len);
		assert_memory_equal(m, msg, len);
		assert_int_equal(vl_service_handle(svc, m, n, out_send, &o, NULL), 0);
		got++;
	}
	assert_int_equal(got, 1);
	assert_int_equal(o.n, 1);
	assert_int_equal(strncmp(o.msg[0], "{\"parameters\":{\"text\":\"xxx", 26), 0);
	assert_int_equal(vl_reader_pending(&r), 0);
	vl_reader_free(&r);
	free(msg);
	out_clear(&o);
	vl_service_free(svc);
}

/* A quadratic rescan would take minutes here: a 1 MiB message in 64 KiB pieces and a
 * 256 KiB one in single bytes, then a pipelined burst of small ones. */
static void test_reader_large(void **state) {
	const size_t max = 1 << 20;
	char *big = malloc(max + 1);
	const char *m;
	size_t n;
	vl_reader r;

	(void) state;
	assert_non_null(big);
	memset(big, 'y', max);
	big[max] = '\0';
	vl_reader_init(&r, max);
	for (size_t off = 0; off < max + 1; off += 65536) {
		size_t k = max + 1 - off < 65536 ? max + 1 - off : 65536;
		assert_int_equal(vl_reader_feed(&r, big + off, k), 0);
		assert_int_equal(vl_reader_next(&r, &m, &n), off + k == max + 1 ? 1 : 0);
	}
	assert_int_equal(n, max);
	assert_ptr_not_equal(memchr(m, 'y', 1), NULL);
	assert_int_equal(vl_reader_next(&r, &m, &n), 0);

	big[max / 4] = '\0';
	for (size_t i = 0; i <= max / 4; i++) {
		assert_int_equal(vl_reader_feed(&r, big + i, 1), 0);
		assert_int_equal(vl_reader_next(&r, &m, &n), i == max / 4 ? 1 : 0);
	}
	assert_int_equal(n, max / 4);

	/* 100,000 pipelined messages "y\0" in one feed */
	for (size_t i = 0; i < 200000; i += 2) {
		big[i] = 'y';
		big[i + 1] = '\0';
	}
	assert_int_equal(vl_reader_feed(&r, big, 200000), 0);
	for (int i = 0; i < 100000; i++) {
		assert_int_equal(vl_reader_next(&r, &m, &n), 1);
		assert_int_equal(n, 1);
	}
	assert_int_equal(vl_reader_next(&r, &m, &n), 0);
	vl_reader_free(&r);
	free(big);
}

static void test_reader_max(void **state) {
	char buf[40];
	const char *m;
	size_t n;
	vl_reader r;

	(void) state;
	memset(buf, 'z', sizeof(buf));

	/* exactly max bytes, then its NUL: accepted */
	vl_reader_init(&r, 16);
	assert_int_equal(vl_reader_feed(&r, buf, 16), 0);
	assert_int_equal(vl_reader_next(&r, &m, &n), 0);   /* the NUL may still come */
	assert_int_equal(vl_reader_feed(&r, "\0", 1), 0);
	assert_int_equal(vl_reader_next(&r, &m, &n), 1);
	assert_int_equal(n, 16);
	/* max + 1 bytes: refused as soon as the 17th byte arrives, without waiting */
	assert_int_equal(vl_reader_feed(&r, buf, 17), 0);
	assert_int_equal(vl_reader_next(&r, &m, &n), -EMSGSIZE);
	/* sticky */
	assert_int_equal(vl_reader_feed(&r, "\0{}\0", 4), 0);
	assert_int_equal(vl_reader_next(&r, &m, &n), -EMSGSIZE);
	vl_reader_free(&r);

	/* max + 1 bytes with the NUL in the same feed; a short message before it is
	 * still delivered first */
	vl_reader_init(&r, 16);
	memcpy(buf, "ok\0", 3);
	buf[3 + 17] = '\0';
	assert_int_equal(vl_reader_feed(&r, buf, 3 + 18), 0);
	assert_int_equal(vl_reader_next(&r, &m, &n), 1);
	assert_string_equal(m, "ok");
	assert_int_equal(vl_reader_next(&r, &m, &n), -EMSGSIZE);
	vl_reader_free(&r);

	/* exactly max with the NUL in the same feed */
	vl_reader_init(&r, 16);
	memset(buf, 'z', sizeof(buf));
	buf[16] = '\0';
	assert_int_equal(vl_reader_feed(&r, buf, 17), 0);
	assert_int_equal(vl_reader_next(&r, &m, &n), 1);
	assert_int_equal(n, 16);
	vl_reader_free(&r);

	/* what the daemon sends before closing */
	out o = { .keep = true };
	assert_int_equal(vl_send_invalid_parameter(out_send, &o, VL_PARAM_MESSAGE), 0);
	assert_int_equal(o.n, 1);
	assert_string_equal(o.msg[0], INVALID("<message>"));
	out_clear(&o);
}

/* ---- envelope ---- */

static void test_envelope(void **state) {
	static const struct { const char *in, *want; } cases[] = {
		{ "", INVALID("<message>") },
		{ " ", INVALID("<message>") },
		{ "{", INVALID("<message>") },
		{ "[]", INVALID("<message>") },
		{ "\"io.a.B\"", INVALID("<message>") },
		{ "null", INVALID("<message>") },
		{ "{} x", INVALID("<message>") },
		{ "{\"method\":\"io.a.B\",\"method\":\"io.a.C\"}", INVALID("<message>") },
		{ "{\"method\":\"io.standingd.Test.Echo\",\"parameters\":{\"text\":\"\\u0000\"}}", INVALID("<message>") },
		{ "{\"method\":\"io.standingd.Test.Echo\",\"parameters\":{\"text\":\"\xff\"}}", INVALID("<message>") },
		{ "{\"method\":\"io.standingd.Test.Echo\",\"parameters\":{\"text\":\"\xc3\"}}", INVALID("<message>") },
		{ "{\"method\":\"io.standingd.Test.Echo\",\"parameters\":{\"text\":\"a\",\"n\":123456789012345678901234567890}}", INVALID("<message>") },
		{ "{\"method\":\"io.standingd.Test.Echo\",\"parameters\":{\"text\":\"a\",\"n\":1e999}}", INVALID("<message>") },
		{ "{}", INVALID("method") },
		{ "{\"method\":null}", INVALID("method") },
		{ "{\"method\":1}", INVALID("method") },
		{ "{\"method\":\"\"}", INVALID("method") },
		{ "{\"method\":\"Echo\"}", INVALID("method") },
		{ "{\"method\":\"standingd.Echo\"}", INVALID("method") },   /* one-segment interface */
		{ "{\"method\":\"io.standingd.Test.echo\"}", INVALID("method") },
		{ "{\"method\":\"io.standingd.Test.\"}", INVALID("method") },
		{ "{\"method\":\"io.standingd.Test.Ec-ho\"}", INVALID("method") },
		{ "{\"method\":\".standingd.Test.Echo\"}", INVALID("method") },
		{ "{\"method\":\"io..Test.Echo\"}", INVALID("method") },
		{ "{\"method\":\"1o.standingd.Echo\"}", INVALID("method") },
		{ "{\"method\":\"io.standingd-.Echo\"}", INVALID("method") },
		{ "{\"method\":\"io.-standingd.Echo\"}", INVALID("method") },
		{ "{\"method\":\"io.stand_ingd.Echo\"}", INVALID("method") },
		{ "{\"method\":\" io.standingd.Test.Echo\"}", INVALID("method") },
		{ "{\"method\":\"io.standingd.Test.Echo\",\"parameters\":[]}", INVALID("parameters") },
		{ "{\"method\":\"io.standingd.Test.Echo\",\"parameters\":\"x\"}", INVALID("parameters") },
		{ "{\"method\":\"io.standingd.Test.Echo\",\"more\":1}", INVALID("more") },
		{ "{\"method\":\"io.standingd.Test.Echo\",\"oneway\":\"yes\"}", INVALID("oneway") },
		{ "{\"method\":\"io.standingd.Test.Echo\",\"upgrade\":0}", INVALID("upgrade") },
		{ "{\"method\":\"io.standingd.Test.Echo\",\"more\":true,\"oneway\":true}", INVALID("oneway") },
		{ "{\"method\":\"io.standingd.Test.Echo\",\"upgrade\":true}", INVALID("upgrade") },
		{ "{\"method\":\"org.varlink.service.GetInfo\",\"upgrade\":true}", INVALID("upgrade") },
		/* parameters null means {}; unknown envelope keys are ignored; flags may be null */
		{ "{\"method\":\"io.standingd.Test.Echo\",\"parameters\":null}", INVALID("text") },
		{ "{\"method\":\"io.standingd.Test.Echo\"}", INVALID("text") },
		{ "{\"method\":\"io.standingd.Test.Echo\",\"parameters\":{\"text\":\"hi\"},\"x-trace\":[1],\"more\":null}",
		  "{\"parameters\":{\"text\":\"hi\",\"n\":0,\"flag\":false}}" },
		{ "  {\"parameters\":{\"text\":\"{[\\\"\"},\"method\":\"io.standingd.Test.Echo\"}\n",
		  "{\"parameters\":{\"text\":\"{[\\\"\",\"n\":0,\"flag\":false}}" },
	};
	vl_service *svc = make_service();

	(void) state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect1(svc, cases[i].in, cases[i].want);

	/* the longest method name accepted, and one byte more */
	char name[VL_NAME_MAX + 2], msg[512];
	memset(name, 'a', sizeof(name));
	memcpy(name, "io.", 3);
	name[VL_NAME_MAX - 2] = '.';
	name[VL_NAME_MAX - 1] = 'M';
	name[VL_NAME_MAX] = '\0';
	snprintf(msg, sizeof(msg), "{\"method\":\"%s\"}", name);
	name[VL_NAME_MAX - 2] = '\0';
	char want[512];
	snprintf(want, sizeof(want),
		 "{\"error\":\"org.varlink.service.InterfaceNotFound\",\"parameters\":{\"interface\":\"%s\"}}", name);
	expect1(svc, msg, want);
	name[VL_NAME_MAX - 2] = 'a';
	name[VL_NAME_MAX - 1] = '.';
	name[VL_NAME_MAX] = 'M';
	name[VL_NAME_MAX + 1] = '\0';
	snprintf(msg, sizeof(msg), "{\"method\":\"%s\"}", name);
	expect1(svc, msg, INVALID("method"));

	/* a NUL inside the bytes handed over (bypassing the reader) */
	out o = { .keep = true };
	static const char withnul[] = "{\"method\":\"io.standingd.Test.Echo\",\0\"parameters\":{}}";
	assert_int_equal(vl_service_handle(svc, withnul, sizeof(withnul) - 1, out_send, &o, NULL), 0);
	assert_int_equal(o.n, 1);
	assert_string_equal(o.msg[0], INVALID("<message>"));
	out_clear(&o);

	/* vl_call_parse directly: fields, and *ret untouched on failure */
	vl_call c;
	const char *bad = NULL;
	static const char ok[] = "{\"method\":\"io.standingd.Ops.Status\",\"more\":true}";
	assert_int_equal(vl_call_parse(ok, strlen(ok), &c, &bad), 0);
	assert_null(bad);
	assert_string_equal(c.method, "io.standingd.Ops.Status");
	assert_string_equal(c.interface, "io.standingd.Ops");
	assert_string_equal(c.member, "Status");
	assert_true(json_is_object(c.parameters));
	assert_int_equal(json_object_size(c.parameters), 0);
	assert_true(c.more);
	assert_false(c.oneway);
	assert_false(c.upgrade);
	vl_call_clear(&c);
	vl_call_clear(&c);
	memset(&c, 0xa5, sizeof(c));
	assert_int_equal(vl_call_parse("{}", 2, &c, &bad), -EBADMSG);
	assert_string_equal(bad, "method");
	assert_int_equal(*(unsigned char *) &c, 0xa5);
	vl_service_free(svc);
}

/* Nesting: VL_MAX_DEPTH levels pass, one more does not; brackets in strings, even after
 * an escaped quote, do not count. */
static void test_depth(void **state) {
	vl_service *svc = make_service();
	char msg[1024];
	size_t k;

	(void) state;
	for (int depth = VL_MAX_DEPTH; depth <= VL_MAX_DEPTH + 1; depth++) {
		/* root (1) > parameters (2) > obj (3) > "a" ... */
		k = (size_t) snprintf(msg, sizeof(msg),
				      "{\"method\":\"io.standingd.Test.Echo\",\"parameters\":{\"text\":\"\\\"[[[[{{{{\",\"obj\":");
		for (int i = 3; i <= depth; i++)
			k += (size_t) snprintf(msg + k, sizeof(msg) - k, "{\"a\":");
		k += (size_t) snprintf(msg + k, sizeof(msg) - k, "1");
		for (int i = 3; i <= depth; i++)
			msg[k++] = '}';
		msg[k] = '\0';
		strcat(msg, "}}");
		expect1(svc, msg, depth <= VL_MAX_DEPTH
			? "{\"parameters\":{\"text\":\"\\\"[[[[{{{{\",\"n\":0,\"flag\":false}}"
			: INVALID("<message>"));
	}
	/* 100,000 levels: refused before any recursion */
	size_t n = 200000;
	char *deep = malloc(n + 1);
	assert_non_null(deep);
	memset(deep, '[', n / 2);
	memset(deep + n / 2, ']', n / 2);
	deep[n] = '\0';
	expect1(svc, deep, INVALID("<message>"));
	free(deep);
	vl_service_free(svc);
}

/* ---- org.varlink.service ---- */

static void test_get_info(void **state) {
	vl_service *svc = make_service();

	(void) state;
	authorize_calls = 0;
	expect1(svc, "{\"method\":\"org.varlink.service.GetInfo\"}",
		"{\"parameters\":{\"vendor\":\"standingd project\",\"product\":\"standingd\","
		"\"version\":\"0.1.0\",\"url\":\"https://example.org/standingd\","
		"\"interfaces\":[\"org.varlink.service\",\"io.standingd.Test\",\"io.standingd.Other\"]}}");
	expect1(svc, "{\"method\":\"org.varlink.service.GetInfo\",\"parameters\":{},\"more\":true}",
		"{\"parameters\":{\"vendor\":\"standingd project\",\"product\":\"standingd\","
		"\"version\":\"0.1.0\",\"url\":\"https://example.org/standingd\","
		"\"interfaces\":[\"org.varlink.service\",\"io.standingd.Test\",\"io.standingd.Other\"]}}");
	expect1(svc, "{\"method\":\"org.varlink.service.GetInfo\",\"parameters\":{\"x\":1}}", INVALID("x"));
	assert_int_equal(authorize_calls, 0);
	vl_service_free(svc);
}

static char *description(vl_service *svc, const char *interface) {
	char msg[256];
	out o = { .keep = true };
	json_t *j;
	char *d;

	snprintf(msg, sizeof(msg),
		 "{\"method\":\"org.varlink.service.GetInterfaceDescription\",\"parameters\":{\"interface\":\"%s\"}}",
		 interface);
	assert_int_equal(call(svc, &o, msg), 0);
	assert_int_equal(o.n, 1);
	j = json_loads(o.msg[0], 0, NULL);
	assert_non_null(j);
	assert_int_equal(json_object_size(j), 1);
	d = strdup(json_string_value(json_object_get(json_object_get(j, "parameters"), "description")));
	assert_non_null(d);
	json_decref(j);
	out_clear(&o);
	return d;
}

static void test_get_interface_description(void **state) {
	vl_service *svc = make_service();
	char *d;

	(void) state;
	d = description(svc, "io.standingd.Test");
	assert_string_equal(d, test_idl);
	free(d);
	expect1(svc, "{\"method\":\"org.varlink.service.GetInterfaceDescription\",\"parameters\":{\"interface\":\"io.standingd.Other\"}}",
		"{\"parameters\":{\"description\":\"interface io.standingd.Other\\n\\nmethod Ping() -> ()\\n\"}}");

	/* the standard interface: every member the specification lists, in IDL form */
	static const char *const decls[] = {
		"\ninterface org.varlink.service\n",
		"\nmethod GetInfo() -> (\n",
		"vendor: string,", "product: string,", "version: string,", "url: string,",
		"interfaces: []string\n)\n",
		"\nmethod GetInterfaceDescription(interface: string) -> (description: string)\n",
		"\nerror InterfaceNotFound (interface: string)\n",
		"\nerror MethodNotFound (method: string)\n",
		"\nerror MethodNotImplemented (method: string)\n",
		"\nerror InvalidParameter (parameter: string)\n",
		"\nerror PermissionDenied ()\n",
		"\nerror ExpectedMore ()\n",
	};
	d = description(svc, "org.varlink.service");
	for (size_t i = 0; i < sizeof(decls) / sizeof(decls[0]); i++)
		if (!strstr(d, decls[i]))
			fail_msg("org.varlink.service description lacks \"%s\"", decls[i]);
	free(d);

	expect1(svc, "{\"method\":\"org.varlink.service.GetInterfaceDescription\",\"parameters\":{\"interface\":\"io.nope.X\"}}",
		"{\"error\":\"org.varlink.service.InterfaceNotFound\",\"parameters\":{\"interface\":\"io.nope.X\"}}");
	expect1(svc, "{\"method\":\"org.varlink.service.GetInterfaceDescription\"}", INVALID("interface"));
	expect1(svc, "{\"method\":\"org.varlink.service.GetInterfaceDescription\",\"parameters\":{\"interface\":7}}",
		INVALID("interface"));
	expect1(svc, "{\"method\":\"org.varlink.service.GetInterfaceDescription\",\"parameters\":{\"interface\":\"io.standingd.Test\",\"verbose\":true}}",
		INVALID("verbose"));
	vl_service_free(svc);
}

static void test_not_found(void **state) {
	vl_service *svc = make_service();

	(void) state;
	authorize_calls = 0;
	expect1(svc, "{\"method\":\"io.standingd.Test.Nope\"}",
		"{\"error\":\"org.varlink.service.MethodNotFound\",\"parameters\":{\"method\":\"io.standingd.Test.Nope\"}}");
	expect1(svc, "{\"method\":\"org.varlink.service.Nope\"}",
		"{\"error\":\"org.varlink.service.MethodNotFound\",\"parameters\":{\"method\":\"org.varlink.service.Nope\"}}");
	expect1(svc, "{\"method\":\"io.standingd.Nope.Echo\"}",
		"{\"error\":\"org.varlink.service.InterfaceNotFound\",\"parameters\":{\"interface\":\"io.standingd.Nope\"}}");
	/* an interface name is matched whole, not by prefix */
	expect1(svc, "{\"method\":\"io.standingd.Tes.Echo\"}",
		"{\"error\":\"org.varlink.service.InterfaceNotFound\",\"parameters\":{\"interface\":\"io.standingd.Tes\"}}");
	assert_int_equal(authorize_calls, 0);
	vl_service_free(svc);
}

/* ---- calls ---- */

static void test_oneway(void **state) {
	vl_service *svc = make_service();
	out o = { .keep = true };

	(void) state;
	assert_int_equal(call(svc, &o, "{\"method\":\"io.standingd.Test.Echo\",\"parameters\":{\"text\":\"a\"},\"oneway\":true}"), 0);
	assert_int_equal(call(svc, &o, "{\"method\":\"io.standingd.Test.Echo\",\"oneway\":true}"), 0);
	assert_int_equal(call(svc, &o, "{\"method\":\"io.standingd.Test.Nope\",\"oneway\":true}"), 0);
	assert_int_equal(call(svc, &o, "{\"method\":\"io.nope.X.Y\",\"oneway\":true}"), 0);
	assert_int_equal(call(svc, &o, "{\"method\":\"io.standingd.Test.Secret\",\"oneway\":true}"), 0);
	assert_int_equal(call(svc, &o, "{\"method\":\"io.standingd.Test.Silent\",\"oneway\":true}"), 0);
	assert_int_equal(call(svc, &o, "{\"method\":\"org.varlink.service.GetInfo\",\"oneway\":true}"), 0);
	/* the failure is still reported to the daemon, which logs it */
	assert_int_equal(call(svc, &o, "{\"method\":\"io.standingd.Test.Fail\",\"oneway\":true}"), -EIO);
	assert_int_equal(o.n, 0);
	/* but a broken envelope is answered: its flags cannot be trusted */
	assert_int_equal(call(svc, &o, "{\"method\":\"io.standingd.Test.Echo\",\"oneway\":true,\"parameters\":1}"), 0);
	assert_int_equal(o.n, 1);
	assert_string_equal(o.msg[0], INVALID("parameters"));
	out_clear(&o);
	vl_service_free(svc);
}

static void test_streaming(void **state) {
	vl_service *svc = make_service();
	out o = { .keep = true };

	(void) state;
	assert_int_equal(call(svc, &o, "{\"method\":\"io.standingd.Test.Count\",\"parameters\":{\"n\":3},\"more\":true}"), 0);
	assert_int_equal(o.n, 3);
	assert_string_equal(o.msg[0], "{\"parameters\":{\"i\":0},\"continues\":true}");
	assert_string_equal(o.msg[1], "{\"parameters\":{\"i\":1},\"continues\":true}");
	assert_string_equal(o.msg[2], "{\"parameters\":{\"i\":2}}");
	out_clear(&o);

	/* a single item is one final reply */
	expect1(svc, "{\"method\":\"io.standingd.Test.Count\",\"parameters\":{\"n\":1},\"more\":true}",
		"{\"parameters\":{\"i\":0}}");
	expect1(svc, "{\"method\":\"io.standingd.Test.Count\",\"parameters\":{\"n\":3}}",
		"{\"error\":\"org.varlink.service.ExpectedMore\",\"parameters\":{}}");
	expect1(svc, "{\"method\":\"io.standingd.Test.Count\",\"parameters\":{\"n\":0},\"more\":true}", INVALID("n"));

	/* a handler failing mid-stream: the error ends the stream */
	assert_int_equal(call(svc, &o, "{\"method\":\"io.standingd.Test.Count\",\"parameters\":{\"n\":3,\"fail_at\":1},\"more\":true}"), -EIO);
	assert_int_equal(o.n, 2);
	assert_string_equal(o.msg[0], "{\"parameters\":{\"i\":0},\"continues\":true}");
	assert_string_equal(o.msg[1], "{\"error\":\"io.standingd.InternalError\",\"parameters\":{\"errno\":5}}");
	out_clear(&o);
	vl_service_free(svc);
}

static void test_authorize(void **state) {
	vl_service *svc = make_service();
	out o = { .keep = true };

	(void) state;
	authorize_calls = 0;
	last_caller = NULL;
	expect1(svc, "{\"method\":\"io.standingd.Test.Secret\"}",
		"{\"error\":\"io.standingd.PermissionDenied\",\"parameters\":{}}");
	assert_int_equal(authorize_calls, 1);
	assert_ptr_equal(last_caller, &caller_token);
	/* checked before the parameters are looked at */
	expect1(svc, "{\"method\":\"io.standingd.Test.Secret\",\"parameters\":{\"junk\":[]}}",
		"{\"error\":\"io.standingd.PermissionDenied\",\"parameters\":{}}");
	expect1(svc, "{\"method\":\"io.standingd.Test.Echo\",\"parameters\":{\"text\":\"a\"}}",
		"{\"parameters\":{\"text\":\"a\",\"n\":0,\"flag\":false}}");
	assert_int_equal(authorize_calls, 3);
	expect1(svc, "{\"method\":\"io.standingd.Other.Ping\"}", "{\"parameters\":{}}");

	assert_int_equal(vl_service_set_error_names(svc, "org.varlink.service.PermissionDenied", NULL), 0);
	expect1(svc, "{\"method\":\"io.standingd.Test.Secret\"}",
		"{\"error\":\"org.varlink.service.PermissionDenied\",\"parameters\":{}}");
	assert_int_equal(vl_service_set_error_names(svc, NULL, "io.example.Oops"), 0);
	assert_int_equal(call(svc, &o, "{\"method\":\"io.standingd.Test.Fail\"}"), -EIO);
	assert_string_equal(o.msg[0], "{\"error\":\"io.example.Oops\",\"parameters\":{\"errno\":5}}");
	out_clear(&o);
	assert_int_equal(vl_service_set_error_names(svc, "Denied", NULL), -EINVAL);
	assert_int_equal(vl_service_set_error_names(svc, NULL, "io.example.oops"), -EINVAL);

	/* no hook: allowed */
	vl_service_set_authorize(svc, NULL, NULL);
	expect1(svc, "{\"method\":\"io.standingd.Test.Secret\"}", "{\"parameters\":{}}");
	vl_service_free(svc);
}

static void test_handler_failures(void **state) {
	vl_service *svc = make_service();
	out o = { .keep = true };

	(void) state;
	assert_int_equal(call(svc, &o, "{\"method\":\"io.standingd.Test.Fail\"}"), -EIO);
	assert_int_equal(call(svc, &o, "{\"method\":\"io.standingd.Test.Silent\"}"), -EPROTO);
	assert_int_equal(o.n, 2);
	assert_string_equal(o.msg[0], "{\"error\":\"io.standingd.InternalError\",\"parameters\":{\"errno\":5}}");
	char want[128];
	snprintf(want, sizeof(want), "{\"error\":\"io.standingd.InternalError\",\"parameters\":{\"errno\":%d}}", EPROTO);
	assert_string_equal(o.msg[1], want);
	out_clear(&o);

	/* one errno convention on the wire: positive, whichever sign the handler had */
	char pos[128];
	snprintf(pos, sizeof(pos), "{\"error\":\"io.standingd.InternalError\",\"parameters\":{\"errno\":%d}}", ENOSPC);
	snprintf(want, sizeof(want), "{\"method\":\"io.standingd.Test.Internal\",\"parameters\":{\"err\":%d}}", -ENOSPC);
	expect1(svc, want, pos);
	snprintf(want, sizeof(want), "{\"method\":\"io.standingd.Test.Internal\",\"parameters\":{\"err\":%d}}", ENOSPC);
	expect1(svc, want, pos);

	/* misuse is refused without output; the one good reply goes out alone */
	assert_int_equal(call(svc, &o, "{\"method\":\"io.standingd.Test.Misuse\"}"), 0);
	assert_int_equal(last_misuse[0], -EINVAL);
	assert_int_equal(last_misuse[1], -EINVAL);
	assert_int_equal(last_misuse[2], 0);
	assert_int_equal(last_misuse[3], -EALREADY);
	assert_int_equal(o.n, 1);
	assert_string_equal(o.msg[0], "{\"parameters\":{}}");
	out_clear(&o);
	vl_service_free(svc);
}

static void test_params(void **state) {
	vl_service *svc = make_service();

	(void) state;
	/* UTF-8 passes through as is, not as \u escapes */
	expect1(svc, "{\"method\":\"io.standingd.Test.Echo\",\"parameters\":{\"text\":\"h\xc3\xa9llo \xe2\x9c\x93\",\"n\":-42,\"flag\":true,\"obj\":{},\"list\":[\"a\"]}}",
		"{\"parameters\":{\"text\":\"h\xc3\xa9llo \xe2\x9c\x93\",\"n\":-42,\"flag\":true}}");
	expect1(svc, "{\"method\":\"io.standingd.Test.Echo\",\"parameters\":{\"text\":\"\\u00e9\\\"\\\\\\n\"}}",
		"{\"parameters\":{\"text\":\"\xc3\xa9\\\"\\\\\\n\",\"n\":0,\"flag\":false}}");
	expect1(svc, "{\"method\":\"io.standingd.Test.Echo\",\"parameters\":{\"text\":\"a\",\"n\":9223372036854775807,\"flag\":null}}",
		"{\"parameters\":{\"text\":\"a\",\"n\":9223372036854775807,\"flag\":false}}");
	expect1(svc, "{\"method\":\"io.standingd.Test.Echo\",\"parameters\":{\"text\":1}}", INVALID("text"));
	expect1(svc, "{\"method\":\"io.standingd.Test.Echo\",\"parameters\":{\"text\":null}}", INVALID("text"));
	expect1(svc, "{\"method\":\"io.standingd.Test.Echo\",\"parameters\":{\"text\":\"a\",\"n\":1.5}}", INVALID("n"));
	expect1(svc, "{\"method\":\"io.standingd.Test.Echo\",\"parameters\":{\"text\":\"a\",\"n\":1.0}}", INVALID("n"));
	expect1(svc, "{\"method\":\"io.standingd.Test.Echo\",\"parameters\":{\"text\":\"a\",\"n\":\"1\"}}", INVALID("n"));
	expect1(svc, "{\"method\":\"io.standingd.Test.Echo\",\"parameters\":{\"text\":\"a\",\"flag\":1}}", INVALID("flag"));
	expect1(svc, "{\"method\":\"io.standingd.Test.Echo\",\"parameters\":{\"text\":\"a\",\"obj\":[]}}", INVALID("obj"));
	expect1(svc, "{\"method\":\"io.standingd.Test.Echo\",\"parameters\":{\"text\":\"a\",\"list\":{}}}", INVALID("list"));
	/* the first unknown key in message order, before any type check */
	expect1(svc, "{\"method\":\"io.standingd.Test.Echo\",\"parameters\":{\"text\":1,\"zz\":1,\"aa\":2}}", INVALID("zz"));
	vl_service_free(svc);
}

/* ---- encoding and registry ---- */

static void test_encode(void **state) {
	char *b;
	size_t n;
	json_t *p = json_pack("{s:s}", "k", "v"), *arr = json_array();

	(void) state;
	assert_int_equal(vl_reply_encode(NULL, false, &b, &n), 0);
	assert_int_equal(n, sizeof("{\"parameters\":{}}"));
	assert_memory_equal(b, "{\"parameters\":{}}", n);   /* the NUL included */
	free(b);
	assert_int_equal(vl_reply_encode(p, true, &b, &n), 0);
	assert_memory_equal(b, "{\"parameters\":{\"k\":\"v\"},\"continues\":true}", n);
	free(b);
	assert_int_equal(p->refcount, 1);   /* borrowed, not taken */
	assert_int_equal(vl_error_encode("io.standingd.Nope", p, &b, &n), 0);
	assert_memory_equal(b, "{\"error\":\"io.standingd.Nope\",\"parameters\":{\"k\":\"v\"}}", n);
	free(b);
	b = (char *) "untouched";
	assert_int_equal(vl_reply_encode(arr, false, &b, &n), -EINVAL);
	assert_int_equal(vl_error_encode("io.standingd.Nope", arr, &b, &n), -EINVAL);
	assert_int_equal(vl_error_encode("Nope", NULL, &b, &n), -EINVAL);
	assert_int_equal(vl_error_encode("io.standingd.nope", NULL, &b, &n), -EINVAL);
	assert_int_equal(vl_error_encode("io.standingd.", NULL, &b, &n), -EINVAL);
	assert_int_equal(vl_error_encode(NULL, NULL, &b, &n), -EINVAL);
	assert_string_equal(b, "untouched");
	json_decref(p);
	json_decref(arr);
}

/* The client's side: a call encoded is what vl_call_parse() reads back; replies the
 * service encodes parse back; bad replies are refused with the checks calls get. */
static void test_client(void **state) {
	char *b;
	size_t n;
	json_t *p = json_pack("{s:s}", "k", "v"), *arr = json_array();
	vl_call c;
	vl_reply_msg m;
	const char *bad;

	(void) state;
	assert_int_equal(vl_call_encode("io.standingd.Ops.Status", NULL, false, false, &b, &n), 0);
	assert_int_equal(n, sizeof("{\"method\":\"io.standingd.Ops.Status\",\"parameters\":{}}"));
	assert_memory_equal(b, "{\"method\":\"io.standingd.Ops.Status\",\"parameters\":{}}", n);
	free(b);
	assert_int_equal(vl_call_encode("a.b.C", p, true, false, &b, &n), 0);
	assert_memory_equal(b, "{\"method\":\"a.b.C\",\"parameters\":{\"k\":\"v\"},\"more\":true}", n);
	assert_int_equal(vl_call_parse(b, n - 1, &c, &bad), 0);
	assert_string_equal(c.method, "a.b.C");
	assert_true(c.more && !c.oneway && json_equal(c.parameters, p));
	vl_call_clear(&c);
	free(b);
	assert_int_equal(vl_call_encode("a.b.C", NULL, false, true, &b, &n), 0);
	assert_memory_equal(b, "{\"method\":\"a.b.C\",\"parameters\":{},\"oneway\":true}", n);
	free(b);
	assert_int_equal(p->refcount, 1);   /* borrowed */
	b = (char *) "untouched";
	assert_int_equal(vl_call_encode("a.b.C", NULL, true, true, &b, &n), -EINVAL);
	assert_int_equal(vl_call_encode("a.b.c", NULL, false, false, &b, &n), -EINVAL);
	assert_int_equal(vl_call_encode("Status", NULL, false, false, &b, &n), -EINVAL);
	assert_int_equal(vl_call_encode(NULL, NULL, false, false, &b, &n), -EINVAL);
	assert_int_equal(vl_call_encode("a.b.C", arr, false, false, &b, &n), -EINVAL);
	assert_string_equal(b, "untouched");

	assert_int_equal(vl_reply_encode(p, true, &b, &n), 0);
	assert_int_equal(vl_reply_parse(b, n - 1, &m), 0);
	assert_true(m.continues && !m.error && json_equal(m.parameters, p));
	vl_reply_msg_clear(&m);
	free(b);
	assert_int_equal(vl_error_encode("io.standingd.Nope", NULL, &b, &n), 0);
	assert_int_equal(vl_reply_parse(b, n - 1, &m), 0);
	assert_string_equal(m.error, "io.standingd.Nope");
	assert_false(m.continues);
	assert_int_equal(json_object_size(m.parameters), 0);
	vl_reply_msg_clear(&m);
	vl_reply_msg_clear(&m);   /* a zeroed one is fine */
	free(b);
	static const char ok_null[] = "{\"parameters\":null}";
	assert_int_equal(vl_reply_parse(ok_null, strlen(ok_null), &m), 0);
	assert_true(json_is_object(m.parameters));
	vl_reply_msg_clear(&m);

	static const char *const refused[] = {
		"", "[]", "5", "{\"parameters\":[]}", "{\"error\":5}", "{\"error\":\"Nope\"}",
		"{\"continues\":1}", "{\"parameters\":{}} x", "{\"parameters\":{},\"parameters\":{}}",
		"{\"parameters\":{\"k\":\"\xff\"}}",
	};
	m.error = "untouched";
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		assert_int_equal(vl_reply_parse(refused[i], strlen(refused[i]), &m), -EBADMSG);
	char deep[2 * (VL_MAX_DEPTH + 1) + 32];
	size_t k = (size_t) snprintf(deep, sizeof(deep), "{\"parameters\":");
	for (int i = 0; i < VL_MAX_DEPTH; i++)
		deep[k++] = '[';
	for (int i = 0; i < VL_MAX_DEPTH; i++)
		deep[k++] = ']';
	deep[k++] = '}';
	assert_int_equal(vl_reply_parse(deep, k, &m), -EBADMSG);
	assert_int_equal(vl_reply_parse("{\"a\":1}\0", 9, &m), -EBADMSG);   /* an embedded NUL */
	assert_string_equal(m.error, "untouched");
	json_decref(p);
	json_decref(arr);
}

static void test_registry(void **state) {
	vl_service *svc = vl_service_new("v", "p", "1", "u");
	static const vl_method lower[] = { { "echo", h_echo, 0 } };
	static const vl_method dup[] = { { "Echo", h_echo, 0 }, { "Echo", h_echo, 0 } };
	static const vl_method nohandler[] = { { "Echo", NULL, 0 } };

	(void) state;
	assert_non_null(svc);
	assert_null(vl_service_new(NULL, "p", "1", "u"));
	assert_int_equal(vl_service_add_interface(svc, "Test", "", test_methods, 1, NULL), -EINVAL);
	assert_int_equal(vl_service_add_interface(svc, "io.", "", test_methods, 1, NULL), -EINVAL);
	assert_int_equal(vl_service_add_interface(svc, "io.a.b.", "", test_methods, 1, NULL), -EINVAL);
	assert_int_equal(vl_service_add_interface(svc, "io.a", NULL, test_methods, 1, NULL), -EINVAL);
	assert_int_equal(vl_service_add_interface(svc, "io.a", "", NULL, 1, NULL), -EINVAL);
	assert_int_equal(vl_service_add_interface(svc, "io.a", "", lower, 1, NULL), -EINVAL);
	assert_int_equal(vl_service_add_interface(svc, "io.a", "", dup, 2, NULL), -EINVAL);
	assert_int_equal(vl_service_add_interface(svc, "io.a", "", nohandler, 1, NULL), -EINVAL);
	assert_int_equal(vl_service_add_interface(svc, "org.varlink.service", "", NULL, 0, NULL), -EEXIST);
	/* an interface with errors only */
	assert_int_equal(vl_service_add_interface(svc, "io.standingd", "interface io.standingd\n", NULL, 0, NULL), 0);
	assert_int_equal(vl_service_add_interface(svc, "io.standingd", "", NULL, 0, NULL), -EEXIST);
	assert_int_equal(vl_service_add_interface(svc, "io.a-b.C9", "", test_methods, 1, NULL), 0);
	out o = { .keep = true };
	assert_int_equal(call(svc, &o, "{\"method\":\"org.varlink.service.GetInfo\"}"), 0);
	assert_string_equal(o.msg[0], "{\"parameters\":{\"vendor\":\"v\",\"product\":\"p\",\"version\":\"1\",\"url\":\"u\","
				      "\"interfaces\":[\"org.varlink.service\",\"io.standingd\",\"io.a-b.C9\"]}}");
	out_clear(&o);
	vl_service_free(svc);
	vl_service_free(NULL);
}

/* ---- fuzz-ish ---- */

static size_t pick(size_t n) { return n ? (size_t) (rng() % n) : 0; }

static const char *const corpus[] = {
	"{\"method\":\"io.standingd.Test.Echo\",\"parameters\":{\"text\":\"h\xc3\xa9\",\"n\":3,\"flag\":true,\"obj\":{\"a\":[1,2]},\"list\":[\"x\"]}}",
	"{\"method\":\"io.standingd.Test.Count\",\"parameters\":{\"n\":4},\"more\":true}",
	"{\"method\":\"io.standingd.Test.Count\",\"parameters\":{\"n\":4,\"fail_at\":2},\"more\":true}",
	"{\"method\":\"io.standingd.Test.Fail\",\"oneway\":true}",
	"{\"method\":\"io.standingd.Test.Silent\"}",
	"{\"method\":\"io.standingd.Test.Secret\"}",
	"{\"method\":\"io.standingd.Test.Misuse\",\"parameters\":{}}",
	"{\"method\":\"io.standingd.Other.Ping\",\"upgrade\":false}",
	"{\"method\":\"org.varlink.service.GetInfo\"}",
	"{\"method\":\"org.varlink.service.GetInterfaceDescription\",\"parameters\":{\"interface\":\"io.standingd.Test\"}}",
	"{\"method\":\"org.varlink.service.GetInterfaceDescription\",\"parameters\":{\"interface\":\"org.varlink.service\"}}",
	"[[[[[[[[[[{\"a\":\"\\u00e9\\\\\"}]]]]]]]]]]",
	"{\"method\":\"io.standingd.Test.Echo\",\"parameters\":{\"text\":\"a\",\"n\":-9223372036854775808}}",
};

static const char tokens[] = "{}[]\":,\\\0 .0123456789-eE+tfnul\xff\xc3\x80\x7f\n";

static size_t mutate(char *buf, size_t len, size_t cap) {
	int ops = 1 + (int) pick(4);

	while (ops-- > 0) {
		size_t at = pick(len + 1), k;
		switch (pick(8)) {
		case 0:   /* replace a byte with anything */
			if (len)
				buf[pick(len)] = (char) pick(256);
			break;
		case 1:   /* insert a JSON-ish byte */
			if (len < cap) {
				memmove(buf + at + 1, buf + at, len - at);
				buf[at] = tokens[pick(sizeof(tokens) - 1)];
				len++;
			}
			break;
		case 2:   /* delete a range */
			k = pick(len - (at < len ? at : len) + 1);
			memmove(buf + at, buf + at + k, len - at - k);
			len -= k;
			break;
		case 3:   /* duplicate a range */
			if (len) {
				size_t from = pick(len);
				k = pick(len - from + 1);
				if (len + k <= cap) {
					memmove(buf + at + k, buf + at, len - at);
					memmove(buf + at, buf + (from < at ? from : from + k), k);
					len += k;
				}
			}
			break;
		case 4:   /* truncate */
			len = at;
			break;
		case 5: { /* splice in another corpus entry */
			const char *s = corpus[pick(sizeof(corpus) / sizeof(corpus[0]))];
			k = strlen(s);
			if (len + k <= cap) {
				memmove(buf + at + k, buf + at, len - at);
				memcpy(buf + at, s, k);
				len += k;
			}
			break;
		}
		case 6:   /* deep nesting */
			k = pick(150);
			if (len + k <= cap) {
				memmove(buf + at + k, buf + at, len - at);
				memset(buf + at, pick(2) ? '[' : '{', k);
				len += k;
			}
			break;
		default: { /* a number that may overflow */
			static const char *const nums[] = { "1e999", "-1e999", "123456789012345678901234567890",
							    "-0", "1e-999", "0.1e", "9223372036854775808" };
			const char *s = nums[pick(sizeof(nums) / sizeof(nums[0]))];
			k = strlen(s);
			if (len + k <= cap) {
				memmove(buf + at + k, buf + at, len - at);
				memcpy(buf + at, s, k);
				len += k;
			}
			break;
		}
		}
	}
	return len;
}

static void test_fuzz(void **state) {
	vl_service *svc = make_service();
	out o = { .keep = false };
	const size_t cap = 4096;
	char *buf = malloc(cap);
	vl_reader r;
	size_t messages = 0, oversized = 0;

	(void) state;
	assert_non_null(buf);
	print_message("seed: %llu (set STANDINGD_TEST_SEED to repeat another)\n",
		      (unsigned long long) test_seed());
	vl_reader_init(&r, 512);
	for (int iter = 0; iter < 10000; iter++) {
		const char *base = corpus[pick(sizeof(corpus) / sizeof(corpus[0]))];
		size_t len = strlen(base), off = 0;
		const char *m;
		size_t n;
		int k;

		memcpy(buf, base, len);
		if (pick(4) > 0)
			len = mutate(buf, len, cap - 1);
		if (pick(4) > 0)
			buf[len++] = '\0';

		/* straight in, embedded NULs and all */
		k = vl_service_handle(svc, buf, len, out_send, &o, NULL);
		assert_true(k == 0 || k == -EIO || k == -EPROTO);

		/* and through the reader in random pieces */
		while (off < len) {
			size_t piece = 1 + pick(len - off < 64 ? len - off : 64);
			assert_int_equal(vl_reader_feed(&r, buf + off, piece), 0);
			off += piece;
			while ((k = vl_reader_next(&r, &m, &n)) == 1) {
				assert_true(n <= 512);
				k = vl_service_handle(svc, m, n, out_send, &o, NULL);
				assert_true(k == 0 || k == -EIO || k == -EPROTO);
				messages++;
			}
			if (k == -EMSGSIZE) {
				assert_int_equal(vl_send_invalid_parameter(out_send, &o, VL_PARAM_MESSAGE), 0);
				vl_reader_free(&r);
				vl_reader_init(&r, 512);
				oversized++;
			} else {
				assert_int_equal(k, 0);
			}
		}
	}
	print_message("fuzz: %zu framed messages, %zu oversized, %zu replies, %zu errors\n",
		      messages, oversized, o.replies, o.errors);
	/* the mutations must leave enough intact to reach handlers, or this tests nothing */
	assert_true(o.replies > 1000);
	assert_true(o.errors > 1000);
	assert_true(messages > 5000);
	vl_reader_free(&r);
	free(buf);
	vl_service_free(svc);
}

/* ---- calls in steps (vl_defer, vl_pending) and lists encoded item by item ---- */

static int steps_freed;

typedef struct steps_job {
	int64_t n, chunk, fail_at, i;
	vl_list out;
} steps_job;

static void steps_free(void *state) {
	steps_job *j = state;
	vl_list_clear(&j->out);
	free(j);
	steps_freed++;
}

static json_t *steps_item(int64_t i) {
	return json_pack("{s:I, s:s, s:[i, f, n]}", "i", (json_int_t) i, "s", "\xc3\xa4 \"q\"\n\x01/", "l", 1, 0.5);
}

/* Three items per step; with "more", parts of `chunk` items. */
static int steps_resume(vl_call_ctx *ctx, void *state) {
	steps_job *j = state;
	bool more = vl_call_ctx_more(ctx);
	int r;

	for (int k = 0; k < 3 && j->i < j->n; k++, j->i++) {
		char *text;
		size_t len;
		json_t *item;
		if (j->i == j->fail_at)
			return -EIO;
		item = steps_item(j->i);
		assert_int_equal(vl_item_encode(item, &text, &len), 0);
		json_decref(item);
		r = vl_list_add(&j->out, text, len);
		free(text);
		if (r < 0)
			return r;
		if (more && j->out.n == (size_t) j->chunk && j->i + 1 < j->n &&
		    (r = vl_list_send(ctx, &j->out, true)) < 0)
			return r;
	}
	if (j->i < j->n)
		return more ? VL_AGAIN : (r = vl_list_flush(ctx, &j->out)) < 0 ? r : VL_AGAIN;
	return vl_list_send(ctx, &j->out, false);
}

/* Pieces as they come, concatenated. */
typedef struct raw {
	char buf[65536];
	size_t len, pieces;
} raw;

static void raw_send(void *ud, const char *buf, size_t len) {
	raw *w = ud;
	assert_true(w->len + len <= sizeof(w->buf));
	memcpy(w->buf + w->len, buf, len);
	w->len += len;
	w->pieces++;
}

static int h_list(vl_call_ctx *ctx, json_t *params, void *userdata) {
	steps_job *j = calloc(1, sizeof(*j));
	int r;

	(void) userdata;
	assert_non_null(j);
	j->out.key = "items";
	j->chunk = 100;
	j->fail_at = -1;
	if ((r = vl_param_int(ctx, params, "n", true, &j->n)) < 0 ||
	    (r = vl_param_int(ctx, params, "chunk", false, &j->chunk)) < 0 ||
	    (r = vl_param_int(ctx, params, "fail_at", false, &j->fail_at)) < 0) {
		steps_free(j);
		return r;
	}
	return vl_defer(ctx, steps_resume, j, steps_free);
}

static int h_late_defer(vl_call_ctx *ctx, json_t *params, void *userdata) {
	(void) params;
	(void) userdata;
	assert_int_equal(vl_reply(ctx, NULL, false), 0);
	assert_int_equal(vl_defer(ctx, steps_resume, calloc(1, sizeof(steps_job)), steps_free), -EALREADY);
	return 0;
}

static const vl_method steps_methods[] = {
	{ "List", h_list, 0 },
	{ "LateDefer", h_late_defer, 0 },
};

static const char steps_idl[] = "interface io.standingd.Steps\n\n"
	"method List(n: int, chunk: ?int, fail_at: ?int) -> (items: []object)\n"
	"method LateDefer() -> ()\n";

/* What vl_reply() sends for items [from, to) as one tree. */
static char *steps_want(int64_t from, int64_t to, bool continues) {
	json_t *a = json_array(), *p;
	char *buf;
	size_t len;

	for (int64_t i = from; i < to; i++)
		json_array_append_new(a, steps_item(i));
	p = json_pack("{s:o}", "items", a);
	assert_int_equal(vl_reply_encode(p, continues, &buf, &len), 0);
	json_decref(p);
	return buf;
}

static void test_steps(void **state) {
	vl_service *svc = vl_service_new("v", "p", "1", "u");
	char msg[160];
	(void) state;
	assert_non_null(svc);
	assert_int_equal(vl_service_add_interface(svc, "io.standingd.Steps", steps_idl, steps_methods, 2, NULL), 0);

	/* one reply: the same bytes as the whole tree; nothing is sent before the last step */
	static const int64_t sizes[] = { 0, 1, 3, 5, 250 };
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		out o = { .keep = true };
		vl_pending *p = NULL;
		int steps = 0, r;
		steps_freed = 0;
		snprintf(msg, sizeof(msg), "{\"method\":\"io.standingd.Steps.List\",\"parameters\":{\"n\":%lld}}",
			 (long long) sizes[k]);
		assert_int_equal(vl_service_start(svc, msg, strlen(msg), out_send, &o, NULL, 0, &p), 0);
		assert_non_null(p);
		assert_int_equal(o.n, 0);
		while ((r = vl_pending_step(p)) == VL_AGAIN) {
			assert_int_equal(o.n, 0);
			steps++;
		}
		assert_int_equal(r, 0);
		assert_int_equal(steps, sizes[k] ? (sizes[k] - 1) / 3 : 0);
		assert_int_equal(steps_freed, 1);
		vl_pending_free(p);
		assert_int_equal(steps_freed, 1);
		char *want = steps_want(0, sizes[k], false);
		assert_int_equal(o.n, 1);
		assert_string_equal(o.msg[0], want);
		free(want);
		out_clear(&o);
	}

	/* streamed: parts of 7, each the bytes of its tree; vl_service_handle runs every step */
	{
		out o = { .keep = true };
		const char *m = "{\"method\":\"io.standingd.Steps.List\",\"parameters\":{\"n\":30,\"chunk\":7},\"more\":true}";
		assert_int_equal(vl_service_handle(svc, m, strlen(m), out_send, &o, NULL), 0);
		assert_int_equal(o.n, 5);
		for (int64_t i = 0; i < 5; i++) {
			char *want = steps_want(i * 7, i < 4 ? i * 7 + 7 : 30, i < 4);
			assert_string_equal(o.msg[i], want);
			free(want);
		}
		out_clear(&o);
	}

	/* a step that fails: the internal error ends the call, after the parts sent */
	{
		out o = { .keep = true };
		const char *m = "{\"method\":\"io.standingd.Steps.List\",\"parameters\":{\"n\":30,\"chunk\":2,\"fail_at\":5},"
				"\"more\":true}";
		steps_freed = 0;
		assert_int_equal(vl_service_handle(svc, m, strlen(m), out_send, &o, NULL), -EIO);
		assert_int_equal(o.n, 3);
		assert_string_equal(o.msg[2], "{\"error\":\"io.standingd.InternalError\",\"parameters\":{\"errno\":5}}");
		assert_int_equal(steps_freed, 1);
		out_clear(&o);
	}

	/* dropped half way (the connection closed): the state is freed, nothing sent */
	{
		out o = { .keep = true };
		vl_pending *p = NULL;
		const char *m = "{\"method\":\"io.standingd.Steps.List\",\"parameters\":{\"n\":30}}";
		steps_freed = 0;
		assert_int_equal(vl_service_start(svc, m, strlen(m), out_send, &o, NULL, 0, &p), 0);
		assert_int_equal(vl_pending_step(p), VL_AGAIN);
		vl_pending_free(p);
		vl_pending_free(NULL);
		assert_int_equal(steps_freed, 1);
		assert_int_equal(o.n, 0);
	}

	/* oneway: no reply, state freed; a call answered at once has no pending */
	{
		out o = { .keep = true };
		vl_pending *p = (vl_pending *) &o;
		const char *m = "{\"method\":\"io.standingd.Steps.List\",\"parameters\":{\"n\":8},\"oneway\":true}";
		steps_freed = 0;
		assert_int_equal(vl_service_handle(svc, m, strlen(m), out_send, &o, NULL), 0);
		assert_int_equal(o.n, 0);
		assert_int_equal(steps_freed, 1);
		m = "{\"method\":\"io.standingd.Steps.LateDefer\"}";
		assert_int_equal(vl_service_start(svc, m, strlen(m), out_send, &o, NULL, 0, &p), 0);
		assert_null(p);
		assert_int_equal(steps_freed, 2);
		assert_int_equal(o.n, 1);
		assert_string_equal(o.msg[0], "{\"parameters\":{}}");
		out_clear(&o);
	}

	/* in pieces: one per step, together the bytes of the whole message; a failure
	 * after the first piece cannot be answered (-EPIPE, nothing more sent) */
	{
		raw *w = calloc(1, sizeof(*w));
		vl_pending *p = NULL;
		const char *m = "{\"method\":\"io.standingd.Steps.List\",\"parameters\":{\"n\":10}}";
		int r;
		assert_non_null(w);
		assert_int_equal(vl_service_start(svc, m, strlen(m), raw_send, w, NULL, VL_START_PIECES, &p), 0);
		while ((r = vl_pending_step(p)) == VL_AGAIN)
			;
		assert_int_equal(r, 0);
		vl_pending_free(p);
		char *want = steps_want(0, 10, false);
		assert_int_equal(w->pieces, 4);
		assert_int_equal(w->len, strlen(want) + 1);
		assert_memory_equal(w->buf, want, w->len);
		free(want);
		memset(w, 0, sizeof(*w));
		steps_freed = 0;
		m = "{\"method\":\"io.standingd.Steps.List\",\"parameters\":{\"n\":10,\"fail_at\":7}}";
		assert_int_equal(vl_service_start(svc, m, strlen(m), raw_send, w, NULL, VL_START_PIECES, &p), 0);
		while ((r = vl_pending_step(p)) == VL_AGAIN)
			;
		assert_int_equal(r, -EPIPE);
		vl_pending_free(p);
		assert_int_equal(steps_freed, 1);
		assert_int_equal(w->pieces, 2);
		assert_null(memchr(w->buf, 0, w->len));
		free(w);
	}

	/* a list key that would need escaping is refused */
	{
		vl_list l = { .key = "Items" };
		assert_int_equal(vl_list_add(&l, "1", 1), -EINVAL);
		vl_list_clear(&l);
	}
	vl_service_free(svc);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reader_several),
		cmocka_unit_test(test_reader_bytewise),
		cmocka_unit_test(test_reader_large),
		cmocka_unit_test(test_reader_max),
		cmocka_unit_test(test_envelope),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_get_info),
		cmocka_unit_test(test_get_interface_description),
		cmocka_unit_test(test_not_found),
		cmocka_unit_test(test_oneway),
		cmocka_unit_test(test_streaming),
		cmocka_unit_test(test_authorize),
		cmocka_unit_test(test_handler_failures),
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_encode),
		cmocka_unit_test(test_client),
		cmocka_unit_test(test_registry),
		cmocka_unit_test(test_fuzz),
		cmocka_unit_test(test_steps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
